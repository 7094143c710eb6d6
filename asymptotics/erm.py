r"""Sharp asymptotics of ridge-regularised empirical risk minimisation.

For a K-cluster mixture (:class:`~asymptotics.models.ClusterGMM`,
:class:`~asymptotics.models.LabelGMM`, :class:`~asymptotics.models.GroupGMM`),
a margin loss per cluster (:mod:`asymptotics.losses`) and a ridge
:math:`\lambda \ge 0`, the classifier

.. math:: (w, b) = \arg\min \frac1n\sum_i \ell_{k(i)}\big(y_i(w\cdot x_i + b)\big)
          + \frac\lambda2\|w\|^2

(``b`` free and unpenalised, or 0) converges as :math:`n, d \to \infty`,
:math:`d/n = \gamma`, to the solution of the fixed-point system (S1)-(S4) of
``docs/erm.md``: with :math:`q = \|w\|`, :math:`C_k = y_k(\mu_k\cdot w + b)`,
:math:`X_k = C_k + qG` and :math:`P_k = \mathrm{prox}_{V\ell_k}(X_k)`,

.. math::

    \gamma &= \textstyle\sum_k \pi_k E[1 - P_k'] + \lambda V, \qquad
    \gamma\alpha^2 = V^2 \textstyle\sum_k \pi_k E[\ell_k'(P_k)^2],\\
    w_\parallel &= \tfrac{V}{\gamma}\textstyle\sum_k \pi_k y_k E[-\ell_k'(P_k)]\,\mu_k, \qquad
    \textstyle\sum_k \pi_k y_k E[-\ell_k'(P_k)] = 0 \ \text{(intercept)},

with :math:`\alpha` the norm of the part of w orthogonal to the means.  The
test error of cluster k is :math:`Q(C_k/q)`; the training margins of
cluster k are distributed as :math:`P_k`, which gives the training error
:math:`P(P_k < 0)` and loss :math:`E[\ell_k(P_k)]`.  How it is solved is in
:mod:`asymptotics._erm_engine`.

Limits (``docs/erm.md`` §5): the hinge loss with a small ridge is the
max-margin classifier with margins Delta (:func:`~asymptotics.max_margin`);
a VS-loss regularisation path tends, as :math:`\lambda \to 0` above the
separability threshold, to the max-margin classifier with margins 1/Delta,
slowly (the gap closes like 1/log(1/lambda)); see :func:`erm_path`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _erm_engine as _eng
from ._parallel import run_chunks
from ._validation import _short, boolean, check_grid, check_size, finite_array, positive_array, positive_float
from .errors import ConvergenceError, NoMinimizerError
from .losses import SQUARE, ClusterLosses, resolve_loss
from .models import ClusterGMM
from .results import MaxMarginResult, ReadOnlyResult, _messages, error_fields, frozen, frozen_metrics
from .solver import _check_intercept_labels, max_margin, separability_threshold

__all__ = ["ERMResult", "erm", "ERMPath", "erm_path"]

# The range the engine is tested on: beyond it V, q or the moments leave double precision.
GAMMA_RANGE = (1e-8, 1e6)
NO_MINIMISER = 4      # status of a lam = 0 point without a minimiser (NaN, with on_nonseparable="nan")
LAM_RANGE = (1e-14, 1e10)
# ... and of the loss parameters (beyond, A = V omega Delta^2 and the moments leave double precision)
OMEGA_RANGE = (1e-6, 1e6)
DELTA_RANGE = (1e-4, 1e4)
IOTA_MAX = 100.0
# Largest (gamma, lam) grid of one call (about 40 s at 80 us a point).
MAX_ERM_POINTS = 5 * 10 ** 5
# From this ridge on, a hinge intercept that tends to a kink is solved relative to it
# (:meth:`~asymptotics.losses.ClusterLosses.kink_intercept`); below it |b - b0| ~ q is resolved to
# 1e-13 or better anyway.
LAM_KINK = 1e3


@dataclass(frozen=True, eq=False)
class ERMResult(ReadOnlyResult):
    r"""Asymptotics of regularised ERM at each (gamma, lam).

    Array fields have the broadcast shape S of ``gamma`` and ``lam`` (0-d
    arrays for scalar input), with a trailing axis where noted.  The model's
    own metrics (``R_plus``, ``R_minus``, ``R_bal``, ``R`` for a label model;
    ``R_yg``, ``DEO``, ``worst``, ... for a group model: the same code as
    :func:`~asymptotics.cs_svm` / :func:`~asymptotics.gs_svm`) are in
    ``metrics`` and readable as attributes; ``train_metrics`` are the same
    metrics of the training errors.

    Attributes
    ----------
    q : :math:`\lim\|w\|`.
    b : limit of the intercept (0 without one).
    rho : ndarray (S + (r,))
        Coordinates of the projection of :math:`w/\tau` on the mean
        subspace, basis ``model.factor`` (``model.factor @ rho ==
        projections``).
    projections : ndarray (S + (K,))
        :math:`\mu_k\cdot w/\tau`.
    alpha : norm of the part of w orthogonal to the means.
    V : the prox parameter (isotropic: :math:`V = \gamma/(\lambda + \hat V)`;
        with a covariance :math:`V = \gamma\,\mathrm{tr}(\Sigma R)/d`).
    tau : the within-cluster spread of the scores,
        :math:`\sqrt{w^T\Sigma w}` (= q for isotropic features); errors,
        ``projections`` and ``beta`` are in its units.
    ridge : :math:`\hat V/\lambda` for a covariance model, where the
        resolvent is :math:`R = \lambda^{-1}(I + (\hat V/\lambda)\Sigma)^{-1}`
        (the ``ridge`` of the max-margin covariance solver is its hinge
        limit; inf at lam = 0); NaN for isotropic features, as for
        max-margin results.
    errors : ndarray (S + (K,))
        Test error of each cluster, :math:`Q(y_k(\mu_k\cdot w + b)/\tau)`.
    train_error, train_loss : ndarray (S + (K,))
        Fraction of training points of cluster k misclassified, and their
        mean loss (the law of the training margins is that of :math:`P_k`).
    residual : max-norm of the scaled (S1)-(S4) vector (see the engine).
    iterations : Newton iterations spent.
    exists : ndarray of bool (S)
        False only where ``on_nonseparable="nan"`` filled a lam = 0 point
        without a minimiser with NaN.
    log_errors : ndarray (S + (K,))
        Logarithms of ``errors``, accurate where they underflow.
    status : ndarray of int (S)
        Per-point status: 0 converged, 3 the minimiser is w = 0 (hinge at a
        large ridge; q = 0 and the constant classifier sign(b)), 4 no
        minimiser (NaN); ``messages`` gives the text.
    """

    model: ClusterGMM
    gamma: np.ndarray
    lam: np.ndarray
    loss: ClusterLosses
    intercept: bool
    q: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    projections: np.ndarray
    alpha: np.ndarray
    V: np.ndarray
    errors: np.ndarray
    train_error: np.ndarray
    train_loss: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    exists: np.ndarray = field(repr=False)
    metrics: dict = field(repr=False, default_factory=dict)
    log_errors: np.ndarray = field(repr=False, default=None)
    status: np.ndarray = field(repr=False, default=None)
    tau: np.ndarray = field(repr=False, default=None)
    ridge: np.ndarray = field(repr=False, default=None)

    def __post_init__(self):
        object.__setattr__(self, "metrics", frozen_metrics(self.metrics))    # 0-d metrics as NumPy scalars
        super().__post_init__()      # the result contract (asymptotics.results): read-only, picklable

    @property
    def messages(self):
        """The text of ``status`` (see :data:`asymptotics.results.STATUS_MESSAGES`)."""
        return _messages(self.status)

    def __getattr__(self, name):
        metrics = self.__dict__.get("metrics", {})
        if name in metrics:
            return metrics[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {_short(name)}")

    @property
    def beta(self):
        """b / tau, the intercept in units of the score spread."""
        return self.b / self.tau

    @property
    def train_metrics(self) -> dict:
        """The model's metrics of the per-cluster training errors."""
        return self.model.metrics(self.train_error)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.metrics.items() if np.ndim(v) == np.ndim(self.q)}
        parts = [f"loss={self.loss.name!r}", f"intercept={self.intercept}"]
        for name in ("gamma", "lam", "q", "b"):
            parts.append(f"{name}={_fmt(getattr(self, name))}")
        parts += [f"{k}={_fmt(v)}" for k, v in shown.items()]
        parts.append(f"residual={_fmt(self.residual)}")
        return f"ERMResult({', '.join(parts)})"


def _fmt(a) -> str:
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return f"array(shape={a.shape})"


def _covariance_args(model: ClusterGMM):
    """(U, sigma, atoms, weights) for the engine: the means' eigen-coordinates
    written as M = A U^T with A = ``model.factor`` (so U is an orthonormal
    basis of the mean subspace and theta = U^T w), Sigma's eigenvalue along
    each of those directions, and its spectral atoms and weights."""
    cov = model._cov
    A = model._kernel_args[0]
    if A.shape[1] == 0:
        U = np.zeros((cov.means.shape[1], 0))
    else:
        U = np.linalg.lstsq(A, cov.means, rcond=None)[0].T
    return tuple(np.array(a, dtype=np.float64, order="C") for a in (U, cov.mean_eigs, cov.atoms, cov.weights))


def _existence(model: ClusterGMM, loss: ClusterLosses, intercept: bool, gamma: float):
    """None if the lam = 0 minimiser exists at gamma, else the error to raise."""
    if np.all(loss.kind == SQUARE):
        if gamma < 1.0:
            return None
        return NoMinimizerError(
            gamma, 1.0, f"lam = 0: the square-loss minimiser needs gamma < 1 (fewer features than samples); "
            f"at gamma = {gamma:.6g} least squares interpolates and its minimiser is not unique (use lam > 0)")
    gs = separability_threshold(model, intercept)   # a covariance model: its Mahalanobis gamma*, cached
    if gamma < gs and (gamma < 1.0 or not np.any(loss.kind == SQUARE)):
        return None
    kind = "with" if intercept else "without"
    return NoMinimizerError(
        gamma, gs, f"lam = 0: the training loss has no minimiser at gamma = {gamma:.6g} >= gamma_star = {gs:.6g}: "
        f"the data are linearly separable {kind} an intercept, so scaling w up drives the loss to its infimum "
        "(use lam > 0, or max_margin/cs_svm for the lam -> 0 limit)")


def erm(model: ClusterGMM, gamma, loss, lam, intercept: bool = True, on_nonseparable: str = "raise",
        delta=None) -> ERMResult:
    r"""Sharp asymptotics of ridge-regularised ERM on a K-cluster mixture.

    Parameters
    ----------
    model : ClusterGMM, LabelGMM or GroupGMM
        Isotropic features or any covariance (a matrix or a
        :class:`~asymptotics.covariance.Spectrum`): the system (C1)-(C4) of
        ``docs/covariance.md``, which for Sigma = I is (S1)-(S4).
    gamma : float or array_like
        :math:`\gamma = d/n > 0`.
    loss : Loss, list of K Losses, str or (str, delta)
        A :class:`~asymptotics.losses.VSLoss`, :class:`~asymptotics.losses.HingeLoss`
        or :class:`~asymptotics.losses.SquareLoss` (parameters shared or one
        per cluster), one scalar loss per cluster, a preset name
        (``"CE"``, ``"wCE"``, ``"LA"``, ``"LA-log"``, ``"LDAM"``, ``"CDT"``,
        ``"VS"``, ``"VS-w"``: per class, read from the model's class prior;
        ``"hinge"``, ``"square"``), or ``(name, delta)`` with a margin ratio
        (:func:`~asymptotics.losses.resolve_loss`: CDT, VS, VS-w; the hinge
        with the CS-SVM / GS-SVM margins, as ``--loss hinge --delta``).
    lam : float or array_like
        Ridge :math:`\lambda \ge 0`; broadcasts with ``gamma``.  ``lam = 0``
        needs a minimiser: :math:`\gamma < \gamma_\star` (square loss:
        :math:`\gamma < 1`).  Supported: 0 or 1e-14 ... 1e10 (``gamma``:
        1e-8 ... 1e6).
    intercept : bool
        Free unpenalised intercept (True) or b = 0.
    on_nonseparable : {"raise", "nan"}
        At lam = 0 points without a minimiser: raise
        :class:`~asymptotics.NoMinimizerError` (default) or fill NaN with
        ``exists`` False.
    delta : float, optional
        Margin ratio for a name that takes one (same as ``loss=(name, delta)``;
        giving both, or a delta with another loss, is a ValueError naming ``delta``).

    Returns
    -------
    ERMResult

    Raises
    ------
    ValueError
        Bad input, naming the argument.
    NoMinimizerError
        lam = 0 where the minimiser does not exist (a ValueError).
    ConvergenceError
        The solver missed its tolerance.

    Examples
    --------
    >>> import asymptotics as asy
    >>> m = asy.LabelGMM.antipodal(prior=0.1, norm=2.0)
    >>> r = asy.erm(m, gamma=2.0, loss="CE", lam=1e-3)
    >>> round(float(r.R_bal), 4)
    0.3897
    """
    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM, LabelGMM or GroupGMM, got {type(model).__name__}")
    intercept = boolean(intercept, "intercept")
    if on_nonseparable not in ("raise", "nan"):
        raise ValueError(f"on_nonseparable must be 'raise' or 'nan', got {_short(on_nonseparable)}")
    _check_intercept_labels(model, intercept)
    losses = resolve_loss(loss, model, delta)
    for name, values, (lo, hi) in (("omega", losses.omega, OMEGA_RANGE), ("Delta", losses.Delta, DELTA_RANGE),
                                   ("iota", np.abs(losses.iota), (0.0, IOTA_MAX))):
        if np.any(values < lo) or np.any(values > hi):
            raise ValueError(f"loss: {name} must lie in [{lo:g}, {hi:g}] for erm (the range solved to full accuracy), "
                             f"got {values.tolist()}")
    gamma = positive_array(gamma, "gamma")
    check_size(lam, "lam")
    lam = finite_array(lam, "lam")
    if lam.size == 0:
        raise ValueError("lam must not be empty")
    if np.any(lam < 0):
        raise ValueError(f"lam must be >= 0, got {_short(lam.tolist() if lam.ndim else float(lam))}")
    if np.any((lam != 0) & ((lam < LAM_RANGE[0]) | (lam > LAM_RANGE[1]))):
        raise ValueError(f"lam must be 0 or in [{LAM_RANGE[0]:g}, {LAM_RANGE[1]:g}] (the range solved to full "
                         "accuracy); for the lam -> 0 limit above gamma* use max_margin/cs_svm/gs_svm")
    if np.any((gamma < GAMMA_RANGE[0]) | (gamma > GAMMA_RANGE[1])):
        raise ValueError(f"gamma must lie in [{GAMMA_RANGE[0]:g}, {GAMMA_RANGE[1]:g}] for erm (the range solved "
                         "to full accuracy)")
    try:
        shape = np.broadcast_shapes(gamma.shape, lam.shape)
    except ValueError:
        raise ValueError(f"gamma and lam must broadcast together, got shapes {gamma.shape} and {lam.shape}") from None
    check_grid(shape, "gamma and lam", MAX_ERM_POINTS)
    g_flat = np.ascontiguousarray(np.broadcast_to(gamma, shape), dtype=float).reshape(-1)
    l_flat = np.ascontiguousarray(np.broadcast_to(lam, shape), dtype=float).reshape(-1)

    exists = np.ones(g_flat.size, dtype=bool)
    for i in np.flatnonzero(l_flat == 0.0):
        err = _existence(model, losses, intercept, float(g_flat[i]))
        if err is not None:
            if on_nonseparable == "raise":
                raise err
            exists[i] = False

    A, pri, lab = model._kernel_args
    # writable copies: one compiled variant of each kernel (read-only arrays type differently)
    arrays = tuple(np.array(a) for a in (losses.kind, losses.omega, losses.iota, losses.Delta))
    cov = None if model._cov is None else _covariance_args(model)
    K, r = A.shape
    n = r + 2 + (1 if intercept else 0)
    P = g_flat.size
    Z = np.full((P, n), np.nan)
    iters = np.zeros(P, dtype=np.int64)
    res = np.full(P, np.nan)
    status = np.full(P, _eng.OK, dtype=np.int64)
    big = exists & (l_flat >= LAM_KINK)
    b0 = losses.kink_intercept(model.priors, model.labels) if intercept and big.any() else None
    if b0 is None:
        big[:] = False
    shifted = losses.shifted(model.labels, b0) if big.any() else None
    for idx, engine_losses in ((np.flatnonzero(exists & ~big), arrays), (np.flatnonzero(big), shifted)):
        if not idx.size:
            continue
        kind, om, io, De = engine_losses
        Zs = np.empty((idx.size, n))
        it_s = np.empty(idx.size, dtype=np.int64)
        res_s = np.empty(idx.size)
        st_s = np.empty(idx.size, dtype=np.int64)
        g_sub, l_sub = np.ascontiguousarray(g_flat[idx]), np.ascontiguousarray(l_flat[idx])

        def solve(a, b):
            _eng.solve_sweep(A, pri, lab, kind, om, io, De, g_sub[a:b], l_sub[a:b], intercept, Zs[a:b],
                             it_s[a:b], res_s[a:b], st_s[a:b], cov)

        run_chunks(idx.size, solve)
        Z[idx], iters[idx], res[idx], status[idx] = Zs, it_s, res_s, st_s
    bad = (status != _eng.OK) & (status != _eng.TRIVIAL)
    if bad.any():
        i = int(np.argmax(bad))
        raise ConvergenceError(f"ERM solve failed at gamma = {g_flat[i]:.6g}, lam = {l_flat[i]:.6g} "
                               f"(loss {losses.name})", residual=res[i], iterations=iters[i])

    q = np.full(P, np.nan)
    tau = np.full(P, np.nan)
    vhat = np.full(P, np.nan)
    C = np.full((P, K), np.nan)
    terr = np.full((P, K), np.nan)
    tloss = np.full((P, K), np.nan)
    if big.any():
        # the shifted points' outputs in their own intercept (|w| from the moments with a covariance,
        # the training losses: the kink's slack exactly); then b = b0 + b' for the margins C_k and the
        # training errors, which compare the margins with 0
        ib = np.flatnonzero(big)
        Zb = np.ascontiguousarray(Z[ib])
        qb, taub, vhb = (np.full(ib.size, np.nan) for _ in range(3))
        tlb = np.full((ib.size, K), np.nan)
        _eng.sweep_outputs(A, pri, lab, *shifted, np.ascontiguousarray(g_flat[ib]), np.ascontiguousarray(l_flat[ib]),
                           intercept, Zb, qb, np.full((ib.size, K), np.nan), np.full((ib.size, K), np.nan), tlb,
                           taub, vhb, cov)
        Z[ib, r + 1] += b0
    _eng.sweep_outputs(A, pri, lab, *arrays, g_flat, l_flat, intercept, Z, q, C, terr, tloss, tau, vhat, cov)
    if big.any():
        q[ib], tau[ib], vhat[ib], tloss[ib] = qb, taub, vhb, tlb
    theta = Z[:, :r]
    if cov is None:
        alpha = np.exp(Z[:, r])
        ridge = np.full(P, np.nan)
    else:
        alpha = np.sqrt(np.clip(q ** 2 - np.sum(theta ** 2, axis=1), 0.0, None))
        with np.errstate(divide="ignore", invalid="ignore"):
            ridge = np.where(l_flat > 0, vhat / l_flat, np.inf)
        ridge = np.where(np.isfinite(vhat), ridge, np.nan)
    b = Z[:, r + 1] if intercept else np.where(exists, 0.0, np.nan)
    V = np.exp(Z[:, n - 1])
    trivial = status == _eng.TRIVIAL
    status = np.where(exists, status, NO_MINIMISER)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(trivial[:, None], 0.0, theta / tau[:, None])
        proj = rho @ A.T
        errors, log_errors = error_fields(model.labels, proj, np.where(trivial, 0.0, b / tau))
    # w = 0: the constant classifier sign(b) (a coin flip where b = 0)
    const = np.where(C > 0, 0.0, np.where(C < 0, 1.0, 0.5))
    errors = np.where(trivial[:, None], const, errors)
    with np.errstate(divide="ignore"):
        log_errors = np.where(trivial[:, None], np.log(const), log_errors)

    def shaped(a, tail=()):
        return frozen(a, shape, tail)

    errors_s = shaped(errors, (K,))
    return ERMResult(
        model=model, gamma=shaped(g_flat), lam=shaped(l_flat), loss=losses, intercept=intercept,
        q=shaped(q), b=shaped(b), rho=shaped(rho, (r,)), projections=shaped(proj, (K,)), alpha=shaped(alpha),
        V=shaped(V), errors=errors_s, train_error=shaped(terr, (K,)), train_loss=shaped(tloss, (K,)),
        residual=shaped(res), iterations=shaped(iters), exists=shaped(exists),
        metrics=frozen_metrics(model.metrics(errors_s)), log_errors=shaped(log_errors, (K,)),
        status=shaped(status), tau=shaped(tau), ridge=shaped(ridge))


@dataclass(frozen=True, eq=False)
class ERMPath(ReadOnlyResult):
    r"""A regularisation path and its :math:`\lambda \to 0` limit.

    Attributes
    ----------
    erm : ERMResult
        The solutions along ``lam`` (shape ``(L,)``).
    limit : MaxMarginResult or None
        The max-margin classifier the path tends to (margins
        ``loss.implied_margins``: 1/Delta for VS losses, Delta for the
        hinge) when gamma is above the separability threshold; None below
        it, where the path ends at the lam = 0 minimiser.
    gap : ndarray (L,)
        Max-norm distance of the normalised statistics
        :math:`(\mu_k\cdot w/\tau,\ b/\tau)` (score units) to those of the limit.
    angle : ndarray (L,)
        :math:`\arccos\big(\rho\cdot\rho_\infty + \sqrt{(1 - |\rho|^2)(1 - |\rho_\infty|^2)}\big)`:
        the angle between :math:`w_\lambda` and the limit direction when
        their components orthogonal to the means are aligned, hence a lower
        bound on the angle between them; 0 iff the projections agree.
        Isotropic features only (NaN for a covariance model, where the
        mean-subspace coordinates are not cosines).
    """

    erm: ERMResult
    limit: MaxMarginResult | None
    gap: np.ndarray
    angle: np.ndarray


def erm_path(model: ClusterGMM, gamma: float, loss, lam=None, intercept: bool = True, delta=None) -> ERMPath:
    r"""The regularisation path of a loss at one gamma and, above the
    separability threshold, the max-margin limit it converges to.

    Parameters
    ----------
    model, loss, intercept, delta : as for :func:`erm`.
    gamma : float
    lam : array_like, optional
        Ridge values (default ``logspace(1, -8, 37)``); all > 0.

    Returns
    -------
    ERMPath
    """
    gamma = positive_float(gamma, "gamma")
    lam = np.logspace(1, -8, 37) if lam is None else finite_array(lam, "lam", ndim=1)
    if lam.size == 0 or np.any(lam <= 0):
        raise ValueError("lam must be a non-empty vector of values > 0")
    path = erm(model, gamma, loss, lam, intercept, delta=delta)
    losses = path.loss
    limit = None
    if gamma > separability_threshold(model, path.intercept) and not np.any(losses.kind == SQUARE):
        limit = max_margin(model, gamma, losses.implied_margins, path.intercept)
    if limit is None:
        nan = np.full(lam.size, np.nan)
        return ERMPath(path, None, nan, nan)
    gap = np.maximum(np.max(np.abs(path.projections - limit.projections), axis=-1),
                     np.abs(path.beta - float(limit.beta)))
    if model._cov is not None:
        return ERMPath(path, limit, gap, np.full(lam.size, np.nan))
    rr = np.sum(path.rho * limit.rho, axis=-1)
    orth = np.sqrt(np.clip(1 - np.sum(path.rho ** 2, axis=-1), 0, None) * max(0.0, 1 - float(limit.rho @ limit.rho)))
    angle = np.arccos(np.clip(rr + orth, -1.0, 1.0))
    return ERMPath(path, limit, gap, angle)
