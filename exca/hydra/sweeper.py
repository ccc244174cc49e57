"""The engine of ``hydra/sweeper=exca`` (plugin class in ``hydra_plugins.exca_sweeper``).

Two pieces:

- :class:`~exca.hydra.fast.compose.FastComposer` (in the fast path,
  :mod:`exca.hydra.fast`) replaces the config loader's ``load_sweep_config`` for the
  sweep: one full composition per combination of config-group choices;
- :class:`SweepEngine` expands the sweep as Hydra's basic sweeper does (choice lists,
  ``range()``, ``glob()``, ``hydra.sweeper.params`` with the command line winning,
  ``max_batch_size``) and streams the jobs to the launcher batch by batch: the job lists
  are generated lazily, never all held at once.
"""

from __future__ import annotations

import itertools
import logging
import time
import typing as tp
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn
from hydra.errors import HydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from .fast.compose import FastComposer

__all__ = ["SweepEngine"]

log = logging.getLogger(__name__)

STREAM_BATCH = 500
"""Jobs handed to the launcher at a time when ``max_batch_size`` is unset (memory stays
flat however large the sweep; failures are raised after the last batch, as with one)."""


def expand(overrides: list[Override]) -> list[list[str]]:
    """Per swept key (in first-seen order, a later override of a key replacing an
    earlier one), the ``key=value`` strings of its jobs (Hydra's basic sweeper's rule)."""
    per_key: dict[str, list[str]] = {}
    for override in overrides:
        key = override.get_key_element()
        if override.is_sweep_override():
            if not override.is_discrete_sweep():
                kind = override.value_type.name if override.value_type else "?"
                raise HydraException(
                    f"hydra/sweeper=exca does not support sweep type {kind}: "
                    f"{override.input_line!r} (use a choice list, range() or glob())"
                )
            per_key[key] = [f"{key}={value}" for value in override.sweep_string_iterator()]
        else:
            per_key[key] = [f"{key}={override.get_value_element_as_str()}"]
    return list(per_key.values())


class SweepEngine:
    """What ``hydra/sweeper=exca`` does (see the module docstring); one per ``setup()``."""

    def __init__(
        self,
        *,
        max_batch_size: int | None,
        params: tp.Mapping[str, tp.Any],
        hydra_context: HydraContext,
        task_function: TaskFunction,
        config: DictConfig,
    ) -> None:
        from hydra.core.plugins import Plugins

        if max_batch_size is not None and max_batch_size < 1 and max_batch_size != -1:
            raise HydraException(
                f"hydra.sweeper.max_batch_size must be >= 1 (or null), got {max_batch_size}"
            )
        self.max_batch_size = None if max_batch_size == -1 else max_batch_size
        self.params = {str(k): str(v) for k, v in params.items()}
        self.hydra_context = hydra_context
        self.config = config
        self.composer = FastComposer.install(hydra_context)
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def jobs(self, arguments: list[str]) -> tuple[int, tp.Iterator[list[str]]]:
        """The number of jobs and their overrides (generated lazily)."""
        lines = [f"{k}={v}" for k, v in self.params.items()] + list(arguments)
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        lists = expand(parser.parse_overrides(lines))
        total = 1
        for values in lists:
            total *= len(values)
        return total, (list(job) for job in itertools.product(*lists))

    def sweep(self, arguments: list[str]) -> list[tp.Sequence[JobReturn]]:
        """Runs the jobs batch by batch (each batch checked to compose before it is
        launched); returns the batches' JobReturns. A failed job's error is raised after
        its batch with ``max_batch_size`` set, like Hydra's basic sweeper, and after the
        last batch without it (the sweep is one batch then, streamed to the launcher
        :data:`STREAM_BATCH` jobs at a time)."""
        total, jobs = self.jobs(list(arguments))
        streamed = self.max_batch_size is None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        size = self.max_batch_size or STREAM_BATCH
        loader = self.hydra_context.config_loader
        returns: list[tp.Sequence[JobReturn]] = []
        start = 0
        while start < total:
            batch = list(itertools.islice(jobs, size))
            tic = time.perf_counter()
            for overrides in batch:  # errors before anything of the batch runs
                if self.composer is not None:
                    self.composer.validate(self.config, overrides)
                else:
                    loader.load_sweep_config(master_config=self.config, sweep_overrides=overrides)
            log.debug(
                "composed %d jobs in %.2f s (%s)",
                len(batch),
                time.perf_counter() - tic,
                self.composer.stats if self.composer is not None else "Hydra's composition",
            )
            try:
                results = self.launcher.launch(batch, initial_job_idx=start)
            finally:
                if self.composer is not None:
                    self.composer.forget()
            returns.append(results)
            start += len(batch)
            if not streamed:
                _raise_failure(results)
        for results in returns:
            _raise_failure(results)
        return returns


def _raise_failure(results: tp.Sequence[JobReturn]) -> None:
    for result in results:
        _ = result.return_value  # raises the error of a failed job
