"""Theory against Monte-Carlo: agreement within 4 standard errors plus the
documented finite-size allowance 2 max(1, |theory|)/n, convergence with n,
and reproducibility whatever the parallel set-up."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.simulate import monte_carlo

LABEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
GROUP = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])


@pytest.mark.parametrize("intercept", [True, False])
def test_label_theory_matches_simulation(intercept):
    r = monte_carlo(LABEL, 2.0, [1.0, 4.0], n=800, trials=24, intercept=intercept, seed=1, n_jobs=2)
    assert r.n_valid.tolist() == [24, 24]
    names = ["R_plus", "R_minus", "R_bal", "R", "q"] + (["b"] if intercept else [])
    for name in names:
        assert np.all(r.consistent(name)), (name, r.mean[name], r.se[name], r.theory[name])
    if not intercept:
        assert np.all(r.mean["b"] == 0)


def test_group_theory_matches_simulation():
    r = monte_carlo(GROUP, 2.0, 3.0, n=800, trials=24, seed=2, n_jobs=2)
    for name in ("R_plus", "R_minus", "R_bal", "R", "DEO", "worst", "q", "b"):
        assert np.all(r.consistent(name)), (name, r.mean[name], r.se[name], r.theory[name])
    assert r.mean["R_yg"].shape == (2, 2)


def test_gap_to_theory_shrinks_with_n():
    """Root-mean-square distance of the per-trial errors from the limit: it
    falls like 1/sqrt(n), so from n = 200 to 800 it should about halve."""
    rms = {}
    for n in (200, 800):
        r = monte_carlo(LABEL, 1.5, 3.0, n=n, trials=30, seed=3, n_jobs=2)
        dev = r.trials["R_bal"] - r.theory["R_bal"][..., None]
        rms[n] = float(np.sqrt(np.mean(dev ** 2)))
    assert rms[800] < 0.7 * rms[200]


def test_gd_trained_losses_match_their_max_margin_limit():
    # CDT with delta: CS-SVM (no intercept); LA: SVM
    for method in ("CDT", "LA"):
        r = monte_carlo(LABEL, 3.0, 3.0, n=200, trials=8, method=method, seed=4, n_jobs=2,
                        gd_options={"max_iter": 3000})
        svm = monte_carlo(LABEL, 3.0, 3.0 if method == "CDT" else 1.0, n=200, trials=8, intercept=False,
                          seed=4, n_jobs=2)
        # same training sets, terminal phase: nearly the max-margin classifier itself
        np.testing.assert_allclose(r.trials["R_bal"], svm.trials["R_bal"], atol=2e-3)
        assert "q" not in r.mean


def test_reproducible_whatever_n_jobs():
    a = monte_carlo(GROUP, [1.5, 3.0], 2.0, n=150, trials=4, seed=9, n_jobs=1)
    b = monte_carlo(GROUP, [1.5, 3.0], 2.0, n=150, trials=4, seed=9, n_jobs=2)
    for name in a.trials:
        np.testing.assert_array_equal(a.trials[name], b.trials[name])
    c = monte_carlo(GROUP, [1.5, 3.0], 2.0, n=150, trials=4, seed=10, n_jobs=1)
    assert not np.array_equal(a.trials["R"], c.trials["R"])


def test_common_random_numbers_across_delta():
    # every delta at one d sees the same training sets: the CS-SVM shift
    # identity then holds trial by trial (q_delta = (delta+1)/2 q_1)
    r = monte_carlo(LABEL, 2.0, [1.0, 3.0], n=150, trials=3, seed=5)
    np.testing.assert_allclose(r.trials["q"][1], 2.0 * r.trials["q"][0], rtol=1e-9)


def test_dask_backend_on_a_local_cluster():
    distributed = pytest.importorskip("distributed", reason="the dask extra is part of [test]")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster):
        a = monte_carlo(LABEL, 2.0, 2.0, n=120, trials=4, seed=6, backend="dask")
    b = monte_carlo(LABEL, 2.0, 2.0, n=120, trials=4, seed=6, n_jobs=1)
    for name in a.trials:
        np.testing.assert_array_equal(a.trials[name], b.trials[name])


def test_monte_carlo_bad_inputs():
    with pytest.raises(ValueError, match="n must"):
        monte_carlo(LABEL, 2.0, 1.0, n=0, trials=2)
    with pytest.raises(ValueError, match="trials"):
        monte_carlo(LABEL, 2.0, 1.0, n=10, trials=1.5)
    with pytest.raises(ValueError, match="method"):
        monte_carlo(LABEL, 2.0, 1.0, n=10, trials=2, method="hinge")
    with pytest.raises(ValueError, match="method"):
        monte_carlo(GROUP, 2.0, 1.0, n=10, trials=2, method="CDT")
    with pytest.raises(ValueError, match="backend"):
        monte_carlo(LABEL, 2.0, 1.0, n=10, trials=2, backend="spark")
    with pytest.raises(ValueError, match="delta"):
        monte_carlo(LABEL, 2.0, -1.0, n=10, trials=2)
    with pytest.raises(ValueError, match="dask"):
        monte_carlo(LABEL, 2.0, 1.0, n=10, trials=2, backend="dask")


def test_all_trials_non_separable_raise():
    with pytest.raises(asy.NotSeparableError):
        monte_carlo(asy.LabelGMM.antipodal(0.5, 0.3), 0.05, 1.0, n=200, trials=2)
