"""Runs a sequence of job-logging configurations in a fresh process and writes the logging
state reached as JSON (tests/test_hydra_joblog.py runs each scenario twice: with
``exca.hydra.fast.joblog.configure_job_log`` and with Hydra's ``configure_log``).

Usage: ``python joblog_driver.py SPEC_JSON`` where the spec has ``impl`` ("ours" or
"hydra"), ``root`` (a folder), ``out`` (the JSON file written), ``job_logging`` (a config,
"none" for None, or absent for Hydra's default) and ``steps`` (see ``run``). The console
handlers write to this process's stdout, which the test compares too.
"""

import io
import json
import logging
import logging.handlers
import os
import re
import sys
import typing as tp
from pathlib import Path

import hydra
from hydra.core import utils as hydra_utils
from omegaconf import OmegaConf

from exca.hydra.fast.joblog import configure_job_log

HYDRA_CONF = Path(hydra.__file__).parent / "conf" / "hydra"
TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}")


def run(spec: dict[str, tp.Any]) -> dict[str, tp.Any]:
    root = Path(spec["root"])
    calls = {"hydra": 0}
    original = hydra_utils.configure_log

    def counting(*args: tp.Any) -> None:  # what ours delegates to, counted
        calls["hydra"] += 1
        original(*args)

    hydra_utils.configure_log = counting  # type: ignore[assignment]
    errors: list[str | None] = []  # one per job
    OmegaConf.register_new_resolver("job_index", lambda: len(errors))  # a resolver
    job_logging = spec.get("job_logging")
    if job_logging is None:
        job_logging = OmegaConf.load(HYDRA_CONF / "job_logging" / "default.yaml")
    elif job_logging == "none":
        job_logging = None
    hydra_logging = OmegaConf.load(HYDRA_CONF / "hydra_logging" / "default.yaml")
    buffers: list[io.StringIO] = []
    for op, *args in spec["steps"]:
        if op == "hydra_logging":  # as the launcher does once per batch (not counted)
            original(hydra_logging, False)
        elif op == "job":  # [folder, verbose, {"chdir": bool, "mkdir": bool}]
            folder, verbose, *opts = args
            options = opts[0] if opts else {}
            out = root / folder
            if options.get("mkdir", True):
                out.mkdir(parents=True, exist_ok=True)
            if options.get("chdir"):
                os.chdir(out)
            config = OmegaConf.create(
                {
                    "hydra": {
                        "runtime": {"output_dir": str(out)},
                        "job": {
                            "name": "app",
                            "num": len(errors),
                            "id": "${hydra.job.name}_${hydra.job.num}",
                        },
                        "job_logging": job_logging,
                        "verbose": verbose,
                    }
                }
            )
            func = configure_job_log if spec["impl"] == "ours" else counting
            try:
                func(config.hydra.job_logging, config.hydra.verbose)
                errors.append(None)
            except Exception as e:
                errors.append(type(e).__name__)
        elif op == "log":  # [logger, level, message]
            logging.getLogger(args[0]).log(getattr(logging, args[1]), args[2])
        elif op == "swap_stdout":
            buffers.append(io.StringIO())
            sys.stdout = buffers[-1]
        elif op == "add_handler":  # [logger]
            logging.getLogger(args[0]).addHandler(logging.StreamHandler(sys.stdout))
        elif op == "remove_handler":  # [logger, index]
            logger = logging.getLogger(args[0])
            logger.removeHandler(logger.handlers[args[1]])
        elif op == "handler_level":  # [index in the root's handlers, level]
            logging.getLogger().handlers[args[0]].setLevel(args[1])
        elif op == "new_logger":
            logging.getLogger(args[0])
        elif op == "set":  # [logger, attribute, value]
            setattr(logging.getLogger(args[0]), args[1], args[2])
        else:
            raise ValueError(f"unknown step {op!r}")
    for ref in logging._handlerList:  # type: ignore[attr-defined]
        handler = ref()
        if handler is not None:
            handler.flush()
    return {
        "calls": calls["hydra"],
        "errors": errors,
        "state": _state(root, buffers),
    }


def _state(root: Path, buffers: list[io.StringIO]) -> dict[str, tp.Any]:
    streams = {id(sys.__stdout__): "stdout", id(sys.__stderr__): "stderr"}
    streams.update({id(b): f"buffer{i}" for i, b in enumerate(buffers)})

    def handler(h: logging.Handler) -> dict[str, tp.Any]:
        f = h.formatter
        desc: dict[str, tp.Any] = {
            "type": type(h).__name__,
            "name": h.name,
            "level": h.level,
            "closed": h._closed,  # type: ignore[attr-defined]
            "formatter": None if f is None else [type(f).__name__, f._fmt, f.datefmt],
            "filters": len(h.filters),
        }
        if isinstance(h, logging.FileHandler):
            stream = h.stream
            desc.update(
                file=os.path.relpath(h.baseFilename, root),
                mode=h.mode,
                delay=h.delay,
                encoding=h.encoding,
                open=stream is not None and not stream.closed,
            )
        elif isinstance(h, logging.StreamHandler):
            desc["stream"] = streams.get(id(h.stream), repr(h.stream))
        return desc

    loggers = {"": logging.getLogger()}
    for name, lg in sorted(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            loggers[name] = lg
    files = {}
    for path in sorted(root.rglob("*")):
        if path.is_file():
            files[str(path.relative_to(root))] = TIME.sub("T", path.read_text())
    live = [r() for r in logging._handlerList]  # type: ignore[attr-defined]
    open_files = []  # the files this process holds open (Linux)
    if os.path.isdir("/proc/self/fd"):
        for fd in os.listdir("/proc/self/fd"):
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                continue
            if target.startswith(str(root)):
                open_files.append(os.path.relpath(target, root))
    return {
        "loggers": {
            name: {
                "level": lg.level,
                "propagate": lg.propagate,
                "disabled": lg.disabled,
                "handlers": [handler(h) for h in lg.handlers],
            }
            for name, lg in loggers.items()
        },
        "registry": sorted(logging._handlers),  # type: ignore[attr-defined]
        "live_handlers": sorted(handler(h)["type"] for h in live if h is not None),
        "files": files,
        "open_files": sorted(open_files),
        "buffers": [TIME.sub("T", b.getvalue()) for b in buffers],
    }


if __name__ == "__main__":
    spec = json.loads(sys.argv[1])
    result = run(spec)
    sys.stdout.flush()
    Path(spec["out"]).write_text(json.dumps(result, indent=1, sort_keys=True))
