"""The infras' cluster paths through real ``sbatch`` on the local Slurm cluster.

Every job here is submitted by exca to the cluster started by
``bash scripts/local-slurm.sh start``; each test checks that Slurm really ran it (job ids,
the job's own ``SLURM_*`` environment, ``sacct`` records) besides what exca reports.

The classes below are pickled *by reference* into the jobs: the job's Python imports
``tests.test_slurm_infra``, which it finds because submitit starts the job in the
submission's working directory (the repository root, where pytest runs).
"""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
import time
import typing as tp
import uuid
from pathlib import Path

import pydantic
import pytest

from exca import ConfDict, MapInfra, TaskInfra
from exca.backends import LocalJob
from exca.cachedict import CacheDict

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[1]
# small jobs that never wait for each other (the partition oversubscribes its cores)
RESOURCES: dict[str, tp.Any] = {"timeout_min": 5, "mem_gb": 0.25, "cpus_per_task": 1}
T = tp.TypeVar("T")


# ---------- what the jobs run ----------


def slurm_env() -> dict[str, str | None]:
    """What Slurm told the current process about its job (None values outside Slurm)."""
    env = os.environ
    return {
        "job_id": env.get("SLURM_JOB_ID"),
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "array_task_id": env.get("SLURM_ARRAY_TASK_ID"),
    }


class SlurmTask(pydantic.BaseModel):
    """Its result says where it was computed."""

    param: int = 1
    infra: TaskInfra = TaskInfra(version="1")

    @infra.apply
    def process(self) -> dict[str, tp.Any]:
        return {"double": 2 * self.param, "pid": os.getpid(), **slurm_env()}


class FailingWhileFlag(pydantic.BaseModel):
    """Raises while the file ``flag`` exists."""

    flag: str
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> str | None:
        if Path(self.flag).exists():
            raise ValueError(f"failing on purpose while {self.flag} exists")
        return os.environ.get("SLURM_JOB_ID")


class Sleeper(pydantic.BaseModel):
    """Sleeps ``seconds`` then returns them."""

    seconds: int
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> int:
        time.sleep(self.seconds)
        return self.seconds


class SlurmMap(pydantic.BaseModel):
    """Maps x -> coeff * x, and says which job computed each item."""

    coeff: int = 3
    infra: MapInfra = MapInfra(version="1")

    @infra.apply(item_uid=str)
    def process(self, items: tp.Sequence[int]) -> tp.Iterator[dict[str, tp.Any]]:
        env = slurm_env()
        for x in items:
            yield {"value": self.coeff * x, **env}


class Attempts(pydantic.BaseModel):
    """Records each attempt (Slurm's restart count); the first one waits to be preempted."""

    marker_dir: str
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> list[str]:
        folder = Path(self.marker_dir)
        (folder / f"attempt-{os.environ.get('SLURM_RESTART_COUNT', '0')}").touch()
        attempts = sorted(p.name for p in folder.iterdir())
        if len(attempts) == 1:
            time.sleep(240)
        return attempts


# ---------- helpers ----------


def run(*command: str) -> str:
    """Stdout of a (Slurm) command."""
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout


def settled(read: tp.Callable[[], T], done: tp.Callable[[T], bool], timeout_s: float = 30) -> T:
    """The first value of ``read()`` for which ``done`` holds, polled for up to ``timeout_s``
    (then the last value): Slurm's accounting trails the controller by a moment."""
    deadline = time.monotonic() + timeout_s
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.5)
        value = read()
    return value


def sacct(
    job_id: str, expected: dict[str, str] | None = None, timeout_s: float = 30
) -> dict[str, str]:
    """JobID -> State of the allocations of ``job_id`` (all tasks of an array) recorded by
    the accounting, once it equals ``expected`` (or once no state is a running one)."""

    def read() -> dict[str, str]:
        out = run("sacct", "-X", "--noheader", "--parsable2", "--format=JobID,State", f"-j{job_id}")
        return dict(line.split("|", 1) for line in out.splitlines() if line)

    def done(states: dict[str, str]) -> bool:
        if expected is not None:
            return states == expected
        return bool(states) and not {"PENDING", "RUNNING", "COMPLETING"} & set(states.values())

    return settled(read, done, timeout_s)


def squeue_state(job_id: str) -> str:
    """``<state> <reason>`` of a job as the controller sees it."""
    return run("squeue", "--noheader", "--format=%T %r", f"--jobs={job_id}").strip()


def fresh_process(code: str) -> tp.Any:
    """Runs ``code`` in a new Python process (from the repository root) and returns the
    JSON it prints on its last line."""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"fresh process failed:\n{proc.stderr}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def is_slurm_job_id(job_id: str) -> bool:
    return re.fullmatch(r"\d+(_\d+)?", job_id) is not None


# ---------- time limits (slowest first) ----------


def test_job_killed_at_time_limit_is_failed_and_not_cached(slurm_folder: Path) -> None:
    """Slurm kills a job exceeding ``timeout_min`` (state TIMEOUT); it never writes a result,
    and exca sees it as failed (through the accounting) and caches nothing.

    submitit asks Slurm for ``--signal=USR2@90`` and, when the job runs through srun, ends
    it itself on USR2 (see the next test); here the warning signal is SIGURG, which Python
    ignores, so that Slurm itself stops the job at its limit: 60 to ~95 s after it started.
    (First in the module: the slowest test starts first.)
    """
    infra = {
        "folder": slurm_folder,
        "cluster": "slurm",
        "timeout_min": 1,
        "mem_gb": 0.25,
        "slurm_additional_parameters": {"signal": "URG@1"},
    }
    task = Sleeper(seconds=600, infra=infra)
    job = task.infra.job()
    assert is_slurm_job_id(job.job_id)
    assert sacct(job.job_id, timeout_s=200) == {job.job_id: "TIMEOUT"}
    # submitit re-reads sacct with a growing delay (up to 60 s): refresh it now
    job.done(force_check=True)
    with pytest.raises(Exception, match="TIMEOUT"):
        task.process()
    assert not list(slurm_folder.glob(f"logs/*/{job.job_id}/*_result.pkl"))
    assert "DUE TO TIME LIMIT" in (job.stderr() or "")
    # nothing cached: a new object finds the failed job, and read-only mode has no result
    assert Sleeper(seconds=600, infra=infra).infra.status() == "failed"
    with pytest.raises(RuntimeError, match="read-only"):
        Sleeper(seconds=600, infra={**infra, "mode": "read-only"}).process()


def test_job_timing_out_through_srun_ends_early(slurm_folder: Path) -> None:
    """With ``slurm_use_srun=True`` the job runs as a job step, which receives submitit's
    time-limit warning (``--signal=USR2@90``): with ``timeout_min=1`` it comes at once, and
    submitit's handler ends the (not checkpointable) job as timed out, well before Slurm
    would. exca reports it failed and caches nothing."""
    infra = {
        "folder": slurm_folder,
        "cluster": "slurm",
        "timeout_min": 1,
        "mem_gb": 0.25,
        "slurm_use_srun": True,
    }
    task = Sleeper(seconds=600, infra=infra)
    job = task.infra.job()
    with pytest.raises(Exception, match="timed-out"):
        task.process()
    assert sacct(job.job_id) == {job.job_id: "FAILED"}
    assert task.infra.status() == "failed"
    (script,) = slurm_folder.glob(f"logs/*/{job.job_id}/{job.job_id}_submission.sh")
    assert "\nsrun " in script.read_text()
    with pytest.raises(RuntimeError, match="read-only"):
        Sleeper(seconds=600, infra={**infra, "mode": "read-only"}).process()


# ---------- TaskInfra ----------


@pytest.mark.parametrize("cluster", ["slurm", "auto"])
def test_task_runs_through_sbatch(slurm_folder: Path, cluster: str) -> None:
    task = SlurmTask(param=3, infra={"folder": slurm_folder, "cluster": cluster, **RESOURCES})
    if cluster == "auto":
        assert task.infra.executor().cluster == "slurm", "auto must pick the Slurm cluster"
    assert task.infra.status() == "not submitted"
    job = task.infra.job()
    assert is_slurm_job_id(job.job_id) and "_" not in job.job_id
    out = task.process()
    # computed by that Slurm job, in another process
    assert out["double"] == 6
    assert out["job_id"] == job.job_id
    assert out["array_job_id"] is None
    assert out["pid"] != os.getpid()
    assert task.infra.status() == "completed"
    # submitit's sbatch script asked for our resources, in the infra's logs folder
    user_logs = slurm_folder / "logs"
    (script,) = user_logs.glob(f"*/{job.job_id}/{job.job_id}_submission.sh")
    text = script.read_text()
    assert "#SBATCH --mem=256MB" in text
    assert "#SBATCH --time=5" in text
    assert sacct(job.job_id, {job.job_id: "COMPLETED"}) == {job.job_id: "COMPLETED"}
    # the result is cached: a new object with the same config submits nothing
    again = SlurmTask(param=3, infra={"folder": slurm_folder, "cluster": cluster, **RESOURCES})
    assert again.process() == out
    assert isinstance(again.infra.job(), LocalJob)
    assert len(list(user_logs.glob("*/*/*_submission.sh"))) == 1


def test_task_default_does_not_use_srun(slurm_folder: Path) -> None:
    """``slurm_use_srun`` defaults to False: the batch script runs Python itself."""
    task = SlurmTask(param=4, infra={"folder": slurm_folder, "cluster": "slurm", **RESOURCES})
    assert task.infra.slurm_use_srun is False
    job = task.infra.job()
    assert task.process()["job_id"] == job.job_id
    (script,) = slurm_folder.glob(f"logs/*/{job.job_id}/{job.job_id}_submission.sh")
    assert "srun" not in script.read_text(), "slurm_use_srun=False but the job runs through srun"


def test_job_array_submits_only_uncached(slurm_folder: Path) -> None:
    base = SlurmTask(infra={"folder": slurm_folder, "cluster": "slurm", **RESOURCES})
    # 3 of the 10 configs are computed beforehand, in this process (same uid folders)
    for param in range(3):
        assert SlurmTask(param=param, infra={"folder": slurm_folder}).process()["job_id"] is None
    with base.infra.job_array() as array:
        for param in range(10):
            array.append(base.infra.clone_obj(param=param))
    jobs = [task.infra.job() for task in array]
    assert all(isinstance(job, LocalJob) for job in jobs[:3])
    submitted = jobs[3:]
    # exactly 7 jobs, as one Slurm job array
    array_id = submitted[0].job_id.split("_")[0]
    assert [job.job_id for job in submitted] == [f"{array_id}_{k}" for k in range(7)]
    results = [task.process() for task in array]
    assert [r["double"] for r in results] == [2 * param for param in range(10)]
    assert all(r["job_id"] is None for r in results[:3])  # the cache, not a job
    assert [(r["array_job_id"], r["array_task_id"]) for r in results[3:]] == [
        (array_id, str(k)) for k in range(7)
    ]
    expected = {f"{array_id}_{k}": "COMPLETED" for k in range(7)}
    assert sacct(array_id, expected) == expected
    assert all(task.infra.status() == "completed" for task in array)
    # all 10 cached now: a second array submits nothing
    with base.infra.job_array() as again:
        for param in range(10):
            again.append(base.infra.clone_obj(param=param))
    assert all(isinstance(task.infra.job(), LocalJob) for task in again)
    assert [task.process() for task in again] == results


# ---------- MapInfra ----------


def test_map_packs_items_into_max_jobs(slurm_folder: Path) -> None:
    infra = {"folder": slurm_folder, "cluster": "slurm", "max_jobs": 4, **RESOURCES}
    items = list(range(1000))
    outputs = list(SlurmMap(infra=infra).process(items))
    assert [out["value"] for out in outputs] == [3 * x for x in items]
    # every item was computed on Slurm, by the tasks of one job array of 4 tasks
    array_ids = {out["array_job_id"] for out in outputs}
    assert len(array_ids) == 1 and None not in array_ids
    (array_id,) = array_ids
    per_task: dict[str, int] = {}
    for out in outputs:
        per_task[out["array_task_id"]] = per_task.get(out["array_task_id"], 0) + 1
    assert sorted(per_task) == ["0", "1", "2", "3"]  # max_jobs tasks, sharing the items
    assert sum(per_task.values()) == 1000
    expected = {f"{array_id}_{k}": "COMPLETED" for k in range(4)}
    assert sacct(array_id, expected) == expected
    # a new object reads all 1,000 from the cache and submits nothing; 10 new items -> 1 more
    # array (of at most 4 tasks), and only the new items are computed
    again = SlurmMap(infra=infra)
    assert list(again.process(items)) == outputs
    more = list(again.process(range(995, 1010)))
    assert more[:5] == outputs[995:]
    new_arrays = {out["array_job_id"] for out in more[5:]}
    assert len(new_arrays) == 1 and array_id not in new_arrays
    assert len({out["array_task_id"] for out in more[5:]}) == 4
    submissions = list(slurm_folder.glob("logs/*/*/*_submission.sh"))
    assert len(submissions) == 2  # one sbatch script per array


# ---------- failures ----------


FRESH_FAILING_CODE = """
import json
from tests.test_slurm_infra import FailingWhileFlag

task = FailingWhileFlag(flag={flag!r}, infra={{"folder": {folder!r}, "cluster": "slurm"}})
print(json.dumps([task.infra.status(), task.infra.job().job_id]))
"""


def test_failing_job_traceback_status_and_retry(slurm_folder: Path) -> None:
    flag = slurm_folder / "fail-flag"
    flag.touch()

    def make(mode: str) -> FailingWhileFlag:
        infra = {"folder": slurm_folder, "cluster": "slurm", "mode": mode, **RESOURCES}
        return FailingWhileFlag(flag=str(flag), infra=infra)

    task = make("cached")
    with pytest.raises(Exception, match="failing on purpose") as info:
        task.process()
    # the job's own traceback text reaches the caller
    text = str(info.value)
    assert "ValueError: failing on purpose" in text
    assert "in process" in text and "test_slurm_infra.py" in text
    job_id = task.infra.job().job_id
    assert is_slurm_job_id(job_id)
    assert sacct(job_id, {job_id: "FAILED"}) == {job_id: "FAILED"}
    assert task.infra.status() == "failed"
    with pytest.raises(Exception, match="failing on purpose"):
        task.infra.job().result()
    # another process building the same config sees the same failed job
    code = FRESH_FAILING_CODE.format(flag=str(flag), folder=str(slurm_folder))
    assert fresh_process(code) == ["failed", job_id]
    # nothing is cached as completed
    with pytest.raises(RuntimeError, match="read-only"):
        make("read-only").process()
    flag.unlink()  # the next run would succeed...
    # ...but mode="cached" gives the failed job's error again, without resubmitting
    cached = make("cached")
    assert cached.infra.status() == "failed"
    with pytest.raises(Exception, match="failing on purpose"):
        cached.process()
    assert cached.infra.job().job_id == job_id
    # mode="retry" reruns it on Slurm
    retry = make("retry")
    new_id = retry.process()
    assert new_id is not None and new_id != job_id
    assert retry.infra.status() == "completed"
    assert sacct(new_id, {new_id: "COMPLETED"}) == {new_id: "COMPLETED"}
    assert make("read-only").process() == new_id
    assert make("cached").infra.status() == "completed"


# ---------- workdir snapshots ----------

SNAPSHOT_MODULE = """
import os

import pydantic

import exca

VALUE = "old code"


class Snap(pydantic.BaseModel):
    tag: str = "x"
    infra: exca.TaskInfra = exca.TaskInfra()

    @infra.apply
    def process(self) -> dict[str, str]:
        return {"value": VALUE, "file": __file__, "cwd": os.getcwd()}
"""


def test_workdir_snapshot_protects_queued_job(slurm_folder: Path, tmp_path: Path) -> None:
    name = f"exca_snap_{uuid.uuid4().hex[:8]}"  # unique: xdist workers share nothing else
    code = tmp_path / "code"
    code.mkdir()
    source = code / f"{name}.py"
    source.write_text(SNAPSHOT_MODULE)
    sys.path.insert(0, str(code))
    job_id = None
    try:
        module = importlib.import_module(name)
        infra = {
            "folder": slurm_folder / "cache",
            "cluster": "slurm",
            "workdir": {"copied": [str(source)]},
            **RESOURCES,
        }
        held = {**infra, "slurm_additional_parameters": {"hold": True}}
        task = module.Snap(tag="held", infra=held)
        job = task.infra.job()
        job_id = job.job_id
        assert squeue_state(job_id) == "PENDING JobHeldUser"
        # the source is edited while the job waits in the queue
        source.write_text(SNAPSHOT_MODULE.replace('"old code"', '"new code"'))
        run("scontrol", "release", job_id)
        out = task.process()
        assert out["value"] == "old code"
        snapshots = task.infra.uid_folder() / "code"
        assert Path(out["file"]).parent.parent == snapshots
        assert Path(out["cwd"]) == Path(out["file"]).parent
        assert sacct(job_id, {job_id: "COMPLETED"}) == {job_id: "COMPLETED"}
        # a job submitted after the edit snapshots (and runs) the new code
        later = module.Snap(tag="later", infra=infra)
        assert later.process()["value"] == "new code"
    finally:
        sys.path.remove(str(code))
        sys.modules.pop(name, None)
        if job_id is not None and "PENDING" in squeue_state(job_id):
            run("scancel", job_id)


# ---------- a fresh process finds the job ----------

FRESH_CODE = """
import json
from tests.test_slurm_infra import SlurmTask

task = SlurmTask(param={param}, infra={{"folder": {folder!r}, "cluster": "slurm"}})
status = task.infra.status()
job = task.infra.job()
result = job.result() if {wait} else None
print(json.dumps([status, job.job_id, result, task.infra.status()]))
"""


def test_job_and_status_from_a_fresh_process(slurm_folder: Path) -> None:
    infra = {"folder": slurm_folder, "cluster": "slurm", **RESOURCES}
    held = {**infra, "slurm_additional_parameters": {"hold": True}}
    task = SlurmTask(param=21, infra=held)
    job = task.infra.job()
    try:
        assert squeue_state(job.job_id) == "PENDING JobHeldUser"

        def fresh(wait: bool) -> list[tp.Any]:
            code = FRESH_CODE.format(param=21, folder=str(slurm_folder), wait=wait)
            return tp.cast(list[tp.Any], fresh_process(code))

        # another process building the same config finds the queued job (no new submission)
        assert fresh(wait=False) == ["running", job.job_id, None, "running"]
        run("scontrol", "release", job.job_id)
        status, _, result, after = fresh(wait=True)
    finally:
        if "PENDING" in squeue_state(job.job_id):
            run("scancel", job.job_id)
    assert status in ("running", "completed")  # depending on how fast the released job ran
    assert result["double"] == 42 and result["job_id"] == job.job_id
    assert after == "completed"
    assert task.process() == result
    # once completed, a fresh process reads the cached result
    assert fresh(wait=True)[0] == "completed"
    assert len(list(slurm_folder.glob("logs/*/*/*_submission.sh"))) == 1


# ---------- the Hydra launcher's Slurm flavour ----------

HYDRA_APP = """
import os

import hydra


@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg):
    env = os.environ
    return {
        "square": cfg.x * cfg.x,
        "job_id": env.get("SLURM_JOB_ID"),
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "array_task_id": env.get("SLURM_ARRAY_TASK_ID"),
    }


if __name__ == "__main__":
    main()
"""


def hydra_sweep(app_dir: Path, cache: Path, values: str) -> dict[int, dict[str, tp.Any]]:
    """Runs ``app.py -m hydra/launcher=exca_slurm x=<values>``; returns x -> cached result
    for every uid folder of the cache."""
    command = [
        sys.executable,
        str(app_dir / "app.py"),
        "-m",
        "hydra/launcher=exca_slurm",
        f"hydra.launcher.cache_folder={cache}",
        f"hydra.launcher.logs={app_dir / 'logs' / '%j'}",
        "hydra.launcher.mem_gb=0.25",
        "hydra.launcher.timeout_min=5",
        f"hydra.sweep.dir={app_dir / 'multirun'}",
        f"x={values}",
    ]
    proc = subprocess.run(
        command, cwd=app_dir, capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, f"sweep failed:\n{proc.stdout}\n{proc.stderr}"
    results: dict[int, dict[str, tp.Any]] = {}
    for uid_yaml in cache.glob("*/*/uid.yaml"):
        x = ConfDict.from_yaml(uid_yaml)["x"]
        results[x] = CacheDict(uid_yaml.parent)["result"]
    return results


def test_hydra_slurm_launcher_sweep_is_cached(slurm_folder: Path) -> None:
    app_dir = slurm_folder / "app"
    app_dir.mkdir()
    (app_dir / "app.py").write_text(HYDRA_APP)
    (app_dir / "config.yaml").write_text("x: 0\n")
    cache = slurm_folder / "cache"
    first = hydra_sweep(app_dir, cache, "1,2,3")
    assert {x: r["square"] for x, r in first.items()} == {1: 1, 2: 4, 3: 9}
    # the 3 jobs ran as one Slurm job array
    array_ids = {r["array_job_id"] for r in first.values()}
    assert len(array_ids) == 1 and None not in array_ids
    (array_id,) = array_ids
    assert sorted(r["array_task_id"] for r in first.values()) == ["0", "1", "2"]
    expected = {f"{array_id}_{k}": "COMPLETED" for k in range(3)}
    assert sacct(array_id, expected) == expected
    # the same sweep with one more value: only that job runs, on Slurm
    second = hydra_sweep(app_dir, cache, "1,2,3,4")
    assert {x: second[x] for x in (1, 2, 3)} == first
    assert second[4]["square"] == 16
    new_id = second[4]["job_id"]
    assert new_id is not None and new_id not in {r["job_id"] for r in first.values()}
    assert sacct(new_id, {new_id: "COMPLETED"}) == {new_id: "COMPLETED"}


GATED_APP = """
import os
import time
from pathlib import Path

import hydra


@hydra.main(version_base=None, config_path=".", config_name="config")
def main(cfg):
    while not Path(cfg.gate).exists():  # held until the test opens the gate
        time.sleep(0.2)
    return {"square": cfg.x * cfg.x, "array_job_id": os.environ.get("SLURM_ARRAY_JOB_ID")}


if __name__ == "__main__":
    main()
"""


def test_hydra_sweep_launched_again_waits_for_running_jobs(slurm_folder: Path) -> None:
    app_dir = slurm_folder / "gated"
    app_dir.mkdir()
    gate = app_dir / "go"
    (app_dir / "app.py").write_text(GATED_APP)
    (app_dir / "config.yaml").write_text(f"x: 0\ngate: {gate}\n")
    cache = slurm_folder / "cache"

    def start(name: str) -> tuple[subprocess.Popen[bytes], Path]:
        command = [sys.executable, str(app_dir / "app.py"), "-m", "hydra/launcher=exca_slurm"]
        command += [f"hydra.launcher.cache_folder={cache}", "hydra.launcher.mem_gb=0.25"]
        command += [f"hydra.launcher.logs={app_dir / 'logs' / '%j'}", "x=1,2,3"]
        command += [f"hydra.sweep.dir={app_dir / name}"]
        log = app_dir / f"{name}.log"
        with log.open("wb") as out:
            proc = subprocess.Popen(command, cwd=app_dir, stdout=out, stderr=subprocess.STDOUT)
        return proc, log

    first, _ = start("first")
    try:  # the first sweep submits its array, then its launching process dies
        settled(lambda: len(list(cache.glob("*/*/job.pkl"))), lambda n: n == 3, timeout_s=90)
    finally:
        first.kill()
        first.wait()
    second, log = start("second")
    try:
        plan = "0 to run, 0 cached, 3 still running from an earlier sweep"
        settled(log.read_text, lambda text: plan in text or second.poll() is not None, 90)
        assert plan in log.read_text()  # it waits for the 3 jobs...
        gate.touch()  # ...which can only finish now
        second.wait(timeout=180)
    finally:
        gate.touch()
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, log.read_text()
    results = [CacheDict(p.parent)["result"] for p in cache.glob("*/*/uid.yaml")]
    assert sorted(r["square"] for r in results) == [1, 4, 9]
    # computed once, by the first sweep's array: the second sweep submitted nothing
    (array_id,) = {r["array_job_id"] for r in results}
    assert len(list((app_dir / "logs").rglob("*_submission.sh"))) == 1
    expected = {f"{array_id}_{k}": "COMPLETED" for k in range(3)}
    assert sacct(array_id, expected) == expected  # (the accounting trails a moment)


def test_job_file_of_a_job_slurm_does_not_know_is_not_waited_for(slurm_folder: Path) -> None:
    import submitit

    from exca import layout
    from exca.backends import slurm_state

    def task() -> SlurmTask:
        return SlurmTask(param=77, infra={"folder": slurm_folder, "cluster": "slurm", **RESOURCES})

    folder = task().infra.uid_folder(create=True)
    assert folder is not None
    # eg: a job purged from the accounting long ago, or recorded on another cluster
    layout.save_job(folder, submitit.SlurmJob(folder=slurm_folder / "old", job_id="987654321"))
    assert slurm_state(layout.load_job(folder)) == "unknown"
    fresh = task()
    assert fresh.infra.status() == "not submitted"  # not "running" forever
    out = fresh.process()  # submitted again, instead of waiting for a job that never ends
    assert out["double"] == 154 and out["job_id"] not in (None, "987654321")
    state = settled(lambda: slurm_state(layout.load_job(folder)), lambda s: s == "ended")
    assert state == "ended"  # (the accounting trails a moment)


def test_find_slurm_job_by_id(slurm_folder: Path) -> None:
    from exca.helpers import find_slurm_job

    base = SlurmTask(infra={"folder": slurm_folder, "cluster": "slurm", **RESOURCES})
    with base.infra.job_array() as array:
        for param in (21, 22):
            array.append(base.infra.clone_obj(param=param))
    results = [task.process() for task in array]
    for task, result in zip(array, results, strict=True):
        job_id = task.infra.job().job_id
        assert "_" in job_id  # "<array id>_<task>"
        for folder in (slurm_folder, None):  # None: found through scontrol's StdOut path
            found = find_slurm_job(job_id=job_id, folder=folder)
            assert found is not None and found.job_id == job_id
            assert found.uid_folder == task.infra.uid_folder()
            assert found.uid_config == ConfDict({"param": task.param})
            assert found.config["param"] == task.param
            assert found.done() and result["array_job_id"] == job_id.split("_")[0]
            assert "Traceback" not in found.stderr()
    assert find_slurm_job(job_id="987654321", folder=slurm_folder) is None
    with pytest.raises(ValueError, match="folder="):
        find_slurm_job(job_id="987654321")


def test_preempted_job_is_requeued_and_completes(slurm_folder: Path) -> None:
    markers = slurm_folder / "markers"
    markers.mkdir()
    # timeout_min above 10: submitit tells a preemption from a time limit by the elapsed time
    resources = {**RESOURCES, "timeout_min": 20}
    task = Attempts(
        marker_dir=str(markers), infra={"folder": slurm_folder, "cluster": "slurm", **resources}
    )
    job = task.infra.job()
    settled(lambda: list(markers.iterdir()), bool, timeout_s=60)
    # what a preempting Slurm sends (submitit's signal); the job requeues itself
    run("scancel", "--signal=USR2", "--full", job.job_id)
    state = settled(lambda: squeue_state(job.job_id), lambda s: s.startswith("PENDING"), 60)
    assert state.startswith("PENDING"), state
    # (Slurm holds a requeued job for about two minutes: starting it earlier with
    # `scontrol update starttime=now` raced with the first attempt's cleanup)
    assert task.process() == ["attempt-0", "attempt-1"]  # same job, second attempt
    assert task.infra.job().job_id == job.job_id
    assert task.infra.status() == "completed"
