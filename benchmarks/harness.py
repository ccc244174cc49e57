"""Benchmark harness: time this repo's ``exca`` against the reference release and baselines.

A benchmark file (``benchmarks/bench_*.py``) declares a list of :class:`Case` and calls
:func:`main`. Each case has up to three *sides*, timed in the same run and interleaved
round by round (ours, reference, baseline, then the reverse order, ...):

- ``ours``: this repository's ``exca`` (the repo root is put first on ``sys.path``),
  run by the project's ``.venv`` python;
- ``reference``: ``exca==0.6.0`` from PyPI, installed by this harness in its own virtual
  environment ``benchmarks/.venv-ref`` (created on first use, reused afterwards), run with
  a working directory outside the repo and nothing of the repo on ``sys.path``;
- ``baseline``: plain Python (or any library of the project's venv) doing comparable work.

A side is either a :class:`Snippet` (``setup`` run once, then ``stmt`` timed in a loop
inside one long-lived worker process) or a :class:`Script` (code run from scratch in a
fresh process once per repeat, which reports its own timings with ``timed(name)`` blocks).
Every worker checks that any ``exca`` it imported comes from where its side expects.

The harness prints a markdown table of medians and ``reference / ours`` ratios and writes
the raw timings as JSON under ``benchmarks/results/``. It never asserts timings.

This file is also the worker: ``python -I harness.py --worker`` (snippets) and
``python -I harness.py --stage CONFIG.json`` (scripts); it imports only the standard library
at top level so that the reference interpreter can run it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import typing as tp
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
REF_VENV = BENCH_DIR / ".venv-ref"
RESULTS_DIR = BENCH_DIR / "results"
REFERENCE_REQUIREMENTS: tuple[str, ...] = ("exca==0.6.0",)
"""What ``benchmarks/.venv-ref`` holds: the reference release, pinned."""

SIDES: tuple[str, ...] = ("ours", "reference", "baseline")
Side = tp.Literal["ours", "reference", "baseline"]
EnvName = tp.Literal["ours", "reference"]
_STAMP = ".bench-requirements"
_SCRUBBED_ENV = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONFDICT_UID_VERSION")


# ---------------------------------------------------------------------------
# Public API: what a benchmark file declares
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Snippet:
    """In-process micro-benchmark: ``setup`` runs once, then ``stmt`` is timed in a loop.

    Both run in the namespace of one module (``setup`` is written to a real file, so
    classes defined there have a proper ``__module__`` and source). The reported time is
    per execution of ``stmt``. If ``setup`` defines ``CHECK``, its ``repr`` must be equal
    on every side that defines it, otherwise the row is flagged (same-work guard). ``env`` picks the interpreter: by default ``ours`` and
    ``baseline`` sides run in the project's venv and the ``reference`` side in the
    reference venv; set ``env="reference"`` for a baseline needing a package installed
    there (see ``extra_requirements`` of :func:`main`).
    """

    stmt: str
    setup: str = ""
    env: EnvName | None = None


@dataclasses.dataclass(frozen=True, init=False)
class Script:
    """Heavy benchmark: ``stages`` run one after the other, each in a fresh process.

    All stages of one repeat share a fresh, empty working directory (also in the
    environment variable ``BENCH_WORKDIR``), so stage 1 can write files that stage 2
    reads in a new process; the directory is deleted after the repeat. Stage code
    measures itself with two injected globals::

        with timed("write"):       # elapsed seconds added to metric "write"
            ...
        record("peak_mb", 12.5)    # any number under a metric name (summed if repeated)

    Each metric becomes one table row ``"<case> — <metric>"``. ``BENCH_SIDE`` holds the
    side name (``ours``/``reference``/``baseline``). ``timeout`` is per stage, in seconds.
    """

    stages: tuple[str, ...]
    env: EnvName | None = None
    timeout: float = 600.0

    def __init__(self, *stages: str, env: EnvName | None = None, timeout: float = 600.0) -> None:
        if not stages:
            raise ValueError("Script needs at least one stage")
        object.__setattr__(self, "stages", tuple(stages))
        object.__setattr__(self, "env", env)
        object.__setattr__(self, "timeout", timeout)

    @classmethod
    def from_file(cls, *paths: str | Path, env: EnvName | None = None) -> Script:
        """A script whose stages are the contents of the given files."""
        return cls(*(Path(p).read_text() for p in paths), env=env)


Runnable = Snippet | Script


@dataclasses.dataclass(frozen=True)
class Case:
    """One line of the table (or one per metric for scripts): the same work on each side.

    A side left to ``None`` shows as ``—``. ``repeats`` overrides the run's default
    number of rounds (handy for heavy scripts). All given sides must be of the same
    kind (all snippets or all scripts).
    """

    name: str
    ours: Runnable | None = None
    reference: Runnable | None = None
    baseline: Runnable | None = None
    repeats: int | None = None

    def sides(self) -> dict[str, Runnable]:
        """The sides this case defines, in table order."""
        found = {s: getattr(self, s) for s in SIDES if getattr(self, s) is not None}
        kinds = {type(r) for r in found.values()}
        if len(kinds) > 1:
            raise TypeError(f"case {self.name!r} mixes Snippet and Script sides")
        return found


@dataclasses.dataclass
class Row:
    """Timings of one table row: per side, a list of samples (seconds) or an error."""

    name: str
    samples: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    mismatch: str = ""  # set when sides' CHECK values differ
    unit: str = "s"  # "s" values are formatted as durations

    def median(self, side: str) -> float | None:
        """Median of a side's samples, None if absent or failed."""
        values = self.samples.get(side)
        if not values or side in self.errors:
            return None
        return statistics.median(values)

    def ratio(self) -> float | None:
        """``median(reference) / median(ours)``: > 1 means ours is faster."""
        ours, ref = self.median("ours"), self.median("reference")
        if ours is None or ref is None or ours <= 0:
            return None
        return ref / ours


@dataclasses.dataclass
class Options:
    """Run settings (all settable from the command line of a benchmark file)."""

    repeats: int = 15
    target: float = 0.05  # seconds per snippet sample (loop count is calibrated to it)
    warmup: float = 0.2  # seconds of untimed snippet runs before sampling
    only: str = ""  # run only cases whose name contains this
    sides: tuple[str, ...] = SIDES
    json_path: Path | None = None


# ---------------------------------------------------------------------------
# Interpreters
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Env:
    """An interpreter to run a side in, and where its ``exca`` must come from."""

    name: str
    python: Path
    sys_path: tuple[str, ...]  # prepended to sys.path in the worker
    exca_dir: Path  # any imported exca must live under this directory
    exca_version: str | None = None  # if set, importlib.metadata version to check


def ours_env() -> Env:
    """This repository's exca, run by the project's .venv python."""
    venv_python = REPO / ".venv" / "bin" / "python"
    python = venv_python if venv_python.exists() else Path(sys.executable)
    return Env("ours", python, (str(REPO),), REPO / "exca")


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def ensure_reference_venv(extra_requirements: tp.Sequence[str] = ()) -> Env:
    """Create (once) ``benchmarks/.venv-ref`` with exca==0.6.0 (+ extras) and return it.

    Reuses the venv when its stamp file already lists every requested requirement; the
    pinned reference requirement is passed to every ``pip install`` so extras cannot
    move it.
    """
    python = REF_VENV / "bin" / "python"
    stamp = REF_VENV / _STAMP
    wanted = list(dict.fromkeys([*REFERENCE_REQUIREMENTS, *extra_requirements]))
    have = set(stamp.read_text().split()) if stamp.exists() and python.exists() else set()
    missing = [r for r in wanted if r not in have]
    with tempfile.TemporaryDirectory(prefix="exca-bench-") as tmp:
        if missing:
            if not python.exists():
                _log(f"[bench] creating reference venv {REF_VENV}")
                subprocess.run([sys.executable, "-m", "venv", str(REF_VENV)], check=True)
            _log(f"[bench] installing into reference venv: {' '.join(missing)}")
            cmd = [str(python), "-m", "pip", "install", "-q", *REFERENCE_REQUIREMENTS, *missing]
            pip = subprocess.run(cmd, cwd=tmp, env=_clean_env(), capture_output=True, text=True)
            if pip.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed:\n{pip.stdout}{pip.stderr}")
            stamp.write_text("\n".join(sorted(have | set(wanted))) + "\n")
        version = REFERENCE_REQUIREMENTS[0].partition("==")[2] or None
        env = Env("reference", python, (), REF_VENV.resolve(), version)
        # sanity check: the reference must import from its venv, not from the repo
        check = "import exca; print(exca.__file__)"
        out = subprocess.run(
            [str(python), "-I", "-c", check],
            cwd=tmp,
            env=_clean_env(),
            capture_output=True,
            text=True,
        )
        where = Path(out.stdout.strip() or "?").resolve()
        if out.returncode != 0 or not where.is_relative_to(env.exca_dir):
            raise RuntimeError(f"reference venv {REF_VENV} is broken:\n{out.stdout}{out.stderr}")
    return env


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
    env.update(extra)
    return env


# ---------------------------------------------------------------------------
# Worker side (runs under either interpreter; standard library only)
# ---------------------------------------------------------------------------


def _check_exca(config: dict[str, tp.Any], required: bool) -> str | None:
    """Import-origin check shared by snippet and script workers."""
    if required:
        import exca  # noqa: F401  # imported to check where it comes from
    module = sys.modules.get("exca")
    if module is None:
        return None
    where = Path(module.__file__ or "?").resolve()
    expected = Path(config["exca_dir"])
    if not where.is_relative_to(expected):
        raise RuntimeError(f"exca imported from {where}, expected under {expected}")
    if config.get("exca_version"):
        from importlib import metadata

        found = metadata.version("exca")
        if found != config["exca_version"]:
            raise RuntimeError(f"exca {found} imported, expected {config['exca_version']}")
    return str(where)


def _worker() -> None:
    """Snippet worker: line-delimited JSON requests on stdin, responses on the original stdout.

    Anything the snippet prints goes to stderr, so it cannot corrupt the protocol.
    """
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    def reply(**msg: tp.Any) -> None:
        proto.write(json.dumps(msg) + "\n")
        proto.flush()

    inner: tp.Callable[[int], float] | None = None
    number = 1
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "init":
                inner, number, info = _worker_init(request)
                reply(ok=True, number=number, **info)
            elif request["op"] == "run":
                assert inner is not None, "run before init"
                times = []
                for _ in range(request["repeats"]):
                    times.append(inner(number) / number)
                reply(ok=True, times=times)
            else:
                return
        except BaseException:
            reply(ok=False, error=traceback.format_exc())
            return


def _worker_init(
    config: dict[str, tp.Any],
) -> tuple[tp.Callable[[int], float], int, dict[str, tp.Any]]:
    import gc
    import importlib.util
    import textwrap

    sys.path[:0] = config["sys_path"]
    _check_exca(config, config["require_exca"])
    path = Path(config["workdir"]) / "bench_case.py"
    stmt = textwrap.indent(textwrap.dedent(config["stmt"]).strip() or "pass", " " * 8)
    inner_src = (
        "\n\ndef __bench_inner(__n):\n"
        "    __t0 = __perf_counter()\n"
        "    for __i in range(__n):\n"
        f"{stmt}\n"
        "    return __perf_counter() - __t0\n"
    )
    path.write_text(textwrap.dedent(config["setup"]) + inner_src)
    spec = importlib.util.spec_from_file_location("bench_case", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__dict__["__perf_counter"] = time.perf_counter
    sys.modules["bench_case"] = module
    spec.loader.exec_module(module)
    inner: tp.Callable[[int], float] = module.__dict__["__bench_inner"]
    # calibrate: smallest loop count whose run takes at least `target` seconds
    number, target = 1, float(config["target"])
    elapsed = inner(1)  # first call: surfaces errors, warms caches
    while elapsed < target:
        scale = target / max(elapsed, 1e-9)
        number = max(number + 1, min(number * 10, int(number * scale * 1.2) + 1))
        elapsed = inner(number)
    deadline = time.perf_counter() + float(config["warmup"])
    while time.perf_counter() < deadline:
        inner(number)
    gc.collect()
    info = {
        "exca": _check_exca(config, config["require_exca"]),
        "python": platform.python_version(),
    }
    if "CHECK" in module.__dict__:
        info["check"] = repr(module.__dict__["CHECK"])
    return inner, number, info


class _Timings:
    """The ``timed``/``record`` helpers injected into script stages."""

    def __init__(self) -> None:
        self.metrics: dict[str, float] = {}
        self.units: dict[str, str] = {}

    def record(self, name: str, value: float, unit: str = "s") -> None:
        """Add ``value`` to metric ``name`` (shown in ``unit``; "s" is formatted as a time)."""
        self.metrics[name] = self.metrics.get(name, 0.0) + float(value)
        self.units[name] = unit

    @contextlib.contextmanager
    def timed(self, name: str) -> tp.Iterator[None]:
        """Add the wall-clock seconds spent in the block to metric ``name``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.record(name, time.perf_counter() - t0)


def _stage(config_path: str) -> None:
    """Script stage: run one stage file with ``timed``/``record``, write metrics as JSON."""
    import runpy

    config = json.loads(Path(config_path).read_text())
    sys.path[:0] = config["sys_path"]
    if config["require_exca"]:
        _check_exca(config, True)
    timings = _Timings()
    runpy.run_path(
        config["stage_file"],
        init_globals={"timed": timings.timed, "record": timings.record},
        run_name="__main__",
    )
    exca = _check_exca(config, False)
    result = {"metrics": timings.metrics, "units": timings.units, "exca": exca}
    Path(config["out"]).write_text(json.dumps(result))


# ---------------------------------------------------------------------------
# Driver side
# ---------------------------------------------------------------------------


class _SnippetWorker:
    """A long-lived worker process timing one snippet on one side."""

    def __init__(self, env: Env, snippet: Snippet, side: str, opts: Options) -> None:
        self.side = side
        self._tmp = tempfile.TemporaryDirectory(prefix=f"exca-bench-{side}-")
        self._stderr = open(Path(self._tmp.name) / "stderr.txt", "w+")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [str(env.python), "-I", str(Path(__file__).resolve()), "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=self._tmp.name,
            env=_clean_env(BENCH_SIDE=side),
            text=True,
        )
        self.info = self._ask(
            op="init",
            sys_path=list(env.sys_path),
            exca_dir=str(env.exca_dir),
            exca_version=env.exca_version,
            require_exca=side != "baseline",
            workdir=self._tmp.name,
            setup=snippet.setup,
            stmt=snippet.stmt,
            target=opts.target,
            warmup=opts.warmup,
        )

    def _ask(self, **request: tp.Any) -> dict[str, tp.Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            pass
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self._stderr.seek(0)
            raise RuntimeError(
                f"{self.side} worker died (exit {self.proc.returncode}):\n{self._stderr.read()}"
            )
        answer: dict[str, tp.Any] = json.loads(line)
        if not answer.pop("ok"):
            raise RuntimeError(answer["error"])
        return answer

    def run(self, repeats: int) -> list[float]:
        """Time ``repeats`` samples; each is seconds per ``stmt`` execution."""
        times: list[float] = self._ask(op="run", repeats=repeats)["times"]
        return times

    def close(self) -> None:
        """Stop the worker and remove its directory."""
        if self.proc.poll() is None:
            with contextlib.suppress(BrokenPipeError, OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        self._tmp.cleanup()


def _short_error(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _round_order(sides: list[str], round_index: int) -> list[str]:
    """ABAB interleaving: alternate the order of the sides every round."""
    return sides if round_index % 2 == 0 else sides[::-1]


def _run_snippets(
    case: Case, runnables: dict[str, Snippet], envs: dict[str, Env], opts: Options
) -> list[Row]:
    row = Row(case.name)
    workers: dict[str, _SnippetWorker] = {}
    try:
        for side, snippet in runnables.items():  # sequential: calibration needs a quiet CPU
            try:
                workers[side] = _SnippetWorker(
                    envs[snippet.env or _default_env(side)], snippet, side, opts
                )
                row.samples[side] = []
            except Exception as exc:
                row.errors[side] = _short_error(exc)
                _log(f"[bench] {case.name} / {side} failed:\n{exc}")
        checks = {s: w.info["check"] for s, w in workers.items() if "check" in w.info}
        if len(set(checks.values())) > 1:
            row.mismatch = "; ".join(f"{s}: {c[:200]}" for s, c in checks.items())
            _log(f"[bench] WARNING {case.name}: CHECK values differ: {row.mismatch}")
        for r in range(case.repeats or opts.repeats):
            for side in _round_order(list(workers), r):
                if side in row.errors:
                    continue
                try:
                    row.samples[side].extend(workers[side].run(1))
                except Exception as exc:
                    row.errors[side] = _short_error(exc)
                    _log(f"[bench] {case.name} / {side} failed:\n{exc}")
    finally:
        for worker in workers.values():
            worker.close()
    return [row]


def _run_stage(
    env: Env, side: str, code: str, index: int, workdir: Path, timeout: float
) -> tuple[dict[str, float], dict[str, str]]:
    with tempfile.TemporaryDirectory(prefix="exca-bench-stage-") as tmp:
        stage_file = Path(tmp) / f"stage_{index}.py"
        stage_file.write_text(code)
        out, config_file = Path(tmp) / "out.json", Path(tmp) / "config.json"
        config = {
            "sys_path": list(env.sys_path),
            "exca_dir": str(env.exca_dir),
            "exca_version": env.exca_version,
            "require_exca": side != "baseline",
            "stage_file": str(stage_file),
            "out": str(out),
        }
        config_file.write_text(json.dumps(config))
        proc = subprocess.run(
            [str(env.python), "-I", str(Path(__file__).resolve()), "--stage", str(config_file)],
            cwd=workdir,
            env=_clean_env(BENCH_SIDE=side, BENCH_WORKDIR=str(workdir)),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"stage {index} exited with {proc.returncode}:\n{proc.stdout}{proc.stderr}"
            )
        result = json.loads(out.read_text())
        return result["metrics"], result["units"]


def _run_scripts(
    case: Case,
    runnables: dict[str, Script],
    envs: dict[str, Env],
    opts: Options,
    trash: Path,
) -> list[Row]:
    samples: dict[str, dict[str, list[float]]] = {side: {} for side in runnables}
    errors: dict[str, str] = {}
    units: dict[str, str] = {}
    for r in range(case.repeats or opts.repeats):
        for side in _round_order(list(runnables), r):
            if side in errors:
                continue
            script = runnables[side]
            env = envs[script.env or _default_env(side)]
            try:
                # kept until the end of the run (see run())
                tmp = Path(tempfile.mkdtemp(prefix=f"{side}-", dir=trash))
                metrics: dict[str, float] = {}
                for i, code in enumerate(script.stages):
                    found, found_units = _run_stage(env, side, code, i, tmp, script.timeout)
                    units.update(found_units)
                    for name, value in found.items():
                        metrics[name] = metrics.get(name, 0.0) + value
                _settle_disk()
                if not metrics:
                    raise RuntimeError("script recorded no metric (use `with timed(name):`)")
                for name, value in metrics.items():
                    samples[side].setdefault(name, []).append(value)
            except Exception as exc:
                errors[side] = _short_error(exc)
                _log(f"[bench] {case.name} / {side} failed:\n{exc}")
    names = list(dict.fromkeys(n for side in runnables for n in samples[side])) or [""]
    rows = []
    for name in names:
        row = Row(f"{case.name} — {name}" if name else case.name, unit=units.get(name, "s"))
        for side in runnables:
            row.samples[side] = samples[side].get(name, [])
            if side in errors:
                row.errors[side] = errors[side]
        rows.append(row)
    return rows


def _settle_disk() -> None:
    """Flushes the files of the sample just run before the next sample starts, so that
    one side's write-back is not billed to the next side."""
    if hasattr(os, "sync"):
        os.sync()


def _default_env(side: str) -> EnvName:
    return "reference" if side == "reference" else "ours"


def run(
    cases: tp.Sequence[Case],
    opts: Options | None = None,
    extra_requirements: tp.Sequence[str] = (),
) -> list[Row]:
    """Run the cases (sides interleaved round by round) and return one Row per table line."""
    opts = opts or Options()
    selected = [c for c in cases if opts.only in c.name]
    envs: dict[str, Env] = {"ours": ours_env()}
    needs_ref = any(
        (r.env or _default_env(s)) == "reference"
        for c in selected
        for s, r in c.sides().items()
        if s in opts.sides
    )
    if needs_ref:
        envs["reference"] = ensure_reference_venv(extra_requirements)
    rows: list[Row] = []
    # Script samples write files in folders that are deleted only at the end of the run:
    # on some disks, deleting thousands of files slows file creation down for seconds
    # afterwards, which would be billed to whichever sample comes next.
    trash = Path(tempfile.mkdtemp(prefix="exca-bench-"))
    try:
        for case in selected:
            runnables = {s: r for s, r in case.sides().items() if s in opts.sides}
            _log(f"[bench] {case.name} ({', '.join(runnables)})")
            if all(isinstance(r, Snippet) for r in runnables.values()):
                rows.extend(_run_snippets(case, tp.cast(dict, runnables), envs, opts))
            else:
                rows.extend(_run_scripts(case, tp.cast(dict, runnables), envs, opts, trash))
    finally:
        shutil.rmtree(trash, ignore_errors=True)
    return rows


def format_time(seconds: float) -> str:
    """Human-readable duration with 3 significant digits (ns, µs, ms or s)."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def format_table(rows: tp.Sequence[Row]) -> str:
    """The markdown table: medians per side and the ``reference / ours`` ratio."""

    def cell(row: Row, side: str) -> str:
        if side in row.errors:
            return f"error: {row.errors[side][:60]}"
        value = row.median(side)
        if value is None:
            return "—"
        return format_time(value) if row.unit == "s" else f"{value:.3g} {row.unit}".strip()

    lines = [
        "| case | ours (median) | reference (median) | baseline (median) | ratio ref/ours |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        ratio = row.ratio()
        ratio_text = "—" if ratio is None else f"{ratio:.2f}x"
        cells = " | ".join(cell(row, s) for s in SIDES)
        name = f"{row.name} ⚠ CHECK differs" if row.mismatch else row.name
        lines.append(f"| {name} | {cells} | {ratio_text} |")
    return "\n".join(lines)


def _git_describe() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _parse_args(argv: tp.Sequence[str] | None, name: str) -> Options:
    parser = argparse.ArgumentParser(description=f"exca benchmark: {name}")
    parser.add_argument("--repeats", type=int, default=Options.repeats, help="rounds per case")
    parser.add_argument(
        "--target", type=float, default=Options.target, help="seconds per snippet sample"
    )
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument(
        "--sides", default=",".join(SIDES), help="comma-separated subset of ours,reference,baseline"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 rounds, short samples")
    parser.add_argument(
        "--json",
        default=str(RESULTS_DIR / f"{name}.json"),
        help="where to write raw timings ('' to skip)",
    )
    args = parser.parse_args(argv)
    sides = tuple(s for s in args.sides.split(",") if s)
    if unknown := set(sides) - set(SIDES):
        parser.error(f"unknown sides {sorted(unknown)}; pick among {SIDES}")
    opts = Options(
        repeats=args.repeats,
        target=args.target,
        only=args.only,
        sides=sides,
        json_path=Path(args.json) if args.json else None,
    )
    if args.quick:
        opts.repeats, opts.target, opts.warmup = 3, 0.005, 0.02
    return opts


def main(
    cases: tp.Sequence[Case],
    *,
    name: str,
    notes: tp.Sequence[str] = (),
    extra_requirements: tp.Sequence[str] = (),
    argv: tp.Sequence[str] | None = None,
) -> int:
    """Command-line entry point of a benchmark file: run, print the table, save JSON.

    ``name`` titles the table and names the JSON file; ``notes`` are printed under the
    table; ``extra_requirements`` are pip-installed into the reference venv (for baselines
    that need them, with ``env="reference"``). Returns the exit code: 1 if any side
    failed, else 0 (timings are never judged).
    """
    opts = _parse_args(argv, name)
    started = time.time()
    rows = run(cases, opts, extra_requirements)
    ref = REFERENCE_REQUIREMENTS[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"### {name}\n")
    print(
        f"ours: exca @ {_git_describe()} · reference: {ref} · python {platform.python_version()}"
        f" · {os.cpu_count()} cpus, load {load:.1f} · {opts.repeats} rounds, interleaved\n"
    )
    print(format_table(rows))
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    print(flush=True)
    if opts.json_path is not None:
        opts.json_path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "name": name,
            "started": started,
            "repeats": opts.repeats,
            "rows": [dataclasses.asdict(r) for r in rows],
        }
        opts.json_path.write_text(json.dumps(payload, indent=1))
    return 1 if any(r.errors or r.mismatch for r in rows) else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        _worker()
    elif sys.argv[1:2] == ["--stage"]:
        _stage(sys.argv[2])
    else:
        sys.exit("harness.py is a library (and worker); run a benchmarks/bench_*.py file")
