"""General covariance: reductions to the isotropic engine, the shift identity,
Monte-Carlo agreement for a non-trivial spectrum, validation."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.covariance import Spectrum
from asymptotics.simulate import monte_carlo

from conftest import rel_err

MP, MM = [2.0, 0.0], [-1.0, 1.0]


def _close(a, b, tol=1e-10):
    for name in ("q", "b", "R_plus", "R_minus", "R_bal", "R"):
        x, y = float(getattr(a, name)), float(getattr(b, name))
        assert abs(x - y) <= tol * max(1.0, abs(y)), (name, x, y)


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("cov", [Spectrum([1.0], [1.0, 1.0]), np.eye(5),
                                 Spectrum([1.0, 1.0], [1.0, 1.0], [0.3, 0.7])], ids=["spectrum", "matrix", "atoms"])
def test_identity_covariance_is_the_isotropic_engine(cov, intercept):
    iso = asy.LabelGMM(0.2, MP, MM)
    m = asy.LabelGMM(0.2, MP, MM, covariance=cov)
    for gamma, delta in ((0.5, 1.0), (1.5, 2.0), (8.0, 0.3)):
        _close(asy.cs_svm(m, gamma, delta, intercept=intercept), asy.cs_svm(iso, gamma, delta, intercept=intercept))
    assert rel_err(asy.separability_threshold(m, intercept), asy.separability_threshold(iso, intercept)) < 1e-10


def test_identity_covariance_group_model():
    iso = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])
    m = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5], covariance=np.eye(4))
    for delta in (1.0, 4.0):
        a, b = asy.gs_svm(m, 2.0, delta), asy.gs_svm(iso, 2.0, delta)
        np.testing.assert_allclose(a.R_yg, b.R_yg, rtol=1e-10)
        assert rel_err(a.q, b.q) < 1e-10 and abs(a.DEO - b.DEO) < 1e-10


@pytest.mark.parametrize("c", [0.3, 2.5])
@pytest.mark.parametrize("intercept", [True, False])
def test_scaled_identity_is_isotropic_with_scaled_means(c, intercept):
    # x = mu + sqrt(c) h: divide by sqrt(c) -> means / sqrt(c), |w| -> |w| sqrt(c)
    m = asy.LabelGMM(0.2, MP, MM, covariance=Spectrum([c], [c, c]))
    mat = asy.LabelGMM(0.2, MP, MM, covariance=c * np.eye(3))
    iso = asy.LabelGMM(0.2, np.array(MP) / np.sqrt(c), np.array(MM) / np.sqrt(c))
    for model in (m, mat):
        a, b = asy.cs_svm(model, 1.5, 2.0, intercept=intercept), asy.cs_svm(iso, 1.5, 2.0, intercept=intercept)
        for name in ("R_plus", "R_minus", "b"):
            assert abs(float(getattr(a, name)) - float(getattr(b, name))) < 1e-10
        assert rel_err(a.q * np.sqrt(c), b.q) < 1e-10
    assert rel_err(asy.separability_threshold(m, intercept), asy.separability_threshold(iso, intercept)) < 1e-10


SPEC = Spectrum(eigenvalues=[0.5, 2.0], mean_eigenvalues=[2.0, 0.5])   # two blocks; mu- spans both


def test_shift_identity_and_delta_star_with_covariance():
    m = asy.LabelGMM(0.2, MP, MM, covariance=SPEC)
    one = asy.cs_svm(m, 1.5, 1.0)
    for delta in (0.5, 3.0):
        s = asy.cs_svm(m, 1.5, delta)
        assert rel_err(s.q, (delta + 1) / 2 * one.q) < 1e-10
        assert abs(s.b - ((delta + 1) / 2 * one.b + (delta - 1) / 2)) < 1e-10
        np.testing.assert_allclose(s.projections, one.projections, atol=1e-10)
    d = asy.delta_star(m, 1.5)
    s = asy.cs_svm(m, 1.5, d.delta)
    assert rel_err(s.R_plus, s.R_minus) < 1e-10 and rel_err(s.R_bal, d.R_bal) < 1e-10


def test_covariance_changes_the_answer_and_residuals_are_small():
    m = asy.LabelGMM(0.2, MP, MM, covariance=SPEC)
    s, iso = asy.cs_svm(m, 1.5, 2.0), asy.cs_svm(asy.LabelGMM(0.2, MP, MM), 1.5, 2.0)
    assert abs(s.R_plus - iso.R_plus) > 1e-2
    assert s.residual < 1e-12 and s.ridge >= 0 and s.tau > 0


def test_monte_carlo_agrees_for_a_nontrivial_spectrum():
    """Two eigenvalue blocks (0.5, 2), mu+ = 2 e1 on the eigenvalue-2 axis,
    mu- = -e1 + e2 across both: the RMS gap to theory shrinks with n and the
    means agree within 4 SE (+ the 2/n allowance) at n = 1600."""
    m = asy.LabelGMM(0.2, MP, MM, covariance=SPEC)
    rms = {}
    for n in (200, 400, 800, 1600):
        r = monte_carlo(m, 1.5, 2.0, n=n, trials=20, seed=1, n_jobs=2)
        dev = np.stack([r.trials[k] - r.theory[k][..., None] for k in ("R_plus", "R_minus")])
        rms[n] = float(np.sqrt(np.mean(dev ** 2)))
        if n == 1600:
            for name in ("R_plus", "R_minus", "R_bal", "q", "b"):
                assert np.all(r.consistent(name)), (name, r.mean[name], r.se[name], r.theory[name])
    assert rms[1600] < rms[400] < rms[200] and rms[1600] < 0.6 * rms[200]


def test_covariance_validation():
    with pytest.raises(ValueError, match="symmetric"):
        asy.LabelGMM(0.2, MP, MM, covariance=[[1.0, 0.5], [0.0, 1.0]])
    with pytest.raises(ValueError, match="positive definite"):
        asy.LabelGMM(0.2, MP, MM, covariance=[[1.0, 1.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="square"):
        asy.LabelGMM(0.2, MP, MM, covariance=np.ones((2, 3)))
    with pytest.raises(ValueError, match="covariance"):
        asy.LabelGMM(0.2, MP, MM, covariance=[[np.nan, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="more than"):
        asy.LabelGMM(0.2, [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], covariance=np.eye(2))
    with pytest.raises(ValueError, match="mean_eigenvalues"):
        asy.LabelGMM(0.2, MP, MM, covariance=Spectrum([1.0], [1.0]))
    with pytest.raises(ValueError, match="eigenvalues"):
        Spectrum([1.0, -1.0], [1.0])
    with pytest.raises(ValueError, match="weights"):
        Spectrum([1.0, 2.0], [1.0], weights=[0.3, 0.3])
    with pytest.raises(ValueError, match="Gram"):
        asy.ClusterGMM([0.5, 0.5], [1, -1], gram=np.eye(2), covariance=np.eye(2))
    with pytest.raises(ValueError, match="Spectrum"):
        asy.LabelGMM(0.2, MP, MM, covariance=SPEC).restrict(1)
    m = asy.LabelGMM(0.2, MP, MM, covariance=np.diag([2.0, 0.5, 1.0]))
    assert m.restrict(2).covariance.shape == (2, 2)
    with pytest.raises(asy.NotSeparableError):
        asy.cs_svm(asy.LabelGMM(0.2, MP, MM, covariance=SPEC), 0.01, 1.0)


def test_optimal_lambda_minimises_the_norm_and_is_self_consistent():
    from asymptotics.covariance import ridge_map, solve_lambda
    m = asy.LabelGMM(0.2, MP, MM, covariance=SPEC)
    s = asy.cs_svm(m, 1.5, 2.0)
    cov, marg = m._cov, np.array([2.0, 1.0])

    def at(lam):
        x = np.zeros(3)
        V, u, N, it, res, st = solve_lambda(lam, cov.atoms, cov.weights, cov.means, cov.mean_eigs, m.priors,
                                            m.labels, marg, 1.5, True, x, 0.0, 1000)
        return V, ridge_map(lam, cov.atoms, cov.weights, cov.means, cov.mean_eigs, m.priors, m.labels, marg,
                            1.5, True, x, u)
    V, phi = at(float(s.ridge))
    assert V == pytest.approx(float(s.q) ** 2, rel=1e-12)
    assert phi == pytest.approx(float(s.ridge), rel=1e-10)      # lambda = Phi(lambda)
    for f in (0.5, 0.9, 1.1, 2.0):
        assert at(f * float(s.ridge))[0] > V                    # |w|^2 is minimal at lambda*


def test_group_model_with_covariance_matches_monte_carlo():
    spec = Spectrum([0.5, 2.0], mean_eigenvalues=[2.0, 0.5, 1.0])
    g = asy.GroupGMM(0.3, 0.1, [2.0, 0.0, 0.5], [0.5, 1.5, 0.0], covariance=spec)
    r = monte_carlo(g, 2.0, 4.0, n=800, trials=16, seed=3, n_jobs=2)
    for name in ("R_plus", "R_minus", "DEO", "worst", "q", "b"):
        assert np.all(r.consistent(name)), (name, r.mean[name], r.se[name], r.theory[name])
    e = asy.delta_equal_opportunity(g, 2.0)
    assert e.attainable and abs(asy.gs_svm(g, 2.0, e.delta).DEO) < 1e-10
