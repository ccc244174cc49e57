#!/usr/bin/env bash
# Sets up .venv (first time only), then runs the demo sweep (conf/demo.yaml):
# features computed once and shared, 2 model kinds x 3 regularisations, a results table.
# Run it twice: the second run finds every job in the cache (exca-cache/, git-ignored).
# Extra arguments are Hydra overrides, e.g.  bash scripts/demo.sh hydra/launcher=exca_slurm
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m exca.demo "$@"
