"""The app whose ``conf/`` folder the in-process launcher tests compose
(``python tests/hydra_apps/app.py -m hydra/launcher=exca_inline x=1,2,3`` runs it for real)."""

import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path="conf", config_name="plain")
def main(cfg: DictConfig) -> int:
    return int(cfg.x) * 2


if __name__ == "__main__":
    main()
