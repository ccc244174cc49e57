"""Long randomized reliability runs (issue 9): the loops of the reliability tests,
for as long as asked, with a summary of what was done and lost.

    python scripts/soak.py                      # defaults: a few minutes
    python scripts/soak.py --iterations 2000 --rounds 100 --fuzz-seeds 2000

Parts (each can be skipped with 0):

- ``--iterations``: SIGKILL loop (tests/test_reliability_crash.py): each iteration
  starts ``--writers`` writer processes (all storage formats, writes and deletions)
  and a reader process in one cache folder, kills the writers at random points, then
  checks that every completed write reads back equal, every completed deletion stays
  deleted, no partial value is visible and the folder reopens without warning. A new
  folder is used every ``--per-folder`` iterations (checks read every key).
- ``--rounds``: 8 processes at once, without any synchronisation helping exca:
  MapInfra on random overlapping item sets (every item must be computed and read back
  right; failed calls are counted), and TaskInfra returning a random token (processes
  that return another token than the cached one are counted: known race, see
  tests/test_reliability_concurrency.py).
- ``--once-rounds``: compute once (tests/test_claims.py): 6 processes at once on random
  overlapping MapInfra items and on one TaskInfra uid, counting executions by a side
  effect of the computation (duplicates must stay 0), then a claimant SIGKILLed at a
  random point while 2 others wait: every value must come back right and only the
  item(s) in flight in the killed process may be computed twice.
- ``--fuzz-seeds``: fuzzed index files, truncated data files and simulated full disks
  (tests/test_reliability_badinput.py), one case per seed.

Exit code 1 if anything was lost or returned wrong.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import sys
import tempfile
import time
import traceback
import typing as tp
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# worker processes (forkserver) import the test modules too
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
)


@dataclasses.dataclass
class ConcurrencyStats:
    rounds: int = 0
    processes: int = 0
    map_items: int = 0  # distinct items per round, summed
    map_failed_calls: int = 0
    task_disagreements: int = 0  # processes returning another result than the cached one
    losses: int = 0  # items missing or wrong after a round: must stay 0
    problems: list[str] = dataclasses.field(default_factory=list)


def _run_tolerant(name: str, args: list[list[tp.Any]]) -> list[dict[str, tp.Any]]:
    """Like the test helper, but returns {"ok": ...} or {"error": traceback} per process."""
    import multiprocessing

    import tests.test_reliability_concurrency as conc

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([conc.__name__])
    with tempfile.TemporaryDirectory() as tmp:
        outs = [str(Path(tmp) / f"out-{k}.json") for k in range(len(args))]
        procs = [
            ctx.Process(target=conc._call_worker, args=(name, a, out)) for a, out in zip(args, outs)
        ]
        for proc in procs:
            proc.start()
        results = []
        for proc, out in zip(procs, outs):
            proc.join(600)
            try:
                results.append(json.loads(Path(out).read_text(encoding="utf8")))
            except FileNotFoundError:
                results.append({"error": f"exit code {proc.exitcode}"})
    return results


def concurrency_rounds(work: Path, rounds: int, seed: int) -> ConcurrencyStats:
    import numpy as np

    import tests.test_reliability_concurrency as conc

    stats = ConcurrencyStats()
    rng = random.Random(seed)
    n = conc.N_PROCS
    for r in range(rounds):
        folder = work / f"round-{r}"
        # MapInfra: random overlapping item sets, no barrier inside the computation
        item_sets = []
        for _ in range(n):
            start = rng.randrange(0, 200)
            item_sets.append(list(range(start, start + rng.randrange(20, 120))))
        results = _run_tolerant(
            "map_worker",
            [[str(folder / "map"), items, str(folder / "sync-map"), False] for items in item_sets],
        )
        stats.processes += n
        for items, result in zip(item_sets, results):
            if "error" in result:
                stats.map_failed_calls += 1
                stats.problems.append(f"round {r}: map call failed: {result['error'][-300:]}")
            elif result["ok"] != [int(conc.expected_output(i).sum()) for i in items]:
                stats.losses += 1
                stats.problems.append(f"round {r}: a process got wrong map outputs")
        all_items = sorted({i for items in item_sets for i in items})
        stats.map_items += len(all_items)
        feats = conc.Features(infra={"folder": folder / "map", "mode": "read-only"})
        computed = {i for items, res in zip(item_sets, results) if "ok" in res for i in items}
        try:
            outputs = list(feats.process(sorted(computed)))
        except Exception as e:
            stats.losses += 1
            stats.problems.append(f"round {r}: computed items not all readable: {e!r}")
        else:
            for item, out in zip(sorted(computed), outputs):
                if not np.array_equal(out, conc.expected_output(item)):
                    stats.losses += 1
                    stats.problems.append(f"round {r}: wrong value for item {item}")
        # TaskInfra: a random token per computation, all processes at once
        results = _run_tolerant(
            "task_worker", [[str(folder / "task"), str(folder / "sync-task"), True, False]] * n
        )
        stats.processes += n
        try:
            cached = conc.Once(
                seed=3, unique=True, infra={"folder": folder / "task", "mode": "read-only"}
            ).run()
        except Exception as e:
            stats.losses += 1
            stats.problems.append(f"round {r}: no cached task result: {e!r}")
            cached = {"token": None}
        for result in results:
            if "error" in result:
                stats.losses += 1
                stats.problems.append(f"round {r}: task call failed: {result['error'][-300:]}")
            elif result["ok"]["token"] != cached["token"]:
                stats.task_disagreements += 1
        shutil.rmtree(folder, ignore_errors=True)
        stats.rounds += 1
    return stats


@dataclasses.dataclass
class OnceStats:
    rounds: int = 0
    processes: int = 0
    map_items: int = 0
    map_executions: int = 0  # completed computations of an item
    task_executions: int = 0
    duplicates: int = 0  # items (or task uids) computed to completion twice: must stay 0
    kills: int = 0
    killed_in_flight: int = 0  # items started by a killed claimant, recomputed by others
    losses: int = 0  # wrong or missing values, failed processes: must stay 0
    problems: list[str] = dataclasses.field(default_factory=list)


def once_rounds(work: Path, rounds: int, seed: int) -> OnceStats:
    import collections
    import signal

    import tests.test_claims as tc

    stats = OnceStats()
    rng = random.Random(seed)
    n = 6

    def finish(procs: list[tp.Any], r: int, what: str) -> None:
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            if proc.returncode != 0 or '"ok"' not in out:
                stats.losses += 1
                stats.problems.append(f"round {r}: {what} process failed: {err[-300:]}")

    def done_lines(log: Path) -> list[str]:
        return [ln for ln in log.read_text().splitlines() if ln.startswith("done")]

    for r in range(rounds):
        folder = work / f"once-{r}"
        # MapInfra: 6 random overlapping ranges (the workers check their own values)
        ranges = []
        for _ in range(n):
            start = rng.randrange(0, 100)
            ranges.append((start, start + rng.randrange(20, 80)))
        log = folder / "map.txt"
        procs = [
            tc._spawn(
                f"map_worker({str(folder / 'c')!r}, {str(log)!r}, {str(folder / 'b')!r}, "
                f"{n}, {a}, {b})"
            )
            for a, b in ranges
        ]
        finish(procs, r, "map")
        items = [int(ln.split()[1]) for ln in done_lines(log)]
        distinct = {i for a, b in ranges for i in range(a, b)}
        stats.map_items += len(distinct)
        stats.map_executions += len(items)
        stats.duplicates += len(items) - len(set(items))
        if set(items) != distinct:
            stats.losses += 1
            stats.problems.append(f"round {r}: computed items differ from requested ones")
        # TaskInfra: 6 processes on one uid
        log = folder / "task.txt"
        procs = [
            tc._spawn(
                f"task_worker({str(folder / 'c')!r}, {str(log)!r}, {str(folder / 'bt')!r}, "
                f"{n}, 0.5)"
            )
            for _ in range(n)
        ]
        finish(procs, r, "task")
        execs = len(done_lines(log))
        stats.task_executions += execs
        stats.duplicates += max(0, execs - 1)
        # a claimant SIGKILLed at a random point while 2 others wait for its items
        log = folder / "kill.txt"
        first = tc._spawn(
            f"map_worker({str(folder / 'k')!r}, {str(log)!r}, {str(folder / 'bk1')!r}, 1, 0, 60)"
        )
        tc._wait_for(log, "start", 1)  # the first process is the claimant
        others = [
            tc._spawn(
                f"map_worker({str(folder / 'k')!r}, {str(log)!r}, {str(folder / 'bk2')!r}, "
                f"2, 0, 60)"
            )
            for _ in range(2)
        ]
        tc._wait_for(log, "done", rng.randrange(1, 30))
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        stats.kills += 1
        finish(others, r, "takeover")
        lines = log.read_text().splitlines()
        killed = {ln.split()[1] for ln in lines if ln.endswith(f" {first.pid}")}
        done_by = collections.Counter(ln.split()[1] for ln in lines if ln.startswith("done"))
        started_by_killed = {
            ln.split()[1] for ln in lines if ln.startswith("start") and ln.endswith(f" {first.pid}")
        }
        finished_by_killed = {
            ln.split()[1] for ln in lines if ln.startswith("done") and ln.endswith(f" {first.pid}")
        }
        stats.killed_in_flight += len(started_by_killed - finished_by_killed)
        stats.duplicates += sum(c - 1 for c in done_by.values())
        if set(done_by) != {str(i) for i in range(60)}:
            stats.losses += 1
            stats.problems.append(f"round {r}: takeover left items uncomputed")
        if not killed:
            stats.problems.append(f"round {r}: the killed process had computed nothing")
        model = tc.Squares(infra={"folder": folder / "k", "mode": "read-only"})
        if list(model.process(range(60))) != [tc.value(i) for i in range(60)]:
            stats.losses += 1
            stats.problems.append(f"round {r}: wrong values after the takeover")
        stats.processes += 2 * n + 3
        stats.rounds += 1
        shutil.rmtree(folder, ignore_errors=True)
    return stats


@dataclasses.dataclass
class FuzzStats:
    cases: int = 0
    failures: int = 0
    problems: list[str] = dataclasses.field(default_factory=list)


def fuzz(work: Path, seeds: int) -> FuzzStats:
    import warnings

    import tests.test_reliability_badinput as bad

    stats = FuzzStats()
    cases = [
        bad.test_fuzzed_index_lines,
        bad.test_truncated_data_files,
        bad.test_disk_full_simulated,
    ]
    for seed in range(seeds):
        for case in cases:
            tmp = work / f"{case.__name__}-{seed}"
            tmp.mkdir(parents=True)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    case(tmp, seed)
            except Exception:
                stats.failures += 1
                stats.problems.append(f"{case.__name__}[{seed}]: {traceback.format_exc()[-500:]}")
            stats.cases += 1
            shutil.rmtree(tmp, ignore_errors=True)
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=100, help="SIGKILL iterations")
    parser.add_argument("--writers", type=int, default=2, help="writers killed per iteration")
    parser.add_argument("--max-delay", type=float, default=0.4, help="max s before a kill")
    parser.add_argument("--per-folder", type=int, default=20, help="iterations per folder")
    parser.add_argument("--rounds", type=int, default=10, help="8-process concurrency rounds")
    parser.add_argument("--once-rounds", type=int, default=3, help="compute-once rounds")
    parser.add_argument("--fuzz-seeds", type=int, default=200, help="fuzz cases per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--folder", type=Path, default=None, help="work folder (default: tmp)")
    args = parser.parse_args(argv)

    from tests.test_reliability_crash import CrashStats, crash_loop

    work = Path(tempfile.mkdtemp(prefix="exca-soak-")) if args.folder is None else args.folder
    work.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    crash = CrashStats()
    keys_checked = 0
    done = 0
    while done < args.iterations and not crash.problems:
        n = min(args.per_folder, args.iterations - done)
        folder = work / f"crash-{done}" / "cache"
        crash_loop(
            folder,
            n,
            writers=args.writers,
            max_delay=args.max_delay,
            seed=args.seed + done,
            stats=crash,
        )
        keys_checked += crash.keys
        done += n
        shutil.rmtree(folder.parent, ignore_errors=True)
        print(
            f"  crash: {crash.iterations}/{args.iterations} iterations, {crash.kills} kills, "
            f"{crash.writes} writes, losses {crash.losses}",
            flush=True,
        )
    conc = concurrency_rounds(work / "concurrency", args.rounds, args.seed)
    once = once_rounds(work / "once", args.once_rounds, args.seed)
    fz = fuzz(work / "fuzz", args.fuzz_seeds)
    elapsed = time.monotonic() - start
    losses = crash.losses + conc.losses + fz.failures + once.losses + once.duplicates
    summary = {
        "crash": {
            "iterations": crash.iterations,
            "kills": crash.kills,
            "completed_writes": crash.writes,
            "completed_deletes": crash.deletes,
            "keys_checked": keys_checked,
            "reader_reads": crash.reader_reads,
            "losses": crash.losses,
        },
        "concurrency": {
            "rounds": conc.rounds,
            "processes": conc.processes,
            "map_items": conc.map_items,
            "map_failed_calls": conc.map_failed_calls,
            "task_disagreements (known race)": conc.task_disagreements,
            "losses": conc.losses,
        },
        "once": {
            "rounds": once.rounds,
            "processes": once.processes,
            "map_items": once.map_items,
            "map_executions": once.map_executions,
            "task_executions": once.task_executions,
            "kills": once.kills,
            "killed_in_flight (recomputed)": once.killed_in_flight,
            "duplicates": once.duplicates,
            "losses": once.losses,
        },
        "fuzz": {"cases": fz.cases, "failures": fz.failures},
        "losses": losses,
        "seconds": round(elapsed),
    }
    print("\nexca soak summary")
    for part, values in summary.items():
        if isinstance(values, dict):
            print(f"  {part}: " + ", ".join(f"{k}={v}" for k, v in values.items()))
        else:
            print(f"  {part}: {values}")
    for problem in (crash.problems + conc.problems + once.problems + fz.problems)[:20]:
        print("  PROBLEM:", problem)
    if args.folder is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if losses or conc.map_failed_calls else 0


if __name__ == "__main__":
    sys.exit(main())
