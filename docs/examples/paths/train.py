import json
import pathlib

import hydra


@hydra.main(version_base=None, config_path="conf", config_name="train")
def train(cfg) -> float:
    print("training with lr", cfg.lr)
    checkpoints = pathlib.Path(cfg.trainer.checkpoint_dir)
    checkpoints.mkdir()
    (checkpoints / "last.ckpt").write_text(json.dumps({"lr": cfg.lr}))
    return cfg.lr * 2


if __name__ == "__main__":
    train()
