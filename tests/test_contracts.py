"""Result contracts for every model and engine (asymptotics/results.py), and
the core classes of hostile input: wrong error class, silent NaN, obscure
messages, errors below the smallest double."""
import math
import warnings

import numpy as np
import pytest

import asymptotics as asy
from asymptotics.covariance import Spectrum

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
