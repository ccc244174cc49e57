"""A sweep where one job raises: the other jobs run, the app exits non-zero."""

import hydra
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> int:
    if cfg.x == 2:
        raise ValueError("x=2 fails")
    return record("failing", cfg, cfg.x)


if __name__ == "__main__":
    main()
