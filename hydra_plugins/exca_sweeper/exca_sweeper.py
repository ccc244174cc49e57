"""``hydra/sweeper=exca``: Hydra's basic sweeper, composing large sweeps fast.

It accepts what Hydra's basic sweeper accepts (choice lists, ``range()``, ``glob()``,
quoting, ``hydra.sweeper.params``, ``max_batch_size``, ``+``/``++``/``~`` overrides,
config-group sweeps) and works with any launcher. Hydra's full composition runs once per
distinct combination of config-group choices; each job's value overrides are then applied
to a copy of that config. See ``docs/howto-hydra-launcher.md``.

No ``from __future__ import annotations`` here: Hydra's scan executes this module before
registering it in ``sys.modules``, and dataclasses (like OmegaConf) need real annotations.
This module must stay cheap to import (standard library and Hydra only): the work is done
by :mod:`exca.hydra.sweeper`, imported in ``setup()``.
"""

import dataclasses
import typing as tp

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper

if tp.TYPE_CHECKING:
    from hydra.types import HydraContext, TaskFunction
    from omegaconf import DictConfig

    from exca.hydra.sweeper import SweepEngine


@dataclasses.dataclass
class ExcaSweeperConf:
    """Config of ``hydra/sweeper=exca`` (``hydra.sweeper.*``), the basic sweeper's fields.

    ``max_batch_size``: jobs handed to the launcher at a time (None: all of them in one
    batch); ``params``: sweep overrides by key, as in the basic sweeper (the command line
    wins for a key given in both).
    """

    _target_: str = "hydra_plugins.exca_sweeper.exca_sweeper.ExcaSweeper"
    max_batch_size: tp.Optional[int] = None  # noqa: UP045 (OmegaConf needs typing forms)
    params: tp.Optional[tp.Dict[str, str]] = None  # noqa: UP006,UP045


ConfigStore.instance().store(
    group="hydra/sweeper", name="exca", node=ExcaSweeperConf, provider="exca"
)


class ExcaSweeper(Sweeper):
    """Hydra's basic sweeper semantics with fast composition (see the module docstring)."""

    def __init__(
        self,
        max_batch_size: tp.Optional[int] = None,  # noqa: UP045
        params: tp.Optional[tp.Dict[str, str]] = None,  # noqa: UP006,UP045
    ) -> None:
        self.max_batch_size = max_batch_size
        self.params = dict(params or {})
        self.engine: SweepEngine | None = None

    def setup(
        self,
        *,
        hydra_context: "HydraContext",
        task_function: "TaskFunction",
        config: "DictConfig",
    ) -> None:
        """Called by Hydra before the sweep: installs the fast composition, sets up the
        launcher."""
        from exca.hydra.sweeper import SweepEngine  # lazy: keeps the plugin scan cheap

        self.engine = SweepEngine(
            max_batch_size=self.max_batch_size,
            params=self.params,
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
        )

    def sweep(self, arguments: tp.List[str]) -> tp.Any:  # noqa: UP006
        """Runs the sweep's jobs batch by batch; returns the list of batches' JobReturns."""
        if self.engine is None:
            raise RuntimeError("ExcaSweeper.sweep() called before setup()")
        return self.engine.sweep(arguments)
