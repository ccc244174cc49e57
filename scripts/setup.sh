#!/usr/bin/env bash
# Creates .venv (once) and installs exca with its dev extras in editable mode.
# Needs only python3 (>= 3.11) on the machine.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.exca-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install -q -U pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi
