"""hydra-zen: ``builds`` configs in a ``store`` (one with ``zen_meta``), a task wrapped by
``zen`` (its fields are the function's arguments) and ``zen(task).hydra_main``."""

import typing as tp

from hydra_zen import builds, store, zen

from tests.hydra_apps.corpus.common import record
from tests.hydra_apps.targets import make_model


def task(model: tp.Any, lr: float) -> str:
    return record("zen_app", {"model": model, "lr": lr}, f"{model['width']}x{model['depth']}@{lr}")


store(builds(make_model, width=2, populate_full_signature=True), group="model", name="small")
store(builds(make_model, width=8, populate_full_signature=True), group="model", name="big")
store(
    builds(
        task,
        lr=0.1,
        populate_full_signature=True,
        hydra_defaults=["_self_", {"model": "small"}],
        zen_meta={"note": "meta"},  # _target_: hydra_zen.funcs.zen_processing
    ),
    name="zen_app",
)

if __name__ == "__main__":
    store.add_to_hydra_store()
    zen(task).hydra_main(config_name="zen_app", config_path=None, version_base="1.3")
