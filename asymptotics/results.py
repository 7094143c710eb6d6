"""Result types shared by the engines and their covariance layer, and the one
place where solver output becomes a result.

Contracts (tested for every model and engine):

* every field of shape ``S`` (the broadcast shape of the inputs) is a
  read-only ndarray, or a NumPy float/int/bool scalar when the inputs were
  scalars; fields with a trailing axis (``rho``: ``S + (r,)``, per-cluster
  fields: ``S + (K,)``) are read-only arrays;
* ``model.factor @ rho == projections`` (to rounding);
* ``errors`` and ``log_errors`` are computed from the same arguments
  :math:`t_k = y_k(\\mu_k\\cdot w + b)/\\tau`, ``log_errors`` accurate where
  the errors underflow (below 1e-308);
* ``status`` holds the solver's per-point code; ``messages`` its text.

One contract for every result type (theory and simulation: the classes
deriving from :class:`ReadOnlyResult`):

* frozen dataclasses whose arrays are read-only and whose dicts are
  :class:`FrozenDict` (a read-only mapping that pickles), recursively;
* they pickle, ``copy.deepcopy`` and cross process boundaries (spawn pools,
  joblib's loky) to equal, equally read-only objects;
* ``==`` compares type and every field by value: arrays by shape and
  entries (NaN equal to NaN), mappings by keys and values, models by their
  definition (priors, labels, Gram matrix, means, covariance);
* results are unhashable (they hold arrays; compare them with ``==``).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from .gaussian import Q, logQ

__all__ = ["MaxMarginResult", "STATUS_MESSAGES", "FrozenDict", "ReadOnlyResult"]

# Per-point status codes (the engines' codes) and what they mean.
STATUS_MESSAGES = {
    0: "converged",
    1: "not separable: gamma <= gamma_star, no max-margin classifier (filled with NaN)",
    2: "did not converge",
    3: "the minimiser is w = 0 (a constant classifier)",
    4: "no minimiser: lam = 0 where the loss can be driven to its infimum (filled with NaN)",
}


class FrozenDict(Mapping):
    """A read-only mapping that pickles (``types.MappingProxyType`` does not):
    item assignment raises TypeError; ``==`` compares keys and values by
    value (:func:`same`); unhashable, like the arrays it holds."""

    __slots__ = ("_data",)

    def __init__(self, data=()):
        object.__setattr__(self, "_data", dict(data))

    def __getitem__(self, key):
        return self._data[key]

    def __iter__(self):
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __setattr__(self, name, value):
        raise AttributeError("FrozenDict is read-only")

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"

    def __eq__(self, other):
        if not isinstance(other, Mapping):
            return NotImplemented
        return same(self, other)

    __hash__ = None

    def __reduce__(self):
        return FrozenDict, (self._data,)


def readonly(value, copy: bool = False):
    """``value`` made read-only, recursively: an array becomes a read-only
    copy (``copy`` True and the array writable, so that nobody else can
    change it) or a read-only view (no copy: the caller's array keeps its
    flags); object arrays have their entries frozen; a mapping becomes a
    :class:`FrozenDict`, a list a tuple, and plain tuples are frozen entry by
    entry.  Anything else is returned as is."""
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            out = np.empty(value.shape, dtype=object)
            for idx in np.ndindex(value.shape):
                out[idx] = readonly(value[idx], copy)
        elif copy and value.flags.writeable:
            out = value.copy()
        else:
            out = value.view()
        out.setflags(write=False)
        return out
    if isinstance(value, (dict, MappingProxyType, FrozenDict)):
        return FrozenDict({key: readonly(v, copy) for key, v in value.items()})
    if isinstance(value, list) or type(value) is tuple:
        return tuple(readonly(v, copy) for v in value)
    return value


def same(a, b) -> bool:
    """Value equality used by every result's ``==`` (never numpy's
    ambiguous truth value): arrays and numbers by shape and entries, NaN
    equal to NaN; mappings by keys and values; sequences entry by entry;
    models by their definition; dataclasses (e.g. a Spectrum) field by field;
    anything else by its own ``==``."""
    if a is b:
        return True
    if hasattr(a, "_definition") or hasattr(b, "_definition"):     # a model (results do not import models)
        return type(a) is type(b) and same(a._definition(), b._definition())
    if isinstance(a, ReadOnlyResult) or isinstance(b, ReadOnlyResult):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) or isinstance(b, Mapping):
        return (isinstance(a, Mapping) and isinstance(b, Mapping) and a.keys() == b.keys()
                and all(same(a[k], b[k]) for k in a))
    if isinstance(a, (np.ndarray, np.generic, int, float, complex)) and \
            isinstance(b, (np.ndarray, np.generic, int, float, complex)):
        x, y = np.asarray(a), np.asarray(b)
        if x.shape != y.shape:
            return False
        if x.dtype == object or y.dtype == object:
            return all(same(x[i], y[i]) for i in np.ndindex(x.shape))
        nan = x.dtype.kind in "fc" and y.dtype.kind in "fc"
        return bool(np.array_equal(x, y, equal_nan=nan))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return False          # an array against a non-number (None, a Spectrum): never an elementwise ==
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(same(getattr(a, f.name), getattr(b, f.name))
                                          for f in dataclasses.fields(a))
    return bool(a == b)


def _rebuild(cls, fields: dict):
    """Unpickling (and ``copy.deepcopy``) of a :class:`ReadOnlyResult`: the
    fields as they were, frozen again (unpickled arrays come back writable),
    without running ``__init__`` (results built by :func:`assemble` have
    none to run)."""
    obj = object.__new__(cls)
    for name, value in fields.items():
        object.__setattr__(obj, name, readonly(value))    # fresh objects: views suffice
    return obj


class ReadOnlyResult:
    """The contract of every result type (module docstring), for frozen
    dataclasses declared with ``eq=False`` (so that this ``__eq__``, not the
    dataclass's field-tuple comparison, is used).

    ``__post_init__`` freezes every field (:func:`readonly`; writable arrays
    are copied unless the class sets ``_share_arrays``, as the simulation's
    large samples do); ``__reduce__`` pickles the fields and freezes them
    again on the other side; ``__eq__`` compares field by field
    (:func:`same`); ``__hash__`` is None."""

    _share_arrays = False

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, readonly(getattr(self, f.name), copy=not self._share_arrays))

    def __reduce__(self):
        return _rebuild, (type(self), {f.name: self.__dict__.get(f.name) for f in dataclasses.fields(self)})

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return all(same(self.__dict__.get(f.name), other.__dict__.get(f.name)) for f in dataclasses.fields(self))

    __hash__ = None


def _scalarise(a: np.ndarray):
    return a[()] if isinstance(a, np.ndarray) and a.ndim == 0 else a


def frozen(a, shape: tuple, tail: tuple = ()):
    """``a`` reshaped to ``shape + tail``, read-only; a NumPy scalar when the
    result is 0-d."""
    out = np.array(a, copy=True).reshape(shape + tail)
    if out.ndim == 0:
        return out[()]
    out.setflags(write=False)
    return out


def error_fields(labels, projections, beta):
    """(errors, log_errors) of the limit classifier from the normalised
    projections and intercept: :math:`t_k = y_k(p_k + \\beta)`, errors
    :math:`Q(t_k)` and their logarithms (finite also where Q underflows)."""
    t = labels * (projections + np.asarray(beta)[..., None])
    with np.errstate(invalid="ignore"):
        return Q(t), logQ(t)


@dataclass(frozen=True, eq=False)
class MaxMarginResult(ReadOnlyResult):
    r"""Asymptotic max-margin classifier on a K-cluster mixture.

    Every array field has the broadcast shape ``S`` of ``gamma`` and the
    margins (NumPy scalars for scalar input), with a trailing axis where
    noted; arrays are read-only.

    Attributes
    ----------
    q : ndarray (S)
        Limit of :math:`\|w\|`; the margin to a cluster with margin
        :math:`\Delta_k` is :math:`\Delta_k / q`.
    b : ndarray (S)
        Limit of the intercept (0 without one).
    rho : ndarray (S + (r,))
        Coordinates in the basis of ``model.factor`` of the projection of
        :math:`w/\tau` on the mean subspace (:math:`\tau = \|w\|` for
        isotropic features, where ``|rho|`` is the cosine of w with that
        subspace), so that ``model.factor @ rho == projections``.
    projections : ndarray (S + (K,))
        :math:`\mu_k \cdot w / \tau = (A\rho)_k`.
    errors : ndarray (S + (K,))
        Per-cluster test errors :math:`R_k = Q(y_k((A\rho)_k + b/\tau))`.
    log_errors : ndarray (S + (K,))
        :math:`\log R_k`, accurate also where :math:`R_k` underflows.
    tau : ndarray (S)
        Limit of the within-cluster score spread :math:`\sqrt{w^T\Sigma w}`
        (= q for isotropic features); errors and ``beta`` are in its units.
    ridge : ndarray (S)
        The covariance solver's optimal lambda (NaN for isotropic features).
    residual : ndarray (S)
        Max-norm of the KKT vector :math:`(\nabla_{\rho,\beta} H, H)`, divided
        by gamma (for a covariance model: of the fixed-lambda system at the
        optimal lambda, divided by gamma_eff).
    iterations : ndarray (S)
        Newton iterations spent (inner plus outer).
    status : ndarray of int (S)
        Per-point solver status (:data:`STATUS_MESSAGES`; see ``messages``).
    separable : ndarray of bool (S)
        False only where ``on_nonseparable="nan"`` filled a point with NaN.
    """

    model: "ClusterGMM"  # noqa: F821 (string annotation: results must not import models)
    gamma: np.ndarray
    margins: np.ndarray
    intercept: bool
    q: np.ndarray
    b: np.ndarray
    rho: np.ndarray
    projections: np.ndarray
    errors: np.ndarray
    residual: np.ndarray
    iterations: np.ndarray
    separable: np.ndarray = field(repr=False)
    tau: np.ndarray = field(default=None, repr=False)
    ridge: np.ndarray = field(default=None, repr=False)
    log_errors: np.ndarray = field(default=None, repr=False)
    status: np.ndarray = field(default=None, repr=False)

    @property
    def beta(self) -> np.ndarray:
        """b / tau, the intercept in score units (enters every error; b / q
        for isotropic features)."""
        return self.b / self.tau

    @property
    def messages(self):
        """The text of ``status`` (a string for scalar input, else an array of strings)."""
        return _messages(self.status)


def _messages(status):
    codes = np.asarray(status)
    out = np.vectorize(lambda c: STATUS_MESSAGES.get(int(c), "unknown"), otypes=[object])(codes)
    return out[()] if out.ndim == 0 else out


def assemble(cls, **fields):
    """An instance of the frozen result dataclass ``cls`` from all of its
    fields, without running ``__init__`` (which sets every field through
    ``object.__setattr__`` and costs more than a single-point solve).  The
    instance stays frozen: assigning a field afterwards raises."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


def frozen_metrics(metrics: dict) -> dict:
    """The model's metrics with every array read-only (scalars stay scalars)."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, np.ndarray):
            if value.ndim == 0:
                value = value[()]
            else:
                value = value.copy()
                value.setflags(write=False)
        out[key] = value
    return out


def build_max_margin(model, g_flat, m_flat, shape, intercept, q, b, proj, beta, residual, iterations, status,
                     rho=None, tau=None, ridge=None) -> MaxMarginResult:
    """Assemble a :class:`MaxMarginResult` from flat per-point solver output
    (points along axis 0): NaN where a point is not separable, ``rho``
    from the projections when not given (exact: they lie in the factor's
    column space), errors and their logarithms from one formula."""
    K = model.n_clusters
    A = model.factor
    sep = status != 1
    nan = ~sep
    q, b, proj = np.array(q, float), np.array(b, float), np.array(proj, float)
    beta, residual = np.array(beta, float), np.array(residual, float)
    if rho is None:
        rho = np.linalg.lstsq(A, np.where(nan[:, None], 0.0, proj).T, rcond=None)[0].T if A.shape[1] else \
            np.zeros((proj.shape[0], 0))
    rho = np.array(rho, float)
    for arr in (q, b, proj, beta, residual, rho):
        arr[nan] = np.nan
    errors, log_errors = error_fields(model.labels, proj, beta)
    tau_flat = q if tau is None else np.where(nan, np.nan, tau)
    ridge_flat = np.full(q.shape, np.nan) if ridge is None else np.where(nan, np.nan, ridge)
    return MaxMarginResult(
        model=model, gamma=frozen(g_flat, shape), margins=frozen(m_flat, shape, (K,)), intercept=intercept,
        q=frozen(q, shape), b=frozen(b, shape), rho=frozen(rho, shape, (A.shape[1],)),
        projections=frozen(proj, shape, (K,)), errors=frozen(errors, shape, (K,)),
        residual=frozen(residual, shape), iterations=frozen(iterations, shape), separable=frozen(sep, shape),
        tau=frozen(tau_flat, shape), ridge=frozen(ridge_flat, shape), log_errors=frozen(log_errors, shape, (K,)),
        status=frozen(status, shape))
