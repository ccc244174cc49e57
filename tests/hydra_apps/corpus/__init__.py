"""A corpus of small Hydra apps, one per feature of Hydra's tutorials and patterns, run by
tests/test_hydra_apps.py under the basic launcher and every exca flavour."""
