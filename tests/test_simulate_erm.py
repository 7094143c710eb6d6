"""Exact regularised ERM on samples (asymptotics.simulate.erm): optimality
conditions checked independently, agreement with scikit-learn, numpy least
squares and the hard-margin solver, lam = 0, and input validation."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.errors import ConvergenceError, NotSeparableError
from asymptotics.losses import HingeLoss, SquareLoss, VSLoss
from asymptotics.simulate import fit_max_margin, sample
from asymptotics.simulate.erm import ERMFit, SeparableSampleError, fit_erm

LABEL = asy.LabelGMM(0.2, [1.5, 0.0], [0.0, 1.0])
GROUP = asy.GroupGMM(0.3, 0.2, [1.5, 0.0], [0.5, 1.0])


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """Small dense problems: a second BLAS thread only adds contention on a
    shared 2-core machine (measured 2-6x slower)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def _data(model, n, d, seed):
    s = sample(model, n, d, np.random.default_rng(seed))
    return s.X.copy(), s.y, s.k                  # samples are read-only; some tests edit X


def _per_sample(loss, k):
    K = loss.size
    take = (lambda a: np.broadcast_to(a, (K,))[k])
    return take(loss.omega), take(loss.iota), take(loss.Delta)


def _smooth_gradient(X, y, k, loss, lam, w, b):
    """Independent gradient of (1/n) sum l(y(w.x+b)) + lam/2 |w|^2 from the
    loss formulas (not from the module), and its scale."""
    om, io, De = _per_sample(loss, k)
    m = y * (X @ w + b)
    if isinstance(loss, VSLoss):
        der = -om * De / (1.0 + np.exp(-(io - De * m)))
    else:
        der = -om * (De - m)
    n = y.size
    gw = X.T @ (der * y) / n + lam * w
    gb = np.sum(der * y) / n
    scale = np.max(np.abs(X).T @ np.abs(der)) / n + lam * np.max(np.abs(w))
    return gw, gb, scale


def _objective(X, y, k, loss, lam, w, b):
    om, io, De = _per_sample(loss, k)
    m = y * (X @ w + b)
    if isinstance(loss, VSLoss):
        val = om * np.logaddexp(0.0, io - De * m)
    elif isinstance(loss, HingeLoss):
        val = om * np.maximum(De - m, 0.0)
    else:
        val = 0.5 * om * (De - m) ** 2
    return np.mean(val) + 0.5 * lam * w @ w


def _hinge_certificate(X, y, k, loss, lam, w, b, intercept, eps=1e-9):
    """Independent subgradient certificate: duals u_i = omega_i for margin
    violators, 0 for points beyond the margin, and for points on the margin
    the least-squares solution of stationarity; returns (stationarity residual
    relative to its scale, whether those duals lie in their box)."""
    om, _, De = _per_sample(loss, k)
    n = y.size
    m = y * (X @ w + b)
    xi = (De - m) / De
    on = np.abs(xi) <= eps
    u = np.where(xi > eps, om, 0.0)
    Z = np.hstack([X, np.ones((n, 1))]) if intercept else X
    target = np.r_[lam * w, 0.0] if intercept else lam * w
    G = (Z * y[:, None]).T / n                   # stationarity: target = G u
    rhs = target - G[:, ~on] @ u[~on]
    if on.any():
        u_on = np.linalg.lstsq(G[:, on], rhs, rcond=None)[0]
        u[on] = u_on
    resid = np.max(np.abs(target - G @ u))
    scale = np.max(np.abs(G) @ u) + lam * np.max(np.abs(w))
    inbox = bool(np.all(u >= -1e-9 * om) and np.all(u <= om * (1 + 1e-9)))
    return resid / scale, inbox


# (loss, clusters given?): K = 2 entries read per class, K = 4 per GroupGMM subgroup
LOSSES = {
    "VS-2": VSLoss([1.0, 2.5], [0.4, -0.3], [1.6, 0.7]),
    "VS-4": VSLoss([1.0, 2.0, 0.5, 1.5], [0.2, -0.5, 0.0, 1.0], [0.8, 1.3, 2.0, 0.6]),
    "square-2": SquareLoss([1.0, 3.0], [1.0, 2.0]),
    "square-4": SquareLoss([1.0, 2.0, 0.5, 1.5], [1.5, 1.0, 2.0, 0.5]),
    "hinge-2": HingeLoss([1.0, 4.0], [1.0, 2.0]),
    "hinge-4": HingeLoss([1.0, 2.0, 0.5, 1.5], [1.5, 1.0, 2.0, 0.5]),
}


@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
@pytest.mark.parametrize("d", [60, 400], ids=["d<n", "d>n"])
@pytest.mark.parametrize("name", list(LOSSES))
def test_kkt_conditions_hold(name, d, intercept):
    loss = LOSSES[name]
    K = loss.size
    X, y, k = _data(GROUP if K == 4 else LABEL, 200, d, seed=3 + d)
    clusters = k if K == 4 else None
    kk = k if K == 4 else np.where(y > 0, 0, 1)
    lam = 0.05
    fit = fit_erm(X, y, loss, lam, clusters=clusters, intercept=intercept)
    assert isinstance(fit, ERMFit) and fit.converged and fit.kkt <= 1e-10
    assert not intercept or fit.b != 0.0
    assert intercept or fit.b == 0.0
    assert np.all(np.isfinite(fit.w)) and not fit.w.flags.writeable
    assert fit.objective == pytest.approx(_objective(X, y, kk, loss, lam, fit.w, fit.b), rel=1e-13)
    if isinstance(loss, HingeLoss):
        resid, inbox = _hinge_certificate(X, y, kk, loss, lam, fit.w, fit.b, intercept)
        assert inbox and resid < 1e-9
    else:
        gw, gb, scale = _smooth_gradient(X, y, kk, loss, lam, fit.w, fit.b)
        assert np.max(np.abs(gw)) < 1e-9 * scale
        assert not intercept or abs(gb) < 1e-9 * scale


def test_newton_in_the_span_matches_newton_in_weight_space():
    """d just above n: the kernel form solves the same problem as the primal
    one (forced through the private switch)."""
    from asymptotics.simulate import erm

    X, y, k = _data(GROUP, 150, 200, seed=8)
    loss = LOSSES["VS-4"]
    data, _, _, _ = erm._validate(X, y, loss, 0.01, k, True, 1e-12, 100)
    wp, bp, _, rp = erm._newton_primal(data, 1e-12, 100)
    wk, bk, _, rk = erm._newton_kernel(data, 1e-12, 100)
    assert rp <= 1e-12 and rk <= 1e-12
    np.testing.assert_allclose(wk, wp, rtol=0, atol=1e-10 * np.max(np.abs(wp)))
    assert bk == pytest.approx(bp, rel=1e-10)


@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
@pytest.mark.parametrize("d", [50, 300], ids=["d<n", "d>n"])
def test_cross_entropy_matches_sklearn_logistic_regression(d, intercept):
    from sklearn.linear_model import LogisticRegression

    X, y, _ = _data(LABEL, 200, d, seed=11)
    n, lam = y.size, 0.02
    fit = fit_erm(X, y, VSLoss(), lam, intercept=intercept)
    # sklearn: C sum log(1 + e^{-y f}) + |w|^2 / 2, intercept unpenalised (lbfgs): C = 1 / (n lam)
    clf = LogisticRegression(C=1.0 / (n * lam), tol=1e-14, max_iter=100_000, fit_intercept=intercept)
    clf.fit(X, y)
    w_sk, b_sk = clf.coef_[0], (float(clf.intercept_[0]) if intercept else 0.0)
    np.testing.assert_allclose(fit.w, w_sk, rtol=0, atol=1e-6 * np.max(np.abs(fit.w)))
    assert abs(fit.b - b_sk) <= 1e-6 * (1 + abs(fit.b))
    # ours is the (more) exact one: never above sklearn's objective
    k0 = np.zeros(n, dtype=int)
    assert fit.objective <= _objective(X, y, k0, VSLoss(), lam, w_sk, b_sk) + 1e-15


def test_unregularised_cross_entropy_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    X, y, _ = _data(asy.LabelGMM(0.4, [0.7], [-0.7]), 500, 8, seed=4)
    fit = fit_erm(X, y, VSLoss(), 0.0)
    clf = LogisticRegression(C=np.inf, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(fit.w, clf.coef_[0], rtol=0, atol=1e-6 * np.max(np.abs(fit.w)))
    assert fit.b == pytest.approx(clf.intercept_[0], abs=1e-6)
    assert fit.kkt <= 1e-10 and fit.solver == "newton-primal"


@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
def test_hinge_matches_sklearn_svc(intercept):
    from sklearn.svm import SVC

    X, y, _ = _data(LABEL, 200, 120, seed=5)
    n, lam = y.size, 0.05
    fit = fit_erm(X, y, HingeLoss(), lam, intercept=intercept)
    if intercept:
        clf = SVC(kernel="linear", C=1.0 / (n * lam), tol=1e-8).fit(X, y)
        w_sk, b_sk = clf.coef_[0], float(clf.intercept_[0])
    else:
        # SVC always fits an intercept: check through the dual objective instead
        w_sk, b_sk = None, 0.0
    k0 = np.zeros(n, dtype=int)
    if w_sk is not None:
        np.testing.assert_allclose(fit.w, w_sk, rtol=0, atol=1e-5 * np.max(np.abs(fit.w)))
        assert fit.b == pytest.approx(b_sk, abs=1e-5)
        assert fit.objective <= _objective(X, y, k0, HingeLoss(), lam, w_sk, b_sk) + 1e-15
    # weak duality: the hinge objective equals the dual value at the certificate
    resid, inbox = _hinge_certificate(X, y, k0, HingeLoss(), lam, fit.w, fit.b, intercept)
    assert inbox and resid < 1e-9


@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
def test_hinge_small_ridge_is_the_max_margin_classifier(intercept):
    """Separable data, per-cluster margins Delta_k: once lam is small enough that
    no dual variable reaches its box (lam <= omega_min / (n max alpha)), the
    soft-margin solution is exactly the hard-margin one with margins Delta."""
    X, y, k = _data(GROUP, 120, 240, seed=6)
    Delta = np.array([2.0, 1.0, 1.5, 0.5])
    omega = np.array([1.0, 3.0, 1.0, 2.0])
    mm = fit_max_margin(X, y, Delta[k], intercept=intercept, backend="piqp")
    n = y.size
    lam = 0.5 * omega.min() / (n * mm.alpha.max())
    fit = fit_erm(X, y, HingeLoss(omega, Delta), lam, clusters=k, intercept=intercept)
    np.testing.assert_allclose(fit.w, mm.w, rtol=0, atol=1e-9 * np.max(np.abs(mm.w)))
    assert fit.b == pytest.approx(mm.b, abs=1e-9 * (1 + abs(mm.b)))
    assert fit.objective == pytest.approx(0.5 * lam * mm.w @ mm.w, rel=1e-9)


@pytest.mark.parametrize("lam", [0.05, 1e-7])
def test_hinge_backends_agree(lam):
    """libsvm (label-only parameters, used from n = 2000 on) and PIQP give the
    same polished solution; at lam = 1e-7 libsvm's support set needs the
    active-set repair of the polish."""
    from asymptotics.simulate import erm

    X, y, _ = _data(LABEL, 300, 150, seed=17)
    loss = HingeLoss([1.0, 2.0], [2.0, 1.0])
    data, _, _, _ = erm._validate(X, y, loss, lam, None, True, 1e-10, 200)
    svc = erm._fit_hinge_qp(data, 1e-10, 200, backend="svc")
    qp = erm._fit_hinge_qp(data, 1e-10, 200, backend="piqp")
    assert svc.solver.startswith("svc") and qp.solver.startswith("piqp")
    np.testing.assert_allclose(svc.w, qp.w, rtol=0, atol=1e-10 * np.max(np.abs(qp.w)))
    assert svc.b == pytest.approx(qp.b, abs=1e-10 * (1 + abs(qp.b)))


@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
def test_hinge_with_every_point_inside_its_margin(intercept):
    """A huge ridge: every dual variable at its box, no free point (with an
    intercept b is then only determined up to an interval)."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 20))
    y = np.repeat([1.0, -1.0], 50)
    lam = 1e4
    fit = fit_erm(X, y, HingeLoss(), lam, intercept=intercept)
    k0 = np.zeros(100, dtype=int)
    resid, inbox = _hinge_certificate(X, y, k0, HingeLoss(), lam, fit.w, fit.b, intercept)
    assert fit.kkt <= 1e-10 and inbox and resid < 1e-9
    np.testing.assert_allclose(fit.w, X.T @ y / (100 * lam), rtol=1e-12)


def test_vs_lam_zero_with_a_rank_deficient_design():
    """A duplicated feature: the minimiser exists but is not unique; the
    minimum-norm one splits the weight evenly."""
    X, y, _ = _data(asy.LabelGMM(0.4, [0.7], [-0.7]), 300, 6, seed=3)
    one = fit_erm(X, y, VSLoss(), 0.0)
    two = fit_erm(np.hstack([X, X[:, :1]]), y, VSLoss(), 0.0)
    assert two.kkt <= 1e-10
    assert two.w[0] == pytest.approx(two.w[-1], rel=1e-8)
    assert two.w[0] + two.w[-1] == pytest.approx(one.w[0], rel=1e-8)
    assert two.objective == pytest.approx(one.objective, rel=1e-12)


@pytest.mark.parametrize("lam", [0.0, 1e-9, 1e-3, 0.3])
@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
@pytest.mark.parametrize("d", [40, 250], ids=["d<n", "d>n"])
def test_square_matches_numpy_least_squares(d, intercept, lam):
    X, y, k = _data(GROUP, 150, d, seed=7)
    loss = LOSSES["square-4"]
    if lam == 0 and d > y.size:
        with pytest.raises(ValueError, match="lam"):
            fit_erm(X, y, loss, lam, clusters=k, intercept=intercept)
        return
    fit = fit_erm(X, y, loss, lam, clusters=k, intercept=intercept)
    om, _, De = _per_sample(loss, k)
    n = y.size
    sw = np.sqrt(om / n)
    Z = np.hstack([X, np.ones((n, 1))]) if intercept else X
    p = Z.shape[1]
    # weighted ridge, augmented rows sqrt(lam) I on w (not on b)
    A = np.vstack([sw[:, None] * Z, np.sqrt(lam) * np.eye(d, p)])
    t = np.r_[sw * y * De, np.zeros(d)]
    theta = np.linalg.lstsq(A, t, rcond=None)[0]
    np.testing.assert_allclose(fit.w, theta[:d], rtol=0, atol=1e-9 * np.max(np.abs(theta[:d])))
    assert fit.b == pytest.approx(theta[d] if intercept else 0.0, abs=1e-9)
    assert fit.kkt <= 1e-10


def test_square_without_a_unique_minimiser_raises():
    X, y, _ = _data(LABEL, 50, 10, seed=1)
    X[:, 3] = 2.0 * X[:, 1]
    with pytest.raises(ValueError, match="lam.*rank"):
        fit_erm(X, y, SquareLoss(), 0.0)
    X2 = np.hstack([X[:, :3], np.ones((50, 1))])           # a constant column duplicates the intercept
    with pytest.raises(ValueError, match="lam.*rank"):
        fit_erm(X2, y, SquareLoss(), 0.0)
    fit_erm(X2, y, SquareLoss(), 0.0, intercept=False)     # fine without it


@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
def test_vs_per_cluster_is_a_local_minimum(intercept):
    X, y, k = _data(GROUP, 300, 150, seed=9)
    loss = LOSSES["VS-4"]
    lam = 1e-3
    fit = fit_erm(X, y, loss, lam, clusters=k, intercept=intercept)
    F0 = _objective(X, y, k, loss, lam, fit.w, fit.b)
    rng = np.random.default_rng(0)
    for scale in (1e-2, 1e-4):
        for _ in range(10):
            dw = scale * rng.standard_normal(fit.w.size)
            db = scale * rng.standard_normal() if intercept else 0.0
            assert _objective(X, y, k, loss, lam, fit.w + dw, fit.b + db) >= F0


@pytest.mark.parametrize("intercept", [True, False], ids=["b", "no-b"])
def test_lam_zero_on_non_separable_data(intercept):
    model = asy.GroupGMM(0.4, 0.3, [0.8, 0.0], [0.3, 0.5])
    X, y, k = _data(model, 400, 6, seed=10)
    for loss in (LOSSES["VS-4"], LOSSES["hinge-4"]):
        fit = fit_erm(X, y, loss, 0.0, clusters=k, intercept=intercept)
        assert fit.kkt <= 1e-10
        if isinstance(loss, VSLoss):
            gw, gb, scale = _smooth_gradient(X, y, k, loss, 0.0, fit.w, fit.b)
            assert np.max(np.abs(gw)) < 1e-9 * scale and (not intercept or abs(gb) < 1e-9 * scale)
        else:
            resid, inbox = _hinge_certificate(X, y, k, loss, 0.0, fit.w, fit.b, intercept)
            assert inbox and resid < 1e-9
            # an LP: no other point does better (random perturbations)
            rng = np.random.default_rng(1)
            F0 = fit.objective
            for _ in range(20):
                dw = 1e-3 * rng.standard_normal(fit.w.size)
                db = 1e-3 * rng.standard_normal() if intercept else 0.0
                assert _objective(X, y, k, loss, 0.0, fit.w + dw, fit.b + db) >= F0 - 1e-14


@pytest.mark.parametrize("loss", [VSLoss(), HingeLoss([1.0, 2.0], [2.0, 1.0])], ids=["VS", "hinge"])
@pytest.mark.parametrize("d", [30, 150], ids=["LP", "interpolation"])
def test_lam_zero_on_separable_data_raises(loss, d):
    X, y, _ = _data(LABEL, 100, d, seed=12)
    X[:, 0] = y * np.abs(X[:, 0]) + 0.1 * y                # separable by the first coordinate
    for intercept in (True, False):
        with pytest.raises(NotSeparableError, match="separable") as info:
            fit_erm(X, y, loss, 0.0, intercept=intercept)
        assert isinstance(info.value, SeparableSampleError)
        assert info.value.gamma == pytest.approx(d / 100) and np.isnan(info.value.gamma_star)


def test_vs_lam_zero_on_weakly_separated_data_raises():
    """Quasi-complete separation: one coordinate separates all samples but a
    pair with equal features and opposite labels, which it puts on the
    boundary: no hyperplane separates strictly, yet the VS loss keeps
    decreasing along that coordinate (no minimiser); the hinge minimiser exists."""
    rng = np.random.default_rng(2)
    n = 60
    y = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    X = rng.standard_normal((n, 3))
    X[:, 0] = y * (1.0 + rng.random(n))
    X[0, 0] = 0.0
    X[1] = X[0]                                           # y[0] = +1, y[1] = -1
    with pytest.raises(SeparableSampleError, match="weakly"):
        fit_erm(X, y, VSLoss(), 0.0, intercept=False)
    fit = fit_erm(X, y, HingeLoss(), 0.0, intercept=False)
    assert fit.kkt <= 1e-10


def test_mixed_smooth_losses_and_list_form():
    X, y, k = _data(GROUP, 200, 80, seed=13)
    mix = [VSLoss(1.0, 0.2, 1.5), SquareLoss(2.0, 1.0), VSLoss(0.5, -0.3, 0.8), SquareLoss(1.0, 0.5)]
    fit = fit_erm(X, y, mix, 0.1, clusters=k)
    assert fit.kkt <= 1e-10 and fit.solver.startswith("newton")
    # the same VS problem given as a list or as per-cluster arrays
    a = fit_erm(X, y, LOSSES["VS-4"], 0.1, clusters=k)
    vs = LOSSES["VS-4"]
    b = fit_erm(X, y, [VSLoss(vs.omega[i], vs.iota[i], vs.Delta[i]) for i in range(4)], 0.1, clusters=k)
    np.testing.assert_allclose(a.w, b.w, rtol=0, atol=1e-12 * np.max(np.abs(a.w)))
    with pytest.raises(ValueError, match="loss"):
        fit_erm(X, y, [HingeLoss(), SquareLoss(), HingeLoss(), HingeLoss()], 0.1, clusters=k)
    with pytest.raises(ValueError, match="lam"):
        fit_erm(X, y, mix, 0.0, clusters=k)


def test_two_entry_loss_is_read_per_class():
    X, y, k = _data(GROUP, 150, 40, seed=14)
    loss = VSLoss([1.0, 2.0], [0.5, 0.0], [2.0, 1.0])
    a = fit_erm(X, y, loss, 0.05)
    b = fit_erm(X, y, loss, 0.05, clusters=np.where(y > 0, 0, 1))
    np.testing.assert_array_equal(a.w, b.w)
    shared = fit_erm(X, y, VSLoss(), 0.05, clusters=k)     # a 1-entry loss accepts any clusters
    assert shared.w.tolist() == fit_erm(X, y, VSLoss(), 0.05).w.tolist()


def test_iteration_cap_raises_convergence_error():
    X, y, _ = _data(LABEL, 100, 30, seed=15)
    with pytest.raises(ConvergenceError) as info:
        fit_erm(X, y, VSLoss(), 1e-3, max_iter=2)
    assert info.value.iterations == 2 and info.value.residual > 1e-10


def test_large_scale_features_stay_finite():
    X, y, _ = _data(LABEL, 120, 60, seed=16)
    for s in (1e-3, 1e3):
        fit = fit_erm(s * X, y, VSLoss(), 1e-4)
        assert fit.kkt <= 1e-10 and np.all(np.isfinite(fit.w)) and np.isfinite(fit.objective)


_X = np.random.default_rng(0).standard_normal((6, 3))
_Y = np.array([1.0, -1.0, 1.0, -1.0, 1.0, -1.0])


@pytest.mark.parametrize("kwargs, name", [
    (dict(X=np.full((6, 3), np.nan)), "X"),
    (dict(X=np.ones(6)), "X"),
    (dict(X=np.ones((6, 0))), "X"),
    (dict(X=[["a"] * 3] * 6), "X"),
    (dict(y=np.ones(5)), "y"),
    (dict(y=np.array([1.0, 0.0, 1.0, -1.0, 1.0, -1.0])), "y"),
    (dict(y=np.array([1.0, np.inf, 1.0, -1.0, 1.0, -1.0])), "y"),
    (dict(y=np.ones(6)), "y"),                                   # one label with an intercept
    (dict(loss="CE"), "loss"),
    (dict(loss=VSLoss([1.0, 1.0, 1.0], 0.0, 1.0)), "loss"),      # 3 entries, no clusters
    (dict(loss=VSLoss([1.0, 1.0]), clusters=[0, 1, 2, 0, 1, 0]), "loss"),
    (dict(loss=[VSLoss(), VSLoss(), VSLoss()]), "loss"),
    (dict(lam=-1.0), "lam"),
    (dict(lam=np.nan), "lam"),
    (dict(lam=[0.1, 0.2]), "lam"),
    (dict(lam=True), "lam"),
    (dict(lam="0.1"), "lam"),
    (dict(clusters=[0, 1, 0.5, 0, 1, 0], loss=VSLoss([1.0, 2.0])), "clusters"),
    (dict(clusters=[0, 1, 0], loss=VSLoss([1.0, 2.0])), "clusters"),
    (dict(clusters=[0, -1, 0, 0, 1, 0], loss=VSLoss([1.0, 2.0])), "clusters"),
    (dict(clusters=["a"] * 6), "clusters"),
    (dict(clusters=[True] * 6), "clusters"),
    (dict(intercept=1), "intercept"),
    (dict(tol=0.0), "tol"),
    (dict(tol=np.inf), "tol"),
    (dict(max_iter=0), "max_iter"),
    (dict(max_iter=2.5), "max_iter"),
    (dict(max_iter=True), "max_iter"),
])
def test_bad_inputs_raise_value_error_naming_the_argument(kwargs, name):
    args = dict(X=_X, y=_Y, loss=VSLoss(), lam=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=rf"^{name}\b") as info:
        fit_erm(**args)
    assert "\n" not in str(info.value)
