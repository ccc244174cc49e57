"""``hydra.job.chdir=True``: the task runs in its output dir and writes relative paths."""

import os
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> bool:
    Path("relative.txt").write_text(str(cfg.x))
    in_output_dir = os.getcwd() == HydraConfig.get().runtime.output_dir
    return record("chdir", cfg, in_output_dir)


if __name__ == "__main__":
    main()
