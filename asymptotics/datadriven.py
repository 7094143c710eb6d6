r"""Choosing the margin ratio delta on real data.

Two estimators of the balanced-error-optimal delta (exposed as
:func:`asymptotics.datadriven.suggest_delta`):

``"plugin"``
    Fit the theory's model to the data and use the closed-form delta*.
    With :math:`n_\pm` samples per class, :math:`\hat\pi = n_+/n`,
    :math:`\hat\gamma = d/n`, class means :math:`\hat\mu_\pm` and the pooled
    per-coordinate noise variance :math:`\hat\sigma^2`, the Gram of the
    standardised means is estimated without bias,

    .. math:: \hat G_{\pm\pm} = \|\hat\mu_\pm\|^2/\hat\sigma^2 - d/n_\pm,\qquad
              \hat G_{+-} = \hat\mu_+\cdot\hat\mu_-/\hat\sigma^2

    (:math:`E\|\hat\mu_y\|^2 = \|\mu_y\|^2 + d\sigma^2/n_y`; the cross term
    is unbiased because the two class means are independent), projected onto
    the positive semidefinite cone, and delta* is the closed form of
    :func:`~asymptotics.tuning.delta_star` (intercept on).
``"margins"``
    The shift identity (docs/theory.md §3) turned into an estimator, with no Gaussian-mixture fit: the
    CS-SVM is the SVM with its intercept shifted by
    :math:`t = (\delta-1)/(\delta+1)`.  The SVM is fitted on K - 1 folds and
    its projections :math:`x\cdot w/\|w\|` collected on the held-out fold
    (cross-fitting).  With class means :math:`m_\pm` and spreads
    :math:`s_\pm` of those projections, a classifier with normalised intercept
    :math:`\beta` has predicted errors :math:`Q((m_+ + \beta)/s_+)` and
    :math:`Q(-(m_- + \beta)/s_-)`, equal at
    :math:`\beta_{eq} = -(m_+ s_- + m_- s_+)/(s_+ + s_-)`.  The SVM
    :math:`(w_1, b_1)` fitted on all the data is shifted there:
    :math:`t = \|w_1\|(\beta_{eq} - b_1/\|w_1\|)`,
    :math:`\delta = (1 + t)/(1 - t)`.  (The intercept is taken from the full
    fit, not the folds, because it depends on the training size.)

Both return ``delta = inf`` (or ``0.0``) with ``attainable=False`` when the
optimum is the limit of the shift (|t| >= 1); the estimator then uses t = +-1.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validation import finite_array
from .errors import NotSeparableError
from .models import LabelGMM
from .solver import separability_threshold
from .tuning import DeltaWarning, delta_star

__all__ = ["DeltaSuggestion", "suggest_delta", "as_signed_labels", "delta_to_shift"]


@dataclass(frozen=True)
class DeltaSuggestion:
    """A suggested margin ratio and what it was computed from.

    Attributes
    ----------
    delta : float
        Suggested delta (``inf``/``0.0`` where not attainable).
    t : float
        The intercept shift (delta - 1)/(delta + 1) in [-1, 1] it stands for.
    attainable : bool
    method : str
    diagnostics : dict
        ``plugin``: ``prior``, ``gamma``, ``sigma2``, ``gram``, ``gamma_star``,
        predicted ``R_bal``.  ``margins``: ``folds``, ``score_mean``,
        ``score_sd`` (per class +1, -1), ``tau``, ``w_norm``, predicted ``R_bal``.
    """

    delta: float
    t: float
    attainable: bool
    method: str
    diagnostics: dict = field(repr=False)


def as_signed_labels(y) -> tuple[np.ndarray, np.ndarray]:
    """Map two class labels to +1 (the minority: fewer samples; ties: the
    larger label) and -1.  Returns (signed labels, classes ordered (+1, -1))."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
    check_label_types(y)
    classes, counts = np.unique(y, return_counts=True)
    if classes.size != 2:
        raise ValueError(f"y must hold exactly two classes, got {classes.size} "
                         f"class{'es' if classes.size != 1 else ''}")
    minority = classes[1] if counts[1] <= counts[0] else classes[0]
    majority = classes[classes != minority][0]
    return np.where(y == minority, 1.0, -1.0), np.array([minority, majority])


def check_label_types(y) -> None:
    """Labels must be all numbers or all strings (a mix has no order, so the
    classes cannot be sorted)."""
    y = np.asarray(y)
    if y.dtype == object:
        kinds = {"str" if isinstance(v, (str, np.str_)) else "number" if isinstance(v, (int, float, np.number))
                 else type(v).__name__ for v in y.ravel()}
        if len(kinds) > 1:
            raise ValueError(f"y: labels must be all numbers or all strings, got a mix of {sorted(kinds)}")


def delta_to_shift(delta: float) -> float:
    """t = (delta - 1)/(delta + 1), the intercept shift of the CS-SVM in
    units of the SVM's margin (t = 1 for the limit delta = inf)."""
    return (delta - 1) / (delta + 1) if np.isfinite(delta) else 1.0


def _shift_to_delta(t: float) -> tuple[float, float, bool]:
    if abs(t) < 1:
        return (1 + t) / (1 - t), t, True
    return (np.inf if t > 0 else 0.0), float(np.sign(t)), False


def _plugin(X, s, intercept):
    n, d = X.shape
    plus, minus = X[s > 0], X[s < 0]
    n_p, n_m = len(plus), len(minus)
    mu_p, mu_m = plus.mean(0), minus.mean(0)
    resid = np.concatenate([plus - mu_p, minus - mu_m])
    sigma2 = float(np.sum(resid ** 2) / (max(n - 2, 1) * d))
    if not sigma2 > 0:
        raise ValueError("X: the classes have no within-class spread (constant features)")
    G = np.array([[mu_p @ mu_p / sigma2 - d / n_p, mu_p @ mu_m / sigma2],
                  [mu_p @ mu_m / sigma2, mu_m @ mu_m / sigma2 - d / n_m]])
    vals, vecs = np.linalg.eigh(G)
    G = (vecs * np.clip(vals, 0, None)) @ vecs.T
    if not np.any(G > 0):
        raise ValueError("X, y: the class means are not distinguishable from noise (the debiased Gram of "
                         f"the means is zero with n+ = {n_p}, n- = {n_m}, d = {d}); the plugin estimate "
                         "needs more samples")
    model = LabelGMM.from_gram(n_p / n, G)
    gamma = d / n
    gs = separability_threshold(model, intercept)
    if gamma <= gs:
        raise NotSeparableError(gamma, gs, intercept)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltaWarning)
        res = delta_star(model, gamma, intercept=intercept)
    delta = float(res.delta)
    return DeltaSuggestion(delta=delta, t=delta_to_shift(delta), attainable=bool(res.attainable), method="plugin",
                           diagnostics={"prior": n_p / n, "gamma": gamma, "sigma2": sigma2, "gram": G,
                                        "gamma_star": gs, "R_bal": float(res.R_bal)})


def _margins(X, s, folds, random_state):
    from sklearn.model_selection import StratifiedKFold

    from .gaussian import Q
    from .simulate.svm import fit_max_margin

    n_min = int(min(np.sum(s > 0), np.sum(s < 0)))
    k = min(folds, n_min)
    if k < 2:
        raise ValueError("y: the 'margins' method needs at least 2 samples of each class")
    scores = np.empty(len(s))
    betas = []
    for train, test in StratifiedKFold(k, shuffle=True, random_state=random_state).split(X, s):
        fit = fit_max_margin(X[train], s[train])
        norm = np.linalg.norm(fit.w)
        # held-out projections x.w/|w|; the intercept is handled separately
        # because it depends on the training size (the folds have fewer samples)
        scores[test] = X[test] @ fit.w / norm
        betas.append(fit.b / norm)
    full = fit_max_margin(X, s)
    w_norm = float(np.linalg.norm(full.w))
    beta_full = full.b / w_norm
    m_p, m_m = scores[s > 0].mean(), scores[s < 0].mean()
    s_p, s_m = scores[s > 0].std(ddof=1), scores[s < 0].std(ddof=1)
    # the normalised intercept at which the two predicted errors are equal
    beta_eq = -(m_p * s_m + m_m * s_p) / (s_p + s_m)
    tau = beta_eq - beta_full
    delta, t, ok = _shift_to_delta(tau * w_norm)
    tau_used = beta_full + t / w_norm
    r_bal = 0.5 * (float(Q((m_p + tau_used) / s_p)) + float(Q(-(m_m + tau_used) / s_m)))
    return DeltaSuggestion(delta=delta, t=t, attainable=ok, method="margins",
                           diagnostics={"folds": k, "score_mean": (m_p, m_m), "score_sd": (s_p, s_m),
                                        "beta_equal": beta_eq, "beta_svm": beta_full, "fold_betas": betas,
                                        "w_norm": w_norm, "R_bal": r_bal})


def suggest_delta(X, y, method: str = "plugin", intercept: bool = True, folds: int = 5,
                  random_state: int = 0) -> DeltaSuggestion:
    """Suggest the CS-SVM margin ratio delta for the data (module docstring).

    Parameters
    ----------
    X : array (n, d)
    y : array (n,)
        Two classes; the one with fewer samples is the minority (+1).
    method : {"plugin", "margins"}
    intercept : bool
        ``plugin`` only (the margins method shifts an intercept).
    folds : int
        Cross-fitting folds of the margins method (at most the minority count).
    random_state : int
        Seeds the fold split.

    Raises
    ------
    ValueError
        Bad input, one class, too few minority samples.
    NotSeparableError
        ``plugin``: the fitted model's gamma_star is above d/n;
        ``margins``: the training data are not linearly separable.
    """
    if method not in ("plugin", "margins"):
        raise ValueError(f"method must be 'plugin' or 'margins', got {method!r}")
    if isinstance(folds, (bool, np.bool_)) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2 (cross-fitting needs a held-out fold), got {folds!r}")
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)) \
            or random_state < 0:
        raise ValueError(f"random_state must be a non-negative integer, got {random_state!r}")
    X = finite_array(X, "X", ndim=2)
    s, _ = as_signed_labels(y)
    if len(s) != X.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {X.shape[0]} and {len(s)}")
    if method == "plugin":
        return _plugin(X, s, intercept)
    if method == "margins":
        return _margins(X, s, folds, random_state)
    raise ValueError(f"method must be 'plugin' or 'margins', got {method!r}")
