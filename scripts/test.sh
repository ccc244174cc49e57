#!/usr/bin/env bash
# Runs the whole test suite (sets up .venv first if needed).
# Tests marked `slurm` run when a Slurm cluster answers (scripts/local-slurm.sh start).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest -n 2 -rsx "$@"
