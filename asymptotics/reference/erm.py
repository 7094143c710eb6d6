r"""High-precision (mpmath) reference for the regularised-ERM fixed point.

What is computed
----------------
The asymptotic fixed point of regularised empirical risk minimisation on an
isotropic K-cluster Gaussian mixture (``docs/erm.md``): cluster
``k`` has prior ``pi_k``, label ``y_k``, mean ``mu_k`` (only the Gram matrix
``Gram_jk = mu_j . mu_k`` enters), loss ``l_k`` of one of three kinds

* ``"vs"``:     ``l(t) = omega log(1 + exp(iota - Delta t))``
* ``"hinge"``:  ``l(t) = omega max(Delta - t, 0)``
* ``"square"``: ``l(t) = omega (Delta - t)^2 / 2``

and, with ``X_k = y_k (m_k + b) + q G`` (``G ~ N(0, 1)``), ``P_k = prox_{V l_k}(X_k)``,
``e1_k = E[P_k - X_k]/V``, ``e2_k = E[(P_k - X_k)^2]/V^2``, ``ed_k = E[1 - dP_k/dX]``:

* (S1) ``gamma = sum_k pi_k ed_k + lam V``
* (S2) ``gamma alpha^2 = V^2 sum_k pi_k e2_k``
* (S3) ``c_k = (V/gamma) pi_k y_k e1_k``
* (S4) ``sum_k pi_k y_k e1_k = 0`` with an intercept, ``b = 0`` without,

with ``m = Gram c`` and ``q^2 = c^T Gram c + alpha^2``.

How
---
The unknowns actually iterated are ``x = (m_1..m_K, log q, b, log V)`` (``b``
dropped without intercept); ``c`` and ``alpha`` follow from (S3) and from
``q^2 = c^T Gram c + alpha^2``.  The K+3 dimensionless equations are

* ``F_m,k = (m_k - (Gram c)_k) / q``                       [(S3) through m = Gram c]
* ``F_q   = (V^2 sum pi e2 - gamma alpha^2) / (gamma q^2)``  [(S2), alpha^2 := q^2 - c^T Gram c]
* ``F_b   = V sum_k pi_k y_k e1_k / (q sum_k pi_k ed_k)``    [(S4) expressed as a shift of b/q:
  ``-sum pi ed / V`` is its exact derivative in ``b``]
* ``F_V   = (sum_k pi_k ed_k + lam V)/gamma - 1``             [(S1)]

and ``residual`` is ``max |F|`` at the returned point (every component is
dimensionless: projections and b in units of ``q = ||w||``, (S1) and (S2)
divided by ``gamma`` and ``gamma q^2``).

* Prox.  VS: with ``u = iota - Delta p`` the prox equation is
  ``u + A sigmoid(u) = B`` with ``A = V omega Delta^2``, ``B = iota - Delta X``;
  the root lies in ``[B - A, B]`` and ``f' >= 1``.  It is bracketed and found
  by safeguarded Newton in double precision (a start only) and then by
  Newton in mpmath, stopped when the last step ``du`` satisfies
  ``du^2 <= 10^-dps`` (``|f''/f'| <= 1`` so the error after that step is
  below ``du^2/2``).  Hinge and square: the explicit piecewise-linear /
  linear prox.
* Expectations over ``G``.  Composite Gauss-Legendre in mpmath (nodes from
  the Legendre recurrence at the working precision) on ``[-L, L]``,
  ``L = sqrt(2 ln 10 (dps + 8))``, split where the integrand changes
  character.  For VS the map ``X -> u`` has branch points exactly where
  ``1 + A s(1 - s) = 0``, i.e. at ``Im B = pi`` and
  ``Re B = log|s/(1 - s)| + A s`` with ``s = (1 +- sqrt(1 + 4/A))/2`` (the
  two "edges" of the prox: entering and leaving the flat part); in ``G``
  they sit at distance ``delta = pi/(Delta q)`` from the real axis.  Around
  each the panels are graded geometrically (breakpoints at
  ``s +- delta 2^j``, ``j = -1, 0, 1, ...`` up to panel length ``H = 1``) so
  that each panel sees the singularity at a fixed relative distance
  (Bernstein ellipse parameter >= ~4) and Gauss-Legendre converges
  geometrically with the same number of nodes per panel whatever
  ``q Delta`` is (self-convergence checked up to ``q Delta = 1000``; against
  an adaptive tanh-sinh quadrature with a bisection prox at ``q Delta = 50``).
  Hinge: split at the two kinks.  The quadrature error is estimated at the returned point by repeating
  the evaluation with 1.5x the nodes (``quad_error``).
* Hinge and square default to mpmath closed forms (the prototype algorithm of docs/erm.md §5,
  evaluated with extra digits against cancellation); ``method="quad"``
  uses the quadrature path for every kind (tests compare the two).
* Root of the system: damped Newton on ``x`` (step halved until Deuflhard's
  natural-monotonicity test or a decrease of ``max |F|`` is met), stopped
  when ``max |F| <= 10^-(dps-2)`` and the last full step is below
  ``10^-(dps/2)`` (or ``max |F| <= 10^-dps``).
  The Jacobian is assembled by the chain rule from the per-cluster
  derivatives of ``(e1, e2, ed)`` in ``(C, q, V)``: for VS they are
  Gaussian averages of explicit prox derivatives computed in the same
  quadrature pass; for the closed forms they are central differences.
* Start.  With ``start`` (``m, q, b, V``) only the final Newton at ``dps`` is
  run.  Without it (all at 15 digits, 14 nodes per panel): at
  ``lam_0 = max(lam, 1e-2)`` (``lam = 0``: first at ``lam_0 = 0`` itself) a crude
  start ``m = 0, q = 1, b = 0, V = 1``, the damped fixed point of docs/erm.md
  section 4 (damping 1/2, geometric in q and V, one Newton step in b per
  sweep; the damping is halved whenever the update grows) until the
  relative change is below 1e-1, then damped Newton (if that fails: more
  sweeps to 1e-3, 1e-5, ... and Newton again; if the sweeps diverge:
  damped Newton from the crude start).  For ``lam < 1e-2``: continuation in
  ``log lam`` (tangent predictor from the Jacobian, Newton corrector,
  adaptive step) down to ``lam`` (for ``lam = 0`` when the direct attempt
  failed: down to 1e-7, then Newton at 0).  Then the final Newton at ``dps``.

Accuracy and cost (measured)
----------------------------
dps = 20 vs dps = 30, and 23 vs 40 nodes per panel: m, q, b, V and the
errors agree to 1e-18 relative or better (typically 1e-20) for VS (K = 2, 4;
lam from 0 to 1e-40; q Delta up to 23), hinge and square.  One K = 2 VS
solve from a start at dps = 20 takes ~0.5-1 s, K = 4 ~1.5 s; hinge and
square ~10-50 ms; from no start 1-5 s.

Independence
------------
Nothing is imported from the package's engines or loss modules; the prox
root, the quadrature rule and nodes, the closed forms, the Jacobian and the
solver are written here from the equations of docs/erm.md (re-derived:
``dP/dX = 1/(1 + V l''(P))``, ``dP/dV = -l'(P) dP/dX``), and the tests
check them against each other (closed form vs quadrature, analytic vs
finite-difference derivatives) and against exact special cases
(Marchenko-Pastur for the square loss, the max-margin limit for hinge,
symmetries).  The only other code the tests use is the max-margin solvers
(``asymptotics.cs_svm`` and :mod:`.maxmargin`) for the hinge lam -> 0 limit.

Priors are used as given (not renormalised; they must sum to 1 within
1e-9): doubles such as 0.3 + 0.7 do not sum to 1 exactly, which moves the
answer at the 1e-17 level.
"""
from __future__ import annotations

import math

import mpmath as mp

__all__ = ["solve", "prox", "moments", "KINDS"]

KINDS = ("vs", "hinge", "square")

_GL_CACHE: dict = {}


# ---------------------------------------------------------------------------
# losses and prox
# ---------------------------------------------------------------------------
class _Loss:
    __slots__ = ("kind", "omega", "iota", "Delta")

    def __init__(self, kind, omega, iota, Delta):
        kind = str(kind).lower()
        if kind not in KINDS:
            raise ValueError(f"unknown loss kind {kind!r}; expected one of {KINDS}")
        self.kind = kind
        self.omega = mp.mpf(omega)
        self.iota = mp.mpf(iota) if kind == "vs" else mp.mpf(0)
        self.Delta = mp.mpf(Delta)
        if self.omega <= 0:
            raise ValueError("omega must be > 0")
        if kind in ("vs", "hinge") and self.Delta <= 0:
            raise ValueError(f"Delta must be > 0 for the {kind} loss")

    def value(self, t):
        if self.kind == "vs":
            return self.omega * _softplus(self.iota - self.Delta * t)
        if self.kind == "hinge":
            return self.omega * max(self.Delta - t, mp.mpf(0))
        return self.omega * (self.Delta - t) ** 2 / 2


def _softplus(u):
    if u > 0:
        return u + mp.log1p(mp.exp(-u))
    return mp.log1p(mp.exp(u))


def _sig_pair(u):
    """(sigmoid(u), sigmoid(-u)) without cancellation."""
    if u >= 0:
        t = mp.exp(-u)
        s = 1 / (1 + t)
        return s, t * s
    t = mp.exp(u)
    s1 = 1 / (1 + t)
    return t * s1, s1


def _sigf(u: float) -> float:
    if u >= 0:
        return 1.0 / (1.0 + math.exp(-u))
    t = math.exp(u)
    return t / (1.0 + t)


def _u_float(A: float, B: float) -> float:
    """Root of u + A sigmoid(u) = B in double precision (bracketed Newton)."""
    lo, hi = B - A, B
    if hi <= lo:  # A below double resolution of B
        return B
    if B <= 0:
        u = B - A * _sigf(B)
    elif B >= A:
        u = B - A + A * _sigf(A - B)
    else:
        t = B / A
        u = math.log(t / (1.0 - t)) if 0.0 < t < 1.0 else 0.5 * (lo + hi)
    if not lo <= u <= hi:
        u = 0.5 * (lo + hi)
    for _ in range(200):
        s = _sigf(u)
        f = u + A * s - B
        if f > 0:
            hi = u
        elif f < 0:
            lo = u
        else:
            return u
        un = u - f / (1.0 + A * s * (1.0 - s))
        if not lo < un < hi:
            un = 0.5 * (lo + hi)
        if abs(un - u) <= 1e-15 * (1.0 + abs(u)):
            return un
        u = un
    return u


def _u_solve(A, B, eps):
    """Root u of u + A sigmoid(u) = B in mpmath; returns (u, s, 1 - s).

    Double-precision start, then Newton in mpmath (bisection if a step leaves
    the bracket [B - A, B]).  ``eps`` is the absolute target for u (the
    relative errors of sigmoid(+-u) are below the absolute error of u).
    """
    try:
        u = mp.mpf(_u_float(float(A), float(B)))
    except (OverflowError, ValueError):
        u = B - A / 2
    lo, hi = B - A, B
    if not lo <= u <= hi:
        u = (lo + hi) / 2
    for _ in range(200):
        s, s1 = _sig_pair(u)
        f = u + A * s - B
        if f > 0:
            hi = u
        elif f < 0:
            lo = u
        fp = 1 + A * s * s1
        du = f / fp
        un = u - du
        if not lo <= un <= hi:          # safeguard (never seen in practice)
            un = (lo + hi) / 2
            du = u - un
            u = un
            continue
        u = un
        if du * du <= eps or abs(du) <= 8 * eps * abs(u):   # (second: at the ulp of u)
            # sigmoid at the new u to first order (error O(du^2) relative)
            ss = s * s1 * du
            return u, s - ss, s1 + ss
    s, s1 = _sig_pair(u)
    return u, s, s1


def prox(kind, X, V, omega=1, iota=0, Delta=1):
    """prox_{V l}(X) for one loss, at the current mpmath precision.

    VS by root-finding (see the module docstring), hinge and square
    explicitly.
    """
    L = _Loss(kind, omega, iota, Delta)
    X, V = mp.mpf(X), mp.mpf(V)
    if L.kind == "vs":
        A = V * L.omega * L.Delta ** 2
        B = L.iota - L.Delta * X
        _, s, _ = _u_solve(A, B, mp.mp.eps)
        return X + V * L.omega * L.Delta * s
    if L.kind == "hinge":
        if X > L.Delta:
            return X
        if X >= L.Delta - V * L.omega:
            return +L.Delta
        return X + V * L.omega
    return (X + V * L.omega * L.Delta) / (1 + V * L.omega)


def _x0(L, V):
    """sup{X : prox(X) < 0}: training error is P(X < x0)."""
    if L.kind == "vs":
        return -V * L.omega * L.Delta * _sig_pair(L.iota)[0]
    if L.kind == "hinge":             # Delta > 0: P < 0 only on the branch P = X + V omega
        return -V * L.omega
    return -V * L.omega * L.Delta


# ---------------------------------------------------------------------------
# quadrature
# ---------------------------------------------------------------------------
def _gl_nodes(n):
    """Gauss-Legendre nodes and weights on [-1, 1] at the current precision."""
    key = (n, mp.mp.prec)
    if key in _GL_CACHE:
        return _GL_CACHE[key]
    out = []
    with mp.extraprec(40):
        tol = mp.mp.eps * 4
        for i in range(1, n // 2 + 1):
            x = mp.cos(mp.pi * (i - mp.mpf(1) / 4) / (n + mp.mpf(1) / 2))
            for _ in range(100):
                p0, p1 = mp.mpf(1), x
                for k in range(2, n + 1):
                    p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
                dp = n * (x * p1 - p0) / (x * x - 1)
                dx = p1 / dp
                x -= dx
                if abs(dx) <= tol:
                    break
            p0, p1 = mp.mpf(1), x
            for k in range(2, n + 1):
                p0, p1 = p1, ((2 * k - 1) * x * p1 - (k - 1) * p0) / k
            dp = n * (x * p1 - p0) / (x * x - 1)
            w = 2 / ((1 - x * x) * dp * dp)
            out.append((x, w))
            out.append((-x, w))
        if n % 2:
            # odd n: node 0, where P_n'(0) = n P_{n-1}(0), P_j(0) = -(j-1)/j P_{j-2}(0)
            p_even = mp.mpf(1)
            for j in range(2, n, 2):
                p_even = -(j - 1) * p_even / j
            dp = n * p_even
            out.append((mp.mpf(0), 2 / (dp * dp)))
    nodes = sorted(((+x, +w) for x, w in out), key=lambda t: t[0])
    _GL_CACHE[key] = nodes
    return nodes


def default_nodes(dps) -> int:
    """Gauss-Legendre nodes per panel used at ``dps`` digits."""
    return int(math.ceil(0.75 * dps)) + 8


def _half_width(dps):
    return mp.sqrt(2 * mp.log(10) * (dps + 8))


def _panels(centers, L, H=1):
    """Breakpoints on [-L, L]: graded around each (s, delta) (delta = 0: a
    plain split at s), then panels of length <= H."""
    pts = [-L, L]
    for s, delta in centers:
        pts.append(s)
        if delta and delta > 0:
            d = delta / 2
            while d < H:
                pts.append(s - d)
                pts.append(s + d)
                d *= 2
    pts = sorted(p for p in pts if -L <= p <= L)
    out = [pts[0]]
    for p in pts[1:]:
        gap = p - out[-1]
        if gap <= mp.mp.eps * 16 * (1 + abs(p)):
            continue
        nsub = int(mp.ceil(gap / H))
        base = out[-1]
        for j in range(1, nsub):
            out.append(base + gap * j / nsub)
        out.append(p)
    return out


def _vs_centers(L, C, q, V):
    """Locations (in G) and imaginary distance of the prox branch points."""
    A = V * L.omega * L.Delta ** 2
    r = mp.sqrt(1 + 4 / A)
    rm1 = (4 / A) / (1 + r)            # r - 1 without cancellation
    lg = mp.log((1 + r) / rm1)         # log|s/(1 - s)| = +-lg at s = (1 +- r)/2
    delta = mp.pi / (L.Delta * q)
    out = []
    for reB in (lg + A * (1 + r) / 2, -lg - 2 / (1 + r)):
        X = (L.iota - reB) / L.Delta
        out.append(((X - C) / q, delta))
    return out


def _quad_moments(L, C, q, V, n, derivs=False, outputs=False):
    """(e1, e2, ed) [, 3x3 derivatives in (C, q, V)] [, train loss, train
    error] by composite Gauss-Legendre in G on panels split at the prox edges."""
    dps = mp.mp.dps
    half = _half_width(dps)
    eps = mp.mpf(10) ** (-dps)
    if L.kind == "vs":
        centers = _vs_centers(L, C, q, V)
    elif L.kind == "hinge":
        centers = [((L.Delta - C) / q, 0), ((L.Delta - V * L.omega - C) / q, 0)]
    else:
        centers = []
    x0 = _x0(L, V)
    if outputs:
        centers.append(((x0 - C) / q, 0))
    pts = _panels(centers, half)
    nodes = _gl_nodes(n)
    norm = 1 / mp.sqrt(2 * mp.pi)
    nacc = 12 if derivs else 3
    acc = [mp.mpf(0)] * nacc
    tl = mp.mpf(0)
    te = mp.mpf(0)
    om, Dl, io = L.omega, L.Delta, L.iota
    A = V * om * Dl ** 2
    AV = A / V
    kind = L.kind
    for a, b in zip(pts[:-1], pts[1:]):
        mid = (a + b) / 2
        hw = (b - a) / 2
        for xi, wi in nodes:
            G = mid + hw * xi
            w = hw * wi * norm * mp.exp(-G * G / 2)
            X = C + q * G
            if kind == "vs":
                B = io - Dl * X
                u, s, s1 = _u_solve(A, B, eps)
                ss = s * s1
                r = A * ss
                opr = 1 + r
                h1 = om * Dl * s
                h2 = h1 * h1
                hd = r / opr
                if derivs:
                    sX = -Dl * ss / opr            # ds/dX
                    sV = -ss * s * AV / opr         # ds/dV
                    h1X = om * Dl * sX
                    h1V = om * Dl * sV
                    h2X = 2 * h1 * h1X
                    h2V = 2 * h1 * h1V
                    opr2 = opr * opr
                    hdX = A * (1 - 2 * s) * sX / opr2
                    hdV = (AV * ss + A * (1 - 2 * s) * sV) / opr2
                    wG = w * G
                    acc[0] += w * h1
                    acc[1] += w * h2
                    acc[2] += w * hd
                    acc[3] += w * h1X
                    acc[4] += wG * h1X
                    acc[5] += w * h1V
                    acc[6] += w * h2X
                    acc[7] += wG * h2X
                    acc[8] += w * h2V
                    acc[9] += w * hdX
                    acc[10] += wG * hdX
                    acc[11] += w * hdV
                else:
                    acc[0] += w * h1
                    acc[1] += w * h2
                    acc[2] += w * hd
                if outputs:
                    tl += w * om * _softplus(u)
                    P = X + V * om * Dl * s
                    if P < 0:
                        te += w
            else:
                if kind == "hinge":
                    if X > Dl:
                        P, dP = X, 1
                    elif X >= Dl - V * om:
                        P, dP = Dl, 0
                    else:
                        P, dP = X + V * om, 1
                else:
                    k = 1 + V * om
                    P, dP = (X + V * om * Dl) / k, 1 / k
                h1 = (P - X) / V
                acc[0] += w * h1
                acc[1] += w * h1 * h1
                acc[2] += w * (1 - dP)
                if outputs:
                    tl += w * L.value(P)
                    if P < 0:
                        te += w
    mom = (acc[0], acc[1], acc[2])
    out = {"mom": mom}
    if derivs:
        if kind != "vs":
            raise ValueError("analytic derivatives only for the VS loss")
        # rows e1, e2, ed; columns d/dC, d/dq, d/dV
        out["jac"] = [[acc[3], acc[4], acc[5]], [acc[6], acc[7], acc[8]],
                      [acc[9], acc[10], acc[11]]]
    if outputs:
        out["train_loss"] = tl
        out["train_error_quad"] = te
    return out


# ---------------------------------------------------------------------------
# closed forms (hinge, square)
# ---------------------------------------------------------------------------
def _closed_moments(L, C, q, V):
    om, Dl = L.omega, L.Delta
    if L.kind == "square":
        k = 1 + V * om
        s = Dl - C
        return (om * s / k, om * om * (s * s + q * q) / (k * k), V * om / k)
    if L.kind != "hinge":
        raise ValueError("closed forms exist only for hinge and square")
    with mp.extradps(20):
        s = Dl - C
        ahi = s / q
        alo = (s - V * om) / q
        Phi_lo = mp.ncdf(alo)
        # Phi(ahi) - Phi(alo) without cancellation in either tail
        if alo > 0:
            dPhi = mp.ncdf(-alo) - mp.ncdf(-ahi)
        else:
            dPhi = mp.ncdf(ahi) - Phi_lo
        plo, phi_ = mp.npdf(alo), mp.npdf(ahi)
        dphi = plo - phi_
        e1 = om * Phi_lo + (s * dPhi - q * dphi) / V
        e2 = om * om * Phi_lo + (s * s * dPhi - 2 * s * q * dphi
                                 + q * q * (dPhi + alo * plo - ahi * phi_)) / (V * V)
        ed = dPhi
    return (+e1, +e2, +ed)


def _closed_outputs(L, C, q, V):
    om, Dl = L.omega, L.Delta
    if L.kind == "square":
        k = 1 + V * om
        return om * ((Dl - C) ** 2 + q * q) / (2 * k * k)
    with mp.extradps(20):
        t = Dl - V * om - C
        val = om * (t * mp.ncdf(t / q) + q * mp.npdf(t / q))
    return +val


def moments(kind, C, q, V, omega=1, iota=0, Delta=1, method="auto", nodes=None,
            derivs=False, outputs=False):
    """Per-cluster Gaussian averages at the current mpmath precision.

    ``C = y (m + b)``; returns a dict with ``mom = (e1, e2, ed)``, with
    ``derivs`` also ``jac`` (rows e1, e2, ed; columns d/dC, d/dq, d/dV) and with
    ``outputs`` ``train_loss`` and ``train_error``.  ``method``: ``"auto"``
    (closed forms for hinge/square, quadrature for VS), ``"quad"`` or
    ``"closed"``.
    """
    L = _Loss(kind, omega, iota, Delta)
    C, q, V = mp.mpf(C), mp.mpf(q), mp.mpf(V)
    return _moments(L, C, q, V, method, nodes or default_nodes(mp.mp.dps), derivs, outputs)


def _moments(L, C, q, V, method, n, derivs, outputs):
    use_quad = method == "quad" or (method == "auto" and L.kind == "vs")
    if method == "closed" and L.kind == "vs":
        raise ValueError("no closed form for the VS loss")
    if use_quad:
        out = _quad_moments(L, C, q, V, n, derivs=derivs and L.kind == "vs", outputs=outputs)
    else:
        out = {"mom": _closed_moments(L, C, q, V)}
        if outputs:
            out["train_loss"] = _closed_outputs(L, C, q, V)
    if derivs and "jac" not in out:
        out["jac"] = _fd_jac(lambda c_, q_, v_: _moments(L, c_, q_, v_, method, n, False, False)["mom"],
                             C, q, V)
    if outputs:
        out["train_error"] = mp.ncdf((_x0(L, V) - C) / q)
    return out


def _fd_jac(f, C, q, V):
    """Central differences of f(C, q, V) -> 3-vector, columns d/dC, d/dq, d/dV."""
    h = mp.mpf(10) ** (-(mp.mp.dps // 3 + 1))
    cols = []
    for i, (x, scale) in enumerate(((C, 1 + abs(C)), (q, q), (V, V))):
        dx = h * scale
        args_p = [C, q, V]
        args_m = [C, q, V]
        args_p[i] = x + dx
        args_m[i] = x - dx
        fp, fm = f(*args_p), f(*args_m)
        cols.append([(a - b) / (2 * dx) for a, b in zip(fp, fm)])
    return [[cols[j][i] for j in range(3)] for i in range(3)]


# ---------------------------------------------------------------------------
# the system
# ---------------------------------------------------------------------------
class _System:
    def __init__(self, priors, labels, gram, gamma, lam, losses, intercept, method, n):
        self.pi = [mp.mpf(v) for v in priors]
        self.y = [int(v) for v in labels]
        self.K = len(self.pi)
        self.G = [[mp.mpf(v) for v in row] for row in gram]
        self.gamma = mp.mpf(gamma)
        self.lam = mp.mpf(lam)
        self.L = losses
        self.intercept = bool(intercept)
        self.method = method
        self.n = n
        self.dim = self.K + (3 if self.intercept else 2)

    # x = (m_1..m_K, log q, [b], log V)
    def unpack(self, x):
        K = self.K
        m = list(x[:K])
        q = mp.exp(x[K])
        if self.intercept:
            b, V = x[K + 1], mp.exp(x[K + 2])
        else:
            b, V = mp.mpf(0), mp.exp(x[K + 1])
        return m, q, b, V

    def pack(self, m, q, b, V):
        x = [mp.mpf(v) for v in m] + [mp.log(q)]
        if self.intercept:
            x.append(mp.mpf(b))
        x.append(mp.log(V))
        return x

    def cluster(self, x, derivs=False, outputs=False, n=None):
        m, q, b, V = self.unpack(x)
        return [_moments(self.L[k], self.y[k] * (m[k] + b), q, V, self.method,
                         n or self.n, derivs, outputs) for k in range(self.K)]

    def algebra(self, x, M):
        """The K+3 dimensionless equations given the moments M[k] = (e1, e2, ed)."""
        K = self.K
        m, q, b, V = self.unpack(x)
        pi, y, G, gamma = self.pi, self.y, self.G, self.gamma
        a = [pi[k] * y[k] * M[k][0] for k in range(K)]
        Ga = [mp.fsum(G[k][j] * a[j] for j in range(K)) for k in range(K)]
        r = V / gamma
        Fm = [(m[k] - r * Ga[k]) / q for k in range(K)]
        cGc = r * r * mp.fsum(a[k] * Ga[k] for k in range(K))
        se2 = mp.fsum(pi[k] * M[k][1] for k in range(K))
        sed = mp.fsum(pi[k] * M[k][2] for k in range(K))
        Fq = (V * V * se2 - gamma * (q * q - cGc)) / (gamma * q * q)
        FV = (sed + self.lam * V) / gamma - 1
        out = Fm + [Fq]
        if self.intercept:
            s4 = mp.fsum(a)
            out.append(V * s4 / (q * sed))
        out.append(FV)
        return out

    def evaluate(self, x, jac=False, outputs=False, n=None):
        cl = self.cluster(x, derivs=jac, outputs=outputs, n=n)
        M = [c["mom"] for c in cl]
        F = self.algebra(x, M)
        if not jac:
            return F, None, cl
        K, dim = self.K, self.dim
        m, q, b, V = self.unpack(x)
        h = mp.mpf(10) ** (-(mp.mp.dps // 3 + 1))
        J = mp.zeros(dim, dim)
        iq = K
        ib = K + 1 if self.intercept else None
        for i in range(dim):
            # dM_k/dx_i from the per-cluster derivatives (chain rule)
            dM = []
            for k in range(K):
                jk = cl[k]["jac"]
                if i < K:
                    g = [jk[r][0] * self.y[k] if i == k else mp.mpf(0) for r in range(3)]
                elif i == iq:
                    g = [jk[r][1] * q for r in range(3)]
                elif i == ib:
                    g = [jk[r][0] * self.y[k] for r in range(3)]
                else:
                    g = [jk[r][2] * V for r in range(3)]
                dM.append(g)
            xp = list(x)
            xm = list(x)
            xp[i] += h
            xm[i] -= h
            Mp = [[M[k][r] + h * dM[k][r] for r in range(3)] for k in range(K)]
            Mm = [[M[k][r] - h * dM[k][r] for r in range(3)] for k in range(K)]
            Fp, Fm_ = self.algebra(xp, Mp), self.algebra(xm, Mm)
            for r in range(dim):
                J[r, i] = (Fp[r] - Fm_[r]) / (2 * h)
        return F, J, cl

    # damped fixed point of the prototype (docs/erm.md §5) (used only without a start)
    def fixed_point(self, x, maxit, tol):
        K = self.K
        pi, y, G, gamma, lam = self.pi, self.y, self.G, self.gamma, self.lam
        change = mp.inf
        theta = mp.mpf(1) / 2
        for it in range(maxit):
            m, q, b, V = self.unpack(x)
            M = [c["mom"] for c in self.cluster(x)]
            sed = mp.fsum(pi[k] * M[k][2] for k in range(K))
            vhat = sed / V
            Vn = gamma / (lam + vhat)
            c = [pi[k] * y[k] * M[k][0] / (lam + vhat) for k in range(K)]
            mn = [mp.fsum(G[k][j] * c[j] for j in range(K)) for k in range(K)]
            cGc = mp.fsum(c[k] * mn[k] for k in range(K))
            alpha2 = Vn * Vn * mp.fsum(pi[k] * M[k][1] for k in range(K)) / gamma
            qn = mp.sqrt(cGc + alpha2)
            bn = b
            if self.intercept:
                s4 = mp.fsum(pi[k] * y[k] * M[k][0] for k in range(K))
                bn = b + V * s4 / sed
            prev, change = change, max([abs(mn[k] - m[k]) / q for k in range(K)]
                                       + [abs(mp.log(qn / q)), abs(mp.log(Vn / V)),
                                          abs(bn - b) / q])
            # adaptive damping: halve it while the update grows (the map can
            # have gain < -3, e.g. square loss with a large Gram eigenvalue)
            if change > 1.5 * prev:
                theta = max(theta / 2, mp.mpf(1) / 256)
            elif theta < mp.mpf(1) / 2:
                theta = min(theta * mp.mpf("1.25"), mp.mpf(1) / 2)
            x = self.pack([m[k] + theta * (mn[k] - m[k]) for k in range(K)],
                          q * (qn / q) ** theta, b + theta * (bn - b), V * (Vn / V) ** theta)
            # (S1) gives V <= gamma/lam at the solution
            vmax = 1e15 if lam == 0 else 1e3 * gamma / lam
            if q > 1e12 or V > vmax:
                raise RuntimeError("fixed point diverges (q or V -> infinity): for lam = 0 a "
                                   "solution exists only below the separability threshold "
                                   "(square loss: gamma < 1)")
            if change < tol:
                return x, it + 1, change
        return x, maxit, change


def _newton(sysm, x, tol, maxit=40):
    """Damped Newton on sysm.algebra (step halved until the natural
    monotonicity test or a decrease of max |F| is met).  Converged when
    max |F| <= tol and the last full step was below sqrt(10^-dps) (so that,
    by quadratic convergence, the error left is at the noise level).

    Returns (x, F, J, iterations, converged)."""
    F, J, _ = sysm.evaluate(x, jac=True)
    r = max(abs(v) for v in F)
    small = mp.mpf(10) ** (-mp.mp.dps / 2)
    last = mp.inf
    for it in range(maxit):
        if r <= tol and (last <= small or r <= tol / 100):
            return x, F, J, it, True
        try:
            dx = mp.lu_solve(J, mp.matrix([-v for v in F]))
        except ZeroDivisionError:
            return x, F, J, it, False
        ndx = mp.norm(dx, mp.inf)
        t = mp.mpf(1)
        while True:
            xn = [x[i] + t * dx[i] for i in range(len(x))]
            try:
                Fn, Jn, _ = sysm.evaluate(xn, jac=True)
                rn = max(abs(v) for v in Fn)
                # Deuflhard's natural monotonicity test (affine invariant):
                # the simplified Newton correction must shrink
                dbar = mp.lu_solve(J, mp.matrix([-v for v in Fn]))
                natural = mp.norm(dbar, mp.inf) <= (1 - t / 4) * ndx
            except (ZeroDivisionError, ValueError, OverflowError):
                rn, natural = mp.inf, False
            if natural or rn < (1 - t / 4) * r:
                break
            if r <= tol:      # at the noise floor already: keep x
                return x, F, J, it, True
            t /= 2
            if t < mp.mpf(2) ** -12:
                return x, F, J, it, False
        last = ndx if t == 1 else mp.inf
        x, F, J, r = xn, Fn, Jn, rn
    return x, F, J, maxit, r <= tol


_LAM_START = 1e-2     # below this, continuation in log(lam) from here
_LAM_FLOOR = 1e-7     # lam = 0: continuation down to here, then lam = 0


def _global_solve(sysm, lam, iterations):
    """Find the root from a crude start at the current (low) precision.

    lam = 0: first damped fixed point + Newton at lam = 0 directly.  Else (or
    if that fails) damped fixed point + Newton at lam_0 = max(lam, 1e-2); for smaller lam,
    continuation in log(lam) (tangent predictor from the Newton Jacobian,
    Newton corrector, step halved on failure); lam = 0 is reached from
    lam = 1e-7 by a final Newton solve."""
    K = sysm.K
    tol = mp.mpf("1e-11")

    def direct(lam_, maxfp):
        sysm.lam = mp.mpf(lam_)
        x = sysm.pack([0] * K, 1, 0, 1)
        tol_fp = mp.mpf("1e-1")
        for _ in range(4):
            try:
                x, nit, _ = sysm.fixed_point(x, maxfp, tol_fp)
            except RuntimeError:
                # last resort: damped Newton from the crude start
                xn, _, J, nit, ok = _newton(sysm, sysm.pack([0] * K, 1, 0, 1), tol, maxit=60)
                iterations["newton_lo"] += nit
                return (xn, J) if ok else (None, None)
            iterations["fixed_point"] += nit
            xn, _, J, nit, ok = _newton(sysm, x, tol, maxit=20)
            iterations["newton_lo"] += nit
            if ok:
                return xn, J
            tol_fp /= 100
        return None, None

    if lam == 0:
        x, J = direct(0, 60)
        if x is not None:
            return x
    lam0 = max(float(lam), _LAM_START)
    x, J = direct(lam0, 400)
    if x is None:
        raise RuntimeError("no convergence from the crude start")
    if lam >= lam0:
        return x
    t = mp.log(lam0)
    t_end = mp.log(float(lam) if lam > 0 else _LAM_FLOOR)
    step = -2 * mp.log(10)
    while t > t_end:
        t_new = max(t + step, t_end)
        # tangent: J dx/dt = -dF/dt, only F_V depends on lam: dF_V/dlog(lam) = lam V / gamma
        _, _, _, V = sysm.unpack(x)
        rhs = mp.matrix([0] * sysm.dim)
        rhs[sysm.dim - 1] = -sysm.lam * V / sysm.gamma
        try:
            tang = mp.lu_solve(J, rhs)
            xp = [x[i] + (t_new - t) * tang[i] for i in range(len(x))]
        except ZeroDivisionError:
            xp = list(x)
        sysm.lam = mp.exp(t_new)
        xn, _, Jn, nit, ok = _newton(sysm, xp, tol, maxit=15)
        iterations["continuation"] += 1
        iterations["newton_lo"] += nit
        if ok:
            x, J, t = xn, Jn, t_new
            step *= mp.mpf("1.5")
        else:
            sysm.lam = mp.exp(t)
            step /= 4
            if abs(step) < mp.mpf("0.01"):
                raise RuntimeError("continuation in lam failed")
    if lam == 0:
        sysm.lam = mp.mpf(0)
        xn, _, _, nit, ok = _newton(sysm, x, tol)
        iterations["newton_lo"] += nit
        if not ok:
            raise RuntimeError("no convergence at lam = 0 (a solution exists only below the "
                               "separability threshold; square loss: gamma < 1)")
        x = xn
    return x


def solve(priors, labels, gram, gamma, lam, kinds, omega, iota, Delta, intercept=True,
          dps=30, start=None, *, method="auto", nodes=None, check=True, tol=None) -> dict:
    r"""Solve (S1)-(S4) at ``dps`` significant digits.

    Parameters
    ----------
    priors, labels, omega, iota, Delta, kinds : sequences of length K
        ``kinds`` from ``{"vs", "hinge", "square"}`` (mixed allowed); ``iota``
        is ignored for hinge and square.
    gram : K x K nested sequence, ``mu_j . mu_k``.
    gamma : d/n > 0.   lam : ridge >= 0.
    intercept : free intercept (S4) or ``b = 0``.
    start : optional dict with ``m`` (K values), ``q``, ``b``, ``V``: initial
        point for the final Newton polish; without it the solver finds the
        solution itself (damped fixed point, then Newton; see the module
        docstring).
    method : ``"auto"`` (closed forms for hinge/square) or ``"quad"``
        (quadrature for every loss).   nodes : Gauss-Legendre nodes per panel
        (default ``default_nodes(dps)``).   check : estimate the quadrature
        error by re-evaluating with 1.5x the nodes (key ``quad_error``).
    tol : residual at which the final Newton stops (default ``10^-(dps-2)``);
        at the corners of the range (lam = 1e10, gamma = 1e-8) the
        closed forms cancel ~10 digits, so a larger ``dps`` with a ``tol``
        well above ``10^-dps`` is the way to keep 30 digits there.

    Returns
    -------
    dict of mpmath numbers: ``m`` (list, ``mu_k . w``), ``q`` (``||w||``),
    ``alpha``, ``b``, ``V``, ``c`` (list), ``errors`` (``R_k = Q(y_k(m_k+b)/q)``),
    ``train_error`` (``P(P_k < 0)``), ``train_loss`` (``E l_k(P_k)``), ``e1``,
    ``e2``, ``ed`` (lists), ``residual`` and, in addition, ``residuals``
    (the K+3 components), ``quad_error``, ``iterations``.

    ``residual`` is ``max |F|`` over the dimensionless equations
    ``(m_k - (Gram c)_k)/q`` [S3], ``(V^2 sum pi e2 - gamma alpha^2)/(gamma q^2)``
    [S2], ``V sum pi y e1/(q sum pi ed)`` [S4, a shift of b/q] and
    ``(sum pi ed + lam V)/gamma - 1`` [S1], evaluated at the returned point
    with ``c`` from (S3) and ``alpha^2 = q^2 - c^T Gram c``.
    """
    K = len(priors)
    if not (len(labels) == len(kinds) == len(omega) == len(iota) == len(Delta) == K):
        raise ValueError("priors, labels, kinds, omega, iota, Delta must have the same length")
    if len(gram) != K or any(len(row) != K for row in gram):
        raise ValueError("gram must be K x K")
    if any(not p > 0 for p in priors) or abs(sum(float(p) for p in priors) - 1) > 1e-9:
        raise ValueError("priors must be positive and sum to 1 (they are used as given, "
                         "not renormalised)")
    if any(int(v) not in (1, -1) for v in labels):
        raise ValueError("labels must be +1 or -1")
    if not gamma > 0:
        raise ValueError("gamma must be > 0")
    if lam < 0:
        raise ValueError("lam must be >= 0")
    if method not in ("auto", "quad"):
        raise ValueError("method must be 'auto' or 'quad'")
    if lam == 0 and all(str(k).lower() == "square" for k in kinds) and gamma >= 1:
        raise ValueError("square loss with lam = 0 needs gamma < 1")

    def build(d, n):
        with mp.workdps(d):
            losses = [_Loss(kinds[k], omega[k], iota[k], Delta[k]) for k in range(K)]
            return _System(priors, labels, gram, gamma, lam, losses, intercept, method, n)

    iterations = {"fixed_point": 0, "newton_lo": 0, "continuation": 0, "newton": 0}
    if start is None:
        with mp.workdps(15):
            x = [float(v) for v in _global_solve(build(15, 14), lam, iterations)]
    else:
        b0 = start.get("b", 0.0) if intercept else 0.0
        x = None
    with mp.workdps(dps):
        n = nodes or default_nodes(dps)
        sysm = build(dps, n)
        if x is None:
            x = sysm.pack(start["m"], start["q"], b0, start["V"])
        else:
            x = [mp.mpf(v) for v in x]
        tol = mp.mpf(10) ** (-(dps - 2)) if tol is None else mp.mpf(tol)
        x, F, _, nit, ok = _newton(sysm, x, tol)
        iterations["newton"] = nit
        if not ok:
            raise RuntimeError(f"Newton polish did not converge: residual {max(abs(v) for v in F)}")
        F, _, cl = sysm.evaluate(x, outputs=True)
        quad_error = None
        if check:
            F2, _, _ = sysm.evaluate(x, n=(3 * n) // 2 + 1)
            quad_error = max(abs(u - v) for u, v in zip(F, F2))
        m, q, b, V = sysm.unpack(x)
        M = [c["mom"] for c in cl]
        r = V / sysm.gamma
        c = [r * sysm.pi[k] * sysm.y[k] * M[k][0] for k in range(K)]
        cGc = mp.fsum(c[j] * sysm.G[j][k] * c[k] for j in range(K) for k in range(K))
        alpha = mp.sqrt(max(q * q - cGc, mp.mpf(0)))
        return {
            "m": m, "q": q, "alpha": alpha, "b": b, "V": V, "c": c,
            "errors": [mp.ncdf(-sysm.y[k] * (m[k] + b) / q) for k in range(K)],
            "train_error": [cl[k]["train_error"] for k in range(K)],
            "train_loss": [cl[k]["train_loss"] for k in range(K)],
            "e1": [M[k][0] for k in range(K)],
            "e2": [M[k][1] for k in range(K)],
            "ed": [M[k][2] for k in range(K)],
            "residual": max(abs(v) for v in F),
            "residuals": F,
            "quad_error": quad_error,
            "iterations": iterations,
        }
