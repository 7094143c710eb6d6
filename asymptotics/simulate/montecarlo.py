r"""Theory against simulation: Monte-Carlo sweeps side by side with the
asymptotic predictions.

Each trial draws ``n`` samples in ``d = round(gamma n)`` dimensions, trains
the classifier (exact max-margin, a VS-loss by normalised GD, or the exact
regularised ERM minimiser of any loss when ``lam`` is given) and scores it
*exactly* from the known means (:func:`~.sampling.classifier_errors`), so the
only randomness is the training set's.  The prediction is evaluated at the
realised ratio ``d / n``.

Reproducibility: trial ``t`` at dimension ``d`` draws from
``SeedSequence(seed, spawn_key=(d, t))``, so the numbers do not depend on
``n_jobs``, the backend or the order in which workers finish, and every delta
at the same d sees the same training sets (common random numbers: curves in
delta are smooth, and the CS-SVM shift identity holds trial by trial).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validation import boolean, positive_array
from ..errors import NotSeparableError
from ..group import group_margins
from ..models import ClusterGMM, GroupGMM, LabelGMM
from ..solver import max_margin
from .sampling import classifier_errors, sample
from .svm import fit_max_margin
from ..erm import erm
from ..losses import LOSS_NAMES, PRESETS, Loss, VSLoss, cluster_losses, resolve_loss, vs_preset
from .vsloss import train_vs

__all__ = ["MonteCarloResult", "monte_carlo", "cluster_margins"]


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


def _theory_erm(model, gamma, losses, lam, intercept):
    r = erm(model, gamma, losses, lam, intercept)
    return _metrics(model, np.asarray(r.errors), float(r.q), float(r.b), False,
                    {"train_error": np.asarray(r.train_error), "train_loss": np.asarray(r.train_loss)})


def _theory(model, gamma, margins, intercept, scale_free):
    s = max_margin(model, gamma, margins, intercept=intercept)
    return _metrics(model, np.asarray(s.errors), float(s.q), float(s.b), scale_free)


def _trial(model, n, d, margins, method, loss, intercept, gd_options, seed, key, lam=None):
    # One BLAS thread everywhere: the summation order, hence every last bit,
    # is then the same in the main process and in any worker (parallelism
    # comes from running trials side by side).
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _run_trial(model, n, d, margins, method, loss, intercept, gd_options, seed, key, lam)


def _run_trial(model, n, d, margins, method, loss, intercept, gd_options, seed, key, lam=None):
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))
    data = sample(model, n, d, rng)
    if lam is not None:
        return _erm_trial(model, data, loss, lam, intercept)
    if method == "svm":
        try:
            fit = fit_max_margin(data.X, data.y, margins[data.k], intercept=intercept)
        except NotSeparableError:
            return None
        w, b = fit.w, fit.b
    else:
        res = train_vs(data.X, data.y, loss, clusters=data.k, intercept=False, **gd_options)
        if np.mean(data.y * (data.X @ res.w) <= 0) > 0:
            return None   # not separated: not in the terminal phase the theory describes
        w, b = res.w, 0.0
    errors = classifier_errors(model, w, b)
    return _metrics(model, errors, float(np.linalg.norm(w)), float(b), method != "svm")


def _erm_trial(model, data, losses, lam, intercept):
    from .erm import fit_erm
    K = model.n_clusters
    if intercept and np.unique(data.y).size < 2:
        return None    # a one-class sample has no intercept minimiser
    try:
        fit = fit_erm(data.X, data.y, losses.as_list(), lam, clusters=data.k, intercept=intercept)
    except NotSeparableError:
        return None    # lam = 0 on a separable sample: no minimiser
    margins = data.y * (data.X @ fit.w + fit.b)
    counts = np.bincount(data.k, minlength=K).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        train_error = np.bincount(data.k, weights=(margins < 0), minlength=K) / counts
        train_loss = np.bincount(data.k, weights=losses.value(margins, data.k), minlength=K) / counts
    errors = classifier_errors(model, fit.w, fit.b)
    return _metrics(model, errors, float(np.linalg.norm(fit.w)), float(fit.b), False,
                    {"train_error": train_error, "train_loss": train_loss})


@dataclass(frozen=True)
class MonteCarloResult:
    """Simulation summary at each point of the (gamma, delta) sweep.

    ``mean[name]``, ``se[name]`` (standard error of the mean over the valid
    trials) and ``theory[name]`` have shape ``S + metric shape`` with S the
    broadcast shape of gamma and delta.  ``trials[name]`` holds the raw
    per-trial values, shape ``S + (trials,) + metric shape`` (NaN for a trial
    that was not separable).  Metrics: ``errors`` (per cluster), ``q``, ``b``
    (exact max-margin only: a GD-trained w has no scale), and the model's
    own (``R_plus``, ``R_minus``, ``R_bal``, ``R``; for groups also ``R_yg``,
    ``DEO``, ``symm_DEO``, ``worst``); for regularised ERM (``lam`` given)
    also ``train_error`` and ``train_loss`` per cluster (NaN entries for a
    cluster without training samples are left out of the means).
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

    def z(self, name: str) -> np.ndarray:
        """(mean - theory) / se for a metric."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self.mean[name] - self.theory[name]) / self.se[name]

    def consistent(self, name: str, k: float = 4.0) -> np.ndarray:
        r"""Whether simulation and theory agree at every point:
        :math:`|\bar x - x_{theory}| \le k\,SE + a_n` with the finite-size
        allowance :math:`a_n = 2\max(1, |x_{theory}|)/n` for the O(1/n) bias of
        finite-n averages (the theory is the n -> infinity limit)."""
        theory = self.theory[name]
        allowance = 2.0 * np.maximum(1.0, np.abs(theory)) / self.n
        return np.abs(self.mean[name] - theory) <= k * self.se[name] + allowance

    def table(self, names=("R_plus", "R_minus", "R_bal", "R")) -> str:
        """Plain-text table of theory against simulation (mean +- se)."""
        names = [nm for nm in names if nm in self.mean and np.ndim(self.theory[nm]) == np.ndim(self.gamma)]
        lines = ["gamma    delta    d      valid  " + "  ".join(f"{nm:>24s}" for nm in names)]
        for idx in np.ndindex(np.shape(self.gamma)):
            cells = [f"{self.mean[nm][idx]:.4f}±{self.se[nm][idx]:.4f} ({self.theory[nm][idx]:.4f})"
                     for nm in names]
            lines.append(f"{self.gamma[idx]:<8.4g} {self.delta[idx]:<8.4g} {self.d[idx]:<6d} "
                         f"{self.n_valid[idx]:<6d} " + "  ".join(f"{c:>24s}" for c in cells))
        return "\n".join(lines)


def monte_carlo(model: ClusterGMM, gamma, delta, n: int, trials: int, method="svm",
                intercept: bool = True, seed: int = 0, n_jobs: int = 1, backend: str = "loky",
                progress="auto", gd_options: dict | None = None, lam=None) -> MonteCarloResult:
    r"""Simulate the classifiers of the theory and put the predictions beside them.

    Parameters
    ----------
    model : LabelGMM, GroupGMM or ClusterGMM
    gamma, delta : float or array_like (broadcast together)
        d/n and the margin parameter (CS-SVM delta, GS-SVM minority-group
        delta; for a plain ClusterGMM, ``delta`` is the K margins and is not
        broadcast).  With ``lam``, ``delta`` is the margin ratio of a preset
        loss (CDT, VS, VS-w) and is ignored by the others.
    n : int
        Training samples per trial.
    trials : int
        Trials per point.
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
    n_jobs : int
        Parallel workers (joblib).
    backend : {"loky", "threading", "sequential", "dask"}
        ``"dask"`` runs the trials on the current ``dask.distributed`` client
        (install the ``dask`` extra and start a Client first).
    progress : bool or "auto"
        tqdm progress bar; "auto" shows it for 200 trials or more.
    gd_options : dict
        Passed to :func:`~.vsloss.train_vs` (default: ``lr=1.0``,
        ``max_iter=20000``, ``gtol=0``: deep in the terminal phase).
    lam : float or array_like, optional
        Ridge of a regularised ERM (broadcast with gamma and delta); lam = 0
        trials on a separable sample are counted invalid (no minimiser).

    Returns
    -------
    MonteCarloResult
    """
    import joblib

    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a LabelGMM, GroupGMM or ClusterGMM, got {type(model).__name__}")
    for value, name in ((n, "n"), (trials, "trials"), (seed, "seed")):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < (0 if name == "seed" else 1):
            raise ValueError(f"{name} must be a {'non-negative' if name == 'seed' else 'positive'} integer, got {value!r}")
    intercept = boolean(intercept, "intercept")
    if backend not in ("loky", "threading", "sequential", "dask"):
        raise ValueError(f"backend must be 'loky', 'threading', 'sequential' or 'dask', got {backend!r}")
    gamma = positive_array(gamma, "gamma")
    if lam is not None:
        return _monte_carlo_erm(model, gamma, delta, n, trials, method, intercept, seed, n_jobs, backend,
                                progress, lam)
    plain = not isinstance(model, (LabelGMM, GroupGMM))
    if plain:
        margins_fixed = cluster_margins(model, delta)
        delta_arr = np.zeros(())
        shape = gamma.shape
    else:
        delta_arr = positive_array(delta, "delta")
        shape = np.broadcast_shapes(gamma.shape, delta_arr.shape)
    g_flat = np.broadcast_to(gamma, shape).reshape(-1)
    d_flat = np.broadcast_to(delta_arr, shape).reshape(-1)

    loss = None
    if isinstance(method, VSLoss):
        loss = method
        method_name = loss.name
    elif method == "svm":
        method_name = "svm"
    elif method in PRESETS:
        if not isinstance(model, LabelGMM):
            raise ValueError("method: the named presets are label losses; pass a VSLoss for other models")
        method_name = method
    else:
        raise ValueError(f"method must be 'svm', one of {PRESETS} or a VSLoss, got {method!r}")
    opts = {"lr": 1.0, "max_iter": 20_000, "gtol": 0.0, "method": "normalized"}
    opts.update(gd_options or {})

    tasks, points = [], []
    for j, (g, dl) in enumerate(zip(g_flat, d_flat)):
        dim = max(1, int(round(g * n)))
        if plain:
            margins = margins_fixed
        else:
            margins = cluster_margins(model, dl)
        if method_name != "svm":
            point_loss = loss if loss is not None else vs_preset(method, model.prior, dl)
            margins = cluster_losses(point_loss, model.n_clusters, model.labels).implied_margins
        else:
            point_loss = None
        points.append((dim, margins))
        for t in range(trials):
            tasks.append((j, t, dim, margins, point_loss))

    call = joblib.delayed(_trial)
    jobs = [call(model, n, dim, margins, method_name, point_loss, intercept, opts, seed, (dim, t))
            for j, t, dim, margins, point_loss in tasks]
    outputs = _execute(jobs, backend, n_jobs, progress)
    # theory at the realised d/n, same intercept convention as the simulation
    theory_list = [_theory(model, dim / n, margins, intercept if method_name == "svm" else False,
                           method_name != "svm") for dim, margins in points]
    mean, se, theory, per_trial, n_valid = _summarise(tasks, outputs, theory_list, trials, shape, n,
                                                      [p[0] for p in points], intercept)
    dims = np.array([p[0] for p in points]).reshape(shape)
    return MonteCarloResult(gamma=np.broadcast_to(gamma, shape).copy(), delta=np.broadcast_to(delta_arr, shape).copy(),
                            n=n, d=dims, method=method_name, intercept=intercept if method_name == "svm" else False,
                            n_valid=n_valid, mean=mean, se=se, theory=theory, trials=per_trial)


def _monte_carlo_erm(model, gamma, delta, n, trials, method, intercept, seed, n_jobs, backend, progress, lam):
    """monte_carlo for regularised ERM (``lam`` given): exact fits and erm() theory."""
    lam = np.asarray(lam, dtype=float) if not isinstance(lam, np.ndarray) else lam
    if lam.size == 0 or not np.all(np.isfinite(lam)) or np.any(lam < 0):
        raise ValueError(f"lam must be finite and >= 0, got {lam!r}")
    if isinstance(method, str) and method == "svm":
        raise ValueError("method: with lam give a loss (a preset name, 'hinge', 'square' or a Loss), not 'svm'")
    if not (isinstance(method, Loss) or (isinstance(method, str) and method in LOSS_NAMES)
            or (isinstance(method, (list, tuple)) and method and all(isinstance(m, Loss) for m in method))):
        raise ValueError(f"method must be one of {LOSS_NAMES} or a Loss when lam is given, got {method!r}")
    named = isinstance(method, str)
    delta_arr = positive_array(delta, "delta") if named else np.ones(())
    try:
        shape = np.broadcast_shapes(gamma.shape, delta_arr.shape, lam.shape)
    except ValueError:
        raise ValueError(f"gamma, delta and lam must broadcast together, got shapes {gamma.shape}, "
                         f"{delta_arr.shape} and {lam.shape}") from None
    g_flat, d_flat, l_flat = (np.broadcast_to(a, shape).reshape(-1) for a in (gamma, delta_arr, lam))
    tasks, points = [], []
    for j, (g, dl, lm) in enumerate(zip(g_flat, d_flat, l_flat)):
        dim = max(1, int(round(g * n)))
        losses = resolve_loss((method, float(dl)) if named else method, model)
        points.append((dim, losses, float(lm)))
        for t in range(trials):
            tasks.append((j, t, dim, losses, float(lm)))
    import joblib

    call = joblib.delayed(_trial)
    jobs = [call(model, n, dim, None, "erm", losses, intercept, None, seed, (dim, t), lm)
            for j, t, dim, losses, lm in tasks]
    outputs = _execute(jobs, backend, n_jobs, progress)
    theory_list = [_theory_erm(model, dim / n, losses, lm, intercept) for dim, losses, lm in points]
    mean, se, theory, per_trial, n_valid = _summarise(tasks, outputs, theory_list, trials, shape, n,
                                                      [p[0] for p in points], intercept)
    name = points[0][1].name
    return MonteCarloResult(gamma=np.broadcast_to(gamma, shape).copy(), delta=np.broadcast_to(delta_arr, shape).copy(),
                            n=n, d=np.array([p[0] for p in points]).reshape(shape), method=name, intercept=intercept,
                            n_valid=n_valid, mean=mean, se=se, theory=theory, trials=per_trial,
                            lam=np.broadcast_to(lam, shape).copy())


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
    runner = joblib.Parallel(n_jobs=n_jobs, backend=backend, return_as="generator")
    outputs = runner(jobs)
    if show:
        from tqdm.auto import tqdm
        outputs = tqdm(outputs, total=len(jobs), desc="Monte-Carlo trials")
    return list(outputs)


def _summarise(tasks, outputs, theory_list, trials, shape, n, dims, intercept):
    """Means, standard errors, theory and raw trials per point and metric."""
    names = list(theory_list[0])
    P = len(theory_list)
    raw = {nm: np.full((P, trials) + np.shape(theory_list[0][nm]), np.nan) for nm in names}
    for (j, t, *_), out in zip(tasks, outputs):
        if out is not None:
            for nm in names:
                raw[nm][j, t] = out[nm]
    valid = ~np.isnan(raw["errors"][:, :, 0])
    n_valid = valid.sum(axis=1)
    if np.any(n_valid == 0):
        j = int(np.argmin(n_valid))
        raise NotSeparableError(float(dims[j] / n), float("nan"), intercept)
    mean, se, theory, per_trial = {}, {}, {}, {}
    for nm in names:
        vals = raw[nm]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # all-NaN slices: a cluster never sampled
            m = np.nanmean(vals, axis=1)
            sd = np.nanstd(vals, axis=1, ddof=1)
            nv = np.sum(~np.isnan(vals), axis=1)
        s = np.where(nv > 1, sd / np.sqrt(np.maximum(nv, 1)), np.inf)
        tail = np.shape(theory_list[0][nm])
        mean[nm] = m.reshape(shape + tail)
        se[nm] = s.reshape(shape + tail)
        theory[nm] = np.array([th[nm] for th in theory_list]).reshape(shape + tail)
        per_trial[nm] = vals.reshape(shape + (trials,) + tail)
    return mean, se, theory, per_trial, n_valid.reshape(shape)
