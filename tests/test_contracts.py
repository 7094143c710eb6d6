"""Result contracts for every model and engine (asymptotics/results.py), and
the core classes of hostile input: wrong error class, silent NaN, obscure
messages, errors below the smallest double."""
import math
import warnings

import numpy as np
import pytest

import asymptotics as asy
from asymptotics.covariance import Spectrum
from frozen import assert_frozen

LABEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
GROUP = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])
CLUSTER = asy.ClusterGMM([0.2, 0.3, 0.5], [1, -1, 1], [[2.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
SPECTRUM = asy.LabelGMM(0.2, [2.0, 0.0], [-1.0, 1.0], covariance=Spectrum([0.5, 2.0], [2.0, 0.5]))
MATRIX = asy.LabelGMM(0.2, [2.0, 0.0, 0.0], [-1.0, 1.0, 0.0],
                      covariance=np.diag([2.0, 0.5, 1.0]) + 0.1 * np.ones((3, 3)))

RESULTS = {
    "cs_svm": lambda g: asy.cs_svm(LABEL, g, 2.0),
    "gs_svm": lambda g: asy.gs_svm(GROUP, g, 3.0),
    "max_margin": lambda g: asy.max_margin(CLUSTER, g, [1.0, 2.0, 0.5]),
    "cs_svm_spectrum": lambda g: asy.cs_svm(SPECTRUM, g, 2.0),
    "cs_svm_matrix": lambda g: asy.cs_svm(MATRIX, g, 2.0),
    "erm_label": lambda g: asy.erm(LABEL, g, "CE", 0.01),
    "erm_group": lambda g: asy.erm(GROUP, g, "hinge", 0.1),
    "erm_cluster": lambda g: asy.erm(CLUSTER, g, asy.VSLoss(Delta=[1.0, 2.0, 0.5]), 0.01),
}
MODELS = {"cs_svm": LABEL, "gs_svm": GROUP, "max_margin": CLUSTER, "cs_svm_spectrum": SPECTRUM,
          "cs_svm_matrix": MATRIX, "erm_label": LABEL, "erm_group": GROUP, "erm_cluster": CLUSTER}
S_FIELDS = ("q", "b", "residual", "iterations", "status")


def _fields(res):
    return {k: v for k, v in vars(res).items() if k not in ("model", "loss", "metrics", "intercept")}


@pytest.mark.parametrize("name", RESULTS)
def test_scalar_input_gives_scalars_and_read_only_arrays(name):
    res = RESULTS[name](2.0)
    model = MODELS[name]
    for key, value in _fields(res).items():
        if value is None:
            continue
        assert isinstance(value, (np.generic, np.ndarray)), (key, type(value))
        if isinstance(value, np.ndarray):
            assert value.ndim >= 1 and not value.flags.writeable, key
    for key in S_FIELDS:
        assert isinstance(getattr(res, key), np.generic), key
    for key in ("R_bal", "R") if name not in ("max_margin", "erm_cluster") else ():
        assert isinstance(getattr(res, key), np.generic), key
    assert np.shape(res.rho) == (model.rank,)
    np.testing.assert_allclose(model.factor @ np.asarray(res.rho), res.projections, rtol=1e-10, atol=1e-12)
    assert int(res.status) == 0 and res.messages == "converged"


@pytest.mark.parametrize("name", RESULTS)
def test_array_input_shapes(name):
    gam = np.array([[1.5, 2.0, 3.0], [2.5, 4.0, 6.0]])
    res = RESULTS[name](gam)
    model = MODELS[name]
    K, r = model.n_clusters, model.rank
    assert np.shape(res.q) == gam.shape and np.shape(res.status) == gam.shape
    assert np.shape(res.rho) == gam.shape + (r,)
    assert np.shape(res.projections) == gam.shape + (K,)
    np.testing.assert_allclose(np.einsum("kr,...r->...k", model.factor, res.rho), res.projections,
                               rtol=1e-10, atol=1e-12)
    errs = np.asarray(res.errors) if hasattr(res, "errors") else np.asarray(res.R_yg).reshape(gam.shape + (K,))
    logs = np.asarray(res.log_errors) if hasattr(res, "log_errors") else \
        np.asarray(res.log_R_yg).reshape(gam.shape + (K,))
    ok = errs > 1e-300
    np.testing.assert_allclose(logs[ok], np.log(errs[ok]), rtol=1e-12)
    for value in _fields(res).values():
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable
    assert np.all(np.asarray(res.messages) == "converged")


def test_errors_below_the_smallest_double_keep_their_logarithm():
    """Antipodal means of norm 40: gamma_star is exp(-804), R+ and R- are
    exp(-784) and exp(-806); the logs are right (checked against mpmath at
    40 digits) although the errors underflow to 0."""
    import mpmath as mp
    from asymptotics import reference as ref
    m = asy.LabelGMM.antipodal(0.1, 40.0)
    with pytest.warns(asy.solver.ThresholdUnderflowWarning, match="log=True"):
        assert asy.separability_threshold(m) == 0.0
    log_gs = asy.separability_threshold(m, log=True)
    exact = float(mp.log(ref.separability_threshold(m.priors, m.labels, m.gram)))
    assert log_gs == pytest.approx(exact, rel=1e-12)
    s = asy.cs_svm(m, 1e-3, 1.0)
    assert float(s.R_plus) == 0.0 and np.all(np.isfinite(s.log_errors))
    r = ref.solve(m.priors, m.labels, m.gram, [1.0, 1.0], 1e-3)
    with mp.workdps(40):
        exact_logs = [float(mp.log(e)) for e in r["errors"]]
    np.testing.assert_allclose(s.log_errors, exact_logs, rtol=1e-9)


@pytest.mark.parametrize("norm", [20.0, 30.0])
def test_log_domain_threshold_continues_the_engine(norm):
    """Where gamma_star is still a double, the log-domain minimisation (used
    below 1e-300) gives the engine's value."""
    from asymptotics import _engine, solver
    m = asy.LabelGMM.antipodal(0.1, norm)
    gs = asy.separability_threshold(m)
    _, x, _, _ = _engine.threshold(m.factor, m.priors, m.labels, True, 200, 1000)
    assert solver._log_threshold(m, True, 0.9 * x) == pytest.approx(math.log(gs), rel=1e-13)


def test_tiny_gamma_is_not_separable_not_a_convergence_failure():
    m = asy.LabelGMM.antipodal(0.1, 2.0)
    for gamma in (1e-320, 1e-300, 1e-30):
        with pytest.raises(asy.NotSeparableError):
            asy.cs_svm(m, gamma, 1.0)
    r = asy.cs_svm(m, [1e-320, 2.0], 1.0, on_nonseparable="nan")
    assert r.separable.tolist() == [False, True] and r.status.tolist() == [1, 0]
    assert "not separable" in r.messages[0]


@pytest.mark.parametrize("prior", [0.1, 0.5, 0.8])
def test_identical_class_means_give_finite_answers(prior):
    """Equal class means: w carries no class information, R_bal = 1/2 for
    every delta (delta* balances R+ = R- = 1/2) and the standard error falls
    monotonically towards the majority side, so its infimum over the CS-SVM
    family is the limit delta -> 0 (pi < 1/2) or inf (pi > 1/2); for pi = 1/2
    every delta is optimal (delta = 1)."""
    m = asy.LabelGMM(prior, [1.0, 0.0], [1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asy.DeltaWarning)
        ds = asy.delta_star(m, 2.0)
        dm = asy.delta_min_error(m, 2.0)
    assert float(ds.R_plus) == pytest.approx(0.5, abs=1e-12) and float(ds.R_bal) == pytest.approx(0.5)
    assert np.isfinite(dm.R) and not np.isnan(dm.delta) and dm.delta >= 0
    if prior == 0.5:
        assert dm.delta == 1.0 and bool(dm.attainable)
    else:
        edge = 1e-9 if prior < 0.5 else 1e9
        assert dm.delta == (0.0 if prior < 0.5 else np.inf) and not dm.attainable
        assert float(dm.R) == pytest.approx(float(asy.cs_svm(m, 2.0, edge).R), rel=1e-6)
        assert float(dm.R) <= float(asy.cs_svm(m, 2.0, 1.0).R)


@pytest.mark.parametrize("call,names", [
    (lambda: asy.cs_svm(LABEL, [1.0, 2.0, 3.0], [1.0, 2.0]), ("gamma", "delta")),
    (lambda: asy.gs_svm(GROUP, [1.0, 2.0, 3.0], [1.0, 2.0]), ("gamma", "delta")),
    (lambda: asy.max_margin(CLUSTER, [1.0, 2.0, 3.0], np.ones((2, 3))), ("gamma", "margins")),
    (lambda: asy.erm(LABEL, [1.0, 2.0, 3.0], "CE", [0.1, 0.2]), ("gamma", "lam")),
])
def test_shape_mismatches_name_the_arguments(call, names):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert all(n in msg for n in names) and "\n" not in msg and "arg 0" not in msg


def test_data_driven_inputs():
    from asymptotics.datadriven import suggest_delta
    from asymptotics.estimator import CostSensitiveSVC
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    y = np.r_[np.ones(6), -np.ones(34)]
    for folds in (1, 0, 2.5, "3", True):
        with pytest.raises(ValueError, match="folds"):
            suggest_delta(X, y, method="margins", folds=folds)
    with pytest.raises(ValueError, match="method"):
        suggest_delta(X, y, method="magic")
    mixed = np.array(["a", 1] * 20, dtype=object)
    with pytest.raises(ValueError, match="y: labels must be all numbers or all strings"):
        CostSensitiveSVC(delta=2.0).fit(X, mixed)


def test_no_nan_without_saying_so():
    """NaN appears only where a result says why (separable/exists False and a status)."""
    r = asy.cs_svm(LABEL, [0.001, 2.0], 1.0, on_nonseparable="nan")
    nan = np.isnan(r.q)
    assert np.array_equal(nan, ~r.separable) and np.all(r.status[nan] == 1)
    e = asy.erm(LABEL, [0.001, 2.0], "CE", 0.0, on_nonseparable="nan")
    nan = np.isnan(e.q)
    assert np.array_equal(nan, ~e.exists) and np.all(e.status[nan] == 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.all(np.isfinite(asy.erm(LABEL, [0.5, 2.0], "CE", 0.01).errors))


@pytest.mark.parametrize("bad", ["2", True, [1, "2"], np.array(["1"]), [[1, 2], [3]], None, {"a": 1}])
def test_numbers_are_numbers(bad):
    """Strings, booleans and ragged sequences are refused, not converted."""
    with pytest.raises(ValueError, match="gamma must be numeric") as info:
        asy.cs_svm(LABEL, bad, 1.0)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("call", [
    lambda g: asy.cs_svm(LABEL, g, 2.0), lambda g: asy.gs_svm(GROUP, g, 3.0),
    lambda g: asy.max_margin(CLUSTER, g, np.array([1.0, 2.0, 0.5])),
], ids=["cs_svm", "gs_svm", "max_margin"])
def test_single_point_fast_path_equals_the_general_path(call):
    """A scalar point takes one compiled call; a 1-element array the general
    path: same fields, same values (to rounding), same contracts."""
    one, arr = call(2.0), call(np.array([2.0]))
    for key, value in _fields(one).items():
        if value is None or key in ("margins", "delta", "gamma"):
            continue
        other = getattr(arr, key)
        got, want = np.asarray(value, dtype=float), np.asarray(other, dtype=float).reshape(np.shape(value))
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15, err_msg=key)
    assert type(one.q) is np.float64 and not one.errors.flags.writeable


def test_sweeps_do_not_depend_on_the_thread_count():
    """Chunks of consecutive points are the unit of parallel work, cut
    independently of the threads: the same bits with 1 thread or 2."""
    from asymptotics import _parallel
    g = np.linspace(0.2, 8.0, 1200)
    try:
        _parallel.set_threads(1)
        one = asy.cs_svm(LABEL, g, 2.0)
        e1 = asy.erm(LABEL, g[:600], "CE", 0.01)
        _parallel.set_threads(2)
        two = asy.cs_svm(LABEL, g, 2.0)
        e2 = asy.erm(LABEL, g[:600], "CE", 0.01)
    finally:
        _parallel.set_threads(None)
    assert np.array_equal(one.q, two.q) and np.array_equal(one.errors, two.errors)
    assert np.array_equal(e1.q, e2.q) and np.array_equal(e1.errors, e2.errors)


@pytest.mark.parametrize("call,match", [
    (lambda: asy.LabelGMM.antipodal(0.1, [1, 2]), "norm must be a scalar"),
    (lambda: asy.gs_svm(GROUP, 2.0, delta={(1, 1): [1, 2]}), r"delta\[\(1, 1\)\] must be a scalar"),
    (lambda: asy.max_margin(CLUSTER, 2.0, [1 + 0j, 1, 1]), "margins must be numeric"),
    (lambda: asy.max_margin(CLUSTER, 2.0, [True, True, True]), "margins must be numeric"),
    (lambda: asy.LabelGMM(0.1, [1e200], [-1e200]), "outside the supported range"),
    (lambda: asy.LabelGMM.antipodal(0.1, 1e15), "outside the supported range"),
    (lambda: asy.LabelGMM.from_gram(0.1, [[1e300, 0], [0, 1e300]]), "outside the supported range"),
    (lambda: asy.LabelGMM(0.1, [4, 0], [0, 2], covariance=np.eye(2) * 1e-320), "covariance"),
    (lambda: asy.LabelGMM(0.1, [4, 0], [0, 2], covariance=np.eye(2, dtype=complex)), "covariance must be numeric"),
    (lambda: asy.LabelGMM(0.1, [4, 0], [0, 2], covariance=np.diag([1e-8, 1e8])), "condition number"),
    (lambda: Spectrum([1e-300], [1e-300, 1e-300]), "eigenvalues"),
    (lambda: asy.erm(LABEL, 2.0, asy.VSLoss(omega=1e100), 1e-2), "omega"),
    (lambda: asy.erm(LABEL, 2.0, asy.VSLoss(iota=-1e3), 1e-2), "iota"),
    (lambda: asy.erm(LABEL, 2.0, asy.HingeLoss(Delta=1e-9), 1e-2), "Delta"),
])
def test_out_of_range_and_ill_typed_input_is_refused(call, match):
    with pytest.raises(ValueError, match=match) as info:
        call()
    assert "\n" not in str(info.value)


def test_models_and_results_cannot_be_changed_behind_the_solver():
    with pytest.raises(AttributeError):
        LABEL.prior = 0.9
    with pytest.raises(AttributeError):
        GROUP.class_prior = 0.9
    with pytest.raises(ValueError):
        GROUP.group_priors[0] = 0.5
    r = asy.erm(LABEL, [1.0, 2.0], "CE", 0.1)
    with pytest.raises(TypeError):
        r.metrics["R_bal"] = 123
    d = asy.delta_star(LABEL, np.array([2.0, 3.0]))
    with pytest.raises(ValueError):
        d.delta[0] = -5
    p = asy.erm_path(LABEL, 2.0, "CE", lam=[1.0, 0.1])
    with pytest.raises(ValueError):
        p.gap[0] = 0.0


def test_equal_group_means_equalise_opportunity_at_every_delta():
    e = asy.delta_equal_opportunity(asy.GroupGMM(0.5, 0.05, [3.0, 0.0], [3.0, 0.0]), 2.0)
    assert e.attainable and e.delta == 1.0 and abs(e.DEO) < 1e-12


# ----------------------------------------------------------------------------------------------
# One contract for every result type (asymptotics.results.ReadOnlyResult): pickle, deepcopy, a
# spawn pool, joblib's loky, value ==, read-only and frozen after the round trip (issue 18, item 3)

def _sample():
    from asymptotics.simulate import sample
    return sample(LABEL, 60, 4, np.random.default_rng(0))


def _simulated(kind):
    from asymptotics.datadriven import suggest_delta
    from asymptotics.simulate import fit_erm, fit_max_margin, monte_carlo, train_vs
    s = _sample()
    return {
        "Sample": lambda: s,
        "MaxMarginFit": lambda: fit_max_margin(s.X, s.y),
        "ERMFit": lambda: fit_erm(s.X, s.y, asy.VSLoss(), 0.1),
        "TrainResult": lambda: train_vs(s.X, s.y, asy.vs_preset("CDT", 0.1, 2.0), max_iter=20),
        "MonteCarloResult": lambda: monte_carlo(LABEL, 2.0, 2.0, n=40, trials=2, seed=1, method="CE", lam=0.1,
                                                backend="sequential"),
        "DeltaSuggestion": lambda: suggest_delta(s.X, s.y),
    }[kind]()


EVERY_RESULT = {
    "MaxMarginResult": lambda: asy.max_margin(CLUSTER, [1.5, 2.0], [1.0, 2.0, 0.5]),
    "MaxMarginResult-nan": lambda: asy.max_margin(CLUSTER, [1e-3, 2.0], [1.0, 2.0, 0.5], on_nonseparable="nan"),
    "CSSVMResult": lambda: asy.cs_svm(LABEL, 2.0, 2.0),
    "CSSVMResult-spectrum": lambda: asy.cs_svm(SPECTRUM, [2.0, 3.0], 2.0),
    "CSSVMResult-matrix": lambda: asy.cs_svm(MATRIX, 2.0, 2.0),
    "GSSVMResult": lambda: asy.gs_svm(GROUP, [2.0, 3.0], 3.0),
    "ERMResult": lambda: asy.erm(LABEL, [1.0, 2.0], "CE", 0.1),
    "ERMResult-nan": lambda: asy.erm(LABEL, [0.001, 2.0], "CE", 0.0, on_nonseparable="nan"),
    "ERMResult-group-hinge": lambda: asy.erm(GROUP, 2.0, ("hinge", 2.0), 0.1),
    "ERMResult-spectrum": lambda: asy.erm(SPECTRUM, 2.0, "VS", 0.1),
    "ERMPath": lambda: asy.erm_path(LABEL, 2.0, ("CDT", 2.0), lam=[1.0, 0.1]),
    "ERMPath-no-limit": lambda: asy.erm_path(LABEL, 0.05, "CE", lam=[1.0, 0.1]),
    "MarginOptimum": lambda: asy.optimize_margins(LABEL, 2.0, "R_bal", margins="minority"),
    "ParetoFront": lambda: asy.pareto_front(GROUP, 2.0, n_points=3),
    "Sensitivity": lambda: asy.sensitivity(asy.cs_svm(LABEL, [2.0, 3.0], 2.0)),
    "Sensitivity-erm": lambda: asy.sensitivity(asy.erm(LABEL, 2.0, "CE", 0.1)),
    "DeltaResult": lambda: asy.delta_star(LABEL, [2.0, 3.0]),
    "EqualOpportunityResult": lambda: asy.delta_equal_opportunity(GROUP, 2.0),
    "Performance": lambda: asy.performance(asy.cs_svm(LABEL, [2.0, 3.0], 2.0), test_prior=0.3),
    "ThresholdResult": lambda: asy.best_threshold(asy.gs_svm(GROUP, [2.0, 3.0], 3.0), "worst"),
    "Calibration": lambda: asy.calibration(asy.erm(LABEL, [1.0, 2.0], "CE", 0.1)),
    **{kind: (lambda kind=kind: _simulated(kind)) for kind in
       ("Sample", "MaxMarginFit", "ERMFit", "TrainResult", "MonteCarloResult", "DeltaSuggestion")},
}
_BUILT = {}


def _result(name):
    if name not in _BUILT:
        _BUILT[name] = EVERY_RESULT[name]()
    return _BUILT[name]


def _fields_equal(a, b):
    """Independent of the contract's own ==: every field by value (np.testing, NaN equal)."""
    import dataclasses
    if isinstance(a, asy.ClusterGMM):
        return type(a) is type(b) and all(_fields_equal(getattr(a, n), getattr(b, n))
                                          for n in ("priors", "labels", "gram", "means"))
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_fields_equal(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if hasattr(a, "items"):
        return set(a) == set(b) and all(_fields_equal(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_fields_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, (np.ndarray, np.generic, float, int)) and not isinstance(a, (str, bool)):
        if np.asarray(a).dtype == object:
            return all(_fields_equal(x, y) for x, y in zip(np.ravel(a), np.ravel(b)))
        try:
            np.testing.assert_array_equal(a, b)
            return np.shape(a) == np.shape(b)
        except AssertionError:
            return False
    return a == b


def test_every_result_type_is_covered_and_uses_the_one_contract():
    """Every class deriving from ReadOnlyResult is in EVERY_RESULT, declares
    eq=False (so the contract's ==, not a dataclass field-tuple comparison,
    is used) and is unhashable."""
    import asymptotics.datadriven  # noqa: F401  (import every module that defines a result type)
    import asymptotics.simulate  # noqa: F401
    from asymptotics.results import ReadOnlyResult

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)
    found = {c.__name__ for c in subclasses(ReadOnlyResult) if c.__module__.startswith("asymptotics")
             and "__dataclass_fields__" in vars(c)}
    covered = {name.split("-")[0] for name in EVERY_RESULT}
    assert found == covered
    for cls in subclasses(ReadOnlyResult):
        if "__dataclass_fields__" in vars(cls):
            assert cls.__eq__ is ReadOnlyResult.__eq__ and cls.__hash__ is None, cls


@pytest.mark.parametrize("name", sorted(EVERY_RESULT))
def test_results_pickle_and_deepcopy_to_equal_frozen_results(name):
    import copy
    import pickle
    r = _result(name)
    assert_frozen(r)
    for clone in (pickle.loads(pickle.dumps(r)), copy.deepcopy(r), copy.copy(r)):
        assert type(clone) is type(r)
        assert _fields_equal(clone, r)
        assert clone == r and not (clone != r)
        assert_frozen(clone)
    with pytest.raises(TypeError, match="unhashable"):
        hash(r)


@pytest.mark.parametrize("name", sorted(EVERY_RESULT))
def test_results_compare_by_value_without_numpy_errors(name):
    r = _result(name)
    assert r == r
    assert (r == 1.0) is False and (r == "result") is False and r != None  # noqa: E711
    other = next(_result(n) for n in sorted(EVERY_RESULT) if n != name and type(_result(n)) is not type(r))
    assert (r == other) is False


def test_results_that_differ_in_one_value_are_not_equal():
    a, b = asy.erm(LABEL, [1.0, 2.0], "CE", 0.1), asy.erm(LABEL, [1.0, 2.5], "CE", 0.1)
    assert a != b and a == asy.erm(LABEL, [1.0, 2.0], "CE", 0.1)
    assert asy.erm(LABEL, 2.0, "CE", 0.1) != asy.erm(LABEL, 2.0, "CE", 0.1, intercept=False)
    assert asy.erm(LABEL, 2.0, "CE", 0.1) != asy.erm(asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.5]), 2.0, "CE", 0.1)
    assert asy.cs_svm(LABEL, 2.0, 2.0) == asy.cs_svm(asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0]), 2.0, 2.0)


def test_results_cross_a_spawn_pool_and_come_back_frozen():
    """The probe: a spawn pool returning an erm result lost the finished work
    (MaybeEncodingError).  Results computed in the worker, and results sent
    there and back (copy.copy in the worker), arrive equal and read-only."""
    import copy
    import multiprocessing
    names = sorted(EVERY_RESULT)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        computed = pool.apply(asy.erm, (LABEL, [1.0, 2.0], "CE", 0.1))
        back = pool.map(copy.copy, [_result(n) for n in names])
    assert computed == asy.erm(LABEL, [1.0, 2.0], "CE", 0.1)
    assert_frozen(computed)
    for name, clone in zip(names, back):
        assert clone == _result(name) and _fields_equal(clone, _result(name)), name
        assert_frozen(clone)


def test_results_cross_joblib_loky_and_come_back_frozen():
    import copy

    import joblib
    names = sorted(EVERY_RESULT)
    out = joblib.Parallel(n_jobs=2, backend="loky")(
        [joblib.delayed(asy.erm)(LABEL, [1.0, 2.0], "CE", 0.1)] +
        [joblib.delayed(copy.copy)(_result(n)) for n in names])
    assert out[0] == asy.erm(LABEL, [1.0, 2.0], "CE", 0.1)
    for name, clone in zip(["erm"] + names, out):
        assert clone == (out[0] if name == "erm" else _result(name)), name
        assert_frozen(clone)


def test_frozen_dict_is_a_read_only_picklable_mapping():
    import pickle
    from asymptotics.results import FrozenDict
    d = FrozenDict({"a": np.array([1.0, np.nan]), "b": 2})
    assert d == {"a": np.array([1.0, np.nan]), "b": 2} and d != {"a": np.array([1.0, 0.0]), "b": 2}
    assert pickle.loads(pickle.dumps(d)) == d and dict(d).keys() == {"a", "b"} and len(d) == 2
    with pytest.raises(TypeError):
        d["c"] = 1
    with pytest.raises(AttributeError):
        d._data = {}
    with pytest.raises(TypeError, match="unhashable"):
        hash(d)


def test_models_and_spectra_compare_and_hash_by_value():
    """A model (and a Spectrum) equals its pickled and deep-copied self and
    hashes alike; a different prior, mean or covariance makes it different."""
    import copy
    import pickle
    spec = Spectrum([0.5, 2.0], [0.5, 0.5])
    models = [LABEL, GROUP, asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0], covariance=spec),
              asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0], covariance=np.diag([1.0, 2.0])),
              asy.ClusterGMM([0.2, 0.8], [1, -1], [[1.0, 0.0], [0.0, 1.0]])]
    for m in models:
        for clone in (pickle.loads(pickle.dumps(m)), copy.deepcopy(m)):
            assert clone == m and not (clone != m) and hash(clone) == hash(m) and {m: 1}[clone] == 1
    assert len(set(models)) == len(models)
    assert asy.LabelGMM(0.2, [4.0, 0.0], [0.0, 2.0]) != LABEL
    assert asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.5]) != LABEL
    assert models[2] != models[3] != LABEL
    assert spec == pickle.loads(pickle.dumps(spec)) and hash(spec) == hash(copy.deepcopy(spec))
    assert spec != Spectrum([0.5, 2.0], [0.5, 0.6]) and spec != "spectrum"
