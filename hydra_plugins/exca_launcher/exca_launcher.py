"""Hydra launchers running sweeps through exca's backends and skipping cached jobs.

Select one with ``hydra/launcher=exca_inline`` (in this process), ``exca_local``
(local subprocesses, through submitit) or ``exca_slurm`` (a Slurm job array). The
config fields are the same for the three, so a command line switches between them
by changing only the launcher name; execution fields a launcher does not use are
ignored (``exca_inline`` ignores them all, ``exca_local`` ignores the ``slurm_*`` ones).

Caching is on when ``hydra.launcher.cache_folder`` is set: see
``docs/howto-hydra-launcher.md``.

No ``from __future__ import annotations`` here: Hydra's scan executes this module before
registering it in ``sys.modules``, and dataclasses (like OmegaConf) need real annotations.

This module is imported by Hydra's plugin scan at every start-up: it must stay cheap
(only the standard library and Hydra, which is already imported). The work is done by
:mod:`exca.hydra.launcher`, imported when a launcher is set up.
"""

import abc
import dataclasses
import typing as tp

from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.plugins.launcher import Launcher
from omegaconf import DictConfig, OmegaConf

if tp.TYPE_CHECKING:
    from hydra.core.utils import JobReturn
    from hydra.types import HydraContext, TaskFunction

    from exca.hydra.launcher import SweepRunner

_MODULE = "hydra_plugins.exca_launcher.exca_launcher"


@dataclasses.dataclass
class ExcaLauncherConf:
    """Config of the exca launchers (``hydra.launcher.*``).

    Caching: ``cache_folder`` (None: caching off; a relative path is relative to the
    directory the app is started from), ``mode`` (``cached``, ``retry``, ``force`` or
    ``read-only``), ``version`` (part of the cache folder name: bump it when the task
    function changes), ``exclude_from_uid`` (dotted config keys that do not change the
    result), ``artifacts`` (what a job served from the cache gets of the files of its
    original run: ``link``, ``copy`` or ``none``), ``volatile_resolvers`` (resolvers
    besides ``now`` whose value changes at every run: warned about when in a uid),
    ``project_root`` (absolute paths under it enter uids relative to it; None: they stay
    absolute).

    Execution (same names as :class:`exca.TaskInfra`'s fields): ``logs`` (submitit's
    folder, ``%j`` is the job id), ``max_jobs`` (jobs running at the same time: Slurm
    array parallelism, or local processes), ``wait`` (false: submit and return at once,
    see ``exca sweep``), and the resources.
    """

    _target_: str = f"{_MODULE}.ExcaInlineLauncher"
    # caching
    cache_folder: tp.Optional[str] = None  # noqa: UP045 (OmegaConf needs typing forms)
    mode: str = "cached"
    version: str = "0"
    exclude_from_uid: tp.List[str] = dataclasses.field(default_factory=list)  # noqa: UP006
    #: str, one of link | copy | none: a job served from the cache gets, in its own output
    #: dir, the files its original run wrote there (symlinks, copies, or nothing); its
    #: own .hydra/ and log file stay its own
    artifacts: str = "link"
    #: list of resolver names: besides ``now``, OmegaConf resolvers whose value changes
    #: at every run; a job whose uid depends on one gets a warning (such a job never hits
    #: the cache unless the key is in exclude_from_uid)
    volatile_resolvers: tp.List[str] = dataclasses.field(default_factory=list)  # noqa: UP006
    #: absolute paths under this folder (relative: to the directory the app is launched
    #: from) enter job uids relative to it, and so does a script task's path: a second
    #: clone of the project shares the cache; null: they stay absolute
    project_root: tp.Optional[str] = "."  # noqa: UP045
    # where and how jobs run
    logs: str = "${hydra.sweep.dir}/.submitit/%j"
    max_jobs: tp.Optional[int] = None  # noqa: UP045
    # false (exca_slurm, exca_local): submit the uncached jobs and return at once; run the
    # same command again to collect the results from the cache
    wait: bool = True
    job_name: tp.Optional[str] = "${hydra.job.name}"  # noqa: UP045
    timeout_min: tp.Optional[int] = 60  # noqa: UP045
    nodes: tp.Optional[int] = 1  # noqa: UP045
    tasks_per_node: tp.Optional[int] = 1  # noqa: UP045
    cpus_per_task: tp.Optional[int] = None  # noqa: UP045
    gpus_per_node: tp.Optional[int] = None  # noqa: UP045
    mem_gb: tp.Optional[float] = None  # noqa: UP045
    max_pickle_size_gb: tp.Optional[float] = None  # noqa: UP045
    slurm_constraint: tp.Optional[str] = None  # noqa: UP045
    slurm_partition: tp.Optional[str] = None  # noqa: UP045
    slurm_account: tp.Optional[str] = None  # noqa: UP045
    slurm_qos: tp.Optional[str] = None  # noqa: UP045
    slurm_use_srun: bool = False
    # a dict, not None: OmegaConf 2.3 cannot merge a command-line dict into a None node
    slurm_additional_parameters: tp.Dict[str, tp.Any] = dataclasses.field(  # noqa: UP006
        default_factory=dict
    )
    slurm_setup: tp.Optional[tp.List[str]] = None  # noqa: UP006,UP045
    conda_env: tp.Optional[str] = None  # noqa: UP045


class HydraConfigForLauncher(Callback):
    """Lets ``hydra.launcher.*`` use ``${hydra:...}`` (``cache_folder:
    ${hydra:runtime.cwd}/cache``): Hydra resolves the launcher's parameters before any job
    exists, when its ``hydra`` resolver has no config to read in a multirun. At the start
    of a multirun whose launcher parameters use it, this sets Hydra's config to the
    sweep's (each job sets its own later, as usual).

    The exca launchers add it to ``hydra.callbacks`` (key ``exca_launcher``).
    """

    def on_multirun_start(self, config: DictConfig, **kwargs: tp.Any) -> None:
        """Sets Hydra's config if a launcher parameter reads it."""
        launcher = OmegaConf.to_container(config.hydra.launcher, resolve=False)
        assert isinstance(launcher, dict)
        uses_resolver = any("${hydra:" in str(v).replace(" ", "") for v in launcher.values())
        if uses_resolver and not HydraConfig.initialized():
            HydraConfig.instance().set_config(config)


_CALLBACK = "exca_launcher"
# added to hydra.callbacks by every exca launcher config (Hydra defaults list)
_DEFAULTS = [{f"/hydra/callbacks@_global_.hydra.callbacks.{_CALLBACK}": _CALLBACK}]


@dataclasses.dataclass
class ExcaInlineLauncherConf(ExcaLauncherConf):
    """``hydra/launcher=exca_inline``: jobs run one after the other in this process."""

    defaults: tp.List[tp.Any] = dataclasses.field(default_factory=lambda: list(_DEFAULTS))  # noqa: UP006
    _target_: str = f"{_MODULE}.ExcaInlineLauncher"


@dataclasses.dataclass
class ExcaLocalLauncherConf(ExcaLauncherConf):
    """``hydra/launcher=exca_local``: one local subprocess per job (submitit)."""

    defaults: tp.List[tp.Any] = dataclasses.field(default_factory=lambda: list(_DEFAULTS))  # noqa: UP006

    _target_: str = f"{_MODULE}.ExcaLocalLauncher"


@dataclasses.dataclass
class ExcaSlurmLauncherConf(ExcaLauncherConf):
    """``hydra/launcher=exca_slurm``: one Slurm job array for the uncached jobs (submitit)."""

    defaults: tp.List[tp.Any] = dataclasses.field(default_factory=lambda: list(_DEFAULTS))  # noqa: UP006

    _target_: str = f"{_MODULE}.ExcaSlurmLauncher"


_CS = ConfigStore.instance()
_CS.store(
    group="hydra/callbacks",
    name=_CALLBACK,
    node={"_target_": f"{_MODULE}.HydraConfigForLauncher"},
    provider="exca",
)
_CS.store(group="hydra/launcher", name="exca_inline", node=ExcaInlineLauncherConf, provider="exca")
_CS.store(group="hydra/launcher", name="exca_local", node=ExcaLocalLauncherConf, provider="exca")
_CS.store(group="hydra/launcher", name="exca_slurm", node=ExcaSlurmLauncherConf, provider="exca")


class ExcaLauncher(Launcher):
    """Base of the exca launchers; ``cluster`` names the exca backend jobs run on."""

    def __init__(self, **params: tp.Any) -> None:
        self.params = params
        self.runner: SweepRunner | None = None

    @property
    @abc.abstractmethod
    def cluster(self) -> str | None:
        """The :func:`exca.backends.get_backend` cluster name (None: in process)."""

    def setup(
        self,
        *,
        hydra_context: "HydraContext",
        task_function: "TaskFunction",
        config: "DictConfig",
    ) -> None:
        """Called by Hydra before the sweep: reads and checks ``hydra.launcher``."""
        from exca.hydra.launcher import SweepRunner  # lazy: keeps the plugin scan cheap

        self.runner = SweepRunner(
            cluster=self.cluster,
            params=self.params,
            hydra_context=hydra_context,
            task_function=task_function,
            config=config,
        )

    def launch(
        self, job_overrides: tp.Sequence[tp.Sequence[str]], initial_job_idx: int
    ) -> "tp.Sequence[JobReturn]":
        """Runs the uncached jobs of a batch; returns one JobReturn per job, in order."""
        if self.runner is None:
            raise RuntimeError(f"{type(self).__name__}.launch() called before setup()")
        return self.runner.launch(job_overrides, initial_job_idx)


class ExcaInlineLauncher(ExcaLauncher):
    """Runs the jobs one after the other in the current process (quick sweeps, debugging)."""

    cluster = None


class ExcaLocalLauncher(ExcaLauncher):
    """Runs each job in its own local subprocess (submitit's local executor)."""

    cluster = "local"


class ExcaSlurmLauncher(ExcaLauncher):
    """Submits the jobs as one Slurm job array (submitit)."""

    cluster = "slurm"
