"""Tables of predictions for the paper's settings (``asymptotics paper``).

Each table is computed the way its figure is (same model, same intercept
convention; see :mod:`asymptotics.plotting`):

* ``fig2a`` -- the mismatch model of Fig. 2(a), **no intercept** (the trained
  models have none): gamma*, the SVM's balanced error, delta* and the
  CS-SVM's errors there, and the figure's CS-SVM line at min(delta*, 50);
* ``fig3a`` -- the CS-SVM **with an intercept** on ``plotting.FIG3A_MODEL``:
  delta* (closed form) and the delta minimising the standard error R;
* ``fig3b`` -- the GS-SVM **with an intercept** on ``plotting.fig3b_model()``:
  delta_0, where DEO = 0, against the SVM (delta = 1).

The mathematics: ``docs/theory.md``.
"""
from __future__ import annotations

import textwrap
import warnings

import numpy as np

from ._validation import _short
from .group import gs_svm
from .label import cs_svm
from .models import LabelGMM
from .plotting import FIG2_DELTA_CAP, FIG3A_MODEL, fig2_means, fig3b_model
from .solver import separability_threshold
from .tables import text_table
from .tuning import DeltaWarning, delta_equal_opportunity, delta_min_error, delta_star

__all__ = ["SETTINGS", "FIG2_SEED", "fig2_model", "paper_sections", "paper_rows", "paper_table"]

FIG2_SEED = 0
SETTINGS = ("fig2a", "fig3a", "fig3b")
_NAN = float("nan")


def fig2_model(seed: int = FIG2_SEED, dim: int = 300) -> LabelGMM:
    """The paper's Fig. 2 mixture: pi = 0.1, Gaussian random mean directions
    in R^300 scaled to |mu+| = 4, |mu-| = 2 (directions drawn with ``seed``)."""
    return LabelGMM(0.1, *fig2_means(dim, seed))


def _fig2a() -> dict:
    m, n = fig2_model(), 100
    rows = []
    for p in (25, 50, 75, 100, 150, 200, 300):
        sub, gamma = m.restrict(p), p / n
        gs = separability_threshold(sub, intercept=False)
        row = {"p": p, "gamma": gamma, "gamma_star": gs, "separable": bool(gamma > gs)}
        if gamma <= gs:
            row.update({"R_bal_svm": _NAN, "delta_star": _NAN, "attainable": False, "R_bal_delta_star": _NAN,
                        "R_delta_star": _NAN, "delta_plotted": _NAN, "R_bal_plotted": _NAN})
        else:
            d = delta_star(sub, gamma, intercept=False)
            used = min(float(d.delta), FIG2_DELTA_CAP) if d.delta > 0 else FIG2_DELTA_CAP
            row.update({"R_bal_svm": float(cs_svm(sub, gamma, 1.0, intercept=False).R_bal),
                        "delta_star": float(d.delta), "attainable": bool(d.attainable),
                        "R_bal_delta_star": float(d.R_bal), "R_delta_star": float(d.R),
                        "delta_plotted": used,
                        "R_bal_plotted": float(cs_svm(sub, gamma, used, intercept=False).R_bal)})
        rows.append(row)
    return {"setting": "fig2a", "rows": rows,
            "title": f"Fig. 2(a) setting: n = {n}, pi = 0.1, |mu+| = 4, |mu-| = 2 (random directions in R^300, seed "
                     f"{FIG2_SEED}); the classifier sees the first p features, gamma = p/n.  No intercept (as the "
                     "figure and the trained models).",
            "note": "gamma_star: separability threshold of the model seen with p features.  delta* minimises the "
                    "balanced error; delta* = inf (attainable False): R_bal keeps falling as delta -> inf, the "
                    f"errors shown are that limit.  The figure's CS-SVM line uses delta = min(delta*, "
                    f"{FIG2_DELTA_CAP:g}) (delta_plotted, R_bal_plotted).  p = 300 is the Fig. 2(b,c) setting."}


def _fig3a() -> dict:
    m = FIG3A_MODEL
    rows = []
    for gamma in (0.5, 1.0, 2.0, 5.0, 10.0):
        svm = cs_svm(m, gamma, 1.0)
        d = delta_star(m, gamma)
        e = delta_min_error(m, gamma)
        rows.append({"gamma": gamma, "R_svm": float(svm.R), "R_bal_svm": float(svm.R_bal),
                     "delta_star": float(d.delta), "R_bal_delta_star": float(d.R_bal), "R_delta_star": float(d.R),
                     "delta_min_R": float(e.delta), "R_min": float(e.R)})
    return {"setting": "fig3a", "rows": rows,
            "title": "Fig. 3(a) setting: CS-SVM, pi = 0.05, antipodal means |mu| = 2, intercept on.  "
                     f"gamma_star = {separability_threshold(m):.4g}",
            "note": "delta*: R+ = R- and R_bal is smallest (closed form); delta_min_R minimises the standard "
                    "error R (not delta = 1)."}


def _fig3b() -> dict:
    m = fig3b_model()
    rows = []
    for gamma in (0.5, 1.0, 2.0, 5.0):
        svm = gs_svm(m, gamma, 1.0)
        e = delta_equal_opportunity(m, gamma)
        rows.append({"gamma": gamma, "DEO_svm": float(svm.DEO), "R_svm": float(svm.R),
                     "worst_svm": float(svm.worst), "delta_0": float(e.delta), "attainable": bool(e.attainable),
                     "DEO_delta_0": float(e.DEO), "R_delta_0": float(e.R), "worst_delta_0": float(e.worst)})
    mu1, mu2 = m.group_means
    return {"setting": "fig3b", "rows": rows,
            "title": f"Fig. 3(b) setting: GS-SVM, class prior 1/2, minority-group prior p = 0.05, mu_1 = "
                     f"{mu1.tolist()}, mu_2 = {mu2.tolist()}, intercept on.  gamma_star = "
                     f"{separability_threshold(m):.4g}",
            "note": "delta_0: the minority group's margin with DEO = R_{+,1} - R_{+,2} = 0 (the SVM is delta = 1)."}


_BUILDERS = {"fig2a": _fig2a, "fig3a": _fig3a, "fig3b": _fig3b}


def paper_sections(settings=SETTINGS) -> list:
    """One dict per setting: ``setting``, ``title``, ``note`` and ``rows``
    (a list of dicts, NaN where a quantity does not exist)."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeltaWarning)
        for s in settings:
            if s not in _BUILDERS:
                raise ValueError(f"settings must be among {SETTINGS}, got {_short(s)}")
            out.append(_BUILDERS[s]())
    return out


def paper_rows(settings=SETTINGS) -> list:
    """The tables as one list of rows, each with its ``setting`` first
    (``asymptotics paper --json`` / ``--csv``)."""
    return [{"setting": sec["setting"], **row} for sec in paper_sections(settings) for row in sec["rows"]]


def _fmt(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(x)
    x = float(x)
    if x != x:
        return "-"
    if x == np.inf:
        return "inf"
    return f"{x:.4g}"


def paper_table(settings=SETTINGS) -> str:
    """Predictions for the settings of the paper's Figs. 2(a), 3(a) and 3(b), as text."""
    out = []
    for sec in paper_sections(settings):
        keys = list(sec["rows"][0])
        out.append(textwrap.fill(sec["title"], 100))
        out.append(text_table(keys, [[_fmt(r[k]) for k in keys] for r in sec["rows"]]))
        out.append(textwrap.fill(sec["note"], 100) + "\n")
    return "\n".join(out).rstrip("\n")
