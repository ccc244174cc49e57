"""``python -m exca.demo``: the demo sweep (see conf/demo.yaml)."""

from __future__ import annotations

from pathlib import Path

import exca.hydra

from .pipeline import Experiment

CONF = Path(__file__).resolve().parents[2] / "conf"

exca.hydra.register(Experiment, name="experiment")


@exca.hydra.main(config_path=str(CONF), config_name="demo")
def app(experiment: Experiment) -> dict[str, float]:
    """Runs one experiment of the sweep (its features come from the shared cache)."""
    return experiment.run()


if __name__ == "__main__":
    app()
