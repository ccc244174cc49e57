"""The docs' search box (Sphinx's, run in Chromium on the built site) gives the page a
reader is looking for first: a launcher page for a launcher's name or parameter, the
install page for "install", the changelog for "changelog"."""

import dataclasses
from pathlib import Path

import pytest

from hydra_plugins.exca_launcher.exca_launcher import ExcaLauncherConf

from .browser import page
from .docs_site import docs_html  # noqa: F401  (the fixture)

LAUNCHER_PAGES = {
    "howto-hydra-launcher",
    "launcher-exca-inline",
    "launcher-exca-local",
    "launcher-exca-slurm",
    "sweeper-exca",
}
# every launcher parameter whose name is a word of its own (`mode`, `version`... are
# indexed as `hydra.launcher.mode`: a search for "version" is not about the launcher)
PARAMETERS = [f.name for f in dataclasses.fields(ExcaLauncherConf) if "_" in f.name.strip("_")]
EXPECTED = {
    **{name: LAUNCHER_PAGES for name in PARAMETERS},
    "launcher": LAUNCHER_PAGES,
    "exca_inline": {"launcher-exca-inline"},
    "exca_local": {"launcher-exca-local"},
    "exca_slurm": {"launcher-exca-slurm"},
    "max_batch_size": {"sweeper-exca"},
    "install": {"install"},
    "changelog": {"changelog"},
    "faq": {"faq"},
}

# the page runs the query of its URL (?q=); results are shown one by one, then a status
# line says the search finished
_DONE = """() => {
  const status = document.querySelector('.search-summary');
  return status !== null && /finished|did not match/.test(status.innerText);
}"""
_RESULTS = """() => [...document.querySelectorAll('#search-results li > a:first-child')]
  .map((a) => a.getAttribute('href'))"""


def first_results(html: Path, queries: list[str]) -> dict[str, list[str]]:
    """The pages (without ``.html`` and anchor) each query gives, best first."""
    out = {}
    with page(1280, 900) as p:
        for query in queries:
            p.goto((html / "search.html").as_uri() + f"?q={query}")
            p.wait_for_function(_DONE, timeout=20000)
            hrefs = p.evaluate(_RESULTS)
            out[query] = [h.split("#")[0].removesuffix(".html") for h in hrefs]
    return out


@pytest.mark.browser
def test_search_gives_the_page_first(docs_html: Path) -> None:  # noqa: F811
    assert {"cache_folder", "slurm_partition", "max_jobs"} <= set(PARAMETERS)
    results = first_results(docs_html, sorted(EXPECTED))
    wrong = {
        query: found[:3]
        for query, found in results.items()
        if not found or found[0] not in EXPECTED[query]
    }
    assert wrong == {}, f"first results not on the expected page: {wrong}"
