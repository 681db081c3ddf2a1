"""Store actor: one per tracker. The only writer of that tracker's files.

It answers queries from memory and applies changes through the journal (SPEC §6):
changes that arrive together are committed together (one journal append, one fsync,
one JSON and one Markdown write — group commit), and every caller is answered only
once its change is durable and visible in both files. A change whose commit fails
is undone in memory and in the journal, so a reported failure never appears later.
A retried request id is answered from the journal instead of being applied again.

Faults are not handled here: a failed operation comes back with a ``Symptom`` and
the Executor runs the MAPE-K loop (retry, repair, escalate). Repair itself is done
here, on request, because only the Store touches the files.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import errors, gcpause, protocol
from wtd.actors import answer
from wtd.healing.analysis import Symptom
from wtd.messages import (
    Apply,
    EventsMessage,
    FileChanged,
    Outcome,
    Ping,
    Publish,
    Repair,
    StoreMessage,
)
from wtd.storage import atomic, safepath, timeline, trash
from wtd.storage import failpoints as fp
from wtd.storage.backups import Backups, keep_copy, quarantine
from wtd.storage.failpoints import Failpoints
from wtd.storage.journal import CorruptJournal, Journal, JournalRecord, segment_path
from wtd.storage.plans import import_lines, import_report, read_plan
from wtd.tracker import (
    commands,
    importers,
    markdown,
    merge,
    model,
    ops,
    patch,
    queries,
    render,
)
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.store")

SYSTEM_ACTOR = "wtd"
_CHECKSUM = re.compile(r"JSON checksum:\*\* `([0-9a-f]+)`")
HAND_EDIT = "hand-edit"
_INCOMPLETE = object()  # a view caught mid-save: read it again
MID_WRITE_RETRIES = 4
INCOMPLETE_GRACE = 2.0  # seconds a view may stay half-saved before wtd renders it anew
SUPERSEDED_RETRIES = 3  # a JSON saved again while the last save was being merged
RECENT = 1000  # how far back undo, history and merge bases look in the journal
JOURNAL_SEGMENTS = 1  # rotated segments kept besides the current one (bounds memory)
OLD_SEGMENTS_LOOKED_AT = 9  # a damaged journal's segments set aside, with older versions' ones
DELETED = "deleted"  # the journal's content digest for "this tracker was deleted"
MAX_BATCH = 256
BIG_QUERY = 5000  # tasks: queries on bigger trackers are answered in a worker thread

_cmd_encoder = msgspec.json.Encoder()
_change_decoder = msgspec.json.Decoder(commands.Change)
_outcome_decoder = msgspec.json.Decoder(Outcome)


digest = model.checksum


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Fault(errors.WtdError):
    """A storage fault (not the user's mistake): carries the symptom for the MAPE-K loop."""

    code = "storage"

    def __init__(self, message: str, symptom: Symptom) -> None:
        super().__init__(message)
        self.symptom = symptom


def os_fault(exc: OSError, point: str, what: str, paths: TrackerPaths) -> Fault:
    name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    if isinstance(exc, TimeoutError):
        name = "TimeoutError"
    if isinstance(exc, TimeoutError):
        reason = "timed out"
    else:
        reason = os.strerror(exc.errno) if exc.errno else (str(exc) or name)
    return Fault(
        f"{what}: {reason}",
        Symptom(
            point=point,
            error=name,
            message=reason,
            tracker=paths.name,
            workspace=str(paths.workspace),
        ),
    )


class _Pending(msgspec.Struct, kw_only=True):
    """A change applied in memory, waiting for its batch to be made durable."""

    rid: str
    actor: str
    change: commands.Change
    at: str
    outcome: Outcome
    request: Apply | None = None  # None for the daemon's own changes
    tracker: model.Tracker | None = None  # the state after it; None when it failed or was a no-op
    undo: bytes | None = None  # the encoded Patch that reverts it


class _Edited(msgspec.Struct, kw_only=True):
    tracker: model.Tracker
    data: bytes
    # The file's stamp taken before ``data`` was read: a save that lands later has
    # another stamp, so the next check reads it instead of taking it for this one.
    stamp: atomic.Stamp | None


class _SavedMeanwhile(Exception):
    """The view was saved by hand while wtd was writing it."""


class _Broken(msgspec.Struct, kw_only=True):
    reason: str
    data: bytes


class _FileState(msgspec.Struct, kw_only=True):
    """What wtd last wrote or read of a file: lets it notice edits made by others."""

    digest: str = ""
    stamp: atomic.Stamp | None = None


def _has_records(journal: Path) -> bool:
    """Does the journal hold anything (an empty file is a journal opened, never used)?"""
    try:
        return os.stat(journal).st_size > 0
    except FileNotFoundError:
        return False


def _stamp(path: os.PathLike[str]) -> atomic.Stamp | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class Store:
    """Owns one tracker: its in-memory state, journal, backups and both files."""

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
    ) -> None:
        self._max_bytes = max_bytes
        self._max_depth = max_depth
        self.paths = paths
        self._events = events
        self._inbox = inbox
        self._fp = failpoints
        self._backups = Backups(paths.backups, keep=backups_keep)
        self._backup_every = backup_every
        self._journal_max_bytes = journal_max_bytes
        self._reset()

    def _reset(self) -> None:
        self._tracker: model.Tracker | None = None
        self._encoder = model.Encoder()  # re-encodes only the tasks a change touched
        self._renderer = render.Renderer()  # re-renders only the tasks a change touched
        self._journal: Journal | None = None
        self._json = _FileState()
        self._md = _FileState()
        self._view_dirty = False
        self._commits = 0
        self._notes: list[str] = []  # told to the next caller (e.g. what opening recovered)
        self._deleted = False
        self._view_base: model.Tracker | None = None  # the tracker the view on disk shows
        self._pending_view_merge = False  # a view edited offline, merged after opening
        self._adopted_offline = False  # the JSON was edited while wtd was not running
        self._incomplete: tuple[atomic.Stamp, float] | None = None  # a view mid-save, since
        self._imported: dict[str, object] | None = None  # counts told to the next caller
        self._imported_view = ""  # the digest of the plan imported at opening (not an edit)

    def _read(self, path: Path) -> bytes:
        """A tracker file's bytes: never through a symlink, never over the size limit."""
        return safepath.read_bytes(path, self._max_bytes)

    def _guard(self) -> None:
        """Before a write: no file or folder wtd is about to touch is a symlink (SPEC §2)."""
        for path in (self.paths.json, self.paths.markdown, self.paths.journal):
            safepath.check(path)

    @property
    def label(self) -> str:
        return str(self.paths.markdown.relative_to(self.paths.workspace))

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.paths.workspace))
        except ValueError:
            return str(path)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the inbox until it closes. Called again after a crash: state is reloaded."""
        self._close()
        self._reset()
        task_status.started()
        try:
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
                try:
                    await self._handle(batch)
                except BaseException:
                    # Fail loudly, never leave a caller hanging: the Executor asks again,
                    # and a change already journalled is answered from the journal.
                    for msg in batch:
                        if not isinstance(msg, FileChanged):
                            msg.reply_to.close()
                    raise
        finally:
            self._close()

    async def _next(self) -> StoreMessage | None:
        """The next message (None once the inbox closed). While a view sits half-saved,
        waiting ends when its grace period does, to render it anew if still so."""
        if self._incomplete is None:
            try:
                return await self._inbox.receive()
            except anyio.EndOfStream:
                return None
        wait = max(0.0, self._incomplete[1] + INCOMPLETE_GRACE - time.monotonic()) + 0.01
        with anyio.move_on_after(wait):
            try:
                return await self._inbox.receive()
            except anyio.EndOfStream:
                return None
        return FileChanged(path=str(self.paths.markdown), kind="markdown")

    def _close(self) -> None:
        if getattr(self, "_journal", None) is not None:
            assert self._journal is not None
            self._journal.close()
            self._journal = None

    # ------------------------------------------------------------ batches

    async def _handle(self, batch: list[StoreMessage]) -> None:
        if self._tracker is not None:
            # A hand edit the Watcher has not reported yet is merged before this batch
            # writes over it (two stats: cheap).
            if _stamp(self.paths.json) != self._json.stamp:
                await self._file_changed("json")
            if _stamp(self.paths.markdown) != self._md.stamp:
                await self._file_changed("markdown")
        pending: list[_Pending] = []
        for msg in batch:
            match msg:
                case Ping(reply_to=reply_to):
                    await answer(reply_to, f"store:{self.paths.name}")
                case Repair(symptom=symptom, reply_to=reply_to):
                    if pending:
                        await self._commit(pending)
                        pending = []
                    await answer(reply_to, await anyio.to_thread.run_sync(self._repair, symptom))
                case FileChanged(kind=kind):
                    if pending:
                        await self._commit(pending)
                        pending = []
                    if self._tracker is not None:
                        await self._file_changed(kind)
                case Apply(command=commands.DeleteTracker()):
                    if pending:
                        await self._commit(pending)
                        pending = []
                    if await self._answered_before(msg, finish=self._finish_delete):
                        continue
                    if await self._opened(msg):
                        outcome = await anyio.to_thread.run_sync(self._delete, msg.rid)
                        await answer(msg.reply_to, outcome)
                case Apply(command=commands.Undo()):
                    if pending:
                        await self._commit(pending)
                        pending = []
                    if await self._answered_before(msg):
                        continue
                    if await self._opened(msg):
                        undo = await anyio.to_thread.run_sync(self._journal_guarded, msg)
                        if isinstance(undo, Outcome):
                            await answer(msg.reply_to, undo)
                        else:
                            await self._commit([undo])
                case Apply(command=commands.ShowHistory() as history):
                    if pending:
                        await self._commit(pending)
                        pending = []
                    if await self._opened(msg):
                        reply = await anyio.to_thread.run_sync(self._history_guarded, history)
                        await answer(msg.reply_to, reply)
                case Apply(command=command) if isinstance(command, commands.CHANGE_TYPES):
                    if not await self._opened(msg):
                        continue
                    replayed = self._replayed(msg, pending)
                    if replayed is not None:
                        await answer(msg.reply_to, replayed)
                        continue
                    self._stage(msg, pending)
                case Apply():
                    if pending:
                        await self._commit(pending)
                        pending = []
                    if not await self._opened(msg):
                        continue
                    if isinstance(msg.command, commands.Sync):  # reads, renders, may write
                        await answer(msg.reply_to, await anyio.to_thread.run_sync(self._synced))
                    elif self._tracker is not None and len(self._tracker.tasks) > BIG_QUERY:
                        # answering takes long enough to hold up other workspaces' clients
                        reply = await anyio.to_thread.run_sync(self._query, msg.command)
                        await answer(msg.reply_to, reply)
                    else:
                        await answer(msg.reply_to, self._query(msg.command))
        if pending:
            await self._commit(pending)
        if self._view_dirty and self._tracker is not None:  # bring the view up to date
            if _stamp(self.paths.markdown) != self._md.stamp:
                await self._file_changed("markdown")  # a hand edit first: it re-renders
            else:
                await anyio.to_thread.run_sync(self._write_view)

    async def _answered_before(
        self, req: Apply, *, finish: Callable[[Outcome], None] | None = None
    ) -> bool:
        """Answer ``req`` with its first reply if its request id was already applied
        (a client retry after a lost reply): undo and delete included (SPEC §6).
        ``finish`` completes what a crash interrupted after the journal recorded it."""
        try:
            record = await anyio.to_thread.run_sync(self._find_rid, req.rid)
        except errors.WtdError as exc:
            await answer(req.reply_to, self._error(exc))
            return True
        if record is None or record.reply is None:
            return False
        log.info("request %s already applied (seq %d); answering again", req.rid, record.seq)
        outcome = _outcome_decoder.decode(record.reply)
        if finish is not None:
            try:
                await anyio.to_thread.run_sync(finish, outcome)
            except (OSError, errors.WtdError) as exc:
                log.error("%s: could not finish request %s: %s", self.label, req.rid, exc)
                await answer(req.reply_to, self._error(errors.WtdError(str(exc))))
                return True
        await answer(req.reply_to, outcome)
        return True

    def _finish_delete(self, outcome: Outcome) -> None:
        """A delete journalled just before a crash, its files not yet in the trash:
        move them there now (only when nothing happened to the tracker since)."""
        assert self._journal is not None
        result = outcome.result if isinstance(outcome.result, dict) else {}
        trash_entry = result.get("trash")
        if not outcome.ok or not isinstance(trash_entry, str):
            return
        if self._journal.last_after != DELETED:
            return  # deleted, then restored or changed since: the retry changes nothing
        files = {"tracker.json": self.paths.json, "view.md": self.paths.markdown}
        if not any(path.exists() for path in files.values()):
            return
        self._guard()
        entry = Path(trash_entry)
        if entry.parent != self.paths.state / "trash":
            entry = trash.new_entry(self.paths.state / "trash", self.paths.name)
        trash.trash(self.paths.state / "trash", self.paths.name, files, entry=entry)
        self._close()
        self._tracker = None
        self._deleted = True
        log.warning("%s: finished a delete interrupted by a crash (%s)", self.label, entry)

    def _find_rid(self, rid: str) -> JournalRecord | None:
        if self._journal is None:
            if self._tracker is not None:  # the journal was set aside: reopen everything
                self._tracker = None
            if not self.paths.journal.exists():
                return None
            self._journal = self._open_journal()
        return self._journal.find_rid(rid)

    async def _opened(self, req: Apply) -> bool:
        """Open the tracker if needed; on failure answer ``req`` with the error."""
        if self._tracker is not None and self._journal is not None:
            return True
        if self._deleted:
            await answer(
                req.reply_to,
                self._error(
                    errors.NotFound(
                        f"Tracker {self.paths.name} was deleted; 'restore tracker' brings it back"
                    )
                ),
            )
            return False
        try:
            await anyio.to_thread.run_sync(self._open)
        except errors.WtdError as exc:
            self._close()
            self._tracker = None
            await answer(req.reply_to, self._error(exc))
            return False
        except OSError as exc:  # e.g. EMFILE reading the view: a fault, never a crash
            self._close()
            self._tracker = None
            fault = os_fault(exc, fp.STORE_READ, "the tracker could not be opened", self.paths)
            await answer(req.reply_to, self._error(fault))
            return False
        if self._pending_view_merge:
            self._pending_view_merge = False
            await self._file_changed("markdown")
        return True

    def _replayed(self, req: Apply, pending: list[_Pending]) -> Outcome | None:
        """The stored answer when this request id was already applied (a client retry)."""
        assert self._journal is not None
        record = self._journal.find_rid(req.rid)
        if record is not None and bytes(record.op) != _cmd_encoder.encode(req.command):
            return self._error(
                errors.InvalidArgument(f"request id {req.rid} was already used for another change")
            )
        if record is not None and record.reply is not None:
            log.info("request %s already applied (seq %d); answering again", req.rid, record.seq)
            return _outcome_decoder.decode(record.reply)
        if any(p.rid == req.rid for p in pending):
            return self._error(
                errors.InvalidArgument(f"request id {req.rid} repeated in one batch")
            )
        return None

    def _stage(self, req: Apply, pending: list[_Pending]) -> None:
        change: commands.Change = req.command  # type: ignore[assignment]
        base = self._staged_tracker(pending)
        at = now()
        item = _Pending(
            rid=req.rid,
            actor=req.actor,
            change=change,
            at=at,
            outcome=Outcome(ok=False),
            request=req,
        )
        try:
            applied = ops.apply(base, change, at=at, actor=req.actor)
        except errors.WtdError as exc:
            item.outcome = self._error(exc)
            pending.append(item)
            return
        lines, result = self._told(applied.lines, applied.result)
        item.outcome = Outcome(
            ok=True,
            lines=lines,
            healing=applied.healing,
            result=result,
            tracker=self.label,
            progress=_stored_progress(applied.tracker),
        )
        if applied.changed:
            item.tracker = applied.tracker
            item.undo = _inverse(base, applied.tracker, req.actor, at)
        pending.append(item)

    def _staged_tracker(self, pending: list[_Pending]) -> model.Tracker:
        assert self._tracker is not None
        for item in reversed(pending):
            if item.tracker is not None:
                return item.tracker
        return self._tracker

    async def _commit(self, pending: list[_Pending]) -> None:
        new = self._staged_tracker(pending)
        applied = [p for p in pending if p.tracker is not None]
        if applied:
            try:
                healing, notes = await anyio.to_thread.run_sync(self._commit_sync, new, applied)
            except errors.WtdError as exc:
                failure = self._error(exc)
                for p in applied:
                    p.outcome = failure
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

    def _synced(self) -> Outcome:
        """``sync`` (in a worker thread: it reads, renders and may write)."""
        try:
            return self._sync()
        except errors.WtdError as exc:
            return self._error(exc)
        except OSError as exc:
            return self._error(os_fault(exc, fp.STORE_READ, "Sync failed", self.paths))

    def _query(self, command: commands.Command) -> Outcome:
        assert self._tracker is not None
        tracker = self._tracker
        match command:
            case (
                commands.ShowProgress()
                | commands.ShowRemaining()
                | commands.ShowNext()
                | commands.ShowTask()
                | commands.ShowPhase()
                | commands.ListTasks()
            ):
                try:
                    reply = queries.answer(tracker, command)
                except errors.WtdError as exc:
                    return self._error(exc)
                lines, result = self._told(reply.lines, reply.result)
                return Outcome(
                    ok=True,
                    lines=lines,
                    result=result,
                    tracker=self.label,
                    progress=_stored_progress(tracker),
                )
        return self._error(
            errors.InvalidArgument(f"{type(command).__name__} is not a tracker query")
        )

    def _told(self, lines: list[str], result: object) -> tuple[list[str], object]:
        """A reply's lines and result with what opening found for the first caller: its
        notes first (an import's summary, recovered changes…), and an import's counts
        in a dict result under ``imported``."""
        notes, self._notes = self._notes, []
        imported, self._imported = self._imported, None
        if imported is not None and isinstance(result, dict):
            result = {**result, "imported": imported}
        return [*notes, *lines], result

    def _error(self, exc: errors.WtdError) -> Outcome:
        return Outcome(
            ok=False,
            error=protocol.ErrorInfo(
                code=exc.code, message=exc.message, suggestions=exc.suggestions
            ),
            tracker=self.label,
            symptom=exc.symptom if isinstance(exc, Fault) else None,
        )

    # ------------------------------------------------------- writes (thread)

    def _commit_sync(
        self, new: model.Tracker, applied: list[_Pending]
    ) -> tuple[list[str], list[str]]:
        """Make ``new`` durable: journal, then JSON, then the view.

        Returns (healing, notes) for the callers. Raises Fault with nothing applied.
        """
        assert self._journal is not None
        self._guard()
        notes: list[str] = []
        data = self._encode(new)
        after = digest(data)
        first_seq = self._journal.last_seq + 1
        records = [
            JournalRecord(
                seq=first_seq + i,
                rid=p.rid,
                at=p.at,
                actor=p.actor,
                before=self._json.digest if i == 0 else "",
                after=after if i == len(applied) - 1 else "",
                op=msgspec.Raw(_cmd_encoder.encode(p.change)),
                reply=msgspec.Raw(_cmd_encoder.encode(p.outcome)),
                undo=msgspec.Raw(p.undo) if p.undo is not None else None,
            )
            for i, p in enumerate(applied)
        ]
        try:
            self._journal.append(records)
        except OSError as exc:
            raise os_fault(
                exc,
                fp.JOURNAL_APPEND,
                "Change not applied: the journal could not be written",
                self.paths,
            ) from exc
        except errors.StorageFailure as exc:
            error = self._journal.read_only_errno or "JournalUnusable"
            raise Fault(
                f"Change not applied: {exc.message}",
                self._symptom(fp.JOURNAL_APPEND, error, exc.message),
            ) from exc
        try:
            healing, stamp = self._write_json(data, notes)
        except errors.WtdError:
            self._journal.rollback_last()
            raise
        self._tracker = new
        self._json = _FileState(digest=after, stamp=stamp)
        try:
            self._journal.maybe_rotate()
        except OSError as exc:
            log.warning("%s: journal rotation failed: %s", self.label, exc)
        self._commits += 1
        if self._commits % self._backup_every == 0:
            self._backup(data, after, "periodic")
        notes.extend(self._write_view())
        return healing, notes

    def _write_json(
        self, data: bytes, notes: list[str] | None = None
    ) -> tuple[list[str], atomic.Stamp]:
        """Write the SSOT and check it reads back whole; one rewrite if it does not.

        Returns (healing, stamp of the file written). With ``notes``: just before the
        file is replaced, a JSON someone else saved since wtd's last write is kept
        and ``notes`` says where, so a save can only be missed by landing within the
        rename itself.
        """
        name = self.paths.json.name

        expected = self._json.stamp  # what is on disk, unless someone saved meanwhile
        damaged: atomic.Stamp | None = None

        def keep_foreign() -> None:
            assert notes is not None
            notes.extend(self._check_json_edited(expected))

        for attempt in (1, 2):
            try:
                stamp = atomic.atomic_write(
                    self.paths.json,
                    data,
                    failpoints=self._fp,
                    point=fp.STORE_WRITE,
                    before_replace=keep_foreign if notes is not None else None,
                )
            except OSError as exc:
                self._restore_json(own=damaged)
                raise os_fault(
                    exc,
                    fp.STORE_WRITE,
                    f"Change not applied: {name} could not be written",
                    self.paths,
                ) from exc
            damaged = expected = stamp  # a second attempt replaces this damaged write
            if stamp[1] == len(data):
                if attempt == 1:
                    return [], stamp
                return [
                    f"✓ Issue: {name} read back damaged after writing (checksum mismatch)",
                    "✓ Recovery: Rewrote it from the journalled state",
                ], stamp
            log.error("%s: %s read back damaged after writing", self.label, name)
        self._restore_json(own=damaged)
        raise Fault(
            f"Change not applied: {name} keeps reading back damaged after writing",
            self._symptom(fp.STORE_WRITE, "ChecksumMismatch", "written file reads back damaged"),
        )

    def _restore_json(self, own: atomic.Stamp | None = None) -> None:
        """After a failed write, make sure the SSOT on disk is the last good state.

        ``own``: the stamp of a damaged file wtd itself just wrote. A file that is
        neither that nor wtd's last write is someone's save: it is left as it is, for
        the Watcher to take over (never written over without a copy).
        """
        if self._tracker is None:
            return
        stamp = _stamp(self.paths.json)
        if stamp is not None and stamp not in (self._json.stamp, own):
            log.warning("%s: a failed write left a hand-saved JSON in place", self.label)
            return
        data = self._encode(self._tracker)
        try:
            if self._read(self.paths.json) == data:
                return
        except (OSError, errors.WtdError):
            pass
        try:
            stamp = atomic.atomic_write(self.paths.json, data)
            self._json = _FileState(digest=digest(data), stamp=stamp)
        except OSError as exc:  # the journal still has it; the next open repairs
            log.error("%s: could not restore %s: %s", self.label, self.paths.json.name, exc)

    def _symptom(self, point: str, error: str, message: str) -> Symptom:
        return Symptom(
            point=point,
            error=error,
            message=message,
            tracker=self.paths.name,
            workspace=str(self.paths.workspace),
        )

    def _backup(self, data: bytes, content_digest: str, reason: str) -> None:
        try:
            self._backups.save(data, content_digest, reason=reason)
        except OSError as exc:
            log.warning("%s: backup failed: %s", self.label, exc)

    def _write_view(self, *, force: bool = False) -> list[str]:
        """Render and write the Markdown view; a failure is reported, not fatal."""
        assert self._tracker is not None
        data = self._view_bytes()
        new_digest = digest(data)
        if not force and not self._view_dirty and new_digest == self._md.digest:
            return []
        if not force and self._view_edited_since():
            # Someone saved the view after wtd last wrote it and the Watcher has not
            # merged it yet: do not write over it; merging it renders the view anew.
            self._view_dirty = True
            return [self._view_busy_note()]

        def abort_if_edited() -> None:
            # the last moment before the rename: a save that landed while wtd rendered
            # and wrote is merged (which renders the view anew), never written over
            if self._view_edited_since():
                raise _SavedMeanwhile

        try:
            notes = self._keep_edited_view()
            stamp = atomic.atomic_write(
                self.paths.markdown,
                data,
                failpoints=self._fp,
                point=fp.RENDER_WRITE,
                before_replace=None if force else abort_if_edited,
            )
            if stamp[1] != len(data):  # damaged write: once more
                stamp = atomic.atomic_write(self.paths.markdown, data)
        except _SavedMeanwhile:
            self._view_dirty = True
            return [self._view_busy_note()]
        except OSError as exc:
            self._view_dirty = True
            log.warning("%s: view not written: %s", self.label, exc)
            return [
                f"⚠ Saved, but the view {self.label} could not be written "
                f"({exc.strerror or exc}); it will be rewritten as soon as possible."
            ]
        self._view_dirty = False
        self._md = _FileState(digest=new_digest, stamp=stamp)
        self._view_base = self._tracker
        return notes

    def _view_busy_note(self) -> str:
        """What a reply says when the view was not written because someone saved it."""
        doing = "is saving it (incomplete)" if self._incomplete is not None else "saved it"
        return (
            f"⚠ Saved, but the view {self.label} could not be written yet: someone {doing}; "
            "it shows this change once that save is merged."
        )

    def _view_bytes(self) -> bytes:
        assert self._tracker is not None
        tracker, name, checksum = self._tracker, self.paths.name, self._json.digest
        with gcpause.paused():
            return self._renderer.render(tracker, name=name, checksum=checksum)

    def _encode(self, tracker: model.Tracker) -> bytes:
        with gcpause.paused():
            return self._encoder.encode(tracker)

    def _view_edited_since(self) -> bool:
        stamp = _stamp(self.paths.markdown)
        if stamp is None or stamp == self._md.stamp or not self._md.digest:
            return False
        try:
            return digest(self._read(self.paths.markdown)) != self._md.digest
        except (OSError, errors.WtdError):
            return False

    def _keep_edited_view(self) -> list[str]:
        """Before overwriting the view, keep a copy if someone else changed it."""
        stamp = _stamp(self.paths.markdown)
        if stamp is None or stamp == self._md.stamp or not self._md.digest:
            return []
        try:
            current = self._read(self.paths.markdown)
        except (OSError, errors.WtdError):
            return []
        if digest(current) == self._md.digest:
            return []
        kept = self.paths.conflicts / f"{now().replace(':', '')}-{self.paths.name}.md"
        atomic.atomic_write(kept, current)
        log.warning("%s: hand-edited view kept at %s", self.label, kept)
        return [
            f"⚠ {self.label} had edits that were not made through wtd; "
            f"your copy is kept at {self._rel(kept)}"
        ]

    def _check_json_edited(self, expected: atomic.Stamp | None) -> list[str]:
        """Before writing, keep (in quarantine) a JSON someone else wrote since wtd did.

        ``expected``: the stamp of the file wtd last put there.
        """
        stamp = _stamp(self.paths.json)
        if stamp == expected:
            return []
        try:
            data = self._read(self.paths.json)
        except FileNotFoundError:
            return [f"⚠ {self.paths.json.name} was deleted; rewritten from wtd's state"]
        if digest(data) == self._json.digest:
            self._json.stamp = stamp
            return []
        where = keep_copy(
            data,
            self.paths.json.name,
            self.paths.quarantine,
            reason="changed outside wtd while it was serving",
        )
        return [
            f"⚠ {self.paths.json.name} was changed outside wtd; that copy is kept at "
            f"{self._rel(where)} and wtd's state was written over it"
        ]

    def _sync(self) -> Outcome:
        """Reconcile now: the SSOT on disk must be what wtd holds; the view is re-rendered."""
        assert self._journal is not None
        if self._journal.read_only is not None:
            raise Fault(
                f"Nothing synced: {self._journal.read_only}",
                self._symptom(
                    fp.JOURNAL_APPEND, self._journal.read_only_errno, self._journal.read_only
                ),
            )
        healing: list[str] = []
        on_disk = self._read_disk_json()
        if on_disk is not None and digest(on_disk) != self._json.digest:
            healing = self._repair_from_memory(on_disk)
        stale = self._view_stale()
        notes = self._write_view(force=stale)
        failed = any(n.startswith("⚠ Saved") and "written yet" not in n for n in notes)
        if stale and not failed:
            healing += [
                "✓ Issue: JSON and Markdown out of sync",
                "✓ Recovery: JSON is SSOT, regenerating Markdown",
                "✓ Result: Markdown regenerated from JSON (0 data loss)",
            ]
        lines = (
            notes
            if (notes or healing)
            else [f"In sync: {self.label} matches {self.paths.json.name}"]
        )
        return Outcome(
            ok=not failed,
            lines=lines,
            healing=healing,
            result={"regenerated": stale and not failed, "repaired": bool(healing) and not stale},
            tracker=self.label,
            error=protocol.ErrorInfo(code="storage", message=notes[-1]) if failed else None,
        )

    def _read_disk_json(self) -> bytes | None:
        try:
            return atomic.read_bytes(
                self.paths.json, failpoints=self._fp, point=fp.STORE_READ, max_bytes=self._max_bytes
            )
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise os_fault(
                exc, fp.STORE_READ, f"{self.paths.json.name} could not be read", self.paths
            ) from exc

    def _rewrite_json(self) -> None:
        """Write wtd's state over the JSON on disk (already kept where needed)."""
        assert self._tracker is not None
        data = self._encode(self._tracker)
        try:
            _, stamp = self._write_json(data)
        except Fault as exc:  # the journal has the state; the next change writes it
            log.warning("%s: %s", self.label, exc)
            return
        self._json = _FileState(digest=digest(data), stamp=stamp)

    def _repair_from_memory(self, on_disk: bytes) -> list[str]:
        """The SSOT on disk differs from wtd's state: keep it aside and rewrite it."""
        name = self.paths.json.name
        kept = ""
        if on_disk:
            where = keep_copy(
                on_disk,
                self.paths.json.name,
                self.paths.quarantine,
                reason="differed from wtd's state",
            )
            kept = f"; the file found is kept at {self._rel(where)}"
        assert self._tracker is not None
        data = self._encode(self._tracker)
        _, stamp = self._write_json(data)
        self._json = _FileState(digest=digest(data), stamp=stamp)
        issue = "missing" if not on_disk else "not what wtd last wrote"
        return [
            f"✓ Issue: {name} is {issue}",
            f"✓ Recovery: Rewrote it from wtd's journalled state{kept}",
            "✓ Result: Tracker restored (0 acknowledged changes lost)",
        ]

    def _view_stale(self) -> bool:
        try:
            current = self._read(self.paths.markdown)
        except FileNotFoundError:
            return True
        assert self._tracker is not None
        return current != self._view_bytes()

    # ------------------------------------------------------------ opening

    def _open(self) -> None:
        """Load the SSOT, open the journal, replay what the file misses, render the view.

        Raises Fault (with a symptom the Analyzer can classify) or NotFound.
        """
        paths = self.paths
        self._guard()
        # A plan without its JSON is read first: one that is refused leaves nothing
        # behind (no journal, no copy, no JSON, the plan as it was).
        plan = self._plan_to_import()
        self._journal = self._open_journal()
        stamp = _stamp(paths.json)  # before reading: a save landing later is seen as one
        try:
            data = atomic.read_bytes(
                paths.json, failpoints=self._fp, point=fp.STORE_READ, max_bytes=self._max_bytes
            )
        except FileNotFoundError:
            if self._journal.last_after == DELETED:
                raise errors.NotFound(
                    f"Tracker {paths.name} was deleted; 'restore tracker' brings it back"
                ) from None
            if self._journal.last_seq or self._backups.newest():
                raise Fault(
                    f"{self._rel(paths.json)} is missing",
                    self._symptom("store.open", "MissingSSOT", "the tracker JSON was deleted"),
                ) from None
            if plan is None:
                raise errors.NotFound(f"No tracker {paths.name!r} in {paths.workspace}") from None
            data = self._write_import(*plan)
            stamp = _stamp(paths.json)
        except OSError as exc:
            raise os_fault(
                exc, fp.STORE_READ, f"{paths.json.name} could not be read", paths
            ) from exc
        on_disk = digest(data)
        raw: object = None
        try:
            with gcpause.paused():
                limits = {"max_bytes": self._max_bytes, "max_depth": self._max_depth}
                tracker = model.decode_canonical(data, self._encoder, **limits)
                if tracker is None:  # not as wtd writes it: the general path
                    raw = msgspec.json.decode(data)
                    tracker = model.from_raw(raw, **limits)
        except model.LimitExceeded as exc:
            # refused and left as it is: never "repaired" over (it may be a real, big
            # tracker); the user decides
            raise errors.LimitRefused(
                f"Refused: {self._rel(paths.json)}: {exc} ([storage] max_file_bytes, "
                "max_depth); the file was left as it is"
            ) from None
        except msgspec.DecodeError as exc:
            raise Fault(
                f"{self._rel(paths.json)} is not valid JSON: {exc}",
                self._symptom("store.open", "DecodeError", str(exc)),
            ) from exc
        except RecursionError:
            raise Fault(
                f"{self._rel(paths.json)} nests deeper than wtd reads "
                f"([storage] max_depth = {self._max_depth})",
                self._symptom("store.open", "TrackerError", "nested too deep"),
            ) from None
        except model.TrackerError as exc:
            raise Fault(
                f"{self._rel(paths.json)} is not a valid tracker: {exc}",
                self._symptom("store.open", "TrackerError", str(exc)),
            ) from exc
        is_v1 = isinstance(raw, dict) and "schema_version" not in raw
        self._backup(data, on_disk, "v1 before migration" if is_v1 else "open")
        self._adopt(tracker, on_disk, stamp)
        if is_v1:
            self._apply_system(commands.Migrate())
        self._fit_schema()
        if model.stale_progress(self._loaded) is not None:
            self._apply_system(commands.CorrectProgress())
        self._finish_open()

    def _apply_system(self, change: commands.Change) -> None:
        """The daemon's own fix-ups at open: best effort, retried at the next open.

        Queries derive progress anyway, and the next change writes the whole tracker,
        so a fix-up that cannot be written now only waits.
        """
        try:
            self._commit_system(change)
        except Fault as exc:
            log.warning("%s: %s not written yet: %s", self.label, type(change).__name__, exc)

    def _fit_schema(self) -> None:
        """Adapt, at opening, what the v2 schema cannot hold (a file written by another
        tool or an older wtd, or edited while wtd was away): journalled as wtd's own
        change, after the backup opening took, and told to the next caller."""
        fitted, lines = model.fit_schema(self._loaded)
        if not lines:
            return
        summary = [f"Adapted to the v2 schema: {line}" for line in lines]
        change = patch.diff(fitted, self._loaded, reason="adapted to the v2 schema")
        self._apply_system(msgspec.structs.replace(change, summary=summary))
        self._notes.extend(summary)
        log.info("%s: %s", self.label, "; ".join(summary))

    def _plan_to_import(self) -> tuple[bytes, importers.ImportResult] | None:
        """The view's bytes and what they import as, when the tracker is a plan without
        its JSON and with no past (no journal, no backup): a hand-written plan. Raises
        NothingToImport when no task is found in it (nothing is written)."""
        paths = self.paths
        if paths.json.exists() or self._backups.newest() or _has_records(paths.journal):
            return None
        try:
            text = self._read(paths.markdown)
        except FileNotFoundError:
            return None
        result = read_plan(
            text,
            title_hint=paths.name.replace("-", " ").replace("_", " ").title(),
            source=self._rel(paths.markdown),
            max_bytes=self._max_bytes,
        )
        return text, result

    def _write_import(self, text: bytes, result: importers.ImportResult) -> bytes:
        """Write the JSON of an imported plan, keeping the plan as it was under
        ``.ecw/imported/`` (the view rendered next replaces it)."""
        paths = self.paths
        data = self._encode(result.tracker)
        kept = paths.state / "imported" / f"{now().replace(':', '')}-{paths.name}.md"
        atomic.atomic_write(kept, text)
        atomic.atomic_write(paths.json, data)
        self._imported_view = digest(text)
        self._imported = import_report(result)
        self._notes.extend(
            [*import_lines(result), f"The original plan is kept at {self._rel(kept)}"]
        )
        log.info("%s: imported from Markdown: %s", self.label, "; ".join(result.summary))
        return data

    def _open_journal(self) -> Journal:
        try:
            return Journal.open(
                self.paths.journal,
                failpoints=self._fp,
                max_bytes=self._journal_max_bytes,
                keep_segments=JOURNAL_SEGMENTS,
            )
        except CorruptJournal as exc:
            raise Fault(
                exc.message, self._symptom("journal.open", "CorruptJournal", exc.message)
            ) from exc
        except OSError as exc:
            raise os_fault(
                exc, "journal.open", "the journal could not be opened", self.paths
            ) from exc

    @property
    def _loaded(self) -> model.Tracker:
        assert self._tracker is not None
        return self._tracker

    def _adopt(self, tracker: model.Tracker, on_disk: str, stamp: atomic.Stamp | None) -> None:
        """Take ``tracker`` (with content digest ``on_disk``) as the base; replay the journal."""
        assert self._journal is not None
        self._tracker = tracker
        self._json = _FileState(digest=on_disk, stamp=stamp)
        todo = self._journal.replay_after(on_disk)
        read_only = self._journal.read_only
        if todo is None:
            if self._journal.last_seq:
                self._adopted_offline = True
                missed = self._missed_by(tracker)
                if missed:
                    # Edited while wtd was away from a copy that lagged the journal (a
                    # crash between a journal append and the JSON write): the journalled
                    # changes it missed are applied on top, never dropped.
                    log.info(
                        "%s: the JSON changed while wtd was away; %d journalled change(s) "
                        "it missed are applied on top of it",
                        self.label,
                        len(missed),
                    )
                    self._replay(missed, write=read_only is None)
                    return
                log.info("%s: the JSON changed while wtd was away; adopting it", self.label)
            if not read_only:
                self._checkpoint(on_disk, "adopted as found")
            return
        changes = [r for r in todo if not timeline.is_checkpoint(r)]
        if changes:
            self._replay(changes, write=read_only is None)
        elif todo and not read_only:  # only markers (e.g. a delete undone by restore)
            self._checkpoint(on_disk, "found again")
        if read_only:
            log.warning("%s: serving reads only: %s", self.label, read_only)

    def _missed_by(self, edited: model.Tracker) -> list[JournalRecord]:
        """The journalled changes newer than the state a file edited offline started
        from. Every change stamps ``meta.updated`` with its record's ``at`` and editors
        leave the stamp alone, so the record with that ``at`` is where the editor read."""
        assert self._journal is not None
        stamp = edited.meta.updated
        if not isinstance(stamp, str) or not stamp:
            return []
        newer: list[JournalRecord] = []
        for record in self._journal.recent(RECENT):
            if record.at == stamp and not timeline.is_checkpoint(record):
                return [r for r in reversed(newer) if not timeline.is_checkpoint(r)]
            newer.append(record)
        return []

    def _replay(self, todo: list[JournalRecord], *, write: bool = True) -> None:
        """Apply journalled changes the JSON misses; ``write=False`` (a read-only file
        system): in memory only, so reads show every acknowledged change."""
        tracker = self._loaded
        for record in todo:
            change = _change_decoder.decode(record.op)
            try:
                tracker = ops.apply(tracker, change, at=record.at, actor=record.actor).tracker
            except errors.WtdError as exc:  # on top of a file edited offline, e.g. a task
                log.warning(  # the person deleted: the file's version stands
                    "%s: journalled change #%d not applicable: %s", self.label, record.seq, exc
                )
        data = self._encode(tracker)
        after = digest(data)
        if todo[-1].after and todo[-1].after != after:
            log.warning("%s: replay produced a different state than journalled", self.label)
        if not write:
            self._tracker = tracker
            return
        _, stamp = self._write_json(data)
        self._tracker = tracker
        self._json = _FileState(digest=after, stamp=stamp)
        if after != todo[-1].after:
            self._checkpoint(after, "after replay")
        log.info("%s: replayed %d journalled change(s)", self.label, len(todo))
        self._notes.append(f"Recovered {len(todo)} journalled change(s) after a restart")

    def _checkpoint(
        self,
        content_digest: str,
        reason: str,
        *,
        rid: str | None = None,
        reply: Outcome | None = None,
    ) -> None:
        """Anchor the journal to the SSOT's current content (see commands.Checkpoint)."""
        assert self._journal is not None
        if self._journal.last_after == content_digest and rid is None:
            return
        at = now()
        change = commands.Checkpoint(reason=reason)
        record = JournalRecord(
            seq=self._journal.last_seq + 1,
            rid=rid,
            at=at,
            actor=SYSTEM_ACTOR,
            before="",
            after=content_digest,
            op=msgspec.Raw(_cmd_encoder.encode(change)),
            reply=msgspec.Raw(_cmd_encoder.encode(reply)) if reply is not None else None,
        )
        try:
            self._journal.append([record])
        except OSError as exc:
            raise os_fault(
                exc, fp.JOURNAL_APPEND, "the journal could not be written", self.paths
            ) from exc
        except errors.StorageFailure as exc:
            raise Fault(
                f"the journal could not be written: {exc.message}",
                self._symptom(fp.JOURNAL_APPEND, "JournalUnusable", exc.message),
            ) from exc

    def _finish_open(self) -> None:
        paths = self.paths
        ops.prime(self._loaded)
        assert self._journal is not None
        if self._journal.read_only is not None:  # nothing can be written: serve reads
            self._md = _FileState(digest="", stamp=_stamp(paths.markdown))
            self._view_base = self._tracker
            self._notes.append(
                f"⚠ {self._rel(paths.state)} cannot be written "
                f"({self._journal.read_only_errno}): reads only; changes are refused"
            )
            return
        stamp = _stamp(paths.markdown)
        try:
            text = self._read(paths.markdown)
        except FileNotFoundError:
            self._md = _FileState(digest="", stamp=None)
            self._notes.extend(self._write_view(force=True))
            return
        self._md = _FileState(digest=digest(text), stamp=stamp)
        if not self._view_stale():
            self._view_base = self._tracker
            return
        if self._imported_view and self._imported_view == self._md.digest:
            # the plan just imported: the tracker holds it (and a copy was kept), so the
            # view is rendered over it with no "edits not made through wtd" copy
            self._imported_view = ""
            self._notes.extend(self._write_view(force=True))
            return
        rendered_from = _CHECKSUM.search(text.decode("utf-8", errors="replace"))
        if (
            rendered_from is not None
            and not self._adopted_offline  # both files edited offline: keep the view aside
            and (
                rendered_from.group(1) == self._json.digest
                or self._tracker_at(rendered_from.group(1)) is not None
            )
        ):
            # edited while wtd was not running, from a view the journal can rebuild: merge
            self._view_base = self._tracker
            self._md = _FileState()  # so that the merge reads it as an edit
            self._pending_view_merge = True
            return
        self._md = _FileState(digest="unknown")  # an older or foreign view: keep a copy, render
        self._notes.extend(self._write_view(force=True))

    def _commit_system(self, change: commands.Change) -> None:
        at = now()
        applied = ops.apply(self._loaded, change, at=at, actor=SYSTEM_ACTOR)
        if not applied.changed:
            return
        item = _Pending(
            rid=f"wtd-{type(change).__name__}-{at}",
            actor=SYSTEM_ACTOR,
            change=change,
            at=at,
            outcome=Outcome(ok=True, lines=applied.lines, tracker=self.label),
            tracker=applied.tracker,
        )
        _healing, notes = self._commit_sync(applied.tracker, [item])
        self._notes.extend(notes)
        log.info("%s: %s", self.label, "; ".join(applied.lines))

    def _delete(self, rid: str | None = None) -> Outcome:
        """Move both files to ``.ecw/trash/`` (the journal and backups stay).

        The journal's "deleted" marker carries the request id and the reply, so a
        retried request is answered again instead of failing with "not found".
        """
        files = {"tracker.json": self.paths.json, "view.md": self.paths.markdown}
        entry = trash.new_entry(self.paths.state / "trash", self.paths.name)
        outcome = Outcome(
            ok=True,
            lines=[
                f"Deleted tracker {self.paths.name}: its files are kept in {self._rel(entry)}",
                "Bring it back with: restore tracker",
            ],
            result={"deleted": self.paths.name, "trash": str(entry)},
            tracker=self.label,
        )
        try:
            self._guard()
            # first, so that opening it later is not a repair
            self._checkpoint(DELETED, "deleted", rid=rid, reply=outcome)
            trash.trash(self.paths.state / "trash", self.paths.name, files, entry=entry)
        except OSError as exc:
            return self._error(os_fault(exc, "trash", "Tracker not deleted", self.paths))
        except errors.WtdError as exc:
            return self._error(exc)
        self._close()
        self._tracker = None
        self._deleted = True
        log.warning("%s: deleted; files kept in %s", self.label, entry)
        return outcome

    # ------------------------------------------------------------ hand edits

    async def _file_changed(self, kind: str) -> None:
        """A served file changed on disk: ignore wtd's own writes, merge the others.

        A hand edit that cannot be taken over (storage trouble while merging) is
        logged and left on disk as it is: it never takes the Store down.
        """
        try:
            await self._take_over(kind)
        except (errors.WtdError, OSError) as exc:
            log.error("%s: hand edit of the %s not taken over: %s", self.label, kind, exc)

    async def _take_over(self, kind: str) -> None:
        if kind == "json":
            for _ in range(SUPERSEDED_RETRIES):
                for attempt in range(1, MID_WRITE_RETRIES + 1):
                    found = await anyio.to_thread.run_sync(self._read_json_edit)
                    if not isinstance(found, _Broken) or attempt == MID_WRITE_RETRIES:
                        break
                    await anyio.sleep(0.02 * attempt)  # a writer caught mid-save: let it finish
                if await self._adopt_json(found):
                    return
            # Saved again during every merge: the next commit keeps what it replaces.
            log.warning("%s: the JSON kept changing while being merged", self.label)
        elif kind == "markdown":
            for attempt in range(1, MID_WRITE_RETRIES + 1):
                item = await anyio.to_thread.run_sync(self._merge_view, attempt)
                if item is not _INCOMPLETE:
                    break
                await anyio.sleep(0.02 * attempt)  # a writer caught mid-save: let it finish
            if isinstance(item, _Pending):
                await self._commit([item])
                await self._publish(item)

    def _read_json_edit(self) -> _Edited | _Broken | None:
        """The JSON on disk, when it is not what wtd last wrote (None: it is)."""
        stamp = _stamp(self.paths.json)
        if stamp == self._json.stamp:
            return None
        try:
            data = self._read(self.paths.json)
        except FileNotFoundError:
            return _Broken(reason="deleted", data=b"")
        except safepath.TooLarge as exc:
            # kept aside whole (it is too big to copy through memory), then rewritten
            quarantine(self.paths.json, self.paths.quarantine, reason=exc.message)
            return _Broken(reason=exc.message, data=b"")
        except OSError as exc:
            return _Broken(reason=str(exc), data=b"")
        if digest(data) == self._json.digest:
            self._json.stamp = stamp
            return None
        try:
            with gcpause.paused():
                edited = model.decode(data, max_bytes=self._max_bytes, max_depth=self._max_depth)
            return _Edited(tracker=edited, data=data, stamp=stamp)
        except model.TrackerError as exc:
            return _Broken(reason=str(exc), data=data)
        except RecursionError:
            return _Broken(reason="the edited JSON nests too deep", data=data)

    async def _adopt_json(self, found: _Edited | _Broken | None) -> bool:
        """Take over the edited JSON ``found``. False when it was saved again meanwhile
        (nothing done: the newer save is to be read and merged instead)."""
        if found is None:
            return True
        if isinstance(found, _Broken):
            healing = await anyio.to_thread.run_sync(self._repair_from_memory, found.data)
            log.warning("%s: hand-edited JSON unusable (%s): %s", self.label, found.reason, healing)
            await self._publish_lines("healed", [f"✓ Issue: {found.reason}", *healing[1:]])
            return True
        base = self._loaded
        change, conflicts, stale, fitted = await anyio.to_thread.run_sync(
            self._merge_json, found, base
        )
        if _stamp(self.paths.json) != found.stamp:
            return False  # saved again while this one was merged
        if stale:
            # every value it changed is one wtd had before and has changed since: the
            # save of an older copy. Nothing is taken, nothing is thrown away.
            kept = keep_copy(
                found.data,
                self.paths.json.name,
                self.paths.conflicts,
                reason="a save of an older copy: its values are older than wtd's",
            )
            self._json.stamp = found.stamp
            lines = [
                f"⚠ A save of {self.paths.json.name} held only older values than wtd's "
                f"(it was written from an older copy): not taken; kept at {self._rel(kept)}"
            ]
            log.warning("%s: %s", self.label, lines[0])
            await anyio.to_thread.run_sync(self._rewrite_json)
            await self._publish_lines("healed", lines)
            return True
        if patch.is_empty(change) and not conflicts:  # same content, other formatting
            self._json.stamp = found.stamp
            return True
        summary = [f"Adopted a hand edit of {self.paths.json.name}"]
        summary += [f"Adapted to the v2 schema: {line}" for line in fitted]
        if conflicts:
            kept = keep_copy(
                found.data, self.paths.json.name, self.paths.conflicts, reason="; ".join(conflicts)
            )
            summary += [f"⚠ Conflict: {line}" for line in conflicts]
            summary.append(f"⚠ The edited JSON is kept at {self._rel(kept)}")
        change = msgspec.structs.replace(change, summary=summary)
        at = now()
        applied = ops.apply(base, change, at=at, actor=HAND_EDIT)
        item = _Pending(
            rid=f"hand-edit-{at}",
            actor=HAND_EDIT,
            change=change,
            at=at,
            outcome=Outcome(ok=True, lines=summary, tracker=self.label),
            tracker=applied.tracker,
            undo=_inverse(base, applied.tracker, HAND_EDIT, at),
        )
        self._json.stamp = found.stamp
        self._json.digest = digest(found.data)  # the commit's check must not quarantine it
        await self._commit([item])
        await self._publish(item)
        return True

    def _merge_json(
        self, found: _Edited, base: model.Tracker
    ) -> tuple[commands.Patch, list[str], bool, list[str]]:
        """The change a hand-edited JSON makes, merged three ways (in a worker thread:
        it reads the journal and may be long on a big tracker); whether the file
        differs from wtd's state only in values older than wtd's (a stale save); and
        what was adapted to the schema (a name over 200 characters, a date-only date…:
        ``model.fit_schema``), so that what wtd writes back validates."""
        edited = found.tracker
        # The editor may have read an older JSON than wtd's latest (agents kept
        # working meanwhile): merge three ways against the state it read.
        started_from = patch.base_of(self._recent_states(), edited)
        merged, conflicts = patch.merge3(started_from, base, edited)
        merged, fitted = model.fit_schema(merged)
        if model.stale_progress(merged) is not None:
            merged = model.with_derived_progress(merged)
        change = patch.diff(merged, base, reason=f"hand edit of {self.paths.json.name}")
        stale = (
            patch.is_empty(change)
            and not conflicts
            and not patch.is_empty(patch.diff(model.with_derived_progress(edited), base, reason=""))
        )
        return change, conflicts, stale, fitted

    def _merge_view(self, attempt: int) -> _Pending | object | None:
        """Merge a hand-edited view three ways (base: the view it was rendered from).

        A view without its closing Recovery Checksum section is incomplete (caught
        mid-save, truncated, or not a view at all): it is read again, and if it stays
        so, it is kept and the view rendered anew — never taken for mass deletion.
        """
        stamp = _stamp(self.paths.markdown)
        if stamp is None:
            self._write_view(force=True)  # the view was deleted: render it again
            return None
        if stamp == self._md.stamp:
            return None
        if (
            self._incomplete is not None
            and self._incomplete[0] == stamp
            and time.monotonic() - self._incomplete[1] < INCOMPLETE_GRACE
        ):
            return None  # the same incomplete save: still waiting for its writer
        try:
            text = self._read(self.paths.markdown)
        except safepath.TooLarge as exc:
            where = quarantine(self.paths.markdown, self.paths.quarantine, reason=exc.message)
            log.warning("%s: %s; kept at %s, view rendered again", self.label, exc.message, where)
            self._md = _FileState()
            self._write_view(force=True)
            return None
        except (OSError, errors.WtdError):
            return None
        if digest(text) == self._md.digest:
            self._md.stamp = stamp
            return None
        decoded = text.decode("utf-8", errors="replace")
        if _CHECKSUM.search(decoded) is None:
            if attempt < MID_WRITE_RETRIES:
                return _INCOMPLETE
            if not decoded.lstrip("\ufeff \n").startswith("# Work Tracker"):
                self._incomplete = None  # not the start of a view: damage, not a slow save
                log.warning("%s: edited view is not a view; kept, and rendered again", self.label)
                self._md = _FileState(digest="incomplete")  # _write_view keeps a copy first
                self._write_view(force=True)
                return None
            # A writer may pause mid-save for a while (an editor, a slow script): its
            # file is left alone — changes meanwhile reach the JSON, and the view once
            # the save is complete — until it has stayed incomplete for a grace period.
            clock = time.monotonic()
            if self._incomplete is None or self._incomplete[0] != stamp:
                self._incomplete = (stamp, clock)
            if clock - self._incomplete[1] < INCOMPLETE_GRACE:
                return None
            log.warning("%s: edited view is incomplete; kept, and rendered again", self.label)
            self._incomplete = None
            self._md = _FileState(digest="incomplete")  # _write_view keeps a copy first
            self._write_view(force=True)
            return None
        self._incomplete = None
        return self._merge_markdown(text, stamp)

    def _merge_markdown(self, text: bytes, stamp: atomic.Stamp | None) -> _Pending | None:
        """Three-way merge of a hand-edited view into the JSON, field by field.

        Base: the tracker the view was rendered from. Where the JSON changed the same
        field since, the JSON wins and the view's value is kept as a conflict record
        (journalled, so ``history`` shows it). Text that maps to nothing is kept in a
        copy of the edited file under ``.ecw/conflicts/``. Returns the change to commit.
        """
        ours = self._loaded
        decoded = text.decode("utf-8", errors="replace")
        rendered_from = _CHECKSUM.search(decoded)
        base = self._view_base or ours
        if rendered_from is not None and rendered_from.group(1) != self._json.digest:
            # the editor started from an older view: merge against the state it showed
            older = self._tracker_at(rendered_from.group(1))
            if older is not None:
                base = older
        with gcpause.paused():
            edited = markdown.parse_view(decoded)
            edits = markdown.diff_views(markdown.view_of(base), edited)
        at = now()
        result = merge.merge(
            base, ours, [e for e in edits if not isinstance(e, markdown.Unmapped)], at=at
        )
        unmapped = [e for e in edits if isinstance(e, markdown.Unmapped)] + list(result.unmapped)
        lines = [f"Merged a hand edit of {self.label}", *result.applied]
        if result.conflicts or unmapped:
            kept = self.paths.conflicts / f"{at.replace(':', '')}-{self.paths.name}.md"
            atomic.atomic_write(kept, text)  # may fail: then the edited view stays as it is
            for conflict in result.conflicts:
                lines.append(
                    f"⚠ Conflict: {conflict.task_id} {conflict.field}: the JSON's "
                    f"{conflict.json_value!r} kept, the view had {conflict.markdown_value!r}"
                    + (f" ({conflict.reason})" if conflict.reason else "")
                )
            for fragment in unmapped[:10]:
                lines.append(f"⚠ Not understood (line {fragment.line}): {fragment.text[:80]!r}")
            lines.append(f"⚠ The edited view is kept at {self._rel(kept)}")
        self._md = _FileState(digest=digest(text), stamp=stamp)  # the edit itself: no copy
        if not result.changed and not result.conflicts and not unmapped:
            self._write_view(force=True)  # nothing to take over (e.g. only layout changed)
            return None
        change = msgspec.structs.replace(
            patch.diff(result.tracker, ours, reason=f"hand edit of {self.label}"), summary=lines
        )
        applied = ops.apply(ours, change, at=at, actor=HAND_EDIT)
        log.info("%s: %s", self.label, " / ".join(lines))
        return _Pending(
            rid=f"hand-edit-{at}",
            actor=HAND_EDIT,
            change=change,
            at=at,
            outcome=Outcome(ok=True, lines=lines, tracker=self.label),
            tracker=applied.tracker,  # committed even when unchanged: history keeps the record
            undo=_inverse(ours, applied.tracker, HAND_EDIT, at),
        )

    def _recent_states(self, limit: int = 50) -> list[model.Tracker]:
        assert self._journal is not None
        return timeline.states_back(self._loaded, self._journal.recent(limit * 2), limit)

    def _tracker_at(self, content_digest: str) -> model.Tracker | None:
        assert self._journal is not None
        return timeline.tracker_at(self._loaded, self._journal.recent(RECENT), content_digest)

    async def _publish(self, item: _Pending) -> None:
        await self._publish_lines(
            "changed", [*item.outcome.healing, *item.outcome.lines], item.actor
        )

    async def _publish_lines(self, kind: str, lines: list[str], actor: str = SYSTEM_ACTOR) -> None:
        if self._events is None:
            return
        event = protocol.Event(
            seq=0,
            kind=kind,
            at="",
            tracker=self.label,
            workspace=str(self.paths.workspace),
            actor=actor,
            lines=lines,
            progress=_stored_progress(self._tracker) if self._tracker is not None else None,
        )
        await self._events.send(Publish(event=event))

    # ------------------------------------------------------------ undo, history

    def _journal_damaged(self, exc: CorruptJournal) -> Outcome:
        """A damaged journal found while reading back through it: the MAPE-K loop
        repairs it (as when opening finds one), the Store never crashes on it."""
        return self._error(
            Fault(exc.message, self._symptom("journal.open", "CorruptJournal", exc.message))
        )

    def _journal_guarded(self, req: Apply) -> _Pending | Outcome:
        try:
            return self._undo_change(req)
        except CorruptJournal as exc:
            return self._journal_damaged(exc)

    def _history_guarded(self, query: commands.ShowHistory) -> Outcome:
        try:
            return self._history(query)
        except CorruptJournal as exc:
            return self._journal_damaged(exc)

    def _undo_change(self, req: Apply) -> _Pending | Outcome:
        """The newest change not yet undone, reverted (as a Patch to journal), or why not."""
        assert self._journal is not None
        target = timeline.undo_target(self._journal.recent(RECENT), skip_actor=SYSTEM_ACTOR)
        if target is None:
            return self._error(errors.InvalidArgument("Nothing to undo"))
        undo = req.command
        if isinstance(undo, commands.Undo) and undo.by_subagent and timeline.guarded(target):
            return self._error(
                errors.Denied(
                    f"Denied: subagents may not undo a guarded change (#{target.seq}: "
                    f"{timeline.op_name(target)} by {target.actor}). "
                    "Ask the main agent or the user to do it."
                )
            )
        inverse = timeline.inverse_of(target)
        assert inverse is not None
        what = "; ".join(timeline.reply_lines(target)) or timeline.op_name(target)
        summary = [f"Undid #{target.seq} ({target.actor}, {target.at[:19]}Z): {what}"]
        change = msgspec.structs.replace(
            inverse, undo_of=target.seq, reason=f"undo of #{target.seq}", summary=summary
        )
        base = self._loaded
        at = now()
        applied = ops.apply(base, change, at=at, actor=req.actor)
        outcome = Outcome(
            ok=True,
            lines=applied.lines,
            result={"undone": target.seq, "actor": target.actor},
            tracker=self.label,
            progress=_stored_progress(applied.tracker),
        )
        return _Pending(
            rid=req.rid,
            actor=req.actor,
            change=change,
            at=at,
            outcome=outcome,
            request=req,
            tracker=applied.tracker,
            undo=_inverse(base, applied.tracker, req.actor, at),
        )

    def _history(self, query: commands.ShowHistory) -> Outcome:
        """The audit trail from the journal: who changed what, when (newest last)."""
        assert self._journal is not None
        rows = timeline.history(
            self._journal.recent(RECENT), task_id=query.task_id, limit=query.limit
        )
        if not rows:
            return Outcome(
                ok=True, lines=["No changes recorded yet."], result=[], tracker=self.label
            )
        lines = timeline.history_lines(rows)
        title = f"History of task {query.task_id}" if query.task_id else "History"
        return Outcome(
            ok=True, lines=[f"{title} ({self.label}):", *lines], result=rows, tracker=self.label
        )

    # ------------------------------------------------------------ repair

    def _repair(self, symptom: Symptom) -> Outcome:
        """Rebuild the SSOT (or the journal) so that no acknowledged change is lost."""
        try:
            if symptom.point == "journal.open":
                healing = self._repair_journal()
            elif self._tracker is not None:
                on_disk = self._read_disk_json() or b""
                if digest(on_disk) == self._json.digest:  # repaired already (queued request)
                    return Outcome(ok=True, tracker=self.label)
                healing = self._repair_from_memory(on_disk)
            elif self._still_valid():
                return Outcome(ok=True, tracker=self.label)  # repaired already: just reopen
            else:
                healing = self._repair_from_backup(symptom)
        except errors.WtdError as exc:
            log.error("%s: repair failed: %s", self.label, exc.message)
            return self._error(exc)
        except OSError as exc:
            log.error("%s: repair failed: %s", self.label, exc)
            return self._error(os_fault(exc, "repair", "Repair failed", self.paths))
        log.warning("%s: repaired: %s", self.label, " / ".join(healing))
        return Outcome(ok=True, healing=healing, tracker=self.label)

    def _still_valid(self) -> bool:
        """Does the SSOT on disk read as a valid tracker (e.g. repaired meanwhile)?"""
        try:
            model.decode(self._read(self.paths.json))
        except (OSError, errors.WtdError, model.TrackerError, RecursionError):
            return False
        return True

    def _repair_journal(self) -> list[str]:
        """Keep every segment of a damaged journal aside (the damage may be in a rotated
        one, and the current one may not exist yet) and start afresh."""
        self._close()
        # the current segment and the rotated ones, with any older ones still on disk
        segments = [self.paths.journal] + [
            segment_path(self.paths.journal, k) for k in range(1, OLD_SEGMENTS_LOOKED_AT + 1)
        ]
        kept = [
            quarantine(path, self.paths.quarantine, reason="damaged journal")
            for path in segments
            if path.exists()
        ]
        self._tracker = None  # reopened (with a fresh journal) by the request that follows
        where = ", ".join(self._rel(path) for path in kept) or "nowhere (it was gone)"
        return [
            "✓ Issue: the journal is damaged in the middle",
            f"✓ Recovery: Kept it at {where} and started a fresh journal from the tracker as it is",
        ]

    def _repair_from_backup(self, symptom: Symptom) -> list[str]:
        paths = self.paths
        journal = self._journal or self._open_journal()
        self._journal = journal
        found = self._backups.load_newest_valid(model.decode)
        if found is None:
            raise errors.WtdError(
                f"{self._rel(paths.json)} is damaged ({symptom.message}) and no valid backup "
                f"exists in {self._rel(paths.backups)}; nothing was changed"
            )
        backup, data = found
        kept = ""
        if paths.json.exists():  # a copy: the file is replaced, never missing
            where = keep_copy(
                self._read(paths.json),
                paths.json.name,
                paths.quarantine,
                reason=symptom.message or symptom.error,
            )
            kept = f"; the broken file is kept at {self._rel(where)}"
        base = digest(data)
        todo = journal.replay_after(base) or []
        tracker = model.decode(data)
        for record in todo:
            change = _change_decoder.decode(record.op)
            tracker = ops.apply(tracker, change, at=record.at, actor=record.actor).tracker
        rebuilt = self._encode(tracker)
        atomic.atomic_write(paths.json, rebuilt)
        self._tracker = None  # reopened by the request that follows
        self._close()
        what = "missing" if symptom.error == "MissingSSOT" else f"corrupted ({symptom.error})"
        return [
            f"✓ Issue: {paths.json.name} is {what}",
            f"✓ Recovery: Rebuilt from backup {backup.name} + {len(todo)} journalled change(s)"
            f"{kept}",
            "✓ Result: Tracker repaired (0 acknowledged changes lost)",
        ]


def _inverse(before: model.Tracker, after: model.Tracker, actor: str, at: str) -> bytes:
    return _cmd_encoder.encode(
        patch.diff(before, after, reason=f"undo of a change by {actor} at {at}")
    )


def _stored_progress(tracker: model.Tracker) -> int | None:
    """The overall progress ``ops.apply`` stored (kept equal to the derived one)."""
    progress = tracker.meta.progress
    value = progress.get("overall") if isinstance(progress, dict) else None
    return value if isinstance(value, int) else None
