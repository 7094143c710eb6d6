"""optimize_margins and pareto_front: the paper's one-number tunings as
special cases, the many-margin optimum against a dense grid, Monte-Carlo at
an optimum, bad input."""
import itertools
import warnings

import numpy as np
import pytest

import asymptotics as asy

GROUP = asy.GroupGMM(0.5, 0.05, [3.0, 0.0], [0.0, 3.0])          # the Fig. 3(b) setting
GROUP_IMB = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])


@pytest.mark.parametrize("model,gamma", [(asy.LabelGMM.antipodal(0.1, 2.0), 2.0),
                                         (asy.LabelGMM(0.2, [2.0, 0.0], [-1.0, 1.0]), 0.8)])
def test_delta_star_and_min_error_delta_are_special_cases(model, gamma):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asy.DeltaWarning)
        ds, dm = asy.delta_star(model, gamma), asy.delta_min_error(model, gamma)
    for objective, ref in (("R_bal", ds), ("R", dm)):
        opt = asy.optimize_margins(model, gamma, objective, margins="minority")
        if ref.attainable:
            assert opt.attainable and opt.free[0] == pytest.approx(float(ref.delta), rel=1e-8)
            assert opt.kkt < 1e-8
        assert opt.value == pytest.approx(float(getattr(ref, objective)), rel=1e-9, abs=1e-14)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 5.0])
def test_delta_zero_is_the_special_case_deo_zero(gamma):
    opt = asy.optimize_margins(GROUP, gamma, "abs_DEO", margins="minority")
    ref = asy.delta_equal_opportunity(GROUP, gamma)
    assert opt.free[0] == pytest.approx(ref.delta, rel=1e-8) and opt.value < 1e-12


def _grid_best(model, gamma, metric, constraint=None, n=9):
    """Best metric over a dense grid of the 3 free log-margins (reference cluster at 1)."""
    grid = np.linspace(-1.0, 3.5, n)
    ref = int(np.flatnonzero(model.priors == model.priors.max())[-1])
    best = np.inf
    for xs in itertools.product(grid, repeat=model.n_clusters - 1):
        marg = np.ones(model.n_clusters)
        marg[[k for k in range(model.n_clusters) if k != ref]] = np.exp(xs)
        r = asy.gs_svm(model, 2.0, {(1 if k < 2 else -1, k % 2 + 1): marg[k] for k in range(4)})
        val = getattr(r, metric) if metric != "worst" else r.worst
        if constraint is not None and abs(float(r.DEO)) > constraint:
            continue
        best = min(best, float(val))
    return best


@pytest.mark.parametrize("objective,constraint", [("worst", None), ("R", 0.01), ("R_subgroup_bal", None)])
def test_four_margins_beat_a_dense_grid(objective, constraint):
    opt = asy.optimize_margins(GROUP_IMB, 2.0, objective, {"abs_DEO": constraint} if constraint else None)
    assert opt.value <= _grid_best(GROUP_IMB, 2.0, objective, constraint) + 1e-9
    one = asy.optimize_margins(GROUP_IMB, 2.0, objective, {"abs_DEO": constraint} if constraint else None,
                               margins="minority")
    assert opt.value <= one.value + 1e-12          # the richer family is never worse
    if constraint:
        assert abs(float(opt.metrics["DEO"])) <= constraint * (1 + 1e-9)
    assert opt.kkt < 1e-6


def test_pareto_front_is_monotone_and_ends_at_equal_opportunity():
    front = asy.pareto_front(GROUP, 2.0, ("R", "abs_DEO"), n_points=6)
    R, deo = front.values[:, 0], front.values[:, 1]
    assert np.all(np.diff(deo) < 0) and np.all(np.diff(R) > -1e-12)
    assert deo[-1] < 1e-9
    d0 = asy.delta_equal_opportunity(GROUP, 2.0)
    assert R[-1] <= d0.R + 1e-10            # at DEO = 0 at least as good as the GS-SVM's delta_0
    svm = asy.gs_svm(GROUP, 2.0, 1.0)
    assert R[0] <= float(svm.R) + 1e-12


def test_monte_carlo_at_an_optimum():
    """Exact max-margin solutions at the optimal four margins agree with the
    theory there (the optimum is a point like any other)."""
    from asymptotics.simulate import monte_carlo
    opt = asy.optimize_margins(GROUP_IMB, 2.0, "worst")
    flat = asy.ClusterGMM(GROUP_IMB.priors, GROUP_IMB.labels, GROUP_IMB.means)
    r = monte_carlo(flat, 2.0, opt.margins, n=600, trials=12, seed=3, n_jobs=2)
    assert np.all(r.consistent("errors"))
    np.testing.assert_allclose(r.theory["errors"], opt.result.errors, rtol=1e-2)   # theory at the realised d/n


@pytest.mark.parametrize("kwargs,match", [
    (dict(objective="accuracy"), "objective"), (dict(constraints={"foo": 0.1}), "constraints"),
    (dict(constraints={"R": np.nan}), "constraints"), (dict(constraints=[("R", 0.1)]), "constraints"),
    (dict(margins="some"), "margins"), (dict(margins=[[0, 9]]), "margins"), (dict(margins=[[0], [0]]), "margins"),
    (dict(gamma=[1.0, 2.0]), "gamma"), (dict(gamma=np.nan), "gamma"), (dict(x0=[0.0]), "x0"),
])
def test_bad_input(kwargs, match):
    args = dict(model=GROUP_IMB, gamma=2.0, objective="R")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        asy.optimize_margins(**args)
    assert "\n" not in str(info.value)


def test_infeasible_constraint_says_what_was_reached():
    with pytest.raises(ValueError, match="infeasible.*best reached: R = "):
        asy.optimize_margins(GROUP_IMB, 2.0, "R_bal", {"R": 1e-4})
    with pytest.raises(asy.NotSeparableError):
        asy.optimize_margins(GROUP_IMB, 1e-3, "R")


@pytest.mark.parametrize("kwargs,match", [
    (dict(objective=np.array("R")), "objective: a metric name must be a str"),      # was TypeError: unhashable
    (dict(objective=["R"]), "objective: a metric name must be a str"),
    (dict(objective=None), "objective: a metric name must be a str"),
    (dict(objective="R_subgroup_bal"), "objective: a LabelGMM has no metric 'R_subgroup_bal'"),
    (dict(objective="abs_DEO"), "objective: a LabelGMM has no metric 'abs_DEO'"),
    (dict(constraints={"R_subgroup_bal": 0.1}), r"constraints: a LabelGMM has no metric 'R_subgroup_bal' \(it has "
                                                "R, R_bal, R_plus, R_minus, worst\\)"),
    (dict(constraints={1: 0.1}), "constraints: a metric name must be a str"),
])
def test_metric_names_are_checked_as_strings_of_the_model(kwargs, match):
    args = dict(model=asy.LabelGMM(0.1, [2, 0], [0, 1]), gamma=2.0, objective="R")
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        asy.optimize_margins(**args)
    assert "\n" not in str(info.value)


def test_metric_names_a_plain_cluster_model_lacks_and_numpy_strings():
    flat = asy.ClusterGMM(GROUP_IMB.priors, GROUP_IMB.labels, GROUP_IMB.means)
    with pytest.raises(ValueError, match="objective: a ClusterGMM has no metric 'R_bal' \\(it has R, worst\\)"):
        asy.optimize_margins(flat, 2.0, "R_bal")
    with pytest.raises(ValueError, match="objectives must be two of"):
        asy.pareto_front(GROUP_IMB, 2.0, (np.array("R"), "abs_DEO"))
    m = asy.LabelGMM.antipodal(0.1, 2.0)          # a numpy str is a str: same answer as the plain one
    a = asy.optimize_margins(m, 2.0, np.str_("R_bal"), {np.str_("R"): 0.5}, margins="minority")
    b = asy.optimize_margins(m, 2.0, "R_bal", {"R": 0.5}, margins="minority")
    assert a.value == b.value and a.objective == "R_bal"


# ---------------------------------------------------------------- flat, saturated objectives (issue 18, item 4)

def _limit_point(model, gamma, ref, objective):
    """The metric at the closed form's delta, clipped to the searched range e^+-12 (a limit delta
    0 or inf is a point of the boundary there)."""
    delta = float(np.clip(float(ref.delta), np.exp(-12.0), np.exp(12.0)))
    res = asy.cs_svm(model, gamma, delta)
    return float(max(res.R_plus, res.R_minus) if objective == "worst" else getattr(res, objective))


def _log_metric(model, gamma, margins, objective):
    """log of a linear metric (or of 'worst') at the given margins from the log-errors, accurate where
    the errors underflow: an independent evaluation of what optimize_margins minimises."""
    logs = np.asarray(asy.max_margin(model, gamma, margins).log_errors, float)
    K = model.n_clusters
    names = (("R_plus", "R_minus") if isinstance(model, asy.LabelGMM) else None) if objective == "worst" \
        else (objective,)
    if names is None:
        return float(logs.max())
    out = []
    for name in names:
        w = np.array([model.priors[k] if name == "R" else model.metrics(np.eye(K)[k])[name] for k in range(K)])
        a = np.log(w[w > 0]) + logs[w > 0]
        out.append(float(a.max() + np.log(np.exp(a - a.max()).sum())))
    return max(out)


def _assert_certified(model, gamma, opt, objective):
    """success means a certificate: KKT below tolerance and an objective that is not flat there, i.e.
    moving any free log-margin by 1/2 into the box changes it above rounding, and decreases it by no
    more than the KKT residual allows."""
    if not opt.success:
        assert opt.status in (2, 3)
        return
    assert opt.kkt <= 1e-6 and opt.status in (0, 1)
    assert opt.attainable == (opt.status == 0)
    if callable(objective) or objective == "abs_DEO":
        return
    x = np.log(opt.free)
    at = _log_metric(model, gamma, opt.margins, objective)
    changes = []
    for j, grp in enumerate(opt.groups):
        for step in (0.5, -0.5):
            if abs(x[j] + step) > 12.0:
                continue
            marg = np.array(opt.margins, float)
            marg[list(grp)] *= np.exp(step)
            other = _log_metric(model, gamma, marg, objective)
            # a minimum (or the limit) in that direction, to first order in the certified KKT residual
            assert other >= at - 0.5 * opt.kkt - 1e-9 * max(1.0, abs(at))
            changes.append(other - at)
    assert max(changes) > 16 * np.finfo(float).eps * max(1.0, abs(at))      # not flat to double precision


M_ISSUE = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])


@pytest.mark.parametrize("model,gamma", [
    (M_ISSUE, 1e6),                                                                   # SVM errors (1, 0)
    (asy.LabelGMM(1e-6, [4.0, 0.0], [0.0, 2.0]), 2.0),                                # delta* = inf
    (M_ISSUE, float(asy.separability_threshold(M_ISSUE)) * (1 + 1e-6)),               # every delta alike
])
@pytest.mark.parametrize("objective,closed", [("R_bal", asy.delta_star), ("R", asy.delta_min_error)])
def test_a_flat_start_is_not_an_optimum(model, gamma, objective, closed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asy.DeltaWarning)
        ref = closed(model, gamma)
    opt = asy.optimize_margins(model, gamma, objective, margins="minority")
    if ref.attainable:
        assert opt.value <= float(getattr(ref, objective)) + 1e-9 * float(getattr(ref, objective))
    else:      # the closed form is a limit: so is the optimum, on the same side, at least as good at the bound
        assert not opt.attainable and opt.status == 1 and opt.success
        assert (opt.free[0] > 1) == (float(ref.delta) > 1)
        assert opt.value <= _limit_point(model, gamma, ref, objective) * (1 + 1e-12)
    _assert_certified(model, gamma, opt, objective)


def test_the_issue_case_finds_delta_star_and_a_saturated_R_is_reported_flat():
    opt = asy.optimize_margins(M_ISSUE, 1e6, "R_bal", margins="minority")
    ref = asy.delta_star(M_ISSUE, 1e6)
    assert opt.success and opt.status == 0 and opt.free[0] == pytest.approx(float(ref.delta), rel=1e-6)
    # R = 0.1 R_+ + 0.9 R_- with R_+ = 1, R_- < 1e-300 for every delta near the SVM: a plateau in
    # double precision; the best value is found, but no point of it is certified
    flat = asy.optimize_margins(M_ISSUE, 1e6, "R", margins="minority")
    assert flat.value == pytest.approx(0.1, rel=1e-15) and not flat.success and flat.status == 2
    assert "flat" in flat.message


def _random_models(rng):
    out = []
    for prior in (0.5, 0.2, 1e-2, 1e-4, 1e-6):
        mp, mm = rng.normal(size=2) * rng.choice([0.5, 2.0, 5.0]), rng.normal(size=2)
        out.append(asy.LabelGMM(prior, mp, mm))
    for cp, gp in ((0.3, 0.1), (0.1, 0.01), (0.5, 0.05)):
        out.append(asy.GroupGMM(cp, gp, rng.normal(size=2) * 2.0, rng.normal(size=2) * 2.0))
    return out


def _grid_minority(model, gamma, objective, n=401):
    """Best objective over a dense grid of the minority margin in [e^-12, e^12]."""
    delta = np.exp(np.linspace(-12.0, 12.0, n))
    res = asy.cs_svm(model, gamma, delta) if isinstance(model, asy.LabelGMM) else asy.gs_svm(model, gamma, delta)
    if objective == "abs_DEO":
        return float(np.min(np.abs(res.DEO)))
    if objective == "worst" and isinstance(model, asy.LabelGMM):
        return float(np.min(np.maximum(res.R_plus, res.R_minus)))
    return float(np.min(getattr(res, objective)))


def test_random_sweep_never_worse_than_closed_forms_or_a_grid():
    """Seeded label and group models at gammas from 1.0001 gamma* to 1e6: the one-margin optimum is
    never worse than the closed forms (at the bound when they are limits) or a dense grid, and a
    reported success is certified."""
    rng = np.random.default_rng(18)
    for model in _random_models(rng):
        g_star = float(asy.separability_threshold(model))
        label = isinstance(model, asy.LabelGMM)
        objectives = ("R_bal", "R", "worst") if label else ("R", "R_bal", "worst", "abs_DEO")
        for gamma in (g_star * 1.0001, g_star * 1.5, max(2 * g_star, 1.0) * 3, 1e3, 1e6):
            for objective in objectives:
                opt = asy.optimize_margins(model, gamma, objective, margins="minority")
                where = f"{model!r} gamma={gamma:g} {objective}"
                refs = [_grid_minority(model, gamma, objective)]
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", asy.DeltaWarning)
                    if label and objective != "R":
                        ref = asy.delta_star(model, gamma)
                        refs.append(_limit_point(model, gamma, ref, objective))   # delta* also balances R_+, R_-
                    elif label:
                        ref = asy.delta_min_error(model, gamma)
                        refs.append(_limit_point(model, gamma, ref, "R"))
                    elif objective == "abs_DEO":
                        refs.append(abs(asy.delta_equal_opportunity(model, gamma).DEO))
                assert opt.value <= min(refs) + 1e-9, where
                _assert_certified(model, gamma, opt, objective)
                if not label and gamma in (g_star * 1.5, 1e3):      # the richer family: never worse
                    four = asy.optimize_margins(model, gamma, objective)
                    assert four.value <= opt.value + 1e-12, where
                    _assert_certified(model, gamma, four, objective)
