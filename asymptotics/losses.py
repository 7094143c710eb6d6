r"""Margin losses shared by the theory (:func:`asymptotics.erm`) and the
simulation side (gradient descent, exact regularised fits).

Every loss is a function of the training margin :math:`t = y(w\cdot x + b)`,
with parameters per cluster (an entry of length 1 is shared by all clusters):

========================  ===================================================
:class:`VSLoss`           :math:`\ell(t) = \omega\log(1 + e^{\iota - \Delta t})`
                          (the paper's VS-loss; CE, wCE, LA, LDAM, CDT, VS are
                          presets, see :func:`vs_preset`)
:class:`HingeLoss`        :math:`\ell(t) = \omega(\Delta - t)_+` (soft margin
                          with per-cluster margins: the cost-sensitive
                          soft-margin SVM)
:class:`SquareLoss`       :math:`\ell(t) = \tfrac{\omega}{2}(\Delta - t)^2`
========================  ===================================================

Each knows its value, derivative and proximal operator

.. math:: \mathrm{prox}_{V\ell}(x) = \arg\min_p \ \ell(p) + \frac{(x - p)^2}{2V},
          \qquad p + V\ell'(p) = x,

the object through which the loss enters the asymptotic fixed-point system
(``docs/erm.md``).  For the hinge the derivative at the kink is the
subgradient the prox selects.

Inputs.  ``value``/``derivative`` take margins ``t``, ``prox`` a point ``x``
and a scale ``V``, each a finite real number or array (NaN, inf, strings,
booleans and complex numbers are a one-line ValueError naming the
argument); ``k`` holds integer cluster indices.  ``t`` (or ``x``, ``V``)
and ``k`` broadcast together, else a ValueError naming them.

Max-margin limits (``implied_margins``): on separable data the direction of
a vanishing-regularisation VS-loss solution tends to the max-margin
classifier with cluster margins :math:`\propto 1/\Delta_k` (the weights
:math:`\omega` and offsets :math:`\iota` drop out; paper Theorem 1); a hinge
solution with small ridge *is* the max-margin classifier with margins
:math:`\Delta_k`; the square loss has no max-margin limit.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ._validation import _short, broadcast_shapes, finite_array

__all__ = ["Loss", "VSLoss", "HingeLoss", "SquareLoss", "vs_preset", "PRESETS", "LOSS_NAMES",
           "ClusterLosses", "cluster_losses", "resolve_loss", "MARGIN_RATIO_LOSSES"]

# Kind codes shared with the Numba engine (asymptotics._erm_engine).
VS, HINGE, SQUARE = 0, 1, 2

PRESETS = ("CE", "wCE", "LA", "LA-log", "LDAM", "CDT", "VS", "VS-w")
LOSS_NAMES = PRESETS + ("hinge", "square")
# The names that take a margin ratio delta (resolve_loss; the command line's --delta).
MARGIN_RATIO_LOSSES = ("CDT", "VS", "VS-w", "hinge")


def expit(x):
    """Logistic function (SciPy's, imported on first use: scipy.special costs
    0.14 s at import)."""
    from scipy.special import expit as _expit
    return _expit(x)


def _param(value, name: str) -> np.ndarray:
    arr = np.atleast_1d(finite_array(value, name))
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a scalar or a non-empty vector (one entry per cluster)")
    arr = arr.astype(float, copy=True)
    arr.setflags(write=False)
    return arr


class Loss:
    """Base class: per-cluster parameters ``omega``, ``iota`` (VS only, zero
    otherwise) and ``Delta``, each of length 1 (shared) or K."""

    kind: int = -1
    omega: np.ndarray
    iota: np.ndarray
    Delta: np.ndarray
    name: str

    def _check(self, names=("omega", "Delta")):
        for attr in ("omega", "iota", "Delta"):
            object.__setattr__(self, attr, _param(getattr(self, attr), attr))
        sizes = {getattr(self, a).size for a in ("omega", "iota", "Delta")} - {1}
        if len(sizes) > 1:
            raise ValueError("omega, iota and Delta must have one length (1 or one entry per cluster), "
                             f"got {self.omega.size}, {self.iota.size}, {self.Delta.size}")
        for attr in names:
            if np.any(getattr(self, attr) <= 0):
                raise ValueError(f"{attr} must be > 0, got {getattr(self, attr).tolist()}")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {_short(self.name)}")

    @property
    def size(self) -> int:
        """Number of per-cluster entries (1: shared by every cluster)."""
        return max(self.omega.size, self.iota.size, self.Delta.size)

    # ---- numpy evaluation (t, x broadcast; k selects each entry's cluster) ----
    def _p(self, k):
        K = self.size
        if k is None:
            return self.omega, self.iota, self.Delta
        k = np.asarray(k)
        idx = np.zeros_like(k) if K == 1 else k
        return (np.broadcast_to(self.omega, (K,))[idx], np.broadcast_to(self.iota, (K,))[idx],
                np.broadcast_to(self.Delta, (K,))[idx])

    def value(self, t, k=None) -> np.ndarray:
        """Loss at margins ``t`` (``k``: cluster index of each entry)."""
        return cluster_losses(self, self.size).value(t, k)

    def derivative(self, t, k=None) -> np.ndarray:
        """d loss / dt (for the hinge, -omega below the kink, 0 above it)."""
        return cluster_losses(self, self.size).derivative(t, k)

    def prox(self, x, V, k=None) -> np.ndarray:
        r""":math:`\mathrm{prox}_{V\ell}(x)`, elementwise."""
        return cluster_losses(self, self.size).prox(x, V, k)

    @property
    def implied_margins(self) -> np.ndarray:
        """Cluster margins of the max-margin limit of this loss (see module docstring)."""
        raise ValueError(f"loss: the {self.name} loss has no max-margin limit")

    # Value semantics (see the module docstring): equal type, name and parameters.
    def __eq__(self, other):
        return _same_parameters(self, other, ("omega", "iota", "Delta", "name"))

    def __hash__(self):
        return _parameter_hash(self, ("omega", "iota", "Delta", "name"))

    def __reduce__(self):
        # through the constructor: validated again and read-only after unpickling
        return _rebuild, (type(self), {a: getattr(self, a) for a in ("omega", "iota", "Delta", "name")})


@dataclass(frozen=True, eq=False)      # eq, hash: Loss's (arrays compared by value)
class VSLoss(Loss):
    r"""VS-loss :math:`\ell(t) = \omega\log(1 + e^{\iota - \Delta t})`, parameters
    per cluster (label models: entry 0 is class +1, entry 1 class -1; group
    models: the subgroup order of :class:`~asymptotics.models.GroupGMM`).
    The defaults are the cross-entropy (logistic) loss.

    ``implied_margins`` = 1/Delta: the max-margin problem the loss converges
    to in direction (paper Theorem 1).
    """

    omega: np.ndarray = 1.0
    iota: np.ndarray = 0.0
    Delta: np.ndarray = 1.0
    name: str = "VS"
    kind = VS

    def __post_init__(self):
        self._check()

    @property
    def implied_margins(self) -> np.ndarray:
        return 1.0 / self.Delta

    @classmethod
    def for_margins(cls, margins, omega=None, iota=None, name="VS") -> "VSLoss":
        """The loss whose terminal direction is the max-margin classifier with
        the given cluster margins (Delta = 1/margin)."""
        margins = _param(margins, "margins")
        if np.any(margins <= 0):
            raise ValueError(f"margins must be > 0, got {margins.tolist()}")
        K = margins.size
        return cls(np.ones(K) if omega is None else omega, np.zeros(K) if iota is None else iota,
                   1.0 / margins, name)


@dataclass(frozen=True, eq=False)
class HingeLoss(Loss):
    r"""Hinge loss :math:`\ell(t) = \omega(\Delta - t)_+` with per-cluster
    weights and margins (the cost-sensitive soft-margin SVM).  With a small
    ridge it is the max-margin classifier with margins ``Delta``."""

    omega: np.ndarray = 1.0
    Delta: np.ndarray = 1.0
    name: str = "hinge"
    iota: np.ndarray = 0.0
    kind = HINGE

    def __post_init__(self):
        self._check()
        if np.any(self.iota != 0):
            raise ValueError("iota: the hinge loss has no offset")

    @property
    def implied_margins(self) -> np.ndarray:
        return self.Delta.copy()


@dataclass(frozen=True, eq=False)
class SquareLoss(Loss):
    r"""Square loss :math:`\ell(t) = \tfrac{\omega}{2}(\Delta - t)^2`: least
    squares on the targets :math:`y\Delta`, weighted by :math:`\omega`."""

    omega: np.ndarray = 1.0
    Delta: np.ndarray = 1.0
    name: str = "square"
    iota: np.ndarray = 0.0
    kind = SQUARE

    def __post_init__(self):
        self._check()
        if np.any(self.iota != 0):
            raise ValueError("iota: the square loss has no offset")


def vs_preset(name: str, prior: float, delta: float = 1.0) -> VSLoss:
    r"""The paper's label-imbalance losses (class +1 has prior ``prior``):

    ========  ==============================================================
    CE        omega = 1, iota = 0, Delta = 1
    wCE       omega_y = 1/pi_y                                   (§2.1)
    LA        iota_y = log(pi_{-y}/pi_y): the Fisher-consistent logit
              adjustment of §3.1
    LA-log    iota_y = log(1/pi_y)                               (§3.2 iii)
    LDAM      iota_+ = pi^{-1/4}, iota_- = (1-pi)^{-1/4}         (§3.1 ii)
    CDT       Delta_+ = 1/delta, Delta_- = 1                     (§3.1 i)
    VS        CDT's Delta with iota_y = log(1/pi_y), omega = 1   (§3.2 v)
    VS-w      CDT's Delta with iota = 0, omega_y = 1/pi_y        (§3.2 vi)
    ========  ==============================================================

    CDT, VS and VS-w converge in direction to the CS-SVM with margin ratio
    ``delta``; CE, wCE, LA, LA-log and LDAM to the SVM.
    """
    if not isinstance(name, str) or name not in PRESETS:
        raise ValueError(f"name must be one of {PRESETS}, got {_short(name)}")
    prior = _scalar(prior, "prior")
    if not 0 < prior < 1:
        raise ValueError(f"prior must lie in (0, 1), got {_short(prior)}")
    delta = _scalar(delta, "delta")
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {_short(delta)}")
    if not math.isfinite(1.0 / delta) or not math.isfinite(1.0 / prior):
        name_, value_ = ("delta", delta) if not math.isfinite(1.0 / delta) else ("prior", prior)
        raise ValueError(f"{name_} is too small: 1/{name_} overflows a double, got {_short(value_)}")
    pi = np.array([prior, 1.0 - prior])
    one, zero = np.ones(2), np.zeros(2)
    cdt = np.array([1.0 / delta, 1.0])
    table = {
        "CE": (one, zero, one),
        "wCE": (1.0 / pi, zero, one),
        "LA": (one, np.log(pi[::-1] / pi), one),
        "LA-log": (one, np.log(1.0 / pi), one),
        "LDAM": (one, pi ** -0.25, one),
        "CDT": (one, zero, cdt),
        "VS": (one, np.log(1.0 / pi), cdt),
        "VS-w": (1.0 / pi, zero, cdt),
    }
    return VSLoss(*table[name], name=name)


def _scalar(value, name: str) -> float:
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise ValueError(f"{name} must be a number, got {_short(value)}")
    arr = finite_array(value, name)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {arr.shape}")
    return float(arr)


def _kind_codes(kind) -> np.ndarray:
    """``kind`` as int64 loss codes 0 (VS), 1 (hinge), 2 (square), one per
    cluster; anything else is a one-line ValueError naming ``kind``."""
    msg = "kind must be a non-empty vector of loss codes 0 (VS), 1 (hinge) or 2 (square)"
    if isinstance(kind, (str, bytes)):
        raise ValueError(f"{msg}, got {_short(kind)}")
    try:
        arr = np.atleast_1d(np.asarray(kind))
    except (TypeError, ValueError):
        raise ValueError(f"{msg}, got {_short(kind)}") from None
    if arr.dtype == bool or arr.dtype.kind not in "iuf" or arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{msg}, got {_short(kind)}")
    if not np.all(np.isin(arr, (VS, HINGE, SQUARE))):
        raise ValueError(f"{msg}, got {_short(arr)}")
    return arr.astype(np.int64)      # a fresh array: the caller's stays as it was


def _same_parameters(a, b, attrs):
    """Value equality of two losses: same type and equal ``attrs`` (arrays
    by shape and entries; the parameters are finite, so no NaN question)."""
    if type(a) is not type(b):
        return NotImplemented
    return all(np.array_equal(getattr(a, n), getattr(b, n)) if isinstance(getattr(a, n), np.ndarray)
               else getattr(a, n) == getattr(b, n) for n in attrs)


def _parameter_hash(obj, attrs) -> int:
    """A hash consistent with :func:`_same_parameters` (equal arrays give equal
    tuples of Python floats; 0.0 and -0.0 hash alike)."""
    return hash((type(obj).__name__,) + tuple(
        (getattr(obj, n).shape, tuple(getattr(obj, n).ravel().tolist())) if isinstance(getattr(obj, n), np.ndarray)
        else getattr(obj, n) for n in attrs))


def _rebuild(cls, fields: dict):
    return cls(**fields)


@dataclass(frozen=True, eq=False)
class ClusterLosses:
    """One loss per cluster, as flat arrays (what the engines consume):
    ``kind[k]`` (0 VS, 1 hinge, 2 square), ``omega[k]``, ``iota[k]``,
    ``Delta[k]``.  Built by :func:`cluster_losses`; evaluates elementwise
    with ``k`` the cluster of each entry.

    A hand-built instance is checked like the losses it flattens: ``kind``
    integer codes 0, 1 or 2; ``omega`` and ``Delta`` finite and > 0;
    ``iota`` finite and 0 for hinge and square clusters; all four of one
    length K >= 1 (lists accepted); stored as read-only copies.  Equal
    (and equally hashed) when kinds, parameters and name are equal."""

    kind: np.ndarray
    omega: np.ndarray
    iota: np.ndarray
    Delta: np.ndarray
    name: str

    def __post_init__(self):
        kind = _kind_codes(self.kind)
        params = {a: _param(getattr(self, a), a) for a in ("omega", "iota", "Delta")}
        if any(v.size != kind.size for v in params.values()):
            raise ValueError("kind, omega, iota and Delta must have one entry per cluster each, got lengths "
                             f"{kind.size}, {params['omega'].size}, {params['iota'].size}, {params['Delta'].size}")
        for attr in ("omega", "Delta"):
            if np.any(params[attr] <= 0):
                raise ValueError(f"{attr} must be > 0, got {params[attr].tolist()}")
        if np.any((kind != VS) & (params["iota"] != 0)):
            raise ValueError(f"iota must be 0 for hinge and square clusters (kind 1, 2), got {params['iota'].tolist()}")
        if not isinstance(self.name, str):
            raise ValueError(f"name must be a string, got {_short(self.name)}")
        kind.setflags(write=False)
        object.__setattr__(self, "kind", kind)
        for attr, value in params.items():
            object.__setattr__(self, attr, value)

    def __eq__(self, other):
        return _same_parameters(self, other, ("kind", "omega", "iota", "Delta", "name"))

    def __hash__(self):
        return _parameter_hash(self, ("kind", "omega", "iota", "Delta", "name"))

    def __reduce__(self):
        return _rebuild, (type(self), {a: getattr(self, a) for a in ("kind", "omega", "iota", "Delta", "name")})

    @property
    def n_clusters(self) -> int:
        return self.kind.size

    def kink_intercept(self, priors, labels):
        r"""The intercept ``b0`` that minimises the training loss at w = 0,
        :math:`f(b) = \sum_k \pi_k \ell_k(y_k b)`, when it sits at a hinge
        kink :math:`b_0 = y_k\Delta_k` (one-sided slopes of f of opposite
        signs there), else None.

        At a large ridge :math:`\|w\| \sim c/\lambda` and the intercept tends to
        this minimiser; at a kink the hinge moments of that cluster depend on
        the slack :math:`(\Delta_k - C_k)/\|w\|`, which an intercept stored as
        :math:`b = b_0 + O(\|w\|)` resolves only to :math:`10^{-16}/\|w\|` (1e-5
        at lam = 1e10).  :func:`~asymptotics.erm` then solves in
        :math:`b' = b - b_0` with :meth:`shifted` losses."""
        priors, labels = np.asarray(priors, float), np.asarray(labels, float)
        for k in np.flatnonzero(self.kind == HINGE):
            b0 = float(labels[k] * self.Delta[k])
            t = labels * b0                                   # every cluster's margin at w = 0, b = b0
            d = labels * self._derivative(t, np.arange(labels.size))
            at = (self.kind == HINGE) & (t == self.Delta)       # kinks at b0: one-sided slopes differ
            # d/db l_k(y_k b) at a kink: -omega below it for y = +1, +omega above it for y = -1, else 0
            left = np.sum(priors * np.where(at, np.where(labels > 0, -self.omega, 0.0), d))
            right = np.sum(priors * np.where(at, np.where(labels > 0, 0.0, self.omega), d))
            if left <= 0.0 <= right:
                return b0
        return None

    def shifted(self, labels, b0: float):
        r"""Engine arrays (kind, omega, iota, Delta), writable, of the same
        losses in the intercept :math:`b' = b - b_0`: an exact
        reparametrisation, :math:`\ell_k(y_k(s + b)) = \tilde\ell_k(y_k(s + b'))`
        with :math:`\tilde\Delta_k = \Delta_k - y_k b_0` (hinge, square) and
        :math:`\tilde\iota_k = \iota_k - \Delta_k y_k b_0` (VS); at the kink of
        :meth:`kink_intercept` the slack :math:`\tilde\Delta_k = 0` is exact."""
        labels = np.asarray(labels, float)
        vs = self.kind == VS
        De = np.where(vs, self.Delta, self.Delta - labels * b0)
        io = np.where(vs, self.iota - self.Delta * labels * b0, self.iota)
        return np.array(self.kind), np.array(self.omega), io.astype(float), De.astype(float)

    def as_list(self) -> list:
        """One scalar :class:`Loss` per cluster (what the sample fitters take)."""
        out = []
        for k in range(self.kind.size):
            om, De = float(self.omega[k]), float(self.Delta[k])
            if self.kind[k] == VS:
                out.append(VSLoss(om, float(self.iota[k]), De, name=self.name))
            elif self.kind[k] == HINGE:
                out.append(HingeLoss(om, De, name=self.name))
            else:
                out.append(SquareLoss(om, De, name=self.name))
        return out

    @property
    def implied_margins(self) -> np.ndarray:
        """Margins of the max-margin limit: 1/Delta (VS), Delta (hinge)."""
        if np.any(self.kind == SQUARE):
            raise ValueError("loss: the square loss has no max-margin limit")
        return np.where(self.kind == VS, 1.0 / self.Delta, self.Delta)

    def _at(self, k, shape):
        if k is None:
            if self.kind.size != 1 and shape != () and shape[-1:] != (self.kind.size,):
                raise ValueError("k: needed to say which cluster each entry belongs to")
            idx = 0 if self.kind.size == 1 else slice(None)     # one shared entry: the shape of t
        else:
            idx = np.asarray(k)
            if idx.dtype.kind not in "iu":
                raise ValueError("k must hold integer cluster indices")
            if idx.size and (idx.min() < 0 or idx.max() >= self.kind.size):
                raise ValueError(f"k must lie in 0..{self.kind.size - 1}")
        return self.kind[idx], self.omega[idx], self.iota[idx], self.Delta[idx]

    def _checked_k(self, k, *named):
        """Validate ``k`` (integer indices) and that it broadcasts with the
        named arrays (one-line ValueErrors naming them)."""
        if k is None:
            broadcast_shapes(*named)
            return None
        if isinstance(k, (str, bytes)):
            raise ValueError("k must hold integer cluster indices, got a string")
        try:
            idx = np.asarray(k)
        except (TypeError, ValueError):
            raise ValueError("k must hold integer cluster indices (a ragged or non-numeric sequence)") from None
        if idx.dtype.kind not in "iu":
            raise ValueError(f"k must hold integer cluster indices, got dtype {idx.dtype}")
        broadcast_shapes(*named, ("k", idx.shape))
        return idx

    def value(self, t, k=None) -> np.ndarray:
        """Loss at the margins ``t`` (``k``: the cluster of each entry)."""
        t = finite_array(t, "t")
        k = self._checked_k(k, ("t", t.shape))
        return self._value(t, k)

    def derivative(self, t, k=None) -> np.ndarray:
        """d loss / dt at the margins ``t`` (hinge: the subgradient of the prox)."""
        t = finite_array(t, "t")
        k = self._checked_k(k, ("t", t.shape))
        return self._derivative(t, k)

    def prox(self, x, V, k=None) -> np.ndarray:
        """prox_{V l}(x), the root p of p + V l'(p) = x (unique: l is convex)."""
        x = finite_array(x, "x")
        if isinstance(V, (str, bytes)) or np.iscomplexobj(V):
            raise ValueError("V must be > 0 (a real number or array)")
        try:
            V = finite_array(V, "V")
        except ValueError:
            raise ValueError("V must be > 0 (a finite real number or array)") from None
        if np.any(~(V > 0)):
            raise ValueError("V must be > 0")
        k = self._checked_k(k, ("x", x.shape), ("V", V.shape))
        return self._prox(x, V, k)

    # unchecked evaluation for the package's own loops (finite float input assumed;
    # a non-finite margin propagates instead of raising, e.g. in a line search)
    def _value(self, t, k=None) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        kind, om, io, De = self._at(k, t.shape)
        vs = om * np.logaddexp(0.0, io - De * t)
        hinge = om * np.maximum(De - t, 0.0)
        square = 0.5 * om * (De - t) ** 2
        return np.select([kind == VS, kind == HINGE], [vs, hinge], square)

    def _derivative(self, t, k=None) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        kind, om, io, De = self._at(k, t.shape)
        vs = -om * De * expit(io - De * t)
        hinge = np.where(t < De, -om, 0.0)
        square = -om * (De - t)
        return np.select([kind == VS, kind == HINGE], [vs, hinge], square)

    def _prox(self, x, V, k=None) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        V = np.asarray(V, dtype=float)
        kind, om, io, De = self._at(k, x.shape)
        x, V, kind, om, io, De = np.broadcast_arrays(x, V, kind, om, io, De)
        hinge = np.where(x > De, x, np.where(x >= De - V * om, De, x + V * om))
        square = (x + V * om * De) / (1.0 + V * om)
        return np.select([kind == VS, kind == HINGE], [_vs_prox(x, V, om, io, De), hinge], square)


_FMAX = float(np.finfo(float).max)
_EPS = float(np.finfo(float).eps)
_TINY = float(np.finfo(float).smallest_subnormal)
# Outer iterations of the VS prox: from the asymptotic starts Newton needs a handful; the
# safeguarding bisection (in asinh(p), which halves the bracket's log-width) needs at most
# ~2 x (11 + 53) steps even for a bracket spanning the whole float range.
_PROX_MAX_ITER = 300


def _log_lambertw_exp(L):
    r""":math:`\log W(e^L)`: the root y of :math:`e^y + y = L`, from L itself
    (``e^L`` may over- or underflow).  Newton on this convex function from
    :math:`y = L` (:math:`L \le 1`) or :math:`\log(L - \log L)`; a fixed
    number of steps, because the value only starts the prox's safeguarded
    Newton (which checks its own root)."""
    L = np.asarray(L, dtype=float)
    big = L > 1.0
    Lb = np.where(big, L, 2.0)
    with np.errstate(over="ignore", invalid="ignore"):
        y = np.where(big, np.log(Lb - np.log(Lb)), L)
        for _ in range(8):
            e = np.exp(np.minimum(y, 709.0))
            y = y - (e + y - L) / (e + 1.0)
    return np.where(L < -700.0, L, y)          # there W(e^L) = e^(L - W) = e^L to rounding


def _vs_prox(x, V, om, io, De):
    r"""VS prox: the root p of :math:`F(p) = p - x - c\,\sigma(\iota - \Delta p) = 0`,
    :math:`c = V\omega\Delta`.  F increases, F(x) < 0 < F(x + c), so
    :math:`p \in [x, x + c]`.

    Start (:math:`A = c\Delta`, :math:`u = \iota - \Delta p`): on the tail
    (:math:`u \le 0`, :math:`\sigma(u) \approx e^u`) the root of
    :math:`u + Ae^u = \iota - \Delta x` is :math:`p = x + W(Ae^{\iota - \Delta x})/\Delta`;
    on the saturated side (:math:`u > 0`, :math:`1 - \sigma(u) \approx e^{-u}`)
    the mirror image :math:`p = x + c - W(Ae^{\Delta(x + c) - \iota})/\Delta`
    (both with W computed from its logarithmic argument, so V up to 1e300
    and x up to the float range start next to the root; the plain start
    x or x + c left Newton creeping one unit of u per step).  Then Newton,
    with a bisection in asinh(p) (which also halves brackets spanning
    hundreds of decades) whenever a step leaves the bracket or does not
    halve the one before last.  Stops where F is at the rounding level of
    its terms (backward stable) or a Newton step or the bracket is below
    4 eps |p|; an unconverged point raises ConvergenceError."""
    from scipy.special import log_expit
    x, V, om, io, De = (np.array(a, dtype=float) for a in np.broadcast_arrays(x, V, om, io, De))
    logc = np.log(V) + np.log(om) + np.log(De)
    logA = logc + np.log(De)
    with np.errstate(over="ignore", invalid="ignore"):
        c = V * om * De                                   # two roundings (exp(log c) would lose |log c| eps)
        finite_c = np.isfinite(c)
        lo = x.copy()
        hi = np.minimum(x + c, _FMAX)
        top = hi.copy()
        tail = io / De - 0.5 * c - x <= 0                  # F(iota/Delta) <= 0: p >= iota/Delta, u <= 0
        # w = W(.) and y = log w; p - x = w/Delta (tail), x + c - p = w/Delta (saturated), or
        # p = (iota -+ (y - log A))/Delta where w >= 1 (no cancellation against a huge x)
        y_t = _log_lambertw_exp(logA + io - De * x)
        y_s = _log_lambertw_exp(logA - io + De * hi)
        p_tail = np.where(y_t < 0, x + np.exp(y_t) / De, (io - y_t + logA) / De)
        p_sat = np.where(y_s < 0, hi - np.exp(y_s) / De, (io + y_s - logA) / De)
    p = np.where(tail, p_tail, p_sat)
    p = np.where(np.isfinite(p), np.clip(p, lo, hi), lo)
    done = hi <= lo
    dx_old = np.full(p.shape, np.inf)
    for _ in range(_PROX_MAX_ITER):
        if np.all(done):
            break
        with np.errstate(over="ignore", invalid="ignore"):
            u = io - De * p
            # F = (p - x) - c sigma(u) = (p - (x + c)) + c sigma(-u): the side whose sigma is <= 1/2,
            # so that c sigma is not a rounded c minus a tiny part (x = -1e300, V = 1e300: root -684)
            up = u > 0
            s_log = log_expit(np.where(up, -u, u))
            pull = np.where(finite_c, c * np.exp(s_log), np.exp(logc + s_log))
            ref = np.where(up, top, x)
            F = (p - ref) + np.where(up, pull, -pull)
            dF = 1.0 + np.exp(logA + log_expit(u) + log_expit(-u))
            lo = np.where(F < 0, p, lo)
            hi = np.where(F > 0, p, hi)
            tol = 4.0 * _EPS * np.abs(p) + _TINY
            # F at the rounding level of its own terms: p is the root of a problem perturbed by rounding
            at_rounding = np.abs(F) <= 4.0 * _EPS * (np.abs(p) + np.abs(ref) + pull)
            newton = p - F / dF
            bisect = ~((newton > lo) & (newton < hi)) | (np.abs(2.0 * F) > np.abs(dx_old * dF))
            mid = np.sinh(0.5 * (np.arcsinh(lo) + np.arcsinh(hi)))
            mid = np.where((mid > lo) & (mid < hi), mid, 0.5 * lo + 0.5 * hi)
            pn = np.where(bisect, mid, newton)
        step = pn - p
        settled = at_rounding | (hi - lo <= tol)         # p is the root to rounding: keep it
        active = ~done & ~settled
        p = np.where(active, pn, p)
        dx_old = np.where(active, step, dx_old)
        done |= settled | (~bisect & (np.abs(step) <= tol))   # a Newton step this small: its error is its square
    if not np.all(done):
        from .errors import ConvergenceError
        bad = np.flatnonzero(~done.reshape(-1))[0]
        raise ConvergenceError(f"VS prox did not converge at x = {x.reshape(-1)[bad]:.6g}, "
                               f"V = {V.reshape(-1)[bad]:.6g}", float("nan"), _PROX_MAX_ITER)
    return p


def _as_losses(loss, K: int) -> list:
    if isinstance(loss, Loss):
        return [loss]
    if isinstance(loss, (list, tuple)) and loss and all(isinstance(item, Loss) for item in loss):
        if len(loss) != K:
            raise ValueError(f"loss: a list of losses needs one per cluster ({K}), got {len(loss)}")
        for item in loss:
            if item.size != 1:
                raise ValueError("loss: in a list of per-cluster losses each must have scalar parameters")
        return list(loss)
    raise ValueError(f"loss must be a Loss (VSLoss, HingeLoss, SquareLoss) or a list of {K}, got {_short(loss)}")


def cluster_losses(loss, K: int, labels: Sequence[float] | None = None) -> ClusterLosses:
    """Flatten a loss (or a list of K scalar losses) to per-cluster arrays.

    An entry of length 1 applies to every cluster; length K, one per
    cluster.  With ``labels`` given (a group model), a 2-entry loss on a
    model with more than two clusters is read per class: entry 0 for the
    clusters of label +1, entry 1 for label -1 (the paper's presets are per
    class)."""
    if isinstance(loss, ClusterLosses):
        if loss.n_clusters != K:
            raise ValueError(f"loss: has {loss.n_clusters} per-cluster entries; the model has {K} clusters")
        return loss
    items = _as_losses(loss, K)
    if len(items) == 1:
        item = items[0]
        size = item.size
        if size == 1 or size == K:
            idx = np.zeros(K, dtype=int) if size == 1 else np.arange(K)
        elif size == 2 and labels is not None:
            idx = np.where(np.asarray(labels) > 0, 0, 1)
        else:
            raise ValueError(f"loss: has {size} entries; the model has {K} clusters "
                             "(give 1 entry, one per cluster, or 2 per-class entries for a group model)")
        def take(a):
            return np.broadcast_to(a, (size,))[idx].astype(float)
        kind = np.full(K, item.kind, dtype=np.int64)
        om, io, De, name = take(item.omega), take(item.iota), take(item.Delta), item.name
    else:
        kind = np.array([it.kind for it in items], dtype=np.int64)
        om = np.array([float(it.omega[0]) for it in items])
        io = np.array([float(it.iota[0]) for it in items])
        De = np.array([float(it.Delta[0]) for it in items])
        names = sorted({it.name for it in items})
        name = names[0] if len(names) == 1 else "+".join(names)
    for a in (kind, om, io, De):
        a.setflags(write=False)
    return ClusterLosses(kind, om, io, De, name)


def _split_named(loss, delta):
    """``(name, delta)`` from the forms of a named loss: ``"CDT"`` with
    ``delta`` (or None), or the tuple ``("CDT", 3.0)`` with ``delta`` None
    (the margin ratio is given once).  Any other tuple with a string first
    is a one-line ValueError naming ``loss``; anything else is not a named
    loss: ``(None, delta)``."""
    if isinstance(loss, str):
        return loss, delta
    if not (isinstance(loss, tuple) and loss and isinstance(loss[0], str)):
        return None, delta
    if len(loss) != 2:
        raise ValueError("loss: a named loss with a margin ratio is (name, delta), e.g. ('CDT', 3.0), "
                         f"got {_short(loss)}")
    name, ratio = loss
    if isinstance(ratio, (str, bytes, bool, np.bool_)) or not isinstance(ratio, (numbers.Real, np.ndarray)):
        raise ValueError(f"loss: in (name, delta) delta must be a number, got {_short(loss)}")
    if delta is not None:
        raise ValueError(f"delta: the margin ratio is given twice, in loss={_short(loss)} and delta={_short(delta)}; "
                         "give it once")
    return name, ratio


def _ratio_margins(model, delta) -> np.ndarray:
    """Per-cluster margins for the margin ratio ``delta``, as the CS-SVM and
    GS-SVM ask them: (delta, 1) on a label model (the minority class +1 gets
    delta), :func:`~asymptotics.group.group_margins` on a group model."""
    from .group import group_margins
    from .models import GroupGMM, LabelGMM
    delta = _scalar(delta, "delta")
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {_short(delta)}")
    if isinstance(model, GroupGMM):
        return group_margins(model, delta).reshape(-1)
    if isinstance(model, LabelGMM):
        return np.array([delta, 1.0])
    raise ValueError("delta: a margin ratio needs a label or group model (a minority class or group); "
                     "for a ClusterGMM give the margins in the loss, e.g. HingeLoss(Delta=[...])")


def resolve_loss(loss, model, delta=None) -> ClusterLosses:
    """The per-cluster losses that ``loss`` (and the margin ratio ``delta``)
    mean on ``model``: the one reading of the loss words shared by
    :func:`~asymptotics.erm`, :func:`~asymptotics.erm_path`, the Monte-Carlo
    side and the command line.

    * a :class:`Loss`, a list of K scalar losses or a :class:`ClusterLosses`
      (they carry their own margins: ``delta`` must be None);
    * a name from :data:`LOSS_NAMES`; presets read the class prior of a
      label or group model; ``"hinge"``/``"square"`` are the unweighted
      losses with margin 1;
    * a name from :data:`MARGIN_RATIO_LOSSES` with a margin ratio ``delta``,
      given as ``delta=`` or as the tuple ``(name, delta)``, never both
      (also not when equal): ``"CDT"``, ``"VS"``, ``"VS-w"`` set
      Delta = (1/delta, 1) per class (:func:`vs_preset`); ``"hinge"`` asks
      the CS-SVM's margins (delta, 1) of a label model (minority class +1
      first) and the GS-SVM's :func:`~asymptotics.group.group_margins` of a
      group model, as ``--loss hinge --delta`` does on the command line.

    The other names have no margin ratio: a ``delta`` with ``"CE"``,
    ``"wCE"``, ``"LA"``, ``"LA-log"``, ``"LDAM"`` or ``"square"`` (whose
    targets are not margins: give ``SquareLoss(Delta=...)``) is a ValueError
    naming ``delta``.
    """
    K = model.n_clusters
    name, delta = _split_named(loss, delta)
    if name is None:
        if delta is not None:
            raise ValueError("delta: a margin ratio goes with a loss name, e.g. loss=('CDT', 3.0); "
                             "a Loss object carries its own margins (Delta)")
        return cluster_losses(loss, K, model.labels)
    if name not in LOSS_NAMES:
        raise ValueError(f"loss must be a Loss or one of {LOSS_NAMES}, got {_short(name)}")
    if delta is not None and name not in MARGIN_RATIO_LOSSES:
        raise ValueError(f"delta: the {name} loss has no margin ratio (only {', '.join(MARGIN_RATIO_LOSSES)} "
                         "take one)")
    if name == "hinge":
        named = HingeLoss() if delta is None else HingeLoss(Delta=_ratio_margins(model, delta))
    elif name == "square":
        named = SquareLoss()
    else:
        prior = getattr(model, "prior", getattr(model, "class_prior", None))
        if prior is None:
            raise ValueError(f"loss: the preset {_short(name)} needs a label or group model (a class prior); "
                             "pass a VSLoss for a ClusterGMM")
        named = vs_preset(name, prior, 1.0 if delta is None else delta)
    return cluster_losses(named, K, model.labels)
