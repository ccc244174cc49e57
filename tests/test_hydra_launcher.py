"""The exca Hydra launchers (hydra_plugins/exca_launcher + exca/hydra/launcher.py).

Most caching behaviour is tested with the in-process launcher (``exca_inline``); the
subprocess flavours (``exca_local``, ``exca_slurm``) run Hydra's own launcher test suites,
plus one script app (task function in ``__main__`` and a custom resolver, pickled to the
job processes).

Hydra's suites spawn many processes. By default they run: the LauncherTestSuite for
exca_inline (caching off and on), exca_local (off) and exca_slurm (on); the
IntegrationTestSuite for exca_inline with caching on. ``EXCA_TEST_LAUNCHER_FULL=1`` runs
every flavour with caching off and on for both suites (all pass; it takes minutes on a
small machine, hence not by default).
"""

import logging
import os
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest
from hydra.core.global_hydra import GlobalHydra
from hydra.core.utils import JobReturn, JobStatus
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

from exca.hydra.launcher import RESULT, JobFailedBefore, SweepError

APPS = Path(__file__).parent / "hydra_apps"
# a cache inside each test's sweep dir (Hydra's suites give every test its own sweep dir)
CACHE_IN_SWEEP_DIR = "hydra.launcher.cache_folder=${hydra.sweep.dir}/.exca-cache"
# runs the job processes with the repository importable (tests.hydra_apps.models)
ROOT = str(Path(__file__).parents[1])
FULL = os.environ.get("EXCA_TEST_LAUNCHER_FULL") == "1"
# USR2 comes 90 s before the time limit: keep it far from slow job starts on a busy node
SLURM_TIMEOUT = "hydra.launcher.timeout_min=5"
# cache folder of the in-process tests' plain configs: named after their task function
TASK_DIR = "tests.test_hydra_launcher.Task,0"


# # # # # Hydra's launcher test suites, for every flavour, caching off and on # # # # #


@pytest.fixture
def overrides(request: pytest.FixtureRequest) -> list[str]:
    # a fresh list per test: some suite tests extend the list they are given
    return list(request.param)


def _full(*params: tp.Any) -> list[tp.Any]:
    """Parameters used only with EXCA_TEST_LAUNCHER_FULL=1."""
    return list(params) if FULL else []


LOCAL_TIMEOUT = "hydra.launcher.timeout_min=2"
SUITE_CASES = [
    pytest.param("exca_inline", [], id="inline"),
    pytest.param("exca_inline", [CACHE_IN_SWEEP_DIR], id="inline-cached"),
    pytest.param("exca_local", [LOCAL_TIMEOUT], id="local"),
    *_full(pytest.param("exca_local", [LOCAL_TIMEOUT, CACHE_IN_SWEEP_DIR], id="local-cached")),
]


@pytest.mark.parametrize("launcher_name, overrides", SUITE_CASES, indirect=["overrides"])
class TestExcaLauncher(LauncherTestSuite):
    """Hydra's LauncherTestSuite (9 cases) per flavour, caching off and on."""


@pytest.mark.slurm
@pytest.mark.parametrize(
    "launcher_name, overrides",
    [
        pytest.param("exca_slurm", [SLURM_TIMEOUT, CACHE_IN_SWEEP_DIR], id="slurm-cached"),
        *_full(pytest.param("exca_slurm", [SLURM_TIMEOUT], id="slurm")),
    ],
    indirect=["overrides"],
)
class TestExcaSlurmLauncher(LauncherTestSuite):
    """Hydra's LauncherTestSuite on the local Slurm cluster."""


def _integration_flags(launcher: str, *extra: str) -> list[str]:
    return [
        "-m",
        "hydra/hydra_logging=disabled",
        "hydra/job_logging=disabled",
        f"hydra/launcher={launcher}",
        *extra,
    ]


if FULL:

    @pytest.mark.parametrize(
        "task_launcher_cfg, extra_flags",
        [
            pytest.param({}, _integration_flags("exca_inline"), id="inline"),
            pytest.param({}, _integration_flags("exca_local", LOCAL_TIMEOUT), id="local"),
            pytest.param(
                {},
                _integration_flags("exca_slurm", SLURM_TIMEOUT),
                id="slurm",
                marks=pytest.mark.slurm,
            ),
        ],
    )
    class TestExcaLauncherIntegration(IntegrationTestSuite):
        """Hydra's IntegrationTestSuite (11 cases: real apps in subprocesses), caching off."""


@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        pytest.param({}, _integration_flags("exca_inline", CACHE_IN_SWEEP_DIR), id="inline"),
        *_full(
            pytest.param(
                {}, _integration_flags("exca_local", LOCAL_TIMEOUT, CACHE_IN_SWEEP_DIR), id="local"
            ),
            pytest.param(
                {},
                _integration_flags("exca_slurm", SLURM_TIMEOUT, CACHE_IN_SWEEP_DIR),
                id="slurm",
                marks=pytest.mark.slurm,
            ),
        ),
    ],
)
class TestExcaLauncherIntegrationCached(IntegrationTestSuite):
    """The IntegrationTestSuite again with a cache folder (the 10 cases running an app once)."""

    # This case runs the same app (same config, same overrides) twice in the same sweep dir
    # and expects the second run to print again: with caching on, the second run is a
    # cache hit, the task does not run and the output file keeps the first run's single
    # line. That is the feature, so the case is expected to fail exactly that way.
    @pytest.mark.xfail(
        strict=True,
        raises=AssertionError,
        reason="the second identical run is served from the cache and prints nothing",
    )
    def test_to_absolute_path_multirun(
        self, tmpdir: Path, task_launcher_cfg: tp.Any, extra_flags: list[str]
    ) -> None:
        super().test_to_absolute_path_multirun(tmpdir, task_launcher_cfg, extra_flags)


# # # # # caching, in process # # # # #


class Task:
    """A task function recording its calls; ``fail`` makes the job with ``x == fail`` raise."""

    def __init__(self, fail: tp.Any = None) -> None:
        self.calls: list[dict[str, tp.Any]] = []
        self.fail = fail

    def __call__(self, cfg: tp.Any) -> tp.Any:
        from omegaconf import OmegaConf

        values = OmegaConf.to_container(cfg, resolve=True)
        assert isinstance(values, dict)
        self.calls.append(values)
        if self.fail is not None and values.get("x") == self.fail:
            raise ValueError(f"x={self.fail} fails")
        return {"x": values.get("x"), "lr": values.get("lr"), "n": len(self.calls)}


class PlanLog(logging.Handler):
    """Collects the launcher's log records (Hydra reconfigures the root logger)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def plan_log() -> tp.Iterator[PlanLog]:
    handler = PlanLog()
    logger = logging.getLogger("exca.hydra.launcher")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)


class Sweeper:
    """Runs in-process multirun sweeps of the apps in tests/hydra_apps/conf."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.cache = tmp_path / "cache"
        self.count = 0

    def __call__(
        self,
        task: tp.Callable[[tp.Any], tp.Any],
        overrides: list[str],
        config_name: str = "plain",
        launcher: str = "exca_inline",
        cache: bool = True,
    ) -> list[JobReturn]:
        from hydra import version
        from hydra._internal.hydra import Hydra

        version.setbase("1.3")  # a Hydra singleton: restored by hydra_restore_singletons
        self.count += 1
        sweep_dir = self.tmp_path / f"sweep{self.count}"
        args = [f"hydra/launcher={launcher}", f"hydra.sweep.dir={sweep_dir}", *overrides]
        if cache:
            args.append(f"hydra.launcher.cache_folder={self.cache}")
        hydra_ = Hydra.create_main_hydra_file_or_module(
            calling_file=str(APPS / "app.py"),
            calling_module=None,
            config_path="conf",
            job_name="app",
        )
        try:
            returns = hydra_.multirun(
                config_name=config_name,
                task_function=task,
                overrides=args,
                with_log_configuration=False,
            )
        finally:
            GlobalHydra().clear()
        return [r for batch in returns for r in batch]


@pytest.fixture
def sweep(tmp_path: Path, hydra_restore_singletons: None) -> Sweeper:
    return Sweeper(tmp_path)


def test_sweep_runs_only_uncached_jobs(sweep: Sweeper, plan_log: PlanLog) -> None:
    task = Task()
    first = sweep(task, ["x=1,2,3"])
    assert [c["x"] for c in task.calls] == [1, 2, 3]
    assert [r.return_value["n"] for r in first] == [1, 2, 3]
    assert "3 to run, 0 cached" in "\n".join(plan_log.lines)
    # same sweep: nothing runs, every value comes back from the cache, through run_job
    plan_log.lines.clear()
    second = sweep(task, ["x=1,2,3"])
    assert len(task.calls) == 3
    assert [r.return_value for r in second] == [r.return_value for r in first]
    assert all(r.status == JobStatus.COMPLETED for r in second)
    text = "\n".join(plan_log.lines)
    assert "0 to run, 3 cached" in text
    # uid folders named after the swept value (the full config is in uid.yaml and the hash)
    assert "#0 (x=1): cached        tests.test_hydra_launcher.Task,0/x=1-" in text
    for k, ret in enumerate(second):
        out = Path(str(ret.hydra_cfg.hydra.runtime.output_dir))
        assert out == sweep.tmp_path / "sweep2" / str(k)
        assert (out / ".hydra" / "overrides.yaml").read_text().strip() == f"- x={k + 1}"
        assert (out / ".hydra" / "config.yaml").exists()
        assert (out / ".hydra" / "hydra.yaml").exists()
        assert (out / "app.log").exists()
        assert ret.overrides == [f"x={k + 1}"]
        assert ret.cfg is not None and ret.cfg.x == k + 1
    # shifted sweep: exactly one job runs
    third = sweep(task, ["x=2,3,4"])
    assert [c["x"] for c in task.calls] == [1, 2, 3, 4]
    assert [r.return_value["x"] for r in third] == [2, 3, 4]
    # the cache layout: <cache>/<task name>,<version>/<uid>/ with the config dumps
    folders = sorted(p.name for p in (sweep.cache / TASK_DIR).iterdir() if p.is_dir())
    assert "module: tests.test_hydra_launcher" in (sweep.cache / TASK_DIR / "task.yaml").read_text()
    assert folders == [f"x={x}-{f.rsplit('-', 1)[1]}" for x, f in zip(range(1, 5), folders)]
    uid_folder = next((sweep.cache / TASK_DIR).glob("*x=4-*"))
    assert "x: 4" in (uid_folder / "uid.yaml").read_text()
    assert "workers: 2" in (uid_folder / "config.yaml").read_text()


def test_hydra_overrides_never_change_the_uid(sweep: Sweeper) -> None:
    task = Task()
    sweep(task, ["x=1,2"])
    sweep(
        task,
        [
            "x=1,2",
            "hydra.launcher.timeout_min=5",
            "hydra.launcher.gpus_per_node=8",
            "hydra.job.chdir=True",
            "hydra.sweep.subdir=run${hydra.job.num}",
        ],
    )
    assert len(task.calls) == 2


def test_caching_off_runs_everything(sweep: Sweeper) -> None:
    task = Task()
    sweep(task, ["x=1,1"], cache=False)
    sweep(task, ["x=1"], cache=False)
    assert len(task.calls) == 3
    assert not sweep.cache.exists()


def test_model_target_uid_follows_the_model(sweep: Sweeper) -> None:
    task = Task()
    sweep(task, ["lr=0.1,0.01"], config_name="train")
    assert len(task.calls) == 2
    folder = sweep.cache / "tests.hydra_apps.models.Train,0"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[0] == "default" and names[1].startswith("lr=0.01-")
    # explicit default value, a value equal to the default, an excluded field: all hits
    sweep(task, ["lr=0.1", "+seed=1,2", "epochs=3"], config_name="train")
    assert len(task.calls) == 2
    # another model class with the same fields and values has its own cache entries
    sweep(task, ["lr=0.1"], config_name="other_train")
    assert len(task.calls) == 3
    assert (sweep.cache / "tests.hydra_apps.models.OtherTrain,0" / "default").is_dir()
    # the launcher's version names another cache
    sweep(task, ["lr=0.1", "hydra.launcher.version=2"], config_name="train")
    assert len(task.calls) == 4
    assert (sweep.cache / "tests.hydra_apps.models.Train,2" / "default").is_dir()


def test_non_model_target_is_a_plain_config(sweep: Sweeper, plan_log: PlanLog) -> None:
    task = Task()
    sweep(task, ["x=1", "+_target_=builtins.dict"])
    sweep(task, ["x=1", "+_target_=builtins.dict"])
    assert len(task.calls) == 1
    (folder,) = (p for p in (sweep.cache / TASK_DIR).iterdir() if p.is_dir())
    assert "_target_: builtins.dict" in (folder / "uid.yaml").read_text()
    # a target that cannot be imported here is the task's business (as with the basic
    # launcher): the job runs, with a warning
    rets = sweep(task, ["x=1", "+_target_=nowhere.Model"])
    assert rets[0].status == JobStatus.COMPLETED and len(task.calls) == 2
    assert any("_target_='nowhere.Model' cannot be imported" in line for line in plan_log.lines)


def test_a_bad_job_aborts_the_sweep_before_anything_runs(sweep: Sweeper) -> None:
    task = Task()
    with pytest.raises(SweepError) as info:
        sweep(task, ["lr=0.1,fast", "epochs=1,2"], config_name="train")
    text = str(info.value)
    assert "2 of 4 jobs are invalid; nothing was run" in text
    assert "#2 (lr=fast epochs=1)" in text and "#3 (lr=fast epochs=2)" in text
    assert "lr = 'fast'" in text and "expected float" in text
    assert task.calls == []
    assert not sweep.cache.exists()
    # the same check also runs with caching off
    with pytest.raises(SweepError, match=r"#1 .*epochs=many"):
        sweep(task, ["epochs=1,many"], config_name="train", cache=False)
    assert task.calls == []


def test_exclude_from_uid(sweep: Sweeper) -> None:
    task = Task()
    exclude = "hydra.launcher.exclude_from_uid=[data.workers]"
    sweep(task, ["x=1", exclude])
    sweep(task, ["x=1", "data.workers=8", exclude])
    assert len(task.calls) == 1
    # two jobs of one sweep with the same uid: one runs, both get its value
    rets = sweep(task, ["x=2", "data.workers=1,3", exclude])
    assert len(task.calls) == 2
    assert [r.return_value for r in rets] == [rets[0].return_value] * 2
    with pytest.raises(SweepError, match=r"exclude_from_uid lists keys .*'data.wrkers'.*workers"):
        sweep(task, ["x=1", "hydra.launcher.exclude_from_uid=[data.wrkers]"])


def test_failed_job_is_reported_and_not_cached(sweep: Sweeper) -> None:
    task = Task(fail=2)
    with pytest.raises(ValueError, match="x=2 fails"):
        sweep(task, ["x=1,2,3"])
    assert [c["x"] for c in task.calls] == [1, 2, 3]  # the other jobs ran to the end
    folder = next((sweep.cache / TASK_DIR).glob("*x=2-*"))
    assert "ValueError: x=2 fails" in (folder / "error.txt").read_text()
    from exca.cachedict import CacheDict

    assert RESULT not in CacheDict(folder)
    # mode=cached: the failure is reported again, with its traceback, nothing runs
    with pytest.raises(JobFailedBefore, match=r"(?s)mode=retry reruns it.*ValueError: x=2 fails"):
        sweep(task, ["x=1,2,3"])
    assert len(task.calls) == 3
    # mode=retry: only the failed job runs
    task.fail = None
    rets = sweep(task, ["x=1,2,3", "hydra.launcher.mode=retry"])
    assert [c["x"] for c in task.calls] == [1, 2, 3, 2]
    assert [r.return_value["x"] for r in rets] == [1, 2, 3]
    assert not (folder / "error.txt").exists()
    sweep(task, ["x=1,2,3"])
    assert len(task.calls) == 4


def test_modes_force_and_read_only(sweep: Sweeper) -> None:
    task = Task()
    sweep(task, ["x=1,2"])
    rets = sweep(task, ["x=1,2", "hydra.launcher.mode=force"])
    assert len(task.calls) == 4
    assert [r.return_value["n"] for r in rets] == [3, 4]
    rets = sweep(task, ["x=1,2"])  # the forced values replaced the old ones
    assert [r.return_value["n"] for r in rets] == [3, 4]
    rets = sweep(task, ["x=1,2", "hydra.launcher.mode=read-only"])
    assert [r.return_value["n"] for r in rets] == [3, 4]
    with pytest.raises(SweepError) as info:
        sweep(task, ["x=1,2,3,4", "hydra.launcher.mode=read-only"])
    text = str(info.value)
    assert "read-only but 2 of 4 jobs have no cached result; nothing was run" in text
    assert "#2 (x=3)" in text and "#3 (x=4)" in text and "#1 (x=2)" not in text
    assert str(sweep.cache / TASK_DIR) in text
    assert len(task.calls) == 4
    with pytest.raises(ValueError, match=r"mode='sometimes' is not one of cached, retry"):
        sweep(task, ["x=1", "hydra.launcher.mode=sometimes"])


def test_config_mismatch_in_a_uid_folder_is_an_error(sweep: Sweeper) -> None:
    task = Task()
    sweep(task, ["x=1,2"])
    folder = next((sweep.cache / TASK_DIR).glob("*x=1-*"))
    (folder / "uid.yaml").write_text("x: 1\nsomething: else\n")
    with pytest.raises(SweepError, match=r"(?s)#0 \(x=1\).*holds results for another config"):
        sweep(task, ["x=1,2"])
    assert len(task.calls) == 2


def test_relative_cache_folder_starts_at_the_launch_directory(
    sweep: Sweeper, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(sweep.tmp_path)
    task = Task()
    sweep(
        task, ["x=1", "hydra.launcher.cache_folder=rel-cache", "hydra.job.chdir=True"], cache=False
    )
    assert (sweep.tmp_path / "rel-cache" / TASK_DIR).is_dir()


def test_hydra_resolver_values_are_resolved_per_job(sweep: Sweeper) -> None:
    task = Task()
    overrides = ["x=1,2", "+out=${hydra:runtime.output_dir}", "+num=${hydra:job.num}"]
    exclude = "hydra.launcher.exclude_from_uid=[out]"
    rets = sweep(task, [*overrides, exclude])
    assert [c["num"] for c in task.calls] == [0, 1]
    assert rets[1].return_value["x"] == 2
    assert task.calls[1]["out"] == str(sweep.tmp_path / "sweep1" / "1")
    sweep(task, [*overrides, exclude])  # same job nums: hits despite the new output dirs
    assert len(task.calls) == 2


# # # # # pickling, processes, plugin scan # # # # #


def test_launcher_and_task_survive_pickling(sweep: Sweeper) -> None:
    import cloudpickle
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    from hydra_plugins.exca_launcher import exca_launcher

    names = [cls.__name__ for cls in Plugins.instance().discover(Launcher)]
    for name in ["ExcaInlineLauncher", "ExcaLocalLauncher", "ExcaSlurmLauncher"]:
        assert name in names
    seen: list[exca_launcher.ExcaLauncher] = []
    original = exca_launcher.ExcaLauncher.launch

    def spy(self: tp.Any, *args: tp.Any, **kwargs: tp.Any) -> tp.Any:
        seen.append(self)
        return original(self, *args, **kwargs)

    task = Task()
    exca_launcher.ExcaLauncher.launch = spy  # type: ignore[method-assign]
    try:
        sweep(task, ["x=1"])
    finally:
        exca_launcher.ExcaLauncher.launch = original  # type: ignore[method-assign]
    (launcher,) = seen
    copy = cloudpickle.loads(cloudpickle.dumps(launcher))
    assert copy.runner.settings == launcher.runner.settings
    assert isinstance(copy.runner.task_function, Task)


def _run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXCA_TEST_RUNS": str(tmp_path / "runs.txt")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [ROOT, env.get("PYTHONPATH")] if p)
    return subprocess.run(
        [sys.executable, str(APPS / "script_app.py"), "-m", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_script_app_in_local_processes(tmp_path: Path) -> None:
    """The task function of a script (``__main__``) and its custom resolver reach the
    job processes; a failed job makes the sweep exit non-zero once the others finished."""
    args = [
        "hydra/launcher=exca_local",
        f"hydra.launcher.cache_folder={tmp_path / 'cache'}",
        "hydra.launcher.max_jobs=2",
        "+x=1,2,3",
        "+y='${twice:${x}}'",
        "+fail=2",
        "hydra.launcher.exclude_from_uid=[fail]",
    ]
    proc = _run_script(tmp_path, *args)
    assert proc.returncode != 0
    assert "x=2 is the failing value" in proc.stderr
    assert "Traceback in job" in proc.stderr  # the job's own traceback comes back
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    assert sorted(line.split()[0] for line in runs) == ["1", "2", "3"]
    assert all(int(line.split()[1]) != os.getpid() for line in runs)
    # x=1 and x=3 are cached, x=2 is retried and now succeeds
    args[args.index("+fail=2")] = "+fail=5"
    proc = _run_script(tmp_path, *args, "hydra.launcher.mode=retry")
    assert proc.returncode == 0, proc.stderr
    assert "1 to run, 2 cached" in proc.stdout + proc.stderr
    runs = (tmp_path / "runs.txt").read_text().splitlines()
    assert sorted(line.split()[0] for line in runs) == ["1", "2", "2", "3"]


def test_plugin_scan_imports_no_exca_numpy_pydantic_submitit() -> None:
    code = (
        "from hydra.core.plugins import Plugins\n"
        "from hydra.plugins.launcher import Launcher\n"
        "print(sorted(c.__name__ for c in Plugins.instance().discover(Launcher)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert "ExcaLocalLauncher" in proc.stdout  # the plugin module was scanned
    imported = [
        line.rsplit("|", 1)[-1].strip()
        for line in proc.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    ]
    assert "hydra.core.plugins" in imported  # the -X importtime output was parsed
    heavy = [m for m in imported if m.split(".")[0] in {"exca", "numpy", "pydantic", "submitit"}]
    assert heavy == []


def test_several_tasks_per_slurm_job_need_srun(sweep: Sweeper) -> None:
    from exca.hydra.launcher import LauncherConfigError

    with pytest.raises(LauncherConfigError, match="slurm_use_srun=true"):
        sweep(Task(), ["x=1", "hydra.launcher.tasks_per_node=2"], launcher="exca_slurm")


def test_launcher_conf_repeats_the_execution_fields() -> None:
    # the plugin's config may import nothing of exca: it repeats the execution fields,
    # declared once in exca.backends.Execution; this keeps the two in step
    import dataclasses

    from exca.backends import EXECUTION_FIELDS
    from exca.hydra.settings import CACHE_PARAMS, RUN_PARAMS
    from hydra_plugins.exca_launcher.exca_launcher import ExcaLauncherConf

    names = [f.name for f in dataclasses.fields(ExcaLauncherConf)]
    assert names == ["_target_", *CACHE_PARAMS, *RUN_PARAMS, *EXECUTION_FIELDS]


def test_slurm_additional_parameters_from_the_command_line(tmp_path: Path) -> None:
    from hydra import compose, initialize_config_dir

    from exca.hydra.launcher import Settings

    override = "+hydra.launcher.slurm_additional_parameters.mail-type=END"
    with initialize_config_dir(config_dir=str(APPS / "conf"), version_base="1.3"):
        cfg = compose("plain", ["hydra/launcher=exca_slurm", override], return_hydra_config=True)
    params = {k: v for k, v in cfg.hydra.launcher.items() if k != "_target_"}
    settings = Settings.from_params(params, cwd=str(tmp_path))
    assert settings.resources.slurm_additional_parameters == {"mail-type": "END"}


def test_invalid_execution_value_names_the_key(sweep: Sweeper) -> None:
    from exca.hydra.launcher import LauncherConfigError

    bad = "+hydra.launcher.slurm_additional_parameters.mail=[1,2]"
    with pytest.raises(
        LauncherConfigError,
        match=r"hydra\.launcher\.slurm_additional_parameters=.*mail.*expected dict",
    ):
        sweep(Task(), ["x=1", bad], launcher="exca_slurm")


# # # # # one uid rule for exclusions, and caches written before it # # # # #

EXCLUDED_APP = "tests.hydra_apps.excluded_app"
LAUNCHER_CACHE_BEFORE = Path(__file__).parent / "data" / "launcher_cache_excluded"


def _run_excluded_app(
    tmp_path: Path, cache: Path, config_name: str, *overrides: str
) -> subprocess.CompletedProcess[str]:
    """Runs tests/hydra_apps/excluded_app.py as a module; its task function appends to
    ``tmp_path / "calls.txt"``."""
    env = {**os.environ, "PYTHONPATH": ROOT, "EXCA_TEST_CALLS": str(tmp_path / "calls.txt")}
    cmd = [
        sys.executable,
        "-m",
        EXCLUDED_APP,
        "-m",
        f"--config-name={config_name}",
        "hydra/launcher=exca_inline",
        f"hydra.launcher.cache_folder={cache}",
        f"hydra.sweep.dir={tmp_path / ('sweep-' + config_name)}",
        *overrides,
    ]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("config_name", ["plain", "model"])
def test_cache_written_before_the_shared_exclusion_rule_is_served(
    tmp_path: Path, config_name: str
) -> None:
    """A launcher cache written by exca 5d3455b (tests/data/launcher_cache_excluded.md),
    whose uids kept the empty parent of an excluded key (``data={},x=1``), is served:
    no job runs."""
    import shutil

    cache = tmp_path / "cache"
    shutil.copytree(LAUNCHER_CACHE_BEFORE, cache)
    before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    proc = _run_excluded_app(
        tmp_path,
        cache,
        config_name,
        "x=1,2",
        "data.workers=3,5",
        "hydra.launcher.exclude_from_uid=[data.workers]",
    )
    assert proc.returncode == 0, proc.stderr
    assert "] 0 to run, 2 cached, 2 sharing a uid with another job" in proc.stdout + proc.stderr
    assert not (tmp_path / "calls.txt").exists()  # 0 recomputations
    # nothing written nor renamed in the entries (but their last-use stamps)
    after = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    assert {p: v for p, v in after.items() if p.name != ".exca-last-use"} == before


@pytest.mark.parametrize("config_name", ["plain", "model"])
def test_the_same_exclusion_gives_the_uid_of_a_model(tmp_path: Path, config_name: str) -> None:
    """Excluding ``data.workers`` (the only key of ``data``) gives the same uid through the
    launcher as through an infra's ``exclude_from_cache_uid``: one rule (the emptied
    parent stays, ``data={},x=2``, as exca 0.6.0 keeps it for models)."""
    import pydantic

    import exca
    from exca import ConfDict
    from tests.hydra_apps.excluded_app import Data

    class Job(pydantic.BaseModel):  # the fields of excluded_app's configs
        x: int = 0
        data: Data = Data()
        infra: exca.TaskInfra = exca.TaskInfra()

        @infra.apply(exclude_from_cache_uid=["data.workers"])
        def run(self) -> int:
            return self.x

    model_cfg = Job(x=2, data=Data(workers=3)).infra.config(uid=True, exclude_defaults=True)
    assert model_cfg == ConfDict({"x": 2, "data": {}})
    model_uid = model_cfg.to_uid()
    exclude = "hydra.launcher.exclude_from_uid=[data.workers]"
    cache = tmp_path / "cache"
    proc = _run_excluded_app(tmp_path, cache, config_name, "x=2", "data.workers=3", exclude)
    assert proc.returncode == 0, proc.stderr
    [folder] = [p.parent for p in cache.glob("*/*/uid.yaml")]
    assert ConfDict.from_yaml(folder / "uid.yaml").to_uid() == model_uid
    assert folder.name.endswith(model_uid.rsplit("-", 1)[1])  # found by the uid's hash
