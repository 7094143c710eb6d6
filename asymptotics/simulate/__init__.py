"""Monte-Carlo side: sampling, exact max-margin solvers, VS-loss training and
theory-vs-simulation sweeps."""
from .sampling import (MEMORY_BUDGET_BYTES, Sample, classifier_errors, embedded_means, empirical_errors, sample,
                       sample_mismatch, stratified_counts)
from .svm import MaxMarginFit, fit_max_margin, is_separable
from .vsloss import PRESETS, TrainResult, VSLoss, train_vs, train_vs_batch, vs_preset
from .montecarlo import MAX_TRIALS, MonteCarloResult, cluster_margins, max_jobs, monte_carlo
from .erm import ERMFit, SeparableSampleError, fit_erm
