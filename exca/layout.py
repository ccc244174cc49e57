"""The cache layout: folder and file names, config dumps and their check.

::

    <folder>/<module>.<Class>.<method>,<version>/<uid or "default">/
        uid.yaml        the config the uid is computed from
        full-uid.yaml   the same with default values included
        config.yaml     the full config (re-instantiates the object)
        job.pkl         the submitted job (TaskInfra, Hydra launcher), found again by
                        job()/status() and by a sweep launched again while it runs
        *-info.jsonl    CacheDict indexes, and the data files they point to
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import typing as tp
import uuid
from pathlib import Path

from .confdict import ConfDict

logger = logging.getLogger(__name__)

UID = "uid.yaml"
FULL_UID = "full-uid.yaml"
CONFIG = "config.yaml"
JOB = "job.pkl"
ERROR = "error.txt"  # traceback of a failed Hydra launcher job
LOCK = ".lock"
DEFAULT_UID = "default"


def check_version(version: str) -> str:
    """Returns ``version`` if it can be part of a folder name, else raises ValueError
    (a version must never move a cache outside its folder)."""
    if not version or any(c in version for c in "/\\\0") or set(version) == {"."}:
        raise ValueError(
            f"version={version!r} cannot be part of a folder name (no '/', '\\', NUL, "
            "and not only dots)"
        )
    return version


def folder_name(*parts: str, version: str) -> str:
    """``<part>.<part>...,<version>``: eg ``<module>.<Class>.<method>,<version>`` for an
    infra's method, ``<module>.<Class>,<version>`` for the launcher's model-targeted jobs."""
    return f"{'.'.join(parts)},{check_version(version)}"


def uid_name(uid: str) -> str:
    """The folder name of a uid (``default`` when all parameters are defaults)."""
    return uid if uid else DEFAULT_UID


@contextlib.contextmanager
def folder_lock(folder: Path) -> tp.Iterator[None]:
    """An exclusive lock on a uid folder, across processes (``flock`` on ``.lock``).

    Held only around short check-then-write sequences, never while computing.
    """
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def atomic_write_text(path: Path, text: str) -> None:
    """Writes a file so that readers see either nothing or the whole content."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(text, encoding="utf8")
    os.replace(tmp, path)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Binary version of :func:`atomic_write_text`."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save_job(folder: Path, job: tp.Any) -> None:
    """Records a submitted (submitit) job in its uid folder."""
    atomic_write_bytes(folder / JOB, pickle.dumps(job))


def load_job(folder: Path) -> tp.Any:
    """The submitit job recorded in a uid folder, or None (no file; an unreadable or
    foreign file is ignored with a warning: it must never hide the cache)."""
    path = folder / JOB
    if not path.exists():
        return None
    try:
        with path.open("rb") as f:
            job = pickle.load(f)
    except Exception as e:
        logger.warning("Ignoring unreadable job file %s (%s: %s)", path, type(e).__name__, e)
        return None
    import submitit

    if not isinstance(job, submitit.Job):  # eg: written by another library
        logger.warning("Ignoring job file %s: it holds a %s", path, type(job).__name__)
        return None
    return job


class ConfigMismatchError(RuntimeError):
    """The config dumped in a uid folder differs from the config of the object using it."""


def check_or_write_configs(
    folder: Path,
    uid_cfg: ConfDict,
    full_uid: tp.Callable[[], ConfDict],
    full: tp.Callable[[], ConfDict],
    write: bool,
) -> bool:
    """Checks ``uid.yaml`` in ``folder`` equals ``uid_cfg``; writes the dumps when missing
    and ``write`` is True. Returns True if the dumps were checked or written.

    A mismatch means two different configs share one uid folder (a uid collision,
    or a cache written by a different definition of the class): it raises
    :class:`ConfigMismatchError` rather than return a result computed for
    another config.
    """
    path = folder / UID
    try:
        existing = path.read_text(encoding="utf8")
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if not _same_config(existing, uid_cfg):
            raise ConfigMismatchError(
                f"The cache folder {folder} holds results for another config.\n"
                f"Dumped in {path}:\n{existing}\nCurrent config:\n{uid_cfg.to_yaml()}\n"
                "This can be a uid collision or a change of the class definition: use another "
                "version (infra version='...') or clear this folder."
            )
        return True
    if not write:
        return False
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / FULL_UID, full_uid().to_yaml())
    atomic_write_text(folder / CONFIG, full().to_yaml())
    atomic_write_text(path, uid_cfg.to_yaml())  # last: marks the dumps complete
    return True


def _same_config(text: str, cfg: ConfDict) -> bool:
    """True if the yaml ``text`` (a dumped uid config) holds the config ``cfg``."""
    try:  # fast path: load the dump (libyaml) and compare the flat configs
        if ConfDict(ConfDict.from_yaml(text)).flat() == cfg.flat():
            return True
    except Exception:  # eg: values that do not compare as plain data
        pass
    return text == cfg.to_yaml()
