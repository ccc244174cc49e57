"""Config values that change at every run (``${now:...}`` and the resolvers a user lists in
``hydra.launcher.volatile_resolvers``): a job whose uid depends on one never hits the
cache, so the launcher warns, naming the key and the ``exclude_from_uid`` fix."""

from __future__ import annotations

import re
import typing as tp

from omegaconf import DictConfig, OmegaConf

__all__ = ["ALWAYS", "volatile_keys"]

ALWAYS = ("now",)  # Hydra's resolver of the current time


def _walk(value: tp.Any, prefix: str, out: dict[str, str], pattern: re.Pattern[str]) -> None:
    if isinstance(value, dict):
        for key, sub in value.items():
            _walk(sub, f"{prefix}.{key}" if prefix else str(key), out, pattern)
    elif isinstance(value, list):
        for k, sub in enumerate(value):
            _walk(sub, f"{prefix}.{k}" if prefix else str(k), out, pattern)
    elif isinstance(value, str) and pattern.search(value):
        out[prefix] = value


def volatile_keys(
    cfg: DictConfig, uid_keys: tp.Iterable[str], resolvers: tp.Iterable[str]
) -> dict[str, str]:
    """``{dotted key: raw value}`` of the keys of ``cfg`` calling one of ``resolvers``
    (``${name:...}``) whose value is part of the uid (``uid_keys``: the flat uid keys)."""
    names = sorted({*ALWAYS, *resolvers})
    pattern = re.compile(r"\$\{\s*(?:" + "|".join(re.escape(n) for n in names) + r")\s*:")
    raw = OmegaConf.to_container(cfg, resolve=False)
    found: dict[str, str] = {}
    _walk(raw, "", found, pattern)
    if not found:
        return {}
    keys = list(uid_keys)
    return {
        key: value
        for key, value in found.items()
        if any(k == key or k.startswith(key + ".") or key.startswith(k + ".") for k in keys)
    }
