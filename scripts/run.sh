#!/usr/bin/env bash
# The README's run command: set up if needed, then plan the built-in default scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
exec python scripts/solve.py "$@"
