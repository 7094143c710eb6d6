"""A scikit-learn estimator for the hard-margin CS-SVM."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from .datadriven import as_signed_labels, check_label_types, delta_to_shift, suggest_delta
from .simulate.svm import fit_max_margin

__all__ = ["CostSensitiveSVC"]


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
        ``"auto"``: :func:`~asymptotics.datadriven.suggest_delta` with ``method``.
    intercept : bool
    method : {"plugin", "margins"}
        Estimator of delta when ``delta="auto"``.
    folds, random_state :
        For ``method="margins"``.

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
        check_label_types(y)
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        y_type = type_of_target(y, input_name="y", raise_unknown=True)
        if y_type != "binary":
            raise ValueError(f"Only binary classification is supported. The type of the target is {y_type} "
                             f"({np.unique(y).size} class{'es' if np.unique(y).size != 1 else ''}).")
        if isinstance(self.delta, str):
            if self.delta != "auto":
                raise ValueError(f"delta must be 'auto' or a positive number, got {self.delta!r}")
        elif not (np.isscalar(self.delta) and float(self.delta) > 0):
            raise ValueError(f"delta must be 'auto' or a positive number, got {self.delta!r}")
        if not isinstance(self.intercept, (bool, np.bool_)):
            raise ValueError(f"intercept must be True or False, got {self.intercept!r}")
        s, order = as_signed_labels(y)
        self.classes_ = np.sort(order)
        self.minority_ = order[0]
        self.suggestion_ = None
        if self.delta == "auto":
            self.suggestion_ = suggest_delta(X, y, method=self.method, intercept=self.intercept,
                                             folds=self.folds, random_state=self.random_state)
            delta = self.suggestion_.delta
        else:
            delta = float(self.delta)
        self.delta_ = delta
        if self.intercept:
            svm = fit_max_margin(X, s, intercept=True)
            t = delta_to_shift(delta)
            scale = (delta + 1) / 2 if np.isfinite(delta) else 1.0
            # the limit delta -> inf keeps w_1 and shifts b_1 by t = 1
            w, b = scale * svm.w, scale * (svm.b + t)
        else:
            if not (np.isfinite(delta) and delta > 0):
                raise ValueError("delta: without an intercept the CS-SVM needs a finite positive delta")
            fit = fit_max_margin(X, s, np.where(s > 0, delta, 1.0), intercept=False)
            w, b = fit.w, 0.0
        # decision positive for classes_[1]
        sign = 1.0 if self.classes_[1] == self.minority_ else -1.0
        self.coef_ = sign * w
        self.intercept_ = sign * b
        return self

    def decision_function(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_ + self.intercept_

    def predict(self, X):
        check_is_fitted(self)
        return self.classes_[(self.decision_function(X) > 0).astype(int)]
