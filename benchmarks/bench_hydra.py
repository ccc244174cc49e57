"""Hydra sweeps: exca's sweeper and in-process launcher vs Hydra's basic pair.

A ``+x=range(N)`` multirun of a trivial task function (returns ``2 * x``), run in process
with ``hydra.main`` (interpreter start and imports are not timed; Hydra's plugin scan,
composition, the jobs' output dirs, ``.hydra/`` files and logs, and the launcher are).
Run with ``.venv/bin/python benchmarks/bench_hydra.py`` (``--help`` for options).

- *fully cached* (1,000 jobs): ours, ``hydra/sweeper=exca hydra/launcher=exca_inline``,
  runs the sweep once (untimed) to fill the cache, then the timed sweep serves the jobs
  from the cache (``exca.hydra.fast.serve``: output dir, ``.hydra/``, log file, callbacks);
  the baseline runs the same jobs with Hydra's basic sweeper and basic launcher.
- *first run* (1,000 jobs): the same sweep with an empty cache (ours also computes uids,
  writes the config dumps and caches the values).
- *10,000 jobs, fully cached*: ours only, time and peak memory (``ru_maxrss`` of the
  process: imports included).

The reference release (exca 0.6.0) has no Hydra launcher: no reference column.
"""

import sys

from harness import Case, Row, Script, run
from harness import main as harness_main

N_JOBS = 1000
BIG = 10_000

APP_SOURCE = f"""
import json
import os
import sys

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def app(cfg: DictConfig) -> int:
    return 2 * cfg.x


def sweep(name, *overrides, n={N_JOBS}):
    workdir = os.environ["BENCH_WORKDIR"]
    sys.argv = [
        "app.py",
        "-m",
        f"+x=range({{n}})",
        f"hydra.sweep.dir={{workdir}}/{{name}}",
        "hydra.job.chdir=False",
        *overrides,
    ]
    app()
    assert len(os.listdir(f"{{workdir}}/{{name}}")) >= n, "the sweep did not run"


def actions(name):
    \"\"\"How many jobs of sweep ``name`` the exca launcher ran, served, ...\"\"\"
    counts = {{}}
    with open(os.path.join(os.environ["BENCH_WORKDIR"], name, "exca-sweep.jsonl")) as f:
        for line in f:
            event = json.loads(line)
            if event.get("event") == "job":
                counts[event["action"]] = counts.get(event["action"], 0) + 1
    return counts


def peak_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

# Every stage runs the app from one script of the working directory, as a user runs a
# script: its task function is the same for the stage filling the cache and the timed one
# (the task of a script is named after the script's path; each stage is its own file).
APP = f"""
import os
import runpy

_path = os.path.join(os.environ["BENCH_WORKDIR"], "bench_app.py")
if not os.path.exists(_path):
    with open(_path, "w") as _f:
        _f.write({APP_SOURCE!r})
_app = runpy.run_path(_path, run_name="__main__")
sweep, actions, peak_mb = _app["sweep"], _app["actions"], _app["peak_mb"]
"""


def _all_served(name: str, n: int) -> str:
    """Stage code checking that every job of sweep ``name`` was served from the cache."""
    return f"""
_served = actions({name!r})
assert _served == {{"cached": {n}}}, f"not a fully cached sweep: {{_served}}"
"""


CACHE = "hydra.launcher.cache_folder=cache"  # relative to the working directory
OURS = ("hydra/sweeper=exca", "hydra/launcher=exca_inline", CACHE)

OURS_CACHED = Script(
    APP + f"sweep('fill', *{OURS!r})\n",
    APP
    + f"""
with timed("sweep"):
    sweep('cached', *{OURS!r})
"""
    + _all_served("cached", N_JOBS),
    timeout=1800,
)
OURS_FIRST = Script(
    APP
    + f"""
with timed("sweep"):
    sweep('first', *{OURS!r})
_ran = actions("first")
assert _ran == {{"run": {N_JOBS}}}, f"not a first run: {{_ran}}"
""",
    timeout=1800,
)
BASIC = Script(
    APP
    + """
with timed("sweep"):
    sweep('basic', 'hydra/sweeper=basic', 'hydra/launcher=basic')
""",
    timeout=1800,
)
OURS_BIG = Script(
    APP + f"sweep('fill', *{OURS!r}, n={BIG})\n",
    APP
    + f"""
with timed("sweep"):
    sweep('cached', *{OURS!r}, n={BIG})
record("peak_mb", peak_mb(), "MB")
"""
    + _all_served("cached", BIG),
    timeout=3600,
)

CASES = [
    Case(
        f"{N_JOBS} trivial jobs, fully cached (ours: exca sweeper + exca_inline, all hits; "
        "baseline: basic sweeper + basic launcher)",
        ours=OURS_CACHED,
        baseline=BASIC,
        repeats=3,
    ),
    Case(
        f"{N_JOBS} trivial jobs, first run (ours: exca sweeper + exca_inline, empty cache; "
        "baseline: basic sweeper + basic launcher)",
        ours=OURS_FIRST,
        baseline=BASIC,
        repeats=3,
    ),
    Case(f"{BIG} trivial jobs, fully cached (ours only)", ours=OURS_BIG, repeats=1),
]

NOTES = [
    "one Hydra multirun per sample, in process (imports and interpreter start not timed)",
    "the ratio (baseline / ours, > 1: the exca pair faster) and the exca pair's time per "
    "job are printed below the table",
    "Hydra's basic sweeper composes each job in full to validate the batch, and the basic "
    "launcher composes it again; the exca sweeper composes once per combination of "
    "config-group choices and applies each job's value overrides to a copy",
]


def main(argv: list[str] | None = None) -> int:
    """The harness's table, then ``median(basic pair) / median(exca pair)`` per case."""
    captured: list[Row] = []

    def run_and_keep(*args: object, **kwargs: object) -> list[Row]:
        rows = run(*args, **kwargs)  # type: ignore[arg-type]
        captured.extend(rows)
        return rows

    import harness

    harness.run = run_and_keep  # type: ignore[assignment]
    code = harness_main(CASES, name="hydra", notes=NOTES, argv=argv)
    print("| case | basic pair / exca pair (medians) | exca ms per job |\n|---|---:|---:|")
    for row in captured:
        ours, base = row.median("ours"), row.median("baseline")
        ratio = f"{base / ours:.2f}" if ours and base else "—"
        n = BIG if row.name.startswith(str(BIG)) else N_JOBS
        per_job = f"{1000 * ours / n:.1f}" if ours and "peak_mb" not in row.name else "—"
        print(f"| {row.name} | {ratio} | {per_job} |")
    return code


if __name__ == "__main__":
    sys.exit(main())
