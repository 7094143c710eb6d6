r"""Numba core of the regularised-ERM asymptotics (``docs/erm.md``).

Model: cluster ``k`` has prior ``pri[k]``, label ``lab[k]``, mean factor row
``A[k]`` (``A A^T`` = the means' Gram matrix) and loss parameters
``kind[k]`` (0 VS, 1 hinge, 2 square), ``om[k]``, ``io[k]``, ``De[k]``.

Unknowns ``z = (theta, log alpha, b, log V)`` (``b`` only with an intercept):
``theta`` are the coordinates of the projection of w on the mean subspace
in the basis of ``A`` (so ``mu_k . w = (A theta)_k``), ``alpha`` the norm of
the orthogonal part, ``q = sqrt(|theta|^2 + alpha^2) = |w|``.  With
``C_k = y_k((A theta)_k + b)``, ``X_k = C_k + q G``, ``P_k = prox_{V l_k}(X_k)``
and the moments ``e1 = E[P - X]/V``, ``e2 = E[(P - X)^2]/V^2``,
``ed = E[1 - P']`` the system (S1)-(S4) is solved in the scaled form

.. math::

    F_\theta &= \theta - \tfrac{V}{\gamma} A^T(\pi \circ y \circ e_1)  &&\text{(S3, divided by q)}\\
    F_\alpha &= \log(\gamma\alpha^2) - \log\big(V^2 \textstyle\sum_k \pi_k e_{2,k}\big) &&\text{(S2)}\\
    F_b &= \textstyle\sum_k \pi_k y_k e_{1,k} \big/ \sum_k \pi_k |e_{1,k}| &&\text{(S4)}\\
    F_V &= 1 - \big(\textstyle\sum_k \pi_k e_{d,k} + \lambda V\big)/\gamma &&\text{(S1)}

by Newton's method with the analytic Jacobian (every derivative of a moment
with respect to C, q, V is again a Gaussian average of prox quantities) and
a backtracking line search on the squared residual; the reported residual is
the max-norm of that vector.  Scales (q in F_theta, the e1 sum in F_b) are
frozen within a Newton step, so the step is Newton's step for the unscaled
system.

Moments.  Square and hinge losses have closed forms (truncated Gaussian
moments, evaluated from the tail-accurate kernels of
:mod:`asymptotics.gaussian`).  The VS prox solves ``u + A s(u) = B`` with
``s`` the logistic function, ``u = iota - Delta p``, ``A = V omega Delta^2``,
``B = iota - Delta x``; its expectation is a Gaussian integral whose
integrand has two *edges*, the real parts of the prox's branch points
(``1 + A s(u)(1 - s(u)) = 0``; for large A near where the prox turns from
the identity to nearly flat and back), of width ``1/(q Delta)`` in G, with
the complex singularities at distance ``pi/(q Delta)``.  Gauss-Hermite and a uniform
trapezoidal rule need O(q Delta) nodes there; we use the trapezoidal rule in
the variable ``t(G) = sum_e asinh((G - G_e)/a_e) + kappa G`` (``a_e = 1/(q
Delta)``), which places nodes geometrically around each edge and at most
``_G_STEP`` apart elsewhere.  The transformed integrand is analytic in a strip
of half-width about pi/2, so the rule converges geometrically in the step;
the node count grows only like ``log(q Delta)``.  Nodes are the inverse of
``t`` at equally spaced values, by safeguarded Newton from the previous node;
prox roots are warm-started from the previous node too.

Continuation.  A cold start follows lambda down from a value so large that
w is tiny and the system nearly linear, with the tangent predictor
``dz = -J^{-1} dF/dlambda`` and step halving on failure; sweeps warm-start
from the previous point with the same predictor in (gamma, lambda).
"""
from __future__ import annotations

import math

import numpy as np
from ._jit import kernel

from .gaussian import df_scalar, f_scalar, phi_scalar, q_scalar

# error_model="numpy": a division by zero or an overflow inside a kernel gives inf/NaN, which the
# Newton line search rejects and the solver reports as non-convergence (never an exception mid-sweep)

VS, HINGE, SQUARE = 0, 1, 2
OK = 0
NOT_CONVERGED = 2
TRIVIAL = 3           # the minimiser is w = 0 (hinge at a large ridge): q = V = 0

# moment vector layout
E1, E2, ED, E1C, E1Q, E1V, E2C, E2Q, E2V, EDC, EDQ, EDV, TLOSS, TERR = range(14)
NMOM = 14

_H_T = 0.25           # trapezoid step in t: error ~ exp(-7.2/h) (measured), 1e-12 relative
_G_STEP = 0.6         # largest node spacing in G away from the edges
_KAPPA = _H_T / _G_STEP
_G_RANGE = 9.0        # |G| covered always (phi(9)/9 ~ 1e-19)
_EDGE_PAD = 4.0       # G-distance covered beyond an edge
_G_LIMIT = 39.0       # phi underflows beyond this
_MAX_NODES = 20000

TOL = 1e-12           # Newton stops here
ACCEPT = 1e-9         # ... and a point counts as converged below this
MAX_NEWTON = 60
MAX_CONTINUATION = 400


# ---------------------------------------------------------------- helpers
@kernel(error_model="numpy")
def _Phi(t):
    return q_scalar(-t)


@kernel(error_model="numpy")
def _sig_pair(u):
    """(s(u), 1 - s(u), exp(-|u|)) with one exponential."""
    e = math.exp(-abs(u))
    if u >= 0.0:
        s = 1.0 / (1.0 + e)
        return s, e * s, e
    sc = 1.0 / (1.0 + e)
    return e * sc, sc, e


@kernel(error_model="numpy")
def vs_u(A, B, u):
    """Root of u + A s(u) = B (A >= 0; the left side increases, so the root
    lies in [B - A, B]); Newton from u inside the bracket, bisection when a
    step leaves it, at most 200 steps (NaN if they do not suffice)."""
    lo = B - A
    hi = B
    if not (lo < u < hi):
        # start at the root of the piecewise-linear surrogate s ~ clip(1/2 + u/4)
        u = (B - 0.5 * A) / (1.0 + 0.25 * A)
        if u > 2.0 or u < -2.0:
            u = B - A if B - A > 2.0 else B
        if not (lo <= u <= hi):
            u = 0.5 * (lo + hi)
    for _ in range(200):
        s, sc, _e = _sig_pair(u)
        f = u + A * s - B
        # the left side has slope >= 1, so the root is within |f| of u
        if f < 0.0:
            lo = max(lo, u)
            hi = min(hi, u - f)
        elif f > 0.0:
            hi = min(hi, u)
            lo = max(lo, u - f)
        else:
            return u
        un = u - f / (1.0 + A * s * sc)
        if not (lo <= un <= hi):
            un = 0.5 * (lo + hi)
        elif abs(un - u) <= 1e-8 * (1.0 + abs(u)):
            # a Newton step this small leaves an error of order its square
            # (|g''/g'| <= 1 for g(u) = u + A s(u))
            return un
        u = un
        if hi - lo <= 4e-16 * (1.0 + abs(u)):
            return u
    # not converged in 200 steps (never seen inside erm's ranges; from A ~ 1e89 it would be): NaN,
    # which the moments carry into the residual, so the solve fails loudly instead of returning a wrong root
    return np.nan


# ---------------------------------------------------------------- moments
@kernel(error_model="numpy")
def _square(om, De, C, q, V, out):
    k = 1.0 + V * om
    s = De - C
    out[E1] = om * s / k
    out[E2] = om * om * (s * s + q * q) / (k * k)
    out[ED] = V * om / k
    out[E1C] = -om / k
    out[E1Q] = 0.0
    out[E1V] = -om * om * s / (k * k)
    out[E2C] = -2.0 * om * om * s / (k * k)
    out[E2Q] = 2.0 * om * om * q / (k * k)
    out[E2V] = -2.0 * om ** 3 * (s * s + q * q) / k ** 3
    out[EDC] = 0.0
    out[EDQ] = 0.0
    out[EDV] = om / (k * k)
    out[TLOSS] = 0.5 * om * (s * s + q * q) / (k * k)
    out[TERR] = q_scalar((C + V * om * De) / q)


# 10-point Gauss-Legendre rule on [-1, 1] for the hinge's narrow prox window (``_interval_moments``)
_GL_X, _GL_W = np.polynomial.legendre.leggauss(10)


@kernel(error_model="numpy")
def _interval_moments(hi, d):
    """With lo = hi - d (d > 0 given, not recomputed as hi - lo: when the
    window is narrow that difference keeps only the bits of d above hi's
    last bit, a relative error 1e-16 |hi| / d, which made the moments jump
    by 1e-10 between neighbouring points and stalled Newton):
    J_n = E[(hi - G)^n 1{lo < G < hi}] for n = 0, 1, 2 and
    L = E[(1 - G^2) 1{lo < G < hi}] = hi phi(hi) - lo phi(lo).

    A wide interval, ``(hi - lo) max(1, |lo|, |hi|) > 1``: from tail
    functions on the side the interval lies on (no cancellation between
    tails; the differences lose at most a factor ~6, one digit): with
    T_n(c) = E[(c - G)_+^n] = (Phi, -F'(-c)/2, F(-c)) and
    U_n(c) = E[(G - c)_+^n] = (Q, -F'(c)/2, F(c)).

    A narrow one (the hinge's prox window V omega/q at a tiny gamma, where
    V << q): the tail differences would cancel, J_2 ~ d^3 phi losing every
    digit below d ~ 1e-5, so the integrals are taken directly by 10-point
    Gauss-Legendre.  There the integrand is phi(m) times an entire function
    that varies by at most e^(1/2) over the interval (m its midpoint), and
    the rule is exact to rounding."""
    lo = hi - d
    if d * max(1.0, abs(lo), abs(hi)) <= 1.0:
        J0 = 0.0
        J1 = 0.0
        J2 = 0.0
        L = 0.0
        h = 0.5 * d
        for i in range(_GL_X.size):
            s = h * (1.0 - _GL_X[i])                 # hi - G
            g = hi - s
            w = h * _GL_W[i] * phi_scalar(g)
            J0 += w
            J1 += w * s
            J2 += w * s * s
            L += w * (1.0 - g * g)
        return J0, J1, J2, L
    L = hi * phi_scalar(hi) - lo * phi_scalar(lo)
    if hi <= 0.0:
        t0h, t1h, t2h = _Phi(hi), -0.5 * df_scalar(-hi), f_scalar(-hi)
        t0l, t1l, t2l = _Phi(lo), -0.5 * df_scalar(-lo), f_scalar(-lo)
        return (t0h - t0l, t1h - t1l - d * t0l, t2h - t2l - 2.0 * d * t1l - d * d * t0l, L)
    if lo >= 0.0:
        u0l, u1l, u2l = q_scalar(lo), -0.5 * df_scalar(lo), f_scalar(lo)
        u0h, u1h, u2h = q_scalar(hi), -0.5 * df_scalar(hi), f_scalar(hi)
        return (u0l - u0h, d * u0l - u1l + u1h, d * d * u0l - 2.0 * d * u1l + u2l - u2h, L)
    t0h, t1h, t2h = _Phi(hi), -0.5 * df_scalar(-hi), f_scalar(-hi)
    t0l, t1l, t2l = _Phi(lo), -0.5 * df_scalar(-lo), f_scalar(-lo)
    return (1.0 - q_scalar(hi) - t0l, t1h - t1l - d * t0l, t2h - t2l - 2.0 * d * t1l - d * d * t0l, L)


@kernel(error_model="numpy")
def _hinge(om, De, C, q, V, out):
    """Prox: P = X above Delta, Delta on [Delta - V om, Delta], X + V om below.
    With a_hi = (Delta - C)/q, a_lo = a_hi - V om/q and J_n the truncated
    moments of (a_hi - G) on (a_lo, a_hi):
    e1 = om Phi(a_lo) + q J1/V, e2 = om^2 Phi(a_lo) + q^2 J2/V^2, ed = J0."""
    a_hi = (De - C) / q
    width = V * om / q
    a_lo = a_hi - width
    J0, J1, J2, L = _interval_moments(a_hi, width)
    pl = _Phi(a_lo)
    phl = phi_scalar(a_lo)
    phh = phi_scalar(a_hi)
    # phi(a_lo) - phi(a_hi) without cancellation, factoring out the larger density
    x = 0.5 * width * (a_hi + a_lo)                  # (a_hi^2 - a_lo^2) / 2
    if x >= 0.0:
        dphi = -phl * math.expm1(-x)
    else:
        dphi = phh * math.expm1(x)
    out[E1] = om * pl + q * J1 / V
    out[E2] = om * om * pl + q * q * J2 / (V * V)
    out[ED] = J0
    out[E1C] = -J0 / V
    out[E1Q] = -dphi / V
    out[E1V] = -q * J1 / (V * V)
    out[E2C] = -2.0 * q * J1 / (V * V)
    out[E2Q] = -2.0 * q * (a_hi * J1 - J2) / (V * V)
    out[E2V] = -2.0 * q * q * J2 / (V * V * V)
    out[EDC] = dphi / q
    out[EDQ] = -L / q
    out[EDV] = om * phl / q
    out[TLOSS] = om * q * (-0.5 * df_scalar(-a_lo))
    out[TERR] = q_scalar((C + V * om) / q)


@kernel(error_model="numpy")
def _map_t(G, cen, sca, ncen):
    """t(G) = sum_e asinh((G - c_e)/a_e) + kappa G, t'(G) and t''(G)."""
    t = _KAPPA * G
    dt = _KAPPA
    d2t = 0.0
    for e in range(ncen):
        d = G - cen[e]
        a = sca[e]
        r = math.sqrt(a * a + d * d)
        if d >= 0.0:
            t += math.log((d + r) / a)
        else:
            t -= math.log((r - d) / a)
        dt += 1.0 / r
        d2t -= d / (r * r * r)
    return t, dt, d2t


@kernel(error_model="numpy")
def _vs(om, io, De, C, q, V, out, want_loss):
    """VS moments by the mapped trapezoidal rule (module docstring)."""
    A = V * om * De * De
    a = 1.0 / (q * De)
    cen = np.empty(2)
    sca = np.empty(2)
    ncen = 0
    if A > 1e-6:
        # the integrand's singularities nearest the real axis are the branch points of the prox,
        # 1 + A s(u)(1 - s(u)) = 0: s = (1 +- r)/2 with r = sqrt(1 + 4/A), at Im B = +-pi and
        # Re B = +-log((r + 1)/(r - 1)) + A s (B = iota - Delta x), i.e. a distance pi a from the
        # real G axis.  Centring the asinh map on their real parts keeps the transformed
        # integrand analytic in a strip of half-width ~pi/2 for every A (two centres even for
        # A < 4, where the prox has no flat part but the branch points are still 2 log((r+1)/(r-1))
        # + A r apart in B: one centre between them lost accuracy when q Delta was large).
        r = math.sqrt(1.0 + 4.0 / A)
        lr = math.log((r + 1.0) * (r + 1.0) * A / 4.0)     # log((r + 1)/(r - 1)), r - 1 = (4/A)/(r + 1)
        for x in ((io - lr - 0.5 * A * (1.0 + r)) / De, (io + lr - 0.5 * A * (1.0 - r)) / De):
            g = (x - C) / q
            if -_G_LIMIT < g < _G_LIMIT:
                cen[ncen] = g
                sca[ncen] = a
                ncen += 1
    else:
        g = ((io - 0.5 * A) / De - C) / q
        if -_G_LIMIT < g < _G_LIMIT:
            cen[0] = g
            sca[0] = a
            ncen = 1
    gmin = -_G_RANGE
    gmax = _G_RANGE
    for e in range(ncen):
        gmin = min(gmin, cen[e] - _EDGE_PAD)
        gmax = max(gmax, cen[e] + _EDGE_PAD)
    gmin = max(gmin, -_G_LIMIT)
    gmax = min(gmax, _G_LIMIT)
    tmin, _, _ = _map_t(gmin, cen, sca, ncen)
    tmax, _, _ = _map_t(gmax, cen, sca, ncen)
    span = (tmax - tmin) / _H_T
    n = int(math.ceil(span)) if span < _MAX_NODES else _MAX_NODES     # also caps a NaN/inf span
    n = max(8, n)
    h = (tmax - tmin) / n
    wd = om * De
    c1 = om * De * De            # l'' = c1 s(1 - s)
    c2 = 2.0 * om * om * De * De * De
    cd = A * De
    G = gmin
    tv, dt, d2t = _map_t(G, cen, sca, ncen)
    u = 1e300
    D = 0.0
    Xp = 0.0
    a1 = a2 = ad = a1c = a1q = a1v = a2c = a2q = a2v = adc = adq = adv = al = 0.0
    for j in range(n + 1):
        if j > 0:
            T = tmin + j * h
            # second-order predictor along the inverse map, then Newton
            # inside [G_prev, G_prev + h/kappa] (t' >= kappa)
            glo = G
            ghi = min(G + h / _KAPPA, gmax)
            G = G + h / dt - 0.5 * h * h * d2t / (dt * dt * dt)
            for _ in range(60):
                if not (glo <= G <= ghi):
                    G = 0.5 * (glo + ghi)
                tv, dt, d2t = _map_t(G, cen, sca, ncen)
                f = tv - T
                if f > 0.0:
                    ghi = G
                else:
                    glo = G
                step = f / dt
                if abs(step) <= 1e-7 * h / dt:
                    # last Newton step: the node is then right to ~1e-14 of
                    # the local spacing; t' follows to first order
                    G -= step
                    dt -= d2t * step
                    break
                G -= step
        w = h / dt * phi_scalar(G)
        if j == 0 or j == n:
            w *= 0.5
        X = C + q * G
        if j > 0:
            u -= De * D * (X - Xp)        # du/dX = -Delta P'(X)
        Xp = X
        u = vs_u(A, io - De * X, u)
        s, sc, e = _sig_pair(u)
        ss = s * sc
        D = 1.0 / (1.0 + A * ss)
        i1 = wd * s
        ssD = ss * D
        dx1 = -c1 * ssD
        dx2 = -c2 * s * ssD
        dxd = -D * D * cd * ssD * (sc - s)
        a1 += w * i1
        a2 += w * i1 * i1
        ad += w * A * ssD
        a1c += w * dx1
        a1q += w * dx1 * G
        a1v += w * dx1 * wd * s      # d/dV = d/dX * (dP/dV)/(dP/dX) = d/dX * omega Delta s
        a2c += w * dx2
        a2q += w * dx2 * G
        a2v += w * dx2 * wd * s
        adc += w * dxd
        adq += w * dxd * G
        adv += w * D * c1 * ssD * (1.0 - A * s * (sc - s) * D)
        if want_loss:
            al += w * om * (max(u, 0.0) + math.log1p(e))
    out[E1] = a1
    out[E2] = a2
    out[ED] = ad
    out[E1C] = a1c
    out[E1Q] = a1q
    out[E1V] = a1v
    out[E2C] = a2c
    out[E2Q] = a2q
    out[E2V] = a2v
    out[EDC] = adc
    out[EDQ] = adq
    out[EDV] = adv
    out[TLOSS] = al if want_loss else np.nan
    s0, _, _ = _sig_pair(io)
    out[TERR] = q_scalar((C + V * wd * s0) / q)
    return n + 1


@kernel(error_model="numpy")
def moments(kind, om, io, De, C, q, V, out, want_loss=False):
    """Fill ``out`` (length NMOM) with e1, e2, ed, their derivatives in
    (C, q, V), the training loss E[l(P)] (VS: only with ``want_loss``,
    else NaN) and the training error P(P < 0)."""
    if kind == SQUARE:
        _square(om, De, C, q, V, out)
    elif kind == HINGE:
        _hinge(om, De, C, q, V, out)
    else:
        _vs(om, io, De, C, q, V, out, want_loss)


# ---------------------------------------------------------------- system
@kernel(error_model="numpy")
def _unpack(z, r, intercept):
    la = z[r]
    b = z[r + 1] if intercept else 0.0
    lv = z[r + 1 + (1 if intercept else 0)]
    return la, b, lv


@kernel(error_model="numpy")
def _state(z, r, intercept):
    """(alpha, b, V, q) from z = (theta, log alpha, [b], log V)."""
    la, b, lv = _unpack(z, r, intercept)
    alpha = math.exp(la)
    qq = alpha * alpha
    for i in range(r):
        qq += z[i] * z[i]
    return alpha, b, math.exp(lv), math.sqrt(qq)


@kernel(error_model="numpy")
def _max_abs(F, n):
    """max |F_i| over the first n entries, inf if one is NaN (a NaN must not pass as converged)."""
    res = 0.0
    for i in range(n):
        a = abs(F[i])
        if not a <= res:
            res = a if a == a else np.inf
    return res


@kernel(error_model="numpy")
def _residual_scales(scales, spread, Sa, freeze):
    """The scales that make the residual dimensionless (projections by the
    Gaussian scale, (S4) by sum pi |e1|): the current ones in scales[2:4],
    the ones used in scales[0:2] (frozen during a line search)."""
    scales[2] = spread
    scales[3] = Sa if Sa > 0.0 else 1.0
    if not freeze:
        scales[0] = scales[2]
        scales[1] = scales[3]
    return scales[0], scales[1]


@kernel(error_model="numpy")
def _cluster_sums(A, pri, lab, kind, om, io, De, z, b, scale, V, mom):
    """Moments of every cluster at Gaussian scale ``scale`` (into ``mom``) and
    the prior-weighted sums sum pi y e1, sum pi e2, sum pi ed, sum pi |e1|."""
    S1 = 0.0
    S2 = 0.0
    Sd = 0.0
    Sa = 0.0
    for k in range(A.shape[0]):
        moments(kind[k], om[k], io[k], De[k], lab[k] * _shifted_projection(A, k, z, b), scale, V, mom[k])
        S1 += pri[k] * lab[k] * mom[k, E1]
        S2 += pri[k] * mom[k, E2]
        Sd += pri[k] * mom[k, ED]
        Sa += pri[k] * abs(mom[k, E1])
    return S1, S2, Sd, Sa


@kernel(error_model="numpy")
def _shifted_projection(A, k, theta, b):
    """mu_k . w + b = (A theta)_k + b (theta: the first r entries of z)."""
    s = b
    for i in range(A.shape[1]):
        s += A[k, i] * theta[i]
    return s


# ---------------------------------------------------------------- covariance
@kernel(error_model="numpy")
def cov_forms(cov, lam, Vh, r):
    """Traces and mean forms of the resolvent R = (lam I + Vh Sigma)^{-1}
    (docs/covariance.md, regularised ERM): with atoms s_j of weight w_j and
    r_j = 1/(lam + Vh s_j),
    ``t = (tr(Sigma R), tr(Sigma^2 R^2), tr(Sigma R^2), tr(Sigma^3 R^3))/d``;
    with the means' eigen-directions l (eigenvalue sigma_l, row U[l] of the
    orthonormal basis U of the mean subspace, M = A U^T),
    ``B = U^T R U``, ``C = U^T R Sigma R U``, ``D = U^T Sigma^2 R^3 U``,
    ``E = U^T R^2 U`` (r x r).  dB/dVh = -C, dC/dVh = -2D, d t0/dVh = -t1,
    d t1/dVh = -2 t3.  Returns (t, B, C, D, E) for a mean subspace of rank r."""
    U, sig, atoms, wts = cov
    t = np.zeros(4)
    for j in range(atoms.size):
        sj = atoms[j]
        rj = 1.0 / (lam + Vh * sj)
        x = wts[j] * sj * rj
        t[0] += x
        t[1] += x * sj * rj
        t[2] += x * rj
        t[3] += x * sj * rj * sj * rj
    B = np.zeros((r, r))
    C = np.zeros((r, r))
    D = np.zeros((r, r))
    E = np.zeros((r, r))
    for l in range(sig.size):
        sl = sig[l]
        rl = 1.0 / (lam + Vh * sl)
        for i in range(r):
            ui = U[l, i] * rl
            for j in range(r):
                uu = ui * U[l, j]
                B[i, j] += uu
                C[i, j] += uu * sl * rl
                D[i, j] += uu * sl * sl * rl * rl
                E[i, j] += uu * rl
    return t, B, C, D, E


@kernel(error_model="numpy")
def _system_cov(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, F, J, mom, scales, freeze, cov):
    """:func:`system` for a general covariance: z = (theta, log s, [b], log V)
    with mu_k . w = (A theta)_k, s = sqrt(w^T Sigma w) the Gaussian scale of
    the prox arguments, and the system (C1)-(C4) of docs/covariance.md with
    a_k = pi_k y_k e1_k, g = A^T a, Vh = sum_k pi_k ed_k / V:

        F_theta = (theta - B g)/s,   F_s = log s^2 - log(g^T C g + gamma S2 t1),
        F_b = sum pi y e1 / sum pi |e1|,   F_V = 1 - V/(gamma t0)

    (B, C, t from :func:`cov_forms` at Vh).  For Sigma = I this is the
    isotropic system: B = (V/gamma) I, and F_V = 1 - (sum pi ed + lam V)/gamma."""
    K, r = A.shape
    n = z.size
    ib = r + 1
    iv = n - 1
    s = math.exp(z[r])
    b = z[ib] if intercept else 0.0
    V = math.exp(z[iv])
    S1, S2, Sd, Sa = _cluster_sums(A, pri, lab, kind, om, io, De, z, b, s, V, mom)
    Vh = Sd / V
    t, B, C, D, E = cov_forms(cov, lam, Vh, r)
    g = np.zeros(r)
    for i in range(r):
        for k in range(K):
            g[i] += A[k, i] * pri[k] * lab[k] * mom[k, E1]
    Bg = B @ g
    Cg = C @ g
    Dg = D @ g
    N = g @ Cg + gamma * S2 * t[1]
    sq, sb = _residual_scales(scales, s, Sa, freeze)
    for i in range(r):
        F[i] = (z[i] - Bg[i]) / sq
    F[r] = 2.0 * z[r] - math.log(N) if N > 0.0 else np.inf
    if intercept:
        F[ib] = S1 / sb
    F[iv] = 1.0 - V / (gamma * t[0])
    de1 = np.empty(K)
    dg = np.empty(r)
    for j in range(n):
        ds = s if j == r else 0.0
        dV = V if j == iv else 0.0
        dS1 = 0.0
        dS2 = 0.0
        dSd = 0.0
        for k in range(K):
            dC = 0.0
            if j < r:
                dC = lab[k] * A[k, j]
            elif intercept and j == ib:
                dC = lab[k]
            m = mom[k]
            de1[k] = m[E1C] * dC + m[E1Q] * ds + m[E1V] * dV
            dS1 += pri[k] * lab[k] * de1[k]
            dS2 += pri[k] * (m[E2C] * dC + m[E2Q] * ds + m[E2V] * dV)
            dSd += pri[k] * (m[EDC] * dC + m[EDQ] * ds + m[EDV] * dV)
        dVh = dSd / V - Vh * dV / V
        for i in range(r):
            acc = 0.0
            for k in range(K):
                acc += A[k, i] * pri[k] * lab[k] * de1[k]
            dg[i] = acc
        for i in range(r):
            acc = 0.0
            for l in range(r):
                acc += B[i, l] * dg[l]
            J[i, j] = ((1.0 if i == j else 0.0) - acc + dVh * Cg[i]) / sq
        dN = 2.0 * (Cg @ dg) - 2.0 * dVh * (g @ Dg) + gamma * (dS2 * t[1] - 2.0 * S2 * t[3] * dVh)
        J[r, j] = (2.0 if j == r else 0.0) - dN / N
        if intercept:
            J[ib, j] = dS1 / sb
        J[iv, j] = -dV / (gamma * t[0]) - V * t[1] * dVh / (gamma * t[0] * t[0])
    return _max_abs(F, n)


@kernel(error_model="numpy")
def system(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, F, J, mom, scales, freeze, cov):
    """Residual F (scaled, see module docstring) and Jacobian J at z.
    ``scales[:2]`` = (q, sum pi |e1|) used for scaling, set from z unless
    ``freeze``; ``scales[2:]`` always receive the values at z.  Returns
    max|F|.  ``cov`` (None: isotropic features) selects :func:`_system_cov`."""
    if cov is not None:
        return _system_cov(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, F, J, mom, scales, freeze, cov)
    K, r = A.shape
    n = z.size
    la, b, lv = _unpack(z, r, intercept)
    alpha, b, V, q = _state(z, r, intercept)
    ib = r + 1
    iv = n - 1
    S1, S2, Sd, Sa = _cluster_sums(A, pri, lab, kind, om, io, De, z, b, q, V, mom)
    sq, sb = _residual_scales(scales, q, Sa, freeze)
    for i in range(r):
        acc = 0.0
        for k in range(K):
            acc += A[k, i] * pri[k] * lab[k] * mom[k, E1]
        F[i] = (z[i] - V / gamma * acc) / sq
    if S2 > 0.0:
        F[r] = math.log(gamma) + 2.0 * la - 2.0 * lv - math.log(S2)
    else:
        F[r] = np.inf
    if intercept:
        F[ib] = S1 / sb
    F[iv] = 1.0 - (Sd + lam * V) / gamma
    # Jacobian: d moment_k / dz_j = m_C dC_k/dz_j + m_q dq/dz_j + m_V dV/dz_j
    for i in range(n):
        for j in range(n):
            J[i, j] = 0.0
    for k in range(K):
        pk = pri[k]
        yk = lab[k]
        m = mom[k]
        for j in range(n):
            dC = 0.0
            dq = 0.0
            dV = 0.0
            if j < r:
                dC = yk * A[k, j]
                dq = z[j] / q
            elif j == r:
                dq = alpha * alpha / q
            elif intercept and j == ib:
                dC = yk
            if j == iv:
                dV = V
            de1 = m[E1C] * dC + m[E1Q] * dq + m[E1V] * dV
            de2 = m[E2C] * dC + m[E2Q] * dq + m[E2V] * dV
            ded = m[EDC] * dC + m[EDQ] * dq + m[EDV] * dV
            for i in range(r):
                J[i, j] -= V / gamma * A[k, i] * pk * yk * de1 / sq
            J[r, j] -= pk * de2 / S2
            if intercept:
                J[ib, j] += pk * yk * de1 / sb
            J[iv, j] -= pk * ded / gamma
    for i in range(r):
        J[i, i] += 1.0 / sq
        acc = 0.0
        for k in range(K):
            acc += A[k, i] * pri[k] * lab[k] * mom[k, E1]
        J[i, iv] -= V / gamma * acc / sq
    J[r, r] += 2.0
    J[r, iv] -= 2.0
    J[iv, iv] -= lam * V / gamma
    return _max_abs(F, n)


@kernel(error_model="numpy")
def loss_parameter_rhs(A, pri, lab, kind, om, io, De, gamma, intercept, z, scales, out, mom):
    """dF/d(omega_k, iota_k, Delta_k) at fixed z, into ``out[:, j K + k]``
    (j = 0 omega, 1 iota, 2 Delta), F scaled as by :func:`system` with
    ``scales``.  The parameters of cluster k enter F only through its
    moments e1, e2, ed, differenced centrally (relative step 1e-5; the
    moments are smooth in the parameters, so the error is ~1e-10), except
    Delta of a hinge or square cluster, whose moments depend on Delta - C
    only: there d/dDelta = -d/dC, exact.  S2, the
    e2-sum of (S2), is recomputed at z."""
    K, r = A.shape
    n = z.size
    alpha, b, V, q = _state(z, r, intercept)
    ib = r + 1
    iv = n - 1
    S2 = 0.0
    for k in range(K):
        moments(kind[k], om[k], io[k], De[k], lab[k] * _shifted_projection(A, k, z, b), q, V, mom[k])
        S2 += pri[k] * mom[k, E2]
    for i in range(n):
        for c in range(3 * K):
            out[i, c] = 0.0
    up = np.empty(NMOM)
    down = np.empty(NMOM)
    for k in range(K):
        C = lab[k] * _shifted_projection(A, k, z, b)
        for j in range(3):
            if j == 1 and kind[k] != VS:
                continue                      # hinge and square have no offset
            if j == 2 and kind[k] != VS:
                # hinge and square moments depend on Delta - C only: d/dDelta = -d/dC, exactly (a
                # relative step would be 0 at a shifted kink, where Delta is 0: ClusterLosses.shifted)
                de1 = -mom[k, E1C]
                de2 = -mom[k, E2C]
                ded = -mom[k, EDC]
            else:
                p0 = om[k] if j == 0 else (io[k] if j == 1 else De[k])
                h = 1e-5 * (max(abs(p0), 1.0) if j == 1 else p0)
                for sgn in range(2):
                    x = p0 + h if sgn == 0 else p0 - h
                    o2 = x if j == 0 else om[k]
                    i2 = x if j == 1 else io[k]
                    d2 = x if j == 2 else De[k]
                    moments(kind[k], o2, i2, d2, C, q, V, up if sgn == 0 else down)
                de1 = (up[E1] - down[E1]) / (2.0 * h)
                de2 = (up[E2] - down[E2]) / (2.0 * h)
                ded = (up[ED] - down[ED]) / (2.0 * h)
            c = j * K + k
            for i in range(r):
                out[i, c] = -V / gamma * A[k, i] * pri[k] * lab[k] * de1 / scales[0]
            out[r, c] = -pri[k] * de2 / S2
            if intercept:
                out[ib, c] = pri[k] * lab[k] * de1 / scales[1]
            out[iv, c] = -pri[k] * ded / gamma


@kernel(error_model="numpy")
def _lu_solve(J, rhs, out, W):
    """Solve J out = rhs by LU with partial pivoting (J copied into W).
    Returns False if J is singular to working precision."""
    n = J.shape[0]
    for i in range(n):
        out[i] = rhs[i]
        for j in range(n):
            W[i, j] = J[i, j]
    scale = 0.0
    for i in range(n):
        for j in range(n):
            scale = max(scale, abs(W[i, j]))
    if not scale > 0.0 or not np.isfinite(scale):
        return False
    for c in range(n):
        p = c
        for i in range(c + 1, n):
            if abs(W[i, c]) > abs(W[p, c]):
                p = i
        if abs(W[p, c]) <= 1e-300:
            return False
        if p != c:
            for j in range(n):
                W[c, j], W[p, j] = W[p, j], W[c, j]
            out[c], out[p] = out[p], out[c]
        for i in range(c + 1, n):
            f = W[i, c] / W[c, c]
            if f != 0.0:
                for j in range(c, n):
                    W[i, j] -= f * W[c, j]
                out[i] -= f * out[c]
    for i in range(n - 1, -1, -1):
        s = out[i]
        for j in range(i + 1, n):
            s -= W[i, j] * out[j]
        out[i] = s / W[i, i]
        if not np.isfinite(out[i]):
            return False
    return True


@kernel(error_model="numpy")
def _make_work(K, n):
    """Scratch: F, J, mom, scales, dz, Ft, zt, Jt, W, rhs."""
    return (np.empty(n), np.empty((n, n)), np.empty((K, NMOM)), np.empty(4), np.empty(n), np.empty(n),
            np.empty(n), np.empty((n, n)), np.empty((n, n)), np.empty(n))


@kernel(error_model="numpy")
def _rescale(r, intercept, F, J, scales):
    """Move F, J from the frozen scales to the fresh ones (after a step)."""
    n = F.size
    f0 = scales[0] / scales[2]
    f1 = scales[1] / scales[3]
    for i in range(r):
        F[i] *= f0
        for j in range(n):
            J[i, j] *= f0
    if intercept:
        F[r + 1] *= f1
        for j in range(n):
            J[r + 1, j] *= f1
    scales[0] = scales[2]
    scales[1] = scales[3]
    res = 0.0
    for i in range(n):
        res = max(res, abs(F[i]))
    return res


@kernel(error_model="numpy")
def _try_step(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, dz, phi0, halvings, work, cov):
    """Backtrack along dz (capped: alpha and V change by at most e^3, theta
    and b by 3 q) until the squared residual decreases by the Armijo
    fraction; the trial point's F, J stay in work.  Returns success."""
    F, J, mom, scales, _dz, Ft, zt, Jt, W, rhs = work
    n = z.size
    r = A.shape[1]
    cap = 1.0
    for i in range(n):
        lim = 3.0 if (i == r or i == n - 1) else 3.0 * max(scales[0], 1e-3)
        if abs(dz[i]) > lim:
            cap = min(cap, lim / abs(dz[i]))
    t = cap
    for _ in range(halvings):
        for i in range(n):
            zt[i] = z[i] + t * dz[i]
        system(A, pri, lab, kind, om, io, De, gamma, lam, intercept, zt, Ft, Jt, mom, scales, True, cov)
        phi1 = 0.0
        for i in range(n):
            phi1 += Ft[i] * Ft[i]
        if phi1 == phi1 and phi1 <= (1.0 - 1e-4 * t) * phi0:
            return True
        t *= 0.5
    return False


@kernel(error_model="numpy")
def newton(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, max_iter, tol, work, cov):
    """Damped Newton on the system from z (updated in place), with a
    Levenberg-Marquardt step (J^T J + mu D) dz = -J^T F as the fallback when
    the Newton direction fails its line search (J nearly singular: e.g. the
    hinge at a tiny q, where the moments become step functions).
    Returns (residual, iterations, converged)."""
    F, J, mom, scales, dz, Ft, zt, Jt, W, rhs = work
    n = z.size
    K, r = A.shape
    res = system(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, F, J, mom, scales, False, cov)
    it = 0
    JtJ = np.empty((n, n))
    d0 = np.empty(n)
    while it < max_iter:
        if res <= tol:
            return res, it, True
        phi0 = 0.0
        for i in range(n):
            phi0 += F[i] * F[i]
            rhs[i] = -F[i]
        ok = _lu_solve(J, rhs, dz, W) and _try_step(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, dz,
                                                     phi0, 12, work, cov)
        if not ok:
            dmax = 0.0
            for i in range(n):
                rhs[i] = 0.0
                for k in range(n):
                    rhs[i] -= J[k, i] * F[k]
                for j in range(n):
                    acc = 0.0
                    for k in range(n):
                        acc += J[k, i] * J[k, j]
                    JtJ[i, j] = acc
                dmax = max(dmax, JtJ[i, i])
            for i in range(n):
                d0[i] = JtJ[i, i]
            mu = 1e-6
            for _ in range(24):
                for i in range(n):   # Marquardt: scale the diagonal by (1 + mu)
                    JtJ[i, i] = d0[i] * (1.0 + mu) + 1e-14 * dmax
                if _lu_solve(JtJ, rhs, dz, W) and _try_step(A, pri, lab, kind, om, io, De, gamma, lam, intercept,
                                                            z, dz, phi0, 1, work, cov):
                    ok = True
                    break
                mu *= 10.0
        it += 1
        if not ok:
            return res, it, False
        for i in range(n):
            z[i] = zt[i]
            F[i] = Ft[i]
            for j in range(n):
                J[i, j] = Jt[i, j]
        res = _rescale(r, intercept, F, J, scales)
    return res, it, res <= tol


@kernel(error_model="numpy")
def _point(kind, om, io, De, X, V):
    """(e1, e2) for q = 0: the prox at the single point X.  e1 = (P - X)/V in
    closed form, not as a difference (at V ~ 1e-16 the prox moves X by less
    than its last bit): square omega(Delta - X)/(1 + V omega); hinge 0,
    (Delta - X)/V or omega; VS omega Delta s(u), since B - u = A s(u) at the
    root u of u + A s(u) = B."""
    if kind == SQUARE:
        e1 = om * (De - X) / (1.0 + V * om)
    elif kind == HINGE:
        e1 = 0.0 if X > De else ((De - X) / V if X >= De - V * om else om)
    else:
        A = V * om * De * De
        u = vs_u(A, io - De * X, 1e300)
        s, _sc, _e = _sig_pair(u)
        e1 = om * De * s
    return e1, e1 * e1


@kernel(error_model="numpy")
def _first_guess(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, cov):
    """Start for a large lambda: V = gamma/lam, q -> 0, so X_k ~ C_k and
    e1_k ~ -l_k'(prox(C_k)); b from (S4) by bisection (the sum is
    non-increasing in b), theta from (S3), alpha from (S2).  With a
    covariance: the same with R ~ I/lam (Vh -> 0), V = gamma tr(Sigma)/(d lam),
    theta = B g, s^2 = g^T C g + gamma S2 t1 ((C1)-(C3))."""
    K, r = A.shape
    if cov is not None:
        t, B, C, D, E = cov_forms(cov, lam, 0.0, r)
        V = gamma * t[0]
    else:
        V = gamma / lam
    b = 0.0
    if intercept:
        lo = -1.0
        hi = 1.0
        for _ in range(200):
            if _s4(pri, lab, kind, om, io, De, V, lo) > 0.0:
                break
            lo *= 2.0
        for _ in range(200):
            if _s4(pri, lab, kind, om, io, De, V, hi) < 0.0:
                break
            hi *= 2.0
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            if _s4(pri, lab, kind, om, io, De, V, mid) > 0.0:
                lo = mid
            else:
                hi = mid
        b = 0.5 * (lo + hi)
    S2 = 0.0
    e1s = np.empty(K)
    for k in range(K):
        e1, e2 = _point(kind[k], om[k], io[k], De[k], lab[k] * b, V)
        e1s[k] = e1
        S2 += pri[k] * e2
    g = np.zeros(r)
    for i in range(r):
        for k in range(K):
            g[i] += A[k, i] * pri[k] * lab[k] * e1s[k]
    if cov is not None:
        th = B @ g
        for i in range(r):
            z[i] = th[i]
        z[r] = 0.5 * math.log(max(g @ (C @ g) + gamma * S2 * t[1], 1e-300))
    else:
        for i in range(r):
            z[i] = V / gamma * g[i]
        alpha = V * math.sqrt(max(S2, 1e-300) / gamma)
        z[r] = math.log(alpha)
    if intercept:
        z[r + 1] = b
    z[z.size - 1] = math.log(V)


@kernel(error_model="numpy")
def _s4(pri, lab, kind, om, io, De, V, b):
    s = 0.0
    for k in range(pri.size):
        e1, _ = _point(kind[k], om[k], io[k], De[k], lab[k] * b, V)
        s += pri[k] * lab[k] * e1
    return s


@kernel(error_model="numpy")
def _tangent(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, dgamma, dlam, out, work, cov):
    """dz of the solution for a change (dgamma, dlam): -J^{-1} dF, with J
    from the last evaluation held in work.  With a covariance dF is the
    residual at the new (gamma, lam) (a chord step: z is a solution, so
    F(z; new) = dF to first order)."""
    J = work[1]
    scales = work[3]
    rhs = work[9]
    W = work[8]
    n = z.size
    K, r = A.shape
    if cov is not None:
        Ft = work[5]
        system(A, pri, lab, kind, om, io, De, gamma + dgamma, lam + dlam, intercept, z, Ft, work[7], work[2],
               scales, True, cov)
        for i in range(n):
            rhs[i] = -Ft[i]
        return _lu_solve(J, rhs, out, W)
    _, _, lv = _unpack(z, r, intercept)
    V = math.exp(lv)
    for i in range(n):
        rhs[i] = 0.0
    # dF/dgamma at a solution: F_theta -> theta/(gamma q); F_alpha -> 1/gamma; F_V -> 1/gamma
    for i in range(r):
        rhs[i] = -(z[i] / (gamma * scales[0])) * dgamma
    rhs[r] = -dgamma / gamma
    rhs[n - 1] = -(dgamma / gamma - V * dlam / gamma)
    return _lu_solve(J, rhs, out, W)


@kernel(error_model="numpy")
def solve_point(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, warm, work, cov):
    """Solve at (gamma, lam).  With ``warm`` try Newton from z first; else
    (or on failure) continue along lambda from a large value.  Returns
    (residual, iterations, status); z holds the solution."""
    K, r = A.shape
    total = 0
    if warm:
        res, it, ok = newton(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, MAX_NEWTON, TOL, work, cov)
        total += it
        if ok or res <= ACCEPT:
            return res, total, OK
    # cold start: lambda from lam_hi down to lam (lam = 0 is reached by a last jump)
    gram_max = 0.0
    for k in range(K):
        acc = 0.0
        for i in range(r):
            acc += A[k, i] * A[k, i]
        gram_max = max(gram_max, acc)
    wmax = 0.0
    for k in range(K):
        wmax = max(wmax, om[k] * De[k] * (1.0 + De[k]))
    lam_hi = 10.0 * wmax * (1.0 + math.sqrt(gram_max) + math.sqrt(gamma))
    if cov is not None:
        smax = 1.0
        for v in cov[1]:
            smax = max(smax, v)
        for v in cov[2]:
            smax = max(smax, v)
        lam_hi *= smax
    if lam >= lam_hi:
        lam_hi = lam
    lam_floor = lam if lam > 0.0 else lam_hi * 1e-12
    if lam > 0.0:
        # most points converge by Newton straight from the large-lambda guess
        _first_guess(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, cov)
        res, it, ok = newton(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, 30, TOL, work, cov)
        total += it
        if ok or res <= ACCEPT:
            return res, total, OK
    _first_guess(A, pri, lab, kind, om, io, De, gamma, lam_hi, intercept, z, cov)
    res, it, ok = newton(A, pri, lab, kind, om, io, De, gamma, lam_hi, intercept, z, MAX_NEWTON, TOL, work, cov)
    total += it
    if ok or res <= ACCEPT:
        res, total = _continue(A, pri, lab, kind, om, io, De, gamma, lam, lam_hi, lam_floor, intercept, z,
                               work, total, cov)
        if res <= ACCEPT:
            return res, total, OK
    # last resort: the damped fixed point of docs/erm.md (slow, but it only
    # needs the moments), then Newton from where it stops
    _first_guess(A, pri, lab, kind, om, io, De, gamma, max(lam, lam_floor), intercept, z, cov)
    collapsed, it = _fixed_point(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, 5000, work[2], cov)
    total += it
    if collapsed:
        for k in range(K):
            if kind[k] != HINGE:
                return np.inf, total, NOT_CONVERGED   # only a non-smooth loss has w = 0 as minimiser
        return 0.0, total, TRIVIAL
    res, it, ok = newton(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, MAX_NEWTON, TOL, work, cov)
    total += it
    return res, total, OK if (ok or res <= ACCEPT) else NOT_CONVERGED


@kernel(error_model="numpy")
def _continue(A, pri, lab, kind, om, io, De, gamma, lam, lam_hi, lam_floor, intercept, z, work, total, cov):
    """Follow lambda from lam_hi (z solved there) down to lam with the
    tangent predictor, adapting the step.  Returns (residual, iterations)."""
    n = z.size
    dzt = np.empty(n)
    zsave = np.empty(n)
    cur = lam_hi
    step = math.log(10.0)          # log-lambda step, adapted
    res = np.inf
    for _ in range(MAX_CONTINUATION):
        if cur <= lam_floor * (1.0 + 1e-12):
            break
        nxt = max(cur * math.exp(-step), lam_floor)
        for i in range(n):
            zsave[i] = z[i]
        if _tangent(A, pri, lab, kind, om, io, De, gamma, cur, intercept, z, 0.0, nxt - cur, dzt, work, cov):
            for i in range(n):
                z[i] += dzt[i]
        res, it, ok = newton(A, pri, lab, kind, om, io, De, gamma, nxt, intercept, z, 25, TOL, work, cov)
        total += it
        if ok or res <= ACCEPT:
            cur = nxt
            if it <= 4:
                step = min(step * 1.5, math.log(100.0))
        else:
            for i in range(n):
                z[i] = zsave[i]
            step *= 0.5
            system(A, pri, lab, kind, om, io, De, gamma, cur, intercept, z, work[0], work[1], work[2],
                   work[3], False, cov)
            if step < 1e-3:
                return np.inf, total
    res, it, ok = newton(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, MAX_NEWTON, TOL, work, cov)
    return res, total + it


@kernel(error_model="numpy")
def _s4_at(A, pri, lab, kind, om, io, De, theta, q, V, b, mom):
    """(sum pi y e1, its derivative in b) at intercept b."""
    K, r = A.shape
    s = 0.0
    ds = 0.0
    for k in range(K):
        moments(kind[k], om[k], io[k], De[k], lab[k] * _shifted_projection(A, k, theta, b), q, V, mom[k])
        s += pri[k] * lab[k] * mom[k, E1]
        ds += pri[k] * mom[k, E1C]
    return s, ds


@kernel(error_model="numpy")
def _root_b(A, pri, lab, kind, om, io, De, theta, q, V, b, mom):
    """The intercept solving (S4) at (theta, q, V), from b: bracketed Newton
    (the sum is non-increasing in b)."""
    lo = b - 1.0
    hi = b + 1.0
    for _ in range(200):
        s, _d = _s4_at(A, pri, lab, kind, om, io, De, theta, q, V, lo, mom)
        if s > 0.0:
            break
        lo -= 2.0 * (hi - lo)
    for _ in range(200):
        s, _d = _s4_at(A, pri, lab, kind, om, io, De, theta, q, V, hi, mom)
        if s < 0.0:
            break
        hi += 2.0 * (hi - lo)
    for _ in range(100):
        s, d = _s4_at(A, pri, lab, kind, om, io, De, theta, q, V, b, mom)
        if s > 0.0:
            lo = b
        elif s < 0.0:
            hi = b
        else:
            break
        bn = b - s / d if d < 0.0 else 0.5 * (lo + hi)
        if not (lo < bn < hi):
            bn = 0.5 * (lo + hi)
        if abs(bn - b) <= 1e-14 * (1.0 + abs(b)) or hi - lo <= 1e-14 * (1.0 + abs(b)):
            return bn
        b = bn
    return b


@kernel(error_model="numpy")
def _fixed_point(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, max_iter, mom, cov):
    """Damped fixed-point iteration (docs/erm.md): b from (S4) (bracketed
    Newton; the sum is non-increasing in b), then V <- gamma/(lam + Vhat),
    theta <- (S3), alpha <- (S2), damped by 1/2 (geometrically for V and
    alpha).  Returns (collapsed, iterations): collapsed means w -> 0 (q and V
    fell by 1e-12), the trivial minimiser a non-smooth loss can have.
    With a covariance the unknown alpha is s (the Gaussian scale) and the
    updates are (C1)-(C3): V <- gamma t0, theta <- B g, s <- sqrt(N)."""
    K, r = A.shape
    n = z.size
    la, b, lv = _unpack(z, r, intercept)
    alpha = math.exp(la)
    V = math.exp(lv)
    theta = z[:r].copy()
    g = np.empty(r)
    q0 = alpha if cov is not None else math.sqrt(theta @ theta + alpha * alpha)
    it = 0
    for it in range(1, max_iter + 1):
        q = alpha if cov is not None else math.sqrt(theta @ theta + alpha * alpha)
        if q < 1e-12 * q0:
            for i in range(r):
                z[i] = 0.0
            z[r] = -np.inf
            if intercept:
                z[r + 1] = b
            z[n - 1] = -np.inf
            return True, it
        if intercept:
            b = _root_b(A, pri, lab, kind, om, io, De, theta, q, V, b, mom)
        S2 = 0.0
        Sd = 0.0
        for k in range(K):
            moments(kind[k], om[k], io[k], De[k], lab[k] * _shifted_projection(A, k, theta, b), q, V, mom[k])
            S2 += pri[k] * mom[k, E2]
            Sd += pri[k] * mom[k, ED]
        for i in range(r):
            acc = 0.0
            for k in range(K):
                acc += A[k, i] * pri[k] * lab[k] * mom[k, E1]
            g[i] = acc
        if cov is not None:
            t, B, Cf, D, E = cov_forms(cov, lam, Sd / V, r)
            Vn = gamma * t[0]
            th = B @ g
            target = math.sqrt(max(g @ (Cf @ g) + gamma * S2 * t[1], 1e-300))     # s
        else:
            Vn = gamma / (lam + Sd / V)
            th = Vn / gamma * g
            target = Vn * math.sqrt(S2 / gamma)                                   # alpha
        change = 0.0
        for i in range(r):
            tn = 0.5 * (theta[i] + th[i])
            change = max(change, abs(tn - theta[i]) / max(q, 1e-300))
            theta[i] = tn
        an = math.sqrt(alpha * target)
        change = max(change, abs(math.log(an / alpha)), abs(0.5 * math.log(Vn / V)))
        alpha = an
        V = math.sqrt(V * Vn)
        if change < 1e-12:
            break
    for i in range(r):
        z[i] = theta[i]
    z[r] = math.log(alpha)
    if intercept:
        z[r + 1] = b
    z[n - 1] = math.log(V)
    return False, it


@kernel(error_model="numpy")
def solve_sweep(A, pri, lab, kind, om, io, De, gammas, lams, intercept, Z, iters, res, status, cov):
    """Solve at each (gammas[i], lams[i]) in order, warm-starting from the
    previous solution moved along the tangent."""
    K, r = A.shape
    n = Z.shape[1]
    work = _make_work(K, n)
    z = np.empty(n)
    dz = np.empty(n)
    have = False
    for p in range(gammas.size):
        warm = have
        if have:
            if _tangent(A, pri, lab, kind, om, io, De, gammas[p - 1], lams[p - 1], intercept, z,
                        gammas[p] - gammas[p - 1], lams[p] - lams[p - 1], dz, work, cov):
                for i in range(n):
                    z[i] += dz[i]
        rr, it, st = solve_point(A, pri, lab, kind, om, io, De, gammas[p], lams[p], intercept, z, warm, work, cov)
        res[p] = rr
        iters[p] = it
        status[p] = st
        for i in range(n):
            Z[p, i] = z[i]
        have = st == OK   # newton leaves J of the solution in work for the next tangent


@kernel(error_model="numpy")
def outputs(A, pri, lab, kind, om, io, De, gamma, lam, intercept, z, V_out, mom, cov):
    """Per-cluster C_k at a solution, with the moments in mom, and (q, s,
    Vh): |w|, the Gaussian scale sqrt(w^T Sigma w) of the scores (= q for
    isotropic features) and Vh = sum pi ed / V.  With a covariance
    |w|^2 = g^T E g + gamma S2 t2 (docs/covariance.md)."""
    K, r = A.shape
    alpha, b, V, q = _state(z, r, intercept)
    if cov is not None:
        q = alpha                                   # z[r] is log s
    C = np.empty(K)
    S2 = 0.0
    Sd = 0.0
    for k in range(K):
        C[k] = lab[k] * _shifted_projection(A, k, z, b)
        moments(kind[k], om[k], io[k], De[k], C[k], q, V, mom[k], True)
        S2 += pri[k] * mom[k, E2]
        Sd += pri[k] * mom[k, ED]
    V_out[0] = V
    s = q
    if cov is not None:
        t, B, Cf, D, E = cov_forms(cov, lam, Sd / V, r)
        g = np.zeros(r)
        for i in range(r):
            for k in range(K):
                g[i] += A[k, i] * pri[k] * lab[k] * mom[k, E1]
        q = math.sqrt(g @ (E @ g) + gamma * S2 * t[2])
    return C, q, s, Sd / V


@kernel(error_model="numpy")
def sweep_outputs(A, pri, lab, kind, om, io, De, gammas, lams, intercept, Z, q, C, terr, tloss, tau, vhat, cov):
    """q = |w|, C_k = y_k(mu_k.w + b), training errors and losses, tau (the
    scores' spread sqrt(w^T Sigma w)) and Vh at each solution row of Z."""
    K, r = A.shape
    mom = np.empty((K, NMOM))
    V_out = np.empty(1)
    for p in range(Z.shape[0]):
        if Z[p, r] == -np.inf:
            # w = 0 (TRIVIAL): every margin is y_k b; the prox is the identity (V = 0)
            q[p] = 0.0
            tau[p] = 0.0
            b = Z[p, r + 1] if intercept else 0.0
            for k in range(K):
                C[p, k] = lab[k] * b
                terr[p, k] = 1.0 if C[p, k] < 0.0 else 0.0
                tloss[p, k] = 0.0
                if kind[k] == HINGE:
                    tloss[p, k] = om[k] * max(De[k] - C[p, k], 0.0)
            continue
        if not np.isfinite(Z[p, Z.shape[1] - 1]):
            continue          # not solved (no minimiser at lam = 0)
        c, qq, ss, vh = outputs(A, pri, lab, kind, om, io, De, gammas[p], lams[p], intercept, Z[p], V_out, mom, cov)
        q[p] = qq
        tau[p] = ss
        vhat[p] = vh
        for k in range(K):
            C[p, k] = c[k]
            terr[p, k] = mom[k, TERR]
            tloss[p, k] = mom[k, TLOSS]
