"""The jobs of a Hydra sweep run by an exca launcher (:func:`sweep`): the report's data
model (:class:`SweepReport`, :class:`SweepJob`), read from the sweep record
(:mod:`exca.sweeps`), the uid folders and the job records. Hydra is never imported."""

from __future__ import annotations

import dataclasses
import typing as tp
from pathlib import Path

from .. import sweeps
from ..uidfolder import RESULT, DamagedEntryError, UidFolder
from .entries import job_state

__all__ = ["TERMINAL", "SweepJob", "SweepReport", "SweepState", "sweep"]

SweepState = tp.Literal["computed", "cached", "failed", "running", "pending"]
TERMINAL = ("computed", "cached", "failed")


@dataclasses.dataclass
class SweepJob:
    """One job of a sweep run by an exca launcher."""

    idx: int
    overrides: list[str]
    params: dict[str, str]  # the overrides as key -> value
    state: SweepState
    action: str  # what the launcher decided (run, cached, running, failed-before, duplicate)
    uid: str | None
    folder: str | None
    job_id: str | None
    start: float | None  # s since the epoch (job process)
    end: float | None
    duration: float | None  # s
    value: float | dict[str, float] | None  # the return value, if a number or dict of them
    error: str | None

    def to_dict(self) -> dict[str, tp.Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class SweepReport:
    """The jobs of a sweep directory (:func:`sweep`)."""

    sweep_dir: Path
    launcher: str
    jobs: list[SweepJob]

    @property
    def done(self) -> bool:
        """True when no job is pending or running any more."""
        return all(job.state in TERMINAL for job in self.jobs)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in self.jobs:
            out[job.state] = out.get(job.state, 0) + 1
        return out

    @property
    def swept(self) -> list[str]:
        """The parameters whose values differ between jobs."""
        keys: dict[str, set[str]] = {}
        for job in self.jobs:
            for k, v in job.params.items():
                keys.setdefault(k, set()).add(v)
        return [k for k, values in keys.items() if len(values) > 1 or len(self.jobs) == 1]

    def to_dict(self) -> dict[str, tp.Any]:
        return {
            "sweep_dir": str(self.sweep_dir),
            "launcher": self.launcher,
            "done": self.done,
            "counts": self.counts,
            "swept": self.swept,
            "jobs": [job.to_dict() for job in self.jobs],
        }


def _params(overrides: list[str]) -> dict[str, str]:
    out = {}
    for override in overrides:
        key, sep, value = override.partition("=")
        if sep:
            out[key.lstrip("+~")] = value
    return out


def _live_state(folder: Path | None, started: bool) -> tuple[SweepState, str | None]:
    """State of a job without an end event: from its job record and its uid folder."""
    if folder is None:
        return ("running" if started else "pending"), None
    _, slurm, finished = job_state(folder)
    if finished is False:
        return ("pending" if slurm is not None and "PENDING" in slurm else "running"), None
    if finished is None:
        return ("running" if started else "pending"), None
    entry = UidFolder(folder)
    if RESULT in entry.stored_keys():
        return "computed", None
    if entry.has_failure_record():
        return "failed", _error_line(entry) or "failed"
    return "failed", f"job ended without a result (Slurm state {slurm})"


def _error_line(entry: UidFolder) -> str | None:
    """The last line of the traceback of the failure recorded in ``entry`` (the
    exception and its message)."""
    failure = entry.failure()
    if failure is None:
        return None
    lines = failure.traceback.strip().splitlines()
    return lines[-1].strip() if lines else failure.summary() or None


def _cached_value(folder: str | None) -> float | dict[str, float] | None:
    if folder is None:
        return None
    try:
        line = UidFolder(folder).result_line()
    except DamagedEntryError:
        return None
    if line is None:
        return None
    return sweeps.numeric_value(line.get("content")) if line["#type"] == "Json" else None


def sweep(sweep_dir: str | Path) -> SweepReport:
    """The jobs of a sweep run by an exca launcher (read from ``exca-sweep.jsonl``, the
    uid folders and the job records): for each, its overrides, state, duration and
    return value (when a number or a dict of numbers). For a directory launched several
    times, each job's latest launch counts."""
    sweep_dir = Path(sweep_dir)
    events = sweeps.read(sweep_dir)
    launcher = ""
    plan: dict[int, dict[str, tp.Any]] = {}
    for ev in events:
        if ev["event"] == "launch":
            launcher = str(ev.get("launcher", ""))
        elif ev["event"] == "job":
            plan[int(ev["idx"])] = ev
    jobs = []
    for idx, job_ev in sorted(plan.items()):
        token = job_ev.get("launch")
        job_id = job_ev.get("job_id")
        for ev in events:
            if ev["event"] == "submitted" and ev.get("launch") == token and ev["idx"] == idx:
                job_id = ev.get("job_id")

        related = [
            ev
            for ev in events
            if ev.get("idx") == idx
            and ev["event"] in ("start", "end")
            and (ev.get("launch") == token or (job_id is not None and ev.get("job_id") == job_id))
        ]
        starts = [ev for ev in related if ev["event"] == "start"]
        ends = [ev for ev in related if ev["event"] == "end"]
        own_ends = [ev for ev in ends if ev.get("by") != "launcher"]
        action = str(job_ev.get("action", "run"))
        folder = job_ev.get("folder")
        error = None
        value = None
        state: SweepState
        if ends:
            last = ends[-1]
            if last.get("status") == "completed":
                state = "computed" if action == "run" else "cached"
            else:
                state = "failed"
                error = last.get("error")
            value = last.get("value")
        else:
            state, error = _live_state(Path(folder) if folder else None, bool(starts))
        if state == "failed" and folder and UidFolder(folder).has_failure_record():
            error = _error_line(UidFolder(folder)) or error  # the error itself
        if value is None and state in ("computed", "cached"):
            value = _cached_value(folder)
        start = starts[-1]["t"] / 1e9 if starts else None
        end = own_ends[-1]["t"] / 1e9 if own_ends and starts else None
        jobs.append(
            SweepJob(
                idx=idx,
                overrides=list(job_ev.get("overrides", [])),
                params=_params(list(job_ev.get("overrides", []))),
                state=state,
                action=action,
                uid=None if folder is None else Path(folder).name,
                folder=folder,
                job_id=None if job_id is None else str(job_id),
                start=start,
                end=end,
                duration=None if start is None or end is None else end - start,
                value=value,
                error=error,
            )
        )
    return SweepReport(sweep_dir, launcher, jobs)
