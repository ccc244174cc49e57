"""Serving a job whose outcome is known (a cached value, a recorded failure) without
Hydra's ``run_job`` per-job cost, with the same observable result.

:func:`serve_job` does, for a job whose task function does not read its config, what
Hydra's ``run_job`` does: the job's ``hydra.runtime.output_dir`` set, the output dir
created, ``hydra.job.chdir`` honoured, the job's logging configured (its log file
created; :mod:`exca.hydra.fast.joblog`), ``.hydra/config.yaml``, ``hydra.yaml`` and
``overrides.yaml`` written (the same bytes), ``hydra.job.env_set`` applied around the
callbacks, the ``on_job_start`` / ``on_job_end`` callbacks called with the same
arguments, and a :class:`JobReturn` with the same fields. What it saves: ``run_job`` deep-copies the job's config three times and
dumps YAML with the pure-Python emitter; here the job's config is read through its
:class:`~exca.hydra.fast.jobconfig.JobConfig` (for a job of the exca sweeper, no full config
is composed unless a callback or a JobReturn's ``cfg`` asks for it), the YAML is emitted
by libyaml (with OmegaConf's own representers; ``hydra.yaml`` from its base's template),
and the JobReturn's ``cfg`` / ``hydra_cfg`` copies are made only when read.
"""

from __future__ import annotations

import copy
import os
import typing as tp
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, env_override
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from .jobconfig import JobConfig, to_yaml
from .joblog import configure_job_log

__all__ = ["ServedJobReturn", "can_serve", "serve_job"]


def can_serve(config: DictConfig) -> bool:
    """False when ``run_job`` would do something this module does not (the deprecated
    working-dir change of an app with ``version_base`` < 1.2 and no ``hydra.job.chdir``)."""
    from hydra import version

    return config.hydra.job.chdir is not None or version.base_at_least("1.2")


class ServedJobReturn(JobReturn):
    """A JobReturn whose ``cfg`` and ``hydra_cfg`` are built when first read (as
    ``run_job`` builds them), from ``build`` (:meth:`JobConfig.snapshot`: compact, so a
    large sweep's JobReturns stay small)."""

    def __init__(self, build: tp.Callable[[], DictConfig], **fields: tp.Any) -> None:
        self._source: tp.Callable[[], DictConfig] | None = build
        self._cfgs: tuple[tp.Any, tp.Any] | None = None
        super().__init__(**fields)

    @staticmethod
    def _copies(config: DictConfig) -> tuple[tp.Any, tp.Any]:
        task_cfg = copy.deepcopy(config)
        with read_write(task_cfg), open_dict(task_cfg):
            del task_cfg["hydra"]
        hydra_cfg = OmegaConf.masked_copy(config, "hydra")
        hydra_cfg.hydra._set_parent(config)
        return task_cfg, copy.deepcopy(hydra_cfg)

    def _build(self) -> tuple[tp.Any, tp.Any]:
        if self._cfgs is None:
            assert self._source is not None
            self._cfgs = self._copies(self._source())
            self._source = None
        return self._cfgs

    @property
    def cfg(self) -> tp.Any:
        return self._build()[0]

    @cfg.setter
    def cfg(self, value: tp.Any) -> None:
        if value is not None:
            self._cfgs = (value, self._build()[1])

    @property
    def hydra_cfg(self) -> tp.Any:
        return self._build()[1]

    @hydra_cfg.setter
    def hydra_cfg(self, value: tp.Any) -> None:
        if value is not None:
            self._cfgs = (self._build()[0], value)


def _write(folder: Path, name: str, text: str) -> None:
    with open(folder / name, "w", encoding="utf-8") as f:
        f.write(text)


def _job_callbacks(hydra_context: HydraContext) -> bool:
    """Whether a callback does something at a job's start or end (then it is given the
    job's full config, as ``run_job`` gives it)."""
    from hydra.experimental.callback import Callback

    found = getattr(hydra_context.callbacks, "callbacks", None)
    if not isinstance(found, list):
        return True  # callbacks we cannot see: they get the full config
    return any(
        getattr(type(c), name, None) is not getattr(Callback, name)
        for c in found
        for name in ("on_job_start", "on_job_end")
    )


def serve_job(
    hydra_context: HydraContext, job: JobConfig, task_function: TaskFunction
) -> JobReturn:
    """What ``run_job`` does (see the module docstring), for a task function that does
    not read its config (it is called with None): it returns the job's value or raises
    its error."""
    callbacks = hydra_context.callbacks
    instance = HydraConfig.instance()
    previous = instance.cfg
    old_cwd = os.getcwd()
    chdir = False
    try:
        config = job.bind()
        instance.cfg = config  # type: ignore[assignment]  # HydraConfig.get() is config.hydra
        hydra = config.hydra
        output_dir = job.output_dir
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        chdir = bool(hydra.job.chdir)
        if chdir:
            os.chdir(output_dir)
            working_dir = output_dir
        else:
            working_dir = os.getcwd()
        configure_job_log(hydra.job_logging, hydra.verbose)
        overrides = list(job.overrides)
        if hydra.output_subdir is not None:
            folder = Path(hydra.runtime.output_dir) / str(hydra.output_subdir)
            folder.mkdir(parents=True, exist_ok=True)
            _write(
                folder, "config.yaml", to_yaml(OmegaConf.to_container(job.task(), enum_to_str=True))
            )
            _write(folder, "hydra.yaml", job.hydra_yaml())
            _write(folder, "overrides.yaml", to_yaml(overrides))
        env = tp.cast(dict[str, str], OmegaConf.to_container(hydra.job.env_set, resolve=True))
        ret = ServedJobReturn(job.snapshot(), overrides=overrides, working_dir=working_dir)
        # what callbacks are given: the job's full config, its hydra node read-only (as
        # HydraConfig.set_config leaves it); only our code reads a bound config
        full = config
        if _job_callbacks(hydra_context):
            full = job.full()
            OmegaConf.set_readonly(full.hydra, True)
            instance.cfg = full  # type: ignore[assignment]
        with env_override(env):
            callbacks.on_job_start(config=full, task_function=task_function)
            try:
                ret.return_value = task_function(None)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        callbacks.on_job_end(config=full, job_return=ret)
        return ret
    finally:
        instance.cfg = previous
        if chdir:
            os.chdir(old_cwd)


def _flush_loggers() -> None:
    import logging

    for handler in list(logging._handlers.values()):  # type: ignore[attr-defined]
        try:
            handler.flush()
        except Exception:
            pass
