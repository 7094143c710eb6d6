r"""High-precision (mpmath) reference for the deployment metrics of a
Gaussian score mixture, independent of :mod:`asymptotics.performance`.

Setting: within cluster ``k`` the test score is :math:`s \sim N(\mu_k,
\sigma^2)`; the cluster has label :math:`y_k \in \{+1,-1\}` and prior
:math:`\pi_k`.  The classifier predicts ``+1`` iff ``s > t``.  A deployment
prior ``p = P(y=+1)`` re-weights the clusters class by class (the
within-class mixture is unchanged), so ``tpr``, ``fpr`` and ``auc`` do not
depend on ``p``, while everything that mixes the classes does.

Methods (no pairwise-Phi closed form anywhere):

* the class-conditional tails are sums of Gaussian tails evaluated with
  ``mpmath.erfc`` directly on each side (``tnr`` and ``fnr`` are computed as
  lower tails, not as ``1 - fpr`` / ``1 - tpr``, so nothing cancels);
* ``auc`` :math:`= \int \mathrm{TPR}(t)\, f_-(t)\,dt` and ``auprc``
  :math:`= \int \mathrm{prec}(t)\, f_+(t)\,dt` by tanh-sinh ``mpmath.quad``
  over the whole real line, split at every cluster mean and at ``6 sigma``
  either side of it (so every finite piece sees a Gaussian bump on its own
  scale and the two infinite pieces are pure tails).

Everything is evaluated at ``dps + 15`` digits and rounded to ``dps``.
"""
from __future__ import annotations

import numbers

import mpmath as mp

__all__ = ["reference_metrics"]

# Offsets (in units of sigma) around each mean at which the quadrature splits.
_SPLIT_OFFSETS = (-6, 0, 6)
_GUARD_DIGITS = 15
_METHOD = "tanh-sinh"


def _real(value, name: str):
    """A finite real number as an mpf (bools, strings, complex refused)."""
    if isinstance(value, bool) or not isinstance(value, (numbers.Real, mp.mpf)):
        try:
            import numpy as np
            if isinstance(value, np.generic) and value.dtype.kind in "iuf":
                value = value.item()
            else:
                raise TypeError
        except (ImportError, TypeError):
            raise ValueError(f"{name} must be a real number, got {value!r}") from None
    x = mp.mpf(value)
    if not mp.isfinite(x):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return x


def _vector(values, name: str) -> list:
    try:
        items = list(values.tolist() if hasattr(values, "tolist") else values)
    except TypeError:
        raise ValueError(f"{name} must be a 1-d sequence of numbers, got {values!r}") from None
    return [_real(v, f"{name}[{i}]") for i, v in enumerate(items)]


def _tail(x):
    """P(G > x), G standard normal, accurate in both tails."""
    return mp.erfc(x / mp.sqrt(2)) / 2


def reference_metrics(means, sigma, labels, priors, threshold=0.0, test_prior=None, dps=30) -> dict:
    """Deployment metrics of the score mixture, as mpmath numbers rounded to
    ``dps`` digits.

    Keys: ``tpr, fpr, tnr, fnr, accuracy, balanced_accuracy, precision,
    recall, f1, npv, mcc, auc, auprc``.  ``test_prior`` is the deployment
    ``P(y=+1)`` in (0, 1) (default: the training mass of the ``+1``
    clusters); ``priors`` must be positive and sum to 1 (to 1e-9; they are
    then normalised exactly).
    """
    if isinstance(dps, bool) or not isinstance(dps, numbers.Integral) or not 10 <= int(dps) <= 1000:
        raise ValueError(f"dps must be an integer in [10, 1000], got {dps!r}")
    dps = int(dps)
    with mp.workdps(dps + _GUARD_DIGITS):
        mu = _vector(means, "means")
        pri = _vector(priors, "priors")
        try:
            lab = list(labels.tolist() if hasattr(labels, "tolist") else labels)
        except TypeError:
            raise ValueError(f"labels must be a 1-d sequence of +1/-1, got {labels!r}") from None
        K = len(mu)
        if K == 0:
            raise ValueError("means must hold at least one cluster per class, got none")
        if len(lab) != K or len(pri) != K:
            raise ValueError(f"means, labels, priors must have the same length, got {K}, {len(lab)}, {len(pri)}")
        if any(isinstance(v, bool) or v not in (1, -1) for v in lab):
            raise ValueError(f"labels must be +1 or -1, got {lab!r}")
        lab = [int(v) for v in lab]
        if 1 not in lab or -1 not in lab:
            raise ValueError(f"labels must contain both classes (+1 and -1), got {lab!r}")
        if any(w <= 0 for w in pri):
            raise ValueError(f"priors must be > 0, got {[float(w) for w in pri]!r}")
        total = mp.fsum(pri)
        if abs(total - 1) > mp.mpf("1e-9"):
            raise ValueError(f"priors must sum to 1, got sum {float(total)!r}")
        pri = [w / total for w in pri]
        s = _real(sigma, "sigma")
        if s <= 0:
            raise ValueError(f"sigma must be > 0, got {sigma!r}")
        t = _real(threshold, "threshold")
        pos = [k for k in range(K) if lab[k] == 1]
        neg = [k for k in range(K) if lab[k] == -1]
        mass_pos = mp.fsum(pri[k] for k in pos)
        if test_prior is None:
            p = mass_pos
        else:
            p = _real(test_prior, "test_prior")
            if not 0 < p < 1:
                raise ValueError(f"test_prior must be in (0, 1), got {test_prior!r}")
        q = 1 - p
        # within-class weights (independent of p)
        w_pos = [(mu[k], pri[k] / mass_pos) for k in pos]
        mass_neg = mp.fsum(pri[k] for k in neg)
        w_neg = [(mu[k], pri[k] / mass_neg) for k in neg]

        def upper(ws, x):      # P(s > x | class)
            return mp.fsum(w * _tail((x - m) / s) for m, w in ws)

        def lower(ws, x):      # P(s <= x | class)
            return mp.fsum(w * _tail((m - x) / s) for m, w in ws)

        norm = 1 / (s * mp.sqrt(2 * mp.pi))

        def dens(ws, x):       # class-conditional density
            return mp.fsum(w * mp.exp(-((x - m) / s) ** 2 / 2) for m, w in ws) * norm

        tpr, fnr = upper(w_pos, t), lower(w_pos, t)
        fpr, tnr = upper(w_neg, t), lower(w_neg, t)
        TP, FN, FP, TN = p * tpr, p * fnr, q * fpr, q * tnr
        if TP + FP == 0:
            raise ValueError("precision undefined: nothing is predicted positive")
        if TN + FN == 0:
            raise ValueError("npv undefined: nothing is predicted negative")
        precision = TP / (TP + FP)
        npv = TN / (TN + FN)
        recall = tpr
        f1 = 2 * precision * recall / (precision + recall)
        mcc = (TP * TN - FP * FN) / mp.sqrt((TP + FP) * (TP + FN) * (TN + FP) * (TN + FN))

        nodes = sorted({m + j * s for m in mu for j in _SPLIT_OFFSETS})
        line = [mp.ninf] + nodes + [mp.inf]

        # Both integrals use the same tanh-sinh nodes: evaluate the class
        # tails and densities once per node.
        # Nodes farther than L sigma from every mean are skipped: both
        # integrands are at most a class density, whose mass there is at most
        # 2 Q(L) < 10^-(working dps), so this only saves evaluating erfc at
        # the huge arguments the tanh-sinh tails reach.
        cache = {}
        far = mp.sqrt(2 * (mp.mp.dps + 2) * mp.log(10)) * s
        zeros = (mp.mpf(0), mp.mpf(0), mp.mpf(0), mp.mpf(0))

        def at(x):
            key = x._mpf_ if isinstance(x, mp.mpf) else x
            got = cache.get(key)
            if got is None:
                if min(abs(x - m) for m in mu) > far:
                    got = zeros
                else:
                    got = (upper(w_pos, x), upper(w_neg, x), dens(w_pos, x), dens(w_neg, x))
                cache[key] = got
            return got

        def auc_integrand(x):
            up, _, _, fn = at(x)
            return up * fn

        def prc_integrand(x):
            up, un, fp, _ = at(x)
            if fp == 0:
                return fp
            a, b = p * up, q * un
            return fp * a / (a + b) if a + b != 0 else mp.mpf(0)

        auc, err_auc = mp.quad(auc_integrand, line, method=_METHOD, error=True)
        auprc, err_prc = mp.quad(prc_integrand, line, method=_METHOD, error=True)
        if max(err_auc, err_prc) > mp.mpf(10) ** (-dps - 2):
            raise ArithmeticError(f"quadrature did not converge to {dps} digits "
                                  f"(error estimates {float(err_auc):.1e}, {float(err_prc):.1e})")

        out = {
            "tpr": tpr, "fpr": fpr, "tnr": tnr, "fnr": fnr,
            "accuracy": TP + TN, "balanced_accuracy": (tpr + tnr) / 2,
            "precision": precision, "recall": recall, "f1": f1, "npv": npv,
            "mcc": mcc, "auc": auc, "auprc": auprc,
        }
    with mp.workdps(dps):
        return {k: +v for k, v in out.items()}
