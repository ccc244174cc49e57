"""The cache layout: folder and file names, config dumps and their check.

::

    <folder>/<module>.<Class>.<method>,<version>/<uid or "default">/
        uid.yaml        the config the uid is computed from
        full-uid.yaml   the same with default values included
        config.yaml     the full config (re-instantiates the object)
        job.pkl         the submitted job (TaskInfra, Hydra launcher), found again by
                        job()/status() and by a sweep launched again while it runs
        *-info.jsonl    CacheDict indexes, and the data files they point to
        .claims/        results being computed, and by whom (exca.claims; removed when
                        its last process exits)

Folders written by exca 0.6.0 have the same layout (readers of their formats:
:mod:`exca.cachedict.legacy` for the CacheDict, :func:`legacy_task_result` for a
TaskInfra result kept in ``job.pkl``). Their uid folder name may come from the other
uid version: :func:`find_uid_name` looks under both names.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
import pickle
import typing as tp
import uuid
from pathlib import Path

from . import uid as _uid
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
            f"version={version!r} must not contain '/', '\\' or NUL, nor be empty or only "
            "dots: it is part of a folder name"
        )
    return version


def folder_name(*parts: str, version: str) -> str:
    """``<part>.<part>...,<version>``: eg ``<module>.<Class>.<method>,<version>`` for an
    infra's method, ``<module>.<Class>,<version>`` for the launcher's model-targeted jobs."""
    return f"{'.'.join(parts)},{check_version(version)}"


def uid_name(uid: str) -> str:
    """The folder name of a uid (``default`` when all parameters are defaults)."""
    return uid if uid else DEFAULT_UID


def find_uid_name(method_folder: str | Path | None, cfg: ConfDict) -> str:
    """The uid folder name of ``cfg`` in ``method_folder``, under either uid version.

    The rule: the name given by the uid version in use (``ConfDict.UID_VERSION``: 2 by
    default, or the ``CONFDICT_UID_VERSION`` environment variable) if that folder
    exists or no other does; else the name given by another supported version (exca
    0.6.0 uses version 3 by default) if that folder exists and its ``uid.yaml`` holds
    this very config. Folders are never renamed nor moved: a folder found under the
    other version's name is used (read and extended) under that name.
    """
    name = uid_name(cfg.to_uid())
    if method_folder is None:
        return name
    method_folder = os.fspath(method_folder)  # os.path, not pathlib: on the cached call's path
    if os.path.exists(os.path.join(method_folder, name)):
        return name
    for version in _uid.SUPPORTED_VERSIONS:
        if version == ConfDict.UID_VERSION:
            continue
        other = uid_name(cfg.to_uid(version=version))
        if other == name:
            continue
        try:
            with open(os.path.join(method_folder, other, UID), encoding="utf8") as f:
                dumped = f.read()
        except (FileNotFoundError, NotADirectoryError):
            continue
        if _same_config(dumped, cfg):
            logger.debug("Using %s, the uid folder of uid version %d", other, version)
            return other
    return name


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

    from .backends import LocalJob  # an in-process failure, recorded with its traceback

    if not isinstance(job, submitit.Job | LocalJob):  # eg: written by another library
        logger.warning("Ignoring job file %s: it holds a %s", path, type(job).__name__)
        return None
    return job


class _LocalJob060:
    """Stand-in for exca 0.6.0's ``exca.task.LocalJob`` (an in-process job kept in
    ``job.pkl`` with its outcome: ``_result = ("success", value)`` or ``("failure",
    (exception, traceback))``), to read such files without 0.6.0."""

    _result: tuple[str, tp.Any] = ("failure", None)


class _Unpickler060(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> tp.Any:
        if (module, name) == ("exca.task", "LocalJob"):
            return _LocalJob060
        return super().find_class(module, name)


_LEGACY_MEMO: dict[str, tuple[tuple[int, int, int], tuple[bool, tp.Any]]] = {}


def legacy_task_result(folder: Path) -> tuple[bool, tp.Any]:
    """(True, result) when ``job.pkl`` in a uid folder records a result exca 0.6.0
    computed: in process (its ``LocalJob`` holds the value), or through submitit (the
    value is in the job's result pickle); (False, None) otherwise (no file, a job of
    this package, not finished, failed, unreadable). The last result read is memoized
    while the file is unchanged."""
    path = folder / JOB
    try:
        st = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False, None
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
    memo = _LEGACY_MEMO.get(str(path))
    if memo is not None and memo[0] == stamp:
        return memo[1]
    out: tuple[bool, tp.Any] = (False, None)
    try:
        with path.open("rb") as f:
            job = _Unpickler060(f).load()
        if isinstance(job, _LocalJob060):
            status, value = job._result
            if status == "success":
                out = (True, value)
        elif type(job).__module__.startswith("submitit"):
            result_pickle = Path(job.paths.result_pickle)
            if result_pickle.exists():
                with result_pickle.open("rb") as f:
                    status, value = pickle.load(f)
                if status == "success":
                    out = (True, value)
    except Exception as e:  # never hide the cache behind an unreadable record
        logger.debug("No exca 0.6.0 result in %s (%s: %s)", path, type(e).__name__, e)
    _LEGACY_MEMO.clear()  # one entry: the result may be large
    _LEGACY_MEMO[str(path)] = (stamp, out)
    return out


def is_legacy_job_file(folder: Path) -> bool:
    """True when ``job.pkl`` holds an in-process job of exca 0.6.0 (which keeps its result
    there: removing the file loses that result for 0.6.0)."""
    try:
        with (folder / JOB).open("rb") as f:
            return isinstance(_Unpickler060(f).load(), _LocalJob060)
    except Exception:
        return False


class ConfigMismatchError(RuntimeError):
    """The config dumped in a uid folder differs from the config of the object using it."""


def check_or_write_configs(
    folder: Path,
    uid_cfg: ConfDict,
    full_uid: tp.Callable[[], ConfDict],
    full: tp.Callable[[], ConfDict],
    write: bool,
) -> tp.Literal["checked", "written", ""]:
    """Checks ``uid.yaml`` in ``folder`` equals ``uid_cfg``; writes the dumps when missing
    and ``write`` is True. Returns ``"checked"`` (the dumps existed and match),
    ``"written"`` (they were missing and are now written) or ``""`` (missing, not written).

    A mismatch means two different configs share one uid folder (a uid collision,
    or a cache written by a different definition of the class): it raises
    :class:`ConfigMismatchError` rather than return a result computed for
    another config.
    """
    path = os.path.join(folder, UID)  # os.path, not pathlib: on the cached call's path
    try:
        st = os.stat(path)
        stamp = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        if _CHECKED.get(stamp) == uid_cfg.flat():  # this very file was read and parsed
            return "checked"
        with open(path, encoding="utf8") as f:
            existing = f.read()
    except FileNotFoundError:
        existing = None
    if existing is not None:
        if _same_config(existing, uid_cfg):
            with contextlib.suppress(Exception):
                remember(_CHECKED, stamp, _flat_dump(existing))
        else:
            raise ConfigMismatchError(
                f"The cache folder {folder} holds results for another config.\n"
                f"Dumped in {path}:\n{existing}\nCurrent config:\n{uid_cfg.to_yaml()}\n"
                "This can be a uid collision or a change of the class definition: use another "
                "version (infra version='...') or clear this folder."
            )
        return "checked"
    if not write:
        return ""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / FULL_UID, full_uid().to_yaml())
    atomic_write_text(folder / CONFIG, full().to_yaml())
    atomic_write_text(folder / UID, uid_cfg.to_yaml())  # last: marks the dumps complete
    return "written"


def remember(memo: dict[tp.Any, tp.Any], key: tp.Any, value: tp.Any) -> None:
    """Adds to a process-wide memo (of the cached call's path), keeping its 1024 most
    recent entries."""
    memo[key] = value
    while len(memo) > 1024:
        del memo[next(iter(memo))]


# flat content of uid.yaml files already read, by (path, device, inode, size, mtime): a
# file unchanged since is compared without being read and parsed again
_CHECKED: dict[tuple[str, int, int, int, int], dict[str, tp.Any]] = {}


def _same_config(text: str, cfg: ConfDict) -> bool:
    """True if the yaml ``text`` (a dumped uid config) holds the config ``cfg``."""
    try:  # fast path: load the dump (libyaml) and compare the flat configs
        if _flat_dump(text) == cfg.flat():
            return True
    except Exception:  # eg: values that do not compare as plain data
        pass
    return text == cfg.to_yaml()


@functools.lru_cache(maxsize=1024)
def _flat_dump(text: str) -> dict[str, tp.Any]:
    """The flat config of a dumped uid config (memoized by content: a dump changed on
    disk, which check_or_write_configs reads again, is parsed once per distinct text)."""
    return ConfDict(ConfDict.from_yaml(text)).flat()
