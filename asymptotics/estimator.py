"""A scikit-learn estimator for the hard-margin CS-SVM.

Input errors are one-line ValueErrors naming the argument (``X``, ``y``,
``delta``, ...), also where scikit-learn's own validation finds them (its
multi-line messages are cut to their first line and the argument named).
Non-numeric entries of ``X`` raise :class:`InputTypeError`, both a
ValueError and the TypeError scikit-learn's conventions expect.
"""
from __future__ import annotations

import numbers
import re

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import _short
from .datadriven import as_signed_labels, check_label_types, delta_to_shift, suggest_delta
from .simulate.svm import _canonical, fit_max_margin

__all__ = ["CostSensitiveSVC", "InputTypeError"]


class InputTypeError(ValueError, TypeError):
    """A non-numeric entry in ``X`` (a ValueError like every input error of
    the package, and the TypeError scikit-learn's estimator checks expect)."""


def _one_line(exc: Exception, default: str) -> str:
    """scikit-learn's validation message as one line naming the argument."""
    text = str(exc).strip()
    first = text.splitlines()[0].rstrip(":").strip() if text else type(exc).__name__
    m = re.search(r"inconsistent numbers of samples: \[(\d+), (\d+)\]", first)
    if m:
        return f"X and y must have the same number of samples, got {m.group(1)} and {m.group(2)}"
    m = re.match(r"Input (X|y) contains (NaN|infinity)", first)
    if m:
        return f"{m.group(1)} must be finite (no NaN or inf): {first}"
    if first.startswith("Expected 2D array"):
        hint = next((line.strip() for line in text.splitlines() if line.strip().startswith("Reshape your data")),
                    "Reshape your data")
        return f"X must be 2-dimensional (n_samples, n_features): {first}; {hint}"
    if "could not convert" in first or "argument must be" in first:
        return f"{default} must be numeric: {first}"
    if re.search(r"\b(X|y)\b", first):
        return first
    return f"{default}: {first}"


def _refuse_complex(X) -> None:
    try:
        complex_X = np.iscomplexobj(X)
    except (TypeError, ValueError):      # ragged input: validate_data says so
        complex_X = False
    if complex_X:
        raise ValueError("X must be real (Complex data not supported)")


def _refuse_strings(X) -> None:
    """Numeric strings ("1.5") would be converted by scikit-learn: refused, as
    everywhere in the package."""
    if isinstance(X, (str, bytes)):
        raise ValueError("X must be numeric, got a string")
    kind = getattr(getattr(X, "dtype", None), "kind", None)
    if kind is None and isinstance(X, (list, tuple)):
        try:
            kind = np.asarray(X).dtype.kind
        except (TypeError, ValueError):      # ragged: validate_data says so
            return
    if kind in ("U", "S") or (kind == "O" and any(isinstance(v, (str, bytes)) for v in np.asarray(X).ravel())):
        raise ValueError("X must be numeric, got strings")


def _validated(estimator, X, y=None, **kwargs):
    """``validate_data`` with one-line errors naming X or y."""
    _refuse_complex(X)
    _refuse_strings(X)
    try:
        if y is None and "reset" in kwargs:
            return validate_data(estimator, X, dtype=np.float64, **kwargs)
        return validate_data(estimator, X, y, dtype=np.float64, y_numeric=False, **kwargs)
    except TypeError as exc:
        raise InputTypeError(_one_line(exc, "X")) from None
    except ValueError as exc:
        raise ValueError(_one_line(exc, "X")) from None


def _check_params(est) -> None:
    """The hyperparameters, one-line ValueErrors naming each (booleans are
    not numbers here)."""
    delta = est.delta
    if isinstance(delta, str):
        if delta != "auto":
            raise ValueError(f"delta must be 'auto' or a positive number, got {_short(delta)}")
    elif isinstance(delta, (bool, np.bool_)) or not isinstance(delta, numbers.Real) \
            or np.isnan(float(delta)) or not float(delta) > 0:
        raise ValueError(f"delta must be 'auto' or a positive number, got {_short(delta)}")
    if not isinstance(est.intercept, (bool, np.bool_)):
        raise ValueError(f"intercept must be True or False, got {_short(est.intercept)}")
    if not isinstance(est.method, str) or est.method not in ("plugin", "margins"):
        raise ValueError(f"method must be 'plugin' or 'margins', got {_short(est.method)}")
    if isinstance(est.folds, (bool, np.bool_)) or not isinstance(est.folds, (int, np.integer)) or est.folds < 2:
        raise ValueError(f"folds must be an integer >= 2, got {_short(est.folds)}")
    rs = est.random_state
    if isinstance(rs, (bool, np.bool_)) or not isinstance(rs, (int, np.integer)) or rs < 0:
        raise ValueError(f"random_state must be a non-negative integer, got {_short(rs)}")


class CostSensitiveSVC(ClassifierMixin, BaseEstimator):
    r"""Hard-margin cost-sensitive SVM (paper eq. 4) with a theory-driven delta.

    The minority class (fewer training samples) gets margin ``delta``, the
    majority margin 1.  With an intercept the fit is the exact SVM shifted
    (docs/theory.md §3): ``coef = (delta+1)/2 w_1``, ``intercept = (delta+1)/2 b_1 +
    (delta-1)/2``, which also gives the limits delta = inf / 0 (intercept
    shifted to the majority / minority margin).

    Parameters
    ----------
    delta : "auto" or float > 0
        ``"auto"``: :func:`~asymptotics.datadriven.suggest_delta` with
        ``method``.  A real number (not a boolean); ``inf`` is the limit
        (with an intercept only).
    intercept : bool
    method : {"plugin", "margins"}
        Estimator of delta when ``delta="auto"``.
    folds, random_state :
        For ``method="margins"`` (integers; ``folds >= 2``, ``random_state >= 0``).

    Any scale of ``X`` is handled: the fit runs on ``X`` rescaled by a power
    of two (exact; the max-margin direction is scale-covariant) and
    ``coef_`` is scaled back (a ValueError naming X only where ``coef_``
    itself is not representable).

    Attributes
    ----------
    classes_ : ndarray (2,)
    minority_ : label of the minority class
    delta_ : float
        The delta used.
    suggestion_ : DeltaSuggestion or None
    coef_ : ndarray (d,)
    intercept_ : float
        ``decision_function(X) = X @ coef_ + intercept_`` is positive for
        ``classes_[1]`` (scikit-learn's convention).
    """

    def __init__(self, delta="auto", intercept=True, method="plugin", folds=5, random_state=0):
        self.delta = delta
        self.intercept = intercept
        self.method = method
        self.folds = folds
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False
        return tags

    def fit(self, X, y):
        _check_params(self)
        _refuse_complex(X)
        if y is not None:
            check_label_types(y)
        X, y = _validated(self, X, y)
        try:
            check_classification_targets(y)
        except ValueError as exc:
            text = _one_line(exc, "y")
            raise ValueError(text if re.match(r"y\b", text) else f"y: {text}") from None
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            k = np.unique(y).size
            raise ValueError(f"y: Only binary classification is supported. The target has {k} "
                             f"class{'es' if k != 1 else ''} (type {y_type}); it must hold exactly two")
        s, order = as_signed_labels(y)
        self.classes_ = np.sort(order)
        self.minority_ = order[0]
        self.suggestion_ = None
        # exact power-of-two rescaling (max row norm in [1, 2)): any unit of X works
        Xs, _, a, _ = _canonical(X, None)
        if isinstance(self.delta, str):
            self.suggestion_ = suggest_delta(X, y, method=self.method, intercept=bool(self.intercept),
                                             folds=int(self.folds), random_state=int(self.random_state))
            delta = self.suggestion_.delta
        else:
            delta = float(self.delta)
        self.delta_ = delta
        if self.intercept:
            svm = fit_max_margin(Xs, s, intercept=True)
            t = delta_to_shift(delta)
            scale = (delta + 1) / 2 if np.isfinite(delta) else 1.0
            # the limit delta -> inf keeps w_1 and shifts b_1 by t = 1
            w, b = scale * svm.w, scale * (svm.b + t)
        else:
            if not (np.isfinite(delta) and delta > 0):
                raise ValueError("delta: without an intercept the CS-SVM needs a finite positive delta")
            fit = fit_max_margin(Xs, s, np.where(s > 0, delta, 1.0), intercept=False)
            w, b = fit.w, 0.0
        with np.errstate(over="ignore", under="ignore"):
            w = np.ldexp(w, a) if a else np.array(w)
        if not np.all(np.isfinite(w)) or (np.any(w != 0) and np.max(np.abs(w)) < np.finfo(float).tiny):
            raise ValueError(f"X: at this scale (largest |x| = {float(np.max(np.abs(X))):.3g}) the coefficients "
                             "(~ 1/|x|) are not representable in double precision; rescale X")
        # decision positive for classes_[1]
        sign = 1.0 if self.classes_[1] == self.minority_ else -1.0
        self.coef_ = sign * w
        self.intercept_ = sign * b
        return self

    def decision_function(self, X):
        check_is_fitted(self)
        X = _validated(self, X, reset=False)
        return X @ self.coef_ + self.intercept_

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
