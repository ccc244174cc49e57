"""Where work runs.

A *backend* turns "call this function with these arguments" into a *job*: an
object with ``result()``, ``done()``, ``exception()``, ``wait()``, ``cancel()``
and ``job_id``. Each cluster kind is one class registered by name in
:data:`BACKENDS`; the infras only ever talk to :func:`get_backend`.

- ``None``: in process, run right away (:class:`InlineBackend`).
- ``"threadpool"`` / ``"processpool"``: :mod:`concurrent.futures` pools.
- ``"local"``, ``"slurm"``, ``"auto"``: submitit executors (:class:`SubmititBackend`).
- ``"debug"``: submitit's debug executor, in process (:class:`SubmititDebugBackend`).

A backend class says whether its calls run in another process (``remote``: the call
is pickled, a code snapshot applies) and whether it needs the infra's folder
(``needs_folder``). submitit is imported only when a submitit backend is used.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import copy
import getpass
import logging
import os
import re
import subprocess
import traceback
import typing as tp
from pathlib import Path

import pydantic

logger = logging.getLogger(__name__)

_IN_JOB = contextvars.ContextVar("exca_in_job", default=False)


def in_job() -> bool:
    """True inside a job started by an exca backend (nested infras then run in that job)."""
    return _IN_JOB.get()


def submitit_job() -> tuple[str, str] | None:
    """(job id, ``"slurm"`` or ``"local"``) of the submitit job running this code, None
    outside of one."""
    try:
        import submitit

        env = submitit.JobEnvironment()
        return str(env.job_id), "slurm" if "slurm" in type(env).__name__.lower() else "local"
    except Exception:  # not in a submitit job
        return None


class Job(tp.Protocol):
    """What every backend returns (a subset of submitit's Job interface)."""

    @property
    def job_id(self) -> str: ...

    def result(self) -> tp.Any: ...

    def done(self) -> bool: ...

    def exception(self) -> BaseException | None: ...

    def wait(self) -> None: ...

    def cancel(self) -> None: ...


class JobError(RuntimeError):
    """A job failed; the message holds the job's own traceback."""


class LocalJob:
    """A job computed in the current process, right away, with submitit's Job interface.

    The exception (if any) is kept and re-raised by :meth:`result`, with the
    original traceback text attached.
    """

    def __init__(self, func: tp.Callable[..., tp.Any], *args: tp.Any, **kwargs: tp.Any) -> None:
        self.job_id = f"local-{os.getpid()}-{id(self)}"
        self._result: tp.Any = None
        self._exception: BaseException | None = None
        self._traceback = ""
        try:
            self._result = func(*args, **kwargs)
        except Exception as e:  # kept and re-raised by result()
            self._exception = e
            self._traceback = traceback.format_exc()

    def done(self) -> bool:
        """Always True: the computation ran at creation."""
        return True

    def wait(self) -> None:
        """Nothing to wait for."""

    def cancel(self) -> None:
        """Nothing to cancel."""

    def exception(self) -> BaseException | None:
        """The exception raised by the computation, if any."""
        return self._exception

    def result(self) -> tp.Any:
        """The computed value, or re-raises the computation's exception."""
        if self._exception is not None:
            raise self._exception
        return self._result

    def results(self) -> list[tp.Any]:
        """submitit-compatible: a list with the single result."""
        return [self.result()]

    @property
    def state(self) -> str:
        return "FAILED" if self._exception is not None else "COMPLETED"

    def picklable(self) -> LocalJob:
        """This job, or a copy whose exception pickles (a RuntimeError with the original
        type, message and traceback text when the original one does not)."""
        import pickle

        try:
            pickle.dumps(self)
            return self
        except Exception:
            new = copy.copy(self)
            new._result = None
            error = self._exception
            new._exception = RuntimeError(f"{type(error).__name__}: {error}\n{self._traceback}")
            return new

    def __setstate__(self, state: dict[str, tp.Any]) -> None:
        if "_result" in state and "_exception" not in state:  # recorded by exca 0.6.0
            status, out = state["_result"]
            failed = status == "failure"
            state = {
                "job_id": f"local-{state.get('_name', '')}",
                "_result": None if failed else out,
                "_exception": out[0] if failed else None,
                "_traceback": out[1] if failed else "",
            }
        self.__dict__.update(state)


class FutureJob:
    """A :class:`concurrent.futures.Future` seen through the Job interface."""

    def __init__(self, future: concurrent.futures.Future[tp.Any], job_id: str) -> None:
        self._future = future
        self.job_id = job_id

    def done(self) -> bool:
        return self._future.done()

    def wait(self) -> None:
        concurrent.futures.wait([self._future])

    def cancel(self) -> None:
        self._future.cancel()

    def exception(self) -> BaseException | None:
        return self._future.exception()

    def result(self) -> tp.Any:
        return self._future.result()

    def results(self) -> list[tp.Any]:
        return [self.result()]

    @property
    def state(self) -> str:
        if not self._future.done():
            return "RUNNING"
        return "FAILED" if self._future.exception() is not None else "COMPLETED"


class Execution(pydantic.BaseModel):
    """Where and how jobs run: the execution fields of every infra (declared here only)
    and of the Hydra launchers' config (which repeats them, as it may import nothing of
    exca: a test keeps both in step). ``None`` leaves the cluster's default."""

    job_name: str | None = None
    timeout_min: int | None = None
    nodes: int | None = 1
    tasks_per_node: int | None = 1
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    mem_gb: float | None = None
    max_pickle_size_gb: float | None = None
    slurm_constraint: str | None = None
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_qos: str | None = None
    slurm_use_srun: bool = False
    slurm_additional_parameters: dict[str, int | str | float | bool] | None = None
    slurm_setup: list[str] | None = None
    conda_env: Path | str | None = None


EXECUTION_FIELDS = tuple(Execution.model_fields)
"""The names of the execution fields."""


class Resources(Execution):
    """What a backend is configured with: the execution fields, the folder of job files
    and logs (submitit backends), and how many calls may run at once (pools, array
    parallelism)."""

    folder: Path | None = None
    max_workers: int | None = None


def _run_in_job(func: tp.Callable[..., tp.Any], *args: tp.Any, **kwargs: tp.Any) -> tp.Any:
    """Entry point of every job: marks the call as running inside a job."""
    token = _IN_JOB.set(True)
    try:
        return func(*args, **kwargs)
    finally:
        _IN_JOB.reset(token)


# Slurm job states in which the job may still run (submitit adds READY: just submitted)
ACTIVE_SLURM_STATES = frozenset(
    {
        "READY",
        "PENDING",
        "RUNNING",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "COMPLETING",
        "CONFIGURING",
        "RESIZING",
        "SUSPENDED",
        "SIGNALING",
        "STAGE_OUT",
    }
)


def slurm_state(job: tp.Any) -> tp.Literal["active", "ended", "unknown"] | None:
    """What Slurm says of a submitit job recorded earlier (None if not a Slurm job):
    ``"active"`` (pending or running), ``"ended"``, or ``"unknown"`` when neither the
    accounting (``sacct``, through submitit) nor the queue (``squeue``, which knows a job
    the accounting has not recorded yet) knows it: purged, or from another cluster.
    Waiting for an unknown job would wait forever."""
    if type(job).__name__ != "SlurmJob":
        return None
    state = str(job.state).upper()
    if state in ACTIVE_SLURM_STATES:
        return "active"
    if state != "UNKNOWN":
        return "ended"
    states = squeue_states(str(job.job_id))
    if not states:
        return "unknown"
    return "active" if ACTIVE_SLURM_STATES.intersection(states) else "ended"


def squeue_states(job_id: str) -> list[str] | None:
    """The states ``squeue`` reports for a job (one per line: several for an array), upper
    case; ``[]`` when the queue does not know the job (ended and left the queue, or
    never seen); None when ``squeue`` cannot be asked (missing, timeout, other error)."""
    command = ["squeue", "--noheader", "--format=%T", f"--jobs={job_id}"]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return [] if "Invalid job id" in proc.stderr else None
    return [line.strip().upper() for line in proc.stdout.splitlines() if line.strip()]


class Backend:
    """Runs calls somewhere. Subclasses implement :meth:`submit_many`."""

    #: True when the call runs in another process (the function and its
    #: arguments are then pickled, and a code snapshot (workdir) applies).
    remote: tp.ClassVar[bool] = False
    #: True when the backend needs the infra's folder (logs, job files, results).
    needs_folder: tp.ClassVar[bool] = False

    def __init__(self, resources: Resources, cluster: str | None = None) -> None:
        self.resources = resources
        self.cluster = cluster

    def submit(self, func: tp.Callable[..., tp.Any], *args: tp.Any) -> Job:
        """Runs ``func(*args)`` as one job."""
        return self.submit_many(func, [args])[0]

    def submit_many(
        self, func: tp.Callable[..., tp.Any], args_list: tp.Sequence[tuple[tp.Any, ...]]
    ) -> list[Job]:
        """Runs ``func(*args)`` for each args tuple (as a job array when supported)."""
        raise NotImplementedError


BACKENDS: dict[str | None, type[Backend]] = {}


def register_backend(*names: str | None) -> tp.Callable[[type[Backend]], type[Backend]]:
    """Class decorator registering a backend under one or more cluster names."""

    def deco(cls: type[Backend]) -> type[Backend]:
        for name in names:
            BACKENDS[name] = cls
        return cls

    return deco


def get_backend(cluster: str | None, resources: Resources) -> Backend:
    """The backend for ``cluster`` (a registered name), configured with ``resources``."""
    try:
        cls = BACKENDS[cluster]
    except KeyError:
        known = ", ".join(repr(k) for k in BACKENDS)
        raise ValueError(f"Unknown cluster {cluster!r}; known clusters are: {known}") from None
    return cls(resources, cluster)


@register_backend(None)
class InlineBackend(Backend):
    """Runs each call right away in the current process."""

    def submit_many(
        self, func: tp.Callable[..., tp.Any], args_list: tp.Sequence[tuple[tp.Any, ...]]
    ) -> list[Job]:
        return [LocalJob(func, *args) for args in args_list]


@register_backend("threadpool")
class ThreadPoolBackend(Backend):
    """Runs calls in a thread pool of the current process."""

    def _pool(self, n_calls: int) -> concurrent.futures.Executor:
        default = min(32, (os.cpu_count() or 1) + 4)  # the standard library's default
        workers = min(self.resources.max_workers or default, n_calls)
        return concurrent.futures.ThreadPoolExecutor(max_workers=workers)

    def submit_many(
        self, func: tp.Callable[..., tp.Any], args_list: tp.Sequence[tuple[tp.Any, ...]]
    ) -> list[Job]:
        if not args_list:
            return []
        with self._pool(len(args_list)) as pool:
            futures = [pool.submit(_run_in_job, func, *args) for args in args_list]
        return [FutureJob(f, f"{self.cluster}-{k}") for k, f in enumerate(futures)]


@register_backend("processpool")
class ProcessPoolBackend(ThreadPoolBackend):
    """Runs calls in a pool of local processes (arguments are pickled)."""

    remote = True

    def _pool(self, n_calls: int) -> concurrent.futures.Executor:
        import multiprocessing

        workers = min(self.resources.max_workers or os.cpu_count() or 1, n_calls)
        # forkserver/spawn keep the parent's threads out of the children
        ctx = multiprocessing.get_context("spawn")
        return concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=ctx)


@register_backend("local", "slurm", "auto")
class SubmititBackend(Backend):
    """submitit executors: local processes, Slurm, or auto-detected (Slurm if available)."""

    remote = True
    needs_folder = True

    def executor(self) -> tp.Any:
        """A configured ``submitit.AutoExecutor``."""
        import submitit

        res = self.resources
        if res.folder is None:
            raise ValueError(f"cluster={self.cluster!r} needs a folder for its logs and jobs")
        cluster = None if self.cluster == "auto" else self.cluster
        kwargs: dict[str, tp.Any] = {}
        if res.max_pickle_size_gb is not None:
            kwargs["slurm_max_pickle_size_gb"] = res.max_pickle_size_gb
        if res.conda_env is not None:
            python = str(Path(res.conda_env) / "bin" / "python")
            kwargs["slurm_python"] = python
            kwargs["local_python"] = python
        executor = submitit.AutoExecutor(folder=res.folder, cluster=cluster, **kwargs)
        params: dict[str, tp.Any] = {}
        generic = ["timeout_min", "nodes", "tasks_per_node", "cpus_per_task"]
        generic += ["gpus_per_node", "mem_gb"]
        for name in generic:
            value = getattr(res, name)
            if value is not None:
                params[name] = value
        if res.job_name is not None:
            params["name"] = res.job_name
        if executor.cluster == "slurm":
            for name in ["constraint", "partition", "account", "qos", "setup"]:
                value = getattr(res, "slurm_" + name)
                if value is not None:
                    params["slurm_" + name] = value
            # submitit's own default is srun: pass ours (False) explicitly
            params["slurm_use_srun"] = res.slurm_use_srun
            if res.slurm_additional_parameters:
                params["slurm_additional_parameters"] = dict(res.slurm_additional_parameters)
            if res.max_workers is not None:
                params["slurm_array_parallelism"] = res.max_workers
        executor.update_parameters(**params)
        return executor

    def submit_many(
        self, func: tp.Callable[..., tp.Any], args_list: tp.Sequence[tuple[tp.Any, ...]]
    ) -> list[Job]:
        if not args_list:
            return []
        executor = self.executor()
        if executor.cluster == "debug":  # no array support: one by one
            return [executor.submit(_run_in_job, func, *args) for args in args_list]
        size = len(args_list)
        if executor.cluster == "slurm":
            size = slurm_max_array_size() or size
        jobs: list[Job] = []
        previous = ""
        for start in range(0, len(args_list), size):
            chunk = args_list[start : start + size]
            if previous and self.resources.max_workers is not None:
                # at most max_workers running overall: each array waits for the previous
                _add_dependency(executor, f"afterany:{previous}")
            with executor.batch():
                submitted = [executor.submit(_run_in_job, func, *args) for args in chunk]
            jobs.extend(submitted)
            previous = str(submitted[0].job_id).split("_", 1)[0]
        if len(jobs) > size:
            logger.info(
                "%d jobs submitted as %d job arrays (the cluster's MaxArraySize is %d)",
                len(jobs),
                -(-len(jobs) // size),
                size,
            )
        return jobs


_MAX_ARRAY_SIZE: dict[str, int | None] = {}


def slurm_max_array_size() -> int | None:
    """The cluster's ``MaxArraySize`` (``scontrol show config``; read once per process):
    an array holds at most that many tasks (indices 0 to MaxArraySize - 1). None when
    scontrol cannot tell."""
    if "value" not in _MAX_ARRAY_SIZE:
        value: int | None = None
        try:
            out = subprocess.run(
                ["scontrol", "show", "config"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            match = re.search(r"^MaxArraySize\s*=\s*(\d+)", out, flags=re.MULTILINE)
            value = int(match.group(1)) if match else None
        except (OSError, subprocess.SubprocessError) as e:
            logger.warning("Cannot read MaxArraySize from scontrol (%s): arrays are not split", e)
        _MAX_ARRAY_SIZE["value"] = value if value is None or value > 0 else None
    return _MAX_ARRAY_SIZE["value"]


def _add_dependency(executor: tp.Any, dependency: str) -> None:
    """Makes the next submission of a submitit Slurm executor depend on ``dependency``
    (added to a dependency the user set in ``slurm_additional_parameters``)."""
    params = dict(executor._executor.parameters.get("additional_parameters") or {})
    user = getattr(executor, "_exca_user_dependency", None)
    if user is None:
        user = executor._exca_user_dependency = str(params.get("dependency", ""))
    params["dependency"] = f"{user},{dependency}" if user else dependency
    executor.update_parameters(slurm_additional_parameters=params)


@register_backend("debug")
class SubmititDebugBackend(SubmititBackend):
    """submitit's debug executor: jobs run in this process, when their result is asked."""

    remote = False


def default_logs(folder: Path | str | None, logs: Path | str) -> Path | None:
    """Expands ``{folder}`` and ``{user}`` in a logs path template."""
    text = str(logs)
    if "{folder}" in text:
        if folder is None:
            return None
        text = text.replace("{folder}", str(folder))
    text = text.replace("{user}", getpass.getuser())
    return Path(text)
