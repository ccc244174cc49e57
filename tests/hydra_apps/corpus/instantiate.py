"""``hydra.utils.instantiate``: the job config's top-level ``_target_`` is a function, a
nested one a class that is not a pydantic model (Hydra tutorial: "Instantiating objects")."""

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path="conf", config_name="instantiate")
def main(cfg: DictConfig) -> dict:
    model = instantiate(cfg)
    return record("instantiate", cfg, model)


if __name__ == "__main__":
    main()
