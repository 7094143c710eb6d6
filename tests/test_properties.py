"""Exact identities of docs/theory.md §3, as property-based tests (derandomised:
hypothesis draws the same examples on every run)."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import asymptotics as asy

from conftest import rel_err

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)

priors = st.floats(0.01, 0.5)
norms = st.floats(0.3, 6.0)
angles = st.floats(0.0, np.pi)
stretch = st.floats(1.1, 30.0)   # gamma / gamma_star
deltas = st.floats(0.05, 100.0)


def _model(pi, n1, n2, angle):
    return asy.LabelGMM(pi, [n1, 0.0], [n2 * np.cos(angle), n2 * np.sin(angle)])


@SETTINGS
@given(priors, norms, norms, angles, stretch, deltas)
def test_shifted_svm_identity(pi, n1, n2, angle, k, delta):
    """With an intercept, solving at delta directly equals the shifted SVM:
    q_d = (d+1)/2 q_1, rho_d = rho_1, b_d/q_d = b_1/q_1 + (d-1)/((d+1) q_1)."""
    m = _model(pi, n1, n2, angle)
    gamma = k * asy.separability_threshold(m)
    s1 = asy.cs_svm(m, gamma, 1.0)
    sd = asy.cs_svm(m, gamma, delta)
    assert rel_err(sd.q, (delta + 1) / 2 * s1.q) < 1e-10
    np.testing.assert_allclose(sd.rho, s1.rho, rtol=0, atol=1e-10)
    expected_beta = s1.b / s1.q + (delta - 1) / ((delta + 1) * s1.q)
    assert abs(sd.b / sd.q - expected_beta) < 1e-10 * (1 + abs(expected_beta))


@SETTINGS
@given(priors, norms, norms, angles, stretch)
def test_errors_balance_at_delta_star(pi, n1, n2, angle, k):
    m = _model(pi, n1, n2, angle)
    gamma = k * asy.separability_threshold(m)
    with _no_check():
        d = asy.delta_star(m, gamma)
    if d.attainable:
        s = asy.cs_svm(m, gamma, d.delta)
        assert rel_err(s.R_plus, s.R_minus) < 1e-9
        assert rel_err(s.R_bal, d.R_bal) < 1e-9


class _no_check:
    def __enter__(self):
        import warnings
        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", asy.DeltaWarning)

    def __exit__(self, *exc):
        self._w.__exit__(*exc)


@SETTINGS
@given(priors, norms, norms, angles, stretch, deltas, st.booleans())
def test_class_relabelling_symmetry(pi, n1, n2, angle, k, delta, intercept):
    """(pi, mu+, mu-, delta) -> (1-pi, mu-, mu+, 1/delta): margins are divided
    by delta and w flips sign, so q' = q/delta, b'/q' = -b/q, R+ <-> R-."""
    m = _model(pi, n1, n2, angle)
    swapped = asy.LabelGMM(1 - pi, m.mean_minus, m.mean_plus)
    gamma = k * asy.separability_threshold(m, intercept)
    s = asy.cs_svm(m, gamma, delta, intercept=intercept)
    t = asy.cs_svm(swapped, gamma, 1 / delta, intercept=intercept)
    assert rel_err(t.q, s.q / delta) < 1e-9
    assert abs(t.b / t.q + s.b / s.q) < 1e-9 * (1 + abs(s.b / s.q))
    assert rel_err(t.R_plus, s.R_minus) < 1e-9
    assert rel_err(t.R_minus, s.R_plus) < 1e-9
    np.testing.assert_allclose(t.projections[::-1], -s.projections, atol=1e-9)


@SETTINGS
@given(priors, norms, norms, angles, stretch, st.booleans())
def test_monotone_in_delta(pi, n1, n2, angle, k, intercept):
    """Raising the minority margin shrinks the feasible set, so q rises (with or
    without intercept).  With an intercept it only shifts the boundary towards
    the majority (the shift identity), so R+ falls and R- rises.  (Without an
    intercept delta also turns w, and the errors need not be monotone: e.g.
    pi = 0.5, nearly antipodal means, where both first fall then rise.)"""
    m = _model(pi, n1, n2, angle)
    gamma = k * asy.separability_threshold(m, intercept)
    s = asy.cs_svm(m, gamma, np.geomspace(0.1, 50, 25), intercept=intercept)
    assert np.all(np.diff(s.q) > 0)
    if intercept:
        assert np.all(np.diff(s.R_plus) <= 1e-15)
        assert np.all(np.diff(s.R_minus) >= -1e-15)


def test_balanced_antipodal_svm_has_zero_intercept():
    for norm in (0.5, 1.0, 3.0):
        s = asy.cs_svm(asy.LabelGMM.antipodal(0.5, norm), 1.3, 1.0)
        assert abs(s.b) < 1e-12
        assert rel_err(s.R_plus, s.R_minus) < 1e-12
