"""Structured configs: dataclasses in the ConfigStore, typed and checked by Hydra."""

import dataclasses

import hydra
from hydra.core.config_store import ConfigStore

from tests.hydra_apps.corpus.common import record


@dataclasses.dataclass
class DB:
    driver: str = "mysql"
    port: int = 3306


@dataclasses.dataclass
class Config:
    db: DB = dataclasses.field(default_factory=DB)
    retries: int = 1


ConfigStore.instance().store(name="structured", node=Config)


@hydra.main(version_base=None, config_path=None, config_name="structured")
def main(cfg: Config) -> int:
    return record("structured", cfg, cfg.db.port * cfg.retries)


if __name__ == "__main__":
    main()
