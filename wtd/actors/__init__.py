"""The daemon's actors: one module each, class named after the file, and their core.

An actor is a class with a ``name`` and ``run(*, task_status)``. Its lifecycle:

- ``run`` is called once at start and again after every crash (by :func:`supervise`);
  it resets the state that must not outlive a crash, reports ``task_status.started()``
  when ready, and hands its inbox to :func:`serve`.
- :func:`serve` hands each message to the actor's handler, one at a time. The handler
  ``match``es on the message type — pings included, answered with the actor's name —
  and ends in ``case _: assert_never(msg)``, so a message nobody handles is a type
  error.
- No asker ever waits forever: a request is answered exactly once, or its ``reply_to``
  is closed, which the asker sees as ``EndOfStream`` (see :func:`serve`).
- A crash is restarted by :func:`supervise` within a :class:`RestartIntensity`; the
  inbox outlives the restart, so what was queued is served by the next run.

The core lives here rather than in ``wtd.supervisor`` (which re-exports it) because
actors that supervise actors of their own (the Executor its Stores) import it, and the
supervisor imports them.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

T = TypeVar("T")
M = TypeVar("M")

log = logging.getLogger("wtd.supervisor")


async def answer(reply_to: MemoryObjectSendStream[T], value: T) -> None:
    """Send the one answer a request expects, then close; an asker that gave up is fine.

    Reply streams hold one item, so the answer never waits: it is handed over without
    a scheduling checkpoint (one fewer trip through the event loop per hop).
    """
    try:
        with reply_to:
            reply_to.send_nowait(value)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.WouldBlock):
        pass


async def post(inbox: MemoryObjectSendStream[T], message: T) -> None:
    """Put ``message`` in an actor's inbox: at once when there is room (the usual case),
    else wait for room. Unlike ``send``, no scheduling checkpoint comes first: a
    request crosses several actors, and each checkpoint is a trip through the loop."""
    try:
        inbox.send_nowait(message)
    except anyio.WouldBlock:
        await inbox.send(message)


# ------------------------------------------------------------ serving an inbox


async def serve(
    inbox: MemoryObjectReceiveStream[M],
    handle: Callable[[M], Awaitable[None]],
    *,
    name: str,
) -> None:
    """Await ``handle(msg)`` for each message of ``inbox``, in order, until it ends.

    - ``handle`` raises: the ``reply_to`` of the message in hand is closed (its asker
      sees ``EndOfStream``) and the error propagates, for the supervisor to restart
      the actor. Queued messages stay in the inbox for the restarted actor.
    - Cancelled (the daemon, or whatever owns the actor, is stopping): the message in
      hand and every message still queued have their ``reply_to`` closed.
    - The inbox ends (every send side closed, nothing queued): returns.

    A ``reply_to`` already answered is closed already; closing it again does nothing.
    """
    try:
        async for msg in inbox:
            try:
                await handle(msg)
            except BaseException:
                fail(msg)
                raise
    except BaseException as exc:
        # A crash (an Exception) leaves the queue to the next run; anything else —
        # cancellation, KeyboardInterrupt — means no next run will come.
        if not isinstance(exc, Exception):
            failed = fail_queued(inbox)
            if failed:
                log.info("actor %s stopped: %d queued request(s) failed", name, failed)
        raise


def fail(msg: object) -> bool:
    """Close ``msg.reply_to``, if it has one: its asker sees the actor as having failed."""
    reply_to = getattr(msg, "reply_to", None)
    if isinstance(reply_to, MemoryObjectSendStream):
        reply_to.close()
        return True
    return False


def fail_queued(inbox: MemoryObjectReceiveStream[object]) -> int:
    """Take every message still queued in ``inbox`` and :func:`fail` it (no checkpoint,
    so it works while cancelled); how many had an asker."""
    failed = 0
    while True:
        try:
            msg = inbox.receive_nowait()
        except (anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
            return failed
        failed += fail(msg)


# ------------------------------------------------------------ supervision


class ActorCrashLoop(RuntimeError):
    """An actor crashed more often than the restart intensity allows."""


class RestartIntensity:
    """OTP's restart intensity: more than ``max_restarts`` crashes within ``period``
    seconds is a crash loop. One instance counts every actor that shares it."""

    def __init__(
        self, max_restarts: int, period: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_restarts = max_restarts
        self.period = period
        self._clock = clock
        self._crashes: deque[float] = deque()

    def record_crash(self, name: str) -> int:
        """Count a crash of actor ``name``; return the crashes within the period.

        Raises ActorCrashLoop when they are more than ``max_restarts``.
        """
        now = self._clock()
        self._crashes.append(now)
        while now - self._crashes[0] > self.period:
            self._crashes.popleft()
        count = len(self._crashes)
        if count > self.max_restarts:
            raise ActorCrashLoop(
                f"actor {name} crashed: {count} crashes in {self.period:g}s,"
                f" more than the {self.max_restarts} allowed"
            )
        return count


class Runnable(Protocol):
    """An actor's ``run``: serves until it returns (stopped) or raises (crashed)."""

    def __call__(self, *, task_status: TaskStatus[None] = ...) -> Awaitable[None]: ...


async def supervise(
    run: Runnable,
    name: str,
    intensity: RestartIntensity,
    *,
    task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``run`` until it returns, restarting it each time it crashes.

    Start it with ``await tg.start(supervise, actor.run, actor.name, intensity)`` (or
    ``tg.start_soon``): it reports started when the actor first does, even if that
    takes a restart. Each crash is logged and counted in ``intensity``; a crash loop
    raises ActorCrashLoop. An ActorCrashLoop from below (alone or in an exception
    group: an actor that supervises others) is not counted as a crash: it propagates,
    so a crash loop anywhere stops the daemon.
    """
    status = _StartedOnce(task_status)
    while True:
        try:
            await run(task_status=status)
        except Exception as exc:
            if _is_crash_loop(exc):
                raise
            log.exception("actor %s crashed", name)
            count = intensity.record_crash(name)
            log.warning("restarting actor %s (crash %d in %gs)", name, count, intensity.period)
        else:
            log.info("actor %s stopped", name)
            return


def _is_crash_loop(exc: BaseException) -> bool:
    if isinstance(exc, BaseExceptionGroup):
        return exc.subgroup(ActorCrashLoop) is not None
    return isinstance(exc, ActorCrashLoop)


class _StartedOnce:
    """Passes the first ``started()`` on and ignores the rest (those of restarts)."""

    def __init__(self, inner: TaskStatus[None]) -> None:
        self._inner = inner
        self._done = False

    def started(self, value: None = None) -> None:
        if not self._done:
            self._done = True
            self._inner.started()
