r"""VS-loss training by (normalised) gradient descent.

The binary VS-loss (paper eq. 1) and its group version (eq. 3):

.. math:: \ell(y, f) = \omega\,\log\big(1 + e^{\iota}\,e^{-\Delta\,y f}\big),

with :math:`(\omega, \iota, \Delta)` set per class (label models) or per
subgroup / cluster (group and K-cluster models), and
:math:`L(w) = \frac1n\sum_i \ell(y_i, w\cdot x_i)`.  On separable data, in the
terminal phase of training, the direction of ``w`` converges to the
max-margin classifier with margins :math:`\propto 1/\Delta` (paper
Theorem 1): the CS-SVM with :math:`\delta = \Delta_-/\Delta_+`; the additive
:math:`\iota` and the weights :math:`\omega` drop out.

Two methods: ``"gd"`` (constant step ``lr``) and ``"normalized"`` (step
``lr / ||grad L||``, which grows as the gradient vanishes; the update has
constant length ``lr``).  In the terminal phase the gradient underflows long
before the direction has converged, so the normalised direction is computed
in the log domain: :math:`\nabla L \propto \sum_i c_i \exp(\log\sigma(z_i) - M)`
with :math:`M = \max_i \log\sigma(z_i)`.

The intercept option trains ``f = w.x + b`` with ``b`` an ordinary parameter;
gradient descent then converges to the max-margin direction of ``(w, b)``
jointly, which penalises ``b`` -- *not* the free-intercept SVM.  The paper's
Fig. 2 experiments train without an intercept (the default).

Bounds.  A run takes at most ``max_iter <= MAX_ITER_CAP = 10^6`` steps, and
its work ``max_iter x (B n min(n, m) + 9 10^4)`` must be at most
:data:`GD_WORK_BUDGET` ``= 10^11`` (B problems at once, ``m = d``, plus one
with an intercept: a step costs ``n min(n, m)`` per problem in the primal or
the Gram form, plus a fixed cost of about ``9 10^4`` such units, ~40 us);
both are checked, with a one-line ValueError naming ``max_iter``, before
any work.  A unit costs about 0.3-0.4 ns on one core (measured, 2-core
machine: 1e6 steps at n = 30, d = 2 in 37 s; n = 400, d = 249 at 80 us a
step; n = 800, d = 1600 at 220 us a step), so a call within the bounds
ends within about 40 s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import log_expit

from .._validation import _short, boolean
from ..errors import ConvergenceError
from ..losses import PRESETS, VSLoss, cluster_losses, vs_preset
from ..models import ClusterGMM
from .sampling import ReadOnlyResult, classifier_errors, cluster_array, embedded_means, real_array
from .svm import _check_xy

__all__ = ["VSLoss", "vs_preset", "PRESETS", "TrainResult", "train_vs", "train_vs_batch", "check_gd_options",
           "check_gd_work", "MAX_ITER_CAP", "GD_WORK_BUDGET"]


@dataclass(frozen=True, eq=False)
class TrainResult(ReadOnlyResult):
    """Outcome of :func:`train_vs`.

    ``history`` holds arrays over the recorded iterations: ``iteration``,
    ``loss``, ``grad_norm``, ``train_error`` and, when asked for,
    ``test_error`` (balanced over the labels, exact from the model's means)
    and ``angle`` (radians, between w and ``w_ref``).  ``w`` and the history
    are read-only (a read-only mapping of read-only arrays).
    """

    w: np.ndarray
    b: float
    iterations: int
    loss: float
    grad_norm: float
    converged: bool
    history: dict = field(repr=False)


MAX_ITER_CAP = 10 ** 6
"""Most gradient-descent steps one run may take (module docstring, "Bounds")."""
GD_WORK_BUDGET = 10 ** 11
"""Largest ``max_iter x (B n min(n, m) + 9e4)`` a gradient-descent call accepts."""
_STEP_OVERHEAD = 90_000       # the fixed cost of a step (~40 us), in units of n min(n, m)


def _positive_int(value, name: str, cap: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {_short(value)}")
    if cap is not None and value > cap:
        raise ValueError(f"{name} must be at most {cap:g}, got {_short(value)}")
    return int(value)


def _number(value, name: str) -> float:
    if isinstance(value, (str, bytes, bool, np.bool_)) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a number, got {_short(value)}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {_short(value)}") from None


def check_gd_options(method="normalized", lr=0.1, max_iter=10_000, gtol=1e-8, n_records=200) -> tuple:
    """Validated ``(method, lr, max_iter, gtol, n_records)`` of :func:`train_vs`
    (one-line ValueErrors naming the argument)."""
    if not isinstance(method, str) or method not in ("normalized", "gd"):
        raise ValueError(f"method must be 'normalized' or 'gd', got {_short(method)}")
    lr = _number(lr, "lr")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {_short(lr)}")
    max_iter = _positive_int(max_iter, "max_iter", MAX_ITER_CAP)
    gtol = _number(gtol, "gtol")
    if not (np.isfinite(gtol) and gtol >= 0):
        raise ValueError(f"gtol must be a finite number >= 0, got {_short(gtol)}")
    n_records = _positive_int(n_records, "n_records", 10 ** 6)
    return method, lr, max_iter, gtol, n_records


def check_gd_work(max_iter: int, B: int, n: int, m: int, name: str = "max_iter") -> None:
    """ValueError naming ``name`` when ``max_iter`` steps on ``B`` problems of
    ``n`` samples in ``m`` coordinates exceed :data:`GD_WORK_BUDGET` (module
    docstring, "Bounds")."""
    work = float(max_iter) * (float(B) * n * min(n, m) + _STEP_OVERHEAD)
    if work > GD_WORK_BUDGET:
        most = int(GD_WORK_BUDGET // (float(B) * n * min(n, m) + _STEP_OVERHEAD))
        raise ValueError(f"{name}: {max_iter} steps on {B} problem(s) of n = {n} samples in {m} coordinates "
                         f"need {work:.3g} units of work (max_iter x (B n min(n, d) + 9e4)), above the budget of "
                         f"{GD_WORK_BUDGET:.0e} (about 40 s; asymptotics.simulate.vsloss.GD_WORK_BUDGET): lower "
                         f"max_iter to at most {most}")


def _cluster_indices(clusters, y, size: int) -> np.ndarray:
    """Each sample's loss entry: the class for a one- or two-entry loss without
    ``clusters``, else ``clusters`` (integers, or integer-valued floats)."""
    n = y.size
    if clusters is None:
        if size > 2:
            raise ValueError(f"clusters: needed unless the loss has one or two (class) entries (it has {size})")
        return np.where(y > 0, 0, 1) if size == 2 else np.zeros(n, dtype=np.int64)
    c = cluster_array(clusters, n)
    if c.min() < 0 or c.max() >= size:
        raise ValueError(f"clusters must be indices into the loss's {size} entries (0..{size - 1}), "
                         f"got values in {int(c.min())}..{int(c.max())}")
    return c


def _record_points(max_iter: int, n_points: int) -> set:
    pts = np.unique(np.geomspace(1, max_iter, n_points).astype(int))
    return set(int(p) for p in pts) | {0}


def _recorder(B, d, intercept, model, w_ref):
    """Histories of B runs and the callback that fills them: iteration, loss,
    gradient norm, training error and, when asked for, the exact balanced
    test error (from the model's means) and the angle to ``w_ref``."""
    hists = [{key: [] for key in ("iteration", "loss", "grad_norm", "train_error", "test_error", "angle")}
             for _ in range(B)]

    def record(it, theta, margins, value, gnorm, live):
        for j in np.flatnonzero(live):
            hist, w = hists[j], theta[j, :d]
            hist["iteration"].append(it)
            hist["loss"].append(float(value[j]))
            hist["grad_norm"].append(float(gnorm[j]))
            hist["train_error"].append(float(np.mean(margins[j] <= 0)))
            if model is not None and np.any(w):
                err = classifier_errors(model, w, theta[j, d] if intercept else 0.0)
                labels = model.labels
                hist["test_error"].append(0.5 * (np.average(err[labels > 0], weights=model.priors[labels > 0])
                                                 + np.average(err[labels < 0], weights=model.priors[labels < 0])))
            elif model is not None:
                hist["test_error"].append(0.5)
            if w_ref is not None:
                nw = np.linalg.norm(w)
                cos = float(w @ w_ref / nw) if nw > 0 else 0.0
                hist["angle"].append(float(np.arccos(np.clip(cos, -1.0, 1.0))))

    return hists, record


def _gd(yZ, omega, iota, Delta, method, lr, max_iter, gtol, recs=frozenset(), record=None, dual=None):
    r"""Gradient descent on B VS-loss problems at once (arrays stacked on a
    first axis: ``yZ`` (B, n, m) holds :math:`y_i z_i`, the loss parameters
    (B, n)).  Each problem stops on its own at ||grad L|| < gtol (0: never);
    ``record(it, theta, margins, value, gnorm, live)`` is called at the
    iterations in ``recs`` and at each stop, ``live`` marking the runs still
    going or stopping now.  The normalised direction is computed in
    the log domain (module docstring), so it stays defined after the gradient
    underflows.

    Every iterate from w = 0 lies in the row space of ``yZ``:
    :math:`\theta = yZ^T\alpha`.  With more features than samples (m > n)
    the iteration runs on :math:`\alpha` with the Gram matrix
    :math:`K = yZ\,yZ^T` (margins :math:`K\alpha`, squared gradient norm
    :math:`c^TKc`): the same iterates, at a cost per step of n^2 instead of
    n m (``dual`` forces either form).  Returns (theta (B, m), iterations
    (B,), converged (B,), loss (B,), grad norm (B,))."""
    B, n, m = yZ.shape
    dual = m > n if dual is None else dual
    with np.errstate(over="ignore", invalid="ignore"):    # huge X: the first step reports it (ConvergenceError)
        G = np.matmul(yZ, np.swapaxes(yZ, 1, 2)) if dual else None      # (B, n, n)
    coef = omega * Delta / n                      # d loss / d z_i = coef_i * sigma(z_i)
    coords = np.zeros((B, n if dual else m))      # alpha (dual) or theta
    iters = np.zeros(B, dtype=np.int64)
    converged = np.zeros(B, dtype=bool)
    active = np.ones(B, dtype=bool)
    value = gnorm = np.zeros(B)

    def theta_of(coords):
        return np.matmul(coords[:, None, :], yZ)[:, 0, :] if dual else coords

    for it in range(max_iter + 1):
        with np.errstate(over="ignore", invalid="ignore"):
            margins = np.matmul(G if dual else yZ, coords[:, :, None])[:, :, 0]
            z = iota - Delta * margins
            log_sig = log_expit(z)
            M = log_sig.max(axis=1, keepdims=True)
            c = coef * np.exp(log_sig - M)                          # grad L = -exp(M) yZ^T c
            if dual:
                step_dir = c                                        # in alpha: -grad/exp(M) = +c
                dnorm = np.sqrt(np.maximum(np.einsum("bi,bi->b", c, np.matmul(G, c[:, :, None])[:, :, 0]), 0.0))
            else:
                step_dir = np.matmul(c[:, None, :], yZ)[:, 0, :]
                dnorm = np.sqrt(np.einsum("bm,bm->b", step_dir, step_dir))
            g_now = np.exp(M[:, 0]) * dnorm
        gnorm = np.where(active, g_now, gnorm)
        stop = active & ((g_now < gtol) | (dnorm == 0))
        recording = record is not None and (it in recs or stop.any() or it >= max_iter)
        # the loss value is only reported (records, stops, the last step): evaluating it at
        # every step would cost a third of the transcendentals of a step
        v_now = None
        if recording or stop.any() or it >= max_iter:
            with np.errstate(over="ignore", invalid="ignore"):
                v_now = np.sum(omega * np.logaddexp(0.0, z), axis=1) / n
            value = np.where(active, v_now, value)
        finite = np.isfinite(g_now) & np.all(np.isfinite(step_dir), axis=1) & np.all(np.isfinite(z), axis=1)
        if v_now is not None:
            finite &= np.isfinite(v_now)
        bad = active & ~finite
        if bad.any():
            if it == 0:
                raise ConvergenceError("train_vs: the loss or its gradient at w = 0 is not finite (X too large "
                                       "to train on: rescale it)", iterations=0)
            raise ConvergenceError(f"train_vs: gradient descent diverged at iteration {it} (non-finite loss or "
                                   f"gradient); lower lr (= {lr:g})", iterations=it)
        if recording:
            record(it, theta_of(coords), margins, value, gnorm, active)
        converged |= stop
        active &= ~stop
        if it >= max_iter or not active.any():
            break
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            scale = lr / dnorm if method == "normalized" else lr * (g_now / dnorm)
            coords = np.where(active[:, None], coords + scale[:, None] * step_dir, coords)
        if not np.all(np.isfinite(coords)):
            raise ConvergenceError(f"train_vs: gradient descent diverged at iteration {it + 1} (non-finite "
                                   f"weights); lower lr (= {lr:g})", iterations=it + 1)
        iters += active
    return theta_of(coords), iters, converged, value, gnorm


def train_vs(X, y, loss: VSLoss, clusters=None, method: str = "normalized", lr: float = 0.1,
             max_iter: int = 10_000, gtol: float = 1e-8, intercept: bool = False,
             model: ClusterGMM | None = None, w_ref=None, n_records: int = 200) -> TrainResult:
    r"""Full-batch gradient descent on the VS-loss from w = 0.

    Parameters
    ----------
    X : array (n, d); y : array (n,) of +1/-1
    loss : VSLoss
        One entry per cluster; ``clusters`` gives each sample's cluster. For
        a two-entry (label) loss and ``clusters=None``, the cluster is the
        class (0 for y = +1, 1 for y = -1).
    method : {"normalized", "gd"}
    lr : float
        Step (``"gd"``) or step length (``"normalized"``).
    max_iter : int
        Step cap, a positive integer, at most :data:`MAX_ITER_CAP` (1e6) and
        with ``max_iter x (n min(n, d) + 9e4)`` at most :data:`GD_WORK_BUDGET`
        (1e11), checked before any work (module docstring, "Bounds").
    gtol : float
        Stop when ||grad L|| < gtol (0 runs to the cap).
    model : ClusterGMM, optional
        To record the exact balanced test error along the way.
    w_ref : array (d,), optional
        To record the angle between w and it (e.g. the CS-SVM solution).
    n_records : int
        Log-spaced iterations at which the history is recorded.

    Raises
    ------
    ValueError
        A malformed argument (named), e.g. ``lr`` not finite and positive.
    ConvergenceError
        The iterates stopped being finite (``lr`` far too large for ``"gd"``).
        Not reaching ``gtol`` within ``max_iter`` is not an error:
        ``converged`` is then False.
    """
    X, y = _check_xy(X, y)
    n, d = X.shape
    if not isinstance(loss, VSLoss):
        raise ValueError(f"loss must be a VSLoss, got {type(loss).__name__}")
    k = _cluster_indices(clusters, y, loss.size)
    method, lr, max_iter, gtol, n_records = check_gd_options(method, lr, max_iter, gtol, n_records)
    intercept = boolean(intercept, "intercept")
    check_gd_work(max_iter, 1, n, d + int(intercept))
    if model is not None and not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM (LabelGMM, GroupGMM) or None, got {type(model).__name__}")
    if model is not None:
        embedded_means(model, d)        # the model must fit in d coordinates (ValueError naming d)
    per = cluster_losses(loss, max(loss.size, 2))
    omega, iota, Delta = per.omega[k], per.iota[k], per.Delta[k]
    Z = X if not intercept else np.hstack([X, np.ones((n, 1))])
    yZ = y[:, None] * Z
    if w_ref is not None:
        w_ref = real_array(w_ref, "w_ref", ndim=1)
        if w_ref.size != d:
            raise ValueError(f"w_ref must have one entry per feature ({d}), got {w_ref.size}")
        if not np.any(w_ref):
            raise ValueError("w_ref must not be zero (the angle to it is undefined)")
        w_ref = w_ref / np.linalg.norm(w_ref)
    recs = _record_points(max_iter, n_records)
    hists, record = _recorder(1, d, intercept, model, w_ref)

    theta, iters, converged, value, gnorm = _gd(yZ[None], omega[None], iota[None], Delta[None], method, lr,
                                                max_iter, gtol, recs, record)
    theta, it, converged, value, gnorm = theta[0], int(iters[0]), bool(converged[0]), float(value[0]), gnorm[0]
    history = {key: np.asarray(v) for key, v in hists[0].items() if v}
    return TrainResult(w=theta[:d].copy(), b=float(theta[d]) if intercept else 0.0, iterations=it,
                       loss=value, grad_norm=float(gnorm), converged=converged, history=history)


def train_vs_batch(X, y, losses, method: str = "normalized", lr: float = 0.1, max_iter: int = 10_000,
                   gtol: float = 1e-8, model: ClusterGMM | None = None, w_ref=None, n_records: int = 0):
    r"""Gradient descent (no intercept) on many training sets and losses at
    once: the same iterations as :func:`train_vs`, stacked on a first axis
    so that a figure's trials cost a few large array operations per step
    instead of many small ones.

    Parameters
    ----------
    X : array (B, n, d)
        B training sets of the same size.
    y : array (B, n) of +1/-1
    losses : sequence of B VSLoss
        Per-class losses (entry 0 for y = +1, 1 for y = -1, or one shared entry).
    method, lr, max_iter, gtol : as for :func:`train_vs`.
    model, w_ref, n_records : as for :func:`train_vs`; ``n_records = 0``
        (default) records no history.

    Returns
    -------
    (W, iterations, converged, histories) : arrays (B, d), (B,), (B,) and a
    list of B history dicts (empty without ``n_records``).
    """
    X = real_array(X, "X", ndim=3)
    B, n, d = X.shape
    if B < 1 or n < 1 or d < 1:
        raise ValueError(f"X must hold at least one training set with one sample and one feature, got shape {X.shape}")
    y = real_array(y, "y", ndim=2)
    if y.shape != (B, n) or not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError(f"y must have shape {(B, n)} with labels +1/-1")
    if isinstance(losses, VSLoss) or not isinstance(losses, (list, tuple)) or len(losses) != B \
            or not all(isinstance(lo, VSLoss) and lo.size <= 2 for lo in losses):
        raise ValueError(f"losses must be a list of {B} VSLoss objects with one or two (class) entries")
    if isinstance(n_records, (bool, np.bool_)) or not isinstance(n_records, (int, np.integer)) or n_records < 0:
        raise ValueError(f"n_records must be a non-negative integer (0: no history), got {_short(n_records)}")
    method, lr, max_iter, gtol, n_rec = check_gd_options(method, lr, max_iter, gtol, max(n_records, 1))
    check_gd_work(max_iter, B, n, d)
    if model is not None and not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM (LabelGMM, GroupGMM) or None, got {type(model).__name__}")
    if model is not None:
        embedded_means(model, d)        # the model must fit in d coordinates (ValueError naming d)
    if w_ref is not None:
        w_ref = real_array(w_ref, "w_ref", ndim=1)
        if w_ref.size != d or not np.any(w_ref):
            raise ValueError(f"w_ref must be a non-zero vector of length {d}")
        w_ref = w_ref / np.linalg.norm(w_ref)
    hists, record = _recorder(B, d, False, model, w_ref) if n_records else ([{} for _ in range(B)], None)
    recs = _record_points(max_iter, n_rec) if n_records else frozenset()
    k = np.where(y > 0, 0, 1)
    params = np.array([[np.broadcast_to(getattr(lo, a), (2,)) for a in ("omega", "iota", "Delta")]
                       for lo in losses])                                   # (B, 3, 2)
    omega, iota, Delta = (np.take_along_axis(params[:, j, :], k, axis=1) for j in range(3))
    theta, iters, converged, _, _ = _gd(y[:, :, None] * X, omega, iota, Delta, method, lr, max_iter, gtol,
                                        recs, record)
    return theta, iters, converged, [{key: np.asarray(v) for key, v in h.items() if v} for h in hists]
