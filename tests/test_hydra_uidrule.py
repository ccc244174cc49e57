"""A Hydra job's key holds what it computes, not where or when it runs (issue 22,
exca/hydra/uidrule.py, volatile.py, artifacts.py).

- the ML-template app (tests/hydra_apps/ml_template: the layout of
  lightning-hydra-template: a ``paths`` group on ``${hydra:runtime.output_dir}`` copied
  into trainer, callback and logger keys, ``${now:}`` sweep dirs, an ``${oc.env:}``
  project root, an experiment group, an Optuna search), swept twice into two new sweep
  dirs: the second executes nothing (counted by the task), its job dirs hold the files of
  the basic launcher's; under exca_inline, exca_local, the exca sweeper, detached, Optuna
  and (marked ``slurm``) on the local cluster;
- a clone of the project at another path shares the cache; ``project_root=null`` does not;
- ``seed: ${hydra:job.num}`` keeps two jobs apart; volatile values are warned about;
- the cache written by the launcher before this rule (tests/data/legacy-hydra-cache) is
  served with 0 recomputations;
- a served job's writes never reach the original run's files, in every artifacts mode.
"""

import json
import os
import shutil
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest
import yaml
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobStatus
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from exca.confdict import ConfDict
from exca.hydra import artifacts, uidrule

from .test_hydra_drop_in import _collect
from .test_hydra_launcher import ROOT, PlanLog, Sweeper

TEMPLATE = Path(__file__).parent / "hydra_apps" / "ml_template"
LEGACY = Path(__file__).parent / "data" / "legacy-hydra-cache"
TIMEOUT = "hydra.launcher.timeout_min=3"


# # # # # the ML-template app, run as a user runs it # # # # #


class Project:
    """A copy of the ML-template app at ``path``; ``runs`` counts the task's executions."""

    def __init__(self, path: Path, runs: Path) -> None:
        shutil.copytree(TEMPLATE, path)
        self.path = path
        self.runs = runs

    def executions(self) -> int:
        return len(self.runs.read_text().splitlines()) if self.runs.exists() else 0

    def sweep(self, *args: str, check: bool = True, cwd: str = ".") -> tuple[str, list[Path]]:
        """Runs ``python src/train.py -m ARGS`` from the project (or its sub-folder
        ``cwd``); returns the log and the new sweep dir's job dirs."""
        env = {k: v for k, v in os.environ.items() if k != "PROJECT_ROOT"}
        env["EXCA_TEST_RUNS"] = str(self.runs)
        multiruns = self.path / "logs" / "train" / "multiruns"
        before = set(multiruns.iterdir()) if multiruns.exists() else set()
        script = os.path.relpath(self.path / "src" / "train.py", self.path / cwd)
        proc = subprocess.run(
            [sys.executable, script, "-m", *args],
            cwd=self.path / cwd, env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        log = proc.stdout + proc.stderr
        if check:
            assert proc.returncode == 0, log
        new = sorted(set(multiruns.iterdir()) - before) if multiruns.exists() else []
        assert len(new) <= 1, new
        jobs = sorted(p.parent for p in new[0].rglob(".hydra")) if new else []
        return log, jobs


def files(job_dir: Path) -> list[str]:
    """The files of a job dir (relative paths; followed links), without Hydra's own."""
    return sorted(
        str(p.relative_to(job_dir))
        for p in job_dir.rglob("*")
        if p.is_file() and ".hydra" not in p.parts
    )


@pytest.fixture(scope="module")
def basic_files(tmp_path_factory: pytest.TempPathFactory) -> list[list[str]]:
    """The files of each job dir of the basic launcher's sweep over two learning rates."""
    folder = tmp_path_factory.mktemp("basic")
    project = Project(folder / "proj", folder / "runs.txt")
    _, jobs = project.sweep("model.optimizer.lr=0.001,0.002")
    assert project.executions() == 2
    return [files(job) for job in jobs]


CACHE_FLAVOURS = {
    "inline": ["hydra/launcher=exca_inline"],
    "local": ["hydra/launcher=exca_local", TIMEOUT],
    "exca-sweeper": ["hydra/launcher=exca_inline", "hydra/sweeper=exca"],
}


@pytest.mark.parametrize("flavour", sorted(CACHE_FLAVOURS))
def test_the_ml_template_is_served_on_its_second_sweep(
    flavour: str, tmp_path: Path, basic_files: list[list[str]]
) -> None:
    project = Project(tmp_path / "proj", tmp_path / "runs.txt")
    args = [*CACHE_FLAVOURS[flavour], f"hydra.launcher.cache_folder={tmp_path / 'cache'}"]
    args.append("model.optimizer.lr=0.001,0.002")
    log, first = project.sweep(*args)
    assert "2 to run, 0 cached" in log and project.executions() == 2
    assert [files(job) for job in first] == basic_files  # as the basic launcher
    assert "change from run to run" not in log  # no volatile value is in a key
    log, second = project.sweep(*args)
    assert "0 to run, 2 cached" in log, log
    assert project.executions() == 2  # the task did not run again
    assert first[0].parent != second[0].parent  # a new ${now:} sweep dir
    assert [files(job) for job in second] == basic_files  # the usual files, brought
    for old, new in zip(first, second, strict=True):
        for name in ("metrics.json", "checkpoints/last.ckpt", "csv/metrics.csv"):
            assert (new / name).read_bytes() == (old / name).read_bytes()
        assert str(new) in (new / ".hydra" / "hydra.yaml").read_text()  # its own .hydra/
    served = (second[0] / "train.log").read_text()
    assert "Served from the cache" in served and str(first[0]) in served
    if flavour == "inline":  # an experiment, and a job reached from another command line
        exp = [*args[:-1], "experiment=example", "seed=1,2"]
        log, _ = project.sweep(*exp)
        assert "2 to run, 0 cached" in log and project.executions() == 4
        log, _ = project.sweep(*exp)
        assert "0 to run, 2 cached" in log and project.executions() == 4
        # model.optimizer.lr=0.002 given by the experiment instead of the command line: the
        # same computation, found by its hash (one entry), whatever the folder's name
        log, _ = project.sweep(*args[:-1], "experiment=example", "seed=1", "trainer.max_epochs=3")
        assert "1 to run" in log  # max_epochs=3 with hidden=32: a new computation
        log, _ = project.sweep(
            *args[:-1], "model.optimizer.lr=0.002", "model.net.hidden=32", "seed=1",
            "trainer.max_epochs=3", "tags=[mnist,example]",
        )  # fmt: skip
        assert "0 to run, 1 cached" in log and project.executions() == 5


def test_the_key_holds_expressions_and_project_paths(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", tmp_path / "runs.txt")
    cache = tmp_path / "cache"
    project.sweep("hydra/launcher=exca_inline", f"hydra.launcher.cache_folder={cache}",
                  "model.optimizer.lr=0.001,0.002")  # fmt: skip
    (task,) = [p for p in cache.iterdir() if p.is_dir()]
    assert task.name.startswith("train-") and task.name.endswith(".main,0")
    assert yaml.safe_load((task / "task.yaml").read_text())["file"] == "proj/src/train.py"
    names = sorted(p.name for p in task.iterdir() if p.is_dir())
    assert [n.rsplit("-", 1)[0] for n in names] == ["lr=0.001", "lr=0.002"]  # readable
    uid = ConfDict.from_yaml(task / names[0] / "uid.yaml").flat()
    out = "${hydra:runtime.output_dir}"
    assert uid["trainer.default_root_dir"] == out
    assert uid["callbacks.model_checkpoint.dirpath"] == f"{out}/checkpoints"
    assert uid["logger.csv.save_dir"] == out
    assert uid["paths.data_dir"] == uid["data.data_dir"] == "${project_root}/data/"
    assert uid["paths.work_dir"] == uid["paths.root_dir"] == "${project_root}"
    config = yaml.safe_load((task / names[0] / "config.yaml").read_text())
    assert config["paths"]["data_dir"] == f"{project.path}/data/"  # what the job had
    # `exca ls` shows the readable names
    proc = subprocess.run(
        [sys.executable, "-m", "exca", "ls", str(cache)],
        capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": ROOT},
    )  # fmt: skip
    assert all(name in proc.stdout for name in names), proc.stdout


def test_a_clone_of_the_project_shares_the_cache(tmp_path: Path) -> None:
    """The rule: paths under hydra.launcher.project_root (default: the launch dir) and the
    script's path in the project enter keys relative to it; project_root=null: absolute."""
    runs = tmp_path / "runs.txt"
    first = Project(tmp_path / "a" / "proj", runs)
    clone = Project(tmp_path / "b" / "proj", runs)
    args = ["hydra/launcher=exca_inline", f"hydra.launcher.cache_folder={tmp_path / 'cache'}"]
    args.append("model.optimizer.lr=0.001,0.002")
    first.sweep(*args)
    log, jobs = clone.sweep(*args)
    assert "0 to run, 2 cached" in log and first.executions() == 2
    assert (jobs[0] / "checkpoints" / "last.ckpt").exists()
    # absolute paths kept: each clone its own entries
    log, _ = clone.sweep(*args, "hydra.launcher.project_root=null")
    assert "2 to run, 0 cached" in log and first.executions() == 4
    log, _ = first.sweep(*args, "hydra.launcher.project_root=null")
    assert "2 to run, 0 cached" in log and first.executions() == 6
    log, _ = first.sweep(*args, "hydra.launcher.project_root=null")
    assert "0 to run, 2 cached" in log and first.executions() == 6
    # launched from a sub-folder: the project root is told (the launch dir is not it)
    root = ["hydra.launcher.project_root=${oc.env:PROJECT_ROOT}"]
    log, _ = first.sweep(*args, *root, cwd="src")  # paths.work_dir: ${project_root}/src
    assert "2 to run, 0 cached" in log and first.executions() == 8
    log, _ = clone.sweep(*args, *root, cwd="src")
    assert "0 to run, 2 cached" in log and first.executions() == 8
    # another project (another folder name) with the same layout: its own cache
    other = Project(tmp_path / "c" / "other", runs)
    log, _ = other.sweep(*args)
    assert "2 to run, 0 cached" in log


def test_optuna_reruns_give_the_same_trials_with_no_execution(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", tmp_path / "runs.txt")
    args = ["hparams_search=optuna", "hydra/launcher=exca_inline"]
    args.append(f"hydra.launcher.cache_folder={tmp_path / 'cache'}")
    log, first = project.sweep(*args)
    trials = project.runs.read_text().splitlines()
    assert len(trials) == 6

    def results(jobs: list[Path]) -> tp.Any:
        return yaml.safe_load((jobs[0].parent / "optimization_results.yaml").read_text())

    log, second = project.sweep(*args)
    assert project.executions() == 6, log  # every trial served
    assert "0 to run" in log and " to run, 0 cached" not in log
    assert results(second) == results(first)
    overrides = [(j / ".hydra" / "overrides.yaml").read_text() for j in first]
    assert [(j / ".hydra" / "overrides.yaml").read_text() for j in second] == overrides


def test_a_detached_sweep_is_collected_then_served(tmp_path: Path) -> None:
    project = Project(tmp_path / "proj", tmp_path / "runs.txt")
    args = ["hydra/launcher=exca_local", TIMEOUT, f"hydra.launcher.cache_folder={tmp_path / 'c'}"]
    args.append("model.optimizer.lr=0.001,0.002")
    log, _ = project.sweep(*args, "hydra.launcher.wait=false")
    assert "2 jobs left running" in log
    import time

    deadline = time.time() + 120
    results = lambda: list((tmp_path / "c").rglob("*-info.jsonl"))  # noqa: E731
    while len(results()) < 2 and time.time() < deadline:
        time.sleep(0.5)
    log, jobs = project.sweep(*args)
    assert project.executions() == 2 and "0 to run, 2 cached" in log, log
    assert (jobs[1] / "checkpoints" / "last.ckpt").exists()


@pytest.mark.slurm
def test_the_ml_template_on_slurm(tmp_path: Path, basic_files: list[list[str]]) -> None:
    project = Project(tmp_path / "proj", tmp_path / "runs.txt")
    args = ["hydra/launcher=exca_slurm", "hydra.launcher.timeout_min=5"]
    args += [f"hydra.launcher.cache_folder={tmp_path / 'cache'}", "model.optimizer.lr=0.001,0.002"]
    log, first = project.sweep(*args)
    assert "[exca_slurm] submitted 2 jobs" in log, log  # one array on the cluster
    assert project.executions() == 2 and [files(job) for job in first] == basic_files
    log, second = project.sweep(*args)
    assert "0 to run, 2 cached" in log and project.executions() == 2
    assert [files(job) for job in second] == basic_files


# # # # # caches written before this rule # # # # #

# the apps of tests/data/legacy-hydra-cache and their sweeps (tests/data/make_legacy_hydra_cache.py)
sys.path.insert(0, str(LEGACY.parent))
from make_legacy_hydra_cache import APPS, PROJECT, copy_project  # noqa: E402

sys.path.remove(str(LEGACY.parent))


def test_a_cache_written_before_the_rule_is_served(tmp_path: Path) -> None:
    """The drop-in corpus's cache, written by main before issue 22 (from the project at
    PROJECT, where the apps are replayed): every job is served, nothing recomputed, no
    folder renamed."""
    copy_project(Path(ROOT), PROJECT)
    cache = tmp_path / "cache"
    shutil.copytree(LEGACY, cache)
    before = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
    runs = tmp_path / "runs.jsonl"
    env = {**os.environ, "PYTHONPATH": str(PROJECT), "EXCA_TEST_RUNS": str(runs)}
    env["EXCA_TEST_CALLBACKS"] = str(tmp_path / "callbacks.txt")
    try:
        for app, sweep in APPS.items():
            script = PROJECT / "tests" / "hydra_apps" / "corpus" / f"{app}.py"
            cmd = [sys.executable, str(script), "-m", *sweep, "hydra/launcher=exca_inline"]
            cmd += [f"hydra.launcher.cache_folder={cache}", f"hydra.sweep.dir={tmp_path / app}"]
            proc = subprocess.run(
                cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
            )
            log = proc.stdout + proc.stderr
            assert proc.returncode == (1 if app == "failing" else 0), log
            n = len(list((tmp_path / app).rglob(".hydra")))
            cached = n - 1 if app == "failing" else n
            assert f"0 to run, {cached} cached" in log, log
        assert not runs.exists()  # 0 recomputations
        after = sorted(str(p.relative_to(cache)) for p in cache.rglob("*"))
        new = [p for p in after if p not in before]
        # no folder renamed or added: only use records (and the task folders' claims)
        assert all("-info.jsonl" in p or p.endswith("last-use") for p in new), new
    finally:
        shutil.rmtree(PROJECT, ignore_errors=True)


# # # # # in process: job values, volatile values, artifacts # # # # #


@pytest.fixture
def sweep(tmp_path: Path, hydra_restore_singletons: None) -> Sweeper:
    return Sweeper(tmp_path)


@pytest.fixture
def plan_log() -> tp.Iterator[PlanLog]:
    yield from _collect("exca.hydra.launcher")


def counting(cfg: tp.Any) -> tp.Any:
    counting.calls.append(dict(cfg))  # type: ignore[attr-defined]
    out = Path(HydraConfig.get().runtime.output_dir)
    (out / "metrics.json").write_text(json.dumps({"x": cfg.x}))
    (out / "model.ckpt").write_bytes(b"w" * 4096)
    (out / "plots").mkdir(exist_ok=True)
    (out / "plots" / "curve.txt").write_text("1 2 3")
    return cfg.x


counting.calls = []  # type: ignore[attr-defined]


@pytest.fixture
def calls() -> tp.Iterator[list[tp.Any]]:
    counting.calls.clear()  # type: ignore[attr-defined]
    yield counting.calls  # type: ignore[attr-defined]


def test_job_values_a_computation_depends_on_stay_in_the_key(
    sweep: Sweeper, calls: list[tp.Any]
) -> None:
    # two jobs differing only in a seed taken from hydra:job.num: two computations
    two = ["+y=a,b", "hydra.launcher.exclude_from_uid=[y]"]  # two jobs, one key
    rets = sweep(counting, ["x=2", *two])
    assert len(calls) == 1 and [r.return_value for r in rets] == [2, 2]  # one computation
    rets = sweep(counting, ["+seed=${hydra:job.num}", *two])
    assert len(calls) == 3 and [r.status for r in rets] == [JobStatus.COMPLETED] * 2
    # an output dir in the config: not in the key (the second sweep dir is served)
    args = ["x=3", "+out=${hydra:runtime.output_dir}/ckpt", "+sweep=${hydra:sweep.dir}"]
    sweep(counting, args)
    sweep(counting, args)
    assert len(calls) == 4
    # two keys built differently from the output dir stay two computations
    sweep(counting, ["x=3", "+out=${hydra:runtime.output_dir}/other", "+sweep=${hydra:sweep.dir}"])
    assert len(calls) == 5


def test_volatile_values_are_warned_about_with_two_jobs_values(
    sweep: Sweeper, calls: list[tp.Any], plan_log: PlanLog
) -> None:
    sweep(counting, ["x=1,2", "+run.stamp=${now:%H-%M-%S-%f}", "+name=job_${run.stamp}"])
    (warning,) = [line for line in plan_log.lines if "change from run to run" in line]
    assert "2 key(s)" in warning  # run.stamp, and name (from it, through interpolation)
    assert "run.stamp = '${now:%H-%M-%S-%f}': '" in warning and "(job #1)" in warning
    assert "name = 'job_${run.stamp}': 'job_" in warning
    assert "hydra.launcher.exclude_from_uid=[name,run.stamp]" in warning
    # the next sweep: differs from the cached entries only in those keys
    plan_log.lines.clear()
    sweep(counting, ["x=1,2", "+run.stamp=${now:%H-%M-%S-%f}", "+name=job_${run.stamp}"])
    assert any(
        "2 jobs differ from cached entries only in: name, run.stamp" in line
        for line in plan_log.lines
    ), plan_log.lines
    assert len(calls) == 4
    # a custom resolver listed as volatile
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver("draw", lambda: "7", replace=True)
    plan_log.lines.clear()
    try:
        sweep(counting, ["x=5", "+r=${draw:}", "hydra.launcher.volatile_resolvers=[draw]"])
    finally:
        OmegaConf.clear_resolver("draw")
    assert any("r = '${draw:}': '7' (job #0)" in line for line in plan_log.lines)
    # a ${now:} sweep dir is no volatile value: the keys copying it hold its expression
    plan_log.lines.clear()
    sweep(counting, ["x=6", "hydra.sweep.dir=multirun/${now:%f}", "+out=${hydra:sweep.dir}"])
    assert not any("change from run to run" in line for line in plan_log.lines)


class Rewrite(Callback):
    """A job-end callback rewriting files of every job's output dir (served ones too)."""

    def on_job_end(self, config: DictConfig, job_return: tp.Any, **kwargs: tp.Any) -> None:
        out = Path(config.hydra.runtime.output_dir)
        (out / "plots").mkdir(exist_ok=True)
        with open(out / "metrics.json", "w") as f:
            f.write(f"rewritten in {out}")
        with open(out / "plots" / "curve.txt", "a") as f:
            f.write(f" + {out}")
        if (out / "model.ckpt").exists():  # a large file rewritten in place, where it may
            try:
                with open(out / "model.ckpt", "wb") as f:
                    f.write(b"rewritten")
            except PermissionError:  # a read-only link of the original's (not as root)
                pass


@pytest.mark.parametrize("how", artifacts.ARTIFACTS)
def test_a_served_job_never_writes_into_the_original(
    sweep: Sweeper, calls: list[tp.Any], how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(artifacts, "COPY_BELOW", 1024)  # model.ckpt is "large"
    args = ["x=1", f"hydra.launcher.artifacts={how}"]
    args.append(f"+hydra.callbacks.rewrite._target_={__name__}.Rewrite")
    (first,) = sweep(counting, args)
    original = Path(first.hydra_cfg.hydra.runtime.output_dir)  # type: ignore[union-attr]
    snapshot = {p: p.read_bytes() for p in original.rglob("*") if p.is_file()}
    served_log = _collect("exca.hydra.artifacts")
    log = next(served_log)
    try:
        (served,) = sweep(counting, args)
    finally:
        next(served_log, None)
    assert len(calls) == 1 and served.return_value == 1
    assert {p: p.read_bytes() for p in original.rglob("*") if p.is_file()} == snapshot
    out = Path(served.hydra_cfg.hydra.runtime.output_dir)  # type: ignore[union-attr]
    assert (out / "metrics.json").read_text() == f"rewritten in {out}"
    assert any("Served from the cache" in line for line in log.lines)
    if how == "none":
        assert not (out / "model.ckpt").exists()
        return
    assert not (out / "metrics.json").is_symlink() and not (out / "plots").is_symlink()
    ckpt = out / "model.ckpt"
    if how == "link" and os.geteuid() != 0:  # a large file: a read-only hard link
        assert ckpt.read_bytes() == b"w" * 4096  # the callback could not rewrite it
        assert ckpt.stat().st_ino == (original / "model.ckpt").stat().st_ino
        assert ckpt.stat().st_mode & 0o222 == 0
    else:  # copied (root ignores the read-only bit of a link: link copies too)
        assert ckpt.read_bytes() == b"rewritten"
        assert ckpt.stat().st_ino != (original / "model.ckpt").stat().st_ino


def test_a_job_served_in_its_own_output_dir_says_so(
    sweep: Sweeper, calls: list[tp.Any], tmp_path: Path
) -> None:
    args = ["x=1", f"hydra.sweep.dir={tmp_path / 'same'}"]
    sweep(counting, args)
    gen = _collect("exca.hydra.artifacts")
    log = next(gen)
    try:
        sweep(counting, args)
    finally:
        next(gen, None)
    assert len(calls) == 1
    assert any("computed in this very output dir" in line for line in log.lines), log.lines


# # # # # the rule's pieces # # # # #


def test_readable_names_show_what_tells_the_jobs_apart() -> None:
    batch = [["model.optimizer.lr=0.001", "model=big"], ["model.optimizer.lr=0.002", "model=big"]]
    shared = uidrule.shared_overrides(batch)
    assert uidrule.readable_name(batch[0], shared) == "lr=0.001"
    assert uidrule.readable_name(["a.lr=1", "b.lr=2"], set()) == "a.lr=1,b.lr=2"
    assert uidrule.readable_name(["+x=1", "hydra.job.chdir=True"], set()) == "x=1"
    assert uidrule.readable_name([], set()) == ""
    assert len(uidrule.readable_name([f"k{i}=v{i}" for i in range(50)], set())) <= 82
    assert uidrule.folder_name("x=1-abcdef12", "lr=0.1") == "lr=0.1-abcdef12"
    assert uidrule.folder_name("", "lr=0.1") == "default"


def test_a_model_told_where_to_write_is_served_from_another_sweep_dir(
    sweep: Sweeper, calls: list[tp.Any]
) -> None:
    def fit(cfg: tp.Any) -> tp.Any:
        return counting(DictConfig({"x": cfg.lr}))

    first = sweep(fit, ["lr=0.1,0.2"], config_name="fit")
    second = sweep(fit, ["lr=0.1,0.2"], config_name="fit")
    assert len(calls) == 2 and [r.return_value for r in second] == [0.1, 0.2]
    assert [r.return_value for r in first] == [0.1, 0.2]
    (task,) = [p for p in sweep.cache.iterdir() if p.is_dir()]
    assert task.name == "tests.hydra_apps.models.Fit,0"
    names = sorted(p.name for p in task.iterdir())
    assert [n.rsplit("-", 1)[0] for n in names] == ["lr=0.1", "lr=0.2"]
    uid = ConfDict.from_yaml(task / names[1] / "uid.yaml").flat()
    assert uid == {"lr": 0.2, "output_dir": "${hydra:runtime.output_dir}/fit"}


def test_project_root_must_be_a_folder_or_null(sweep: Sweeper, calls: list[tp.Any]) -> None:
    from hydra.errors import ConfigCompositionException

    with pytest.raises(ConfigCompositionException, match=r"hydra.launcher.project_root"):
        sweep(counting, ["x=1", "hydra.launcher.project_root=[a,b]"])
    assert calls == []
    sweep(counting, ["x=1", "hydra.launcher.project_root=null"])  # null: accepted
    assert len(calls) == 1
