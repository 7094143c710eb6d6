"""`figures --quick` writes every figure, and the plotted theory is the API's."""
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest

import asymptotics as asy
from asymptotics import plotting

FILES = ["fig2a_balanced_error", "fig2a_four_panels", "fig2bc_training_dynamics", "fig3a_cs_svm_tradeoffs",
         "fig3b_gs_svm_tradeoffs", "erm_regularisation_path", "erm_across_threshold"]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("figs")
    proc = subprocess.run([sys.executable, "-m", "asymptotics", "figures", "--quick", "--out", str(out),
                           "--jobs", "2", "--json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return out, json.loads(proc.stdout)


def test_quick_figures_write_every_file(quick):
    out, rows = quick
    assert [r["figure"] for r in rows] == ["fig2a", "fig2bc", "fig3a", "fig3b", "erm_path", "erm_gamma"]
    for name in FILES:
        for ext in ("png", "pdf"):
            f = out / f"{name}.{ext}"
            assert f.exists() and f.stat().st_size > 10_000, f


def test_fig3_theory_curves_are_the_api(tmp_path):
    warnings.simplefilter("ignore", asy.DeltaWarning)
    a = plotting.figure_3a(out=tmp_path, quick=True, n_jobs=1)
    for g in a["gammas"]:
        s = asy.cs_svm(plotting.FIG3A_MODEL, g, a["deltas"])
        np.testing.assert_allclose(a["theory"][g]["R_bal"], s.R_bal, rtol=1e-13)
        np.testing.assert_allclose(a["theory"][g]["imbalance"], s.R_plus - s.R_minus, rtol=1e-12, atol=1e-15)
        assert a["theory"][g]["delta_star"] == float(asy.delta_star(plotting.FIG3A_MODEL, g).delta)
    b = plotting.figure_3b(out=tmp_path, quick=True, n_jobs=1)
    model = plotting.fig3b_model()
    for g in b["gammas"]:
        t = asy.gs_svm(model, g, b["deltas"])
        np.testing.assert_allclose(b["theory"][g]["DEO"], t.DEO, rtol=1e-13)
        assert b["theory"][g]["delta_0"] == asy.delta_equal_opportunity(model, g).delta
    # the paper's §4 statements hold in the chosen setting
    d0 = [b["theory"][g]["delta_0"] for g in b["gammas"]]
    assert np.all(np.diff(d0) > 0)                        # delta_0 grows with gamma
    for g in b["gammas"]:
        assert np.argmax(b["theory"][g]["DEO"]) == 0      # largest DEO at the SVM
        assert np.argmin(b["theory"][g]["R"]) == 0        # smallest error at the SVM
        assert np.all(np.diff(b["theory"][g]["R"]) > 0)   # error traded for fairness


def test_fig2a_theory_is_the_api(tmp_path):
    warnings.simplefilter("ignore", asy.DeltaWarning)
    a = plotting.figure_2a(out=tmp_path, quick=True, n_jobs=2)
    model = a["model"]
    for p in (60, 150, 300):
        sub, g = model.restrict(p), p / a["n"]
        assert a["theory"]["svm_R_bal"][p - 1] == pytest.approx(float(asy.cs_svm(sub, g, 1.0, intercept=False).R_bal),
                                                                 rel=1e-12)
        used = a["theory"]["delta_used"][p - 1]
        assert a["theory"]["cs_R_bal"][p - 1] == pytest.approx(float(asy.cs_svm(sub, g, used, intercept=False).R_bal),
                                                                rel=1e-12)
    # shaded edge: the first gamma = p/n above gamma_star of the model seen with p features
    p_edge = int(round(a["edge"] * a["n"]))
    assert p_edge / 100 > asy.separability_threshold(model.restrict(p_edge), intercept=False)
    assert (p_edge - 1) / 100 <= asy.separability_threshold(model.restrict(p_edge - 1), intercept=False)
    # the CS-SVM beats the SVM on balanced error wherever both exist
    ok = ~np.isnan(a["theory"]["svm_R_bal"])
    assert np.all(a["theory"]["cs_R_bal"][ok] <= a["theory"]["svm_R_bal"][ok] + 1e-12)
    # below the edge: the lam = 0 minimisers of the trained losses, and only there
    for name, loss in (("LA", asy.vs_preset("LA", 0.1)), ("LDAM", asy.vs_preset("LDAM", 0.1))):
        line = a["theory"][f"erm0_{name}_R_bal"]
        assert np.all(np.isnan(line[ok])) and not np.any(np.isnan(line[~ok]))
        p = 20
        r = asy.erm(model.restrict(p), p / a["n"], loss, 0.0, intercept=False)
        assert line[p - 1] == pytest.approx(float(r.R_bal), rel=1e-12)


def test_erm_figures_are_the_api(tmp_path):
    a = plotting.figure_regularisation_path(out=tmp_path, quick=True, n_jobs=2)
    m = plotting.ERM_MODEL
    for name, loss in (("CE", "CE"), ("CDT", ("CDT", a["delta_star"]))):
        np.testing.assert_allclose(a["paths"][name].erm.R_bal, asy.erm(m, 1.0, loss, a["lams"]).R_bal, rtol=1e-12)
    # Theorem 1 made visible: the CDT path ends near the CS-SVM, CE near the SVM
    assert abs(a["paths"]["CDT"].erm.R_bal[-1] - a["cs"].R_bal) < 0.01
    assert abs(a["paths"]["CE"].erm.R_bal[-1] - a["svm"].R_bal) < 0.02
    b = plotting.figure_erm_gamma(out=tmp_path, quick=True, n_jobs=2)
    np.testing.assert_allclose(b["curves"][("CE", 1e-3)], asy.erm(m, b["gammas"], "CE", 1e-3).R_bal, rtol=1e-12)
    below, line = b["curves"][("CE", 0.0)]
    assert below.max() < b["gamma_star"]
    np.testing.assert_allclose(line, asy.erm(m, below, "CE", 0.0).R_bal, rtol=1e-12)
