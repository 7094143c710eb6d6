r"""Choosing the margin ratio delta from the theory.

With an intercept the CS-SVM is a shifted SVM (docs/theory.md §3): if
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

from ._validation import boolean, positive_array, positive_float
from .gaussian import Q, logQ
from .label import cs_svm
from .models import LabelGMM
from .results import ReadOnlyResult

__all__ = ["DeltaResult", "DeltaWarning", "EqualOpportunityResult", "delta_star", "delta_min_error",
           "delta_equal_opportunity"]

# Search range of the numerical (no-intercept) minimisation, in log delta.
_LOG_DELTA_RANGE = (-12.0, 12.0)
_GRID = 97
# Subgroup errors below this are compared through their logarithms (delta_equal_opportunity).
_TINY_ERROR = 1e-290


class DeltaWarning(UserWarning):
    """No positive delta attains the optimum; the returned delta is a limit."""


@dataclass(frozen=True, eq=False)
class DeltaResult(ReadOnlyResult):
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
    log_errors : ndarray (S + (2,))
        :math:`(\log R_+, \log R_-)` at ``delta``, accurate where the errors
        underflow (below 1e-308).
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
    log_errors: np.ndarray = None


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
    q1, beta1 = svm.tau, svm.beta    # score units: tau = q for isotropic features
    D = a_plus - a_minus
    if target == "balanced":
        beta = -(a_plus + a_minus) / 2
    else:
        L = np.log((1.0 - model.prior) / model.prior)
        # D = 0 (equal class means): the error pi Q(beta + a) + (1 - pi) Q(-beta - a) is monotone in
        # beta, minimised by predicting the majority (beta -> -inf for pi < 1/2); every beta is
        # optimal when pi = 1/2, and then delta = 1 is returned
        with np.errstate(divide="ignore", invalid="ignore"):
            beta = np.where(D != 0, D / 2 - L / np.where(D != 0, D, 1.0) - a_plus,
                            np.where(L == 0, beta1, -np.sign(L) * np.inf))
    with np.errstate(invalid="ignore"):
        t = np.where(beta == beta1, 0.0, q1 * (beta - beta1))
    attainable = np.abs(t) < 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(attainable, (1.0 + t) / (1.0 - t), np.where(t >= 1.0, np.inf, 0.0))
    beta_used = np.where(attainable, beta, beta1 + np.sign(t) / q1)
    arg = model.labels * (svm.projections + beta_used[..., None])
    errors = Q(arg)
    return DeltaResult(delta=delta[()], attainable=attainable[()], gamma=np.asarray(svm.gamma)[()],
                       **model.metrics(errors),
                       t=np.asarray(t)[()], method="closed-form", log_errors=logQ(arg))


def _numerical(model: LabelGMM, gamma: np.ndarray, target: str) -> DeltaResult:
    attr = "R_bal" if target == "balanced" else "R"
    grid = np.linspace(*_LOG_DELTA_RANGE, _GRID)
    flat = gamma.reshape(-1)
    out = {k: np.empty(flat.size) for k in ("delta", "R_plus", "R_minus", "R_bal", "R")}
    logs = np.empty((flat.size, 2))
    attainable = np.empty(flat.size, dtype=bool)
    for n, g in enumerate(flat):
        values = getattr(cs_svm(model, g, np.exp(grid), intercept=False), attr)
        i = int(np.argmin(values))
        if i in (0, grid.size - 1):
            attainable[n] = False
            log_delta = grid[i]
            out["delta"][n] = 0.0 if i == 0 else np.inf
        else:
            from scipy.optimize import minimize_scalar   # on first use: 0.13 s at import
            res = minimize_scalar(lambda s: float(getattr(cs_svm(model, g, np.exp(s), intercept=False), attr)),
                                  bracket=(grid[i - 1], grid[i], grid[i + 1]), method="brent",
                                  options={"xtol": 1e-10})
            attainable[n] = True
            log_delta = res.x
            out["delta"][n] = np.exp(log_delta)
        s = cs_svm(model, g, np.exp(log_delta), intercept=False)
        for k in ("R_plus", "R_minus", "R_bal", "R"):
            out[k][n] = getattr(s, k)
        logs[n] = s.log_errors
    shape = gamma.shape
    return DeltaResult(delta=out["delta"].reshape(shape)[()], attainable=attainable.reshape(shape)[()],
                       gamma=gamma[()], R_plus=out["R_plus"].reshape(shape)[()],
                       R_minus=out["R_minus"].reshape(shape)[()], R_bal=out["R_bal"].reshape(shape)[()],
                       R=out["R"].reshape(shape)[()], t=np.full(shape, np.nan)[()], method="numerical",
                       log_errors=logs.reshape(shape + (2,)))


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


@dataclass(frozen=True, eq=False)
class EqualOpportunityResult(ReadOnlyResult):
    r"""The margin ratio delta_0 at which the GS-SVM has DEO = 0.

    Attributes
    ----------
    delta : float
        delta_0; where ``attainable`` is False, the end of the searched range
        [e^-12, e^12] (returned as ``0.0`` or ``inf``) with the smallest |DEO|.
    attainable : bool
        Whether DEO changes sign, so that DEO(delta_0) = 0 exactly.
    gamma : float
    DEO, R, R_bal, worst : float
        GS-SVM metrics at ``delta`` (at the range end where not attainable).
    n_roots : int
        Sign changes of DEO found on the search grid (the one nearest
        delta = 1 is returned when there are several).
    log_R_yg : ndarray (2, G)
        :math:`\log R_{y,g}` at ``delta`` (the subgroup errors' logarithms,
        accurate where the errors underflow).
    """

    delta: float
    attainable: bool
    gamma: float
    DEO: float
    R: float
    R_bal: float
    worst: float
    n_roots: int
    log_R_yg: np.ndarray = None


def delta_equal_opportunity(model, gamma, intercept: bool = True) -> EqualOpportunityResult:
    r"""Margin ratio :math:`\delta_0` of the minority group at which the GS-SVM
    equalises opportunity, :math:`R_{+,1}(\delta_0) = R_{+,2}(\delta_0)`.

    DEO is evaluated on a warm-started grid of 97 points in
    :math:`\log\delta \in [-12, 12]`; each sign change is refined by Brent's
    method on :math:`\log\delta` to |DEO| at the rounding level.  GS-SVM is
    not a shifted SVM (delta turns w), so there is no closed form.

    Returns
    -------
    EqualOpportunityResult
        With ``attainable=False`` (and a :class:`DeltaWarning`) when DEO keeps
        one sign over the whole range: then no delta in (0, inf) equalises
        opportunity, and the range end with the smaller |DEO| is returned as
        ``0.0`` or ``inf``.
    """
    from scipy.optimize import brentq

    from .group import gs_svm
    from .models import GroupGMM

    if not isinstance(model, GroupGMM):
        raise ValueError(f"model must be a GroupGMM, got {type(model).__name__}")
    if model.n_groups < 2:
        raise ValueError("model: equal opportunity needs at least two groups")
    g = positive_float(gamma, "gamma")
    intercept = boolean(intercept, "intercept")
    grid = np.linspace(*_LOG_DELTA_RANGE, _GRID)
    sweep = gs_svm(model, g, np.exp(grid), intercept=intercept)
    # far in the tail the subgroup errors underflow and DEO = 0 - 0 says nothing: there the gap is
    # measured as log R_{+,1} - log R_{+,2}, which has the sign and the roots of DEO
    in_logs = bool(np.any(sweep.R_yg[..., 0, :] < _TINY_ERROR))

    def gap(res):
        return res.log_R_yg[..., 0, 0] - res.log_R_yg[..., 0, 1] if in_logs else res.DEO

    deo = np.asarray(gap(sweep))
    changes = np.flatnonzero(np.sign(deo[:-1]) * np.sign(deo[1:]) <= 0)
    # DEO at the rounding level of the errors (of their logarithms: ~1e-14 |log R|)
    scale = np.maximum(1.0, np.abs(sweep.log_R_yg[..., 0, 0])) if in_logs else np.maximum(sweep.R_plus, 1e-300)
    if np.all(np.abs(deo) <= 1e-12 * scale):
        # DEO vanishes for every delta (e.g. equal group means): the SVM already equalises opportunity
        at = gs_svm(model, g, 1.0, intercept=intercept)
        return EqualOpportunityResult(delta=1.0, attainable=True, gamma=g, DEO=float(at.DEO), R=float(at.R),
                                      R_bal=float(at.R_bal), worst=float(at.worst), n_roots=int(changes.size),
                                      log_R_yg=at.log_R_yg)
    if changes.size:
        i = changes[np.argmin(np.abs(grid[changes]))]
        if deo[i] == 0.0:
            s = grid[i]
        else:
            s = brentq(lambda s: float(gap(gs_svm(model, g, np.exp(s), intercept=intercept))),
                       grid[i], grid[i + 1], xtol=1e-14, rtol=4 * np.finfo(float).eps, maxiter=200)
        delta, attainable = float(np.exp(s)), True
        at = gs_svm(model, g, delta, intercept=intercept)
    else:
        end = 0 if abs(deo[0]) < abs(deo[-1]) else -1
        delta, attainable = (0.0 if end == 0 else np.inf), False
        at = gs_svm(model, g, np.exp(grid[end]), intercept=intercept)
        what = "log R_{+,1} - log R_{+,2}" if in_logs else "DEO"
        warnings.warn(f"DEO keeps one sign for delta in [e^-12, e^12] ({what} from {deo[0]:.3g} to {deo[-1]:.3g}): "
                      "no delta equalises opportunity; returned the range end with the smaller |DEO|",
                      DeltaWarning, stacklevel=2)
    return EqualOpportunityResult(delta=delta, attainable=attainable, gamma=g, DEO=float(at.DEO),
                                  R=float(at.R), R_bal=float(at.R_bal), worst=float(at.worst),
                                  n_roots=int(changes.size), log_R_yg=at.log_R_yg)
