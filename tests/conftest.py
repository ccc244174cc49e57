"""Shared pytest plumbing.

Tests marked ``slurm`` run against a real Slurm cluster (one is started on this machine
by ``bash scripts/local-slurm.sh start``). When no cluster answers they are skipped with
the reason, or fail with it when ``EXCA_REQUIRE_SLURM=1`` (set by CI, so that a cluster
that did not come up cannot hide behind skipped tests).
"""

import functools
import os
import shutil
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest

START_HINT = "start one with: bash scripts/local-slurm.sh start"
USABLE_STATES = ("idle", "mix", "alloc")  # sinfo's short states of a node that takes jobs


@functools.cache
def slurm_problem() -> str | None:
    """Why no Slurm cluster can run jobs here (checked once per session), None if one can."""
    if shutil.which("sinfo") is None:
        return "no Slurm cluster: `sinfo` is not installed"
    try:
        proc = subprocess.run(
            ["sinfo", "--noheader", "--format=%t"],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "no Slurm cluster: `sinfo` did not answer within 15 s"
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return f"no Slurm cluster: `sinfo` failed ({lines[-1] if lines else proc.returncode})"
    states = proc.stdout.split()
    if not any(state.startswith(USABLE_STATES) for state in states):
        return f"no usable Slurm node: sinfo reports node states {states or 'none'}"
    return None


def _require_slurm() -> None:
    problem = slurm_problem()
    if problem is None:
        return
    if os.environ.get("EXCA_REQUIRE_SLURM") == "1":
        pytest.fail(f"{problem} (EXCA_REQUIRE_SLURM=1; {START_HINT})", pytrace=False)
    pytest.skip(f"{problem} ({START_HINT})")


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Skips (or fails, see module docstring) tests marked ``slurm`` without a cluster."""
    if item.get_closest_marker("slurm") is not None:
        _require_slurm()


@pytest.fixture
def slurm_folder(tmp_path: Path) -> Path:
    """A fresh folder that the Slurm node sees at the same path (for submitit's job folder
    and caches); skips the test when no cluster answers."""
    _require_slurm()
    folder = tmp_path / "slurm"
    folder.mkdir()
    return folder


@pytest.fixture(autouse=True)
def _restore_hydra_version_base() -> tp.Iterator[None]:
    """Hydra keeps the ``version_base`` of the last ``hydra.main``/``initialize`` call in
    a process-wide singleton, and it changes defaults (``hydra.job.chdir``...): every test
    starts from Hydra's unspecified default, whatever ran before it in the worker."""
    yield
    module = sys.modules.get("hydra.version")
    if module is not None:
        module.VersionBase.instance().version_base = module._UNSPECIFIED_


@pytest.fixture
def clean_hydra() -> tp.Iterator[None]:
    """Fresh Hydra state; what a test stored in the ConfigStore is removed afterwards."""
    from hydra.core.config_store import ConfigStore
    from hydra.core.global_hydra import GlobalHydra

    store = ConfigStore.instance()
    before = {k: dict(v) if isinstance(v, dict) else v for k, v in store.repo.items()}
    GlobalHydra.instance().clear()
    yield
    GlobalHydra.instance().clear()
    for key in list(store.repo):
        if key not in before:
            del store.repo[key]
        elif isinstance(before[key], dict) and key != "hydra":
            store.repo[key] = before[key]


@pytest.fixture(scope="session")
def exca060() -> tp.Any:
    """The exca 0.6.0 side of differential tests (``tests/reference.py``): created once
    in ``benchmarks/.venv-ref`` from the package registry. Skipped with the reason when the
    registry cannot be reached, except in CI (``CI`` set), where that is a failure."""
    from tests.reference import ensure_reference

    try:
        return ensure_reference()
    except Exception as exc:  # the registry or the venv: say which, never hide it in CI
        if os.environ.get("CI"):
            raise
        pytest.skip(f"exca 0.6.0 side environment unavailable: {exc}")


@pytest.fixture(scope="session")
def ours() -> tp.Any:
    """This package's side of differential tests (the project's interpreter)."""
    from tests.reference import OURS

    return OURS
