import hydra
from omegaconf import DictConfig


@hydra.main(version_base=None, config_path=".", config_name="config")
def train(cfg: DictConfig) -> float:
    loss = (cfg.lr - 0.01) ** 2 + 1 / cfg.epochs
    print(f"lr={cfg.lr} epochs={cfg.epochs}: loss={loss:.4f}")
    return loss


if __name__ == "__main__":
    train()
