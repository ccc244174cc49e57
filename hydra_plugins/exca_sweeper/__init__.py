"""exca's Hydra sweeper: ``hydra/sweeper=exca``.

Hydra imports this package (and every module in it) at start-up while it scans for
plugins, so nothing here imports exca, numpy, pydantic or submitit at module level:
the implementation (:mod:`exca.hydra.sweeper`) is imported when the sweeper is set up.
"""
