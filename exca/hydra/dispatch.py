"""Run or serve, then collect: the third step of an exca launcher's ``launch()``
(:mod:`exca.hydra.launcher`), as a base class of its :class:`~exca.hydra.launcher.SweepRunner`.

The jobs to run go to a backend (:mod:`exca.backends`: in process, local processes, one
Slurm job array), each run by a :class:`~exca.hydra.job.JobRunner`; the jobs whose outcome
is known (a cached value, a failure recorded before, a job sharing its uid with another)
are served without running their task function (:mod:`exca.hydra.fast.serve`); the jobs an
earlier sweep is still computing are waited for; ``hydra.launcher.wait=false`` returns at
once (:class:`Detached`). Every uid folder is read and written through
:class:`exca.uidfolder.UidFolder`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import typing as tp
from pathlib import Path

import pydantic
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from exca import sweeps
from exca.backends import Job, Resources, get_backend
from exca.confdict import ConfDict
from exca.uidfolder import UidFolder

from .fast.jobconfig import JobConfig
from .job import (
    CachedValue,
    JobCrashed,
    JobFailedBefore,
    JobRunner,
    ReportedFailure,
    end_event,
    record_crash,
    short,
)
from .settings import Settings

__all__ = ["Action", "Detached", "Dispatcher", "PlannedJob"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Detached:
    """The return value of a job left running by ``hydra.launcher.wait=false``: its result
    goes to the cache (``folder``), where the next launch of the sweep collects it."""

    job_id: str | None
    folder: Path | None

    def __str__(self) -> str:
        return f"<job {self.job_id} still running; its result will be cached in {self.folder}>"


Action = tp.Literal["run", "cached", "running", "failed-before", "duplicate"]


@dataclasses.dataclass
class PlannedJob:
    """A job of a launch: its config, uid folder, and what the launcher decided for it."""

    idx: int
    overrides: list[str]
    spec: JobConfig | None = None  # None: the job did not compose
    model: type[pydantic.BaseModel] | None = None
    uid: str = ""
    folder: Path | None = None
    uid_cfg: ConfDict | None = None
    full_uid: tp.Callable[[], ConfDict] | None = None
    full: ConfDict | None = None
    volatile: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> raw value
    action: Action = "run"
    first: int = -1  # for duplicates: index (in the batch) of the job computing the uid
    live: Job | None = None  # "running": the Slurm job of an earlier sweep computing it
    ret: JobReturn | None = None
    job_id: str | None = None  # of the submitted job

    @property
    def name(self) -> str:
        overrides = " ".join(filter_overrides(self.overrides))
        return f"#{self.idx} ({overrides or 'no override'})"


class Dispatcher:
    """Runs or serves the planned jobs of a launch, then collects their JobReturns."""

    cluster: str | None
    settings: Settings
    config: DictConfig
    hydra_context: HydraContext
    task_function: TaskFunction
    token: str  # of the launch, in the sweep record
    name: str  # exca_inline, exca_local...

    def _runner(self, remote: bool, task: TaskFunction | None = None) -> JobRunner:
        state = Singleton.get_state() if remote else None
        record = os.path.abspath(str(self.config.hydra.sweep.dir))  # jobs may chdir
        task = self.task_function if task is None else task
        return JobRunner(self.hydra_context, task, state, sweep_dir=record, launch=self.token)

    def _execute(self, jobs: list[PlannedJob]) -> None:
        to_run = [job for job in jobs if job.action == "run"]
        if self.settings.mode == "force" or self.settings.mode == "retry":
            for job in to_run:
                if job.folder is not None:
                    UidFolder(job.folder).clear()
        served = [job for job in jobs if job.action in ("cached", "failed-before")]
        if not self.settings.wait:
            self._detach(jobs, to_run, served)
            return
        if self.cluster is None:
            runner = self._runner(remote=False)
            backend = get_backend(None, Resources())
            submitted = backend.submit_many(runner, [self._job_args(job) for job in to_run])
            self._serve(served)
            self._collect(to_run, submitted)
        else:
            runner = self._runner(remote=True)
            windowed = self.cluster == "local" and self.settings.max_jobs is not None
            if windowed:
                self._serve(served)
                submitted = self._submit_windowed(runner, to_run)
            else:
                submitted = self._submit(runner, to_run)
                self._serve(served)
            self._collect(to_run, submitted)
        self._wait_running([job for job in jobs if job.action == "running"])
        self._serve_duplicates(jobs)
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)

    def _detach(
        self, jobs: list[PlannedJob], to_run: list[PlannedJob], served: list[PlannedJob]
    ) -> None:
        """``wait=false``: submits the uncached jobs, serves the cached ones and returns
        at once; the jobs not finished get a :class:`Detached` return value."""
        submitted = self._submit(self._runner(remote=True), to_run)
        self._serve(served)
        for job, sub in zip(to_run, submitted, strict=True):
            job.ret = self._detached_return(job, str(sub.job_id))
        for job in jobs:
            if job.action == "running" and job.live is not None:
                job.ret = self._detached_return(job, str(job.live.job_id))
        for job in jobs:
            if job.action == "duplicate":
                job.ret = self._detached_return(job, jobs[job.first].job_id)
        waiting = [
            job for job in jobs if isinstance(getattr(job.ret, "_return_value", None), Detached)
        ]
        if waiting:
            ids = sorted({str(j.ret._return_value.job_id) for j in waiting})  # type: ignore[union-attr]
            sweep_dir = Path(str(self.config.hydra.sweep.dir)).resolve()
            log.info(
                f"[{self.name}] hydra.launcher.wait=false: {len(waiting)} jobs left running "
                f"(job ids: {', '.join(ids)}). Follow them with:\n\texca sweep {sweep_dir} "
                "--watch\nthen run this command again to collect every result from the cache"
            )

    def _detached_return(self, job: PlannedJob, job_id: str | None) -> JobReturn:
        ret = self._failed_return(job, RuntimeError())
        ret.status = JobStatus.COMPLETED
        ret.return_value = Detached(job_id=job_id, folder=job.folder)
        return ret

    def _job_args(self, job: PlannedJob) -> tuple[tp.Any, ...]:
        assert job.spec is not None
        return (job.spec.full(), None if job.folder is None else str(job.folder))

    def _resources(self) -> Resources:
        settings = self.settings
        return Resources(
            folder=Path(settings.logs),
            max_workers=settings.max_jobs,
            **dict(settings.resources),
        )

    def _submit(self, runner: JobRunner, jobs: list[PlannedJob]) -> list[Job]:
        if not jobs:
            return []
        backend = get_backend(self.cluster, self._resources())
        submitted = backend.submit_many(runner, [self._job_args(job) for job in jobs])
        for job, sub in zip(jobs, submitted, strict=True):
            job.job_id = str(sub.job_id)
            event = {"event": "submitted", "launch": self.token, "idx": job.idx}
            sweeps.append(str(self.config.hydra.sweep.dir), {**event, "job_id": job.job_id})
            if job.folder is not None:  # a sweep launched again meanwhile waits for it
                UidFolder(job.folder).save_job(sub)
        ids = ", ".join(str(s.job_id) for s in submitted[:5]) + (", ..." if len(jobs) > 5 else "")
        log.info(
            f"[{self.name}] submitted {len(submitted)} jobs ({ids}); logs in {self.settings.logs}"
        )
        return submitted

    def _submit_windowed(self, runner: JobRunner, jobs: list[PlannedJob]) -> list[Job]:
        """Local processes, at most ``max_jobs`` at a time (waits for all of them)."""
        limit = self.settings.max_jobs or len(jobs)
        backend = get_backend(self.cluster, self._resources())
        submitted: list[Job | None] = [None] * len(jobs)
        running: list[Job] = []
        for k, job in enumerate(jobs):
            while len(running) >= limit:
                time.sleep(0.05)
                running = [s for s in running if not s.done()]
            submitted[k] = backend.submit(runner, *self._job_args(job))
            running.append(tp.cast(Job, submitted[k]))
        return [tp.cast(Job, s) for s in submitted]

    def _collect(self, jobs: list[PlannedJob], submitted: list[Job]) -> None:
        for job, sub in zip(jobs, submitted, strict=True):
            try:
                results = getattr(sub, "results", None)
                # several tasks (nodes/tasks_per_node): one JobReturn per task, rank 0's first
                job.ret = results()[0] if results is not None else sub.result()
            except Exception as e:
                error = JobCrashed(f"job {sub.job_id} did not return: {type(e).__name__}: {e}")
                error.__cause__ = e
                if job.folder is not None:
                    record_crash(job.folder, error)
                job.ret = self._failed_return(job, error)

    def _wait_running(self, jobs: list[PlannedJob]) -> None:
        """Waits for the jobs of an earlier sweep, then serves their cached result (or
        their failure) in this sweep."""
        if not jobs:
            return
        ids = ", ".join(str(job.live.job_id) for job in jobs if job.live is not None)
        log.info(f"[{self.name}] waiting for {len(jobs)} jobs of an earlier sweep ({ids})")
        for job in jobs:
            assert job.folder is not None and job.live is not None
            try:
                job.live.result()
                problem = ""
            except Exception as e:
                problem = f"{type(e).__name__}: {e}"
            entry = UidFolder(job.folder)
            if entry.has_result(legacy=False):
                job.action = "cached"
            elif entry.has_failure_record():
                job.action = "failed-before"
            else:
                error = JobCrashed(
                    f"job {job.live.job_id} (of an earlier sweep) did not return: {problem}"
                )
                record_crash(job.folder, error)
                job.ret = self._failed_return(job, error)
                continue
            self._serve([job])

    def _serve(self, jobs: list[PlannedJob]) -> None:
        """Cached jobs and failures recorded before, through Hydra's run_job."""
        for job in jobs:
            assert job.folder is not None
            task: TaskFunction
            if job.action == "cached":
                task = CachedValue(job.folder, self.settings.artifacts)
            else:
                failure = UidFolder(job.folder).failure()
                text = "" if failure is None else failure.traceback.rstrip()
                where = "" if failure is None else f"; recorded in {failure.source}"
                error = JobFailedBefore(
                    f"{job.name} failed in an earlier sweep and is not rerun in mode=cached "
                    f"(hydra.launcher.mode=retry reruns it){where}:\n{text}"
                )
                task = ReportedFailure(error)
            job.ret = self._serve_one(job, task)

    def _serve_duplicates(self, jobs: list[PlannedJob]) -> None:
        for job in jobs:
            if job.action != "duplicate":
                continue
            first = jobs[job.first]
            assert job.folder is not None and first.ret is not None
            completed = first.ret.status == JobStatus.COMPLETED
            if completed and UidFolder(job.folder).has_result(legacy=False):
                task: TaskFunction = CachedValue(job.folder, self.settings.artifacts)
            else:
                task = ReportedFailure(
                    RuntimeError(
                        f"{job.name} shares its uid folder {job.folder} with {first.name}, "
                        f"which did not produce a cached result: {short(first.ret._return_value)}"
                    )
                )
            job.ret = self._serve_one(job, task)

    def _serve_one(self, job: PlannedJob, task: TaskFunction) -> JobReturn:
        """A job whose outcome is known, without run_job's per-job cost (exca.hydra.fast)."""
        from .fast.serve import can_serve, serve_job

        assert job.spec is not None
        if can_serve(job.spec.bind()):
            return serve_job(self.hydra_context, job.spec, task)
        return JobRunner(self.hydra_context, task)(job.spec.full(), None)

    def _failed_return(self, job: PlannedJob, error: BaseException) -> JobReturn:
        assert job.spec is not None
        cfg = job.spec.full()
        ret = JobReturn()
        ret.overrides = list(OmegaConf.to_container(cfg.hydra.overrides.task))  # type: ignore[arg-type]
        ret.cfg = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
        ret.hydra_cfg = OmegaConf.masked_copy(cfg, "hydra")
        try:
            ret.working_dir = str(cfg.hydra.runtime.output_dir)
        except Exception:  # not resolved: caching off and no _target_
            ret.working_dir = os.getcwd()
        ret.task_name = str(cfg.hydra.job.name)
        ret.status = JobStatus.FAILED
        ret.return_value = error
        return ret

    def _collect_returns(self, sweep_dir: Path, jobs: list[PlannedJob]) -> list[JobReturn]:
        """The JobReturns of the launch, in its order; each job's end in the sweep record,
        and the failures logged."""
        for job in jobs:
            if job.ret is not None and not isinstance(job.ret._return_value, Detached):
                end = end_event(self.token, job.idx, job.ret)
                sweeps.append(sweep_dir, {**end, "by": "launcher"})
        failed = [
            job for job in jobs if job.ret is not None and job.ret.status != JobStatus.COMPLETED
        ]
        if failed:
            lines = [f"{job.name}: {short(job.ret._return_value)}" for job in failed]  # type: ignore[union-attr]
            log.error(
                "[%s] %d of %d jobs failed:\n\t%s",
                self.name,
                len(failed),
                len(jobs),
                "\n\t".join(lines),
            )
        return [tp.cast(JobReturn, job.ret) for job in jobs]
