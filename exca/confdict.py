"""ConfDict: a dictionary for configurations, splitting dotted keys into sub-dictionaries.

>>> cfg = ConfDict({"training.optim.lr": 0.01})
>>> cfg
{'training': {'optim': {'lr': 0.01}}}
>>> cfg.flat()
{'training.optim.lr': 0.01}
>>> cfg.to_uid()
'training.optim.lr=0.01-346ce994'
"""

from __future__ import annotations

import collections
import collections.abc as _abc
import io
import os
import pathlib
import sys
import typing as tp
import warnings

from . import uid as _uid

if tp.TYPE_CHECKING:
    import pydantic

__all__ = ["ConfDict", "ConfDictOps", "register_converter"]

UID_VERSION_ENV = "CONFDICT_UID_VERSION"
_OrderedDict = collections.OrderedDict
_SENTINEL: tp.Any = object()
_SCALARS = frozenset([str, int, float, bool, type(None)])
Mapping = tp.Mapping[str, tp.Any] | tp.Iterable[tuple[str, tp.Any]] | None
Self = tp.TypeVar("Self", bound="ConfDict")


def _uid_version_from_env() -> int:
    value = os.environ.get(UID_VERSION_ENV)
    if value is None or not value.strip():
        return _uid.DEFAULT_VERSION
    try:
        version = int(value)
    except ValueError:
        version = -1
    if version not in _uid.SUPPORTED_VERSIONS:
        raise ValueError(
            f"Environment variable {UID_VERSION_ENV}={value!r} is not a supported uid version "
            f"(expected one of {_uid.SUPPORTED_VERSIONS})"
        )
    return version


class ConfDictOps:
    """Operation tokens usable in a patch given to :meth:`ConfDict.update` (or to the
    constructor / ``__setitem__``). Keys and values of format ``"=<name>="`` are reserved.

    - ``REPLACE`` (``"=replace="``) as a key with a true value in a sub-dict: the sub-dict
      replaces the existing sub-dict instead of being merged into it;
    - ``DELETE`` (``"=delete="``) as a value: deletes the key;
    - ``BEFORE`` / ``AFTER`` (``"=before="`` / ``"=after="``) as a key of a sub-dict, with a
      sibling key as value: moves the key just before/after that sibling.

    A token that cannot apply yet (eg: nothing to replace, delete or move relative to) stays
    in the config, and is resolved by a later update; a uid cannot be computed on a config
    holding an unresolved token.
    """

    REPLACE = "=replace="
    DELETE = "=delete="
    BEFORE = "=before="
    AFTER = "=after="
    ALL = frozenset([REPLACE, DELETE, BEFORE, AFTER])

    @classmethod
    def is_op(cls, key: tp.Any) -> bool:
        """True if ``key`` has the reserved format ``"=<name>="``."""
        return _uid.is_op_token(key)

    @classmethod
    def check(cls, key: str) -> None:
        """Raises if ``key`` has the reserved format but is not a known operation."""
        if key not in cls.ALL:
            raise ValueError(
                f"Unknown ConfDict operation {key!r} (keys or values of format '=<name>=' "
                f"are reserved for operations: {sorted(cls.ALL)})"
            )


class _DeprecatedAlias:
    """A class attribute kept for exca 0.6.0 code: ``ConfDict.OVERRIDE`` is
    ``ConfDict.ops.REPLACE`` (with a DeprecationWarning)."""

    def __init__(self, name: str, target: str) -> None:
        self.name, self.target = name, target

    def __get__(self, obj: tp.Any, objtype: tp.Any = None) -> str:
        warnings.warn(
            f"ConfDict.{self.name} is deprecated: use ConfDict.ops.{self.target}",
            DeprecationWarning,
            stacklevel=2,
        )
        return tp.cast(str, getattr(ConfDictOps, self.target))


def _check_key(key: tp.Any) -> str:
    if type(key) is not str:
        if isinstance(key, str):
            return str(key)
        raise TypeError(f"ConfDict only supports str keys, got {key!r} (type {type(key).__name__})")
    return key


def _convert(value: tp.Any) -> tp.Any:
    """Converts a value to be stored: mappings become ConfDicts (OrderedDicts stay
    OrderedDicts with converted values), lists/tuples are walked (new containers)."""
    cls = type(value)
    if cls is dict or cls is ConfDict:
        return ConfDict(value)
    if cls is list:
        return [_convert(v) for v in value]
    if cls is tuple:
        return tuple(_convert(v) for v in value)
    if cls in (str, int, float, bool, type(None)):
        return value
    if isinstance(value, _OrderedDict):
        return _OrderedDict((_check_key(k), _convert(v)) for k, v in value.items())
    if isinstance(value, _abc.Mapping):
        return ConfDict(value)
    if isinstance(value, list):
        return [_convert(v) for v in value]
    if isinstance(value, tuple) and not hasattr(value, "_fields"):  # not namedtuples
        return tuple(_convert(v) for v in value)
    return value


def _is_mapping(value: tp.Any) -> bool:
    cls = type(value)
    if cls is dict or cls is ConfDict:
        return True
    return isinstance(value, _abc.Mapping)


# # # # # mappings of other config libraries # # # # #
# The core knows no config library. A layer above registers, for the mapping types
# of a library, the functions that convert them to plain nested dicts and back, as
# "module:function" paths imported on first use (``exca/__init__.py`` registers the
# OmegaConf conversions of ``exca.hydra``, so ``ConfDict(dictconfig)`` imports the
# bridge only when it receives a DictConfig).


class _Converter(tp.NamedTuple):
    library: str
    to_dict: str | tp.Callable[..., tp.Any]
    from_dict: str | tp.Callable[..., tp.Any] | None

    def load(self, which: tp.Literal["to_dict", "from_dict"]) -> tp.Callable[..., tp.Any]:
        target = getattr(self, which)
        if target is None:
            raise TypeError(f"No conversion from ConfDict to {self.library} is registered")
        if callable(target):
            return target
        import importlib

        module, _, name = target.partition(":")
        return getattr(importlib.import_module(module), name)


_CONVERTERS: dict[str, _Converter] = {}


def _root_module(cls: type) -> str:
    return cls.__module__.partition(".")[0]


def _converter(library: str) -> _Converter:
    try:
        return _CONVERTERS[library]
    except KeyError:
        raise TypeError(
            f"No conversion between ConfDict and {library!r} is registered "
            f"(registered: {sorted(_CONVERTERS)}; see exca.confdict.register_converter)"
        ) from None


def register_converter(
    library: str,
    to_dict: str | tp.Callable[..., tp.Any],
    from_dict: str | tp.Callable[..., tp.Any] | None = None,
) -> None:
    """Teaches :class:`ConfDict` the mapping types of another config library.

    Parameters
    ----------
    library: str
        top-level module defining the mapping types (``"omegaconf"``): ``ConfDict(obj)``
        converts any mapping whose type is defined in this module or its submodules.
    to_dict: str or callable
        ``f(obj, **options) -> dict`` giving plain nested dicts/lists, or its
        ``"module:function"`` path, imported on first use (so that registering costs
        no import).
    from_dict: str or callable, optional
        ``f(confdict) -> object`` of the library (or its path), the way back.

    Example
    -------
    ``exca`` itself registers OmegaConf, whose conversions live in :mod:`exca.hydra`::

        register_converter(
            "omegaconf",
            to_dict="exca.hydra.convert:omegaconf_to_dict",
            from_dict="exca.hydra.convert:to_omegaconf",
        )
    """
    if not library or "." in library:
        raise ValueError(f"library must be a top-level module name, got {library!r}")
    for name, target in (("to_dict", to_dict), ("from_dict", from_dict)):
        if isinstance(target, str) and not all(target.partition(":")[::2]):
            raise ValueError(f'{name} must be a "module:function" path, got {target!r}')
    _CONVERTERS[library] = _Converter(library, to_dict, from_dict)


class ConfDict(dict[str, tp.Any]):
    """Dictionary which breaks into sub-dictionaries on ``"."`` as in a config, and merges
    recursively on update. Data can be given through dotted keys, through sub-dicts, or a
    mixture of both; lists of dicts are stored as lists of ConfDicts. It exports to yaml
    and computes uids.

    Example
    -------
    :code:`ConfDict({"training.optim.lr": 0.01}) == {"training": {"optim": {"lr": 0.01}}}`

    Note
    ----
    - setting a dict on an existing sub-dict merges into it (see :meth:`update` and
      :class:`ConfDictOps` for replacing, deleting and reordering);
    - ``UID_VERSION`` (default 2, or the environment variable ``CONFDICT_UID_VERSION``
      read at import time) selects the default uid format of :meth:`to_uid`.
    """

    UID_VERSION: tp.ClassVar[int] = _uid_version_from_env()
    LATEST_UID_VERSION: tp.ClassVar[int] = _uid.LATEST_VERSION
    ops: tp.ClassVar[type[ConfDictOps]] = ConfDictOps
    OVERRIDE: tp.ClassVar[str] = tp.cast(str, _DeprecatedAlias("OVERRIDE", "REPLACE"))

    def __init__(self, mapping: Mapping = None, **kwargs: tp.Any) -> None:
        super().__init__()
        cls = type(mapping)
        if cls is dict or cls is ConfDict:  # fast path
            setitem = self.__setitem__
            for key, val in mapping.items():  # type: ignore[union-attr]
                setitem(key, val)
            if kwargs:
                self.update(kwargs)
            return
        if mapping is not None and _root_module(cls) in _CONVERTERS:
            # a mapping of another config library (e.g. an OmegaConf DictConfig)
            mapping = _CONVERTERS[_root_module(cls)].load("to_dict")(mapping)
        self.update(mapping, **kwargs)

    # # # # # construction, merging # # # # #

    def update(  # type: ignore[override]
        self, mapping: Mapping = None, **kwargs: tp.Any
    ) -> None:
        """Applies a patch with the ConfDict merge rules: dotted keys are split,
        dict values merge recursively into existing sub-dicts, other values replace
        existing ones, and operation tokens (see :class:`ConfDictOps`) apply in order.

        A patch with a misused operation raises ``ValueError`` and leaves the ConfDict
        unchanged; a non-integer key inside a list raises ``TypeError``.

        >>> cfg = ConfDict({"a": {"x": 1}, "b": {"x": 2}})
        >>> cfg.update({"a": {"=replace=": True, "y": 4}, "b.y": 12})
        >>> cfg
        {'a': {'y': 4}, 'b': {'x': 2, 'y': 12}}

        Operations (see :class:`ConfDictOps`) in a patch:

        >>> cfg = ConfDict({"a": {"x": 1}, "b": {"x": 2}, "c": 3})
        >>> cfg.update(
        ...     {
        ...         "a": {ConfDict.ops.REPLACE: True, ConfDict.ops.AFTER: "b", "y": 4},
        ...         "b": {"y": 12},
        ...         "c": ConfDict.ops.DELETE,
        ...     }
        ... )
        >>> cfg
        {'b': {'x': 2, 'y': 12}, 'a': {'y': 4}}
        >>> cfg.update({ConfDict.ops.REPLACE: True, "z": 1})  # at the top level too
        >>> cfg
        {'z': 1}
        """
        if mapping is not None:
            if isinstance(mapping, _abc.Mapping):
                items: tp.Iterable[tuple[str, tp.Any]] = mapping.items()
            elif isinstance(mapping, str | bytes):
                raise TypeError(f"ConfDict cannot be built from a string: {mapping!r}")
            else:
                items = mapping
            if kwargs:
                items = [*items, *kwargs.items()]
        elif kwargs:
            items = kwargs.items()
        else:
            return
        if not isinstance(items, list | tuple | _abc.ItemsView):
            items = list(items)  # iterated twice
        snapshot = _snapshot(self) if _risky(items) else None
        try:
            for key, val in items:
                if type(key) is str and key == ConfDictOps.REPLACE:
                    if val:  # top-level REPLACE: the patch replaces the whole content
                        dict.clear(self)
                    continue
                self[key] = val
        except (ValueError, TypeError, IndexError):
            if snapshot is not None:  # leave the ConfDict unchanged
                dict.clear(self)
                dict.update(self, snapshot)
            raise

    def __setitem__(self, key: str, val: tp.Any) -> None:
        if type(key) is not str:
            key = _check_key(key)
        cls = type(val)
        if cls in _SCALARS and "." not in key and key[:1] != "=":  # fast path
            if cls is str and val[:1] == "=":
                _check_value(key, val)
            if cls is str and val == ConfDictOps.DELETE and key in self:
                dict.__delitem__(self, key)
            else:
                dict.__setitem__(self, key, val)
            return
        if "." in key:
            head, rest = key.split(".", 1)
            sub = dict.get(self, head, None)
            if isinstance(sub, _OrderedDict):
                _merge_ordered(sub, {rest: val})
                return
            if isinstance(sub, list):
                _set_in_list(sub, head, rest, val)
                return
            if not isinstance(sub, ConfDict):
                if type(val) is str and val == ConfDictOps.DELETE:
                    # nothing to delete below a missing / non-dict value
                    if sub is None and head not in self:
                        sub = ConfDict()
                        dict.__setitem__(self, head, sub)
                    else:
                        return
                else:
                    sub = ConfDict()
                    dict.__setitem__(self, head, sub)
            sub[rest] = val
            return
        if _uid.is_op_token(key):
            ConfDictOps.check(key)
            dict.__setitem__(self, key, _convert(val))
            return
        if cls is str:
            if val[:1] == "=":
                _check_value(key, val)
            if val == ConfDictOps.DELETE and key in self:
                dict.__delitem__(self, key)
                return
            dict.__setitem__(self, key, val)
            return
        if (
            cls is dict
            or cls is ConfDict
            or (_is_mapping(val) and not isinstance(val, _OrderedDict))
        ):
            self._merge(key, val)
            return
        dict.__setitem__(self, key, _convert(val))  # an OrderedDict replaces (as in 0.6.0)

    def _merge(self, key: str, val: tp.Mapping[str, tp.Any]) -> None:
        """Sets a mapping value at (non-dotted) key, merging into an existing sub-dict."""
        existing = dict.get(self, key, None)
        ops = [k for k in val if _uid.is_op_token(k)] if existing is not None or val else []
        if isinstance(existing, _OrderedDict):
            _merge_ordered(existing, val)
            return
        if not ops:
            if isinstance(existing, ConfDict):
                existing.update(val)
            else:
                dict.__setitem__(self, key, ConfDict(val))
            return
        for op in ops:
            ConfDictOps.check(op)
        val = dict(val)
        if (
            isinstance(existing, ConfDict)
            and ConfDictOps.REPLACE in val
            and val.pop(ConfDictOps.REPLACE)
        ):
            existing = None  # replaced in place (the key keeps its position)
        move: tuple[str, str] | None = None
        before, after = ConfDictOps.BEFORE in val, ConfDictOps.AFTER in val
        if before and after:
            raise ValueError(
                f"Use either {ConfDictOps.BEFORE!r} or {ConfDictOps.AFTER!r}, not both "
                f"(key {key!r})"
            )
        if before or after:
            op = ConfDictOps.BEFORE if before else ConfDictOps.AFTER
            sibling = val[op]
            if type(sibling) is str and sibling == key:
                raise ValueError(f"Cannot place key {key!r} {op} itself")
            if type(sibling) is str and sibling in self.keys():
                move = (op, sibling)
                del val[op]
        if isinstance(existing, ConfDict):
            existing.update(val)
        else:
            dict.__setitem__(self, key, ConfDict(val))
        if move is not None:
            self._move(key, *move)

    def _move(self, key: str, op: str, sibling: str) -> None:
        items = [(k, v) for k, v in dict.items(self) if k != key]
        moved = dict.__getitem__(self, key)
        dict.clear(self)
        for k, v in items:
            if k == sibling and op == ConfDictOps.BEFORE:
                dict.__setitem__(self, key, moved)
            dict.__setitem__(self, k, v)
            if k == sibling and op == ConfDictOps.AFTER:
                dict.__setitem__(self, key, moved)

    # # # # # dotted access # # # # #

    def _parent(self, key: str) -> tuple[tp.Any, str | int]:
        """(container, last key) holding a dotted key, raising KeyError if missing."""
        parts = key.split(".")
        obj: tp.Any = self
        for i, part in enumerate(parts[:-1]):
            obj = _get_child(obj, part, key, parts[: i + 1])
        last: str | int = parts[-1]
        if isinstance(obj, list | tuple):
            last = _list_index(obj, parts[-1], key)
        elif not isinstance(obj, _abc.Mapping):
            raise KeyError(
                f"Invalid key {key!r}: {'.'.join(parts[:-1])!r} is not a dict "
                f"(got {type(obj).__name__})"
            )
        return obj, last

    def __getitem__(self, key: str) -> tp.Any:
        try:
            return dict.__getitem__(self, key)
        except KeyError:
            if type(key) is not str or "." not in key:
                raise KeyError(key) from None
        obj, last = self._parent(key)
        try:
            if isinstance(obj, ConfDict):
                return dict.__getitem__(obj, tp.cast(str, last))
            return obj[last]
        except (KeyError, IndexError):
            raise KeyError(key) from None

    def get(self, key: str, default: tp.Any = None) -> tp.Any:
        """Value at a (possibly dotted) key, or default if missing."""
        try:
            return self[key]
        except KeyError:
            return default

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        if type(key) is not str or "." not in key:
            return False
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __delitem__(self, key: str) -> None:
        if type(key) is not str or "." not in key or dict.__contains__(self, key):
            dict.__delitem__(self, key)
            return
        obj, last = self._parent(key)
        try:
            if isinstance(obj, ConfDict):
                dict.__delitem__(obj, tp.cast(str, last))
            else:
                del obj[last]
        except (KeyError, IndexError):
            raise KeyError(key) from None

    def pop(self, key: str, default: tp.Any = _SENTINEL) -> tp.Any:
        """Removes a (possibly dotted) key and returns its value (or default if missing)."""
        try:
            value = self[key]
        except KeyError:
            if default is _SENTINEL:
                raise
            return default
        del self[key]
        return value

    def setdefault(self, key: str, default: tp.Any = None) -> tp.Any:
        """Value at a (possibly dotted) key, set to default first if missing."""
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self: Self, other: Mapping) -> Self:  # type: ignore[override]
        self.update(other)
        return self

    def __or__(self: Self, other: Mapping) -> Self:  # type: ignore[override]
        out = self.copy()
        out.update(other)
        return out

    # # # # # exports # # # # #

    def flat(self) -> dict[str, tp.Any]:
        """Returns a flat dictionary such as
        ``{"training.dataloader.lr": 0.01, "training.optim.name": "Ada"}``
        (empty sub-dicts disappear, dicts inside lists are flattened too).
        """
        out: dict[str, tp.Any] = {}
        _flatten_into(self, "", out)
        return out

    def copy(self: Self) -> Self:
        """Copy of the ConfDict and of its nested containers (dicts, lists, tuples);
        leaf values (eg: arrays) are shared."""
        return type(self)(_copy(dict(self)))

    def to_uid(self, version: int | None = None) -> str:
        """Provides a unique, folder-safe string for the config (see :mod:`exca.uid`);
        ``version`` defaults to ``ConfDict.UID_VERSION``."""
        return _uid.to_uid(self, self.UID_VERSION if version is None else version)

    def to_yaml(self, filepath: pathlib.Path | str | None = None) -> str:
        """Exports the ConfDict to a yaml string (single-key sub-dicts are compressed into
        dotted keys), and also writes it to ``filepath`` if provided."""
        text = yaml_dump(_yaml_simplify(self))
        if filepath is not None:
            pathlib.Path(filepath).write_text(text, encoding="utf8")
        return text

    @classmethod
    def from_yaml(cls: type[Self], yaml: str | pathlib.Path | tp.IO[str] | tp.IO[bytes]) -> Self:
        """Loads a ConfDict from a yaml string, a filepath (``Path``, or a ``str`` naming an
        existing file) or a file handle. The yaml must hold a mapping."""
        source: str
        if isinstance(yaml, pathlib.PurePath):
            source = str(yaml)
            text: str | bytes = pathlib.Path(yaml).read_text(encoding="utf8")
        elif isinstance(yaml, str):
            if "\n" not in yaml and os.path.isfile(yaml):
                source = yaml
                text = pathlib.Path(yaml).read_text(encoding="utf8")
            elif "\n" not in yaml and yaml.strip().endswith((".yaml", ".yml")) and ":" not in yaml:
                raise FileNotFoundError(f"No such yaml file: {yaml!r}")
            else:
                source = "yaml string"
                text = yaml
        elif isinstance(yaml, io.IOBase) or hasattr(yaml, "read"):
            source = str(getattr(yaml, "name", "file handle"))
            text = yaml.read()
        else:
            raise TypeError(
                f"from_yaml expects a yaml string, a path or a file handle, got {type(yaml)}"
            )
        if isinstance(text, bytes):
            text = text.decode("utf8")
        data = _yaml_load(text)
        if not isinstance(data, dict):
            shown = text if len(text) < 200 else text[:200] + "..."
            raise TypeError(
                f"Cannot convert non-dict yaml to ConfDict (got {type(data).__name__}, "
                f"from {source}):\n{shown}"
            )
        return cls(data)

    @classmethod
    def from_args(cls: type[Self], args: list[str]) -> Self:
        """Parses a list of Bash-style arguments (eg: ``["--optim.lr=0.01"]``) into a
        ConfDict (values stay strings), typically used as
        :code:`MyConfig(**ConfDict.from_args(sys.argv[1:]))`."""
        if isinstance(args, str | bytes) or not isinstance(args, list | tuple):
            raise ValueError(
                f"from_args expects a list of '--key=value' strings, got {type(args).__name__}: "
                f"{args!r}"
            )
        out = cls()
        for arg in args:
            if not isinstance(arg, str) or not arg.startswith("--") or "=" not in arg:
                raise ValueError(
                    f"Arguments must have format --key=value, got {arg!r} (in {args!r})"
                )
            key, value = arg[2:].split("=", 1)
            if not key or any(not part.strip() for part in key.split(".")):
                raise ValueError(
                    f"Arguments must have format --key=value with a non-empty (dotted) key, "
                    f"got {arg!r}"
                )
            out[key] = value
        return out

    @classmethod
    def from_omegaconf(cls: type[Self], cfg: tp.Any, resolve: bool = True) -> Self:
        """Creates a ConfDict from an OmegaConf ``DictConfig`` (e.g. a Hydra composed config):
        interpolations resolved (unless ``resolve=False``), ``???`` values rejected, enums
        replaced by their values. Same as :func:`exca.hydra.from_omegaconf`, which does the
        work (registered with :func:`register_converter`)."""
        return cls(_converter("omegaconf").load("to_dict")(cfg, resolve=resolve))

    def to_omegaconf(self) -> tp.Any:
        """Returns the config as a nested OmegaConf ``DictConfig``. Same as
        :func:`exca.hydra.to_omegaconf`, which does the work (registered with
        :func:`register_converter`)."""
        return _converter("omegaconf").load("from_dict")(self)

    @classmethod
    def from_model(
        cls: type[Self],
        model: pydantic.BaseModel,
        uid: bool = False,
        exclude_defaults: bool = False,
    ) -> Self:
        """Creates a ConfDict from a pydantic model (see :func:`exca.export.model_to_dict`).

        Parameters
        ----------
        model: pydantic.BaseModel
            the model to convert into a dictionary
        uid: bool
            if True, keeps only what defines the uid: fields named in
            ``_exclude_from_cls_uid`` (list/tuple, private attribute or method returning one)
            are dropped, all-default sub-models dropped, discriminator fields kept
        exclude_defaults: bool
            if True, fields set to their defaults are not included (required fields
            and discriminators are always kept)
        """
        from .export import model_to_dict

        return cls(model_to_dict(model, uid=uid, exclude_defaults=exclude_defaults))


def _get_child(obj: tp.Any, part: str, key: str, seen: list[str]) -> tp.Any:
    if isinstance(obj, ConfDict):
        try:
            return dict.__getitem__(obj, part)
        except KeyError:
            raise KeyError(key) from None
    if isinstance(obj, _abc.Mapping):
        try:
            return obj[part]
        except KeyError:
            raise KeyError(key) from None
    if isinstance(obj, list | tuple):
        try:
            return obj[_list_index(obj, part, key)]
        except IndexError:
            raise KeyError(key) from None
    raise KeyError(
        f"Invalid key {key!r}: {'.'.join(seen[:-1])!r} holds a {type(obj).__name__}, "
        f"which has no subkey {part!r}"
    )


def _list_index(obj: tp.Sequence[tp.Any], part: str, key: str) -> int:
    try:
        return int(part)
    except ValueError:
        raise KeyError(
            f"Invalid key {key!r}: {part!r} is not an index of a {type(obj).__name__}"
        ) from None


def _flatten_into(data: tp.Mapping[str, tp.Any], prefix: str, out: dict[str, tp.Any]) -> None:
    for key, val in data.items():
        full = prefix + key
        if isinstance(val, _abc.Mapping):
            _flatten_into(val, full + ".", out)
        elif type(val) is list or type(val) is tuple:
            out[full] = _flatten_seq(val)
        else:
            out[full] = val


def _flatten_seq(seq: list[tp.Any] | tuple[tp.Any, ...]) -> tp.Any:
    items = []
    for val in seq:
        if isinstance(val, _abc.Mapping):
            sub: dict[str, tp.Any] = {}
            _flatten_into(val, "", sub)
            items.append(sub)
        elif type(val) is list or type(val) is tuple:
            items.append(_flatten_seq(val))
        else:
            items.append(val)
    return type(seq)(items)


_KEY_ONLY_OPS = frozenset([ConfDictOps.REPLACE, ConfDictOps.BEFORE, ConfDictOps.AFTER])


def _check_value(key: str, val: str) -> None:
    """Raises for an operation token that is only valid as a key, used as a value."""
    if val in _KEY_ONLY_OPS:
        raise ValueError(
            f"ConfDict operation {val!r} given as the value of key {key!r}: it is only valid "
            f"as a key of a sub-dict (eg: {{{key!r}: {{{val!r}: ...}}}}); only "
            f"{ConfDictOps.DELETE!r} is a value"
        )


def _set_in_list(seq: list[tp.Any], head: str, rest: str, val: tp.Any) -> None:
    """Sets ``val`` at the dotted key ``rest`` inside the list held by key ``head``."""
    part, _, tail = rest.partition(".")
    try:
        index = int(part)
    except ValueError:
        raise TypeError(
            f"Cannot set key {part!r} inside {head!r}: it holds a list, whose keys are "
            "integer indices"
        ) from None
    item = seq[index]  # IndexError if out of range: lists are not extended
    if tail:
        if isinstance(item, ConfDict):
            item[tail] = val
        elif isinstance(item, list):
            _set_in_list(item, f"{head}.{part}", tail, val)
        else:
            raise TypeError(
                f"Cannot set key {tail!r} inside {head}.{part}: it holds a "
                f"{type(item).__name__}, not a dict or a list"
            )
    elif isinstance(item, ConfDict) and _is_mapping(val):
        item.update(val)
    else:
        seq[index] = _convert(val)


def _merge_ordered(existing: _OrderedDict[str, tp.Any], patch: tp.Mapping[str, tp.Any]) -> None:
    """Patches an OrderedDict in place as exca 0.6.0 does: the patch is applied like on a
    ConfDict of its entries (operations included: ``DELETE``, ``REPLACE``, ``BEFORE`` and
    ``AFTER`` moving entries), then the OrderedDict is refilled in the resulting order.
    Its own keys are kept as they are (a dot in one is not split)."""
    patched = ConfDict()
    for key, value in existing.items():
        dict.__setitem__(patched, key, value)
    patched.update(patch)
    existing.clear()
    existing.update(dict.items(patched))


def _yaml_simplify(data: tp.Any) -> tp.Any:
    """``uid.simplify`` for yaml dumps (as exca 0.6.0 packs them): an OrderedDict is never
    merged into its parent key, but its single-key sub-dicts are merged into its keys
    (``a:\n  b.c: 12``)."""
    if isinstance(data, dict):
        out: dict[str, tp.Any] = _OrderedDict() if isinstance(data, _OrderedDict) else {}
        for key, sub in data.items():
            sub = _yaml_simplify(sub)
            while _uid._is_mergeable(sub):
                subkey, sub = next(iter(sub.items()))
                key = f"{key}.{subkey}"
            out[key] = sub
        return out
    if type(data) is list:
        return [_yaml_simplify(x) for x in data]
    return data


def _risky(items: tp.Iterable[tuple[tp.Any, tp.Any]]) -> bool:
    """True if a patch holds operation tokens (whose misuse raises halfway)."""
    todo: list[tp.Any] = [items]
    while todo:
        for key, val in todo.pop():
            if type(key) is not str or key[:1] == "=" or "=" in key:
                return True
            if type(val) is str:
                if val[:1] == "=":
                    return True
            elif isinstance(val, dict):  # other mappings are read by their converter only
                todo.append(val.items())
    return False


def _snapshot(value: tp.Any) -> tp.Any:
    """A copy of the containers of a ConfDict (same types), to restore it after an error."""
    if isinstance(value, ConfDict):
        out = ConfDict()
        for k, v in value.items():
            dict.__setitem__(out, k, _snapshot(v))
        return out
    if isinstance(value, _OrderedDict):
        return _OrderedDict((k, _snapshot(v)) for k, v in value.items())
    if type(value) is list:
        return [_snapshot(v) for v in value]
    if type(value) is tuple:
        return tuple(_snapshot(v) for v in value)
    return value


def _copy(value: tp.Any) -> tp.Any:
    if isinstance(value, _OrderedDict):
        return _OrderedDict((k, _copy(v)) for k, v in value.items())
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if type(value) is list:
        return [_copy(v) for v in value]
    if type(value) is tuple:
        return tuple(_copy(v) for v in value)
    return value


# # # # # yaml (imported lazily) # # # # #

_DUMPER: tp.Any = None


def _yaml_fallback(dumper: tp.Any, data: tp.Any) -> tp.Any:
    """Representer for types safe_dump does not know (paths, numpy, subclasses)."""
    if isinstance(data, pathlib.PurePath):
        return dumper.represent_str(str(data))
    if isinstance(data, _OrderedDict):
        return dumper.represent_dict(data.items())
    if isinstance(data, _abc.Mapping):
        return dumper.represent_dict(dict(data))
    if isinstance(data, tuple):
        return dumper.represent_list(list(data))
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(data, np.ndarray):
            return dumper.represent_data(data.tolist())
        if isinstance(data, np.generic):
            return dumper.represent_data(data.item())
    for base in (bool, int, float, str, list):
        if isinstance(data, base):
            return dumper.represent_data(base(data))  # type: ignore[arg-type]
    raise TypeError(f"Cannot export value of type {type(data).__qualname__} to yaml: {data!r}")


def yaml_dump(data: tp.Any) -> str:
    """Plain yaml of nested mappings and lists (no dotted keys, order kept)."""
    global _DUMPER
    import yaml

    if _DUMPER is None:

        class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
            pass

        _Dumper.add_multi_representer(object, _yaml_fallback)
        _Dumper.add_representer(tuple, _yaml_fallback)
        _DUMPER = _Dumper
    return yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False)


def _yaml_load(text: str) -> tp.Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)
