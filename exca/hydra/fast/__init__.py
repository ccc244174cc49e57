"""The Hydra fast path: what exca's launcher and sweeper do instead of Hydra's own
per-job functions, with the same observable result, each proved by a differential test
against Hydra itself.

- :mod:`exca.hydra.fast.compose` replaces ``ConfigLoaderImpl.load_sweep_config`` per job
  (one full composition per combination of config-group choices; under the basic
  sweeper, the configs it composed are reused by the launcher); proved by
  ``tests/test_hydra_sweeper.py`` (configs compared with Hydra's composition, job by job).
- :mod:`exca.hydra.fast.serve` replaces ``hydra.core.utils.run_job`` for a job whose
  outcome is known (a cached value, a recorded failure); proved by
  ``tests/test_hydra_sweeper.py`` and ``tests/test_hydra_drop_in.py`` (output dirs
  compared file by file).
- :mod:`exca.hydra.fast.joblog` replaces ``hydra.core.utils.configure_log`` between
  consecutive jobs; proved by ``tests/test_hydra_joblog.py``.
- :mod:`exca.hydra.fast.jobconfig` replaces the per-job ``hydra`` node ``run_job`` sets
  and the ``.hydra/*.yaml`` files it writes; proved by ``tests/test_hydra_sweeper.py``.
"""
