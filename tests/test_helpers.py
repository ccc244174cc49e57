"""exca.helpers: config models from functions, with_infra, validate_kwargs, DiscriminatedModel."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca import ConfDict, MapInfra, TaskInfra, helpers

CALLS: list[tuple[int, int]] = []


def multiply(a: int, b: int = 2) -> int:
    """Multiplies (and records the call)."""
    CALLS.append((a, b))
    return a * b


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    CALLS.clear()


# ---------- to_config_model / to_config ----------


def test_to_config_model(tmp_path: Path) -> None:
    Model = helpers.to_config_model(multiply)
    assert helpers.to_config_model(multiply) is Model  # one model per function
    assert set(Model.model_fields) == {"a", "b", "infra"}  # type: ignore[attr-defined]
    conf = Model(a=3, infra={"folder": tmp_path})  # type: ignore[call-arg]
    assert conf.build() == 6
    assert helpers.to_config(multiply, a=3, infra={"folder": tmp_path}).build() == 6
    assert CALLS == [(3, 2)]  # cached in the folder
    uid = conf.infra.uid()
    assert uid == f"{__name__}.multiply_FuncConfig.build,1/{ConfDict(a=3).to_uid(version=3)}"
    assert helpers.to_config(multiply, a=3, b=5).build() == 15


def test_to_config_errors() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"a\n.*valid integer"):
        helpers.to_config(multiply, a="x")
    with pytest.raises(pydantic.ValidationError, match=r"c\n.*Extra inputs"):
        helpers.to_config(multiply, a=1, c=2)

    def star(*args: int) -> int:
        return 0

    with pytest.raises(TypeError, match=r"\*args/\*\*kwargs"):
        helpers.to_config_model(star)

    def reserved(infra: int) -> int:
        return infra

    with pytest.raises(ValueError, match="'infra' is reserved"):
        helpers.to_config_model(reserved)


# ---------- with_infra ----------


def test_with_infra(tmp_path: Path) -> None:
    cached = helpers.with_infra(folder=tmp_path)(multiply)
    assert "with_infra" in repr(cached) and "multiply" in repr(cached)
    assert cached.__doc__ == multiply.__doc__
    assert cached(a=2) == 4
    assert cached(a=2) == 4
    assert cached(a=2, b=3) == 6
    assert CALLS == [(2, 2), (2, 3)]
    assert cached.config(a=2).infra.folder == tmp_path
    with pytest.raises(TypeError, match="by keyword"):
        cached(2)
    with pytest.raises(pydantic.ValidationError, match="foldr"):
        helpers.with_infra(foldr=tmp_path)
    as_infra = helpers.FunctionWithInfra(multiply, TaskInfra(folder=tmp_path))
    assert as_infra(a=2) == 4 and len(CALLS) == 2


# ---------- validate_kwargs ----------


def test_validate_kwargs() -> None:
    helpers.validate_kwargs(multiply, {"a": 1})
    helpers.validate_kwargs(multiply, {"a": 1, "b": "2"})  # lax, as pydantic
    with pytest.raises(ValueError, match=r"Missing parameter\(s\) for multiply: \['a'\]"):
        helpers.validate_kwargs(multiply, {})
    with pytest.raises(ValueError, match=r"Extra parameter\(s\).*\['c'\].*available: \['b'\]"):
        helpers.validate_kwargs(multiply, {"a": 1, "c": 2})
    with pytest.raises(TypeError, match="Wrong type float for 'a' of multiply"):
        helpers.validate_kwargs(multiply, {"a": 1.5})


# ---------- DiscriminatedModel ----------


class Optim(helpers.DiscriminatedModel):
    lr: float = 0.1


class Adam(Optim):
    betas: tuple[float, float] = (0.9, 0.999)


class Sgd(Optim):
    momentum: float = 0.0


class Layer(helpers.DiscriminatedModel, discriminator_key="kind"):
    size: int = 1


class Conv(Layer):
    kernel: int = 3


class Train(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    optim: Optim = Optim()
    layers: list[Layer] = []
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def run(self) -> str:
        return type(self.optim).__name__


def test_discriminated_model_selection() -> None:
    train = Train(optim={"type": "Adam", "lr": 0.01}, layers=[{"kind": "Conv"}, {}])
    assert isinstance(train.optim, Adam) and train.optim.lr == 0.01
    assert [type(layer) for layer in train.layers] == [Conv, Layer]
    assert type(Optim(type="Sgd", momentum=0.5)) is Sgd  # from the base class too
    assert Adam().type == "Adam"  # type: ignore[attr-defined]
    assert repr(Adam(lr=0.5)) == "Adam(lr=0.5, betas=(0.9, 0.999))"  # the key is hidden
    assert train.run() == "Adam"


def test_discriminated_model_dump_roundtrip() -> None:
    train = Train(optim=Sgd(momentum=0.9), layers=[Conv(kernel=5)])
    dumped = train.model_dump()
    assert dumped["optim"] == {"type": "Sgd", "lr": 0.1, "momentum": 0.9}
    assert dumped["layers"] == [{"kind": "Conv", "size": 1, "kernel": 5}]
    assert Train.model_validate(dumped) == train
    from_json = Train.model_validate_json(train.model_dump_json())
    assert (from_json.optim, from_json.layers) == (train.optim, train.layers)
    clone = train.infra.clone_obj({"optim.momentum": 0.1})
    assert isinstance(clone.optim, Sgd) and clone.optim.momentum == 0.1


def test_discriminated_model_uid_keeps_the_key() -> None:
    default = Train(optim=Optim())
    assert default.infra.config(uid=True, exclude_defaults=True) == {}
    sgd = Train(optim=Sgd())
    assert sgd.infra.config(uid=True, exclude_defaults=True) == {"optim": {"type": "Sgd"}}
    assert sgd.infra.uid() != Train(optim=Adam()).infra.uid()


def test_discriminated_model_errors() -> None:
    with pytest.raises(pydantic.ValidationError, match=r"type='Conv' is not a subclass of Optim"):
        Train(optim={"type": "Conv"})
    with pytest.raises(pydantic.ValidationError, match=r"\['Adam', 'Optim', 'Sgd'\]"):
        Optim(type="Nope")
    with pytest.raises(pydantic.ValidationError, match="not a subclass of Adam"):
        Adam(type="Sgd")
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        Adam(momentum=1.0)

    def define() -> type[Optim]:
        class Adam(Optim):  # another class with a registered name
            pass

        return Adam

    with pytest.raises(TypeError, match="Two DiscriminatedModel subclasses named 'Adam'"):
        define()


def test_nested_discriminator_keys() -> None:
    class Base(helpers.DiscriminatedModel):
        pass

    class Mid(Base, discriminator_key="name"):
        w: int = 1

    class Leaf(Mid):
        pass

    leaf = Leaf()
    assert leaf.model_dump() == {"type": "Leaf", "name": "Leaf", "w": 1}

    class Holder(pydantic.BaseModel):
        base: Base
        mid: Mid

    holder = Holder(base={"type": "Leaf"}, mid={"name": "Leaf", "w": 2})
    assert type(holder.base) is Leaf and type(holder.mid) is Leaf
    assert Holder.model_validate(holder.model_dump()) == holder
    options: tp.Any = Base._subclass("Leaf")
    assert options is Leaf


# # # # # exca 0.6.0 behaviours # # # # #


class Greeting(helpers.DiscriminatedModel):
    pass


class Hello(Greeting):
    x: int = 1


class World(Greeting):
    y: str = "w"


class NotGreeting(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    z: int = 0


class GreetingHolder(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    sub: Greeting
    either: NotGreeting | Greeting = NotGreeting()


def test_discriminated_model_from_a_plain_name_and_in_unions() -> None:
    holder = GreetingHolder(sub="World")  # type: ignore[arg-type]
    assert type(holder.sub) is World and holder.sub.y == "w"
    assert holder.model_dump() == {"sub": {"type": "World", "y": "w"}, "either": {"z": 0}}
    assert type(GreetingHolder(sub="Hello", either={"type": "World"}).either) is World  # type: ignore[arg-type]
    assert type(GreetingHolder(sub="Hello", either={"z": 2}).either) is NotGreeting  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="type='Nope'"):
        GreetingHolder(sub={"type": "Nope"})  # type: ignore[arg-type]


def test_discriminated_model_field_clashing_with_the_key() -> None:
    with pytest.raises(RuntimeError, match="discriminator key"):

        class Clash(Greeting):
            type: int = 1  # type: ignore[assignment]


def concat(a: int, b: str = "x") -> str:
    return b * a


def test_to_config_objects_pickle_in_another_process(tmp_path: Path) -> None:
    import pickle
    import subprocess
    import sys

    cfg = helpers.to_config(concat, a=2, infra={"folder": tmp_path})
    assert pickle.loads(pickle.dumps(cfg)).build() == "xx"
    assert pickle.loads(pickle.dumps(type(cfg))) is type(cfg)  # importable class
    path = tmp_path / "cfg.pkl"
    path.write_bytes(pickle.dumps(cfg))
    code = f"import pickle; print(pickle.loads(open({str(path)!r}, 'rb').read()).build())"
    root = Path(__file__).parents[1]
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert proc.stdout.strip() == "xx"


def with_kwargs(a: int, **kwargs: int) -> int:
    return a


def test_validate_kwargs_with_var_keyword() -> None:
    helpers.validate_kwargs(with_kwargs, {"a": 1, "anything": 2})
    with pytest.raises(ValueError, match="Missing"):
        helpers.validate_kwargs(with_kwargs, {"anything": 2})
    with pytest.raises(TypeError, match="'a'"):
        helpers.validate_kwargs(with_kwargs, {"a": "nope"})
    with pytest.raises(ValueError, match="Extra"):
        helpers.validate_kwargs(concat, {"a": 1, "z": 2})


class LocalMap(pydantic.BaseModel):
    p: int = 1
    infra: MapInfra = MapInfra()

    @infra.apply(item_uid=str)
    def run(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        for item in items:
            yield item * self.p


def test_find_slurm_job_finds_map_jobs_of_local_clusters(tmp_path: Path) -> None:
    obj = LocalMap(p=2, infra={"folder": tmp_path, "cluster": "local"})
    assert list(obj.run([1, 2])) == [2, 4]
    ids = [p.name.split("_")[0] for p in tmp_path.glob("logs/*/*/*_submitted.pkl")]
    assert len(ids) == 2
    for job_id in ids:
        job = helpers.find_slurm_job(job_id=job_id, folder=tmp_path)
        assert job is not None and str(job.job_id) == job_id
        assert job.uid_config == {"p": 2}
        assert job.uid_folder == obj.infra.uid_folder()
    assert helpers.find_slurm_job(job_id="123456789", folder=tmp_path) is None
