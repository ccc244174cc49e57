"""The cache folder trees shown in the docs are those of real runs, as the code lays
them out today (``scripts/docs_cache_tree.py`` runs a TaskInfra/MapInfra and a Hydra
sweep and compares their cache folders with ``docs/_static/cache-tree-*.txt``)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_docs_cache_trees_are_current() -> None:
    cmd = [sys.executable, str(ROOT / "scripts" / "docs_cache_tree.py"), "--check"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_trees_are_shown_in_the_docs() -> None:
    for page, key in [("howto-hydra-launcher.md", "sweep"), ("explanations-caching.md", "infra")]:
        text = (ROOT / "docs" / page).read_text()
        assert f"_static/cache-tree-{key}.txt" in text, f"{page} does not show the {key} tree"
