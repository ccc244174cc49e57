"""Files of cached jobs: a job served from the cache gets the files its original run wrote.

A computed job records its output dir in its uid folder (:func:`record_origin`, file
``origin.json``); a job served from the cache later gets, in its own output dir, the
entries of that original output dir (:func:`bring`), as set by
``hydra.launcher.artifacts``:

- ``link`` (the default): cheap, and nothing the served job writes reaches the original
  run's files: each file is a copy-on-write clone where the file system has them
  (:func:`clone`), else a copy when smaller than :data:`COPY_BELOW` or when the process
  runs as root (root ignores permissions), else a hard link made read-only (one file for
  both: the original becomes read-only too; writing it fails instead of changing the
  original; replacing it, the way files are safely rewritten, leaves the original as it
  is);
- ``copy``: copies; ``none``: nothing.

Folders are made anew in the served job's output dir (never linked: a file written into
one stays there), symlinks are copied as symlinks. The served job's own files
(``.hydra/``, its log file) are never replaced. A missing original output dir is a
warning, never a failure. Every served job logs that it was served, and from where.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import typing as tp
from pathlib import Path

from exca import uidfolder

__all__ = ["ARTIFACTS", "ORIGIN", "bring", "record_origin"]

log = logging.getLogger(__name__)

ARTIFACTS = ("link", "copy", "none")
ORIGIN = uidfolder.ORIGIN  # in a uid folder: the output dir of the run that computed it
_OWN = frozenset({".hydra"})  # entries of an output dir that always stay the job's own


def record_origin(folder: Path, output_dir: str | None) -> None:
    """Records the output dir of the run computing the uid folder's result (a warning,
    never an error, when it cannot be written)."""
    if not output_dir:
        return
    try:
        text = json.dumps({"output_dir": os.path.abspath(output_dir)})
        uidfolder.UidFolder(folder).write_origin(text)
    except OSError as e:
        log.warning("Could not record the output dir of this job in %s: %s", folder, e)


def origin(folder: Path) -> Path | None:
    """The output dir of the run that computed a uid folder's result (None: unknown)."""
    try:
        data = json.loads(uidfolder.UidFolder(folder).read_origin() or "")
        return Path(data["output_dir"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def bring(folder: Path, output_dir: str | os.PathLike[str], how: str) -> list[str]:
    """Brings into ``output_dir`` the files of the run that computed ``folder``'s result
    (see the module docstring); returns the names brought. Logs that the job was served and
    from where; never raises: problems are logged as warnings."""
    source = origin(folder)
    target = Path(output_dir)
    if source is None:
        log.info("Served from the cache %s (no recorded output dir: no artifacts)", folder)
        return []
    if source.resolve() == target.resolve():
        log.info("Served from the cache %s (computed in this very output dir)", folder)
        return []
    if how == "none":
        log.info("Served from the cache %s (computed in %s; artifacts=none)", folder, source)
        return []
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
            _bring_tree(entry, target / entry.name, how, problems)
            brought.append(entry.name)
        except OSError as e:
            problems.append(f"{entry.name} ({e})")
    verb = "linked" if how == "link" else "copied"
    files = f"{verb} its files: {', '.join(brought)}" if brought else "no files to bring"
    log.info("Served from the cache %s (computed in %s; %s)", folder, source, files)
    if problems:
        log.warning("Could not bring some files of %s: %s", source, "; ".join(problems))
    return brought


# files up to this size are copied by ``link`` where the file system cannot clone them
# (benchmarks/bench_artifacts.py); larger ones are hard links, made read-only
COPY_BELOW = 16 * 2**20
_FICLONE = 0x40049409  # Linux ioctl: a copy-on-write clone of a whole file
_NO_CLONE: set[int] = set()  # devices where cloning failed once


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _bring_tree(entry: Path, dest: Path, how: str, problems: list[str]) -> None:
    """``entry`` (a file, a folder or a symlink) at ``dest``, never sharing writable data
    with it: folders are made anew, symlinks copied as symlinks, files brought by
    :func:`_bring_file`."""
    if entry.is_symlink():
        os.symlink(os.readlink(entry), dest)
    elif entry.is_dir():
        dest.mkdir()
        for sub in sorted(entry.iterdir()):
            try:
                _bring_tree(sub, dest / sub.name, how, problems)
            except OSError as e:
                problems.append(f"{sub} ({e})")
    else:
        _bring_file(entry, dest, how)


def _bring_file(src: Path, dest: Path, how: str) -> None:
    if how == "link":
        if clone(src, dest):
            return
        size = src.stat().st_size
        # root ignores the read-only bit: a link would not keep its writes from the original
        if size >= COPY_BELOW and not _is_root():
            try:  # a read-only hard link: writing it raises instead of changing src
                os.link(src, dest)
                mode = src.stat().st_mode
                if mode & 0o222:
                    os.chmod(dest, mode & ~0o222)
                return
            except OSError:  # another file system, or no hard links: a copy
                pass
    shutil.copy2(src, dest, follow_symlinks=False)


def clone(src: Path, dest: Path) -> bool:
    """A copy-on-write clone of ``src`` at ``dest`` (reflink: btrfs, xfs, ...); False (and
    nothing written) where the file system cannot."""
    import fcntl

    dev = src.stat().st_dev
    if dev in _NO_CLONE:
        return False
    with open(src, "rb") as fin, open(dest, "xb") as fout:
        try:
            fcntl.ioctl(fout.fileno(), _FICLONE, fin.fileno())
            cloned = True
        except OSError:
            _NO_CLONE.add(dev)
            cloned = False
    if not cloned:
        dest.unlink()  # the empty file made above
        return False
    shutil.copystat(src, dest)
    return True


def check(how: tp.Any) -> str:
    """Validates ``hydra.launcher.artifacts``."""
    if how not in ARTIFACTS:
        raise ValueError(f"hydra.launcher.artifacts={how!r} is not one of {', '.join(ARTIFACTS)}")
    return str(how)
