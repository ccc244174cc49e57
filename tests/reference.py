"""Run code under the reference release, exca 0.6.0, for differential tests.

exca 0.6.0 is installed from the package registry into ``benchmarks/.venv-ref`` (the same
side environment the benchmark harness uses, created once and reused). Tests that compare
this package with 0.6.0 run a snippet in each interpreter, in separate processes, and
compare what the snippets print (JSON) and the files they leave behind.

The fixture ``exca060`` (see ``conftest.py``) gives a :class:`Reference`. When the
registry cannot be reached the tests are skipped with the reason, except in CI (``CI`` set
in the environment) where they fail: CI must never hide them.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import subprocess
import sys
import textwrap
import typing as tp
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OURS_PYTHON = Path(sys.executable)
_SCRUBBED = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "CONFDICT_UID_VERSION")


class SnippetError(RuntimeError):
    """A snippet exited with a non-zero status (its output is in the message)."""


def _env(extra: tp.Mapping[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env.update(extra or {})
    return env


def run_python(
    python: Path,
    code: str,
    *,
    cwd: Path,
    env: tp.Mapping[str, str] | None = None,
    timeout: float = 300,
):
    """Runs ``code`` (dedented) as a script file in ``cwd`` with ``python``.

    ``isolated`` runs the reference with ``-I``-like settings: the repository is never on
    its path, so ``import exca`` there is 0.6.0. The script's folder (``cwd``) is on the
    path, so modules written there by the test are importable on both sides.
    """
    cwd.mkdir(parents=True, exist_ok=True)
    script = cwd / f"_snippet_{abs(hash(code)) % 10**12}.py"
    script.write_text(textwrap.dedent(code))
    cmd = [str(python), "-s", str(script)]
    return subprocess.run(
        cmd, cwd=cwd, env=_env(env), capture_output=True, text=True, timeout=timeout
    )


@dataclasses.dataclass(frozen=True)
class Side:
    """One interpreter: ours (the project's venv) or the reference (exca 0.6.0)."""

    name: str
    python: Path

    def run(
        self,
        code: str,
        *,
        cwd: Path,
        env: tp.Mapping[str, str] | None = None,
        timeout: float = 300,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        proc = run_python(self.python, code, cwd=cwd, env=env, timeout=timeout)
        if check and proc.returncode != 0:
            raise SnippetError(
                f"{self.name} snippet failed ({proc.returncode}) in {cwd}:\n"
                f"--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
            )
        return proc

    def json(
        self,
        code: str,
        *,
        cwd: Path,
        env: tp.Mapping[str, str] | None = None,
        timeout: float = 300,
    ) -> tp.Any:
        """Runs ``code`` and returns the JSON value of its last printed line."""
        proc = self.run(code, cwd=cwd, env=env, timeout=timeout)
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if not lines:
            raise SnippetError(f"{self.name} snippet printed nothing:\n{proc.stderr}")
        return json.loads(lines[-1])


def ensure_reference() -> Side:
    """The exca 0.6.0 side (its venv created once, under a lock shared by xdist workers)."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import harness  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    lock_path = REPO / "benchmarks" / ".venv-ref.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = harness.ensure_reference_venv()
    return Side("exca 0.6.0", Path(env.python))


OURS = Side("ours", OURS_PYTHON)
