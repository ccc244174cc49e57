"""The record an exca Hydra launcher keeps in a sweep directory: ``exca-sweep.jsonl``.

It is written by the launcher (:mod:`exca.hydra.launcher`) and by its jobs, and read by
:func:`exca.inspect.sweep` (``exca sweep SWEEP_DIR``). One JSON object per line, appended
with one ``write`` per line (``O_APPEND``: lines of several processes never interleave);
a reader skips a partial last line and garbled lines. Events:

- ``{"event": "launch", "launch": token, "t": ns, "launcher": name, "n": jobs, "wait":
  bool, "cache_folder": path | null}``: one per ``launch()`` (one per batch);
- ``{"event": "job", "launch": token, "idx": i, "overrides": [...], "action": action,
  "folder": uid folder | null, "job_id": id | null, "t": ns}``: the launcher's decision
  for job ``i`` (``action``: run, cached, running, failed-before, duplicate), written
  once the uncached jobs are submitted (``job_id`` is then known);
- ``{"event": "start", "launch": token, "idx": i, "t": ns, "job_id": id}`` and ``{"event":
  "end", "launch": token, "idx": i, "t": ns, "status": "completed" | "failed", "value":
  number or dict of numbers (when it is one), "error": first line}``: written by the
  job process around the task function, and ``end`` again by the launcher once it has
  the job's outcome (``"by": "launcher"``).

This module imports neither Hydra nor submitit.
"""

from __future__ import annotations

import math
import os
import secrets
import time
import typing as tp
from pathlib import Path

import orjson

__all__ = ["RECORD", "append", "new_token", "numeric_value", "read"]

RECORD = "exca-sweep.jsonl"
"""The name of the record file in a sweep directory."""


def new_token() -> str:
    """A token naming one ``launch()`` of a sweep."""
    return secrets.token_hex(4)


def numeric_value(value: tp.Any) -> float | dict[str, float] | None:
    """``value`` when it is a number (not a bool) or a flat dict of numbers, else None:
    what a sweep report can tabulate and plot."""

    def number(v: tp.Any) -> float | None:
        if isinstance(v, bool) or not isinstance(v, int | float):
            try:  # numpy scalars
                import numpy as np

                if isinstance(v, np.generic) and np.issubdtype(v.dtype, np.number):
                    return float(v)
            except ImportError:
                pass
            return None
        return float(v) if math.isfinite(float(v)) else None

    if isinstance(value, dict):
        out = {str(k): number(v) for k, v in value.items()}
        if out and all(v is not None for v in out.values()):
            return tp.cast(dict[str, float], out)
        return None
    return number(value)


def append(sweep_dir: str | Path, event: dict[str, tp.Any]) -> None:
    """Appends one event line to the record of ``sweep_dir`` (best effort: a sweep never
    fails because its record cannot be written)."""
    event.setdefault("t", time.time_ns())
    line = orjson.dumps(event, default=str, option=orjson.OPT_SERIALIZE_NUMPY) + b"\n"
    try:
        fd = os.open(Path(sweep_dir) / RECORD, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o666)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError:
        pass


def read(sweep_dir: str | Path) -> list[dict[str, tp.Any]]:
    """The events recorded in ``sweep_dir`` (complete, valid lines only, in file order).

    Raises FileNotFoundError, naming the file, when the directory has no record."""
    path = Path(sweep_dir) / RECORD
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: {sweep_dir} is not the sweep directory of an exca "
            "launcher (hydra/launcher=exca_inline|exca_local|exca_slurm), or the sweep "
            "has not started"
        )
    data = path.read_bytes()
    events = []
    for line in data[: data.rfind(b"\n") + 1].splitlines():
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(event, dict) and isinstance(event.get("event"), str):
            events.append(event)
    return events
