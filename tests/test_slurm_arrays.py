"""Arrays larger than the cluster's MaxArraySize (exca.backends splits them).

The local test cluster is configured with a small MaxArraySize (``scripts/local-slurm.sh``:
``EXCA_SLURM_MAX_ARRAY_SIZE``, 11 by default), so that 50 jobs need several arrays.
"""

from __future__ import annotations

import os
import subprocess
import sys
import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca import TaskInfra
from exca.backends import slurm_max_array_size

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
N = 50
RESOURCES: dict[str, tp.Any] = {"timeout_min": 5, "mem_gb": 0.25, "cpus_per_task": 1}


class Where(pydantic.BaseModel):
    """Its result names the Slurm array and task that computed it."""

    param: int = 0
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> dict[str, tp.Any]:
        env = os.environ
        return {
            "param": self.param,
            "array": env.get("SLURM_ARRAY_JOB_ID"),
            "task": env.get("SLURM_ARRAY_TASK_ID"),
        }


def _limit() -> int:
    limit = slurm_max_array_size()
    assert limit is not None and limit < N, (
        f"the test cluster's MaxArraySize is {limit}: start it with a small one "
        "(EXCA_SLURM_MAX_ARRAY_SIZE=11 bash scripts/local-slurm.sh start)"
    )
    return limit


def test_job_array_larger_than_max_array_size(slurm_folder: Path) -> None:
    limit = _limit()
    base = Where(infra={"folder": slurm_folder, "cluster": "slurm", **RESOURCES})
    with base.infra.job_array(max_workers=4) as array:
        for param in range(N):
            array.append(base.infra.clone_obj(param=param))
    jobs = [task.infra.job() for task in array]
    ids = [job.job_id for job in jobs]
    assert len(set(ids)) == N
    arrays = sorted({i.split("_")[0] for i in ids}, key=int)
    assert len(arrays) == -(-N // limit)  # as few arrays as the limit allows
    results = [task.process() for task in array]
    assert [r["param"] for r in results] == list(range(N))  # each task once, in order
    assert [f"{r['array']}_{r['task']}" for r in results] == ids
    assert all(task.infra.status() == "completed" for task in array)


def test_sweep_larger_than_max_array_size(tmp_path: Path, slurm_folder: Path) -> None:
    limit = _limit()
    runs = tmp_path / "runs.txt"
    env = {**os.environ, "EXCA_TEST_RUNS": str(runs), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(ROOT / "tests/hydra_apps/script_app.py"), "-m"]
    cmd += ["hydra/sweeper=exca", "hydra/launcher=exca_slurm", f"+x=range({N})", "+y=3"]
    cmd += [f"hydra.sweep.dir={slurm_folder}/sweep", "hydra.launcher.timeout_min=5"]
    cmd += [f"hydra.launcher.cache_folder={slurm_folder}/cache", "hydra.launcher.max_jobs=8"]
    cmd += ["hydra.sweeper.max_batch_size=100"]  # one launch: the launcher splits it
    proc = subprocess.run(cmd, cwd=slurm_folder, env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = runs.read_text().splitlines()
    assert sorted(int(line.split()[0]) for line in lines) == list(range(N))  # each once
    logs = slurm_folder / "sweep" / ".submitit"
    arrays = {p.name.split("_")[0] for p in logs.iterdir() if p.name.split("_")[0].isdigit()}
    assert len(arrays) == -(-N // limit)
