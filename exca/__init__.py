"""exca: configure, validate, cache and run computations from pydantic models.

``import exca`` is cheap: the infras (and through them submitit) are imported
on first attribute access only.
"""

import typing as tp

from .confdict import ConfDict
from .confdict import register_converter as _register_converter

# ConfDict <-> OmegaConf DictConfig: the conversions live in the Hydra bridge, which
# the core never imports; they are imported on first use only (``import exca`` stays cheap)
_register_converter(
    "omegaconf",
    to_dict="exca.hydra.convert:omegaconf_to_dict",
    from_dict="exca.hydra.convert:to_omegaconf",
)

# the one place the version is written: pyproject.toml reads it (tool.setuptools.dynamic);
# it sorts after 0.6.0, the release this package succeeds
__version__ = "0.7.0"

__all__ = ["ConfDict", "MapInfra", "SubmitInfra", "TaskInfra", "__version__"]

_LAZY = {
    "TaskInfra": "exca.task",
    "MapInfra": "exca.map",
    "SubmitInfra": "exca.submit",
}

if tp.TYPE_CHECKING:
    from .map import MapInfra
    from .submit import SubmitInfra
    from .task import TaskInfra


# submodules reachable after a bare ``import exca``, as in exca 0.6.0 (whose docs use
# ``exca.helpers.with_infra``): imported on first access
_SUBMODULES = frozenset(["base", "cachedict", "helpers", "map", "task", "workdir"])


def __getattr__(name: str) -> tp.Any:
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'exca' has no attribute {name!r}")
