"""The uid algorithm: a deterministic, folder-safe string computed from a configuration.

Pure functions, no dependency on the rest of exca. The format is pinned byte for byte
(see ``UID.md`` in the specification): a uid is ``"<readable part>-<8 hex chars>"``.

Two versions of the format are produced:

- **version 2** (default of this package): keys sorted alphabetically, hash built from
  the values only;
- **version 3** (default of the upstream release): keys sorted by length of
  ``value string + key``, hash built from typed ``key=value`` pairs.

Steps (for both versions):

1. simplify: a sub-dict with exactly one key is merged into its parent key
   (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``), recursively, lists included; an
   ``OrderedDict`` is never merged and keeps its key order;
2. every value gives a ``(string, hash)`` pair (see :func:`uid_parts`);
3. strings are cleaned (only folder-safe characters remain) and cut when too long;
4. ``uid = f"{string}-{md5(hash)[:8]}"``, the outer brackets of the top node being
   stripped; an empty string gives the empty uid ``""``.

numpy is only used if it is already imported (a numpy value cannot exist otherwise),
and torch tensors are supported only if torch is already imported.
"""

from __future__ import annotations

import collections
import collections.abc as _abc
import decimal
import fractions
import hashlib
import logging
import operator
import os
import pathlib
import re
import sys
import typing as tp

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_VERSION",
    "LATEST_VERSION",
    "SUPPORTED_VERSIONS",
    "UidTypeError",
    "UnresolvedConfigError",
    "readable_part",
    "simplify",
    "to_uid",
    "uid_parts",
]

DEFAULT_VERSION = 2
LATEST_VERSION = 3
SUPPORTED_VERSIONS = (2, 3)
TYPE_BYPASS_ENV = "CONFDICT_UID_TYPE_BYPASS"

# cut thresholds
_V2_MAX = 82
_V2_KEEP = 35
_V3_MAX = 128

_md5 = hashlib.md5
_first = operator.itemgetter(0)
_OrderedDict = collections.OrderedDict
_NoneType = type(None)


class UidTypeError(TypeError):
    """A value of a type the uid cannot represent (the message names the type and the key path)."""

    def __init__(self, value: tp.Any, path: tuple[str, ...] = ()) -> None:
        self.value = value
        self.path = path
        super().__init__(self._message())

    def _message(self) -> str:
        where = f" at key {'.'.join(self.path)!r}" if self.path else ""
        return (
            f"Unsupported type {type(self.value).__qualname__} "
            f"(from module {type(self.value).__module__}){where} for uid computation: "
            f"{_short_repr(self.value)}\n(supported: str, int, float, bool, None, Decimal, "
            "Fraction, Path, numpy ints and arrays, lists, tuples, sets and dicts of those; "
            f"set {TYPE_BYPASS_ENV}=1 to use str(value) instead, at your own risks)"
        )

    def prefixed(self, key: str) -> UidTypeError:
        """Same error, one level up in the key path."""
        return UidTypeError(self.value, (key, *self.path))


class UnresolvedConfigError(ValueError):
    """The config still holds a ConfDict operation token (eg: ``"=replace="``)."""

    def __init__(self, token: str, path: tuple[str, ...] = ()) -> None:
        self.token = token
        self.path = path
        where = ".".join(path)
        super().__init__(
            f"Cannot compute uid on unresolved config: operation token {token!r} "
            f"at key {where!r} was never applied (it only applies when merging into an "
            "existing value)"
        )

    def prefixed(self, key: str) -> UnresolvedConfigError:
        """Same error, one level up in the key path."""
        return UnresolvedConfigError(self.token, (key, *self.path))


def _short_repr(value: tp.Any) -> str:
    try:
        out = repr(value)
    except Exception:  # pragma: no cover - defensive
        out = f"<{type(value).__name__} object>"
    return out if len(out) < 200 else out[:200] + "..."


def is_op_token(key: tp.Any) -> bool:
    """True for ConfDict operation tokens such as ``"=replace="`` or ``"=delete="``."""
    return type(key) is str and len(key) > 2 and key[0] == "=" and key[-1] == "="


# the only operation token used as a value (the others are keys): any other string
# value, "=0=" included, is plain data
_VALUE_OP_TOKENS = frozenset(["=delete="])


# # # # # string cleaning # # # # #

_SEPARATORS = str.maketrans({c: "-" for c in "/\\\n\t "})
_V2_FORBIDDEN = re.compile(r"[^a-zA-Z0-9{}\[\]\-=,.]")
_V3_FORBIDDEN = re.compile(r"[^a-zA-Z0-9{}\-=,_.()]")
_V2_SAFE = re.compile(r"[a-zA-Z0-9{}\[\]\-=,.]*")
_V3_SAFE = re.compile(r"[a-zA-Z0-9{}\-=,_.()]*")
_CACHE_MAX = 4096
# keys and short strings repeat a lot across calls: memoize their cleaning, per version
_CLEANED2: dict[str, str] = {}
_CLEANED3: dict[str, str] = {}


def _clean(text: str, version: int) -> str:
    """Folder-safe version of ``text`` (separators become ``-``, other unsafe characters go)."""
    if version == 2:
        if _V2_SAFE.fullmatch(text) is not None:
            return text
        return _V2_FORBIDDEN.sub("", text.translate(_SEPARATORS))
    if _V3_SAFE.fullmatch(text) is not None:
        return text
    return _V3_FORBIDDEN.sub("", text.translate(_SEPARATORS))


def _clean2(text: str) -> str:
    out = _CLEANED2.get(text)
    if out is None:
        out = _clean(text, 2)
        if len(text) < 100:
            if len(_CLEANED2) >= _CACHE_MAX:
                _CLEANED2.clear()
            _CLEANED2[text] = out
    return out


def _clean3(text: str) -> str:
    out = _CLEANED3.get(text)
    if out is None:
        out = _clean(text, 3)
        if len(text) < 100:
            if len(_CLEANED3) >= _CACHE_MAX:
                _CLEANED3.clear()
            _CLEANED3[text] = out
    return out


def _cut2(text: str) -> str:
    if len(text) > _V2_MAX:
        return text[:_V2_KEEP] + "[.]" + text[-_V2_KEEP:]
    return text


def _cut3(text: str) -> str:
    if len(text) > _V3_MAX:
        return f"{text[:_V3_MAX]}...{len(text) - _V3_MAX}"
    return text


# # # # # value categories # # # # #
# each type is classified once into a category, memoized per type

_STR, _INT, _FLOAT, _NUMBER, _NONE, _SEQ, _SET, _DICT, _ODICT, _PATH, _ARRAY, _TENSOR = range(12)
_UNKNOWN = -1

_CATEGORIES: dict[type, int] = {
    str: _STR,
    int: _INT,
    bool: _INT,
    float: _FLOAT,
    _NoneType: _NONE,
    list: _SEQ,
    tuple: _SEQ,
    set: _SET,
    frozenset: _SET,
    dict: _DICT,
    _OrderedDict: _ODICT,
    decimal.Decimal: _NUMBER,
    fractions.Fraction: _NUMBER,
}


def _category(value: tp.Any) -> int:
    cls = type(value)
    cat = _CATEGORIES.get(cls)
    if cat is not None:
        return cat
    cat = _classify(value)
    if cat not in (_UNKNOWN, _TENSOR):
        _CATEGORIES[cls] = cat
    return cat


def _classify(value: tp.Any) -> int:
    if isinstance(value, _OrderedDict):
        return _ODICT
    if isinstance(value, _abc.Mapping):
        return _DICT
    if isinstance(value, str):
        return _STR
    if isinstance(value, bool | int):
        return _INT
    if isinstance(value, float):
        return _FLOAT
    if isinstance(value, decimal.Decimal | fractions.Fraction):
        return _NUMBER
    if isinstance(value, list | tuple):
        return _SEQ
    if isinstance(value, set | frozenset):
        return _SET
    if isinstance(value, pathlib.PurePath):
        return _PATH
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.integer):
            return _INT
        if isinstance(value, np.ndarray):
            return _ARRAY
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        return _TENSOR
    return _UNKNOWN


def _number_string(value: tp.Any) -> str:
    """String of a non-integer-valued float (or a Decimal/Fraction)."""
    value = float(value)  # Decimal and Fraction are formatted as floats
    if 1e-3 <= abs(value) <= 1e4:
        return f"{value:.2f}"
    return f"{value:.2e}"


def _number_hash(value: tp.Any) -> str:
    if value != value:  # nan: Python's hash(nan) depends on the object id, use a fixed one
        return "nan"
    return str(hash(value))


def _array_bytes_md5(value: tp.Any) -> tuple[tp.Any, str]:
    np = sys.modules["numpy"]
    arr = np.ascontiguousarray(value)
    return arr, _md5(arr.data).hexdigest()


def _tensor_to_array(value: tp.Any) -> tp.Any:
    return value.detach().cpu().numpy()


def _bypass(value: tp.Any) -> str:
    if not os.environ.get(TYPE_BYPASS_ENV):
        raise UidTypeError(value)
    logger.warning(
        "Converting type %s to string for uid computation (%s is set)",
        type(value),
        TYPE_BYPASS_ENV,
    )
    return str(value)


# # # # # version 2 # # # # #


def _parts2(value: tp.Any, merge: bool = True) -> tuple[str, str]:
    """(string, hash) of a value, version 2 (string already cleaned and cut)."""
    cat = _CATEGORIES.get(type(value))
    if cat is None:
        cat = _category(value)
    if cat == _STR:
        if value in _VALUE_OP_TOKENS:
            raise UnresolvedConfigError(value)
        s = _clean2(value)
        return (s if len(s) <= _V2_MAX else _cut2(s)), value
    if cat == _INT:
        s = str(value)
        return (s if len(s) <= _V2_MAX else _cut2(s)), s
    if cat == _FLOAT:
        if value.is_integer():
            s = str(int(value))
            return _cut2(s), s
        return _clean2(_number_string(value)), _number_hash(value)
    if cat == _NONE:
        return "None", "None"
    if cat in (_DICT, _ODICT):
        return _dict2(value, merge)
    if cat == _SEQ:
        # the simplification walks lists, not tuples
        return _seq2(value, merge and type(value) is not tuple)
    if cat == _SET:
        return _seq2(_sorted_set(value, _parts2), merge)
    if cat == _NUMBER:
        return _clean2(_number_string(value)), _number_hash(value)
    if cat == _PATH:
        return _parts2(str(value))
    if cat == _TENSOR:
        return _parts2(_tensor_to_array(value))
    if cat == _ARRAY:
        _, h = _array_bytes_md5(value)
        return "data-" + h[:8], h
    s = _bypass(value)
    return _cut2(_clean2(s)), s


def _seq2(value: tp.Iterable[tp.Any], merge: bool) -> tuple[str, str]:
    strings: list[str] = []
    hashes: list[str] = []
    for item in value:
        s, h = _parts2(item, merge)
        strings.append(s)
        hashes.append(h)
    return _cut2("[" + ",".join(strings) + "]"), ",".join(hashes)


def _dict2(value: tp.Mapping[str, tp.Any], merge: bool) -> tuple[str, str]:
    # version 2 sorts keys alphabetically, even for an OrderedDict
    items = _simplified_items(value, merge)
    items.sort(key=_first)
    strings: list[str] = []
    hashes: list[str] = []
    for key, sub in items:
        try:
            s, h = _parts2(sub, merge)
        except (UidTypeError, UnresolvedConfigError) as e:
            raise e.prefixed(key) from None
        strings.append(_clean2(key) + "=" + s)
        hashes.append(h)
    return _cut2("{" + ",".join(strings) + "}"), ",".join(hashes)


# # # # # version 3 # # # # #


def _parts3(value: tp.Any, merge: bool = True) -> tuple[str, str]:
    """(string, hash) of a value, version 3 (string already cleaned, cut and bracketed)."""
    cat = _CATEGORIES.get(type(value))
    if cat is None:
        cat = _category(value)
    if cat == _STR:
        if value in _VALUE_OP_TOKENS:
            raise UnresolvedConfigError(value)
        s = _clean3(value)
        return (s if len(s) <= _V3_MAX else _cut3(s)), "str:" + value
    if cat == _INT:
        s = str(value)
        return (s if len(s) <= _V3_MAX else _cut3(s)), "int:" + s
    if cat == _FLOAT:
        if value.is_integer():
            s = str(int(value))
            return _cut3(s), "int:" + s
        return _clean3(_number_string(value)), "float:" + _number_hash(value)
    if cat == _NONE:
        return "None", "int:None"
    if cat in (_DICT, _ODICT):
        return _dict3(value, merge)
    if cat == _SEQ:
        # the simplification walks lists, not tuples
        return _seq3(value, merge and type(value) is not tuple)
    if cat == _SET:
        return _seq3(_sorted_set(value, _parts3), merge)
    if cat == _NUMBER:
        return _clean3(_number_string(value)), "float:" + _number_hash(value)
    if cat == _PATH:
        return _parts3(str(value))
    if cat == _TENSOR:
        return _parts3(_tensor_to_array(value))
    if cat == _ARRAY:
        arr, h = _array_bytes_md5(value)
        h = ",".join(str(d) for d in arr.shape) + "-" + h[:8]
        return "data-" + h, "array:" + h
    s = _bypass(value)
    return _cut3(_clean3(s)), "unknown:" + s


def _seq3(value: tp.Iterable[tp.Any], merge: bool) -> tuple[str, str]:
    strings: list[str] = []
    hashes: list[str] = []
    for item in value:
        s, h = _parts3(item, merge)
        strings.append(s)
        hashes.append(h)
    return "(" + _cut3(",".join(strings)) + ")", "seq:(" + ",".join(hashes) + ")"


def _dict3(value: tp.Mapping[str, tp.Any], merge: bool) -> tuple[str, str]:
    items = _simplified_items(value, merge)
    parts: list[tuple[int, str, str, str]] = []
    append = parts.append
    for key, sub in items:
        try:
            s, h = _parts3(sub, merge)
        except (UidTypeError, UnresolvedConfigError) as e:
            raise e.prefixed(key) from None
        append((len(s) + len(key), key, s, h))
    if not isinstance(value, _OrderedDict):  # an OrderedDict keeps its own order
        # sorted by (length of value string + key, key); keys are unique
        parts.sort(key=_v3_order)
    string = ",".join([_clean3(k) + "=" + s for _, k, s, _ in parts])
    hashed = ",".join([k + "=" + h for _, k, _, h in parts])
    return "{" + _cut3(string) + "}", "dict:{" + hashed + "}"


_v3_order = operator.itemgetter(0, 1)


# # # # # shared helpers # # # # #


def _sorted_set(
    value: tp.AbstractSet[tp.Any], parts: tp.Callable[[tp.Any], tuple[str, str]]
) -> list[tp.Any]:
    return sorted(value, key=parts)  # (string, hash): ties on the string are ordered by hash


def _is_mergeable(value: tp.Any) -> bool:
    cat = _category(value)
    return cat == _DICT and len(value) == 1


def _simplified_items(value: tp.Mapping[str, tp.Any], merge: bool) -> list[tuple[str, tp.Any]]:
    """Items of a mapping, with single-key sub-dicts merged into dotted keys (step 1)."""
    items: list[tuple[str, tp.Any]] = []
    append = items.append
    get = _CATEGORIES.get
    for key, sub in value.items():
        if type(key) is not str:
            _check_key(key, ())
        elif key[:1] == "=" and is_op_token(key):
            raise UnresolvedConfigError(key)
        if merge:
            cat = get(type(sub))
            if cat is None:
                cat = _category(sub)
            while cat == _DICT and len(sub) == 1:
                ((subkey, subval),) = sub.items()
                if type(subkey) is not str:
                    _check_key(subkey, (key,))
                elif subkey[:1] == "=" and is_op_token(subkey):
                    raise UnresolvedConfigError(subkey, (key,))
                key = key + "." + subkey
                sub = subval
                cat = get(type(sub))
                if cat is None:
                    cat = _category(sub)
        append((key, sub))
    return items


def _check_key(key: tp.Any, path: tuple[str, ...]) -> None:
    if not isinstance(key, str):
        where = f" at key {'.'.join(path)!r}" if path else ""
        raise TypeError(f"uid keys must be str, got {key!r} ({type(key).__name__}){where}")


def simplify(data: tp.Any) -> tp.Any:
    """Step 1 of the uid: a copy of ``data`` where every sub-dict with exactly one key is
    merged into its parent key (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``), recursively
    (lists are walked too, tuples are not); an ``OrderedDict`` is never merged into its parent.
    """
    cat = _category(data)
    if cat in (_DICT, _ODICT):
        out: dict[str, tp.Any] = _OrderedDict() if cat == _ODICT else {}
        for key, sub in data.items():
            sub = simplify(sub)
            while _is_mergeable(sub):
                subkey, sub = next(iter(sub.items()))
                key = f"{key}.{subkey}"
            out[key] = sub
        return out
    if cat == _SEQ and not isinstance(data, tuple):  # tuples are not walked
        return [simplify(x) for x in data]
    return data


def _check_version(version: tp.Any) -> int:
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        raise ValueError(
            f"Unsupported uid version {version!r}, expected one of {SUPPORTED_VERSIONS}"
        )
    return tp.cast(int, version)


def uid_parts(value: tp.Any, version: int = DEFAULT_VERSION) -> tuple[str, str]:
    """The ``(string, hash)`` pair of any supported value (strings cleaned, cut and, for
    dicts and sequences, bracketed); mappings are simplified first.
    Raises :class:`UidTypeError` (a ``TypeError``) naming the type and key path of an
    unsupported value.
    """
    if version == 2 and type(version) is int:
        return _parts2(value)
    if _check_version(version) == 3:
        return _parts3(value)
    raise AssertionError("unreachable")  # pragma: no cover


_BRACKETED = frozenset([_DICT, _ODICT, _SEQ, _SET])


def to_uid(data: tp.Any, version: int = DEFAULT_VERSION) -> str:
    """The uid of a configuration (usually a nested dict): ``"<string>-<md5(hash)[:8]>"``,
    or ``""`` when the string is empty (eg: empty config).

    >>> to_uid({"training": {"optim": {"lr": 0.01}}})
    'training.optim.lr=0.01-346ce994'
    """
    string, hashed = uid_parts(data, version)
    if _category(data) in _BRACKETED:
        string = string[1:-1]  # strip the outer brackets
    if not string:
        return ""
    return string + "-" + _md5(hashed.encode("utf8")).hexdigest()[:8]


def readable_part(text: str) -> str:
    """``text`` as the readable part of a folder name: cleaned and cut as a uid's string
    (version 2 rules: folder-safe characters, at most 82 characters)."""
    return _cut2(_clean2(text))
