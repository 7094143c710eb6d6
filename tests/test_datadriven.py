"""suggest_delta and CostSensitiveSVC."""
import numpy as np
import pytest
from sklearn.utils.estimator_checks import check_estimator

import asymptotics as asy
from asymptotics.estimator import CostSensitiveSVC
from asymptotics.simulate import fit_max_margin, sample
from asymptotics.datadriven import suggest_delta

MODEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])


@pytest.mark.parametrize("method", ["plugin", "margins"])
def test_suggest_delta_converges_to_theory(method):
    """At gamma = 2 the theory's delta* is 3.468; the estimate's error falls with
    n and is within 10% at n = 2000 (3 seeded data sets each)."""
    truth = float(asy.delta_star(MODEL, 2.0).delta)
    err = {}
    for n in (200, 2000):
        est = [suggest_delta(*_data(n, seed), method=method).delta for seed in range(3)]
        err[n] = np.abs(np.array(est) / truth - 1)
    assert np.all(err[2000] < 0.10), err[2000]
    assert err[2000].mean() < err[200].mean()


def _data(n, seed):
    s = sample(MODEL, n, 2 * n, np.random.default_rng(seed))
    return s.X, s.y


def test_suggestion_diagnostics_and_labels():
    X, y = _data(400, 0)
    labels = np.where(y > 0, "rare", "common")
    a, b = suggest_delta(X, y), suggest_delta(X, labels)
    assert a.delta == b.delta and a.attainable
    d = a.diagnostics
    assert d["prior"] == pytest.approx(np.mean(y > 0))
    assert d["gamma"] == 2.0 and d["gram"].shape == (2, 2)
    assert np.linalg.eigvalsh(d["gram"]).min() >= 0
    # the debiased Gram is close to the truth (|mu+|^2 = 16, |mu-|^2 = 4, orthogonal)
    np.testing.assert_allclose(np.diag(d["gram"]), [16, 4], rtol=0.35)
    m = suggest_delta(X, y, method="margins")
    assert m.diagnostics["folds"] == 5 and m.t == pytest.approx((m.delta - 1) / (m.delta + 1))


def test_estimator_equals_the_cs_svm_solution():
    X, y = _data(300, 1)
    for delta in (0.5, 3.0):
        clf = CostSensitiveSVC(delta=delta).fit(X, y)
        fit = fit_max_margin(X, y, np.where(y > 0, delta, 1.0))
        # classes_ = [-1, 1]: decision positive for +1, the minority
        np.testing.assert_allclose(clf.coef_, fit.w, rtol=1e-9, atol=1e-12)
        assert clf.intercept_ == pytest.approx(fit.b, rel=1e-9)
        np.testing.assert_array_equal(clf.predict(X), np.where(X @ fit.w + fit.b > 0, 1.0, -1.0))
    clf = CostSensitiveSVC(delta=3.0, intercept=False).fit(X, y)
    fit = fit_max_margin(X, y, np.where(y > 0, 3.0, 1.0), intercept=False)
    np.testing.assert_allclose(clf.coef_, fit.w, rtol=1e-9, atol=1e-12)


def test_estimator_auto_and_label_orientation():
    X, y = _data(300, 2)
    labels = np.where(y > 0, 0, 1)          # minority is classes_[0] now
    clf = CostSensitiveSVC().fit(X, labels)
    assert clf.minority_ == 0 and clf.delta_ == suggest_delta(X, y).delta
    pred = clf.predict(X)
    fit = fit_max_margin(X, y, np.where(y > 0, clf.delta_, 1.0))
    np.testing.assert_array_equal(pred, np.where(X @ fit.w + fit.b > 0, 0, 1))
    assert clf.score(X, labels) == 1.0     # hard margin: training data separated
    assert clf.get_params()["delta"] == "auto"
    clf.set_params(delta=2.0, method="margins")
    assert clf.fit(X, labels).delta_ == 2.0


def test_estimator_checks_that_apply():
    """Every scikit-learn check passes except those whose data are not
    linearly separable: a hard-margin classifier must refuse them."""
    for est in (CostSensitiveSVC(delta=2.0), CostSensitiveSVC(method="margins")):
        results = check_estimator(est, on_fail=None)
        failed = [r for r in results if r["status"] == "failed"]
        passed = [r for r in results if r["status"] == "passed"]
        assert len(passed) >= 40
        for r in failed:
            assert isinstance(r["exception"], asy.NotSeparableError), (r["check_name"], r["exception"])


def test_bad_inputs():
    X, y = _data(100, 3)
    with pytest.raises(ValueError, match="two classes"):
        suggest_delta(X, np.ones(100))
    with pytest.raises(ValueError, match="method"):
        suggest_delta(X, y, method="oracle")
    with pytest.raises(ValueError, match="same number of rows"):
        suggest_delta(X, y[:-1])
    with pytest.raises(ValueError, match="X"):
        suggest_delta(np.full_like(X, np.nan), y)
    with pytest.raises(asy.NotSeparableError):
        s = sample(asy.LabelGMM.antipodal(0.3, 0.5), 400, 10, np.random.default_rng(0))
        suggest_delta(s.X, s.y, method="margins")
    with pytest.raises(asy.NotSeparableError):
        suggest_delta(s.X, s.y, method="plugin")
    few = np.where(np.arange(100) == 0, 1.0, -1.0)
    with pytest.raises(ValueError, match="2 samples"):
        suggest_delta(X, few, method="margins")
    with pytest.raises(ValueError, match="delta"):
        CostSensitiveSVC(delta=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="delta"):
        CostSensitiveSVC(delta="best").fit(X, y)
    with pytest.raises(ValueError, match="binary"):
        CostSensitiveSVC(delta=2.0).fit(X[:9], np.arange(9) % 3)


def test_plugin_refuses_means_lost_in_noise():
    # class means exactly zero (samples in +-pairs): the debiased Gram is
    # negative definite, projected to zero: nothing to separate by
    rng = np.random.default_rng(0)
    half = rng.normal(size=(20, 64))
    X = np.concatenate([half, -half])
    y = np.where(np.isin(np.arange(40), [0, 20]), 1.0, -1.0)
    with pytest.raises(ValueError, match="not distinguishable from noise"):
        suggest_delta(X, y)
