"""The Store's actor loop on its own, with an in-memory ``TrackerFiles``: it batches
what arrives together into one commit, answers every asker in order, answers a
failed call with a fault, never leaves an asker waiting, and never touches the
files from the event loop."""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import errors
from wtd.actors.store import Fault, Files, Store
from wtd.actors.store.base import Broken, Edited, Healed, Pending, SavedAgain, error_outcome
from wtd.actors.store.writes import CheckpointJob
from wtd.healing.analysis import Symptom
from wtd.messages import Apply, Outcome, Probe, StoreMessage
from wtd.storage import failpoints as fp
from wtd.storage.failpoints import Failpoints
from wtd.storage.journal import JournalRecord
from wtd.tracker import commands, model
from wtd.workspace import TrackerPaths

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "my-project.json"
TIMEOUT = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class HeldJob(CheckpointJob):
    """A checkpoint under load that takes as long as the test holds it."""

    def __init__(self, batches: int) -> None:
        super().__init__("t", [], None, set(), None, "", (None, None), 0)
        self.batches = batches  # committed when it was taken
        self.release = threading.Event()
        self.running = threading.Event()

    def run(self) -> None:
        self.running.set()
        assert self.release.wait(TIMEOUT)
        self.ok = True


class MemoryFiles:
    """``TrackerFiles`` without a disk: the tracker lives in memory, each commit is
    recorded (the request ids of its batch), and a test may make a call fail. Every
    call that would touch a file records the thread it ran in."""

    def __init__(self, paths: TrackerPaths) -> None:
        self.paths = paths
        self.tracker: model.Tracker | None = None
        self.deleted = False
        self.view_dirty = False
        self.view_writes = 0  # tries of bring_view_up_to_date
        self.view_fails = 0  # how many of them fail (the disk full)
        self.view_written = threading.Event()
        self.pending_view_merge = False
        self.incomplete: tuple[tuple[int, int, int], float] | None = None
        self.unsettled: float | None = None
        self.settled: list[int] = []  # at each checkpoint: how many batches were committed
        self.checkpoint = threading.Event()
        self.jobs: list[HeldJob] = []  # the checkpoints begun under load
        self.job_begun = threading.Event()
        self.batches: list[list[str]] = []
        self.threads: set[int] = set()
        self.fail_open: BaseException | None = None
        self.fail_commit: errors.WtdError | None = None
        self.on_loop = False  # what commit_on_loop says (a small tracker, a fast disk)
        self.commit_threads: list[int] = []

    def _io(self) -> None:
        self.threads.add(threading.get_ident())

    # memory only
    @property
    def label(self) -> str:
        return "docs/plans/my-project.md"

    def is_open(self) -> bool:
        return self.tracker is not None

    def known_request(self, rid: str) -> JournalRecord | None:
        return None

    def told(self, lines: list[str], result: object) -> tuple[list[str], object]:
        return lines, result

    def error(self, exc: errors.WtdError) -> Outcome:
        return error_outcome(exc, self.label)

    def files_moved(self) -> tuple[bool, bool]:
        return False, False  # two stats in the real one: the loop's one look at the disk

    def must_reopen(self) -> bool:
        return False

    def tell(self, line: str) -> None:
        pass

    def commit_on_loop(self, new: model.Tracker) -> bool:
        return self.on_loop

    def begin_checkpoint(self) -> CheckpointJob | None:
        if self.unsettled is None:
            return None
        self.jobs.append(job := HeldJob(len(self.batches)))
        self.job_begun.set()
        return job

    # worker thread only
    def restart(self) -> None:
        self._io()
        self.tracker = None

    def close(self) -> None:
        self._io()

    def open(self) -> None:
        self._io()
        if self.fail_open is not None:
            raise self.fail_open
        self.tracker = model.decode(EXAMPLE.read_bytes())

    def commit(
        self, new: model.Tracker, applied: list[Pending], *, on_loop: bool = False
    ) -> tuple[list[str], list[str]]:
        self.commit_threads.append(threading.get_ident())
        if not self.on_loop:
            self._io()
        if self.fail_commit is not None:
            raise self.fail_commit
        self.batches.append([p.rid for p in applied])
        self.tracker = new
        if self.unsettled is None:
            self.unsettled = time.monotonic()
        return [], []

    def bring_view_up_to_date(self) -> None:
        self._io()
        self.view_writes += 1
        if self.view_writes >= self.view_fails:  # written at last
            self.view_dirty = False
            self.view_written.set()

    def end_checkpoint(self, job: CheckpointJob) -> None:
        self._io()
        assert isinstance(job, HeldJob) and job.ok
        self.settled.append(job.batches)
        self.unsettled = None if job.batches == len(self.batches) else job.taken

    def settle(self) -> None:
        self._io()
        if self.unsettled is not None:
            self.settled.append(len(self.batches))
            self.unsettled = None
            self.checkpoint.set()

    def find_request(self, rid: str) -> JournalRecord | None:
        self._io()
        return None

    def sync(self) -> Outcome:
        self._io()
        return Outcome(ok=True, tracker=self.label)

    def repair(self, symptom: Symptom) -> Outcome:
        self._io()
        return Outcome(ok=True, tracker=self.label)

    def delete(self, rid: str | None) -> Outcome:
        self._io()
        self.tracker, self.deleted = None, True
        return Outcome(ok=True, tracker=self.label)

    def finish_delete(self, outcome: Outcome) -> None:
        self._io()

    def undo(self, req: Apply) -> Pending | Outcome:
        self._io()
        return self.error(errors.InvalidArgument("Nothing to undo"))

    def history(self, query: commands.ShowHistory) -> Outcome:
        self._io()
        return Outcome(ok=True, lines=["No changes recorded yet."], tracker=self.label)

    def read_json_edit(self) -> Edited | Broken | None:
        self._io()
        return None

    def adopt_json(self, found: Edited | Broken | None) -> Pending | Healed | SavedAgain | None:
        self._io()
        return None

    def merge_view(self, attempt: int) -> Pending | object | None:
        self._io()
        return None


def _is_files(files: MemoryFiles) -> Files:
    return files  # the fake is a ``Files`` (checked by mypy)


class Harness:
    def __init__(
        self, files: MemoryFiles, inbox: MemoryObjectSendStream[StoreMessage], loop: int
    ) -> None:
        self.files = files
        self.inbox = inbox
        self.loop = loop  # the event loop's thread

    def rename(
        self, rid: str, name: str, reply_to: MemoryObjectSendStream[Outcome]
    ) -> StoreMessage:
        return Apply(
            rid=rid,
            command=commands.RenameTask(task_id="1.1", name=name),
            actor="t",
            reply_to=reply_to,
        )

    async def ask(self, command: commands.Command, rid: str = "q") -> Outcome:
        send, recv = anyio.create_memory_object_stream[Outcome](1)
        await self.inbox.send(Apply(rid=rid, command=command, actor="t", reply_to=send))
        with anyio.fail_after(TIMEOUT):
            return await recv.receive()


def _paths(tmp_path: Path) -> TrackerPaths:
    return TrackerPaths(
        workspace=tmp_path,
        name="my-project",
        json=tmp_path / ".ecw" / "plans" / "my-project.json",
        markdown=tmp_path / "docs" / "plans" / "my-project.md",
    )


def _store(files: MemoryFiles, recv: MemoryObjectReceiveStream[StoreMessage]) -> Store:
    return Store(files.paths, recv, failpoints=Failpoints(), files=_is_files(files))


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    files = MemoryFiles(_paths(tmp_path))
    send, recv = anyio.create_memory_object_stream[StoreMessage](16)
    async with anyio.create_task_group() as tg:
        await tg.start(_store(files, recv).run)
        yield Harness(files, send, threading.get_ident())
        send.close()


async def _receive_all(recv: MemoryObjectReceiveStream[Outcome], n: int) -> list[Outcome]:
    with anyio.fail_after(TIMEOUT):
        return [await recv.receive() for _ in range(n)]


@pytest.mark.anyio
async def test_changes_that_arrive_together_are_committed_together(harness: Harness) -> None:
    send, recv = anyio.create_memory_object_stream[Outcome](3)
    for n in (1, 2, 3):
        harness.inbox.send_nowait(harness.rename(f"r{n}", f"name {n}", send.clone()))
    replies = await _receive_all(recv, 3)
    assert all(reply.ok for reply in replies)
    assert harness.files.batches == [["r1", "r2", "r3"]]


@pytest.mark.anyio
async def test_the_files_are_made_durable_after_the_replies_once_the_inbox_is_quiet(
    harness: Harness,
) -> None:
    """SPEC §6: the journal's fsync is the durability point; the files' own fsync
    (the checkpoint) is taken off the reply path, once no request is waiting."""
    send, recv = anyio.create_memory_object_stream[Outcome](2)
    harness.inbox.send_nowait(harness.rename("r1", "one", send.clone()))
    harness.inbox.send_nowait(harness.rename("r2", "two", send.clone()))
    replies = await _receive_all(recv, 2)
    assert all(reply.ok for reply in replies)
    assert harness.files.settled == []  # answered before any checkpoint
    assert await anyio.to_thread.run_sync(harness.files.checkpoint.wait, TIMEOUT)
    assert harness.files.settled == [1]
    assert (await harness.ask(commands.ShowProgress())).ok
    assert harness.files.settled == [1]  # a read replaces no file: nothing to make durable


@pytest.mark.anyio
async def test_askers_are_answered_in_the_order_they_asked(harness: Harness) -> None:
    send, recv = anyio.create_memory_object_stream[Outcome](3)
    for n in (1, 2, 3):
        harness.inbox.send_nowait(harness.rename(f"r{n}", f"name {n}", send.clone()))
    replies = await _receive_all(recv, 3)
    assert [reply.lines[-1].rsplit(" ", 1)[-1] for reply in replies] == ["1", "2", "3"]


class Coming:
    """What the Executor tells a Store: how many changes are on their way to it."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self) -> int:
        return self.n


@asynccontextmanager
async def _gathering(
    tmp_path: Path, coming: Coming
) -> AsyncIterator[tuple[MemoryFiles, Harness, MemoryObjectSendStream[Outcome], Any]]:
    """A Store told ``coming``; its files, a harness, and where its replies go."""
    files = MemoryFiles(_paths(tmp_path))
    send, recv = anyio.create_memory_object_stream[StoreMessage](16)
    replies, answers = anyio.create_memory_object_stream[Outcome](2)
    harness = Harness(files, send, threading.get_ident())
    store = Store(files.paths, recv, failpoints=Failpoints(), files=_is_files(files), coming=coming)
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        yield files, harness, replies, answers
        send.close()


@pytest.mark.anyio
async def test_a_batch_waits_for_the_changes_on_their_way_and_commits_them_together(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # group commit: a change posted while another is being parsed and enforced shares
    # its batch (one journal fsync, one rewrite) instead of committing alone first
    monkeypatch.setattr("wtd.actors.store.actor.GATHER_MAX", 60.0)
    coming = Coming()
    async with _gathering(tmp_path, coming) as (files, harness, replies, answers):
        coming.n = 2  # two changes on their way: the first arrives
        coming.n -= 1
        harness.inbox.send_nowait(harness.rename("r1", "one", replies.clone()))
        for _ in range(5):  # the second is still being enforced: the Store waits
            await anyio.lowlevel.checkpoint()
        assert files.batches == []
        coming.n -= 1
        harness.inbox.send_nowait(harness.rename("r2", "two", replies.clone()))
        got = await _receive_all(answers, 2)
    assert all(reply.ok for reply in got)
    assert files.batches == [["r1", "r2"]]


@pytest.mark.anyio
async def test_a_lone_change_is_committed_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wtd.actors.store.actor.GATHER_MAX", 60.0)
    async with _gathering(tmp_path, Coming()) as (files, harness, replies, answers):
        harness.inbox.send_nowait(harness.rename("r1", "one", replies))  # nothing coming
        (reply,) = await _receive_all(answers, 1)  # (within TIMEOUT, far below 60 s)
    assert reply.ok and files.batches == [["r1"]]


@pytest.mark.anyio
async def test_a_change_that_never_comes_holds_a_batch_no_longer_than_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # one refused on its way (or slow to enforce) is counted until its request ends:
    # the batch goes without it once GATHER_MAX is over
    monkeypatch.setattr("wtd.actors.store.actor.GATHER_MAX", 0.05)
    coming = Coming()
    coming.n = 1
    async with _gathering(tmp_path, coming) as (files, harness, replies, answers):
        harness.inbox.send_nowait(harness.rename("r1", "one", replies))
        (reply,) = await _receive_all(answers, 1)
    assert reply.ok and files.batches == [["r1"]]


@pytest.mark.anyio
async def test_a_view_left_unwritten_is_written_again_without_a_request(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a full disk left the view behind the JSON: it stayed so on an idle tracker until
    # some request came, and agents reading the view saw stale statuses meanwhile
    monkeypatch.setattr("wtd.actors.store.actor.VIEW_RETRY", 0.01)
    send, recv = anyio.create_memory_object_stream[Outcome](1)
    harness.files.view_fails = 3  # the disk is full for the first tries
    harness.inbox.send_nowait(harness.rename("r1", "one", send))
    (reply,) = await _receive_all(recv, 1)
    assert reply.ok
    harness.files.view_dirty = True  # the commit could not write it
    harness.inbox.send_nowait(Probe(reply_to=anyio.create_memory_object_stream[str](1)[0]))
    assert await anyio.to_thread.run_sync(harness.files.view_written.wait, TIMEOUT)
    assert harness.files.view_writes >= 3 and not harness.files.view_dirty


@pytest.mark.anyio
async def test_a_request_id_repeated_in_one_batch_is_refused_not_applied_twice(
    harness: Harness,
) -> None:
    send, recv = anyio.create_memory_object_stream[Outcome](2)
    harness.inbox.send_nowait(harness.rename("same", "first", send.clone()))
    harness.inbox.send_nowait(harness.rename("same", "second", send.clone()))
    # the repeat is refused at once; the first is answered once its batch is durable
    refused, applied = await _receive_all(recv, 2)
    assert not refused.ok and refused.error is not None
    assert "repeated in one batch" in refused.error.message
    assert applied.ok
    assert harness.files.batches == [["same"]]


@pytest.mark.anyio
async def test_a_failed_commit_answers_every_change_of_the_batch_with_the_fault(
    harness: Harness,
) -> None:
    symptom = Symptom(point=fp.JOURNAL_APPEND, error="ENOSPC", message="No space left")
    harness.files.fail_commit = Fault("Change not applied: no space", symptom)
    send, recv = anyio.create_memory_object_stream[Outcome](2)
    harness.inbox.send_nowait(harness.rename("r1", "one", send.clone()))
    harness.inbox.send_nowait(harness.rename("r2", "two", send.clone()))
    replies = await _receive_all(recv, 2)
    for reply in replies:
        assert not reply.ok
        assert reply.error is not None and reply.error.code == "storage"
        assert reply.symptom == symptom
    assert harness.files.batches == []


@pytest.mark.anyio
async def test_a_change_already_so_on_top_of_a_failed_commit_fails_with_it(
    harness: Harness,
) -> None:
    """A change that changes nothing promises that the JSON on disk shows it (SPEC
    §6). Staged after a change of its batch, it is "already so" only in that batch:
    when the batch's commit fails, it fails too (torture: 'uncheck subtask' acked
    while the JSON on disk was a hand-saved file wtd could not write over, EMFILE)."""
    symptom = Symptom(point=fp.STORE_WRITE, error="EMFILE", message="Too many open files")
    harness.files.fail_commit = Fault("Change not applied: too many open files", symptom)
    send, recv = anyio.create_memory_object_stream[Outcome](3)
    harness.inbox.send_nowait(harness.rename("r0", "Create repository and packaging", send.clone()))
    harness.inbox.send_nowait(harness.rename("r1", "one", send.clone()))
    harness.inbox.send_nowait(harness.rename("r2", "one", send.clone()))  # so after r1
    replies = await _receive_all(recv, 3)
    assert [reply.ok for reply in replies] == [True, False, False], replies
    assert replies[2].symptom == symptom
    assert harness.files.batches == []


@pytest.mark.anyio
async def test_a_failed_open_is_answered_with_a_fault_the_executor_can_repair(
    harness: Harness,
) -> None:
    harness.files.fail_open = OSError(24, "Too many open files")
    reply = await harness.ask(commands.ShowProgress())
    assert not reply.ok
    assert reply.symptom is not None and reply.symptom.point == fp.STORE_READ
    assert reply.symptom.error == "EMFILE"
    harness.files.fail_open = None
    assert (await harness.ask(commands.ShowProgress())).ok  # opened at the next request


@pytest.mark.anyio
async def test_a_crash_in_a_files_call_closes_every_reply_of_the_batch(tmp_path: Path) -> None:
    files = MemoryFiles(_paths(tmp_path))
    files.fail_open = RuntimeError("a bug in the file side")
    send, recv = anyio.create_memory_object_stream[StoreMessage](4)
    replies = []
    for n in (1, 2):
        reply_send, reply_recv = anyio.create_memory_object_stream[Outcome](1)
        send.send_nowait(
            Apply(rid=f"r{n}", command=commands.ShowProgress(), actor="t", reply_to=reply_send)
        )
        replies.append(reply_recv)
    with pytest.raises(ExceptionGroup) as raised:
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(_store(files, recv).run)
    assert raised.group_contains(RuntimeError)
    for reply_recv in replies:  # each asker is told at once, none waits forever
        with pytest.raises(anyio.EndOfStream):
            reply_recv.receive_nowait()


@pytest.mark.anyio
async def test_a_ping_is_answered_with_the_stores_name(harness: Harness) -> None:
    send, recv = anyio.create_memory_object_stream[str](1)
    await harness.inbox.send(Probe(reply_to=send))
    with anyio.fail_after(TIMEOUT):
        assert await recv.receive() == "store:my-project"


@pytest.mark.anyio
async def test_queries_are_answered_from_memory_after_one_open(harness: Harness) -> None:
    first = await harness.ask(commands.ShowProgress())
    second = await harness.ask(commands.ShowTask(task_id="1.1"))
    assert first.ok and second.ok
    assert harness.files.batches == []


@pytest.mark.anyio
async def test_the_files_are_never_touched_from_the_event_loop(harness: Harness) -> None:
    send, recv = anyio.create_memory_object_stream[Outcome](2)
    harness.inbox.send_nowait(harness.rename("r1", "one", send.clone()))
    harness.inbox.send_nowait(harness.rename("r2", "two", send.clone()))
    await _receive_all(recv, 2)
    assert (await harness.ask(commands.Sync())).ok
    assert (await harness.ask(commands.ShowHistory(), rid="h")).ok
    assert harness.files.threads  # the fake was called…
    assert harness.loop not in harness.files.threads  # …never in the loop's thread
    assert harness.files.commit_threads and harness.loop not in harness.files.commit_threads


@pytest.mark.anyio
async def test_a_commit_the_files_say_is_cheap_runs_on_the_loop_and_nothing_else(
    harness: Harness,
) -> None:
    """A small tracker on a fast disk: the commit is cheaper than a hand-off to the
    Store's thread; every other call still goes there."""
    harness.files.on_loop = True
    send, recv = anyio.create_memory_object_stream[Outcome](2)
    harness.inbox.send_nowait(harness.rename("r1", "one", send.clone()))
    harness.inbox.send_nowait(harness.rename("r2", "two", send.clone()))
    assert all(o.ok for o in await _receive_all(recv, 2))
    assert (await harness.ask(commands.Sync())).ok
    assert harness.files.commit_threads and set(harness.files.commit_threads) == {harness.loop}
    assert harness.files.threads and harness.loop not in harness.files.threads
    assert harness.files.tracker is not None
    assert [t.name for t in harness.files.tracker.tasks if t.id == "1.1"] == ["two"]


@pytest.mark.anyio
async def test_a_checkpoint_under_a_steady_load_holds_up_no_reply(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SPEC §6, §10: under load the files are checkpointed at the latest every
    SETTLE_MAX; that checkpoint (tens of ms on a big tracker) runs beside the batches,
    so changes sent meanwhile are answered while it is still running."""
    monkeypatch.setattr("wtd.actors.store.actor.SETTLE_MAX", 0.0)
    send, recv = anyio.create_memory_object_stream[Outcome](8)
    harness.inbox.send_nowait(harness.rename("r1", "one", send.clone()))
    assert (await _receive_all(recv, 1))[0].ok
    assert await anyio.to_thread.run_sync(harness.files.job_begun.wait, TIMEOUT)
    job = harness.files.jobs[0]
    assert await anyio.to_thread.run_sync(job.running.wait, TIMEOUT)
    for n in (2, 3):  # the checkpoint is still running: these are answered all the same
        harness.inbox.send_nowait(harness.rename(f"r{n}", f"name {n}", send.clone()))
        assert (await _receive_all(recv, 1))[0].ok
    assert harness.files.settled == [] and not job.release.is_set()
    job.release.set()
    # taken in (between batches, or before the quiet-inbox checkpoint), then settled
    assert await anyio.to_thread.run_sync(harness.files.checkpoint.wait, TIMEOUT)
    assert harness.files.settled[0] == 1
