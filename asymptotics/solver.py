r"""The K-cluster max-margin engine: public entry points.

For a :class:`~asymptotics.models.ClusterGMM`, margins :math:`\Delta_k` and
:math:`\gamma = d/n`, the max-margin classifier

.. math:: \min \|w\| \ \text{s.t.}\ y_i (w\cdot x_i + b) \ge \Delta_{k(i)}

converges (CGMT, docs/theory.md §2) to ``||w|| -> q``, ``mu_k . w/||w|| -> (A rho)_k``
and ``b -> b``, where ``(u = 1/q, rho, beta = b/q)`` solves

.. math:: \max u \ \text{ s.t. }\ \min_{\rho, \beta} \sum_k \pi_k
          F\big(y_k((A\rho)_k + \beta) - \Delta_k u\big) + \gamma(\|\rho\|^2 - 1) \le 0,

and the test error of cluster k is :math:`R_k = Q(y_k((A\rho)_k + \beta))`.
How it is solved, and why that is safe, is in :mod:`asymptotics._engine`.
"""
from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np

from . import _engine
from ._parallel import run_chunks
from .covariance import covariance_max_margin
from ._validation import _short, boolean, broadcast_shapes, check_grid, positive_array
from .errors import ConvergenceError, NotSeparableError
from .models import ClusterGMM
from .results import MaxMarginResult, assemble, build_max_margin, frozen

__all__ = ["MaxMarginResult", "max_margin", "separability_threshold", "ThresholdUnderflowWarning"]

MAX_OUTER = 200
MAX_INNER = 1000
# Supported inputs: gamma up to GAMMA_MAX (the outer iterations grow like log gamma: 230 at 1e100, the
# solve fails from about 1e120) and margins up to MARGIN_MAX (u * margin overflows near 1e308).
GAMMA_MAX = 1e50
GAMMA_MIN = 1e-300      # below it (and above gamma_star) the program degenerates: a ValueError, not a failure
MARGIN_MAX = 1e300
# Margins whose largest entry lies outside [2^-32, 2^32] are solved divided by the nearest power of two
# (exactly: the program is homogeneous in the margins, w and b scale with them); the engine's u = 1/q
# and u * margin leave double precision near margins of 1e100 otherwise.
MARGIN_SCALE = 2.0 ** 32


def _margin_scales(m_flat: np.ndarray) -> np.ndarray:
    """Per point, 1 or the power of two nearest the largest margin when that
    lies outside [1/MARGIN_SCALE, MARGIN_SCALE] (see MARGIN_SCALE)."""
    mx = np.max(m_flat, axis=-1)
    out = np.ones(mx.shape)
    far = (mx > MARGIN_SCALE) | (mx < 1.0 / MARGIN_SCALE)
    out[far] = 2.0 ** np.round(np.log2(mx[far]))
    return out


def _check_intercept_labels(model: ClusterGMM, intercept: bool) -> None:
    if intercept and not model.has_both_labels:
        raise ValueError("labels: with an intercept both labels must be present "
                         "(a one-class problem has no finite max-margin solution)")


class ThresholdUnderflowWarning(UserWarning):
    """gamma_star is positive but below the smallest double: returned as 0.0."""


def separability_threshold(model: ClusterGMM, intercept: bool = True, log: bool = False) -> float:
    r"""Separability threshold :math:`\gamma_\star`: the data are linearly
    separable (and the max-margin classifier exists) w.p. -> 1 iff
    :math:`\gamma > \gamma_\star`.

    .. math:: \gamma_\star = \min_{\|\rho\| < 1, \beta}
              \frac{\sum_k \pi_k F(y_k((A\rho)_k + \beta))}{1 - \|\rho\|^2}
              \qquad (\beta \equiv 0 \text{ without intercept})

    It does not depend on the margins.  Solved by Dinkelbach's method in
    :math:`\log\gamma` (see :mod:`asymptotics._engine`); when
    :math:`\gamma_\star < 10^{-300}` (well-separated means, e.g. antipodal
    of norm >= 37) the minimisation continues in the log domain
    (:math:`\log\sum_k \pi_k F(t_k) - \log(1 - \|\rho\|^2)` with a
    tail-accurate log F).  The result is cached on the model.

    Parameters
    ----------
    log : bool
        Return :math:`\log\gamma_\star` (finite always) instead of
        :math:`\gamma_\star`.  Without it a threshold below the smallest
        double is returned as 0.0 with a :class:`ThresholdUnderflowWarning`.
    """
    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM (or LabelGMM), got {type(model).__name__}")
    intercept = boolean(intercept, "intercept")
    log = boolean(log, "log")
    _check_intercept_labels(model, intercept)
    cache = model._threshold_cache
    key = ("log", intercept)
    if key not in cache and model._cov is not None:
        # linear separability is invariant under x -> Sigma^{-1/2} x: the threshold is the isotropic one
        # of the Mahalanobis Gram (docs/covariance.md §4), underflow handling included
        cache[key] = separability_threshold(mahalanobis_model(model), intercept, log=True)
    if key not in cache:
        gs, x, it, status = _engine.threshold(*model._kernel_args, intercept, 200, MAX_INNER)
        if status == _engine.UNDERFLOW:
            cache[key] = _log_threshold(model, intercept, x)
        elif status != _engine.OK or not np.isfinite(gs) or not gs > 0:
            raise ConvergenceError("separability threshold did not converge", iterations=it)
        else:
            cache[key] = math.log(gs)
    value = cache[key]
    if log:
        return value
    if value < -745.0:
        warnings.warn(f"gamma_star = exp({value:.6g}) is positive but below the smallest double; returned 0.0 "
                      "(separability_threshold(..., log=True) gives its logarithm)", ThresholdUnderflowWarning,
                      stacklevel=2)
        return 0.0
    return math.exp(value)


def mahalanobis_model(model: ClusterGMM) -> ClusterGMM:
    """The isotropic model with the Mahalanobis Gram M^T Sigma^{-1} M (the
    model itself if isotropic).  The map x -> Sigma^{-1/2} x takes the data
    to it, so everything invariant under invertible linear maps of the
    features (linear separability, unregularised ERM) depends on the
    covariance only through it."""
    cov = model._cov
    if cov is None:
        return model
    white = cov.means / np.sqrt(cov.mean_eigs)
    return ClusterGMM(model.priors, model.labels, gram=white @ white.T)


def _log_threshold(model: ClusterGMM, intercept: bool, x0: np.ndarray) -> float:
    """log gamma_star by minimising log sum_k pi_k F(t_k) - log(1 - |rho|^2)
    in (v, beta) with rho = v / sqrt(1 + |v|^2) (so |rho| < 1), BFGS with the
    exact gradient from the engine's last point; the objective is smooth and
    its values stay finite (log F is computed in the log domain)."""
    from scipy.optimize import minimize
    from scipy.special import logsumexp

    from .gaussian import logf_scalar

    A, pri, lab = model.factor, model.priors, model.labels
    r = A.shape[1]
    logp = np.log(pri)

    def fun(z):
        v, beta = z[:r], (z[r] if intercept else 0.0)
        nv = 1.0 + v @ v
        rho = v / math.sqrt(nv)
        t = lab * (A @ rho + beta)
        lf, dl = np.array([logf_scalar(ti) for ti in t]).T
        terms = logp + lf
        total = logsumexp(terms)
        w = np.exp(terms - total)                    # softmax weights
        g_t = w * dl                                 # d/dt_k of log sum pi F
        # log(1 - |rho|^2) = -log(1 + |v|^2); d/dv of rho = (I - rho rho^T)/sqrt(nv)
        g_rho = A.T @ (lab * g_t)
        g_v = (g_rho - rho * (rho @ g_rho)) / math.sqrt(nv) + 2.0 * v / nv
        grad = np.append(g_v, np.sum(lab * g_t)) if intercept else g_v
        return total + math.log(nv), grad

    x0 = np.asarray(x0, float)
    rho0 = x0[:r]
    nr = float(rho0 @ rho0)
    v0 = rho0 / math.sqrt(max(1.0 - nr, 1e-300)) if nr < 1 else rho0
    z0 = np.append(v0, x0[r]) if intercept else v0
    res = minimize(fun, z0, jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 2000})
    value = float(res.fun)
    if not np.isfinite(value):
        raise ConvergenceError("separability threshold (log domain) did not converge", iterations=int(res.nit))
    return value


def positive_scalar(value, upper: float = MARGIN_MAX):
    """``float(value)`` when it is one positive number up to ``upper`` (Python
    or NumPy scalar, not a bool), else None: the gate of the single-point fast
    path (anything else takes the general, fully validated path)."""
    t = type(value)
    if t is float or t is int or isinstance(value, (np.floating, np.integer)):
        v = float(value)
        if 0.0 < v <= upper:
            return v
    return None


def check_range(gamma: np.ndarray, margins: np.ndarray, margin_name: str) -> None:
    """gamma <= GAMMA_MAX and margins <= MARGIN_MAX, or a ValueError naming them."""
    if np.any(gamma > GAMMA_MAX):
        raise ValueError(f"gamma must be <= {GAMMA_MAX:g} (the range the max-margin solver covers), "
                         f"got {float(np.max(gamma)):g}")
    if np.any(margins > MARGIN_MAX):
        raise ValueError(f"{margin_name} must be <= {MARGIN_MAX:g} (larger margins overflow the solver), "
                         f"got {float(np.max(margins)):g}")


def solve_point(model: ClusterGMM, gamma: float, marg: np.ndarray, intercept: bool):
    """One isotropic point by one compiled call (no array machinery: a single
    call costs about as much as the engine): ``(q, b, rho, projections,
    errors, log_errors, residual, iterations)`` as NumPy scalars and
    read-only arrays, or None when the point is not a plain converged one
    (the general path then decides and reports)."""
    if not 1.0 / MARGIN_SCALE <= marg.max() <= MARGIN_SCALE:
        return None                        # the general path rescales them
    A, pri, lab = model._kernel_args
    u, x, it, res, st, proj, errs, logs = _engine.solve_single(A, pri, lab, marg, gamma, intercept,
                                                              MAX_OUTER, MAX_INNER)
    if st != _engine.OK:
        return None
    r = A.shape[1]
    q = 1.0 / u
    rho = x[:r]
    for arr in (rho, proj, errs, logs, marg):
        arr.setflags(write=False)
    f = np.float64
    return f(q), f(x[r] * q if intercept else 0.0), rho, proj, errs, logs, f(res), np.int64(it)


_NAN = np.float64(np.nan)
_OK = np.int64(0)


def point_result(model: ClusterGMM, gamma: float, marg: np.ndarray, intercept: bool):
    """:class:`MaxMarginResult` of :func:`solve_point` (None as there)."""
    p = solve_point(model, gamma, marg, intercept)
    if p is None:
        return None
    q, b, rho, proj, errs, logs, res, it = p
    return assemble(MaxMarginResult, model=model, gamma=np.float64(gamma), margins=marg, intercept=intercept,
                    q=q, b=b, rho=rho, projections=proj, errors=errs, residual=res, iterations=it,
                    separable=np.True_, tau=q, ridge=_NAN, log_errors=logs, status=_OK)


def max_margin(model: ClusterGMM, gamma, margins, intercept: bool = True,
               on_nonseparable: str = "raise", *, margin_name: str = "margins") -> MaxMarginResult:
    r"""Sharp asymptotics of the max-margin classifier with cluster margins.

    Parameters
    ----------
    model : ClusterGMM
    gamma : float or array_like
        :math:`\gamma = d/n > 0`, at most :data:`GAMMA_MAX` (1e50); a
        separable gamma below :data:`GAMMA_MIN` (1e-300) is outside the
        solver's range (a ValueError).  At most 1e7 points per call.
    margins : array_like, shape (..., K)
        Required margin :math:`\Delta_k > 0` per cluster, at most
        :data:`MARGIN_MAX` (1e300); leading axes broadcast with ``gamma``.
    intercept : bool
        Fit an intercept b (True) or force b = 0.
    on_nonseparable : {"raise", "nan"}
        What to do at points with :math:`\gamma \le \gamma_\star`: raise
        :class:`NotSeparableError` (default) or return NaN there with
        ``separable`` False (explicit opt-in; never silent).

    Returns
    -------
    MaxMarginResult

    Raises
    ------
    ValueError
        Bad input (the message names the argument).
    NotSeparableError
        :math:`\gamma \le \gamma_\star` somewhere (carries ``gamma_star``).
    ConvergenceError
        The solver did not meet its tolerance.
    """
    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM (or LabelGMM), got {type(model).__name__}")
    intercept = boolean(intercept, "intercept")
    if on_nonseparable not in ("raise", "nan"):
        raise ValueError(f"on_nonseparable must be 'raise' or 'nan', got {_short(on_nonseparable)}")
    _check_intercept_labels(model, intercept)
    if model._cov is None:
        g = positive_scalar(gamma, GAMMA_MAX)
        if g is not None:
            marg = None
            if isinstance(margins, np.ndarray):
                marg = margins
            elif isinstance(margins, (list, tuple)):
                try:
                    marg = np.asarray(margins)
                except ValueError:           # ragged: the general path names it
                    marg = None
            if marg is not None and marg.dtype.kind in "fi" and marg.shape == (model.n_clusters,) \
                    and np.all(marg > 0) and np.all(marg <= MARGIN_MAX):
                marg = marg.astype(np.float64)      # a copy: the engine's own (made read-only with the result)
                sol = point_result(model, g, marg, intercept)
                if sol is not None:
                    return sol
    gamma = positive_array(gamma, "gamma")
    margins = positive_array(margins, "margins")
    K = model.n_clusters
    if margins.ndim == 0 or margins.shape[-1] != K:
        raise ValueError(f"margins must have a last axis of length K = {K}, got shape {margins.shape}")
    shape = broadcast_shapes(("gamma", gamma.shape), (margin_name, margins.shape[:-1]))
    check_grid(shape, f"gamma and {margin_name}")
    check_range(gamma, margins, margin_name)
    g_flat = np.ascontiguousarray(np.broadcast_to(gamma, shape).reshape(-1))
    m_flat = np.ascontiguousarray(np.broadcast_to(margins, shape + (K,)).reshape(-1, K))

    scales = _margin_scales(m_flat)
    m_solve = m_flat / scales[:, None]             # exact: powers of two
    if model._cov is not None:
        # gamma_star from its logarithm: 0.0 where it underflows, without the warning meant for a user's call
        sol = covariance_max_margin(model, g_flat, m_solve, shape, intercept, on_nonseparable, MAX_INNER,
                                    math.exp(separability_threshold(model, intercept, log=True)))
        if np.all(scales == 1.0):
            return sol
        sc = scales.reshape(shape)
        return dataclasses.replace(sol, margins=frozen(m_flat, shape, (K,)), q=frozen(sol.q * sc, shape),
                                   b=frozen(sol.b * sc, shape), tau=frozen(sol.tau * sc, shape))
    A, pri, lab = model._kernel_args
    N, m = g_flat.size, A.shape[1] + (1 if intercept else 0)
    us, xs, iters = np.empty(N), np.empty((N, m)), np.empty(N, dtype=np.int64)
    res, status = np.empty(N), np.empty(N, dtype=np.int64)

    def solve(a, b):
        us[a:b], xs[a:b], iters[a:b], res[a:b], status[a:b] = _engine.solve_sweep(
            A, pri, lab, g_flat[a:b], m_solve[a:b], intercept, MAX_OUTER, MAX_INNER)

    run_chunks(N, solve)
    bad = status == _engine.NOT_CONVERGED
    if bad.any():
        # a point the engine could not solve is, below the threshold, simply
        # not separable (e.g. gamma = 1e-320, where the engine's program degenerates)
        with np.errstate(divide="ignore"):
            below = bad & (np.log(g_flat) <= separability_threshold(model, intercept, log=True))
        status = np.where(below, _engine.NOT_SEPARABLE, status)
        bad = status == _engine.NOT_CONVERGED
        tiny = bad & (g_flat < GAMMA_MIN)
        if tiny.any():
            raise ValueError(f"gamma = {float(g_flat[tiny][0]):.6g} is above gamma_star but below {GAMMA_MIN:g}, "
                             "outside the range the max-margin solver covers")
    if bad.any():
        i = int(np.argmax(bad))
        raise ConvergenceError(
            f"max-margin solve failed at gamma = {g_flat[i]:.6g}, margins = {m_flat[i].tolist()}",
            residual=res[i], iterations=iters[i])
    sep = status == _engine.OK
    if not sep.all() and on_nonseparable == "raise":
        i = int(np.argmax(~sep))
        raise NotSeparableError(g_flat[i], separability_threshold(model, intercept), intercept)

    r = A.shape[1]
    rho = xs[:, :r]
    beta = xs[:, r] if intercept else np.zeros(len(us))
    with np.errstate(divide="ignore", invalid="ignore"):
        q = scales / us
    return build_max_margin(model, g_flat, m_flat, shape, intercept, q, beta * q, rho @ A.T, beta, res, iters,
                            status, rho=rho)
