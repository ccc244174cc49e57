"""Reader of the CacheDict folders written by exca 0.6.0 (another on-disk format).

exca 0.6.0 writes, in the same folder layout::

    <folder>/<host>-<thread id>-info.jsonl     one index per writer thread
    <folder>/data/<host>-<thread id>.data      arrays (MemmapArray, TorchTensor)
    <folder>/data/<host>-<thread id>.data.jsonl  large JSON values (Json, Auto)
    <folder>/data/<key>-<md5[:8]>.pkl|.npy|...  one-file-per-key formats

Its index lines are the format's parameters with ``"#type"`` and then ``"#key"``
last, without a write time (``#t``): ``{"filename": ..., "offset": ..., "shape": [...],
"dtype": "float64", "#type": "MemmapArray", "#key": "k"}``. A deleted entry is
blanked in place (overwritten with spaces).

This module reads those lines: :func:`legacy_key` cuts the key out of a line
without parsing it, :func:`legacy_info` turns a line into an entry of the format
``exca060`` (registered here), whose ``load`` reads each 0.6.0 format with the same
result as 0.6.0 itself (dtypes included). Such entries sort before every entry of
this package (``#t`` 0). This module imports nothing of the storage engine (the
index reader uses it). Nothing here writes or deletes 0.6.0's files: ``del`` of a
0.6.0 key only records a tombstone (0.6.0 keeps its value); ``clear()`` removes the
0.6.0 files too (see :func:`legacy_files`).
"""

from __future__ import annotations

import math
import pickle
import typing as tp
from pathlib import Path

import orjson

if tp.TYPE_CHECKING:
    from .registry import LoadContext

FORMAT = "exca060"
"""The ``#type`` under which 0.6.0 index lines are presented to the storage engine."""

_KEY_MARK = b',"#key":"'
_STANDARD = (b'{"#key":', b' {"#key":')


def is_legacy_line(line: bytes) -> bool:
    """True for an index line in 0.6.0's layout (not starting with ``"#key"``)."""
    return not line.startswith(_STANDARD)


def legacy_key(line: bytes) -> str | None:
    """The key of a 0.6.0 index line (``"#key"`` is its last field), or None if the line
    does not have that shape. The line is not parsed: keys are JSON strings in which
    every ``"`` is escaped, so the last ``,"#key":"`` starts the key."""
    if not line.endswith(b'"}'):
        return None
    start = line.rfind(_KEY_MARK)
    if start < 0:
        return None
    raw = line[start + len(_KEY_MARK) : -2]
    if b"\\" in raw:
        try:
            return tp.cast(str, orjson.loads(b'"' + raw + b'"'))
        except orjson.JSONDecodeError:
            return None
    if b'"' in raw:
        return None
    try:
        return raw.decode("utf8")
    except UnicodeDecodeError:
        return None


def legacy_info(item: dict[str, tp.Any]) -> dict[str, tp.Any]:
    """The entry (``#key``, ``#t``, ``#type``, params) of a parsed 0.6.0 index line."""
    params = {k: v for k, v in item.items() if k != "#key"}
    return {"#key": item.get("#key"), "#t": 0, "#type": FORMAT, "info": params}


def is_legacy_item(item: dict[str, tp.Any]) -> bool:
    """True for a parsed index line written by 0.6.0 (a key and a format, no ``#t``)."""
    return "#t" not in item and isinstance(item.get("#key"), str) and "#type" in item


# ---------------------------------------------------------------- 0.6.0 formats
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
            "read it with exca 0.6.0, or register a reader in exca.cachedict.legacy.READERS"
        )
    return reader(ctx, info)


class Exca060:
    """Values written by exca 0.6.0 (read only; see :mod:`exca.cachedict.legacy`).
    Registered as the format ``exca060`` by :mod:`exca.cachedict.core`."""

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


def legacy_files(folder: Path, index_names: tp.Iterable[str]) -> list[Path]:
    """The files 0.6.0 wrote in a CacheDict folder: its index files (``index_names``,
    those holding 0.6.0 lines) and the files directly in ``data/`` (this package
    writes only into per-writer sub-folders there)."""
    out = [folder / name for name in index_names]
    data = folder / "data"
    if data.is_dir():
        out.extend(p for p in sorted(data.iterdir()) if not p.is_dir() or p.is_symlink())
        # 0.6.0's MneRawBrainVision entries are folders named <key>-<md5[:8]>
        out.extend(p for p in sorted(data.iterdir()) if p.is_dir() and list(p.glob("*-raw.vhdr")))
    return out
