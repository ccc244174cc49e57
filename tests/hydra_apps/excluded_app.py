"""A sweep whose ``hydra.launcher.exclude_from_uid`` names a nested key (``data.workers``)
that is the only key of its parent: run as a module (``python -m
tests.hydra_apps.excluded_app -m hydra/launcher=exca_inline ... data.workers=1,2
hydra.launcher.exclude_from_uid=[data.workers]``), so that its cache folder is named
after the module, not after the file's path. ``--config-name=model`` runs the same with a
pydantic model as ``_target_``. Each call of the task function appends a line to
``calls.txt`` in the working directory."""

import os
from pathlib import Path

import hydra
import pydantic
from hydra.core.config_store import ConfigStore


class Data(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    workers: int = 0


class Model(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    x: int = 0
    data: Data = Data()


ConfigStore.instance().store(name="plain", node={"x": 1, "data": {"workers": 0}})
ConfigStore.instance().store(
    name="model",
    node={"_target_": "tests.hydra_apps.excluded_app.Model", "x": 1, "data": {"workers": 0}},
)


@hydra.main(version_base=None, config_name="plain")
def main(cfg: dict) -> int:
    calls = Path(os.environ.get("EXCA_TEST_CALLS", "calls.txt"))
    with calls.open("a") as f:
        f.write(f"x={cfg['x']} workers={cfg['data']['workers']}\n")
    return 10 * int(cfg["x"])


if __name__ == "__main__":
    main()
