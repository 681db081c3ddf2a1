"""Messages between actors inside wtd (never on the wire).

Commands are imperative, events past tense, replies nouns. A request that wants an
answer carries ``reply_to``, the send side of a one-slot memory stream owned by
the asker (on the request path, a lighter :class:`OneShot`); the actor answers
exactly once (or the stream is closed, which the asker sees as the actor having
failed). ``wtd.actors.serve`` keeps that promise when a handler raises and when an
actor stops with requests still queued.
"""

from __future__ import annotations

import asyncio
from typing import Any, Generic, TypeVar

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectSendStream, MemoryObjectStreamStatistics

from wtd import protocol
from wtd.enforcement.chain import EnforcementContext, EnforcementResult
from wtd.enforcement.consent import Operation, Revoked
from wtd.healing.analysis import Diagnosis, RemediationPlan, Symptom
from wtd.tracker import commands
from wtd.workspace import TrackerPaths

T = TypeVar("T")
_CLOSED: Any = object()  # what a OneShot closed without an answer holds
_EXPIRED: Any = object()  # ... and one whose asker stopped waiting


class OneShot(MemoryObjectSendStream[T], Generic[T]):
    """A ``reply_to`` for exactly one answer, lighter than a one-slot memory stream.

    The answer is handed over through an asyncio future: no stream state to build,
    and the asker's :meth:`wait` takes no scheduling checkpoint and needs no event,
    so it wakes after one trip through the loop. To the actor it is the send side
    of a one-slot stream like any other: ``send_nowait`` once (``WouldBlock`` after
    that, as a full slot), ``close`` (the asker sees ``EndOfStream`` when no answer
    came first), a context manager that closes; ``wtd.actors.fail`` closes it.
    An asker that gave up (cancelled, timed out) simply never reads the answer.
    """

    def __init__(self) -> None:  # not the dataclass's: there is no stream state
        self._closed = False
        self._waiters = None
        self._future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def send_nowait(self, item: T) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        if self._future.done():
            raise anyio.WouldBlock
        self._future.set_result(item)

    async def send(self, item: T) -> None:
        self.send_nowait(item)

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if not self._future.done():
                self._future.set_result(_CLOSED)

    async def aclose(self) -> None:
        self.close()

    def clone(self) -> MemoryObjectSendStream[T]:
        raise TypeError("a OneShot has one sender")

    def statistics(self) -> MemoryObjectStreamStatistics:
        done = self._future.done()
        return MemoryObjectStreamStatistics(
            current_buffer_used=int(done),
            max_buffer_size=1,
            open_send_streams=int(not self._closed),
            open_receive_streams=1,
            tasks_waiting_send=0,
            tasks_waiting_receive=0,
        )

    async def wait(self, timeout: float | None = None) -> T:
        """The answer; ``EndOfStream`` when it was closed without one, TimeoutError
        when none came within ``timeout`` seconds (a timer: cheaper than a cancel
        scope, and an answer that comes later is dropped)."""
        timer = None
        if timeout is not None:
            timer = self._future.get_loop().call_later(timeout, self._expire)
        try:
            value = await self._future
        finally:
            if timer is not None:
                timer.cancel()
        if value is _CLOSED:
            raise anyio.EndOfStream
        if value is _EXPIRED:
            raise TimeoutError
        result: T = value
        return result

    def _expire(self) -> None:
        if not self._future.done():
            self._future.set_result(_EXPIRED)

    def __repr__(self) -> str:
        return f"<OneShot {'closed' if self._closed else 'open'}>"

    def __del__(self) -> None:  # holds nothing that must be closed
        pass


class _Msg(msgspec.Struct, frozen=True, kw_only=True):
    pass


# -------------------------------------------------------- Server → Executor


class Execute(_Msg, frozen=True):
    """Run a client's command and answer with a wire Reply."""

    request: protocol.Command
    peer_uid: int
    reply_to: MemoryObjectSendStream[protocol.Reply]


# -------------------------------------------------------- Executor → Store


class Outcome(_Msg, frozen=True):
    """A Store's answer to Apply: either lines/result or an error."""

    ok: bool
    lines: list[str] = []
    healing: list[str] = []
    result: Any = None
    error: protocol.ErrorInfo | None = None
    tracker: str = ""
    progress: int | None = None
    symptom: Symptom | None = None  # set when a fault (not a user mistake) caused the failure


class Apply(_Msg, frozen=True):
    """Answer a query or apply a change to one tracker, through its journal."""

    rid: str
    command: commands.Command
    actor: str
    reply_to: MemoryObjectSendStream[Outcome]


class Repair(_Msg, frozen=True):
    """Rebuild the tracker's SSOT (newest valid backup + journal), quarantining the broken file."""

    symptom: Symptom
    reply_to: MemoryObjectSendStream[Outcome]


class Probe(_Msg, frozen=True):
    """Are you alive and serving your inbox? (the supervisor's watchdog; answered with
    the actor's name). Not the wire's ``protocol.Ping``."""

    reply_to: MemoryObjectSendStream[str]


class FileChanged(_Msg, frozen=True):
    """The Watcher saw ``path`` (the tracker's JSON or its view) change on disk."""

    path: str
    kind: str  # "json" or "markdown"


StoreMessage = Apply | Repair | FileChanged | Probe
ExecutorMessage = Execute | Probe


# -------------------------------------------------------- anyone → Monitor


class OperationFinished(_Msg, frozen=True):
    """An operation ended. User mistakes are sent with ``counted=False``."""

    ok: bool
    duration_ms: float
    counted: bool = True
    error_code: str | None = None


class CircuitChanged(_Msg, frozen=True):
    name: str
    is_open: bool


class HealthReport(_Msg, frozen=True):
    summary: str
    verbose: list[str]
    data: dict[str, Any]


class GetHealth(_Msg, frozen=True):
    reply_to: MemoryObjectSendStream[HealthReport]


class FaultObserved(_Msg, frozen=True):
    """A fault happened; the MAPE-K loop answers ``reply_to`` with a plan.

    Flow: Monitor → Analyzer (Diagnosis) → Planner (consults Knowledge) → reply_to.
    """

    symptom: Symptom
    attempt: int
    reply_to: MemoryObjectSendStream[RemediationPlan]


MonitorMessage = OperationFinished | CircuitChanged | GetHealth | FaultObserved | Probe


# -------------------------------------------------------- Monitor → Analyzer → Planner


class Analyze(_Msg, frozen=True):
    symptom: Symptom
    attempt: int
    reply_to: MemoryObjectSendStream[RemediationPlan]


AnalyzerMessage = Analyze | Probe


class PlanRemedy(_Msg, frozen=True):
    diagnosis: Diagnosis
    attempt: int
    reply_to: MemoryObjectSendStream[RemediationPlan]


PlannerMessage = PlanRemedy | Probe


# -------------------------------------------------------- → Knowledge


class Advice(_Msg, frozen=True):
    """How each strategy fared for a symptom: strategy → (attempts, successes)."""

    outcomes: dict[str, tuple[int, int]]


class Consult(_Msg, frozen=True):
    """Record this failure and say how recoveries of its pattern fared."""

    diagnosis: Diagnosis
    reply_to: MemoryObjectSendStream[Advice]


class RecoveryFinished(_Msg, frozen=True):
    diagnosis: Diagnosis
    strategy: str
    success: bool


class ShowKnowledge(_Msg, frozen=True):
    workspace: str
    reply_to: MemoryObjectSendStream[list[str]]


KnowledgeMessage = Consult | RecoveryFinished | ShowKnowledge | Probe


# -------------------------------------------------------- → Events


class Publish(_Msg, frozen=True):
    """Tell every subscriber (``seq`` and ``at`` are filled in by the Events actor)."""

    event: protocol.Event


class AddSubscriber(_Msg, frozen=True):
    workspace: str
    stream: MemoryObjectSendStream[protocol.Event]


EventsMessage = Publish | AddSubscriber | Probe


# -------------------------------------------------------- → Enforcer


class Check(_Msg, frozen=True):
    """Run the four-level chain for one request (``operation``: the guarded one, if any).

    When consent is required, the Enforcer keeps ``request`` under the new token so
    that the answer (``yes``/``approved``/``always``) can carry it out.
    """

    workspace: str
    operation: Operation | None
    context: EnforcementContext
    request: protocol.Command
    reply_to: MemoryObjectSendStream[EnforcementResult]


class Answered(_Msg, frozen=True):
    granted: bool
    message: str
    request: protocol.Command | None = None  # the request that waited for this answer
    token: str | None = None  # the approved token to carry it out with
    declined: bool = False  # "no": recorded, the waiting request is dropped


class AnswerConsent(_Msg, frozen=True):
    workspace: str
    answer: str
    token: str | None
    agent: str | None
    reply_to: MemoryObjectSendStream[Answered]


class ConsentReport(_Msg, frozen=True):
    """The approvals in force after ``ManageConsent``: ``(kind, how)`` pairs, and what
    a revoke withdrew."""

    approvals: list[tuple[str, str]]
    approved_initiatives: list[int] = []
    revoked: Revoked | None = None
    error: str | None = None  # the consent state could not be read or saved


class ManageConsent(_Msg, frozen=True):
    """``show consent`` (``revoke`` false) or ``revoke consent [for kind]``."""

    workspace: str
    revoke: bool
    kind: str | None
    agent: str | None
    reply_to: MemoryObjectSendStream[ConsentReport]


EnforcerMessage = Check | AnswerConsent | ManageConsent | Probe


# -------------------------------------------------------- → Watcher


class Watch(_Msg, frozen=True):
    """Start watching a tracker's two files; changes go to its Store."""

    paths: TrackerPaths
    store: MemoryObjectSendStream[StoreMessage]


class Unwatch(_Msg, frozen=True):
    paths: TrackerPaths


WatcherMessage = Watch | Unwatch | Probe
