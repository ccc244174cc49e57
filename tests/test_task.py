"""TaskInfra: caching, clusters, modes, jobs and their failures, job arrays, nesting, logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca import ConfDict, MapInfra, TaskInfra
from exca.backends import LocalJob

CALLS: list[tp.Any] = []


class TutorialTask(pydantic.BaseModel):
    param: int = 12
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> int:
        CALLS.append(self.param)
        return self.param * 2


class Recorded(pydantic.BaseModel):
    """Appends a line to ``log`` per run; fails while the file ``flag`` exists."""

    x: int = 0
    log: str = ""
    flag: str = ""
    infra: TaskInfra = TaskInfra()
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("log", "flag")

    @infra.apply
    def process(self) -> dict[str, int]:
        with open(self.log, "a") as f:
            f.write(f"{self.x}\n")
        if self.flag and Path(self.flag).exists():
            raise ValueError(f"failing on purpose with x={self.x}")
        return {"x": self.x, "pid": os.getpid(), "run": runs(self.log, self.x)}


def runs(log: str | Path, x: int) -> int:
    """How many times Recorded(x=x) ran (with this log)."""
    path = Path(log)
    return path.read_text().split().count(str(x)) if path.exists() else 0


class Inner(pydantic.BaseModel):
    y: int = 0
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> int:
        return os.getpid()


class InnerMap(pydantic.BaseModel):
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        for _ in items:
            yield os.getpid()


class Outer(pydantic.BaseModel):
    inner: Inner = Inner()
    inner_map: InnerMap = InnerMap()
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> dict[str, int]:
        return {
            "outer": os.getpid(),
            "inner": self.inner.process(),
            "map": next(iter(self.inner_map.process([1, 2]))),
        }


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def test_ram_cache_without_folder() -> None:
    task = TutorialTask(param=3)
    assert task.infra.status() == "not submitted"
    assert task.process() == 6
    assert task.process() == 6
    assert CALLS == [3]
    assert task.infra.status() == "completed"
    assert TutorialTask(param=3).process() == 6  # another object: no shared RAM cache
    assert CALLS == [3, 3]
    job = task.infra.job()
    assert isinstance(job, LocalJob) and job.done() and job.result() == 6


def test_folder_cache(tmp_path: Path) -> None:
    task = TutorialTask(param=13, infra={"folder": tmp_path})
    assert task.infra.status() == "not submitted"
    assert task.process() == 26
    uid = task.infra.uid()
    assert uid == f"{__name__}.TutorialTask.process,1/{ConfDict(param=13).to_uid(version=3)}"
    assert task.infra.uid_folder() == tmp_path / uid
    again = TutorialTask(param=13, infra={"folder": tmp_path})  # a fresh object
    assert again.infra.status() == "completed"
    assert again.process() == 26
    assert again.infra.job().result() == 26
    assert CALLS == [13]
    # the explicit default value shares the cache of the default
    TutorialTask(param=12, infra={"folder": tmp_path}).process()
    TutorialTask(infra={"folder": tmp_path}).process()
    assert CALLS == [13, 12]


def test_infra_fields_not_in_uid(tmp_path: Path) -> None:
    a = TutorialTask(param=1, infra={"folder": tmp_path, "timeout_min": 5, "mem_gb": 2})
    b = TutorialTask(param=1, infra={"folder": tmp_path, "keep_in_ram": True})
    assert a.infra.uid() == b.infra.uid()
    c = TutorialTask(param=1, infra={"folder": tmp_path, "version": "2"})
    assert c.infra.uid().startswith(f"{__name__}.TutorialTask.process,2/")
    # a version other than the class default is also part of the config
    assert c.infra.config(uid=True, exclude_defaults=True) == {
        "param": 1,
        "infra": {"version": "2"},
    }


def test_modes(tmp_path: Path) -> None:
    log = tmp_path / "log"

    def make(mode: str, x: int = 5) -> Recorded:
        return Recorded(x=x, log=str(log), infra={"folder": tmp_path, "mode": mode})

    with pytest.raises(RuntimeError, match="read-only") as info:
        make("read-only").process()
    assert str(make("cached").infra.uid_folder()) in str(info.value)  # names the uid folder
    assert make("cached").process()["run"] == 1
    assert make("read-only").process()["run"] == 1
    assert make("retry").process()["run"] == 1  # retry reuses results
    forced = make("force")
    assert forced.process()["run"] == 2  # force recomputes...
    assert forced.process()["run"] == 2  # ...once per object
    assert make("cached").process()["run"] == 2  # and replaces the cached result
    assert runs(log, 5) == 2
    with pytest.raises(RuntimeError, match=r"read-only.*no folder"):
        TutorialTask(infra={"mode": "read-only"}).process()


def test_failure_in_process(tmp_path: Path) -> None:
    flag = tmp_path / "flag"
    flag.touch()
    log = tmp_path / "log"
    task = Recorded(x=1, log=str(log), flag=str(flag), infra={"folder": tmp_path})
    with pytest.raises(ValueError, match="x=1"):
        task.process()
    assert task.infra.status() == "failed"
    with pytest.raises(ValueError, match="x=1"):  # the same object keeps its failed job
        task.infra.job().result()
    assert runs(log, 1) == 1
    flag.unlink()
    # in process too, a failure is recorded with its traceback (as in exca 0.6.0): a new
    # object gets the same error without computing again...
    again = Recorded(x=1, log=str(log), infra={"folder": tmp_path})
    assert again.infra.status() == "failed"
    with pytest.raises(ValueError, match="x=1"):
        again.process()
    assert runs(log, 1) == 1
    # ...and mode "retry" computes it again
    retry = Recorded(x=1, log=str(log), infra={"folder": tmp_path, "mode": "retry"})
    assert retry.process()["run"] == 2
    assert retry.infra.status() == "completed"
    assert not (retry.infra.uid_folder() / "job.pkl").exists()


def test_failure_in_process_without_folder(tmp_path: Path) -> None:
    task = Recorded(x=1, log=str(tmp_path / "log"), flag="/")  # "/" exists: it fails
    with pytest.raises(ValueError, match="x=1"):
        task.process()
    assert task.infra.status() == "not submitted"  # nothing recorded (as in 0.6.0)


@pytest.mark.parametrize("cluster", ["local", "debug"])
def test_submitit_clusters(tmp_path: Path, cluster: str) -> None:
    log = tmp_path / "log"
    task = Recorded(x=7, log=str(log), infra={"folder": tmp_path, "cluster": cluster})
    assert task.infra.status() == "not submitted"
    job = task.infra.job()
    assert task.infra.job() is job
    out = job.result()
    assert (out["pid"] != os.getpid()) == (cluster == "local")
    assert task.infra.status() == "completed"
    assert task.process() == out
    assert (task.infra.uid_folder() / "job.pkl").exists()
    # a fresh object finds the result in the cache
    again = Recorded(x=7, log=str(log), infra={"folder": tmp_path, "cluster": cluster})
    assert again.infra.status() == "completed"
    assert again.process() == out
    assert runs(log, 7) == 1


def test_failed_job_traceback_and_retry(tmp_path: Path) -> None:
    log = tmp_path / "log"
    (tmp_path / "flag1").touch()  # x=1 fails while this file exists

    def make(mode: str, x: int) -> Recorded:
        infra = {"folder": tmp_path, "cluster": "local", "mode": mode}
        return Recorded(x=x, log=str(log), flag=str(tmp_path / f"flag{x}"), infra=infra)

    with make("cached", 1).infra.job_array() as array:
        array.extend([make("cached", 1), make("cached", 2)])
    with pytest.raises(Exception, match="failing on purpose with x=1") as info:
        array[0].infra.job().result()
    text = str(info.value)  # the job's own traceback
    assert "Traceback" in text and "test_task.py" in text and "in process" in text
    assert array[0].infra.status() == "failed"
    assert array[1].process()["run"] == 1
    (tmp_path / "flag1").unlink()
    # mode "cached" keeps the failure: a fresh object gets the same error, no rerun
    cached = make("cached", 1)
    assert cached.infra.status() == "failed"
    with pytest.raises(Exception, match="failing on purpose"):
        cached.process()
    assert runs(log, 1) == 1
    # mode "retry" reruns the failures only
    with make("retry", 1).infra.job_array() as retried:
        retried.extend([make("retry", 1), make("retry", 2)])
    assert [t.process()["run"] for t in retried] == [2, 1]
    assert retried[0].infra.status() == "completed"
    assert (runs(log, 1), runs(log, 2)) == (2, 1)


def test_nested_infras_run_in_the_job(tmp_path: Path) -> None:
    infra = {"folder": tmp_path, "cluster": "local"}
    outer = Outer(inner={"infra": infra}, inner_map={"infra": infra}, infra=infra)
    out = outer.process()
    assert out["outer"] != os.getpid()
    assert out["inner"] == out["outer"] and out["map"] == out["outer"]  # not submitted
    inner = Inner(infra=infra)
    assert inner.infra.status() == "completed"  # cached by the job
    assert not (inner.infra.uid_folder() / "job.pkl").exists()
    assert inner.process() == out["outer"]


def test_clear_job(tmp_path: Path) -> None:
    task = TutorialTask(param=8, infra={"folder": tmp_path})
    task.process()
    task.infra.clear_job()
    assert task.infra.status() == "not submitted"
    assert TutorialTask(param=8, infra={"folder": tmp_path}).process() == 16
    assert CALLS == [8, 8]


def test_job_array_in_process(tmp_path: Path) -> None:
    base = TutorialTask(infra={"folder": tmp_path})
    base.infra.clone_obj(param=0).process()
    with base.infra.job_array() as array:
        array.extend(base.infra.clone_obj(param=p) for p in range(4))
    assert sorted(CALLS) == [0, 1, 2, 3]  # 0 was cached
    assert [t.process() for t in array] == [0, 2, 4, 6]
    with pytest.raises(RuntimeError, match="allow_empty"), base.infra.job_array():
        pass
    with base.infra.job_array(allow_empty=True):
        pass
    with pytest.raises(ValueError, match="same uid"), base.infra.job_array() as array:
        array.extend([base.infra.clone_obj(param=9), base.infra.clone_obj(param=9)])
    with base.infra.job_array(allow_repeated_tasks=True) as array:
        array.extend([base.infra.clone_obj(param=9), base.infra.clone_obj(param=9)])
    assert CALLS.count(9) == 1
    with pytest.raises(TypeError, match="item #0"), base.infra.job_array() as array:
        array.append(InnerMap())


def test_job_array_submits_only_uncached(tmp_path: Path) -> None:
    log = tmp_path / "log"
    base = Recorded(log=str(log), infra={"folder": tmp_path, "cluster": "local"})
    base.infra.clone_obj(x=0).process()
    with base.infra.job_array(max_workers=2) as array:
        array.extend(base.infra.clone_obj(x=x) for x in range(3))
    assert array[0].infra._job is None  # cached: nothing submitted
    assert all(t.infra._job is not None for t in array[1:])
    assert [t.process()["x"] for t in array] == [0, 1, 2]
    assert [runs(log, x) for x in range(3)] == [1, 1, 1]


def test_logs_say_what_runs_and_what_is_cached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="exca")
    task = TutorialTask(param=21, infra={"folder": tmp_path})
    task.process()
    folder = str(task.infra.uid_folder())
    computing = [r.getMessage() for r in caplog.records if "computing" in r.getMessage()]
    assert len(computing) == 1
    assert "TutorialTask.process" in computing[0] and folder in computing[0]
    caplog.clear()
    TutorialTask(param=21, infra={"folder": tmp_path}).process()
    messages = [r.getMessage() for r in caplog.records]
    assert any("cached" in m and folder in m for m in messages), messages
    assert not any("computing" in m for m in messages)


def test_cluster_without_folder() -> None:
    with pytest.raises(pydantic.ValidationError, match="cluster='local' requires a folder"):
        TutorialTask(infra={"cluster": "local"})


def test_wrong_arity() -> None:
    with pytest.raises(TypeError, match=r"only self, but .*Bad\.process takes \['self', 'x'\]"):

        class Bad(pydantic.BaseModel):
            infra: TaskInfra = TaskInfra()

            @infra.apply
            def process(self, x: int) -> int:
                return x


def test_one_method_per_infra() -> None:
    with pytest.raises(RuntimeError, match="already decorates first"):

        class Two(pydantic.BaseModel):
            infra: TaskInfra = TaskInfra()

            @infra.apply
            def first(self) -> int:
                return 1

            @infra.apply
            def second(self) -> int:
                return 2


def test_unknown_field_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="foldr"):
        TutorialTask(infra={"foldr": "/tmp"})


def test_foreign_job_file_is_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import pickle

    task = TutorialTask(param=21, infra={"folder": tmp_path, "cluster": "local"})
    folder = task.infra.uid_folder(create=True)
    assert folder is not None
    (folder / "job.pkl").write_bytes(pickle.dumps({"not": "a job"}))
    with caplog.at_level(logging.WARNING):
        assert task.infra.status() == "not submitted"
    assert "job.pkl" in caplog.text and "dict" in caplog.text


SCRIPT_MODEL = """
import os
import sys

import pydantic

from exca import TaskInfra


class Square(pydantic.BaseModel):  # defined in the script: pickled by value into the job
    x: int
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> tuple[int, int]:
        return self.x * self.x, os.getpid()


if __name__ == "__main__":
    task = Square(x=7, infra={"folder": sys.argv[1], "cluster": sys.argv[2]})
    value, pid = task.process()
    print(value, "in another process" if pid != os.getpid() else "in this process")
"""


def test_model_defined_in_a_script_runs_in_a_job(tmp_path: Path) -> None:
    # submitit pickles a class of the script's __main__ by value: the decorated method is
    # found again from its wrapper in the job (no __set_name__ runs there)
    script = tmp_path / "script.py"
    script.write_text(SCRIPT_MODEL)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "cache"), "local"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip().splitlines()[-1] == "49 in another process"


def test_tasks_per_node_returns_the_first_tasks_result(tmp_path: Path) -> None:
    infra = {"folder": tmp_path, "cluster": "local", "tasks_per_node": 2}
    task = Recorded(x=5, log=str(tmp_path / "log"), infra=infra)
    out = task.process()
    assert out["x"] == 5 and out["pid"] != os.getpid()
    assert Recorded(x=5, log=str(tmp_path / "log"), infra=infra).process() == out  # cached


def test_job_array_with_repeated_tasks_logs_submitted_jobs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    log = str(tmp_path / "log")
    infra = {"folder": tmp_path, "cluster": "local"}
    base = Recorded(log=log, infra=infra)
    with (
        caplog.at_level(logging.INFO, logger="exca"),
        base.infra.job_array(allow_repeated_tasks=True) as array,
    ):
        array.extend(Recorded(x=x, log=log, infra=infra) for x in [1, 2, 1, 2, 3])
    assert [obj.process()["x"] for obj in array] == [1, 2, 1, 2, 3]
    assert [runs(log, x) for x in (1, 2, 3)] == [1, 1, 1]  # each distinct config once
    submitted = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Submitted")]
    assert len(submitted) == 1 and submitted[0].startswith("Submitted 3 jobs (eg: ")


class AsksItsJob(pydantic.BaseModel):
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> str:
        job = self.infra.job()  # inside the job: that very job, as in exca 0.6.0
        print("hello from the job", flush=True)
        return str(job.paths.stdout)


def test_job_inside_the_job_and_log_link(tmp_path: Path) -> None:
    obj = AsksItsJob(infra={"folder": tmp_path, "cluster": "local"})
    stdout = Path(obj.process())
    assert "hello from the job" in stdout.read_text()
    link = obj.infra.uid_folder() / "submitit"  # type: ignore[operator]
    assert link.is_symlink() and link.resolve() == stdout.parent.resolve()
    obj.infra.clear_job()
    assert not link.is_symlink() and not link.exists()
