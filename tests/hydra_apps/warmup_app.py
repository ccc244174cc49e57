"""A DiscriminatedModel hierarchy as a config group, swept with the exca launcher
(``python tests/hydra_apps/warmup_app.py -m hydra/launcher=exca_inline
hydra.launcher.cache_folder=/tmp/cache warmup=Constant,Linear,Exponential``).

Each execution of the task appends a line to ``$WARMUP_RUNS`` (when set), so that a test
counts what was computed."""

import abc
import os

import pydantic

import exca.hydra
from exca.helpers import DiscriminatedModel


class Warmup(DiscriminatedModel, abc.ABC):
    start: float = 1.0

    @abc.abstractmethod
    def rate(self, step: int) -> float: ...


class Constant(Warmup):
    level: float = 0.5

    def rate(self, step: int) -> float:
        return self.level


class Linear(Warmup):
    steps: int = 10

    def rate(self, step: int) -> float:
        return self.start * min(1.0, step / self.steps)


class Exponential(Warmup):
    gamma: float = 0.9
    floor: float = 0.01

    def rate(self, step: int) -> float:
        return max(self.floor, self.start * self.gamma**step)


class Fit(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    step: int = 3
    warmup: Warmup = Linear(steps=4)


exca.hydra.register(Fit, name="fit")


@exca.hydra.main(config_name="fit")
def main(fit: Fit) -> float:
    runs = os.environ.get("WARMUP_RUNS")
    if runs:
        with open(runs, "a", encoding="utf8") as f:
            f.write(fit.model_dump_json() + "\n")
    return fit.warmup.rate(fit.step)


if __name__ == "__main__":
    main()
