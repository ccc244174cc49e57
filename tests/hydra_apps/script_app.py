"""A Hydra app run as a script (its task function lives in ``__main__``) with a custom
resolver: with exca_local, both must reach the job process."""

import os
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

OmegaConf.register_new_resolver("twice", lambda v: 2 * int(v))


@hydra.main(version_base=None, config_path=None, config_name=None)
def main(cfg: DictConfig) -> int:
    # one line per real run, in a file shared by every job (the test counts them)
    with Path(os.environ["EXCA_TEST_RUNS"]).open("a") as f:
        f.write(f"{cfg.x} {os.getpid()}\n")
    if cfg.x == cfg.get("fail", None):
        raise ValueError(f"x={cfg.x} is the failing value")
    return int(cfg.y)


if __name__ == "__main__":
    main()
