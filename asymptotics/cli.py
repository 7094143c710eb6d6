"""Command line: ``asymptotics`` / ``python -m asymptotics``.

Without a command it runs the main job, ``figures`` on defaults; the figures
options work there too (``python -m asymptotics --quick --out DIR --jobs N``).
Every sub-command has ``--help``; ``asymptotics help COMMAND`` prints it too.
Results are a human table by default, ``--json`` (NaN and inf as ``null``) or
``--csv`` for machines.

Exit status: 0 on success; 2 for a mistake in the command line or a file the
job cannot write (one line on stderr naming the flag, never a traceback); 1
when the input is valid but the mathematics says no (the data are not
separable at any requested gamma, ``--lam 0`` has no minimiser at any
requested point, a solver missed its tolerance).  A mistyped command, option
or choice is answered with the nearest one ("did you mean --prior?").

Models on the command line:

* label: ``--prior 0.1 --mean-plus 4,0 --mean-minus 0,2`` or
  ``--prior 0.1 --norms 4,2 --angle 90`` (the angle between the means, in
  degrees; ``--angle 180`` is antipodal);
* group (``--model group``): ``--class-prior 0.5 --group-prior 0.05
  --mean-1 1,0 --mean-2 0.5,2.5`` or ``--norms`` / ``--angle`` likewise.

Values of gamma, delta and lam: a number, a comma list (``1,2,5``), a linear
range ``start:stop:num`` or a geometric one ``log:start:stop:num``.  Every
value is checked here, before any computation, so that a mistake names the
flag; grid sizes and simulation sizes are bounded (:data:`MAX_VALUES`,
:data:`MAX_POINTS`, :data:`MAX_N`, ...).  The mathematics behind the
commands: ``docs/theory.md``.
"""
from __future__ import annotations

import argparse
import csv
import difflib
import json
import math
import os
import re
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np

from . import __version__
from .errors import ConvergenceError, InfeasibleError, NoMinimizerError, NotSeparableError
from .losses import MARGIN_RATIO_LOSSES
from .tables import text_table

# ------------------------------------------------------------------ limits
MAX_VALUES = 10_000        # values in one --gamma/--delta/--lam (list or range)
MAX_POINTS = 100_000       # points of a whole grid (gamma x delta x lam)
MAX_SIM_POINTS = 1_000     # grid points of one simulate run
MAX_N = 10_000             # samples per simulated training set (the exact SVM's dual is n x n)
MAX_D = 100_000            # features per simulated training set, round(gamma n)
MAX_ENTRIES = 50_000_000   # n x d entries of one training set (400 MB)
MAX_TRIALS = 10_000
MAX_JOBS = 256
MIN_MINORITY = 10          # expected samples of the smaller class per simulated training set

SYNTAX = "a number, a comma list a,b,c, a range start:stop:num or log:start:stop:num"
PRESET_FLAGS = {"ce": "CE", "wce": "wCE", "la": "LA", "la-log": "LA-log", "ldam": "LDAM", "cdt": "CDT",
                "vs": "VS", "vs-w": "VS-w"}
LOSS_FLAGS = {**PRESET_FLAGS, "hinge": "hinge", "square": "square"}
DELTA_LOSSES = tuple(k for k, v in LOSS_FLAGS.items() if v in MARGIN_RATIO_LOSSES)   # losses that read --delta


class UsageError(ValueError):
    """A mistake in the command line (exit status 2)."""


class DomainError(RuntimeError):
    """Valid input for which the mathematics has no answer (exit status 1)."""


def _num(x) -> str:
    """A number for a message: no numpy repr."""
    x = float(x)
    return "inf" if x == math.inf else "-inf" if x == -math.inf else f"{x:g}"


# ------------------------------------------------------------------ parsing values
def _float(text: str, flag: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}: cannot read {text.strip()!r} in {whole!r} as a number ({SYNTAX})") from None
    if not math.isfinite(value):
        raise UsageError(f"{flag}: values must be finite, got {text.strip()!r}")
    return value


def _count(text: str, flag: str, whole: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{flag}: the number of points in {whole!r} must be an integer, got {text.strip()!r}") \
            from None
    if not math.isfinite(value) or value != int(value) or value < 1:
        raise UsageError(f"{flag}: the number of points in {whole!r} must be a positive integer, got {text.strip()!r}")
    if value > MAX_VALUES:
        raise UsageError(f"{flag}: at most {MAX_VALUES} points per range, got num = {int(value)}")
    return int(value)


def parse_values(text: str, flag: str, lower: float | None = 0.0, closed: bool = False) -> np.ndarray:
    """Read a value flag: number, comma list ``a,b,c``, ``start:stop:num``
    (linspace) or ``log:start:stop:num`` (geomspace).

    ``flag`` is the flag's name for messages (``"--gamma"``); every value must
    be finite and ``> lower`` (``>= lower`` with ``closed``).  Raises
    :class:`UsageError` naming the flag.
    """
    if not flag.startswith("--"):
        flag = "--" + flag
    whole = str(text).strip()
    if not whole:
        raise UsageError(f"{flag}: empty value; give {SYNTAX}")
    if ":" in whole:
        geometric = whole.lower().startswith("log:")
        parts = (whole[4:] if geometric else whole).split(":")
        if len(parts) != 3:
            raise UsageError(f"{flag}: cannot read {whole!r}: a range is start:stop:num or log:start:stop:num")
        start, stop = _float(parts[0], flag, whole), _float(parts[1], flag, whole)
        num = _count(parts[2], flag, whole)
        if geometric:
            if start <= 0:
                raise UsageError(f"{flag}: log range start must be > 0, got {_num(start)} in {whole!r}")
            if stop <= 0:
                raise UsageError(f"{flag}: log range stop must be > 0, got {_num(stop)} in {whole!r}")
            values = np.geomspace(start, stop, num)
        else:
            values = np.linspace(start, stop, num)
    else:
        items = whole.split(",")
        if len(items) > MAX_VALUES:
            raise UsageError(f"{flag}: at most {MAX_VALUES} values, got {len(items)}")
        values = np.array([_float(v, flag, whole) for v in items])
    if not np.all(np.isfinite(values)):
        raise UsageError(f"{flag}: {whole!r} gives values that are not finite")
    if lower is not None:
        bad = values < lower if closed else values <= lower
        if bad.any():
            relation = ">=" if closed else ">"
            raise UsageError(f"{flag}: every value must be {relation} {_num(lower)}, got {_num(values[bad][0])}"
                             + ("" if whole == _num(values[bad][0]) else f" (from {whole!r})"))
    return values


def _vector(text: str, flag: str) -> np.ndarray:
    items = str(text).split(",")
    try:
        values = np.array([float(v) for v in items])
    except ValueError:
        raise UsageError(f"{flag}: cannot read {text!r} as a comma-separated vector, e.g. 4,0") from None
    if not np.all(np.isfinite(values)):
        raise UsageError(f"{flag}: entries must be finite, got {text!r}")
    if values.size > MAX_D:
        raise UsageError(f"{flag}: at most {MAX_D} coordinates, got {values.size}")
    return values


def _probability_type(flag: str):
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a probability in (0, 1), got {text!r}") from None
        if not 0.0 < value < 1.0:
            raise argparse.ArgumentTypeError(f"must lie in (0, 1), got {text}")
        return value
    parse.__name__ = flag
    return parse


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be finite, got {text!r}")
    return value


def _int_type(low: int, high: int, why: str = ""):
    """argparse type: an integer in [low, high]; accepts 1e3-style integers."""
    def parse(text: str) -> int:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if not math.isfinite(value) or value != int(value):
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}{why}, got {text}")
        return int(value)
    return parse


# ------------------------------------------------------------------ models
def _pair_from_norms(args):
    norms = _vector(args.norms, "--norms")
    if norms.size != 2:
        raise UsageError(f"--norms: give the two means' norms, e.g. 4,2 (got {norms.size} numbers)")
    if np.any(norms < 0):
        raise UsageError(f"--norms: norms must be >= 0, got {args.norms!r}")
    if args.angle is None:
        raise UsageError("--norms needs --angle (degrees between the two means)")
    a = np.deg2rad(args.angle)
    return np.array([norms[0], 0.0]), np.array([norms[1] * np.cos(a), norms[1] * np.sin(a)])


def _only(args, model: str, flags: dict) -> None:
    """Flags of the other model are mistakes, not silently ignored."""
    for dest, flag in flags.items():
        if getattr(args, dest, None) is not None:
            if model == "label":
                raise UsageError(f"{flag} is for group models (--model group); the label model takes --prior "
                                 "and --mean-plus/--mean-minus or --norms/--angle")
            raise UsageError(f"{flag} is for the label model; the group model takes --class-prior, --group-prior "
                             "and --mean-1/--mean-2 or --norms/--angle")


def _means(args, first: str, second: str, flag1: str, flag2: str):
    a, b = getattr(args, first), getattr(args, second)
    if args.norms is not None:
        if a is not None or b is not None:
            raise UsageError(f"give either --norms/--angle or {flag1}/{flag2}, not both")
        return _pair_from_norms(args)
    if args.angle is not None:
        raise UsageError("--angle goes with --norms (the two means' norms)")
    if a is None or b is None:
        missing = flag1 if a is None else flag2
        raise UsageError(f"{missing} is required: give {flag1} and {flag2} (comma lists), or --norms and --angle")
    va, vb = _vector(a, flag1), _vector(b, flag2)
    if va.size != vb.size:
        raise UsageError(f"{flag1} and {flag2} must have the same length, got {va.size} and {vb.size}")
    return va, vb


def build_model(args):
    """The LabelGMM or GroupGMM the model flags describe (checked here)."""
    from .models import GroupGMM, LabelGMM
    if args.model == "label":
        _only(args, "label", {"class_prior": "--class-prior", "group_prior": "--group-prior", "mean_1": "--mean-1",
                              "mean_2": "--mean-2"})
        if args.prior is None:
            raise UsageError("--prior is required for the label model (P(y = +1), the minority), e.g. --prior 0.1")
        mp, mm = _means(args, "mean_plus", "mean_minus", "--mean-plus", "--mean-minus")
        _warn_majority(args.prior, "--prior", "class +1")
        return LabelGMM(args.prior, mp, mm)
    _only(args, "group", {"prior": "--prior", "mean_plus": "--mean-plus", "mean_minus": "--mean-minus"})
    for dest, flag in (("class_prior", "--class-prior"), ("group_prior", "--group-prior")):
        if getattr(args, dest) is None:
            raise UsageError(f"{flag} is required for the group model (--model group)")
    m1, m2 = _means(args, "mean_1", "mean_2", "--mean-1", "--mean-2")
    _warn_majority(args.group_prior, "--group-prior", "group 1")
    return GroupGMM(args.class_prior, args.group_prior, m1, m2)


def _warn_majority(prior: float, flag: str, who: str) -> None:
    """One line on stderr when the prior makes the documented minority the
    majority.  The results are computed as given (the mathematics holds for
    any prior), but delta is the margin of ``who``, and a newcomer who typed the
    majority's share most likely meant the other class.  The command line
    only: the API takes any prior without a word (models with the roles
    swapped are legitimate there)."""
    if prior > 0.5:
        _warning(f"{flag} {_num(prior)} > 0.5 makes {who}, documented as the minority (the one delta "
                 f"applies to), the majority; computing as given (for the usual roles use {flag} "
                 f"{_num(1 - prior)} and swap the two means)")


def _minority_prior(model) -> float:
    p = model.prior if hasattr(model, "prior") else model.class_prior
    return min(p, 1.0 - p)


# ------------------------------------------------------------------ library messages -> flags
_API_FLAGS = {"gamma": "--gamma", "delta": "--delta", "lam": "--lam", "prior": "--prior",
              "class_prior": "--class-prior", "group_prior": "--group-prior", "mean_plus": "--mean-plus",
              "mean_minus": "--mean-minus", "mean_1": "--mean-1", "mean_2": "--mean-2", "trials": "--trials",
              "seed": "--seed", "n_jobs": "--jobs", "method": "--method", "loss": "--loss", "n": "--n",
              "objective": "--objective", "constraints": "--constraint", "margins": "--margins",
              "test_prior": "--test-prior"}


def flag_message(message: str, args=None) -> str:
    """A library message in the command line's terms: the API argument names
    it starts with become flags and numpy reprs are dropped, e.g.
    ``delta must be > 0, got array([-1.])`` -> ``--delta must be > 0, got [-1.]``."""
    names = dict(_API_FLAGS)
    if args is not None:
        group = getattr(args, "model", "label") == "group"
        names["means"] = "--mean-1/--mean-2" if group else "--mean-plus/--mean-minus"
        if getattr(args, "norms", None) is not None:
            for k in ("mean_plus", "mean_minus", "mean_1", "mean_2", "means"):
                names[k] = "--norms"
    msg = re.sub(r"array\((.*?)(?:, dtype=\w+)?\)", r"\1", str(message)).replace("\n", " ")
    out = []
    rest = msg
    while True:          # leading names: "gamma must ...", "mean_plus and mean_minus must ...", "a/b are ..."
        m = re.match(r"(\w+)(:?)(\s+and\s+|/|,\s*)?", rest)
        if not m or m.group(1) not in names:
            break
        out.append(names[m.group(1)] + m.group(2))
        rest = rest[m.end(1) + len(m.group(2)):]
        sep = m.group(3)
        if not sep or m.group(2):
            break
        nxt = re.match(r"\w+", rest[len(sep):])
        if not nxt or nxt.group(0) not in names:
            break
        out.append(sep)
        rest = rest[len(sep):]
    text = "".join(out) + rest
    return re.sub(r"(--[\w-]+)(?:/|\s+and\s+)\1(?![\w-])", r"\1", text)     # --norms/--norms -> --norms


# ------------------------------------------------------------------ output
def _json_value(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    return v


def emit(rows: list, fmt: str, out=None) -> None:
    """Print a list of dicts as a table, JSON (strict: NaN and inf are
    ``null``) or CSV (columns: the union of the rows' keys)."""
    out = out or sys.stdout
    if fmt == "json":
        json.dump([{k: _json_value(v) for k, v in r.items()} for r in rows], out, indent=1, allow_nan=False)
        out.write("\n")
        return
    if not rows:
        return
    keys = list(rows[0])
    for r in rows[1:]:
        keys += [k for k in r if k not in keys]
    if fmt == "csv":
        w = csv.DictWriter(out, fieldnames=keys, restval="", lineterminator="\n")
        w.writeheader()
        w.writerows({k: _json_value(v) if not isinstance(v, (float, np.floating)) else float(v)
                     for k, v in r.items()} for r in rows)
        return

    def cell(v):
        if isinstance(v, (bool, np.bool_)):
            return str(bool(v))
        if isinstance(v, (int, np.integer)):
            return str(v)
        if isinstance(v, (float, np.floating)):
            return "inf" if v == np.inf else f"{float(v):.6g}"
        return "" if v is None else str(v)
    out.write(text_table(keys, [[cell(r.get(k, "")) for k in keys] for r in rows]) + "\n")


# ------------------------------------------------------------------ loss helpers
def _loss_key(args) -> str:
    key = str(args.loss).lower()
    if key not in LOSS_FLAGS:
        raise UsageError(f"--loss: unknown loss {args.loss!r}; one of {', '.join(LOSS_FLAGS)}")
    return key


def _loss_for(key: str, model, delta: float | None):
    """The per-cluster losses a CLI name means at margin ratio ``delta``
    (None: no --delta): the API's own reading
    (:func:`asymptotics.losses.resolve_loss`), so that the same words mean
    the same classifier on both sides."""
    from .losses import resolve_loss
    return resolve_loss(LOSS_FLAGS[key], model, delta)


def _check_loss_flags(args) -> str | None:
    """The --loss key, or None for the max-margin limit; checks --lam/--delta go with it."""
    if args.loss is None and args.lam is None:
        return None
    if args.loss is None:
        raise UsageError("--lam needs --loss (regularised ERM), e.g. --loss cdt --lam 1e-3")
    key = _loss_key(args)
    if args.lam is None:
        raise UsageError(f"--loss {key} needs --lam (the ridge, >= 0), e.g. --lam 1e-3")
    if args.delta is not None and key not in DELTA_LOSSES:
        raise UsageError(f"--delta: the {key} loss has no margin ratio (only {', '.join(DELTA_LOSSES)} read --delta)")
    return key


def _grid_size(*arrays) -> int:
    size = 1
    for a in arrays:
        size *= a.size
    if size > MAX_POINTS:
        raise UsageError(f"--gamma/--delta/--lam: the grid has {size} points, at most {MAX_POINTS}")
    return size


def _gammas(args) -> np.ndarray:
    return parse_values(args.gamma, "--gamma")


def _deltas(args) -> np.ndarray:
    return parse_values("1" if args.delta is None else args.delta, "--delta")


def _lams(args) -> np.ndarray:
    return parse_values(args.lam, "--lam", lower=0.0, closed=True)


def _all_nonseparable(model, gammas, intercept) -> None:
    from .solver import separability_threshold
    gs = separability_threshold(model, intercept)
    kind = "with" if intercept else "without"
    raise DomainError(f"not linearly separable {kind} an intercept at any requested --gamma "
                      f"(largest {_num(np.max(gammas))} <= gamma_star = {gs:.6g}); the max-margin classifier "
                      "needs gamma > gamma_star (see the threshold command)")


# ------------------------------------------------------------------ commands
def cmd_predict(args):
    from .group import gs_svm
    from .label import cs_svm
    model = build_model(args)
    key = _check_loss_flags(args)
    test_prior = _test_prior(args)
    if key is not None:
        return _predict_erm(args, model, key, test_prior)
    g, d = _gammas(args), _deltas(args)
    _grid_size(g, d)
    G, D = (a.ravel() for a in np.meshgrid(g, d, indexing="ij"))
    intercept = not args.no_intercept
    rows = []
    if args.model == "label":
        s = cs_svm(model, G, D, intercept=intercept, on_nonseparable="nan")
    else:
        s = gs_svm(model, G, D, intercept=intercept, on_nonseparable="nan")
    if not np.any(s.separable):
        _all_nonseparable(model, G, intercept)
    for i in range(G.size):
        row = {"gamma": G[i], "delta": D[i], "separable": bool(s.separable[i]), "q": s.q[i], "b": s.b[i]}
        if args.model == "label":
            row.update({"R_plus": s.R_plus[i], "R_minus": s.R_minus[i], "R_bal": s.R_bal[i], "R": s.R[i]})
        else:
            row.update({"R_+1": s.R_yg[i, 0, 0], "R_+2": s.R_yg[i, 0, 1], "R_-1": s.R_yg[i, 1, 0],
                        "R_-2": s.R_yg[i, 1, 1], "R": s.R[i], "R_bal": s.R_bal[i], "DEO": s.DEO[i],
                        "worst": s.worst[i]})
        row["residual"] = s.residual[i]
        rows.append(row)
    return _with_metrics(args, s, rows, test_prior)


def _test_prior(args):
    """--test-prior as a number (checked by performance, which names it), only with --metrics."""
    if args.test_prior is not None and not args.metrics:
        raise UsageError("--test-prior goes with --metrics (the deployment class mix of the metrics)")
    if args.test_prior is None:
        return None
    try:
        return float(args.test_prior)
    except ValueError:
        raise UsageError(f"--test-prior must be a number in (0, 1), got {args.test_prior!r}") from None


_PERFORMANCE_COLUMNS = ("auc", "auprc", "precision", "recall", "f1", "mcc")


def _with_metrics(args, result, rows, test_prior, offset=0):
    """The rows with the deployment metrics of ``result`` (flat, aligned with
    rows[offset:]) appended, when --metrics asks for them."""
    if not args.metrics:
        return rows
    from .performance import performance
    perf = performance(result, test_prior)
    for i, row in enumerate(rows[offset:]):
        row.update({name: float(np.asarray(getattr(perf, name)).reshape(-1)[i]) for name in _PERFORMANCE_COLUMNS})
    return rows


def _metric_columns(model, res, i):
    if hasattr(model, "group_priors"):
        R = res.R_yg[i]
        return {"R_+1": R[0, 0], "R_+2": R[0, 1], "R_-1": R[1, 0], "R_-2": R[1, 1], "R": res.R[i],
                "R_bal": res.R_bal[i], "DEO": res.DEO[i], "worst": res.worst[i]}
    return {"R_plus": res.R_plus[i], "R_minus": res.R_minus[i], "R_bal": res.R_bal[i], "R": res.R[i]}


def _predict_erm(args, model, key, test_prior=None):
    from .erm import GAMMA_RANGE, LAM_RANGE, erm
    g, lam, deltas = _gammas(args), _lams(args), _deltas(args)
    _grid_size(g, lam, deltas)
    if np.any((g < GAMMA_RANGE[0]) | (g > GAMMA_RANGE[1])):
        raise UsageError(f"--gamma: with --loss every value must lie in [{_num(GAMMA_RANGE[0])}, "
                         f"{_num(GAMMA_RANGE[1])}] (the range solved to full accuracy)")
    if np.any((lam != 0) & ((lam < LAM_RANGE[0]) | (lam > LAM_RANGE[1]))):
        raise UsageError(f"--lam: every value must be 0 or in [{_num(LAM_RANGE[0])}, {_num(LAM_RANGE[1])}] "
                         "(the range solved to full accuracy; the lam -> 0 limit above gamma* is predict "
                         "without --loss)")
    rows = []
    G, L = (a.ravel() for a in np.meshgrid(g, lam, indexing="ij"))
    for d in deltas:
        r = erm(model, G, _loss_for(key, model, None if args.delta is None else float(d)), L,
                intercept=not args.no_intercept, on_nonseparable="nan")
        pri = model.priors
        start = len(rows)
        for i in range(G.size):
            row = {"gamma": G[i], "lam": L[i], "delta": d, "q": r.q[i], "b": r.b[i]}
            row.update(_metric_columns(model, r, i))
            row["train_error"] = float(pri @ r.train_error[i])
            row["train_loss"] = float(pri @ r.train_loss[i])
            row["residual"] = r.residual[i]
            row["exists"] = bool(r.exists[i])      # False: lam = 0 has no minimiser there (NaN row)
            rows.append(row)
        _with_metrics(args, r, rows, test_prior, offset=start)
    if not any(row["exists"] for row in rows):
        _all_without_minimiser(args, model, key, g)
    return rows


def _all_without_minimiser(args, model, key, gammas) -> None:
    """No requested point has a minimiser (every one is lam = 0 beyond its
    threshold): exit 1, as the max-margin predict does when no gamma is
    separable.  The threshold and the reason are the library's (the error
    erm raises at the smallest gamma, before it solves anything)."""
    from .erm import erm
    g = float(np.min(gammas))
    try:
        # existence does not depend on the margins: the loss by its plain name is enough
        erm(model, g, LOSS_FLAGS[key], 0.0, intercept=not args.no_intercept, on_nonseparable="raise")
    except NoMinimizerError as exc:
        if key == "square":
            why = f"smallest {_num(g)} >= 1: at least as many features as samples, least squares interpolates"
            fix = "use --lam > 0"
        else:
            kind = "without" if args.no_intercept else "with"
            why = (f"smallest {_num(g)} >= gamma_star = {exc.threshold:.6g}: the data are linearly separable "
                   f"{kind} an intercept")
            fix = "use --lam > 0, or predict without --loss for the lam -> 0 limit (the max-margin classifier)"
        raise DomainError(f"--lam 0: the {key} training loss has no minimiser at any requested --gamma ({why}); "
                          + fix) from None
    raise AssertionError("erm found a lam = 0 minimiser that its grid call did not")   # pragma: no cover


def cmd_threshold(args):
    from .solver import separability_threshold
    model = build_model(args)
    rows = [{"intercept": ic, "gamma_star": separability_threshold(model, ic),
             "log_gamma_star": separability_threshold(model, ic, log=True)} for ic in (True, False)]
    if all(r["gamma_star"] > 0 for r in rows):
        for r in rows:          # the logarithm only where gamma_star underflows (is printed as 0)
            del r["log_gamma_star"]
    return rows


def _per_gamma(args, model, solve, nan_row):
    """Rows of ``solve(gamma)``; gamma at or below gamma_star gives
    ``nan_row`` with ``separable = False``; all of them: a DomainError."""
    intercept = not args.no_intercept
    gammas = _gammas(args)
    rows = []
    for g in gammas:
        try:
            rows.append({"gamma": g, "separable": True, **solve(float(g))})
        except NotSeparableError:
            rows.append({"gamma": g, "separable": False, **nan_row})
    if not any(r["separable"] for r in rows):
        _all_nonseparable(model, gammas, intercept)
    return rows


def cmd_delta_star(args):
    from .tuning import delta_min_error, delta_star
    if args.model != "label":
        raise UsageError("--model group: delta-star is for label models (for group models use delta-eo)")
    model = build_model(args)
    intercept = not args.no_intercept

    def solve(g):
        ds = delta_star(model, g, intercept=intercept)
        dm = delta_min_error(model, g, intercept=intercept)
        return {"delta_star": ds.delta, "attainable": bool(ds.attainable), "R_bal": ds.R_bal,
                "R_plus": ds.R_plus, "R_minus": ds.R_minus, "delta_min_R": dm.delta, "R_min": dm.R}
    nan = float("nan")
    return _per_gamma(args, model, solve, {"delta_star": nan, "attainable": False, "R_bal": nan, "R_plus": nan,
                                           "R_minus": nan, "delta_min_R": nan, "R_min": nan})


def cmd_delta_eo(args):
    from .tuning import delta_equal_opportunity
    if args.model != "group":
        raise UsageError("--model: delta-eo is for group models (add --model group; for label models use "
                         "delta-star)")
    model = build_model(args)
    intercept = not args.no_intercept

    def solve(g):
        e = delta_equal_opportunity(model, g, intercept=intercept)
        return {"delta_0": e.delta, "attainable": bool(e.attainable), "DEO": e.DEO, "R": e.R, "worst": e.worst}
    nan = float("nan")
    return _per_gamma(args, model, solve, {"delta_0": nan, "attainable": False, "DEO": nan, "R": nan,
                                           "worst": nan})


def _parse_constraints(items) -> dict:
    from .optimize import CONSTRAINT_METRICS
    out = {}
    for item in items or ():
        name, sep, value = str(item).partition("=")
        name = name.strip()
        if not sep:          # the metric itself is checked by optimize_margins (for the model at hand)
            raise UsageError(f"--constraint: expected METRIC=BOUND with METRIC one of "
                             f"{', '.join(CONSTRAINT_METRICS)}, got {item!r}")
        try:
            bound = float(value)
        except ValueError:
            raise UsageError(f"--constraint: cannot read the bound in {item!r}") from None
        if not (bound > 0 and math.isfinite(bound)):
            raise UsageError(f"--constraint: the bound must be a positive number, got {item!r}")
        out[name] = bound
    return out


def cmd_optimize(args):
    from .optimize import optimize_margins
    # --objective and the --constraint metrics are checked by optimize_margins, for the model at hand,
    # before any computation; its messages name "objective"/"constraints", which flag_message turns into flags
    if args.margins not in ("per-cluster", "minority"):
        raise UsageError(f"--margins: per-cluster or minority, got {args.margins!r}")
    constraints = _parse_constraints(args.constraint)
    model = build_model(args)
    intercept = not args.no_intercept

    def solve(g):
        o = optimize_margins(model, g, args.objective, constraints, margins=args.margins, intercept=intercept)
        row = {"objective": args.objective, "value": o.value, "attainable": bool(o.attainable), "kkt": o.kkt,
               "status": int(o.status)}
        if args.model == "label":
            row.update({"margin_plus": o.margins[0], "margin_minus": o.margins[1]})
        else:
            G = model.n_groups
            for k, m in enumerate(o.margins):
                row[f"margin_{'+' if k < G else '-'}{k % G + 1}"] = m
        for name in ("R_plus", "R_minus", "R_bal", "R", "DEO", "worst"):
            if name in o.metrics:
                row[name] = float(o.metrics[name])
        return row
    return _per_gamma(args, model, solve, {"objective": args.objective, "value": float("nan")})


def cmd_simulate(args):
    from .simulate import monte_carlo
    model = build_model(args)
    key = _check_loss_flags(args)
    method = args.method
    lam = None
    gammas, deltas = _gammas(args), _deltas(args)
    if key is not None:
        if args.method.lower() != "svm":
            raise UsageError("--method: give either --method (gradient descent) or --loss/--lam (exact "
                             "regularised fits), not both")
        lam_values = _lams(args)
        if key == "hinge" and deltas.size > 1:
            raise UsageError("--delta: the hinge takes one margin ratio per run")
        G, D, L = np.meshgrid(gammas, deltas, lam_values, indexing="ij")
        g, d, lam = G.ravel(), D.ravel(), L.ravel()
        method = LOSS_FLAGS[key]      # monte_carlo reads it (and delta) through resolve_loss, as predict does
    else:
        name = {k.lower(): v for k, v in [("svm", "svm"), *PRESET_FLAGS.items()]}.get(args.method.lower())
        if name is None:
            raise UsageError(f"--method: unknown method {args.method!r}; svm or one of {', '.join(PRESET_FLAGS)}")
        if name != "svm" and args.model != "label":
            raise UsageError("--method: the VS-loss presets are label-model losses; use --method svm or --loss")
        if args.delta is not None and name not in ("svm", "CDT", "VS", "VS-w"):
            raise UsageError(f"--delta: --method {args.method} has no margin ratio (svm, cdt, vs and vs-w read "
                             "--delta)")
        method = name
        G, D = np.meshgrid(gammas, deltas, indexing="ij")
        g, d = G.ravel(), D.ravel()
    if g.size > MAX_SIM_POINTS:
        raise UsageError(f"--gamma/--delta/--lam: a simulation grid has at most {MAX_SIM_POINTS} points, "
                         f"got {g.size}")
    n = args.n
    need = math.ceil(MIN_MINORITY / _minority_prior(model))
    if n < need:
        raise UsageError(f"--n: n = {n} gives fewer than {MIN_MINORITY} expected samples of the smaller class "
                         f"(prior {_num(_minority_prior(model))}); use --n {need} or more")
    dims = np.maximum(1, np.rint(gammas * n)).astype(np.int64) if np.max(gammas) * n < 1e18 else None
    if dims is None or dims.max() > MAX_D:
        raise UsageError(f"--gamma: round(gamma n) = {_num(np.max(gammas) * n)} features, at most {MAX_D}")
    if dims.max() * n > MAX_ENTRIES:
        raise UsageError(f"--gamma/--n: a training set of n = {n} samples in d = {int(dims.max())} dimensions has "
                         f"{int(dims.max()) * n} entries, at most {MAX_ENTRIES}; lower --n or --gamma")
    used = np.flatnonzero(np.any(model.means != 0, axis=0))
    width = int(used[-1]) + 1 if used.size else 0
    if dims.min() < width:
        raise UsageError(f"--gamma: round(gamma n) = {int(dims.min())} features is fewer than the {width} "
                         "coordinates of the means; raise --gamma or --n")
    r = monte_carlo(model, g, d, n=n, trials=args.trials, method=method,
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


def check_out_dir(out) -> Path:
    """``--out``: an existing or creatable, writable directory (created
    here, before any computation).  Raises :class:`UsageError`."""
    if not str(out).strip():
        raise UsageError("--out: empty path (give a directory, e.g. --out figures)")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out: {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out: cannot create {path}: {exc.strerror or exc}") from None
    try:
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        raise UsageError(f"--out: cannot write into {path}: {exc.strerror or exc}") from None
    return path


def cmd_figures(args):
    check_out_dir(args.out)
    from .plotting import make_all
    res = make_all(out=args.out, quick=args.quick, n_jobs=args.jobs, progress=not args.json and not args.csv)
    return [{"figure": name, "seconds": round(sec, 1), "files": " ".join(data["files"])}
            for name, (data, sec) in res.items()]


def cmd_paper(args):
    from .paper import SETTINGS, paper_rows, paper_table
    settings = SETTINGS if args.setting == "all" else (args.setting,)
    if args.json or args.csv:
        return paper_rows(settings)
    print(paper_table(settings))
    return None


# ------------------------------------------------------------------ parser
class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog):
        super().__init__(prog, max_help_position=30, width=100)


def _did_you_mean(word: str, candidates) -> str:
    """`` (did you mean X?)`` for the closest candidate, or ``""``."""
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (exit status 2), and which
    reads values that start with a minus sign and a digit (``--mean-minus
    -2,0``, ``--gamma -1:2:3``) as values, not as unknown options.

    A command's parser (``command=True``) answers for everything after the
    command itself: an unknown option (``predict --pi 0.1``) is reported by
    it, with "did you mean --prior?" and its own help pointer, before any
    missing required option; argparse would leave it to the program's parser
    and its top-level help."""

    def __init__(self, *args, command: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = re.compile(r"^-\.?\d")
        self._command = command

    def _known_option(self, name: str) -> bool:
        if name in self._option_string_actions:
            return True
        # argparse accepts a unique prefix (--pri for --prior); an ambiguous one is its own error
        return name.startswith("--") and any(o.startswith(name) for o in self._option_string_actions)

    def parse_known_args(self, args=None, namespace=None):
        if not self._command:
            return super().parse_known_args(args, namespace)
        args = list(sys.argv[1:] if args is None else args)
        for token in args:
            if token == "--":
                break
            name = token.split("=", 1)[0]
            if name.startswith("-") and len(name) > 1 and not self._negative_number_matcher.match(name) \
                    and not self._known_option(name):
                options = [o for o in self._option_string_actions if o.startswith("--")]
                self.error(f"unrecognized option {name}{_did_you_mean(name, options)}")
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras

    def _check_value(self, action, value):
        # a mistyped choice (a command, --model, --setting) gets the nearest one instead of the whole list
        if action.choices is not None and value not in action.choices:
            hint = _did_you_mean(value, action.choices)
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}" + (
                hint or f" (choose from {', '.join(map(str, action.choices))})"))

    def error(self, message):
        message = message.replace("\n", " ")
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


VALUES_HELP = f"""\
values of --gamma, --delta and --lam: {SYNTAX}
  e.g. 2 | 0.5,1,2 | 0.5:5:10 (10 points from 0.5 to 5) | log:1:100:5 (1, 3.16, 10, 31.6, 100);
  at most {MAX_VALUES} values per flag and {MAX_POINTS} grid points"""

MODEL_HELP = """\
models:
  label (default): --prior P --mean-plus V --mean-minus V, or --prior P --norms A,B --angle DEG
  group (--model group): --class-prior P --group-prior P --mean-1 V --mean-2 V, or --norms/--angle
  class +1 is the minority (P(y = +1) = --prior), group 1 the minority group; x | y ~ N(mu_y, I);
  --prior or --group-prior > 0.5 is computed as given, with a one-line warning on stderr"""

EXIT_HELP = """\
exit status: 0 ok; 2 a mistake on the command line (one line naming the flag); 1 the input is valid
but has no answer (not separable at any gamma, --lam 0 without a minimiser at every point, a solver
missed its tolerance).
The mathematics: docs/theory.md."""


def _wrap(text: str) -> str:
    """Paragraphs of a description wrapped to the help width."""
    return "\n\n".join(textwrap.fill(par, 98) for par in text.split("\n\n"))


def _epilog(*parts, examples=()):
    text = "\n\n".join(parts)
    if examples:
        text += "\n\nexamples:\n" + "\n".join("  asymptotics " + e for e in examples)
    return text


def _model_options(p):
    g = p.add_argument_group("model")
    g.add_argument("--model", choices=("label", "group"), default="label",
                   help="label imbalance (CS-SVM) or group imbalance (GS-SVM) (default: label)")
    g.add_argument("--prior", type=_probability_type("--prior"), metavar="P",
                   help="label model: P(y = +1), the minority class, in (0, 1)")
    g.add_argument("--mean-plus", metavar="V", help="label model: mean of class +1, comma list, e.g. 4,0")
    g.add_argument("--mean-minus", metavar="V", help="label model: mean of class -1, comma list, e.g. 0,2")
    g.add_argument("--class-prior", type=_probability_type("--class-prior"), metavar="P",
                   help="group model: P(y = +1), in (0, 1)")
    g.add_argument("--group-prior", type=_probability_type("--group-prior"), metavar="P",
                   help="group model: P(g = 1), the minority group, in (0, 1)")
    g.add_argument("--mean-1", metavar="V", help="group model: mean of group 1 (x | y, g ~ N(y mu_g, I)), comma list")
    g.add_argument("--mean-2", metavar="V", help="group model: mean of group 2, comma list")
    g.add_argument("--norms", metavar="A,B",
                   help="instead of the mean vectors: their two norms (class +1, -1 or group 1, 2), with --angle")
    g.add_argument("--angle", type=_finite_float, metavar="DEG",
                   help="with --norms: angle between the two means in degrees (90 orthogonal, 180 antipodal)")


def _intercept_option(p):
    p.add_argument("--no-intercept", action="store_true",
                   help="force b = 0 (default: the classifier fits an intercept b)")


def _format_options(p):
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print JSON (a list of rows; NaN and inf as null)")
    g.add_argument("--csv", action="store_true", help="print CSV (default: a human-readable table)")


def _figure_options(p):
    p.add_argument("--quick", action="store_true",
                   help="coarse grids and few trials, about 11 s (default: the full figures, about 1 min on 2 cores)")
    p.add_argument("--out", default="figures", metavar="DIR",
                   help="output folder, created if missing; checked before any computation (default: figures)")
    p.add_argument("--jobs", type=_int_type(1, MAX_JOBS), default=2, metavar="N",
                   help="parallel worker processes (default: 2)")
    _format_options(p)


COMMANDS = ("predict", "threshold", "delta-star", "delta-eo", "optimize", "simulate", "figures", "paper", "help")


def build_parser():
    parser = _Parser(
        prog="asymptotics", formatter_class=_Formatter,
        description=_wrap("Sharp asymptotics of cost- and group-sensitive max-margin classifiers (CS-SVM, GS-SVM) "
                    "and of regularised training on Gaussian mixtures.\n\n"
                    "Without a command: the main job, 'figures' on defaults (regenerates every figure into "
                    "figures/, about 1 min on 2 cores); the figures options work there too: asymptotics --quick --out DIR."),
        epilog=_epilog(VALUES_HELP, MODEL_HELP, EXIT_HELP, examples=(
            "predict --prior 0.1 --mean-plus 4,0 --mean-minus 0,2 --gamma 2 --delta log:1:10:5",
            "threshold --prior 0.1 --norms 4,2 --angle 90",
            "figures --quick --out /tmp/figs",
            "help predict")))
    parser.add_argument("--version", action="version", version=f"asymptotics {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name, summary, description, examples=(), epilog=()):
        p = sub.add_parser(name, help=summary, description=_wrap(description), formatter_class=_Formatter,
                           epilog=_epilog(*epilog, examples=examples), command=True)
        return p

    p = command("predict", "CS-SVM / GS-SVM (or regularised ERM) predictions over a grid of gamma and delta",
                "Predicted test errors of the max-margin classifier with margin ratio delta (CS-SVM for label "
                "models, GS-SVM for group models) at every (gamma, delta) of the grid, as n, d -> inf with "
                "gamma = d/n. Points with gamma <= gamma* (not separable: no max-margin classifier) are "
                "filled with NaN and separable = False. With --loss and --lam: the classifier trained by "
                "ridge-regularised ERM with that loss instead, at every (gamma, lam, delta).",
                examples=("predict --prior 0.1 --mean-plus 4,0 --mean-minus 0,2 --gamma 2 --delta log:1:10:5",
                          "predict --model group --class-prior 0.5 --group-prior 0.05 --norms 3,3 --angle 90 "
                          "--gamma 1,2 --delta 5",
                          "predict --prior 0.1 --norms 2,1 --angle 90 --gamma 0.05,1 --loss cdt --delta 3 "
                          "--lam 1e-3,0.1"),
                epilog=(VALUES_HELP, MODEL_HELP, EXIT_HELP))
    _model_options(p)
    p.add_argument("--gamma", required=True, metavar="VALUES", help="gamma = d/n, > 0 (required)")
    p.add_argument("--delta", metavar="VALUES",
                   help="margin ratio delta > 0: minority class (label) or minority group (group) margin over "
                        "the others' (default: 1, the plain SVM)")
    p.add_argument("--loss", metavar="NAME",
                   help="regularised ERM instead of the max-margin limit: " + ", ".join(LOSS_FLAGS) +
                        " (the paper's VS-loss presets; cdt, vs, vs-w and hinge read --delta); needs --lam "
                        "(default: none, the max-margin limit)")
    p.add_argument("--lam", metavar="VALUES", help="ridge lambda >= 0 for --loss (0: unregularised, NaN and "
                                                   "exists = False where no minimiser exists)")
    p.add_argument("--metrics", action="store_true",
                   help="add deployment metrics (asymptotics.performance): auc and auprc (threshold-free), "
                        "precision, recall, f1 and mcc at the trained threshold (default: off)")
    p.add_argument("--test-prior", metavar="P", help="P(y = +1) at deployment for --metrics, in (0, 1) "
                                                     "(default: the training prior)")
    _intercept_option(p)
    _format_options(p)
    p.set_defaults(func=cmd_predict)

    p = command("threshold", "separability threshold gamma* (with and without intercept)",
                "The separability threshold gamma*: the data are linearly separable (the max-margin "
                "classifier exists) iff gamma > gamma*. Printed with and without an intercept; it does not "
                "depend on delta.",
                examples=("threshold --prior 0.1 --norms 4,2 --angle 90",), epilog=(MODEL_HELP, EXIT_HELP))
    _model_options(p)
    _format_options(p)
    p.set_defaults(func=cmd_threshold)

    p = command("delta-star", "balanced-error-optimal delta* and the delta minimising R (label models)",
                "For each gamma: delta*, the margin ratio minimising the balanced error (closed form with an "
                "intercept, where R+ = R- at delta*), and the delta minimising the standard error R. "
                "attainable = False: no finite positive delta attains the optimum (delta* = inf or 0, the "
                "limit). gamma <= gamma* gives NaN and separable = False.",
                examples=("delta-star --prior 0.05 --norms 2,2 --angle 180 --gamma 0.5:5:4",),
                epilog=(VALUES_HELP, MODEL_HELP, EXIT_HELP))
    _model_options(p)
    p.add_argument("--gamma", required=True, metavar="VALUES", help="gamma = d/n, > 0 (required)")
    _intercept_option(p)
    _format_options(p)
    p.set_defaults(func=cmd_delta_star)

    p = command("delta-eo", "delta_0 equalising opportunity (group models)",
                "For each gamma: delta_0, the minority group's margin at which the GS-SVM has DEO = "
                "R_{+,1} - R_{+,2} = 0, with the standard and worst-group errors there. attainable = False: "
                "DEO keeps one sign (delta_0 = 0 or inf, the limit). gamma <= gamma* gives NaN and "
                "separable = False.",
                examples=("delta-eo --model group --class-prior 0.5 --group-prior 0.05 --mean-1 3,0 --mean-2 0,3 "
                          "--gamma 2",),
                epilog=(VALUES_HELP, MODEL_HELP, EXIT_HELP))
    _model_options(p)
    p.add_argument("--gamma", required=True, metavar="VALUES", help="gamma = d/n, > 0 (required)")
    _intercept_option(p)
    _format_options(p)
    p.set_defaults(func=cmd_delta_eo)

    p = command("optimize", "optimal margins for a metric, under constraints (exact gradients)",
                "For each gamma: the margins minimising --objective (R, R_bal, R_subgroup_bal, worst, "
                "abs_DEO) subject to every --constraint METRIC=BOUND (an upper bound; abs_DEO = |DEO|, worst = "
                "every subgroup error), over the minority margin alone (--margins minority: the CS-SVM's or "
                "GS-SVM's delta) or every cluster's margin (--margins per-cluster, the default; the cluster "
                "with the largest prior keeps margin 1). SLSQP over log-margins with gradients from the "
                "implicit function theorem; kkt is the optimality residual, attainable = False when a "
                "margin runs to e^12 or e^-12 (the optimum is a limit); status 0 optimum attained, 1 a limit, "
                "2 the objective is flat in double precision (saturated errors: no optimum certified), "
                "3 not converged.",
                examples=("optimize --model group --class-prior 0.5 --group-prior 0.05 --mean-1 3,0 --mean-2 0,3 "
                          "--gamma 2 --objective worst --constraint abs_DEO=0.01",
                          "optimize --prior 0.1 --norms 2,2 --angle 180 --gamma 2 --objective R_bal --margins "
                          "minority"),
                epilog=(VALUES_HELP, MODEL_HELP, EXIT_HELP))
    _model_options(p)
    p.add_argument("--gamma", required=True, metavar="VALUES", help="gamma = d/n, > 0 (required)")
    p.add_argument("--objective", default="R", metavar="NAME",
                   help="R, R_bal, R_subgroup_bal, worst or abs_DEO (group models) (default: R)")
    p.add_argument("--constraint", action="append", metavar="METRIC=BOUND",
                   help="an upper bound on R, R_bal, R_subgroup_bal, R_plus, R_minus, worst or abs_DEO; repeat "
                        "for several (default: none)")
    p.add_argument("--margins", default="per-cluster", metavar="FAMILY",
                   help="per-cluster (every subgroup's margin) or minority (one margin) (default: per-cluster)")
    _intercept_option(p)
    _format_options(p)
    p.set_defaults(func=cmd_optimize)

    p = command("simulate", "Monte-Carlo simulation against the theory",
                "Draw training sets of n samples in d = round(gamma n) dimensions, train the classifier "
                "exactly (max-margin SVM/CS-SVM/GS-SVM, or the regularised ERM of --loss), score it with the "
                "exact test errors and print the mean, its standard error (_se) and the theory (_theory) "
                "at the realised d/n. Seeded: the same command gives the same numbers.",
                examples=("simulate --prior 0.1 --mean-plus 4,0 --mean-minus 0,2 --gamma 2 --delta 1,3 --n 400 "
                          "--trials 20",
                          "simulate --prior 0.1 --norms 2,1 --angle 90 --gamma 1 --loss ce --lam 1e-2 --n 400 "
                          "--trials 10"),
                epilog=(VALUES_HELP, MODEL_HELP,
                        f"limits: n <= {MAX_N}, d <= {MAX_D}, n d <= {MAX_ENTRIES}, at most {MAX_SIM_POINTS} "
                        f"grid points, {MAX_TRIALS} trials; n must give >= {MIN_MINORITY} expected samples of "
                        "the smaller class.", EXIT_HELP))
    _model_options(p)
    p.add_argument("--gamma", required=True, metavar="VALUES", help="gamma = d/n, > 0 (required)")
    p.add_argument("--delta", metavar="VALUES", help="margin ratio delta > 0, as for predict (default: 1)")
    p.add_argument("--n", type=_int_type(2, MAX_N, " (the exact SVM works on the n x n dual)"), default=400,
                   help="training samples per trial (default: 400)")
    p.add_argument("--trials", type=_int_type(1, MAX_TRIALS), default=20,
                   help="training sets per grid point (default: 20)")
    p.add_argument("--seed", type=_int_type(0, 2 ** 32 - 1), default=0, help="random seed (default: 0)")
    p.add_argument("--jobs", type=_int_type(1, MAX_JOBS), default=2, metavar="N",
                   help="parallel worker processes (default: 2)")
    p.add_argument("--method", default="svm",
                   help="svm: the exact max-margin classifier; or a VS-loss preset trained by normalised "
                        "gradient descent, no intercept (label models): " + ", ".join(PRESET_FLAGS) +
                        " (cdt, vs, vs-w read --delta) (default: svm)")
    p.add_argument("--loss", metavar="NAME",
                   help="simulate regularised ERM with this loss (as predict --loss), fitted exactly; needs --lam")
    p.add_argument("--lam", metavar="VALUES", help="ridge lambda >= 0 for --loss")
    _intercept_option(p)
    _format_options(p)
    p.set_defaults(func=cmd_simulate)

    p = command("figures", "regenerate every figure (the main job)",
                "Regenerate every figure of the README (PNG and PDF) into --out: theory curves with "
                "Monte-Carlo and gradient-descent markers. Seeded and byte-reproducible. Prints a table of "
                "the files written.",
                examples=("figures", "figures --quick --out /tmp/figs --jobs 2"), epilog=(EXIT_HELP,))
    _figure_options(p)
    p.set_defaults(func=cmd_figures)

    p = command("paper", "table of predictions for the paper's settings (Figs. 2(a), 3(a), 3(b))",
                "Predictions for the settings of the paper's figures, as the figures compute them: Fig. 2(a) "
                "(mismatch model, no intercept: gamma*, SVM and CS-SVM balanced errors, delta*), Fig. 3(a) "
                "(CS-SVM with intercept: delta*, the delta minimising R) and Fig. 3(b) (GS-SVM with "
                "intercept: delta_0).",
                examples=("paper", "paper --setting fig3b --json"), epilog=(EXIT_HELP,))
    p.add_argument("--setting", choices=("all", "fig2a", "fig3a", "fig3b"), default="all",
                   help="which table (default: all)")
    _format_options(p)
    p.set_defaults(func=cmd_paper)

    p = command("help", "show the help of a command", "Show the help of a command (or of the program).",
                examples=("help predict",))
    p.add_argument("topic", nargs="?", choices=COMMANDS[:-1], metavar="COMMAND",
                   help="one of " + ", ".join(COMMANDS[:-1]) + " (default: the program's help)")
    p.set_defaults(func=None)
    return parser


_FIGURE_FLAGS = ("--quick", "--out", "--jobs", "--json", "--csv")


_PROGRAM_FLAGS = ("-h", "--help", "--version")


def _route(argv: list, parser=None) -> list:
    """No command: the main job (``figures``), also with figures options.
    Options before the command (``--prior 0.1 predict``) are a UsageError
    that shows the order; argparse would call '0.1' an invalid command."""
    if not argv:
        return ["figures"]
    first = argv[0].split("=")[0]
    if first in _FIGURE_FLAGS:
        return ["figures"] + argv
    if first.startswith("-") and first not in _PROGRAM_FLAGS:
        where = next((i for i, a in enumerate(argv) if a in COMMANDS), None)
        if where is not None:
            rest = argv[:where] + argv[where + 1:]
            raise UsageError(f"options go after the command: asymptotics {argv[where]} {' '.join(rest)}")
        parser = parser or build_parser()
        owner = next((name for name, sub in _commands(parser).items() if first in sub._option_string_actions
                      and first not in _PROGRAM_FLAGS), None)
        if owner is not None:
            raise UsageError(f"{first}: options go after a command, e.g. asymptotics {owner} {' '.join(argv)} "
                             "(see asymptotics --help)")
    return argv      # anything else is argparse's to report (an unknown option, an unknown command)


def _commands(parser) -> dict:
    """The program's command parsers by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def _error(message: str) -> None:
    if sys.stderr is not None:
        print(f"asymptotics: error: {message}", file=sys.stderr)


def _warning(message: str) -> None:
    if sys.stderr is not None:
        print(f"asymptotics: warning: {message}", file=sys.stderr)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        routed = _route(argv, parser)
    except UsageError as exc:
        _error(str(exc))
        return 2
    args = parser.parse_args(routed)
    if args.command == "help":
        if args.topic is None:
            parser.print_help()
        else:
            parser.parse_args([args.topic, "--help"])
        return 0
    fmt = "json" if args.json else "csv" if args.csv else "table"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")   # the columns carry what the warnings say (attainable, separable)
            with np.errstate(all="ignore"):
                rows = args.func(args)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except (DomainError, NotSeparableError, NoMinimizerError, ConvergenceError, InfeasibleError) as exc:
        _error(flag_message(exc, args))
        return 1
    except ValueError as exc:
        if "both labels must be present" in str(exc):        # a simulated training set drew one class only
            _error(f"--n: a simulated training set of n = {args.n} samples drew only one class; raise --n")
            return 1
        _error(flag_message(exc, args))
        return 2
    except MemoryError:
        _error("out of memory: use fewer grid points or a smaller --n / --gamma")
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _error(f"{where}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    if rows is not None:
        if sys.stdout is None:          # started with its standard output closed
            _error("standard output is closed: nothing to write the results to")
            return 2
        try:
            emit(rows, fmt)
            sys.stdout.flush()
        except BrokenPipeError:      # e.g. piped into head
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except OSError as exc:       # e.g. a full disk (> /dev/full)
            _error(f"cannot write the results: {exc.strerror or exc}")
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)   # so that the interpreter's final flush stays quiet
                os.dup2(devnull, sys.stdout.fileno())
            except OSError:
                pass
            return 2
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
