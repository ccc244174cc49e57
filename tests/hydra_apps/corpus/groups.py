"""Config groups and a defaults list (Hydra tutorial: "Grouping config files")."""

import hydra
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path="conf/groups", config_name="config")
def main(cfg: DictConfig) -> str:
    return record("groups", cfg, f"{cfg.db.driver}:{cfg.db.port}")


if __name__ == "__main__":
    main()
