"""Small Hydra apps and models used by tests/test_hydra_launcher.py."""
