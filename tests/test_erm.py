"""Regularised ERM asymptotics: exact identities and limits, bad input.

The independent high-precision check is in test_erm_reference.py; the
Monte-Carlo check in test_montecarlo_erm.py."""
import numpy as np
import pytest
from scipy.optimize import brentq

import asymptotics as asy
from asymptotics.losses import HingeLoss, SquareLoss, VSLoss

LABEL = asy.LabelGMM(0.1, [2.0, 0.0], [-1.0, 1.0])
GROUP = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])
CLUSTER = asy.ClusterGMM([0.1, 0.2, 0.3, 0.4], [1, -1, 1, -1],
                         [[2.0, 0.0, 0.5], [0.0, 1.0, 0.0], [-0.5, 1.0, 1.0], [1.0, -1.0, 0.3]])


def _close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol)


# ---------------------------------------------------------------- hinge -> max margin
@pytest.mark.parametrize("model", [LABEL, GROUP, CLUSTER], ids=["label", "group", "cluster"])
@pytest.mark.parametrize("intercept", [True, False])
def test_hinge_small_ridge_is_the_max_margin_classifier(model, intercept):
    """docs/erm.md §5.2: in the separable regime, hinge with margins Delta and
    a small ridge has exactly the max-margin solution with margins Delta
    (the box constraints of the dual are inactive up to a Gaussian mass of
    order Phi(-V omega/q), far below double precision here)."""
    K = model.n_clusters
    rng = np.random.default_rng(K + intercept)
    Delta = np.exp(rng.uniform(-0.7, 0.7, K))
    gamma = 3.0 * asy.separability_threshold(model, intercept) + 0.5
    mm = asy.max_margin(model, gamma, Delta, intercept)
    for lam in (1e-2, 1e-4):
        r = asy.erm(model, gamma, HingeLoss(Delta=Delta), lam, intercept)
        _close(r.q, mm.q, 1e-10)
        _close(r.b, mm.b, 1e-10)
        _close(r.projections, mm.projections, 1e-10)
        _close(r.errors, mm.errors, 1e-10)
        assert r.residual < 1e-10


def test_hinge_margins_map_to_the_cs_svm():
    r = asy.erm(asy.LabelGMM.antipodal(0.1, 2.0), 2.0, HingeLoss(Delta=[3.0, 1.0]), 0.05)
    s = asy.cs_svm(asy.LabelGMM.antipodal(0.1, 2.0), 2.0, 3.0)
    for name in ("q", "b", "R_plus", "R_minus", "R_bal", "R"):
        _close(getattr(r, name), getattr(s, name), 1e-10)


# ---------------------------------------------------------------- square loss
def _square_reference(model, gamma, lam, omega, Delta, intercept):
    """The square loss in closed form: V from (S1) (a scalar root), then
    (S3)-(S4) are linear in (theta, b), then alpha from (S2)."""
    pi, y, A = model.priors, model.labels, model.factor
    K, r = A.shape
    if lam > 0:
        V = brentq(lambda V: np.sum(pi * V * omega / (1 + V * omega)) + lam * V - gamma, 1e-14, gamma / lam)
    else:
        V = brentq(lambda V: np.sum(pi * V * omega / (1 + V * omega)) - gamma, 1e-14, 1e14)
    k = 1 + V * omega
    # e1 = omega (Delta - C)/k, C = y (A theta + b); unknowns (theta, b)
    n = r + (1 if intercept else 0)
    M = np.zeros((n, n))
    rhs = np.zeros(n)
    coef = pi * y * omega / k            # e1 contribution of cluster k per unit (Delta - C)
    Ay = np.hstack([y[:, None] * A, y[:, None]]) if intercept else y[:, None] * A
    # theta = (V/gamma) A^T (coef * (Delta - Ay @ x))
    M[:r] = np.eye(r, n) + (V / gamma) * A.T @ (coef[:, None] * Ay)
    rhs[:r] = (V / gamma) * A.T @ (coef * Delta)
    if intercept:
        M[r] = coef @ Ay
        rhs[r] = coef @ Delta
    x = np.linalg.solve(M, rhs)
    C = Ay @ x
    q2_perp = V ** 2 * np.sum(pi * omega ** 2 * ((Delta - C) ** 2) / k ** 2) / gamma
    # alpha enters e2 through q^2 = |theta|^2 + alpha^2: solve the scalar equation
    th2 = x[:r] @ x[:r]
    a2 = (V ** 2 / gamma) * np.sum(pi * omega ** 2 * ((Delta - C) ** 2 + th2) / k ** 2)
    s = V ** 2 / gamma * np.sum(pi * omega ** 2 / k ** 2)
    alpha2 = a2 / (1 - s)
    assert q2_perp > 0
    q = np.sqrt(th2 + alpha2)
    b = x[r] if intercept else 0.0
    return dict(q=q, b=b, V=V, errors=asy.gaussian.Q(C / q))


@pytest.mark.parametrize("model", [LABEL, CLUSTER], ids=["label", "cluster"])
@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("gamma,lam", [(0.5, 0.1), (2.0, 1e-3), (0.7, 0.0)])
def test_square_loss_against_its_closed_form(model, intercept, gamma, lam):
    K = model.n_clusters
    omega = np.linspace(0.5, 2.0, K)
    Delta = np.linspace(1.5, 0.7, K)
    r = asy.erm(model, gamma, SquareLoss(omega=omega, Delta=Delta), lam, intercept)
    ref = _square_reference(model, gamma, lam, omega, Delta, intercept)
    for name in ("q", "b", "V", "errors"):
        _close(getattr(r, name), ref[name], 1e-11)


@pytest.mark.parametrize("gamma", [0.3, 0.9, 1.0, 3.0])
@pytest.mark.parametrize("lam", [1e-3, 0.1, 2.0])
def test_square_loss_dof_is_marchenko_pastur(gamma, lam):
    """omega = Delta = 1: (S1) is V/(1+V) + lam V = gamma, i.e. V = gamma m(-lam)
    with m the Marchenko-Pastur Stieltjes transform (docs/erm.md §5.1):
    lam V^2 + (1 + lam - gamma) V - gamma = 0."""
    r = asy.erm(LABEL, gamma, "square", lam)
    V = (-(1 + lam - gamma) + np.sqrt((1 + lam - gamma) ** 2 + 4 * lam * gamma)) / (2 * lam)
    _close(r.V, V, 1e-12)


def test_square_loss_unregularised_is_ols():
    """lam = 0, gamma < 1: V = gamma/(1 - gamma) (docs/erm.md §5.1)."""
    r = asy.erm(LABEL, 0.4, "square", 0.0)
    _close(r.V, 0.4 / 0.6, 1e-12)


# ---------------------------------------------------------------- structure
@pytest.mark.parametrize("loss", [VSLoss(omega=[1, 2, 1, 0.5], iota=[0.3, 0, -0.2, 0.1], Delta=[1, 0.5, 2, 1]),
                                  HingeLoss(Delta=[2, 1, 1, 0.5]), SquareLoss(omega=[1, 2, 1, 1])],
                         ids=["VS", "hinge", "square"])
def test_relabelling_flips_w_and_b(loss):
    """Flipping every cluster's label is the classifier (-w, -b): same errors,
    norms and training losses."""
    flipped = asy.ClusterGMM(CLUSTER.priors, -CLUSTER.labels, CLUSTER.means)
    r1, r2 = asy.erm(CLUSTER, 1.3, loss, 0.05), asy.erm(flipped, 1.3, loss, 0.05)
    _close(r2.errors, r1.errors, 1e-10)
    _close(r2.q, r1.q, 1e-10)
    _close(r2.b, -r1.b, 1e-10)
    _close(r2.projections, -r1.projections, 1e-10)
    _close(r2.train_loss, r1.train_loss, 1e-10)


@pytest.mark.parametrize("loss", [VSLoss(omega=[1.0, 3.0], iota=[0.5, 0.0], Delta=[0.5, 1.0]),
                                  HingeLoss(Delta=[2.0, 1.0]), SquareLoss(omega=[2.0, 1.0])])
def test_label_model_symmetry_under_class_swap(loss):
    """LabelGMM(pi, mu+, mu-) with loss entries (l+, l-) equals
    LabelGMM(1 - pi, mu-, mu+) with (l-, l+) up to the sign of (w, b)."""
    swap = type(loss)(**{f: getattr(loss, f)[::-1] for f in ("omega", "Delta")},
                      **({"iota": loss.iota[::-1]} if isinstance(loss, VSLoss) else {}))
    m1 = asy.LabelGMM(0.2, [1.5, 0.0], [0.0, 1.0])
    m2 = asy.LabelGMM(0.8, [0.0, 1.0], [1.5, 0.0])
    for lam in (0.01, 1.0):
        a, b = asy.erm(m1, 1.7, loss, lam), asy.erm(m2, 1.7, swap, lam)
        _close(a.R_plus, b.R_minus, 1e-10)
        _close(a.R_minus, b.R_plus, 1e-10)
        _close(a.q, b.q, 1e-10)
        _close(a.b, -b.b, 1e-10)


@pytest.mark.parametrize("loss", ["CE", "hinge", "square"])
def test_common_shift_of_the_means_is_absorbed_by_the_intercept(loss):
    """With an intercept, (S3)+(S4) give sum_k c_k = 0: w lies in the span of
    the mean contrasts, so shifting every mean by v changes only b (by -w.v)."""
    v = np.array([0.7, -0.4, 1.1])
    shifted = asy.ClusterGMM(CLUSTER.priors, CLUSTER.labels, CLUSTER.means + v)
    a, b = asy.erm(CLUSTER, 1.1, loss if loss != "CE" else VSLoss(), 0.03), \
        asy.erm(shifted, 1.1, loss if loss != "CE" else VSLoss(), 0.03)
    _close(b.errors, a.errors, 1e-10)
    _close(b.q, a.q, 1e-10)
    _close(b.train_loss, a.train_loss, 1e-10)
    w_dot_v = float(np.asarray(b.q) * (np.asarray(b.projections) - np.asarray(a.projections))[0])
    _close(b.b, a.b - w_dot_v, 1e-9)


def test_broadcasting_and_sweep_agree_with_single_points():
    gam = np.array([0.5, 1.0, 3.0])
    lam = np.array([[1.0], [1e-2], [1e-5]])
    sweep = asy.erm(LABEL, gam, ("VS", 2.0), lam)
    assert sweep.R_bal.shape == (3, 3) and sweep.errors.shape == (3, 3, 2) and sweep.rho.shape == (3, 3, 2)
    for i in range(3):
        for j in range(3):
            one = asy.erm(LABEL, gam[j], ("VS", 2.0), lam[i, 0])
            _close(sweep.R_bal[i, j], one.R_bal, 1e-10)
            _close(sweep.q[i, j], one.q, 1e-10)
    assert np.all(sweep.residual < 1e-9)
    with pytest.raises(ValueError):
        sweep.q[0, 0] = 1.0


def test_result_contracts():
    r = asy.erm(LABEL, 1.5, "CE", 0.1)
    assert np.ndim(r.q) == 0 and np.ndim(r.R_bal) == 0 and np.shape(r.errors) == (2,)
    np.testing.assert_allclose(LABEL.factor @ np.asarray(r.rho), r.projections, rtol=1e-12, atol=1e-14)
    q_from_parts = np.sqrt(np.asarray(r.rho) @ np.asarray(r.rho) * r.q ** 2 + r.alpha ** 2)
    _close(q_from_parts, r.q, 1e-12)
    assert 0 <= r.train_error.min() and r.train_error.max() <= 1
    g = asy.erm(GROUP, 1.5, "wCE", 0.1)
    assert g.R_yg.shape == (2, 2)
    _close(g.R_plus, GROUP.group_priors @ g.R_yg[0], 1e-14)
    assert "R_bal" in g.train_metrics
    with pytest.raises(AttributeError):
        g.no_such_metric


def test_unregularised_non_separable_regime():
    """lam = 0 below gamma_star is a proper minimiser; the ridge path
    converges to it as lam -> 0."""
    m = asy.LabelGMM(0.1, [3.0, 0.0], [0.0, 1.5])
    gs = asy.separability_threshold(m)
    assert gs == pytest.approx(0.0520, abs=1e-4)          # docs/erm.md §5.4
    r0 = asy.erm(m, 0.6 * gs, "CE", 0.0)
    path = asy.erm(m, 0.6 * gs, "CE", [1e-4, 1e-6, 1e-8])
    gaps = np.abs(path.q - r0.q)
    assert gaps[2] < gaps[1] < gaps[0] and gaps[2] < 1e-5 * r0.q
    near = asy.erm(m, 0.97 * gs, "CE", 0.0)
    assert near.q > r0.q and near.residual < 1e-9


# ---------------------------------------------------------------- lam -> 0 path
def test_vs_path_converges_slowly_to_the_cs_svm():
    """Theorem 1 of the paper as a limit of the theory: the CDT path with
    Delta = (1/delta, 1) tends to the CS-SVM with margin ratio delta; the
    gap to the limit shrinks monotonically, roughly like 1/log(1/lam)."""
    m = asy.LabelGMM.antipodal(0.1, 2.0)
    path = asy.erm_path(m, 2.0, ("CDT", 3.0), lam=np.logspace(-1, -8, 15))
    limit = asy.cs_svm(m, 2.0, 3.0)
    _close(path.limit.q, limit.q, 1e-12)
    assert np.all(np.diff(path.gap) < 0) and np.all(np.diff(path.angle) < 0)
    assert path.gap[-1] < 0.25 * path.gap[0]
    # 1/log(1/lam) rate: gap * log(1/lam) stays within a factor 3 along the last decades
    scaled = path.gap * np.log(1 / path.erm.lam)
    assert scaled[-1] / scaled[-8] < 3 and scaled[-8] / scaled[-1] < 3
    assert abs(path.erm.R_bal[-1] - limit.R_bal) < abs(path.erm.R_bal[0] - limit.R_bal)


def test_path_below_threshold_has_no_max_margin_limit():
    m = asy.LabelGMM(0.1, [3.0, 0.0], [0.0, 1.5])
    path = asy.erm_path(m, 0.03, "CE", lam=[1.0, 0.1])
    assert path.limit is None and np.all(np.isnan(path.gap))


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,match", [
    (dict(lam=-1.0), "lam"), (dict(lam=np.nan), "lam"), (dict(lam=[]), "lam"),
    (dict(gamma=0.0), "gamma"), (dict(gamma=[1.0, 2.0], lam=[1.0, 2.0, 3.0]), "gamma and lam"),
    (dict(loss="focal"), "loss"), (dict(loss=VSLoss(omega=[1, 1, 1])), "loss"),
    (dict(loss=[VSLoss(), VSLoss(), VSLoss()]), "loss"), (dict(loss=42), "loss"),
    (dict(intercept="yes"), "intercept"), (dict(on_nonseparable="ignore"), "on_nonseparable"),
    (dict(loss=("CDT", -1.0)), "delta"), (dict(lam=1e-300), "lam"), (dict(lam=1e300), "lam"),
    (dict(gamma=1e-300), "gamma"), (dict(gamma=1e300), "gamma"),
])
def test_bad_input_names_the_argument(kwargs, match):
    args = dict(gamma=1.0, loss="CE", lam=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as info:
        asy.erm(LABEL, **args)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("factory,match", [
    (lambda: VSLoss(omega=0.0), "omega"), (lambda: VSLoss(Delta=-1.0), "Delta"),
    (lambda: HingeLoss(Delta=[1.0, np.nan]), "Delta"), (lambda: SquareLoss(omega=[1, 2], Delta=[1, 2, 3]), "length"),
    (lambda: HingeLoss(iota=1.0), "iota"),
])
def test_bad_losses(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


@pytest.mark.parametrize("gamma,lam", [(1e-8, 1e-14), (1e6, 1e-14), (1e6, 1e10), (1.0, 1e-14), (1.0, 1e10),
                                       (1e-8, 0.0)])
@pytest.mark.parametrize("loss", ["CE", ("VS", 3.0), "hinge", "square"])
def test_edges_of_the_supported_range_answer_quickly(gamma, lam, loss):
    """At the corners of the documented range: a converged answer or a
    ConvergenceError, in well under a second each, never NaN or a crash."""
    import time
    t = time.perf_counter()
    try:
        r = asy.erm(LABEL, gamma, loss, lam)
    except asy.ConvergenceError:
        pass
    else:
        assert r.residual < 1e-9 and np.all(np.isfinite(r.errors)) and np.isfinite(r.q)
    assert time.perf_counter() - t < 5.0


def test_lam_zero_without_a_minimiser():
    with pytest.raises(asy.NoMinimizerError, match="no minimiser.*separable") as info:
        asy.erm(LABEL, 2.0, "CE", 0.0)
    assert info.value.threshold == pytest.approx(asy.separability_threshold(LABEL))
    with pytest.raises(asy.NoMinimizerError, match="gamma < 1"):
        asy.erm(LABEL, 1.5, "square", 0.0)
    r = asy.erm(LABEL, [0.01, 2.0], "CE", 0.0, on_nonseparable="nan")
    assert r.exists.tolist() == [True, False] and np.isnan(r.q[1]) and np.isfinite(r.q[0])


def test_presets_need_a_class_prior():
    with pytest.raises(ValueError, match="loss"):
        asy.erm(CLUSTER, 1.0, "wCE", 0.1)


@pytest.mark.parametrize("model,intercept", [(LABEL, True), (LABEL, False), (CLUSTER, True)])
def test_hard_margin_is_the_indicator_loss_case(model, intercept):
    """docs/erm.md §4: with l_k = indicator{t >= kappa_k} the prox is
    P = max(X, kappa_k), so e1 = E[(kappa - X)_+]/V, e2 = E[(kappa - X)_+^2]/V^2,
    and with u = 1/q, t_k = C_k/q: (S2)/q^2 is sum pi F(t - kappa u) =
    gamma(1 - |rho|^2), (S3)/q is rho = -(1/(2 gamma)) sum pi y F'(t - kappa u) A_k
    and (S4) is sum pi y F'(t - kappa u) = 0 -- the KKT system of the max-margin
    program.  Checked at the solution of max_margin, for any V (S1 only fixes it)."""
    from asymptotics.gaussian import F, dF
    kappa = np.linspace(0.6, 1.8, model.n_clusters)
    gamma = 2.0 * asy.separability_threshold(model, intercept) + 0.3
    mm = asy.max_margin(model, gamma, kappa, intercept)
    u = 1.0 / float(mm.q)
    rho = np.asarray(mm.rho)
    t = model.labels * (np.asarray(mm.projections) + float(mm.b) * u)
    arg = t - kappa * u
    pi, y, A = model.priors, model.labels, model.factor
    np.testing.assert_allclose(pi @ F(arg), gamma * (1 - rho @ rho), rtol=1e-10)
    np.testing.assert_allclose(rho, -(A.T @ (pi * y * dF(arg))) / (2 * gamma), rtol=1e-9, atol=1e-12)
    if intercept:
        assert abs(pi @ (y * dF(arg))) < 1e-10 * (pi @ np.abs(dF(arg)))
