"""Freeing space safely: :func:`clean` removes failed, old or least recently used
entries, never one in use (:func:`in_use`), each atomically."""

from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import time
import typing as tp
from pathlib import Path

from ..uidfolder import UidFolder
from .entries import Entry, job_state, ls, parse_age, parse_size

__all__ = ["IN_USE_CHECKS", "REMOVING", "CleanReport", "InUseCheck", "clean", "in_use"]

REMOVING = ".exca-removing-"  # prefix of an entry being removed by clean()
InUseCheck = tp.Callable[[Path], str | None]


def _job_in_use(path: Path) -> str | None:
    job_id, slurm, finished = job_state(path)
    if job_id is not None and finished is False:
        return f"job {job_id} is {(slurm or 'running').lower()}"
    return None


def _claim_in_use(path: Path) -> str | None:
    """An in-flight claim (a process computing a result of this folder, ``exca.claims``)
    whose owner is alive, or that cannot be read (being written)."""
    return UidFolder(path).claim_in_use()


#: The checks of :func:`in_use`, in order. Each takes a uid folder and returns why it is in
#: use, or None: a recorded job that is pending or running, a live claim.
IN_USE_CHECKS: list[InUseCheck] = [_job_in_use, _claim_in_use]


def in_use(path: str | Path) -> str | None:
    """Why the uid folder ``path`` is in use (it must not be removed), or None.

    In use: a job recorded in ``job.pkl`` (TaskInfra, Hydra launcher) that is pending or
    running; a claim (``.claims/*.claim``) of a process computing a result, whose owner is
    alive or unknown; anything else :data:`IN_USE_CHECKS` reports; and (checked by
    :func:`clean` while it removes the entry) a process holding the folder's lock."""
    path = Path(path)
    for check in IN_USE_CHECKS:
        reason = check(path)
        if reason is not None:
            return reason
    return None


@dataclasses.dataclass
class CleanReport:
    """What :func:`clean` removed (or would remove, ``dry_run``) and what it kept."""

    removed: list[Entry]
    kept_in_use: list[tuple[Entry, str]]
    freed: int  # bytes
    total_before: int  # bytes of all entries
    dry_run: bool

    def to_dict(self) -> dict[str, tp.Any]:
        return {
            "dry_run": self.dry_run,
            "freed": self.freed,
            "total_before": self.total_before,
            "removed": [e.to_dict() for e in self.removed],
            "kept_in_use": [{**e.to_dict(), "reason": r} for e, r in self.kept_in_use],
        }


def _inside(root: Path, path: Path) -> bool:
    real_root = os.path.realpath(root)
    return os.path.realpath(path).startswith(real_root.rstrip(os.sep) + os.sep)


def _remove(path: Path) -> None:
    """Renames the folder to a hidden name in the same parent (readers then see it whole
    or not at all), then deletes it."""
    tmp = path.with_name(f"{REMOVING}{path.name}-{secrets.token_hex(4)}")
    os.rename(path, tmp)
    shutil.rmtree(tmp, ignore_errors=True)


def clean(
    folder: str | Path,
    *,
    failed: bool = False,
    older_than: str | float | None = None,
    max_size: str | int | None = None,
    dry_run: bool = False,
) -> CleanReport:
    """Removes entries (uid folders) below ``folder``: the failed ones (``failed``), those
    not used for ``older_than`` (``"30d"``), then the least recently used ones until the
    entries fit in ``max_size`` (``"10G"``). Several criteria add up.

    Never removes an entry in use (:func:`in_use`, or whose lock is held), nor anything
    reached through a link out of ``folder``; each entry is renamed to a hidden name,
    then deleted, so a reader sees it whole or not at all. ``dry_run``: only report.
    Folders left by an interrupted clean (``.exca-removing-*``) are removed too.
    """
    if not (failed or older_than is not None or max_size is not None):
        raise ValueError("clean needs at least one of failed, older_than, max_size")
    root = Path(folder)
    entries = ls(root, sort="last-use")
    total = sum(e.size for e in entries)
    chosen: list[Entry] = []
    if failed:
        chosen += [e for e in entries if e.state == "failed"]
    if older_than is not None:
        limit = time.time() - parse_age(older_than)
        chosen += [e for e in entries if (e.last_use or 0) < limit and e not in chosen]
    if max_size is not None:
        budget = parse_size(max_size)
        remaining = total - sum(e.size for e in chosen)
        for e in entries:  # least recently used first
            if remaining <= budget:
                break
            if e not in chosen and e.state not in ("running", "pending"):
                chosen.append(e)
                remaining -= e.size
    removed: list[Entry] = []
    kept: list[tuple[Entry, str]] = []
    for e in chosen:
        if e.path.is_symlink() or not _inside(root, e.path):
            kept.append((e, "reached through a link out of the folder"))
            continue
        with UidFolder(e.path).lock_if_free() as free:
            reason = in_use(e.path) if free else "its lock is held by another process"
            if reason is not None:
                kept.append((e, reason))
                continue
            if not dry_run:
                _remove(e.path)
        removed.append(e)
    if not dry_run:
        for parent in {e.path.parent for e in entries} | {root}:
            for leftover in parent.glob(f"{REMOVING}*"):
                if leftover.is_dir() and not leftover.is_symlink():
                    shutil.rmtree(leftover, ignore_errors=True)
    freed = sum(e.size for e in removed)
    return CleanReport(removed, kept, freed, total, dry_run)
