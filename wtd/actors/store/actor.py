"""Store actor: one per tracker. The only writer of that tracker's files.

It answers queries from memory and applies changes through the journal (SPEC §6):
changes that arrive together are committed together (one journal append, one fsync,
one JSON and one Markdown write — group commit), and every caller is answered only
once its change is durable and visible in both files. A change whose commit fails
is undone in memory and in the journal, so a reported failure never appears later.
A retried request id is answered from the journal instead of being applied again.

Claims (SPEC §12) are changes like any other, staged in order, so two claims in one
batch see each other. Leases that ended are given back by the Store itself, as wtd's
change: at the start of a batch, and by one timer armed for the next expiry only
while something is claimed (an idle daemon with no claims has no timer at all).

This module is the loop side only: it batches the inbox, stages changes in memory,
answers, and publishes events. Everything that touches a file is a ``TrackerFiles``
call made through ``Store._in_thread`` (a worker thread) — but the commit of a small
tracker on a fast disk, which is cheaper made on the event loop than handed over
(``WritePath.commit_on_loop``).

Faults are not handled here: a failed operation comes back with a ``Symptom`` and
the Executor runs the MAPE-K loop (retry, repair, escalate). Repair itself is done
by the Store, on request, because only the Store touches the files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, TypeVarTuple

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import errors, protocol
from wtd.actors import answer
from wtd.actors.store.base import (
    BIG_QUERY,
    GATHER_MAX,
    INCOMPLETE,
    INCOMPLETE_GRACE,
    MAX_BATCH,
    MID_WRITE_RETRIES,
    OPEN_POINTS,
    SETTLE_IDLE,
    SETTLE_MAX,
    SUPERSEDED_RETRIES,
    SYSTEM_ACTOR,
    Broken,
    Edited,
    Fault,
    Healed,
    Pending,
    SavedAgain,
    cmd_encoder,
    inverse,
    now,
    os_fault,
    outcome_decoder,
    stored_progress,
)
from wtd.actors.store.files import TrackerFiles
from wtd.actors.store.writes import CheckpointJob
from wtd.healing.analysis import Symptom
from wtd.messages import (
    Apply,
    EventsMessage,
    FileChanged,
    Outcome,
    Probe,
    Publish,
    Repair,
    StoreMessage,
)
from wtd.storage import atomic, gitrepo, timeline
from wtd.storage import failpoints as fp
from wtd.storage.failpoints import Failpoints
from wtd.storage.journal import CorruptJournal, JournalRecord
from wtd.tracker import claims, commands, model, ops, queries
from wtd.tracker.ops.claims import check_holder
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.store")

VIEW_RETRY = 1.0  # seconds: a view left unwritten (disk full, read-only) is tried again
VIEW_RETRY_MAX = 30.0
EXPIRY_RETRY = 1.0  # seconds before expired claims are given back again after a fault
GIT_WAIT = 10.0  # seconds a change or a hand edit waits for git to release index.lock

T = TypeVar("T")
Ts = TypeVarTuple("Ts")


class Files(Protocol):
    """What the loop needs of ``TrackerFiles`` (a test passes an in-memory fake).

    Attributes and the first group of methods are memory only (``files_moved``: two
    stats, the one look at the disk the loop makes); every other method blocks on the
    files and is called through ``Store._in_thread``.
    """

    paths: TrackerPaths
    tracker: model.Tracker | None
    deleted: bool
    view_dirty: bool
    pending_view_merge: bool
    incomplete: tuple[atomic.Stamp, float] | None  # a view caught mid-save, since when
    unsettled: float | None  # files replaced since the last checkpoint, since when

    @property
    def label(self) -> str: ...
    def is_open(self) -> bool: ...
    def known_request(self, rid: str) -> JournalRecord | None: ...
    def told(self, lines: list[str], result: object) -> tuple[list[str], object]: ...
    def error(self, exc: errors.WtdError) -> Outcome: ...
    def files_moved(self) -> tuple[bool, bool]: ...
    def must_reopen(self) -> bool: ...
    def tell(self, line: str) -> None: ...  # to the next caller
    def begin_checkpoint(self) -> CheckpointJob | None: ...  # a few system calls

    # worker thread only
    def restart(self) -> None: ...
    def close(self) -> None: ...
    def open(self) -> None: ...
    def commit(
        self, new: model.Tracker, applied: list[Pending], *, on_loop: bool = False
    ) -> tuple[list[str], list[str]]: ...
    def commit_on_loop(self, new: model.Tracker) -> bool: ...
    def bring_view_up_to_date(self) -> None: ...
    def settle(self) -> None: ...
    def end_checkpoint(self, job: CheckpointJob) -> None: ...
    def find_request(self, rid: str) -> JournalRecord | None: ...
    def sync(self) -> Outcome: ...
    def repair(self, symptom: Symptom) -> Outcome: ...
    def delete(self, rid: str | None) -> Outcome: ...
    def finish_delete(self, outcome: Outcome) -> None: ...
    def undo(self, req: Apply) -> Pending | Outcome: ...
    def history(self, query: commands.ShowHistory) -> Outcome: ...
    def read_json_edit(self) -> Edited | Broken | None: ...
    def adopt_json(self, found: Edited | Broken | None) -> Pending | Healed | SavedAgain | None: ...
    def merge_view(self, attempt: int) -> Pending | object | None: ...


class Worker:
    """The Store's own thread: its ``TrackerFiles`` calls, one at a time, in order.

    Cheaper than a hand-off to anyio's thread pool (no capacity limiter, no
    checkpoint, no context copy): the call is queued and its result comes back
    through ``call_soon_threadsafe``. The thread is started on first use and ends
    once idle for ``IDLE`` seconds or on ``stop``; the next call starts it again.
    """

    IDLE = 10.0

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job | None] | None = None  # the running thread's

    async def run(self, call: Callable[[*Ts], T], *args: *Ts) -> T:
        """``call(*args)`` in the thread. Like ``anyio.to_thread.run_sync``, it is not
        abandoned when cancelled: the caller waits until it has finished."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._jobs is None:
                # each thread has its own queue: one that is ending never takes a call
                # meant for the next
                jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
                threading.Thread(
                    target=self._serve, args=(jobs,), name=self._name, daemon=True
                ).start()  # when it cannot start, nothing is left waiting for it
                self._jobs = jobs
            self._jobs.put((lambda: call(*args), future, loop))
        with anyio.CancelScope(shield=True):
            result = await future
        return result

    def stop(self) -> None:
        """Let the thread end once the calls queued are done."""
        with self._lock:
            if self._jobs is not None:
                self._jobs.put(None)
                self._jobs = None

    def _serve(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        while True:
            try:
                job = jobs.get(timeout=self.IDLE)
            except queue.Empty:
                with self._lock:
                    if jobs.empty():  # idle: this thread ends (stop() found it ending)
                        if self._jobs is jobs:
                            self._jobs = None
                        return
                continue
            if job is None:
                return
            call, future, loop = job
            result: object = None
            error: BaseException | None = None
            try:
                result = call()
            except BaseException as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, result, error)
            del job, call, future, result, error  # nothing of it outlives the call


_Job = tuple[Callable[[], object], "asyncio.Future[Any]", asyncio.AbstractEventLoop]


def _settle(future: asyncio.Future[T], result: T, exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _same_change(record: JournalRecord, command: commands.Command) -> bool:
    """Is ``command`` the change ``record`` journalled (a retry of it)? A claim's lease
    is the daemon's (its config), not the caller's: a retry answered by a wtd started
    with another lease is the same claim."""
    if bytes(record.op) == cmd_encoder.encode(command):
        return True
    if not hasattr(command, "lease"):
        return False
    try:
        done = timeline.change_of(record)
    except msgspec.DecodeError:
        return False
    if type(done) is not type(command):
        return False
    unleased = [msgspec.structs.replace(c, lease=0.0) for c in (done, command)]
    return bool(unleased[0] == unleased[1])


def _none_coming() -> int:
    return 0


def _always() -> bool:
    return True


class Store:
    """Owns one tracker: batches its requests and answers them; ``files`` does the I/O."""

    name = "store"

    def __init__(
        self,
        paths: TrackerPaths,
        inbox: MemoryObjectReceiveStream[StoreMessage],
        *,
        failpoints: Failpoints,
        backups_keep: int = 10,
        backup_every: int = 50,
        journal_max_bytes: int = 8 * 1024 * 1024,
        events: MemoryObjectSendStream[EventsMessage] | None = None,
        max_bytes: int = 64 * 1024 * 1024,
        max_depth: int = 100,
        files: Files | None = None,
        coming: Callable[[], int] | None = None,
        owned: Callable[[], bool] | None = None,
    ) -> None:
        self.paths = paths
        self._coming = coming or _none_coming
        self._owned = owned or _always  # the workspace's .ecw, still the one locked
        self._label = str(paths.markdown.relative_to(paths.workspace))
        self._events = events
        self._inbox = inbox
        self._git = gitrepo.git_dir(paths.workspace)  # None: not the top of a repository
        self.files: Files = files or TrackerFiles(
            paths,
            failpoints=failpoints,
            backups_keep=backups_keep,
            backup_every=backup_every,
            journal_max_bytes=journal_max_bytes,
            max_bytes=max_bytes,
            max_depth=max_depth,
        )
        self._expiry: str | None = None  # when the first claim ends (None: none is recorded)
        self._rescan = True  # claims may have changed in a way staging does not see
        self._job: CheckpointJob | None = None  # a checkpoint running beside the batches
        self._job_done = anyio.Event()
        self._worker = Worker(f"wtd-store:{paths.name}")
        self._stale_lock: tuple[int, int] | None = None  # git's index.lock, left behind
        self._view_retry = VIEW_RETRY  # seconds until the view left unwritten is tried again

    @property
    def label(self) -> str:
        return self._label

    async def _in_thread(self, call: Callable[[*Ts], T], *args: *Ts) -> T:
        """The thread boundary: every ``TrackerFiles`` call (it blocks on the disk)."""
        return await self._worker.run(call, *args)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the inbox until it closes. Called again after a crash: state is reloaded."""
        await self._in_thread(self.files.restart)
        self._job = None
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                while True:
                    first = await self._next()
                    if first is None:
                        return
                    batch = [first]
                    while len(batch) < MAX_BATCH:
                        try:
                            batch.append(self._inbox.receive_nowait())
                        except (anyio.WouldBlock, anyio.EndOfStream):  # EndOfStream: closed
                            break
                    if self._coming() and isinstance(first, Apply):
                        await self._gather(batch)
                    try:
                        await self._handle(batch)
                    except BaseException:
                        # Fail loudly, never leave a caller hanging: the Executor asks
                        # again, and a change already journalled is answered from the
                        # journal.
                        for msg in batch:
                            if not isinstance(msg, FileChanged):
                                msg.reply_to.close()
                        raise
                    await self._checkpoint_under_load(tg)
        finally:
            with anyio.CancelScope(shield=True):
                try:
                    await self._in_thread(self._close)
                finally:
                    self._worker.stop()

    async def _refuse_replaced(self, batch: list[StoreMessage]) -> None:
        outcome = self.files.error(
            errors.Unavailable(
                f"{self.paths.workspace / '.ecw'} was replaced while wtd served it: nothing "
                "was written; run the command again (the workspace is claimed afresh)"
            )
        )
        for msg in batch:
            match msg:
                case Apply(reply_to=reply_to) | Repair(reply_to=reply_to):
                    await answer(reply_to, outcome)
                case Probe(reply_to=reply_to):
                    await answer(reply_to, f"store:{self.paths.name}")
                case FileChanged():
                    pass
        if self.files.tracker is not None:  # its files are read afresh if served again
            if self._job is not None:
                await self._job_done.wait()
                self._job = None
            await self._in_thread(self.files.restart)

    async def _gather(self, batch: list[StoreMessage]) -> None:
        """Group commit: add to ``batch`` the changes on their way to this Store (the
        Executor counts them from when their tracker is known until they are posted
        here), waiting at most ``GATHER_MAX`` for them. Nothing waits when none is
        coming: a lone client's change is committed at once."""
        deadline = anyio.current_time() + GATHER_MAX
        while len(batch) < MAX_BATCH and self._coming():
            left = deadline - anyio.current_time()
            if left <= 0:
                return
            with anyio.move_on_after(left):
                try:
                    batch.append(await self._inbox.receive())
                except anyio.EndOfStream:
                    return
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._inbox.receive_nowait())
                except (anyio.WouldBlock, anyio.EndOfStream):
                    break

    async def _checkpoint_under_load(self, tg: anyio.abc.TaskGroup) -> None:
        """Under a steady load, the files are made durable (and backed up when due)
        at the latest ``SETTLE_MAX`` after the first one replaced since the last
        checkpoint — in a thread beside the batches, so no reply waits for it (on a
        100k-task tracker it takes tens of ms). Its result is taken in between
        batches."""
        await self._end_checkpoint()
        unsettled = self.files.unsettled
        if (
            self._job is None
            and unsettled is not None
            and time.monotonic() - unsettled >= SETTLE_MAX
        ):
            self._job = self.files.begin_checkpoint()
            if self._job is not None:
                self._job_done = anyio.Event()
                tg.start_soon(self._run_checkpoint, self._job)

    async def _run_checkpoint(self, job: CheckpointJob) -> None:
        try:
            await anyio.to_thread.run_sync(job.run)
        finally:
            self._job_done.set()

    async def _end_checkpoint(self, *, wait: bool = False) -> None:
        """Take in the checkpoint running beside the batches once it is done (with
        ``wait``: wait for it)."""
        job = self._job
        if job is None or not (wait or self._job_done.is_set()):
            return
        await self._job_done.wait()
        self._job = None
        await self._in_thread(self.files.end_checkpoint, job)

    def _close(self) -> None:
        """On stop (a worker thread): the last checkpoint, then the journal is closed."""
        try:
            self.files.settle()
        finally:
            self.files.close()

    async def _next(self) -> StoreMessage | None:
        """The next message (None once the inbox closed). The files replaced since the
        last checkpoint are made durable once the inbox is quiet for ``SETTLE_IDLE``;
        while a view sits half-saved, waiting ends when its grace period does, to
        render it anew if still so; while a claim is recorded, waiting ends when the
        first lease does, to give that task back; while the view could not be written
        (a full disk, a read-only one), it is tried again after ``VIEW_RETRY`` seconds,
        twice as long each time it fails, up to ``VIEW_RETRY_MAX``. With none of these,
        it waits without a timer."""
        while True:
            incomplete, unsettled = self.files.incomplete, self.files.unsettled
            expiry = self._expiry if self.files.tracker is not None else None
            dirty = self.files.view_dirty and self.files.tracker is not None
            if not dirty:
                self._view_retry = VIEW_RETRY
            if incomplete is None and unsettled is None and expiry is None and not dirty:
                try:
                    return await self._inbox.receive()
                except anyio.EndOfStream:
                    return None
            wait = SETTLE_IDLE if unsettled is not None else float("inf")
            if dirty:
                wait = min(wait, self._view_retry)
            if incomplete is not None:
                grace = max(0.0, incomplete[1] + INCOMPLETE_GRACE - time.monotonic()) + 0.01
                wait = min(wait, grace)
            if expiry is not None:
                wait = min(wait, _seconds_until(expiry) + 0.005)
            with anyio.move_on_after(wait):
                try:
                    return await self._inbox.receive()
                except anyio.EndOfStream:
                    return None
            if dirty and self.files.view_dirty:
                self._view_retry = min(self._view_retry * 2, VIEW_RETRY_MAX)
                await self._handle([])  # the view written again (and anything else due)
            elif expiry is not None and expiry <= now():
                await self._handle([])  # the expiry alone
            if unsettled is not None:
                await self._end_checkpoint(wait=True)
                await self._in_thread(self.files.settle)
            if incomplete is not None and time.monotonic() >= incomplete[1] + INCOMPLETE_GRACE:
                return FileChanged(path=str(self.paths.markdown), kind="markdown")

    # ------------------------------------------------------------ batches

    async def _handle(self, batch: list[StoreMessage]) -> None:
        if not self._owned():
            # .ecw was replaced (a copy put in place, removed and made again): another
            # daemon may lock the new one and serve it, so nothing is written here;
            # asked again, the request is claimed afresh (and sent to that daemon)
            await self._refuse_replaced(batch)
            return
        if self.files.tracker is not None and self.files.must_reopen():
            # The workspace was replaced under wtd (deleted and cloned again, restored
            # from a copy): its files are read afresh, never merged with the state of
            # files that are gone, and nothing is journalled into a deleted file. Or
            # it can be written again after reads only (remounted read-write).
            log.warning(
                "%s: the journal was replaced or can be written; opening afresh", self.label
            )
            if self._job is not None:  # a checkpoint of the files as they were: let it
                await self._job_done.wait()  # end, and take nothing of it in
                self._job = None
            await self._in_thread(self.files.restart)
        if self.files.tracker is not None:
            await self._git_settled()
            # A hand edit the Watcher has not reported yet is merged before this batch
            # writes over it (two stats: cheap).
            json_moved, view_moved = self.files.files_moved()
            if json_moved:
                await self._file_changed("json")
            if view_moved:
                await self._file_changed("markdown")
            await self._expire_claims()
        pending: list[Pending] = []
        for msg in batch:
            match msg:
                case Probe(reply_to=reply_to):
                    await answer(reply_to, f"store:{self.paths.name}")
                case Repair(symptom=symptom, reply_to=reply_to):
                    pending = await self._commit(pending)
                    self._rescan = True
                    await answer(reply_to, await self._in_thread(self.files.repair, symptom))
                case FileChanged(kind=kind):
                    pending = await self._commit(pending)
                    if self.files.tracker is not None:
                        await self._git_settled()
                        # the JSON first: when both changed (a checkout, a pull), the
                        # view is merged onto the JSON it was checked out with
                        if kind == "markdown" and self._moved("json"):
                            await self._file_changed("json")
                        if self._moved(kind):
                            await self._file_changed(kind)
                case Apply(command=commands.DeleteTracker()):
                    pending = await self._commit(pending)
                    self._rescan = True
                    if await self._answered_before(msg, finish=self.files.finish_delete):
                        continue
                    if await self._opened(msg):
                        outcome = await self._in_thread(self.files.delete, msg.rid)
                        await answer(msg.reply_to, outcome)
                case Apply(command=commands.Undo()):
                    pending = await self._commit(pending)
                    self._rescan = True
                    if await self._answered_before(msg):
                        continue
                    if await self._opened(msg):
                        undo = await self._in_thread(self.files.undo, msg)
                        if isinstance(undo, Outcome):
                            await answer(msg.reply_to, undo)
                        else:
                            await self._commit([undo], may_loop=False)
                case Apply(command=commands.Open()):
                    pending = await self._commit(pending)
                    if await self._opened(msg):  # what opening found waits for a caller
                        await answer(msg.reply_to, Outcome(ok=True, tracker=self.label))
                case Apply(command=commands.ShowHistory() as history):
                    pending = await self._commit(pending)
                    if await self._opened(msg):
                        reply = await self._in_thread(self.files.history, history)
                        await answer(msg.reply_to, reply)
                case Apply(command=command) if isinstance(command, commands.CHANGE_TYPES):
                    if not await self._opened(msg):
                        continue
                    replayed = self._replayed(msg, pending)
                    if replayed is not None:
                        await answer(msg.reply_to, replayed)
                        continue
                    if isinstance(command, commands.CLAIM_TYPES):
                        self._rescan = True
                    self._stage(msg, pending)
                case Apply():
                    pending = await self._commit(pending)
                    if not await self._opened(msg):
                        continue
                    if isinstance(msg.command, commands.Sync):  # reads, renders, may write
                        await answer(msg.reply_to, await self._in_thread(self.files.sync))
                    elif (
                        self.files.tracker is not None and len(self.files.tracker.tasks) > BIG_QUERY
                    ):
                        # answering takes long enough to hold up other workspaces' clients
                        # (memory only: a worker thread, but no file is touched)
                        reply = await anyio.to_thread.run_sync(self._query, msg.command)
                        await answer(msg.reply_to, reply)
                    else:
                        await answer(msg.reply_to, self._query(msg.command))
        await self._commit(pending)
        self._claims_looked_at()
        if self.files.view_dirty and self.files.tracker is not None:  # bring the view up to date
            _, view_moved = self.files.files_moved()
            if view_moved:
                await self._file_changed("markdown")  # a hand edit first: it re-renders
            else:
                await self._in_thread(self.files.bring_view_up_to_date)

    def _claims_looked_at(self) -> None:
        """Find when the first recorded claim ends, after anything that may have
        changed claims other than by extending them (a renewal only moves an end
        later: the timer then fires early, finds nothing due and looks again)."""
        tracker = self.files.tracker
        if not self._rescan or tracker is None:
            return
        self._rescan = False
        self._expiry = claims.next_expiry(tracker)

    async def _expire_claims(self) -> None:
        """Give back the tasks whose lease ended, as wtd's own change, committed
        before the batch is staged (so the batch's claims see those tasks free)."""
        if self._expiry is None or self.files.tracker is None:
            return
        at = now()
        if self._expiry > at:
            return
        tracker = self.files.tracker
        change = commands.ExpireClaims()
        self._rescan = True
        try:
            applied = ops.apply(tracker, change, at=at, actor=SYSTEM_ACTOR)
        except errors.WtdError as exc:  # never: expiry raises nothing
            log.error("%s: claims not expired: %s", self.label, exc)
            return
        finally:
            self._claims_looked_at()
        if not applied.changed:
            return
        item = Pending(
            rid=f"wtd-ExpireClaims-{at}",
            actor=SYSTEM_ACTOR,
            change=change,
            at=at,
            outcome=Outcome(
                ok=True, lines=applied.lines, result=applied.result, tracker=self.label
            ),
            tracker=applied.tracker,
            undo=inverse(tracker, applied.tracker, SYSTEM_ACTOR, at),
        )
        await self._commit([item])
        if not item.outcome.ok:  # tried again a little later, never in a tight loop
            self._expiry = claims.until(now(), EXPIRY_RETRY)
            log.warning("%s: expired claims not given back yet: %s", self.label, item.outcome)
            return
        self._rescan = True
        self._claims_looked_at()
        log.info("%s: %s", self.label, "; ".join(applied.lines))
        await self._publish(item)

    async def _git_settled(self) -> None:
        """While git writes the working tree (it holds ``index.lock``: a checkout,
        pull, merge or rebase step), wait — so that what it leaves is taken over as
        a whole, never half — up to ``GIT_WAIT`` seconds (a lock left behind by a
        crashed git must not stop the tracker for good)."""
        if self._git is None:
            return
        lock = gitrepo.index_lock(self._git)
        waited = 0.0
        while lock is not None and lock != self._stale_lock:
            # (waited: a lock whose time is ahead of this clock still ends the wait)
            if time.time() - lock[1] / 1e9 >= GIT_WAIT or waited >= GIT_WAIT:
                # There for GIT_WAIT already: left by a git that crashed (or one far
                # slower than any checkout). Waited for once, never again: each git
                # run makes a new lock, and this one is told about.
                self._stale_lock = lock
                path = self._git / gitrepo.INDEX_LOCK
                when = time.strftime("%H:%M:%S", time.localtime(lock[1] / 1e9))
                log.warning("%s: %s has been there since %s; going ahead", self.label, path, when)
                self.files.tell(
                    f"⚠ {path} has been there since {when}: a git that stopped halfway "
                    "left it (wtd went ahead; git itself refuses to run until it is "
                    f"removed). If no git is running: rm {path}"
                )
                return
            await anyio.sleep(0.02)
            waited += 0.02
            lock = gitrepo.index_lock(self._git)

    def _moved(self, kind: str) -> bool:
        """Did the file change since wtd wrote or read it (two stats, on the loop: the
        Watcher reports wtd's own writes too, and most reports are those)? A view
        caught mid-save is looked at again whatever its stamp."""
        json_moved, view_moved = self.files.files_moved()
        if kind == "json":
            return json_moved
        return view_moved or self.files.incomplete is not None

    async def _answered_before(
        self, req: Apply, *, finish: Callable[[Outcome], None] | None = None
    ) -> bool:
        """Answer ``req`` with its first reply if its request id was already applied
        (a client retry after a lost reply): undo and delete included (SPEC §6).
        ``finish`` completes what a crash interrupted after the journal recorded it."""
        try:
            record = await self._in_thread(self.files.find_request, req.rid)
        except errors.WtdError as exc:
            await answer(req.reply_to, self.files.error(exc))
            return True
        if record is None or record.reply is None:
            return False
        log.info("request %s already applied (seq %d); answering again", req.rid, record.seq)
        first = outcome_decoder.decode(record.reply)
        if finish is None and (unshown := self._unshown(req.rid, first)) is not None:
            await answer(req.reply_to, unshown)
            return True
        outcome = self._as_now(first)
        if finish is not None:
            try:
                await self._in_thread(finish, outcome)
            except (OSError, errors.WtdError) as exc:
                log.error("%s: could not finish request %s: %s", self.label, req.rid, exc)
                await answer(req.reply_to, self.files.error(errors.WtdError(str(exc))))
                return True
        await answer(req.reply_to, outcome)
        return True

    async def _opened(self, req: Apply) -> bool:
        """Open the tracker if needed; on failure answer ``req`` with the error."""
        files = self.files
        if files.is_open():
            return True
        if files.deleted:
            await answer(
                req.reply_to,
                files.error(
                    errors.NotFound(
                        f"Tracker {self.paths.name} was deleted; 'restore tracker' brings it back"
                    )
                ),
            )
            return False
        try:
            await self._in_thread(files.open)
        except errors.WtdError as exc:
            await answer(req.reply_to, files.error(_at_opening(exc)))
            return False
        except OSError as exc:  # e.g. EMFILE reading the view: a fault, never a crash
            fault = os_fault(exc, fp.STORE_READ, "the tracker could not be opened", self.paths)
            await answer(req.reply_to, files.error(fault))
            return False
        if files.pending_view_merge:
            files.pending_view_merge = False
            await self._file_changed("markdown")
        self._rescan = True
        self._claims_looked_at()
        await self._expire_claims()  # nothing is staged yet on a tracker just opened
        return True

    def _replayed(self, req: Apply, pending: list[Pending]) -> Outcome | None:
        """The stored answer when this request id was already applied (a client retry)."""
        record = self.files.known_request(req.rid)
        if (
            record is not None
            and not _same_change(record, req.command)
            and not timeline.is_damaged(record)  # which change it was is lost
        ):
            return self.files.error(
                errors.InvalidArgument(f"request id {req.rid} was already used for another change")
            )
        if record is not None and record.reply is not None:
            log.info("request %s already applied (seq %d); answering again", req.rid, record.seq)
            first = outcome_decoder.decode(record.reply)
            unshown = self._unshown(req.rid, first)
            return unshown if unshown is not None else self._as_now(first)
        if any(p.rid == req.rid for p in pending):
            return self.files.error(
                errors.InvalidArgument(f"request id {req.rid} repeated in one batch")
            )
        return None

    def _unshown(self, rid: str, first: Outcome) -> Outcome | None:
        """What a retry of ``rid`` is told instead of its first reply, ``first``, when
        that success would be a promise the JSON on disk does not keep (SPEC §6): the
        file is someone else's save wtd could not take over at the start of this batch.
        Not a failure (it was applied): an answer to ask for again."""
        if not first.ok or self.files.tracker is None or not self.files.files_moved()[0]:
            return None
        return self.files.error(
            errors.Unavailable(
                f"request {rid} was applied, but {self.paths.json.name} on disk "
                "is not wtd's and could not be rewritten yet; ask again shortly"
            )
        )

    def _as_now(self, outcome: Outcome) -> Outcome:
        """A first reply answered again says what is true now: a view that a crash
        or a failed write left behind is not yet showing the change (SPEC §6)."""
        if not (outcome.ok and self.files.view_dirty and self.files.tracker is not None):
            return outcome
        note = (
            f"⚠ Saved, but the view {self.label} could not be written yet; "
            "it will be rewritten as soon as possible."
        )
        return msgspec.structs.replace(outcome, lines=[*outcome.lines, note])

    def _stage(self, req: Apply, pending: list[Pending]) -> None:
        """Apply ``req`` in memory on top of the batch so far (committed with it)."""
        change: commands.Change = req.command  # type: ignore[assignment]
        base = self._staged_tracker(pending)
        at = now()
        item = Pending(
            rid=req.rid,
            actor=req.actor,
            change=change,
            at=at,
            outcome=Outcome(ok=False),
            request=req,
        )
        try:
            check_holder(base, change, at, req.actor)  # new requests only (not replays)
            applied = ops.apply(base, change, at=at, actor=req.actor)
        except errors.WtdError as exc:
            item.outcome = self.files.error(exc)
            pending.append(item)
            return
        lines, result = self.files.told(applied.lines, applied.result)
        item.outcome = Outcome(
            ok=True,
            lines=lines,
            healing=applied.healing,
            result=result,
            tracker=self.label,
            progress=stored_progress(applied.tracker),
        )
        if applied.changed:
            item.tracker = applied.tracker
            item.undo = inverse(base, applied.tracker, req.actor, at)
        pending.append(item)

    def _staged_tracker(self, pending: list[Pending]) -> model.Tracker:
        assert self.files.tracker is not None
        for item in reversed(pending):
            if item.tracker is not None:
                return item.tracker
        return self.files.tracker

    async def _commit(self, pending: list[Pending], *, may_loop: bool = True) -> list[Pending]:
        """Make the staged changes durable, then answer each asker in order (a failed
        commit answers every change of the batch with the fault). Returns a new,
        empty batch. ``may_loop=False``: in the thread whatever its size (an undo,
        which may bring back a state of any size)."""
        if not pending:
            return []
        new = self._staged_tracker(pending)
        applied = [p for p in pending if p.tracker is not None]
        # changes already so: before the first change of the batch, against the state
        # committed (they hold if the JSON on disk is wtd's); after it, against the
        # batch's (they hold only if its commit does)
        first = next((i for i, p in enumerate(pending) if p.tracker is not None), len(pending))
        if not applied and self.files.tracker is not None:
            await self._unchanged_but_shown(pending)
        if applied:
            try:
                # small and on a fast disk: cheaper than a hand-off to the thread (not
                # while a checkpoint fsyncs the files: the journal's fsync waits for it)
                if may_loop and self._job is None and self.files.commit_on_loop(new):
                    healing, notes = self.files.commit(new, applied, on_loop=True)
                else:
                    healing, notes = await self._in_thread(self.files.commit, new, applied)
            except errors.WtdError as exc:
                failure = self.files.error(exc)
                for p in pending[first:]:
                    if p.tracker is not None or p.outcome.ok:
                        p.outcome = failure
                if first and self.files.tracker is not None:
                    await self._unchanged_but_shown(pending[:first])
            else:
                for p in applied:
                    p.outcome = msgspec.structs.replace(
                        p.outcome,
                        lines=[*p.outcome.lines, *notes],
                        healing=[*healing, *p.outcome.healing],
                    )
        for p in pending:
            if p.request is not None:
                await answer(p.request.reply_to, p.outcome)
        return []

    async def _unchanged_but_shown(self, pending: list[Pending]) -> None:
        """Changes that changed nothing (already so) write nothing, yet their reply
        promises the JSON on disk shows them (SPEC §6). When the file is not wtd's
        (deleted or saved meanwhile, and taking that over failed, e.g. on EMFILE),
        it is taken over now; if it still is not, they fail with that fault."""
        if not self.files.files_moved()[0]:
            return
        failure = await self._file_changed("json")
        if not self.files.files_moved()[0]:
            return
        outcome = self.files.error(
            failure
            or errors.StorageFailure(
                f"{self.paths.json.name} on disk is not wtd's state and could not be rewritten yet"
            )
        )
        for p in pending:
            if p.outcome.ok:
                p.outcome = outcome

    def _query(self, command: commands.Command) -> Outcome:
        """A read, answered from memory."""
        tracker = self.files.tracker
        assert tracker is not None
        match command:
            case (
                commands.ShowProgress()
                | commands.ShowRemaining()
                | commands.ShowNext()
                | commands.ShowTask()
                | commands.ShowPhase()
                | commands.ListTasks()
                | commands.ListClaims()
            ):
                try:
                    reply = queries.answer(tracker, command, at=now())
                except errors.WtdError as exc:
                    return self.files.error(exc)
                lines, result = self.files.told(reply.lines, reply.result)
                return Outcome(
                    ok=True,
                    lines=lines,
                    result=result,
                    tracker=self.label,
                    progress=stored_progress(tracker),
                )
        return self.files.error(
            errors.InvalidArgument(f"{type(command).__name__} is not a tracker query")
        )

    # ------------------------------------------------------------ hand edits

    async def _file_changed(self, kind: str) -> errors.WtdError | None:
        """A served file changed on disk: ignore wtd's own writes, merge the others.

        A hand edit that cannot be taken over (storage trouble while merging) is
        logged and left on disk as it is: it never takes the Store down. Returns
        that failure (None when taken over).
        """
        try:
            try:
                await self._take_over(kind)
            except CorruptJournal as exc:
                # merging reads the journal back, and found a record gone bad after its
                # append: rebuilt around the damage now (not at the next request), then
                # the edit is taken over — by the reopening, or here
                if not await self._journal_repaired(exc):
                    raise
                if self._moved(kind):
                    await self._take_over(kind)
        except errors.WtdError as exc:
            log.error("%s: hand edit of the %s not taken over: %s", self.label, kind, exc)
            return exc
        except OSError as exc:
            log.error("%s: hand edit of the %s not taken over: %s", self.label, kind, exc)
            return os_fault(exc, fp.STORE_READ, "the hand edit was not taken over", self.paths)
        return None

    async def _journal_repaired(self, exc: CorruptJournal) -> bool:
        """Repair a journal found damaged outside a request, and reopen the tracker."""
        symptom = Symptom(
            point="journal.open",
            error="CorruptJournal",
            message=exc.message,
            tracker=self.paths.name,
            workspace=str(self.paths.workspace),
        )
        outcome = await self._in_thread(self.files.repair, symptom)
        if not outcome.ok:
            return False
        self._rescan = True
        if not self.files.is_open():
            try:
                await self._in_thread(self.files.open)
            except (errors.WtdError, OSError) as failed:
                log.error("%s: not reopened after its journal was repaired: %s", self.label, failed)
                return False
        await self._publish_lines("healed", outcome.healing)
        return True

    async def _take_over(self, kind: str) -> None:
        """Read the edited file (again while a writer is caught mid-save), merge it in a
        worker thread (hand_edits.py), commit the result and tell the event stream."""
        files = self.files
        self._rescan = True
        if kind == "json":
            for _ in range(SUPERSEDED_RETRIES):
                for attempt in range(1, MID_WRITE_RETRIES + 1):
                    found = await self._in_thread(files.read_json_edit)
                    if not isinstance(found, Broken) or attempt == MID_WRITE_RETRIES:
                        break
                    await anyio.sleep(0.02 * attempt)  # a writer caught mid-save: let it finish
                taken = await self._in_thread(files.adopt_json, found)
                if isinstance(taken, SavedAgain):
                    continue
                if isinstance(taken, Healed):
                    await self._publish_lines("healed", taken.lines)
                elif isinstance(taken, Pending):
                    await self._commit([taken])
                    if not taken.outcome.ok and self._moved("json"):
                        # written again while it was committed (git, twice in a row):
                        # nothing applied; the newer file is taken over instead
                        await self._git_settled()
                        continue
                    await self._publish(taken)
                return
            # Saved again during every merge: the next commit keeps what it replaces.
            log.warning("%s: the JSON kept changing while being merged", self.label)
        elif kind == "markdown":
            for attempt in range(1, MID_WRITE_RETRIES + 1):
                item = await self._in_thread(files.merge_view, attempt)
                if item is not INCOMPLETE:
                    break
                await anyio.sleep(0.02 * attempt)  # a writer caught mid-save: let it finish
            if isinstance(item, Pending):
                await self._commit([item])
                await self._publish(item)

    async def _publish(self, item: Pending) -> None:
        await self._publish_lines(
            "changed", [*item.outcome.healing, *item.outcome.lines], item.actor
        )

    async def _publish_lines(self, kind: str, lines: list[str], actor: str = SYSTEM_ACTOR) -> None:
        if self._events is None:
            return
        tracker = self.files.tracker
        event = protocol.Event(
            seq=0,
            kind=kind,
            at="",
            tracker=self.label,
            workspace=str(self.paths.workspace),
            actor=actor,
            lines=lines,
            progress=stored_progress(tracker) if tracker is not None else None,
        )
        await self._events.send(Publish(event=event))


def _seconds_until(at: str) -> float:
    """Seconds from now until the ISO-8601 UTC ``at`` (0 when it is past)."""
    try:
        moment = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:  # not a time (a day 31 of a short month): no wake-up for it
        return float("inf")
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


def _at_opening(exc: errors.WtdError) -> errors.WtdError:
    """A fault while opening is the opening's (``store.open``), whatever step failed —
    say, the JSON write that replays what a crash left in the journal. The request
    being answered may be the retry of that very change: its outcome is unknown until
    the tracker opens (the Executor answers so), never "Change not applied"."""
    if not isinstance(exc, Fault) or exc.symptom.point in OPEN_POINTS:
        return exc
    reason = exc.message.removeprefix("Change not applied: ")
    return Fault(
        f"the tracker could not be opened: {reason}",
        msgspec.structs.replace(exc.symptom, point="store.open"),
    )
