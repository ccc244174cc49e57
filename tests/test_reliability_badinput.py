"""Reliability campaign (issue 9): hostile and broken input.

Each case gives a clear error (naming the key, file or field) or a logged skip, never
a wrong value, never a write outside the cache folder:

- fuzzed index files: truncated lines, garbage lines, JSON of the wrong shape,
  entries with hostile parameters (paths leaving the folder, negative offsets, ...);
- truncated (or emptied, or removed) data files of every storage format;
- wrong-typed configs (pydantic models with infras, the Hydra bridge) and Hydra
  override typos;
- read-only folders (a read-only tmpfs mount when possible, and a simulated one);
- a full disk (a small tmpfs when possible, and simulated failing writes);
- keys, item uids and config values with path-traversal characters.

The tests run as root, which ignores file permissions: read-only and full disks are
real mounts (tmpfs) when the test may mount, else simulated by failing system calls.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import io
import os
import pickle
import random
import shutil
import subprocess
import typing as tp
import warnings
from pathlib import Path

import numpy as np
import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import exca
from exca import ConfDict
from exca import uid as uidlib
from exca.cachedict import CacheDict, CacheDictWarning
from tests.test_reliability_crash import same

# # # # # helpers # # # # #


def sample_values() -> dict[str, tuple[str | None, tp.Any]]:
    """One key per storage format (and inline/shared-file variants): key -> (cache_type,
    value)."""
    rng = np.random.default_rng(0)
    return {
        "memmap": (None, rng.random((7, 3))),
        "memmap-f": ("MemmapArray", np.asfortranarray(rng.random((4, 5)))),
        "npy": ("NumpyArray", rng.integers(0, 9, size=(3, 4))),
        "pickle": ("Pickle", {"set": {1, 2}, "c": complex(1, 2)}),
        "json-inline": ("Json", {"a": [1, 2.5, None, "x"]}),
        "json-file": ("Json", {"big": list(range(1000))}),
        "text-inline": ("String", "short text"),
        "text-file": ("String", "long text é " * 400),
        "auto": (None, {"arr": rng.random(5), "t": (1, "b"), "n": float("nan")}),
    }


def write_samples(folder: Path) -> dict[str, tp.Any]:
    values = {}
    for key, (cache_type, value) in sample_values().items():
        cache: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)
        with cache.writer() as w:
            w[key] = value
        values[key] = value
    return values


def check_reads(
    folder: Path, values: dict[str, tp.Any], may_fail: tp.Container[str] = ()
) -> dict[str, str]:
    """Reads every key with a fresh CacheDict: keys not in ``may_fail`` must read back
    equal; the others may be missing or raise a clear error naming the key, never give
    another value. Returns {key: outcome} for the keys that did not read back."""
    outcomes: dict[str, str] = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cache: CacheDict[tp.Any] = CacheDict(folder)
        keys = set(cache.keys())  # listing never raises
        for key, value in values.items():
            if key not in keys:
                assert key in may_fail, f"{key} vanished"
                outcomes[key] = "missing"
                continue
            try:
                got = cache[key]
            except KeyError as e:  # a garbled line found when parsing it (with a warning)
                assert key in may_fail, f"{key}: {e!r}"
                outcomes[key] = "KeyError"
                continue
            except Exception as e:
                assert key in may_fail, f"{key}: {e!r}"
                assert repr(key) in str(e) or key in str(e), f"error does not name {key}: {e}"
                outcomes[key] = type(e).__name__
                continue
            assert same(got, value), f"wrong value for {key}: {got!r}"
    for w in caught:  # warnings are CacheDict warnings naming the index file and line
        assert issubclass(w.category, CacheDictWarning), w
        assert "-info.jsonl" in str(w.message) and "line" in str(w.message)
    return outcomes


def files_outside(root: Path, folder: Path) -> list[Path]:
    """Files and folders under ``root`` that are not ``folder`` or inside it."""
    inside = folder.resolve()
    return [
        p for p in root.rglob("*") if p.resolve() != inside and inside not in p.resolve().parents
    ]


# # # # # fuzzed index lines # # # # #

HOSTILE_LINES = [
    b"[]",
    b'"just a string"',
    b"null",
    b"{}",
    b'{"#key":"z1"}',
    b'{"#key":12,"#t":1,"#type":"Json","content":1}',
    b'{"#key":"z3","#t":1,"#type":"NoSuchFormat"}',
    b'{"#key":"z4","#t":1,"#type":"Json"}',
    b'{"#key":"z5","#t":1,"#type":"Pickle","filename":"../../outside.pkl"}',
    b'{"#key":"z6","#t":1,"#type":"NumpyArray","filename":"/etc/passwd"}',
    b'{"#key":"z7","#t":1,"#type":"MemmapArray","filename":"data/x/../../../outside",'
    b'"offset":0,"shape":[2],"dtype":"<f8"}',
    b'{"#key":"z8","#t":1,"#type":"MemmapArray","filename":"data/none/arrays.data",'
    b'"offset":-8,"shape":[2],"dtype":"<f8"}',
    b'{"#key":"z9","#t":1,"#type":"String","filename":"data/none/texts.txt","offset":0,'
    b'"length":-5}',
    b'{"#key":"z11","#t":1,"#type":"Pickle","filename":["a"]}',
    b'{"#key":"z12","#t":1,"#type":"Pickle","filename":"data\\u0000x"}',
    b'{"#key":"z13","#t":1,"#type":"Auto","content":{"#type":"Pickle","filename":"../x"}}',
    b"\xff\xfe\x00garbage",
    b'{"#key":"z14","#t":1,"#type":"#cleared"',
]


def _mutate(line: bytes, rng: random.Random) -> list[bytes]:
    """A broken version of a line (it never becomes another valid entry)."""
    kind = rng.randrange(4)
    if kind == 0:  # truncated (its closing brace is lost)
        return [line[: rng.randrange(1, len(line) - 1)]]
    if kind == 1:  # garbage instead of the line
        return [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 60))).replace(b"\n", b"")]
    if kind == 2:  # garbage line inserted before an intact one
        return [rng.choice(HOSTILE_LINES), line]
    return [line, line]  # duplicated line (same key, same value)


@pytest.mark.parametrize("seed", range(int(os.environ.get("EXCA_FUZZ_SEEDS", "12"))))
def test_fuzzed_index_lines(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    sentinel = tmp_path / "outside.pkl"  # what hostile lines point at
    sentinel.write_bytes(pickle.dumps("NOT FROM THE CACHE"))
    folder = tmp_path / "cache"
    values = write_samples(folder)
    (index,) = folder.glob("*-info.jsonl")
    lines = [line for line in index.read_bytes().split(b"\n")[:-1] if line]  # no header
    damaged: set[str] = set()
    out: list[bytes] = []
    for line in lines:
        key = line.split(b'"#key":"', 1)[1].split(b'"', 1)[0].decode()
        if rng.random() < 0.4:
            mutated = _mutate(line, rng)
            if line not in mutated:
                damaged.add(key)
            out += mutated
        else:
            out.append(line)
    if rng.random() < 0.5:  # a partial last line, as a killed writer leaves
        out.append(lines[0][: len(lines[0]) // 2])
        index.write_bytes(b"\n".join(out))
    else:
        index.write_bytes(b"\n".join(out) + b"\n")
    # another writer's index made only of hostile lines
    hostile = rng.sample(HOSTILE_LINES, 8)
    (folder / "evil-1-1-abcdef-info.jsonl").write_bytes(b"\n".join(hostile) + b"\n")
    check_reads(folder, values, may_fail=damaged)
    # hostile keys never load (they would be read outside the folder, or are broken)
    cache: CacheDict[tp.Any] = CacheDict(folder)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for key in list(cache):
            if key.startswith("z"):
                with pytest.raises((KeyError, RuntimeError)) as info:
                    cache[key]
                assert key in str(info.value)
        # deleting them, and clearing, never touches files outside the folder (what
        # cannot be deleted is skipped with a warning naming the key)
        with cache.writer() as w:
            for key in [k for k in cache if k.startswith("z")]:
                with contextlib.suppress(KeyError):
                    del w[key]
        cache.clear()
    for warning in caught:
        text = str(warning.message)
        assert issubclass(warning.category, CacheDictWarning) or (
            text.startswith("Could not delete the files of key 'z") and str(folder) in text
        ), text
    assert pickle.loads(sentinel.read_bytes()) == "NOT FROM THE CACHE"
    assert files_outside(tmp_path, folder) == [sentinel]


@pytest.mark.parametrize("bad_t", [b'"12"', b"1.5", b"true", b"null", b"1e3"])
def test_non_integer_t_is_a_skipped_line(tmp_path: Path, bad_t: bytes) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    # the hostile index sorts first, so its line is read first (fast path)
    (folder / "a-1-1-aaaaaa-info.jsonl").write_bytes(
        b'{"#key":"k","#t":' + bad_t + b',"#type":"Json","content":"hostile"}\n'
    )
    (folder / "b-1-1-bbbbbb-info.jsonl").write_bytes(
        b'{"#key":"k","#t":5,"#type":"Json","content":"legit"}\n'
    )
    with pytest.warns(CacheDictWarning, match="a-1-1-aaaaaa-info.jsonl"):
        cache: CacheDict[tp.Any] = CacheDict(folder)
        assert list(cache.keys()) == ["k"]
        assert cache["k"] == "legit"


# # # # # truncated data files # # # # #


def _data_file_owners(folder: Path) -> dict[str, set[str]]:
    """Data file name (relative to the folder) -> keys whose entry refers to it."""
    import json

    owners: dict[str, set[str]] = {}

    def walk(key: str, value: tp.Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("filename"), str):
                owners.setdefault(value["filename"], set()).add(key)
            for sub in value.values():
                walk(key, sub)
        elif isinstance(value, list):
            for sub in value:
                walk(key, sub)

    for index in folder.glob("*-info.jsonl"):
        for line in index.read_text().splitlines():
            if not line:  # the empty first line
                continue
            item = json.loads(line)
            walk(item["#key"], item)
    return owners


@pytest.mark.parametrize("seed", range(int(os.environ.get("EXCA_FUZZ_SEEDS", "8"))))
def test_truncated_data_files(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    folder = tmp_path / "cache"
    values = write_samples(folder)
    data_files = sorted(p for p in (folder / "data").rglob("*") if p.is_file())
    assert len(data_files) >= 5  # arrays.data, values.json, texts.txt, .npy, .pkl
    owners = _data_file_owners(folder)
    hit: set[str] = set()
    for path in data_files:
        action = rng.randrange(4)
        size = path.stat().st_size
        if action == 0:
            continue
        if action == 1:
            path.write_bytes(path.read_bytes()[: rng.randrange(size)])
        elif action == 2:
            path.write_bytes(b"")
        else:
            path.unlink()
        hit.update(owners.get(path.relative_to(folder).as_posix(), set()))
    outcomes = check_reads(folder, values, may_fail=hit)
    # the damaged keys fail with an error naming the key, the others read back
    assert set(outcomes) <= hit


# # # # # wrong-typed configs # # # # #


class Optim(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    name: tp.Literal["sgd", "adam"] = "sgd"
    lr: float = 0.1


class Train(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    epochs: int = 3
    tags: list[str] = []
    optim: Optim = Optim()
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> float:
        return self.optim.lr * self.epochs


JUNK = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.binary(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
FIELDS = ["epochs", "tags", "optim", "optim.lr", "optim.name", "infra", "infra.folder"]
FIELDS += ["infra.cluster", "infra.version", "infra.mode", "infra.nodes", "nope", "optim.nope"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(FIELDS), JUNK, min_size=1, max_size=3))
def test_wrong_typed_configs_name_the_field(overrides: dict[str, tp.Any]) -> None:
    """A config is either valid (and then every value has its declared type) or
    rejected with a ValidationError naming each bad field; nothing else."""
    try:
        cfg = ConfDict(overrides)
    except TypeError as e:  # a dotted key into a list ("optim": [...], "optim.lr": ...)
        assert "holds a list" in str(e), e
        return
    try:
        train = Train.model_validate(dict(cfg))
    except pydantic.ValidationError as e:
        for error in e.errors():
            top = str(error["loc"][0]) if error["loc"] else ""
            assert top in {f.split(".")[0] for f in FIELDS}, error
        return
    assert isinstance(train.epochs, int) and isinstance(train.optim.lr, float)
    assert train.optim.name in ("sgd", "adam")
    assert all(isinstance(t, str) for t in train.tags)
    assert train.infra.cluster in (None, "auto", "local", "slurm", "debug")
    assert isinstance(train.infra.version, str)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), JUNK, min_size=1, max_size=3))
def test_wrong_typed_configs_through_hydra_bridge(overrides: dict[str, tp.Any]) -> None:
    """exca.hydra.to_model: one ConfigError listing every bad dotted key."""
    from exca.hydra import ConfigError, to_model

    try:
        cfg = ConfDict(overrides)
    except TypeError as e:  # a dotted key into a list ("optim": [...], "optim.lr": ...)
        assert "holds a list" in str(e), e
        return
    try:
        train = to_model(cfg, Train)
    except ConfigError as e:
        assert e.problems
        for problem in e.problems:
            assert any(problem.startswith(f.split(".")[0]) for f in FIELDS), problem
        return
    assert isinstance(train, Train)


UNSUPPORTED = [object(), b"bytes", complex(1, 2), print, Ellipsis, type]


@pytest.mark.parametrize("value", UNSUPPORTED, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("version", uidlib.SUPPORTED_VERSIONS)
def test_unsupported_values_in_uid_name_type_and_key(value: tp.Any, version: int) -> None:
    cfg = ConfDict({"a": {"b": [1, {"c": value}], "d": 2}, "e": 1})
    with pytest.raises(TypeError, match=rf"{type(value).__qualname__}.*'a\.b"):
        cfg.to_uid(version)


# # # # # Hydra override typos # # # # #

BASE = {"optim": {"lr": 0.1, "name": "sgd"}, "seed": 12, "model": {"depth": 3, "width": 8}}
KEYS = ["optim.lr", "optim.name", "seed", "model.depth", "model.width"]


def _typos(key: str, rng: random.Random) -> str:
    head, _, leaf = key.rpartition(".")
    word = list(leaf)
    i = rng.randrange(len(word))
    kind = rng.randrange(4)
    if kind == 0 and len(word) > 2:
        del word[i]
    elif kind == 1 and i + 1 < len(word):
        word[i], word[i + 1] = word[i + 1], word[i]
    elif kind == 2:
        word[i] = rng.choice([c for c in "abcdefghijklmnopqrstuvwxyz" if c != word[i]])
    else:
        word.insert(i, word[i])
    typo = "".join(word)
    return f"{head}.{typo}" if head else typo


def test_override_typos_fail_with_suggestions() -> None:
    from hydra.errors import ConfigCompositionException

    from exca.hydra import apply_overrides

    rng = random.Random(0)
    tried = 0
    for _ in range(60):
        key = rng.choice(KEYS)
        typo = _typos(key, rng)
        if typo in KEYS:
            continue
        tried += 1
        with pytest.raises(ConfigCompositionException) as info:
            apply_overrides(BASE, [f"{typo}=1"])
        message = str(info.value)
        assert repr(typo) in message  # names the misspelled key
        assert "did you mean" in message or "valid keys" in message
    assert tried > 40
    assert ConfDict(BASE) == apply_overrides(BASE, [])  # the input is never modified


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=16), min_size=1, max_size=2))
def test_garbage_overrides_give_clear_errors(overrides: list[str]) -> None:
    """Any override string either applies (changing only what it names) or raises a
    Hydra parse/composition error, a ValueError (sweeps) or a ConfigError."""
    from hydra.errors import ConfigCompositionException, OverrideParseException

    from exca.hydra import ConfigError, apply_overrides

    try:
        out = apply_overrides(BASE, overrides)
    except (OverrideParseException, ConfigCompositionException, ConfigError, ValueError):
        return
    assert isinstance(out, ConfDict)
    assert BASE["seed"] == 12  # input untouched


def test_compose_typo_names_the_key(tmp_path: Path) -> None:
    from hydra import initialize_config_dir
    from hydra.errors import ConfigCompositionException

    from exca.hydra import compose

    (tmp_path / "train.yaml").write_text("epochs: 3\noptim:\n  lr: 0.1\n  name: sgd\n")
    with initialize_config_dir(config_dir=str(tmp_path), version_base=None):
        with pytest.raises(ConfigCompositionException, match=r"did you mean 'optim\.lr'"):
            compose("train", overrides=["optim.lrr=0.5"])
        with pytest.raises(Exception, match=r"epochs") as info:
            compose("train", overrides=["epochs=three"], model=Train)
        assert "int" in str(info.value)


# # # # # read-only folders, full disks # # # # #


def _mount_tmpfs(path: Path, size: str) -> bool:
    """Mounts a tmpfs at path (needs root with CAP_SYS_ADMIN); False if impossible."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    path.mkdir(parents=True, exist_ok=True)
    cmd = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)]
    return subprocess.run(cmd, capture_output=True, check=False).returncode == 0


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> tp.Iterator[Path]:
    """A 1 MB tmpfs (real full-disk and read-only behaviour); the simulated variants of
    these tests run everywhere."""
    mount = tmp_path / "tmpfs"
    if not _mount_tmpfs(mount, "1m"):
        pytest.skip("cannot mount a tmpfs here (needs root); the simulated variant runs")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


class Task(pydantic.BaseModel):
    x: int = 1
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> np.ndarray:
        return np.full(10, self.x)


class Mapper(pydantic.BaseModel):
    scale: int = 1
    infra: exca.MapInfra = exca.MapInfra(version="1")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[tp.Any]) -> tp.Iterator[np.ndarray]:
        for item in items:
            yield np.full(3, len(str(item)) * self.scale)


def _populate(folder: Path) -> dict[str, tp.Any]:
    values = write_samples(folder / "cd")
    assert Task(x=2, infra={"folder": folder}).run().tolist() == [2] * 10
    assert len(list(Mapper(infra={"folder": folder}).process(["a", "bb"]))) == 2
    return values


def _check_read_only(folder: Path, values: dict[str, tp.Any]) -> None:
    """Everything cached reads back; every write fails with an OSError naming a path
    inside the folder; nothing changes."""
    before = {p: p.stat().st_size for p in folder.rglob("*")}
    check_reads(folder / "cd", values)
    assert Task(x=2, infra={"folder": folder}).run().tolist() == [2] * 10
    assert Task(x=2, infra={"folder": folder}).infra.status() == "completed"
    outs = list(Mapper(infra={"folder": folder}).process(["a", "bb"]))
    assert [o.tolist() for o in outs] == [[1] * 3, [2] * 3]
    cache: CacheDict[tp.Any] = CacheDict(folder / "cd")
    attempts: list[tp.Callable[[], tp.Any]] = [
        lambda: cache.__setitem__("new", np.ones(3)),
        lambda: cache.__delitem__("memmap"),
    ]
    for attempt in attempts:
        with pytest.raises(OSError) as info, cache.writer():
            attempt()
        assert str(folder) in str(info.value), info.value
    with pytest.raises(OSError, match=str(folder)):
        Task(x=3, infra={"folder": folder}).run()
    with pytest.raises(OSError, match=str(folder)):
        list(Mapper(infra={"folder": folder}).process(["ccc"]))
    check_reads(folder / "cd", values)  # still all there
    assert {p: p.stat().st_size for p in folder.rglob("*")} == before


def test_read_only_mount(small_tmpfs: Path) -> None:
    folder = small_tmpfs / "cache"
    values = _populate(folder)
    subprocess.run(["mount", "-o", "remount,ro", str(small_tmpfs)], check=True)
    _check_read_only(folder, values)


def _fd_path(fd: int) -> str:
    """The path of an open file descriptor ("" if unknown)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


@contextlib.contextmanager
def checked_writes(check: tp.Callable[[int, int], None]) -> tp.Iterator[None]:
    """Runs ``check(fd, number of bytes)`` before each write of the two system calls
    exca writes files with (``os.write``, ``os.writev``); it may raise."""
    real_write, real_writev = os.write, os.writev

    def write(fd: int, data: tp.Any) -> int:
        check(fd, memoryview(data).nbytes)
        return real_write(fd, data)

    def writev(fd: int, buffers: tp.Sequence[tp.Any]) -> int:
        check(fd, sum(memoryview(b).nbytes for b in buffers))
        return real_writev(fd, buffers)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "write", write)
        mp.setattr(os, "writev", writev)
        yield


@contextlib.contextmanager
def failing_writes(folder: Path, error: int) -> tp.Iterator[None]:
    """Simulates a folder where creating or writing files fails with ``error`` (the
    system calls exca uses: os.open/os.mkdir/open for writing, os.write/os.writev)."""
    root = str(folder.resolve())

    def inside(path: tp.Any) -> bool:
        try:
            return os.path.abspath(os.fsdecode(path)).startswith(root)
        except TypeError:
            return False

    def fail(path: tp.Any) -> tp.NoReturn:
        raise OSError(error, os.strerror(error), os.fsdecode(path))

    real_open, real_mkdir, real_io_open = os.open, os.mkdir, io.open

    def os_open(path: tp.Any, flags: int, *args: tp.Any, **kwargs: tp.Any) -> int:
        if inside(path) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            fail(path)
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path: tp.Any, *args: tp.Any, **kwargs: tp.Any) -> None:
        if inside(path):
            fail(path)
        real_mkdir(path, *args, **kwargs)

    def io_open(file: tp.Any, mode: str = "r", *args: tp.Any, **kwargs: tp.Any) -> tp.Any:
        if isinstance(file, str | bytes | os.PathLike) and inside(file) and set(mode) & set("wax+"):
            fail(file)
        return real_io_open(file, mode, *args, **kwargs)

    def check(fd: int, size: int) -> None:
        target = _fd_path(fd)
        if target.startswith(root):
            fail(target)

    with pytest.MonkeyPatch.context() as mp, checked_writes(check):
        mp.setattr(os, "open", os_open)
        mp.setattr(os, "mkdir", mkdir)
        mp.setattr(io, "open", io_open)
        mp.setattr(builtins, "open", io_open)
        yield


def test_read_only_simulated(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    values = _populate(folder)
    with failing_writes(folder, errno.EROFS):
        _check_read_only(folder, values)


def _fill(cache: CacheDict[tp.Any], prefix: str, size: int) -> tuple[dict[str, tp.Any], str]:
    """Writes arrays until the disk is full; returns the written values and the key
    whose write failed."""
    written: dict[str, tp.Any] = {}
    for k in range(1000):
        key = f"{prefix}{k}"
        value = np.full(size, k, dtype=np.uint8)
        try:
            with cache.writer() as w:
                w[key] = value
        except OSError:  # ENOSPC (numpy's np.save raises an OSError without errno)
            return written, key
        written[key] = value
    raise AssertionError("the disk never got full")


@pytest.mark.parametrize("cache_type", [None, "NumpyArray", "Pickle"])
def test_disk_full_tmpfs(small_tmpfs: Path, cache_type: str | None) -> None:
    ballast = small_tmpfs / "ballast"
    ballast.write_bytes(b"\0" * 300_000)
    folder = small_tmpfs / "cache"
    cache: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)
    written, failed = _fill(cache, "a", 96_000)
    assert len(written) >= 3
    fresh: CacheDict[tp.Any] = CacheDict(folder)
    assert set(fresh.keys()) == set(written)  # the failed key is not visible
    for key, value in written.items():
        np.testing.assert_array_equal(fresh[key], value)
    n_files = len(list(folder.rglob("*.np[yz]"))) + len(list(folder.rglob("*.pkl")))
    assert n_files == (0 if cache_type is None else len(written))  # no partial file left
    ballast.unlink()  # space is freed: writing works again, the failed key too
    with cache.writer() as w:
        w[failed] = np.full(10, 7, dtype=np.uint8)
    more, _ = _fill(cache, "b", 96_000)
    assert len(more) >= 2
    expected = {**written, **more, failed: np.full(10, 7, dtype=np.uint8)}
    fresh = CacheDict(folder)
    assert set(fresh.keys()) == set(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(fresh[key], value)


@contextlib.contextmanager
def disk_budget(folder: Path, budget: list[int]) -> tp.Iterator[None]:
    """Simulates a disk with ``budget[0]`` bytes left for files of ``folder``: a write
    that does not fit fails with ENOSPC (whole writes only: no short write)."""
    root = str(folder.resolve())

    def check(fd: int, size: int) -> None:
        if _fd_path(fd).startswith(root):
            if size > budget[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            budget[0] -= size

    with checked_writes(check):
        yield


@pytest.mark.parametrize("seed", range(int(os.environ.get("EXCA_FUZZ_SEEDS", "6"))))
def test_disk_full_simulated(tmp_path: Path, seed: int) -> None:
    """Writes of every format against a disk that gets full at a random point: each
    write either completes (and reads back) or raises ENOSPC and is not visible; once
    space is back, writing works again."""
    rng = random.Random(seed)
    folder = tmp_path / "cache"
    values = sample_values()
    folder.mkdir()
    budget = [rng.randrange(0, 40_000)]
    written: dict[str, tp.Any] = {}
    failed: list[str] = []
    with disk_budget(folder, budget):
        for key, (cache_type, value) in values.items():
            cache: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)
            try:
                with cache.writer() as w:
                    w[key] = value
            except OSError as e:
                assert e.errno == errno.ENOSPC
                failed.append(key)
            else:
                written[key] = value
        assert set(CacheDict(folder).keys()) == set(written)  # failed writes are invisible
        check_reads(folder, written)
        budget[0] = 10**9  # space freed
        for key in failed:
            cache_type, value = values[key]
            retry: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)
            with retry.writer() as w:
                w[key] = value
    check_reads(folder, {key: value for key, (_, value) in values.items()})


def test_disk_full_in_the_middle_of_an_index_line(tmp_path: Path) -> None:
    cache: CacheDict[tp.Any] = CacheDict(tmp_path / "cache")
    real_write, real_writev = os.write, os.writev
    state = {"mode": "ok"}

    def write(fd: int, data: tp.Any) -> int:
        if state["mode"] == "short":  # half the line fits, then the disk is full
            state["mode"] = "full"
            return real_write(fd, bytes(memoryview(data)[: memoryview(data).nbytes // 2]))
        if state["mode"] == "full":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    def writev(fd: int, buffers: tp.Sequence[tp.Any]) -> int:  # (the rest of a line)
        if state["mode"] == "full":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_writev(fd, buffers)

    with cache.writer() as w:
        w["a"] = 1
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "write", write)
            mp.setattr(os, "writev", writev)
            state["mode"] = "short"
            with pytest.raises(OSError):
                w["b"] = 2  # inline JSON: only its index line is written
            state["mode"] = "ok"  # space freed
            w["c"] = 3
    fresh: CacheDict[tp.Any] = CacheDict(tmp_path / "cache")
    assert set(fresh.keys()) == {"a", "c"}
    assert fresh["c"] == 3


# # # # # path traversal # # # # #

TRAVERSAL = [
    "../x",
    "../../etc/passwd",
    "/abs/path",
    "a/../../b",
    "..",
    ".",
    "",
    "..\\..\\win",
    "nul\x00byte",
    "~",
    "-rf --no-preserve-root",
    "data/../../../escape",
    "x" * 5000,
    "é/../漢字",
    "a\nb",
    "%2e%2e%2f",
    ".hidden",
    "-info.jsonl",
    "../evil-info.jsonl",
]


@pytest.mark.parametrize(
    "cache_type", [None, "MemmapArray", "NumpyArray", "Pickle", "String", "Json", "Auto"]
)
def test_traversal_keys_stay_inside(tmp_path: Path, cache_type: str | None) -> None:
    folder = tmp_path / "cache"
    cache: CacheDict[tp.Any] = CacheDict(folder, cache_type=cache_type)

    def value(k: int) -> tp.Any:
        if cache_type in ("String",):
            return f"v{k}" * (1 + 300 * (k % 3))  # inline and in the shared text file
        if cache_type in ("Json",):
            return {"v": [k] * (1 + 500 * (k % 3))}
        if cache_type == "Auto":
            return {"arr": np.full(2, k), "obj": {k, -k}}
        return np.full(3, k)

    with cache.writer() as w:
        for k, key in enumerate(TRAVERSAL):
            w[key] = value(k)
    assert files_outside(tmp_path, folder) == []
    for path in folder.rglob("*"):
        assert len(path.name) <= 150
    expected = {key: value(k) for k, key in enumerate(TRAVERSAL)}
    check_reads(folder, expected)
    with cache.writer() as w:  # deleting them removes files inside only
        for key in TRAVERSAL:
            del w[key]
    assert files_outside(tmp_path, folder) == []
    assert list(CacheDict(folder).keys()) == []


def test_traversal_key_that_cannot_be_encoded(tmp_path: Path) -> None:
    """A key JSON cannot hold (lone surrogate): a clear error, nothing written."""
    cache: CacheDict[tp.Any] = CacheDict(tmp_path / "cache", cache_type="Pickle")
    with pytest.raises(ValueError, match="index line of key"), cache.writer() as w:
        w["bad\ud800/../x"] = 1
    assert list(CacheDict(tmp_path / "cache").keys()) == []
    assert not list((tmp_path / "cache").rglob("*.pkl"))


class Traversing(pydantic.BaseModel):
    name: str = "x"
    infra: exca.MapInfra = exca.MapInfra(version="1")

    @infra.apply(item_uid=lambda item: item, item_uid_max_length=None)
    def process(self, items: tp.Sequence[str]) -> tp.Iterator[str]:
        for item in items:
            yield f"out:{item}"


def test_traversal_item_uids_and_config_values_stay_inside(tmp_path: Path) -> None:
    root = tmp_path / "root"
    folder = root / "cache"
    for name in [*TRAVERSAL[:6], "../../../../../tmp/escape"]:
        if "\x00" in name:
            continue
        feats = Traversing(name=name, infra={"folder": folder})
        items = [n for n in TRAVERSAL if "\x00" not in n]
        assert list(feats.process(items)) == [f"out:{i}" for i in items]
        uid_folder = feats.infra.uid_folder()
        assert uid_folder is not None
        assert folder.resolve() in uid_folder.resolve().parents
    assert files_outside(root, folder) == []


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_uid_folder_of_any_config_value_is_inside(name: str) -> None:
    feats = Traversing(name=name, infra={"folder": "/cache"})
    uid_folder = feats.infra.uid_folder()
    assert uid_folder is not None
    assert Path(os.path.normpath(uid_folder)).parent.parent == Path("/cache")


def test_infra_version_cannot_escape_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "root"
    folder = root / "cache"
    for version in ["../../../escaped", "..", "a/b", "a\\b"]:
        with pytest.raises(pydantic.ValidationError, match=r"version.*folder name"):
            Task(x=5, infra={"folder": folder, "version": version})
    assert files_outside(root, folder) == []


# # # # # permissions # # # # #


@pytest.mark.parametrize(
    "umask",
    [0o022, 0o077, 0o002],
    ids=oct,
)
def test_created_files_follow_the_umask(tmp_path: Path, umask: int) -> None:
    folder = tmp_path / "cache"
    old = os.umask(umask)
    try:
        _populate(folder)
    finally:
        os.umask(old)
    wrong = {
        str(p.relative_to(folder)): oct(p.stat().st_mode & 0o777)
        for p in [folder, *folder.rglob("*")]
        if p.stat().st_mode & 0o777 != (0o777 if p.is_dir() else 0o666) & ~umask
    }
    assert wrong == {}
