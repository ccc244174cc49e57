"""``exca ls`` on folders of 100,000 items (the issue's target: under 2 s).

Builds, once, cache folders of 100,000 MapInfra-like items in three storage formats (values
inline in the index, one shared memmap file, one file per item), then times, interleaved
round by round:

- ``exca ls FOLDER --json``: the whole command in a fresh process (Python start-up included);
- ``exca.inspect.ls(FOLDER)``: the function, in this process;
- baseline ``du -s FOLDER && wc -l FOLDER/*/*/*-info.jsonl``: what a user does today (size,
  and a line count that over-counts deleted items);
- with ``--compare TREE``: ``exca ls FOLDER --json`` run from another source tree (a
  folder holding an ``exca`` package, e.g. ``git archive <commit> exca | tar -x -C TREE``).

Prints a markdown table of medians (and min/max). Never asserts timings.

    .venv/bin/python benchmarks/bench_inspect.py [--items 100000] [--repeats 7] [--keep DIR]
        [--compare TREE]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import typing as tp
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from exca import inspect  # noqa: E402
from exca.cachedict import CacheDict  # noqa: E402

FORMATS = {
    "Json (inline)": "Json",
    "MemmapArray": "MemmapArray",
    "NumpyArray (1 file/item)": "NumpyArray",
}


def build(folder: Path, cache_type: str, n: int) -> Path:
    uid_folder = folder / "bench.Model.method,1" / "default"
    if uid_folder.exists():
        return folder
    cd: CacheDict[tp.Any] = CacheDict(uid_folder, cache_type=cache_type)
    value: tp.Any = [1.0, 2.0] if cache_type == "Json" else np.arange(4.0)
    with cd.writer() as w:
        for k in range(n):
            w[f"item-{k}"] = value
    return folder


def timed(func: tp.Callable[[], tp.Any]) -> float:
    t0 = time.perf_counter()
    func()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", type=Path, help="build the folders here and keep them")
    parser.add_argument("--compare", type=Path, help="also time exca ls from this source tree")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-inspect-"))
    exca_cmd = [sys.executable, "-m", "exca"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    try:
        folders = {}
        for label, cache_type in FORMATS.items():
            t0 = time.perf_counter()
            folders[label] = build(root / cache_type, cache_type, args.items)
            print(f"built {label}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        for label, folder in folders.items():  # check what is timed
            [e] = inspect.ls(folder)
            assert e.items == args.items, (label, e.items)
        sides: dict[str, tp.Callable[[Path], tp.Any]] = {
            "exca ls --json (new process)": lambda f: subprocess.run(
                [*exca_cmd, "ls", str(f), "--json"], env=env, check=True, capture_output=True
            ),
            "inspect.ls (in process)": lambda f: inspect.ls(f),
            "baseline du -s + wc -l": lambda f: subprocess.run(
                f"du -s {f} && wc -l {f}/*/*/*-info.jsonl",
                shell=True,
                check=True,
                capture_output=True,
            ),
        }
        if args.compare is not None:
            # (an editable install of this tree is found before PYTHONPATH: drop its finder)
            launch = (
                "import runpy, sys; sys.meta_path[:] = [f for f in sys.meta_path"
                " if '__editable__' not in getattr(f, '__module__', '')];"
                f" sys.path.insert(0, {str(args.compare.resolve())!r});"
                " sys.argv[0] = 'exca'; runpy.run_module('exca', run_name='__main__')"
            )
            sides[f"exca ls --json ({args.compare})"] = lambda f: subprocess.run(
                [sys.executable, "-c", launch, "ls", str(f), "--json"],
                check=True,
                capture_output=True,
            )
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(args.repeats):
            order = list(sides.items())
            if r % 2:
                order.reverse()
            for label, folder in folders.items():
                for side, func in order:
                    times.setdefault((label, side), []).append(timed(lambda: func(folder)))  # noqa: B023
        load = os.getloadavg()
        print(
            f"\n{args.items} items per folder, {args.repeats} rounds, load average {load[0]:.1f}\n"
        )
        print("| folder | side | median (s) | min | max |")
        print("|---|---|---|---|---|")
        for (label, side), values in times.items():
            print(
                f"| {label} | {side} | {statistics.median(values):.3f} | "
                f"{min(values):.3f} | {max(values):.3f} |"
            )
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
