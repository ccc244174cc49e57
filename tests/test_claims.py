"""Compute once (exca.claims): concurrent processes compute each result once.

Every computation appends one line to a log file (a side effect of the computation,
not the cache): the tests count executions with it. Workers are real processes
(``python -c`` importing this module) started together through a file barrier.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import typing as tp
from pathlib import Path

import pydantic
import pytest

import exca
from exca import claims

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT = 120.0


def _barrier(folder: str, count: int) -> None:
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    (path / str(os.getpid())).touch()
    end = time.monotonic() + TIMEOUT
    while len(os.listdir(path)) < count and time.monotonic() < end:
        time.sleep(0.005)


def _log(path: str, line: str) -> None:
    with open(path, "a", encoding="utf8") as f:  # one write: lines never mix
        f.write(line + "\n")


def value(item: int) -> int:
    return item * item + 3


class Squares(pydantic.BaseModel):
    """MapInfra logging each computed item (``log`` and ``delay`` leave the uid as is)."""

    log: str = ""
    delay: float = 0.02
    infra: exca.MapInfra = exca.MapInfra(version="1")
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("log", "delay")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        for item in items:
            _log(self.log, f"start {item} {os.getpid()}")
            time.sleep(self.delay)
            _log(self.log, f"done {item} {os.getpid()}")
            yield value(item)


class Slow(pydantic.BaseModel):
    """TaskInfra logging each computation."""

    x: int = 12
    log: str = ""
    delay: float = 1.0
    infra: exca.TaskInfra = exca.TaskInfra(version="1")
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("log", "delay")

    @infra.apply
    def run(self) -> dict[str, int]:
        _log(self.log, f"start {os.getpid()}")
        time.sleep(self.delay)
        _log(self.log, f"done {os.getpid()}")
        return {"x": self.x, "square": value(self.x)}


def map_worker(
    folder: str, log: str, barrier: str, n: int, start: int, stop: int, cluster: str | None = None
) -> None:
    logging.basicConfig(level=logging.INFO)
    items = list(range(start, stop))
    infra: dict[str, tp.Any] = {"folder": folder, "cluster": cluster, "max_jobs": 4}
    model = Squares(log=log, infra=infra)
    _barrier(barrier, n)
    out = list(model.process(items))
    assert out == [value(i) for i in items], out
    print(json.dumps({"ok": len(out)}))


def task_worker(folder: str, log: str, barrier: str, n: int, delay: float) -> None:
    logging.basicConfig(level=logging.INFO)
    model = Slow(log=log, delay=delay, infra={"folder": folder})
    _barrier(barrier, n)
    out = model.run()
    assert out == {"x": 12, "square": value(12)}, out
    print(json.dumps({"ok": 1}))


def _spawn(call: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "EXCA_PROGRESS": "0"}
    code = f"from tests.test_claims import *; {call}"
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(procs: list[subprocess.Popen[str]]) -> list[str]:
    errs = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT)
        assert proc.returncode == 0, err
        assert '"ok"' in out, (out, err)
        errs.append(err)
    return errs


def _lines(log: Path, kind: str) -> list[str]:
    if not log.exists():
        return []
    return [line.split()[1] for line in log.read_text().splitlines() if line.startswith(kind)]


def test_map_processes_overlapping_items_compute_each_once(tmp_path: Path) -> None:
    """6 processes on overlapping ranges of 150 items: 150 executions, right values."""
    n, log = 6, tmp_path / "log.txt"
    procs = [
        _spawn(
            f"map_worker({str(tmp_path / 'c')!r}, {str(log)!r}, {str(tmp_path / 'b')!r}, "
            f"{n}, {k * 20}, {k * 20 + 50})"
        )
        for k in range(n)
    ]
    errs = _finish(procs)
    done = _lines(log, "done")
    assert sorted(done, key=int) == [str(i) for i in range(150)]  # each item once
    assert len(_lines(log, "start")) == 150
    assert any("waiting for" in err for err in errs)  # someone waited, naming the owner
    assert any(f"on {socket.gethostname()}" in err for err in errs)
    assert not list((tmp_path / "c").rglob("*.claim"))  # every claim released
    model = Squares(log=str(log), infra={"folder": tmp_path / "c", "mode": "read-only"})
    assert list(model.process(range(150))) == [value(i) for i in range(150)]


@pytest.mark.parametrize("cluster", ["threadpool", "processpool", "local"])
def test_map_jobs_of_overlapping_calls_compute_each_item_once(tmp_path: Path, cluster: str) -> None:
    """Claims are taken where items are computed: in pool workers and job processes."""
    n, log = 2, tmp_path / "log.txt"
    procs = [
        _spawn(
            f"map_worker({str(tmp_path / 'c')!r}, {str(log)!r}, {str(tmp_path / 'b')!r}, "
            f"{n}, {k * 20}, {k * 20 + 40}, {cluster!r})"
        )
        for k in range(n)
    ]
    _finish(procs)
    done = [line.split()[1:] for line in log.read_text().splitlines() if line.startswith("done")]
    assert sorted(int(item) for item, _ in done) == list(range(60))  # each item once
    assert all(int(pid) not in [p.pid for p in procs] for _, pid in done) == (
        cluster != "threadpool"
    )


def test_task_processes_on_one_uid_compute_once(tmp_path: Path) -> None:
    n, log = 6, tmp_path / "log.txt"
    procs = [
        _spawn(
            f"task_worker({str(tmp_path / 'c')!r}, {str(log)!r}, {str(tmp_path / 'b')!r}, {n}, 1.0)"
        )
        for _ in range(n)
    ]
    errs = _finish(procs)
    assert len(_lines(log, "start")) == 1
    assert len(_lines(log, "done")) == 1
    assert sum("waiting for 1 result" in err for err in errs) == n - 1


def _wait_for(log: Path, kind: str, count: int) -> list[str]:
    end = time.monotonic() + TIMEOUT
    while time.monotonic() < end:
        lines = _lines(log, kind)
        if len(lines) >= count:
            return lines
        time.sleep(0.01)
    raise AssertionError(f"{count} {kind!r} lines never came in {log}")


def test_sigkilled_task_claimant_is_taken_over(tmp_path: Path) -> None:
    """The claimant is SIGKILLed mid-computation: one waiter takes over, all finish right."""
    log, folder = tmp_path / "log.txt", str(tmp_path / "c")
    first = _spawn(f"task_worker({folder!r}, {str(log)!r}, {str(tmp_path / 'b1')!r}, 1, 60.0)")
    (pid,) = _wait_for(log, "start", 1)
    assert int(pid) == first.pid
    others = [
        _spawn(f"task_worker({folder!r}, {str(log)!r}, {str(tmp_path / 'b2')!r}, 3, 1.0)")
        for _ in range(3)
    ]
    time.sleep(3)  # the others are waiting for the claimant
    assert len(_lines(log, "start")) == 1
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    errs = _finish(others)
    starts, dones = _lines(log, "start"), _lines(log, "done")
    assert len(starts) == 2 and len(dones) == 1  # the killed one, then one survivor
    assert int(dones[0]) in [p.pid for p in others]
    assert any("is dead: taking over" in err for err in errs)


def test_sigkilled_map_claimant_is_taken_over(tmp_path: Path) -> None:
    log, folder = tmp_path / "log.txt", str(tmp_path / "c")
    first = _spawn(f"map_worker({folder!r}, {str(log)!r}, {str(tmp_path / 'b1')!r}, 1, 0, 40)")
    _wait_for(log, "done", 5)
    others = [
        _spawn(f"map_worker({folder!r}, {str(log)!r}, {str(tmp_path / 'b2')!r}, 2, 0, 40)")
        for _ in range(2)
    ]
    time.sleep(0.3)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    _finish(others)
    items = [int(line.split()[1]) for line in log.read_text().splitlines() if "done" in line]
    assert sorted(set(items)) == list(range(40))
    assert len(items) == 40  # the killed process's completed items were not recomputed
    model = Squares(infra={"folder": folder, "mode": "read-only"})
    assert list(model.process(range(40))) == [value(i) for i in range(40)]


def test_no_wait_raises_naming_the_owner(tmp_path: Path) -> None:
    log, folder = tmp_path / "log.txt", tmp_path / "c"
    first = _spawn(f"task_worker({str(folder)!r}, {str(log)!r}, {str(tmp_path / 'b')!r}, 1, 60)")
    try:
        _wait_for(log, "start", 1)
        model = Slow(log=str(log), infra={"folder": folder, "claims": "no-wait"})
        with pytest.raises(claims.ClaimedError, match=f"pid {first.pid} on "):
            model.run()
        squares = Squares(log=str(log), infra={"folder": folder, "claims": "no-wait"})
        assert list(squares.process([1, 2])) == [value(1), value(2)]  # nobody else: computed
    finally:
        first.kill()
        first.wait()
    # the claimant is dead now: no-wait takes over and computes
    assert Slow(log=str(log), delay=0, infra={"folder": folder, "claims": "no-wait"}).run()[
        "square"
    ] == value(12)


def test_map_no_wait_computes_the_free_items_then_raises(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    model = Squares(log=str(tmp_path / "log.txt"), infra={"folder": folder, "claims": "no-wait"})
    uid_folder = model.infra.uid_folder(create=True)
    assert uid_folder is not None
    held = claims.Claims(uid_folder)
    mine, _ = held.acquire(["3"])  # held by this (live) process: never robbed
    try:
        with pytest.raises(claims.ClaimedError, match="1 result") as info:
            list(model.process(range(6)))
        assert list(info.value.held) == ["3"]
        assert sorted(_lines(tmp_path / "log.txt", "done"), key=int) == ["0", "1", "2", "4", "5"]
    finally:
        held.release(mine)
    assert list(model.process(range(6))) == [value(i) for i in range(6)]


def test_read_only_and_cached_calls_never_claim(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    model = Squares(log=str(tmp_path / "log.txt"), infra={"folder": folder, "mode": "read-only"})
    with pytest.raises(RuntimeError, match="read-only"):
        list(model.process([1]))
    task = Slow(log=str(tmp_path / "log.txt"), delay=0, infra={"folder": folder})
    with pytest.raises(RuntimeError, match="read-only"):
        task.infra.clone_obj(**{"infra.mode": "read-only"}).run()
    assert not list(folder.rglob(claims.CLAIMS_DIR))
    task.run()
    claims_dir = next(folder.rglob(claims.CLAIMS_DIR))
    # released; the owner file of this process stays until it exits
    assert [p.name for p in claims_dir.iterdir()] == [f"{claims.me().token}.owner"]
    shutil.rmtree(claims_dir)
    assert Slow(log=str(tmp_path / "log.txt"), delay=0, infra={"folder": folder}).run()
    assert not list(folder.rglob(claims.CLAIMS_DIR))  # the cached path does not claim


def test_force_claims_and_recomputes(tmp_path: Path) -> None:
    log = tmp_path / "log.txt"
    Slow(log=str(log), delay=0, infra={"folder": tmp_path}).run()
    Slow(log=str(log), delay=0, infra={"folder": tmp_path, "mode": "force"}).run()
    assert len(_lines(log, "done")) == 2
    squares = Squares(log=str(log), infra={"folder": tmp_path})
    list(squares.process([1, 2]))
    list(squares.infra.clone_obj(**{"infra.mode": "force"}).process([1, 2]))
    assert len(_lines(log, "done")) == 2 + 4


def test_claims_off_computes_without_claims(tmp_path: Path) -> None:
    model = Squares(log=str(tmp_path / "log.txt"), infra={"folder": tmp_path, "claims": "off"})
    assert list(model.process([1, 2])) == [value(1), value(2)]
    assert not list(tmp_path.rglob(claims.CLAIMS_DIR))


def test_failing_claimant_releases_and_waiter_computes(tmp_path: Path) -> None:
    """A failed computation releases its claim: the next caller computes (no stale claim)."""

    class Failing(pydantic.BaseModel):
        infra: exca.TaskInfra = exca.TaskInfra(version="1")

        @infra.apply
        def run(self) -> int:
            raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        Failing(infra={"folder": tmp_path}).run()
    assert not list(tmp_path.rglob("*.claim"))


# ---------- liveness ----------


def _foreign_claim(folder: Path, key: str, owner: claims.Owner, touch: bool = True) -> Path:
    c = claims.Claims(folder)
    c.folder.mkdir(parents=True, exist_ok=True)
    Path(c.path(key)).write_bytes(owner.dumps())
    if touch:
        (c.folder / f"{owner.token}.owner").write_bytes(owner.dumps())
    return Path(c.path(key))


def test_dead_local_pid_and_reused_pid_are_taken_over(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    host = socket.gethostname()
    dead = claims.Owner(host=host, pid=proc.pid, start="1", token="a" * 32)
    reused = claims.Owner(host=host, pid=os.getpid(), start="1", token="b" * 32)  # start differs
    alive = claims.Owner(host=host, pid=os.getppid(), start="", token="c" * 32)
    for owner in (dead, reused, alive):
        _foreign_claim(tmp_path, owner.token, owner)
    with pytest.raises(claims.ClaimedError) as info:
        claims.compute_keys_once(
            tmp_path,
            [dead.token, reused.token, alive.token],
            present=lambda keys: [],
            compute=lambda keys: iter(keys),
            wait="no-wait",
        )
    assert list(info.value.held) == [alive.token]
    # waiting: the dead owners' claims are taken over, the live owner is never robbed
    liveness = claims.Liveness()
    assert not liveness.alive(dead, tmp_path)
    assert not liveness.alive(reused, tmp_path)
    assert liveness.alive(alive, tmp_path)


def test_remote_owner_without_heartbeat_is_dead_after_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "STALE", 0.3)
    owner = claims.Owner(host="elsewhere", pid=1, start="", token="d" * 32)
    _foreign_claim(tmp_path, "k", owner)
    liveness = claims.Liveness()
    folder = tmp_path / claims.CLAIMS_DIR
    assert liveness.alive(owner, folder)
    for _ in range(4):  # a heartbeat every 0.2 s: alive however long it computes
        time.sleep(0.2)
        os.utime(folder / f"{owner.token}.owner", (time.time(), time.time() + _ + 1))
        assert liveness.alive(owner, folder)
    time.sleep(0.4)  # silent for longer than STALE: dead
    assert not liveness.alive(owner, folder)
    computed: list[str] = []

    def compute(keys: list[str]) -> tp.Iterator[str]:
        computed.extend(keys)
        yield from keys

    monkeypatch.setattr(claims, "STALE", 0.0)
    claims.compute_keys_once(tmp_path, ["k"], present=lambda k: [], compute=compute)
    assert computed == ["k"]


def test_unreadable_claim_is_taken_over_after_grace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "GRACE", 0.2)
    c = claims.Claims(tmp_path)
    c.folder.mkdir()
    Path(c.path("k")).write_bytes(b"")  # a creator killed before writing its claim
    computed: list[str] = []

    def compute(keys: list[str]) -> tp.Iterator[str]:
        computed.extend(keys)
        yield from keys

    claims.compute_keys_once(tmp_path, ["k"], present=lambda k: [], compute=compute)
    assert computed == ["k"]
    assert not Path(c.path("k")).exists()


def test_owner_names_its_slurm_job(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLURM_JOB_ID", "1234")
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "1200")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "7")
    monkeypatch.setattr(claims, "_ME", {})
    owner = claims.me()
    assert owner.slurm == "1234"
    assert str(owner) == f"pid {os.getpid()} on {socket.gethostname()} (Slurm job 1200_7)"
    assert claims.Owner.loads(owner.dumps()) == owner
    monkeypatch.setattr(claims, "_ME", {})


# ---------- Hydra sweeps ----------


@pytest.mark.parametrize("launcher", ["exca_inline", "exca_local"])
def test_two_concurrent_sweeps_compute_each_job_once(tmp_path: Path, launcher: str) -> None:
    """Two sweeps launched at once over overlapping configs (x=1..4 and x=3..6): each
    job runs once; the second sweep's jobs wait for the first's and serve its results."""
    runs = tmp_path / "runs.txt"
    env = {**os.environ, "EXCA_TEST_RUNS": str(runs), "PYTHONPATH": str(ROOT)}
    procs = []
    for k, xs in enumerate(["3,4,1,2", "3,4,5,6"]):  # both start with x=3
        args = [
            sys.executable,
            str(ROOT / "tests" / "hydra_apps" / "slow_app.py"),
            "-m",
            f"hydra/launcher={launcher}",
            f"hydra.launcher.cache_folder={tmp_path / 'cache'}",
            f"hydra.sweep.dir={tmp_path / f'sweep{k}'}",
            "hydra.launcher.exclude_from_uid=[sleep]",
            f"+x={xs}",
            f"+sleep={1.5 if launcher == 'exca_inline' else 6}",  # (subprocesses start slowly)
        ]
        procs.append(
            subprocess.Popen(
                args,
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=TIMEOUT * 2)
        assert proc.returncode == 0, err
        outputs.append(out + err)
    xs = sorted(line.split()[0] for line in runs.read_text().splitlines())
    assert xs == ["1", "2", "3", "4", "5", "6"]  # x=3 and x=4 ran once, for both sweeps
    # the waiting job logged what it waited for (in the sweep's output, or its job's log)
    logs = outputs + [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert any("waiting for 1 result(s) being computed elsewhere: 1 by pid" in t for t in logs)


# ---------- Slurm ----------

SLURM_RESOURCES: dict[str, tp.Any] = {"timeout_min": 5, "mem_gb": 0.25, "cpus_per_task": 1}


def slurm_task_worker(folder: str, log: str, delay: float) -> dict[str, int]:
    """What a Slurm job runs: the same TaskInfra uid as the other jobs."""
    return Slow(log=log, delay=delay, infra={"folder": folder}).run()


def _submit_slurm(logs: Path, *args: tp.Any) -> tp.Any:
    from exca.backends import Resources, get_backend

    backend = get_backend("slurm", Resources(folder=logs, **SLURM_RESOURCES))
    return backend.submit(slurm_task_worker, *args)


def _scancel_and_wait(job_id: str) -> None:
    subprocess.run(["scancel", job_id], check=True, timeout=30)
    end = time.monotonic() + TIMEOUT
    while claims.slurm_job_active(job_id) and time.monotonic() < end:
        time.sleep(0.5)


@pytest.mark.slurm
def test_two_slurm_jobs_on_one_uid_compute_once(slurm_folder: Path) -> None:
    log, cache = slurm_folder / "log.txt", str(slurm_folder / "cache")
    jobs = [_submit_slurm(slurm_folder / "logs", cache, str(log), 8.0) for _ in range(2)]
    expected = {"x": 12, "square": value(12)}
    assert [job.result() for job in jobs] == [expected, expected]
    assert len(_lines(log, "start")) == 1 and len(_lines(log, "done")) == 1
    stderr = "".join(job.stderr() or "" for job in jobs)
    assert "waiting for 1 result(s) being computed elsewhere: 1 by pid" in stderr
    assert "(Slurm job " in stderr  # the owner is named with its Slurm job


@pytest.mark.slurm
def test_scancel_of_the_claimant_hands_the_uid_over(slurm_folder: Path) -> None:
    log, cache = slurm_folder / "log.txt", str(slurm_folder / "cache")
    first = _submit_slurm(slurm_folder / "logs", cache, str(log), 300.0)
    _wait_for(log, "start", 1)
    second = _submit_slurm(slurm_folder / "logs", cache, str(log), 1.0)
    end = time.monotonic() + TIMEOUT
    while "waiting for" not in (second.stderr() or "") and time.monotonic() < end:
        time.sleep(0.5)
    _scancel_and_wait(str(first.job_id))
    try:
        assert second.result() == {"x": 12, "square": value(12)}
        starts, dones = _lines(log, "start"), _lines(log, "done")
        assert len(starts) == 2 and dones == [starts[1]]  # computed by the second job
        assert "is dead: taking over" in (second.stderr() or "")
    finally:  # submitit ignores SIGTERM: with proctrack/linuxproc the process may linger
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(_lines(log, "start")[0]), signal.SIGKILL)


@pytest.mark.slurm
def test_slurm_owner_on_another_host_is_alive_while_its_job_runs(slurm_folder: Path) -> None:
    """An owner on another host is judged by Slurm: never robbed while its job is pending
    or running (however silent), dead at the first Slurm poll once the job ended."""
    out = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--mem=100M",
            f"--output={slurm_folder}/%j.out",
            "--wrap",
            "sleep 300",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    job_id = out.strip().split(";")[0]
    owner = claims.Owner(host="elsewhere", pid=1, start="", token="e" * 32, slurm=job_id)
    _foreign_claim(slurm_folder, "k", owner, touch=False)  # no heartbeat at all
    try:
        assert claims.Liveness().alive(owner, slurm_folder / claims.CLAIMS_DIR)
        with pytest.raises(claims.ClaimedError, match=f"Slurm job {job_id}"):
            claims.compute_keys_once(
                slurm_folder, ["k"], present=lambda k: [], compute=iter, wait="no-wait"
            )
    finally:
        _scancel_and_wait(job_id)
    assert not claims.Liveness().alive(owner, slurm_folder / claims.CLAIMS_DIR)
    computed: list[str] = []

    def compute(keys: list[str]) -> tp.Iterator[str]:
        computed.extend(keys)
        yield from keys

    claims.compute_keys_once(slurm_folder, ["k"], present=lambda k: [], compute=compute)
    assert computed == ["k"]


def test_claims_folder_removed_meanwhile_is_recreated(tmp_path: Path) -> None:
    c = claims.Claims(tmp_path)
    mine, _ = c.acquire(["a"])
    c.release(mine)
    shutil.rmtree(c.folder)  # eg: a user cleaning up while nothing computes
    mine, held = c.acquire(["b"])
    assert mine == ["b"] and not held
    assert c.holder("b") == claims.me()  # the owner file came back with the claim
    c.release(mine)


def test_unwritable_claims_folder_computes_without_claims(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = tmp_path / "log.txt"
    task = Slow(log=str(log), delay=0, infra={"folder": tmp_path / "c"})
    folder = task.infra.uid_folder(create=True)
    assert folder is not None
    (folder / claims.CLAIMS_DIR).write_text("not a folder")  # claims cannot be created
    with caplog.at_level(logging.WARNING, logger="exca.claims"):
        assert task.run() == {"x": 12, "square": value(12)}
    assert "computing without claims" in caplog.text
    assert len(_lines(log, "done")) == 1


def test_progress_bar_counts_items_in_flight_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import threading

    from exca import map as map_module

    monkeypatch.setattr(map_module, "_progress_enabled", lambda: True)
    model = Squares(log=str(tmp_path / "log.txt"), delay=0, infra={"folder": tmp_path})
    folder = model.infra.uid_folder(create=True)
    assert folder is not None
    other = claims.Claims(folder)
    mine, _ = other.acquire(["3"])  # "another process" computes item 3

    def finish() -> None:
        time.sleep(0.5)
        with model.infra.cache_dict.writer() as writer:
            writer["3"] = value(3)
        other.release(mine)

    thread = threading.Thread(target=finish)
    thread.start()
    assert list(model.process(range(6))) == [value(i) for i in range(6)]
    thread.join()
    err = capsys.readouterr().err
    assert "1 in flight elsewhere" in err and "6/6" in err
    assert "3" not in _lines(tmp_path / "log.txt", "done")  # waited for, not computed


def test_exca_clean_keeps_a_folder_with_a_live_claim(tmp_path: Path) -> None:
    """``exca.inspect.in_use`` (what ``exca clean`` checks) sees real claims: a live
    owner keeps the folder, a dead owner's claim does not."""
    from exca import inspect

    model = Squares(log=str(tmp_path / "log.txt"), delay=0, infra={"folder": tmp_path})
    list(model.process([1]))
    folder = model.infra.uid_folder()
    assert folder is not None
    c = claims.Claims(folder)
    mine, _ = c.acquire(["2"])
    assert f"pid {os.getpid()}" in (inspect.in_use(folder) or "")
    c.release(mine)
    assert inspect.in_use(folder) is None
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    dead = claims.Owner(host=socket.gethostname(), pid=proc.pid, start="1", token="f" * 32)
    _foreign_claim(folder, "3", dead)
    assert inspect.in_use(folder) is None
