import dataclasses
import datetime
import typing as tp
from pathlib import Path

import pydantic
import pytest
from hydra import compose, initialize
from hydra.core.config_store import ConfigStore
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from omegaconf import MISSING, OmegaConf
from omegaconf.errors import ValidationError as OmegaValidationError

import exca.hydra
from exca.hydra import register, schema, schema_report, to_model

# # # # # models used throughout the tests # # # # #


class WorkDirLike(pydantic.BaseModel):
    copied: list[str] = []
    includes: tp.Sequence[str] = ()


class InfraLike(pydantic.BaseModel):
    """Stand-in with the kinds of fields of exca's infras."""

    model_config = pydantic.ConfigDict(extra="forbid")
    folder: Path | str | None = None
    cluster: tp.Literal[None, "auto", "local", "slurm", "debug"] = None
    logs: Path | str = "{folder}/logs/{user}/%j"
    mode: tp.Literal["cached", "retry", "force", "read-only"] = "cached"
    version: str = "0"
    timeout_min: int | None = None
    mem_gb: float | None = None
    slurm_partition: str | None = None
    slurm_additional_parameters: dict[str, int | str | float | bool] | None = None
    slurm_setup: list[str] | None = None
    workdir: None | WorkDirLike = None  # noqa: RUF036  (as in the infras)
    keep_in_ram: bool = False


class Sgd(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["sgd"] = "sgd"
    lr: float = pydantic.Field(0.01, gt=0)
    momentum: float = 0.0


class Adam(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["adam"] = "adam"
    lr: float = pydantic.Field(0.001, gt=0)
    betas: tuple[float, float] = (0.9, 0.999)


Optim = tp.Annotated[Sgd | Adam, pydantic.Field(discriminator="name")]


class Net(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    depth: int = 2
    activation: tp.Literal["relu", "gelu"] = "relu"
    optim: Optim = Adam(lr=0.002)


class Train(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    seed: int
    lr: float = pydantic.Field(0.1, gt=0)
    layers: list[int] = pydantic.Field(default_factory=lambda: [64, 128])
    optim: Optim = Sgd(lr=0.5)
    net: Net = Net()
    infra: InfraLike = InfraLike(version="1")


class Odd(pydantic.BaseModel):
    """Fields OmegaConf cannot express."""

    when: datetime.date = datetime.date(2020, 1, 1)
    mixed: int | list[int] = 3
    pair: tuple[int, str] = (1, "a")
    uniq: set[str] = set()
    level: tp.Literal[1, 2, 3] = 1
    ratio: tp.Annotated[float, pydantic.Field(ge=0, le=1)] = 0.5
    anything: tp.Any = None

    @pydantic.field_validator("level")
    @classmethod
    def _check(cls, v: int) -> int:
        return v


ALL_MODELS = [WorkDirLike, InfraLike, Sgd, Adam, Net, Train, Odd]


pytestmark = pytest.mark.usefixtures("clean_hydra")


def _compose(name: str, overrides: tp.Sequence[str] = ()) -> tp.Any:
    with initialize(version_base=None):
        return compose(name, overrides=list(overrides))


# # # # # schema() # # # # #


def test_schema_mirrors_fields() -> None:
    S = schema(Train)
    assert dataclasses.is_dataclass(S)
    fields = {f.name: f for f in dataclasses.fields(S)}
    assert list(fields) == list(Train.model_fields)
    assert fields["seed"].type is int and fields["seed"].default == MISSING
    assert fields["lr"].type is float and fields["lr"].default == 0.1
    assert fields["net"].type is schema(Net)  # nested model -> nested dataclass
    assert fields["infra"].type is schema(InfraLike)
    cfg = OmegaConf.structured(S)
    assert OmegaConf.is_missing(cfg, "seed")
    assert cfg.layers == [64, 128]
    assert cfg.infra.version == "1"  # default instance values kept
    assert cfg.infra.logs == "{folder}/logs/{user}/%j"
    assert cfg.net.depth == 2


def test_default_factories_are_kept() -> None:
    calls = []

    class WithFactory(pydantic.BaseModel):
        numbers: list[int] = pydantic.Field(default_factory=lambda: calls.append(1) or [1])

    S = schema(WithFactory)
    n = len(calls)
    a, b = OmegaConf.structured(S), OmegaConf.structured(S)
    assert len(calls) == n + 2  # called for each config, not shared
    a.numbers.append(2)
    assert b.numbers == [1]


def test_schema_types_check_at_composition() -> None:
    cfg = OmegaConf.structured(schema(Train))
    with pytest.raises(OmegaValidationError, match="could not be converted to Float"):
        cfg.lr = "abc"
    with pytest.raises(OmegaValidationError, match="Invalid value 'slrum'"):
        cfg.infra.cluster = "slrum"
    cfg.infra.cluster = "slurm"
    cfg.infra.mode = "read-only"
    cfg.infra.folder = "/x"
    cfg.infra.slurm_additional_parameters = {"a": 1, "b": "x", "c": 0.5, "d": True}
    cfg.infra.slurm_setup = ["module load x"]
    OmegaConf.update(cfg, "infra.workdir", {"copied": ["a"]}, merge=True)  # as Hydra does
    cfg.seed = 3
    obj = to_model(cfg, Train)
    assert obj.infra.cluster == "slurm" and type(obj.infra.cluster) is str
    assert obj.infra.mode == "read-only"
    assert obj.infra.workdir == WorkDirLike(copied=["a"])
    assert obj.infra.slurm_additional_parameters == {"a": 1, "b": "x", "c": 0.5, "d": True}


def test_schema_report_lists_what_cannot_be_expressed() -> None:
    report = {(r.path, r.schema_type): r.reason for r in schema_report(Odd)}
    assert "not supported by OmegaConf" in report[("when", "Any")]
    assert "primitive types" in report[("mixed", "Any")]
    assert "fixed-length tuple" in report[("pair", "List[Any]")]
    assert "uniqueness" in report[("uniq", "List")]
    assert "allowed values" in report[("level", "int")]
    reasons = [r.reason for r in schema_report(Odd) if r.path == "ratio"]
    assert any("Ge(ge=0)" in r for r in reasons) and any("Le(le=1)" in r for r in reasons)
    assert any("validators _check" in r.reason for r in schema_report(Odd) if r.path == "")
    # nested reports carry the full path; string literals are fully expressed (enums)
    paths = {r.path for r in schema_report(Train)}
    assert "lr" in paths and "optim" in paths
    # the only infra field that is not checked at composition: OmegaConf cannot merge
    # into a None structured node, so an optional sub-model defaulting to None is untyped
    assert {p for p in paths if p.startswith("infra.")} == {"infra.workdir"}
    grouped = {r.path for r in schema_report(Train, groups=True)}
    assert {"optim[sgd].lr", "optim[adam].betas", "net.optim[adam].lr"} <= grouped
    assert all(str(r).startswith(r.path or "<model>") for r in schema_report(Odd))


def test_loosened_fields_still_compose_and_validate() -> None:
    cfg = OmegaConf.structured(schema(Odd))
    assert cfg.when == "2020-01-01"
    cfg.mixed = [1, 2]
    cfg.pair = [2, "b"]
    obj = to_model(cfg, Odd)
    assert obj.mixed == [1, 2] and obj.pair == (2, "b") and obj.when == datetime.date(2020, 1, 1)


@pytest.mark.parametrize("Model", ALL_MODELS, ids=lambda m: m.__name__)
def test_every_schema_stores_and_composes(Model: type[pydantic.BaseModel]) -> None:
    ConfigStore.instance().store(name=f"plain_{Model.__name__}", node=schema(Model))
    reg = register(Model, name=f"reg_{Model.__name__}")
    plain = _compose(f"plain_{Model.__name__}")
    GlobalHydra.instance().clear()
    composed = _compose(f"reg_{Model.__name__}")
    assert composed._target_ == f"{__name__}.{Model.__qualname__}" == reg.target
    if Model is not Train:  # Train has a required seed
        expected = Model().model_dump(mode="json")  # (tuples come back as lists)
        assert to_model(composed).model_dump(mode="json") == expected
        assert to_model(plain, Model).model_dump(mode="json") == expected


# # # # # register(): ConfigStore and config groups # # # # #


def test_register_creates_config_groups() -> None:
    reg = register(Train, name="train")
    assert reg.name == "train" and reg.group is None
    assert reg.groups == {"optim": ["sgd", "adam"], "net/optim": ["sgd", "adam"]}
    cfg = _compose("train", ["seed=1"])
    assert "defaults" not in cfg
    # defaults: the option selected holds the default instance's values
    assert to_model(cfg) == Train(seed=1)
    assert cfg.optim == {"name": "sgd", "lr": 0.5, "momentum": 0.0}
    assert cfg.net.optim.lr == 0.002
    GlobalHydra.instance().clear()
    cfg = _compose("train", ["seed=1", "infra.workdir={copied:[a]}", "infra.cluster=slurm"])
    assert to_model(cfg).infra.workdir == WorkDirLike(copied=["a"])
    GlobalHydra.instance().clear()
    cfg = _compose("train", ["seed=1", "optim=adam", "optim.lr=0.1", "net/optim=sgd"])
    obj = to_model(cfg)
    assert obj.optim == Adam(lr=0.1)
    assert obj.net.optim == Sgd()


def test_group_option_fields_are_typed() -> None:
    register(Train, name="train")
    with pytest.raises(ConfigCompositionException) as info:
        _compose("train", ["seed=1", "optim=adam", "optim.momentum=0.9"])
    assert "optim.momentum" in str(info.value)  # sgd-only field, not in adam
    GlobalHydra.instance().clear()
    with pytest.raises(ConfigCompositionException) as info:
        _compose("train", ["seed=1", "optim.lr=abc"])
    assert "optim.lr" in str(info.value.__cause__)
    assert "could not be converted to Float" in str(info.value.__cause__)


def test_required_and_optional_unions() -> None:
    class Required(pydantic.BaseModel):
        optim: Optim

    class Optional(pydantic.BaseModel):
        optim: Optim | None = None

    register(Required, name="required")
    register(Optional, name="optional")
    with pytest.raises(ConfigCompositionException, match="optim"):
        _compose("required")  # Hydra asks for a choice
    GlobalHydra.instance().clear()
    assert to_model(_compose("required", ["optim=adam"])) == Required(optim=Adam())
    GlobalHydra.instance().clear()
    assert to_model(_compose("optional")) == Optional()
    GlobalHydra.instance().clear()
    assert to_model(_compose("optional", ["+optim=sgd"])) == Optional(optim=Sgd())


def test_group_options_with_nested_groups() -> None:
    class Step(pydantic.BaseModel):
        kind: tp.Literal["step"] = "step"
        every: int = 10

    class Cosine(pydantic.BaseModel):
        kind: tp.Literal["cosine"] = "cosine"
        warmup: int = 0

    class Scheduled(pydantic.BaseModel):
        name: tp.Literal["scheduled"] = "scheduled"
        schedule: Step | Cosine = pydantic.Field(Cosine(warmup=5), discriminator="kind")

    class App(pydantic.BaseModel):
        optim: Sgd | Scheduled = pydantic.Field(Sgd(), discriminator="name")

    reg = register(App, name="app")
    assert reg.groups == {"optim": ["sgd", "scheduled"], "optim/schedule": ["step", "cosine"]}
    obj = to_model(_compose("app", ["optim=scheduled"]))
    assert obj.optim == Scheduled()
    GlobalHydra.instance().clear()
    obj = to_model(
        _compose("app", ["optim=scheduled", "optim/schedule=step", "optim.schedule.every=3"])
    )
    assert obj.optim == Scheduled(schedule=Step(every=3))


def test_register_in_a_group() -> None:
    reg = register(Net, name="big", group="net")
    assert reg.groups == {"net/optim": ["sgd", "adam"]}

    class Holder(pydantic.BaseModel):
        net: Net
        depth: int = 0

    ConfigStore.instance().store(
        name="holder", node={"defaults": ["_self_", {"net": "big"}], "depth": 0}
    )
    cfg = _compose("holder", ["net.depth=5", "net/optim=sgd"])
    assert to_model(cfg, Holder) == Holder(net=Net(depth=5, optim=Sgd()))


def test_misspelled_key_suggestions_in_compose() -> None:
    register(Train, name="train")
    with initialize(version_base=None):
        with pytest.raises(ConfigCompositionException, match=r"did you mean 'infra\.folder'\?"):
            exca.hydra.compose("train", ["seed=1", "infra.foldr=/x"])
        with pytest.raises(ConfigCompositionException, match=r"did you mean 'seed'\?"):
            exca.hydra.compose("train", ["sede=1"])
        obj = exca.hydra.compose("train", ["seed=1", "infra.folder=/x"], model=True)
    assert obj == Train(seed=1, infra=InfraLike(version="1", folder="/x"))


def test_schema_rejects_non_models() -> None:
    with pytest.raises(TypeError, match="pydantic model class"):
        schema(int)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pydantic model class"):
        register(Sgd())  # type: ignore[arg-type]


# # # # # exca's own infras # # # # #


PIPELINE_CALLS: list[int] = []


class Pipeline(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    param: int = 12
    optim: Optim = Sgd()
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def process(self) -> float:
        PIPELINE_CALLS.append(self.param)
        return self.param * self.optim.lr


class Mapper(pydantic.BaseModel):
    scale: float = 2.0
    infra: exca.MapInfra = exca.MapInfra()

    @infra.apply(item_uid=str)
    def process(self, items: tp.Iterable[int]) -> tp.Iterator[float]:
        for item in items:
            yield item * self.scale


@pytest.mark.parametrize("Infra", [exca.TaskInfra, exca.MapInfra], ids=lambda c: c.__name__)
def test_infra_schemas_store_and_compose(Infra: type[pydantic.BaseModel]) -> None:
    ConfigStore.instance().store(name="infra_schema", node=schema(Infra))
    register(Infra, name="infra_registered")
    cfg = _compose("infra_schema", ["folder=/x", "cluster=slurm", "slurm_partition=gpu"])
    assert to_model(cfg, Infra) == Infra(folder="/x", cluster="slurm", slurm_partition="gpu")
    GlobalHydra.instance().clear()
    cfg = _compose("infra_registered", ["timeout_min=10", "mode=read-only", "workdir={copied:[a]}"])
    obj = to_model(cfg)
    assert isinstance(obj, Infra)
    assert (obj.timeout_min, obj.mode, obj.workdir.copied) == (10, "read-only", ["a"])  # type: ignore[attr-defined]
    # fields checked by Hydra at composition
    report = {r.path for r in schema_report(Infra)}
    assert {"folder", "cluster", "mode", "timeout_min", "slurm_setup"}.isdisjoint(report)
    for bad in ["cluster=slrum", "timeout_min=abc", "keep_in_ram=maybe", "foldr=/x"]:
        GlobalHydra.instance().clear()
        with pytest.raises(ConfigCompositionException):
            _compose("infra_registered", [bad])


@pytest.mark.parametrize("Model", [Pipeline, Mapper], ids=lambda c: c.__name__)
def test_models_with_infras_compose(Model: type[pydantic.BaseModel]) -> None:
    reg = register(Model)
    assert reg.name == Model.__name__.lower()
    cfg = _compose(reg.name, ["infra.folder=/cache", "infra.cluster=slurm", "infra.version=2"])
    obj = to_model(cfg)
    assert obj.infra.folder == "/cache" and obj.infra.cluster == "slurm"  # type: ignore[attr-defined]
    assert obj.infra.version == "2"  # type: ignore[attr-defined]


def test_model_from_hydra_shares_the_cache_of_the_same_model(tmp_path: Path) -> None:
    register(Pipeline, name="pipeline")
    overrides = [f"infra.folder={tmp_path}", "param=3", "optim=adam", "optim.lr=0.5"]
    from_hydra = to_model(_compose("pipeline", overrides))
    direct = Pipeline(param=3, optim=Adam(lr=0.5), infra={"folder": tmp_path})  # type: ignore[arg-type]
    assert from_hydra.infra.uid_folder() == direct.infra.uid_folder()
    PIPELINE_CALLS.clear()
    assert from_hydra.process() == 1.5
    assert direct.process() == 1.5  # read from the cache written by the Hydra-built model
    assert PIPELINE_CALLS == [3]
