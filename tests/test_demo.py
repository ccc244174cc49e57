"""The demo sweep (python -m exca.demo): a table of results, then everything cached."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from exca.demo.pipeline import Experiment, Features, Logistic


def _run_demo(cwd: Path, *overrides: str) -> str:
    cmd = [sys.executable, "-m", "exca.demo", "features=small", *overrides]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("launcher", ["exca_inline", "exca_local"])
def test_demo_sweep_then_cached(tmp_path: Path, launcher: str) -> None:
    first = _run_demo(tmp_path, f"hydra/launcher={launcher}")
    assert "6 jobs: 6 computed, 0 from the cache" in first
    assert first.count("| computed |") == 6
    second = _run_demo(tmp_path, f"hydra/launcher={launcher}")
    assert "6 jobs: 0 computed, 6 from the cache" in second
    # the table's accuracies are identical between the two runs
    rows = [line for line in first.splitlines() if line.startswith("| model=")]
    rows2 = [
        line.replace("cached  ", "computed")
        for line in second.splitlines()
        if line.startswith("| model=")
    ]
    assert rows == rows2
    if launcher != "exca_inline":
        return  # (local processes are slow to start: the rest is checked in process)
    # one sweep extends the cache: a new l2 value runs one job per model kind
    third = _run_demo(tmp_path, f"hydra/launcher={launcher}", "model.l2=0.1,1.0")
    assert "4 jobs: 2 computed, 2 from the cache" in third


def test_pipeline_in_python(tmp_path: Path) -> None:
    features = Features(dataset={"n_samples": 200}, n_features=32, infra={"folder": tmp_path})
    exp = Experiment(features=features, model=Logistic(l2=0.01), infra={"folder": tmp_path})
    metrics = exp.run()
    assert 0.5 < metrics["accuracy"] <= 1.0
    assert metrics["n_test"] == 50
    # the features are cached per sample and shared with another experiment
    assert len(features.infra.cache_dict) == 200
    other = exp.infra.clone_obj({"model": {"name": "ridge"}})
    assert other.run()["n_test"] == 50
    assert exp.infra.uid() != other.infra.uid()
