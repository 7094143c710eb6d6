"""Hostile input on the API and the command line, the second probe of issue
11 (about 720 cases, kept outside the repo): one test per class of failure it
found, each parametrised over the probe's examples and more.

1. numpy reprs in messages (``array([1.0, 'x'], dtype=object)``, ``np.float64(1.1)``,
   ``got np.int64(0)`` for the user's own numpy scalar);
2. absurd sizes: a grid of 1e9 points ran for minutes, a 1e5 x 1e5 broadcast
   ended in MemoryError; now a one-line ValueError before any work;
3. gamma or margins outside the solver's range (gamma >= 1e120, margins near
   1e308, separable gamma below 1e-300) ended in ConvergenceError; now a
   ValueError naming them, the same on the single-point fast path;
4. ragged margins on the fast path surfaced numpy's "inhomogeneous shape";
5. models a function does not cover raised NotImplementedError (not a
   ValueError);
6. optimize_margins accepted float cluster indices and any return value of
   a callable objective (NaN silently, a string as numpy's message);
7. messages naming the wrong thing (``loss:`` for a ``delta``, ``Delta`` for
   ``vs_preset``'s tiny delta, "one class" for a length mismatch, "y: y:",
   "gamma_star = nan" for a finite sample);
8. command-line messages naming API arguments instead of flags (means,
   objective, constraints), and ``threshold`` printing an underflowed
   gamma* as 0 without its logarithm;
9. fit_erm at large scale returned w = 0 and the wrong objective without a
   word (sums of squares overflow); lam = 0 failed outside moderate scales
   although it is exactly scale-covariant;
10. fit_erm's max_iter had no cap;
11. the tuning results (DeltaResult, EqualOpportunityResult) had no
    logarithms of their errors, which underflow, and delta_equal_opportunity
    returned delta_0 = 1 "attainable" where every error underflows (DEO =
    0 - 0 at every delta).
"""
import math
import re
import time
import warnings

import numpy as np
import pytest

import asymptotics as asy
from asymptotics import cli
from asymptotics.covariance import Spectrum
from asymptotics.errors import NotSupportedError
from asymptotics.simulate import fit_erm, fit_max_margin, sample

LABEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
GROUP = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])
CLUSTER = asy.ClusterGMM([0.2, 0.3, 0.5], [1, -1, 1], [[2.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
SPECTRUM = asy.LabelGMM(0.2, [2.0, 0.0], [-1.0, 1.0], covariance=Spectrum([0.5, 2.0], [2.0, 0.5]))
GROUP_COV = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5], covariance=np.eye(2))
NUMPY_REPR = re.compile(r"(?<![.\w])array\(|np\.(float|int|uint|bool)\w*\(|dtype=")


def _refused(names, call, cls=ValueError):
    """The call raises ``cls`` with one line naming one of ``names``; the message."""
    names = (names,) if isinstance(names, str) else names
    with pytest.raises(cls) as info:
        call()
    msg = str(info.value)
    assert "\n" not in msg and not NUMPY_REPR.search(msg), msg
    assert any(n in msg for n in names), msg
    return msg


@pytest.fixture(scope="module")
def data():
    s = sample(LABEL, 60, 30, np.random.default_rng(1))
    ns = sample(asy.LabelGMM.antipodal(0.5, 0.5), 300, 10, np.random.default_rng(0))
    return np.asarray(s.X), np.asarray(s.y), np.asarray(ns.X), np.asarray(ns.y)


# ----------------------------------------------------------------------------------------------
# 1. numpy reprs


@pytest.mark.parametrize("name,call", [
    ("gamma", lambda: asy.cs_svm(LABEL, np.array([1.0, "x"], dtype=object), 1.0)),
    ("delta", lambda: asy.cs_svm(LABEL, 2.0, np.array([1.0, "x"], dtype=object))),
    ("lam", lambda: asy.erm(LABEL, 2.0, "CE", np.array([0.1, "x"], dtype=object))),
    ("margins", lambda: asy.max_margin(CLUSTER, 2.0, np.array([1.0, "x", 1.0], dtype=object))),
    ("gamma", lambda: asy.cs_svm(LABEL, np.array([1.0, np.nan]), 1.0)),
    ("t", lambda: asy.VSLoss().value(np.nan)),
    ("t", lambda: asy.VSLoss().value(np.array([1.0, np.inf]))),
    ("x", lambda: asy.VSLoss().prox(np.array([np.nan]), 1.0)),
    ("priors", lambda: asy.ClusterGMM(np.array([0.3, 0.3]), [1, -1], [[1.0], [0.0]])),
    ("prior", lambda: asy.LabelGMM(np.array(["0.1"], dtype=object), [1.0], [0.0])),
    ("covariance", lambda: asy.LabelGMM(0.2, [1, 0], [0, 1], covariance=np.array([[1, np.nan], [np.nan, 1]]))),
])
def test_messages_carry_no_numpy_reprs(name, call):
    _refused(name, call)


I64, F64 = np.int64, np.float64


@pytest.mark.parametrize("name,call", [
    ("max_iter", lambda d: fit_erm(d[0], d[1], asy.VSLoss(), 0.1, max_iter=I64(0))),
    ("max_iter", lambda d: __import__("asymptotics.simulate").simulate.train_vs(d[0], d[1], asy.VSLoss(),
                                                                                max_iter=I64(10 ** 9))),
    ("n_records", lambda d: __import__("asymptotics.simulate").simulate.train_vs(d[0], d[1], asy.VSLoss(),
                                                                                 n_records=I64(0))),
    ("n", lambda d: sample(LABEL, I64(0), 5, np.random.default_rng(0))),
    ("d", lambda d: sample(LABEL, 5, I64(-1), np.random.default_rng(0))),
    ("trials", lambda d: __import__("asymptotics.simulate").simulate.monte_carlo(LABEL, 2.0, 1.0, n=40,
                                                                                 trials=I64(0))),
    ("seed", lambda d: __import__("asymptotics.simulate").simulate.monte_carlo(LABEL, 2.0, 1.0, n=40, trials=2,
                                                                               seed=I64(-1))),
    ("folds", lambda d: __import__("asymptotics.datadriven").datadriven.suggest_delta(d[0], d[1], method="margins",
                                                                                      folds=I64(1))),
    ("delta", lambda d: __import__("asymptotics.estimator").estimator.CostSensitiveSVC(delta=F64(-1)).fit(d[0], d[1])),
    ("random_state", lambda d: __import__("asymptotics.estimator").estimator.CostSensitiveSVC(
        random_state=I64(-1)).fit(d[0], d[1])),
    ("n_points", lambda d: asy.pareto_front(GROUP, 2.0, n_points=I64(1))),
    ("p", lambda d: LABEL.restrict(I64(0))),
    ("intercept", lambda d: asy.cs_svm(LABEL, 2.0, 1.0, intercept=I64(1))),
    ("tol", lambda d: fit_max_margin(d[0], d[1], tol=F64(2.0))),
    ("delta", lambda d: asy.gs_svm(GROUP, 2.0, {(I64(2), 1): 2.0})),
])
def test_numpy_scalars_are_shown_as_numbers(data, name, call):
    """The probe: ``got np.int64(0)`` (numpy 2's repr of the user's own value)."""
    msg = _refused(name, lambda: call(data))
    assert "np." not in msg


# ----------------------------------------------------------------------------------------------
# 2. absurd sizes: refused at once, before any work


@pytest.mark.parametrize("names,call", [
    (("gamma", "delta"), lambda: asy.cs_svm(LABEL, np.ones((100_000, 1)), np.ones(100_000))),
    (("gamma", "delta"), lambda: asy.gs_svm(GROUP, np.ones((20_000, 1)), np.ones(20_000))),
    (("gamma", "margins"), lambda: asy.max_margin(CLUSTER, np.full((5000, 5000, 1), 2.0), [1.0, 1.0, 1.0])),
    (("gamma", "lam"), lambda: asy.erm(LABEL, np.ones((1000, 1)), "CE", np.full(1000, 0.1))),
    (("gamma",), lambda: asy.cs_svm(LABEL, np.broadcast_to(np.float32(2.0), (2 * 10 ** 8,)), 1.0)),
    (("delta",), lambda: asy.cs_svm(LABEL, 2.0, np.broadcast_to(2.0, (10 ** 4, 10 ** 5)))),
    (("lam",), lambda: asy.erm(LABEL, 2.0, "CE", np.broadcast_to(0.1, (2 * 10 ** 8,)))),
])
def test_absurd_grids_are_refused_before_any_work(names, call):
    t0 = time.perf_counter()
    msg = _refused(names, call)
    assert time.perf_counter() - t0 < 5.0, msg
    assert "at most" in msg


def test_grids_up_to_the_cap_run():
    from asymptotics._validation import MAX_GRID_POINTS, check_grid
    check_grid((MAX_GRID_POINTS,), "gamma")
    with pytest.raises(ValueError, match="gamma and delta broadcast to"):
        check_grid((MAX_GRID_POINTS + 1,), "gamma and delta")
    r = asy.cs_svm(LABEL, np.linspace(0.5, 5.0, 2000)[:, None], [1.0, 2.0])
    assert np.shape(r.q) == (2000, 2) and np.all(r.separable)


# ----------------------------------------------------------------------------------------------
# 3. the solver's range: gamma <= 1e50, margins <= 1e300, separable gamma >= 1e-300


@pytest.mark.parametrize("value", [1e60, 1e120, 1e200, np.finfo(float).max])
@pytest.mark.parametrize("call", [
    lambda g: asy.cs_svm(LABEL, g, 2.0), lambda g: asy.cs_svm(LABEL, [2.0, g], 2.0),
    lambda g: asy.cs_svm(LABEL, g, 2.0, intercept=False), lambda g: asy.gs_svm(GROUP, g, 2.0),
    lambda g: asy.max_margin(CLUSTER, g, [1.0, 2.0, 3.0]), lambda g: asy.cs_svm(SPECTRUM, g, 2.0),
    lambda g: asy.delta_star(LABEL, g), lambda g: asy.optimize_margins(LABEL, g, "R_bal"),
], ids=["cs", "cs-array", "cs-no-intercept", "gs", "max_margin", "covariance", "delta_star", "optimize"])
def test_gamma_above_the_range_is_a_value_error(call, value):
    _refused("gamma", lambda: call(value))


@pytest.mark.parametrize("name,call", [
    ("delta", lambda: asy.cs_svm(LABEL, 2.0, 1e308)),
    ("delta", lambda: asy.cs_svm(LABEL, [2.0, 3.0], [1.0, np.finfo(float).max])),
    ("delta", lambda: asy.gs_svm(GROUP, 2.0, 1e308)),
    ("margins", lambda: asy.max_margin(CLUSTER, 2.0, [1e308, 1.0, 1.0])),
    ("margins", lambda: asy.max_margin(CLUSTER, 2.0, np.array([1.0, 1.0, 1e301]))),
])
def test_margins_above_the_range_are_a_value_error(name, call):
    _refused(name, call)


def test_the_ends_of_the_range_are_solved():
    for model, intercept in ((LABEL, True), (LABEL, False), (asy.LabelGMM(0.1, [0.0], [0.0]), True)):
        r = asy.cs_svm(model, [2.0, 1e40, 1e50], 2.0, intercept=intercept)
        assert np.all(r.status == 0) and np.all(np.isfinite(r.q))
        # scalars take the single-point path: the same answer
        assert float(asy.cs_svm(model, 1e50, 2.0, intercept=intercept).q) == pytest.approx(float(r.q[2]), rel=1e-12)
    assert np.all(np.isfinite(asy.gs_svm(GROUP, 1e50, 2.0).errors))
    assert np.all(np.isfinite(asy.cs_svm(SPECTRUM, [2.0, 1e40], 2.0).q))
    r = asy.max_margin(CLUSTER, 2.0, [1e300, 1.0, 1e-300])
    assert int(r.status) == 0 and np.all(np.isfinite(r.errors))


def test_separable_gamma_below_the_range_is_a_value_error_not_a_failure():
    """gamma* of far-apart means underflows (exp(-804) for norm 40): gamma =
    1e-310 is separable, but below the solver's range; below gamma* it is
    simply not separable, however small."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")        # and the internal threshold lookup does not warn
        _refused("gamma", lambda: asy.cs_svm(asy.LabelGMM.antipodal(0.1, 40.0), 1e-310, 2.0))
        _refused("gamma", lambda: asy.cs_svm(asy.LabelGMM.antipodal(0.1, 1e3), [1e-320, 2.0], 2.0,
                                             on_nonseparable="nan"))
    with pytest.raises(asy.NotSeparableError):
        asy.cs_svm(asy.LabelGMM.antipodal(0.1, 4.0), 1e-310, 2.0)


def test_an_underflowing_threshold_does_not_warn_on_every_solve():
    """A covariance model with far-apart means: every cs_svm call warned that
    gamma* (looked up internally) underflows, although nobody asked for it."""
    far = asy.LabelGMM(0.1, [40.0, 0.0], [-40.0, 0.0], covariance=np.eye(2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = asy.cs_svm(far, [1e-3, 2.0], 1.0)
    assert np.all(r.status == 0) and np.all(np.isfinite(r.log_errors)) and np.all(r.log_errors < -700)
    with pytest.warns(asy.ThresholdUnderflowWarning):          # asked for: still said
        assert asy.separability_threshold(far) == 0.0


# ----------------------------------------------------------------------------------------------
# 4. the single-point fast path validates like the general path


@pytest.mark.parametrize("margins", [[[1, 1, 1], [1, 1]], ((1, 1, 1), (1, 1)), [1.0, [1.0], 1.0],
                                     [1.0, np.inf, 1.0], [1.0, np.nan, 1.0], (1.0, -1.0, 1.0)])
def test_fast_path_refuses_what_the_general_path_refuses(margins):
    _refused("margins", lambda: asy.max_margin(CLUSTER, 2.0, margins))
    _refused("margins", lambda: asy.max_margin(CLUSTER, [2.0], margins))


# ----------------------------------------------------------------------------------------------
# 5. what a function does not cover: a ValueError (and NotImplementedError)


@pytest.mark.parametrize("name,call", [
    ("result", lambda: asy.sensitivity(asy.cs_svm(SPECTRUM, 2.0, 2.0))),
    ("result", lambda: asy.sensitivity(asy.erm(SPECTRUM, 2.0, "CE", 0.1))),
    ("result", lambda: asy.sensitivity(asy.gs_svm(GROUP_COV, 2.0, 2.0))),
    ("model", lambda: asy.optimize_margins(SPECTRUM, 2.0, "R")),
    ("model", lambda: asy.optimize_margins(GROUP_COV, 2.0, "R")),
    ("model", lambda: asy.pareto_front(GROUP_COV, 2.0)),
])
def test_unsupported_models_are_value_errors(name, call):
    msg = _refused(name, call, NotSupportedError)
    assert "covariance" in msg
    assert issubclass(NotSupportedError, ValueError) and issubclass(NotSupportedError, NotImplementedError)


# ----------------------------------------------------------------------------------------------
# 6. optimize_margins: integer cluster indices, a callable objective returns one finite number


@pytest.mark.parametrize("model,margins", [(LABEL, [[0.5]]), (LABEL, [[0.0]]), (LABEL, [[True]]),
                                           (GROUP, [[np.float64(0.0)], [2]]), (GROUP, [["0"], [2]]),
                                           (GROUP, [[0, 2.0]]), (LABEL, [0])])
def test_margin_groups_are_integer_indices(model, margins):
    _refused("margins", lambda: asy.optimize_margins(model, 2.0, "R", margins=margins))


def test_integer_types_are_fine_as_indices():
    a = asy.optimize_margins(GROUP, 2.0, "R", margins=[[np.int64(0), 2]])
    b = asy.optimize_margins(GROUP, 2.0, "R", margins="minority")
    assert a.value == pytest.approx(b.value, rel=1e-9)


@pytest.mark.parametrize("objective", [lambda r: float("nan"), lambda r: float("inf"), lambda r: "x",
                                       lambda r: None, lambda r: r.errors, lambda r: 1 + 1j, lambda r: True])
def test_callable_objective_must_return_a_finite_number(objective):
    _refused("objective", lambda: asy.optimize_margins(LABEL, 2.0, objective))


def test_callable_objective_errors_pass_through_and_good_ones_work():
    with pytest.raises(ZeroDivisionError):
        asy.optimize_margins(LABEL, 2.0, lambda r: 1 / 0)
    own = asy.optimize_margins(LABEL, 2.0, lambda r: float(np.mean(r.errors)), margins="minority")
    ref = asy.optimize_margins(LABEL, 2.0, "R_bal", margins="minority")
    assert own.free[0] == pytest.approx(ref.free[0], rel=1e-4)


# ----------------------------------------------------------------------------------------------
# 7. messages name the argument that is wrong


@pytest.mark.parametrize("name,call", [
    ("delta", lambda: asy.erm(LABEL, 2.0, asy.VSLoss(), 0.1, delta=2.0)),
    ("delta", lambda: asy.erm(LABEL, 2.0, asy.HingeLoss(), 0.1, delta=3.0)),
    ("delta", lambda: asy.vs_preset("CDT", 0.1, 1e-320)),
    ("delta", lambda: asy.vs_preset("VS", 0.1, 5e-324)),
    ("prior", lambda: asy.vs_preset("wCE", 5e-324)),
    ("delta", lambda: asy.erm(LABEL, 2.0, ("CDT", 1e-320), 0.1)),
])
def test_losses_name_the_argument(name, call):
    msg = _refused(name, call)
    assert not msg.startswith(("loss:", "Delta"))


@pytest.mark.parametrize("cut", [lambda y: y[:5], lambda y: y[:10], lambda y: list(y[:12]), lambda y: np.r_[y, y]])
@pytest.mark.parametrize("method", ["plugin", "margins"])
def test_suggest_delta_reports_a_length_mismatch_as_one(data, cut, method):
    from asymptotics.datadriven import suggest_delta
    X, y, _, _ = data
    msg = _refused(("X and y",), lambda: suggest_delta(X, cut(y), method=method))
    assert "class" not in msg


def test_estimator_names_y_once(data):
    from asymptotics.estimator import CostSensitiveSVC
    X, y, _, _ = data
    msg = _refused("y", lambda: CostSensitiveSVC(delta=2.0).fit(X, y * 0.5 + 0.25))
    assert not msg.startswith("y: y:")


def test_a_finite_sample_that_is_not_separable_says_so_without_nan(data):
    from asymptotics.estimator import CostSensitiveSVC
    _, _, NX, Ny = data
    collinear = np.array([[1.0, 1, 1], [2, 2, 2], [3, 3, 3]])
    for call in (lambda: fit_max_margin(NX, Ny), lambda: fit_max_margin(NX, Ny, check_separable=False),
                 lambda: fit_max_margin(collinear, np.array([1, -1, 1.0]), intercept=False),
                 lambda: CostSensitiveSVC(delta=2.0).fit(collinear, [1, -1, 1])):
        with pytest.raises(asy.NotSeparableError) as info:
            call()
        msg = str(info.value)
        assert "nan" not in msg and "not linearly separable" in msg and "\n" not in msg
        assert math.isnan(info.value.gamma_star)
    # the theory's error keeps its threshold
    with pytest.raises(asy.NotSeparableError, match="gamma_star = 0.0156"):
        asy.cs_svm(LABEL, 1e-3, 1.0)


# ----------------------------------------------------------------------------------------------
# 8. the command line names its flags


def _cli(capsys, *argv):
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


LAB = ["--prior", "0.1", "--norms", "2,2", "--angle", "180"]
GRP = ["--model", "group", "--class-prior", "0.5", "--group-prior", "0.1", "--mean-1", "3,0", "--mean-2", "0,3"]


@pytest.mark.parametrize("argv,flag,rc", [
    (["predict", "--prior", "0.1", "--mean-plus", "1e300,0", "--mean-minus", "1,0", "--gamma", "2"],
     "--mean-plus", 2),
    (["predict", "--prior", "0.1", "--norms", "1e10,1", "--angle", "90", "--gamma", "2"], "--norms", 2),
    (["predict", "--model", "group", "--class-prior", "0.5", "--group-prior", "0.1", "--mean-1", "1e6,0",
      "--mean-2", "0,1", "--gamma", "2"], "--mean-1", 2),
    (["optimize", *LAB, "--gamma", "2", "--objective", "abs_DEO"], "--objective", 2),
    (["optimize", *LAB, "--gamma", "2", "--constraint", "abs_DEO=0.1"], "--constraint", 2),
    (["optimize", *GRP, "--gamma", "2", "--constraint", "worst=1e-9"], "--constraint", 1),
    (["predict", *LAB, "--gamma", "1e60"], "--gamma", 2),
    (["delta-star", *LAB, "--gamma", "1e60"], "--gamma", 2),
    (["predict", *LAB, "--gamma", "2", "--delta", "1e308"], "--delta", 2),
])
def test_command_line_messages_name_the_flag(capsys, argv, flag, rc):
    got, out, err = _cli(capsys, *argv)
    assert got == rc and err.count("\n") == 1 and flag in err, err
    assert not re.search(r"error: (means|objective|constraints|gamma|delta)\b", err), err


def test_threshold_prints_the_logarithm_where_gamma_star_underflows(capsys):
    import json
    rc, out, err = _cli(capsys, "threshold", "--prior", "0.1", "--norms", "40,40", "--angle", "180", "--json")
    rows = json.loads(out)
    assert rc == 0 and rows[0]["gamma_star"] == 0.0
    exact = asy.separability_threshold(asy.LabelGMM.antipodal(0.1, 40.0), log=True)
    assert rows[0]["log_gamma_star"] == pytest.approx(exact, rel=1e-12) and rows[0]["log_gamma_star"] < -745
    rc, out, err = _cli(capsys, "threshold", *LAB, "--csv")        # the usual table is unchanged
    assert rc == 0 and out.startswith("intercept,gamma_star\n")


# ----------------------------------------------------------------------------------------------
# 9. fit_erm at any scale: right or refused, never silently wrong


@pytest.mark.parametrize("loss", [asy.VSLoss(), asy.HingeLoss(), asy.SquareLoss()], ids=["vs", "hinge", "square"])
@pytest.mark.parametrize("c", [1e160, 1e200, 1e300])
def test_fit_erm_refuses_features_whose_squares_overflow(data, loss, c):
    """The probe: X * 1e200 gave w = 0 and objective log 2 with kkt 0."""
    X, y, _, _ = data
    msg = _refused("X", lambda: fit_erm(X * c, y, loss, 0.1))
    assert "rescale X" in msg


@pytest.mark.parametrize("loss", [asy.VSLoss(), asy.HingeLoss(), asy.SquareLoss()], ids=["vs", "hinge", "square"])
@pytest.mark.parametrize("c", [2.0 ** -1000, 1e-300, 1e-100, 1e-30, 1e30, 1e100, 1e160, 1e300])
def test_fit_erm_without_ridge_is_right_at_any_scale(data, loss, c):
    """lam = 0 is exactly scale-covariant, w(cX) = w(X)/c: solved at a
    power-of-two scale (the probe: X * 1e100 failed in HiGHS, X * 1e200 was
    silently wrong)."""
    _, _, NX, Ny = data
    ref = fit_erm(NX, Ny, loss, 0.0)
    fit = fit_erm(NX * c, Ny, loss, 0.0)
    np.testing.assert_allclose(np.asarray(fit.w) * c, ref.w, rtol=0, atol=1e-12 * np.max(np.abs(ref.w)))
    assert fit.b == pytest.approx(ref.b, abs=1e-12 * (1 + abs(ref.b)))
    assert fit.objective == pytest.approx(ref.objective, rel=1e-13)
    assert not fit.w.flags.writeable


def test_fit_erm_without_ridge_on_separable_data_at_any_scale(data):
    X, y, _, _ = data
    for c in (1e-300, 1e300):
        with pytest.raises(asy.NotSeparableError, match="separable"):
            fit_erm(X * c, y, asy.VSLoss(), 0.0)


# ----------------------------------------------------------------------------------------------
# 10. fit_erm's iterations are capped


@pytest.mark.parametrize("max_iter", [10 ** 6, 10 ** 12, np.int64(10 ** 9)])
def test_fit_erm_max_iter_is_capped(data, max_iter):
    X, y, _, _ = data
    _refused("max_iter", lambda: fit_erm(X, y, asy.VSLoss(), 0.1, max_iter=max_iter))
    assert fit_erm(X, y, asy.VSLoss(), 0.1, max_iter=np.int64(50)).converged


# ----------------------------------------------------------------------------------------------
# 11. the tuning results carry the logarithms of their errors


def test_delta_results_carry_log_errors():
    import mpmath as mp
    far = asy.LabelGMM.antipodal(0.1, 40.0)
    d = asy.delta_star(far, 1e-3)
    assert float(d.R_plus) == 0.0 and np.all(np.isfinite(d.log_errors)) and float(d.log_errors[0]) < -700
    # the log at the closed-form optimum, from the SVM's projections and the optimal intercept
    svm = asy.cs_svm(far, 1e-3, float(d.delta))
    np.testing.assert_allclose(d.log_errors, svm.log_errors, rtol=1e-9)
    t = float(far.labels[0] * (svm.projections[0] + svm.beta))          # R_+ = Q(t)
    with mp.workdps(30):
        assert float(mp.log(mp.erfc(mp.mpf(t) / mp.sqrt(2)) / 2)) == pytest.approx(float(d.log_errors[0]), rel=1e-9)
    for res in (asy.delta_star(LABEL, [2.0, 3.0]), asy.delta_min_error(LABEL, [2.0, 3.0]),
                asy.delta_star(LABEL, [2.0, 3.0], intercept=False)):
        assert res.log_errors.shape == (2, 2) and not res.log_errors.flags.writeable
        np.testing.assert_allclose(res.log_errors, np.log(np.stack([res.R_plus, res.R_minus], -1)), rtol=1e-10)
    scalar = asy.delta_star(LABEL, 2.0)
    assert scalar.log_errors.shape == (2,)


@pytest.mark.parametrize("mean_2", [[0.0, 60.0], [0.0, 59.0], [10.0, 59.0]])
def test_equal_opportunity_where_the_errors_underflow(mean_2):
    """Means of norm 60: every subgroup error is below 1e-308, so DEO = 0 - 0
    at every delta; the probe got delta_0 = 1 'attainable' (the SVM) although
    log R_{+,1} != log R_{+,2} there.  The gap is now measured in logs."""
    far = asy.GroupGMM(0.5, 0.2, [60.0, 0.0], mean_2)
    e = asy.delta_equal_opportunity(far, 1e-3)
    assert e.attainable and e.n_roots == 1 and e.delta != 1.0 and e.DEO == 0.0
    assert e.log_R_yg.shape == (2, 2) and np.all(np.isfinite(e.log_R_yg)) and np.max(e.log_R_yg) < -745
    assert e.log_R_yg[0, 0] == pytest.approx(e.log_R_yg[0, 1], rel=1e-12)
    svm = asy.gs_svm(far, 1e-3, 1.0)
    assert abs(svm.log_R_yg[0, 0] - svm.log_R_yg[0, 1]) > 1.0          # the SVM does not equalise them
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = asy.delta_equal_opportunity(asy.GroupGMM(0.5, 0.2, [60.0, 0.0], [60.0, 0.0]), 1e-3)
    assert same.attainable and same.delta == 1.0


def test_equal_opportunity_result_carries_log_subgroup_errors():
    e = asy.delta_equal_opportunity(GROUP, 2.0)
    at = asy.gs_svm(GROUP, 2.0, e.delta)
    np.testing.assert_allclose(e.log_R_yg, np.log(at.R_yg), rtol=1e-10)
    with pytest.raises(ValueError, match="read-only"):
        e.log_R_yg[0, 0] = 0.0
