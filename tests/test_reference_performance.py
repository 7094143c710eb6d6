"""The mpmath reference for the deployment metrics checked against facts
(closed forms, invariances, identities), not against the fast path."""
import math

import mpmath as mp
import numpy as np
import pytest

from asymptotics.reference.performance import reference_metrics

KEYS = {"tpr", "fpr", "tnr", "fnr", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "npv",
        "mcc", "auc", "auprc"}


@pytest.fixture(autouse=True)
def _restore_mpmath_precision():
    dps = mp.mp.dps
    yield
    mp.mp.dps = dps


def _mixture(rng, K=4):
    """K clusters, both classes present, priors summing to 1, means in [-3, 3]
    on a 1/1024 grid (so shifting them by a short dyadic number is exact)."""
    labels = [1, -1] + [int(v) for v in rng.choice([1, -1], K - 2)]
    priors = rng.uniform(0.2, 1.0, K)
    priors = (priors / priors.sum()).tolist()
    means = (np.round(rng.uniform(-3, 3, K) * 1024) / 1024).tolist()
    return means, float(rng.uniform(0.4, 1.5)), labels, priors


@pytest.mark.parametrize("mu_pos, mu_neg, sigma", [(1.0, -0.5, 1.0), (0.3, 0.0, 2.0), (-1.0, 0.7, 0.5)])
def test_auc_one_cluster_per_class_closed_form(mu_pos, mu_neg, sigma):
    r = reference_metrics([mu_pos, mu_neg], sigma, [1, -1], [0.3, 0.7], dps=30)
    assert set(r) == KEYS
    with mp.workdps(40):
        exact = mp.ncdf((mp.mpf(mu_pos) - mp.mpf(mu_neg)) / (sigma * mp.sqrt(2)))
        assert abs(r["auc"] - exact) < mp.mpf("1e-25")
        # the rates at the threshold are plain Gaussian tails
        assert abs(r["tpr"] - mp.ncdf(mp.mpf(mu_pos) / sigma)) < mp.mpf("1e-25")
        assert abs(r["fpr"] - mp.ncdf(mp.mpf(mu_neg) / sigma)) < mp.mpf("1e-25")


def test_auc_of_mixture_matches_pairwise_sum(rng):
    """AUC of mixtures = sum over (positive, negative) cluster pairs of w_i w_j Phi(...)."""
    means, sigma, labels, priors = _mixture(rng, 5)
    r = reference_metrics(means, sigma, labels, priors, dps=20)
    with mp.workdps(30):
        pos = [(mp.mpf(m), mp.mpf(w)) for m, y, w in zip(means, labels, priors) if y == 1]
        neg = [(mp.mpf(m), mp.mpf(w)) for m, y, w in zip(means, labels, priors) if y == -1]
        wp, wn = mp.fsum(w for _, w in pos), mp.fsum(w for _, w in neg)
        exact = mp.fsum(a * b * mp.ncdf((m - n) / (sigma * mp.sqrt(2))) for m, a in pos for n, b in neg) / (wp * wn)
        assert abs(r["auc"] - exact) < mp.mpf("1e-17")


def test_auc_and_auprc_invariant_to_common_shift(rng):
    means, sigma, labels, priors = _mixture(rng, 3)
    r0 = reference_metrics(means, sigma, labels, priors, threshold=0.375, test_prior=0.3, dps=16)
    r1 = reference_metrics([m + 7.25 for m in means], sigma, labels, priors, threshold=0.375 + 7.25,
                           test_prior=0.3, dps=16)   # every shifted value is exact in binary
    for key in KEYS:      # shifting the threshold too leaves every metric unchanged
        assert abs(r0[key] - r1[key]) < mp.mpf("1e-14"), key
    r2 = reference_metrics([m - 3.0 for m in means], sigma, labels, priors, test_prior=0.3, dps=16)
    assert abs(r0["auc"] - r2["auc"]) < mp.mpf("1e-14")
    assert abs(r0["auprc"] - r2["auprc"]) < mp.mpf("1e-14")


@pytest.mark.parametrize("test_prior", [None, 0.2])
def test_identical_class_laws(test_prior):
    # positive and negative class both the mixture 0.25 N(-1, .8^2) + 0.75 N(2, .8^2)
    # (dyadic priors: the within-class weights are exactly equal in binary too)
    means, labels = [-1.0, 2.0, -1.0, 2.0], [1, 1, -1, -1]
    priors = [0.0625, 0.1875, 0.1875, 0.5625]           # training mass of +1: 0.25
    r = reference_metrics(means, 0.8, labels, priors, threshold=0.5, test_prior=test_prior, dps=20)
    p = mp.mpf(0.25) if test_prior is None else mp.mpf(test_prior)
    tol = mp.mpf("1e-17")
    assert abs(r["auc"] - mp.mpf(1) / 2) < tol
    assert abs(r["auprc"] - p) < tol
    assert abs(r["tpr"] - r["fpr"]) < tol
    assert abs(r["precision"] - p) < tol
    assert abs(r["mcc"]) < tol
    assert abs(r["balanced_accuracy"] - mp.mpf(1) / 2) < tol


def test_metric_identities(rng):
    means, sigma, labels, priors = _mixture(rng, 4)
    r = reference_metrics(means, sigma, labels, priors, threshold=-0.2, test_prior=0.35, dps=25)
    mp.mp.dps = 35           # restored by the autouse fixture
    p, tol = mp.mpf(0.35), mp.mpf("1e-22")
    tpr, fpr, tnr, fnr = r["tpr"], r["fpr"], r["tnr"], r["fnr"]
    prec, npv = r["precision"], r["npv"]
    assert abs(tpr + fnr - 1) < tol and abs(fpr + tnr - 1) < tol
    assert r["recall"] == tpr
    assert abs(r["accuracy"] - (p * tpr + (1 - p) * (1 - fpr))) < tol
    assert abs(r["balanced_accuracy"] - (tpr + 1 - fpr) / 2) < tol
    assert abs(prec - p * tpr / (p * tpr + (1 - p) * fpr)) < tol
    assert abs(npv - (1 - p) * (1 - fpr) / ((1 - p) * (1 - fpr) + p * (1 - tpr))) < tol
    # F1 = 2 TP / (2 TP + FP + FN)
    assert abs(r["f1"] - 2 * p * tpr / (2 * p * tpr + (1 - p) * fpr + p * fnr)) < tol
    # MCC = sqrt(PPV TPR TNR NPV) - sqrt(FDR FNR FPR FOR)
    alt = mp.sqrt(prec * tpr * tnr * npv) - mp.sqrt((1 - prec) * fnr * fpr * (1 - npv))
    assert abs(r["mcc"] - alt) < tol
    # the rates are the class-conditional Gaussian tails
    wp = mp.fsum(w for w, y in zip(priors, labels) if y == 1)
    exact = mp.fsum(w * mp.ncdf((m - mp.mpf(-0.2)) / sigma) for m, w, y in zip(means, priors, labels) if y == 1) / wp
    assert abs(tpr - exact) < tol


def test_auprc_against_discretised_pr_curve(rng):
    """Trapezoid rule on the (recall, precision) curve sampled on a fine threshold grid."""
    means, sigma, labels, priors = _mixture(rng, 4)
    p = 0.3
    r = reference_metrics(means, sigma, labels, priors, test_prior=p, dps=20)
    m, y, w = np.array(means), np.array(labels), np.array(priors)
    t = np.linspace(m.min() - 12 * sigma, m.max() + 12 * sigma, 40001)
    erfc = np.vectorize(math.erfc)
    tail = 0.5 * erfc((t[:, None] - m[None, :]) / (sigma * math.sqrt(2)))
    tpr = tail[:, y == 1] @ w[y == 1] / w[y == 1].sum()
    fpr = tail[:, y == -1] @ w[y == -1] / w[y == -1].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        prec = p * tpr / (p * tpr + (1 - p) * fpr)
    ok = np.isfinite(prec)
    rec, prec = tpr[ok], prec[ok]
    area = float(np.sum((rec[:-1] - rec[1:]) * (prec[:-1] + prec[1:]) / 2))
    assert abs(float(r["auprc"]) - area) < 1e-6


def test_test_prior_equal_to_training_mass_changes_nothing(rng):
    means, sigma, labels, priors = _mixture(rng, 3)
    mass = sum(w for w, y in zip(priors, labels) if y == 1)
    r0 = reference_metrics(means, sigma, labels, priors, threshold=0.1, dps=16)
    r1 = reference_metrics(means, sigma, labels, priors, threshold=0.1, test_prior=mass, dps=16)
    for key in KEYS:
        assert abs(r0[key] - r1[key]) < mp.mpf("1e-14"), key   # mass is a double


def test_test_prior_moves_only_mixed_metrics():
    args = ([1.0, -1.0, 0.5], 1.0, [1, -1, -1], [0.5, 0.3, 0.2])
    r0 = reference_metrics(*args, test_prior=0.5, dps=16)
    r1 = reference_metrics(*args, test_prior=0.1, dps=16)
    for key in ("tpr", "fpr", "tnr", "fnr", "balanced_accuracy", "recall", "auc"):
        assert abs(r0[key] - r1[key]) < mp.mpf("1e-14"), key
    assert r1["precision"] < r0["precision"] and r1["auprc"] < r0["auprc"] and r1["npv"] > r0["npv"]


def test_large_separation():
    r = reference_metrics([20.0, -20.0], 1.0, [1, -1], [0.5, 0.5], dps=20)
    tol = mp.mpf("1e-18")
    for key in ("auc", "auprc", "tpr", "tnr", "accuracy", "precision", "npv", "f1", "mcc"):
        assert abs(r[key] - 1) < tol, key
    assert r["fpr"] < mp.mpf("1e-80") and r["auc"] <= 1


@pytest.mark.parametrize("kwargs, match", [
    (dict(means=[1.0], labels=[1], priors=[1.0]), "both classes"),
    (dict(labels=[1, 0]), "labels"),
    (dict(priors=[0.5, 0.6]), "sum to 1"),
    (dict(priors=[1.0, 0.0]), "priors"),
    (dict(priors=[0.5]), "same length"),
    (dict(sigma=0.0), "sigma"),
    (dict(sigma=float("nan")), "sigma"),
    (dict(means=[1.0, float("inf")]), "means"),
    (dict(means=["1", 0.0]), "means"),
    (dict(threshold=float("inf")), "threshold"),
    (dict(test_prior=1.0), "test_prior"),
    (dict(test_prior=0.0), "test_prior"),
    (dict(dps=5), "dps"),
])
def test_invalid_inputs(kwargs, match):
    args = dict(means=[1.0, -1.0], sigma=1.0, labels=[1, -1], priors=[0.5, 0.5])
    args.update(kwargs)
    with pytest.raises(ValueError, match=match) as err:
        reference_metrics(**args)
    assert "\n" not in str(err.value)
