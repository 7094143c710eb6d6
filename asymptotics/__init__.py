"""asymptotics: sharp high-dimensional asymptotics of cost- and group-sensitive
max-margin classifiers on Gaussian mixtures."""
from .errors import ConvergenceError, NotSeparableError
from .models import ClusterGMM, LabelGMM
from .solver import MaxMarginResult, max_margin, separability_threshold

__version__ = "0.1.0"
