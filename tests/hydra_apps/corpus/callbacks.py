"""A Hydra callback (``hydra.callbacks``) whose ``on_job_end`` sees every job."""

import hydra
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path="conf", config_name="callbacks")
def main(cfg: DictConfig) -> int:
    return record("callbacks", cfg, cfg.x * cfg.x)


if __name__ == "__main__":
    main()
