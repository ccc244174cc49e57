"""The engine of exca's Hydra launchers (``hydra/launcher=exca_inline|exca_local|exca_slurm``).

The plugin classes live in ``hydra_plugins.exca_launcher`` (Hydra's plugin namespace, kept
import-free); they create a :class:`SweepRunner` in ``setup()`` and forward ``launch()`` to it.
Its settings are :mod:`exca.hydra.settings`'s. One ``launch()`` (one batch of a sweep),
as Hydra's basic launcher runs jobs:

1. **compose** every job's config (``hydra.job.num``/``id`` set, output dir resolved; the
   fast path, :mod:`exca.hydra.fast`, under ``hydra/sweeper=exca``) and, when it has a
   ``_target_`` naming a pydantic model, **validate** it; with caching on, compute its
   **uid** (:mod:`exca.hydra.uidrule`; exclusions by the infras' rule,
   :func:`exca.export.drop_keys`) and **uid folder**. Any bad job aborts the batch
   before anything runs, naming each bad job's overrides and error;
2. **decide** per job from ``hydra.launcher.mode``: serve from cache, run, or report a
   failure recorded before; check (hits) or write (runs) the config dumps of each uid
   folder (:class:`exca.uidfolder.UidFolder`); ``read-only`` aborts listing every
   uncached job;
3. **run or serve, then collect** (:mod:`exca.hydra.dispatch`): the uncached jobs (one
   per uid) run through an exca backend, each by a :class:`~exca.hydra.job.JobRunner`
   that records its result or failure in its uid folder; the others are served.

Cache layout: ``<cache_folder>/<module>.<ModelClass>,<version>/<uid folder>/`` for a
config with a pydantic ``_target_``, else ``<cache_folder>/<task function>,<version>/``
(named by :mod:`exca.hydra.targets`); a uid folder's files are
:mod:`exca.uidfolder`'s.
"""

from __future__ import annotations

import functools
import logging
import os
import typing as tp
from pathlib import Path

import pydantic
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobReturn, configure_log, filter_overrides, setup_globals
from hydra.errors import CompactHydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from exca import layout, sweeps
from exca.backends import Job, slurm_state
from exca.confdict import ConfDict
from exca.export import drop_keys
from exca.uidfolder import MODES, ConfigMismatchError, UidFolder
from exca.uidfolder import RESULT as RESULT  # (imported from here by earlier code)

from . import targets, uidrule, volatile
from .convert import omegaconf_to_dict
from .dispatch import Action, Detached, Dispatcher, PlannedJob
from .errors import did_you_mean
from .fast.compose import FastComposer, SweepConfigMemo
from .fast.jobconfig import FullJobConfig
from .job import JobFailedBefore, JobRunner
from .settings import (
    DETACHABLE_SWEEPERS,
    LauncherConfigError,
    Settings,
    check_cache_folder,
)

__all__ = [
    "MODES",
    "Detached",
    "JobFailedBefore",
    "JobRunner",
    "LauncherConfigError",
    "Settings",
    "SweepError",
    "SweepRunner",
]

log = logging.getLogger(__name__)


class SweepError(CompactHydraException, RuntimeError):
    """The sweep cannot start: bad jobs, read-only misses or a cache conflict (nothing ran).

    Hydra prints it as its message only (no stack trace), like its own config errors.
    """


class SweepRunner(Dispatcher):
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
        check_cache_folder(config)
        self.settings = Settings.from_params(params, cwd=str(config.hydra.runtime.cwd))
        self.name = "exca_inline" if cluster is None else f"exca_{cluster}"
        # configs that are not pydantic models are cached under the task function's name
        original = targets.task_identity(task_function)
        self.task = uidrule.task_identity_under(original, self.settings.project_root)
        self.task_folder = targets.task_folder_name(self.task)
        # the task as an older launcher named it (a script's absolute path)
        self.legacy_task = original
        self.legacy_task_folder = targets.task_folder_name(original)
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
        SweepConfigMemo.install(hydra_context)

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
        if sweeper is not None and sweeper not in DETACHABLE_SWEEPERS:
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
        jobs = self._compose(job_overrides, initial_job_idx)  # 1. configs, models, uids
        if self.settings.cache_folder is not None:
            self._decide(jobs)  # 2. serve, run, or report a failure recorded before
        self._log_plan(jobs)
        self._record_plan(sweep_dir, jobs)
        self._execute(jobs)  # 3. run or serve (exca.hydra.dispatch)
        return self._collect_returns(sweep_dir, jobs)  # 4. in the order of the sweep

    # ---- 1. compose, validate, uid ----
    def _compose(
        self, job_overrides: tp.Sequence[tp.Sequence[str]], initial_job_idx: int
    ) -> list[PlannedJob]:
        SweepConfigMemo.consume(self.hydra_context)  # the basic sweeper's configs, reused
        try:
            return self._compose_all(job_overrides, initial_job_idx)
        finally:
            SweepConfigMemo.clear(self.hydra_context)

    def _compose_all(
        self, job_overrides: tp.Sequence[tp.Sequence[str]], initial_job_idx: int
    ) -> list[PlannedJob]:
        loader = self.hydra_context.config_loader
        composer = FastComposer.of(loader)  # hydra/sweeper=exca: no full config per job
        jobs: list[PlannedJob] = []
        problems: list[str] = []
        seen_excluded: set[str] = set()
        self._locator.begin(job_overrides)
        for k, overrides in enumerate(job_overrides):
            idx = initial_job_idx + k
            job = PlannedJob(idx=idx, overrides=list(overrides))
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

    def _prepare(self, job: PlannedJob, seen_excluded: set[str]) -> None:
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
                drop_keys(out, exclude, prune=False)
                return out

            job.full_uid = full_uid
        else:
            uid_cfg = ConfDict(keyed.data) if keyed.changed else job.full.copy()
            legacy = job.full.copy() if keyed.changed else None
            prefix = layout.folder_name(self.task_folder, version=version)
            job.full_uid = lambda: uid_cfg
        # one rule with the infras (exca.export.drop_keys): a sub-config the exclusions
        # leave empty stays ({data: {}}), as exca 0.6.0 keeps it and launchers always did
        for without in (uid_cfg,) if legacy is None else (uid_cfg, legacy):
            drop_keys(without, exclude, prune=False)
        flat = uid_cfg.flat()
        job.volatile = volatile.volatile_keys(task_cfg, flat, self.settings.volatile_resolvers)
        self._volatile.add(job.idx, job.volatile, job.full.flat())
        assert self.settings.cache_folder is not None
        parent = self.settings.cache_folder / prefix
        uid = uid_cfg.to_uid()
        legacy_parent = self.settings.cache_folder / layout.folder_name(
            self.legacy_task_folder, version=version
        )
        older = uidrule.older_keys(
            parent, uid, uid_cfg, legacy, None if model is not None else legacy_parent
        )
        job.folder, job.uid, job.uid_cfg = self._locator.locate(
            parent, uid, uid_cfg, job.overrides, older
        )
        if job.uid_cfg is not uid_cfg:  # served under an older key
            job.full_uid = lambda: tp.cast(ConfDict, job.uid_cfg)

    def _claim_task_folders(self, jobs: list[PlannedJob]) -> None:
        """Checks (and marks, for new ones) the cache folders named after the task function."""
        cache = self.settings.cache_folder
        if cache is None:
            return
        folders = {job.folder.parent for job in jobs if job.folder and job.model is None}
        legacy = cache / layout.folder_name(self.legacy_task_folder, version=self.settings.version)
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
    def _decide(self, jobs: list[PlannedJob]) -> None:
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
            entry = UidFolder(job.folder)
            cached = mode != "force" and entry.has_result(legacy=False)
            job.live = None if cached or mode == "force" else self._live_job(entry)
            if cached:
                job.action = "cached"
            elif job.live is not None:
                job.action = "running"
            elif mode == "cached" and entry.has_failure_record():
                job.action = "failed-before"
            else:
                job.action = "run"
            if mode == "read-only" and not cached:
                why = " (failed before)" if entry.has_failure_record() else ""
                if job.live is not None:
                    why = f" (job {job.live.job_id} of an earlier sweep is computing it)"
                uncached.append(f"{job.name}: {job.folder}{why}")
                continue
            try:
                entry.check_configs(
                    job.uid_cfg,
                    full_uid=tp.cast(tp.Callable[[], ConfDict], job.full_uid),
                    full=lambda job=job: tp.cast(ConfDict, job.full),  # type: ignore[misc]
                    write=job.action == "run",
                )
            except ConfigMismatchError as e:
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
        self._warn_near_misses(jobs)

    def _warn_near_misses(self, jobs: list[PlannedJob]) -> None:
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

    def _live_job(self, entry: UidFolder) -> Job | None:
        """The Slurm job of an earlier sweep still computing this uid folder, if any: it
        is waited for instead of being submitted again."""
        if self.cluster not in ("slurm", "auto"):
            return None  # local processes of another sweep: no reliable state to wait on
        job = entry.load_job()
        if job is None:
            return None
        try:
            state = slurm_state(job)
        except Exception as e:  # Slurm cannot tell: submit again rather than wait forever
            log.warning("Cannot get the state of job %s (%s): submitting again", job.job_id, e)
            return None
        return tp.cast(Job, job) if state == "active" else None

    def _log_plan(self, jobs: list[PlannedJob]) -> None:
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

    def _record_plan(self, sweep_dir: Path, jobs: list[PlannedJob]) -> None:
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


def _describe(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    cause = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
    if cause is not None and str(cause).strip() and str(cause).strip() not in text:
        text += f"\n    caused by {type(cause).__name__}: {str(cause).strip()}"
    return text.replace("\n", "\n    ")
