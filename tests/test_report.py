"""The HTML report of a sweep (``exca sweep DIR --html FILE``), opened in a real headless
Chromium: it loads without console errors, shows the sortable table and the plots."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from exca import inspect
from tests.browser import page

ROOT = Path(__file__).parents[1]
APP = ROOT / "tests" / "hydra_apps" / "sweep_app.py"
SCREENSHOT = os.environ.get("EXCA_REPORT_SCREENSHOT")  # where to save one (for the docs)


def sweep(cwd: Path, name: str, *overrides: str) -> None:
    cmd = [
        sys.executable,
        str(APP),
        "-m",
        "hydra/launcher=exca_inline",
        f"hydra.launcher.cache_folder={cwd / 'cache'}",
        f"hydra.sweep.dir={cwd / name}",
        *overrides,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def report_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("report")
    sweep(tmp, "first", "x=1,2", "lr=0.1", "sleep=0.05")
    sweep(tmp, "second", "x=1,2,3,4", "lr=0.1,0.03,0.01", "sleep=0.05")  # 2 cached, 3 failed
    report = inspect.sweep(tmp / "second")
    assert report.counts == {"cached": 2, "computed": 7, "failed": 3}
    path = inspect.sweep_html(report, tmp / "report.html")
    return path


def test_report_is_self_contained(report_file: Path) -> None:
    text = report_file.read_text()
    # (SVG namespace declarations name URLs but load nothing)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//|url\(\s*["']?(https?:)?//""", text)
    assert "<script src" not in text and "<link" not in text and "@import" not in text


@pytest.mark.browser
def test_report_in_chromium(report_file: Path) -> None:
    with page() as p:
        errors: list[str] = []
        p.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        p.on("pageerror", lambda exc: errors.append(str(exc)))
        requests: list[str] = []
        p.on("request", lambda req: requests.append(req.url))
        p.goto(report_file.as_uri())
        p.wait_for_load_state("load")
        assert errors == []
        assert requests == [report_file.as_uri()]  # nothing else loaded
        table = p.locator("table#jobs")
        assert table.locator("tbody tr").count() == 12
        head = [h.strip() for h in table.locator("thead th").all_inner_texts()]
        assert head[:4] == ["job", "x", "lr", "state"] and "loss" in head and "acc" in head
        # 2 return values x 2 swept parameters, plus the timeline
        assert p.locator("figure.plot svg").count() == 4
        assert p.locator("figure.timeline svg").count() == 1
        for svg in p.locator("svg").all():
            box = svg.bounding_box()
            assert box is not None and box["width"] > 100 and box["height"] > 100
        # sorting by loss (click: ascending, click again: descending)
        loss = head.index("loss")
        table.locator("thead th").nth(loss).click()
        column = table.locator(f"tbody tr td:nth-child({loss + 1})").all_inner_texts()
        values = [float(v) for v in column if v]
        assert values == sorted(values) and len(values) == 9
        table.locator("thead th").nth(loss).click()
        column = table.locator(f"tbody tr td:nth-child({loss + 1})").all_inner_texts()
        values = [float(v) for v in column if v]
        assert values == sorted(values, reverse=True)
        if SCREENSHOT:
            table.locator("thead th").nth(0).click()
            p.screenshot(path=SCREENSHOT, full_page=True)
