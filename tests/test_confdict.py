"""Tests of exca.confdict.ConfDict (behaviours compared with the reference release)."""

import collections
import io
import pathlib
import pickle
import typing as tp

import numpy as np
import pytest

from exca import ConfDict


def test_dotted_keys_split() -> None:
    cfg = ConfDict({"a.b.c": 1, "a.d": 2}, e=3, **{"f.g": 4})
    assert cfg == {"a": {"b": {"c": 1}, "d": 2}, "e": 3, "f": {"g": 4}}
    assert isinstance(cfg["a"], ConfDict)
    assert isinstance(cfg["a"]["b"], ConfDict)
    assert ConfDict([("a.b", 1)]) == {"a": {"b": 1}}


def test_merging_order() -> None:
    assert ConfDict({"a.b": 1, "a": {"c": 2}}) == {"a": {"b": 1, "c": 2}}
    assert ConfDict({"a": {"c": 2}, "a.b": 1}) == {"a": {"c": 2, "b": 1}}
    assert ConfDict({"a": 1, "a.b": 1}) == {"a": {"b": 1}}  # non-dict is replaced
    assert ConfDict({"a.b": 1, "a": 2}) == {"a": 2}
    assert ConfDict({"a.b": 1, "a": {}}) == {"a": {"b": 1}}


def test_setitem_merges_and_copies() -> None:
    cfg = ConfDict({"a": {"x": 1}})
    cfg["a"] = {"y": 4}
    assert cfg == {"a": {"x": 1, "y": 4}}
    cfg["a.z"] = 5
    assert cfg == {"a": {"x": 1, "y": 4, "z": 5}}
    cfg["a"] = 4
    assert cfg == {"a": 4}
    sub = {"x": 1}
    cfg["s"] = sub
    sub["y"] = 2  # no aliasing
    assert cfg["s"] == {"x": 1}
    assert isinstance(cfg["s"], ConfDict)


def test_update_recursive() -> None:
    cfg = ConfDict({"a": {"b": 1}})
    cfg.update({"a": {"c": 2}}, **{"d.e": 1})
    assert cfg == {"a": {"b": 1, "c": 2}, "d": {"e": 1}}
    cfg.update([("a.c", 3)])
    assert cfg == {"a": {"b": 1, "c": 3}, "d": {"e": 1}}


def test_replace_marker() -> None:
    cfg = ConfDict({"a": {"x": 1, "z": 3}, "b": {"x": 2}})
    cfg.update({"a": {"=replace=": True, "y": 4}})
    assert cfg == {"a": {"y": 4}, "b": {"x": 2}}
    # False: plain merge, marker removed
    cfg.update({"b": {"=replace=": False, "y": 1}})
    assert cfg == {"a": {"y": 4}, "b": {"x": 2, "y": 1}}
    # through __setitem__ too
    cfg["b"] = {"=replace=": True, "w": 0}
    assert cfg == {"a": {"y": 4}, "b": {"w": 0}}
    # only replace
    cfg.update({"a": {"=replace=": True}})
    assert cfg["a"] == {}
    assert ConfDict.ops.REPLACE == "=replace="


def test_replace_marker_unresolved() -> None:
    # nothing to replace: the marker stays until a later update applies it
    cfg = ConfDict({"a": {"=replace=": True, "y": 4}})
    assert cfg == {"a": {"=replace=": True, "y": 4}}
    assert cfg.flat() == {"a.=replace=": True, "a.y": 4}
    with pytest.raises(ValueError, match="unresolved"):
        cfg.to_uid()
    # a nested marker inside a replacing dict, with nothing below to replace, stays
    cfg = ConfDict({"a": {"x": 1}})
    cfg.update({"a": {"=replace=": True, "y": {"=replace=": True, "b": 1}}})
    assert cfg == {"a": {"y": {"=replace=": True, "b": 1}}}


def test_delete_and_move_operations() -> None:
    cfg = ConfDict({"a": {"x": 1, "y": 2}, "b": 1})
    cfg.update({"a": {"x": "=delete="}})
    assert cfg == {"a": {"y": 2}, "b": 1}
    cfg["b"] = "=delete="
    assert cfg == {"a": {"y": 2}}
    cfg.update({"a.y": "=delete="})
    assert cfg == {"a": {}}
    cfg = ConfDict({"a": {"x": 1}, "b": {"x": 2}})
    cfg.update({"a": {"=replace=": True, "=after=": "b", "y": 4}, "b": {"y": 12}})
    assert list(cfg) == ["b", "a"]
    assert cfg == {"b": {"x": 2, "y": 12}, "a": {"y": 4}}
    cfg.update({"a": {"=before=": "b"}})
    assert list(cfg) == ["a", "b"]
    with pytest.raises(ValueError, match="not both"):
        cfg.update({"a": {"=before=": "b", "=after=": "b"}})
    with pytest.raises(ValueError, match="Unknown ConfDict operation '=foo='"):
        cfg.update({"a": {"=foo=": 1}})


def test_lists_of_dicts_become_confdicts() -> None:
    cfg = ConfDict({"a": [{"b.c": 1}, 2, [{"d.e": 3}]], "t": ({"x.y": 1},)})
    assert cfg == {"a": [{"b": {"c": 1}}, 2, [{"d": {"e": 3}}]], "t": ({"x": {"y": 1}},)}
    assert isinstance(cfg["a"][0], ConfDict)
    assert isinstance(cfg["a"][2][0], ConfDict)
    assert isinstance(cfg["t"], tuple) and isinstance(cfg["t"][0], ConfDict)
    assert cfg.flat() == {"a": [{"b.c": 1}, 2, [{"d.e": 3}]], "t": ({"x.y": 1},)}


def test_dotted_access() -> None:
    cfg = ConfDict({"a": {"b": 1, "c": 2}, "l": [10, {"x": 1}]})
    assert cfg["a.b"] == 1
    assert cfg.get("a.b") == 1
    assert cfg.get("a.z") is None
    assert cfg.get("a.z", 3) == 3
    assert cfg.get("a.b.c") is None  # below a non-dict
    assert cfg["l.0"] == 10
    assert cfg["l.1.x"] == 1
    assert "a.b" in cfg
    assert "a.z" not in cfg
    assert "a.b.c" not in cfg
    assert "x.y" not in cfg
    assert 3 not in cfg
    with pytest.raises(KeyError, match=r"a\.z"):
        cfg["a.z"]
    with pytest.raises(KeyError, match=r"a\.b"):
        cfg["a.b.c"]
    with pytest.raises(KeyError):
        cfg["missing"]


def test_dotted_pop_and_del() -> None:
    cfg = ConfDict({"a": {"b": 1, "c": 2}, "d": 3})
    assert cfg.pop("a.b") == 1
    assert cfg == {"a": {"c": 2}, "d": 3}
    assert cfg.pop("a.z", 4) == 4
    assert cfg.pop("x.y", 5) == 5
    with pytest.raises(KeyError):
        cfg.pop("a.z")
    del cfg["a.c"]
    assert cfg == {"a": {}, "d": 3}
    with pytest.raises(KeyError):
        del cfg["a.c"]
    assert cfg.pop("d") == 3
    assert cfg.setdefault("a.e", 7) == 7
    assert cfg == {"a": {"e": 7}}


def test_non_str_keys_raise() -> None:
    with pytest.raises(TypeError, match="only supports str keys, got 1"):
        ConfDict({1: 2})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str keys"):
        ConfDict({"a": {(1, 2): 2}})
    cfg = ConfDict()
    with pytest.raises(TypeError, match="str keys"):
        cfg[None] = 1  # type: ignore[index]
    with pytest.raises(TypeError, match="string"):
        ConfDict("a.b")  # type: ignore[arg-type]


def test_flat() -> None:
    cfg = ConfDict({"a": {"b": {}, "c": 1}, "d": {}, "e": [{"f": {"g": 1}}]})
    assert cfg.flat() == {"a.c": 1, "e": [{"f.g": 1}]}
    assert ConfDict(cfg.flat()) == {"a": {"c": 1}, "e": [{"f": {"g": 1}}]}


def test_copy_is_independent() -> None:
    cfg = ConfDict({"a": {"b": [1, {"c": 2}]}, "arr": np.arange(3)})
    other = cfg.copy()
    assert other == cfg and type(other) is ConfDict
    other["a.x"] = 1
    other["a.b"][1]["c"] = 3
    other["a.b"].append(4)
    assert cfg == {"a": {"b": [1, {"c": 2}]}, "arr": cfg["arr"]}
    assert other["arr"] is cfg["arr"]  # leaves are shared


def test_numpy_arrays() -> None:
    arr = np.arange(4.0)
    cfg = ConfDict({"x.y": arr, "z": [arr]})
    assert cfg["x.y"] is arr
    cfg["x.y"] = np.zeros(2)  # replacing an array value
    assert cfg["x"]["y"].shape == (2,)
    flat = cfg.flat()
    assert set(flat) == {"x.y", "z"}
    assert cfg.to_uid(version=2).startswith("x.y=data-")
    assert cfg.to_uid(version=3) != ConfDict({"x.y": np.ones(2), "z": [arr]}).to_uid(version=3)
    assert "x.y" in cfg
    assert cfg.to_yaml().startswith("x.y:\n- 0.0\n- 0.0\n")


def test_ordered_dict_kept() -> None:
    cfg = ConfDict({"a": collections.OrderedDict(b={"c.d": 1}, a=2)})
    assert type(cfg["a"]) is collections.OrderedDict
    assert list(cfg["a"]) == ["b", "a"]
    assert isinstance(cfg["a"]["b"], ConfDict)
    cfg.update({"a": {"y": 2}})  # merges into the OrderedDict
    assert list(cfg["a"]) == ["b", "a", "y"]
    # dumped as exca 0.6.0 dumps it: never merged into its parent key, its single-key
    # sub-dicts merged into its keys
    assert cfg.to_yaml() == "a:\n  b.c.d: 1\n  a: 2\n  y: 2\n"
    # operations move and delete its entries; it stays an OrderedDict, in the new order
    cfg.update({"a": {"b": {ConfDict.ops.AFTER: "y"}, "a": ConfDict.ops.DELETE}})
    assert type(cfg["a"]) is collections.OrderedDict
    assert list(cfg["a"]) == ["y", "b"]
    cfg["a.b.c.d"] = 3  # a dotted key reaches into its sub-dicts
    assert cfg.to_yaml() == "a:\n  y: 2\n  b.c.d: 3\n"
    cfg["a"] = collections.OrderedDict(z=1)  # an OrderedDict value replaces it
    assert cfg["a"] == {"z": 1}


def test_to_yaml_compresses_and_writes(tmp_path: pathlib.Path) -> None:
    cfg = ConfDict(
        {
            "a": {"b": 1},
            "c": [1, {"d": {"e": 2}}],
            "f": {"g": {"h": 1, "i": 2}},
            "p": pathlib.Path("/x"),
        }
    )
    expected = "a.b: 1\nc:\n- 1\n- d.e: 2\nf.g:\n  h: 1\n  i: 2\np: /x\n"
    fp = tmp_path / "cfg.yaml"
    assert cfg.to_yaml(fp) == expected
    assert fp.read_text() == expected
    assert cfg.to_yaml(str(fp)) == expected
    assert ConfDict({"a": (1, 2), "n": np.int64(3)}).to_yaml() == "a:\n- 1\n- 2\nn: 3\n"


def test_to_yaml_unsupported_value() -> None:
    class Foo:
        pass

    with pytest.raises(TypeError, match="Foo"):
        ConfDict({"a": Foo()}).to_yaml()


def test_from_yaml_sources(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = {"a": {"b": 1}, "c": [1, 2]}
    text = "a.b: 1\nc: [1, 2]\n"
    fp = tmp_path / "cfg.yaml"
    fp.write_text(text)
    assert ConfDict.from_yaml(text) == expected
    assert ConfDict.from_yaml(fp) == expected
    assert ConfDict.from_yaml(str(fp)) == expected
    monkeypatch.chdir(tmp_path)
    assert ConfDict.from_yaml("cfg.yaml") == expected  # relative path string
    with fp.open() as f:
        assert ConfDict.from_yaml(f) == expected
    with fp.open("rb") as fb:
        assert ConfDict.from_yaml(fb) == expected
    assert ConfDict.from_yaml(io.StringIO(text)) == expected
    assert ConfDict.from_yaml("a.b: 1") == {"a": {"b": 1}}
    assert isinstance(ConfDict.from_yaml(text), ConfDict)


def test_from_yaml_errors(tmp_path: pathlib.Path) -> None:
    for bad in ["[1, 2]", "just a string", "", "- a\n- b\n"]:
        with pytest.raises(TypeError, match="non-dict yaml"):
            ConfDict.from_yaml(bad)
    listfile = tmp_path / "list.yaml"
    listfile.write_text("- 1\n")
    with pytest.raises(TypeError, match=r"non-dict yaml.*list\.yaml"):
        ConfDict.from_yaml(listfile)
    with pytest.raises(FileNotFoundError):
        ConfDict.from_yaml(tmp_path / "missing.yaml")
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        ConfDict.from_yaml(str(tmp_path / "missing.yaml"))
    with pytest.raises(TypeError, match="from_yaml expects"):
        ConfDict.from_yaml(12)  # type: ignore[arg-type]


def test_from_args() -> None:
    cfg = ConfDict.from_args(["--a.b=1", "--c=hello", "--d=[1,2]", "--e=x=y", "--f="])
    assert cfg == {"a": {"b": "1"}, "c": "hello", "d": "[1,2]", "e": "x=y", "f": ""}
    assert ConfDict.from_args(["--a=2", "--a.b=1"]) == {"a": {"b": "1"}}
    assert ConfDict.from_args([]) == {}


@pytest.mark.parametrize(
    "args", [["--a.b", "1"], ["a.b=1"], ["-a=1"], ["--=1"], ["--a..b=1"], ["--a.=1"], [3]]
)
def test_from_args_malformed(args: list[tp.Any]) -> None:
    with pytest.raises(ValueError, match="--key=value"):
        ConfDict.from_args(args)


def test_from_args_not_a_list() -> None:
    with pytest.raises(ValueError, match="list of '--key=value'"):
        ConfDict.from_args("--a=1")  # type: ignore[arg-type]


def test_pickle_roundtrip() -> None:
    cfg = ConfDict({"a.b": [1, {"c": 2}], "d": None})
    out = pickle.loads(pickle.dumps(cfg))
    assert out == cfg and type(out) is ConfDict and isinstance(out["a"], ConfDict)


def test_uid_independent_of_construction() -> None:
    a = ConfDict({"b": 1, "a": {"c": 2, "d": [1, 2]}})
    b = ConfDict({"a.d": [1, 2], "a.c": 2, "b": 1})
    for version in (2, 3):
        assert a.to_uid(version) == b.to_uid(version)


def test_union_operators_merge() -> None:
    cfg = ConfDict({"a": {"x": 1}})
    merged = cfg | {"a.y": 2}
    assert type(merged) is ConfDict
    assert merged == {"a": {"x": 1, "y": 2}}
    assert cfg == {"a": {"x": 1}}
    cfg |= {"a": {"z": 3}}
    assert cfg == {"a": {"x": 1, "z": 3}}


# # # # # operations (as in exca 0.6.0) # # # # #


def test_update_docstring_examples_run() -> None:
    import doctest

    import exca.confdict

    result = doctest.testmod(exca.confdict, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0


def test_ops_replace_delete_and_moves() -> None:
    ops = ConfDict.ops
    cfg = ConfDict({"a": {"b": 1, "c": 2}, "d": 3, "e": 4})
    cfg.update({"a": {ops.REPLACE: True, "z": 0}})
    assert cfg == {"a": {"z": 0}, "d": 3, "e": 4}
    cfg.update({"d": ops.DELETE})
    assert cfg == {"a": {"z": 0}, "e": 4}
    cfg.update({"e": {ops.BEFORE: "a"}})  # a non-dict value becomes a dict (as in 0.6.0)
    assert list(cfg) == ["e", "a"]
    cfg.update({"e": {ops.AFTER: "a", "k": 1}})
    assert list(cfg) == ["a", "e"] and cfg["e"] == {"k": 1}
    cfg.update({ops.REPLACE: True, "new": 1})  # top level: replaces everything
    assert cfg == {"new": 1}
    cfg.update({"x": {"y": 1}})
    cfg.update({"x": {ops.REPLACE: False, "w": 2}})  # false: merges, token dropped
    assert cfg == {"new": 1, "x": {"y": 1, "w": 2}}


@pytest.mark.parametrize(
    "patch",
    [
        {"c": {"=before=": "a", "=after=": "b"}},  # both
        {"c": {"=before=": "c"}},  # relative to itself
        {"a": "=replace="},  # a key-only token used as a value
        {"a": "=after="},
        {"a": {"=x=": 1}},  # unknown token
        {"a": 12, "b.x": 5, "c": {"=before=": "c"}},  # fails after two changes
    ],
)
def test_invalid_ops_raise_and_leave_the_confdict_unchanged(patch: dict[str, tp.Any]) -> None:
    cfg = ConfDict({"a": 1, "b": {"x": 1, "l": [{"k": 1}]}, "c": 3})
    before = cfg.copy()
    with pytest.raises(ValueError):
        cfg.update(patch)
    assert cfg == before and list(cfg) == list(before)
    assert type(cfg["b"]) is ConfDict and type(cfg["b"]["l"][0]) is ConfDict


def test_override_is_a_deprecated_alias_of_replace() -> None:
    with pytest.warns(DeprecationWarning, match="ops.REPLACE"):
        token = ConfDict.OVERRIDE
    assert token == ConfDict.ops.REPLACE
    cfg = ConfDict({"a": {"b": 1}})
    cfg.update({"a": {token: True, "c": 2}})
    assert cfg == {"a": {"c": 2}}


def test_dotted_keys_inside_lists() -> None:
    cfg = ConfDict({"a": [{"b": 1}, 2, [3, 4]]})
    cfg["a.0.b"] = 5
    cfg["a.1"] = {"n": 1}
    cfg["a.2.0"] = 6
    cfg.update({"a.0": {"c": 7}})  # merges into the dict held by the list
    assert cfg == {"a": [{"b": 5, "c": 7}, {"n": 1}, [6, 4]]}
    with pytest.raises(TypeError, match="holds a list"):
        cfg["a.x"] = 3
    with pytest.raises(IndexError):
        cfg["a.9"] = 3
    with pytest.raises(TypeError, match="holds a list"):
        cfg.update({"a.x": 3})
    assert cfg == {"a": [{"b": 5, "c": 7}, {"n": 1}, [6, 4]]}
