"""Conveniences built on the infras.

- :func:`to_config_model` / :func:`to_config`: a config model built from a
  function's signature, whose ``build()`` calls the function through a
  TaskInfra (so its result is cached).
- :func:`with_infra`: decorate a plain function so calls go through a TaskInfra.
- :func:`validate_kwargs`: check keyword arguments against a signature.
- :class:`DiscriminatedModel`: sub-configs selected by a type key, no boilerplate.
- :func:`find_slurm_job`: the job (and configuration) behind a Slurm job id.
"""

from __future__ import annotations

import functools
import inspect
import re
import subprocess
import sys
import typing as tp
from pathlib import Path

import pydantic

from .confdict import ConfDict
from .task import TaskInfra
from .uidfolder import JOB, UidFolder

X = tp.TypeVar("X", covariant=True)


class FuncConfigProtocol(tp.Protocol[X]):
    """What :func:`to_config` returns: a validated config whose build() calls the function."""

    infra: TaskInfra

    def build(self) -> X: ...


class FuncConfig(pydantic.BaseModel):
    """Base class of the models created by :func:`to_config_model`."""

    model_config = pydantic.ConfigDict(extra="forbid", arbitrary_types_allowed=True)
    _func: tp.ClassVar[tp.Callable[..., tp.Any]]

    def __reduce__(self) -> tp.Any:
        return (_rebuild_func_config, (type(self)._func, self.__getstate__()))

    def _call(self) -> tp.Any:
        names = [n for n in type(self).model_fields if n != "infra"]
        return type(self)._func(**{name: getattr(self, name) for name in names})


_MODELS: dict[tp.Callable[..., tp.Any], type[FuncConfig]] = {}


def _signature_fields(
    func: tp.Callable[..., tp.Any], skip_variadic: bool = False
) -> dict[str, tp.Any]:
    fields: dict[str, tp.Any] = {}
    hints = tp.get_type_hints(func)
    for name, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            if skip_variadic:
                continue
            raise TypeError(f"{func.__qualname__}: *args/**kwargs cannot become config fields")
        if name == "infra":
            raise ValueError(f"{func.__qualname__}: a parameter named 'infra' is reserved")
        annotation = hints.get(name, tp.Any)
        default = ... if param.default is param.empty else param.default
        fields[name] = (annotation, default)
    return fields


def to_config_model(func: tp.Callable[..., X]) -> type[FuncConfigProtocol[X]]:
    """A pydantic model with one field per parameter of ``func`` plus an ``infra``.

    Its ``build()`` calls ``func`` with the fields' values, cached by the infra.
    """
    if func in _MODELS:
        return tp.cast(type[FuncConfigProtocol[X]], _MODELS[func])
    fields = _signature_fields(func)
    infra = TaskInfra(version="1")

    def build(self: FuncConfig) -> tp.Any:
        return self._call()

    namespace: dict[str, tp.Any] = {
        "__module__": func.__module__,
        "__qualname__": f"{func.__name__}_FuncConfig",
        "__annotations__": {"infra": TaskInfra, **{k: v[0] for k, v in fields.items()}},
        "infra": infra,
        "_func": staticmethod(func),
    }
    for name, (_, default) in fields.items():
        if default is not ...:
            namespace[name] = default
    namespace["build"] = infra.apply(build)
    metaclass: tp.Any = type(FuncConfig)
    model = metaclass(f"{func.__name__}_FuncConfig", (FuncConfig,), namespace)
    _MODELS[func] = model
    # importable as <module>.<func>_FuncConfig (as in exca 0.6.0), so the class pickles by
    # reference in this process; instances pickle through the function (see __reduce__)
    module = sys.modules.get(func.__module__)
    local = "<locals>" in func.__qualname__
    if module is not None and not local and getattr(module, model.__name__, None) is None:
        setattr(module, model.__name__, model)
    return tp.cast(type[FuncConfigProtocol[X]], model)


def _rebuild_func_config(func: tp.Callable[..., tp.Any], state: tp.Any) -> tp.Any:
    """Unpickles a :func:`to_config` object: its class is built again from the function."""
    cls: tp.Any = to_config_model(func)
    obj = cls.__new__(cls)
    obj.__setstate__(state)
    return obj


def to_config(func: tp.Callable[..., X], **kwargs: tp.Any) -> FuncConfigProtocol[X]:
    """A validated config of ``func`` with the given arguments (and ``infra=...``)."""
    return to_config_model(func)(**kwargs)


def validate_kwargs(func: tp.Callable[..., tp.Any], kwargs: dict[str, tp.Any]) -> None:
    """Raises a clear error if ``kwargs`` miss, add, or mistype a parameter of ``func``
    (any extra keyword is accepted when ``func`` takes ``**kwargs``)."""
    fields = _signature_fields(func, skip_variadic=True)
    missing = {n for n, (_, d) in fields.items() if d is ... and n not in kwargs}
    if missing:
        raise ValueError(f"Missing parameter(s) for {func.__qualname__}: {sorted(missing)}")
    params = inspect.signature(func).parameters.values()
    takes_kwargs = any(p.kind == p.VAR_KEYWORD for p in params)
    extra = set() if takes_kwargs else set(kwargs) - set(fields)
    if extra:
        raise ValueError(
            f"Extra parameter(s) for {func.__qualname__}: {sorted(extra)} "
            f"(available: {sorted(set(fields) - set(kwargs))})"
        )
    for name, value in kwargs.items():
        if name not in fields:  # taken by **kwargs
            continue
        annotation = fields[name][0]
        try:
            pydantic.TypeAdapter(annotation).validate_python(value, strict=False)
        except pydantic.ValidationError as e:
            raise TypeError(
                f"Wrong type {type(value).__name__} for {name!r} of {func.__qualname__} "
                f"(expected {annotation}): {e.errors()[0]['msg']}"
            ) from None


class FunctionWithInfra(tp.Generic[X]):
    """A function whose calls go through a TaskInfra (keyword arguments only)."""

    def __init__(self, func: tp.Callable[..., X], infra: TaskInfra | dict[str, tp.Any]) -> None:
        self.func = func
        self.infra = infra if isinstance(infra, dict) else infra.model_dump(exclude_unset=True)
        functools.update_wrapper(self, func)

    def __repr__(self) -> str:
        return f"with_infra({self.infra})({self.func!r})"

    def config(self, **kwargs: tp.Any) -> FuncConfigProtocol[X]:
        """The config object for these arguments."""
        return to_config(self.func, infra=self.infra, **kwargs)

    def __call__(self, *args: tp.Any, **kwargs: tp.Any) -> X:
        if args:
            raise TypeError(
                f"{self.func.__qualname__} goes through exca.helpers.with_infra: pass its "
                f"arguments by keyword (got positional {args!r})"
            )
        return self.config(**kwargs).build()


def with_infra(**infra_kwargs: tp.Any) -> tp.Callable[[tp.Callable[..., X]], FunctionWithInfra[X]]:
    """Decorator: calls of the function are cached/run by a TaskInfra with these fields.

    ::

        @with_infra(folder="/cache")
        def prepare(n: int) -> list[int]: ...

        prepare(n=3)  # computed once, then read from /cache
    """
    TaskInfra(**infra_kwargs)  # validates early

    def deco(func: tp.Callable[..., X]) -> FunctionWithInfra[X]:
        return FunctionWithInfra(func, dict(infra_kwargs))

    return deco


# a validation context key: subclasses are then validated with by_name=True too
BY_NAME_CONTEXT = "exca.by_name"


class DiscriminatedModel(pydantic.BaseModel):
    """Sub-configs selected by a type key, preserved through (de)serialization.

    ::

        class Optim(DiscriminatedModel, discriminator_key="name"): ...
        class Adam(Optim):
            lr: float = 1e-3

        class Train(pydantic.BaseModel):
            optim: Optim

        Train(optim={"name": "Adam", "lr": 0.1}).optim  # an Adam instance
        Optim(name="Adam")  # an Adam instance too

    The key (default ``"type"``) holds the class name: it is a required field set
    automatically (hidden from the repr), so it is always part of the uid, and
    ``model_dump()`` of a field declared as the base class gives all the fields of
    the actual subclass.
    """

    model_config = pydantic.ConfigDict(extra="forbid")
    _discriminator_key: tp.ClassVar[str] = "type"
    # called with each new subclass (exca.hydra adds it to the config groups of its bases)
    _exca_subclass_hooks: tp.ClassVar[list[tp.Callable[[type], None]]] = []

    def __init_subclass__(cls, discriminator_key: str | None = None, **kwargs: tp.Any) -> None:
        if discriminator_key is not None or not any(
            "_exca_registry" in base.__dict__ for base in cls.__mro__
        ):
            registry: dict[str, type[DiscriminatedModel]] = {}
            type.__setattr__(cls, "_exca_registry", registry)  # the root of a new hierarchy
        if discriminator_key is not None:
            cls._discriminator_key = discriminator_key
        key = cls._discriminator_key
        annotations = inspect.get_annotations(cls)
        if key in annotations:
            raise RuntimeError(
                f"{cls.__qualname__} declares a field {key!r}, which is the discriminator key "
                f"of its DiscriminatedModel hierarchy (it holds the class name): rename the "
                f"field, or choose another key with discriminator_key=..."
            )
        if key not in annotations:
            cls.__annotations__ = {**annotations, key: str}
            setattr(cls, key, pydantic.Field(repr=False))
        super().__init_subclass__(**kwargs)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: tp.Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        name = cls.__name__
        for base in cls.__mro__:  # registered in every hierarchy it belongs to
            registry = base.__dict__.get("_exca_registry")
            if registry is None:
                continue
            other = registry.get(name)
            if other is not None and other.__qualname__ != cls.__qualname__:
                raise TypeError(
                    f"Two DiscriminatedModel subclasses named {name!r}: "
                    f"{other.__module__}.{other.__qualname__} and "
                    f"{cls.__module__}.{cls.__qualname__}"
                )
            registry[name] = cls  # a class defined again (same name) replaces the old one
        for hook in DiscriminatedModel._exca_subclass_hooks:
            hook(cls)

    @classmethod
    def _keys(cls) -> set[str]:
        """The keys of all the hierarchies the class belongs to (usually one)."""
        return {
            tp.cast(type[DiscriminatedModel], base)._discriminator_key
            for base in cls.__mro__
            if "_exca_registry" in base.__dict__
        }

    @classmethod
    def _subclass(cls, name: str) -> type[DiscriminatedModel] | None:
        for base in cls.__mro__:
            sub = base.__dict__.get("_exca_registry", {}).get(name)
            if sub is not None and issubclass(sub, cls):
                return tp.cast(type[DiscriminatedModel], sub)
        return None

    @pydantic.model_validator(mode="wrap")
    @classmethod
    def _dispatch(
        cls,
        data: tp.Any,
        handler: pydantic.ValidatorFunctionWrapHandler,
        info: pydantic.ValidationInfo,
    ) -> tp.Any:
        key = cls._discriminator_key
        if isinstance(data, str):  # a plain class name: that subclass with its defaults
            data = {key: data}
        if not isinstance(data, dict):
            return handler(data)
        name = data.get(key, cls.__name__)
        if name == cls.__name__:
            return handler({**data, **{k: name for k in cls._keys()}})
        sub = cls._subclass(name) if isinstance(name, str) else None
        if sub is None:
            options = sorted(
                {
                    n
                    for base in cls.__mro__
                    for n, c in base.__dict__.get("_exca_registry", {}).items()
                    if issubclass(c, cls)
                }
            )
            raise ValueError(f"{key}={name!r} is not a subclass of {cls.__name__}: {options}")
        # the subclass is validated with the outer call's context, and its fields by name
        # when asked (exca.hydra.to_model: configs are keyed by field name, not alias)
        context = info.context
        kwargs: dict[str, tp.Any] = {"context": context}
        if isinstance(context, dict) and context.get(BY_NAME_CONTEXT) is True:
            kwargs.update(by_alias=True, by_name=True)
        return sub.model_validate(data, **kwargs)

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: tp.Any, handler: pydantic.GetCoreSchemaHandler
    ) -> tp.Any:
        from pydantic_core import core_schema

        schema = dict(handler(source))

        def serialize(value: tp.Any, nxt: tp.Any, info: tp.Any) -> tp.Any:
            # a subclass instance in a field declared as a base: dump it as its own class
            if type(value) is source or not isinstance(value, DiscriminatedModel):
                return nxt(value)
            return type(value).__pydantic_serializer__.to_python(
                value,
                mode=info.mode,
                by_alias=info.by_alias,
                exclude_unset=info.exclude_unset,
                exclude_defaults=info.exclude_defaults,
                exclude_none=info.exclude_none,
                round_trip=info.round_trip,
                include=info.include,
                exclude=info.exclude,
                context=info.context,
            )

        schema["serialization"] = core_schema.wrap_serializer_function_ser_schema(
            serialize, info_arg=True
        )
        return schema

    def __new__(cls, *args: tp.Any, **data: tp.Any) -> tp.Any:
        name = data.get(cls._discriminator_key)
        if isinstance(name, str) and name != cls.__name__:
            sub = cls._subclass(name)
            if sub is not None:
                return super().__new__(sub)
        return super().__new__(cls)


def find_slurm_job(*, job_id: str, folder: str | Path | None = None) -> tp.Any:
    """The submitit job of a Slurm job id, found in a cache folder, or None.

    Every job submitted by a :class:`~exca.TaskInfra` or by the ``exca_slurm`` Hydra
    launcher is recorded in its uid folder (``job.pkl``); this looks for the one with
    this ``job_id`` (``"<array id>_<task>"`` for a task of an array) among the uid
    folders of ``folder``. ``folder=None`` asks ``scontrol`` where the job writes its
    logs and takes the folder above ``logs/`` (the infras' default ``logs``; Slurm
    only knows jobs that are running or ended recently).

    The returned ``submitit.SlurmJob`` has ``stdout()``, ``stderr()``, ``result()``,
    ``done()``, ``state``..., plus ``uid_folder`` (a Path), ``config`` (the full
    configuration, a :class:`~exca.ConfDict`) and ``uid_config`` (the configuration
    its uid is computed from). Jobs of infras that record no ``job.pkl`` (MapInfra,
    SubmitInfra) are found through the submission file submitit writes in their log
    folder, when it is under ``<folder>/logs`` (the default).
    """
    job_id = str(job_id)
    if folder is None:
        folder = _folder_from_scontrol(job_id)
    root = Path(folder)
    if not root.is_dir():
        raise ValueError(f"Cache folder {root} does not exist")
    needle = job_id.encode()
    for path in sorted(root.glob(f"*/*/{JOB}")):
        try:
            if needle not in path.read_bytes():  # cheap filter before unpickling
                continue
        except OSError:
            continue
        entry = UidFolder(path.parent)
        job = entry.load_job()
        if job is None or str(job.job_id) != job_id:
            continue
        job.uid_folder = entry.path
        job.config = _read_config(entry.config_text())
        job.uid_config = _read_config(entry.config_text(full=False))
        return job
    return _find_in_uid_folder_logs(root, job_id) or _find_in_logs(root, job_id)


def _find_in_uid_folder_logs(root: Path, job_id: str) -> tp.Any:
    """A job whose log folder is ``<uid folder>/logs/<user>/<job id>/`` (logs written in
    the uid folder, as exca 0.6.0 finds them), with the ``config.yaml`` and ``uid.yaml``
    of that uid folder; ``root`` may be the uid folder, its method folder or the cache
    folder. None if there is none."""
    import glob

    import submitit

    pattern = f"logs/*/{glob.escape(job_id)}/{glob.escape(job_id)}_*.out"
    for uid_folder in [root, *sorted(root.glob("*")), *sorted(root.glob("*/*"))]:
        outs = sorted(uid_folder.glob(pattern))
        if not outs:
            continue
        entry = UidFolder(uid_folder)
        config, uid_config = entry.config_text(), entry.config_text(full=False)
        if config is None or uid_config is None:
            continue
        job: tp.Any = submitit.SlurmJob(folder=outs[0].parent, job_id=job_id)
        job.uid_folder = uid_folder
        job.config = _read_config(config)
        job.uid_config = _read_config(uid_config)
        return job
    return None


def _find_in_logs(root: Path, job_id: str) -> tp.Any:
    """A job of an infra that records no ``job.pkl`` (MapInfra, SubmitInfra), found
    through the submission file submitit wrote in the infra's log folder (the default
    ``logs`` lives in the cache folder), or None."""
    import pickle

    import submitit

    from .base import BaseInfra

    logs = root / "logs"
    if not logs.is_dir():
        return None
    for path in sorted(logs.glob(f"**/{job_id}_submitted.pkl")):
        try:
            with path.open("rb") as f:
                delayed = pickle.load(f)
        except Exception:  # unreadable, or its classes are gone: not this job
            continue
        infra = None  # the submitted callable (maybe wrapped), or its first argument
        for candidate in [getattr(delayed, "function", None), *getattr(delayed, "args", ())]:
            candidate = getattr(candidate, "__self__", candidate)
            if isinstance(candidate, BaseInfra) and candidate._obj is not None:
                infra = candidate
                break
        if infra is None:
            continue
        from submitit.local.local import LocalJob

        cls: tp.Any = LocalJob if infra.cluster == "local" else submitit.SlurmJob
        job = cls(folder=path.parent, job_id=job_id)
        job.uid_folder = infra.uid_folder()
        job.config = infra.config(uid=False, exclude_defaults=False)
        job.uid_config = infra.config(uid=True, exclude_defaults=True)
        return job
    return None


def _read_config(text: str | None) -> ConfDict | None:
    return None if text is None else ConfDict.from_yaml(text)


def _folder_from_scontrol(job_id: str) -> Path:
    try:
        proc = subprocess.run(
            ["scontrol", "show", "job", job_id],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ValueError(f"Cannot ask Slurm about job {job_id} ({e}): pass folder=") from e
    match = re.search(r"\bStdOut=(\S+)", proc.stdout)
    if proc.returncode != 0 or match is None:
        raise ValueError(
            f"Slurm does not know job {job_id} (any more): pass the cache folder as folder= "
            f"({(proc.stderr or proc.stdout).strip()})"
        )
    stdout = Path(match.group(1))
    if "logs" not in stdout.parts:
        raise ValueError(
            f"The logs of job {job_id} ({stdout}) are not in a 'logs' folder of a cache "
            "folder (custom infra.logs?): pass the cache folder as folder="
        )
    k = len(stdout.parts) - 1 - stdout.parts[::-1].index("logs")
    return Path(*stdout.parts[:k])
