"""Theory against Monte-Carlo: agreement within 4 standard errors plus the
documented finite-size allowance 2 max(1, |theory|)/n, convergence with n,
and reproducibility whatever the parallel set-up."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.simulate import cluster_margins, monte_carlo

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


def test_realised_fractions_remove_the_bias_of_random_class_counts():
    """pi = 0.03, n = 200: the minority count is Binomial(200, 0.03) (mean 6),
    and R+ is far from linear in it, so the average over trials sits well above
    the limit at the prior (z > 5: consistent() fails).  The theory at each
    trial's realised fractions, averaged (theory_realised), explains the gap:
    every metric agrees with it within 2 SE.  Stratified sampling (exactly 6
    minority samples) removes the bias at the source: then the plain limit
    agrees."""
    m = asy.LabelGMM.antipodal(0.03, 3.0)
    r = monte_carlo(m, 2.0, 4.0, n=200, trials=300, seed=1, n_jobs=2, progress=False)
    assert r.z("R_plus") > 5 and r.z("R_bal") > 5
    assert not r.consistent("R_plus") and not r.consistent("R_bal")
    assert r.theory_realised["R_plus"] - r.theory["R_plus"] > 0.05     # the count-induced shift itself
    for name in ("R_plus", "R_minus", "R_bal", "R", "q", "b"):
        assert abs(r.z(name, realised=True)) < 2, (name, r.mean[name], r.se[name], r.theory_realised[name])
        assert r.consistent(name, realised=True)
    # per trial: counts recorded, theory at those counts
    assert np.unique(r.counts[:, 0]).size > 5 and np.all(r.counts.sum(axis=-1) == 200)
    valid = ~np.isnan(r.trials["R_plus"])
    np.testing.assert_allclose(np.mean(r.theory_trials["R_plus"][valid]), r.theory_realised["R_plus"])
    s = monte_carlo(m, 2.0, 4.0, n=200, trials=60, seed=1, n_jobs=2, progress=False, stratify=True)
    assert np.all(s.counts == [6, 194]) and s.n_invalid == 0
    np.testing.assert_allclose(s.theory_realised["R_plus"], s.theory["R_plus"], rtol=1e-9)
    for name in ("R_plus", "R_bal", "q", "b"):
        assert np.all(s.consistent(name)), (name, s.mean[name], s.se[name], s.theory[name])


def test_realised_theory_of_an_absent_cluster_is_the_limit_of_a_rare_one():
    """Trials that draw no sample of a cluster: its error comes from the limiting
    direction in the span of the other means.  Independent check: the theory with
    that cluster's fraction 1e-7 instead of 0 (continuity in the priors)."""
    g = asy.GroupGMM(0.4, 0.05, [2.0, 0.0], [0.5, 1.5])
    r = monte_carlo(g, 2.0, 3.0, n=40, trials=12, seed=0)
    absent = [t for t in range(12) if np.isfinite(r.trials["R"][t]) and np.any(r.counts[t] == 0)]
    assert absent, r.counts
    for t in absent[:3]:
        c = r.counts[t].astype(float)
        c[c == 0] = 1e-7 * 40
        rare = asy.ClusterGMM(c / c.sum(), g.labels, g.means)
        ref = asy.max_margin(rare, r.d[()] / 40, cluster_margins(g, 3.0))
        np.testing.assert_allclose(r.theory_trials["errors"][t], ref.errors, atol=1e-5)
        np.testing.assert_allclose([r.theory_trials["q"][t], r.theory_trials["b"][t]], [ref.q, ref.b], atol=1e-5)


def test_reproducible_whatever_n_jobs_with_stratified_sampling():
    a = monte_carlo(GROUP, 2.0, [1.0, 2.0], n=120, trials=4, seed=9, n_jobs=1, stratify=True)
    b = monte_carlo(GROUP, 2.0, [1.0, 2.0], n=120, trials=4, seed=9, n_jobs=2, stratify=True)
    for name in a.trials:
        np.testing.assert_array_equal(a.trials[name], b.trials[name])
        np.testing.assert_array_equal(a.theory_realised[name], b.theory_realised[name])
    np.testing.assert_array_equal(a.counts, b.counts)


# ----------------------------------------------------------------------------------------------
# the result's methods refuse what they cannot show (second probe)


@pytest.fixture(scope="module")
def small_result():
    return monte_carlo(LABEL, [2.0, 3.0], 2.0, n=40, trials=3, seed=1, backend="sequential")


@pytest.mark.parametrize("names,bad", [
    (("foo",), "foo"), (("R_bal", "foo"), "foo"), ("foo", "foo"), (("errors",), "errors"),
    (("counts",), "counts"), ((3,), None), (3, None), ((None,), None),
])
def test_table_refuses_unknown_or_per_cluster_metrics(small_result, names, bad):
    """The probe: table(('foo',)) silently dropped the name while
    consistent('foo') raised."""
    with pytest.raises(ValueError, match="^names") as info:
        small_result.table(names)
    assert "\n" not in str(info.value)
    if bad is not None:
        assert repr(bad) in str(info.value)


def test_table_shows_what_is_asked_for(small_result):
    default = small_result.table()
    assert default.splitlines()[0].split()[4:] == ["R_plus", "R_minus", "R_bal", "R"]
    assert len(default.splitlines()) == 3
    one = small_result.table("q")
    assert one.splitlines()[0].split()[4:] == ["q"]
    assert small_result.table(["R_bal", "q"]).splitlines()[0].split()[4:] == ["R_bal", "q"]


@pytest.mark.parametrize("k", [True, "4", -1.0, 0.0, np.nan, np.inf, None, [4.0]])
def test_consistent_refuses_a_nonsense_k(small_result, k):
    with pytest.raises(ValueError, match="^k must"):
        small_result.consistent("R_bal", k=k)


@pytest.mark.parametrize("name", ["foo", "errors_", ""])
def test_consistent_and_z_refuse_unknown_metrics(small_result, name):
    for method in (small_result.consistent, small_result.z):
        with pytest.raises(ValueError, match="^name must"):
            method(name)
