#!/usr/bin/env python3
"""One-shot plans: ``python scripts/solve.py`` plans the built-in default scenario.

The same implementation as the ``boute`` console script (``boute solve``); see
``python scripts/solve.py --help`` for the options.
"""

import sys

from boute.engine import main

if __name__ == "__main__":
    sys.exit(main(["solve", *sys.argv[1:]]) if not sys.argv[1:2] or sys.argv[1] not in ("-h", "--help") else main(["solve", "--help"]))
