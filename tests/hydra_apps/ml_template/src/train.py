"""A training app in the layout of lightning-hydra-template, without torch or Lightning:
``train`` "fits" a model (a few arithmetic steps), writes checkpoints, a CSV log and a
metrics file where the config says (all under ``${paths.output_dir}``), and appends one
line per real execution to ``$EXCA_TEST_RUNS`` (outside every output dir)."""

import json
import os
import typing as tp
from pathlib import Path

import hydra
from omegaconf import DictConfig

# what rootutils.setup_root(__file__, indicator=".project-root") does in the template
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))


def train(cfg: DictConfig) -> dict[str, float]:
    with open(os.environ["EXCA_TEST_RUNS"], "a") as f:
        f.write(json.dumps({"lr": cfg.model.optimizer.lr, "hidden": cfg.model.net.hidden}) + "\n")
    assert Path(cfg.paths.output_dir).is_dir() and Path(cfg.trainer.default_root_dir).is_dir()
    loss = 1.0
    rows = ["epoch,val/loss"]
    for epoch in range(cfg.trainer.max_epochs):
        loss = round(loss * (1 - cfg.model.optimizer.lr) + 0.01 * cfg.model.net.hidden / 64, 6)
        rows.append(f"{epoch},{loss}")
    ckpt = Path(cfg.callbacks.model_checkpoint.dirpath)
    ckpt.mkdir(parents=True, exist_ok=True)
    (ckpt / "last.ckpt").write_bytes(json.dumps({"loss": loss, "seed": cfg.seed}).encode())
    log_dir = Path(cfg.logger.csv.save_dir) / cfg.logger.csv.name
    log_dir.mkdir(parents=True, exist_ok=True)
    (log_dir / "metrics.csv").write_text("\n".join(rows) + "\n")
    metrics = {"val/loss": loss}
    (Path(cfg.paths.output_dir) / "metrics.json").write_text(json.dumps(metrics))
    return metrics


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> tp.Any:
    metrics = train(cfg)
    return metrics[cfg.optimized_metric]


if __name__ == "__main__":
    main()
