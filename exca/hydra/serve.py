"""Serving a job whose outcome is known (a cached value, a recorded failure) without
Hydra's ``run_job`` per-job cost, with the same observable result.

:func:`serve_job` does, for a job whose task function does not read its config, what
Hydra's ``run_job`` does: the job's ``hydra.runtime.output_dir`` set, the output dir
created, ``hydra.job.chdir`` honoured, the job's logging configured (its log file
created), ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` written (the
same bytes), ``hydra.job.env_set`` applied around the callbacks, the ``on_job_start`` /
``on_job_end`` callbacks called with the same arguments, and a :class:`JobReturn` with
the same fields. What it saves: ``run_job`` deep-copies the job's config three times and
dumps YAML with the pure-Python emitter; here the YAML is emitted by libyaml (with
OmegaConf's own representers) and the JobReturn's ``cfg`` / ``hydra_cfg`` copies are made
only when read (from a compact snapshot of the config, so a large sweep's JobReturns stay
small).
"""

from __future__ import annotations

import copy
import os
import pickle
import typing as tp
import zlib
from pathlib import Path

import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, JobRuntime, JobStatus, configure_log, env_override
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

__all__ = ["ServedJobReturn", "can_serve", "serve_job", "to_yaml"]


def _dumper() -> type[yaml.Dumper]:
    """A libyaml dumper with OmegaConf's representers (``OmegaConf.to_yaml``'s output)."""
    from omegaconf._utils import get_omega_conf_dumper

    base = get_omega_conf_dumper()
    cdumper = getattr(yaml, "CDumper", None)
    if cdumper is None:  # PyYAML built without libyaml
        return base

    class Dumper(cdumper):  # type: ignore[misc,valid-type]
        yaml_representers = dict(base.yaml_representers)
        yaml_multi_representers = dict(base.yaml_multi_representers)

    return Dumper


_DUMPER: type[yaml.Dumper] | None = None


def to_yaml(container: tp.Any) -> str:
    """``OmegaConf.to_yaml`` of a plain container (``to_container(enum_to_str=True)``)."""
    global _DUMPER
    if _DUMPER is None:
        _DUMPER = _dumper()
    return tp.cast(
        str,
        yaml.dump(
            container,
            default_flow_style=False,
            allow_unicode=True,
            sort_keys=False,
            Dumper=_DUMPER,
        ),
    )


def can_serve(config: DictConfig) -> bool:
    """False when ``run_job`` would do something this module does not (the deprecated
    working-dir change of an app with ``version_base`` < 1.2 and no ``hydra.job.chdir``)."""
    from hydra import version

    return config.hydra.job.chdir is not None or version.base_at_least("1.2")


class ServedJobReturn(JobReturn):
    """A JobReturn whose ``cfg`` and ``hydra_cfg`` are built when first read, from a
    compressed pickled snapshot of the job's config (as ``run_job`` builds them)."""

    def __init__(self, config: DictConfig, **fields: tp.Any) -> None:
        self._snapshot: bytes | None = None
        self._cfgs: tuple[tp.Any, tp.Any] | None = None
        try:
            self._snapshot = zlib.compress(pickle.dumps(config), 1)
        except Exception:  # eg: types made on the fly (hydra-zen): copies made now
            self._cfgs = self._copies(config)
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
            assert self._snapshot is not None
            config = pickle.loads(zlib.decompress(self._snapshot))
            self._cfgs = self._copies(config)
            self._snapshot = None
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


def _write(folder: Path, name: str, container: tp.Any) -> None:
    with open(folder / name, "w", encoding="utf-8") as f:
        f.write(to_yaml(container))


def serve_job(
    hydra_context: HydraContext, config: DictConfig, task_function: TaskFunction
) -> JobReturn:
    """What ``run_job`` does (see the module docstring), for a task function that does
    not read its config (it is called with None): it returns the job's value or raises
    its error. ``config`` is the job's composed config (``hydra`` node included)."""
    callbacks = hydra_context.callbacks
    instance = HydraConfig.instance()
    previous = instance.cfg
    old_cwd = os.getcwd()
    chdir = False
    instance.cfg = config  # type: ignore[assignment]  # HydraConfig.get() is config.hydra
    try:
        output_dir = str(OmegaConf.select(config, "hydra.sweep.dir"))
        output_dir = os.path.join(output_dir, str(OmegaConf.select(config, "hydra.sweep.subdir")))
        hydra = config.hydra
        with read_write(hydra.runtime), open_dict(hydra.runtime):
            hydra.runtime.output_dir = os.path.abspath(output_dir)
        OmegaConf.set_readonly(hydra, True)  # as HydraConfig.set_config leaves it
        container = OmegaConf.to_container(config, enum_to_str=True)
        assert isinstance(container, dict)
        hydra_container = container.pop("hydra")
        overrides = list(hydra_container["overrides"]["task"])
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        chdir = bool(hydra.job.chdir)
        if chdir:
            os.chdir(output_dir)
            working_dir = output_dir
        else:
            working_dir = os.getcwd()
        configure_log(hydra.job_logging, hydra.verbose)
        if hydra.output_subdir is not None:
            folder = Path(hydra.runtime.output_dir) / str(hydra.output_subdir)
            folder.mkdir(parents=True, exist_ok=True)
            _write(folder, "config.yaml", container)
            _write(folder, "hydra.yaml", {"hydra": hydra_container})
            _write(folder, "overrides.yaml", overrides)
        ret = ServedJobReturn(config, overrides=overrides, working_dir=working_dir)
        env = tp.cast(dict[str, str], OmegaConf.to_container(hydra.job.env_set))
        with env_override(env):
            callbacks.on_job_start(config=config, task_function=task_function)
            try:
                ret.return_value = task_function(None)
                ret.status = JobStatus.COMPLETED
            except Exception as e:
                ret.return_value = e
                ret.status = JobStatus.FAILED
        ret.task_name = JobRuntime.instance().get("name")
        _flush_loggers()
        callbacks.on_job_end(config=config, job_return=ret)
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
