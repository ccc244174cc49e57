"""SubmitInfra: methods with arguments run where the infra says, one by one or in batches."""

from __future__ import annotations

import os
import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca import SubmitInfra, TaskInfra


class Inner(pydantic.BaseModel):
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> int:
        return os.getpid()


class Calc(pydantic.BaseModel):
    offset: int = 0
    inner: Inner = Inner()
    infra: SubmitInfra = SubmitInfra()

    @infra.apply
    def add(self, x: int, y: int = 0) -> dict[str, tp.Any]:
        if x < 0:
            raise ValueError(f"failing on purpose with x={x}")
        return {"sum": x + y + self.offset, "pid": os.getpid()}

    @classmethod
    def nested(cls, folder: Path) -> Calc:
        infra = {"folder": folder, "cluster": "local"}
        return cls(inner={"infra": infra}, infra=infra)


class NestedCalc(Calc):
    """The submitted method calls a TaskInfra method configured for another local job."""

    infra: SubmitInfra = SubmitInfra()

    @infra.apply
    def add(self, x: int, y: int = 0) -> dict[str, tp.Any]:
        return {"sum": x + y, "pid": os.getpid(), "inner": self.inner.process()}


def test_in_process() -> None:
    calc = Calc(offset=1)
    assert calc.add(1, y=2) == {"sum": 4, "pid": os.getpid()}
    job = calc.infra.submit(3)
    assert job.done() and job.result()["sum"] == 4
    with pytest.raises(ValueError, match="x=-1"):
        calc.add(-1)
    bad = calc.infra.submit(-2)
    assert isinstance(bad.exception(), ValueError)
    assert calc.add(1) == calc.add(1)  # no caching, but nothing to cache either


def test_batch_in_process() -> None:
    calc = Calc()
    with calc.infra.batch():
        jobs = [calc.infra.submit(x, y=1) for x in range(3)]
        with pytest.raises(RuntimeError, match=r"submitted when the `with infra\.batch"):
            jobs[0].result()
        with pytest.raises(RuntimeError, match="not re-entrant"), calc.infra.batch():
            pass
    assert [j.result()["sum"] for j in jobs] == [1, 2, 3]
    with calc.infra.batch():  # an empty batch submits nothing
        pass


@pytest.mark.parametrize("cluster", ["local", "debug"])
def test_submitit_clusters(tmp_path: Path, cluster: str) -> None:
    calc = Calc(offset=10, infra={"folder": tmp_path, "cluster": cluster})
    with calc.infra.batch():
        jobs = [calc.infra.submit(x) for x in range(2)]
    outs = [j.result() for j in jobs]
    assert [o["sum"] for o in outs] == [10, 11]
    assert all((o["pid"] != os.getpid()) == (cluster == "local") for o in outs)
    if cluster == "local":
        bad = calc.infra.submit(-3)
        with pytest.raises(Exception, match="failing on purpose with x=-3") as info:
            bad.result()
        assert "Traceback" in str(info.value) and "test_submit.py" in str(info.value)
    else:
        assert calc.add(5)["sum"] == 15


def test_nested_task_runs_in_the_job(tmp_path: Path) -> None:
    calc = NestedCalc.nested(tmp_path)
    out = calc.add(1)
    assert out["pid"] != os.getpid() and out["inner"] == out["pid"]


def test_cluster_without_folder() -> None:
    with pytest.raises(pydantic.ValidationError, match="cluster='local' requires a folder"):
        Calc(infra={"cluster": "local"})


class Static(pydantic.BaseModel):
    infra: SubmitInfra = SubmitInfra()

    @infra.apply
    @staticmethod
    def add(a: int, b: int) -> int:
        return a + b


def test_static_method() -> None:
    assert Static().add(1, 2) == 3
    assert Static().infra.submit(3, b=4).result() == 7


class Multiply(pydantic.BaseModel):
    p: int = 3
    infra: SubmitInfra = SubmitInfra()

    @infra.apply
    def mul(self, a: int) -> int:
        return a * self.p


def test_direct_call_inside_batch_raises_attribute_error() -> None:
    obj = Multiply()
    with pytest.raises(AttributeError, match=r"infra\.submit"), obj.infra.batch():
        obj.mul(2)
    with obj.infra.batch():
        jobs = [obj.infra.submit(k) for k in range(3)]
    assert [job.result() for job in jobs] == [0, 3, 6]
    assert obj.mul(2) == 6  # after the block: a plain call again
