r"""Exact derivatives of the max-margin asymptotics by the implicit function theorem.

The max-margin solution (isotropic features, any K-cluster model, with or
without intercept) is the root of the KKT system in :math:`z = (c, \beta, u)`,

.. math::

    E_c &= c_k + \frac{\pi_k y_k F'(t_k)}{2\gamma} = 0 \quad (k = 1..K),\qquad
    E_\beta = \sum_k \pi_k y_k F'(t_k) = 0 \ \text{(intercept)},\\
    E_H &= \sum_k \pi_k F(t_k) + \gamma\,(c^T\Sigma c - 1) = 0,\qquad
    t_k = y_k\big((\Sigma c)_k + \beta\big) - \Delta_k u,

(docs/theory.md §2 written with :math:`\rho = A^T c`, so that the Gram matrix
:math:`\Sigma = AA^T` enters directly and smoothly).  Every output is a smooth
function of z and of the parameters :math:`\theta = (\Delta, \gamma, \pi, \Sigma)`,
so :math:`dz/d\theta = -J^{-1}\,\partial E/\partial\theta` costs one LU of the
(K+2)-square Jacobian J per point, a fraction of the solve.

The model's metrics are written in the cluster priors:
:math:`R = \sum_k \pi_k R_k`, :math:`R_\pm = \sum_{k: y_k = \pm} \pi_k R_k /
\sum_{k: y_k=\pm}\pi_k` (for a group model this is :math:`\sum_g p_g R_{\pm,g}`),
so their prior derivatives are exact too; ``worst`` and ``symm_DEO`` are
differentiated where the maximum / the signs are attained (one-sided at ties).
Prior derivatives treat the K priors as free coordinates (move along
:math:`\sum_k d\pi_k = 0` to stay on the simplex).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import NotSupportedError
from .gaussian import F, Q, d2F, dF, phi
from .models import ClusterGMM, GroupGMM, LabelGMM
from .results import ReadOnlyResult

__all__ = ["Sensitivity", "sensitivity"]


@dataclass(frozen=True, eq=False)
class Sensitivity(ReadOnlyResult):
    r"""Derivatives of a max-margin result.

    ``grad[output][wrt]`` is an array of shape ``S + out_shape + wrt_shape``
    with ``S`` the result's shape, ``out_shape`` the output's own trailing
    shape (``(K,)`` for ``errors``, ``log_errors``, ``projections``; ``()``
    for ``q``, ``b`` and the model's scalar metrics; ``(2, G)`` for
    ``R_yg``) and ``wrt_shape``:

    ============  ===========  ============================================
    ``margins``   ``(K,)``     each cluster's margin :math:`\Delta_k`
    ``gamma``     ``()``       :math:`\gamma = d/n`
    ``priors``    ``(K,)``     each cluster prior :math:`\pi_k` (free coordinates)
    ``gram``      ``(K, K)``   the means' Gram matrix, symmetric: for a
                               symmetric change dG, d(out) = sum_jl D_jl dG_jl
    ``delta``     ``()``       CS-SVM / GS-SVM results only: their delta
    ``lam``       ``()``       ERM results (which have ``lam`` and ``gamma``;
                               outputs also ``V`` and ``alpha``)
    ``omega``,    ``(K,)``     ERM results: each cluster's loss weight, offset
    ``iota``,                  and margin parameter (``iota`` has zero
    ``Delta``                  derivatives for hinge and square clusters)
    ============  ===========  ============================================
    """

    grad: dict

    def __post_init__(self):
        inner = {}
        for output, by_wrt in self.grad.items():
            arrays = {}
            for wrt, arr in by_wrt.items():
                arr = np.array(arr, dtype=float)
                if arr.ndim == 0:
                    arr = arr[()]
                else:
                    arr.setflags(write=False)
                arrays[wrt] = arr
            inner[output] = arrays
        object.__setattr__(self, "grad", inner)
        super().__post_init__()      # the result contract (asymptotics.results): read-only mappings, picklable

    def __getitem__(self, output: str) -> dict:
        return self.grad[output]


def _metric_jacobian(model: ClusterGMM, R: np.ndarray):
    """For each of the model's metrics: (d metric / d R_k, d metric / d pi_k),
    arrays of shape S + (K,) (errors R: S + (K,))."""
    pri, lab = model.priors, model.labels
    K = model.n_clusters
    S = R.shape[:-1]
    out = {}
    if not isinstance(model, (LabelGMM, GroupGMM)):
        return out

    def class_rate(sign):
        mask = (lab == sign).astype(float)
        mass = float(pri @ mask)
        rate = R @ (pri * mask) / mass
        dR = np.broadcast_to(pri * mask / mass, S + (K,))
        dpi = mask * (R - rate[..., None]) / mass
        return rate, dR, dpi

    rp, dRp, dpp = class_rate(1.0)
    rm, dRm, dpm = class_rate(-1.0)
    out["R_plus"] = (dRp, dpp)
    out["R_minus"] = (dRm, dpm)
    out["R_bal"] = (0.5 * (dRp + dRm), 0.5 * (dpp + dpm))
    out["R"] = (np.broadcast_to(pri, S + (K,)), np.broadcast_to(R, S + (K,)))
    zero = np.zeros(S + (K,))
    if isinstance(model, GroupGMM):
        G = model.n_groups
        out["R_subgroup_bal"] = (np.full(S + (K,), 1.0 / K), zero)
        if G >= 2:
            e = np.zeros(K)
            e[0], e[1] = 1.0, -1.0
            out["DEO"] = (np.broadcast_to(e, S + (K,)), zero)
            s1 = np.sign(R[..., 0] - R[..., 1])
            s2 = np.sign(R[..., G] - R[..., G + 1])
            d = np.zeros(S + (K,))
            d[..., 0], d[..., 1] = 0.5 * s1, -0.5 * s1
            d[..., G], d[..., G + 1] = 0.5 * s2, -0.5 * s2
            out["symm_DEO"] = (d, zero)
        else:
            out["DEO"] = out["symm_DEO"] = (zero, zero)
        w = np.zeros(S + (K,))
        np.put_along_axis(w, np.argmax(R, axis=-1)[..., None], 1.0, axis=-1)
        out["worst"] = (w, zero)
    return out


def _solve_system(model, gamma, margins, intercept, rho, beta, u):
    """Jacobian of the KKT system and its parameter derivatives at the
    solution; returns dz/dtheta for z = (c, [beta], u), theta = (margins K,
    gamma, priors K, gram K*K), flattened over points (P, n, n_theta), and
    the per-point t, c."""
    A, pri, lab = model.factor, model.priors, model.labels
    Sg = model.gram
    K = model.n_clusters
    P = gamma.shape[0]
    m = rho @ A.T                                     # (P, K) = Sigma c
    t = lab * (m + beta[:, None]) - margins * u[:, None]
    f, f1, f2 = F(t), dF(t), d2F(t)
    c = -pri * lab * f1 / (2 * gamma[:, None])        # stationarity: rho = A^T c
    n = K + 1 + (1 if intercept else 0)
    ib, iu = K, n - 1
    J = np.zeros((P, n, n))
    g2 = 2 * gamma[:, None]
    # E_c,k
    J[:, :K, :K] = np.eye(K) + (pri * f2 / g2)[:, :, None] * Sg[None]
    if intercept:
        J[:, :K, ib] = pri * f2 / g2
    J[:, :K, iu] = -pri * lab * f2 * margins / g2
    # E_beta
    if intercept:
        J[:, ib, :K] = (pri * f2) @ Sg
        J[:, ib, ib] = (pri * f2).sum(-1)
        J[:, ib, iu] = -(pri * lab * f2 * margins).sum(-1)
    # E_H
    J[:, iu, :K] = (pri * f1 * lab) @ Sg + 2 * gamma[:, None] * (c @ Sg)
    if intercept:
        J[:, iu, ib] = (pri * f1 * lab).sum(-1)
    J[:, iu, iu] = -(pri * f1 * margins).sum(-1)
    # parameter derivatives: margins (K), gamma (1), priors (K), gram (K*K)
    nt = K + 1 + K + K * K
    D = np.zeros((P, n, nt))
    uu = u[:, None]
    idx = np.arange(K)
    D[:, idx, idx] = -uu * pri * lab * f2 / g2                       # d E_c,k / d Delta_k
    if intercept:
        D[:, ib, :K] = -uu * pri * lab * f2
    D[:, iu, :K] = -uu * pri * f1
    D[:, :K, K] = c / gamma[:, None]                                  # d E_c / d gamma
    D[:, iu, K] = (c * (c @ Sg)).sum(-1) - 1.0
    D[:, idx, K + 1 + idx] = lab * f1 / g2                            # d E_c,k / d pi_k
    if intercept:
        D[:, ib, K + 1:2 * K + 1] = lab * f1
    D[:, iu, K + 1:2 * K + 1] = f
    # gram, entries (a, b) as independent: d m_k / d Sigma_ab = delta_ka c_b; d(c'Sc)/dSigma_ab = c_a c_b
    og = 2 * K + 1
    for a in range(K):
        for b in range(K):
            col = og + a * K + b
            D[:, a, col] = pri[a] * f2[:, a] / g2[:, 0] * c[:, b]      # via t_a (y_a^2 = 1)
            if intercept:
                D[:, ib, col] = pri[a] * f2[:, a] * c[:, b]
            D[:, iu, col] = pri[a] * f1[:, a] * lab[a] * c[:, b] + gamma * c[:, a] * c[:, b]
    dz = -np.linalg.solve(J, D)
    return dz, t, c, m


def sensitivity(result) -> Sensitivity:
    r"""Exact derivatives of every output of a max-margin result
    (:func:`~asymptotics.max_margin`, :func:`~asymptotics.cs_svm`,
    :func:`~asymptotics.gs_svm`) with respect to the margins, gamma, the
    priors and the Gram matrix of the means (module docstring; layout in
    :class:`Sensitivity`), or of a regularised-ERM result
    (:func:`~asymptotics.erm`) with respect to lam, gamma and each
    cluster's loss parameters omega, iota, Delta.  Isotropic features;
    points that are not separable (ERM: without a smooth minimiser) get NaN.

    Examples
    --------
    >>> import asymptotics as asy
    >>> m = asy.LabelGMM.antipodal(0.1, 2.0)
    >>> s = asy.sensitivity(asy.cs_svm(m, 2.0, 3.0))
    >>> round(float(s["R_bal"]["delta"]), 6)
    -0.01945
    """
    from .erm import ERMResult
    from .group import GSSVMResult
    from .label import CSSVMResult
    from .results import MaxMarginResult

    if isinstance(result, ERMResult):
        return _erm_sensitivity(result)
    if not isinstance(result, (MaxMarginResult, CSSVMResult, GSSVMResult)):
        raise ValueError(f"result must be a max_margin, cs_svm, gs_svm or erm result, got {type(result).__name__}")
    model = result.model
    if model._cov is not None:
        raise NotSupportedError("result: sensitivities of covariance models are not implemented")
    K = model.n_clusters
    S = np.shape(result.q)
    if isinstance(result, CSSVMResult):
        margins = np.stack(np.broadcast_arrays(np.asarray(result.delta, float), np.ones(S)), axis=-1)
    elif isinstance(result, GSSVMResult):
        margins = np.asarray(result.margins, float).reshape(S + (K,))
    else:
        margins = np.asarray(result.margins, float)
    gamma = np.asarray(result.gamma, float).reshape(-1)
    P = gamma.size
    margins = np.broadcast_to(margins, S + (K,)).reshape(P, K)
    q = np.asarray(result.q, float).reshape(P)
    b = np.asarray(result.b, float).reshape(P)
    rho = np.asarray(result.rho, float).reshape(P, -1)
    intercept = bool(result.intercept)
    u = 1.0 / q
    beta = b * u
    ok = np.isfinite(q)
    dz = np.full((P, K + 1 + intercept, 2 * K + 1 + K * K), np.nan)
    m = np.full((P, K), np.nan)
    if ok.any():
        dz_ok, _, _, m_ok = _solve_system(model, gamma[ok], margins[ok], intercept, rho[ok], beta[ok], u[ok])
        dz[ok], m[ok] = dz_ok, m_ok
    Sg = model.gram
    dc, du = dz[:, :K, :], dz[:, -1, :]
    dbeta = dz[:, K, :] if intercept else np.zeros_like(du)
    # projections m = Sigma c: dm = Sigma dc (+ dSigma c for the gram columns)
    dm = np.einsum("kl,plt->pkt", Sg, dc)
    og = 2 * K + 1
    lab = model.labels
    with np.errstate(invalid="ignore"):
        c = -model.priors * lab * dF(lab * (m + beta[:, None]) - margins * u[:, None]) / (2 * gamma[:, None])
    for a in range(K):
        for bb in range(K):
            dm[:, a, og + a * K + bb] += c[:, bb]
    arg = lab * (m + beta[:, None])
    R = Q(arg)
    dR = -(phi(arg) * lab)[:, :, None] * (dm + dbeta[:, None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        hazard = np.exp(-0.5 * arg ** 2 - 0.5 * np.log(2 * np.pi) - np.asarray(result.log_errors).reshape(P, K))
    dlogR = -(hazard * lab)[:, :, None] * (dm + dbeta[:, None, :])
    dq = -du / u[:, None] ** 2
    db = dbeta / u[:, None] - beta[:, None] * du / u[:, None] ** 2
    outputs = {"q": dq, "b": db, "projections": dm, "errors": dR, "log_errors": dlogR}
    for name, (dmR, dmpi) in _metric_jacobian(model, R).items():
        d = np.einsum("pk,pkt->pt", dmR, dR)
        d[:, K + 1:2 * K + 1] += dmpi
        outputs[name] = d
    if isinstance(model, GroupGMM):
        outputs["R_yg"] = dR.reshape(P, 2, model.n_groups, -1)

    def split(arr):
        """(P, ..., n_theta) -> {wrt: S + ... + wrt_shape}, gram symmetrised."""
        tail = arr.shape[1:-1]
        gram = arr[..., og:].reshape((P,) + tail + (K, K))
        gram = 0.5 * (gram + np.swapaxes(gram, -1, -2))
        out = {"margins": arr[..., :K].reshape(S + tail + (K,)), "gamma": arr[..., K].reshape(S + tail),
               "priors": arr[..., K + 1:og].reshape(S + tail + (K,)), "gram": gram.reshape(S + tail + (K, K))}
        if isinstance(result, CSSVMResult):
            out["delta"] = arr[..., 0].reshape(S + tail)
        elif isinstance(result, GSSVMResult):
            G = model.n_groups
            out["delta"] = (arr[..., 0] + arr[..., G]).reshape(S + tail)      # group 1 in both classes
        return out

    return Sensitivity({name: split(arr) for name, arr in outputs.items()})


def _erm_sensitivity(result) -> Sensitivity:
    r"""Derivatives of a regularised-ERM result with respect to lam, gamma
    and each cluster's loss parameters: the engine's analytic Jacobian J of
    (S1)-(S4) at the solution and dz = -J^{-1} dF, with dF/dlam = (0, ...,
    -V/gamma) and dF/dgamma from the explicit gamma in (S1)-(S3)
    (docs/erm.md).  The loss parameters enter F only through the Gaussian
    moments of the proximal map, so dF/d(omega_k, iota_k, Delta_k) is a
    central difference of cluster k's moments at the fixed solution z
    (relative step 1e-5, error ~1e-10: the moments are smooth in the
    parameters and evaluated to rounding), not of the solver."""
    from . import _erm_engine as eng
    from .erm import LAM_KINK
    from .losses import VS

    model = result.model
    if model._cov is not None:
        raise NotSupportedError("result: sensitivities of covariance models are not implemented")
    K = model.n_clusters
    S = np.shape(result.q)
    P = int(np.prod(S)) if S else 1
    A, pri, lab = model._kernel_args
    r = A.shape[1]
    cl = result.loss
    kind, om, io, De = (np.array(a) for a in (cl.kind, cl.omega, cl.iota, cl.Delta))
    intercept = bool(result.intercept)
    n = r + 2 + (1 if intercept else 0)
    q = np.asarray(result.q, float).reshape(P)
    theta = np.asarray(result.rho, float).reshape(P, r) * q[:, None]
    alpha = np.asarray(result.alpha, float).reshape(P)
    b = np.asarray(result.b, float).reshape(P)
    V = np.asarray(result.V, float).reshape(P)
    gam = np.asarray(result.gamma, float).reshape(P)
    lam = np.asarray(result.lam, float).reshape(P)
    status = np.asarray(result.status).reshape(P)
    T = 2 + 3 * K                                     # columns: lam, gamma, omega_k, iota_k, Delta_k
    dz = np.full((P, n, T), np.nan)
    F, J, mom, scales = np.empty(n), np.empty((n, n)), np.empty((K, eng.NMOM)), np.empty(4)
    work = eng._make_work(K, n)
    b0 = cl.kink_intercept(model.priors, model.labels) if intercept else None
    shifted = cl.shifted(model.labels, b0) if b0 is not None else None
    b = b.copy()
    for p in range(P):
        if status[p] != 0:
            continue          # NaN where there is no minimiser, and at the non-smooth w = 0 minimiser
        z = np.concatenate([theta[p], [np.log(alpha[p])], [b[p]] if intercept else [], [np.log(V[p])]])
        arrays = (kind, om, io, De)
        if shifted is not None and lam[p] >= LAM_KINK:
            # solved relative to a hinge kink (ClusterLosses.kink_intercept): differentiate there too, after
            # restoring the digits of b - b0 that the result's b does not hold (a Newton polish)
            arrays = shifted
            z[r + 1] -= b0
            eng.newton(A, pri, lab, *arrays, gam[p], lam[p], intercept, z, 8, eng.TOL, work, None)
            b[p] = b0 + z[r + 1]
        eng.system(A, pri, lab, *arrays, gam[p], lam[p], intercept, z, F, J, mom, scales, False, None)
        rhs = np.zeros((n, T))
        rhs[n - 1, 0] = -V[p] / gam[p]
        rhs[:r, 1] = theta[p] / (gam[p] * scales[0])
        rhs[r, 1] = 1.0 / gam[p]
        rhs[n - 1, 1] = 1.0 / gam[p]
        eng.loss_parameter_rhs(A, pri, lab, *arrays, gam[p], intercept, z, scales, rhs[:, 2:], mom)
        if arrays is shifted:
            # at fixed b0, a VS cluster's shifted offset iota - Delta y b0 moves with its Delta too
            vs = np.flatnonzero(kind == VS)
            rhs[:, 2 + 2 * K + vs] -= rhs[:, 2 + K + vs] * (lab[vs] * b0)
        dz[p] = -np.linalg.solve(J, rhs)
    dtheta, dla, dlv = dz[:, :r, :], dz[:, r, :], dz[:, n - 1, :]
    db = dz[:, r + 1, :] if intercept else np.zeros_like(dla)
    dq = (np.einsum("pr,prt->pt", theta, dtheta) + (alpha ** 2)[:, None] * dla) / q[:, None]
    C = lab * (theta @ A.T + b[:, None])
    dC = lab[None, :, None] * (np.einsum("kr,prt->pkt", A, dtheta) + db[:, None, :])
    arg = C / q[:, None]
    darg = dC / q[:, None, None] - (C / q[:, None] ** 2)[:, :, None] * dq[:, None, :]
    dR = -phi(arg)[:, :, None] * darg
    logs = np.asarray(result.log_errors, float).reshape(P, K)
    with np.errstate(over="ignore", invalid="ignore"):
        dlogR = -np.exp(-0.5 * arg ** 2 - 0.5 * np.log(2 * np.pi) - logs)[:, :, None] * darg
    outputs = {"q": dq, "b": db, "V": V[:, None] * dlv, "alpha": alpha[:, None] * dla,
               "projections": np.einsum("kr,prt->pkt", A, dtheta / q[:, None, None])
               - (theta @ A.T / q[:, None] ** 2)[:, :, None] * dq[:, None, :],
               "errors": dR, "log_errors": dlogR}
    for name, (dmR, _) in _metric_jacobian(model, Q(arg)).items():
        outputs[name] = np.einsum("pk,pkt->pt", dmR, dR)
    if isinstance(model, GroupGMM):
        outputs["R_yg"] = dR.reshape(P, 2, model.n_groups, T)

    def split(arr):
        tail = arr.shape[1:-1]
        out = {"lam": arr[..., 0].reshape(S + tail), "gamma": arr[..., 1].reshape(S + tail)}
        for j, par in enumerate(("omega", "iota", "Delta")):
            out[par] = arr[..., 2 + j * K: 2 + (j + 1) * K].reshape(S + tail + (K,))
        return out

    return Sensitivity({name: split(arr) for name, arr in outputs.items()})
