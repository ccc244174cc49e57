"""exca.inspect and the ``exca`` command on real folders made by TaskInfra, MapInfra,
CacheDict and the Hydra launcher (local processes here; Slurm in the tests marked slurm)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import typing as tp
from pathlib import Path

import pydantic
import pytest

import exca
from exca import inspect, sweeps
from exca.cachedict import CacheDict
from exca.cli import main as cli_main

ROOT = Path(__file__).parents[1]
APP = ROOT / "tests" / "hydra_apps" / "sweep_app.py"


class Square(pydantic.BaseModel):
    """Fails for x < 0."""

    x: int = 2
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> int:
        if self.x < 0:
            raise ValueError(f"negative x={self.x}")
        return self.x**2


class Sleep(pydantic.BaseModel):
    seconds: float = 30
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> float:
        time.sleep(self.seconds)
        return self.seconds


class Double(pydantic.BaseModel):
    infra: exca.MapInfra = exca.MapInfra(version="2")

    @infra.apply(item_uid=str)
    def run(self, items: tp.Sequence[int]) -> tp.Iterator[int]:
        for x in items:
            yield 2 * x


def run_cli(*args: str | Path) -> tuple[int, str, str]:
    """Runs ``exca`` in process (stdout is not a terminal: tab-separated output)."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def short(uid: str) -> str:
    """A uid folder name without its hash: ``x=3-eccbc87e`` -> ``x=3``."""
    return uid.rsplit("-", 1)[0] if "=" in uid else uid


def rows(text: str) -> list[dict[str, str]]:
    lines = [line.split("\t") for line in text.strip().splitlines()]
    return [dict(zip(lines[0], line)) for line in lines[1:]]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    """A cache folder: 2 completed TaskInfra results, 1 failed local job, a MapInfra
    folder of 5 items."""
    folder = tmp_path / "cache"
    for x in (2, 3):
        assert Square(x=x, infra={"folder": folder}).run() == x * x
    bad = Square(x=-1, infra={"folder": folder, "cluster": "local"})
    with pytest.raises(Exception, match="negative"):
        bad.run()
    assert list(Double(infra={"folder": folder}).run([1, 2, 3, 4, 5])) == [2, 4, 6, 8, 10]
    return folder


def test_ls_table_and_json(cache: Path) -> None:
    code, out, _ = run_cli("ls", cache)
    assert code == 0
    table = rows(out)
    by_uid = {(r["method"], short(r["uid"])): r for r in table}
    method = f"{__name__}.Square.run"
    assert by_uid[(method, "default")]["state"] == "completed"  # x=2 is the default
    assert by_uid[(method, "x=3")]["state"] == "completed"
    failed = by_uid[(method, "x=-1")]
    assert failed["state"].startswith("failed") and failed["job"] != "-"
    mapped = [r for r in table if r["method"] == f"{__name__}.Double.run"]
    assert [(r["state"], r["items"], r["version"]) for r in mapped] == [("items", "5", "2")]
    assert all(r["size"].endswith(("K", "M")) and r["last use"].endswith("ago") for r in table)
    code, out, _ = run_cli("ls", cache, "--json")
    data = json.loads(out)
    assert {short(d["uid"]): d["state"] for d in data if "Square" in d["method"]} == {
        "default": "completed",
        "x=3": "completed",
        "x=-1": "failed",
    }
    assert all(d["size"] > 0 and d["last_use"] > time.time() - 600 for d in data)
    # filters and sorting
    _, out, _ = run_cli("ls", cache, "--failed")
    assert [short(r["uid"]) for r in rows(out)] == ["x=-1"]
    _, out, _ = run_cli("ls", cache, "--older-than", "1d")
    assert rows(out) == []
    _, out, _ = run_cli("ls", cache, "--larger-than", "1T")
    assert rows(out) == []
    _, out, _ = run_cli("ls", cache, "--sort", "items")
    assert rows(out)[0]["items"] == "5"
    # a method folder, a uid folder
    _, out, _ = run_cli("ls", cache / f"{method},1")
    assert len(rows(out)) == 3
    code, _, err = run_cli("ls", cache / "nope")
    assert code == 2 and "nope is not a folder" in err


def test_ls_on_a_terminal_has_colours(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    args = __import__("exca.cli", fromlist=["parser"]).parser().parse_args(["ls", str(cache)])
    from exca.cli import cmd_ls

    text = cmd_ls(args, tty=True)
    assert "\033[32mcompleted" in text and "\033[31mfailed" in text
    assert text.splitlines()[-1].startswith("4 entries, ")
    # a summary per method folder, then one row per uid folder
    summary = text.split("\n\n")[0].splitlines()
    assert len(summary) == 3  # header, Double.run, Square.run
    assert "2 completed, 1 failed" in summary[2] and "Square.run" in summary[2]
    assert [m["entries"] for m in inspect.by_method(inspect.ls(cache))] == [1, 3]


def test_show_completed_failed_and_map(cache: Path) -> None:
    folder = cache / f"{__name__}.Square.run,1"
    info = inspect.show(next(folder.glob("x=3-*")))
    assert info["state"] == "completed" and info["uid_config"].strip() == "x: 3"
    assert info["result"]["format"] == "Pickle"
    rebuild = info["rebuild"]
    assert rebuild.startswith(f"import exca; from {__name__} import Square;")
    scope: dict[str, tp.Any] = {}
    exec(rebuild, scope)  # the line rebuilds the object, which finds its cached result
    assert scope["obj"].x == 3
    bad = next(folder.glob("x=-1-*"))
    failed = inspect.show(bad)
    assert failed["state"] == "failed" and failed["job_id"]
    assert "negative x=-1" in failed["traceback"]
    assert failed["stderr"] and "negative x=-1" in failed["stderr_tail"]
    code, out, _ = run_cli("show", bad)
    assert code == 0 and "traceback:" in out and "negative x=-1" in out and "stderr:" in out
    code, out, _ = run_cli("show", bad, "--json")
    assert json.loads(out)["state"] == "failed"
    mapped = inspect.show(next((cache / f"{__name__}.Double.run,2").iterdir()))
    assert mapped["kind"] == "map" and mapped["items"] == 5 and sum(mapped["formats"].values()) == 5
    code, _, err = run_cli("show", cache)
    assert code == 2 and "is not a uid folder" in err


def test_bare_cachedict_folder(tmp_path: Path) -> None:
    cd: CacheDict[tp.Any] = CacheDict(tmp_path / "cd")
    with cd.writer() as w:
        for k in range(10):
            w[str(k)] = {"k": k}
    [e] = inspect.ls(tmp_path / "cd")
    assert (e.kind, e.state, e.items, e.method) == ("map", "items", 10, "")


def test_clean_frees_what_it_says(cache: Path) -> None:
    before = {e.path: e.size for e in inspect.ls(cache)}
    code, out, _ = run_cli("clean", cache, "--failed", "--dry-run")
    assert code == 0 and "would remove 1 entries" in out and "dry run" in out
    assert {e.path for e in inspect.ls(cache)} == set(before)
    report = inspect.clean(cache, failed=True)
    [removed] = report.removed
    assert short(removed.uid) == "x=-1" and not removed.path.exists()
    assert report.freed == before[removed.path]
    assert {e.path for e in inspect.ls(cache)} == set(before) - {removed.path}
    # older than: last use (recorded read, or last write)
    for e in inspect.ls(cache):
        if short(e.uid) != "x=3":
            age(e.path, 2 * 86400)
    assert {e.uid for e in inspect.ls(cache, older_than="1d")} == {
        "default",
        Double().infra.uid().split("/")[-1],
    }
    # max size: least recently used first
    remaining = inspect.ls(cache)
    keep = next(e for e in remaining if short(e.uid) == "x=3")
    code, out, _ = run_cli("clean", cache, "--max-size", str(keep.size), "--json")
    assert code == 0
    data = json.loads(out)
    assert {e.path for e in inspect.ls(cache)} == {keep.path}
    assert data["freed"] == sum(e.size for e in remaining) - keep.size
    assert not list(cache.glob(f"*/{inspect.REMOVING}*"))


def age(path: Path, seconds: float) -> None:
    """Makes every file of a folder (and its recorded last use) ``seconds`` old."""
    then = time.time() - seconds
    stamp = path / ".exca-last-use"
    if stamp.exists():
        stamp.write_text(f"{int(then * 1e9):020d}\n")
    for file in path.rglob("*"):
        os.utime(file, (then, then), follow_symlinks=False)


def test_reading_records_last_use(cache: Path) -> None:
    from exca.cachedict import index

    index._USED.clear()  # as in a new process
    folder = next((cache / f"{__name__}.Square.run,1").glob("x=3-*"))
    age(folder, 3 * 86400)
    [old] = [e for e in inspect.ls(cache, older_than="2d")]
    assert old.path == folder
    assert Square(x=3, infra={"folder": cache}).run() == 9  # a read
    assert inspect.ls(cache, older_than="2d") == []
    assert time.time() - (inspect.entry(folder).last_use or 0) < 60


def test_clean_keeps_entries_in_use(cache: Path, tmp_path: Path) -> None:
    folder = cache / f"{__name__}.Square.run,1"
    # links out of the folder are never followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    other = Square(x=7, infra={"folder": tmp_path / "other"})
    other.run()
    uid_folder = other.infra.uid_folder()
    assert uid_folder is not None
    (folder / "linked").symlink_to(uid_folder, target_is_directory=True)
    (next(folder.glob("x=3-*")) / "link-out").symlink_to(outside, target_is_directory=True)
    # a lock held by another process (a writer checking then writing)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            str(next(folder.glob("x=-1-*")) / ".lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        report = inspect.clean(cache, failed=True)
        assert report.removed == [] and report.freed == 0
        [(kept, reason)] = report.kept_in_use
        assert short(kept.uid) == "x=-1" and "lock" in reason and kept.path.exists()
    finally:
        holder.kill()
        holder.wait()
    # an in-flight claim (exca.claims: a process computing a result of the folder)
    claimed = next(folder.glob("x=-1-*"))
    (claimed / ".claims").mkdir(exist_ok=True)  # (exists once a claim was made)
    (claimed / ".claims" / "0123.claim").write_bytes(b"")  # being written: owner unknown
    report = inspect.clean(cache, failed=True)
    assert report.removed == [] and "claim" in report.kept_in_use[0][1]
    assert inspect.in_use(claimed) is not None
    (claimed / ".claims" / "0123.claim").unlink()
    assert inspect.in_use(claimed) is None
    # a running job (local process)
    sleeper = Sleep(seconds=60, infra={"folder": cache, "cluster": "local"})
    job = sleeper.infra.job()
    try:
        [running] = inspect.ls(cache, running=True)
        assert running.state == "running" and running.job_id == str(job.job_id)
        report = inspect.clean(cache, older_than="0s")
        assert [e.uid for e, _ in report.kept_in_use] == [running.uid]
        assert "is running" in report.kept_in_use[0][1]
        assert sleeper.infra.uid_folder().exists()  # type: ignore[union-attr]
    finally:
        job.cancel()
    inspect.clean(cache, older_than="0s")
    assert (outside / "precious.txt").read_text() == "keep me"
    assert (uid_folder / "uid.yaml").exists()  # the linked folder was not removed


def test_last_use_is_recorded_once_per_process_in_060_format(
    tmp_path: Path, exca060: tp.Any
) -> None:
    obj = Square(x=5, infra={"folder": tmp_path})
    obj.run()
    folder = obj.infra.uid_folder()
    assert folder is not None
    stamp = folder / ".exca-last-use"
    stamp.unlink(missing_ok=True)
    from exca.cachedict import index

    index._USED.clear()  # as in a new process
    before = time.time_ns()
    assert Square(x=5, infra={"folder": tmp_path}).run() == 25
    text = stamp.read_text()
    assert len(text) == 21 and text.endswith("\n") and before <= int(text) <= time.time_ns()
    os.utime(stamp, ns=(0, 0))
    Square(x=5, infra={"folder": tmp_path}).run()
    assert stamp.stat().st_mtime_ns == 0  # not rewritten in the same process
    # exca 0.6.0 writes the same file; ours reads it
    ref = exca060.json(
        "import json, os, time\n"
        "from exca.cachedict import CacheDict\n"
        "cd = CacheDict(folder='c')\n"
        "with cd.write():\n"
        "    cd['a'] = 1\n"
        "CacheDict(folder='c')['a']\n"
        "print(json.dumps(open('c/.exca-last-use').read()))\n",
        cwd=tmp_path,
    )
    assert len(ref) == 21 and ref.endswith("\n") and int(ref) > before
    from exca.cachedict.index import read_last_use

    assert read_last_use(tmp_path / "c") == int(ref)


def test_python_m_exca_help() -> None:
    for command in ("ls", "show", "sweep", "clean"):
        proc = subprocess.run(
            [sys.executable, "-m", "exca", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "examples:" in proc.stdout and f"exca {command} " in proc.stdout
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, exca.inspect, exca.cli; "
            "print(sorted({'submitit', 'hydra', 'omegaconf'} & set(sys.modules)))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert heavy.stdout.strip() == "[]"


# # # # # sweeps # # # # #


def run_sweep(
    cwd: Path, sweep_dir: Path, *overrides: str, launcher: str = "exca_inline"
) -> subprocess.CompletedProcess[str]:
    """Runs the sweep app; its output goes through files, not pipes: detached local jobs
    inherit the launcher's stdout and stderr (a pipe would stay open until they end)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        f"hydra/launcher={launcher}",
        f"hydra.launcher.cache_folder={cwd / 'cache'}",
        f"hydra.sweep.dir={sweep_dir}",
        *overrides,
    ]
    out, err = cwd / f"{sweep_dir.name}.out", cwd / f"{sweep_dir.name}.err"
    with out.open("w") as fout, err.open("w") as ferr:
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=fout, stderr=ferr, timeout=600)
    return subprocess.CompletedProcess(cmd, proc.returncode, out.read_text(), err.read_text())


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep dir with 2 cached, 2 computed and 1 failed job (exca_local)."""
    tmp = tmp_path_factory.mktemp("sweep")
    first = run_sweep(tmp, tmp / "first", "x=1,2", "lr=0.1", launcher="exca_local")
    assert first.returncode == 0, first.stderr
    second = run_sweep(tmp, tmp / "second", "x=1,2,3", "lr=0.1,0.01", launcher="exca_local")
    assert second.returncode != 0 and "x=3 is not allowed" in second.stderr
    return tmp / "second"


def test_sweep_table_and_json(swept: Path) -> None:
    report = inspect.sweep(swept)
    states = {(j.params["x"], j.params["lr"]): j.state for j in report.jobs}
    assert states == {
        ("1", "0.1"): "cached",
        ("2", "0.1"): "cached",
        ("1", "0.01"): "computed",
        ("2", "0.01"): "computed",
        ("3", "0.1"): "failed",
        ("3", "0.01"): "failed",
    }
    assert report.done and report.launcher == "exca_local" and report.swept == ["x", "lr"]
    job = next(j for j in report.jobs if j.params == {"x": "2", "lr": "0.01"})
    assert job.value == {"loss": 50.0, "acc": pytest.approx(0.2)}
    assert job.duration is not None and 0 < job.duration < 60 and job.job_id
    cached = next(j for j in report.jobs if j.params == {"x": "1", "lr": "0.1"})
    assert cached.value == {"loss": 10.0, "acc": 0.1} and cached.uid
    failed = [j for j in report.jobs if j.state == "failed"]
    assert all("x=3 is not allowed" in (j.error or "") for j in failed)
    code, out, _ = run_cli("sweep", swept)
    table = rows(out)
    assert [r["state"] for r in table].count("computed") == 2
    assert {r["loss"] for r in table if r["x"] == "1"} == {"10", "100"}
    code, out, _ = run_cli("sweep", swept, "--json")
    data = json.loads(out)
    assert data["done"] and data["counts"] == {"cached": 2, "computed": 2, "failed": 2}
    html = swept.parent / "report.html"
    code, _, err = run_cli("sweep", swept, "--html", html)
    assert code == 0 and f"report written to {html}" in err
    text = html.read_text()
    assert text.count("<tr class=") == 6 and text.count('<figure class="plot">') == 4
    code, _, err = run_cli("sweep", swept.parent)
    assert code == 2 and "exca-sweep.jsonl does not exist" in err


def test_sweep_entries_in_ls(swept: Path) -> None:
    entries = inspect.ls(swept.parent / "cache")
    assert sorted(e.state for e in entries) == ["completed"] * 4 + ["failed"] * 2


def test_wait_false_needs_a_cluster_a_cache_and_the_basic_sweeper(tmp_path: Path) -> None:
    proc = run_sweep(tmp_path, tmp_path / "s", "x=1,2", "hydra.launcher.wait=false")
    assert proc.returncode != 0
    assert "only exca_slurm and exca_local can leave jobs running" in proc.stderr
    proc = run_sweep(
        tmp_path,
        tmp_path / "s",
        "x=1,2",
        "hydra.launcher.wait=false",
        "hydra.launcher.cache_folder=null",
        launcher="exca_local",
    )
    assert proc.returncode != 0 and "needs hydra.launcher.cache_folder" in proc.stderr
    # a sweeper choosing the next jobs from return values (Optuna) cannot go without them
    from omegaconf import OmegaConf

    from exca.hydra.launcher import LauncherConfigError, Settings, SweepRunner

    optuna = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"
    runner = SweepRunner.__new__(SweepRunner)
    runner.cluster, runner.name = "slurm", "exca_slurm"
    runner.settings = Settings.from_params({"cache_folder": "c", "wait": False}, cwd=str(tmp_path))
    runner.config = OmegaConf.create({"hydra": {"sweeper": {"_target_": optuna}}})
    with pytest.raises(LauncherConfigError, match=f"the sweeper {optuna} needs the jobs' return"):
        runner._check_detached()
    runner.config = OmegaConf.create(
        {
            "hydra": {
                "sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper"}
            }
        }
    )
    runner._check_detached()  # the basic sweeper is fine
    with pytest.raises(LauncherConfigError, match="wait must be true or false"):
        Settings.from_params({"wait": "maybe"}, cwd=str(tmp_path))
    assert not (tmp_path / "cache").exists()  # nothing ran


# # # # # Slurm # # # # #


@pytest.mark.slurm
def test_ls_and_clean_slurm_jobs(slurm_folder: Path) -> None:
    obj = Sleep(seconds=120, infra={"folder": slurm_folder, "cluster": "slurm"})
    job = obj.infra.job()
    try:
        [e] = inspect.ls(slurm_folder)
        assert e.state in ("pending", "running") and e.job_id == str(job.job_id)
        assert e.slurm_state in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
        report = inspect.clean(slurm_folder, older_than="0s")
        assert report.removed == [] and report.kept_in_use[0][0].uid == e.uid
        _code, out, _ = run_cli("ls", slurm_folder, "--running")
        assert rows(out)[0]["job"] == str(job.job_id)
        info = inspect.show(e.path)
        assert info["job_id"] == str(job.job_id) and info["stdout"]
    finally:
        job.cancel()


@pytest.mark.slurm
def test_detached_sweep_on_slurm(slurm_folder: Path) -> None:
    overrides = ["x=1,2,3", "sleep=20", "hydra.launcher.timeout_min=5"]
    proc = run_sweep(
        slurm_folder,
        slurm_folder / "s1",
        *overrides,
        "hydra.launcher.wait=false",
        launcher="exca_slurm",
    )
    assert proc.returncode == 0, proc.stderr
    assert f"exca sweep {slurm_folder / 's1'} --watch" in proc.stdout + proc.stderr
    report = inspect.sweep(slurm_folder / "s1")
    assert not report.done, report.to_dict()  # the launch returned while jobs run
    assert all(j.job_id for j in report.jobs)
    # --watch follows them to the end
    watch = subprocess.run(
        [
            sys.executable,
            "-m",
            "exca",
            "sweep",
            str(slurm_folder / "s1"),
            "--watch",
            "--interval",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert watch.returncode == 0, watch.stderr
    assert "refreshing every 1s" in watch.stdout  # it refreshed at least once
    final = rows(watch.stdout.split("(Ctrl-C stops)\n")[-1])
    assert sorted(r["state"] for r in final) == ["computed", "computed", "failed"]
    # the relaunch collects every result without resubmitting
    proc = run_sweep(slurm_folder, slurm_folder / "s2", "x=1,2", "sleep=20", launcher="exca_slurm")
    assert proc.returncode == 0, proc.stderr
    assert "0 to run, 2 cached" in proc.stdout + proc.stderr
    again = inspect.sweep(slurm_folder / "s2")
    assert [j.state for j in again.jobs] == ["cached", "cached"]
    assert [j.value for j in again.jobs] == [{"loss": 10.0, "acc": 0.1}, {"loss": 5.0, "acc": 0.2}]
    assert not any(ev["event"] == "submitted" for ev in sweeps.read(slurm_folder / "s2"))


@pytest.mark.parametrize("sweeper", [[], ["hydra/sweeper=exca"]], ids=["basic", "exca"])
def test_detached_sweep_on_local_processes(tmp_path: Path, sweeper: list[str]) -> None:
    """Both sweepers that ignore return values can leave their jobs running."""
    proc = run_sweep(
        tmp_path,
        tmp_path / "s1",
        *sweeper,
        "x=1,2",
        "sleep=15",
        "hydra.launcher.wait=false",
        launcher="exca_local",
    )
    assert proc.returncode == 0, proc.stderr
    assert f"exca sweep {tmp_path / 's1'} --watch" in proc.stdout + proc.stderr
    report = inspect.sweep(tmp_path / "s1")
    # the launch returned while the jobs run (their processes outlive the launcher)
    assert [j.state for j in report.jobs] == ["running", "running"]
    watch = subprocess.run(
        [sys.executable, "-m", "exca", "sweep", str(tmp_path / "s1"), "--watch", "--interval", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert watch.returncode == 0, watch.stderr
    final = rows(watch.stdout.split("(Ctrl-C stops)\n")[-1])
    assert [(r["state"], r["loss"]) for r in final] == [("computed", "10"), ("computed", "5")]
    proc = run_sweep(
        tmp_path, tmp_path / "s2", *sweeper, "x=1,2", "sleep=15", launcher="exca_local"
    )
    assert proc.returncode == 0 and "0 to run, 2 cached" in proc.stdout + proc.stderr
    assert [j.state for j in inspect.sweep(tmp_path / "s2").jobs] == ["cached", "cached"]


def test_folders_written_by_060(tmp_path: Path, exca060: tp.Any) -> None:
    """exca 0.6.0 keeps the outcome of an in-process TaskInfra in job.pkl (no index)."""
    exca060.run(
        """
        import pydantic, exca
        class T(pydantic.BaseModel):
            x: int = 1
            infra: exca.TaskInfra = exca.TaskInfra(version="1")
            @infra.apply
            def run(self) -> int:
                if self.x < 0:
                    raise ValueError("negative")
                return 10 * self.x
        assert T(x=2, infra={"folder": "c"}).run() == 20
        try:
            T(x=-1, infra={"folder": "c"}).run()
        except ValueError:
            pass
        """,
        cwd=tmp_path,
    )
    states = {short(e.uid): e.state for e in inspect.ls(tmp_path / "c")}
    assert states == {"x=2": "completed", "x=-1": "failed"}
    [done] = [e for e in inspect.ls(tmp_path / "c") if e.state == "completed"]
    assert "0.6.0" in inspect.show(done.path)["result"]["format"]
    report = inspect.clean(tmp_path / "c", failed=True)
    assert [short(e.uid) for e in report.removed] == ["x=-1"]


@pytest.mark.filterwarnings("ignore:Skipping garbled line")
def test_item_count_agrees_with_the_index_view(tmp_path: Path) -> None:
    """``ls`` counts items without merging the index (its fast path): the count must be
    the number of keys a CacheDict lists, whatever the index files hold."""
    from exca.cachedict.index import IndexView, count_keys

    def check(folder: Path, expected: int) -> None:
        view = IndexView(folder)
        with pytest.warns() if expected < 0 else contextlib.nullcontext():
            view.refresh()
        n, only = count_keys(folder)
        assert n == len(view.entries) == len(CacheDict(folder)), folder
        assert only == (next(iter(view.entries)) if n == 1 else None)
        assert expected < 0 or n == expected

    plain = tmp_path / "plain"
    cd: CacheDict[tp.Any] = CacheDict(plain, cache_type="Json")
    with cd.writer() as w:
        for k in range(5):
            w[f"k{k}"] = k
    check(plain, 5)
    # a key written again: counted once
    other: CacheDict[tp.Any] = CacheDict(plain, cache_type="Json")
    with other.writer() as w:
        w["k0"] = 12
        w["new"] = 1
    check(plain, 6)
    # and the same keys in the index file of another writer (another host)
    [index] = plain.glob("*-info.jsonl")
    (plain / f"other-host-1-abcdef{index.name[index.name.index('-info') :]}").write_bytes(
        index.read_bytes()
    )
    check(plain, 6)
    # a tombstone, then a single key left (the "result" of a task)
    deleted = tmp_path / "deleted"
    cd = CacheDict(deleted, cache_type="Json")
    with cd.writer() as w:
        w["result"] = 1
        w["other"] = 2
    with cd.writer() as w:
        del w["other"]
    check(deleted, 1)
    assert count_keys(deleted) == (1, "result")
    # escaped and non-ASCII keys
    odd = tmp_path / "odd"
    cd = CacheDict(odd, cache_type="Json")
    with cd.writer() as w:
        w['a "quoted" \\ key'] = 1
        w["clé"] = 2
    check(odd, 2)
    # a partial last line (being written) is not counted; a garbled line is skipped
    [index] = odd.glob("*-info.jsonl")
    with index.open("ab") as f:
        f.write(b' {"#key":"half","#t":1')
    check(odd, 2)
    with index.open("ab") as f:
        f.write(b'2,"#type":"Json","content":1}\n {"#key":"bad","#t":x,"#type":"Json"}\n')
    check(odd, -1)
    assert count_keys(odd)[0] == 3
    check(tmp_path / "missing", 0)


def test_size_is_what_the_files_take_on_disk(tmp_path: Path) -> None:
    """The size ``ls`` shows (what ``clean`` frees) is the allocated size of every file and
    folder below the entry, links not followed, also when the entry is given by a link."""
    folder = tmp_path / "cache" / "m.M.f,1" / "default"
    cd: CacheDict[tp.Any] = CacheDict(folder, cache_type="NumpyArray")
    import numpy as np

    with cd.writer() as w:
        for k in range(20):
            w[f"k{k}"] = np.arange(k * 1000.0)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "big.bin").write_bytes(b"x" * 1_000_000)
    (folder / "link-out").symlink_to(outside)
    (folder / "data" / "link-file").symlink_to(outside / "big.bin")
    expected = 0
    for root, dirs, files in os.walk(folder):  # (os.walk does not follow links)
        for name in dirs + files:
            expected += os.lstat(os.path.join(root, name)).st_blocks * 512
    e = inspect.entry(folder)
    assert e.items == 20 and e.size == expected
    (tmp_path / "alias").symlink_to(folder)
    assert inspect.entry(tmp_path / "alias").size == expected


def test_wait_false_with_the_optuna_sweeper_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    """A real Optuna sweep (it needs each job's value to propose the next ones)."""
    proc = run_sweep(
        tmp_path,
        tmp_path / "s",
        "hydra/sweeper=optuna",
        "hydra.sweeper.n_trials=2",
        "x=choice(1,2)",
        "hydra.launcher.wait=false",
        launcher="exca_local",
    )
    assert proc.returncode != 0
    assert "OptunaSweeper needs the jobs' return values" in proc.stderr
    assert "hydra/sweeper=exca" in proc.stderr
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*-info.jsonl"))
