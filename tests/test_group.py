"""GS-SVM: engine vs mpmath on group models, the exact facts, delta_0, errors."""
import warnings

import numpy as np
import pytest

import asymptotics as asy
from asymptotics import reference as ref

from conftest import rel_err

TOL = 1e-9


def _random_group_model(rng, geometry):
    pi = float(rng.uniform(0.1, 0.5))
    p = float(np.exp(rng.uniform(np.log(0.01), np.log(0.5))))
    n1, n2 = np.exp(rng.uniform(np.log(0.3), np.log(5.0), 2))
    if geometry == "orthogonal":
        m1, m2 = [n1, 0.0], [0.0, n2]
    elif geometry == "correlated":
        a = rng.uniform(0.2, 1.3)
        m1, m2 = [n1, 0.0], [n2 * np.cos(a), n2 * np.sin(a)]
    else:  # collinear, same or opposite direction
        m1, m2 = [n1], [n2 * rng.choice([1.0, -1.0])]
    return asy.GroupGMM(pi, p, m1, m2)


def _cases():
    rng = np.random.default_rng(31)
    out = []
    for i in range(36):
        geometry = ("orthogonal", "correlated", "collinear")[i % 3]
        model = _random_group_model(rng, geometry)
        intercept = bool((i // 3) % 2)
        gs = asy.separability_threshold(model, intercept)
        gamma = float(gs * np.exp(rng.uniform(np.log(1.02), np.log(50.0 / gs))))
        delta = float(np.exp(rng.uniform(np.log(0.2), np.log(200.0))))
        out.append(pytest.param(model, gamma, delta, intercept, id=f"{geometry}{i}"))
    return out


@pytest.mark.parametrize("model,gamma,delta,intercept", _cases())
def test_group_engine_matches_mpmath(model, gamma, delta, intercept):
    t = asy.gs_svm(model, gamma, delta, intercept=intercept)
    margins = t.margins.reshape(-1)
    r = ref.solve(model.priors, model.labels, model.gram, margins, gamma, intercept=intercept)
    assert rel_err(t.q, r["q"]) <= TOL
    if intercept:
        assert rel_err(t.b / t.q, r["beta"]) <= TOL
    for k, exact in enumerate(r["errors"]):
        if exact > 1e-300:
            assert rel_err(t.R_yg.reshape(-1)[k], exact) <= TOL
    gs = ref.separability_threshold(model.priors, model.labels, model.gram, intercept)
    assert rel_err(asy.separability_threshold(model, intercept), gs) <= TOL


def test_subgroup_indexing_and_aggregates():
    g = asy.GroupGMM(0.3, 0.1, [1.0, 0.5], [0.2, 1.5])
    t = asy.gs_svm(g, 2.0, 3.0)
    hand = asy.max_margin(g, 2.0, [3.0, 1.0, 3.0, 1.0])   # clusters (+,1), (+,2), (-,1), (-,2)
    np.testing.assert_allclose(t.R_yg.reshape(-1), hand.errors, rtol=1e-14)
    assert t.R_plus == pytest.approx(0.1 * t.R_yg[0, 0] + 0.9 * t.R_yg[0, 1], rel=1e-14)
    assert t.R_minus == pytest.approx(0.1 * t.R_yg[1, 0] + 0.9 * t.R_yg[1, 1], rel=1e-14)
    assert t.R == pytest.approx(0.3 * t.R_plus + 0.7 * t.R_minus, rel=1e-14)
    assert t.R_bal == pytest.approx((t.R_plus + t.R_minus) / 2, rel=1e-14)
    assert t.DEO == pytest.approx(t.R_yg[0, 0] - t.R_yg[0, 1], rel=1e-14)
    assert t.symm_DEO == pytest.approx((abs(t.DEO) + abs(t.R_yg[1, 0] - t.R_yg[1, 1])) / 2, rel=1e-14)
    assert t.worst == t.R_yg.max()
    # the subgroup error formula Q(mu_g . w/|w| + y b/q)
    proj = g.factor[:2] @ t.rho
    np.testing.assert_allclose(t.R_yg[0], asy.gaussian.Q(proj + t.b / t.q), rtol=1e-13)
    np.testing.assert_allclose(t.R_yg[1], asy.gaussian.Q(proj - t.b / t.q), rtol=1e-13)


@pytest.mark.parametrize("delta", [1.0, 4.0, 0.3])
def test_balanced_classes_give_zero_intercept(delta):
    g = asy.GroupGMM(0.5, 0.05, [2.0, 0.0], [0.5, 1.5])
    t = asy.gs_svm(g, 1.7, delta)
    assert abs(t.b) < 1e-12
    np.testing.assert_allclose(t.R_yg[0], t.R_yg[1], rtol=1e-12)


def test_delta_one_is_the_plain_svm_on_the_same_data():
    mu1, mu2 = np.array([1.5, 0.3]), np.array([-0.4, 1.0])
    g = asy.GroupGMM(0.2, 0.1, mu1, mu2)
    hand = asy.ClusterGMM([0.02, 0.18, 0.08, 0.72], [1, 1, -1, -1], [mu1, mu2, -mu1, -mu2])
    for intercept in (True, False):
        t = asy.gs_svm(g, 1.5, 1.0, intercept=intercept)
        s = asy.max_margin(hand, 1.5, np.ones(4), intercept=intercept)
        assert rel_err(t.q, s.q) < 1e-12
        np.testing.assert_allclose(t.R_yg.reshape(-1), s.errors, rtol=1e-12)


def test_gs_svm_is_not_a_shifted_svm():
    g = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [0.0, 2.0])
    a, b = asy.gs_svm(g, 2.0, 1.0), asy.gs_svm(g, 2.0, 5.0)
    # delta turns w: the direction rho moves by far more than the solver error
    assert np.linalg.norm(a.rho / np.linalg.norm(a.rho) - b.rho / np.linalg.norm(b.rho)) > 1e-2


def test_single_group_is_the_antipodal_label_svm():
    mu = np.array([1.2, 0.7])
    single = asy.GroupGMM(0.2, group_priors=[1.0], means=[mu])
    label = asy.LabelGMM(0.2, mu, -mu)
    for delta in (1.0, 3.0):
        t = asy.gs_svm(single, 2.0, delta)
        s = asy.cs_svm(label, 2.0, 1.0)
        # every sample gets margin delta: w scales by delta, errors unchanged
        assert rel_err(t.q, delta * s.q) < 1e-12
        assert rel_err(t.R_yg[0, 0], s.R_plus) < 1e-12 and rel_err(t.R_yg[1, 0], s.R_minus) < 1e-12
    assert asy.separability_threshold(single) == pytest.approx(asy.separability_threshold(label), rel=1e-13)


@pytest.mark.parametrize("gamma", [1.0, 2.0, 5.0])
def test_delta_equal_opportunity(gamma):
    g = asy.GroupGMM(0.5, 0.05, [2.0, 0.0], [0.0, 2.0])
    e = asy.delta_equal_opportunity(g, gamma)
    assert e.attainable and e.delta > 1
    t = asy.gs_svm(g, gamma, e.delta)
    assert abs(t.DEO) <= 1e-10
    # DEO has opposite signs just below and above delta_0
    lo, hi = asy.gs_svm(g, gamma, [e.delta * 0.99, e.delta * 1.01]).DEO
    assert lo * hi < 0


def test_delta_equal_opportunity_unattainable_is_explicit():
    g = asy.GroupGMM(0.5, 0.05, [2.0, 0.0], [0.0, 2.0])
    with pytest.warns(asy.DeltaWarning):
        e = asy.delta_equal_opportunity(g, 0.5)
    assert not e.attainable and e.delta in (0.0, np.inf)
    deo = asy.gs_svm(g, 0.5, np.geomspace(1e-5, 1e5, 30)).DEO
    assert np.all(deo > 0) or np.all(deo < 0)


def test_refined_margins_mapping():
    g = asy.GroupGMM(0.3, 0.1, [1.0, 0.5], [0.2, 1.5])
    t = asy.gs_svm(g, 2.0, {(1, 1): 3.0, (-1, 2): 0.5})
    np.testing.assert_array_equal(t.margins, [[3.0, 1.0], [1.0, 0.5]])
    s = asy.max_margin(g, 2.0, [3.0, 1.0, 1.0, 0.5])
    np.testing.assert_allclose(t.R_yg.reshape(-1), s.errors, rtol=1e-13)


def test_many_groups():
    rng = np.random.default_rng(4)
    means = rng.normal(size=(3, 3))
    g = asy.GroupGMM(0.4, group_priors=[0.1, 0.3, 0.6], means=means)
    t = asy.gs_svm(g, 2.0, [1.0, 2.0])
    assert t.R_yg.shape == (2, 2, 3)
    r = ref.solve(g.priors, g.labels, g.gram, t.margins[1].reshape(-1), 2.0)
    np.testing.assert_allclose(t.R_yg[1].reshape(-1), [float(v) for v in r["errors"]], rtol=1e-9)


def test_group_broadcasting():
    g = asy.GroupGMM(0.3, 0.1, [1.0, 0.5], [0.2, 1.5])
    t = asy.gs_svm(g, np.array([1.0, 3.0])[:, None], np.array([1.0, 2.0, 4.0]))
    assert t.R_yg.shape == (2, 3, 2, 2) and t.DEO.shape == (2, 3)
    one = asy.gs_svm(g, 3.0, 2.0)
    assert t.DEO[1, 1] == pytest.approx(float(one.DEO), rel=1e-12)


def test_group_bad_inputs():
    with pytest.raises(ValueError, match="class_prior"):
        asy.GroupGMM(1.0, 0.1, [1.0], [1.0])
    with pytest.raises(ValueError, match="group_prior"):
        asy.GroupGMM(0.5, 0.0, [1.0], [1.0])
    with pytest.raises(ValueError, match="mean_1 and mean_2"):
        asy.GroupGMM(0.5, 0.1, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="mean_1"):
        asy.GroupGMM(0.5, 0.1, [np.nan], [1.0])
    with pytest.raises(ValueError, match="either"):
        asy.GroupGMM(0.5, 0.1, [1.0], [1.0], group_priors=[0.5, 0.5])
    with pytest.raises(ValueError, match="group_priors"):
        asy.GroupGMM(0.5, group_priors=[0.5, 0.6], means=[[1.0], [1.0]])
    with pytest.raises(ValueError, match="means"):
        asy.GroupGMM(0.5, group_priors=[0.5, 0.5], means=[[1.0]])
    g = asy.GroupGMM(0.5, 0.1, [1.0, 0.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="delta"):
        asy.gs_svm(g, 1.0, 0.0)
    with pytest.raises(ValueError, match="delta"):
        asy.gs_svm(g, 1.0, {(2, 1): 2.0})
    with pytest.raises(ValueError, match="delta"):
        asy.gs_svm(g, 1.0, {(1, 1): -2.0})
    with pytest.raises(ValueError, match="gamma"):
        asy.gs_svm(g, np.nan, 1.0)
    with pytest.raises(ValueError, match="model"):
        asy.gs_svm(asy.LabelGMM.antipodal(0.1, 1.0), 1.0, 1.0)
    with pytest.raises(ValueError, match="model"):
        asy.delta_equal_opportunity(asy.LabelGMM.antipodal(0.1, 1.0), 1.0)
    with pytest.raises(ValueError, match="gamma"):
        asy.delta_equal_opportunity(g, [1.0, 2.0])
    with pytest.raises(asy.NotSeparableError):
        asy.gs_svm(g, asy.separability_threshold(g) / 2, 2.0)
