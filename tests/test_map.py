"""MapInfra: item-wise caching, packing into jobs, order, errors."""

from __future__ import annotations

import logging
import sys
import typing as tp
from pathlib import Path

import numpy as np
import pydantic
import pytest

from exca import MapInfra
from exca.layout import ConfigMismatchError

CALLS: list[list[int]] = []
POOLS = (None, "threadpool", "processpool")


class Squarer(pydantic.BaseModel):
    offset: int = 0
    infra: MapInfra = MapInfra(version="1")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[np.ndarray]:
        CALLS.append(list(items))
        for item in items:
            yield np.array([item**2 + self.offset], dtype=np.float32)


class BadUid(pydantic.BaseModel):
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=lambda x: x)  # type: ignore[arg-type,return-value]
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        yield from items


class TooFew(pydantic.BaseModel):
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        yield from items[:-1]


class Counting(pydantic.BaseModel):
    """Outputs a global count of computations (read and increased in a file)."""

    path: str
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[str]) -> tp.Iterator[int]:
        file = Path(self.path)
        for _ in items:
            count = int(file.read_text()) + 1 if file.exists() else 1
            file.write_text(str(count))
            yield count


class FailingOn(pydantic.BaseModel):
    bad: int
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        for item in items:
            if item == self.bad:
                raise ValueError(f"failing on purpose with item={item}")
            yield item


class LongUid(pydantic.BaseModel):
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str, item_uid_max_length=20)
    def process(self, items: tp.Sequence[str]) -> tp.Iterator[str]:
        yield from items


@pytest.fixture(autouse=True)
def _reset() -> None:
    CALLS.clear()


def _values(outputs: tp.Iterable[np.ndarray]) -> list[float]:
    return [float(o[0]) for o in outputs]


@pytest.mark.parametrize("cluster", [None, "threadpool", "processpool", "local", "debug"])
def test_map_clusters(tmp_path: Path, cluster: str | None) -> None:
    obj = Squarer(offset=1, infra={"folder": tmp_path, "cluster": cluster, "max_jobs": 2})
    out = _values(obj.process([3, 1, 2, 3]))
    assert out == [10, 2, 5, 10]  # input order, duplicates served
    # a fresh instance computes only the missing items
    again = Squarer(offset=1, infra={"folder": tmp_path, "cluster": cluster})
    assert _values(again.process(iter([4, 1]))) == [17, 2]
    assert set(again.infra.cache_dict.keys()) == {"1", "2", "3", "4"}
    if cluster in (None, "threadpool", "debug"):  # same process: CALLS visible
        assert sorted(x for call in CALLS for x in call) == [1, 2, 3, 4]
    # without folder, the outputs come back from the jobs
    no_folder = Squarer(offset=2, infra={"cluster": cluster} if cluster in POOLS else {})
    assert _values(no_folder.process([1, 2])) == [3, 6]


def test_map_without_folder() -> None:
    obj = Squarer()
    assert _values(obj.process([1, 2])) == [1, 4]
    assert _values(obj.process([2, 3])) == [4, 9]
    assert CALLS == [[1, 2], [3]]


def test_map_packing(tmp_path: Path) -> None:
    obj = Squarer(infra={"folder": tmp_path, "cluster": "threadpool", "max_jobs": 3})
    list(obj.process(range(10)))
    assert len(CALLS) == 3
    obj2 = Squarer(
        offset=2, infra={"folder": tmp_path, "cluster": "threadpool", "min_samples_per_job": 4}
    )
    CALLS.clear()
    list(obj2.process(range(10)))
    assert len(CALLS) == 2 and all(len(c) >= 4 for c in CALLS)


def test_map_modes(tmp_path: Path) -> None:
    Squarer(infra={"folder": tmp_path}).process([1, 2])
    ro = Squarer(infra={"folder": tmp_path, "mode": "read-only"})
    assert _values(ro.process([1])) == [1]
    with pytest.raises(RuntimeError, match=r"read-only.*1 of 2") as info:
        ro.process([1, 3])
    assert str(ro.infra.uid_folder()) in str(info.value) and "'3'" in str(info.value)
    CALLS.clear()
    forced = Squarer(infra={"folder": tmp_path, "mode": "force"})
    list(forced.process([1, 2]))
    list(forced.process([1, 2]))
    assert CALLS == [[1, 2]]  # recomputed once per object


def test_force_replaces_outputs(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    infra = {"folder": tmp_path}
    assert list(Counting(path=str(counter), infra=infra).process(["a", "b"])) == [1, 2]
    forced = Counting(path=str(counter), infra={**infra, "mode": "force"})
    assert list(forced.process(["a"])) == [3]
    assert list(Counting(path=str(counter), infra=infra).process(["a", "b"])) == [3, 2]


def test_failed_job_keeps_the_other_outputs(tmp_path: Path) -> None:
    obj = FailingOn(bad=3, infra={"folder": tmp_path, "cluster": "local", "max_jobs": 2})
    with pytest.raises(RuntimeError, match="1 of 2 job") as info:
        obj.process([1, 2, 3, 4])
    text = str(info.value)
    assert str(obj.infra.uid_folder()) in text
    assert "failing on purpose with item=3" in text and "test_map.py" in text  # job traceback
    assert set(obj.infra.cache_dict.keys()) == {"1", "2"}


def test_forbid_single_item(tmp_path: Path) -> None:
    obj = Squarer(infra={"folder": tmp_path, "forbid_single_item_computation": True})
    list(obj.process([1, 2]))
    list(obj.process([1]))  # cached: fine
    with pytest.raises(RuntimeError, match=r"forbid_single_item_computation.*'3'"):
        obj.process([3])


def test_progress_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    list(Squarer(infra={"folder": tmp_path}).process(range(5)))
    err = capsys.readouterr().err
    assert "Squarer.process" in err and "5/5" in err
    monkeypatch.setenv("EXCA_PROGRESS", "0")  # disabled
    list(Squarer(offset=1).process(range(5)))
    assert "Squarer.process" not in capsys.readouterr().err
    monkeypatch.delenv("EXCA_PROGRESS")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)  # not a terminal
    list(Squarer(offset=2).process(range(5)))
    assert "Squarer.process" not in capsys.readouterr().err


def test_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="exca")
    obj = Squarer(infra={"folder": tmp_path, "cluster": "threadpool"})
    list(obj.process([1, 2]))
    list(obj.process([1, 2, 3]))
    list(obj.process([1, 2, 3]))
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    folder = str(obj.infra.uid_folder())
    assert "computing 2 of 2 items in 2 job(s) on cluster threadpool" in messages[0]
    assert "computing 1 of 3 items" in messages[1] and folder in messages[1]


def test_item_uid() -> None:
    obj = LongUid()
    out = list(obj.process(["x" * 100, "x" * 99 + "y"]))
    assert out == ["x" * 100, "x" * 99 + "y"]
    keys = sorted(obj.infra.cache_dict.keys())
    assert len(keys) == 2 and all(len(k) <= 20 for k in keys)  # as exca 0.6.0 cuts
    assert obj.infra.item_uid("short") == "short"
    with pytest.raises(TypeError, match=r"item_uid of BadUid\.process must return a str, got int"):
        BadUid().process([1])
    with pytest.raises(TypeError, match="item_uid must be a callable"):
        MapInfra().apply(item_uid="name")  # type: ignore[arg-type]


def test_output_count_checked() -> None:
    with pytest.raises(RuntimeError, match="exactly one output per item"):
        TooFew().process([1, 2, 3])


def test_cache_dict_and_uid(tmp_path: Path) -> None:
    obj = Squarer(offset=3, infra={"folder": tmp_path})
    assert len(obj.infra.cache_dict) == 0
    assert not tmp_path.joinpath(obj.infra.uid()).exists()  # reading creates nothing
    list(obj.process([1]))
    assert set(obj.infra.cache_dict.keys()) == {"1"}
    assert obj.infra.uid().startswith(f"{__name__}.Squarer.process,1/offset=3-")
    assert (tmp_path / obj.infra.uid() / "uid.yaml").exists()


def test_config_mismatch(tmp_path: Path) -> None:
    obj = Squarer(offset=4, infra={"folder": tmp_path})
    list(obj.process([1]))
    (tmp_path / obj.infra.uid() / "uid.yaml").write_text("offset: 5\n")
    with pytest.raises(ConfigMismatchError, match="another config"):
        Squarer(offset=4, infra={"folder": tmp_path}).process([1])


def test_wrong_arity() -> None:
    with pytest.raises(TypeError, match=r"one sequence of items, but .*Bad\.process takes"):

        class Bad(pydantic.BaseModel):
            infra: MapInfra = MapInfra()

            @infra.apply(item_uid=str)
            def process(self) -> tp.Iterator[int]:
                yield 1


def test_bad_infra_values() -> None:
    with pytest.raises(pydantic.ValidationError, match="cluster='local' requires a folder"):
        Squarer(infra={"cluster": "local"})
    with pytest.raises(pydantic.ValidationError, match="max_jobs must be >= 1"):
        Squarer(infra={"max_jobs": 0})
    with pytest.raises(pydantic.ValidationError, match="min_samples_per_job must be >= 1"):
        Squarer(infra={"min_samples_per_job": 0})


class Named(pydantic.BaseModel):
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str)
    def process(self, nums: tp.Sequence[int]) -> tp.Iterator[int]:
        for n in nums:
            yield 2 * n


def test_items_given_by_keyword() -> None:
    obj = Named()
    assert list(obj.process(nums=[12])) == [24]
    assert list(obj.process([1, 12])) == [2, 24]
    with pytest.raises(NameError, match="'nums'"):
        obj.process(items=[12])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="exactly one argument"):
        obj.process([1], [2])  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="exactly one argument"):
        obj.process([1], other=3)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="exactly one argument"):
        obj.process()  # type: ignore[call-arg]
