"""Hostile and degenerate input on the simulation side ("Unbreakable for a new
user"), one test per class of failure, each parametrised over the probe's
examples and more:

1. hangs: every exact solve is bounded and ends in a result,
   NotSeparableError or ConvergenceError (run in a subprocess with a
   generous timeout: a hang fails the test instead of blocking the suite);
2. the error class: non-separable samples (duplicate, zero, collinear rows)
   raise NotSeparableError, never ConvergenceError;
3. silent nonsense: non-finite or ill-typed options are refused, a diverging
   GD raises instead of returning NaN, unlucky Monte-Carlo trials are
   counted invalid with their reason instead of aborting the sweep;
4. obscure messages: one-line ValueErrors naming the argument, absurd sizes
   refused before any allocation.
"""
import json
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import asymptotics as asy
from asymptotics.simulate import (MAX_TRIALS, fit_max_margin, is_separable, max_jobs, monte_carlo, sample,
                                  sample_mismatch, empirical_errors, stratified_counts, train_vs, vs_preset,
                                  VSLoss)
from asymptotics.simulate import montecarlo as mc
from frozen import assert_frozen

LABEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
GROUP = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])
COLLINEAR = [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0], [3.0, 3.0, 3.0]]

# ----------------------------------------------------------------------------------------------
# 1 + 2. bounded solves and the right error class, in a subprocess (hang guard)

# name -> (python expression building (X, y, kwargs) from numpy as np and rng, expected outcome)
SOLVE_CASES = {
    # the probe's hangs
    "collinear": ("X, y, kw = C, np.array([1, -1, 1.0]), {}", "NotSeparableError"),
    "collinear-no-check": ("X, y, kw = C, np.array([1, -1, 1.0]), dict(check_separable=False)",
                           "NotSeparableError"),
    "gaussian-non-separable-no-check": (
        "X, y, kw = G.X, G.y, dict(check_separable=False)", "NotSeparableError"),
    # more of the same class
    "collinear-no-intercept": ("X, y, kw = C, np.array([1, -1, 1.0]), dict(intercept=False)",
                               "NotSeparableError"),
    "collinear-piqp": ("X, y, kw = C, np.array([1, -1, 1.0]), dict(backend='piqp', check_separable=False)",
                       "NotSeparableError"),
    "collinear-sample-margins": ("X, y, kw = C, np.array([1, -1, 1.0]), dict(margins=[2.0, 1.0, 3.0])",
                                 "NotSeparableError"),
    "gaussian-non-separable-no-check-piqp": (
        "X, y, kw = G.X, G.y, dict(check_separable=False, backend='piqp')", "NotSeparableError"),
    "gaussian-non-separable-no-check-no-intercept": (
        "X, y, kw = G.X, G.y, dict(check_separable=False, intercept=False)", "NotSeparableError"),
    "near-duplicate-opposite-labels": (
        "X = R.normal(size=(30, 50)); y = np.where(np.arange(30) % 3 == 0, 1.0, -1.0); "
        "X[1] = X[0] + 1e-13; X, y, kw = X, y, {}", ("NotSeparableError", "ConvergenceError")),
    # class 2: non-separable with duplicate or zero rows (d >= n: no general position)
    "duplicate-rows-opposite-labels": (
        "X = R.normal(size=(6, 20)); X[3] = X[0]; X, y, kw = X, np.array([1, -1, 1, -1, 1, -1.0]), {}",
        "NotSeparableError"),
    "duplicate-rows-opposite-labels-no-intercept": (
        "X = R.normal(size=(6, 20)); X[3] = X[0]; "
        "X, y, kw = X, np.array([1, -1, 1, -1, 1, -1.0]), dict(intercept=False)", "NotSeparableError"),
    "duplicate-rows-no-check": (
        "X = R.normal(size=(6, 20)); X[3] = X[0]; "
        "X, y, kw = X, np.array([1, -1, 1, -1, 1, -1.0]), dict(check_separable=False)", "NotSeparableError"),
    "zero-row-no-intercept": (
        "X = R.normal(size=(6, 20)); X[2] = 0; "
        "X, y, kw = X, np.array([1, -1, 1, -1, 1, -1.0]), dict(intercept=False)", "NotSeparableError"),
    "all-rows-zero": ("X, y, kw = np.zeros((4, 5)), np.array([1, -1, 1, -1.0]), {}", "NotSeparableError"),
    "zero-and-duplicate-rows-few-features": (
        "X = R.normal(size=(40, 3)); X[:5] = 0; X[5:10] = X[10]; y = np.where(np.arange(40) % 2 == 0, 1.0, -1.0); "
        "X, y, kw = X, y, dict(check_separable=False)", "NotSeparableError"),
    # degenerate but separable: solved, margins met
    "collinear-separable": ("X, y, kw = C, np.array([1, 1, -1.0]), {}", "ok"),
    "duplicate-rows-same-label": (
        "X = R.normal(size=(50, 80)); y = np.where(np.arange(50) % 3 == 0, 1.0, -1.0); X[10] = X[13]; "
        "X, y, kw = X, y, {}", "ok"),
    "zero-row-with-intercept": (
        "X = R.normal(size=(6, 20)); X[2] = 0; X, y, kw = X, np.array([1, -1, 1, -1, 1, -1.0]), {}", "ok"),
}

ESTIMATOR_CASES = {
    "CostSensitiveSVC-delta2-collinear": ("CostSensitiveSVC(delta=2).fit(C, [1, -1, 1])", "NotSeparableError"),
    "CostSensitiveSVC-delta2-no-intercept": ("CostSensitiveSVC(delta=2, intercept=False).fit(C, [1, -1, 1])",
                                             "NotSeparableError"),
}

_RUNNER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import asymptotics as asy
    from asymptotics.estimator import CostSensitiveSVC
    from asymptotics.simulate import fit_max_margin, sample
    C = np.array({collinear})
    G = sample(asy.LabelGMM.antipodal(0.5, 0.5), 300, 10, np.random.default_rng(0))
    cases = json.loads(sys.argv[1])
    for name, (kind, code) in cases.items():
        R = np.random.default_rng(1)
        try:
            if kind == "fit":
                exec(code)
                f = fit_max_margin(X, y, **kw)
                m = np.ones(len(y)) if "margins" not in kw else np.asarray(kw["margins"])
                ratio = float(np.min(y * (X @ f.w + f.b) / m))
                out = ["ok", f"kkt={{f.kkt_residual:.3g}} ratio={{ratio:.12f}}"]
            else:
                eval(code)
                out = ["ok", ""]
        except Exception as exc:
            out = [type(exc).__name__, str(exc)]
        print(json.dumps([name] + out), flush=True)
""").format(collinear=COLLINEAR)


@pytest.fixture(scope="module")
def solve_outcomes():
    """Every case in one subprocess, one JSON line per finished case; a hang
    (past a generous 300 s for cases that take well under a second each) leaves
    the remaining cases without an outcome, and their tests fail."""
    cases = {name: ("fit", code) for name, (code, _) in SOLVE_CASES.items()}
    cases.update({name: ("estimator", code) for name, (code, _) in ESTIMATOR_CASES.items()})
    try:
        proc = subprocess.run([sys.executable, "-c", _RUNNER, json.dumps(cases)], capture_output=True, text=True,
                              timeout=300)
        stdout = proc.stdout
    except subprocess.TimeoutExpired as exc:
        stdout = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
    found = {}
    for line in stdout.splitlines():
        name, kind, message = json.loads(line)
        found[name] = (kind, message)
    return found


@pytest.mark.parametrize("name", sorted(SOLVE_CASES) + sorted(ESTIMATOR_CASES))
def test_exact_solves_are_bounded_and_end_in_the_right_class(solve_outcomes, name):
    expected = (SOLVE_CASES.get(name) or ESTIMATOR_CASES[name])[1]
    assert name in solve_outcomes, f"{name}: no outcome (hung past the subprocess timeout, or crashed)"
    kind, message = solve_outcomes[name]
    allowed = expected if isinstance(expected, tuple) else (expected,)
    assert kind in allowed, (name, kind, message)
    if kind == "ok" and name in SOLVE_CASES:
        ratio = float(message.split("ratio=")[1])
        assert ratio >= 1.0 - 1e-7, (name, message)        # every margin met
    if kind != "ok":
        assert "\n" not in message


@pytest.mark.parametrize("X,y,intercept,expected", [
    (COLLINEAR, [1, -1, 1], True, False),
    (COLLINEAR, [1, 1, -1], True, True),
    (COLLINEAR, [1, 1, -1], False, False),           # through the origin: 1 and 3 on one ray
    ([[1.0, 0.0], [1.0, 0.0]], [1, -1], True, False),
    ([[1.0, 0.0], [0.0, 0.0]], [1, -1], False, False),
    ([[1.0, 0.0], [0.0, 0.0]], [1, -1], True, True),
    ([[1.0, 2.0, 3.0]], [1], False, True),
], ids=["collinear", "collinear-separable", "collinear-origin", "duplicate", "zero-row", "zero-row-intercept",
        "one-point"])
def test_is_separable_decides_degenerate_samples(X, y, intercept, expected):
    assert is_separable(np.asarray(X, float), np.asarray(y, float), intercept) is expected


# ----------------------------------------------------------------------------------------------
# 3. silent nonsense refused


@pytest.fixture(scope="module")
def small():
    return sample(LABEL, 30, 60, np.random.default_rng(4))


@pytest.mark.parametrize("kwargs,name", [
    (dict(lr=np.inf), "lr"), (dict(lr=np.nan), "lr"), (dict(lr=0.0), "lr"), (dict(lr=-1.0), "lr"),
    (dict(lr="0.1"), "lr"), (dict(lr=None), "lr"),
    (dict(max_iter=-1), "max_iter"), (dict(max_iter=0), "max_iter"), (dict(max_iter=2.5), "max_iter"),
    (dict(max_iter=True), "max_iter"), (dict(max_iter="10"), "max_iter"), (dict(max_iter=10 ** 12), "max_iter"),
    (dict(gtol=np.nan), "gtol"), (dict(gtol=-1.0), "gtol"), (dict(gtol=np.inf), "gtol"),
    (dict(n_records=0), "n_records"), (dict(method="adam"), "method"), (dict(intercept="no"), "intercept"),
])
def test_train_vs_refuses_nonsense_options(small, kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        train_vs(small.X, small.y, vs_preset("CDT", 0.1, 2.0), **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("scale,lr,method", [(1.0, 1e3, "gd"), (1.0, 1e300, "gd"), (1.0, 1e300, "normalized"),
                                             (1e150, 1e10, "gd"), (1e200, 1.0, "normalized")])
def test_train_vs_never_returns_nan(small, scale, lr, method):
    """Huge steps or features: a finite answer or a ConvergenceError."""
    try:
        res = train_vs(small.X * scale, small.y, vs_preset("CDT", 0.1, 2.0), lr=lr, method=method, max_iter=50,
                       model=LABEL)
    except asy.ConvergenceError as exc:
        assert "\n" not in str(exc)
        return
    assert np.all(np.isfinite(res.w)) and np.isfinite(res.loss) and np.isfinite(res.grad_norm)
    for values in res.history.values():
        assert np.all(np.isfinite(values))


def test_train_vs_diverging_features_raise_convergence_error(small):
    with pytest.raises(asy.ConvergenceError, match="X too large"):
        train_vs(small.X * 1e200, small.y, vs_preset("CDT", 0.1, 2.0), lr=1.0, method="gd")


@pytest.mark.parametrize("tol", [np.nan, np.inf, 0.0, -1e-7, 1.0, "1e-7", None, [1e-7], True])
def test_fit_max_margin_refuses_bad_tol(small, tol):
    with pytest.raises(ValueError, match="tol") as info:
        fit_max_margin(small.X, small.y, tol=tol)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("kwargs,name", [
    (dict(check_separable="yes"), "check_separable"), (dict(intercept=1), "intercept"),
    (dict(backend=None), "backend"), (dict(margins=[1.0, 2.0]), "margins"),
    (dict(margins=np.full(30, np.nan)), "margins"),
])
def test_fit_max_margin_refuses_bad_options(small, kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        fit_max_margin(small.X, small.y, **kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("n_jobs", [1.5, "2", 0, 400_000, max_jobs() + 1, True, -10 ** 6, np.float64(2.0)])
def test_monte_carlo_refuses_bad_n_jobs(n_jobs):
    with pytest.raises(ValueError, match="n_jobs") as info:
        monte_carlo(LABEL, 2.0, 1.0, n=20, trials=2, n_jobs=n_jobs)
    assert "\n" not in str(info.value)


def test_monte_carlo_accepts_all_cores_and_is_the_same():
    a = monte_carlo(LABEL, 2.0, 2.0, n=40, trials=3, seed=2, n_jobs=-1, backend="threading")
    b = monte_carlo(LABEL, 2.0, 2.0, n=40, trials=3, seed=2, n_jobs=None)
    for name in a.trials:
        np.testing.assert_array_equal(a.trials[name], b.trials[name])


@pytest.mark.parametrize("kwargs,name", [
    (dict(progress="yes"), "progress"), (dict(stratify="no"), "stratify"),
    (dict(method="CDT", gd_options={"lr": np.inf}), "lr"), (dict(method="CDT", gd_options={"step": 1}), "gd_options"),
    (dict(method="CDT", gd_options=[("lr", 1.0)]), "gd_options"), (dict(gd_options={"lr": 1.0}), "gd_options"),
    (dict(method="CDT", gd_options={"max_iter": 0}), "max_iter"),
    (dict(delta=np.inf), "delta"), (dict(delta=np.inf, method="CDT"), "delta"),
    (dict(delta=np.inf, method="CDT", lam=0.1), "delta"), (dict(lam=np.nan, method="CE"), "lam"),
    (dict(lam="a", method="CE"), "lam"), (dict(method=VSLoss([1, 1, 1], [0, 0, 0], [1, 1, 1])), "loss"),
    (dict(backend=3), "backend"),
])
def test_monte_carlo_refuses_bad_options(kwargs, name):
    args = dict(gamma=2.0, delta=1.0, n=20, trials=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name) as info:
        monte_carlo(LABEL, **args)
    assert "\n" not in str(info.value)


def test_unlucky_trials_are_counted_invalid_with_their_reason():
    """pi = 0.02, n = 50: about a third of the trials draw no minority sample.
    They are counted invalid (with the reason), the rest are summarised."""
    m = asy.LabelGMM(0.02, [4.0, 0.0], [0.0, 2.0])
    r = monte_carlo(m, 2.0, [1.0, 3.0], n=50, trials=24, seed=0)
    assert np.all(r.n_valid + r.n_invalid == 24)
    assert np.all(r.n_invalid >= 3) and np.all(r.n_valid >= 3)
    for idx in np.ndindex(r.gamma.shape):
        assert r.invalid_reasons[idx] == {mc.ONE_CLASS: int(r.n_invalid[idx])}
        no_minority = r.counts[idx][:, 0] == 0
        assert np.array_equal(np.isnan(r.trials["R"][idx]), no_minority)
        np.testing.assert_allclose(r.mean["R_bal"][idx], np.mean(r.trials["R_bal"][idx][~no_minority]))
    # stratified: exactly round(50 * 0.02) = 1 minority sample per trial, none invalid
    s = monte_carlo(m, 2.0, [1.0, 3.0], n=50, trials=6, seed=0, stratify=True)
    assert s.n_invalid.tolist() == [0, 0] and s.stratify
    assert np.all(s.counts == [1, 49])


@pytest.mark.parametrize("priors,n", [([0.02, 0.98], 50), ([0.1, 0.3, 0.6], 7), ([1 / 3] * 3, 10),
                                      ([0.125, 0.375, 0.5], 8), ([0.05, 0.05, 0.9], 1)])
def test_stratified_counts_are_exact_and_deterministic(priors, n):
    c = stratified_counts(np.array(priors), n)
    assert c.sum() == n and np.all(np.abs(c - n * np.asarray(priors)) < 1)
    np.testing.assert_array_equal(c, stratified_counts(np.array(priors), n))
    s = sample(asy.ClusterGMM(priors, [1, -1, 1][: len(priors)] if len(priors) == 3 else [1, -1], gram=np.eye(len(priors))),
               n, 3, np.random.default_rng(0), stratify=True)
    np.testing.assert_array_equal(np.bincount(s.k, minlength=len(priors)), c)


def _failing_fit(X, y, *args, **kwargs):
    """A solver failure in every trial whose first sample is in class +1."""
    if y[0] > 0:
        raise asy.ConvergenceError("injected solver failure", residual=1.0, iterations=7)
    return fit_max_margin(X, y, *args, **kwargs)


def test_a_failed_fit_is_an_invalid_trial_not_an_aborted_sweep(monkeypatch):
    monkeypatch.setattr(mc, "fit_max_margin", _failing_fit)
    m = asy.LabelGMM(0.4, [3.0, 0.0], [0.0, 2.0])
    r = monte_carlo(m, 2.0, 1.0, n=40, trials=12, seed=3, backend="sequential")
    assert 0 < r.n_invalid < 12
    assert r.invalid_reasons[()] == {"ConvergenceError: injected solver failure": int(r.n_invalid)}
    assert np.isfinite(r.mean["R_bal"]) and int(r.n_valid) == np.sum(~np.isnan(r.trials["R_bal"]))


def test_a_point_with_every_trial_invalid_raises_with_the_reasons(monkeypatch):
    monkeypatch.setattr(mc, "fit_max_margin", lambda *a, **k: (_ for _ in ()).throw(
        asy.ConvergenceError("injected solver failure")))
    with pytest.raises(asy.ConvergenceError, match="3 x ConvergenceError: injected solver failure"):
        monte_carlo(LABEL, 2.0, 1.0, n=40, trials=3, seed=3, backend="sequential")


def test_every_trial_one_class_names_n_and_suggests_stratify():
    m = asy.LabelGMM(0.001, [4.0, 0.0], [0.0, 2.0])
    with pytest.raises(ValueError, match="^n: .*stratify=True"):
        monte_carlo(m, 2.0, 1.0, n=20, trials=3, seed=0)


# ----------------------------------------------------------------------------------------------
# 4. obscure messages: one line, naming the argument, before any heavy work


def _refused(name, call):
    with pytest.raises(ValueError) as info:
        call()
    msg = str(info.value)
    assert msg.startswith(name) or f" {name}" in msg.split(":")[0] or msg.split(":")[0] == name, msg
    assert "\n" not in msg
    return msg


@pytest.mark.parametrize("name,call", [
    ("delta", lambda: vs_preset("CDT", 0.1, [1.0, 2.0])),
    ("prior", lambda: vs_preset("CDT", "0.1", 2.0)),
    ("delta", lambda: vs_preset("CDT", 0.1, np.inf)),
    ("clusters", lambda: train_vs(np.ones((3, 2)), np.array([1, -1, 1.0]), VSLoss.for_margins([1, 2]),
                                  clusters=[0.0, 0.5, 1.0])),
    ("clusters", lambda: train_vs(np.ones((3, 2)), np.array([1, -1, 1.0]), VSLoss.for_margins([1, 2]),
                                  clusters=[0, 1, 2])),
    ("clusters", lambda: train_vs(np.ones((3, 2)), np.array([1, -1, 1.0]), VSLoss.for_margins([1, 2]),
                                  clusters=["a", "b", "c"])),
    ("w_ref", lambda: train_vs(np.ones((3, 2)), np.array([1, -1, 1.0]), VSLoss(), w_ref=np.ones(3))),
    ("max_iter", lambda: train_vs(np.ones((3, 2)), np.array([1, -1, 1.0]), VSLoss(), max_iter=0)),
    ("y", lambda: train_vs(np.ones((3, 2)), np.array([1, 0, 1.0]), VSLoss())),
    ("X", lambda: train_vs(np.ones((0, 2)), np.zeros(0), VSLoss())),
    ("model", lambda: train_vs(np.ones((3, 2)), np.array([1, -1, 1.0]), VSLoss(), model="label")),
])
def test_training_inputs_are_named(name, call):
    _refused(name, call)


def test_integer_valued_float_clusters_are_accepted():
    s = sample(GROUP, 40, 60, np.random.default_rng(1))
    loss = VSLoss.for_margins([2.0, 1.0, 2.0, 1.0])
    a = train_vs(s.X, s.y, loss, clusters=s.k, max_iter=20)
    b = train_vs(s.X, s.y, loss, clusters=s.k.astype(float), max_iter=20)
    np.testing.assert_array_equal(a.w, b.w)


@pytest.mark.parametrize("name,call", [
    ("n", lambda: sample(LABEL, 10 ** 12, 3, np.random.default_rng(0))),
    ("d", lambda: sample(LABEL, 3, 10 ** 12, np.random.default_rng(0))),
    ("D", lambda: sample_mismatch(LABEL, 100, 10 ** 10, 5, np.random.default_rng(0))),
    ("n_test", lambda: empirical_errors(LABEL, np.ones(4), 0.0, 10 ** 12, np.random.default_rng(0))),
    ("n", lambda: monte_carlo(LABEL, 2.0, 1.0, n=10 ** 12, trials=2)),
    ("gamma", lambda: monte_carlo(LABEL, [1.0, 1e9], 1.0, n=1000, trials=2)),
    ("gamma", lambda: monte_carlo(LABEL, 1e307, 1.0, n=1000, trials=2)),
    ("gamma", lambda: monte_carlo(LABEL, np.geomspace(1, 1e8, 5), 1.0, n=100, trials=2, method="CE", lam=0.1)),
    ("n", lambda: monte_carlo(LABEL, 0.01, 1.0, n=20_000, trials=2)),          # the n x n Gram matrix
    ("trials", lambda: monte_carlo(LABEL, 2.0, 1.0, n=10, trials=MAX_TRIALS + 1)),
    ("gamma", lambda: monte_carlo(asy.LabelGMM(0.1, [1, 0, 0, 0, 1], [0, 1, 0, 0, 0]), 0.01, 1.0, n=100,
                                  trials=2)),
    ("X", lambda: fit_max_margin(np.zeros((20_000, 1)), np.where(np.arange(20_000) % 2, 1.0, -1.0))),
])
def test_absurd_sizes_are_refused_before_any_work(name, call):
    _refused(name, call)


def test_absurd_sizes_in_fit_erm_are_refused():
    from asymptotics.simulate import fit_erm
    X = np.zeros((20_000, 1))
    y = np.where(np.arange(20_000) % 2, 1.0, -1.0)
    _refused("X", lambda: fit_erm(X, y, asy.HingeLoss(), 0.1))


def test_realised_theory_unavailable_is_said_not_silent():
    """A covariance model whose trial drew no minority sample (no intercept, so
    the trial is valid): the realised-fraction theory of an absent cluster is
    not available with a covariance; the result says so and consistent(...,
    realised=True) refuses instead of comparing with NaN."""
    from asymptotics.covariance import Spectrum
    m = asy.LabelGMM(0.02, [2.0, 0.0], [-1.0, 1.0], covariance=Spectrum(eigenvalues=[0.5, 2.0],
                                                                        mean_eigenvalues=[2.0, 0.5]))
    r = monte_carlo(m, 2.0, 1.0, n=40, trials=6, seed=0, intercept=False)
    absent = int(np.sum(r.counts[:, 0] == 0))
    assert absent > 0 and r.n_valid == 6
    assert r.realised_unavailable[()] == {"a cluster without samples in a covariance model": absent}
    assert np.isnan(r.theory_realised["R_plus"]) and np.all(np.isfinite(r.mean["R_plus"]))
    with pytest.raises(ValueError, match="^realised: .*covariance"):
        r.consistent("R_plus", realised=True)
    assert np.all(np.isfinite(r.z("R_plus")))          # the plain comparison is unaffected


# ----------------------------------------------------------------------------------------------
# 5. the second probe: hang-like step caps, data scale, complex input, read-only results

from asymptotics.simulate import classifier_errors, fit_erm, train_vs_batch  # noqa: E402
from asymptotics.simulate.vsloss import GD_WORK_BUDGET, MAX_ITER_CAP  # noqa: E402


@pytest.fixture(scope="module")
def probe_data():
    """The probe's data: n = 200 samples in d = 400 dimensions."""
    return sample(LABEL, 200, 400, np.random.default_rng(0))


@pytest.mark.parametrize("name,call", [
    ("max_iter", lambda s: train_vs(s.X[:30, :2], s.y[:30], vs_preset("CE", 0.1), max_iter=10 ** 9, gtol=0)),
    ("max_iter", lambda s: train_vs(s.X[:30, :2], s.y[:30], vs_preset("CE", 0.1), max_iter=MAX_ITER_CAP + 1)),
    # work: 1e6 x (400 x min(400, 400) + 9e4) = 2.5e11 > 1e11
    ("max_iter", lambda s: train_vs(np.vstack([s.X, s.X]), np.tile(s.y, 2), vs_preset("CE", 0.1),
                                    max_iter=MAX_ITER_CAP, gtol=0)),
    # work: 400500 x (400 x min(400, 399 + 1) + 9e4) = 1.00125e11 (the intercept counts; without it 9.9965e10)
    ("max_iter", lambda s: train_vs(np.vstack([s.X, s.X])[:, :399], np.tile(s.y, 2), vs_preset("CE", 0.1),
                                    max_iter=400_500, intercept=True)),
    ("max_iter", lambda s: train_vs_batch(np.repeat(s.X[None, :30, :2], 2, 0), np.repeat(s.y[None, :30], 2, 0),
                                          [VSLoss(), VSLoss()], max_iter=10 ** 9)),
    # work: 1e6 x (4 x 200 x 200 + 9e4) = 2.5e11
    ("max_iter", lambda s: train_vs_batch(np.repeat(s.X[None], 4, 0), np.repeat(s.y[None], 4, 0),
                                          [VSLoss()] * 4, max_iter=10 ** 6)),
    ("gd_options", lambda s: monte_carlo(LABEL, 2.0, 2.0, n=400, trials=2, method="CDT",
                                         gd_options={"max_iter": 10 ** 6})),                            # work
])
def test_gradient_descent_work_is_bounded_before_any_step(probe_data, name, call):
    """The probe ran train_vs with max_iter = 1e9 (the old cap) for hours: the
    step cap is now 1e6 and max_iter x (B n min(n, d) + 9e4) at most 1e11
    (about 40 s), both checked before the first step (so the refusal is
    immediate)."""
    import time
    t0 = time.perf_counter()
    msg = _refused(name, lambda: call(probe_data))
    assert time.perf_counter() - t0 < 2.0, msg
    assert MAX_ITER_CAP == 10 ** 6 and GD_WORK_BUDGET == 10 ** 11


def test_gradient_descent_within_the_bounds_runs(probe_data):
    s = probe_data
    # the full step cap is allowed at the smallest sizes (1e6 x (60 + 9e4) < 1e11; 37 s measured);
    # a short run is representative
    from asymptotics.simulate.vsloss import check_gd_work
    check_gd_work(MAX_ITER_CAP, 1, 30, 2)
    check_gd_work(400_500, 1, 400, 399)             # just below the budget without an intercept
    res = train_vs(s.X[:30, :2], s.y[:30], vs_preset("CE", 0.1), max_iter=2000, gtol=0)
    assert res.iterations == 2000 and np.all(np.isfinite(res.w))


# scales: the max-margin problem is scale-covariant, w(cX) = w(X)/c, b(cX) = b, alpha(cX) = alpha(X)/c^2
SCALES_SOLVED = [1e-150, 1e-100, 1e-20, 1e-6, 1e-4, 1e-3, 0.1, 10.0, 1e4, 1e6, 1e20, 1e100, 1e140]
SCALES_REFUSED = [1e-300, 1e-250, 1e-200, 1e200, 1e250, 1e300]
MM_OPTIONS = {"svc": {}, "piqp": dict(backend="piqp"),
              "no-intercept-cs": dict(intercept=False, margins="cs"), "piqp-cs": dict(backend="piqp", margins="cs")}


def _mm_kwargs(key, y):
    kw = dict(MM_OPTIONS[key])
    if kw.get("margins") == "cs":
        kw["margins"] = np.where(y > 0, 3.0, 1.0)
    return kw


@pytest.fixture(scope="module")
def mm_reference(probe_data):
    s = probe_data
    return {key: fit_max_margin(s.X, s.y, **_mm_kwargs(key, s.y)) for key in MM_OPTIONS}


@pytest.mark.parametrize("key", sorted(MM_OPTIONS))
@pytest.mark.parametrize("c", SCALES_SOLVED)
def test_max_margin_is_right_at_any_representable_scale(probe_data, mm_reference, c, key):
    """The probe: X*1e-300 ... X*1e-100 raised NotSeparableError on separable
    data, X*1e100 a scikit-learn 'dual coefficients are not finite', and PIQP
    failed already at X*1e-4 and X*1e6.  Now the solve runs at a canonical
    power-of-two scale and the answer is scaled back."""
    s, ref = probe_data, mm_reference[key]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_max_margin(s.X * c, s.y, **_mm_kwargs(key, s.y))
    scale = np.max(np.abs(ref.w))
    np.testing.assert_allclose(fit.w * c, ref.w, rtol=0, atol=1e-9 * scale)
    assert fit.b == pytest.approx(ref.b, abs=1e-9 * (1 + abs(ref.b)))
    np.testing.assert_allclose(fit.alpha * c * c, ref.alpha, rtol=0, atol=1e-8 * ref.alpha.max())
    assert fit.kkt_residual <= 1e-7 and fit.min_margin_ratio >= 1 - 1e-9
    assert is_separable(s.X * c, s.y, intercept=MM_OPTIONS[key].get("intercept", True))


@pytest.mark.parametrize("j", [-480, -97, -5, -1, 1, 7, 64, 300, 480])
def test_power_of_two_scales_give_the_same_bits(probe_data, mm_reference, j):
    """Rescaling by a power of two is exact, so the answer is the same to the
    last bit (and polished: the exact support-set solve is found at every scale)."""
    s, ref = probe_data, mm_reference["piqp-cs"]
    fit = fit_max_margin(np.ldexp(s.X, j), s.y, **_mm_kwargs("piqp-cs", s.y))
    np.testing.assert_array_equal(np.ldexp(fit.w, j), ref.w)
    assert fit.b == ref.b and fit.polished and ref.polished


@pytest.mark.parametrize("c", SCALES_REFUSED)
def test_max_margin_outside_double_precision_names_x(probe_data, c):
    """Where w ~ 1/|x| or alpha ~ 1/|x|^2 leaves double precision: a one-line
    ValueError naming X (never a NaN, a wrong NotSeparableError or
    scikit-learn's multi-line 'Input X contains NaN')."""
    msg = _refused("X", lambda: fit_max_margin(probe_data.X * c, probe_data.y))
    assert "rescale X" in msg
    # separability itself is decided at any scale
    assert is_separable(probe_data.X * c, probe_data.y)


@pytest.mark.parametrize("c", [1e-300, 1e-150, 1e-6, 1e6, 1e150, 1e200])
def test_estimator_and_margins_estimate_at_any_scale(probe_data, c):
    from asymptotics.datadriven import suggest_delta
    from asymptotics.estimator import CostSensitiveSVC
    s = probe_data
    ref = CostSensitiveSVC(delta=2.0).fit(s.X, s.y)
    clf = CostSensitiveSVC(delta=2.0).fit(s.X * c, s.y)
    np.testing.assert_allclose(clf.coef_ * c, ref.coef_, rtol=0, atol=1e-9 * np.max(np.abs(ref.coef_)))
    np.testing.assert_array_equal(clf.predict(s.X * c), ref.predict(s.X))
    assert suggest_delta(s.X * c, s.y, method="margins").delta == pytest.approx(
        suggest_delta(s.X, s.y, method="margins").delta, rel=1e-8)


@pytest.mark.parametrize("c", [1e-300, 1e-200, 1e200, 1e300])
def test_plugin_estimate_outside_double_precision_names_x(probe_data, c):
    from asymptotics.datadriven import suggest_delta
    _refused("X", lambda: suggest_delta(probe_data.X * c, probe_data.y))


def _complex(a):
    return np.asarray(a).astype(complex)


@pytest.mark.parametrize("name,call", [
    ("X", lambda s: fit_max_margin(_complex(s.X), s.y)),
    ("y", lambda s: fit_max_margin(s.X, _complex(s.y))),
    ("margins", lambda s: fit_max_margin(s.X, s.y, margins=_complex(np.ones(200)))),
    ("X", lambda s: is_separable(_complex(s.X), s.y)),
    ("X", lambda s: train_vs(_complex(s.X[:30, :2]), s.y[:30], VSLoss())),
    ("w_ref", lambda s: train_vs(s.X[:30, :2], s.y[:30], VSLoss(), w_ref=_complex([1.0, 1.0]))),
    ("X", lambda s: train_vs_batch(_complex(s.X[None, :30, :2]), s.y[None, :30], [VSLoss()])),
    ("X", lambda s: fit_erm(_complex(s.X[:30, :2]), s.y[:30], VSLoss(), 0.1)),
    ("lam", lambda s: fit_erm(s.X[:30, :2], s.y[:30], VSLoss(), 0.1 + 0j)),
    ("tol", lambda s: fit_erm(s.X[:30, :2], s.y[:30], VSLoss(), 0.1, tol=1e-8 + 0j)),
    ("w", lambda s: classifier_errors(LABEL, _complex(np.ones(3)))),
    ("b", lambda s: classifier_errors(LABEL, np.ones(3), 1j)),
    ("b", lambda s: empirical_errors(LABEL, np.ones(3), 1j, 10, np.random.default_rng(0))),
    ("t", lambda s: VSLoss().value(_complex([1.0]))),
    ("X", lambda s: __import__("asymptotics.datadriven").datadriven.suggest_delta(_complex(s.X), s.y)),
    ("X", lambda s: __import__("asymptotics.estimator").estimator.CostSensitiveSVC(delta=2.0).fit(
        _complex(s.X), s.y)),
])
def test_complex_input_is_refused_not_cast(probe_data, name, call):
    """The probe: complex X was silently cast to its real part (ComplexWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _refused(name, lambda: call(probe_data))


# read-only results: every array read-only, every dict a read-only mapping, frozen, picklable

def _equal(a, b):
    import dataclasses
    if dataclasses.is_dataclass(a):
        return type(a) is type(b) and all(_equal(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        if a.dtype == object:
            return a.shape == b.shape and all(_equal(a[i], b[i]) for i in np.ndindex(a.shape))
        return np.array_equal(a, b, equal_nan=True)
    if hasattr(a, "items"):
        return set(a) == set(b) and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_equal(x, z) for x, z in zip(a, b))
    if isinstance(a, float) and np.isnan(a):
        return np.isnan(b)
    return a == b


RESULTS = {
    "Sample": lambda s: sample(GROUP, 30, 5, np.random.default_rng(0)),
    "Sample-mismatch": lambda s: sample_mismatch(LABEL, 30, 8, 8, np.random.default_rng(0)),
    "MaxMarginFit": lambda s: fit_max_margin(s.X, s.y),
    "MaxMarginFit-rescaled": lambda s: fit_max_margin(s.X * 1e-50, s.y, backend="piqp"),
    "TrainResult": lambda s: train_vs(s.X[:40], s.y[:40], vs_preset("CDT", 0.1, 2.0), max_iter=30, model=LABEL,
                                      w_ref=np.ones(400)),
    "ERMFit": lambda s: fit_erm(s.X[:40, :10], s.y[:40], VSLoss(), 0.1),
    "ERMFit-hinge": lambda s: fit_erm(s.X[:40, :10], s.y[:40], asy.HingeLoss(), 0.1),
    "MonteCarloResult": lambda s: monte_carlo(LABEL, [2.0, 3.0], 2.0, n=40, trials=3, seed=1, backend="sequential"),
    "MonteCarloResult-erm": lambda s: monte_carlo(LABEL, 2.0, 2.0, n=40, trials=2, seed=1, method="CE", lam=0.1,
                                                  backend="sequential"),
    "DeltaSuggestion-plugin": lambda s: __import__("asymptotics.datadriven").datadriven.suggest_delta(s.X, s.y),
    "DeltaSuggestion-margins": lambda s: __import__("asymptotics.datadriven").datadriven.suggest_delta(
        s.X, s.y, method="margins"),
}


@pytest.mark.parametrize("kind", sorted(RESULTS))
def test_results_are_read_only_and_pickle(probe_data, kind):
    """The probe: mutating r.mean['R_bal'] flipped consistent(); TrainResult.w,
    MaxMarginFit.alpha, Sample.X, DeltaSuggestion.diagnostics['gram'] were
    writable.  Now every array is read-only, every dict a read-only mapping,
    and a pickled (or deep-copied) result is equal and as read-only."""
    import copy
    import pickle
    r = RESULTS[kind](probe_data)
    assert_frozen(r)
    for clone in (pickle.loads(pickle.dumps(r)), copy.deepcopy(r)):
        assert _equal(clone, r)
        assert_frozen(clone)


def test_read_only_results_do_not_freeze_the_callers_arrays():
    from asymptotics.simulate.sampling import Sample
    X, y, k = np.ones((3, 2)), np.array([1.0, -1.0, 1.0]), np.zeros(3, dtype=int)
    s = Sample(X=X, y=y, k=k)
    assert not s.X.flags.writeable and X.flags.writeable       # a read-only view, no copy
    assert np.shares_memory(s.X, X)


def test_monte_carlo_mean_cannot_be_mutated_to_flip_consistent():
    r = monte_carlo(LABEL, 2.0, 2.0, n=40, trials=3, seed=1, backend="sequential")
    before = r.consistent("R_bal").copy()
    with pytest.raises(ValueError, match="read-only"):
        r.mean["R_bal"][...] = 0.9
    with pytest.raises(TypeError):
        r.mean["R_bal"] = np.array(0.9)
    np.testing.assert_array_equal(r.consistent("R_bal"), before)


@pytest.mark.parametrize("name,call", [
    ("losses", lambda: train_vs_batch(np.ones((1, 3, 2)), np.array([[1, -1, 1.0]]), VSLoss())),
    ("losses", lambda: train_vs_batch(np.ones((1, 3, 2)), np.array([[1, -1, 1.0]]), 5)),
    ("losses", lambda: train_vs_batch(np.ones((2, 3, 2)), np.array([[1, -1, 1.0]] * 2), [VSLoss()])),
    ("n_records", lambda: train_vs_batch(np.ones((1, 3, 2)), np.array([[1, -1, 1.0]]), [VSLoss()], n_records=True)),
    ("n_records", lambda: train_vs_batch(np.ones((1, 3, 2)), np.array([[1, -1, 1.0]]), [VSLoss()], n_records=-1)),
    ("X", lambda: train_vs_batch(np.ones((0, 3, 2)), np.ones((0, 3)), [])),
    ("X", lambda: train_vs_batch(np.ones((1, 3, 2), dtype=bool), np.array([[1, -1, 1.0]]), [VSLoss()])),
    ("y", lambda: train_vs_batch(np.ones((1, 3, 2)), np.array([[1, 0, 1.0]]), [VSLoss()])),
    ("d", lambda: train_vs_batch(np.ones((1, 3, 1)), np.array([[1, -1, 1.0]]), [VSLoss()], model=LABEL,
                                 n_records=2)),
    ("X", lambda: fit_max_margin(np.ones((3, 2), dtype=bool), np.array([1, -1, 1.0]))),
    ("X", lambda: fit_max_margin([[1.0, None], [0.0, 1.0]], np.array([1, -1.0]))),
    ("X", lambda: fit_max_margin([[1.0, 2.0], [0.0]], np.array([1, -1.0]))),
    ("b", lambda: classifier_errors(LABEL, np.ones(3), [0.0, 1.0])),
])
def test_batch_training_and_solver_inputs_are_named(name, call):
    _refused(name, call)
