"""A corpus of model shapes that real projects use, each wrapped in a parent model, through
``exca.hydra.register``, Hydra's ``compose`` and ``exca.hydra.compose``.

For every shape: a compose with no overrides, one with a nested override, one selecting
another union option via its config group (the shape's own group, else the parent's
``optim`` group), and one bad override. The composed model and its uid equal the model
built directly in Python, and the bad override's error names the full dotted path (list
indices included). Shapes whose values cannot survive a config are refused at
``register`` with an error naming the field, the type and the supported alternative.
"""

import abc
import dataclasses
import datetime
import decimal
import enum
import math
import re
import typing as tp
import uuid
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydantic
import pytest
from hydra import compose, initialize
from hydra.core.global_hydra import GlobalHydra

import exca
import exca.export
import exca.hydra
from exca import ConfDict
from exca.helpers import DiscriminatedModel
from exca.hydra import SchemaError

pytestmark = pytest.mark.usefixtures("clean_hydra")


# # # # # building blocks # # # # #


class Sgd(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["sgd"] = "sgd"
    lr: float = 0.01


class Adam(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["adam"] = "adam"
    lr: float = 0.001


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Prio(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Block(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    width: int = pydantic.Field(3, gt=0)


class Inner(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    k: int = 1
    block: Block = Block()


class Step(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    kind: tp.Literal["step"] = "step"
    every: int = 10


class Cosine(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    kind: tp.Literal["cosine"] = "cosine"
    warmup: int = 0


class PlainA(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    a: int = 1


class PlainB(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    b: str = "x"


class Sched(DiscriminatedModel):
    start: float = 1.0


class ConstSched(Sched):
    pass


class StepSched(Sched):
    every: int = 10


class CosineSched(Sched):
    warmup: int = 0
    floor: float = 0.0


class Opt(DiscriminatedModel):
    pass


class AliasOpt(Opt):
    learning_rate: float = pydantic.Field(0.1, alias="lr")


class OtherOpt(Opt):
    color: Color = Color.RED
    pair: tuple[int, int] = (1, 2)


T = tp.TypeVar("T")


class Generic(pydantic.BaseModel, tp.Generic[T]):
    model_config = pydantic.ConfigDict(extra="forbid")
    value: T


class Node(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    value: int = 0
    children: list["Node"] = []


def _parse_mem(value: str | int) -> int:
    if isinstance(value, str):
        units = {"K": 2**10, "M": 2**20, "G": 2**30}
        if value[-1:] in units:
            return int(value[:-1]) * units[value[-1]]
    return int(value)


class Mem(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    mem: int = 4 * 2**30

    @pydantic.field_validator("mem", mode="before")
    @classmethod
    def _mem(cls, value: str | int) -> int:
        return _parse_mem(value)


class Task(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    n: int = 1
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> int:
        return self.n


class Mapped(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    scale: float = 2.0
    infra: exca.MapInfra = exca.MapInfra()

    @infra.apply(item_uid=str)
    def run(self, items: tp.Iterable[int]) -> tp.Iterator[float]:
        for item in items:
            yield item * self.scale


# # # # # the corpus # # # # #


def body(model_name: str, /, **fields: tp.Any) -> type[pydantic.BaseModel]:
    """A body model (fields: ``name=(annotation, default)``), forbidding extra keys."""
    config = fields.pop("__config__", pydantic.ConfigDict(extra="forbid"))
    validators = fields.pop("__validators__", None)
    return pydantic.create_model(  # type: ignore[call-overload,no-any-return]
        f"Body_{model_name}",
        __config__=config,
        __module__=__name__,
        __validators__=validators,
        **fields,
    )


@dataclasses.dataclass
class Shape:
    """``annotation``/``default``: the parent's ``body`` field; ``nested``: overrides and the
    body they give; ``group``: overrides selecting another option of a group and the
    expected (body, optim); ``bad``: an override and the dotted path its error names."""

    id: str
    annotation: tp.Any
    default: tp.Any
    nested: tuple[list[str], tp.Any]
    bad: tuple[str, str]
    group: tuple[list[str], tp.Any, tp.Any] | None = None
    plain: tp.Any = dataclasses.field(default=None)  # body without overrides, if required


def simple(
    id: str,
    annotation: tp.Any,
    default: tp.Any,
    changed: tp.Any,
    override: str,
    bad: str,
    bad_path: str = "",
) -> Shape:
    Model = body(id, x=(annotation, default))
    return Shape(
        id,
        Model,
        Model(),
        ([f"body.x={override}"], Model(x=changed)),
        (f"body.x={bad}" if "=" not in bad else bad, bad_path or "body.x"),
    )


NOW = datetime.datetime(2020, 1, 2, 3, 4, 5)
U1, U2 = uuid.UUID(int=1), uuid.UUID(int=2)

ReqBody = body("required", name=(str, ...), size=(int, 3))
SchedBody = body(
    "tagged_union",
    sched=(tp.Annotated[Step | Cosine, pydantic.Field(discriminator="kind")], Cosine(warmup=5)),
)
OptSchedBody = body(
    "optional_tagged_union",
    sched=(tp.Annotated[Step | Cosine, pydantic.Field(discriminator="kind")] | None, None),
)
HierBody = body("hierarchy", sched=(Sched, CosineSched(warmup=100)))
ReqHierBody = body("required_hierarchy", sched=(Sched, ...))
OptHierBody = body("optional_hierarchy", sched=(Sched | None, None))
ListHierBody = body("list_hierarchy", scheds=(list[Sched], [CosineSched(warmup=3), StepSched()]))
AliasBody = body("alias", learning_rate=(float, pydantic.Field(0.1, alias="lr")))
PopAliasBody = body(
    "alias_populate",
    learning_rate=(float, pydantic.Field(0.1, alias="lr")),
    __config__=pydantic.ConfigDict(extra="forbid", populate_by_name=True),
)
StrictBody = body(
    "strict",
    color=(Color, Color.RED),
    pair=(tuple[int, int], (1, 2)),
    path=(Path, Path("/data")),
    n=(int, 1),
    __config__=pydantic.ConfigDict(extra="forbid", strict=True),
)
StrictFieldBody = body(
    "strict_field", n=(int, pydantic.Field(1, strict=True)), prio=(Prio, Prio.LOW)
)
FrozenBody = body(
    "frozen",
    k=(int, 1),
    inner=(Inner, Inner()),
    __config__=pydantic.ConfigDict(frozen=True, extra="forbid"),
)


class Computed(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 2

    @pydantic.computed_field  # type: ignore[prop-decorator]
    @property
    def double(self) -> int:
        return 2 * self.x


class Private(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 2
    _cache: dict[str, int] = pydantic.PrivateAttr(default_factory=dict)


class Deep(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    inner: Inner = Inner(k=5)
    blocks: list[Block] = [Block(width=4)]
    named: dict[str, Block] = {"a": Block(width=6)}


AnnotatedMem = body(
    "annotated_before",
    mem=(tp.Annotated[int, pydantic.BeforeValidator(_parse_mem)], 2**20),
)
DictInt = body("dict_int_str", x=(dict[int, str], {1: "a"}))
PlainUnion = body("plain_union_models", x=(PlainA | PlainB, PlainA()))
OptBody = body("hierarchy_alias", opt=(Opt, AliasOpt()))
ImportBody = body("import_string", fn=(pydantic.ImportString[Callable[[float], float]], math.sqrt))


SHAPES: list[Shape] = [
    Shape(
        "hierarchy_alias",
        OptBody,
        OptBody(),
        (["body.opt.learning_rate=0.5"], OptBody(opt=AliasOpt(lr=0.5))),
        ("body.opt.learning_rate=abc", "body.opt.learning_rate"),
        (
            ["body/opt=OtherOpt", "body.opt.color=blue", "body.opt.pair=[3,4]"],
            OptBody(opt=OtherOpt(color=Color.BLUE, pair=(3, 4))),
            Sgd(),
        ),
    ),
    simple("int", int, 1, 2, "2", "abc"),
    simple("float", float, 0.5, 0.25, "0.25", "abc"),
    simple("float_int_default", float, 1, 2.5, "2.5", "abc"),
    simple("bool", bool, False, True, "true", "maybe"),
    simple("str", str, "a", "b", "b", "body.nope=1", "body.nope"),
    simple("bytes", bytes, b"ab", b"cd", "cd", "body.nope=1", "body.nope"),
    simple("literal_str", tp.Literal["a", "b"], "a", "b", "b", "c"),
    simple("literal_int", tp.Literal[1, 2, 3], 1, 2, "2", "5"),
    simple("literal_mixed", tp.Literal[1, "a"], 1, "a", "a", "b"),
    simple("enum", Color, Color.RED, Color.BLUE, "blue", "BLUE"),
    simple("optional_enum", Color | None, None, Color.BLUE, "blue", "pink"),
    simple("int_enum", Prio, Prio.LOW, Prio.HIGH, "2", "7"),
    simple("optional_int", int | None, None, 3, "3", "abc"),
    simple("optional_str_default", str | None, "a", None, "null", "body.nope=1", "body.nope"),
    simple("path", Path, Path("/data"), Path("/x"), "/x", "[1]"),
    simple("optional_path", Path | None, None, Path("/y"), "/y", "body.nope=1", "body.nope"),
    simple(
        "datetime",
        datetime.datetime,
        NOW,
        datetime.datetime(2021, 1, 1),
        "'2021-01-01T00:00:00'",
        "notadate",
    ),
    simple(
        "date", datetime.date, NOW.date(), datetime.date(2022, 2, 2), "'2022-02-02'", "notadate"
    ),
    simple(
        "timedelta",
        datetime.timedelta,
        datetime.timedelta(seconds=5),
        datetime.timedelta(seconds=7),
        "7",
        "abc",
    ),
    simple("uuid", uuid.UUID, U1, U2, f"'{U2}'", "notauuid"),
    simple(
        "decimal", decimal.Decimal, decimal.Decimal("1.5"), decimal.Decimal("2.25"), "'2.25'", "abc"
    ),
    simple("tuple_fixed", tuple[int, str], (1, "a"), (2, "b"), "[2,b]", "[x,b]", "body.x[0]"),
    simple("tuple_var", tuple[int, ...], (1, 2), (3,), "[3]", "[1,x]", "body.x[1]"),
    simple("list_int", list[int], [1, 2], [3, 4], "[3,4]", "[1,x]", "body.x[1]"),
    simple(
        "list_str_sequence",
        tp.Sequence[str],
        ["a"],
        ["b", "c"],
        "[b,c]",
        "body.nope=1",
        "body.nope",
    ),
    simple("set_str", set[str], {"a", "b"}, {"c"}, "[c]", "body.nope=1", "body.nope"),
    simple(
        "frozenset_int",
        frozenset[int],
        frozenset({1}),
        frozenset({2, 3}),
        "[2,3]",
        "[x]",
        "body.x[0]",
    ),
    simple("dict_str_int", dict[str, int], {"a": 1}, {"a": 5}, "{a:5}", "{a:x}", "body.x.a"),
    Shape(
        "dict_int_str",
        DictInt,
        DictInt(),
        (["body.x.1=cow", "+body.x.2=dog"], DictInt(x={1: "cow", 2: "dog"})),
        ("+body.x.one=cow", "body.x.one"),
    ),
    simple("union_primitives", int | str, 1, "abc", "abc", "[1]"),
    simple("union_int_list", int | list[int], 3, [1, 2], "[1,2]", "[x]", "body.x"),
    Shape(
        "plain_union_models",
        PlainUnion,
        PlainUnion(),
        (["body.x.a=5"], PlainUnion(x=PlainA(a=5))),
        ("body.x.a=abc", "body.x.a"),
        # no group for a union without discriminator: another member replaces the value
        (["body.x=null", "body.x={b:y}"], PlainUnion(x=PlainB(b="y")), Sgd()),
    ),
    simple("constrained_float", float, pydantic.Field(0.1, gt=0), 0.5, "0.5", "-1"),
    simple("constrained_str", str, pydantic.Field("ab", min_length=2), "xyz", "xyz", "a"),
    simple("annotated_constraint", tp.Annotated[int, pydantic.Field(ge=0)], 0, 4, "4", "-4"),
    simple(
        "default_factory",
        list[int],
        pydantic.Field(default_factory=lambda: [1]),
        [9],
        "[9]",
        "[x]",
        "body.x[0]",
    ),
    simple("any", tp.Any, None, {"a": 1}, "{a:1}", "body.nope=1", "body.nope"),
    simple(
        "secret_str",
        pydantic.SecretStr,
        pydantic.SecretStr("s3cret"),
        pydantic.SecretStr("other"),
        "other",
        "body.nope=1",
        "body.nope",
    ),
    simple("nested_model", Inner, Inner(k=2), Inner(k=3), "{k:3}", "{k:abc}", "body.x.k"),
    simple(
        "generic",
        Generic[int],
        Generic[int](value=1),
        Generic[int](value=2),
        "{value:2}",
        "{value:abc}",
        "body.x.value",
    ),
    simple(
        "recursive",
        Node,
        Node(value=1, children=[Node(value=2)]),
        Node(value=1, children=[Node(value=3)]),
        "{children:[{value:3}]}",
        "{children:[{value:abc}]}",
        "body.x.children[0].value",
    ),
    simple(
        "list_models",
        list[Block],
        [Block()],
        [Block(width=5)],
        "[{width:5}]",
        "[{width:1},{width:abc}]",
        "body.x[1].width",
    ),
    simple(
        "list_models_constraint",
        list[Block],
        [Block()],
        [Block(width=5), Block()],
        "[{width:5},{}]",
        "[{width:-1}]",
        "body.x[0].width",
    ),
    simple(
        "dict_models",
        dict[str, Block],
        {"a": Block()},
        {"a": Block(width=7)},
        "{a:{width:7}}",
        "{a:{width:abc}}",
        "body.x.a.width",
    ),
    simple(
        "import_string",
        pydantic.ImportString[Callable[[float], float]],
        math.sqrt,
        math.cos,
        "math.cos",
        "nowhere.fn",
    ),
    Shape(
        "deep_nested",
        Deep,
        Deep(),
        (
            ["body.inner.block.width=9", "body.blocks.0.width=2", "body.named.a.width=1"],
            Deep(
                inner=Inner(k=5, block=Block(width=9)),
                blocks=[Block(width=2)],
                named={"a": Block(width=1)},
            ),
        ),
        ("body.blocks.0.width=-2", "body.blocks[0].width"),
    ),
    Shape(
        "list_item_error_path",
        Deep,
        Deep(),
        (["body.blocks=[{width:1},{width:2}]"], Deep(blocks=[Block(width=1), Block(width=2)])),
        ("body.blocks=[{width:1},{width:abc}]", "body.blocks[1].width"),
    ),
    Shape(
        "required_sub_model",
        ReqBody,
        None,
        (["body.name=foo"], ReqBody(name="foo")),
        ("body.size=abc", "body.size"),
        plain="body.name",
    ),
    Shape(
        "tagged_union",
        SchedBody,
        SchedBody(),
        (["body.sched.warmup=7"], SchedBody(sched=Cosine(warmup=7))),
        ("body.sched.warmup=abc", "body.sched.warmup"),
        (["body/sched=step", "body.sched.every=3"], SchedBody(sched=Step(every=3)), Sgd()),
    ),
    Shape(
        "hierarchy",
        HierBody,
        HierBody(),
        (["body.sched.warmup=50"], HierBody(sched=CosineSched(warmup=50))),
        ("body.sched.warmup=abc", "body.sched.warmup"),
        (["body/sched=StepSched", "body.sched.every=3"], HierBody(sched=StepSched(every=3)), Sgd()),
    ),
    Shape(
        "required_hierarchy",
        ReqHierBody,
        None,
        (
            ["body/sched=CosineSched", "body.sched.floor=0.5"],
            ReqHierBody(sched=CosineSched(floor=0.5)),
        ),
        ("body/sched=Nope", "body/sched"),
        (["body/sched=ConstSched"], ReqHierBody(sched=ConstSched()), Sgd()),
        plain="body/sched",
    ),
    Shape(
        "optional_hierarchy",
        OptHierBody,
        OptHierBody(),
        (["+body/sched=StepSched", "body.sched.start=2"], OptHierBody(sched=StepSched(start=2))),
        ("+body/sched=StepSched body.sched.every=abc", "body.sched.every"),
        (["+body/sched=Sched"], OptHierBody(sched=Sched()), Sgd()),
    ),
    Shape(
        "list_hierarchy",
        ListHierBody,
        ListHierBody(),
        (["body.scheds=[{type:StepSched,every:2}]"], ListHierBody(scheds=[StepSched(every=2)])),
        ("body.scheds=[{type:StepSched,every:abc}]", "body.scheds[0].every"),
    ),
    Shape(
        "alias",
        AliasBody,
        AliasBody(),
        (["body.learning_rate=0.5"], AliasBody(lr=0.5)),
        ("body.lr=0.5", "body.lr"),
    ),
    Shape(
        "alias_populate_by_name",
        PopAliasBody,
        PopAliasBody(),
        (["body.learning_rate=0.5"], PopAliasBody(learning_rate=0.5)),
        ("body.learning_rate=abc", "body.learning_rate"),
    ),
    Shape(
        "before_validator",
        Mem,
        Mem(),
        (["body.mem=8G"], Mem(mem=8 * 2**30)),
        ("body.mem=lots", "body.mem"),
    ),
    Shape(
        "annotated_before_validator",
        AnnotatedMem,
        AnnotatedMem(),
        (["body.mem=2K"], AnnotatedMem(mem=2048)),
        ("body.mem=lots", "body.mem"),
    ),
    Shape(
        "strict_model",
        StrictBody,
        StrictBody(),
        (
            ["body.color=blue", "body.pair=[3,4]", "body.path=/x"],
            StrictBody(color=Color.BLUE, pair=(3, 4), path=Path("/x")),
        ),
        ("body.n=abc", "body.n"),
    ),
    Shape(
        "strict_field",
        StrictFieldBody,
        StrictFieldBody(),
        (["body.n=5", "body.prio=2"], StrictFieldBody(n=5, prio=Prio.HIGH)),
        ("body.n=abc", "body.n"),
    ),
    Shape(
        "frozen",
        FrozenBody,
        FrozenBody(),
        (["body.inner.k=4"], FrozenBody(inner=Inner(k=4))),
        ("body.inner.k=abc", "body.inner.k"),
    ),
    Shape(
        "computed_field",
        Computed,
        Computed(),
        (["body.x=5"], Computed(x=5)),
        ("body.double=3", "body.double"),
    ),
    Shape(
        "private_attribute",
        Private,
        Private(),
        (["body.x=5"], Private(x=5)),
        ("body.x=abc", "body.x"),
    ),
    Shape(
        "task_infra",
        Task,
        Task(),
        (
            ["body.n=3", "body.infra.folder=/tmp/x", "body.infra.version=2"],
            Task(n=3, infra={"folder": "/tmp/x", "version": "2"}),
        ),
        ("body.infra.cluster=slrum", "body.infra.cluster"),
    ),
    Shape(
        "map_infra",
        Mapped,
        Mapped(),
        (
            ["body.scale=3", "body.infra.keep_in_ram=true"],
            Mapped(scale=3, infra={"keep_in_ram": True}),
        ),
        ("body.infra.keep_in_ram=maybe", "body.infra.keep_in_ram"),
    ),
]


def parent(shape: Shape) -> type[pydantic.BaseModel]:
    default = ... if shape.default is None and shape.plain else shape.default
    if isinstance(default, pydantic.fields.FieldInfo):
        body_field: tp.Any = (shape.annotation, default)
    else:
        body_field = (shape.annotation, default)
    return pydantic.create_model(  # type: ignore[call-overload,no-any-return]
        f"Parent_{shape.id}",
        __config__=pydantic.ConfigDict(extra="forbid"),
        __module__=__name__,
        body=body_field,
        optim=(tp.Annotated[Sgd | Adam, pydantic.Field(discriminator="name")], Sgd()),
    )


def uid(model: pydantic.BaseModel) -> str:
    try:
        return ConfDict.from_model(model, uid=True, exclude_defaults=True).to_uid()
    except exca.export.ModelExportError as e:  # e.g. a union of models without discriminator
        return f"no uid: {e}"


def same(composed: pydantic.BaseModel, direct: pydantic.BaseModel) -> None:
    assert type(composed) is type(direct)
    assert composed == direct
    assert composed.model_dump(mode="json") == direct.model_dump(mode="json")
    assert uid(composed) == uid(direct)


def hydra_compose(name: str, overrides: list[str]) -> tp.Any:
    """Hydra's own compose API, then to_model."""
    GlobalHydra.instance().clear()
    with initialize(version_base=None):
        cfg = compose(name, overrides=overrides)
    return exca.hydra.to_model(cfg)


def exca_compose(name: str, overrides: list[str]) -> tp.Any:
    GlobalHydra.instance().clear()
    with initialize(version_base=None):
        return exca.hydra.compose(name, overrides, model=True)


def _simple_default(shape: Shape) -> tp.Any:
    return shape.default


def test_corpus_size() -> None:
    assert len(SHAPES) + len(REFUSED) >= 50
    assert len({s.id for s in SHAPES}) == len(SHAPES)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.id)
@pytest.mark.parametrize("composer", [hydra_compose, exca_compose], ids=["hydra", "exca"])
def test_shape(shape: Shape, composer: tp.Callable[[str, list[str]], tp.Any]) -> None:
    Parent = parent(shape)
    name = f"corpus_{shape.id}"
    exca.hydra.register(Parent, name=name)
    # 1. no overrides
    if shape.plain:
        with pytest.raises(Exception) as info:
            composer(name, [])
        assert shape.plain in _text(info.value)
        with pytest.raises(pydantic.ValidationError):
            Parent()
    else:
        same(composer(name, []), Parent())
    # 2. a nested override
    overrides, expected_body = shape.nested
    same(composer(name, overrides), Parent(body=expected_body))
    # 3. another option of a group
    if shape.group is not None:
        group_overrides, group_body, optim = shape.group
        same(composer(name, group_overrides), Parent(body=group_body, optim=optim))
    if not shape.plain:
        obj = composer(name, ["optim=adam", "optim.lr=0.5"])
        same(obj, Parent(body=_body_default(Parent), optim=Adam(lr=0.5)))
    # 4. a bad override: the error names the full dotted path
    bad, path = shape.bad
    extra = [o for o in shape.nested[0] if o.startswith("body/")][:1] if shape.plain else []
    with pytest.raises(Exception) as info:
        composer(name, [*extra, *bad.split(" ")])
    text = _text(info.value)
    if (composer is hydra_compose and "=[" in bad) or "=[" in bad.replace(":[", "=["):
        # a list value: OmegaConf checks its items before attaching them, so Hydra's own
        # compose names the key inside the item; exca.hydra.compose/main name the full path
        assert f"full_key: {path.rsplit('.', 1)[-1]}" in text or path in text, text
        if composer is exca_compose:
            assert path in text, text
    else:
        assert path in text, text


def _body_default(Parent: type[pydantic.BaseModel]) -> tp.Any:
    return Parent.model_fields["body"].get_default(call_default_factory=True)


def _text(error: BaseException) -> str:
    parts = []
    while error is not None:
        parts.append(str(error))
        error = error.__cause__ or error.__context__  # type: ignore[assignment]
    return "\n".join(parts)


# # # # # refused shapes: an error at register naming the field, the type, the alternative # # # # #


class Special(Inner):
    extra: int = 1


class WithCallable(pydantic.BaseModel):
    fn: Callable[[float], float] = math.sqrt


class WithRequiredCallable(pydantic.BaseModel):
    fn: Callable[[float], float]


class WithArray(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
    arr: np.ndarray = np.zeros(2)


class WithAnyCallable(pydantic.BaseModel):
    fn: tp.Any = math.sqrt


class WithSubclassDefault(pydantic.BaseModel):
    inner: Inner = Special()


class Abstract(DiscriminatedModel, abc.ABC):
    @abc.abstractmethod
    def go(self) -> None: ...


class WithForeignOption(pydantic.BaseModel):
    sched: tp.Annotated[Step | Cosine, pydantic.Field(discriminator="kind")] = Step()
    other: Sched = ConstSched()
    bad: Sched = pydantic.Field(default_factory=lambda: Special())  # type: ignore[arg-type,return-value]


class StrictTupleOpt(Opt):
    model_config = pydantic.ConfigDict(strict=True)
    pair: tuple[int, int] = (1, 2)


class WithStrictOption(pydantic.BaseModel):
    opt: Opt = StrictTupleOpt()


class WithTupleAny(pydantic.BaseModel):
    extra: tp.Any = (1, 2)


REFUSED = [
    pytest.param(WithStrictOption, "body.opt", "Opt", "strict=False", id="strict_option_tuple"),
    pytest.param(WithCallable, "body.fn", "Callable", "ImportString", id="callable_default"),
    pytest.param(
        WithRequiredCallable, "body.fn", "Callable", "ImportString", id="callable_required"
    ),
    pytest.param(WithArray, "body.arr", "ndarray", "plain-data form", id="arbitrary_type"),
    pytest.param(WithAnyCallable, "body.fn", "Any", "plain-data form", id="any_with_a_function"),
    pytest.param(
        WithSubclassDefault, "body.inner", "Inner", "a subclass of Inner", id="subclass_default"
    ),
    pytest.param(
        WithForeignOption, "body.bad", "Sched", "not an option", id="default_not_an_option"
    ),
]


@pytest.mark.parametrize("Body, path, type_text, alternative", REFUSED)
def test_refused_shapes(
    Body: type[pydantic.BaseModel], path: str, type_text: str, alternative: str
) -> None:
    Parent = pydantic.create_model(  # type: ignore[call-overload]
        f"Refused_{Body.__name__}", __module__=__name__, body=(Body, ...)
    )
    with pytest.raises(SchemaError) as info:
        exca.hydra.register(Parent, name=f"refused_{Body.__name__}")
    text = str(info.value)
    assert text.startswith(f"{Parent.__qualname__}.{path} ("), text
    assert type_text in info.value.annotation or type_text in text, text
    assert alternative in text, text
    with pytest.raises(SchemaError):
        exca.hydra.schema(Parent)  # the plain schema refuses the same


def test_secret_default_is_not_the_mask() -> None:
    Parent = parent(next(s for s in SHAPES if s.id == "secret_str"))
    exca.hydra.register(Parent, name="secret")
    obj = exca_compose("secret", [])
    assert obj.body.x.get_secret_value() == "s3cret"  # type: ignore[attr-defined]
    report = exca.hydra.schema_report(Parent, groups=True)
    assert any(r.path == "body.x" and "in clear" in r.reason for r in report)


def test_alias_error_names_the_field() -> None:
    Parent = parent(next(s for s in SHAPES if s.id == "alias"))
    exca.hydra.register(Parent, name="alias")
    with pytest.raises(Exception, match=r"'lr' is the alias of the field 'body\.learning_rate'"):
        exca_compose("alias", ["body.lr=0.5"])
    # a mapping keyed by the alias or by the name: both accepted by to_model
    by_alias = exca.hydra.to_model({"body": {"lr": 0.3}}, Parent)
    by_name = exca.hydra.to_model({"body": {"learning_rate": 0.3}}, Parent)
    assert by_alias == by_name == Parent(body=AliasBody(lr=0.3))


def test_hierarchy_groups_and_report() -> None:
    Parent = parent(next(s for s in SHAPES if s.id == "hierarchy"))
    reg = exca.hydra.register(Parent, name="hier")
    assert reg.groups["body/sched"] == ["Sched", "ConstSched", "StepSched", "CosineSched"]
    cfg = _cfg("hier", [])
    assert dict(cfg.body.sched) == {
        "start": 1.0,
        "warmup": 100,
        "floor": 0.0,
        "type": "CosineSched",
    }
    # each option has its own fields only
    with pytest.raises(Exception, match="every"):
        _cfg("hier", ["body.sched.every=3"])
    paths = {r.path for r in exca.hydra.schema_report(Parent, groups=True)}
    assert "optim" not in paths  # a config group, fully typed
    # every item says which model declares the field
    Strict = parent(next(s for s in SHAPES if s.id == "strict_model"))
    models = {r.path: r.model for r in exca.hydra.schema_report(Strict, groups=True)}
    assert models["body"] == "Body_strict" and "JSON" in str(exca.hydra.schema_report(Strict))


def _cfg(name: str, overrides: list[str]) -> tp.Any:
    GlobalHydra.instance().clear()
    with initialize(version_base=None):
        return compose(name, overrides=overrides)


def test_register_group_alone() -> None:
    created = exca.hydra.register_group(Sched, group="steps/warm", default=StepSched(every=4))
    assert created == {"steps/warm": ["Sched", "ConstSched", "StepSched", "CosineSched"]}
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(
        name="pipe", node={"defaults": ["_self_", {"steps/warm@warm": "StepSched"}]}
    )
    cfg = _cfg("pipe", [])
    assert Sched.model_validate(exca.hydra.omegaconf_to_dict(cfg.warm)) == StepSched(every=4)
    cfg = _cfg("pipe", ["steps/warm@warm=CosineSched", "warm.warmup=9"])
    assert Sched.model_validate(exca.hydra.omegaconf_to_dict(cfg.warm)) == CosineSched(warmup=9)
    with pytest.raises(TypeError, match="DiscriminatedModel class or a union"):
        exca.hydra.register_group(Block, group="x")


def test_loosened_items_per_model() -> None:
    Parent = parent(next(s for s in SHAPES if s.id == "before_validator"))
    report = exca.hydra.schema_report(Parent, groups=True)
    (item,) = [r for r in report if r.path == "body.mem"]
    assert item.model == "Mem" and "before validator _mem takes str | int" in item.reason
    assert re.search(r"Union\[int, str\]|int \| str", item.schema_type)


# # # # # a DiscriminatedModel hierarchy swept as a config group with the exca launcher # # # # #


class Warmup(DiscriminatedModel, abc.ABC):
    start: float = 1.0

    @abc.abstractmethod
    def rate(self, step: int) -> float: ...


class Constant(Warmup):
    level: float = 0.5

    def rate(self, step: int) -> float:
        return self.level


class Linear(Warmup):
    steps: int = 10

    def rate(self, step: int) -> float:
        return self.start * min(1.0, step / self.steps)


class Exponential(Warmup):
    gamma: float = 0.9
    floor: float = 0.01

    def rate(self, step: int) -> float:
        return max(self.floor, self.start * self.gamma**step)


class Fit(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    step: int = 3
    warmup: Warmup = Linear(steps=4)


def test_hierarchy_swept_as_a_group_with_the_exca_launcher(
    tmp_path: Path, hydra_restore_singletons: None
) -> None:
    from tests.test_hydra_launcher import Sweeper

    reg = exca.hydra.register(Fit, name="fit_warmup")
    assert reg.groups == {"warmup": ["Constant", "Linear", "Exponential"]}
    runs: list[tp.Any] = []

    def task(cfg: tp.Any) -> float:
        fit = exca.hydra.to_model(cfg)
        runs.append(fit)
        return fit.warmup.rate(fit.step)

    sweep = Sweeper(tmp_path)
    options = ["warmup=Constant,Linear,Exponential"]  # Sweeper runs a multirun (-m)
    first = sweep(task, options, config_name="fit_warmup")
    # each option with its own fields and defaults (the default option holds Linear(steps=4))
    assert runs == [Fit(warmup=Constant()), Fit(warmup=Linear(steps=4)), Fit(warmup=Exponential())]
    assert [r.return_value for r in first] == [0.5, 0.75, pytest.approx(0.729)]
    # cached per option: the same sweep computes nothing, and returns the same values
    second = sweep(task, options, config_name="fit_warmup")
    assert len(runs) == 3
    assert [r.return_value for r in second] == [r.return_value for r in first]
    folders = sorted(p.name for p in (sweep.cache / f"{__name__}.Fit,0").iterdir() if p.is_dir())
    assert len(folders) == 3
    assert (
        sum("Exponential" in f for f in folders) == 1 and sum("Constant" in f for f in folders) == 1
    )
    # an option's own field: only the new jobs run
    sweep(task, ["warmup=Exponential", "warmup.gamma=0.9,0.5"], config_name="fit_warmup")
    assert runs[3:] == [Fit(warmup=Exponential(gamma=0.5))]


def test_subclass_defined_after_register_is_an_option() -> None:
    class Base(DiscriminatedModel):
        rate: float = 1.0

    class First(Base):
        a: int = 1

    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(extra="forbid")
        part: Base = First()

    reg = exca.hydra.register(Holder, name="late_holder")
    assert reg.groups == {"part": ["Base", "First"]}

    class Later(Base):  # e.g. defined in a plugin module imported after register
        b: str = "x"

    obj = exca_compose("late_holder", ["part=Later", "part.b=y"])
    assert obj == Holder(part=Later(b="y"))
    assert exca.hydra.register(Holder, name="late_again").groups == {
        "part": ["Base", "First", "Later"]
    }


def test_override_below_a_missing_node_gives_hydras_error() -> None:
    class Required(pydantic.BaseModel):
        table: dict[str, int]

    exca.hydra.register(Required, name="required_table")
    for composer in (hydra_compose, exca_compose):
        with pytest.raises(Exception) as info:
            composer("required_table", ["table.a=1"])
        assert "Missing mandatory value: table" in _text(info.value)
    # Hydra merges a dict into the typed node: ++ gives a required dict at once
    assert exca_compose("required_table", ["++table={a:1}"]) == Required(table={"a": 1})


def test_hierarchy_swept_from_the_command_line(tmp_path: Path) -> None:
    """``python app.py -m hydra/launcher=exca_inline warmup=...``, twice: the second
    sweep computes nothing (counted by the task itself)."""
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    runs = tmp_path / "runs.jsonl"
    env = dict(os.environ, WARMUP_RUNS=str(runs), PYTHONPATH=str(root))
    env.pop("HYDRA_FULL_ERROR", None)

    def sweep(*overrides: str) -> list[dict[str, tp.Any]]:
        cmd = [
            sys.executable,
            str(root / "tests" / "hydra_apps" / "warmup_app.py"),
            "-m",
            "hydra/launcher=exca_inline",
            f"hydra.launcher.cache_folder={tmp_path / 'cache'}",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "hydra/job_logging=none",
            "hydra/hydra_logging=none",
            *overrides,
        ]
        proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        if not runs.exists():
            return []
        return [json.loads(line) for line in runs.read_text().splitlines()]

    done = sweep("warmup=Constant,Linear,Exponential")
    assert sorted(d["warmup"]["type"] for d in done) == ["Constant", "Exponential", "Linear"]
    linear = next(d["warmup"] for d in done if d["warmup"]["type"] == "Linear")
    assert linear == {"type": "Linear", "start": 1.0, "steps": 4}  # the field's default
    assert len(sweep("warmup=Constant,Linear,Exponential")) == 3  # all cached
    done = sweep("warmup=Linear,Exponential", "warmup.start=1.0,2.0")
    assert len(done) == 5  # only the two start=2.0 jobs ran
    assert {d["warmup"]["start"] for d in done[3:]} == {2.0}
