"""The ``exca`` command (also ``python -m exca``): a thin layer over :mod:`exca.inspect`.

Tables on a terminal (with colours, unless ``NO_COLOR`` is set), tab-separated lines
otherwise, ``--json`` for scripts.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import textwrap
import time
import typing as tp

from . import inspect

__all__ = ["main", "parser"]

_COLORS = {
    "completed": "32",
    "computed": "32",
    "cached": "36",
    "failed": "31",
    "damaged": "31",
    "running": "33",
    "pending": "33",
}


def human_size(n: int) -> str:
    """``1536`` -> ``1.5K`` (binary units, like ``du -h``)."""
    size = float(n)
    for unit in ("B", "K", "M", "G", "T"):
        if size < 1024 or unit == "T":
            return f"{size:.0f}{unit}" if unit == "B" else f"{size:.1f}{unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _ago(t: float | None) -> str:
    if t is None:
        return "-"
    delta = max(0.0, time.time() - t)
    for unit, seconds in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= seconds:
            return f"{delta / seconds:.0f}{unit} ago"
    return f"{delta:.0f}s ago"


def table(head: list[str], rows: list[list[str]], tty: bool, color_col: int | None = None) -> str:
    """Aligned columns (with colours) on a terminal, tab-separated lines otherwise."""
    if not tty:
        return "\n".join("\t".join(r) for r in [head, *rows])
    widths = [max(len(r[k]) for r in [head, *rows]) for k in range(len(head))]
    color = not os.environ.get("NO_COLOR")  # https://no-color.org
    if not color:
        color_col = None
    bold = "\033[1m{}\033[0m" if color else "{}"
    lines = ["  ".join(bold.format(f"{h:<{w}}") for h, w in zip(head, widths)).rstrip()]
    for row in rows:
        cells = []
        for k, (cell, w) in enumerate(zip(row, widths)):
            text = f"{cell:<{w}}"
            code = _COLORS.get(cell.split(" ")[0]) if k == color_col else None
            cells.append(f"\033[{code}m{text}\033[0m" if code else text)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def _dump(data: tp.Any) -> str:
    return json.dumps(data, indent=2, default=str)


# # # # # subcommands # # # # #


def cmd_ls(args: argparse.Namespace, tty: bool) -> str:
    entries = inspect.ls(
        args.folder,
        failed=args.failed,
        running=args.running,
        older_than=args.older_than,
        larger_than=args.larger_than,
        sort=args.sort,
        jobs=not args.no_jobs,
    )
    if args.json:
        return _dump([e.to_dict() for e in entries])
    rows = []
    for e in entries:
        state: str = e.state
        if e.slurm_state and e.state in ("running", "pending", "failed"):
            state += f" ({e.slurm_state})"
        rows.append(
            [
                e.method or "-",
                e.version or "-",
                e.uid,
                state,
                str(e.items),
                human_size(e.size),
                _ago(e.last_use),
                e.job_id or "-",
            ]
        )
    head = ["method", "version", "uid", "state", "items", "size", "last use", "job"]
    out = table(head, rows, tty, color_col=3)
    if tty:  # a summary per method folder first
        summary = [
            [
                m["method"] or "-",
                m["version"] or "-",
                str(m["entries"]),
                ", ".join(f"{n} {state}" for state, n in sorted(m["states"].items())),
                str(m["items"]),
                human_size(m["size"]),
                _ago(m["last_use"]),
            ]
            for m in inspect.by_method(entries)
        ]
        heads = ["method", "version", "entries", "states", "items", "size", "last use"]
        total = sum(e.size for e in entries)
        out = f"{table(heads, summary, tty)}\n\n{out}\n{len(entries)} entries, {human_size(total)}"
    return out


def cmd_show(args: argparse.Namespace, tty: bool) -> str:
    info = inspect.show(args.uid_folder, tail=args.tail)
    if args.json:
        return _dump(info)
    color = tty and not os.environ.get("NO_COLOR")
    bold = (lambda s: f"\033[1m{s}\033[0m") if color else (lambda s: s)
    lines = [
        f"{bold('folder')}     {info['path']}",
        f"{bold('method')}     {info['method'] or '-'} (version {info['version'] or '-'})",
        f"{bold('state')}      {info['state']}"
        + (f" ({info['items']} items)" if info["kind"] == "map" else ""),
        f"{bold('size')}       {human_size(info['size'])}, last use {_ago(info['last_use'])}",
    ]
    if info["job_id"]:
        lines.append(f"{bold('job')}        {info['job_id']} (Slurm: {info['slurm_state'] or '-'})")
    if info.get("problem"):
        lines.append(f"{bold('damaged')}    {info['problem']}")
    error = info.get("error")
    if error:
        head = f"{error['type']}: {error['message']}" if error["type"] else error["message"]
        lines.append(f"{bold('error')}      {textwrap.indent(head, ' ' * 11).lstrip()}")
        if error["ran_by"]:
            lines.append(f"{bold('ran by')}     {error['ran_by']}")
        if error["source"]:
            lines.append(f"{bold('recorded')}   {error['source']}")
    if info.get("result"):
        described = ", ".join(f"{k}={v}" for k, v in info["result"].items())
        lines.append(f"{bold('result')}     {described}")
    if info.get("formats"):
        lines.append(
            f"{bold('formats')}    " + ", ".join(f"{k}: {v}" for k, v in info["formats"].items())
        )
    if info["rebuild"]:
        lines.append(f"{bold('rebuild')}    {info['rebuild']}")
    for key, title in (("uid_config", "uid config"), ("config", "full config")):
        if info[key]:
            lines += ["", bold(f"{title}:"), textwrap.indent(info[key].rstrip(), "  ")]
    for name in ("stdout", "stderr"):
        if info[name]:
            lines += ["", bold(f"{name}: {info[name]}")]
            if info[f"{name}_tail"]:
                lines.append(textwrap.indent(info[f"{name}_tail"], "  "))
    if info["traceback"]:
        lines += ["", bold("traceback:"), textwrap.indent(info["traceback"].rstrip(), "  ")]
    return "\n".join(lines)


def _sweep_text(report: inspect.SweepReport, tty: bool) -> str:
    names: list[str] = []
    for job in report.jobs:
        if isinstance(job.value, dict):
            names += [k for k in job.value if k not in names]
        elif job.value is not None and "value" not in names:
            names.append("value")
    params = report.swept
    rows = []
    for job in report.jobs:
        values = job.value if isinstance(job.value, dict) else {"value": job.value}
        row = [f"#{job.idx}", *(job.params.get(p, "") for p in params), job.state]
        row += [f"{values[n]:.6g}" if values.get(n) is not None else "" for n in names]
        row += [
            "" if job.duration is None else f"{job.duration:.1f}s",
            job.uid or "-",
            job.job_id or "-",
            job.error or "",
        ]
        rows.append(row)
    head = ["job", *params, "state", *names, "duration", "uid", "job id", "error"]
    out = table(head, rows, tty, color_col=1 + len(params))
    if tty:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(report.counts.items()))
        status = "done" if report.done else "in progress"
        out += f"\n{len(report.jobs)} jobs: {counts} ({status})"
    return out


def cmd_sweep(args: argparse.Namespace, tty: bool) -> str:
    report = inspect.sweep(args.sweep_dir)
    while args.watch and not report.done:
        text = _sweep_text(report, tty)
        if tty:
            sys.stdout.write("\033[2J\033[H")
        now = datetime.datetime.now().strftime("%H:%M:%S")
        sys.stdout.write(f"{text}\n[{now}] refreshing every {args.interval:g}s (Ctrl-C stops)\n")
        sys.stdout.flush()
        time.sleep(args.interval)
        report = inspect.sweep(args.sweep_dir)
    if args.html:
        path = inspect.sweep_html(report, args.html)
        sys.stderr.write(f"report written to {path}\n")
    if args.json:
        return _dump(report.to_dict())
    return _sweep_text(report, tty)


def cmd_clean(args: argparse.Namespace, tty: bool) -> str:
    report = inspect.clean(
        args.folder,
        failed=args.failed,
        older_than=args.older_than,
        max_size=args.max_size,
        dry_run=args.dry_run,
    )
    if args.json:
        return _dump(report.to_dict())
    verb = "would remove" if report.dry_run else "removed"
    rows = [
        [
            verb,
            f"{e.method},{e.version}" if e.method else "-",
            e.uid,
            e.state,
            human_size(e.size),
            "",
        ]
        for e in report.removed
    ]
    rows += [
        [
            "kept (in use)",
            f"{e.method},{e.version}" if e.method else "-",
            e.uid,
            e.state,
            human_size(e.size),
            why,
        ]
        for e, why in report.kept_in_use
    ]
    lines = (
        [table(["action", "method", "uid", "state", "size", "reason"], rows, tty)] if rows else []
    )
    lines.append(
        f"{verb} {len(report.removed)} entries, freeing {human_size(report.freed)} of "
        f"{human_size(report.total_before)}; {len(report.kept_in_use)} kept in use"
        + (" (dry run: nothing removed)" if report.dry_run else "")
    )
    return "\n".join(lines)


# # # # # parser # # # # #

_EPILOGS = {
    "ls": """examples:
  exca ls /cache                          every uid folder of a cache
  exca ls /cache --failed                 what failed
  exca ls /cache --running                jobs pending or running (with Slurm state)
  exca ls /cache --older-than 30d --larger-than 1G --sort size
  exca ls /cache --json | jq '.[].uid'""",
    "show": """examples:
  exca show /cache/mymod.Train.run,1/lr=0.1-3f2a1b9c
  exca show /cache/mymod.Train.run,1/lr=0.1-3f2a1b9c --tail 50 --json""",
    "sweep": """examples:
  exca sweep multirun/2026-01-01/12-00-00
  exca sweep multirun/2026-01-01/12-00-00 --watch          refresh until the sweep ends
  exca sweep multirun/2026-01-01/12-00-00 --html report.html   (pip install 'exca[report]')
  exca sweep multirun/2026-01-01/12-00-00 --json""",
    "clean": """examples:
  exca clean /cache --failed --dry-run    what would be removed
  exca clean /cache --older-than 90d      entries not used for 90 days
  exca clean /cache --max-size 500G       least recently used first, until it fits

never removed: an entry whose job is pending or running, whose lock is held, or that a
link leads to from outside the folder; each entry disappears at once (renamed, then
deleted).""",
}


def parser() -> argparse.ArgumentParser:
    """The ``exca`` argument parser."""
    main = argparse.ArgumentParser(
        prog="exca",
        description="See what is in an exca cache folder or sweep, and free space safely.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="run 'exca <command> --help' for the options and examples of a command",
    )
    from . import __version__

    main.add_argument("--version", action="version", version=f"exca {__version__}")
    subs = main.add_subparsers(dest="command", required=True, metavar="command")

    def sub(name: str, help: str) -> argparse.ArgumentParser:
        p = subs.add_parser(
            name,
            help=help,
            description=help,
            epilog=_EPILOGS[name],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.add_argument("--json", action="store_true", help="print JSON (for scripts)")
        return p

    p = sub("ls", "list the entries (uid folders) of a cache folder")
    p.add_argument("folder", nargs="?", default=".", help="cache, method or uid folder (default .)")
    p.add_argument("--failed", action="store_true", help="only failed (and damaged) entries")
    p.add_argument("--running", action="store_true", help="only pending or running jobs")
    p.add_argument("--older-than", metavar="AGE", help="only entries not used for AGE (eg 30d)")
    p.add_argument("--larger-than", metavar="SIZE", help="only entries of at least SIZE (eg 1G)")
    p.add_argument("--sort", default="name", choices=["name", "size", "last-use", "items", "state"])
    p.add_argument(
        "--no-jobs", action="store_true", help="do not ask the state of recorded jobs (faster)"
    )
    p.set_defaults(func=cmd_ls)

    p = sub("show", "everything about one uid folder: config, job, logs, error, result")
    p.add_argument("uid_folder")
    p.add_argument("--tail", type=int, default=20, help="lines of stdout/stderr (default 20)")
    p.set_defaults(func=cmd_show)

    p = sub("sweep", "the jobs of a Hydra sweep run with an exca launcher")
    p.add_argument("sweep_dir", help="the sweep directory (hydra.sweep.dir)")
    p.add_argument("--watch", action="store_true", help="refresh until no job is running")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between refreshes")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.set_defaults(func=cmd_sweep)

    p = sub("clean", "remove failed, old or least recently used entries (never one in use)")
    p.add_argument("folder")
    p.add_argument("--failed", action="store_true", help="remove failed entries")
    p.add_argument("--older-than", metavar="AGE", help="remove entries not used for AGE")
    p.add_argument("--max-size", metavar="SIZE", help="remove LRU entries until under SIZE")
    p.add_argument("--dry-run", action="store_true", help="only say what would be removed")
    p.set_defaults(func=cmd_clean)
    return main


def main(argv: tp.Sequence[str] | None = None) -> int:
    """Runs the command; returns the exit code (2 on bad input, with a message)."""
    args = parser().parse_args(argv)
    tty = sys.stdout.isatty()
    try:
        out = args.func(args, tty)
    except (FileNotFoundError, ValueError) as e:
        sys.stderr.write(f"exca {args.command}: error: {e}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    sys.stdout.write(out + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
