"""``python -m asymptotics [COMMAND] [options]``: the command line
(:mod:`asymptotics.cli`).  Without a command: the main job, every figure
into ``figures/`` (``python -m asymptotics --quick --out DIR --jobs N``)."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
