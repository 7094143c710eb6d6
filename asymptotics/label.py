r"""CS-SVM on label-imbalanced mixtures: a thin front-end on the K-cluster engine.

The CS-SVM (paper eq. 4) asks margin :math:`\delta` of the minority class +1
and margin 1 of class -1.  On :class:`~asymptotics.models.LabelGMM` data
(paper Theorem 2):

.. math::

    R_+ = Q\big((VS\rho)_+ + b/q\big),\quad R_- = Q\big(-(VS\rho)_- - b/q\big),\quad
    R_{bal} = \tfrac12 (R_+ + R_-),\quad R = \pi R_+ + (1-\pi) R_-.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import positive_array
from .models import LabelGMM
from .results import MaxMarginResult, ReadOnlyResult, _messages, assemble, frozen, frozen_metrics
from .solver import _NAN, _OK, GAMMA_MAX, max_margin, positive_scalar, solve_point

__all__ = ["CSSVMResult", "cs_svm"]


@dataclass(frozen=True, eq=False)
class CSSVMResult(ReadOnlyResult):
    r"""Asymptotics of the CS-SVM at each (gamma, delta).

    Attributes
    ----------
    gamma, delta : ndarray
        The broadcast inputs (shape S).
    q : ndarray (S)
        :math:`\lim \|w\|`; margins are delta/q (class +1) and 1/q (class -1).
    b : ndarray (S)
        Limit of the intercept (0 without intercept).
    rho : ndarray (S + (r,))
        Direction of w in the mean subspace (basis ``model.factor``).
    projections : ndarray (S + (2,))
        :math:`(\mu_+\cdot w, \mu_-\cdot w)/\|w\|`.
    errors : ndarray (S + (2,))
        :math:`(R_+, R_-)` (the per-cluster errors of every result type).
    R_plus, R_minus : ndarray (S)
        Class-conditional test errors of the minority (+1) and majority (-1).
    R_bal : ndarray (S)
        Balanced error :math:`(R_+ + R_-)/2`.
    R : ndarray (S)
        Standard test error :math:`\pi R_+ + (1 - \pi) R_-`.
    log_errors : ndarray (S + (2,))
        :math:`(\log R_+, \log R_-)`, accurate where the errors underflow.
    residual, iterations, separable, status, tau, ridge :
        As in :class:`~asymptotics.solver.MaxMarginResult` (``tau``, the
        score spread, equals ``q`` for isotropic features).
    """

    model: LabelGMM
    gamma: np.ndarray
    delta: np.ndarray
    intercept: bool
    q: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    projections: np.ndarray
    errors: np.ndarray
    R_plus: np.ndarray
    R_minus: np.ndarray
    R_bal: np.ndarray
    R: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    separable: np.ndarray
    tau: np.ndarray = None
    ridge: np.ndarray = None
    log_errors: np.ndarray = None
    status: np.ndarray = None

    @property
    def beta(self) -> np.ndarray:
        """b / tau (b / q for isotropic features)."""
        return self.b / self.tau

    @property
    def messages(self):
        """The text of ``status``."""
        return _messages(self.status)


def cs_svm(model: LabelGMM, gamma, delta, intercept: bool = True,
           on_nonseparable: str = "raise") -> CSSVMResult:
    r"""Sharp asymptotics of the cost-sensitive SVM.

    Parameters
    ----------
    model : LabelGMM
    gamma : float or array_like
        :math:`\gamma = d/n > 0`.
    delta : float or array_like
        Margin ratio :math:`\delta > 0` (minority margin over majority
        margin); broadcasts with ``gamma``.  ``delta = 1`` is the SVM.
    intercept : bool
        With (True) or without an intercept.
    on_nonseparable : {"raise", "nan"}
        See :func:`~asymptotics.solver.max_margin`.

    Returns
    -------
    CSSVMResult

    Examples
    --------
    >>> import asymptotics as asy
    >>> m = asy.LabelGMM.antipodal(prior=0.1, norm=2.0)
    >>> s = asy.cs_svm(m, gamma=2.0, delta=3.0)
    >>> round(float(s.R_bal), 6)
    0.128196
    """
    if not isinstance(model, LabelGMM):
        raise ValueError(f"model must be a LabelGMM, got {type(model).__name__}")
    d = positive_scalar(delta)
    if d is not None and model._cov is None and type(intercept) is bool and on_nonseparable in ("raise", "nan"):
        g = positive_scalar(gamma, GAMMA_MAX)
        if g is not None and (model.has_both_labels or not intercept):
            p = solve_point(model, g, np.array([d, 1.0]), intercept)
            if p is not None:
                q, b, rho, proj, e, logs, res, it = p
                r_plus, r_minus = e[0], e[1]
                return assemble(
                    CSSVMResult, model=model, gamma=np.float64(g), delta=np.float64(d), intercept=intercept, q=q,
                    b=b, rho=rho, projections=proj, errors=e, R_plus=r_plus, R_minus=r_minus,
                    R_bal=0.5 * (r_plus + r_minus), R=model.prior * r_plus + (1.0 - model.prior) * r_minus, residual=res, iterations=it,
                    separable=np.True_, tau=q, ridge=_NAN, log_errors=logs, status=_OK)
    delta = positive_array(delta, "delta")
    margins = np.stack(np.broadcast_arrays(delta, np.ones_like(delta)), axis=-1)
    sol: MaxMarginResult = max_margin(model, gamma, margins, intercept, on_nonseparable, margin_name="delta")
    return CSSVMResult(
        model=model, gamma=sol.gamma, delta=frozen(np.broadcast_to(delta, np.shape(sol.q)), np.shape(sol.q)),
        intercept=sol.intercept, q=sol.q, b=sol.b, rho=sol.rho, projections=sol.projections, errors=sol.errors,
        **frozen_metrics(model.metrics(sol.errors)),
        residual=sol.residual, iterations=sol.iterations, separable=sol.separable, tau=sol.tau, ridge=sol.ridge,
        log_errors=sol.log_errors, status=sol.status)
