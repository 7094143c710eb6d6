r"""High-precision reference path (mpmath), independent of the Numba engine.

Nothing here is shared with :mod:`asymptotics._engine` or
:mod:`asymptotics.gaussian`: the kernels are the closed forms evaluated with
mpmath at a working precision raised by the digits their cancellation costs,
the Gram factor comes from ``mpmath.eigsy``, the root in ``u`` is bracketed
and found by regula falsi (Illinois), the inner minimisation is
damped Newton with QR steps in mpmath, and the final answer is polished by
``mpmath.findroot`` on the whole KKT system

.. math:: \nabla_{\rho,\beta} H(\rho, \beta, u) = 0,\qquad H(\rho, \beta, u) = 0,

whose solution is unique (it is the KKT point of a convex program with a
Slater point), so a converged root is *the* answer whatever the start.

It is slow (tenths of a second per point) and meant for tests and for
spot-checking the fast path, e.g.::

    >>> from asymptotics import LabelGMM, reference
    >>> m = LabelGMM.antipodal(0.1, 2.0)
    >>> sol = reference.solve(m.priors, m.labels, m.gram, [3.0, 1.0], gamma=2.0)
    >>> float(sol["q"])  # doctest: +SKIP
"""
from __future__ import annotations

import mpmath as mp

__all__ = ["F", "dF", "Q", "solve", "separability_threshold"]


def _extra_digits(t) -> int:
    # (1+t^2)Q(t) - t phi(t) cancels about log10(t^4) digits for t > 0
    return 10 + int(4 * mp.log10(2 + abs(t)))


def F(t):
    """F(t) = (1+t^2) Q(t) - t phi(t) at the current mpmath precision."""
    t = mp.mpf(t)
    with mp.extradps(_extra_digits(t)):
        val = (1 + t * t) * mp.ncdf(-t) - t * mp.npdf(t)
    return +val


def dF(t):
    """F'(t) = 2 t Q(t) - 2 phi(t)."""
    t = mp.mpf(t)
    with mp.extradps(_extra_digits(t)):
        val = 2 * t * mp.ncdf(-t) - 2 * mp.npdf(t)
    return +val


def Q(t):
    """Gaussian tail P(G > t)."""
    t = mp.mpf(t)
    with mp.extradps(10):
        val = mp.erfc(t / mp.sqrt(2)) / 2
    return +val


def _d2F(t):
    return 2 * Q(t)


def _factor(gram):
    """A with A A^T = gram from a symmetric eigendecomposition (mpmath)."""
    G = mp.matrix([[mp.mpf(v) for v in row] for row in gram])
    K = G.rows
    E, V = mp.eigsy(G)
    top = max([E[i] for i in range(K)] + [mp.mpf(0)])
    cols = [i for i in range(K) if E[i] > top * K * mp.mpf(10) ** (-14)]
    return [[V[k, i] * mp.sqrt(E[i]) for i in cols] for k in range(K)]


class _Problem:
    def __init__(self, priors, labels, gram, margins, gamma, intercept):
        self.p = [mp.mpf(v) for v in priors]
        self.y = [int(v) for v in labels]
        self.A = _factor(gram)
        self.D = [mp.mpf(v) for v in margins]
        self.gamma = mp.mpf(gamma)
        self.intercept = bool(intercept)
        self.K = len(self.p)
        self.r = len(self.A[0]) if self.A else 0
        self.m = self.r + (1 if self.intercept else 0)

    def s(self, x):
        beta = x[self.r] if self.intercept else 0
        return [sum((self.A[k][i] * x[i] for i in range(self.r)), mp.mpf(0)) + beta
                for k in range(self.K)]

    def t(self, x, u):
        return [self.y[k] * sk - self.D[k] * u for k, sk in enumerate(self.s(x))]

    def a(self, k):
        row = [self.y[k] * self.A[k][i] for i in range(self.r)]
        return row + ([mp.mpf(self.y[k])] if self.intercept else [])

    def H(self, x, u, gamma=None):
        gamma = self.gamma if gamma is None else gamma
        rr = sum((x[i] ** 2 for i in range(self.r)), mp.mpf(0))
        return sum(self.p[k] * F(tk) for k, tk in enumerate(self.t(x, u))) + gamma * (rr - 1)

    def grad(self, x, u, gamma=None):
        gamma = self.gamma if gamma is None else gamma
        g = [mp.mpf(0)] * self.m
        for k, tk in enumerate(self.t(x, u)):
            f1 = dF(tk)
            ak = self.a(k)
            for i in range(self.m):
                g[i] += self.p[k] * f1 * ak[i]
        for i in range(self.r):
            g[i] += 2 * gamma * x[i]
        return g

    def hess(self, x, u, gamma=None):
        gamma = self.gamma if gamma is None else gamma
        Hm = mp.zeros(self.m, self.m)
        for k, tk in enumerate(self.t(x, u)):
            f2 = _d2F(tk)
            ak = self.a(k)
            for i in range(self.m):
                for j in range(self.m):
                    Hm[i, j] += self.p[k] * f2 * ak[i] * ak[j]
        for i in range(self.r):
            Hm[i, i] += 2 * gamma
        return Hm

    def dHdu(self, x, u):
        return -sum((self.p[k] * self.D[k] * dF(tk) for k, tk in enumerate(self.t(x, u))), mp.mpf(0))

    def hxu(self, x, u):
        out = [mp.mpf(0)] * self.m
        for k, tk in enumerate(self.t(x, u)):
            f2 = _d2F(tk)
            ak = self.a(k)
            for i in range(self.m):
                out[i] -= self.p[k] * f2 * self.D[k] * ak[i]
        return out

    def argmin(self, u, x0, gamma=None):
        """Minimiser of the strictly convex H(., u) by damped Newton (Armijo
        backtracking) to the full working precision.  Steps are solved by QR
        (mpmath.qr_solve), which does not judge a matrix singular by the
        scale of its rows (the rho block is O(gamma), the beta row
        O(sum pi F'')).  The stopping test is relative to gamma, the scale of
        H near its minimum, so it means the same at gamma = 1e-90."""
        if self.m == 0:
            return []
        gam = self.gamma if gamma is None else gamma
        tol = mp.mpf(10) ** (-mp.mp.dps + 5)
        x = list(x0)
        small = 0
        for _ in range(3000):
            g = self.grad(x, u, gamma)
            d = _scaled_solve(self.hess(x, u, gamma), [-v for v in g])
            dec = -sum(g[i] * d[i] for i in range(self.m)) / gam
            if dec < tol ** 2 or (dec < tol and small >= 2):
                return x
            small = small + 1 if dec < tol else 0
            h0 = self.H(x, u, gamma)
            step = mp.mpf(1)
            while self.H([x[i] + step * d[i] for i in range(self.m)], u, gamma) > h0 - step * dec * gam / 4:
                step /= 2
                if step < mp.mpf(10) ** -40:
                    break
            x = [x[i] + step * d[i] for i in range(self.m)]
        raise ArithmeticError("reference inner Newton did not converge")


def _scaled_solve(Hm, rhs):
    """Solve Hm d = rhs for symmetric positive-definite Hm via the
    unit-diagonal scaling D^-1/2 Hm D^-1/2."""
    n = Hm.rows
    dg = [mp.sqrt(Hm[i, i]) for i in range(n)]
    S = mp.matrix(n, n)
    for i in range(n):
        for j in range(n):
            S[i, j] = Hm[i, j] / (dg[i] * dg[j])
    y = mp.lu_solve(S, mp.matrix([rhs[i] / dg[i] for i in range(n)]))
    return [y[i] / dg[i] for i in range(n)]


def _as_list(sol):
    """findroot returns a matrix for systems, an mpf for one unknown."""
    if isinstance(sol, mp.matrix):
        return [sol[i] for i in range(sol.rows)]
    return [sol]


def _bracketed_root(f, lo, hi, rtol):
    """Root of an increasing f on [lo, hi] with f(lo) < 0 < f(hi): Illinois
    (regula falsi with halving), stopped when the bracket is below ``rtol``
    relative; the callers then polish by Newton on the full KKT system."""
    flo, fhi = f(lo), f(hi)
    side = 0
    for _ in range(500):
        if hi - lo <= rtol * abs(hi):
            break
        c = (lo * fhi - hi * flo) / (fhi - flo)
        if not lo < c < hi:
            c = (lo + hi) / 2
        fc = f(c)
        if fc == 0:
            return c
        if fc < 0:
            lo, flo = c, fc
            if side == -1:
                fhi /= 2
            side = -1
        else:
            hi, fhi = c, fc
            if side == 1:
                flo /= 2
            side = 1
    return (lo + hi) / 2


def solve(priors, labels, gram, margins, gamma, intercept: bool = True, dps: int = 40) -> dict:
    r"""Solve the K-cluster fixed point at ``dps`` significant digits.

    Parameters are plain sequences (``gram`` is K x K).  Returns a dict with
    ``u, q, rho, beta, b, projections, errors`` (mpf values) and
    ``residual`` (max |KKT| / gamma at the working precision).

    Raises ``ValueError`` if the point is not separable (m(0) >= 0).
    """
    with mp.workdps(dps):
        P = _Problem(priors, labels, gram, margins, gamma, intercept)
        x = [mp.mpf(0)] * P.m
        x = P.argmin(mp.mpf(0), x)
        if P.H(x, 0) >= 0:
            raise ValueError("not separable: gamma <= gamma_star")
        # bracket the increasing root of m(u) = min_x H(x, u)
        state = {"x": x}

        def m_of_u(u):
            state["x"] = P.argmin(u, state["x"])
            return P.H(state["x"], u)

        lo, hi = mp.mpf(0), mp.mpf(1)
        while m_of_u(hi) < 0:
            lo, hi = hi, hi * 4
        u = _bracketed_root(m_of_u, lo, hi, mp.mpf(10) ** -15)
        x = P.argmin(u, state["x"])

        # polish on the full KKT system, divided by gamma (every entry of
        # the system and its Jacobian is then O(1), also near the threshold
        # of well-separated means where gamma is 1e-90)
        def kkt(*v):
            v = list(v)
            return [val / P.gamma for val in P.grad(v[:-1], v[-1]) + [P.H(v[:-1], v[-1])]]

        def jac(*v):
            v = list(v)
            xx, uu = v[:-1], v[-1]
            J = mp.zeros(P.m + 1, P.m + 1)
            Hxx = P.hess(xx, uu)
            hxu = P.hxu(xx, uu)
            g = P.grad(xx, uu)
            for i in range(P.m):
                for j in range(P.m):
                    J[i, j] = Hxx[i, j] / P.gamma
                J[i, P.m] = hxu[i] / P.gamma
                J[P.m, i] = g[i] / P.gamma
            J[P.m, P.m] = P.dHdu(xx, uu) / P.gamma
            return J

        sol = mp.findroot(kkt, x + [u], J=jac)
        sol = _as_list(sol)
        x, u = sol[:-1], sol[-1]
        res = max(abs(v) for v in kkt(*sol))
        s = P.s(x)
        beta = x[P.r] if P.intercept else mp.mpf(0)
        errors = [Q(P.y[k] * s[k]) for k in range(P.K)]
        return {"u": u, "q": 1 / u, "rho": x[:P.r], "beta": beta, "b": beta / u,
                "projections": [sk - beta for sk in s], "errors": errors, "residual": res}


def separability_threshold(priors, labels, gram, intercept: bool = True, dps: int = 40):
    r"""gamma_star at ``dps`` digits: the root of the decreasing concave
    function gamma -> min_x H(x, 0; gamma), found by a bracketing solver."""
    with mp.workdps(dps):
        P = _Problem(priors, labels, gram, [0] * len(priors), 1, intercept)
        state = {"x": [mp.mpf(0)] * P.m}

        def m_of_gamma(g):
            state["x"] = P.argmin(mp.mpf(0), state["x"], gamma=g)
            return -P.H(state["x"], 0, gamma=g)   # increasing in gamma

        # m(1/2) <= H(0, 0; 1/2) = 0, so gamma_star <= 1/2
        hi = mp.mpf("0.5")
        if m_of_gamma(hi) <= 0:
            return hi  # gamma_star = 1/2 exactly (e.g. Cover's case)
        lo = hi / 4
        while m_of_gamma(lo) > 0:
            lo, hi = lo / 4, lo
        g = _bracketed_root(m_of_gamma, lo, hi, mp.mpf(10) ** -15)
        x = P.argmin(mp.mpf(0), state["x"], gamma=g)

        # polish in (x, s = log gamma) on the system divided by gamma:
        # e^-s grad_x sum pi F + 2 rho = 0,  e^-s sum pi F + |rho|^2 - 1 = 0
        def system(*v):
            v = list(v)
            xx, es = v[:-1], mp.exp(-v[-1])
            rr = sum((xx[i] ** 2 for i in range(P.r)), mp.mpf(0))
            fs = P.H(xx, 0, gamma=0)
            gr = P.grad(xx, 0, gamma=0)
            return ([es * gr[i] + (2 * xx[i] if i < P.r else 0) for i in range(P.m)]
                    + [es * fs + rr - 1])

        def jac(*v):
            v = list(v)
            xx, es = v[:-1], mp.exp(-v[-1])
            J = mp.zeros(P.m + 1, P.m + 1)
            Hxx = P.hess(xx, 0, gamma=0)
            gr = P.grad(xx, 0, gamma=0)
            for i in range(P.m):
                for j in range(P.m):
                    J[i, j] = es * Hxx[i, j] + (2 if (i == j and i < P.r) else 0)
                J[i, P.m] = -es * gr[i]
                J[P.m, i] = es * gr[i] + (2 * xx[i] if i < P.r else 0)
            J[P.m, P.m] = -es * P.H(xx, 0, gamma=0)
            return J

        sol = mp.findroot(system, x + [mp.log(g)], J=jac)
        return mp.exp(_as_list(sol)[-1])
