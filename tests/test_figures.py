"""The main job: `asymptotics --quick --out DIR --jobs N` writes every figure,
the plotted theory is the API's (and the `paper` table's), the files are
byte-reproducible (no time stamps, seeded draws) and no label overlaps another
label, panel or curve.  (`python -m asymptotics` itself: tests/test_cli.py.)"""
import contextlib
import io
import itertools
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.text import Text

import asymptotics as asy
from asymptotics import plotting
from asymptotics.cli import main
from asymptotics.paper import paper_rows

FILES = ["fig2a_balanced_error", "fig2a_four_panels", "fig2bc_training_dynamics", "fig3a_cs_svm_tradeoffs",
         "fig3b_gs_svm_tradeoffs", "erm_regularisation_path", "erm_across_threshold", "pareto_front"]


# ------------------------------------------------------------------ layout checks
def _drawn_texts(fig):
    """The Text artists the renderer actually draws (non-empty), with their boxes."""
    seen = []
    original = RendererAgg.draw_text

    def record(self, gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if mtext is not None and s.strip():
            seen.append(mtext)
        return original(self, gc, x, y, s, prop, angle, ismath, mtext)
    RendererAgg.draw_text = record
    try:
        fig.canvas.draw()
    finally:
        RendererAgg.draw_text = original
    renderer = fig.canvas.get_renderer()
    return [(t, t.get_window_extent(renderer)) for t in dict.fromkeys(seen)], renderer


def _overlap(a, b, pad=0.5):
    return min(a.x1, b.x1) - max(a.x0, b.x0) > pad and min(a.y1, b.y1) - max(a.y0, b.y0) > pad


def _points(line):
    """A line's vertices in display coordinates, with its segments sampled every pixel or so."""
    xy = line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
    ok = np.all(np.isfinite(xy), axis=1)
    pts = [xy[ok]]
    if line.get_linestyle() not in ("None", "none", "", " "):
        for a, b in zip(xy[:-1], xy[1:]):
            if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
                k = int(min(np.hypot(*(b - a)), 2000)) + 2
                pts.append(a + np.linspace(0, 1, k)[:, None] * (b - a))
    return np.concatenate(pts) if pts else np.empty((0, 2))


def _inside(xy, box):
    return bool(np.any((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)))


def layout_problems(fig) -> list:
    """Overlapping labels: text on text, a panel's labels on another panel,
    an inset (with its labels) outside its parent or over the parent's
    curves, and an annotation over a curve of its axes."""
    items, r = _drawn_texts(fig)
    bad = [f"{a.get_text()[:30]!r} overlaps {b.get_text()[:30]!r}"
           for (a, ba), (b, bb) in itertools.combinations(items, 2) if _overlap(ba, bb)]
    owners = {}
    for ax in fig.axes:
        own = {id(t) for t in ax.findobj(Text)}
        for child in ax.child_axes:
            own -= {id(t) for t in child.findobj(Text)}
        owners.update(dict.fromkeys(own, ax))
    for t, box in items:
        owner = owners.get(id(t))
        for ax in fig.axes:
            if owner is None or ax is owner or ax in owner.child_axes or owner in ax.child_axes:
                continue
            if _overlap(box, ax.get_window_extent(r)):
                bad.append(f"{t.get_text()[:30]!r} overlaps another panel")
    for ax in fig.axes:
        outer = ax.get_window_extent(r)
        for inset in ax.child_axes:
            tight = inset.get_tightbbox(r)
            if not (tight.x0 >= outer.x0 and tight.x1 <= outer.x1 and tight.y0 >= outer.y0 and tight.y1 <= outer.y1):
                bad.append("an inset's labels leave its parent axes")
            bad += [f"the inset covers {line.get_label()!r}" for line in ax.get_lines() if _inside(_points(line), tight)]
        for t in ax.texts:
            box = t.get_window_extent(r)
            bad += [f"{t.get_text()[:30]!r} covers {line.get_label()!r}" for line in ax.get_lines()
                    if _inside(_points(line), box)]
    return bad


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The main job as a user runs it, with the figures options on the bare
    command (``asymptotics --quick --out DIR --jobs 2 --json``), in this
    process so that the tests see the data behind every figure; every figure
    is checked for overlapping labels before it is saved."""
    out = tmp_path_factory.mktemp("figs") / "new" / "folder"       # created by --out
    data, problems = {}, {}
    save, make_all = plotting._save, plotting.make_all

    def checking_save(fig, where, name):
        problems[name] = layout_problems(fig)
        return save(fig, where, name)

    def recording_make_all(**kw):
        res = make_all(**kw)
        data.update({k: v[0] for k, v in res.items()})
        return res
    mp = pytest.MonkeyPatch()
    mp.setattr(plotting, "_save", checking_save)
    mp.setattr(plotting, "make_all", recording_make_all)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), warnings.catch_warnings():
            warnings.simplefilter("ignore", asy.DeltaWarning)
            rc = main(["--quick", "--out", str(out), "--jobs", "2", "--json"])
    finally:
        mp.undo()
    assert rc == 0
    return out, json.loads(buf.getvalue()), data, problems


# ------------------------------------------------------------------ tests
def test_quick_main_job_writes_every_file_without_time_stamps(quick):
    out, rows, _, _ = quick
    assert [r["figure"] for r in rows] == ["fig2a", "fig2bc", "fig3a", "fig3b", "erm_path", "erm_gamma", "pareto"]
    for name in FILES:
        for ext in ("png", "pdf"):
            f = out / f"{name}.{ext}"
            assert f.exists() and f.stat().st_size > 10_000, f
        pdf = (out / f"{name}.pdf").read_bytes()
        assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf


def test_no_overlapping_labels(quick):
    problems = quick[3]
    assert sorted(problems) == sorted(FILES)
    assert {k: v for k, v in problems.items() if v} == {}


def test_figures_are_byte_reproducible(quick, tmp_path):
    """Another process, other n_jobs, no layout checks: the same bytes
    (Monte-Carlo, gradient descent and constrained layout included)."""
    code = ("import warnings, sys; warnings.simplefilter('ignore'); from asymptotics import plotting as p; "
            "out = sys.argv[1]; p.figure_2bc(out=out, quick=True, n_jobs=1); "
            "p.figure_3b(out=out, quick=True, n_jobs=1); p.figure_erm_gamma(out=out, quick=True, n_jobs=1)")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    names = ["fig2bc_training_dynamics", "fig3b_gs_svm_tradeoffs", "erm_across_threshold"]
    for name in names:
        for ext in ("png", "pdf"):
            assert (tmp_path / f"{name}.{ext}").read_bytes() == (quick[0] / f"{name}.{ext}").read_bytes(), \
                f"{name}.{ext} differs between two runs"


def test_fig3_theory_curves_are_the_api(quick):
    a, b = quick[2]["fig3a"], quick[2]["fig3b"]
    for g in a["gammas"]:
        s = asy.cs_svm(plotting.FIG3A_MODEL, g, a["deltas"])
        np.testing.assert_allclose(a["theory"][g]["R_bal"], s.R_bal, rtol=1e-13)
        np.testing.assert_allclose(a["theory"][g]["imbalance"], s.R_plus - s.R_minus, rtol=1e-12, atol=1e-15)
        assert a["theory"][g]["delta_star"] == float(asy.delta_star(plotting.FIG3A_MODEL, g).delta)
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
    # `asymptotics paper` says what the figures show (same models, intercept on)
    rows = {r["gamma"]: r for r in paper_rows(("fig3a", "fig3b")) if r["setting"] == "fig3b"}
    for g in b["gammas"]:
        assert rows[g]["delta_0"] == pytest.approx(b["theory"][g]["delta_0"], rel=1e-12)
    rows = {r["gamma"]: r for r in paper_rows(("fig3a",))}
    for g in a["gammas"]:
        assert rows[g]["delta_star"] == pytest.approx(a["theory"][g]["delta_star"], rel=1e-12)
        assert rows[g]["delta_min_R"] == pytest.approx(a["theory"][g]["delta_min_R"], rel=1e-12)


def test_fig2a_theory_is_the_api_and_the_paper_table(quick):
    a = quick[2]["fig2a"]
    model, th = a["model"], a["theory"]
    assert np.array_equal(a["p"], np.arange(1, 301))
    for p in (60, 150, 300):
        sub, g = model.restrict(p), p / a["n"]
        assert th["svm_R_bal"][p - 1] == pytest.approx(float(asy.cs_svm(sub, g, 1.0, intercept=False).R_bal),
                                                        rel=1e-12)
        used = th["delta_used"][p - 1]
        assert th["cs_R_bal"][p - 1] == pytest.approx(float(asy.cs_svm(sub, g, used, intercept=False).R_bal),
                                                       rel=1e-12)
    # shaded edge: the first gamma = p/n above gamma_star of the model seen with p features
    p_edge = int(round(a["edge"] * a["n"]))
    assert p_edge / 100 > asy.separability_threshold(model.restrict(p_edge), intercept=False)
    assert (p_edge - 1) / 100 <= asy.separability_threshold(model.restrict(p_edge - 1), intercept=False)
    # the CS-SVM beats the SVM on balanced error wherever both exist
    ok = ~np.isnan(th["svm_R_bal"])
    assert np.all(th["cs_R_bal"][ok] <= th["svm_R_bal"][ok] + 1e-12)
    # below the edge: the lam = 0 minimisers of the trained losses, and only there
    below = np.arange(1, 301) < p_edge
    for name, loss in (("LA", asy.vs_preset("LA", 0.1)), ("LDAM", asy.vs_preset("LDAM", 0.1))):
        line = th[f"erm0_{name}_R_bal"]
        assert np.all(np.isnan(line[~below])) and not np.any(np.isnan(line[below]))
        p = 20
        r = asy.erm(model.restrict(p), p / a["n"], loss, 0.0, intercept=False)
        assert line[p - 1] == pytest.approx(float(r.R_bal), rel=1e-12)
    # `asymptotics paper`'s Fig. 2(a) table is the figure's model, without an intercept
    for row in paper_rows(("fig2a",)):
        p = row["p"]
        assert row["gamma_star"] == pytest.approx(asy.separability_threshold(model.restrict(p), intercept=False),
                                                  rel=1e-12)
        assert row["separable"] == (p >= p_edge)
        if p % 3 == 0 and row["separable"]:            # computed by the quick figure
            assert row["R_bal_svm"] == pytest.approx(th["svm_R_bal"][p - 1], rel=1e-12)
            assert row["R_bal_plotted"] == pytest.approx(th["cs_R_bal"][p - 1], rel=1e-12)
            assert row["delta_plotted"] == th["delta_used"][p - 1]


def test_fig2bc_and_erm_figures_are_the_api(quick):
    c = quick[2]["fig2bc"]
    assert c["delta_star"] == pytest.approx(2.83, abs=0.01)
    a, b = quick[2]["erm_path"], quick[2]["erm_gamma"]
    m = plotting.ERM_MODEL
    for name, loss in (("CE", "CE"), ("CDT", ("CDT", a["delta_star"]))):
        np.testing.assert_allclose(a["paths"][name].erm.R_bal, asy.erm(m, 1.0, loss, a["lams"]).R_bal, rtol=1e-12)
    # Theorem 1 made visible: the CDT path ends near the CS-SVM, CE near the SVM
    assert abs(a["paths"]["CDT"].erm.R_bal[-1] - a["cs"].R_bal) < 0.01
    assert abs(a["paths"]["CE"].erm.R_bal[-1] - a["svm"].R_bal) < 0.02
    np.testing.assert_allclose(b["curves"][("CE", 1e-3)], asy.erm(m, b["gammas"], "CE", 1e-3).R_bal, rtol=1e-12)
    below, line = b["curves"][("CE", 0.0)]
    assert below.max() < b["gamma_star"]
    np.testing.assert_allclose(line, asy.erm(m, below, "CE", 0.0).R_bal, rtol=1e-12)


def test_layout_check_catches_overlaps():
    """The checker itself: a y-label pushed into the neighbouring panel, an
    inset whose label leaves its parent, and an annotation over a curve."""
    plt = plotting._plt()
    fig, axes = plt.subplots(1, 2, figsize=(6, 3))
    fig.subplots_adjust(wspace=0.02)
    axes[1].set_ylabel("a long label that cannot fit")
    inset = axes[0].inset_axes([0.02, 0.02, 0.3, 0.3])
    inset.set_xlabel("x")
    axes[0].plot([0, 1], [0, 1], label="line")
    axes[0].text(0.5, 0.5, "on the line")
    problems = " | ".join(layout_problems(fig))
    plt.close(fig)
    assert "another panel" in problems and "leave its parent" in problems and "covers 'line'" in problems


def test_pareto_figure_is_the_api(tmp_path):
    d = plotting.figure_pareto(out=tmp_path, quick=True, n_jobs=1)
    model = plotting.fig3b_model()
    np.testing.assert_allclose(d["front"].values, asy.pareto_front(model, 2.0, n_points=8).values, rtol=1e-9,
                               atol=1e-12)
    np.testing.assert_allclose(d["one_margin"].R, asy.gs_svm(model, 2.0, np.geomspace(1.0, 200.0, 300)).R, rtol=1e-13)
    # every point of the front is at least as good as the one-margin GS-SVM at the same |DEO|
    one = d["one_margin"]
    lower = np.abs(one.DEO) <= np.abs(one.DEO[0])
    for R, deo in d["front"].values:
        assert R <= np.interp(deo, np.abs(one.DEO[lower])[::-1], np.asarray(one.R)[lower][::-1]) + 1e-9
