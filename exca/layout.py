"""The names of a cache's folders: ``<module>.<Class>.<method>,<version>`` for a method
(:func:`folder_name`), the uid folder below it (:func:`exca.uidfolder.uid_name`), and the
item keys of a MapInfra (:func:`short_item_uid`).

Everything inside a uid folder (its files, their reading and writing) is
:mod:`exca.uidfolder`'s; the names below it are re-exported here for code written
against earlier versions (``exca.layout.ConfigMismatchError``, ``exca.layout.UID``...).
"""

from __future__ import annotations

import hashlib
import typing as tp
from pathlib import Path

from .confdict import ConfDict

# re-exported for code written against earlier versions (defined in exca.uidfolder)
from .uidfolder import CONFIG as CONFIG
from .uidfolder import DEFAULT_UID as DEFAULT_UID
from .uidfolder import ERROR as ERROR
from .uidfolder import FULL_UID as FULL_UID
from .uidfolder import JOB as JOB
from .uidfolder import LOCK as LOCK
from .uidfolder import UID as UID
from .uidfolder import ConfigMismatchError as ConfigMismatchError
from .uidfolder import UidFolder
from .uidfolder import atomic_write_bytes as atomic_write_bytes
from .uidfolder import atomic_write_text as atomic_write_text
from .uidfolder import find_uid_name as find_uid_name
from .uidfolder import remember as remember
from .uidfolder import same_config as same_config
from .uidfolder import uid_name as uid_name

__all__ = [
    "check_or_write_configs",
    "check_version",
    "folder_name",
    "load_job",
    "save_job",
    "short_item_uid",
]


def check_version(version: str) -> str:
    """Returns ``version`` if it can be part of a folder name, else raises ValueError
    (a version must never move a cache outside its folder)."""
    if not version or any(c in version for c in "/\\\0") or set(version) == {"."}:
        raise ValueError(
            f"version={version!r} must not contain '/', '\\' or NUL, nor be empty or only "
            "dots: it is part of a folder name"
        )
    return version


def folder_name(*parts: str, version: str) -> str:
    """``<part>.<part>...,<version>``: eg ``<module>.<Class>.<method>,<version>`` for an
    infra's method, ``<module>.<Class>,<version>`` for the launcher's model-targeted jobs."""
    return f"{'.'.join(parts)},{check_version(version)}"


def short_item_uid(uid: str, max_length: int) -> str:
    """An item uid of at most ``max_length`` characters, as exca 0.6.0 shortens it (so
    that both find the same keys): ``<start>..<n>..<end>-<md5[:8]>`` where ``n``
    characters were cut; unchanged when not longer than ``max_length`` (or when the
    shortened form would not be shorter)."""
    if len(uid) <= max_length:
        return uid
    digest = hashlib.md5(uid.encode("utf8", errors="surrogatepass")).hexdigest()
    cut = (max_length - 13 - len(str(len(uid)))) // 2
    if cut < 1:  # (0.6.0 refuses max_length < 32) only a hash fits
        return digest[: max(max_length, 8)]
    short = f"{uid[:cut]}..{len(uid) - 2 * cut}..{uid[-cut:]}-{digest[:8]}"
    return uid if len(uid) < len(short) else short


def save_job(folder: Path, job: tp.Any) -> None:
    """Records a submitted job in its uid folder (:meth:`exca.uidfolder.UidFolder.save_job`)."""
    UidFolder(folder).save_job(job)


def load_job(folder: Path) -> tp.Any:
    """The job recorded in a uid folder, or None (:meth:`exca.uidfolder.UidFolder.load_job`)."""
    return UidFolder(folder).load_job()


def check_or_write_configs(
    folder: Path,
    uid_cfg: ConfDict,
    full_uid: tp.Callable[[], ConfDict],
    full: tp.Callable[[], ConfDict],
    write: bool,
) -> tp.Literal["checked", "written", ""]:
    """:meth:`exca.uidfolder.UidFolder.check_configs` of ``folder``."""
    return UidFolder(folder).check_configs(uid_cfg, full_uid, full, write)
