"""A Hydra app whose task takes ``cfg.sleep`` seconds and logs each real run (the
compute-once tests launch two sweeps of it at once)."""

import os
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> int:
    with Path(os.environ["EXCA_TEST_RUNS"]).open("a") as f:
        f.write(f"{cfg.x} {os.getpid()}\n")
    time.sleep(float(cfg.sleep))
    return int(cfg.x) * 10


if __name__ == "__main__":
    main()
