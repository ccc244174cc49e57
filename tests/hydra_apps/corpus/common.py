"""What every corpus app's task does besides its own work: one JSON line per real run in
``$EXCA_TEST_RUNS`` (the tests compare and count them) and an artifact in the output dir."""

import json
import os
import typing as tp
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


def record(app: str, cfg: tp.Any, out: tp.Any) -> tp.Any:
    """Records a real run of ``app`` computing ``out``; returns ``out``."""
    values = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else cfg
    line = json.dumps({"app": app, "cfg": values, "out": out}, sort_keys=True, default=str)
    with Path(os.environ["EXCA_TEST_RUNS"]).open("a") as f:
        f.write(line + "\n")
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    (output_dir / "artifact.txt").write_text(json.dumps(out, default=str))
    return out


class CountJobEnd(Callback):
    """A Hydra callback appending to ``$EXCA_TEST_CALLBACKS`` at the end of every job."""

    def on_job_end(self, config: DictConfig, job_return: tp.Any, **kwargs: tp.Any) -> None:
        with Path(os.environ["EXCA_TEST_CALLBACKS"]).open("a") as f:
            f.write(f"{config.x} {job_return.return_value}\n")
