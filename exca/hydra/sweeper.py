"""The engine of ``hydra/sweeper=exca`` (plugin class in ``hydra_plugins.exca_sweeper``).

Two pieces:

- :class:`FastComposer` replaces the config loader's ``load_sweep_config`` for the sweep
  (the sweeper validates each batch with it, and every launcher composes its jobs with
  it, Hydra's basic launcher included). A job's overrides are parsed with Hydra's override
  parser and split as Hydra's defaults list splits them: config-group overrides, and value
  overrides. Hydra's full composition runs once per distinct list of config-group
  overrides (the *base*); a job's config is a copy of its base with the job's value
  overrides applied by Hydra's own override application, then the per-job ``hydra``
  fields that depend on the overrides (``overrides.task``, ``job.override_dirname``) set as
  Hydra sets them. A job it cannot prove equivalent (a ``hydra.*`` override, a sweep
  override, an override the fast path rejects, ...) is composed by Hydra in full, so
  errors are Hydra's own.
- :class:`SweepEngine` expands the sweep as Hydra's basic sweeper does (choice lists,
  ``range()``, ``glob()``, ``hydra.sweeper.params`` with the command line winning,
  ``max_batch_size``) and streams the jobs to the launcher batch by batch: the job lists
  are generated lazily, never all held at once.
"""

from __future__ import annotations

import collections
import copy
import itertools
import logging
import pickle
import time
import typing as tp
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

__all__ = ["FastComposer", "SweepEngine"]

log = logging.getLogger(__name__)

STREAM_BATCH = 500
"""Jobs handed to the launcher at a time when ``max_batch_size`` is unset (memory stays
flat however large the sweep; failures are raised after the last batch, as with one)."""
_MAX_BASES = 64  # composed bases kept (LRU): one per combination of config-group choices

LoadSweepConfig = tp.Callable[[DictConfig, list[str]], DictConfig]


class _Plan(tp.NamedTuple):
    parsed: list[Override]
    groups: tuple[str, ...]  # the config-group overrides, in order (the base's key)
    values: list[Override]  # the value overrides, in order


class FastComposer:
    """``load_sweep_config`` composing once per combination of config-group choices.

    ``original`` is the loader's own ``load_sweep_config``; ``stats`` counts the jobs
    composed by each path (``fast``, ``full``).
    """

    def __init__(self, loader: tp.Any, original: LoadSweepConfig) -> None:
        self.loader = loader
        self.original = original
        self.stats = {"fast": 0, "full": 0}
        self._parser: OverridesParser | None = None
        self._group_exists: dict[int, tp.Callable[[str], bool] | None] = {}
        # the composed bases, pickled: unpickling is several times faster than deepcopy
        self._bases: collections.OrderedDict[tuple[int, tuple[str, ...]], bytes | DictConfig] = (
            collections.OrderedDict()
        )

    def __getstate__(self) -> dict[str, tp.Any]:  # pickled with the loader to remote jobs
        return {"loader": self.loader, "original": self.original}

    def __setstate__(self, state: dict[str, tp.Any]) -> None:
        self.__init__(state["loader"], state["original"])  # type: ignore[misc]

    @classmethod
    def install(cls, hydra_context: HydraContext) -> FastComposer | None:
        """Makes ``hydra_context.config_loader.load_sweep_config`` fast (idempotent)."""
        loader = hydra_context.config_loader
        current = loader.__dict__.get("load_sweep_config")
        if isinstance(current, cls):
            return current
        composer = cls(loader, loader.load_sweep_config)
        try:
            loader.load_sweep_config = composer  # type: ignore[method-assign]
        except AttributeError:  # a loader that does not allow it: Hydra composes
            return None
        return composer

    def __call__(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        plan = self._plan(master_config, list(sweep_overrides))
        if plan is not None:
            try:
                cfg = self._compose(master_config, plan)
            except Exception as e:  # Hydra composes it (and raises its own error if any)
                log.debug("fast composition of %s failed (%r): full composition", plan, e)
            else:
                self.stats["fast"] += 1
                return cfg
        self.stats["full"] += 1
        return self.original(master_config, list(sweep_overrides))

    def _plan(self, master: DictConfig, overrides: list[str]) -> _Plan | None:
        """Splits a job's overrides as Hydra does, or None when it must compose in full."""
        group_exists = self._groups_of(master)
        if group_exists is None:
            return None
        if self._parser is None:
            self._parser = OverridesParser.create(config_loader=self.loader)
        try:
            parsed = self._parser.parse_overrides(overrides)
        except Exception:
            return None
        groups: list[str] = []
        values: list[Override] = []
        for override in parsed:
            if override.is_sweep_override() or override.is_hydra_override():
                return None
            value = override.value()
            if not isinstance(value, dict) and group_exists(override.key_or_group):
                groups.append(tp.cast(str, override.input_line))
            else:
                values.append(override)
        return _Plan(parsed, tuple(groups), values)

    def _groups_of(self, master: DictConfig) -> tp.Callable[[str], bool] | None:
        """Hydra's test of "is this key a config group" for this master config's sweep."""
        key = id(master)
        if key not in self._group_exists:
            found: tp.Callable[[str], bool] | None = None
            try:
                hydra_overrides = list(master.hydra.overrides.hydra)
                _, repo = self.loader._parse_overrides_and_create_caching_repo(
                    master.hydra.job.config_name, hydra_overrides
                )
                found = repo.group_exists
            except Exception as e:  # a loader without it: Hydra composes every job
                log.debug("no fast composition (%r)", e)
            self._group_exists = {key: found}  # one master config per sweep
            self._bases.clear()
        return self._group_exists[key]

    def _compose(self, master: DictConfig, plan: _Plan) -> DictConfig:
        from hydra._internal.config_loader_impl import (
            ConfigLoaderImpl,
            get_overrides_dirname,
        )

        key = (id(master), plan.groups)
        base = self._bases.get(key)
        if base is None:
            composed = self.original(master, list(plan.groups))
            try:
                base = pickle.dumps(composed)
            except Exception:  # eg: types made on the fly (hydra-zen): deep copies
                base = composed
            self._bases[key] = base
            while len(self._bases) > _MAX_BASES:
                self._bases.popitem(last=False)
        else:
            self._bases.move_to_end(key)
        cfg = pickle.loads(base) if isinstance(base, bytes) else copy.deepcopy(base)
        ConfigLoaderImpl._apply_overrides_to_config(plan.values, cfg)
        hydra = cfg.hydra
        hydra.overrides.task = [o.input_line for o in plan.parsed]
        dirname = hydra.job.config.override_dirname
        hydra.job.override_dirname = get_overrides_dirname(
            overrides=plan.parsed,
            kv_sep=dirname.kv_sep,
            item_sep=dirname.item_sep,
            exclude_keys=dirname.exclude_keys,
        )
        OmegaConf.copy_cache(from_config=master, to_config=cfg)
        return cfg


def expand(overrides: list[Override]) -> list[list[str]]:
    """Per swept key (in first-seen order, a later override of a key replacing an
    earlier one), the ``key=value`` strings of its jobs (Hydra's basic sweeper's rule)."""
    per_key: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                kind = override.value_type.name if override.value_type else "?"
                raise HydraException(
                    f"hydra/sweeper=exca does not support sweep type {kind}: "
                    f"{override.input_line!r} (use a choice list, range() or glob())"
                )
            per_key[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            per_key[key] = [f"{key}={override.get_value_element_as_str()}"]
    return list(per_key.values())


class SweepEngine:
    """What ``hydra/sweeper=exca`` does (see the module docstring); one per ``setup()``."""

    def __init__(
        self,
        *,
        max_batch_size: int | None,
        params: tp.Mapping[str, tp.Any],
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        from hydra.core.plugins import Plugins

        if max_batch_size is not None and max_batch_size < 1 and max_batch_size != -1:
            raise HydraException(
                f"hydra.sweeper.max_batch_size must be >= 1 (or null), got {max_batch_size}"
            )
        self.max_batch_size = None if max_batch_size == -1 else max_batch_size
        self.params = {str(k): str(v) for k, v in params.items()}
        self.hydra_context = hydra_context
        self.config = config
        self.composer = FastComposer.install(hydra_context)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def jobs(self, arguments: list[str]) -> tuple[int, tp.Iterator[list[str]]]:
        """The number of jobs and their overrides (generated lazily)."""
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        lists = expand(parser.parse_overrides(lines))
        total = 1
        for values in lists:
            total *= len(values)
        return total, (list(job) for job in itertools.product(*lists))

    def sweep(self, arguments: list[str]) -> list[tp.Sequence[JobReturn]]:
        """Runs the jobs batch by batch (each batch checked to compose before it is
        launched); returns the batches' JobReturns. A failed job's error is raised after
        its batch with ``max_batch_size`` set, like Hydra's basic sweeper, and after the
        last batch without it (the sweep is one batch then, streamed to the launcher
        :data:`STREAM_BATCH` jobs at a time)."""
        total, jobs = self.jobs(list(arguments))
        streamed = self.max_batch_size is None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        size = self.max_batch_size or STREAM_BATCH
        loader = self.hydra_context.config_loader
        returns: list[tp.Sequence[JobReturn]] = []
        start = 0
        while start < total:
            batch = list(itertools.islice(jobs, size))
            tic = time.perf_counter()
            for overrides in batch:  # errors before anything of the batch runs
                loader.load_sweep_config(master_config=self.config, sweep_overrides=overrides)
            log.debug(
                "composed %d jobs in %.2f s (%s)",
                len(batch),
                time.perf_counter() - tic,
                self.composer.stats if self.composer is not None else "Hydra's composition",
            )
            results = self.launcher.launch(batch, initial_job_idx=start)
            returns.append(results)
            start += len(batch)
            if not streamed:
                _raise_failure(results)
        for results in returns:
            _raise_failure(results)
        return returns


def _raise_failure(results: tp.Sequence[JobReturn]) -> None:
    for result in results:
        _ = result.return_value  # raises the error of a failed job
