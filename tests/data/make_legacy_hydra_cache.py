"""Writes ``tests/data/legacy-hydra-cache/``: the cache folder that exca's launcher wrote,
before job uids left out where/when values (issue 22), for the corpus of drop-in apps
(tests/test_hydra_apps.py), so that tests/test_hydra_uidrule.py checks that a newer exca
serves it with 0 recomputations.

Run it with the OLD exca (here: the main checkout's venv), from outside the repository::

    cd /tmp && /work/main/.venv/bin/python /path/to/tests/data/make_legacy_hydra_cache.py

The apps run from a copy of ``tests/hydra_apps`` at :data:`PROJECT` (a fixed path: the
old launcher named a script's cache after the hash of its absolute path, so the test
replays the apps from that same path).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT = Path("/tmp/exca-legacy-hydra-project")  # where the apps ran
OUT = REPO / "tests" / "data" / "legacy-hydra-cache"
# app -> its sweep (as tests/test_hydra_apps.py's APPS)
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


def copy_project(repo: Path, project: Path) -> None:
    """The apps, importable as ``tests.hydra_apps.corpus.<app>`` from ``project``."""
    if project.exists():
        shutil.rmtree(project)
    (project / "tests").mkdir(parents=True)
    shutil.copy(repo / "tests" / "__init__.py", project / "tests" / "__init__.py")
    shutil.copytree(
        repo / "tests" / "hydra_apps",
        project / "tests" / "hydra_apps",
        ignore=shutil.ignore_patterns("__pycache__"),
    )


def main() -> None:
    copy_project(REPO, PROJECT)
    cache = PROJECT / "cache"
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    for app, sweep in APPS.items():
        env["EXCA_TEST_RUNS"] = str(PROJECT / f"runs-{app}.jsonl")
        env["EXCA_TEST_CALLBACKS"] = str(PROJECT / f"callbacks-{app}.txt")
        script = PROJECT / "tests" / "hydra_apps" / "corpus" / f"{app}.py"
        cmd = [sys.executable, str(script), "-m", *sweep, "hydra/launcher=exca_inline"]
        cmd += [f"hydra.launcher.cache_folder={cache}", f"hydra.sweep.dir={PROJECT}/sweeps/{app}"]
        proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True)
        print(app, proc.returncode, proc.stdout.strip().splitlines()[:1])
    if OUT.exists():
        shutil.rmtree(OUT)
    shutil.copytree(cache, OUT)


if __name__ == "__main__":
    main()
