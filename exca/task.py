"""TaskInfra: one method without arguments -> one cached result -> one job."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import pickle
import typing as tp
from pathlib import Path

import pydantic

from . import layout
from .backends import Job, LocalJob, get_backend, in_job
from .base import BaseInfra, Mode
from .cachedict import CacheDict

logger = logging.getLogger(__name__)

C = tp.TypeVar("C", bound=tp.Callable[..., tp.Any])
_RESULT = "result"


class _Missing:
    """Sentinel for "no value in RAM" (survives pydantic's copies of private defaults)."""

    def __copy__(self) -> _Missing:
        return self

    def __deepcopy__(self, memo: tp.Any) -> _Missing:
        return self

    def __reduce__(self) -> str:
        return "_MISSING"

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: tp.Any = _Missing()


class TaskInfra(BaseInfra):
    """Caches the result of a method without arguments and runs it where ``cluster`` says.

    ``cluster``: None (in this process), ``"local"`` (a local subprocess),
    ``"debug"`` (in process, through submitit's debug executor), ``"slurm"``, or
    ``"auto"`` (Slurm when available, else local).

    ``mode``: ``"cached"`` (default: reuse a cached result, or a failed job's
    error), ``"retry"`` (rerun failed jobs), ``"force"`` (recompute once and
    replace the cache), ``"read-only"`` (never compute: a miss raises).
    """

    cluster: tp.Literal[None, "auto", "local", "slurm", "debug"] = None
    mode: Mode = "cached"
    keep_in_ram: bool = False

    _ram: tp.Any = _MISSING
    _job: tp.Any = None
    _forced: bool = False
    _cd: tp.Any = None

    @pydantic.model_validator(mode="after")
    def _check_cluster(self) -> TaskInfra:
        if self.cluster is not None and self.folder is None:
            raise ValueError(
                f"TaskInfra(cluster={self.cluster!r}) needs a folder: the job and its result "
                "are stored there (set infra.folder)"
            )
        return self

    def _transient_private(self) -> tuple[str, ...]:
        return ("_ram", "_job", "_cd")

    # ---- decoration ----
    def apply(
        self,
        method: C | None = None,
        *,
        exclude_from_cache_uid: tp.Iterable[str]
        | tp.Callable[[tp.Any], tp.Iterable[str]]
        | str = (),
    ) -> tp.Any:
        """Decorates a method taking only ``self``: its result gets cached and run by this infra.

        ``exclude_from_cache_uid``: fields that do not change the result (a list of
        names, a callable taking the object, or ``"method:<name>"``).
        """
        if method is None:
            return functools.partial(self.apply, exclude_from_cache_uid=exclude_from_cache_uid)
        params = list(inspect.signature(method).parameters)
        if params != ["self"] and len(params) != 1:
            raise TypeError(
                f"TaskInfra.apply decorates a method taking only self, but "
                f"{method.__qualname__} takes {params}; use MapInfra or SubmitInfra for methods "
                "with arguments"
            )
        self._record(method, exclude_from_cache_uid=exclude_from_cache_uid)
        infra_default = self

        @functools.wraps(method)
        def wrapper(obj: tp.Any) -> tp.Any:
            infra = _bound_infra(obj, infra_default._field_name)
            return infra._call()

        wrapper._exca_infra = self  # type: ignore[attr-defined]
        return wrapper

    # ---- cache ----
    def _cache_dict(self) -> CacheDict[tp.Any]:
        if self._cd is None:
            self._cd = CacheDict(folder=self.uid_folder(), keep_in_ram=self.keep_in_ram)
        return tp.cast(CacheDict[tp.Any], self._cd)

    def _is_cached(self) -> bool:
        if self.folder is None:
            return self._ram is not _MISSING
        return _RESULT in self._cache_dict()

    def _load(self) -> tp.Any:
        if self._ram is not _MISSING:
            return self._ram
        value = self._cache_dict()[_RESULT]
        if self.keep_in_ram:
            self._ram = value
        return value

    def _run(self) -> tp.Any:
        """Computes the result and stores it (this is what a job runs)."""
        result = self.spec.method(self.obj)
        if self.folder is not None:
            folder = self.uid_folder(create=True)
            assert folder is not None
            cd = self._cache_dict()
            with cd.writer() as writer:
                writer[_RESULT] = result
        if self.folder is None or self.keep_in_ram:
            self._ram = result
        return result

    def _call(self) -> tp.Any:
        force = self.mode == "force" and not self._forced
        if self.folder is None:
            if self._ram is _MISSING or force:
                if self.mode == "read-only":
                    raise RuntimeError(
                        f"mode='read-only' and {type(self.obj).__name__}.{self.spec.name} has no "
                        "cached result (no folder is set, nothing was computed in this process)"
                    )
                self._forced = True
                self._ram = _MISSING
                self._run()
            return self._ram
        if not force and self._is_cached():
            self._check_configs(self._folder(), write=False)
            return self._load()
        if self.mode == "read-only":
            raise RuntimeError(
                f"mode='read-only' but nothing is cached for "
                f"{type(self.obj).__name__}.{self.spec.name} in {self._folder()}"
            )
        job = self.job()
        result = job.result()
        if self._is_cached():
            return self._load()
        return result

    def _folder(self) -> Path:
        folder = self.uid_folder()
        assert folder is not None
        return folder

    # ---- jobs ----
    def _job_file(self) -> Path | None:
        folder = self.uid_folder()
        return None if folder is None else folder / layout.JOB

    def _load_job(self) -> tp.Any:
        path = self._job_file()
        if path is None or not path.exists():
            return None
        try:
            with path.open("rb") as f:
                return pickle.load(f)
        except Exception as e:  # a corrupt job file must not hide the cache
            logger.warning("Ignoring unreadable job file %s (%s: %s)", path, type(e).__name__, e)
            return None

    def job(self) -> tp.Any:
        """The job computing the result: submits it if needed (respecting ``mode``).

        A submitit job for ``cluster`` local/debug/slurm/auto, else an in-process
        job; both have ``result()``, ``done()``, ``exception()``. A job submitted
        earlier (even from another process) is found again through ``job.pkl`` in
        the uid folder.
        """
        force = self.mode == "force" and not self._forced
        if self._job is not None and not force:
            return self._job
        if self.folder is not None and not force and self._is_cached():
            self._job = LocalJob(self._load)
            return self._job
        if self.mode == "read-only":
            raise RuntimeError(
                f"mode='read-only': no cached result or job for "
                f"{type(self.obj).__name__}.{self.spec.name} in {self.uid_folder()}"
            )
        if self.cluster is None or in_job():
            self._forced = True
            if force:
                self._clear_result()
            self._job = LocalJob(self._run)
            return self._job
        if not force:
            job = self._load_job()
            if job is not None:
                failed = job.done() and job.exception() is not None
                if not (failed and self.mode == "retry"):
                    self._job = job
                    return job
                logger.info("Retrying failed job %s for %s", job.job_id, self.uid_folder())
        self._clear_result()
        self._submit([self])
        return self._job

    def _clear_result(self) -> None:
        self._ram = _MISSING
        if self.folder is not None:
            cd = self._cache_dict()
            if _RESULT in cd:
                with cd.writer():
                    del cd[_RESULT]
            path = self._job_file()
            if path is not None and path.exists():
                path.unlink()
        self._job = None

    @classmethod
    def _submit_jobs(cls, infras: list[TaskInfra], max_workers: int | None = None) -> None:
        if not infras:
            return
        first = infras[0]
        for infra in infras:
            infra.uid_folder(create=True)
        backend = get_backend(first.cluster, first._resources(max_workers=max_workers))
        with first._workdir_context():
            jobs = backend.submit_many(TaskInfra._run, [(infra,) for infra in infras])
        for infra, job in zip(infras, jobs):
            infra._job = job
            infra._forced = True
            path = infra._job_file()
            assert path is not None
            layout.atomic_write_bytes(path, pickle.dumps(job))
            logger.info("Submitted job %s for %s", job.job_id, infra.uid_folder())

    def _submit(self, infras: list[TaskInfra]) -> None:
        self._submit_jobs(infras)

    def status(self) -> tp.Literal["not submitted", "running", "completed", "failed"]:
        """State of the computation, also for a job submitted by another process."""
        if self._is_cached():
            return "completed"
        job = self._job if self._job is not None else self._load_job()
        if job is None:
            return "not submitted"
        if not job.done():
            return "running"
        return "failed" if job.exception() is not None else "completed"

    def clear_job(self) -> None:
        """Removes the cached result and the job record (the next call recomputes)."""
        self._clear_result()

    def executor(self) -> tp.Any:
        """The submitit executor this infra submits to (None when running in process)."""
        if self.cluster is None:
            return None
        backend = get_backend(self.cluster, self._resources())
        return backend.executor()  # type: ignore[attr-defined]

    @contextlib.contextmanager
    def job_array(
        self, max_workers: int = 256, allow_empty: bool = False, allow_repeated_tasks: bool = False
    ) -> tp.Iterator[list[tp.Any]]:
        """Collects objects, then submits the uncached ones as one job array.

        ::

            with task.infra.job_array() as array:
                for lr in [0.1, 0.01]:
                    array.append(task.infra.clone_obj(lr=lr))
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
            if not isinstance(infra, TaskInfra) or infra._obj is not obj:
                raise TypeError(
                    f"job_array item #{k} ({type(obj).__name__}) has no bound TaskInfra field {name!r}"
                )
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
            state = infra.status()
            if state == "completed" and not (infra.mode == "force" and not infra._forced):
                infra._job = infra.job()
                continue
            if state == "running":
                infra._job = infra._load_job()
                continue
            if state == "failed" and infra.mode == "cached":
                infra._job = infra._load_job()
                continue
            if infra.mode == "read-only":
                raise RuntimeError(
                    f"mode='read-only' and nothing is cached in {infra.uid_folder()}"
                )
            to_run.append(infra)
        logger.info(
            "job_array: %d to run, %d cached or running (in %s)",
            len(to_run),
            len(infras) - len(to_run),
            Path(str(self.folder)) / infras[0]._method_prefix() if self.folder else "RAM",
        )
        if not to_run:
            return
        for infra in to_run:
            infra._clear_result()
        if self.cluster is None or in_job():
            for infra in to_run:
                infra._forced = True
                infra._job = LocalJob(infra._run)
            return
        self._submit_jobs(to_run, max_workers=max_workers)


def _bound_infra(obj: tp.Any, name: str) -> tp.Any:
    """The infra of ``obj`` named ``name``, bound to ``obj``."""
    infra = obj.__dict__.get(name)
    if not isinstance(infra, BaseInfra):
        raise TypeError(f"{type(obj).__name__}.{name} is not an infra (got {infra!r})")
    if infra._obj is not obj:
        if infra._obj is not None:
            infra = infra._unbound_copy()
            obj.__dict__[name] = infra
        infra._bind(obj, name)
    return infra


def submitted_jobs(infras: tp.Iterable[TaskInfra]) -> list[Job]:
    """The jobs of a set of infras (helper for job arrays)."""
    return [infra._job for infra in infras if infra._job is not None]
