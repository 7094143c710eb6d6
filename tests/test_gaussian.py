"""Kernels F, F', F'', Q, log Q against the mpmath closed forms."""
import math

import mpmath as mp
import numpy as np
import pytest

from asymptotics import gaussian as g
from asymptotics import reference as ref

mp.mp.dps = 40
T = np.concatenate([np.linspace(-40, 40, 1601), np.linspace(1.5, 6.5, 501), [1e-8, -1e-8, 0.0]])


def _cond(t):
    # relative condition number of Q, F, F' at t is about 1 + t^2
    return 1.0 + t * t


@pytest.mark.parametrize("name,fast,slow", [
    ("F", g.F, ref.F), ("dF", g.dF, ref.dF), ("Q", g.Q, ref.Q),
    ("d2F", g.d2F, lambda t: 2 * ref.Q(t)),
])
def test_kernel_matches_mpmath(name, fast, slow):
    values = fast(T)
    worst = 0.0
    for t, v in zip(T, values):
        exact = slow(t)
        if abs(exact) < mp.mpf("1e-300"):
            continue  # below the normal double range: checked separately
        worst = max(worst, float(abs(v - exact) / abs(exact)) / _cond(t))
    assert worst < 5e-15, f"{name}: worst scaled relative error {worst:.2e}"


def test_tails_are_right_down_to_1e300():
    # Q(37) ~ 5.7e-300, F(35) ~ 1e-270: representable, so they must be right
    for t in (30.0, 35.0, 37.0, 37.5):
        assert float(g.Q(t)) == pytest.approx(float(ref.Q(t)), rel=1e-12)
        assert float(g.F(t)) == pytest.approx(float(ref.F(t)), rel=1e-12)
        assert float(g.dF(t)) == pytest.approx(float(ref.dF(t)), rel=1e-12)
    assert 0 < float(g.Q(37.5)) < 1e-300


def test_no_nan_no_negative_no_overflow():
    t = np.concatenate([np.linspace(-1e3, 1e3, 20001), [-1e150, 1e7, 1e9, 1e300, 1e-300]])
    F, dF, Q = g.F(t), g.dF(t), g.Q(t)
    for arr in (F, dF, Q):
        assert not np.isnan(arr).any()
    assert (F >= 0).all() and (Q >= 0).all() and (dF <= 0).all()
    assert np.isfinite(F).all() and np.isfinite(dF).all()
    # far left tail: F ~ 1 + t^2, F' ~ 2t, exactly representable
    assert float(g.F(-1e100)) == pytest.approx(1e200, rel=1e-15)


def test_logq_finite_everywhere():
    t = np.array([-50.0, -5.0, 0.0, 5.0, 37.0, 40.0, 100.0, 1e5])
    lq = g.logQ(t)
    assert np.isfinite(lq).all()
    for ti, v in zip(t, lq):
        exact = mp.log(mp.ncdf(-mp.mpf(ti))) if ti > -10 else mp.log1p(-mp.ncdf(mp.mpf(ti)))
        assert float(v) == pytest.approx(float(exact), rel=1e-13, abs=1e-300)


def test_exact_values():
    # F(0) = 1/2 (Cover), F'(0) = -2 phi(0), F''(0) = 1
    assert float(g.F(0.0)) == pytest.approx(0.5, rel=1e-15)
    assert float(g.dF(0.0)) == pytest.approx(-2 / math.sqrt(2 * math.pi), rel=1e-15)
    assert float(g.d2F(0.0)) == 1.0
    # derivative identity: d/dt F = F' (central differences, moderate t)
    t, h = 0.7, 1e-5
    assert float((g.F(t + h) - g.F(t - h)) / (2 * h)) == pytest.approx(float(g.dF(t)), rel=1e-8)


def test_far_right_tail_asymptotics():
    # for huge t, F'/F -> -t and F''/F' -> -t/... : check the CF switch at 1e8
    # is continuous (logQ is finite there while Q underflows)
    lq = g.logQ(np.array([1e7, 1e8 * (1 - 1e-12), 1e8 * (1 + 1e-12), 1e9]))
    assert np.isfinite(lq).all()
    assert np.all(np.diff(lq) < 0)
