"""exca.uidfolder: the one object over a uid folder's files. Failures read back in one
format whatever ran them (``exca show``, ``exca ls --failed`` on real folders), damaged
entries (a clear error naming the file and the folder, the listing goes on, nothing
written outside the cache), and the record format itself."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import textwrap
import typing as tp
from pathlib import Path

import pydantic
import pytest

import exca
from exca import inspect
from exca.cachedict.index import LAST_USE
from exca.uidfolder import CONFIG, ERROR, JOB, RESULT, DamagedEntryError, Failure, UidFolder
from tests.test_inspect import ROOT, rows, run_cli, run_sweep, short


class Fails(pydantic.BaseModel):
    """Raises a ValueError with a two-line message for x < 0."""

    x: int = 1
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> int:
        if self.x < 0:
            raise ValueError(f"negative x={self.x}\nsecond line")
        return self.x


def _failed_entry(folder: Path, x: int = -1) -> Path:
    [entry] = [e for e in inspect.ls(folder) if short(e.uid) == f"x={x}"]
    assert entry.state == "failed"
    return entry.path


def _check_show(path: Path, ran_by: str) -> dict[str, tp.Any]:
    info = inspect.show(path)
    error = info["error"]
    assert error["type"] == "ValueError"
    assert error["message"].startswith("negative x=-1")
    assert ran_by in error["ran_by"]
    assert "Traceback (most recent call last)" in info["traceback"]
    assert "test_uidfolder.py" in info["traceback"]  # the frame of the method
    code, out, _ = run_cli("show", path)
    assert code == 0 and "ValueError: negative x=-1" in out and "traceback:" in out
    code, out, _ = run_cli("ls", path.parent.parent, "--failed")
    assert code == 0 and [short(r["uid"]) for r in rows(out)] == ["x=-1"]
    return info


# # # # # failures, whatever ran them # # # # #


def test_failure_in_process_is_shown(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="negative"):
        Fails(x=-1, infra={"folder": tmp_path}).run()
    assert Fails(x=2, infra={"folder": tmp_path}).run() == 2
    path = _failed_entry(tmp_path)
    info = _check_show(path, ran_by=f"process {os.getpid()}")
    assert info["error"]["source"] == str(path / ERROR)
    assert (path / ERROR).read_text().startswith("# exca: process ")
    # the same object, and a new one in mode "cached", raise the original error again
    with pytest.raises(ValueError, match="negative x=-1"):
        Fails(x=-1, infra={"folder": tmp_path}).run()
    # mode "retry" clears the failure record with the job record
    retry = Fails(x=-1, infra={"folder": tmp_path, "mode": "retry"})
    with pytest.raises(ValueError):
        retry.run()
    assert (path / ERROR).exists()
    retry.infra.clear_job()
    assert not (path / ERROR).exists() and not (path / JOB).exists()


def test_failure_recorded_before_error_txt_existed_is_shown(tmp_path: Path) -> None:
    """A folder written by this package before failures had one format: the in-process
    job in job.pkl holds the traceback."""
    with pytest.raises(ValueError):
        Fails(x=-1, infra={"folder": tmp_path}).run()
    path = _failed_entry(tmp_path)
    (path / ERROR).unlink()  # as written before
    info = _check_show(path, ran_by="in process")
    assert info["error"]["source"] == str(path / JOB)


def test_failure_in_a_local_subprocess_is_shown(tmp_path: Path) -> None:
    bad = Fails(x=-1, infra={"folder": tmp_path, "cluster": "local"})
    with pytest.raises(Exception, match="negative"):
        bad.run()
    path = _failed_entry(tmp_path)
    info = _check_show(path, ran_by="job ")
    assert info["job_id"] and info["error"]["source"] == str(path / ERROR)
    assert info["stderr"] and "negative x=-1" in info["stderr_tail"]
    # a job of an earlier version recorded no error.txt: read from submitit's result file
    (path / ERROR).unlink()
    info = _check_show(path, ran_by=f"job {info['job_id']}")
    assert info["error"]["source"].endswith("_result.pkl")


@pytest.mark.slurm
def test_failure_on_slurm_is_shown(slurm_folder: Path) -> None:
    infra = {"folder": slurm_folder, "cluster": "slurm", "timeout_min": 5}
    bad = Fails(x=-1, infra=infra)
    with pytest.raises(Exception, match="negative"):
        bad.run()
    path = _failed_entry(slurm_folder)
    info = _check_show(path, ran_by="(slurm)")
    assert info["job_id"] and info["slurm_state"]


def test_failure_recorded_by_060_is_shown(tmp_path: Path, exca060: tp.Any) -> None:
    exca060.run(
        """
        import pydantic, exca
        class T(pydantic.BaseModel):
            x: int = 1
            infra: exca.TaskInfra = exca.TaskInfra(version="1")
            @infra.apply
            def run(self) -> int:
                if self.x < 0:
                    raise ValueError(f"negative x={self.x}")
                return self.x
        try:
            T(x=-1, infra={"folder": "c"}).run()
        except ValueError:
            pass
        """,
        cwd=tmp_path,
    )
    [entry] = inspect.ls(tmp_path / "c", failed=True)
    info = inspect.show(entry.path)
    assert info["error"]["type"] == "ValueError"
    assert info["error"]["message"] == "negative x=-1"
    assert info["error"]["ran_by"] == "exca 0.6.0, in process"
    assert "Traceback (most recent call last)" in info["traceback"]


@pytest.mark.parametrize(
    "launcher", ["exca_inline", "exca_local", pytest.param("exca_slurm", marks=pytest.mark.slurm)]
)
def test_failure_of_a_launcher_job_is_shown(
    tmp_path: Path, launcher: str, request: pytest.FixtureRequest
) -> None:
    if launcher == "exca_slurm":  # a folder the Slurm node sees
        tmp_path = request.getfixturevalue("slurm_folder")
    proc = run_sweep(tmp_path, tmp_path / "s", "x=1,3", launcher=launcher)
    assert proc.returncode != 0 and "x=3 is not allowed" in proc.stderr
    [failed] = inspect.ls(tmp_path / "cache", failed=True)
    info = inspect.show(failed.path)
    assert info["error"]["type"] == "ValueError"
    assert info["error"]["message"] == "x=3 is not allowed"
    assert ", in main" in info["traceback"]  # the frame of the task function
    code, out, _ = run_cli("show", failed.path)
    assert code == 0 and "ValueError: x=3 is not allowed" in out
    code, out, _ = run_cli("ls", tmp_path / "cache", "--failed")
    assert len(rows(out)) == 1


# # # # # damaged entries # # # # #


@pytest.fixture
def three(tmp_path: Path) -> Path:
    """A cache folder with three TaskInfra results (x=1, 2, 3)."""
    for x in (1, 2, 3):
        assert Fails(x=x, infra={"folder": tmp_path / "cache"}).run() == x
    return tmp_path / "cache"


def _entry(cache: Path, x: int) -> Path:
    return Fails(x=x, infra={"folder": cache}).infra.uid_folder()  # type: ignore[return-value]


@pytest.mark.filterwarnings("ignore:Skipping garbled line")
def test_a_result_line_with_broken_json(three: Path) -> None:
    path = _entry(three, 2)
    [index] = path.glob("*-info.jsonl")
    lines = index.read_bytes().splitlines(keepends=True)
    k = next(k for k, line in enumerate(lines) if b'"#key":"result"' in line)
    lines[k] = lines[k].rstrip(b"}\n") + b',"x":}\n'  # the prefix stays: ls counts it
    index.write_bytes(b"".join(lines))
    with pytest.raises(DamagedEntryError) as error:
        UidFolder(path).result_line()
    assert str(index) in str(error.value) and str(path) in str(error.value)
    states = {short(e.uid): e.state for e in inspect.ls(three)}
    assert states == {"default": "completed", "x=2": "damaged", "x=3": "completed"}
    info = inspect.show(path)  # no error of its own: the entry, with what is damaged
    assert info["state"] == "damaged" and str(index) in info["problem"]
    code, out, _ = run_cli("show", path)
    assert code == 0 and "damaged" in out and str(index) in out
    code, out, _ = run_cli("ls", three)
    assert code == 0 and [r["state"] for r in rows(out)] == ["completed", "damaged", "completed"]


def test_an_invalid_config_yaml(three: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = _entry(three, 2)
    (path / CONFIG).write_text("x: [1,\n  : broken")
    with pytest.raises(DamagedEntryError) as error:
        UidFolder(path).read_config()
    assert str(path) in str(error.value) and CONFIG in str(error.value)
    with caplog.at_level(logging.WARNING):
        found = list(Fails(infra={"folder": three}).infra.iter_cached())
    assert sorted(obj.x for obj in found) == [1, 3]  # listing went on after the bad one
    assert str(path) in caplog.text and CONFIG in caplog.text
    states = {short(e.uid): e.state for e in inspect.ls(three)}
    assert states == {"default": "completed", "x=2": "damaged", "x=3": "completed"}
    assert str(path / CONFIG) in inspect.show(path)["problem"]


def test_a_last_use_stamp_linked_outside_the_cache(three: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me\n")
    path = _entry(three, 2)
    stamp = path / LAST_USE
    stamp.unlink(missing_ok=True)
    stamp.symlink_to(outside)
    # reads, in this process (a fresh CacheDict) and in another one
    from exca.cachedict import CacheDict

    assert CacheDict(folder=path)[RESULT] == 2
    code = f"from tests.test_uidfolder import Fails; print(Fails(x=2, infra={{'folder': {str(three)!r}}}).run())"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.stdout.strip() == "2", proc.stderr
    assert outside.read_text() == "keep me\n"  # never written through the link
    assert stamp.is_symlink()  # nor removed: not ours
    entry = inspect.entry(path)
    assert entry.state == "damaged" and str(stamp) in (entry.problem or "")
    assert entry.last_use is not None  # (the files' times)
    others = {short(e.uid): e.state for e in inspect.ls(three)}
    assert others == {"default": "completed", "x=2": "damaged", "x=3": "completed"}


# # # # # the failure record # # # # #


def test_failure_record_round_trip() -> None:
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError("outer\nline two") from inner
    except ValueError as e:
        failure = Failure.from_exception(e, ran_by="process 1 on host")
    assert (failure.type, failure.message) == ("ValueError", "outer\nline two")
    text = failure.to_text()
    assert text.startswith("# exca: process 1 on host\nTraceback")
    back = Failure.from_traceback(text, source="f")
    assert (back.type, back.message, back.ran_by) == (
        "ValueError",
        "outer\nline two",
        failure.ran_by,
    )
    assert "KeyError: 'inner'" in back.traceback and back.summary() == "ValueError: outer"
    # as the Hydra launcher wrote it before: the traceback alone
    plain = Failure.from_traceback("Traceback (most recent call last):\n  File x\nOSError: gone\n")
    assert (plain.type, plain.message, plain.ran_by) == ("OSError", "gone", "")
    dotted = Failure.from_traceback("Traceback:\n  x\nsubmitit.core.utils.FailedJobError: boom")
    assert (dotted.type, dotted.message) == ("FailedJobError", "boom")


def test_record_failure_keeps_a_stored_result(tmp_path: Path) -> None:
    folder = UidFolder(tmp_path / "e")
    assert folder.write_result(3) == 3
    assert folder.write_result(4) == 3  # check-then-write: the first result stays
    assert folder.record_failure(ValueError("late")) is None
    assert folder.failure() is None and folder.read_result() == 3


def test_unreadable_job_record_is_named(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = UidFolder(tmp_path / "e")
    folder.path.mkdir()
    (folder.path / JOB).write_bytes(pickle.dumps({"not": "a job"})[:5])
    with caplog.at_level(logging.WARNING):
        assert folder.load_job() is None and folder.failure() is None
    assert str(folder.path / JOB) in caplog.text


def test_module_docstring_lists_every_file() -> None:
    import exca.uidfolder as module

    doc = textwrap.dedent(module.__doc__ or "")
    missing = [name for name in module.FILES if name not in doc]
    assert missing == []


def test_a_result_stored_after_a_failure_ends_it(tmp_path: Path) -> None:
    folder = UidFolder(tmp_path / "e")
    recorded = folder.record_failure(ValueError("first"), ran_by="a test")
    assert recorded is not None and recorded.source == str(folder.path / ERROR)
    failure = folder.failure()
    assert failure is not None and (failure.type, failure.message) == ("ValueError", "first")
    assert failure.ran_by == "a test"
    assert folder.write_result(1) == 1
    assert folder.failure() is None and not (folder.path / ERROR).exists()
