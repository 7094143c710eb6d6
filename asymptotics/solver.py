r"""The K-cluster max-margin engine: public entry points.

For a :class:`~asymptotics.models.ClusterGMM`, margins :math:`\Delta_k` and
:math:`\gamma = d/n`, the max-margin classifier

.. math:: \min \|w\| \ \text{s.t.}\ y_i (w\cdot x_i + b) \ge \Delta_{k(i)}

converges (CGMT, DESIGN §2) to ``||w|| -> q``, ``mu_k . w/||w|| -> (A rho)_k``
and ``b -> b``, where ``(u = 1/q, rho, beta = b/q)`` solves

.. math:: \max u \ \text{ s.t. }\ \min_{\rho, \beta} \sum_k \pi_k
          F\big(y_k((A\rho)_k + \beta) - \Delta_k u\big) + \gamma(\|\rho\|^2 - 1) \le 0,

and the test error of cluster k is :math:`R_k = Q(y_k((A\rho)_k + \beta))`.
How it is solved, and why that is safe, is in :mod:`asymptotics._engine`.
"""
from __future__ import annotations

import numpy as np

from . import _engine
from .covariance import covariance_max_margin, covariance_threshold
from ._validation import boolean, positive_array
from .errors import ConvergenceError, NotSeparableError
from .gaussian import Q
from .models import ClusterGMM
from .results import MaxMarginResult, _scalarise

__all__ = ["MaxMarginResult", "max_margin", "separability_threshold"]

MAX_OUTER = 200
MAX_INNER = 1000


def _check_intercept_labels(model: ClusterGMM, intercept: bool) -> None:
    if intercept and not model.has_both_labels:
        raise ValueError("labels: with an intercept both labels must be present "
                         "(a one-class problem has no finite max-margin solution)")


def separability_threshold(model: ClusterGMM, intercept: bool = True) -> float:
    r"""Separability threshold :math:`\gamma_\star`: the data are linearly
    separable (and the max-margin classifier exists) w.p. -> 1 iff
    :math:`\gamma > \gamma_\star`.

    .. math:: \gamma_\star = \min_{\|\rho\| < 1, \beta}
              \frac{\sum_k \pi_k F(y_k((A\rho)_k + \beta))}{1 - \|\rho\|^2}
              \qquad (\beta \equiv 0 \text{ without intercept})

    It does not depend on the margins.  Solved by Dinkelbach's method
    (see :mod:`asymptotics._engine`); the result is cached on the model.
    """
    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM (or LabelGMM), got {type(model).__name__}")
    intercept = boolean(intercept, "intercept")
    _check_intercept_labels(model, intercept)
    cache = model._threshold_cache
    if intercept not in cache and model._cov is not None:
        cache[intercept] = covariance_threshold(model, intercept, MAX_INNER)
    if intercept not in cache:
        gs, _, it, status = _engine.threshold(model.factor, model.priors, model.labels, intercept,
                                               200, MAX_INNER)
        if status != _engine.OK or not np.isfinite(gs):
            raise ConvergenceError("separability threshold did not converge", iterations=it)
        cache[intercept] = float(gs)
    return cache[intercept]


def max_margin(model: ClusterGMM, gamma, margins, intercept: bool = True,
               on_nonseparable: str = "raise") -> MaxMarginResult:
    r"""Sharp asymptotics of the max-margin classifier with cluster margins.

    Parameters
    ----------
    model : ClusterGMM
    gamma : float or array_like
        :math:`\gamma = d/n > 0`.
    margins : array_like, shape (..., K)
        Required margin :math:`\Delta_k > 0` per cluster; leading axes
        broadcast with ``gamma``.
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
        raise ValueError(f"on_nonseparable must be 'raise' or 'nan', got {on_nonseparable!r}")
    _check_intercept_labels(model, intercept)
    gamma = positive_array(gamma, "gamma")
    margins = positive_array(margins, "margins")
    K = model.n_clusters
    if margins.ndim == 0 or margins.shape[-1] != K:
        raise ValueError(f"margins must have a last axis of length K = {K}, got shape {margins.shape}")
    shape = np.broadcast_shapes(gamma.shape, margins.shape[:-1])
    g_flat = np.ascontiguousarray(np.broadcast_to(gamma, shape).reshape(-1))
    m_flat = np.ascontiguousarray(np.broadcast_to(margins, shape + (K,)).reshape(-1, K))

    if model._cov is not None:
        return covariance_max_margin(model, g_flat, m_flat, shape, intercept, on_nonseparable, MAX_INNER,
                                     separability_threshold(model, intercept))
    A = model.factor
    us, xs, iters, res, status = _engine.solve_sweep(A, model.priors, model.labels, g_flat, m_flat,
                                                     intercept, MAX_OUTER, MAX_INNER)
    bad = status == _engine.NOT_CONVERGED
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
    proj = rho @ A.T
    with np.errstate(divide="ignore", invalid="ignore"):
        q = 1.0 / us
    errors = Q(model.labels * (proj + beta[:, None]))
    b = beta * q
    nan = ~sep
    for arr in (q, b, rho, proj, errors, res):
        arr[nan] = np.nan

    def shaped(a, tail=()):
        return _scalarise(a.reshape(shape + tail))

    return MaxMarginResult(
        model=model, gamma=shaped(g_flat), margins=m_flat.reshape(shape + (K,)), intercept=intercept,
        q=shaped(q), b=shaped(b), rho=shaped(rho, (r,)), projections=shaped(proj, (K,)),
        errors=shaped(errors, (K,)), residual=shaped(res), iterations=shaped(iters),
        separable=shaped(sep))
