"""What of a Hydra job's config enters its cache key: what it computes, not where or when.

The rule (the launcher page, "What the uid of a job is", says it for users):

1. **Where/when values enter the key as their expression.** Hydra's per-run locations,
   ``hydra.runtime.output_dir``, ``hydra.sweep.dir``, ``hydra.sweep.subdir`` and
   ``hydra.run.dir`` (:data:`WHERE`), are replaced, for the uid only, by their unresolved
   expression (``${hydra:runtime.output_dir}``...): every key taking its value from one of
   them through interpolation, however indirectly (``${paths.output_dir}/checkpoints``,
   a string built from it, a resolver given it) holds that expression in its key, so two
   runs of one computation in two output dirs (or two sweep dirs holding ``${now:}``)
   share a key, and two keys built differently from the output dir stay different.
   Everything else Hydra gives a job stays resolved in the key (``${hydra:job.num}`` as a
   seed makes jobs different computations).
2. **Absolute paths under the project root** (``hydra.launcher.project_root``, by default
   the directory the app is launched from) enter the key relative to it
   (``${project_root}/data``), and a task function defined in a script is named after the
   root's folder name and the script's path in it: a second clone of the project (in a
   folder of the same name), or the project mounted elsewhere, shares the cache. ``project_root: null`` keeps absolute paths (and
   the script's absolute path) in the key.
3. **Readable folder names** (:func:`readable_name`): a Hydra job's uid folder is named
   after the overrides that tell the jobs of its batch apart (their swept values), then
   the hash of its full uid config; the cache entry of a config is found by that hash
   (:class:`Locator`), whatever the readable part, so the same computation reached
   from two command lines is one entry, and folders named by older launchers are served
   under their name.
4. **Older caches are served, never recomputed nor renamed**: when the key of a job
   differs from what the launcher computed before this rule (a where/when value or a
   project path in its config, a script-named task), the entry under the older key (or
   the older task folder) is looked up too (:class:`Locator`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import typing as tp
from pathlib import Path

from omegaconf import DictConfig

from exca import layout
from exca.confdict import ConfDict
from exca.uid import readable_part
from exca.uidfolder import ConfigMismatchError, UidFolder

from .targets import TaskIdentity

__all__ = [
    "PROJECT_ROOT",
    "WHERE",
    "KeyedConfig",
    "Locator",
    "folder_name",
    "key_config",
    "key_model_uid",
    "older_keys",
    "readable_name",
    "shared_overrides",
    "task_identity_under",
    "where_as_expressions",
]

# the fields of Hydra's config saying where a job runs, and the expression their value
# takes in a key (escaped: OmegaConf returns it as a plain string)
WHERE: dict[tuple[str, str], str] = {
    ("runtime", "output_dir"): "${hydra:runtime.output_dir}",
    ("sweep", "dir"): "${hydra:sweep.dir}",
    ("sweep", "subdir"): "${hydra:sweep.subdir}",
    ("run", "dir"): "${hydra:run.dir}",
}
_TOKENS = tuple(WHERE.values())
PROJECT_ROOT = "${project_root}"  # an absolute path under the project root, in a key


@contextlib.contextmanager
def where_as_expressions(config: DictConfig) -> tp.Iterator[None]:
    """Within the block, the :data:`WHERE` fields of ``config.hydra`` (the config
    ``${hydra:...}`` reads) hold their expression; restored after."""
    saved: list[tuple[tp.Any, tp.Any]] = []
    hydra = config.hydra
    try:
        for (section, key), expr in WHERE.items():
            parent = hydra._get_node(section, throw_on_missing_key=False)
            node = None if parent is None else parent._get_node(key, throw_on_missing_key=False)
            if node is None or isinstance(node, DictConfig):
                continue
            saved.append((node, node._value()))
            node._set_value("\\" + expr)
        yield
    finally:
        for node, value in reversed(saved):
            node._set_value(value)


@dataclasses.dataclass
class KeyedConfig:
    """A job's config as its key sees it (``data``) and as the job sees it (``real``);
    ``where``: dotted keys holding a where/when expression; ``paths``: dotted keys whose
    absolute path was made relative to the project root."""

    data: dict[str, tp.Any]
    real: dict[str, tp.Any]
    where: list[str]
    paths: list[str]

    @property
    def changed(self) -> bool:
        """Whether the key differs from the launcher's before this rule."""
        return bool(self.where or self.paths)


def key_config(
    task_cfg: DictConfig,
    bound: DictConfig,
    to_dict: tp.Callable[[DictConfig], dict[str, tp.Any]],
    root: str | None,
) -> KeyedConfig:
    """Resolves ``task_cfg`` (the job's config without ``hydra``; ``bound``: the full config
    ``${hydra:...}`` reads, set as HydraConfig) for its key, with ``to_dict`` (a resolving
    conversion to plain containers); ``root``: the project root (None: absolute paths stay)."""
    with where_as_expressions(bound):
        keyed = to_dict(task_cfg)
    where: list[str] = []
    _find(keyed, "", lambda v: any(t in v for t in _TOKENS), where)
    real = to_dict(task_cfg) if where else keyed
    paths: list[str] = []
    if root is not None:
        roots = sorted({root, os.path.realpath(root)}, key=len, reverse=True)
        keyed = _relative(keyed, "", roots, paths)
    return KeyedConfig(data=keyed, real=real, where=where, paths=paths)


def _find(value: tp.Any, prefix: str, test: tp.Callable[[str], bool], out: list[str]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _find(sub, f"{prefix}.{key}" if prefix else str(key), test, out)
    elif isinstance(value, list):
        for k, sub in enumerate(value):
            _find(sub, f"{prefix}.{k}" if prefix else str(k), test, out)
    elif isinstance(value, str) and test(value):
        out.append(prefix)


def _relative(value: tp.Any, prefix: str, roots: list[str], out: list[str]) -> tp.Any:
    """``value`` with every string that is an absolute path under one of ``roots`` written
    ``${project_root}/<relative path>`` (a new container only where something changed)."""
    if isinstance(value, dict):
        new = {
            k: _relative(v, f"{prefix}.{k}" if prefix else str(k), roots, out)
            for k, v in value.items()
        }
        return new if any(new[k] is not value[k] for k in value) else value
    if isinstance(value, list):
        items = [
            _relative(v, f"{prefix}.{k}" if prefix else str(k), roots, out)
            for k, v in enumerate(value)
        ]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, str) and value.startswith(os.sep):
        for root in roots:
            if value == root or value.startswith(root.rstrip(os.sep) + os.sep):
                out.append(prefix)
                rest = value[len(root.rstrip(os.sep)) :]
                return PROJECT_ROOT + rest
    return value


def _get(data: tp.Any, key: str) -> tp.Any:
    for part in key.split("."):
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def key_model_uid(uid_cfg: ConfDict, keyed: KeyedConfig) -> None:
    """Puts the rule's values (where/when expressions, project paths) into the uid config
    of a pydantic model (made from the job's real values), at the keys it has."""
    if not keyed.changed:
        return
    flat = uid_cfg.flat()
    for key in [*keyed.where, *keyed.paths]:
        for k in flat:
            if key == k or key.startswith(k + "."):
                with contextlib.suppress(KeyError, IndexError, ValueError, TypeError):
                    uid_cfg[k] = _get(keyed.data, k)


def older_keys(
    parent: Path, uid: str, uid_cfg: ConfDict, legacy: ConfDict | None, legacy_parent: Path | None
) -> list[tuple[Path, str, ConfDict]]:
    """Where an older launcher kept a job's entry: ``(task folder, uid, uid config)`` under
    the job's key before this rule (``legacy``: None if unchanged) and in the task folder
    named after the script's absolute path (``legacy_parent``, when it differs)."""
    old = None if legacy is None else (legacy.to_uid(), legacy)
    out = [] if old is None else [(parent, *old)]
    if legacy_parent is not None and legacy_parent != parent:
        out.append((legacy_parent, uid, uid_cfg))
        if old is not None:
            out.append((legacy_parent, *old))
    return out


# # # # # the task function's name # # # # #


def task_identity_under(identity: TaskIdentity, root: str | None) -> TaskIdentity:
    """A script's task named after the project root's folder name and the script's path
    in it (``project/src/train.py``), when the script is under the root: a clone of the
    project elsewhere (same folder name) names it the same; two projects do not."""
    if root is None or not identity.file:
        return identity
    for base in sorted({root, os.path.realpath(root)}, key=len, reverse=True):
        base = base.rstrip(os.sep)
        if identity.file.startswith(base + os.sep):
            rel = identity.file[len(base) + 1 :].replace(os.sep, "/")
            return dataclasses.replace(identity, file=f"{os.path.basename(base)}/{rel}")
    return identity


# # # # # folder names # # # # #


def _override_parts(override: str) -> tuple[str, str] | None:
    if "=" not in override:
        return None
    key, value = override.split("=", 1)
    return key.lstrip("+~"), value


def readable_name(overrides: tp.Sequence[str], shared: tp.Collection[str]) -> str:
    """The readable part of a Hydra job's folder name: its overrides (``hydra.*`` ones
    left out), without those every job of its batch has (``shared``) when others remain;
    each key by its last component unless two of the job's keys share it. Cut to the
    uid's length limit; ``""`` when the job has no override."""
    items = [_override_parts(o) for o in overrides if not o.lstrip("+~").startswith("hydra.")]
    parts = [p for p in items if p is not None]
    own = [p for p in parts if f"{p[0]}={p[1]}" not in shared]
    parts = own or parts
    if not parts:
        return ""
    lasts = [k.rsplit(".", 1)[-1] for k, _ in parts]
    names = [
        last if lasts.count(last) == 1 else key for (key, _), last in zip(parts, lasts, strict=True)
    ]
    text = ",".join(f"{n}={v}" for n, (_, v) in zip(names, parts, strict=True))
    return readable_part(text)


def shared_overrides(batch: tp.Sequence[tp.Sequence[str]]) -> set[str]:
    """Overrides that every job of a batch of more than one job has (as normalised by
    :func:`readable_name`)."""
    if len(batch) < 2:
        return set()
    sets = [{f"{p[0]}={p[1]}" for p in map(_override_parts, job) if p is not None} for job in batch]
    return set.intersection(*sets)


class Locator:
    """Where the entry of each job is (one per runner).

    A job's entry is found by the hash that ends the names of uid folders, whatever their
    readable part (one listing of each task folder per batch), checking the ``uid.yaml``;
    then under the older keys the job may have had (:meth:`locate`'s ``older``). A new
    entry is named ``<readable>-<hash>`` (:func:`readable_name`); jobs of the runner with
    the same uid get the same folder.
    """

    def __init__(self) -> None:
        self._names: dict[Path, dict[str, list[str]]] = {}
        self._shared: set[str] = set()
        self._assigned: dict[tuple[Path, str], tuple[Path, str, ConfDict]] = {}

    def begin(self, batch: tp.Sequence[tp.Sequence[str]]) -> None:
        """A new batch: folders are listed again; its shared overrides are noted."""
        self._names = {}
        self._shared = shared_overrides(batch)

    def _by_hash(self, parent: Path) -> dict[str, list[str]]:
        names = self._names.get(parent)
        if names is None:
            names = {}
            try:
                with os.scandir(parent) as it:
                    for entry in it:
                        if entry.is_dir():
                            names.setdefault(_hash_of(entry.name), []).append(entry.name)
            except (FileNotFoundError, NotADirectoryError):
                pass
            for found in names.values():
                found.sort()
            self._names[parent] = names
        return names

    def find(self, parent: Path, uid: str, uid_cfg: ConfDict) -> Path | None:
        """The existing folder of ``parent`` whose ``uid.yaml`` holds ``uid_cfg``."""
        for name in self._by_hash(parent).get(_hash_of(layout.uid_name(uid)), []):
            folder = parent / name
            try:
                found = UidFolder(folder).check_configs(
                    uid_cfg, full_uid=lambda: uid_cfg, full=lambda: uid_cfg, write=False
                )
            except ConfigMismatchError:
                continue
            if found == "checked":
                return folder
        return None

    def entries(self, parent: Path) -> list[Path]:
        """Every uid folder of ``parent``."""
        return sorted(parent / n for names in self._by_hash(parent).values() for n in names)

    def locate(
        self,
        parent: Path,
        uid: str,
        uid_cfg: ConfDict,
        overrides: tp.Sequence[str],
        older: tp.Sequence[tuple[Path, str, ConfDict]] = (),
    ) -> tuple[Path, str, ConfDict]:
        """``(folder, uid, uid config)`` of a job whose key is ``uid_cfg`` in the task
        folder ``parent``: its existing entry, else an entry under one of its ``older``
        ``(task folder, uid, uid config)`` (served under that name and key), else a new
        folder named after its ``overrides``."""
        key = (parent, uid)
        got = self._assigned.get(key)
        if got is None:
            found = self.find(parent, uid, uid_cfg)
            if found is not None:
                got = (found, uid, uid_cfg)
            for old_parent, old_uid, old_cfg in older if got is None else ():
                found = self.find(old_parent, old_uid, old_cfg)
                if found is not None:
                    got = (found, old_uid, old_cfg)
                    break
            if got is None:
                name = folder_name(uid, readable_name(overrides, self._shared))
                got = (parent / name, uid, uid_cfg)
            self._assigned[key] = got
        return got


def _hash_of(name: str) -> str:
    """The hash a uid folder name ends with (the name itself for ``default``)."""
    _, sep, tail = name.rpartition("-")
    return tail if sep and len(tail) == 8 else name


def folder_name(uid: str, readable: str) -> str:
    """A new uid folder's name: ``<readable>-<hash of the uid>`` (the uid's own name
    when there is no readable part)."""
    if not uid or not readable:
        return layout.uid_name(uid)
    return f"{readable}-{_hash_of(uid)}"
