"""Runs the Python code blocks of README.md and docs/*.md as tests.

The blocks use the syntax of pytest-markdown-docs, so that
``pytest --markdown-docs README.md docs/`` runs them too:

- a ```` ```python ```` block starts a new example (a fresh namespace);
- a ```` ```python continuation ```` block continues the previous example (same
  namespace, after the blocks before it);
- ``fixture:<name>`` (eg: ``fixture:tmp_path``) makes a pytest fixture available as
  a global variable. pytest-markdown-docs runs each block with its own fixtures only,
  so a continuation block must repeat the fixtures of its example (checked here);
- ``notest`` skips a block (not used in this repository: every block runs).

Blocks need no fixture: each example runs in a fresh empty working directory, as a
reader's ``python`` started in an empty folder (examples write to relative folders such
as ``cache``). Set-up a reader does not need (test plumbing) goes in a python block
inside a ``:::{only} exca_doctest`` ... ``:::`` fence: Sphinx leaves it out of the
pages (the tag is never set), this runner sees and runs it like any block.

Here each example (a block and its continuation blocks) is one test, run once, in
order, in a temporary working directory. A failure names the markdown file and the
line that failed. Blocks of other languages (bash, console, yaml, text) never run.
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
import traceback
import types
import typing as tp
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
PYTHON_LANGS = ("py", "python", "python3")


@dataclasses.dataclass
class Block:
    """One python code block of a markdown file."""

    path: Path
    line: int  # line of the first code line (1-based)
    code: str
    options: frozenset[str]

    @property
    def fixtures(self) -> tuple[str, ...]:
        return tuple(sorted(o[len("fixture:") :] for o in self.options if o.startswith("fixture:")))

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


@dataclasses.dataclass
class Example:
    """A block and the continuation blocks that follow it."""

    blocks: list[Block]

    @property
    def fixtures(self) -> tuple[str, ...]:
        return self.blocks[0].fixtures

    @property
    def id(self) -> str:
        first = self.blocks[0]
        last = self.blocks[-1].line
        span = f"{first.line}" if len(self.blocks) == 1 else f"{first.line}-{last}"
        return f"{first.path.relative_to(ROOT)}:{span}"


def markdown_files() -> list[Path]:
    """README.md and every markdown page of docs/ (not the build output)."""
    files = [ROOT / "README.md"] if (ROOT / "README.md").exists() else []
    docs = ROOT / "docs"
    if docs.exists():
        files += sorted(p for p in docs.rglob("*.md") if "_build" not in p.parts)
    return files


def python_blocks(path: Path) -> list[Block]:
    """The python blocks of a markdown file, parsed as pytest-markdown-docs does."""
    blocks = []
    for token in MarkdownIt().parse(path.read_text(encoding="utf8")):
        if token.type != "fence" or not token.map:
            continue
        info = token.info.split()
        if not info or info[0] not in PYTHON_LANGS:
            continue
        options = frozenset(info[1:])
        if "notest" in options:
            continue
        blocks.append(Block(path, token.map[0] + 2, token.content, options))
    return blocks


def examples(path: Path) -> list[Example]:
    """Groups the blocks of a file into examples, checking the continuation rules."""
    out: list[Example] = []
    for block in python_blocks(path):
        if "continuation" not in block.options:
            out.append(Example([block]))
            continue
        if not out:
            raise ValueError(
                f"{block.where}: a `python continuation` block has no previous python block"
            )
        missing = set(out[-1].fixtures) - set(block.fixtures)
        if missing:
            raise ValueError(
                f"{block.where}: this continuation block must repeat "
                f"{' '.join('fixture:' + f for f in sorted(missing))} (pytest-markdown-docs "
                "gives each block only the fixtures it names)"
            )
        out[-1].blocks.append(block)
    return out


def all_examples() -> list[Example]:
    return [ex for path in markdown_files() for ex in examples(path)]


def _failure_report(example: Example, block: Block, error: BaseException) -> str:
    """Names the markdown line that failed, then the traceback of the documentation code."""
    frames = traceback.extract_tb(error.__traceback__)
    md_frames = [f for f in frames if f.filename == str(block.path)]
    line = md_frames[-1].lineno if md_frames else block.line
    rel = block.path.relative_to(ROOT)
    start = error.__traceback__  # skip the frames of this runner
    while start is not None and start.tb_frame.f_code.co_filename != str(block.path):
        start = start.tb_next
    tb = "".join(traceback.format_exception(type(error), error, start or error.__traceback__))
    return (
        f"{rel}:{line}: {type(error).__name__}: {error}\n"
        f"(in the code block starting at {block.where}, example {example.id})\n\n{tb}"
    )


def run_example(example: Example, fixtures: dict[str, tp.Any]) -> None:
    """Executes the blocks of an example in order, in one namespace; raises
    ``pytest.fail`` naming the file and line on the first error."""
    # the example runs as a module registered in sys.modules (as a script's __main__
    # is): classes defined in it are then found by pickle, dataclasses, typing...
    stem = re.sub(r"\W", "_", example.blocks[0].path.stem)
    name = f"docs_example_{stem}_{example.blocks[0].line}"
    module = types.ModuleType(name)
    module.__dict__.update(fixtures)
    sys.modules[name] = module
    try:
        for block in example.blocks:
            # pad so that line numbers in tracebacks are those of the markdown file
            source = "\n" * (block.line - 1) + block.code
            report = None
            try:
                code = compile(source, str(block.path), "exec")
                exec(code, module.__dict__)
            except Exception as e:
                report = _failure_report(example, block, e)
            if report is not None:  # raised outside the except: no chained traceback
                pytest.fail(report, pytrace=False)
    finally:
        sys.modules.pop(name, None)


@pytest.mark.parametrize("example", all_examples(), ids=lambda ex: ex.id)
def test_markdown_example(
    example: Example,
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A code example of the README or of the docs runs without error."""
    from exca import ConfDict

    fixtures = {name: request.getfixturevalue(name) for name in example.fixtures}
    # run where stray files cannot land in the repository; restore global knobs after
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    monkeypatch.setattr(ConfDict, "UID_VERSION", ConfDict.UID_VERSION)
    monkeypatch.setattr(sys, "path", list(sys.path))
    environ = dict(os.environ)
    try:
        run_example(example, fixtures)
    finally:
        os.environ.clear()
        os.environ.update(environ)


def test_every_markdown_file_is_scanned() -> None:
    """The README and the docs pages are found, and hold python examples to run."""
    files = {p.relative_to(ROOT).as_posix() for p in markdown_files()}
    assert "README.md" in files
    assert "docs/index.md" in files
    assert len(all_examples()) >= 5


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "page.md"
    path.write_text(text, encoding="utf8")
    return path


def test_runner_reports_file_and_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A broken block fails with the markdown file and the line of the error."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = _write(
        tmp_path,
        "# Page\n\n```python\nx = 1\n```\n\ntext\n\n```python continuation\ny = x + 1\n"
        "assert y == 3, 'wrong sum'\n```\n\n```bash\nexit 1\n```\n",
    )
    (example,) = examples(path)
    assert [b.line for b in example.blocks] == [4, 10]
    with pytest.raises(pytest.fail.Exception) as info:
        run_example(example, {})
    message = str(info.value)
    assert message.startswith("page.md:11: AssertionError: wrong sum")
    assert "starting at page.md:10" in message


def test_runner_continuation_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Continuation blocks share the namespace and must repeat their example's fixtures."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    path = _write(
        tmp_path,
        "```python fixture:tmp_path\nx = tmp_path\n```\n\n```python continuation\nx\n```\n",
    )
    with pytest.raises(ValueError, match=r"page.md:6: .* must repeat fixture:tmp_path"):
        examples(path)
    path = _write(tmp_path, "```python continuation\nx = 1\n```\n")
    with pytest.raises(ValueError, match="no previous python block"):
        examples(path)
    path = _write(
        tmp_path,
        "```python\nx = 1\n```\n```python notest\nraise\n```\n```python continuation\n"
        "assert x == 1\n```\n```python\nassert 'x' not in globals()\n```\n",
    )
    found = examples(path)
    assert [len(ex.blocks) for ex in found] == [2, 1]
    for ex in found:
        run_example(ex, {})


PASTED_PAGES = ["docs/getting-started.md", "README.md"]


@pytest.mark.parametrize(
    "example",
    [ex for page in PASTED_PAGES for ex in examples(ROOT / page)],
    ids=lambda ex: ex.id,
)
def test_example_pasted_into_a_fresh_python(example: Example, tmp_path: Path) -> None:
    """The getting-started examples (and the README's), pasted as shown into ``python``
    started in an empty folder (read from its standard input, as a script), run without
    an error: no fixture, no hidden set-up, nothing outside that folder. (Python's
    interactive prompt before 3.13 ends a class at its first blank line; the pages say
    to paste into a file there.)"""
    import subprocess

    code = "\n\n".join(block.code for block in example.blocks) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "PYTEST"))}
    proc = subprocess.run(
        [sys.executable, "-"],
        input=code,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{example.id} pasted:\n{proc.stderr[-3000:]}"
    assert (tmp_path / "cache").is_dir(), "the example's cache is not in the folder it ran in"
