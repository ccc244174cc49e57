"""What is in a cache folder or a sweep, and freeing space safely: the functions behind
the ``exca`` command (:mod:`exca.cli`), callable from a notebook.

- :func:`ls`: one :class:`Entry` per uid folder (TaskInfra result, MapInfra items, Hydra
  launcher job, or a bare CacheDict folder): state, items, size, last use
  (:mod:`exca.inspect.entries`);
- :func:`show`: everything about one uid folder (configs, job, logs, the failure with
  its exception type, message and traceback, result) (:mod:`exca.inspect.entries`);
- :func:`clean`: removes failed, old, or least recently used entries, never one in use
  (:func:`in_use`), each atomically (:mod:`exca.inspect.clean`);
- :func:`sweep`: the jobs of a Hydra sweep run by an exca launcher (:mod:`exca.sweeps`)
  (:mod:`exca.inspect.sweep`), and :func:`sweep_html`, a self-contained report of it
  (:mod:`exca.inspect.html`).

Every file of an entry is read through :class:`exca.uidfolder.UidFolder`: only index
files, config dumps, failure and job records, never the cached values (except a sweep's
numeric return values, stored inline in the index line). submitit is imported only to
read a job record of an unfinished entry; Hydra is never imported.
"""

from .clean import IN_USE_CHECKS, CleanReport, clean, in_use
from .clean import REMOVING as REMOVING
from .entries import Entry, by_method, entry, job_state, ls, parse_age, parse_size, show
from .html import sweep_html
from .sweep import SweepJob, SweepReport, sweep

__all__ = [
    "IN_USE_CHECKS",
    "CleanReport",
    "Entry",
    "SweepJob",
    "SweepReport",
    "by_method",
    "clean",
    "entry",
    "in_use",
    "job_state",
    "ls",
    "parse_age",
    "parse_size",
    "show",
    "sweep",
    "sweep_html",
]
