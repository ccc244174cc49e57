"""Export of a pydantic model to a plain nested dict, following the uid rules of the model.

:func:`model_to_dict` is the engine of :meth:`exca.ConfDict.from_model`. Values are those
of ``model_dump(mode="json")`` (paths and dates as strings, enums as values, tuples and
sets as lists...), except that numpy arrays are kept as is (the uid hashes them).

With ``exclude_defaults=True``:

- a field is dropped when its exported value equals the export of its default (so a
  sub-model whose fields are all at their defaults, or only differ in fields excluded
  from the uid, is dropped); required fields are always kept;
- the discriminator field of a discriminated union is always kept, even at its default,
  so that two members of the union never share a uid.

With ``uid=True``:

- fields named in the model's ``_exclude_from_cls_uid`` are dropped; it can be declared
  as a class attribute (``ClassVar``) list/tuple/set, a pydantic private attribute default,
  or a method / classmethod returning a list/tuple/set. An infra object used as a field
  excludes all its fields but ``version`` this way, so that it contributes only its
  version, and only when not default;
- a union of several model types without a discriminator raises (the uid could not tell
  its members apart), and so does a value the uid cannot represent; errors name the field
  path (eg: ``"optim.lr"``).

Fields with a custom pydantic serializer (``field_serializer``, ``PlainSerializer``,
``WrapSerializer``) and models with a ``model_serializer`` are exported through pydantic's
``model_dump(mode="json")``, so the uid follows the serialized form.

Extra keys (eg: the ``exclude_from_cache_uid`` fields of a cache uid) are dropped by the
caller on the result: ``ConfDict.from_model(obj, uid=True, exclude_defaults=True)`` is a
:class:`~exca.ConfDict`, on which ``cfg.pop("sub.field", None)`` removes a nested field;
:func:`model_to_dict` also takes an ``exclude`` list of (dotted) field names for this.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import pathlib
import sys
import types
import typing as tp

import pydantic
from pydantic.fields import FieldInfo

__all__ = ["ModelExportError", "drop_keys", "model_to_dict"]

EXCLUDE_ATTR = "_exclude_from_cls_uid"
_SERIALIZERS = (pydantic.PlainSerializer, pydantic.WrapSerializer)
_MISSING: tp.Any = object()
_NEVER: tp.Any = object()
_PRIMITIVES = (str, int, float, bool, type(None))


class ModelExportError(TypeError):
    """A model cannot be exported for its uid (the message names the field path)."""


# # # # # per-class metadata (cached) # # # # #


@dataclasses.dataclass
class _Field:
    name: str
    required: bool
    default: tp.Any  # _MISSING if default_factory / required
    factory: tp.Callable[[], tp.Any] | None
    discriminators: frozenset[str]  # discriminators applying to models in the value
    ambiguous: tuple[str, ...]  # names of models in a union without discriminator
    factory_value: tp.Any = _MISSING  # default_factory() result, computed once
    exported_default: tp.Any = _MISSING  # default exported for the uid, computed once


@dataclasses.dataclass
class _ClassInfo:
    fields: list[_Field]
    names: frozenset[str]
    static_exclusions: frozenset[str] | None  # None: depends on the instance
    private_exclusions: bool  # declared as a pydantic private attribute
    serialized: frozenset[str]  # fields with a custom serializer (exported by pydantic)
    model_serializer: bool  # the model has a custom model serializer


_INFOS: dict[type, _ClassInfo] = {}


def _class_info(cls: type[pydantic.BaseModel]) -> _ClassInfo:
    info = _INFOS.get(cls)
    if info is not None:
        return info
    fields: list[_Field] = []
    for name, finfo in cls.model_fields.items():
        required = finfo.is_required()
        factory = None if required else finfo.default_factory
        default = _MISSING if (required or factory is not None) else finfo.default
        discs, ambiguous = _inspect_annotation(finfo)
        fields.append(
            _Field(
                name=name,
                required=required,
                default=default,
                factory=factory,  # type: ignore[arg-type]
                discriminators=frozenset(discs),
                ambiguous=tuple(ambiguous),
            )
        )
    static: frozenset[str] | None = frozenset()
    private = False
    privates = getattr(cls, "__private_attributes__", {})
    if EXCLUDE_ATTR in privates:
        private, static = True, None
    else:
        attr = getattr(cls, EXCLUDE_ATTR, None)
        if attr is None:
            static = frozenset()
        elif callable(attr):
            static = None  # method or classmethod: called for each instance
        else:
            static = frozenset(_check_exclusions(cls, attr))
    decorators = cls.__pydantic_decorators__
    serialized: set[str] = set()
    for dec in decorators.field_serializers.values():
        fnames = dec.info.fields
        serialized.update(cls.model_fields if "*" in fnames else fnames)
    for name, finfo in cls.model_fields.items():
        if any(isinstance(m, _SERIALIZERS) for m in finfo.metadata):
            serialized.add(name)
    info = _ClassInfo(
        fields=fields,
        names=frozenset(cls.model_fields),
        static_exclusions=static,
        private_exclusions=private,
        serialized=frozenset(serialized),
        model_serializer=bool(decorators.model_serializers),
    )
    if static:
        _check_known(cls, info, static)
    _INFOS[cls] = info
    return info


def _check_exclusions(cls: type, value: tp.Any) -> tp.Iterable[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise TypeError(
            f"{cls.__qualname__}.{EXCLUDE_ATTR} must be a list/tuple/set of field names "
            f"(or a method returning one), got {value!r}"
        )
    for name in value:
        if not isinstance(name, str):
            raise TypeError(
                f"{cls.__qualname__}.{EXCLUDE_ATTR} must hold field names (str), got {name!r}"
            )
    return value


def _check_known(cls: type, info: _ClassInfo, names: tp.Iterable[str]) -> None:
    unknown = sorted(set(names) - info.names)
    if unknown:
        raise ValueError(
            f"{cls.__qualname__}.{EXCLUDE_ATTR} names unknown fields {unknown} "
            f"(fields: {sorted(info.names)})"
        )


def _exclusions(model: pydantic.BaseModel, info: _ClassInfo) -> frozenset[str]:
    if info.static_exclusions is not None:
        return info.static_exclusions
    if info.private_exclusions:
        private = model.__pydantic_private__ or {}
        value = private.get(EXCLUDE_ATTR, ())
    else:
        value = getattr(model, EXCLUDE_ATTR)()
    names = frozenset(_check_exclusions(type(model), value))
    _check_known(type(model), info, names)
    return names


def _is_model_type(tp_: tp.Any) -> bool:
    return isinstance(tp_, type) and issubclass(tp_, pydantic.BaseModel)


def _inspect_annotation(finfo: FieldInfo) -> tuple[set[str], list[str]]:
    """Discriminator field names applying in a field, and the model names of a union of
    several models without discriminator (if any)."""
    discs: set[str] = set()
    ambiguous: list[str] = []
    disc = finfo.discriminator
    top_disc = _disc_name(disc)
    if top_disc is not None:
        discs.add(top_disc)
    _walk_annotation(finfo.annotation, disc is not None, discs, ambiguous, set())
    return discs, ambiguous


def _disc_name(disc: tp.Any) -> str | None:
    if isinstance(disc, str):
        return disc
    if isinstance(disc, pydantic.Discriminator) and isinstance(disc.discriminator, str):
        return disc.discriminator
    return None


def _self_discriminated(model: type) -> bool:
    """True for a model class whose config always holds its type key (a subclass of
    :class:`exca.helpers.DiscriminatedModel`, recognized without importing it)."""
    return isinstance(getattr(model, "_discriminator_key", None), str) and hasattr(
        model, "_exca_subclass_hooks"
    )


def _walk_annotation(
    ann: tp.Any, discriminated: bool, discs: set[str], ambiguous: list[str], seen: set[int]
) -> None:
    if id(ann) in seen:
        return
    seen.add(id(ann))
    origin = tp.get_origin(ann)
    if origin is tp.Annotated:
        inner, *meta = tp.get_args(ann)
        for m in meta:
            name = None
            if isinstance(m, FieldInfo) and m.discriminator is not None:
                name = _disc_name(m.discriminator)
                discriminated = True
            elif isinstance(m, pydantic.Discriminator):
                name = _disc_name(m)
                discriminated = True
            if name is not None:
                discs.add(name)
        _walk_annotation(inner, discriminated, discs, ambiguous, seen)
        return
    args = tp.get_args(ann)
    if origin is tp.Union or origin is types.UnionType:
        models = [a for a in args if _is_model_type(a)]
        # a model writing its own type key in its config (exca.helpers.DiscriminatedModel)
        # is told apart from the others: at most one member may lack one (as in 0.6.0)
        plain = [m for m in models if not _self_discriminated(m)]
        if len(models) > 1 and len(plain) > 1 and not discriminated and not ambiguous:
            ambiguous.extend(m.__qualname__ for m in models)
        for a in args:
            _walk_annotation(a, discriminated, discs, ambiguous, seen)
        return
    for a in args:
        _walk_annotation(a, discriminated, discs, ambiguous, seen)


# # # # # export # # # # #


def model_to_dict(
    model: pydantic.BaseModel,
    uid: bool = False,
    exclude_defaults: bool = False,
    exclude: tp.Iterable[str] = (),
) -> dict[str, tp.Any]:
    """Plain nested dict (json-like values) of a pydantic model, following the uid rules
    (see the module documentation).

    Parameters
    ----------
    model: the model to export
    uid: if True, applies the uid rules: ``_exclude_from_cls_uid`` exclusions, check that
        unions of models are discriminated and that all values can be represented by a uid
    exclude_defaults: if True, fields equal to their default are dropped (required fields
        and discriminators are kept)
    exclude: (dotted) names of extra fields to drop from the result, eg: the
        ``exclude_from_cache_uid`` fields of a cache uid
    """
    if not isinstance(model, pydantic.BaseModel):
        raise TypeError(f"Expected a pydantic model, got {type(model)}: {model!r}")
    out = _export_model(model, uid, exclude_defaults, frozenset(), ())
    drop_keys(out, exclude)
    return out


def drop_keys(data: dict[str, tp.Any], keys: tp.Iterable[str], prune: bool = True) -> None:
    """Removes each (dotted) key of ``keys`` from ``data``, and with ``prune`` the
    sub-dicts it leaves empty (excluding ``a.b`` from ``{a: {b: 1}, c: 2}`` gives
    ``{c: 2}``). An infra's ``exclude_from_cache_uid`` and the Hydra launcher's
    ``exclude_from_uid`` keep them (``prune=False``: ``{a: {}, c: 2}``), as exca 0.6.0
    names its folders. A key that is absent (or crosses a non-dict value) is ignored."""
    for key in keys:
        parts = key.split(".")
        parents = [data]
        for part in parts[:-1]:
            sub = parents[-1].get(part)
            if not isinstance(sub, dict):
                break
            parents.append(sub)
        else:
            parents[-1].pop(parts[-1], None)
            if not prune:
                continue
            for parent, part in zip(reversed(parents[:-1]), reversed(parts[:-1])):
                if parent[part]:
                    break
                del parent[part]


def _export_model(
    model: pydantic.BaseModel,
    uid: bool,
    exclude_defaults: bool,
    keep: frozenset[str],
    path: tuple[str, ...],
) -> dict[str, tp.Any]:
    cls = type(model)
    info = _class_info(cls)
    excluded = _exclusions(model, info) if uid else frozenset()
    if info.model_serializer:  # custom serialization of the whole model: trust it
        dumped = model.model_dump(mode="json")
        if not isinstance(dumped, dict):
            return _export_value(dumped, uid, exclude_defaults, frozenset(), path)
        return {
            k: _export_value(v, uid, exclude_defaults, frozenset(), (*path, k))
            for k, v in dumped.items()
            if k not in excluded
        }
    values = model.__dict__
    out: dict[str, tp.Any] = {}
    for field in info.fields:
        name = field.name
        if name in excluded:
            continue
        fpath = (*path, name)
        if uid and field.ambiguous:
            raise ModelExportError(
                f"Field {'.'.join(fpath)!r} of {cls.__qualname__}: union of models "
                f"{list(field.ambiguous)} without a discriminator, the uid cannot tell them "
                'apart; declare one, eg: pydantic.Field(..., discriminator="<field name>")'
            )
        raw = values[name]
        check_default = exclude_defaults and not field.required and name not in keep
        if check_default and _raw_equal(raw, _raw_default(field)):
            continue  # equal to the default (fast path, and the rule when uid=False)
        if name in info.serialized:  # custom field serializer: let pydantic apply it
            serialized = model.model_dump(mode="json", include={name}).get(name)
            out[name] = _export_value(serialized, uid, exclude_defaults, frozenset(), fpath)
            continue
        value = _export_value(raw, uid, exclude_defaults, field.discriminators, fpath)
        # for the uid: what matters is the exported value (eg: a sub-model differing from
        # its default only in excluded fields is dropped)
        if check_default and uid and _equal(value, _exported_default(field, fpath)):
            continue
        out[name] = value
    extra = model.__pydantic_extra__
    if extra:
        for name, value in extra.items():
            out[name] = _export_value(value, uid, exclude_defaults, frozenset(), (*path, name))
    return out


def _raw_default(field: _Field) -> tp.Any:
    if field.factory is None:
        return field.default
    if field.factory_value is _MISSING:
        field.factory_value = field.factory()
    return field.factory_value


def _exported_default(field: _Field, path: tuple[str, ...]) -> tp.Any:
    """Export of the default of a field, in uid mode with exclude_defaults (cached)."""
    if field.exported_default is _MISSING:
        try:
            field.exported_default = _export_value(
                _raw_default(field), True, True, field.discriminators, path
            )
        except (ModelExportError, TypeError):
            field.exported_default = _NEVER  # the uid cannot represent it: never equal
    return field.exported_default


def _export_value(
    value: tp.Any,
    uid: bool,
    exclude_defaults: bool,
    discs: frozenset[str],
    path: tuple[str, ...],
) -> tp.Any:
    cls = type(value)
    if cls in _PRIMITIVES:
        return value
    if isinstance(value, pydantic.BaseModel):
        keep = discs & _class_info(cls).names if discs else discs
        return _export_model(value, uid, exclude_defaults, keep, path)
    if cls is list or cls is tuple or isinstance(value, list | tuple):
        return [
            _export_value(v, uid, exclude_defaults, discs, (*path, str(i)))
            for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        out = {
            _export_key(k, path): _export_value(
                v, uid, exclude_defaults, discs, (*path, _export_key(k, path))
            )
            for k, v in value.items()
        }
        # an OrderedDict keeps its order through configs and uids (its order matters)
        return collections.OrderedDict(out) if isinstance(value, collections.OrderedDict) else out
    if isinstance(value, set | frozenset):
        items = [_export_value(v, uid, exclude_defaults, discs, path) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, enum.Enum):
        return _export_value(value.value, uid, exclude_defaults, discs, path)
    if isinstance(value, pathlib.PurePath):
        return str(value)
    if isinstance(value, str | int | float):  # subclasses
        return value
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return value
        if isinstance(value, np.generic):
            return value.item()
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return value
    return _jsonable(value, uid, path)


def _jsonable(value: tp.Any, uid: bool, path: tuple[str, ...]) -> tp.Any:
    import pydantic_core

    try:
        return pydantic_core.to_jsonable_python(value)
    except (pydantic_core.PydanticSerializationError, TypeError, ValueError) as e:
        if not uid:
            return value  # full config: keep the object as is
        raise ModelExportError(
            f"Field {'.'.join(path)!r}: value of type {type(value).__qualname__} cannot be "
            f"represented in a uid (not json serializable: {e}): {value!r}"
        ) from None


def _export_key(key: tp.Any, path: tuple[str, ...]) -> str:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, bool | int | float):
        return str(key)
    raise ModelExportError(
        f"Field {'.'.join(path)!r}: dict key {key!r} of type {type(key).__qualname__} "
        "cannot be exported (expected str, int, float or enum keys)"
    )


def _equal(a: tp.Any, b: tp.Any) -> bool:
    """Equality of exported values, safe with numpy arrays."""
    if a is b:
        return True
    ta, tb = type(a), type(b)
    if ta in _PRIMITIVES and tb in _PRIMITIVES:
        return bool(a == b) and (ta is bool) == (tb is bool)
    if ta is dict and tb is dict:
        return a.keys() == b.keys() and all(_equal(v, b[k]) for k, v in a.items())
    if ta is list and tb is list:
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    np = sys.modules.get("numpy")
    if np is not None and (isinstance(a, np.ndarray) or isinstance(b, np.ndarray)):
        return bool(
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    try:
        return bool(a == b)
    except Exception:
        return False


def _raw_equal(a: tp.Any, b: tp.Any) -> bool:
    """Equality of field values, comparing models through their fields only (never their
    private attributes, which may hold references back to the owner), safe with arrays."""
    if a is b:
        return True
    ta = type(a)
    if ta is not type(b):
        if ta in _PRIMITIVES and type(b) in _PRIMITIVES:
            return _equal(a, b)
        return False
    if ta in _PRIMITIVES:
        return bool(a == b)
    if isinstance(a, pydantic.BaseModel):
        da, db = a.__dict__, b.__dict__
        if da.keys() != db.keys() or (a.__pydantic_extra__ or {}) != (b.__pydantic_extra__ or {}):
            return False
        return all(_raw_equal(v, db[k]) for k, v in da.items())
    if ta is list or ta is tuple:
        return len(a) == len(b) and all(_raw_equal(x, y) for x, y in zip(a, b))
    if ta is dict:
        return a.keys() == b.keys() and all(_raw_equal(v, b[k]) for k, v in a.items())
    return _equal(a, b)
