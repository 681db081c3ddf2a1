"""The actor core (``wtd.actors``): no asker ever waits forever, crashes are restarted
within a restart intensity, and every actor answers pings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, assert_never

import anyio
import msgspec
import pytest
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd.actors import ActorCrashLoop, RestartIntensity, answer, fail, serve, supervise
from wtd.actors.analyzer import Analyzer
from wtd.actors.enforcer import Enforcer
from wtd.actors.events import Events
from wtd.actors.knowledge import Knowledge
from wtd.actors.monitor import Monitor
from wtd.actors.planner import Planner
from wtd.actors.watcher import Watcher
from wtd.healing.analysis import Category, Diagnosis, RemediationPlan, Symptom
from wtd.healing.retry import RetryPolicy
from wtd.messages import Consult, KnowledgeMessage, OneShot, PlannerMessage, PlanRemedy, Probe
from wtd.supervisor import Actor

TIMEOUT = 5


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# ------------------------------------------------------------ a toy actor


class Echo(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    reply_to: MemoryObjectSendStream[str]


class Boom(msgspec.Struct, frozen=True, kw_only=True):
    reply_to: MemoryObjectSendStream[str]


class AnswerThenBoom(msgspec.Struct, frozen=True, kw_only=True):
    reply_to: MemoryObjectSendStream[str]


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    """Handled only once ``released`` is set: keeps the actor busy."""

    reply_to: MemoryObjectSendStream[str]


class Note(msgspec.Struct, frozen=True, kw_only=True):
    """No answer expected."""

    text: str


ToyMessage = Echo | Boom | AnswerThenBoom | Hold | Note | Probe


class Toy:
    name = "toy"

    def __init__(self, inbox: MemoryObjectReceiveStream[ToyMessage]) -> None:
        self._inbox = inbox
        self.runs = 0
        self.notes: list[str] = []
        self.released = anyio.Event()

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self.runs += 1
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: ToyMessage) -> None:
        match msg:
            case Echo(text=text, reply_to=reply_to):
                await answer(reply_to, f"{text} (run {self.runs})")
            case Boom():
                raise RuntimeError("boom")
            case AnswerThenBoom(reply_to=reply_to):
                await answer(reply_to, "answered")
                raise RuntimeError("boom after answering")
            case Hold(reply_to=reply_to):
                await self.released.wait()
                await answer(reply_to, "held")
            case Note(text=text):
                self.notes.append(text)
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)


def mailbox() -> tuple[MemoryObjectSendStream[str], MemoryObjectReceiveStream[str]]:
    return anyio.create_memory_object_stream[str](1)


async def reply(recv: MemoryObjectReceiveStream[str]) -> str:
    with anyio.fail_after(TIMEOUT), recv:
        return await recv.receive()


async def fails(recv: MemoryObjectReceiveStream[str]) -> bool:
    try:
        await reply(recv)
    except anyio.EndOfStream:
        return True
    return False


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------ serve


@pytest.mark.anyio
async def test_the_asker_of_a_message_whose_handler_raises_sees_end_of_stream() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    boom_to, boom_from = mailbox()
    send.send_nowait(Boom(reply_to=boom_to))
    with anyio.fail_after(TIMEOUT), pytest.raises(RuntimeError, match="boom"):
        await toy.run()
    assert await fails(boom_from)


@pytest.mark.anyio
async def test_messages_queued_behind_a_crash_are_served_by_the_restarted_actor() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    boom_to, boom_from = mailbox()
    echo_to, echo_from = mailbox()
    ping_to, ping_from = mailbox()
    send.send_nowait(Boom(reply_to=boom_to))
    send.send_nowait(Echo(text="after", reply_to=echo_to))
    send.send_nowait(Probe(reply_to=ping_to))
    async with anyio.create_task_group() as tg:
        await tg.start(supervise, toy.run, toy.name, RestartIntensity(5, 10.0))
        assert await fails(boom_from)
        assert await reply(echo_from) == "after (run 2)"
        assert await reply(ping_from) == "toy"
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_an_answer_given_before_the_handler_raised_still_arrives() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    reply_to, reply_from = mailbox()
    send.send_nowait(AnswerThenBoom(reply_to=reply_to))
    with anyio.fail_after(TIMEOUT), pytest.raises(RuntimeError):
        await toy.run()
    assert await reply(reply_from) == "answered"


@pytest.mark.anyio
async def test_stopping_fails_the_message_in_hand_and_every_queued_one() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    hold_to, hold_from = mailbox()
    asked = [mailbox() for _ in range(3)]
    async with anyio.create_task_group() as tg:
        await tg.start(toy.run)
        send.send_nowait(Hold(reply_to=hold_to))
        with anyio.fail_after(TIMEOUT):
            await anyio.wait_all_tasks_blocked()  # the actor holds the first message
        send.send_nowait(Note(text="never read"))
        for i, (to, _) in enumerate(asked):
            send.send_nowait(Echo(text=f"queued {i}", reply_to=to))
        tg.cancel_scope.cancel()
    assert await fails(hold_from)
    for _, reply_from in asked:
        assert await fails(reply_from)
    assert toy.notes == []


@pytest.mark.anyio
async def test_the_actor_returns_when_its_inbox_ends() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    with send:
        send.send_nowait(Note(text="last words"))
    with anyio.fail_after(TIMEOUT):
        await toy.run()
    assert toy.notes == ["last words"]


# ------------------------------------------------------------ restart intensity


def test_more_crashes_than_allowed_within_the_period_is_a_crash_loop() -> None:
    clock = Clock()
    intensity = RestartIntensity(3, 10.0, clock=clock)
    for n in (1, 2, 3):
        assert intensity.record_crash("toy") == n
        clock.now += 1
    with pytest.raises(ActorCrashLoop, match="actor toy crashed: 4 crashes in 10s"):
        intensity.record_crash("toy")


def test_as_many_crashes_spread_over_more_than_the_period_are_not() -> None:
    clock = Clock()
    intensity = RestartIntensity(3, 10.0, clock=clock)
    for _ in range(20):
        assert intensity.record_crash("toy") <= 3
        clock.now += 4


def test_one_intensity_counts_every_actor_that_shares_it() -> None:
    intensity = RestartIntensity(2, 10.0, clock=Clock())
    intensity.record_crash("store:a")
    intensity.record_crash("store:b")
    with pytest.raises(ActorCrashLoop, match="store:c"):
        intensity.record_crash("store:c")


# ------------------------------------------------------------ supervise


@pytest.mark.anyio
async def test_supervise_raises_a_crash_loop_once_the_intensity_is_exceeded() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    askers = [mailbox() for _ in range(3)]
    for to, _ in askers:
        send.send_nowait(Boom(reply_to=to))
    with anyio.fail_after(TIMEOUT), pytest.raises(ActorCrashLoop):
        await supervise(toy.run, toy.name, RestartIntensity(2, 60.0, clock=Clock()))
    assert toy.runs == 3
    for _, reply_from in askers:
        assert await fails(reply_from)


@pytest.mark.anyio
async def test_a_crash_loop_below_propagates_without_counting_as_a_crash() -> None:
    runs = 0

    async def parent(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        task_status.started()
        async with anyio.create_task_group() as tg:
            tg.start_soon(_crash_loop)

    with anyio.fail_after(TIMEOUT), pytest.raises(BaseExceptionGroup) as caught:
        await supervise(parent, "parent", RestartIntensity(5, 60.0, clock=Clock()))
    assert caught.value.subgroup(ActorCrashLoop) is not None
    assert runs == 1


async def _crash_loop() -> None:
    raise ActorCrashLoop("store:x crashed")


@pytest.mark.anyio
async def test_an_actor_that_crashes_before_it_is_ready_reports_ready_after_a_restart() -> None:
    runs = 0

    async def flaky(*, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("not ready yet")
        task_status.started()
        await anyio.sleep_forever()

    async with anyio.create_task_group() as tg:
        with anyio.fail_after(TIMEOUT):
            await tg.start(supervise, flaky, "flaky", RestartIntensity(5, 60.0))
        assert runs == 2
        tg.cancel_scope.cancel()


# ------------------------------------------------------------ the daemon's actors


def _nowhere() -> MemoryObjectSendStream[Any]:
    """The inbox of a neighbour a ping never reaches."""
    return anyio.create_memory_object_stream[Any](1)[0]


ACTORS: dict[str, Callable[[MemoryObjectReceiveStream[Probe]], Actor]] = {
    "monitor": lambda inbox: Monitor(inbox, analyzer=_nowhere()),
    "analyzer": lambda inbox: Analyzer(inbox, planner=_nowhere()),
    "planner": lambda inbox: Planner(inbox, knowledge=_nowhere(), policy=RetryPolicy()),
    "knowledge": Knowledge,
    "enforcer": Enforcer,
    "events": Events,
    "watcher": Watcher,
}


@pytest.mark.anyio
@pytest.mark.parametrize("name", sorted(ACTORS))
async def test_every_actor_answers_a_ping_with_its_name(name: str) -> None:
    send, recv = anyio.create_memory_object_stream[Probe](1)
    actor = ACTORS[name](recv)
    ping_to, ping_from = mailbox()
    async with anyio.create_task_group() as tg:
        await tg.start(actor.run)
        await send.send(Probe(reply_to=ping_to))
        assert await reply(ping_from) == name
        tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_the_planner_still_plans_when_knowledge_fails_to_advise() -> None:
    know_send, know_recv = anyio.create_memory_object_stream[KnowledgeMessage](1)
    send, recv = anyio.create_memory_object_stream[PlannerMessage](1)
    planner = Planner(recv, knowledge=know_send, policy=RetryPolicy())
    symptom = Symptom(point="store.write", error="EAGAIN")
    diagnosis = Diagnosis(symptom=symptom, category=Category.TRANSIENT, explanation="busy")
    plan_to, plan_from = anyio.create_memory_object_stream[RemediationPlan](1)
    async with anyio.create_task_group() as tg:
        await tg.start(planner.run)
        await send.send(PlanRemedy(diagnosis=diagnosis, attempt=1, reply_to=plan_to))
        with anyio.fail_after(TIMEOUT):
            consult = await know_recv.receive()
        assert isinstance(consult, Consult)
        consult.reply_to.close()  # Knowledge crashed on it
        with anyio.fail_after(TIMEOUT), plan_from:
            plan = await plan_from.receive()
        assert plan.diagnosis == diagnosis
        tg.cancel_scope.cancel()


# ------------------------------------------------------------ OneShot replies


class Ask(msgspec.Struct, frozen=True, kw_only=True):
    reply_to: MemoryObjectSendStream[str]


@pytest.mark.anyio
async def test_a_oneshot_is_answered_once_and_a_second_answer_is_dropped() -> None:
    reply_to = OneShot[str]()
    await answer(reply_to, "first")
    await answer(reply_to, "second")  # closed by the first answer: nothing happens
    with anyio.fail_after(TIMEOUT):
        assert await reply_to.wait() == "first"


@pytest.mark.anyio
async def test_a_oneshot_whose_handler_raises_is_seen_as_end_of_stream() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    boom_to = OneShot[str]()
    send.send_nowait(Boom(reply_to=boom_to))
    with anyio.fail_after(TIMEOUT), pytest.raises(RuntimeError, match="boom"):
        await toy.run()
    with anyio.fail_after(TIMEOUT), pytest.raises(anyio.EndOfStream):
        await boom_to.wait()


@pytest.mark.anyio
async def test_stopping_fails_queued_oneshots_and_an_answer_before_a_crash_arrives() -> None:
    send, recv = anyio.create_memory_object_stream[ToyMessage](10)
    toy = Toy(recv)
    answered = OneShot[str]()
    send.send_nowait(AnswerThenBoom(reply_to=answered))
    with anyio.fail_after(TIMEOUT), pytest.raises(RuntimeError):
        await toy.run()
    assert await answered.wait() == "answered"
    hold_to = OneShot[str]()
    queued = [OneShot[str]() for _ in range(3)]
    async with anyio.create_task_group() as tg:
        await tg.start(toy.run)
        send.send_nowait(Hold(reply_to=hold_to))
        with anyio.fail_after(TIMEOUT):
            await anyio.wait_all_tasks_blocked()
        for i, to in enumerate(queued):
            send.send_nowait(Echo(text=f"queued {i}", reply_to=to))
        tg.cancel_scope.cancel()
    for to in [hold_to, *queued]:
        with anyio.fail_after(TIMEOUT), pytest.raises(anyio.EndOfStream):
            await to.wait()


@pytest.mark.anyio
async def test_a_oneshot_not_answered_in_time_times_out_and_a_late_answer_is_dropped() -> None:
    reply_to = OneShot[str]()
    with pytest.raises(TimeoutError):
        await reply_to.wait(0.01)
    await answer(reply_to, "late")  # the asker gave up: the answer goes nowhere
    assert reply_to.statistics().current_buffer_used == 1


@pytest.mark.anyio
async def test_an_asker_cancelled_while_waiting_leaves_the_answer_nowhere() -> None:
    reply_to = OneShot[str]()
    with anyio.move_on_after(0.01):
        await reply_to.wait()
    await answer(reply_to, "after the asker left")  # no error, no warning
    assert fail(Ask(reply_to=reply_to))  # a OneShot is a reply_to the core can fail
