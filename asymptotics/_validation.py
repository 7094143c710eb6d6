"""Input checks at the public boundary: every failure names its argument."""
from __future__ import annotations

import numbers

import numpy as np


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 and "\n" not in text else text.replace("\n", " ")[:57] + "..."


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
    arr = finite_array(value, name)
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty")
    if np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {_short(value)}")
    return arr


def probability(value, name: str) -> float:
    """A scalar in the open interval (0, 1)."""
    arr = finite_array(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    p = float(arr)
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must lie in (0, 1), got {p!r}")
    return p


def boolean(value, name: str) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def broadcast_shapes(*named) -> tuple:
    """The broadcast shape of ``(name, shape)`` pairs, or a ValueError naming them."""
    try:
        return np.broadcast_shapes(*(shape for _, shape in named))
    except ValueError:
        parts = ", ".join(f"{name} {shape}" for name, shape in named)
        names = " and ".join(name for name, _ in named)
        raise ValueError(f"{names} must broadcast together, got shapes {parts}") from None
