"""Claims: concurrent processes, jobs and sweeps compute each result once.

Before computing a missing result, a process *claims* it: it creates the claim
``<folder>/.claims/<hash of the key>.claim`` as a hard link to its owner file
(``O_CREAT | O_EXCL`` where hard links are not supported), holding its
:class:`Owner` (host, pid and its start time, Slurm job id). Other processes asking
for the same result find the claim, log the owner and wait for the result (computing
meanwhile what nobody claimed); the owner removes the claim once the result is stored
(or failed). A claim whose owner is dead is taken over:

- owner on this host: its pid is gone (or reused by another process): taken over at the
  next poll of a waiter (at most ``MAX_POLL`` = 1 s);
- owner in a Slurm job: Slurm (``squeue``) says the job ended (cancelled, preempted,
  timed out, node failure), even if a process of it lingers: at the next Slurm poll of
  a waiter (every ``SLURM_POLL`` = 10 s per job);
- any other owner on another host: its heartbeat (the mtime of
  ``.claims/<owner token>.owner``, written at its first claim in the folder, touched
  every ``HEARTBEAT`` = 30 s by a daemon thread while it holds claims, removed when the
  process exits) did not change for ``STALE`` = 300 s of the waiter's clock.

A live owner is never robbed: a local pid is checked exactly, a Slurm job that is
pending or running keeps its claims however silent it is.

The module knows owners (processes, Slurm jobs) and keys, not models: the infras and the
Hydra launcher call :func:`once` (one key) or :func:`compute_keys_once` (many keys).

What it assumes of the file system: creating a hard link (or a file with ``O_EXCL``)
is atomic and fails if the name exists (true on local file systems, NFS and Lustre) and a removed file disappears for every client. When that
fails (a client cache shows an old claim, two creators both succeed), the worst outcome
is that two processes compute the same result: results are still stored atomically
(the check-then-write of the storage engine keeps one complete value), never wrong,
partial or lost. A process never waits while holding claims, so claims cannot deadlock
unless two results depend on each other.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import socket
import threading
import time
import typing as tp
import uuid
from pathlib import Path

from .cachedict.index import process_exists

__all__ = [
    "ClaimedError",
    "Claims",
    "Liveness",
    "Owner",
    "compute_keys_once",
    "me",
    "once",
    "pid_alive",
    "slurm_job_active",
]

logger = logging.getLogger(__name__)

CLAIMS_DIR = ".claims"
CLAIM_SUFFIX = ".claim"
HEARTBEAT = 30.0  # seconds between two heartbeats of an owner holding claims
STALE = 300.0  # seconds without heartbeat after which an owner without Slurm is dead
SLURM_POLL = 10.0  # seconds between two squeue calls about one Slurm job
MAX_POLL = 1.0  # longest sleep of a waiter between two checks
GRACE = 60.0  # seconds an unreadable (just created) claim file counts as alive
LOG_EVERY = 60.0  # a waiter repeats its log line at most this often

Wait = tp.Literal["wait", "no-wait", "off"]


class ClaimedError(RuntimeError):
    """Raised with ``claims="no-wait"`` when results are being computed by other owners.

    ``held`` maps each such key to its :class:`Owner` (None: a claim being written).
    """

    def __init__(self, message: str, held: dict[str, Owner | None]) -> None:
        super().__init__(message)
        self.held = held


@dataclasses.dataclass(frozen=True)
class Owner:
    """Who holds a claim: a process on a host, maybe in a Slurm job."""

    host: str
    pid: int
    start: str  # process start time (pid reuse detection); "" if unknown
    token: str  # unique per process
    slurm: str = ""  # SLURM_JOB_ID, if any
    task: str = ""  # array job id and task (``<array job>_<task>``) for display

    def __str__(self) -> str:
        text = f"pid {self.pid} on {self.host}"
        if self.slurm:
            text += f" (Slurm job {self.task or self.slurm})"
        return text

    def dumps(self) -> bytes:
        return json.dumps(dataclasses.asdict(self)).encode("utf8")

    @classmethod
    def loads(cls, data: bytes) -> Owner | None:
        try:
            raw = json.loads(data)
            return cls(**{f.name: raw[f.name] for f in dataclasses.fields(cls) if f.name in raw})
        except (ValueError, TypeError, KeyError):
            return None


def _start_time(pid: int) -> str:
    """Start time of a process (clock ticks since boot) from /proc; "" if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else ""


_ME: dict[int, Owner] = {}


def me() -> Owner:
    """The owner of the claims of this process (a new one after a fork)."""
    pid = os.getpid()
    owner = _ME.get(pid)
    if owner is None:
        env = os.environ
        task = ""
        if env.get("SLURM_ARRAY_JOB_ID") and env.get("SLURM_ARRAY_TASK_ID"):
            task = f"{env['SLURM_ARRAY_JOB_ID']}_{env['SLURM_ARRAY_TASK_ID']}"
        owner = Owner(
            host=socket.gethostname(),
            pid=pid,
            start=_start_time(pid),
            token=uuid.uuid4().hex,
            slurm=env.get("SLURM_JOB_ID", ""),
            task=task,
        )
        _ME.clear()
        _ME[pid] = owner
    return owner


# # # # # heartbeat # # # # #

_HB_LOCK = threading.Lock()
_HB_HELD: dict[Path, int] = {}  # claims folder -> number of claims held there
_HB_THREAD: list[threading.Thread] = []


def _owner_file(folder: Path, owner: Owner) -> Path:
    return folder / f"{owner.token}.owner"


def _hold(folder: Path, n: int) -> None:
    """Counts ``n`` more (or fewer) claims held in ``folder``; the heartbeat thread
    touches the owner file of the folders where the count is positive."""
    with _HB_LOCK:
        before = _HB_HELD.get(folder, 0)
        after = before + n
        if after > 0:
            _HB_HELD[folder] = after
        else:
            _HB_HELD.pop(folder, None)
        if before <= 0 < after and (_hb_pid != os.getpid() or not _HB_THREAD[0].is_alive()):
            _start_heartbeat()


_OWNER_FILES: set[Path] = set()  # owner files written by this process (removed at exit)


def _write_owner_file(folder: Path, created: bool) -> None:
    """Writes the owner file of this process in ``folder`` once (kept until the process
    exits: claiming again costs no extra file operation)."""
    path = _owner_file(folder, me())
    if created:
        _OWNER_FILES.discard(path)
    if path not in _OWNER_FILES:
        path.write_bytes(me().dumps())
        _OWNER_FILES.add(path)


@atexit.register
def _remove_owner_files() -> None:
    """At exit: removes this process's owner files, and their claims folders if empty
    (``rmdir`` fails on a folder holding files: another process's claims stay; a
    process claiming meanwhile creates the folder again)."""
    token = _ME.get(os.getpid())
    for path in list(_OWNER_FILES):
        if token is not None and path.name.startswith(token.token):
            with contextlib.suppress(OSError):
                path.unlink()
            with contextlib.suppress(OSError):
                path.parent.rmdir()
    _OWNER_FILES.clear()


_hb_pid = 0


def _after_fork() -> None:  # the claims of the parent are not the child's
    global _HB_LOCK
    _HB_LOCK = threading.Lock()
    _HB_HELD.clear()
    _OWNER_FILES.clear()


os.register_at_fork(after_in_child=_after_fork)


def _start_heartbeat() -> None:
    global _hb_pid
    _hb_pid = os.getpid()
    thread = threading.Thread(target=_heartbeat, name="exca-claims-heartbeat", daemon=True)
    _HB_THREAD[:] = [thread]
    thread.start()


def _heartbeat() -> None:
    pid = os.getpid()
    while True:
        time.sleep(HEARTBEAT)
        if os.getpid() != pid:
            return
        owner = me()
        with _HB_LOCK:
            folders = list(_HB_HELD)
        for folder in folders:
            with contextlib.suppress(OSError):
                os.utime(_owner_file(folder, owner))


# # # # # liveness # # # # #


def pid_alive(pid: int, start: str = "") -> bool:
    """True if process ``pid`` of this host runs (and, given its ``start`` time as read
    from ``/proc``, is still the same process, not a reused pid)."""
    if not process_exists(pid):
        return False
    if start:
        now = _start_time(pid)
        if now and now != start:  # pid reused by another process
            return False
    return True


def slurm_job_active(job_id: str) -> bool | None:
    """True if Slurm says the job is pending or running, False if it ended or is unknown
    to Slurm, None if Slurm cannot be asked (no ``squeue``, timeout)."""
    from .backends import ACTIVE_SLURM_STATES, squeue_states

    states = squeue_states(job_id)
    return None if states is None else bool(ACTIVE_SLURM_STATES.intersection(states))


class Liveness:
    """Tells whether owners are alive, remembering what it observed (one per waiter)."""

    def __init__(self) -> None:
        self._slurm: dict[str, tuple[float, bool | None]] = {}  # job -> (checked at, active)
        self._beats: dict[tuple[Path, str], tuple[float | None, float]] = {}

    def alive(self, owner: Owner, folder: Path) -> bool:
        active = None
        if owner.slurm:  # a cancelled job is dead, even if a process of it lingers
            checked, active = self._slurm.get(owner.slurm, (-1e9, None))
            now = time.monotonic()
            if now - checked >= SLURM_POLL:
                active = slurm_job_active(owner.slurm)
                self._slurm[owner.slurm] = (now, active)
            if active is False:
                return False
        if owner.host == socket.gethostname():
            return pid_alive(owner.pid, owner.start)
        if active:
            return True
        return self._heartbeat_alive(owner, folder)

    def _heartbeat_alive(self, owner: Owner, folder: Path) -> bool:
        try:
            mtime: float | None = os.stat(_owner_file(folder, owner)).st_mtime
        except OSError:
            mtime = None
        key = (folder, owner.token)
        now = time.monotonic()
        seen = self._beats.get(key)
        if seen is None or seen[0] != mtime:  # a heartbeat (or first look)
            self._beats[key] = (mtime, now)
            return True
        return now - seen[1] < STALE


# # # # # claims on the keys of one folder # # # # #


class Claims:
    """The claims on the keys of one folder (a uid folder)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder) / CLAIMS_DIR
        self._dir = str(self.folder)
        self._made = False
        self._link = True

    def usable(self, what: str = "") -> bool:
        """Prepares the claims folder; False (with a warning) if it cannot be written:
        then every process computes what it misses, as without claims."""
        try:
            self._prepare()
        except OSError as e:
            logger.warning(
                "%s: cannot claim in %s (%s: %s): computing without claims (another process "
                "may compute the same results)",
                what,
                self.folder,
                type(e).__name__,
                e,
            )
            return False
        return True

    def _prepare(self, again: bool = False) -> None:
        if self._made and not again:
            return
        for attempt in range(3):  # (an exiting process may remove the empty folder)
            try:
                self.folder.mkdir(parents=True)
                created = True
            except FileExistsError:
                created = False
            try:  # first: a claim has its heartbeat
                _write_owner_file(self.folder, created or again)
                break
            except FileNotFoundError:
                if attempt == 2:
                    raise
                again = True
        self._made = True

    def path(self, key: str) -> str:
        """The claim file of ``key``."""
        name = hashlib.sha1(key.encode("utf8")).hexdigest() + CLAIM_SUFFIX
        return os.path.join(self._dir, name)

    def acquire(self, keys: tp.Iterable[str]) -> tuple[list[str], dict[str, Owner | None]]:
        """Claims the keys it can: (claimed keys, {key held by another: its owner})."""
        self._prepare()
        mine: list[str] = []
        held: dict[str, Owner | None] = {}
        owner_file = str(_owner_file(self.folder, me()))
        _hold(self.folder, 1)
        try:
            for key in keys:
                path = self.path(key)
                if self._create(owner_file, path):
                    mine.append(key)
                else:
                    held[key] = self.holder(key)
        finally:
            _hold(self.folder, len(mine) - 1)
        return mine, held

    def _create(self, owner_file: str, path: str) -> bool:
        """Creates the claim file ``path`` holding this process's owner record; False if
        it exists. A hard link to the owner file (one atomic operation, never a partly
        written claim); ``O_EXCL`` creation where hard links are not supported."""
        if self._link:
            try:
                os.link(owner_file, path)
                return True
            except FileExistsError:
                return False
            except FileNotFoundError:  # the claims folder was removed meanwhile
                self._prepare(again=True)
                try:
                    os.link(owner_file, path)
                    return True
                except FileExistsError:
                    return False
            except OSError as e:  # eg: no hard links on this file system
                logger.debug("Claims by hard link failed in %s (%s): using O_EXCL", path, e)
                self._link = False
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            return False
        try:
            os.write(fd, me().dumps())
        finally:
            os.close(fd)
        return True

    def release(self, keys: tp.Iterable[str]) -> None:
        """Removes claims held by this process."""
        n = 0
        for key in keys:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path(key))
            n += 1
        if n:
            _hold(self.folder, -n)

    def holder(self, key: str) -> Owner | None:
        """The owner of the claim on ``key``; None if unreadable (being written)."""
        try:
            with open(self.path(key), "rb") as f:
                return Owner.loads(f.read())
        except FileNotFoundError:
            return None

    def is_claimed(self, key: str) -> bool:
        return os.path.exists(self.path(key))

    def take_over(self, key: str, dead: Owner | None) -> None:
        """Removes the claim on ``key`` of a dead owner (``None``: a claim file that stayed
        unreadable), so that it can be claimed again. Guarded by ``<claim>.takeover``
        (``O_EXCL``) so that a new claim made meanwhile is not removed."""
        path = Path(self.path(key))
        guard = path.with_suffix(".takeover")
        try:
            fd = os.open(guard, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            with contextlib.suppress(OSError):  # a taker that died: its guard is stale
                if time.time() - guard.stat().st_mtime > GRACE:
                    guard.unlink()
            return
        os.close(fd)
        try:
            if self.holder(key) == dead and path.exists():
                path.unlink(missing_ok=True)
                if dead is not None:
                    with contextlib.suppress(OSError):
                        _owner_file(self.folder, dead).unlink()
        finally:
            guard.unlink(missing_ok=True)


def _describe(held: tp.Mapping[str, Owner | None]) -> str:
    owners: dict[str, int] = {}
    for owner in held.values():
        name = str(owner) if owner is not None else "an owner still writing its claim"
        owners[name] = owners.get(name, 0) + 1
    return ", ".join(f"{n} by {name}" for name, n in owners.items())


class _Waiter:
    """Waits for keys claimed by others, logging what it waits for; tells which keys
    became free (released or taken over from a dead owner)."""

    def __init__(self, claims: Claims, what: str) -> None:
        self.claims = claims
        self.what = what
        self.liveness = Liveness()
        self.sleep = 0.02
        self.logged: tuple[float, str] = (-1e9, "")
        self.unreadable: dict[str, float] = {}

    def log(self, held: tp.Mapping[str, Owner | None]) -> None:
        text = _describe(held)
        now = time.monotonic()
        if text != self.logged[1] or now - self.logged[0] > LOG_EVERY:
            # the first line is a warning: visible without logging configuration (a
            # notebook, a job process), it says why the call blocks
            logger.log(
                logging.WARNING if not self.logged[1] else logging.INFO,
                "%s: waiting for %d result(s) being computed elsewhere: %s (claims in %s)",
                self.what,
                len(held),
                text,
                self.claims.folder,
            )
            self.logged = (now, text)

    def free(self, keys: tp.Iterable[str]) -> list[str]:
        """Keys whose claim is gone, or whose owner is dead (their claims removed)."""
        free = []
        for key in keys:
            if not self.claims.is_claimed(key):
                free.append(key)
                continue
            owner = self.claims.holder(key)
            if owner is None:
                first = self.unreadable.setdefault(key, time.monotonic())
                if not self.claims.is_claimed(key):
                    free.append(key)
                elif time.monotonic() - first > GRACE:
                    logger.warning("%s: removing the unreadable claim on %r", self.what, key)
                    self.claims.take_over(key, None)
                    free.append(key)
                continue
            self.unreadable.pop(key, None)
            if not self.liveness.alive(owner, self.claims.folder):
                logger.warning(
                    "%s: %s holding the claim on %r is dead: taking over", self.what, owner, key
                )
                self.claims.take_over(key, owner)
                free.append(key)
        return free

    def pause(self) -> None:
        time.sleep(self.sleep)
        self.sleep = min(self.sleep * 1.5, MAX_POLL)


def compute_keys_once(
    folder: Path,
    keys: tp.Sequence[str],
    *,
    present: tp.Callable[[list[str]], tp.Collection[str]],
    compute: tp.Callable[[list[str]], tp.Iterable[str]],
    wait: Wait = "wait",
    what: str = "",
    progress: tp.Callable[[int, int], None] | None = None,
) -> None:
    """Makes every key present, computing only those this process claims.

    ``present(keys)``: those of ``keys`` already stored (re-reads the storage).
    ``compute(keys)``: computes and stores the keys, yielding each key once stored (its
    claim is released then). ``progress(done, in_flight)``: called as keys get done
    here or elsewhere, with the number of keys currently computed by others.
    With ``wait="no-wait"``, raises :class:`ClaimedError` for keys held by others (after
    computing the others); ``wait="off"`` computes every key without claims.
    """
    claims = Claims(folder)
    if wait == "off" or not claims.usable(what):
        for _ in compute(list(keys)):
            if progress is not None:
                progress(1, 0)
        return
    remaining = list(dict.fromkeys(keys))
    waiter: _Waiter | None = None
    keep_held: dict[str, Owner | None] = {}  # no-wait: held by live owners
    while remaining:
        mine, held = claims.acquire(remaining)
        if mine:
            pending = set(mine)
            try:
                done = set(present(mine))  # stored meanwhile by another owner
                claims.release([k for k in mine if k in done])
                pending -= done
                if progress is not None and done:
                    progress(len(done), len(held))
                for key in compute([k for k in mine if k not in done]):
                    if key in pending:
                        pending.discard(key)
                        claims.release([key])
                    if progress is not None:
                        progress(1, len(held))
            finally:
                claims.release(pending)
        if not held and not keep_held:
            return
        if waiter is None:
            waiter = _Waiter(claims, what)
        if wait == "no-wait":
            done = set(present(list(held)))
            held = {k: o for k, o in held.items() if k not in done}
            free = waiter.free(held)  # of dead owners: computed here
            if free:
                remaining = free
                held = {k: o for k, o in held.items() if k not in free}
                for key in held:
                    keep_held[key] = held[key]
                continue
            held = {**keep_held, **held}
            if held:
                raise ClaimedError(
                    f"{what}: {len(held)} result(s) are being computed elsewhere ("
                    f"{_describe(held)}; claims in {claims.folder}) and claims='no-wait'",
                    held,
                )
            return
        remaining = list(held)
        while remaining:  # wait for results, or for free keys to compute
            waiter.log({k: held.get(k) for k in remaining})
            waiter.pause()
            done = set(present(remaining))
            if done:
                remaining = [k for k in remaining if k not in done]
                if progress is not None:
                    progress(len(done), len(remaining))
            free = waiter.free(remaining)
            if free:
                done = set(present(free))  # released after storing: done
                remaining = [k for k in remaining if k not in done]
                if progress is not None and done:
                    progress(len(done), len(remaining))
                if any(k not in done for k in free):
                    break  # claim them (with the keys still held, which stay held)


def in_use(folder: Path) -> str | None:
    """Why ``folder`` (a uid folder) is in use by a claim: a process computing one of
    its results whose owner is alive, or a claim file not readable yet (being written);
    None if no claim is in flight."""
    claims_dir = Path(folder) / CLAIMS_DIR
    try:
        files = sorted(p for p in claims_dir.iterdir() if p.name.endswith(CLAIM_SUFFIX))
    except (FileNotFoundError, NotADirectoryError):
        return None
    liveness = Liveness()
    for file in files:
        try:
            owner = Owner.loads(file.read_bytes())
        except FileNotFoundError:  # released meanwhile
            continue
        if owner is None or liveness.alive(owner, claims_dir):
            return f"a result is being computed by {owner or 'a starting process'} (claim)"
    return None


@contextlib.contextmanager
def once(
    folder: Path,
    key: str,
    *,
    present: tp.Callable[[], bool],
    wait: Wait = "wait",
    what: str = "",
) -> tp.Iterator[bool]:
    """Claims ``key`` of ``folder`` for the block, waiting while another owner holds it.

    Yields True when this process holds the claim (compute and store in the block),
    False when the result got stored by another owner meanwhile (load it). The claim
    is released when the block ends (stored, or failed: then a waiter computes it).
    """
    claims = Claims(folder)
    if wait == "off" or not claims.usable(what):
        yield True
        return
    waiter: _Waiter | None = None
    while True:
        mine, held = claims.acquire([key])
        if mine:
            try:
                yield not present()
            finally:
                claims.release(mine)
            return
        if present():
            yield False
            return
        if waiter is None:
            waiter = _Waiter(claims, what)
        if wait == "no-wait" and not waiter.free([key]):
            raise ClaimedError(
                f"{what}: the result is being computed by {_describe(held).split(' by ', 1)[1]} "
                f"(claim {claims.path(key)}) and claims='no-wait'",
                held,
            )
        while wait != "no-wait":
            waiter.log(held)
            waiter.pause()
            if present():
                yield False
                return
            if waiter.free([key]):
                break
