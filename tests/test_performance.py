"""Deployment metrics (asymptotics.performance): identities of the closed
forms, direct numerical integration, exact fits on samples, bad input."""
import warnings

import numpy as np
import pytest
from scipy import integrate
from scipy.special import ndtr

import asymptotics as asy
from asymptotics.covariance import Spectrum
from asymptotics.simulate import fit_max_margin, sample

LABEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])
GROUP = asy.GroupGMM(0.3, 0.05, [2.0, 0.0], [1.0, 1.5])
SPECTRUM = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0], covariance=Spectrum([0.5, 2.0], [0.5, 0.5]))

RESULTS = {
    "cs_svm": lambda: asy.cs_svm(LABEL, [1.0, 2.0], [1.0, 3.0]),
    "gs_svm": lambda: asy.gs_svm(GROUP, 2.0, [1.0, 5.0]),
    "erm-CE": lambda: asy.erm(LABEL, [0.05, 2.0], "CE", 1e-2),
    "erm-hinge-group": lambda: asy.erm(GROUP, 2.0, ("hinge", 3.0), 0.1),
    "spectrum": lambda: asy.cs_svm(SPECTRUM, 2.0, 3.0),
    "erm-spectrum": lambda: asy.erm(SPECTRUM, 1.0, "CE", 0.1),
}


def _class_rates(p, t):
    """TPR, FPR at threshold t (score units) straight from the score laws."""
    mean, tau = np.asarray(p.score_mean, float), float(p.score_spread)
    q = 1.0 - ndtr((t - mean) / tau)
    return (np.sum(p.weights * q * (p.labels > 0)), np.sum(p.weights * q * (p.labels < 0)))


@pytest.mark.parametrize("name", list(RESULTS))
def test_the_trained_operating_point_is_the_result_s_errors(name):
    """TPR = P(correct | +1), FPR = P(wrong | -1) from the result's own
    per-cluster errors; accuracy = 1 - R and balanced accuracy = 1 - R_bal at
    the training prior; the ROC passes through the operating point."""
    r = RESULTS[name]()
    p = asy.performance(r)
    e = np.asarray(r.errors)
    pos = r.model.labels > 0
    w = p.weights
    np.testing.assert_allclose(p.tpr, np.sum(w * (1 - e) * pos, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(p.fpr, np.sum(w * e * ~pos, axis=-1), rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(p.accuracy, 1 - np.sum(r.model.priors * e, axis=-1), rtol=1e-13)
    np.testing.assert_allclose(p.balanced_accuracy, 1 - 0.5 * (np.sum(w * e * pos, axis=-1)
                                                              + np.sum(w * e * ~pos, axis=-1)), rtol=1e-13)
    fpr, tpr, _ = p.roc(thresholds=[0.0])
    np.testing.assert_allclose(fpr[..., 0], p.fpr, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(tpr[..., 0], p.tpr, rtol=1e-12)


def test_auc_does_not_depend_on_the_intercept():
    """The CS-SVM at any delta is the SVM shifted (same w direction, another b):
    the threshold-free metrics agree to rounding, the thresholded ones do not."""
    p = asy.performance(asy.cs_svm(LABEL, 2.0, [1.0, 2.0, 3.47, 10.0]))
    np.testing.assert_allclose(p.auc, p.auc[0], rtol=1e-13)
    np.testing.assert_allclose(p.auprc, p.auprc[0], rtol=1e-12)
    assert np.ptp(p.tpr) > 0.1


@pytest.mark.parametrize("name", list(RESULTS))
def test_the_training_prior_as_test_prior_changes_nothing(name):
    r = RESULTS[name]()
    a, b = asy.performance(r), asy.performance(r, test_prior=float(r.model.priors[r.model.labels > 0].sum()))
    assert a == b


@pytest.mark.parametrize("test_prior", [None, 0.5, 0.01])
@pytest.mark.parametrize("name", ["cs_svm", "gs_svm", "erm-spectrum"])
def test_auc_auprc_and_rates_against_direct_integration(name, test_prior):
    """AUC = int TPR dFPR and AUPRC = int precision dTPR by adaptive quadrature
    over the threshold, from the score laws; precision, F1, MCC, NPV from the
    rates by their definitions (1e-9)."""
    r = RESULTS[name]()
    perf = asy.performance(r, test_prior=test_prior)
    flat = np.atleast_1d(perf.auc).size
    for i in range(flat):
        pick = (lambda a: np.asarray(a).reshape(flat, *np.shape(a)[np.ndim(perf.auc):])[i])
        mean, tau = pick(perf.score_mean), float(pick(perf.score_spread))
        p = perf.test_prior
        pos, neg = perf.labels > 0, perf.labels < 0
        dens = lambda t, sel: np.sum(perf.weights[sel] * np.exp(-0.5 * ((t - mean[sel]) / tau) ** 2)) / (
            tau * np.sqrt(2 * np.pi))
        rate = lambda t, sel: np.sum(perf.weights[sel] * (1 - ndtr((t - mean[sel]) / tau)))
        pts = sorted(mean)
        lo, hi = min(pts) - 12 * tau, max(pts) + 12 * tau
        auc = integrate.quad(lambda t: rate(t, pos) * dens(t, neg), lo, hi, points=pts, epsabs=1e-14,
                             epsrel=1e-12, limit=400)[0]

        def prec_dens(t):      # beyond ~38 spreads both rates underflow, and so does the density
            num, den = p * rate(t, pos), p * rate(t, pos) + (1 - p) * rate(t, neg)
            return num / den * dens(t, pos) if den > 0 else 0.0

        auprc = integrate.quad(prec_dens, lo, hi, points=pts, epsabs=1e-14, epsrel=1e-12, limit=400)[0]
        assert float(pick(perf.auc)) == pytest.approx(auc, rel=1e-9)
        assert float(pick(perf.auprc)) == pytest.approx(auprc, rel=1e-9)
        tpr, fpr = rate(0.0, pos), rate(0.0, neg)
        prec = p * tpr / (p * tpr + (1 - p) * fpr)
        TP, FN, FP, TN = p * tpr, p * (1 - tpr), (1 - p) * fpr, (1 - p) * (1 - fpr)
        assert float(pick(perf.precision)) == pytest.approx(prec, rel=1e-9)
        assert float(pick(perf.f1)) == pytest.approx(2 * prec * tpr / (prec + tpr), rel=1e-9)
        assert float(pick(perf.mcc)) == pytest.approx(
            (TP * TN - FP * FN) / np.sqrt((TP + FP) * (TP + FN) * (TN + FP) * (TN + FN)), rel=1e-9)
        assert float(pick(perf.npv)) == pytest.approx(TN / (TN + FN), rel=1e-9)


def test_identical_classes_and_the_constant_classifier():
    """Classes with the same law: AUC 1/2 and AUPRC = the prevalence; the
    hinge's w = 0 minimiser (a constant classifier) likewise, and its rates
    are 0 or 1 by the sign of b."""
    same = asy.LabelGMM(0.2, [1.0, 0.0], [1.0, 0.0])
    p = asy.performance(asy.erm(same, 0.5, "CE", 1.0), test_prior=0.3)
    assert float(p.auc) == pytest.approx(0.5, abs=1e-14) and float(p.auprc) == pytest.approx(0.3, rel=1e-12)
    m = asy.LabelGMM(0.2069, [0.384, 0.0], [-0.8426, 0.3482])
    r = asy.erm(m, 0.07, asy.HingeLoss(omega=[0.946, 2.282], Delta=[0.4746, 0.4262]), 0.3)
    assert int(r.status) == 3
    t = asy.performance(r)
    assert float(t.auc) == 0.5 and float(t.tpr) == 0.0 and float(t.fpr) == 0.0 and np.isnan(t.precision)


def test_nan_points_stay_nan():
    r = asy.cs_svm(LABEL, [1e-3, 2.0], 2.0, on_nonseparable="nan")
    p = asy.performance(r)
    assert np.isnan(p.auc[0]) and np.isnan(p.tpr[0]) and np.isfinite(p.auc[1])


def test_auc_of_exact_fits_on_samples():
    """Exact CS-SVM fits (n = 800, d = 1600, 12 seeded runs), each scored
    exactly from the known means (within cluster k the score of a fresh point
    is N(mu_k . w + b, |w|^2)): mean AUC, AUPRC and F1 within 4 SE + 2/n of
    the theory."""
    n, d, delta = 800, 1600, 3.0
    theory = asy.performance(asy.cs_svm(LABEL, d / n, delta))
    got = {"auc": [], "auprc": [], "f1": []}
    for seed in range(12):
        s = sample(LABEL, n, d, np.random.default_rng(seed))
        fit = fit_max_margin(s.X, s.y, np.where(s.y > 0, delta, 1.0))
        means = np.stack([np.r_[mu, np.zeros(d - mu.size)] for mu in LABEL.means])
        mean = means @ fit.w + fit.b
        tau = np.linalg.norm(fit.w)
        proj = (means @ fit.w) / tau
        res = asy.cs_svm(LABEL, d / n, delta)
        fake = type(res).__new__(type(res))           # the trial's own score laws in a result's shape
        fake.__dict__.update(res.__dict__, q=np.float64(tau), tau=np.float64(tau), b=np.float64(fit.b),
                             projections=proj)
        p = asy.performance(fake)
        np.testing.assert_allclose(p.score_mean, mean, rtol=1e-12)
        for k in got:
            got[k].append(float(getattr(p, k)))
    for k, vals in got.items():
        vals = np.array(vals)
        se = vals.std(ddof=1) / np.sqrt(vals.size)
        assert abs(vals.mean() - float(getattr(theory, k))) <= 4 * se + 2 / n, (k, vals.mean(), se)


@pytest.mark.parametrize("bad,match", [
    (dict(test_prior=0.0), "test_prior"), (dict(test_prior=1.0), "test_prior"), (dict(test_prior=np.nan), "test_prior"),
    (dict(test_prior="0.3"), "test_prior"), (dict(test_prior=[0.3]), "test_prior"), (dict(test_prior=True), "test_prior"),
])
def test_bad_input_is_one_line_naming_the_argument(bad, match):
    r = asy.cs_svm(LABEL, 2.0, 2.0)
    with pytest.raises(ValueError, match=match) as info:
        asy.performance(r, **bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="result"):
        asy.performance(asy.delta_star(LABEL, 2.0))
    one = asy.ClusterGMM([0.5, 0.5], [1, 1], [[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="result"):
        asy.performance(asy.max_margin(one, 2.0, [1.0, 1.0], intercept=False))
    with pytest.raises(ValueError, match="thresholds"):
        asy.performance(r).roc(thresholds=[np.inf])


# ---------------------------------------------------------------- post-hoc thresholds
@pytest.mark.parametrize("gamma", [0.05, 0.5, 2.0, 10.0])
def test_best_threshold_of_the_svm_is_the_cs_svm_optimum(gamma):
    """Moving the SVM's threshold is exactly the CS-SVM (w_delta = c w_1,
    b_delta = c b_1 + (delta - 1)/2): the best threshold for R_bal is
    delta_star's classifier, at t = -(delta* - 1)/(delta* + 1) in the SVM's
    score units, and for R delta_min_error's (closed forms, 1e-10).  Where
    delta* = inf (gamma = 0.05 here) the CS-SVM family ends at t = -1 and a
    threshold beyond it is better."""
    svm = asy.cs_svm(LABEL, gamma, 1.0)
    t = asy.best_threshold(svm, "R_bal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", asy.DeltaWarning)
        d = asy.delta_star(LABEL, gamma)
    if not d.attainable:
        # delta -> inf is the threshold -1 of the SVM's scores; a threshold beyond it does better still
        assert float(t.threshold) < -1.0 and float(t.value) < float(d.R_bal)
        return
    assert float(t.value) == pytest.approx(float(d.R_bal), rel=1e-10)
    dd = float(d.delta)
    assert float(t.threshold) == pytest.approx(-(dd - 1) / (dd + 1), rel=1e-7, abs=1e-9)
    assert float(t.performance.balanced_accuracy) == pytest.approx(1 - float(d.R_bal), rel=1e-10)
    r = asy.best_threshold(svm, "R")
    assert float(r.value) == pytest.approx(float(asy.delta_min_error(LABEL, gamma).R), rel=1e-10)


SCALAR = {
    "gs_svm": lambda: asy.gs_svm(GROUP, 2.0, 5.0),
    "erm-CE": lambda: asy.erm(LABEL, 2.0, "CE", 1e-2),
    "erm-hinge-group": lambda: asy.erm(GROUP, 2.0, ("hinge", 3.0), 0.1),
    "erm-spectrum": lambda: asy.erm(SPECTRUM, 1.0, "CE", 0.1),
}


@pytest.mark.parametrize("objective", ["R_bal", "R", "worst", "f1", "mcc"])
@pytest.mark.parametrize("name,test_prior", [("gs_svm", None), ("erm-CE", 0.5), ("erm-hinge-group", 0.2),
                                             ("erm-spectrum", None)])
def test_best_threshold_beats_a_dense_grid(name, test_prior, objective):
    """Never worse than 20,001 thresholds scored by performance(threshold=...)
    (an independent path: the metrics, not the optimiser's objective), and
    the trained threshold is never better."""
    r = SCALAR[name]()
    t = asy.best_threshold(r, objective, test_prior=test_prior)
    mean, tau = np.asarray(t.performance.score_mean), float(t.performance.score_spread)
    grid = np.linspace(mean.min() - 9 * tau, mean.max() + 9 * tau, 20001)
    perf = asy.performance(r, test_prior, threshold=grid)
    vals = {"R_bal": 1 - perf.balanced_accuracy, "R": 1 - perf.accuracy, "f1": -perf.f1, "mcc": -perf.mcc}
    if objective == "worst":
        z = (grid[:, None] - mean) / tau
        vals["worst"] = np.where(perf.labels > 0, ndtr(z), ndtr(-z)).max(-1)
    got = float(t.value) * (-1 if objective in ("f1", "mcc") else 1)
    assert got <= np.nanmin(vals[objective]) + 1e-12
    trained = asy.performance(r, test_prior)
    at_zero = {"R_bal": 1 - trained.balanced_accuracy, "R": 1 - trained.accuracy, "f1": -trained.f1,
               "mcc": -trained.mcc, "worst": float(np.max(r.errors))}[objective]
    assert got <= float(at_zero) + 1e-12
    assert float(t.threshold) == float(t.performance.threshold)


def test_threshold_argument_and_bad_objectives():
    r = asy.cs_svm(LABEL, 2.0, 1.0)
    p = asy.performance(r, threshold=[-1.0, 0.0, 1.0])
    assert p.tpr.shape == (3,) and np.all(np.diff(p.tpr) < 0) and np.all(np.diff(p.fpr) < 0)
    assert float(p.tpr[1]) == pytest.approx(1 - float(r.R_plus), rel=1e-13)
    np.testing.assert_array_equal(p.auc, np.full(3, float(asy.performance(r).auc)))
    for bad in ("accuracy", None, np.array("R")):
        with pytest.raises(ValueError, match="objective"):
            asy.best_threshold(r, bad)
    with pytest.raises(ValueError, match="threshold"):
        asy.performance(r, threshold=np.nan)
    with pytest.raises(ValueError, match="threshold"):
        asy.performance(asy.cs_svm(LABEL, [1.0, 2.0], 1.0), threshold=[1.0, 2.0, 3.0])


REF_CASES = [  # (result, test_prior, threshold in score units)
    ("cs_svm-3", None, 0.0), ("cs_svm-3", 0.5, 0.3), ("gs_svm-5", None, 0.0), ("gs_svm-5", 0.02, -0.4),
    ("erm-spectrum-1", 0.3, 0.0), ("erm-hinge-group-1", None, 0.1),
]


@pytest.mark.parametrize("name,test_prior,threshold", REF_CASES)
def test_against_the_independent_mpmath_reference(name, test_prior, threshold):
    """asymptotics.reference.performance, written without this module: rates
    from mpmath tails, AUC and AUPRC by tanh-sinh quadrature over the
    threshold (not the pairwise-Phi closed form), at 20 digits.  Every
    metric agrees to 1e-12 relative."""
    from asymptotics.reference.performance import reference_metrics
    r = {"cs_svm-3": lambda: asy.cs_svm(LABEL, 2.0, 3.0), "gs_svm-5": lambda: asy.gs_svm(GROUP, 2.0, 5.0),
         "erm-spectrum-1": lambda: asy.erm(SPECTRUM, 1.0, "CE", 0.1),
         "erm-hinge-group-1": lambda: asy.erm(GROUP, 2.0, ("hinge", 3.0), 0.1)}[name]()
    p = asy.performance(r, test_prior, threshold=threshold)
    ref = reference_metrics(np.asarray(p.score_mean), float(p.score_spread), r.model.labels, r.model.priors,
                            threshold=threshold, test_prior=test_prior, dps=20)
    for key in ("tpr", "fpr", "accuracy", "balanced_accuracy", "precision", "recall", "f1", "mcc", "npv", "auc",
                "auprc"):
        assert float(getattr(p, key)) == pytest.approx(float(ref[key]), rel=1e-12), key


# ---------------------------------------------------------------- probabilities
CAL = {
    "CE": lambda: asy.erm(asy.LabelGMM(0.1, [2, 0], [0, 1]), 1.0, "CE", 1e-2),
    "CDT-balanced": lambda: asy.erm(asy.LabelGMM(0.2, [1.5, 0.5], [-0.5, 1.0]), 0.5, ("CDT", 2.0), 0.1),
    "LA-sep": lambda: asy.erm(asy.LabelGMM(0.1, [4, 0], [0, 2]), 2.0, "LA", 1e-3),
}


@pytest.mark.parametrize("test_prior", [None, 0.5])
@pytest.mark.parametrize("name", list(CAL))
def test_brier_log_loss_and_confidence_against_quadrature(name, test_prior):
    """Each a sum over clusters of a one-dimensional Gaussian average of the
    score, here by adaptive quadrature (1e-9)."""
    from scipy.special import expit, log_expit
    r = CAL[name]()
    c = asy.calibration(r, test_prior)
    perf = asy.performance(r, test_prior)
    p = perf.test_prior
    cw = np.where(perf.labels > 0, p, 1 - p) * perf.weights
    mean, tau = np.asarray(perf.score_mean), float(perf.score_spread)
    dens = lambda g: np.exp(-0.5 * g * g) / np.sqrt(2 * np.pi)      # noqa: E731

    def avg(f):
        return sum(cw[k] * integrate.quad(lambda g: f(mean[k] + tau * g, perf.labels[k]) * dens(g), -40, 40,
                                          epsabs=1e-14, epsrel=1e-12, limit=200)[0] for k in range(mean.size))

    assert float(c.brier) == pytest.approx(avg(lambda s, y: (expit(s) - (y > 0)) ** 2), rel=1e-9)
    assert float(c.log_loss) == pytest.approx(avg(lambda s, y: -log_expit(y * s)), rel=1e-9)
    assert float(c.mean_probability) == pytest.approx(avg(lambda s, y: expit(s)), rel=1e-9)
    # E[max(p, 1 - p)], split where the max has its kink (s = 0)
    conf = sum(cw[k] * integrate.quad(lambda g: max(expit(mean[k] + tau * g), 1 - expit(mean[k] + tau * g))
                                      * dens(g), -40, 40, points=[-mean[k] / tau], epsabs=1e-14, epsrel=1e-12,
                                      limit=200)[0] for k in range(mean.size))
    assert float(c.confidence_gap) + float(perf.accuracy) == pytest.approx(conf, rel=1e-10)


@pytest.mark.parametrize("name", list(CAL))
def test_bayes_posterior_terms_against_an_explicit_classifier(name):
    """The Bayes terms by brute force: an explicit w in R^3 with the result's
    projections and norm (its part outside the means' plane along e_3), test
    points x ~ N(mu_k, I_3) (400,000 per cluster, seeded), the Bayes posterior
    from the two Gaussian densities directly; within 5 SE."""
    from scipy.special import expit
    r = CAL[name]()
    c = asy.calibration(r)
    m = r.model
    M = np.array([np.r_[mu, 0.0] for mu in m.means])                # means in R^3
    tau = float(r.tau)
    w_par = np.linalg.lstsq(M[:, :2], tau * np.asarray(r.projections), rcond=None)[0]
    w = np.r_[w_par, np.sqrt(tau ** 2 - w_par @ w_par)]
    rng = np.random.default_rng(7)
    cal_terms, bayes_terms = [], []
    for k in range(2):
        x = M[k] + rng.standard_normal((400_000, 3))
        s = x @ w + float(r.b)
        logp = [-0.5 * np.sum((x - M[j]) ** 2, axis=1) for j in range(2)]
        eta = expit(logp[0] - logp[1] + np.log(m.prior / (1 - m.prior)))
        cal_terms.append(m.priors[k] * (expit(s) - eta) ** 2)
        bayes_terms.append(m.priors[k] * ((1 - eta) ** 2 if k == 0 else eta ** 2))
    for got, terms in ((c.calibration_error, cal_terms), (c.bayes_brier, bayes_terms)):
        est = sum(t.mean() for t in terms)
        se = np.sqrt(sum(t.var() / t.size for t in terms))
        assert abs(float(got) - est) <= 5 * se, (float(got), est, se)
    assert float(c.bayes_brier) <= float(c.brier)          # the posterior is the Brier-optimal prediction


def test_probabilities_are_refused_without_a_logistic_loss():
    m = asy.LabelGMM(0.1, [2, 0], [0, 1])
    for r in (asy.erm(m, 1.0, "hinge", 1e-2), asy.erm(m, 0.5, "square", 1e-2), asy.cs_svm(m, 1.0, 2.0)):
        with pytest.raises(ValueError, match="^result: probabilities need") as info:
            asy.calibration(r)
        assert "\n" not in str(info.value)
    g = asy.erm(GROUP, 2.0, "CE", 0.1)        # not a label model: no closed Bayes posterior, said by NaN
    c = asy.calibration(g)
    assert np.isnan(c.calibration_error) and np.isfinite(c.brier)


def test_absurd_threshold_grids_are_refused_before_any_work():
    """A threshold grid beyond the package's limits is a one-line ValueError
    naming it (before: 62 s and a MemoryError for 1e8 thresholds); the
    threshold-free metrics are computed once per result point, not per
    threshold."""
    r = asy.cs_svm(LABEL, 2.0, 3.0)
    with pytest.raises(ValueError, match="^threshold: 100000001 values"):
        asy.performance(r, threshold=np.zeros(10 ** 8 + 1))
    with pytest.raises(ValueError, match="^result and threshold broadcast to 20000000 points"):
        asy.performance(r, threshold=np.zeros(2 * 10 ** 7))
    p = asy.performance(r, threshold=np.linspace(-1.0, 1.0, 10 ** 5))
    assert p.auc.shape == (10 ** 5,) and np.all(p.auc == float(asy.performance(r).auc))
