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

Labels.  ``y`` holds two classes, all numbers (finite) or all strings; a
mix (``[1, "a"]``, which numpy would silently turn into strings), ``None``
or other objects are a one-line ValueError naming ``y``, checked on the
elements themselves before any conversion.

Scale.  Both estimates are scale-invariant (delta does not depend on the
unit of X); X is rescaled internally by a power of two (exact), so data in
any unit give the same delta.  The scale-dependent diagnostics (``sigma2``,
``score_mean``, ``score_sd``, ``beta_*``, ``w_norm``) are in the units of
the data.
"""
from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field

import numpy as np

from ._validation import _short
from .errors import NotSeparableError
from .models import LabelGMM
from .simulate.sampling import ReadOnlyResult, real_array
from .solver import separability_threshold
from .tuning import DeltaWarning, delta_star

__all__ = ["DeltaSuggestion", "suggest_delta", "as_signed_labels", "delta_to_shift", "FoldsWarning"]


class FoldsWarning(UserWarning):
    """``suggest_delta(method="margins")`` used fewer cross-fitting folds than
    asked for (at most the minority count); ``diagnostics["folds"]`` holds the
    number used, ``diagnostics["folds_requested"]`` the number asked for."""


@dataclass(frozen=True, eq=False)
class DeltaSuggestion(ReadOnlyResult):
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
        predicted ``R_bal``.  ``margins``: ``folds`` (used), ``folds_requested``,
        ``score_mean``, ``score_sd`` (per class +1, -1), ``beta_equal``,
        ``beta_svm``, ``fold_betas``, ``w_norm``, predicted ``R_bal``.  A
        read-only mapping (its arrays read-only).
    """

    delta: float
    t: float
    attainable: bool
    method: str
    diagnostics: dict = field(repr=False)


def as_signed_labels(y) -> tuple[np.ndarray, np.ndarray]:
    """Map two class labels to +1 (the minority: fewer samples; ties: the
    larger label) and -1.  Returns (signed labels, classes ordered (+1, -1))."""
    check_label_types(y)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be one-dimensional, got shape {y.shape}")
    classes, counts = np.unique(y, return_counts=True)
    if classes.size != 2:
        raise ValueError(f"y must hold exactly two classes, got {classes.size} "
                         f"class{'es' if classes.size != 1 else ''}")
    minority = classes[1] if counts[1] <= counts[0] else classes[0]
    majority = classes[classes != minority][0]
    return np.where(y == minority, 1.0, -1.0), np.array([minority, majority])


def _label_kind(v) -> str:
    if isinstance(v, (str, np.str_)):
        return "str"
    if isinstance(v, numbers.Real):          # includes bool and numpy reals
        return "number"
    return type(v).__name__


def check_label_types(y) -> None:
    """Labels must be all (finite, real) numbers or all (text) strings: a mix has no
    order (and numpy would silently turn a list's numbers into strings),
    ``None`` or other objects are no labels.  Lists, tuples and object arrays
    are inspected element by element *before* numpy converts them; typed
    arrays by their dtype.  One-line ValueErrors naming ``y``."""
    if y is None:
        raise ValueError("y: labels are required, got None")
    if isinstance(y, (str, bytes)):
        raise ValueError("y must be a sequence of labels, got a single string")
    if hasattr(y, "dtype") and getattr(y, "dtype", None) != object:
        try:
            arr = np.asarray(y)
        except (TypeError, ValueError):
            raise ValueError("y must be a sequence of labels") from None
    else:
        try:
            arr = np.asarray(y, dtype=object)      # the elements as given, no conversion
        except (TypeError, ValueError):
            raise ValueError("y must be a flat sequence of labels (got a ragged nested sequence)") from None
    kind = arr.dtype.kind
    if kind == "O":
        kinds = {_label_kind(v) for v in arr.ravel()}
        odd = sorted(kinds - {"str", "number"})
        if odd:
            raise ValueError(f"y: labels must be numbers or strings, got {', '.join(odd)}")
        if len(kinds) > 1:
            raise ValueError(f"y: labels must be all numbers or all strings, got a mix of {sorted(kinds)}")
        if kinds == {"number"}:
            if any(isinstance(v, (float, np.floating)) and not np.isfinite(v) for v in arr.ravel()):
                raise ValueError("y: labels must be finite (no NaN or inf)")
    elif kind == "c":
        raise ValueError(f"y: labels must be real numbers or strings, got complex (dtype {arr.dtype})")
    elif kind == "f":
        if not np.all(np.isfinite(arr)):
            raise ValueError("y: labels must be finite (no NaN or inf)")
    elif kind == "S":
        raise ValueError("y: labels must be numbers or strings, got bytes (decode them)")
    elif kind not in "biuU":
        raise ValueError(f"y: labels must be numbers or strings, got dtype {arr.dtype}")


def delta_to_shift(delta: float) -> float:
    """t = (delta - 1)/(delta + 1), the intercept shift of the CS-SVM in
    units of the SVM's margin (t = 1 for the limit delta = inf)."""
    return (delta - 1) / (delta + 1) if np.isfinite(delta) else 1.0


def _shift_to_delta(t: float) -> tuple[float, float, bool]:
    if abs(t) < 1:
        return (1 + t) / (1 - t), t, True
    return (np.inf if t > 0 else 0.0), float(np.sign(t)), False


def _plugin(X, s, intercept, a=0):
    """Plugin estimate on X (rescaled by 2^a: diagnostics back in data units)."""
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
    sigma2 = _in_data_units(sigma2, -2 * a, "sigma2")
    return DeltaSuggestion(delta=delta, t=delta_to_shift(delta), attainable=bool(res.attainable), method="plugin",
                           diagnostics={"prior": n_p / n, "gamma": gamma, "sigma2": sigma2, "gram": G,
                                        "gamma_star": gs, "R_bal": float(res.R_bal)})


def _in_data_units(value: float, exponent: int, what: str) -> float:
    """value 2^exponent (exact), or a ValueError naming X when it leaves double precision."""
    with np.errstate(over="ignore", under="ignore"):
        out = float(np.ldexp(value, exponent)) if exponent else float(value)
    if not np.isfinite(out) or (value != 0 and abs(out) < np.finfo(float).tiny):
        raise ValueError(f"X: at this scale the diagnostic {what} (in the units of X) is not representable in "
                         "double precision; rescale X (delta does not depend on its unit)")
    return out


def _margins(X, s, folds, random_state, a=0):
    """Margins estimate on X (rescaled by 2^a: diagnostics back in data units)."""
    from sklearn.model_selection import StratifiedKFold

    from .gaussian import Q
    from .simulate.svm import fit_max_margin

    n_min = int(min(np.sum(s > 0), np.sum(s < 0)))
    k = min(folds, n_min)
    if k < 2:
        raise ValueError("y: the 'margins' method needs at least 2 samples of each class")
    if k < folds:
        warnings.warn(FoldsWarning(f"folds: {folds} cross-fitting folds asked for, {k} used (at most the "
                                   f"minority count, {n_min}); see diagnostics['folds']"), stacklevel=3)
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
    def unit(v, what):          # projections and normalised intercepts scale like X
        return _in_data_units(float(v), -a, what)

    return DeltaSuggestion(delta=delta, t=t, attainable=ok, method="margins",
                           diagnostics={"folds": k, "folds_requested": int(folds),
                                        "score_mean": (unit(m_p, "score_mean"), unit(m_m, "score_mean")),
                                        "score_sd": (unit(s_p, "score_sd"), unit(s_m, "score_sd")),
                                        "beta_equal": unit(beta_eq, "beta_equal"),
                                        "beta_svm": unit(beta_full, "beta_svm"),
                                        "fold_betas": tuple(unit(v, "fold_betas") for v in betas),
                                        "w_norm": _in_data_units(w_norm, a, "w_norm"), "R_bal": r_bal})


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
        Cross-fitting folds of the margins method.  At most the minority
        count is used: fewer than asked for emits a :class:`FoldsWarning`
        and ``diagnostics["folds"]`` is the number used.
    random_state : int
        Seeds the fold split.

    Raises
    ------
    ValueError
        Bad input (named: non-finite, complex or non-numeric X; labels that
        are not all numbers or all strings, ...), one class, too few minority
        samples, X at a scale whose answer leaves double precision (module
        docstring).
    NotSeparableError
        ``plugin``: the fitted model's gamma_star is above d/n;
        ``margins``: the training data are not linearly separable.
    """
    if method not in ("plugin", "margins"):
        raise ValueError(f"method must be 'plugin' or 'margins', got {_short(method)}")
    if isinstance(folds, (bool, np.bool_)) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds must be an integer >= 2 (cross-fitting needs a held-out fold), got {_short(folds)}")
    if isinstance(random_state, (bool, np.bool_)) or not isinstance(random_state, (int, np.integer)) \
            or random_state < 0:
        raise ValueError(f"random_state must be a non-negative integer, got {_short(random_state)}")
    if not isinstance(intercept, (bool, np.bool_)):
        raise ValueError(f"intercept must be True or False, got {_short(intercept)}")
    X = real_array(X, "X", ndim=2)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"X must have at least one row and one column, got shape {X.shape}")
    check_label_types(y)
    n_y = np.shape(y)[0] if np.ndim(y) >= 1 else None
    if n_y is not None and n_y != X.shape[0]:
        raise ValueError(f"X and y must have the same number of rows, got {X.shape[0]} and {n_y}")
    s, _ = as_signed_labels(y)
    from .simulate.svm import _canonical
    X, _, a, _ = _canonical(X, None)     # exact power-of-two rescaling: the estimates are scale-invariant
    if method == "plugin":
        return _plugin(X, s, bool(intercept), a)
    if method == "margins":
        return _margins(X, s, folds, random_state, a)
    raise ValueError(f"method must be 'plugin' or 'margins', got {_short(method)}")
