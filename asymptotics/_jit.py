"""Numba compilation settings for every compiled kernel of the package, in
one place: each kernel releases the GIL and is cached on disk when a cache
location is usable.

Where the compiled kernels are cached, decided once, at import, before any
kernel is decorated (Numba picks a function's cache location when it is
decorated, not when it is called):

1. Wherever Numba itself would cache them: ``NUMBA_CACHE_DIR`` if set and
   writable, else ``__pycache__`` next to the source, else the user's cache
   directory (``~/.cache/numba`` or ``$XDG_CACHE_HOME/numba``).
2. If none of those is usable -- a site-packages owned by root, a read-only
   container image, a shared cluster install, a home directory that is not
   writable -- Numba would raise ``RuntimeError: cannot cache function ...:
   no locator available`` at import. Then the kernels are cached in a
   private per-user directory under the temporary directory
   (``tempfile.gettempdir()``), ``CACHE_DIR``. This override applies to this
   package's kernels only, while they are being decorated: other Numba code
   in the process keeps Numba's own choice.
3. If that is not usable either, the kernels are compiled without an on-disk
   cache (``CACHE = False``): every process then pays the first compile
   (10 s for the max-margin engine, 30 s more for the ERM engine) but
   nothing fails.

A cache that cannot be read (a truncated or otherwise corrupt index or data
file: a copy or sync that stopped half-way, a full disk, a file system that
lost blocks) is a cache miss: the kernel is recompiled and the entry rewritten,
where Numba would raise ``UnpicklingError`` / ``EOFError`` at the first
call. A cache that cannot be written after the first compile (disk full, a
temporary-file cleaner removed the directory and it cannot be recreated)
leaves the kernel uncached instead of failing the call. Both are done by
wrapping four methods of ``numba.core.caching`` (see
``_tolerate_cache_failures``); a Numba version without them is left as it is.
Set ``NUMBA_DEBUG_CACHE=1`` to see what the cache does.
"""
from __future__ import annotations

import contextlib
import functools
import os
import stat
import tempfile

from numba import njit, vectorize

__all__ = ["kernel", "ufunc", "CACHE", "CACHE_DIR"]


def _probe():  # pragma: no cover - never called, only decorated
    """A function in the package's directory, to ask Numba whether it can
    cache the kernels that live next to it."""
    return 0


@contextlib.contextmanager
def _numba_cache_dir(path):
    """Set ``numba.config.CACHE_DIR`` to *path* for the duration (no-op for
    ``None``). Numba reads it when it picks a function's cache locator, i.e.
    while the function is decorated, and keeps the chosen directory."""
    if path is None:
        yield
        return
    from numba.core import config

    saved = config.CACHE_DIR
    config.CACHE_DIR = path
    try:
        yield
    finally:
        config.CACHE_DIR = saved


def _cacheable(cache_dir=None) -> bool:
    """Whether ``njit(cache=True)`` works for a function in this directory
    (with ``CACHE_DIR`` = *cache_dir* if given): Numba's own locator search,
    so every locator and every environment override it knows is honoured.
    The probe is decorated, never compiled."""
    try:
        with _numba_cache_dir(cache_dir):
            njit(cache=True)(_probe)
    except Exception:  # RuntimeError "no locator available", or anything else on the way
        return False
    return True


def _temp_root():
    """``tempfile.gettempdir()``, or None where that is only its last resort,
    the current directory (every temporary directory unusable): a cache
    directory there would be left in the user's working directory."""
    chosen = tempfile.tempdir  # set by the user (or an earlier call): taken as it is
    root = tempfile.gettempdir()
    if chosen is not None:
        return root
    named = [os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP")] + ["/tmp", "/var/tmp", "/usr/tmp"]
    real = os.path.realpath
    if real(root) == real(os.getcwd()) and real(root) not in {real(p) for p in named if p}:
        return None
    return root


def _private_temp_dir():
    """A per-user cache directory under the temporary directory, or None.

    The temporary directory is shared between users, and Numba's cache
    files are pickles (loading one runs code): the directory is used only
    if it is a real directory (not a symlink) owned by this user and not
    writable by anyone else, so no other user can plant a cache entry."""
    uid = os.getuid() if hasattr(os, "getuid") else None
    name = "asymptotics-numba-cache" + ("" if uid is None else f"-{uid}")
    try:
        root = _temp_root()
        if root is None:
            return None
        path = os.path.join(root, name)
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.lstat(path)
    except Exception:  # no usable temporary directory at all, or not creatable
        return None
    if not stat.S_ISDIR(st.st_mode):
        return None
    if uid is not None and (st.st_uid != uid or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)):
        return None
    return path


def _choose_cache():
    """(CACHE, CACHE_DIR): see the module docstring."""
    if _cacheable():
        return True, None
    path = _private_temp_dir()
    if path is not None and _cacheable(path):
        return True, path
    return False, None


def _tolerate_cache_failures():
    """Make an unreadable cache entry a miss and an unwritable one a no-op.

    ``IndexDataCacheFile._load_index`` unpickles the index (it raises on a
    truncated file): an unreadable index reads as an empty one, so the
    kernel is recompiled and ``save`` writes a fresh index over it.
    ``IndexDataCacheFile._load_data`` unpickles one entry: an unreadable
    entry reads as missing (Numba already does this for OSError), so the
    kernel is recompiled and ``save`` overwrites that entry (its key is in
    the index). ``Cache.load_overload`` also rebuilds the entry into
    compiled code: a failure there is a miss too. ``Cache.save_overload``
    runs after a successful compile: a failure to write leaves the kernel
    uncached rather than failing the user's call.

    These wrappers act on every cached Numba function of the process, but
    only where Numba would otherwise raise out of its cache, and then the
    function is simply compiled, as without a cache. Version-tolerant: a
    method that does not exist is not wrapped; wrapping twice (two copies of
    the package in one process) is avoided."""
    try:
        from numba.core import caching
    except Exception:
        return
    log = getattr(caching, "_cache_log", lambda msg, *args: None)

    def wrap(cls_name, method_name, fallback):
        cls = getattr(caching, cls_name, None)
        method = getattr(cls, method_name, None) if cls is not None else None
        if method is None or getattr(method, "_asymptotics_tolerant", False):
            return

        @functools.wraps(method)
        def tolerant(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                log("[cache] %s.%s failed (%s: %s); treated as a cache miss",
                    cls_name, method_name, type(exc).__name__, exc)
                return fallback()

        tolerant._asymptotics_tolerant = True
        setattr(cls, method_name, tolerant)

    wrap("IndexDataCacheFile", "_load_index", dict)
    wrap("IndexDataCacheFile", "_load_data", lambda: None)
    wrap("Cache", "load_overload", lambda: None)
    wrap("Cache", "save_overload", lambda: None)


_tolerate_cache_failures()
CACHE, CACHE_DIR = _choose_cache()


def _in_cache_dir(decorator):
    """*decorator*, applied with ``CACHE_DIR`` in force if the package uses one."""
    if CACHE_DIR is None:
        return decorator

    def decorate(func):
        with _numba_cache_dir(CACHE_DIR):
            return decorator(func)

    return decorate


def kernel(**options):
    """Decorator for a scalar/array kernel: ``njit`` with the package's
    caching and ``nogil``; extra options (e.g. ``error_model``) pass through."""
    return _in_cache_dir(njit(cache=CACHE, nogil=True, **options))


def ufunc():
    """Decorator for a NumPy ufunc kernel (``vectorize`` without signatures:
    a dynamic ufunc compiled at its first call for the input type, not at
    import) with the package's caching."""
    return _in_cache_dir(vectorize(cache=CACHE))
