"""Plain numpy/scipy solver of the ERM fixed-point system (docs/erm.md; the prototype algorithm).

This is a *baseline*, not part of the ``asymptotics`` package.  It is a straightforward
implementation of the prototype algorithm of docs/erm.md §5 (plain numpy/scipy),
written to be the honest "SciPy implementation of the same equations" that the package's compiled
ERM engine is benchmarked against (speed), and a loose (~1e-6) independent cross-check of it.
It deliberately shares no code with the package and is not tuned beyond vectorised numpy.

Model (docs/erm.md §1): clusters k = 1..K with priors pi_k, labels y_k = +-1, Gram matrix of the
means Sigma; estimator argmin (1/n) sum_i l_k(y_i (w.x_i + b)) + lam/2 ||w||^2, d/n = gamma, with
per-cluster losses
    "vs"     l(t) = omega log(1 + exp(iota - Delta t))    (CE: omega = 1, iota = 0, Delta = 1)
    "hinge"  l(t) = omega (Delta - t)_+
    "square" l(t) = omega (Delta - t)^2 / 2.
Unknowns (c in R^K, alpha, b, V); equations (S1)-(S4) of docs/erm.md §2.

Algorithm (the prototype algorithm of docs/erm.md §5):
* Gaussian expectations: closed forms for hinge and square; for VS, the prox is found by a vectorised
  safeguarded Newton in u (u + A sigmoid(u) = B, bracket [B - A, B], bisection when a step leaves the
  bracket or fails to halve), started at the root of a piecewise-linear surrogate, and E over G is
  the trapezoidal rule on [-10, 10] with step h = min(0.05, 0.5/(q Delta_max)).
* existence guard for lam = 0 (square: gamma < 1; otherwise gamma < gamma*, docs/erm.md §4);
* damped fixed point (damping 1/2, V geometric), replica ordering, b from (S4) by a safeguarded 1-D
  Newton root, until relative change 1e-6 or 400 sweeps;
* polish by scipy.optimize.root(method="hybr") on the full residual in (c, log alpha, b, log V);
  if the residual is still above 1e-11, a second fixed-point pass (tolerance 1e-11) and polish.

Usage:  from erm_scipy_baseline import solve   (run this file for a small self-check).
"""
from __future__ import annotations

import numpy as np
from scipy import optimize
from scipy.special import expit, ndtr

_SQRT2PI = np.sqrt(2.0 * np.pi)


def _phi(x):
    return np.exp(-0.5 * x * x) / _SQRT2PI


# --------------------------------------------------------------------------- moments
def _vs_prox_u(A, B):
    """Root u of u + A expit(u) = B (A >= 0, broadcasting arrays), safeguarded Newton."""
    lo = B - A
    hi = B.copy()
    # start: root of the piecewise-linear surrogate  sigmoid ~ clip((u + 2)/4, 0, 1)
    u = np.where(B <= -2.0, B, np.where(B - A >= 2.0, B - A, (B - 0.5 * A) / (1.0 + 0.25 * A)))
    u = np.clip(u, lo, hi)
    old_step = np.full_like(u, np.inf)
    for _ in range(100):
        s = expit(u)
        f = u + A * s - B
        fp = 1.0 + A * s * expit(-u)
        lo = np.where(f < 0.0, u, lo)
        hi = np.where(f > 0.0, u, hi)
        step = f / fp
        un = u - step
        bad = (un < lo) | (un > hi) | (np.abs(step) > 0.5 * np.abs(old_step))
        un = np.where(bad, 0.5 * (lo + hi), un)
        old_step = u - un
        u = un
        if np.all(np.abs(old_step) <= 1e-14 * (1.0 + np.abs(u))):
            break
    return u


class _Problem:
    def __init__(self, priors, labels, gram, gamma, lam, kinds, omega, iota, Delta, intercept):
        self.pi = np.asarray(priors, float)
        K = self.pi.size
        self.K = K
        self.y = np.asarray(labels, float).reshape(K)
        self.gram = np.asarray(gram, float).reshape(K, K)
        self.gamma = float(gamma)
        self.lam = float(lam)
        if isinstance(kinds, str):
            kinds = [kinds] * K
        self.kinds = [str(k).lower() for k in kinds]
        if len(self.kinds) != K or any(k not in ("vs", "hinge", "square") for k in self.kinds):
            raise ValueError("kinds must be 'vs', 'hinge' or 'square' (one per cluster)")
        self.omega = np.broadcast_to(np.asarray(omega, float), (K,)).copy()
        self.iota = np.broadcast_to(np.asarray(iota, float), (K,)).copy()
        self.Delta = np.broadcast_to(np.asarray(Delta, float), (K,)).copy()
        self.intercept = bool(intercept)
        kinds_arr = np.array(self.kinds)
        self.vs = np.flatnonzero(kinds_arr == "vs")
        self.hi = np.flatnonzero(kinds_arr == "hinge")
        self.sq = np.flatnonzero(kinds_arr == "square")
        self.nmom = 0  # number of moment evaluations

    # E[-l'(P)], E[l'(P)^2], E[1 - P'] for every cluster, at C_k = y_k (m_k + b)
    def moments(self, C, q, V):
        self.nmom += 1
        e1 = np.empty(self.K)
        e2 = np.empty(self.K)
        ed = np.empty(self.K)
        om, De = self.omega, self.Delta
        if self.sq.size:
            i = self.sq
            k = 1.0 + V * om[i]
            s = De[i] - C[i]
            e1[i] = om[i] * s / k
            e2[i] = om[i] ** 2 * (s * s + q * q) / k ** 2
            ed[i] = V * om[i] / k
        if self.hi.size:
            i = self.hi
            s = De[i] - C[i]
            a_hi = s / q
            a_lo = (s - V * om[i]) / q
            P_hi, P_lo = ndtr(a_hi), ndtr(a_lo)
            p_hi, p_lo = _phi(a_hi), _phi(a_lo)
            dP = P_hi - P_lo
            dp = p_lo - p_hi
            e1[i] = om[i] * P_lo + (s * dP - q * dp) / V
            e2[i] = om[i] ** 2 * P_lo + (s * s * dP - 2.0 * s * q * dp
                                         + q * q * (dP + a_lo * p_lo - a_hi * p_hi)) / V ** 2
            ed[i] = dP
        if self.vs.size:
            i = self.vs
            h = min(0.05, 0.5 / (q * De[i].max()))
            n = int(np.ceil(20.0 / h))
            G = np.linspace(-10.0, 10.0, n + 1)
            w = _phi(G) * (20.0 / n)
            w[0] *= 0.5
            w[-1] *= 0.5
            X = C[i, None] + q * G[None, :]
            A = (V * om[i] * De[i] ** 2)[:, None]
            B = self.iota[i, None] - De[i, None] * X
            u = _vs_prox_u(A, np.broadcast_to(B, X.shape).copy())
            s = expit(u)
            t = A * s * expit(-u)
            lp = (om[i] * De[i])[:, None] * s  # -l'(P)
            e1[i] = lp @ w
            e2[i] = (lp * lp) @ w
            ed[i] = (t / (1.0 + t)) @ w
        return e1, e2, ed

    def C_of(self, c, b):
        m = self.gram @ c
        return self.y * (m + b), m

    # (S4): root in b of g(b) = sum pi y e1, g'(b) = -sum pi ed / V; returns b and moments there
    def solve_b(self, c, q, V, b0):
        m = self.gram @ c
        pi, y = self.pi, self.y
        lo, hi = -np.inf, np.inf
        b = b0
        tol = 1e-13 * (abs(b0) + q)
        expand = q
        for _ in range(200):
            mom = self.moments(y * (m + b), q, V)
            g = pi @ (y * mom[0])
            gp = -(pi @ mom[2]) / V
            if g == 0.0:
                return b, mom
            if g > 0.0:          # g is decreasing in b: root lies above
                lo = b
            else:
                hi = b
            bn = b - g / gp if gp < 0.0 else np.nan
            if np.isfinite(lo) and np.isfinite(hi):
                if not (lo < bn < hi):
                    bn = 0.5 * (lo + hi)          # bisection
            elif not np.isfinite(bn) or abs(bn - b) > expand:
                bn = b + np.sign(g) * expand      # no bracket yet: bounded step outward
                expand *= 2.0
            if abs(bn - b) <= tol:
                return b, mom
            b = bn
        return b, mom

    # one damped sweep (replica ordering); returns new state and relative change
    def sweep(self, c, alpha, b, V):
        q = np.sqrt(c @ self.gram @ c + alpha * alpha)
        if self.intercept:
            b, mom = self.solve_b(c, q, V, b)
        else:
            mom = self.moments(self.y * (self.gram @ c), q, V)
        e1, e2, ed = mom
        Vhat = (self.pi @ ed) / V
        Vn = self.gamma / (self.lam + Vhat)
        cn = self.pi * self.y * e1 / (self.lam + Vhat)
        an = Vn * np.sqrt((self.pi @ e2) / self.gamma)
        c2 = 0.5 * (c + cn)
        a2 = 0.5 * (alpha + an)
        V2 = np.sqrt(V * Vn)
        cs = max(np.max(np.abs(c2)), 1e-300)
        rel = max(np.max(np.abs(c2 - c)) / cs, abs(a2 - alpha) / a2, abs(V2 - V) / V2)
        return c2, a2, b, V2, rel

    def fixed_point(self, c, alpha, b, V, tol, maxit):
        b_old = b
        for it in range(1, maxit + 1):
            c, alpha, b, V, rel = self.sweep(c, alpha, b, V)
            q = np.sqrt(c @ self.gram @ c + alpha * alpha)
            rel = max(rel, abs(b - b_old) / (abs(b) + q))
            b_old = b
            if rel < tol:
                break
        return c, alpha, b, V, it

    # full residual in x = (c, log alpha, [b], log V), each equation dimensionless
    def unpack(self, x):
        K = self.K
        c = x[:K]
        alpha = np.exp(x[K])
        b = x[K + 1] if self.intercept else 0.0
        V = np.exp(x[-1])
        return c, alpha, b, V

    def pack(self, c, alpha, b, V):
        parts = [c, [np.log(alpha)]] + ([[b]] if self.intercept else []) + [[np.log(V)]]
        return np.concatenate(parts)

    def residual(self, x):
        c, alpha, b, V = self.unpack(x)
        C, m = self.C_of(c, b)
        q = np.sqrt(c @ self.gram @ c + alpha * alpha)
        e1, e2, ed = self.moments(C, q, V)
        pi, y, g = self.pi, self.y, self.gamma
        sc = max(pi @ np.abs(e1), 1e-300)
        r3 = (g * c / V - pi * y * e1) / sc                       # (S3)
        r2 = (alpha * alpha - V * V * (pi @ e2) / g) / (q * q)    # (S2)
        r1 = (pi @ ed + self.lam * V) / g - 1.0                  # (S1)
        out = [r3, [r2]]
        if self.intercept:
            out.append([(pi @ (y * e1)) / sc])                   # (S4)
        out.append([r1])
        return np.concatenate(out)

    def polish(self, c, alpha, b, V):
        x0 = self.pack(c, alpha, b, V)
        sol = optimize.root(self.residual, x0, method="hybr", options={"xtol": 1e-13})
        x = sol.x if np.all(np.isfinite(sol.x)) else x0
        r0 = np.max(np.abs(self.residual(x0)))
        r = np.max(np.abs(self.residual(x)))
        if r > r0:  # hybr made it worse: keep the fixed point
            x, r = x0, r0
        return (*self.unpack(x), r, int(sol.nfev))


# --------------------------------------------------------------------------- existence guard
def _F(t):
    """F(t) = E[(G + t)_-^2]."""
    return (1.0 + t * t) * ndtr(-t) - t * _phi(t)


def separability_threshold(priors, labels, gram, intercept=True):
    """gamma* = min_{||rho||<1, beta} sum_k pi_k F(y_k((A rho)_k + beta)) / (1 - ||rho||^2)
    (docs/erm.md §4), with rho = v / sqrt(1 + |v|^2), by BFGS."""
    pi = np.asarray(priors, float)
    y = np.asarray(labels, float)
    ev, U = np.linalg.eigh(np.asarray(gram, float))
    keep = ev > 1e-12 * max(ev.max(), 1e-300)
    A = U[:, keep] * np.sqrt(ev[keep])
    r = A.shape[1]

    def obj(z):
        v = z[:r]
        beta = z[r] if intercept else 0.0
        nv = 1.0 + v @ v
        rho = v / np.sqrt(nv)
        return nv * (pi @ _F(y * (A @ rho + beta)))

    best = np.inf
    for s in (0.0, 1.0):  # two starts
        z0 = np.zeros(r + (1 if intercept else 0))
        z0[:r] = s * (A.T @ (pi * y))
        res = optimize.minimize(obj, z0, method="BFGS", options={"gtol": 1e-10})
        best = min(best, res.fun)
    return float(best)


# --------------------------------------------------------------------------- public
def solve(priors, labels, gram, gamma, lam, kinds, omega, iota, Delta, intercept=True) -> dict:
    """Solve (S1)-(S4) of docs/erm.md for K clusters.  See the module docstring.

    Returns dict with m (K), q, b, V, alpha, errors (K), residual, iterations, nfev.
    """
    P = _Problem(priors, labels, gram, gamma, lam, kinds, omega, iota, Delta, intercept)
    if P.gamma <= 0 or P.lam < 0:
        raise ValueError("need gamma > 0 and lam >= 0")
    if P.lam == 0.0:
        if P.sq.size == P.K:
            if P.gamma >= 1.0:
                raise ValueError("square loss with lam = 0 needs gamma < 1")
        else:
            gs = separability_threshold(P.pi, P.y, P.gram, P.intercept)
            if P.gamma >= gs:
                raise ValueError(f"lam = 0 needs gamma < gamma* = {gs:.6g} (data separable)")

    # start
    V = P.gamma / (P.lam + 1.0)
    c = P.pi * P.y / (P.lam + 1.0)
    alpha = np.sqrt(P.gamma)
    b = 0.0
    c, alpha, b, V, it = P.fixed_point(c, alpha, b, V, 1e-6, 400)
    c, alpha, b, V, res, nfev = P.polish(c, alpha, b, V)
    iterations = it
    if res > 1e-11:
        c, alpha, b, V, it = P.fixed_point(c, alpha, b, V, 1e-11, 400)
        iterations += it
        c, alpha, b, V, res, nf = P.polish(c, alpha, b, V)
        nfev += nf
    if not P.intercept:
        b = 0.0
    m = P.gram @ c
    q = float(np.sqrt(c @ P.gram @ c + alpha * alpha))
    errors = ndtr(-P.y * (m + b) / q)
    return {"m": m, "q": q, "b": float(b), "V": float(V), "alpha": float(alpha),
            "errors": errors, "residual": float(res), "iterations": int(iterations),
            "nfev": int(nfev)}


if __name__ == "__main__":
    import time
    t = time.perf_counter()
    r = solve([0.1, 0.9], [1, -1], [[4, -4], [-4, 4]], 2.0, 1e-2, "vs", 1.0, 0.0, 1.0)
    print(r, f"{time.perf_counter() - t:.3f} s")
