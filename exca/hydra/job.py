"""The job side of exca's Hydra launchers: :class:`JobRunner` runs one job (Hydra's
``run_job``) where a backend put it, and records its outcome in its uid folder
(:class:`exca.uidfolder.UidFolder`: the result, or the failure record); the task
functions of jobs served without running (:class:`CachedValue`, :class:`ReportedFailure`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import traceback
import typing as tp
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from exca import sweeps
from exca.uidfolder import UidFolder

from . import artifacts

__all__ = [
    "CachedValue",
    "JobCrashed",
    "JobFailedBefore",
    "JobRunner",
    "ReportedFailure",
    "end_event",
    "record_crash",
]

log = logging.getLogger(__name__)


class JobFailedBefore(RuntimeError):
    """In ``cached`` mode, a job whose last run failed is not rerun: this error carries
    the recorded traceback (``hydra.launcher.mode=retry`` reruns failed jobs)."""


class JobCrashed(RuntimeError):
    """A job process ended without returning (killed, timed out, unpicklable result...)."""


@dataclasses.dataclass
class JobRunner:
    """Runs one job (Hydra's ``run_job``) and records its outcome in its uid folder.

    It is what a backend runs: in process for ``exca_inline``, pickled (with cloudpickle,
    by submitit) to the job process otherwise. Remote jobs first restore Hydra's
    singletons (ConfigStore, custom OmegaConf resolvers, ...) from ``singleton_state``.
    """

    hydra_context: HydraContext
    task_function: TaskFunction
    singleton_state: dict[str, tp.Any] | None = None
    sweep_dir: str | None = None  # where exca-sweep.jsonl gets the start/end events
    launch: str = ""  # token of the launch() that submitted the job

    def __call__(self, config: DictConfig, folder: str | None) -> JobReturn:
        remote = self.singleton_state is not None
        rank, job_id, n_tasks = 0, "", 1
        if remote:
            import submitit

            Singleton.set_state(self.singleton_state)
            setup_globals()
            env = submitit.JobEnvironment()
            rank, job_id, n_tasks = env.global_rank, str(env.job_id), env.num_tasks
            with read_write(config.hydra.job), open_dict(config.hydra.job):
                config.hydra.job.id = env.job_id
        if folder is None or n_tasks > 1:  # (the tasks of a job compute together)
            return self._run(config, folder, remote, rank, job_id, self.task_function)
        # another sweep computing this uid folder meanwhile: wait for it (exca.claims)
        entry = UidFolder(folder)
        with entry.claim_result(what=f"job {folder}") as claimed:
            if claimed:
                return self._run(config, folder, remote, rank, job_id, self.task_function)
        # stored by the other sweep's job: served as a cache hit
        return self._run(config, folder, remote, rank, job_id, CachedValue(entry.path))

    def _run(
        self,
        config: DictConfig,
        folder: str | None,
        remote: bool,
        rank: int,
        job_id: str,
        task_function: TaskFunction,
    ) -> JobReturn:
        idx = int(config.hydra.job.num)
        if self.sweep_dir is not None and rank == 0:
            event = {"event": "start", "launch": self.launch, "idx": idx, "job_id": job_id}
            sweeps.append(self.sweep_dir, event)
        ret = run_job(
            hydra_context=self.hydra_context,
            task_function=task_function,
            config=config,
            job_dir_key="hydra.sweep.dir",
            job_subdir_key="hydra.sweep.subdir",
        )
        error = ret._return_value if ret.status == JobStatus.FAILED else None
        tb = "" if error is None else "".join(traceback.format_exception(error))
        if remote and ret.status == JobStatus.COMPLETED:
            try:  # the value travels back to the launcher: check it can
                pickle.dumps(ret._return_value)
            except Exception as e:
                tb = traceback.format_exc()
                error = JobCrashed(
                    "the task function's return value cannot be sent back from the job "
                    f"process (pickling failed: {type(e).__name__}: {e})"
                )
                ret.status, ret.return_value = JobStatus.FAILED, error
        if folder is not None and rank == 0:
            _record(ret, UidFolder(folder), error, tb)
        if self.sweep_dir is not None and rank == 0:
            end = end_event(self.launch, idx, ret)
            sweeps.append(self.sweep_dir, {**end, "job_id": job_id or None})
        if remote and error is not None:
            add_note(error, f"Traceback in job {job_id} (pid {os.getpid()}):\n{tb.rstrip()}")
            try:
                pickle.dumps(error)
            except Exception:
                ret.return_value = JobCrashed(f"{type(error).__name__}: {error}\n{tb}")
        return ret


def end_event(launch: str, idx: int, ret: JobReturn) -> dict[str, tp.Any]:
    """The sweep record's ``end`` event of a job (see :mod:`exca.sweeps`)."""
    event: dict[str, tp.Any] = {"event": "end", "launch": launch, "idx": idx}
    if ret.status == JobStatus.COMPLETED:
        event["status"] = "completed"
        value = sweeps.numeric_value(ret._return_value)
        if value is not None:
            event["value"] = value
    else:
        event["status"] = "failed"
        event["error"] = short(ret._return_value)
    return event


def add_note(error: BaseException, note: str) -> None:
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)


def _record(ret: JobReturn, entry: UidFolder, error: BaseException | None, tb: str) -> None:
    """Caches a completed job's value, or records a failed job's failure (a warning, never
    an error, when the uid folder cannot be written)."""
    if ret.status == JobStatus.COMPLETED:
        hydra_cfg = ret.hydra_cfg
        if hydra_cfg is not None:  # where its files are, for the jobs served from the cache
            output_dir = OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir")
            artifacts.record_origin(entry.path, output_dir)
        try:  # (a job with the same uid may have stored it meanwhile: that value stays)
            entry.write_result(ret._return_value, what=f"job {entry.path.name}")
        except Exception as e:
            log.warning(
                "The result of this job could not be cached in %s (%s: %s): the job will "
                "run again in the next sweep",
                entry.path,
                type(e).__name__,
                e,
            )
    elif ret.status == JobStatus.FAILED and error is not None:
        try:
            entry.record_failure(error, tb=tb)
        except OSError as e:
            log.warning("Could not record the failure in %s: %s", entry.path, e)


def record_crash(folder: Path, error: BaseException) -> None:
    """Records the failure of a job that ended without returning (unless its result got
    stored: a later task of the job failed)."""
    try:
        UidFolder(folder).record_failure(error)
    except OSError as e:
        log.warning("Could not record the failure in %s: %s", folder, e)


@dataclasses.dataclass
class CachedValue:
    """Task function of a cache hit: returns the cached value (and brings the files of the
    original run into the job's output dir, see :mod:`exca.hydra.artifacts`)."""

    folder: Path
    artifacts: str = "link"

    def __call__(self, cfg: DictConfig) -> tp.Any:
        value = UidFolder(self.folder).read_result()
        artifacts.bring(self.folder, HydraConfig.get().runtime.output_dir, self.artifacts)
        return value


@dataclasses.dataclass
class ReportedFailure:
    """Task function of a job that is reported failed without running."""

    error: BaseException

    def __call__(self, cfg: DictConfig) -> tp.Any:
        raise self.error


def short(error: tp.Any) -> str:
    """``Type: first line of the message``, for logs and the sweep record."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
