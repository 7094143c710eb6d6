"""The main job through a subprocess, as a user runs it."""
import subprocess
import sys

import asymptotics as asy
from asymptotics.paper import fig2_model


def _run(*args):
    return subprocess.run([sys.executable, "-m", "asymptotics", *args], capture_output=True, text=True,
                          timeout=300)


def test_main_job_prints_the_paper_table():
    out = _run()
    assert out.returncode == 0, out.stderr
    assert "Fig. 2(a) setting" in out.stdout and "Fig. 3(a) setting" in out.stdout
    # the table's numbers are the API's: check one row of each table
    row = next(line for line in out.stdout.splitlines() if line.split()[:2] == ["200", "2"])
    sub = fig2_model().restrict(200)
    assert row.split()[2] == f"{asy.separability_threshold(sub):.4g}"
    assert row.split()[4] == f"{float(asy.delta_star(sub, 2.0).delta):.4g}"
    row = next(line for line in out.stdout.splitlines() if line.split()[:1] == ["0.5"])
    assert row.split()[1] == f"{float(asy.cs_svm(asy.LabelGMM.antipodal(0.05, 2.0), 0.5, 1.0).R):.4g}"


def test_bad_flag_exits_nonzero_with_message():
    out = _run("--no-such-flag")
    assert out.returncode != 0
    assert "unrecognized arguments" in out.stderr and "Traceback" not in out.stderr
