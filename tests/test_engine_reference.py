"""The Numba engine against the independent mpmath path (reference.py) on
seeded random label models spanning the promised ranges."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics import reference as ref

from conftest import random_label_model, rel_err

N_CASES = 60
TOL = 1e-9
TINY = 1e-300  # below this a double cannot hold the value


def _cases():
    rng = np.random.default_rng(7)
    out = []
    for i in range(N_CASES):
        model = random_label_model(rng)
        intercept = bool(i % 2)
        gs = asy.separability_threshold(model, intercept)
        # gamma log-uniform between 1.02 gamma_star and 100
        gamma = float(gs * np.exp(rng.uniform(np.log(1.02), np.log(100.0 / gs))))
        delta = float(np.exp(rng.uniform(np.log(0.05), np.log(200.0))))
        out.append(pytest.param(model, gamma, delta, intercept, id=f"case{i}"))
    return out


def _compare(s, r, intercept):
    assert rel_err(s.q, r["q"]) <= TOL
    if intercept:
        assert rel_err(s.b / s.q, r["beta"]) <= TOL
    else:
        assert s.b == 0.0
    for k, exact in enumerate(r["errors"]):
        fast = s.errors[..., k]
        if exact > TINY:
            assert rel_err(fast, exact) <= TOL, f"error of cluster {k}: {fast} vs {exact}"
        else:
            assert fast <= 1e-299
    for k, exact in enumerate(r["projections"]):
        assert abs(float(s.projections[..., k] - exact)) <= TOL * (1 + abs(float(exact)))
    assert s.residual < 1e-12


@pytest.mark.parametrize("model,gamma,delta,intercept", _cases())
def test_engine_matches_mpmath(model, gamma, delta, intercept):
    s = asy.max_margin(model, gamma, [delta, 1.0], intercept=intercept)
    r = ref.solve(model.priors, model.labels, model.gram, [delta, 1.0], gamma, intercept=intercept)
    assert float(r["residual"]) < 1e-30
    _compare(s, r, intercept)
    gs = ref.separability_threshold(model.priors, model.labels, model.gram, intercept)
    assert rel_err(asy.separability_threshold(model, intercept), gs) <= TOL


EXTREMES = [
    ("prior 1e-4", asy.LabelGMM.antipodal(1e-4, 2.0), 2.0, 3.0),
    ("gamma 1e4", asy.LabelGMM.antipodal(0.1, 2.0), 1e4, 3.0),
    ("norm 20 rank 2", asy.LabelGMM(0.1, [20.0, 0.0], [0.0, -20.0]), 1.0, 3.0),
    ("norm 20 antipodal", asy.LabelGMM.antipodal(0.1, 20.0), 1.0, 3.0),
    ("delta 1e3", asy.LabelGMM.antipodal(0.1, 2.0), 2.0, 1e3),
    ("delta 1e-3", asy.LabelGMM.antipodal(0.1, 2.0), 2.0, 1e-3),
    ("1.001 gamma_star", asy.LabelGMM.antipodal(0.1, 2.0), None, 3.0),
    ("1.001 gamma_star norm 20", asy.LabelGMM.antipodal(0.1, 20.0), None, 3.0),
    ("1.001 gamma_star strong imbalance", asy.LabelGMM(0.02, [1.5, 0.0], [0.3, 1.0]), None, 30.0),
    ("zero means", asy.LabelGMM.antipodal(0.3, 0.0), 1.5, 2.0),
]


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("name,model,gamma,delta", EXTREMES, ids=[e[0] for e in EXTREMES])
def test_extremes_converge_to_reference(name, model, gamma, delta, intercept):
    if gamma is None:
        gamma = 1.001 * asy.separability_threshold(model, intercept)
    s = asy.max_margin(model, gamma, [delta, 1.0], intercept=intercept)
    assert np.isfinite(s.q) and s.q > 0
    assert np.all(np.isfinite(s.errors))
    r = ref.solve(model.priors, model.labels, model.gram, [delta, 1.0], gamma,
                  intercept=intercept, dps=50)
    _compare(s, r, intercept)


def test_general_cluster_model_matches_reference():
    # four clusters, rank-3 means, mixed labels and margins: the engine is generic
    rng = np.random.default_rng(3)
    means = rng.normal(size=(4, 3)) * 1.5
    model = asy.ClusterGMM([0.1, 0.2, 0.3, 0.4], [1, 1, -1, -1], means)
    margins = [2.0, 1.0, 0.5, 1.0]
    for intercept in (True, False):
        gamma = 2.5 * asy.separability_threshold(model, intercept)
        s = asy.max_margin(model, gamma, margins, intercept=intercept)
        r = ref.solve(model.priors, model.labels, model.gram, margins, gamma, intercept=intercept)
        _compare(s, r, intercept)
