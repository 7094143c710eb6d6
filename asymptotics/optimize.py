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
SLSQP solves the problem in log-margins within [-12, 12]; an unconstrained
interior optimum is then polished by Newton's method on the exact gradient.
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
        Optimality residual: the gradient of the Lagrangian in log-margins
        (multipliers of the active constraints by non-negative least
        squares) plus any constraint violation; unconstrained: |gradient|.
    attainable : bool
        False when a free margin ran to the bound e^{+-12}: the optimum is
        the limit 0 or inf (as ``delta_star`` reports).
    success : bool
    message : str
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
        self._x = None

    def margins(self, x):
        return np.exp(self.E @ x)

    def evaluate(self, x):
        x = np.asarray(x, float)
        if self._x is not None and np.array_equal(x, self._x):
            return self._cache
        marg = self.margins(x)
        res = max_margin(self.model, self.gamma, marg, self.intercept)
        sens = sensitivity(res)
        vals, grads = {}, {}
        errors = np.asarray(res.errors)
        metrics = dict(self.model.metrics(errors))
        metrics["errors"] = errors
        metrics["R"] = float(self.model.priors @ errors)
        d_err = np.asarray(sens["errors"]["margins"]) * marg            # (K, K): d R_k / d log Delta_l
        for name in ("R_plus", "R_minus", "R_bal", "R_subgroup_bal", "DEO"):
            if name in metrics:
                vals[name] = float(metrics[name])
                grads[name] = (np.asarray(sens[name]["margins"]) * marg) @ self.E
        vals["R"] = metrics["R"]
        grads["R"] = (self.model.priors @ d_err) @ self.E
        vals["errors"], grads["errors"] = errors, d_err @ self.E
        self._x, self._cache = x.copy(), (res, metrics, vals, grads)
        return self._cache

    def subgroup_errors(self, x):
        """The errors 'worst' takes the maximum of, and their gradients."""
        res, metrics, vals, grads = self.evaluate(x)
        if isinstance(self.model, LabelGMM):
            return (np.array([vals["R_plus"], vals["R_minus"]]),
                    np.array([grads["R_plus"], grads["R_minus"]]))
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


def _scalar_metric(problem, name, x):
    _, _, vals, grads = problem.evaluate(x)
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
        SLSQP also starts from every margin 1 (the SVM) and, for a richer
        family than ``"minority"``, from the one-margin optimum; the best
        feasible result is returned.

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
    if not (callable(objective) or objective in OBJECTIVES):
        raise ValueError(f"objective must be one of {OBJECTIVES} or a callable of the result, got {_short(objective)}")
    if objective in ("abs_DEO",) and not isinstance(model, GroupGMM):
        raise ValueError("objective: 'abs_DEO' needs a group model")
    constraints = {} if constraints is None else constraints
    if not isinstance(constraints, dict):
        raise ValueError(f"constraints must be a dict {{metric: upper bound}}, got {_short(constraints)}")
    allowed = ("R", "R_bal", "R_subgroup_bal", "R_plus", "R_minus", "worst", "abs_DEO")
    for name, bound in constraints.items():
        if name not in allowed:
            raise ValueError(f"constraints: unknown metric {_short(name)} (one of {allowed})")
        if name == "abs_DEO" and not isinstance(model, GroupGMM):
            raise ValueError("constraints: 'abs_DEO' needs a group model")
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
    best = None
    for x_start in starts:
        try:
            cand = _optimize(model, gamma, groups, intercept, objective, constraints, x_start)
        except InfeasibleError:
            if x_start is starts[-1] and best is None:
                raise
            continue
        if best is None or cand.value < best.value - 1e-12 * abs(best.value):
            best = cand
    return best


def _optimize(model, gamma, groups, intercept, objective, constraints, x_start) -> MarginOptimum:
    """One SLSQP run (and Newton polish) from x_start (optimize_margins)."""
    from scipy.optimize import minimize, nnls

    problem = _Problem(model, gamma, groups, intercept, objective, constraints)
    n = len(groups)
    epigraph = objective == "worst"

    def split(v):
        return (v[:n], v[n]) if epigraph else (v, None)

    def fun(v):
        x, t = split(v)
        if epigraph:
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
        return _scalar_metric(problem, objective, x)

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
    v = np.clip(np.asarray(sol.x, float), [lo for lo, _ in bounds], [hi for _, hi in bounds])
    x, _ = split(v)
    iterations = int(sol.nit)
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
    # optimality residual: Lagrangian gradient with NNLS multipliers of the active constraints
    v = np.append(x, split(v)[1]) if epigraph else x
    val, grad = fun(v)
    values = np.array([c["fun"](v) for c in cons]) if cons else np.zeros(0)
    violation = float(max(0.0, -values.min())) if values.size else 0.0
    free = np.abs(x) < LOG_BOUND - 1e-6
    if epigraph:
        free = np.append(free, True)
    active = [i for i, c in enumerate(values) if c <= 1e-8] if values.size else []
    if active:
        Jc = np.array([cons[i]["jac"](v) for i in active])
        lam_, _ = nnls(Jc[:, free].T, grad[free])
        kkt = float(np.linalg.norm(grad[free] - Jc[:, free].T @ lam_)) + violation
    else:
        kkt = float(np.linalg.norm(grad[free])) + violation
    if violation > 1e-6:
        reached = {name: (float(problem.subgroup_errors(x)[0].max()) if name == "worst"
                          else _scalar_metric(problem, name, x)[0]) for name in constraints}
        raise InfeasibleError(f"constraints: infeasible at gamma = {gamma:g}; the best reached: "
                              + ", ".join(f"{k} = {reached[k]:.4g} (bound {float(constraints[k]):.4g})"
                                          for k in reached), reached)
    res, metrics, vals, _ = problem.evaluate(x)
    marg = problem.margins(x)
    if epigraph:
        value = float(problem.subgroup_errors(x)[0].max())
    elif objective == "abs_DEO":
        value = abs(vals["DEO"])
    elif callable(objective):
        value = _call_objective(objective, res)
    else:
        value = vals[objective]
    attainable = bool(np.all(np.abs(x) < LOG_BOUND - 1e-6))
    return MarginOptimum(margins=marg, free=np.exp(x), groups=groups, objective=getattr(objective, "__name__",
                         str(objective)), value=value, metrics=metrics, result=res, kkt=kkt, attainable=attainable,
                         success=bool(sol.success), message=str(sol.message), iterations=iterations)


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
            and all(o in OBJECTIVES for o in objectives)):
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
