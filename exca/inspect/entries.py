"""What a cache folder holds: one :class:`Entry` per uid folder (:func:`ls`,
:func:`entry`), everything about one of them (:func:`show`).

Every file of an entry is read through :class:`exca.uidfolder.UidFolder`; only index
files, config dumps, failure and job records are read, never the cached values. An entry
whose files cannot be read is listed as ``damaged`` (with the problem, naming the file)
and the listing goes on.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time
import typing as tp
from pathlib import Path

from .. import claims, sweeps
from ..cachedict.index import INFO_SUFFIX, summarize_keys
from ..uidfolder import CONFIG, JOB, LOCK, RESULT, UID, DamagedEntryError, UidFolder

__all__ = [
    "Entry",
    "State",
    "by_method",
    "entry",
    "job_state",
    "ls",
    "parse_age",
    "parse_size",
    "show",
]

State = tp.Literal["completed", "failed", "running", "pending", "empty", "items", "damaged"]


@dataclasses.dataclass
class Entry:
    """One uid folder (or a bare CacheDict folder) of a cache."""

    path: Path
    method: str  # the method folder's name before ",<version>" ("" for a bare CacheDict)
    version: str
    uid: str  # the uid folder's name
    kind: tp.Literal["task", "map"]  # one "result" key (TaskInfra, launcher) or items
    state: State
    items: int  # number of keys in its CacheDict
    size: int  # bytes on disk (allocated blocks; links not followed)
    last_use: float | None  # time (s) of the last read or write
    job_id: str | None = None
    slurm_state: str | None = None
    problem: str | None = None  # what is damaged (state "damaged"), naming the file

    def to_dict(self) -> dict[str, tp.Any]:
        out = dataclasses.asdict(self)
        out["path"] = str(self.path)
        return out


# # # # # parsing helpers # # # # #

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_AGES = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_size(text: str | int) -> int:
    """``"1G"`` -> bytes (binary units: k, M, G, T, optional ``B``/``iB``)."""
    if isinstance(text, int):
        return text
    match = re.fullmatch(r"\s*([0-9.]+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if match is None:
        raise ValueError(f"invalid size {text!r}: expected eg 500M, 1G, 2.5T or a byte count")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def parse_age(text: str | float) -> float:
    """``"30d"`` -> seconds (units s, m, h, d, w)."""
    if isinstance(text, int | float):
        return float(text)
    match = re.fullmatch(r"\s*([0-9.]+)\s*([smhdw])\s*", text.lower())
    if match is None:
        raise ValueError(f"invalid age {text!r}: expected eg 90s, 45m, 12h, 30d, 2w")
    return float(match.group(1)) * _AGES[match.group(2)]


# # # # # ls # # # # #


def _is_entry(path: Path) -> bool:
    """A uid folder or a CacheDict folder (has configs, a job record or an index)."""
    return UidFolder(path).is_entry()


def _subdirs(path: Path) -> list[Path]:
    out = []
    try:
        with os.scandir(path) as it:
            for item in it:
                # links are never followed; hidden names are ours (being removed) or foreign
                if item.is_dir(follow_symlinks=False) and not item.name.startswith("."):
                    out.append(Path(item.path))
    except (NotADirectoryError, FileNotFoundError, PermissionError):
        pass
    return sorted(out)


def _entry_paths(folder: Path) -> list[Path]:
    """The uid folders below ``folder``: itself, its children (a method folder), or its
    grandchildren (a cache folder holding method folders)."""
    if _is_entry(folder):
        return [folder]
    out = []
    for child in _subdirs(folder):
        if _is_entry(child):
            out.append(child)
        else:
            out.extend(sub for sub in _subdirs(child) if _is_entry(sub))
    return out


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_NOFOLLOW", 0)


def _walk_size(path: Path) -> tuple[int, float]:
    """(allocated bytes, newest mtime) of a folder tree, never following links.

    Each folder is opened once and its files are stat-ed relative to it (``fstatat``:
    no walk of the whole path per file, about a quarter faster on 100,000 files)."""
    blocks, newest = 0, 0.0
    stack = [os.fspath(path)]
    flags = _DIR_FLAGS & ~getattr(os, "O_NOFOLLOW", 0)  # (``path`` itself may be a link)
    while stack:
        top = stack.pop()
        try:
            fd = os.open(top, flags)
        except OSError:  # vanished, not a folder (a link below path), no permission
            continue
        flags = _DIR_FLAGS
        try:
            with os.scandir(fd) as it:
                for item in it:
                    try:
                        st = item.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    blocks += st.st_blocks
                    if item.is_dir(follow_symlinks=False):
                        stack.append(top + os.sep + item.name)
                    elif st.st_mtime > newest and item.name != LOCK:
                        newest = st.st_mtime
        finally:
            os.close(fd)
    return blocks * 512, newest


def job_state(path: Path) -> tuple[str | None, str | None, bool | None]:
    """(job id, Slurm state, finished) of the job recorded in the uid folder ``path``
    (imports submitit); (None, None, None) without a (readable) job record."""
    folder = UidFolder(path)
    if not folder.has_job():
        return None, None, None
    job = folder.load_job()
    if job is None:
        return None, None, None
    from ..backends import slurm_state, squeue_states

    job_id = str(job.job_id)
    if getattr(job, "paths", None) is None:  # an in-process failure (ours or 0.6.0's): ended
        return job_id, None, True
    try:
        where = slurm_state(job)
    except Exception:
        where = "unknown"
    if where is None:  # a local (submitit) job: its id is the pid of its controller
        if Path(job.paths.result_pickle).exists():
            return job_id, None, True
        # (job.done() is True for a job of another process: it only knows its own ones)
        # (after a reboot the pid may be another program's: then clean skips the entry)
        return job_id, None, not (job_id.isdigit() and claims.pid_alive(int(job_id)))
    if where == "active":
        try:
            state = str(job.state)
        except Exception:
            state = "UNKNOWN"
        if state == "UNKNOWN":  # not in the accounting yet: ask the queue
            state = next(iter(squeue_states(job_id) or []), "ACTIVE")
        return job_id, state, False
    try:
        state = str(job.state) if where == "ended" else "UNKNOWN"
    except Exception:
        state = "UNKNOWN"
    return job_id, state, True


def entry(path: str | Path, jobs: bool = True) -> Entry:
    """The :class:`Entry` of one uid folder (``jobs=False``: do not ask the state of a
    recorded job, which imports submitit and may call Slurm)."""
    path = Path(path)
    folder = UidFolder(path)
    parent = path.parent.name
    method, _, version = parent.rpartition(",") if "," in parent else ("", "", "")
    items, only_key, only_entry = summarize_keys(path)
    size, newest = _walk_size(path)
    used = folder.last_use()
    last = max(newest, (used or 0) / 1e9) or None
    job_id = slurm = None
    kind: tp.Literal["task", "map"] = "task"
    state: State
    problems = folder.problems(result=only_entry if only_key == RESULT and only_entry else False)
    if problems:
        state = "damaged"
        if items and only_key != RESULT:
            kind = "map"
    elif only_key == RESULT:
        state = "completed"
    elif folder.has_failure_record():
        state = "failed"
        if jobs and folder.has_job():  # the job that failed
            job_id, slurm, _ = job_state(path)
    elif items:
        kind, state = "map", "items"
    elif (legacy := _legacy_outcome(path)) is not None:
        state = legacy  # a result (or failure) exca 0.6.0 kept in its job.pkl
    else:
        state = "empty"
        if jobs:
            job_id, slurm, finished = job_state(path)
            if job_id is not None:
                if not finished:
                    state = "pending" if slurm is not None and "PENDING" in slurm else "running"
                elif RESULT in folder.stored_keys() or _result_pickle_ok(folder):
                    state = "completed"  # (a result exca 0.6.0 left in submitit's file)
                else:  # a job ends after storing its result: ended and not cached is a failure
                    state = "failed"
    problem = "; ".join(problems) or None
    return Entry(
        path, method, version, path.name, kind, state, items, size, last, job_id, slurm, problem
    )


def _head(path: Path, size: int = 1 << 16) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _legacy_outcome(path: Path) -> State | None:
    """completed / failed when ``job.pkl`` is an in-process job of exca 0.6.0, which keeps
    its outcome there (``_result = ("success", value)`` or ``("failure", ...)``): read from
    the first bytes of the pickle, the value is not loaded. None otherwise."""
    head = _head(path / JOB)
    if b"exca.task" not in head or b"LocalJob" not in head:
        return None
    k = head.find(b"_result")
    near = head[k : k + 24] if k >= 0 else b""
    return "completed" if b"success" in near else "failed" if b"failure" in near else None


def _result_pickle_ok(folder: UidFolder) -> bool:
    """True if the submitit job recorded in the folder returned (its result file starts
    with ``("success", ...``): how exca 0.6.0 kept the results of jobs it submitted."""
    if not folder.has_job():
        return False
    paths = getattr(folder.load_job(), "paths", None)
    if paths is None:
        return False
    return b"success" in _head(Path(paths.result_pickle), 32)


def ls(
    folder: str | Path,
    *,
    failed: bool = False,
    running: bool = False,
    older_than: str | float | None = None,
    larger_than: str | int | None = None,
    sort: tp.Literal["name", "size", "last-use", "items", "state"] = "name",
    jobs: bool = True,
) -> list[Entry]:
    """The entries (uid folders) below ``folder`` (a cache folder, a method folder, a
    uid folder or a CacheDict folder), filtered and sorted.

    ``failed`` / ``running``: only failed / running or pending entries (both: either;
    damaged entries are listed with ``failed``: their result cannot be read);
    ``older_than``: last used before that age (``"30d"``); ``larger_than``: at least that
    size (``"1G"``); ``sort``: name, size or items (largest first), last-use (oldest
    first) or state. ``jobs=False``: do not ask the state of recorded jobs (no submitit).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    out = [entry(p, jobs=jobs) for p in _entry_paths(folder)]
    if failed or running:
        wanted = ({"failed", "damaged"} if failed else set()) | (
            {"running", "pending"} if running else set()
        )
        out = [e for e in out if e.state in wanted]
    if older_than is not None:
        limit = time.time() - parse_age(older_than)
        out = [e for e in out if (e.last_use or 0) < limit]
    if larger_than is not None:
        minimum = parse_size(larger_than)
        out = [e for e in out if e.size >= minimum]
    keys: dict[str, tp.Callable[[Entry], tp.Any]] = {
        "name": lambda e: (e.method, e.version, e.uid),
        "size": lambda e: -e.size,
        "items": lambda e: -e.items,
        "last-use": lambda e: e.last_use or 0,
        "state": lambda e: e.state,
    }
    if sort not in keys:
        raise ValueError(f"sort={sort!r} is not one of {', '.join(keys)}")
    return sorted(out, key=keys[sort])


def by_method(entries: tp.Iterable[Entry]) -> list[dict[str, tp.Any]]:
    """One summary per method folder (``method``, ``version``): number of entries, count of
    each state, items, size and last use."""
    groups: dict[tuple[str, str], list[Entry]] = {}
    for e in entries:
        groups.setdefault((e.method, e.version), []).append(e)
    out = []
    for (method, version), group in sorted(groups.items()):
        states: dict[str, int] = {}
        for e in group:
            states[e.state] = states.get(e.state, 0) + 1
        used = [e.last_use for e in group if e.last_use is not None]
        out.append(
            {
                "method": method,
                "version": version,
                "entries": len(group),
                "states": states,
                "items": sum(e.items for e in group),
                "size": sum(e.size for e in group),
                "last_use": max(used) if used else None,
            }
        )
    return out


# # # # # show # # # # #


def _tail(path: Path | None, lines: int) -> str | None:
    if path is None or not path.exists():
        return None
    with path.open("rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
        text = f.read().decode("utf8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _describe_value(path: Path, line: dict[str, tp.Any]) -> dict[str, tp.Any]:
    """What a stored value is, from its index line (the value itself is not read)."""
    out: dict[str, tp.Any] = {"format": line["#type"]}
    for key in ("shape", "dtype", "size"):
        if key in line:
            out[key] = line[key]
    if "content" in line:
        content = line["content"]
        out["type"] = type(content).__name__
        out["bytes"] = len(str(content))
        if sweeps.numeric_value(content) is not None:
            out["value"] = content
    filename = line.get("filename")
    if isinstance(filename, str):
        file = path / filename
        if file.exists() and "shape" not in line:
            out["bytes"] = file.stat().st_size
    return out


def _rebuild(e: Entry) -> str | None:
    """The Python line that re-creates the object of a uid folder from its config."""
    folder = UidFolder(e.path)
    text = folder.config_text()
    if text is None:
        return None
    config = folder.file(CONFIG)
    match = re.search(r"^_target_:\s*(\S+)\s*$", text, re.MULTILINE)
    load = f"exca.ConfDict.from_yaml({str(config)!r})"
    if match is not None:  # a Hydra launcher job of a pydantic model
        module, _, cls = match.group(1).strip("'\"").rpartition(".")
        build = f"cfg = {load}; del cfg['_target_']; obj = {cls}(**cfg)"
    else:
        parts = e.method.split(".")
        if len(parts) < 3:
            return None  # a Hydra launcher job without a model: nothing to rebuild
        module, cls = ".".join(parts[:-2]), parts[-2]  # <module>.<Class>.<method>
        build = f"obj = {cls}(**{load})"
    if not module:
        return None
    return f"import exca; from {module} import {cls}; {build}"


def show(uid_folder: str | Path, tail: int = 20) -> dict[str, tp.Any]:
    """Everything about one uid folder, as a dict: its :class:`Entry` fields, the configs
    (``uid_config``, ``config``), the job (id, Slurm state, log paths, the last ``tail``
    lines of stdout/stderr), the failure (``error``: exception type, message, what ran
    it and the file it was read from; ``traceback``), what is stored (``result`` for a
    task, ``formats`` for items) and the ``rebuild`` line. A damaged entry is shown with
    its ``problem`` (naming the file), never as an error of its own."""
    path = Path(uid_folder)
    folder = UidFolder(path)
    if not folder.is_entry():
        raise FileNotFoundError(
            f"{path} is not a uid folder (no {UID}, {JOB} or *{INFO_SUFFIX}); "
            "`exca ls` lists the uid folders of a cache"
        )
    e = entry(path)
    out = e.to_dict()
    out["uid_config"] = folder.config_text(full=False)
    out["config"] = folder.config_text()
    out["stdout"] = out["stderr"] = out["stdout_tail"] = out["stderr_tail"] = None
    job = folder.load_job() if folder.has_job() else None
    paths = getattr(job, "paths", None)
    if paths is not None:
        for name in ("stdout", "stderr"):
            file = Path(getattr(paths, name))
            out[name] = str(file)
            out[f"{name}_tail"] = _tail(file, tail)
    out["error"] = out["traceback"] = None
    if e.state in ("failed", "damaged") or folder.has_failure_record():
        failure = folder.failure(job)
        if failure is not None:
            out["error"] = {
                "type": failure.type,
                "message": failure.message,
                "ran_by": failure.ran_by,
                "source": failure.source,
            }
            out["traceback"] = failure.traceback or None
        elif e.state == "failed":
            why = f"Slurm state {e.slurm_state}" if e.slurm_state else "no failure recorded"
            message = f"the job ended without storing a result ({why})"
            out["error"] = {"type": "", "message": message, "ran_by": "", "source": ""}
    keys = folder.stored_keys()
    out["result"] = None
    if e.kind == "task" and RESULT in keys:
        try:
            line = folder.result_line()
        except DamagedEntryError:
            line = None  # (e.problem says why)
        if line is not None:
            out["result"] = _describe_value(path, line)
    elif e.state == "completed" and not keys:
        out["result"] = {"format": f"exca 0.6.0 ({JOB} or the job's result file)"}
    else:
        formats: dict[str, int] = {}
        for raw in keys.values():
            line_bytes = raw[2]
            start = line_bytes.find(b'"#type":"') + 9
            name = line_bytes[start : line_bytes.find(b'"', start)].decode(errors="replace")
            formats[name] = formats.get(name, 0) + 1
        out["formats"] = formats
    out["rebuild"] = _rebuild(e)
    return out
