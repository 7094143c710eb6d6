"""Regularised ERM with a general covariance (docs/covariance.md, ERM
section): the structural identities of the system (C1)-(C4) to 1e-10 --
Sigma = I is the isotropic engine, Sigma = cI the isotropic one with scaled
means and ridge, a matrix covariance the Spectrum with the same atoms, the
lam = 0 answer depends on Sigma only through the Mahalanobis Gram, the hinge
with a small ridge is the covariance max-margin classifier -- plus the
published values of the prototype, sweeps and bad input."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.covariance import covariance_threshold
from asymptotics.solver import MAX_INNER
from asymptotics.covariance import Spectrum
from asymptotics.losses import HingeLoss, SquareLoss, VSLoss

TWO_BLOCK = Spectrum([2.0, 0.5], [2.0, 0.5])                     # docs/covariance.md's example
LABEL_COV = asy.LabelGMM(0.2, [2, 0], [-1, 1], covariance=TWO_BLOCK)
LOSSES = ["CE", ("CDT", 3.0), "hinge", "square", [VSLoss(1.3, 0.2, 0.7), VSLoss(0.8, -0.4, 1.2)]]
SCALARS = ("q", "b", "V", "alpha", "tau")


def _same(a, b, tol=1e-10, names=SCALARS + ("errors", "projections", "rho", "train_error", "train_loss")):
    for name in names:
        x, y = np.asarray(getattr(a, name), float), np.asarray(getattr(b, name), float)
        np.testing.assert_allclose(x, y, rtol=tol, atol=tol * 1e-3, err_msg=name)


@pytest.mark.parametrize("loss", LOSSES, ids=["CE", "CDT", "hinge", "square", "mixed VS"])
@pytest.mark.parametrize("intercept", [True, False])
def test_identity_covariance_is_the_isotropic_engine(loss, intercept):
    iso = asy.LabelGMM(0.2, [2, 0], [-1, 1])
    for cov in (Spectrum([1.0], [1.0, 1.0]), Spectrum([1.0, 1.0], [1.0, 1.0], weights=[0.3, 0.7]), np.eye(5)):
        m = asy.LabelGMM(0.2, [2, 0], [-1, 1], covariance=cov)
        for lam in (0.05, 2.0):
            _same(asy.erm(m, 1.5, loss, lam, intercept), asy.erm(iso, 1.5, loss, lam, intercept))
        assert np.isnan(float(asy.erm(iso, 1.5, loss, 0.05, intercept).ridge))


def test_identity_covariance_group_model_and_lam_zero():
    means = ([2.0, 0.0, 0.5], [0.0, 1.5, -0.5])
    iso = asy.GroupGMM(0.3, 0.2, *means)
    m = asy.GroupGMM(0.3, 0.2, *means, covariance=Spectrum([1.0], [1.0, 1.0, 1.0]))
    _same(asy.erm(m, [0.8, 2.0], "CE", 0.1), asy.erm(iso, [0.8, 2.0], "CE", 0.1))
    gs = asy.separability_threshold(iso)
    _same(asy.erm(m, 0.6 * gs, "wCE", 0.0), asy.erm(iso, 0.6 * gs, "wCE", 0.0))


@pytest.mark.parametrize("c", [0.3, 2.5])
@pytest.mark.parametrize("loss", ["CE", "hinge", "square"])
def test_scaled_identity_is_the_isotropic_engine_with_scaled_means(c, loss):
    """x = mu + sqrt(c) h: w' = sqrt(c) w solves the isotropic problem with
    means mu/sqrt(c) and ridge lam/c, so m, b and the errors agree, tau
    (= |Sigma^{1/2} w|) is the isotropic |w'| and |w| = |w'|/sqrt(c)."""
    mp, mm = np.array([2.0, 0.0]), np.array([-1.0, 1.0])
    m = asy.LabelGMM(0.2, mp, mm, covariance=Spectrum([c], [c, c]))
    iso = asy.LabelGMM(0.2, mp / np.sqrt(c), mm / np.sqrt(c))
    for lam in (0.02, 0.5):
        a, b = asy.erm(m, 1.5, loss, lam), asy.erm(iso, 1.5, loss, lam / c)
        np.testing.assert_allclose(a.errors, b.errors, rtol=1e-10)
        np.testing.assert_allclose([float(a.b), float(a.tau), float(a.q) * np.sqrt(c)],
                                   [float(b.b), float(b.q), float(b.q)], rtol=1e-10)
        np.testing.assert_allclose(a.projections, b.projections, rtol=1e-10)
        np.testing.assert_allclose(a.train_loss, b.train_loss, rtol=1e-10)


def test_matrix_covariance_is_its_spectrum():
    """A d x d matrix with the two-block spectrum and the means on an
    eigen-axis of each block has exactly the atoms, weights and mean
    eigenvalues of Spectrum([2, 0.5], [2, 0.5])."""
    d = 40
    diag = np.tile([2.0, 0.5], d // 2)
    rng = np.random.default_rng(3)
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))            # a rotated basis: a full matrix
    S = Q @ np.diag(diag) @ Q.T
    mp, mm = np.zeros(d), np.zeros(d)
    mp[:2], mm[:2] = [2.0, 0.0], [-1.0, 1.0]
    m = asy.LabelGMM(0.2, Q @ mp, Q @ mm, covariance=S)
    for loss in ("CE", "hinge"):
        _same(asy.erm(m, 1.5, loss, 0.05), asy.erm(LABEL_COV, 1.5, loss, 0.05), tol=1e-9,
              names=("q", "b", "V", "tau", "errors", "train_error", "train_loss"))


@pytest.mark.parametrize("loss", ["CE", "LA", ("CDT", 2.0), "square"])
def test_lam_zero_depends_only_on_the_mahalanobis_gram(loss):
    """Unregularised ERM is affine invariant: with x -> Sigma^{-1/2} x the
    data become isotropic with means Sigma^{-1/2} mu_k, so errors and b are
    those of the isotropic model with the Mahalanobis Gram, and tau is its |w|."""
    M = np.array([[2.0, 0.0, 0.3], [-0.5, 1.0, 0.0]])
    spec = Spectrum([0.4, 1.0, 3.0], [3.0, 0.4, 1.0], weights=[0.2, 0.5, 0.3])
    m = asy.LabelGMM(0.15, M[0], M[1], covariance=spec)
    white = M / np.sqrt(spec.mean_eigenvalues)
    iso = asy.LabelGMM(0.15, white[0], white[1])
    gs = asy.separability_threshold(iso)
    # the lam = 0 guard's premise, checked on the scalarised max-margin program of docs/covariance.md §4
    # (min over its ridge lam of (Q2/P^2) gamma*_iso), which does not use the Mahalanobis reduction
    assert covariance_threshold(m, True, MAX_INNER) == pytest.approx(gs, rel=1e-9)
    assert asy.separability_threshold(m) == pytest.approx(gs, rel=1e-12)
    for gamma in (0.3 * gs, 0.8 * gs):
        gamma = min(gamma, 0.9) if loss == "square" else gamma
        a, b = asy.erm(m, gamma, loss, 0.0), asy.erm(iso, gamma, loss, 0.0)
        np.testing.assert_allclose(a.errors, b.errors, rtol=1e-10)
        np.testing.assert_allclose([float(a.b), float(a.tau)], [float(b.b), float(b.q)], rtol=1e-10)
        assert float(a.ridge) == np.inf
    with pytest.raises(asy.NoMinimizerError) as info:
        asy.erm(m, 1.2 * gs, "CE", 0.0)
    assert info.value.threshold == pytest.approx(gs, rel=1e-12)


@pytest.mark.parametrize("margins", [(2.0, 1.0), (1.0, 1.0), (0.5, 1.0)])
@pytest.mark.parametrize("intercept", [True, False])
def test_hinge_with_small_ridge_is_the_covariance_max_margin(margins, intercept):
    """Hinge with Delta_k and lam below the point where every training
    margin is >= Delta_k: the max-margin classifier with margins Delta (the
    covariance solver of docs/covariance.md), and Vhat/lam is its ridge."""
    loss = [HingeLoss(1.0, margins[0]), HingeLoss(1.0, margins[1])]
    mm = asy.max_margin(LABEL_COV, 1.5, np.array(margins), intercept)
    for lam in (1e-2, 1e-4):
        h = asy.erm(LABEL_COV, 1.5, loss, lam, intercept)
        np.testing.assert_allclose(h.errors, mm.errors, rtol=1e-9)
        np.testing.assert_allclose(h.projections, mm.projections, rtol=1e-9, atol=1e-12)
        assert float(h.beta) == pytest.approx(float(mm.beta), rel=1e-9, abs=1e-12)
        assert float(h.ridge) == pytest.approx(float(mm.ridge), rel=1e-8)
        np.testing.assert_allclose(h.train_error, 0.0, atol=1e-15)


def test_published_prototype_values():
    """docs/covariance.md (and the derivation's prototype): CE lam = 0.05 and
    hinge lam = 0.1 on the two-block example, to the 5 digits published."""
    ce = asy.erm(LABEL_COV, 1.5, "CE", 0.05)
    np.testing.assert_allclose(ce.errors, [0.62081, 0.03468], atol=6e-6)
    np.testing.assert_allclose([float(ce.q), float(ce.b), float(ce.tau) ** 2], [1.50275, -2.22396, 3.57321],
                               atol=6e-6)
    h = asy.erm(LABEL_COV, 1.5, "hinge", 0.1)
    np.testing.assert_allclose(h.errors, [0.51407, 0.08013], atol=6e-6)
    np.testing.assert_allclose([float(h.q), float(h.b), float(h.tau) ** 2], [0.64322, -0.63163, 0.61076],
                               atol=6e-6)


def test_sweeps_match_single_points_and_are_checked():
    gam = np.array([0.5, 1.0, 1.5, 3.0])
    lam = np.array([[1e-3], [0.1], [10.0]])
    r = asy.erm(LABEL_COV, gam, "CE", lam)
    assert r.errors.shape == (3, 4, 2) and r.tau.shape == (3, 4) and r.ridge.shape == (3, 4)
    for i, j in ((0, 0), (1, 2), (2, 3)):
        _same(asy.erm(LABEL_COV, gam[j], "CE", lam[i, 0]), _index(r, i, j), tol=1e-9,
              names=("q", "b", "V", "tau", "errors"))
    assert np.all(r.residual < 1e-9) and np.all(r.status == 0)
    assert np.all((r.alpha >= 0) & (r.alpha <= r.q))


class _index:
    def __init__(self, r, i, j):
        self.r, self.i, self.j = r, i, j

    def __getattr__(self, name):
        return np.asarray(getattr(self.r, name))[self.i, self.j]


def test_group_and_k_cluster_models_with_a_covariance_run_and_are_consistent():
    spec = Spectrum([0.5, 1.0, 4.0], [4.0, 0.5, 1.0], weights=[0.3, 0.4, 0.3])
    g = asy.GroupGMM(0.3, 0.1, [2.0, 0.0, 0.0], [0.0, 1.0, 1.0], covariance=spec)
    r = asy.erm(g, 2.0, "CE", [0.01, 0.1])
    assert r.R_yg.shape == (2, 2, 2) and np.all(np.isfinite(r.DEO)) and np.all(r.residual < 1e-9)
    k = asy.ClusterGMM([0.1, 0.2, 0.3, 0.4], [1, -1, 1, -1], np.eye(4)[:, :3] * 2, covariance=spec)
    rk = asy.erm(k, 1.0, [VSLoss(1.0, 0.0, 1.0)] * 4, 0.1)
    assert np.all(np.isfinite(rk.errors)) and float(rk.residual) < 1e-9


def test_hinge_trivial_minimiser_with_a_covariance():
    """Weights and margins for which w = 0 is the hinge minimiser (status 3,
    the case of test_montecarlo_erm): the same with a covariance."""
    m = asy.LabelGMM(0.2069, [0.384, 0.0], [-0.8426, 0.3482], covariance=Spectrum([0.5, 2.0], [2.0, 0.5]))
    loss = asy.HingeLoss(omega=[0.946, 2.282], Delta=[0.4746, 0.4262])
    r = asy.erm(m, 0.07, loss, 0.3)
    assert int(r.status) == 3 and float(r.q) == 0.0 and float(r.tau) == 0.0
    assert float(r.b) == pytest.approx(-0.4262, abs=1e-12) and r.R_plus == 1.0 and r.R_minus == 0.0


def test_sensitivity_of_a_covariance_erm_is_refused_clearly():
    with pytest.raises(NotImplementedError, match="covariance"):
        asy.sensitivity(asy.erm(LABEL_COV, 1.5, "CE", 0.1))


def test_threshold_of_far_apart_means_underflows_like_the_isotropic_one():
    """A covariance that makes the means far apart in Mahalanobis distance
    (an eigenvalue 1e-4 along a mean direction): gamma* is below the
    smallest double, returned as 0.0 with a warning and exactly through
    log=True, as for isotropic models; lam = 0 ERM then has no minimiser."""
    m = asy.LabelGMM(0.2, [2.0, 0.0], [-1.0, 1.0], covariance=np.diag([3.0, 1e-4, 1.0, 2.0]))
    iso = asy.LabelGMM(0.2, [2.0 / np.sqrt(3.0), 0.0], [-1.0 / np.sqrt(3.0), 100.0])
    with pytest.warns(asy.ThresholdUnderflowWarning):
        assert asy.separability_threshold(m) == 0.0
    log_gs = asy.separability_threshold(m, log=True)
    assert log_gs < -745 and log_gs == pytest.approx(asy.separability_threshold(iso, log=True), rel=1e-9)
    with pytest.raises(asy.NoMinimizerError), pytest.warns(asy.ThresholdUnderflowWarning):
        asy.erm(m, 0.05, "CE", 0.0)
    assert np.isfinite(float(asy.erm(m, 0.05, "CE", 1e-3).R_bal))
