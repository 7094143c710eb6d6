"""Numba compilation settings for every compiled kernel of the package, in
one place: each kernel releases the GIL and is cached on disk when a cache
location is usable."""
from __future__ import annotations

from numba import njit, vectorize

__all__ = ["kernel", "ufunc", "CACHE"]

CACHE = True


def kernel(**options):
    """Decorator for a scalar/array kernel: ``njit`` with the package's
    caching and ``nogil``; extra options (e.g. ``error_model``) pass through."""
    return njit(cache=CACHE, nogil=True, **options)


def ufunc(signatures):
    """Decorator for a NumPy ufunc kernel (``vectorize``) with the package's caching."""
    return vectorize(signatures, cache=CACHE)
