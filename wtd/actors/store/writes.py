"""The durable write path of one tracker, and the state it keeps of its files.

``WritePath`` holds what wtd knows of the tracker (its state in memory, the journal,
what it last wrote of each file) and writes it: a batch goes to the journal, then
the JSON, then the view (SPEC §6). The journal's fsync is the durability point: the
files are replaced atomically (every reader sees them before the reply) without
fsync, and ``settle`` checkpoints them later, off the reply path (fsync, backup,
journal rotation). It is synchronous and runs in a worker thread (a small commit on
a fast disk on the event loop: ``commit_on_loop``); ``TrackerFiles`` (files.py) adds
the operations the actor asks for.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import msgspec

from wtd import errors, gcpause
from wtd.actors.store.base import (
    JOURNAL_SEGMENTS,
    RECENT,
    SYSTEM_ACTOR,
    Fault,
    FileState,
    Pending,
    SavedMeanwhile,
    cmd_encoder,
    digest,
    error_outcome,
    now,
    os_fault,
)
from wtd.healing.analysis import Symptom
from wtd.messages import Outcome
from wtd.storage import atomic, gitrepo, safepath, timeline
from wtd.storage import failpoints as fp
from wtd.storage.backups import Backups, keep_copy
from wtd.storage.failpoints import Failpoints
from wtd.storage.journal import CorruptJournal, Journal, JournalRecord
from wtd.tracker import commands, markdown, model, ops, render
from wtd.tracker.model.structs import same_run, same_tail
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.store")

GIT_LOCK_FRESH = 10.0  # s: an index.lock older than this was left by a git that stopped

# JSON bytes from which the digest is computed beside the rendering (below: in turn)
PARALLEL_DIGEST = 256 * 1024
DIGEST_PLACEHOLDER = "\x00" * model.CHECKSUM_HEX  # as long as a digest; NUL is in no text
# A commit this small, on a disk this fast, runs on the event loop (``commit_on_loop``):
# handing it to the Store's thread costs more than it saves — two thread wake-ups, and
# the GIL passed back and forth at each of its ~20 system calls while the loop serves
# other clients (8 clients on 1k tasks, bench's driver, interleaved with 64b1d40,
# which also told the Monitor before each reply: 804–854 → 977–1,050 changes/s; 8
# workspaces with a client each: 545 → 665). The loop is then held for the commit
# (≈ 1 ms at 1k tasks, ≈ 3 ms at 10k). The thread keeps: a bigger tracker; a commit
# making more than ``ON_LOOP_ITEMS`` items anew (every task of a big phase set at
# once, a file taken over from git or an editor, an undo: each re-encodes and
# re-renders what it touched); a disk that was slow lately (``Journal.disk_slow``: for
# a minute after an append or a tracker file's replace took over 10 ms, on any tracker
# of that disk); a simulated slow disk. So the one write that finds a disk stalling
# holds up the daemon; the next ones hold up their own tracker's clients only.
ON_LOOP_MAX_BYTES = 2 * 2**20  # the JSON's size (≈ 13k tasks)
ON_LOOP_ITEMS = 256  # tasks and sub-tasks one commit makes anew (changed, added, moved)
_COMMIT_POINTS = (fp.JOURNAL_APPEND, fp.STORE_WRITE, fp.RENDER_WRITE)
_HASHER = ThreadPoolExecutor(max_workers=2, thread_name_prefix="wtd-digest")
# A commit on the loop of a JSON this big has its files' bytes written to their temp
# files in a thread while the loop renders and the journal fsyncs (writing a new
# 1.5 MB file ≈ 0.25 ms at 10k tasks, the view ≈ 0.15 ms); they are put in place in
# the same order and at the same moments as ever. Only commits on the loop use it,
# one at a time: a slow disk never holds up another tracker's writes here.
PREWRITE_MIN = PARALLEL_DIGEST
_PREWRITER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wtd-prewrite")


class Prewrite:
    """A tracker file's next bytes being written beside it by ``_PREWRITER``: ``take``
    them to put them in place, or ``drop`` them (a commit that stopped short). Either,
    once."""

    __slots__ = ("_data", "_future")

    def __init__(self, path: Path, data: bytes) -> None:
        self._data = data
        self._future: Future[atomic.Prewritten] | None = _PREWRITER.submit(
            atomic.prewrite, path, data
        )

    def take(self, data: bytes | None = None) -> atomic.Prewritten | None:
        """The temp file, if it holds these very ``data`` (None if its write failed:
        write them the usual way, which says why; or if they are other bytes: it is
        dropped)."""
        future = self._future
        if future is None:
            return None
        try:
            written = future.result()
        except Exception:
            self._future = None
            return None
        self._future = None  # (not before: interrupted while waiting, drop waits again)
        if data is not self._data:
            with contextlib.suppress(OSError):
                written.tmp.unlink()
            return None
        return written

    def drop(self) -> None:
        self.take()


def _made_anew(old: tuple[object, ...], new: tuple[object, ...]) -> int:
    """How many items of ``new`` lie between the run it shares with ``old`` from the
    front and the one from the back (the very objects: C speed, or from the splices
    that made it): what a commit of ``new`` encodes and renders afresh, at most."""
    head = same_run(old, 0, new, 0)
    tail = min(same_tail(old, new), min(len(old), len(new)) - head)
    return len(new) - head - tail


def stamp_of(path: os.PathLike[str]) -> atomic.Stamp | None:
    """A file's stamp (mtime, size, inode); None when it does not exist."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


class CheckpointJob:
    """The checkpoint taken under a steady load (``WritePath.begin_checkpoint``), run
    in a thread while changes go on: the files as wtd last wrote them, held open,
    are made durable, and when a backup is due, that JSON is read back from its open
    file and backed up (its digest checked first). Nothing else of the WritePath is
    touched (``Backups.save`` is locked); ``WritePath.end_checkpoint`` takes the
    result in, between batches. A fault is logged: the next checkpoint tries again,
    and the journal holds every change meanwhile."""

    def __init__(
        self,
        label: str,
        fds: list[int],
        json_fd: int | None,
        folders: set[Path],
        backups: Backups | None,
        content_digest: str,
        stamps: tuple[atomic.Stamp | None, atomic.Stamp | None],
        changes: int,
    ) -> None:
        self.label = label
        self.fds = fds
        self.json_fd = json_fd
        self.folders = folders
        self.backups = backups  # None: no backup due
        self.digest = content_digest
        self.stamps = stamps
        self.changes = changes  # changes counted towards the next backup when taken
        self.taken = time.monotonic()
        self.complete = len(fds) == 2  # both files were wtd's, so both are covered
        self.ok = False
        self.backed_up = False

    def run(self) -> None:
        try:
            for fd in self.fds:
                os.fsync(fd)
            for folder in self.folders:
                atomic.fsync_dir(folder)
            if self.backups is not None and self.json_fd is not None:
                data = safepath.read_fd(self.json_fd)
                if model.checksum_as(data, self.digest) == self.digest:
                    self.backups.save(data, self.digest, reason="periodic")
                    self.backed_up = True
                else:  # not what wtd wrote (written in place meanwhile): no backup of it
                    log.warning("%s: the JSON changed under the checkpoint", self.label)
            self.ok = True
        except (OSError, errors.WtdError) as exc:  # WtdError: a backups folder made unsafe
            log.warning("%s: checkpoint failed (retried later): %s", self.label, exc)
        finally:
            for fd in self.fds:
                os.close(fd)
            self.fds = []


class WritePath:
    """One tracker's state and its durable writes (synchronous: see the module)."""

    def __init__(
        self,
        paths: TrackerPaths,
        *,
        failpoints: Failpoints,
        backups_keep: int = 10,
        backup_every: int = 50,
        journal_max_bytes: int = 8 * 1024 * 1024,
        max_bytes: int = 64 * 1024 * 1024,
        max_depth: int = 100,
    ) -> None:
        self.max_bytes = max_bytes
        self.max_depth = max_depth
        self.paths = paths
        self.fp = failpoints
        self.backups = Backups(paths.backups, keep=backups_keep)
        self.backup_every = backup_every
        self.journal_max_bytes = journal_max_bytes
        self.reset()

    def reset(self) -> None:
        self.tracker: model.Tracker | None = None
        self.encoder = model.Encoder()  # re-encodes only the tasks a change touched
        self.renderer = render.Renderer()  # re-renders only the tasks a change touched
        self.journal: Journal | None = None
        self.json = FileState()
        self.md = FileState()
        self.view_dirty = False
        self.since_backup = 0  # changes committed since the last backup
        self.unsettled: float | None = None  # files replaced without fsync, since (monotonic)
        self.notes: list[str] = []  # told to the next caller (e.g. what opening recovered)
        self.deleted = False
        self.view_base: model.Tracker | None = None  # the tracker the view on disk shows
        self.pending_view_merge = False  # a view edited offline, merged after opening
        self.adopted_offline = False  # the JSON was edited while wtd was not running
        # the JSON as git left it, stopped on a conflict (markers in it): not written over
        self.held_by_merge: atomic.Stamp | None = None
        self.offline_base: model.Tracker | None = None  # the state a view edited offline shows
        # the checksum a hand-edited view named, what it showed and the state merging
        # it left: a view saved again before wtd re-rendered it names that checksum too
        self.edited_view: tuple[str, markdown.View, model.Tracker] | None = None
        self.incomplete: tuple[atomic.Stamp, float] | None = None  # a view mid-save, since
        self.imported: dict[str, object] | None = None  # counts told to the next caller
        self.imported_view = ""  # the digest of the plan imported at opening (not an edit)

    def replace(
        self,
        path: Path,
        data: bytes,
        *,
        point: str | None = None,
        before_replace: Callable[[], None] | None = None,
        durable: bool = True,
        prewritten: Prewrite | None = None,
    ) -> atomic.Stamp:
        """Every file wtd writes is replaced through here (``atomic.atomic_write``):
        ``point`` names its failpoint; ``before_replace`` is the last look at the
        file before it is replaced (a test's seam for a save landing just then).
        ``durable=False``: a tracker file the journal can rebuild, left for ``settle``
        (the commit path: a slow one counts as a slow disk, ``Journal.slow_write``);
        ``prewritten``: those bytes, already in a temp file (``Prewrite``)."""
        began = time.monotonic()
        try:
            written = prewritten.take(data) if prewritten is not None else None
            if written is not None:
                stamp = atomic.put_in_place(
                    written, path, before_replace=before_replace, durable=durable
                )
            else:
                stamp = atomic.atomic_write(
                    path,
                    data,
                    failpoints=self.fp if point is not None else None,
                    point=point,
                    before_replace=before_replace,
                    durable=durable,
                )
        finally:
            if not durable and self.journal is not None:
                self.journal.slow_write(began)
        if not durable and self.unsettled is None:
            self.unsettled = time.monotonic()
        return stamp

    def read(self, path: Path) -> bytes:
        """A tracker file's bytes: never through a symlink, never over the size limit."""
        return safepath.read_bytes(path, self.max_bytes)

    def guard(self) -> None:
        """Before a write: no file or folder wtd is about to touch is a symlink (SPEC §2)."""
        for path in (self.paths.json, self.paths.markdown, self.paths.journal):
            safepath.check(path)

    def refuse_over_a_merge(self) -> None:
        """BeingMerged while the JSON is the one git left with conflict markers, git
        still stopped on it: writing wtd's state over it would drop the other side's
        changes (and the markers git's user resolves)."""
        held = self.held_by_merge
        if held is None:
            return
        if stamp_of(self.paths.json) == held and gitrepo.merging(self.paths.workspace):
            raise errors.BeingMerged(
                f"git stopped a merge on a conflict in {self.paths.json.name}: resolve "
                "it (edit the file, or take one side with git checkout --ours/--theirs), "
                "git add it, then try again; wtd takes the merged file",
                suggestions=[f"git status; then edit {self.rel(self.paths.json)}"],
            )
        self.held_by_merge = None

    @property
    def label(self) -> str:
        return str(self.paths.markdown.relative_to(self.paths.workspace))

    def rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.paths.workspace))
        except ValueError:
            return str(path)

    def close(self) -> None:
        if getattr(self, "journal", None) is not None:
            assert self.journal is not None
            self.journal.close()
            self.journal = None

    def tell(self, line: str) -> None:
        """Tell ``line`` to the next caller (in front of its reply)."""
        if line not in self.notes:
            self.notes.append(line)

    def told(self, lines: list[str], result: object) -> tuple[list[str], object]:
        """A reply's lines and result with what opening found for the first caller: its
        notes first (an import's summary, recovered changes…), and an import's counts
        in a dict result under ``imported``."""
        notes, self.notes = self.notes, []
        imported, self.imported = self.imported, None
        if imported is not None and isinstance(result, dict):
            result = {**result, "imported": imported}
        return [*notes, *lines], result

    def error(self, exc: errors.WtdError) -> Outcome:
        return error_outcome(exc, self.label)

    def commit_batch(
        self, new: model.Tracker, applied: list[Pending], *, on_loop: bool = False
    ) -> tuple[list[str], list[str]]:
        """Make ``new`` durable: journal, then JSON, then the view.

        Returns (healing, notes) for the callers. Raises Fault with nothing applied.
        ``on_loop``: it runs on the event loop (``commit_on_loop``); the bytes of a
        big JSON and its view are then written beside their files in a thread while
        it goes on (``Prewrite``), and put in place at the usual moments.
        """
        assert self.journal is not None
        self.guard()
        self.refuse_over_a_merge()
        notes: list[str] = []
        verbatim = applied[-1].verbatim if len(applied) == 1 else None
        data = verbatim if verbatim is not None else self.encode(new)
        ahead = on_loop and len(data) >= PREWRITE_MIN and not self.fp.enabled
        json_bytes = Prewrite(self.paths.json, data) if ahead else None
        view_bytes: Prewrite | None = None
        try:
            after, view = self.digest_and_render(new, data)
            if ahead:
                view_bytes = Prewrite(self.paths.markdown, view)
            first_seq = self.journal.last_seq + 1
            records = [
                JournalRecord(
                    seq=first_seq + i,
                    rid=p.rid,
                    at=p.at,
                    actor=p.actor,
                    before=self.json.digest if i == 0 else "",
                    after=after if i == len(applied) - 1 else "",
                    op=msgspec.Raw(cmd_encoder.encode(p.change)),
                    reply=msgspec.Raw(cmd_encoder.encode(p.outcome)),
                    undo=msgspec.Raw(p.undo) if p.undo is not None else None,
                )
                for i, p in enumerate(applied)
            ]
            try:
                self.journal.append(records)
            except OSError as exc:
                raise os_fault(
                    exc,
                    fp.JOURNAL_APPEND,
                    "Change not applied: the journal could not be written",
                    self.paths,
                ) from exc
            except errors.StorageFailure as exc:
                error = self.journal.read_only_errno or "JournalUnusable"
                raise Fault(
                    f"Change not applied: {exc.message}",
                    self.symptom(fp.JOURNAL_APPEND, error, exc.message),
                ) from exc
            try:
                healing, stamp = self.write_json(data, notes, prewritten=json_bytes)
            except errors.WtdError:
                self.journal.rollback_last()
                raise
            self.tracker = new
            self.json = FileState(digest=after, stamp=stamp)
            self.journal.applied()
            self.since_backup += len(applied)
            notes.extend(self.write_view(data=view, prewritten=view_bytes))
            return healing, notes
        finally:
            for ahead_bytes in (json_bytes, view_bytes):
                if ahead_bytes is not None:  # not taken: the commit stopped short
                    ahead_bytes.drop()

    def commit_on_loop(self, new: model.Tracker) -> bool:
        """May the commit of ``new`` run on the event loop (see ``ON_LOOP_MAX_BYTES``)?"""
        journal, stamp, last = self.journal, self.json.stamp, self.tracker
        if journal is None or stamp is None or last is None or journal.disk_slow():
            return False
        if stamp[1] > ON_LOOP_MAX_BYTES:
            return False
        made = _made_anew(last.tasks, new.tasks)
        made += _made_anew(last.all_subtasks(), new.all_subtasks())
        return (
            made <= ON_LOOP_ITEMS
            # no wait for the shared hashing threads (see digest_and_render)
            and (stamp[1] < PARALLEL_DIGEST or self.encoder.knows_pieces())
            and not self.fp.delays(*_COMMIT_POINTS)
        )

    def digest_and_render(self, new: model.Tracker, data: bytes) -> tuple[str, bytes]:
        """The digest of the JSON ``data`` (``encode(new)``, just now) and the view of
        ``new`` (which shows that digest). The Encoder re-hashes only the pieces the
        change touched; when it cannot (a small tracker, or one whose layout it does not
        know), a big one is hashed while the view is rendered around a placeholder
        (hashing releases the GIL), then the digest is put in it."""
        if len(data) < PARALLEL_DIGEST or self.encoder.knows_pieces():
            after = self.encoder.digest(data)
            return after, self.render(new, after)
        hashing = _HASHER.submit(digest, data)
        view = self.render(new, DIGEST_PLACEHOLDER)
        after = hashing.result()
        at = view.rfind(DIGEST_PLACEHOLDER.encode())
        assert at >= 0 and len(after) == len(DIGEST_PLACEHOLDER)
        whole = memoryview(view)  # slices of it are not copies: the view is copied once
        return after, b"".join((whole[:at], after.encode(), whole[at + len(after) :]))

    def settle(self) -> None:
        """The checkpoint (off the reply path; SPEC §6): make the files replaced since
        the last one durable, back the JSON up every ``backup_every`` changes, and
        only then let the journal rotate — so every record dropped with an old
        segment is older than a durable JSON and a durable backup. A failure is
        logged and retried at the next checkpoint: the journal holds every change."""
        if self.unsettled is None or self.tracker is None or self.journal is None:
            return
        try:
            for path in (self.paths.json, self.paths.markdown):
                atomic.fsync_file(path)
            for folder in {self.paths.json.parent, self.paths.markdown.parent}:
                atomic.fsync_dir(folder)
            rotate = self.journal.size >= self.journal_max_bytes
            if rotate or self.since_backup >= self.backup_every:
                self.backup(self.encode(self.tracker), self.json.digest, "periodic")
                self.since_backup = 0
            if rotate:
                self.journal.maybe_rotate()
        except (OSError, errors.WtdError) as exc:  # WtdError: a backups folder made unsafe
            log.warning("%s: checkpoint failed (retried later): %s", self.label, exc)
            return
        self.unsettled = None

    def begin_checkpoint(self) -> CheckpointJob | None:
        """The checkpoint under a steady load, to run in a thread while changes go on
        (``settle`` is the one taken when the inbox is quiet and on stop): the files
        wtd last wrote, opened now. Called between batches, on the event loop: two
        opens and two fstats. None when nothing waits to be made durable."""
        if self.unsettled is None or self.tracker is None or self.journal is None:
            return None
        fds: list[int] = []
        json_fd: int | None = None
        for path, state in ((self.paths.json, self.json), (self.paths.markdown, self.md)):
            try:
                fd = safepath.open_file(path, os.O_RDONLY | os.O_CLOEXEC)
            except (OSError, errors.WtdError):  # gone, or made unsafe: the next change says
                continue
            st = os.fstat(fd)
            if (st.st_mtime_ns, st.st_size, st.st_ino) != state.stamp:
                os.close(fd)  # not wtd's version (being taken over): the next one
                continue
            fds.append(fd)
            if path == self.paths.json:
                json_fd = fd
        due = self.journal.size >= self.journal_max_bytes or self.since_backup >= self.backup_every
        return CheckpointJob(
            self.label,
            fds,
            json_fd,
            {self.paths.json.parent, self.paths.markdown.parent},
            self.backups if due else None,
            self.json.digest,
            (self.json.stamp, self.md.stamp),
            self.since_backup,
        )

    def end_checkpoint(self, job: CheckpointJob) -> None:
        """Take in what a ``CheckpointJob`` made durable (between batches): files not
        replaced since are settled, those replaced since are unsettled since it was
        taken; a backup taken lets the journal rotate (every record an older segment
        holds is then in a durable JSON and a durable backup, as after ``settle``)."""
        if not job.ok:
            return
        if job.backed_up:
            self.since_backup = max(0, self.since_backup - job.changes)
        if job.complete:
            unchanged = (self.json.stamp, self.md.stamp) == job.stamps
            self.unsettled = None if unchanged else job.taken
        journal = self.journal
        if job.backed_up and journal is not None and journal.size >= self.journal_max_bytes:
            try:
                journal.maybe_rotate()
            except OSError as exc:
                log.warning("%s: journal rotation failed (retried later): %s", self.label, exc)

    def write_json(
        self, data: bytes, notes: list[str] | None = None, *, prewritten: Prewrite | None = None
    ) -> tuple[list[str], atomic.Stamp]:
        """Write the SSOT and check it reads back whole; one rewrite if it does not.

        Returns (healing, stamp of the file written). With ``notes``: just before the
        file is replaced, a JSON someone else saved since wtd's last write is kept
        and ``notes`` says where, so a save can only be missed by landing within the
        rename itself.
        """
        name = self.paths.json.name

        expected = self.json.stamp  # what is on disk, unless someone saved meanwhile
        damaged: atomic.Stamp | None = None

        def keep_foreign() -> None:
            assert notes is not None
            notes.extend(self.check_json_edited(expected))

        for attempt in (1, 2):
            try:
                stamp = self.replace(
                    self.paths.json,
                    data,
                    point=fp.STORE_WRITE,
                    before_replace=keep_foreign if notes is not None else None,
                    durable=False,
                    prewritten=prewritten if attempt == 1 else None,
                )
            except OSError as exc:
                self.restore_json(own=damaged)
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
        self.restore_json(own=damaged)
        raise Fault(
            f"Change not applied: {name} keeps reading back damaged after writing",
            self.symptom(fp.STORE_WRITE, "ChecksumMismatch", "written file reads back damaged"),
        )

    def restore_json(self, own: atomic.Stamp | None = None) -> None:
        """After a failed write, make sure the SSOT on disk is the last good state.

        ``own``: the stamp of a damaged file wtd itself just wrote. A file that is
        neither that nor wtd's last write is someone's save: it is left as it is, for
        the Watcher to take over (never written over without a copy).
        """
        if self.tracker is None:
            return
        stamp = stamp_of(self.paths.json)
        if stamp is not None and stamp not in (self.json.stamp, own):
            log.warning("%s: a failed write left a hand-saved JSON in place", self.label)
            return
        data = self.encode(self.tracker)
        try:
            current = self.read(self.paths.json)
            # wtd's own bytes, or the file as it was found (another tool's formatting):
            # rewriting that in wtd's would be a change no journal record names, and
            # after a crash the file would be taken for one edited while wtd was away
            if current == data or self.json.same(current):
                return
        except (OSError, errors.WtdError):
            pass
        try:
            stamp = self.replace(self.paths.json, data, point=fp.STORE_WRITE, durable=False)
            self.json = FileState(digest=digest(data), stamp=stamp)
        except OSError as exc:  # the journal still has it; the next open repairs
            log.error("%s: could not restore %s: %s", self.label, self.paths.json.name, exc)

    def symptom(self, point: str, error: str, message: str) -> Symptom:
        return Symptom(
            point=point,
            error=error,
            message=message,
            tracker=self.paths.name,
            workspace=str(self.paths.workspace),
        )

    def backup(self, data: bytes, content_digest: str, reason: str) -> None:
        try:
            self.backups.save(data, content_digest, reason=reason)
        except OSError as exc:
            log.warning("%s: backup failed: %s", self.label, exc)

    def write_view(
        self,
        *,
        force: bool = False,
        data: bytes | None = None,
        prewritten: Prewrite | None = None,
    ) -> list[str]:
        """Render (unless given its ``data``) and write the Markdown view; a failure
        is reported, not fatal."""
        assert self.tracker is not None
        if data is None:
            data = self.view_bytes()
        if not force and not self.view_dirty and self.md.same(data):
            return []
        if self.view_already(data):
            return []
        if not force and self.view_edited_since():
            # Someone saved the view after wtd last wrote it and the Watcher has not
            # merged it yet: do not write over it; merging it renders the view anew.
            self.view_dirty = True
            return [self.view_busy_note()]

        def abort_if_edited() -> None:
            # the last moment before the rename: a save that landed while wtd rendered
            # and wrote is merged (which renders the view anew), never written over
            if self.view_edited_since():
                raise SavedMeanwhile

        try:
            notes = self.keep_edited_view()
            stamp = self.replace(
                self.paths.markdown,
                data,
                point=fp.RENDER_WRITE,
                before_replace=None if force else abort_if_edited,
                durable=False,
                prewritten=prewritten,
            )
            if stamp[1] != len(data):  # damaged write: once more
                stamp = self.replace(self.paths.markdown, data, durable=False)
        except SavedMeanwhile:
            self.view_dirty = True
            return [self.view_busy_note()]
        except OSError as exc:
            self.view_dirty = True
            log.warning("%s: view not written: %s", self.label, exc)
            return [
                f"⚠ Saved, but the view {self.label} could not be written "
                f"({exc.strerror or exc}); it will be rewritten as soon as possible."
            ]
        self.view_dirty = False
        self.md = FileState(data=data, stamp=stamp)
        self.view_base = self.tracker
        return notes

    def view_busy_note(self) -> str:
        """What a reply says when the view was not written because someone saved it."""
        doing = "is saving it (incomplete)" if self.incomplete is not None else "saved it"
        return (
            f"⚠ Saved, but the view {self.label} could not be written yet: someone {doing}; "
            "it shows this change once that save is merged."
        )

    def view_bytes(self) -> bytes:
        assert self.tracker is not None
        return self.render(self.tracker, self.json.digest)

    def render(self, tracker: model.Tracker, checksum: str) -> bytes:
        with gcpause.paused():
            return self.renderer.render(tracker, name=self.paths.name, checksum=checksum)

    def encode(self, tracker: model.Tracker) -> bytes:
        with gcpause.paused():
            return self.encoder.encode(tracker)

    def view_already(self, data: bytes) -> bool:
        """Is the view on disk, written by someone else, already ``data`` (a checkout
        wrote the very rendering wtd would)? Then it is wtd's: not written again."""
        stamp = stamp_of(self.paths.markdown)
        if stamp is None or stamp == self.md.stamp:
            return False
        try:
            if self.read(self.paths.markdown) != data:
                return False
        except (OSError, errors.WtdError):
            return False
        self.md = FileState(data=data, stamp=stamp)
        self.view_dirty = False
        self.view_base = self.tracker
        return True

    def view_edited_since(self) -> bool:
        """Has someone saved the view since wtd last wrote or read it? A changed view
        that cannot be read (over the size limit, no permission) counts as saved:
        wtd cannot tell, so it never writes over it unread."""
        stamp = stamp_of(self.paths.markdown)
        if stamp is None or stamp == self.md.stamp or not self.md.known:
            return False
        try:
            return not self.md.same(self.read(self.paths.markdown))
        except (FileNotFoundError, safepath.UnsafePath):  # (the write refuses a link)
            return False
        except (OSError, errors.WtdError):
            return True

    def keep_edited_view(self) -> list[str]:
        """Before overwriting the view, keep a copy if someone else changed it."""
        stamp = stamp_of(self.paths.markdown)
        if stamp is None or stamp == self.md.stamp or not self.md.known:
            return []
        kept = self.paths.conflicts / f"{now().replace(':', '')}-{self.paths.name}.md"
        try:
            current = self.read(self.paths.markdown)
        except FileNotFoundError:
            return []
        except (OSError, errors.WtdError) as exc:
            # changed, but not readable (over the size limit, no permission): kept as
            # it is, under a second name — nothing read or copied. When even that
            # fails, the OSError stops the write: the view is left as it is.
            atomic.make_dirs(kept.parent)
            os.link(self.paths.markdown, kept, follow_symlinks=False)
            why = exc.message if isinstance(exc, errors.WtdError) else exc.strerror or exc
            log.warning("%s: unreadable view (%s) kept at %s", self.label, why, kept)
            return [
                f"⚠ {self.label} had changed but could not be read ({why}); "
                f"that file is kept at {self.rel(kept)}"
            ]
        if self.md.same(current):
            return []
        self.replace(kept, current)
        log.warning("%s: hand-edited view kept at %s", self.label, kept)
        return [
            f"⚠ {self.label} had edits that were not made through wtd; "
            f"your copy is kept at {self.rel(kept)}"
        ]

    def check_json_edited(self, expected: atomic.Stamp | None) -> list[str]:
        """Before writing, keep (in quarantine) a JSON someone else wrote since wtd did.

        ``expected``: the stamp of the file wtd last put there.
        """
        stamp = stamp_of(self.paths.json)
        if stamp == expected:
            return []
        try:
            data = self.read(self.paths.json)
        except FileNotFoundError:
            return [f"⚠ {self.paths.json.name} was deleted; rewritten from wtd's state"]
        if model.checksum_as(data, self.json.digest) == self.json.digest:
            self.json.stamp = stamp
            return []
        if stamp is not None and self.written_by_git(data, stamp):
            # a checkout, pull or merge landed since wtd read the file (two git runs in
            # a row): git's version is taken as it is, never written over
            raise errors.Unavailable(
                f"git wrote {self.paths.json.name} meanwhile (a checkout, pull or "
                "merge): nothing changed; wtd takes git's version — run it again",
                suggestions=["wtctl history"],
            )
        where = keep_copy(
            data,
            self.paths.json.name,
            self.paths.quarantine,
            reason="changed outside wtd while it was serving",
        )
        return [
            f"⚠ {self.paths.json.name} was changed outside wtd; that copy is kept at "
            f"{self.rel(where)} and wtd's state was written over it"
        ]

    def written_by_git(self, data: bytes, stamp: atomic.Stamp) -> bool:
        """Is the JSON on disk (``data``, written at ``stamp``) one git is writing or
        just wrote (its index lock held, or the bytes its index holds, the index
        written right after), not a save of someone else's to keep aside?"""
        workspace = self.paths.workspace
        repo = gitrepo.git_dir(workspace)
        if repo is None:
            return False
        lock = gitrepo.index_lock(repo)
        if lock is not None and time.time() - lock[1] / 1e9 < GIT_LOCK_FRESH:
            return True  # (one left by a git that stopped halfway is not git at work)
        return gitrepo.in_index(workspace, self.paths.json, data) and gitrepo.index_follows(
            workspace, stamp[0]
        )

    def read_disk_json(self) -> bytes | None:
        try:
            return atomic.read_bytes(
                self.paths.json, failpoints=self.fp, point=fp.STORE_READ, max_bytes=self.max_bytes
            )
        except FileNotFoundError:
            return b""
        except OSError as exc:
            raise os_fault(
                exc, fp.STORE_READ, f"{self.paths.json.name} could not be read", self.paths
            ) from exc

    def rewrite_json(self) -> None:
        """Write wtd's state over the JSON on disk (already kept where needed)."""
        assert self.tracker is not None
        data = self.encode(self.tracker)
        try:
            _, stamp = self.write_json(data)
        except Fault as exc:  # the journal has the state; the next change writes it
            log.warning("%s: %s", self.label, exc)
            return
        self.json = FileState(digest=digest(data), stamp=stamp)

    def view_stale(self) -> bool:
        try:
            current = self.read(self.paths.markdown)
        except FileNotFoundError:
            return True
        assert self.tracker is not None
        return current != self.view_bytes()

    def checkpoint(
        self,
        content_digest: str,
        reason: str,
        *,
        rid: str | None = None,
        reply: Outcome | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> None:
        """Anchor the journal to the SSOT's current content (see commands.Checkpoint)."""
        assert self.journal is not None
        if self.journal.last_after == content_digest and rid is None:
            return
        at = now()
        change = commands.Checkpoint(reason=reason)
        record = JournalRecord(
            seq=self.journal.last_seq + 1,
            rid=rid,
            at=at,
            actor=actor,
            before="",
            after=content_digest,
            op=msgspec.Raw(cmd_encoder.encode(change)),
            reply=msgspec.Raw(cmd_encoder.encode(reply)) if reply is not None else None,
        )
        self.append_record(record)

    def append_record(self, record: JournalRecord) -> None:
        """Journal ``record``, whose change the files already show (a Fault if not)."""
        assert self.journal is not None
        try:
            self.journal.append([record])
        except OSError as exc:
            raise os_fault(
                exc, fp.JOURNAL_APPEND, "the journal could not be written", self.paths
            ) from exc
        except errors.StorageFailure as exc:
            raise Fault(
                f"the journal could not be written: {exc.message}",
                self.symptom(fp.JOURNAL_APPEND, "JournalUnusable", exc.message),
            ) from exc

    def commit_system(self, change: commands.Change) -> None:
        at = now()
        applied = ops.apply(self.loaded, change, at=at, actor=SYSTEM_ACTOR)
        if not applied.changed:
            return
        item = Pending(
            rid=f"wtd-{type(change).__name__}-{at}",
            actor=SYSTEM_ACTOR,
            change=change,
            at=at,
            outcome=Outcome(ok=True, lines=applied.lines, tracker=self.label),
            tracker=applied.tracker,
        )
        _healing, notes = self.commit_batch(applied.tracker, [item])
        self.notes.extend(notes)
        log.info("%s: %s", self.label, "; ".join(applied.lines))

    def apply_system(self, change: commands.Change) -> None:
        """The daemon's own fix-ups at open: best effort, retried at the next open.

        Queries derive progress anyway, and the next change writes the whole tracker,
        so a fix-up that cannot be written now only waits.
        """
        try:
            self.commit_system(change)
        except Fault as exc:
            log.warning("%s: %s not written yet: %s", self.label, type(change).__name__, exc)

    def open_journal(self) -> Journal:
        try:
            return Journal.open(
                self.paths.journal,
                failpoints=self.fp,
                max_bytes=self.journal_max_bytes,
                keep_segments=JOURNAL_SEGMENTS,
            )
        except CorruptJournal as exc:
            raise Fault(
                exc.message, self.symptom("journal.open", "CorruptJournal", exc.message)
            ) from exc
        except OSError as exc:
            raise os_fault(
                exc, "journal.open", "the journal could not be opened", self.paths
            ) from exc

    @property
    def loaded(self) -> model.Tracker:
        assert self.tracker is not None
        return self.tracker

    def recent_states(self, limit: int = 50) -> list[model.Tracker]:
        assert self.journal is not None
        return timeline.states_back(self.loaded, self.journal.recent(limit * 2), limit)

    def tracker_at(self, content_digest: str) -> model.Tracker | None:
        assert self.journal is not None
        return timeline.tracker_at(self.loaded, self.journal.recent(RECENT), content_digest)
