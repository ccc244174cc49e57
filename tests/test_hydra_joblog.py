"""exca.hydra.fast.joblog.configure_job_log against Hydra's configure_log, differentially.

Each scenario (a sequence of job-logging configurations, with messages logged and the
logging state changed between them) runs in two fresh processes (tests/joblog_driver.py):
one with ``configure_job_log``, one with Hydra's ``configure_log``. Both must reach the
same state: log files (which exist, their contents), the loggers' levels, flags and
handlers (types, files, streams, formatters), the registered handlers, what went to stdout
and to a swapped ``sys.stdout``, the errors raised. The number of times ours called
Hydra's function shows whether the shortcut was taken (or, after a change of the logging
state, not taken).
"""

import json
import os
import re
import subprocess
import sys
import typing as tp
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from exca.hydra.fast.joblog import _Resolution

DRIVER = Path(__file__).with_name("joblog_driver.py")
HYDRA_DEFAULT = OmegaConf.to_container(
    OmegaConf.load(
        Path(__import__("hydra").__file__).parent
        / "conf"
        / "hydra"
        / "job_logging"
        / "default.yaml"
    )
)
FILENAME = "${hydra.runtime.output_dir}/${hydra.job.name}.log"


def default(**changes: tp.Any) -> dict[str, tp.Any]:
    """Hydra's default job_logging, with top-level keys or ``file`` handler keys changed."""
    conf = json.loads(json.dumps(HYDRA_DEFAULT))
    file_keys = {"filename", "mode", "delay", "encoding", "class"}
    conf["handlers"]["file"].update({k: v for k, v in changes.items() if k in file_keys})
    conf.update({k: v for k, v in changes.items() if k not in file_keys})
    return conf


def jobs(
    start: int, stop: int, verbose: tp.Any = False, log: bool = True, **options: tp.Any
) -> list[list[tp.Any]]:
    steps: list[list[tp.Any]] = []
    for i in range(start, stop):
        steps.append(["job", f"multirun/{i}", verbose, options])
        if log:
            steps += [
                ["log", "app", "INFO", f"job {i} info"],
                ["log", "app", "DEBUG", f"job {i} debug"],
                ["log", "lib.x", "WARNING", f"job {i} lib"],
            ]
    return steps


def run_both(tmp_path: Path, steps: list[tp.Any], job_logging: tp.Any = None) -> dict[str, tp.Any]:
    """Runs the scenario with both functions; asserts the same outcome; returns ours."""

    def one(impl: str) -> dict[str, tp.Any]:
        root = tmp_path / impl
        root.mkdir(parents=True)
        spec = {"impl": impl, "root": str(root), "out": str(tmp_path / f"{impl}.json")}
        spec.update(steps=steps, job_logging=job_logging)
        proc = subprocess.run(
            # a file left open (not closed) is reported on stderr, compared below
            [sys.executable, "-W", "always::ResourceWarning", str(DRIVER), json.dumps(spec)],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=120,
        )
        assert proc.returncode == 0, proc.stderr
        result = json.loads(Path(spec["out"]).read_text())
        result["stdout"] = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}", "T", proc.stdout)
        result["stderr"], result["unclosed"] = _split_warnings(proc.stderr, root)
        return result

    with ThreadPoolExecutor(2) as pool:
        ours, hydra = pool.map(one, ["ours", "hydra"])
    for key in ("state", "errors", "stdout", "stderr", "unclosed"):
        assert ours[key] == hydra[key], key
    assert hydra["calls"] == sum(step[0] == "job" for step in steps)
    return ours


def _split_warnings(stderr: str, root: Path) -> tuple[str, list[str]]:
    """stderr without its ResourceWarnings, and the files they name (where the garbage
    collector reports them differs between the two runs)."""
    lines, unclosed, skip = [], [], False
    for line in stderr.splitlines(keepends=True):
        found = re.search(r"ResourceWarning: unclosed file <.* name='([^']*)'", line)
        if found:
            unclosed.append(os.path.relpath(found.group(1), root))
        elif not skip and "ResourceWarning: Enable tracemalloc" not in line:
            lines.append(line)
        skip = bool(found)  # the source line the warning quotes
    return "".join(lines), sorted(unclosed)


def test_default_job_logging_consecutive_jobs(tmp_path: Path) -> None:
    steps = [["hydra_logging"], *jobs(0, 4), ["hydra_logging"], *jobs(4, 6)]
    ours = run_both(tmp_path, steps)
    # one full configuration after each hydra_logging, the other jobs re-point the file
    assert ours["calls"] == 2
    files = ours["state"]["files"]
    assert sorted(files) == [f"multirun/{i}/app.log" for i in range(6)]
    assert files["multirun/3/app.log"] == (
        "[T][app][INFO] - job 3 info\n[T][lib.x][WARNING] - job 3 lib\n"
    )
    assert ours["stdout"].count("job 5 info") == 1
    assert "[HYDRA]" not in ours["stdout"]  # the launcher's console handler was replaced
    assert ours["state"]["open_files"] == ["multirun/5/app.log"]


def test_handler_added_or_removed_between_jobs(tmp_path: Path) -> None:
    steps = [*jobs(0, 1), ["add_handler", ""], *jobs(1, 3)]
    assert run_both(tmp_path / "added", steps)["calls"] == 2
    steps = [*jobs(0, 1), ["remove_handler", "", 0], *jobs(1, 3)]
    assert run_both(tmp_path / "removed", steps)["calls"] == 2
    steps = [*jobs(0, 1), ["add_handler", "lib"], *jobs(1, 3)]  # on another logger
    assert run_both(tmp_path / "other", steps)["calls"] == 2


def test_handler_or_logger_changed_between_jobs(tmp_path: Path) -> None:
    steps = [*jobs(0, 1), ["handler_level", 1, 30], *jobs(1, 3)]
    assert run_both(tmp_path / "level", steps)["calls"] == 2
    steps = [*jobs(0, 1), ["set", "", "level", 10], *jobs(1, 3)]
    assert run_both(tmp_path / "root", steps)["calls"] == 2
    # dictConfig with disable_existing_loggers=false enables the existing loggers again
    steps = [["new_logger", "lib.x"], *jobs(0, 1), ["set", "lib.x", "disabled", True]]
    steps += jobs(1, 3)
    ours = run_both(tmp_path / "disabled", steps)
    assert ours["calls"] == 2
    assert ours["state"]["loggers"]["lib.x"]["disabled"] is False


def test_stdout_swapped(tmp_path: Path) -> None:
    steps = [*jobs(0, 1), ["swap_stdout"], *jobs(1, 3), ["swap_stdout"], *jobs(3, 4)]
    ours = run_both(tmp_path, steps)
    assert ours["calls"] == 3
    assert "job 2 info" in ours["state"]["buffers"][0]
    assert "job 3 info" in ours["state"]["buffers"][1]
    assert "job 1 info" not in ours["stdout"]


def test_new_logger_disable_existing(tmp_path: Path) -> None:
    steps = [*jobs(0, 1), ["new_logger", "late"], *jobs(1, 3), ["log", "late", "ERROR", "x"]]
    ours = run_both(tmp_path, steps, default(disable_existing_loggers=True))
    assert ours["calls"] == 2
    assert ours["state"]["loggers"]["late"]["disabled"] is True
    assert ours["state"]["loggers"]["lib.x"]["disabled"] is True
    assert "[late]" not in ours["stdout"]


@pytest.mark.parametrize(
    "verbose,calls",
    [
        ([True, False, True, False], 1),
        (["app", False, "app", "lib.x"], 1),
        ([True, "new.logger", "new.logger"], 2),  # the logger verbose creates: full once
        ([["app"], ["app", "lib.x"], False], 3),  # lists: Hydra's function
    ],
)
def test_verbose(tmp_path: Path, verbose: list[tp.Any], calls: int) -> None:
    steps = [step for i, v in enumerate(verbose) for step in jobs(i, i + 1, verbose=v)]
    ours = run_both(tmp_path, steps)
    assert ours["calls"] == calls


def test_two_file_handlers_named_loggers(tmp_path: Path) -> None:
    conf = {
        "version": 1,
        "formatters": {
            "simple": {"format": "%(levelname)s %(name)s %(message)s"},
            "brief": {"format": "$message", "style": "$"},
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "formatter": "brief"},
            "file": {"class": "logging.FileHandler", "formatter": "simple", "filename": FILENAME},
            "debug": {
                "class": "logging.FileHandler",
                "formatter": "simple",
                "level": "DEBUG",
                "filename": "${hydra.runtime.output_dir}/debug.log",
                "encoding": "utf-8",
            },
        },
        "root": {"level": "WARNING", "handlers": ["console", "file"]},
        "loggers": {"app": {"level": "DEBUG", "handlers": ["debug"], "propagate": True}},
        "disable_existing_loggers": False,
    }
    steps = [["new_logger", "app.sub"], ["set", "app.sub", "level", 40]]
    for i, verbose in enumerate(["app.sub", False, "app.sub", False]):
        steps += jobs(i, i + 1, verbose=verbose)
    steps += [["log", "app.sub", "DEBUG", "child"]]
    ours = run_both(tmp_path, steps, conf)
    assert ours["calls"] == 1
    files = ours["state"]["files"]
    assert files["multirun/3/debug.log"] == (
        "INFO app job 3 info\nDEBUG app job 3 debug\nDEBUG app.sub child\n"
    )
    assert ours["state"]["loggers"]["app.sub"]["level"] == 0  # reset as a child of "app"
    assert "job 3 lib" in ours["stderr"]


def test_rotating_file_handler_full_path(tmp_path: Path) -> None:
    conf = default(**{"class": "logging.handlers.RotatingFileHandler"})
    conf["handlers"]["file"].update(maxBytes=200, backupCount=1)
    ours = run_both(tmp_path, [*jobs(0, 3), *jobs(0, 2)], conf)
    assert ours["calls"] == 5
    assert "multirun/0/app.log.1" in ours["state"]["files"]


def test_delay(tmp_path: Path) -> None:
    steps = [*jobs(0, 1), *jobs(1, 2, log=False), *jobs(2, 3)]
    ours = run_both(tmp_path, steps, default(delay=True))
    assert ours["calls"] == 1
    assert sorted(ours["state"]["files"]) == ["multirun/0/app.log", "multirun/2/app.log"]


def test_mode_w_same_file(tmp_path: Path) -> None:
    filename = "${hydra.runtime.output_dir}/../shared.log"
    ours = run_both(tmp_path, jobs(0, 3), default(mode="w", filename=filename))
    assert ours["calls"] == 1
    assert ours["state"]["files"] == {
        "multirun/shared.log": "[T][app][INFO] - job 2 info\n[T][lib.x][WARNING] - job 2 lib\n"
    }


def test_relative_filename_chdir(tmp_path: Path) -> None:
    ours = run_both(tmp_path, jobs(0, 3, chdir=True), default(filename="app.log"))
    assert ours["calls"] == 1
    assert sorted(ours["state"]["files"]) == [f"multirun/{i}/app.log" for i in range(3)]


def test_file_cannot_be_opened(tmp_path: Path) -> None:
    steps = [*jobs(0, 1), *jobs(1, 2, mkdir=False), ["log", "app", "INFO", "after"]]
    steps += jobs(2, 4)
    ours = run_both(tmp_path, steps)
    assert ours["errors"] == [None, "ValueError", None, None]
    # job 1: the shortcut failed and Hydra's function raised; job 2 full; job 3 shortcut
    assert ours["calls"] == 3


@pytest.mark.parametrize("job_logging", ["none", {"version": 1, "root": None}])
def test_no_config(tmp_path: Path, job_logging: tp.Any) -> None:
    ours = run_both(tmp_path, jobs(0, 3), job_logging)
    assert ours["calls"] == 3


def test_filename_with_int_key(tmp_path: Path) -> None:
    filename = "${hydra.runtime.output_dir}/../job${hydra.job.num}.log"
    ours = run_both(tmp_path, jobs(0, 3), default(filename=filename))
    assert ours["calls"] == 1
    assert sorted(ours["state"]["files"]) == [f"multirun/job{i}.log" for i in range(3)]


def test_filename_from_an_interpolated_key(tmp_path: Path) -> None:
    filename = "${hydra.runtime.output_dir}/../${hydra.job.id}.log"  # id: ${..name}_${..num}
    ours = run_both(tmp_path, jobs(0, 3), default(filename=filename))
    assert ours["calls"] == 1
    assert sorted(ours["state"]["files"]) == [f"multirun/app_{i}.log" for i in range(3)]


def test_resolver_changing_the_formatter(tmp_path: Path) -> None:
    conf = default()
    conf["formatters"]["simple"]["format"] = "${job_index:} %(message)s"
    ours = run_both(tmp_path, jobs(0, 3), conf)
    assert ours["calls"] == 3  # the formatter changes: Hydra's function every time
    assert ours["state"]["files"]["multirun/2/app.log"] == "2 job 2 info\n2 job 2 lib\n"


def _resolution(job_logging: dict[str, tp.Any], first: dict[str, tp.Any]) -> _Resolution:
    config = OmegaConf.create({**first, "log": job_logging})
    raw = OmegaConf.to_container(config.log)
    return _Resolution.of(raw, OmegaConf.to_container(config.log, resolve=True), config.log)


def _fill(
    resolution: _Resolution, job_logging: dict[str, tp.Any], then: dict[str, tp.Any]
) -> tp.Any:
    config = OmegaConf.create({**then, "log": job_logging})
    filled = resolution.fill(OmegaConf.to_container(config.log), config.log)
    if filled is not None:  # when it fills, it gives OmegaConf's resolution
        assert filled == OmegaConf.to_container(config.log, resolve=True)
    return filled


@pytest.mark.parametrize(
    "value,first,then,fills",
    [
        (
            "${a.dir}/${a.name}.log",
            {"a": {"dir": "/x", "name": "n"}},
            {"a": {"dir": "/y", "name": "m"}},
            True,
        ),
        ("${a.n}", {"a": {"n": 1}}, {"a": {"n": 2}}, True),  # whole string: the value as is
        ("${a.n}", {"a": {"n": 1}}, {"a": {"n": "2"}}, False),  # not the type it had
        ("x${a.n}.${a.f}", {"a": {"n": 1, "f": 1.5}}, {"a": {"n": 2, "f": 2.5}}, True),
        (
            "${a.b}/f",
            {"a": {"b": "${c}"}, "c": "/x"},  # a key that is an interpolation
            {"a": {"b": "${c}"}, "c": "/z"},
            True,
        ),
        ("${a.b}/f", {"a": {"b": "/x"}}, {"a": {"b": "???"}}, False),  # OmegaConf raises
        ("${a.b}/f", {"a": {"b": "/x"}}, {"a": {}}, False),  # OmegaConf raises
        ("${a.b}/f", {"a": {"b": "/x"}}, {"a": {"b": None}}, False),
        ("${a.b}/f", {"a": {"b": "/x"}}, {"a": {"b": [1]}}, False),
        ("\\${a.b}/f", {"a": {"b": "/x"}}, {"a": {"b": "/y"}}, False),  # escape
        ("${oc.env:HOME}/f", {}, {}, False),  # resolver
        ("${.name}/f", {}, {}, False),  # relative
        ("${ a.b }/f", {"a": {"b": "/x"}}, {"a": {"b": "/y"}}, False),  # spaces
        ("$x/f", {}, {}, True),  # not an interpolation
    ],
)
def test_resolution(
    value: str, first: dict[str, tp.Any], then: dict[str, tp.Any], fills: bool
) -> None:
    job_logging = {"version": 1, "handlers": {"file": {"filename": value, "n": [1, "${a.n}"]}}}
    if "${a.n}" not in value:
        del job_logging["handlers"]["file"]["n"]
    if "name" in value:
        job_logging["name"] = "n"
    try:
        resolution = _resolution(job_logging, first)
    except Exception:  # OmegaConf cannot resolve the first config: never filled
        resolution = _Resolution()
    assert (_fill(resolution, job_logging, then) is not None) == fills


def test_resolution_needs_the_same_unresolved_config() -> None:
    job_logging = {"version": 1, "filename": "${a.b}/f"}
    resolution = _resolution(job_logging, {"a": {"b": "/x"}})
    assert _fill(resolution, job_logging, {"a": {"b": "/y"}}) == {"version": 1, "filename": "/y/f"}
    assert _fill(resolution, {**job_logging, "version": 2}, {"a": {"b": "/y"}}) is None
