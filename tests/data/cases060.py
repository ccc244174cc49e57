"""The three cases where this package named cache folders otherwise than exca 0.6.0
before issue 26 (used by tests/test_compat_060.py, run under both packages).

``python cases060.py <folder>`` computes every case into ``<folder>`` and prints the
results as JSON; each computation appends a line to the file ``$COUNT_FILE``.
"""

import collections
import json
import os
import sys
import typing as tp
from pathlib import Path

import pydantic

import exca


def _count(tag: str) -> None:
    with Path(os.environ["COUNT_FILE"]).open("a") as f:
        f.write(tag + "\n")


# ---- 1. overridden methods in subclasses
class Base(pydantic.BaseModel):
    p: int = 12
    infra: exca.TaskInfra = exca.TaskInfra(version="12")

    @infra.apply
    def func(self) -> int:
        _count(f"base{self.p}")
        return self.p


class PlainOverride(Base):  # overrides the method without the infra, calls super()
    q: int = 0

    def func(self) -> int:
        return super().func() + 1


class SecondInfra(Base):  # another infra re-applied on the override
    infra2: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra2.apply
    def func(self) -> int:
        _count(f"second{self.p}")
        return super().func() + 2


# ---- 2. sub-models left at their defaults by exclude_from_cache_uid
class Sub(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 1
    y: int = 2


class Excluding(pydantic.BaseModel):
    sub: Sub = Sub()
    opt: Sub | None = None
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply(exclude_from_cache_uid=("sub.y", "opt.y"))
    def run(self) -> int:
        _count(f"excluding{self.sub.y}")
        return self.sub.x + (0 if self.opt is None else 10 * self.opt.x)


# ---- 3. ordered dicts (moved entries give another uid)
class Ordered(pydantic.BaseModel):
    steps: collections.OrderedDict[str, Sub] = collections.OrderedDict()
    infra: exca.TaskInfra = exca.TaskInfra(version="1")

    @infra.apply
    def run(self) -> list[str]:
        _count("ordered" + "".join(self.steps))
        return list(self.steps)


def moved_steps() -> Ordered:
    steps = collections.OrderedDict(a={"x": 1}, b={"x": 2}, c={"x": 3})
    moved = exca.ConfDict({"steps": steps})
    moved.update({"steps": {"c": {exca.ConfDict.ops.BEFORE: "a"}, "b": {"y": 5}}})
    return Ordered(**moved)


CASES: dict[str, tp.Callable[[], tp.Any]] = {
    "plain": lambda: PlainOverride(q=3).func(),
    "plain_default": lambda: PlainOverride().func(),
    "second_infra2": lambda: SecondInfra(p=5).func(),
    "excluded": lambda: Excluding(sub={"y": 5}).run(),
    "excluded_opt": lambda: Excluding(opt={"y": 5}).run(),
    "excluded_none": lambda: Excluding().run(),
    "ordered": lambda: Ordered(steps={"a": {"x": 1}, "b": {"x": 2}, "c": {"x": 3}}).run(),
    "ordered_moved": lambda: moved_steps().run(),
}


def main(folder: Path) -> None:
    for cls in (Base, SecondInfra, Excluding, Ordered):
        for name in ("infra", "infra2"):
            if name in cls.model_fields:
                cls.model_fields[name].default._update(folder=folder)
    out = {}
    for name, case in CASES.items():
        try:
            out[name] = case()
        except Exception as e:  # (ordered_moved: not supported before issue 26)
            out[name] = f"raise {type(e).__name__}"
    print(json.dumps(out, sort_keys=True))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
