"""Acceptance corpus: every app of tests/hydra_apps/corpus (one per feature of Hydra's
tutorials and patterns, and hydra-zen's) swept for real, in a process of its own.

- caching off: the task outputs (one JSON line per real run, written by the task) and the
  exit code are those of Hydra's basic launcher, under exca_inline and exca_local (and
  exca_slurm for a few apps, marked ``slurm``);
- caching on: a second sweep serves every job: the task does not run (no line written),
  the exit code is the same, every job dir has its own ``.hydra/`` and the artifacts of
  the original run, and Hydra callbacks see every job;
- the Optuna sweeper: a rerun is served from the cache with the same best value, and the
  same parameters proposed twice are computed once.
"""

import os
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
CORPUS = ROOT / "tests" / "hydra_apps" / "corpus"

# app -> the overrides of its sweep (two or three jobs each)
APPS: dict[str, list[str]] = {
    "groups": ["db=mysql,postgresql"],
    "packages": ["server/db@primary=mysql,postgresql"],
    "structured": ["db.port=1,2"],
    "instantiate": ["width=1,2"],
    "partials": ["scale.factor=2,3"],
    "jobname": ["x=1,2", "seed=3"],
    "logging_app": ["x=1,2"],
    "chdir": ["+x=1,2", "hydra.job.chdir=True"],
    "callbacks": ["x=1,2"],
    "failing": ["+x=1,2,3"],
    "zen_app": ["model=small,big", "lr=0.1"],
    "zen_launch": ["factor=2,3"],
}
FLAVOURS = {
    "basic": ["hydra/launcher=basic"],
    "exca_inline": ["hydra/launcher=exca_inline"],
    "exca_local": ["hydra/launcher=exca_local", "hydra.launcher.timeout_min=2"],
    "exca_slurm": ["hydra/launcher=exca_slurm", "hydra.launcher.timeout_min=5"],
}


class Run(tp.NamedTuple):
    returncode: int
    outputs: list[str]  # the task's lines, sorted (jobs may run in parallel)
    callbacks: list[str]
    sweep_dir: Path
    log: str

    def job_dirs(self) -> dict[str, Path]:
        """Job output dirs (those with a .hydra/), by path relative to the sweep dir."""
        return {
            str(p.parent.relative_to(self.sweep_dir)): p.parent
            for p in self.sweep_dir.rglob(".hydra")
        }


def run_app(folder: Path, app: str, flavour: str, *extra: str) -> Run:
    folder.mkdir(parents=True, exist_ok=True)
    count = len(list(folder.glob("sweep*")))
    sweep_dir = folder / f"sweep{count}"
    runs, callbacks = folder / f"runs{count}.jsonl", folder / f"callbacks{count}.txt"
    env = {**os.environ, "EXCA_TEST_RUNS": str(runs), "EXCA_TEST_CALLBACKS": str(callbacks)}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH")] if p)
    cmd = [sys.executable, str(CORPUS / f"{app}.py"), "-m", *APPS[app], *FLAVOURS[flavour]]
    cmd += [f"hydra.sweep.dir={sweep_dir}", *extra]
    proc = subprocess.run(
        cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=600, check=False
    )

    def lines(path: Path) -> list[str]:
        return sorted(path.read_text().splitlines()) if path.exists() else []

    return Run(proc.returncode, lines(runs), lines(callbacks), sweep_dir, proc.stdout + proc.stderr)


_BASIC: dict[str, Run] = {}


def basic_run(app: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The basic launcher's sweep of an app (once per test process)."""
    if app not in _BASIC:
        _BASIC[app] = run_app(tmp_path_factory.mktemp(f"basic-{app}"), app, "basic")
        assert _BASIC[app].outputs, _BASIC[app].log  # the app ran
    return _BASIC[app]


def _same_as_basic(run: Run, basic: Run) -> None:
    assert run.returncode == basic.returncode, run.log
    assert run.outputs == basic.outputs, run.log
    assert run.callbacks == basic.callbacks
    assert sorted(run.job_dirs()) == sorted(basic.job_dirs())
    for name, job_dir in basic.job_dirs().items():  # the same artifacts, job by job
        mine = run.job_dirs()[name]
        assert sorted(p.name for p in mine.iterdir()) == sorted(p.name for p in job_dir.iterdir())


@pytest.mark.parametrize("flavour", ["exca_inline", "exca_local"])
@pytest.mark.parametrize("app", sorted(APPS))
def test_caching_off_runs_like_the_basic_launcher(
    app: str, flavour: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _same_as_basic(run_app(tmp_path, app, flavour), basic_run(app, tmp_path_factory))


@pytest.mark.slurm
@pytest.mark.parametrize("app", ["groups", "zen_app", "callbacks", "failing"])
def test_caching_off_on_slurm_runs_like_the_basic_launcher(
    app: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    _same_as_basic(run_app(tmp_path, app, "exca_slurm"), basic_run(app, tmp_path_factory))


CACHED_CASES = [pytest.param(app, "exca_inline", id=f"{app}-inline") for app in sorted(APPS)]
# jobs in processes of their own record their output dir there: a few apps
CACHED_CASES += [
    pytest.param(app, "exca_local", id=f"{app}-local") for app in ("chdir", "zen_app", "failing")
]


@pytest.mark.parametrize("app, flavour", CACHED_CASES)
def test_a_second_cached_sweep_serves_every_job(
    app: str, flavour: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    basic = basic_run(app, tmp_path_factory)
    cache = f"hydra.launcher.cache_folder={tmp_path / 'cache'}"
    first = run_app(tmp_path, app, flavour, cache)
    _same_as_basic(first, basic)
    second = run_app(tmp_path, app, flavour, cache)
    assert second.returncode == basic.returncode, second.log
    assert second.outputs == []  # the task did not run
    jobs = len(first.job_dirs())
    failed = 1 if app == "failing" else 0
    assert f"0 to run, {jobs - failed} cached" in second.log
    assert second.callbacks == first.callbacks  # on_job_end saw every served job
    assert sorted(second.job_dirs()) == sorted(first.job_dirs())
    for name, job_dir in first.job_dirs().items():
        served = second.job_dirs()[name]
        # its own .hydra/ (the config and overrides of this sweep)...
        assert not (served / ".hydra").is_symlink()
        hydra_yaml = (served / ".hydra" / "hydra.yaml").read_text()
        assert str(second.sweep_dir) in hydra_yaml and str(first.sweep_dir) not in hydra_yaml
        # ... and the artifacts of the run that computed it
        if (job_dir / "artifact.txt").exists():
            assert (served / "artifact.txt").read_text() == (job_dir / "artifact.txt").read_text()
            assert not (served / "artifact.txt").is_symlink()  # its own (a small file)
        if app == "chdir":
            assert (served / "relative.txt").exists()


# # # # # the Optuna sweeper # # # # #

OPTUNA = """
import os
import hydra

@hydra.main(version_base=None, config_path=None, config_name="optuna")
def main(cfg):
    with open(os.environ["EXCA_TEST_RUNS"], "a") as f:
        f.write(f"{cfg.x} {cfg.y}\\n")
    return (cfg.x - 2) ** 2 + cfg.y

if __name__ == "__main__":
    main()
"""
OPTUNA_CONFIG = """
defaults:
  - override hydra/sweeper: optuna
  - override hydra/sweeper/sampler: random
  - override hydra/launcher: exca_inline
  - _self_
x: 0
y: 0
hydra:
  sweeper:
    direction: minimize
    n_trials: 12
    n_jobs: 3
    sampler:
      seed: 3
    params:
      x: choice(0, 1, 2, 3)
      y: choice(0, 1)
"""


def test_optuna_sweeper_reruns_are_served_from_the_cache(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(OPTUNA)
    (tmp_path / "optuna.yaml").write_text(OPTUNA_CONFIG)
    env = {**os.environ, "EXCA_TEST_RUNS": str(tmp_path / "runs.txt")}

    def sweep(name: str) -> float:
        cmd = [sys.executable, "app.py", "-m", f"hydra.sweep.dir={tmp_path / name}"]
        cmd += ["hydra.launcher.cache_folder=cache", "--config-dir", str(tmp_path)]
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        import yaml

        results = yaml.safe_load((tmp_path / name / "optimization_results.yaml").read_text())
        return float(results["best_value"])

    best = sweep("first")
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    # 12 trials over 8 points: some were proposed twice, and computed once
    assert len(runs) == len(set(runs)) < 12
    assert sweep("second") == best  # same seed: the same trials, all served
    assert (tmp_path / "runs.txt").read_text().splitlines() == runs
