"""What every infra shares.

An *infra* is a pydantic model used as a field of the user's model (the
*owner*)::

    class Train(pydantic.BaseModel):
        lr: float = 0.1
        infra: exca.TaskInfra = exca.TaskInfra(version="1")

        @infra.apply
        def run(self) -> float: ...

This module holds what TaskInfra, MapInfra and SubmitInfra have in common: the
execution fields, binding an infra instance to its owner, the uid and the uid
folder (the cache layout lives in :mod:`exca.layout`), config dumps and their
check, cloning, and freezing the owner once its uid is known.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import typing as tp
from pathlib import Path

import pydantic

from . import layout
from .backends import Resources, default_logs
from .confdict import ConfDict
from .workdir import WorkDir

logger = logging.getLogger(__name__)

Mode = tp.Literal["cached", "retry", "force", "read-only"]
ExcludeSpec = tp.Iterable[str] | tp.Callable[[tp.Any], tp.Iterable[str]] | str

# fields of the infras that say where and how to run, not what is computed
EXECUTION_FIELDS = (
    "job_name",
    "timeout_min",
    "nodes",
    "tasks_per_node",
    "cpus_per_task",
    "gpus_per_node",
    "mem_gb",
    "max_pickle_size_gb",
    "slurm_constraint",
    "slurm_partition",
    "slurm_account",
    "slurm_qos",
    "slurm_use_srun",
    "slurm_additional_parameters",
    "slurm_setup",
    "conda_env",
)


@dataclasses.dataclass
class MethodSpec:
    """What ``@infra.apply`` recorded about the decorated method."""

    method: tp.Callable[..., tp.Any]
    exclude_from_cache_uid: ExcludeSpec = ()
    options: dict[str, tp.Any] = dataclasses.field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.method.__name__


# (owner class, infra field name) -> spec, filled by apply + __set_name__
_SPECS: dict[tuple[type, str], MethodSpec] = {}


def _find_spec(owner: type, name: str) -> MethodSpec | None:
    for cls in owner.__mro__:
        spec = _SPECS.get((cls, name))
        if spec is not None:
            return spec
    return None


class FrozenModelError(AttributeError):
    """Raised when a field of a model is changed after its uid was computed."""


def _install_setattr_guard(owner: type) -> None:
    if owner.__dict__.get("_exca_guarded", False):
        return
    previous = owner.__setattr__

    def __setattr__(self: tp.Any, name: str, value: tp.Any) -> None:
        if name in type(self).model_fields:
            for infra_name in _infra_fields(type(self)):
                infra = self.__dict__.get(infra_name)
                if isinstance(infra, BaseInfra) and infra._frozen and infra_name != name:
                    raise FrozenModelError(
                        f"Cannot set {type(self).__name__}.{name}: the object is frozen since its "
                        f"uid was computed ({infra._uid_cache!r}). Use "
                        f"obj.{infra_name}.clone_obj({name}=...) to get a modified copy."
                    )
        previous(self, name, value)  # type: ignore[call-arg]

    owner.__setattr__ = __setattr__  # type: ignore[method-assign,assignment]
    owner._exca_guarded = True  # type: ignore[attr-defined]


def _infra_fields(owner: type) -> list[str]:
    cached = owner.__dict__.get("_exca_infra_fields")
    if cached is None:
        cached = [
            name
            for name, field in owner.model_fields.items()  # type: ignore[attr-defined]
            if isinstance(field.default, BaseInfra)
            or (isinstance(field.annotation, type) and issubclass(field.annotation, BaseInfra))
        ]
        owner._exca_infra_fields = cached  # type: ignore[attr-defined]
    return tp.cast(list[str], cached)


class BaseInfra(pydantic.BaseModel):
    """Fields and behaviour common to all infras (see :class:`exca.TaskInfra`)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    folder: Path | str | None = None
    cluster: str | None = None
    logs: Path | str = "{folder}/logs/{user}/%j"
    job_name: str | None = None
    timeout_min: int | None = None
    nodes: int | None = 1
    tasks_per_node: int | None = 1
    cpus_per_task: int | None = None
    gpus_per_node: int | None = None
    mem_gb: float | None = None
    max_pickle_size_gb: float | None = None
    slurm_constraint: str | None = None
    slurm_partition: str | None = None
    slurm_account: str | None = None
    slurm_qos: str | None = None
    slurm_use_srun: bool = False
    slurm_additional_parameters: dict[str, int | str | float | bool] | None = None
    slurm_setup: list[str] | None = None
    conda_env: Path | str | None = None
    workdir: WorkDir | None = None
    version: str = "0"

    _obj: tp.Any = None
    _field_name: str = ""
    _spec: MethodSpec | None = None
    _uid_cache: str | None = None
    _frozen: bool = False
    _checked: bool = False

    # ---- uid rules: an infra contributes only its version ----
    def _exclude_from_cls_uid(self) -> list[str]:
        return [name for name in type(self).model_fields if name != "version"]

    # ---- binding to the owner ----
    def __set_name__(self, owner: type, name: str) -> None:
        # called when the class body `infra: TaskInfra = TaskInfra()` is created:
        # inject an after-validator that binds each owner instance to its infra
        if self._spec is not None:
            _SPECS[(owner, name)] = self._spec
        self._field_name = name

        def _exca_bind(obj: tp.Any) -> tp.Any:
            infra = obj.__dict__.get(name)
            if isinstance(infra, BaseInfra):
                if infra._obj is not None and infra._obj is not obj:
                    # one infra instance given to several objects: each gets its own
                    infra = infra._unbound_copy()
                    obj.__dict__[name] = infra
                default = type(obj).model_fields[name].default
                if isinstance(default, BaseInfra) and infra is not default:
                    # values given for the infra complete the class's default infra
                    for key in default.model_fields_set - infra.model_fields_set:
                        infra.__dict__[key] = copy.deepcopy(default.__dict__[key])
                        infra.model_fields_set.add(key)
                infra._bind(obj, name)
            return obj

        setattr(owner, f"_exca_bind_{name}", pydantic.model_validator(mode="after")(_exca_bind))
        _install_setattr_guard(owner)

    def _unbound_copy(self) -> tp.Self:
        new = self.model_copy()
        for key in ("_obj", "_uid_cache", "_frozen", "_checked", *self._transient_private()):
            setattr(new, key, self.__private_attributes__[key].get_default())
        return new

    def _bind(self, obj: tp.Any, name: str) -> None:
        if self._obj is obj:
            return
        self._obj = obj
        self._field_name = name
        spec = _find_spec(type(obj), name)
        if spec is not None:
            self._spec = spec
        self._post_bind()

    def _post_bind(self) -> None:
        """Hook for subclasses: validate the decorated method against the infra."""

    @property
    def obj(self) -> tp.Any:
        """The object (owner model) this infra belongs to."""
        if self._obj is None:
            raise RuntimeError(
                f"This {type(self).__name__} is not attached to an object: use it as a field "
                "of a pydantic model and decorate one of its methods with @infra.apply"
            )
        return self._obj

    @property
    def spec(self) -> MethodSpec:
        if self._spec is None and self._obj is not None:
            self._spec = _find_spec(type(self._obj), self._field_name)
        if self._spec is None:
            raise RuntimeError(
                f"{type(self.obj).__name__}.{self._field_name} decorates no method: "
                f"use @{self._field_name}.apply on a method of {type(self.obj).__name__}"
            )
        return self._spec

    def _record(self, method: tp.Callable[..., tp.Any], **options: tp.Any) -> MethodSpec:
        exclude = options.pop("exclude_from_cache_uid", ())
        if isinstance(exclude, str) and not exclude.startswith("method:"):
            raise ValueError(
                f"exclude_from_cache_uid={exclude!r}: expected a list of field names, a "
                "callable, or 'method:<name>'"
            )
        spec = MethodSpec(method=method, exclude_from_cache_uid=exclude, options=options)
        if self._spec is not None and self._spec.method is not method:
            raise RuntimeError(
                f"This infra already decorates {self._spec.name}; an infra decorates one method"
            )
        self._spec = spec
        return spec

    def __getstate__(self) -> dict[tp.Any, tp.Any]:
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        for key in (*self._transient_private(), "_checked", "_spec"):
            # _spec is found again from the class (the method itself is not picklable)
            private[key] = self.__private_attributes__[key].get_default()
        state["__pydantic_private__"] = private
        return state

    def _transient_private(self) -> tuple[str, ...]:
        """Private attributes never pickled (RAM caches, live jobs)."""
        return ()

    # ---- configs and uids ----
    def _cache_exclusions(self) -> list[str]:
        exclude = self.spec.exclude_from_cache_uid
        if isinstance(exclude, str):
            method_name = exclude.split(":", 1)[1]
            method = getattr(self.obj, method_name, None)
            if method is None:
                raise AttributeError(
                    f"exclude_from_cache_uid='method:{method_name}': "
                    f"{type(self.obj).__name__} has no method {method_name!r}"
                )
            exclude = method()
        elif callable(exclude):
            exclude = exclude(self.obj)
        if isinstance(exclude, str):
            raise TypeError(f"exclude_from_cache_uid must give a list of names, got {exclude!r}")
        return list(exclude)

    def config(self, uid: bool = True, exclude_defaults: bool = False) -> ConfDict:
        """The owner's config as a ConfDict.

        With ``uid=True`` it follows the uid rules (exclusions, infra reduced to
        its version) and drops the method's ``exclude_from_cache_uid`` fields: it
        is the config that names the cache folder.
        """
        cfg = ConfDict.from_model(self.obj, uid=uid, exclude_defaults=exclude_defaults)
        if uid and self._spec is not None:
            for key in self._cache_exclusions():
                cfg.pop(key, None)
        return cfg

    def _method_prefix(self) -> str:
        cls = type(self.obj)
        return layout.method_folder_name(
            cls.__module__, cls.__qualname__, self.spec.name, self.version
        )

    def uid(self) -> str:
        """``<module>.<Class>.<method>,<version>/<cache uid>`` (freezes the owner)."""
        if self._uid_cache is None:
            uid = self.config(uid=True, exclude_defaults=True).to_uid()
            self._uid_cache = f"{self._method_prefix()}/{layout.uid_name(uid)}"
            self._frozen = True
        return self._uid_cache

    def uid_folder(self, create: bool = False) -> Path | None:
        """The cache folder of this object (None without ``folder``).

        With ``create=True`` the folder is created and the config dumps
        (``uid.yaml``, ``full-uid.yaml``, ``config.yaml``) are written, or checked
        against the existing ones.
        """
        if self.folder is None:
            if create:
                raise ValueError(f"{type(self).__name__}.folder must be set to create a folder")
            return None
        folder = Path(self.folder) / self.uid()
        if create:
            self._check_configs(folder, write=True)
        return folder

    def _check_configs(self, folder: Path, write: bool) -> None:
        """Writes the config dumps, or checks the existing uid config matches ours."""
        if self._checked:
            return
        uid_cfg = self.config(uid=True, exclude_defaults=True)
        layout.check_or_write_configs(
            folder,
            uid_cfg,
            full_uid=lambda: self.config(uid=True, exclude_defaults=False),
            full=lambda: self.config(uid=False, exclude_defaults=True),
            write=write,
        )
        self._checked = True

    def _resources(self, max_workers: int | None = None) -> Resources:
        res = Resources(folder=default_logs(self.folder, self.logs), max_workers=max_workers)
        for name in EXECUTION_FIELDS:
            setattr(res, name, getattr(self, name))
        if res.job_name is None and self._obj is not None and self._spec is not None:
            res.job_name = f"{type(self.obj).__name__}.{self.spec.name}"
        return res

    def clone_obj(self, *args: dict[str, tp.Any], **kwargs: tp.Any) -> tp.Any:
        """A new owner object with updated values (dicts and/or dotted keywords).

        ``obj.infra.clone_obj({"optim.lr": 0.1}, seed=3)``
        """
        cfg = self.config(uid=False, exclude_defaults=True)
        for arg in args:
            if not isinstance(arg, dict):
                raise TypeError(f"clone_obj takes dicts as positional arguments, got {arg!r}")
            cfg.update(arg)
        cfg.update(kwargs)
        return type(self.obj).model_validate(dict(cfg))

    def iter_cached(self) -> tp.Iterator[tp.Any]:
        """Objects of this class/method/version whose results are in the cache folder."""
        if self.folder is None:
            return
        method_folder = Path(self.folder) / self._method_prefix()
        if not method_folder.exists():
            return
        for sub in sorted(method_folder.iterdir()):
            cfg_file = sub / layout.CONFIG
            if not cfg_file.exists():
                continue
            cfg = ConfDict.from_yaml(cfg_file)
            cfg = ConfDict(dict(cfg))
            infra_cfg = cfg.get(self._field_name) or {}
            if isinstance(infra_cfg, dict):
                infra_cfg["folder"] = str(self.folder)
            cfg[self._field_name] = infra_cfg
            try:
                obj = type(self.obj).model_validate(dict(cfg))
            except pydantic.ValidationError as e:
                logger.warning("Skipping %s: its config no longer validates:\n%s", sub, e)
                continue
            infra = getattr(obj, self._field_name)
            if infra._is_cached():
                yield obj

    def _is_cached(self) -> bool:
        raise NotImplementedError

    def _workdir_context(self) -> tp.ContextManager[tp.Any]:
        import contextlib

        if self.workdir is None or self.cluster in (None, "debug", "threadpool"):
            return contextlib.nullcontext()
        parent = self.uid_folder()
        assert parent is not None
        return self.workdir.activate(parent / "code")
