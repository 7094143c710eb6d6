"""Result types shared by the engines and their covariance layer."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["MaxMarginResult"]


@dataclass(frozen=True)
class MaxMarginResult:
    r"""Asymptotic max-margin classifier on a K-cluster mixture.

    Every array field has the broadcast shape ``S`` of ``gamma`` and the
    margins (scalars for scalar input), with a trailing axis where noted.

    Attributes
    ----------
    q : ndarray (S)
        Limit of :math:`\|w\|`; the margin to a cluster with margin
        :math:`\Delta_k` is :math:`\Delta_k / q`.
    b : ndarray (S)
        Limit of the intercept (0 without one).
    rho : ndarray (S + (r,))
        Coordinates of :math:`w/\|w\|` in the mean subspace, in the basis of
        ``model.factor`` (``|rho|`` is the cosine of w with that subspace).
    projections : ndarray (S + (K,))
        :math:`\mu_k \cdot w / \|w\| = (A\rho)_k`.
    errors : ndarray (S + (K,))
        Per-cluster test errors :math:`R_k = Q(y_k((A\rho)_k + b/q))`.
    tau : ndarray (S)
        Limit of the within-cluster score spread :math:`\sqrt{w^T\Sigma w}`
        (= q for isotropic features); errors and ``beta`` are in its units.
    ridge : ndarray (S)
        The covariance solver's optimal lambda (NaN for isotropic features).
    residual : ndarray (S)
        Max-norm of the KKT vector :math:`(\nabla_{\rho,\beta} H, H)`, divided
        by gamma (for a covariance model: of the fixed-lambda system at the
        optimal lambda, divided by gamma_eff).
    iterations : ndarray (S)
        Newton iterations spent (inner plus outer).
    separable : ndarray of bool (S)
        False only where ``on_nonseparable="nan"`` filled a point with NaN.
    """

    model: "ClusterGMM"  # noqa: F821 (string annotation: results must not import models)
    gamma: np.ndarray
    margins: np.ndarray
    intercept: bool
    q: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    projections: np.ndarray
    errors: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    separable: np.ndarray = field(repr=False)
    tau: np.ndarray = field(default=None, repr=False)
    ridge: np.ndarray = field(default=None, repr=False)

    def __post_init__(self):
        if self.tau is None:   # isotropic features: the score spread is |w|
            object.__setattr__(self, "tau", self.q)
        if self.ridge is None:
            object.__setattr__(self, "ridge", _scalarise(np.full(np.shape(self.q), np.nan)))

    @property
    def beta(self) -> np.ndarray:
        """b / tau, the intercept in score units (enters every error; b / q
        for isotropic features)."""
        return self.b / self.tau


def _scalarise(a: np.ndarray):
    return a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a
