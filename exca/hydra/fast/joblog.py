"""A job's logging configured as Hydra's ``configure_log`` does, cheaply when repeated.

Hydra configures the logging of every job it runs (``hydra.job_logging``): a full
``logging.config.dictConfig`` that closes every handler and builds new ones. Consecutive
jobs of a sweep usually differ only in the path of their log file
(``${hydra.runtime.output_dir}/${hydra.job.name}.log``). :func:`configure_job_log` leaves
the logging module in the state ``hydra.core.utils.configure_log`` would, and when the
resolved config equals the previous one (the config of the previous call made through
this function) except for the ``filename`` of ``logging.FileHandler`` handlers, and the
logging state has not changed since that call, it re-points the live file handlers to
their new files instead of rebuilding everything.

The shortcut is an optimisation only: it is taken for configs made of plain
``logging.StreamHandler`` (``ext://sys.stdout`` / ``ext://sys.stderr``) and
``logging.FileHandler`` handlers and ``logging.Formatter`` formatters, with no filters
and no custom factories (``()``), when the process's logging state is the one the
previous call left (same registered handlers, same handlers and levels on the root and
the named loggers, the console handlers still writing to the current ``sys.stdout`` /
``sys.stderr``, no logger created or disabled since, ...). Anything else, or anything
unexpected, calls Hydra's function.

Known difference: the handler objects are reused, so a reference to a handler kept by
user code from a previous job points at the new log file (with Hydra's function it is a
closed handler of the old file).
"""

from __future__ import annotations

import logging
import logging.config
import os
import re
import sys
import typing as tp
from dataclasses import dataclass, field

from hydra.core import utils as hydra_utils
from omegaconf import DictConfig, OmegaConf

__all__ = ["configure_job_log"]

_FILE = "logging.FileHandler"
_STREAM = "logging.StreamHandler"
# the keys each handler class may have for the shortcut (any other: Hydra's function)
_HANDLER_KEYS = {
    _STREAM: frozenset({"class", "formatter", "level", "stream"}),
    _FILE: frozenset(
        {"class", "formatter", "level", "filename", "mode", "encoding", "delay", "errors"}
    ),
}
_STREAMS = {None: "stderr", "ext://sys.stdout": "stdout", "ext://sys.stderr": "stderr"}
_FORMATTER_KEYS = frozenset({"class", "format", "datefmt", "style", "validate"})
_TOP_KEYS = frozenset(
    {"version", "formatters", "filters", "handlers", "loggers", "root", "disable_existing_loggers"}
)
# Hydra's target policy reads this variable when it authorizes a config's classes
_ALLOWLIST_ENV = "HYDRA_INSTANTIATE_ALLOWLIST_OVERRIDE"


@dataclass
class _LoggerState:
    """What ``dictConfig`` sets on a logger, as the previous call left it."""

    logger: logging.Logger
    level: int
    propagate: bool
    disabled: bool
    handlers: list[logging.Handler]
    filters: list[tp.Any]

    @classmethod
    def of(cls, logger: logging.Logger) -> _LoggerState:
        return cls(
            logger,
            logger.level,
            logger.propagate,
            logger.disabled,
            list(logger.handlers),
            list(logger.filters),
        )

    def unchanged(self) -> bool:
        lg = self.logger
        return (
            lg.level == self.level
            and lg.propagate == self.propagate
            and lg.disabled == self.disabled
            and lg.handlers == self.handlers
            and lg.filters == self.filters
        )


@dataclass
class _Memo:
    """What the previous call left, to recognise that nothing changed since."""

    key: dict[str, tp.Any]  # the resolved config without the FileHandlers' filenames
    handlers: dict[str, logging.Handler]  # by config name
    handler_states: list[tuple[logging.Handler, type, dict[str, tp.Any]]]
    formatter_states: list[tuple[logging.Formatter, dict[str, tp.Any], dict[str, tp.Any]]]
    streams: list[tuple[logging.StreamHandler[tp.Any], str]]  # console handlers: stdout/stderr
    files: list[tuple[str, logging.FileHandler]]  # sorted by config name
    handler_refs: list[tp.Any]  # logging._handlerList (weak references)
    logger_values: list[tp.Any]  # the manager's loggers and placeholders, in order
    loggers: list[_LoggerState]  # the root, the named loggers and their children
    levels: list[tuple[logging.Logger, tp.Any]]  # levels the config sets
    children: list[logging.Logger]  # reset by dictConfig (children of named loggers)
    others: list[logging.Logger]  # the other loggers: dictConfig sets their ``disabled``
    disable_existing: bool
    root: logging.Logger
    dict_config_class: tp.Any
    allowlist: str | None
    ours: set[logging.Handler] = field(default_factory=set)
    resolution: _Resolution = field(default_factory=lambda: _Resolution())


_memo: _Memo | None = None


def configure_job_log(
    log_config: DictConfig | None, verbose: bool | str | tp.Sequence[str]
) -> None:
    """Configure logging as ``hydra.core.utils.configure_log(log_config, verbose)`` does,
    re-pointing the previous call's file handlers when only their files change (see the
    module docstring)."""
    global _memo
    memo, _memo = _memo, None
    if not isinstance(verbose, (bool, str)) or (
        isinstance(verbose, str) and ("$" in verbose or verbose == "???")
    ):
        # lists (and strings OmegaConf would interpolate): Hydra's own handling
        hydra_utils.configure_log(log_config, verbose)  # type: ignore[arg-type]
        return
    if log_config is None:
        hydra_utils.configure_log(log_config, verbose)  # type: ignore[arg-type]
        return
    raw = OmegaConf.to_container(log_config, resolve=False)
    conf: tp.Any = None
    if memo is not None:
        conf = memo.resolution.fill(raw, log_config)
        if conf is None:
            conf = OmegaConf.to_container(log_config, resolve=True)
        key = _key(conf)
        if key is not None and memo.key == key and _unchanged(memo) and _repoint(memo, conf):
            if _apply_levels(memo, verbose):  # else a logger was created: no memo
                memo.handler_states = [(h, type(h), _handler_state(h)) for h in memo.ours]
                _memo = memo
            return
    # A config whose resolution is not stable (a resolver such as ${now:...}) could
    # resolve here to something else than what Hydra's function applies: resolved before
    # and after it, no shortcut next time if they differ. Node interpolations of keys
    # that are not interpolations themselves resolve the same: resolved once, after.
    if conf is None and not _Resolution.stable(raw, log_config):
        conf = OmegaConf.to_container(log_config, resolve=True)
    hydra_utils.configure_log(log_config, verbose)
    resolved = OmegaConf.to_container(log_config, resolve=True)
    key = _key(resolved)
    if key is None or (conf is not None and _key(conf) != key):
        return
    _memo = _record(tp.cast(dict[str, tp.Any], resolved), key)
    if _memo is not None:  # checked against OmegaConf's resolution
        _memo.resolution = _Resolution.of(raw, resolved, log_config)


# an interpolation the shortcut resolves itself: ${a.b.c} (absolute, no resolver)
_NODE_INTERPOLATION = re.compile(r"\$\{([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\}", re.ASCII)
_LITERAL = re.compile(r"[^$\\]*")  # text around them: no $, no backslash (escapes)
_PRIMITIVES = (str, int, float, bool)


@dataclass
class _Resolution:
    """``OmegaConf.to_container(log_config, resolve=True)`` without OmegaConf's parsing
    of the interpolations (most of its cost), for a config whose unresolved container
    equals the previous call's: the strings made of text and ``${absolute.key}``
    interpolations are filled with the keys' values (``OmegaConf.select``). Checked once
    against OmegaConf's resolution; a key whose value is not of the type it had then
    (or anything else unexpected): OmegaConf's resolution."""

    raw: tp.Any = None  # the unresolved container (None: never fill)
    templates: list[tuple[tuple[tp.Any, ...], list[str]]] = field(default_factory=list)
    types: dict[str, tp.Any] = field(default_factory=dict)  # the keys' values' types

    @classmethod
    def of(cls, raw: tp.Any, conf: tp.Any, log_config: DictConfig) -> _Resolution:
        """The templates of ``raw``, if filling them gives ``conf`` (else none)."""
        templates: list[tuple[tuple[tp.Any, ...], list[str]]] = []
        if not _templates(raw, (), templates):
            return cls()
        types = {key: object for _, parts in templates for key in parts[1::2]}
        found = cls(raw, templates, types)
        values = found._values(log_config)
        if values is None:
            return cls()
        found.types = {key: type(value) for key, value in values.items()}
        return found if found.fill(raw, log_config) == conf else cls()

    @staticmethod
    def stable(raw: tp.Any, log_config: DictConfig) -> bool:
        """Whether resolving ``log_config`` twice gives the same: no interpolation, or
        only ``${absolute.key}`` ones of keys whose values are not interpolations."""
        templates: list[tuple[tuple[tp.Any, ...], list[str]]] = []
        get_root = getattr(log_config, "_get_root", None)
        if not _templates(raw, (), templates) or get_root is None:
            return False
        root = get_root()
        for key in {key for _, parts in templates for key in parts[1::2]}:
            parent, _, last = key.rpartition(".")
            try:
                node = OmegaConf.select(root, parent) if parent else root
                if not OmegaConf.is_dict(node) or last not in node:
                    return False
                if OmegaConf.is_interpolation(node, last):
                    return False
            except Exception:
                return False
        return True

    def _values(self, log_config: DictConfig) -> dict[str, tp.Any] | None:
        get_root = getattr(log_config, "_get_root", None)
        if get_root is None:
            return None
        root, values = get_root(), {}
        for key, expected in self.types.items():
            try:
                value = OmegaConf.select(root, key, default=_Resolution, throw_on_missing=True)
            except Exception:
                return None  # OmegaConf's resolution raises its own error
            if not isinstance(value, _PRIMITIVES) or value == "???":
                return None
            if expected is not object and type(value) is not expected:
                return None
            values[key] = value
        return values

    def fill(self, raw: tp.Any, log_config: DictConfig) -> dict[str, tp.Any] | None:
        """The resolved container, or None (then OmegaConf resolves it)."""
        if self.raw is None or raw != self.raw:
            return None
        values = self._values(log_config)
        if values is None:
            return None
        conf = raw
        for path, parts in self.templates:
            if len(parts) == 3 and not parts[0] and not parts[2]:
                value = values[parts[1]]  # a whole-string interpolation: the value as is
            else:
                value = "".join(p if i % 2 == 0 else str(values[p]) for i, p in enumerate(parts))
            conf = _replaced(conf, path, value)
        return tp.cast(dict[str, tp.Any], conf)


def _templates(
    node: tp.Any, path: tuple[tp.Any, ...], out: list[tuple[tuple[tp.Any, ...], list[str]]]
) -> bool:
    """Appends the interpolated strings under ``node`` as (path, [text, key, text, ...]);
    False if one is not text and ``${absolute.key}`` interpolations only."""
    if isinstance(node, dict):
        return all(_templates(v, (*path, k), out) for k, v in node.items())
    if isinstance(node, list):
        return all(_templates(v, (*path, i), out) for i, v in enumerate(node))
    if isinstance(node, str) and "${" in node:
        parts = _NODE_INTERPOLATION.split(node)  # text, key, text, key, ..., text
        if not all(_LITERAL.fullmatch(text) for text in parts[::2]):
            return False
        out.append((path, parts))
    return True


def _replaced(tree: tp.Any, path: tuple[tp.Any, ...], value: tp.Any) -> tp.Any:
    """``tree`` with the value at ``path`` replaced (containers copied along the path)."""
    if not path:
        return value
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[path[0]] = _replaced(tree[path[0]], path[1:], value)
    return copy


def _key(conf: tp.Any) -> dict[str, tp.Any] | None:
    """The config without the FileHandlers' filenames, or None if the shortcut cannot
    handle this config."""
    if not isinstance(conf, dict) or not _TOP_KEYS.issuperset(conf):
        return None
    if conf.get("version") != 1 or conf.get("filters"):
        return None
    if not isinstance(conf.get("disable_existing_loggers", True), bool):
        return None
    root = conf.get("root")
    if not isinstance(root, dict) or not root or not {"level", "handlers"}.issuperset(root):
        return None
    loggers = conf.get("loggers") or {}
    if not isinstance(loggers, dict):
        return None
    for name, lconf in loggers.items():
        if not isinstance(name, str) or name in ("", "root") or not isinstance(lconf, dict):
            return None
        if not {"level", "handlers", "propagate"}.issuperset(lconf):
            return None
    for fconf in (conf.get("formatters") or {}).values():
        if not isinstance(fconf, dict) or not _FORMATTER_KEYS.issuperset(fconf):
            return None
        if fconf.get("class", "logging.Formatter") != "logging.Formatter":
            return None
    handlers = conf.get("handlers") or {}
    if not isinstance(handlers, dict):
        return None
    key_handlers = {}
    for name, hconf in handlers.items():
        if not isinstance(hconf, dict):
            return None
        cls, stream = hconf.get("class"), hconf.get("stream")
        if not isinstance(cls, str) or cls not in _HANDLER_KEYS:
            return None
        if not _HANDLER_KEYS[cls].issuperset(hconf):
            return None
        if cls == _STREAM and not (stream is None or isinstance(stream, str)):
            return None
        if cls == _STREAM and stream not in _STREAMS:
            return None
        if cls == _FILE:
            if not isinstance(hconf.get("filename"), str):
                return None
            hconf = {k: v for k, v in hconf.items() if k != "filename"}
        key_handlers[name] = hconf
    return {**conf, "handlers": key_handlers}


def _record(conf: dict[str, tp.Any], key: dict[str, tp.Any]) -> _Memo | None:
    """The memo of the state Hydra's function just left, or None if it is not the one
    expected from the config."""
    registry: tp.Any = logging._handlers  # type: ignore[attr-defined]
    hconfs = conf.get("handlers") or {}
    handlers = {name: registry.get(name) for name in hconfs}
    if len(registry) != len(hconfs):
        return None
    streams: list[tuple[logging.StreamHandler[tp.Any], str]] = []
    files: list[tuple[str, logging.FileHandler]] = []
    for name, hconf in hconfs.items():
        h = handlers[name]
        if hconf["class"] == _FILE:
            if type(h) is not logging.FileHandler:
                return None
            files.append((name, h))
        else:
            if type(h) is not logging.StreamHandler:
                return None
            streams.append((h, _STREAMS[hconf.get("stream")]))
    ours = set(handlers.values())
    formatters = {id(h.formatter): h.formatter for h in ours if h.formatter is not None}
    for f in formatters.values():
        if type(f) is not logging.Formatter:
            return None
    manager = logging.root.manager
    named = set(conf.get("loggers") or {})
    prefixes = tuple(name + "." for name in named)
    children, others, states = [], [], [_LoggerState.of(logging.root)]
    for name, lg in list(manager.loggerDict.items()):
        if not isinstance(lg, logging.Logger):
            continue
        if name in named:
            states.append(_LoggerState.of(lg))
        elif name.startswith(prefixes):
            children.append(lg)
            states.append(_LoggerState.of(lg))
        else:
            others.append(lg)
    levels: list[tuple[logging.Logger, tp.Any]] = []
    for name, lconf in [("", conf["root"]), *(conf.get("loggers") or {}).items()]:
        if lconf.get("level") is not None:
            levels.append((logging.getLogger(name) if name else logging.root, lconf["level"]))
    return _Memo(
        key=key,
        handlers=handlers,
        handler_states=[(h, type(h), _handler_state(h)) for h in ours],
        formatter_states=[(f, dict(vars(f)), dict(vars(f._style))) for f in formatters.values()],
        streams=streams,
        files=sorted(files, key=lambda item: item[0]),
        handler_refs=list(logging._handlerList),  # type: ignore[attr-defined]
        logger_values=list(manager.loggerDict.values()),
        loggers=states,
        levels=levels,
        children=children,
        others=others,
        disable_existing=conf.get("disable_existing_loggers", True),
        root=logging.root,
        dict_config_class=logging.config.dictConfigClass,
        allowlist=os.environ.get(_ALLOWLIST_ENV),
        ours=ours,
    )


def _handler_state(handler: logging.Handler) -> dict[str, tp.Any]:
    state = dict(vars(handler))
    state["filters"] = list(handler.filters)
    if isinstance(handler, logging.FileHandler):
        state.pop("stream", None)  # set when a delayed handler first writes
    return state


def _unchanged(memo: _Memo) -> bool:
    """Whether the logging state is the one the previous call left (conservatively)."""
    if logging.root is not memo.root or os.environ.get(_ALLOWLIST_ENV) != memo.allowlist:
        return False
    if logging.config.dictConfigClass is not memo.dict_config_class:
        return False
    registry: tp.Any = logging._handlers  # type: ignore[attr-defined]
    if len(registry) != len(memo.handlers) or any(
        registry.get(name) is not h for name, h in memo.handlers.items()
    ):
        return False
    if logging._handlerList != memo.handler_refs:  # type: ignore[attr-defined]
        return False
    for h, cls, state in memo.handler_states:
        if type(h) is not cls or _handler_state(h) != state:
            return False
    for f, state, style in memo.formatter_states:
        if vars(f) != state or vars(f._style) != style:
            return False
    current = {"stdout": sys.stdout, "stderr": sys.stderr}
    if any(h.stream is not current[which] for h, which in memo.streams):
        return False
    if not all(state.unchanged() for state in memo.loggers):
        return False
    expected, ours = memo.disable_existing, memo.ours
    for lg in memo.others:
        if lg.disabled != expected or (lg.handlers and not ours.isdisjoint(lg.handlers)):
            return False
    values = list(logging.root.manager.loggerDict.values())
    return values == memo.logger_values or _new_loggers_unaffected(memo, values)


def _new_loggers_unaffected(memo: _Memo, values: list[tp.Any]) -> bool:
    """Whether the loggers created since the previous call are as dictConfig would leave
    them (then remembered with the others): never when it would disable them, nor for the
    named loggers' children."""
    if memo.disable_existing:
        return False
    known = {id(v) for v in memo.logger_values}
    new = [v for v in values if id(v) not in known and isinstance(v, logging.Logger)]
    prefixes = tuple(state.logger.name + "." for state in memo.loggers[1:])
    for lg in new:
        if lg.name.startswith(prefixes) or any(lg is s.logger for s in memo.loggers):
            return False
        if lg.disabled or (lg.handlers and not memo.ours.isdisjoint(lg.handlers)):
            return False
    memo.others.extend(new)
    memo.logger_values = values
    return True


def _repoint(memo: _Memo, conf: dict[str, tp.Any]) -> bool:
    """Point the file handlers to their new files (what dictConfig's new handlers would
    open); False (nothing changed) if a file cannot be opened."""
    lock: tp.Any = logging._lock  # type: ignore[attr-defined]
    with lock:
        for h, _ in memo.streams:  # dictConfig flushes and closes the old handlers
            _quietly(h.flush)
        for _, fh in memo.files:
            fh.acquire()
            try:
                stream, fh.stream = fh.stream, None
                if stream is not None:
                    _quietly(stream.flush)
                    _quietly(stream.close)
            finally:
                fh.release()
        done: list[tuple[logging.FileHandler, str]] = []
        try:
            for name, fh in memo.files:  # in dictConfig's order (sorted names)
                path = os.path.abspath(os.fspath(conf["handlers"][name]["filename"]))
                fh.acquire()
                try:
                    done.append((fh, fh.baseFilename))
                    fh.baseFilename = path
                    if not fh.delay:
                        fh.stream = fh._open()
                finally:
                    fh.release()
        except Exception:
            # back to the previous files (closed): Hydra's function then does (and
            # fails) what it would have done
            for fh, previous in done:
                stream, fh.stream = fh.stream, None
                if stream is not None:
                    _quietly(stream.close)
                fh.baseFilename = previous
            return False
    return True


def _apply_levels(memo: _Memo, verbose: bool | str) -> bool:
    """The levels dictConfig sets (the config's, the children of named loggers reset),
    then the ``verbose`` part of Hydra's function; False if that created a logger (the
    memo does not know it)."""
    for lg in memo.children:
        lg.setLevel(logging.NOTSET)
        lg.handlers = []
        lg.propagate = True
    for lg, level in memo.levels:
        lg.setLevel(level)
    if verbose is True:
        logging.getLogger().setLevel(logging.DEBUG)
    elif isinstance(verbose, str):
        logging.getLogger(verbose).setLevel(logging.DEBUG)
    if list(logging.root.manager.loggerDict.values()) != memo.logger_values:
        return False
    for state in memo.loggers:  # what the next call compares with: the levels just set
        state.level = state.logger.level
    return True


def _quietly(func: tp.Callable[[], tp.Any]) -> None:
    try:
        func()
    except (OSError, ValueError):  # as logging.shutdown: a stream already closed, ...
        pass
