"""Regularised-ERM theory against exact ERM fits on sampled data.

Every trial draws a fresh training set (seeded), solves the regularised ERM
exactly (simulate.fit_erm: KKT residual <= 1e-10) and scores the classifier
exactly from the known means; the theory is evaluated at the realised d/n.
Agreement: |mean - theory| <= 4 SE + 2 max(1, |theory|)/n (MonteCarloResult.
consistent) for the test errors, ||w||, b, the model's metrics and the
per-cluster training errors and losses (the law of the training margins)."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.simulate import fit_erm, monte_carlo, sample

LABEL = asy.LabelGMM(0.2, [2.0, 0.0], [-1.0, 1.0])
NONSEP = asy.LabelGMM(0.3, [1.0, 0.0], [-0.5, 0.5])
GROUP = asy.GroupGMM(0.3, 0.2, [2.0, 0.0], [0.0, 2.0])
NAMES = ("errors", "q", "b", "R_bal", "train_error", "train_loss")


def _agree(r, names=NAMES):
    for name in names:
        ok = r.consistent(name)
        assert np.all(ok), (name, r.mean[name], r.se[name], r.theory[name])
    # the comparison can fail: a theory shifted by 10 SE + the allowance is rejected
    shifted = np.asarray(r.theory["R_bal"]) + 10 * np.asarray(r.se["R_bal"]) + 4.0 / r.n
    assert np.all(np.abs(r.mean["R_bal"] - shifted) > 4 * r.se["R_bal"] + 2.0 / r.n)


@pytest.mark.parametrize("model,gamma,loss,delta,lam", [
    (LABEL, 2.0, "CE", 1.0, 1e-2),          # separable regime, CE
    (LABEL, 1.0, "VS", 3.0, 1e-3),          # separable regime, VS-loss (LA + CDT)
    (LABEL, 1.5, asy.HingeLoss(Delta=[2.0, 1.0]), 1.0, 0.05),   # cost-sensitive soft-margin SVM
    (LABEL, 0.5, "square", 1.0, 0.1),
    (GROUP, 1.0, "wCE", 1.0, 1e-2),         # group model
], ids=["CE", "VS", "hinge", "square", "group-wCE"])
def test_theory_matches_exact_fits(model, gamma, loss, delta, lam):
    r = monte_carlo(model, gamma, delta, n=800, trials=16, method=loss, lam=lam, seed=11, n_jobs=2)
    assert r.n_valid.min() == 16
    _agree(r)
    if model is GROUP:
        for name in ("R_yg", "DEO", "worst"):
            assert np.all(r.consistent(name)), name


@pytest.mark.parametrize("loss,lam", [("CE", 0.0), (asy.HingeLoss(), 0.05), ("square", 0.0)],
                         ids=["CE-lam0", "hinge", "square-lam0"])
def test_non_separable_regime(loss, lam):
    """gamma below the separability threshold: the unregularised minimiser
    exists (VS, square with gamma < 1) and the theory follows it."""
    gs = asy.separability_threshold(NONSEP)
    r = monte_carlo(NONSEP, 0.5 * gs, 1.0, n=1000, trials=16, method=loss, lam=lam, seed=5, n_jobs=2)
    assert r.n_valid.min() == 16
    _agree(r)


def test_training_error_and_loss_are_those_of_the_prox():
    """The training margins of cluster k follow the law of P_k: the fraction
    misclassified and the mean loss per cluster (checked above through
    consistent()); here, directly on one large sample, the whole training
    loss objective against its prediction."""
    gamma, lam = 1.0, 0.05
    theory = asy.erm(LABEL, gamma, "CE", lam)
    s = sample(LABEL, 3000, 3000, np.random.default_rng(3))
    fit = fit_erm(s.X, s.y, asy.VSLoss(), lam)
    margins = s.y * (s.X @ fit.w + fit.b)
    emp = np.mean(np.logaddexp(0.0, -margins))
    pred = float(LABEL.priors @ theory.train_loss)
    assert abs(emp - pred) < 0.03 * pred


def test_hinge_trivial_minimiser_is_seen_in_samples():
    """Hinge with these weights and margins: w = 0 is the minimiser for every
    ridge (the theory returns q = 0 and b = -Delta_-); the exact fit on a
    sample finds |w| ~ 0 and the same b."""
    m = asy.LabelGMM(0.2069, [0.384, 0.0], [-0.8426, 0.3482])
    loss = asy.HingeLoss(omega=[0.946, 2.282], Delta=[0.4746, 0.4262])
    r = asy.erm(m, 0.07, loss, 0.3)
    assert float(r.q) == 0.0 and float(r.b) == pytest.approx(-0.4262, abs=1e-12)
    assert r.R_plus == 1.0 and r.R_minus == 0.0
    s = sample(m, 1000, 70, np.random.default_rng(0))
    fit = fit_erm(s.X, s.y, loss, 0.3, clusters=s.k, tol=1e-7)
    assert np.linalg.norm(fit.w) < 1e-8 and fit.b == pytest.approx(-0.4262, abs=1e-8)


def test_invalid_lam_and_method_are_named():
    with pytest.raises(ValueError, match="lam"):
        monte_carlo(LABEL, 1.0, 1.0, n=100, trials=2, method="CE", lam=-1.0)
    with pytest.raises(ValueError, match="method"):
        monte_carlo(LABEL, 1.0, 1.0, n=100, trials=2, method="svm", lam=0.1)
    with pytest.raises(ValueError, match="method"):
        monte_carlo(LABEL, 1.0, 1.0, n=100, trials=2, method="focal", lam=0.1)


def test_realised_fraction_theory_for_erm():
    """Stratified with n pi integral: the realised fractions are the priors and
    theory_realised is the theory.  I.i.d. labels at small n: per-trial theory
    at the realised counts, a cluster without training samples has NaN
    training metrics in both the trial and its theory, and its test error is
    the limit of a rare cluster (fraction 1e-7: continuity in the priors)."""
    s = monte_carlo(LABEL, 1.0, 1.0, n=200, trials=4, method="CE", lam=1e-2, seed=2, stratify=True)
    assert np.all(s.counts == [40, 160])
    for name in NAMES:
        np.testing.assert_allclose(s.theory_realised[name], s.theory[name], rtol=1e-9, atol=1e-12)
    r = monte_carlo(GROUP, 1.0, 1.0, n=30, trials=16, method="wCE", lam=0.05, seed=0)
    absent = [t for t in range(16) if np.isfinite(r.trials["R"][t]) and np.any(r.counts[t] == 0)]
    assert absent, r.counts
    for t in absent[:2]:
        empty = r.counts[t] == 0
        assert np.all(np.isnan(r.trials["train_error"][t][empty]))
        assert np.all(np.isnan(r.theory_trials["train_error"][t][empty]))
        assert np.all(np.isfinite(r.theory_trials["train_error"][t][~empty]))
        c = r.counts[t].astype(float)
        c[empty] = 1e-7 * 30
        rare = asy.ClusterGMM(c / c.sum(), GROUP.labels, GROUP.means)
        ref = asy.erm(rare, r.d[()] / 30, asy.losses.resolve_loss("wCE", GROUP), 0.05)
        np.testing.assert_allclose(r.theory_trials["errors"][t], ref.errors, atol=1e-5)
        np.testing.assert_allclose(r.theory_trials["q"][t], ref.q, rtol=1e-5)


# anisotropic features: the two-block spectrum of docs/covariance.md's ERM section (eigenvalues 2 and 1/2,
# the means' directions one in each block) and a three-atom spectrum with a group model
TWO_BLOCK = asy.LabelGMM(0.2, [2.0, 0.0], [-1.0, 1.0],
                         covariance=asy.covariance.Spectrum([2.0, 0.5], [2.0, 0.5]))
THREE_ATOM = asy.GroupGMM(0.3, 0.2, [2.0, 0.0], [0.0, 2.0],
                          covariance=asy.covariance.Spectrum([4.0, 1.0, 0.25], [0.25, 4.0], [0.2, 0.3, 0.5]))


@pytest.mark.parametrize("model,gamma,loss,lam", [
    (TWO_BLOCK, 1.5, "CE", 0.05),
    (TWO_BLOCK, 1.5, asy.HingeLoss(Delta=[2.0, 1.0]), 0.1),
    (THREE_ATOM, 1.0, "CE", 0.02),
    (THREE_ATOM, 0.8, asy.HingeLoss(), 0.1),
], ids=["two-block-CE", "two-block-hinge", "three-atom-group-CE", "three-atom-group-hinge"])
def test_covariance_theory_matches_exact_fits(model, gamma, loss, lam):
    """x = mu + Sigma^{1/2} h in the trainings too: theory (C1)-(C4) against
    exact fits at n = 1000."""
    r = monte_carlo(model, gamma, 1.0, n=1000, trials=12, method=loss, lam=lam, seed=21, n_jobs=2)
    assert r.n_valid.min() == 12
    _agree(r)
