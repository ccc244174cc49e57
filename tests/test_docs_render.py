"""The docs as a reader sees them: every page opened in a real headless Chromium at a
phone (390 px), a tablet (768 px), a laptop (1366 px) and a wide monitor (1920 px), with a
screenshot of each page at each width saved for a look by eye.

Rules checked, in the browser, on each page's article:

- nothing is wider than the content column (the article and its padding), except inside a wrapper that scrolls
  sideways (a code block, a table's wrapper), itself inside the column; the page never
  scrolls sideways;
- no table is taller than 3 times its height at 1280 px (a table squeezed into a
  narrow column, one letter per line, is what this catches);
- the "On this page" panel, wherever it is shown, is at least 180 px wide;
- a copy button of a terminal block (``$`` prompts) copies the commands only, never a
  line of their output.

The docs come from ``tests/docs_site.py`` (built once per session, or
``$EXCA_DOCS_HTML``). Screenshots go to
``$EXCA_SCREENSHOTS``, default ``docs/_build/screenshots``.
"""

import os
import re
import typing as tp
from pathlib import Path

import pytest

from .browser import page
from .docs_site import docs_html  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(p.stem for p in (ROOT / "docs").glob("*.md"))
WIDTHS = [390, 768, 1366, 1920]
BASE_WIDTH = 1280  # table heights are compared with this width's
HEIGHT = 900
MIN_TOC_WIDTH = 180

_MEASURE = """() => {
  const article = document.querySelector('article') || document.body;
  // the content column: the article and the padding around it (furo hangs headings and
  // signatures a few px into it, on purpose)
  const col = (article.closest('.content') || article).getBoundingClientRect();
  const describe = (el) => {
    const text = (el.innerText || el.getAttribute('alt') || '').trim().replace(/\\s+/g, ' ');
    return el.tagName.toLowerCase() + (el.className ? '.' + el.className : '') + ': '
      + text.slice(0, 60);
  };
  const scrolls = (el) => {
    const s = getComputedStyle(el);
    return s.overflowX === 'auto' || s.overflowX === 'scroll';
  };
  const out = {problems: [], tables: [], toc: null, copies: [], checked: 0};
  const doc = document.documentElement;
  if (doc.scrollWidth > doc.clientWidth + 1) {
    out.problems.push(`the page scrolls sideways (${doc.scrollWidth} > ${doc.clientWidth})`);
  }
  for (const el of article.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    out.checked += 1;
    if (el.tagName === 'PRE' && !scrolls(el) && el.scrollWidth > el.clientWidth + 1) {
      out.problems.push(describe(el) + ` | its text spills out of it (scrollWidth`
        + ` ${el.scrollWidth} > ${el.clientWidth}) and it does not scroll`);
    }
    if (r.right <= col.right + 1 && r.left >= col.left - 1) continue;
    // inside a sideways-scrolling wrapper that itself fits the column: fine
    let p = el.parentElement, wrapped = false;
    while (p && p !== article) {
      if (scrolls(p)) {
        const rp = p.getBoundingClientRect();
        wrapped = rp.right <= col.right + 1 && rp.left >= col.left - 1;
        break;
      }
      p = p.parentElement;
    }
    if (!wrapped) {
      out.problems.push(describe(el) + ` | spans ${Math.round(r.left)}..${Math.round(r.right)}`
        + ` outside the column ${Math.round(col.left)}..${Math.round(col.right)}`);
    }
  }
  for (const t of article.querySelectorAll('table')) {
    out.tables.push({height: t.getBoundingClientRect().height, text: describe(t)});
  }
  const toc = document.querySelector('.toc-drawer');
  if (toc) {
    const r = toc.getBoundingClientRect();
    const shown = getComputedStyle(toc).display !== 'none' && r.width > 0
      && r.left < window.innerWidth - 1 && r.right > 1;
    out.toc = {shown, width: r.width};
  }
  // what each copy button puts on the clipboard: clipboard.js selects the text in a
  // hidden textarea and runs execCommand('copy'), which is caught here
  const realExec = document.execCommand.bind(document);
  document.execCommand = (cmd, ...rest) => {
    if (cmd !== 'copy') return realExec(cmd, ...rest);
    const active = document.activeElement;
    window.__excaCopied = active && 'value' in active ? active.value
      : String(document.getSelection());
    return true;
  };
  for (const button of article.querySelectorAll('button.copybtn')) {
    const target = document.querySelector(button.getAttribute('data-clipboard-target'));
    const block = target.closest('div[class^="highlight-"]');
    window.__excaCopied = null;
    button.click();
    out.copies.push({
      lang: block ? block.className : '',
      text: target.innerText,
      copied: window.__excaCopied,
    });
  }
  document.execCommand = realExec;
  return out;
}"""


def _screenshots() -> Path:
    folder = Path(os.environ.get("EXCA_SCREENSHOTS", ROOT / "docs" / "_build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def measure_site(html: Path, width: int, shots: Path | None) -> dict[str, dict[str, tp.Any]]:
    """Every page measured at one width (one browser), screenshots saved if asked."""
    results = {}
    with page(width, HEIGHT) as p:
        for name in PAGES:
            p.goto((html / f"{name}.html").as_uri())
            p.wait_for_load_state("load")
            if shots is not None:  # before the measure clicks the copy buttons
                p.screenshot(path=str(shots / f"{name}-{width}px.png"), full_page=True)
            results[name] = p.evaluate(_MEASURE)
    return results


@pytest.fixture(scope="session")
def base_measures(docs_html: Path) -> dict[str, dict[str, tp.Any]]:  # noqa: F811
    return measure_site(docs_html, BASE_WIDTH, None)


def copy_problems(copies: list[dict[str, tp.Any]]) -> list[str]:
    """Copy buttons of terminal blocks copying something else than the commands."""
    problems = []
    for c in copies:
        if c["copied"] is None:
            problems.append("a copy button copied nothing (copybutton.js not loaded?)")
            continue
        lines = c["text"].rstrip("\n").split("\n")
        commands = [line[2:] for line in lines if line.startswith("$ ")]
        if "highlight-console" not in c["lang"] or not commands:
            continue
        copied = [line for line in c["copied"].split("\n") if line.strip()]
        extra = [line for line in copied if line not in commands]
        if extra:
            problems.append(f"copies output line(s) {extra[:3]} of the block {lines[0]!r}")
        if not copied:
            problems.append(f"copies nothing of the block {lines[0]!r}")
    return problems


@pytest.mark.browser
@pytest.mark.parametrize("width", WIDTHS, ids=lambda w: f"{w}px")
def test_every_page_fits_the_screen(
    docs_html: Path,  # noqa: F811
    base_measures: dict[str, dict[str, tp.Any]],
    width: int,
) -> None:
    shots = _screenshots()
    measures = measure_site(docs_html, width, shots)
    problems = []
    for name, m in measures.items():
        where = f"{name} at {width}px (screenshot {shots / f'{name}-{width}px.png'})"
        assert m["checked"] > 0, f"{where}: an empty article"
        problems += [f"{where}: {p}" for p in m["problems"]]
        base = base_measures[name]["tables"]
        assert len(base) == len(m["tables"]), f"{where}: tables differ from the 1280 px page"
        for table, ref in zip(m["tables"], base):
            if table["height"] > 3 * ref["height"] + 1:
                problems.append(
                    f"{where}: table {table['text']!r} is {round(table['height'])} px tall, "
                    f"{round(ref['height'])} px at {BASE_WIDTH} px"
                )
        toc = m["toc"]
        if toc and toc["shown"] and toc["width"] < MIN_TOC_WIDTH:
            problems.append(f"{where}: the contents panel is {round(toc['width'])} px wide")
        problems += [f"{where}: {p}" for p in copy_problems(m["copies"])]
    assert problems == [], "\n".join(problems)


@pytest.mark.browser
def test_the_contents_panel_is_shown_on_a_laptop(docs_html: Path) -> None:  # noqa: F811
    """The panel is really measured: shown (and wide) at 1366 and 1920 px."""
    for width in (1366, 1920):
        with page(width, HEIGHT) as p:
            p.goto((docs_html / "howto-hydra-launcher.html").as_uri())
            toc = p.evaluate(_MEASURE)["toc"]
        assert toc["shown"] and toc["width"] >= MIN_TOC_WIDTH, (width, toc)


@pytest.mark.browser
def test_the_checks_see_what_they_must(tmp_path: Path) -> None:
    """Without the docs' CSS, a wide table and a long code line overflow a narrow
    column; in a scrolling wrapper they do not count; a copy of output is seen."""
    html = tmp_path / "wide.html"
    cells = "".join(f"<td>column_{i}_with_a_long_name</td>" for i in range(12))
    html.write_text(
        "<html><body><article style='width: 400px'>"
        f"<div class='bare'><table><tr>{cells}</tr></table></div>"
        f"<div style='overflow-x: auto'><table><tr>{cells}</tr></table></div>"
        "<pre>" + "x" * 300 + "</pre>"
        "<pre style='overflow-x: auto'>" + "y" * 300 + "</pre>"
        "</article></body></html>"
    )
    with page(800, 600) as p:
        p.goto(html.as_uri())
        result = p.evaluate(_MEASURE)
    flagged = " ".join(result["problems"])
    assert "column_0" in flagged and "xxxx" in flagged
    assert "yyyy" not in flagged
    # only the bare table's cells and the bare pre are outside the column
    assert all(
        p.startswith(("td", "tr", "tbody", "table", "pre:", "the page")) for p in result["problems"]
    )
    copies = [
        {"lang": "highlight-console", "text": "$ ls\nout\n", "copied": "ls\nout"},
        {"lang": "highlight-console", "text": "$ ls\nout\n", "copied": "ls"},
        {"lang": "highlight-python", "text": "x = 1\n", "copied": "x = 1"},
    ]
    assert copy_problems(copies) == ["copies output line(s) ['out'] of the block '$ ls'"]


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


def shell_coloured_output(page_html: str) -> list[str]:
    """Output lines of terminal blocks (``console``) that are highlighted as shell code:
    in a terminal block, a line that is not a ``$`` command must be one output span."""
    found = []
    for block in re.findall(
        r'<div class="highlight-console[^"]*"><div class="highlight"><pre>(.*?)</pre>',
        page_html,
        re.S,
    ):
        for line in block.split("\n"):
            text = re.sub(r"<[^>]+>", "", line)
            if not text.strip() or text.startswith("$ "):
                continue
            if not re.fullmatch(r'(<span></span>)?<span class="go">[^<]*</span>', line):
                found.append(text[:80])
    return found


def test_terminal_output_is_not_coloured_as_shell(docs_html: Path) -> None:  # noqa: F811
    assert shell_coloured_output(
        '<div class="highlight-console notranslate"><div class="highlight"><pre>'
        '<span class="gp">[x] #</span><span class="m">0</span>\n</pre>'
    ) == ["[x] #0"]
    problems = {
        path.name: found
        for path in sorted(docs_html.glob("*.html"))
        if (found := shell_coloured_output(path.read_text()))
    }
    assert problems == {}, problems
