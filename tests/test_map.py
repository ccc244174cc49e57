"""MapInfra: item-wise caching, packing into jobs, order, errors."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import numpy as np
import pydantic
import pytest

from exca import MapInfra

CALLS: list[list[int]] = []


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
    assert _values(again.process([4, 1])) == [17, 2]
    if cluster in (None, "threadpool", "debug"):  # same process: CALLS visible
        assert sorted(x for call in CALLS for x in call) == [1, 2, 3, 4]


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
    with pytest.raises(RuntimeError, match=r"read-only.*1 of 2"):
        ro.process([1, 3])
    CALLS.clear()
    forced = Squarer(infra={"folder": tmp_path, "mode": "force"})
    list(forced.process([1, 2]))
    list(forced.process([1, 2]))
    assert CALLS == [[1, 2]]


def test_forbid_single_item(tmp_path: Path) -> None:
    obj = Squarer(infra={"folder": tmp_path, "forbid_single_item_computation": True})
    list(obj.process([1, 2]))
    with pytest.raises(RuntimeError, match="forbid_single_item_computation"):
        obj.process([3])


def test_item_uid_must_be_str() -> None:
    with pytest.raises(TypeError, match=r"must return a str.*int"):
        BadUid().process([1])


def test_output_count_checked() -> None:
    with pytest.raises(RuntimeError, match="exactly one output per item"):
        TooFew().process([1, 2, 3])


def test_cache_dict_and_uid(tmp_path: Path) -> None:
    obj = Squarer(offset=3, infra={"folder": tmp_path})
    list(obj.process([1]))
    assert set(obj.infra.cache_dict.keys()) == {"1"}
    assert obj.infra.uid().startswith(f"{__name__}.Squarer.process,1/offset=3-")


def test_wrong_arity() -> None:
    with pytest.raises(TypeError, match="one sequence of items"):

        class Bad(pydantic.BaseModel):
            infra: MapInfra = MapInfra()

            @infra.apply(item_uid=str)
            def process(self) -> tp.Iterator[int]:
                yield 1


def test_cluster_without_folder() -> None:
    with pytest.raises(pydantic.ValidationError, match="requires a folder"):
        Squarer(infra={"cluster": "local"})
