"""hydra-zen's ``launch(..., multirun=True)`` of a ``builds`` config (the overrides come
from the command line, ``-m`` dropped)."""

import sys

from hydra_zen import builds, launch, zen

from tests.hydra_apps.corpus.common import record
from tests.hydra_apps.targets import scale


def task(value: float, factor: float) -> float:
    return record("zen_launch", {"value": value, "factor": factor}, scale(value, factor))


# a builds() config: its _target_ is the task function itself (ignored by zen)
Config = builds(task, value=1.0, factor=2.0)

if __name__ == "__main__":
    overrides = [a for a in sys.argv[1:] if a != "-m"]
    jobs = launch(Config, zen(task), overrides=overrides, multirun=True, version_base="1.3")
    failed = [j for batch in jobs for j in batch if j.status.name != "COMPLETED"]
    sys.exit(1 if failed else 0)
