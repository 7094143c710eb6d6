"""The paper's theory figures, regenerated with Monte-Carlo markers on top.

Each ``figure_*`` function computes its data, draws it, writes PNG and PDF
files into ``out`` and returns the data it plotted (so tests can compare the
curves with the API).  ``make_all`` runs them all (the package's main job,
``python -m asymptotics``).  Every random draw is seeded and the files carry
no time stamps, so a rerun writes byte-identical files (a clean git tree);
``quick=True`` uses coarse grids, few trials and short gradient descents.
The mathematics of the curves: ``docs/theory.md``.
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from .erm import erm, erm_path
from .group import gs_svm
from .label import cs_svm
from .models import ClusterGMM, GroupGMM, LabelGMM
from .solver import separability_threshold
from .tuning import DeltaWarning, delta_equal_opportunity, delta_min_error, delta_star

__all__ = ["figure_2a", "figure_2bc", "figure_3a", "figure_3b", "figure_regularisation_path", "figure_pareto",
           "figure_erm_gamma", "make_all", "ERM_MODEL",
           "FIG3A_MODEL", "FIG2_DELTA_CAP", "fig3b_model", "fig2_means"]

# Fig. 2(a): largest margin ratio used where delta* is infinite (no intercept,
# just above the separability edge, R_bal falls all the way to delta -> inf).
FIG2_DELTA_CAP = 50.0
# Fig. 3(a): pi = 0.05 (the paper's), antipodal means of norm 2 (our choice).
FIG3A_MODEL = LabelGMM.antipodal(0.05, 2.0)


# Regularised-ERM figures: pi = 0.1, orthogonal means of norms 2 and 1
# (separability threshold 0.125 with an intercept), intercept on.
ERM_MODEL = LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0])


def fig3b_model() -> GroupGMM:
    """Fig. 3(b): class prior 1/2, minority-group prior p = 0.05 (the paper's);
    group means of our choice, chosen so that the paper's §4 statements show."""
    return GroupGMM(0.5, 0.05, [3.0, 0.0], [0.0, 3.0])


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


# No time stamps in the files: regenerated figures are byte-identical run to run.
_METADATA = {"png": {"Software": None}, "pdf": {"CreationDate": None, "ModDate": None}}


def _save(fig, out: Path, name: str) -> list:
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = out / f"{name}.{ext}"
        fig.savefig(p, dpi=150, bbox_inches="tight", metadata=_METADATA[ext])
        paths.append(str(p))
    _plt().close(fig)
    return paths


def _parallel(fn, args, n_jobs, progress, desc):
    import joblib
    jobs = (joblib.delayed(fn)(*a) for a in args)
    out = joblib.Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    if progress:
        from tqdm.auto import tqdm
        out = tqdm(out, total=len(args), desc=desc, leave=False)
    return list(out)


# ------------------------------------------------------------------ Fig. 2(a)
def fig2_means(D: int = 300, seed: int = 0):
    """Gaussian random mean directions in R^D scaled to |mu+| = 4, |mu-| = 2."""
    rng = np.random.default_rng(seed)
    mp, mm = rng.standard_normal(D), rng.standard_normal(D)
    return 4.0 * mp / np.linalg.norm(mp), 2.0 * mm / np.linalg.norm(mm)


def _fig2a_point(model, n, D, p, losses, seed, runs, iters=3000):
    """All GD runs at one p: the runs' training sets (seeded by (p, run)),
    each trained on every loss, batched into two GD calls (normalised GD on
    the separable sets, plain GD on the others).  Returns one dict per run:
    {loss: (R+, R-, training error)}."""
    from threadpoolctl import threadpool_limits

    from .simulate import classifier_errors, is_separable, sample_mismatch, train_vs_batch
    with threadpool_limits(limits=1):
        sets = [sample_mismatch(model, n, D, p, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(p, r))))
                for r in range(runs)]
        separable = [is_separable(s.X, s.y, intercept=False) for s in sets]
        sub = model.restrict(p)
        out = [{} for _ in range(runs)]
        names = list(losses)
        for sep, opts in ((True, dict(method="normalized", lr=1.0, gtol=0.0)),   # terminal phase, deep into it
                          (False, dict(method="gd", lr=0.5, gtol=1e-8))):        # finite minimiser: GD converges
            idx = [r for r in range(runs) if separable[r] == sep]
            if not idx:
                continue
            jobs = [(r, name) for r in idx for name in names]
            W, _, _, _ = train_vs_batch(np.array([sets[r].X for r, _ in jobs]), np.array([sets[r].y for r, _ in jobs]),
                                     [losses[name] for _, name in jobs], max_iter=iters, **opts)
            for (r, name), w in zip(jobs, W):
                err = classifier_errors(sub, w, 0.0)
                out[r][name] = (err[0], err[1], float(np.mean(sets[r].y * (sets[r].X @ w) <= 0)))
        return out


def figure_2a(out="figures", quick=False, n_jobs=2, progress=False, seed=0) -> dict:
    """Fig. 2(a): balanced error vs gamma = p/n in the mismatch feature model
    (n = 100, D = 300, pi = 0.1, |mu+| = 2|mu-| = 4), no intercept (as the
    trained models), with theory lines for the SVM and the CS-SVM at
    delta*(gamma), GD markers for CDT, LDAM and LA, the non-separable region
    shaded and an inset of delta* vs gamma; plus a four-panel companion.

    The theory is on every p = 1..D (``quick``: the max-margin lines on every
    third p, the separability edge still on every p); arrays are indexed by
    ``p - 1`` and NaN where not computed."""
    from .simulate import vs_preset
    plt = _plt()
    n, D, prior = 100, 300, 0.1
    mu_p, mu_m = fig2_means(D, seed)
    model = LabelGMM(prior, mu_p, mu_m)
    ps = np.r_[np.arange(5, 51, 5), np.arange(75, 301, 25)]
    runs = 5 if quick else 25
    gd_iters = 500 if quick else 3000
    if quick:
        ps = ps[::2]
    # theory on a fine grid of p (integer p: the means are truncated)
    p_fine = np.arange(1, D + 1)
    gs = np.array([separability_threshold(model.restrict(int(p)), intercept=False) for p in p_fine])
    separable = p_fine / n > gs
    first = int(np.argmax(separable))
    edge = float(p_fine[first] / n)
    solve = separable & ((p_fine % 3 == 0) | (p_fine == p_fine[first])) if quick else separable
    th = {k: np.full(p_fine.size, np.nan) for k in ("svm_R_bal", "svm_R", "svm_R_plus", "svm_R_minus",
                                                    "cs_R_bal", "cs_R", "cs_R_plus", "cs_R_minus",
                                                    "delta_star", "delta_used")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltaWarning)
        for i in np.flatnonzero(solve):
            sub, g = model.restrict(int(p_fine[i])), p_fine[i] / n
            svm = cs_svm(sub, g, 1.0, intercept=False)
            ds = delta_star(sub, g, intercept=False)
            # near the edge R_bal keeps falling as delta -> inf (delta* = inf):
            # lines and CDT markers then use delta = FIG2_DELTA_CAP
            used = min(float(ds.delta), FIG2_DELTA_CAP) if ds.delta > 0 else FIG2_DELTA_CAP
            cs = cs_svm(sub, g, used, intercept=False)
            th["delta_star"][i], th["delta_used"][i] = ds.delta, used
            for k in ("R_bal", "R", "R_plus", "R_minus"):
                th["svm_" + k][i] = getattr(svm, k)
                th["cs_" + k][i] = getattr(cs, k)
    # delta for the CDT markers: the line's at the nearest computed p at or
    # below the marker's (below the edge, where there is no max-margin
    # theory, the first separable p's)
    done = np.flatnonzero(solve)

    def used_at(p):
        j = done[done <= p - 1]
        return float(th["delta_used"][j[-1] if j.size else first])
    dstar_p = {int(p): used_at(int(p)) for p in ps}
    # below the edge: the unregularised (lam = 0) minimisers GD converges to
    band_losses = {"CDT": vs_preset("CDT", prior, float(th["delta_used"][first])), "LDAM": vs_preset("LDAM", prior),
                   "LA": vs_preset("LA", prior)}
    for name, loss in band_losses.items():
        for k in ("R_bal", "R", "R_plus", "R_minus"):
            th[f"erm0_{name}_{k}"] = np.full(p_fine.size, np.nan)
        for i in np.flatnonzero(~separable):
            r = erm(model.restrict(int(p_fine[i])), p_fine[i] / n, loss, 0.0, intercept=False)
            for k in ("R_bal", "R", "R_plus", "R_minus"):
                th[f"erm0_{name}_{k}"][i] = getattr(r, k)
    args = []
    for p in ps:
        losses = {"CDT": vs_preset("CDT", prior, dstar_p[int(p)]), "LDAM": vs_preset("LDAM", prior),
                  "LA": vs_preset("LA", prior)}
        args.append((model, n, D, int(p), losses, seed, runs, gd_iters))
    res = [o for per_p in _parallel(_fig2a_point, args, n_jobs, progress, "Fig. 2(a) GD runs") for o in per_p]
    sim = {}
    for name in ("CDT", "LDAM", "LA"):
        arr = np.array([[o[name] for o in res[i * runs:(i + 1) * runs]] for i in range(len(ps))])  # (P, runs, 3)
        rbal = 0.5 * (arr[..., 0] + arr[..., 1])
        rstd = prior * arr[..., 0] + (1 - prior) * arr[..., 1]
        sim[name] = {"R_bal": rbal.mean(1), "R_bal_se": rbal.std(1, ddof=1) / np.sqrt(runs),
                     "R": rstd.mean(1), "R_se": rstd.std(1, ddof=1) / np.sqrt(runs),
                     "R_plus": arr[..., 0].mean(1), "R_plus_se": arr[..., 0].std(1, ddof=1) / np.sqrt(runs),
                     "R_minus": arr[..., 1].mean(1), "R_minus_se": arr[..., 1].std(1, ddof=1) / np.sqrt(runs),
                     "train_error": arr[..., 2].mean(1)}
    gamma_fine, gamma_sim = p_fine / n, ps / n
    colors = {"CDT": "tab:red", "LDAM": "tab:blue", "LA": "k"}
    markers = {"CDT": "o", "LDAM": "s", "LA": "^"}

    def line(ax, y, *fmt, **kw):
        ok = np.isfinite(y)
        ax.plot(gamma_fine[ok], y[ok], *fmt, **kw)

    def panel(ax, key, label):
        ax.axvspan(0, edge, color="0.9", label=f"not separable (γ < {edge:.2f})")
        line(ax, th["svm_" + key], "k-", lw=1.5, label="SVM (theory)")
        line(ax, th["cs_" + key], "r-", lw=1.5, label=f"CS-SVM at min(δ⋆, {FIG2_DELTA_CAP:g}) (theory)")
        for name in ("CDT", "LDAM", "LA"):
            line(ax, th[f"erm0_{name}_{key}"], "--", color=colors[name], lw=1.2,
                 label=f"{name}, unregularised minimiser (theory)")
        for name in ("CDT", "LDAM", "LA"):
            ax.errorbar(gamma_sim, sim[name][key], yerr=sim[name][key + "_se"], fmt=markers[name],
                        color=colors[name], ms=4, capsize=2, lw=0.8, label=f"{name}, GD ({runs} runs)")
        ax.set_xlabel("γ = p / n (features used per training sample)")
        ax.set_ylabel(label)
        ax.set_xlim(0, 3.05)
        ax.grid(alpha=0.3)

    # main panel; the legend sits outside on the right, so the upper right of
    # the axes (above every curve) is free for the delta* inset and its labels
    fig, ax = plt.subplots(figsize=(10.5, 5))
    panel(ax, "R_bal", "balanced test error R_bal")
    ax.set_ylim(top=max(0.52, ax.get_ylim()[1]))
    ax.set_title("Fig. 2(a): balanced error, mismatch model\n"
                 f"n = {n}, D = {D}, π = {prior}, |μ+| = 4, |μ−| = 2, no intercept, seed {seed}", fontsize=10)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    inset = ax.inset_axes([0.60, 0.57, 0.37, 0.33])
    finite = np.isfinite(th["delta_star"])
    inset.semilogy(gamma_fine[finite], th["delta_star"][finite], "r-", lw=1.2)
    infinite = separable & ~finite & solve
    if infinite.any():
        inf_g = gamma_fine[infinite]
        inset.axvspan(inf_g.min(), inf_g.max(), color="mistyrose")
        inset.text(0.97, 0.93, "pink: δ⋆ = ∞\n(R_bal falls as δ → ∞;\nlines use δ = "
                   f"{FIG2_DELTA_CAP:g})", fontsize=6, ha="right", va="top", transform=inset.transAxes)
    inset.axvspan(0, edge, color="0.9")
    inset.set_title("δ⋆, the balanced-error-optimal δ", fontsize=7, pad=3)
    inset.set_xlabel("γ", fontsize=7, labelpad=1)
    inset.tick_params(labelsize=6, pad=1.5)
    inset.set_xlim(0, 3.05)
    files = _save(fig, Path(out), "fig2a_balanced_error")

    fig, axes = plt.subplots(2, 2, figsize=(11, 8), sharex=True)
    for ax, (key, label) in zip(axes.flat, [("R_bal", "balanced error R_bal"), ("R", "standard error R"),
                                            ("R_plus", "minority error R₊"), ("R_minus", "majority error R₋")]):
        panel(ax, key, label)
    axes[0, 0].legend(fontsize=7)
    fig.suptitle(f"Fig. 2(a) companion: mismatch model, n = {n}, D = {D}, π = {prior}, |μ+| = 4, |μ−| = 2, "
                 "no intercept", fontsize=10)
    files += _save(fig, Path(out), "fig2a_four_panels")
    return {"gamma": gamma_fine, "p": p_fine, "theory": th, "edge": edge, "gamma_sim": gamma_sim, "sim": sim,
            "model": model, "n": n, "files": files}


# ------------------------------------------------------------------ Fig. 2(b,c)
def figure_2bc(out="figures", quick=False, n_jobs=2, progress=False, seed=0) -> dict:
    """Fig. 2(b,c): balanced test error and angle to the CS-SVM vs GD
    iteration (constant step 0.1, as the paper) for CE, wCE, LA, CDT and the
    two VS variants of §3.2, at n = 100, p = D = 300 (gamma = 3), no
    intercept; dashed lines mark where the terminal phase starts."""
    from .simulate import fit_max_margin, sample, train_vs_batch, vs_preset
    plt = _plt()
    n, D, prior = 100, 300, 0.1
    mu_p, mu_m = fig2_means(D, seed)
    model = LabelGMM(prior, mu_p, mu_m)
    gamma = D / n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltaWarning)
        dstar = float(delta_star(model, gamma, intercept=False).delta)
    s = sample(model, n, D, np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,))))
    cs = fit_max_margin(s.X, s.y, np.where(s.y > 0, dstar, 1.0), intercept=False)
    losses = {"CE": vs_preset("CE", prior), "wCE": vs_preset("wCE", prior), "LA": vs_preset("LA-log", prior),
              "CDT": vs_preset("CDT", prior, dstar), "VS (ι = log 1/π)": vs_preset("VS", prior, dstar),
              "VS (ω = 1/π)": vs_preset("VS-w", prior, dstar)}
    iters = 3000 if quick else 100_000
    # the six losses on the same training set: one batched GD run (the same iterates as train_vs)
    _, _, _, hists = train_vs_batch(np.repeat(s.X[None], len(losses), axis=0), np.repeat(s.y[None], len(losses), axis=0),
                                    list(losses.values()), method="gd", lr=0.1, max_iter=iters, gtol=0.0, model=model,
                                    w_ref=cs.w, n_records=150)
    curves = {}
    for name, h in zip(losses, hists):
        zero = h["train_error"] == 0
        # first recorded iteration after which the training error stays 0
        tpt = int(h["iteration"][np.flatnonzero(~zero)[-1] + 1]) if (~zero).any() and zero[-1] else \
            (0 if zero.all() else None)
        curves[name] = {"iteration": h["iteration"], "R_bal": h["test_error"], "angle": h["angle"],
                        "train_error": h["train_error"], "tpt_start": tpt}
    colors = dict(zip(losses, ["0.4", "tab:green", "k", "tab:red", "tab:purple", "tab:orange"]))
    # constrained layout keeps the right panel's y-label clear of the left panel
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    for name, c in curves.items():
        it = c["iteration"][1:]           # iteration 0 is w = 0: no direction
        axes[0].plot(it, c["R_bal"][1:], color=colors[name], label=name)
        axes[1].plot(it, c["angle"][1:], color=colors[name], label=name)
        if c["tpt_start"]:
            for ax in axes:
                ax.axvline(c["tpt_start"], color=colors[name], ls="--", lw=0.8)
    for ax, lab in zip(axes, ["balanced test error R_bal", "angle between w and the CS-SVM (rad)"]):
        ax.set_xscale("log")
        ax.set_xlabel("gradient-descent iteration (step 0.1)")
        ax.set_ylabel(lab)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Fig. 2(b,c): training dynamics, n = {n}, d = {D}, π = {prior}, |μ+| = 4, |μ−| = 2, "
                 f"CDT/VS with δ = δ⋆ = {dstar:.2f}, no intercept; dashed: terminal phase starts", fontsize=10)
    files = _save(fig, Path(out), "fig2bc_training_dynamics")
    return {"curves": curves, "delta_star": dstar, "files": files}


# ------------------------------------------------------------------ Fig. 3
def _mc_points(model, gammas, deltas, n, trials, n_jobs, seed):
    from .simulate import monte_carlo
    return monte_carlo(model, np.asarray(gammas)[:, None], np.asarray(deltas)[None, :], n=n, trials=trials,
                       seed=seed, n_jobs=n_jobs, progress=False)


def figure_3a(out="figures", quick=False, n_jobs=2, progress=False, seed=0) -> dict:
    """Fig. 3(a): CS-SVM (intercept on) with pi = 0.05 vs delta >= 1 for
    several gamma: standard error, balanced error and R+ - R-; delta* and the
    delta minimising R marked; Monte-Carlo markers at a few delta."""
    plt = _plt()
    model = FIG3A_MODEL
    gammas = [0.5, 1.0, 2.0, 5.0]
    deltas = np.geomspace(1, 40, 200)
    theory = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltaWarning)
        for g in gammas:
            s = cs_svm(model, g, deltas)
            ds, dm = delta_star(model, g), delta_min_error(model, g)
            theory[g] = {"R": s.R, "R_bal": s.R_bal, "imbalance": s.R_plus - s.R_minus,
                         "delta_star": float(ds.delta), "delta_min_R": float(dm.delta),
                         "R_at_delta_star": float(ds.R), "R_bal_at_delta_star": float(ds.R_bal),
                         "R_min": float(dm.R), "R_bal_at_delta_min_R": float(dm.R_bal)}
    sim_deltas = [1.0, 3.0, 10.0]
    mc = _mc_points(model, gammas, sim_deltas, n=150 if quick else 400, trials=4 if quick else 20,
                    n_jobs=n_jobs, seed=seed)
    colors = dict(zip(gammas, ["tab:blue", "tab:orange", "tab:green", "tab:red"]))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    keys = [("R", "standard error R"), ("R_bal", "balanced error R_bal"), ("imbalance", "error imbalance R₊ − R₋")]
    for ax, (key, label) in zip(axes, keys):
        for i, g in enumerate(gammas):
            t = theory[g]
            ax.plot(deltas, t[key], color=colors[g], label=f"γ = {g}")
            mk = {"R": mc.mean["R"], "R_bal": mc.mean["R_bal"], "imbalance": mc.mean["R_plus"] - mc.mean["R_minus"]}[key]
            se = {"R": mc.se["R"], "R_bal": mc.se["R_bal"],
                  "imbalance": np.sqrt(mc.se["R_plus"] ** 2 + mc.se["R_minus"] ** 2)}[key]
            ax.errorbar(sim_deltas, mk[i], yerr=se[i], fmt="o", color=colors[g], ms=4, capsize=2)
            ds, dm = t["delta_star"], t["delta_min_R"]
            if key == "R":
                if 1 <= dm <= deltas[-1]:
                    ax.plot(dm, t["R_min"], "D", color="m", ms=6, zorder=5)
                if 1 <= ds <= deltas[-1]:
                    ax.plot(ds, t["R_at_delta_star"], "*", color="k", ms=9, zorder=5)
            elif key == "R_bal" and 1 <= ds <= deltas[-1]:
                ax.plot(ds, t["R_bal_at_delta_star"], "*", color="k", ms=9, zorder=5)
            elif key == "imbalance" and 1 <= ds <= deltas[-1]:
                ax.plot(ds, 0.0, "*", color="k", ms=9, zorder=5)
        ax.set_xscale("log")
        ax.set_xlabel("margin ratio δ (minority / majority)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[2].axhline(0, color="0.5", lw=0.8)
    axes[0].plot([], [], "*", color="k", label="δ⋆ (min R_bal, R₊ = R₋)")
    axes[0].plot([], [], "D", color="m", label="δ minimising R")
    axes[0].errorbar([], [], yerr=[], fmt="o", color="0.4", label=f"Monte-Carlo (n = {mc.n}, mean ± SE)")
    axes[0].legend(fontsize=7)
    fig.suptitle("Fig. 3(a): CS-SVM with intercept, π = 0.05, antipodal means |μ| = 2 (lines: theory)", fontsize=10)
    files = _save(fig, Path(out), "fig3a_cs_svm_tradeoffs")
    return {"gammas": gammas, "deltas": deltas, "theory": theory, "mc": mc, "model": model, "files": files}


def figure_3b(out="figures", quick=False, n_jobs=2, progress=False, seed=0) -> dict:
    """Fig. 3(b): GS-SVM (intercept on) with minority-group prior p = 0.05 vs
    delta >= 1 for several gamma: standard error and DEO; delta_0 (DEO = 0)
    marked; Monte-Carlo markers at a few delta."""
    plt = _plt()
    model = fig3b_model()
    gammas = [0.5, 1.0, 2.0, 5.0]
    deltas = np.geomspace(1, 200, 200)
    theory = {}
    for g in gammas:
        t = gs_svm(model, g, deltas)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeltaWarning)
            e = delta_equal_opportunity(model, g)
        theory[g] = {"R": t.R, "DEO": t.DEO, "delta_0": e.delta if e.attainable else np.nan,
                     "R_at_delta_0": e.R}
    sim_deltas = [1.0, 5.0, 30.0]
    mc = _mc_points(model, gammas, sim_deltas, n=150 if quick else 400, trials=4 if quick else 20,
                    n_jobs=n_jobs, seed=seed)
    colors = dict(zip(gammas, ["tab:blue", "tab:orange", "tab:green", "tab:red"]))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    for ax, (key, label) in zip(axes, [("R", "standard error R"), ("DEO", "DEO = R₊,₁ − R₊,₂")]):
        for i, g in enumerate(gammas):
            t = theory[g]
            ax.plot(deltas, t[key], color=colors[g], label=f"γ = {g}")
            ax.errorbar(sim_deltas, mc.mean[key][i], yerr=mc.se[key][i], fmt="o", color=colors[g], ms=4, capsize=2)
            if np.isfinite(t["delta_0"]):
                ax.plot(t["delta_0"], 0.0 if key == "DEO" else t["R_at_delta_0"], "*", color="k", ms=9, zorder=5)
        ax.set_xscale("log")
        ax.set_xlabel("margin δ of the minority group (majority: 1)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].axhline(0, color="0.5", lw=0.8)
    axes[0].plot([], [], "*", color="k", label="δ₀ (equal opportunity)")
    axes[0].errorbar([], [], yerr=[], fmt="o", color="0.4", label=f"Monte-Carlo (n = {mc.n}, mean ± SE)")
    axes[0].legend(fontsize=7)
    mu1, mu2 = model.group_means
    fig.suptitle(f"Fig. 3(b): GS-SVM with intercept, class prior 1/2, group prior p = 0.05, "
                 f"μ₁ = {mu1.tolist()}, μ₂ = {mu2.tolist()} (lines: theory)", fontsize=10)
    files = _save(fig, Path(out), "fig3b_gs_svm_tradeoffs")
    return {"gammas": gammas, "deltas": deltas, "theory": theory, "mc": mc, "model": model, "files": files}


# ------------------------------------------------------------------ regularised ERM
def _erm_mc(model, gammas, loss, lams, n, trials, n_jobs, seed, delta=1.0):
    from .simulate import monte_carlo
    return monte_carlo(model, np.asarray(gammas, float), delta, n=n, trials=trials, method=loss,
                       lam=np.asarray(lams, float), seed=seed, n_jobs=n_jobs, progress=False)


def figure_regularisation_path(out="figures", quick=False, n_jobs=2, progress=False, seed=0) -> dict:
    """Balanced error against the ridge lambda (1e-6 ... 10) for CE, LA, CDT
    and VS on ERM_MODEL at gamma = 1 (above gamma* = 0.125), intercept on,
    CDT and VS with delta = delta*(gamma); Monte-Carlo markers (exact ERM
    fits) at a few lambda; the max-margin limits (SVM for CE and LA, CS-SVM
    at delta* for CDT and VS) as horizontal lines: Theorem 1 of the paper,
    and how slowly it is reached."""
    plt = _plt()
    model, gamma = ERM_MODEL, 1.0
    dstar = float(delta_star(model, gamma).delta)
    losses = {"CE": "CE", "LA": "LA", "CDT": ("CDT", dstar), "VS": ("VS", dstar)}
    lams = np.logspace(1, -6, 57)
    paths = {name: erm_path(model, gamma, loss, lam=lams) for name, loss in losses.items()}
    svm, cs = cs_svm(model, gamma, 1.0), cs_svm(model, gamma, dstar)
    sim_lams = [1e-2, 1.0] if quick else [1e-3, 1e-2, 1e-1, 1.0]
    # every marker of one trial index shares its training set (common random numbers), so the
    # markers' deviations from the lines are correlated across lambda and losses
    n, trials = (200, 4) if quick else (400, 24)
    mc = {}
    for name, loss in losses.items():
        base, dl = (loss if isinstance(loss, str) else loss[0]), (1.0 if isinstance(loss, str) else loss[1])
        mc[name] = _erm_mc(model, [gamma], base, np.array(sim_lams)[:, None], n, trials, n_jobs, seed, delta=dl)
    colors = {"CE": "0.35", "LA": "k", "CDT": "tab:red", "VS": "tab:purple"}
    fig, ax = plt.subplots(figsize=(7.5, 5))
    for name, path in paths.items():
        ax.plot(lams, path.erm.R_bal, color=colors[name], label=f"{name} (theory)")
        r = mc[name]
        ax.errorbar(sim_lams, r.mean["R_bal"][:, 0], yerr=r.se["R_bal"][:, 0], fmt="o", color=colors[name], ms=4,
                    capsize=2)
    ax.axhline(float(svm.R_bal), color="0.35", ls=":", lw=1.2, label="SVM: λ → 0 limit of CE, LA")
    ax.axhline(float(cs.R_bal), color="tab:red", ls=":", lw=1.2, label=f"CS-SVM (δ⋆ = {dstar:.2f}): limit of CDT, VS")
    ax.errorbar([], [], yerr=[], fmt="o", color="0.4", label=f"exact ERM fits, n = {n}, mean ± SE ({trials} runs)")
    ax.set_xscale("log")
    ax.set_xlabel("ridge λ (weight decay)")
    ax.set_ylabel("balanced test error R_bal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"Regularisation path: π = {model.prior}, |μ+| = 2, |μ−| = 1 orthogonal, γ = {gamma:g} "
                 f"(γ⋆ = {separability_threshold(model):.3f}), intercept on", fontsize=9)
    files = _save(fig, Path(out), "erm_regularisation_path")
    return {"lams": lams, "paths": paths, "svm": svm, "cs": cs, "delta_star": dstar, "mc": mc,
            "sim_lams": sim_lams, "files": files}


def figure_erm_gamma(out="figures", quick=False, n_jobs=2, progress=False, seed=0) -> dict:
    """Balanced error against gamma across the separability threshold for
    CE and CDT (delta = 3) at lambda = 1e-3 and 0.1 on ERM_MODEL, intercept
    on: one theory curve through both regimes, the unregularised (lambda = 0)
    minimisers below gamma*, Monte-Carlo markers at a few gamma."""
    plt = _plt()
    model = ERM_MODEL
    gs = separability_threshold(model)
    gammas = np.geomspace(0.02, 5.0, 60)
    curves = {}
    for name, loss in (("CE", "CE"), ("CDT (δ = 3)", ("CDT", 3.0))):
        for lam in (1e-3, 0.1):
            curves[(name, lam)] = erm(model, gammas, loss, lam).R_bal
        below = gammas[gammas < 0.98 * gs]
        curves[(name, 0.0)] = (below, erm(model, below, loss, 0.0).R_bal)
    sim_g = [0.05, 0.5, 2.0] if not quick else [0.5, 2.0]
    n, trials = (200, 4) if quick else (400, 24)
    mc = {}
    for name, base, dl in (("CE", "CE", 1.0), ("CDT (δ = 3)", "CDT", 3.0)):
        mc[name] = _erm_mc(model, np.array(sim_g)[:, None], base, np.array([1e-3, 0.1])[None, :], n, trials,
                           n_jobs, seed, delta=dl)
    colors = {"CE": "0.35", "CDT (δ = 3)": "tab:red"}
    styles = {1e-3: "-", 0.1: "--"}
    fig, ax = plt.subplots(figsize=(7.5, 5))
    ax.axvspan(gammas[0], gs, color="0.9", label=f"not separable (γ < γ⋆ = {gs:.3f})")
    for (name, lam), val in curves.items():
        if lam == 0.0:
            ax.plot(val[0], val[1], ":", color=colors[name], lw=1.5, label=f"{name}, λ = 0 (exists for γ < γ⋆)")
        else:
            ax.plot(gammas, val, styles[lam], color=colors[name], label=f"{name}, λ = {lam:g}")
    for name, r in mc.items():
        for j, lam in enumerate((1e-3, 0.1)):
            ax.errorbar(sim_g, r.mean["R_bal"][:, j], yerr=r.se["R_bal"][:, j], fmt="o" if lam < 0.01 else "s",
                        color=colors[name], ms=4, capsize=2, mfc="none" if lam > 0.01 else None)
    ax.errorbar([], [], yerr=[], fmt="o", color="0.4", label=f"exact ERM fits, n = {n} (●: λ = 1e-3, □: λ = 0.1)")
    ax.set_xscale("log")
    ax.set_xlabel("γ = d / n")
    ax.set_ylabel("balanced test error R_bal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"Regularised ERM across the separability threshold: π = {model.prior}, |μ+| = 2, |μ−| = 1 "
                 "orthogonal, intercept on", fontsize=9)
    files = _save(fig, Path(out), "erm_across_threshold")
    return {"gammas": gammas, "curves": curves, "gamma_star": gs, "mc": mc, "sim_gammas": sim_g, "files": files}


# ------------------------------------------------------------------ Pareto front
def figure_pareto(out="figures", quick=False, n_jobs=2, progress=False, seed=0) -> dict:
    """Standard error R against |DEO| at the Fig. 3(b) setting (gamma = 2):
    the SVM, the GS-SVM with one margin delta (a curve over delta), and the
    Pareto front of the four subgroup margins (optimize_margins, exact
    gradients); Monte-Carlo markers (exact max-margin solutions at the
    optimal margins) at three points of the front."""
    from .optimize import pareto_front
    from .simulate import monte_carlo
    plt = _plt()
    model, gamma = fig3b_model(), 2.0
    svm = gs_svm(model, gamma, 1.0)
    deltas = np.geomspace(1.0, 200.0, 300)
    one = gs_svm(model, gamma, deltas)
    front = pareto_front(model, gamma, ("R", "abs_DEO"), n_points=8 if quick else 16)
    picks = [0, len(front.points) // 2, len(front.points) - 1]
    flat = ClusterGMM(model.priors, model.labels, model.means)
    n, trials = (200, 4) if quick else (400, 16)
    mc = []
    for i in picks:
        r = monte_carlo(flat, gamma, front.margins[i], n=n, trials=trials, seed=seed, n_jobs=n_jobs, progress=False)
        errs = r.trials["errors"]                                  # (trials, K) for one point
        stats = np.array([[model.metrics(e)["R"], model.metrics(e)["DEO"]] for e in errs if np.isfinite(e[0])])
        mean, se = stats.mean(0), stats.std(0, ddof=1) / np.sqrt(len(stats))
        mc.append((np.array([mean[0], abs(mean[1])]), se))       # |mean DEO|, not the biased mean |DEO|
    fig, ax = plt.subplots(figsize=(7.2, 5))
    ax.plot(np.abs(one.DEO), one.R, "-", color="tab:orange", label="GS-SVM, one margin δ for group 1 (δ = 1 … 200)")
    ax.plot(front.values[:, 1], front.values[:, 0], "o-", color="tab:red", ms=3,
            label="four subgroup margins: Pareto front (theory)")
    ax.plot([abs(float(svm.DEO))], [float(svm.R)], "ks", ms=7, label="SVM (δ = 1)")
    for (mean, se), i in zip(mc, picks):
        ax.errorbar(mean[1], mean[0], xerr=se[1], yerr=se[0], fmt="D", color="tab:blue", ms=5, capsize=2,
                    label=f"exact solutions, n = {n}, {trials} runs (mean ± SE)" if i == picks[0] else None)
    ax.set_xlabel("|DEO| = |R₊,₁ − R₊,₂| (difference of equal opportunity)")
    ax.set_ylabel("standard test error R")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    mu1, mu2 = model.group_means
    ax.set_title(f"Error against fairness, γ = {gamma:g}: class prior 1/2, group prior p = 0.05, "
                 f"μ₁ = {mu1.tolist()}, μ₂ = {mu2.tolist()}", fontsize=9)
    files = _save(fig, Path(out), "pareto_front")
    return {"front": front, "one_margin": one, "svm": svm, "mc": mc, "picks": picks, "files": files}


def make_all(out="figures", quick=False, n_jobs=2, progress=True) -> dict:
    """Regenerate every figure into ``out``; returns {name: (data, seconds)}."""
    results = {}
    for name, fn in (("fig2a", figure_2a), ("fig2bc", figure_2bc), ("fig3a", figure_3a), ("fig3b", figure_3b),
                     ("erm_path", figure_regularisation_path), ("erm_gamma", figure_erm_gamma),
                     ("pareto", figure_pareto)):
        t0 = time.perf_counter()
        data = fn(out=out, quick=quick, n_jobs=n_jobs, progress=progress)
        results[name] = (data, time.perf_counter() - t0)
        if progress:
            print(f"{name}: {', '.join(os.path.basename(f) for f in data['files'])} "
                  f"({results[name][1]:.1f} s)", flush=True)
    return results
