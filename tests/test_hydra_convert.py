import enum
import json
import sys
import typing as tp
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hypothesis import given, settings
from hypothesis import strategies as st
from omegaconf import DictConfig, OmegaConf

from exca import ConfDict
from exca.hydra import (
    ConfigError,
    apply_overrides,
    from_omegaconf,
    to_hydra_yaml,
    to_omegaconf,
)

VECTORS = json.loads((Path(__file__).parent / "data" / "uid-vectors.json").read_text())


pytestmark = pytest.mark.usefixtures("clean_hydra")


def test_import_exca_does_not_import_the_bridge() -> None:
    import subprocess

    code = "import sys, exca; print(sorted(m for m in ('omegaconf', 'hydra', 'exca.hydra') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("case", VECTORS, ids=[v["uid_v2"] or "empty" for v in VECTORS])
def test_uid_vectors_through_the_bridge(case: dict[str, tp.Any]) -> None:
    cd = ConfDict(case["input"])
    dc = to_omegaconf(cd)
    assert isinstance(dc, DictConfig)
    for back in (from_omegaconf(dc), ConfDict(dc), ConfDict.from_omegaconf(cd.to_omegaconf())):
        assert isinstance(back, ConfDict)
        assert back == cd
        assert back.flat() == case["flat"]
        assert back.to_uid() == case["uid_v2"]
        assert back.to_uid(version=3) == case["uid_v3"]
    # through the Hydra-loadable yaml, as a config file would be read
    loaded = OmegaConf.create(to_hydra_yaml(cd))
    assert ConfDict(loaded).to_uid() == case["uid_v2"]


def test_dotted_keys_are_nested_for_omegaconf() -> None:
    cd = ConfDict({"training.optim.lr": 0.01})
    # the compressed yaml is read by OmegaConf as one literal dotted key...
    compressed = OmegaConf.create(cd.to_yaml())
    assert OmegaConf.select(compressed, "training.optim.lr") is None
    # ...the Hydra-facing exports nest
    assert OmegaConf.select(to_omegaconf(cd), "training.optim.lr") == 0.01
    assert to_hydra_yaml(cd) == "training:\n  optim:\n    lr: 0.01\n"
    assert OmegaConf.select(OmegaConf.create(to_hydra_yaml(cd)), "training.optim.lr") == 0.01
    # plain mappings with dotted keys are accepted too
    assert to_omegaconf({"a.b": 1, "a.c": 2}) == {"a": {"b": 1, "c": 2}}


def test_to_hydra_yaml_writes_file_and_paths_as_strings(tmp_path: Path) -> None:
    cd = ConfDict({"infra": {"folder": Path("/data/cache")}, "x": [1, (2, 3)]})
    text = to_hydra_yaml(cd, tmp_path / "c.yaml")
    assert (tmp_path / "c.yaml").read_text() == text
    assert yaml.safe_load(text) == {"infra": {"folder": "/data/cache"}, "x": [1, [2, 3]]}
    # in OmegaConf the Path stays a Path, so the round trip is exact
    dc = to_omegaconf(cd)
    assert dc.infra.folder == Path("/data/cache")
    assert from_omegaconf(dc)["infra.folder"] == Path("/data/cache")


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class WithEnums:
    color: Color = Color.BLUE
    level: Level = Level.HIGH


def test_enums_become_values() -> None:
    dc = OmegaConf.structured(WithEnums)
    assert dc.color is Color.BLUE
    cd = from_omegaconf(dc)
    assert cd == {"color": "blue", "level": 2}
    assert type(cd["level"]) is int
    assert cd.to_uid() == ConfDict({"color": "blue", "level": 2}).to_uid()
    # and in the other direction
    assert to_omegaconf({"c": Color.RED, "l": [Level.LOW]}) == {"c": "red", "l": [1]}


def test_interpolations_are_resolved_before_uid() -> None:
    dc = OmegaConf.create({"lr": 0.1, "optim": {"lr": "${lr}", "name": "sgd-${lr}"}})
    cd = ConfDict(dc)
    assert cd == {"lr": 0.1, "optim": {"lr": 0.1, "name": "sgd-0.1"}}
    plain = ConfDict({"lr": 0.1, "optim": {"lr": 0.1, "name": "sgd-0.1"}})
    assert cd.to_uid() == plain.to_uid()
    raw = from_omegaconf(dc, resolve=False)
    assert raw["optim.lr"] == "${lr}"


def test_missing_values_abort_naming_every_key() -> None:
    dc = OmegaConf.create({"seed": "???", "optim": {"lr": "???", "name": "sgd"}, "l": [1, "???"]})
    for resolve in (True, False):
        with pytest.raises(ConfigError) as info:
            from_omegaconf(dc, resolve=resolve)
        msg = str(info.value)
        assert "seed: mandatory value is missing (???)" in msg
        assert "optim.lr: mandatory value is missing (???)" in msg
        assert "l[1]: mandatory value is missing (???)" in msg
    with pytest.raises(ConfigError, match=r"optim\.lr"):
        ConfDict(dc)


def test_unresolvable_interpolations_name_the_key() -> None:
    dc = OmegaConf.create({"a": {"name": "${hydra:job.name}"}, "b": "${nope}", "c": "${a.name}"})
    with pytest.raises(ConfigError) as info:
        from_omegaconf(dc)
    msg = str(info.value)
    assert "a.name: cannot resolve '${hydra:job.name}'" in msg
    assert "inside a running Hydra job" in msg
    assert "b: cannot resolve '${nope}'" in msg
    # outside a job, the unresolved config is still available
    assert from_omegaconf(dc, resolve=False)["a.name"] == "${hydra:job.name}"


def test_nested_dictconfig_values_are_converted() -> None:
    inner = OmegaConf.create({"x": 1, "y": "${x}"})
    cd = ConfDict({"sub": inner})
    assert cd == {"sub": {"x": 1, "y": 1}}
    assert isinstance(cd["sub"], ConfDict)
    assert to_omegaconf({"sub": inner}) == {"sub": {"x": 1, "y": 1}}


def test_unrepresentable_values_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"a\.b: unsupported value of type set; use a list"):
        to_omegaconf({"a": {"b": {1, 2}}})
    with pytest.raises(ConfigError, match=r"l\[1\]: unsupported value of type object"):
        to_omegaconf({"l": [1, object()]})


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.text(alphabet="abcxyz-_ /01", max_size=8).filter(lambda s: "${" not in s and s != "???"),
)
keys = st.text(alphabet="abcdefgh_", min_size=1, max_size=5)
configs = st.recursive(
    st.dictionaries(keys, scalars, max_size=4),
    lambda children: st.dictionaries(
        keys,
        st.one_of(scalars, children, st.lists(st.one_of(scalars, children), max_size=3)),
        max_size=4,
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(configs)
def test_round_trip_property(data: dict[str, tp.Any]) -> None:
    cd = ConfDict(data)
    back = from_omegaconf(to_omegaconf(cd))
    assert back == cd
    assert back.to_uid() == cd.to_uid()
    assert ConfDict(OmegaConf.create(to_hydra_yaml(cd))).to_uid() == cd.to_uid()


def test_composed_config_uid_equals_confdict_uid(tmp_path: Path) -> None:
    (tmp_path / "optim").mkdir()
    (tmp_path / "optim" / "sgd.yaml").write_text("name: sgd\nlr: 0.1\n")
    (tmp_path / "optim" / "adam.yaml").write_text("name: adam\nlr: 0.001\n")
    (tmp_path / "train.yaml").write_text(
        "defaults:\n  - optim: sgd\n  - _self_\nseed: 12\nbase_lr: ${optim.lr}\n"
    )
    with initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        cfg = compose("train", overrides=["optim=adam", "optim.lr=0.01", "+extra.depth=3"])
    expected = ConfDict(
        {"optim": {"name": "adam", "lr": 0.01}, "seed": 12, "base_lr": 0.01, "extra.depth": 3}
    )
    assert ConfDict(cfg) == expected
    assert ConfDict(cfg).to_uid() == expected.to_uid()
    # the ConfDict written back for Hydra composes to the same uid
    (tmp_path / "dumped.yaml").write_text(to_hydra_yaml(expected))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        again = compose("dumped")
    assert ConfDict(again).to_uid() == expected.to_uid()


BASE = {"optim": {"lr": 0.1, "name": "sgd"}, "seed": 1, "debug": True}


def test_apply_overrides_uses_hydra_grammar() -> None:
    base = ConfDict(BASE)
    out = apply_overrides(
        base, ["optim.lr=0.5", "+c=2", "~debug", "++seed=3", "+layers=[1,2]", "+model.name=null"]
    )
    assert out == {
        "optim": {"lr": 0.5, "name": "sgd"},
        "seed": 3,
        "c": 2,
        "layers": [1, 2],
        "model": {"name": None},
    }
    assert isinstance(out, ConfDict)
    assert base == ConfDict(BASE)  # input untouched
    # values are typed as Hydra types them
    assert apply_overrides(base, ["seed=12"])["seed"] == 12
    assert apply_overrides(base, ["optim.name=adam"])["optim.name"] == "adam"
    assert apply_overrides(base, ["+d=${seed}"])["d"] == 1  # interpolation resolved


def test_apply_overrides_misspelled_key_suggests() -> None:
    base = ConfDict(BASE)
    with pytest.raises(ConfigCompositionException, match=r"did you mean 'optim\.lr'\?"):
        apply_overrides(base, ["optim.lrr=1"])
    with pytest.raises(ConfigCompositionException, match=r"did you mean 'optim'\?"):
        apply_overrides(base, ["otpim.lr=1"])
    with pytest.raises(ConfigCompositionException, match=r"'sede'.*did you mean 'seed'\?"):
        apply_overrides(base, ["~sede"])


def test_apply_overrides_refuses_sweeps_and_bad_input() -> None:
    with pytest.raises(ValueError, match="'seed=1,2' is a sweep"):
        apply_overrides(BASE, ["seed=1,2"])
    with pytest.raises(TypeError, match="list of strings"):
        apply_overrides(BASE, "seed=1")  # type: ignore[arg-type]
    from hydra.errors import OverrideParseException

    with pytest.raises(OverrideParseException):
        apply_overrides(BASE, ["seed=${"])
