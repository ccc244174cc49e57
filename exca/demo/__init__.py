"""The exca demo: a small ML pipeline swept with Hydra through exca's launcher.

Run it with ``python -m exca.demo`` from the repository (configs in ``conf/``).
"""
