"""Tests of exca.export: pydantic model -> dict, following the uid rules of UID.md."""

import datetime
import enum
import pathlib
import typing as tp

import numpy as np
import pydantic
import pytest

from exca import ConfDict
from exca.export import ModelExportError, model_to_dict


def uid_dict(model: pydantic.BaseModel) -> ConfDict:
    return ConfDict.from_model(model, uid=True, exclude_defaults=True)


class Sub(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 1
    y: str = "a"


class A(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    kind: tp.Literal["a"] = "a"
    p: int = 0


class B(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    kind: tp.Literal["b"] = "b"
    q: float = 0.5


AorB = tp.Annotated[A | B, pydantic.Field(discriminator="kind")]


class Main(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    req: int
    reqsub: Sub
    sub: Sub = Sub()
    u: A | B = pydantic.Field(A(), discriminator="kind")
    items: list[AorB] = []
    dsub: dict[str, Sub] = {}
    lsub: list[Sub] = []
    workers: int = 4
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("workers",)


def test_defaults_dropped_required_kept() -> None:
    m = Main(req=1, reqsub=Sub())
    assert uid_dict(m) == {"req": 1, "reqsub": {}}  # required fields always kept
    assert uid_dict(m).to_uid() == "req=1,reqsub={}-32b7955f"


def test_non_defaults_kept() -> None:
    m = Main(req=1, reqsub=Sub(x=2), sub=Sub(y="b"), workers=8)
    assert uid_dict(m) == {"req": 1, "reqsub": {"x": 2}, "sub": {"y": "b"}}


def test_discriminator_always_kept() -> None:
    # member B at all its defaults: its discriminator tells it apart from the default A
    assert uid_dict(Main(req=1, reqsub=Sub(), u=B()))["u"] == {"kind": "b"}
    assert uid_dict(Main(req=1, reqsub=Sub(), u=A(p=1)))["u"] == {"kind": "a", "p": 1}
    # equal to the default: dropped altogether
    assert "u" not in uid_dict(Main(req=1, reqsub=Sub(), u=A()))
    # in lists (annotated union), even at defaults
    m = Main(req=1, reqsub=Sub(), items=[A(), B(q=2)])
    assert uid_dict(m)["items"] == [{"kind": "a"}, {"kind": "b", "q": 2.0}]
    uids = {uid_dict(Main(req=1, reqsub=Sub(), u=member)).to_uid() for member in (A(), B())}
    assert len(uids) == 2


def test_nested_lists_and_dicts_of_models() -> None:
    m = Main(
        req=1,
        reqsub=Sub(),
        dsub={"k": Sub(), "j": Sub(x=3)},
        lsub=[Sub(), Sub(x=5)],
    )
    out = uid_dict(m)
    assert out["dsub"] == {"k": {}, "j": {"x": 3}}
    assert out["lsub"] == [{}, {"x": 5}]


class Deep3(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    lr: float = 0.1
    workers: int = 1
    _exclude_from_cls_uid: tp.ClassVar[list[str]] = ["workers"]


class Deep2(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    optim: Deep3 = Deep3()
    others: dict[str, list[Deep3]] = {}


class Deep1(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    model: Deep2 = Deep2()


def test_arbitrarily_nested() -> None:
    obj = Deep1(model=Deep2(optim=Deep3(lr=0.5), others={"a": [Deep3(), Deep3(lr=2)]}))
    assert uid_dict(obj) == {"model": {"optim": {"lr": 0.5}, "others": {"a": [{}, {"lr": 2.0}]}}}
    assert uid_dict(obj).to_uid() == "model={optim.lr=0.50,others.a=[{},{lr=2}]}-aad3c511"


def test_all_default_sub_model_dropped() -> None:
    # differs from its default only through excluded fields: dropped for the uid
    obj = Deep1(model=Deep2(optim=Deep3(workers=12)))
    assert uid_dict(obj) == {}
    assert uid_dict(obj).to_uid() == ""
    # ... but kept in the full config
    assert ConfDict.from_model(obj, exclude_defaults=True) == {"model": {"optim": {"workers": 12}}}


def test_sub_model_differing_from_non_trivial_default() -> None:
    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        s: Sub = Sub(x=5)
        o: Sub | None = None

    assert uid_dict(Holder()) == {}
    # all fields of Sub at Sub's defaults, but not the field's default: kept
    assert uid_dict(Holder(s=Sub())) == {"s": {}}
    assert uid_dict(Holder(o=Sub())) == {"o": {}}
    assert uid_dict(Holder(s=Sub())).to_uid() != uid_dict(Holder()).to_uid()


class ExclPrivate(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    a: int = 1
    b: int = 2
    _exclude_from_cls_uid: list[str] = ["b"]


class ExclMethod(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    a: int = 1
    b: int = 2

    def _exclude_from_cls_uid(self) -> list[str]:
        return ["b"] if self.a > 0 else []


class ExclClassMethod(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    a: int = 1
    b: int = 2

    @classmethod
    def _exclude_from_cls_uid(cls) -> tuple[str, ...]:
        return ("b",)


class ExclClassVar(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    a: int = 1
    b: int = 2
    _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("b",)


@pytest.mark.parametrize("cls", [ExclPrivate, ExclMethod, ExclClassMethod, ExclClassVar])
def test_exclusion_forms(cls: tp.Any) -> None:
    obj = cls(a=3, b=4)
    assert uid_dict(obj) == {"a": 3}
    # exclude_defaults=False: all but the excluded fields
    assert ConfDict.from_model(obj, uid=True) == {"a": 3}
    # not for the full config
    assert ConfDict.from_model(obj) == {"a": 3, "b": 4}
    assert ConfDict.from_model(obj, exclude_defaults=True) == {"a": 3, "b": 4}


def test_exclusion_method_sees_the_instance() -> None:
    assert uid_dict(ExclMethod(a=-3, b=4)) == {"a": -3, "b": 4}


def test_exclusion_inherited_and_overridden() -> None:
    class Child(ExclClassVar):
        c: int = 0
        _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("b", "c")

    assert uid_dict(Child(a=2, b=3, c=4)) == {"a": 2}
    assert uid_dict(ExclClassVar(a=2, b=3)) == {"a": 2}


def test_bad_exclusions() -> None:
    class Typo(pydantic.BaseModel):
        a: int = 1
        _exclude_from_cls_uid: tp.ClassVar[tuple[str, ...]] = ("aa",)

    with pytest.raises(
        ValueError, match=r"Typo._exclude_from_cls_uid names unknown fields \['aa'\]"
    ):
        uid_dict(Typo())

    class NotAList(pydantic.BaseModel):
        a: int = 1

        def _exclude_from_cls_uid(self) -> str:
            return "a"

    with pytest.raises(TypeError, match="list/tuple/set of field names"):
        uid_dict(NotAList())


class FakeInfra(pydantic.BaseModel):
    """Stands for an infra: excludes all its fields but version, through the general rule."""

    model_config = pydantic.ConfigDict(extra="forbid")
    folder: str | None = None
    cluster: str | None = None
    version: str = "0"

    def _exclude_from_cls_uid(self) -> list[str]:
        return [name for name in type(self).model_fields if name != "version"]


class WithInfra(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    p: int = 1
    infra: FakeInfra = FakeInfra(version="1")


def test_infra_field_contributes_only_its_version() -> None:
    assert uid_dict(WithInfra()) == {}
    assert uid_dict(WithInfra(infra=FakeInfra(folder="/x", cluster="slurm", version="1"))) == {}
    assert uid_dict(WithInfra(p=2, infra=FakeInfra(folder="/x", version="2"))) == {
        "p": 2,
        "infra": {"version": "2"},
    }
    # the full config has all infra fields, to re-instantiate the object
    full = ConfDict.from_model(WithInfra(infra=FakeInfra(folder="/x", version="1")))
    assert full == {"p": 1, "infra": {"folder": "/x", "cluster": None, "version": "1"}}
    assert WithInfra(**full) == WithInfra(infra=FakeInfra(folder="/x", version="1"))


def test_dropping_extra_keys_for_a_cache_uid() -> None:
    obj = Main(req=1, reqsub=Sub(x=3, y="z"), sub=Sub(x=2))
    cfg = uid_dict(obj)
    cfg.pop("reqsub.y")
    cfg.pop("sub", None)
    assert cfg == {"req": 1, "reqsub": {"x": 3}}
    assert model_to_dict(obj, uid=True, exclude_defaults=True, exclude=["reqsub.y", "sub"]) == cfg


def test_union_without_discriminator_raises_with_path() -> None:
    class Optim(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        algo: A | B = A()

    class Model(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        optim: Optim = Optim()

    class Top(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        model: Model = Model()

    top = Top(model=Model(optim=Optim(algo=B())))
    with pytest.raises(ModelExportError, match=r"'model\.optim\.algo'.*without a discriminator"):
        uid_dict(top)
    with pytest.raises(ModelExportError, match="without a discriminator"):
        ConfDict.from_model(Optim(), uid=True)  # also at defaults, when visited
    # the full config does not need the uid
    assert ConfDict.from_model(top) == {"model": {"optim": {"algo": {"kind": "b", "q": 0.5}}}}
    # a single model (optional) is not ambiguous
    assert uid_dict(Sub()) == {}


def test_unrepresentable_value_raises_with_path() -> None:
    class Opaque:
        pass

    class Inner(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
        lr: tp.Any = 0.1

    class Outer(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        optim: Inner = Inner()

    class Top(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        model: Outer = Outer()

    obj = Top(model=Outer(optim=Inner(lr=Opaque())))
    with pytest.raises(ModelExportError, match=r"'model\.optim\.lr'.*Opaque"):
        uid_dict(obj)
    with pytest.raises(TypeError, match=r"model\.optim\.lr"):
        ConfDict.from_model(obj, uid=True)
    # the full config keeps the object as is (it can rebuild the model)
    assert isinstance(ConfDict.from_model(obj)["model.optim.lr"], Opaque)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Types(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    p: pathlib.Path = pathlib.Path("/a")
    c: Color = Color.RED
    t: tuple[int, int] = (1, 2)
    s: set[str] = {"x"}
    d: datetime.date = datetime.date(2020, 1, 1)
    arr: np.ndarray = pydantic.Field(default_factory=lambda: np.zeros(2))
    keys: dict[int, int] = {}


def test_json_like_values() -> None:
    obj = Types(
        p="/b",
        c=Color.BLUE,
        t=(3, 4),
        s={"b", "a", "c"},
        d=datetime.date(2021, 1, 2),
        arr=np.ones(3),
        keys={1: 2},
    )
    out = uid_dict(obj)
    arr = out.pop("arr")
    assert isinstance(arr, np.ndarray) and arr.shape == (3,)
    assert out == {
        "p": "/b",
        "c": "blue",
        "t": [3, 4],
        "s": ["a", "b", "c"],  # sorted: deterministic
        "d": "2021-01-02",
        "keys": {"1": 2},
    }
    assert uid_dict(Types()) == {}  # default arrays compare by content
    assert uid_dict(Types(arr=np.zeros(2))) == {}
    assert uid_dict(obj).to_uid().startswith("arr=data-")


def test_full_config_and_exclude_defaults_false() -> None:
    m = Main(req=1, reqsub=Sub(), workers=8)
    full = ConfDict.from_model(m)
    assert full == {
        "req": 1,
        "reqsub": {"x": 1, "y": "a"},
        "sub": {"x": 1, "y": "a"},
        "u": {"kind": "a", "p": 0},
        "items": [],
        "dsub": {},
        "lsub": [],
        "workers": 8,
    }
    assert Main(**full) == m  # re-instantiates
    uid_full = ConfDict.from_model(m, uid=True)
    assert "workers" not in uid_full and uid_full["sub"] == {"x": 1, "y": "a"}
    # discriminators are kept with exclude_defaults, in the full config too
    assert ConfDict.from_model(Main(req=1, reqsub=Sub(), u=B()), exclude_defaults=True) == {
        "req": 1,
        "reqsub": {},
        "u": {"kind": "b"},
    }


def test_extra_fields_included() -> None:
    class Extra(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="allow")
        a: int = 1

    assert uid_dict(Extra(a=1, z=3)) == {"z": 3}


def test_default_factory() -> None:
    class Fac(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        items: list[int] = pydantic.Field(default_factory=list)
        sub: Sub = pydantic.Field(default_factory=Sub)

    assert uid_dict(Fac()) == {}
    assert uid_dict(Fac(items=[1], sub=Sub(x=9))) == {"items": [1], "sub": {"x": 9}}


def test_not_a_model() -> None:
    with pytest.raises(TypeError, match="Expected a pydantic model"):
        model_to_dict({"a": 1})  # type: ignore[arg-type]


def test_from_model_returns_confdict_with_uid_matching_vectors() -> None:
    class Training(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        lr: float = 0.1

    class Cfg(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        training: Training = Training()

    cfg = uid_dict(Cfg(training=Training(lr=0.01)))
    assert isinstance(cfg, ConfDict)
    assert cfg.to_uid() == "training.lr=0.01-346ce994"


def test_custom_serializers_are_applied() -> None:
    class Ser(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        a: int = 1
        b: tp.Annotated[int, pydantic.PlainSerializer(lambda x: x * 10)] = 2

        @pydantic.field_serializer("a")
        def _ser_a(self, value: int) -> str:
            return f"A{value}"

    assert uid_dict(Ser(a=3, b=4)) == {"a": "A3", "b": 40}
    assert uid_dict(Ser()) == {}

    class Whole(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        a: int = 1

        @pydantic.model_serializer
        def _ser(self) -> dict[str, tp.Any]:
            return {"z": self.a}

    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        w: Whole = Whole()

    assert uid_dict(Holder(w=Whole(a=5))) == {"w": {"z": 5}}
    assert uid_dict(Holder()) == {}
