"""ConfDict <-> OmegaConf conversions, Hydra-loadable YAML, and Hydra override strings.

The rules, so that a composed config and the same config written as a
``ConfDict`` get the same uid:

- OmegaConf -> ConfDict: interpolations are resolved (``resolve=True``), every
  ``???`` value aborts with all the missing keys named, enum members become
  their ``value``, and the result holds plain dicts/lists only (no DictConfig).
- ConfDict -> OmegaConf: dotted keys are nested (OmegaConf would otherwise keep
  ``"a.b"`` as one literal key), enum members become their ``value``, tuples
  become lists; values OmegaConf cannot hold (sets, arrays, arbitrary objects)
  raise a :class:`~exca.hydra.errors.ConfigError` naming the key.
"""

import contextlib
import enum
import typing as tp
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePath

from omegaconf import DictConfig, ListConfig, OmegaConf

from .errors import ConfigError, did_you_mean

if tp.TYPE_CHECKING:
    from hydra.core.override_parser.types import Override

    from exca.confdict import ConfDict

__all__ = [
    "apply_overrides",
    "from_omegaconf",
    "omegaconf_to_dict",
    "to_hydra_yaml",
    "to_omegaconf",
]

_HYDRA_HINT = (
    " (the ${hydra:...} resolver only works inside a running Hydra job;"
    " use resolve=False outside of one)"
)


def _join(path: str, key: tp.Any) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def _key(key: tp.Any) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    return key if isinstance(key, str) else str(key)


def _plain_value(value: tp.Any) -> tp.Any:
    """Enum members (at any depth) become their values."""
    if isinstance(value, enum.Enum):
        return _plain_value(value.value)
    if isinstance(value, dict):
        return {_key(k): _plain_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    return value


def _raw(node: DictConfig | ListConfig, key: tp.Any) -> tp.Any:
    try:
        return OmegaConf.to_container(node, resolve=False)[key]  # type: ignore[index]
    except Exception:  # pragma: no cover - only used to decorate an error message
        return "?"


def _walk(node: tp.Any, path: str, missing: list[str], problems: list[str]) -> tp.Any:
    if isinstance(node, DictConfig | ListConfig):
        if node._is_none():
            return None
        keys: tp.Iterable[tp.Any] = (
            node.keys() if isinstance(node, DictConfig) else range(len(node))
        )
        out_d: dict[str, tp.Any] = {}
        out_l: list[tp.Any] = []
        for key in keys:
            full = _join(path, key)
            if OmegaConf.is_missing(node, key):
                missing.append(full)
                continue
            try:
                value = node[key]
            except Exception as e:  # interpolation / resolver failure
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raw = _raw(node, key)
                hint = _HYDRA_HINT if "hydra:" in str(raw) else ""
                problems.append(f"{full}: cannot resolve {raw!r}: {msg}{hint}")
                continue
            converted = _walk(value, full, missing, problems)
            if isinstance(node, DictConfig):
                out_d[_key(key)] = converted
            else:
                out_l.append(converted)
        return out_d if isinstance(node, DictConfig) else out_l
    return _plain_value(node)


def omegaconf_to_dict(cfg: tp.Any, resolve: bool = True) -> dict[str, tp.Any]:
    """Convert a ``DictConfig`` into plain nested dicts/lists.

    With ``resolve=True`` (the default) interpolations are resolved; in both
    modes a ``???`` (missing mandatory) value raises a ``ConfigError`` naming
    every missing key, and enum members become their values.
    """
    if not isinstance(cfg, DictConfig):
        raise TypeError(f"expected an omegaconf DictConfig, got {type(cfg).__name__}")
    missing: list[str] = []
    problems: list[str] = []
    if resolve:
        out = _walk(cfg, "", missing, problems)
    else:
        out = _plain_value(OmegaConf.to_container(cfg, resolve=False))
        _find_missing(cfg, "", missing)
    if missing:
        problems = [f"{k}: mandatory value is missing (???)" for k in missing] + problems
    if problems:
        raise ConfigError(f"cannot convert the config ({len(problems)} problem(s)):", problems)
    return out if out is not None else {}


def _find_missing(node: DictConfig | ListConfig, path: str, missing: list[str]) -> None:
    # walks without resolving interpolations
    if node._is_none() or node._is_missing():
        return
    keys: tp.Iterable[tp.Any] = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        full = _join(path, key)
        if OmegaConf.is_missing(node, key):
            missing.append(full)
            continue
        child = node._get_node(key)
        if isinstance(child, DictConfig | ListConfig) and not OmegaConf.is_interpolation(node, key):
            _find_missing(child, full, missing)


def from_omegaconf(cfg: tp.Any, resolve: bool = True) -> "ConfDict":
    """Convert a ``DictConfig`` (e.g. a Hydra composed config) into a ``ConfDict``.

    Interpolations are resolved first (unless ``resolve=False``), so that the
    uid is computed on the actual values; ``???`` aborts naming the key.
    """
    from exca.confdict import ConfDict

    return ConfDict(omegaconf_to_dict(cfg, resolve=resolve))


def _to_plain(value: tp.Any, path: str, paths_as_str: bool) -> tp.Any:
    if isinstance(value, DictConfig):
        value = omegaconf_to_dict(value)
    if isinstance(value, enum.Enum):
        return _to_plain(value.value, path, paths_as_str)
    if isinstance(value, Mapping):
        return {_key(k): _to_plain(v, _join(path, _key(k)), paths_as_str) for k, v in value.items()}
    if isinstance(value, ListConfig):
        value = list(value)
    if isinstance(value, list | tuple):
        return [_to_plain(v, f"{path}[{i}]", paths_as_str) for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | str | bytes):
        return value
    if isinstance(value, int | float):
        return int(value) if isinstance(value, int) else float(value)
    if isinstance(value, PurePath):
        return str(value) if paths_as_str else Path(value)
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    hint = "; use a list" if isinstance(value, set | frozenset) else ""
    raise ConfigError(
        "cannot represent the config in OmegaConf:",
        [f"{path or '<root>'}: unsupported value of type {type(value).__name__}{hint}"],
    )


def _as_confdict(config: tp.Any) -> "ConfDict":
    from exca.confdict import ConfDict

    if isinstance(config, ConfDict):
        return config
    if isinstance(config, DictConfig):
        return from_omegaconf(config)
    if not isinstance(config, Mapping):
        raise TypeError(f"expected a mapping or ConfDict, got {type(config).__name__}")
    return ConfDict(config)


def to_omegaconf(config: tp.Mapping[str, tp.Any]) -> DictConfig:
    """Convert a ``ConfDict`` (or any mapping; dotted keys are split) into a nested ``DictConfig``."""
    plain = _to_plain(_as_confdict(config), "", paths_as_str=False)
    out = OmegaConf.create(plain)
    assert isinstance(out, DictConfig)
    return out


def to_hydra_yaml(config: tp.Mapping[str, tp.Any], filepath: str | Path | None = None) -> str:
    """Nested YAML of a config, loadable as a Hydra config file.

    Unlike ``ConfDict.to_yaml()`` keys are never compressed (``a: {b: 1}``
    rather than ``a.b: 1``, which OmegaConf would read as one literal key), and
    paths are written as strings. Written to ``filepath`` when given.
    """
    plain = _to_plain(_as_confdict(config), "", paths_as_str=True)
    text = OmegaConf.to_yaml(OmegaConf.create(plain))
    if filepath is not None:
        Path(filepath).write_text(text, encoding="utf8")
    return text


# # # # # overrides # # # # #


def _suggestion(cfg: DictConfig, key: str) -> str:
    """Closest valid keys for a dotted key which does not exist in cfg."""
    parts = key.split(".")
    node: tp.Any = cfg
    for i, part in enumerate(parts):
        prefix = ".".join(parts[:i])
        if not isinstance(node, DictConfig):
            return ""
        try:
            if part in node:
                node = node._get_node(part)
                if not isinstance(node, DictConfig | ListConfig):
                    return ""
                continue
        except Exception:
            return ""
        aliases = getattr(node._metadata.object_type, "__exca_aliases__", None) or {}
        if part in aliases:  # a pydantic alias: the config key is the field name
            field = f"{prefix}.{aliases[part]}" if prefix else aliases[part]
            return f"{part!r} is the alias of the field {field!r}, the key to use"
        return did_you_mean(part, [str(k) for k in node], prefix=prefix)
    return ""


def _bad_item(node: tp.Any, value: tp.Any, path: str) -> str | None:
    """Full path (list indices included) of the part of ``value`` that ``node`` refuses.

    OmegaConf validates the items of a list before attaching them, so its errors name
    the key inside the item only (``width`` for ``body.blocks=[{width:abc}]``)."""
    import dataclasses

    if isinstance(value, list) and isinstance(node, ListConfig):
        element = node._metadata.element_type
        for i, item in enumerate(value):
            if dataclasses.is_dataclass(element) and isinstance(item, dict | list):
                found = _bad_item(OmegaConf.structured(element), item, f"{path}[{i}]")
            else:
                try:
                    probe = OmegaConf.create([])
                    probe._metadata.element_type = element
                    probe.append(item)
                    found = None
                except Exception:
                    found = f"{path}[{i}]"
            if found is not None:
                return found
        return None
    if isinstance(value, dict) and isinstance(node, DictConfig):
        for key, item in value.items():
            sub = f"{path}.{key}" if path else str(key)
            child = node._get_node(key) if key in node else None
            if child is None:
                element = node._metadata.element_type
                if dataclasses.is_dataclass(element):
                    child = OmegaConf.structured(element)
            if isinstance(child, DictConfig | ListConfig) and isinstance(item, dict | list):
                found = _bad_item(child, item, sub)
            else:
                try:
                    OmegaConf.merge(node, {key: item})
                    found = None
                except Exception:
                    found = sub
            if found is not None:
                return found
    return None


def _apply_parsed_overrides(overrides: "list[Override]", cfg: DictConfig) -> None:
    """Apply parsed Hydra overrides one by one with Hydra's own logic, adding
    the closest valid key names to the error of a misspelled key."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl
    from hydra.errors import ConfigCompositionException

    apply = getattr(ConfigLoaderImpl._apply_overrides_to_config, "__exca_original__", None)
    apply = apply or ConfigLoaderImpl._apply_overrides_to_config
    for override in overrides:
        try:
            apply([override], cfg)
        except ConfigCompositionException as e:
            key = override.key_or_group
            where = _full_path(cfg, override, e.__cause__)
            if where is not None:
                cause = str(e.__cause__).splitlines()[0]
                raise ConfigCompositionException(f"{e}: {where}: {cause}") from e.__cause__
            hint = ""
            if override.package is None and not (override.is_add() or override.is_force_add()):
                try:
                    exists = OmegaConf.select(cfg, key, throw_on_missing=False, default=_NOTHING)
                except Exception:  # below a ??? node: OmegaConf's own error says it
                    exists = None
                if exists is _NOTHING:
                    hint = _suggestion(cfg, key)
            if not hint:
                raise
            raise ConfigCompositionException(f"{e}\nKey {key!r} does not exist: {hint}") from (
                e.__cause__ or e
            )


_NOTHING = object()


def _full_path(cfg: DictConfig, override: "Override", cause: tp.Any) -> str | None:
    """The full path of the bad part of a list or dict value, when OmegaConf's error
    names only a key inside it (None otherwise)."""
    full_key = getattr(cause, "full_key", None)
    key = override.key_or_group
    if not isinstance(full_key, str) or full_key.startswith(key) or override.package:
        return None
    try:
        value = override.value()
        node = OmegaConf.select(cfg, key, throw_on_missing=False)
        return _bad_item(node, value, key)
    except Exception:  # only used to improve a message
        return None


@contextlib.contextmanager
def suggest_on_override_errors() -> Iterator[None]:
    """Within this context, Hydra's composition (``hydra.compose``,
    ``hydra.main``) reports a misspelled override key with the closest valid
    names."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    original = ConfigLoaderImpl.__dict__["_apply_overrides_to_config"]
    if getattr(original.__func__, "__exca_original__", None) is not None:
        yield  # already active (nested use)
        return

    def patched(overrides: "list[Override]", cfg: DictConfig) -> None:
        _apply_parsed_overrides(overrides, cfg)

    patched.__exca_original__ = original.__func__  # type: ignore[attr-defined]
    ConfigLoaderImpl._apply_overrides_to_config = staticmethod(patched)  # type: ignore[method-assign]
    try:
        yield
    finally:
        ConfigLoaderImpl._apply_overrides_to_config = original  # type: ignore[method-assign]


def apply_overrides(config: tp.Mapping[str, tp.Any], overrides: tp.Sequence[str]) -> "ConfDict":
    """Apply Hydra command-line override strings to a config, with Hydra's own parser.

    ``a.b=1`` changes an existing key (a misspelled key fails with the closest
    valid names), ``+c=2`` adds a key, ``++c=2`` adds or changes, ``~d`` deletes.
    Values are parsed as Hydra parses them (``1`` is an int, ``[1,2]`` a
    list, ``null`` is None). Sweeps (``a=1,2``) are refused. Returns a new
    ``ConfDict``; the input is not modified.
    """
    from hydra.core.override_parser.overrides_parser import OverridesParser

    if isinstance(overrides, str):
        raise TypeError("overrides must be a list of strings, not a string")
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    for override in parsed:
        if override.is_sweep_override():
            raise ValueError(
                f"override {override.input_line!r} is a sweep; apply_overrides only takes "
                "single values"
            )
    cfg = to_omegaconf(config)
    OmegaConf.set_struct(cfg, True)
    _apply_parsed_overrides(parsed, cfg)
    OmegaConf.set_struct(cfg, False)
    return from_omegaconf(cfg)
