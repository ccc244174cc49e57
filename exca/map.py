"""MapInfra: a method over m items -> m cached outputs, computed in n <= m jobs."""

from __future__ import annotations

import inspect
import logging
import math
import os
import sys
import typing as tp

import pydantic

from . import claims as _claims
from . import layout
from .backends import get_backend, in_job
from .base import BaseInfra, SignatureError, check_exclude
from .cachedict import CacheDict
from .uidfolder import UidFolder

logger = logging.getLogger(__name__)

C = tp.TypeVar("C", bound=tp.Callable[..., tp.Any])


class MapInfra(BaseInfra):
    """Caches, item by item, a method mapping a sequence of items to outputs.

    The decorated method takes one sequence of items and yields one output per
    item, in order. Calling it computes only the items missing from the cache,
    packed into at most ``max_jobs`` jobs of at least ``min_samples_per_job``
    items, and returns an iterator over all outputs in input order.

    ``cluster``: None (in process, with a progress bar on a terminal; set the
    environment variable ``EXCA_PROGRESS=0`` to disable it), ``"threadpool"``,
    ``"processpool"``, ``"local"``, ``"debug"``, ``"slurm"`` or ``"auto"``.
    ``mode``: ``"cached"``, ``"force"`` (recompute the requested items once and
    replace them) or ``"read-only"`` (a missing item raises).
    ``keep_in_ram``: keep outputs in RAM once computed or loaded.
    ``claims``: concurrent processes and jobs compute each missing item once (see
    :mod:`exca.claims`): ``"wait"`` (default: compute the items nobody computes, then
    wait for the others), ``"no-wait"`` (compute the items nobody computes, then raise
    :class:`exca.claims.ClaimedError` naming the others' owners) or ``"off"``.
    """

    cluster: tp.Literal[None, "auto", "local", "slurm", "debug", "threadpool", "processpool"] = None
    keep_in_ram: bool = True
    max_jobs: int | None = 128
    min_samples_per_job: int = 1
    forbid_single_item_computation: bool = False
    mode: tp.Literal["cached", "force", "read-only"] = "cached"
    claims: _claims.Wait = "wait"

    _cd: tp.Any = None  # CacheDict of the uid folder (or RAM only, without folder)
    _forced: bool = False  # mode="force" already recomputed once for this object

    @pydantic.model_validator(mode="after")
    def _check_packing(self) -> MapInfra:
        if self.min_samples_per_job < 1:
            raise ValueError(f"min_samples_per_job must be >= 1, got {self.min_samples_per_job}")
        if self.max_jobs is not None and self.max_jobs < 1:
            raise ValueError(f"max_jobs must be >= 1 or None, got {self.max_jobs}")
        return self

    # ---- decoration ----
    def apply(
        self,
        *,
        item_uid: tp.Callable[[tp.Any], str],
        item_uid_max_length: int | None = 256,
        exclude_from_cache_uid: tp.Iterable[str]
        | tp.Callable[[tp.Any], tp.Iterable[str]]
        | str = (),
        cache_type: str | None = None,
    ) -> tp.Callable[[C], C]:
        """Decorates ``method(self, items: Sequence[X]) -> Iterator[Y]``.

        ``item_uid``: gives the (str) cache key of an item.
        ``item_uid_max_length``: longer keys are cut and completed with a hash.
        ``exclude_from_cache_uid``: fields that do not change the outputs (a list of
        names, a callable taking the object, or ``"method:<name>"``).
        ``cache_type``: the CacheDict storage format (chosen by value type if None).
        """
        if not callable(item_uid):
            raise TypeError(f"item_uid must be a callable returning a str, got {item_uid!r}")
        check_exclude(exclude_from_cache_uid)

        def deco(method: C) -> C:
            params = list(inspect.signature(method).parameters)
            if len(params) != 2:
                raise SignatureError(
                    f"MapInfra.apply decorates a method taking self and one sequence of items, "
                    f"but {method.__qualname__} takes {params}"
                )
            return self._decorate(
                method,
                exclude_from_cache_uid=exclude_from_cache_uid,
                item_uid=item_uid,
                item_uid_max_length=item_uid_max_length,
                cache_type=cache_type,
            )

        return deco

    # ---- cache ----
    @property
    def cache_dict(self) -> CacheDict[tp.Any]:
        """The CacheDict holding the outputs, keyed by item uid."""
        cd = self._cd
        if cd is None:
            folder = self.uid_folder()
            self._check_configs(write=False)
            options = {
                "keep_in_ram": self.keep_in_ram,
                "cache_type": self.spec.options["cache_type"],
            }
            if folder is None:  # in RAM only: no entry
                cd = CacheDict(folder=None, **options)
            else:
                cd = UidFolder(folder).item_cache_dict(**options)
            self._cd = cd
        return cd

    def item_uid(self, item: tp.Any) -> str:
        """The cache key of an item (checked to be a str, shortened if too long)."""
        return self._item_uids([item])[0]

    def _item_uids(self, items: tp.Sequence[tp.Any]) -> list[str]:
        options = (self._spec or self.spec).options
        func = options["item_uid"]
        max_length = options["item_uid_max_length"]
        uids = [func(item) for item in items]
        for k, uid in enumerate(uids):
            if not isinstance(uid, str):
                raise TypeError(
                    f"item_uid of {self._name()} must return a str, got "
                    f"{type(uid).__name__} {uid!r} for item {items[k]!r}"
                )
            if max_length is not None and len(uid) > max_length:
                uids[k] = layout.short_item_uid(uid, max_length)  # as exca 0.6.0 does
        return uids

    def _is_cached(self) -> bool:
        return len(self.cache_dict) > 0

    # ---- computation ----
    def _call(self, *args: tp.Any, **kwargs: tp.Any) -> tp.Iterator[tp.Any]:
        if len(args) == 1 and not kwargs:
            items = args[0]
        else:
            items = self._items_argument(args, kwargs)
        if not isinstance(items, (list, tuple)):
            items = list(items)
        uids = self._item_uids(items)
        cd = self._cd
        if cd is None:
            cd = self.cache_dict
        force = self.mode == "force" and not self._forced
        missing: dict[str, tp.Any] = {}
        if force:
            missing = dict(zip(uids, items))
        elif len(uids) > 32:  # one read of the folder, then set lookups
            keys = set(cd.keys())
            missing = {uid: item for uid, item in zip(uids, items) if uid not in keys}
        else:
            for k, uid in enumerate(uids):  # no I/O while every key is known
                if uid not in cd:
                    with cd.frozen_cache_folder():  # one read of the folder for the rest
                        for uid2, item in zip(uids[k:], items[k:]):
                            if uid2 not in missing and uid2 not in cd:
                                missing[uid2] = item
                    break
        if missing:
            if self.mode == "read-only":
                raise RuntimeError(
                    f"mode='read-only' but {len(missing)} of {len(set(uids))} items of "
                    f"{self._name()} are not cached in {self._where()} (first missing item uid: "
                    f"{next(iter(missing))!r})"
                )
            if len(missing) == 1 and self.forbid_single_item_computation:
                raise RuntimeError(
                    f"forbid_single_item_computation=True, but only item "
                    f"{next(iter(missing))!r} of {self._name()} is missing from "
                    f"{self._where()}: compute items in batches"
                )
            if force:
                with cd.writer() as writer:
                    for uid in missing:
                        if uid in cd:
                            del writer[uid]
            self._compute(missing, n_items=len(set(uids)))
        if force:
            self._forced = True
        return _iter_outputs(cd, uids)

    def _items_argument(self, args: tuple[tp.Any, ...], kwargs: dict[str, tp.Any]) -> tp.Any:
        """The items of a call, given positionally or by the name of the method's parameter
        (``obj.process(nums=[12])``)."""
        name = list(inspect.signature(self.spec.method).parameters)[1]
        wrong = [key for key in kwargs if key != name]
        if wrong and not args and len(kwargs) == 1:
            raise NameError(
                f"{self._name()} takes its items as {name!r}, got keyword argument {wrong[0]!r}"
            )
        if len(args) + len(kwargs) != 1:
            given = [*(repr(type(a).__name__) for a in args), *kwargs]
            raise ValueError(
                f"{self._name()} takes exactly one argument, its items ({name!r}), got "
                f"{len(args) + len(kwargs)}: {', '.join(given) or 'none'}"
            )
        return args[0] if args else kwargs[name]

    def _chunks(self, uids: list[str]) -> list[list[str]]:
        n = len(uids)
        n_jobs = max(1, n // self.min_samples_per_job)
        if self.max_jobs is not None:
            n_jobs = min(n_jobs, self.max_jobs)
        size = math.ceil(n / n_jobs)
        return [uids[k : k + size] for k in range(0, n, size)]

    def _compute(self, missing: dict[str, tp.Any], n_items: int) -> None:
        self._check_configs(write=True)
        what = f"{self._name()}: computing {len(missing)} of {n_items} items"
        if self.mode == "force":
            what += " (mode=force)"
        if self.cluster is None or in_job():
            logger.info("%s in process (uid folder: %s)", what, self._where())
            self._compute_local(missing, progress=True)
            return
        uids = list(missing)
        chunks = self._chunks(uids)
        logger.info(
            "%s in %d job(s) on cluster %s (uid folder: %s)",
            what,
            len(chunks),
            self.cluster,
            self._where(),
        )
        backend = get_backend(self.cluster, self._resources(max_workers=self.max_jobs))
        args = [({uid: missing[uid] for uid in chunk},) for chunk in chunks]
        with self._workdir_context():
            jobs = backend.submit_many(self._job_compute, args)
        errors = []
        for job in jobs:
            try:
                outputs = job.result()
            except Exception as e:
                errors.append((job, e))
                continue
            if outputs is not None:  # no folder: the outputs come back with the job
                with self.cache_dict.writer() as writer:
                    for uid, value in outputs.items():
                        writer[uid] = value
        if errors:
            job, error = errors[0]
            raise RuntimeError(
                f"{len(errors)} of {len(jobs)} job(s) of {self._name()} failed (uid folder: "
                f"{self._where()}); the outputs of the others are cached. First failure, "
                f"job {job.job_id}:\n{error}"
            ) from error

    def _job_compute(self, items: dict[str, tp.Any]) -> dict[str, tp.Any] | None:
        """Runs in the job: computes the items; writes them in the folder if any, else
        returns them."""
        if self.folder is None:
            return dict(self._iterate(items, progress=False))
        self._compute_local(items, progress=False)
        return None

    def _iterate(self, items: dict[str, tp.Any], progress: bool) -> tp.Iterator[tuple[str, tp.Any]]:
        uids = list(items)
        outputs = self.spec.method(self.obj, [items[uid] for uid in uids])
        if progress and len(uids) > 1 and _progress_enabled():
            from tqdm import tqdm

            outputs = tqdm(outputs, total=len(uids), desc=self._name())
        count = 0
        for output in outputs:
            if count >= len(uids):
                count += 1
                break
            yield uids[count], output
            count += 1
        if count != len(uids):
            raise RuntimeError(
                f"{self._name()} yielded {'more' if count > len(uids) else count} outputs for "
                f"{len(uids)} items: it must yield exactly one output per item, in order"
            )

    def _compute_local(self, items: dict[str, tp.Any], progress: bool) -> None:
        cd = self.cache_dict
        if cd.folder is None or self.claims == "off":
            with cd.writer() as writer:
                for uid, output in self._iterate(items, progress=progress):
                    writer[uid] = output
            return

        def present(uids: list[str]) -> list[str]:
            with cd.frozen_cache_folder():  # one read of the folder
                return [uid for uid in uids if uid in cd]

        def compute(uids: list[str]) -> tp.Iterator[str]:
            with cd.writer() as writer:
                for uid, output in self._iterate({u: items[u] for u in uids}, progress=False):
                    writer[uid] = output
                    yield uid  # stored: its claim is released

        bar = _Progress(self._name(), len(items)) if progress and len(items) > 1 else None
        try:
            UidFolder(cd.folder).compute_keys_once(
                keys=list(items),
                present=present,
                compute=compute,
                wait=self.claims,
                what=self._name(),
                progress=None if bar is None else bar.update,
            )
        finally:
            if bar is not None:
                bar.close()


def _iter_outputs(cd: CacheDict[tp.Any], uids: list[str]) -> tp.Iterator[tp.Any]:
    for uid in uids:
        yield cd[uid]


def _progress_enabled() -> bool:
    """Progress bars: on a terminal, unless ``EXCA_PROGRESS`` is 0/false/no/off."""
    if os.environ.get("EXCA_PROGRESS", "").lower() in ("0", "false", "no", "off"):
        return False
    return sys.stderr.isatty()


class _Progress:
    """Progress bar of a map call: items done here or elsewhere, items in flight
    elsewhere (claimed by other processes) in its postfix."""

    def __init__(self, name: str, total: int) -> None:
        self._bar: tp.Any = None
        if _progress_enabled():
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=name)

    def update(self, done: int, in_flight: int) -> None:
        if self._bar is not None:
            self._bar.update(done)
            self._bar.set_postfix_str(f"{in_flight} in flight elsewhere", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
