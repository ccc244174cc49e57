"""Targets of every kind the basic launcher accepts (functions, methods, plain classes,
pydantic models given partially), named by the configs of tests/test_hydra_drop_in.py."""

import dataclasses
import typing as tp

import pydantic


def make_model(width: int, depth: int = 1) -> dict[str, int]:
    return {"width": width, "depth": depth}


def scale(value: float, factor: float) -> float:
    return value * factor


class Plain:
    """A class that is not a pydantic model."""

    def __init__(self, *args: tp.Any, size: int = 0, child: tp.Any = None) -> None:
        self.args, self.size, self.child = list(args), size, child

    @classmethod
    def build(cls, size: int) -> "Plain":
        return cls(size=size)


@dataclasses.dataclass
class Point:
    x: int = 0
    y: int = 0


class Needs(pydantic.BaseModel):
    """A pydantic model whose ``data`` is given by the app (``_partial_: true`` configs)."""

    model_config = pydantic.ConfigDict(extra="forbid")

    lr: float = 0.1
    data: list[int]


def build_pipeline(width: int, depth: int = 1, tool: tp.Any = None) -> dict[str, tp.Any]:
    """A function target whose ``tool`` argument is an instantiated object."""
    return {"width": width, "depth": depth, "tool": type(tool).__name__}
