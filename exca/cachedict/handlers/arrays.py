"""Formats for numpy arrays: ``MemmapArray`` (default) and ``NumpyArray``."""

from __future__ import annotations

import math
import typing as tp

import numpy as np

from ..registry import DumpContext, Handler, KeyFileHandler, LoadContext, register

_DTYPES: dict[str, np.dtype[tp.Any]] = {}


def _dtype(name: str) -> np.dtype[tp.Any]:
    dtype = _DTYPES.get(name)
    if dtype is None:
        dtype = _DTYPES[name] = np.dtype(name)
    return dtype


def _needs_npy(arr: np.ndarray[tp.Any, tp.Any]) -> bool:
    """Arrays whose dtype a plain dtype string cannot describe (records, sub-arrays)."""
    return arr.dtype.fields is not None or arr.dtype.subdtype is not None


@register(default_for=np.ndarray)
class MemmapArray(Handler):
    """Arrays appended to the writer's shared ``arrays.data`` file (16-byte
    aligned), read back as read-only arrays over one shared memory mapping per
    data file (no file descriptor per key).

    Object arrays are pickled and record arrays stored with ``NumpyArray``.
    Fortran-ordered arrays keep their order.
    """

    ALIGN = 16

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Appends the array's bytes to the shared data file."""
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            return ctx.dump(value, "Pickle")
        if _needs_npy(arr):
            return ctx.dump(value, "NumpyArray")
        info: dict[str, tp.Any] = {}
        if arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous:
            data = arr.T  # C-contiguous view of the same memory
            info["order"] = "F"
        else:
            data = np.ascontiguousarray(arr)
        try:
            buffer: memoryview | bytes = memoryview(data).cast("B")  # type: ignore[arg-type]
        except (TypeError, ValueError):  # dtypes without buffer support (datetime64...)
            buffer = data.tobytes()
        name, offset = ctx.append("arrays.data", buffer, align=cls.ALIGN)
        info.update(filename=name, offset=offset, shape=list(arr.shape), dtype=arr.dtype.str)
        return info

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> np.ndarray[tp.Any, tp.Any]:
        """A read-only array backed by the shared memory mapping."""
        dtype = _dtype(info["dtype"])
        shape = info["shape"]
        count = math.prod(shape)
        fortran = info.get("order") == "F"
        if count == 0:
            out = np.empty(shape, dtype=dtype, order="F" if fortran else "C")
            out.flags.writeable = False
            return out
        offset = info["offset"]
        mm = ctx.mmap(info["filename"], offset + count * dtype.itemsize)
        flat = np.frombuffer(mm, dtype=dtype, count=count, offset=offset)
        if fortran:
            return flat.reshape(shape[::-1]).T
        return flat.reshape(shape)


@register
class NumpyArray(KeyFileHandler):
    """One ``.npy`` file per array, loaded fully in RAM (object arrays are pickled)."""

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Saves the array to a new ``.npy`` file."""
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            return ctx.dump(value, "Pickle")
        name, path = ctx.key_file(".npy")
        with open(path, "wb") as f:
            np.save(f, arr, allow_pickle=False)
        return {"filename": name}

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> np.ndarray[tp.Any, tp.Any]:
        """Loads the ``.npy`` file."""
        return np.load(ctx.path(info["filename"]), allow_pickle=False)
