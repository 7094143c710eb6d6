"""suggest_delta and CostSensitiveSVC."""
import numpy as np
import pytest
from refusal import refused
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


# ----------------------------------------------------------------------------------------------
# hostile input (the second probe): one-line ValueErrors naming the argument

import pickle  # noqa: E402
import warnings  # noqa: E402

from asymptotics.datadriven import FoldsWarning  # noqa: E402
from asymptotics.estimator import InputTypeError  # noqa: E402


_refused = refused


@pytest.fixture(scope="module")
def data():
    return _data(100, 3)


BAD_LABELS = {
    "None": lambda y: [None] * len(y),
    "some-None": lambda y: [1 if v > 0 else None for v in y],
    "mixed-list": lambda y: [1 if v > 0 else "a" for v in y],
    "mixed-tuple": lambda y: tuple(1.0 if v > 0 else "a" for v in y),
    "mixed-object-array": lambda y: np.array([1 if v > 0 else "a" for v in y], dtype=object),
    "objects": lambda y: [object() for _ in y],
    "complex": lambda y: y.astype(complex),
    "complex-list": lambda y: [complex(v) for v in y],
    "nan": lambda y: np.where(y > 0, np.nan, -1.0),
    "inf-list": lambda y: [np.inf if v > 0 else -1.0 for v in y],
    "nested": lambda y: [[v] for v in y[:-1]] + [[1.0, 2.0]],
    "dicts": lambda y: [{"label": v} for v in y],
    "bytes-and-str": lambda y: [b"a" if v > 0 else "b" for v in y],
    "bytes": lambda y: np.where(y > 0, b"a", b"b"),
    "bytes-list": lambda y: [b"a" if v > 0 else b"b" for v in y],
}


@pytest.mark.parametrize("kind", sorted(BAD_LABELS))
def test_labels_that_are_not_numbers_or_strings_name_y(data, kind):
    """The probe: suggest_delta(X, [None]*200) raised numpy's TypeError ('<' not
    supported); [1, 'a', ...] in a list was silently turned into strings."""
    X, y = data
    labels = BAD_LABELS[kind](y)
    _refused("y", lambda: suggest_delta(X, labels))
    _refused("y", lambda: suggest_delta(X, labels, method="margins"))
    _refused("y", lambda: CostSensitiveSVC(delta=2.0).fit(X, labels))
    _refused("y", lambda: CostSensitiveSVC().fit(X, labels))


def test_probe_label_examples(data):
    X, y = data
    _refused("y", lambda: suggest_delta(X[:4], [1, "a", 1, "a"]))
    _refused("y", lambda: CostSensitiveSVC().fit(X, [1, "a"] * 50))


@pytest.mark.parametrize("labels", [lambda y: np.where(y > 0, "rare", "common").tolist(),
                                    lambda y: np.where(y > 0, 1, 0).tolist(),
                                    lambda y: np.where(y > 0, True, False),
                                    lambda y: [np.int64(v) for v in np.where(y > 0, 3, 7)]])
def test_plain_label_lists_still_work(data, labels):
    X, y = data
    lab = labels(y)
    assert suggest_delta(X, lab).delta == suggest_delta(X, y).delta
    clf = CostSensitiveSVC(delta=2.0).fit(X, lab)
    assert clf.score(X, lab) == 1.0


def test_folds_above_the_minority_count_warn_and_are_reported(data):
    """The probe: folds=1000 was silently cut to the minority count."""
    X, y = data
    n_min = int(np.sum(y > 0))
    with pytest.warns(FoldsWarning, match=f"1000 .*{n_min} used"):
        r = suggest_delta(X, y, method="margins", folds=1000)
    assert r.diagnostics["folds"] == n_min and r.diagnostics["folds_requested"] == 1000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = suggest_delta(X, y, method="margins", folds=5)
    assert r.diagnostics["folds"] == r.diagnostics["folds_requested"] == 5


@pytest.mark.parametrize("params,name", [
    (dict(delta=True), "delta"), (dict(delta=np.True_), "delta"), (dict(delta=False), "delta"),
    (dict(delta=1j), "delta"), (dict(delta=np.nan), "delta"), (dict(delta=-np.inf), "delta"),
    (dict(delta=[2.0]), "delta"), (dict(delta=None), "delta"), (dict(delta="2"), "delta"),
    (dict(folds=True), "folds"), (dict(folds=1), "folds"), (dict(folds=2.0), "folds"),
    (dict(random_state=True), "random_state"), (dict(random_state=-1), "random_state"),
    (dict(intercept=1), "intercept"), (dict(intercept="yes"), "intercept"), (dict(method="oracle"), "method"),
])
def test_estimator_refuses_nonsense_parameters(data, params, name):
    """The probe: CostSensitiveSVC(delta=True) was accepted as delta = 1."""
    X, y = data
    _refused(name, lambda: CostSensitiveSVC(**params).fit(X, y))


@pytest.mark.parametrize("kwargs,name", [
    (dict(folds=True), "folds"), (dict(random_state=True), "random_state"), (dict(intercept=1), "intercept"),
    (dict(method=None), "method"),
])
def test_suggest_delta_refuses_nonsense_parameters(data, kwargs, name):
    X, y = data
    _refused(name, lambda: suggest_delta(X, y, **kwargs))


def _with_nan(X):
    X = np.array(X)
    X[0, 0] = np.nan
    return X


def _with_object(X):
    X = np.array(X).astype(object)
    X[0, 0] = {"foo": "bar"}
    return X


@pytest.mark.parametrize("name,call", [
    ("X", lambda X, y: CostSensitiveSVC().fit(_with_nan(X), y)),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(np.where(X > 3, np.inf, X), y)),
    ("X", lambda X, y: CostSensitiveSVC().fit(X, y).predict(_with_nan(X))),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(X, y).decision_function(X[0])),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(X, y).predict(X[:, :5])),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(X[0], y)),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(X[:0], y[:0])),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(np.array(X).astype(str), y)),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(np.array(X).astype(str).astype(object), y)),
    ("X", lambda X, y: CostSensitiveSVC(delta=2.0).fit(X, y).predict(np.array(X).astype(str).tolist())),
    ("X", lambda X, y: suggest_delta(np.array(X).astype(str), y)),
    ("y", lambda X, y: CostSensitiveSVC().fit(X[:6], [1, 2, 3, 1, 2, 3])),
    ("y", lambda X, y: CostSensitiveSVC().fit(X, np.ones(len(y)))),
    ("y", lambda X, y: CostSensitiveSVC().fit(X, y + np.linspace(0, 0.5, len(y)))),
    ("y", lambda X, y: CostSensitiveSVC().fit(X, np.stack([y, y], 1))),
    ("y", lambda X, y: CostSensitiveSVC().fit(X, None)),
    ("X", lambda X, y: CostSensitiveSVC().fit(X, y[:-1])),
    ("X", lambda X, y: suggest_delta(_with_nan(X), y)),
    ("X", lambda X, y: suggest_delta(X[:, :0], y)),
    ("X", lambda X, y: suggest_delta(X.astype(bool), y)),
])
def test_estimator_messages_are_one_line_naming_the_argument(data, name, call):
    """The probe: scikit-learn's multi-line 'Input X contains NaN...', 'Only
    binary classification is supported...' (not naming y) and 'Found input
    variables with inconsistent numbers of samples'."""
    X, y = data
    msg = _refused(name, lambda: call(X, y))
    if "y[:-1]" in call.__code__.co_consts or "inconsistent" in msg:
        assert "X and y" in msg


def test_non_numeric_x_is_both_a_value_and_a_type_error(data):
    """scikit-learn's checks expect a TypeError for a dict in X; the package's
    convention is a ValueError: InputTypeError is both."""
    X, y = data
    msg = _refused("X", lambda: CostSensitiveSVC(delta=2.0).fit(_with_object(X), y), InputTypeError)
    assert issubclass(InputTypeError, TypeError) and issubclass(InputTypeError, ValueError)
    assert "argument must be a string" in msg


def test_fitted_estimator_pickles_with_its_read_only_suggestion(data):
    X, y = data
    for method in ("plugin", "margins"):
        clf = CostSensitiveSVC(method=method).fit(X, y)
        back = pickle.loads(pickle.dumps(clf))
        assert back.delta_ == clf.delta_ and back.suggestion_.diagnostics.keys() == clf.suggestion_.diagnostics.keys()
        np.testing.assert_array_equal(back.predict(X), clf.predict(X))
        with pytest.raises(TypeError):
            back.suggestion_.diagnostics["R_bal"] = 0.0
