"""The on-disk index of a CacheDict folder: append-only ``*-info.jsonl`` files.

Layout of a folder (see also :mod:`exca.cachedict.core`)::

    <folder>/<writer>-info.jsonl      one index per writer (process + thread)
    <folder>/data/<writer>/...        the data files that writer's lines point to

``<writer>`` is ``<host>-<pid>-<thread id>-<random token>``: a writer name is
never reused by another process (nor after ``clear()`` removed its files), so an
index file has exactly one appending process, and a partial last line left by a
killed process stays last forever.

Each index file starts with an empty line, and each index line is one space then one
JSON object (serialized by orjson) ending with ``\\n`` (the space and the empty line
make exca 0.6.0, which reads the same folders, skip these lines and keep the files;
lines without the space are read too; 0.6.0's own lines are read through
:mod:`exca.cachedict.legacy`):

- an entry: ``{"#key": key, "#t": time_ns, "#type": format name, ...params}``
  where the params are what the format needs to read the value back;
- a tombstone (deletion): ``{"#key": key, "#t": time_ns, "#type": "#deleted"}``;
- a clear marker: ``{"#key": null, "#t": time_ns, "#type": "#cleared"}``
  (every line older than it is dead).

The first three keys always come in this order, so a reader listing keys only
splits lines and cuts each key out of its prefix (C-speed bytes operations, no
JSON parsing); a line is parsed when its value is loaded. A line whose prefix
looks right but whose JSON is garbled is then dropped with a warning (it was
listed by ``keys()`` until then). Lines in another key order are parsed at once.

Order and conflicts: lines are ordered by ``(#t, index file name, line
number)``, the same total order for every reader whatever order it reads the
files in; for a key, the greatest entry wins unless a tombstone or clear
marker is greater. ``#t`` is strictly increasing within a writer.

Atomicity: a writer writes (and flushes to the OS) the data first, then
appends its index line with one ``write`` of the complete line. Readers only
consume complete lines (up to the last ``\\n``), silently leave a trailing
partial line for later, and skip a garbled complete line with a warning naming
the file and line number.

Incremental reads: a reader remembers, per index file, its size, mtime, inode
and the byte offset it consumed; a refresh lists the folder once and reads only
the new tail of files that changed. A file that shrank, vanished or was
replaced triggers a full reload.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import os
import re
import secrets
import shutil
import socket
import threading
import time
import typing as tp
import warnings
from pathlib import Path

import orjson

from . import legacy

INFO_SUFFIX = "-info.jsonl"
DATA_DIR = "data"
LAST_USE = ".exca-last-use"  # time of the last read, as exca 0.6.0 writes it
DELETED = "#deleted"
CLEARED = "#cleared"

SortKey = tuple[int, str, int]  # (#t, index file name, line number)

# exca 0.6.0 reads every *-info.jsonl file of a folder and skips lines starting with
# a space, and deletes an index file whose first line starts with a space when none
# of its keys is live: each line is written after a space, each file starts with an
# empty line. 0.6.0 then ignores this package's entries (instead of failing on them)
# and never deletes its files; this package reads both.
LINE_LEAD = b" "
FILE_HEADER = b"\n"


class CacheDictWarning(UserWarning):
    """Warning about a skipped (garbled) index line or an unreadable index file."""


# ---------------------------------------------------------------- naming
_PROCESS: dict[str, tp.Any] = {}
_ACTIVE_LOCK = threading.Lock()
_ACTIVE: dict[str, int] = {}  # writer names currently open in this process -> refcount
_LAST_T: dict[str, int] = {}  # writer name -> its last "#t" (one thread per name)


def _process_token(renew: bool = False) -> tuple[str, int, str]:
    """(sanitized host, pid, random token), regenerated after a fork (or on demand)."""
    pid = os.getpid()
    if _PROCESS.get("pid") != pid or renew:
        host = "".join(c if c.isalnum() else "_" for c in socket.gethostname())[:40] or "host"
        _PROCESS.update(pid=pid, host=host, token=secrets.token_hex(3))
    return _PROCESS["host"], pid, _PROCESS["token"]


def writer_name() -> str:
    """The name of the current process+thread writer: ``<host>-<pid>-<tid>-<token>``."""
    host, pid, token = _process_token()
    return f"{host}-{pid}-{threading.get_native_id()}-{token}"


def parse_writer_name(name: str) -> tuple[str, int] | None:
    """(host, pid) of a writer name, or None if it does not follow the pattern."""
    parts = name.rsplit("-", 3)
    if len(parts) != 4 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def process_exists(pid: int) -> bool:
    """True if a process ``pid`` exists on this host (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def writer_is_finished(name: str) -> bool:
    """True when no process can still append to this writer's files: it is a
    writer of this process that is not open, or of a dead process on this host."""
    parsed = parse_writer_name(name)
    if parsed is None:
        return False
    host, pid = parsed
    my_host, my_pid, _ = _process_token()
    if host != my_host:
        return False
    if pid == my_pid:
        with _ACTIVE_LOCK:
            return name not in _ACTIVE
    return not process_exists(pid)


def remove_writer_files(folder: Path, name: str) -> None:
    """Deletes the index file and the data folder of a (finished) writer.

    If the writer belonged to this process, later writers of this process get a
    new token: a removed writer name is never used again.
    """
    parsed = parse_writer_name(name)
    if parsed is not None and parsed[1] == os.getpid():
        _process_token(renew=True)
    shutil.rmtree(folder / DATA_DIR / name, ignore_errors=True)
    try:
        (folder / f"{name}{INFO_SUFFIX}").unlink()
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------- last use
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_USED: set[tuple[int, str]] = set()  # (pid, folder) whose use this process recorded


def record_use(folder: Path) -> None:
    """Records that a value of ``folder`` was read: ``.exca-last-use`` holds the time in
    ns as 20 digits and a newline (exca 0.6.0's format), rewritten in place (no
    truncation: a reader never sees it empty). At most once per folder and process;
    failures (read-only folder) are ignored: reading must never fail because of it. A
    link at that name (which this package never creates) is not followed nor written
    through: the stamp is then not recorded."""
    key = (os.getpid(), str(folder))
    if key in _USED:
        return
    _USED.add(key)
    try:
        fd = os.open(folder / LAST_USE, os.O_WRONLY | os.O_CREAT | _NOFOLLOW, 0o666)
        try:
            os.pwrite(fd, b"%020d\n" % time.time_ns(), 0)
        finally:
            os.close(fd)
    except OSError:
        pass


def read_last_use(folder: Path) -> int | None:
    """The time (ns) recorded by :func:`record_use` (or exca 0.6.0), or None."""
    try:
        fd = os.open(folder / LAST_USE, os.O_RDONLY | _NOFOLLOW)
    except OSError:  # absent, or a link (not ours: not followed)
        return None
    try:
        return int(os.read(fd, 20))
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


# ---------------------------------------------------------------- writing
def write_all(fd: int, chunks: tp.Sequence[bytes | memoryview]) -> int:
    """Writes the concatenated chunks (one ``writev`` in the common case, more if the
    system writes less, e.g. above 2 GB); returns the number of bytes."""
    views = [memoryview(c).cast("B") for c in chunks]
    total = sum(v.nbytes for v in views)
    done = 0
    while done < total:
        n = os.writev(fd, views)
        done += n
        while views and n >= views[0].nbytes:
            n -= views[0].nbytes
            views.pop(0)
        if n:
            views[0] = views[0][n:]
    return total


class IndexWriter:
    """Append-only writer of one index file and its data folder.

    One per (CacheDict, thread); several IndexWriter objects of the same
    process+thread share the same files (all appends go to the end of file).
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pid = os.getpid()
        self.name = writer_name()
        self.index_name = f"{self.name}{INFO_SUFFIX}"
        self.data_rel = f"{DATA_DIR}/{self.name}"
        self._index_fd: int | None = None
        self._data_fds: dict[str, int] = {}
        self._data_dir: str | None = None
        self._closed = False
        with _ACTIVE_LOCK:
            _ACTIVE[self.name] = _ACTIVE.get(self.name, 0) + 1

    def close(self) -> None:
        """Closes every open file (idempotent)."""
        if self._closed:
            return
        self._closed = True
        fds = list(self._data_fds.values())
        if self._index_fd is not None:
            fds.append(self._index_fd)
        self._data_fds.clear()
        self._index_fd = None
        for fd in fds:
            os.close(fd)
        last = False
        with _ACTIVE_LOCK:
            if self.name in _ACTIVE:
                _ACTIVE[self.name] -= 1
                if _ACTIVE[self.name] <= 0:
                    del _ACTIVE[self.name]
                    last = True
        # data written but no index line (e.g. every write failed): nothing can ever
        # refer to these files (the writer name is never reused): remove them
        orphan = last and self._data_dir is not None and os.getpid() == self.pid
        if orphan and not (self.folder / self.index_name).exists():
            shutil.rmtree(tp.cast(str, self._data_dir), ignore_errors=True)

    def next_t(self) -> int:
        """A timestamp (ns) for the next line, strictly increasing over all writers
        sharing these files (only this thread uses them): it also makes the names of
        the entries' own files unique."""
        t = max(time.time_ns(), _LAST_T.get(self.name, 0) + 1)
        _LAST_T[self.name] = t
        return t

    def data_dir(self) -> str:
        """This writer's data folder (created on first use), as a string."""
        if self._data_dir is None:
            path = self.folder / self.data_rel
            path.mkdir(parents=True, exist_ok=True)
            self._data_dir = str(path)
        return self._data_dir

    def append_data(self, filename: str, data: bytes | memoryview, align: int = 1) -> int:
        """Appends data to this writer's shared file ``filename`` and returns its offset."""
        fd = self._data_fds.get(filename)
        if fd is None:
            path = os.path.join(self.data_dir(), filename)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, 0o666)
            self._data_fds[filename] = fd
        end = os.lseek(fd, 0, os.SEEK_END)
        pad = -end % align
        write_all(fd, (b"\0" * pad, data) if pad else (data,))
        return end + pad

    def append_line(self, line: bytes) -> tuple[int, int, int]:
        """Appends one complete line (with its ``\\n``) in a single write, in the form
        exca 0.6.0 skips (see :data:`LINE_LEAD`); returns (offset where the write starts,
        bytes written, lines written: 2 when the file header came first)."""
        if self._index_fd is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / self.index_name
            self._index_fd = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, 0o666
            )
        start = os.lseek(self._index_fd, 0, os.SEEK_END)
        line = (FILE_HEADER + LINE_LEAD if start == 0 else LINE_LEAD) + line
        try:
            n = os.write(self._index_fd, line)
            if n != len(line):  # extremely unlikely for a small line: finish it
                write_all(self._index_fd, (memoryview(line)[n:],))
        except BaseException:
            # e.g. disk full mid-line: remove the partial line, or the next line of
            # this writer would be glued to it (only this writer appends to this file)
            try:
                os.ftruncate(self._index_fd, start)
            except OSError:
                pass
            raise
        return start, len(line), 2 if start == 0 else 1


# ---------------------------------------------------------------- reading
class GarbledLineError(ValueError):
    """An index line that is not the JSON entry its prefix announced."""


Entry = tuple[str, int, bytes]
"""A live key: (index file name, line number, the line without its newline).

Lines are stored in the standard key order (``#key``, ``#t``, ``#type``, params)
and parsed only when needed (:func:`entry_info`)."""

_OWN_LINE = 1 << 62  # line number of entries written by this object (not re-read yet)
# An entry's line is kept as read: this package's lines start with '{"#key":' (or
# ' {"#key":'), exca 0.6.0's lines (see exca.cachedict.legacy) with anything else.
# lines written by CacheDict start with "#key", "#t", "#type" (in this order). Inside a
# JSON string every '"' is escaped, so the first '","#t":' ends the key.
_PREFIX = b'{"#key":"'
_KEY_END = b'","#t":'
_TYPE_START = b',"#type":"'
_FAST_KEY = re.compile(rb' ?\{"#key":"((?:[^"\\]|\\.)*)","#t":\d+,"#type":"')
_SPECIAL = b'"#type":"#'  # tombstones and clear markers


def entry_info(entry: Entry) -> dict[str, tp.Any]:
    """The parsed line: ``"#key"``, ``"#t"``, ``"#type"`` and the format's params."""
    try:
        info = orjson.loads(entry[2])
    except orjson.JSONDecodeError as e:
        raise GarbledLineError(f"invalid JSON ({e})") from e
    if not isinstance(info, dict) or not isinstance(info.get("#type"), str):
        raise GarbledLineError("not an entry")
    if legacy.is_legacy_line(entry[2]):
        return legacy.legacy_info(info)
    return info


def entry_t(entry: Entry) -> int:
    """The ``#t`` of an entry (read from its standard line prefix)."""
    line = entry[2]
    if legacy.is_legacy_line(line):
        return 0  # exca 0.6.0's lines have no write time: before every line of ours
    start = line.index(b'","#t":') + 7
    return int(line[start : line.index(b",", start)])


def entry_sort(entry: Entry) -> SortKey:
    """The position of an entry in the global order of lines."""
    return (entry_t(entry), entry[0], entry[1])


def entry_location(entry: Entry) -> str:
    """``<index file>:<line>`` for error messages."""
    return f"{entry[0]}:{'?' if entry[1] >= _OWN_LINE else entry[1]}"


def standard_line(item: dict[str, tp.Any]) -> bytes:
    """The line of an entry, in the standard key order (no newline)."""
    return orjson.dumps({"#key": item["#key"], "#t": item["#t"], "#type": item["#type"], **item})


def _decode_key(raw: bytes) -> str:
    if b"\\" in raw:
        return tp.cast(str, orjson.loads(b'"' + raw + b'"'))
    return raw.decode("utf8")


@dataclasses.dataclass
class _FileState:
    size: int = -1
    mtime: int = -1
    consumed: int = 0  # bytes fully parsed (ends right after a newline)
    lines: int = 0  # complete lines consumed
    inode: tuple[int, int] | None = None  # (device, inode): a replaced file is re-read
    legacy: bool = False  # holds exca 0.6.0 lines (0.6.0 deletes by blanking lines in place)


class IndexView:
    """The merged, incrementally refreshed view of all index files of a folder.

    Listing keys only splits lines and reads each key (one regex pass per file
    tail); a line is fully parsed when its value is loaded: a garbled line whose
    prefix looked fine is dropped then, with a warning.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.entries: dict[str, Entry] = {}
        self._dead: dict[str, SortKey] = {}
        self._cleared: SortKey | None = None
        self._files: dict[str, _FileState] = {}
        self._warned: set[tuple[str, int]] = set()
        self.generation = 0  # incremented by every reset

    def reset(self) -> None:
        """Forgets everything (the next refresh reads all files again)."""
        self.entries.clear()
        self._dead.clear()
        self._cleared = None
        self._files.clear()
        self.generation += 1

    # -- refresh
    def refresh(self) -> bool:
        """Reads what changed on disk; returns True if any line was consumed."""
        try:
            scan = os.scandir(self.folder)
        except FileNotFoundError:
            if self._files:
                self.reset()
                return True
            return False
        seen: dict[str, os.stat_result] = {}
        with scan:
            for item in scan:
                if item.name.endswith(INFO_SUFFIX):
                    try:
                        seen[item.name] = item.stat()
                    except FileNotFoundError:
                        continue
        changed = False
        if any(name not in seen for name in self._files):
            self.reset()  # a file vanished (cleared by another process): start over
            changed = True
        for name in sorted(seen):
            st = seen[name]
            state = self._files.get(name)
            if state is None:
                state = self._files[name] = _FileState()
            inode = (st.st_dev, st.st_ino)
            if (state.inode is not None and state.inode != inode) or st.st_size < state.consumed:
                self.reset()  # the file was replaced (removed by clear(), then recreated)
                return self.refresh() or True
            state.inode = inode
            if st.st_size == state.size and st.st_mtime_ns == state.mtime:
                continue
            if state.legacy and st.st_size == state.size:
                # changed in place: 0.6.0 blanks the lines of deleted keys (a file that
                # grew is read from where it was; a key blanked meanwhile is noticed
                # when loading it fails, see CacheDict.__getitem__)
                self.reset()
                return self.refresh() or True
            state.size, state.mtime = st.st_size, st.st_mtime_ns
            if st.st_size > state.consumed:
                changed |= self._read_tail(name, state)
        return changed

    def _read_tail(self, name: str, state: _FileState) -> bool:
        path = self.folder / name
        try:
            with path.open("rb") as f:
                f.seek(state.consumed)
                data = f.read()
        except FileNotFoundError:
            return False
        end = data.rfind(b"\n")
        if end < 0:
            return False  # only a partial line so far
        first = state.lines + 1
        state.consumed += end + 1
        state.lines += data.count(b"\n", 0, end + 1)
        skip = 0
        while data.startswith(FILE_HEADER, skip) and skip < end:  # empty lines: the header
            skip += 1
            first += 1
        if skip == end:
            return True
        chunk = data[skip:end]
        lines = chunk.split(b"\n")
        if not self._read_fast(name, first, chunk, lines):
            for k, line in enumerate(lines):
                self._read_line(name, first + k, line, state)
        return True

    def _read_fast(self, name: str, first: int, chunk: bytes, lines: list[bytes]) -> bool:
        """All lines at once, in the common case: standard lines with new distinct keys
        (not deleted before; no tombstone, no clear marker). Returns False if not
        applicable (then lines are merged one by one)."""
        if self._cleared is not None or _SPECIAL in chunk:
            return False
        n = len(lines)
        # C-level checks and extraction (no Python code per line): every line starts
        # with the standard prefix (after one space in the lines written since 0.6.0
        # compatibility, none in older ones) and ends with "}", then the key is up to
        # '","#t":'; the n - 1 newlines are each preceded by "}" and followed by the prefix
        prefix = LINE_LEAD + _PREFIX if chunk.startswith(LINE_LEAD) else _PREFIX
        if not (chunk.startswith(prefix) and chunk.endswith(b"}")):
            return False
        if chunk.count(b"}\n" + prefix) != n - 1:
            return False
        repeat = itertools.repeat
        ends = list(map(bytes.find, lines, repeat(_KEY_END), repeat(len(prefix))))
        if -1 in ends:
            return False
        raw_keys = list(map(bytes.__getitem__, lines, map(slice, repeat(len(prefix)), ends)))
        # then '#t' must be digits followed by ',"#type":"' (else: parsed line by line)
        t_starts = list(map(operator.add, ends, repeat(len(_KEY_END))))
        t_ends = list(map(bytes.find, lines, repeat(_TYPE_START), t_starts))
        if -1 in t_ends:
            return False
        t_slices = list(map(bytes.__getitem__, lines, map(slice, t_starts, t_ends)))
        if not all(t_slices) or not b"".join(t_slices).isdigit():  # (none empty, all digits)
            return False
        try:
            if b"\\" in chunk:
                keys = [_decode_key(k) for k in raw_keys]
            else:
                keys = list(map(bytes.decode, raw_keys))
        except ValueError:
            return False
        new = dict(zip(keys, zip(itertools.repeat(name), itertools.count(first), lines)))
        if len(new) != n or not self.entries.keys().isdisjoint(new):
            return False  # duplicates: resolve line by line
        if self._dead and not self._dead.keys().isdisjoint(new):
            return False  # keys deleted before: compare with their tombstones
        self.entries.update(new)
        return True

    def _read_line(self, name: str, lineno: int, line: bytes, state: _FileState) -> None:
        if not line.strip() or (line.startswith(b" ") and line[1:2] != b"{"):
            return  # empty, or deleted by exca 0.6.0 (blanked, starting with a space)
        match = _FAST_KEY.match(line)
        if match is not None and line.endswith(b"}") and _SPECIAL not in line:
            try:
                key = _decode_key(match.group(1))
            except ValueError:
                self._warn(name, lineno, "invalid key")
                return
            self.apply_entry(key, (name, lineno, line))
            return
        if legacy.is_legacy_line(line):
            old_key = legacy.legacy_key(line)  # exca 0.6.0's layout: "#key" last, no "#t"
            if old_key is not None:
                state.legacy = True
                self.apply_entry(old_key, (name, lineno, line))
                return
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            self._warn(name, lineno, f"invalid JSON ({e})")
            return
        if isinstance(item, dict) and legacy.is_legacy_item(item):
            state.legacy = True
            params = {k: v for k, v in item.items() if k != "#key"}  # "#key" last, as 0.6.0
            line = orjson.dumps({**params, "#key": item["#key"]})
            self.apply_entry(item["#key"], (name, lineno, line))
            return
        self._apply(name, lineno, item)

    def _warn(self, name: str, line: int, reason: str) -> None:
        if (name, line) in self._warned:
            return
        self._warned.add((name, line))
        warnings.warn(
            f"Skipping garbled line {line} of CacheDict index {self.folder / name}: {reason}",
            CacheDictWarning,
            stacklevel=4,
        )

    def _apply(self, name: str, line: int, item: tp.Any) -> None:
        """A fully parsed line (tombstone, clear marker, or entry in another key order)."""
        if not isinstance(item, dict):
            self._warn(name, line, "not a JSON object")
            return
        key = item.get("#key")
        typ = item.get("#type")
        t = item.get("#t")
        if not isinstance(typ, str) or type(t) is not int:
            self._warn(name, line, "missing '#type' or '#t'")
            return
        sort: SortKey = (t, name, line)
        if typ == CLEARED:
            self.apply_clear(sort)
            return
        if not isinstance(key, str):
            self._warn(name, line, "missing '#key'")
            return
        if typ == DELETED:
            self.apply_delete(key, sort)
        else:
            self.apply_entry(key, (name, line, standard_line(item)))

    def drop_garbled(self, key: str, entry: Entry, error: Exception) -> None:
        """Forgets an entry whose line turned out garbled when parsed (with a warning)."""
        if self.entries.get(key) is entry:
            del self.entries[key]
        self._warn(entry[0], entry[1], str(error))

    # -- merging (also used for this process's own writes)
    def apply_entry(self, key: str, entry: Entry, sort: SortKey | None = None) -> bool:
        """Records an entry line (``sort``: its :func:`entry_sort`, when known); returns
        True if it is now the live value of key."""
        if self._cleared is None and key not in self.entries and key not in self._dead:
            self.entries[key] = entry  # a new key (the common case)
            return True
        if sort is None:
            sort = entry_sort(entry)
        if self._cleared is not None and sort < self._cleared:
            return False
        dead = self._dead.get(key)
        if dead is not None and sort < dead:
            return False
        current = self.entries.get(key)
        if current is not None:
            current_sort = entry_sort(current)
            if sort < current_sort or current_sort[:2] == sort[:2]:
                return False  # older, or the same line read again (own write, re-read)
        self.entries[key] = entry
        return True

    def apply_delete(self, key: str, sort: SortKey) -> None:
        """Records a tombstone line."""
        if self._cleared is not None and sort < self._cleared:
            return
        dead = self._dead.get(key)
        if dead is None or dead < sort:
            self._dead[key] = sort
        current = self.entries.get(key)
        if current is not None and entry_sort(current) < sort:
            del self.entries[key]

    def apply_clear(self, sort: SortKey) -> None:
        """Records a clear marker."""
        if self._cleared is not None and sort < self._cleared:
            return
        self._cleared = sort
        self.entries = {k: e for k, e in self.entries.items() if entry_sort(e) > sort}
        self._dead = {k: s for k, s in self._dead.items() if s > sort}

    def mark_consumed(
        self, name: str, start: int, length: int, mtime: int | None = None, lines: int = 1
    ) -> int:
        """Called after this process appended ``length`` bytes at ``start`` of index
        ``name``: if nothing else was appended in between, advance the consumed offset
        (no need to re-read our own line). Returns the line number, or a large
        placeholder if unknown."""
        state = self._files.get(name)
        if state is None:  # track the file (to notice if it vanishes), read it later
            state = self._files[name] = _FileState(size=0 if start == 0 else -1)
        if state.consumed != start or state.size != start:
            return _OWN_LINE
        state.consumed = state.size = start + length
        state.lines += lines
        return state.lines

    @property
    def file_names(self) -> list[str]:
        """Index file names known to this view."""
        return list(self._files)

    @property
    def legacy_file_names(self) -> list[str]:
        """Index files holding lines written by exca 0.6.0."""
        return [name for name, state in self._files.items() if state.legacy]


# the key of a standard line, after the newline ending the previous one (a literal
# start: the regular expression engine searches it like a substring)
_COUNT_LINE = {
    prefix: re.compile(re.escape(b"\n" + prefix) + rb'([^"\\]*+)","#t":\d++,"#type":"')
    for prefix in (LINE_LEAD + _PREFIX, _PREFIX)
}


def count_keys(folder: Path) -> tuple[int, str | None]:
    """(number of live keys, the key if there is exactly one) of the index files of
    ``folder``, as :class:`IndexView` would list them (see :func:`summarize_keys`)."""
    n, key, _ = summarize_keys(folder)
    return n, key


def summarize_keys(folder: Path) -> tuple[int, str | None, Entry | None]:
    """(number of live keys, the key and its entry if there is exactly one) of the index
    files of ``folder``, as :class:`IndexView` would list them, without building an
    object per entry in the common case: standard lines with distinct keys across all
    files, no tombstone nor clear marker (one regular-expression pass per file gives the
    keys; anything else is merged by :class:`IndexView`). The entry's line is not
    parsed."""
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(INFO_SUFFIX))
    except FileNotFoundError:
        return 0, None, None
    keys: set[bytes] = set()
    total = 0
    single: Entry | None = None
    for name in names:
        try:
            with (folder / name).open("rb") as f:
                data = f.read()
        except FileNotFoundError:
            break  # removed meanwhile: let IndexView sort it out
        end = data.rfind(b"\n")  # (a partial last line is not counted yet)
        start = 0
        while start < end and data.startswith(FILE_HEADER, start):  # the file header
            start += 1
        if end <= start:
            continue  # no complete line
        chunk = data[start:end]
        if _SPECIAL in chunk or not chunk.endswith(b"}"):
            break
        # every line starts with the prefix and ends with "}" (as IndexView._read_fast)
        prefix = LINE_LEAD + _PREFIX if chunk.startswith(LINE_LEAD) else _PREFIX
        n = chunk.count(b"\n") + 1
        if not chunk.startswith(prefix) or chunk.count(b"}\n" + prefix) != n - 1:
            break  # a line of another form (0.6.0's, blanked, garbled...)
        found = _COUNT_LINE[prefix].findall(b"\n" + chunk)
        if len(found) != n:
            break  # an escaped key, a garbled "#t"...
        if not chunk.isascii():
            try:
                [k.decode("utf8") for k in found]
            except UnicodeDecodeError:
                break  # a garbled key (IndexView skips its line with a warning)
        keys.update(found)
        total += n
        if n == 1:
            single = (name, data.count(b"\n", 0, start) + 1, chunk)
        if len(keys) != total:
            break  # a key written twice: the newest line wins (IndexView)
    else:
        if total == 1:
            return 1, next(iter(keys)).decode("utf8"), single
        return total, None, None
    view = IndexView(folder)
    view.refresh()
    if len(view.entries) == 1:
        key, entry = next(iter(view.entries.items()))
        return 1, key, entry
    return len(view.entries), None, None
