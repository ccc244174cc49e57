"""The shell sessions the docs show are real: each ``docs/examples/*/<session>.sh`` runs
again in a fresh copy of its project and prints what its committed ``.console`` file
shows (timestamps, durations, sizes, job ids and path hashes masked). See
``scripts/docs_examples.py``, which writes the ``.console`` files."""

import difflib
import importlib.util
import re
import typing as tp
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_examples", ROOT / "scripts/docs_examples.py")
assert _spec is not None and _spec.loader is not None
docs_examples: tp.Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_examples)


def _marks(session: Path) -> list[tp.Any]:
    return [pytest.mark.slurm] if session.stem.startswith("slurm") else []


@pytest.mark.parametrize(
    "session",
    [pytest.param(s, marks=_marks(s)) for s in docs_examples.sessions()],
    ids=lambda s: str(s.relative_to(docs_examples.EXAMPLES).with_suffix("")),
)
def test_session_output_is_the_committed_one(session: Path) -> None:
    committed = docs_examples.console_file(session)
    assert committed.is_file(), f"run: python scripts/docs_examples.py ({committed} missing)"
    fresh = docs_examples.masked(docs_examples.run_session(session))
    shown = docs_examples.masked(committed.read_text())
    diff = difflib.unified_diff(shown.splitlines(), fresh.splitlines(), "shown", "now", lineterm="")
    assert fresh == shown, (
        f"{committed.relative_to(ROOT)} is out of date: run "
        f"`.venv/bin/python scripts/docs_examples.py {session.parent.name}/{session.stem}`\n"
        + "\n".join(list(diff)[:40])
    )


def test_every_session_is_shown_on_a_page() -> None:
    """A ``.console`` nobody includes is dead weight; a page including a missing one
    fails the build anyway."""
    pages = "\n".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    for session in docs_examples.sessions():
        rel = session.with_suffix(".console").relative_to(ROOT / "docs").as_posix()
        assert rel in pages, f"{rel} is not included by any docs page"


def test_masking_keeps_what_matters() -> None:
    """Two runs differ in times and hashes only; a changed count or uid is seen."""
    a = "[2026-12-08 01:58:24,867][HYDRA] [exca_slurm] 3 to run, 0 cached\n  app-f124049b.train,0/lr=0.1-8c818243 6_0\n"
    b = "[2027-01-01 11:00:00,000][HYDRA] [exca_slurm] 3 to run, 0 cached\n  app-00000000.train,0/lr=0.1-8c818243 17_0\n"
    m = docs_examples.masked
    assert m(a) == m(b)
    assert m(a) != m(a.replace("3 to run", "2 to run"))
    assert m(a) != m(a.replace("8c818243", "8c818244"))
    assert re.search("8c818243", m(a))
