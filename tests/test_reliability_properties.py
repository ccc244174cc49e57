"""Reliability campaign (issue 9): properties of ConfDict and of the uid, checked on
generated inputs.

- ConfDict: dotted set/get/contains/pop, ``flat()`` and the merge rule of ``update`` /
  ``|`` hold for any nested config; ``from_yaml(to_yaml(x)) == x`` (types included);
- the uid is a pure function of the config: the order in which keys were inserted does
  not matter, another process (with another string-hash seed) computes the same uid,
  and different configs of a large generated sample never share a uid (version 3);
- a uid collision can never make an infra return the result of another config.

``tests/test_uid.py`` and ``tests/test_confdict.py`` hold the example-based tests and
two construction/yaml properties of the uid; the properties here extend them.
"""

from __future__ import annotations

import collections
import decimal
import fractions
import json
import math
import os
import pickle
import random
import subprocess
import sys
import typing as tp
from pathlib import Path, PurePosixPath

import numpy as np
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exca
from exca import ConfDict
from exca import uid as uidlib
from exca.layout import ConfigMismatchError

ROOT = Path(__file__).parents[1]
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _not_op(text: str) -> bool:
    """Keys and values of format ``=<name>=`` are reserved for ConfDict operations."""
    return not (len(text) > 2 and text[0] == "=" == text[-1])


# keys: no "." (it splits), not an operation token; a small alphabet makes generated
# configs share and conflict on keys
KEYS = st.text(alphabet="abxyz_09", min_size=1, max_size=3)
ANY_KEYS = st.text(min_size=0, max_size=8).filter(lambda k: "." not in k and _not_op(k))
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12).filter(_not_op)
)
LEAVES = SCALARS | st.lists(SCALARS, max_size=3)


def _nested(keys: st.SearchStrategy[str], leaves: st.SearchStrategy[tp.Any]) -> tp.Any:
    """Nested dicts (sub-dicts never empty) with the given keys and leaves."""
    return st.recursive(
        st.dictionaries(keys, leaves, min_size=1, max_size=4),
        lambda children: st.dictionaries(keys, leaves | children, min_size=1, max_size=4),
        max_leaves=16,
    )


def _flatten(data: tp.Mapping[str, tp.Any], prefix: str = "") -> dict[str, tp.Any]:
    """Reference flattening of nested dicts (independent from ConfDict.flat)."""
    out: dict[str, tp.Any] = {}
    for key, value in data.items():
        if isinstance(value, tp.Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _same(a: tp.Any, b: tp.Any) -> bool:
    """Equality that also compares types (True != 1, 1 != 1.0), nan equal to nan."""
    if isinstance(a, tp.Mapping) and isinstance(b, tp.Mapping):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


# # # # # ConfDict # # # # #


@SETTINGS
@given(_nested(KEYS, LEAVES), st.randoms(use_true_random=False))
def test_set_get_flat_roundtrip(data: dict[str, tp.Any], rng: random.Random) -> None:
    flat = _flatten(data)
    order = list(flat)
    rng.shuffle(order)
    cfg = ConfDict()
    for key in order:  # dotted keys, set one by one in any order
        cfg[key] = flat[key]
    assert cfg == data  # the same nested dicts as built in one go
    assert cfg == ConfDict(data)
    assert cfg.flat() == flat
    assert ConfDict(cfg.flat()) == cfg
    for key, value in flat.items():
        assert key in cfg
        assert _same(cfg[key], value)
        assert _same(cfg.get(key), value)
        parent = key.rsplit(".", 1)[0]
        assert parent in cfg and (parent == key or isinstance(cfg[parent], ConfDict))
    # every sub-dict is a ConfDict, so dotted access works at every level
    for key in flat:
        node: tp.Any = cfg
        for part in key.split(".")[:-1]:
            node = node[part]
            assert type(node) is ConfDict


@SETTINGS
@given(_nested(KEYS, LEAVES), st.randoms(use_true_random=False))
def test_pop_and_delete_remove_exactly_one_leaf(
    data: dict[str, tp.Any], rng: random.Random
) -> None:
    cfg = ConfDict(data)
    flat = _flatten(data)
    keys = list(flat)
    rng.shuffle(keys)
    for k, key in enumerate(keys):
        if k % 2:
            assert _same(cfg.pop(key), flat.pop(key))
        else:
            del cfg[key]
            del flat[key]
        assert key not in cfg
        assert cfg.get(key, "missing") == "missing"
        assert cfg.flat() == flat  # nothing else changed (emptied sub-dicts do not show)
    with pytest.raises(KeyError):
        cfg.pop(keys[0]) if keys else cfg.pop("a.b")


def _shadowed(key: str, others: tp.Iterable[str]) -> bool:
    """A leaf of the original config disappears in a merge when the patch sets the same
    key, one of its parents (to a non-dict) or one of its children (it becomes a dict)."""
    return any(
        other == key or key.startswith(other + ".") or other.startswith(key + ".")
        for other in others
    )


@SETTINGS
@given(_nested(KEYS, LEAVES), _nested(KEYS, LEAVES))
def test_update_merge_rule(base: dict[str, tp.Any], patch: dict[str, tp.Any]) -> None:
    flat_base, flat_patch = _flatten(base), _flatten(patch)
    expected = {k: v for k, v in flat_base.items() if not _shadowed(k, flat_patch)}
    expected.update(flat_patch)
    original = ConfDict(base)
    # nested patch, dotted patch, the | operator, |=: all follow the same rule
    merged = ConfDict(base)
    merged.update(patch)
    dotted = ConfDict(base)
    dotted.update(flat_patch)
    union = original | patch
    inplace = ConfDict(base)
    inplace |= patch
    for result in (merged, dotted, union, inplace):
        assert result.flat() == expected
    assert original == base  # | does not modify its left operand
    for key, value in flat_patch.items():
        assert _same(merged[key], value)
    # merging is idempotent: applying the same patch again changes nothing
    again = merged.copy()
    again.update(patch)
    assert again == merged


YAML_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()  # inf and nan included
    | st.text(max_size=20).filter(_not_op)
)
YAML_VALUES = st.recursive(
    YAML_SCALARS,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(ANY_KEYS, children, max_size=3)
    ),
    max_leaves=12,
)


@SETTINGS
@given(st.dictionaries(ANY_KEYS, YAML_VALUES, max_size=5))
def test_yaml_roundtrip_is_exact(data: dict[str, tp.Any]) -> None:
    """from_yaml(to_yaml(x)) == x for every value yaml holds (types included)."""
    cfg = ConfDict(data)
    text = cfg.to_yaml()
    back = ConfDict.from_yaml(text)
    assert _same(_plain(back), _plain(cfg)), text
    assert back.to_yaml() == text  # and the dump is stable


def _plain(value: tp.Any) -> tp.Any:
    """Nested dicts sorted by key (yaml keeps the order of dotted keys, not of
    sub-dicts merged back from them)."""
    if isinstance(value, tp.Mapping):
        return {k: _plain(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


@settings(max_examples=25, deadline=None)
@given(st.dictionaries(ANY_KEYS, YAML_VALUES, min_size=1, max_size=4))
def test_yaml_roundtrip_through_files(data: dict[str, tp.Any]) -> None:
    import tempfile

    cfg = ConfDict(data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cfg.yaml"
        cfg.to_yaml(path)
        for source in (path, str(path)):
            assert _same(_plain(ConfDict.from_yaml(source)), _plain(cfg))
        with path.open("rb") as f:
            assert _same(_plain(ConfDict.from_yaml(f)), _plain(cfg))


# # # # # uid: a pure function of the config # # # # #


def _shuffled(value: tp.Any, rng: random.Random) -> tp.Any:
    """The same config with keys inserted in another order, at every level."""
    if isinstance(value, collections.OrderedDict):
        return value  # an OrderedDict's order is part of its uid by design
    if isinstance(value, tp.Mapping):
        items = list(value.items())
        rng.shuffle(items)
        return {k: _shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [_shuffled(v, rng) for v in value]
    return value


UID_LEAVES = (
    SCALARS
    | st.decimals(allow_nan=False, allow_infinity=False, places=3)
    | st.fractions(max_denominator=50)
    | st.builds(PurePosixPath, st.text(alphabet="ab/._", max_size=8))
    | st.frozensets(st.integers(-5, 5), max_size=4)
    | st.tuples(st.integers(), st.text(alphabet="ab", max_size=3))
)


@SETTINGS
@given(_nested(KEYS, UID_LEAVES | st.lists(UID_LEAVES, max_size=3)), st.randoms())
def test_uid_independent_of_insertion_order(data: dict[str, tp.Any], rng: random.Random) -> None:
    for version in uidlib.SUPPORTED_VERSIONS:
        uid = ConfDict(data).to_uid(version)
        assert ConfDict(_shuffled(data, rng)).to_uid(version) == uid
        assert uidlib.to_uid(_shuffled(data, rng), version) == uid
        flat = list(_flatten(data).items())
        rng.shuffle(flat)
        assert ConfDict(dict(flat)).to_uid(version) == uid


def _random_config(rng: random.Random, depth: int = 0) -> dict[str, tp.Any]:
    """A config mixing every supported type (for the cross-process test)."""
    out: dict[str, tp.Any] = {}
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(["a", "b", "lr", "x_y", "n-1", "Z"]) + rng.choice(["", "0", "b"])
        kind = rng.randrange(14 if depth < 2 else 12)
        value: tp.Any
        if kind == 0:
            value = rng.randint(-(10**20), 10**20)
        elif kind == 1:
            value = rng.uniform(-1e6, 1e6) * 10 ** rng.randint(-8, 8)
        elif kind == 2:
            value = "s" + "".join(rng.choice("ab c/_-=,:é") for _ in range(rng.randint(0, 140)))
        elif kind == 3:
            value = rng.choice([None, True, False, 0, 1.0, -0.0, float("inf")])
        elif kind == 4:
            value = decimal.Decimal(rng.randint(-999, 999)) / 7
        elif kind == 5:
            value = fractions.Fraction(rng.randint(-99, 99), rng.randint(1, 99))
        elif kind == 6:
            value = Path("/data") / f"f{rng.randint(0, 9)}.txt"
        elif kind == 7:  # set elements with distinct uid strings (see the set test below)
            value = {rng.randint(0, 50) for _ in range(rng.randint(0, 4))}
        elif kind == 8:
            value = tuple(rng.randint(0, 3) for _ in range(rng.randint(0, 3)))
        elif kind == 9:
            value = np.arange(rng.randint(0, 6), dtype=rng.choice(["int64", "float32"]))
        elif kind == 10:
            value = np.int64(rng.randint(-100, 100))
        elif kind == 11:
            value = collections.OrderedDict(
                [(f"o{k}", rng.randint(0, 9)) for k in rng.sample(range(5), 3)]
            )
        elif kind == 12:
            value = [_random_config(rng, depth + 1) for _ in range(rng.randint(0, 2))]
        else:
            value = _random_config(rng, depth + 1)
        out[key] = value
    return out


_UID_SCRIPT = """
import pickle, sys
from exca import ConfDict
configs = pickle.load(sys.stdin.buffer)
out = [[ConfDict(c).to_uid(v) for v in (2, 3)] for c in configs]
pickle.dump(out, sys.stdout.buffer)
"""


def _uids_in_subprocess(configs: list[tp.Any], hashseed: str) -> list[list[str]]:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    env.pop("CONFDICT_UID_VERSION", None)
    proc = subprocess.run(
        [sys.executable, "-c", _UID_SCRIPT],
        input=pickle.dumps(configs),
        capture_output=True,
        env=env,
        cwd=ROOT,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return tp.cast(list[list[str]], pickle.loads(proc.stdout))


def test_uid_same_in_other_processes() -> None:
    """A uid names a folder shared by processes and machines: another interpreter,
    with another string-hash seed, computes the same uid for the same config."""
    rng = random.Random(9)
    configs = [_random_config(rng) for _ in range(400)]
    here = [[ConfDict(c).to_uid(v) for v in (2, 3)] for c in configs]
    assert len({uid for pair in here for uid in pair}) > 700  # the sample is varied
    for seed in ("0", "1", "12345"):
        assert _uids_in_subprocess(configs, seed) == here


def test_uid_of_sets_with_equal_item_strings_same_in_other_processes() -> None:
    configs: list[tp.Any] = [
        {"x": {"a_b", "ab", "a b", "a-b", "a:b"}},
        {"x": frozenset({"1", 1, "a b", "a-b"})},
    ]
    uids = {json.dumps(_uids_in_subprocess(configs, seed)) for seed in map(str, range(6))}
    assert len(uids) == 1


def _distinct_config(rng: random.Random, depth: int = 0) -> dict[str, tp.Any]:
    """Configs from a small vocabulary, so that many share keys, readable strings
    (cleaned characters, 2-decimal floats) or get cut (long strings)."""
    out: dict[str, tp.Any] = {}
    for _ in range(rng.randint(1, 3 if depth else 5)):
        key = rng.choice(["a", "b", "ab", "a_b", "lr", "x"])
        kind = rng.randrange(8 if depth < 2 else 7)
        value: tp.Any
        if kind == 0:
            value = rng.randint(-3, 3)
        elif kind == 1:
            value = rng.choice([0.1, 0.101, 0.1001, 1e-5, 1.1e-5, 2.5, -2.5, 1e20])
        elif kind == 2:
            value = rng.choice(["", "a", "A", "a b", "a-b", "a/b", "a_b", "a:b", "é", "ab"])
        elif kind == 3:
            value = "x" * rng.randint(120, 140) + rng.choice("abc")  # cut strings
        elif kind == 4:
            value = rng.choice([None, True, False])
        elif kind == 5:
            value = [rng.randint(0, 2) for _ in range(rng.randint(0, 3))]
        elif kind == 6:
            value = [rng.choice(["a", "b"]) for _ in range(rng.randint(0, 3))]
        else:
            value = _distinct_config(rng, depth + 1)
        out[key] = value
    return out


def _canonical(config: dict[str, tp.Any]) -> str:
    """The same text for configs the uid rules declare equal (a sub-dict with one key
    and a dotted key, an integral float and an int), and only for them."""

    def norm(value: tp.Any) -> tp.Any:
        if isinstance(value, dict):
            return {k: norm(v) for k, v in value.items()}
        if isinstance(value, list):
            return [norm(v) for v in value]
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if type(value) is bool:
            return {"#bool": value}
        return value

    return json.dumps(norm(ConfDict(config).flat()), sort_keys=True)


def test_different_configs_never_share_a_uid_v3() -> None:
    rng = random.Random(3)
    seen: dict[str, str] = {}
    distinct = 0
    for _ in range(25_000):
        config = _distinct_config(rng)
        canonical = _canonical(config)
        uid = ConfDict(config).to_uid(3)
        previous = seen.setdefault(uid, canonical)
        if previous is canonical:
            distinct += 1
        assert previous == canonical, f"uid {uid!r} for 2 configs:\n{previous}\n{canonical}"
    assert distinct > 15_000  # the sample really holds many different configs


def _injection_pair() -> tuple[dict[str, str], dict[str, str]]:
    """Two different configs whose v3 hash strings are equal: the hash joins
    ``key=tag:value`` items with ``,`` without escaping, and the readable part is cut
    after 128 characters, before the difference."""
    base = {f"a{i:02d}": "x" for i in range(30)}
    return {**base, "k": "y,b=str:V"}, {**base, "k=str:y,b": "V"}


@pytest.mark.xfail(
    strict=True,
    reason=(
        "uid v3 is not injective for hostile keys/values: the hash string joins "
        "'key=tag:value' items with ',' without escaping, so {'k': 'y,b=str:V'} and "
        "{'k=str:y,b': 'V'} hash alike, and the readable part, cut at 128 characters, "
        "hides the difference. The format is pinned by the spec (uid-vectors.json, same "
        "uids as the upstream release), so this cannot change without a new uid version; "
        "the uid.yaml check of every uid folder turns such a collision into "
        "ConfigMismatchError (see test_uid_collision_never_returns_another_result)."
    ),
)
def test_uid_v3_injective_on_hostile_strings() -> None:
    first, second = _injection_pair()
    assert ConfDict(first).to_uid(3) != ConfDict(second).to_uid(3)


class Collider(pydantic.BaseModel):
    params: dict[str, str] = {}
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> dict[str, str]:
        return dict(self.params)


def test_uid_collision_never_returns_another_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even when two configs share a uid (hostile strings, see above), the second one
    gets a clear error naming the folder, never the result computed for the first."""
    monkeypatch.setattr(ConfDict, "UID_VERSION", 3)
    first, second = _injection_pair()
    one = Collider(params=first, infra={"folder": tmp_path})
    two = Collider(params=second, infra={"folder": tmp_path})
    assert one.infra.uid() == two.infra.uid()  # the collision is real
    assert one.run() == first
    with pytest.raises(ConfigMismatchError, match="holds results for another config"):
        two.run()
    # and the same through a fresh object in read-only mode
    three = Collider(params=second, infra={"folder": tmp_path, "mode": "read-only"})
    with pytest.raises(ConfigMismatchError):
        three.run()
