"""Pydantic models -> OmegaConf structured configs (dataclasses) and Hydra's ConfigStore.

``schema(Model)`` mirrors a model field by field, so that Hydra checks types
when it composes a config (``lr=abc`` fails for a float field, a misspelled
key fails). What OmegaConf cannot express (constraints, validators, unions of
containers, ...) is loosened and listed by ``schema_report(Model)``; pydantic
checks it in :func:`exca.hydra.to_model`.

``register(Model)`` stores the schema in Hydra's ConfigStore, with a
``_target_`` naming the model, and turns each discriminated union of
sub-models into a config group (``optim: Sgd | Adam`` discriminated by
``name`` -> group ``optim`` with options ``sgd`` and ``adam``), and so is
each field typed by a :class:`exca.helpers.DiscriminatedModel` hierarchy (one
option per subclass, named by the class). :func:`register_group` stores such
a group alone, under any group path.

No value changes on the way: every default is checked to compose back into
itself (same value, same type); a field whose value cannot (a ``Callable``,
an arbitrary class, a default whose JSON form validates into something else)
is refused with a :class:`~exca.hydra.errors.SchemaError` naming the field,
its type and the supported alternative.
"""

import copy
import dataclasses
import enum
import inspect
import math
import types
import typing as tp
import warnings
from pathlib import Path, PurePath

import pydantic
from omegaconf import MISSING, OmegaConf

from .errors import SchemaError

__all__ = [
    "Loosened",
    "Registration",
    "register",
    "register_group",
    "schema",
    "schema_report",
]

_PRIMITIVES: tuple[type, ...] = (int, float, bool, str, bytes)
_IMMUTABLE = (type(None), bool, int, float, str, bytes, PurePath, enum.Enum)
# typing constructs, subscripted with types computed at run time
_List: tp.Any = tp.List  # noqa: UP006
_Dict: tp.Any = tp.Dict  # noqa: UP006
_Optional: tp.Any = tp.Optional
_Union: tp.Any = tp.Union


@dataclasses.dataclass(frozen=True)
class Loosened:
    """A part of a model that the structured-config schema cannot check.

    Hydra accepts more than the model at composition time there; pydantic
    still rejects invalid values in :func:`exca.hydra.to_model`.
    """

    path: str  #: dotted field path (empty for the model itself)
    annotation: str  #: the pydantic annotation (or what is loosened)
    schema_type: str  #: what the schema checks instead
    reason: str  #: why, and where it is checked
    model: str = ""  #: qualified name of the model declaring the field

    def __str__(self) -> str:
        return f"{self.path or '<model>'}: {self.annotation} -> {self.schema_type} ({self.reason})"


@dataclasses.dataclass
class _Group:
    """A discriminated union of sub-models, expressed as a Hydra config group."""

    path: str  # dotted path relative to the model owning the field tree
    fixed: dict[str, type[pydantic.BaseModel]]
    base: type | None = None  # a DiscriminatedModel class: the options follow its subclasses

    @property
    def options(self) -> dict[str, type[pydantic.BaseModel]]:
        found = _hierarchy(self.base) if self.base is not None else None
        return found[1] if found is not None else self.fixed


@dataclasses.dataclass
class _Built:
    cls: type
    report: list[Loosened]
    groups: list[_Group]
    converters: dict[str, tp.Callable[[tp.Any], tp.Any]]  # field -> pydantic value to node
    nested: dict[str, type[pydantic.BaseModel]] = dataclasses.field(default_factory=dict)


_CACHE: dict[tuple[type, bool], _Built] = {}
# _target_ -> model, so that to_model finds models which cannot be imported (__main__, locals)
REGISTERED: dict[str, type[pydantic.BaseModel]] = {}
_IN_PROGRESS: set[tuple[type, bool]] = set()


def _tname(ann: tp.Any) -> str:
    if isinstance(ann, type) and not tp.get_args(ann):
        return ann.__name__
    return repr(ann).replace("typing.", "").replace("pathlib.", "")


def _is_model(ann: tp.Any) -> bool:
    return isinstance(ann, type) and issubclass(ann, pydantic.BaseModel)


def _identity(value: tp.Any) -> tp.Any:
    return value


class _Conv(tp.NamedTuple):
    type_: tp.Any
    to_node: tp.Callable[[tp.Any], tp.Any]
    notes: list[tuple[str, str]]  # (schema type text, reason) of what was loosened


def _json_node(ann: tp.Any) -> tp.Callable[[tp.Any], tp.Any]:
    adapter = _adapter(ann)

    def to_node(value: tp.Any) -> tp.Any:
        if value is None or value is MISSING:
            return value
        return adapter.dump_python(value, mode="json")

    return to_node


def _any(ann: tp.Any, reason: str) -> _Conv:
    return _Conv(tp.Any, _json_node(ann), [("Any", reason)])


def _literal(ann: tp.Any, owner: str) -> _Conv:
    values = tp.get_args(ann)
    non_null = [v for v in values if v is not None]
    optional = len(non_null) < len(values)
    if non_null and all(type(v) is str for v in non_null):
        try:
            members = [(v, v) for v in dict.fromkeys(non_null)]
            enum_cls = enum.StrEnum(owner, members)  # type: ignore[misc]
        except (ValueError, TypeError):
            pass  # e.g. a value which cannot be an enum member name
        else:
            enum_cls.__module__ = __name__

            def to_enum(value: tp.Any) -> tp.Any:
                if isinstance(value, str) and value in enum_cls.__members__:
                    return enum_cls[value]
                return value

            return _Conv(_Optional[enum_cls] if optional else enum_cls, to_enum, [])
    base = {type(v.value) if isinstance(v, enum.Enum) else type(v) for v in non_null}
    if len(base) == 1 and next(iter(base)) in _PRIMITIVES:
        tp_ = next(iter(base))
        out: tp.Any = _Optional[tp_] if optional else tp_
        return _Conv(out, _plain_enum, [(_tname(out), "allowed values checked by pydantic")])
    return _Conv(tp.Any, _plain_enum, [("Any", "mixed literal values checked by pydantic")])


def _plain_enum(value: tp.Any) -> tp.Any:
    return value.value if isinstance(value, enum.Enum) else value


def _convert(ann: tp.Any, owner: str, groups: bool) -> _Conv:
    """Structured-config type for a pydantic annotation (``owner`` names generated enums)."""
    origin = tp.get_origin(ann)
    args = tp.get_args(ann)
    if origin is tp.Annotated:
        inner = _convert(args[0], owner, groups)
        if inner.type_ is tp.Any:  # written in the JSON form of the whole annotation
            inner = inner._replace(to_node=_json_node(ann))
        for meta in args[1:]:
            if isinstance(meta, _VALIDATORS):
                name = getattr(meta.func, "__name__", repr(meta.func))
                inner = _loosest(inner, _accepted(meta.func), f"{_mode(meta)} validator {name}")
            else:
                note = (_tname(inner.type_), f"constraint {meta!r} checked by pydantic")
                inner = inner._replace(notes=[*inner.notes, note])
        return inner
    if ann is tp.Any or ann is object:
        return _Conv(tp.Any, _json_node(tp.Any), [])
    if ann is None or ann is type(None):
        return _Conv(tp.Any, _identity, [("Any", "a None-only field")])
    if isinstance(ann, type) and not args:
        if issubclass(ann, enum.Enum):
            values = [m.value for m in ann]
            if all(type(v) is str for v in values) and any(m.name != m.value for m in ann):
                # OmegaConf reads enum members by name, pydantic (and exca's config dumps)
                # by value: an enum of the values, so that ``color=red`` composes
                by_value = _literal(tp.Literal[tuple(values)], owner)
                if by_value.type_ is not tp.Any and not by_value.notes:
                    to_value = by_value.to_node
                    return _Conv(by_value.type_, lambda v: to_value(_plain_enum(v)), [])
            return _Conv(ann, _identity, [])
        if ann is bytes:  # a command line gives strings
            why = "strings accepted (a command line has no bytes), converted by pydantic"
            return _Conv(_Union[bytes, str], _plain_enum, [("Union[bytes, str]", why)])
        if ann in _PRIMITIVES:
            return _Conv(ann, _plain_enum, [])
        if issubclass(ann, PurePath):
            return _Conv(Path, lambda v: Path(v) if isinstance(v, PurePath) else v, [])
        if issubclass(ann, pydantic.SecretStr | pydantic.SecretBytes):
            secret_type = str if issubclass(ann, pydantic.SecretStr) else bytes
            why = "the secret is held in clear in the composed config (and Hydra's config.yaml)"
            return _Conv(secret_type, _reveal, [(secret_type.__name__, why)])
        if _hierarchy(ann) is not None:
            # inside a container (a field of this type is a config group, see _build_uncached)
            why = f"DiscriminatedModel hierarchy {ann.__name__} (each item names its subclass), checked by pydantic"
            return _any(ann, why)
        if issubclass(ann, pydantic.BaseModel):
            key = (ann, groups)
            if key in _IN_PROGRESS:
                return _any(ann, f"recursive model {ann.__name__} checked by pydantic")
            built = _build(ann, groups)
            return _Conv(built.cls, lambda v: _instance(built, v), [])
        if ann in (list, tuple, set, frozenset, dict):
            return _convert(ann[tp.Any], owner, groups)
        return _any(ann, f"type {ann.__name__} not supported by OmegaConf, checked by pydantic")
    if origin is tp.Literal:
        return _literal(ann, owner)
    if origin is tp.Union or origin is types.UnionType:
        members = [a for a in args if a is not type(None)]
        optional = len(members) < len(args)
        if len(members) == 1:
            inner = _convert(members[0], owner, False if _is_model(members[0]) else groups)
            if inner.type_ is tp.Any:
                return inner
            return inner._replace(type_=_Optional[inner.type_])
        convs = [_convert(m, owner, groups) for m in members]
        types_ = [c.type_ for c in convs]
        if all(t in _PRIMITIVES or t is Path for t in types_):
            union: tp.Any = _Union[tuple(types_)]
            if optional:
                union = _Optional[union]
            return _Conv(union, _plain_enum, [n for c in convs for n in c.notes])
        if all(_is_model(m) for m in members):
            reason = "union of models, checked by pydantic (register() makes discriminated unions config groups)"
        else:
            reason = "OmegaConf unions only hold primitive types; checked by pydantic"
        return _any(ann, reason)
    if origin in (list, tuple, set, frozenset) or (
        origin is not None and isinstance(origin, type) and _is_sequence(origin)
    ):
        notes: list[tuple[str, str]] = []
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            item: tp.Any = tp.Any
            if args:
                notes.append(("List[Any]", "fixed-length tuple checked by pydantic"))
        else:
            item = args[0] if args else tp.Any
        if origin in (set, frozenset):
            notes.append(("List", "uniqueness of set items checked by pydantic"))
        inner = _convert(item, owner, False)
        if inner.type_ is tp.Any and inner.notes:
            return _Conv(_List[tp.Any], _json_node(ann), notes + inner.notes)

        def to_list(value: tp.Any, conv: tp.Callable[[tp.Any], tp.Any] = inner.to_node) -> tp.Any:
            if value is None or value is MISSING:
                return value
            items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
            return [conv(v) for v in items]

        return _Conv(_List[inner.type_], to_list, notes + inner.notes)
    if origin is dict or (isinstance(origin, type) and _is_mapping(origin)):
        key_t, val_t = args if len(args) == 2 else (tp.Any, tp.Any)
        notes = []
        key_type = str  # Hydra's dotted overrides (labels.1=cow) give string keys
        if _unannotated(key_t) is not str:
            why = f"keys of type {_tname(key_t)} held as strings, converted by pydantic"
            notes.append(("Dict[str, ...]", why))
        inner = _convert(val_t, owner, False)
        if inner.type_ is tp.Any and inner.notes:
            return _Conv(_Dict[key_type, tp.Any], _json_node(ann), notes + inner.notes)

        def to_dict(value: tp.Any, conv: tp.Callable[[tp.Any], tp.Any] = inner.to_node) -> tp.Any:
            if value is None or value is MISSING:
                return value
            return {_key_text(k): conv(v) for k, v in value.items()}

        return _Conv(_Dict[key_type, inner.type_], to_dict, notes + inner.notes)
    return _any(ann, f"{_tname(ann)} not supported by OmegaConf, checked by pydantic")


def _reveal(value: tp.Any) -> tp.Any:
    if isinstance(value, pydantic.SecretStr | pydantic.SecretBytes):
        return value.get_secret_value()
    return value


def _key_text(key: tp.Any) -> tp.Any:
    key = _plain_enum(key)
    return key if isinstance(key, str) else str(key)


def _unannotated(ann: tp.Any) -> tp.Any:
    while tp.get_origin(ann) is tp.Annotated:
        ann = tp.get_args(ann)[0]
    return ann


# # # # # validators that see the raw value (before, plain, wrap) # # # # #

_VALIDATORS = (pydantic.BeforeValidator, pydantic.PlainValidator, pydantic.WrapValidator)


def _mode(meta: tp.Any) -> str:
    names = {pydantic.BeforeValidator: "before", pydantic.PlainValidator: "plain"}
    return names.get(type(meta), "wrap")


def _accepted(func: tp.Any) -> tp.Any:
    """The annotation of the value a validator function takes (Any when not annotated)."""
    try:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        hints = tp.get_type_hints(getattr(func, "__func__", func))
    except (TypeError, ValueError, NameError):
        return tp.Any
    return hints.get(params[0].name, tp.Any) if params else tp.Any


def _flat(type_: tp.Any) -> list[tp.Any]:
    if tp.get_origin(type_) in (tp.Union, types.UnionType):
        return [t for a in tp.get_args(type_) for t in _flat(a)]
    return [type_]


def _loosest(conv: _Conv, accepted: tp.Any, what: str) -> _Conv:
    """The schema type of a field whose validator takes ``accepted`` before its own type:
    the union of both when OmegaConf can hold it, else Any (defaults still written by
    ``conv``)."""
    members = _flat(conv.type_)
    if accepted is not tp.Any:
        try:
            members += _flat(_convert(accepted, "", False).type_)
        except SchemaError:
            members.append(tp.Any)
    else:
        members.append(tp.Any)
    kinds = list(dict.fromkeys(m for m in members if m is not type(None)))
    optional = type(None) in members
    if all(k in _PRIMITIVES for k in kinds) and kinds:
        type_: tp.Any = kinds[0] if len(kinds) == 1 else _Union[tuple(kinds)]
        type_ = _Optional[type_] if optional else type_
    else:
        type_ = tp.Any
    accepts = "any value" if accepted is tp.Any else _tname(accepted)
    note = (_tname(type_), f"{what} takes {accepts}, converted by pydantic")
    return _Conv(type_, conv.to_node, [*conv.notes, note])


def _field_validators(Model: type[pydantic.BaseModel]) -> dict[str, list[tuple[str, tp.Any]]]:
    """field -> (description, accepted annotation) of the validators that see its raw value."""
    out: dict[str, list[tuple[str, tp.Any]]] = {}
    decorators = Model.__pydantic_decorators__
    for dec in decorators.field_validators.values():
        if dec.info.mode not in ("before", "plain", "wrap"):
            continue
        names = Model.model_fields if "*" in dec.info.fields else dec.info.fields
        for name in names:
            what = f"{dec.info.mode} validator {dec.cls_var_name}"
            out.setdefault(name, []).append((what, _accepted(dec.func)))
    return out  # (validators in Annotated metadata: see _convert)


# # # # # DiscriminatedModel hierarchies # # # # #


def _hierarchy(ann: tp.Any) -> tuple[str, dict[str, type[pydantic.BaseModel]]] | None:
    """(discriminator key, options) of a :class:`exca.helpers.DiscriminatedModel` class:
    the class and its subclasses (defined so far, not abstract), by class name.

    Read through the class attributes DiscriminatedModel keeps (its registries), so that
    the bridge does not import exca.helpers (which imports the infras).
    """
    if not _is_model(ann) or not any("_exca_registry" in b.__dict__ for b in ann.__mro__):
        return None
    options: dict[str, type[pydantic.BaseModel]] = {}
    if not inspect.isabstract(ann):
        options[ann.__name__] = ann
    for base in reversed(ann.__mro__):
        for name, cls in base.__dict__.get("_exca_registry", {}).items():
            if issubclass(cls, ann) and not inspect.isabstract(cls):
                options.setdefault(name, cls)
    return tp.cast(str, ann._discriminator_key), options


def _hierarchy_keys(Model: type[pydantic.BaseModel]) -> set[str]:
    """The discriminator keys of a DiscriminatedModel class (they hold its name)."""
    keys = getattr(Model, "_keys", None)
    if _hierarchy(Model) is None or keys is None:
        return set()
    return set(keys())


def _is_sequence(origin: type) -> bool:
    import collections.abc as abc

    return issubclass(origin, abc.Sequence | abc.Set) and not issubclass(origin, str | bytes)


def _is_mapping(origin: type) -> bool:
    import collections.abc as abc

    return issubclass(origin, abc.Mapping)


def _discriminated(info: "pydantic.fields.FieldInfo") -> tuple[str, dict[str, type]] | None:
    """Discriminator name and options (tag -> member model) of a field that is a config
    group: a union of models discriminated by a ``Literal`` field, or a
    DiscriminatedModel hierarchy (optionally None)."""
    ann: tp.Any = info.annotation
    members: list[tp.Any] = [ann]
    if tp.get_origin(ann) in (tp.Union, types.UnionType):
        members = [a for a in tp.get_args(ann) if a is not type(None)]
    disc: tp.Any = info.discriminator
    if len(members) == 1 and tp.get_origin(members[0]) is tp.Annotated:
        # Optional[Annotated[A | B, Field(discriminator=...)]]: the discriminator is inside
        inner, *metadata = tp.get_args(members[0])
        for meta in metadata:
            disc = getattr(meta, "discriminator", None) or disc
        if tp.get_origin(inner) in (tp.Union, types.UnionType):
            members = [a for a in tp.get_args(inner) if a is not type(None)]
    if len(members) == 1:
        return _hierarchy(members[0])
    if not isinstance(disc, str):
        return None
    if len(members) < 2 or not all(_is_model(m) for m in members):
        return None
    options: dict[str, type] = {}
    for member in members:
        tag_field = member.model_fields.get(disc)
        if tag_field is None or tp.get_origin(tag_field.annotation) is not tp.Literal:
            return None
        for tag in tp.get_args(tag_field.annotation):
            options[str(_plain_enum(tag))] = member
    return disc, options


def _instance(built: _Built, value: tp.Any) -> tp.Any:
    """Dataclass instance of a schema holding the values of a model instance."""
    if value is None or value is MISSING or not isinstance(value, pydantic.BaseModel):
        return value
    kwargs = {}
    for name, conv in built.converters.items():
        kwargs[name] = conv(getattr(value, name))
    return built.cls(**kwargs)


def _field_default(
    info: "pydantic.fields.FieldInfo", to_node: tp.Callable[[tp.Any], tp.Any]
) -> tuple[tp.Any, str]:
    """(dataclasses.field, problem) for a pydantic field's default."""
    if info.default_factory is not None:
        factory = info.default_factory
        if getattr(info, "default_factory_takes_data", False):
            return dataclasses.field(default=MISSING), "default factory needs validated data"
        to_node(factory())  # type: ignore[call-arg]  # fails here (in register) if it cannot
        node_factory = lambda: to_node(factory())  # type: ignore[call-arg]  # noqa: E731
        return dataclasses.field(default_factory=node_factory), ""
    if info.is_required():
        return dataclasses.field(default=MISSING), ""
    node = to_node(info.default)
    if isinstance(node, _IMMUTABLE):
        return dataclasses.field(default=node), ""
    return dataclasses.field(default_factory=lambda: copy.deepcopy(node)), ""


def _single_literal(info: "pydantic.fields.FieldInfo") -> tp.Any:
    args = tp.get_args(info.annotation) if tp.get_origin(info.annotation) is tp.Literal else ()
    return args[0] if len(args) == 1 else MISSING


def _build(Model: type[pydantic.BaseModel], groups: bool) -> _Built:
    key = (Model, groups)
    if key in _CACHE:
        return _CACHE[key]
    _IN_PROGRESS.add(key)
    try:
        built = _build_uncached(Model, groups)
    finally:
        _IN_PROGRESS.discard(key)
    _CACHE[key] = built
    try:
        _check_defaults(Model, built, groups)
    except BaseException:
        _CACHE.pop(key, None)
        raise
    return built


def _alternative(ann: tp.Any) -> str:
    text = _tname(ann)
    if "Callable" in text or ann is types.FunctionType:
        return (
            "use pydantic.ImportString[...] (the config then holds an import path such as "
            "'math.sqrt'), or build the callable from plain fields"
        )
    return (
        "use a type with a plain-data form: a pydantic model, or an Annotated type with a "
        "validator from and a serializer to plain data"
    )


def _adapter(ann: tp.Any) -> tp.Any:
    try:
        return pydantic.TypeAdapter(ann)
    except pydantic.errors.PydanticSchemaGenerationError:  # e.g. an arbitrary class
        return pydantic.TypeAdapter(ann, config=pydantic.ConfigDict(arbitrary_types_allowed=True))


def _check_representable(Model: type, name: str, info: tp.Any, loosened: bool) -> None:
    """Refuses a field no config value can produce (no JSON form: Callable, arbitrary
    classes), unless a validator takes its raw value (``loosened``)."""
    if loosened or "ImportString" in repr(info.annotation) + repr(info.metadata):
        return
    if _sub_model(info.annotation) is not None:
        return  # its own fields were checked when its schema was built
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", pydantic.json_schema.PydanticJsonSchemaWarning)
            _adapter(info.annotation).json_schema()
    except pydantic.errors.PydanticInvalidForJsonSchema:
        problem = "no config value can hold it (it has no plain-data form)"
        raise SchemaError(
            Model.__qualname__,
            name,
            _tname(info.annotation),
            problem,
            _alternative(info.annotation),
        ) from None
    except Exception:  # other schema generation problems: not about representability
        pass


def _build_uncached(Model: type[pydantic.BaseModel], groups: bool) -> _Built:
    specs: list[tuple[str, tp.Any, tp.Any]] = []
    report: list[Loosened] = []
    group_list: list[_Group] = []
    converters: dict[str, tp.Callable[[tp.Any], tp.Any]] = {}
    nested: dict[str, type[pydantic.BaseModel]] = {}
    aliases: dict[str, str] = {}
    owner = Model.__qualname__.replace(".", "_")
    qualname = Model.__qualname__
    validators = _field_validators(Model)
    tag_keys = _hierarchy_keys(Model)

    def loose(path: str, annotation: str, schema_type: str, reason: str) -> None:
        report.append(Loosened(path, annotation, schema_type, reason, qualname))

    for name, info in Model.model_fields.items():
        ann_text = _tname(info.annotation)
        try:
            if name in tag_keys:  # DiscriminatedModel's key: the class name
                specs.append((name, str, dataclasses.field(default=Model.__name__)))
                converters[name] = _identity
                continue
            disc = _discriminated(info) if groups else None
            if disc is not None and any((m, True) in _IN_PROGRESS for m in disc[1].values()):
                disc = None  # recursive: an option holds this field again (typed Any below)
            if disc is not None:
                _, options = disc
                base = _sub_model(info.annotation)
                group_list.append(_Group(name, options, base if _hierarchy(base) else None))
                node_default = None if not info.is_required() and info.default is None else MISSING
                specs.append((name, tp.Any, dataclasses.field(default=node_default)))
                converters[name] = lambda v: None if v is None else MISSING
                for tag, member in options.items():
                    try:
                        sub_report = _build(member, True).report
                    except SchemaError as e:
                        raise _nested_error(e, f"[{tag}]") from None
                    report.extend(_prefixed(sub_report, f"{name}[{tag}]"))
                continue
            if _discriminated(info) is not None:
                why = "discriminated union of models, checked by pydantic (register() makes it a config group)"
                conv = _any(info.annotation, why)
            elif (
                not _is_model(info.annotation)
                and _sub_model(info.annotation) is not None
                and not info.is_required()
                and info.get_default(call_default_factory=True) is None
            ):
                # OmegaConf 2.3 cannot merge a value into a None structured node (so the
                # override ``workdir={a:1}`` would fail): untyped, but settable
                reason = "optional sub-model defaulting to None, checked by pydantic"
                conv = _any(info.annotation, reason)
            else:
                if _sub_model(info.annotation) is None:
                    loosened = name in validators or any(
                        isinstance(m, _VALIDATORS) for m in info.metadata
                    )
                    _check_representable(Model, name, info, loosened)
                full: tp.Any = info.annotation
                if info.metadata:  # constraints and validators, as pydantic sees them
                    full = tp.Annotated[info.annotation, *info.metadata]
                conv = _convert(full, f"{owner}_{name}", groups)
            for what, accepted in validators.get(name, []):
                conv = _loosest(conv, accepted, what)
            loosened = name in validators or any(isinstance(m, _VALIDATORS) for m in info.metadata)
            _check_representable(Model, name, info, loosened)
            type_: tp.Any = conv.type_
            for schema_type, reason in conv.notes:
                loose(name, ann_text, schema_type, reason)
            alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
            if alias is not None and alias != name:
                aliases[alias] = name
                why = (
                    f"alias {alias!r}: the config key is the field name; to_model accepts "
                    "both (and a mapping keyed by the alias)"
                )
                loose(name, ann_text, _tname(type_), why)
            sub_model = _sub_model(info.annotation)
            if sub_model is not None and dataclasses.is_dataclass(_unoptional(type_)):
                nested[name] = sub_model
                sub = _CACHE.get((sub_model, _is_model(info.annotation) and groups))
                if sub is not None:
                    report.extend(_prefixed(sub.report, name))
                    group_list.extend(
                        _Group(f"{name}.{g.path}", g.fixed, g.base) for g in sub.groups
                    )
            if info.is_required() and _single_literal(info) is not MISSING:
                field = dataclasses.field(default=conv.to_node(_single_literal(info)))
            elif info.is_required() and name in nested and _is_model(info.annotation):
                # composed field by field: its own defaults, its required fields ???
                field = dataclasses.field(default_factory=type_)
                why = "required sub-model: composed from its own defaults (its required fields are ???)"
                loose(name, ann_text, _tname(type_), why)
            else:
                try:
                    field, problem = _field_default(info, conv.to_node)
                except Exception as e:
                    text = str(e).splitlines()[0] if str(e) else type(e).__name__
                    problem = f"its default cannot be written to a config ({text})"
                    raise SchemaError(
                        qualname, name, ann_text, problem, _alternative(info.annotation)
                    ) from None
                if problem:
                    loose(name, ann_text, "???", problem)
            if not info.is_required() and info.default is None and type_ is not tp.Any:
                type_ = _Optional[type_]
            specs.append((name, type_, field))
            converters[name] = conv.to_node
        except SchemaError as e:
            raise _nested_error(e, "", qualname, name) from None
    decorators = Model.__pydantic_decorators__
    names = [*decorators.field_validators, *decorators.model_validators]
    names = [n for n in names if not (tag_keys and n == "_dispatch")]  # DiscriminatedModel's
    if names:
        loose("", Model.__name__, "-", f"validators {', '.join(names)} run by pydantic")
    if Model.model_config.get("extra") == "allow":
        loose("", Model.__name__, "-", "extra keys need +key=value overrides")
    if _is_strict(Model):
        loose("", Model.__name__, "-", "strict: to_model validates the config as JSON data")
    cls = _make(Model, specs, report, converters)
    cls.__exca_aliases__ = aliases  # type: ignore[attr-defined]  # read by override suggestions
    return _Built(cls, report, group_list, converters, nested)


def _nested_error(e: SchemaError, suffix: str, model: str = "", name: str = "") -> SchemaError:
    """The same error seen from a parent model (``model.name`` + the path in the child)."""
    if not model:  # the tag of a group option: kept until the field is known
        return SchemaError(e.model, f"{suffix}.{e.path}", e.annotation, e.problem, e.alternative)
    if e.model == model and e.path == name:
        return e
    inner = e.path if e.path.startswith("[") else f".{e.path}"
    return SchemaError(model, f"{name}{inner}", e.annotation, e.problem, e.alternative)


def _unoptional(type_: tp.Any) -> tp.Any:
    args = [a for a in tp.get_args(type_) if a is not type(None)]
    if tp.get_origin(type_) is tp.Union and len(args) == 1:
        return args[0]
    return type_


def _is_strict(Model: type[pydantic.BaseModel]) -> bool:
    """Whether the model validates some value strictly (``strict=True`` in a model config
    or a field, ``pydantic.Strict``, ``StrictInt``...), at any depth."""
    return _strict_in(Model, set())


def _strict_in(ann: tp.Any, seen: set[int]) -> bool:
    if id(ann) in seen:
        return False
    seen.add(id(ann))
    if isinstance(ann, pydantic.Strict):
        return bool(ann.strict)
    if _is_model(ann):
        if ann.model_config.get("strict"):
            return True
        found = _hierarchy(ann)
        options = list(found[1].values()) if found is not None else []
        for info in ann.model_fields.values():
            if any(_strict_in(m, seen) for m in info.metadata):
                return True
            if _strict_in(info.annotation, seen):
                return True
        return any(_strict_in(o, seen) for o in options)
    if tp.get_origin(ann) is tp.Annotated:
        return any(_strict_in(a, seen) for a in (tp.get_args(ann)[0], *ann.__metadata__))
    return any(_strict_in(a, seen) for a in tp.get_args(ann) if not isinstance(a, str | int))


# # # # # no value changed: every default composes back into itself # # # # #


def _check_defaults(Model: type[pydantic.BaseModel], built: _Built, groups: bool) -> None:
    """Raises a SchemaError for a field whose default would compose into another value
    (or another type: ``1`` for a float field becomes ``1.0``, and another uid)."""
    for name, info in Model.model_fields.items():
        if name not in built.converters or getattr(info, "default_factory_takes_data", False):
            continue
        if info.is_required():
            continue  # required fields compose from the config (sub-models: checked there)
        default = info.get_default(call_default_factory=True)
        try:
            data = _node_data(Model, built, name, default)
        except SchemaError:
            raise
        except Exception as e:  # OmegaConf refuses the value (SchemaError: raised as is)
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            problem = f"its default {default!r} cannot be held by the config ({msg})"
            raise SchemaError(
                Model.__qualname__, name, _tname(info.annotation), problem, _fix(info)
            ) from None
        back = _validate_field(Model, name, data)
        if _same(back, default):
            continue
        if _json_same(Model, name, info, back, default):
            why = (
                f"default {default!r} composes as {back!r}, as pydantic's own JSON round trip "
                "gives it (same JSON form, same uid)"
            )
            built.report.append(
                Loosened(name, _tname(info.annotation), "-", why, Model.__qualname__)
            )
            continue
        if info.default_factory is not None and not _same(
            info.get_default(call_default_factory=True), info.get_default(call_default_factory=True)
        ):
            why = "default factory gives a new value each time: the config holds the one drawn at composition"
            built.report.append(
                Loosened(name, _tname(info.annotation), "-", why, Model.__qualname__)
            )
            continue
        seen = back.args[0] if isinstance(back, _Failed) else f"{back!r} ({type(back).__name__})"
        problem = f"its default {default!r} ({type(default).__name__}) would compose back as {seen}"
        raise SchemaError(
            Model.__qualname__, name, _tname(info.annotation), problem, _fix(info, back)
        )


def _json_same(
    Model: type[pydantic.BaseModel], name: str, info: tp.Any, back: tp.Any, default: tp.Any
) -> bool:
    """Whether ``back`` is what pydantic itself gives for the JSON form of ``default``
    (a tuple default of a Sequence field comes back as a list), with the same JSON form."""
    if isinstance(back, _Failed):
        return False
    try:
        adapter: tp.Any = pydantic.TypeAdapter(info.annotation)
        dumped = adapter.dump_python(default, mode="json")
        return _same(_validate_field(Model, name, dumped), back) and _same(
            adapter.dump_python(back, mode="json"), dumped
        )
    except Exception:
        return False


def _fix(info: tp.Any, back: tp.Any = None) -> str:
    if isinstance(back, _Failed):
        return (
            "make the field accept its own plain-data form (e.g. pydantic.Field(strict=False) "
            "for a tuple or an enum in a strict model, or a validator taking the JSON form)"
        )
    if _hierarchy(_sub_model(info.annotation)) is not None or _discriminated(info) is not None:
        return "use a default whose class is one of the group's options"
    return (
        "write the default as the value the field validates into (e.g. 1.0 for a float), or "
        "give its type a serializer whose output validates back into the same value"
    )


_CONTEXT = {"exca.by_name": True}  # as in to_model (see exca.helpers.BY_NAME_CONTEXT)


class _Failed(Exception):
    pass


def _validate_field(Model: type[pydantic.BaseModel], name: str, data: tp.Any) -> tp.Any:
    """The value pydantic gives the field ``name`` from config data (to_model's rules)."""
    obj = Model.model_construct()
    try:
        Model.__pydantic_validator__.validate_assignment(
            obj, name, data, strict=False, by_alias=True, by_name=True, context=_CONTEXT
        )
    except pydantic.ValidationError as e:
        first = e.errors()[0]
        return _Failed(f"an error ({first['msg']})")
    except Exception as e:  # e.g. a model validator that needs all the fields
        info = Model.model_fields[name]
        if isinstance(e, pydantic.errors.PydanticUserError):
            return _Failed(f"an error ({e})")
        try:
            annotated: tp.Any = tp.Annotated[info.annotation, *info.metadata]
            adapter: tp.Any = pydantic.TypeAdapter(annotated)
            return adapter.validate_python(
                data, strict=False, by_alias=True, by_name=True, context=_CONTEXT
            )
        except Exception:
            return _Failed(f"an error ({e})")
    return obj.__dict__.get(name)


def _same(a: tp.Any, b: tp.Any) -> bool:
    """Equal values of the same types, at any depth (an int default of a float field
    composing as the equal float is the same: equal models, same uid)."""
    if type(a) is not type(b):
        numbers = (int, float)
        return type(a) in numbers and type(b) in numbers and a == b
    if isinstance(a, pydantic.BaseModel):
        return _same(a.__dict__, b.__dict__) and a.__pydantic_extra__ == b.__pydantic_extra__
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(v, b[k]) for k, v in a.items())
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    try:
        return bool(a == b)
    except Exception:  # e.g. arrays
        return False


def _node_data(Model: type, built: _Built, name: str, value: tp.Any) -> tp.Any:
    """The plain data a composed config holds for the field ``name`` when its value is
    ``value`` (group options and sub-models composed field by field)."""
    group = next((g for g in built.groups if g.path == name), None)
    if group is not None:
        if value is None:
            return None
        option = _option_of(group, value, Model, name)
        return _composed(option, value)
    if name in built.nested and isinstance(value, pydantic.BaseModel):
        sub = built.nested[name]
        if type(value) is not sub:
            problem = (
                f"its default is a {type(value).__qualname__}, a subclass of {sub.__qualname__}: "
                "the config only holds the fields of the declared class"
            )
            alternative = (
                "declare the field with the subclass, or make the base a "
                "DiscriminatedModel (then a config group with an option per subclass)"
            )
            raise SchemaError(Model.__qualname__, name, sub.__qualname__, problem, alternative)
        return _composed(sub, value)
    holder = dataclasses.make_dataclass("Holder", [(name, _field_type(built.cls, name))])
    cfg = OmegaConf.structured(holder(**{name: built.converters[name](value)}))
    container = OmegaConf.to_container(cfg, resolve=False)
    from .convert import _plain_value

    return _plain_value(tp.cast(dict[str, tp.Any], container)[name])


def _field_type(cls: type, name: str) -> tp.Any:
    return next(f.type for f in dataclasses.fields(cls) if f.name == name)


def _option_of(group: _Group, value: tp.Any, Model: type, name: str) -> type[pydantic.BaseModel]:
    option = next((m for m in group.options.values() if type(value) is m), None)
    if option is None:
        problem = (
            f"its default is a {type(value).__qualname__}, which is not an option of the "
            f"group ({', '.join(group.options)})"
        )
        raise SchemaError(
            Model.__qualname__,
            name,
            type(value).__qualname__,
            problem,
            "use a default of one of these classes (a DiscriminatedModel subclass, or a "
            "member of the union)",
        )
    return option


def _composed(Model: type[pydantic.BaseModel], value: pydantic.BaseModel) -> dict[str, tp.Any]:
    built = _build(Model, True)
    return {name: _node_data(Model, built, name, getattr(value, name)) for name in built.converters}


def _sub_model(ann: tp.Any) -> type[pydantic.BaseModel] | None:
    if _is_model(ann):
        return tp.cast(type[pydantic.BaseModel], ann)
    if tp.get_origin(ann) in (tp.Union, types.UnionType):
        members = [a for a in tp.get_args(ann) if a is not type(None)]
        if len(members) == 1 and _is_model(members[0]):
            return tp.cast(type[pydantic.BaseModel], members[0])
    return None


def _prefixed(report: list[Loosened], prefix: str) -> list[Loosened]:
    return [dataclasses.replace(r, path=f"{prefix}.{r.path}" if r.path else prefix) for r in report]


def _make(
    Model: type[pydantic.BaseModel],
    specs: list[tuple[str, tp.Any, tp.Any]],
    report: list[Loosened],
    converters: dict[str, tp.Callable[[tp.Any], tp.Any]],
) -> type:
    """Make the dataclass; a field OmegaConf still refuses is downgraded to Any (its
    converter then writes the JSON form)."""
    name = f"{Model.__qualname__.replace('.', '_')}Schema"
    cls = dataclasses.make_dataclass(name, specs)
    cls.__module__ = Model.__module__
    cls.__doc__ = f"Structured-config schema of {Model.__module__}.{Model.__qualname__}"
    try:
        OmegaConf.structured(cls)
        return cls
    except Exception:
        pass
    fixed = []
    for fname, type_, field in specs:
        probe = dataclasses.make_dataclass("Probe", [(fname, type_, copy.copy(field))])
        try:
            OmegaConf.structured(probe)
        except Exception as e:
            info = Model.model_fields[fname]
            to_node = _json_node(info.annotation)
            field, _ = _field_default(info, to_node)
            converters[fname] = to_node
            reason = f"refused by OmegaConf ({str(e).splitlines()[0]}), checked by pydantic"
            report.append(
                Loosened(fname, _tname(info.annotation), "Any", reason, Model.__qualname__)
            )
            type_ = tp.Any
        fixed.append((fname, type_, field))
    cls = dataclasses.make_dataclass(name, fixed)
    cls.__module__ = Model.__module__
    return cls


def schema(Model: type[pydantic.BaseModel]) -> type:
    """Structured-config dataclass mirroring a pydantic model field by field.

    Nested models become nested dataclasses, required fields ``MISSING``
    (``???``), defaults and default factories are kept, string ``Literal``
    fields become enums (checked by Hydra at composition), other literals their
    base type. What cannot be expressed is typed ``Any`` or loosened, and
    listed by :func:`schema_report`; pydantic checks it in
    :func:`exca.hydra.to_model`.
    """
    if not _is_model(Model):
        raise TypeError(f"schema() expects a pydantic model class, got {Model!r}")
    return _build(Model, groups=False).cls


def schema_report(Model: type[pydantic.BaseModel], groups: bool = False) -> list[Loosened]:
    """What the schema of ``Model`` cannot check at composition (see :class:`Loosened`).

    ``groups=True`` gives the report of the schema used by :func:`register`,
    where discriminated unions of sub-models are config groups.
    """
    if not _is_model(Model):
        raise TypeError(f"schema_report() expects a pydantic model class, got {Model!r}")
    return list(_build(Model, groups=groups).report)


# # # # # ConfigStore registration # # # # #


@dataclasses.dataclass(frozen=True)
class Registration:
    """What :func:`register` stored in Hydra's ConfigStore."""

    name: str  #: config name of the model's node
    group: str | None  #: config group of the model's node (None: a primary config)
    node: type  #: the stored dataclass (schema + ``_target_`` + defaults list)
    groups: dict[str, list[str]]  #: config groups created: group path -> option names
    loosened: tuple[Loosened, ...]  #: what Hydra cannot check (see :func:`schema_report`)

    @property
    def target(self) -> str:
        """Import path of the model, as written in ``_target_``."""
        fields = {f.name: f for f in dataclasses.fields(self.node)}
        return tp.cast(str, fields["_target_"].default)


def _snake(name: str) -> str:
    out = "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
    return out


def _default_at(root: tp.Any, path: str) -> tp.Any:
    """Default value at a dotted field path of a model class (or instance), None if none."""
    value: tp.Any = root if isinstance(root, pydantic.BaseModel) else None
    model: tp.Any = type(root) if isinstance(root, pydantic.BaseModel) else root
    for part in path.split("."):
        info = model.model_fields[part]
        if value is not None:
            value = getattr(value, part)
        elif not info.is_required():
            value = info.get_default(call_default_factory=True)
        model = _sub_model(info.annotation)
    return value


def _group_choice(root: tp.Any, group: _Group) -> tp.Any:
    """Option selected by default: an option name, None (nothing selected) or MISSING."""
    value = _default_at(root, group.path)
    if isinstance(value, pydantic.BaseModel):
        return next(t for t, m in group.options.items() if type(value) is m)
    # distinguish "default None" from "required"
    model: tp.Any = type(root) if isinstance(root, pydantic.BaseModel) else root
    parts = group.path.split(".")
    for part in parts[:-1]:
        model = _sub_model(model.model_fields[part].annotation)
    info = model.model_fields[parts[-1]]
    return MISSING if info.is_required() else None


def _with_defaults(
    built: _Built, root: tp.Any, extra: list[tuple[str, tp.Any, tp.Any]], name: str
) -> type:
    """Subclass of a schema with extra fields and the defaults list selecting group options."""
    if not built.groups and not extra:
        return built.cls
    specs = list(extra)
    if built.groups:
        defaults: list[tp.Any] = ["_self_"]
        for g in built.groups:
            choice = _group_choice(root, g)
            if choice is not None:
                defaults.append({g.path.replace(".", "/"): choice})
        specs.append(
            ("defaults", list[tp.Any], dataclasses.field(default_factory=lambda: list(defaults)))
        )
    cls = dataclasses.make_dataclass(name, specs, bases=(built.cls,))
    cls.__module__ = built.cls.__module__
    return cls


def _store_groups(root: tp.Any, built: _Built, prefix: str, created: dict[str, list[str]]) -> None:
    for g in built.groups:
        group_path = f"{prefix}/{g.path.replace('.', '/')}" if prefix else g.path.replace(".", "/")
        _store_options(group_path, g.options, _default_at(root, g.path), created, g.base)


# group path -> DiscriminatedModel base: a subclass defined later becomes an option too
_HIERARCHY_GROUPS: dict[str, type] = {}


def _late_subclass(cls: type) -> None:
    """Called by DiscriminatedModel for each new subclass (see ``_exca_subclass_hooks``):
    an option of the groups stored so far for its bases."""
    from hydra.core.config_store import ConfigStore

    for path, base in list(_HIERARCHY_GROUPS.items()):
        if not issubclass(cls, base) or inspect.isabstract(cls):
            continue
        try:
            ConfigStore.instance().list(path)
        except OSError:  # the ConfigStore was reset since: nothing to extend
            continue
        try:
            _store_options(path, {cls.__name__: tp.cast(type[pydantic.BaseModel], cls)}, None, {})
        except SchemaError as e:
            msg = f"{cls.__qualname__} is not an option of the config group {path!r}: {e}"
            warnings.warn(msg, stacklevel=3)


def _store_options(
    group_path: str,
    options: dict[str, type[pydantic.BaseModel]],
    instance: tp.Any,
    created: dict[str, list[str]],
    base: type | None = None,
) -> None:
    """One ConfigStore option per class, its nested groups under ``group_path/<field>``;
    the option of ``instance``'s class holds its values. With a DiscriminatedModel
    ``base``, subclasses defined later are added as they are defined."""
    from hydra.core.config_store import ConfigStore

    if base is not None:
        _HIERARCHY_GROUPS[group_path] = base
        hooks = getattr(base, "_exca_subclass_hooks", None)
        if isinstance(hooks, list) and _late_subclass not in hooks:
            hooks.append(_late_subclass)
    cs = ConfigStore.instance()
    for tag, member in options.items():
        sub = _build(member, True)
        is_default = type(instance) is member
        sub_root = instance if is_default else member
        node_cls = _with_defaults(sub, sub_root, [], f"{sub.cls.__name__}Option")
        node: tp.Any = node_cls
        if is_default:
            node = _instance(_Built(node_cls, [], [], sub.converters), instance)
        cs.store(group=group_path, name=tag, node=node)
        created.setdefault(group_path, []).append(tag)
        _store_groups(sub_root, sub, group_path, created)


def register_group(
    options: tp.Any, group: str, default: pydantic.BaseModel | None = None
) -> dict[str, list[str]]:
    """Store a config group with one option per class of ``options``, each holding
    that class's own fields and defaults (its nested groups below it).

    ``options`` is a :class:`exca.helpers.DiscriminatedModel` class (its options are
    the class and its subclasses defined so far, named by class name) or a
    discriminated union annotation (``tp.Annotated[A | B, pydantic.Field(discriminator="name")]``,
    options named by the tag values). ``group`` is the group path (``"steps/train"``);
    ``default``, an instance of one of the classes, makes that option hold its values.
    Returns the groups created (group path -> option names). :func:`register` calls this
    for every such field of a model; use it directly to offer the same choice at a place
    no model field declares (e.g. one group per step of a pipeline)::

        exca.hydra.register_group(Sched, group="sched")   # sched=Cosine, sched.warmup=50

    Raises :class:`~exca.hydra.errors.SchemaError` as :func:`register` does.
    """
    found = _hierarchy(options)
    if found is None:
        info = pydantic.fields.FieldInfo.from_annotation(options)
        found = _discriminated(info)
    if found is None:
        raise TypeError(
            "register_group() expects a DiscriminatedModel class or a union of models with "
            f"a string discriminator, got {options!r}"
        )
    _, classes = found
    if default is not None and type(default) not in classes.values():
        raise TypeError(
            f"default {default!r} is not an instance of an option of the group "
            f"({', '.join(classes)})"
        )
    for tag, member in classes.items():
        try:
            _build(member, True)
        except SchemaError as e:
            raise _nested_error(e, f"[{tag}]") from None
    created: dict[str, list[str]] = {}
    base = options if _hierarchy(options) is not None else None
    _store_options(group.strip("/"), classes, default, created, base)
    return created


def register(
    Model: type[pydantic.BaseModel],
    name: str | None = None,
    group: str | None = None,
    package: str | None = None,
) -> Registration:
    """Store the schema of ``Model`` in Hydra's ConfigStore, with ``_target_`` naming the model.

    ``name`` defaults to the model's name in snake case. Each discriminated
    union of sub-models and each field typed by a
    :class:`exca.helpers.DiscriminatedModel` hierarchy (at any depth) becomes a
    config group named by its field path (``optim``, ``model/optim``; under
    ``group`` when given) whose options are named by the discriminator values
    (the class names for a hierarchy), each with its own fields and defaults
    (see :func:`register_group`); the model's default sub-model is the group's
    default (the option then holds its values).

    A field whose value a config cannot carry unchanged raises a
    :class:`~exca.hydra.errors.SchemaError` naming the field, its type and the
    alternative; what Hydra cannot check at composition is listed by
    :func:`schema_report` (``Registration.loosened``).
    Compose it like any Hydra config (``config_name=name``, overrides such as
    ``optim=adam optim.lr=0.1``), then validate with
    :func:`exca.hydra.to_model`.
    """
    from hydra.core.config_store import ConfigStore

    if not _is_model(Model):
        raise TypeError(f"register() expects a pydantic model class, got {Model!r}")
    name = name or _snake(Model.__name__)
    built = _build(Model, groups=True)
    target = f"{Model.__module__}.{Model.__qualname__}"
    extra = [("_target_", str, dataclasses.field(default=target))]
    node = _with_defaults(built, Model, extra, f"{built.cls.__name__}Config")
    ConfigStore.instance().store(name=name, node=node, group=group, package=package)
    REGISTERED[target] = Model
    created: dict[str, list[str]] = {}
    _store_groups(Model, built, group or "", created)
    return Registration(name, group, node, created, tuple(built.report))
