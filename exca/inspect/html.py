"""The HTML report of a sweep (:func:`sweep_html`): one self-contained page.

Plots are drawn by matplotlib (the ``report`` extra) as inline SVG; the table is sorted
by a few lines of inline JavaScript. The page loads nothing from the network.
"""

from __future__ import annotations

import datetime
import html
import io
import typing as tp
from pathlib import Path

from .sweep import SweepJob, SweepReport

__all__ = ["render", "sweep_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
th { background: #f0f0f0; cursor: pointer; user-select: none; }
th.asc::after { content: " \\25B2"; } th.desc::after { content: " \\25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { background: #fde8e8; } tr.running td, tr.pending td { background: #fff7dd; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; }
.plots figure { margin: 0; }
"""

_SCRIPT = """
document.querySelectorAll("table.sortable th").forEach(function (th, col) {
  th.addEventListener("click", function () {
    var table = th.closest("table"), body = table.tBodies[0];
    var asc = !th.classList.contains("asc");
    table.querySelectorAll("th").forEach(function (h) { h.classList.remove("asc", "desc"); });
    th.classList.add(asc ? "asc" : "desc");
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
      var nx = parseFloat(x), ny = parseFloat(y);
      var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : String(x).localeCompare(String(y));
      return asc ? cmp : -cmp;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _values(job: SweepJob) -> dict[str, float]:
    if isinstance(job.value, dict):
        return job.value
    if isinstance(job.value, int | float):
        return {"value": float(job.value)}
    return {}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _svg(fig: tp.Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg") :]  # drop the XML prolog and doctype


def _plots(report: SweepReport) -> list[str]:
    """One figure per (numeric return value, swept parameter)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names: list[str] = []
    for job in report.jobs:
        names += [k for k in _values(job) if k not in names]
    figures = []
    for name in names:
        for param in report.swept:
            others = [p for p in report.swept if p != param]
            groups: dict[str, list[tuple[str, float]]] = {}
            for job in report.jobs:
                values = _values(job)
                if param in job.params and name in values:
                    label = ", ".join(f"{p}={job.params.get(p, '')}" for p in others)
                    groups.setdefault(label, []).append((job.params[param], values[name]))
            if not groups:
                continue
            fig = Figure(figsize=(4.2, 3))
            ax = fig.add_subplot()
            xs = [_number(x) for points in groups.values() for x, _ in points]
            numeric = all(x is not None for x in xs)
            labels = sorted({x for points in groups.values() for x, _ in points})
            lines = len(groups) <= 8  # one line per setting of the other parameters
            for label, points in sorted(groups.items()):
                if numeric:
                    pairs = sorted((float(x), y) for x, y in points)
                else:
                    pairs = sorted((float(labels.index(x)), y) for x, y in points)
                style = "o-" if lines else "o"
                ax.plot([x for x, _ in pairs], [y for _, y in pairs], style, label=label or None)
            if numeric:
                low, high = min(tp.cast(list[float], xs)), max(tp.cast(list[float], xs))
                if low > 0 and high > 20 * low:
                    ax.set_xscale("log")
            else:
                ax.set_xticks(range(len(labels)), labels)
            if lines and others:
                ax.legend(fontsize="small")
            ax.set_xlabel(param)
            ax.set_ylabel(name)
            ax.set_title(f"{name} vs {param}")
            ax.grid(alpha=0.3)
            figures.append(f'<figure class="plot">{_svg(fig)}</figure>')
    return figures


def _timeline(report: SweepReport) -> str | None:
    timed = [job for job in report.jobs if job.start is not None]
    if not timed:
        return None
    from matplotlib.figure import Figure

    t0 = min(tp.cast(float, job.start) for job in timed)
    now = max(job.end or job.start or t0 for job in timed)
    fig = Figure(figsize=(7, 0.35 * len(timed) + 1.2))
    ax = fig.add_subplot()
    colors = {"computed": "tab:green", "failed": "tab:red", "running": "tab:orange"}
    for row, job in enumerate(timed):
        start = tp.cast(float, job.start) - t0
        end = (job.end if job.end is not None else now) - t0
        ax.barh(row, max(end - start, 1e-3), left=start, color=colors.get(job.state, "tab:gray"))
    ax.set_yticks(range(len(timed)), [f"#{job.idx}" for job in timed])
    ax.invert_yaxis()
    ax.set_xlabel("seconds since the first job started")
    ax.set_title("Job timeline")
    ax.grid(axis="x", alpha=0.3)
    return f'<figure class="timeline">{_svg(fig)}</figure>'


def _cell(value: tp.Any, sort: tp.Any = None, num: bool = False) -> str:
    text = "" if value is None else str(value)
    key = text if sort is None else sort
    cls = ' class="num"' if num else ""
    return f'<td{cls} data-sort="{html.escape(str(key))}">{html.escape(text)}</td>'


def render(report: SweepReport) -> str:
    """The page, as a string."""
    try:
        plots = _plots(report)
        timeline = _timeline(report)
    except ImportError as e:
        raise ImportError(
            f"the sweep report draws its plots with matplotlib ({e}): pip install 'exca[report]'"
        ) from e
    names: list[str] = []
    for job in report.jobs:
        names += [k for k in _values(job) if k not in names]
    params = report.swept
    head = ["job", *params, "state", *names, "duration (s)", "uid", "job id", "error"]
    rows = []
    for job in report.jobs:
        values = _values(job)
        cells = [_cell(f"#{job.idx}", job.idx, num=True)]
        cells += [
            _cell(job.params.get(p), _number(job.params.get(p, "")) or job.params.get(p))
            for p in params
        ]
        cells.append(_cell(job.state))
        cells += [
            _cell(f"{values[n]:.6g}" if n in values else None, values.get(n, ""), num=True)
            for n in names
        ]
        duration = None if job.duration is None else f"{job.duration:.1f}"
        cells.append(_cell(duration, job.duration if job.duration is not None else "", num=True))
        cells += [_cell(job.uid), _cell(job.job_id), _cell(job.error)]
        rows.append(f'<tr class="{job.state}">{"".join(cells)}</tr>')
    counts = ", ".join(f"{n} {state}" for state, n in sorted(report.counts.items()))
    when = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    title = f"Sweep {report.sweep_dir}"
    header = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p>{len(report.jobs)} jobs ({html.escape(counts)}), launcher "
        f"{html.escape(report.launcher)}; report written {when}.</p>",
        "<h2>Jobs</h2>",
        f'<table class="sortable" id="jobs"><thead><tr>{header}</tr></thead>',
        f"<tbody>{''.join(rows)}</tbody></table>",
        "<h2>Return values</h2>",
        f'<div class="plots">{"".join(plots)}</div>'
        if plots
        else "<p>No numeric return value to plot.</p>",
        "<h2>Timeline</h2>",
        timeline or "<p>No job ran in this sweep (all served from the cache).</p>",
        f"<script>{_SCRIPT}</script></body></html>",
    ]
    return "\n".join(parts)


def sweep_html(report: SweepReport, path: str | Path) -> Path:
    """Writes a self-contained HTML page of a sweep (needs ``pip install exca[report]``):
    the job table (sortable), a plot of each numeric return value against each swept
    parameter, and a timeline of the jobs. Nothing is loaded from the network."""
    path = Path(path)
    path.write_text(render(report), encoding="utf8")
    return path
