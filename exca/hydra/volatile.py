"""Config values that change from run to run and stay in the key: ``${now:...}`` and the
resolvers a user lists in ``hydra.launcher.volatile_resolvers``, and every key taking its
value from one of them through interpolation. A job whose uid holds one is never served
from the cache, so the launcher warns once per sweep (:class:`Report`: each such key with
the values of two jobs, and the fix), and says when jobs to run differ from cached entries
only in such keys (:func:`near_misses`). Values saying where a job runs (its output dir,
even with a ``${now:}`` sweep dir) are not volatile: they enter keys as their expression
(:mod:`exca.hydra.uidrule`)."""

from __future__ import annotations

import re
import typing as tp
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf

from exca.uidfolder import UidFolder

__all__ = ["ALWAYS", "Report", "near_misses", "volatile_keys"]

ALWAYS = ("now",)  # Hydra's resolver of the current time
_REF = re.compile(r"\$\{\s*(\.*[A-Za-z_][\w\-]*(?:\.[\w\-]+|\[\w+\])*)\s*\}")


def _walk(value: tp.Any, prefix: str, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _walk(sub, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list):
        for k, sub in enumerate(value):
            _walk(sub, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, str) and "${" in value:
        out[prefix] = value


def _absolute(ref: str, key: str) -> str:
    """The dotted key an interpolation ``${ref}`` in the value of ``key`` points to."""
    if not ref.startswith("."):
        return ref
    dots = len(ref) - len(ref.lstrip("."))
    parts = key.split(".")[:-1]  # the node holding key
    parts = parts[: len(parts) - (dots - 1)] if dots > 1 else parts
    return ".".join([*parts, ref.lstrip(".")])


def _related(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def volatile_keys(
    cfg: DictConfig, uid_keys: tp.Iterable[str], resolvers: tp.Iterable[str]
) -> dict[str, str]:
    """``{dotted key: raw value}`` of the keys of ``cfg`` whose value calls one of
    ``resolvers`` (``${name:...}``, ``now`` always) or interpolates such a key, however
    indirectly, and is part of the uid (``uid_keys``: the flat uid keys)."""
    names = sorted({*ALWAYS, *resolvers})
    pattern = re.compile(r"\$\{\s*(?:" + "|".join(re.escape(n) for n in names) + r")\s*:")
    raw: dict[str, str] = {}
    _walk(OmegaConf.to_container(cfg, resolve=False), "", raw)
    if not raw:
        return {}
    found = {key for key, value in raw.items() if pattern.search(value)}
    if not found:
        return {}
    refs = {key: [_absolute(r, key) for r in _REF.findall(value)] for key, value in raw.items()}
    changed = True
    while changed:  # keys interpolating a volatile key are volatile
        changed = False
        for key, targets in refs.items():
            if key not in found and any(_related(t, v) for t in targets for v in found):
                found.add(key)
                changed = True
    keys = list(uid_keys)
    return {k: raw[k] for k in sorted(found) if any(_related(u, k) for u in keys)}


class Report:
    """The volatile keys of a sweep's jobs, warned about once per key and sweep."""

    def __init__(self) -> None:
        self.values: dict[str, list[tuple[int, tp.Any]]] = {}
        self.raw: dict[str, str] = {}
        self._warned: set[str] = set()

    def add(self, idx: int, found: tp.Mapping[str, str], flat: tp.Mapping[str, tp.Any]) -> None:
        """Job ``idx``'s volatile keys (``found``) and its resolved flat config (``flat``)."""
        for key, raw in found.items():
            self.raw.setdefault(key, raw)
            values = self.values.setdefault(key, [])
            if len(values) < 2:
                value = flat.get(key, {k: v for k, v in flat.items() if _related(k, key)})
                values.append((idx, value))

    def message(self) -> str:
        """The warning for the keys not warned about yet ("" if none)."""
        keys = [k for k in sorted(self.values) if k not in self._warned]
        if not keys:
            return ""
        self._warned.update(keys)
        lines = []
        for key in keys:
            seen = ", ".join(f"{v!r} (job #{i})" for i, v in self.values[key])
            lines.append(f"  - {key} = {self.raw[key]!r}: {seen}")
        listed = ",".join(keys)
        return (
            f"{len(keys)} key(s) of the jobs' configs change from run to run and are part of "
            "their uid: such jobs are never served from the cache.\n"
            + "\n".join(lines)
            + "\nIf they do not change the result, leave them out of the uid with "
            f"hydra.launcher.exclude_from_uid=[{listed}]"
        )


def near_misses(
    jobs: tp.Iterable[tuple[tp.Mapping[str, tp.Any], tp.Collection[str], tp.Iterable[Path]]],
) -> tuple[int, list[str]]:
    """``(n, keys)``: how many jobs (each: its flat uid config, its volatile keys, the
    entries of its task folder) differ from an existing entry only in volatile keys, and
    those keys."""
    count, keys = 0, set()
    dumps: dict[Path, dict[str, tp.Any] | None] = {}
    for flat, volatile, entries in jobs:
        if not volatile:
            continue
        for entry in entries:
            if entry not in dumps:
                dumps[entry] = _flat_dump(entry)
            other = dumps[entry]
            if other is None or set(other) != set(flat):
                continue
            diff = [k for k in flat if other[k] != flat[k]]
            if diff and all(any(_related(d, v) for v in volatile) for d in diff):
                count += 1
                keys.update(diff)
                break
    return count, sorted(keys)


def _flat_dump(entry: Path) -> dict[str, tp.Any] | None:
    from exca.confdict import ConfDict

    try:
        text = UidFolder(entry).config_text(full=False)
        return None if text is None else dict(ConfDict.from_yaml(text).flat())
    except (OSError, yaml.YAMLError, TypeError, ValueError):
        return None
