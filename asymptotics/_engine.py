r"""Numba core of the K-cluster max-margin asymptotics (docs/theory.md §2).

Notation.  Cluster ``k`` has prior ``pri[k]``, label ``lab[k]`` in {+1, -1},
margin ``marg[k]`` and mean factor row ``A[k]`` (``A A^T`` is the means' Gram
matrix, ``A = V S``).  The unknowns are ``x = (rho, beta)`` (``beta`` only with
an intercept) and ``u = 1/q``.  With ``t_k = lab_k (A_k . rho + beta) - marg_k u``

.. math:: H(x, u) = \sum_k \pi_k F(t_k) + \gamma (\|\rho\|^2 - 1).

The triplet solves  max u  s.t.  min_x H(x, u) <= 0, a convex program.

Why the nested form.  ``H`` is jointly convex and strictly convex in ``x``, so
``m(u) = min_x H(x, u)`` is convex, and strictly increasing on the whole real
line (``m'(u) = dH/du = -sum pi_k marg_k F'(t_k) > 0``, envelope theorem).
Hence

* the inner problem has a unique minimiser, found by Newton's method with an
  Armijo backtracking safeguard (globally convergent for a smooth strictly
  convex function, quadratic near the minimiser);
* ``m(u) = 0`` has exactly one root ``u*``, and the data are separable iff
  ``u* > 0`` (iff ``m(0) < 0``); Newton's method on a convex increasing
  function, once to the right of the root, decreases monotonically to it, and
  from the left it jumps to the right.  We keep a bracket anyway and bisect
  whenever a step leaves it, so convergence never depends on the start;
* between outer steps ``x`` is moved along the implicit-function tangent
  ``dx/du = -H_xx^{-1} H_xu``, which makes the pair of iterations a Newton
  method on the full KKT system (quadratic convergence) while the inner loop
  keeps it safe.

The same inner solver gives the separability threshold
gamma_star = min_x sum_k pi_k F(lab_k(A_k.rho + beta)) / (1 - |rho|^2), the
root of the concave decreasing function gamma -> min_x H(x, 0; gamma).  Each
evaluation gives the Dinkelbach bound gamma_star <= ratio(argmin) (Dinkelbach's
update is Newton's method on that function, monotone but slow when
gamma_star is 1e-90), and where the function is positive a lower bound; we
take Newton steps in log gamma inside that bracket (see ``threshold``).

Newton steps are solved in least-squares form (``_evaluate``, ``_qr_lstsq``)
so that the curvature 2 gamma along the directions that move no t_k survives
rounding when gamma is tiny.

Residuals are the KKT vector (grad_x H, H) in max-norm divided by gamma, the
natural scale of every term at the solution.
"""
from __future__ import annotations

import math

import numpy as np
from ._jit import kernel

from .gaussian import kernels_scalar, logq_scalar, q_scalar

# Status codes shared with the Python layer.
OK = 0
NOT_SEPARABLE = 1
NOT_CONVERGED = 2
UNDERFLOW = 3          # threshold: gamma_star is below ~1e-300 (the caller goes to the log domain)

_S_MIN = -690.0        # log(1e-300): below this gamma * |rho|^2 no longer curves H in double precision

_EPS = 2.220446049250313e-16


@kernel()
def cluster_arguments(A, lab, marg, intercept, x, u):
    """t_k = lab_k (A_k . rho + beta) - marg_k u for every cluster."""
    K, r = A.shape
    beta = x[r] if intercept else 0.0
    t = np.empty(K)
    for k in range(K):
        s = beta
        for i in range(r):
            s += A[k, i] * x[i]
        t[k] = lab[k] * s - marg[k] * u
    return t


@kernel()
def _evaluate(A, pri, lab, marg, gamma, intercept, x, u, g, J, c, e):
    """Evaluate H and its derivatives at (x, u).

    Fills the gradient ``g`` and the square-root form of the Hessian,
    Hxx = J^T J, with rows ``sqrt(w_k) a_k`` (w_k = pi_k F''(t_k), a_k =
    y_k (A_k, 1)) followed by ``sqrt(2 gamma) e_i`` for the rho coordinates,
    together with right-hand sides ``c`` (so that J^T c = -g) and ``e`` (so
    that J^T e = -H_xu).  Returns (H, dH/du, scale), scale = gamma +
    sum_k pi_k F(t_k).

    Why not Hxx itself: with an intercept and full-rank means there is a
    direction along which no t_k changes and only gamma |rho|^2 curves H; near
    the threshold of well-separated means gamma is 1e-20 or less while the
    other entries are O(1e-3), so forming Hxx rounds that curvature away and
    Cholesky fails.  Solving the Newton system as a least-squares problem in
    J (QR) keeps it: the condition number is that of J, the square root of
    that of Hxx.
    """
    K, r = A.shape
    m = x.shape[0]
    for i in range(m):
        g[i] = 0.0
    beta = x[r] if intercept else 0.0
    H = 0.0
    Hu = 0.0
    fsum = 0.0
    for k in range(K):
        s = beta
        for i in range(r):
            s += A[k, i] * x[i]
        yk = lab[k]
        t = yk * s - marg[k] * u
        f, f1, f2 = kernels_scalar(t)
        pk = pri[k]
        H += pk * f
        fsum += pk * f
        Hu -= pk * marg[k] * f1
        w = pk * f2
        sw = math.sqrt(w)
        for i in range(r):
            g[i] += pk * f1 * yk * A[k, i]
            J[k, i] = sw * yk * A[k, i]
        if intercept:
            g[r] += pk * f1 * yk
            J[k, r] = sw * yk
        # c_k = -pi_k F'(t_k) / sqrt(w_k), e_k = sqrt(w_k) marg_k; a row whose
        # weight underflowed carries no information (F' underflows with it).
        c[k] = -pk * f1 / sw if sw > 0.0 else 0.0
        e[k] = sw * marg[k]
    sg = math.sqrt(2.0 * gamma)
    rr = 0.0
    for i in range(r):
        rr += x[i] * x[i]
        g[i] += 2.0 * gamma * x[i]
        for j in range(m):
            J[K + i, j] = 0.0
        J[K + i, i] = sg
        c[K + i] = -sg * x[i]
        e[K + i] = 0.0
    H += gamma * (rr - 1.0)
    return H, Hu, gamma + fsum


@kernel()
def _qr_lstsq(J, b1, b2, out1, out2, v):
    """Least-squares solutions of J out1 = b1 and J out2 = b2 by Householder
    QR (J is n x m with n >= m and full column rank; J, b1, b2 are
    overwritten).  Returns False if a diagonal of R vanishes."""
    n, m = J.shape
    for j in range(m):
        norm = 0.0
        for i in range(j, n):
            norm += J[i, j] * J[i, j]
        norm = math.sqrt(norm)
        if norm == 0.0:
            return False
        alpha = -norm if J[j, j] > 0.0 else norm
        vv = 0.0
        for i in range(j, n):
            v[i] = J[i, j]
        v[j] -= alpha
        for i in range(j, n):
            vv += v[i] * v[i]
        if vv > 0.0:
            for col in range(j, m):
                dot = 0.0
                for i in range(j, n):
                    dot += v[i] * J[i, col]
                f = 2.0 * dot / vv
                for i in range(j, n):
                    J[i, col] -= f * v[i]
            dot1 = 0.0
            dot2 = 0.0
            for i in range(j, n):
                dot1 += v[i] * b1[i]
                dot2 += v[i] * b2[i]
            f1 = 2.0 * dot1 / vv
            f2 = 2.0 * dot2 / vv
            for i in range(j, n):
                b1[i] -= f1 * v[i]
                b2[i] -= f2 * v[i]
    for i in range(m - 1, -1, -1):
        s1 = b1[i]
        s2 = b2[i]
        for k in range(i + 1, m):
            s1 -= J[i, k] * out1[k]
            s2 -= J[i, k] * out2[k]
        if J[i, i] == 0.0:
            return False
        out1[i] = s1 / J[i, i]
        out2[i] = s2 / J[i, i]
    return True


@kernel()
def _objective(A, pri, lab, marg, gamma, intercept, x, u):
    """H(x, u) alone (line searches)."""
    K, r = A.shape
    beta = x[r] if intercept else 0.0
    H = 0.0
    for k in range(K):
        s = beta
        for i in range(r):
            s += A[k, i] * x[i]
        f, _, _ = kernels_scalar(lab[k] * s - marg[k] * u)
        H += pri[k] * f
    rr = 0.0
    for i in range(r):
        rr += x[i] * x[i]
    return H + gamma * (rr - 1.0)


@kernel()
def _inner(A, pri, lab, marg, gamma, intercept, x, u, max_iter, work):
    """Minimise H(., u) over x in place by safeguarded Newton.

    Returns (H, dH/du, scale, iterations, ok).  On return ``work`` holds the
    gradient at the final x, and the tangent of the minimiser path,
    dx/du = -Hxx^{-1} H_xu, there.
    """
    g, J, c, e, d, xt, tangent, v = work
    m = x.shape[0]
    it = 0
    d_prev = np.inf
    stalls = 0
    while True:
        H, Hu, scale = _evaluate(A, pri, lab, marg, gamma, intercept, x, u, g, J, c, e)
        if m == 0:
            return H, Hu, scale, it, True
        if not _qr_lstsq(J, c, e, d, tangent, v):
            return H, Hu, scale, it, False
        dec = 0.0  # Newton decrement squared: 2 x (predicted decrease)
        dmax = 0.0
        xmax = 0.0
        for i in range(m):
            dec -= g[i] * d[i]
            dmax = max(dmax, abs(d[i]))
            xmax = max(xmax, abs(x[i]))
        if dmax <= 4.0 * _EPS * (1.0 + xmax) or dec <= 1e-30 * scale:
            break
        if dec <= 1e-16 * scale:
            # In the quadratic region each step should shrink by far more
            # than 4x; steps that stop shrinking are rounding noise, which
            # happens along a direction of tiny curvature (only gamma|rho|^2
            # curves H there, and no t_k, hence no error, depends on it).
            if dmax > 0.25 * d_prev:
                stalls += 1
                if stalls >= 3:
                    break
        d_prev = dmax
        if it >= max_iter:
            return H, Hu, scale, it, False
        it += 1
        step = 1.0
        # Full Newton steps in the quadratic region (where Armijo tests drown
        # in rounding); backtracking elsewhere.
        if dec > 1e-6 * scale:
            for _ in range(60):
                for i in range(m):
                    xt[i] = x[i] + step * d[i]
                Ht = _objective(A, pri, lab, marg, gamma, intercept, xt, u)
                if Ht <= H - 0.25 * step * dec:
                    break
                step *= 0.5
        for i in range(m):
            x[i] += step * d[i]
    return H, Hu, scale, it, True


@kernel()
def _make_work(K, r, m):
    n = K + r
    return (np.empty(m), np.zeros((n, m)), np.zeros(n), np.zeros(n),
            np.zeros(m), np.empty(m), np.zeros(m), np.empty(n))


@kernel()
def _residual(A, pri, lab, marg, gamma, intercept, x, u, work):
    g, J, c, e = work[0], work[1], work[2], work[3]
    H, _, _ = _evaluate(A, pri, lab, marg, gamma, intercept, x, u, g, J, c, e)
    res = abs(H)
    for i in range(x.shape[0]):
        res = max(res, abs(g[i]))
    return res / gamma


@kernel()
def _cold_u(pri, marg, gamma):
    """u0 with sum_k pi_k F(-marg_k u0) = gamma (x = 0).  Since
    m(u0) <= H(0, u0) = F-sum - gamma + ... <= 0, u0 is left of the root.
    Solved by Newton on the convex increasing function of u."""
    u = 0.0
    for _ in range(100):
        f = 0.0
        fu = 0.0
        for k in range(pri.shape[0]):
            fk, f1, _ = kernels_scalar(-marg[k] * u)
            f += pri[k] * fk
            fu -= pri[k] * marg[k] * f1
        h = f - gamma
        if h >= 0.0:
            break
        un = u - h / fu
        if un - u <= 1e-12 * un:
            u = un
            break
        u = un
    return max(u, 0.0)


@kernel()
def solve_point(A, pri, lab, marg, gamma, intercept, x, u0, max_outer, max_inner, work):
    """Solve one point in place (x holds the start and gets the solution).

    Returns (u, iterations, residual, status).  ``u0 <= 0`` asks for a cold
    start.
    """
    m = x.shape[0]
    tangent = work[6]
    if not u0 > 0.0:
        u0 = _cold_u(pri, marg, gamma)
        if not u0 > 0.0:
            u0 = 1.0
    u = u0
    lo = 0.0          # m(lo) < 0 is known only once checked
    lo_checked = False
    hi = np.inf
    total = 0
    for outer in range(max_outer):
        Hm, Hu, scale, it, ok = _inner(A, pri, lab, marg, gamma, intercept, x, u, max_inner, work)
        total += it + 1
        if not ok:
            return u, total, np.inf, NOT_CONVERGED
        if Hm > 0.0:
            hi = u
        else:
            lo = u
            lo_checked = True
        du = -Hm / Hu
        un = u + du
        if abs(du) <= 8.0 * _EPS * u or abs(Hm) <= 8.0 * _EPS * scale:
            # The correction, or H itself, is at the rounding level: accept.
            # (Near the threshold u is tiny and ill-conditioned, and H stalls
            # at its rounding floor while du/u is still ~1e-13.)
            u = un
            for i in range(m):
                x[i] += tangent[i] * du
            break
        if not (un > lo and un < hi):
            if un <= lo and not lo_checked:
                # The root may be at or below u = 0: test separability.
                xs = x.copy()
                H0, _, _, it0, ok0 = _inner(A, pri, lab, marg, gamma, intercept, xs, 0.0,
                                            max_inner, work)
                total += it0 + 1
                if not ok0:
                    return u, total, np.inf, NOT_CONVERGED
                if H0 >= 0.0:
                    return 0.0, total, 0.0, NOT_SEPARABLE
                lo_checked = True
            if np.isinf(hi):
                un = 4.0 * u
            else:
                un = 0.5 * (lo + hi)
            du = un - u
        for i in range(m):
            x[i] += tangent[i] * du
        u = un
    else:
        res = _residual(A, pri, lab, marg, gamma, intercept, x, u, work)
        return u, total, res, NOT_CONVERGED
    res = _residual(A, pri, lab, marg, gamma, intercept, x, u, work)
    status = OK if res <= 1e-9 else NOT_CONVERGED
    return u, total, res, status


@kernel()
def solve_sweep(A, pri, lab, gammas, margins, intercept, max_outer, max_inner):
    """Solve N points (gammas[N], margins[N, K]), each warm-started from the
    last converged one.  Returns (u[N], x[N, m], iterations[N], residual[N],
    status[N])."""
    N = gammas.shape[0]
    r = A.shape[1]
    m = r + (1 if intercept else 0)
    us = np.zeros(N)
    xs = np.zeros((N, m))
    iters = np.zeros(N, dtype=np.int64)
    res = np.zeros(N)
    status = np.zeros(N, dtype=np.int64)
    work = _make_work(A.shape[0], r, m)
    x = np.zeros(m)
    u_prev = 0.0
    for n in range(N):
        if u_prev > 0.0:
            x0 = x.copy()
        else:
            x0 = np.zeros(m)
        u, it, rs, st = solve_point(A, pri, lab, margins[n], gammas[n], intercept, x0, u_prev,
                                    max_outer, max_inner, work)
        if st != OK and u_prev > 0.0:
            # a bad warm start must not decide the answer: retry cold
            x0 = np.zeros(m)
            u, it2, rs, st = solve_point(A, pri, lab, margins[n], gammas[n], intercept, x0, 0.0,
                                         max_outer, max_inner, work)
            it += it2
        us[n] = u
        xs[n] = x0
        iters[n] = it
        res[n] = rs
        status[n] = st
        if st == OK:
            x = x0
            u_prev = u
        else:
            u_prev = 0.0
    return us, xs, iters, res, status


@kernel()
def solve_single(A, pri, lab, marg, gamma, intercept, max_outer, max_inner):
    """One point from a cold start, with everything a result needs, so that a
    single API call costs one compiled call: returns (u, x, iterations,
    residual, status, projections, errors, log_errors), projections
    (A rho)_k and the errors Q(t_k), log Q(t_k) of t_k = y_k((A rho)_k + beta)."""
    K, r = A.shape
    m = r + (1 if intercept else 0)
    work = _make_work(K, r, m)
    x = np.zeros(m)
    u, it, res, st = solve_point(A, pri, lab, marg, gamma, intercept, x, 0.0, max_outer, max_inner, work)
    beta = x[r] if intercept else 0.0
    proj = np.empty(K)
    errs = np.empty(K)
    logs = np.empty(K)
    for k in range(K):
        s = 0.0
        for i in range(r):
            s += A[k, i] * x[i]
        proj[k] = s
        t = lab[k] * (s + beta)
        errs[k] = q_scalar(t)
        logs[k] = logq_scalar(t)
    return u, x, it, res, st, proj, errs, logs


@kernel()
def threshold(A, pri, lab, intercept, max_iter, max_inner):
    """Separability threshold gamma_star.

    Works in s = log gamma (gamma_star ranges over hundreds of decades: about
    1e-90 for antipodal means of norm 20) on
    phi(s) = m(e^s) / e^s = min_x sum_k pi_k F(t_k) e^{-s} + |rho|^2 - 1,
    which is decreasing with phi'(s) = -(phi + 1 - |rho|^2) (envelope).  Every
    evaluation also gives the Dinkelbach bound gamma_star <= ratio(x*) and,
    where phi > 0, the bound gamma_star > e^s; Newton steps in s are taken
    inside that bracket and replaced by bisection when they leave it or stall.

    Returns (gamma_star, x, iterations, status); status UNDERFLOW when the
    search goes below gamma = 1e-300 (x is then the last solved point).
    """
    r = A.shape[1]
    m = r + (1 if intercept else 0)
    work = _make_work(A.shape[0], r, m)
    marg = np.zeros(pri.shape[0])
    x = np.zeros(m)
    # At x = 0 the ratio is sum_k pi_k F(0) = 1/2 >= gamma_star.
    s_hi = math.log(0.5)
    s_lo = -np.inf
    s = s_hi
    best = 0.5
    total = 0
    width_old = np.inf
    x_good = x.copy()
    for it in range(max_iter):
        if s < _S_MIN:
            return best, x_good, total, UNDERFLOW
        gam = math.exp(s)
        Hm, _, scale, nin, ok = _inner(A, pri, lab, marg, gam, intercept, x, 0.0, max_inner, work)
        total += nin + 1
        if not ok:
            # A trial far below gamma_star can make the inner problem hard
            # (|rho| >> 1); it says nothing about the root: back off.
            if s < s_hi and it < max_iter - 1:
                x[:] = x_good
                s = 0.5 * (s + s_hi)
                continue
            return best, x, total, NOT_CONVERGED
        x_good[:] = x
        rr = 0.0
        for i in range(r):
            rr += x[i] * x[i]
        fsum = Hm + gam * (1.0 - rr)          # sum_k pi_k F(t_k) >= 0
        phi = Hm / gam
        if rr < 1.0:
            ratio = fsum / (1.0 - rr)
            if ratio < best:
                best = ratio
            if best > 0.0:
                s_hi = min(s_hi, math.log(best))
        if phi > 0.0:
            s_lo = max(s_lo, s)
        elif phi == 0.0:
            return gam, x, total, OK
        width = s_hi - s_lo
        if width <= 1e-15 * max(1.0, abs(s_hi)):
            return best, x, total, OK
        slope = phi + 1.0 - rr                 # -phi'(s) = fsum / gamma > 0
        s_new = s + phi / slope if slope > 0.0 else -np.inf
        if np.isinf(s_lo):
            # no lower bound yet: Newton, but at most 40 e-folds at once
            if not s_new > s - 40.0:
                s_new = s - 40.0
            if s_new >= s_hi:
                s_new = s_hi - max(1e-3, 0.5 * abs(s_hi - s))
        elif not (s_lo < s_new < s_hi) or width > 0.5 * width_old:
            s_new = 0.5 * (s_lo + s_hi)
        if abs(s_new - s) <= 2e-16 * max(1.0, abs(s)):
            return best, x, total, OK
        width_old = width
        s = s_new
    return best, x, total, NOT_CONVERGED
