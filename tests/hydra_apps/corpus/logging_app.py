"""A custom job logging config (Hydra tutorial: "Logging", "Customizing logging")."""

import logging

import hydra
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record

log = logging.getLogger(__name__)


@hydra.main(version_base=None, config_path="conf/logging_app", config_name="config")
def main(cfg: DictConfig) -> int:
    log.info("computing %s", cfg.x)
    return record("logging_app", cfg, cfg.x + 1)


if __name__ == "__main__":
    main()
