"""Speed and agreement of the CS-SVM solver, against baselines run in the same
process on the same points.

    python scripts/bench.py            # full run (about a minute)
    python scripts/bench.py --quick    # fewer repeats / baseline points

Measures (medians of repeats):
* JIT compile time (fresh Numba cache) and start-up with a warm cache, each in
  a fresh subprocess;
* single-point latency after JIT (public API, and the raw engine);
* per-point time of a 10,000-point (gamma, delta) sweep (100 x 100 grid);
* (i) a straightforward SciPy implementation of the paper's nested
  formulation: quadrature for E[(G + t)_-^2], constrained minimisation over
  (rho, b) with ||rho|| <= 1 (SLSQP), a bracketing root (brentq) in q;
* (ii) the mpmath reference path (asymptotics.reference), and the largest
  relative difference to it on q, b/q, R+ and R-;
* regularised ERM: single cold points (engine and API) against a SciPy
  implementation of the same fixed-point equations
  (scripts/erm_scipy_baseline.py), and a sweep along lambda.
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import warnings

import numpy as np
from scipy import integrate, optimize, stats

import asymptotics as asy
from asymptotics import _engine, reference

MODEL = asy.LabelGMM(0.1, [4.0, 0.0], [0.0, 2.0])   # the paper's Fig. 2 norms, orthogonal means
GROUP = asy.GroupGMM(0.3, 0.05, [2.0, 0.0], [1.0, 1.5])  # 4 subgroups, correlated group means
GAMMAS = np.geomspace(0.05, 20.0, 100)
DELTAS = np.geomspace(0.1, 100.0, 100)


# ---------------------------------------------------------------- baseline (i)
def _F_quad(t: float) -> float:
    """E[(G + t)_-^2] by adaptive quadrature over |g| <= 40 (outside, the
    Gaussian weight is below 1e-340; an infinite range makes QUADPACK miss
    the mass when -t is large)."""
    upper = min(-t, 40.0)
    if upper <= -40.0:
        return 0.0
    val, _ = integrate.quad(lambda g: (g + t) ** 2 * stats.norm.pdf(g), -40.0, upper,
                            epsabs=1e-14, epsrel=1e-12, limit=200)
    return val


def _eta(q, rho, beta, model, gamma, delta):
    """The paper's eta_delta(q, rho, b) for the label model, with b = beta q
    (in b itself SLSQP loses the minimum for small q)."""
    proj = model.factor @ rho
    pi = model.prior
    t_plus = proj[0] + beta - delta / q          # Y = +1
    t_minus = -proj[1] - beta - 1.0 / q          # Y = -1
    return pi * _F_quad(t_plus) + (1 - pi) * _F_quad(t_minus) - (1 - rho @ rho) * gamma


def scipy_nested(model, gamma, delta):
    """(q, rho, b) by the nested formulation with generic SciPy tools."""
    r = model.rank
    state = {"x": np.zeros(r + 1)}

    def min_eta(q):
        res = optimize.minimize(lambda x: _eta(q, x[:r], x[r], model, gamma, delta), state["x"],
                                method="SLSQP", constraints=[{"type": "ineq", "fun": lambda x: 1 - x[:r] @ x[:r]}],
                                options={"ftol": 1e-14, "maxiter": 200})
        state["x"] = res.x
        return res.fun

    lo, hi = 1e-3, 1.0
    while min_eta(hi) > 0:
        hi *= 2
    while min_eta(lo) < 0:
        lo /= 2
    q = optimize.brentq(min_eta, lo, hi, xtol=1e-12, rtol=1e-12)
    min_eta(q)
    x = state["x"]
    return q, x[:r], x[r] * q


def _errors(model, rho, beta):
    proj = model.factor @ rho
    return asy.gaussian.Q(model.labels * (proj + beta))


# ---------------------------------------------------------------- timing helpers
def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


COLD_STEPS = [
    ("import asymptotics", "import asymptotics as a"),
    ("first `cs_svm`", "m = a.LabelGMM(0.1, [4, 0], [0, 2]); a.cs_svm(m, 2.0, 3.0)"),
    ("`separability_threshold`", "a.separability_threshold(m)"),
    ("first array sweep", "import numpy as np; a.cs_svm(m, np.linspace(1, 3, 600), 3.0)"),
    ("first `gs_svm`", "a.gs_svm(a.GroupGMM(0.3, 0.05, [2, 0], [1, 1.5]), 2.0, 3.0)"),
    ("first covariance call", "from asymptotics.covariance import Spectrum; "
     "a.cs_svm(a.LabelGMM(0.2, [2, 0], [-1, 1], covariance=Spectrum([0.5, 2.0], [2.0, 0.5])), 1.5, 2.0)"),
    ("first `erm` (CE)", "a.erm(m, 2.0, 'CE', 0.1)"),
]


def cold_start():
    """Seconds of each step of a first session in a fresh process with an
    empty Numba cache (then again with the cache it left)."""
    code = "import time\nT = []\n" + "".join(
        f"t = time.perf_counter()\n{stmt}\nT.append(time.perf_counter() - t)\n" for _, stmt in COLD_STEPS)
    code += "print(' '.join(map(str, T)))\n"
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = [subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
               for _ in range(2)]
    return [[float(v) for v in o.stdout.split()] for o in out]


def paper_fsolve(prior, norm, gamma, delta):
    """The fastest peer-style code: the paper's equations for antipodal means
    (rank 1: A = (norm, -norm)) as the KKT system dH/drho = dH/dbeta = H = 0
    in (rho, beta, u = 1/q), F from scipy.special.ndtr, solved by fsolve."""
    from scipy.special import ndtr

    def F(t):
        return (1 + t * t) * ndtr(-t) - t * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)

    def dF(t):
        return 2 * t * ndtr(-t) - 2 * np.exp(-0.5 * t * t) / np.sqrt(2 * np.pi)

    def kkt(x):
        rho, beta, u = x
        tp, tm = norm * rho + beta - delta * u, norm * rho - beta - u
        return [prior * dF(tp) * norm + (1 - prior) * dF(tm) * norm + 2 * gamma * rho,
                prior * dF(tp) - (1 - prior) * dF(tm),
                prior * F(tp) + (1 - prior) * F(tm) + gamma * (rho * rho - 1)]

    rho, beta, u = optimize.fsolve(kkt, [0.5, 0.0, 0.5], xtol=1e-12)
    return 1.0 / u, beta / u


def speed_rows(repeats):
    """Issue-12 measurements: single calls against the raw engine and the
    fsolve peer, sweeps on one thread and on all, the rank curve."""
    from asymptotics import _parallel
    anti = asy.LabelGMM.antipodal(0.1, 2.0)
    asy.cs_svm(anti, 2.0, 3.0)
    t_cs = median_time(lambda: asy.cs_svm(anti, 2.0, 3.0), 2000)
    t_gs = median_time(lambda: asy.gs_svm(GROUP, 2.0, 3.0), 2000)
    A, pri, lab = anti._kernel_args
    marg = np.array([3.0, 1.0])
    t_eng = median_time(lambda: _engine.solve_single(A, pri, lab, marg, 2.0, True, 200, 1000), 2000)
    paper_fsolve(0.1, 2.0, 2.0, 3.0)
    t_fs = median_time(lambda: paper_fsolve(0.1, 2.0, 2.0, 3.0), 200)
    q_fs, b_fs = paper_fsolve(0.1, 2.0, 2.0, 3.0)
    ours = asy.cs_svm(anti, 2.0, 3.0)
    diff = max(abs(q_fs - ours.q) / ours.q, abs(b_fs - ours.b) / abs(ours.b))
    rows = [("single point after JIT, `cs_svm` (antipodal model) / raw engine (`solve_single`)",
             f"{t_cs * 1e6:.1f} µs / {t_eng * 1e6:.1f} µs (target ≤ 20 µs)"),
            ("single point after JIT, `gs_svm` (4 subgroups)", f"{t_gs * 1e6:.1f} µs (target ≤ 20 µs)"),
            ("peer: SciPy `fsolve` of the paper's KKT equations with `ndtr` (antipodal), per point",
             f"{t_fs * 1e6:.0f} µs (ours ×{t_fs / t_cs:.0f} faster through the API; rel. diff {diff:.1e})")]
    g2, d2 = np.meshgrid(GAMMAS, DELTAS, indexing="ij")
    times = {}
    for n_threads in (1, _parallel.threads()):
        _parallel.set_threads(n_threads)
        times[n_threads] = median_time(lambda: asy.cs_svm(MODEL, g2, d2), repeats) / g2.size
    _parallel.set_threads(None)
    same = np.array_equal(asy.cs_svm(MODEL, g2, d2).q, asy.cs_svm(MODEL, g2, d2).q)
    rows.append((f"10,000-point sweep per point: 1 thread / {_parallel.threads()} threads",
                 f"{times[1] * 1e6:.2f} µs / {times[_parallel.threads()] * 1e6:.2f} µs (target ≤ 2.5 µs on 2 cores; "
                 f"identical results: {same})"))
    curve = []
    rng = np.random.default_rng(0)
    for K in (2, 4, 8, 16, 32, 64):
        means = rng.standard_normal((K, K))
        model = asy.ClusterGMM(np.full(K, 1.0 / K), np.tile([1.0, -1.0], K // 2), means)
        gamma = 2.0 * asy.separability_threshold(model) + 0.5
        marg = np.ones(K)
        r = asy.max_margin(model, gamma, marg)
        t = median_time(lambda: asy.max_margin(model, gamma, marg), max(3, repeats))
        curve.append(f"K={K}: {t / int(r.iterations) * 1e6:.1f}")
    rows.append(("K-cluster Newton step (rank K means), µs per step", ", ".join(curve)))
    return rows


def sensitivity_rows(repeats):
    """Issue-13 measurements: the cost of exact derivatives against the
    solve they differentiate, and one margin optimisation against a dense
    grid over the same margins (solved as one vectorised sweep)."""
    rows = []
    anti = asy.LabelGMM.antipodal(0.1, 2.0)
    r = asy.cs_svm(anti, 2.0, 3.0)
    asy.sensitivity(r)
    t_solve = median_time(lambda: asy.cs_svm(anti, 2.0, 3.0), 500)
    t_sens = median_time(lambda: asy.sensitivity(r), 500)
    rows.append(("`sensitivity` of one `cs_svm` point (every output w.r.t. margins, γ, priors, Gram, δ) / the solve",
                 f"{t_sens * 1e6:.0f} µs / {t_solve * 1e6:.1f} µs (×{t_sens / t_solve:.0f}: NumPy overhead)"))
    deltas = np.geomspace(0.5, 50.0, 1000)
    r = asy.cs_svm(anti, 2.0, deltas)
    t_solve = median_time(lambda: asy.cs_svm(anti, 2.0, deltas), repeats) / deltas.size
    t_sens = median_time(lambda: asy.sensitivity(r), repeats) / deltas.size
    rows.append(("`sensitivity` of a 1,000-point `cs_svm` sweep / the sweep, per point",
                 f"{t_sens * 1e6:.2f} µs / {t_solve * 1e6:.2f} µs (×{t_sens / t_solve:.2f}; target ≤ 2)"))
    r = asy.gs_svm(GROUP, 2.0, np.geomspace(1.0, 50.0, 1000))
    t_solve = median_time(lambda: asy.gs_svm(GROUP, 2.0, np.geomspace(1.0, 50.0, 1000)), repeats) / 1000
    t_sens = median_time(lambda: asy.sensitivity(r), repeats) / 1000
    rows.append(("`sensitivity` of a 1,000-point `gs_svm` sweep (4 subgroups) / the sweep, per point",
                 f"{t_sens * 1e6:.2f} µs / {t_solve * 1e6:.2f} µs (×{t_sens / t_solve:.2f})"))
    r = asy.erm(GROUP, 1.5, "CE", 0.05)
    asy.sensitivity(r)
    t_solve = median_time(lambda: asy.erm(GROUP, 1.5, "CE", 0.05), max(repeats, 20))
    t_sens = median_time(lambda: asy.sensitivity(r), max(repeats, 20))
    rows.append(("`sensitivity` of one `erm` point (CE, 4 clusters; w.r.t. λ, γ, ω, ι, Δ) / the solve",
                 f"{t_sens * 1e3:.2f} ms / {t_solve * 1e3:.2f} ms (×{t_sens / t_solve:.2f})"))
    # deployment metrics (target: one performance call <= 2x the solve)
    for label, solve in (("one `cs_svm` point", lambda: asy.cs_svm(MODEL, 2.0, 3.0)),
                         ("one `erm` point (CE, 4 clusters)", lambda: asy.erm(GROUP, 1.5, "CE", 0.05))):
        r = solve()
        asy.performance(r)
        t_solve = median_time(solve, max(repeats, 20))
        t_perf = median_time(lambda: asy.performance(r), max(repeats, 20))
        rows.append((f"`performance` of {label} (AUC, AUPRC, rates) / the solve",
                     f"{t_perf * 1e3:.3f} ms / {t_solve * 1e3:.3f} ms (×{t_perf / t_solve:.2f}; target ≤ 2)"))
    fig3b = asy.GroupGMM(0.3, 0.05, [3.0, 0.0], [0.0, 3.0])
    asy.optimize_margins(fig3b, 2.0, "worst")
    t_opt = median_time(lambda: asy.optimize_margins(fig3b, 2.0, "worst"), repeats)
    o = asy.optimize_margins(fig3b, 2.0, "worst")
    grid = np.linspace(-1.0, 4.0, 26)               # log-margins of clusters 0-2, cluster 3 at 1
    xs = np.stack(np.meshgrid(grid, grid, grid, indexing="ij"), -1).reshape(-1, 3)
    marg = np.concatenate([np.exp(xs), np.ones((len(xs), 1))], 1)
    t = time.perf_counter()
    best = float(np.min(asy.max_margin(fig3b, 2.0, marg).errors.max(-1)))
    t_grid = time.perf_counter() - t
    rows.append(("`optimize_margins`: worst-group error over 4 subgroup margins (class prior 0.3, p = 0.05, γ = 2)",
                 f"{t_opt * 1e3:.0f} ms, worst = {o.value:.5f}, KKT {o.kkt:.0e}; dense grid of {len(xs):,} margin "
                 f"vectors as one sweep: {t_grid * 1e3:.0f} ms, worst = {best:.5f}"))
    anti5 = asy.LabelGMM.antipodal(0.05, 2.0)
    t_one = median_time(lambda: asy.optimize_margins(anti5, 2.0, "R_bal", margins="minority"), repeats)
    t_ds = median_time(lambda: asy.delta_star(anti5, 2.0), max(repeats, 50))
    rows.append(("`optimize_margins(..., \"R_bal\", margins=\"minority\")` (= δ⋆) / closed-form `delta_star`",
                 f"{t_one * 1e3:.1f} ms / {t_ds * 1e3:.2f} ms"))
    return rows


def main_job_rows():
    """CPU and wall seconds of the main job (full) and of --quick, in subprocesses."""
    import resource
    rows = []
    for label, extra in (("`python -m asymptotics` (full figures)", []), ("`python -m asymptotics --quick`", ["--quick"])):
        with tempfile.TemporaryDirectory() as out:
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "asymptotics", "--out", out, "--json", *extra], check=True,
                           capture_output=True, text=True)
            wall = time.perf_counter() - t
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows.append((f"main job: {label}", f"{wall:.1f} s wall, {cpu:.0f} CPU-s"))
    return rows


def simulation_rows(repeats):
    """Exact CS-SVM against scikit-learn's SVC(kernel="linear", C=1e8) on the
    same data, and normalised GD on the CDT loss."""
    from sklearn.svm import SVC
    from threadpoolctl import threadpool_limits

    from asymptotics.simulate import fit_max_margin, sample, train_vs, vs_preset

    def residual(X, y, m, w, b):
        return max(0.0, 1.0 - float(np.min(y * (X @ w + b) / m)))

    rows = []
    rng = np.random.default_rng(0)
    for n, d, reps in ((1000, 2000, repeats), (4000, 4000, 1)):
        s = sample(MODEL, n, d, rng)
        m = np.where(s.y > 0, 3.0, 1.0)   # CS-SVM, delta = 3
        ours = fit_max_margin(s.X, s.y, m)
        t_ours = median_time(lambda: fit_max_margin(s.X, s.y, m), reps)
        with threadpool_limits(limits=1):
            t_ours_1 = median_time(lambda: fit_max_margin(s.X, s.y, m), reps)
        svc = SVC(kernel="linear", C=1e8, tol=1e-6)
        # SVC has no per-class margins: solve delta = 1 and shift, as we do
        t_svc = median_time(lambda: svc.fit(s.X, s.y), reps)
        w1, b1 = svc.coef_[0], float(svc.intercept_[0])
        w_svc, b_svc = 2.0 * w1, 2.0 * b1 + 1.0
        cos = ours.w @ w_svc / np.linalg.norm(ours.w) / np.linalg.norm(w_svc)
        rows.append((f"exact CS-SVM n={n}, d={d}: ours (2 threads / 1 thread)",
                     f"{t_ours:.2f} s / {t_ours_1:.2f} s, margin violation {residual(s.X, s.y, m, ours.w, ours.b):.1e}"))
        rows.append((f"exact CS-SVM n={n}, d={d}: SVC(kernel='linear', C=1e8)",
                     f"{t_svc:.2f} s, margin violation {residual(s.X, s.y, m, w_svc, b_svc):.1e}, "
                     f"1 - cos(w, ours) {1 - cos:.1e}"))
    s = sample(MODEL, 100, 300, rng)
    loss = vs_preset("CDT", 0.1, 3.0)
    t_gd = median_time(lambda: train_vs(s.X, s.y, loss, method="normalized", lr=1.0, max_iter=100_000,
                                        gtol=1e-8), max(repeats, 5))
    res = train_vs(s.X, s.y, loss, method="normalized", lr=1.0, max_iter=100_000, gtol=1e-8)
    rows.append(("normalised GD, CDT loss, n=100, d=300, to ||grad L|| < 1e-8",
                 f"{t_gd * 1e3:.1f} ms ({res.iterations} steps)"))
    cs = fit_max_margin(s.X, s.y, np.where(s.y > 0, 3.0, 1.0), intercept=False)
    t_gd2 = median_time(lambda: train_vs(s.X, s.y, loss, lr=1.0, max_iter=4000, gtol=0), max(repeats, 3))
    res2 = train_vs(s.X, s.y, loss, lr=1.0, max_iter=4000, gtol=0, w_ref=cs.w)
    rows.append(("normalised GD, 4000 steps (terminal phase), angle to the CS-SVM",
                 f"{t_gd2 * 1e3:.0f} ms, angle {res2.history['angle'][-1]:.1e} rad"))
    return rows


def covariance_rows(repeats):
    """Per-point solve with a general covariance: a spectrum of 1,000 atoms."""
    from asymptotics.covariance import Spectrum

    rng = np.random.default_rng(0)
    atoms = np.exp(0.7 * rng.standard_normal(1000))
    spec = Spectrum(atoms, mean_eigenvalues=[1.0, 0.4, 3.0], weights=rng.dirichlet(np.ones(1000)))
    model = asy.LabelGMM(0.1, [3.0, 0.5, 0.0], [-0.5, 1.0, 1.5], covariance=spec)
    asy.cs_svm(model, 2.0, 3.0)
    gammas = iter(np.linspace(1.0, 3.0, 10_000))
    t_point = median_time(lambda: asy.cs_svm(model, next(gammas), 3.0), 50)
    t_thr = median_time(lambda: asy.separability_threshold(
        asy.LabelGMM(0.1, [3.0, 0.5, 0.0], [-0.5, 1.0, 1.5], covariance=spec)), repeats)
    rows = [("general covariance, 1,000-atom spectrum: per-point `cs_svm` (outer search over λ included)",
             f"{t_point * 1e3:.2f} ms"),
            ("general covariance, 1,000-atom spectrum: `separability_threshold`", f"{t_thr * 1e3:.2f} ms")]
    # regularised ERM on the same model: one cold point (no warm start) and a warm-started sweep
    iso = asy.LabelGMM(0.1, [3.0, 0.5, 0.0], [-0.5, 1.0, 1.5])
    for label, loss, lam in (("CE", "CE", 0.05), ("hinge", asy.HingeLoss(), 0.1)):
        asy.erm(model, 2.0, loss, lam)
        lams = iter(np.linspace(0.5 * lam, 2.0 * lam, 10_000))
        t_cov = median_time(lambda: asy.erm(model, 2.0, loss, next(lams)), 50)
        lams = iter(np.linspace(0.5 * lam, 2.0 * lam, 10_000))
        t_iso = median_time(lambda: asy.erm(iso, 2.0, loss, next(lams)), 50)
        res = asy.erm(model, 2.0, loss, lam)
        rows.append((f"ERM {label} (λ = {lam}) with the 1,000-atom spectrum, one cold point (target ≤ 2 ms) / "
                     "same model isotropic", f"{t_cov * 1e3:.2f} ms / {t_iso * 1e3:.2f} ms "
                     f"(residual {float(res.residual):.0e}, {int(res.iterations)} Newton it.)"))
    gam = np.linspace(1.0, 3.0, 200)
    asy.erm(model, gam, "CE", 0.05)
    t_sweep = median_time(lambda: asy.erm(model, gam, "CE", 0.05), repeats)
    rows.append(("ERM CE with the 1,000-atom spectrum, sweep of 200 γ (warm-started), per point",
                 f"{t_sweep / gam.size * 1e3:.3f} ms"))
    return rows


def erm_rows(repeats, quick):
    """Regularised ERM: one cold point through the engine and through the API,
    against the SciPy implementation of the same equations (the prototype's
    algorithm: damped fixed point + MINPACK polish, scripts/erm_scipy_baseline.py)
    on the same points, and the largest relative difference of q, b and the
    per-cluster errors."""
    sys.path.insert(0, os.path.dirname(__file__))
    from erm_scipy_baseline import solve as scipy_erm

    from asymptotics import _erm_engine
    from asymptotics.losses import HingeLoss, SquareLoss, resolve_loss

    anti = asy.LabelGMM.antipodal(0.1, 2.0)
    nonsep = asy.LabelGMM(0.1, [3.0, 0.0], [0.0, 1.5])
    gs = asy.separability_threshold(nonsep)
    k4 = asy.ClusterGMM([0.1, 0.2, 0.3, 0.4], [1, -1, 1, -1],
                        [[2.0, 0.0, 0.5], [0.0, 1.0, 0.0], [-0.5, 1.0, 1.0], [1.0, -1.0, 0.3]])
    cases = [("CE, K = 2, λ = 1e-3", anti, 2.0, "CE", 1e-3),
             ("CE, K = 2, λ = 1e-2", anti, 2.0, "CE", 1e-2),
             ("CE, K = 2, λ = 0.1", anti, 2.0, "CE", 0.1),
             ("CE, K = 2, λ = 1", anti, 2.0, "CE", 1.0),
             ("VS (δ = 3), K = 2, λ = 1e-3", anti, 2.0, ("VS", 3.0), 1e-3),
             ("CE, K = 4, λ = 1e-2", k4, 1.5, resolve_loss(asy.VSLoss(), k4), 1e-2),
             ("hinge Δ = (3, 1), K = 2, λ = 0.05", anti, 2.0, HingeLoss(Delta=[3.0, 1.0]), 0.05),
             ("square, K = 2, λ = 0.05", anti, 2.0, SquareLoss(), 0.05),
             ("CE, λ = 0 at γ = 0.6 γ⋆", nonsep, 0.6 * gs, "CE", 0.0),
             ("CE, λ = 0 at γ = 0.95 γ⋆", nonsep, 0.95 * gs, "CE", 0.0)]
    names = {0: "vs", 1: "hinge", 2: "square"}
    rows = []
    for label, model, gamma, loss, lam in cases:
        cl = resolve_loss(loss, model)
        A = np.ascontiguousarray(model.factor)
        n = A.shape[1] + 3
        args = (A, model.priors, model.labels, cl.kind, cl.omega, cl.iota, cl.Delta, np.array([gamma]),
                np.array([lam]), True, np.empty((1, n)), np.empty(1, dtype=np.int64), np.empty(1),
                np.empty(1, dtype=np.int64), None)
        _erm_engine.solve_sweep(*args)
        t_engine = median_time(lambda: _erm_engine.solve_sweep(*args), 5 * repeats)
        ours = asy.erm(model, gamma, cl, lam)
        t_api = median_time(lambda: asy.erm(model, gamma, cl, lam), 5 * repeats)
        kinds = [names[int(k)] for k in cl.kind]
        call = (lambda: scipy_erm(model.priors, model.labels, model.gram, gamma, lam, kinds, cl.omega, cl.iota,
                                  cl.Delta, True))
        base = call()
        t_base = median_time(call, 1 if quick else 3)
        exact = [base["q"], base["b"], *base["errors"]]
        fast = [float(ours.q), float(ours.b), *np.asarray(ours.errors)]
        diff = max(abs(f - e) / max(abs(e), 1e-300) for f, e in zip(fast, exact))
        rows.append((f"ERM {label}: engine / `erm` API / SciPy baseline",
                     f"{t_engine * 1e3:.3f} ms / {t_api * 1e3:.3f} ms / {t_base * 1e3:.0f} ms "
                     f"(×{t_base / t_engine:,.0f}; rel. diff {diff:.1e}; {int(ours.iterations)} Newton it.)"))
    lams = np.logspace(1, -8, 200)
    asy.erm(anti, 2.0, "CE", lams)
    t_sweep = median_time(lambda: asy.erm(anti, 2.0, "CE", lams), repeats)
    res = asy.erm(anti, 2.0, "CE", lams)
    rows.append(("ERM CE sweep along λ = 10 … 1e-8 (200 points, warm-started), per point",
                 f"{t_sweep / lams.size * 1e3:.3f} ms (max residual {np.max(res.residual):.1e}, "
                 f"max {int(np.max(res.iterations))} Newton it.)"))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    repeats = 3 if args.quick else 7
    n_base = 4 if args.quick else 12

    warnings.simplefilter("ignore", integrate.IntegrationWarning)
    cold, warm = cold_start()

    asy.cs_svm(MODEL, 2.0, 3.0)      # compile in this process
    g2, d2 = np.meshgrid(GAMMAS, DELTAS, indexing="ij")
    sweep = median_time(lambda: asy.cs_svm(MODEL, g2, d2), repeats)
    per_point_sweep = sweep / g2.size
    iters = asy.cs_svm(MODEL, g2, d2).iterations

    asy.gs_svm(GROUP, 2.0, 3.0)
    gg, gd = np.meshgrid(np.geomspace(1.05 * asy.separability_threshold(GROUP), 20.0, 100), DELTAS, indexing="ij")
    group_sweep = median_time(lambda: asy.gs_svm(GROUP, gg, gd), repeats) / gg.size
    group_iters = asy.gs_svm(GROUP, gg, gd).iterations
    group_single = median_time(lambda: asy.gs_svm(GROUP, 2.0, 3.0), 200)
    deo_time = median_time(lambda: asy.delta_equal_opportunity(GROUP, 2.0), repeats)

    single_api = median_time(lambda: asy.cs_svm(MODEL, 2.0, 3.0), 200)
    A, pri, lab = MODEL.factor, MODEL.priors, MODEL.labels
    g1, m1 = np.array([2.0]), np.array([[3.0, 1.0]])
    single_engine = median_time(lambda: _engine.solve_sweep(A, pri, lab, g1, m1, True, 200, 1000), 200)

    rng = np.random.default_rng(0)
    idx = rng.choice(g2.size, n_base, replace=False)
    pts = [(float(g2.flat[i]), float(d2.flat[i])) for i in idx]

    base_times, mp_times, base_diff, mp_diff = [], [], 0.0, 0.0
    for gamma, delta in pts:
        ours = asy.cs_svm(MODEL, gamma, delta)
        t = time.perf_counter()
        q, rho, b = scipy_nested(MODEL, gamma, delta)
        base_times.append(time.perf_counter() - t)
        err_b = _errors(MODEL, rho, b / q)
        base_diff = max(base_diff, abs(q - ours.q) / ours.q,
                        *(abs(e - o) / o for e, o in zip(err_b, (ours.R_plus, ours.R_minus))))
        t = time.perf_counter()
        r = reference.solve(MODEL.priors, MODEL.labels, MODEL.gram, [delta, 1.0], gamma)
        mp_times.append(time.perf_counter() - t)
        exact = [r["q"], r["beta"], *r["errors"]]
        fast = [ours.q, ours.b / ours.q, ours.R_plus, ours.R_minus]
        mp_diff = max(mp_diff, *(float(abs(f - e) / abs(e)) for f, e in zip(fast, exact)))

    base = statistics.median(base_times)
    mpt = statistics.median(mp_times)
    us = 1e6
    print(f"Label model: LabelGMM(prior=0.1, |mu+|=4, |mu-|=2, orthogonal), intercept on; group model: "
          f"GroupGMM(class_prior=0.3, group_prior=0.05, mu_1=(2,0), mu_2=(1,1.5)), gamma from 1.05 gamma* to 20; "
          f"{g2.size}-point sweep gamma in [0.05, 20] x delta in [0.1, 100]; "
          f"baselines on {n_base} random points of the sweep; medians of {repeats} repeats.\n")
    print("| measurement | value |")
    print("|---|---|")
    print(f"| sweep, per point (10,000 points, warm-started) | {per_point_sweep * us:.2f} µs |")
    print(f"| sweep, Newton iterations per point (median / max) | {int(np.median(iters))} / {int(iters.max())} |")
    print(f"| single point after JIT, `cs_svm` (API) | {single_api * us:.1f} µs |")
    print(f"| single point after JIT, raw engine | {single_engine * us:.1f} µs |")
    print(f"| GS-SVM sweep, per point (10,000 points, 4 subgroups) | {group_sweep * us:.2f} µs |")
    print(f"| GS-SVM sweep, Newton iterations per point (median / max) | {int(np.median(group_iters))} / {int(group_iters.max())} |")
    print(f"| GS-SVM single point after JIT, `gs_svm` (API) | {group_single * us:.1f} µs |")
    print(f"| `delta_equal_opportunity` (97-point grid + Brent) | {deo_time * 1e3:.1f} ms |")
    for (name, _), c, w in zip(COLD_STEPS, cold, warm):
        print(f"| cold start, fresh Numba cache: {name} (warm cache) | {c:.2f} s ({w:.2f} s) |")
    print(f"| cold start: whole first session without ERM (label, threshold, sweep, group, covariance) | "
          f"{sum(cold[:6]):.1f} s (target ≤ 15 s; import target ≤ 0.5 s, first `cs_svm` ≤ 4 s) |")
    print(f"| (i) SciPy nested formulation, per point | {base * 1e3:.0f} ms |")
    print(f"| speed-up over (i), sweep per point | {base / per_point_sweep:,.0f}x |")
    print(f"| speed-up over (i), single point via API | {base / single_api:,.0f}x |")
    print(f"| (i) largest relative difference to ours (q, R+, R-) | {base_diff:.1e} |")
    print(f"| (ii) mpmath reference (40 digits), per point | {mpt * 1e3:.0f} ms |")
    print(f"| (ii) largest relative difference to ours (q, b/q, R+, R-) | {mp_diff:.1e} |")
    extra = speed_rows(repeats) + sensitivity_rows(repeats) + erm_rows(repeats, args.quick) + covariance_rows(repeats) + simulation_rows(repeats)
    if not args.quick:
        extra += main_job_rows()
    for name, value in extra:
        print(f"| {name} | {value} |")


if __name__ == "__main__":
    main()
