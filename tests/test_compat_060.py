"""Cache folders written by exca 0.6.0 (the reference release) are read, extended and
never damaged by this package; 0.6.0 keeps reading them.

Folders are written by the real exca 0.6.0 (side environment, fixture ``exca060``) and
read here, in this process or in a subprocess (fixture ``ours``), and the reverse.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pickle
import shutil
import subprocess
import sys
import textwrap
import typing as tp
from pathlib import Path

import numpy as np
import pytest

from exca import layout
from exca.cachedict import CacheDict
from exca.confdict import ConfDict

MODELS = '''
import os
import typing as tp
from pathlib import Path

import numpy as np
import pydantic
import exca


def _count(tag: str) -> None:  # every computation leaves a line: counted by the tests
    with Path(os.environ["COUNT_FILE"]).open("a") as f:
        f.write(tag + "\\n")


class Sub(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    depth: int = 2
    name: str = "x"


class Task(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 1
    sub: Sub = Sub()
    tags: list[str] = []
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def compute(self) -> tp.Any:
        _count(f"task{self.x}")
        return {"x": self.x, "arr": np.arange(self.x + 1), "name": self.sub.name}


class Mapper(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    coeff: float = 1.0
    sub: Sub = Sub()
    kind: str = "array"
    infra: exca.MapInfra = exca.MapInfra(version="1")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[tp.Any]) -> tp.Iterator[tp.Any]:
        for item in items:
            _count(f"map{item}")
            n = len(str(item)) % 7
            if self.kind == "array":
                yield np.full(3, n * self.coeff)
            else:
                yield {"n": n, "arr": np.arange(n + 1), "s": str(item)[:10]}


class PMapper(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    coeff: float = 1.0
    infra: exca.MapInfra = exca.MapInfra(version="1")

    @infra.apply(item_uid=str, cache_type="Pickle")
    def process(self, items: tp.Sequence[tp.Any]) -> tp.Iterator[tp.Any]:
        for item in items:
            _count(f"pmap{item}")
            yield (len(str(item)), str(item)[:5], self.coeff, complex(1, 2))


TASKS = [{}, {"x": 3}, {"x": 2, "sub": {"depth": 5, "name": "é" * 3}}, {"x": 4, "tags": ["a" * 300]}]
ITEMS = ["a", "bb", "c" * 300, "d" * 600, 12]  # item uids of 300 and 600 characters
MAPPERS = [
    (Mapper, {}), (Mapper, {"coeff": 2.0}), (Mapper, {"kind": "dict"}),
    (Mapper, {"kind": "dict", "coeff": 2.0, "sub": {"name": "y"}}), (PMapper, {}),
    (PMapper, {"coeff": 3.0}),
]


def norm(value: tp.Any) -> tp.Any:
    """A JSON description of a value, types and dtypes included."""
    if isinstance(value, np.ndarray):
        return ["ndarray", str(value.dtype), list(value.shape), value.tolist()]
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [type(value).__name__, [norm(v) for v in value]]
    if isinstance(value, complex):
        return ["complex", value.real, value.imag]
    return value


def run_all(folder, mode, cluster=None, items=ITEMS):
    """Every task and mapper result, by uid folder name (without its method folder)."""
    out = {}
    for kw in TASKS:
        t = Task(**kw, infra={"folder": folder, "mode": mode, "cluster": cluster})
        out[t.infra.uid()] = norm(t.compute())
    for cls, kw in MAPPERS:
        m = cls(**kw, infra={"folder": folder, "mode": mode})
        out[m.infra.uid()] = norm(list(m.process(items)))
    return out
'''

GEN_CACHEDICT = """
import pickle, sys
from pathlib import Path
import numpy as np
from exca.cachedict import CacheDict

big = {"x": list(range(300)), "arr": np.arange(5.0), "s": "t" * 600}
cases = {
    # Auto: nested arrays, sub-values offloaded to the shared .data.jsonl file
    "Auto": (None, {"nested": {"x": 1, "arr": np.arange(3)}, "big": big, "list": [1, "b", None],
                    "tuple": (1, 2), "str": "hello", "int": 3, "float": 1.5,
                    "arr": np.ones((2, 3), dtype=np.float32), "bigjson": {"v": list(range(400))}}),
    "MemmapArray": ("MemmapArray", {"a": np.arange(10), "b": np.ones((3, 4), dtype=np.float32),
                                    "c": np.array([[1, 2], [3, 4]], dtype=np.int8),
                                    "u": np.array(["ab", "c"])}),
    "NumpyArray": ("NumpyArray", {"a": np.arange(10), "b": np.zeros((2, 2), dtype=np.complex64)}),
    "Pickle": ("Pickle", {"a": (1, 2.5, "s"), "b": ("x", b"bytes"), "c": 3, "d" * 300: [None]}),
    "Json": ("Json", {"a": {"x": [1, 2]}, "b": "s" * 1000, "c": None, "d": [1.5] * 200}),
    "String": ("Json", {"a": "text", "b": "é" * 2000}),
}
for name, (cache_type, values) in cases.items():
    cd = CacheDict(Path("cd") / name, cache_type=cache_type)
    with cd.write():
        for k, v in values.items():
            cd[k] = v


def plain(value):  # 0.6.0 gives memory maps: plain arrays to pickle them
    if isinstance(value, np.ndarray):
        return np.array(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


read = {name: {k: plain(v) for k, v in CacheDict(Path("cd") / name).items()} for name in cases}
Path("cd-read-by-060.pkl").write_bytes(pickle.dumps(read))
print(sorted(read))
"""


def _assert_same(a: tp.Any, b: tp.Any, where: str) -> None:
    assert type(a) is type(b) or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)), (
        where,
        type(a),
        type(b),
    )
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, (where, a.dtype, b.dtype)
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{k}]")
    else:
        assert a == b, where


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file (to check a folder was not modified); ``.exca-last-use``
    is left out: reading records its time there (as 0.6.0 does), in place, same size."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".exca-last-use"
    }


def _counted(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture(scope="module")
def written(exca060: tp.Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folders written by exca 0.6.0 (its default uid version, 3): CacheDicts in every
    format, and TaskInfra/MapInfra caches computed in process and through submitit."""
    root = tmp_path_factory.mktemp("written060")
    (root / "mods060.py").write_text(MODELS)
    exca060.run(GEN_CACHEDICT, cwd=root)
    code = """
    import json, sys
    import mods060
    out = {"none": mods060.run_all("infra", "cached"),
           "local": mods060.run_all("infra-local", "cached", cluster="local")}
    print(json.dumps(out))
    """
    out = exca060.json(code, cwd=root, env={"COUNT_FILE": str(root / "count-060")})
    (root / "expected.json").write_text(json.dumps(out))
    return root


def _copy(written: Path, tmp_path: Path) -> Path:
    """A copy of the 0.6.0 folders (tests that write must not share them)."""
    work = tmp_path / "work"
    shutil.copytree(written, work, symlinks=True)
    for sub in ("infra", "infra-local"):  # submitit's links point to the original logs
        for link in (work / sub).rglob("submitit"):
            if link.is_symlink():
                target = Path(os.readlink(link))
                link.unlink()
                link.symlink_to(Path(str(target).replace(str(written), str(work))))
    return work


# ---------------------------------------------------------------- CacheDict
def test_cachedict_every_format_reads_as_060(written: Path) -> None:
    expected = pickle.loads((written / "cd-read-by-060.pkl").read_bytes())
    before = _snapshot(written / "cd")
    for name, values in expected.items():
        cache: CacheDict[tp.Any] = CacheDict(written / "cd" / name)
        assert set(cache.keys()) == set(values), name
        for key, value in values.items():
            _assert_same(value, cache[key], f"{name}[{key!r}]")
    assert _snapshot(written / "cd") == before  # reading changed nothing


def test_cachedict_sees_060_deletions_and_keeps_060_files(
    written: Path, tmp_path: Path, exca060: tp.Any
) -> None:
    work = _copy(written, tmp_path)
    folder = work / "cd" / "Pickle"
    cache: CacheDict[tp.Any] = CacheDict(folder)
    assert cache["a"] == (1, 2.5, "s")
    with cache.writer() as w:  # extending a 0.6.0 folder
        w["new"] = {"n": 1}
        del w["c"]  # a 0.6.0 key: a tombstone here, 0.6.0's files and line are kept
    assert "c" not in cache and len(list((folder / "data").glob("c-*.pkl"))) == 1
    # exca 0.6.0 deletes a key: it blanks its line in place; this reader notices
    exca060.run(
        """
        from exca.cachedict import CacheDict
        cd = CacheDict("cd/Pickle")
        assert sorted(cd.keys()) == ["a", "b", "c", "d" * 300], sorted(cd.keys())
        assert cd["c"] == 3
        with cd.write():
            del cd["b"]
        """,
        cwd=work,
    )
    assert sorted(cache.keys()) == ["a", "d" * 300, "new"]
    assert cache["new"] == {"n": 1}


def test_clear_removes_060_files_and_logs_them(
    written: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    work = _copy(written, tmp_path)
    folder = work / "cd" / "NumpyArray"
    cache: CacheDict[tp.Any] = CacheDict(folder)
    assert len(cache) == 2
    with caplog.at_level(logging.WARNING, logger="exca"):
        cache.clear()
    assert len(cache) == 0
    assert not list(folder.glob("*-info.jsonl")) and not list((folder / "data").glob("*.npy"))
    removed = [r.getMessage() for r in caplog.records if "exca 0.6.0" in r.getMessage()]
    assert len(removed) == 3, removed  # the index and the two .npy files, each logged


def _pandas_sides() -> Path:
    """The 0.6.0 side environment with pandas and pyarrow (for data frame formats)."""
    pytest.importorskip("pandas", reason="pandas is in the dev extra: installed in CI")
    pytest.importorskip("pyarrow", reason="pyarrow is in the dev extra: installed in CI")
    repo = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(repo / "benchmarks"))
    try:
        import harness  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(repo / "benchmarks"))
    with (repo / "benchmarks" / ".venv-ref.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return Path(harness.ensure_reference_venv(["pandas", "pyarrow"]).python)


def test_dataframes_read_as_060(exca060: tp.Any, tmp_path: Path) -> None:
    import pandas as pd

    python = _pandas_sides()
    code = """
    import pickle
    import pandas as pd
    from exca.cachedict import CacheDict
    df = pd.DataFrame(
        {"s": ["NA", "null", "nan", ""], "i": [1, 2, 3, 4], "f": [0.5, 1, 2, 3]},
        index=[10, 20, 30, 40],
    )
    for fmt in ["PandasDataFrame", "ParquetPandasDataFrame"]:
        cd = CacheDict(fmt, cache_type=fmt)
        with cd.write():
            cd["df"] = df
    cd = CacheDict("Default")
    with cd.write():
        cd["df"] = df
    read = {fmt: CacheDict(fmt)["df"] for fmt in ["PandasDataFrame", "ParquetPandasDataFrame", "Default"]}
    open("read.pkl", "wb").write(pickle.dumps(read))
    """
    script = tmp_path / "write_df.py"

    script.write_text(textwrap.dedent(code))
    subprocess.run([str(python), "-s", str(script)], cwd=tmp_path, check=True)
    expected = pickle.loads((tmp_path / "read.pkl").read_bytes())
    for fmt, df060 in expected.items():
        df: tp.Any = CacheDict(tmp_path / fmt)["df"]
        pd.testing.assert_frame_equal(df, df060, check_exact=True)  # dtypes included
        assert str(df.index.dtype) == str(df060.index.dtype), fmt
    assert list(expected["PandasDataFrame"]["s"][:3]) == ["NA", "null", "nan"]
    assert str(expected["ParquetPandasDataFrame"].index.dtype) == "Int64"


def test_dataframe_default_is_parquet_in_pandas_3(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas", reason="pandas is in the dev extra: installed in CI")
    pytest.importorskip("pyarrow", reason="pyarrow is in the dev extra: installed in CI")
    cache: CacheDict[tp.Any] = CacheDict(tmp_path)
    with cache.writer() as w:
        w["df"] = pd.DataFrame({"a": [1, 2]})
    assert list((tmp_path / "data").rglob("*.parquet")), "the DataFrame was not written as parquet"


# ---------------------------------------------------------------- infras
READ = """
import json, sys
import mods060
print(json.dumps(mods060.run_all(sys.argv[1] if len(sys.argv) > 1 else "{folder}", "{mode}",
                                 cluster={cluster!r})))
"""


@pytest.mark.parametrize("uid_version", ["3", "default"])
@pytest.mark.parametrize("mode", ["read-only", "cached"])
@pytest.mark.parametrize("cluster", [None, "local"])
def test_infra_results_read_as_060(
    written: Path,
    tmp_path: Path,
    ours: tp.Any,
    uid_version: str,
    mode: str,
    cluster: str | None,
) -> None:
    work = _copy(written, tmp_path)
    folder = "infra" if cluster is None else "infra-local"
    expected = json.loads((work / "expected.json").read_text())[
        "none" if cluster is None else "local"
    ]
    jobs = {p: p.read_bytes() for p in (work / folder).rglob("job.pkl")}
    assert len(jobs) == 4
    env = {"COUNT_FILE": str(tmp_path / "count")}
    if uid_version != "default":
        env["CONFDICT_UID_VERSION"] = uid_version
    code = READ.format(folder=folder, mode=mode, cluster=cluster)
    out = ours.json(code, cwd=work, env=env)
    assert _counted(tmp_path / "count") == []  # nothing computed
    assert sorted(out.values(), key=json.dumps) == sorted(expected.values(), key=json.dumps)
    if uid_version == "3":
        assert out == expected  # same folder names
    # 0.6.0's records are intact
    assert {p: p.read_bytes() for p in jobs} == jobs


def test_extended_060_folder_still_reads_in_060(
    written: Path, tmp_path: Path, ours: tp.Any, exca060: tp.Any
) -> None:
    work = _copy(written, tmp_path)
    expected = json.loads((work / "expected.json").read_text())["none"]
    more = '["a", "bb", "c" * 300, "d" * 600, 12, "new", "e" * 400]'
    code = (
        "import json, mods060\n"
        f"print(json.dumps(mods060.run_all('infra', '{{mode}}', items={more})))\n"
    )
    # this package extends the 0.6.0 folders: only the new items are computed
    out = ours.json(code.format(mode="cached"), cwd=work, env={"COUNT_FILE": str(tmp_path / "c1")})
    computed = _counted(tmp_path / "c1")
    assert sorted(computed) == sorted(
        f"{p}{item}" for p in ["map"] * 4 + ["pmap"] * 2 for item in ["new", "e" * 400]
    )
    # 0.6.0 still reads all its old values, unchanged (read-only: nothing missing)
    old = exca060.json(
        "import json, mods060\nprint(json.dumps(mods060.run_all('infra', 'read-only')))",
        cwd=work,
        env={"COUNT_FILE": str(tmp_path / "c2")},
    )
    assert old == expected and _counted(tmp_path / "c2") == []
    # and, in cached mode, it works on the extended folder (it recomputes the items
    # only this package wrote: their lines are skipped by 0.6.0, never misread)
    again = exca060.json(
        code.format(mode="cached"), cwd=work, env={"COUNT_FILE": str(tmp_path / "c3")}
    )
    assert sorted(again.values(), key=json.dumps) == sorted(out.values(), key=json.dumps)
    assert sorted(_counted(tmp_path / "c3")) == sorted(computed)
    # ... and this package still reads everything, computing nothing
    final = ours.json(
        code.format(mode="read-only"), cwd=work, env={"COUNT_FILE": str(tmp_path / "c4")}
    )
    assert final == out and _counted(tmp_path / "c4") == []


CONCURRENT = """
import json, sys, time
from pathlib import Path
import mods060
start = float(sys.argv[1])
while time.time() < start:
    time.sleep(0.001)
items = [f"{sys.argv[2]}{k}" for k in range(150)] + [f"shared{k}" for k in range(150)]
out = {}
for kind in ["array", "dict"]:
    m = mods060.Mapper(kind=kind, infra={"folder": "shared"})
    out[kind] = mods060.norm(list(m.process(items)))
print(json.dumps(out))
"""


def test_060_and_this_package_writing_at_once_lose_nothing(
    exca060: tp.Any, ours: tp.Any, tmp_path: Path
) -> None:
    import time

    (tmp_path / "mods060.py").write_text(MODELS)
    (tmp_path / "write_both.py").write_text(CONCURRENT)
    start = str(time.time() + 3)
    procs = []
    for side, tag in [(exca060, "old"), (ours, "new")]:
        env = {"COUNT_FILE": str(tmp_path / f"count-{tag}"), "CONFDICT_UID_VERSION": "3"}
        procs.append(
            subprocess.Popen(
                [str(side.python), "-s", "write_both.py", start, tag],
                cwd=tmp_path,
                env={**os.environ, **env},
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    outs = [json.loads(p.communicate(timeout=300)[0].splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    # every item either side wrote is read back here, equal, without computing
    check = """
    import json, mods060
    items = [f"{t}{k}" for t in ["old", "new", "shared"] for k in range(150)]
    out = {}
    for kind in ["array", "dict"]:
        m = mods060.Mapper(kind=kind, infra={"folder": "shared", "mode": "read-only"})
        out[kind] = mods060.norm(list(m.process(items)))
    print(json.dumps(out))
    """
    env = {"COUNT_FILE": str(tmp_path / "count-check"), "CONFDICT_UID_VERSION": "3"}
    ours_view = ours.json(check, cwd=tmp_path, env=env)
    assert _counted(tmp_path / "count-check") == []
    for kind in ["array", "dict"]:
        by_item: dict[str, tp.Any] = {}
        for tag, out in zip(["old", "new"], outs):
            items = [f"{tag}{k}" for k in range(150)] + [f"shared{k}" for k in range(150)]
            by_item.update(zip(items, out[kind][1]))  # norm gives ["list", values]
        expected = [by_item[f"{t}{k}"] for t in ["old", "new", "shared"] for k in range(150)]
        assert ours_view[kind] == ["list", expected]
    # and 0.6.0 still reads every item it wrote
    check060 = check.replace('["old", "new", "shared"]', '["old", "shared"]')
    old_view = exca060.json(check060, cwd=tmp_path, env=env)
    for kind in ["array", "dict"]:
        assert old_view[kind] == outs[0][kind]  # same items, same order


def test_task_cached_over_060_folder_keeps_its_job_file(
    written: Path, tmp_path: Path, ours: tp.Any, exca060: tp.Any
) -> None:
    work = _copy(written, tmp_path)
    code = """
    import json, logging, sys, mods060
    logging.basicConfig(level=logging.WARNING)
    t = mods060.Task(x=3, infra={"folder": "infra", "mode": sys.argv[1] if len(sys.argv) > 1 else "MODE"})
    print(json.dumps(mods060.norm(t.compute())))
    """
    env = {"COUNT_FILE": str(tmp_path / "count"), "CONFDICT_UID_VERSION": "3"}
    value = ours.json(code.replace("MODE", "cached"), cwd=work, env=env)
    assert value["x"] == 3 and _counted(tmp_path / "count") == []
    assert exca060.json(code.replace("MODE", "read-only"), cwd=work, env=env) == value
    # mode="force" is asked for: it recomputes and says it removes 0.6.0's job file
    proc = ours.run(code.replace("MODE", "force"), cwd=work, env=env)
    assert _counted(tmp_path / "count") == ["task3"]
    assert "removes" in proc.stderr and "job.pkl" in proc.stderr and "exca 0.6.0" in proc.stderr


# ---------------------------------------------------------------- naming rules
def test_item_uids_shortened_as_060(exca060: tp.Any, tmp_path: Path) -> None:
    uids = ["x" * 256, "x" * 257, "é" * 300, "ab" * 1000, "y" * 40]
    code = f"""
    import json
    from exca.utils import ShortItemUid
    print(json.dumps([ShortItemUid._shorten(u, m) for u in {uids!r} for m in (32, 64, 256)]))
    """
    expected = exca060.json(code, cwd=tmp_path)
    assert [layout.short_item_uid(u, m) for u in uids for m in (32, 64, 256)] == expected


def test_uid_folder_found_under_either_version(tmp_path: Path) -> None:
    cfg = ConfDict({"x": 2, "sub": {"name": "é" * 3}})
    v2, v3 = (layout.uid_name(cfg.to_uid(version=v)) for v in (2, 3))
    assert v2 != v3
    # nothing yet: named as exca 0.6.0 names it (version 3), while to_uid() gives version 2
    assert layout.find_uid_name(tmp_path, cfg) == v3
    assert layout.uid_name(cfg.to_uid()) == v2
    # only the other version's folder exists (eg: written here before), with this config:
    # it is used as is
    (tmp_path / v2).mkdir()
    (tmp_path / v2 / layout.UID).write_text(cfg.to_yaml())
    assert layout.find_uid_name(tmp_path, cfg) == v2
    # ... but never for another config dumped there
    (tmp_path / v2 / layout.UID).write_text(ConfDict({"x": 5}).to_yaml())
    assert layout.find_uid_name(tmp_path, cfg) == v3
    # the folder version's own folder always comes first
    (tmp_path / v2 / layout.UID).write_text(cfg.to_yaml())
    (tmp_path / v3).mkdir()
    assert layout.find_uid_name(tmp_path, cfg) == v3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([v2, v3])  # nothing renamed


def test_a_chosen_uid_version_names_the_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from exca import uidfolder

    cfg = ConfDict({"x": 2, "sub": {"name": "é" * 3}})
    monkeypatch.setattr(ConfDict, "UID_VERSION", 3)
    assert uidfolder.folder_uid_version() == 3
    monkeypatch.setattr(ConfDict, "UID_VERSION", 2)
    assert uidfolder.folder_uid_version() == 3  # the default: 0.6.0's folder names
    monkeypatch.setattr(uidfolder, "_CHOSEN", True)  # CONFDICT_UID_VERSION=2 at import
    assert uidfolder.folder_uid_version() == 2
    assert layout.find_uid_name(tmp_path, cfg) == layout.uid_name(cfg.to_uid(version=2))


# ------------------------------------------ folders named as 0.6.0 names them (issue 26)
CASES_060 = Path(__file__).parent / "data" / "cases060.py"
CASES_EXPECTED = {
    "excluded": 1,
    "excluded_none": 1,
    "excluded_opt": 11,
    "ordered": ["a", "b", "c"],
    "ordered_moved": ["c", "a", "b"],
    "plain": 13,
    "plain_default": 13,
    "second_infra2": 7,
}


def _run_cases(side: tp.Any, cwd: Path, folder: Path, count: Path) -> tp.Any:
    shutil.copy(CASES_060, cwd / "cases060.py")
    code = f"import runpy, sys; sys.argv = ['cases060.py', {str(folder)!r}]\n"
    code += "runpy.run_path('cases060.py', run_name='__main__')\n"
    return side.json(code, cwd=cwd, env={"COUNT_FILE": str(count)})


def _method_folders(folder: Path) -> list[str]:
    return sorted(f"{p.parent.name}/{p.name}" for p in folder.glob("*/*") if p.is_dir())


def test_060_caches_of_subclasses_excluded_subconfigs_and_ordered_dicts_are_served(
    exca060: tp.Any, ours: tp.Any, tmp_path: Path
) -> None:
    # each package at its defaults: 0.6.0 computes every case, this package computes none
    # of them again (and 0.6.0, run again, computes none of them either)
    cache = tmp_path / "cache"
    (tmp_path / "ref").mkdir()
    (tmp_path / "ours").mkdir()
    assert _run_cases(exca060, tmp_path / "ref", cache, tmp_path / "count-060") == CASES_EXPECTED
    computed_by_060 = _counted(tmp_path / "count-060")
    folders = _method_folders(cache)
    assert "__main__.Base.func,12/p=5-e52bc742" in folders  # the parent's folder
    assert "__main__.Excluding.run,1/sub={}-68181c18" in folders
    assert _run_cases(ours, tmp_path / "ours", cache, tmp_path / "count") == CASES_EXPECTED
    assert _counted(tmp_path / "count") == []
    assert _method_folders(cache) == folders  # nothing written elsewhere, nothing renamed
    assert _run_cases(exca060, tmp_path / "ref", cache, tmp_path / "count-060") == CASES_EXPECTED
    assert _counted(tmp_path / "count-060") == computed_by_060


def test_folders_named_before_060_naming_stay_found(ours: tp.Any, tmp_path: Path) -> None:
    # written by this package before it named these folders as 0.6.0 does (see
    # tests/data/pre060_naming.md): each result it stored is served, in its folder
    cache = tmp_path / "cache"
    shutil.copytree(Path(__file__).parent / "data" / "pre060_naming", cache)
    before = _snapshot(cache)
    assert _run_cases(ours, tmp_path, cache, tmp_path / "count") == CASES_EXPECTED
    # computed: only what that version could not compute (it raised for both)
    assert sorted(_counted(tmp_path / "count")) == ["excluding2", "orderedcab"]
    after = _snapshot(cache)
    assert {k: v for k, v in after.items() if k in before} == before  # untouched
    new = sorted({"/".join(k.split("/")[:2]) for k in after if k not in before})
    assert len(new) == 2  # one uid folder for each
    assert new[0].startswith("__main__.Excluding.run,1/opt={}-")
    assert new[1].startswith("__main__.Ordered.run,1/steps=")


def test_each_package_at_its_defaults_uses_the_same_uid_folders(
    exca060: tp.Any, ours: tp.Any, tmp_path: Path
) -> None:
    # no CONFDICT_UID_VERSION on either side: this package names its uid folders as 0.6.0
    # does, so 0.6.0 uses them under their names (no folder renamed, none added), and the
    # reverse (this package over 0.6.0's folders: test_infra_results_read_as_060)
    (tmp_path / "mods060.py").write_text(MODELS)
    code = "import json, mods060\nprint(json.dumps(mods060.run_all('infra', 'cached')))"
    out = ours.json(code, cwd=tmp_path, env={"COUNT_FILE": str(tmp_path / "c1")})
    uid_folders = _method_folders(tmp_path / "infra")
    assert len(uid_folders) == 4 + 6  # (MODELS: 4 tasks, 6 mappers)
    again = exca060.json(code, cwd=tmp_path, env={"COUNT_FILE": str(tmp_path / "c2")})
    assert sorted(again) == sorted(out)  # the same uids, so the same uid folders
    assert sorted(again.values(), key=json.dumps) == sorted(out.values(), key=json.dumps)
    assert _method_folders(tmp_path / "infra") == uid_folders  # none renamed, none added
    # and this package, run again, computes nothing
    final = ours.json(code, cwd=tmp_path, env={"COUNT_FILE": str(tmp_path / "c3")})
    assert final == out and _counted(tmp_path / "c3") == []
