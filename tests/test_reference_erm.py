"""The mpmath reference for the regularised-ERM fixed point
(asymptotics.reference.erm) against facts established without any other
ERM engine: independent prox root / quadrature, closed forms, exact special
cases (Marchenko-Pastur), structural identities (sum c = 0, symmetries) and
the max-margin limit of the hinge loss."""
import mpmath as mp
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.reference import erm
from asymptotics.reference import maxmargin


@pytest.fixture(autouse=True)
def _compare_at_high_precision():
    """Returned mpf values carry dps digits; compare them at 50 digits, not at
    mpmath's default 15 (solve/moments set their own working precision)."""
    with mp.workdps(50):
        yield


def _rel(a, b):
    a, b = mp.mpf(a), mp.mpf(b)
    return abs(a - b) / abs(b) if b != 0 else abs(a)


def _start(r):
    return {"m": [float(v) for v in r["m"]], "q": float(r["q"]), "b": float(r["b"]),
            "V": float(r["V"])}


def _antipodal(norm):
    s = norm * norm
    return [[s, -s], [-s, s]]


# ---------------------------------------------------------------------------
# building blocks
# ---------------------------------------------------------------------------
def test_gauss_legendre_nodes_are_exact_for_polynomials():
    with mp.workdps(30):
        for n in (7, 14, 23):
            nodes = erm._gl_nodes(n)
            assert len(nodes) == n
            for deg in (0, 1, 2 * n - 2, 2 * n - 1):
                exact = mp.mpf(2) / (deg + 1) if deg % 2 == 0 else 0
                got = mp.fsum(w * x ** deg for x, w in nodes)
                assert abs(got - exact) < mp.mpf(10) ** -28
            # degree 2n is no longer integrated exactly (the test can fail)
            got = mp.fsum(w * x ** (2 * n) for x, w in nodes)
            assert abs(got - mp.mpf(2) / (2 * n + 1)) > mp.mpf(10) ** -20


def _prox_vs_bisect(X, V, om, io, De):
    """Independent VS prox: root in p of the increasing function
    p - X - V om De sigmoid(io - De p), bracketed in [X, X + V om De], by plain
    bisection down to the working precision."""
    g = lambda p: p - X - V * om * De / (1 + mp.exp(De * p - io))
    lo, hi = X, X + V * om * De
    while True:
        mid = (lo + hi) / 2
        if not lo < mid < hi:
            return mid
        if g(mid) > 0:
            hi = mid
        else:
            lo = mid


@pytest.mark.parametrize("X,V,om,io,De", [
    (0.3, 2.0, 1.0, 0.0, 1.0), (-4.0, 1e3, 2.0, -1.0, 3.0), (12.0, 0.01, 1.0, 0.5, 1.0),
    (-30.0, 1e6, 1.0, 0.0, 2.0), (0.1, 50.0, 0.5, 1.0, 0.3)])
def test_vs_prox_matches_independent_root(X, V, om, io, De):
    with mp.workdps(30):
        p = erm.prox("vs", X, V, om, io, De)
        ref = _prox_vs_bisect(mp.mpf(X), mp.mpf(V), mp.mpf(om), mp.mpf(io), mp.mpf(De))
        assert abs(p - ref) <= mp.mpf(10) ** -26 * (1 + abs(ref))
        # the prox equation itself
        lp = -om * De / (1 + mp.exp(-(io - De * p)))
        assert abs(p + V * lp - X) <= mp.mpf(10) ** -25 * (1 + abs(X))


@pytest.mark.parametrize("C,q,V,om,io,De", [
    (0.5, 1.0, 2.0, 1.0, 0.0, 1.0),
    (1.2, 50.0, 3.0, 1.0, 0.5, 1.0),     # q Delta = 50: edges of width 1/50 in G
    (0.3, 2.0, 40.0, 2.0, -1.0, 25.0),   # q Delta = 50 through Delta
])
def test_vs_moments_match_adaptive_quadrature(C, q, V, om, io, De):
    """Composite Gauss-Legendre on graded panels vs mp.quad (tanh-sinh) with
    an independent prox, split at the two edges of the prox."""
    with mp.workdps(18):
        C, q, V, om, io, De = map(mp.mpf, (C, q, V, om, io, De))
        mine = erm.moments("vs", C, q, V, om, io, De, outputs=True)
        cache = {}

        def P(G):
            if G not in cache:
                cache[G] = _prox_vs_bisect(C + q * G, V, om, io, De)
            return cache[G]

        def f1(G):
            return (P(G) - C - q * G) / V * mp.npdf(G)

        def f2(G):
            return ((P(G) - C - q * G) / V) ** 2 * mp.npdf(G)

        def fd(G):
            s = 1 / (1 + mp.exp(-(io - De * P(G))))
            r = V * om * De ** 2 * s * (1 - s)
            return r / (1 + r) * mp.npdf(G)

        def fl(G):
            return om * mp.log(1 + mp.exp(io - De * P(G))) * mp.npdf(G)

        w = 1 / (q * De)
        pts = [-mp.inf]
        for X in (io / De, io / De - V * om * De):
            g = (X - C) / q
            pts += [g - 20 * w, g - 5 * w, g - w, g, g + w, g + 5 * w, g + 20 * w]
        pts = sorted(set(pts)) + [mp.inf]
        ref = [mp.quad(f, pts) for f in (f1, f2, fd, fl)]
        got = list(mine["mom"]) + [mine["train_loss"]]
        for a, b in zip(got, ref):
            assert abs(a - b) <= mp.mpf(10) ** -14 * (abs(b) + mp.mpf(10) ** -3)
        # training error: closed form vs the quadrature of the indicator
        assert abs(mine["train_error"] - mine["train_error_quad"]) <= mp.mpf(10) ** -15


def test_vs_moment_derivatives_match_finite_differences():
    with mp.workdps(30):
        for args in [(0.5, 1.0, 2.0, 1.0, 0.0, 1.0), (-1.0, 20.0, 300.0, 2.0, -0.5, 1.5)]:
            C, q, V, om, io, De = map(mp.mpf, args)
            r = erm.moments("vs", C, q, V, om, io, De, derivs=True)
            f = lambda c, qq, v: erm.moments("vs", c, qq, v, om, io, De)["mom"]
            J = erm._fd_jac(f, C, q, V)
            for i in range(3):
                for j in range(3):
                    assert abs(r["jac"][i][j] - J[i][j]) <= mp.mpf(10) ** -15 * (1 + abs(J[i][j]))
            # d e1 / dC = -ed / V (the identity d/dx M = l'(P) differentiated)
            assert abs(r["jac"][0][0] + r["mom"][2] / V) <= mp.mpf(10) ** -27


@pytest.mark.parametrize("kind", ["hinge", "square"])
@pytest.mark.parametrize("C,q,V,om,De", [
    (0.4, 1.0, 2.0, 1.0, 1.0), (-2.0, 0.3, 0.5, 2.0, 3.0), (5.0, 0.5, 10.0, 0.5, 1.0),
    (1.0, 40.0, 0.01, 1.0, 2.0), (-8.0, 1.0, 1.0, 1.0, 1.0)])
def test_closed_forms_match_quadrature(kind, C, q, V, om, De):
    with mp.workdps(30):
        a = erm.moments(kind, C, q, V, om, 0, De, method="closed", outputs=True)
        b = erm.moments(kind, C, q, V, om, 0, De, method="quad", outputs=True)
        for x, y in zip(list(a["mom"]) + [a["train_loss"]], list(b["mom"]) + [b["train_loss"]]):
            assert abs(x - y) <= mp.mpf(10) ** -26 * (1 + abs(y))
        assert abs(a["train_error"] - b["train_error_quad"]) <= mp.mpf(10) ** -26


# ---------------------------------------------------------------------------
# the system
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("gamma,lam,intercept", [(0.5, 0.1, True), (2.0, 0.01, True),
                                                 (0.3, 0.0, True), (1.5, 1.0, False)])
def test_square_loss_marchenko_pastur(gamma, lam, intercept):
    pri, y = [0.25, 0.75], [1, -1]   # exact in binary: sum pi = 1 holds exactly
    r = erm.solve(pri, y, _antipodal(1.5), gamma, lam, ["square"] * 2, [1, 1], [0, 0], [1, 1],
                  intercept=intercept, dps=30)
    with mp.workdps(30):
        g, l_ = mp.mpf(gamma), mp.mpf(lam)
        if lam > 0:   # positive root of lam V^2 + (1 + lam - gamma) V - gamma = 0
            Vmp = (-(1 + l_ - g) + mp.sqrt((1 + l_ - g) ** 2 + 4 * l_ * g)) / (2 * l_)
        else:
            Vmp = g / (1 - g)
        assert _rel(r["V"], Vmp) < mp.mpf(10) ** -25
        assert abs(r["V"] / (1 + r["V"]) + l_ * r["V"] - g) < mp.mpf(10) ** -25
        if intercept:   # (S4) for the square loss: b = sum pi y Delta - sum pi m
            b = mp.fsum(p * yy for p, yy in zip(pri, y)) - mp.fsum(p * m for p, m in zip(pri, r["m"]))
            assert abs(r["b"] - b) < mp.mpf(10) ** -25
        else:
            assert r["b"] == 0
    assert r["residual"] < 1e-26


def test_square_loss_marchenko_pastur_k4_large_gram():
    """K = 4, rank-3 Gram with eigenvalue ~20 (the undamped fixed point
    diverges here): (S1) is still Marchenko-Pastur, whatever the means."""
    rng = np.random.default_rng(3)
    M = rng.normal(size=(4, 3))
    gamma, lam = 0.8, 0.01
    r = erm.solve([0.125, 0.25, 0.375, 0.25], [1, -1, 1, -1], (M @ M.T).tolist(), gamma, lam,
                  ["square"] * 4, [1] * 4, [0] * 4, [1] * 4, dps=25)
    assert r["residual"] < 1e-21
    assert abs(r["V"] / (1 + r["V"]) + lam * r["V"] - gamma) < 1e-21
    assert abs(mp.fsum(r["c"])) < 1e-20


def test_intercept_gives_sum_c_zero():
    gram = [[2.0, 0.5, -0.3], [0.5, 1.0, 0.2], [-0.3, 0.2, 1.5]]
    args = dict(priors=[0.2, 0.5, 0.3], labels=[1, -1, 1], gram=gram, gamma=0.8, lam=0.05,
                kinds=["vs", "hinge", "square"], omega=[1.0, 2.0, 0.5], iota=[0.3, 0, 0],
                Delta=[1.5, 1.0, 2.0], dps=25)
    r = erm.solve(intercept=True, **args)
    assert r["residual"] < 1e-21
    assert abs(mp.fsum(r["c"])) < 1e-21 * max(abs(c) for c in r["c"])
    # without intercept the identity has no reason to hold (and b = 0)
    r0 = erm.solve(intercept=False, start={**_start(r), "b": 0.0}, **args)
    assert r0["b"] == 0 and r0["residual"] < 1e-21
    assert abs(mp.fsum(r0["c"])) > 1e-3 * max(abs(c) for c in r0["c"])


def _check_mapped(r, s, perm, sign):
    """s is r with clusters permuted by perm (s_k = r_perm[k]) and w, b -> sign w, sign b."""
    for key in ("q", "V", "alpha"):
        assert _rel(s[key], r[key]) < 1e-20
    assert abs(s["b"] - sign * r["b"]) < 1e-20 * r["q"]
    for k, j in enumerate(perm):
        assert abs(s["m"][k] - sign * r["m"][j]) < 1e-20 * r["q"]
        assert abs(s["c"][k] - sign * r["c"][j]) < 1e-20 * (1 + abs(r["c"][j]))
        for key in ("errors", "train_error", "train_loss", "e1", "e2", "ed"):
            assert _rel(s[key][k], r[key][j]) < 1e-18


def test_relabelling_symmetry_mixed_losses():
    rng = np.random.default_rng(5)
    M = rng.normal(size=(3, 2))
    gram = M @ M.T
    pri, y = [0.2, 0.5, 0.3], [1, -1, -1]
    kinds, om, De = ["hinge", "square", "hinge"], [1.0, 0.7, 2.0], [2.0, 1.0, 0.5]
    base = dict(gamma=1.3, lam=0.02, iota=[0, 0, 0], dps=25)
    r = erm.solve(pri, y, gram.tolist(), kinds=kinds, omega=om, Delta=De, **base)
    # permute the clusters
    perm = [2, 0, 1]
    P = lambda v: [v[j] for j in perm]
    s = erm.solve(P(pri), P(y), gram[np.ix_(perm, perm)].tolist(), kinds=P(kinds), omega=P(om),
                  Delta=P(De), **base)
    _check_mapped(r, s, perm, 1)
    # flip every label (the Gram matrix is unchanged): w -> -w, b -> -b
    s = erm.solve(pri, [-v for v in y], gram.tolist(), kinds=kinds, omega=om, Delta=De, **base)
    _check_mapped(r, s, [0, 1, 2], -1)


def test_relabelling_symmetry_vs():
    """Swap the two clusters' roles and flip the labels (means mu_k -> -mu_(1-k)
    leave the antipodal Gram matrix unchanged): (m, b) -> (-m swapped, -b)."""
    base = dict(gram=_antipodal(1.0), gamma=0.7, lam=0.05, kinds=["vs", "vs"], dps=20)
    r = erm.solve([0.25, 0.75], [1, -1], omega=[1.5, 1.0], iota=[0.5, -0.2], Delta=[0.7, 1.2],
                  **base)
    s = erm.solve([0.75, 0.25], [1, -1], omega=[1.0, 1.5], iota=[-0.2, 0.5], Delta=[1.2, 0.7],
                  **base)
    _check_mapped(r, s, [1, 0], -1)


def test_common_shift_of_means_absorbed_by_intercept():
    """x -> x + v: w unchanged, b -> b - v.w, so q, V and m_k + b are invariant."""
    means = np.array([[1.0, 0.5, 0.0], [-1.0, 0.3, 0.0], [0.2, -1.0, 0.0]])
    v = np.array([0.7, -0.4, 1.1])
    base = dict(priors=[0.3, 0.4, 0.3], labels=[1, -1, 1], gamma=0.6, lam=0.03,
                kinds=["hinge", "square", "hinge"], omega=[1, 1, 1], iota=[0, 0, 0],
                Delta=[1.0, 1.0, 2.0], dps=25)
    # Gram matrices exact (50 digits), not rounded to doubles
    gram = lambda M: [[mp.fsum(mp.mpf(a) * mp.mpf(b) for a, b in zip(u, w)) for w in M] for u in M]
    r = erm.solve(gram=gram(means), **base)
    s = erm.solve(gram=gram([[mp.mpf(a) + mp.mpf(b) for a, b in zip(u, v)] for u in means]), **base)
    assert _rel(s["q"], r["q"]) < 1e-20 and _rel(s["V"], r["V"]) < 1e-20
    for k in range(3):
        assert abs((s["m"][k] + s["b"]) - (r["m"][k] + r["b"])) < 1e-20
        assert _rel(s["errors"][k], r["errors"][k]) < 1e-18
    assert abs(s["b"] - r["b"]) > 1e-2   # the shift is not trivial


@pytest.mark.parametrize("lam", [0.1, 0.01])
def test_hinge_small_lambda_is_the_cs_svm(lam):
    """Hinge with Delta = (3, 1), gamma = 2, antipodal means of norm 2, pi = 0.1:
    for lam <= 0.1 the soft-margin solution is the hard-margin CS-SVM with
    margins (3, 1), i.e. asymptotics.cs_svm(delta=3).

    Note: the derivation notes printed q = 0.838688, b = -0.796654, R = (0.32452, 0.09661)
    for this case; neither asymptotics.cs_svm(delta=3) nor the mpmath
    max-margin reference reproduces those digits (both give q = 0.7799265,
    b = -0.2051032, R = (0.1810685, 0.0753227)), and this solver agrees with
    the latter to 1e-12."""
    r = erm.solve([0.1, 0.9], [1, -1], _antipodal(2.0), 2.0, lam, ["hinge"] * 2, [1, 1], [0, 0],
                  [3.0, 1.0], dps=30)
    assert r["residual"] < 1e-27
    s = asy.cs_svm(asy.LabelGMM.antipodal(0.1, 2.0), gamma=2.0, delta=3.0)
    assert _rel(r["q"], float(s.q)) < 1e-10
    assert _rel(r["b"], float(s.b)) < 1e-10
    assert _rel(r["errors"][0], float(s.R_plus)) < 1e-10
    assert _rel(r["errors"][1], float(s.R_minus)) < 1e-10
    mm = maxmargin.solve([0.1, 0.9], [1, -1], _antipodal(2.0), [3.0, 1.0], 2.0, dps=30)
    assert _rel(r["q"], mm["q"]) < 1e-20
    assert _rel(r["b"], mm["b"]) < 1e-20
    for k in range(2):
        assert _rel(r["errors"][k], mm["errors"][k]) < 1e-20
        assert abs(r["m"][k] - mm["projections"][k] * mm["q"]) < 1e-20
    # training data separated with every margin (so no training error)
    assert max(r["train_error"]) < 1e-50


@pytest.fixture(scope="module")
def ce_lam0():
    args = dict(priors=[0.3, 0.7], labels=[1, -1], gram=_antipodal(1.0), gamma=0.2, lam=0.0,
                kinds=["vs", "vs"], omega=[1, 1], iota=[0, 0], Delta=[1, 1])
    r20 = erm.solve(dps=20, **args)            # finds the point itself
    r30 = erm.solve(dps=30, start=_start(r20), **args)
    return args, r20, r30


def test_lam0_below_threshold(ce_lam0):
    args, r20, r30 = ce_lam0
    gstar = maxmargin.separability_threshold(args["priors"], args["labels"], args["gram"], True,
                                             dps=20)
    assert args["gamma"] < 0.9 * gstar   # a solution exists (lam = 0, non-separable)
    assert r20["residual"] < 1e-17 and r30["residual"] < 1e-27
    assert r20["quad_error"] < 1e-17 and r30["quad_error"] < 1e-27
    for key in ("q", "V", "b", "alpha"):
        assert _rel(r20[key], r30[key]) < 1e-17
    for k in range(2):
        assert _rel(r20["m"][k], r30["m"][k]) < 1e-17
        assert _rel(r20["errors"][k], r30["errors"][k]) < 1e-17
    # with lam = 0, (S1) reads gamma = sum pi ed
    assert abs(mp.fsum(p * e for p, e in zip(args["priors"], r30["ed"])) - args["gamma"]) < 1e-27


def test_start_is_only_a_start(ce_lam0):
    """A perturbed start leads to the same root; returned c, alpha, m satisfy
    (S2), (S3) and m = Gram c to the reported residual."""
    args, r20, r30 = ce_lam0
    st = _start(r30)
    st = {"m": [v * 1.01 for v in st["m"]], "q": st["q"] * 0.98, "b": st["b"] + 0.01,
          "V": st["V"] * 1.03}
    s = erm.solve(dps=20, start=st, **args)
    for key in ("q", "V", "b"):
        assert _rel(s[key], r30[key]) < 1e-17
    with mp.workdps(30):
        r, g = r30, mp.mpf(args["gamma"])
        G = args["gram"]
        for k in range(2):
            Gc = mp.fsum(G[k][j] * r["c"][j] for j in range(2))
            assert abs(r["m"][k] - Gc) < 1e-26 * r["q"]
            assert abs(r["c"][k] - r["V"] / g * args["priors"][k] * args["labels"][k] * r["e1"][k]) < 1e-28
        cGc = mp.fsum(r["c"][j] * G[j][k] * r["c"][k] for j in range(2) for k in range(2))
        assert abs(r["q"] ** 2 - cGc - r["alpha"] ** 2) < 1e-26 * r["q"] ** 2
        s2 = r["V"] ** 2 * mp.fsum(p * e for p, e in zip(args["priors"], r["e2"]))
        assert abs(g * r["alpha"] ** 2 - s2) < 1e-26 * r["q"] ** 2
        assert abs(mp.fsum(p * y * e for p, y, e in zip(args["priors"], args["labels"], r["e1"]))) < 1e-27


def test_square_lam0_beyond_interpolation_is_rejected():
    with pytest.raises(ValueError):
        erm.solve([0.5, 0.5], [1, -1], _antipodal(1.0), 1.5, 0.0, ["square"] * 2, [1, 1], [0, 0],
                  [1, 1])
