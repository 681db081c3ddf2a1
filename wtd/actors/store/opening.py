"""Opening a tracker (in a worker thread): load the SSOT, open the journal, replay
what the file misses, fit it to the schema, render the view; a plan without its
JSON is imported; a read-only file system is served for reads only.

Raises Fault (with a symptom the Analyzer can classify) or NotFound.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import msgspec

from wtd import errors, gcpause
from wtd.actors.store.base import (
    CHECKSUM,
    DELETED,
    GIT,
    HAND_EDIT,
    RECENT,
    Fault,
    FileState,
    change_decoder,
    cmd_encoder,
    digest,
    inverse,
    now,
    os_fault,
    replay_from,
)
from wtd.actors.store.writes import WritePath, stamp_of
from wtd.messages import Outcome
from wtd.storage import atomic, gitrepo, timeline
from wtd.storage import failpoints as fp
from wtd.storage.journal import Following, Glimpse, JournalRecord
from wtd.storage.plans import import_lines, import_report, read_plan
from wtd.tracker import commands, importers, model, ops, patch

log = logging.getLogger("wtd.store")
# About when this daemon started (its modules are loaded then): a temp file written
# before it is what a crash left, one written since may be a write under way (an
# initiative created, a plan imported, beside the Store)
STARTED = time.time()


def has_records(journal: Path) -> bool:
    """Does the journal hold anything (an empty file is a journal opened, never used)?"""
    try:
        return os.stat(journal).st_size > 0
    except FileNotFoundError:
        return False


def open_tracker(files: WritePath) -> None:
    """Load the SSOT, open the journal, replay what the file misses, render the view.

    Raises Fault (with a symptom the Analyzer can classify) or NotFound.
    """
    paths = files.paths
    files.guard()
    # A plan without its JSON is read first: one that is refused leaves nothing
    # behind (no journal, no copy, no JSON, the plan as it was).
    plan = plan_to_import(files)
    files.close()  # a journal opened alone (to answer a retry) is not left open twice
    journalled = stamp_of(paths.journal)  # before opening it (a torn tail is cut then)
    files.journal = files.open_journal()
    for path in (paths.json, paths.markdown):  # what a crash left mid-write
        atomic.remove_stale_temps(path, older_than=STARTED)
    stamp = stamp_of(paths.json)  # before reading: a save landing later is seen as one
    try:
        data = atomic.read_bytes(
            paths.json, failpoints=files.fp, point=fp.STORE_READ, max_bytes=files.max_bytes
        )
    except FileNotFoundError:
        if files.journal.last_after == DELETED:
            raise errors.NotFound(
                f"Tracker {paths.name} was deleted; 'restore tracker' brings it back"
            ) from None
        if files.journal.last_seq or files.backups.newest():
            raise Fault(
                f"{files.rel(paths.json)} is missing",
                files.symptom("store.open", "MissingSSOT", "the tracker JSON was deleted"),
            ) from None
        if plan is None:
            raise errors.NotFound(f"No tracker {paths.name!r} in {paths.workspace}") from None
        data = write_import(files, *plan)
        stamp = stamp_of(paths.json)
    except OSError as exc:
        raise os_fault(exc, fp.STORE_READ, f"{paths.json.name} could not be read", paths) from exc
    # The backup opening takes is hashed and written meanwhile, and put in place once
    # the bytes decode: in the journal's format (one written before the digest changed
    # names the JSON by its legacy digest until the next change).
    aside = BackupAside(files, data, files.journal.last_after or "")
    try:
        tracker, is_v1 = decode_found(files, data)
    except BaseException:
        aside.abandon()
        raise
    on_disk = aside.keep("v1 before migration" if is_v1 else "open")
    # written after wtd's last journal write, by git: wtd writes the JSON after each
    # append (a crash or a power cut leaves an older file, with its older mtime), and
    # git's HEAD moved since (its reflog: a checkout, reset, revert, merge, pull); a
    # touch or an editor's save moves no HEAD
    later = (
        stamp is not None
        and journalled is not None
        and stamp[0] > journalled[0]
        and (
            gitrepo.head_moved_after(paths.workspace, journalled[0])
            # a stash pop, a checkout of one file: a version of git's, then its index
            or gitrepo.put_back_by_git(paths.workspace, data, stamp[0])
        )
    )
    adopt(files, tracker, on_disk, stamp, data, written_later=later)
    if is_v1:
        files.apply_system(commands.Migrate())
    fit_schema(files)
    if ops.progress_stale(files.loaded):
        files.apply_system(commands.CorrectProgress())
    finish_open(files)


def decode_found(files: WritePath, data: bytes) -> tuple[model.Tracker, bool]:
    """The tracker in the JSON bytes found at opening, and whether they were v1 (to be
    migrated). Raises LimitRefused, or Fault with the symptom of what is wrong."""
    paths = files.paths
    raw: object = None
    try:
        with gcpause.paused():
            limits = {"max_bytes": files.max_bytes, "max_depth": files.max_depth}
            tracker = model.decode_canonical(data, files.encoder, **limits)
            if tracker is None:  # not as wtd writes it: the general path
                raw = msgspec.json.decode(data)
                tracker = model.from_raw(raw, **limits)
    except model.LimitExceeded as exc:
        # refused and left as it is: never "repaired" over (it may be a real, big
        # tracker); the user decides
        raise errors.LimitRefused(
            f"Refused: {files.rel(paths.json)}: {exc} ([storage] max_file_bytes, "
            "max_depth); the file was left as it is"
        ) from None
    except (msgspec.DecodeError, model.TrackerError) as exc:
        if gitrepo.merging(paths.workspace):  # git's conflict markers, not damage
            raise errors.BeingMerged(
                f"git stopped a merge on a conflict in {files.rel(paths.json)}: resolve it "
                "(edit the file, or take one side with git checkout --ours/--theirs), git "
                "add it, then try again; wtd takes the merged file",
                suggestions=[f"git status; then edit {files.rel(paths.json)}"],
            ) from None
        if isinstance(exc, model.TrackerError):
            raise Fault(
                f"{files.rel(paths.json)} is not a valid tracker: {exc}",
                files.symptom("store.open", "TrackerError", str(exc)),
            ) from exc
        raise Fault(
            f"{files.rel(paths.json)} is not valid JSON: {exc}",
            files.symptom("store.open", "DecodeError", str(exc)),
        ) from exc
    except RecursionError:
        raise Fault(
            f"{files.rel(paths.json)} nests deeper than wtd reads "
            f"([storage] max_depth = {files.max_depth})",
            files.symptom("store.open", "TrackerError", "nested too deep"),
        ) from None
    return tracker, isinstance(raw, dict) and "schema_version" not in raw


class _Abandoned(Exception):
    """The bytes found did not decode: their backup is not put in place."""


class BackupAside:
    """The backup opening takes of the JSON as found, taken while it is decoded.

    Decoding holds the GIL; hashing the bytes and writing them (fsync included) do
    not: a thread does both meanwhile (on a 100k-task tracker ~10 ms of SHA-256 and
    ~15-40 ms of write and fsync, beside ~120 ms of decoding and checking). The backup
    is put in place only once the bytes decode — bytes that are no tracker never
    become a backup — and before anything else is written; ``keep`` or ``abandon``
    waits for the thread.
    """

    def __init__(self, files: WritePath, data: bytes, like: str) -> None:
        self._files = files
        self._data = data
        self._like = like  # a digest read back: the digest is taken in its format
        # The tree digest hashes each piece in its own call, and each call needs the
        # GIL, which decoding holds for ~100 ms at a time: taken beside the decoding it
        # would wait for it (60 ms more to open 100k tasks). So it is taken first
        # (~15 ms); the flat digests of older formats are one call, taken meanwhile.
        self._digest = model.checksum(data) if len(like) not in model.OLD_HEX else ""
        self._reason: str | None = None
        self._decided = threading.Event()
        self._failed: BaseException | None = None
        self._thread = threading.Thread(target=self._take, name="wtd-backup", daemon=True)
        self._thread.start()

    def _take(self) -> None:
        try:
            self._digest = self._digest or model.checksum_as(self._data, self._like)
            self._files.backups.save(self._data, self._digest, reason=self._go_ahead)
        except _Abandoned:
            pass
        except BaseException as exc:  # told by ``keep``, in the opening's thread
            self._failed = exc

    def _go_ahead(self) -> str:
        self._decided.wait()
        if self._reason is None:
            raise _Abandoned
        return self._reason

    def keep(self, reason: str) -> str:
        """Put the backup in place (``reason`` in the log); the digest of the bytes.
        A backup that cannot be written is logged and opening goes on (an adoption
        insists on its own, below); any other error (an unsafe path) is raised."""
        self._reason = reason
        self._decided.set()
        self._thread.join()
        failed, self._failed = self._failed, None
        if isinstance(failed, OSError):
            log.warning("%s: backup failed: %s", self._files.label, failed)
        elif failed is not None:
            raise failed
        return self._digest or model.checksum_as(self._data, self._like)

    def abandon(self) -> None:
        """The bytes did not decode: no backup of them is left."""
        self._decided.set()
        self._thread.join()


def fit_schema(files: WritePath) -> None:
    """Adapt, at opening, what the v2 schema cannot hold (a file written by another
    tool or an older wtd, or edited while wtd was away): journalled as wtd's own
    change, after the backup opening took, and told to the next caller."""
    fitted, lines = model.fit_schema(files.loaded)
    if not lines:
        return
    summary = [f"Adapted to the v2 schema: {line}" for line in lines]
    change = patch.diff(fitted, files.loaded, reason="adapted to the v2 schema")
    files.apply_system(msgspec.structs.replace(change, summary=summary))
    files.notes.extend(summary)
    log.info("%s: %s", files.label, "; ".join(summary))


def plan_to_import(files: WritePath) -> tuple[bytes, importers.ImportResult] | None:
    """The view's bytes and what they import as, when the tracker is a plan without
    its JSON and with no past (no journal, no backup): a hand-written plan. Raises
    NothingToImport when no task is found in it (nothing is written)."""
    paths = files.paths
    if paths.json.exists() or files.backups.newest() or has_records(paths.journal):
        return None
    try:
        text = files.read(paths.markdown)
    except FileNotFoundError:
        return None
    result = read_plan(
        text,
        title_hint=paths.name.replace("-", " ").replace("_", " ").title(),
        source=files.rel(paths.markdown),
        max_bytes=files.max_bytes,
    )
    return text, result


def write_import(files: WritePath, text: bytes, result: importers.ImportResult) -> bytes:
    """Write the JSON of an imported plan, keeping the plan as it was under
    ``.ecw/imported/`` (the view rendered next replaces it)."""
    paths = files.paths
    data = files.encode(result.tracker)
    kept = paths.state / "imported" / f"{now().replace(':', '')}-{paths.name}.md"
    files.replace(kept, text)
    files.replace(paths.json, data)
    files.imported_view = digest(text)
    files.imported = import_report(result)
    files.notes.extend([*import_lines(result), f"The original plan is kept at {files.rel(kept)}"])
    log.info("%s: imported from Markdown: %s", files.label, "; ".join(result.summary))
    return data


def adopt(
    files: WritePath,
    tracker: model.Tracker,
    on_disk: str,
    stamp: atomic.Stamp | None,
    data: bytes = b"",
    *,
    written_later: bool = False,
) -> None:
    """Take ``tracker`` (with content digest ``on_disk``) as the base; replay the journal.

    ``written_later``: the JSON was written after wtd's last journal write. When it
    then holds an older state of wtd's that is git's version of the file, git put it
    back while wtd was away (a checkout of another branch, a revert, a reset): it is
    taken as it is, like any JSON changed while wtd was away, and the journalled
    changes after that state are not replayed over it — they were undone on
    purpose (history keeps them, ``undo`` brings them back). A JSON that lags the
    journal because of a crash or a power cut is older than the journal's last write,
    and is brought up to date as always."""
    assert files.journal is not None
    files.tracker = tracker
    todo, on_disk = replay_from(files.journal, data, on_disk)
    files.json = FileState(digest=on_disk, stamp=stamp)
    read_only = files.journal.read_only
    went_back = (
        todo is not None
        and written_later
        and not read_only
        and any(not timeline.is_checkpoint(r) for r in todo)
        and (
            gitrepo.in_index(files.paths.workspace, files.paths.json, data)
            or (
                stamp is not None and gitrepo.put_back_by_git(files.paths.workspace, data, stamp[0])
            )
        )
    )
    if went_back:
        log.info(
            "%s: git put back an older state of the JSON while wtd was away; taken as it "
            "is (the %d journalled change(s) after it are not replayed)",
            files.label,
            len(todo or []),
        )
        todo = None
    if todo is None:
        if not read_only:
            # The journal holds no state this file shows: it is the base from now on.
            # It is made durable — the file, and a backup, which a later power cut
            # cannot take (the JSON is rewritten without fsync) — before the journal
            # names it: the journal could not rebuild what it holds. No backup, no
            # adoption: opening fails and is tried again.
            atomic.fsync_file(files.paths.json)
            atomic.fsync_dir(files.paths.json.parent)
            try:
                files.backups.save(data, on_disk, reason="adopted as found")
            except OSError as exc:
                raise os_fault(
                    exc, "store.open", "the JSON found could not be backed up", files.paths
                ) from exc
        shown = [] if went_back else torn_but_shown(files, tracker, on_disk, data)
        missed = (
            missed_by(files, tracker)
            if files.journal.last_seq and not shown and not went_back
            else []
        )
        if shown:
            files.adopted_offline = True
            log.warning(
                "%s: the journal's last record(s) are damaged (seqs %d-%d) but the JSON"
                " shows their change: marked as lost, with %d request id(s)",
                files.label,
                shown[0].seq,
                shown[-1].seq,
                sum(record.rid is not None for record in shown),
            )
        elif files.journal.last_seq:
            files.adopted_offline = True
            log.info(
                "%s: the JSON changed while wtd was away; adopting it%s",
                files.label,
                f" with the {len(missed)} journalled change(s) it missed on top" if missed else "",
            )
        if not read_only and shown:
            files.journal.append(shown)
            files.journal.applied()
        elif not read_only:
            name = files.paths.json.name
            # (went_back: git's version already, asked of git once)
            if went_back or gitrepo.in_index(files.paths.workspace, files.paths.json, data):
                reason = f"Took git's version of {name} (checked out or merged)"
                if not journal_adoption(files, tracker, on_disk, reason, GIT):
                    files.checkpoint(on_disk, reason, actor=GIT)
            else:
                reason = f"Adopted a hand edit of {name} made while wtd was away"
                # (edited from a copy that lagged: anchored as before, the changes it
                # missed journalled again on top — no diff that seems to undo them)
                if missed or not journal_adoption(files, tracker, on_disk, reason, HAND_EDIT):
                    files.checkpoint(on_disk, "adopted as found")
        if missed:
            # Edited while wtd was away from a copy that lagged the journal (a crash
            # between a journal append and the JSON write): the journalled changes it
            # missed are applied on top, never dropped — and journalled again after
            # the adoption, so that a replay from the adopted file finds them.
            replay(files, missed, write=read_only is None, again=True)
        return
    changes = [r for r in todo if not timeline.is_checkpoint(r)]
    if changes:
        replay(files, changes, write=read_only is None)
    elif todo and not read_only:  # only markers (e.g. a delete undone by restore)
        files.checkpoint(on_disk, "found again")
    if read_only:
        log.warning("%s: serving reads only: %s", files.label, read_only)


def journal_adoption(
    files: WritePath, found: model.Tracker, on_disk: str, summary: str, actor: str
) -> bool:
    """Journal the JSON adopted at opening as the change it made to the state the
    journal led to, with its undo — as an edit made while wtd runs is: ``history``
    shows it, ``undo`` reverts it. False (nothing journalled) when there is no such
    state, it cannot be rebuilt (no recent backup leads there) or nothing changed."""
    journal = files.journal
    assert journal is not None
    last = journal.last_after
    if not journal.last_seq or not last or last in (DELETED, on_disk):
        return False
    previous = state_at(files, last)
    if previous is None:
        return False
    change = patch.diff(found, previous, reason=summary)
    if patch.is_empty(change):
        return False
    at = now()
    files.append_record(
        JournalRecord(
            seq=journal.last_seq + 1,
            at=at,
            actor=actor,
            before=last,
            after=on_disk,
            op=msgspec.Raw(cmd_encoder.encode(msgspec.structs.replace(change, summary=[summary]))),
            reply=msgspec.Raw(
                cmd_encoder.encode(Outcome(ok=True, lines=[summary], tracker=files.label))
            ),
            undo=msgspec.Raw(inverse(previous, found, actor, at)),
        )
    )
    journal.applied()
    log.info("%s: %s (journalled, undoable)", files.label, summary)
    return True


def torn_but_shown(
    files: WritePath, found: model.Tracker, on_disk: str, data: bytes
) -> list[JournalRecord]:
    """The journal's torn tail as markers (``timeline.lost_record``), when the JSON
    ``found`` (digest ``on_disk``, bytes ``data``) shows its change — a record damaged
    after its append reported success, the files written, then a crash before the
    reply — so that a retry of those requests is answered, not applied twice.

    The torn tail is one append, one batch of changes. Its change is shown when one
    of its headers still names this digest as where it led, or this moment as the
    batch's last change's, which is the JSON's ``updated`` stamp; or — the header that
    named them lost with the second half of a damaged batch — when that stamp falls
    just after the batch's first change (within ``BATCH_SPAN``), and the JSON is not
    git's. Nothing otherwise: a real torn append's change was never written (the
    files are written after the append), and a retry must apply it."""
    assert files.journal is not None
    first = files.journal.last_seq + 1
    seen: dict[int, Glimpse] = {}
    for g in files.journal.torn:  # in order, seqs running on from the journal's last
        if g.seq != first + len(seen):
            break
        seen[g.seq] = g
    if not seen:
        return []
    stamp = found.meta.updated
    shown = any(g.after == on_disk or (g.at and g.at == stamp) for g in seen.values())
    start = seen[first].at
    if not shown and start and isinstance(stamp, str) and _within(start, stamp, BATCH_SPAN):
        shown = not gitrepo.in_index(files.paths.workspace, files.paths.json, data)
    if not shown:
        return []
    last = first + len(seen) - 1
    at = seen[last].at or (stamp if isinstance(stamp, str) else "")
    end = Following(last + 1, at, on_disk)  # the JSON on disk is where they led
    return [timeline.lost_record(seq, seen[seq], end) for seq in range(first, last + 1)]


BATCH_SPAN = 2.0  # seconds: far more than a batch's changes span (staged at once)


def _within(start: str, stamp: str, span: float) -> bool:
    """Is ``stamp`` at ``start`` or at most ``span`` seconds after it (ISO 8601)?"""
    try:
        a = datetime.fromisoformat(start)
        b = datetime.fromisoformat(stamp)
        return timedelta(0) <= b - a <= timedelta(seconds=span)
    except (ValueError, TypeError):  # naive against aware, or not a date
        return False


def missed_by(files: WritePath, edited: model.Tracker) -> list[JournalRecord]:
    """The journalled changes newer than the state a file edited offline started from.
    Every change stamps ``meta.updated`` with its record's ``at`` and editors leave
    the stamp alone, so the record with that ``at`` is where the editor read."""
    assert files.journal is not None
    stamp = edited.meta.updated
    if not isinstance(stamp, str) or not stamp:
        return []
    newer: list[JournalRecord] = []
    for record in files.journal.recent(RECENT):
        if record.at == stamp and not timeline.is_checkpoint(record):
            return [r for r in reversed(newer) if not timeline.is_checkpoint(r)]
        newer.append(record)
    return []


def replay(
    files: WritePath, todo: list[JournalRecord], *, write: bool = True, again: bool = False
) -> None:
    """Apply journalled changes the JSON misses; ``write=False`` (a read-only file
    system): in memory only, so reads show every acknowledged change. ``again``:
    journal them once more (same request ids and replies) after the current end."""
    tracker = files.loaded
    for record in todo:
        change = change_decoder.decode(record.op)
        try:
            tracker = ops.apply(tracker, change, at=record.at, actor=record.actor).tracker
        except errors.WtdError as exc:  # on top of a file edited offline, e.g. a task the
            log.warning(  # person deleted: the file's version stands
                "%s: journalled change #%d not applicable: %s", files.label, record.seq, exc
            )
    data = files.encode(tracker)
    after = digest(data)
    if todo[-1].after and todo[-1].after != after:
        log.warning("%s: replay produced a different state than journalled", files.label)
    if not write:
        files.tracker = tracker
        return
    if again:
        assert files.journal is not None
        first = files.journal.last_seq + 1
        files.journal.append(
            [
                msgspec.structs.replace(
                    record,
                    seq=first + i,
                    before="",
                    after=after if i == len(todo) - 1 else "",
                )
                for i, record in enumerate(todo)
            ]
        )
        files.journal.applied()
    _, stamp = files.write_json(data)
    files.tracker = tracker
    files.json = FileState(digest=after, stamp=stamp)
    assert files.journal is not None
    if after != files.journal.last_after:
        files.checkpoint(after, "after replay")
    log.info("%s: replayed %d journalled change(s)", files.label, len(todo))
    files.notes.append(f"Recovered {len(todo)} journalled change(s) after a restart")


def finish_open(files: WritePath) -> None:
    paths = files.paths
    ops.prime(files.loaded)
    assert files.journal is not None
    if files.journal.read_only is not None:  # nothing can be written: serve reads
        files.md = FileState(digest="", stamp=stamp_of(paths.markdown))
        files.view_base = files.tracker
        files.notes.append(
            f"⚠ {files.rel(paths.state)} cannot be written "
            f"({files.journal.read_only_errno}): reads only; changes are refused"
        )
        return
    stamp = stamp_of(paths.markdown)
    try:
        text = files.read(paths.markdown)
    except FileNotFoundError:
        files.md = FileState(digest="", stamp=None)
        files.notes.extend(files.write_view(force=True))
        return
    # the bytes read (compared, never hashed: the first change's view is compared
    # with them, as with every view wtd writes)
    files.md = FileState(data=text, stamp=stamp)
    if text == files.view_bytes():  # wtd's rendering of this state
        files.view_base = files.tracker
        return
    if files.imported_view and files.imported_view == digest(text):
        # the plan just imported: the tracker holds it (and a copy was kept), so the
        # view is rendered over it with no "edits not made through wtd" copy
        files.imported_view = ""
        files.notes.extend(files.write_view(force=True))
        return
    rendered_from = CHECKSUM.search(text.decode("utf-8", errors="replace"))
    if rendered_from is not None and (
        rendered_from.group(1) == files.json.digest  # a rendering of this JSON (a checkout)
        or (
            # the JSON as wtd left it, so the journal rebuilds the state the view shows
            # (after a JSON changed offline it cannot: that view is kept aside below)
            not files.adopted_offline and files.tracker_at(rendered_from.group(1)) is not None
        )
    ):
        # edited while wtd was not running (or as a checkout left it): merged field by
        # field against the state it shows, onto the JSON
        files.view_base = files.tracker
        files.md = FileState()  # so that the merge reads it as an edit
        files.pending_view_merge = True
        return
    if rendered_from is not None and files.adopted_offline:
        # Both files changed while wtd was away (edits, a checkout, a pull): the view
        # shows a state wtd wrote before, which the journal cannot rebuild back from the
        # adopted JSON — but a backup and the journal forward can. Its edits are then
        # merged field by field onto the JSON (SPEC §6: the JSON wins a same-field
        # conflict, history keeps the view's value).
        shown = state_at(files, rendered_from.group(1))
        if shown is not None:
            files.offline_base = shown
            files.view_base = files.tracker
            files.md = FileState()
            files.pending_view_merge = True
            return
    files.md = FileState(digest="unknown")  # an older or foreign view: keep a copy, render
    files.notes.extend(files.write_view(force=True))


def state_at(files: WritePath, content_digest: str, *, backups: int = 5) -> model.Tracker | None:
    """The tracker whose JSON had ``content_digest``, rebuilt forward: a backup, then the
    journal's changes after it up to the record that led there. None when no recent
    backup leads there (nor through a record that damage took)."""
    assert files.journal is not None
    for path in files.backups.newest()[:backups]:
        try:
            data = files.read(path)
            tracker = model.decode(data)
        except (OSError, errors.WtdError, model.TrackerError, RecursionError):
            continue
        if model.checksum_as(data, content_digest) == content_digest:
            return tracker
        todo, _ = replay_from(files.journal, data)  # (a backup from before a format change)
        if not todo:
            continue
        for record in todo:
            if timeline.is_damaged(record):
                break  # what that change did is lost: no state past it can be rebuilt
            if not timeline.is_checkpoint(record):
                change = change_decoder.decode(record.op)
                try:
                    tracker = ops.apply(tracker, change, at=record.at, actor=record.actor).tracker
                except errors.WtdError:
                    break
            if record.after == content_digest:
                return tracker
    return None
