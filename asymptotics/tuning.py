r"""Choosing the margin ratio delta from the theory.

With an intercept the CS-SVM is a shifted SVM (DESIGN §3): if
:math:`(w_1, b_1)` solves :math:`\delta = 1`, then for every :math:`\delta>0`

.. math:: w_\delta = \tfrac{\delta+1}{2} w_1,\qquad
          b_\delta = \tfrac{\delta+1}{2} b_1 + \tfrac{\delta-1}{2},

so :math:`\rho` is fixed and only :math:`\beta_\delta = b_\delta/q_\delta =
\beta_1 + t/q_1` moves, with :math:`t = (\delta-1)/(\delta+1) \in (-1, 1)`.
Any target intercept :math:`\beta` is therefore reached by
:math:`t = q_1(\beta - \beta_1)`, :math:`\delta = (1+t)/(1-t)`, provided
:math:`|t| < 1`.  Both optima below are closed forms in :math:`\beta`:

* balanced error: :math:`\beta^\star = -(a_+ + a_-)/2`, i.e.
  :math:`t^\star = q_1(\ell_- - \ell_+)/2` with :math:`\ell_+ = a_+ + \beta_1`,
  :math:`\ell_- = -a_- - \beta_1`, where :math:`R_+ = R_- = Q((\ell_+ + \ell_-)/2)`;
* standard error: :math:`\pi\varphi(X) = (1-\pi)\varphi(Y)` with
  :math:`X = a_+ + \beta`, :math:`Y = -a_- - \beta`, :math:`X + Y = D = a_+ - a_-`,
  so :math:`X = D/2 - \log((1-\pi)/\pi)/D`.

(:math:`a_\pm = \mu_\pm\cdot w/\|w\|`.)  When :math:`|t| \ge 1` no positive
delta reaches the optimum: the metric is monotone in delta and its infimum is
the limit delta -> inf (t >= 1) or delta -> 0 (t <= -1).  We then return that
limit (``inf`` or ``0.0``), ``attainable=False`` and a
:class:`DeltaWarning` -- never a negative delta.

Without an intercept there is no shift; the metric is minimised numerically
over log delta (a warm-started grid sweep, then Brent's method).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from ._validation import boolean, positive_array
from .gaussian import Q
from .label import cs_svm, label_metrics
from .models import LabelGMM

__all__ = ["DeltaResult", "DeltaWarning", "delta_star", "delta_min_error"]

# Search range of the numerical (no-intercept) minimisation, in log delta.
_LOG_DELTA_RANGE = (-12.0, 12.0)
_GRID = 97


class DeltaWarning(UserWarning):
    """No positive delta attains the optimum; the returned delta is a limit."""


@dataclass(frozen=True)
class DeltaResult:
    r"""An optimal margin ratio and the errors it gives.

    Attributes
    ----------
    delta : ndarray or float
        The optimal delta; ``inf`` or ``0.0`` where ``attainable`` is False
        (the optimum is the limit delta -> inf or -> 0).
    attainable : ndarray of bool
        Whether a finite positive delta attains the optimum.
    gamma : ndarray or float
    R_plus, R_minus, R_bal, R : ndarray or float
        Errors at ``delta`` (at the limit where not attainable).
    t : ndarray or float
        :math:`(\delta-1)/(\delta+1)` needed (may lie outside (-1, 1); NaN for
        the numerical method, which has no t).
    method : str
        ``"closed-form"`` (intercept) or ``"numerical"`` (no intercept).
    """

    delta: np.ndarray
    attainable: np.ndarray
    gamma: np.ndarray
    R_plus: np.ndarray
    R_minus: np.ndarray
    R_bal: np.ndarray
    R: np.ndarray
    t: np.ndarray
    method: str


def _check(model, gamma, intercept):
    if not isinstance(model, LabelGMM):
        raise ValueError(f"model must be a LabelGMM, got {type(model).__name__}")
    gamma = positive_array(gamma, "gamma")
    intercept = boolean(intercept, "intercept")
    if not np.any(model.gram):
        raise ValueError("mean_plus/mean_minus are both zero: every delta gives balanced error 1/2, "
                         "so the optimal delta is undefined")
    return gamma, intercept


def _closed_form(model: LabelGMM, gamma: np.ndarray, target: str) -> DeltaResult:
    svm = cs_svm(model, gamma, 1.0, intercept=True)
    a_plus, a_minus = svm.projections[..., 0], svm.projections[..., 1]
    q1, beta1 = svm.q, svm.beta
    D = a_plus - a_minus
    if target == "balanced":
        beta = -(a_plus + a_minus) / 2
    else:
        L = np.log((1.0 - model.prior) / model.prior)
        beta = D / 2 - L / D - a_plus
    t = q1 * (beta - beta1)
    attainable = np.abs(t) < 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(attainable, (1.0 + t) / (1.0 - t), np.where(t >= 1.0, np.inf, 0.0))
    beta_used = np.where(attainable, beta, beta1 + np.sign(t) / q1)
    errors = Q(model.labels * (svm.projections + beta_used[..., None]))
    r_plus, r_minus, r_bal, r = label_metrics(model.prior, errors)
    return DeltaResult(delta=delta[()], attainable=attainable[()], gamma=np.asarray(svm.gamma)[()],
                       R_plus=r_plus[()], R_minus=r_minus[()], R_bal=r_bal[()], R=r[()],
                       t=np.asarray(t)[()], method="closed-form")


def _numerical(model: LabelGMM, gamma: np.ndarray, target: str) -> DeltaResult:
    attr = "R_bal" if target == "balanced" else "R"
    grid = np.linspace(*_LOG_DELTA_RANGE, _GRID)
    flat = gamma.reshape(-1)
    out = {k: np.empty(flat.size) for k in ("delta", "R_plus", "R_minus", "R_bal", "R")}
    attainable = np.empty(flat.size, dtype=bool)
    for n, g in enumerate(flat):
        values = getattr(cs_svm(model, g, np.exp(grid), intercept=False), attr)
        i = int(np.argmin(values))
        if i in (0, grid.size - 1):
            attainable[n] = False
            log_delta = grid[i]
            out["delta"][n] = 0.0 if i == 0 else np.inf
        else:
            res = minimize_scalar(lambda s: float(getattr(cs_svm(model, g, np.exp(s), intercept=False), attr)),
                                  bracket=(grid[i - 1], grid[i], grid[i + 1]), method="brent",
                                  options={"xtol": 1e-10})
            attainable[n] = True
            log_delta = res.x
            out["delta"][n] = np.exp(log_delta)
        s = cs_svm(model, g, np.exp(log_delta), intercept=False)
        for k in ("R_plus", "R_minus", "R_bal", "R"):
            out[k][n] = getattr(s, k)
    shape = gamma.shape
    return DeltaResult(delta=out["delta"].reshape(shape)[()], attainable=attainable.reshape(shape)[()],
                       gamma=gamma[()], R_plus=out["R_plus"].reshape(shape)[()],
                       R_minus=out["R_minus"].reshape(shape)[()], R_bal=out["R_bal"].reshape(shape)[()],
                       R=out["R"].reshape(shape)[()], t=np.full(shape, np.nan)[()], method="numerical")


def _optimal_delta(model, gamma, intercept, target: str) -> DeltaResult:
    gamma, intercept = _check(model, gamma, intercept)
    res = _closed_form(model, gamma, target) if intercept else _numerical(model, gamma, target)
    if not np.all(res.attainable):
        what = "balanced error" if target == "balanced" else "standard error"
        warnings.warn(
            f"no positive delta minimises the {what} at some gamma: it keeps decreasing as delta -> "
            f"inf (returned as inf) or -> 0 (returned as 0.0); see DeltaResult.attainable",
            DeltaWarning, stacklevel=3)
    return res


def delta_star(model: LabelGMM, gamma, intercept: bool = True) -> DeltaResult:
    r"""Balanced-error-optimal margin ratio :math:`\delta^\star`.

    With an intercept, closed form from the SVM (delta = 1) solution
    (module docstring): :math:`t^\star = q_1(\ell_- - \ell_+)/2`,
    :math:`\delta^\star = (1 + t^\star)/(1 - t^\star)`, and there
    :math:`R_+ = R_- = R_{bal} = Q((\ell_+ + \ell_-)/2)`.  Without an
    intercept, numerical minimisation over log delta in [e^-12, e^12].

    Returns
    -------
    DeltaResult
        ``delta = inf`` / ``0.0`` with ``attainable = False`` (and a
        :class:`DeltaWarning`) where no positive delta balances the errors.
    """
    return _optimal_delta(model, gamma, intercept, "balanced")


def delta_min_error(model: LabelGMM, gamma, intercept: bool = True) -> DeltaResult:
    r"""Margin ratio minimising the standard error :math:`R = \pi R_+ + (1-\pi)R_-`.

    With an intercept, closed form: the optimal :math:`\beta` solves
    :math:`\pi\varphi(a_+ + \beta) = (1-\pi)\varphi(-a_- - \beta)`, mapped to
    delta by the shift (module docstring).  It is not delta = 1 (paper
    Fig. 3a).  Without an intercept, numerical minimisation.
    """
    return _optimal_delta(model, gamma, intercept, "standard")
