"""Tables of predictions for the paper's settings (``asymptotics paper``)."""
from __future__ import annotations

import numpy as np

from .tables import text_table
from .label import cs_svm
from .models import LabelGMM
from .plotting import fig2_means
from .solver import separability_threshold
from .tuning import delta_min_error, delta_star

FIG2_SEED = 0


def fig2_model(seed: int = FIG2_SEED, dim: int = 300) -> LabelGMM:
    """The paper's Fig. 2 mixture: pi = 0.1, Gaussian random mean directions
    in R^300 scaled to |mu+| = 4, |mu-| = 2 (directions drawn with ``seed``)."""
    return LabelGMM(0.1, *fig2_means(dim, seed))


def _fmt(x) -> str:
    x = float(x)
    if x == np.inf:
        return "inf"
    return f"{x:.4g}"


def _table(rows, header) -> str:
    return text_table(header, [[_fmt(c) if not isinstance(c, str) else c for c in r] for r in rows])


def paper_table() -> str:
    """Predictions for the settings of the paper's Figs. 2(a) and 3(a)."""
    out = []
    m = fig2_model()
    n = 100
    out.append("Fig. 2(a) setting: n = 100, pi = 0.1, |mu+| = 4, |mu-| = 2 (random directions in R^300,\n"
               f"seed {FIG2_SEED}); the classifier sees the first p features, gamma = p/n.  Intercept on.")
    rows = []
    for p in (25, 50, 75, 100, 150, 200, 300):
        sub = m.restrict(p)
        gamma = p / n
        gs = separability_threshold(sub)
        if gamma <= gs:
            rows.append([str(p), gamma, gs, "not separable", "", "", ""])
            continue
        svm = cs_svm(sub, gamma, 1.0)
        d = delta_star(sub, gamma)
        rows.append([str(p), gamma, gs, svm.R_bal, d.delta, d.R_bal, d.R])
    out.append(_table(rows, ["p", "gamma", "gamma*", "R_bal SVM", "delta*", "R_bal CS-SVM", "R CS-SVM"]))
    out.append("delta* = inf: no finite delta balances R+ and R-; the errors shown are the limit delta -> inf.")

    m3 = LabelGMM.antipodal(0.05, 2.0)
    out.append("\nFig. 3(a) setting: pi = 0.05, antipodal means |mu| = 2, intercept on.  "
               f"gamma* = {separability_threshold(m3):.4g}")
    rows = []
    for gamma in (0.5, 1.0, 2.0, 5.0, 10.0):
        svm = cs_svm(m3, gamma, 1.0)
        d = delta_star(m3, gamma)
        e = delta_min_error(m3, gamma)
        rows.append([gamma, svm.R, svm.R_bal, d.delta, d.R_bal, d.R, e.delta, e.R])
    out.append(_table(rows, ["gamma", "R SVM", "R_bal SVM", "delta*", "R_bal(delta*)", "R(delta*)",
                             "argmin_d R", "min R"]))
    return "\n".join(out)
