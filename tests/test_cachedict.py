"""CacheDict: dict interface, storage formats, index robustness, keys, file descriptors.

Multi-process behaviour (concurrent writers, SIGKILL) is in test_cachedict_concurrency.py.
"""

import os
import pickle
import typing as tp
import warnings
from pathlib import Path

import numpy as np
import pytest

from exca import cachedict
from exca.cachedict import CacheDict, CacheDictWarning


def test_spec_example(tmp_path: Path) -> None:
    # verbatim from the "Caching" section of the spec
    import numpy as np

    from exca import cachedict

    # create a cache dict (specialized for numpy arrays)
    cache = cachedict.CacheDict(folder=tmp_path, keep_in_ram=True)

    # the dictionary is empty:
    assert not cache

    # add a value into the cache
    x = np.random.rand(2, 12)
    with cache.writer() as writer:
        # cache dict needs a writer context to
        # be more efficient in case of multiple writes
        writer["blublu"] = x
    assert "blublu" in cache
    # the value is now available
    np.testing.assert_almost_equal(cache["blublu"], x)
    assert set(cache.keys()) == {"blublu"}

    # create a new dict instance with same cache folder
    cache2 = cachedict.CacheDict(folder=tmp_path)
    # the data is still available (loading from cache folder)
    assert set(cache2.keys()) == {"blublu"}


def _index_lines(folder: Path) -> list[str]:
    return [
        line
        for f in sorted(folder.glob("*-info.jsonl"))
        for line in f.read_text().splitlines()
        if line  # the empty first line of each index file
    ]


def _assert_equal(a: tp.Any, b: tp.Any) -> None:
    assert type(a) is type(b) or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray))
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_equal(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_equal(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


class Custom:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Custom) and other.x == self.x


VALUES: dict[str, tp.Any] = {
    "array": np.arange(12, dtype=np.float32).reshape(3, 4),
    "fortran": np.asfortranarray(np.random.rand(3, 5)),
    "non_contiguous": np.arange(20)[::3],
    "empty_array": np.zeros((0, 3), dtype=np.int16),
    "scalar_array": np.array(3.5),
    "bool_array": np.array([True, False]),
    "datetimes": np.array(["2020-01-01", "2021-06-30"], dtype="datetime64[D]"),
    "unicode_array": np.array(["a", "bcé"]),
    "record_array": np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
    "object_array": np.array([None, {"a": 1}], dtype=object),
    "text": "hello",
    "long_text": "é" * 5000,
    "int": 12,
    "big_int": 2**100,
    "float": 0.1,
    "nan": float("nan"),
    "none": None,
    "bool": True,
    "list": [1, "a", None, [2.5]],
    "tuple": (1, (2, "b")),
    "json_dict": {"a": 1, "b": [1, 2], "c": {"d": "e"}},
    "big_json": {"x": list(range(3000))},
    "mixed_dict": {
        "arr": np.ones((2, 2)),
        "nested": {"arr": np.zeros(3, dtype=np.uint8), "s": "t", "l": [np.ones(1), 2]},
        "obj": Custom(3),
        "np_scalar": np.float32(2.5),
        "tuple": (np.ones(2), 1),
        "inf": float("-inf"),
    },
    "dict_int_keys": {1: "a", 2: "b"},
    "dict_hash_key": {"#type": "not a format"},
    "custom": Custom(1),
    "big_custom": Custom(10**600),
    "bytes": b"\x00\x01",
}


@pytest.mark.parametrize("cache_type", [None, "Pickle", "Auto"])
def test_roundtrip_all_values(tmp_path: Path, cache_type: str | None) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path, cache_type=cache_type)
    with cache.writer() as w:
        for key, value in VALUES.items():
            w[key] = value
    fresh: CacheDict[tp.Any] = CacheDict(tmp_path)
    assert set(fresh.keys()) == set(VALUES)
    for key, value in VALUES.items():
        _assert_equal(value, fresh[key])
        _assert_equal(value, cache[key])  # the writing instance reads its own writes


def test_default_formats(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    with cache.writer() as w:
        w["array"] = np.ones(3)
        w["text"] = "hi"
        w["json"] = {"a": [1, 2]}
        w["mixed"] = {"a": np.ones(2)}
        w["custom"] = Custom(1)
        w["int"] = 3
    types = {}
    import orjson

    for line in _index_lines(tmp_path):
        item = orjson.loads(line)
        types[item["#key"]] = item["#type"]
    assert types == {
        "array": "MemmapArray",
        "text": "String",
        "json": "Json",
        "mixed": "Auto",
        "custom": "Pickle",
        "int": "Json",
    }
    # memmap arrays are read-only views over a shared mapping
    arr = CacheDict(tmp_path)["array"]
    assert not arr.flags.writeable
    assert isinstance(arr.base, memoryview) or arr.base is not None


@pytest.mark.parametrize(
    "cache_type,suffix",
    [("NumpyArray", ".npy"), ("Pickle", ".pkl"), ("MemmapArray", ".data")],
)
def test_explicit_formats_files(tmp_path: Path, cache_type: str, suffix: str) -> None:
    cache: CacheDict[np.ndarray] = CacheDict(tmp_path, cache_type=cache_type)
    with cache.writer() as w:
        for k in range(3):
            w[f"k{k}"] = np.full(4, k)
    files = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
    assert files and all(p.suffix == suffix for p in files)
    assert len(files) == (1 if cache_type == "MemmapArray" else 3)
    fresh: CacheDict[np.ndarray] = CacheDict(tmp_path)
    for k in range(3):
        np.testing.assert_array_equal(fresh[f"k{k}"], np.full(4, k))


ARRAYS = {
    "c": np.arange(12, dtype=np.float32).reshape(3, 4),
    "fortran": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    "strided": np.arange(20, dtype=np.int16)[::3],
    "scalar": np.array(2.5),
    "empty": np.zeros((0, 3), dtype=np.int64),
    "big_endian": np.arange(5, dtype=">i4"),
    "datetime": np.array(["2024-01-01", "2025-06-30"], dtype="datetime64[D]"),
    "unicode": np.array(["a", "bé"]),
    "bool": np.array([True, False]),
    "complex": np.array([1 + 2j]),
    "records": np.array([(1, 2.0)], dtype=[("a", "i4"), ("b", "f8")]),
}


@pytest.mark.parametrize("name", list(ARRAYS))
def test_npy_files_are_standard_and_round_trip(tmp_path: Path, name: str) -> None:
    value = ARRAYS[name]
    cache: CacheDict[np.ndarray] = CacheDict(tmp_path, cache_type="NumpyArray")
    with cache.writer() as w:
        w["x"] = value
    (path,) = (tmp_path / "data").rglob("*.npy")
    for loaded in (np.load(path), CacheDict(tmp_path)["x"]):  # numpy reads our files too
        assert loaded.dtype == value.dtype and loaded.shape == value.shape
        np.testing.assert_array_equal(loaded, value)
        assert loaded.flags.f_contiguous == (
            name == "fortran" or loaded.ndim < 2 or not loaded.size
        )
    loaded = CacheDict(tmp_path)["x"]
    assert loaded.flags.writeable  # a copy in RAM, like np.load
    if loaded.size:
        loaded[...] = loaded  # really writable


def test_truncated_npy_and_pickle_files_are_errors(tmp_path: Path) -> None:
    for cache_type in ["NumpyArray", "Pickle"]:
        folder = tmp_path / cache_type
        cache: CacheDict[np.ndarray] = CacheDict(folder, cache_type=cache_type)
        with cache.writer() as w:
            w["x"] = np.ones(1000)
        (path,) = (folder / "data").rglob("*.*")
        with path.open("r+b") as f:
            f.truncate(200)
        with pytest.raises(RuntimeError, match=r"'x'.*truncated"):
            CacheDict(folder)["x"]


def test_pickle_of_large_buffers_is_streamed(tmp_path: Path) -> None:
    value = {"big": np.arange(600_000, dtype=np.float64), "small": np.ones(3), "s": "x"}
    cache: CacheDict[tp.Any] = CacheDict(tmp_path, cache_type="Pickle")
    with cache.writer() as w:
        w["x"] = value
    (path,) = (tmp_path / "data").rglob("*.pkl")
    with path.open("rb") as f:  # a plain pickle file
        _assert_equal(value, pickle.load(f))
    _assert_equal(value, CacheDict(tmp_path)["x"])


def test_unknown_cache_type(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown cache_type 'Blah'.*MemmapArray"):
        CacheDict(tmp_path, cache_type="Blah")


def test_write_needs_context_and_no_overwrite(tmp_path: Path) -> None:
    cache: CacheDict[int] = CacheDict(tmp_path)
    with pytest.raises(RuntimeError, match="write"):
        cache["a"] = 1
    with cache.write():
        cache["a"] = 1
        with pytest.raises(ValueError, match="'a' is already in cache"):
            cache["a"] = 2
        with pytest.raises(TypeError, match="keys must be str"):
            cache[3] = 2  # type: ignore[index]
    with pytest.raises(RuntimeError, match="delete"):
        del cache["a"]
    with pytest.raises(KeyError):
        cache["missing"]
    assert cache["a"] == 1


def test_delete_and_rewrite(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path, cache_type="NumpyArray")
    with cache.writer() as w:
        w["a"] = np.ones(2)
        w["b"] = np.zeros(2)
    other: CacheDict[tp.Any] = CacheDict(tmp_path)
    assert set(other.keys()) == {"a", "b"}
    npy_before = set((tmp_path / "data").rglob("*.npy"))
    with cache.writer() as w:
        del w["a"]
        with pytest.raises(KeyError):
            del w["a"]
    assert "a" not in cache
    assert len(set((tmp_path / "data").rglob("*.npy"))) == len(npy_before) - 1  # file removed
    assert set(other.keys()) == {"b"}  # another instance sees the deletion
    assert set(CacheDict(tmp_path).keys()) == {"b"}
    with other.writer() as w:  # re-write by another instance after the deletion
        w["a"] = np.full(2, 7)
    np.testing.assert_array_equal(cache["a"], [7, 7])
    np.testing.assert_array_equal(CacheDict(tmp_path)["a"], [7, 7])


def test_delete_nested_files(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    big = Custom(10**3000)  # pickled to its own file (too big to inline)
    with cache.writer() as w:
        w["d"] = {"obj": big, "x": 1}
    assert len(list((tmp_path / "data").rglob("*.pkl"))) == 1
    assert CacheDict(tmp_path)["d"]["obj"] == big
    with cache.writer() as w:
        del w["d"]
    assert not list((tmp_path / "data").rglob("*.pkl"))


def test_clear(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path, keep_in_ram=True)
    with cache.writer() as w:
        w["a"] = np.ones(2)
        w["b"] = "x"
    other: CacheDict[tp.Any] = CacheDict(tmp_path, cache_type="Pickle")
    with other.writer() as w:
        w["c"] = 12
    assert len(cache) == 3
    cache.clear()
    assert not cache and list(cache.keys()) == []
    assert list(other.keys()) == []
    assert list(CacheDict(tmp_path).keys()) == []
    # all writers were of this process and closed: nothing left on disk
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
    with cache.writer() as w:
        w["a"] = "new"
    assert CacheDict(tmp_path)["a"] == "new"


def test_clear_keeps_marker_with_live_writer(tmp_path: Path) -> None:
    cache: CacheDict[int] = CacheDict(tmp_path)
    other: CacheDict[int] = CacheDict(tmp_path)
    with other.writer() as w:
        w["a"] = 1
        # "other" is an open writer (possibly still writing): its files stay, the
        # clear marker makes its old lines dead for every reader
        cache.clear()
        assert "a" not in CacheDict(tmp_path)
        w["b"] = 2
    assert set(CacheDict(tmp_path).keys()) == {"b"}


def test_ram_only() -> None:
    cache: CacheDict[tp.Any] = CacheDict(None)
    assert not cache
    value = {"a": [1]}
    with cache.writer() as w:
        w["x"] = value
    assert cache["x"] is value
    assert list(cache) == ["x"] and len(cache) == 1 and "x" in cache
    with cache.writer() as w:
        del w["x"]
    assert "x" not in cache
    with cache.writer() as w:
        w["y"] = 1
    cache.clear()
    assert not cache


def test_keep_in_ram(tmp_path: Path) -> None:
    value = Custom(3)
    cache: CacheDict[Custom] = CacheDict(tmp_path, keep_in_ram=True)
    with cache.writer() as w:
        w["a"] = value
    assert cache["a"] is value  # written value kept
    reader: CacheDict[Custom] = CacheDict(tmp_path, keep_in_ram=True)
    first = reader["a"]
    assert first == value and first is not value
    assert reader["a"] is first  # loaded value kept
    no_ram: CacheDict[Custom] = CacheDict(tmp_path)
    assert no_ram["a"] is not no_ram["a"]
    # a deletion by another instance is noticed at the next refresh
    with cache.writer() as w:
        del w["a"]
    assert list(reader.keys()) == []
    with pytest.raises(KeyError):
        reader["a"]


def test_pickle_gives_fresh_view(tmp_path: Path) -> None:
    cache: CacheDict[int] = CacheDict(tmp_path, keep_in_ram=True, cache_type="Json")
    with cache.writer() as w:
        w["a"] = 1
    clone = pickle.loads(pickle.dumps(cache))
    assert clone.folder == tmp_path and clone.keep_in_ram and clone.cache_type == "Json"
    assert not clone._ram
    assert clone["a"] == 1
    assert "CacheDict(folder=" in repr(clone)


def test_items_values(tmp_path: Path) -> None:
    cache: CacheDict[int] = CacheDict(tmp_path)
    with cache.writer() as w:
        for k in range(5):
            w[str(k)] = k
    assert dict(CacheDict(tmp_path).items()) == {str(k): k for k in range(5)}
    assert sorted(CacheDict(tmp_path).values()) == list(range(5))
    assert sorted(CacheDict(tmp_path)) == [str(k) for k in range(5)]


def test_frozen_cache_folder(tmp_path: Path) -> None:
    cache: CacheDict[int] = CacheDict(tmp_path)
    other: CacheDict[int] = CacheDict(tmp_path)
    with cache.frozen_cache_folder():
        with other.writer() as w:
            w["a"] = 1
        assert "a" not in cache  # folder considered frozen
    assert "a" in cache


WEIRD_KEYS = [
    "a/b/c",
    "../../escape",
    "/absolute/path",
    "..",
    ".",
    "",
    " ",
    "ünïcødé-漢字-🙂",
    "x" * 1500,
    "new\nline\ttab",
    "nul\x00char",
    "C:\\windows\\path",
    "a:b*c?d<e>f|g\"h'",
    "-rf",
    "~user",
    "$HOME",
]


@pytest.mark.parametrize("cache_type", [None, "NumpyArray", "Pickle", "Auto"])
def test_weird_keys(tmp_path: Path, cache_type: str | None) -> None:
    folder = tmp_path / "cache"
    cache: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)
    with cache.writer() as w:
        for k, key in enumerate(WEIRD_KEYS):
            w[key] = (
                {"arr": np.full(3, k), "big": Custom(10**2000)}
                if cache_type == "Auto"
                else np.full(3, k)
            )
    # nothing outside the folder, bounded file names
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]
    for path in folder.rglob("*"):
        assert len(path.name) <= 150, path.name
        assert path.resolve().is_relative_to(folder.resolve())
    fresh: CacheDict[tp.Any] = CacheDict(folder)
    assert set(fresh.keys()) == set(WEIRD_KEYS)
    for k, key in enumerate(WEIRD_KEYS):
        value = fresh[key]
        arr = value["arr"] if cache_type == "Auto" else value
        np.testing.assert_array_equal(arr, np.full(3, k))


def test_keys_differing_by_sanitised_chars_do_not_collide(tmp_path: Path) -> None:
    cache: CacheDict[int] = CacheDict(tmp_path, cache_type="Pickle")
    keys = ["a/b", "a_b", "a b", "a\\b", "a?b"]
    with cache.writer() as w:
        for k, key in enumerate(keys):
            w[key] = k
    fresh: CacheDict[int] = CacheDict(tmp_path)
    assert {key: fresh[key] for key in keys} == {key: k for k, key in enumerate(keys)}


def test_two_caches_of_one_thread_never_share_a_file_name(tmp_path: Path) -> None:
    # both write through the same writer files (same process and thread): the write
    # times, hence the file names, must stay unique across the two objects
    first: CacheDict[int] = CacheDict(tmp_path, cache_type="Pickle")
    second: CacheDict[int] = CacheDict(tmp_path, cache_type="Pickle")
    with first.writer() as w1, second.writer() as w2:
        for k in range(200):
            w1[f"a/{k}"] = k
            w2[f"a_{k}"] = -k  # sanitised to the same file name prefix
    names = [p.name for p in (tmp_path / "data").rglob("*.pkl")]
    assert len(names) == len(set(names)) == 400
    fresh: CacheDict[int] = CacheDict(tmp_path)
    assert all(fresh[f"a/{k}"] == k and fresh[f"a_{k}"] == -k for k in range(200))


def test_index_filenames_cannot_escape(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    secret = tmp_path / "secret.pkl"
    secret.write_bytes(pickle.dumps("secret"))
    (folder / "evil-info.jsonl").write_text(
        '{"#type":"Pickle","filename":"../secret.pkl","#key":"k","#t":1}\n'
    )
    cache: CacheDict[str] = CacheDict(folder)
    assert "k" in cache
    with pytest.raises(RuntimeError, match=r"'k'.*evil-info.jsonl:1.*not inside"):
        cache["k"]


# ---------------------------------------------------------------- index robustness
def _write_keys(folder: Path, n: int) -> Path:
    cache: CacheDict[tp.Any] = CacheDict(folder)
    with cache.writer() as w:
        for k in range(n):
            w[f"k{k}"] = np.full(2, k) if k % 2 else {"v": k}
    (index,) = folder.glob("*-info.jsonl")
    return index


def test_garbled_and_truncated_lines(tmp_path: Path) -> None:
    index = _write_keys(tmp_path, 6)
    lines = index.read_bytes().split(b"\n")
    assert lines[0] == lines[-1] == b""  # empty first line (see LINE_LEAD), last newline
    lines[3] = lines[3][: len(lines[3]) // 2]  # garbled line 4 (k2)
    lines[5] = b"[1, 2]"  # valid json, not an entry (k4)
    lines[-1] = b'{"#type":"Json","content":1,"#ke'  # partial last line: being written
    index.write_bytes(b"\n".join(lines))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache: CacheDict[tp.Any] = CacheDict(tmp_path)
        keys = set(cache.keys())
        assert keys == {"k0", "k1", "k3", "k5"}
        for key in keys:
            cache[key]
        list(cache.keys())  # no new warning on refresh
    messages = [str(w.message) for w in caught if issubclass(w.category, CacheDictWarning)]
    assert len(messages) == 2, messages
    assert f"line 4 of CacheDict index {index}" in messages[0]
    assert f"line 6 of CacheDict index {index}" in messages[1]
    # the partial line completes later: it becomes visible, no warning
    with index.open("ab") as f:
        f.write(b'y":"late","#t":1}\n')
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cache["late"] == 1


def test_garbled_line_with_valid_prefix(tmp_path: Path) -> None:
    # lines are only fully parsed when read: a line whose start looks right is listed,
    # then dropped with a warning naming the file and line when its value is loaded
    index = _write_keys(tmp_path, 3)
    lines = index.read_bytes().split(b"\n")
    lines[2] = b' {"#key":"k1","#t":12,"#type":"Json","content":{"a":}'  # after the header
    index.write_bytes(b"\n".join(lines))
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    assert cache["k0"] == {"v": 0}
    warns = pytest.warns(CacheDictWarning, match=f"line 3 of CacheDict index {index}")
    with warns, pytest.raises(KeyError):
        cache["k1"]
    assert set(cache.keys()) == {"k0", "k2"}
    assert cache["k2"] == {"v": 2}


def test_entry_with_missing_data_is_an_error_naming_the_file(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path, cache_type="Pickle")
    with cache.writer() as w:
        w["a"] = 1
    for path in (tmp_path / "data").rglob("*.pkl"):
        path.unlink()
    (index,) = tmp_path.glob("*-info.jsonl")
    with pytest.raises(RuntimeError, match=rf"'a'.*{index.name}:2"):
        CacheDict(tmp_path)["a"]


def test_truncated_memmap_data_is_an_error(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    with cache.writer() as w:
        w["a"] = np.ones(1000)
    (data,) = (tmp_path / "data").rglob("arrays.data")
    with data.open("r+b") as f:
        f.truncate(100)
    with pytest.raises(RuntimeError, match="truncated"):
        CacheDict(tmp_path)["a"]


def test_unknown_format_in_index(tmp_path: Path) -> None:
    (tmp_path / "x-info.jsonl").write_text('{"#type":"NotRegistered","#key":"k","#t":1}\n')
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    assert list(cache.keys()) == ["k"]
    with pytest.raises(RuntimeError, match=r"NotRegistered.*x-info.jsonl:1"):
        cache["k"]


def test_last_line_wins_same_order_for_every_reader(tmp_path: Path) -> None:
    # two index files with the same key: the line with the larger #t wins,
    # whatever the file names' order
    (tmp_path / "b-info.jsonl").write_text('{"#type":"Json","content":"old","#key":"k","#t":5}\n')
    (tmp_path / "a-info.jsonl").write_text(
        '{"#type":"Json","content":"new","#key":"k","#t":9}\n'
        '{"#type":"#deleted","#key":"gone","#t":9}\n'
    )
    (tmp_path / "c-info.jsonl").write_text('{"#type":"Json","content":1,"#key":"gone","#t":3}\n')
    assert CacheDict(tmp_path)["k"] == "new"
    assert "gone" not in CacheDict(tmp_path)


def test_reader_sees_new_keys_and_reads_only_tails(tmp_path: Path) -> None:
    reader: CacheDict[int] = CacheDict(tmp_path)
    assert "a" not in reader
    writer: CacheDict[int] = CacheDict(tmp_path, cache_type="Json")
    with writer.writer() as w:
        w["a"] = 1
        assert "a" in reader and reader["a"] == 1
        w["b"] = 2
        assert set(reader.keys()) == {"a", "b"}
    view = reader._view
    assert view is not None
    ((name, state),) = view._files.items()
    assert state.lines == 3 and state.consumed == (tmp_path / name).stat().st_size  # header + 2


# ---------------------------------------------------------------- formats registry
class Point:
    def __init__(self, x: float, y: float) -> None:
        self.x, self.y = x, y


def test_register_custom_format(tmp_path: Path) -> None:
    @cachedict.register(default_for=Point)
    class PointFormat(cachedict.Handler):
        @classmethod
        def dump(cls, ctx: cachedict.DumpContext, value: Point) -> dict[str, tp.Any]:
            name, path = ctx.key_file(".pt")
            Path(path).write_text(f"{value.x},{value.y}")
            return {"filename": name}

        @classmethod
        def load(cls, ctx: cachedict.LoadContext, info: dict[str, tp.Any]) -> Point:
            x, y = Path(ctx.path(info["filename"])).read_text().split(",")
            return Point(float(x), float(y))

    try:
        cache: CacheDict[tp.Any] = CacheDict(tmp_path)
        with cache.writer() as w:
            w["p"] = Point(1, 2)  # selected by type
            w["nested"] = {"p": Point(3, 4), "a": 1}  # selected inside containers too
        assert "PointFormat" in cachedict.HANDLERS
        assert any('"#type":"PointFormat"' in line for line in _index_lines(tmp_path))
        fresh: CacheDict[tp.Any] = CacheDict(tmp_path)
        assert (fresh["p"].x, fresh["p"].y) == (1, 2)
        assert fresh["nested"]["p"].y == 4
        named: CacheDict[tp.Any] = CacheDict(tmp_path / "named", cache_type="PointFormat")
        with named.writer() as w:
            w["q"] = Point(5, 6)
        assert CacheDict(tmp_path / "named")["q"].x == 5

        class Other(cachedict.Handler):
            pass

        with pytest.raises(ValueError, match="already registered"):
            cachedict.register(Other, name="PointFormat")
        with pytest.raises(TypeError, match="dump and load"):
            cachedict.register(int)
    finally:
        from exca.cachedict import registry

        registry.HANDLERS.pop("PointFormat", None)
        registry._DEFAULTS.pop(Point, None)
        registry._TYPE_CACHE.clear()


def test_failed_dump_leaves_nothing(tmp_path: Path) -> None:
    class Unpicklable:
        def __reduce__(self) -> tp.Any:
            raise RuntimeError("cannot pickle me")

    cache: CacheDict[tp.Any] = CacheDict(tmp_path, cache_type="Pickle")
    with cache.writer() as w:
        with pytest.raises(RuntimeError, match="cannot pickle me"):
            w["a"] = Unpicklable()
        w["b"] = 1
    assert set(CacheDict(tmp_path).keys()) == {"b"}
    assert len(list((tmp_path / "data").rglob("*.pkl"))) == 1


def test_lazy_optional_imports() -> None:
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from exca.cachedict import CacheDict\n"
        "c = CacheDict(None)\n"
        "assert 'pandas' not in sys.modules and 'torch' not in sys.modules\n"
        "assert 'submitit' not in sys.modules and 'hydra' not in sys.modules\n"
    )
    root = Path(__file__).parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_pandas_formats(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    for cache_type in [None, "PandasDataFrame", "ParquetPandasDataFrame", "Pickle"]:
        folder = tmp_path / str(cache_type)
        cache: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)
        with cache.writer() as w:
            w["df"] = df
        pd.testing.assert_frame_equal(CacheDict(folder)["df"], df)


def test_torch_tensor(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    tensors = {"f": torch.rand(3, 4), "bf16": torch.rand(5).to(torch.bfloat16)}
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    with cache.writer() as w:
        for key, t in tensors.items():
            w[key] = t
    fresh: CacheDict[tp.Any] = CacheDict(tmp_path)
    for key, t in tensors.items():
        assert torch.equal(fresh[key], t)


# ---------------------------------------------------------------- file descriptors
def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_many_memmaps_do_not_exhaust_fds(tmp_path: Path) -> None:
    n = 20_000
    cache: CacheDict[np.ndarray] = CacheDict(tmp_path)
    with cache.writer() as w:
        for k in range(n):
            w[f"k{k}"] = np.full(4, k, dtype=np.float64)
    before = _open_fds()
    fresh: CacheDict[np.ndarray] = CacheDict(tmp_path, keep_in_ram=True)
    arrays = [fresh[f"k{k}"] for k in range(n)]  # all alive at once
    assert _open_fds() - before <= 4
    assert all(arrays[k][0] == k for k in range(0, n, n // 100))
    assert sum(int(a[-1]) for a in arrays) == n * (n - 1) // 2


@pytest.mark.skipif(not Path("/proc/self/fd").exists(), reason="needs /proc")
def test_mapping_cache_is_bounded(tmp_path: Path) -> None:
    import threading

    def write(k: int) -> None:  # one writer (hence one data file) per thread
        cache: CacheDict[np.ndarray] = CacheDict(tmp_path)
        with cache.writer() as w:
            w[f"k{k}"] = np.full(3, k)

    for k in range(12):
        thread = threading.Thread(target=write, args=(k,))
        thread.start()
        thread.join()
    assert len(list((tmp_path / "data").rglob("arrays.data"))) >= 2
    before = _open_fds()
    fresh: CacheDict[np.ndarray] = CacheDict(tmp_path)
    fresh._maps.max_files = 3
    for _ in range(2):
        for k in range(12):
            assert fresh[f"k{k}"].sum() == 3 * k  # arrays dropped: mappings can close
    assert _open_fds() - before <= 3


def test_data_of_a_writer_that_stored_nothing_is_removed_on_exit(tmp_path: Path) -> None:
    class Unpicklable:
        def __reduce__(self) -> tp.Any:
            raise TypeError("no pickling")

    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    # the array is appended, then pickling the other value fails: no index line
    with pytest.raises(ValueError), cache.writer() as w:
        try:
            w["a"] = {"arr": np.arange(3), "bad": {1: Unpicklable()}}
        except Exception as e:
            raise ValueError("write failed") from e
    assert not list((tmp_path / "data").glob("*/*")), "orphaned data files remain"
    with cache.writer() as w:  # a writer that stored something keeps its files
        w["b"] = np.arange(4)
    assert list((tmp_path / "data").glob("*/arrays.data"))
    assert CacheDict(tmp_path)["b"].tolist() == [0, 1, 2, 3]
