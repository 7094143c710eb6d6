r"""Exact hard-margin max-margin classifiers with per-sample margins.

Solves

.. math:: \min_{w, b} \tfrac12\|w\|^2 \ \text{s.t.}\ y_i(w\cdot x_i + b) \ge m_i
          \qquad (b \equiv 0 \text{ without intercept})

through its dual on the n x n Gram matrix (``../shared/notes/qp-backends.md``:
every primal form is 10-100x slower once d >~ n):

.. math:: \min_{a \ge 0}\ \tfrac12 a^T Q a - m^T a,\quad Q = (yy^T)\circ(XX^T),
          \quad y^T a = 0 \ \text{(intercept only)},\qquad w = X^T(a\circ y).

Backends
--------
``"svc"``
    scikit-learn's libsvm ``SVC(kernel="precomputed", C=1e8)``, the fastest
    accurate solver measured.  It only solves margins 1 with an intercept, so
    it serves margins that depend on the label alone: those are an exactly
    shifted SVM (DESIGN §3), ``w = s w_1``, ``b = s b_1 + (m_+ - m_-)/2`` with
    ``s = (m_+ + m_-)/2``.
``"piqp"``
    PIQP (dense interior point) on the dual: any margins, with or without an
    intercept (GS-SVM, K-cluster margins).
``"auto"``
    ``"svc"`` when it applies, else ``"piqp"``.

Every answer is then *polished*: on the support set S the KKT conditions are
linear, :math:`Q_{SS} a_S + y_S b = m_S`, :math:`y_S^T a_S = 0`; solving them
exactly gives machine-precision margins when S is right, and the polished
point is kept only if it is feasible (``a_S >= 0``, every margin met).  The
result carries its KKT residual.

Separability is decided before solving (a linear program, HiGHS) unless the
points are in general position with more dimensions than points, where it is
certain; non-separable data raise :class:`~asymptotics.NotSeparableError`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import boolean, finite_array
from ..errors import ConvergenceError, NotSeparableError

__all__ = ["MaxMarginFit", "fit_max_margin", "is_separable"]

_C_HARD = 1e8


@dataclass(frozen=True)
class MaxMarginFit:
    """Exact max-margin solution.

    Attributes
    ----------
    w : ndarray (d,)
    b : float
    alpha : ndarray (n,)
        Dual variables (w = X^T (alpha * y)).
    support : ndarray of int
        Indices with alpha > 0.
    kkt_residual : float
        Max of the relative margin violation, |y^T alpha| / sum(alpha) and
        the relative complementary slackness, over all samples.
    min_margin_ratio : float
        min_i y_i (w.x_i + b) / m_i (1 at an exact solution).
    backend : str
    polished : bool
        Whether the exact support-set solve was accepted.
    """

    w: np.ndarray
    b: float
    alpha: np.ndarray
    support: np.ndarray
    kkt_residual: float
    min_margin_ratio: float
    backend: str
    polished: bool


def is_separable(X: np.ndarray, y: np.ndarray, intercept: bool = True) -> bool:
    r"""Whether some (w, b) has y_i (w.x_i + b) >= 1 for all i (LP feasibility,
    HiGHS).  In the kernel form w = X^T beta when d > n (n + 1 variables)."""
    from scipy.optimize import linprog

    n, d = X.shape
    if d >= n:
        # n generic points in R^d with d >= n are shattered (Gaussian data: a.s.)
        return True
    if intercept and d + 1 >= n:
        return True
    A = -(y[:, None] * X)
    if intercept:
        A = np.hstack([A, -y[:, None]])
    res = linprog(np.zeros(A.shape[1]), A_ub=A, b_ub=-np.ones(n), bounds=(None, None), method="highs")
    return res.status == 0


def _kkt(K, y, m, a, b, intercept):
    f = K @ (a * y) + b
    slack = y * f / m - 1.0
    scale = max(a.sum(), 1e-300)
    viol = max(0.0, -slack.min())
    comp = float(np.max(a * np.abs(slack))) / scale
    eq = abs(float(y @ a)) / scale if intercept else 0.0
    return max(viol, comp, eq), float((y * f / m).min())


def _polish(K, y, m, a, intercept):
    """Exact solve of the KKT system on the support set; None if infeasible."""
    S = np.flatnonzero(a > 1e-9 * a.max())
    if S.size == 0:
        return None
    Q = (y[S, None] * y[None, S]) * K[np.ix_(S, S)]
    if intercept:
        M = np.zeros((S.size + 1, S.size + 1))
        M[:-1, :-1] = Q
        M[:-1, -1] = y[S]
        M[-1, :-1] = y[S]
        rhs = np.append(m[S], 0.0)
    else:
        M, rhs = Q, m[S]
    try:
        sol = np.linalg.solve(M, rhs)
    except np.linalg.LinAlgError:
        return None
    aS = sol[: S.size]
    if np.any(aS < 0):
        return None
    out = np.zeros_like(a)
    out[S] = aS
    b = float(sol[-1]) if intercept else 0.0
    f = K @ (out * y) + b
    if np.min(y * f / m) < 1.0 - 1e-10:
        return None
    return out, b


def _solve_svc(K, y, m):
    from sklearn.svm import SVC

    plus = y > 0
    mp, mm = m[plus][0], m[~plus][0]
    clf = SVC(kernel="precomputed", C=_C_HARD, tol=1e-8, max_iter=-1)
    clf.fit(K, y)
    a1 = np.zeros(y.size)
    a1[clf.support_] = np.abs(clf.dual_coef_[0])
    b1 = float(clf.intercept_[0])
    # label-dependent margins are a shifted SVM
    s = 0.5 * (mp + mm)
    return s * a1, s * b1 + 0.5 * (mp - mm)


def _solve_piqp(K, y, m, intercept):
    import piqp

    n = y.size
    Q = np.asfortranarray((y[:, None] * y[None, :]) * K)
    solver = piqp.DenseSolver()
    solver.settings.eps_abs = 1e-10
    solver.settings.eps_rel = 1e-11
    solver.settings.max_iter = 500
    A = np.asfortranarray(y[None, :]) if intercept else None
    b_eq = np.zeros(1) if intercept else None
    solver.setup(Q, -m, A, b_eq, None, None, None, np.zeros(n), None)
    status = solver.solve()
    if status != piqp.PIQP_SOLVED:
        raise ConvergenceError(f"PIQP did not solve the max-margin dual: {status}")
    a = np.maximum(np.asarray(solver.result.x), 0.0)
    b = float(solver.result.y[0]) if intercept else 0.0
    return a, b


def fit_max_margin(X, y, margins=None, intercept: bool = True, backend: str = "auto",
                   check_separable: bool = True, tol: float = 1e-7) -> MaxMarginFit:
    """Exact max-margin classifier with per-sample margins (module docstring).

    Parameters
    ----------
    X : array (n, d)
    y : array (n,) of +1/-1
    margins : array (n,) of positive numbers, default all 1
    intercept : bool
    backend : {"auto", "svc", "piqp"}
    check_separable : bool
        Decide separability by LP first (skipped when it is certain).
    tol : float
        Largest accepted KKT residual; above it ConvergenceError.

    Raises
    ------
    NotSeparableError
        No hyperplane separates the data (``gamma_star`` is NaN: a finite
        sample has no threshold).
    ConvergenceError
        The solver's answer misses ``tol``.
    """
    X = finite_array(X, "X", ndim=2)
    n, d = X.shape
    y = finite_array(y, "y", ndim=1)
    if y.size != n or not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError(f"y must be {n} labels in (+1, -1)")
    m = np.ones(n) if margins is None else finite_array(margins, "margins", ndim=1)
    if m.size != n or np.any(m <= 0):
        raise ValueError(f"margins must be {n} positive numbers")
    intercept = boolean(intercept, "intercept")
    if backend not in ("auto", "svc", "piqp"):
        raise ValueError(f"backend must be 'auto', 'svc' or 'piqp', got {backend!r}")
    both = np.any(y > 0) and np.any(y < 0)
    if intercept and not both:
        raise ValueError("y: with an intercept both labels must be present")
    if check_separable and not is_separable(X, y, intercept):
        raise NotSeparableError(d / n, float("nan"), intercept)

    label_margins = both and all(np.ptp(m[y == s]) == 0 for s in (1.0, -1.0))
    if backend == "auto":
        backend = "svc" if (intercept and label_margins) else "piqp"
    if backend == "svc" and not (intercept and label_margins):
        raise ValueError("backend 'svc' needs an intercept and margins that depend on the label only")
    K = X @ X.T
    a, b = _solve_svc(K, y, m) if backend == "svc" else _solve_piqp(K, y, m, intercept)
    polished = _polish(K, y, m, a, intercept)
    if polished is not None:
        a, b = polished
    res, ratio = _kkt(K, y, m, a, b, intercept)
    if res > tol:
        raise ConvergenceError(f"max-margin solve ({backend}) missed its tolerance {tol:g}", residual=res)
    w = X.T @ (a * y)
    return MaxMarginFit(w=w, b=b, alpha=a, support=np.flatnonzero(a > 0), kkt_residual=res,
                        min_margin_ratio=ratio, backend=backend, polished=polished is not None)
