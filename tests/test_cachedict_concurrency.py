"""CacheDict with several processes: concurrent writers, same-key races, readers
following writers, and writers killed with SIGKILL in the middle of a write."""

import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca.cachedict import CacheDict

ROOT = Path(__file__).parents[1]
FORMATS = [None, "NumpyArray", "Pickle", "Json"]


def _value(worker: int, k: int) -> tp.Any:
    kind = k % 4
    if kind == 0:
        return np.full(5, worker * 100_000 + k, dtype=np.int64)
    if kind == 1:
        return {"w": worker, "k": k, "arr": np.arange(k % 7)}
    if kind == 2:
        return f"text-{worker}-{k}" * (1 + k % 3)
    return [worker, k]


def _check(value: tp.Any, worker: int, k: int) -> None:
    expected = _value(worker, k)
    if isinstance(expected, dict):
        assert value["w"] == worker and value["k"] == k
        np.testing.assert_array_equal(value["arr"], expected["arr"])
    elif isinstance(expected, np.ndarray):
        np.testing.assert_array_equal(value, expected)
    else:
        assert value == expected


def _write_many(folder: str, worker: int, n: int) -> None:
    cache: CacheDict[tp.Any] = CacheDict(folder)
    with cache.writer() as w:
        for k in range(n):
            w[f"w{worker}-k{k}"] = _value(worker, k)
            if k == n // 2:  # a reader inside a writer sees others' keys too
                assert len(cache) >= n // 2


def test_many_processes_lose_nothing(tmp_path: Path) -> None:
    n_procs, n_keys = 4, 1500
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_write_many, args=(str(tmp_path), w, n_keys)) for w in range(n_procs)
    ]
    for p in procs:
        p.start()
    # meanwhile, a reader in this process follows the writers
    reader: CacheDict[tp.Any] = CacheDict(tmp_path)
    seen = 0
    while any(p.is_alive() for p in procs):
        keys = list(reader.keys())
        assert len(keys) >= seen  # never loses keys
        seen = len(keys)
        for key in keys[-20:]:
            worker, k = (int(x[1:]) for x in key.split("-"))
            _check(reader[key], worker, k)
        time.sleep(0.01)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    for cache in (reader, CacheDict(tmp_path)):
        assert len(cache) == n_procs * n_keys
        for w in range(n_procs):
            for k in range(0, n_keys, 7):
                _check(cache[f"w{w}-k{k}"], w, k)
    assert len(list(tmp_path.glob("*-info.jsonl"))) == n_procs


def _write_same_keys(folder: str, worker: int, n: int, cache_type: str | None) -> None:
    cache: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)
    with cache.writer() as w:
        for k in range(n):
            w[f"k{k}"] = np.full(1000, worker) if cache_type != "Json" else [worker] * 100


def _winners(folder: str, n: int, queue: tp.Any) -> None:
    cache: CacheDict[tp.Any] = CacheDict(folder)
    queue.put([int(np.asarray(cache[f"k{k}"])[0]) for k in range(n)])


@pytest.mark.parametrize("cache_type", FORMATS)
def test_same_key_concurrent_writers(tmp_path: Path, cache_type: str | None) -> None:
    n_procs, n_keys = 4, 200
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(target=_write_same_keys, args=(str(tmp_path), w, n_keys, cache_type))
        for w in range(n_procs)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        assert p.exitcode == 0
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    assert len(cache) == n_keys
    winners = []
    for k in range(n_keys):
        value = np.asarray(cache[f"k{k}"])
        assert value.shape in ((1000,), (100,))
        assert len(set(value.tolist())) == 1  # one complete value, never a mix
        winners.append(int(value[0]))
    assert set(winners) <= set(range(n_procs))
    # every reader, in any process, picks the same winner
    queue = ctx.Queue()
    reader = ctx.Process(target=_winners, args=(str(tmp_path), n_keys, queue))
    reader.start()
    assert queue.get(timeout=60) == winners
    reader.join()
    # deleting removes the key for everyone (all copies are superseded)
    with cache.writer() as w:
        del w["k0"]
    assert "k0" not in CacheDict(tmp_path)
    assert len(CacheDict(tmp_path)) == n_keys - 1


def _write_in_forked_child(cache: CacheDict[tp.Any]) -> None:
    cache["child"] = np.full(3, 2.0)  # still "inside" the context inherited from the parent


def test_fork_inside_write_context(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    ctx = multiprocessing.get_context("fork")
    with cache.writer() as w:
        w["parent"] = np.full(3, 1.0)  # the parent's writer files are open
        proc = ctx.Process(target=_write_in_forked_child, args=(cache,))
        proc.start()
        proc.join()
        assert proc.exitcode == 0
        w["parent2"] = np.full(1000, 3.0)
    # the child wrote to its own files: nothing interleaved with the parent's
    assert len(list(tmp_path.glob("*-info.jsonl"))) == 2
    fresh: CacheDict[tp.Any] = CacheDict(tmp_path)
    for key, value in {"parent": 1.0, "child": 2.0, "parent2": 3.0}.items():
        assert set(np.asarray(fresh[key]).tolist()) == {value}


def test_threads_write_to_own_files(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)

    def write(worker: int) -> None:
        with cache.writer() as w:
            for k in range(300):
                w[f"t{worker}-{k}"] = _value(worker, k)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(tmp_path.glob("*-info.jsonl"))) == 4
    fresh: CacheDict[tp.Any] = CacheDict(tmp_path)
    assert len(fresh) == len(cache) == 1200
    for w in range(4):
        for k in range(0, 300, 11):
            _check(fresh[f"t{w}-{k}"], w, k)


def test_reader_follows_other_process(tmp_path: Path) -> None:
    reader: CacheDict[tp.Any] = CacheDict(tmp_path, keep_in_ram=True)
    assert "a" not in reader and not list(reader.keys())
    code = textwrap.dedent(
        f"""
        import sys
        from exca.cachedict import CacheDict
        cache = CacheDict({str(tmp_path)!r})
        with cache.writer() as w:
            if sys.argv[1] == "write":
                w["a"] = {{"x": 1}}
                w["b"] = "bb"
            else:
                del w["a"]
        """
    )
    subprocess.run([sys.executable, "-c", code, "write"], check=True, cwd=ROOT)
    assert "a" in reader and reader["a"] == {"x": 1}
    assert set(reader.keys()) == {"a", "b"}
    subprocess.run([sys.executable, "-c", code, "delete"], check=True, cwd=ROOT)
    assert set(reader.keys()) == {"b"}
    with pytest.raises(KeyError):
        reader["a"]


KILLED_WRITER = """
import sys
import numpy as np
from exca.cachedict import CacheDict

folder, cache_type = sys.argv[1], sys.argv[2]
cache = CacheDict(folder, cache_type=None if cache_type == "None" else cache_type)
with cache.writer() as w:
    k = 0
    while True:
        rng = np.random.default_rng(k)
        w[f"k{k}"] = rng.random(int(rng.integers(1, 300_000)))
        print(k, flush=True)
        k += 1
"""


@pytest.mark.parametrize("cache_type", ["None", "NumpyArray", "Pickle"])
def test_sigkill_mid_write(tmp_path: Path, cache_type: str) -> None:
    folder = tmp_path / "cache"
    completed: list[int] = []
    for round_ in range(3):  # several killed writers in the same folder
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLED_WRITER, str(folder), cache_type],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert proc.stdout is not None
        target = 5 + 7 * round_
        for line in proc.stdout:
            if int(line) >= target:
                break
        time.sleep(0.002 * round_)  # land somewhere inside a write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -signal.SIGKILL
        completed.append(target)
        # the folder reopens without error or warning; every visible key is complete
        cache: CacheDict[tp.Any] = CacheDict(folder)
        keys = set(cache.keys())
        assert {f"k{k}" for k in range(target + 1)} <= keys
        for key in keys:
            k = int(key[1:])
            rng = np.random.default_rng(k)
            np.testing.assert_array_equal(cache[key], rng.random(int(rng.integers(1, 300_000))))
    # the next write works, and every reader agrees
    cache = CacheDict(folder)
    with cache.writer() as w:
        w["after"] = np.ones(3)
    assert "after" in CacheDict(folder)


def test_sigkill_leaves_partial_line_ignored(tmp_path: Path) -> None:
    # simulate the worst case: killed after writing part of its index line
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    with cache.writer() as w:
        w["a"] = np.ones(3)
    dead = tmp_path / "otherhost-1-1-abcdef-info.jsonl"
    dead.write_bytes(b'{"#type":"MemmapArray","filename":"data/otherhost-1-1-abcdef/arr')
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fresh: CacheDict[tp.Any] = CacheDict(tmp_path)
        assert list(fresh.keys()) == ["a"]
        with fresh.writer() as w:
            w["b"] = 2
        assert set(CacheDict(tmp_path).keys()) == {"a", "b"}


@pytest.mark.parametrize("seed", [0, 1])
def test_random_operations_across_writers_match_a_dict(tmp_path: Path, seed: int) -> None:
    # 3 writer threads (3 index files) take turns writing, deleting and clearing;
    # a long-lived reader and a fresh reader always agree with a plain dict
    import queue
    import random

    rng = random.Random(seed)
    commands: list[queue.Queue[tp.Any]] = [queue.Queue() for _ in range(3)]
    done: queue.Queue[BaseException | None] = queue.Queue()

    def worker(inbox: queue.Queue[tp.Any]) -> None:
        cache: CacheDict[tp.Any] = CacheDict(tmp_path, cache_type=None)
        while (command := inbox.get()) is not None:
            op, key, value = command
            try:
                if op == "clear":
                    cache.clear()
                else:
                    with cache.writer() as w:
                        if op == "set":
                            w[key] = value
                        else:
                            del w[key]
                done.put(None)
            except BaseException as e:
                done.put(e)

    threads = [threading.Thread(target=worker, args=(q,)) for q in commands]
    for t in threads:
        t.start()
    model: dict[str, tp.Any] = {}
    reader: CacheDict[tp.Any] = CacheDict(tmp_path, keep_in_ram=True)
    try:
        for step in range(150):
            key = f"k{rng.randrange(12)}"
            roll = rng.random()
            if roll < 0.03:
                command: tp.Any = ("clear", None, None)
                model.clear()
            elif key in model and roll < 0.4:
                command = ("del", key, None)
                del model[key]
            elif key not in model:
                value = rng.choice([np.full(3, step), {"step": step}, f"s{step}", step])
                command = ("set", key, value)
                model[key] = value
            else:
                continue
            commands[rng.randrange(3)].put(command)
            error = done.get(timeout=30)
            assert error is None, error
            for cache in (reader, CacheDict(tmp_path)):
                assert set(cache.keys()) == set(model), step
                for k, expected in model.items():
                    got = cache[k]
                    if isinstance(expected, np.ndarray):
                        np.testing.assert_array_equal(got, expected)
                    else:
                        assert got == expected, (step, k)
    finally:
        for q in commands:
            q.put(None)
        for t in threads:
            t.join()
