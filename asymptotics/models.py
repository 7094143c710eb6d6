r"""Gaussian-mixture data models.

Every model is a K-cluster mixture (docs/theory.md §1): cluster ``k`` has prior
:math:`\pi_k`, label :math:`y_k \in \{\pm1\}` and mean :math:`\mu_k`, and
``x | k ~ N(mu_k, I_d)``.  Only the means' Gram matrix :math:`M^T M` enters the
asymptotics; the mean vectors themselves (when given) are kept for
:meth:`ClusterGMM.restrict` and for simulation, where they are zero-padded to
the ambient dimension d.

:class:`LabelGMM` (label imbalance, class +1 is the minority with prior
``prior``) is a two-cluster :class:`ClusterGMM`.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ._validation import _short, finite_array, probability
from .covariance import prepare

__all__ = ["ClusterGMM", "LabelGMM", "GroupGMM"]

_PRIOR_SUM_TOL = 1e-9
# Largest squared mean norm the engines are tested on (antipodal norm 1e4: gamma_star = exp(-5e7), still
# solved in the log domain; beyond it the solvers leave double precision).
MAX_GRAM = 1e8


def _gram_factor(gram: np.ndarray) -> np.ndarray:
    """A (K x r) with A A^T = gram, r = numerical rank: A = V S from the
    eigendecomposition gram = V S^2 V^T.  Eigenvalues below K * 1e-15 of the
    largest are rounding noise and are dropped (a column of size sqrt(1e-15)
    moves the solution by O(1e-15))."""
    K = gram.shape[0]
    vals, vecs = np.linalg.eigh(gram)
    top = vals.max() if vals.size else 0.0
    keep = vals > max(top, 0.0) * K * 1e-15
    vals, vecs = vals[keep][::-1], vecs[:, keep][:, ::-1]
    # deterministic signs: the largest-magnitude entry of each column positive
    for j in range(vecs.shape[1]):
        i = np.argmax(np.abs(vecs[:, j]))
        if vecs[i, j] < 0:
            vecs[:, j] = -vecs[:, j]
    return np.ascontiguousarray(vecs * np.sqrt(vals))


class ClusterGMM:
    r"""K-cluster Gaussian mixture with labels: the engine's model.

    Parameters
    ----------
    priors : array_like, shape (K,)
        Cluster probabilities :math:`\pi_k \in (0, 1]`, summing to 1.
    labels : array_like, shape (K,)
        Cluster labels, each +1 or -1.
    means : array_like, shape (K, L), optional
        Mean vectors (coordinates beyond L are zero).
    gram : array_like, shape (K, K), optional
        The means' Gram matrix :math:`G_{kl} = \mu_k \cdot \mu_l`, instead of
        ``means``.  Exactly one of ``means`` and ``gram`` must be given.
    covariance : array_like (d, d) or Spectrum, optional
        Noise covariance :math:`\Sigma` (default identity): a d x d matrix
        (finite-d deterministic equivalent; the means are zero-padded to d),
        or a :class:`~asymptotics.covariance.Spectrum` with the means given in
        its eigenbasis.  See :mod:`asymptotics.covariance`.

    Attributes
    ----------
    gram : ndarray (K, K)
    factor : ndarray (K, r)
        :math:`A = VS` with :math:`AA^T = ` ``gram`` and r its rank; the
        solver's :math:`\rho` lives in these coordinates.
    """

    def __init__(self, priors, labels, means=None, *, gram=None, covariance=None):
        priors = finite_array(priors, "priors", ndim=1)
        K = priors.size
        if K == 0:
            raise ValueError("priors must not be empty")
        if np.any(priors <= 0) or np.any(priors > 1):
            raise ValueError(f"priors must lie in (0, 1], got {priors.tolist()}")
        if abs(priors.sum() - 1.0) > _PRIOR_SUM_TOL:
            raise ValueError(f"priors must sum to 1, got sum {_short(float(priors.sum()))}")
        labels = finite_array(labels, "labels", ndim=1)
        if labels.size != K:
            raise ValueError(f"labels must have one entry per cluster ({K}), got {labels.size}")
        if not np.all(np.isin(labels, (-1.0, 1.0))):
            raise ValueError(f"labels must be +1 or -1, got {labels.tolist()}")
        if (means is None) == (gram is None):
            raise ValueError("give exactly one of means and gram")
        if means is not None:
            means = self._check_means(means, K)
            with np.errstate(over="ignore", invalid="ignore"):    # absurd norms are refused just below
                gram = means @ means.T
        else:
            gram = finite_array(gram, "gram", ndim=2)
            if gram.shape != (K, K):
                raise ValueError(f"gram must have shape ({K}, {K}), got {gram.shape}")
            scale = max(np.abs(gram).max(), 1e-300)
            if np.abs(gram - gram.T).max() > 1e-12 * scale:
                raise ValueError("gram must be symmetric")
            gram = 0.5 * (gram + gram.T)
            if np.linalg.eigvalsh(gram).min() < -1e-10 * scale:
                raise ValueError("gram must be positive semidefinite (a Gram matrix of mean vectors)")
        top = float(np.abs(gram).max()) if gram.size else 0.0
        if top > MAX_GRAM:
            raise ValueError(f"{'means' if means is not None else 'gram'}: mean norms above {MAX_GRAM ** 0.5:g} are "
                             f"outside the supported range (every error would be below exp(-{MAX_GRAM / 8:.3g})); "
                             f"got |mu|^2 up to {top:.3g}")
        self._priors = priors / priors.sum()
        self._labels = labels
        self._means = means
        self._gram = gram
        self._factor = _gram_factor(gram)
        for arr in (self._priors, self._labels, self._gram, self._factor):
            arr.setflags(write=False)
        # what the compiled engines receive: writable, C-contiguous float64 copies, so that each
        # kernel is compiled for one array type only (read-only arrays would type differently)
        self._kernel_args = tuple(np.array(a, dtype=np.float64, order="C")
                                  for a in (self._factor, self._priors, self._labels))
        self._both_labels = bool(np.any(self._labels > 0) and np.any(self._labels < 0))
        if self._means is not None:
            self._means.setflags(write=False)
        self._threshold_cache: dict = {}
        self._covariance = covariance
        self._cov = None
        if covariance is not None:
            if means is None:
                raise ValueError("covariance needs the mean vectors (coordinates), not only their Gram matrix")
            self._cov = prepare(covariance, self._means)

    def _definition(self) -> tuple:
        """What defines the model (priors, labels, Gram matrix, means,
        covariance): results compare their models by it
        (:func:`asymptotics.results.same`)."""
        return self._priors, self._labels, self._gram, self._means, self._covariance

    def __eq__(self, other):
        """Value equality: same class and definition (priors, labels, Gram
        matrix, means, covariance), so a model equals its pickled or
        deep-copied self."""
        if not isinstance(other, ClusterGMM):
            return NotImplemented
        from .results import same
        return type(self) is type(other) and same(self._definition(), other._definition())

    def __hash__(self) -> int:
        # equal models have equal priors, labels and Gram matrices (the rest only narrows equality)
        return hash((type(self).__name__, self._priors.tobytes(), self._labels.tobytes(), self._gram.tobytes()))

    def __setstate__(self, state):
        # unpickled (or deep-copied) arrays come back writable: the model's own arrays are read-only again
        # (the engines' writable _kernel_args stay as they are)
        self.__dict__.update(state)
        for value in state.values():
            if isinstance(value, np.ndarray):
                value.setflags(write=False)

    @property
    def covariance(self):
        """The covariance as given (None: identity)."""
        return self._covariance

    @staticmethod
    def _check_means(means, K: int, name: str = "means") -> np.ndarray:
        try:
            rows = [finite_array(m, name) for m in means]
        except TypeError:
            raise ValueError(f"{name} must be a sequence of {K} vectors") from None
        if len(rows) != K:
            raise ValueError(f"{name} must hold one vector per cluster ({K}), got {len(rows)}")
        rows = [np.atleast_1d(r) for r in rows]
        if any(r.ndim != 1 for r in rows):
            raise ValueError(f"{name} must be vectors")
        lengths = {r.size for r in rows}
        if len(lengths) != 1:
            raise ValueError(f"{name} must all have the same length, got lengths {sorted(lengths)}")
        if 0 in lengths:
            raise ValueError(f"{name} must not be empty vectors")
        return np.array(rows, dtype=float)

    # ---- read-only views -------------------------------------------------
    @property
    def n_clusters(self) -> int:
        return self._priors.size

    @property
    def priors(self) -> np.ndarray:
        return self._priors

    @property
    def labels(self) -> np.ndarray:
        return self._labels

    @property
    def means(self) -> np.ndarray | None:
        """Mean vectors (K x L), or None for a model given by its Gram."""
        return self._means

    @property
    def gram(self) -> np.ndarray:
        return self._gram

    @property
    def factor(self) -> np.ndarray:
        return self._factor

    @property
    def has_both_labels(self) -> bool:
        """Whether clusters of both labels are present (needed with an intercept)."""
        return self._both_labels

    @property
    def rank(self) -> int:
        return self._factor.shape[1]

    def metrics(self, errors) -> dict:
        """The model's own metrics from per-cluster errors ``errors[..., k]``
        (shared by every engine and by the Monte-Carlo side).  A plain
        K-cluster model has none beyond the errors themselves."""
        return {}

    def restrict(self, p: int) -> "ClusterGMM":
        """The model seen by a classifier that uses only the first ``p``
        coordinates (the paper's mismatch feature model, §3.1): means
        truncated to ``p`` coordinates.  Needs mean vectors."""
        if self._means is None:
            raise ValueError("restrict needs mean vectors; this model was given by its Gram matrix")
        if self._cov is not None and self._cov.matrix is None:
            raise ValueError("restrict needs a covariance matrix (a Spectrum has no coordinates to drop)")
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, np.integer)) or p < 1:
            raise ValueError(f"p must be a positive integer, got {_short(p)}")
        return self._with_means(self._means[:, : int(p)])

    def _restricted_covariance(self, p: int):
        return None if self._covariance is None else self._cov.matrix[:p, :p]

    def _with_means(self, means: np.ndarray) -> "ClusterGMM":
        return ClusterGMM(self._priors, self._labels, means,
                          covariance=self._restricted_covariance(means.shape[1]))

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(priors={self._priors.tolist()}, labels={self._labels.tolist()}, "
                f"gram={np.round(self._gram, 6).tolist()})")


class LabelGMM(ClusterGMM):
    r"""Label-imbalanced binary mixture: ``P(y = +1) = prior`` (the minority),
    ``x | y ~ N(mu_y, I)``.

    Clusters: 0 is class +1 (prior ``prior``, mean ``mean_plus``), 1 is class
    -1 (prior ``1 - prior``, mean ``mean_minus``).

    Parameters
    ----------
    prior : float in (0, 1)
    mean_plus, mean_minus : array_like, same length
    covariance : d x d matrix or Spectrum, optional
        Noise covariance (default identity); see :class:`ClusterGMM`.
    """

    def __init__(self, prior: float, mean_plus: Sequence[float], mean_minus: Sequence[float], covariance=None):
        prior = probability(prior, "prior")
        mp = np.atleast_1d(finite_array(mean_plus, "mean_plus"))
        mm = np.atleast_1d(finite_array(mean_minus, "mean_minus"))
        if mp.ndim != 1 or mm.ndim != 1:
            raise ValueError("mean_plus and mean_minus must be vectors")
        if mp.size != mm.size:
            raise ValueError(f"mean_plus and mean_minus must have the same length, got {mp.size} and {mm.size}")
        super().__init__([prior, 1.0 - prior], [1.0, -1.0], [mp, mm], covariance=covariance)
        self._prior = prior

    @classmethod
    def antipodal(cls, prior: float, norm: float) -> "LabelGMM":
        """Means ``mu_+ = -mu_- = norm * e_1``."""
        norm = finite_array(norm, "norm")
        if norm.ndim != 0:
            raise ValueError(f"norm must be a scalar, got shape {norm.shape}")
        norm = float(norm)
        if norm < 0:
            raise ValueError(f"norm must be >= 0, got {_short(norm)}")
        return cls(prior, [norm], [-norm])

    @classmethod
    def from_gram(cls, prior: float, gram) -> "LabelGMM":
        """Means given by their 2x2 Gram matrix [[|mu+|^2, mu+.mu-], [., |mu-|^2]]."""
        gram = finite_array(gram, "gram", ndim=2)
        if gram.shape != (2, 2):
            raise ValueError(f"gram must be 2x2, got shape {gram.shape}")
        probe = ClusterGMM([0.5, 0.5], [1, -1], gram=gram)  # validates symmetry / PSD
        A = probe.factor
        if A.shape[1] == 0:
            A = np.zeros((2, 1))
        return cls(prior, A[0], A[1])

    @property
    def prior(self) -> float:
        """P(y = +1), the minority class's prior."""
        return self._prior

    @property
    def mean_plus(self) -> np.ndarray:
        return self.means[0]

    @property
    def mean_minus(self) -> np.ndarray:
        return self.means[1]

    def metrics(self, errors) -> dict:
        r"""``R_plus``, ``R_minus`` (class-conditional errors), ``R_bal`` =
        :math:`(R_+ + R_-)/2` and ``R`` = :math:`\pi R_+ + (1-\pi) R_-` from
        per-cluster errors ``errors[..., (R_+, R_-)]``."""
        errors = np.asarray(errors)
        r_plus, r_minus = errors[..., 0][()], errors[..., 1][()]
        return dict(R_plus=r_plus, R_minus=r_minus, R_bal=0.5 * (r_plus + r_minus),
                    R=self.prior * r_plus + (1.0 - self.prior) * r_minus)

    def _with_means(self, means: np.ndarray) -> "LabelGMM":
        return LabelGMM(self.prior, means[0], means[1], covariance=self._restricted_covariance(means.shape[1]))

    def __repr__(self) -> str:
        g = self.gram
        return (f"LabelGMM(prior={self.prior:g}, |mu+|={np.sqrt(g[0, 0]):g}, |mu-|={np.sqrt(g[1, 1]):g}, "
                f"mu+.mu-={g[0, 1]:g})")


class GroupGMM(ClusterGMM):
    r"""Group-imbalanced binary mixture (paper §4): ``P(y = +1) = class_prior``,
    a group ``g`` independent of ``y`` with ``P(g = j) = p_j``, and
    ``x | (y, g) ~ N(y mu_g, I)``.  Group 1 is the protected minority.

    Two groups::

        GroupGMM(class_prior, group_prior, mean_1, mean_2)      # P(g = 1) = group_prior

    or G >= 2 groups::

        GroupGMM(class_prior, group_priors=[p_1, ..., p_G], means=[mu_1, ..., mu_G])

    Cluster order (used by every per-subgroup array, e.g. ``R_yg``): the
    subgroup (y, g) is cluster ``iy * G + (g - 1)`` with ``iy = 0`` for
    y = +1 and ``iy = 1`` for y = -1; per-subgroup results are returned with
    shape ``(..., 2, G)``, indexed ``[iy, g - 1]``.
    """

    def __init__(self, class_prior: float, group_prior: float | None = None, mean_1=None, mean_2=None,
                 *, group_priors=None, means=None, covariance=None):
        class_prior = probability(class_prior, "class_prior")
        two = group_prior is not None or mean_1 is not None or mean_2 is not None
        if two == (group_priors is not None or means is not None):
            raise ValueError("give either (group_prior, mean_1, mean_2) or (group_priors=, means=)")
        if two:
            if group_prior is None or mean_1 is None or mean_2 is None:
                raise ValueError("group_prior, mean_1 and mean_2 are all needed")
            p1 = probability(group_prior, "group_prior")
            group_priors = np.array([p1, 1.0 - p1])
            m1 = np.atleast_1d(finite_array(mean_1, "mean_1"))
            m2 = np.atleast_1d(finite_array(mean_2, "mean_2"))
            if m1.ndim != 1 or m2.ndim != 1 or m1.size != m2.size:
                raise ValueError(f"mean_1 and mean_2 must be vectors of the same length, "
                                 f"got shapes {m1.shape} and {m2.shape}")
            means = np.array([m1, m2])
        else:
            if group_priors is None or means is None:
                raise ValueError("group_priors and means are both needed")
            group_priors = finite_array(group_priors, "group_priors", ndim=1)
            if group_priors.size < 1 or np.any(group_priors <= 0) or abs(group_priors.sum() - 1) > _PRIOR_SUM_TOL:
                raise ValueError(f"group_priors must be positive and sum to 1, got {group_priors.tolist()}")
            means = self._check_means(means, group_priors.size)
        G = group_priors.size
        class_priors = np.array([class_prior, 1.0 - class_prior])
        signs = np.array([1.0, -1.0])
        super().__init__(np.outer(class_priors, group_priors).reshape(-1), np.repeat(signs, G),
                         (signs[:, None, None] * means[None, :, :]).reshape(2 * G, -1), covariance=covariance)
        self._class_prior = class_prior
        self._group_priors = group_priors
        self._group_means = means
        means.setflags(write=False)
        group_priors.setflags(write=False)

    @property
    def class_prior(self) -> float:
        """P(y = +1)."""
        return self._class_prior

    @property
    def group_priors(self) -> np.ndarray:
        """P(g = j), j = 1..G (read-only)."""
        return self._group_priors

    @property
    def group_means(self) -> np.ndarray:
        """The group means mu_g, G x L (read-only)."""
        return self._group_means

    @property
    def n_groups(self) -> int:
        return self.group_priors.size

    @property
    def group_prior(self) -> float:
        """P(g = 1), the minority group's prior."""
        return float(self.group_priors[0])

    def metrics(self, errors) -> dict:
        r"""Subgroup, class, fairness and worst-group metrics from per-cluster
        errors ``errors[..., k]`` (cluster order of the class docstring):

        ``R_yg`` (shape ``(..., 2, G)``), ``R_plus``, ``R_minus`` =
        :math:`\sum_g p_g R_{\pm,g}`, ``R_bal`` = :math:`(R_+ + R_-)/2`,
        ``R_subgroup_bal`` (mean of the 2G subgroup errors), ``R`` =
        :math:`\pi R_+ + (1-\pi)R_-`, ``DEO`` = :math:`R_{+,1} - R_{+,2}`,
        ``symm_DEO`` = :math:`(|R_{+,1} - R_{+,2}| + |R_{-,1} - R_{-,2}|)/2`,
        ``worst`` = :math:`\max_{y,g} R_{y,g}`.
        """
        errors = np.asarray(errors)
        G = self.n_groups
        if errors.ndim == 1:
            # one point: plain floats (NumPy calls on 2G numbers cost more than the arithmetic)
            e, gp, pi = errors.tolist(), self.group_priors.tolist(), self.class_prior
            rp = sum(p * x for p, x in zip(gp, e[:G]))
            rm = sum(p * x for p, x in zip(gp, e[G:]))
            deo = e[0] - e[1] if G >= 2 else 0.0
            symm = 0.5 * (abs(deo) + abs(e[G] - e[G + 1])) if G >= 2 else 0.0
            f = np.float64
            return dict(R_yg=errors.reshape(2, G), R_plus=f(rp), R_minus=f(rm), R_bal=f(0.5 * (rp + rm)),
                        R_subgroup_bal=f(sum(e) / (2 * G)), R=f(pi * rp + (1 - pi) * rm), DEO=f(deo),
                        symm_DEO=f(symm), worst=f(max(e)))
        r_yg = errors.reshape(errors.shape[:-1] + (2, G))
        r_class = r_yg @ self.group_priors                      # (..., 2): R_+, R_-
        r_plus, r_minus = r_class[..., 0], r_class[..., 1]
        pi = self.class_prior
        if self.n_groups >= 2:
            deo = r_yg[..., 0, 0] - r_yg[..., 0, 1]
            symm = 0.5 * (np.abs(deo) + np.abs(r_yg[..., 1, 0] - r_yg[..., 1, 1]))
        else:
            deo = symm = np.zeros(r_yg.shape[:-2])
        return dict(R_yg=r_yg, R_plus=r_plus[()], R_minus=r_minus[()], R_bal=(0.5 * (r_plus + r_minus))[()],
                    R_subgroup_bal=r_yg.mean(axis=(-2, -1))[()], R=(pi * r_plus + (1 - pi) * r_minus)[()],
                    DEO=np.asarray(deo)[()], symm_DEO=np.asarray(symm)[()], worst=r_yg.max(axis=(-2, -1))[()])

    def _with_means(self, means: np.ndarray) -> "GroupGMM":
        return GroupGMM(self.class_prior, group_priors=self.group_priors, means=means[: self.n_groups],
                        covariance=self._restricted_covariance(means.shape[1]))

    def __repr__(self) -> str:
        norms = np.sqrt(np.diag(self.gram)[: self.n_groups])
        return (f"GroupGMM(class_prior={self.class_prior:g}, group_priors={self.group_priors.tolist()}, "
                f"|mu_g|={np.round(norms, 6).tolist()})")
