#!/usr/bin/env bash
# The README's test command: set up if needed, then run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
export BOUTE_CACHE_DIR="${BOUTE_CACHE_DIR:-$(mktemp -d)}"
exec python -m pytest "$@"
