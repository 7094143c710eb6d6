"""delta_star and delta_min_error against brute-force minimisation over
direct solves (which do not use the shift identity)."""
import warnings

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

import asymptotics as asy

from conftest import rel_err


def _brute(model, gamma, attr, intercept):
    f = lambda s: float(getattr(asy.cs_svm(model, gamma, np.exp(s), intercept=intercept), attr))
    grid = np.linspace(-6, 6, 121)
    vals = [f(s) for s in grid]
    i = int(np.argmin(vals))
    res = minimize_scalar(f, bracket=(grid[i - 1], grid[i], grid[i + 1]), options={"xtol": 1e-12})
    return np.exp(res.x), res.fun


MODELS = [
    asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0]),
    asy.LabelGMM.antipodal(0.05, 1.0),
    asy.LabelGMM.antipodal(0.05, 2.5),
    asy.LabelGMM(0.2, [1.0, 0.5], [-0.3, 1.2]),
]


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("stretch", [1.5, 5.0, 40.0])
def test_delta_star_closed_form(model, stretch):
    gamma = stretch * asy.separability_threshold(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asy.DeltaWarning)
        d = asy.delta_star(model, gamma)
    assert d.method == "closed-form"
    if not d.attainable:
        # near the threshold the minority error stays the larger one for every
        # delta: R_bal falls all the way to the limit delta -> inf
        assert d.delta == np.inf and d.t >= 1
        r = asy.cs_svm(model, gamma, np.geomspace(1, 1e8, 30)).R_bal
        assert np.all(np.diff(r) < 0) and d.R_bal <= r[-1]
        return
    s = asy.cs_svm(model, gamma, d.delta)   # solved directly at delta_star
    assert rel_err(s.R_plus, s.R_minus) < 1e-10
    assert rel_err(s.R_bal, d.R_bal) < 1e-10
    best_delta, best_value = _brute(model, gamma, "R_bal", True)
    assert rel_err(d.R_bal, best_value) < 1e-10      # same minimum value
    assert rel_err(d.delta, best_delta) < 1e-4       # the minimum is flat: delta to ~sqrt(eps)
    assert d.R_bal <= best_value * (1 + 1e-12)


@pytest.mark.parametrize("model", MODELS)
def test_delta_min_error_closed_form(model):
    gamma = 3 * asy.separability_threshold(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asy.DeltaWarning)
        d = asy.delta_min_error(model, gamma)
    if not d.attainable:
        # weak means: R keeps falling towards "always predict the majority"
        assert d.delta == 0.0 and d.t <= -1
        r = asy.cs_svm(model, gamma, np.geomspace(1e-8, 1, 30)).R
        assert np.all(np.diff(r) > 0) and d.R <= r[0]
        return
    best_delta, best_value = _brute(model, gamma, "R", True)
    assert rel_err(d.R, best_value) < 1e-10
    assert rel_err(d.delta, best_delta) < 1e-4
    # the paper's Fig. 3(a) point: the minimiser of R is not the SVM
    assert abs(d.delta - 1) > 1e-3
    assert d.R < float(asy.cs_svm(model, gamma, 1.0).R)


def test_delta_star_unattainable_is_explicit():
    # docs/theory.md §3: antipodal |mu| = 1.5, gamma = 2, pi = 0.02 has t_star >= 1
    m = asy.LabelGMM.antipodal(0.02, 1.5)
    with pytest.warns(asy.DeltaWarning):
        d = asy.delta_star(m, 2.0)
    assert not d.attainable and d.delta == np.inf and d.t >= 1
    # R_bal really keeps falling as delta grows, towards the returned limit
    r = asy.cs_svm(m, 2.0, np.geomspace(1, 1e6, 40)).R_bal
    assert np.all(np.diff(r) < 0)
    assert r[-1] == pytest.approx(d.R_bal, rel=1e-5)
    assert d.R_bal < r.min() + 1e-5


def test_delta_star_arrays_and_warning_only_when_needed():
    m = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
    gammas = np.array([0.5, 1.0, 2.0, 5.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = asy.delta_star(m, gammas)
    assert d.delta.shape == (4,)
    for g, dl in zip(gammas, d.delta):
        assert dl == pytest.approx(float(asy.delta_star(m, g).delta), rel=1e-14)


@pytest.mark.parametrize("model", MODELS[:2])
def test_without_intercept_numerical_minimum(model):
    gamma = 3 * asy.separability_threshold(model, intercept=False)
    for fn, attr in ((asy.delta_star, "R_bal"), (asy.delta_min_error, "R")):
        d = fn(model, gamma, intercept=False)
        assert d.method == "numerical"
        value = getattr(d, attr)
        for factor in (0.98, 1.02, 0.5, 2.0):
            other = getattr(asy.cs_svm(model, gamma, d.delta * factor, intercept=False), attr)
            assert value <= other + 1e-14
        best_delta, best_value = _brute(model, gamma, attr, False)
        assert rel_err(value, best_value) < 1e-9


def test_delta_star_needs_informative_means():
    with pytest.raises(ValueError, match="mean_plus/mean_minus"):
        asy.delta_star(asy.LabelGMM.antipodal(0.1, 0.0), 2.0)
