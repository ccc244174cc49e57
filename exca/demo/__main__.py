"""``python -m exca.demo``: the demo sweep (see exca/demo/conf/demo.yaml)."""

from __future__ import annotations

from pathlib import Path

import exca.hydra

from .pipeline import Experiment

CONF = Path(__file__).resolve().parent / "conf"  # shipped in the wheel (package data)

exca.hydra.register(Experiment, name="experiment")


@exca.hydra.main(config_path=str(CONF), config_name="demo")
def app(experiment: Experiment) -> dict[str, float]:
    """Runs one experiment of the sweep (its features come from the shared cache)."""
    return experiment.run()


if __name__ == "__main__":
    app()
