"""docs/theory.md states what the code computes (its formulas are checked
against the code here), the package docstrings point to it, help(asymptotics)
is a map of the package, and no file points at notes a reader cannot see."""
import pathlib
import re

import mpmath
import numpy as np
import pytest
from scipy.stats import norm

import asymptotics as asy
from asymptotics import gaussian

ROOT = pathlib.Path(__file__).resolve().parents[1]
THEORY = (ROOT / "docs" / "theory.md").read_text()

# Files that still cite the private design notes; the replacements are in the
# lead's hands (see the report of the CLI/repo task).  Empty this set once
# they are applied: the test then guards every file.
PENDING: set = set()


def test_theory_page_covers_the_mathematics():
    for needle in ("K-cluster", "F(t) = E[(G + t)₋²] = (1 + t²) Φ(−t) − t φ(t)", "maximise u", "γ⋆ = min",
                   "Shift identity", "t⋆ = q₁ (ℓ₋ − ℓ₊)/2", "δ⋆ = (1 + t⋆)/(1 − t⋆)", "DEO", "symm_DEO", "worst",
                   "R_{y,g}", "(covariance.md)", "(erm.md)", "NotSeparableError"):
        assert needle in THEORY, needle
    for n in range(1, 8):
        assert re.search(rf"^## {n}\. ", THEORY, re.M), f"section {n}"


def test_theory_kernel_is_the_code():
    mpmath.mp.dps = 40
    for t in np.linspace(-8, 8, 81):
        x = mpmath.mpf(float(t))
        Phi, phi = mpmath.ncdf(-x), mpmath.npdf(x)
        assert gaussian.F(t) == pytest.approx(float((1 + x ** 2) * Phi - x * phi), rel=1e-12)
        assert gaussian.dF(t) == pytest.approx(float(2 * x * Phi - 2 * phi), rel=1e-12)
    assert gaussian.F(0.0) == pytest.approx(0.5)                 # Cover's threshold
    assert asy.separability_threshold(asy.LabelGMM(0.5, [0.0], [0.0])) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("prior,mp,mm,gamma", [(0.1, [4, 0], [0, 2], 2.0), (0.05, [2], [-2], 1.0),
                                               (0.25, [3, 1], [-1, 2], 0.5), (0.2, [2, 0], [0, 1.5], 1.0)])
def test_theory_closed_forms_are_the_code(prior, mp, mm, gamma):
    m = asy.LabelGMM(prior, mp, mm)
    s1 = asy.cs_svm(m, gamma, 1.0)
    a_plus, a_minus = s1.projections
    q1, beta1 = float(s1.q), float(s1.b / s1.q)
    # the errors of §2
    assert float(s1.R_plus) == pytest.approx(norm.sf(a_plus + beta1), rel=1e-12)
    assert float(s1.R_minus) == pytest.approx(norm.sf(-a_minus - beta1), rel=1e-12)
    # the shift identity of §3
    for delta in (0.5, 3.0):
        s = asy.cs_svm(m, gamma, delta)
        assert float(s.q) == pytest.approx((delta + 1) / 2 * q1, rel=1e-9)
        assert float(s.b / s.q) == pytest.approx(beta1 + (delta - 1) / (delta + 1) / q1, rel=1e-9, abs=1e-12)
    # delta* in closed form
    l_plus, l_minus = a_plus + beta1, -a_minus - beta1
    t = q1 * (l_minus - l_plus) / 2
    d = asy.delta_star(m, gamma)
    assert float(d.delta) == pytest.approx((1 + t) / (1 - t), rel=1e-9)
    assert float(d.R_bal) == pytest.approx(norm.sf((l_plus + l_minus) / 2), rel=1e-9)
    # the delta minimising R
    D = a_plus - a_minus
    X = D / 2 - np.log((1 - prior) / prior) / D
    te = q1 * ((X - a_plus) - beta1)
    assert float(asy.delta_min_error(m, gamma).delta) == pytest.approx((1 + te) / (1 - te), rel=1e-9)


def test_group_metrics_are_the_theory_page():
    g = asy.GroupGMM(0.3, 0.1, [2, 0], [0.5, 1.5])
    t = asy.gs_svm(g, 1.5, 4.0)
    R = t.R_yg
    assert float(t.DEO) == pytest.approx(R[0, 0] - R[0, 1])
    assert float(t.symm_DEO) == pytest.approx((abs(R[0, 0] - R[0, 1]) + abs(R[1, 0] - R[1, 1])) / 2)
    assert float(t.worst) == pytest.approx(R.max())
    r_plus, r_minus = R @ g.group_priors
    assert float(t.R) == pytest.approx(0.3 * r_plus + 0.7 * r_minus)
    assert float(t.R_bal) == pytest.approx((r_plus + r_minus) / 2)
    assert float(t.R_subgroup_bal) == pytest.approx(R.mean())


def test_help_asymptotics_is_a_map_of_the_package():
    doc = asy.__doc__
    for needle in ("docs/theory.md", "cs_svm", "gs_svm", "max_margin", "separability_threshold", "delta_star",
                   "delta_equal_opportunity", "erm", "covariance", "Spectrum", "monte_carlo", "simulate",
                   "suggest_delta", "CostSensitiveSVC", "make_all", "Command line", "python -m asymptotics"):
        assert needle in doc, needle
    import asymptotics.cli
    import asymptotics.paper
    import asymptotics.plotting
    for mod in (asymptotics.cli, asymptotics.paper, asymptotics.plotting):
        assert "docs/theory.md" in mod.__doc__


def test_no_references_to_private_notes():
    pattern = re.compile(r"DESIGN\s*§|/work/shared|the figures issue")
    found = set()
    for path in [*ROOT.glob("asymptotics/**/*.py"), *ROOT.glob("scripts/*.py"), *ROOT.glob("tests/*.py"),
                 *ROOT.glob("docs/*.md"), ROOT / "README.md"]:
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("tests/test_docs.py", "tests/test_readme.py"):     # they hold the patterns
            continue
        if pattern.search(path.read_text(errors="replace")):
            found.add(rel)
    assert found <= PENDING, f"new references to private notes in {sorted(found - PENDING)}"
