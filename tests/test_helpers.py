"""exca.helpers: config models from functions, with_infra, validate_kwargs, DiscriminatedModel."""

from __future__ import annotations

import typing as tp
from pathlib import Path

import pydantic
import pytest

from exca import ConfDict, TaskInfra, helpers

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
    assert uid == f"{__name__}.multiply_FuncConfig.build,1/{ConfDict(a=3).to_uid()}"
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
