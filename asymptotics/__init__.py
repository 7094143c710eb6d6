"""asymptotics: sharp high-dimensional asymptotics of cost- and group-sensitive
max-margin classifiers on Gaussian mixtures.

Conventions: gamma = d/n; class +1 is the minority (prior ``prior``); delta is
the margin ratio (minority margin / majority margin), delta = 1 is the SVM.
"""
from .errors import ConvergenceError, NoMinimizerError, NotSeparableError
from .group import GSSVMResult, gs_svm
from .losses import HingeLoss, SquareLoss, VSLoss, vs_preset
from .label import CSSVMResult, cs_svm
from .models import ClusterGMM, GroupGMM, LabelGMM
from .solver import MaxMarginResult, max_margin, separability_threshold
from .erm import ERMPath, ERMResult, erm, erm_path
from .tuning import (DeltaResult, DeltaWarning, EqualOpportunityResult, delta_equal_opportunity,
                     delta_min_error, delta_star)

__version__ = "0.1.0"

__all__ = [
    "ClusterGMM", "LabelGMM", "GroupGMM",
    "max_margin", "MaxMarginResult", "separability_threshold",
    "cs_svm", "CSSVMResult",
    "gs_svm", "GSSVMResult",
    "delta_star", "delta_min_error", "DeltaResult", "DeltaWarning",
    "delta_equal_opportunity", "EqualOpportunityResult",
    "erm", "ERMResult", "erm_path", "ERMPath",
    "VSLoss", "HingeLoss", "SquareLoss", "vs_preset",
    "NotSeparableError", "ConvergenceError", "NoMinimizerError",
]
