"""The margin losses (asymptotics.losses): values, derivatives and proximal
operators on good input, and hostile input refused with one-line ValueErrors
naming the argument (t, x, V, k) instead of a NaN, a numpy conversion
message or numpy's broadcasting text."""
import warnings

import numpy as np
import pytest
from refusal import refused

from asymptotics.losses import HingeLoss, SquareLoss, VSLoss, cluster_losses, vs_preset

LOSSES = {
    "VS": VSLoss(),
    "VS-2": VSLoss(omega=[1.0, 2.0], iota=[0.5, -0.5], Delta=[2.0, 1.0]),
    "hinge": HingeLoss(omega=[1.0, 3.0], Delta=[2.0, 0.5]),
    "square": SquareLoss(omega=2.0, Delta=1.5),
    "CDT": vs_preset("CDT", 0.1, 3.0),
}


def _k(loss, n):
    return None if loss.size == 1 else np.arange(n) % loss.size


_refused = refused


# ----------------------------------------------------------------------------------------------
# good input


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_value_derivative_and_prox_agree_with_their_formulas(name):
    loss = LOSSES[name]
    rng = np.random.default_rng(0)
    t = rng.normal(scale=3.0, size=40)
    k = _k(loss, t.size)
    per = cluster_losses(loss, max(loss.size, 2) if loss.size == 2 else loss.size)
    idx = np.zeros(t.size, dtype=int) if k is None else k
    om, io, De = per.omega[idx], per.iota[idx], per.Delta[idx]
    kind = per.kind[idx]
    expected = np.where(kind == 0, om * np.logaddexp(0, io - De * t),
                        np.where(kind == 1, om * np.maximum(De - t, 0), 0.5 * om * (De - t) ** 2))
    np.testing.assert_allclose(loss.value(t, k), expected, rtol=1e-13, atol=1e-15)
    # derivative by central differences away from the hinge's kink
    h = 1e-6
    fd = (loss.value(t + h, k) - loss.value(t - h, k)) / (2 * h)
    smooth = np.abs(t - De) > 1e-3
    np.testing.assert_allclose(loss.derivative(t, k)[smooth], fd[smooth], rtol=1e-6, atol=1e-8)
    # prox: p + V l'(p) = x (for the hinge, a subgradient at the kink)
    for V in (0.01, 1.0, 30.0):
        p = loss.prox(t, V, k)
        assert np.all(np.isfinite(p))
        if name != "hinge":
            np.testing.assert_allclose(p + V * loss.derivative(p, k), t, rtol=1e-10, atol=1e-10)
        else:
            # optimality of the prox objective l(p) + (x - p)^2 / (2V) against nearby points
            obj = lambda q: loss.value(q, k) + (t - q) ** 2 / (2 * V)
            assert np.all(obj(p) <= obj(p + 1e-4) + 1e-12) and np.all(obj(p) <= obj(p - 1e-4) + 1e-12)


@pytest.mark.parametrize("t,k,shape", [
    (0.5, None, ()), ([0.5, 1.0], None, (2,)), (np.ones((3, 2)), None, (3, 2)),
    (0.5, [0, 1, 1], (3,)), (np.ones((3, 1)), [0, 1], (3, 2)), ([1.0, 2.0, 3.0], np.array([1, 0, 1]), (3,)),
])
def test_valid_shapes_broadcast(t, k, shape):
    loss = LOSSES["VS-2"] if k is not None else LOSSES["VS"]
    if k is None and np.ndim(t) and np.shape(t)[-1] == 2:
        loss = LOSSES["VS-2"]
    assert loss.value(t, k).shape == shape
    assert loss.derivative(t, k).shape == shape
    assert loss.prox(t, 1.0, k).shape == shape


# ----------------------------------------------------------------------------------------------
# hostile input: refused, naming the argument


BAD_VALUES = {
    "nan": np.nan, "inf": np.inf, "-inf": -np.inf, "nan-in-array": [1.0, np.nan], "inf-in-array": [np.inf, 0.0],
    "string": "a", "string-list": ["1", "2"], "bool": True, "bool-array": np.array([True, False]),
    "complex": 1j, "complex-array": np.array([1 + 0j, 2 + 0j]), "None": None, "object": object(),
    "ragged": [[1.0], [1.0, 2.0]], "dict": {"a": 1},
}


@pytest.mark.parametrize("loss_name", ["VS", "hinge", "square"])
@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
def test_bad_margins_name_t(loss_name, bad):
    """The probe: VSLoss().value(nan) returned NaN, derivative('a') numpy's
    'could not convert string to float'."""
    loss = LOSSES[loss_name]
    _refused("t", lambda: loss.value(BAD_VALUES[bad]))
    _refused("t", lambda: loss.derivative(BAD_VALUES[bad]))


@pytest.mark.parametrize("loss_name", ["VS", "hinge", "square"])
@pytest.mark.parametrize("bad", sorted(BAD_VALUES))
def test_bad_prox_point_names_x(loss_name, bad):
    """The probe: VSLoss().prox(nan, 1) returned NaN."""
    _refused("x", lambda: LOSSES[loss_name].prox(BAD_VALUES[bad], 1.0))


@pytest.mark.parametrize("V", [np.nan, np.inf, 0.0, -1.0, "a", 1j, None, [1.0, np.nan], True])
def test_bad_prox_scale_names_v(V):
    _refused("V", lambda: VSLoss().prox(1.0, V))


@pytest.mark.parametrize("call,names", [
    (lambda: VSLoss(omega=[1, 2]).value([1, 2], k=[0, 1, 0]), ("t", "k")),
    (lambda: VSLoss(omega=[1, 2]).derivative(np.ones((2, 3)), k=[0, 1]), ("t", "k")),
    (lambda: SquareLoss().prox([1, 2], [1, 2, 3]), ("x", "V")),
    (lambda: HingeLoss().prox([1, 2], np.ones(4)), ("x", "V")),
    (lambda: VSLoss(omega=[1, 2]).prox([1.0, 2.0], 1.0, k=[0, 1, 1]), ("x", "k")),
])
def test_shape_mismatches_name_the_arguments(call, names):
    """The probe: numpy's 'operands could not be broadcast together' text."""
    msg = _refused(names[0], call)
    assert all(nm in msg for nm in names), msg
    assert "operands" not in msg and "Mismatch is between arg" not in msg


@pytest.mark.parametrize("k", [[0.0, 1.0], ["a", "b"], [True, False], [0, 2], [-1, 0], [[0], [1, 0]], "01"])
def test_bad_cluster_indices_name_k(k):
    _refused("k", lambda: VSLoss(omega=[1, 2]).value([1.0, 2.0], k=k))


# ----------------------------------------------------------------------------------------------
# value semantics: equality, hashing, pickling (issue 18, item 3)


def test_losses_compare_and_hash_by_value():
    """The probe: ``{VSLoss(): 1}`` was unhashable and ``==`` raised numpy's
    ambiguous-truth error."""
    assert {VSLoss(): 1}[VSLoss(omega=1.0, iota=[0.0], Delta=np.float64(1.0))] == 1
    assert VSLoss() == VSLoss(omega=[1.0]) and hash(VSLoss()) == hash(VSLoss(omega=[1.0]))
    assert VSLoss() != VSLoss(omega=2.0) and VSLoss() != VSLoss(omega=[1.0, 1.0])
    assert VSLoss() != HingeLoss() and HingeLoss() != SquareLoss() and VSLoss() != VSLoss(name="CE")
    assert vs_preset("CDT", 0.1, 3.0) == vs_preset("CDT", 0.1, 3.0) != vs_preset("CDT", 0.1, 2.0)
    assert len({vs_preset("VS", 0.1, 2.0), vs_preset("VS", 0.1, 2.0), HingeLoss(Delta=[2.0, 1.0])}) == 2
    a = cluster_losses(LOSSES["VS-2"], 2)
    b = cluster_losses(VSLoss(omega=[1.0, 2.0], iota=[0.5, -0.5], Delta=[2.0, 1.0]), 2)
    assert a == b and hash(a) == hash(b) and a != cluster_losses(VSLoss(), 2)
    assert (VSLoss() == "VS") is False


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses_pickle_and_deepcopy_to_equal_read_only_losses(name):
    import copy
    import pickle
    loss = LOSSES[name]
    for obj in (loss, cluster_losses(loss, loss.size)):
        for clone in (pickle.loads(pickle.dumps(obj)), copy.deepcopy(obj)):
            assert clone == obj and hash(clone) == hash(obj) and type(clone) is type(obj)
            for attr in ("omega", "iota", "Delta"):
                assert not getattr(clone, attr).flags.writeable
            with pytest.raises(AttributeError):
                clone.omega = np.ones(1)


# ----------------------------------------------------------------------------------------------
# a hand-built ClusterLosses is checked like the losses it flattens (issue 18, item 2)


def test_hand_built_cluster_losses_accept_lists_and_store_read_only_copies():
    from asymptotics.losses import ClusterLosses
    omega = np.array([1.0, 2.0])
    c = ClusterLosses([0, 1], omega, [0.5, 0.0], [1, 2], "mixed")
    assert c.kind.dtype == np.int64 and c.omega.dtype == float and c.Delta.tolist() == [1.0, 2.0]
    assert all(not getattr(c, a).flags.writeable for a in ("kind", "omega", "iota", "Delta"))
    assert omega.flags.writeable and not np.shares_memory(omega, c.omega)     # the caller's array untouched
    omega[0] = 5.0
    assert c.omega[0] == 1.0
    # the per-cluster losses are those of the scalar losses it stands for
    x = np.array([0.3, -1.0])
    want = [VSLoss(1.0, 0.5, 1.0).prox(0.3, 2.0), HingeLoss(2.0, 2.0).prox(-1.0, 2.0)]
    np.testing.assert_allclose(c.prox(x, 2.0, [0, 1]), want, rtol=1e-14)


@pytest.mark.parametrize("fields,name", [
    (([7, 0], [1, 1], [0, 0], [1, 1]), "kind"),            # the probe: kind 7 was solved as VS
    (([0.5, 0], [1, 1], [0, 0], [1, 1]), "kind"),
    (([True, False], [1, 1], [0, 0], [1, 1]), "kind"),
    (("01", [1, 1], [0, 0], [1, 1]), "kind"),
    (([], [], [], []), "kind"),
    (([0, 0], [np.nan, 1], [0, 0], [1, 1]), "omega"),      # the probe: NaN omega became a solver failure
    (([0, 0], [1, -1], [0, 0], [1, 1]), "omega"),
    (([0, 0], [1, 1], [0, np.inf], [1, 1]), "iota"),
    (([1, 0], [1, 1], [0.5, 0], [1, 1]), "iota"),          # a hinge cluster with an offset
    (([2, 2], [1, 1], [0, 1], [1, 1]), "iota"),
    (([0, 0], [1, 1], [0, 0], [1, 0]), "Delta"),
    (([0, 0], [1, 1, 1], [0, 0], [1, 1]), "omega"),        # unequal lengths name the fields
    (([0, 0], [1, 1], [0, 0], [[1, 1]]), "Delta"),
    (([0, 0], "1", [0, 0], [1, 1]), "omega"),
])
def test_hand_built_cluster_losses_are_refused_naming_the_field(fields, name):
    from asymptotics.losses import ClusterLosses
    _refused(name, lambda: ClusterLosses(*fields, "hand-built"))


def test_cluster_losses_name_must_be_a_string():
    from asymptotics.losses import ClusterLosses
    _refused("name", lambda: ClusterLosses([0], [1.0], [0.0], [1.0], 3))


# ----------------------------------------------------------------------------------------------
# one reading of the loss words (resolve_loss), for erm, erm_path, Monte-Carlo and the CLI


def test_hinge_with_a_margin_ratio_is_the_cost_sensitive_svm_loss():
    """("hinge", d) and loss="hinge", delta=d ask the CS-SVM's margins (d, 1)
    of a label model and the GS-SVM's group margins of a group model."""
    import asymptotics as asy
    from asymptotics.group import group_margins
    from asymptotics.losses import resolve_loss
    label = asy.LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0])
    group = asy.GroupGMM(0.3, 0.1, [2.0, 0.0], [1.0, 1.5])
    want = cluster_losses(HingeLoss(Delta=[3.0, 1.0]), 2)
    assert resolve_loss(("hinge", 3.0), label) == want == resolve_loss("hinge", label, delta=3)
    want = cluster_losses(HingeLoss(Delta=group_margins(group, 3.0).reshape(-1)), 4)
    assert resolve_loss(("hinge", 3.0), group) == want == resolve_loss("hinge", group, 3.0)
    assert resolve_loss("hinge", label) == cluster_losses(HingeLoss(), 2)
    assert resolve_loss(("CDT", 3.0), label) == cluster_losses(vs_preset("CDT", 0.1, 3.0), 2)


def test_api_and_cli_mean_the_same_hinge(capsys):
    """The probe: erm(m, 1, ("hinge", 3.0), 1e-2) dropped the 3 (R_bal 0.4009)
    while --loss hinge --delta 3 meant margins (3, 1) (R_bal 0.3247)."""
    import json

    import asymptotics as asy
    from asymptotics import cli
    m = asy.LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0])
    explicit = float(asy.erm(m, 1.0, HingeLoss(Delta=[3.0, 1.0]), 1e-2).R_bal)
    assert float(asy.erm(m, 1.0, ("hinge", 3.0), 1e-2).R_bal) == explicit
    assert float(asy.erm(m, 1.0, "hinge", 1e-2, delta=3.0).R_bal) == explicit
    assert cli.main(["predict", "--prior", "0.1", "--mean-plus", "2,0", "--mean-minus", "0,1", "--gamma", "1",
                     "--lam", "1e-2", "--loss", "hinge", "--delta", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    rows = rows["rows"] if isinstance(rows, dict) else rows
    assert rows[0]["R_bal"] == pytest.approx(explicit, rel=1e-12)
    assert explicit == pytest.approx(0.3247, abs=5e-5)
    assert float(asy.erm(m, 1.0, "hinge", 1e-2).R_bal) == pytest.approx(0.4009, abs=5e-5)   # plain hinge


def test_monte_carlo_reads_the_hinge_margin_ratio_as_erm_does():
    import asymptotics as asy
    from asymptotics.simulate import monte_carlo
    m = asy.LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0])
    r = monte_carlo(m, 1.0, 3.0, n=200, trials=1, seed=0, method="hinge", lam=1e-2, backend="sequential")
    want = asy.erm(m, 1.0, ("hinge", 3.0), 1e-2)
    assert float(np.asarray(r.theory["R_bal"])) == pytest.approx(float(want.R_bal), rel=1e-12)


def _erm(loss, **kw):
    import asymptotics as asy
    return asy.erm(asy.LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0]), 1.0, loss, 1e-2, **kw)


def _erm_path(loss, **kw):
    import asymptotics as asy
    return asy.erm_path(asy.LabelGMM(0.1, [2.0, 0.0], [0.0, 1.0]), 1.0, loss, lam=[1.0, 0.1], **kw)


@pytest.mark.parametrize("call,name", [
    (lambda: _erm(("CE", 3.0)), "delta"),                  # the probe: the 3 was dropped
    (lambda: _erm_path("CE", delta=3), "delta"),           # likewise
    (lambda: _erm("LDAM", delta=1.0), "delta"),            # no margin ratio, whatever its value
    (lambda: _erm(("wCE", 2.0)), "delta"),
    (lambda: _erm(("LA", 2.0)), "delta"),
    (lambda: _erm(("LA-log", 2.0)), "delta"),
    (lambda: _erm(("square", 2.0)), "delta"),              # targets are not margins: SquareLoss(Delta=...)
    (lambda: _erm(("CDT", 3.0), delta=5), "delta"),        # the probe: 5 silently lost to 3
    (lambda: _erm(("CDT", 3.0), delta=3), "delta"),        # given twice even when equal
    (lambda: _erm(VSLoss(), delta=2.0), "delta"),
    (lambda: _erm(("CDT",)), "loss"),
    (lambda: _erm(("CDT", 3.0, 1.0)), "loss"),
    (lambda: _erm(("CDT", "3")), "loss"),
    (lambda: _erm(("CDT", None)), "loss"),
    (lambda: _erm(("CDT", True)), "loss"),
    (lambda: _erm(("CDT", [3.0])), "loss"),
    (lambda: _erm((3.0, "CDT")), "loss"),
    (lambda: _erm(("cdt", 3.0)), "loss"),
    (lambda: _erm(("CDT", -1.0)), "delta"),
    (lambda: _erm(("hinge", 0.0)), "delta"),
])
def test_loss_words_are_never_silently_dropped(call, name):
    _refused(name, call)


def test_a_margin_ratio_needs_a_label_or_group_model():
    import asymptotics as asy
    m = asy.ClusterGMM([0.2, 0.3, 0.5], [1, -1, 1], [[2.0, 0.0], [0.0, 1.0], [-1.0, 1.0]])
    _refused("delta", lambda: asy.erm(m, 2.0, ("hinge", 2.0), 1e-2))


# ----------------------------------------------------------------------------------------------
# the VS prox on the whole finite range (issue 18, item 5)


def _mp_prox(x, V, om=1.0, io=0.0, De=1.0, dps=700):
    """The root of p + V l'(p) = x at high precision (bisection on [x, x + V om De]: 600 halvings
    of an asinh-width below 1420 leave 1e-178).  700 digits: p - x is exact for |p| and |x| anywhere
    in the float range (a root of -684 next to x = -1e300)."""
    import mpmath as mp
    with mp.workdps(dps):
        X, VV, O, I, D = (mp.mpf(float(a)) for a in (x, V, om, io, De))
        C = VV * O * D

        def F(q):      # c sigma(u) = c - c sigma(-u): the form without cancellation on each side
            u = I - D * q
            return q - X - C / (1 + mp.exp(-u)) if u <= 0 else (q - X - C) + C / (1 + mp.exp(u))
        lo, hi = mp.asinh(X), mp.asinh(X + C)       # F increases on [x, x + c]; bisect in asinh(p)
        for _ in range(600):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if F(mp.sinh(mid)) < 0 else (lo, mid)
        return mp.sinh(lo)


@pytest.mark.parametrize("x,V,om,io,De", [
    (0.0, 1e90, 1.0, 0.0, 1.0),          # the probe: 200.94 returned, root 201.92
    (0.0, 1e300, 1.0, 0.0, 1.0),         # the probe: 201.2 returned, root 684.25
    (700.0, 1e300, 1.0, 0.0, 1.0),
    (-1e300, 1e300, 1.0, 0.0, 1.0),
    (1e308, 1e300, 1.0, 0.0, 1.0),
    (-8.880610607243462e134, 2.3692666820768828e157, 20.7, -56.3, 39.2),   # a huge x against a huger V
    (5.0, 1e-300, 1.0, 0.0, 1.0),
    (-50.0, 100.0, 1e6, 100.0, 1e-4),
    (3.0, 1e12, 1e-6, -100.0, 1e4),
])
def test_vs_prox_at_extreme_points_matches_mpmath(x, V, om, io, De):
    import mpmath as mp
    p = float(VSLoss(om, io, De).prox(x, V))
    root = _mp_prox(x, V, om, io, De)
    assert abs(mp.mpf(p) - root) <= 4e-15 * max(abs(root), mp.mpf(1e-300)), (p, float(root))


def test_vs_prox_solves_its_equation_on_the_whole_finite_range():
    """x up to the float range, V up to 1e300, random loss parameters: the
    residual p + V l'(p) - x, evaluated at 40 digits, is at the rounding level
    of the equation's terms."""
    import mpmath as mp
    rng = np.random.default_rng(5)
    n = 400
    x = rng.uniform(-1, 1, n) * 10.0 ** rng.uniform(-300, 308, n)
    V = 10.0 ** rng.uniform(-300, 300, n)
    om, io, De = 10.0 ** rng.uniform(-6, 6, n), rng.uniform(-100, 100, n), 10.0 ** rng.uniform(-4, 4, n)
    p = VSLoss(om, io, De).prox(x, V, np.arange(n))
    assert np.all(np.isfinite(p))
    worst = 0.0
    with mp.workdps(40):
        for i in range(n):
            P, X = mp.mpf(float(p[i])), mp.mpf(float(x[i]))
            pull = mp.mpf(float(V[i])) * float(om[i]) * float(De[i]) / (1 + mp.exp(float(De[i]) * P - float(io[i])))
            worst = max(worst, float(abs(P - X - pull) / max(abs(P), abs(X), abs(pull))))
    assert worst < 1e-12


def test_vs_prox_raises_instead_of_returning_unconverged(monkeypatch):
    from asymptotics import losses
    from asymptotics.errors import ConvergenceError
    monkeypatch.setattr(losses, "_PROX_MAX_ITER", 1)
    with pytest.raises(ConvergenceError, match="VS prox"):
        VSLoss(iota=5.0, Delta=7.0).prox(np.linspace(-3e5, 3e5, 7), 1e5)
