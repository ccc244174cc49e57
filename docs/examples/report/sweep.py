"""A sweep that returns a dict of numbers, fails for x=3 and sleeps `sleep` seconds."""

import time

import hydra
from hydra.core.config_store import ConfigStore

ConfigStore.instance().store(name="sweep", node={"x": 1, "lr": 0.1, "sleep": 0.0})


@hydra.main(version_base=None, config_name="sweep")
def main(cfg: dict) -> dict[str, float]:
    time.sleep(float(cfg["sleep"]))
    if int(cfg["x"]) == 3:
        raise ValueError("x=3 is not allowed")
    return {"loss": 1.0 / (int(cfg["x"]) * float(cfg["lr"])), "acc": 0.1 * int(cfg["x"])}


if __name__ == "__main__":
    main()
