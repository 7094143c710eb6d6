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
