"""The Numba ERM engine against the independent mpmath reference
(asymptotics.reference.erm: prox by root-finding in mpmath, expectations by
Gauss-Legendre panels graded around the prox's branch points, written without
the engine).  The reference is started from the engine's answer and polished
by its own Newton iteration at 20 digits, so agreement means the engine's
point is a root of the independently coded system to that accuracy."""
import numpy as np
import pytest

import asymptotics as asy
from asymptotics.losses import resolve_loss
from asymptotics.reference import erm as ref

KIND_NAMES = {0: "vs", 1: "hinge", 2: "square"}
TOL = 1e-9


def _random_model(rng, K):
    pri = rng.dirichlet(np.ones(K)) * 0.9 + 0.1 / K
    pri /= pri.sum()
    labels = np.array([1.0, -1.0] * (K // 2))
    means = rng.standard_normal((K, 3)) * np.exp(rng.uniform(-0.5, 1.0, (K, 1)))
    return asy.ClusterGMM(pri, labels, means)


def _random_loss(rng, K, kind):
    om = np.exp(rng.uniform(-0.7, 0.7, K))
    De = np.exp(rng.uniform(-0.7, 0.7, K))
    if kind == "vs":
        return asy.VSLoss(omega=om, iota=rng.uniform(-1, 1, K), Delta=De)
    if kind == "hinge":
        return asy.HingeLoss(omega=om, Delta=De)
    return asy.SquareLoss(omega=om, Delta=De)


def _check(model, gamma, loss, lam, intercept):
    ours = asy.erm(model, gamma, loss, lam, intercept)
    cl = resolve_loss(loss, model)
    q = float(ours.q)
    start = {"m": list(q * np.asarray(ours.projections)), "q": q, "b": float(ours.b), "V": float(ours.V)}
    r = ref.solve(model.priors, model.labels, model.gram, gamma, lam, [KIND_NAMES[int(k)] for k in cl.kind],
                  cl.omega, cl.iota, cl.Delta, intercept, dps=20, start=start)
    assert float(r["residual"]) < 1e-15
    pairs = [(q, r["q"]), (float(ours.V), r["V"])]
    pairs += list(zip(q * np.asarray(ours.projections), r["m"]))
    pairs += list(zip(np.asarray(ours.errors), r["errors"]))
    pairs += list(zip(np.asarray(ours.train_loss), r["train_loss"]))
    if intercept:
        pairs.append((float(ours.b), r["b"]))
    scale = max(1.0, q)
    for fast, exact in pairs:
        exact = float(exact)
        # relative, with an absolute floor for quantities near zero (m_k, b)
        assert abs(fast - exact) <= TOL * max(abs(exact), 1e-300) or abs(fast - exact) <= 1e-12 * scale, \
            (fast, exact)
    for fast, exact in zip(np.asarray(ours.train_error), r["train_error"]):
        exact = float(exact)
        assert abs(fast - exact) <= TOL * exact + 1e-300
    return ours


CASES = [  # (seed, K, kind, gamma, lam, intercept)
    (1, 2, "vs", 0.7, 1e-4, True), (2, 2, "vs", 3.0, 1.0, True), (3, 2, "vs", 1.5, 10.0, False),
    (4, 2, "hinge", 2.0, 1e-3, True), (5, 2, "hinge", 0.4, 0.3, False), (6, 2, "square", 0.6, 1e-2, True),
    (7, 2, "square", 2.5, 3.0, False), (8, 4, "vs", 1.2, 1e-2, True), (9, 4, "hinge", 0.9, 0.05, True),
    (10, 4, "square", 1.7, 0.2, False), (11, 4, "vs", 2.0, 0.5, False),
]


@pytest.mark.parametrize("seed,K,kind,gamma,lam,intercept", CASES)
def test_engine_matches_mpmath_reference(seed, K, kind, gamma, lam, intercept):
    rng = np.random.default_rng(seed)
    model = _random_model(rng, K)
    _check(model, gamma, _random_loss(rng, K, kind), lam, intercept)


@pytest.mark.parametrize("kind,frac,intercept", [("vs", 0.5, True), ("vs", 0.9, False), ("hinge", 0.7, True),
                                                 ("square", 0.5, True)])
def test_unregularised_below_threshold_matches_reference(kind, frac, intercept):
    rng = np.random.default_rng(100 + int(10 * frac))
    model = asy.LabelGMM(0.2, [1.5, 0.0], [-0.3, 1.0])
    gamma = frac * (asy.separability_threshold(model, intercept) if kind != "square" else 1.0)
    _check(model, gamma, _random_loss(rng, 2, kind), 0.0, intercept)


def test_presets_and_group_model_match_reference():
    g = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])
    _check(g, 1.3, ("VS", 2.0), 1e-2, True)
    _check(asy.LabelGMM.antipodal(0.1, 2.0), 2.0, ("CDT", 3.0), 1e-5, True)


def test_reference_does_not_just_return_its_start():
    """The comparison can fail: from a start moved by 1e-6 the reference's own
    Newton iteration returns to the engine's root, not to the start."""
    model = asy.LabelGMM.antipodal(0.1, 2.0)
    ours = asy.erm(model, 2.0, "CE", 0.1)
    q = float(ours.q) * (1 + 1e-6)
    start = {"m": list(q * np.asarray(ours.projections)), "q": q, "b": float(ours.b), "V": float(ours.V)}
    r = ref.solve(model.priors, model.labels, model.gram, 2.0, 0.1, ["vs", "vs"], [1, 1], [0, 0], [1, 1],
                  True, dps=20, start=start)
    # the reference moves the perturbed start back to the root: it lands 1e-6 away from it
    assert abs(float(r["q"]) - q) / q > 5e-7
    assert abs(float(r["q"]) - float(ours.q)) / float(ours.q) < TOL


@pytest.mark.parametrize("norm,frac,lam", [(3.0, 0.54, 1e-6), (3.5, 0.56, 0.0), (2.5, 0.54, 1e-4), (3.0, 0.3, 0.0)])
def test_large_score_spread_matches_reference(norm, frac, lam):
    """Antipodal means of norm 2.5-3.5 at gamma ~ gamma*/2: the score spread
    q is 5-10 and V omega Delta^2 just below 4, where the prox's two branch
    points are far apart in G relative to their distance 1/(q Delta) from
    the real axis.  (The quadrature once centred its nodes between them
    there and was off by up to 2e-8 while reporting a 1e-15 residual.)"""
    model = asy.LabelGMM.antipodal(0.25, norm)
    gamma = frac * asy.separability_threshold(model)
    ours = _check(model, gamma, asy.VSLoss(), lam, True)
    assert float(ours.q) > 4.0
