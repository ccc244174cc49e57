"""The built docs, shared by the tests that read them (rendering, links, search): built
once per test session into a temporary folder with ``sphinx -W``, or taken from
``$EXCA_DOCS_HTML`` (a finished build, as ``.ci/run`` makes)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def docs_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built docs (``sphinx -W``: a warning fails the build, hence this test)."""
    given = os.environ.get("EXCA_DOCS_HTML")
    if given:
        return Path(given)
    out = tmp_path_factory.mktemp("docs-html")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q"]
    proc = subprocess.run(
        [*cmd, str(ROOT / "docs"), str(out)], capture_output=True, text=True, cwd=ROOT
    )
    assert proc.returncode == 0, f"docs build failed:\n{proc.stdout}\n{proc.stderr}"
    return out
