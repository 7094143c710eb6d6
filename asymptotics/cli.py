"""Command line: ``asymptotics`` / ``python -m asymptotics``.

With no arguments it runs the main job, ``figures`` on defaults.  Every
sub-command prints a human table by default, ``--json`` or ``--csv`` for
machines.  Mistakes in the input are reported as one line on stderr with exit
status 2, never a traceback.

Models on the command line:

* label: ``--prior 0.1 --mean-plus 4,0 --mean-minus 0,2`` or
  ``--prior 0.1 --norms 4,2 --angle 90`` (the angle between the means, in
  degrees; ``--angle 180`` is antipodal);
* group (``--model group``): ``--class-prior 0.5 --group-prior 0.05
  --mean-1 1,0 --mean-2 0.5,2.5`` or ``--norms`` / ``--angle`` likewise.

Values of gamma and delta: a number, a comma list (``1,2,5``), a linear range
``start:stop:num`` or a geometric one ``log:start:stop:num``.
"""
from __future__ import annotations

import argparse
import csv
import json
import sys
import warnings

import numpy as np

from . import __version__
from .errors import ConvergenceError, NotSeparableError
from .tables import text_table


class UsageError(ValueError):
    """A mistake in the command line."""


# ------------------------------------------------------------------ parsing
def parse_values(text: str, name: str) -> np.ndarray:
    """Number, comma list, ``a:b:n`` (linspace) or ``log:a:b:n`` (geomspace)."""
    try:
        if text.startswith("log:"):
            a, b, k = text[4:].split(":")
            return np.geomspace(float(a), float(b), int(k))
        if ":" in text:
            a, b, k = text.split(":")
            return np.linspace(float(a), float(b), int(k))
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise UsageError(f"--{name}: cannot read {text!r} (a number, a,b,c, start:stop:num or "
                         "log:start:stop:num)") from None


def _vector(text: str, name: str) -> np.ndarray:
    try:
        return np.array([float(v) for v in text.split(",")])
    except ValueError:
        raise UsageError(f"--{name}: cannot read {text!r} as a comma-separated vector") from None


def _pair_from_norms(args):
    norms = _vector(args.norms, "norms")
    if norms.size != 2:
        raise UsageError("--norms: give two norms, e.g. 4,2")
    if args.angle is None:
        raise UsageError("--norms needs --angle (degrees between the two means)")
    a = np.deg2rad(args.angle)
    return np.array([norms[0], 0.0]), np.array([norms[1] * np.cos(a), norms[1] * np.sin(a)])


def build_model(args):
    from .models import GroupGMM, LabelGMM
    if args.model == "label":
        if args.prior is None:
            raise UsageError("label model: --prior is required")
        if args.norms is not None:
            mp, mm = _pair_from_norms(args)
        elif args.mean_plus is not None and args.mean_minus is not None:
            mp, mm = _vector(args.mean_plus, "mean-plus"), _vector(args.mean_minus, "mean-minus")
        else:
            raise UsageError("label model: give --mean-plus and --mean-minus, or --norms and --angle")
        return LabelGMM(args.prior, mp, mm)
    if args.class_prior is None or args.group_prior is None:
        raise UsageError("group model: --class-prior and --group-prior are required")
    if args.norms is not None:
        m1, m2 = _pair_from_norms(args)
    elif args.mean_1 is not None and args.mean_2 is not None:
        m1, m2 = _vector(args.mean_1, "mean-1"), _vector(args.mean_2, "mean-2")
    else:
        raise UsageError("group model: give --mean-1 and --mean-2, or --norms and --angle")
    return GroupGMM(args.class_prior, args.group_prior, m1, m2)


# ------------------------------------------------------------------ output
def emit(rows: list, fmt: str, out=None) -> None:
    """Print a list of dicts as a table, JSON or CSV."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump(rows, out, indent=1, default=float)
        out.write("\n")
        return
    if not rows:
        return
    keys = list(rows[0])
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
        return

    def cell(v):
        if isinstance(v, (bool, np.bool_)):
            return str(bool(v))
        if isinstance(v, (int, np.integer)):
            return str(v)
        if isinstance(v, (float, np.floating)):
            return "inf" if v == np.inf else f"{float(v):.6g}"
        return str(v)
    out.write(text_table(keys, [[cell(r[k]) for k in keys] for r in rows]) + "\n")


_LOSSES = {"ce": "CE", "wce": "wCE", "la": "LA", "la-log": "LA-log", "ldam": "LDAM", "cdt": "CDT", "vs": "VS",
           "vs-w": "VS-w", "hinge": "hinge", "square": "square"}


def _loss_name(args) -> str:
    name = _LOSSES.get(str(args.loss).lower())
    if name is None:
        raise UsageError(f"--loss: unknown loss {args.loss!r}; one of {', '.join(_LOSSES)}")
    return name


def _loss_for(name: str, model, delta: float):
    """The loss a CLI name means at margin ratio delta: presets take delta
    (CDT, VS, VS-w); the hinge asks margin delta of the minority class
    (label model) or group (group model) and 1 of the rest; square ignores it."""
    from .group import group_margins
    from .losses import HingeLoss
    if name == "hinge":
        if hasattr(model, "group_priors"):
            return HingeLoss(Delta=group_margins(model, delta).reshape(-1))
        return HingeLoss(Delta=[delta, 1.0])
    return (name, delta) if name not in ("square",) else name


def _grid(args):
    g = parse_values(args.gamma, "gamma")
    d = parse_values(args.delta, "delta") if getattr(args, "delta", None) is not None else np.array([1.0])
    G, D = np.meshgrid(g, d, indexing="ij")
    return G.ravel(), D.ravel()


# ------------------------------------------------------------------ commands
def cmd_predict(args):
    from .group import gs_svm
    from .label import cs_svm
    model = build_model(args)
    if args.loss is not None or args.lam is not None:
        return _predict_erm(args, model)
    g, d = _grid(args)
    rows = []
    if args.model == "label":
        s = cs_svm(model, g, d, intercept=not args.no_intercept)
        for i in range(g.size):
            rows.append({"gamma": g[i], "delta": d[i], "q": s.q[i], "b": s.b[i], "R_plus": s.R_plus[i],
                         "R_minus": s.R_minus[i], "R_bal": s.R_bal[i], "R": s.R[i], "residual": s.residual[i]})
    else:
        s = gs_svm(model, g, d, intercept=not args.no_intercept)
        for i in range(g.size):
            rows.append({"gamma": g[i], "delta": d[i], "q": s.q[i], "b": s.b[i],
                         "R_+1": s.R_yg[i, 0, 0], "R_+2": s.R_yg[i, 0, 1], "R_-1": s.R_yg[i, 1, 0],
                         "R_-2": s.R_yg[i, 1, 1], "R": s.R[i], "R_bal": s.R_bal[i], "DEO": s.DEO[i],
                         "worst": s.worst[i], "residual": s.residual[i]})
    return rows


def _metric_columns(model, res, i):
    if hasattr(model, "group_priors"):
        R = res.R_yg[i]
        return {"R_+1": R[0, 0], "R_+2": R[0, 1], "R_-1": R[1, 0], "R_-2": R[1, 1], "R": res.R[i],
                "R_bal": res.R_bal[i], "DEO": res.DEO[i], "worst": res.worst[i]}
    return {"R_plus": res.R_plus[i], "R_minus": res.R_minus[i], "R_bal": res.R_bal[i], "R": res.R[i]}


def _predict_erm(args, model):
    from .erm import erm
    if args.loss is None or args.lam is None:
        raise UsageError("--loss and --lam go together (regularised ERM), e.g. --loss cdt --lam 1e-3")
    name = _loss_name(args)
    g = parse_values(args.gamma, "gamma")
    lam = parse_values(args.lam, "lam")
    rows = []
    for d in parse_values(args.delta, "delta"):
        G, L = np.meshgrid(g, lam, indexing="ij")
        r = erm(model, G.ravel(), _loss_for(name, model, float(d)), L.ravel(), intercept=not args.no_intercept,
                on_nonseparable="nan")
        pri = model.priors
        for i in range(G.size):
            row = {"gamma": G.ravel()[i], "lam": L.ravel()[i], "delta": d, "q": r.q[i], "b": r.b[i]}
            row.update(_metric_columns(model, r, i))
            row["train_error"] = float(pri @ r.train_error[i])
            row["train_loss"] = float(pri @ r.train_loss[i])
            row["residual"] = r.residual[i]
            row["exists"] = bool(r.exists[i])      # False: lam = 0 has no minimiser there (NaN row)
            rows.append(row)
    return rows


def cmd_threshold(args):
    from .solver import separability_threshold
    model = build_model(args)
    return [{"intercept": ic, "gamma_star": separability_threshold(model, ic)} for ic in (True, False)]


def cmd_delta_star(args):
    from .tuning import delta_min_error, delta_star
    if args.model != "label":
        raise UsageError("delta-star is for label models")
    model = build_model(args)
    rows = []
    for g in parse_values(args.gamma, "gamma"):
        ds = delta_star(model, g, intercept=not args.no_intercept)
        dm = delta_min_error(model, g, intercept=not args.no_intercept)
        rows.append({"gamma": g, "delta_star": ds.delta, "attainable": bool(ds.attainable), "R_bal": ds.R_bal,
                     "R_plus": ds.R_plus, "R_minus": ds.R_minus, "delta_min_R": dm.delta, "R_min": dm.R})
    return rows


def cmd_delta_eo(args):
    from .tuning import delta_equal_opportunity
    if args.model != "group":
        raise UsageError("delta-eo is for group models (--model group)")
    model = build_model(args)
    rows = []
    for g in parse_values(args.gamma, "gamma"):
        e = delta_equal_opportunity(model, g, intercept=not args.no_intercept)
        rows.append({"gamma": g, "delta_0": e.delta, "attainable": bool(e.attainable), "DEO": e.DEO,
                     "R": e.R, "worst": e.worst})
    return rows


def cmd_simulate(args):
    from .simulate import monte_carlo
    model = build_model(args)
    g, d = _grid(args)
    lam = None
    method = args.method
    if args.loss is not None or args.lam is not None:
        if args.loss is None or args.lam is None:
            raise UsageError("--loss and --lam go together (regularised ERM), e.g. --loss cdt --lam 1e-3")
        name = _loss_name(args)
        lam_values = parse_values(args.lam, "lam")
        G, D, L = np.meshgrid(parse_values(args.gamma, "gamma"), parse_values(args.delta, "delta"), lam_values,
                              indexing="ij")
        g, d, lam = G.ravel(), D.ravel(), L.ravel()
        if name == "hinge":
            method = _loss_for(name, model, float(d[0]))
            if np.unique(d).size > 1:
                raise UsageError("--delta: the hinge takes one margin ratio per run")
        else:
            method = name
    r = monte_carlo(model, g, d, n=args.n, trials=args.trials, method=method,
                    intercept=not args.no_intercept, seed=args.seed, n_jobs=args.jobs,
                    progress=not args.json and not args.csv, lam=lam)
    names = [k for k in ("R_plus", "R_minus", "R_bal", "R", "DEO", "worst") if k in r.mean]
    rows = []
    for i in range(g.size):
        row = {"gamma": g[i], "delta": d[i]}
        if lam is not None:
            row["lam"] = lam[i]
        row.update({"d": int(r.d[i]), "valid": int(r.n_valid[i])})
        for k in names:
            row[k] = r.mean[k][i]
            row[k + "_se"] = r.se[k][i]
            row[k + "_theory"] = r.theory[k][i]
        rows.append(row)
    return rows


def cmd_figures(args):
    from .plotting import make_all
    res = make_all(out=args.out, quick=args.quick, n_jobs=args.jobs, progress=not args.json and not args.csv)
    return [{"figure": name, "seconds": round(sec, 1), "files": " ".join(data["files"])}
            for name, (data, sec) in res.items()]


def cmd_paper(args):
    from .paper import paper_table
    print(paper_table())
    return None


def _model_options(p):
    p.add_argument("--model", choices=("label", "group"), default="label")
    p.add_argument("--prior", type=float, help="label model: P(y = +1), the minority")
    p.add_argument("--mean-plus", help="label model: mean of class +1, comma list")
    p.add_argument("--mean-minus", help="label model: mean of class -1, comma list")
    p.add_argument("--class-prior", type=float, help="group model: P(y = +1)")
    p.add_argument("--group-prior", type=float, help="group model: P(g = 1), the minority group")
    p.add_argument("--mean-1", help="group model: mean of group 1, comma list")
    p.add_argument("--mean-2", help="group model: mean of group 2, comma list")
    p.add_argument("--norms", help="the two means' norms, with --angle")
    p.add_argument("--angle", type=float, help="angle between the two means, degrees")
    p.add_argument("--no-intercept", action="store_true", help="force b = 0")


def _format_options(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="JSON output")
    g.add_argument("--csv", action="store_true", help="CSV output")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="asymptotics",
        description="Sharp asymptotics of cost- and group-sensitive max-margin classifiers on Gaussian "
                    "mixtures. Without a command: regenerate the figures (the main job).")
    parser.add_argument("--version", action="version", version=f"asymptotics {__version__}")
    sub = parser.add_subparsers(dest="command")
    p = sub.add_parser("predict", help="CS-SVM / GS-SVM predictions over gamma and delta")
    _model_options(p)
    p.add_argument("--gamma", required=True, help="d/n: number, list or range")
    p.add_argument("--delta", default="1", help="margin ratio: number, list or range (default 1)")
    p.add_argument("--loss", help="regularised ERM instead of the max-margin limit: ce, wce, la, la-log, ldam, cdt, "
                                  "vs, vs-w (the paper's VS-loss presets; cdt/vs/vs-w use --delta), hinge "
                                  "(margin --delta for the minority), square; needs --lam")
    p.add_argument("--lam", help="ridge lambda >= 0 for --loss: number, list or range")
    _format_options(p)
    p.set_defaults(func=cmd_predict)
    p = sub.add_parser("threshold", help="separability threshold gamma* (with and without intercept)")
    _model_options(p)
    _format_options(p)
    p.set_defaults(func=cmd_threshold)
    p = sub.add_parser("delta-star", help="balanced-error-optimal delta* and the delta minimising R")
    _model_options(p)
    p.add_argument("--gamma", required=True)
    _format_options(p)
    p.set_defaults(func=cmd_delta_star)
    p = sub.add_parser("delta-eo", help="delta_0 equalising opportunity (group models)")
    _model_options(p)
    p.add_argument("--gamma", required=True)
    _format_options(p)
    p.set_defaults(func=cmd_delta_eo)
    p = sub.add_parser("simulate", help="Monte-Carlo against the theory")
    _model_options(p)
    p.add_argument("--gamma", required=True)
    p.add_argument("--delta", default="1")
    p.add_argument("--n", type=int, default=400, help="training samples per trial")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="parallel workers")
    p.add_argument("--method", default="svm", help="svm (exact) or a VS-loss preset (label): CDT, LA, ...")
    p.add_argument("--loss", help="simulate regularised ERM with this loss (as predict --loss); needs --lam")
    p.add_argument("--lam", help="ridge lambda >= 0 for --loss: number, list or range")
    _format_options(p)
    p.set_defaults(func=cmd_simulate)
    p = sub.add_parser("figures", help="regenerate every figure (the main job)")
    p.add_argument("--quick", action="store_true", help="coarse grids and few trials (under 2 minutes)")
    p.add_argument("--out", default="figures", help="output folder (default: figures)")
    p.add_argument("--jobs", type=int, default=2, help="parallel workers")
    _format_options(p)
    p.set_defaults(func=cmd_figures)
    p = sub.add_parser("paper", help="table of predictions for the paper's settings")
    p.set_defaults(func=cmd_paper, json=False, csv=False)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args(["figures"] + list(argv or []))
    fmt = "json" if args.json else "csv" if args.csv else "table"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # explicit flags carry what the warnings say
            rows = args.func(args)
    except (UsageError, ValueError, NotSeparableError, ConvergenceError) as exc:
        print(f"asymptotics: error: {exc}", file=sys.stderr)
        return 2
    if rows is not None:
        emit(rows, fmt)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
