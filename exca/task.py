"""TaskInfra: one method without arguments -> one cached result -> one job."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import pickle
import typing as tp
from pathlib import Path

from . import claims as _claims
from .backends import BACKENDS, LocalJob, get_backend, in_job, slurm_state
from .base import (
    BaseInfra,
    SignatureError,
    bound_infra,
    check_exclude,
    infra_holder,
    private_state,
)
from .submit import SubmitInfra
from .uidfolder import Mode, UidFolder

__all__ = ["LocalJob", "SubmitInfra", "TaskInfra"]

logger = logging.getLogger(__name__)

C = tp.TypeVar("C", bound=tp.Callable[..., tp.Any])


class _Missing:
    """Sentinel for "no value in RAM" (survives copies and pickling)."""

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: tp.Any) -> _Missing:
        return self

    def __reduce__(self) -> str:
        return "_MISSING"

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: tp.Any = _Missing()


def _current_job(infra: TaskInfra) -> tp.Any:
    """Inside a submitit job computing ``infra``: that job (its record, or rebuilt from
    submitit's environment when the submitter has not recorded it yet), or None."""
    import submitit

    try:
        env = submitit.JobEnvironment()
        job_id = env.job_id
    except Exception:  # not a submitit job
        return None
    job = None if infra.folder is None else infra._entry().load_job()
    if job is not None and str(job.job_id) == str(job_id):
        return job
    if "slurm" in type(env).__name__.lower():
        return submitit.SlurmJob(folder=env.paths.folder, job_id=job_id)
    from submitit.local.local import LocalJob as SubmititLocalJob

    return SubmititLocalJob(folder=env.paths.folder, job_id=job_id)


def _failed(job: tp.Any) -> bool:
    return bool(job.done()) and job.exception() is not None


class TaskInfra(BaseInfra):
    """Caches the result of a method without arguments and runs it where ``cluster`` says.

    ``cluster``: None (in this process), ``"local"`` (a local subprocess),
    ``"debug"`` (in process, through submitit's debug executor), ``"slurm"``, or
    ``"auto"`` (Slurm when available, else local). Any cluster but None needs a
    ``folder``.

    ``mode``: ``"cached"`` (default: reuse a cached result, or the error of a
    failed job), ``"retry"`` (rerun failed jobs, reuse results), ``"force"``
    (recompute once and replace the cache), ``"read-only"`` (never compute: a
    miss raises an error naming the uid folder).

    ``keep_in_ram``: also keep the result in RAM once computed or loaded (without a
    folder it is always kept in RAM, by this object only).

    ``claims``: concurrent processes and jobs compute a missing result once (see
    :mod:`exca.claims`): ``"wait"`` (default: wait for the process computing it),
    ``"no-wait"`` (raise :class:`exca.claims.ClaimedError` naming that process) or
    ``"off"`` (no claim: every process missing the result computes it).
    """

    cluster: tp.Literal[None, "auto", "local", "slurm", "debug"] = None
    mode: Mode = "cached"
    keep_in_ram: bool = False
    claims: _claims.Wait = "wait"

    _ram: tp.Any = _MISSING  # the result, when kept in RAM
    _job: tp.Any = None  # the job computing (or having computed) the result
    _forced: bool = False  # mode="force" already recomputed once for this object
    _cd: UidFolder | None = None  # the uid folder (it owns the entry's CacheDict)

    # ---- decoration ----
    def apply(
        self,
        method: C | None = None,
        *,
        exclude_from_cache_uid: tp.Iterable[str]
        | tp.Callable[[tp.Any], tp.Iterable[str]]
        | str = (),
    ) -> C:
        """Decorates a method taking only ``self``: its result gets cached and run by this infra.

        ``exclude_from_cache_uid``: fields that do not change the result (a list of
        names, a callable taking the object, or ``"method:<name>"`` naming a method
        of the object, resolved on the object's class).
        """
        check_exclude(exclude_from_cache_uid)
        if method is None:
            partial = functools.partial(self.apply, exclude_from_cache_uid=exclude_from_cache_uid)
            return tp.cast(C, partial)
        params = list(inspect.signature(method).parameters)
        if len(params) != 1:
            raise SignatureError(
                f"TaskInfra.apply decorates a method taking only self, but "
                f"{method.__qualname__} takes {params}; use MapInfra or SubmitInfra for methods "
                "with arguments"
            )
        return self._decorate(method, exclude_from_cache_uid=exclude_from_cache_uid)

    def _wrapper(self) -> tp.Callable[..., tp.Any]:
        # same as the base wrapper, with a fast path for results kept in RAM
        default_private = private_state(self)

        def wrapper(obj: tp.Any) -> tp.Any:
            name = default_private["_field_name"]
            infra: tp.Any = (obj.__dict__ if name[0] != "_" else infra_holder(obj, name)).get(name)
            private = getattr(infra, "__pydantic_private__", None)
            if private is None or private.get("_obj") is not obj:
                infra = bound_infra(obj, name)
                private = private_state(infra)
            spec = default_private["_spec"]
            if private["_spec"] is not spec and spec is not None and infra.spec is not spec:
                # the method of a parent class overridden by a re-decorated one, called
                # through super(): it runs as is (the override's infra caches the result)
                return spec.method(obj)
            ram = private["_ram"]
            if ram is not _MISSING:  # set once force mode recomputed, if any
                return ram
            return infra._call()

        return wrapper

    # ---- cache ----
    def _entry(self) -> UidFolder:
        entry = self._cd
        if entry is None:
            entry = self._cd = super()._entry()
        return entry

    def _is_cached(self) -> bool:
        if self._ram is not _MISSING:
            return True
        if self.folder is None:
            return False
        return self._entry().has_result()

    def _load(self) -> tp.Any:
        if self._ram is not _MISSING:
            return self._ram
        value = self._entry().read_result()
        if self.keep_in_ram:
            self._ram = value
        return value

    def _force_pending(self) -> bool:
        return self.mode == "force" and not self._forced

    def _run(self) -> tp.Any:
        """Computes the result and stores it (what a job runs)."""
        self._check_configs(write=True)
        if self._job is None and self.cluster is not None and in_job():
            # the method may ask for its own job (eg: job().paths.stdout, as in 0.6.0)
            self._job = _current_job(self)
        if self.folder is None:
            result = self._ram = self.spec.method(self.obj)
            return result
        # computed once across processes and jobs, stored with check-then-write under
        # the folder lock; a failure is recorded in the uid folder
        compute = functools.partial(self.spec.method, self.obj)
        result = self._entry().compute_once(compute, wait=self.claims, what=self._name())
        if self.keep_in_ram:
            self._ram = result
        return result

    def _call(self) -> tp.Any:
        if self._ram is not _MISSING:
            return self._ram
        if not self._force_pending() and self.folder is not None and self._is_cached():
            self._check_configs(write=False)
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug("%s: reading the cached result in %s", self._name(), self._where())
            return self._load()
        job = self.job()
        if getattr(job, "_sub_jobs", None):  # tasks_per_node > 1: the first task's result
            result = job.results()[0]
        else:
            result = job.result()
        if self.folder is not None and self._is_cached():
            return self._load()
        return result

    # ---- jobs ----
    def _load_job(self) -> tp.Any:
        job = None if self.folder is None else self._entry().load_job()
        if job is not None and slurm_state(job) == "unknown":
            logger.warning(
                "%s: Slurm does not know job %s recorded in %s any more: not waiting for it",
                self._name(),
                job.job_id,
                self._where(),
            )
            return None
        return job

    def job(self) -> tp.Any:
        """The job computing the result: submits it if needed (following ``mode``).

        A submitit job for ``cluster`` local/debug/slurm/auto, else an in-process
        job; both have ``result()`` (which re-raises the job's error with its
        traceback), ``done()``, ``exception()``, ``wait()`` and ``job_id``. A job
        submitted earlier (even by another process) is found again through
        ``job.pkl`` in the uid folder.
        """
        force = self._force_pending()
        job = self._job
        if job is not None and not force and not (self.mode == "retry" and _failed(job)):
            return job
        if not force and self._is_cached():
            self._job = LocalJob(self._load)
            return self._job
        if self.mode == "read-only":
            raise RuntimeError(
                f"mode='read-only' but {self._name()} has no cached result in {self._where()}"
            )
        self._check_configs(write=False)  # a config mismatch raises before anything runs
        if not force and (self.cluster is None or not in_job()):
            job = self._load_job()  # also an in-process failure recorded earlier
            if job is not None:
                if not (self.mode == "retry" and _failed(job)):
                    self._job = job
                    return job
                logger.warning(
                    "%s: retrying failed job %s in %s", self._name(), job.job_id, self._where()
                )
        self._clear_result()
        self._forced = True
        if self.cluster is None or in_job():
            logger.info("%s: computing in process (uid folder: %s)", self._name(), self._where())
            self._job = LocalJob(self._run)
            self._record_failure(self._job)
        else:
            self._submit_jobs([self])
        return self._job

    def _record_failure(self, job: LocalJob) -> None:
        """Records an in-process failure in the uid folder: the failure record (its
        traceback) and the job (as exca 0.6.0 does): mode "cached" raises it again,
        without recomputing, in any process; mode "retry" computes it again."""
        error = job.exception()
        if self.folder is None or error is None:
            return
        entry = self._entry()
        if entry.is_legacy_job_file():  # exca 0.6.0's record (which it reads): kept
            return
        logger.warning(
            "%s: the computation failed (recorded in %s; mode='retry' computes it again):\n%s",
            self._name(),
            entry.path,
            job._traceback,
        )
        if not entry.has_failure_record():  # (failed before computing: eg a claim)
            entry.record_failure(error, tb=job._traceback)
        entry.save_job(job.picklable())

    def _clear_result(self) -> None:
        self._ram = _MISSING
        self._job = None
        if self.folder is not None:  # (exca 0.6.0's job record is kept, but in mode force)
            self._entry().clear(remove_legacy_job=self.mode == "force", what=self._name())

    @staticmethod
    def _submit_jobs(infras: list[TaskInfra], max_workers: int | None = None) -> None:
        """Submits the computation of each infra (as one job array when there are several)."""
        first = infras[0]
        for infra in infras:
            infra.uid_folder(create=True)
            infra._forced = True
        backend = get_backend(first.cluster, first._resources(max_workers=max_workers))
        with first._workdir_context():
            jobs = backend.submit_many(TaskInfra._run, [(infra,) for infra in infras])
        if len(jobs) == 1:
            logger.info(
                "Submitted 1 job for %s through cluster '%s' (job_id=%s, uid folder: %s)",
                first._name(),
                first.cluster,
                jobs[0].job_id,
                first._where(),
            )
        else:
            logger.info(
                "Submitted %d jobs (eg: %s) for %s through cluster '%s' (uid folders in %s)",
                len(jobs),
                jobs[0].job_id,
                first._name(),
                first.cluster,
                Path(str(first.folder)) / first._method_prefix(),
            )
        for infra, job in zip(infras, jobs):
            infra._job = job
            entry = infra._entry()
            try:
                entry.save_job(job)
            except (pickle.PicklingError, AttributeError, TypeError) as e:
                if BACKENDS[infra.cluster].remote:
                    raise
                # a job run in this process (cluster="debug") on an object that does not
                # pickle (eg: its class is defined inside a function): it is not recorded
                # for other processes, and runs as 0.6.0 runs it
                logger.debug("%s: job %s not recorded (%s)", infra._name(), job.job_id, e)
            entry.link_logs(job)
            logger.debug(
                "%s: submitted job %s on cluster %s (uid folder: %s)",
                infra._name(),
                job.job_id,
                infra.cluster,
                infra._where(),
            )

    def status(self) -> tp.Literal["not submitted", "running", "completed", "failed"]:
        """State of the computation, also for a job submitted by another process."""
        if self._is_cached():
            return "completed"
        if self.folder is None:  # in process, nothing recorded (as in exca 0.6.0)
            return "not submitted"
        job = self._job if self._job is not None else self._load_job()
        if job is None:
            return "not submitted"
        if not job.done():
            return "running"
        # a job that succeeded stored its result before ending: done and not cached is a
        # failure (asking job.exception() would wait for a result file a killed job never
        # writes)
        return "failed"

    def clear_job(self) -> None:
        """Removes the cached result and the job record: the next call recomputes."""
        self._clear_result()

    @contextlib.contextmanager
    def job_array(
        self, max_workers: int = 256, allow_empty: bool = False, allow_repeated_tasks: bool = False
    ) -> tp.Iterator[list[tp.Any]]:
        """Collects objects; on exit, submits the uncached ones as one job array.

        ::

            with task.infra.job_array() as array:
                for lr in [0.1, 0.01]:
                    array.append(task.infra.clone_obj(lr=lr))

        Cached objects (and jobs still running, or failed in mode "cached") are
        not submitted again. ``max_workers``: jobs of the array running at once.
        """
        tasks: list[tp.Any] = []
        yield tasks
        if not tasks:
            if allow_empty:
                return
            raise RuntimeError("job_array() got no task (use allow_empty=True to allow it)")
        name = self._field_name
        infras: list[TaskInfra] = []
        seen: dict[str, int] = {}
        for k, obj in enumerate(tasks):
            infra = getattr(obj, name, None)
            if not isinstance(infra, TaskInfra):
                raise TypeError(
                    f"job_array item #{k} ({type(obj).__name__}) has no TaskInfra field {name!r}"
                )
            infra = bound_infra(obj, name)
            uid = infra.uid()
            if uid in seen:
                if not allow_repeated_tasks:
                    raise ValueError(
                        f"job_array items #{seen[uid]} and #{k} have the same uid {uid} "
                        "(use allow_repeated_tasks=True to allow it)"
                    )
                continue
            seen[uid] = k
            infras.append(infra)
        to_run: list[TaskInfra] = []
        for infra in infras:
            if not infra._force_pending():
                if infra._is_cached():
                    continue
                job = infra._load_job()
                if job is not None and not (infra.mode == "retry" and _failed(job)):
                    infra._job = job  # running, or failed in mode "cached"
                    continue
            if infra.mode == "read-only":
                raise RuntimeError(
                    f"mode='read-only' but {infra._name()} has no cached result in {infra._where()}"
                )
            infra._check_configs(write=False)
            to_run.append(infra)
        logger.info(
            "job_array of %s: %d to run, %d cached or already submitted (in %s)",
            self._name(),
            len(to_run),
            len(infras) - len(to_run),
            Path(str(self.folder)) / infras[0]._method_prefix() if self.folder else "RAM",
        )
        for infra in to_run:
            infra._clear_result()
        if not to_run:
            return
        if self.cluster is None or in_job():
            for infra in to_run:
                infra._forced = True
                infra._job = LocalJob(infra._run)
                infra._record_failure(infra._job)
            return
        self._submit_jobs(to_run, max_workers=max_workers)
