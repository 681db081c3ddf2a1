"""The Executor's healing loop, driven with a fake Store registry and a fake MAPE-K
chain (no files, no daemon)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import protocol, workspace
from wtd.actors.executor.healing import Breakers, Healer
from wtd.actors.executor.stores import Keys
from wtd.healing.analysis import Category, Diagnosis, RemediationPlan, Strategy, Symptom
from wtd.healing.retry import RetryPolicy
from wtd.messages import (
    Apply,
    CircuitChanged,
    FaultObserved,
    MonitorMessage,
    Outcome,
    Publish,
    RecoveryFinished,
    Repair,
    StoreMessage,
)
from wtd.tracker import commands
from wtd.workspace import TrackerPaths

TIMEOUT = 5.0
BUSY = Symptom(point="store.write", error="EAGAIN", message="busy")
NO_WAIT = RetryPolicy(initial_delay=0.0, max_delay=0.0, jitter=False)


class FakeStores:
    """Answers each call with the next outcome of a script; records what it was asked."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.script = list(outcomes)
        self.asked: list[StoreMessage] = []

    async def call(
        self,
        paths: TrackerPaths,
        make: Callable[[MemoryObjectSendStream[Outcome]], StoreMessage],
    ) -> Outcome:
        send, recv = anyio.create_memory_object_stream[Outcome](1)
        with send, recv:
            self.asked.append(make(send))
        return self.script.pop(0)


def faulty() -> Outcome:
    return Outcome(ok=False, symptom=BUSY)


def done() -> Outcome:
    return Outcome(ok=True, lines=["done"], progress=50)


async def plan_every_fault(
    inbox: MemoryObjectReceiveStream[MonitorMessage], strategy: Strategy, seen: list[Any]
) -> None:
    """Stand in for Monitor → Analyzer → Planner: answer each fault with ``strategy``."""
    async for msg in inbox:
        seen.append(msg)
        if isinstance(msg, FaultObserved):
            diagnosis = Diagnosis(
                symptom=msg.symptom, category=Category.TRANSIENT, explanation="busy"
            )
            plan = RemediationPlan(
                diagnosis=diagnosis,
                strategy=strategy,
                reason=f"{strategy.value} planned",
                max_attempts=3,
            )
            with msg.reply_to:
                await msg.reply_to.send(plan)


async def heal(
    stores: FakeStores,
    command: commands.Command,
    *,
    strategy: Strategy = Strategy.RETRY,
    breakers: Breakers | None = None,
) -> tuple[Outcome, list[Any], list[Any], list[Any]]:
    """Heal one command; the outcome and what the Monitor, Knowledge and Events got."""
    mon_send, mon_recv = anyio.create_memory_object_stream[MonitorMessage](16)
    know_send, know_recv = anyio.create_memory_object_stream[Any](16)
    ev_send, ev_recv = anyio.create_memory_object_stream[Any](16)
    paths = workspace.for_workspace(Path("/nonexistent/ws"), "plan")
    healer = Healer(
        stores,
        breakers or Breakers(Keys(), threshold=5, timeout=60.0),
        policy=NO_WAIT,
        monitor=mon_send,
        knowledge=know_send,
        events=ev_send,
    )
    monitor_saw: list[Any] = []
    request = protocol.Command(id="r1", phrase="mark task 1.1 complete", cwd="/nonexistent/ws")
    async with anyio.create_task_group() as tg:
        tg.start_soon(plan_every_fault, mon_recv, strategy, monitor_saw)
        with anyio.fail_after(TIMEOUT):
            outcome = await healer.heal(paths, command, request)
        tg.cancel_scope.cancel()
    knowledge = [
        know_recv.receive_nowait() for _ in range(know_recv.statistics().current_buffer_used)
    ]
    events = [ev_recv.receive_nowait() for _ in range(ev_recv.statistics().current_buffer_used)]
    return outcome, monitor_saw, knowledge, events


WRITE = commands.SetTaskStatus(task_id="1.1", status="completed", given="complete")


@pytest.mark.anyio
async def test_a_transient_fault_is_retried_and_the_retry_is_learned_from() -> None:
    stores = FakeStores(faulty(), done())
    outcome, _, knowledge, events = await heal(stores, WRITE)
    assert outcome.ok
    assert outcome.healing == [
        "✓ Attempt 1: busy (store.write)",
        "✓ Recovery: RETRY planned",
        "✓ Attempt 2: Success",
    ]
    assert [type(m) for m in stores.asked] == [Apply, Apply]
    assert [(k.strategy, k.success) for k in knowledge] == [("RETRY", True)]
    assert [e.event.kind for e in events if isinstance(e, Publish)] == ["changed"]


@pytest.mark.anyio
async def test_retries_stop_at_the_plans_attempts_with_what_went_wrong() -> None:
    stores = FakeStores(faulty(), faulty(), faulty())
    outcome, _, knowledge, _ = await heal(stores, WRITE)
    assert not outcome.ok
    assert outcome.error is not None
    assert outcome.error.message.startswith("Gave up after 3 attempts")
    assert outcome.healing[-1] == "✗ Attempt 3: busy (store.write)"
    assert [(k.strategy, k.success) for k in knowledge] == [("RETRY", False)]


@pytest.mark.anyio
async def test_a_repair_goes_through_the_store_then_the_command_runs_again() -> None:
    repaired = Outcome(ok=True, healing=["✓ Repaired from backup"])
    stores = FakeStores(faulty(), repaired, done())
    outcome, _, knowledge, _ = await heal(stores, WRITE, strategy=Strategy.REPAIR)
    assert outcome.ok
    assert [type(m) for m in stores.asked] == [Apply, Repair, Apply]
    assert "✓ Repaired from backup" in outcome.healing
    assert all(isinstance(k, RecoveryFinished) and k.success for k in knowledge)


@pytest.mark.anyio
async def test_an_open_circuit_refuses_writes_at_once_and_still_serves_reads() -> None:
    breakers = Breakers(Keys(), threshold=1, timeout=60.0)
    _, monitor_saw, _, _ = await heal(
        FakeStores(faulty()), WRITE, strategy=Strategy.ESCALATE, breakers=breakers
    )
    assert CircuitChanged(name="storage:plan", is_open=True) in monitor_saw
    stores = FakeStores()
    refused, _, _, _ = await heal(stores, WRITE, breakers=breakers)
    assert refused.error is not None and refused.error.code == "circuit_open"
    assert stores.asked == []  # not even asked
    read, _, _, _ = await heal(FakeStores(done()), commands.ShowProgress(), breakers=breakers)
    assert read.ok
