"""Run every ``benchmarks/bench_*.py`` in turn and print their tables.

Usage: ``.venv/bin/python benchmarks/run_all.py [--bench uid,cachedict] [bench options]``.
Options other than ``--bench`` (``--quick``, ``--repeats N``, ``--only TEXT``, ...) are
passed to every benchmark file. All tables are also saved to
``benchmarks/results/summary.md``. Exit code 1 if any benchmark failed.
"""

import argparse
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark files one after the other (never in parallel)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bench", default="", help="comma-separated names (uid for bench_uid.py); default: all"
    )
    args, passthrough = parser.parse_known_args(argv)
    files = sorted(BENCH_DIR.glob("bench_*.py"))
    if args.bench:
        wanted = {f"bench_{name.strip()}.py" for name in args.bench.split(",") if name.strip()}
        if unknown := wanted - {f.name for f in files}:
            parser.error(f"no such benchmark file(s): {sorted(unknown)}")
        files = [f for f in files if f.name in wanted]
    outputs: list[str] = []
    failed: list[str] = []
    for path in files:
        print(f"[run_all] {path.name}", file=sys.stderr, flush=True)
        proc = subprocess.Popen(
            [sys.executable, str(path), *passthrough], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # echo as it comes, keep a copy for the summary
            sys.stdout.write(line)
            sys.stdout.flush()
            lines.append(line)
        if proc.wait() != 0:
            failed.append(path.name)
        outputs.append("".join(lines))
    summary = BENCH_DIR / "results" / "summary.md"
    summary.parent.mkdir(parents=True, exist_ok=True)
    summary.write_text("\n".join(outputs))
    print(f"[run_all] tables saved to {summary}", file=sys.stderr)
    if failed:
        print(f"[run_all] with errors: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
