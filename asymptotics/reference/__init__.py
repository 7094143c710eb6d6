"""High-precision (mpmath) reference paths, independent of the Numba engines,
used by the tests: :mod:`.maxmargin` (the max-margin program) and
:mod:`.erm` (the regularised-ERM fixed point)."""
# :mod:`.erm_covariance`: the regularised-ERM fixed point with a general covariance (C1)-(C4)
from .maxmargin import F, Q, dF, separability_threshold, solve

__all__ = ["F", "dF", "Q", "solve", "separability_threshold"]
