"""SubmitInfra: run a method with arguments as jobs (no caching)."""

from __future__ import annotations

import contextlib
import logging
import typing as tp

from .backends import Job, LocalJob, get_backend, in_job
from .base import BaseInfra

logger = logging.getLogger(__name__)

C = tp.TypeVar("C", bound=tp.Callable[..., tp.Any])


class _PendingJob:
    """A job submitted inside ``batch()``: usable once the batch is submitted."""

    def __init__(self) -> None:
        self._job: Job | None = None

    def _get(self) -> Job:
        if self._job is None:
            raise RuntimeError("This job is submitted when the `with infra.batch():` block exits")
        return self._job

    @property
    def job_id(self) -> str:
        return self._get().job_id

    def result(self) -> tp.Any:
        return self._get().result()

    def done(self) -> bool:
        return self._get().done()

    def exception(self) -> BaseException | None:
        return self._get().exception()

    def wait(self) -> None:
        self._get().wait()

    def cancel(self) -> None:
        self._get().cancel()


class SubmitInfra(BaseInfra):
    """Runs a method with arguments where ``cluster`` says, without caching its result.

    ``obj.method(*args)`` runs and waits; ``obj.infra.submit(*args)`` returns a
    job; submissions inside ``with obj.infra.batch():`` go out as one job array.
    """

    cluster: tp.Literal[None, "auto", "local", "slurm", "debug"] = None

    _batch: list[tuple[_PendingJob, tuple[tp.Any, ...], dict[str, tp.Any]]] | None = None

    def apply(self, method: C) -> C:
        """Decorates a method (with any arguments, or a ``@staticmethod``): calls run
        through this infra and wait for the result."""
        if isinstance(method, staticmethod):  # called on objects: obj.method(...)
            return self._decorate(method.__func__, static=True)  # type: ignore[return-value]
        return self._decorate(method)

    def _call(self, *args: tp.Any, **kwargs: tp.Any) -> tp.Any:
        if self._batch is not None:
            # as in exca 0.6.0: the result of a call inside a batch is not known yet
            raise AttributeError(
                f"{self._name()} called inside `with infra.batch():`: use "
                f"obj.{self._field_name}.submit(...) there, and job.result() after the block"
            )
        return self.submit(*args, **kwargs).result()

    def _run(self, args: tuple[tp.Any, ...], kwargs: dict[str, tp.Any]) -> tp.Any:
        spec = self.spec
        if spec.options.get("static", False):
            return spec.method(*args, **kwargs)
        return spec.method(self.obj, *args, **kwargs)

    def submit(self, *args: tp.Any, **kwargs: tp.Any) -> tp.Any:
        """Submits one call of the method; returns its job."""
        if self._batch is not None:
            pending = _PendingJob()
            self._batch.append((pending, args, kwargs))
            return pending
        if self.cluster is None or in_job():
            return LocalJob(self._run, args, kwargs)
        backend = get_backend(self.cluster, self._resources())
        with self._workdir_context():
            job = backend.submit(self._run, args, kwargs)
        logger.info("%s: submitted job %s on cluster %s", self._name(), job.job_id, self.cluster)
        return job

    @contextlib.contextmanager
    def batch(self, max_workers: int = 256) -> tp.Iterator[None]:
        """Submissions inside the block are sent together (as a job array on Slurm)."""
        if self._batch is not None:
            raise RuntimeError("SubmitInfra.batch() is not re-entrant")
        self._batch = []
        try:
            yield
            calls = self._batch
        finally:
            self._batch = None
        if not calls:
            return
        if self.cluster is None or in_job():
            for pending, args, kwargs in calls:
                pending._job = LocalJob(self._run, args, kwargs)
            return
        backend = get_backend(self.cluster, self._resources(max_workers=max_workers))
        with self._workdir_context():
            jobs = backend.submit_many(self._run, [(args, kwargs) for _, args, kwargs in calls])
        for (pending, _, _), job in zip(calls, jobs):
            pending._job = job
        logger.info(
            "%s: submitted %d jobs in one batch on cluster %s",
            self._name(),
            len(jobs),
            self.cluster,
        )
