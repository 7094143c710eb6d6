"""The command line through a subprocess, as a user runs it."""
import csv
import io
import json
import subprocess
import sys

import numpy as np
import pytest

import asymptotics as asy
from asymptotics.paper import fig2_model

LABEL_ARGS = ["--prior", "0.1", "--mean-plus", "4,0", "--mean-minus", "0,2"]
GROUP_ARGS = ["--model", "group", "--class-prior", "0.5", "--group-prior", "0.05", "--mean-1", "3,0",
              "--mean-2", "0,3"]
LABEL = asy.LabelGMM(0.1, [4, 0], [0, 2])
GROUP = asy.GroupGMM(0.5, 0.05, [3, 0], [0, 3])


def _run(*args):
    return subprocess.run([sys.executable, "-m", "asymptotics", *args], capture_output=True, text=True,
                          timeout=600)


def _ok(*args):
    out = _run(*args)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_predict_json_matches_api():
    rows = json.loads(_ok("predict", *LABEL_ARGS, "--gamma", "1,2", "--delta", "log:1:10:3", "--json"))
    assert len(rows) == 6
    for r in rows:
        s = asy.cs_svm(LABEL, r["gamma"], r["delta"])
        for k in ("q", "b", "R_plus", "R_minus", "R_bal", "R"):
            assert r[k] == pytest.approx(float(getattr(s, k)), rel=1e-12, abs=1e-300)


def test_predict_group_csv_and_norms_angle():
    text = _ok("predict", "--model", "group", "--class-prior", "0.5", "--group-prior", "0.05",
               "--norms", "3,3", "--angle", "90", "--gamma", "2", "--delta", "1:5:3", "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    t = asy.gs_svm(GROUP, 2.0, np.array([1.0, 3.0, 5.0]))
    np.testing.assert_allclose([float(r["DEO"]) for r in rows], t.DEO, rtol=1e-12)
    np.testing.assert_allclose([float(r["R_+1"]) for r in rows], t.R_yg[:, 0, 0], rtol=1e-12)


def test_threshold_delta_star_delta_eo_tables():
    rows = json.loads(_ok("threshold", *LABEL_ARGS, "--json"))
    assert rows[0]["gamma_star"] == pytest.approx(asy.separability_threshold(LABEL), rel=1e-14)
    assert rows[1]["gamma_star"] == pytest.approx(asy.separability_threshold(LABEL, False), rel=1e-14)
    rows = json.loads(_ok("delta-star", *LABEL_ARGS, "--gamma", "2", "--json"))
    assert rows[0]["delta_star"] == pytest.approx(float(asy.delta_star(LABEL, 2.0).delta), rel=1e-12)
    assert rows[0]["delta_min_R"] == pytest.approx(float(asy.delta_min_error(LABEL, 2.0).delta), rel=1e-12)
    rows = json.loads(_ok("delta-eo", *GROUP_ARGS, "--gamma", "2", "--json"))
    assert rows[0]["delta_0"] == pytest.approx(asy.delta_equal_opportunity(GROUP, 2.0).delta, rel=1e-10)
    table = _ok("threshold", *LABEL_ARGS)
    assert "gamma_star" in table.splitlines()[0]


def test_simulate_json():
    rows = json.loads(_ok("simulate", *LABEL_ARGS, "--gamma", "2", "--delta", "3", "--n", "100",
                          "--trials", "3", "--jobs", "1", "--json"))
    from asymptotics.simulate import monte_carlo
    r = monte_carlo(LABEL, 2.0, 3.0, n=100, trials=3, seed=0)
    assert rows[0]["R_bal"] == pytest.approx(float(r.mean["R_bal"]), rel=1e-12)
    assert rows[0]["R_bal_theory"] == pytest.approx(float(r.theory["R_bal"]), rel=1e-12)


@pytest.mark.parametrize("args,needle", [
    (["--no-such-flag"], "unrecognized arguments"),
    (["predict", *LABEL_ARGS, "--gamma", "abc"], "--gamma"),
    (["predict", *LABEL_ARGS, "--gamma", "0.001"], "not linearly separable"),
    (["predict", "--prior", "1.5", "--mean-plus", "1", "--mean-minus", "-1", "--gamma", "1"], "prior"),
    (["predict", "--prior", "0.1", "--gamma", "1"], "--mean-plus"),
    (["predict", "--prior", "0.1", "--norms", "1,2", "--gamma", "1"], "--angle"),
    (["delta-eo", *LABEL_ARGS, "--gamma", "1"], "group"),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--delta", "-1"], "delta"),
])
def test_bad_input_is_one_line_and_nonzero(args, needle):
    out = _run(*args)
    assert out.returncode != 0
    assert needle in out.stderr and "Traceback" not in out.stderr


def test_paper_table():
    text = _ok("paper")
    assert "Fig. 2(a) setting" in text and "Fig. 3(a) setting" in text
    row = next(line for line in text.splitlines() if line.split()[:2] == ["200", "2"])
    sub = fig2_model().restrict(200)
    assert row.split()[2] == f"{asy.separability_threshold(sub):.4g}"
    assert row.split()[4] == f"{float(asy.delta_star(sub, 2.0).delta):.4g}"


def test_predict_with_a_loss_matches_erm():
    rows = json.loads(_ok("predict", *LABEL_ARGS, "--gamma", "0.01,2", "--loss", "cdt", "--delta", "3",
                          "--lam", "1e-3,0", "--json"))
    assert len(rows) == 4
    for r in rows:
        if r["lam"] == 0 and r["gamma"] == 2:
            assert r["exists"] is False and r["q"] != r["q"]      # no minimiser: NaN, said so
            continue
        e = asy.erm(LABEL, r["gamma"], ("CDT", 3.0), r["lam"])
        assert r["exists"] is True
        for k in ("q", "b", "R_plus", "R_minus", "R_bal", "R"):
            assert r[k] == pytest.approx(float(getattr(e, k)), rel=1e-12, abs=1e-300)
        assert r["train_loss"] == pytest.approx(float(LABEL.priors @ e.train_loss), rel=1e-12)
    g = json.loads(_ok("predict", *GROUP_ARGS, "--gamma", "1.5", "--loss", "hinge", "--delta", "2", "--lam", "0.01",
                       "--json"))
    m = asy.gs_svm(GROUP, 1.5, 2.0)                      # hinge + small ridge = the GS-SVM
    assert g[0]["DEO"] == pytest.approx(float(m.DEO), rel=1e-9)


def test_simulate_with_a_loss_runs_exact_fits():
    rows = json.loads(_ok("simulate", *LABEL_ARGS, "--gamma", "1", "--loss", "ce", "--lam", "0.1", "--n", "200",
                          "--trials", "3", "--jobs", "1", "--json"))
    assert rows[0]["lam"] == 0.1 and rows[0]["valid"] == 3
    assert rows[0]["R_bal_theory"] == pytest.approx(float(asy.erm(LABEL, 1.0, "CE", 0.1).R_bal), rel=1e-12)


@pytest.mark.parametrize("args,flag", [(["--loss", "focal", "--lam", "1"], "--loss"),
                                       (["--loss", "ce"], "--lam"), (["--lam", "1"], "--lam")])
def test_loss_mistakes_are_one_line(args, flag):
    out = _run("predict", *LABEL_ARGS, "--gamma", "1", *args)
    assert out.returncode == 2 and flag in out.stderr and out.stderr.count("\n") == 1
