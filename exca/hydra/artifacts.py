"""Files of cached jobs: a job served from the cache gets the files its original run wrote.

A computed job records its output dir in its uid folder (:func:`record_origin`, file
``origin.json``); a job served from the cache later gets, in its own output dir, the
entries of that original output dir (:func:`bring`): symlinks (``link``, the default),
copies (``copy``) or nothing (``none``), as set by ``hydra.launcher.artifacts``. The
served job's own files (``.hydra/``, its log file) are never replaced. A missing
original output dir is a warning, never a failure.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import typing as tp
from pathlib import Path

__all__ = ["ARTIFACTS", "ORIGIN", "bring", "record_origin"]

log = logging.getLogger(__name__)

ARTIFACTS = ("link", "copy", "none")
ORIGIN = "origin.json"  # in a uid folder: the output dir of the run that computed it
_OWN = frozenset({".hydra"})  # entries of an output dir that always stay the job's own


def record_origin(folder: Path, output_dir: str | None) -> None:
    """Records the output dir of the run computing the uid folder's result (a warning,
    never an error, when it cannot be written)."""
    if not output_dir:
        return
    from exca import layout

    try:
        text = json.dumps({"output_dir": os.path.abspath(output_dir)})
        layout.atomic_write_text(folder / ORIGIN, text)
    except OSError as e:
        log.warning("Could not record the output dir of this job in %s: %s", folder, e)


def origin(folder: Path) -> Path | None:
    """The output dir of the run that computed a uid folder's result (None: unknown)."""
    try:
        data = json.loads((folder / ORIGIN).read_text(encoding="utf8"))
        return Path(data["output_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def bring(folder: Path, output_dir: str | os.PathLike[str], how: str) -> list[str]:
    """Links (or copies) into ``output_dir`` the files of the run that computed ``folder``'s
    result; returns the names brought. Never raises: problems are logged as warnings."""
    if how == "none":
        return []
    source = origin(folder)
    target = Path(output_dir)
    if source is None:
        log.info("Served from the cache %s (no recorded output dir: no artifacts)", folder)
        return []
    if source.resolve() == target.resolve():
        return []  # served in the very output dir that computed it
    if not source.is_dir():
        log.warning(
            "Served from the cache %s, but the output dir of its original run, %s, no longer "
            "exists: its files (artifacts) are not available",
            folder,
            source,
        )
        return []
    brought: list[str] = []
    problems: list[str] = []
    for entry in sorted(source.iterdir()):
        if entry.name in _OWN or os.path.lexists(target / entry.name):
            continue  # the served job's own files stay
        try:
            _bring_one(entry, target / entry.name, how)
            brought.append(entry.name)
        except OSError as e:
            problems.append(f"{entry.name} ({e})")
    verb = "linked" if how == "link" else "copied"
    files = f"{verb} its files: {', '.join(brought)}" if brought else "no files to bring"
    log.info("Served from the cache %s (computed in %s; %s)", folder, source, files)
    if problems:
        log.warning("Could not bring some files of %s: %s", source, "; ".join(problems))
    return brought


def _bring_one(entry: Path, dest: Path, how: str) -> None:
    if how == "link":
        os.symlink(entry.resolve(), dest, target_is_directory=entry.is_dir())
    elif entry.is_dir() and not entry.is_symlink():
        shutil.copytree(entry, dest, symlinks=True)
    else:
        shutil.copy2(entry, dest, follow_symlinks=False)


def check(how: tp.Any) -> str:
    """Validates ``hydra.launcher.artifacts``."""
    if how not in ARTIFACTS:
        raise ValueError(f"hydra.launcher.artifacts={how!r} is not one of {', '.join(ARTIFACTS)}")
    return str(how)
