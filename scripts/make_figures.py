"""Regenerate every figure into figures/ (the package's main job).

    python scripts/make_figures.py [--quick] [--out DIR] [--jobs N] [--json | --csv]

Same as ``asymptotics figures`` / ``python -m asymptotics``; ``--help`` lists
the options.  ``--out`` is checked before any computation; the files carry no
time stamps, so a rerun leaves a clean git tree.
"""
import sys

from asymptotics.cli import main

if __name__ == "__main__":
    sys.exit(main(["figures"] + sys.argv[1:]))
