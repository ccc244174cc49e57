"""CacheDict: write 10,000 values in one process, then open the folder and read them in a
fresh process, per storage format.

Ours vs the reference release (exca==0.6.0, its own venv created by the harness) vs the
raw baseline a user would write: a loop of ``np.save``/``np.load`` (arrays) or
``pickle.dump``/``pickle.load`` (dicts, and the ``Pickle`` rows), one file per key.

Rows per case: ``write`` (create the CacheDict, write every key in one writer context),
``keys`` (fresh process: open the folder and list the keys; the baseline lists the
directory) and ``read`` (same process: load every value and touch its data).
Run: ``.venv/bin/python benchmarks/bench_cachedict.py`` (``--help`` for options).
A second table gives ``ours / baseline`` (< 1 means ours is faster than the raw loop).
"""

import dataclasses
import json
import statistics
import sys
import textwrap
from pathlib import Path

from harness import RESULTS_DIR, Case, Script, main

N = 10_000

VALUES = {
    "arrays": (
        "rng = np.random.default_rng(0)\n"
        "VALUES = [rng.random(64, dtype=np.float32) for _ in range(N)]\n"
    ),
    "dicts": (
        "rng = np.random.default_rng(0)\n"
        "VALUES = [\n"
        "    {'id': i, 'name': f'item-{i}', 'score': i * 0.5, 'tags': ['a', 'b'],\n"
        "     'vec': rng.random(8, dtype=np.float32)}\n"
        "    for i in range(N)\n"
        "]\n"
    ),
}
TOUCH = {  # read a bit of every value so that lazily mapped data is really read
    "arrays": "total += float(value[0])",
    "dicts": "total += float(value['vec'][0]) + value['score']",
}

HEADER = """
import os
import pickle
import numpy as np
N = {n}
folder = os.path.join(os.environ["BENCH_WORKDIR"], "cache")
"""


def exca_side(kind: str, cache_type: str | None) -> Script:
    """Write then read with ``exca.cachedict.CacheDict`` (ours or reference: same code)."""
    head = HEADER.format(n=N) + "from exca.cachedict import CacheDict\n"
    write = (
        head
        + VALUES[kind]
        + textwrap.dedent(
            f"""
        with timed("write"):
            cache = CacheDict(folder, cache_type={cache_type!r})
            with cache.writer() as writer:
                for i, value in enumerate(VALUES):
                    writer[f"key-{{i}}"] = value
        """
        )
    )
    read = head + textwrap.dedent(
        f"""
        with timed("keys"):
            cache = CacheDict(folder, cache_type={cache_type!r})
            keys = list(cache.keys())
        assert len(keys) == N, len(keys)
        with timed("read"):
            total = 0.0
            for key in keys:
                value = cache[key]
                {TOUCH[kind]}
        """
    )
    return Script(write, read, timeout=900)


def baseline_side(kind: str, fmt: str) -> Script:
    """The raw loop: one ``.npy`` (np.save/np.load) or ``.pkl`` (pickle) file per key."""
    head = HEADER.format(n=N)
    if fmt == "npy":
        dump = "        np.save(os.path.join(folder, f'key-{i}.npy'), value)\n"
        load = "        value = np.load(os.path.join(folder, name))\n"
    else:
        dump = (
            "        with open(os.path.join(folder, f'key-{i}.pkl'), 'wb') as f:\n"
            "            pickle.dump(value, f)\n"
        )
        load = (
            "        with open(os.path.join(folder, name), 'rb') as f:\n"
            "            value = pickle.load(f)\n"
        )
    write = (
        head
        + VALUES[kind]
        + 'with timed("write"):\n'
        + "    os.makedirs(folder)\n"
        + "    for i, value in enumerate(VALUES):\n"
        + dump
    )
    read = (
        head
        + 'with timed("keys"):\n'
        + "    names = os.listdir(folder)\n"
        + "assert len(names) == N, len(names)\n"
        + 'with timed("read"):\n'
        + "    total = 0.0\n"
        + "    for name in names:\n"
        + load
        + f"        {TOUCH[kind]}\n"
    )
    return Script(write, read, timeout=900)


def case(kind: str, cache_type: str | None, fmt: str, repeats: int) -> Case:
    label = cache_type or "default"
    base = "np.save/np.load" if fmt == "npy" else "pickle.dump/load"
    return Case(
        f"{N:,} {kind}, {label} (baseline: {base} per key)",
        ours=exca_side(kind, cache_type),
        reference=exca_side(kind, cache_type),
        baseline=baseline_side(kind, fmt),
        repeats=repeats,
    )


CASES = [
    case("arrays", None, "npy", repeats=5),  # MemmapArray on both sides
    case("arrays", "NumpyArray", "npy", repeats=3),
    case("arrays", "Pickle", "pkl", repeats=3),
    case("dicts", None, "pkl", repeats=5),  # Auto: json inline + memmap leaves (both sides)
    case("dicts", "Pickle", "pkl", repeats=3),
]

NOTES = [
    "arrays: float32, shape (64,); dicts: {id, name, score, tags, vec: float32 (8,)}",
    "write: one process, one writer context; keys/read: a fresh process (imports not timed)",
    "default = cache_type None: MemmapArray for arrays, Auto (JSON inline + MemmapArray "
    "leaves) for the dicts, on both sides",
    "the reference's one-file-per-key writes grow quadratically with the number of keys",
]


def _baseline_table(json_path: Path) -> str:
    rows = json.loads(json_path.read_text())["rows"]
    lines = ["| case | ours / baseline |", "|---|---:|"]
    for row in rows:
        samples = row["samples"]
        if not samples.get("ours") or not samples.get("baseline"):
            continue
        ours = statistics.median(samples["ours"])
        base = statistics.median(samples["baseline"])
        lines.append(f"| {row['name']} | {ours / base:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    argv = sys.argv[1:]
    cases = CASES
    if any(a.startswith("--repeats") for a in argv):  # an explicit --repeats wins
        cases = [dataclasses.replace(c, repeats=None) for c in CASES]
    code = main(cases, name="cachedict", notes=NOTES, argv=argv)
    json_path = RESULTS_DIR / "cachedict.json"
    if "--json" in argv:
        value = argv[argv.index("--json") + 1]
        json_path = Path(value) if value else Path()
    if json_path.is_file():
        print("#### ours vs raw baseline (median ours / median baseline; < 1: ours faster)\n")
        print(_baseline_table(json_path), flush=True)
    sys.exit(code)
