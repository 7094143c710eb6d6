r"""GS-SVM on group-imbalanced mixtures: a thin front-end on the K-cluster engine.

The GS-SVM asks margin :math:`\delta` of the protected minority group g = 1
and margin 1 of every other group (paper §2.1); the refined GS-SVM asks
:math:`\delta_{y,g}` of subgroup (y, g).  On
:class:`~asymptotics.models.GroupGMM` data the subgroup errors are

.. math:: R_{y,g} = Q\big(y((A\rho)_{(y,g)} + \beta)\big)
          = Q\big(\mu_g\cdot w/\|w\| + y\,b/q\big),

and from them (with :math:`p_g` the group priors, :math:`\pi` the class prior)

.. math::

    R_\pm = \sum_g p_g R_{\pm,g},\quad R_{bal} = \tfrac12(R_+ + R_-),\quad
    R = \pi R_+ + (1-\pi) R_-,\\
    \mathrm{DEO} = R_{+,1} - R_{+,2},\quad
    \mathrm{symm\_DEO} = \tfrac12(|R_{+,1} - R_{+,2}| + |R_{-,1} - R_{-,2}|),\quad
    \mathrm{worst} = \max_{y,g} R_{y,g}.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

from ._validation import _short, positive_array
from .models import GroupGMM
from .results import ReadOnlyResult, _messages, assemble, frozen, frozen_metrics
from .solver import _NAN, _OK, GAMMA_MAX, max_margin, positive_scalar, solve_point

__all__ = ["GSSVMResult", "gs_svm", "group_margins"]


@dataclass(frozen=True, eq=False)
class GSSVMResult(ReadOnlyResult):
    r"""Asymptotics of the GS-SVM at each (gamma, delta).

    Array fields have the broadcast shape S of ``gamma`` and ``delta``.

    Attributes
    ----------
    q, b, rho, projections, residual, iterations, separable, status, tau, ridge :
        As in :class:`~asymptotics.solver.MaxMarginResult` (``projections``
        per cluster, in the cluster order of :class:`~asymptotics.models.GroupGMM`).
    margins : ndarray (S + (2, G))
        The margin asked of each subgroup, indexed ``[iy, g - 1]``
        (iy = 0 for y = +1, 1 for y = -1).
    R_yg : ndarray (S + (2, G))
        Subgroup errors :math:`R_{y,g}`, same indexing.
    R_plus, R_minus : ndarray (S)
        Class-conditional errors :math:`\sum_g p_g R_{\pm,g}`.
    R_bal : ndarray (S)
        Class-balanced error :math:`(R_+ + R_-)/2` (as for the CS-SVM).
    R_subgroup_bal : ndarray (S)
        Unweighted mean of the 2G subgroup errors.
    R : ndarray (S)
        Standard error :math:`\sum_{y,g}\pi_y p_g R_{y,g}`.
    DEO : ndarray (S)
        :math:`R_{+,1} - R_{+,2}` (group 1 against group 2).
    symm_DEO : ndarray (S)
        :math:`(|R_{+,1} - R_{+,2}| + |R_{-,1} - R_{-,2}|)/2`.
    worst : ndarray (S)
        Worst-subgroup error :math:`\max_{y,g} R_{y,g}`.
    errors, log_errors : ndarray (S + (2G,))
        Per-cluster errors and their logarithms (cluster order of GroupGMM).
    log_R_yg : ndarray (S + (2, G))
        :math:`\log R_{y,g}`, accurate where the errors underflow.
    """

    model: GroupGMM
    gamma: np.ndarray
    margins: np.ndarray
    intercept: bool
    q: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    projections: np.ndarray
    errors: np.ndarray
    R_yg: np.ndarray
    R_plus: np.ndarray
    R_minus: np.ndarray
    R_bal: np.ndarray
    R_subgroup_bal: np.ndarray
    R: np.ndarray
    DEO: np.ndarray
    symm_DEO: np.ndarray
    worst: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    separable: np.ndarray
    tau: np.ndarray = None
    ridge: np.ndarray = None
    log_R_yg: np.ndarray = None
    log_errors: np.ndarray = None
    status: np.ndarray = None

    @property
    def messages(self):
        """The text of ``status``."""
        return _messages(self.status)


def group_margins(model: GroupGMM, delta) -> np.ndarray:
    """Subgroup margins, shape ``delta.shape + (2, G)``.

    ``delta`` is either the minority group's margin (scalar or array: group 1
    gets ``delta`` in both classes, every other group 1), or a mapping
    ``{(y, g): margin}`` for the refined GS-SVM (y in {+1, -1}, g in 1..G;
    subgroups not named get margin 1).
    """
    G = model.n_groups
    if isinstance(delta, Mapping):
        out = np.ones((2, G))
        for key, value in delta.items():
            if not (isinstance(key, tuple) and len(key) == 2 and key[0] in (1, -1)
                    and isinstance(key[1], (int, np.integer)) and 1 <= key[1] <= G):
                raise ValueError(f"delta keys must be (y, g) with y in (+1, -1) and g in 1..{G}, got {_short(key)}")
            value = positive_array(value, f"delta[{key}]")
            if value.ndim != 0:
                raise ValueError(f"delta[{key}] must be a scalar margin, got shape {value.shape}")
            out[0 if key[0] == 1 else 1, key[1] - 1] = float(value)
        return out
    delta = positive_array(delta, "delta")
    out = np.ones(delta.shape + (2, G))
    out[..., :, 0] = delta[..., None]
    return out


def gs_svm(model: GroupGMM, gamma, delta=1.0, intercept: bool = True,
           on_nonseparable: str = "raise") -> GSSVMResult:
    r"""Sharp asymptotics of the group-sensitive SVM.

    Parameters
    ----------
    model : GroupGMM
    gamma : float or array_like
        :math:`\gamma = d/n > 0`.
    delta : float, array_like or mapping
        Margin of the minority group g = 1 (other groups get 1), broadcasting
        with ``gamma``; or ``{(y, g): margin}`` for the refined GS-SVM (see
        :func:`group_margins`).  ``delta = 1`` is the plain SVM.
    intercept : bool
    on_nonseparable : {"raise", "nan"}
        See :func:`~asymptotics.solver.max_margin`.

    Returns
    -------
    GSSVMResult

    Examples
    --------
    >>> import asymptotics as asy
    >>> g = asy.GroupGMM(class_prior=0.5, group_prior=0.05, mean_1=[2, 0], mean_2=[0, 2])
    >>> t = asy.gs_svm(g, gamma=2.0, delta=[1.0, 5.0])
    >>> [round(float(v), 4) for v in t.DEO]
    [0.3381, 0.1361]
    """
    if not isinstance(model, GroupGMM):
        raise ValueError(f"model must be a GroupGMM, got {type(model).__name__}")
    G = model.n_groups
    d = positive_scalar(delta)
    if d is not None and model._cov is None and type(intercept) is bool and on_nonseparable in ("raise", "nan"):
        g = positive_scalar(gamma, GAMMA_MAX)
        if g is not None and (model.has_both_labels or not intercept):
            marg = np.ones(2 * G)
            marg[0] = marg[G] = d
            p = solve_point(model, g, marg, intercept)
            if p is not None:
                q, b, rho, proj, e, logs, res, it = p
                return assemble(
                    GSSVMResult, model=model, gamma=np.float64(g), margins=marg.reshape(2, G), intercept=intercept,
                    q=q, b=b, rho=rho, projections=proj, errors=e, **model.metrics(e), residual=res, iterations=it,
                    separable=np.True_, tau=q, ridge=_NAN, log_R_yg=logs.reshape(2, G), log_errors=logs,
                    status=_OK)
    margins = group_margins(model, delta)
    sol = max_margin(model, gamma, margins.reshape(margins.shape[:-2] + (2 * G,)), intercept,
                     on_nonseparable, margin_name="delta")
    shape = np.shape(sol.q)
    return GSSVMResult(
        model=model, gamma=sol.gamma, margins=frozen(np.broadcast_to(margins, shape + (2, G)), shape, (2, G)),
        intercept=sol.intercept, q=sol.q, b=sol.b, rho=sol.rho, projections=sol.projections,
        errors=sol.errors, **frozen_metrics(model.metrics(sol.errors)),
        residual=sol.residual, iterations=sol.iterations, separable=sol.separable, tau=sol.tau, ridge=sol.ridge,
        log_R_yg=frozen(sol.log_errors, shape, (2, G)), log_errors=sol.log_errors, status=sol.status)
