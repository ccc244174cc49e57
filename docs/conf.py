"""Sphinx configuration of the exca documentation (MyST markdown pages + autodoc).

Build: ``tox -e docs``, or
``.venv/bin/python -m sphinx -W --keep-going -b html docs docs/_build/html``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document the checkout, even if exca is not installed

import exca  # noqa: E402

project = "exca"
# the version shown in the title of every page (one source: exca.__version__)
version = release = exca.__version__
author = "the exca authors"
copyright = "the exca authors"

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "sphinx_copybutton",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]

# MyST: `(label)=` targets, ```{directive} blocks, {py:class}`...` roles
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# autodoc: members in source order, signatures with types, no import of heavy
# optional dependencies at build time
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_mock_imports = ["torch", "pandas"]

napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_custom_sections = [("Usage", "Example")]

nitpicky = False

# furo: a wide content column; docs/_static/exca.css makes long code lines wrap and
# wide tables fit the column (tests/test_docs_render.py checks it in a real browser)
html_theme = "furo"
html_title = f"exca {release}"
html_static_path = ["_static"]
html_css_files = ["exca.css"]
# the copy button copies the commands of console blocks, without prompts or output: in a
# block with "$ " prompts only the prompt lines are copied; a block without prompts (a
# file, a python example) is copied whole (tests/test_docs_render.py checks both)
copybutton_prompt_text = r"\$ |>>> |\.\.\. "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True


# -- API coverage: every public name of the API modules must be documented --------
# A module's public names are its ``__all__``, or else the classes and functions it
# defines whose names do not start with "_". A name counts as documented when an
# autodoc entry documents the same object, under any path (``exca.TaskInfra``
# covers ``exca.task.TaskInfra``). A missing name is a warning, so ``-W`` fails.
API_MODULES = [
    "exca",
    "exca.confdict",
    "exca.uid",
    "exca.export",
    "exca.cachedict",
    "exca.cachedict.handlers",
    "exca.helpers",
    "exca.backends",
    "exca.workdir",
    "exca.hydra",
    "exca.hydra.launcher",
    "hydra_plugins.exca_launcher.exca_launcher",
    "exca.uidfolder",
    "exca.layout",
    "exca.inspect",
    "exca.sweeps",
    "exca.cli",
    "exca.claims",
    "exca.demo.pipeline",
    "exca.demo.callbacks",
]


def public_names(modname: str) -> list[str]:
    """The public names of an API module (see above)."""
    import importlib
    import inspect

    module = importlib.import_module(modname)
    names = getattr(module, "__all__", None)
    if names is not None:
        return list(names)
    return [
        name
        for name, obj in vars(module).items()
        if not name.startswith("_")
        and (inspect.isclass(obj) or inspect.isfunction(obj))
        and getattr(obj, "__module__", None) == modname
    ]


def _resolve(fullname: str) -> object:
    import importlib

    parts = fullname.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for part in parts[cut:]:
                obj = getattr(obj, part)
        except AttributeError:
            return None
        return obj
    return None


def check_api_coverage(app, env) -> None:  # type: ignore[no-untyped-def]
    """Warns about each public name of API_MODULES missing from the API reference."""
    import importlib

    from sphinx.util import logging as sphinx_logging

    logger = sphinx_logging.getLogger("exca.api")
    documented = set(env.get_domain("py").objects)
    ids = {id(obj) for obj in map(_resolve, documented) if obj is not None}
    for modname in API_MODULES:
        try:
            module = importlib.import_module(modname)
            names = public_names(modname)
        except Exception as e:  # a documented module that vanished or broke
            logger.warning("API reference: cannot import %s: %r", modname, e, type="exca")
            continue
        for name in names:
            fullname = f"{modname}.{name}"
            obj = getattr(module, name, None)
            if fullname in documented:
                continue
            if obj is not None and not isinstance(obj, (str, int, float, tuple)) and id(obj) in ids:
                continue
            logger.warning(
                "API reference: public name %s is not documented (add it to a docs/api-*.md page)",
                fullname,
                type="exca",
                subtype="api",
            )


def add_canonical_ids(app, doctree) -> None:  # type: ignore[no-untyped-def]
    """An object documented under a short path (``exca.ConfDict``) also gets the id of
    its defining module's path (``exca.confdict.ConfDict``): the highlighted sources
    (viewcode) link back to that one."""
    from sphinx import addnodes

    for sig in doctree.findall(addnodes.desc_signature):
        module, fullname = sig.get("module"), sig.get("fullname")
        if not module or not fullname or not sig.get("ids"):
            continue
        obj = _resolve(f"{module}.{fullname}")
        owner = obj
        if obj is not None and not hasattr(obj, "__qualname__"):
            owner = _resolve(f"{module}.{fullname.split('.')[0]}")
        real_module = getattr(owner, "__module__", None)
        if real_module and real_module != module:
            canonical = f"{real_module}.{fullname}"
            if canonical not in sig["ids"]:
                sig["ids"].append(canonical)


def reread_indexed_pages(app, env, added, changed, removed):  # type: ignore[no-untyped-def]
    """Pages with index entries are read again on every build: an incremental build
    writes the search index from the pages it read only, and the index entries of the
    others (which rank the launcher pages first) would be lost."""
    entries = env.get_domain("index").entries
    return [doc for doc, found in entries.items() if found and doc in env.found_docs]


def terminal_lexer():  # type: ignore[no-untyped-def]
    """The lexer of ``console`` blocks: a line starting with ``$ `` is a command (shell
    highlighted, the prompt apart, which the copy button leaves out); every other line is
    output, shown as printed. Pygments' own session lexer takes output lines such as
    ``[...][HYDRA] #0 (lr=0.1)`` for root prompts and colours them as shell code."""
    from pygments.lexer import RegexLexer, bygroups, using
    from pygments.lexers.shell import BashLexer
    from pygments.token import Generic

    class TerminalLexer(RegexLexer):
        name = "exca terminal session"
        aliases = ["console"]
        tokens = {
            "root": [
                (r"^(\$ )(.*\n?)", bygroups(Generic.Prompt, using(BashLexer))),
                (r"^.+\n?|\n", Generic.Output),  # (never an empty match: it would loop)
            ]
        }

    return TerminalLexer


def setup(app):  # type: ignore[no-untyped-def]
    app.add_lexer("console", terminal_lexer())
    app.connect("env-get-outdated", reread_indexed_pages)
    app.connect("env-check-consistency", check_api_coverage)
    app.connect("doctree-read", add_canonical_ids)
    return {"parallel_read_safe": True}
