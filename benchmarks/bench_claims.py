"""Compute once (exca.claims): what claims cost, in the same run.

``ours`` is this repository's exca with claims on (the default, ``claims="wait"``);
``baseline`` is the same exca with ``claims="off"`` (every process computes what it
misses, as before claims existed). Rows:

- cached calls (a TaskInfra result, 1,000 MapInfra items): claims are taken only on a
  miss, so both sides must run the same code;
- misses on a 10 ms item (a TaskInfra computation, MapInfra calls of 1 and 20 missing
  items): the claim (one file created, one removed per item) against 10 ms of work;
- the raw cost of one claim and its release, against creating and removing a plain file
  (the two file-system operations a claim is made of).

Each timed call uses a new uid folder (a counter in the config), so every call is a
miss. Run with ``.venv/bin/python benchmarks/bench_claims.py`` (``--help`` for
options); after the harness's table it prints ``claims on / claims off`` ratios (median
of the per-round ratios: < 1.05 means claiming costs less than 5%).
"""

import json
import statistics
import sys
from pathlib import Path

from harness import RESULTS_DIR, Case, Snippet, main

MODEL = """
import itertools
import os
import tempfile
import time
import typing as tp

import pydantic

import exca

CLAIMS = {claims!r}
FOLDER = tempfile.mkdtemp(prefix="bench-claims-")
COUNTER = itertools.count()


class Task(pydantic.BaseModel):
    k: int = 0
    delay: float = 0.01
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> int:
        time.sleep(self.delay)
        return self.k


class Mapper(pydantic.BaseModel):
    k: int = 0
    delay: float = 0.01
    infra: exca.MapInfra = exca.MapInfra(version="1")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        for item in items:
            time.sleep(self.delay)
            yield item * 2


def task(**kw: tp.Any) -> Task:
    return Task(infra={{"folder": FOLDER, "claims": CLAIMS}}, **kw)


def mapper(**kw: tp.Any) -> Mapper:
    return Mapper(infra={{"folder": FOLDER, "claims": CLAIMS}}, **kw)
"""


def sides(setup: str, stmt: str) -> dict[str, Snippet]:
    return {
        "ours": Snippet(stmt, MODEL.format(claims="wait") + setup),
        "baseline": Snippet(stmt, MODEL.format(claims="off") + setup),
    }


CASES = [
    Case(
        "TaskInfra cached call (new object each call)",
        **sides("task(k=-1).run()\nCHECK = task(k=-1).run()\n", "task(k=-1).run()"),
    ),
    Case(
        "MapInfra cached, 1,000 items",
        **sides(
            "ITEMS = list(range(1000))\nm = mapper(k=-1, delay=0)\nlist(m.process(ITEMS))\n",
            "list(mapper(k=-1).process(ITEMS))",
        ),
    ),
    Case(
        "TaskInfra miss, 10 ms computation",
        **sides("", "task(k=next(COUNTER)).run()"),
    ),
    Case(
        "MapInfra miss, 1 item of 10 ms",
        **sides("", "list(mapper(k=next(COUNTER)).process([0]))"),
    ),
    Case(
        "MapInfra miss, 20 items of 10 ms",
        **sides("ITEMS = list(range(20))\n", "list(mapper(k=next(COUNTER)).process(ITEMS))"),
    ),
]


RAW_SETUP = """
import itertools, os, tempfile
from pathlib import Path
FOLDER = Path(tempfile.mkdtemp(prefix="bench-claims-raw-"))
COUNTER = itertools.count()
"""
CASES.append(
    Case(
        "one key: claim + release (ours) vs create + remove a file (baseline)",
        ours=Snippet(
            "mine, _ = CLAIMS.acquire([str(next(COUNTER))]); CLAIMS.release(mine)",
            RAW_SETUP + "from exca.claims import Claims\nCLAIMS = Claims(FOLDER)\n",
        ),
        baseline=Snippet(
            "p = FOLDER / str(next(COUNTER)); "
            "os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL)); os.unlink(p)",
            RAW_SETUP,
        ),
    )
)


def print_ratios(path: Path) -> None:
    if not path.exists():
        return
    rows = json.loads(path.read_text())["rows"]
    print("| case | claims on / off (median of per-round ratios) | ratio of medians |")
    print("|---|---|---|")
    for row in rows:
        on, off = row["samples"].get("ours"), row["samples"].get("baseline")
        if not on or not off:
            continue
        paired = statistics.median(a / b for a, b in zip(on, off))
        medians = statistics.median(on) / statistics.median(off)
        print(f"| {row['name']} | {paired:.3f} | {medians:.3f} |")


if __name__ == "__main__":
    code = main(
        CASES,
        name="claims",
        notes=["ours: claims on (default); baseline: the same exca with claims='off'"],
    )
    json_arg = [a for a in sys.argv if a.startswith("--json")]
    if not json_arg:
        print_ratios(RESULTS_DIR / "claims.json")
    sys.exit(code)
