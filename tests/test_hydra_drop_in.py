"""The exca launchers as drop-in replacements of Hydra's basic launcher (issue 13):
any ``_target_``, caches named after the task function, artifacts of cached jobs,
volatile values, cache folders interpolating Hydra's config. In process (``exca_inline``)
unless a script is needed; the corpus of apps is in tests/test_hydra_apps.py."""

import functools
import logging
import os
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus

from exca.hydra import targets
from exca.hydra.launcher import SweepError

from .test_hydra_launcher import ROOT, PlanLog, Sweeper, Task


@pytest.fixture
def sweep(tmp_path: Path, hydra_restore_singletons: None) -> Sweeper:
    return Sweeper(tmp_path)


def _collect(logger_name: str) -> tp.Iterator[PlanLog]:
    handler = PlanLog()
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def plan_log() -> tp.Iterator[PlanLog]:
    yield from _collect("exca.hydra.launcher")


@pytest.fixture
def artifacts_log() -> tp.Iterator[PlanLog]:
    yield from _collect("exca.hydra.artifacts")


# # # # # targets # # # # #


def instantiating_task(cfg: tp.Any) -> tp.Any:
    """Instantiates the job's config like an app would; partials get their missing args."""
    from hydra.utils import instantiate

    obj = instantiate(cfg)
    if isinstance(obj, functools.partial):
        obj = obj(data=[1, 2]) if "data" not in cfg else obj()
    if hasattr(obj, "child"):  # Plain
        child = obj.child(value=2.0) if obj.child is not None else None
        return {"args": obj.args, "size": obj.size, "child": child}
    if hasattr(obj, "model_dump"):
        return obj.model_dump()
    return obj if isinstance(obj, dict) else vars(obj)


EXPECTED = {
    "function_target": {"width": 4, "depth": 1},
    "method_target": {"size": 3, "args": [], "child": None},
    "nested_target": {"args": [1, 2], "size": 2, "child": 6.0},
    "partial_model": {"lr": 0.1, "data": [1, 2]},
    "dataclass_target": {"x": 1, "y": 2},
}


def _basic(sweep: Sweeper, config: str) -> tp.Any:
    (ret,) = sweep(instantiating_task, [], config_name=config, launcher="basic", cache=False)
    return ret.return_value


@pytest.mark.parametrize("config", sorted(EXPECTED))
def test_any_target_the_basic_launcher_runs(sweep: Sweeper, config: str) -> None:
    expected = EXPECTED[config]
    assert _basic(sweep, config) == expected
    for cache in (False, True):
        (ret,) = sweep(instantiating_task, [], config_name=config, cache=cache)
        assert ret.status == JobStatus.COMPLETED, ret._return_value
        assert ret.return_value == expected
    (ret,) = sweep(instantiating_task, [], config_name=config)  # served from the cache
    assert ret.return_value == expected
    folder = sweep.cache / "tests.test_hydra_drop_in.instantiating_task,0"
    assert len([p for p in folder.iterdir() if p.is_dir()]) == 1  # one entry, reused


def test_a_partial_model_is_validated_for_the_fields_it_has(sweep: Sweeper) -> None:
    with pytest.raises(SweepError, match=r"(?s)#0 \(lr=fast\).*lr = 'fast'.*expected float"):
        sweep(instantiating_task, ["lr=fast"], config_name="partial_model")
    with pytest.raises(SweepError, match=r"(?s)hidden = 1: unknown key"):
        sweep(instantiating_task, ["+hidden=1"], config_name="partial_model", cache=False)


# # # # # cache names: the task function, never hydra.job.name # # # # #


def task_a(cfg: tp.Any) -> str:
    return f"a{cfg.x}"


def task_b(cfg: tp.Any) -> float:
    return float(cfg.x)


class Holder:
    def method(self, cfg: tp.Any) -> int:
        return 1


def test_task_identity_looks_through_wrappers() -> None:
    from hydra_zen import zen

    import exca.hydra

    expected = targets.TaskIdentity(module=__name__, qualname="task_a")
    assert targets.task_identity(task_a) == expected
    assert targets.task_identity(zen(task_a)) == expected
    assert targets.task_identity(functools.partial(task_a)) == expected

    @functools.wraps(task_a)
    def wrapper(cfg: tp.Any) -> str:
        return task_a(cfg)

    assert targets.task_identity(wrapper) == expected
    # exca.hydra.main wraps the function validating its model: still the same identity
    main = exca.hydra.main(config_path=None, config_name=None)(task_a)
    assert targets.task_identity(main) == expected
    assert targets.task_identity(Holder().method).qualname == "Holder.method"
    assert targets.task_identity(Task()).qualname == "Task"  # a callable instance: its class
    assert targets.task_folder_name(expected) == f"{__name__}.task_a"
    script = targets.TaskIdentity("__main__", "main", "/a/train.py")
    other = targets.TaskIdentity("__main__", "main", "/b/train.py")
    assert targets.task_folder_name(script).startswith("train-")
    assert targets.task_folder_name(script) != targets.task_folder_name(other)


def test_apps_with_the_same_job_name_never_share_a_cache_entry(sweep: Sweeper) -> None:
    # both sweeps are named "app" by Hydra (hydra.job.name), with equal configs
    (a,) = sweep(task_a, ["x=1", "hydra.job.name=same"])
    (b,) = sweep(task_b, ["x=1", "hydra.job.name=same"])
    assert (a.return_value, b.return_value) == ("a1", 1.0)  # b computed, not served a's
    assert (sweep.cache / f"{__name__}.task_a,0" / "task.yaml").exists()
    assert (sweep.cache / f"{__name__}.task_b,0" / "task.yaml").exists()
    (b,) = sweep(task_b, ["x=1", "hydra.job.name=same"])
    assert b.return_value == 1.0


def test_a_cache_of_the_old_naming_is_not_reused(sweep: Sweeper, plan_log: PlanLog) -> None:
    # an older launcher named the folder after hydra.job.name ("app")
    old = sweep.cache / "app,0" / "x=1-c4ca4238"
    old.mkdir(parents=True)
    sweep(task_a, ["x=1"])
    text = "\n".join(plan_log.lines)
    assert f"{sweep.cache / 'app,0'} (a cache named after hydra.job.name" in text
    assert "is not reused" in text
    # a task-named folder written without task.yaml is refused, never read
    (sweep.cache / f"{__name__}.task_b,0" / "x=1-c4ca4238").mkdir(parents=True)
    with pytest.raises(SweepError, match=r"has results but no task.yaml.*not reused"):
        sweep(task_b, ["x=1"])
    # a task.yaml naming another function is refused too
    marker = sweep.cache / f"{__name__}.task_a,0" / "task.yaml"
    marker.write_text(marker.read_text().replace("task_a", "task_z"))
    with pytest.raises(SweepError, match=r"belongs to another task function"):
        sweep(task_a, ["x=1"])


# # # # # artifacts of cached jobs # # # # #


class WritingTask:
    """Writes files into its output dir (a checkpoint, a folder of plots); counts runs."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, cfg: tp.Any) -> int:
        self.runs += 1
        out = Path(HydraConfig.get().runtime.output_dir)
        (out / "model.ckpt").write_text(f"weights {cfg.x}")
        (out / "plots").mkdir(exist_ok=True)
        (out / "plots" / "loss.txt").write_text("0.1")
        return int(cfg.x)


def _job_dir(sweep: Sweeper, k: int = 0) -> Path:
    return sweep.tmp_path / f"sweep{sweep.count}" / str(k)


@pytest.mark.parametrize("how", ["link", "copy", "none"])
def test_a_cached_job_gets_the_files_of_its_original_run(
    sweep: Sweeper, how: str, artifacts_log: PlanLog
) -> None:
    task = WritingTask()
    sweep(task, ["x=1"])
    original = _job_dir(sweep)
    sweep(task, ["x=1", f"hydra.launcher.artifacts={how}"])
    assert task.runs == 1
    served = _job_dir(sweep)
    # its own .hydra/ and log file, whatever the mode
    assert "- x=1" in (served / ".hydra" / "overrides.yaml").read_text()
    assert f"output_dir: {served}" in (served / ".hydra" / "hydra.yaml").read_text()
    assert not (served / ".hydra").is_symlink()
    if how == "none":
        assert not (served / "model.ckpt").exists()
        return
    assert (served / "model.ckpt").read_text() == "weights 1"
    assert (served / "plots" / "loss.txt").read_text() == "0.1"
    # never links a served job could write through (tests/test_hydra_uidrule.py)
    assert not (served / "model.ckpt").is_symlink() and not (served / "plots").is_symlink()
    assert f"computed in {original}" in "\n".join(artifacts_log.lines)


def test_a_missing_original_output_dir_is_a_warning(sweep: Sweeper, artifacts_log: PlanLog) -> None:
    import shutil

    task = WritingTask()
    sweep(task, ["x=1"])
    shutil.rmtree(_job_dir(sweep))
    (ret,) = sweep(task, ["x=1"])
    assert ret.status == JobStatus.COMPLETED and ret.return_value == 1 and task.runs == 1
    assert "no longer exists" in "\n".join(artifacts_log.lines)
    assert not (_job_dir(sweep) / "model.ckpt").exists()


# # # # # values that change at every run # # # # #


def test_now_in_the_uid_is_warned_once(sweep: Sweeper, plan_log: PlanLog) -> None:
    task = Task()
    sweep(task, ["x=1,2", "+stamp=${now:%H-%M-%S-%f}"])
    warnings = [line for line in plan_log.lines if "change from run to run" in line]
    assert len(warnings) == 1  # once for the sweep, not once per job
    assert "stamp = '${now:%H-%M-%S-%f}'" in warnings[0]
    assert "hydra.launcher.exclude_from_uid=[stamp]" in warnings[0]
    plan_log.lines.clear()
    sweep(task, ["x=1", "+stamp=${now:%H}", "hydra.launcher.exclude_from_uid=[stamp]"])
    assert not any("change from run to run" in line for line in plan_log.lines)
    # a resolver the user lists
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("run_token", lambda: "tok", replace=True)
    try:
        sweep(
            task, ["x=1", "+token=${run_token:}", "hydra.launcher.volatile_resolvers=[run_token]"]
        )
    finally:
        OmegaConf.clear_resolver("run_token")
    assert any("token = '${run_token:}': 'tok' (job #0)" in line for line in plan_log.lines)


# # # # # cache folders interpolating Hydra's config (real apps: a CLI process) # # # # #

SCRIPT = """
import os, hydra
@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg):
    with open(os.environ["RUNS"], "a") as f:
        f.write(f"{cfg.x}\\n")
    return cfg.x
main()
"""


def _run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RUNS": str(folder / "runs.txt"), "PYTHONPATH": ROOT}
    return subprocess.run(
        [sys.executable, "app.py", "-m", *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_cache_folder_interpolating_hydra_config(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(SCRIPT)
    args = [
        "+x=1,2",
        "hydra/launcher=exca_inline",
        "hydra.launcher.cache_folder=${hydra:runtime.cwd}/c",
    ]
    for _ in range(2):
        proc = _run(tmp_path, *args)
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs.txt").read_text().split() == ["1", "2"]  # the second run: hits
    assert (tmp_path / "c").is_dir()
    proc = _run(
        tmp_path,
        "+x=1",
        "hydra/launcher=exca_inline",
        "hydra.launcher.cache_folder=${hydra:runtime.output_dir}/c",
    )
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if "cache_folder" in line]
    assert len(errors) == 1 and "Traceback" not in proc.stderr
    assert "is a folder per job" in errors[0] and "${hydra:runtime.cwd}/cache" in errors[0]


def test_two_scripts_of_the_same_name_never_share_a_cache_entry(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for name, value in (("a", "1"), ("b", "2")):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "train.py").write_text(SCRIPT.replace("return cfg.x", f"return {value}"))
        (folder / "app.py").write_text((folder / "train.py").read_text())
    for name in ("a", "b"):
        folder = tmp_path / name
        env = {**os.environ, "RUNS": str(tmp_path / "runs.txt"), "PYTHONPATH": ROOT}
        proc = subprocess.run(
            [sys.executable, "train.py", "-m", "+x=1", "hydra/launcher=exca_inline",
             f"hydra.launcher.cache_folder={cache}"],
            cwd=folder, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "runs.txt").read_text().split() == ["1", "1"]  # both computed
    folders = sorted(p.name for p in cache.iterdir())
    assert len(folders) == 2 and all(f.startswith("train-") for f in folders)


ZEN_SCRIPT = """
import os
from hydra_zen import make_config, store, zen

def task(x: int):
    with open(os.environ["RUNS"], "a") as f:
        f.write(f"{os.path.basename(__file__)} {x}\\n")
    return RESULT

store(make_config(x=1), name="cfg")
if __name__ == "__main__":
    store.add_to_hydra_store()
    zen(task).hydra_main(config_name="cfg", config_path=None, version_base="1.3")
"""


def test_two_zen_apps_with_equal_configs_never_share_a_cache_entry(tmp_path: Path) -> None:
    # Hydra names the jobs of every zen app after hydra-zen's module: same job name
    (tmp_path / "one.py").write_text(ZEN_SCRIPT.replace("RESULT", "float(x)"))
    (tmp_path / "two.py").write_text(ZEN_SCRIPT.replace("RESULT", "str(x)"))
    cache = f"hydra.launcher.cache_folder={tmp_path / 'cache'}"
    env = {**os.environ, "RUNS": str(tmp_path / "runs.txt"), "PYTHONPATH": ROOT}
    for script in ("one.py", "two.py", "one.py", "two.py"):
        proc = subprocess.run(
            [sys.executable, script, "-m", "x=1,2", "hydra/launcher=exca_inline", cache],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    assert runs == ["one.py 1", "one.py 2", "two.py 1", "two.py 2"]  # each computed once
    folders = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert [f.split("-")[0] for f in folders] == ["one", "two"]
    assert all(f.endswith(".task,0") for f in folders)
