"""Input checks at the public boundary: every failure names its argument."""
from __future__ import annotations

import numbers
import re

import numpy as np

# Largest number of values one array argument (gamma, delta, margins, lam) may hold, checked before
# it is converted (1e8 doubles: 800 MB); the engines cap the broadcast grid lower (MAX_GRID_POINTS).
MAX_VALUES = 10 ** 8
# Largest broadcast grid of one max-margin call (about 25 s at 2.5 us a point); erm caps lower.
MAX_GRID_POINTS = 10 ** 7

_NUMPY_SCALAR = re.compile(r"np\.(?:float|int|uint|bool|complex|str_|bytes_)\w*\(([^()]*)\)")


def _short(value) -> str:
    """A value for a one-line message: plain Python reprs (lists, not numpy's
    ``array(...)``/``np.float64(...)``), at most 60 characters."""
    if isinstance(value, np.ndarray):
        try:
            text = repr(value.tolist()) if value.size <= 20 else f"an array of shape {value.shape}"
        except Exception:       # pragma: no cover - tolist of exotic object arrays
            text = f"an array of shape {value.shape}"
    elif isinstance(value, np.generic):
        text = repr(value.item())
    else:
        text = repr(value)
    text = _NUMPY_SCALAR.sub(r"\1", text).replace("\n", " ")
    return text if len(text) <= 60 else text[:57] + "..."


def check_size(value, name: str, limit: int = MAX_VALUES) -> None:
    """ValueError naming ``name`` when an array argument holds more than
    ``limit`` values (checked without converting it)."""
    size = value.size if isinstance(value, np.ndarray) else None
    if size is not None and size > limit:
        raise ValueError(f"{name}: {size} values, at most {limit:.0e} in one call (split the grid)")


def check_grid(shape: tuple, names: str, limit: int = MAX_GRID_POINTS) -> None:
    """ValueError naming the arguments when their broadcast grid has more
    than ``limit`` points (checked before anything of that size is made)."""
    size = 1
    for n in shape:
        size *= int(n)
    if size > limit:
        raise ValueError(f"{names} broadcast to {size} points (shape {tuple(int(n) for n in shape)}), at most "
                         f"{limit:.0e} in one call (split the grid)")


def finite_array(value, name: str, ndim: int | None = None) -> np.ndarray:
    """Float array with only finite entries (and the given ndim).  Strings,
    booleans and complex numbers are refused rather than converted ("2",
    True and 1+0j are not real numbers here)."""
    try:
        raw = np.asarray(value) if not isinstance(value, np.ndarray) else value
    except (TypeError, ValueError):       # ragged nested sequences
        raise ValueError(f"{name} must be numeric, got {_short(value)}") from None
    kind = raw.dtype.kind
    if kind in "USbc" or (kind == "O" and not all(isinstance(v, numbers.Real) and not isinstance(v, (bool, np.bool_))
                                                  for v in raw.ravel())):
        raise ValueError(f"{name} must be numeric, got {_short(value)}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be numeric, got {_short(value)}") from None
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-dimensional, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite (no NaN or inf), got {_short(value)}")
    return arr


def positive_array(value, name: str) -> np.ndarray:
    """Finite array of strictly positive numbers (gamma, delta, margins)."""
    check_size(value, name)
    arr = finite_array(value, name)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {_short(value)}")
    return arr


def positive_float(value, name: str) -> float:
    """One strictly positive finite number (a scalar :func:`positive_array`)."""
    arr = positive_array(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    return float(arr)


def probability(value, name: str) -> float:
    """A scalar in the open interval (0, 1)."""
    arr = finite_array(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    p = float(arr)
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {_short(p)}")
    return p


def boolean(value, name: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {_short(value)}")


def broadcast_shapes(*named) -> tuple:
    """The broadcast shape of ``(name, shape)`` pairs, or a ValueError naming them."""
    try:
        return np.broadcast_shapes(*(shape for _, shape in named))
    except ValueError:
        parts = ", ".join(f"{name} {shape}" for name, shape in named)
        names = " and ".join(name for name, _ in named)
        raise ValueError(f"{names} must broadcast together, got shapes {parts}") from None
