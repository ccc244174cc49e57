"""Storage formats ("cache types"): the :class:`Handler` protocol, the registry,
and the contexts handlers use to write and read their files.

A storage format is one class, registered by name::

    from exca import cachedict

    @cachedict.register(default_for=MyType)   # or just @cachedict.register
    class MyFormat(cachedict.Handler):
        @classmethod
        def dump(cls, ctx: cachedict.DumpContext, value: MyType) -> dict[str, Any]:
            name, path = ctx.key_file(".myext")   # a new file (path: str) for this entry
            value.save(path)
            return {"filename": name}             # json-able, stored in the index line

        @classmethod
        def load(cls, ctx: cachedict.LoadContext, info: dict[str, Any]) -> MyType:
            return MyType.load(ctx.path(info["filename"]))

The name (the class name unless ``name=`` is given) is written in each index
line, so reading needs the class registered (imported) under the same name.
``default_for`` types (or ``"module.Name"`` strings, which avoid importing heavy
packages) make the format the automatic choice for such values. A string names the
class by where it is imported from (``"pandas.DataFrame"``), and matches that class
once its package is imported, whatever ``__module__`` it reports; it also matches a
class whose ``__module__.__qualname__`` is that string.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import mmap
import os
import re
import sys
import threading
import typing as tp
from collections import OrderedDict
from pathlib import Path

from .index import DATA_DIR, IndexWriter, write_all

HANDLERS: dict[str, type[tp.Any]] = {}
"""Registered storage formats, by name."""
_NAMES: dict[type[tp.Any], str] = {}
_DEFAULTS: dict[type[tp.Any] | str, type[tp.Any]] = {}
_TYPE_CACHE: dict[type[tp.Any], type[tp.Any] | None] = {}
_REGISTRY_LOCK = threading.Lock()


class Handler:
    """Base class of a storage format (subclassing it is optional: a registered
    class only needs the ``dump`` and ``load`` classmethods).

    - ``dump(ctx, value) -> dict``: writes the value (through ``ctx``) and returns
      the json-able parameters needed to read it back. They are stored in the
      index line, so they must be small. A handler may delegate by returning
      ``ctx.dump(value, cache_type="Other")`` as is (the info it returns has a
      ``"#type"`` key). Keys starting with ``#`` are reserved.
    - ``load(ctx, info) -> value``: reads the value back from those parameters.
    - ``delete(ctx, info)``: removes the files owned by this entry only (shared
      append-only files are never rewritten); default: nothing to remove.
    """

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Writes ``value`` and returns the parameters needed to read it."""
        raise NotImplementedError

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Reads a value back from the parameters returned by :meth:`dump`."""
        raise NotImplementedError

    @classmethod
    def delete(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> None:
        """Removes the files owned by this entry (none by default)."""


class KeyFileHandler(Handler):
    """Base for one-file-per-entry formats storing the file name in ``info["filename"]``."""

    @classmethod
    def delete(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> None:
        """Removes the entry's file."""
        try:
            os.unlink(ctx.path(info["filename"]))
        except FileNotFoundError:
            pass


H = tp.TypeVar("H", bound=type[tp.Any])


@tp.overload
def register(handler: H, *, name: str | None = None, default_for: tp.Any = ()) -> H: ...


@tp.overload
def register(
    handler: None = None, *, name: str | None = None, default_for: tp.Any = ()
) -> tp.Callable[[H], H]: ...


def register(
    handler: H | None = None,
    *,
    name: str | None = None,
    default_for: tp.Any = (),
) -> H | tp.Callable[[H], H]:
    """Registers a storage format class (usable as ``@register`` or ``@register(...)``).

    Parameters
    ----------
    name: the ``cache_type`` name (default: the class name)
    default_for: a type, a ``"module.Name"`` import path (e.g. ``"pandas.DataFrame"``,
        resolved once the package is imported), or a tuple of them: values of these
        types (or subclasses) use this format when ``cache_type`` is None.
    """
    if handler is None:
        return lambda h: register(h, name=name, default_for=default_for)
    if not isinstance(handler, type) or not all(
        callable(getattr(handler, m, None)) for m in ("dump", "load")
    ):
        raise TypeError(f"A storage format must be a class with dump and load, got {handler!r}")
    hname = name or handler.__name__
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", hname):
        raise ValueError(f"Invalid storage format name {hname!r} (use an identifier)")
    with _REGISTRY_LOCK:
        existing = HANDLERS.get(hname)
        if existing is not None and existing is not handler:
            same = (existing.__module__, existing.__qualname__) == (
                handler.__module__,
                handler.__qualname__,
            )
            if not same:  # a module re-import is fine, a different class is not
                raise ValueError(
                    f"Storage format name {hname!r} is already registered by "
                    f"{existing.__module__}.{existing.__qualname__}"
                )
        HANDLERS[hname] = handler
        _NAMES[handler] = hname
        types = default_for if isinstance(default_for, tuple) else (default_for,)
        for t in types:
            if not isinstance(t, type | str):
                raise TypeError(
                    f"default_for must be types or 'module.QualName' strings, got {t!r}"
                )
            _DEFAULTS[t] = handler
        _TYPE_CACHE.clear()
    return handler


def handler_name(handler: type[tp.Any]) -> str:
    """The registered name of a storage format class."""
    try:
        return _NAMES[handler]
    except KeyError:
        raise ValueError(f"{handler!r} is not a registered storage format") from None


def get_handler(name: str) -> type[tp.Any]:
    """The storage format class registered under ``name`` (clear error if unknown)."""
    try:
        return HANDLERS[name]
    except KeyError:
        raise ValueError(
            f"Unknown cache_type {name!r}; registered storage formats: {sorted(HANDLERS)} "
            "(a custom format must be registered with exca.cachedict.register before use)"
        ) from None


def _resolve_default_paths() -> None:
    """Turns the ``"module.Name"`` strings of ``default_for`` into the classes they name
    once their top-level module is imported (e.g. ``"pandas.DataFrame"``: in pandas 3
    the class reports the module ``pandas``, in pandas 2 ``pandas.core.frame``; the class
    itself is the same whatever name it reports). Never imports anything."""
    for path in [k for k in _DEFAULTS if isinstance(k, str)]:
        top, _, rest = path.partition(".")
        obj: tp.Any = sys.modules.get(top)
        if obj is None or not rest:
            continue
        for part in rest.split("."):
            obj = getattr(obj, part, None)
        if isinstance(obj, type) and obj not in _DEFAULTS:
            with _REGISTRY_LOCK:
                _DEFAULTS[obj] = _DEFAULTS[path]


def default_handler(value: tp.Any) -> type[tp.Any] | None:
    """The format registered as default for the type of ``value`` (walking its MRO), if any."""
    cls = type(value)
    try:
        return _TYPE_CACHE[cls]
    except KeyError:
        pass
    _resolve_default_paths()
    found: type[tp.Any] | None = None
    for base in cls.__mro__:
        found = _DEFAULTS.get(base) or _DEFAULTS.get(f"{base.__module__}.{base.__qualname__}")
        if found is not None:
            break
    _TYPE_CACHE[cls] = found
    return found


# ---------------------------------------------------------------- file names
_UNSAFE = re.compile(r"[^A-Za-z0-9_.=,+-]+")


def safe_name(text: str, max_length: int = 60) -> str:
    """A readable, bounded, filesystem-safe version of ``text`` (not unique: add a hash)."""
    name = _UNSAFE.sub("_", text)[:max_length].strip(".")
    return name or "_"


def short_hash(text: str, size: int = 6) -> str:
    """Hex digest (``2 * size`` chars) of a string (any unicode, even lone surrogates)."""
    data = text.encode("utf8", errors="surrogatepass")
    return hashlib.blake2b(data, digest_size=size).hexdigest()


@functools.lru_cache(maxsize=256)
def _safe_suffix(suffix: str) -> str:
    safe = safe_name(suffix, 16)
    return "." + safe.lstrip(".") if suffix.startswith(".") else safe


# ---------------------------------------------------------------- whole files
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


def write_new_file(path: str, chunks: tp.Sequence[bytes | memoryview]) -> int:
    """Creates ``path`` (which must not exist) holding the concatenated chunks, with
    plain system calls (no Python file object); returns the number of bytes."""
    fd = os.open(path, _NEW_FILE, 0o666)
    try:
        return write_all(fd, chunks)
    finally:
        os.close(fd)


def read_file(path: str, size: int) -> bytearray:
    """The first ``size`` bytes of a file, in a new (writable) bytearray; raises
    ValueError naming the file if it is shorter."""
    buffer = bytearray(size)
    view = memoryview(buffer)
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        done = 0
        while done < size:
            n = os.readv(fd, [view[done:]])
            if n == 0:
                raise ValueError(f"File {path} is truncated: {done} bytes, expected {size}")
            done += n
    finally:
        os.close(fd)
    return buffer


# ---------------------------------------------------------------- contexts
class DumpContext:
    """What a handler's ``dump`` uses to write files for the entry of one key.

    All files go in the writer's own data folder (``data/<writer>/``) so no other
    process ever writes them; names derived from the key are sanitised, bounded
    and made unique per write.
    """

    def __init__(self, writer: IndexWriter, key: str, t: int, path: tuple[str, ...] = ()) -> None:
        self.writer = writer
        self.key = key
        self.t = t
        self.path = path  # position inside a nested value (dict keys / list indices)
        self.created: list[str] = []

    @property
    def folder(self) -> Path:
        """The CacheDict folder."""
        return self.writer.folder

    @property
    def nested(self) -> bool:
        """True when dumping a value nested in a container (through :meth:`dump`)."""
        return bool(self.path)

    def key_file(self, suffix: str = "") -> tuple[str, str]:
        """A new file for this entry: (name relative to the folder, absolute path).
        Paths are plain strings (cheaper than ``pathlib.Path`` on hot paths).

        The name is ``<sanitised key>-<write time>{suffix}`` (the write time is unique
        in the writer's folder), plus a hash of the position for a nested value: never
        reused, so a concurrent writer or a later deletion can never touch it.
        """
        if self.path:
            label = "-".join(safe_name(p, 40) for p in (self.key, *self.path))[:80]
            stem = f"{label}-{self.t:x}-{short_hash(repr(self.path), 4)}"
        else:
            stem = f"{safe_name(self.key)}-{self.t:x}"
        if suffix:
            stem += _safe_suffix(suffix)
        name = f"{self.writer.data_rel}/{stem}"
        path = f"{self.writer.data_dir()}/{stem}"
        self.created.append(path)
        return name, path

    def append(self, filename: str, data: bytes | memoryview, align: int = 1) -> tuple[str, int]:
        """Appends bytes to this writer's shared file ``filename`` (e.g. ``"arrays.data"``).
        Returns (name relative to the folder, offset of the data in the file)."""
        if "/" in filename or filename.startswith("."):
            raise ValueError(f"Invalid shared file name {filename!r}")
        offset = self.writer.append_data(filename, data, align=align)
        return f"{self.writer.data_rel}/{filename}", offset

    def dump(
        self,
        value: tp.Any,
        cache_type: str | type[tp.Any] | None = None,
        subkey: str | None = None,
    ) -> dict[str, tp.Any]:
        """Dumps a value with another format; returns its info (with ``"#type"``).

        With ``subkey=None`` this is a delegation (the value is stored as this
        entry); with a ``subkey`` the value is nested (e.g. a dict item) and the
        context becomes :attr:`nested`.
        """
        handler = _resolve(value, cache_type)
        child = self
        if subkey is not None:
            child = DumpContext(self.writer, self.key, self.t, (*self.path, subkey))
            child.created = self.created
        return dump_with(child, handler, value)


def _resolve(value: tp.Any, cache_type: str | type[tp.Any] | None) -> type[tp.Any]:
    if cache_type is None:
        handler = default_handler(value)
        if handler is None:
            handler = HANDLERS["Auto"]
        return handler
    if isinstance(cache_type, str):
        return get_handler(cache_type)
    return cache_type


def dump_with(ctx: DumpContext, handler: type[tp.Any], value: tp.Any) -> dict[str, tp.Any]:
    """Runs ``handler.dump`` and tags the result with its ``"#type"`` (unless delegated)."""
    info = handler.dump(ctx, value)
    if not isinstance(info, dict):
        raise TypeError(f"{handler.__name__}.dump must return a dict, got {info!r}")
    if "#type" not in info:
        info = {"#type": handler_name(handler), **info}
    return info


def resolve_for_top_level(value: tp.Any, cache_type: str | None) -> type[tp.Any]:
    """The handler used for a top-level value."""
    return _resolve(value, cache_type)


_MAX_MAPS = int(os.environ.get("EXCA_MEMMAP_ARRAY_FILE_MAX_CACHE", "64"))


class MmapCache:
    """Shared read-only mappings of data files, least recently used first out.

    One mapping per data file (not per key): Python's mmap keeps one file
    descriptor per mapping, so open descriptors are bounded by the cache size
    (plus files whose arrays are still referenced by the user). Evicted mappings
    are not closed: they live as long as arrays using them.
    """

    def __init__(self, max_files: int = _MAX_MAPS) -> None:
        self.max_files = max(1, max_files)
        self._maps: OrderedDict[str, mmap.mmap] = OrderedDict()
        self._lock = threading.Lock()

    def lookup(self, name: str, end: int) -> mmap.mmap | None:
        """The cached mapping of data file ``name`` if it covers ``end`` bytes."""
        with self._lock:
            mm = self._maps.get(name)
            if mm is not None and len(mm) >= end:
                self._maps.move_to_end(name)
                return mm
        return None

    def open(self, name: str, path: str, end: int) -> mmap.mmap:
        """Maps ``path`` (cached as ``name``), checking it has at least ``end`` bytes."""
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < end:
                raise ValueError(
                    f"Data file {path} is truncated: {size} bytes, an entry needs {end}"
                )
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        with self._lock:
            self._maps[name] = mm
            self._maps.move_to_end(name)
            while len(self._maps) > self.max_files:
                self._maps.popitem(last=False)
        return mm

    def clear(self) -> None:
        """Drops all cached mappings (they close once no array uses them)."""
        with self._lock:
            self._maps.clear()


class LoadContext:
    """What a handler's ``load``/``delete`` uses to find and read files."""

    def __init__(self, folder: Path, key: str, maps: MmapCache) -> None:
        self.folder = folder
        self._folder = str(folder)
        self.key = key
        self.maps = maps

    def check_name(self, name: str) -> str:
        """Checks that a file name stored in an index line stays inside the folder
        (relative, no ``..`` component, no backslash or NUL)."""
        if (
            not isinstance(name, str)
            or not name
            or name[0] == "/"
            or "\\" in name
            or "\0" in name
            or (".." in name and ".." in name.split("/"))
        ):
            raise ValueError(
                f"Refusing file name {name!r} for key {self.key!r}: not inside {self.folder} "
                "(a relative path without .. is required)"
            )
        return name

    def path(self, name: str) -> str:
        """Absolute path (a string) of a file name stored in an index line (checked
        to stay inside the folder)."""
        return f"{self._folder}/{self.check_name(name)}"

    def mmap(self, name: str, end: int) -> mmap.mmap:
        """A shared read-only mapping of the data file ``name`` covering ``end`` bytes."""
        mm = self.maps.lookup(name, end)
        if mm is None:
            mm = self.maps.open(name, self.path(name), end)
        return mm

    def read(self, name: str, offset: int, length: int) -> bytes:
        """Bytes ``[offset, offset + length)`` of a (shared) data file."""
        if length == 0:
            return b""
        return self.mmap(name, offset + length)[offset : offset + length]

    def load(self, info: dict[str, tp.Any]) -> tp.Any:
        """Loads a nested value from its info (as returned by ``DumpContext.dump``)."""
        return load_info(self, info)

    def delete(self, info: dict[str, tp.Any]) -> None:
        """Deletes the files of a nested value."""
        handler = get_handler(info["#type"])
        delete = getattr(handler, "delete", None)
        if delete is not None:
            delete(self, info)


def load_info(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    """Dispatches the loading of an info dict to its handler."""
    return get_handler(info["#type"]).load(ctx, info)


def b64encode(data: bytes) -> str:
    """Base64 text of bytes (for small binary payloads inlined in the index)."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Inverse of :func:`b64encode`."""
    return base64.b64decode(text)


__all__ = [
    "DATA_DIR",
    "HANDLERS",
    "DumpContext",
    "Handler",
    "KeyFileHandler",
    "LoadContext",
    "default_handler",
    "get_handler",
    "register",
]
