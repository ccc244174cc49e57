"""WorkDir: code snapshots for submitted jobs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

from exca import TaskInfra
from exca.workdir import WorkDir

TESTS = Path(__file__).resolve().parent


class Where(pydantic.BaseModel):
    tag: str = "x"
    infra: TaskInfra = TaskInfra()

    @infra.apply
    def process(self) -> dict[str, str]:
        return {"file": __file__, "cwd": os.getcwd()}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the working directory) with a package and a script."""
    root = tmp_path / "project"
    pkg = root / "pkg"
    (pkg / "__pycache__").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "mod.py").write_text("VALUE = 1\n")
    (pkg / "data.txt").write_text("data")
    (pkg / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"")
    (root / "top.py").write_text("")
    monkeypatch.chdir(root)
    return root


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_snapshot_includes_and_excludes(project: Path, tmp_path: Path) -> None:
    snap = WorkDir(copied=["pkg", "top.py"]).snapshot(tmp_path / "code")
    assert snap.parent == tmp_path / "code"
    assert _files(snap) == {"pkg/__init__.py", "pkg/mod.py", "top.py"}
    snap = WorkDir(copied=["pkg"], includes=["*.py", "*.txt"], excludes=["mod.py"]).snapshot(
        tmp_path / "code2"
    )
    assert _files(snap) == {"pkg/__init__.py", "pkg/data.txt"}


def test_absolute_paths_and_packages(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "fixed"
    snap = WorkDir(copied=[project / "pkg"], folder=folder).snapshot(tmp_path / "unused")
    assert snap == folder and _files(snap) == {"pkg/__init__.py", "pkg/mod.py"}
    other = tmp_path / "elsewhere"
    (other / "exca_snap_pkg").mkdir(parents=True)
    (other / "exca_snap_pkg" / "__init__.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(other))
    snap = WorkDir(copied=["exca_snap_pkg"]).snapshot(tmp_path / "code")
    assert _files(snap) == {"exca_snap_pkg/__init__.py"}
    with pytest.raises(ValueError, match="'not_a_package_nor_path' is neither"):
        WorkDir(copied=["not_a_package_nor_path"]).snapshot(tmp_path / "code")


def test_activate(project: Path, tmp_path: Path) -> None:
    workdir = WorkDir(copied=["pkg"])
    with workdir.activate(tmp_path / "code") as snap:
        assert snap is not None
        assert Path.cwd() == snap.resolve() and sys.path[0] == str(snap)
        with workdir.activate(tmp_path / "code") as again:  # re-entrant: nothing new
            assert again is None and Path.cwd() == snap.resolve()
    assert Path.cwd() == project and str(snap) not in sys.path


def test_log_commit(project: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], check=True, capture_output=True)

    git("init", "-q")
    git("-c", "user.name=t", "-c", "user.email=t@t", "add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "init")
    caplog.set_level(logging.INFO, logger="exca")
    WorkDir(copied=["pkg"], log_commit=True).snapshot(tmp_path / "code")
    assert any("git commit" in r.getMessage() for r in caplog.records)
    (project / "pkg" / "mod.py").write_text("VALUE = 2\n")
    with pytest.raises(RuntimeError, match=r"(?s)uncommitted changes.*pkg/mod\.py"):
        WorkDir(copied=["pkg"], log_commit=True).snapshot(tmp_path / "code")


def test_job_runs_the_snapshot(tmp_path: Path) -> None:
    infra = {"folder": tmp_path, "cluster": "local", "workdir": {"copied": [TESTS]}}
    task = Where(infra=infra)
    out = task.process()
    code = task.infra.uid_folder() / "code"
    assert Path(out["cwd"]).parent == code  # <uid folder>/code/<date>-<random>
    assert out["file"] == str(Path(out["cwd"]) / "tests" / "test_workdir.py")
    assert Path(out["file"]).read_text() == Path(__file__).read_text()
    assert Path.cwd() != Path(out["cwd"])  # restored in this process
    # in process, no snapshot is taken
    assert Where(tag="y", infra={**infra, "cluster": None}).process()["file"] == __file__
