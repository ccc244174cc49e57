"""Formats for Python values: JSON (inline in the index when small), text,
pickle, and ``Auto`` for containers of mixed values."""

from __future__ import annotations

import math
import os
import pickle
import typing as tp

import orjson

from ..registry import (
    DumpContext,
    Handler,
    LoadContext,
    b64decode,
    b64encode,
    default_handler,
    read_file,
    register,
    write_new_file,
)

MAX_INLINE = 2048
"""Serialized values up to this size (bytes) are stored inside the index line."""


def _store_bytes(ctx: DumpContext, raw: bytes, shared_file: str) -> dict[str, tp.Any]:
    name, offset = ctx.append(shared_file, raw)
    return {"filename": name, "offset": offset, "length": len(raw)}


def _read_bytes(ctx: LoadContext, info: dict[str, tp.Any]) -> bytes:
    return ctx.read(info["filename"], info["offset"], info["length"])


_LARGE_BUFFER = 1 << 20


def _pickle_in_memory(value: tp.Any) -> bytes | None:
    """The pickle of a value, or None if it holds large buffers (e.g. big numpy
    arrays): those are better streamed to the file than copied in memory first."""
    large = False

    def in_band(buffer: pickle.PickleBuffer) -> bool:
        nonlocal large
        if memoryview(buffer).nbytes <= _LARGE_BUFFER:
            return True
        large = True
        return False  # out of band: not copied (this pickle is then discarded)

    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL, buffer_callback=in_band)
    return None if large else data


@register
class Pickle(Handler):
    """One pickle file per value (``data/<writer>/<key>-<t>.pkl``), its size
    recorded in the index (a truncated file is reported as such).

    Nested in a container (through ``Auto``), a small pickle (<= 512 bytes) is
    inlined in the index instead (base64).
    """

    INLINE_MAX = 512

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Pickles the value into a new file (or inline when nested and small)."""
        data = _pickle_in_memory(value)
        if data is not None and ctx.nested and len(data) <= cls.INLINE_MAX:
            return {"b64": b64encode(data)}
        name, path = ctx.key_file(".pkl")
        if data is not None:
            return {"filename": name, "size": write_new_file(path, (data,))}
        with open(path, "xb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
            return {"filename": name, "size": f.tell()}

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Unpickles the value."""
        if "b64" in info:
            return pickle.loads(b64decode(info["b64"]))
        path = ctx.path(info["filename"])
        if "size" in info:
            return pickle.loads(read_file(path, info["size"]))
        with open(path, "rb") as f:
            return pickle.load(f)

    @classmethod
    def delete(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> None:
        """Removes the pickle file, if any."""
        if "filename" in info:
            try:
                os.unlink(ctx.path(info["filename"]))
            except FileNotFoundError:
                pass


@register(default_for=str)
class String(Handler):
    """Plain text: inline in the index up to 2 kB, else appended as raw UTF-8 to
    the writer's shared ``texts.txt`` file (offset + length in the index)."""

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Stores a ``str`` (other types, str subclasses included, are pickled)."""
        if type(value) is not str:
            return ctx.dump(value, Pickle)
        try:
            raw = value.encode("utf8")
        except UnicodeEncodeError:  # lone surrogates: not valid UTF-8
            return ctx.dump(value, Pickle)
        if len(raw) <= MAX_INLINE:
            return {"content": value}
        return _store_bytes(ctx, raw, "texts.txt")

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> str:
        """Reads the text back."""
        if "content" in info:
            return tp.cast(str, info["content"])
        return _read_bytes(ctx, info).decode("utf8")


# ---------------------------------------------------------------- JSON / Auto
_INT_MIN, _INT_MAX = -(2**63), 2**64


class _Encoder:
    """Turns a value into JSON content, losslessly: tuples and non-finite floats
    get markers (``{"#tuple": [...]}``, ``{"#float": "nan"}``), values JSON cannot
    hold are dumped with their own format (``{"#type": ..., ...}``)."""

    def __init__(self, ctx: DumpContext) -> None:
        self.ctx = ctx
        self.plain = True  # no marker and no nested format: decodes as is

    def encode(self, value: tp.Any, path: tuple[str, ...]) -> tp.Any:
        t = type(value)
        if t is str or t is bool or value is None:
            return value
        if t is int:
            if _INT_MIN <= value < _INT_MAX:
                return value
        elif t is float:
            if math.isfinite(value):
                return value
            self.plain = False
            return {"#float": repr(value)}
        elif t is list:
            return [self.encode(v, (*path, str(k))) for k, v in enumerate(value)]
        elif t is dict:
            if all(type(k) is str and not k.startswith("#") for k in value):
                return {k: self.encode(v, (*path, k)) for k, v in value.items()}
        elif t is tuple:
            self.plain = False
            return {"#tuple": [self.encode(v, (*path, str(k))) for k, v in enumerate(value)]}
        # a leaf with its own format (or pickled)
        self.plain = False
        handler = default_handler(value)
        if handler is None or handler in (Auto, Json):
            handler = Pickle
        return self.ctx.dump(value, handler, subkey="/".join(path))


def _decode(ctx: LoadContext, value: tp.Any) -> tp.Any:
    t = type(value)
    if t is list:
        return [_decode(ctx, v) for v in value]
    if t is dict:
        if "#type" in value:
            return ctx.load(value)
        if "#tuple" in value:
            return tuple(_decode(ctx, v) for v in value["#tuple"])
        if "#float" in value:
            return float(value["#float"])
        return {k: _decode(ctx, v) for k, v in value.items()}
    return value


def _nested_infos(value: tp.Any) -> tp.Iterator[dict[str, tp.Any]]:
    if isinstance(value, list):
        for v in value:
            yield from _nested_infos(v)
    elif isinstance(value, dict):
        if "#type" in value:
            yield value
        else:
            for v in value.values():
                yield from _nested_infos(v)


def _dump_json_like(ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
    encoder = _Encoder(ctx)
    content = encoder.encode(value, ())
    if isinstance(content, dict) and "#type" in content:
        return content  # a single value with its own format: store it as such
    try:
        raw = orjson.dumps(content)
    except TypeError:  # e.g. strings with lone surrogates
        return ctx.dump(value, Pickle)
    info: dict[str, tp.Any] = {"#type": "Json" if encoder.plain else "Auto"}
    if len(raw) <= MAX_INLINE:
        info["content"] = orjson.Fragment(raw)
    else:
        info.update(_store_bytes(ctx, raw, "values.json"))
    return info


def _read_content(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    if "content" in info:
        return info["content"]
    return orjson.loads(_read_bytes(ctx, info))


@register(default_for=(dict, list, tuple, int, float, bool, type(None)))
class Auto(Handler):
    """Containers of mixed values: dicts/lists/tuples are walked, JSON values stay
    inline, every other value is dumped with its own format (arrays as
    ``MemmapArray``, ...; unknown types pickled) and referenced from the JSON.

    A value that turns out to be plain JSON is recorded as ``Json``; a single
    non-container value is recorded with its own format. The JSON goes inline in
    the index up to 2 kB, else to the writer's shared ``values.json`` file.
    """

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Encodes the value (dumping nested values with their formats)."""
        return _dump_json_like(ctx, value)

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Rebuilds the value, loading nested values."""
        return _decode(ctx, _read_content(ctx, info))

    @classmethod
    def delete(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> None:
        """Deletes the files of nested values."""
        for nested in _nested_infos(_read_content(ctx, info)):
            ctx.delete(nested)


@register
class Json(Handler):
    """JSON values (None, bool, int, float, str, lists, dicts with str keys):
    inline in the index up to 2 kB, else in the writer's shared ``values.json``.
    Values that are not plain JSON are stored through ``Auto`` (losslessly)."""

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Stores the value as JSON."""
        return _dump_json_like(ctx, value)

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Reads the JSON value."""
        return _read_content(ctx, info)
