"""Reliability campaign (issue 9): many processes sharing one cache folder.

- 8 processes run the same MapInfra on overlapping item sets: every item is computed
  and readable by everyone, each process gets its own outputs right, the folder holds
  at most one copy of an item per process that computed it, and a second round finds
  everything cached (nothing is computed or written again);
- 8 processes call the same TaskInfra: one cached result, every process returns it.

Workers are real processes (forked from a server process that imported this module),
started together through a file barrier so that they truly overlap.
"""

from __future__ import annotations

import json
import os
import threading
import time
import typing as tp
import uuid
from pathlib import Path

import numpy as np
import pydantic
import pytest

import exca
from exca.cachedict import CacheDict

N_PROCS = 8
ITEM_SIZE = 1000  # int64 values per output: 8 kB
BARRIER_TIMEOUT = 60.0


def barrier(folder: str, name: str, count: int, timeout: float = BARRIER_TIMEOUT) -> bool:
    """Waits until ``count`` processes reached the barrier ``name`` (files in ``folder``).
    Returns False if the timeout expired first."""
    path = Path(folder) / name
    path.mkdir(parents=True, exist_ok=True)
    (path / f"{os.getpid()}-{threading.get_native_id()}").touch()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if len(os.listdir(path)) >= count:
            return True
        time.sleep(0.005)
    return False


def _log(path: str, record: tp.Any) -> None:
    """Appends one JSON line (a single write: lines of concurrent processes never mix)."""
    if path:
        with open(path, "a", encoding="utf8") as f:
            f.write(json.dumps(record) + "\n")


def expected_output(item: int) -> np.ndarray:
    return np.arange(ITEM_SIZE, dtype=np.int64) * 7 + item


class Features(pydantic.BaseModel):
    """A MapInfra whose computation logs what it computes, where, and can wait on a
    barrier first (``barrier``/``computed_log`` do not change the result: excluded)."""

    offset: int = 0
    barrier: str = ""
    computed_log: str = ""
    infra: exca.MapInfra = exca.MapInfra(version="1")
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("barrier", "computed_log")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[np.ndarray]:
        if self.barrier:  # every process decided what to compute before anyone writes
            barrier(self.barrier, "compute", N_PROCS)
        _log(self.computed_log, {"pid": os.getpid(), "items": list(items)})
        for item in items:
            yield expected_output(item + self.offset)


def map_worker(folder: str, items: list[int], barrier_dir: str, compute_barrier: bool) -> list[int]:
    """Runs in a worker process: a checksum per output."""
    feats = Features(
        barrier=barrier_dir if compute_barrier else "",
        computed_log=str(Path(barrier_dir) / "computed.jsonl"),
        # claims off: the storage-level worst case (every process computes what it
        # misses, as when a file system defeats claims); compute once: tests/test_claims.py
        infra={"folder": folder, "claims": "off"},
    )
    barrier(barrier_dir, "start", N_PROCS)
    return [int(out.sum()) for out in feats.process(items)]


def _call_worker(name: str, args: list[tp.Any], out: str) -> None:
    """Runs ``name(*args)`` in a worker process; writes its JSON result (or the
    traceback of its failure) to ``out``."""
    import traceback

    try:
        result: tp.Any = {"ok": globals()[name](*args)}
    except BaseException:
        result = {"error": traceback.format_exc()}
    Path(out).write_text(json.dumps(result), encoding="utf8")


def _run_workers(name: str, args: list[list[tp.Any]], timeout: float = 240) -> list[tp.Any]:
    """Runs ``name(*a)`` (a function of this module) in one new process per ``a``, all at
    once; returns their results in order. Processes are forked from a fresh server
    process that has imported this module (fast, and safe with threads in pytest)."""
    import multiprocessing
    import tempfile

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    with tempfile.TemporaryDirectory() as tmp:
        outs = [str(Path(tmp) / f"out-{k}.json") for k in range(len(args))]
        procs = [
            ctx.Process(target=_call_worker, args=(name, a, out)) for a, out in zip(args, outs)
        ]
        for proc in procs:
            proc.start()
        results = []
        for proc, out in zip(procs, outs):
            proc.join(timeout)
            assert proc.exitcode == 0, f"worker {proc.pid} exited with {proc.exitcode}"
            result = json.loads(Path(out).read_text(encoding="utf8"))
            assert "error" not in result, f"worker {proc.pid} failed:\n{result['error']}"
            results.append(result["ok"])
    return results


def _folder_bytes(folder: Path, pattern: str = "*") -> int:
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


def _index_lines(folder: Path) -> dict[str, int]:
    """Number of index lines per key, over all writers' index files."""
    counts: dict[str, int] = {}
    for index in folder.glob("*-info.jsonl"):
        for line in index.read_bytes().splitlines():
            if not line:  # the empty first line
                continue
            key = json.loads(line)["#key"]
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_map_infra_8_processes_overlapping_items(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    # worker w asks for items [25 w, 25 w + 100): each item is wanted by up to 4 workers
    item_sets = [list(range(25 * w, 25 * w + 100)) for w in range(N_PROCS)]
    all_items = sorted({i for items in item_sets for i in items})
    wanted_by = {i: sum(i in items for items in item_sets) for i in all_items}
    round1 = tmp_path / "round1"
    outputs = _run_workers(
        "map_worker", [[str(folder), items, str(round1), True] for items in item_sets]
    )
    # every process got the right output for every item it asked for, in order
    for items, sums in zip(item_sets, outputs):
        assert sums == [int(expected_output(i).sum()) for i in items]
    # every item is readable by a fresh reader, with the right value
    feats = Features(infra={"folder": folder, "mode": "read-only"})
    for item, out in zip(all_items, feats.process(all_items)):
        np.testing.assert_array_equal(out, expected_output(item))
    cache_folder = feats.infra.uid_folder()
    assert cache_folder is not None
    reader: CacheDict[tp.Any] = CacheDict(cache_folder)
    assert sorted(reader.keys(), key=int) == [str(i) for i in all_items]
    # duplicates are bounded: an item is stored at most once per process that computed
    # it (here all processes computed all their items at the same time: the worst case)
    lines = _index_lines(cache_folder)
    computed = [json.loads(x) for x in (round1 / "computed.jsonl").read_text().splitlines()]
    assert len({c["pid"] for c in computed}) == N_PROCS
    for item in all_items:
        assert 1 <= lines[str(item)] <= wanted_by[item]
    item_bytes = expected_output(0).nbytes
    assert _folder_bytes(cache_folder, "*.data") <= sum(lines.values()) * (item_bytes + 16)
    size = _folder_bytes(cache_folder)
    assert size <= sum(wanted_by.values()) * (item_bytes + 16 + 400)  # + index lines
    # round 2, same items, same 8 processes: everything is cached, nothing is written
    round2 = tmp_path / "round2"
    outputs = _run_workers(
        "map_worker", [[str(folder), items, str(round2), False] for items in item_sets]
    )
    for items, sums in zip(item_sets, outputs):
        assert sums == [int(expected_output(i).sum()) for i in items]
    assert not (round2 / "computed.jsonl").exists()
    assert _index_lines(cache_folder) == lines
    assert _folder_bytes(cache_folder) == size


def _lookups_with_concurrent_writes(folder: Path, write_at: int) -> list[int]:
    """Computes items 0..3 while 'another process' writes item ``write_at`` right after
    this call's first cache lookup missed (simulated with a thread: own writer files)."""
    feats = Features(infra={"folder": folder})
    cd = feats.infra.cache_dict
    lookups = 0
    original = type(cd).__contains__

    def contains(self: CacheDict[tp.Any], key: object) -> bool:
        nonlocal lookups
        found = original(self, key)
        if self is cd:
            lookups += 1
            if lookups == 1:
                other = Features(infra={"folder": folder})
                thread = threading.Thread(target=lambda: list(other.process([write_at])))
                thread.start()
                thread.join()
        return found

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(cd), "__contains__", contains)
        return [int(x.sum()) for x in feats.process([0, 1, 2, 3])]


@pytest.mark.parametrize("write_at", [0, 2])
def test_map_item_written_by_another_process_during_lookups(tmp_path: Path, write_at: int) -> None:
    """An item that appears between the cache lookups and the writes of a map call
    (written by another process) neither fails the call nor changes its outputs."""
    assert _lookups_with_concurrent_writes(tmp_path / "cache", write_at) == [
        int(expected_output(i).sum()) for i in range(4)
    ]
    feats = Features(infra={"folder": tmp_path / "cache", "mode": "read-only"})
    assert [int(x.sum()) for x in feats.process(range(4))] == [
        int(expected_output(i).sum()) for i in range(4)
    ]
    folder = feats.infra.uid_folder()
    assert folder is not None
    assert all(n <= 2 for n in _index_lines(folder).values())  # at most once per writer


class Once(pydantic.BaseModel):
    """A TaskInfra whose computation is logged; ``unique`` makes each computation return
    a different value (as a training run with a random init would)."""

    seed: int = 0
    unique: bool = False
    barrier: str = ""
    computed_log: str = ""
    infra: exca.TaskInfra = exca.TaskInfra(version="1")
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("barrier", "computed_log")

    @infra.apply
    def run(self) -> dict[str, tp.Any]:
        _log(self.computed_log, os.getpid())
        if self.barrier:  # overlap the computations (does not wait forever if serialized)
            barrier(self.barrier, "compute", N_PROCS, timeout=3)
        values = np.random.default_rng(self.seed).random(1000)
        return {"values": values, "token": uuid.uuid4().hex if self.unique else ""}


def task_worker(folder: str, barrier_dir: str, unique: bool, widen: bool) -> dict[str, tp.Any]:
    """Runs in a worker process: the result's checksum and token. With ``widen``,
    every write to a CacheDict first waits (3 s at most) for the 7 other processes to be
    about to write too: the window between "is it cached?" and "write it" is widened
    to make the race deterministic (a correct lock makes the others never write)."""
    if widen:
        original = CacheDict.__setitem__

        def setitem(self: CacheDict[tp.Any], key: str, value: tp.Any) -> None:
            barrier(barrier_dir, "write", N_PROCS, timeout=3)
            original(self, key, value)

        CacheDict.__setitem__ = setitem  # type: ignore[method-assign]
    once = Once(
        seed=3,
        unique=unique,
        barrier=barrier_dir if unique else "",
        computed_log=str(Path(barrier_dir) / "computed.jsonl"),
        infra={"folder": folder, "claims": "off"},  # (see map_worker)
    )
    barrier(barrier_dir, "start", N_PROCS)
    result = once.run()
    return {"sum": float(result["values"].sum()), "token": result["token"]}


def test_task_infra_8_processes_one_result(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    sync = tmp_path / "sync"
    results = _run_workers("task_worker", [[str(folder), str(sync), False, False]] * N_PROCS)
    once = Once(seed=3, infra={"folder": folder, "mode": "read-only"})
    cached = once.run()
    expected = float(np.random.default_rng(3).random(1000).sum())
    assert float(cached["values"].sum()) == expected
    assert all(r == {"sum": expected, "token": ""} for r in results)
    assert once.infra.status() == "completed"
    cache_folder = once.infra.uid_folder()
    assert cache_folder is not None
    assert list(CacheDict(cache_folder).keys()) == ["result"]


def test_task_infra_8_processes_agree_on_a_nondeterministic_result(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    sync = tmp_path / "sync"
    results = _run_workers("task_worker", [[str(folder), str(sync), True, True]] * N_PROCS)
    cached = Once(seed=3, unique=True, infra={"folder": folder, "mode": "read-only"}).run()
    assert {r["token"] for r in results} == {cached["token"]}
