"""Store actor: one per tracker. The only writer of that tracker's files.

It answers queries from memory and applies changes through the journal (SPEC §6):
changes that arrive together are committed together (one journal append, one fsync,
one JSON and one Markdown write — group commit), and every caller is answered only
once its change is durable and visible in both files. A change whose commit fails
is undone in memory and in the journal, so a reported failure never appears later.
A retried request id is answered from the journal instead of being applied again.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from wtd import errors, protocol
from wtd.messages import Apply, Outcome
from wtd.storage import atomic
from wtd.storage.backups import Backups, quarantine
from wtd.storage.failpoints import Failpoints
from wtd.storage.journal import Journal, JournalRecord
from wtd.tracker import commands, model, ops, queries, render
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.store")

SYSTEM_ACTOR = "wtd"
BACKUP_EVERY = 50  # commits between backups (plus one on every open)
MAX_BATCH = 256

_cmd_encoder = msgspec.json.Encoder()
_change_decoder = msgspec.json.Decoder(commands.Change)
_outcome_decoder = msgspec.json.Decoder(Outcome)


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def describe_os_error(exc: OSError) -> str:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{reason}{where}"


class _Pending(msgspec.Struct, kw_only=True):
    """A change applied in memory, waiting for its batch to be made durable."""

    rid: str
    actor: str
    change: commands.Change
    at: str
    outcome: Outcome
    request: Apply | None = None  # None for the daemon's own changes
    tracker: model.Tracker | None = None  # the state after it; None when it failed or was a no-op


class _FileState(msgspec.Struct, kw_only=True):
    """What wtd last wrote or read of a file: lets it notice edits made by others."""

    digest: str = ""
    stamp: tuple[int, int, int] | None = None  # (mtime_ns, size, inode)


def _stamp(path: os.PathLike[str]) -> tuple[int, int, int] | None:
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
        inbox: MemoryObjectReceiveStream[Apply],
        *,
        failpoints: Failpoints,
    ) -> None:
        self.paths = paths
        self._inbox = inbox
        self._fp = failpoints
        self._tracker: model.Tracker | None = None
        self._journal: Journal | None = None
        self._backups = Backups(paths.backups)
        self._json = _FileState()
        self._md = _FileState()
        self._view_dirty = False
        self._commits = 0
        self._notes: list[str] = []  # told to the next caller (e.g. what open repaired)

    @property
    def label(self) -> str:
        return str(self.paths.markdown.relative_to(self.paths.workspace))

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the inbox until it closes. Called again after a crash: state is reloaded."""
        self._tracker = None
        self._view_dirty = False
        task_status.started()
        try:
            async for first in self._inbox:
                batch = [first]
                while len(batch) < MAX_BATCH:
                    try:
                        batch.append(self._inbox.receive_nowait())
                    except anyio.WouldBlock:
                        break
                await self._handle(batch)
        finally:
            if self._journal is not None:
                self._journal.close()
                self._journal = None

    # ------------------------------------------------------------ batches

    async def _handle(self, batch: list[Apply]) -> None:
        try:
            await anyio.to_thread.run_sync(self._ensure_open)
        except errors.WtdError as exc:
            for req in batch:
                await _answer(req, self._error(exc))
            return
        pending: list[_Pending] = []
        for req in batch:
            if isinstance(req.command, commands.CHANGE_TYPES):
                replayed = self._replayed(req, pending)
                if replayed is not None:
                    await _answer(req, replayed)
                    continue
                self._stage(req, pending)
            else:
                if pending:
                    await self._commit(pending)
                    pending = []
                await _answer(req, self._query(req.command))
        if pending:
            await self._commit(pending)

    def _replayed(self, req: Apply, pending: list[_Pending]) -> Outcome | None:
        """The stored answer when this request id was already applied (a client retry)."""
        assert self._journal is not None
        record = self._journal.find_rid(req.rid)
        if record is not None and record.reply is not None:
            log.info("request %s already applied (seq %d); answering again", req.rid, record.seq)
            return _outcome_decoder.decode(record.reply)
        if any(p.rid == req.rid for p in pending):
            return self._error(
                errors.InvalidArgument(f"request id {req.rid} repeated in one batch")
            )
        return None

    def _stage(self, req: Apply, pending: list[_Pending]) -> None:
        assert isinstance(req.command, commands.CHANGE_TYPES)
        change: commands.Change = req.command  # type: ignore[assignment]
        base = self._staged_tracker(pending)
        at = now()
        item = _Pending(
            rid=req.rid, actor=req.actor, change=change, at=at, outcome=Outcome(ok=False)
        )
        item.request = req
        try:
            applied = ops.apply(base, change, at=at, actor=req.actor)
        except errors.WtdError as exc:
            item.outcome = self._error(exc)
            pending.append(item)
            return
        item.outcome = Outcome(
            ok=True,
            lines=applied.lines,
            healing=applied.healing,
            result=applied.result,
            tracker=self.label,
            progress=_stored_progress(applied.tracker),
        )
        if applied.changed:
            item.tracker = applied.tracker
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
                notes = await anyio.to_thread.run_sync(self._commit_sync, new, applied)
            except errors.WtdError as exc:
                failure = self._error(exc)
                for p in applied:
                    p.outcome = failure
            else:
                for p in applied:
                    p.outcome = msgspec.structs.replace(p.outcome, lines=[*p.outcome.lines, *notes])
        for p in pending:
            if p.request is not None:
                await _answer(p.request, p.outcome)

    def _query(self, command: commands.Command) -> Outcome:
        assert self._tracker is not None
        tracker = self._tracker
        match command:
            case commands.Sync():
                return self._sync()
            case (
                commands.ShowProgress()
                | commands.ShowRemaining()
                | commands.ShowNext()
                | commands.ShowTask()
                | commands.ShowPhase()
                | commands.ListTasks()
            ):
                try:
                    answer = queries.answer(tracker, command)
                except errors.WtdError as exc:
                    return self._error(exc)
                notes, self._notes = self._notes, []
                return Outcome(
                    ok=True,
                    lines=[*notes, *answer.lines],
                    result=answer.result,
                    tracker=self.label,
                    progress=model.overall_progress(tracker),
                )
        return self._error(
            errors.InvalidArgument(f"{type(command).__name__} is not a tracker query")
        )

    def _error(self, exc: errors.WtdError) -> Outcome:
        return Outcome(
            ok=False,
            error=protocol.ErrorInfo(
                code=exc.code, message=exc.message, suggestions=exc.suggestions
            ),
            tracker=self.label,
        )

    # ------------------------------------------------------- sync (thread)

    def _commit_sync(self, new: model.Tracker, applied: list[_Pending]) -> list[str]:
        """Make ``new`` durable: journal, then JSON, then the view. Returns notes for callers."""
        assert self._journal is not None
        notes = self._check_json_edited()
        data = model.encode(new)
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
            )
            for i, p in enumerate(applied)
        ]
        try:
            self._journal.append(records)
        except OSError as exc:
            raise errors.StorageFailure(
                f"Change not applied: the journal could not be written: {describe_os_error(exc)}"
            ) from exc
        try:
            atomic.atomic_write(self.paths.json, data, failpoints=self._fp, point="store.write")
        except OSError as exc:
            self._journal.rollback_last()
            raise errors.StorageFailure(
                f"Change not applied: {self.paths.json.name} could not be written: "
                f"{describe_os_error(exc)}"
            ) from exc
        self._tracker = new
        self._json = _FileState(digest=after, stamp=_stamp(self.paths.json))
        try:
            self._journal.maybe_rotate()
        except OSError as exc:
            log.warning("%s: journal rotation failed: %s", self.label, describe_os_error(exc))
        self._commits += 1
        if self._commits % BACKUP_EVERY == 0:
            self._backup(data, after, "periodic")
        notes.extend(self._write_view())
        return notes

    def _backup(self, data: bytes, content_digest: str, reason: str) -> None:
        try:
            self._backups.save(data, content_digest, reason=reason)
        except OSError as exc:
            log.warning("%s: backup failed: %s", self.label, describe_os_error(exc))

    def _write_view(self, *, force: bool = False) -> list[str]:
        """Render and write the Markdown view; a failure is reported, not fatal."""
        assert self._tracker is not None
        notes: list[str] = []
        text = render.render(self._tracker, name=self.paths.name, checksum=self._json.digest)
        data = text.encode()
        new_digest = digest(data)
        if not force and not self._view_dirty and new_digest == self._md.digest:
            return notes
        notes.extend(self._keep_edited_view())
        try:
            atomic.atomic_write(
                self.paths.markdown, data, failpoints=self._fp, point="render.write"
            )
        except OSError as exc:
            self._view_dirty = True
            log.warning("%s: view not written: %s", self.label, describe_os_error(exc))
            return [
                f"⚠ Saved, but the view {self.label} could not be written "
                f"({describe_os_error(exc)}); it will be rewritten as soon as possible."
            ]
        self._view_dirty = False
        self._md = _FileState(digest=new_digest, stamp=_stamp(self.paths.markdown))
        return notes

    def _keep_edited_view(self) -> list[str]:
        """Before overwriting the view, keep a copy if someone else changed it."""
        stamp = _stamp(self.paths.markdown)
        if stamp is None or stamp == self._md.stamp:
            return []
        try:
            current = self.paths.markdown.read_bytes()
        except OSError:
            return []
        if digest(current) == self._md.digest or not self._md.digest:
            return []
        kept = self.paths.conflicts / f"{now().replace(':', '')}-{self.paths.name}.md"
        atomic.atomic_write(kept, current)
        log.warning("%s: hand-edited view kept at %s", self.label, kept)
        return [
            f"⚠ {self.label} had edits that were not made through wtd; "
            f"your copy is kept at {kept.relative_to(self.paths.workspace)}"
        ]

    def _check_json_edited(self) -> list[str]:
        """Adopt or quarantine a JSON someone else wrote since wtd last did."""
        stamp = _stamp(self.paths.json)
        if stamp == self._json.stamp:
            return []
        try:
            data = self.paths.json.read_bytes()
        except FileNotFoundError:
            return [f"⚠ {self.paths.json.name} was deleted; rewritten from wtd's state"]
        if digest(data) == self._json.digest:
            self._json.stamp = stamp
            return []
        where = quarantine(
            self.paths.json, self.paths.quarantine, reason="edited outside wtd while it was serving"
        )
        return [
            f"⚠ {self.paths.json.name} was changed outside wtd; that copy is kept at "
            f"{where.relative_to(self.paths.workspace)} and wtd's state was written over it"
        ]

    def _sync(self) -> Outcome:
        try:
            stale = self._view_stale()
            notes = self._write_view(force=stale)
        except OSError as exc:
            return self._error(errors.StorageFailure(f"Sync failed: {describe_os_error(exc)}"))
        if stale and not notes:
            healing = [
                "✓ Issue: JSON and Markdown out of sync",
                "✓ Recovery: JSON is SSOT, regenerating Markdown",
                "✓ Result: Markdown regenerated from JSON (0 data loss)",
            ]
            return Outcome(
                ok=True,
                healing=[*healing],
                lines=[],
                tracker=self.label,
                result={"regenerated": True},
            )
        return Outcome(
            ok=not notes or not notes[0].startswith("⚠ Saved"),
            lines=notes or [f"In sync: {self.label} matches {self.paths.json.name}"],
            result={"regenerated": bool(notes)},
            tracker=self.label,
        )

    def _view_stale(self) -> bool:
        try:
            current = self.paths.markdown.read_bytes()
        except FileNotFoundError:
            return True
        assert self._tracker is not None
        text = render.render(self._tracker, name=self.paths.name, checksum=self._json.digest)
        return current != text.encode()

    # ------------------------------------------------------------ opening

    def _ensure_open(self) -> None:
        if self._tracker is not None:
            return
        paths = self.paths
        try:
            data = atomic.read_bytes(paths.json, failpoints=self._fp, point="store.read")
        except FileNotFoundError:
            if paths.markdown.exists():
                raise errors.WtdError(
                    f"{paths.json.relative_to(paths.workspace)} is missing; importing a "
                    "Markdown-only plan is not available in this version"
                ) from None
            raise errors.NotFound(f"No tracker {paths.name!r} in {paths.workspace}") from None
        except OSError as exc:
            raise errors.StorageFailure(
                f"{paths.json.name} could not be read: {describe_os_error(exc)}"
            ) from exc
        on_disk = digest(data)
        try:
            raw = msgspec.json.decode(data)
            tracker = model.from_raw(raw)
        except (msgspec.DecodeError, model.TrackerError) as exc:
            raise errors.WtdError(
                f"{paths.json.relative_to(paths.workspace)} is not a valid tracker: {exc}"
            ) from exc
        is_v1 = isinstance(raw, dict) and "schema_version" not in raw
        try:
            journal = Journal.open(paths.journal, failpoints=self._fp)
        except OSError as exc:
            raise errors.StorageFailure(
                f"the journal could not be opened: {describe_os_error(exc)}"
            ) from exc
        self._journal = journal
        self._backup(data, on_disk, "open")
        self._json = _FileState(digest=on_disk, stamp=_stamp(paths.json))
        self._md = _FileState(digest="", stamp=None)
        self._tracker = tracker
        self._replay(on_disk)
        system: list[commands.Change] = []
        if is_v1:
            system.append(commands.Migrate())
        if model.stale_progress(self._tracker) is not None:
            system.append(commands.CorrectProgress())
        for change in system:
            self._apply_system(change)
        ops.prime(self._tracker)
        if self._view_stale():
            self._md = _FileState(digest="x", stamp=_stamp(paths.markdown))
            self._notes.extend(self._write_view(force=True))
        else:
            text = paths.markdown.read_bytes()
            self._md = _FileState(digest=digest(text), stamp=_stamp(paths.markdown))

    def _replay(self, on_disk: str) -> None:
        assert self._journal is not None and self._tracker is not None
        todo = self._journal.replay_after(on_disk)
        if todo is None:
            if self._journal.last_seq:
                log.info("%s: JSON changed while wtd was away; adopting it as is", self.label)
            return
        if not todo:
            return
        tracker = self._tracker
        for record in todo:
            change = _change_decoder.decode(record.op)
            tracker = ops.apply(tracker, change, at=record.at, actor=record.actor).tracker
        data = model.encode(tracker)
        after = digest(data)
        if todo[-1].after and todo[-1].after != after:
            log.warning("%s: replay produced a different state than journalled", self.label)
        atomic.atomic_write(self.paths.json, data, failpoints=self._fp, point="store.write")
        self._tracker = tracker
        self._json = _FileState(digest=after, stamp=_stamp(self.paths.json))
        log.info("%s: replayed %d journalled change(s)", self.label, len(todo))
        self._notes.append(f"Recovered {len(todo)} journalled change(s) after a restart")

    def _apply_system(self, change: commands.Change) -> None:
        assert self._tracker is not None
        at = now()
        applied = ops.apply(self._tracker, change, at=at, actor=SYSTEM_ACTOR)
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
        self._notes.extend(self._commit_sync(applied.tracker, [item]))
        log.info("%s: %s", self.label, "; ".join(applied.lines))


def _stored_progress(tracker: model.Tracker) -> int | None:
    """The overall progress ``ops.apply`` stored (kept equal to the derived one)."""
    progress = tracker.meta.progress
    value = progress.get("overall") if isinstance(progress, dict) else None
    return value if isinstance(value, int) else None


async def _answer(req: Apply, outcome: Outcome) -> None:
    try:
        async with req.reply_to:
            await req.reply_to.send(outcome)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # the asker gave up (client gone); the change itself stands
