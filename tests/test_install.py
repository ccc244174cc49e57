"""The install page works as written: in a fresh virtual environment, its "From a wheel"
commands install exca from a wheel built from a copy of this repository, and then the
page's check (``exca --version`` and the demo, run twice) and the launcher pages' sweeps
print what the docs show. Nothing of the repository's own environment is used: the
environment gets its dependencies from the package index, as a user's would.

Slow-ish (a venv and a ``pip install``, about a minute with pip's cache warm), so it runs
once, in one test."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import typing as tp
from pathlib import Path

from markdown_it import MarkdownIt

ROOT = Path(__file__).resolve().parents[1]
INSTALL = ROOT / "docs" / "install.md"
_spec = importlib.util.spec_from_file_location("docs_examples", ROOT / "scripts/docs_examples.py")
assert _spec is not None and _spec.loader is not None
docs_examples: tp.Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(docs_examples)


def section_commands(title: str) -> list[str]:
    """The ``$`` commands of the console blocks of one section of the install page."""
    text = INSTALL.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section '## {title}' in {INSTALL.name}"
    commands = []
    for token in MarkdownIt().parse(match.group(1)):
        if token.type == "fence" and token.info.strip() == "console":
            commands += [line[2:] for line in token.content.splitlines() if line.startswith("$ ")]
    return commands


def _copy_of_the_repository(dest: Path) -> None:
    """The files of the checkout (tracked, and new files not ignored), as a clone has."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for rel in filter(None, listed.split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def test_install_page_from_a_wheel_in_a_fresh_venv(tmp_path: Path) -> None:
    venv_commands = [c for c in section_commands("A virtual environment") if "venv" in c]
    wheel_commands = section_commands("From a wheel")
    assert venv_commands[0].startswith("python3 -m venv") and "activate" in venv_commands[1]
    assert any(c.startswith("pip wheel") for c in wheel_commands)
    assert any(c.startswith("pip install dist/") for c in wheel_commands)
    work = tmp_path / "work"
    _copy_of_the_repository(work / "exca")
    script = "set -euo pipefail\n" + "\n".join(venv_commands + wheel_commands) + "\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    # python3 of the machine, not of this repository's venv
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if Path(p) != Path(sys.executable).parent
    )
    proc = subprocess.run(
        ["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, f"install page commands failed:\n{proc.stdout}\n{proc.stderr}"
    venv_python = work / ".venv" / "bin" / "python"
    assert venv_python.exists()
    # the wheel's exca, not the checkout's: its files live in the venv
    where = subprocess.run(
        [
            str(venv_python),
            "-c",
            "import exca, hydra_plugins.exca_launcher as h; print(exca.__file__, h.__path__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(work / ".venv") in where and str(ROOT) not in where, where
    # the install page's check, and the launcher pages' sweeps, give the docs' output
    for session in ("install/check", "sweep/inline", "sweep/local", "sweep/sweeper"):
        path = docs_examples.EXAMPLES / f"{session}.sh"
        fresh = docs_examples.run_session(path, python=venv_python)
        shown = docs_examples.console_file(path).read_text()
        assert docs_examples.masked(fresh) == docs_examples.masked(shown), (
            f"{session} from the wheel differs from the docs:\n{fresh}"
        )


def test_one_version_everywhere_after_060() -> None:
    """``exca --version``, ``exca.__version__`` and the installed package's metadata say
    the same version, which sorts after exca 0.6.0 (``pip install -U`` keeps it), and the
    docs' title shows it."""
    import importlib.metadata

    from packaging.version import Version

    import exca

    out = subprocess.run(
        [sys.executable, "-m", "exca.cli", "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == f"exca {exca.__version__}"
    assert importlib.metadata.version("exca") == exca.__version__
    assert Version(exca.__version__) > Version("0.6.0")
    conf = (ROOT / "docs" / "conf.py").read_text()
    assert "release = exca.__version__" in conf and 'html_title = f"exca {release}"' in conf
