"""TaskInfra: caching, modes, jobs, uid folders, freezing, errors."""

from __future__ import annotations

import pickle
import typing as tp
from pathlib import Path

import pydantic
import pytest

import exca
from exca import ConfDict, TaskInfra
from exca.base import FrozenModelError
from exca.layout import ConfigMismatchError

CALLS: list[tp.Any] = []


class TutorialTask(pydantic.BaseModel):
    param: int = 12
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> int:
        CALLS.append(self.param)
        return self.param * 2


class Failing(pydantic.BaseModel):
    x: int = 0
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> int:
        CALLS.append(("fail", self.x))
        if self.x >= 0:
            raise ValueError(f"failing on purpose with x={self.x}")
        return self.x


class Excluding(pydantic.BaseModel):
    x: int = 0
    num_workers: int = 1
    post: int = 0
    infra: TaskInfra = TaskInfra()
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("num_workers",)

    @infra.apply(exclude_from_cache_uid=("post",))
    def process(self) -> int:
        return self.x


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


def test_spec_examples() -> None:
    task = TutorialTask(param=13)
    cfdict = task.infra.config(uid=True, exclude_defaults=True)
    assert cfdict == {"param": 13}
    new = task.infra.clone_obj({"param": 14})
    assert new.param == 14
    assert isinstance(new.infra, TaskInfra)
    assert new.process() == 28


def test_ram_cache_without_folder() -> None:
    task = TutorialTask(param=3)
    assert task.process() == 6
    assert task.process() == 6
    assert CALLS == [3]
    assert TutorialTask(param=3).process() == 6  # another instance: no shared RAM cache
    assert CALLS == [3, 3]


def test_folder_cache_layout(tmp_path: Path) -> None:
    task = TutorialTask(param=13, infra={"folder": tmp_path})
    assert task.process() == 26
    uid = task.infra.uid()
    assert uid.startswith(f"{__name__}.TutorialTask.process,1/param=13-")
    folder = task.infra.uid_folder()
    assert folder == tmp_path / uid
    for name in ["uid.yaml", "full-uid.yaml", "config.yaml"]:
        assert (folder / name).exists(), name
    assert ConfDict.from_yaml(folder / "uid.yaml") == {"param": 13}
    # a fresh instance reads the cache
    again = TutorialTask(param=13, infra={"folder": tmp_path})
    assert again.process() == 26
    assert CALLS == [13]
    assert again.infra.status() == "completed"


def test_default_uid_folder(tmp_path: Path) -> None:
    task = TutorialTask(infra={"folder": tmp_path})
    assert task.infra.uid().endswith("/default")
    task.process()
    assert (tmp_path / task.infra.uid() / "uid.yaml").exists()


def test_explicit_default_hits_same_cache(tmp_path: Path) -> None:
    TutorialTask(param=12, infra={"folder": tmp_path}).process()
    TutorialTask(infra={"folder": tmp_path}).process()
    assert CALLS == [12]


def test_infra_fields_not_in_uid(tmp_path: Path) -> None:
    a = TutorialTask(param=1, infra={"folder": tmp_path, "timeout_min": 5, "mem_gb": 2})
    b = TutorialTask(param=1, infra={"folder": tmp_path})
    assert a.infra.uid() == b.infra.uid()
    c = TutorialTask(param=1, infra={"folder": tmp_path, "version": "2"})
    assert c.infra.uid() != a.infra.uid()
    assert ",2/" in c.infra.uid()


def test_exclusions(tmp_path: Path) -> None:
    a = Excluding(x=1, num_workers=4, post=3, infra={"folder": tmp_path})
    assert a.infra.config(uid=True, exclude_defaults=True) == {"x": 1}
    # the class-level exclusion also applies when the model is a sub-config
    assert ConfDict.from_model(a, uid=True, exclude_defaults=True) == {"x": 1, "post": 3}
    b = Excluding(x=1, infra={"folder": tmp_path})
    assert a.infra.uid() == b.infra.uid()


def test_modes(tmp_path: Path) -> None:
    task = TutorialTask(param=5, infra={"folder": tmp_path})
    with pytest.raises(RuntimeError, match=r"read-only.*param=5"):
        TutorialTask(param=5, infra={"folder": tmp_path, "mode": "read-only"}).process()
    assert task.process() == 10
    assert TutorialTask(param=5, infra={"folder": tmp_path, "mode": "read-only"}).process() == 10
    forced = TutorialTask(param=5, infra={"folder": tmp_path, "mode": "force"})
    assert forced.process() == 10
    assert forced.process() == 10  # forced once per instance
    assert CALLS == [5, 5]


def test_failure_not_cached_in_process(tmp_path: Path) -> None:
    task = Failing(x=1, infra={"folder": tmp_path})
    with pytest.raises(ValueError, match="x=1"):
        task.process()
    assert task.infra.status() == "failed"
    with pytest.raises(ValueError, match="x=1"):
        Failing(x=1, infra={"folder": tmp_path}).process()
    assert CALLS == [("fail", 1), ("fail", 1)]


@pytest.mark.parametrize("cluster", ["local", "debug"])
def test_submitit_clusters(tmp_path: Path, cluster: str) -> None:
    task = TutorialTask(param=7, infra={"folder": tmp_path, "cluster": cluster})
    assert task.infra.status() == "not submitted"
    job = task.infra.job()
    assert job.result() == 14
    assert task.infra.status() == "completed"
    assert task.process() == 14
    # a fresh process / instance finds it in the cache
    again = TutorialTask(param=7, infra={"folder": tmp_path, "cluster": cluster})
    assert again.infra.status() == "completed"
    assert again.process() == 14


def test_failed_job_and_retry(tmp_path: Path) -> None:
    task = Failing(x=2, infra={"folder": tmp_path, "cluster": "local"})
    with pytest.raises(Exception, match="failing on purpose with x=2"):
        task.process()
    assert task.infra.status() == "failed"
    # cached mode keeps the failure (the job is found again through job.pkl)
    again = Failing(x=2, infra={"folder": tmp_path, "cluster": "local"})
    assert again.infra.status() == "failed"
    with pytest.raises(Exception, match="failing on purpose"):
        again.process()
    retry = Failing(x=2, infra={"folder": tmp_path, "cluster": "local", "mode": "retry"})
    with pytest.raises(Exception, match="failing on purpose"):
        retry.process()  # rerun (and fails again)
    assert not (retry.infra.uid_folder() / "result").exists()


def test_clear_job(tmp_path: Path) -> None:
    task = TutorialTask(param=8, infra={"folder": tmp_path})
    task.process()
    task.infra.clear_job()
    assert task.infra.status() == "not submitted"
    assert TutorialTask(param=8, infra={"folder": tmp_path}).process() == 16
    assert CALLS == [8, 8]


def test_frozen_after_uid(tmp_path: Path) -> None:
    task = TutorialTask(param=1, infra={"folder": tmp_path})
    task.param = 2  # fine before the uid is computed
    task.process()
    with pytest.raises(FrozenModelError, match="param"):
        task.param = 3
    assert task.param == 2


def test_config_mismatch_raises(tmp_path: Path) -> None:
    task = TutorialTask(param=4, infra={"folder": tmp_path})
    task.process()
    uid_file = task.infra.uid_folder() / "uid.yaml"
    uid_file.write_text("param: 5\n")
    with pytest.raises(ConfigMismatchError, match="another config"):
        TutorialTask(param=4, infra={"folder": tmp_path}).process()


def test_job_array(tmp_path: Path) -> None:
    base = TutorialTask(infra={"folder": tmp_path, "cluster": "local"})
    for p in range(3):
        base.infra.clone_obj(param=p).process()
    assert sorted(CALLS) == []  # ran in subprocesses
    with base.infra.job_array() as array:
        for p in range(6):
            array.append(base.infra.clone_obj(param=p))
    submitted = [t.param for t in array if t.infra._job is not None]
    assert submitted == [3, 4, 5]  # the cached ones are not submitted again
    for t in array:
        t.infra.job().wait()
    assert [t.infra.status() for t in array] == ["completed"] * 6
    assert [t.process() for t in array] == [2 * p for p in range(6)]


def test_job_array_in_process(tmp_path: Path) -> None:
    base = TutorialTask(infra={"folder": tmp_path})
    base.infra.clone_obj(param=0).process()
    with base.infra.job_array() as array:
        for p in range(4):
            array.append(base.infra.clone_obj(param=p))
    assert sorted(CALLS) == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="allow_empty"), base.infra.job_array():
        pass


def test_cluster_without_folder() -> None:
    with pytest.raises(pydantic.ValidationError, match="requires a folder"):
        TutorialTask(infra={"cluster": "local"})


def test_wrong_arity() -> None:
    with pytest.raises(TypeError, match="only self"):

        class Bad(pydantic.BaseModel):
            infra: TaskInfra = TaskInfra()

            @infra.apply
            def process(self, x: int) -> int:
                return x


def test_unknown_field_rejected() -> None:
    with pytest.raises(pydantic.ValidationError, match="foldr"):
        TutorialTask(infra={"foldr": "/tmp"})


def test_pickle_drops_ram_cache() -> None:
    task = TutorialTask(param=2, infra={"keep_in_ram": True})
    task.process()
    clone = pickle.loads(pickle.dumps(task))
    assert clone.infra._ram is not task.infra._ram or task.infra._ram is None
    assert clone.process() == 4
    assert clone.infra._obj is clone


def test_shared_infra_instance(tmp_path: Path) -> None:
    infra = TaskInfra(folder=tmp_path)
    a = TutorialTask(param=1, infra=infra)
    b = TutorialTask(param=2, infra=infra)
    assert a.process() == 2
    assert b.process() == 4
    assert a.infra.uid() != b.infra.uid()


def test_iter_cached(tmp_path: Path) -> None:
    base = TutorialTask(infra={"folder": tmp_path})
    for p in [1, 2]:
        base.infra.clone_obj(param=p).process()
    cached = sorted(obj.param for obj in base.infra.iter_cached())
    assert cached == [1, 2]


def test_lazy_exports() -> None:
    assert exca.TaskInfra is TaskInfra
