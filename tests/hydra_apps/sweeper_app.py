"""The app of the exca sweeper's differential tests (tests/test_hydra_sweeper.py): its
``sweeper_conf/`` has config groups, a nested group, packages and interpolations; the
``Recorder`` callback writes what callbacks see into each job's output dir."""

import json
import os
import typing as tp
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf


class Recorder(Callback):
    """Writes ``callbacks.json`` in the job's output dir: the JobReturn's fields."""

    def on_job_start(self, config: DictConfig, **kwargs: object) -> None:
        self.num = HydraConfig.get().job.num
        self.env = os.environ.get("EXCA_ENV")  # hydra.job.env_set applies around the job
        self.config = OmegaConf.to_yaml(config)  # what the callback is given

    def on_job_end(self, config: DictConfig, job_return: tp.Any, **kwargs: object) -> None:
        ret = job_return
        working_dir = str(ret.working_dir)
        if os.path.isabs(working_dir):  # the two sides of a test run in different folders
            working_dir = os.path.relpath(working_dir, os.environ["SWEEP_ROOT"])
        record = {
            "num_at_start": self.num,
            "env_at_start": self.env,
            "config_at_start": self.config,
            "config_at_end": OmegaConf.to_yaml(config),
            "overrides": ret.overrides,
            "working_dir": working_dir,
            "task_name": ret.task_name,
            "status": ret.status.name,
            "value": repr(ret._return_value),
            "cfg": OmegaConf.to_yaml(ret.cfg),
            "hydra_cfg": OmegaConf.to_yaml(ret.hydra_cfg),
            "hydra_readonly": OmegaConf.is_readonly(ret.hydra_cfg.hydra),
        }
        out = Path(str(config.hydra.runtime.output_dir)) / "callbacks.json"
        out.write_text(json.dumps(record, indent=1, sort_keys=True))


@hydra.main(version_base=None, config_path="sweeper_conf", config_name="config")
def main(cfg: DictConfig) -> str:
    return OmegaConf.to_yaml(cfg, resolve=True)


if __name__ == "__main__":
    main()
