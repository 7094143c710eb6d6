"""Every point of erm's documented range answers (gamma 1e-8 ... 1e6, lam = 0 or
1e-14 ... 1e10), and the answers at its corners are right.

What used to fail there and why (issue 18): the hinge's prox window V omega/q
is ~1e-8 wide at gamma <= 1e-6, where the tail-difference formulas for its
moments lost every digit (Newton never converged); at V ~ 1e-16 (lam = 1e10,
gamma <= 1e-6) the q = 0 start computed P - X as a difference that was 0 (every
loss diverged); at lam >= 1e6 a hinge intercept that tends to a kink, b = b0 +
O(1/lam), kept too few digits of b - b0 (Newton stalled).  The corners are
checked against the independent mpmath reference (60 digits), the large-ridge
reparametrisation against the plain solve where both converge and against an
exact homogeneity of the hinge, and the narrow-window moments against mpmath
quadrature."""
import importlib

import mpmath as mp
import numpy as np
import pytest

import asymptotics as asy
from asymptotics import _erm_engine as eng
from asymptotics.covariance import Spectrum
from asymptotics.losses import resolve_loss
from asymptotics.reference import erm as ref

erm_module = importlib.import_module("asymptotics.erm")

GAMMAS = np.array([1e-8, 1e-6, 1e-4, 1e-3, 0.01, 0.05, 0.1, 0.3, 1, 3, 10, 100, 1e3, 1e5, 1e6])
LAMS = np.array([1e-14, 1e-8, 1e-4, 1e-2, 1, 100, 1e4, 1e6, 1e10])
LABEL = asy.LabelGMM(0.1, [2, 0], [0, 1])
LABEL_COV = asy.LabelGMM(0.1, [2, 0], [0, 1], covariance=Spectrum([0.5, 2.0], [0.5, 0.5]))
GROUP = asy.GroupGMM(0.3, 0.05, [2, 0], [1, 1.5])
KIND_NAMES = {0: "vs", 1: "hinge", 2: "square"}

LOSSES = {
    "hinge": "hinge", "hinge-margins": asy.HingeLoss(Delta=[3.0, 1.0]), "CE": "CE", "CDT": ("CDT", 3.0),
    "square": "square", "VS+hinge": [asy.VSLoss(), asy.HingeLoss()],
    "hinge+VS": [asy.HingeLoss(Delta=3.0), asy.VSLoss()],
    "weighted hinge": asy.HingeLoss(omega=[9.0, 1.0], Delta=[2.0, 1.0]),
}


@pytest.mark.parametrize("name", list(LOSSES))
@pytest.mark.parametrize("model", [LABEL, LABEL_COV], ids=["isotropic", "spectrum"])
def test_every_point_of_the_documented_range_answers(model, name):
    """The whole 15 x 9 grid of the issue, swept (warm starts) and every point
    also alone (cold starts): status 0 or 3, finite errors, residual <= 1e-9."""
    r = asy.erm(model, GAMMAS[:, None], LOSSES[name], LAMS[None, :])
    assert np.all(np.isin(r.status, (0, 3))) and np.all(np.isfinite(r.errors))
    assert np.all(r.residual <= 1e-9), np.max(r.residual)
    for g in GAMMAS[::2]:
        for lam in LAMS[::2]:
            one = asy.erm(model, g, LOSSES[name], lam)
            assert int(one.status) in (0, 3) and float(one.residual) <= 1e-9


@pytest.mark.parametrize("intercept", [True, False])
@pytest.mark.parametrize("name", ["hinge", "CE", "square"])
def test_group_model_and_no_intercept_answer_on_the_range(name, intercept):
    for model in (GROUP, LABEL):
        r = asy.erm(model, GAMMAS[:, None], LOSSES[name], LAMS[None, :], intercept=intercept)
        assert np.all(np.isfinite(r.errors)) and np.all(r.residual <= 1e-9)


def test_lam_zero_answers_across_gamma():
    """lam = 0: a minimiser below gamma* (and NaN with exists False above it)."""
    gs = asy.separability_threshold(LABEL)
    for loss in ("hinge", "CE", ("CDT", 3.0)):
        r = asy.erm(LABEL, GAMMAS, loss, 0.0, on_nonseparable="nan")
        below = GAMMAS < gs
        assert np.all(r.exists == below)
        assert np.all(np.isfinite(r.errors[below])) and np.all(r.residual[below] <= 1e-9)


CORNERS = [  # (loss, gamma, lam): each failed before; the reference at 60 digits decides
    ("hinge", 1e-6, 1.0), ("hinge", 1e-8, 1e-8), ("hinge", 0.05, 1e6), ("hinge", 1.0, 1e10),
    ("hinge", 1e-8, 1e10), ("CE", 1e-6, 1e10), ("square", 1e-8, 1e10), ("VS+hinge", 1e-4, 1e8),
    ("weighted hinge", 1e-8, 1e-14),
]


@pytest.mark.parametrize("name,gamma,lam", CORNERS)
def test_corners_match_the_mpmath_reference(name, gamma, lam):
    """The reference (independent code) is started from the engine's answer and
    polished by its own Newton at 60 digits (its residual to 1e-30: at these
    corners its closed forms cancel ~10 digits).  q, V, mu_k . w, b, the test
    and training errors and the training losses agree to 1e-9 relative; test
    errors also in their logarithm (``log_errors``, exact where they
    underflow), and errors that are tail probabilities (1e-96 here) only
    there: their relative error is the conditioning of Q(t) at t ~ 20 times
    the engine's residual."""
    loss = LOSSES[name]
    ours = asy.erm(LABEL, gamma, loss, lam)
    cl = resolve_loss(loss, LABEL)
    q = float(ours.q)
    start = {"m": list(q * np.asarray(ours.projections)), "q": q, "b": float(ours.b), "V": float(ours.V)}
    r = ref.solve(LABEL.priors, LABEL.labels, LABEL.gram, gamma, lam, [KIND_NAMES[int(k)] for k in cl.kind],
                  cl.omega, cl.iota, cl.Delta, True, dps=60, start=start, tol=1e-30, check=False)
    assert float(r["residual"]) < 1e-30

    def close(fast, exact, what):
        exact = float(exact)
        assert abs(fast - exact) <= 1e-9 * abs(exact) + 1e-300, (what, fast, exact)

    close(q, r["q"], "q")
    close(float(ours.V), r["V"], "V")
    close(float(ours.b), r["b"], "b")
    for k in range(LABEL.n_clusters):
        close(q * float(ours.projections[k]), r["m"][k], f"m{k}")
        close(float(ours.train_loss[k]), r["train_loss"][k], f"train_loss{k}")
        log_exact = float(mp.log(r["errors"][k]))
        assert abs(float(ours.log_errors[k]) - log_exact) <= 1e-9 * max(1.0, abs(log_exact)), (k, log_exact)
        if r["errors"][k] > 1e-30:
            close(float(ours.errors[k]), r["errors"][k], f"error{k}")
        fast, exact = float(ours.train_error[k]), r["train_error"][k]
        if exact > 1e-30:
            close(fast, exact, f"train_error{k}")
        elif exact > 1e-300:
            assert abs(np.log(fast) - float(mp.log(exact))) <= 1e-9 * abs(float(mp.log(exact))), (k, fast, exact)
        else:
            assert fast <= 1e-300, (k, fast, exact)     # below the doubles (no log field for training errors)


@pytest.mark.parametrize("loss", ["hinge", asy.HingeLoss(Delta=[3.0, 1.0]), "VS+hinge"])
@pytest.mark.parametrize("gamma", [0.01, 1.0, 30.0])
def test_kink_reparametrisation_agrees_with_the_plain_solve(monkeypatch, loss, gamma):
    """From lam = 1e3 on, an intercept at a hinge kink is solved relative to
    it.  Where the plain solve still converges (lam <= 1e5) the two agree to
    its accuracy (residual up to 3e-10)."""
    loss = LOSSES.get(loss, loss) if isinstance(loss, str) else loss
    lams = np.array([1e3, 3e3, 1e4, 3e4, 1e5])
    shifted = asy.erm(LABEL, gamma, loss, lams)
    monkeypatch.setattr(erm_module, "LAM_KINK", np.inf)
    plain = asy.erm(LABEL, gamma, loss, lams)
    assert np.all(shifted.residual <= 1e-12)
    for f in ("q", "b", "V", "errors", "train_error", "train_loss", "projections"):
        np.testing.assert_allclose(getattr(shifted, f), getattr(plain, f), rtol=2e-9, atol=1e-300, err_msg=f)


@pytest.mark.parametrize("model", [LABEL, GROUP, LABEL_COV], ids=["label", "group", "spectrum"])
def test_hinge_at_a_large_ridge_is_homogeneous(model):
    """Once lam is so large that every cluster but the one at the kink is
    entirely on one side of its hinge (here from lam ~ 1e4), the hinge system
    is exactly homogeneous: (q, mu . w, b - b0, V) scale like 1/lam.  So
    q lam and (b - b0) lam are constant to the solver's accuracy up to 1e10."""
    lams = np.array([1e4, 1e6, 1e8, 1e10])
    r = asy.erm(model, 0.5, "hinge", lams)
    b0 = resolve_loss("hinge", model).kink_intercept(model.priors, model.labels)
    assert b0 is not None
    np.testing.assert_allclose(r.q * lams, float(r.q[0]) * 1e4, rtol=1e-9)
    np.testing.assert_allclose(r.V * lams, float(r.V[0]) * 1e4, rtol=1e-9)
    # b - b0 at lam = 1e10 keeps only ~6 digits in b itself: compare where b still holds them
    np.testing.assert_allclose((r.b[:2] - b0) * lams[:2], (float(r.b[0]) - b0) * 1e4, rtol=1e-6)


def _mp_interval(hi, d):
    """The four integrals in closed form at 100 digits (enough for the
    cancellation of d^3 at d = 1e-12): J0 = Phi(hi) - Phi(lo),
    J1 = hi J0 - (phi(lo) - phi(hi)), J2 = hi^2 J0 - 2 hi (phi(lo) - phi(hi))
    + J0 + lo phi(lo) - hi phi(hi), L = hi phi(hi) - lo phi(lo)."""
    with mp.workdps(100):
        hi = mp.mpf(hi)
        lo = hi - mp.mpf(d)
        pl, ph = mp.npdf(lo), mp.npdf(hi)
        J0 = mp.ncdf(hi) - mp.ncdf(lo)
        m1 = pl - ph                                  # integral of g phi
        m2 = J0 + lo * pl - hi * ph                   # integral of g^2 phi
        return [J0, hi * J0 - m1, hi * hi * J0 - 2 * hi * m1 + m2, hi * ph - lo * pl]


@pytest.mark.parametrize("hi", [-30.0, -5.0, -0.7, 0.0, 0.3, 2.0, 12.0])
@pytest.mark.parametrize("d", [1e-12, 1e-8, 1e-5, 1e-2, 0.5, 3.0])
def test_interval_moments_against_mpmath(hi, d):
    """J_0, J_1, J_2 and L of the hinge's prox window, every width from 1e-12
    to 3 and positions in both tails: 1e-13 relative (wide windows: 2e-13, the
    one digit the tail differences may lose)."""
    exact = _mp_interval(hi, d)
    got = eng._interval_moments(hi, d)
    for k, (g, e) in enumerate(zip(got, exact)):
        e = float(e)
        assert abs(g - e) <= 2e-13 * abs(e) + 1e-320, (k, g, e)


def test_interval_moments_are_smooth_in_the_width():
    """The moments at neighbouring widths differ smoothly (the 1e-10 sawtooth
    of a width recomputed as hi - lo is gone)."""
    V = 7.2e-8 * (1 + np.linspace(0, 1e-7, 11))
    out = np.empty(eng.NMOM)
    ed = []
    for v in V:
        eng.moments(1, 9.0, 0.0, 2.0, 0.5, 4.1, v, out)
        ed.append(out[eng.ED])
    ed = np.array(ed)
    line = ed[0] + (ed[-1] - ed[0]) * np.linspace(0, 1, 11)
    assert np.max(np.abs(ed - line)) <= 1e-14 * np.max(ed)


@pytest.mark.parametrize("kind,om,io,De", [(0, 1.0, 0.0, 1.0), (0, 2.0, 1.5, 0.3), (1, 1.0, 0.0, 1.0), (2, 1.0, 0.0, 2.0)])
@pytest.mark.parametrize("V", [1e-18, 1e-8, 1.0, 1e6])
def test_point_moments_closed_form_against_the_prox(kind, om, io, De, V):
    """e1 = (prox(X) - X)/V at q = 0, in closed form, against the prox solved
    in mpmath at 50 digits (the difference P - X computed there is exact)."""
    for X in (-2.0, 0.4, 0.999999, 3.0):
        e1, e2 = eng._point(kind, om, io, De, X, V)
        with mp.workdps(50):
            P = ref.prox(KIND_NAMES[kind], mp.mpf(X), mp.mpf(V), om, io, De)
            exact = float((P - X) / V)
        assert abs(e1 - exact) <= 1e-13 * abs(exact) + 1e-300, (X, e1, exact)
        assert e2 == e1 * e1


@pytest.mark.parametrize("loss", ["hinge", "VS+hinge"])
def test_sensitivities_at_a_large_ridge(loss):
    """Sensitivities of a point solved relative to a hinge kink are taken
    there too.  Pure hinge: in the homogeneous regime q = c/lam exactly, so
    lam dq/dlam = -q (an identity, to 1e-9 up to lam = 1e10); for both losses
    d/dlam and d/dDelta of the kink's cluster (its Delta is 0 in the shifted
    loss: the derivative is -d/dC, exact) against central differences of the
    solver at lam = 1e6."""
    loss = LOSSES[loss]
    lams = np.array([1e4, 1e6, 1e8, 1e10])
    r = asy.erm(LABEL, 1.0, loss, lams)
    s = asy.sensitivity(r)
    if loss == "hinge":
        np.testing.assert_allclose(lams * s.grad["q"]["lam"], -r.q, rtol=1e-9)
    base = resolve_loss(loss, LABEL)

    def solve(lam, dDelta=0.0):
        De = base.Delta + np.array([0.0, dDelta])
        return asy.erm(LABEL, 1.0, asy.losses.ClusterLosses(base.kind, base.omega, base.iota, De, "x"), lam)

    lam, h = 1e6, 1e-6
    fd_lam = (float(solve(lam * (1 + h)).q) - float(solve(lam * (1 - h)).q)) / (2 * h * lam)
    fd_Delta = (float(solve(lam, h).b) - float(solve(lam, -h).b)) / (2 * h)
    fd_Delta_q = (float(solve(lam, h).q) - float(solve(lam, -h).q)) / (2 * h)
    assert float(s.grad["q"]["lam"][1]) == pytest.approx(fd_lam, rel=1e-7)
    assert float(s.grad["b"]["Delta"][1, 1]) == pytest.approx(fd_Delta, rel=1e-7)
    assert float(s.grad["q"]["Delta"][1, 1]) == pytest.approx(fd_Delta_q, rel=1e-6, abs=1e-18)
