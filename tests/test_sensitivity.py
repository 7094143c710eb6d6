"""Exact derivatives (implicit function theorem) against finite differences:
of the fast solver (central, relative 1e-6) and of the independent mpmath
reference at 40 digits (1e-9)."""
import mpmath as mp
import numpy as np
import pytest

import asymptotics as asy
from asymptotics import reference as ref

H = 1e-6


def _models(seed):
    rng = np.random.default_rng(seed)
    out = []
    for K, labels in ((2, [1, -1]), (3, [1, -1, -1]), (4, [1, -1, 1, -1])):
        means = rng.standard_normal((K, 3)) * rng.uniform(0.8, 2.0)
        pri = rng.dirichlet(np.ones(K)) * 0.8 + 0.2 / K
        out.append(asy.ClusterGMM(pri, labels, means))
    return out


def _close(fd, an, tol, floor=1e-9):
    fd, an = np.asarray(fd, float), np.asarray(an, float)
    assert np.all(np.abs(fd - an) <= tol * np.abs(an) + floor), (fd, an)


OUTS = ("q", "b", "errors", "log_errors", "projections")


@pytest.mark.parametrize("seed", [1, 2])
@pytest.mark.parametrize("intercept", [True, False])
def test_margins_gamma_priors_gram_against_solver_differences(seed, intercept):
    for model in _models(seed):
        K = model.n_clusters
        rng = np.random.default_rng(seed + K)
        marg = np.exp(rng.uniform(-0.5, 0.5, K))
        gamma = 2 * asy.separability_threshold(model, intercept) + 0.5
        sens = asy.sensitivity(asy.max_margin(model, gamma, marg, intercept))
        for k in range(K):
            mp_, mm_ = marg.copy(), marg.copy()
            mp_[k] *= 1 + H
            mm_[k] *= 1 - H
            rp, rm = asy.max_margin(model, gamma, mp_, intercept), asy.max_margin(model, gamma, mm_, intercept)
            for o in OUTS:
                fd = (np.asarray(getattr(rp, o)) - np.asarray(getattr(rm, o))) / (2 * H * marg[k])
                _close(fd, np.asarray(sens[o]["margins"])[..., k], 1e-6)
        rp, rm = asy.max_margin(model, gamma * (1 + H), marg, intercept), \
            asy.max_margin(model, gamma * (1 - H), marg, intercept)
        for o in OUTS:
            _close((np.asarray(getattr(rp, o)) - np.asarray(getattr(rm, o))) / (2 * H * gamma), sens[o]["gamma"], 1e-6)
        # Gram: through a change of the mean vectors, dG = D M^T + M D^T
        M = model.means
        D = rng.standard_normal(M.shape)
        dG = D @ M.T + M @ D.T
        rp = asy.max_margin(asy.ClusterGMM(model.priors, model.labels, M + H * D), gamma, marg, intercept)
        rm = asy.max_margin(asy.ClusterGMM(model.priors, model.labels, M - H * D), gamma, marg, intercept)
        for o in ("q", "b", "errors", "log_errors"):
            an = np.tensordot(np.asarray(sens[o]["gram"]), dG, axes=([-2, -1], [0, 1]))
            _close((np.asarray(getattr(rp, o)) - np.asarray(getattr(rm, o))) / (2 * H), an, 1e-6)
        # priors along the simplex: d = e_0 - e_1
        d = np.zeros(K)
        d[0], d[1] = 1.0, -1.0
        rp = asy.max_margin(asy.ClusterGMM(model.priors + H * d, model.labels, M), gamma, marg, intercept)
        rm = asy.max_margin(asy.ClusterGMM(model.priors - H * d, model.labels, M), gamma, marg, intercept)
        for o in ("q", "b", "errors"):
            _close((np.asarray(getattr(rp, o)) - np.asarray(getattr(rm, o))) / (2 * H),
                   np.asarray(sens[o]["priors"]) @ d, 1e-6)


@pytest.mark.parametrize("intercept", [True, False])
def test_metrics_of_label_and_group_models(intercept):
    m = asy.LabelGMM(0.15, [2.0, 0.5], [-1.0, 1.0])
    s = asy.sensitivity(asy.cs_svm(m, 2.0, 2.5, intercept=intercept))
    rp, rm = asy.cs_svm(m, 2.0, 2.5 * (1 + H), intercept=intercept), asy.cs_svm(m, 2.0, 2.5 * (1 - H),
                                                                                 intercept=intercept)
    for o in ("q", "R_plus", "R_minus", "R_bal", "R"):
        _close((float(getattr(rp, o)) - float(getattr(rm, o))) / (2 * H * 2.5), s[o]["delta"], 1e-6)
    # the label model's prior moves pi_0 and pi_1 = 1 - pi_0 together
    rp = asy.cs_svm(asy.LabelGMM(0.15 + H, [2.0, 0.5], [-1.0, 1.0]), 2.0, 2.5, intercept=intercept)
    rm = asy.cs_svm(asy.LabelGMM(0.15 - H, [2.0, 0.5], [-1.0, 1.0]), 2.0, 2.5, intercept=intercept)
    for o in ("q", "R_bal", "R"):
        _close((float(getattr(rp, o)) - float(getattr(rm, o))) / (2 * H), np.asarray(s[o]["priors"]) @ [1.0, -1.0],
               1e-6)
    g = asy.GroupGMM(0.3, 0.2, [2.0, 0.0], [0.5, 1.5])
    s = asy.sensitivity(asy.gs_svm(g, 1.5, 3.0, intercept=intercept))
    rp, rm = asy.gs_svm(g, 1.5, 3.0 * (1 + H), intercept=intercept), asy.gs_svm(g, 1.5, 3.0 * (1 - H),
                                                                                 intercept=intercept)
    for o in ("R_plus", "R_bal", "R", "DEO", "symm_DEO", "worst", "R_subgroup_bal"):
        _close((float(getattr(rp, o)) - float(getattr(rm, o))) / (2 * H * 3.0), s[o]["delta"], 1e-6)


@pytest.mark.parametrize("case", [
    (asy.LabelGMM.antipodal(0.1, 2.0), [3.0, 1.0], 2.0, True),
    (asy.LabelGMM(0.2, [1.5, 0.0], [-0.3, 1.0]), [0.7, 1.3], 1.2, False),
    (asy.ClusterGMM([0.2, 0.3, 0.5], [1, -1, 1], [[2.0, 0.0], [0.0, 1.0], [-1.0, 1.0]]), [1.0, 2.0, 0.5], 2.5, True),
])
def test_against_the_mpmath_reference_at_40_digits(case):
    """d q / d margin_0 and d R_k / d gamma by central differences of the
    independent mpmath solver at 40 digits (step 1e-12: truncation 1e-24)."""
    model, marg, gamma, intercept = case
    s = asy.sensitivity(asy.max_margin(model, gamma, marg, intercept))
    h = mp.mpf("1e-12")
    with mp.workdps(40):
        mp_, mm_ = list(marg), list(marg)
        mp_[0], mm_[0] = mp.mpf(marg[0]) + h, mp.mpf(marg[0]) - h
        a = ref.solve(model.priors, model.labels, model.gram, mp_, gamma, intercept)
        b = ref.solve(model.priors, model.labels, model.gram, mm_, gamma, intercept)
        dq = float((a["q"] - b["q"]) / (2 * h))
        c = ref.solve(model.priors, model.labels, model.gram, marg, mp.mpf(gamma) + h, intercept)
        d = ref.solve(model.priors, model.labels, model.gram, marg, mp.mpf(gamma) - h, intercept)
        dR = [float((x - y) / (2 * h)) for x, y in zip(c["errors"], d["errors"])]
    _close(dq, np.asarray(s["q"]["margins"])[0], 1e-9, floor=1e-14)
    _close(dR, s["errors"]["gamma"], 1e-9, floor=1e-14)


@pytest.mark.parametrize("loss", ["CE", ("VS", 3.0), "square"])
@pytest.mark.parametrize("intercept", [True, False])
def test_erm_derivatives_in_lam_and_gamma(loss, intercept):
    m = asy.LabelGMM(0.15, [2.0, 0.5], [-1.0, 1.0])
    s = asy.sensitivity(asy.erm(m, 1.5, loss, 0.05, intercept))
    for wrt, (gp, lp), (gm, lm), x in (("lam", (1.5, 0.05 * (1 + H)), (1.5, 0.05 * (1 - H)), 0.05),
                                       ("gamma", (1.5 * (1 + H), 0.05), (1.5 * (1 - H), 0.05), 1.5)):
        rp, rm = asy.erm(m, gp, loss, lp, intercept), asy.erm(m, gm, loss, lm, intercept)
        for o in ("q", "b", "V", "alpha", "R_bal", "R", "errors", "projections"):
            fd = (np.asarray(getattr(rp, o), float) - np.asarray(getattr(rm, o), float)) / (2 * H * x)
            _close(fd, s[o][wrt], 2e-6, floor=1e-8)


@pytest.mark.parametrize("intercept", [True, False])
def test_erm_derivatives_in_each_clusters_loss_parameters(intercept):
    """Mixed losses on a group model (K = 4): every cluster's omega, iota
    (VS clusters) and Delta against central differences of the solver."""
    from asymptotics.losses import HingeLoss, SquareLoss, VSLoss
    g = asy.GroupGMM(0.3, 0.2, [2.0, 0.0], [0.5, 1.5])
    losses = [VSLoss(1.3, 0.2, 0.7), VSLoss(0.8, -0.4, 1.2), SquareLoss(1.1, 0.9), HingeLoss(0.9, 1.3)]
    s = asy.sensitivity(asy.erm(g, 1.5, losses, 0.05, intercept))
    for par in ("omega", "iota", "Delta"):
        assert s["R_bal"][par].shape == (4,) and s["errors"][par].shape == (4, 4)
        for k, loss in enumerate(losses):
            names = ("omega", "iota", "Delta") if isinstance(loss, VSLoss) else ("omega", "Delta")
            if par not in names:
                assert np.all(s["errors"][par][..., k] == 0) and np.all(s["q"][par][..., k] == 0)
                continue
            x = getattr(loss, par)
            h = H * max(abs(x), 1.0)
            fits = []
            for sign in (1, -1):
                changed = list(losses)
                kw = {name: getattr(loss, name) for name in names}
                kw[par] = x + sign * h
                changed[k] = type(loss)(**kw)
                fits.append(asy.erm(g, 1.5, changed, 0.05, intercept))
            for o in ("q", "b", "V", "R_bal", "worst", "errors", "projections"):
                fd = (np.asarray(getattr(fits[0], o), float) - np.asarray(getattr(fits[1], o), float)) / (2 * h)
                _close(fd, np.asarray(s[o][par])[..., k], 2e-6, floor=1e-8)


def test_layout_and_bad_input():
    g = asy.GroupGMM(0.3, 0.2, [2.0, 0.0], [0.5, 1.5])
    s = asy.sensitivity(asy.gs_svm(g, np.array([1.5, 2.0, 3.0]), 3.0))
    K = g.n_clusters
    assert s["R_bal"]["margins"].shape == (3, K) and s["errors"]["gram"].shape == (3, K, K, K)
    assert s["R_yg"]["gamma"].shape == (3, 2, 2) and s["q"]["delta"].shape == (3,)
    with pytest.raises(ValueError):
        s["q"]["margins"][0, 0] = 1.0
    with pytest.raises(ValueError, match="result"):
        asy.sensitivity("not a result")
    from asymptotics.covariance import Spectrum
    cov = asy.LabelGMM(0.2, [2, 0], [-1, 1], covariance=Spectrum([0.5, 2.0], [2.0, 0.5]))
    with pytest.raises(NotImplementedError, match="covariance"):
        asy.sensitivity(asy.cs_svm(cov, 1.5, 2.0))
