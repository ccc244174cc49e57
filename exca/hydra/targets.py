"""What a job config is (a pydantic model to validate, or anything else Hydra can run), and
which computation a sweep runs (the task function's identity, naming the launcher's cache).

Used by :mod:`exca.hydra.launcher`:

- :func:`classify` reads a config's top-level ``_target_``: only a pydantic model class is
  validated before submission (:func:`validate_partial` for ``_partial_: true``, which
  checks only the fields the config has); functions, methods, other classes, hydra-zen's
  ``zen_processing`` targets and targets that cannot be imported are left to the task
  function, exactly as under Hydra's basic launcher.
- :func:`task_identity` names the task function Hydra runs (module and qualified name,
  looking through wrappers: ``functools.wraps`` (``__wrapped__``), ``functools.partial``,
  hydra-zen's ``zen``, callable instances), and :func:`task_folder_name` turns it into
  the cache folder name of configs that are not pydantic models.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import os
import re
import sys
import typing as tp

import pydantic

__all__ = ["Target", "TaskIdentity", "classify", "task_folder_name", "task_identity"]


@dataclasses.dataclass(frozen=True)
class Target:
    """A config's top-level ``_target_``, classified.

    ``model`` is the pydantic model class it names (None for anything else);
    ``partial`` is ``_partial_: true``; ``problem`` says why the target could not be
    looked at (it is then left to the task function, like any non-model target).
    """

    path: str | None
    model: type[pydantic.BaseModel] | None = None
    partial: bool = False
    problem: str = ""

    @property
    def validates(self) -> bool:
        """Whether the config is validated into a model before submission."""
        return self.model is not None


def classify(target: tp.Any, partial: tp.Any = False) -> Target:
    """Classifies the value of a config's ``_target_`` (and of its ``_partial_``)."""
    if not isinstance(target, str):
        return Target(path=None)
    from .schema import REGISTERED

    is_partial = partial is True or str(partial).lower() == "true"
    if target in REGISTERED:
        return Target(path=target, model=REGISTERED[target], partial=is_partial)
    from hydra._internal.utils import _locate

    try:
        obj = _locate(target)
    except Exception as e:  # the task may never instantiate it: its business
        text = str(e).strip().splitlines()
        return Target(path=target, problem=text[0] if text else type(e).__name__)
    if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel):
        return Target(path=target, model=obj, partial=is_partial)
    return Target(path=target)


def validate_partial(data: tp.Mapping[str, tp.Any], model: type[pydantic.BaseModel]) -> None:
    """Validates the fields a ``_partial_: true`` config has (the others are given later
    by the app): raises :class:`~exca.hydra.errors.ConfigError` naming each bad field."""
    from .validate import format_errors, strip_hydra_keys

    values = strip_hydra_keys(dict(data))
    try:
        model.model_validate(values)
    except pydantic.ValidationError as e:
        errors = [
            err
            for err in e.errors()
            if not (
                err["type"] == "missing" and len(err["loc"]) == 1 and err["loc"][0] not in values
            )
        ]
        if errors:
            raise format_errors(model, errors, []) from None


# # # # # the task function's identity # # # # #


@dataclasses.dataclass(frozen=True)
class TaskIdentity:
    """The function a sweep runs: ``module`` and ``qualname``; ``file`` is the script's
    absolute path when the function is defined in a script run as ``__main__``."""

    module: str
    qualname: str
    file: str = ""

    def describe(self) -> str:
        where = f" in {self.file}" if self.file else ""
        return f"{self.module}.{self.qualname}{where}"


def _unwrap(func: tp.Any) -> tp.Any:
    """The function under known wrappers (at most a few levels, never looping)."""
    for _ in range(20):
        if isinstance(func, functools.partial):
            func = func.func
        elif hasattr(func, "__wrapped__") and callable(func.__wrapped__):
            func = func.__wrapped__  # functools.wraps: exca.hydra.main, zen's hydra_main
        elif type(func).__module__.split(".")[0] == "hydra_zen" and callable(
            getattr(func, "func", None)
        ):
            func = func.func  # hydra_zen.zen(task): a Zen object holding the task
        elif inspect.ismethod(func):
            func = func.__func__
        else:
            return func
    return func


def task_identity(task_function: tp.Any) -> TaskIdentity:
    """The identity of the function Hydra runs for each job (see the module docstring)."""
    func = _unwrap(task_function)
    if not (inspect.isfunction(func) or inspect.isclass(func) or inspect.isbuiltin(func)):
        func = type(func)  # a callable instance: named by its class
    module = getattr(func, "__module__", None) or "?"
    qualname = str(getattr(func, "__qualname__", None) or getattr(func, "__name__", "?"))
    file = ""
    if module == "__main__":
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        if spec is not None and getattr(spec, "name", None):
            module = str(spec.name)  # python -m pkg.app: named like an import
        else:
            try:
                path = inspect.getsourcefile(func) or inspect.getfile(func)
            except (TypeError, OSError):
                path = getattr(main, "__file__", None) or ""
            file = os.path.realpath(path) if path else ""
    return TaskIdentity(module=module, qualname=qualname, file=file)


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def task_folder_name(identity: TaskIdentity) -> str:
    """The cache folder part naming a task function: ``<module>.<qualname>``; a script's
    function is ``<script stem>-<hash of its absolute path>.<qualname>`` (two scripts of
    the same name in two folders never share a cache)."""
    module = identity.module
    if identity.file:
        stem = os.path.splitext(os.path.basename(identity.file))[0]
        digest = hashlib.sha256(identity.file.encode("utf8")).hexdigest()[:8]
        module = f"{stem}-{digest}"
    qualname = identity.qualname.replace("<", "").replace(">", "")  # <locals>, <lambda>
    return _UNSAFE.sub("_", f"{module}.{qualname}")


TASK_FILE = "task.yaml"  # in <cache>/<task folder>,<version>/: the function it caches


def claim_task_folder(folder: os.PathLike[str] | str, identity: TaskIdentity, write: bool) -> None:
    """Checks that a task-named cache folder belongs to ``identity`` (its ``task.yaml``),
    writing that file for a new folder (when ``write``).

    A folder holding uid folders but no ``task.yaml`` was written by something else (an
    exca launcher that named caches after ``hydra.job.name``, which two apps can share):
    its results are not reused. Raises ValueError naming the folder and the way out.
    """
    from pathlib import Path

    import yaml

    from exca import layout

    path = Path(folder)
    marker = path / TASK_FILE
    expected = dataclasses.asdict(identity)
    try:
        text = marker.read_text(encoding="utf8")
    except FileNotFoundError:
        text = None
    if text is not None:
        try:
            found = yaml.safe_load(text)
        except yaml.YAMLError:
            found = None
        if found != expected:
            raise ValueError(
                f"the cache folder {path} belongs to another task function ({marker}: "
                f"{text.strip()!r}; this sweep runs {identity.describe()}): set another "
                "hydra.launcher.version, or move that folder away"
            )
        return
    if path.is_dir() and any(p.is_dir() for p in path.iterdir()):
        raise ValueError(
            f"the cache folder {path} has results but no {TASK_FILE}: it was written by an "
            "older exca launcher (caches named after hydra.job.name, which several apps can "
            "share) or by something else, and is not reused; move it away (or set another "
            "hydra.launcher.version) to run these jobs again"
        )
    if write:
        path.mkdir(parents=True, exist_ok=True)
        layout.atomic_write_text(marker, yaml.safe_dump(expected, sort_keys=True))
