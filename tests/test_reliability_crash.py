"""Reliability campaign (issue 9): writers and jobs killed with SIGKILL.

- CacheDict writers (several formats, writes and deletions) are killed at random
  points, over many iterations, while a reader process checks every key it sees:
  the folder always reopens without warning, every completed write reads back equal,
  every completed deletion stays deleted, and no partial value is ever visible;
- a TaskInfra job (cluster="local") killed in the middle of its computation is
  reported "failed" (never "completed"), a call does not return a value for it, and
  mode="retry" recomputes it.

The loop here is bounded for CI; ``scripts/soak.py`` runs it for longer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import multiprocessing
import os
import random
import signal
import time
import typing as tp
import warnings
from pathlib import Path

import numpy as np
import pydantic
import pytest

import exca
from exca.cachedict import CacheDict, CacheDictWarning

# # # # # the killed writers # # # # #

FORMATS: tuple[str | None, ...] = (None, "NumpyArray", "Pickle", "MemmapArray", "Json")


def expected_value(worker: int, k: int) -> tp.Any:
    """The value written for key ``w<worker>-<k>`` (a pure function of worker and k)."""
    rng = np.random.default_rng([worker, k])
    kind = k % 6
    size = int(np.exp(rng.uniform(0, np.log(60_000))))  # 1 .. 60k, mostly small
    if kind in (0, 1):
        return rng.random(size)
    if kind == 2:
        return {"k": k, "arr": rng.integers(0, 100, size=size % 5000), "s": "x" * (k % 50)}
    if kind == 3:
        return "text-" * (size % 4000)  # large strings go to the shared texts file
    if kind == 4:
        return [worker, k, float(rng.random()), None, "é"]
    return {"nested": [rng.random(3), {"deep": size}], "t": (1, 2)}


def cache_type_for(k: int) -> str | None:
    kind = k % 6
    if kind in (0, 1):
        return FORMATS[k % 4]  # arrays: auto (MemmapArray), NumpyArray, Pickle, MemmapArray
    if kind == 4:
        return "Json"
    return None


def key_of(worker: int, k: int) -> str:
    return f"w{worker}-{k}"


def deleted_at(k: int) -> int | None:
    """Step k deletes the key written at step k - 3 (every 7th step), else None."""
    return k - 3 if k % 7 == 6 else None


def same(a: tp.Any, b: tp.Any) -> bool:
    """Deep equality (arrays by value, dtype and shape; tuples stay tuples)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and bool(np.array_equal(a, b))
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[x], b[x]) for x in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(same, a, b))
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b  # nan
    return type(a) is type(b) and bool(a == b)


def writer_process(folder: str, worker: int, progress: str) -> None:
    """Writes (and deletes) keys forever, appending ``k`` to ``progress`` after each
    completed step. Meant to be killed."""
    caches = {t: CacheDict[tp.Any](folder, cache_type=t) for t in FORMATS}
    fd = os.open(progress, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    k = 0
    with contextlib.ExitStack() as stack:
        writers = {t: stack.enter_context(c.writer()) for t, c in caches.items()}
        while True:
            w = writers[cache_type_for(k)]
            w[key_of(worker, k)] = expected_value(worker, k)
            gone = deleted_at(k)
            if gone is not None:
                del w[key_of(worker, gone)]
            os.write(fd, f"{k}\n".encode())
            k += 1


def reader_process(folder: str, report: str, stop: str) -> None:
    """Reads every visible key again and again while writers run and die; records
    any key whose value is wrong or fails to load (a deleted key may vanish)."""
    problems: list[str] = []
    reads = 0
    cache: CacheDict[tp.Any] = CacheDict(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        while not os.path.exists(stop) and len(problems) < 10:
            for key in list(cache.keys()):
                worker, k = (int(x) for x in key[1:].split("-"))
                try:
                    value = cache[key]
                except KeyError:
                    continue  # deleted meanwhile
                except Exception as e:
                    problems.append(f"{key}: {e!r}")
                    continue
                reads += 1
                if not same(value, expected_value(worker, k)):
                    problems.append(f"{key}: wrong value")
            cache = CacheDict(folder)  # also reopen from scratch
    problems += [f"warning: {w.message}" for w in caught]
    Path(report).write_text(json.dumps({"reads": reads, "problems": problems}))


@dataclasses.dataclass
class CrashStats:
    """What a crash loop did (printed by scripts/soak.py)."""

    iterations: int = 0
    kills: int = 0
    writes: int = 0  # completed writes (reported by the writers)
    deletes: int = 0
    keys: int = 0  # keys in the cache at the end
    reader_reads: int = 0
    losses: int = 0  # completed writes missing or wrong, deleted keys back: must stay 0
    problems: list[str] = dataclasses.field(default_factory=list)


def _completed_steps(progress: Path) -> list[int]:
    if not progress.exists():
        return []
    return [int(line) for line in progress.read_text().split("\n") if line.strip()]


def check_folder(
    folder: Path, done: dict[int, int], stats: CrashStats, in_flight: dict[int, int]
) -> None:
    """Checks the folder against what the writers reported: ``done[w]`` = number of
    completed steps of worker w; ``in_flight[w]`` = the step that may or may not have
    happened when w was killed."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheDictWarning)  # reopens without any warning
        cache: CacheDict[tp.Any] = CacheDict(folder)
        visible = set(cache.keys())
    expected: set[str] = set()
    maybe: set[str] = set()
    for worker, n in done.items():
        for k in range(n):
            expected.add(key_of(worker, k))
            gone = deleted_at(k)
            if gone is not None:
                expected.discard(key_of(worker, gone))
        step = in_flight.get(worker)
        if step is not None:  # the killed step may have written and/or deleted
            maybe.add(key_of(worker, step))
            gone = deleted_at(step)
            if gone is not None:
                maybe.add(key_of(worker, gone))
    for key in expected:
        if key not in visible and key not in maybe:
            stats.losses += 1
            stats.problems.append(f"completed write {key} is missing")
    for key in visible:
        worker, k = (int(x) for x in key[1:].split("-"))
        if key not in expected and key not in maybe:
            stats.losses += 1
            stats.problems.append(f"key {key} visible but deleted or never completed")
            continue
        try:
            value = cache[key]
        except Exception as e:
            stats.losses += 1
            stats.problems.append(f"key {key} does not load: {e!r}")
            continue
        if not same(value, expected_value(worker, k)):
            stats.losses += 1
            stats.problems.append(f"key {key} has a wrong value")
    stats.keys = len(visible)


def crash_loop(
    folder: Path,
    iterations: int,
    writers: int = 2,
    max_delay: float = 0.4,
    seed: int = 0,
    stats: CrashStats | None = None,
) -> CrashStats:
    """``iterations`` rounds of: start ``writers`` writer processes and a reader, kill
    the writers with SIGKILL after random delays, check the folder."""
    stats = CrashStats() if stats is None else stats
    rng = random.Random(seed)
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    work = folder.parent / f"{folder.name}-work"
    work.mkdir(parents=True, exist_ok=True)
    done: dict[int, int] = {}  # worker -> steps it reported complete
    in_flight: dict[int, int] = {}  # worker -> the step it was killed in (maybe done)
    for it in range(iterations):
        workers = [it * writers + w for w in range(writers)]
        progress = {w: work / f"progress-{w}" for w in workers}
        report, stop = work / f"reader-{it}.json", work / f"stop-{it}"
        reader = ctx.Process(target=reader_process, args=(str(folder), str(report), str(stop)))
        reader.start()
        procs = {
            w: ctx.Process(target=writer_process, args=(str(folder), w, str(progress[w])))
            for w in workers
        }
        for proc in procs.values():
            proc.start()
        deadline = time.monotonic() + 60
        for w, proc in procs.items():  # let each writer complete a few steps first
            while len(_completed_steps(progress[w])) < 2 and time.monotonic() < deadline:
                assert proc.is_alive(), f"writer {w} died on its own ({proc.exitcode})"
                time.sleep(0.005)
        for proc in rng.sample(list(procs.values()), len(procs)):
            time.sleep(rng.uniform(0, max_delay))
            os.kill(tp.cast(int, proc.pid), signal.SIGKILL)
        for w, proc in procs.items():
            proc.join(30)
            assert proc.exitcode == -signal.SIGKILL, f"writer {w}: exit code {proc.exitcode}"
            stats.kills += 1
            steps = _completed_steps(progress[w])
            assert steps == list(range(len(steps)))  # progress lines are never torn
            done[w] = len(steps)
            in_flight[w] = len(steps)
            stats.writes += len(steps)
            stats.deletes += sum(deleted_at(k) is not None for k in steps)
        stop.touch()
        reader.join(60)
        assert reader.exitcode == 0
        result = json.loads(report.read_text())
        stats.reader_reads += result["reads"]
        stats.losses += len(result["problems"])
        stats.problems += [f"reader: {p}" for p in result["problems"]]
        check_folder(folder, done, stats, in_flight)
        stats.iterations += 1
        if stats.problems:
            break
    return stats


def test_sigkill_writers_lose_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    stats = crash_loop(folder, iterations=6, writers=2, seed=1)
    assert stats.problems == []
    assert stats.losses == 0
    assert stats.kills == 12
    assert stats.writes > 50 and stats.deletes > 0 and stats.reader_reads > 0
    # after all these kills the folder still takes new writes, seen by every reader
    cache: CacheDict[tp.Any] = CacheDict(folder)
    with cache.writer() as w:
        w["after"] = np.arange(4)
    np.testing.assert_array_equal(CacheDict(folder)["after"], np.arange(4))
    # and clear() removes the dead writers' files
    cache.clear()
    assert list(CacheDict(folder).keys()) == []
    assert not list(folder.glob("data/*"))


# # # # # a TaskInfra job killed mid-run # # # # #


class Slow(pydantic.BaseModel):
    """Writes its pid to ``marker``, then waits for ``release`` (at most 120 s)."""

    marker: str
    release: str
    value: int = 3
    infra: exca.TaskInfra = exca.TaskInfra(version="1")
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("marker", "release")

    @infra.apply
    def run(self) -> int:
        Path(self.marker).write_text(str(os.getpid()))
        end = time.monotonic() + 120
        while not Path(self.release).exists() and time.monotonic() < end:
            time.sleep(0.02)
        return self.value * 2


def _wait_for(condition: tp.Callable[[], bool], what: str, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_killed_job_is_failed_never_completed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import submitit

    # submitit waits 15 s for the result file of a finished job (for NFS lag) before
    # declaring it without output: no need on a local disk
    monkeypatch.setattr(submitit.core.core.Job, "_results_timeout_s", 0)
    marker, release = tmp_path / "pid", tmp_path / "release"
    params = {"marker": str(marker), "release": str(release)}
    task = Slow(**params, infra={"folder": tmp_path / "cache", "cluster": "local"})
    job = task.infra.job()
    _wait_for(marker.exists, "the job to start")
    assert task.infra.status() == "running"
    os.kill(int(marker.read_text()), signal.SIGKILL)
    _wait_for(job.done, "the killed job to be seen done")
    release.touch()  # (a job that would still run would now complete)
    # reported failed (in this process and in a fresh one), never completed
    fresh = Slow(**params, infra={"folder": tmp_path / "cache", "cluster": "local"})
    for infra in (task.infra, fresh.infra):
        assert infra.status() in ("failed", "not submitted")
    folder = fresh.infra.uid_folder()
    assert folder is not None
    assert "result" not in CacheDict(folder)
    # a call does not return a value for it: it raises (mode "cached" keeps the failure)
    with pytest.raises(Exception, match=r"(?i)job|output|killed|signal"):
        fresh.run()
    reader = Slow(**params, infra={"folder": tmp_path / "cache", "mode": "read-only"})
    with pytest.raises(RuntimeError, match="read-only"):
        reader.run()
    # mode="retry" computes it again
    retry = Slow(
        **params, infra={"folder": tmp_path / "cache", "cluster": "local", "mode": "retry"}
    )
    assert retry.run() == 6
    assert retry.infra.status() == "completed"
    assert Slow(**params, infra={"folder": tmp_path / "cache"}).run() == 6
