"""``_partial_``, ``_recursive_``, ``_args_`` and nested targets (Hydra docs: "Partial
instantiation", "Recursive instantiation")."""

import hydra
from hydra.utils import instantiate
from omegaconf import DictConfig

from tests.hydra_apps.corpus.common import record


@hydra.main(version_base=None, config_path="conf", config_name="partials")
def main(cfg: DictConfig) -> dict:
    make = instantiate(cfg.scale)  # a functools.partial
    plain = instantiate(cfg.plain)
    lazy = instantiate(cfg.lazy)  # _recursive_: false: its child stays a config
    out = {"scaled": make(value=2.0), "args": plain.args, "child": type(lazy.child).__name__}
    return record("partials", cfg, out)


if __name__ == "__main__":
    main()
