r"""Optimal margins: tune any metric over any number of cluster margins, with
exact gradients, and trace Pareto fronts.

The max-margin classifier depends on the margins only through their ratios
(scaling every margin scales w), so the free parameters are the logarithms
of the margins of chosen *margin groups* (clusters sharing one margin), with
every other cluster at margin 1:

* ``"minority"``: one margin, that of the minority class (label model:
  cluster 0 — the CS-SVM's delta) or of the minority group g = 1 in both
  classes (group model — the GS-SVM's delta);
* ``"per-cluster"``: every cluster its own margin except the one with the
  largest prior, fixed at 1 (the refined GS-SVM for a group model);
* a list of lists of cluster indices: one margin per list.

Each evaluation is one solve (the single-point fast path) and one
:func:`~asymptotics.sensitivity` (exact gradients by the implicit function
theorem).  Objectives: ``"R"``, ``"R_bal"``, ``"R_subgroup_bal"``,
``"worst"`` (as an epigraph: minimise t subject to every subgroup error
<= t), ``"abs_DEO"`` (minimised as DEO^2, which has the same minimisers and
is smooth) or a callable of the result (gradient by central differences).
Constraints ``{"abs_DEO": eps}`` (two smooth inequalities +-DEO <= eps),
``{"worst": eps}`` (every subgroup error <= eps) or ``{metric: bound}``.
SLSQP solves the problem in log-margins within [-12, 12], the built-in
metrics as their logarithms (from the errors' logarithms, so that errors
underflowing to 0 do not flatten them), from several starts: the SVM, the
closed forms where they apply (``delta_star``, ``delta_min_error``,
``delta_equal_opportunity``), the one-margin optimum, and a sweep's best
point; an unconstrained interior optimum is then polished by Newton's method
on the exact gradient.  ``success`` needs a certificate (``MarginOptimum.status``):
where every error is saturated at 0 or 1 the gradient vanishes to double
precision and proves nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import _short, boolean, finite_array, positive_array, positive_float
from .errors import InfeasibleError, NotSupportedError
from .models import ClusterGMM, GroupGMM, LabelGMM
from .results import ReadOnlyResult, frozen_metrics
from .sensitivity import sensitivity
from .solver import max_margin, separability_threshold

__all__ = ["MarginOptimum", "optimize_margins", "ParetoFront", "pareto_front", "OBJECTIVES"]

OBJECTIVES = ("R", "R_bal", "R_subgroup_bal", "worst", "abs_DEO")
CONSTRAINT_METRICS = ("R", "R_bal", "R_subgroup_bal", "R_plus", "R_minus", "worst", "abs_DEO")
LOG_BOUND = 12.0


@dataclass(frozen=True, eq=False)
class MarginOptimum(ReadOnlyResult):
    """Outcome of :func:`optimize_margins`.

    Attributes
    ----------
    margins : ndarray (K,)
        The optimal margin of each cluster (the reference cluster at 1).
    free : ndarray
        The optimal free margins, one per margin group.
    groups : tuple of tuples
        The clusters of each free margin.
    objective : str
    value : float
        The objective there (``abs_DEO``: |DEO|).
    metrics : mapping
        The model's metrics at the optimum (and ``errors``).
    result : MaxMarginResult
        The max-margin solution at the optimal margins.
    kkt : float
        Optimality residual of the problem as solved (R, R_bal and
        R_subgroup_bal as their logarithms, ``abs_DEO`` as DEO^2, ``worst``
        as its epigraph): the gradient of the Lagrangian in
        log-margins (multipliers of the active constraints by non-negative
        least squares; at a bound e^{+-12} only the part pointing into the
        box) plus any constraint violation; unconstrained: |gradient|.
    attainable : bool
        False when a free margin ran to the bound e^{+-12}: the optimum is
        the limit 0 or inf (as ``delta_star`` reports).
    success : bool
        True only with a certificate: ``status`` 0 or 1.
    status : int
        As scipy's: 0 optimum attained (KKT residual below 1e-6 times
        min(1, the gradient scale of the objective's terms)); 1 the
        infimum is a limit (a margin runs off to 0 or inf; KKT holds with
        the bound active); 2 the objective is flat to double precision at
        the point (every error it is made of saturated at 0 or 1: a zero
        gradient there certifies nothing; the value is the best among the
        starts); 3 not converged (KKT residual above tolerance).
    message : str
        What ``status`` means here, with the solver's own message.
    iterations : int
    """

    margins: np.ndarray
    free: np.ndarray
    groups: tuple
    objective: str
    value: float
    metrics: dict
    result: object = field(repr=False)
    kkt: float
    attainable: bool
    success: bool
    status: int
    message: str
    iterations: int

    def __post_init__(self):
        object.__setattr__(self, "metrics", frozen_metrics(self.metrics))    # 0-d metrics as NumPy scalars
        super().__post_init__()      # the result contract (asymptotics.results): read-only, picklable


def _groups(model: ClusterGMM, margins) -> tuple:
    K = model.n_clusters
    if isinstance(margins, str):
        if margins == "minority":
            if isinstance(model, LabelGMM):
                return ((0,),)
            if isinstance(model, GroupGMM):
                return ((0, model.n_groups),)
            raise ValueError("margins: 'minority' needs a label or group model; give explicit groups for a ClusterGMM")
        if margins == "per-cluster":
            ref = int(np.flatnonzero(model.priors == model.priors.max())[-1])
            return tuple((k,) for k in range(K) if k != ref)
        raise ValueError(f"margins must be 'per-cluster', 'minority' or a list of cluster-index lists, got {_short(margins)}")
    try:
        groups = tuple(tuple(grp) for grp in margins)
    except TypeError:
        raise ValueError("margins must be 'per-cluster', 'minority' or a list of lists of cluster indices") from None
    if any(isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) for grp in groups for k in grp):
        raise ValueError(f"margins: groups must be lists of integer cluster indices, got {_short(margins)}")
    groups = tuple(tuple(int(k) for k in grp) for grp in groups)
    flat = [k for grp in groups for k in grp]
    if not groups or any(not grp for grp in groups) or any(not 0 <= k < K for k in flat) or len(set(flat)) != len(flat):
        raise ValueError(f"margins: groups must be non-empty, disjoint lists of cluster indices in 0..{K - 1}")
    return groups


# Linear metrics of the errors (their weights come from model.metrics on unit vectors); the
# built-in objectives are minimised as log(metric), from the errors' logarithms, so that neither
# underflowing errors nor a tiny metric flatten the objective.
LINEAR = ("R", "R_plus", "R_minus", "R_bal", "R_subgroup_bal", "DEO")
# The objective is flat to double precision at a point when its relative change per unit
# log-margin, summed over the terms it is made of, is below this: then a vanishing gradient
# certifies nothing (every error there is 0 or 1 to rounding).
FLAT = 1e-12
# Optimality tolerance on the KKT residual (relative change of the objective per unit log-margin),
# also relative to the gradient scale of the objective's terms where that is below 1: a residual
# is small only next to what the terms could make it.
KKT_TOL = 1e-6


def _log_combination(weights, log_errors, d_log_errors):
    """log sum_k |w_k| R_k from log R_k, its gradient if every w_k >= 0, and
    its scale sum_k s_k |d log R_k| (s the terms' shares): the relative
    change of the metric per unit log-margin that its terms can make."""
    used = weights != 0
    a = np.log(np.abs(weights[used])) + log_errors[used]
    top = a.max()
    share = np.exp(a - top)
    total = share.sum()
    share = share / total
    d = d_log_errors[used]
    return top + np.log(total), share @ d, float(share @ np.linalg.norm(d, axis=1))


class _Problem:
    """Objective and constraints of one optimisation, evaluated with one
    solve and one sensitivity per point x (cached)."""

    def __init__(self, model, gamma, groups, intercept, objective, constraints):
        self.model, self.gamma, self.groups, self.intercept = model, gamma, groups, intercept
        self.K = model.n_clusters
        self.E = np.zeros((self.K, len(groups)))          # d log margin_k / d x_j
        for j, grp in enumerate(groups):
            self.E[list(grp), j] = 1.0
        self.objective, self.constraints = objective, constraints
        eye = np.eye(self.K)
        names = [k for k in LINEAR if k in model.metrics(eye[0]) or k == "R"]
        self.weights = {k: np.array([model.priors[i] if k == "R" else model.metrics(eye[i])[k]
                                     for i in range(self.K)], float) for k in names}
        self._cache = {}

    def margins(self, x):
        return np.exp(self.E @ x)

    def evaluate(self, x):
        x = np.asarray(x, float)
        tag = x.tobytes()
        if tag in self._cache:        # the run's last few points (checks revisit the start and the end)
            return self._cache[tag]
        marg = self.margins(x)
        res = max_margin(self.model, self.gamma, marg, self.intercept)
        sens = sensitivity(res)
        vals, grads, logs = {}, {}, {}
        errors = np.asarray(res.errors)
        metrics = dict(self.model.metrics(errors))
        metrics["errors"] = errors
        metrics["R"] = float(self.model.priors @ errors)
        d_err = np.asarray(sens["errors"]["margins"]) * marg            # (K, K): d R_k / d log Delta_l
        log_err = np.asarray(res.log_errors, float)
        d_log = (np.asarray(sens["log_errors"]["margins"]) * marg) @ self.E
        for name in ("R_plus", "R_minus", "R_bal", "R_subgroup_bal", "DEO"):
            if name in metrics:
                vals[name] = float(metrics[name])
                grads[name] = (np.asarray(sens[name]["margins"]) * marg) @ self.E
        vals["R"] = metrics["R"]
        grads["R"] = (self.model.priors @ d_err) @ self.E
        vals["errors"], grads["errors"] = errors, d_err @ self.E
        # (log value, gradient, scale) of every linear metric; for DEO only the scale means anything
        for name, w in self.weights.items():
            logs[name] = _log_combination(w, log_err, d_log)
        logs["errors"] = (log_err, d_log, np.linalg.norm(d_log, axis=1))
        if len(self._cache) >= 8:
            self._cache.pop(next(iter(self._cache)))
        self._cache[tag] = (res, metrics, vals, grads, logs)
        return self._cache[tag]

    def subgroup_errors(self, x, log=False):
        """The errors 'worst' takes the maximum of and their gradients (log:
        their logarithms, gradients of the logarithms and scales)."""
        res, metrics, vals, grads, logs = self.evaluate(x)
        if isinstance(self.model, LabelGMM):
            if log:
                parts = [logs["R_plus"], logs["R_minus"]]
                return tuple(np.array([p[i] for p in parts]) for i in range(3))
            return (np.array([vals["R_plus"], vals["R_minus"]]),
                    np.array([grads["R_plus"], grads["R_minus"]]))
        if log:
            return logs["errors"]
        return vals["errors"], grads["errors"]


def _call_objective(objective, result) -> float:
    """A callable objective's value at a result: one finite real number, or a
    ValueError naming ``objective`` (exceptions of the callable itself pass
    through)."""
    value = objective(result)
    if isinstance(value, (str, bytes, bool, np.bool_)) or np.ndim(value) != 0 or np.iscomplexobj(value):
        raise ValueError(f"objective: the callable must return one real number, got {_short(value)}")
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"objective: the callable must return one real number, got {_short(value)}") from None
    if not np.isfinite(value):
        raise ValueError(f"objective: the callable returned {_short(value)} at margins {_short(result.margins)}; "
                         "it must be finite")
    return value


def _metric_name(value, arg: str, model: ClusterGMM, allowed: tuple) -> str:
    """``value`` as a metric name ``optimize_margins`` can minimise or bound
    for ``model``, or a ValueError naming ``arg``.  Checked as a string first:
    a numpy string compares equal to a name but cannot be looked up in a dict."""
    if not isinstance(value, str):
        raise ValueError(f"{arg}: a metric name must be a str (one of {', '.join(allowed)}), got {_short(value)} "
                         f"of type {type(value).__name__}")
    if value not in allowed:
        raise ValueError(f"{arg}: unknown metric {_short(value)} (one of {', '.join(allowed)})")
    have = model.metrics(np.full(model.n_clusters, 0.5))
    # R and worst come from the cluster errors of any model; abs_DEO needs the model's DEO
    has = [n for n in allowed if n in ("R", "worst") or ("DEO" if n == "abs_DEO" else n) in have]
    if value not in has:
        raise ValueError(f"{arg}: a {type(model).__name__} has no metric {value!r} (it has {', '.join(has)})")
    return value


def _scalar_metric(problem, name, x):
    _, _, vals, grads, _ = problem.evaluate(x)
    if name == "abs_DEO":
        return abs(vals["DEO"]), np.sign(vals["DEO"]) * grads["DEO"]
    if name not in vals:
        raise ValueError(f"the model has no metric {_short(name)}")
    return vals[name], grads[name]


def optimize_margins(model: ClusterGMM, gamma, objective, constraints=None, margins="per-cluster",
                     intercept: bool = True, x0=None) -> MarginOptimum:
    r"""Margins that minimise a metric of the max-margin classifier, with
    exact gradients (module docstring).

    Parameters
    ----------
    model : LabelGMM, GroupGMM or ClusterGMM (isotropic)
    gamma : float
        :math:`\gamma = d/n`, above the separability threshold.
    objective : str or callable
        One of :data:`OBJECTIVES` or ``f(result) -> float`` of a
        :class:`~asymptotics.results.MaxMarginResult`.
    constraints : dict, optional
        ``{"abs_DEO": eps}``, ``{"worst": eps}``, ``{"R": bound}``, ... (upper bounds).
    margins : "per-cluster", "minority" or list of lists of cluster indices
    intercept : bool
    x0 : array_like, optional
        An extra starting point (log-margins).  The problem is not convex:
        SLSQP also starts from every margin 1 (the SVM), from the closed
        forms where they apply, for a richer family than ``"minority"`` from
        the one-margin optimum, and (unconstrained) from the best point of a
        sweep when that is lower or no start is certified; the best feasible
        result is returned (on a tie, the certified one).

    Returns
    -------
    MarginOptimum

    Raises
    ------
    ValueError
        Bad input (naming it).
    InfeasibleError
        (a ValueError) No margins satisfy the constraints; ``reached`` holds
        the constrained metrics at the best point found.
    NotSeparableError
        gamma at or below the separability threshold.

    Examples
    --------
    >>> import asymptotics as asy
    >>> m = asy.LabelGMM.antipodal(0.1, 2.0)
    >>> opt = asy.optimize_margins(m, 2.0, "R_bal", margins="minority")
    >>> round(float(opt.free[0]), 6) == round(float(asy.delta_star(m, 2.0).delta), 6)
    True
    """
    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM, LabelGMM or GroupGMM, got {type(model).__name__}")
    if model._cov is not None:
        raise NotSupportedError("model: optimize_margins does not cover covariance models")
    gamma = positive_float(gamma, "gamma")
    intercept = boolean(intercept, "intercept")
    if not callable(objective):
        objective = _metric_name(objective, "objective", model, OBJECTIVES)
    constraints = {} if constraints is None else constraints
    if not isinstance(constraints, dict):
        raise ValueError(f"constraints must be a dict {{metric: upper bound}}, got {_short(constraints)}")
    for name, bound in constraints.items():
        _metric_name(name, "constraints", model, CONSTRAINT_METRICS)
        b = positive_array(bound, f"constraints[{_short(name)}]")
        if b.ndim != 0:
            raise ValueError(f"constraints[{_short(name)}] must be a scalar bound")
    groups = _groups(model, margins)
    separability_threshold(model, intercept)            # NotSeparableError at once, before any optimisation
    max_margin(model, gamma, np.ones(model.n_clusters), intercept)
    n = len(groups)
    starts = [np.zeros(n)]
    if x0 is not None:
        starts.insert(0, np.clip(finite_array(x0, "x0"), -LOG_BOUND, LOG_BOUND))
        if starts[0].shape != (n,):
            raise ValueError(f"x0 must have one entry per free margin ({n}), got shape {starts[0].shape}")
    if margins != "minority" and isinstance(model, (LabelGMM, GroupGMM)):
        # the problem is not convex: also start from the one-margin (CS-/GS-SVM) optimum, which the
        # richer family contains, so the answer is never worse than it
        try:
            one = optimize_margins(model, gamma, objective, constraints, "minority", intercept)
        except InfeasibleError:
            one = None
        if one is not None:
            x = np.zeros(n)
            minority = set(_groups(model, "minority")[0])
            for j, grp in enumerate(groups):
                if set(grp) <= minority:
                    x[j] = np.log(one.free[0])
            starts.append(x)
    # the objective can be flat to double precision far from its optimum (errors saturated at 0 or 1;
    # e.g. the SVM at a huge gamma): also start from the closed forms, and, when no start gives an
    # interior optimum with a certificate, from the best point of a sweep
    starts += _closed_form_starts(model, gamma, groups, intercept, objective)
    best = best_key = infeasible = None
    tried = []

    def run(x_start):
        nonlocal best, best_key, infeasible
        if any(np.allclose(x_start, y, rtol=0.0, atol=1e-9) for y in tried):
            return
        tried.append(x_start)
        try:
            cand, key = _optimize(model, gamma, groups, intercept, objective, constraints, x_start)
        except InfeasibleError as exc:
            infeasible = exc
            return
        tie = best is not None and abs(key - best_key) <= 1e-12 * max(1.0, abs(best_key))
        if best is None or (key < best_key and not tie) or (tie and (cand.status, cand.kkt) < (best.status, best.kkt)):
            best, best_key = cand, key

    for x_start in starts:
        run(x_start)
    if best is not None and not constraints and not callable(objective):
        # the problem is not convex either: a sweep (one vectorised solve) that finds a lower value,
        # or any point when no start gave a certified interior optimum, is one more start
        x_sweep, key_sweep = _sweep_start(model, gamma, groups, intercept, objective)
        if best.status != 0 or key_sweep < best_key - 1e-12 * max(1.0, abs(best_key)):
            run(x_sweep)
    if best is None:
        raise infeasible          # infeasible from every start: what the last run reached
    return best


def _closed_form_starts(model, gamma, groups, intercept, objective) -> list:
    """Starting log-margins from the closed forms of the one-margin problem
    where they apply: delta_star (R_bal, worst) and delta_min_error (R) for
    a label model with an intercept, delta_equal_opportunity (abs_DEO) for a
    group model.  A limit delta (0 or inf) starts at the bound."""
    import warnings

    from .tuning import DeltaWarning, delta_equal_opportunity, delta_min_error, delta_star

    if not isinstance(model, (LabelGMM, GroupGMM)) or groups != _groups(model, "minority"):
        return []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltaWarning)
        if isinstance(model, LabelGMM) and intercept and objective in ("R_bal", "worst", "R"):
            delta = (delta_min_error if objective == "R" else delta_star)(model, gamma).delta
        elif isinstance(model, GroupGMM) and objective == "abs_DEO" and model.n_groups >= 2:
            delta = delta_equal_opportunity(model, gamma, intercept).delta
        else:
            return []
    with np.errstate(divide="ignore"):
        return [np.clip(np.full(1, np.log(float(delta))), -LOG_BOUND, LOG_BOUND)]


def _sweep_start(model, gamma, groups, intercept, objective, points: int = 49) -> tuple:
    """The best of ``points`` log-margins s (1, ..., 1) across [-12, 12]
    (one vectorised solve) and its value, by the objective in the domain it
    is solved in (_optimize's key)."""
    grid = np.linspace(-LOG_BOUND, LOG_BOUND, points)
    problem = _Problem(model, gamma, groups, intercept, objective, {})
    margins = problem.margins(np.outer(np.ones(len(groups)), grid)).T          # (points, K)
    res = max_margin(model, gamma, margins, intercept)
    log_err = np.asarray(res.log_errors, float)
    if objective == "abs_DEO":
        key = (np.asarray(res.errors, float) @ problem.weights["DEO"]) ** 2
    elif objective == "worst" and not isinstance(model, LabelGMM):
        key = log_err.max(axis=1)                        # the worst cluster error (subgroup_errors)
    else:
        names = ("R_plus", "R_minus") if objective == "worst" else (objective,)
        key = np.max([_log_sum(problem.weights[k], log_err) for k in names], axis=0)
    i = int(np.nanargmin(key))
    return np.full(len(groups), grid[i]), float(key[i])


def _log_sum(weights, log_errors):
    """log sum_k w_k R_k row by row from log R_k (w >= 0)."""
    used = weights > 0
    a = np.log(weights[used]) + log_errors[:, used]
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def _optimize(model, gamma, groups, intercept, objective, constraints, x_start):
    """One SLSQP run (and Newton polish) from x_start (optimize_margins).

    Returns the MarginOptimum and its key, by which the runs from several
    starts are compared: the log of the metric (for 'worst' of the worst
    error, accurate where it underflows), DEO^2 or the callable's value."""
    from scipy.optimize import minimize, nnls

    problem = _Problem(model, gamma, groups, intercept, objective, constraints)
    n = len(groups)
    epigraph = objective == "worst"

    def split(v):
        return (v[:n], v[n]) if epigraph else (v, None)

    def fun(v):
        x, t = split(v)
        if epigraph:              # t bounds the subgroup errors
            return t, np.append(np.zeros(n), 1.0)
        if callable(objective):
            val = _call_objective(objective, problem.evaluate(x)[0])
            grad = np.array([(_call_objective(objective, problem.evaluate(x + h)[0])
                              - _call_objective(objective, problem.evaluate(x - h)[0])) / 2e-6
                             for h in np.eye(n) * 1e-6])
            return val, grad
        if objective == "abs_DEO":
            d, gd = _scalar_metric(problem, "DEO", x)
            return d * d, 2 * d * gd
        log_value, d_log_value, _ = problem.evaluate(x)[4][objective]
        return log_value, d_log_value

    def key(x):
        """The objective at x as runs are compared (for 'worst' the log of the worst error)."""
        if epigraph:
            return float(problem.subgroup_errors(x, log=True)[0].max())
        return float(fun(x)[0])

    def scale(x):
        """Relative change of the objective per unit log-margin that its terms can make at x
        (below FLAT the objective is flat to double precision there)."""
        if callable(objective):
            f0 = _call_objective(objective, problem.evaluate(x)[0])
            steps = [np.clip(x + h, -LOG_BOUND, LOG_BOUND) for h in np.vstack([np.eye(n), -np.eye(n)]) * 0.5]
            change = max(abs(_call_objective(objective, problem.evaluate(y)[0]) - f0) for y in steps)
            return change / max(abs(f0), np.finfo(float).tiny) / 0.5
        if epigraph:
            log_err, _, sc = problem.subgroup_errors(x, log=True)
            return float(sc[log_err >= log_err.max() - 1e-6].max())
        return problem.evaluate(x)[4]["DEO" if objective == "abs_DEO" else objective][2]

    cons = []

    def add(fn):          # fn(v) -> (value >= 0, gradient)
        cons.append({"type": "ineq", "fun": lambda v, fn=fn: fn(v)[0], "jac": lambda v, fn=fn: fn(v)[1]})

    def pad(grad):
        return np.append(grad, 0.0) if epigraph else grad

    if epigraph:
        K_sub = len(problem.subgroup_errors(np.zeros(n))[0])
        for i in range(K_sub):
            add(lambda v, i=i: (split(v)[1] - problem.subgroup_errors(split(v)[0])[0][i],
                                np.append(-problem.subgroup_errors(split(v)[0])[1][i], 1.0)))
    for name, bound in constraints.items():
        bound = float(bound)
        if name == "abs_DEO":
            for sgn in (1.0, -1.0):
                add(lambda v, sgn=sgn, bound=bound: (bound - sgn * _scalar_metric(problem, "DEO", split(v)[0])[0],
                                                    pad(-sgn * _scalar_metric(problem, "DEO", split(v)[0])[1])))
        elif name == "worst":
            K_sub = len(problem.subgroup_errors(np.zeros(n))[0])
            for i in range(K_sub):
                add(lambda v, i=i, bound=bound: (bound - problem.subgroup_errors(split(v)[0])[0][i],
                                                 pad(-problem.subgroup_errors(split(v)[0])[1][i])))
        else:
            add(lambda v, name=name, bound=bound: (bound - _scalar_metric(problem, name, split(v)[0])[0],
                                                   pad(-_scalar_metric(problem, name, split(v)[0])[1])))
    bounds = [(-LOG_BOUND, LOG_BOUND)] * n
    v0 = x_start
    if epigraph:
        v0 = np.append(x_start, problem.subgroup_errors(x_start)[0].max())
        bounds = bounds + [(0.0, 1.0)]
    sol = minimize(fun, v0, jac=True, method="SLSQP", bounds=bounds, constraints=cons,
                   options={"ftol": 1e-14, "maxiter": 500})
    v = np.asarray(sol.x, float)
    x = np.clip(v[:n], -LOG_BOUND, LOG_BOUND)
    iterations = int(sol.nit)
    if not cons and key(x) > key(x_start):
        x = np.asarray(x_start, float)          # SLSQP never returns worse than where it started
    # Newton polish of an unconstrained interior optimum on the exact gradient
    if not cons and not callable(objective) and np.all(np.abs(x) < LOG_BOUND - 1e-6):
        for _ in range(8):
            g0 = fun(x)[1]
            H = np.array([(fun(x + h)[1] - fun(x - h)[1]) / 2e-6 for h in np.eye(n) * 1e-6])
            H = 0.5 * (H + H.T)
            try:
                step = np.linalg.solve(H, g0)
            except np.linalg.LinAlgError:
                break
            x_new = x - step
            if not np.all(np.abs(x_new) < LOG_BOUND) or np.linalg.norm(fun(x_new)[1]) >= np.linalg.norm(g0):
                break
            x = x_new
            iterations += 1
    # optimality residual: Lagrangian gradient with NNLS multipliers of the active constraints; a
    # margin at its bound contributes only the part of the gradient that points into the box
    v = np.append(x, problem.subgroup_errors(x)[0].max()) if epigraph else x
    val, grad = fun(v)
    values = np.array([c["fun"](v) for c in cons]) if cons else np.zeros(0)
    violation = float(max(0.0, -values.min())) if values.size else 0.0
    upper, lower = x >= LOG_BOUND - 1e-6, x <= -LOG_BOUND + 1e-6
    free = ~(upper | lower)
    if epigraph:
        free, upper, lower = np.append(free, True), np.append(upper, False), np.append(lower, False)
    active = [i for i, c in enumerate(values) if c <= 1e-8] if values.size else []
    residual = np.asarray(grad, float)
    if active:
        Jc = np.array([cons[i]["jac"](v) for i in active])
        lam_, _ = nnls(Jc[:, free].T, grad[free])
        residual = grad - Jc.T @ lam_
    kkt = float(np.linalg.norm(np.concatenate([residual[free], np.maximum(residual[upper], 0.0),
                                               np.maximum(-residual[lower], 0.0)]))) + violation
    if violation > 1e-6:
        reached = {name: (float(problem.subgroup_errors(x)[0].max()) if name == "worst"
                          else _scalar_metric(problem, name, x)[0]) for name in constraints}
        raise InfeasibleError(f"constraints: infeasible at gamma = {gamma:g}; the best reached: "
                              + ", ".join(f"{k} = {reached[k]:.4g} (bound {float(constraints[k]):.4g})"
                                          for k in reached), reached)
    res, metrics, vals, _, _ = problem.evaluate(x)
    marg = problem.margins(x)
    if epigraph:
        value = float(problem.subgroup_errors(x)[0].max())
    elif objective == "abs_DEO":
        value = abs(vals["DEO"])
    elif callable(objective):
        value = _call_objective(objective, res)
    else:
        value = vals[objective]
    attainable = bool(np.all(free[:n]))
    status, success, message = _status(scale(x), kkt, x, sol)
    opt = MarginOptimum(margins=marg, free=np.exp(x), groups=groups, objective=getattr(objective, "__name__",
                        str(objective)), value=value, metrics=metrics, result=res, kkt=kkt, attainable=attainable,
                        success=success, status=status, message=message, iterations=iterations)
    return opt, key(x)


def _status(scale, kkt, x, sol) -> tuple:
    """(status, success, message) of a run, scipy style (MarginOptimum.status)."""
    solver = f"SLSQP: {sol.message}"
    if not scale >= FLAT:
        return 2, False, (f"the objective is flat to double precision here (its terms change it by "
                          f"{scale:.2g} per unit log-margin: errors saturated at 0 or 1), so a zero gradient "
                          f"certifies nothing; best value among the starts, not a certified optimum ({solver})")
    if not kkt <= KKT_TOL * min(1.0, scale):
        return 3, False, (f"not converged: KKT residual {kkt:.2g} above {KKT_TOL:g} times min(1, the objective's "
                          f"gradient scale {scale:.2g}) ({solver})")
    off = [f"margin {j} -> {'inf' if xj > 0 else '0'}" for j, xj in enumerate(x) if abs(xj) >= LOG_BOUND - 1e-6]
    if off:
        return 1, True, ("optimum at the boundary: the objective still decreases at e^+-12, so the infimum is the "
                         f"limit {', '.join(off)} (KKT residual {kkt:.2g}; {solver})")
    return 0, True, f"optimum attained: KKT residual {kkt:.2g} ({solver})"


@dataclass(frozen=True, eq=False)
class ParetoFront(ReadOnlyResult):
    """R against |DEO| (or another pair) along the front: ``values`` (N, 2)
    with the two objectives, ``margins`` (N, K), ``points`` the
    :class:`MarginOptimum` of each."""

    objectives: tuple
    values: np.ndarray
    margins: np.ndarray
    points: tuple = field(repr=False)


def pareto_front(model: GroupGMM, gamma, objectives=("R", "abs_DEO"), n_points: int = 12, margins="per-cluster",
                 intercept: bool = True) -> ParetoFront:
    r"""The Pareto front of two objectives by the epsilon-constraint method:
    minimise the first subject to the second <= eps for eps from the
    second's value at the first's unconstrained optimum down to its own
    minimum, each solve warm-started from the previous one.

    Parameters
    ----------
    objectives : (str, str)
        E.g. ``("R", "abs_DEO")`` or ``("R", "worst")``.
    n_points : int
        Points on the front (>= 2).
    """
    if not (isinstance(objectives, tuple) and len(objectives) == 2
            and all(isinstance(o, str) and o in OBJECTIVES for o in objectives)):
        raise ValueError(f"objectives must be two of {OBJECTIVES}, got {_short(objectives)}")
    if isinstance(n_points, (bool, np.bool_)) or not isinstance(n_points, (int, np.integer)) or not 2 <= n_points <= 200:
        raise ValueError(f"n_points must be an integer in 2..200, got {_short(n_points)}")
    first, second = objectives
    a = optimize_margins(model, gamma, first, margins=margins, intercept=intercept)
    b = optimize_margins(model, gamma, second, margins=margins, intercept=intercept)
    hi = _value_of(a, second)
    lo = b.value
    points = [a]
    x = np.log(a.free)
    for eps in np.linspace(hi, lo, n_points)[1:]:
        eps = max(float(eps), lo + 1e-9 * max(abs(lo), 1e-12))
        p = optimize_margins(model, gamma, first, {second: eps}, margins=margins, intercept=intercept, x0=x)
        points.append(p)
        x = np.log(p.free)
    values = np.array([[_value_of(p, first), _value_of(p, second)] for p in points])
    return ParetoFront(objectives, values, np.array([p.margins for p in points]), tuple(points))


def _value_of(opt: MarginOptimum, name: str) -> float:
    m = opt.metrics
    if name == "abs_DEO":
        return abs(float(m["DEO"]))
    if name == "worst":
        return float(np.max(m["errors"])) if "worst" not in m else float(m["worst"])
    return float(m[name])
