"""Tests of exca.uid: the uid format, pinned byte for byte by tests/data/uid-vectors.json."""

import collections
import decimal
import fractions
import json
import os
import pathlib
import subprocess
import sys
import typing as tp

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exca import ConfDict
from exca import uid as uidlib

VECTORS_FILE = pathlib.Path(__file__).parent / "data" / "uid-vectors.json"
VECTORS: list[dict[str, tp.Any]] = json.loads(VECTORS_FILE.read_text(encoding="utf8"))
IDS = [f"{i}:{json.dumps(v['input'])[:40]}" for i, v in enumerate(VECTORS)]


def test_vectors_file_is_complete() -> None:
    assert len(VECTORS) == 41
    for vec in VECTORS:
        assert set(vec) == {"input", "flat", "yaml", "uid_v2", "uid_v3"}


@pytest.mark.parametrize("vec", VECTORS, ids=IDS)
def test_vector_uid_functions(vec: dict[str, tp.Any]) -> None:
    assert uidlib.to_uid(vec["input"], version=2) == vec["uid_v2"]
    assert uidlib.to_uid(vec["input"], version=3) == vec["uid_v3"]
    assert uidlib.to_uid(vec["input"]) == vec["uid_v2"]  # default version is 2


@pytest.mark.parametrize("vec", VECTORS, ids=IDS)
def test_vector_confdict(vec: dict[str, tp.Any]) -> None:
    cfg = ConfDict(vec["input"])
    assert cfg.flat() == vec["flat"]
    assert cfg.to_yaml() == vec["yaml"]
    assert cfg.to_uid(version=2) == vec["uid_v2"]
    assert cfg.to_uid(version=3) == vec["uid_v3"]
    assert cfg.to_uid() == vec["uid_v2"]
    # the flat form describes the same config (empty sub-dicts aside)
    assert ConfDict(vec["flat"]).flat() == vec["flat"]


@pytest.mark.parametrize("vec", VECTORS, ids=IDS)
def test_vector_yaml_roundtrip(vec: dict[str, tp.Any]) -> None:
    cfg = ConfDict(vec["input"])
    assert ConfDict.from_yaml(vec["yaml"]) == cfg


def test_version_by_class_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = ConfDict({"training.optim.lr": 0.01})
    assert ConfDict.UID_VERSION == 2
    assert ConfDict.LATEST_UID_VERSION == 3
    monkeypatch.setattr(ConfDict, "UID_VERSION", 3)
    assert cfg.to_uid() == "training.optim.lr=0.01-0f8936b4"
    assert cfg.to_uid(version=2) == "training.optim.lr=0.01-346ce994"


def test_version_by_subclass_attribute() -> None:
    class Cfg3(ConfDict):
        UID_VERSION = 3

    assert Cfg3({"x": 1}).to_uid() == "x=1-fcb8d513"
    assert ConfDict({"x": 1}).to_uid() == "x=1-c4ca4238"


def _run_with_env(env_value: str | None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("CONFDICT_UID_VERSION", None)
    if env_value is not None:
        env["CONFDICT_UID_VERSION"] = env_value
    code = (
        "from exca import ConfDict\n"
        "print(ConfDict.UID_VERSION, ConfDict({'training.optim.lr': 0.01}).to_uid())"
    )
    root = str(pathlib.Path(__file__).parents[1])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "env_value,expected",
    [
        (None, "2 training.optim.lr=0.01-346ce994"),
        ("2", "2 training.optim.lr=0.01-346ce994"),
        ("3", "3 training.optim.lr=0.01-0f8936b4"),
    ],
)
def test_version_by_environment_variable(env_value: str | None, expected: str) -> None:
    proc = _run_with_env(env_value)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == expected


def test_bad_version_environment_variable() -> None:
    proc = _run_with_env("7")
    assert proc.returncode != 0
    assert "CONFDICT_UID_VERSION" in proc.stderr and "'7'" in proc.stderr


@pytest.mark.parametrize("version", [0, 1, 4, "3", 2.0, None])
def test_unsupported_version(version: tp.Any) -> None:
    with pytest.raises(ValueError, match="Unsupported uid version"):
        uidlib.to_uid({"x": 1}, version=version)


def test_unsupported_version_confdict() -> None:
    with pytest.raises(ValueError, match="Unsupported uid version"):
        ConfDict({"x": 1}).to_uid(version=4)


# # # # # values # # # # #


@pytest.mark.parametrize(
    "value,v2,v3",
    [
        # measured on the reference behaviour
        ({1, 3, 2}, "x=[1,2,3]-55b84a9d", "x=(1,2,3)-cd99bdf9"),
        ((1, 2), "x=[1,2]-05cf281c", "x=(1,2)-cb6a0437"),
        (pathlib.Path("/a/b"), "x=-a-b-aee31d71", "x=-a-b-0e551dfd"),
        (np.int64(3), "x=3-eccbc87e", "x=3-3f9baebb"),
        ("a_b(c)[d]{e}", "x=abc[d]{e}-0ec20e09", "x=a_b(c)d{e}-ca4e57ab"),
        (decimal.Decimal("1.5"), "x=1.50-00d69e2f", "x=1.50-e4723ad9"),
        (fractions.Fraction(1, 3), "x=0.33-be5977da", "x=0.33-481a6ff9"),
    ],
)
def test_value_types(value: tp.Any, v2: str, v3: str) -> None:
    cfg = ConfDict({"x": value})
    assert cfg.to_uid(version=2) == v2
    assert cfg.to_uid(version=3) == v3


def test_uid_parts() -> None:
    assert uidlib.uid_parts(1.5, 2) == ("1.50", str(hash(1.5)))
    assert uidlib.uid_parts(1.5, 3) == ("1.50", f"float:{hash(1.5)}")
    assert uidlib.uid_parts([1, "a b"], 2) == ("[1,a-b]", "1,a b")
    assert uidlib.uid_parts([1, "a b"], 3) == ("(1,a-b)", "seq:(int:1,str:a b)")
    assert uidlib.uid_parts({"a": {"b": 1}, "c": None}, 3) == (
        "{a.b=1,c=None}",
        "dict:{a.b=int:1,c=int:None}",
    )
    assert uidlib.uid_parts(True, 3) == ("True", "int:True")


def test_ordered_dict_order() -> None:
    # version 3 keeps the order of an OrderedDict, version 2 sorts; never merged
    cfg = ConfDict({"a": collections.OrderedDict(b=1, a=2)})
    assert cfg.to_uid(version=2) == "a={a=2,b=1}-3bfeaa70"
    assert cfg.to_uid(version=3) == "a={b=1,a=2}-406f2b61"
    single = ConfDict({"a": collections.OrderedDict(b=1)})
    assert single.to_uid(version=2) == "a={b=1}-c4ca4238"
    assert single.to_uid(version=3) == "a={b=1}-88591bbd"


def test_tuples_are_not_simplified() -> None:
    # single-key sub-dicts are merged in lists, not in tuples
    as_list = {"x": [{"a": {"b": 1}}, 2]}
    as_tuple = {"x": ({"a": {"b": 1}}, 2)}
    assert uidlib.to_uid(as_list, 3).startswith("x=({a.b=1},2)-")
    assert uidlib.to_uid(as_tuple, 3).startswith("x=({a={b=1}},2)-")
    assert uidlib.simplify(as_list) == {"x": [{"a.b": 1}, 2]}
    assert uidlib.simplify(as_tuple) == as_tuple


def test_numpy_arrays() -> None:
    arr = np.arange(6).reshape(2, 3)
    cfg = ConfDict({"x": arr})
    assert cfg.flat()["x"] is arr
    # measured on the reference's uid maker
    assert ConfDict({"x": np.arange(3)}).to_uid(2) == "x=data-13aa953f-0fcab681"
    assert ConfDict({"x": np.arange(3)}).to_uid(3) == "x=data-3-13aa953f-15ea6edc"
    transposed = ConfDict({"x": np.arange(6).reshape(2, 3).T})
    assert transposed.to_uid(2) == "x=data-55b9154f-17826537"
    assert transposed.to_uid(3) == "x=data-3,2-55b9154f-0c4a3ea4"
    assert ConfDict({"x": np.array(1.5)}).to_uid(3) == "x=data-1-7572bcab-ee0f59af"
    # the content matters, in both versions
    other = ConfDict({"x": np.arange(1, 4)})
    for version in (2, 3):
        assert other.to_uid(version) != ConfDict({"x": np.arange(3)}).to_uid(version)


def test_floats() -> None:
    assert uidlib.uid_parts(float("inf"), 2) == ("inf", "314159")
    assert uidlib.uid_parts(-0.0, 3) == ("0", "int:0")
    # nan: a fixed hash (Python's hash of nan depends on the object)
    assert uidlib.uid_parts(float("nan"), 2) == uidlib.uid_parts(float("nan"), 2)
    assert uidlib.uid_parts(2e20, 2)[0] == "200000000000000000000"


def test_unsupported_type_names_type_and_path() -> None:
    class Foo:
        pass

    cfg = ConfDict({"model": {"optim": {"lr": Foo(), "x": 1}}})
    for version in (2, 3):
        with pytest.raises(TypeError, match=r"Unsupported type .*Foo.*'model\.optim\.lr'"):
            cfg.to_uid(version=version)
    with pytest.raises(TypeError, match=r"'a\.b'"):
        ConfDict({"a": {"b": [1, np.float32(2.0)]}}).to_uid()


def test_type_bypass(monkeypatch: pytest.MonkeyPatch) -> None:
    class Foo:
        def __str__(self) -> str:
            return "foo/bar"

    monkeypatch.setenv("CONFDICT_UID_TYPE_BYPASS", "1")
    uid = ConfDict({"x": Foo()}).to_uid()
    assert uid.startswith("x=foo-bar-")
    assert uid == ConfDict({"x": Foo()}).to_uid()  # deterministic


def test_unresolved_operations_raise() -> None:
    with pytest.raises(ValueError, match=r"unresolved.*'=replace='.*'a'"):
        ConfDict({"a": {"=replace=": True, "b": 1}}).to_uid()
    with pytest.raises(ValueError, match="'=delete='"):
        ConfDict({"a": "=delete="}).to_uid()


def test_uid_does_not_modify_input() -> None:
    data = {"a": {"b": {"c": 1}}, "d": [{"e": {"f": 2}}]}
    before = json.dumps(data)
    uidlib.to_uid(data, 2)
    uidlib.to_uid(data, 3)
    assert json.dumps(data) == before


# # # # # properties # # # # #

_KEYS = st.text(alphabet="abcxyz_09", min_size=1, max_size=4)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12).filter(
        lambda s: not (len(s) > 2 and s[0] == "=" == s[-1])
    )  # reserved op tokens
)
_CONFIGS = st.recursive(
    _LEAVES,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_KEYS, children, min_size=1, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_KEYS, _CONFIGS, max_size=5))
def test_uid_invariant_to_construction(data: dict[str, tp.Any]) -> None:
    cfg = ConfDict(data)
    rebuilt = ConfDict(dict(reversed(list(cfg.flat().items()))))  # dotted keys, other order
    for version in (2, 3):
        uid = cfg.to_uid(version)
        assert uid == rebuilt.to_uid(version)
        assert uid == uidlib.to_uid(data, version)  # ConfDict splitting does not matter
        if uid:
            string, hashed = uid.rsplit("-", 1)
            assert len(hashed) == 8
            assert all(c.isalnum() or c in "{}[]()-=,._" for c in string)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(_KEYS, _CONFIGS, min_size=1, max_size=5))
def test_yaml_roundtrip_preserves_uid(data: dict[str, tp.Any]) -> None:
    cfg = ConfDict(data)
    back = ConfDict.from_yaml(cfg.to_yaml())
    for version in (2, 3):
        assert back.to_uid(version) == cfg.to_uid(version)


def test_string_values_in_the_token_format_are_data() -> None:
    # only "=delete=" is an operation as a value; "=0=" is a plain string
    assert ConfDict({"name": "=0="}).to_uid(2).startswith("name==0=-")
    assert ConfDict({"name": "=0="}).to_uid(3) != ConfDict({"name": "=1="}).to_uid(3)
