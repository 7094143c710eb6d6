r"""What a trained classifier does when deployed: its threshold-free and
thresholded metrics, in closed form from the solved order parameters.

Within cluster k the test score :math:`s = w\cdot x + b` of the limit
classifier is Gaussian with mean :math:`\mu_k\cdot w + b` and spread
:math:`\tau = \sqrt{w^T\Sigma w}` (``result.tau``; :math:`\|w\|` for
isotropic features).  In units of :math:`\tau` the score of cluster k is
:math:`m_k + G`, :math:`m_k = (\mu_k\cdot w + b)/\tau` (``projections + beta``
of every max-margin and ERM result).  The positive class is y = +1 (the
minority of a label model); the classifier predicts +1 where s > t, t = 0
as trained.  With class-conditional cluster weights :math:`w_k`
(:math:`\pi_k` over its class's mass) and the deployment prior p of class +1
(``test_prior``, default the training mass: a label shift re-weights the
classes, not the clusters within a class):

.. math::

    \mathrm{TPR}(t) = \sum_{y_k = +1} w_k Q(t/\tau - m_k), \quad
    \mathrm{FPR}(t) = \sum_{y_k = -1} w_k Q(t/\tau - m_k), \quad
    \mathrm{AUC} = \sum_{y_i = +1}\sum_{y_j = -1} w_i w_j\,
                   \Phi\Big(\frac{m_i - m_j}{\sqrt2}\Big),

precision :math:`= p\,\mathrm{TPR}/(p\,\mathrm{TPR} + (1-p)\mathrm{FPR})`,
and the area under the precision-recall curve
:math:`\int \mathrm{precision}(t)\, d\,\mathrm{TPR}(t)
= \sum_{y_k=+1} w_k E[\mathrm{precision}(\tau(m_k + G))]` by 160-point
Gauss-Hermite (precision is smooth in t; it is evaluated from the
logarithms of TPR and FPR, so it stays exact in the tails where both
underflow).  The AUC does not depend on b (it cancels in
:math:`m_i - m_j`); the ROC passes through the trained operating point
(TPR, FPR) = (1 - R_+, R_-).

A w = 0 minimiser (status 3 of a hinge ``erm``) is the constant classifier
sign(b): TPR = FPR = 1 if b > 0 else 0, AUC 1/2 (ties split), AUPRC p.
Points without a classifier (status 1 or 4: NaN results) give NaN metrics,
as the result's own ``separable``/``exists`` say.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ._validation import _short, check_grid, check_size, finite_array
from .erm import ERMResult
from .gaussian import Q, logQ
from .group import GSSVMResult
from .label import CSSVMResult
from .losses import VS
from .results import ReadOnlyResult, frozen
from .solver import MaxMarginResult

__all__ = ["Performance", "performance", "ThresholdResult", "best_threshold", "THRESHOLD_OBJECTIVES",
           "Calibration", "calibration"]

# Gauss-Hermite (probabilists') nodes for E[g(m + G)]: precision(t) is analytic in a strip of
# half-width ~1 around the real axis, so 160 nodes reach rounding (checked against mpmath quadrature)
_GH_NODES = 160


@functools.lru_cache(maxsize=None)
def _gauss_hermite(n: int):
    """Probabilists' Gauss-Hermite nodes and weights for E[f(G)] (weights sum
    to 1), read-only; computed once (an eigenproblem of size n)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    w = w / np.sqrt(2.0 * np.pi)
    for a in (x, w):
        a.setflags(write=False)
    return x, w


@dataclass(frozen=True, eq=False)
class Performance(ReadOnlyResult):
    r"""Deployment metrics of a limit classifier (see the module docstring).

    Fields of shape ``S`` (the result's shape; NumPy scalars for a scalar
    result) unless noted.

    Attributes
    ----------
    test_prior : float
        P(y = +1) at deployment the metrics use.
    threshold : ndarray (S)
        The decision threshold of the thresholded metrics (score units).
    score_mean : ndarray (S + (K,))
        Mean test score :math:`\mu_k\cdot w + b` of each cluster.
    score_spread : ndarray (S)
        Within-cluster spread :math:`\tau` of the test score.
    tpr, fpr : true- and false-positive rates at ``threshold``.
    accuracy, balanced_accuracy, precision, recall, f1, mcc, npv :
        at ``threshold`` and the deployment prior (precision is NaN
        where nothing is predicted positive, and so are f1 and mcc).
    auc : area under the ROC curve (closed form).
    auprc : area under the precision-recall curve.
    """

    test_prior: float
    threshold: np.ndarray
    labels: np.ndarray
    weights: np.ndarray
    score_mean: np.ndarray
    score_spread: np.ndarray
    tpr: np.ndarray
    fpr: np.ndarray
    accuracy: np.ndarray
    balanced_accuracy: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    f1: np.ndarray
    mcc: np.ndarray
    npv: np.ndarray
    auc: np.ndarray
    auprc: np.ndarray

    def roc(self, thresholds=None):
        """(fpr, tpr, thresholds) along a trailing axis: the ROC curve at the
        given thresholds in score units (default: 201 per point spanning
        every cluster's mean +- 8 spreads, decreasing, so FPR and TPR rise)."""
        t = self._thresholds(thresholds)
        lt, lf = self._log_rates(t)
        return np.exp(lf), np.exp(lt), t

    def pr(self, thresholds=None):
        """(recall, precision, thresholds) along a trailing axis (thresholds as
        in :meth:`roc`); precision at the deployment prior."""
        t = self._thresholds(thresholds)
        lt, lf = self._log_rates(t)
        return np.exp(lt), _precision(lt, lf, self.test_prior), t

    def _thresholds(self, thresholds):
        mean = np.asarray(self.score_mean, float)
        tau = np.asarray(self.score_spread, float)
        if thresholds is None:
            lo = np.min(mean, axis=-1) - 8.0 * tau
            hi = np.max(mean, axis=-1) + 8.0 * tau
            u = np.linspace(1.0, 0.0, 201)
            return lo[..., None] + (hi - lo)[..., None] * u
        t = finite_array(thresholds, "thresholds", ndim=1)
        if t.size == 0:
            raise ValueError("thresholds must not be empty")
        return np.broadcast_to(t, tau.shape + t.shape)

    def _log_rates(self, t):
        mean = np.asarray(self.score_mean, float)[..., None, :]
        tau = np.asarray(self.score_spread, float)[..., None, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            z = np.where(tau > 0, (np.asarray(t)[..., None] - mean) / tau,
                         np.where(np.asarray(t)[..., None] < mean, -np.inf, np.inf))
        return _log_class_rates(z, self.labels, self.weights)


def _log_class_rates(z, labels, weights):
    """log TPR, log FPR from z = (t - mean_k)/tau on a trailing cluster axis:
    log sum_k w_k Q(z_k) over each class."""
    lq = logQ(z) + np.log(weights)
    out = []
    for sign in (1.0, -1.0):
        sel = lq[..., labels == sign]
        top = np.max(sel, axis=-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            top_f = np.where(np.isfinite(top), top, 0.0)
            out.append(np.log(np.sum(np.exp(sel - top_f), axis=-1)) + top_f[..., 0])
    return out[0], out[1]


def _precision(log_tpr, log_fpr, p):
    """p TPR / (p TPR + (1 - p) FPR) from the logarithms (NaN where both are 0)."""
    with np.errstate(invalid="ignore", over="ignore"):
        r = np.exp(np.log1p(-p) - np.log(p) + log_fpr - log_tpr)
        out = 1.0 / (1.0 + r)
    return np.where(np.isneginf(log_tpr) & np.isneginf(log_fpr), np.nan, out)


# points per block of the AUPRC's Gauss-Hermite average (its work array is points x nodes x K^2 doubles)
_AUPRC_BLOCK = 2048


def _threshold_free(result, labels, weights, p):
    """(AUC, AUPRC) in the result's shape: AUC over pairs of a positive
    cluster i and a negative cluster j, AUPRC = sum over positive k of
    w_k E[precision(tau (m_k + G))] by Gauss-Hermite, in blocks of points."""
    shape = np.shape(result.q)
    K = labels.size
    tau = np.asarray(result.tau, float).reshape(-1)
    b = np.asarray(result.b, float).reshape(-1)
    trivial = tau == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.asarray(result.projections, float).reshape(-1, K) + (b / np.where(trivial, 1.0, tau))[:, None]
    pos, neg = labels > 0, labels < 0
    diff = m[:, pos][:, :, None] - m[:, neg][:, None, :]
    pair = weights[pos][:, None] * weights[neg][None, :]
    auc = np.where(trivial, 0.5, np.sum(pair * Q(-diff / np.sqrt(2.0)), axis=(-2, -1)))   # Phi(diff / sqrt 2)
    x, wgh = _gauss_hermite(_GH_NODES)
    auprc = np.empty(tau.size)
    for a in range(0, tau.size, _AUPRC_BLOCK):
        mb = m[a:a + _AUPRC_BLOCK]
        zz = mb[:, pos][:, :, None, None] + x[:, None] - mb[:, None, None, :]     # (points, P, N, K)
        lt_n, lf_n = _log_class_rates(zz, labels, weights)
        auprc[a:a + _AUPRC_BLOCK] = np.sum(weights[pos][:, None] * wgh[None, :] * _precision(lt_n, lf_n, p),
                                           axis=(-2, -1))
    auprc = np.where(trivial, p, auprc)
    return auc.reshape(shape), auprc.reshape(shape)


def performance(result, test_prior=None, threshold=0.0) -> Performance:
    r"""Deployment metrics of a max-margin or regularised-ERM result
    (module docstring: score laws, ROC/AUC, PR/AUPRC, thresholded metrics).

    Parameters
    ----------
    result : MaxMarginResult, CSSVMResult, GSSVMResult or ERMResult
        Any model with both labels (isotropic or a covariance).
    test_prior : float, optional
        P(y = +1) at deployment, in (0, 1); default the training mass of
        class +1.  Clusters within a class keep their relative weights.
    threshold : float or array_like
        Decision threshold t in score units (predict +1 where
        w.x + b > t; 0 is the trained classifier, t is the same as the
        intercept b - t), broadcast with the result; the thresholded
        metrics are taken there, the threshold-free ones (AUC, AUPRC) do
        not depend on it.

    Returns
    -------
    Performance

    Examples
    --------
    >>> import asymptotics as asy
    >>> s = asy.cs_svm(asy.LabelGMM(0.1, [4, 0], [0, 2]), gamma=2.0, delta=3.0)
    >>> p = asy.performance(s)
    >>> round(float(p.auc), 6), round(float(p.tpr), 6) == round(1 - float(s.R_plus), 6)
    (0.976252, True)
    """
    if not isinstance(result, (MaxMarginResult, CSSVMResult, GSSVMResult, ERMResult)):
        raise ValueError(f"result must be a max-margin or erm result, got {type(result).__name__}")
    check_size(threshold, "threshold")
    threshold = finite_array(threshold, "threshold")
    model = result.model
    labels = np.asarray(model.labels, float)
    priors = np.asarray(model.priors, float)
    if not (np.any(labels > 0) and np.any(labels < 0)):
        raise ValueError("result: the model needs clusters of both labels for deployment metrics")
    mass = float(priors[labels > 0].sum())
    if test_prior is None:
        p = mass
    else:
        if isinstance(test_prior, (str, bytes, bool, np.bool_)) or np.ndim(test_prior) != 0:
            raise ValueError(f"test_prior must be a number in (0, 1), got {_short(test_prior)}")
        try:
            p = float(test_prior)
        except (TypeError, ValueError):
            raise ValueError(f"test_prior must be a number in (0, 1), got {_short(test_prior)}") from None
        if not 0.0 < p < 1.0:
            raise ValueError(f"test_prior must lie in (0, 1), got {_short(test_prior)}")
    weights = np.where(labels > 0, priors / mass, priors / (1.0 - mass))

    try:
        shape = np.broadcast_shapes(np.shape(result.q), threshold.shape)
    except ValueError:
        raise ValueError(f"threshold must broadcast with the result's shape {np.shape(result.q)}, got shape "
                         f"{threshold.shape}") from None
    check_grid(shape, "result and threshold")
    K = labels.size
    tau = np.broadcast_to(np.asarray(result.tau, float), shape)
    b = np.broadcast_to(np.asarray(result.b, float), shape)
    proj = np.broadcast_to(np.asarray(result.projections, float), shape + (K,))
    thr = np.broadcast_to(threshold, shape)
    trivial = tau == 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        m = proj + (b / np.where(trivial, 1.0, tau))[..., None]          # score / tau
    mean = np.where(trivial[..., None], b[..., None], tau[..., None] * m)

    # at the threshold t: z_k = t/tau - m_k (w = 0: every score is b)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(trivial[..., None], np.where(b[..., None] > thr[..., None], -np.inf, np.inf),
                     (thr / np.where(trivial, 1.0, tau))[..., None] - m)
    lt, lf = _log_class_rates(z, labels, weights)
    tpr, fpr = np.exp(lt), np.exp(lf)
    prec = _precision(lt, lf, p)
    TP, FN, FP, TN = p * tpr, p * (1.0 - tpr), (1.0 - p) * fpr, (1.0 - p) * (1.0 - fpr)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = 2.0 * prec * tpr / (prec + tpr)
        mcc = (TP * TN - FP * FN) / np.sqrt((TP + FP) * (TP + FN) * (TN + FP) * (TN + FN))
        npv = TN / (TN + FN)

    # the threshold-free metrics at the result's own points (they do not depend on the threshold)
    auc, auprc = _threshold_free(result, labels, weights, p)

    def sh(a, tail=()):
        return frozen(a, shape, tail)

    return Performance(
        test_prior=p, threshold=sh(thr), labels=labels, weights=weights, score_mean=sh(mean, (labels.size,)), score_spread=sh(tau),
        tpr=sh(tpr), fpr=sh(fpr), accuracy=sh(TP + TN), balanced_accuracy=sh(0.5 * (tpr + 1.0 - fpr)),
        precision=sh(prec), recall=sh(tpr), f1=sh(f1), mcc=sh(mcc), npv=sh(npv),
        auc=sh(np.broadcast_to(auc, shape)), auprc=sh(np.broadcast_to(auprc, shape)))


# Post-hoc threshold objectives (best_threshold)
THRESHOLD_OBJECTIVES = ("R_bal", "R", "worst", "f1", "mcc")


@dataclass(frozen=True, eq=False)
class ThresholdResult(ReadOnlyResult):
    r"""The post-hoc decision threshold that optimises a deployment metric.

    Attributes
    ----------
    objective : str
    threshold : ndarray (S)
        The best threshold t in score units (the classifier w.x + b - t:
        the intercept moved by -t).
    value : ndarray (S)
        The objective there: ``R_bal``, ``R`` (at the deployment prior),
        ``worst`` (largest cluster error) as errors; ``f1`` and ``mcc`` as
        the metric itself (maximised).
    performance : Performance
        Every metric at that threshold.
    """

    objective: str
    threshold: np.ndarray
    value: np.ndarray
    performance: Performance


def _objective_value(objective, u, m, labels, weights, p):
    """Objective (to minimise) at normalised thresholds u (..., N) for the
    normalised cluster means m (..., K)."""
    z = u[..., :, None] - m[..., None, :]
    e = np.where(labels > 0, Q(-z), Q(z))                # cluster errors at the threshold
    pos = labels > 0
    fnr = np.sum(weights * e * pos, axis=-1)
    fpr = np.sum(weights * e * ~pos, axis=-1)
    if objective == "R_bal":
        return 0.5 * (fnr + fpr)
    if objective == "R":
        return p * fnr + (1.0 - p) * fpr
    if objective == "worst":
        return np.max(e, axis=-1)
    tpr = 1.0 - fnr
    TP, FN, FP, TN = p * tpr, p * fnr, (1.0 - p) * fpr, (1.0 - p) * (1.0 - fpr)
    with np.errstate(invalid="ignore", divide="ignore"):
        if objective == "f1":
            val = 2.0 * TP / (2.0 * TP + FP + FN)
        else:
            val = (TP * TN - FP * FN) / np.sqrt((TP + FP) * (TP + FN) * (TN + FP) * (TN + FN))
    return -np.where(np.isfinite(val), val, -np.inf)


def best_threshold(result, objective: str = "R_bal", test_prior=None) -> ThresholdResult:
    r"""The post-hoc threshold (a shift of the trained intercept) that
    optimises ``objective`` at the deployment prior: ``"R_bal"``, ``"R"``,
    ``"worst"`` (the largest cluster error: the worst group of a group
    model), or ``"f1"``, ``"mcc"`` (maximised).

    In units of the score spread the objective is a smooth function of one
    variable: a grid of 2,001 thresholds over every cluster's mean +- 9
    spreads, then bounded Brent around the best grid point (tolerance
    1e-12).  For the label model, moving the SVM's threshold is exactly the
    CS-SVM (a shifted SVM), so ``best_threshold(cs_svm(m, g, 1), "R_bal")``
    attains ``delta_star(m, g)`` (tested).

    Parameters
    ----------
    result : any result :func:`performance` takes
    objective : str
    test_prior : float, optional
        As for :func:`performance`.

    Returns
    -------
    ThresholdResult

    Examples
    --------
    >>> import asymptotics as asy
    >>> m = asy.LabelGMM(0.1, [4, 0], [0, 2])
    >>> t = asy.best_threshold(asy.cs_svm(m, 2.0, 1.0), "R_bal")
    >>> round(float(t.value), 6), round(float(asy.delta_star(m, 2.0).R_bal), 6)
    (0.080551, 0.080551)
    """
    from scipy.optimize import minimize_scalar
    if not isinstance(objective, str) or objective not in THRESHOLD_OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(THRESHOLD_OBJECTIVES)}, got {_short(objective)}")
    base = performance(result, test_prior)          # validates result and test_prior
    p = base.test_prior
    labels, weights = base.labels, base.weights
    shape = np.shape(base.auc)
    mean = np.asarray(base.score_mean, float).reshape(-1, labels.size)
    tau = np.asarray(base.score_spread, float).reshape(-1)
    best_t = np.full(tau.size, np.nan)
    best_v = np.full(tau.size, np.nan)
    for i in range(tau.size):
        if not np.all(np.isfinite(mean[i])) or not np.isfinite(tau[i]):
            continue                                          # no classifier at this point: NaN
        if tau[i] == 0.0:
            # the constant classifier sign(b - t): all +1 (t below b) or all -1 (t above b)
            vals = _objective_value(objective, np.array([-np.inf, np.inf]), np.zeros(labels.size), labels,
                                    weights, p)
            j = int(np.argmin(vals))
            best_t[i], best_v[i] = mean[i, 0] + (1.0 if j else -1.0), vals[j]
            continue
        m = mean[i] / tau[i]
        grid = np.linspace(m.min() - 9.0, m.max() + 9.0, 2001)
        vals = _objective_value(objective, grid, m, labels, weights, p)
        j = int(np.argmin(vals))
        lo, hi = grid[max(j - 1, 0)], grid[min(j + 1, grid.size - 1)]
        res = minimize_scalar(lambda u: float(_objective_value(objective, np.array([u]), m, labels, weights, p)[0]),
                              bounds=(lo, hi), method="bounded", options={"xatol": 1e-12})
        u, v = (res.x, res.fun) if res.fun <= vals[j] else (grid[j], vals[j])
        best_t[i], best_v[i] = u * tau[i], v
    best_t = best_t.reshape(shape)
    value = (-best_v if objective in ("f1", "mcc") else best_v).reshape(shape)
    perf = performance(result, p, threshold=np.where(np.isfinite(best_t), best_t, 0.0))
    return ThresholdResult(objective=objective, threshold=frozen(best_t, shape), value=frozen(value, shape),
                           performance=perf)


# ---------------------------------------------------------------- probabilities (logistic losses)
_GH2_NODES = 48          # per dimension, for the two-dimensional averages of the calibration error


@dataclass(frozen=True, eq=False)
class Calibration(ReadOnlyResult):
    r"""Quality of the predicted probabilities :math:`\hat p = \sigma(w\cdot x + b)`
    of a classifier trained with a logistic (VS-family) loss.

    Attributes
    ----------
    test_prior : float
    brier : ndarray (S)
        :math:`E[(\hat p - 1\{y = +1\})^2]`.
    log_loss : ndarray (S)
        :math:`E[\log(1 + e^{-y s})]`, the cross-entropy of :math:`\hat p`.
    mean_probability : ndarray (S)
        :math:`E[\hat p]`, against ``test_prior`` (the prevalence): above it
        the classifier over-predicts the positive class.
    confidence_gap : ndarray (S)
        :math:`E[\max(\hat p, 1 - \hat p)]` minus the accuracy at threshold
        0: > 0 over-confident, < 0 under-confident.
    calibration_error, bayes_brier : ndarray (S)
        Label models with isotropic features only (NaN otherwise, where the
        Bayes posterior is not logistic-linear): the mean squared distance
        :math:`E[(\hat p - \eta(x))^2]` to the Bayes posterior
        :math:`\eta(x) = P(y = +1 \mid x)`, and the Brier score of
        :math:`\eta` itself (the floor any classifier has).
    """

    test_prior: float
    brier: np.ndarray
    log_loss: np.ndarray
    mean_probability: np.ndarray
    confidence_gap: np.ndarray
    calibration_error: np.ndarray
    bayes_brier: np.ndarray


def calibration(result, test_prior=None) -> Calibration:
    r"""Brier score, log-loss, confidence and (label models, isotropic
    features) the distance to the Bayes posterior of the probabilities
    :math:`\hat p = \sigma(w\cdot x + b)` of an :func:`~asymptotics.erm`
    result trained with a VS-family loss (CE, wCE, LA, LDAM, CDT, VS, ...).

    Within cluster k the score is :math:`\tau(m_k + G)` (see
    :func:`performance`), so every quantity is a Gaussian average: 160-point
    Gauss-Hermite in one dimension.  The Bayes log-odds of an isotropic label
    model, :math:`\ell(x) = (\mu_+ - \mu_-)\cdot x + (\|\mu_-\|^2 - \|\mu_+\|^2)/2
    + \log(p/(1-p))`, is jointly Gaussian with the score in each class
    (covariance :math:`(\mu_+ - \mu_-)\cdot w`), a two-dimensional average
    (48 x 48 nodes).  For a logit-adjusted loss :math:`\hat p` is the
    probability of the trained logit as it is, without the adjustment.

    Parameters
    ----------
    result : ERMResult
        Every cluster's loss a VSLoss (a hinge or square loss, or a
        max-margin result, has no probabilities: ValueError naming
        ``result``).
    test_prior : float, optional
        As for :func:`performance`.

    Returns
    -------
    Calibration
    """
    if not isinstance(result, ERMResult) or not np.all(result.loss.kind == VS):
        raise ValueError("result: probabilities need an erm result trained with a VS-family (logistic) loss "
                         f"(CE, LA, CDT, VS, ...), got {type(result).__name__}"
                         + (f" with loss {result.loss.name!r}" if isinstance(result, ERMResult) else ""))
    base = performance(result, test_prior)
    p = base.test_prior
    labels, weights = base.labels, base.weights
    cw = np.where(labels > 0, p, 1.0 - p) * weights               # deployment cluster priors
    shape = np.shape(base.auc)
    K = labels.size
    mean = np.asarray(base.score_mean, float).reshape(-1, K)
    tau = np.asarray(base.score_spread, float).reshape(-1)
    x, w1 = _gauss_hermite(_GH_NODES)
    s = mean[:, :, None] + tau[:, None, None] * x                  # (P, K, N) scores
    from scipy.special import expit, log_expit
    ph = expit(s)
    pos = (labels > 0)[None, :, None]
    avg = lambda f: np.sum(cw[None, :] * np.sum(w1 * f, axis=-1), axis=-1)       # noqa: E731
    brier = avg(np.where(pos, (1.0 - ph) ** 2, ph ** 2))
    log_loss = avg(-log_expit(np.where(pos, s, -s)))
    mean_prob = avg(ph)
    # E[max(p, 1 - p)] = E[p] + E[(1 - 2 p) 1{s < 0}]: the second integrand is smooth on G < G0 = -m_k
    # (the kink of the max sits at s = 0, where Gauss-Hermite would lose 1e-5); Gauss-Legendre panels
    # graded geometrically towards G0 cover the layer of width 1/tau there for any tau
    edges = np.concatenate([[-12.0, -1.0], -np.geomspace(0.1, 1e-7, 7), [0.0]])
    xl, wl = np.polynomial.legendre.leggauss(20)
    nodes = ((edges[:-1, None] + edges[1:, None]) / 2 + (edges[1:, None] - edges[:-1, None]) / 2 * xl).ravel()
    wts = ((edges[1:, None] - edges[:-1, None]) / 2 * wl).ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        g0 = np.where(tau[:, None] > 0, -mean / tau[:, None], 0.0)                  # (P, K): where s = 0
    gg = g0[:, :, None] + nodes                                                    # (P, K, M), all below G0
    sl = mean[:, :, None] + tau[:, None, None] * gg
    below = np.sum(wts * (1.0 - 2.0 * expit(sl)) * np.exp(-0.5 * gg * gg) / np.sqrt(2.0 * np.pi), axis=-1)
    conf = mean_prob + np.sum(cw[None, :] * below, axis=-1)
    gap = conf - np.asarray(base.accuracy, float).reshape(-1)
    cal = np.full(tau.size, np.nan)
    bayes = np.full(tau.size, np.nan)
    model = result.model
    if hasattr(model, "prior") and model._cov is None:
        mu_p, mu_m = np.asarray(model.means[0], float), np.asarray(model.means[1], float)
        dmu = mu_p - mu_m
        c = float(np.linalg.norm(dmu))
        const = 0.5 * (mu_m @ mu_m - mu_p @ mu_p) + np.log(p / (1.0 - p))
        a = np.array([dmu @ mu_p, dmu @ mu_m]) + const                # Bayes log-odds mean per cluster
        proj = np.asarray(result.projections, float).reshape(-1, K)
        cov_sl = tau * (proj[:, 0] - proj[:, 1])                      # cov(s, l) = (mu+ - mu-) . w
        x2, w2 = _gauss_hermite(_GH2_NODES)
        for i in range(tau.size):
            if not (np.isfinite(tau[i]) and tau[i] > 0 and c > 0):
                continue
            rho = np.clip(cov_sl[i] / (tau[i] * c), -1.0, 1.0)
            g1, g2 = x2[:, None], x2[None, :]
            ww = w2[:, None] * w2[None, :]
            for k in range(K):
                sk = mean[i, k] + tau[i] * g1
                lk = a[k] + c * (rho * g1 + np.sqrt(1.0 - rho * rho) * g2)
                cal_k = np.sum(ww * (expit(sk) - expit(lk)) ** 2)
                eta = expit(lk)
                bay_k = np.sum(ww * ((1.0 - eta) ** 2 if labels[k] > 0 else eta ** 2))
                cal[i] = (0.0 if k == 0 else cal[i]) + cw[k] * cal_k
                bayes[i] = (0.0 if k == 0 else bayes[i]) + cw[k] * bay_k
    nan = ~np.isfinite(tau)
    out = {name: np.where(nan, np.nan, v) for name, v in
           (("brier", brier), ("log_loss", log_loss), ("mean_probability", mean_prob), ("confidence_gap", gap))}
    return Calibration(test_prior=p, **{k: frozen(v, shape) for k, v in out.items()},
                       calibration_error=frozen(cal, shape), bayes_brier=frozen(bayes, shape))
