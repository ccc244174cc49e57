"""The storage formats of exca 0.6.0, read only: the handler of the ``exca060`` format,
under which :mod:`exca.cachedict.legacy` presents 0.6.0's index lines. Each of 0.6.0's
formats is read with the same result as 0.6.0 itself (dtypes included)."""

from __future__ import annotations

import math
import pickle
import typing as tp
from pathlib import Path

import orjson

from ..legacy import FORMAT
from ..registry import LoadContext, register

__all__ = ["READERS", "Exca060", "load"]


def _memmap_array(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import numpy as np

    dtype = np.dtype(info["dtype"])
    shape = tuple(info["shape"])
    offset = int(info["offset"])
    count = math.prod(shape)
    mm = ctx.mmap(info["filename"], offset + count * dtype.itemsize)
    out = np.frombuffer(mm, dtype=dtype, count=count, offset=offset).reshape(shape)
    return out  # read-only, as 0.6.0's memory maps


def _torch(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import numpy as np
    import torch

    return torch.from_numpy(np.array(_memmap_array(ctx, info)))


def _numpy(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import numpy as np

    return np.load(ctx.path(info["filename"]))


def _pickle(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    with open(ctx.path(info["filename"]), "rb") as f:
        return pickle.load(f)


def _csv(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import pandas as pd

    # as 0.6.0: only empty cells are missing ("NA", "null", "nan" stay strings)
    return pd.read_csv(
        ctx.path(info["filename"]), index_col=0, keep_default_na=False, na_values=[""]
    )


def _parquet(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import pandas as pd

    # as 0.6.0: nullable dtypes (an integer index reads as Int64)
    return pd.read_parquet(ctx.path(info["filename"]), dtype_backend="numpy_nullable")


def _json(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    if "content" in info:
        return info["content"]
    return orjson.loads(ctx.read(info["filename"], int(info["offset"]), int(info["length"])))


def _auto(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    content = info["content"]
    if isinstance(content, dict) and "#type" in content:
        content = load(ctx, content)  # offloaded to the shared .data.jsonl file
    return _walk(ctx, content)


def _walk(ctx: LoadContext, value: tp.Any) -> tp.Any:
    if isinstance(value, dict):
        if "#type" in value:
            return load(ctx, value)
        return {k: _walk(ctx, v) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(ctx, v) for v in value]
    return value


def _nifti(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import nibabel  # type: ignore[import-not-found]

    return nibabel.load(ctx.path(info["filename"]), mmap=True)


def _fif(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import mne  # type: ignore[import-not-found]

    path = ctx.path(info["filename"])
    try:
        return mne.io.read_raw_fif(path, verbose=False, allow_maxshield=False)
    except ValueError:
        return mne.io.read_raw_fif(path, verbose=False, allow_maxshield=True)


def _brainvision(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    import mne

    folder = Path(ctx.path(info["filename"]))
    return mne.io.read_raw_brainvision(folder / f"{folder.name}-raw.vhdr", verbose=False)


READERS: dict[str, tp.Callable[[LoadContext, dict[str, tp.Any]], tp.Any]] = {
    "MemmapArray": _memmap_array,
    "MemmapArrayFile": _memmap_array,  # 0.6.0's deprecated alias
    "ContiguousMemmapArray": _memmap_array,  # a proxy of the same array in 0.6.0
    "TorchTensor": _torch,
    "NumpyArray": _numpy,
    "Pickle": _pickle,
    "PandasDataFrame": _csv,
    "ParquetPandasDataFrame": _parquet,
    "Json": _json,
    "Auto": _auto,
    "AutoPickle": _auto,
    "NibabelNifti": _nifti,
    "MneRawFif": _fif,
    "MneRawBrainVision": _brainvision,
}
"""0.6.0's storage format names -> readers of their parameters."""


def load(ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
    """Reads a value from the parameters 0.6.0 recorded for it (``"#type"`` included)."""
    name = info.get("#type")
    reader = READERS.get(name) if isinstance(name, str) else None
    if reader is None:
        raise ValueError(
            f"Key {ctx.key!r} was written by exca 0.6.0 with the storage format {name!r}, "
            f"which this package does not read (known 0.6.0 formats: {sorted(READERS)}); "
            "read it with exca 0.6.0, or register a reader in exca.cachedict.handlers.exca060.READERS"
        )
    return reader(ctx, info)


@register(name=FORMAT)
class Exca060:
    """Values written by exca 0.6.0 (read only; their index lines are read by
    :mod:`exca.cachedict.legacy`), registered as the format ``exca060``."""

    @classmethod
    def dump(cls, ctx: tp.Any, value: tp.Any) -> dict[str, tp.Any]:
        """Not a format to write with: values are written in this package's formats."""
        raise TypeError(f"{FORMAT!r} only reads values written by exca 0.6.0")

    @classmethod
    def load(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> tp.Any:
        """Reads the value with 0.6.0's format of the line."""
        return load(ctx, info["info"])

    @classmethod
    def delete(cls, ctx: LoadContext, info: dict[str, tp.Any]) -> None:
        """Deletes nothing: 0.6.0 still lists the key and would fail on a missing file
        (``clear()`` removes 0.6.0's files as a whole)."""
