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
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import log_expit

from .._validation import boolean, finite_array
from ..errors import ConvergenceError
from ..losses import PRESETS, VSLoss, cluster_losses, vs_preset
from ..models import ClusterGMM
from .sampling import classifier_errors, embedded_means
from .svm import _check_xy

__all__ = ["VSLoss", "vs_preset", "PRESETS", "TrainResult", "train_vs", "check_gd_options"]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of :func:`train_vs`.

    ``history`` holds arrays over the recorded iterations: ``iteration``,
    ``loss``, ``grad_norm``, ``train_error`` and, when asked for,
    ``test_error`` (balanced over the labels, exact from the model's means)
    and ``angle`` (radians, between w and ``w_ref``).
    """

    w: np.ndarray
    b: float
    iterations: int
    loss: float
    grad_norm: float
    converged: bool
    history: dict = field(repr=False)


_MAX_ITER_CAP = 10 ** 9


def _positive_int(value, name: str, cap: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if cap is not None and value > cap:
        raise ValueError(f"{name} must be at most {cap:g}, got {value!r}")
    return int(value)


def _number(value, name: str) -> float:
    if isinstance(value, (str, bytes, bool, np.bool_)) or np.ndim(value) != 0:
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def check_gd_options(method="normalized", lr=0.1, max_iter=10_000, gtol=1e-8, n_records=200) -> tuple:
    """Validated ``(method, lr, max_iter, gtol, n_records)`` of :func:`train_vs`
    (one-line ValueErrors naming the argument)."""
    if not isinstance(method, str) or method not in ("normalized", "gd"):
        raise ValueError(f"method must be 'normalized' or 'gd', got {method!r}")
    lr = _number(lr, "lr")
    if not (np.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    max_iter = _positive_int(max_iter, "max_iter", _MAX_ITER_CAP)
    gtol = _number(gtol, "gtol")
    if not (np.isfinite(gtol) and gtol >= 0):
        raise ValueError(f"gtol must be a finite number >= 0, got {gtol!r}")
    n_records = _positive_int(n_records, "n_records", 10 ** 6)
    return method, lr, max_iter, gtol, n_records


def _cluster_indices(clusters, y, size: int) -> np.ndarray:
    """Each sample's loss entry: the class for a one- or two-entry loss without
    ``clusters``, else ``clusters`` (integers, or integer-valued floats)."""
    n = y.size
    if clusters is None:
        if size > 2:
            raise ValueError(f"clusters: needed unless the loss has one or two (class) entries (it has {size})")
        return np.where(y > 0, 0, 1) if size == 2 else np.zeros(n, dtype=np.int64)
    if isinstance(clusters, (str, bytes)):
        raise ValueError("clusters must be integer cluster indices, got a string")
    c = np.asarray(clusters)
    if c.dtype == bool or c.dtype.kind not in "iuf":
        raise ValueError(f"clusters must be integer cluster indices, got dtype {c.dtype}")
    if c.shape != (n,):
        raise ValueError(f"clusters must have one index per row of X ({n}), got shape {c.shape}")
    if c.dtype.kind == "f" and not (np.all(np.isfinite(c)) and np.all(c == np.round(c))):
        raise ValueError("clusters must be integer cluster indices (got non-integer values)")
    c = c.astype(np.int64)
    if c.min() < 0 or c.max() >= size:
        raise ValueError(f"clusters must be indices into the loss's {size} entries (0..{size - 1}), "
                         f"got values in {int(c.min())}..{int(c.max())}")
    return c


def _record_points(max_iter: int, n_points: int) -> set:
    pts = np.unique(np.geomspace(1, max_iter, n_points).astype(int))
    return set(int(p) for p in pts) | {0}


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
        Step cap, a positive integer (at most 1e9).
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
    if model is not None and not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM (LabelGMM, GroupGMM) or None, got {type(model).__name__}")
    if model is not None:
        embedded_means(model, d)        # the model must fit in d coordinates (ValueError naming d)
    per = cluster_losses(loss, max(loss.size, 2))
    omega, iota, Delta = per.omega[k], per.iota[k], per.Delta[k]
    Z = X if not intercept else np.hstack([X, np.ones((n, 1))])
    yZ = y[:, None] * Z
    coef = omega * Delta / n                      # d loss / d z_i = coef_i * sigma(z_i)
    theta = np.zeros(Z.shape[1])
    if w_ref is not None:
        w_ref = finite_array(w_ref, "w_ref", ndim=1)
        if w_ref.size != d:
            raise ValueError(f"w_ref must have one entry per feature ({d}), got {w_ref.size}")
        if not np.any(w_ref):
            raise ValueError("w_ref must not be zero (the angle to it is undefined)")
        w_ref = w_ref / np.linalg.norm(w_ref)
    recs = _record_points(max_iter, n_records)
    hist = {key: [] for key in ("iteration", "loss", "grad_norm", "train_error", "test_error", "angle")}

    def state(theta):
        margins = yZ @ theta
        z = iota - Delta * margins
        log_sig = log_expit(z)
        M = log_sig.max()
        direction = -(coef * np.exp(log_sig - M)) @ yZ    # grad L / exp(M)
        gnorm = np.exp(M) * np.linalg.norm(direction)
        value = float(np.sum(omega * np.logaddexp(0.0, z)) / n)
        return margins, direction, gnorm, value

    it = 0
    converged = False
    while True:
        with np.errstate(over="ignore", invalid="ignore"):
            margins, direction, gnorm, value = state(theta)
        if not (np.isfinite(value) and np.isfinite(gnorm) and np.all(np.isfinite(direction))):
            if it == 0:
                raise ConvergenceError("train_vs: the loss or its gradient at w = 0 is not finite (X too large "
                                       "to train on: rescale it)", iterations=0)
            raise ConvergenceError(f"train_vs: gradient descent diverged at iteration {it} (non-finite loss or "
                                   f"gradient); lower lr (= {lr:g})", iterations=it)
        if it in recs or gnorm < gtol or it >= max_iter:
            w = theta[:d]
            hist["iteration"].append(it)
            hist["loss"].append(value)
            hist["grad_norm"].append(gnorm)
            hist["train_error"].append(float(np.mean(margins <= 0)))
            if model is not None and np.any(w):
                err = classifier_errors(model, w, theta[d] if intercept else 0.0)
                labels = model.labels
                hist["test_error"].append(0.5 * (np.average(err[labels > 0], weights=model.priors[labels > 0])
                                                 + np.average(err[labels < 0], weights=model.priors[labels < 0])))
            elif model is not None:
                hist["test_error"].append(0.5)
            if w_ref is not None:
                nw = np.linalg.norm(w)
                cos = float(w @ w_ref / nw) if nw > 0 else 0.0
                hist["angle"].append(float(np.arccos(np.clip(cos, -1.0, 1.0))))
        if gnorm < gtol:
            converged = True
            break
        if it >= max_iter:
            break
        dnorm = np.linalg.norm(direction)
        if dnorm == 0:
            converged = True
            break
        with np.errstate(over="ignore", invalid="ignore"):
            if method == "normalized":
                theta = theta - lr * direction / dnorm
            else:
                theta = theta - lr * direction * (gnorm / dnorm)
        if not np.all(np.isfinite(theta)):
            raise ConvergenceError(f"train_vs: gradient descent diverged at iteration {it + 1} (non-finite "
                                   f"weights); lower lr (= {lr:g})", iterations=it + 1)
        it += 1
    history = {key: np.asarray(v) for key, v in hist.items() if v}
    return TrainResult(w=theta[:d].copy(), b=float(theta[d]) if intercept else 0.0, iterations=it,
                       loss=value, grad_norm=float(gnorm), converged=converged, history=history)
