"""Regenerate every figure into figures/ (the package's main job).

    python scripts/make_figures.py [--quick] [--out DIR] [--jobs N]

Same as ``asymptotics figures`` / ``python -m asymptotics``.
"""
import sys

from asymptotics.cli import main

if __name__ == "__main__":
    sys.exit(main(["figures"] + sys.argv[1:]))
