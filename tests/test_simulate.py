"""Sampling, the exact max-margin solver and VS-loss training."""
import numpy as np
import pytest
from scipy.optimize import minimize

import asymptotics as asy
from asymptotics.simulate import (classifier_errors, empirical_errors, fit_max_margin, sample,
                                  sample_mismatch, train_vs, vs_preset, VSLoss)

LABEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
GROUP = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])


def test_sample_shapes_frequencies_and_means():
    rng = np.random.default_rng(0)
    s = sample(GROUP, 20000, 5, rng)
    assert s.X.shape == (20000, 5) and s.y.shape == (20000,)
    freq = np.bincount(s.k, minlength=4) / 20000
    np.testing.assert_allclose(freq, GROUP.priors, atol=4 * np.sqrt(0.25 / 20000))
    for k in range(4):
        rows = s.X[s.k == k]
        expected = np.zeros(5)
        expected[:2] = GROUP.means[k]
        np.testing.assert_allclose(rows.mean(axis=0), expected, atol=5 / np.sqrt(len(rows)))
        assert np.all(s.y[s.k == k] == GROUP.labels[k])


def test_sampling_is_seeded_and_mismatch_truncates():
    a = sample(LABEL, 50, 30, np.random.default_rng(3))
    b = sample(LABEL, 50, 30, np.random.default_rng(3))
    np.testing.assert_array_equal(a.X, b.X)
    c = sample_mismatch(LABEL, 50, 30, 7, np.random.default_rng(3))
    np.testing.assert_array_equal(c.X, a.X[:, :7])
    with pytest.raises(ValueError, match="p must"):
        sample_mismatch(LABEL, 50, 30, 31, np.random.default_rng(3))
    with pytest.raises(ValueError, match="rng"):
        sample(LABEL, 5, 5, 3)
    with pytest.raises(ValueError, match="restrict"):
        sample(LABEL, 5, 1, np.random.default_rng(0))


def test_exact_errors_match_a_large_test_set():
    rng = np.random.default_rng(5)
    w, b = rng.normal(size=6), 0.3
    exact = classifier_errors(GROUP, w, b)
    emp = empirical_errors(GROUP, w, b, 400_000, rng)
    counts = 400_000 * GROUP.priors
    assert np.all(np.abs(emp - exact) <= 4.5 * np.sqrt(exact * (1 - exact) / counts))


def _primal_slsqp(X, y, m, intercept):
    """Independent reference: SLSQP on the primal of a tiny problem."""
    d = X.shape[1]
    nvar = d + (1 if intercept else 0)

    def cons(v):
        b = v[d] if intercept else 0.0
        return y * (X @ v[:d] + b) - m

    res = minimize(lambda v: 0.5 * v[:d] @ v[:d], np.zeros(nvar), jac=lambda v: np.r_[v[:d], np.zeros(nvar - d)],
                   constraints=[{"type": "ineq", "fun": cons, "jac": lambda v: np.c_[y[:, None] * X, y[:, None]]
                                 if intercept else y[:, None] * X}],
                   method="SLSQP", options={"ftol": 1e-15, "maxiter": 1000})
    return res.x[:d], (res.x[d] if intercept else 0.0)


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("model", [LABEL, GROUP], ids=["label", "group"])
def test_exact_solver_matches_independent_primal_solve(model, intercept):
    rng = np.random.default_rng(11)
    s = sample(model, 40, 60, rng)
    margins = rng.uniform(0.5, 3.0, model.n_clusters)[s.k]
    fit = fit_max_margin(s.X, s.y, margins, intercept=intercept)
    w, b = _primal_slsqp(s.X, s.y, margins, intercept)
    np.testing.assert_allclose(fit.w, w, atol=1e-6 * np.linalg.norm(w))
    assert abs(fit.b - b) < 1e-6 * (1 + abs(b))
    assert fit.kkt_residual < 1e-12 and fit.min_margin_ratio == pytest.approx(1.0, abs=1e-12)


def test_backends_agree_and_shift_identity_holds_on_data():
    rng = np.random.default_rng(2)
    s = sample(LABEL, 300, 600, rng)
    one = fit_max_margin(s.X, s.y, backend="svc")
    for delta in (0.5, 3.0, 20.0):
        margins = np.where(s.y > 0, delta, 1.0)
        svc = fit_max_margin(s.X, s.y, margins, backend="svc")
        qp = fit_max_margin(s.X, s.y, margins, backend="piqp")
        np.testing.assert_allclose(svc.w, qp.w, rtol=1e-9, atol=1e-12)
        assert svc.b == pytest.approx(qp.b, rel=1e-9)
        # the CS-SVM is the SVM shifted: w = (d+1)/2 w1, b = (d+1)/2 b1 + (d-1)/2
        np.testing.assert_allclose(qp.w, (delta + 1) / 2 * one.w, rtol=1e-9, atol=1e-12)
        assert qp.b == pytest.approx((delta + 1) / 2 * one.b + (delta - 1) / 2, rel=1e-9)


def test_non_separable_data_raise():
    rng = np.random.default_rng(0)
    s = sample(asy.LabelGMM.antipodal(0.5, 0.5), 200, 10, rng)
    with pytest.raises(asy.NotSeparableError):
        fit_max_margin(s.X, s.y)
    with pytest.raises(asy.NotSeparableError):
        fit_max_margin(s.X, s.y, intercept=False)


def test_solver_bad_inputs():
    X = np.random.default_rng(0).normal(size=(5, 8))
    y = np.array([1, -1, 1, -1, 1.0])
    with pytest.raises(ValueError, match="y must"):
        fit_max_margin(X, np.array([1, 0, 1, -1, 1.0]))
    with pytest.raises(ValueError, match="margins"):
        fit_max_margin(X, y, np.zeros(5))
    with pytest.raises(ValueError, match="X"):
        fit_max_margin(np.full((5, 8), np.nan), y)
    with pytest.raises(ValueError, match="backend"):
        fit_max_margin(X, y, backend="cvx")
    with pytest.raises(ValueError, match="svc"):
        fit_max_margin(X, y, np.arange(1.0, 6.0), backend="svc")


@pytest.fixture(scope="module")
def small_problem():
    rng = np.random.default_rng(1)
    return sample(LABEL, 100, 300, rng)


def test_vs_loss_gradient_matches_finite_differences(small_problem):
    s = small_problem
    loss = vs_preset("VS", 0.1, 2.5)
    res = train_vs(s.X, s.y, loss, method="gd", lr=0.05, max_iter=3, gtol=0)
    w = res.w
    k = np.where(s.y > 0, 0, 1)

    def L(w):
        z = loss.iota[k] - loss.Delta[k] * s.y * (s.X @ w)
        return np.mean(loss.omega[k] * np.logaddexp(0, z))
    # one more GD step from w equals w - lr * numerical gradient
    h = 1e-6
    num = np.array([(L(w + h * e) - L(w - h * e)) / (2 * h) for e in np.eye(s.X.shape[1])[:5]])
    z = loss.iota[k] - loss.Delta[k] * s.y * (s.X @ w)
    grad = -((loss.omega[k] * loss.Delta[k] / len(s.y)) / (1 + np.exp(-z))) @ (s.y[:, None] * s.X)
    np.testing.assert_allclose(grad[:5], num, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("name", ["CDT", "VS", "VS-w"])
def test_multiplicative_losses_converge_to_cs_svm(small_problem, name):
    s = small_problem
    delta = 3.0
    loss = vs_preset(name, 0.1, delta)
    cs = fit_max_margin(s.X, s.y, np.where(s.y > 0, delta, 1.0), intercept=False)
    res = train_vs(s.X, s.y, loss, method="normalized", lr=1.0, max_iter=4000, gtol=0, w_ref=cs.w)
    assert res.history["angle"][-1] < 1e-3
    assert res.history["train_error"][-1] == 0
    # and not to the plain SVM
    svm = fit_max_margin(s.X, s.y, intercept=False)
    cos = res.w @ svm.w / np.linalg.norm(res.w) / np.linalg.norm(svm.w)
    assert np.arccos(min(cos, 1.0)) > 1e-2


@pytest.mark.parametrize("name", ["LA", "wCE", "LDAM", "CE"])
def test_additive_and_weighted_losses_converge_to_svm(small_problem, name):
    s = small_problem
    svm = fit_max_margin(s.X, s.y, intercept=False)
    res = train_vs(s.X, s.y, vs_preset(name, 0.1), method="normalized", lr=1.0, max_iter=4000, gtol=0,
                   w_ref=svm.w)
    assert res.history["angle"][-1] < 1e-3


def test_gd_stops_at_gradient_tolerance_and_records_history(small_problem):
    s = small_problem
    res = train_vs(s.X, s.y, vs_preset("CDT", 0.1, 3.0), method="normalized", lr=1.0, max_iter=10_000,
                   gtol=1e-8, model=LABEL)
    assert res.converged and res.grad_norm < 1e-8 and res.iterations < 10_000
    h = res.history
    assert h["iteration"][0] == 0 and h["iteration"][-1] == res.iterations
    assert np.all(np.diff(h["iteration"]) > 0)
    assert h["test_error"][-1] < 0.5 and h["train_error"][-1] == 0
    slow = train_vs(s.X, s.y, vs_preset("CE", 0.1), method="gd", lr=0.1, max_iter=50, gtol=1e-8)
    assert not slow.converged and slow.iterations == 50


def test_presets_and_loss_validation():
    la = vs_preset("LA", 0.1)
    np.testing.assert_allclose(la.iota, [np.log(9), -np.log(9)])
    cdt = vs_preset("CDT", 0.1, 4.0)
    np.testing.assert_allclose(cdt.implied_margins, [4.0, 1.0])
    np.testing.assert_allclose(vs_preset("wCE", 0.2).omega, [5.0, 1.25])
    np.testing.assert_allclose(vs_preset("LDAM", 0.1).iota, [0.1 ** -0.25, 0.9 ** -0.25])
    with pytest.raises(ValueError, match="name"):
        vs_preset("focal", 0.1)
    with pytest.raises(ValueError, match="Delta"):
        VSLoss([1, 1], [0, 0], [1, 0])
    with pytest.raises(ValueError, match="clusters"):
        train_vs(np.ones((3, 2)), np.array([1, -1, 1.0]), VSLoss.for_margins([1, 2, 3]))


def test_group_vs_loss_converges_to_gs_svm():
    # group-sensitive VS-loss with Delta_{y,g} = 1/margin_{y,g} -> GS-SVM (paper §3, group version)
    rng = np.random.default_rng(8)
    s = sample(GROUP, 80, 240, rng)
    margins = np.array([3.0, 1.0, 3.0, 1.0])          # minority group g = 1 gets delta = 3
    gs = fit_max_margin(s.X, s.y, margins[s.k], intercept=False)
    loss = VSLoss.for_margins(margins, omega=[2.0, 1.0, 2.0, 1.0], iota=[0.5, 0.0, 0.5, 0.0])
    res = train_vs(s.X, s.y, loss, clusters=s.k, method="normalized", lr=1.0, max_iter=4000, gtol=0,
                   w_ref=gs.w)
    assert res.history["angle"][-1] < 1e-3
    svm = fit_max_margin(s.X, s.y, intercept=False)
    cos = res.w @ svm.w / np.linalg.norm(res.w) / np.linalg.norm(svm.w)
    assert np.arccos(min(cos, 1.0)) > 1e-2


def test_batched_gd_is_train_vs_stacked():
    """train_vs_batch runs the same iterations as train_vs on each problem
    (primal iterates for d < n, the Gram-matrix form for d > n): equal
    weights, iteration counts and histories."""
    from asymptotics.simulate import train_vs_batch
    m = asy.LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0])
    for d, method, opts in ((40, "normalized", dict(lr=1.0, max_iter=400, gtol=0.0)),
                            (150, "normalized", dict(lr=1.0, max_iter=400, gtol=0.0)),
                            (150, "gd", dict(lr=0.5, max_iter=3000, gtol=1e-6))):
        sets = [sample(m, 100, d, np.random.default_rng(r)) for r in range(4)]
        losses = [vs_preset(name, 0.1, 3.0) for name in ("CE", "CDT", "LA", "VS")]
        W, iters, conv, hists = train_vs_batch(np.array([s.X for s in sets]), np.array([s.y for s in sets]), losses,
                                               method=method, model=m, n_records=20, **opts)
        for j, (s, loss) in enumerate(zip(sets, losses)):
            one = train_vs(s.X, s.y, loss, method=method, model=m, n_records=20, **opts)
            np.testing.assert_allclose(W[j], one.w, rtol=1e-10, atol=1e-12 * np.abs(one.w).max())
            assert iters[j] == one.iterations and conv[j] == one.converged
            np.testing.assert_array_equal(hists[j]["iteration"], one.history["iteration"])
            np.testing.assert_allclose(hists[j]["test_error"], one.history["test_error"], rtol=1e-10)


def test_gram_form_of_gd_has_the_primal_iterates():
    """theta = yZ^T alpha: the n-dimensional iteration gives the iterates of
    the d-dimensional one, to rounding while the gradient is not tiny; deep in
    the terminal phase (gradient ~1e-65) normalised GD amplifies rounding, and
    the two agree in direction (what the terminal phase is about)."""
    from asymptotics.simulate.vsloss import _gd
    m = asy.LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0])
    s = sample(m, 60, 200, np.random.default_rng(7))
    yZ = (s.y[:, None] * s.X)[None]
    loss = vs_preset("VS", 0.1, 3.0)
    k = np.where(s.y > 0, 0, 1)
    args = (yZ, loss.omega[k][None], loss.iota[k][None], loss.Delta[k][None])
    for method, lr in (("normalized", 1.0), ("gd", 0.3)):
        primal = _gd(*args, method, lr, 40, 0.0, dual=False)
        gram = _gd(*args, method, lr, 40, 0.0, dual=True)
        np.testing.assert_allclose(gram[0], primal[0], rtol=1e-8, atol=1e-8 * np.abs(primal[0]).max())
        np.testing.assert_allclose(gram[4], primal[4], rtol=1e-6)
    primal = _gd(*args, "normalized", 1.0, 2000, 0.0, dual=False)[0][0]
    gram = _gd(*args, "normalized", 1.0, 2000, 0.0, dual=True)[0][0]
    assert primal @ gram / np.linalg.norm(primal) / np.linalg.norm(gram) > 1 - 1e-5
