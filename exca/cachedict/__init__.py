"""CacheDict: the dict-like storage engine behind every exca cache.

- :class:`CacheDict`: dict interface over a folder (and/or RAM).
- Storage formats: one :class:`Handler` class each, registered by name with
  :func:`register`; built-ins in :mod:`exca.cachedict.handlers`.
- On-disk index: :mod:`exca.cachedict.index`.
- Folders written by exca 0.6.0: read through :mod:`exca.cachedict.legacy`.
"""

from . import handlers
from .core import CacheDict
from .index import CacheDictWarning
from .registry import (
    HANDLERS,
    DumpContext,
    Handler,
    KeyFileHandler,
    LoadContext,
    default_handler,
    get_handler,
    register,
)

__all__ = [
    "HANDLERS",
    "CacheDict",
    "CacheDictWarning",
    "DumpContext",
    "Handler",
    "KeyFileHandler",
    "LoadContext",
    "default_handler",
    "get_handler",
    "handlers",
    "register",
]
