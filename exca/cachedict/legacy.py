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
``exca060``, whose handler (:mod:`exca.cachedict.handlers.exca060`, beside the other
storage formats) reads each 0.6.0 format with the same result as 0.6.0 itself (dtypes
included). Such entries sort before every entry of this package (``#t`` 0). This module
imports nothing of the storage engine (the index reader uses it). Nothing here writes or deletes 0.6.0's files: ``del`` of a
0.6.0 key only records a tombstone (0.6.0 keeps its value); ``clear()`` removes the
0.6.0 files too (see :func:`legacy_files`).
"""

from __future__ import annotations

import typing as tp
from pathlib import Path

import orjson

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
