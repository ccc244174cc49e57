"""Hydra callbacks of the demo: precompute shared features, print a results table."""

from __future__ import annotations

import time
import typing as tp
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ..uidfolder import UID
from .pipeline import Experiment


def _experiment(cfg: DictConfig) -> Experiment:
    import exca.hydra

    cfg = OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"])
    return tp.cast(Experiment, exca.hydra.to_model(cfg, Experiment))


class ResultsTable(Callback):
    """Before the sweep: compute the features once (every job reads them from the
    cache). After it: a table of every job's result, each marked ``computed`` (in
    this sweep) or ``cached`` (by an earlier run)."""

    def __init__(self) -> None:
        self.start = time.time()

    def on_multirun_start(self, config: DictConfig, **kwargs: tp.Any) -> None:
        self.start = time.time()
        features = _experiment(config).features
        n = features.dataset.n_samples
        missing = sum(str(i) not in features.infra.cache_dict for i in range(n))
        if missing:
            print(f"Computing the {missing} missing features once, for every job of the sweep")
            for _ in features.compute(range(n)):
                pass

    def on_multirun_end(self, config: DictConfig, **kwargs: tp.Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = []
        for job_dir in sorted(sweep_dir.iterdir(), key=lambda p: (len(p.name), p.name)):
            cfg_file = job_dir / ".hydra" / "config.yaml"
            if not cfg_file.exists():
                continue
            overrides = OmegaConf.load(job_dir / ".hydra" / "overrides.yaml")
            exp = _experiment(tp.cast(DictConfig, OmegaConf.load(cfg_file)))
            folder = exp.infra.uid_folder()
            status = exp.infra.status()
            if status == "completed" and folder is not None:
                age = (folder / UID).stat().st_mtime
                state = "computed" if age >= self.start else "cached"
                accuracy = f"{exp.run()['accuracy']:.3f}"
            else:
                state, accuracy = status, "-"
            rows.append((" ".join(str(o) for o in overrides), accuracy, state))
        if not rows:
            return
        width = max(len(r[0]) for r in rows)
        lines = [
            f"| {'job':<{width}} | accuracy | status   |",
            f"|{'-' * (width + 2)}|----------|----------|",
        ]
        lines += [f"| {job:<{width}} | {acc:>8} | {state:<8} |" for job, acc, state in rows]
        computed = sum(r[2] == "computed" for r in rows)
        lines.append(
            f"{len(rows)} jobs: {computed} computed, {len(rows) - computed} from the cache"
        )
        print("\n".join(lines))
