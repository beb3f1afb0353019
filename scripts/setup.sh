#!/usr/bin/env bash
# Idempotent set-up: a virtual environment in .venv with boute installed (editable).
# The CPU build of torch is pinned first, before ax-platform, or pip pulls a CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
stamp=.venv/.boute-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  python -m pip install -q --upgrade pip "setuptools>=77" wheel >/dev/null
  python -m pip install -q "torch==2.13.0"
  python -m pip install -q -e ".[bo,test,artifacts-test]"
  touch "$stamp"
fi
