"""The command line: results equal the API's, every mistake is one line that
names its flag with the right exit status, every command documents every
option, and nothing long starts by accident.  Most calls run `main(argv)` in
this process (fast); a few go through `python -m asymptotics` as a user does."""
import argparse
import csv
import io
import json
import math
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import asymptotics as asy
from asymptotics import cli, plotting
from asymptotics.paper import fig2_model

LABEL_ARGS = ["--prior", "0.1", "--mean-plus", "4,0", "--mean-minus", "0,2"]
GROUP_ARGS = ["--model", "group", "--class-prior", "0.5", "--group-prior", "0.05", "--mean-1", "3,0",
              "--mean-2", "0,3"]
LABEL = asy.LabelGMM(0.1, [4, 0], [0, 2])
GROUP = asy.GroupGMM(0.5, 0.05, [3, 0], [0, 3])


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``asymptotics *argv`` in this process."""
    try:
        rc = cli.main(list(argv))
    except SystemExit as exc:           # argparse: --help, usage errors
        rc = exc.code
    out, err = capsys.readouterr()
    return rc, out, err


def ok(capsys, *argv):
    rc, out, err = run(capsys, *argv)
    assert rc == 0, err
    return out


def _subprocess(*args):
    return subprocess.run([sys.executable, "-m", "asymptotics", *args], capture_output=True, text=True, timeout=600)


@pytest.fixture
def no_job(monkeypatch):
    """Replace the main job by a recorder: which calls would have started it."""
    calls = []

    def fake_make_all(**kw):
        calls.append(kw)
        return {}
    monkeypatch.setattr(plotting, "make_all", fake_make_all)
    return calls


# ------------------------------------------------------------------ results are the API's
def test_predict_json_matches_api(capsys):
    rows = json.loads(ok(capsys, "predict", *LABEL_ARGS, "--gamma", "1,2", "--delta", "log:1:10:3", "--json"))
    assert len(rows) == 6
    for r in rows:
        s = asy.cs_svm(LABEL, r["gamma"], r["delta"])
        assert r["separable"] is True
        for k in ("q", "b", "R_plus", "R_minus", "R_bal", "R"):
            assert r[k] == pytest.approx(float(getattr(s, k)), rel=1e-12, abs=1e-300)


def test_predict_group_csv_and_norms_angle(capsys):
    text = ok(capsys, "predict", "--model", "group", "--class-prior", "0.5", "--group-prior", "0.05",
              "--norms", "3,3", "--angle", "90", "--gamma", "2", "--delta", "1:5:3", "--csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 3
    t = asy.gs_svm(GROUP, 2.0, np.array([1.0, 3.0, 5.0]))
    np.testing.assert_allclose([float(r["DEO"]) for r in rows], t.DEO, rtol=1e-12)
    np.testing.assert_allclose([float(r["R_+1"]) for r in rows], t.R_yg[:, 0, 0], rtol=1e-12)


def test_threshold_delta_star_delta_eo_tables(capsys):
    rows = json.loads(ok(capsys, "threshold", *LABEL_ARGS, "--json"))
    assert rows[0]["gamma_star"] == pytest.approx(asy.separability_threshold(LABEL), rel=1e-14)
    assert rows[1]["gamma_star"] == pytest.approx(asy.separability_threshold(LABEL, False), rel=1e-14)
    rows = json.loads(ok(capsys, "delta-star", *LABEL_ARGS, "--gamma", "2", "--json"))
    assert rows[0]["delta_star"] == pytest.approx(float(asy.delta_star(LABEL, 2.0).delta), rel=1e-12)
    assert rows[0]["delta_min_R"] == pytest.approx(float(asy.delta_min_error(LABEL, 2.0).delta), rel=1e-12)
    rows = json.loads(ok(capsys, "delta-eo", *GROUP_ARGS, "--gamma", "2", "--json"))
    assert rows[0]["delta_0"] == pytest.approx(asy.delta_equal_opportunity(GROUP, 2.0).delta, rel=1e-10)
    table = ok(capsys, "threshold", *LABEL_ARGS)
    assert "gamma_star" in table.splitlines()[0]


def test_simulate_json(capsys):
    rows = json.loads(ok(capsys, "simulate", *LABEL_ARGS, "--gamma", "2", "--delta", "3", "--n", "100",
                         "--trials", "3", "--jobs", "1", "--json"))
    from asymptotics.simulate import monte_carlo
    r = monte_carlo(LABEL, 2.0, 3.0, n=100, trials=3, seed=0, n_jobs=1)
    assert rows[0]["R_bal"] == pytest.approx(float(r.mean["R_bal"]), rel=1e-12)
    assert rows[0]["R_bal_theory"] == pytest.approx(float(r.theory["R_bal"]), rel=1e-12)


def test_predict_with_a_loss_matches_erm(capsys):
    rows = json.loads(ok(capsys, "predict", *LABEL_ARGS, "--gamma", "0.01,2", "--loss", "cdt", "--delta", "3",
                         "--lam", "1e-3,0", "--json"))
    assert len(rows) == 4
    for r in rows:
        if r["lam"] == 0 and r["gamma"] == 2:
            assert r["exists"] is False and r["q"] is None      # no minimiser: NaN (JSON null), said so
            continue
        e = asy.erm(LABEL, r["gamma"], ("CDT", 3.0), r["lam"])
        assert r["exists"] is True
        for k in ("q", "b", "R_plus", "R_minus", "R_bal", "R"):
            assert r[k] == pytest.approx(float(getattr(e, k)), rel=1e-12, abs=1e-300)
        assert r["train_loss"] == pytest.approx(float(LABEL.priors @ e.train_loss), rel=1e-12)
    g = json.loads(ok(capsys, "predict", *GROUP_ARGS, "--gamma", "1.5", "--loss", "hinge", "--delta", "2", "--lam",
                      "0.01", "--json"))
    m = asy.gs_svm(GROUP, 1.5, 2.0)                      # hinge + small ridge = the GS-SVM
    assert g[0]["DEO"] == pytest.approx(float(m.DEO), rel=1e-9)


def test_simulate_with_a_loss_runs_exact_fits(capsys):
    rows = json.loads(ok(capsys, "simulate", *LABEL_ARGS, "--gamma", "1", "--loss", "ce", "--lam", "0.1", "--n",
                         "200", "--trials", "3", "--jobs", "1", "--json"))
    assert rows[0]["lam"] == 0.1 and rows[0]["valid"] == 3
    assert rows[0]["R_bal_theory"] == pytest.approx(float(asy.erm(LABEL, 1.0, "CE", 0.1).R_bal), rel=1e-12)


def test_values_with_a_leading_minus_are_values(capsys):
    rows = json.loads(ok(capsys, "predict", "--prior", "0.1", "--mean-plus", "2,0", "--mean-minus", "-2,0", "--gamma",
                         "1", "--json"))
    assert rows[0]["R_bal"] == pytest.approx(float(asy.cs_svm(asy.LabelGMM.antipodal(0.1, 2.0), 1.0, 1.0).R_bal),
                                             rel=1e-12)
    rows = json.loads(ok(capsys, "predict", "--prior", "0.1", "--norms", "2,2", "--angle", "-180", "--gamma", "1",
                         "--json"))
    assert rows[0]["R_bal"] == pytest.approx(float(asy.cs_svm(asy.LabelGMM.antipodal(0.1, 2.0), 1.0, 1.0).R_bal),
                                             rel=1e-12)


# ------------------------------------------------------------------ grids across the threshold
@pytest.mark.parametrize("args", [
    ["predict", *LABEL_ARGS, "--gamma", "0.001,0.01,0.1,1", "--delta", "1,3"],
    ["predict", *LABEL_ARGS, "--gamma", "log:0.001:1:7", "--no-intercept"],
    ["predict", *GROUP_ARGS, "--gamma", "0.005,0.5,2", "--delta", "5"],
    ["delta-star", *LABEL_ARGS, "--gamma", "0.001,2"],
    ["delta-eo", *GROUP_ARGS, "--gamma", "0.005,2"],
])
def test_grid_across_the_threshold_fills_nonseparable_points(capsys, args):
    rows = json.loads(ok(capsys, *args, "--json"))
    group = "--model" in args
    model = GROUP if group else LABEL
    intercept = "--no-intercept" not in args
    gs = asy.separability_threshold(model, intercept)
    assert any(r["separable"] for r in rows) and not all(r["separable"] for r in rows)
    for r in rows:
        assert r["separable"] == (r["gamma"] > gs)
        numbers = [v for k, v in r.items() if k not in ("gamma", "delta", "separable", "attainable")]
        if not r["separable"]:
            assert all(v is None for v in numbers)                    # NaN in the table, null in JSON
        elif args[0] == "predict":
            s = (asy.gs_svm if group else asy.cs_svm)(model, r["gamma"], r["delta"], intercept=intercept)
            assert r["R_bal"] == pytest.approx(float(s.R_bal), rel=1e-12)
    table = ok(capsys, *args)
    assert "False" in table and "nan" in table


# ------------------------------------------------------------------ mistakes: one line, the flag, status 2
USAGE_ERRORS = [
    # (argv, what the one line must contain)
    (["predict", *LABEL_ARGS, "--gamma", "log:0:10:3"], ["--gamma", "start must be > 0"]),
    (["predict", *LABEL_ARGS, "--gamma", "log:1:0:3"], ["--gamma", "stop must be > 0"]),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--delta", "-1"], ["--delta", "> 0"]),
    (["predict", *LABEL_ARGS, "--gamma", "-1:2:4"], ["--gamma", "> 0"]),
    (["predict", *LABEL_ARGS, "--gamma", "abc"], ["--gamma", "'abc'"]),
    (["predict", *LABEL_ARGS, "--gamma", "nan"], ["--gamma", "finite"]),
    (["predict", *LABEL_ARGS, "--gamma", "1:2"], ["--gamma", "start:stop:num"]),
    (["predict", *LABEL_ARGS, "--gamma", "1:2:0"], ["--gamma", "positive integer"]),
    (["predict", *LABEL_ARGS, "--gamma", "1:2:2.5"], ["--gamma", "integer"]),
    (["predict", *LABEL_ARGS, "--gamma", "1:2:1000000000000"], ["--gamma", "at most"]),
    (["predict", *LABEL_ARGS, "--gamma", "1:2:10000", "--delta", "1:2:10000"], ["--gamma", "at most"]),
    (["predict", *LABEL_ARGS, "--gamma", ""], ["--gamma", "empty"]),
    (["predict", *LABEL_ARGS], ["--gamma", "required"]),
    (["predict", "--prior", "1.5", "--mean-plus", "1", "--mean-minus", "-1", "--gamma", "1"], ["--prior", "(0, 1)"]),
    (["predict", "--prior", "x", "--mean-plus", "1", "--mean-minus", "-1", "--gamma", "1"], ["--prior"]),
    (["predict", "--prior", "0.1", "--gamma", "1"], ["--mean-plus"]),
    (["predict", "--gamma", "1", "--mean-plus", "1", "--mean-minus", "-1"], ["--prior"]),
    (["predict", "--prior", "0.1", "--norms", "1,2", "--gamma", "1"], ["--angle"]),
    (["predict", "--prior", "0.1", "--norms", "1,2,3", "--angle", "9", "--gamma", "1"], ["--norms"]),
    (["predict", "--prior", "0.1", "--norms", "1,-2", "--angle", "9", "--gamma", "1"], ["--norms", ">= 0"]),
    (["predict", "--prior", "0.1", "--norms", "1,2", "--angle", "inf", "--gamma", "1"], ["--angle", "finite"]),
    (["predict", *LABEL_ARGS, "--angle", "90", "--gamma", "1"], ["--angle", "--norms"]),
    (["predict", *LABEL_ARGS, "--norms", "1,2", "--angle", "90", "--gamma", "1"], ["--norms", "not both"]),
    (["predict", "--prior", "0.1", "--mean-plus", "4,0", "--mean-minus", "0,2,3", "--gamma", "1"],
     ["--mean-plus", "--mean-minus", "same length"]),
    (["predict", "--prior", "0.1", "--mean-plus", "4,x", "--mean-minus", "0,2", "--gamma", "1"], ["--mean-plus"]),
    (["predict", *LABEL_ARGS, "--class-prior", "0.5", "--gamma", "1"], ["--class-prior", "group"]),
    (["predict", *GROUP_ARGS, "--prior", "0.1", "--gamma", "1"], ["--prior", "label"]),
    (["predict", "--model", "group", "--class-prior", "0.5", "--mean-1", "1", "--mean-2", "2", "--gamma", "1"],
     ["--group-prior"]),
    (["predict", "--model", "grp", "--gamma", "1"], ["--model", "invalid choice"]),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--loss", "focal", "--lam", "1"], ["--loss", "focal"]),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--loss", "ce"], ["--lam"]),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--lam", "1"], ["--lam", "--loss"]),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--loss", "ce", "--lam", "-1"], ["--lam", ">= 0"]),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--loss", "ce", "--lam", "1e-20"], ["--lam", "1e-14"]),
    (["predict", *LABEL_ARGS, "--gamma", "1e7", "--loss", "ce", "--lam", "1"], ["--gamma", "1e+06"]),
    (["predict", *LABEL_ARGS, "--gamma", "1", "--loss", "ce", "--delta", "3", "--lam", "1"], ["--delta", "ce"]),
    (["delta-star", *GROUP_ARGS, "--gamma", "1"], ["--model", "delta-eo"]),
    (["delta-eo", *LABEL_ARGS, "--gamma", "1"], ["--model", "group"]),
    (["delta-star", "--prior", "0.1", "--norms", "0,0", "--angle", "90", "--gamma", "1"], ["--norms", "zero"]),
    (["threshold", *LABEL_ARGS, "--gamma", "1"], ["--gamma", "unrecognized"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--n", "1e12"], ["--n", "10000"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--n", "1000000000000"], ["--n", "10000"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--n", "40.5"], ["--n", "integer"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--n", "50"], ["--n", "--n 100"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--trials", "0"], ["--trials"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--jobs", "0"], ["--jobs"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--seed", "-1"], ["--seed"]),
    (["simulate", *LABEL_ARGS, "--gamma", "1e12"], ["--gamma", "features"]),
    (["simulate", *LABEL_ARGS, "--gamma", "10", "--n", "10000"], ["--gamma", "entries"]),
    (["simulate", *LABEL_ARGS, "--gamma", "0.001"], ["--gamma", "coordinates of the means"]),
    (["simulate", *LABEL_ARGS, "--gamma", "1:2:100", "--delta", "1:2:100"], ["--gamma", "at most 1000"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--method", "adam"], ["--method", "adam"]),
    (["simulate", *GROUP_ARGS, "--gamma", "2", "--method", "cdt"], ["--method", "label"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--method", "la", "--delta", "3"], ["--delta"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--method", "cdt", "--loss", "ce", "--lam", "1"], ["--method"]),
    (["simulate", *LABEL_ARGS, "--gamma", "2", "--loss", "hinge", "--lam", "1", "--delta", "1,2"], ["--delta"]),
    (["figures", "--jobs", "0"], ["--jobs"]),
    (["figures", "--jobs", "two"], ["--jobs"]),
    (["paper", "--setting", "fig9"], ["--setting"]),
    (["paper", "--json", "--csv"], ["--csv", "not allowed"]),
    (["help", "frobnicate"], ["COMMAND", "invalid choice"]),
    (["frobnicate"], ["COMMAND", "invalid choice"]),
    (["--bogus"], ["--bogus", "unrecognized"]),
    (["--quick", "--bogus"], ["--bogus", "unrecognized"]),
]


@pytest.mark.parametrize("argv,needles", USAGE_ERRORS, ids=[" ".join(a)[:60] for a, _ in USAGE_ERRORS])
def test_usage_error_is_one_line_naming_the_flag(capsys, no_job, argv, needles):
    """(The message for log:0:10:3 in full: asymptotics: error: --gamma: log
    range start must be > 0, got 0 in 'log:0:10:3'.)"""
    rc, out, err = run(capsys, *argv)
    assert rc == 2, err
    assert out == "" and err.count("\n") == 1, err
    assert err.startswith("asymptotics")
    for needle in needles:
        assert needle in err, err
    assert "Traceback" not in err and "array(" not in err and "np.float" not in err
    assert no_job == []                              # a mistake never starts the main job


DOMAIN_ERRORS = [
    (["predict", *LABEL_ARGS, "--gamma", "0.001"], "gamma_star = 0.0156329"),
    (["predict", *LABEL_ARGS, "--gamma", "0.001,0.002", "--no-intercept"], "without an intercept"),
    (["predict", *GROUP_ARGS, "--gamma", "0.001"], "not linearly separable"),
    (["delta-star", *LABEL_ARGS, "--gamma", "0.001"], "not linearly separable"),
    (["delta-eo", *GROUP_ARGS, "--gamma", "0.001"], "not linearly separable"),
]


@pytest.mark.parametrize("argv,needle", DOMAIN_ERRORS, ids=[" ".join(a)[:60] for a, _ in DOMAIN_ERRORS])
def test_domain_failure_is_one_line_and_status_1(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 1 and out == "" and err.count("\n") == 1 and needle in err, err
    assert "--gamma" in err and "Traceback" not in err


def test_library_messages_are_translated_to_flags():
    f = cli.flag_message
    assert f("delta must be > 0, got array([-1.])") == "--delta must be > 0, got [-1.]"
    assert f("mean_plus and mean_minus must have the same length, got 2 and 3").startswith("--mean-plus and "
                                                                                           "--mean-minus must")
    assert f("gamma, delta and lam must broadcast together").startswith("--gamma, --delta and --lam must")
    assert f("n must be a positive integer, got 0") == "--n must be a positive integer, got 0"
    assert f("d = 1 is smaller") == "d = 1 is smaller"                 # only leading argument names
    ns = argparse.Namespace(norms="0,0")
    assert f("mean_plus/mean_minus are both zero", ns) == "--norms are both zero"


def test_library_value_error_maps_to_status_2(capsys, monkeypatch):
    import asymptotics.label as label
    monkeypatch.setattr(label, "cs_svm", lambda *a, **k: (_ for _ in ()).throw(ValueError("delta must be > 0, got "
                                                                                          "array([-1.])")))
    rc, out, err = run(capsys, "predict", *LABEL_ARGS, "--gamma", "1")
    assert rc == 2 and err == "asymptotics: error: --delta must be > 0, got [-1.]\n"


def test_convergence_failure_is_status_1(capsys, monkeypatch):
    import asymptotics.label as label

    def fail(*a, **k):
        raise asy.ConvergenceError("max-margin solve did not converge", 1e-3, 200)
    monkeypatch.setattr(label, "cs_svm", fail)
    rc, out, err = run(capsys, "predict", *LABEL_ARGS, "--gamma", "1")
    assert rc == 1 and err.count("\n") == 1 and "did not converge" in err


def test_huge_grid_is_refused_before_allocating(capsys):
    import time
    t0 = time.perf_counter()
    rc, _, err = run(capsys, "predict", *LABEL_ARGS, "--gamma", "1:2:1000000000000")
    assert rc == 2 and time.perf_counter() - t0 < 1.0


# ------------------------------------------------------------------ the main job and --out
def test_no_command_is_the_main_job_with_its_options(capsys, no_job, tmp_path):
    ok(capsys)                                       # bare `asymptotics`: the documented main job
    assert no_job == [{"out": "figures", "quick": False, "n_jobs": 2, "progress": True}]
    out = tmp_path / "a" / "b"
    ok(capsys, "--quick", "--out", str(out), "--jobs", "1", "--json")
    assert no_job[-1] == {"out": str(out), "quick": True, "n_jobs": 1, "progress": False}
    assert out.is_dir()                              # created before any computation
    ok(capsys, f"--out={tmp_path}", "--quick")
    assert no_job[-1]["out"] == str(tmp_path)


@pytest.mark.parametrize("argv", [["help"], ["help", "simulate"], ["--help"], ["figures", "--help"], ["--version"]])
def test_help_never_starts_the_job(capsys, no_job, argv):
    rc, out, err = run(capsys, *argv)
    assert rc == 0 and out and no_job == []


def test_out_is_checked_before_any_computation(capsys, no_job, tmp_path):
    afile = tmp_path / "file.txt"
    afile.write_text("x")
    cases = [([str(afile)], "not a directory"), ([str(afile / "sub")], "cannot create")]
    if os.path.isdir("/proc/self"):
        cases.append((["/proc/self"], "cannot write"))   # exists, a directory, not writable (even for root)
    for out, needle in cases:
        for argv in (["figures", "--quick", "--out", *out], ["--out", *out]):
            rc, stdout, err = run(capsys, *argv)
            assert rc == 2 and err.count("\n") == 1 and "--out" in err and needle in err, err
    assert no_job == []


def test_file_system_error_during_the_job_is_one_line(capsys, monkeypatch, tmp_path):
    def fail(**kw):
        raise PermissionError(13, "Permission denied", str(tmp_path / "fig2a_balanced_error.png"))
    monkeypatch.setattr(plotting, "make_all", fail)
    rc, out, err = run(capsys, "--quick", "--out", str(tmp_path))
    assert rc == 2 and err.count("\n") == 1 and "Permission denied" in err and "fig2a_balanced_error.png" in err


def test_python_m_asymptotics_as_a_user_runs_it(tmp_path):
    (tmp_path / "x.txt").write_text("")
    bad = _subprocess("--quick", "--out", str(tmp_path / "x.txt"), "--jobs", "2")
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1 and "--out" in bad.stderr
    good = _subprocess("threshold", *LABEL_ARGS, "--csv")
    assert good.returncode == 0 and good.stdout.startswith("intercept,gamma_star\n")


# ------------------------------------------------------------------ --help of every command
def _subparsers():
    parser = cli.build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return parser, action.choices


@pytest.mark.parametrize("name", list(_subparsers()[1]))
def test_help_documents_every_option(capsys, name):
    parser, subs = _subparsers()
    sub = subs[name]
    rc, text, _ = run(capsys, name, "--help")
    assert rc == 0
    assert sub.description and sub.description.split()[0] in text        # a description
    assert text.count("\n") > 5
    for action in sub._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"{name}: {action.dest} has no help"
        for flag in action.option_strings:
            assert flag in text, f"{name} --help does not mention {flag}"
        if action.option_strings and action.default not in (None, False):
            assert "default" in action.help, f"{name}: {action.dest}'s default is not stated"
        if action.required:
            assert "required" in action.help
    if any(a.dest in ("gamma", "delta", "lam") for a in sub._actions):
        assert "start:stop:num" in text and "log:start:stop:num" in text   # the range syntax
    if name != "help":
        assert "examples:" in text and "exit status" in text


def test_top_level_help_lists_commands_and_the_main_job(capsys):
    rc, text, _ = run(capsys, "--help")
    for name in _subparsers()[1]:
        assert name in text
    assert "Without a command" in text and "--quick" in text and "log:start:stop:num" in text


# ------------------------------------------------------------------ paper
def test_paper_table_labels_match_what_it_computes(capsys):
    text = ok(capsys, "paper")
    fig2a, rest = text.split("Fig. 3(a) setting")
    assert "No intercept" in fig2a and "Intercept on" not in fig2a and "intercept on" not in fig2a
    assert "intercept on" in rest
    row = next(line for line in fig2a.splitlines() if line.split()[:2] == ["200", "2"])
    sub = fig2_model().restrict(200)
    assert row.split()[2] == f"{asy.separability_threshold(sub, intercept=False):.4g}"
    assert row.split()[5] == f"{float(asy.delta_star(sub, 2.0, intercept=False).delta):.4g}"
    assert "Fig. 3(b) setting" in rest


def test_paper_json_and_csv(capsys):
    rows = json.loads(ok(capsys, "paper", "--json"))
    assert {r["setting"] for r in rows} == {"fig2a", "fig3a", "fig3b"}
    m3 = plotting.FIG3A_MODEL
    for r in rows:
        if r["setting"] == "fig3a":
            assert r["delta_star"] == pytest.approx(float(asy.delta_star(m3, r["gamma"]).delta), rel=1e-12)
        if r["setting"] == "fig2a" and r["p"] == 25:
            assert r["separable"] is False and r["delta_star"] is None
        if r["setting"] == "fig2a" and r["p"] == 50:
            assert r["attainable"] is False and r["delta_star"] is None and r["delta_plotted"] == 50  # inf -> null
    text = ok(capsys, "paper", "--setting", "fig3b", "--csv")
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [float(r["gamma"]) for r in parsed] == [0.5, 1.0, 2.0, 5.0]
    d0 = [float(r["delta_0"]) for r in parsed]
    assert np.all(np.diff(d0) > 0) and math.isclose(d0[0], asy.delta_equal_opportunity(
        plotting.fig3b_model(), 0.5).delta, rel_tol=1e-12)


def test_output_that_cannot_be_written_is_one_line():
    full = subprocess.run(f"{sys.executable} -m asymptotics predict {' '.join(LABEL_ARGS)} --gamma 2 > /dev/full",
                          shell=True, capture_output=True, text=True, timeout=300)
    assert full.returncode == 2 and full.stderr.count("\n") == 1 and "cannot write" in full.stderr
    closed = subprocess.run(f"{sys.executable} -m asymptotics threshold {' '.join(LABEL_ARGS)} >&-",
                            shell=True, capture_output=True, text=True, timeout=300)
    assert closed.returncode == 2 and closed.stderr.count("\n") == 1 and "closed" in closed.stderr
    empty = _subprocess("figures", "--quick", "--out", "")
    assert empty.returncode == 2 and "--out" in empty.stderr and empty.stderr.count("\n") == 1


# ------------------------------------------------------------------ optimize
def test_optimize_matches_the_api(capsys):
    rows = json.loads(ok(capsys, "optimize", *GROUP_ARGS, "--gamma", "2", "--objective", "worst",
                         "--constraint", "abs_DEO=0.01", "--json"))
    o = asy.optimize_margins(GROUP, 2.0, "worst", {"abs_DEO": 0.01})
    r = rows[0]
    assert r["value"] == pytest.approx(o.value, rel=1e-12)
    np.testing.assert_allclose([r[f"margin_{s}{g}"] for s in "+-" for g in (1, 2)], o.margins, rtol=1e-12)
    assert abs(r["DEO"]) <= 0.01 + 1e-8
    rows = json.loads(ok(capsys, "optimize", *LABEL_ARGS, "--gamma", "2", "--objective", "R_bal",
                         "--margins", "minority", "--json"))
    ratio = rows[0]["margin_plus"] / rows[0]["margin_minus"]
    assert ratio == pytest.approx(float(asy.delta_star(LABEL, 2.0).delta), rel=1e-7)


@pytest.mark.parametrize("argv,needle,status", [
    (["--objective", "accuracy"], "--objective", 2),
    (["--constraint", "R_bal"], "--constraint", 2),
    (["--constraint", "R_bal=-1"], "--constraint", 2),
    (["--constraint", "foo=0.1"], "--constraint", 2),
    (["--margins", "every"], "--margins", 2),
    (["--constraint", "R_plus=1e-6"], "infeasible", 1),
])
def test_optimize_mistakes_are_one_line(capsys, argv, needle, status):
    rc, out, err = run(capsys, "optimize", *LABEL_ARGS, "--gamma", "2", *argv)
    assert rc == status and out == "" and err.count("\n") == 1 and needle in err, err


# ------------------------------------------------------------------ issue 18: no answer anywhere, newcomers
@pytest.mark.parametrize("loss,extra,threshold", [
    ("ce", [], lambda: asy.separability_threshold(LABEL)),
    ("hinge", ["--delta", "2,3"], lambda: asy.separability_threshold(LABEL)),
    ("ce", ["--no-intercept"], lambda: asy.separability_threshold(LABEL, intercept=False)),
    ("square", [], lambda: 1.0),
])
def test_predict_lam_0_without_a_minimiser_anywhere_is_status_1(capsys, loss, extra, threshold):
    """As max-margin predict when no gamma is separable: one line that says why, status 1, no rows."""
    rc, out, err = run(capsys, "predict", *LABEL_ARGS, "--gamma", "1,2", "--loss", loss, "--lam", "0", *extra)
    assert rc == 1 and out == "" and err.count("\n") == 1, err
    assert "--lam 0" in err and "--gamma" in err and "smallest 1 >= " in err and "Traceback" not in err, err
    if loss != "square":
        assert f"gamma_star = {threshold():.6g}" in err, err
    # one point with a minimiser (gamma below gamma_star) keeps the grid, with exists False elsewhere
    g = asy.separability_threshold(LABEL) / 2 if loss != "square" else 0.5
    rows = json.loads(ok(capsys, "predict", *LABEL_ARGS, "--gamma", f"{g!r},2", "--loss", loss, "--lam", "0",
                         *extra, "--json"))
    assert [r["exists"] for r in rows if r["gamma"] == 2] == [False] * len([r for r in rows if r["gamma"] == 2])
    assert all(r["exists"] for r in rows if r["gamma"] != 2) and len(rows) > 1


@pytest.mark.parametrize("argv,needle", [
    (["optimize", *LABEL_ARGS, "--gamma", "2", "--objective", "R_subgroup_bal"], "--objective"),
    (["optimize", *LABEL_ARGS, "--gamma", "2", "--objective", "abs_DEO"], "--objective"),
    (["optimize", *LABEL_ARGS, "--gamma", "2", "--constraint", "R_subgroup_bal=0.1"], "--constraint"),
])
def test_optimize_metric_the_model_lacks_names_the_flag(capsys, argv, needle):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "" and err.count("\n") == 1 and err.startswith(f"asymptotics: error: {needle}:"), err
    assert "LabelGMM has no metric" in err and "R_bal" in err, err


@pytest.mark.parametrize("typo,meant", [("--pi", "--prior"), ("--gama", "--gamma"), ("--mean_plus", "--mean-plus"),
                                        ("--lambda", "--lam"), ("--deltas", "--delta")])
def test_unknown_option_of_a_command_suggests_the_near_one_with_its_help(capsys, typo, meant):
    """Reported before the missing --gamma, by predict itself: its own help, not the program's."""
    rc, out, err = run(capsys, "predict", typo, "0.1")
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("asymptotics predict: error:") and typo in err, err
    assert f"(did you mean {meant}?)" in err and "(see asymptotics predict --help)" in err, err


def test_unknown_option_without_a_near_one_and_stray_arguments(capsys):
    rc, out, err = run(capsys, "predict", *LABEL_ARGS, "--gamma", "2", "--frobnicate")
    assert rc == 2 and "unrecognized option --frobnicate (see asymptotics predict --help)" in err, err
    rc, out, err = run(capsys, "threshold", *LABEL_ARGS, "stray")
    assert rc == 2 and "unrecognized arguments: stray (see asymptotics threshold --help)" in err, err
    # a unique prefix is still argparse's abbreviation, and a negative number still a value
    rows = json.loads(ok(capsys, "threshold", "--pri", "0.1", "--mean-plus", "4,0", "--mean-minus", "-0,2", "--json"))
    assert rows[0]["gamma_star"] == pytest.approx(asy.separability_threshold(LABEL), rel=1e-12)


@pytest.mark.parametrize("argv,message", [
    (["--prior", "0.1", "predict", "--gamma", "2"],
     "asymptotics: error: options go after the command: asymptotics predict --prior 0.1 --gamma 2\n"),
    (["--model", "group", "delta-eo"], "asymptotics: error: options go after the command: asymptotics delta-eo "
                                       "--model group\n"),
    (["--prior", "0.1"], "asymptotics: error: --prior: options go after a command, e.g. asymptotics predict "
                         "--prior 0.1 (see asymptotics --help)\n"),
])
def test_options_before_the_command_show_the_order(capsys, no_job, argv, message):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "" and err == message and not no_job


@pytest.mark.parametrize("argv,hint", [
    (["predcit"], "invalid choice: 'predcit' (did you mean predict?)"),
    (["delta_star"], "(did you mean delta-star?)"),
    (["help", "simulat"], "(did you mean simulate?)"),
    (["predict", "--model", "lable"], "argument --model: invalid choice: 'lable' (did you mean label?)"),
])
def test_mistyped_choice_gets_the_nearest(capsys, no_job, argv, hint):
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == "" and err.count("\n") == 1 and hint in err and "choose from" not in err, err


@pytest.mark.parametrize("flag,value,args", [
    ("--prior", "0.9", ["--mean-plus", "4,0", "--mean-minus", "0,2"]),
    ("--group-prior", "0.95", ["--model", "group", "--class-prior", "0.5", "--mean-1", "3,0", "--mean-2", "0,3"]),
])
def test_majority_prior_warns_once_and_computes_as_given(capsys, flag, value, args):
    rc, out, err = run(capsys, "predict", flag, value, *args, "--gamma", "2", "--delta", "3", "--json")
    assert rc == 0 and err.count("\n") == 1, err
    assert err.startswith(f"asymptotics: warning: {flag} {value} > 0.5") and "minority" in err, err
    model = (asy.LabelGMM(0.9, [4, 0], [0, 2]) if flag == "--prior"
             else asy.GroupGMM(0.5, 0.95, [3, 0], [0, 3]))
    expected = (asy.cs_svm if flag == "--prior" else asy.gs_svm)(model, 2.0, 3.0)
    assert json.loads(out)[0]["R_bal"] == pytest.approx(float(expected.R_bal), rel=1e-12)
    rc, out, err = run(capsys, "predict", flag, "0.5", *args, "--gamma", "2")   # 0.5: no minority, no warning
    assert rc == 0 and err == ""
    rc, out, err = run(capsys, "predict", "--help")
    assert "> 0.5 is computed as given, with a one-line warning" in " ".join(out.split())
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # the API takes any prior without a word (documented choice)
        asy.LabelGMM(0.9, [4, 0], [0, 2])


def test_optimize_reports_the_status(capsys):
    """The status column is optimize_margins's: 0 at an attained optimum, 2
    where the objective is flat in double precision (R at gamma = 1e6 on
    this model: 0.1 at every margin near the SVM)."""
    rows = json.loads(ok(capsys, "optimize", "--prior", "0.1", "--norms", "4,2", "--angle", "90", "--gamma",
                         "2,1e6", "--objective", "R", "--margins", "minority", "--json"))
    m = asy.LabelGMM(0.1, [4, 0], [0, 2])
    assert [r["status"] for r in rows] == [int(asy.optimize_margins(m, g, "R", margins="minority").status)
                                           for g in (2.0, 1e6)] == [0, 2]


def test_predict_metrics_match_performance(capsys):
    """predict --metrics adds the deployment metrics of asymptotics.performance
    (max-margin and --loss rows, --test-prior passed through); --test-prior
    alone or out of range is a usage error naming it."""
    rows = json.loads(ok(capsys, "predict", "--prior", "0.1", "--mean-plus", "4,0", "--mean-minus", "0,2",
                         "--gamma", "2", "--delta", "1,3", "--metrics", "--json"))
    m = asy.LabelGMM(0.1, [4, 0], [0, 2])
    p = asy.performance(asy.cs_svm(m, 2.0, [1.0, 3.0]))
    for i, row in enumerate(rows):
        for name in ("auc", "auprc", "precision", "recall", "f1", "mcc"):
            assert row[name] == pytest.approx(float(getattr(p, name)[i]), rel=1e-12)
    rows = json.loads(ok(capsys, "predict", "--prior", "0.1", "--norms", "2,1", "--angle", "90", "--gamma", "1",
                         "--loss", "ce", "--lam", "1e-2", "--metrics", "--test-prior", "0.5", "--json"))
    q = asy.performance(asy.erm(asy.LabelGMM(0.1, [2, 0], [0, 1]), 1.0, "CE", 1e-2), test_prior=0.5)
    assert rows[0]["precision"] == pytest.approx(float(q.precision), rel=1e-12)
    for argv, needle in ((["--test-prior", "0.5"], "--test-prior goes with --metrics"),
                         (["--metrics", "--test-prior", "1.5"], "--test-prior"),
                         (["--metrics", "--test-prior", "x"], "--test-prior")):
        rc, out, err = run(capsys, "predict", "--prior", "0.1", "--norms", "2,1", "--angle", "90", "--gamma", "1",
                           *argv)
        assert rc == 2 and needle in err and err.count("\n") == 1, err
