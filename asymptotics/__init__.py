"""asymptotics: sharp high-dimensional asymptotics of cost- and group-sensitive
max-margin classifiers (CS-SVM, GS-SVM) and of regularised training on
Gaussian mixtures, with Monte-Carlo checks.

Conventions: gamma = d/n; class +1 is the minority (prior ``prior``); delta is
the margin ratio (minority margin / majority margin), delta = 1 is the SVM.
The mathematics: ``docs/theory.md`` in the repository (``docs/erm.md`` for
regularised training, ``docs/covariance.md`` for a general covariance).

Map of the package
------------------
Models (``asymptotics.models``)
    ``LabelGMM`` (label imbalance), ``GroupGMM`` (group imbalance),
    ``ClusterGMM`` (any K-cluster mixture); ``covariance=`` for Sigma != I.
Max-margin predictions (API)
    ``cs_svm`` (CS-SVM on a label model), ``gs_svm`` (GS-SVM on a group
    model), ``max_margin`` (any per-cluster margins), ``separability_threshold``
    (gamma*: the classifier exists iff gamma > gamma*); results carry the test
    errors (``R_plus``, ``R_minus``, ``R_bal``, ``R``; ``R_yg``, ``DEO``,
    ``worst`` ...).  ``NotSeparableError``, ``ConvergenceError``.
Tuning (``asymptotics.tuning``)
    ``delta_star`` (balanced-error-optimal delta, closed form with an
    intercept), ``delta_min_error`` (minimises R), ``delta_equal_opportunity``
    (delta_0 with DEO = 0); ``DeltaWarning`` when the optimum is a limit.
Regularised ERM (``asymptotics.erm``, ``asymptotics.losses``)
    ``erm``, ``erm_path`` for ridge-regularised training with ``VSLoss``
    (CE, wCE, LA, LDAM, CDT, VS presets: ``vs_preset``), ``HingeLoss``,
    ``SquareLoss``, any lam >= 0; ``NoMinimizerError``.
Deployment metrics (``asymptotics.performance``)
    ``performance`` (score laws, AUC, AUPRC, ROC/PR curves, thresholded
    rates, precision, F1, MCC; ``test_prior`` for label shift),
    ``best_threshold`` (post-hoc threshold for R_bal, R, worst, F1, MCC),
    ``calibration`` (Brier, log-loss, distance to the Bayes posterior of a
    logistic loss's probabilities).
General covariance (``asymptotics.covariance``)
    ``Spectrum`` and the ``covariance=`` argument of every model.
Simulation (``asymptotics.simulate``)
    ``sample``, ``fit_max_margin``, ``fit_erm``, ``train_vs`` (gradient
    descent) and ``monte_carlo`` (theory against simulation, seeded).
Data (``asymptotics.datadriven``, ``asymptotics.estimator``)
    ``suggest_delta(X, y)`` and the scikit-learn estimator ``CostSensitiveSVC``.
Figures and tables (``asymptotics.plotting``, ``asymptotics.paper``)
    ``make_all`` regenerates every figure; ``paper_table`` the paper's settings.
Reference (``asymptotics.reference``)
    independent mpmath implementations used by the tests.
Command line (``asymptotics.cli``)
    ``asymptotics COMMAND`` or ``python -m asymptotics COMMAND``: predict,
    threshold, delta-star, delta-eo, simulate, figures, paper; no command
    runs the main job (every figure); ``asymptotics COMMAND --help``.

Example::

    import asymptotics as asy
    m = asy.LabelGMM(prior=0.1, mean_plus=[4, 0], mean_minus=[0, 2])
    asy.cs_svm(m, gamma=2.0, delta=[1.0, 3.0]).R_bal    # SVM and CS-SVM
    asy.delta_star(m, gamma=2.0).delta                   # 3.47
"""
from .errors import ConvergenceError, InfeasibleError, NoMinimizerError, NotSeparableError, NotSupportedError
from .group import GSSVMResult, gs_svm
from .losses import HingeLoss, SquareLoss, VSLoss, vs_preset
from .label import CSSVMResult, cs_svm
from .models import ClusterGMM, GroupGMM, LabelGMM
from .solver import MaxMarginResult, ThresholdUnderflowWarning, max_margin, separability_threshold
from .erm import ERMPath, ERMResult, erm, erm_path
from .optimize import MarginOptimum, ParetoFront, optimize_margins, pareto_front
from .sensitivity import Sensitivity, sensitivity
from .performance import Calibration, Performance, ThresholdResult, best_threshold, calibration, performance
from .tuning import (DeltaResult, DeltaWarning, EqualOpportunityResult, delta_equal_opportunity,
                     delta_min_error, delta_star)

__version__ = "0.1.0"

__all__ = [
    "ClusterGMM", "LabelGMM", "GroupGMM",
    "max_margin", "MaxMarginResult", "separability_threshold", "ThresholdUnderflowWarning",
    "cs_svm", "CSSVMResult",
    "gs_svm", "GSSVMResult",
    "delta_star", "delta_min_error", "DeltaResult", "DeltaWarning",
    "delta_equal_opportunity", "EqualOpportunityResult",
    "erm", "ERMResult", "erm_path", "ERMPath",
    "performance", "Performance", "best_threshold", "ThresholdResult", "calibration", "Calibration",
    "sensitivity", "Sensitivity", "optimize_margins", "MarginOptimum", "pareto_front", "ParetoFront",
    "VSLoss", "HingeLoss", "SquareLoss", "vs_preset",
    "NotSeparableError", "ConvergenceError", "NoMinimizerError", "InfeasibleError", "NotSupportedError",
]
