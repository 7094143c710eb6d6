"""The README works for a new reader: every Python snippet is complete and
prints what the README says it prints, every command line runs as written
after the two set-up commands, and nothing points at files a reader cannot see."""
import contextlib
import io
import pathlib
import re
import shlex

import pytest

from asymptotics import cli, plotting

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEXT = README.read_text()

# a python block (no ``` inside) directly followed by its "Output:" block
EXAMPLE = re.compile(r"```python\n((?:(?!```).)*)```\s*Output:\n\n```\n((?:(?!```).)*)```", re.S)
PYTHON = re.compile(r"```python\n((?:(?!```).)*)```", re.S)
BASH = re.compile(r"```bash\n((?:(?!```).)*)```", re.S)
EXAMPLES = EXAMPLE.findall(TEXT)


def _command_lines():
    """Every command in a bash block, with README line breaks joined."""
    lines = []
    for block in BASH.findall(TEXT):
        lines += [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    return lines


CLI_LINES = [line for line in _command_lines() if line.startswith(".venv/bin/asymptotics")]


def test_every_python_snippet_is_a_complete_example_with_its_output():
    assert len(PYTHON.findall(TEXT)) == len(EXAMPLES) >= 6


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_readme_example_output_is_current(index):
    code, expected = EXAMPLES[index]
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        exec(compile(code, f"README example {index}", "exec"), {})      # a fresh namespace: complete snippets
    got = buf.getvalue()
    # same text and numbers; the last of 17 printed digits may differ across libm builds
    number = r"-?\d+\.?\d*(?:e[-+]\d+)?"
    assert re.sub(number, "#", got) == re.sub(number, "#", expected)
    for a, b in zip(re.findall(number, got), re.findall(number, expected)):
        assert abs(float(a) - float(b)) <= 1e-12 * max(abs(float(b)), 1e-300) or abs(float(b)) < 1e-14


def test_setup_is_two_commands_and_every_command_uses_the_venv():
    setup = BASH.findall(TEXT)[0].split("\n")
    assert setup[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -e '.[test]'"]
    assert "test =" in (ROOT / "setup.cfg").read_text()
    for line in _command_lines()[2:]:
        assert line.startswith(".venv/bin/"), f"README command {line!r} needs the venv prefix"
    for path in re.findall(r"\.venv/bin/python (scripts/\S+\.py)", TEXT):
        assert (ROOT / path).exists(), path
    assert len(CLI_LINES) >= 10


def _argv(line):
    return shlex.split(line, comments=True)[1:]


@pytest.mark.parametrize("line", CLI_LINES)
def test_readme_command_line_parses(line):
    parser = cli.build_parser()
    try:
        args = parser.parse_args(cli._route(_argv(line)))
    except SystemExit as exc:            # --help
        assert exc.code == 0 and "--help" in line
        return
    assert args.command in ("predict", "threshold", "delta-star", "delta-eo", "optimize", "simulate", "figures",
                            "paper")


CHEAP = ("predict", "threshold", "delta-star", "delta-eo", "optimize", "paper")


@pytest.mark.parametrize("line", [line for line in CLI_LINES if _argv(line)[0] in CHEAP])
def test_readme_command_line_runs(line, capsys):
    try:
        rc = cli.main(_argv(line))
    except SystemExit as exc:
        rc = exc.code
    out, err = capsys.readouterr()
    assert rc == 0 and out and err == "", err


@pytest.mark.parametrize("line", [line for line in CLI_LINES if _argv(line)[0] in ("simulate", "figures")])
def test_readme_long_command_lines_pass_their_checks(line, capsys, monkeypatch, tmp_path):
    """simulate and figures up to the point where the computation starts."""
    import asymptotics.simulate as simulate
    started = []

    def stop(*args, **kw):
        started.append(kw)
        raise KeyboardInterrupt
    monkeypatch.setattr(simulate, "monte_carlo", stop)
    monkeypatch.setattr(plotting, "make_all", stop)
    argv = [str(tmp_path / "figs") if a.startswith("/tmp/") else a for a in _argv(line)]
    rc = cli.main(argv)
    assert rc == 130 and len(started) == 1, capsys.readouterr().err


def test_no_references_a_reader_cannot_see():
    for path in [README, ROOT / "docs" / "theory.md"]:
        text = path.read_text()
        for needle in ("DESIGN", "/work/", "shared/", "the figures issue", "the issue"):
            assert needle not in text, f"{path.name} mentions {needle!r}"


def test_linked_files_exist():
    for path in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if target.startswith("http"):
                continue
            assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
        if path == README:
            for target in re.findall(r"`((?:docs|figures|benchmarks|scripts)/[\w./-]+\.(?:md|png|py))`", text):
                assert (ROOT / target).exists(), f"README names missing {target}"
