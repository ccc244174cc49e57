"""Layering of the package: the core (``confdict``, ``uid``, ``export``, ``cachedict``)
imports neither the Hydra bridge nor Hydra, OmegaConf or submitit, not even lazily
inside a function, and no exca module above it.

The imports are read from the source (AST), so an import hidden in a function that no
test happens to call is caught too; a subprocess check confirms it at run time.
"""

import ast
import collections.abc
import itertools
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest

from exca import confdict
from exca.confdict import ConfDict, register_converter

ROOT = Path(__file__).resolve().parents[1]
CORE_FILES = sorted(
    [
        ROOT / "exca" / "confdict.py",
        ROOT / "exca" / "uid.py",
        ROOT / "exca" / "export.py",
        *(ROOT / "exca" / "cachedict").rglob("*.py"),
    ]
)
# modules the core may never import (a prefix matches the module and its submodules)
FORBIDDEN = ("exca.hydra", "hydra", "hydra_plugins", "omegaconf", "submitit")
# the exca modules the core may import: itself
CORE_MODULES = ("exca.confdict", "exca.uid", "exca.export", "exca.cachedict")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    """Whether ``name`` is a module or package of this repository."""
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _matches(name: str, prefixes: tp.Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imported_modules(source: str, modname: str, is_package: bool = False) -> list[tuple[int, str]]:
    """Every module imported anywhere in ``source`` (top level, functions, ``TYPE_CHECKING``
    blocks, ``importlib.import_module("...")`` and ``__import__("...")`` with a literal
    name), as ``(line, absolute module name)``; ``from pkg import name`` gives
    ``pkg.name`` when that is a module of this repository, else ``pkg``."""
    package = modname if is_package else modname.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.append((node.lineno, sub if _is_module(sub) else base))
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            if name in ("import_module", "__import__") and literal:
                found.append((node.lineno, tp.cast(ast.Constant, arg).value))
    return found


def layering_violations(path: Path, source: str | None = None) -> list[str]:
    modname = _module_name(path)
    text = path.read_text() if source is None else source
    problems = []
    for line, name in imported_modules(text, modname, is_package=path.name == "__init__.py"):
        where = f"{path.relative_to(ROOT)}:{line} imports {name}"
        if _matches(name, FORBIDDEN):
            problems.append(where)
        elif _matches(name, ("exca",)) and not _matches(name, CORE_MODULES):
            problems.append(where + " (outside the core)")
    return problems


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_core_module_imports_no_hydra_and_nothing_above_it(path: Path) -> None:
    assert layering_violations(path) == []


def test_the_import_reader_sees_lazy_relative_and_dynamic_imports() -> None:
    # the shapes the check must catch, here as they once were in exca/confdict.py
    source = """
import typing as tp
if tp.TYPE_CHECKING:
    from omegaconf import DictConfig
def f():
    from exca.hydra.convert import to_omegaconf
    from .hydra import convert
    from . import base
    import importlib
    importlib.import_module("submitit")
    return __import__("hydra.utils")
"""
    problems = layering_violations(ROOT / "exca" / "confdict.py", source)
    imported = [p.split(" imports ")[1] for p in problems]
    assert imported == [
        "omegaconf",
        "exca.hydra.convert",
        "exca.hydra.convert",
        "exca.base (outside the core)",
        "submitit",
        "hydra.utils",
    ]
    handler = ROOT / "exca" / "cachedict" / "handlers" / "basic.py"
    nested = "class A:\n    def g(self):\n        from ...hydra import errors\n"
    assert [p.split(" imports ")[1] for p in layering_violations(handler, nested)] == [
        "exca.hydra.errors"
    ]
    assert layering_violations(ROOT / "exca" / "uid.py", "from . import confdict") == []


def test_core_at_run_time_imports_no_bridge(tmp_path: Path) -> None:
    """Using the core end to end (ConfDict, uid, yaml, export of a model, a CacheDict
    write and read) imports none of the forbidden modules nor an exca module above."""
    code = f"""
import sys, pydantic
from exca.confdict import ConfDict
from exca.export import model_to_dict
from exca.cachedict import CacheDict
import numpy as np

class M(pydantic.BaseModel):
    x: int = 1

cd = ConfDict({{"a.b": 1, "m": model_to_dict(M(x=2))}})
cd.to_uid(); cd.to_yaml()
cache = CacheDict(folder={str(tmp_path)!r}, cache_type="MemmapArray")
with cache.writer() as w:
    w["k"] = np.arange(3)
assert cache["k"].tolist() == [0, 1, 2]
bad = sorted(m for m in sys.modules
             if m.split(".")[0] in ("hydra", "hydra_plugins", "omegaconf", "submitit")
             or m in ("exca.hydra", "exca.base", "exca.task", "exca.map", "exca.backends"))
print(bad)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_confdict_reads_a_dictconfig_without_importing_the_bridge_first() -> None:
    """Backwards compatible: ``ConfDict(dictconfig)``, ``ConfDict.from_omegaconf`` and
    ``cd.to_omegaconf()`` work in a Hydra app that never imported ``exca.hydra``; the
    bridge is imported on the first DictConfig only."""
    code = """
import sys
from omegaconf import OmegaConf
from exca.confdict import ConfDict
before = "exca.hydra" in sys.modules
cfg = OmegaConf.create({"a": {"b": 1}, "c": "${a.b}", "d": "${a}"})
cd = ConfDict(cfg)
back = cd.to_omegaconf()
raw = ConfDict.from_omegaconf(cfg, resolve=False)
print(before, dict(cd), type(back).__name__, back.c, raw["c"], "exca.hydra" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        "False",
        "{'a':",
        "{'b':",
        "1},",
        "'c':",
        "1,",
        "'d':",
        "{'b':",
        "1}}",
        "DictConfig",
        "1",
        "${a.b}",
        "True",
    ]


class _Frozen(collections.abc.Mapping[str, tp.Any]):
    """A mapping type of a pretend config library (this test module) that stores its
    items under an unusual layout, so that only the registered converter can read it."""

    def __init__(self, **items: tp.Any) -> None:
        self._items = items

    def __getitem__(self, key: str) -> tp.Any:
        raise AssertionError("read through the registered converter only")

    def __iter__(self) -> tp.Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


def _frozen_to_dict(obj: _Frozen, upper: bool = False) -> dict[str, tp.Any]:
    return {k.upper() if upper else k: v for k, v in obj._items.items()}


def test_register_converter_for_another_library() -> None:
    library = __name__.partition(".")[0]
    assert library not in confdict._CONVERTERS
    register_converter(library, to_dict=_frozen_to_dict)
    try:
        cd = ConfDict({"outer": _Frozen(x=1)}, inner=_Frozen(y=2))
        assert cd == {"outer": {"x": 1}, "inner": {"y": 2}}
        assert isinstance(cd["outer"], ConfDict)
        with pytest.raises(TypeError, match="No conversion from ConfDict to"):
            confdict._converter(library).load("from_dict")
    finally:
        del confdict._CONVERTERS[library]
    with pytest.raises(TypeError, match="No conversion between ConfDict and 'nolib'"):
        confdict._converter("nolib")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"library": "omegaconf.dictconfig", "to_dict": "m:f"}, "top-level module"),
        ({"library": "", "to_dict": "m:f"}, "top-level module"),
        ({"library": "lib", "to_dict": "m.f"}, 'to_dict must be a "module:function"'),
        ({"library": "lib", "to_dict": "m:f", "from_dict": ":f"}, "from_dict must be"),
    ],
)
def test_register_converter_rejects_bad_arguments(kwargs: dict[str, tp.Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        register_converter(**kwargs)
    assert "lib" not in confdict._CONVERTERS


# # # # # the layer table of docs/architecture.md, for the whole package # # # # #

ARCHITECTURE = ROOT / "docs" / "architecture.md"


def layer_table() -> dict[str, tuple[list[str], list[str], list[str]]]:
    """The layer table of docs/architecture.md: layer -> (its modules, the layers it may
    import, the third-party packages it never imports)."""
    text = ARCHITECTURE.read_text()
    start = text.index("<!-- layer table -->")
    lines = text[start:].splitlines()[1:]
    rows = list(itertools.takewhile(lambda line: line.startswith("|"), lines))
    out = {}
    for row in rows[2:]:  # after the head and the rule
        layer, modules, imports, never = (c.strip() for c in row.strip("|").split("|"))
        out[layer] = (
            [m.strip("` ") for m in modules.split(",")],
            [m.strip() for m in imports.split(",") if m.strip() not in ("", "-")],
            [m.strip("` ") for m in never.split(",") if m.strip() not in ("", "-")],
        )
    return out


def package_modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for p in sorted((ROOT / "exca").rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def layer_of(module: str, table: dict[str, tuple[list[str], list[str], list[str]]]) -> str:
    """The layer of ``module``: the one naming it or its closest package."""
    best, length = "", -1
    for layer, (modules, _, _) in table.items():
        for m in modules:
            if (module == m or module.startswith(m + ".")) and len(m) > length:
                best, length = layer, len(m)
    return best


def exca_imports(path: Path) -> list[tuple[int, str]]:
    modname = _module_name(path)
    found = imported_modules(path.read_text(), modname, is_package=path.name == "__init__.py")
    return [(line, name) for line, name in found if _matches(name, ("exca",))]


def test_every_module_is_in_the_layer_table() -> None:
    table = layer_table()
    assert set(table) >= {"core", "storage", "uid folders", "infras", "hydra bridge", "command"}
    missing = [m for m in package_modules() if not layer_of(m, table)]
    assert missing == []


def test_imports_follow_the_layer_table() -> None:
    """Each module imports (even lazily, in a function) only exca modules of the layers
    its row allows, and never the third-party packages its row forbids: eg the Hydra
    bridge imports no infra, ``exca.inspect`` imports no Hydra."""
    table = layer_table()
    problems = []
    for module, path in package_modules().items():
        layer = layer_of(module, table)
        _, allowed, never = table[layer]
        source = path.read_text()
        for line, name in imported_modules(source, module, is_package=path.name == "__init__.py"):
            where = f"{path.relative_to(ROOT)}:{line} ({layer}) imports {name}"
            if _matches(name, never):
                problems.append(where)
            elif _matches(name, ("exca",)) and name != "exca":
                other = layer_of(name, table)
                if other != layer and other not in allowed:
                    problems.append(f"{where} ({other})")
    assert problems == []


def test_the_layer_table_catches_a_bridge_importing_an_infra() -> None:
    table = layer_table()
    layer = layer_of("exca.hydra.launcher", table)
    assert layer_of("exca.task", table) not in table[layer][1]
    assert "hydra" in table[layer_of("exca.uidfolder", table)][2]
    assert "hydra" in table[layer_of("exca.inspect.entries", table)][2]


def import_cycles() -> list[list[str]]:
    """The cycles of the import graph of exca/ (every import, lazy ones included), as
    strongly connected components of more than one module."""
    modules = package_modules()
    graph = {
        m: sorted({n for _, n in exca_imports(p) if n in modules and n != m})
        for m, p in modules.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle() -> None:
    assert import_cycles() == []


def test_private_names_stay_in_their_module() -> None:
    """No module of exca/ imports a private name (``_name``) of another module of exca/."""
    problems = []
    for path in package_modules().values():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if not node.level and not _matches(node.module or "", ("exca",)):
                continue  # another library's private name: its business
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    problems.append(f"{path.relative_to(ROOT)} {alias.name}")
    assert problems == []


# the names of an entry's files and keys, and the module defining each (once)
ENTRY_NAMES = {
    "uid.yaml": "exca/uidfolder.py",
    "full-uid.yaml": "exca/uidfolder.py",
    "config.yaml": "exca/uidfolder.py",
    "job.pkl": "exca/uidfolder.py",
    "error.txt": "exca/uidfolder.py",
    ".lock": "exca/uidfolder.py",
    "origin.json": "exca/uidfolder.py",
    "submitit": "exca/uidfolder.py",
    "result": "exca/uidfolder.py",
    "default": "exca/uidfolder.py",
    ".claims": "exca/claims.py",
    ".claim": "exca/claims.py",
    ".exca-last-use": "exca/cachedict/index.py",
    "task.yaml": "exca/hydra/targets.py",  # the launcher's marker in a method folder
}
# the same strings meaning something else (file, line content) -> why
OTHER_MEANINGS = {
    ("exca/hydra/fast/serve.py", "config.yaml"): "Hydra's own <output>/.hydra/config.yaml",
    ("exca/demo/callbacks.py", "config.yaml"): "Hydra's own <output>/.hydra/config.yaml",
    ("exca/cli.py", "result"): "the key of exca.inspect.show()'s dict",
    ("exca/inspect/entries.py", "result"): "the key of exca.inspect.show()'s dict",
}


def entry_name_literals() -> list[tuple[str, int, str]]:
    """Every string literal (docstrings excepted) of exca/ equal to an entry's file name
    or key: (file, line, literal)."""
    out = []
    for path in sorted((ROOT / "exca").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and node.value in ENTRY_NAMES
                and id(node) not in docstrings
            ):
                out.append((str(path.relative_to(ROOT)), node.lineno, node.value))
    return out


def test_each_entry_file_name_and_key_is_defined_once() -> None:
    """``"uid.yaml"``, ``"result"``... appear once in the package, where they are defined;
    everything else uses that constant (through :class:`exca.uidfolder.UidFolder`)."""
    found = entry_name_literals()
    defined: dict[str, list[str]] = {}
    for file, line, literal in found:
        if (file, literal) in OTHER_MEANINGS:
            continue
        defined.setdefault(literal, []).append(f"{file}:{line}")
    assert {k: len(v) for k, v in defined.items()} == dict.fromkeys(ENTRY_NAMES, 1), defined
    assert {k: v[0].split(":")[0] for k, v in defined.items()} == ENTRY_NAMES


def cache_dict_openings() -> list[str]:
    """Calls ``CacheDict(...)`` in exca/ outside the storage layer and the uid-folder
    object, but for a CacheDict in RAM (``folder=None``): ``file:line``."""
    out = []
    for path in sorted((ROOT / "exca").rglob("*.py")):
        rel = path.relative_to(ROOT)
        if rel.parts[:2] == ("exca", "cachedict") or rel == Path("exca/uidfolder.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name != "CacheDict":
                continue
            in_ram = any(
                k.arg == "folder" and isinstance(k.value, ast.Constant) and k.value.value is None
                for k in node.keywords
            )
            if not in_ram:
                out.append(f"{rel}:{node.lineno}")
    return out


def test_only_the_uid_folder_object_opens_an_entry_cache_dict() -> None:
    assert cache_dict_openings() == []


def test_modules_over_700_lines_say_why() -> None:
    """Each module of exca/ over 700 lines is named, with why, in the "Sizes" rule of
    docs/architecture.md."""
    text = ARCHITECTURE.read_text()
    sizes = text[text.index("**Sizes.**") :].split("\n\n")[0]
    long = sorted(
        str(p.relative_to(ROOT / "exca"))
        for p in (ROOT / "exca").rglob("*.py")
        if len(p.read_text().splitlines()) > 700
    )
    assert [m for m in long if f"`{m}`" not in sizes] == []
