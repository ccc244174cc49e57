"""A custom ``hydra.job.name`` and job dirs named by ``hydra.job.override_dirname`` (Hydra
docs: "Job configuration", "Customizing working directory pattern")."""

import hydra
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path="conf", config_name="jobname")
def main(cfg: DictConfig) -> int:
    return record("jobname", cfg, cfg.x * 10)


if __name__ == "__main__":
    main()
