"""The docs as a reader sees them: pages opened in a real headless Chromium, where every
table and code block must fit its content column (nothing clipped, nothing hidden behind
a horizontal scroll bar), and screenshots of them saved for a look by eye.

Rule checked, in the browser, for each ``table`` and ``pre`` of the page's article:

- the element's right edge is inside the article (the content column), and
- the element and its wrapper (furo puts tables in a ``div.table-wrapper`` that scrolls)
  have ``scrollWidth <= clientWidth``: no content hidden in a horizontal overflow.

A scrollable wrapper is NOT accepted as "not cut off": long code lines wrap and table
cells break long words (``docs/_static/exca.css``), so that a reader (or a screenshot)
sees everything without scrolling sideways.

The docs are built once per test session into a temporary folder (``sphinx -W``), or
taken from ``$EXCA_DOCS_HTML`` (a finished build). Screenshots go to
``$EXCA_SCREENSHOTS``, default ``docs/_build/screenshots``.
"""

import os
import re
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest

from .browser import page, require_chromium

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["howto-hydra-launcher", "guarantees", "getting-started"]
# a laptop screen, and a narrow window where the sidebars are folded away
VIEWPORTS = [(1280, 900), (900, 900)]

_MEASURE = """() => {
  const article = document.querySelector('article') || document.body;
  const box = article.getBoundingClientRect();
  const describe = (el) => {
    const text = (el.innerText || '').trim().replace(/\\s+/g, ' ');
    return el.tagName.toLowerCase() + ': ' + text.slice(0, 80);
  };
  const doc = document.documentElement;
  const out = {page: {scroll: doc.scrollWidth, client: doc.clientWidth},
               checked: 0, problems: []};
  for (const el of article.querySelectorAll('table, pre')) {
    out.checked += 1;
    const r = el.getBoundingClientRect();
    if (r.right > box.right + 1 || r.left < box.left - 1) {
      out.problems.push(describe(el) + ` | spans ${Math.round(r.left)}..${Math.round(r.right)}`
                        + ` outside the column ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
    const boxes = [el];
    if (el.parentElement && el.parentElement !== article) boxes.push(el.parentElement);
    for (const b of boxes) {
      const rb = b.getBoundingClientRect();
      if (b !== el && (rb.right > box.right + 1 || rb.left < box.left - 1)) {
        out.problems.push(describe(el) + ` | its ${b.tagName.toLowerCase()}.${b.className}`
                          + ` spans ${Math.round(rb.left)}..${Math.round(rb.right)} outside the`
                          + ` column ${Math.round(box.left)}..${Math.round(box.right)}`);
      }
      if (b.scrollWidth > b.clientWidth + 1 && getComputedStyle(b).display !== 'inline') {
        out.problems.push(describe(el) + ` | ${b.tagName.toLowerCase()}.${b.className}`
                          + ` hides ${b.scrollWidth - b.clientWidth}px (scrollWidth`
                          + ` ${b.scrollWidth} > clientWidth ${b.clientWidth})`);
      }
    }
  }
  out.pre = article.querySelectorAll('div.highlight pre').length;
  out.copy_buttons = article.querySelectorAll('div.highlight button.copybtn').length;
  return out;
}"""


@pytest.fixture(scope="session")
def docs_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built docs (``sphinx -W``: a warning fails the build, hence this test)."""
    given = os.environ.get("EXCA_DOCS_HTML")
    if given:
        return Path(given)
    require_chromium()  # no 20 s build when the browser test cannot run anyway
    out = tmp_path_factory.mktemp("docs-html")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q"]
    proc = subprocess.run(
        [*cmd, str(ROOT / "docs"), str(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, f"docs build failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def _screenshots() -> Path:
    folder = Path(os.environ.get("EXCA_SCREENSHOTS", ROOT / "docs" / "_build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.browser
@pytest.mark.parametrize("viewport", VIEWPORTS, ids=lambda v: f"{v[0]}px")
@pytest.mark.parametrize("name", PAGES)
def test_tables_and_code_fit_the_column(
    docs_html: Path, name: str, viewport: tuple[int, int]
) -> None:
    html = docs_html / f"{name}.html"
    assert html.is_file(), f"{html} was not built"
    with page(*viewport) as p:
        p.goto(html.as_uri())
        p.wait_for_load_state("load")
        result: dict[str, tp.Any] = p.evaluate(_MEASURE)
        shot = _screenshots() / f"{name}-{viewport[0]}px.png"
        p.screenshot(path=str(shot), full_page=True)
    assert result["checked"] > 0, f"{name}: no table or code block found in the article"
    assert result["problems"] == [], (
        f"{name} at {viewport[0]}px: clipped element(s) (screenshot: {shot}):\n"
        + "\n".join(result["problems"])
    )
    whole = result["page"]
    assert whole["scroll"] <= whole["client"] + 1, f"{name}: the page scrolls sideways"
    assert result["pre"] == 0 or result["copy_buttons"] >= result["pre"], (
        f"{name}: {result['pre']} code blocks but {result['copy_buttons']} copy buttons"
    )


@pytest.mark.browser
def test_the_check_sees_a_clipped_table_and_a_long_code_line(tmp_path: Path) -> None:
    """The measure flags what it must: without the docs' CSS, a wide table and a long
    unbreakable code line overflow a narrow column."""
    html = tmp_path / "wide.html"
    cells = "".join(f"<td>column_{i}_with_a_long_name</td>" for i in range(12))
    html.write_text(
        "<html><body><article style='width: 400px'>"
        f"<div class='table-wrapper' style='overflow-x: auto'><table><tr>{cells}</tr></table></div>"
        "<pre style='overflow: auto'>" + "x" * 300 + "</pre>"
        "<pre>short</pre></article></body></html>"
    )
    with page(800, 600) as p:
        p.goto(html.as_uri())
        result = p.evaluate(_MEASURE)
    assert result["checked"] == 3
    kinds = sorted({problem.split(":")[0] for problem in result["problems"]})
    assert kinds == ["pre", "table"], result["problems"]
    assert not any("short" in problem for problem in result["problems"])


def broken_tables(text: str) -> list[int]:
    """Line numbers of table rows that start a table without a header rule: a row after
    a blank line (or any non-row line) starts a new table, which Markdown renders only if
    its next line is a rule (``|---|``); otherwise the rows show as a paragraph of pipes
    (how two tables of the guarantees page were broken)."""
    lines = text.splitlines()
    fence = False
    broken = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        if fence or not line.startswith("|"):
            continue
        starts_table = i == 0 or not lines[i - 1].startswith("|")
        after = lines[i + 1] if i + 1 < len(lines) else ""
        if starts_table and not re.match(r"^\|\s*:?-{3,}", after):
            broken.append(i + 1)
    return broken


def test_broken_tables_finds_a_row_cut_off_by_a_blank_line() -> None:
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n"
    assert broken_tables(table) == []
    assert broken_tables(table + "\n| 3 | 4 |\n") == [5]
    assert broken_tables("```\n| not | a table |\n```\n") == []


@pytest.mark.parametrize("path", sorted((ROOT / "docs").glob("*.md")), ids=lambda p: p.name)
def test_no_table_is_broken_by_a_blank_line(path: Path) -> None:
    assert broken_tables(path.read_text()) == [], f"{path.name}: rows outside a table"
