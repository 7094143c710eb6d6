r"""General covariance :math:`\Sigma \ne I`: the max-margin asymptotics beyond
isotropic features (derivation and checks in ``docs/covariance.md``).

Data: cluster k has ``x = mu_k + Sigma^{1/2} h``.  The CGMT auxiliary problem
is solved by classifiers of the form :math:`w = A(M\nu + \alpha'\Sigma^{1/2}g)`
with :math:`A = (I + \lambda\Sigma)^{-1}`, and (docs/covariance.md §3) the limit is

.. math::

    \min_{\lambda \ge 0}\ \min_{\alpha, \nu, b}\ \|w\|^2 = \gamma T\alpha^2 + \nu^T K_{A^2}\nu
    \quad\text{s.t.}\quad \sqrt{L} \le \alpha\gamma P,\qquad
    L = \sum_k \pi_k \tau^2 F\Big(\frac{y_k(m_k + b) - \Delta_k}{\tau}\Big),

with :math:`\tau^2 = \gamma Q_2\alpha^2 + \nu^T K_{SA}\nu` (the variance of the
score :math:`w\cdot x` within a cluster), :math:`m = K_A\nu`,
:math:`P = \mathrm{tr}(\Sigma A)/d`, :math:`Q_2 = \mathrm{tr}(\Sigma^2A^2)/d`,
:math:`T = \mathrm{tr}(\Sigma A^2)/d`, :math:`K_A = M^TAM`,
:math:`K_{SA} = M^TA\Sigma AM`, :math:`K_{A^2} = M^TA^2M`; errors
:math:`R_k = Q(y_k(m_k + b)/\tau)`.

Why it reuses the isotropic engine.  For fixed :math:`\lambda`, normalise by
the score scale: :math:`u = 1/\tau`, :math:`\beta = b/\tau`, and
:math:`\rho = K_{SA}^{1/2}\hat\nu` with :math:`\hat\nu = \nu/\tau`.  Then
:math:`\gamma Q_2\hat\alpha^2 = 1 - \|\rho\|^2` and the constraint is
*exactly* the isotropic one of docs/theory.md §2,

.. math:: H(\rho, \beta, u) = \sum_k\pi_k F\big(y_k((\tilde A\rho)_k + \beta) - \Delta_k u\big)
          + \gamma_{eff}(\|\rho\|^2 - 1) \le 0,\qquad
          \tilde A = K_A K_{SA}^{+1/2},\quad \gamma_{eff} = \gamma P^2/Q_2,

while the objective becomes :math:`\|w\|^2 = N(\rho)/u^2` with
:math:`N(\rho) = (T/Q_2)(1 - \|\rho\|^2) + \rho^T E\rho`,
:math:`E = K_{SA}^{+1/2}K_{A^2}K_{SA}^{+1/2}`.  For :math:`\Sigma = I`,
:math:`N \equiv 1` and :math:`\lambda` drops out: the isotropic engine.  In
general the fixed-:math:`\lambda` problem (convex in the original
variables: :math:`\sqrt{E[(\tau G + t)_-^2]}` is jointly convex and
nondecreasing in :math:`\tau`) has the KKT system

.. math:: \nabla_x H + \kappa\nabla_x N = 0,\quad H = 0,\qquad
          \kappa = \frac{u\,\partial_u H}{2N},

solved by damped Newton from the isotropic engine's solution (the
:math:`\kappa = 0` problem); the outer minimisation over :math:`\lambda` is
a grid in :math:`\log\lambda` refined by Brent's method.  The errors,
:math:`R_k = Q(y_k((\tilde A\rho)_k + \beta))`, are the isotropic formula.

The separability threshold follows the same way: at :math:`u = 0` only the
constraint matters, so
:math:`\gamma_\star = \min_\lambda (Q_2/P^2)\,\gamma_\star^{iso}(\tilde A(\lambda))`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from ._jit import kernel

from . import _engine
from ._validation import finite_array
from .errors import ConvergenceError, NotSeparableError
from .gaussian import kernels_scalar
from .results import build_max_margin

__all__ = ["Spectrum"]


@dataclass(frozen=True, eq=False)
class Spectrum:
    r"""A covariance given by its spectrum, for models whose means are given in
    the covariance's eigenbasis.

    Parameters
    ----------
    eigenvalues : array_like (J,)
        Atoms of the spectral distribution of :math:`\Sigma` (all > 0).
    weights : array_like (J,), optional
        Their masses (summing to 1); uniform by default.
    mean_eigenvalues : array_like (L,)
        The eigenvalue of :math:`\Sigma` along each of the L eigen-directions
        in which the mean vectors are given (the means' coordinates are
        eigenbasis coordinates).  These L directions are a vanishing fraction
        of d and do not change the traces.
    """

    eigenvalues: np.ndarray
    mean_eigenvalues: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self):
        eig = np.atleast_1d(finite_array(self.eigenvalues, "eigenvalues"))
        if eig.ndim != 1 or eig.size == 0 or np.any(eig <= 0):
            raise ValueError("eigenvalues must be a non-empty vector of positive numbers")
        w = np.full(eig.size, 1.0 / eig.size) if self.weights is None else np.atleast_1d(
            finite_array(self.weights, "weights"))
        if w.shape != eig.shape or np.any(w < 0) or abs(w.sum() - 1) > 1e-9:
            raise ValueError("weights must be non-negative, one per eigenvalue, summing to 1")
        me = np.atleast_1d(finite_array(self.mean_eigenvalues, "mean_eigenvalues"))
        if me.ndim != 1 or me.size == 0 or np.any(me <= 0):
            raise ValueError("mean_eigenvalues must be a non-empty vector of positive numbers")
        _check_spectrum_range(np.concatenate([eig, me]), "eigenvalues and mean_eigenvalues")
        w = w / w.sum()
        for arr in (eig, w, me):
            arr.setflags(write=False)
        object.__setattr__(self, "eigenvalues", eig)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "mean_eigenvalues", me)

    def __eq__(self, other):
        """Value equality of the three arrays (not numpy's ambiguous truth value)."""
        if not isinstance(other, Spectrum):
            return NotImplemented
        from .results import same
        return same(self, other)

    def __hash__(self) -> int:
        return hash((self.eigenvalues.tobytes(), self.mean_eigenvalues.tobytes(), self.weights.tobytes()))

    def __setstate__(self, state):
        # unpickled (or deep-copied) arrays come back writable: read-only again, values untouched
        self.__dict__.update(state)
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)


# Supported covariance spectra: eigenvalues within this range and this condition number (beyond,
# the traces and the reduced factor over- or underflow).
EIG_RANGE = (1e-100, 1e100)
MAX_CONDITION = 1e12


def _check_spectrum_range(vals: np.ndarray, name: str) -> None:
    lo, hi = float(vals.min()), float(vals.max())
    if lo < EIG_RANGE[0] or hi > EIG_RANGE[1]:
        raise ValueError(f"covariance: {name} must lie in [{EIG_RANGE[0]:g}, {EIG_RANGE[1]:g}], got {lo:.3g} ... "
                         f"{hi:.3g} (rescale the features)")
    if hi > MAX_CONDITION * lo:
        raise ValueError(f"covariance: condition number {hi / lo:.3g} above the supported {MAX_CONDITION:g}")


@dataclass(frozen=True)
class CovarianceData:
    """What the solver needs: spectral atoms and weights for the traces, the
    means in the eigenbasis (K x L) and Sigma's eigenvalue along each of those
    L directions; plus Sigma^{1/2} information for simulation."""

    atoms: np.ndarray
    weights: np.ndarray
    means: np.ndarray
    mean_eigs: np.ndarray
    matrix: np.ndarray | None      # the d x d Sigma when given as a matrix
    spectrum: Spectrum | None


def prepare(covariance, means: np.ndarray) -> CovarianceData:
    """Validate ``covariance`` (a d x d matrix or a Spectrum) against the
    cluster means (K x L) and bring both to the eigenbasis."""
    if isinstance(covariance, Spectrum):
        if means.shape[1] != covariance.mean_eigenvalues.size:
            raise ValueError(f"covariance: the means have {means.shape[1]} coordinates but mean_eigenvalues "
                             f"has {covariance.mean_eigenvalues.size}")
        return CovarianceData(covariance.eigenvalues, covariance.weights, means.copy(),
                              covariance.mean_eigenvalues, None, covariance)
    S = finite_array(covariance, "covariance", ndim=2)
    d = S.shape[0]
    if S.shape != (d, d):
        raise ValueError(f"covariance must be square, got shape {S.shape}")
    if np.abs(S - S.T).max() > 1e-12 * max(np.abs(S).max(), 1e-300):
        raise ValueError("covariance must be symmetric")
    S = 0.5 * (S + S.T)
    vals, vecs = np.linalg.eigh(S)
    if not vals.min() > 0:
        raise ValueError("covariance must be positive definite")
    _check_spectrum_range(vals, "its eigenvalues")
    if means.shape[1] > d:
        raise ValueError(f"the means have {means.shape[1]} coordinates, more than the covariance's {d}")
    full = np.zeros((means.shape[0], d))
    full[:, : means.shape[1]] = means
    return CovarianceData(vals, np.full(d, 1.0 / d), full @ vecs, vals, S, None)


@kernel()
def _quantities(lam, atoms, weights, Mt, mean_eigs):
    """Traces P, Q2, T and the reduced factor A~, gamma factor P^2/Q2, N's
    constant T/Q2 and matrix E at ridge parameter lam (module docstring)."""
    P = 0.0
    Q2 = 0.0
    T = 0.0
    for j in range(atoms.shape[0]):
        s = atoms[j]
        a = 1.0 / (1.0 + lam * s)
        P += weights[j] * s * a
        Q2 += weights[j] * s * s * a * a
        T += weights[j] * s * a * a
    K, L = Mt.shape
    KA = np.zeros((K, K))
    KSA = np.zeros((K, K))
    KA2 = np.zeros((K, K))
    for l in range(L):
        s = mean_eigs[l]
        a = 1.0 / (1.0 + lam * s)
        for i in range(K):
            for j in range(K):
                mm = Mt[i, l] * Mt[j, l]
                KA[i, j] += a * mm
                KSA[i, j] += s * a * a * mm
                KA2[i, j] += a * a * mm
    vals, vecs = np.linalg.eigh(KSA)
    top = max(vals.max(), 0.0)
    Sp = np.zeros((K, K))          # pseudo-inverse square root of K_SA
    for i in range(K):
        if vals[i] > top * K * 1e-14 and vals[i] > 0.0:
            c = 1.0 / math.sqrt(vals[i])
            for p in range(K):
                for q in range(K):
                    Sp[p, q] += c * vecs[p, i] * vecs[q, i]
    At = KA @ Sp
    E = Sp @ KA2 @ Sp
    return P, Q2, T, np.ascontiguousarray(At), E


@kernel()
def _kkt(A, pri, lab, marg, geff, intercept, aN, E, x, u, F, J):
    """Fill F = (grad_x H + kappa grad_x N, H) and its Jacobian J in (x, u);
    return N(rho)."""
    K, r = A.shape
    m = x.shape[0]
    g = np.zeros(m)
    Hxx = np.zeros((m, m))
    Hxu = np.zeros(m)
    H = 0.0
    Hu = 0.0
    Huu = 0.0
    ak = np.empty(m)
    targs = _engine.cluster_arguments(A, lab, marg, intercept, x, u)
    for k in range(K):
        f, f1, f2 = kernels_scalar(targs[k])
        pk = pri[k]
        H += pk * f
        Hu -= pk * marg[k] * f1
        Huu += pk * marg[k] * marg[k] * f2
        for i in range(r):
            ak[i] = lab[k] * A[k, i]
        if intercept:
            ak[r] = lab[k]
        for i in range(m):
            g[i] += pk * f1 * ak[i]
            Hxu[i] -= pk * f2 * marg[k] * ak[i]
            for j in range(m):
                Hxx[i, j] += pk * f2 * ak[i] * ak[j]
    rr = 0.0
    for i in range(r):
        rr += x[i] * x[i]
        g[i] += 2.0 * geff * x[i]
        Hxx[i, i] += 2.0 * geff
    H += geff * (rr - 1.0)
    # N(rho) = aN (1 - |rho|^2) + rho^T E rho and its derivatives
    N = aN * (1.0 - rr)
    gN = np.zeros(m)
    HN = np.zeros((m, m))
    for i in range(r):
        Ei = 0.0
        for j in range(r):
            Ei += E[i, j] * x[j]
            HN[i, j] = 2.0 * E[i, j]
        N += x[i] * Ei
        gN[i] = 2.0 * (Ei - aN * x[i])
        HN[i, i] -= 2.0 * aN
    kappa = u * Hu / (2.0 * N)
    dk_u = (Hu + u * Huu) / (2.0 * N)
    dk = np.empty(m)              # d kappa / d x
    for i in range(m):
        dk[i] = u * Hxu[i] / (2.0 * N) - u * Hu * gN[i] / (2.0 * N * N)
    for i in range(m):
        F[i] = g[i] + kappa * gN[i]
        for j in range(m):
            J[i, j] = Hxx[i, j] + kappa * HN[i, j] + gN[i] * dk[j]
        J[i, m] = Hxu[i] + dk_u * gN[i]
        J[m, i] = g[i]
    F[m] = H
    J[m, m] = Hu
    return N


@kernel()
def _newton(A, pri, lab, marg, geff, intercept, aN, E, x, u, max_iter):
    """Damped Newton on the fixed-lambda KKT system from (x, u) in place.
    Returns (u, N, iterations, residual, ok); residual = max|F| / geff."""
    m = x.shape[0]
    F = np.empty(m + 1)
    J = np.empty((m + 1, m + 1))
    Ft = np.empty(m + 1)
    Jt = np.empty((m + 1, m + 1))
    N = _kkt(A, pri, lab, marg, geff, intercept, aN, E, x, u, F, J)
    res = np.max(np.abs(F)) / geff
    it = 0
    while it < max_iter:
        if res <= 1e-14:
            break
        dz = np.linalg.solve(J, -F)
        step = 1.0
        improved = False
        for _ in range(40):
            xt = x + step * dz[:m]
            ut = u + step * dz[m]
            if ut > 0.0:
                Nt = _kkt(A, pri, lab, marg, geff, intercept, aN, E, xt, ut, Ft, Jt)
                rt = np.max(np.abs(Ft)) / geff
                if Nt > 0.0 and rt < (1.0 - 1e-4 * step) * res:
                    x[:] = xt
                    u = ut
                    F[:] = Ft
                    J[:, :] = Jt
                    N = Nt
                    res = rt
                    improved = True
                    break
            step *= 0.5
        it += 1
        if not improved:
            break
    return u, N, it, res, res <= 1e-9


@kernel()
def solve_lambda(lam, atoms, weights, Mt, mean_eigs, pri, lab, marg, gamma, intercept, x, u0, max_inner):
    """Solve the fixed-lambda problem.  Returns (V = |w|^2, u, N, iterations,
    residual, status); x (length K + intercept) holds the start and the
    solution; u0 <= 0 asks for a cold start from the isotropic engine."""
    P, Q2, T, At, E = _quantities(lam, atoms, weights, Mt, mean_eigs)
    geff = gamma * P * P / Q2
    aN = T / Q2
    its = 0
    if not u0 > 0.0:
        work = _engine._make_work(At.shape[0], At.shape[1], x.shape[0])
        for i in range(x.shape[0]):
            x[i] = 0.0
        u0, its, res0, st = _engine.solve_point(At, pri, lab, marg, geff, intercept, x, 0.0, 200, max_inner, work)
        if st != _engine.OK:
            return np.inf, 0.0, 0.0, its, np.inf, st
    u, N, it, res, ok = _newton(At, pri, lab, marg, geff, intercept, aN, E, x, u0, 100)
    if not ok:
        return np.inf, u, N, its + it, res, _engine.NOT_CONVERGED
    return N / (u * u), u, N, its + it, res, _engine.OK


@kernel()
def ridge_map(lam, atoms, weights, Mt, mean_eigs, pri, lab, marg, gamma, intercept, x, u):
    """Phi(lam) = eta L_tau / (2 sqrt L) at the fixed-lambda solution (x, u):
    the ridge parameter that the optimality of w itself asks for
    (docs/covariance.md); the optimal lambda is a fixed point Phi = lam."""
    P, Q2, T, At, E = _quantities(lam, atoms, weights, Mt, mean_eigs)
    K, r = At.shape
    rr = 0.0
    for i in range(r):
        rr += x[i] * x[i]
    tau = 1.0 / u
    alpha = tau * math.sqrt(max(1.0 - rr, 0.0) / (gamma * Q2))
    fsum = 0.0
    ls = 0.0
    targs = _engine.cluster_arguments(At, lab, marg, intercept, x, u)
    for k in range(K):
        t = targs[k]
        f, f1, _ = kernels_scalar(t)
        fsum += pri[k] * f
        ls += pri[k] * (f - 0.5 * t * f1)
    sqrtL = tau * math.sqrt(fsum)
    eta = 2.0 * T * alpha / (P - Q2 * alpha * ls / sqrtL)
    return eta * ls / (2.0 * sqrtL)


@kernel()
def threshold_lambda(lam, atoms, weights, Mt, mean_eigs, pri, lab, intercept, max_inner):
    """(Q2/P^2) * isotropic gamma_star of the reduced factor at lam."""
    P, Q2, T, At, E = _quantities(lam, atoms, weights, Mt, mean_eigs)
    gs, x, it, st = _engine.threshold(At, pri, lab, intercept, 200, max_inner)
    return gs * Q2 / (P * P), st


def _minimise_over_lambda(fun, scale: float, grid_points: int = 25):
    """Minimise fun(lam) over lam >= 0: a grid in log(lam) over 16 decades
    around 1/scale (plus lam = 0), then Brent's method in the best bracket."""
    from scipy.optimize import minimize_scalar

    thetas = np.linspace(-8.0, 8.0, grid_points) * math.log(10.0) - math.log(scale)
    values = np.array([fun(math.exp(t)) for t in thetas])
    i = int(np.argmin(values))
    if not np.isfinite(values[i]):
        return None, np.inf
    if i == 0:
        v0 = fun(0.0)
        if v0 <= values[0]:
            return 0.0, v0
        lo, hi = thetas[0] - 10.0, thetas[1]
    elif i == len(thetas) - 1:
        return math.exp(thetas[-1]), values[-1]
    else:
        lo, hi = thetas[i - 1], thetas[i + 1]
    res = minimize_scalar(lambda t: fun(math.exp(t)), bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-10})
    best_t, best_v = (res.x, res.fun) if res.fun <= values[i] else (thetas[i], values[i])
    return math.exp(best_t), best_v


def _mean_atom(cov: CovarianceData) -> float:
    return float(np.sum(cov.atoms * cov.weights))


def covariance_threshold(model, intercept: bool, max_inner: int) -> float:
    """gamma_star = min over lambda of (Q2/P^2) gamma_star_iso(A~(lambda))."""
    cov = model._cov

    def fun(lam):
        gs, st = threshold_lambda(lam, cov.atoms, cov.weights, cov.means, cov.mean_eigs, model._kernel_args[1],
                                  model._kernel_args[2], intercept, max_inner)
        return gs if st == _engine.OK else np.inf

    lam, value = _minimise_over_lambda(fun, _mean_atom(cov))
    if lam is None or not np.isfinite(value):
        raise ConvergenceError("covariance separability threshold did not converge")
    return float(value)


def _phi(sol, cov, model, marg, gamma, intercept):
    return ridge_map(sol["lam"], cov.atoms, cov.weights, cov.means, cov.mean_eigs, model._kernel_args[1],
                     model._kernel_args[2], marg, gamma, intercept, sol["x"], sol["u"])


def fun_value(fun, best, lam):
    """V(lam) without letting the probe replace the incumbent solution."""
    saved = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in best.items()}
    value = fun(lam)
    best.clear()
    best.update(saved)
    return value


def _polish_lambda(best, cov, model, marg, gamma, intercept, max_inner, state, tol=1e-14, steps=20):
    """Refine the minimiser of V(lambda), which a search on V can only place to
    ~sqrt(eps) (V is flat there), by the optimality condition of w itself,
    lambda = Phi(lambda) (:func:`ridge_map`): secant iterations on
    Phi(lambda) - lambda, well conditioned (|Phi'| << 1 in practice); kept only
    while they shrink |Phi - lambda|."""
    def phi(sol):
        return _phi(sol, cov, model, marg, gamma, intercept)

    g_best = phi(best) - best["lam"]
    prev = None
    for _ in range(steps):
        if abs(g_best) <= tol * max(best["lam"], 1e-300) or best["lam"] == 0.0:
            return
        if prev is None or prev[1] == g_best:
            lam_new = best["lam"] + g_best                    # fixed-point step
        else:
            slope = (g_best - prev[1]) / (best["lam"] - prev[0])
            lam_new = best["lam"] - g_best / slope
        if not lam_new > 0:
            return
        x = best["x"].copy()
        V, u, Nv, it, res, st = solve_lambda(lam_new, cov.atoms, cov.weights, cov.means, cov.mean_eigs,
                                             model._kernel_args[1], model._kernel_args[2], marg, gamma, intercept,
                                             x, best["u"], max_inner)
        state["iters"] += it
        if st != _engine.OK:
            return
        cand = dict(V=V, u=u, N=Nv, x=x, res=res, lam=lam_new)
        g_new = phi(cand) - lam_new
        if abs(g_new) >= abs(g_best):
            return
        prev = (best["lam"], g_best)
        best.update(cand)
        g_best = g_new


def covariance_max_margin(model, g_flat, m_flat, shape, intercept, on_nonseparable, max_inner, gamma_star):
    """max_margin for a model with a covariance (module docstring); ``gamma_star``
    is the model's separability threshold (the solver's cached value)."""
    cov = model._cov
    K = model.n_clusters
    m = K + (1 if intercept else 0)
    N_pts = g_flat.size
    gs = gamma_star
    out = {k: np.full(N_pts, np.nan) for k in ("u", "N", "res", "lam")}
    xs = np.full((N_pts, m), np.nan)
    proj = np.full((N_pts, K), np.nan)
    iters = np.zeros(N_pts, dtype=np.int64)
    sep = g_flat > gs
    if not sep.all() and on_nonseparable == "raise":
        i = int(np.argmax(~sep))
        raise NotSeparableError(g_flat[i], gs, intercept)
    scale = _mean_atom(cov)
    for n in np.flatnonzero(sep):
        gamma, marg = float(g_flat[n]), np.ascontiguousarray(m_flat[n])
        state = {"x": np.zeros(m), "u": 0.0, "iters": 0}
        best = {}

        def fun(lam):
            for start in ((state["x"], state["u"]), (np.zeros(m), 0.0)):
                x = start[0].copy()
                V, u, Nv, it, res, st = solve_lambda(lam, cov.atoms, cov.weights, cov.means, cov.mean_eigs,
                                                     model._kernel_args[1], model._kernel_args[2], marg, gamma,
                                                     intercept, x, start[1], max_inner)
                state["iters"] += it
                if st == _engine.OK:
                    state.update(x=x, u=u)
                    if V < best.get("V", np.inf):
                        best.update(V=V, u=u, N=Nv, x=x.copy(), res=res, lam=lam)
                    return V
            return np.inf

        # Fast path: the fixed point lambda = Phi(lambda) from lambda = 1/mean
        # eigenvalue, accepted only if |w|^2 is larger on both sides of it.
        fun(1.0 / scale)
        if "V" in best:
            _polish_lambda(best, cov, model, marg, gamma, intercept, max_inner, state, tol=1e-14, steps=40)
        lam0 = best.get("lam", 0.0)
        fast = ("V" in best and lam0 > 0 and abs(_phi(best, cov, model, marg, gamma, intercept) - lam0) <= 1e-12 * lam0
                and all(fun_value(fun, best, lam0 * f) >= best["V"] * (1 - 1e-13) for f in (0.97, 1.03)))
        if not fast:
            # Robust path: grid in log lambda, Brent, then the same polish.
            lam, V = _minimise_over_lambda(fun, scale)
            if lam is None or "V" not in best:
                raise ConvergenceError(f"covariance max-margin solve failed at gamma = {gamma:.6g}, "
                                       f"margins = {marg.tolist()}", iterations=state["iters"])
            _polish_lambda(best, cov, model, marg, gamma, intercept, max_inner, state)
        xs[n] = best["x"]
        out["u"][n], out["N"][n], out["res"][n], out["lam"][n] = best["u"], best["N"], best["res"], best["lam"]
        iters[n] = state["iters"]
        _, _, _, At, _ = _quantities(best["lam"], cov.atoms, cov.weights, cov.means, cov.mean_eigs)
        proj[n] = At @ best["x"][:K]
    u = out["u"]
    beta = xs[:, K] if intercept else np.where(sep, 0.0, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        q = np.sqrt(out["N"]) / u
        tau = 1.0 / u
    status = np.where(sep, _engine.OK, _engine.NOT_SEPARABLE)
    # rho in the factor basis of the Euclidean Gram (the result's contract), from the projections
    return build_max_margin(model, g_flat, m_flat, shape, intercept, q, beta * tau, proj, beta, out["res"], iters,
                            status, tau=tau, ridge=out["lam"])
