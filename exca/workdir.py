"""Code snapshots for queued jobs.

A job may wait in a queue for hours; editing the code meanwhile must not
change what it runs. :class:`WorkDir` copies the listed files, folders or
(editable) packages into a snapshot folder and makes it the working directory
while jobs are submitted: the job process starts there, so its imports resolve
to the snapshot.
"""

from __future__ import annotations

import contextlib
import datetime
import fnmatch
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import typing as tp
import uuid
from pathlib import Path

import pydantic

logger = logging.getLogger(__name__)


class WorkDir(pydantic.BaseModel):
    """Working-directory snapshot for submitted jobs.

    Parameters
    ----------
    copied:
        files, folders, or names of importable packages (installed in editable
        mode or on the path) to copy into the snapshot. A relative path keeps its
        relative place in the snapshot; an absolute path or a package is copied at
        the snapshot's top level under its own name.
    folder:
        the snapshot folder; by default ``<uid folder>/code/<date>-<random>``.
    includes:
        file name patterns to copy (folders are always walked unless excluded).
    excludes:
        file or folder name patterns never copied.
    log_commit:
        if True, refuse to snapshot a git repository with uncommitted changes and
        log the current commit otherwise.
    """

    model_config = pydantic.ConfigDict(extra="forbid")

    copied: tp.Sequence[str | Path] = []
    folder: str | Path | None = None
    log_commit: bool = False
    includes: tp.Sequence[str] = ("*.py",)
    excludes: tp.Sequence[str] = ("__pycache__", ".git")

    _active: bool = False

    def _sources(self) -> list[tuple[Path, Path]]:
        """(source, relative destination) pairs."""
        pairs: list[tuple[Path, Path]] = []
        for item in self.copied:
            path = Path(item)
            if path.exists():
                if path.is_absolute():
                    pairs.append((path, Path(path.name)))
                else:
                    pairs.append((path.resolve(), path))
                continue
            name = str(item)
            spec = importlib.util.find_spec(name) if name.isidentifier() else None
            if spec is None or spec.origin is None:
                raise ValueError(
                    f"WorkDir.copied: {item!r} is neither an existing path nor an importable package"
                )
            origin = Path(spec.origin)
            src = origin.parent if origin.name == "__init__.py" else origin
            pairs.append((src, Path(src.name)))
        return pairs

    def _ignore(self, folder: str, names: list[str]) -> list[str]:
        ignored = []
        for name in names:
            if any(fnmatch.fnmatch(name, pat) for pat in self.excludes) or (
                not (Path(folder) / name).is_dir()
                and not any(fnmatch.fnmatch(name, pat) for pat in self.includes)
            ):
                ignored.append(name)
        return ignored

    def _check_git(self) -> None:
        try:
            status = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            commit = subprocess.run(
                ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return  # not a git repository
        if status:
            raise RuntimeError(
                f"WorkDir(log_commit=True): uncommitted changes in {os.getcwd()}:\n{status}"
            )
        logger.info("Working directory snapshot of git commit %s", commit)

    def snapshot(self, default_parent: Path) -> Path:
        """Copies the code into the snapshot folder and returns it."""
        if self.log_commit:
            self._check_git()
        if self.folder is not None:
            folder = Path(self.folder)
        else:
            stamp = datetime.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
            folder = default_parent / f"{stamp}-{uuid.uuid4().hex[:6]}"
        folder.mkdir(parents=True, exist_ok=True)
        for src, rel in self._sources():
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest, ignore=self._ignore, dirs_exist_ok=True)
            else:
                shutil.copy2(src, dest)
        logger.info("Code snapshot for the job(s) in %s", folder)
        return folder

    @contextlib.contextmanager
    def activate(self, default_parent: Path) -> tp.Iterator[Path | None]:
        """Snapshot the code and make the snapshot the working directory (re-entrant)."""
        if self._active:
            yield None
            return
        folder = self.snapshot(default_parent)
        previous = os.getcwd()
        self._active = True
        os.chdir(folder)
        sys.path.insert(0, str(folder))
        try:
            yield folder
        finally:
            os.chdir(previous)
            with contextlib.suppress(ValueError):
                sys.path.remove(str(folder))
            self._active = False
