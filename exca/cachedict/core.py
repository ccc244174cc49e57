"""CacheDict: a dict-like store of values in a folder, safe for many concurrent
writer processes.

On disk (details in :mod:`exca.cachedict.index`)::

    <folder>/<host>-<pid>-<tid>-<token>-info.jsonl   one append-only index per writer
    <folder>/data/<host>-<pid>-<tid>-<token>/        that writer's data files:
        arrays.data                                  MemmapArray arrays, appended
        values.json / texts.txt                      large Json/Auto/String values
        <key>-<t>.npy|.pkl|...                       one-file-per-key formats

- Writing a key writes its data (only ever into the writer's own files, under
  new names), then appends one complete JSON line to the writer's index. A
  killed writer leaves at most a partial last line, which readers ignore.
- Reading merges all indexes; for a key the latest line wins (ordered by write
  time, then index file name and line: the same choice for every reader).
- Deleting appends a tombstone line and removes the entry's own files;
  ``clear()`` appends a clear marker, removes entry files, and deletes the
  files of writers that are known finished. Nobody rewrites another
  process's index or shared data file.
- A reader re-reads only what changed: one directory listing, then the new
  tail of index files whose size or mtime changed; known keys need no I/O.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import typing as tp
import warnings
from pathlib import Path

import orjson

from . import handlers as _handlers  # noqa: F401  (registers the built-in formats)
from . import legacy
from .index import (
    CLEARED,
    DATA_DIR,
    DELETED,
    INFO_SUFFIX,
    LAST_USE,
    Entry,
    GarbledLineError,
    IndexView,
    IndexWriter,
    entry_info,
    entry_location,
    record_use,
    remove_writer_files,
    writer_is_finished,
)
from .registry import (
    DumpContext,
    LoadContext,
    MmapCache,
    dump_with,
    get_handler,
    resolve_for_top_level,
)

logger = logging.getLogger(__name__)

X = tp.TypeVar("X")


class CacheDict(tp.Generic[X]):
    """Dictionary-like object storing values in a folder (and/or in RAM).

    Parameters
    ----------
    folder: folder holding the cache; ``None`` for a RAM-only dict.
    keep_in_ram: also keep values in RAM once written or loaded (faster repeated
        access); always on when ``folder`` is None.
    cache_type: name of the storage format for every value (e.g. ``"MemmapArray"``,
        ``"NumpyArray"``, ``"Pickle"``, ``"Json"``, ``"String"``, ``"Auto"``,
        ``"PandasDataFrame"``, ``"ParquetPandasDataFrame"``, ``"TorchTensor"``,
        or any format added with :func:`exca.cachedict.register`). ``None``
        chooses by value type. Reading always uses the format recorded per key.

    Usage
    -----
    .. code-block:: python

        cache = CacheDict(folder)
        with cache.writer() as writer:
            writer["key"] = np.array([0, 1])
        assert "key" in cache
        cache["key"]  # a read-only memory-mapped array

    Contract (what infras rely on)
    ------------------------------
    - membership: ``key in cache``; for an unknown key it re-reads what changed in
      the folder (keys written by other processes appear), for a known key it does
      no I/O (a deletion by another process shows at the next ``keys()``/``len``).
      Many lookups of missing keys: wrap them in :meth:`frozen_cache_folder`.
    - batch write: ``with cache.writer() as w: for k, v in ...: w[k] = v``. Each
      assignment is complete on disk and visible to every process when it
      returns (nothing is buffered), so a job killed mid-batch keeps the items it
      finished. Writes and deletions need a ``writer()`` (or ``write()``) context;
      a key cannot be overwritten (``del`` it first, in a writer context).
    - read: ``cache[key]`` (``KeyError`` if absent), ``keys()``, ``items()``,
      ``values()``, ``len(cache)``.
    - pickling a CacheDict gives a fresh view of the same folder with an empty RAM
      cache (safe to send to a job).
    """

    def __init__(
        self,
        folder: Path | str | None = None,
        keep_in_ram: bool = False,
        cache_type: str | None = None,
    ) -> None:
        self.folder = None if folder is None else Path(folder)
        self.keep_in_ram = keep_in_ram
        self.cache_type = cache_type
        # the format of every value (checked now: an unknown name fails early)
        self._handler = None if cache_type is None else get_handler(cache_type)
        self._ram: dict[str, X] = {}
        self._ram_stamp: dict[str, Entry] = {}  # the entry each RAM value comes from
        self._view = IndexView(self.folder) if self.folder is not None else None
        self._maps = MmapCache()
        self._lock = threading.RLock()
        self._local = threading.local()
        self._frozen = 0

    # -- pickling: a fresh view of the same folder
    def __getstate__(self) -> dict[str, tp.Any]:
        return {
            "folder": self.folder,
            "keep_in_ram": self.keep_in_ram,
            "cache_type": self.cache_type,
        }

    def __setstate__(self, state: dict[str, tp.Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(folder={str(self.folder) if self.folder else None!r}, "
            f"keep_in_ram={self.keep_in_ram}, cache_type={self.cache_type!r})"
        )

    @property
    def _use_ram(self) -> bool:
        return self.keep_in_ram or self.folder is None

    # -- reading the folder
    def _refresh(self, force: bool = False) -> None:
        view = self._view
        if view is None:
            return
        if self._frozen and not force:
            return
        with self._lock:
            generation = view.generation
            changed = view.refresh()
            if view.generation != generation:
                self._maps.clear()  # data files may have been removed and recreated
            if changed and self._ram_stamp:
                entries = view.entries
                for key, stamp in list(self._ram_stamp.items()):
                    if entries.get(key) is not stamp:
                        self._ram.pop(key, None)
                        del self._ram_stamp[key]

    @contextlib.contextmanager
    def frozen_cache_folder(self) -> tp.Iterator[None]:
        """Within this context the folder is read once and considered frozen: lookups
        of missing keys do not re-read the indexes (faster for many misses)."""
        self._refresh()
        self._frozen += 1
        try:
            yield
        finally:
            self._frozen -= 1

    def keys(self) -> tp.Iterator[str]:
        """The keys (re-reads what changed in the folder first)."""
        if self._view is None:
            return iter(list(self._ram))
        self._refresh()
        return iter(list(self._view.entries))

    def __iter__(self) -> tp.Iterator[str]:
        return self.keys()

    def __len__(self) -> int:
        if self._view is None:
            return len(self._ram)
        self._refresh()
        return len(self._view.entries)

    def values(self) -> tp.Iterator[X]:
        """The values (loaded one by one)."""
        for _, value in self.items():
            yield value

    def items(self) -> tp.Iterator[tuple[str, X]]:
        """(key, value) pairs (values loaded one by one; keys deleted meanwhile are skipped)."""
        for key in self.keys():
            try:
                value = self[key]
            except KeyError:
                continue
            yield key, value

    def __contains__(self, key: object) -> bool:
        if self._view is None:
            return key in self._ram
        if key in self._view.entries:
            return True
        self._refresh()
        return key in self._view.entries

    def __getitem__(self, key: str) -> X:
        if self._use_ram:
            try:
                return self._ram[key]
            except KeyError:
                if self._view is None:
                    raise
        view = self._view
        assert view is not None
        entry = view.entries.get(key)
        if entry is None:
            self._refresh()
            entry = view.entries.get(key)
            if entry is None:
                raise KeyError(key)
        try:
            value = self._load(key, entry)
        except GarbledLineError as error:
            with self._lock:
                view.drop_garbled(key, entry, error)
            raise KeyError(key) from error
        except Exception as error:
            # deleted, cleared or rewritten meanwhile by another process?
            if legacy.is_legacy_line(entry[2]):
                with self._lock:  # exca 0.6.0 deletes by blanking lines in place
                    view.reset()
            self._refresh(force=True)
            new = view.entries.get(key)
            if new is None:
                raise KeyError(key) from error
            if new is entry:
                try:
                    fmt = repr(entry_info(entry)["#type"])
                except GarbledLineError:
                    fmt = "?"
                raise RuntimeError(
                    f"Failed to load key {key!r} of cache {self.folder} (format {fmt}, index "
                    f"line {entry_location(entry)}): {error!r}"
                ) from error
            entry = new
            value = self._load(key, entry)
        if self.keep_in_ram:
            with self._lock:
                self._ram[key] = value
                self._ram_stamp[key] = entry
        return value

    def _load(self, key: str, entry: Entry) -> X:
        assert self.folder is not None
        ctx = LoadContext(self.folder, key, self._maps)
        info = entry_info(entry)
        value = get_handler(info["#type"]).load(ctx, info)
        record_use(self.folder)
        return tp.cast(X, value)

    # -- writing
    @contextlib.contextmanager
    def write(self) -> tp.Iterator[CacheDict[X]]:
        """Context manager allowing writes/deletions through ``cache[key] = value``
        (yields the CacheDict itself). Each thread gets its own writer files."""
        local = self._local
        local.depth = getattr(local, "depth", 0) + 1
        try:
            yield self
        finally:
            local.depth -= 1
            if local.depth == 0:
                writer = getattr(local, "writer", None)
                local.writer = None
                if writer is not None:
                    writer.close()

    def writer(self) -> contextlib.AbstractContextManager[CacheDict[X]]:
        """Same as :meth:`write`: ``with cache.writer() as w: w[key] = value``."""
        return self.write()

    def _check_writing(self, action: str) -> None:
        if not getattr(self._local, "depth", 0):
            raise RuntimeError(
                f"Cannot {action} outside of a write() context: use "
                "`with cache.writer() as w: w[key] = value`"
            )

    def _get_writer(self) -> IndexWriter:
        writer: IndexWriter | None = getattr(self._local, "writer", None)
        if writer is None or writer.pid != os.getpid():  # forked in a write context: new files
            assert self.folder is not None
            writer = IndexWriter(self.folder)
            self._local.writer = writer
        return writer

    def __setitem__(self, key: str, value: X) -> None:
        self._check_writing("write")
        if not isinstance(key, str):
            raise TypeError(f"CacheDict keys must be str, got {type(key).__name__} {key!r}")
        known: tp.Container[str] = self._ram if self._view is None else self._view.entries
        if key in known:  # no I/O for a new key
            self._refresh(force=True)  # maybe deleted by another process meanwhile
            known = self._ram if self._view is None else self._view.entries
            if key in known:
                where = self.folder if self.folder is not None else "RAM"
                raise ValueError(
                    f"Key {key!r} is already in cache {where}: overwriting is not supported "
                    "(delete it first with `del cache[key]` in a write context)"
                )
        if self._view is None:
            self._ram[key] = value
            return
        writer = self._get_writer()
        t = writer.next_t()
        ctx = DumpContext(writer, key, t)
        handler = self._handler or resolve_for_top_level(value, None)
        try:
            info = dump_with(ctx, handler, value)
            try:  # "#key", "#t", "#type" first: readers find them without parsing the line
                line = orjson.dumps(
                    {"#key": key, "#t": t, "#type": info["#type"], **info},
                    option=orjson.OPT_APPEND_NEWLINE,
                )
            except TypeError as e:
                raise ValueError(
                    f"Cannot write the index line of key {key!r} (format {info.get('#type')!r}): {e}"
                ) from e
        except BaseException:
            for path in ctx.created:  # no index line refers to them
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            raise
        start, length, nlines = writer.append_line(line)
        with self._lock:
            lineno = self._view.mark_consumed(writer.index_name, start, length, lines=nlines)
            entry = (writer.index_name, lineno, line[:-1])
            self._view.apply_entry(key, entry, (t, writer.index_name, lineno))
            if self.keep_in_ram:
                self._ram[key] = value
                self._ram_stamp[key] = entry

    def __delitem__(self, key: str) -> None:
        self._check_writing("delete")
        if self._view is None:
            del self._ram[key]
            return
        entry = self._view.entries.get(key)
        if entry is None:
            self._refresh(force=True)
            entry = self._view.entries.get(key)
            if entry is None:
                raise KeyError(key)
        writer = self._get_writer()
        t = writer.next_t()
        line = orjson.dumps(
            {"#key": key, "#t": t, "#type": DELETED}, option=orjson.OPT_APPEND_NEWLINE
        )
        start, length, nlines = writer.append_line(line)
        with self._lock:
            lineno = self._view.mark_consumed(writer.index_name, start, length, lines=nlines)
            self._view.apply_delete(key, (t, writer.index_name, lineno))
            self._ram.pop(key, None)
            self._ram_stamp.pop(key, None)
        self._delete_files(key, entry)

    def _delete_files(self, key: str, entry: Entry) -> None:
        assert self.folder is not None
        ctx = LoadContext(self.folder, key, self._maps)
        try:
            ctx.delete(entry_info(entry))
        except GarbledLineError as e:  # its files are unknown: nothing to delete
            assert self._view is not None
            with self._lock:
                self._view.drop_garbled(key, entry, e)
        except Exception as e:  # the key is deleted anyway; only disk space is at stake
            warnings.warn(
                f"Could not delete the files of key {key!r} in {self.folder}: {e!r}", stacklevel=3
            )

    def clear(self) -> None:
        """Removes every key (for all processes using the folder).

        Appends a clear marker (older lines are dead for every reader), deletes
        the entries' own files, then deletes the index and data files of writers
        that are finished (this process's closed writers, dead processes on this
        host). Files of writers that may still be running are left in place.
        """
        with self._lock:
            self._ram.clear()
            self._ram_stamp.clear()
        view = self._view
        if view is None or self.folder is None:
            return
        if not self.folder.exists():
            return
        self._refresh(force=True)
        entries = dict(view.entries)
        legacy_files = legacy.legacy_files(self.folder, view.legacy_file_names)
        with self.write():
            writer = self._get_writer()
            t = writer.next_t()
            line = orjson.dumps(
                {"#key": None, "#t": t, "#type": CLEARED}, option=orjson.OPT_APPEND_NEWLINE
            )
            start, length, nlines = writer.append_line(line)
            own = writer.index_name
            with self._lock:
                lineno = view.mark_consumed(own, start, length, lines=nlines)
                view.apply_clear((t, own, lineno))
        for key, entry in entries.items():
            self._delete_files(key, entry)
        self._maps.clear()
        for path in legacy_files:  # asked for: exca 0.6.0's files go too (logged)
            logger.warning("clear(): removing %s (written by exca 0.6.0)", path)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        # garbage-collect the files of finished writers
        names = [p.name[: -len(INFO_SUFFIX)] for p in self.folder.glob(f"*{INFO_SUFFIX}")]
        finished = {n for n in names if writer_is_finished(n)}
        own_name = own[: -len(INFO_SUFFIX)]
        keep_own = any(n not in finished for n in names)
        for name in finished:
            if name == own_name and keep_own:
                continue
            remove_writer_files(self.folder, name)
        with contextlib.suppress(OSError):
            (self.folder / DATA_DIR).rmdir()  # only if empty
        if not any(self.folder.glob(f"*{INFO_SUFFIX}")):
            # nothing left to be used: the folder is left empty, as exca 0.6.0 leaves it
            last_use = self.folder / LAST_USE
            if not last_use.is_symlink():  # (a link: not ours)
                last_use.unlink(missing_ok=True)
        with self._lock:
            view.reset()
