"""Input validation, error types, broadcasting and result contents."""
import numpy as np
import pytest

import asymptotics as asy

M = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])


@pytest.mark.parametrize("prior", [0.0, 1.0, -0.1, 1.5, np.nan, np.inf, [0.1, 0.2], "x"])
def test_bad_prior(prior):
    with pytest.raises(ValueError, match="prior"):
        asy.LabelGMM(prior, [1.0], [-1.0])


def test_bad_means():
    with pytest.raises(ValueError, match="mean_plus and mean_minus"):
        asy.LabelGMM(0.1, [1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="mean_plus"):
        asy.LabelGMM(0.1, [np.nan], [1.0])
    with pytest.raises(ValueError, match="mean_minus"):
        asy.LabelGMM(0.1, [1.0], [np.inf])
    with pytest.raises(ValueError, match="norm"):
        asy.LabelGMM.antipodal(0.1, -1.0)
    with pytest.raises(ValueError, match="gram"):
        asy.LabelGMM.from_gram(0.1, [[1.0, 2.0], [2.0, 1.0]])   # not PSD
    with pytest.raises(ValueError, match="gram"):
        asy.LabelGMM.from_gram(0.1, [[1.0, 0.5], [0.4, 1.0]])   # not symmetric


@pytest.mark.parametrize("gamma", [0.0, -1.0, np.nan, np.inf, [1.0, np.nan], "a"])
def test_bad_gamma(gamma):
    with pytest.raises(ValueError, match="gamma"):
        asy.cs_svm(M, gamma, 1.0)


@pytest.mark.parametrize("delta", [0.0, -2.0, np.nan, np.inf, [1.0, 0.0]])
def test_bad_delta(delta):
    with pytest.raises(ValueError, match="delta"):
        asy.cs_svm(M, 1.0, delta)


def test_bad_intercept_and_model():
    with pytest.raises(ValueError, match="intercept"):
        asy.cs_svm(M, 1.0, 1.0, intercept="yes")
    with pytest.raises(ValueError, match="model"):
        asy.cs_svm("model", 1.0, 1.0)
    with pytest.raises(ValueError, match="model"):
        asy.separability_threshold(None)
    with pytest.raises(ValueError, match="on_nonseparable"):
        asy.cs_svm(M, 1.0, 1.0, on_nonseparable="ignore")


def test_cluster_model_validation():
    with pytest.raises(ValueError, match="priors"):
        asy.ClusterGMM([0.5, 0.6], [1, -1], [[1.0], [-1.0]])
    with pytest.raises(ValueError, match="labels"):
        asy.ClusterGMM([0.5, 0.5], [1, 0], [[1.0], [-1.0]])
    with pytest.raises(ValueError, match="means"):
        asy.ClusterGMM([0.5, 0.5], [1, -1], [[1.0, 2.0], [-1.0]])
    with pytest.raises(ValueError, match="exactly one"):
        asy.ClusterGMM([0.5, 0.5], [1, -1])
    one_class = asy.ClusterGMM([0.5, 0.5], [1, 1], [[1.0], [-1.0]])
    with pytest.raises(ValueError, match="labels"):
        asy.max_margin(one_class, 1.0, [1.0, 1.0])
    with pytest.raises(ValueError, match="margins"):
        asy.max_margin(M, 1.0, [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="margins"):
        asy.max_margin(M, 1.0, [1.0, -1.0])


def test_restrict_validation():
    with pytest.raises(ValueError, match="p must"):
        M.restrict(0)
    with pytest.raises(ValueError, match="p must"):
        M.restrict(2.5)
    with pytest.raises(ValueError, match="Gram"):
        asy.ClusterGMM([0.5, 0.5], [1, -1], gram=np.eye(2)).restrict(1)


def test_not_separable_carries_threshold():
    gs = asy.separability_threshold(M)
    with pytest.raises(asy.NotSeparableError) as info:
        asy.cs_svm(M, [gs / 2, 2 * gs], 1.0)
    assert info.value.gamma_star == gs
    assert isinstance(info.value, ValueError)
    assert "gamma_star" in str(info.value)


def test_on_nonseparable_nan_is_explicit():
    gs = asy.separability_threshold(M)
    s = asy.cs_svm(M, [gs / 2, 2 * gs], 1.0, on_nonseparable="nan")
    assert s.separable.tolist() == [False, True]
    assert np.isnan(s.q[0]) and np.isnan(s.R_bal[0])
    assert np.isfinite(s.q[1]) and s.R_bal[1] == pytest.approx(float(asy.cs_svm(M, 2 * gs, 1.0).R_bal), rel=1e-13)


def test_convergence_error_is_raised_not_nan(monkeypatch):
    from asymptotics import solver
    monkeypatch.setattr(solver, "MAX_OUTER", 1)
    with pytest.raises(asy.ConvergenceError) as info:
        asy.cs_svm(M, 2.0, 3.0)
    assert info.value.iterations >= 1


def test_broadcasting_matches_scalar_solves():
    gammas = np.array([0.5, 1.0, 4.0])[:, None]
    deltas = np.array([0.5, 1.0, 3.0, 10.0])
    s = asy.cs_svm(M, gammas, deltas)
    assert s.q.shape == (3, 4) and s.rho.shape == (3, 4, 2) and s.projections.shape == (3, 4, 2)
    for i, g in enumerate(gammas[:, 0]):
        for j, d in enumerate(deltas):
            one = asy.cs_svm(M, g, d)
            assert np.ndim(one.q) == 0
            for name in ("q", "b", "R_plus", "R_minus", "R_bal", "R"):
                assert getattr(s, name)[i, j] == pytest.approx(float(getattr(one, name)), rel=1e-12, abs=1e-300)


def test_result_contents_are_consistent():
    s = asy.cs_svm(M, 2.0, 3.0)
    assert s.R_bal == pytest.approx((s.R_plus + s.R_minus) / 2, rel=1e-15)
    assert s.R == pytest.approx(0.1 * s.R_plus + 0.9 * s.R_minus, rel=1e-15)
    assert s.residual < 1e-12 and s.iterations > 0
    # projections are mu_k . w / |w| = (A rho)_k, and |rho| < 1
    np.testing.assert_allclose(s.projections, M.factor @ s.rho, atol=1e-14)
    assert np.linalg.norm(s.rho) < 1
    t = asy.cs_svm(M, 2.0, 3.0, intercept=False)
    assert t.b == 0.0


def test_gram_and_vector_models_agree():
    g = asy.LabelGMM.from_gram(0.1, M.gram)
    a, b = asy.cs_svm(M, 1.5, 2.0), asy.cs_svm(g, 1.5, 2.0)
    assert a.q == pytest.approx(b.q, rel=1e-13) and a.R_bal == pytest.approx(b.R_bal, rel=1e-12)


def test_docstring_examples_run():
    import doctest

    from asymptotics import label
    from asymptotics.reference import maxmargin
    for mod in (label, maxmargin):
        failures, attempted = doctest.testmod(mod, raise_on_error=False)
        assert failures == 0 and attempted > 0, mod.__name__


@pytest.mark.parametrize("covariance", [None, "spectrum"])
def test_margins_across_the_documented_range(covariance):
    """Margins up to 1e300 (and down to 1e-300) answer near gamma* and at a
    huge gamma, where u = 1/q times a margin left double precision (issue 18's
    probe: cs_svm(..., delta=1e300) raised ConvergenceError).  Checked by the
    exact shift identity of the CS-SVM against the delta = 1 solve
    (DESIGN.md §3): q_delta = (delta+1)/2 q_1, b_delta/q_delta = b_1/q_1 +
    (delta-1)/((delta+1) q_1)."""
    from asymptotics.covariance import Spectrum
    cov = None if covariance is None else Spectrum([0.5, 2.0], [0.5, 0.5])
    m = asy.LabelGMM(0.1, [4, 0], [0, 2], covariance=cov)
    gs = asy.separability_threshold(m)
    deltas = np.array([1e-300, 1e-100, 1e20, 1e100, 1e200, 1e300])
    for gamma in (1.3 * gs, 1.0, 1e10):
        one = asy.cs_svm(m, gamma, 1.0)
        s = asy.cs_svm(m, gamma, deltas)
        q1, b1 = float(one.q), float(one.b)
        np.testing.assert_allclose(s.q / ((deltas + 1) / 2), q1, rtol=1e-9)
        np.testing.assert_allclose(s.b / s.q, b1 / q1 + (deltas - 1) / ((deltas + 1) * q1), rtol=1e-9, atol=1e-12)
        for d in (1e-300, 1e300):            # single points take the same path
            assert float(asy.cs_svm(m, gamma, d).q) == pytest.approx(float(s.q[deltas == d][0]), rel=1e-12)


def test_max_margin_is_homogeneous_in_extreme_margins():
    """Scaling every margin by c scales w and b by c (any c, here 3e200 and
    3e-200, not powers of two) and leaves the errors: group model, 4 clusters."""
    g = asy.GroupGMM(0.3, 0.05, [2, 0], [1, 1.5])
    marg = np.array([2.0, 1.0, 0.5, 1.5])
    base = asy.max_margin(g, 2.0, marg)
    for c in (3e200, 3e-200):
        r = asy.max_margin(g, 2.0, c * marg)
        assert float(r.q) == pytest.approx(c * float(base.q), rel=1e-10)
        assert float(r.b) == pytest.approx(c * float(base.b), rel=1e-10, abs=1e-12 * c)
        np.testing.assert_allclose(r.errors, base.errors, rtol=1e-10)
