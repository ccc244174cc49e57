"""Composition of a sweep's job configs without Hydra's full composition per job.

- :class:`FastComposer` replaces the config loader's ``load_sweep_config`` for a sweep of
  ``hydra/sweeper=exca`` (the sweeper validates each batch with it, and every launcher
  composes its jobs with it, Hydra's basic launcher included). A job's overrides are
  parsed with Hydra's override parser and split as Hydra's defaults list splits them:
  config-group overrides, and value overrides. Hydra's full composition runs once per
  distinct list of config-group overrides (the *base*); a job's config is a copy of its
  base with the job's value overrides applied by Hydra's own override application, then
  the per-job ``hydra`` fields that depend on the overrides (``overrides.task``,
  ``job.override_dirname``) set as Hydra sets them. A job it cannot prove equivalent (a
  ``hydra.*`` override, a sweep override, an override the fast path rejects, ...) is
  composed by Hydra in full, so errors are Hydra's own.
- :class:`SweepConfigMemo`: under Hydra's basic sweeper, the configs it composed to
  validate a batch are handed to the exca launcher, not composed a second time.
"""

from __future__ import annotations

import collections
import copy
import logging
import os
import pickle
import re
import typing as tp

from hydra._internal.config_loader_impl import ConfigLoaderImpl, get_overrides_dirname
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.types import HydraContext
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from exca.uidfolder import remember

from .jobconfig import (
    PER_JOB_FIELDS,
    FullJobConfig,
    HydraYaml,
    JobConfig,
    hydra_yaml_of,
    set_job_fields,
)

__all__ = ["FastComposer", "FastJobConfig", "LoadSweepConfig", "SweepConfigMemo"]

log = logging.getLogger(__name__)

_MAX_BASES = 64  # composed bases kept (LRU): one per combination of config-group choices

LoadSweepConfig = tp.Callable[[DictConfig, list[str]], DictConfig]


class _Plan(tp.NamedTuple):
    parsed: list[Override]
    groups: tuple[str, ...]  # the config-group overrides, in order (the base's key)
    values: list[Override]  # the value overrides, in order


def _freeze(cfg: DictConfig) -> bytes | DictConfig:
    """A config kept to be copied many times (unpickling is several times faster than
    deepcopy)."""
    try:
        return pickle.dumps(cfg)
    except Exception:  # eg: types made on the fly (hydra-zen): deep copies
        return cfg


def _thaw(frozen: bytes | DictConfig) -> DictConfig:
    if isinstance(frozen, bytes):
        return tp.cast(DictConfig, pickle.loads(frozen))
    return copy.deepcopy(frozen)


# an interpolation that reads only the hydra node, the clock or the environment
_OWN_REFERENCE = re.compile(r"\$\{(?:hydra[.:]|now:|oc\.env:)[^${}\\]*\}")


_NOW = re.compile(r"\$\{now:[^${}\\]*\}")


def _self_contained(hydra: DictConfig) -> bool:
    """Whether every interpolation of the ``hydra`` node reads only the ``hydra`` node
    (``${hydra.x}``, ``${hydra:x}``), the clock or the environment: then the node resolves
    the same for every job of a base, whatever the job's own values (else each job gets a
    full config of its own)."""
    stack: list[tp.Any] = [OmegaConf.to_container(hydra, resolve=False)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif (
            isinstance(item, str)
            and "$" in item
            and ("${" in _OWN_REFERENCE.sub("", item) or "\\" in item)
        ):
            return False
    return True


class _Base:
    """The config composed in full once for a combination of config-group choices, and
    what the fast path derives from it once: the config without ``hydra`` (copied per
    job), the ``hydra`` node that jobs take turns to bind (:meth:`FastJobConfig.bind`),
    the template of ``hydra.yaml``."""

    def __init__(self, composed: DictConfig, master: DictConfig) -> None:
        self.frozen = _freeze(composed)
        task = _thaw(self.frozen)
        with read_write(task), open_dict(task):  # as run_job makes the task's config
            del task["hydra"]
        self.task = _freeze(task)
        self.scratch = _thaw(self.frozen)
        OmegaConf.copy_cache(from_config=master, to_config=self.scratch)
        hydra = self.scratch.hydra
        dirname = hydra.job.config.override_dirname
        self._dirname = (str(dirname.kv_sep), str(dirname.item_sep), list(dirname.exclude_keys))
        self.bound: FastJobConfig | None = None
        self.self_contained = _self_contained(hydra)
        self.yaml: HydraYaml | None = None
        self.fields: dict[tuple[str, str], tp.Any] = {}
        self.sweep_dir: str | None = None
        self.subdir_is_num = False
        if not self.self_contained:
            return  # each job binds a full config of its own
        self.yaml = HydraYaml(
            tp.cast(dict[str, tp.Any], OmegaConf.to_container(hydra, enum_to_str=True))
        )
        # the nodes a job binds (set in place: no node is replaced)
        self.fields = {(s, k): hydra[s]._get_node(k) for s, k in PER_JOB_FIELDS}
        # hydra.sweep.dir when it is the same for every job (no interpolation but the
        # clock's, whose values are cached), and whether hydra.sweep.subdir is the job's
        # number (Hydra's default)
        sweep = hydra.sweep._get_node("dir")._value()
        if isinstance(sweep, str) and "${" not in _NOW.sub("", sweep):
            try:
                self.sweep_dir = str(OmegaConf.select(self.scratch, "hydra.sweep.dir"))
            except Exception:  # eg: no clock resolver yet: resolved per job (when needed)
                pass
        subdir = hydra.sweep._get_node("subdir")._value()
        self.subdir_is_num = subdir in ("${hydra.job.num}", "${hydra.job.id}")

    def override_dirname(self, parsed: list[Override]) -> str:
        """``hydra.job.override_dirname`` of a job's overrides, as Hydra computes it."""
        kv_sep, item_sep, exclude_keys = self._dirname
        return get_overrides_dirname(
            overrides=parsed, kv_sep=kv_sep, item_sep=item_sep, exclude_keys=exclude_keys
        )


class FastComposer:
    """``load_sweep_config`` composing once per combination of config-group choices.

    ``original`` is the loader's own ``load_sweep_config``; ``stats`` counts the jobs
    composed by each path (``fast``, ``full``). :meth:`job` gives a job's
    :class:`~exca.hydra.fast.jobconfig.JobConfig` (what the exca launcher reads, without
    composing the job's full config); :meth:`validate` composes a job ahead (the sweeper
    checks a batch before launching it) and keeps it for the launcher.
    """

    def __init__(self, loader: tp.Any, original: LoadSweepConfig) -> None:
        self.loader = loader
        self.original = original
        self.stats = {"fast": 0, "full": 0}
        self._parser: OverridesParser | None = None
        self._group_exists: dict[int, tp.Callable[[str], bool] | None] = {}
        self._bases: collections.OrderedDict[tuple[int, tuple[str, ...]], _Base] = (
            collections.OrderedDict()
        )
        self._validated: dict[tuple[int, tuple[str, ...]], JobConfig] = {}
        self._parsed: dict[str, Override] = {}

    def __getstate__(self) -> dict[str, tp.Any]:  # pickled with the loader to remote jobs
        return {"loader": self.loader, "original": self.original}

    def __setstate__(self, state: dict[str, tp.Any]) -> None:
        self.__init__(state["loader"], state["original"])  # type: ignore[misc]

    @classmethod
    def install(cls, hydra_context: HydraContext) -> FastComposer | None:
        """Makes ``hydra_context.config_loader.load_sweep_config`` fast (idempotent)."""
        loader = hydra_context.config_loader
        current = cls.of(loader)
        if current is not None:
            return current
        composer = cls(loader, loader.load_sweep_config)
        try:
            loader.load_sweep_config = composer  # type: ignore[method-assign]
        except AttributeError:  # a loader that does not allow it: Hydra composes
            return None
        return composer

    @classmethod
    def of(cls, loader: tp.Any) -> FastComposer | None:
        """The composer installed on ``loader`` (under other wrappers), if any."""
        current = loader.__dict__.get("load_sweep_config")
        for _ in range(8):
            if current is None or isinstance(current, cls):
                return current
            current = getattr(current, "original", None)
        return None

    def __call__(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        return self.job(master_config, list(sweep_overrides)).composed()

    def validate(self, master: DictConfig, overrides: list[str]) -> None:
        """Composes a job (raises Hydra's error if it does not compose) and keeps it for
        the launcher (:meth:`job`, or ``load_sweep_config``) until :meth:`forget`."""
        self._validated[(id(master), tuple(overrides))] = self.job(master, overrides)

    def forget(self) -> None:
        self._validated.clear()

    def job(self, master: DictConfig, overrides: list[str]) -> JobConfig:
        """The job's config: fast when its plan allows it, else composed by Hydra."""
        validated = self._validated.pop((id(master), tuple(overrides)), None)
        if validated is not None:
            return validated
        plan = self._plan(master, list(overrides))
        if plan is not None:
            try:
                base = self._base(master, plan)
                task = _thaw(base.task)
                # the hydra node is not there: a value override never reads or writes it
                # (hydra.* overrides take the full path); an override that needs it fails
                # here and takes the full path
                ConfigLoaderImpl._apply_overrides_to_config(plan.values, task)
                OmegaConf.copy_cache(from_config=master, to_config=task)
            except Exception as e:  # Hydra composes it (and raises its own error if any)
                log.debug("fast composition of %s failed (%r): full composition", plan, e)
            else:
                self.stats["fast"] += 1
                return FastJobConfig(self, master, plan, base, task)
        self.stats["full"] += 1
        return FullJobConfig(self.original(master, list(overrides)), list(overrides))

    def _plan(self, master: DictConfig, overrides: list[str]) -> _Plan | None:
        """Splits a job's overrides as Hydra does, or None when it must compose in full."""
        group_exists = self._groups_of(master)
        if group_exists is None:
            return None
        try:
            parsed = self._parse(overrides)
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

    def _parse(self, overrides: list[str]) -> list[Override]:
        """Hydra's parse of each override string, parsed once (the jobs of a sweep over
        several keys share most of their strings; an Override is only read)."""
        if self._parser is None:
            self._parser = OverridesParser.create(config_loader=self.loader)
        found = {line: self._parsed.get(line) for line in overrides}
        new = [line for line, override in found.items() if override is None]
        if new:
            for line, override in zip(new, self._parser.parse_overrides(new), strict=True):
                found[line] = override
                remember(self._parsed, line, override)
        return [tp.cast(Override, found[line]) for line in overrides]

    def _groups_of(self, master: DictConfig) -> tp.Callable[[str], bool] | None:
        """Hydra's test of "is this key a config group" for this master config's sweep."""
        key = id(master)
        if key not in self._group_exists:
            found: tp.Callable[[str], bool] | None = None
            try:
                # as load_sweep_config reads them (not resolved: "x=${...}" is text)
                hydra_overrides = tp.cast(
                    list[str], OmegaConf.to_container(master.hydra.overrides.hydra)
                )
                _, repo = self.loader._parse_overrides_and_create_caching_repo(
                    master.hydra.job.config_name, hydra_overrides
                )
                found = repo.group_exists
            except Exception as e:  # a loader without it: Hydra composes every job
                log.debug("no fast composition (%r)", e)
            self._group_exists = {key: found}  # one master config per sweep
            self._bases.clear()
        return self._group_exists[key]

    def _base(self, master: DictConfig, plan: _Plan) -> _Base:
        key = (id(master), plan.groups)
        base = self._bases.get(key)
        if base is None:
            base = _Base(self.original(master, list(plan.groups)), master)
            self._bases[key] = base
            while len(self._bases) > _MAX_BASES:
                self._bases.popitem(last=False)
        else:
            self._bases.move_to_end(key)
        return base

    def compose(self, master: DictConfig, plan: _Plan, base: _Base) -> DictConfig:
        """The job's full config: a copy of its base, the job's value overrides applied,
        the per-job ``hydra`` fields set as Hydra sets them."""
        cfg = _thaw(base.frozen)
        ConfigLoaderImpl._apply_overrides_to_config(plan.values, cfg)
        hydra = cfg.hydra
        hydra.overrides.task = [o.input_line for o in plan.parsed]
        hydra.job.override_dirname = base.override_dirname(plan.parsed)
        OmegaConf.copy_cache(from_config=master, to_config=cfg)
        return cfg

    def rebuild(self, master: DictConfig, overrides: list[str]) -> DictConfig:
        """A job's full config again (after its base may have left the cache)."""
        plan = self._plan(master, list(overrides))
        if plan is not None:
            try:
                return self.compose(master, plan, self._base(master, plan))
            except Exception:
                pass
        return self.original(master, list(overrides))


class FastJobConfig(JobConfig):
    """A job of the fast composition: its config without ``hydra`` is its own (a copy of
    the base's, the job's value overrides applied); its ``hydra`` node is the base's, the
    per-job fields set when the job binds it (:data:`~exca.hydra.fast.jobconfig.PER_JOB_FIELDS`):
    no full config is composed for a job that is only served. Its base's ``hydra`` node
    must not depend on the job's values (``_Base.self_contained``); when it may, the job
    binds a full config of its own."""

    def __init__(
        self,
        composer: FastComposer,
        master: DictConfig,
        plan: _Plan,
        base: _Base,
        task: DictConfig,
    ) -> None:
        self.overrides = [tp.cast(str, o.input_line) for o in plan.parsed]
        self._composer = composer
        self._master = master
        self._plan = plan
        self._base = base
        self._task = task
        self._own: DictConfig | None = None  # the bound full config (base not self-contained)

    def task(self) -> DictConfig:
        return self._task

    def composed(self) -> DictConfig:
        return self._composer.compose(self._master, self._plan, self._base)

    def full(self) -> DictConfig:
        cfg = self.composed()
        set_job_fields(cfg, self.idx, self._runtime_dir)
        return cfg

    def bind(self) -> DictConfig:
        base = self._base
        if not base.self_contained:
            if self._own is None:
                self._own = self.full()
            if self._output_dir is None:
                self._set_output_dir(self._own)
            return self._own
        config = base.scratch
        fields = base.fields
        if base.bound is not self:
            base.bound = None
            dirname = base.override_dirname(self._plan.parsed)
            # in place, as OmegaConf's assignment sets (and converts) an existing value
            fields[("overrides", "task")]._set_value(self.overrides)
            fields[("job", "override_dirname")]._set_value(dirname)
            fields[("job", "id")]._set_value(self.idx)
            fields[("job", "num")]._set_value(self.idx)
            fields[("runtime", "output_dir")]._set_value(self._runtime_dir or "???")
            base.bound = self
        if self._output_dir is None:
            sweep_dir = base.sweep_dir
            if sweep_dir is None:
                sweep_dir = str(OmegaConf.select(config, "hydra.sweep.dir"))
            if base.subdir_is_num:
                subdir = str(self.idx)
            else:
                subdir = str(OmegaConf.select(config, "hydra.sweep.subdir"))
            self._output_dir = os.path.join(sweep_dir, subdir)
            self._runtime_dir = os.path.abspath(self._output_dir)
            fields[("runtime", "output_dir")]._set_value(self._runtime_dir)
        return config

    def hydra_yaml(self) -> str:
        config = self.bind()
        template = self._base.yaml
        if template is not None and template.usable and config is self._base.scratch:
            values: dict[tuple[str, str], tp.Any] = {("overrides", "task"): list(self.overrides)}
            for field in PER_JOB_FIELDS[1:]:
                value = self._base.fields[field]._value()  # as to_container reads it
                values[field] = getattr(value, "name", value)  # enum_to_str
            text = template.render(values)
            if template.check(text, config.hydra):
                return text
        return hydra_yaml_of(config)

    def snapshot(self) -> tp.Callable[[], DictConfig]:
        composer, master, overrides = self._composer, self._master, list(self.overrides)
        idx, runtime_dir = self.idx, self._runtime_dir

        def build() -> DictConfig:
            cfg = composer.rebuild(master, overrides)
            set_job_fields(cfg, idx, runtime_dir)
            OmegaConf.set_readonly(cfg.hydra, True)
            return cfg

        return build


class SweepConfigMemo:
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
