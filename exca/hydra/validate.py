"""Composed config -> validated pydantic model, and a ``hydra.main`` that passes the model."""

import functools
import inspect
import types
import typing as tp
from collections.abc import Callable, Mapping

import pydantic
from omegaconf import DictConfig

from .convert import omegaconf_to_dict, suggest_on_override_errors
from .errors import ConfigError, did_you_mean

__all__ = ["compose", "main", "to_model"]

M = tp.TypeVar("M", bound=pydantic.BaseModel)
# keys Hydra's instantiate() understands; never fields of a pydantic model
_HYDRA_KEYS = ("_target_", "_convert_", "_recursive_", "_partial_", "_args_")


def _strip_hydra_keys(value: tp.Any) -> tp.Any:
    if isinstance(value, dict):
        return {k: _strip_hydra_keys(v) for k, v in value.items() if k not in _HYDRA_KEYS}
    if isinstance(value, list):
        return [_strip_hydra_keys(v) for v in value]
    return value


def _locate(path: str) -> type[pydantic.BaseModel]:
    from hydra.utils import get_class

    from .schema import REGISTERED

    if path in REGISTERED:
        return REGISTERED[path]

    try:
        cls = get_class(path)
    except Exception as e:
        raise ConfigError(f"cannot import the model named by _target_={path!r}: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, pydantic.BaseModel)):
        raise ConfigError(f"_target_={path!r} is not a pydantic model class")
    return cls


def _unwrap(ann: tp.Any) -> tp.Any:
    while tp.get_origin(ann) is tp.Annotated:
        ann = tp.get_args(ann)[0]
    return ann


def _describe(ann: tp.Any, info: tp.Any) -> str:
    text = ann.__name__ if isinstance(ann, type) and not tp.get_args(ann) else repr(ann)
    text = text.replace("typing.", "").replace("pathlib.", "")
    constraints = [repr(m) for m in getattr(info, "metadata", [])]
    return text + (f" with {', '.join(constraints)}" if constraints else "")


def _locate_error(
    Model: type[pydantic.BaseModel], loc: tuple[tp.Any, ...]
) -> tuple[str, str, list[str]]:
    """(dotted path, expected type, sibling field names) of a pydantic error location.

    Union member tags that pydantic inserts in locations (``optim.adam.lr``)
    are dropped so that the path is the config key (``optim.lr``).
    """
    parts: list[str] = []
    ann: tp.Any = Model
    info: tp.Any = None
    siblings: list[str] = []
    for item in loc:
        ann = _unwrap(ann)
        origin = tp.get_origin(ann)
        if origin in (tp.Union, types.UnionType):
            members = [_unwrap(a) for a in tp.get_args(ann) if a is not type(None)]
            chosen = None
            for m in members:  # discriminated union: tag -> member
                if isinstance(m, type) and issubclass(m, pydantic.BaseModel):
                    for f in m.model_fields.values():
                        if tp.get_origin(f.annotation) is tp.Literal and item in tp.get_args(
                            f.annotation
                        ):
                            chosen = m
            if chosen is None and isinstance(item, str):
                names = {getattr(m, "__name__", repr(m)): m for m in members}
                chosen = names.get(item)
            if chosen is not None:
                ann = chosen  # a union tag, not a config key
                continue
            if len(members) > 1 and isinstance(item, str):
                ann = None  # some other union member tag (e.g. "function-after[...]")
                continue
            ann = members[0]
        if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
            siblings = list(ann.model_fields)
            info = ann.model_fields.get(str(item))
            ann = info.annotation if info is not None else None
            parts.append(str(item))
        elif isinstance(item, int) and tp.get_origin(ann) in (list, tuple, set, frozenset):
            args = tp.get_args(ann)
            ann = args[0] if args else None
            info = None
            parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
        elif tp.get_origin(ann) is dict:
            args = tp.get_args(ann)
            ann = args[1] if len(args) == 2 else None
            info = None
            parts.append(str(item))
        else:
            ann, info = None, None
            parts.append(str(item))
    expected = _describe(ann, info) if ann is not None else "?"
    return ".".join(parts), expected, siblings


def _format_errors(
    Model: type[pydantic.BaseModel], errors: list[tp.Any], missing: list[str]
) -> ConfigError:
    problems: list[str] = []
    reported: set[str] = set()
    for err in errors:
        path, expected, siblings = _locate_error(Model, tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            leaf = path.rsplit(".", 1)[-1]
            prefix = path.rsplit(".", 1)[0] if "." in path else ""
            hint = did_you_mean(leaf, siblings, prefix=prefix)
            problems.append(f"{path} = {err['input']!r}: unknown key; {hint}")
        elif err["type"] == "missing":
            why = "mandatory value is missing (???)" if path in missing else "field required"
            problems.append(f"{path}: {why} (expected {expected})")
        else:
            problems.append(f"{path} = {err['input']!r}: {err['msg']} (expected {expected})")
        reported.add(path)
    for key in missing:
        if key not in reported:
            problems.append(f"{key}: mandatory value is missing (???)")
    title = (
        f"invalid config for {Model.__module__}.{Model.__qualname__} ({len(problems)} error(s)):"
    )
    return ConfigError(title, problems)


def to_model(cfg: tp.Any, Model: type[M] | None = None) -> M:
    """Validate a composed config into a pydantic model instance.

    ``cfg`` is a ``DictConfig`` (e.g. from ``hydra.compose`` or a Hydra app),
    a ``ConfDict`` or a mapping (dotted keys allowed). ``Model`` defaults to
    the class named by the config's ``_target_`` (see :func:`register`).
    Interpolations are resolved first. Fields are found by name or by alias;
    a strict model (``strict=True`` anywhere in it) is validated from the JSON
    form of the config (enum values, lists for tuples). On failure a single
    :class:`~exca.hydra.errors.ConfigError` lists every error, each with the
    full dotted key, the value and the expected type; unknown keys come with
    the closest valid names, and ``???`` values are reported as missing.
    """
    missing: list[str] = []
    if isinstance(cfg, DictConfig):
        try:
            data = omegaconf_to_dict(cfg, resolve=True)
        except ConfigError as e:
            missing = [p.split(":", 1)[0] for p in e.problems if p.endswith("missing (???)")]
            if len(missing) != len(e.problems):
                raise
            data = _drop(cfg, missing)
    elif isinstance(cfg, Mapping):
        from exca.confdict import ConfDict

        data = _to_dicts(ConfDict(cfg))
    else:
        raise TypeError(f"to_model expects a DictConfig or a mapping, got {type(cfg).__name__}")
    if Model is None:
        target = data.get("_target_")
        if not isinstance(target, str):
            raise ConfigError("no model given and the config has no _target_ naming one")
        Model = tp.cast(type[M], _locate(target))
    data = _strip_hydra_keys(data)
    try:
        obj = _validate(Model, data)
    except pydantic.ValidationError as e:
        raise _format_errors(Model, e.errors(), missing) from None
    if missing:  # the model has defaults for them, but the config explicitly asks for values
        raise _format_errors(Model, [], missing)
    return obj


def _validate(Model: type[M], data: dict[str, tp.Any]) -> M:
    """Validates config data: fields by name or alias; a model validated strictly (at any
    depth) reads the data as JSON, where enum values, lists for tuples and strings for
    paths or dates are the expected forms."""
    from .schema import _is_strict

    # exca.helpers.BY_NAME_CONTEXT (not imported: helpers imports the infras): a
    # DiscriminatedModel validates its subclass by name too
    kwargs: dict[str, tp.Any] = {"by_alias": True, "by_name": True}
    kwargs["context"] = {"exca.by_name": True}
    if _is_strict(Model):
        import pydantic_core

        return Model.model_validate_json(pydantic_core.to_json(data), **kwargs)
    return Model.model_validate(data, **kwargs)


def _to_dicts(value: tp.Any) -> tp.Any:
    if isinstance(value, Mapping):
        return {k: _to_dicts(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_dicts(v) for v in value]
    return value


def _drop(cfg: DictConfig, keys: list[str]) -> dict[str, tp.Any]:
    """Container of cfg without the given (missing) keys."""
    from omegaconf import OmegaConf

    copy = OmegaConf.to_container(cfg, resolve=False)
    cfg2 = OmegaConf.create(copy)
    for key in keys:
        if "[" in key:
            continue  # missing list items: left for pydantic to reject as "???"
        parent, _, leaf = key.rpartition(".")
        node: tp.Any = OmegaConf.select(cfg2, parent) if parent else cfg2
        del node[leaf]
    return omegaconf_to_dict(cfg2, resolve=True)


def compose(
    config_name: str | None = None,
    overrides: tp.Sequence[str] = (),
    model: type[M] | None = None,
    **kwargs: tp.Any,
) -> tp.Any:
    """``hydra.compose`` (inside ``hydra.initialize``), with the closest valid
    names suggested for a misspelled override key, and, when ``model`` is given,
    validation into the model (``model=True`` uses the ``_target_``)."""
    import hydra

    with suggest_on_override_errors():
        cfg = hydra.compose(config_name=config_name, overrides=list(overrides), **kwargs)
    if model is None:
        return cfg
    return to_model(cfg, None if model is True else model)


def _annotated_model(func: Callable[..., tp.Any]) -> type[pydantic.BaseModel] | None:
    params = list(inspect.signature(func).parameters.values())
    if not params:
        return None
    try:
        hints = tp.get_type_hints(func)
    except Exception:
        return None
    ann = hints.get(params[0].name)
    if isinstance(ann, type) and issubclass(ann, pydantic.BaseModel):
        return ann
    return None


def main(
    config_path: tp.Any = None,
    config_name: str | None = None,
    version_base: tp.Any = None,
    *,
    model: type[pydantic.BaseModel] | None = None,
) -> Callable[[Callable[[tp.Any], tp.Any]], Callable[..., tp.Any]]:
    """Like ``hydra.main``, but the task function receives the validated model.

    The model is ``model``, else the annotation of the task function's first
    parameter (``def app(cfg: Train)``), else the config's ``_target_``::

        @exca.hydra.main(config_path=None, config_name="train")
        def app(train: Train) -> None:
            train.run()

    Everything else is Hydra's: command-line overrides, ``--multirun``,
    launchers and sweepers; a misspelled override key fails with the closest
    valid names. ``version_base`` defaults to None (Hydra's current defaults).
    """
    import hydra

    def decorator(task_function: Callable[[tp.Any], tp.Any]) -> Callable[..., tp.Any]:
        Model = model or _annotated_model(task_function)

        @functools.wraps(task_function)
        def validated_task(cfg: DictConfig) -> tp.Any:
            return task_function(to_model(cfg, Model))

        hydra_main = hydra.main(
            config_path=config_path, config_name=config_name, version_base=version_base
        )(validated_task)

        @functools.wraps(task_function)
        def decorated_main(cfg_passthrough: DictConfig | None = None) -> tp.Any:
            with suggest_on_override_errors():
                return hydra_main(cfg_passthrough)

        return decorated_main

    return decorator
