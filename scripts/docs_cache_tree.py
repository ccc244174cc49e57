"""Writes the cache folder trees shown in the docs, from real runs.

    python scripts/docs_cache_tree.py           # (re)write docs/_static/cache-tree-*.txt
    python scripts/docs_cache_tree.py --check   # exit 1 (with a diff) if they are stale

Two runs, in a temporary folder:

- ``infra``: a ``TaskInfra`` method called for two configs and a ``MapInfra`` method over
  three items (the folders of ``docs/explanations-caching.md``);
- ``sweep``: a Hydra app swept twice over ``x=1,2`` with ``exca_inline`` and a cache
  folder (the folders of ``docs/howto-hydra-launcher.md``).

Names that change from run to run (the host, process id, thread id and random token of
each writer, the unique id of each data file, the hash of the temporary script's path)
are replaced by ``<host>-<pid>-<tid>-<token>``, ``<id>`` and ``<path hash>``; everything else is printed as the run left it. ``tests/test_docs_cache_tree.py`` runs ``--check``.
"""

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "_static"

_MODULE = """
import numpy as np
import pydantic

import exca


class Experiment(pydantic.BaseModel):
    seed: int = 0
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> float:
        return float(np.random.default_rng(self.seed).normal())


class Features(pydantic.BaseModel):
    dim: int = 4
    infra: exca.MapInfra = exca.MapInfra(version="1")

    @infra.apply(item_uid=str)
    def compute(self, items):
        for item in items:
            yield np.full(self.dim, item, dtype=np.float32)
"""

_INFRA_RUN = """
import mylib
for seed in (0, 3):
    mylib.Experiment(seed=seed, infra={"folder": "cache"}).run()
features = mylib.Features(infra={"folder": "cache"})
assert len(list(features.compute([1, 2, 3]))) == 3
"""

_APP = """import hydra


@hydra.main(version_base=None, config_path=None, config_name=None)
def app(cfg):
    return cfg.x ** 2


app()
"""

_WRITER = re.compile(r"^.+-\d+-\d+-[0-9a-f]{6}(?=(-info\.jsonl)?$)")
_FILE_ID = re.compile(r"-[0-9a-f]{16}(?=\.\w+$)")  # data files: -<time><random>.<ext>
# the launcher's folder of a script's task function: <stem>-<hash of the script's path>.
_SCRIPT_HASH = re.compile(r"^([A-Za-z_]\w*)-[0-9a-f]{8}(?=\.)")


def _name(path: Path) -> str:
    name = _WRITER.sub("<host>-<pid>-<tid>-<token>", path.name)
    name = _FILE_ID.sub("-<id>", name)
    name = _SCRIPT_HASH.sub(r"\1-<path hash>", name)
    return name + ("/" if path.is_dir() else "")


def tree(folder: Path) -> str:
    """A ``tree``-like listing of ``folder`` (sorted, directories first)."""
    lines = [folder.name + "/"]

    def walk(path: Path, prefix: str) -> None:
        children = sorted(path.iterdir(), key=lambda p: (not p.is_dir(), _name(p)))
        for i, child in enumerate(children):
            last = i == len(children) - 1
            lines.append(f"{prefix}{'└── ' if last else '├── '}{_name(child)}")
            if child.is_dir():
                walk(child, prefix + ("    " if last else "│   "))

    walk(folder, "")
    return "\n".join(lines) + "\n"


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")


def infra_tree(work: Path) -> str:
    (work / "mylib.py").write_text(_MODULE)
    _run([sys.executable, "-c", _INFRA_RUN], cwd=work)
    return tree(work / "cache")


def sweep_tree(work: Path) -> str:
    (work / "app.py").write_text(_APP)
    cmd = [sys.executable, "app.py", "-m", "+x=1,2", "hydra/launcher=exca_inline"]
    cmd += ["hydra.launcher.cache_folder=cache", "hydra.sweep.dir=multirun/sweep"]
    _run(cmd, cwd=work)
    _run(cmd, cwd=work)  # the second sweep: both jobs served, nothing added
    return tree(work / "cache")


TREES = {"infra": infra_tree, "sweep": sweep_tree}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="compare, do not write")
    args = parser.parse_args()
    stale = 0
    for key, make in TREES.items():
        with tempfile.TemporaryDirectory() as tmp:
            text = make(Path(tmp))
        target = OUT / f"cache-tree-{key}.txt"
        if not args.check:
            target.write_text(text)
            print(f"wrote {target.relative_to(ROOT)}")
            continue
        old = target.read_text() if target.exists() else ""
        if old != text:
            stale += 1
            diff = difflib.unified_diff(
                old.splitlines(), text.splitlines(), str(target), "a fresh run", lineterm=""
            )
            print("\n".join(diff))
    if stale:
        print("stale cache trees: run `python scripts/docs_cache_tree.py` to update them")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
