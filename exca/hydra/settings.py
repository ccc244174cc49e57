"""The settings of exca's Hydra launchers: the ``hydra.launcher`` parameters, checked.

The execution fields (where and how jobs run: ``timeout_min``, ``slurm_partition``...) are
:class:`exca.backends.Execution`'s, validated by it; the others are the cache's
(:data:`CACHE_PARAMS`) and the run's (:data:`RUN_PARAMS`). The plugin's config dataclass
(``hydra_plugins.exca_launcher``) repeats them, importing nothing of exca.
"""

from __future__ import annotations

import dataclasses
import os
import typing as tp
from pathlib import Path

import pydantic
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from exca.backends import EXECUTION_FIELDS, Execution
from exca.uidfolder import MODES

from . import artifacts
from .errors import did_you_mean

__all__ = ["CACHE_PARAMS", "RUN_PARAMS", "LauncherConfigError", "Settings", "check_cache_folder"]

CACHE_PARAMS = (
    "cache_folder",
    "mode",
    "version",
    "exclude_from_uid",
    "artifacts",
    "volatile_resolvers",
    "project_root",
)
RUN_PARAMS = ("logs", "max_jobs", "wait")
# sweepers that ignore return values: wait=false needs one (others, eg Optuna, ask for
# each job's value before choosing the next jobs)
DETACHABLE_SWEEPERS = (
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
    "hydra_plugins.exca_sweeper.exca_sweeper.ExcaSweeper",
)
KNOWN_PARAMS = frozenset(CACHE_PARAMS + RUN_PARAMS + EXECUTION_FIELDS)


class LauncherConfigError(CompactHydraException, ValueError):
    """A ``hydra.launcher`` parameter is invalid."""


@dataclasses.dataclass
class Settings:
    """``hydra.launcher`` parameters, checked."""

    cache_folder: Path | None
    mode: str
    version: str
    exclude_from_uid: list[str]
    artifacts: str
    volatile_resolvers: list[str]
    project_root: str | None  # absolute; None: absolute paths stay in keys (uidrule)
    logs: str
    max_jobs: int | None
    resources: Execution
    wait: bool = True

    @classmethod
    def from_params(cls, params: tp.Mapping[str, tp.Any], cwd: str) -> Settings:
        """Reads the launcher's params (``cwd``: where relative cache folders start)."""
        plain: dict[str, tp.Any] = {
            k: OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v
            for k, v in params.items()
        }
        unknown = sorted(set(plain) - KNOWN_PARAMS)
        if unknown:
            hint = did_you_mean(unknown[0], KNOWN_PARAMS, prefix="hydra.launcher")
            raise LauncherConfigError(f"unknown exca launcher parameter(s) {unknown}: {hint}")
        mode = str(plain.get("mode", "cached"))
        if mode not in MODES:
            raise LauncherConfigError(
                f"hydra.launcher.mode={mode!r} is not one of {', '.join(MODES)}"
            )
        exclude = plain.get("exclude_from_uid") or []
        if isinstance(exclude, str) or not all(isinstance(k, str) for k in exclude):
            raise LauncherConfigError(
                f"hydra.launcher.exclude_from_uid must be a list of dotted keys, got {exclude!r}"
            )
        try:
            artifacts_mode = artifacts.check(plain.get("artifacts", "link"))
        except ValueError as e:
            raise LauncherConfigError(str(e)) from None
        volatile = plain.get("volatile_resolvers") or []
        if isinstance(volatile, str) or not all(isinstance(k, str) for k in volatile):
            raise LauncherConfigError(
                "hydra.launcher.volatile_resolvers must be a list of resolver names, "
                f"got {volatile!r}"
            )
        folder = plain.get("cache_folder")
        cache_folder = None
        if folder not in (None, ""):
            cache_folder = Path(str(folder)).expanduser()
            if not cache_folder.is_absolute():
                cache_folder = Path(cwd) / cache_folder
        root = plain.get("project_root", ".")
        if root is not None and not isinstance(root, str):
            raise LauncherConfigError(
                f"hydra.launcher.project_root must be a folder or null, got {root!r}"
            )
        max_jobs = plain.get("max_jobs")
        if max_jobs is not None and int(max_jobs) < 1:
            raise LauncherConfigError(
                f"hydra.launcher.max_jobs must be >= 1 (or null), got {max_jobs}"
            )
        version = plain.get("version", "0")
        if not isinstance(version, str | int) or "/" in str(version) or "," in str(version):
            raise LauncherConfigError(
                f"hydra.launcher.version={version!r}: expected a string without '/' or ','"
            )
        return cls(
            cache_folder=cache_folder,
            mode=mode,
            version=str(version),
            exclude_from_uid=list(exclude),
            artifacts=artifacts_mode,
            volatile_resolvers=list(volatile),
            project_root=None if root is None else os.path.abspath(os.path.join(cwd, root)),
            logs=str(plain.get("logs") or ".submitit/%j"),
            max_jobs=None if max_jobs is None else int(max_jobs),
            resources=execution_settings({k: plain[k] for k in EXECUTION_FIELDS if k in plain}),
            wait=_boolean(plain.get("wait", True), "wait"),
        )


# per-job values of Hydra's config: a cache folder made of them differs for every job
_PER_JOB = ("runtime.output_dir", "job.num", "job.id", "job.override_dirname", "sweep.subdir")


def check_cache_folder(config: DictConfig) -> None:
    """A ``cache_folder`` interpolating a per-job value is an error naming what works
    (``${hydra:runtime.cwd}`` works: see ``HydraConfigForLauncher`` in the plugin)."""
    launcher = OmegaConf.to_container(config.hydra.launcher, resolve=False)
    raw = str(launcher.get("cache_folder") or "").replace(" ", "")  # type: ignore[union-attr]
    per_job = [p for p in _PER_JOB if f"${{hydra:{p}" in raw or f"${{hydra.{p}" in raw]
    if per_job:
        raise LauncherConfigError(
            f"hydra.launcher.cache_folder={raw!r} is a folder per job (hydra.{per_job[0]} "
            "differs for every job: no job would ever be served from the cache); use "
            "hydra.launcher.cache_folder='${hydra:runtime.cwd}/cache' (next to where the "
            "app is launched), '${hydra.sweep.dir}/cache' (one per sweep dir) or an absolute path"
        )


def _boolean(value: tp.Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    raise LauncherConfigError(f"hydra.launcher.{name} must be true or false, got {value!r}")


def execution_settings(values: dict[str, tp.Any]) -> Execution:
    """The execution fields of ``hydra.launcher``, validated (errors name each key)."""
    try:
        return Execution(**values)
    except pydantic.ValidationError as e:
        errors: dict[str, list[str]] = {}
        for err in e.errors():
            errors.setdefault(str(err["loc"][0]), []).append(err["msg"])
        problems = []
        for name, messages in errors.items():
            annotation = Execution.model_fields[name].annotation
            detail = messages[0] if len(messages) == 1 else f"expected {annotation}"
            problems.append(f"hydra.launcher.{name}={values.get(name)!r}: {detail}")
        raise LauncherConfigError("; ".join(problems)) from None
