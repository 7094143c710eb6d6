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
    shifted SVM (docs/theory.md §3), ``w = s w_1``, ``b = s b_1 + (m_+ - m_-)/2`` with
    ``s = (m_+ + m_-)/2``.
``"piqp"``
    PIQP (dense interior point) on the dual: any margins, with or without an
    intercept (GS-SVM, K-cluster margins).
``"auto"``
    ``"svc"`` when it applies, else ``"piqp"``.

Every answer is then *polished*: on the support set S the KKT conditions are
linear, :math:`Q_{SS} a_S + y_S b = m_S`, :math:`y_S^T a_S = 0`; solving them
exactly gives machine-precision margins when S is right, and the polished
point is kept only if it is feasible (``a_S >= 0``, every margin met).  S is
guessed from the solver's answer, in turn (at most four solves, the first
feasible kept): alpha above 1e-9, 1e-6 or 1e-12 of its largest entry, or
the samples on their margin to 1e-7 (the size at which an interior-point
answer leaves the zero duals depends on the problem's scale and
conditioning, so no single threshold always works).  The result carries
its KKT residual.

Separability.  With fewer unknowns than points (``d (+1) < n``) it is decided
before solving by a linear program (HiGHS); otherwise the solve itself
decides it: an answer that meets every margin (checked) proves separability,
and only a solve that fails pays for the LP, which then tells non-separable
data (:class:`~asymptotics.NotSeparableError`) from a genuine solver failure
(:class:`~asymptotics.ConvergenceError`).  Nothing is assumed about general
position: duplicate, zero or collinear rows are decided like any others.

Scale.  The problem is scale-covariant: ``w(cX) = w(X)/c``, ``b(cX) = b``,
``alpha(cX) = alpha(X)/c^2``, and ``margins -> r margins`` multiplies ``w``,
``b`` and ``alpha`` by ``r``.  Every solve (and the separability LP) therefore
runs on ``X`` and the margins rescaled by powers of two (exact: no rounding)
to a canonical scale, the largest row norm of ``X`` in [1, 2) and the largest
margin in [1, 2), and the answer is scaled back exactly, so that data in any
unit get the same answer.  Supported: every scale at which the answer is
representable in double precision, ``w ~ 1/|x|`` and ``alpha ~ 1/|x|^2``
(roughly ``1e-150 < max|x| < 1e150`` for unit margins); beyond it a one-line
ValueError naming ``X`` (rescale the data; the direction does not change).

Bounds.  libsvm runs at most ``max(10^4, 50 n)`` SMO steps (a hard-margin
solve on Gaussian data takes a few thousand at n = 800); past that PIQP takes
over, with at most 200 interior-point iterations; the LP has a time limit of
120 s.  Every call therefore ends in a result, ``NotSeparableError`` or
``ConvergenceError``; the ``n x n`` Gram matrix must fit the memory budget of
:mod:`asymptotics.simulate.sampling`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import _short, boolean
from ..errors import ConvergenceError, NotSeparableError
from .sampling import ReadOnlyResult, check_memory, real_array

__all__ = ["MaxMarginFit", "fit_max_margin", "is_separable"]

_C_HARD = 1e8
_SVC_MIN_ITER = 10_000        # libsvm step cap: max(_SVC_MIN_ITER, _SVC_ITER_PER_POINT * n)
_SVC_ITER_PER_POINT = 50
_PIQP_MAX_ITER = 200
_LP_TIME_LIMIT = 120.0        # seconds


@dataclass(frozen=True, eq=False)
class MaxMarginFit(ReadOnlyResult):
    """Exact max-margin solution (arrays read-only).

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


def _matrix(value, name: str, ndim: int) -> np.ndarray:
    """Finite real float array of the given ndim; one-line messages (no array
    repr); strings, booleans and complex numbers refused."""
    return real_array(value, name, ndim)


def _pow2_exponent(top: float) -> int:
    """The e with 2^e top in [1, 2) (0 for top = 0): an exact rescaling."""
    if not top > 0:
        return 0
    return 1 - int(np.frexp(top)[1])


def _canonical(X: np.ndarray, m: np.ndarray):
    """X 2^a (largest row norm in [1, 2)) and m 2^c (largest margin in [1, 2)),
    with a and c (module docstring, "Scale"); no copy when a = 0 / c = 0."""
    top = float(np.max(np.abs(X))) if X.size else 0.0
    a0 = _pow2_exponent(top)                       # max |x| in [1, 2): the row norms cannot overflow
    Xs = np.ldexp(X, a0) if a0 else X              # at most one copy of X
    rows = float(np.sqrt(np.max(np.einsum("ij,ij->i", Xs, Xs)))) if X.size else 0.0
    a = a0 + _pow2_exponent(rows)
    if a != a0:
        Xs = np.ldexp(Xs, a - a0, out=Xs) if a0 else np.ldexp(X, a)
    c = _pow2_exponent(float(np.max(m))) if m is not None and m.size else 0
    ms = (np.ldexp(m, c) if c else m) if m is not None else None
    return Xs, ms, a, c


def _check_xy(X, y):
    X = _matrix(X, "X", 2)
    n, d = X.shape
    if n < 1 or d < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    y = _matrix(y, "y", 1)
    if y.size != n or not np.all((y == 1.0) | (y == -1.0)):
        raise ValueError(f"y must be {n} labels in (+1, -1)")
    return X, y


def is_separable(X, y, intercept: bool = True) -> bool:
    r"""Whether some (w, b) has y_i (w.x_i + b) >= 1 for all i: a linear
    feasibility program (HiGHS) in whichever form has fewer unknowns, the
    primal (w, b) or the kernel form w = X^T beta (n + 1 unknowns).  No
    general-position shortcut: duplicate, zero or collinear rows are decided
    exactly.  With an intercept a one-class sample is separable (w = 0).

    Raises
    ------
    ConvergenceError
        HiGHS neither found a point nor proved infeasibility (numerical
        trouble, or its time limit of 120 s).
    """
    X, y = _check_xy(X, y)
    intercept = boolean(intercept, "intercept")
    Xs, _, _, _ = _canonical(X, None)           # separability is scale-invariant
    return _separable(Xs, y, intercept)


def _separable(X, y, intercept, K=None) -> bool:
    from scipy.optimize import linprog

    n, d = X.shape
    if d > n:
        if K is None:
            check_memory(n * n, "X", f"the n x n Gram matrix of n = {n} samples")
            K = X @ X.T
        A = -(y[:, None] * K)               # margins of w = X^T beta
    else:
        A = -(y[:, None] * X)
    if intercept:
        A = np.hstack([A, -y[:, None]])
    res = linprog(np.zeros(A.shape[1]), A_ub=A, b_ub=-np.ones(n), bounds=(None, None), method="highs",
                  options={"time_limit": _LP_TIME_LIMIT})
    if res.status == 0:
        return True
    if res.status == 2:
        return False
    raise ConvergenceError(f"the separability LP (HiGHS) decided nothing: {res.message}",
                           iterations=int(getattr(res, "nit", 0) or 0))


def _kkt(K, y, m, a, b, intercept):
    f = K @ (a * y) + b
    slack = y * f / m - 1.0
    scale = max(a.sum(), 1e-300)
    viol = max(0.0, -slack.min())
    comp = float(np.max(a * np.abs(slack))) / scale
    eq = abs(float(y @ a)) / scale if intercept else 0.0
    return max(viol, comp, eq), float((y * f / m).min())


def _polish(K, y, m, a, b, intercept):
    """Exact solve of the KKT system on a guessed support set; None if no guess
    gives a feasible point.  The guesses, tried in turn until one is feasible:
    alpha above 1e-9, 1e-6 and 1e-12 of its largest entry, and the samples on
    their margin to 1e-7 (an interior-point answer leaves the zero duals at
    a size that depends on the problem, so no single threshold always works).
    Any feasible point is *the* solution: stationarity holds by construction,
    complementarity and the margins are checked."""
    if not (np.all(np.isfinite(a)) and np.isfinite(b)) or a.max() <= 0:
        return None
    top = a.max()
    with np.errstate(all="ignore"):
        on_margin = y * (K @ (a * y) + b) / m - 1.0 <= 1e-7
    seen = set()
    for mask in (a > 1e-9 * top, a > 1e-6 * top, on_margin, a > 1e-12 * top):
        S = np.flatnonzero(mask)
        key = S.tobytes()
        if S.size == 0 or key in seen:
            continue
        seen.add(key)
        out = _polish_on(K, y, m, S, intercept)
        if out is not None:
            return out
    return None


def _polish_on(K, y, m, S, intercept):
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
        with np.errstate(all="ignore"):
            sol = np.linalg.solve(M, rhs)
    except np.linalg.LinAlgError:
        return None
    if not np.all(np.isfinite(sol)):
        return None
    aS = sol[: S.size]
    if np.any(aS < 0):
        return None
    out = np.zeros(y.size)
    out[S] = aS
    b = float(sol[-1]) if intercept else 0.0
    with np.errstate(all="ignore"):
        f = K @ (out * y) + b
    if not np.min(y * f / m) >= 1.0 - 1e-10:
        return None
    return out, b


def _solve_svc(K, y, m):
    """libsvm on the precomputed Gram matrix; None when it stops at its step cap."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import SVC

    plus = y > 0
    mp, mm = m[plus][0], m[~plus][0]
    cap = max(_SVC_MIN_ITER, _SVC_ITER_PER_POINT * y.size)
    clf = SVC(kernel="precomputed", C=_C_HARD, tol=1e-8, max_iter=cap)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            clf.fit(K, y)
        except ConvergenceWarning:
            return None
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
    solver.settings.max_iter = _PIQP_MAX_ITER
    A = np.asfortranarray(y[None, :]) if intercept else None
    b_eq = np.zeros(1) if intercept else None
    solver.setup(Q, -m, A, b_eq, None, None, None, np.zeros(n), None)
    status = solver.solve()
    iters = int(solver.result.info.iter)
    if status != piqp.PIQP_SOLVED:
        raise ConvergenceError(f"PIQP did not solve the max-margin dual: {status}", iterations=iters)
    a = np.maximum(np.asarray(solver.result.x, dtype=float), 0.0)
    b = float(solver.result.y[0]) if intercept else 0.0
    if not (np.all(np.isfinite(a)) and np.isfinite(b)):
        raise ConvergenceError("PIQP returned a non-finite max-margin dual", iterations=iters)
    return a, b


def _tolerance(tol) -> float:
    if isinstance(tol, (str, bytes, bool, np.bool_)):
        raise ValueError(f"tol must be a number in (0, 1), got {_short(tol)}")
    try:
        arr = np.asarray(tol, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"tol must be a number in (0, 1), got {_short(tol)}") from None
    if arr.ndim != 0 or not 0.0 < float(arr) < 1.0:
        raise ValueError(f"tol must be a number in (0, 1), got {_short(tol)}")
    return float(arr)


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
        Decide separability by LP before solving when ``d (+1) < n`` (with
        more unknowns the solve decides it).  Either way a solve that fails
        on non-separable data raises NotSeparableError.
    tol : float in (0, 1)
        Largest accepted KKT residual; above it ConvergenceError.

    Raises
    ------
    ValueError
        A malformed argument (named), or an ``n x n`` Gram matrix above the
        memory budget.
    NotSeparableError
        No hyperplane separates the data (``gamma_star`` is NaN: a finite
        sample has no threshold).
    ConvergenceError
        The solver's answer misses ``tol`` on separable data (every solver
        is bounded, see the module docstring).
    """
    X, y = _check_xy(X, y)
    n, d = X.shape
    m = np.ones(n) if margins is None else _matrix(margins, "margins", 1)
    if m.size != n or np.any(m <= 0):
        raise ValueError(f"margins must be {n} positive numbers")
    intercept = boolean(intercept, "intercept")
    check_separable = boolean(check_separable, "check_separable")
    tol = _tolerance(tol)
    if not isinstance(backend, str) or backend not in ("auto", "svc", "piqp"):
        raise ValueError(f"backend must be 'auto', 'svc' or 'piqp', got {_short(backend)}")
    both = bool(np.any(y > 0) and np.any(y < 0))
    if intercept and not both:
        raise ValueError("y: with an intercept both labels must be present")
    label_margins = both and all(np.ptp(m[y == s]) == 0 for s in (1.0, -1.0))
    if backend == "auto":
        backend = "svc" if (intercept and label_margins) else "piqp"
    if backend == "svc" and not (intercept and label_margins):
        raise ValueError("backend 'svc' needs an intercept and margins that depend on the label only")
    check_memory(n * n, "X", f"the n x n Gram matrix of n = {n} samples")
    X_in = X
    X, m, a_exp, c_exp = _canonical(X, m)        # exact power-of-two rescaling (module docstring)

    def not_separable():
        return NotSeparableError(d / n, float("nan"), intercept)

    known = None                    # separability, once decided
    if check_separable and d + int(intercept) < n:
        known = _separable(X, y, intercept)
        if not known:
            raise not_separable()
    K = X @ X.T
    try:
        out = _solve_svc(K, y, m) if backend == "svc" else None
        if out is None:
            if backend == "svc":
                # libsvm stopped at its step cap: non-separable data, or a hard
                # instance for SMO; the LP tells which, PIQP takes the latter
                if known is None:
                    known = _separable(X, y, intercept, K)
                    if not known:
                        raise not_separable()
                backend = "piqp"
            out = _solve_piqp(K, y, m, intercept)
        a, b = out
        polished = _polish(K, y, m, a, b, intercept)
        if polished is not None:
            a, b = polished
        res, ratio = _kkt(K, y, m, a, b, intercept)
        if not (np.isfinite(res) and res <= tol):
            raise ConvergenceError(f"max-margin solve ({backend}) missed its tolerance {tol:g}", residual=res)
    except ConvergenceError:
        if known is None and not _separable(X, y, intercept, K):
            raise not_separable() from None
        raise
    w_s = X.T @ (a * y)
    support = np.flatnonzero(a > 0)
    # back to the caller's units, exactly: w 2^(a - c), b 2^(-c), alpha 2^(2a - c)
    with np.errstate(over="ignore", under="ignore"):
        w = np.ldexp(w_s, a_exp - c_exp) if a_exp != c_exp else w_s
        b = float(np.ldexp(b, -c_exp)) if c_exp else float(b)
        alpha = np.ldexp(a, 2 * a_exp - c_exp) if 2 * a_exp != c_exp else a
    tiny = np.finfo(float).tiny
    w_top, w_s_top = float(np.max(np.abs(w))), float(np.max(np.abs(w_s)))
    if not (np.all(np.isfinite(w)) and np.isfinite(b) and np.all(np.isfinite(alpha))
            and (w_s_top == 0 or w_top >= tiny) and (support.size == 0 or float(alpha[support].min()) >= tiny)):
        top, m_top = float(np.max(np.abs(X_in))), float(np.ldexp(m.max(), -c_exp))
        raise ValueError(f"X: at this scale (largest |x| = {top:.3g}, largest margin = {m_top:.3g}) the max-margin "
                         "solution (w ~ 1/|x|, alpha ~ 1/|x|^2) is not representable in double precision; rescale X "
                         "(w(cX) = w(X)/c, b unchanged)")
    return MaxMarginFit(w=w, b=b, alpha=alpha, support=support, kkt_residual=res,
                        min_margin_ratio=ratio, backend=backend, polished=polished is not None)
