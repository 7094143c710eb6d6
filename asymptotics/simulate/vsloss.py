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
from ..losses import PRESETS, VSLoss, cluster_losses, vs_preset
from ..models import ClusterGMM
from .sampling import classifier_errors

__all__ = ["VSLoss", "vs_preset", "PRESETS", "TrainResult", "train_vs"]


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
        Step cap.
    gtol : float
        Stop when ||grad L|| < gtol (0 runs to the cap).
    model : ClusterGMM, optional
        To record the exact balanced test error along the way.
    w_ref : array (d,), optional
        To record the angle between w and it (e.g. the CS-SVM solution).
    n_records : int
        Log-spaced iterations at which the history is recorded.
    """
    X = finite_array(X, "X", ndim=2)
    n, d = X.shape
    y = finite_array(y, "y", ndim=1)
    if y.size != n or not np.all(np.isin(y, (-1.0, 1.0))):
        raise ValueError(f"y must be {n} labels in (+1, -1)")
    if not isinstance(loss, VSLoss):
        raise ValueError(f"loss must be a VSLoss, got {type(loss).__name__}")
    if clusters is None:
        if loss.size > 2:
            raise ValueError("clusters: needed unless the loss has one or two (class) entries")
        k = np.where(y > 0, 0, 1)
    else:
        k = np.asarray(clusters)
        if k.shape != (n,) or k.min() < 0 or k.max() >= loss.size:
            raise ValueError(f"clusters must be {n} indices into the loss's {loss.size} entries")
    if method not in ("normalized", "gd"):
        raise ValueError(f"method must be 'normalized' or 'gd', got {method!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    intercept = boolean(intercept, "intercept")
    per = cluster_losses(loss, max(loss.size, 2))
    omega, iota, Delta = per.omega[k], per.iota[k], per.Delta[k]
    Z = X if not intercept else np.hstack([X, np.ones((n, 1))])
    yZ = y[:, None] * Z
    coef = omega * Delta / n                      # d loss / d z_i = coef_i * sigma(z_i)
    theta = np.zeros(Z.shape[1])
    if w_ref is not None:
        w_ref = finite_array(w_ref, "w_ref", ndim=1)
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
        margins, direction, gnorm, value = state(theta)
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
        if method == "normalized":
            theta = theta - lr * direction / dnorm
        else:
            theta = theta - lr * direction * (gnorm / dnorm)
        it += 1
    history = {key: np.asarray(v) for key, v in hist.items() if v}
    return TrainResult(w=theta[:d].copy(), b=float(theta[d]) if intercept else 0.0, iterations=it,
                       loss=value, grad_norm=float(gnorm), converged=converged, history=history)
