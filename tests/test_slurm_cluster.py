"""Smoke tests of the Slurm cluster itself, through submitit only (no exca code).

They prove that the tests marked ``slurm`` really go through ``sbatch`` on a real cluster
(job ids, the job's own Slurm environment, ``sacct`` and ``scontrol`` records) and that
job states are exact (accounting through slurmdbd): a job that dies without writing a
result is seen as finished instead of being waited for forever.
"""

import os
import re
import subprocess
import sys
import time
import typing as tp
from pathlib import Path

import cloudpickle  # type: ignore[import-untyped]
import pytest
import submitit

# this test module is not importable from the job's python: send its functions by value
cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = pytest.mark.slurm

T = tp.TypeVar("T")


def slurm_facts(x: int) -> dict[str, tp.Any]:
    """Runs in the job: its result and what Slurm told it about itself."""
    print(f"computing {x}")
    env = os.environ
    return {
        "square": x * x,
        "job_id": env.get("SLURM_JOB_ID"),
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "array_task_id": env.get("SLURM_ARRAY_TASK_ID"),
        "partition": env.get("SLURM_JOB_PARTITION"),
    }


def fail_in_job(message: str) -> None:
    """Runs in the job and raises."""
    raise ValueError(message)


def run(*command: str) -> str:
    """Stdout of a Slurm command."""
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout


def settled(read: tp.Callable[[], T], done: tp.Callable[[T], bool], timeout_s: float = 30) -> T:
    """The first value of ``read()`` for which ``done`` holds, polled for up to
    ``timeout_s`` (then the last value): Slurm's records trail the job by a moment (the
    result file appears before the job step ends, and the controller sends its records to
    slurmdbd asynchronously)."""
    deadline = time.monotonic() + timeout_s
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def sacct_states(job_id: str, expected: dict[str, str]) -> dict[str, str]:
    """JobID -> State as recorded by the accounting (allocations only), once it equals
    ``expected`` (or after 30 s)."""

    def read() -> dict[str, str]:
        out = run("sacct", "-X", "--noheader", "--parsable2", "--format=JobID,State", f"-j{job_id}")
        return dict(line.split("|", 1) for line in out.splitlines() if line)

    return settled(read, lambda states: states == expected)


def make_executor(folder: Path) -> tp.Any:
    executor = submitit.AutoExecutor(folder=folder / "logs" / "%j")
    assert executor.cluster == "slurm", "AutoExecutor must pick the Slurm cluster"
    executor.update_parameters(timeout_min=5, mem_gb=0.25, cpus_per_task=1)
    return executor


def test_single_job_runs_through_sbatch(slurm_folder: Path) -> None:
    executor = make_executor(slurm_folder)
    job = executor.submit(slurm_facts, 7)
    facts = job.result()
    assert facts["square"] == 49
    # the job id is Slurm's: the job's own environment (set by slurmd) carries it
    assert re.fullmatch(r"\d+", job.job_id)
    assert facts["job_id"] == job.job_id
    assert facts["partition"]
    # submitit submitted an sbatch script asking for the memory and time we gave
    script = (slurm_folder / "logs" / job.job_id / f"{job.job_id}_submission.sh").read_text()
    assert "#SBATCH --mem=256MB" in script
    assert "#SBATCH --time=5" in script
    # the logs folder (%j replaced by the job id) holds the job's stdout
    assert "computing 7" in (job.stdout() or "")
    # the controller and the accounting know this batch job, and that it completed
    shown = settled(
        lambda: run("scontrol", "show", "job", job.job_id),
        lambda text: "JobState=COMPLETED" in text,
    )
    assert "JobState=COMPLETED" in shown
    assert "BatchFlag=1" in shown
    assert "TimeLimit=00:05:00" in shown
    assert "MinMemoryNode=256M" in shown
    expected = {job.job_id: "COMPLETED"}
    assert sacct_states(job.job_id, expected) == expected
    # submitit reads the state from sacct too
    assert job.get_info(mode="force")["State"] == "COMPLETED"


def test_job_array_of_three_tasks(slurm_folder: Path) -> None:
    executor = make_executor(slurm_folder)
    jobs = executor.map_array(slurm_facts, [1, 2, 3])
    results = [job.result() for job in jobs]
    assert [r["square"] for r in results] == [1, 4, 9]
    # one sbatch --array: ids are <array id>_<task>, the same array id for all tasks
    array_id = jobs[0].job_id.split("_")[0]
    assert [job.job_id for job in jobs] == [f"{array_id}_{k}" for k in range(3)]
    for k, facts in enumerate(results):
        assert facts["array_job_id"] == array_id
        assert facts["array_task_id"] == str(k)
    expected = {f"{array_id}_{k}": "COMPLETED" for k in range(3)}
    assert sacct_states(array_id, expected) == expected


def test_failing_job_state_and_traceback(slurm_folder: Path) -> None:
    executor = make_executor(slurm_folder)
    job = executor.submit(fail_in_job, "boom from the node")
    with pytest.raises(submitit.core.utils.FailedJobError, match="boom from the node"):
        job.result()
    assert "ValueError" in (job.stderr() or "")
    expected = {job.job_id: "FAILED"}
    assert sacct_states(job.job_id, expected) == expected


def test_cancelled_job_is_seen_as_finished(slurm_folder: Path) -> None:
    """A job that never writes a result must not be waited for forever: submitit's wait()
    loops on done(), which learns the state from the accounting (sacct), something a
    cluster without slurmdbd cannot answer."""
    executor = make_executor(slurm_folder)
    job = executor.submit(subprocess.run, ["sleep", "600"])
    job.cancel(check=True)
    done = settled(lambda: job.done(force_check=True), bool, timeout_s=60)
    assert done, f"job {job.job_id} still not done 60 s after scancel"
    assert not (slurm_folder / "logs" / job.job_id / f"{job.job_id}_0_result.pkl").exists()
    # sacct says "CANCELLED by <uid>"
    assert job.get_info(mode="force")["State"].startswith("CANCELLED")
