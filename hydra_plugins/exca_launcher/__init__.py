"""exca's Hydra launchers: ``exca_inline``, ``exca_local`` and ``exca_slurm``.

Hydra imports this package (and every module in it) at start-up while it scans for
plugins, so nothing here imports exca, numpy, pydantic or submitit at module level:
the implementation (:mod:`exca.hydra.launcher`) is imported when a launcher is set up.
"""
