"""A real headless Chromium for tests that check rendered HTML (docs pages, reports).

Playwright drives the Debian ``chromium`` package (``apt-get install -y chromium``,
done by ``.ci/run``) through ``executable_path``: no ``playwright install`` and no
network needed. Use the ``page`` context manager, or the ``browser_page`` fixture::

    from tests.browser import browser_page  # noqa: F401  (the fixture)

    @pytest.mark.browser
    def test_report(browser_page, tmp_path):
        browser_page.goto((tmp_path / "report.html").as_uri())
        assert browser_page.locator("table").count() == 1

When Chromium (or Playwright) is missing, the test is skipped with the reason, except
when the environment variable ``CI`` is set: then it fails, so that CI never passes
without having looked.
"""

import contextlib
import os
import shutil
import tempfile
import typing as tp
from pathlib import Path

import pytest

if tp.TYPE_CHECKING:
    from playwright.sync_api import Page

# Chromium as root in a container: no sandbox, no GPU, nothing that reaches the network
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """Path of a Chromium executable: ``$EXCA_CHROMIUM``, else the first on ``PATH``."""
    explicit = os.environ.get("EXCA_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium executable, or skip (fail under ``CI``) saying what is missing."""
    problems = []
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed (pip install -e .[dev])")
    executable = find_chromium()
    if executable is None:
        problems.append(
            "no Chromium found (apt-get install -y chromium, or set EXCA_CHROMIUM to its path)"
        )
    if problems:
        reason = "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but the browser test cannot run: {reason}")
        pytest.skip(reason)
    assert executable is not None
    return executable


@contextlib.contextmanager
def page(width: int = 1280, height: int = 900) -> tp.Iterator["Page"]:
    """A fresh page of a headless Chromium (new profile folder, removed afterwards)."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with (
        tempfile.TemporaryDirectory(prefix="exca-chromium-") as profile,
        sync_playwright() as pw,
    ):
        context = pw.chromium.launch_persistent_context(
            profile,
            executable_path=executable,
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": height},
            offline=True,
        )
        try:
            yield context.pages[0] if context.pages else context.new_page()
        finally:
            context.close()


@pytest.fixture
def browser_page() -> tp.Iterator["Page"]:
    """A headless Chromium page, 1280x900 (see :func:`page`)."""
    with page() as p:
        yield p
