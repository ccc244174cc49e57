"""The Hydra fast path: what exca's launcher and sweeper do instead of Hydra's own
per-job functions, with the same observable result, each proved by a differential test
against Hydra itself.

================================  ===========================================  ==========================================
module                            replaces (Hydra)                             proved by
================================  ===========================================  ==========================================
:mod:`~exca.hydra.fast.compose`   ``ConfigLoaderImpl.load_sweep_config`` per   ``tests/test_hydra_sweeper.py`` (configs
                                  job (one full composition per combination    compared with Hydra's composition, job by
                                  of config-group choices; the basic           job)
                                  sweeper's configs reused by the launcher)
:mod:`~exca.hydra.fast.serve`     ``hydra.core.utils.run_job`` for a job whose ``tests/test_hydra_sweeper.py``,
                                  outcome is known (cached value, recorded     ``tests/test_hydra_drop_in.py`` (output
                                  failure)                                     dirs compared file by file)
:mod:`~exca.hydra.fast.joblog`    ``hydra.core.utils.configure_log`` between   ``tests/test_hydra_joblog.py``
                                  consecutive jobs
:mod:`~exca.hydra.fast.jobconfig` the per-job ``hydra`` node ``run_job`` sets  ``tests/test_hydra_sweeper.py``
                                  and the ``.hydra/*.yaml`` it writes
================================  ===========================================  ==========================================
"""
