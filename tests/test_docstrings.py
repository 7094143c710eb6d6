"""Every docstring example of the package runs and prints what it shows.

One test per module that has examples (doctest over every module of the
package, found by walking it, so a new module's examples are run too).
Examples show stable digits (``round(x, 4)``), not the last bits of a
float; the ERM and max-margin kernels they call are the cached ones, so the
whole file takes a few seconds.
"""
from __future__ import annotations

import doctest
import importlib
import importlib.util
import pkgutil

import pytest

import asymptotics

MODULES = sorted(info.name for info in pkgutil.walk_packages(asymptotics.__path__, "asymptotics.")
                 if not info.name.endswith("__main__"))          # __main__ would run the main job


def _examples(name: str) -> list:
    return [t for t in doctest.DocTestFinder().find(importlib.import_module(name)) if t.examples]


def test_the_walk_finds_the_documented_examples():
    # independent of the walk: the modules whose source holds an example prompt
    with_prompts = set()
    for name in MODULES:
        spec = importlib.util.find_spec(name)
        if spec.origin and ">>> " in open(spec.origin, encoding="utf-8").read():
            with_prompts.add(name)
    assert {"asymptotics.erm", "asymptotics.label", "asymptotics.group"} <= with_prompts
    assert with_prompts == {name for name in MODULES if _examples(name)}


@pytest.mark.parametrize("name", [name for name in MODULES if _examples(name)])
def test_docstring_examples(name):
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in _examples(name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} fail (output above)"
