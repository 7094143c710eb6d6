r"""Exact regularised empirical risk minimisation on a sample.

:func:`fit_erm` solves, to a tight tolerance,

.. math:: \min_{w, b}\ F(w, b) = \frac1n\sum_{i=1}^n \ell_{k(i)}\big(y_i(w\cdot x_i + b)\big)
          + \frac\lambda2\|w\|^2,

with ``b`` free and unpenalised (``intercept=True``) or ``b = 0``, and
:math:`\ell_k` the per-cluster losses of :mod:`asymptotics.losses`
(:class:`~asymptotics.losses.VSLoss`,
:class:`~asymptotics.losses.HingeLoss`,
:class:`~asymptotics.losses.SquareLoss`); ``k(i)`` is the cluster of sample
``i``.  It is the finite-sample counterpart of the regularised-ERM
asymptotics (``docs/erm.md``).

Optimality conditions and the reported residual
-----------------------------------------------
Write :math:`m_i = y_i(w\cdot x_i + b)` for the margins, :math:`z_i` for
:math:`x_i` (with a trailing 1 when there is an intercept) and
:math:`\|\cdot\|_\infty` for the max-norm; ``colmax`` is
:math:`\max_j\|X_{:j}\|_2` (at least :math:`\sqrt n` with an intercept, the
norm of the column of ones).

*Smooth losses* (VS, square, or a mix of the two): the minimiser is the
zero of the gradient

.. math:: \nabla_w F = \frac1n\sum_i \ell'_{k(i)}(m_i)\, y_i x_i + \lambda w, \qquad
          \partial_b F = \frac1n\sum_i \ell'_{k(i)}(m_i)\, y_i \quad(\text{intercept only}),

and ``kkt`` is :math:`\|\nabla F\|_\infty/\sigma` with

.. math:: \sigma = \max\Big(\mathrm{colmax}\,\frac{\|\ell'(m)\|_2}{n},\
          \lambda\|w\|_\infty,\ 10^{-4}\,\mathrm{colmax}\,\frac{\|\ell''(m)\circ m\|_2}{n}\Big).

The first term bounds every coordinate of the sum (Cauchy-Schwarz): the
size a gradient coordinate would have if its terms did not cancel.  The
last is a rounding floor: near interpolation (square loss, ``d > n``,
tiny ``lam``) the derivatives :math:`\ell' = -\omega(\Delta - m)` are
:math:`O(\lambda)` and carry the rounding error of the margins,
:math:`\approx \epsilon\,\ell''|m|`; ``kkt <= 1e-10`` then means a gradient
below :math:`10^{-14}` times the sensitivity of the gradient to the margins.
Elsewhere the floor is orders of magnitude below the first term.

*Hinge* :math:`\ell(t) = \omega(\Delta - t)_+`: with dual variables
:math:`u_i \in [0, \omega_i]` (:math:`u_i/\omega_i` a subgradient of
:math:`(\cdot)_+` at the slack :math:`\xi_i = \Delta_i - m_i`), the minimiser
satisfies

.. math:: \lambda w = \frac1n\sum_i u_i y_i x_i,\qquad \sum_i u_i y_i = 0\ (\text{intercept}),
          \qquad u_i = \omega_i \text{ if } \xi_i > 0,\quad u_i = 0 \text{ if } \xi_i < 0,

and ``kkt`` is the largest of: the stationarity in ``w`` in max-norm over
:math:`\max(\mathrm{colmax}\|u\|_2/n, \lambda\|w\|_\infty)`;
:math:`|\sum u_i y_i|/\sum u_i`; and over the samples
:math:`\min\big(|\xi_i|/\Delta_i,\ \mathrm{dist}(u_i/\omega_i, \partial(\cdot)_+(\xi_i))\big)`
(a point is on its margin to relative precision, or its dual variable is a
valid subgradient there).

Solvers
-------
VS (and smooth mixes), ``lam > 0``
    Damped Newton on the exact objective from ``w = 0``: analytic gradient
    and Hessian, Armijo backtracking (60 halvings at most), full steps once
    the predicted decrease is below rounding of ``F`` (the residual must then
    keep falling, else ConvergenceError).  For ``d < n`` the
    (d + 1)-dimensional Hessian is factored (``"newton-primal"``).  For
    ``d >= n`` the minimiser lies in the row space of ``X``
    (:math:`w = X^T\beta`) and the Newton system is solved in n dimensions on
    the Gram matrix :math:`K = XX^T` (``"newton-kernel"``): with
    :math:`D = \mathrm{diag}(\ell'')` and
    :math:`T = \mathrm{diag}\big(\sqrt{\ell''/(\ell'' + \lambda)}\big)`,

    .. math:: (\lambda I + X^T D X/n)^{-1} X^T v = X^T c, \qquad
              c = (\lambda I + DK/n)^{-1} v = T\,G^{-1}\,T D^{-1} v,\quad
              G = \mathrm{diag}\Big(\frac{\lambda}{\ell''+\lambda}\Big) + \frac{TKT}{n},

    one Cholesky factorisation of the SPD matrix ``G`` per step (plus one
    step of iterative refinement).  Unlike the Woodbury form it never
    divides by ``lam`` (``G`` stays well conditioned as ``lam -> 0`` when
    ``K`` is), and the intercept's Schur complement is exactly
    :math:`\lambda\sum_i q_i` with :math:`q = (\lambda I + DK/n)^{-1}\ell''/n`,
    so :math:`\delta b = (\sum\beta - \sum p)/\sum q` with no cancellation.
VS, ``lam = 0``
    The minimiser exists iff no hyperplane weakly separates the sample (no
    :math:`(w, b) \ne 0` with all :math:`m_i \ge 0` and some :math:`m_i > 0`;
    Albert and Anderson 1984).  Newton in (w, b) decides it: a converged run
    (small gradient *and* small final Newton step with a regular Hessian)
    proves overlap (Gordan: :math:`u_i = -\ell'(m_i) > 0` with
    :math:`\sum u_i y_i z_i = 0`); an iterate with every margin positive
    proves strict separability.  Only a run that ends neither way pays for
    the LP that tells weak separation from a convergence failure.  For
    ``d (+1) >= n`` an interpolating solution of :math:`Z\theta = y` (one
    Cholesky factorisation) proves separability first.
Square
    Closed form, a weighted ridge regression on the targets
    :math:`y_i\Delta_{k(i)}` with weights :math:`\omega_{k(i)}`: for
    ``lam > 0`` the Newton system above from zero is exactly the normal
    equations (primal for ``d < n``, in n-space for ``d >= n``); a second
    step, if needed, is iterative refinement.  For ``lam = 0`` a
    column-pivoted QR least-squares solve of :math:`\sqrt{\omega/n}\,[X, 1]`
    (``"qr"``) with two refinement steps; it needs a unique minimiser
    (``[X, 1]``, or ``X`` without intercept, of full column rank), else
    ValueError.
Hinge, ``lam > 0``
    The dual QP on the Gram matrix

    .. math:: \min_{0 \le u \le \omega}\ \frac{1}{2n\lambda}u^T\big((yy^T)\circ K\big)u
              - \Delta^T u \quad\text{s.t. } y^T u = 0 \ (\text{intercept}),
              \qquad w = \frac{X^T(u\circ y)}{n\lambda},

    ``b`` the multiplier of :math:`y^Tu = 0`, solved by PIQP (dense interior
    point, ``../shared/notes/qp-backends.md``), or for ``n >= 2000`` with an
    intercept and ``omega``, ``Delta`` depending on the label only, first by
    libsvm (``SVC(kernel="precomputed")``, label-dependent margins being an
    exactly shifted and rescaled SVM; PIQP if its polished answer misses
    ``tol``).  Then *polished*: on the partition (free, at the box, zero)
    the conditions are linear and solved exactly, an active-set loop
    repairing a wrong guess (25 solves at most); the polished point is kept
    when its residual is smaller.  For small ``lam`` on separable data (no
    ``u_i`` at its box) this is the hard-margin classifier with margins
    ``Delta``.
Hinge, ``lam = 0``
    The dual linear program :math:`\max \Delta^T u` s.t.
    :math:`\sum u_i y_i z_i = 0`, :math:`0 \le u \le \omega` (HiGHS interior
    point with crossover; ``(w, b)`` from the equality multipliers), then
    polished on the active set.  The minimiser need not be unique; the one
    returned is a vertex.  The problem is well-posed iff the sample is not
    strictly separable; that is tested first (interpolation for ``d >= n``, a
    short unregularised logistic Newton run otherwise) and, finally, by the
    LP itself (optimum 0).

A separable sample with ``lam = 0`` raises :class:`SeparableSampleError`, a
:class:`~asymptotics.NotSeparableError` with ``gamma = d/n`` and
``gamma_star = nan``.  Every loop is bounded (``max_iter`` Newton or
interior-point iterations); missing ``tol`` raises
:class:`~asymptotics.ConvergenceError`; the result never holds NaN.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, replace

import numpy as np
from scipy import linalg as sla
from scipy.special import expit

from .._validation import _short, boolean
from ..errors import ConvergenceError, NotSeparableError
from ..losses import HINGE, SQUARE, VS, Loss, VSLoss, cluster_losses
from .sampling import ReadOnlyResult, check_memory, cluster_array, real_array

__all__ = ["ERMFit", "fit_erm", "SeparableSampleError"]

_MAX_HALVINGS = 60            # backtracking line search
_ARMIJO = 1e-4
_NOISE = 1e-13                # predicted decreases below _NOISE |F| are rounding
_MAX_STALL = 4                # noisy full steps allowed without residual decrease
_TINY = 1e-300
X_MAX = 1e150                 # largest |x| accepted with lam > 0: n |x|^2 and the Hessian stay finite
_SAFE_SCALE = (2.0 ** -64, 2.0 ** 64)   # lam = 0 outside it: solved at a power-of-two scale
MAX_ITER = 10 ** 5            # cap on max_iter (Newton / interior-point iterations)
_ROUNDING = 1e-4              # smooth residual: weight of the rounding floor (module docstring)
_STEP_TOL = 1e-6              # lam = 0 (VS): largest final Newton step, relative to |(w, b)|
_SVC_MIN_N = 2000             # hinge: libsvm first from this many samples (see _fit_hinge_qp)


@dataclass(frozen=True, eq=False)
class ERMFit(ReadOnlyResult):
    """Solution of :func:`fit_erm`.

    Attributes
    ----------
    w : ndarray (d,)
        Weights (read-only).
    b : float
        Intercept (0.0 without intercept).
    objective : float
        :math:`F(w, b)` (module docstring).
    kkt : float
        Scaled max-norm residual of the optimality conditions (module
        docstring, "Optimality conditions"); at most ``tol``.
    iterations : int
        Newton steps (smooth losses, square with ``lam > 0``), solve plus
        refinement steps (``"qr"``), interior-point iterations (PIQP; HiGHS
        for the hinge with ``lam = 0``) or SMO iterations (libsvm).
    converged : bool
        Always True on return (a miss raises ConvergenceError); kept for
        symmetry with :class:`~asymptotics.simulate.TrainResult`.
    solver : str
        ``"newton-primal"``, ``"newton-kernel"``, ``"qr"``, ``"piqp"``,
        ``"svc"``, ``"highs"``, with ``"+polish"`` when the exact polish was
        accepted.
    """

    w: np.ndarray
    b: float
    objective: float
    kkt: float
    iterations: int
    converged: bool
    solver: str

    def __repr__(self) -> str:
        return (f"ERMFit(d={self.w.size}, |w|={np.linalg.norm(self.w):.6g}, b={self.b:.6g}, "
                f"objective={self.objective:.12g}, kkt={self.kkt:.2e}, iterations={self.iterations}, "
                f"solver={self.solver!r})")


class SeparableSampleError(NotSeparableError):
    """``lam = 0`` on a linearly separable sample: the unregularised minimiser
    does not exist.  A :class:`~asymptotics.NotSeparableError` (so that
    callers handling the max-margin side catch it too) with ``gamma = d/n``,
    ``gamma_star = nan`` (a finite sample has no threshold) and a message
    that says what happened."""

    def __init__(self, gamma: float, intercept: bool, message: str):
        super().__init__(gamma, float("nan"), intercept)
        self.args = (message,)


# --------------------------------------------------------------------------------------------
# validation


@dataclass(frozen=True)
class _Data:
    X: np.ndarray
    y: np.ndarray
    k: np.ndarray           # entry of the ClusterLosses for each sample
    per: object             # ClusterLosses
    kind: np.ndarray        # per-sample loss parameters
    omega: np.ndarray
    iota: np.ndarray
    Delta: np.ndarray
    lam: float
    intercept: bool

    @property
    def n(self) -> int:
        return self.X.shape[0]

    @property
    def d(self) -> int:
        return self.X.shape[1]


def _array(value, name: str, ndim: int) -> np.ndarray:
    """Finite real float array of the given ndim (one-line messages: no array
    repr; strings, booleans and complex numbers refused)."""
    return real_array(value, name, ndim)


def _scalar(value, name: str) -> float:
    if isinstance(value, (str, bytes, bool, np.bool_)) or np.iscomplexobj(value):
        raise ValueError(f"{name} must be a real number, got {_short(value)}")
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {_short(value)}") from None
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    if not np.isfinite(arr):
        raise ValueError(f"{name} must be finite, got {_short(value)}")
    return float(arr)


def _validate(X, y, loss, lam, clusters, intercept, tol, max_iter) -> tuple:
    X = _array(X, "X", 2)
    n, d = X.shape
    if n < 1 or d < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    y = _array(y, "y", 1)
    if y.size != n:
        raise ValueError(f"y must have one label per row of X ({n}), got {y.size}")
    if not np.all((y == 1.0) | (y == -1.0)):
        raise ValueError("y must hold labels +1 or -1 only")
    lam = _scalar(lam, "lam")
    if lam < 0:
        raise ValueError(f"lam must be >= 0, got {_short(lam)}")
    intercept = boolean(intercept, "intercept")
    tol = _scalar(tol, "tol")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1), got {_short(tol)}")
    if isinstance(max_iter, (bool, np.bool_)) or not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {_short(max_iter)}")
    if max_iter > MAX_ITER:
        raise ValueError(f"max_iter must be at most {MAX_ITER:g} (Newton converges in tens of steps; every loop "
                         f"is bounded), got {_short(max_iter)}")
    if intercept and not (np.any(y > 0) and np.any(y < 0)):
        raise ValueError("y: with an intercept both labels must be present")

    if isinstance(loss, Loss):
        size = loss.size
    elif isinstance(loss, (list, tuple)) and loss:
        size = len(loss)
    else:
        raise ValueError(f"loss must be a Loss (VSLoss, HingeLoss, SquareLoss) or a list of them, got {_short(loss)}")
    per = cluster_losses(loss, size)        # validates lists (one scalar loss per cluster)
    if clusters is None:
        if size == 1:
            k = np.zeros(n, dtype=np.int64)
        elif size == 2:
            k = np.where(y > 0, 0, 1).astype(np.int64)
        else:
            raise ValueError(f"loss: has {size} entries; give clusters (each sample's entry), "
                             "or a loss with 1 entry or 2 per-class entries")
    else:
        c = cluster_array(clusters, n)
        if n and c.min() < 0:
            raise ValueError(f"clusters must be >= 0, got {int(c.min())}")
        if size == 1:
            k = np.zeros(n, dtype=np.int64)
        elif c.max() >= size:
            raise ValueError(f"loss: has {size} entries but clusters go up to {int(c.max())}")
        else:
            k = c
    kinds = set(per.kind[np.unique(k)].tolist())
    if HINGE in kinds and len(kinds) > 1:
        raise ValueError("loss: the hinge cannot be mixed with smooth losses in one fit")
    if lam == 0 and len(kinds) > 1:
        raise ValueError("lam: lam = 0 needs a single kind of loss (VS, hinge or square)")
    data = _Data(X=X, y=y, k=k, per=per, kind=per.kind[k], omega=per.omega[k], iota=per.iota[k],
                 Delta=per.Delta[k], lam=lam, intercept=intercept)
    return data, kinds, tol, int(max_iter)


# --------------------------------------------------------------------------------------------
# public entry point


def fit_erm(X, y, loss, lam, clusters=None, intercept: bool = True, tol: float = 1e-10,
            max_iter: int = 200) -> ERMFit:
    r"""Exact minimiser of the regularised empirical risk (module docstring).

    .. math:: F(w, b) = \frac1n\sum_i \ell_{k(i)}\big(y_i(w\cdot x_i + b)\big) + \frac\lambda2\|w\|^2

    Parameters
    ----------
    X : array (n, d)
        Features (finite).
    y : array (n,)
        Labels, +1 or -1.
    loss : VSLoss, HingeLoss, SquareLoss, or a list of scalar losses (one per cluster)
        Parameters per cluster.  Smooth kinds (VS and square) may be mixed
        across clusters; the hinge may not.
    lam : float
        Ridge penalty :math:`\lambda \ge 0`.  ``lam = 0`` needs a
        non-separable sample (VS: not even weakly separable; hinge: not
        strictly separable) or, for the square loss, a unique least-squares
        solution.
    clusters : array (n,) of int, optional
        ``k(i)``, the loss entry of each sample.  Default: a 1-entry loss is
        shared by all samples; a 2-entry loss is read per class (entry 0 for
        ``y = +1``, entry 1 for ``y = -1``).  With a 1-entry loss any
        non-negative indices are accepted (they share it).
    intercept : bool
        Fit a free, unpenalised ``b`` (needs both labels).
    tol : float
        Largest accepted scaled KKT residual (module docstring), in (0, 1).
    max_iter : int
        Cap on Newton (smooth) or interior-point (hinge) iterations (libsvm
        has its own cap, max(10^6, 200 n) SMO steps, past which PIQP takes over).

    Returns
    -------
    ERMFit

    Raises
    ------
    ValueError
        A malformed argument (the message names it); ``lam = 0`` with the
        square loss and no unique minimiser; an ``n x n`` Gram matrix (hinge
        with ``lam > 0``, or ``d >= n``) above the memory budget of
        :mod:`asymptotics.simulate.sampling`.
    SeparableSampleError
        (a :class:`~asymptotics.NotSeparableError`) ``lam = 0`` on a
        separable sample: no minimiser.
    ConvergenceError
        The residual ``tol`` was not reached within ``max_iter``.

    Examples
    --------
    >>> import numpy as np
    >>> from asymptotics.losses import VSLoss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 50))
    >>> y = np.where(X[:, 0] + rng.standard_normal(200) > 0, 1.0, -1.0)
    >>> fit = fit_erm(X, y, VSLoss(), lam=0.1)
    >>> fit.converged and fit.kkt <= 1e-10
    True
    """
    data, kinds, tol, max_iter = _validate(X, y, loss, lam, clusters, intercept, tol, max_iter)
    top = float(np.max(np.abs(data.X)))
    if data.lam > 0 and top > X_MAX:
        raise ValueError(f"X: entries up to {top:.3g} are outside the range fit_erm solves with lam > 0 "
                         f"(|x| <= {X_MAX:g}: sums of squares of the features overflow); rescale X (the fit is "
                         "scale-covariant: w(c X, lam) = w(X, lam / c^2) / c)")
    if data.lam == 0 and top > 0 and not _SAFE_SCALE[0] <= top <= _SAFE_SCALE[1]:
        # lam = 0 is exactly scale-covariant, w(c X) = w(X) / c: solve at a power-of-two scale
        # (max |x| in [1, 2), exact) and scale w back
        from .svm import _canonical
        Xs, _, a, _ = _canonical(data.X, None)
        fit = _solve(replace(data, X=Xs), kinds, tol, max_iter)
        with np.errstate(over="ignore", under="ignore"):
            w = np.ldexp(np.asarray(fit.w), a)
        v = np.asarray(fit.w)
        if not np.all(np.isfinite(w)) or np.any((w == 0) & (v != 0)):
            raise ValueError(f"X: at this scale (largest |x| = {top:.3g}) the weights (~ 1/|x|) are not "
                             "representable in double precision; rescale X")
        return dataclasses.replace(fit, w=w)
    return _solve(data, kinds, tol, max_iter)


def _solve(data: _Data, kinds: set, tol: float, max_iter: int) -> ERMFit:
    if kinds == {HINGE} and data.lam > 0 or _use_kernel(data.n, data.d, data.lam):
        check_memory(data.n * data.n, "X", f"the n x n Gram matrix of n = {data.n} samples")
    if kinds == {HINGE}:
        if data.lam == 0:
            if _interpolates(data) or _newton_separates(data):
                _raise_separable(data, weak=False)
            return _fit_hinge_lp(data, tol, max_iter)
        return _fit_hinge_qp(data, tol, max_iter)
    if data.lam == 0:
        if kinds == {SQUARE}:
            return _fit_square_qr(data, tol)
        return _fit_vs_unregularised(data, tol, max_iter)
    return _fit_smooth(data, tol, max_iter)


def _result(data: _Data, w, b, kkt, iterations, solver) -> ERMFit:
    w = np.array(w, dtype=float)
    b = float(b)
    m = data.y * (data.X @ w + b)
    obj = float(np.mean(data.per._value(m, data.k)) + 0.5 * data.lam * float(w @ w))
    if not (np.all(np.isfinite(w)) and np.isfinite(b) and np.isfinite(obj) and np.isfinite(kkt)):
        raise ConvergenceError(f"{solver}: non-finite solution", residual=kkt, iterations=iterations)
    w.setflags(write=False)
    return ERMFit(w=w, b=b, objective=obj, kkt=float(kkt), iterations=int(iterations), converged=True,
                  solver=solver)


# --------------------------------------------------------------------------------------------
# smooth losses: Newton


def _curvature(data: _Data, m: np.ndarray) -> np.ndarray:
    """Second derivative of each sample's loss at its margin (VS or square)."""
    z = data.iota - data.Delta * m
    vs = data.omega * data.Delta ** 2 * expit(z) * expit(-z)
    return np.where(data.kind == VS, vs, data.omega)


def _col_norm_max(data: _Data) -> float:
    cn = float(np.sqrt(np.max(np.einsum("ij,ij->j", data.X, data.X))))
    return max(cn, np.sqrt(data.n)) if data.intercept else cn


def _smooth_residual(data: _Data, gw, gb, der, m, w, colmax) -> float:
    """Scaled max-norm gradient (module docstring): the scale is the largest of
    the loss-derivative terms, the ridge term and the rounding floor
    _ROUNDING * colmax |l''(m) m|_2 / n."""
    g = float(np.max(np.abs(gw)))
    if data.intercept:
        g = max(g, abs(gb))
    floor = _ROUNDING * colmax * float(np.linalg.norm(_curvature(data, m) * m)) / data.n
    scale = max(colmax * float(np.linalg.norm(der)) / data.n, data.lam * float(np.max(np.abs(w))), floor,
                _TINY)
    return g / scale


def _use_kernel(n: int, d: int, lam: float) -> bool:
    """Newton in the n-dimensional span of the data iff lam > 0 and d >= n.
    For d < n the Gram matrix is singular, the span parametrisation
    w = X^T beta is redundant and, with a tiny lam, beta picks up large
    components in null(K) that cost accuracy (measured: square loss, d = 2n/3,
    lam = 1e-10 missed 1e-10 by 4 digits); the primal Hessian is then the
    well-posed one, at 1-3x the kernel's flops for n/2 < d < n."""
    return lam > 0 and d >= n


def _fit_smooth(data: _Data, tol: float, max_iter: int, certify: bool = False) -> ERMFit:
    kernel = _use_kernel(data.n, data.d, data.lam)
    if kernel:
        w, b, it, res = _newton_kernel(data, tol, max_iter)
    else:
        w, b, it, res = _newton_primal(data, tol, max_iter, certify)
    name = "newton-kernel" if kernel else "newton-primal"
    return _result(data, w, b, res, it, name)


class _LineSearchFailure(Exception):
    pass


def _line_search(data: _Data, m, dm, F0, slope, wn2, wdw, dwn2):
    """Armijo backtracking on F along the step; the w-part of F is the quadratic
    lam/2 (wn2 + 2 t wdw + t^2 dwn2).  Returns the step length, or 1.0 with
    ``noisy=True`` when the predicted decrease is below rounding of F."""
    if -slope <= _NOISE * max(abs(F0), _TINY):
        return 1.0, True
    t = 1.0
    for _ in range(_MAX_HALVINGS):
        Ft = float(np.mean(data.per._value(m + t * dm, data.k))) + 0.5 * data.lam * (wn2 + 2 * t * wdw + t * t * dwn2)
        if np.isfinite(Ft) and Ft <= F0 + _ARMIJO * t * slope:
            return t, False
        t *= 0.5
    raise _LineSearchFailure


def _solve_spd(H, rhs, min_norm: bool):
    """Solve H x = rhs for a PSD Hessian by Cholesky.  Returns (x, regular);
    ``regular`` is False when the factorisation fails or a pivot falls below
    1e3 eps of the largest (lambda_min(H) is at most every pivot).  Then, if
    ``min_norm`` (lam = 0: a rank-deficient design, or curvature lost along a
    separating direction) or the factorisation failed, x is the minimum-norm
    least-squares step, which keeps Newton from zero in the row space (the
    minimum-norm minimiser when it is not unique)."""
    try:
        L, low = sla.cho_factor(H, lower=True, check_finite=False)
    except (np.linalg.LinAlgError, sla.LinAlgError):
        return sla.lstsq(H, rhs, check_finite=False)[0], False
    piv = np.diag(L) ** 2
    if piv.min() >= 1e3 * np.finfo(float).eps * piv.max():
        return sla.cho_solve((L, low), rhs, check_finite=False), True
    if min_norm:
        return sla.lstsq(H, rhs, check_finite=False)[0], False
    return sla.cho_solve((L, low), rhs, check_finite=False), False


class _Degenerate(Exception):
    """lam = 0: gradient within tol but the Hessian numerically singular: either
    a rank-deficient design (a minimiser, not unique) or a separating direction
    along which the loss still decreases (no minimiser).  Carries the point."""

    def __init__(self, w, b, it, res):
        super().__init__()
        self.point = (w, b, it, res)


def _newton_primal(data: _Data, tol: float, max_iter: int, certify: bool = False):
    """Damped Newton in (w, b).  ``certify`` (lam = 0): raise SeparableSampleError
    as soon as an iterate has every margin positive, and stop only when the
    Newton step is small as well as the gradient."""
    X, y, n, d, lam, ic = data.X, data.y, data.n, data.d, data.lam, data.intercept
    colmax = _col_norm_max(data)
    w = np.zeros(d)
    b = 0.0
    best, stall, res = np.inf, 0, np.inf
    for it in range(max_iter + 1):
        m = y * (X @ w + b)
        if certify and np.all(m > 0):
            _raise_separable(data, weak=False)
        der = data.per._derivative(m, data.k)
        ry = y * der / n
        gw = X.T @ ry + lam * w
        gb = float(ry.sum())
        res = _smooth_residual(data, gw, gb, der, m, w, colmax)
        if res <= tol and not certify:
            return w, b, it, res
        if it == max_iter:
            break
        h = _curvature(data, m)
        A = X * np.sqrt(h / n)[:, None]
        p = d + 1 if ic else d
        H = np.empty((p, p))
        H[:d, :d] = A.T @ A
        H[np.arange(d), np.arange(d)] += lam
        g = gw
        if ic:
            hb = X.T @ h / n
            H[:d, d] = hb
            H[d, :d] = hb
            H[d, d] = h.sum() / n
            g = np.append(gw, gb)
        step, regular = _solve_spd(H, g, min_norm=lam == 0)
        step = -step
        if res <= tol and certify:
            # lam = 0: a small gradient is not enough -- under quasi-complete separation
            # the gradient vanishes at infinity while Newton keeps stepping O(1) along
            # the separating direction (or the curvature there is lost to rounding);
            # a minimiser also needs a regular Hessian and a small Newton step
            if not regular:
                raise _Degenerate(w, b, it, res)
            if np.max(np.abs(step)) <= _STEP_TOL * (1.0 + max(np.max(np.abs(w)), abs(b))):
                return w, b, it, res
        slope = float(g @ step)
        if not slope < 0:                       # numerically no descent: steepest descent
            step, slope = -g, -float(g @ g)
        dw = step[:d]
        db = float(step[d]) if ic else 0.0
        dm = y * (X @ dw + db)
        F0 = float(np.mean(data.per._value(m, data.k))) + 0.5 * lam * float(w @ w)
        try:
            t, noisy = _line_search(data, m, dm, F0, slope, float(w @ w), float(w @ dw), float(dw @ dw))
        except _LineSearchFailure:
            raise ConvergenceError("fit_erm (Newton): line search failed", residual=res, iterations=it) from None
        stall = stall + 1 if (noisy and res >= best) else 0
        best = min(best, res)
        if stall > _MAX_STALL:
            break
        w = w + t * dw
        b = b + t * db
    raise ConvergenceError(f"fit_erm (Newton, primal) missed tol = {tol:g}", residual=res, iterations=it)


def _newton_kernel(data: _Data, tol: float, max_iter: int):
    X, y, n, lam, ic = data.X, data.y, data.n, data.lam, data.intercept
    colmax = _col_norm_max(data)
    K = X @ X.T
    beta = np.zeros(n)
    b = 0.0
    best, stall, res = np.inf, 0, np.inf
    for it in range(max_iter + 1):
        Kb = K @ beta
        m = y * (Kb + b)
        der = data.per._derivative(m, data.k)
        ry = y * der / n
        v = ry + lam * beta                     # grad_w F = X^T v
        gb = float(ry.sum())
        WG = X.T @ np.column_stack([beta, v])
        w, gw = WG[:, 0], WG[:, 1]
        res = _smooth_residual(data, gw, gb, der, m, w, colmax)
        if res <= tol:
            return w, b, it, res
        if it == max_iter:
            break
        h = np.maximum(_curvature(data, m), 1e-200)   # floor: keeps 1/sqrt(h (h + lam)) finite
        tw = np.sqrt(h / (h + lam))
        G = np.multiply(K, tw[:, None])
        G *= tw[None, :] / n
        G[np.arange(n), np.arange(n)] += lam / (h + lam)
        try:
            cho = sla.cho_factor(G, lower=True, overwrite_a=True, check_finite=False)
        except (np.linalg.LinAlgError, sla.LinAlgError):
            raise ConvergenceError("fit_erm (Newton, kernel): Cholesky failed", residual=res,
                                   iterations=it) from None
        t_over_h = 1.0 / np.sqrt(h * (h + lam))

        def apply_inv(u):
            """(lam I + D K / n)^{-1} u = T G^{-1} T D^{-1} u (module docstring), one
            step of iterative refinement."""
            c = tw * sla.cho_solve(cho, t_over_h * u, check_finite=False)
            r = h * (K @ c) / n + lam * c - u
            return c - tw * sla.cho_solve(cho, t_over_h * r, check_finite=False)

        p = apply_inv(v)
        if ic:
            # Schur complement of the intercept: with A = lam I + D K / n, A q = h / n and
            # A p = v give K q = n (h/n - lam q) / h etc., so the complement
            # sum(h)/n - (h/n)^T K q is exactly lam sum(q) and the step
            # db = (sum(beta) - sum(p)) / sum(q): no cancellation as lam -> 0
            q = apply_inv(h / n)
            sq = float(q.sum())
            db = float(beta.sum() - p.sum()) / sq if sq > 0 else 0.0
            dbeta = -(p + q * db)
        else:
            db = 0.0
            dbeta = -p
        Kd = K @ dbeta
        slope = float(v @ Kd) + gb * db
        if not slope < 0:                       # numerically no descent: steepest descent
            dbeta, db = -v, -gb if ic else 0.0
            Kd = K @ dbeta
            slope = float(v @ Kd) + gb * db
        dm = y * (Kd + db)
        wn2 = float(beta @ Kb)
        F0 = float(np.mean(data.per._value(m, data.k))) + 0.5 * lam * wn2
        try:
            t, noisy = _line_search(data, m, dm, F0, slope, wn2, float(beta @ Kd), float(dbeta @ Kd))
        except _LineSearchFailure:
            raise ConvergenceError("fit_erm (Newton): line search failed", residual=res, iterations=it) from None
        stall = stall + 1 if (noisy and res >= best) else 0
        best = min(best, res)
        if stall > _MAX_STALL:
            break
        beta = beta + t * dbeta
        b = b + t * db
    raise ConvergenceError(f"fit_erm (Newton, kernel) missed tol = {tol:g}", residual=res, iterations=it)


# --------------------------------------------------------------------------------------------
# square loss, lam = 0: least squares by pivoted QR


def _fit_square_qr(data: _Data, tol: float) -> ERMFit:
    X, y, n, d, ic = data.X, data.y, data.n, data.d, data.intercept
    p = d + 1 if ic else d
    what = "[X, 1]" if ic else "X"
    if n < p:
        raise ValueError(f"lam: lam = 0 with the square loss needs a unique minimiser, i.e. n >= d"
                         f"{' + 1' if ic else ''} and {what} of full column rank; got n = {n}, d = {d}")
    sw = np.sqrt(data.omega / n)
    A = X * sw[:, None]
    if ic:
        A = np.hstack([A, sw[:, None]])
    target = sw * y * data.Delta
    Qm, R, piv = sla.qr(A, mode="economic", pivoting=True, check_finite=False)
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > max(n, p) * np.finfo(float).eps * diag[0])) if diag[0] > 0 else 0
    if rank < p:
        raise ValueError(f"lam: lam = 0 with the square loss needs a unique minimiser; {what} has rank "
                         f"{rank} < {p} columns")
    theta = np.empty(p)
    theta[piv] = sla.solve_triangular(R, Qm.T @ target, check_finite=False)
    colmax = _col_norm_max(data)
    res = np.inf
    for it in range(1, 4):                      # solve + up to two refinement steps
        w, b = theta[:d], (float(theta[d]) if ic else 0.0)
        m = y * (X @ w + b)
        der = data.per._derivative(m, data.k)
        ry = y * der / n
        res = _smooth_residual(data, X.T @ ry, float(ry.sum()), der, m, w, colmax)
        if res <= tol:
            return _result(data, w, b, res, it, "qr")
        corr = np.empty(p)
        corr[piv] = sla.solve_triangular(R, Qm.T @ (target - A @ theta), check_finite=False)
        theta = theta + corr
    raise ConvergenceError(f"fit_erm (square, QR) missed tol = {tol:g}", residual=res, iterations=3)


# --------------------------------------------------------------------------------------------
# separability (lam = 0)


def _design(data: _Data) -> np.ndarray:
    return np.hstack([data.X, np.ones((data.n, 1))]) if data.intercept else data.X


def _interpolates(data: _Data) -> bool:
    """For d (+1) >= n: whether a solution of Z theta = y exists (then all
    margins are 1: strictly separable).  One Cholesky factorisation of ZZ^T."""
    Z = _design(data)
    n, p = Z.shape
    if p < n:
        return False
    try:
        cho = sla.cho_factor(Z @ Z.T, lower=True, check_finite=False)
        theta = Z.T @ sla.cho_solve(cho, data.y, check_finite=False)
    except (np.linalg.LinAlgError, sla.LinAlgError):
        return False
    return bool(np.min(data.y * (Z @ theta)) > 0.5)


def _newton_separates(data: _Data, max_iter: int = 50) -> bool:
    """Cheap separability test before the hinge LP: unregularised logistic
    Newton from zero; an iterate with every margin positive proves strict
    separability (typically within a few steps).  False means only "not shown"."""
    from dataclasses import replace

    ce = cluster_losses(VSLoss(), 1)
    n = data.n
    probe = replace(data, per=ce, k=np.zeros(n, dtype=np.int64), kind=np.full(n, VS),
                    omega=np.ones(n), iota=np.zeros(n), Delta=np.ones(n))
    try:
        _newton_primal(probe, 1e-8, max_iter, certify=True)
    except SeparableSampleError:
        return True
    except (ConvergenceError, _Degenerate):
        pass
    return False


def _separated_count(data: _Data) -> int:
    """Largest number of samples some weakly separating hyperplane puts strictly
    on their side: max sum t  s.t.  y_i z_i.v >= t_i, 0 <= t_i <= 1 (an LP;
    the cone is scale-free, so the optimum is an integer).  0: the classes
    overlap; n: strictly separable.  Slow (minutes at n = 3000, d = 1000):
    only used to explain a failed lam = 0 VS fit."""
    from scipy import sparse
    from scipy.optimize import linprog

    Z = _design(data)
    n, p = Z.shape
    A = sparse.hstack([sparse.csr_matrix(-(data.y[:, None] * Z)), sparse.identity(n, format="csr")],
                      format="csr")
    c = np.concatenate([np.zeros(p), -np.ones(n)])
    bounds = [(None, None)] * p + [(0.0, 1.0)] * n
    res = linprog(c, A_ub=A, b_ub=np.zeros(n), bounds=bounds, method="highs",
                  options={"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9})
    if res.status != 0:
        raise ConvergenceError(f"fit_erm: the separability LP failed: {res.message}")
    return int(round(-res.fun))


def _raise_separable(data: _Data, weak: bool, count: int | None = None) -> None:
    gamma = data.d / data.n
    side = "with" if data.intercept else "without"
    if not weak:
        raise SeparableSampleError(gamma, data.intercept,
                                   f"lam: the sample is linearly separable {side} an intercept (gamma = d/n = "
                                   f"{gamma:.6g}), so the lam = 0 minimiser does not exist; use lam > 0 or "
                                   "fit_max_margin")
    raise SeparableSampleError(gamma, data.intercept,
                               f"lam: the sample is weakly separable {side} an intercept (a hyperplane "
                               f"puts {count} of {data.n} samples strictly on their side and none on the "
                               "wrong one), so the lam = 0 VS minimiser does not exist; use lam > 0")


def _fit_vs_unregularised(data: _Data, tol: float, max_iter: int) -> ERMFit:
    """VS with lam = 0.  The minimiser exists iff the classes overlap (no weak
    separation), and a converged Newton run proves it (Gordan/Stiemke: the
    zero gradient gives u_i = -l'(m_i) > 0 with sum u_i y_i z_i = 0).  The
    other way round, an iterate with every margin positive proves strict
    separability, which Newton finds within a few steps on separable data.
    Only a run that fails for neither reason pays for the LP that tells weak
    separation from a genuine convergence failure."""
    if _interpolates(data):
        _raise_separable(data, weak=False)
    try:
        return _fit_smooth(data, tol, max_iter, certify=True)
    except (ConvergenceError, _Degenerate) as exc:
        count = _separated_count(data)
        if count == data.n:
            _raise_separable(data, weak=False)
        if count > 0:
            _raise_separable(data, weak=True, count=count)
        if isinstance(exc, _Degenerate):            # overlapping classes, rank-deficient design
            w, b, it, res = exc.point
            return _result(data, w, b, res, it, "newton-primal")
        raise


# --------------------------------------------------------------------------------------------
# hinge


def _hinge_kkt(data: _Data, w, b, u, colmax) -> float:
    """Scaled KKT residual of the hinge problem (module docstring); u in [0, omega]."""
    X, y, n, lam = data.X, data.y, data.n, data.lam
    m = y * (X @ w + b)
    xi = data.Delta - m
    frac = u / data.omega
    dist = np.where(xi > 0, 1.0 - frac, np.where(xi < 0, frac, 0.0))
    comp = float(np.max(np.minimum(np.abs(xi) / data.Delta, np.abs(dist))))
    stat = lam * w - X.T @ (u * y) / n
    scale = max(colmax * float(np.linalg.norm(u)) / n, lam * float(np.max(np.abs(w))), _TINY)
    res = max(comp, float(np.max(np.abs(stat))) / scale)
    if data.intercept:
        res = max(res, abs(float(u @ y)) / max(float(u.sum()), _TINY))
    return res


def _partition(u, omega, thresh):
    frac = u / omega
    low = frac <= thresh
    up = frac >= 1.0 - thresh
    return np.flatnonzero(~(low | up)), np.flatnonzero(up)


def _polish_dual(data: _Data, K, F, U, rounds: int = 25):
    """Exact KKT solve on a partition: free set F (margins exactly Delta), U at
    the box (u = omega), the rest at zero.  A small active-set loop repairs a
    guessed partition: free duals leaving [0, omega] move to the bound they
    cross, bound points whose margin contradicts their dual become free
    (at most ``rounds`` solves).  Returns (u, b) or None."""
    y, n, lam, om, De = data.y, data.n, data.lam, data.omega, data.Delta
    scale = n * lam
    state = np.zeros(n, dtype=np.int8)               # 0: u = 0, 1: free, 2: u = omega
    state[F] = 1
    state[U] = 2
    for _ in range(rounds):
        F, U = np.flatnonzero(state == 1), np.flatnonzero(state == 2)
        if F.size == 0 and data.intercept:
            return _polish_no_free(data, K, U)
        sol = _free_solve(data, K, F, U)
        if sol is None:
            return None
        uF, b = sol
        low, high = uF < 0, uF > om[F]
        if low.any() or high.any():
            state[F[low]] = 0
            state[F[high]] = 2
            continue
        u = np.zeros(n)
        u[U] = om[U]
        u[F] = uF
        S = np.flatnonzero(u)
        xi = (De - y * (K[:, S] @ (u[S] * y[S]) / scale + b)) / De
        wrong = ((state == 0) & (xi > 1e-11)) | ((state == 2) & (xi < -1e-11))
        if not wrong.any():
            return u, b
        state[wrong] = 1
    return None


def _free_solve(data: _Data, K, F, U):
    """The linear KKT conditions on a partition: Q_FF u_F + y_F b = r_F (margins
    of F exactly Delta) and y_F^T u_F = -y_U^T omega_U (intercept), with
    Q = (yy^T) o K / (n lam).  Q_FF is PSD (definite when the free points are
    affinely independent); Cholesky with the intercept by its Schur complement,
    LU on the bordered system if that fails.  Returns (u_F, b) or None."""
    y, n, lam, om, De = data.y, data.n, data.lam, data.omega, data.Delta
    scale = n * lam
    Q = (y[F, None] * y[None, F]) * K[np.ix_(F, F)] / scale
    rhs = De[F] - y[F] * (K[np.ix_(F, U)] @ (om[U] * y[U])) / scale
    target = -float(om[U] @ y[U])
    if F.size == 0:
        return np.zeros(0), 0.0
    try:
        cho = sla.cho_factor(Q, lower=True, check_finite=False)
        a1 = sla.cho_solve(cho, rhs, check_finite=False)
        if data.intercept:
            a2 = sla.cho_solve(cho, y[F], check_finite=False)
            b = (float(y[F] @ a1) - target) / float(y[F] @ a2)
            uF = a1 - b * a2
        else:
            uF, b = a1, 0.0
    except (np.linalg.LinAlgError, sla.LinAlgError, ZeroDivisionError):
        if data.intercept:
            Mx = np.zeros((F.size + 1, F.size + 1))
            Mx[:-1, :-1] = Q
            Mx[:-1, -1] = y[F]
            Mx[-1, :-1] = y[F]
            rhs = np.append(rhs, target)
        else:
            Mx = Q
        try:
            sol = np.linalg.solve(Mx, rhs)
        except np.linalg.LinAlgError:
            return None
        uF, b = sol[: F.size], (float(sol[-1]) if data.intercept else 0.0)
    if not (np.all(np.isfinite(uF)) and np.isfinite(b)):
        return None
    return uF, float(b)


def _polish_no_free(data: _Data, K, U):
    """No free point, with an intercept: u is fixed by the partition (omega on U,
    0 elsewhere) and b may be anything keeping every margin on its side; take
    the middle of that interval.  None if sum u_i y_i != 0 or it is empty."""
    y, n, lam, om, De = data.y, data.n, data.lam, data.omega, data.Delta
    if abs(float(om[U] @ y[U])) > 1e-12 * max(float(om[U].sum()), _TINY):
        return None
    g = K[:, U] @ (om[U] * y[U]) / (n * lam)
    inU = np.zeros(n, dtype=bool)
    inU[U] = True
    # U: y (g + b) <= Delta;  the rest: y (g + b) >= Delta
    c = y * De - g                                  # the bound each margin puts on b
    upper = np.where(inU == (y > 0), c, np.inf)     # b <= c
    lower = np.where(inU != (y > 0), c, -np.inf)    # b >= c
    lo, hi = float(lower.max()), float(upper.min())
    if lo > hi:
        return None
    b = 0.0 if not (np.isfinite(lo) or np.isfinite(hi)) else (
        lo if not np.isfinite(hi) else hi if not np.isfinite(lo) else 0.5 * (lo + hi))
    u = np.zeros(n)
    u[U] = om[U]
    return u, b


def _label_only(data: _Data) -> bool:
    """Whether omega and Delta depend on the label alone (both labels present)."""
    y = data.y
    return all(np.any(y == s) and np.ptp(data.omega[y == s]) == 0 and np.ptp(data.Delta[y == s]) == 0
               for s in (1.0, -1.0))


def _dual_svc(data: _Data, K):
    """libsvm on the precomputed Gram matrix (intercept, label-only parameters).
    Label-dependent margins are a shifted, rescaled SVM: with
    s = (Delta_+ + Delta_-)/2, w = s w', b = s b' + (Delta_+ - Delta_-)/2 turns
    the objective into s^2 lam [C sum omega_i (1 - y_i f'_i)_+ + |w'|^2/2],
    C = 1/(n lam s); the duals are u = n lam s alpha.  Returns (u, b, iterations)
    or None when libsvm stops at its iteration cap."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import SVC

    y, n, lam = data.y, data.n, data.lam
    dp, dm = float(data.Delta[y > 0][0]), float(data.Delta[y < 0][0])
    s = 0.5 * (dp + dm)
    C = 1.0 / (n * lam * s)
    clf = SVC(kernel="precomputed", C=C, tol=1e-8, max_iter=max(10 ** 6, 200 * n))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            clf.fit(K, y, sample_weight=data.omega)
        except ConvergenceWarning:
            return None
    alpha = np.zeros(n)
    alpha[clf.support_] = np.abs(clf.dual_coef_[0])
    u = np.clip(n * lam * s * alpha, 0.0, data.omega)
    b = s * float(clf.intercept_[0]) + 0.5 * (dp - dm)
    return u, b, int(np.sum(clf.n_iter_))


def _dual_piqp(data: _Data, K, max_iter: int):
    """PIQP (dense interior point) on the dual QP.  Returns (u, b, iterations)."""
    import piqp

    y, n, lam, ic = data.y, data.n, data.lam, data.intercept
    P = np.asfortranarray((y[:, None] * y[None, :]) * K / (n * lam))
    solver = piqp.DenseSolver()
    solver.settings.eps_abs = 1e-10
    solver.settings.eps_rel = 1e-11
    solver.settings.max_iter = max_iter
    A = np.asfortranarray(y[None, :]) if ic else None
    beq = np.zeros(1) if ic else None
    solver.setup(P, -data.Delta.astype(float), A, beq, None, None, None, np.zeros(n), data.omega.astype(float))
    status = solver.solve()
    iters = int(solver.result.info.iter)
    if status != piqp.PIQP_SOLVED:
        raise ConvergenceError(f"fit_erm (hinge): PIQP did not solve the dual QP: {status}", iterations=iters)
    u = np.clip(np.asarray(solver.result.x, dtype=float), 0.0, data.omega)
    b = float(solver.result.y[0]) if ic else 0.0
    return u, b, iters


def _hinge_finish(data: _Data, K, u, b, colmax, name, tol):
    """KKT residual of the backend's answer and of its polished versions (two
    guesses of the partition: from the duals, then, unless the first already
    met ``tol``, from the margins); the best."""
    X, y, n, lam = data.X, data.y, data.n, data.lam

    def w_of(u):
        return X.T @ (u * y) / (n * lam)

    w = w_of(u)
    best = (_hinge_kkt(data, w, b, u, colmax), w, b, name)
    tried = set()
    for guess in (lambda: _partition(u, data.omega, 1e-8), lambda: _margin_partition(data, w, b, 1e-7)):
        if best[0] <= tol and best[3].endswith("+polish"):
            break
        F, U = guess()
        key = (F.tobytes(), U.tobytes())
        if key in tried:
            continue
        tried.add(key)
        pol = _polish_dual(data, K, F, U)
        if pol is None:
            continue
        wp = w_of(pol[0])
        r = _hinge_kkt(data, wp, pol[1], pol[0], colmax)
        if r < best[0]:
            best = (r, wp, pol[1], name + "+polish")
    return best


def _fit_hinge_qp(data: _Data, tol: float, max_iter: int, backend: str = "auto") -> ERMFit:
    """Hinge with lam > 0: libsvm when it applies (intercept, label-only
    parameters) and n >= _SVC_MIN_N (measured 0.1-1.5 s against PIQP's 7-9 s at
    n = 3000, one thread; at n = 1000 PIQP is as fast or faster), else or when
    its polished answer misses ``tol``, PIQP; both polished and verified."""
    colmax = _col_norm_max(data)
    K = data.X @ data.X.T
    res, iters = np.inf, 0
    svc_ok = data.intercept and _label_only(data)
    if backend == "svc" or (backend == "auto" and svc_ok and data.n >= _SVC_MIN_N):
        if not svc_ok:
            raise ValueError("backend: 'svc' needs an intercept and label-only omega and Delta")
        out = _dual_svc(data, K)
        if out is not None:
            iters = out[2]
            res, w, b, name = _hinge_finish(data, K, out[0], out[1], colmax, "svc", tol)
            if res <= tol:
                return _result(data, w, b, res, iters, name)
        if backend == "svc":
            raise ConvergenceError(f"fit_erm (hinge, svc) missed tol = {tol:g}", residual=res, iterations=iters)
    u, b, iters = _dual_piqp(data, K, max_iter)
    res, w, b, name = _hinge_finish(data, K, u, b, colmax, "piqp", tol)
    if res > tol:
        raise ConvergenceError(f"fit_erm (hinge, {name}) missed tol = {tol:g}", residual=res, iterations=iters)
    return _result(data, w, b, res, iters, name)


def _margin_partition(data: _Data, w, b, eps):
    xi = (data.Delta - data.y * (data.X @ w + b)) / data.Delta
    return np.flatnonzero(np.abs(xi) <= eps), np.flatnonzero(xi > eps)


def _fit_hinge_lp(data: _Data, tol: float, max_iter: int) -> ERMFit:
    """Hinge with lam = 0 through the dual LP

        max_u  Delta^T u   s.t.  sum_i u_i y_i z_i = 0,  0 <= u <= omega

    (p = d + 1 equality rows instead of the primal's n rows: 2-6x faster with
    HiGHS' interior point + crossover), theta = (w, b) from the multipliers of
    the equalities.  The sample is strictly separable iff u = 0 is the only
    feasible point (Gordan), i.e. the optimum is 0."""
    from scipy.optimize import linprog

    y, n, d, ic, om = data.y, data.n, data.d, data.intercept, data.omega
    Z = _design(data)
    p = Z.shape[1]
    colmax = _col_norm_max(data)
    yZ = y[:, None] * Z
    res = linprog(-data.Delta, A_eq=yZ.T, b_eq=np.zeros(p), bounds=np.column_stack([np.zeros(n), om]),
                  method="highs-ipm",
                  options={"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10,
                           "ipm_optimality_tolerance": 1e-12, "maxiter": max(max_iter, 10 * p)})
    iters = int(getattr(res, "nit", 0) or 0)
    if res.status != 0:
        raise ConvergenceError(f"fit_erm (hinge, lam = 0): HiGHS failed: {res.message}", iterations=iters)
    u = np.clip(np.asarray(res.x, dtype=float), 0.0, om)
    if np.max(u / om) <= 1e-9:
        _raise_separable(data, weak=False)
    lam_eq = np.asarray(res.eqlin.marginals, dtype=float)

    def split(theta):
        return theta[:d], (float(theta[d]) if ic else 0.0)

    best = (np.inf, None, None, "highs")
    for theta in (-lam_eq, lam_eq):                 # the multipliers' sign convention, checked
        r = _hinge_kkt(data, *split(theta), u, colmax)
        if r < best[0]:
            best = (r, theta, u, "highs")
    # polish: margins exactly Delta on the active set, duals solved on it
    theta = best[1]
    xi = (data.Delta - yZ @ theta) / data.Delta
    act = np.flatnonzero(np.abs(xi) <= 1e-8)
    if act.size:
        th = sla.lstsq(yZ[act], data.Delta[act], check_finite=False)[0]
        xi2 = (data.Delta - yZ @ th) / data.Delta
        up = np.flatnonzero(xi2 > 1e-8)
        act2 = np.flatnonzero(np.abs(xi2) <= 1e-8)
        rhs = -(yZ[up].T @ om[up])
        uA = sla.lstsq(yZ[act2].T, rhs, check_finite=False)[0]
        if np.all(uA >= 0) and np.all(uA <= om[act2]):
            u2 = np.zeros(n)
            u2[up] = om[up]
            u2[act2] = uA
            r = _hinge_kkt(data, *split(th), u2, colmax)
            if r < best[0]:
                best = (r, th, u2, "highs+polish")
    r, theta, u, name = best
    if r > tol:
        raise ConvergenceError(f"fit_erm (hinge, lam = 0, {name}) missed tol = {tol:g}", residual=r,
                               iterations=iters)
    w, b = split(theta)
    return _result(data, w, b, r, iters, name)
