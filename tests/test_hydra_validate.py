import json
import os
import subprocess
import sys
import textwrap
import typing as tp
from pathlib import Path

import pydantic
import pytest
from hydra import compose, initialize
from omegaconf import OmegaConf

import exca.hydra
from exca import ConfDict
from exca.hydra import ConfigError, register, to_model

ROOT = Path(__file__).resolve().parents[1]


class Sgd(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["sgd"] = "sgd"
    lr: float = pydantic.Field(0.01, gt=0)
    momentum: float = 0.0


class Adam(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["adam"] = "adam"
    lr: float = pydantic.Field(0.001, gt=0)


class Data(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    path: Path = Path("/data")
    batch_size: int = 32


class Train(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    seed: int = 0
    layers: list[int] = [64, 128]
    data: Data = Data()
    optim: Sgd | Adam = pydantic.Field(Sgd(), discriminator="name")


pytestmark = pytest.mark.usefixtures("clean_hydra")


def _compose(overrides: tp.Sequence[str]) -> tp.Any:
    register(Train, name="train")
    with initialize(version_base=None):
        return compose("train", overrides=list(overrides))


def test_to_model_uses_target() -> None:
    cfg = _compose(["seed=3", "optim=adam", "optim.lr=0.1", "data.batch_size=8"])
    assert cfg._target_ == f"{__name__}.Train"
    obj = to_model(cfg)
    assert obj == Train(seed=3, optim=Adam(lr=0.1), data=Data(batch_size=8))
    assert to_model(cfg, Train) == obj


def test_to_model_from_mappings() -> None:
    obj = to_model({"seed": 2, "optim.name": "adam", "data.path": "/x"}, Train)
    assert obj == Train(seed=2, optim=Adam(), data=Data(path=Path("/x")))
    assert to_model(ConfDict({"optim": {"name": "sgd", "lr": 0.5}}), Train).optim == Sgd(lr=0.5)
    plain = OmegaConf.create(
        {"seed": 4, "layers": "${oc.create:[1,2]}", "data": {"batch_size": "${seed}"}}
    )
    assert to_model(plain, Train) == Train(seed=4, layers=[1, 2], data=Data(batch_size=4))


def test_all_errors_in_one_message_with_path_value_and_type() -> None:
    cfg = {
        "seed": "abc",
        "layers": [1, "x"],
        "optim": {"name": "adam", "lr": -1},
        "data": {"bach_size": 3},
    }
    with pytest.raises(ConfigError) as info:
        to_model(cfg, Train)
    err = info.value
    assert len(err.problems) == 4
    msg = str(err)
    assert msg.startswith(f"invalid config for {__name__}.Train (4 error(s)):")
    assert "seed = 'abc': Input should be a valid integer" in msg
    assert "(expected int)" in msg
    assert "layers[1] = 'x': Input should be a valid integer" in msg
    # the union tag ("adam") is not part of the key
    assert "optim.lr = -1: Input should be greater than 0 (expected float with Gt(gt=0))" in msg
    assert "data.bach_size = 3: unknown key; did you mean 'data.batch_size'?" in msg


def test_constraint_violation_from_composition_names_the_key() -> None:
    cfg = _compose(["optim.lr=-1"])  # composes: OmegaConf only checks the type
    with pytest.raises(ConfigError, match=r"optim\.lr = -1\.0: Input should be greater than 0"):
        to_model(cfg)


def test_missing_values_are_reported_with_the_other_errors() -> None:
    cfg = OmegaConf.create(
        {"seed": "???", "data": {"batch_size": "???"}, "optim": {"name": "sgd", "lr": 0}}
    )
    with pytest.raises(ConfigError) as info:
        to_model(cfg, Train)
    msg = str(info.value)
    assert "seed: mandatory value is missing (???)" in msg
    assert "data.batch_size: mandatory value is missing (???)" in msg
    assert "optim.lr = 0: Input should be greater than 0" in msg


def test_model_resolution_errors() -> None:
    with pytest.raises(ConfigError, match="no _target_"):
        to_model({"seed": 1})
    with pytest.raises(
        ConfigError, match=r"cannot import the model named by _target_='nope\.Nope'"
    ):
        to_model({"_target_": "nope.Nope"})
    with pytest.raises(ConfigError, match="is not a pydantic model class"):
        to_model({"_target_": "pathlib.Path"})
    with pytest.raises(TypeError, match="DictConfig or a mapping"):
        to_model([1, 2], Train)


def test_compose_helper_validates() -> None:
    register(Train, name="train")
    with initialize(version_base=None):
        assert exca.hydra.compose("train", ["seed=5"], model=Train) == Train(seed=5)
        assert exca.hydra.compose("train", ["seed=5"], model=True) == Train(seed=5)
        assert exca.hydra.compose("train", ["seed=5"]).seed == 5


def test_main_passes_the_validated_model() -> None:
    seen = []

    @exca.hydra.main(config_name="train")
    def app(train: Train) -> int:
        seen.append(train)
        return train.seed

    cfg = _compose(["seed=9", "optim=adam"])
    assert app(cfg) == 9  # hydra.main's cfg_passthrough
    assert seen == [Train(seed=9, optim=Adam())]
    assert app.__name__ == "app"


APP = """
import typing as tp
import pydantic
import exca.hydra

class Sgd(pydantic.BaseModel):
    name: tp.Literal["sgd"] = "sgd"
    lr: float = pydantic.Field(0.01, gt=0)

class Adam(pydantic.BaseModel):
    name: tp.Literal["adam"] = "adam"
    lr: float = pydantic.Field(0.001, gt=0)

class Train(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    seed: int = 0
    optim: Sgd | Adam = pydantic.Field(Sgd(), discriminator="name")

exca.hydra.register(Train, name="train")

@exca.hydra.main(config_name="train")
def app(train: Train) -> None:
    print("MODEL", train.model_dump_json())

if __name__ == "__main__":
    app()
"""


def _run_app(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(APP))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("HYDRA_FULL_ERROR", None)
    cmd = [sys.executable, str(script), *args, "hydra/job_logging=none", "hydra/hydra_logging=none"]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True)


def _models(stdout: str) -> list[dict[str, tp.Any]]:
    return [json.loads(line[6:]) for line in stdout.splitlines() if line.startswith("MODEL ")]


def test_main_app_end_to_end(tmp_path: Path) -> None:
    proc = _run_app(tmp_path, "seed=3", "optim=adam", "optim.lr=0.1")
    assert proc.returncode == 0, proc.stderr
    assert _models(proc.stdout) == [{"seed": 3, "optim": {"name": "adam", "lr": 0.1}}]
    # multirun: Hydra's sweeps, one validated model per job
    proc = _run_app(tmp_path, "-m", "seed=1,2")
    assert proc.returncode == 0, proc.stderr
    assert sorted(m["seed"] for m in _models(proc.stdout)) == [1, 2]


def test_main_app_errors(tmp_path: Path) -> None:
    proc = _run_app(tmp_path, "optim.lrr=0.1")  # misspelled key: at composition
    assert proc.returncode == 1
    assert "did you mean 'optim.lr'?" in proc.stderr
    proc = _run_app(tmp_path, "seed=abc")  # type error: at composition
    assert proc.returncode == 1
    assert "seed" in proc.stderr and "could not be converted to Integer" in proc.stderr
    proc = _run_app(tmp_path, "optim.lr=-1")  # constraint: at validation
    assert proc.returncode == 1
    assert "optim.lr = -1.0: Input should be greater than 0" in proc.stderr
    assert not _models(proc.stdout)
