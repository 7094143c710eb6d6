r"""Theory against simulation: Monte-Carlo sweeps side by side with the
asymptotic predictions.

Each trial draws ``n`` samples in ``d = round(gamma n)`` dimensions, trains
the classifier (exact max-margin, a VS-loss by normalised GD, or the exact
regularised ERM minimiser of any loss when ``lam`` is given) and scores it
*exactly* from the known means (:func:`~.sampling.classifier_errors`), so the
only randomness is the training set's.  The prediction is evaluated at the
realised ratio ``d / n``.

Invalid trials.  A trial whose training set has no classifier of the kind
simulated (not separable; a single class drawn with an intercept; lam = 0 on
a separable sample; GD that leaves training errors) or whose fit fails
(:class:`~asymptotics.ConvergenceError`) is counted invalid *with its
reason* (``MonteCarloResult.n_invalid``, ``invalid_reasons``) and left out of
the means; it never aborts the sweep.  Only a point where every trial is
invalid raises (NotSeparableError when none was separable, ConvergenceError
when a fit failed, else ValueError), listing the reasons.
``stratify=True`` draws exact cluster counts instead
(:func:`~.sampling.stratified_counts`), so no trial misses a cluster.

Finite-n bias of random cluster counts.  With i.i.d. labels each trial's
cluster fractions are binomial, and the errors are non-linear in them: the
average over trials of the theory at each trial's *realised* fractions
differs from the theory at the priors by O(1/n) (about +0.01 in R+ at
pi = 0.03, n = 800-1600).  Each trial records its cluster counts; the theory
is evaluated once per distinct count vector (a :class:`ClusterGMM` with the
realised fractions as priors, the same means, margins or losses; clusters
absent from a trial enter only through their test error, from the direction
of the limiting classifier in the span of the means) and averaged over the
valid trials: ``MonteCarloResult.theory_realised``, compared by
``consistent(name, realised=True)``.  The test errors, ``R`` and the other
metrics always refer to the population (the priors), only the classifier
depends on the realised fractions.

Budgets.  The per-trial arrays (the ``n x d`` sample, an ``n x n`` Gram
matrix where the solver needs one) must fit
:data:`~.sampling.MEMORY_BUDGET_BYTES`, a sweep has at most
:data:`MAX_TRIALS` trials in all and ``n_jobs`` at most :func:`max_jobs`;
each is checked, with a one-line ValueError naming the argument, before any
work.

Reproducibility: trial ``t`` at dimension ``d`` draws from
``SeedSequence(seed, spawn_key=(d, t))``, so the numbers do not depend on
``n_jobs``, the backend or the order in which workers finish, and every delta
at the same d sees the same training sets (common random numbers: curves in
delta are smooth, and the CS-SVM shift identity holds trial by trial).
"""
from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validation import _short, boolean, finite_array, positive_array
from ..erm import erm
from ..errors import ConvergenceError, NoMinimizerError, NotSeparableError
from ..gaussian import Q
from ..group import group_margins
from ..losses import (HINGE, LOSS_NAMES, MARGIN_RATIO_LOSSES, PRESETS, ClusterLosses, Loss, VSLoss, cluster_losses,
                      resolve_loss, vs_preset)
from ..models import ClusterGMM, GroupGMM, LabelGMM
from ..solver import max_margin
from .sampling import ReadOnlyResult, check_memory, classifier_errors, embedded_means, noise_scales, sample
from .svm import fit_max_margin
from .vsloss import check_gd_options, check_gd_work, train_vs

__all__ = ["MonteCarloResult", "monte_carlo", "cluster_margins", "max_jobs", "MAX_TRIALS"]

MAX_TRIALS = 10 ** 6
"""Most trials one sweep may run (points x trials)."""

# reasons a trial is invalid (MonteCarloResult.invalid_reasons)
ONE_CLASS = "a single class drawn (with an intercept both labels are needed)"
NOT_SEPARABLE = "not linearly separable (no max-margin classifier)"
GD_TRAINING_ERRORS = "gradient descent left training errors (not in the terminal phase)"
SEPARABLE_LAM0 = "linearly separable sample (no lam = 0 minimiser)"
_NO_CLASSIFIER = (NOT_SEPARABLE, SEPARABLE_LAM0)
_GD_KEYS = ("method", "lr", "max_iter", "gtol", "n_records")


def max_jobs() -> int:
    """Largest ``n_jobs`` accepted: 4 workers per core, at least 32."""
    return max(32, 4 * (os.cpu_count() or 1))


def _check_n_jobs(n_jobs) -> int:
    if n_jobs is None:          # joblib's default: one worker
        return 1
    if isinstance(n_jobs, (bool, np.bool_)) or not isinstance(n_jobs, (int, np.integer)):
        raise ValueError(f"n_jobs must be an integer (workers, or -1 for all cores), got {_short(n_jobs)}")
    n_jobs = int(n_jobs)
    cores = os.cpu_count() or 1
    if n_jobs == 0 or n_jobs < -cores:
        raise ValueError(f"n_jobs must be a positive number of workers or -1 ... -{cores} (joblib's all cores, "
                         f"all but one, ...), got {n_jobs}")
    if n_jobs > max_jobs():
        raise ValueError(f"n_jobs must be at most {max_jobs()} (4 workers per core, at least 32), got {n_jobs}")
    return n_jobs


def cluster_margins(model: ClusterGMM, delta) -> np.ndarray:
    """Per-cluster margins for a scalar ``delta``: CS-SVM (delta, 1) for label
    models, GS-SVM for group models; for a plain ClusterGMM ``delta`` must be
    the K margins themselves."""
    if isinstance(model, LabelGMM):
        return np.array([float(positive_array(delta, "delta")), 1.0])
    if isinstance(model, GroupGMM):
        return group_margins(model, delta).reshape(-1)
    margins = positive_array(delta, "delta")
    if margins.shape != (model.n_clusters,):
        raise ValueError(f"delta must be the {model.n_clusters} cluster margins for a ClusterGMM")
    return margins


def _metrics(model: ClusterGMM, errors: np.ndarray, q: float, b: float, scale_free: bool,
             extra: dict | None = None) -> dict:
    """The metrics the theory predicts, from per-cluster errors."""
    out = {"errors": errors}
    if not scale_free:
        out["q"] = q
        out["b"] = b
    out.update(model.metrics(errors))
    out.update(extra or {})
    return out


# ----------------------------------------------------------------------------------------------
# what a point of the sweep is: the classifier trained and its theory


@dataclass(frozen=True)
class _Spec:
    """One point's classifier: ``method`` "svm", "gd" (a VS-loss by GD) or
    "erm"; ``margins`` (max-margin limit), ``loss`` (VSLoss for GD,
    ClusterLosses for ERM), ``lam``, and the intercept of the theory."""

    method: str
    margins: np.ndarray | None
    loss: object
    lam: float | None
    intercept: bool

    @property
    def scale_free(self) -> bool:
        return self.method == "gd"


def _theory(model: ClusterGMM, gamma: float, spec: _Spec) -> dict:
    if spec.method == "erm":
        r = erm(model, gamma, spec.loss, spec.lam, spec.intercept)
        return _metrics(model, np.asarray(r.errors), float(r.q), float(r.b), False,
                        {"train_error": np.asarray(r.train_error), "train_loss": np.asarray(r.train_loss)})
    s = max_margin(model, gamma, spec.margins, intercept=spec.intercept)
    return _metrics(model, np.asarray(s.errors), float(s.q), float(s.b), spec.scale_free)


class _Unavailable(Exception):
    """The theory at a trial's realised cluster fractions cannot be evaluated."""


def _mean_coordinates(model: ClusterGMM) -> np.ndarray:
    """Mean vectors with the model's Gram matrix (the means, or the Gram factor)."""
    M = model.means if model.means is not None else model.factor
    return M if M.shape[1] > 0 else np.zeros((model.n_clusters, 1))


def _realised_theory(model: ClusterGMM, n: int, dim: int, spec: _Spec, counts: np.ndarray) -> dict:
    """The theory on a ClusterGMM whose priors are the trial's realised cluster
    fractions (same labels, means and covariance), with the metrics taken on
    the population model.  Absent clusters (count 0) do not shape the
    classifier; their test error comes from the limiting direction in the span
    of the present means, u = pinv(M_present) (mu_k . w/|w|)_present."""
    K = model.n_clusters
    present = counts > 0
    M = _mean_coordinates(model)
    if not present.all() and model._cov is not None:
        raise _Unavailable("a cluster without samples in a covariance model")
    sub = ClusterGMM(counts[present] / n, model.labels[present], M[present],
                     covariance=model.covariance)
    gamma = dim / n
    try:
        if spec.method == "erm":
            loss = spec.loss
            losses = ClusterLosses(loss.kind[present], loss.omega[present], loss.iota[present],
                                   loss.Delta[present], loss.name)
            r = erm(sub, gamma, losses, spec.lam, spec.intercept)
            extra = {}
            for name, values in (("train_error", r.train_error), ("train_loss", r.train_loss)):
                full = np.full(K, np.nan)
                full[present] = values
                extra[name] = full
        else:
            r = max_margin(sub, gamma, spec.margins[present], intercept=spec.intercept)
            extra = {}
    except (NotSeparableError, NoMinimizerError) as exc:
        raise _Unavailable(f"no classifier at the realised fractions ({type(exc).__name__})") from None
    except ConvergenceError:
        raise _Unavailable("the theory at the realised fractions did not converge (ConvergenceError)") from None
    q, b = float(r.q), float(r.b)
    errors = np.empty(K)
    errors[present] = r.errors
    if not present.all():
        u = np.linalg.pinv(M[present]) @ np.asarray(r.projections, dtype=float)
        signed = model.labels[~present] * (M[~present] @ u + (b / q if q > 0 else 0.0))
        if q > 0:
            errors[~present] = Q(signed)
        else:    # w = 0: the constant classifier sign(b)
            sb = model.labels[~present] * b
            errors[~present] = np.where(sb > 0, 0.0, np.where(sb < 0, 1.0, 0.5))
    return _metrics(model, errors, q, b, spec.scale_free, extra)


# ----------------------------------------------------------------------------------------------
# one trial


def _trial(model, n, d, spec, gd_options, seed, key, stratify):
    # One BLAS thread everywhere: the summation order, hence every last bit,
    # is then the same in the main process and in any worker (parallelism
    # comes from running trials side by side).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_trial(model, n, d, spec, gd_options, seed, key, stratify)


def _reason(exc: Exception) -> str:
    """A failure as a reason that trials share (residual and iteration counts dropped)."""
    msg = re.sub(r" \(residual [^()]* after \d+ iterations\)$", "", str(exc))
    return f"{type(exc).__name__}: {msg}"


def _run_trial(model, n, d, spec, gd_options, seed, key, stratify):
    """(metrics or None, reason or None, cluster counts)."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
    data = sample(model, n, d, rng, stratify=stratify)
    counts = np.bincount(data.k, minlength=model.n_clusters)
    try:
        out = _fit_and_score(model, data, spec, gd_options)
    except ConvergenceError as exc:
        out = _reason(exc)
    if isinstance(out, str):
        return None, out, counts
    return out, None, counts


def _fit_and_score(model, data, spec, gd_options):
    """Metrics of the trained classifier, or the reason it does not exist."""
    one_class = np.unique(data.y).size < 2
    if spec.method == "erm":
        return _erm_trial(model, data, spec)
    if spec.method == "svm":
        if spec.intercept and one_class:
            return ONE_CLASS
        try:
            fit = fit_max_margin(data.X, data.y, spec.margins[data.k], intercept=spec.intercept)
        except NotSeparableError:
            return NOT_SEPARABLE
        w, b = fit.w, fit.b
    else:
        res = train_vs(data.X, data.y, spec.loss, clusters=data.k, intercept=False, **gd_options)
        if np.mean(data.y * (data.X @ res.w) <= 0) > 0:
            return GD_TRAINING_ERRORS
        w, b = res.w, 0.0
    errors = classifier_errors(model, w, b)
    return _metrics(model, errors, float(np.linalg.norm(w)), float(b), spec.scale_free)


def _erm_trial(model, data, spec):
    from .erm import fit_erm
    K = model.n_clusters
    losses, lam = spec.loss, spec.lam
    if spec.intercept and np.unique(data.y).size < 2:
        return ONE_CLASS     # a one-class sample has no intercept minimiser
    try:
        fit = fit_erm(data.X, data.y, losses.as_list(), lam, clusters=data.k, intercept=spec.intercept)
    except NotSeparableError:
        return SEPARABLE_LAM0
    except ValueError as exc:
        if lam == 0 and str(exc).startswith("lam: lam = 0 with the square loss"):
            return "no unique least-squares minimiser (square loss, lam = 0)"
        raise
    margins = data.y * (data.X @ fit.w + fit.b)
    counts = np.bincount(data.k, minlength=K).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        train_error = np.bincount(data.k, weights=(margins < 0), minlength=K) / counts
        train_loss = np.bincount(data.k, weights=losses._value(margins, data.k), minlength=K) / counts
    errors = classifier_errors(model, fit.w, fit.b)
    return _metrics(model, errors, float(np.linalg.norm(fit.w)), float(fit.b), False,
                    {"train_error": train_error, "train_loss": train_loss})


# ----------------------------------------------------------------------------------------------
# the result


def _empty_reasons(shape) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(shape):
        out[idx] = {}
    return out


@dataclass(frozen=True, eq=False)
class MonteCarloResult(ReadOnlyResult):
    """Simulation summary at each point of the (gamma, delta) sweep.

    ``mean[name]``, ``se[name]`` (standard error of the mean over the valid
    trials) and ``theory[name]`` have shape ``S + metric shape`` with S the
    broadcast shape of gamma and delta.  ``trials[name]`` holds the raw
    per-trial values, shape ``S + (trials,) + metric shape`` (NaN for an
    invalid trial).  Metrics: ``errors`` (per cluster), ``q``, ``b``
    (exact max-margin only: a GD-trained w has no scale), and the model's
    own (``R_plus``, ``R_minus``, ``R_bal``, ``R``; for groups also ``R_yg``,
    ``DEO``, ``symm_DEO``, ``worst``); for regularised ERM (``lam`` given)
    also ``train_error`` and ``train_loss`` per cluster (NaN entries for a
    cluster without training samples are left out of the means).

    Invalid trials (module docstring): ``n_valid`` and ``n_invalid`` (shape
    S) count them, ``invalid_reasons[idx]`` is a dict ``{reason: count}`` per
    point (empty when every trial was valid).

    Realised fractions: ``counts`` (shape ``S + (trials, K)``) holds each
    trial's cluster counts; ``theory_trials[name]`` the theory at each valid
    trial's realised fractions (NaN for invalid trials, and where the trial's
    own value is NaN); ``theory_realised[name]`` its mean over the valid
    trials, shape like ``theory``.  Where it could not be evaluated for some
    valid trial, ``realised_unavailable[idx]`` says why (``{reason: count}``)
    and ``theory_realised`` is NaN there; :meth:`consistent` with
    ``realised=True`` then raises rather than compare.

    Read-only: every array is read-only and every dict (``mean``, ``se``,
    ``theory``, ``trials``, ``theory_realised``, ``theory_trials`` and the
    per-point reason counts) a read-only mapping; a result pickles.
    """

    gamma: np.ndarray
    delta: np.ndarray
    n: int
    d: np.ndarray
    method: str
    intercept: bool
    n_valid: np.ndarray
    mean: dict = field(repr=False)
    se: dict = field(repr=False)
    theory: dict = field(repr=False)
    trials: dict = field(repr=False)
    lam: np.ndarray | None = None
    n_invalid: np.ndarray | None = None
    invalid_reasons: np.ndarray | None = field(default=None, repr=False)
    counts: np.ndarray | None = field(default=None, repr=False)
    theory_realised: dict | None = field(default=None, repr=False)
    theory_trials: dict | None = field(default=None, repr=False)
    realised_unavailable: np.ndarray | None = field(default=None, repr=False)
    stratify: bool = False

    def _reference(self, name: str, realised: bool) -> np.ndarray:
        realised = boolean(realised, "realised")
        if name not in self.theory:
            raise ValueError(f"name must be one of {sorted(self.theory)}, got {_short(name)}")
        if not realised:
            return self.theory[name]
        missing = [idx for idx in np.ndindex(np.shape(self.gamma)) if self.realised_unavailable[idx]]
        if missing:
            idx = missing[0]
            raise ValueError(f"realised: the theory at the realised cluster fractions is unavailable at "
                             f"{len(missing)} point(s), e.g. gamma = {self.gamma[idx]:.6g}, delta = "
                             f"{self.delta[idx]:.6g}: {_listing(self.realised_unavailable[idx])}")
        return self.theory_realised[name]

    def z(self, name: str, realised: bool = False) -> np.ndarray:
        """(mean - theory) / se for a metric (theory at the realised fractions
        with ``realised=True``)."""
        theory = self._reference(name, realised)
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.mean[name] - theory) / self.se[name]

    def consistent(self, name: str, k: float = 4.0, realised: bool = False) -> np.ndarray:
        r"""Whether simulation and theory agree at every point:
        :math:`|\bar x - x_{theory}| \le k\,SE + a_n` with the finite-size
        allowance :math:`a_n = 2\max(1, |x_{theory}|)/n` for the O(1/n) bias of
        finite-n averages (the theory is the n -> infinity limit).

        ``realised=True`` compares with ``theory_realised``, the theory at each
        trial's realised cluster fractions averaged over the valid trials,
        which removes the O(1/n) bias of random cluster counts (module
        docstring); same k and allowance."""
        theory = self._reference(name, realised)
        if isinstance(k, (str, bytes, bool, np.bool_)) or not isinstance(k, (int, float, np.integer, np.floating)) \
                or not (np.isfinite(k) and k > 0):
            raise ValueError(f"k must be a finite number > 0 (standard errors), got {_short(k)}")
        allowance = 2.0 * np.maximum(1.0, np.abs(theory)) / self.n
        return np.abs(self.mean[name] - theory) <= k * self.se[name] + allowance

    def table(self, names=None) -> str:
        """Plain-text table of theory against simulation (mean +- se).

        ``names``: metric names (or one name) with one value per point, e.g.
        ``("R_bal", "q")``; an unknown or per-cluster name is a ValueError
        naming it.  Default: those of ``R_plus``, ``R_minus``, ``R_bal``,
        ``R`` the model has."""
        scalar = [nm for nm in self.mean if np.ndim(self.theory[nm]) == np.ndim(self.gamma)]
        if names is None:
            names = [nm for nm in ("R_plus", "R_minus", "R_bal", "R") if nm in scalar]
        else:
            if isinstance(names, str):
                names = (names,)
            if not isinstance(names, (list, tuple)) or not all(isinstance(nm, str) for nm in names):
                raise ValueError(f"names must be a metric name or a sequence of them, got {_short(names)}")
            unknown = [nm for nm in names if nm not in scalar]
            if unknown:
                raise ValueError(f"names: {_short(unknown[0])} is not a metric with one value per point; choose from "
                                 f"{sorted(scalar)}")
        lines = ["gamma    delta    d      valid  " + "  ".join(f"{nm:>24s}" for nm in names)]
        for idx in np.ndindex(np.shape(self.gamma)):
            cells = [f"{self.mean[nm][idx]:.4f}±{self.se[nm][idx]:.4f} ({self.theory[nm][idx]:.4f})"
                     for nm in names]
            lines.append(f"{self.gamma[idx]:<8.4g} {self.delta[idx]:<8.4g} {self.d[idx]:<6d} "
                         f"{self.n_valid[idx]:<6d} " + "  ".join(f"{c:>24s}" for c in cells))
        return "\n".join(lines)


def _listing(reasons: dict) -> str:
    return "; ".join(f"{count} x {reason}" for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1]))


# ----------------------------------------------------------------------------------------------
# the sweep


def monte_carlo(model: ClusterGMM, gamma, delta, n: int, trials: int, method="svm",
                intercept: bool = True, seed: int = 0, n_jobs: int = 1, backend: str = "loky",
                progress="auto", gd_options: dict | None = None, lam=None,
                stratify: bool = False) -> MonteCarloResult:
    r"""Simulate the classifiers of the theory and put the predictions beside them.

    Parameters
    ----------
    model : LabelGMM, GroupGMM or ClusterGMM
    gamma, delta : float or array_like (broadcast together)
        d/n and the margin parameter (CS-SVM delta, GS-SVM minority-group
        delta; for a plain ClusterGMM, ``delta`` is the K margins and is not
        broadcast).  With ``lam``, ``delta`` is the margin ratio of CDT, VS,
        VS-w and the hinge on a label or group model, read as
        :func:`~asymptotics.losses.resolve_loss` reads it (the hinge: the
        CS-SVM / GS-SVM margins), and is not read by the other losses.
    n : int
        Training samples per trial.
    trials : int
        Trials per point (at most :data:`MAX_TRIALS` in the whole sweep).
    method : "svm", a preset name (label models: see
        :func:`~asymptotics.losses.vs_preset`), ``"hinge"``, ``"square"`` or a
        :class:`~asymptotics.losses.Loss`
        ``"svm"`` solves the max-margin problem exactly.  Without ``lam`` a
        VS-loss is trained by normalised GD (no intercept) and compared with
        the max-margin classifier it converges to (margins 1/Delta); with
        ``lam`` the regularised ERM of the loss is solved exactly
        (:func:`~asymptotics.simulate.fit_erm`) and compared with
        :func:`~asymptotics.erm`.
    intercept : bool
        For ``"svm"`` and regularised ERM (GD trains without intercept).
    seed : int
    n_jobs : int or None
        Parallel workers (joblib): 1 ... :func:`max_jobs`, or joblib's
        negative counts (-1: all cores; None: 1).  Never more workers than
        trials.
    backend : {"loky", "threading", "sequential", "dask"}
        ``"dask"`` runs the trials on the current ``dask.distributed`` client
        (install the ``dask`` extra and start a Client first).
    progress : bool or "auto"
        tqdm progress bar; "auto" shows it for 200 trials or more.
    gd_options : dict
        Passed to :func:`~.vsloss.train_vs` (keys ``method``, ``lr``,
        ``max_iter``, ``gtol``, ``n_records``; default: ``lr=1.0``,
        ``max_iter=20000``, ``gtol=0``: deep in the terminal phase).  Each
        trial's work bound (:func:`~.vsloss.check_gd_work`: ``max_iter x
        (n min(n, d) + 9e4) <= 1e11``) is checked, naming ``gd_options``,
        before any work.
    lam : float or array_like, optional
        Ridge of a regularised ERM (broadcast with gamma and delta); lam = 0
        trials on a separable sample are counted invalid (no minimiser).
    stratify : bool
        Draw exact cluster counts (:func:`~.sampling.stratified_counts`)
        instead of i.i.d. cluster labels.

    Returns
    -------
    MonteCarloResult

    Raises
    ------
    ValueError
        A malformed argument (named), a sweep above the memory or trial
        budget (module docstring), or a point where every trial was invalid
        for a reason other than those below.
    NotSeparableError
        The theory has no classifier at some point (gamma <= gamma_star), or
        no trial of a point was separable.
    ConvergenceError
        Every trial of a point failed, at least one by a solver failure (the
        message lists the reasons).
    """
    import joblib  # noqa: F401  (a dependency: fail here, not in a worker)

    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a LabelGMM, GroupGMM or ClusterGMM, got {type(model).__name__}")
    for value, name in ((n, "n"), (trials, "trials"), (seed, "seed")):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < (0 if name == "seed" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} integer, got {_short(value)}")
    n, trials = int(n), int(trials)
    intercept = boolean(intercept, "intercept")
    stratify = boolean(stratify, "stratify")
    if not isinstance(backend, str) or backend not in ("loky", "threading", "sequential", "dask"):
        raise ValueError(f"backend must be 'loky', 'threading', 'sequential' or 'dask', got {_short(backend)}")
    n_jobs = _check_n_jobs(n_jobs)
    if not (isinstance(progress, (bool, np.bool_)) or (isinstance(progress, str) and progress == "auto")):
        raise ValueError(f"progress must be True, False or 'auto', got {_short(progress)}")
    gamma = positive_array(gamma, "gamma")
    if lam is not None:
        if gd_options is not None:
            raise ValueError("gd_options: only for gradient-descent training (a VS-loss without lam)")
        shape, g_flat, delta_arr, lam_arr, specs = _erm_points(model, gamma, delta, method, intercept, lam)
        method_name = specs[0].loss.name
    else:
        shape, g_flat, delta_arr, specs, method_name, opts = _max_margin_points(model, gamma, delta, method,
                                                                               intercept, gd_options)
        lam_arr = None
    gd_opts = opts if lam is None and method_name != "svm" else None
    if g_flat.size * trials > MAX_TRIALS:
        raise ValueError(f"trials: {g_flat.size} points x {trials} trials = {g_flat.size * trials} exceeds the "
                         f"budget of {MAX_TRIALS} trials per sweep")
    dims = _check_sizes(model, n, g_flat, specs)
    if gd_opts is not None:
        check_gd_work(gd_opts["max_iter"], 1, n, max(dims), name="gd_options")

    # theory first (cheap; raises NotSeparableError before any simulation)
    theory_list = [_theory(model, dim / n, spec) for dim, spec in zip(dims, specs)]
    call = joblib.delayed(_trial)
    tasks = [(j, t) for j in range(len(dims)) for t in range(trials)]
    jobs = [call(model, n, dims[j], specs[j], gd_opts, seed, (dims[j], t), stratify) for j, t in tasks]
    outputs = _execute(jobs, backend, n_jobs, progress)
    summary = _summarise(model, n, dims, specs, tasks, outputs, theory_list, trials, shape)
    _raise_if_all_invalid(summary, g_flat, np.broadcast_to(delta_arr, shape).reshape(-1), dims, n, specs,
                          isinstance(model, (LabelGMM, GroupGMM)))
    mean, se, theory, per_trial, n_valid, n_invalid, reasons, counts, realised, realised_trials, unavailable = summary
    return MonteCarloResult(
        gamma=np.broadcast_to(gamma, shape).copy(), delta=np.broadcast_to(delta_arr, shape).copy(), n=n,
        d=np.array(dims).reshape(shape), method=method_name,
        intercept=intercept if method_name == "svm" or lam is not None else False,
        n_valid=n_valid, mean=mean, se=se, theory=theory, trials=per_trial,
        lam=None if lam_arr is None else np.broadcast_to(lam_arr, shape).copy(),
        n_invalid=n_invalid, invalid_reasons=reasons, counts=counts, theory_realised=realised,
        theory_trials=realised_trials, realised_unavailable=unavailable, stratify=stratify)


def _max_margin_points(model, gamma, delta, method, intercept, gd_options):
    """Broadcast shape, flat gamma, delta array, one _Spec per point, the
    method's name and the GD options, for exact max-margin or GD training."""
    plain = not isinstance(model, (LabelGMM, GroupGMM))
    if plain:
        margins_fixed = cluster_margins(model, delta)
        delta_arr = np.zeros(())
        shape = gamma.shape
    else:
        delta_arr = positive_array(delta, "delta")
        try:
            shape = np.broadcast_shapes(gamma.shape, delta_arr.shape)
        except ValueError:
            raise ValueError(f"gamma and delta must broadcast together, got shapes {gamma.shape} and "
                             f"{delta_arr.shape}") from None
    g_flat = np.broadcast_to(gamma, shape).reshape(-1)
    d_flat = np.broadcast_to(delta_arr, shape).reshape(-1)

    loss = None
    if isinstance(method, VSLoss):
        loss = method
        method_name = loss.name
        cluster_losses(loss, model.n_clusters, model.labels)       # sizes fit the model (ValueError: loss)
    elif isinstance(method, str) and method == "svm":
        method_name = "svm"
    elif isinstance(method, str) and method in PRESETS:
        if not isinstance(model, LabelGMM):
            raise ValueError("method: the named presets are label losses; pass a VSLoss for other models")
        method_name = method
    else:
        raise ValueError(f"method must be 'svm', one of {PRESETS} or a VSLoss, got {_short(method)}")
    if gd_options is not None and method_name == "svm":
        raise ValueError("gd_options: only for gradient-descent training (a VS-loss), not method='svm'")
    if gd_options is not None and not isinstance(gd_options, dict):
        raise ValueError(f"gd_options must be a dict, got {type(gd_options).__name__}")
    unknown = sorted(set(gd_options or {}) - set(_GD_KEYS))
    if unknown:
        raise ValueError(f"gd_options: unknown option(s) {unknown}; allowed: {list(_GD_KEYS)}")
    opts = {"lr": 1.0, "max_iter": 20_000, "gtol": 0.0, "method": "normalized"}
    opts.update(gd_options or {})
    if method_name != "svm":
        try:
            check_gd_options(**opts)
        except ValueError as exc:
            raise ValueError(f"gd_options: {exc}") from None

    specs = []
    for g, dl in zip(g_flat, d_flat):
        if method_name == "svm":
            margins = margins_fixed if plain else cluster_margins(model, dl)
            specs.append(_Spec("svm", margins, None, None, intercept))
        else:
            point_loss = loss if loss is not None else vs_preset(method, model.prior, float(dl))
            margins = cluster_losses(point_loss, model.n_clusters, model.labels).implied_margins
            specs.append(_Spec("gd", margins, point_loss, None, False))
    return shape, g_flat, delta_arr, specs, method_name, opts


def _erm_points(model, gamma, delta, method, intercept, lam):
    """Broadcast shape, flat gamma, delta and lam arrays and one _Spec per
    point for regularised ERM (``lam`` given)."""
    lam = finite_array(lam, "lam")
    if lam.size == 0 or np.any(lam < 0):
        raise ValueError(f"lam must be finite and >= 0, got {_short(lam.tolist() if lam.ndim else float(lam))}")
    if isinstance(method, str) and method == "svm":
        raise ValueError("method: with lam give a loss (a preset name, 'hinge', 'square' or a Loss), not 'svm'")
    if not (isinstance(method, Loss) or (isinstance(method, str) and method in LOSS_NAMES)
            or (isinstance(method, (list, tuple)) and method and all(isinstance(m, Loss) for m in method))):
        raise ValueError(f"method must be one of {LOSS_NAMES} or a Loss when lam is given, got {_short(method)}")
    named = isinstance(method, str)
    delta_arr = positive_array(delta, "delta") if named else np.ones(())
    try:
        shape = np.broadcast_shapes(gamma.shape, delta_arr.shape, lam.shape)
    except ValueError:
        raise ValueError(f"gamma, delta and lam must broadcast together, got shapes {gamma.shape}, "
                         f"{delta_arr.shape} and {lam.shape}") from None
    g_flat, d_flat, l_flat = (np.broadcast_to(a, shape).reshape(-1) for a in (gamma, delta_arr, lam))
    specs = []
    # delta is a margin ratio only for the names that take one (on a label or group model; a plain
    # ClusterGMM's delta is its K max-margin margins): resolve_loss reads it as erm and the CLI do
    ratio = named and method in MARGIN_RATIO_LOSSES and isinstance(model, (LabelGMM, GroupGMM))
    for dl, lm in zip(d_flat, l_flat):
        losses = resolve_loss(method, model, float(dl) if ratio else None)
        specs.append(_Spec("erm", None, losses, float(lm), intercept))
    return shape, g_flat, delta_arr, lam, specs


def _check_sizes(model, n, g_flat, specs) -> list:
    """The dimension d = round(gamma n) of each point, after checking the
    memory budget and the model's fit in d coordinates, before any work."""
    with np.errstate(over="ignore"):
        d_real = np.maximum(1.0, np.rint(np.asarray(g_flat, dtype=float) * n))
    hi = float(d_real.max())
    gram_needed = hi >= n
    check_memory(n, "n", f"n = {n} samples (even one feature each)")
    check_memory(n * hi, "gamma" if hi >= n else "n",
                 f"the largest sample, n x d = {n} x {hi:.6g} (gamma = {g_flat.max():.6g})")
    dims = [int(d) for d in d_real]
    gram = any(s.method == "svm" or (s.method == "erm" and s.lam > 0 and np.any(s.loss.kind == HINGE))
               for s in specs) or gram_needed
    if gram:
        check_memory(n * n, "n", f"the n x n Gram matrix of n = {n} samples")
    for dim in sorted(set(dims)):
        try:
            embedded_means(model, dim)
            noise_scales(model, dim)
        except ValueError as exc:
            raise ValueError(f"gamma: at d = round(gamma n) = {dim}: {exc}") from None
    return dims


def _execute(jobs: list, backend: str, n_jobs, progress) -> list:
    """Run the trials (joblib, or the current dask.distributed client)."""
    import joblib
    show = (len(jobs) >= 200) if progress == "auto" else bool(progress)
    if backend == "dask":
        try:
            from distributed import get_client
            get_client()
        except (ImportError, ValueError) as exc:
            raise ValueError("backend: 'dask' needs the dask extra and a running dask.distributed Client "
                             f"({exc})") from None
        with joblib.parallel_config(backend="dask"):
            return list(joblib.Parallel(n_jobs=-1)(jobs))
    if n_jobs > 0:
        n_jobs = min(n_jobs, len(jobs))        # never more workers than trials
    runner = joblib.Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")
    outputs = runner(jobs)
    if show:
        from tqdm.auto import tqdm
        outputs = tqdm(outputs, total=len(jobs), desc="Monte-Carlo trials")
    return list(outputs)


def _summarise(model, n, dims, specs, tasks, outputs, theory_list, trials, shape):
    """Means, standard errors, theory (at the priors and at the realised
    fractions), raw trials and the invalid-trial bookkeeping per point."""
    names = list(theory_list[0])
    P, K = len(theory_list), model.n_clusters
    tails = {nm: np.shape(theory_list[0][nm]) for nm in names}
    raw = {nm: np.full((P, trials) + tails[nm], np.nan) for nm in names}
    real = {nm: np.full((P, trials) + tails[nm], np.nan) for nm in names}
    counts = np.zeros((P, trials, K), dtype=np.int64)
    valid = np.zeros((P, trials), dtype=bool)
    reasons = [dict() for _ in range(P)]
    unavailable = [dict() for _ in range(P)]
    cache = {}
    for (j, t), (out, reason, cnt) in zip(tasks, outputs):
        counts[j, t] = cnt
        if out is None:
            reasons[j][reason] = reasons[j].get(reason, 0) + 1
            continue
        valid[j, t] = True
        for nm in names:
            raw[nm][j, t] = out[nm]
        key = (j, tuple(int(c) for c in cnt))
        if key not in cache:
            try:
                cache[key] = _realised_theory(model, n, dims[j], specs[j], np.asarray(cnt))
            except _Unavailable as exc:
                cache[key] = str(exc)
        th = cache[key]
        if isinstance(th, str):
            unavailable[j][th] = unavailable[j].get(th, 0) + 1
            continue
        for nm in names:
            real[nm][j, t] = np.where(np.isnan(raw[nm][j, t]), np.nan, th[nm])
    n_valid = valid.sum(axis=1)
    mean, se, theory, per_trial, realised, realised_trials = {}, {}, {}, {}, {}, {}
    for nm in names:
        vals = raw[nm]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN slices: a cluster never sampled
            m = np.nanmean(vals, axis=1)
            sd = np.nanstd(vals, axis=1, ddof=1)
            nv = np.sum(~np.isnan(vals), axis=1)
            rm = np.nanmean(real[nm], axis=1)
        s = np.where(nv > 1, sd / np.sqrt(np.maximum(nv, 1)), np.inf)
        tail = tails[nm]
        mean[nm] = m.reshape(shape + tail)
        se[nm] = s.reshape(shape + tail)
        theory[nm] = np.array([th[nm] for th in theory_list]).reshape(shape + tail)
        per_trial[nm] = vals.reshape(shape + (trials,) + tail)
        for j in range(P):
            if unavailable[j]:
                rm[j] = np.nan
        realised[nm] = rm.reshape(shape + tail)
        realised_trials[nm] = real[nm].reshape(shape + (trials,) + tail)
    reasons_arr, unavailable_arr = _empty_reasons(P), _empty_reasons(P)
    for j in range(P):
        reasons_arr[j], unavailable_arr[j] = reasons[j], unavailable[j]
    return (mean, se, theory, per_trial, n_valid.reshape(shape), (trials - n_valid).reshape(shape),
            reasons_arr.reshape(shape), counts.reshape(shape + (trials, K)), realised, realised_trials,
            unavailable_arr.reshape(shape))


def _raise_if_all_invalid(summary, g_flat, d_flat, dims, n, specs, labelled):
    """A point without a single valid trial has nothing to report: raise, with
    the reasons (NotSeparableError when no sample had a classifier,
    ConvergenceError when a fit failed, else ValueError)."""
    n_valid = summary[4].reshape(-1)
    reasons = summary[6].reshape(-1)
    for j in np.flatnonzero(n_valid == 0):
        spec = specs[j]
        where = f"gamma = {g_flat[j]:.6g} (d = {dims[j]}, n = {n})"
        if spec.method == "erm":
            where += f", lam = {spec.lam:.6g}"
        elif labelled:
            where += f", delta = {d_flat[j]:.6g}"
        listing = _listing(reasons[j])
        found = set(reasons[j])
        if found <= set(_NO_CLASSIFIER):
            exc = NotSeparableError(dims[j] / n, float("nan"), spec.intercept)
            exc.args = (f"{exc.args[0]}; every trial at {where} was invalid: {listing}",)
            raise exc
        if any(r.startswith("ConvergenceError") for r in found):
            raise ConvergenceError(f"every trial at {where} was invalid: {listing}")
        if found == {ONE_CLASS}:
            raise ValueError(f"n: every trial at {where} drew a single class ({listing}); raise n or pass "
                             "stratify=True")
        if found == {GD_TRAINING_ERRORS}:
            raise ValueError(f"gd_options: in every trial at {where} gradient descent left training errors; "
                             "raise max_iter")
        raise ValueError(f"trials: every trial at {where} was invalid: {listing}")
