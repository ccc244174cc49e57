"""The uid folder: one cache entry, its files, and every operation on them.

::

    <folder>/<module>.<Class>.<method>,<version>/<uid or "default">/
        uid.yaml        the config the uid is computed from (written last: marks the
                        dumps complete; checked before a result is returned)
        full-uid.yaml   the same with default values included (checked too: a changed
                        default must not return results computed with the old one)
        config.yaml     the full config (re-instantiates the object)
        *-info.jsonl    the entry's CacheDict indexes, and the data files they point to:
                        key ``"result"`` for a TaskInfra or a Hydra launcher job, one key
                        per item for a MapInfra
        error.txt       the failure record: what ran it, then the traceback (exception
                        type and message last), whatever ran the computation
        job.pkl         the job record (a submitit job, or an in-process job), found again
                        by job()/status(), by ``exca`` and by a sweep launched again
        submitit        link to the job's log folder (created by this package only)
        origin.json     where the files of a Hydra job served from cache come from
        code/           the code snapshot of a queued job (``workdir``)
        .lock           the folder lock, held around check-then-write sequences
        .claims/        results being computed, and by whom (:mod:`exca.claims`)
        .exca-last-use  time of the last read (:mod:`exca.cachedict.index`)

:class:`UidFolder` is the only code that knows these names and opens an entry's
CacheDict: the infras (:mod:`exca.task`, :mod:`exca.map`), the Hydra launcher and
:mod:`exca.inspect` call it. Every read of a file that fails names the file and the uid
folder (:class:`DamagedEntryError`); no write follows a link this package did not
create.

Folders written by exca 0.6.0 have the same layout; a TaskInfra result or failure it
kept in ``job.pkl`` (in process), or in the submitit job's result file, is read by
:meth:`UidFolder.legacy_result` and :meth:`UidFolder.failure`. Their uid folder name may
come from the other uid version: :func:`find_uid_name` looks under both names.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import logging
import os
import pickle
import re
import socket
import threading
import traceback
import typing as tp
import uuid
from pathlib import Path

from . import claims
from . import uid as _uid
from .cachedict import CacheDict
from .cachedict.index import (
    INFO_SUFFIX,
    LAST_USE,
    GarbledLineError,
    IndexView,
    entry_info,
    read_last_use,
    summarize_keys,
)
from .cachedict.index import Entry as IndexEntry
from .confdict import UID_VERSION_ENV, ConfDict

__all__ = [
    "ConfigMismatchError",
    "DamagedEntryError",
    "Failure",
    "UidFolder",
    "atomic_write_bytes",
    "atomic_write_text",
    "find_uid_name",
    "ran_by_this_process",
    "remember",
    "same_config",
    "uid_name",
]

logger = logging.getLogger(__name__)

# ---- the names of an entry's files (each defined here only)
UID = "uid.yaml"
FULL_UID = "full-uid.yaml"
CONFIG = "config.yaml"
JOB = "job.pkl"
ERROR = "error.txt"
LOCK = ".lock"
LOGS_LINK = "submitit"  # link to the job's log folder (as in exca 0.6.0)
ORIGIN = "origin.json"
CODE = "code"  # the code snapshot of a queued job (WorkDir)
RESULT = "result"  # the CacheDict key of a TaskInfra or Hydra launcher job's result
DEFAULT_UID = "default"  # the uid folder name when all parameters are defaults
FILES = (
    UID,
    FULL_UID,
    CONFIG,
    JOB,
    ERROR,
    LOCK,
    LOGS_LINK,
    ORIGIN,
    CODE,
    LAST_USE,
    claims.CLAIMS_DIR,
)

#: What a computation does with an entry: ``cached`` (reuse a result, or the error of a
#: failure), ``retry`` (rerun failures, reuse results), ``force`` (recompute once),
#: ``read-only`` (never compute).
Mode = tp.Literal["cached", "retry", "force", "read-only"]
MODES: tuple[Mode, ...] = tp.get_args(Mode)


class ConfigMismatchError(RuntimeError):
    """The config dumped in a uid folder differs from the config of the object using it."""


class DamagedEntryError(RuntimeError):
    """A file of a uid folder cannot be read (names the file and the folder)."""


def uid_name(uid: str) -> str:
    """The folder name of a uid (``default`` when all parameters are defaults)."""
    return uid if uid else DEFAULT_UID


FOLDER_UID_VERSION = 3
"""The uid version naming new uid folders by default: exca 0.6.0's, so that both packages,
each at its defaults, use the same folders (``ConfDict.to_uid()`` keeps version 2)."""
_CHOSEN = bool(os.environ.get(UID_VERSION_ENV, "").strip())


def folder_uid_version() -> int:
    """The uid version naming new uid folders: the one chosen for the process
    (``CONFDICT_UID_VERSION``, or ``ConfDict.UID_VERSION`` set to another version than the
    default), else :data:`FOLDER_UID_VERSION`."""
    version = ConfDict.UID_VERSION
    if _CHOSEN or version != _uid.DEFAULT_VERSION:
        return version
    return FOLDER_UID_VERSION


def find_uid_name(method_folder: str | Path | None, cfg: ConfDict) -> str:
    """The uid folder name of ``cfg`` in ``method_folder``, under either uid version.

    The rule: the name given by :func:`folder_uid_version` (version 3, as exca 0.6.0,
    unless a version was chosen) if that folder exists or no other does; else the name
    given by another supported version (this package named folders with version 2
    before) if that folder exists and its ``uid.yaml`` holds this very config. Folders
    are never renamed nor moved: a folder found under the other version's name is used
    (read and extended) under that name.
    """
    version = folder_uid_version()
    name = uid_name(cfg.to_uid(version=version))
    if method_folder is None:
        return name
    method_folder = os.fspath(method_folder)  # os.path, not pathlib: on the cached call's path
    if os.path.exists(os.path.join(method_folder, name)):
        return name
    for other_version in _uid.SUPPORTED_VERSIONS:
        if other_version == version:
            continue
        other = uid_name(cfg.to_uid(version=other_version))
        if other == name:
            continue
        try:
            with open(os.path.join(method_folder, other, UID), encoding="utf8") as f:
                dumped = f.read()
        except (FileNotFoundError, NotADirectoryError):
            continue
        if same_config(dumped, cfg):
            logger.debug("Using %s, the uid folder of uid version %d", other, other_version)
            return other
    return name


# ---------------------------------------------------------------- small file helpers
def atomic_write_text(path: Path, text: str) -> None:
    """Writes a file so that readers see either nothing or the whole content (a link
    at ``path`` is replaced, never followed)."""
    atomic_write_bytes(path, text.encode("utf8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Binary version of :func:`atomic_write_text`."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)


def remember(memo: dict[tp.Any, tp.Any], key: tp.Any, value: tp.Any) -> None:
    """Adds to a process-wide memo (of the cached call's path), keeping its 1024 most
    recent entries."""
    memo[key] = value
    while len(memo) > 1024:
        del memo[next(iter(memo))]


def same_config(text: str, cfg: ConfDict) -> bool:
    """True if the yaml ``text`` (a dumped uid config) holds the config ``cfg``."""
    try:  # fast path: load the dump (libyaml) and compare the flat configs
        if _flat_dump(text) == cfg.flat():
            return True
    except Exception:  # eg: values that do not compare as plain data
        pass
    return text == cfg.to_yaml()


def _changed_defaults(text: str, cfg: ConfDict) -> bool:
    """True if a key of the dumped full uid config ``text`` holds another value in
    ``cfg``. Keys in only one of them (a field added or removed since, another infra
    of a subclass sharing its parent's method folder) are no change, as in exca 0.6.0."""
    try:
        dumped = _flat_dump(text)
    except Exception:  # a dump that does not parse: compared as text (a change)
        return True
    return any(key in dumped and dumped[key] != value for key, value in cfg.flat().items())


@functools.lru_cache(maxsize=1024)
def _flat_dump(text: str) -> dict[str, tp.Any]:
    """The flat config of a dumped uid config (memoized by content: a dump changed on
    disk, which check_configs reads again, is parsed once per distinct text)."""
    return ConfDict(ConfDict.from_yaml(text)).flat()


# flat content of uid.yaml files already read, by (path, device, inode, size, mtime): a
# file unchanged since is compared without being read and parsed again
_CHECKED: dict[tuple[str, int, int, int, int], dict[str, tp.Any]] = {}


# ---------------------------------------------------------------- failures
_HEADER = "# exca: "  # first line of a failure record: what ran the computation


@dataclasses.dataclass
class Failure:
    """A failed computation, as recorded in a uid folder: the exception type and message,
    the traceback, what ran it, and the file it was read from."""

    type: str  # eg "ValueError" (as the traceback's last block names it)
    message: str
    traceback: str  # the whole text, as Python prints it
    ran_by: str = ""  # eg "process 1234 on host", "job 5678 (slurm)"
    source: str = ""  # the file it was read from

    @classmethod
    def from_exception(
        cls, error: BaseException, ran_by: str = "", tb: str | None = None
    ) -> Failure:
        text = tb if tb else "".join(traceback.format_exception(error))
        message = str(error)
        return cls(type(error).__name__, message, text, ran_by)

    @classmethod
    def from_traceback(cls, text: str, ran_by: str = "", source: str = "") -> Failure:
        """Parses a traceback as Python prints it (the exception is the block after the
        last indented line); ``# exca:`` header lines give ``ran_by``."""
        lines = text.rstrip("\n").splitlines()
        while lines and lines[0].startswith(_HEADER):
            ran_by = ran_by or lines.pop(0)[len(_HEADER) :].strip()
        last_indented = max((k for k, line in enumerate(lines) if line[:1].isspace()), default=-1)
        tail = [line for line in lines[last_indented + 1 :] if line.strip()]
        first = tail[0] if tail else ""
        match = re.match(r"^([A-Za-z_][\w.]*)(?::\s?(.*))?$", first)
        if match is None:
            return cls("", "\n".join(tail), "\n".join(lines), ran_by, source)
        message = "\n".join([match.group(2) or "", *tail[1:]]).strip()
        return cls(match.group(1).rpartition(".")[2], message, "\n".join(lines), ran_by, source)

    def to_text(self) -> str:
        """The record as written in ``error.txt``."""
        head = f"{_HEADER}{self.ran_by}\n" if self.ran_by else ""
        return head + self.traceback.rstrip("\n") + "\n"

    def summary(self) -> str:
        """``Type: message`` (first line of the message)."""
        first = self.message.splitlines()[0] if self.message else ""
        return f"{self.type}: {first}" if self.type else first


def ran_by_this_process() -> str:
    """What runs the current code, for a failure record: the submitit job (local or
    Slurm) if any, and this process."""
    where = f"process {os.getpid()} on {socket.gethostname()}"
    from .backends import submitit_job

    job = submitit_job()
    if job is not None:
        return f"job {job[0]} ({job[1]}), {where}"
    return where


# ---------------------------------------------------------------- exca 0.6.0 job.pkl
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


# ---------------------------------------------------------------- shared CacheDicts
_CACHE_DICTS: collections.OrderedDict[Path, CacheDict[tp.Any]] = collections.OrderedDict()
_CACHE_DICTS_LOCK = threading.Lock()


def _shared_cache_dict(folder: Path) -> CacheDict[tp.Any]:
    """The process's CacheDict of a uid folder holding one result (the 256 most recent
    are kept): a fresh object of an already seen config then refreshes an index it has
    read (a ``stat`` per index file) instead of reading it again. A CacheDict follows
    what other processes and objects write (it refreshes from disk at each lookup), so
    sharing it is safe."""
    with _CACHE_DICTS_LOCK:
        cd = _CACHE_DICTS.get(folder)
        if cd is None:
            cd = _CACHE_DICTS[folder] = CacheDict(folder=folder, cache_type="Pickle")
            while len(_CACHE_DICTS) > 256:
                _CACHE_DICTS.popitem(last=False)
        else:
            _CACHE_DICTS.move_to_end(folder)
        return cd


# ---------------------------------------------------------------- the uid folder
class UidFolder:
    """One uid folder (cache entry): its configs, result or items, failure, job record,
    claims, lock, last use and artifacts origin. See the module docstring for the files.

    Cheap to create (no file is touched until asked); methods that read a file raise
    :class:`DamagedEntryError` naming the file and the folder when it cannot be read.
    """

    __slots__ = ("_cd", "path")

    def __init__(self, path: str | Path) -> None:
        self.path = path if isinstance(path, Path) else Path(path)  # (parsed once: hot path)
        self._cd: CacheDict[tp.Any] | None = None

    def __repr__(self) -> str:
        return f"UidFolder({str(self.path)!r})"

    def file(self, name: str) -> Path:
        """The path of one of the entry's files (one of :data:`FILES`)."""
        return self.path / name

    def is_entry(self) -> bool:
        """True if the folder holds configs, a job record, a failure or an index."""
        try:
            with os.scandir(self.path) as it:
                for item in it:
                    if item.name in (UID, JOB, ERROR) or item.name.endswith(INFO_SUFFIX):
                        return True
        except (NotADirectoryError, FileNotFoundError, PermissionError):
            pass
        return False

    # ---- lock
    @contextlib.contextmanager
    def lock(self) -> tp.Iterator[None]:
        """An exclusive lock on the folder, across processes (``flock`` on ``.lock``).

        Held only around short check-then-write sequences, never while computing."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    @contextlib.contextmanager
    def lock_if_free(self) -> tp.Iterator[bool]:
        """Holds the lock if nobody else does; yields False if another process holds it
        (or the lock file is a link or unreadable). A folder without lock file needs none."""
        import fcntl

        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            yield True
            return
        except OSError:  # a link, or unreadable: leave the folder alone
            yield False
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            yield True
        finally:
            os.close(fd)

    # ---- configs
    def check_configs(
        self,
        uid_cfg: ConfDict,
        full_uid: tp.Callable[[], ConfDict],
        full: tp.Callable[[], ConfDict | str],
        write: bool,
    ) -> tp.Literal["checked", "written", ""]:
        """Checks ``uid.yaml`` equals ``uid_cfg``; writes the dumps when missing and
        ``write`` is True (``full`` gives the full config, or its yaml text). Returns ``"checked"`` (the dumps existed and match),
        ``"written"`` (they were missing and are now written) or ``""`` (missing, not
        written).

        A mismatch means two different configs share one uid folder (a uid collision,
        or a cache written by a different definition of the class): it raises
        :class:`ConfigMismatchError` rather than return a result computed for another
        config.
        """
        path = os.path.join(self.path, UID)  # os.path, not pathlib: on the cached call's path
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
            if same_config(existing, uid_cfg):
                with contextlib.suppress(Exception):
                    remember(_CHECKED, stamp, _flat_dump(existing))
            else:
                raise ConfigMismatchError(
                    f"The cache folder {self.path} holds results for another config.\n"
                    f"Dumped in {path}:\n{existing}\nCurrent config:\n{uid_cfg.to_yaml()}\n"
                    "This can be a uid collision or a change of the class definition: use "
                    "another version (infra version='...') or clear this folder."
                )
            return "checked"
        if not write:
            return ""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / FULL_UID, full_uid().to_yaml())
        config = full()
        atomic_write_text(
            self.path / CONFIG, config if isinstance(config, str) else config.to_yaml()
        )
        atomic_write_text(self.path / UID, uid_cfg.to_yaml())  # last: marks the dumps complete
        return "written"

    def full_uid_stamp(self) -> tuple[str, int, int, int, int] | None:
        """(path, device, inode, size, mtime) of ``full-uid.yaml``, None if absent: a
        caller memoizes its checks of an unchanged file with it."""
        path = os.path.join(self.path, FULL_UID)
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)

    def check_full_uid(self, current: ConfDict, what: str) -> bool:
        """Checks ``full-uid.yaml`` (the uid config with the defaults) equals ``current``;
        True if it does, False if the file is absent; raises :class:`ConfigMismatchError`
        naming ``what`` (the class whose defaults changed) otherwise."""
        path = self.path / FULL_UID
        try:
            existing = path.read_text(encoding="utf8")
        except FileNotFoundError:
            return False
        if same_config(existing, current) or not _changed_defaults(existing, current):
            return True
        raise ConfigMismatchError(
            f"The defaults of {what} changed since the results in {self.path} were "
            f"computed.\nDumped in {path}:\n{existing}\nCurrent config:\n{current.to_yaml()}\n"
            "Use another version (infra version='...') for the new defaults, or clear this "
            "folder."
        )

    def config_text(self, full: bool = True) -> str | None:
        """The text of ``config.yaml`` (``full``) or ``uid.yaml``, None if absent."""
        path = self.path / (CONFIG if full else UID)
        try:
            return path.read_text(encoding="utf8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_config(self) -> ConfDict | None:
        """The full config (``config.yaml``), None if absent; raises
        :class:`DamagedEntryError` naming the file and folder if it is not valid YAML."""
        text = self.config_text()
        if text is None:
            return None
        try:
            return ConfDict.from_yaml(text)
        except Exception as e:
            raise DamagedEntryError(
                f"{CONFIG} of the uid folder {self.path} is not a valid config "
                f"({type(e).__name__}: {_first_line(e)})"
            ) from e

    # ---- result (the "result" key of a TaskInfra or a Hydra launcher job)
    def cache_dict(self) -> CacheDict[tp.Any]:
        """The entry's CacheDict holding one result (Pickle by default): the process's
        shared one for this folder."""
        cd = self._cd
        if cd is None:
            cd = self._cd = _shared_cache_dict(self.path)
        return cd

    def item_cache_dict(self, **options: tp.Any) -> CacheDict[tp.Any]:
        """A new CacheDict of the entry's items (a MapInfra's), with ``options`` as
        :class:`~exca.cachedict.CacheDict` takes them (``cache_type``, ``keep_in_ram``...)."""
        return CacheDict(folder=self.path, **options)

    def has_result(self, legacy: bool = True) -> bool:
        """True if the entry holds a result (also one kept by exca 0.6.0, if ``legacy``)."""
        return RESULT in self.cache_dict() or (legacy and self.legacy_result()[0])

    def read_result(self) -> tp.Any:
        """The result (also one kept by exca 0.6.0); KeyError if there is none."""
        cd = self.cache_dict()
        if RESULT not in cd:
            found, value = self.legacy_result()
            if found:
                return value
        return cd[RESULT]

    def write_result(self, value: tp.Any, what: str = "") -> tp.Any:
        """Stores ``value`` as the result, unless one is stored already (checked under the
        folder lock: concurrent computations of the same entry all end up returning the
        first stored result), and removes the failure record of an earlier computation;
        returns the stored result."""
        cd = self.cache_dict()
        with self.lock():
            if RESULT in cd:  # computed meanwhile by another process
                logger.warning("%s: keeping the result already in %s", what or "exca", self.path)
                return cd[RESULT]
            with cd.writer() as writer:
                writer[RESULT] = value
            (self.path / ERROR).unlink(missing_ok=True)  # a failure recorded before is over
        return value

    def compute_once(
        self,
        compute: tp.Callable[[], tp.Any],
        *,
        wait: claims.Wait = "wait",
        what: str = "",
        ran_by: str | None = None,
    ) -> tp.Any:
        """The result, computed by ``compute`` once across processes (a claim, see
        :mod:`exca.claims`; ``wait="off"``: no claim) and stored (:meth:`write_result`).
        A failure of ``compute`` is recorded (:meth:`record_failure`) and re-raised."""

        def run() -> tp.Any:
            try:
                value = compute()
            except Exception as e:
                self.record_failure(e, ran_by=ran_by)
                raise
            return self.write_result(value, what)

        if wait == "off":
            return run()
        with self.claim_result(wait=wait, what=what) as claimed:
            if not claimed:  # computed meanwhile by the owner of the claim
                return self.read_result()
            return run()

    @contextlib.contextmanager
    def claim_result(self, *, wait: claims.Wait = "wait", what: str = "") -> tp.Iterator[bool]:
        """Claims the computation of the result for the block (:func:`exca.claims.once`):
        yields True when this process computes it (then store it, or record the failure,
        in the block), False when another owner stored it meanwhile (read it)."""
        self.path.mkdir(parents=True, exist_ok=True)
        present = functools.partial(self.cache_dict().__contains__, RESULT)
        with claims.once(self.path, RESULT, present=present, wait=wait, what=what) as claimed:
            yield claimed

    def compute_keys_once(self, **kwargs: tp.Any) -> None:
        """:func:`exca.claims.compute_keys_once` on this folder (a MapInfra's items)."""
        claims.compute_keys_once(self.path, **kwargs)

    def result_line(self, entry: IndexEntry | None = None) -> dict[str, tp.Any] | None:
        """The parsed index line of the result (what is stored, not the value), None if
        there is no result; :class:`DamagedEntryError` if the line is not valid JSON.
        ``entry``: the result's index entry, if known (:func:`~exca.cachedict.index.summarize_keys`)."""
        if entry is not None:
            return self._parse_result_line(entry)
        _, key, raw = summarize_keys(self.path)  # (the common case: one key)
        if key != RESULT:
            view = IndexView(self.path)
            view.refresh()
            raw = view.entries.get(RESULT)
        return None if raw is None else self._parse_result_line(raw)

    def _parse_result_line(self, raw: IndexEntry) -> dict[str, tp.Any]:
        try:
            return entry_info(raw)
        except GarbledLineError as e:
            raise DamagedEntryError(
                f"the result's line {raw[1]} of {self.path / raw[0]} (uid folder "
                f"{self.path}) is damaged: {e}"
            ) from e

    def stored_keys(self) -> dict[str, tp.Any]:
        """The entry's CacheDict keys, read from the index files now (the values are not
        read): key -> index entry."""
        view = IndexView(self.path)
        view.refresh()
        return view.entries

    def legacy_result(self) -> tuple[bool, tp.Any]:
        """(True, result) when ``job.pkl`` records a result exca 0.6.0 computed: in
        process (its ``LocalJob`` holds the value), or through submitit (the value is in
        the job's result pickle); (False, None) otherwise (no file, a job of this package,
        not finished, failed, unreadable). The last result read is memoized while the
        file is unchanged."""
        path = self.path / JOB
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
            job = self._load_legacy_job()
            if isinstance(job, _LocalJob060):
                status, value = job._result
                if status == "success":
                    out = (True, value)
            elif getattr(job, "paths", None) is not None:  # a submitit job
                status, value = _read_pickle(Path(job.paths.result_pickle))
                if status == "success":
                    out = (True, value)
        except Exception as e:  # never hide the cache behind an unreadable record
            logger.debug("No exca 0.6.0 result in %s (%s: %s)", path, type(e).__name__, e)
        _LEGACY_MEMO.clear()  # one entry: the result may be large
        _LEGACY_MEMO[str(path)] = (stamp, out)
        return out

    def _load_legacy_job(self) -> tp.Any:
        with (self.path / JOB).open("rb") as f:
            return _Unpickler060(f).load()

    def is_legacy_job_file(self) -> bool:
        """True when ``job.pkl`` holds an in-process job of exca 0.6.0 (which keeps its
        result there: removing the file loses that result for 0.6.0)."""
        try:
            return isinstance(self._load_legacy_job(), _LocalJob060)
        except Exception:
            return False

    # ---- failure
    def record_failure(
        self, error: BaseException | Failure, ran_by: str | None = None, tb: str | None = None
    ) -> Failure | None:
        """Writes the failure record (``error.txt``: what ran it, then the traceback),
        unless the entry holds a result. Returns the record written, or None."""
        if RESULT in self.cache_dict():
            return None
        by = ran_by_this_process() if ran_by is None else ran_by
        if isinstance(error, Failure):
            failure = error
            failure.ran_by = failure.ran_by or by
        else:
            failure = Failure.from_exception(error, by, tb)
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / ERROR, failure.to_text())
        failure.source = str(self.path / ERROR)
        return failure

    def has_failure_record(self) -> bool:
        """True if ``error.txt`` exists (a failure recorded in the one format)."""
        return os.path.exists(os.path.join(self.path, ERROR))

    def failure(self, job: tp.Any = None) -> Failure | None:
        """The recorded failure, whatever ran the computation: ``error.txt``; else read
        from the job record (an in-process job of this package recorded before
        ``error.txt`` existed, a submitit job's result file, exca 0.6.0's ``job.pkl``);
        None if no failure is recorded. ``job``: the job record, if already loaded."""
        path = self.path / ERROR
        try:
            text = path.read_text(encoding="utf8", errors="replace")
        except (FileNotFoundError, NotADirectoryError):
            text = None
        if text is not None:
            return Failure.from_traceback(text, source=str(path))
        if not (self.path / JOB).exists():
            return None
        try:
            legacy = self._load_legacy_job()
        except Exception:
            legacy = None
        if isinstance(legacy, _LocalJob060):  # exca 0.6.0, in process
            status, out = legacy._result
            if status != "failure" or not isinstance(out, tuple):
                return None
            _, tb = out
            return Failure.from_traceback(str(tb), "exca 0.6.0, in process", str(self.path / JOB))
        job = self.load_job() if job is None else job
        if job is None:
            return None
        tb = getattr(job, "_traceback", None)
        if isinstance(tb, str) and job.exception() is not None:  # in process (LocalJob)
            return Failure.from_traceback(tb, "in process", str(self.path / JOB))
        paths = getattr(job, "paths", None)
        if paths is None:
            return None
        result = Path(paths.result_pickle)
        try:
            status, value = _read_pickle(result)
        except FileNotFoundError:
            return None
        except Exception as e:
            return Failure(
                type(e).__name__,
                f"unreadable result file {result} of job {job.job_id}: {e}",
                "",
                f"job {job.job_id}",
                str(result),
            )
        if status != "error":
            return None
        return Failure.from_traceback(str(value), f"job {job.job_id}", str(result))

    # ---- job record
    def save_job(self, job: tp.Any) -> None:
        """Records a submitted (submitit) or in-process job."""
        atomic_write_bytes(self.path / JOB, pickle.dumps(job))

    def has_job(self) -> bool:
        return os.path.exists(os.path.join(self.path, JOB))

    def load_job(self) -> tp.Any:
        """The job recorded in the folder, or None (no file; an unreadable or foreign file
        is ignored with a warning naming it: it must never hide the cache)."""
        path = self.path / JOB
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

    def link_logs(self, job: tp.Any) -> None:
        """Links ``<uid folder>/submitit`` to the log folder of a submitit job (replacing
        only a link, never a file or folder of someone else)."""
        paths = getattr(job, "paths", None)
        if paths is None:
            return
        link = self.path / LOGS_LINK
        try:
            if link.is_symlink():
                link.unlink()
            if not link.exists():
                link.symlink_to(Path(paths.folder).absolute(), target_is_directory=True)
        except OSError as e:  # eg: no symlinks on this file system: the logs stay where they are
            logger.debug("Could not link %s to the logs of job %s: %s", link, job.job_id, e)

    # ---- clearing
    def clear(self, *, remove_legacy_job: bool = False, what: str = "") -> None:
        """Removes the result, the failure record, the job record and the logs link: the
        next call computes again. exca 0.6.0's in-process ``job.pkl`` (its outcome, which
        0.6.0 reads) is kept unless ``remove_legacy_job``."""
        cd = self.cache_dict()
        if RESULT in cd:
            with cd.writer() as writer:
                del writer[RESULT]
        (self.path / ERROR).unlink(missing_ok=True)
        job = self.path / JOB
        if not job.exists():
            return
        if self.is_legacy_job_file():
            if not remove_legacy_job:
                return
            logger.warning("%s: mode='force' removes %s (exca 0.6.0's job)", what or "exca", job)
        job.unlink(missing_ok=True)
        link = self.path / LOGS_LINK
        if link.is_symlink():
            link.unlink()

    # ---- claims, last use, origin
    def claim_in_use(self) -> str | None:
        """Why the entry is in use by a claim (a process computing one of its results,
        whose owner is alive, or a claim being written), or None."""
        return claims.in_use(self.path)

    def last_use(self) -> int | None:
        """Time (ns) of the last read recorded in the folder, or None."""
        return read_last_use(self.path)

    def read_origin(self) -> str | None:
        """The text of ``origin.json``, None if absent."""
        try:
            return (self.path / ORIGIN).read_text(encoding="utf8")
        except (FileNotFoundError, NotADirectoryError):
            return None

    def write_origin(self, text: str) -> None:
        atomic_write_text(self.path / ORIGIN, text)

    # ---- damage
    def problems(self, result: bool | IndexEntry = True) -> list[str]:
        """What is damaged in the entry (each naming the file), empty if nothing: a
        result line that is not valid JSON (``result``: check it, or its index entry if
        known), a ``config.yaml`` that is not valid YAML, a link where this package writes
        its last-use stamp."""
        out = []
        folder = os.fspath(self.path)  # (os.path: called for every entry by `exca ls`)
        stamp = os.path.join(folder, LAST_USE)
        if os.path.islink(stamp):
            out.append(
                f"{stamp} is a link: exca writes its last-use stamp there and never follows "
                "a link it did not create (remove the link)"
            )
        if result:
            try:
                self.result_line(result if isinstance(result, tuple) else None)
            except DamagedEntryError as e:
                out.append(str(e))
        config = os.path.join(folder, CONFIG)  # (uid.yaml: checked by every use of the entry)
        try:
            with open(config, "rb") as f:
                error = _yaml_error(f.read())
        except (FileNotFoundError, NotADirectoryError):
            error = None
        if error is not None:
            out.append(f"{config} is not a valid config ({error})")
        return out


def _yaml_error(text: str | bytes) -> str | None:
    """Why ``text`` is not valid YAML, or None (a syntax check only: no object built;
    with libyaml, the parser runs in C: about 10 us for a config dump)."""
    import yaml

    try:
        from yaml import _yaml

        parser: tp.Any = _yaml.CParser(text)
        check: tp.Callable[[], tp.Any] = parser.raw_parse  # no Python object per event
    except (ImportError, AttributeError):  # without libyaml: the parser's events
        loader = yaml.SafeLoader(text)
        parser = loader

        def check() -> None:
            while loader.check_event():
                loader.get_event()

    try:
        check()
    except yaml.YAMLError as e:
        return f"{type(e).__name__}: {_first_line(e)}"
    finally:
        parser.dispose()
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else ""


def _read_pickle(path: Path) -> tuple[str, tp.Any]:
    with path.open("rb") as f:
        out = pickle.load(f)
    if not isinstance(out, tuple) or len(out) != 2:
        raise ValueError(f"{path} does not hold a submitit outcome")
    return out
