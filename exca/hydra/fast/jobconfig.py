"""A job's composed config, as the exca launcher and the serving of cached jobs read it.

A launcher needs three views of a job's config: the config without its ``hydra`` node
(what the task function receives: validation, uid, ``.hydra/config.yaml``), the ``hydra``
node with the job's fields set (``hydra.job.num``/``id``, ``hydra.runtime.output_dir``:
output dir, logging, ``${hydra:...}`` resolution, ``.hydra/hydra.yaml``) and, for jobs that
run, an independent full config. :class:`JobConfig` gives them.

- :class:`FullJobConfig` wraps a config composed in full (Hydra's composition: the basic
  sweeper, or a job the exca sweeper composes in full).
- ``exca.hydra.fast.compose.FastJobConfig``: a job of the exca sweeper's fast composition. Its
  views are built from its *base* (the config composed once for its combination of
  config-group choices) without composing the job's full config.

The ``.hydra/*.yaml`` files are emitted here (:func:`to_yaml`, :class:`HydraYaml`): the
bytes of ``OmegaConf.to_yaml``, by libyaml.
"""

from __future__ import annotations

import abc
import copy
import os
import pickle
import typing as tp
import zlib

import yaml
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

__all__ = ["FullJobConfig", "HydraYaml", "JobConfig", "hydra_yaml_of", "to_yaml"]


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


# the fields of the hydra node that differ between the jobs of one base (everything else
# is the base's): (section, key)
PER_JOB_FIELDS = (
    ("overrides", "task"),
    ("job", "override_dirname"),
    ("job", "id"),
    ("job", "num"),
    ("runtime", "output_dir"),
)


def _item(path: tuple[str, ...], key: str, value: tp.Any) -> str:
    """The YAML lines of ``key: value`` in the block mapping at ``path`` (keys of the
    path: plain one-line keys), as they appear in the YAML of the whole document."""
    doc: tp.Any = {key: value}
    for name in reversed(path):
        doc = {name: doc}
    return to_yaml(doc).split("\n", len(path))[-1]


def _split_fields(values: tp.Mapping[tuple[str, str], tp.Any]) -> dict[tuple[str, str], str]:
    """The YAML lines of each per-job field: one emission of all of them, cut at their
    keys; when the cut is not clean (a value over several lines that looks like a key),
    one emission per field."""
    doc: dict[str, dict[str, tp.Any]] = {}
    for section, key in PER_JOB_FIELDS:
        doc.setdefault(section, {})[key] = values[(section, key)]
    items: dict[tuple[str, str], str] = {}
    section, current = "", ("", "")
    for line in to_yaml({"hydra": doc}).splitlines(keepends=True)[1:]:
        if line.startswith("  ") and line[2] != " ":  # a section: "  job:"
            section, current = line[2:-2], ("", "")
        elif line.startswith("    ") and line[4] not in " -":  # a field: "    num: 3"
            current = (section, line[4:].split(":", 1)[0])
            if current in items:
                break
            items[current] = line
        elif current in items:  # the field's next lines
            items[current] += line
        else:
            break
    else:
        if list(items) == list(PER_JOB_FIELDS):
            return items
    return {(s, k): _item(("hydra", s), k, values[(s, k)]) for s, k in PER_JOB_FIELDS}


class HydraYaml:
    """``.hydra/hydra.yaml`` of the jobs of one base: the YAML of what the jobs share is
    emitted once, only the per-job fields (:data:`PER_JOB_FIELDS`) for each job.

    ``hydra`` is the base's ``hydra`` node as a container. :meth:`render` is checked
    against a full emission by :meth:`check` (on a base's first job); a template that
    does not reproduce it is not used (``usable`` False).
    """

    def __init__(self, hydra: dict[str, tp.Any]) -> None:
        self.parts: list[str | tuple[str, str]] = ["hydra:\n"]
        self.usable = all(
            isinstance(hydra.get(section), dict) and key in hydra[section]
            for section, key in PER_JOB_FIELDS
        )
        self._checked = not self.usable  # (an unusable template is never rendered)
        if not self.usable:
            return
        sections = {section for section, _ in PER_JOB_FIELDS}
        for name, value in hydra.items():
            if name not in sections:
                self.parts.append(_item(("hydra",), name, value))
                continue
            self.parts.append(f"  {name}:\n")
            for key, sub in value.items():
                if (name, key) in PER_JOB_FIELDS:
                    self.parts.append((name, key))
                else:
                    self.parts.append(_item(("hydra", name), key, sub))

    def render(self, values: tp.Mapping[tuple[str, str], tp.Any]) -> str:
        """The file's text, the per-job fields taken from ``values``."""
        items = _split_fields(values)
        return "".join(part if isinstance(part, str) else items[part] for part in self.parts)

    def check(self, text: str, hydra: DictConfig) -> bool:
        """Whether ``text`` (a render) is the full emission of ``hydra`` (checked once)."""
        if not self._checked:
            self._checked = True
            self.usable = text == to_yaml(
                {"hydra": OmegaConf.to_container(hydra, enum_to_str=True)}
            )
        return self.usable


class JobConfig(abc.ABC):
    """A job's config (see the module docstring). ``idx`` is set by the launcher
    (``hydra.job.num`` and ``id``) before any view is read."""

    idx: int = -1
    overrides: list[str]
    _output_dir: str | None = None  # set by bind(), as run_job has it (maybe relative)
    _runtime_dir: str | None = None  # hydra.runtime.output_dir (absolute)

    @abc.abstractmethod
    def bind(self) -> DictConfig:
        """A full config whose ``hydra`` node is this job's (``job.num``/``id`` and
        ``runtime.output_dir`` set): for reading ``hydra.*`` and as ``HydraConfig``.
        Valid until another job's :meth:`bind` (it may be shared): do not keep it."""

    @property
    def output_dir(self) -> str:
        """``hydra.sweep.dir``/``hydra.sweep.subdir`` resolved (not made absolute)."""
        self.bind()
        assert self._output_dir is not None
        return self._output_dir

    def _set_output_dir(self, config: DictConfig) -> None:
        """Resolves the output dir in ``config`` (a full config of this job) and sets
        ``hydra.runtime.output_dir`` there."""
        self._output_dir = output_dir_of(config)
        self._runtime_dir = os.path.abspath(self._output_dir)
        set_job_fields(config, self.idx, self._runtime_dir)

    @abc.abstractmethod
    def task(self) -> DictConfig:
        """The config without its ``hydra`` node (what the task function receives)."""

    @abc.abstractmethod
    def composed(self) -> DictConfig:
        """The config as Hydra's ``load_sweep_config`` composes it."""

    @abc.abstractmethod
    def full(self) -> DictConfig:
        """The job's full config (``job.num``/``id`` set), the caller's to keep."""

    @abc.abstractmethod
    def hydra_yaml(self) -> str:
        """The text of ``.hydra/hydra.yaml`` (after :meth:`bind`)."""

    @abc.abstractmethod
    def snapshot(self) -> tp.Callable[[], DictConfig]:
        """A compact way to build :meth:`full` later (after serving: for JobReturns)."""


def hydra_yaml_of(config: DictConfig) -> str:
    """The text of ``.hydra/hydra.yaml`` for a full config."""
    return to_yaml({"hydra": OmegaConf.to_container(config.hydra, enum_to_str=True)})


def output_dir_of(config: DictConfig) -> str:
    """What ``run_job`` calls the output dir (``hydra.sweep.dir``/``hydra.sweep.subdir``)."""
    output_dir = str(OmegaConf.select(config, "hydra.sweep.dir"))
    return os.path.join(output_dir, str(OmegaConf.select(config, "hydra.sweep.subdir")))


def set_job_fields(config: DictConfig, idx: int, runtime_dir: str | None = None) -> None:
    """``hydra.job.num``/``id`` as a launcher sets them; ``hydra.runtime.output_dir`` (when
    given: the absolute output dir) as ``run_job`` sets it."""
    hydra = config.hydra
    with read_write(hydra), open_dict(hydra):
        hydra.job.id = idx
        hydra.job.num = idx
        if runtime_dir is not None:
            hydra.runtime.output_dir = runtime_dir


class FullJobConfig(JobConfig):
    """A config composed in full (its views are copies or parts of it)."""

    def __init__(self, config: DictConfig, overrides: list[str]) -> None:
        self.config = config
        self.overrides = overrides
        self._ids = -1  # the idx whose fields are set
        self._task: DictConfig | None = None

    def composed(self) -> DictConfig:
        return self.config

    def full(self) -> DictConfig:
        if self._ids != self.idx:
            set_job_fields(self.config, self.idx)
            self._ids, self._output_dir = self.idx, None
        return self.config

    def bind(self) -> DictConfig:
        config = self.full()
        if self._output_dir is None:
            self._set_output_dir(config)
        return config

    def task(self) -> DictConfig:
        if self._task is None:
            cfg = self.config
            self._task = OmegaConf.masked_copy(cfg, [str(key) for key in cfg if key != "hydra"])
            OmegaConf.copy_cache(from_config=cfg, to_config=self._task)
        return self._task

    def hydra_yaml(self) -> str:
        return hydra_yaml_of(self.bind())

    def snapshot(self) -> tp.Callable[[], DictConfig]:
        config = self.bind()
        OmegaConf.set_readonly(config.hydra, True)  # as HydraConfig.set_config leaves it
        try:
            data = zlib.compress(pickle.dumps(config), 1)
        except Exception:  # eg: types made on the fly (hydra-zen): a copy now
            kept = copy.deepcopy(config)
            return lambda: kept
        return lambda: tp.cast(DictConfig, pickle.loads(zlib.decompress(data)))
