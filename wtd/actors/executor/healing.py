"""The healing loop: a tracker command through its Store, with retries, circuit
breakers and repair through the MAPE-K actors.

When the Store reports a fault, the symptom goes to the Monitor, which passes it to
the Analyzer and the Planner (who consults Knowledge); the plan comes back here and
is carried out — RETRY with backoff and jitter, REPAIR through the Store, or
ESCALATE with what to do — and its outcome is recorded in Knowledge. Each tracker's
storage has a circuit breaker: while it is OPEN, writes are refused at once (exit 5)
and reads are still served from the Store's memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from wtd import errors, protocol
from wtd.actors import post
from wtd.actors.executor.outcomes import caller, failure, label, with_healing
from wtd.actors.executor.stores import Keys
from wtd.actors.store.base import OPEN_POINTS
from wtd.healing.analysis import RemediationPlan, Strategy, Symptom
from wtd.healing.circuit import CircuitBreaker, CircuitState
from wtd.healing.retry import RetryPolicy
from wtd.messages import (
    Apply,
    CircuitChanged,
    EventsMessage,
    FaultObserved,
    KnowledgeMessage,
    MonitorMessage,
    Outcome,
    Publish,
    RecoveryFinished,
    Repair,
    StoreMessage,
)
from wtd.tracker import commands
from wtd.workspace import TrackerPaths

# Faults that stop a Store before it could look up the request id in the journal.
_BEFORE_RID_CHECK = OPEN_POINTS


def circuit_open(breaker: CircuitBreaker) -> errors.WtdError:
    return errors.CircuitOpen(
        f"⚠ Circuit OPEN: Operations paused (retry in {breaker.retry_in()}s)",
        suggestions=[
            'wtctl "health" says what kept failing; once it is fixed, wtctl "reset circuit"'
        ],
    )


class StoreCalls(Protocol):
    """What the healing loop needs of the Store registry (``stores.Stores``)."""

    async def call(
        self,
        paths: TrackerPaths,
        make: Callable[[MemoryObjectSendStream[Outcome]], StoreMessage],
    ) -> Outcome: ...


class Breakers:
    """One circuit breaker per tracker's storage; they outlive a restart of the Executor."""

    def __init__(self, key: Keys, *, threshold: int, timeout: float) -> None:
        self._key = key
        self._threshold = threshold
        self._timeout = timeout
        self._breakers: dict[Path, CircuitBreaker] = {}

    def __call__(self, paths: TrackerPaths) -> CircuitBreaker:
        key = self._key(paths)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(
                f"storage:{paths.name}", self._threshold, self._timeout
            )
        return breaker

    def all(self) -> list[CircuitBreaker]:
        return list(self._breakers.values())

    def lines(self) -> list[str]:
        return [f"  Circuit {b.name}: {b.describe()}" for b in self._breakers.values()]

    def states(self) -> dict[str, str]:
        return {b.name: b.describe() for b in self._breakers.values()}


class Healer:
    """Runs commands on trackers' Stores and heals their faults (one per Executor run)."""

    def __init__(
        self,
        stores: StoreCalls,
        breakers: Breakers,
        *,
        policy: RetryPolicy,
        monitor: MemoryObjectSendStream[MonitorMessage],
        knowledge: MemoryObjectSendStream[KnowledgeMessage],
        events: MemoryObjectSendStream[EventsMessage],
    ) -> None:
        self.stores = stores
        self.breakers = breakers
        self._policy = policy
        self._monitor = monitor
        self._knowledge = knowledge
        self._events = events

    async def heal(
        self, paths: TrackerPaths, command: commands.Command, request: protocol.Command
    ) -> Outcome:
        """Run ``command`` on the tracker's Store; on a fault, run the MAPE-K loop."""
        breaker = self.breakers(paths)
        tracker = label(paths)
        is_write = isinstance(command, commands.CHANGE_TYPES)
        # a tracker deleted or brought back is news to followers (the board) too
        told = is_write or isinstance(command, commands.DeleteTracker | commands.RestoreTracker)
        if is_write and not breaker.allow():
            return failure(circuit_open(breaker), tracker)
        healing: list[str] = []
        attempt = 1
        repaired = False
        retrying: RemediationPlan | None = None  # the RETRY plan in progress, to learn from
        actor = caller(request.options)
        while True:
            outcome = await self.stores.call(
                paths,
                lambda reply_to: Apply(
                    rid=request.id, command=command, actor=actor, reply_to=reply_to
                ),
            )
            symptom = outcome.symptom
            if symptom is None:  # done, or a mistake of the user's: nothing to heal
                if is_write or attempt > 1:
                    await self._breaker_result(paths, breaker, ok=True)
                if attempt > 1:
                    healing.append(f"✓ Attempt {attempt}: Success")
                if retrying is not None:
                    await self._learned(retrying, success=True)
                outcome = with_healing(outcome, healing)
                if told and outcome.ok:
                    await self._publish("changed", paths, actor, outcome)
                return outcome
            await self._breaker_result(paths, breaker, ok=False)
            plan = await self._plan(symptom, attempt)
            if plan.strategy is Strategy.RETRY:
                if breaker.state is CircuitState.OPEN:
                    await self._learned(plan, success=False)
                    healing.append(f"✗ Attempt {attempt}: {_describe(symptom)}")
                    return with_healing(failure(circuit_open(breaker), tracker), healing)
                if attempt < plan.max_attempts:
                    retrying = plan
                    healing += [
                        f"✓ Attempt {attempt}: {_describe(symptom)}",
                        f"✓ Recovery: {plan.reason}",
                    ]
                    await anyio.sleep(self._policy.delay(attempt))
                    attempt += 1
                    continue
                await self._learned(plan, success=False)
                healing.append(f"✗ Attempt {attempt}: {_describe(symptom)}")
                message = f"Gave up after {attempt} attempts: {_message(outcome)}"
                failed = _given_up(message, symptom, is_write)
                return with_healing(failure(failed, tracker, symptom), healing)
            if plan.strategy is Strategy.REPAIR and not repaired:
                repair = await self.stores.call(paths, _repair_of(symptom))
                await self._learned(plan, success=repair.ok)
                healing += repair.healing
                if not repair.ok:
                    return with_healing(repair, healing)
                repaired = True
                attempt += 1
                continue
            # ESCALATE (or a repair that did not stick): tell the user what to do
            if plan.strategy is not Strategy.ESCALATE:
                await self._learned(plan, success=False)
            advice = f" — {plan.advice}" if plan.advice else ""
            healing += [f"✓ Issue: {_describe(symptom)}", f"✓ Recovery: Escalated ({plan.reason})"]
            message = f"{_message(outcome)}{advice}"
            failed = _given_up(message, symptom, is_write)
            return with_healing(failure(failed, tracker, symptom), healing)

    async def reset_circuits(self) -> Outcome:
        """``reset circuit``: close every breaker, telling the Monitor."""
        lines = []
        for breaker in self.breakers.all():
            was = breaker.describe()
            breaker.reset()
            await post(self._monitor, CircuitChanged(name=breaker.name, is_open=False))
            lines.append(f"  {breaker.name}: {was} → CLOSED")
        return Outcome(
            ok=True,
            lines=["Every circuit breaker is CLOSED.", *lines],
            result={"reset": [b.name for b in self.breakers.all()]},
        )

    async def announce(
        self, paths: TrackerPaths, request: protocol.Command, outcome: Outcome
    ) -> None:
        """Tell followers (the board, ``wtctl events``) of a tracker just made (an
        initiative created, a plan imported): no change of it was journalled yet."""
        await self._publish("changed", paths, caller(request.options), outcome)

    async def _publish(
        self, kind: str, paths: TrackerPaths, actor: str, outcome: Outcome | None = None
    ) -> None:
        lines = [*outcome.healing, *outcome.lines] if outcome is not None else []
        event = protocol.Event(
            seq=0,
            kind=kind,
            at="",
            tracker=label(paths),
            workspace=str(paths.workspace),
            actor=actor,
            lines=lines,
            progress=outcome.progress if outcome is not None else None,
        )
        await post(self._events, Publish(event=event))

    async def _plan(self, symptom: Symptom, attempt: int) -> RemediationPlan:
        """Monitor → Analyzer → Planner (→ Knowledge) → back here."""
        send, recv = anyio.create_memory_object_stream[RemediationPlan](1)
        await post(self._monitor, FaultObserved(symptom=symptom, attempt=attempt, reply_to=send))
        with recv:
            return await recv.receive()

    async def _learned(self, plan: RemediationPlan, *, success: bool) -> None:
        await post(
            self._knowledge,
            RecoveryFinished(
                diagnosis=plan.diagnosis, strategy=plan.strategy.value, success=success
            ),
        )

    async def _breaker_result(
        self, paths: TrackerPaths, breaker: CircuitBreaker, *, ok: bool
    ) -> None:
        was_open = breaker.state is not CircuitState.CLOSED
        if ok:
            breaker.record_success()
        else:
            breaker.record_failure()
        is_open = breaker.state is not CircuitState.CLOSED
        if was_open != is_open:
            await post(self._monitor, CircuitChanged(name=breaker.name, is_open=is_open))
            state = f"⚠ Circuit {breaker.describe()}" if is_open else "Circuit CLOSED"
            await post(
                self._events,
                Publish(
                    event=protocol.Event(
                        seq=0,
                        kind="circuit",
                        at="",
                        tracker=label(paths),
                        workspace=str(paths.workspace),
                        lines=[f"{state}: {breaker.name}"],
                    )
                ),
            )


def _given_up(message: str, symptom: Symptom, is_write: bool) -> errors.WtdError:
    """The error for a request self-healing gave up on. A change whose tracker could
    not even be opened may be a retry of one applied before (its journal unread): its
    outcome is unknown (exit 5, retry later), never a definite "failed"."""
    if is_write and symptom.point in _BEFORE_RID_CHECK:
        return errors.OutcomeUnknown(
            f"{message} (if this request was sent before, whether that try was applied is "
            "not known until the tracker can be opened)"
        )
    return errors.WtdError(message)


def _repair_of(symptom: Symptom) -> Callable[[MemoryObjectSendStream[Outcome]], StoreMessage]:
    def make(reply_to: MemoryObjectSendStream[Outcome]) -> StoreMessage:
        return Repair(symptom=symptom, reply_to=reply_to)

    return make


def _describe(symptom: Symptom) -> str:
    return f"{symptom.message or symptom.error} ({symptom.point})"


def _message(outcome: Outcome) -> str:
    return outcome.error.message if outcome.error else "the operation failed"
