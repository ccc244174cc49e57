"""``hydra/sweeper=exca`` (hydra_plugins/exca_sweeper + exca/hydra/sweeper.py) and the
serving of cached jobs (exca/hydra/fast/serve.py), against Hydra's own behaviour.

- composition: for a corpus of sweeps, every job's composed config (``hydra`` node
  included) from the fast composer equals Hydra's ``load_sweep_config``, and the job list
  equals the basic sweeper's;
- end to end: every file of every job's output dir (and what callbacks see) is
  byte-identical between the basic sweeper and the exca sweeper, with the exca launcher
  caching on (first run through Hydra's run_job vs cached rerun served by exca) and off,
  and with Hydra's basic launcher.
"""

import itertools
import os
import subprocess
import sys
import typing as tp
from pathlib import Path

import pytest
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra._internal.utils import create_config_search_path
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.utils import setup_globals
from hydra.errors import HydraException
from hydra.test_utils.launcher_common_tests import BatchedSweeperTestSuite, LauncherTestSuite
from hydra.types import RunMode
from omegaconf import OmegaConf

from exca.hydra.fast.compose import FastComposer, FastJobConfig
from exca.hydra.fast.jobconfig import HydraYaml, output_dir_of, set_job_fields
from exca.hydra.sweeper import expand

APPS = Path(__file__).parent / "hydra_apps"
CONF = APPS / "sweeper_conf"
ROOT = Path(__file__).parents[1]

# (master hydra overrides, sweep arguments)
CORPUS: list[tuple[list[str], list[str]]] = [
    ([], ["x=1,2,3"]),
    ([], ["x=range(0,3)", "name=a,'b c','d,e'", "nested.b=[3,4],[]"]),
    ([], ["db=mysql,postgres", "x=1,2"]),
    ([], ["server/cache=small,big", "db.port=1,2", "x=7"]),
    ([], ["db=glob(*)", "name=z"]),
    ([], ["+extra=one", "x=5,6"]),
    ([], ["+pkg=a", "foo.bar.v=2,3"]),
    ([], ["+new=1,2", "++x=7", "~nested.a"]),
    ([], ["++brand.new=1", "++nested.a=3,4"]),
    ([], ["y='${name}_z',3", "nested={a:5,b:[3]}"]),
    (["hydra.job.chdir=True"], ["x=1,2"]),
    (["hydra.sweep.subdir=${name}_${hydra.job.num}"], ["name=a,b", "x=1,2"]),
    (["hydra.sweep.subdir=${hydra.job.override_dirname}"], ["db=mysql,postgres", "x=1,2"]),
    (
        [
            "hydra.job.config.override_dirname.kv_sep=_",
            "hydra.job.config.override_dirname.item_sep=/",
            "hydra.job.config.override_dirname.exclude_keys=[x]",
        ],
        ["x=1,2", "db=postgres", "name=q"],
    ),
]


def _loader() -> ConfigLoaderImpl:
    return ConfigLoaderImpl(config_search_path=create_config_search_path(str(CONF)))


def _dump(cfg: tp.Any) -> str:
    return OmegaConf.to_yaml(cfg) + f"struct={OmegaConf.is_struct(cfg)}"


@pytest.mark.parametrize("master_overrides, arguments", CORPUS)
def test_fast_composition_equals_hydra(master_overrides: list[str], arguments: list[str]) -> None:
    loader = _loader()
    master = loader.load_configuration("config", master_overrides, RunMode.MULTIRUN)
    parser = OverridesParser.create(config_loader=loader)
    ours = [list(job) for job in itertools.product(*expand(parser.parse_overrides(arguments)))]
    hydras = BasicSweeper.split_arguments(parser.parse_overrides(arguments), None)[0]
    assert ours == hydras
    composer = FastComposer(loader, loader.load_sweep_config)
    for job in ours:
        fast = composer(master, job)
        full = loader.load_sweep_config(master, job)
        assert _dump(fast) == _dump(full), job
    # every job took the fast path (the test would pass vacuously otherwise)
    assert composer.stats == {"fast": len(ours), "full": 0}


@pytest.mark.parametrize("master_overrides, arguments", CORPUS)
def test_fast_job_views_equal_hydras(master_overrides: list[str], arguments: list[str]) -> None:
    """What the exca launcher reads of a fast job (its config without hydra, its bound
    hydra node, its hydra.yaml) equals what run_job has of Hydra's composition, for jobs
    bound in turn (later jobs first: each job binds the shared node again)."""
    setup_globals()
    loader = _loader()
    master = loader.load_configuration("config", master_overrides, RunMode.MULTIRUN)
    parser = OverridesParser.create(config_loader=loader)
    jobs = [list(job) for job in itertools.product(*expand(parser.parse_overrides(arguments)))]
    composer = FastComposer(loader, loader.load_sweep_config)
    specs = [composer.job(master, job) for job in jobs]
    assert all(isinstance(spec, FastJobConfig) for spec in specs)
    for idx in [*reversed(range(len(jobs))), 0]:
        spec = specs[idx]
        spec.idx = idx
        full = loader.load_sweep_config(master, jobs[idx])
        set_job_fields(full, idx)
        output_dir = output_dir_of(full)
        set_job_fields(full, idx, os.path.abspath(output_dir))
        assert spec.output_dir == output_dir
        task = OmegaConf.masked_copy(full, [str(k) for k in full if k != "hydra"])
        assert OmegaConf.to_yaml(spec.task()) == OmegaConf.to_yaml(task)
        hydra = OmegaConf.to_yaml(OmegaConf.masked_copy(full, "hydra"))
        assert OmegaConf.to_yaml(OmegaConf.masked_copy(spec.bind(), "hydra")) == hydra
        assert spec.hydra_yaml() == hydra
        assert _dump(spec.full()) == _dump(full)


ODD_VALUES = [
    "",
    "5",
    "null",
    "a: b",
    "x=1,y=2",
    "- item",
    "two\nlines\n    num: 3",
    "  leading space",
    "é unicode ✓",
    "long words " * 12,
    "/a/path/" + "x" * 100,
    "'quoted' \"both\"",
]


@pytest.mark.parametrize("value", ODD_VALUES)
def test_hydra_yaml_template_is_the_full_emission(value: str) -> None:
    """hydra.yaml rendered from a base's template equals OmegaConf's emission of the
    whole node, whatever the per-job values (the template emits only those)."""
    loader = _loader()
    master = loader.load_configuration("config", [], RunMode.MULTIRUN)
    hydra = OmegaConf.to_container(loader.load_sweep_config(master, []).hydra, enum_to_str=True)
    assert isinstance(hydra, dict)
    template = HydraYaml(hydra)
    values = {
        ("overrides", "task"): [value, f"x={value}"],
        ("job", "override_dirname"): value,
        ("job", "id"): value,
        ("job", "num"): 7,
        ("runtime", "output_dir"): value,
    }
    for (section, key), item in values.items():
        hydra[section][key] = item
    assert template.render(values) == OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra}))


@pytest.mark.parametrize(
    "job",
    [
        ["nokey=1"],  # not in the struct config
        ["+x=2"],  # + of an existing key
        ["~nope"],  # deletion of a missing key
        ["db=nosuch"],  # missing group option
        ["x.y@pkg=1"],  # package on a value override
    ],
)
def test_errors_are_hydras(job: list[str]) -> None:
    loader = _loader()
    master = loader.load_configuration("config", [], RunMode.MULTIRUN)
    composer = FastComposer(loader, loader.load_sweep_config)
    with pytest.raises(Exception) as ours:
        composer(master, job)
    with pytest.raises(Exception) as hydras:
        loader.load_sweep_config(master, job)
    assert type(ours.value) is type(hydras.value)
    assert str(ours.value) == str(hydras.value)
    assert composer.stats["full"] == 1


def test_unsupported_sweep_is_named() -> None:
    parser = OverridesParser.create(config_loader=_loader())
    with pytest.raises(HydraException, match="x=interval"):
        expand(parser.parse_overrides(["x=interval(0,1)"]))


# # # # # Hydra's own suites, with hydra/sweeper=exca # # # # #


@pytest.fixture
def overrides(request: pytest.FixtureRequest) -> list[str]:
    return list(request.param)  # a fresh list per test: some suite tests extend it


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [
        pytest.param("basic", ["hydra/sweeper=exca"], id="basic"),
        pytest.param(
            "exca_inline",
            ["hydra/sweeper=exca", "hydra.launcher.cache_folder=${hydra.sweep.dir}/.cache"],
            id="exca_inline-cached",
        ),
    ],
    indirect=["overrides"],
)
class TestLauncherSuiteWithExcaSweeper(LauncherTestSuite):
    """Hydra's LauncherTestSuite, the jobs swept by the exca sweeper."""


@pytest.mark.parametrize(
    "launcher_name, overrides",
    [pytest.param("basic", ["hydra/sweeper=exca", "hydra.sweeper.max_batch_size=2"])],
    indirect=["overrides"],
)
class TestBatchedSweeperSuite(BatchedSweeperTestSuite):
    """Hydra's BatchedSweeperTestSuite (3 batches of 2 jobs)."""


# # # # # end to end: files of every job's output dir # # # # #

CALLBACK = "+hydra.callbacks.rec._target_=tests.hydra_apps.sweeper_app.Recorder"
CACHE = "hydra.launcher.cache_folder=${hydra.runtime.cwd}/../cache"


def _run(folder: Path, *args: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SWEEP_ROOT": str(folder)}
    cmd = [sys.executable, str(APPS / "sweeper_app.py"), "-m", "hydra.sweep.dir=sweep", CALLBACK]
    proc = subprocess.run(
        [*cmd, *args], cwd=folder, env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout + proc.stderr


def _files(folder: Path) -> dict[str, bytes]:
    """Every file of the jobs' output dirs, with what legitimately differs normalized:
    the sweeper's own selection and the folder the side ran in."""
    out: dict[str, bytes] = {}
    root = str(folder).encode()
    for path in sorted((folder / "sweep").rglob("*")):
        # the jobs' output dirs only (the sweep dir's own records hold times and ids)
        if path.is_file() and path.parent != folder / "sweep":
            data = path.read_bytes().replace(root, b"<ROOT>")
            data = data.replace(b"hydra/sweeper=exca", b"hydra/sweeper=basic")
            data = data.replace(b"hydra/sweeper: exca", b"hydra/sweeper: basic")
            data = data.replace(
                b"hydra_plugins.exca_sweeper.exca_sweeper.ExcaSweeper",
                b"hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
            )
            out[str(path.relative_to(folder))] = data
    return out


def _assert_same(basic: dict[str, bytes], exca: dict[str, bytes]) -> None:
    assert sorted(basic) == sorted(exca)
    assert any(name.endswith(".hydra/hydra.yaml") for name in basic)
    assert any(name.endswith("callbacks.json") for name in basic)
    for name in basic:
        assert basic[name] == exca[name], name


E2E = [
    pytest.param(["x=1,2", "y='${name}_z',3", "hydra.job.chdir=True"], id="values-chdir"),
    pytest.param(["db=mysql,postgres", "server/cache=small,big", "+extra=one"], id="groups"),
    pytest.param(
        [
            "+new=1,2",
            "~nested.a",
            "++x=7",
            "hydra.job.config.override_dirname.kv_sep=_",
            "hydra.job.config.override_dirname.exclude_keys=[new]",
            "--config-name=with_params",
        ],
        id="add-delete-params",
    ),
    pytest.param(
        # the hydra node reads the job's values: each job's hydra node is its own
        ["name=a,b", "x=1,2", "hydra.sweep.subdir=${name}_${hydra.job.num}"],
        id="subdir-from-values",
    ),
    pytest.param(
        [
            "db=mysql,postgres",
            "x=1,2",
            "++hydra.job.env_set.EXCA_ENV=${hydra.job.override_dirname}",
            "hydra.job_logging.handlers.file.filename=${hydra.runtime.output_dir}/j${hydra.job.num}.log",
            "hydra.job.config.override_dirname.item_sep=' + '",
        ],
        id="env-logging-dirname",
    ),
    pytest.param(["x=1,2", "hydra/job_logging=disabled"], id="logging-disabled"),
    pytest.param(["x=1,2", "hydra/job_logging=none", "hydra.verbose=true"], id="logging-none"),
]


@pytest.mark.parametrize("args", E2E)
def test_files_identical_exca_launcher(tmp_path: Path, args: list[str]) -> None:
    launcher = "hydra/launcher=exca_inline"
    # caching off
    _run(tmp_path / "b0", "hydra/sweeper=basic", launcher, *args)
    _run(tmp_path / "e0", "hydra/sweeper=exca", launcher, *args)
    _assert_same(_files(tmp_path / "b0"), _files(tmp_path / "e0"))
    # caching on: the basic sweeper's run fills the cache (jobs run through run_job), the
    # exca sweeper's run is served from it (exca.hydra.fast.serve); artifacts=none: with the
    # default (links to the first run's files) a served dir differs by design
    cached = (launcher, CACHE, "hydra.launcher.artifacts=none")
    _run(tmp_path / "b1", "hydra/sweeper=basic", *cached, *args)
    log = _run(tmp_path / "e1", "hydra/sweeper=exca", *cached, *args)
    assert "[exca_inline] 0 to run" in log
    # a served job's log says so (exca.hydra.artifacts); the rest is the same bytes
    served = {k: _without_served_line(v) for k, v in _files(tmp_path / "e1").items()}
    computed = {k: _without_served_line(v) for k, v in _files(tmp_path / "b1").items()}
    _assert_same(computed, served)


def _without_served_line(data: bytes) -> bytes:
    lines = data.splitlines(keepends=True)
    return b"".join(line for line in lines if b"Served from the cache" not in line)


def test_files_identical_basic_launcher(tmp_path: Path) -> None:
    args = ["hydra/launcher=basic", "db=mysql,postgres", "x=1,2", "hydra.job.chdir=True"]
    _run(tmp_path / "b", "hydra/sweeper=basic", *args)
    _run(tmp_path / "e", "hydra/sweeper=exca", *args)
    _assert_same(_files(tmp_path / "b"), _files(tmp_path / "e"))


def test_batches_and_failures(tmp_path: Path) -> None:
    """max_batch_size: each batch goes to the launcher in turn (job numbers continue);
    a failing job fails the sweep."""
    _run(tmp_path / "e", "hydra/sweeper=exca", "hydra.sweeper.max_batch_size=2", "x=1,2,3")
    assert sorted(p.name for p in (tmp_path / "e/sweep").iterdir()) == [
        "0",
        "1",
        "2",
        "multirun.yaml",
    ]
    folder = tmp_path / "f"
    folder.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SWEEP_ROOT": str(folder)}
    cmd = [sys.executable, str(APPS / "sweeper_app.py"), "-m", "hydra/sweeper=exca"]
    proc = subprocess.run(
        [*cmd, "hydra.sweep.dir=sweep", "x=1,'${oops}'"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode != 0
    assert "oops" in proc.stdout + proc.stderr


def _imported(code: str) -> list[str]:
    check = "import sys; print([m for m in ('exca', 'numpy', 'pydantic') if m in sys.modules])"
    proc = subprocess.run(
        [sys.executable, "-c", f"{code}; {check}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return tp.cast(list[str], eval(proc.stdout.strip()))


def test_imports_stay_light() -> None:
    """Hydra's plugin scan imports the plugin modules at every start: nothing heavy; the
    launcher and the sweeper import what serving needs, not numpy (array formats)."""
    plugins = "import hydra_plugins.exca_sweeper.exca_sweeper, hydra_plugins.exca_launcher"
    assert _imported(plugins + ".exca_launcher") == []
    engine = "import exca.hydra.launcher, exca.hydra.sweeper, exca.hydra.fast.serve"
    assert "numpy" not in _imported(engine)
