r"""High-precision (mpmath) reference for regularised ERM with a general
noise covariance :math:`\Sigma`.

What is computed
----------------
Cluster ``k`` has prior ``pi_k``, label ``y_k`` and data ``x = mu_k + Sigma^{1/2} h``,
``h ~ N(0, I_d)``; ``(w, b) = argmin (1/n) sum_i l_k(i)(y_i (w.x_i + b)) + (lam/2)||w||^2``
with ``b`` free (unpenalised) or ``b = 0``, ``d/n = gamma``; losses as in
:mod:`asymptotics.reference.erm` (``"vs"``, ``"hinge"``, ``"square"``, parameters per cluster).

:math:`\Sigma` enters through

* its limiting spectral law, atoms ``s_j`` with masses ``w_j`` (summing to 1):
  ``(1/d) tr f(Sigma) = sum_j w_j f(s_j)``;
* the means' coordinates ``M`` (L x K) in L eigen-directions of eigenvalues
  ``sigma_l`` (a vanishing fraction of d): ``M^T f(Sigma) M = M^T diag(f(sigma_l)) M``.

Unknowns ``m`` (K; ``m_k = mu_k . w``), ``s = sqrt(w^T Sigma w) > 0``, ``b``, ``V > 0``.
With ``C_k = y_k (m_k + b)``, ``X_k = C_k + s G``, ``P_k = prox_{V l_k}(X_k)`` and the
Gaussian averages ``e1_k = E[P_k - X_k]/V``, ``e2_k = E[(P_k - X_k)^2]/V^2``,
``ed_k = E[1 - dP_k/dX]`` of the isotropic reference, put
``Vhat = sum_k pi_k ed_k / V``, ``a_k = pi_k y_k e1_k``, ``R = (lam I + Vhat Sigma)^{-1}``:

* (C1) ``V = gamma tr(Sigma R)/d``
* (C2) ``s^2 = a^T (M^T R Sigma R M) a + gamma (sum_k pi_k e2_k) tr(Sigma^2 R^2)/d``
* (C3) ``m = (M^T R M) a``
* (C4) ``sum_k pi_k y_k e1_k = 0`` with an intercept, ``b = 0`` without.

Outputs: ``errors`` ``R_k = Q(y_k (m_k + b)/s)``; ``tau = s``;
``norm_w^2 = a^T M^T R^2 M a + gamma (sum pi e2) tr(Sigma R^2)/d``; ``b``; ``V``; ``Vhat``;
``ridge = Vhat/lam`` (``inf`` at ``lam = 0``, where ``R = Sigma^{-1}/Vhat``).

:func:`square_closed_form` is a second, independent route for the square loss
(ridge regression), derived in its docstring.

How
---
Iterated unknowns ``x = (m_1..m_K, log s, [b], log V)``; the K + 3 dimensionless
equations (``residual`` is ``max |F|``) are

* ``F_m,k = (m_k - (M^T R M a)_k)/s``                   [(C3), projections in units of s]
* ``F_s   = (a^T M^T R Sigma R M a + gamma sum pi e2 tr(Sigma^2 R^2)/d)/s^2 - 1``   [(C2)]
* ``F_b   = V sum_k pi_k y_k e1_k / (s sum_k pi_k ed_k)``   [(C4) as a shift of ``b/s``:
  ``-sum pi ed / V`` is the exact ``b``-derivative of ``sum pi y e1``]
* ``F_V   = gamma tr(Sigma R)/(d V) - 1``                   [(C1)]

1. Start (double precision, numpy/scipy): per-cluster moments by closed forms
   (square, hinge) or by a trapezoidal rule in ``G`` on [-10, 10] with a
   vectorised, bracketed Newton prox (VS); the damped fixed point
   (damping 1/2, geometric in ``s`` and ``V``, one Newton step in ``b`` per sweep),
   then MINPACK ``hybr`` on ``F`` (from the crude start if the fixed point
   diverges); if that fails, continuation in ``log lam`` from a large ridge.
   This is only a start: its accuracy does not enter the result.
2. Newton at ``dps`` digits: the moments and their derivatives in ``(C, s, V)`` come
   from :func:`asymptotics.reference.erm.moments` (VS: composite Gauss-Legendre with
   panels graded around the prox branch points, analytic derivatives; hinge,
   square: closed forms in mpmath, derivatives by central differences).  The
   Jacobian is assembled by the chain rule (``dC_k/dm_k = dC_k/db = y_k``) with
   central differences of the purely algebraic part of ``F`` in the linearised
   moments (step ``10^-(dps/3+1)``: Jacobian error ``~10^-(2 dps/3)``, which only
   slows Newton down by that factor per step).  Step halved while ``max |F|`` does
   not decrease; stopped when ``max |F| <= 10^-(dps-2)`` after a step below
   ``10^-(dps/2)``.

Accuracy argument
-----------------
At the returned point ``max |F| <= 10^-(dps-2)``; the remaining error is the
quadrature error of the moments (the Gauss-Legendre rule of the isotropic reference,
measured there at 1e-18 relative or better for dps 20, 1e-20 at dps 30) amplified
by the conditioning of the system.  Both are estimated at the returned point:
``quad_error`` is ``max |F_fine - F|`` with 1.5x the nodes per panel, and
``error_estimate`` is the max-norm of the Newton correction ``J^{-1} F_fine``, i.e.
how far the root moves in ``x`` (absolute in ``m``, ``b``; relative in ``s``, ``V``)
when the quadrature is refined.  The tests check the result against exact
special cases (``Sigma = I``, ``Sigma = cI``, the ``lam = 0`` affine invariance,
all through the isotropic reference) and against :func:`square_closed_form`, to
1e-20 at dps 30 (measured: residual <= 8e-31, ``error_estimate`` <= 5e-30, largest
relative difference 5e-30).

Priors are used as given (not renormalised), as in the isotropic reference: doubles
such as 0.2 + 0.8 sum to 1 + 5.6e-17, which moves the answer at that level
(:func:`square_closed_form` assumes the sum is exactly 1).

Independence
------------
Nothing is imported from the package's engines; the per-cluster moments are those of
:mod:`asymptotics.reference.erm` (itself independent of the engines), the rest is
written here from the equations above.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import mpmath as mp
import numpy as np
from scipy import optimize, special

from . import erm as _iso

__all__ = ["solve", "square_closed_form", "residuals"]


# ---------------------------------------------------------------------------
# problem data and the algebraic part of the equations (shared by the double
# and the mpmath paths: plain Python arithmetic on floats or on mpf)
# ---------------------------------------------------------------------------
class _Setup:
    """Problem data converted by ``conv`` (``float`` or ``mp.mpf``)."""

    def __init__(self, priors, labels, M, mean_eigs, atoms, weights, gamma, lam, kinds,
                 omega, iota, Delta, intercept: bool, conv: Callable) -> None:
        self.K = len(priors)
        self.pi = [conv(p) for p in priors]
        self.y = [int(v) for v in labels]
        self.M = [[conv(v) for v in row] for row in M]
        self.sig = [conv(v) for v in mean_eigs]
        self.atoms = [conv(v) for v in atoms]
        self.w = [conv(v) for v in weights]
        self.gamma = conv(gamma)
        self.lam = conv(lam)
        self.kinds = [str(k).lower() for k in kinds]
        self.omega = [conv(v) for v in omega]
        self.iota = [conv(v) for v in iota]
        self.Delta = [conv(v) for v in Delta]
        self.intercept = bool(intercept)
        self.dim = self.K + (3 if self.intercept else 2)
        self.conv = conv

    # x = (m_1..m_K, log s, [b], log V)
    def unpack(self, x, exp=math.exp):
        K = self.K
        m = list(x[:K])
        s = exp(x[K])
        if self.intercept:
            b, V = x[K + 1], exp(x[K + 2])
        else:
            b, V = 0 * x[K], exp(x[K + 1])
        return m, s, b, V

    def pack(self, m, s, b, V, log=math.log):
        x = [self.conv(v) for v in m] + [log(self.conv(s))]
        if self.intercept:
            x.append(self.conv(b))
        x.append(log(self.conv(V)))
        return x

    def forms(self, vhat, a):
        """Traces and mean quadratic forms at ``R = (lam + vhat Sigma)^{-1}``.

        Returns ``(t1, t2, t3, KRa, aKRSRa, aKR2a)``: ``tr(Sigma R)/d``,
        ``tr(Sigma^2 R^2)/d``, ``tr(Sigma R^2)/d``, ``M^T R M a``,
        ``a^T M^T R Sigma R M a``, ``a^T M^T R^2 M a``.
        """
        lam = self.lam
        t1 = t2 = t3 = 0 * vhat
        for sj, wj in zip(self.atoms, self.w):
            r = 1 / (lam + vhat * sj)
            t1 += wj * sj * r
            t2 += wj * (sj * r) ** 2
            t3 += wj * sj * r * r
        K = self.K
        KRa = [0 * vhat] * K
        aKRSRa = aKR2a = 0 * vhat
        for row, sl in zip(self.M, self.sig):
            r = 1 / (lam + vhat * sl)
            Ma = sum(row[k] * a[k] for k in range(K))   # (M a)_l
            for k in range(K):
                KRa[k] = KRa[k] + row[k] * r * Ma
            aKRSRa += sl * (r * Ma) ** 2
            aKR2a += (r * Ma) ** 2
        return t1, t2, t3, KRa, aKRSRa, aKR2a

    def algebra(self, x, mom, exp=math.exp) -> list:
        """The K + 3 dimensionless equations given ``mom[k] = (e1, e2, ed)``."""
        K = self.K
        m, s, b, V = self.unpack(x, exp)
        pi, y = self.pi, self.y
        a = [pi[k] * y[k] * mom[k][0] for k in range(K)]
        se2 = sum(pi[k] * mom[k][1] for k in range(K))
        sed = sum(pi[k] * mom[k][2] for k in range(K))
        t1, t2, _, KRa, aKRSRa, _ = self.forms(sed / V, a)
        F = [(m[k] - KRa[k]) / s for k in range(K)]
        F.append((aKRSRa + self.gamma * se2 * t2) / (s * s) - 1)
        if self.intercept:
            F.append(V * sum(a) / (s * sed))
        F.append(self.gamma * t1 / V - 1)
        return F


# ---------------------------------------------------------------------------
# double precision: moments and the start
# ---------------------------------------------------------------------------
def _sigmoid(u: np.ndarray) -> np.ndarray:
    return special.expit(u)


def _vs_prox_u(A: float, B: np.ndarray) -> np.ndarray:
    """Root u of u + A sigmoid(u) = B (vectorised).

    The left side is increasing with slope >= 1, so the root lies in
    [B - A, B].  Start from the root of the piecewise-linear surrogate
    (sigmoid ~ 0, ~ u-linear, ~ 1); Newton steps are replaced by bisection
    when they leave the bracket or do not halve the step before last (plain
    Newton can oscillate between the two flat branches when A >> 1).
    """
    lo, hi = B - A, B.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        t = B / A
        mid = np.log(t / (1 - t))
    u = np.where(B <= 0, B - A * _sigmoid(B),
                 np.where(B >= A, B - A + A * _sigmoid(A - B), mid))
    u = np.where(np.isfinite(u) & (u >= lo) & (u <= hi), u, 0.5 * (lo + hi))
    dxold = hi - lo
    for _ in range(300):
        s = _sigmoid(u)
        f = u + A * s - B
        lo = np.where(f < 0, u, lo)
        hi = np.where(f > 0, u, hi)
        dx = f / (1 + A * s * (1 - s))
        un = u - dx
        bad = ((un < lo) | (un > hi) | (2 * np.abs(dx) > np.abs(dxold))) & (f != 0)
        un = np.where(bad, 0.5 * (lo + hi), un)
        dxold = np.where(bad, 0.5 * (hi - lo), dx)
        if np.all((np.abs(un - u) <= 1e-14 * (1 + np.abs(u))) | (f == 0)):
            return un
        u = un
    return u


def _moments_double(kind: str, C: float, s: float, V: float, om: float, io: float,
                    De: float) -> tuple:
    """(e1, e2, ed) in double precision (start only)."""
    if kind == "square":
        k = 1 + V * om
        return om * (De - C) / k, om * om * ((De - C) ** 2 + s * s) / k ** 2, V * om / k
    if kind == "hinge":
        t = De - C
        ahi, alo = t / s, (t - V * om) / s
        Plo, Phi_ = special.ndtr(alo), special.ndtr(ahi)
        plo, phi_ = math.exp(-alo * alo / 2) / math.sqrt(2 * math.pi), \
            math.exp(-ahi * ahi / 2) / math.sqrt(2 * math.pi)
        dP, dp = Phi_ - Plo, plo - phi_
        e1 = om * Plo + (t * dP - s * dp) / V
        e2 = om * om * Plo + (t * t * dP - 2 * t * s * dp
                              + s * s * (dP + alo * plo - ahi * phi_)) / V ** 2
        return e1, e2, dP
    # VS: trapezoid in G; the integrand is analytic in a strip of half-width
    # ~pi/(s Delta) around the real axis, hence the step ~1/(s Delta) (floored:
    # the iterations of the start can visit huge s, where accuracy is moot)
    h = min(0.05, max(0.5 / (s * De), 5e-4))
    G = np.arange(-10.0, 10.0 + h / 2, h)
    wt = np.exp(-G * G / 2) * h / math.sqrt(2 * math.pi)
    A = V * om * De * De
    u = _vs_prox_u(A, io - De * (C + s * G))
    sg = _sigmoid(u)
    r = A * sg * (1 - sg)
    h1 = om * De * sg
    return float(wt @ h1), float(wt @ (h1 * h1)), float(wt @ (r / (1 + r)))


def _double_moments(st: _Setup, x) -> list:
    m, s, b, V = st.unpack(x)
    return [_moments_double(st.kinds[k], st.y[k] * (m[k] + b), s, V, st.omega[k],
                            st.iota[k], st.Delta[k]) for k in range(st.K)]


def _double_F(st: _Setup, x) -> np.ndarray:
    return np.array(st.algebra(list(x), _double_moments(st, x)))


def _fixed_point(st: _Setup, x, maxit: int, tol: float):
    """Damped fixed point of (C1)-(C4) (double precision, start only).

    Returns ``(x, converged)``; on divergence (non-finite, ``s > 1e3`` or ``V > 1e10``:
    each sweep then costs ever finer quadrature, and ``hybr`` or the continuation in
    ``lam`` take over) the last finite iterate with ``converged = False``.
    """
    K, pi, y = st.K, st.pi, st.y
    theta, prev = 0.5, math.inf
    for _ in range(maxit):
        m, s, b, V = st.unpack(x)
        mom = _double_moments(st, x)
        sed = sum(pi[k] * mom[k][2] for k in range(K))
        se2 = sum(pi[k] * mom[k][1] for k in range(K))
        a = [pi[k] * y[k] * mom[k][0] for k in range(K)]
        t1, t2, _, KRa, aKRSRa, _ = st.forms(sed / V, a)
        Vn = st.gamma * t1
        sn = math.sqrt(max(aKRSRa + st.gamma * se2 * t2, 1e-300))
        bn = b + V * sum(a) / sed if st.intercept else 0.0
        change = max([abs(KRa[k] - m[k]) / s for k in range(K)]
                     + [abs(math.log(sn / s)), abs(math.log(Vn / V)), abs(bn - b) / s])
        # the map can overshoot (gain < -1): halve the damping while the change grows
        theta = max(theta / 2, 1 / 256) if change > 1.5 * prev else min(1.25 * theta, 0.5)
        prev = change
        xn = st.pack([m[k] + theta * (KRa[k] - m[k]) for k in range(K)],
                     s * (sn / s) ** theta, b + theta * (bn - b), V * (Vn / V) ** theta)
        _, sn_, _, Vn_ = st.unpack(xn)
        if not all(math.isfinite(v) for v in xn) or sn_ > 1e3 or Vn_ > 1e10:
            return x, False
        x = xn
        if change < tol:
            return x, True
    return x, False


def _hybr(st: _Setup, x):
    """MINPACK hybr on F from x; (root, True) if max |F| < 1e-9, else (x, False)."""
    try:
        with np.errstate(all="ignore"):
            sol = optimize.root(lambda z: _double_F(st, z), np.array(x, float),
                                method="hybr", options={"xtol": 1e-13})
            F = _double_F(st, sol.x)
    except (FloatingPointError, OverflowError, ZeroDivisionError, ValueError):
        return x, False
    if np.all(np.isfinite(F)) and np.max(np.abs(F)) < 1e-9:
        return list(sol.x), True
    return x, False


def _double_solve(st: _Setup):
    """A double-precision root of F (the start of the mpmath Newton).

    First the damped fixed point and ``hybr`` at ``lam`` itself.  The fixed
    point is not a contraction everywhere (square loss with gamma > 1 and a
    small ridge diverges; VS without intercept can oscillate), so on failure:
    the same at a large ridge ``lam_c >= max(lam, 1)`` (where it contracts), then
    continuation in ``log lam`` down to ``lam`` with a secant predictor, ``hybr``
    corrector and adaptive steps (``lam = 0``: down to 1e-8, then ``hybr`` at 0).
    """
    lam = st.lam

    def fixed_point(x, maxit, tol):
        try:
            with np.errstate(all="ignore"):
                return _fixed_point(st, x, maxit, tol)
        except (OverflowError, ZeroDivisionError, ValueError):
            return x, False

    def direct(lam_):
        st.lam = lam_
        crude = st.pack([0.0] * st.K, 1.0, 0.0, 1.0)
        x, converged = fixed_point(crude, 100, 1e-3)
        xs, ok = _hybr(st, x)
        if not ok and converged:
            x, _ = fixed_point(x, 300, 1e-8)
            xs, ok = _hybr(st, x)
        if not ok:
            xs, ok = _hybr(st, crude)
        return xs if ok else None

    def corrector(lam_, x):
        st.lam = lam_
        return _hybr(st, x)

    try:
        x = direct(lam)
        if x is not None:
            return x
        lam_c = max(lam, 1.0)
        for _ in range(5):
            x = direct(lam_c)
            if x is not None:
                break
            lam_c *= 10
        else:
            raise RuntimeError("double-precision start failed")
        t, t_end = math.log(lam_c), math.log(lam if lam > 0 else 1e-8)
        prev = None          # (t, x) of the previous accepted point, for the secant predictor
        step = -1.0
        while t > t_end:
            t_new = max(t + step, t_end)
            xp = list(x) if prev is None else [
                xi + (xi - pi_) * (t_new - t) / (t - prev[0]) for xi, pi_ in zip(x, prev[1])]
            xn, ok = corrector(math.exp(t_new), xp)
            if ok:
                prev, x, t = (t, x), xn, t_new
                step *= 1.5
            else:
                step /= 4
                if abs(step) < 1e-3:
                    raise RuntimeError(f"continuation in lam failed at lam = {math.exp(t):.3g}")
        if lam == 0:
            x, ok = corrector(0.0, x)
            if not ok:
                raise RuntimeError("no root at lam = 0 (no minimiser? square loss needs "
                                   "gamma < 1, other losses gamma below the separability "
                                   "threshold of the Mahalanobis Gram)")
        return x
    finally:
        st.lam = lam


# ---------------------------------------------------------------------------
# mpmath: moments, Jacobian, Newton
# ---------------------------------------------------------------------------
def _mp_cluster(st: _Setup, x, nodes: int, method: str, derivs: bool) -> list:
    m, s, b, V = st.unpack(x, mp.exp)
    return [_iso.moments(st.kinds[k], st.y[k] * (m[k] + b), s, V, st.omega[k], st.iota[k],
                         st.Delta[k], method=method, nodes=nodes, derivs=derivs)
            for k in range(st.K)]


def _mp_evaluate(st: _Setup, x, nodes: int, method: str, jac: bool):
    cl = _mp_cluster(st, x, nodes, method, jac)
    mom = [c["mom"] for c in cl]
    F = st.algebra(x, mom, mp.exp)
    if not jac:
        return F, None, mom
    K, dim = st.K, st.dim
    m, s, b, V = st.unpack(x, mp.exp)
    h = mp.mpf(10) ** (-(mp.mp.dps // 3 + 1))
    J = mp.zeros(dim, dim)
    for i in range(dim):
        # d(e1, e2, ed)_k / dx_i by the chain rule; columns of jac: d/dC, d/ds, d/dV
        dmom = []
        for k in range(K):
            jk = cl[k]["jac"]
            if i < K:
                col, fac = 0, (st.y[k] if i == k else 0)
            elif i == K:
                col, fac = 1, s
            elif st.intercept and i == K + 1:
                col, fac = 0, st.y[k]
            else:
                col, fac = 2, V
            dmom.append([jk[r][col] * fac for r in range(3)])
        xp, xm = list(x), list(x)
        xp[i] += h
        xm[i] -= h
        Fp = st.algebra(xp, [[mom[k][r] + h * dmom[k][r] for r in range(3)] for k in range(K)],
                        mp.exp)
        Fm = st.algebra(xm, [[mom[k][r] - h * dmom[k][r] for r in range(3)] for k in range(K)],
                        mp.exp)
        for r in range(dim):
            J[r, i] = (Fp[r] - Fm[r]) / (2 * h)
    return F, J, mom


def _newton(st: _Setup, x, nodes: int, method: str, maxit: int = 30):
    """Newton with step halving on max |F|; returns (x, F, J, iterations)."""
    tol = mp.mpf(10) ** (-(mp.mp.dps - 2))
    small = mp.mpf(10) ** (-(mp.mp.dps / 2))
    F, J, _ = _mp_evaluate(st, x, nodes, method, True)
    r = max(abs(v) for v in F)
    last = mp.inf
    for it in range(maxit):
        if r <= tol and (last <= small or r <= tol / 100):
            return x, F, J, it
        dx = mp.lu_solve(J, mp.matrix([-v for v in F]))
        t = mp.mpf(1)
        while True:
            xn = [x[i] + t * dx[i] for i in range(len(x))]
            Fn, Jn, _ = _mp_evaluate(st, xn, nodes, method, True)
            rn = max(abs(v) for v in Fn)
            if rn < (1 - t / 4) * r or (r <= tol and rn <= r):
                break
            if r <= tol:          # at the noise floor of the quadrature already
                return x, F, J, it
            t /= 2
            if t < mp.mpf(2) ** -20:
                raise RuntimeError(f"Newton stalled at max|F| = {mp.nstr(r, 5)}")
        last = mp.norm(dx, mp.inf) if t == 1 else mp.inf
        x, F, J, r = xn, Fn, Jn, rn
    raise RuntimeError(f"Newton did not converge: max|F| = {mp.nstr(r, 5)}")


def _check_inputs(priors, labels, M, mean_eigs, atoms, weights, gamma, lam, kinds, omega,
                  iota, Delta):
    K = len(priors)
    if not (len(labels) == len(kinds) == len(omega) == len(iota) == len(Delta) == K):
        raise ValueError("priors, labels, kinds, omega, iota, Delta must have length K")
    if len(M) != len(mean_eigs) or any(len(row) != K for row in M):
        raise ValueError("M must be L x K with L = len(mean_eigs)")
    if len(atoms) != len(weights) or not len(atoms):
        raise ValueError("atoms and weights must have the same (nonzero) length")
    if any(not float(v) > 0 for v in list(atoms) + list(mean_eigs)):
        raise ValueError("eigenvalues must be > 0")
    if any(float(v) < 0 for v in weights) or abs(sum(float(v) for v in weights) - 1) > 1e-9:
        raise ValueError("weights must be >= 0 and sum to 1")
    if any(not float(p) > 0 for p in priors) or abs(sum(float(p) for p in priors) - 1) > 1e-9:
        raise ValueError("priors must be positive and sum to 1")
    if any(int(v) not in (1, -1) for v in labels):
        raise ValueError("labels must be +1 or -1")
    if any(str(k).lower() not in _iso.KINDS for k in kinds):
        raise ValueError(f"loss kinds must be in {_iso.KINDS}")
    if not float(gamma) > 0 or float(lam) < 0:
        raise ValueError("need gamma > 0 and lam >= 0")
    if float(lam) == 0 and float(gamma) >= 1 and all(str(k).lower() == "square" for k in kinds):
        raise ValueError("square loss with lam = 0 needs gamma < 1")


def solve(priors: Sequence, labels: Sequence, M: Sequence[Sequence], mean_eigs: Sequence,
          atoms: Sequence, weights: Sequence, gamma, lam, kinds: Sequence[str],
          omega: Sequence, iota: Sequence, Delta: Sequence, intercept: bool = True,
          dps: int = 30, start: dict | None = None, *, method: str = "auto",
          nodes: int | None = None, check: bool = True) -> dict:
    r"""Solve (C1)-(C4) at ``dps`` significant digits.

    Parameters
    ----------
    priors, labels : sequences of length K
        Cluster priors (summing to 1, used as given) and labels (+-1).
    M : L x K nested sequence
        Coordinates of the means ``mu_k`` in L eigen-directions of ``Sigma``.
    mean_eigs : sequence of length L
        The eigenvalues ``sigma_l`` of those directions.
    atoms, weights : sequences of length J
        Spectral law of ``Sigma`` for the traces: ``(1/d) tr f(Sigma) = sum_j w_j f(s_j)``.
    gamma : float
        ``d/n > 0``.
    lam : float
        Ridge ``>= 0`` (``lam = 0`` needs a minimiser, i.e. a root of the system).
    kinds, omega, iota, Delta : sequences of length K
        Per-cluster losses as in :func:`asymptotics.reference.erm.solve`
        (``iota`` ignored for hinge and square).
    intercept : bool
        Free intercept (C4) or ``b = 0``.
    dps : int
        Working precision (decimal digits).
    start : dict, optional
        ``m`` (K values), ``s``, ``b``, ``V``: skip the double-precision solve.
    method : {"auto", "quad"}
        Passed to :func:`asymptotics.reference.erm.moments` (``"quad"``:
        quadrature also for hinge and square).
    nodes : int, optional
        Gauss-Legendre nodes per panel (default that of the isotropic reference).
    check : bool
        Estimate the quadrature error with 1.5x the nodes (``quad_error``,
        ``error_estimate``).

    Returns
    -------
    dict
        mpmath numbers: ``m`` (list, ``mu_k . w``), ``s`` and ``tau`` (``sqrt(w^T Sigma w)``),
        ``b``, ``V``, ``Vhat``, ``errors`` (``Q(y_k(m_k + b)/s)``), ``norm_w`` (``||w||``),
        ``ridge`` (``Vhat/lam``; ``mp.inf`` at ``lam = 0``), ``e1``, ``e2``, ``ed`` (lists),
        ``residual`` (``max |F|``), ``residuals``, ``quad_error``, ``error_estimate``,
        ``newton_iterations``.
    """
    _check_inputs(priors, labels, M, mean_eigs, atoms, weights, gamma, lam, kinds, omega,
                  iota, Delta)
    if method not in ("auto", "quad"):
        raise ValueError("method must be 'auto' or 'quad'")
    args = (priors, labels, M, mean_eigs, atoms, weights, gamma, lam, kinds, omega, iota,
            Delta, intercept)
    if start is None:
        x0 = _double_solve(_Setup(*args, conv=float))
    else:
        st0 = _Setup(*args, conv=float)
        x0 = st0.pack(start["m"], start["s"], start.get("b", 0.0), start["V"])
    with mp.workdps(dps):
        st = _Setup(*args, conv=mp.mpf)
        n = nodes or _iso.default_nodes(dps)
        x = [mp.mpf(v) for v in x0]
        x, F, J, nit = _newton(st, x, n, method)
        quad_error = error_estimate = None
        if check:
            F2, _, _ = _mp_evaluate(st, x, (3 * n) // 2 + 1, method, False)
            quad_error = max(abs(u - v) for u, v in zip(F, F2))
            error_estimate = mp.norm(mp.lu_solve(J, mp.matrix(F2)), mp.inf)
        F, _, mom = _mp_evaluate(st, x, n, method, False)
        return _outputs(st, x, F, mom) | {"quad_error": quad_error,
                                          "error_estimate": error_estimate,
                                          "newton_iterations": nit}


def _outputs(st: _Setup, x, F, mom) -> dict:
    K, pi, y = st.K, st.pi, st.y
    m, s, b, V = st.unpack(x, mp.exp)
    a = [pi[k] * y[k] * mom[k][0] for k in range(K)]
    se2 = mp.fsum(pi[k] * mom[k][1] for k in range(K))
    vhat = mp.fsum(pi[k] * mom[k][2] for k in range(K)) / V
    _, _, t3, _, _, aKR2a = st.forms(vhat, a)
    return {
        "m": m, "s": s, "tau": s, "b": b, "V": V, "Vhat": vhat,
        "errors": [mp.ncdf(-y[k] * (m[k] + b) / s) for k in range(K)],
        "norm_w": mp.sqrt(aKR2a + st.gamma * se2 * t3),
        "ridge": vhat / st.lam if st.lam > 0 else mp.inf,
        "e1": [v[0] for v in mom], "e2": [v[1] for v in mom], "ed": [v[2] for v in mom],
        "residual": max(abs(v) for v in F), "residuals": F,
    }


def residuals(sol: dict, priors, labels, M, mean_eigs, atoms, weights, gamma, lam, kinds,
              omega, iota, Delta, intercept: bool = True, dps: int = 30,
              nodes: int | None = None) -> list:
    """The dimensionless equations F at a given solution (``m``, ``s``, ``b``, ``V``),
    e.g. to check that :func:`square_closed_form` is a root of (C1)-(C4)."""
    with mp.workdps(dps):
        st = _Setup(priors, labels, M, mean_eigs, atoms, weights, gamma, lam, kinds, omega,
                    iota, Delta, intercept, conv=mp.mpf)
        x = st.pack(sol["m"], sol["s"], sol["b"] if intercept else 0, sol["V"], mp.log)
        F, _, _ = _mp_evaluate(st, x, nodes or _iso.default_nodes(dps), "auto", False)
        return F


# ---------------------------------------------------------------------------
# square loss: closed form from ridge-regression theory
# ---------------------------------------------------------------------------
def square_closed_form(priors: Sequence, labels: Sequence, M: Sequence[Sequence],
                       mean_eigs: Sequence, atoms: Sequence, weights: Sequence, gamma, lam,
                       omega=1, Delta: Sequence | float = 1, intercept: bool = True,
                       dps: int = 30) -> dict:
    r"""Square loss ``l_k(t) = omega (Delta_k - t)^2/2`` (common ``omega``) by ridge theory.

    Derivation (independent of (C1)-(C4)).  Since ``y^2 = 1``,
    ``(Delta_k - y(w.x + b))^2 = (tau_k - w.x - b)^2`` with ``tau_k = y_k Delta_k``, and
    the common ``omega`` only rescales the ridge: the estimator is ridge regression
    of the cluster targets ``tau_k`` on ``x`` (intercept unpenalised) with
    ``lam' = lam/omega``.  Write ``x_i = mu_k(i) + z_i``, ``z_i ~ N(0, Sigma)``, ``Z`` the
    n x d noise matrix, ``E`` the n x K cluster indicators, ``v = E(tau - b - m)``
    (``m = M^T w``).  Stationarity, ``lam' w = Z^T eps/n + M g`` with residual
    ``eps = v - Z w`` and ``g = E^T eps/n``, gives
    ``w = R Z^T v/n + R M g``, ``R = (Z^T Z/n + lam')^{-1}``, and
    ``eps = lam' Q v - Z R M g`` with ``Q = (Z Z^T/n + lam')^{-1}``.  Deterministic
    equivalents (Dobriban-Wager 2018, Hastie et al. 2022, Bach 2023), with
    ``kappa`` the root of the effective-regularisation equation
    ``kappa = lam' + kappa gamma df1(kappa)``, ``df1 = tr(Sigma (Sigma + kappa)^{-1})/d``,
    ``df2 = tr(Sigma^2 (Sigma + kappa)^{-2})/d``:

    * ``R ~ (kappa/lam') (Sigma + kappa)^{-1}`` and ``lam' Q ~ (lam'/kappa) I_n``
      (from ``tr`` of ``ZZ^T/n Q + lam' Q = I``);
    * ``R A R ~ (kappa/lam')^2 [(Sigma+kappa)^{-1} A (Sigma+kappa)^{-1}
      + gamma tr(A Sigma (Sigma+kappa)^{-2})/d / (1 - gamma df2) (Sigma+kappa)^{-1} Sigma (Sigma+kappa)^{-1}]``
      (second order; ``A = Sigma`` gives the variance inflation ``1/(1 - gamma df2)``);
    * terms odd in ``Z`` (``mu^T R Z^T v``, ``E^T Z R M g``) vanish (``Z -> -Z``), and
      ``v^T f(ZZ^T) v / n ~ (||v||^2/n) tr f/n`` (exchangeable rows): the noise part of
      ``w`` is ridge on a pure-noise target of variance
      ``sigma_v^2 = sum_k pi_k r_k^2``, ``r_k = tau_k - b - m_k``, giving
      ``w^T Sigma w = sigma_v^2 gamma df2/(1 - gamma df2)`` and
      ``||w||^2 = sigma_v^2 gamma T/(1 - gamma df2)``, ``T = tr(Sigma (Sigma+kappa)^{-2})/d``.

    Hence ``g ~ (lam'/kappa) Pi r`` (``Pi = diag(pi)``) and, with ``c = Pi r`` and the mean forms
    ``D = M^T (Sigma+kappa)^{-1} M``, ``D_S = M^T (Sigma+kappa)^{-1} Sigma (Sigma+kappa)^{-1} M``,
    ``D_2 = M^T (Sigma+kappa)^{-2} M``:

    * means: ``m = D Pi (tau - b 1 - m)`` (``lam'`` cancels), and with an intercept
      ``sum_i eps_i = 0``, i.e. ``sum_k pi_k (tau_k - b - m_k) = 0``: a (K+1) x (K+1) linear system;
    * ``s^2 = w^T Sigma w = (c^T D_S c + gamma df2 sigma_v^2)/(1 - gamma df2)``;
    * ``||w||^2 = c^T D_2 c + gamma T (c^T D_S c + sigma_v^2)/(1 - gamma df2)``;
    * the ERM's prox scale, for comparison with :func:`solve`: for the square loss
      ``ed = V omega/(1 + V omega)``, so ``R = (lam + Vhat Sigma)^{-1} = (Sigma + kappa)^{-1}/Vhat``
      with ``kappa = lam/Vhat``, and (C1) is the effective-regularisation equation when
      ``Vhat = omega (1 - gamma df1)``, ``V = gamma df1/(omega (1 - gamma df1))``;
      then ``ridge = Vhat/lam = 1/kappa``.

    ``kappa (1 - gamma df1(kappa)) - lam'`` is convex in ``kappa`` and negative at 0, so the
    positive root is unique and there ``1 - gamma df2 > 0``; Newton from
    ``lam' + gamma sum_j w_j s_j`` (where it is positive) converges monotonically.
    ``lam = 0`` needs ``gamma < 1`` and then ``kappa = 0`` (``R = Sigma^{-1}/Vhat``).

    Returns
    -------
    dict with ``m``, ``s``, ``tau``, ``b``, ``V``, ``Vhat``, ``errors``, ``norm_w``,
    ``ridge``, ``kappa``, ``df1``, ``df2`` (mpmath numbers).
    """
    K = len(priors)
    Dl = list(Delta) if isinstance(Delta, (list, tuple, np.ndarray)) else [Delta] * K
    if np.ndim(omega) != 0:
        if len(set(float(v) for v in omega)) != 1:
            raise ValueError("the closed form needs a common omega")
        omega = omega[0]
    _check_inputs(priors, labels, M, mean_eigs, atoms, weights, gamma, lam, ["square"] * K,
                  [omega] * K, [0] * K, Dl)
    with mp.workdps(dps + 10):
        pi = [mp.mpf(p) for p in priors]
        y = [int(v) for v in labels]
        Mm = [[mp.mpf(v) for v in row] for row in M]
        sig = [mp.mpf(v) for v in mean_eigs]
        at = [mp.mpf(v) for v in atoms]
        wt = [mp.mpf(v) for v in weights]
        gamma, om = mp.mpf(gamma), mp.mpf(omega)
        lamp = mp.mpf(lam) / om
        tau = [y[k] * mp.mpf(Dl[k]) for k in range(K)]

        def df(kap, p, q):
            """sum_j w_j s_j^p / (s_j + kappa)^q"""
            return mp.fsum(wj * sj ** p / (sj + kap) ** q for sj, wj in zip(at, wt))

        if lamp == 0:
            if gamma >= 1:
                raise ValueError("square loss with lam = 0 needs gamma < 1")
            kap = mp.mpf(0)
        else:
            kap = lamp + gamma * mp.fsum(wj * sj for sj, wj in zip(at, wt))
            for _ in range(500):
                f = kap - gamma * kap * df(kap, 1, 1) - lamp
                step = f / (1 - gamma * df(kap, 2, 2))
                kap -= step
                if abs(step) <= mp.eps * kap * 4:
                    break
            else:
                raise RuntimeError("kappa equation did not converge")
        df1, df2, T = df(kap, 1, 1), df(kap, 2, 2), df(kap, 1, 2)

        def form(f):
            return [[mp.fsum(Mm[l][j] * f(sig[l]) * Mm[l][k] for l in range(len(sig)))
                     for k in range(K)] for j in range(K)]

        D = form(lambda x: 1 / (x + kap))
        DS = form(lambda x: x / (x + kap) ** 2)
        D2 = form(lambda x: 1 / (x + kap) ** 2)
        # unknowns (m_1..m_K, b):  m + D Pi (m + b 1) = D Pi tau ;  sum pi (m + b) = sum pi tau
        A = mp.zeros(K + 1, K + 1)
        rhs = mp.zeros(K + 1, 1)
        for j in range(K):
            A[j, j] += 1
            for k in range(K):
                A[j, k] += D[j][k] * pi[k]
                A[j, K] += D[j][k] * pi[k]
                rhs[j] += D[j][k] * pi[k] * tau[k]
        if intercept:
            for k in range(K):
                A[K, k] = pi[k]
            A[K, K] = mp.fsum(pi)
            rhs[K] = mp.fsum(pi[k] * tau[k] for k in range(K))
        else:
            A[K, K] = 1
        sol = mp.lu_solve(A, rhs)
        m = [sol[k] for k in range(K)]
        b = sol[K]
        r = [tau[k] - b - m[k] for k in range(K)]
        c = [pi[k] * r[k] for k in range(K)]
        var = mp.fsum(pi[k] * r[k] ** 2 for k in range(K))

        def quad(F):
            return mp.fsum(c[j] * F[j][k] * c[k] for j in range(K) for k in range(K))

        cDSc = quad(DS)
        s2 = (cDSc + gamma * df2 * var) / (1 - gamma * df2)
        nw2 = quad(D2) + gamma * T * (cDSc + var) / (1 - gamma * df2)
        s = mp.sqrt(s2)
        vhat = om * (1 - gamma * df1)
        out = {
            "m": m, "s": s, "tau": s, "b": b,
            "V": gamma * df1 / (om * (1 - gamma * df1)), "Vhat": vhat,
            "errors": [mp.ncdf(-y[k] * (m[k] + b) / s) for k in range(K)],
            "norm_w": mp.sqrt(nw2),
            "ridge": 1 / kap if kap > 0 else mp.inf,
            "kappa": kap, "df1": df1, "df2": df2,
        }
    with mp.workdps(dps):
        return {k: ([+u for u in v] if isinstance(v, list) else +v) for k, v in out.items()}
