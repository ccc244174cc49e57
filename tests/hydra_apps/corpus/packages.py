"""Packages: one config group used twice at two places (``server/db@primary``), and a
``# @package`` header (Hydra docs: "Overriding packages")."""

import hydra
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path="conf/packages", config_name="config")
def main(cfg: DictConfig) -> str:
    return record("packages", cfg, f"{cfg.primary.driver}->{cfg.replica.driver}@{cfg.site}")


if __name__ == "__main__":
    main()
