"""No broken internal link in the built docs: every ``href`` and ``src`` of every page
(API pages and highlighted sources included) that points inside the site names a file
that exists and, with a ``#fragment``, an ``id`` (or ``name``) on that page."""

import html.parser
import typing as tp
import urllib.parse
from pathlib import Path

from .docs_site import docs_html  # noqa: F401  (the fixture)


class _Page(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and tag != "meta":
                self.ids.add(value)
            if name in ("href", "src"):  # links, images, scripts, style sheets
                self.links.append(value)


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf8", errors="replace"))
    return page


def broken_links(site: Path) -> list[str]:
    """``<page>: <link>: <problem>`` for every broken internal link of the site."""
    pages = {p: parse(p) for p in site.rglob("*.html")}
    problems = []
    for path, page in sorted(pages.items()):
        rel = path.relative_to(site)
        for link in page.links:
            url = urllib.parse.urlsplit(link)
            if url.scheme or link.startswith("//"):
                continue  # external: not checked here
            target = (path.parent / urllib.parse.unquote(url.path)).resolve() if url.path else path
            if not target.exists():
                problems.append(f"{rel}: {link}: no such file")
                continue
            if target.is_dir():
                target = target / "index.html"
            fragment = urllib.parse.unquote(url.fragment)
            if fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if fragment not in ids:
                    problems.append(f"{rel}: {link}: no anchor #{fragment} in {target.name}")
    return problems


def test_no_broken_internal_link(docs_html: Path) -> None:  # noqa: F811
    problems = broken_links(docs_html)
    assert problems == [], f"{len(problems)} broken link(s):\n" + "\n".join(problems[:50])


def test_the_checker_sees_a_missing_file_and_anchor(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text(
        '<a href="b.html#here">ok</a><a href="b.html#gone">anchor</a>'
        '<a href="c.html">file</a><a href="https://example.org/x">external</a>'
        '<a href="#top">self</a><p id="top"></p><img src="img/missing.png">'
    )
    (tmp_path / "b.html").write_text('<h1 id="here">b</h1>')
    problems: tp.Any = broken_links(tmp_path)
    assert problems == [
        "a.html: b.html#gone: no anchor #gone in b.html",
        "a.html: c.html: no such file",
        "a.html: img/missing.png: no such file",
    ]
