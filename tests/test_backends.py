"""Backends: where work runs (in process, pools, submitit), the job interface, the registry."""

from __future__ import annotations

import getpass
import os
import typing as tp
from pathlib import Path

import pytest

from exca import backends
from exca.backends import BACKENDS, Backend, LocalJob, Resources, get_backend, in_job


def where(x: int) -> tuple[int, int, bool]:
    """(x, pid, in_job) of the process running the call."""
    return x, os.getpid(), in_job()


def fail(x: int) -> int:
    raise ValueError(f"failing on purpose with x={x}")


def test_registry_and_unknown_cluster() -> None:
    assert set(BACKENDS) >= {None, "threadpool", "processpool", "local", "debug", "slurm", "auto"}
    with pytest.raises(ValueError, match=r"Unknown cluster 'nope'.*'threadpool'"):
        get_backend("nope", Resources())
    assert [BACKENDS[c].needs_folder for c in (None, "threadpool", "local", "debug")] == [
        False,
        False,
        True,
        True,
    ]
    assert [BACKENDS[c].remote for c in (None, "threadpool", "processpool", "local", "debug")] == [
        False,
        False,
        True,
        True,
        False,
    ]


def test_a_new_backend_is_one_registered_class() -> None:
    @backends.register_backend("reversed-test")
    class Reversed(Backend):
        def submit_many(
            self, func: tp.Callable[..., tp.Any], args_list: tp.Sequence[tuple[tp.Any, ...]]
        ) -> list[backends.Job]:
            return [LocalJob(func, *args) for args in reversed(args_list)]

    try:
        backend = get_backend("reversed-test", Resources())
        assert backend.cluster == "reversed-test"
        assert [j.result()[0] for j in backend.submit_many(where, [(1,), (2,)])] == [2, 1]
    finally:
        del BACKENDS["reversed-test"]


def test_inline_jobs_keep_errors() -> None:
    backend = get_backend(None, Resources())
    ok, bad = [*backend.submit_many(where, [(1,)]), backend.submit(fail, 3)]
    assert ok.result() == (1, os.getpid(), False)  # inline: not "in a job"
    assert ok.done() and ok.exception() is None and ok.state == "COMPLETED"
    assert isinstance(bad.exception(), ValueError) and bad.state == "FAILED"
    with pytest.raises(ValueError, match="x=3") as info:
        bad.result()
    assert "fail" in "".join(str(tb.name) for tb in info.traceback)


def test_threadpool() -> None:
    backend = get_backend("threadpool", Resources(max_workers=2))
    jobs = backend.submit_many(where, [(k,) for k in range(4)])
    assert [j.result() for j in jobs] == [(k, os.getpid(), True) for k in range(4)]
    assert all(j.done() for j in jobs)
    assert not in_job()
    [bad] = backend.submit_many(fail, [(5,)])
    assert isinstance(bad.exception(), ValueError)


def test_processpool_keeps_the_remote_traceback() -> None:
    backend = get_backend("processpool", Resources(max_workers=2))
    ok, bad = [*backend.submit_many(where, [(1,)]), *backend.submit_many(fail, [(2,)])]
    x, pid, inside = ok.result()
    assert (x, inside) == (1, True) and pid != os.getpid()
    with pytest.raises(ValueError, match="x=2") as info:
        bad.result()
    cause = info.value.__cause__
    assert cause is not None and 'raise ValueError(f"failing on purpose' in str(cause)


def test_submitit_local_array_and_failure(tmp_path: Path) -> None:
    backend = get_backend("local", Resources(folder=tmp_path, job_name="bk", timeout_min=2))
    jobs = backend.submit_many(where, [(1,), (2,)])
    results = [j.result() for j in jobs]
    assert [r[0] for r in results] == [1, 2]
    assert all(pid != os.getpid() and inside for _, pid, inside in results)
    bad = backend.submit(fail, 3)
    with pytest.raises(Exception, match="failing on purpose with x=3") as info:
        bad.result()
    text = str(info.value)
    assert "Traceback" in text and "test_backends.py" in text  # the job's own traceback


def test_submitit_debug_runs_in_process(tmp_path: Path) -> None:
    backend = get_backend("debug", Resources(folder=tmp_path))
    [job] = backend.submit_many(where, [(4,)])
    assert job.result() == (4, os.getpid(), True)


def test_submitit_needs_a_folder() -> None:
    with pytest.raises(ValueError, match="'local' needs a folder"):
        get_backend("local", Resources()).submit(where, 1)


def test_executor_parameters(tmp_path: Path) -> None:
    res = Resources(folder=tmp_path, job_name="job", timeout_min=5, cpus_per_task=2, mem_gb=1.5)
    executor = get_backend("local", res).executor()
    assert executor.cluster == "local"
    params = executor._executor.parameters
    assert (params["timeout_min"], params["cpus_per_task"], params["mem_gb"]) == (5, 2, 1.5)
    assert executor.parameters["name"] == "job"


def test_default_logs() -> None:
    user = getpass.getuser()
    assert backends.default_logs("/cache", "{folder}/logs/{user}/%j") == Path(
        f"/cache/logs/{user}/%j"
    )
    assert backends.default_logs(None, "{folder}/logs") is None
    assert backends.default_logs(None, "/abs/{user}") == Path(f"/abs/{user}")


def test_slurm_state_of_a_recorded_job() -> None:
    from exca.backends import slurm_state

    class SlurmJob:  # stands for submitit's class (checked by name: no submitit import)
        job_id = "987654321"

        def __init__(self, state: str) -> None:
            self.state = state

    assert slurm_state(object()) is None  # not a Slurm job
    assert slurm_state(SlurmJob("RUNNING")) == slurm_state(SlurmJob("pending")) == "active"
    assert slurm_state(SlurmJob("COMPLETED")) == slurm_state(SlurmJob("TIMEOUT")) == "ended"
    # neither sacct nor squeue (when there is one) knows this job: never waited for
    assert slurm_state(SlurmJob("UNKNOWN")) == "unknown"
