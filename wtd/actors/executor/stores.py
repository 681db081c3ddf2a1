"""The Store registry: one supervised Store per tracker, started on first use.

A Store is keyed by its tracker's identity (the JSON's real path), registered
before the first await so that concurrent first requests share one Store, and
supervised alone: one in a crash loop is given up (its queued requests failed, the
next request starting it afresh), so one hostile tracker never stops the daemon that
serves every other workspace.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import partial
from pathlib import Path

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import errors
from wtd.actors import ActorCrashLoop, RestartIntensity, fail_queued, post, supervise
from wtd.actors.executor.settings import Settings
from wtd.actors.store import Store
from wtd.messages import (
    EventsMessage,
    OneShot,
    Outcome,
    Probe,
    StoreMessage,
    Unwatch,
    Watch,
    WatcherMessage,
)
from wtd.storage.failpoints import Failpoints
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.executor")

STORE_ASKS = 4  # tries of one request on a Store that keeps failing


class _OnTheWay:
    """One change counted as coming to its tracker's Store, until it is posted there
    (or ends without reaching it)."""

    __slots__ = ("counts", "key")

    def __init__(self, counts: dict[Path, int], key: Path) -> None:
        self.counts: dict[Path, int] | None = counts
        self.key = key
        counts[key] = counts.get(key, 0) + 1

    def arrived(self) -> None:
        counts = self.counts
        if counts is None:
            return
        self.counts = None
        left = counts[self.key] - 1
        if left:
            counts[self.key] = left
        else:
            del counts[self.key]


# the change the current request carries to a Store (each request runs in its own task)
_on_the_way: ContextVar[_OnTheWay | None] = ContextVar("wtd_on_the_way", default=None)


class Keys:
    """A tracker's identity: its JSON's real path (symlinks resolved), remembered."""

    def __init__(self) -> None:
        self._keys: dict[Path, Path] = {}

    def __call__(self, paths: TrackerPaths) -> Path:
        key = self._keys.get(paths.json)
        if key is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            key = self._keys[paths.json] = paths.json.resolve()
        return key


class Stores:
    """The Stores of one run of the Executor, started in its task group."""

    def __init__(
        self,
        tg: TaskGroup,
        *,
        key: Keys,
        settings: Settings,
        failpoints: Failpoints,
        events: MemoryObjectSendStream[EventsMessage],
        watcher: MemoryObjectSendStream[WatcherMessage],
        intensity: RestartIntensity,
        owned: Callable[[Path], bool] | None = None,
    ) -> None:
        self._tg = tg
        self._owned = owned  # is the workspace's .ecw still the one this daemon locked?
        self.key = key
        self._settings = settings
        self._fp = failpoints
        self._events = events
        self._watcher = watcher
        self._intensity = intensity
        self._stores: dict[Path, MemoryObjectSendStream[StoreMessage]] = {}
        self._coming: dict[Path, int] = {}  # changes on their way to each Store

    def coming(self, paths: TrackerPaths) -> int:
        """How many changes are on their way to the Store of ``paths``."""
        return self._coming.get(self.key(paths), 0)

    @contextlib.contextmanager
    def on_the_way(self, paths: TrackerPaths) -> Iterator[None]:
        """Count the current request's change as coming to the Store of ``paths`` until
        it is posted there (``call``) or the block ends, so that the Store's batch can
        wait for it (group commit)."""
        ticket = _OnTheWay(self._coming, self.key(paths))
        token = _on_the_way.set(ticket)
        try:
            yield
        finally:
            ticket.arrived()
            _on_the_way.reset(token)

    async def call(
        self,
        paths: TrackerPaths,
        make: Callable[[MemoryObjectSendStream[Outcome]], StoreMessage],
    ) -> Outcome:
        """Ask the tracker's Store and wait for its answer.

        A Store that crashes mid-request is restarted with its inbox; asking again is
        safe because a change's request id is applied at most once. One given up (a
        crash loop) is replaced by a fresh one. Raises OutcomeUnknown after
        ``STORE_ASKS`` tries."""
        ticket = _on_the_way.get()
        for _attempt in range(STORE_ASKS):
            store = await self._store(paths)
            reply = OneShot[Outcome]()
            if ticket is not None:  # posted below, with no wait before: no longer coming
                ticket.arrived()
            try:
                await post(store, make(reply))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                continue
            try:
                return await reply.wait()
            except anyio.EndOfStream:
                log.warning("store %s dropped a request; asking again", paths.name)
        # The change may have been journalled before the Store failed: not a failure,
        # an unknown outcome, which a retry with the same request id settles.
        raise errors.OutcomeUnknown(
            f"the store of {paths.name} keeps failing on this request, so whether it was "
            "applied is not known; retry it (the same request id is applied at most once) "
            "and see the wtd log"
        )

    async def forget(self, paths: TrackerPaths) -> None:
        """The tracker was deleted: stop watching it and let its Store end."""
        stream = self._stores.pop(self.key(paths), None)
        await post(self._watcher, Unwatch(paths=paths))
        if stream is not None:
            stream.close()  # the old Store drains its inbox and ends

    async def probe_all(self) -> None:
        """Probe every Store and wait for each answer (one crashed is being restarted;
        its supervisor decides)."""
        for store in list(self._stores.values()):
            send, recv = anyio.create_memory_object_stream[str](1)
            try:
                await post(store, Probe(reply_to=send))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue  # a deleted tracker's Store, ending
            with recv, contextlib.suppress(anyio.EndOfStream):
                await recv.receive()

    async def _store(self, paths: TrackerPaths) -> MemoryObjectSendStream[StoreMessage]:
        key = self.key(paths)
        stream = self._stores.get(key)
        if stream is None:
            # Registered before the first await: concurrent first requests share one Store.
            send, recv = anyio.create_memory_object_stream[StoreMessage](1024)
            self._stores[key] = stream = send
            settings = self._settings
            store = Store(
                paths,
                recv,
                failpoints=self._fp,
                backups_keep=settings.backups_keep,
                backup_every=settings.backup_every,
                journal_max_bytes=settings.journal_max_bytes,
                events=self._events,
                max_bytes=settings.max_file_bytes,
                max_depth=settings.max_depth,
                coming=lambda: self._coming.get(key, 0),
                owned=None if self._owned is None else partial(self._owned, paths.workspace),
            )
            self._tg.start_soon(self._run_store, store, key, send, recv)
            await post(self._watcher, Watch(paths=paths, store=send))
        return stream

    async def _run_store(
        self,
        store: Store,
        key: Path,
        send: MemoryObjectSendStream[StoreMessage],
        recv: MemoryObjectReceiveStream[StoreMessage],
    ) -> None:
        """Supervise one tracker's Store; a crash loop gives up this Store alone."""
        shared = self._intensity
        intensity = RestartIntensity(shared.max_restarts, shared.period)
        try:
            await supervise(store.run, f"store:{store.paths.name}", intensity)
        except ActorCrashLoop as exc:
            log.critical("%s; given up until its next request", exc)
            if self._stores.get(key) is send:
                del self._stores[key]
            send.close()
            fail_queued(recv)
