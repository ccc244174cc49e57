"""Pydantic models -> OmegaConf structured configs (dataclasses) and Hydra's ConfigStore.

``schema(Model)`` mirrors a model field by field, so that Hydra checks types
when it composes a config (``lr=abc`` fails for a float field, a misspelled
key fails). What OmegaConf cannot express (constraints, validators, unions of
containers, ...) is loosened and listed by ``schema_report(Model)``; pydantic
checks it in :func:`exca.hydra.to_model`.

``register(Model)`` stores the schema in Hydra's ConfigStore, with a
``_target_`` naming the model, and turns each discriminated union of
sub-models into a config group (``optim: Sgd | Adam`` discriminated by
``name`` -> group ``optim`` with options ``sgd`` and ``adam``).
"""

import copy
import dataclasses
import enum
import types
import typing as tp
from pathlib import Path, PurePath

import pydantic
from omegaconf import MISSING, OmegaConf

__all__ = ["Loosened", "Registration", "register", "schema", "schema_report"]

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

    def __str__(self) -> str:
        return f"{self.path or '<model>'}: {self.annotation} -> {self.schema_type} ({self.reason})"


@dataclasses.dataclass
class _Group:
    """A discriminated union of sub-models, expressed as a Hydra config group."""

    path: str  # dotted path relative to the model owning the field tree
    options: dict[str, type[pydantic.BaseModel]]


@dataclasses.dataclass
class _Built:
    cls: type
    report: list[Loosened]
    groups: list[_Group]
    converters: dict[str, tp.Callable[[tp.Any], tp.Any]]  # field -> pydantic value to node


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
    adapter = pydantic.TypeAdapter(ann)

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
        extra = [(_tname(inner.type_), f"constraint {m!r} checked by pydantic") for m in args[1:]]
        return inner._replace(notes=inner.notes + extra)
    if ann is tp.Any or ann is object:
        return _Conv(tp.Any, _json_node(tp.Any), [])
    if ann is None or ann is type(None):
        return _Conv(tp.Any, _identity, [("Any", "a None-only field")])
    if isinstance(ann, type) and not args:
        if issubclass(ann, enum.Enum):
            return _Conv(ann, _identity, [])
        if ann in _PRIMITIVES:
            return _Conv(ann, _plain_enum, [])
        if issubclass(ann, PurePath):
            return _Conv(Path, lambda v: Path(v) if isinstance(v, PurePath) else v, [])
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
        key_conv = _convert(key_t, owner, groups)
        key_type = key_conv.type_
        if key_type is tp.Any or not (key_type in _PRIMITIVES or isinstance(key_type, type)):
            key_type = str
            notes.append(("Dict[str, ...]", f"keys of type {_tname(key_t)} checked by pydantic"))
        inner = _convert(val_t, owner, False)
        if inner.type_ is tp.Any and inner.notes:
            return _Conv(_Dict[key_type, tp.Any], _json_node(ann), notes + inner.notes)

        def to_dict(value: tp.Any, conv: tp.Callable[[tp.Any], tp.Any] = inner.to_node) -> tp.Any:
            if value is None or value is MISSING:
                return value
            return {_plain_enum(k): conv(v) for k, v in value.items()}

        return _Conv(_Dict[key_type, inner.type_], to_dict, notes + inner.notes)
    return _any(ann, f"{_tname(ann)} not supported by OmegaConf, checked by pydantic")


def _is_sequence(origin: type) -> bool:
    import collections.abc as abc

    return issubclass(origin, abc.Sequence | abc.Set) and not issubclass(origin, str | bytes)


def _is_mapping(origin: type) -> bool:
    import collections.abc as abc

    return issubclass(origin, abc.Mapping)


def _discriminated(info: "pydantic.fields.FieldInfo") -> tuple[str, dict[str, type]] | None:
    """Discriminator name and options (tag -> member model) of a union-of-models field."""
    disc = info.discriminator
    if not isinstance(disc, str):
        return None
    ann = info.annotation
    if tp.get_origin(ann) not in (tp.Union, types.UnionType):
        return None
    members = [a for a in tp.get_args(ann) if a is not type(None)]
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
    return built


def _build_uncached(Model: type[pydantic.BaseModel], groups: bool) -> _Built:
    specs: list[tuple[str, tp.Any, tp.Any]] = []
    report: list[Loosened] = []
    group_list: list[_Group] = []
    converters: dict[str, tp.Callable[[tp.Any], tp.Any]] = {}
    owner = Model.__qualname__.replace(".", "_")
    for name, info in Model.model_fields.items():
        ann_text = _tname(info.annotation)
        disc = _discriminated(info) if groups else None
        if disc is not None:
            _, options = disc
            group_list.append(_Group(name, options))
            node_default = None if not info.is_required() and info.default is None else MISSING
            specs.append((name, tp.Any, dataclasses.field(default=node_default)))
            converters[name] = lambda v: None if v is None else MISSING
            for tag, member in options.items():
                report.extend(_prefixed(_build(member, True).report, f"{name}[{tag}]"))
            continue
        if not groups and _discriminated(info) is not None:
            reason = "discriminated union of models, checked by pydantic (register() makes it a config group)"
            conv = _any(info.annotation, reason)
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
            conv = _convert(info.annotation, f"{owner}_{name}", groups)
        type_: tp.Any = conv.type_
        for schema_type, reason in conv.notes:
            report.append(Loosened(name, ann_text, schema_type, reason))
        for meta in info.metadata:
            report.append(
                Loosened(name, ann_text, _tname(type_), f"constraint {meta!r} checked by pydantic")
            )
        if info.alias is not None and info.alias != name:
            report.append(
                Loosened(
                    name, ann_text, _tname(type_), f"alias {info.alias!r} not used by the schema"
                )
            )
        sub_model = _sub_model(info.annotation)
        if sub_model is not None:
            nested = _is_model(info.annotation) and groups  # see _convert: Optional -> no groups
            sub = _CACHE.get((sub_model, nested))
            if sub is not None:
                report.extend(_prefixed(sub.report, name))
                group_list.extend(_Group(f"{name}.{g.path}", g.options) for g in sub.groups)
        if info.is_required() and _single_literal(info) is not MISSING:
            field = dataclasses.field(default=conv.to_node(_single_literal(info)))
        else:
            field, problem = _field_default(info, conv.to_node)
            if problem:
                report.append(Loosened(name, ann_text, "???", problem))
        if not info.is_required() and info.default is None and type_ is not tp.Any:
            type_ = _Optional[type_]
        specs.append((name, type_, field))
        converters[name] = conv.to_node
    decorators = Model.__pydantic_decorators__
    validators = [*decorators.field_validators, *decorators.model_validators]
    if validators:
        report.append(
            Loosened("", Model.__name__, "-", f"validators {', '.join(validators)} run by pydantic")
        )
    if Model.model_config.get("extra") == "allow":
        report.append(Loosened("", Model.__name__, "-", "extra keys need +key=value overrides"))
    cls = _make(Model, specs, report)
    return _Built(cls, report, group_list, converters)


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
    Model: type[pydantic.BaseModel], specs: list[tuple[str, tp.Any, tp.Any]], report: list[Loosened]
) -> type:
    """Make the dataclass; a field OmegaConf still refuses is downgraded to Any."""
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
            reason = f"refused by OmegaConf ({str(e).splitlines()[0]}), checked by pydantic"
            report.append(Loosened(fname, _tname(info.annotation), "Any", reason))
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
    group: str | None  #: config group of the model's node, or None for a primary config
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
        return next(t for t, m in group.options.items() if isinstance(value, m))
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
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for g in built.groups:
        group_path = f"{prefix}/{g.path.replace('.', '/')}" if prefix else g.path.replace(".", "/")
        instance = _default_at(root, g.path)
        for tag, member in g.options.items():
            sub = _build(member, True)
            is_default = isinstance(instance, member)
            sub_root = instance if is_default else member
            node_cls = _with_defaults(sub, sub_root, [], f"{sub.cls.__name__}Option")
            node: tp.Any = node_cls
            if is_default:
                node = _instance(_Built(node_cls, [], [], sub.converters), instance)
            cs.store(group=group_path, name=tag, node=node)
            created.setdefault(group_path, []).append(tag)
            _store_groups(sub_root, sub, group_path, created)


def register(
    Model: type[pydantic.BaseModel],
    name: str | None = None,
    group: str | None = None,
    package: str | None = None,
) -> Registration:
    """Store the schema of ``Model`` in Hydra's ConfigStore, with ``_target_`` naming the model.

    ``name`` defaults to the model's name in snake case. Each discriminated
    union of sub-models (at any depth) becomes a config group named by its
    field path (``optim``, ``model/optim``; under ``group`` when given) whose
    options are named by the discriminator values; the model's default
    sub-model is the group's default (the option then holds its values).
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
