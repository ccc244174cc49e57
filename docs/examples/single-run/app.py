import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=".", config_name="config")
def app(cfg: DictConfig) -> int:
    print("computing", cfg.x)
    return cfg.x**2


if __name__ == "__main__":
    app()
