"""What every infra shares.

An *infra* is a pydantic model used as a field of the user's model (the
*owner*)::

    class Train(pydantic.BaseModel):
        lr: float = 0.1
        infra: exca.TaskInfra = exca.TaskInfra(version="1")

        @infra.apply
        def run(self) -> float: ...

This module holds what TaskInfra, MapInfra and SubmitInfra have in common: the
execution fields, the decoration of a method, binding an infra instance to its
owner, the uid and the uid folder (the cache layout lives in
:mod:`exca.layout`), config dumps and their check, cloning, and freezing the
owner once its uid is known.

How an infra finds its owner: ``infra.apply`` records the method (a
:class:`MethodSpec`); when the owner class is created, the default infra's
``__set_name__`` registers the spec for (owner class, field name) and adds an
after-validator to the owner that binds each new owner instance to its own
infra instance. The decorated method looks its infra up on the object it is
called on, so copies, pickles and subclasses all find the right one.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import logging
import os
import typing as tp
import weakref
from pathlib import Path

import pydantic
import pydantic_core

from . import layout
from .backends import BACKENDS, EXECUTION_FIELDS, Execution, Resources, default_logs, get_backend
from .confdict import ConfDict, yaml_dump
from .export import drop_keys
from .uidfolder import (
    CODE,
    FULL_UID,
    ConfigMismatchError,
    DamagedEntryError,
    UidFolder,
    find_uid_name,
    remember,
    same_config,
)
from .workdir import WorkDir

logger = logging.getLogger(__name__)

ExcludeSpec = tp.Iterable[str] | tp.Callable[[tp.Any], tp.Iterable[str]] | str
C = tp.TypeVar("C", bound=tp.Callable[..., tp.Any])

# private attributes that survive pickling (everything else, e.g. RAM caches and
# live jobs, is reset to its default)
_PICKLED_PRIVATE = ("_obj", "_field_name", "_uid", "_uid_cfg")


@dataclasses.dataclass
class MethodSpec:
    """What ``@infra.apply`` recorded about the decorated method."""

    method: tp.Callable[..., tp.Any]
    exclude_from_cache_uid: ExcludeSpec = ()
    options: dict[str, tp.Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.method.__name__

    def __deepcopy__(self, memo: tp.Any) -> MethodSpec:
        return self  # never mutated after the decoration: shared by all copies


_ATOMIC = frozenset([type(None), str, int, float, bool, type(Path())])

# (owner class, infra field name) -> spec, filled by apply + __set_name__
_SPECS: dict[tuple[type, str], MethodSpec] = {}


_FOUND: dict[tuple[type, str], MethodSpec | None] = {}  # cache of _find_spec


def _find_spec(owner: type, name: str) -> MethodSpec | None:
    """The spec of the method decorated by the infra field ``name`` of ``owner`` (or a base)."""
    key = (owner, name)
    try:
        return _FOUND[key]
    except KeyError:
        pass
    found = None
    for cls in owner.__mro__:
        found = _SPECS.get((cls, name))
        if found is not None:
            break
    if found is None:
        # a class rebuilt by cloudpickle (defined in a script's __main__, unpickled in a
        # job): __set_name__ did not run, but the decorated method's wrapper knows its spec
        for cls in owner.__mro__:
            for value in vars(cls).values():
                private = getattr(value, "__exca_private__", None)
                if isinstance(private, dict) and private.get("_field_name") == name:
                    found = private.get("_spec")
                    if found is not None:
                        break
            if found is not None:
                break
    _FOUND[key] = found
    return found


class ExcludeFormatError(TypeError, ValueError):
    """An ``exclude_from_cache_uid`` argument of the wrong form (a ``TypeError``, as in exca
    0.6.0; also a ``ValueError``, as this package raised before)."""


def check_exclude(exclude: ExcludeSpec) -> None:
    """Checks the form of an ``exclude_from_cache_uid`` argument."""
    if isinstance(exclude, str) and not exclude.startswith("method:"):
        raise ExcludeFormatError(
            f"exclude_from_cache_uid={exclude!r}: expected a list of field names, a "
            "callable, or 'method:<name>'"
        )


def private_state(model: pydantic.BaseModel) -> dict[str, tp.Any]:
    """The dict of private attribute values of a model."""
    return model.__pydantic_private__  # type: ignore[return-value]


class SignatureError(ValueError, TypeError):
    """A method an infra cannot decorate (its parameters): a ValueError, as exca 0.6.0
    raised, and a TypeError."""


class FrozenModelError(RuntimeError):
    """Raised when a field of a model is changed after its uid was computed."""


class _Private:
    """Fast access to a pydantic private attribute (pydantic's own path is ~50x slower)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, obj: tp.Any, objtype: tp.Any = None) -> tp.Any:
        if obj is None:
            return self
        try:
            return obj.__pydantic_private__[self.name]
        except (KeyError, TypeError):
            raise AttributeError(self.name) from None

    def __set__(self, obj: tp.Any, value: tp.Any) -> None:
        obj.__pydantic_private__[self.name] = value


def _install_fast_private(cls: type[pydantic.BaseModel]) -> None:
    for name in cls.__private_attributes__:
        if not isinstance(cls.__dict__.get(name), _Private):
            setattr(cls, name, _Private(name))
    # pydantic sets the private attributes of a new object with its own function as
    # model_post_init (one default copied per attribute, ~10% of a cached call); when
    # nothing else runs after validation, the same dict from the class's shared defaults
    # (in a subclass, pydantic wraps the base's: its function, then ours)
    post_init = cls.model_post_init
    if post_init is _PYDANTIC_INIT_PRIVATE or (
        getattr(post_init, "__wrapped__", None) is _init_private
    ):
        cls.model_post_init = _init_private  # type: ignore[method-assign]


def _init_private(self: pydantic.BaseModel, context: tp.Any, /) -> None:
    """pydantic's ``init_private_attributes``: the private attributes' defaults."""
    if getattr(self, "__pydantic_private__", None) is None:
        object.__setattr__(self, "__pydantic_private__", _private_defaults(type(self)))


_PYDANTIC_INIT_PRIVATE: tp.Any = None
try:
    from pydantic._internal._model_construction import init_private_attributes

    _PYDANTIC_INIT_PRIVATE = init_private_attributes
except ImportError:  # another pydantic layout: its own function stays
    pass


def _private_defaults(cls: type[pydantic.BaseModel]) -> dict[str, tp.Any]:
    """A fresh dict of the default values of the private attributes of an infra class."""
    defaults = cls.__dict__.get("_exca_private_defaults")
    if defaults is None:
        defaults = {
            k: default
            for k, p in cls.__private_attributes__.items()
            if (default := p.get_default()) is not pydantic_core.PydanticUndefined
        }
        # only immutable defaults (None, False, "", sentinels), so they can be shared
        type.__setattr__(cls, "_exca_private_defaults", defaults)
    return dict(defaults)


def _install_setattr_guard(owner: type) -> None:
    if owner.__dict__.get("_exca_guarded", False):
        return
    previous = owner.__setattr__

    def __setattr__(self: tp.Any, name: str, value: tp.Any) -> None:
        if name in type(self).model_fields:
            for infra_name in _infra_fields(type(self)):
                infra = self.__dict__.get(infra_name)
                if isinstance(infra, BaseInfra) and infra._uid is not None:
                    raise FrozenModelError(
                        f"Cannot set {type(self).__name__}.{name}: the object is frozen since its "
                        f"uid was computed ({infra._uid}). Use "
                        f"obj.{infra_name}.clone_obj({name}=...) to get a modified copy."
                    )
        previous(self, name, value)  # type: ignore[call-arg]

    owner.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
    owner._exca_guarded = True  # type: ignore[attr-defined]


# sub-models of frozen objects: id -> (weak reference, uid of the frozen owner)
_FROZEN_SUBMODELS: dict[int, tuple[weakref.ref[tp.Any], str]] = {}


def _forget(key: int, ref: weakref.ref[tp.Any]) -> None:
    entry = _FROZEN_SUBMODELS.get(key)
    if entry is not None and entry[0] is ref:
        del _FROZEN_SUBMODELS[key]


def _install_submodel_guard(cls: type) -> None:
    if cls.__dict__.get("_exca_sub_guarded", False):
        return
    previous = cls.__setattr__

    def __setattr__(self: pydantic.BaseModel, name: str, value: tp.Any) -> None:
        entry = _FROZEN_SUBMODELS.get(id(self))
        if entry is not None and entry[0]() is self and name in type(self).model_fields:
            raise FrozenModelError(
                f"Cannot set {type(self).__name__}.{name}: this sub-config belongs to an object "
                f"frozen since its uid was computed ({entry[1]}). Use clone_obj on the owner's "
                "infra to get a modified copy."
            )
        previous(self, name, value)  # type: ignore[call-arg,arg-type]

    cls.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
    cls._exca_sub_guarded = True  # type: ignore[attr-defined]


def _submodels(obj: pydantic.BaseModel) -> list[pydantic.BaseModel]:
    """The sub-models (infras aside) in the field values of ``obj``, at any depth."""
    out: list[pydantic.BaseModel] = []
    values = obj.__dict__
    todo: list[tp.Any] = [values[name] for name in type(obj).model_fields]
    while todo:
        value = todo.pop()
        if value.__class__ in _ATOMIC or isinstance(value, BaseInfra):
            continue
        if isinstance(value, pydantic.BaseModel):
            out.append(value)
            values = value.__dict__
            todo.extend(values.get(name) for name in type(value).model_fields)
        elif isinstance(value, list | tuple | set | frozenset):
            todo.extend(value)
        elif isinstance(value, dict):
            todo.extend(value.values())
    return out


def _freeze_submodels(obj: pydantic.BaseModel, uid: str) -> tuple[type, ...]:
    """Setting a field of a sub-model of a frozen object raises from now on. Returns the
    classes of ``obj`` and of its sub-models (see BaseInfra._check_defaults)."""
    classes: list[type] = [type(obj)]
    for value in _submodels(obj):
        cls = type(value)
        classes.append(cls)
        try:
            ref: weakref.ref[tp.Any] = weakref.ref(value, functools.partial(_forget, id(value)))
        except TypeError:  # no weak reference possible: left unguarded
            continue
        _FROZEN_SUBMODELS[id(value)] = (ref, uid)
        if not cls.__dict__.get("_exca_sub_guarded", False):
            _install_submodel_guard(cls)
    return tuple(classes)


# uid folders of this process, by (infra folder, uid): a fresh object of a config already
# seen gets its folder without building a Path again (pathlib is slow on the cached call)
_UID_FOLDERS: dict[tuple[str | Path, str], Path] = {}

# method folder names, by (owner class, method name, version)
_PREFIXES: dict[tuple[type, str, str], tuple[str, str]] = {}

# full-uid.yaml files already checked equal to the config with defaults of an object, by
# (path, device, inode, size, mtime, classes of the object and its sub-models): see
# BaseInfra._check_defaults
_DEFAULTS_CHECKED: dict[tuple[tp.Any, ...], None] = {}


def _infra_fields(owner: type) -> list[str]:
    cached = owner.__dict__.get("_exca_infra_fields")
    if cached is None:
        cached = [
            name
            for name, field in owner.model_fields.items()  # type: ignore[attr-defined]
            if isinstance(field.default, BaseInfra)
            or (isinstance(field.annotation, type) and issubclass(field.annotation, BaseInfra))
        ]
        owner._exca_infra_fields = cached  # type: ignore[attr-defined]
    return tp.cast(list[str], cached)


def infra_holder(obj: tp.Any, name: str) -> dict[str, tp.Any]:
    """The dict holding attribute ``name`` of a model: its fields, or its private
    attributes for an infra declared as one (``_infra: TaskInfra = TaskInfra()``)."""
    if name[:1] == "_":
        private = getattr(obj, "__pydantic_private__", None)
        return {} if private is None else tp.cast(dict[str, tp.Any], private)
    return tp.cast(dict[str, tp.Any], obj.__dict__)


def bound_infra(obj: tp.Any, name: str) -> tp.Any:
    """The infra ``name`` of ``obj``, bound to ``obj`` (an own copy if it was shared)."""
    holder = infra_holder(obj, name)
    infra = holder.get(name)
    if not isinstance(infra, BaseInfra):
        raise TypeError(f"{type(obj).__name__}.{name} is not an infra (got {infra!r})")
    if infra._obj is not obj:
        if infra._obj is not None:
            infra = copy.deepcopy(infra)
            holder[name] = infra
        infra._bind(obj, name)
    return infra


class _Location(pydantic.BaseModel):
    """Fields of the infras saying where results and logs go and which cluster runs
    (declared before the execution fields: they come first in dumps and reprs)."""

    folder: Path | str | None = None
    cluster: str | None = None
    logs: Path | str = "{folder}/logs/{user}/%j"


class BaseInfra(Execution, _Location):
    """Fields and behaviour common to all infras (see :class:`exca.TaskInfra`).

    All fields but ``version`` are excluded from the uid: they say where and how
    the computation runs, not what it computes. The execution fields (``job_name``,
    ``timeout_min``, ``slurm_*``...) are declared by :class:`exca.backends.Execution`.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    workdir: WorkDir | None = None
    version: str = "0"

    # uid rules (see exca.export): an infra contributes only its version
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ()

    _obj: tp.Any = None  # the owner
    _field_name: str = ""  # the owner's field holding this infra
    _spec: MethodSpec | None = None
    _uid: str | None = None  # set by uid(): the owner is frozen from then on
    _uid_cfg: ConfDict | None = None
    _checked: bool = False  # config dumps written or checked
    _classes: tuple[type, ...] | None = None  # of the owner and its sub-models, once frozen

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: tp.Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls._exclude_from_cls_uid = tuple(n for n in cls.model_fields if n != "version")
        _install_fast_private(cls)

    @pydantic.field_validator("version")
    @classmethod
    def _check_version(cls, version: str) -> str:
        return layout.check_version(version)

    @pydantic.model_validator(mode="after")
    def _check_folder(self) -> tp.Self:
        backend = BACKENDS.get(self.cluster)
        if backend is not None and backend.needs_folder and self.folder is None:
            raise ValueError(
                f"cluster={self.cluster!r} requires a folder (jobs and their results are "
                "stored there); only cluster=None works without one"
            )
        return self

    def __setattr__(self, name: str, value: tp.Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)  # fast path to the private attribute
            return
        if self._uid is not None and name in type(self).model_fields:
            raise FrozenModelError(
                f"Cannot set {type(self).__name__}.{name}: the infra is frozen since the uid of "
                f"its object was computed ({self._uid}). Use "
                f"obj.{self._field_name}.clone_obj({{'{self._field_name}.{name}': ...}}) "
                "to get a modified copy."
            )
        super().__setattr__(name, value)

    def __eq__(self, other: object) -> bool:
        # fields only: the private attributes hold the owner (whose comparison would
        # compare this infra again), caches and jobs
        if not isinstance(other, BaseInfra):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr_args__(self) -> tp.Iterable[tuple[str | None, tp.Any]]:
        fields = type(self).model_fields
        for name, value in self.__dict__.items():
            if name in fields and value != fields[name].default:
                yield name, value

    # ---- decoration and binding to the owner ----
    def _decorate(self, method: C, **options: tp.Any) -> C:
        """Records the method (see :class:`MethodSpec`) and returns its wrapper, which
        calls ``_call`` of the infra of the object it is called on."""
        exclude = options.pop("exclude_from_cache_uid", ())
        check_exclude(exclude)
        if self._spec is not None and self._spec.method is not method:
            raise RuntimeError(
                f"This infra already decorates {self._spec.name}; an infra decorates one method"
            )
        self._spec = MethodSpec(method=method, exclude_from_cache_uid=exclude, options=options)
        wrapper = functools.wraps(method)(self._wrapper())
        # the spec travels with the wrapper when the owner class is pickled by value
        # (classes of a script's __main__, sent to a job by cloudpickle): see _find_spec
        wrapper.__exca_private__ = private_state(self)  # type: ignore[attr-defined]
        return tp.cast(C, wrapper)

    def _wrapper(self) -> tp.Callable[..., tp.Any]:
        """The function replacing the decorated method: calls ``_call`` of the infra of
        the object it is called on (the default infra only knows the field name)."""
        default_private = private_state(self)

        def wrapper(obj: tp.Any, *args: tp.Any, **kwargs: tp.Any) -> tp.Any:
            name = default_private["_field_name"]
            infra: tp.Any = (obj.__dict__ if name[0] != "_" else infra_holder(obj, name)).get(name)
            private = getattr(infra, "__pydantic_private__", None)
            if private is None or private.get("_obj") is not obj:
                infra = bound_infra(obj, name)
                private = private_state(infra)
            spec = default_private["_spec"]
            if private["_spec"] is not spec and spec is not None and infra.spec is not spec:
                # the method of a parent class, overridden by a re-decorated one and called
                # through super(): it runs as is (the override's infra caches the result)
                return spec.method(obj, *args, **kwargs)
            return infra._call(*args, **kwargs)

        return wrapper

    def _call(self, *args: tp.Any, **kwargs: tp.Any) -> tp.Any:
        """What calling the decorated method does."""
        raise NotImplementedError

    def __set_name__(self, owner: type, name: str) -> None:
        # called when the class body `infra: TaskInfra = TaskInfra()` is created:
        # inject an after-validator that binds each owner instance to its infra
        if not (isinstance(owner, type) and issubclass(owner, pydantic.BaseModel)):
            raise RuntimeError(
                f"{type(self).__name__} {name!r} is a class attribute of {owner.__qualname__}, "
                "which is not a pydantic model: infras are fields of pydantic.BaseModel "
                "subclasses"
            )
        config = owner.__dict__.get("model_config")
        if isinstance(config, dict) and "extra" not in config:
            # a misspelled parameter of a model carrying an infra is an error (as in exca
            # 0.6.0), unless the model says otherwise (eg: extra="allow")
            config["extra"] = "forbid"
        applied = self._spec is not None
        if applied:
            _SPECS[(owner, name)] = self._spec  # type: ignore[assignment]
            _FOUND.clear()
        self._field_name = name
        if name[:1] == "_":  # a private attribute: bound when the method is first called
            if not applied:
                raise RuntimeError(
                    f"Infra {name!r} of {owner.__qualname__} decorates no method: use "
                    f"@{name}.apply on one of its methods"
                )
            return
        defaults: dict[type, tp.Any] = {}  # owner class -> default of the field

        def _exca_bind(obj: tp.Any) -> tp.Any:
            if not applied and type(obj).model_fields[name].default is self:
                raise RuntimeError(
                    f"Infra {name!r} of {type(obj).__qualname__} was not applied to a method: "
                    f"decorate one with @{name}.apply (a subclass redeclaring the infra must "
                    "re-apply it)"
                )
            infra = obj.__dict__.get(name)
            if isinstance(infra, BaseInfra):
                private = private_state(infra)
                if private["_obj"] is not None and (
                    private["_obj"] is not obj or private["_field_name"] != name
                ):
                    # one infra instance given to several objects, or to several infra
                    # fields of one object: each gets its own
                    infra = copy.deepcopy(infra)
                    obj.__dict__[name] = infra
                    private = private_state(infra)
                cls = type(obj)
                default = defaults.get(cls)
                if default is None:
                    default = defaults[cls] = cls.model_fields[name].default
                if default.__class__ is infra.__class__:
                    # values given for the infra complete the class's default infra
                    fields_set = infra.__pydantic_fields_set__
                    for key in default.__pydantic_fields_set__ - fields_set:
                        value = default.__dict__[key]
                        if value.__class__ not in _ATOMIC:
                            value = copy.deepcopy(value)
                        infra.__dict__[key] = value
                        fields_set.add(key)
                private["_obj"] = obj
                private["_field_name"] = name
                private["_spec"] = _find_spec(cls, name)
            return obj

        setattr(owner, f"_exca_bind_{name}", pydantic.model_validator(mode="after")(_exca_bind))
        _install_setattr_guard(owner)

    def _update(
        self, mapping: BaseInfra | tp.Mapping[str, tp.Any] | None = None, **kwargs: tp.Any
    ) -> None:
        """Sets fields of this infra from another infra, a mapping and/or keywords.

        The exca 0.6.0 pattern copying the settings of a public infra into a private
        one: ``self._infra._update(self.infra)`` in ``model_post_init``. Fields the
        other infra has but this one does not are an error (``ValueError``).
        """
        values: dict[str, tp.Any] = {}
        if isinstance(mapping, BaseInfra):
            values.update(
                (k, v) for k, v in mapping.__dict__.items() if k in type(mapping).model_fields
            )
        elif mapping is not None:
            values.update(mapping)
        values.update(kwargs)
        fields = type(self).model_fields
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field {unknown} (in _update)")
        for key, value in values.items():
            if key == "workdir" and isinstance(value, dict):
                value = WorkDir(**value)
            setattr(self, key, copy.deepcopy(value))

    def _bind(self, obj: tp.Any, name: str) -> None:
        private = private_state(self)
        private["_obj"] = obj
        private["_field_name"] = name
        private["_spec"] = _find_spec(type(obj), name)

    def __deepcopy__(self, memo: dict[int, tp.Any] | None = None) -> tp.Self:
        # pydantic deep-copies a default infra for each new owner: keep it cheap. The copy
        # is bound to the copy of the owner if the owner is being copied, else unbound.
        memo = {} if memo is None else memo
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        values = dict(self.__dict__)
        for key, value in values.items():
            if value.__class__ not in _ATOMIC:
                values[key] = copy.deepcopy(value, memo)
        object.__setattr__(new, "__dict__", values)
        object.__setattr__(new, "__pydantic_fields_set__", set(self.__pydantic_fields_set__))
        object.__setattr__(new, "__pydantic_extra__", None)
        private = _private_defaults(cls)
        own = private_state(self)
        private["_spec"] = own["_spec"]
        private["_field_name"] = own["_field_name"]
        obj = own["_obj"]
        if obj is not None and id(obj) in memo:
            for key in _PICKLED_PRIVATE:
                private[key] = own[key]
            private["_obj"] = memo[id(obj)]
        object.__setattr__(new, "__pydantic_private__", private)
        return new

    def __getstate__(self) -> dict[tp.Any, tp.Any]:
        state = super().__getstate__()
        own = state.get("__pydantic_private__") or {}
        private = _private_defaults(type(self))
        for key in _PICKLED_PRIVATE:  # the method itself may not be picklable: found again
            private[key] = own.get(key, private[key])
        state["__pydantic_private__"] = private
        return state

    @property
    def obj(self) -> tp.Any:
        """The object (owner model) this infra belongs to."""
        obj = self._obj
        if obj is None:
            raise RuntimeError(
                f"This {type(self).__name__} is not attached to an object: use it as a field "
                "of a pydantic model and decorate one of its methods with @infra.apply"
            )
        return obj

    @property
    def spec(self) -> MethodSpec:
        """The decorated method and its options."""
        spec = self._spec
        if spec is None:
            obj = self.obj
            spec = _find_spec(type(obj), self._field_name)
            if spec is None:
                raise RuntimeError(
                    f"{type(obj).__name__}.{self._field_name} decorates no method: "
                    f"use @{self._field_name}.apply on a method of {type(obj).__name__}"
                )
            self._spec = spec
        return spec

    def _name(self) -> str:
        """``Class.method``, for messages."""
        return f"{type(self.obj).__name__}.{self.spec.name}"

    def _where(self) -> str:
        """The uid folder, or where results live without one (for messages)."""
        folder = self.uid_folder()
        return "RAM (no folder set)" if folder is None else str(folder)

    def obj_infras(self) -> dict[str, BaseInfra]:
        """All infras of the object, including those of its sub-models, by (dotted) field name."""
        out: dict[str, BaseInfra] = {}

        def walk(model: pydantic.BaseModel, prefix: str) -> None:
            for name in type(model).model_fields:
                value = getattr(model, name, None)
                if isinstance(value, BaseInfra):
                    out[prefix + name] = value
                elif isinstance(value, pydantic.BaseModel):
                    walk(value, f"{prefix}{name}.")
            # private-attribute infras (``_infra``) too, as in exca 0.6.0
            for name, attr in (type(model).__private_attributes__ or {}).items():
                if isinstance(attr.default, BaseInfra):
                    out[prefix + name] = bound_infra(model, name)

        walk(self.obj, "")
        return out

    # ---- configs and uids ----
    def _cache_exclusions(self) -> list[str]:
        spec = self._spec or _find_spec(type(self.obj), self._field_name)
        if spec is None:  # no decorated method (yet): nothing to exclude
            return []
        exclude = spec.exclude_from_cache_uid
        if isinstance(exclude, str):
            method_name = exclude.split(":", 1)[1]
            method = getattr(self.obj, method_name, None)
            if method is None:
                raise RuntimeError(
                    f"exclude_from_cache_uid='method:{method_name}': "
                    f"{type(self.obj).__name__} has no method {method_name!r}"
                )
            exclude = method()
        elif callable(exclude):
            exclude = exclude(self.obj)
        if isinstance(exclude, str):
            raise TypeError(
                f"exclude_from_cache_uid of {self._name()} must give a list of field names, "
                f"got {exclude!r}"
            )
        return list(exclude)

    def config(self, uid: bool = True, exclude_defaults: bool = False) -> ConfDict:
        """The owner's config as a ConfDict.

        With ``uid=True`` it follows the uid rules (exclusions, infra reduced to
        its version) and drops the method's ``exclude_from_cache_uid`` fields: it
        is the config that names the cache folder. ``exclude_defaults=True``
        drops the fields at their default value.
        """
        cfg = ConfDict.from_model(self.obj, uid=uid, exclude_defaults=exclude_defaults)
        if uid:
            drop_keys(cfg, self._cache_exclusions(), prune=False)
        return cfg

    def _pruned_uid_config(self) -> tuple[ConfDict, list[str]] | None:
        """The uid config this package used before it kept, as exca 0.6.0 does, the
        sub-configs that ``exclude_from_cache_uid`` leaves empty (``{sub: {}}``), and the
        (dotted) keys of those sub-configs; None if it is the same."""
        cfg = self._uid_config()
        exclusions = [key for key in self._cache_exclusions() if "." in key]
        if not exclusions:
            return None
        pruned = ConfDict(copy.deepcopy(dict(cfg)))
        drop_keys(pruned, exclusions)
        if pruned == cfg:
            return None
        dropped = {
            parent
            for key in exclusions
            for parent in (key.rsplit(".", n)[0] for n in range(1, key.count(".") + 1))
            if parent in cfg and parent not in pruned
        }
        return pruned, sorted(dropped)

    def _uid_config(self) -> ConfDict:
        """``config(uid=True, exclude_defaults=True)``, computed once (do not mutate)."""
        cfg = self._uid_cfg
        if cfg is None:
            cfg = self._uid_cfg = self.config(uid=True, exclude_defaults=True)
        return cfg

    def _method_prefix(self) -> str:
        """``<module>.<Class>.<method>,<version>``, named as exca 0.6.0 names it: after the
        object's class, unless the class overrides the decorated method (without this
        infra, eg: a plain override calling ``super()``, or one decorated by another
        infra): then after the class that defines the decorated method."""
        return self._method_prefixes()[0]

    def _method_prefixes(self) -> tuple[str, str]:
        """(the method folder name, and the one this package used before it named
        overridden methods as 0.6.0 does: always after the object's class)."""
        cls = type(self.obj)
        key = (cls, self._field_name, self.version)
        prefixes = _PREFIXES.get(key)
        if prefixes is None:
            spec = self.spec
            own = layout.folder_name(cls.__module__, cls.__qualname__, spec.name, version=key[2])
            prefix = own
            current = getattr(getattr(cls, spec.name, None), "__exca_private__", None)
            if not (isinstance(current, dict) and current.get("_spec") is spec):
                method = spec.method
                prefix = layout.folder_name(method.__module__, method.__qualname__, version=key[2])
            prefixes = (prefix, own)
            remember(_PREFIXES, key, prefixes)
        return prefixes

    def uid(self) -> str:
        """``<module>.<Class>.<method>,<version>/<cache uid>``; the object is frozen from then on."""
        uid = self._uid
        if uid is None:
            prefix, own = self._method_prefixes()
            cfg = self._uid_config()
            if self.folder is None:
                uid = f"{prefix}/{find_uid_name(None, cfg)}"
            else:
                root = os.fspath(self.folder)
                where = os.path.join(root, prefix)
                name = find_uid_name(where, cfg)  # either uid version
                if not os.path.exists(os.path.join(where, name)):
                    found = self._earlier_uid_folder(root, (prefix, own))
                    if found is not None:
                        prefix, name = found
                uid = f"{prefix}/{name}"
            self._uid = uid
            self._classes = _freeze_submodels(self.obj, uid)
        return uid

    def _earlier_uid_folder(self, root: str, prefixes: tuple[str, str]) -> tuple[str, str] | None:
        """(method folder, uid folder) of an existing folder this package named before it
        named as exca 0.6.0 does (an overridden method's folder named after the subclass,
        a sub-config left empty by ``exclude_from_cache_uid`` dropped from the uid), or
        None. A folder found with the earlier uid config is used (with that uid config)
        only if it was written for this object (:meth:`_holds_own_results`)."""
        pruned = self._pruned_uid_config()
        for prefix in dict.fromkeys(prefixes):
            where = os.path.join(root, prefix)
            if prefix != prefixes[0]:
                name = find_uid_name(where, self._uid_config())
                if os.path.exists(os.path.join(where, name)):
                    return prefix, name
            if pruned is None:
                continue
            name = find_uid_name(where, pruned[0])
            if self._holds_own_results(os.path.join(where, name), pruned[1]):
                self._uid_cfg = pruned[0]
                return prefix, name
        return None

    def _holds_own_results(self, folder: str, dropped: list[str]) -> bool:
        """True if ``folder``, found with the earlier uid config, was written for this
        object: its ``full-uid.yaml`` holds this object's, and its ``config.yaml`` the
        same values as this object for the sub-configs the earlier uid left out (an
        object with no such sub-config had the same earlier uid)."""
        try:
            with open(os.path.join(folder, FULL_UID), encoding="utf8") as f:
                text = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return False
        if not same_config(text, self.config(uid=True, exclude_defaults=False)):
            return False
        try:
            dumped = UidFolder(Path(folder)).read_config()
        except DamagedEntryError:
            return False
        if dumped is None:
            return False
        ours = self.config(uid=False, exclude_defaults=False)
        return all(
            ConfDict({"v": dumped.get(key)}).to_yaml() == ConfDict({"v": ours.get(key)}).to_yaml()
            for key in dropped
        )

    def uid_folder(self, create: bool = False) -> Path | None:
        """The cache folder of this object (None without ``folder``).

        With ``create=True`` the folder is created and the config dumps
        (``uid.yaml``, ``full-uid.yaml``, ``config.yaml``) are written, or checked
        against the existing ones.
        """
        if self.folder is None:
            if create:
                raise ValueError(f"{type(self).__name__}.folder must be set to create a folder")
            return None
        key = (self.folder, self.uid())
        folder = _UID_FOLDERS.get(key)
        if folder is None:
            folder = Path(self.folder) / key[1]
            remember(_UID_FOLDERS, key, folder)
        if create:
            self._check_configs(write=True)
        return folder

    def _check_configs(self, write: bool) -> None:
        """Checks the dumped uid config matches ours (writes the dumps if asked and missing).

        Raises :class:`exca.uidfolder.ConfigMismatchError` on a mismatch.
        """
        if self._checked or self.folder is None:
            return
        entry = self._entry()
        done = entry.check_configs(
            self._uid_config(),
            full_uid=lambda: self.config(uid=True, exclude_defaults=False),
            # config.yaml as exca 0.6.0 writes it: plain yaml (no dotted keys)
            full=lambda: yaml_dump(self.config(uid=False, exclude_defaults=False)),
            write=write,
        )
        self._checked = bool(done)
        if done == "checked":  # dumps written earlier: the defaults may have changed since
            self._check_defaults(entry)

    def _entry(self) -> UidFolder:
        """The uid folder (requires ``folder``)."""
        folder = self.uid_folder()
        assert folder is not None
        return UidFolder(folder)

    def _check_defaults(self, entry: UidFolder) -> None:
        """Raises if the class defaults changed since the folder's results were computed:
        ``full-uid.yaml`` (the uid config with the defaults) must still match, as exca
        0.6.0 checks. The uid only holds non-default values, so a changed default would
        otherwise silently return results computed with the old one.

        A file found equal once is not read nor compared again while it is unchanged
        (same device, inode, size and mtime) for objects of the same classes (the object's
        and its sub-models': they hold the defaults) and the same uid config (the uid
        folder, whose ``uid.yaml`` was checked first). Exclusions computed per object
        (``exclude_from_cache_uid`` as a callable or a method) are always checked."""
        stamp = entry.full_uid_stamp()
        if stamp is None:
            return
        key: tuple[tp.Any, ...] | None = None
        spec = self._spec
        if spec is not None and isinstance(spec.exclude_from_cache_uid, list | tuple):
            classes = self._classes
            if classes is None:  # uid set without freezing (eg: an unpickled infra)
                classes = (type(self.obj), *(type(sub) for sub in _submodels(self.obj)))
            key = (*stamp, classes)
            if key in _DEFAULTS_CHECKED:
                return
        current = self.config(uid=True, exclude_defaults=False)
        try:
            same = entry.check_full_uid(current, type(self.obj).__qualname__)
        except ConfigMismatchError:
            self._checked = False
            raise
        if same and key is not None:
            remember(_DEFAULTS_CHECKED, key, None)

    def _resources(self, max_workers: int | None = None) -> Resources:
        res = Resources(
            folder=default_logs(self.folder, self.logs),
            max_workers=max_workers,
            **{name: getattr(self, name) for name in EXECUTION_FIELDS},
        )
        if res.job_name is None and self._obj is not None:
            res.job_name = self._name()
        return res

    def executor(self) -> tp.Any:
        """The configured ``submitit.AutoExecutor`` of this infra (None when the cluster is
        not a submitit one: None, "threadpool", "processpool")."""
        backend = get_backend(self.cluster, self._resources())
        executor = getattr(backend, "executor", None)
        return None if executor is None else executor()

    def clone_obj(self, *args: dict[str, tp.Any], **kwargs: tp.Any) -> tp.Any:
        """A new owner object with updated values (dicts and/or dotted keywords).

        ``obj.infra.clone_obj({"optim.lr": 0.1}, seed=3)``; the clone is not frozen.
        """
        cfg = self.config(uid=False, exclude_defaults=True)
        for arg in args:
            if not isinstance(arg, dict):
                raise TypeError(f"clone_obj takes dicts as positional arguments, got {arg!r}")
            cfg.update(arg)
        cfg.update(kwargs)
        return type(self.obj).model_validate(dict(cfg))

    def iter_cached(self) -> tp.Iterator[pydantic.BaseModel]:
        """Objects of this class, method and version whose results are in the cache folder.

        They are re-created from each uid folder's ``config.yaml``, with this infra's
        settings.
        """
        if self.folder is None:
            return
        method_folder = Path(self.folder) / self._method_prefix()
        if not method_folder.exists():
            return
        own = self.config(uid=False, exclude_defaults=True).get(self._field_name, {})
        for sub in sorted(method_folder.iterdir()):
            try:
                cfg = UidFolder(sub).read_config()
            except DamagedEntryError as e:  # listed on: the other entries are still found
                logger.warning("Skipping %s", e)
                continue
            if cfg is None:
                continue
            cfg[self._field_name] = {**own, "folder": self.folder}
            try:
                obj = type(self.obj).model_validate(dict(cfg))
            except pydantic.ValidationError as e:
                logger.warning("Skipping %s: its config no longer validates:\n%s", sub, e)
                continue
            if getattr(obj, self._field_name)._is_cached():
                yield obj

    def _is_cached(self) -> bool:
        """True if the cache holds results (the result, for TaskInfra)."""
        return False

    def _workdir_context(self) -> tp.ContextManager[tp.Any]:
        """Snapshot of the code while submitting to another process (``workdir``)."""
        import contextlib

        if self.workdir is None or not BACKENDS[self.cluster].remote:
            return contextlib.nullcontext()
        return self.workdir.activate(UidFolder(Path(str(self.folder)) / self.uid()).file(CODE))


_install_fast_private(BaseInfra)
BaseInfra._exclude_from_cls_uid = tuple(n for n in BaseInfra.model_fields if n != "version")
