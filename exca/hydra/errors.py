"""Errors raised by the Hydra bridge, and "did you mean" suggestions."""

import difflib
import typing as tp

__all__ = ["ConfigError", "SchemaError", "did_you_mean"]


class ConfigError(ValueError):
    """A configuration could not be converted or validated.

    ``problems`` lists every problem found (one line each, each naming the
    dotted key); the message shows them all at once.
    """

    def __init__(self, title: str, problems: tp.Sequence[str] = ()) -> None:
        self.title = title
        self.problems = list(problems)
        lines = [title] + [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


def did_you_mean(name: str, candidates: tp.Iterable[tp.Any], prefix: str = "") -> str:
    """Text suggesting the valid names closest to a misspelled ``name``.

    ``prefix`` (a dotted path) is prepended to each suggestion. Returns an
    empty string when there is no candidate at all.
    """
    valid = sorted(str(c) for c in candidates)
    if not valid:
        return ""
    pre = f"{prefix}." if prefix else ""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(pre + c) for c in close) + "?"
    shown = ", ".join(valid[:20]) + (", ..." if len(valid) > 20 else "")
    where = f" under {prefix!r}" if prefix else ""
    return f"valid keys{where}: {shown}"


class SchemaError(TypeError):
    """A field of a model cannot be a Hydra config without changing its value.

    Raised by :func:`exca.hydra.schema` and :func:`exca.hydra.register`; the
    message names the field (``Model.path.to.field``), its type, what would
    go wrong, and the supported alternative.
    """

    def __init__(self, model: str, path: str, annotation: str, problem: str, alternative: str):
        self.model = model
        self.path = path
        self.annotation = annotation
        self.problem = problem
        self.alternative = alternative
        where = f"{model}.{path}" if path else model
        super().__init__(f"{where} ({annotation}): {problem}; {alternative}")
