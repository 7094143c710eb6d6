r"""Sampling the mixtures and scoring classifiers exactly.

A :class:`~asymptotics.models.ClusterGMM` (and so every label or group
model) is sampled in ``d`` dimensions with its mean vectors zero-padded to
``d`` coordinates, which leaves their Gram matrix, the only thing the
asymptotics depend on, unchanged.  A model given by its Gram matrix is
embedded through its factor :math:`A = VS` (cluster k has mean :math:`A_k`
in the first r coordinates).

Memory budget
-------------
A sample is ``n x d`` doubles; :data:`MEMORY_BUDGET_BYTES` (2 GiB, a module
constant that may be raised deliberately) caps every array the simulation
side allocates in one piece (a sample, an ``n x n`` Gram matrix).  A request
above it is refused with a one-line ``ValueError`` naming the argument before
anything is allocated, instead of ending in a ``MemoryError`` traceback.

Stratified sampling
-------------------
``sample(..., stratify=True)`` draws exactly :func:`stratified_counts` rows
from each cluster, ``floor(n pi_k)`` plus one more for the clusters with the
largest remainders ``n pi_k - floor(n pi_k)`` (ties to the lower index), so
every trial sees the cluster fractions ``round(n pi_k)/n`` and none is
unlucky enough to draw no minority sample.

Read-only results
-----------------
The result objects of the simulation side (:class:`Sample`,
:class:`~.svm.MaxMarginFit`, :class:`~.vsloss.TrainResult`,
:class:`~.erm.ERMFit`, :class:`~.montecarlo.MonteCarloResult`,
:class:`~asymptotics.datadriven.DeltaSuggestion`) are frozen dataclasses
whose arrays are read-only (a read-only view: no copy) and whose dicts are
read-only mappings (:class:`~asymptotics.results.FrozenDict`); they pickle (and
``copy.deepcopy``) to equal, equally read-only objects and compare by value:
the one result contract of :mod:`asymptotics.results`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import _short, boolean
from .._validation import finite_array as real_array   # finite real array, one-line errors naming it
from ..gaussian import Q
from ..models import ClusterGMM
from ..results import ReadOnlyResult as _ResultContract

__all__ = ["Sample", "sample", "sample_mismatch", "embedded_means", "classifier_errors", "empirical_errors",
           "stratified_counts", "check_memory", "MEMORY_BUDGET_BYTES"]

MEMORY_BUDGET_BYTES = 2 * 1024 ** 3
"""Largest single array (bytes) the simulation side agrees to allocate."""


def check_memory(n_elements, name: str, what: str) -> None:
    """ValueError naming ``name`` when ``n_elements`` doubles exceed the budget."""
    need = 8.0 * float(n_elements)
    if need > MEMORY_BUDGET_BYTES:
        raise ValueError(f"{name}: {what} needs {need / 1024 ** 3:.3g} GiB, above the memory budget of "
                         f"{MEMORY_BUDGET_BYTES / 1024 ** 3:.3g} GiB (asymptotics.simulate.sampling."
                         "MEMORY_BUDGET_BYTES)")


def cluster_array(clusters, n: int) -> np.ndarray:
    """``clusters`` as int64 indices, one per sample: integers or
    integer-valued floats of shape (n,), else a one-line ValueError naming
    ``clusters``.  The range against the loss is the caller's to check."""
    if isinstance(clusters, (str, bytes)):
        raise ValueError("clusters must be integer cluster indices, got a string")
    c = np.asarray(clusters)
    if c.dtype == bool or c.dtype.kind not in "iuf":
        raise ValueError(f"clusters must be integer cluster indices, got dtype {c.dtype}")
    if c.shape != (n,):
        raise ValueError(f"clusters must have one index per row of X ({n}), got shape {c.shape}")
    if c.dtype.kind == "f" and not (np.all(np.isfinite(c)) and np.all(c == np.round(c))):
        raise ValueError("clusters must be integer cluster indices (got non-integer values)")
    return c.astype(np.int64)


class ReadOnlyResult(_ResultContract):
    """The result contract of :mod:`asymptotics.results` (read-only, pickles,
    value ``==``), sharing the caller's arrays as read-only views instead of
    copying them (samples are large)."""

    _share_arrays = True


def stratified_counts(priors, n: int) -> np.ndarray:
    """Exact cluster counts of a stratified sample of size ``n``: ``floor(n pi_k)``
    and the remainder, one each, to the clusters with the largest fractional
    parts (ties to the lower index).  Sums to ``n``."""
    priors = np.asarray(priors, dtype=float)
    exact = n * priors
    counts = np.floor(exact).astype(np.int64)
    rest = int(n - counts.sum())
    order = np.argsort(-(exact - counts), kind="stable")
    counts[order[:rest]] += 1
    return counts


@dataclass(frozen=True, eq=False)
class Sample(ReadOnlyResult):
    """``n`` draws: features ``X`` (n x d), labels ``y`` (+1/-1) and the
    cluster index ``k`` of each row (for label models 0 = class +1, 1 = class
    -1; for group models the subgroup order of :class:`GroupGMM`).  The
    arrays are read-only (module docstring)."""

    X: np.ndarray
    y: np.ndarray
    k: np.ndarray


def embedded_means(model: ClusterGMM, d: int) -> np.ndarray:
    """Cluster means as K x d rows, zero-padded (or from the Gram factor).
    For a covariance model the coordinates are those of the covariance matrix,
    or the eigen-directions of a Spectrum (simulated as the first axes)."""
    base = model.means if model.means is not None else model.factor
    L = base.shape[1]
    if L > d:
        if np.any(base[:, d:]):
            raise ValueError(f"d = {d} is smaller than the {L} coordinates the means occupy; "
                             "use model.restrict(d) for a classifier that sees fewer features")
        base = base[:, :d]
    out = np.zeros((model.n_clusters, d))
    out[:, : base.shape[1]] = base
    return out


def noise_scales(model: ClusterGMM, d: int):
    """How the noise is drawn in d dimensions: ``None`` (identity), a vector
    of per-coordinate standard deviations (a Spectrum: the mean directions
    first, with their eigenvalues, then the bulk atoms in proportion to their
    weights), or the symmetric square root of a covariance matrix (whose size
    must then be d)."""
    cov = model._cov
    if cov is None:
        return None
    if cov.matrix is not None:
        if cov.matrix.shape[0] != d:
            raise ValueError(f"d: a model with a {cov.matrix.shape[0]} x {cov.matrix.shape[0]} covariance matrix "
                             f"is simulated in exactly that dimension, got d = {d}")
        key = ("sqrt", d)
        if key not in model._threshold_cache:
            vals, vecs = np.linalg.eigh(cov.matrix)
            model._threshold_cache[key] = (vecs * np.sqrt(vals)) @ vecs.T
        return model._threshold_cache[key]
    L = cov.mean_eigs.size
    if d < L:
        raise ValueError(f"d must be at least the {L} mean coordinates")
    rest = d - L
    exact = cov.weights * rest
    counts = np.floor(exact).astype(int)
    counts[np.argsort(exact - counts)[::-1][: rest - counts.sum()]] += 1
    return np.sqrt(np.concatenate([cov.mean_eigs, np.repeat(cov.atoms, counts)]))


def _score_spread(model: ClusterGMM, w: np.ndarray) -> float:
    """sqrt(w^T Sigma w), the spread of w.x within a cluster."""
    S = noise_scales(model, w.size)
    if S is None:
        return float(np.linalg.norm(w))
    if S.ndim == 1:
        return float(np.linalg.norm(S * w))
    return float(np.linalg.norm(S @ w))


def _check_size(n, name):
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"{name} must be a positive integer, got {_short(n)}")
    return int(n)


def sample(model: ClusterGMM, n: int, d: int, rng: np.random.Generator, stratify: bool = False) -> Sample:
    r"""Draw ``n`` samples: cluster ``k ~ priors`` (i.i.d.), ``x = mu_k + z``,
    ``z ~ N(0, I_d)``, label ``y_k``.

    Parameters
    ----------
    model : ClusterGMM (LabelGMM, GroupGMM)
    n, d : int
        ``n * d`` doubles must fit the memory budget (module docstring).
    rng : numpy.random.Generator
        The only source of randomness (seed it).
    stratify : bool
        Exactly :func:`stratified_counts` rows per cluster (in random order)
        instead of i.i.d. cluster draws.
    """
    if not isinstance(model, ClusterGMM):
        raise ValueError(f"model must be a ClusterGMM, got {type(model).__name__}")
    n, d = _check_size(n, "n"), _check_size(d, "d")
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator (e.g. numpy.random.default_rng(seed))")
    stratify = boolean(stratify, "stratify")
    check_memory(n * d, "d" if d > n else "n", f"an n x d = {n} x {d} sample")
    means = embedded_means(model, d)
    if stratify:
        k = rng.permutation(np.repeat(np.arange(model.n_clusters), stratified_counts(model.priors, n)))
    else:
        k = rng.choice(model.n_clusters, size=n, p=model.priors)
    X = rng.standard_normal((n, d))
    S = noise_scales(model, d)
    if S is not None:
        X = X * S if S.ndim == 1 else X @ S
    X += means[k]
    return Sample(X=X, y=model.labels[k].copy(), k=k)


def sample_mismatch(model: ClusterGMM, n: int, D: int, p: int, rng: np.random.Generator) -> Sample:
    """The paper's mismatch feature model (§3.1): sample in ``D`` dimensions and
    keep the first ``p`` features (equivalent in law to ``sample(model.restrict(p), n, p)``)."""
    D, p = _check_size(D, "D"), _check_size(p, "p")
    if p > D:
        raise ValueError(f"p must be <= D, got p = {p}, D = {D}")
    check_memory(_check_size(n, "n") * D, "D", f"an n x D = {n} x {D} sample")
    s = sample(model, n, D, rng)
    return Sample(X=np.ascontiguousarray(s.X[:, :p]), y=s.y, k=s.k)


def _scalar_b(b) -> float:
    arr = real_array(b, "b")
    if arr.ndim != 0:
        raise ValueError(f"b must be a scalar intercept, got shape {arr.shape}")
    return float(arr)


def classifier_errors(model: ClusterGMM, w, b: float = 0.0) -> np.ndarray:
    r"""Exact test error of the linear classifier sign(w.x + b) on each cluster:

    .. math:: R_k = Q\big(y_k(\mu_k\cdot w + b)/\sqrt{w^T\Sigma w}\big)

    (``w`` of length d; the means are embedded in d coordinates; Sigma = I
    unless the model has a covariance).
    """
    w = real_array(w, "w", ndim=1)
    b = _scalar_b(b)
    if not np.any(w):
        raise ValueError("w must not be zero")
    scale = float(np.max(np.abs(w)))          # the errors are scale-free: no overflow for a huge w
    w, b = w / scale, b / scale
    norm = _score_spread(model, w)
    means = embedded_means(model, w.size)
    return Q(model.labels * (means @ w + b) / norm)


def empirical_errors(model: ClusterGMM, w, b: float, n_test: int, rng: np.random.Generator) -> np.ndarray:
    """Per-cluster error rates of sign(w.x + b) on a fresh test sample of
    ``n_test`` points (NaN for a cluster with no test point)."""
    w = real_array(w, "w", ndim=1)
    n_test = _check_size(n_test, "n_test")
    check_memory(n_test * w.size, "n_test", f"an n_test x d = {n_test} x {w.size} test sample")
    test = sample(model, n_test, w.size, rng)
    b = _scalar_b(b)
    wrong = test.y * (test.X @ w + b) <= 0
    counts = np.bincount(test.k, minlength=model.n_clusters)
    errs = np.bincount(test.k, weights=wrong, minlength=model.n_clusters)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, errs / np.maximum(counts, 1), np.nan)
