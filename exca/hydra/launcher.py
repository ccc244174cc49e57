"""The engine of exca's Hydra launchers (``hydra/launcher=exca_inline|exca_local|exca_slurm``).

The plugin classes live in ``hydra_plugins.exca_launcher`` (Hydra's plugin namespace, kept
import-free); they create a :class:`SweepRunner` in ``setup()`` and forward ``launch()`` to it.

One ``launch()`` (one batch of a sweep):

1. **compose** every job's config (``hydra.job.num``/``id`` set, output dir resolved) and,
   when it has a ``_target_`` naming a pydantic model, **validate** it; with caching on,
   compute its **uid** and **uid folder**. Any bad job aborts the batch before anything
   runs, naming each bad job's overrides and error;
2. **decide** per job from ``hydra.launcher.mode``: serve from cache, run, or report a
   failure recorded before (``cached`` mode); check (hits) or write (runs) the config dumps
   of each uid folder (:func:`exca.layout.check_or_write_configs`); ``read-only`` aborts
   listing every uncached job;
3. **run** the uncached jobs (one per uid) through an exca backend (in process, or one
   submitit job array), serve the cached ones through Hydra's ``run_job`` while remote jobs
   run, then collect the results (a job sharing its uid with another job of the same
   sweep is served from the cache once that one finished).

In a job (:class:`JobRunner`) Hydra's ``run_job`` runs the task function; a completed
job's return value is written to the uid folder's :class:`~exca.cachedict.CacheDict`
(key ``"result"``), a failed job's traceback to ``error.txt`` (never as a result).

Cache layout (``<cache_folder>`` is ``hydra.launcher.cache_folder``)::

    <cache_folder>/<module>.<ModelClass>,<version>/<uid>/   config with a pydantic _target_
    <cache_folder>/<module>.<function>,<version>/<uid>/     any other config: the task
                                                           function's name (targets.py),
                                                           recorded in <...>,<version>/task.yaml
        uid.yaml, full-uid.yaml, config.yaml               config dumps (exca.layout)
        *-info.jsonl, data/                                the cached return value
        origin.json                                        output dir of the computing run
        error.txt                                          traceback of the last failure
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import pickle
import time
import traceback
import typing as tp
from pathlib import Path

import pydantic
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    run_job,
    setup_globals,
)
from hydra.errors import CompactHydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from exca import claims, layout, sweeps
from exca.backends import (
    EXECUTION_FIELDS,
    Execution,
    Job,
    Resources,
    get_backend,
    slurm_state,
)
from exca.cachedict import CacheDict
from exca.confdict import ConfDict

from . import artifacts, targets, uidrule, volatile
from .convert import omegaconf_to_dict
from .errors import did_you_mean
from .jobconfig import FullJobConfig, JobConfig
from .sweeper import FastComposer

__all__ = [
    "MODES",
    "Detached",
    "JobFailedBefore",
    "JobRunner",
    "LauncherConfigError",
    "SweepError",
    "SweepRunner",
]

log = logging.getLogger(__name__)

MODES = ("cached", "retry", "force", "read-only")
RESULT = "result"  # CacheDict key of the task function's return value
ERROR = layout.ERROR  # traceback of a failed job, in its uid folder
_CACHE_PARAMS = (
    "cache_folder",
    "mode",
    "version",
    "exclude_from_uid",
    "artifacts",
    "volatile_resolvers",
    "project_root",
)
_RUN_PARAMS = ("logs", "max_jobs", "wait")
# sweepers that ignore return values: wait=false needs one (others, eg Optuna, ask for
# each job's value before choosing the next jobs)
_DETACHABLE_SWEEPERS = (
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
    "hydra_plugins.exca_sweeper.exca_sweeper.ExcaSweeper",
)
_KNOWN_PARAMS = frozenset(_CACHE_PARAMS + _RUN_PARAMS + EXECUTION_FIELDS)


class SweepError(CompactHydraException, RuntimeError):
    """The sweep cannot start: bad jobs, read-only misses or a cache conflict (nothing ran).

    Hydra prints it as its message only (no stack trace), like its own config errors.
    """


class LauncherConfigError(CompactHydraException, ValueError):
    """A ``hydra.launcher`` parameter is invalid."""


class JobFailedBefore(RuntimeError):
    """In ``cached`` mode, a job whose last run failed is not rerun: this error carries
    the recorded traceback (``hydra.launcher.mode=retry`` reruns failed jobs)."""


class JobCrashed(RuntimeError):
    """A job process ended without returning (killed, timed out, unpicklable result...)."""


@dataclasses.dataclass(frozen=True)
class Detached:
    """The return value of a job left running by ``hydra.launcher.wait=false``: its result
    goes to the cache (``folder``), where the next launch of the sweep collects it."""

    job_id: str | None
    folder: Path | None

    def __str__(self) -> str:
        return f"<job {self.job_id} still running; its result will be cached in {self.folder}>"


# # # # # settings # # # # #


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
        unknown = sorted(set(plain) - _KNOWN_PARAMS)
        if unknown:
            hint = did_you_mean(unknown[0], _KNOWN_PARAMS, prefix="hydra.launcher")
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
            resources=_execution({k: plain[k] for k in EXECUTION_FIELDS if k in plain}),
            wait=_boolean(plain.get("wait", True), "wait"),
        )


# per-job values of Hydra's config: a cache folder made of them differs for every job
_PER_JOB = ("runtime.output_dir", "job.num", "job.id", "job.override_dirname", "sweep.subdir")


def _check_cache_folder(config: DictConfig) -> None:
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


def _execution(values: dict[str, tp.Any]) -> Execution:
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


# # # # # the job side # # # # #


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
    record: str | None = None  # the sweep dir whose exca-sweep.jsonl gets start/end events
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
        path = Path(folder)
        present = functools.partial(CacheDict(path).__contains__, RESULT)
        with claims.once(path, RESULT, present=present, what=f"job {folder}") as claimed:
            if claimed:
                return self._run(config, folder, remote, rank, job_id, self.task_function)
        # stored by the other sweep's job: served as a cache hit
        return self._run(config, folder, remote, rank, job_id, _CachedValue(path))

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
        if self.record is not None and rank == 0:
            event = {"event": "start", "launch": self.launch, "idx": idx, "job_id": job_id}
            sweeps.append(self.record, event)
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
            _record(ret, Path(folder), tb)
        if self.record is not None and rank == 0:
            end = _end_event(self.launch, idx, ret)
            sweeps.append(self.record, {**end, "job_id": job_id or None})
        if remote and error is not None:
            _add_note(error, f"Traceback in job {job_id} (pid {os.getpid()}):\n{tb.rstrip()}")
            try:
                pickle.dumps(error)
            except Exception:
                ret.return_value = JobCrashed(f"{type(error).__name__}: {error}\n{tb}")
        return ret


def _end_event(launch: str, idx: int, ret: JobReturn) -> dict[str, tp.Any]:
    """The sweep record's ``end`` event of a job (see :mod:`exca.sweeps`)."""
    event: dict[str, tp.Any] = {"event": "end", "launch": launch, "idx": idx}
    if ret.status == JobStatus.COMPLETED:
        event["status"] = "completed"
        value = sweeps.numeric_value(ret._return_value)
        if value is not None:
            event["value"] = value
    else:
        event["status"] = "failed"
        event["error"] = _short(ret._return_value)
    return event


def _add_note(error: BaseException, note: str) -> None:
    if note not in getattr(error, "__notes__", ()):
        error.add_note(note)


def _record(ret: JobReturn, folder: Path, tb: str) -> None:
    """Caches a completed job's value, or records a failed job's traceback."""
    if ret.status == JobStatus.COMPLETED:
        cd: CacheDict[tp.Any] = CacheDict(folder)
        hydra_cfg = ret.hydra_cfg
        if hydra_cfg is not None:  # where its files are, for the jobs served from the cache
            artifacts.record_origin(folder, OmegaConf.select(hydra_cfg, "hydra.runtime.output_dir"))
        try:
            with cd.writer() as writer:
                if RESULT not in cd:  # else: written meanwhile by a job with the same uid
                    writer[RESULT] = ret._return_value
        except Exception as e:
            log.warning(
                "The result of this job could not be cached in %s (%s: %s): the job will "
                "run again in the next sweep",
                folder,
                type(e).__name__,
                e,
            )
            return
        (folder / ERROR).unlink(missing_ok=True)
    elif ret.status == JobStatus.FAILED:
        try:
            layout.atomic_write_text(folder / ERROR, tb)
        except OSError as e:
            log.warning("Could not record the failure in %s: %s", folder, e)


@dataclasses.dataclass
class _CachedValue:
    """Task function of a cache hit: returns the cached value (and brings the files of the
    original run into the job's output dir, see :mod:`exca.hydra.artifacts`)."""

    folder: Path
    artifacts: str = "link"
    cache: CacheDict[tp.Any] | None = None  # the folder's, when just read (else opened)

    def __call__(self, cfg: DictConfig) -> tp.Any:
        cache = CacheDict(self.folder) if self.cache is None else self.cache
        value: tp.Any = cache[RESULT]
        artifacts.bring(self.folder, HydraConfig.get().runtime.output_dir, self.artifacts)
        return value


@dataclasses.dataclass
class _Failure:
    """Task function of a job that is reported failed without running."""

    error: BaseException

    def __call__(self, cfg: DictConfig) -> tp.Any:
        raise self.error


# # # # # the launcher side # # # # #

Action = tp.Literal["run", "cached", "running", "failed-before", "duplicate"]


@dataclasses.dataclass
class _Job:
    idx: int
    overrides: list[str]
    spec: JobConfig | None = None  # None: the job did not compose
    model: type[pydantic.BaseModel] | None = None
    uid: str = ""
    folder: Path | None = None
    uid_cfg: ConfDict | None = None
    full_uid: tp.Callable[[], ConfDict] | None = None
    full: ConfDict | None = None
    older: list[tuple[Path, str, ConfDict]] = dataclasses.field(default_factory=list)
    volatile: dict[str, str] = dataclasses.field(default_factory=dict)  # key -> raw value
    action: Action = "run"
    first: int = -1  # for duplicates: index (in the batch) of the job computing the uid
    live: Job | None = None  # "running": the Slurm job of an earlier sweep computing it
    cache: CacheDict[tp.Any] | None = None  # "cached": its uid folder's, read by _decide
    ret: JobReturn | None = None
    job_id: str | None = None  # of the submitted job

    @property
    def name(self) -> str:
        overrides = " ".join(filter_overrides(self.overrides))
        return f"#{self.idx} ({overrides or 'no override'})"


class SweepRunner:
    """What an exca launcher does (see the module docstring); one per ``setup()``."""

    def __init__(
        self,
        *,
        cluster: str | None,
        params: tp.Mapping[str, tp.Any],
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        self.cluster = cluster
        self.hydra_context = hydra_context
        self.task_function = task_function
        self.config = config
        _check_cache_folder(config)
        self.settings = Settings.from_params(params, cwd=str(config.hydra.runtime.cwd))
        self.name = "exca_inline" if cluster is None else f"exca_{cluster}"
        # configs that are not pydantic models are cached under the task function's name
        original = targets.task_identity(task_function)
        self.task = uidrule.task_identity_under(original, self.settings.project_root)
        self.task_folder = targets.task_folder_name(self.task)
        # the folder an older launcher named this task by (a script's absolute path)
        self.legacy_task = original
        self._locator = uidrule.Locator()  # where each job's entry is
        self._volatile = volatile.Report()
        self._warned: set[str] = set()  # warnings logged once per sweep
        res = self.settings.resources
        tasks = (res.nodes or 1) * (res.tasks_per_node or 1)
        if cluster == "slurm" and tasks > 1 and not res.slurm_use_srun:
            raise LauncherConfigError(
                f"hydra.launcher: {tasks} tasks per job (nodes x tasks_per_node) need "
                "hydra.launcher.slurm_use_srun=true (without srun only one task starts)"
            )
        if not self.settings.wait:
            self._check_detached()
        self.token = sweeps.new_token()
        _SweepConfigMemo.install(hydra_context)

    def _check_detached(self) -> None:
        """``wait=false`` needs a cluster, a cache to collect from, and a sweeper that
        does not need the return values."""
        where = f"hydra.launcher.wait=false ({self.name})"
        if self.cluster not in ("local", "slurm"):
            raise LauncherConfigError(
                f"{where}: only exca_slurm and exca_local can leave jobs running"
            )
        if self.settings.cache_folder is None:
            raise LauncherConfigError(
                f"{where} needs hydra.launcher.cache_folder: the results of detached jobs "
                "are collected from the cache by the next launch"
            )
        if self.cluster == "local" and self.settings.max_jobs is not None:
            raise LauncherConfigError(
                f"{where}: hydra.launcher.max_jobs on exca_local needs wait=true (the "
                "launcher starts the jobs max_jobs at a time)"
            )
        sweeper = OmegaConf.select(self.config, "hydra.sweeper._target_", default=None)
        if sweeper is not None and sweeper not in _DETACHABLE_SWEEPERS:
            raise LauncherConfigError(
                f"{where}: the sweeper {sweeper} needs the jobs' return values to choose the "
                "next jobs, which detached jobs do not give back; use hydra.launcher.wait=true "
                "(the default), Hydra's basic sweeper or hydra/sweeper=exca"
            )

    # ---- launch ----
    def launch(
        self, job_overrides: tp.Sequence[tp.Sequence[str]], initial_job_idx: int
    ) -> list[JobReturn]:
        """Runs a batch of jobs; returns their JobReturns in the order of ``job_overrides``."""
        setup_globals()
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep and self.config.hydra.sweep.mode is not None:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        _SweepConfigMemo.consume(self.hydra_context)
        try:
            jobs = self._compose(job_overrides, initial_job_idx)
        finally:
            _SweepConfigMemo.clear(self.hydra_context)
        if self.settings.cache_folder is not None:
            self._decide(jobs)
            self._warn_near_misses(jobs)
        self._log_plan(jobs)
        self._record_plan(sweep_dir, jobs)
        self._execute(jobs)
        for job in jobs:
            if job.ret is not None and not isinstance(job.ret._return_value, Detached):
                end = _end_event(self.token, job.idx, job.ret)
                sweeps.append(sweep_dir, {**end, "by": "launcher"})
        failed = [
            job for job in jobs if job.ret is not None and job.ret.status != JobStatus.COMPLETED
        ]
        if failed:
            lines = [f"{job.name}: {_short(job.ret._return_value)}" for job in failed]  # type: ignore[union-attr]
            log.error(
                "[%s] %d of %d jobs failed:\n\t%s",
                self.name,
                len(failed),
                len(jobs),
                "\n\t".join(lines),
            )
        return [tp.cast(JobReturn, job.ret) for job in jobs]

    # ---- 1. compose, validate, uid ----
    def _compose(
        self, job_overrides: tp.Sequence[tp.Sequence[str]], initial_job_idx: int
    ) -> list[_Job]:
        loader = self.hydra_context.config_loader
        composer = FastComposer.of(loader)  # hydra/sweeper=exca: no full config per job
        jobs: list[_Job] = []
        problems: list[str] = []
        seen_excluded: set[str] = set()
        self._locator.begin(job_overrides)
        for k, overrides in enumerate(job_overrides):
            idx = initial_job_idx + k
            job = _Job(idx=idx, overrides=list(overrides))
            try:
                if composer is not None:
                    spec = composer.job(self.config, list(overrides))
                else:
                    config = loader.load_sweep_config(self.config, list(overrides))
                    spec = FullJobConfig(config, list(overrides))
                spec.idx = idx
                job.spec = spec
                self._prepare(job, seen_excluded)
            except Exception as e:
                problems.append(f"{job.name}: {_describe(e)}")
            jobs.append(job)
        if problems:
            raise SweepError(
                f"[{self.name}] {len(problems)} of {len(jobs)} jobs are invalid; nothing was run:\n"
                + "\n".join(f"  - {p}" for p in problems)
            )
        self._claim_task_folders(jobs)
        warning = self._volatile.message()
        if warning:
            log.warning(f"[{self.name}] {warning}")
        missing = [k for k in self.settings.exclude_from_uid if k not in seen_excluded]
        if missing and jobs and self.settings.cache_folder is not None:
            full = jobs[0].full
            keys = list(full.flat()) if full is not None else []
            hints = [f"{k!r} ({did_you_mean(k.rsplit('.', 1)[-1], keys)})" for k in missing]
            raise SweepError(
                f"[{self.name}] hydra.launcher.exclude_from_uid lists keys that no job's "
                f"config has: {', '.join(hints)}"
            )
        return jobs

    def _prepare(self, job: _Job, seen_excluded: set[str]) -> None:
        """Validates a job's config into its model (if any) and computes its uid folder."""
        assert job.spec is not None
        task_cfg = job.spec.task()
        caching = self.settings.cache_folder is not None
        target = targets.Target(path=None)
        if "_target_" in task_cfg:
            target = targets.classify(task_cfg.get("_target_"), task_cfg.get("_partial_", False))
        if target.problem:
            self._warn_once(
                f"_target_={target.path!r} cannot be imported here ({target.problem}): the "
                "config is not validated and goes to the task function as is"
            )
        if not caching and not target.validates:
            return  # nothing to check: the config goes to the task function as is
        cfg = job.spec.bind()  # its hydra node: output dir resolved, job.num/id set
        hydra_config = HydraConfig.instance()
        previous = hydra_config.cfg
        # for ${hydra:...} interpolations (the resolver reads HydraConfig.get(), that is
        # cfg.hydra); set_config() would also make a masked copy run_job makes anyway
        hydra_config.cfg = cfg  # type: ignore[assignment]
        try:
            model: pydantic.BaseModel | None = None
            if target.model is not None and target.partial:  # completed by the app
                targets.validate_partial(omegaconf_to_dict(task_cfg, resolve=True), target.model)
            elif target.model is not None:
                from .validate import to_model

                job.model = target.model
                model = to_model(task_cfg, job.model)
            if not caching:
                return
            keyed = uidrule.key_config(
                task_cfg,
                cfg,
                functools.partial(omegaconf_to_dict, resolve=True),
                self.settings.project_root,
            )
            job.full = ConfDict(keyed.real)
        finally:
            hydra_config.cfg = previous
        exclude = self.settings.exclude_from_uid
        seen_excluded.update(k for k in exclude if k in job.full)
        version = self.settings.version
        if model is not None:
            assert job.model is not None
            uid_cfg = ConfDict.from_model(model, uid=True, exclude_defaults=True)
            legacy = uid_cfg.copy() if keyed.changed else None
            uidrule.key_model_uid(uid_cfg, keyed)
            prefix = layout.folder_name(
                job.model.__module__, job.model.__qualname__, version=version
            )
            bound = model

            def full_uid() -> ConfDict:
                out = ConfDict.from_model(bound, uid=True, exclude_defaults=False)
                uidrule.key_model_uid(out, keyed)
                for key in exclude:
                    out.pop(key, None)
                return out

            job.full_uid = full_uid
        else:
            uid_cfg = ConfDict(keyed.data) if keyed.changed else job.full.copy()
            legacy = job.full.copy() if keyed.changed else None
            prefix = layout.folder_name(self.task_folder, version=version)
            job.full_uid = lambda: uid_cfg
        for key in exclude:
            uid_cfg.pop(key, None)
            if legacy is not None:
                legacy.pop(key, None)
        flat = uid_cfg.flat()
        job.volatile = volatile.volatile_keys(task_cfg, flat, self.settings.volatile_resolvers)
        self._volatile.add(job.idx, job.volatile, job.full.flat())
        assert self.settings.cache_folder is not None
        parent = self.settings.cache_folder / prefix
        uid = uid_cfg.to_uid()
        older = uidrule.older_keys(
            parent,
            uid,
            uid_cfg,
            legacy,
            None
            if model is not None
            else self.settings.cache_folder
            / layout.folder_name(targets.task_folder_name(self.legacy_task), version=version),
        )
        job.folder, job.uid, job.uid_cfg = self._locator.locate(
            parent, uid, uid_cfg, job.overrides, older
        )
        if job.uid_cfg is not uid_cfg:  # served under an older key
            job.full_uid = lambda: tp.cast(ConfDict, job.uid_cfg)

    def _claim_task_folders(self, jobs: list[_Job]) -> None:
        """Checks (and marks, for new ones) the cache folders named after the task function."""
        cache = self.settings.cache_folder
        if cache is None:
            return
        folders = {job.folder.parent for job in jobs if job.folder and job.model is None}
        legacy = cache / layout.folder_name(
            targets.task_folder_name(self.legacy_task), version=self.settings.version
        )
        for folder in sorted(folders):
            older = folder == legacy and self.legacy_task != self.task  # served, not written
            try:
                targets.claim_task_folder(
                    folder,
                    self.legacy_task if older else self.task,
                    write=self.settings.mode != "read-only" and not older,
                )
            except ValueError as e:
                raise SweepError(f"[{self.name}] {e}") from None
        job_name = str(self.config.hydra.job.name).replace(os.sep, "_")
        old = cache / layout.folder_name(job_name, version=self.settings.version)
        if folders and old.is_dir() and not (old / targets.TASK_FILE).exists():
            self._warn_once(
                f"{old} (a cache named after hydra.job.name, by an older exca launcher) is "
                f"not reused: results of {self.task.describe()} now go to "
                f"{cache / layout.folder_name(self.task_folder, version=self.settings.version)}"
            )

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            log.warning(f"[{self.name}] {message}")

    # ---- 2. decide ----
    def _decide(self, jobs: list[_Job]) -> None:
        mode = self.settings.mode
        first_of: dict[Path, int] = {}
        uncached: list[str] = []
        problems: list[str] = []
        for k, job in enumerate(jobs):
            assert job.folder is not None and job.uid_cfg is not None
            if job.folder in first_of:
                job.action, job.first = "duplicate", first_of[job.folder]
                continue
            first_of[job.folder] = k
            cache: CacheDict[tp.Any] = CacheDict(job.folder)
            cached = mode != "force" and RESULT in cache
            job.live = None if cached or mode == "force" else self._live_job(job.folder)
            if cached:
                job.action, job.cache = "cached", cache
            elif job.live is not None:
                job.action = "running"
            elif mode == "cached" and (job.folder / ERROR).exists():
                job.action = "failed-before"
            else:
                job.action = "run"
            if mode == "read-only" and not cached:
                why = " (failed before)" if (job.folder / ERROR).exists() else ""
                if job.live is not None:
                    why = f" (job {job.live.job_id} of an earlier sweep is computing it)"
                uncached.append(f"{job.name}: {job.folder}{why}")
                continue
            try:
                layout.check_or_write_configs(
                    job.folder,
                    job.uid_cfg,
                    full_uid=tp.cast(tp.Callable[[], ConfDict], job.full_uid),
                    full=lambda job=job: tp.cast(ConfDict, job.full),  # type: ignore[misc]
                    write=job.action == "run",
                )
            except layout.ConfigMismatchError as e:
                problems.append(f"{job.name}: {e}")
        if uncached:
            raise SweepError(
                f"[{self.name}] hydra.launcher.mode=read-only but {len(uncached)} of "
                f"{len(jobs)} jobs have no cached result; nothing was run:\n"
                + "\n".join(f"  - {line}" for line in uncached)
            )
        if problems:
            raise SweepError(
                f"[{self.name}] {len(problems)} jobs conflict with the cache; nothing was run "
                "(set another hydra.launcher.version, or clear the folders):\n"
                + "\n".join(f"  - {p}" for p in problems)
            )

    def _warn_near_misses(self, jobs: list[_Job]) -> None:
        """Jobs to run that differ from a cached entry only in volatile keys."""
        n, keys = volatile.near_misses(
            (tp.cast(ConfDict, job.uid_cfg).flat(), job.volatile, self._locator.entries(p))
            for job in jobs
            if job.action == "run" and job.volatile and (p := tp.cast(Path, job.folder).parent)
        )
        if n:
            log.warning(
                f"[{self.name}] {n} jobs differ from cached entries only in: {', '.join(keys)} "
                "(values that change from run to run: see the warning above)"
            )

    def _live_job(self, folder: Path) -> Job | None:
        """The Slurm job of an earlier sweep still computing this uid folder, if any: it
        is waited for instead of being submitted again."""
        if self.cluster not in ("slurm", "auto"):
            return None  # local processes of another sweep: no reliable state to wait on
        job = layout.load_job(folder)
        if job is None:
            return None
        try:
            state = slurm_state(job)
        except Exception as e:  # Slurm cannot tell: submit again rather than wait forever
            log.warning("Cannot get the state of job %s (%s): submitting again", job.job_id, e)
            return None
        return tp.cast(Job, job) if state == "active" else None

    def _log_plan(self, jobs: list[_Job]) -> None:
        counts = {a: sum(job.action == a for job in jobs) for a in tp.get_args(Action)}
        to_run = counts["run"]
        if self.settings.cache_folder is None:
            log.info(f"[{self.name}] launching {len(jobs)} jobs (caching off)")
            for job in jobs:
                log.info(f"\t{job.name}")
            return
        text = f"[{self.name}] {to_run} to run, {counts['cached']} cached"
        if counts["running"]:
            text += f", {counts['running']} still running from an earlier sweep (waited for)"
        if counts["failed-before"]:
            text += f", {counts['failed-before']} failed before (mode=retry reruns them)"
        if counts["duplicate"]:
            text += f", {counts['duplicate']} sharing a uid with another job"
        log.info(f"{text} (mode={self.settings.mode}, cache: {self.settings.cache_folder})")
        for job in jobs:
            label = {"failed-before": "failed before", "duplicate": "same uid"}.get(
                job.action, job.action
            )
            where = f"{job.folder.parent.name}/{job.folder.name}" if job.folder else ""
            log.info(f"\t{job.name}: {label:<13} {where}")

    def _record_plan(self, sweep_dir: Path, jobs: list[_Job]) -> None:
        """The launch and each job's action in the sweep record (:mod:`exca.sweeps`)."""
        settings = self.settings
        cache = None if settings.cache_folder is None else str(settings.cache_folder)
        launch = {"launcher": self.name, "n": len(jobs), "wait": settings.wait}
        sweeps.append(
            sweep_dir,
            {"event": "launch", "launch": self.token, **launch, "cache_folder": cache},
        )
        for job in jobs:
            event = {
                "event": "job",
                "launch": self.token,
                "idx": job.idx,
                "overrides": filter_overrides(job.overrides),
                "action": job.action,
                "folder": None if job.folder is None else str(job.folder),
                "job_id": None if job.live is None else str(job.live.job_id),
            }
            sweeps.append(sweep_dir, event)

    # ---- 3. run ----
    def _runner(self, remote: bool, task: TaskFunction | None = None) -> JobRunner:
        state = Singleton.get_state() if remote else None
        record = os.path.abspath(str(self.config.hydra.sweep.dir))  # jobs may chdir
        task = self.task_function if task is None else task
        return JobRunner(self.hydra_context, task, state, record=record, launch=self.token)

    def _execute(self, jobs: list[_Job]) -> None:
        to_run = [job for job in jobs if job.action == "run"]
        if self.settings.mode == "force" or self.settings.mode == "retry":
            for job in to_run:
                if job.folder is not None:
                    _clear(job.folder)
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

    def _detach(self, jobs: list[_Job], to_run: list[_Job], served: list[_Job]) -> None:
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

    def _detached_return(self, job: _Job, job_id: str | None) -> JobReturn:
        ret = self._failed_return(job, RuntimeError())
        ret.status = JobStatus.COMPLETED
        ret.return_value = Detached(job_id=job_id, folder=job.folder)
        return ret

    def _job_args(self, job: _Job) -> tuple[tp.Any, ...]:
        assert job.spec is not None
        return (job.spec.full(), None if job.folder is None else str(job.folder))

    def _resources(self) -> Resources:
        settings = self.settings
        return Resources(
            folder=Path(settings.logs),
            max_workers=settings.max_jobs,
            **dict(settings.resources),
        )

    def _submit(self, runner: JobRunner, jobs: list[_Job]) -> list[Job]:
        if not jobs:
            return []
        backend = get_backend(self.cluster, self._resources())
        submitted = backend.submit_many(runner, [self._job_args(job) for job in jobs])
        for job, sub in zip(jobs, submitted, strict=True):
            job.job_id = str(sub.job_id)
            event = {"event": "submitted", "launch": self.token, "idx": job.idx}
            sweeps.append(str(self.config.hydra.sweep.dir), {**event, "job_id": job.job_id})
            if job.folder is not None:  # a sweep launched again meanwhile waits for it
                layout.save_job(job.folder, sub)
        ids = ", ".join(str(s.job_id) for s in submitted[:5]) + (", ..." if len(jobs) > 5 else "")
        log.info(
            f"[{self.name}] submitted {len(submitted)} jobs ({ids}); logs in {self.settings.logs}"
        )
        return submitted

    def _submit_windowed(self, runner: JobRunner, jobs: list[_Job]) -> list[Job]:
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

    def _collect(self, jobs: list[_Job], submitted: list[Job]) -> None:
        for job, sub in zip(jobs, submitted, strict=True):
            try:
                results = getattr(sub, "results", None)
                # several tasks (nodes/tasks_per_node): one JobReturn per task, rank 0's first
                job.ret = results()[0] if results is not None else sub.result()
            except Exception as e:
                error = JobCrashed(f"job {sub.job_id} did not return: {type(e).__name__}: {e}")
                error.__cause__ = e
                if job.folder is not None:
                    _record_crash(job.folder, error)
                job.ret = self._failed_return(job, error)

    def _wait_running(self, jobs: list[_Job]) -> None:
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
            if RESULT in CacheDict(job.folder):
                job.action = "cached"
            elif (job.folder / ERROR).exists():
                job.action = "failed-before"
            else:
                error = JobCrashed(
                    f"job {job.live.job_id} (of an earlier sweep) did not return: {problem}"
                )
                _record_crash(job.folder, error)
                job.ret = self._failed_return(job, error)
                continue
            self._serve([job])

    def _serve(self, jobs: list[_Job]) -> None:
        """Cached jobs and failures recorded before, through Hydra's run_job."""
        for job in jobs:
            assert job.folder is not None
            task: TaskFunction
            if job.action == "cached":
                task = _CachedValue(job.folder, self.settings.artifacts, job.cache)
                job.cache = None
            else:
                text = (job.folder / ERROR).read_text(encoding="utf8")
                error = JobFailedBefore(
                    f"{job.name} failed in an earlier sweep and is not rerun in mode=cached "
                    f"(hydra.launcher.mode=retry reruns it); recorded in {job.folder / ERROR}:\n"
                    f"{text.rstrip()}"
                )
                task = _Failure(error)
            job.ret = self._serve_one(job, task)

    def _serve_duplicates(self, jobs: list[_Job]) -> None:
        for job in jobs:
            if job.action != "duplicate":
                continue
            first = jobs[job.first]
            assert job.folder is not None and first.ret is not None
            if first.ret.status == JobStatus.COMPLETED and RESULT in CacheDict(job.folder):
                task: TaskFunction = _CachedValue(job.folder, self.settings.artifacts)
            else:
                task = _Failure(
                    RuntimeError(
                        f"{job.name} shares its uid folder {job.folder} with {first.name}, "
                        f"which did not produce a cached result: {_short(first.ret._return_value)}"
                    )
                )
            job.ret = self._serve_one(job, task)

    def _serve_one(self, job: _Job, task: TaskFunction) -> JobReturn:
        """A job whose outcome is known, without run_job's per-job cost (exca.hydra.serve)."""
        from .serve import can_serve, serve_job

        assert job.spec is not None
        if can_serve(job.spec.bind()):
            return serve_job(self.hydra_context, job.spec, task)
        return JobRunner(self.hydra_context, task)(job.spec.full(), None)

    def _failed_return(self, job: _Job, error: BaseException) -> JobReturn:
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


def _record_crash(folder: Path, error: BaseException) -> None:
    if RESULT in CacheDict(folder):
        return  # the task completed and was cached (eg: a later task of the job failed)
    try:
        layout.atomic_write_text(folder / ERROR, "".join(traceback.format_exception(error)))
    except OSError:
        pass


def _clear(folder: Path) -> None:
    """Removes a uid folder's result and failure record before a rerun (modes force/retry)."""
    (folder / ERROR).unlink(missing_ok=True)
    cd: CacheDict[tp.Any] = CacheDict(folder)
    if RESULT in cd:
        with cd.writer():
            del cd[RESULT]


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None and str(cause).strip() and str(cause).strip() not in text:
        text += f"\n    caused by {type(cause).__name__}: {str(cause).strip()}"
    return text.replace("\n", "\n    ")


def _short(error: tp.Any) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0] if lines else ''}"


class _SweepConfigMemo:
    """Reuses, in ``launch()``, the job configs Hydra's basic sweeper just composed.

    Hydra's ``BasicSweeper`` composes every job of a batch to validate it, throws the
    configs away, and calls the launcher, which composes each job again: composition is
    most of the time a sweep of short jobs takes. This wraps the config loader's
    ``load_sweep_config`` so that each config composed for given (master config,
    overrides) is handed out once more, unchanged (the validation only reads it), to
    the launcher; the memo is emptied at the end of each ``launch()``. Any other call
    composes as usual.
    """

    def __init__(self, original: tp.Callable[[DictConfig, list[str]], DictConfig]) -> None:
        self.original = original
        self.configs: dict[tuple[int, tuple[str, ...]], DictConfig] = {}
        self.consuming = False

    def __call__(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = (id(master_config), tuple(sweep_overrides))
        if self.consuming:
            cfg = self.configs.pop(key, None)
            if cfg is not None:
                return cfg
            return self.original(master_config, sweep_overrides)
        cfg = self.original(master_config, sweep_overrides)
        self.configs[key] = cfg
        return cfg

    def __getstate__(self) -> dict[str, tp.Any]:
        return {"original": self.original, "configs": {}, "consuming": False}

    @classmethod
    def install(cls, hydra_context: HydraContext) -> None:
        loader = hydra_context.config_loader
        if isinstance(loader.__dict__.get("load_sweep_config"), cls):
            return
        try:
            loader.load_sweep_config = cls(loader.load_sweep_config)  # type: ignore[method-assign]
        except AttributeError:  # a loader which does not allow it: no memo
            pass

    @classmethod
    def consume(cls, hydra_context: HydraContext) -> None:
        memo = hydra_context.config_loader.__dict__.get("load_sweep_config")
        if isinstance(memo, cls):
            memo.consuming = True

    @classmethod
    def clear(cls, hydra_context: HydraContext) -> None:
        memo = hydra_context.config_loader.__dict__.get("load_sweep_config")
        if isinstance(memo, cls):
            memo.configs.clear()
            memo.consuming = False
