"""Separability threshold gamma_star."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics import reference as ref

from conftest import random_label_model, rel_err


def test_cover_threshold_is_one_half():
    # mu = 0, pi = 1/2: Cover's capacity 2n = d ... gamma_star = 1/2 exactly
    m = asy.LabelGMM.antipodal(0.5, 0.0)
    assert asy.separability_threshold(m) == pytest.approx(0.5, rel=1e-14)
    assert asy.separability_threshold(m, intercept=False) == pytest.approx(0.5, rel=1e-14)


@pytest.mark.parametrize("norm", [0.0, 0.5, 2.0])
def test_threshold_without_intercept_does_not_depend_on_prior(norm):
    values = [asy.separability_threshold(asy.LabelGMM.antipodal(p, norm), intercept=False)
              for p in (0.01, 0.1, 0.3, 0.5)]
    assert max(values) - min(values) < 1e-13 * max(values)


def test_threshold_with_intercept_depends_on_prior_and_is_below_half():
    values = [asy.separability_threshold(asy.LabelGMM.antipodal(p, 1.0)) for p in (0.01, 0.1, 0.5)]
    assert values[0] < values[1] < values[2] < 0.5
    # the intercept can only help: gamma_star(intercept) <= gamma_star(no intercept)
    for p in (0.01, 0.1, 0.5):
        m = asy.LabelGMM.antipodal(p, 1.0)
        assert asy.separability_threshold(m) <= asy.separability_threshold(m, intercept=False) * (1 + 1e-14)


def test_threshold_matches_mpmath_on_random_models():
    rng = np.random.default_rng(11)
    for i in range(12):
        m = random_label_model(rng)
        for intercept in (True, False):
            exact = ref.separability_threshold(m.priors, m.labels, m.gram, intercept)
            assert rel_err(asy.separability_threshold(m, intercept), exact) < 1e-9


def test_threshold_of_far_apart_means():
    m = asy.LabelGMM.antipodal(0.1, 20.0)
    exact = ref.separability_threshold(m.priors, m.labels, m.gram, True)
    assert 1e-90 < float(exact) < 1e-88
    assert rel_err(asy.separability_threshold(m), exact) < 1e-9


def test_threshold_separates_solvable_from_not():
    m = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
    for intercept in (True, False):
        gs = asy.separability_threshold(m, intercept)
        s = asy.cs_svm(m, gs * (1 + 1e-6), 2.0, intercept=intercept)
        assert s.q > 1e3  # the margin closes as gamma -> gamma_star
        with pytest.raises(asy.NotSeparableError) as info:
            asy.cs_svm(m, gs * (1 - 1e-6), 2.0, intercept=intercept)
        assert info.value.gamma_star == pytest.approx(gs, rel=1e-15)
        assert info.value.gamma == pytest.approx(gs * (1 - 1e-6))


def test_threshold_is_generic_over_cluster_models():
    # four clusters with two labels, compared with mpmath
    rng = np.random.default_rng(5)
    model = asy.ClusterGMM([0.05, 0.45, 0.2, 0.3], [1, -1, 1, -1], rng.normal(size=(4, 2)))
    for intercept in (True, False):
        exact = ref.separability_threshold(model.priors, model.labels, model.gram, intercept)
        assert rel_err(asy.separability_threshold(model, intercept), exact) < 1e-9


def test_restricted_model_threshold():
    # the mismatch model: fewer coordinates, weaker means, larger threshold
    rng = np.random.default_rng(2)
    mp_, mm = rng.normal(size=300), rng.normal(size=300)
    m = asy.LabelGMM(0.1, 4 * mp_ / np.linalg.norm(mp_), 2 * mm / np.linalg.norm(mm))
    small = m.restrict(30)
    assert small.mean_plus.shape == (30,)
    np.testing.assert_allclose(small.mean_plus, m.mean_plus[:30])
    assert asy.separability_threshold(small) > asy.separability_threshold(m)


def _crossing(intercept):
    """gamma with gamma = gamma_star(model seen with p = gamma n features) for the
    paper's Fig. 2 mismatch model with the expected Gram of the truncated means
    (|mu+[:p]|^2 = 16 p/300, |mu-[:p]|^2 = 4 p/300, orthogonal)."""
    from scipy.optimize import brentq

    def gap(gamma):
        frac = gamma * 100 / 300
        m = asy.LabelGMM.from_gram(0.1, [[16 * frac, 0.0], [0.0, 4 * frac]])
        return gamma - asy.separability_threshold(m, intercept)
    return brentq(gap, 0.05, 3.0, xtol=1e-10)


def test_paper_fig2_separability_edges():
    # The paper (Fig. 2a) reports zero training error for gamma >~ 0.45 without
    # an intercept; the issue tracker quotes thresholds of about 0.37 (no
    # intercept) and 0.21 (intercept) for this setting.
    assert _crossing(False) == pytest.approx(0.37, abs=0.02)
    assert _crossing(True) == pytest.approx(0.21, abs=0.02)
