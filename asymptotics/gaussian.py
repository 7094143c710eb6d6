r"""Gaussian kernels of the max-margin asymptotics, accurate in both tails.

With :math:`G \sim N(0, 1)`, :math:`\varphi` the standard normal density and
:math:`Q(t) = P(G > t) = \Phi(-t)`:

.. math::

    F(t)   &= E[(G + t)_-^2] = (1 + t^2)\,Q(t) - t\,\varphi(t),\\
    F'(t)  &= 2t\,Q(t) - 2\varphi(t) = -2\,E[(G - t)_+],\\
    F''(t) &= 2\,Q(t).

Why the tails need care: for large positive ``t`` the closed form of ``F``
subtracts two numbers of size ``t Q(t)`` to get one of size ``2 Q(t)/t^2``, so
it loses about ``log10(t^4/2)`` digits (1e-7 relative error at t = 37).  For
``t >= 2`` we therefore never subtract: with :math:`R_n(t) = \int_0^\infty s^n
e^{-ts - s^2/2} ds` (so that :math:`E[(G - t)_+^n] = \varphi(t) R_n(t)`),
integration by parts gives :math:`R_{n+1} = n R_{n-1} - t R_n`, hence the
ratios :math:`\rho_n = R_n / R_{n-1}` obey the continued fraction
:math:`\rho_n = n / (t + \rho_{n+1})`, evaluated backwards (stable), and

.. math::  F(t) = Q(t)\,\rho_1\rho_2, \qquad F'(t) = -2\,Q(t)\,\rho_1 ,

products of positive numbers only.  ``Q`` itself is ``erfc(t/sqrt 2)/2``,
which is accurate to the last bits down to the smallest subnormal number;
the remaining error is the conditioning of the functions themselves
(relative condition number about ``t^2``).  For ``t < 2`` the closed forms lose
at most a factor of 60 (measured against mpmath: relative error <= 1e-14).

Every kernel is a Numba-compiled scalar function (``*_scalar``) for the
solver, with a NumPy-broadcasting public wrapper.
"""
from __future__ import annotations

import math

import numpy as np
from ._jit import kernel, ufunc

__all__ = ["F", "dF", "d2F", "Q", "logQ", "phi"]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
# Below this, the closed forms are used; above, the continued fraction.
_T_CF = 2.0


@kernel()
def q_scalar(t: float) -> float:
    """Gaussian tail Q(t) = P(G > t) = erfc(t / sqrt 2) / 2."""
    return 0.5 * math.erfc(t / _SQRT2)


@kernel()
def phi_scalar(t: float) -> float:
    """Standard normal density."""
    return _INV_SQRT_2PI * math.exp(-0.5 * t * t)


@kernel()
def _cf_ratios(t: float):
    """Return (rho_1, rho_2) = (R_1/R_0, R_2/R_1) for t >= 2 by the backward
    continued fraction rho_n = n / (t + rho_{n+1}).

    Depths are chosen so the truncation error is below 1e-16 on each range
    (measured against mpmath); the tail is started at the fixed point of
    rho_n = n / (t + rho_n), which is already a good approximation.
    """
    if t > 1e8:
        # rho_1 = 1/t (1 - 2/t^2 + ...), rho_2 = 2/t (1 - 3/t^2 + ...): exact in
        # double precision here, and t*t below would overflow for t > 1e154
        return 1.0 / t, 2.0 / t
    if t < 3.0:
        depth = 90
    elif t < 4.0:
        depth = 50
    elif t < 6.0:
        depth = 35
    elif t < 10.0:
        depth = 22
    elif t < 20.0:
        depth = 14
    else:
        depth = 10
    r = 0.5 * (-t + math.sqrt(t * t + 4.0 * (depth + 1)))
    for n in range(depth, 2, -1):
        r = n / (t + r)
    rho2 = 2.0 / (t + r)
    rho1 = 1.0 / (t + rho2)
    return rho1, rho2


@kernel()
def kernels_scalar(t: float):
    """Return (F(t), F'(t), F''(t)) in one pass (the solver needs all three)."""
    qt = q_scalar(t)
    if t >= _T_CF:
        rho1, rho2 = _cf_ratios(t)
        return qt * rho1 * rho2, -2.0 * qt * rho1, 2.0 * qt
    p = phi_scalar(t)
    return (1.0 + t * t) * qt - t * p, 2.0 * (t * qt - p), 2.0 * qt


@kernel()
def f_scalar(t: float) -> float:
    """F(t) = E[(G + t)_-^2]."""
    if t >= _T_CF:
        rho1, rho2 = _cf_ratios(t)
        return q_scalar(t) * rho1 * rho2
    return (1.0 + t * t) * q_scalar(t) - t * phi_scalar(t)


@kernel()
def df_scalar(t: float) -> float:
    """F'(t) = 2 t Q(t) - 2 phi(t) (always negative)."""
    if t >= _T_CF:
        rho1, _ = _cf_ratios(t)
        return -2.0 * q_scalar(t) * rho1
    return 2.0 * (t * q_scalar(t) - phi_scalar(t))


@kernel()
def logq_scalar(t: float) -> float:
    """log Q(t), finite for every finite t (no underflow to -inf)."""
    if t > 30.0:
        # Q(t) = phi(t) / (t + rho_1): log of each factor, no underflow.
        rho1, _ = _cf_ratios(t)
        return -0.5 * t * t - _LOG_SQRT_2PI - math.log(t + rho1)
    if t < -1.0:
        # Q(t) = 1 - Q(-t): log1p keeps the tiny deficit.
        return math.log1p(-q_scalar(-t))
    return math.log(q_scalar(t))


@kernel()
def logf_scalar(t: float):
    """(log F(t), F'(t)/F(t)), finite for every finite t: for t >= 2 from
    F = Q rho_1 rho_2 and F' = -2 Q rho_1 (F'/F = -2/rho_2) with log Q in the
    log domain, so nothing underflows even where F does (t > ~27)."""
    if t >= _T_CF:
        rho1, rho2 = _cf_ratios(t)
        return logq_scalar(t) + math.log(rho1) + math.log(rho2), -2.0 / rho2
    f = f_scalar(t)
    return math.log(f), df_scalar(t) / f


@ufunc()
def _F(t):
    return f_scalar(t)


@ufunc()
def _dF(t):
    return df_scalar(t)


@ufunc()
def _Q(t):
    return q_scalar(t)


@ufunc()
def _logQ(t):
    return logq_scalar(t)


@ufunc()
def _phi(t):
    return phi_scalar(t)


def F(t):
    r"""Second moment of the negative part, :math:`F(t) = E[(G+t)_-^2]`.

    .. math:: F(t) = (1 + t^2)\,Q(t) - t\,\varphi(t)

    Convex, decreasing, positive; accurate to ~1e-15 relative in both tails
    (see the module docstring).  ``t`` may be any array-like.
    """
    return _F(np.asarray(t, dtype=float))


def dF(t):
    r""":math:`F'(t) = 2t\,Q(t) - 2\varphi(t) = -2E[(G - t)_+] < 0`."""
    return _dF(np.asarray(t, dtype=float))


def d2F(t):
    r""":math:`F''(t) = 2\,Q(t) > 0`."""
    return 2.0 * _Q(np.asarray(t, dtype=float))


def Q(t):
    r"""Gaussian tail :math:`Q(t) = P(G > t) = \mathrm{erfc}(t/\sqrt2)/2`."""
    return _Q(np.asarray(t, dtype=float))


def logQ(t):
    r""":math:`\log Q(t)`, finite for all finite ``t`` (``Q`` itself underflows
    beyond t ~ 38.5)."""
    return _logQ(np.asarray(t, dtype=float))


def phi(t):
    r"""Standard normal density :math:`\varphi(t) = e^{-t^2/2}/\sqrt{2\pi}`."""
    return _phi(np.asarray(t, dtype=float))
