"""Formats for numpy arrays: ``MemmapArray`` (default) and ``NumpyArray``."""

from __future__ import annotations

import io
import math
import typing as tp

from ..registry import (
    DumpContext,
    Handler,
    KeyFileHandler,
    LoadContext,
    read_file,
    register,
    write_new_file,
)

if tp.TYPE_CHECKING:
    import numpy as np
else:

    class _Numpy:
        """numpy, imported when first used (``import exca.cachedict`` stays numpy-free)."""

        def __getattr__(self, name: str) -> tp.Any:
            import numpy

            globals()["np"] = numpy
            return getattr(numpy, name)

    np = _Numpy()


_DTYPES: dict[str, np.dtype[tp.Any]] = {}


def _dtype(name: str) -> np.dtype[tp.Any]:
    dtype = _DTYPES.get(name)
    if dtype is None:
        dtype = _DTYPES[name] = np.dtype(name)
    return dtype


def _needs_npy(arr: np.ndarray[tp.Any, tp.Any]) -> bool:
    """Arrays whose dtype a plain dtype string cannot describe (records, sub-arrays)."""
    return arr.dtype.fields is not None or arr.dtype.subdtype is not None


def _raw_data(arr: np.ndarray[tp.Any, tp.Any]) -> tuple[memoryview | bytes, bool]:
    """The array's bytes (no copy when contiguous) and whether they are in Fortran
    order (only for arrays that are Fortran- but not C-contiguous, like ``np.save``)."""
    fortran = arr.ndim > 1 and arr.flags.f_contiguous and not arr.flags.c_contiguous
    data = arr.T if fortran else np.ascontiguousarray(arr)  # C-contiguous either way
    try:
        return memoryview(data).cast("B"), fortran  # type: ignore[arg-type]
    except (TypeError, ValueError):  # dtypes without buffer support (datetime64...)
        return data.tobytes(), fortran


def _from_buffer(
    buffer: tp.Any, dtype: np.dtype[tp.Any], shape: list[int], offset: int, fortran: bool
) -> np.ndarray[tp.Any, tp.Any]:
    """The array stored at ``offset`` of a buffer (as written from :func:`_raw_data`)."""
    count = math.prod(shape)
    if count == 0:
        return np.empty(shape, dtype=dtype, order="F" if fortran else "C")
    flat = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    if fortran:
        return flat.reshape(shape[::-1]).T
    return flat.reshape(shape)


_NPY_HEADERS: dict[tuple[str, bool, tuple[int, ...]], bytes] = {}


def _npy_header(arr: np.ndarray[tp.Any, tp.Any], fortran: bool) -> bytes | None:
    """The ``.npy`` (version 1.0) header of an array, memoized by dtype/order/shape;
    None when the array needs another version (then ``np.save`` writes it)."""
    key = (arr.dtype.str, fortran, arr.shape)
    header = _NPY_HEADERS.get(key)
    if header is None:
        fmt = np.lib.format
        buffer = io.BytesIO()
        try:
            fmt.write_array_header_1_0(buffer, fmt.header_data_from_array_1_0(arr))
        except ValueError:  # header too large for version 1.0
            return None
        header = buffer.getvalue()
        if len(_NPY_HEADERS) < 4096:
            _NPY_HEADERS[key] = header
    return header


@register(default_for="numpy.ndarray")
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
        buffer, fortran = _raw_data(arr)
        if fortran:
            info["order"] = "F"
        name, offset = ctx.append("arrays.data", buffer, align=cls.ALIGN)
        info.update(filename=name, offset=offset, shape=list(arr.shape), dtype=arr.dtype.str)
        return info

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> np.ndarray[tp.Any, tp.Any]:
        """A read-only array backed by the shared memory mapping."""
        dtype = _dtype(info["dtype"])
        shape = info["shape"]
        offset = info["offset"]
        end = offset + math.prod(shape) * dtype.itemsize
        mm = ctx.mmap(info["filename"], end) if end > offset else b""
        out = _from_buffer(mm, dtype, shape, offset, info.get("order") == "F")
        out.flags.writeable = False
        return out


@register
class NumpyArray(KeyFileHandler):
    """One ``.npy`` file per array (a standard file: ``np.load`` reads it), loaded
    fully in RAM as a writable array. Object arrays are pickled.

    The index line also records the data offset, dtype and shape, so reading is
    one ``read`` of the file (no header parsing); the file size is checked.
    """

    @classmethod
    def dump(cls, ctx: DumpContext, value: tp.Any) -> dict[str, tp.Any]:
        """Saves the array to a new ``.npy`` file."""
        arr = np.asarray(value)
        if arr.dtype.hasobject:
            return ctx.dump(value, "Pickle")
        name, path = ctx.key_file(".npy")
        data, fortran = _raw_data(arr)
        header = None if _needs_npy(arr) else _npy_header(arr, fortran)
        if header is None:  # records, huge headers: numpy's own writer
            with open(path, "xb") as f:
                np.save(f, arr, allow_pickle=False)
            return {"filename": name}
        write_new_file(path, (header, data))
        info: dict[str, tp.Any] = {"filename": name, "offset": len(header)}
        info.update(dtype=arr.dtype.str, shape=list(arr.shape))
        if fortran:
            info["order"] = "F"
        return info

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> np.ndarray[tp.Any, tp.Any]:
        """Reads the ``.npy`` file."""
        path = ctx.path(info["filename"])
        if "dtype" not in info:
            return np.load(path, allow_pickle=False)
        dtype = _dtype(info["dtype"])
        shape = info["shape"]
        offset = info["offset"]
        buffer = read_file(path, offset + math.prod(shape) * dtype.itemsize)
        return _from_buffer(buffer, dtype, shape, offset, info.get("order") == "F")
