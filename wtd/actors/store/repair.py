"""Repair (in a worker thread, on the Executor's request: only the Store touches the
files): the SSOT rebuilt from wtd's memory, from the newest valid backup plus the
journal, or a damaged journal set aside — so that no acknowledged change is lost;
and ``sync``, which reconciles the files with wtd's state now."""

from __future__ import annotations

import logging
from pathlib import Path

from wtd import errors, malloc, protocol
from wtd.actors.store.base import (
    OLD_SEGMENTS_LOOKED_AT,
    Fault,
    FileState,
    change_decoder,
    digest,
    os_fault,
    replay_from,
)
from wtd.actors.store.writes import WritePath
from wtd.healing.analysis import Symptom
from wtd.messages import Outcome
from wtd.storage import atomic, safepath, timeline
from wtd.storage import failpoints as fp
from wtd.storage.backups import keep_copy, quarantine
from wtd.storage.journal import Salvaged, first_record, salvage, segment_path
from wtd.tracker import model, ops

log = logging.getLogger("wtd.store")


def repair(files: WritePath, symptom: Symptom) -> Outcome:
    """Rebuild the SSOT (or the journal) so that no acknowledged change is lost."""
    try:
        if symptom.point == "journal.open":
            healing = repair_journal(files)
        elif files.tracker is not None:
            on_disk = files.read_disk_json() or b""
            if model.checksum_as(on_disk, files.json.digest) == files.json.digest:  # repaired
                return Outcome(ok=True, tracker=files.label)
            healing = repair_from_memory(files, on_disk)
        elif still_valid(files):
            return Outcome(ok=True, tracker=files.label)  # repaired already: just reopen
        else:
            healing = repair_from_backup(files, symptom)
    except errors.WtdError as exc:
        log.error("%s: repair failed: %s", files.label, exc.message)
        return files.error(exc)
    except OSError as exc:
        log.error("%s: repair failed: %s", files.label, exc)
        return files.error(os_fault(exc, "repair", "Repair failed", files.paths))
    log.warning("%s: repaired: %s", files.label, " / ".join(healing))
    malloc.trim()  # a repair reads and rebuilds whole files: RSS need not keep that peak
    return Outcome(ok=True, healing=healing, tracker=files.label)


def still_valid(files: WritePath) -> bool:
    """Does the SSOT on disk read as a valid tracker (e.g. repaired meanwhile)?"""
    try:
        model.decode(files.read(files.paths.json))
    except (OSError, errors.WtdError, model.TrackerError, RecursionError):
        return False
    return True


def repair_journal(files: WritePath) -> list[str]:
    """A journal damaged in the middle (SPEC §6: at most once survives it): each
    damaged segment is kept aside and rebuilt around the damage — intact records as
    they were, each lost one marked, with its request id when the damaged line still
    shows it. Damage that cannot be bridged (seqs out of order, damage before a
    segment's first intact record): every segment is set aside and a fresh journal
    starts from the tracker as it is."""
    files.close()
    # the current segment and the rotated ones, with any older ones still on disk
    segments = [files.paths.journal] + [
        segment_path(files.paths.journal, k) for k in range(1, OLD_SEGMENTS_LOOKED_AT + 1)
    ]
    present: list[tuple[Path, bytes]] = []
    for path in reversed(segments):  # oldest first: each counts on from the one before
        try:
            present.append((path, safepath.read_bytes(path)))
        except FileNotFoundError:
            continue
    rebuilt: list[tuple[Path, bytes, Salvaged]] = []
    after_seq: int | None = None
    for k, (path, data) in enumerate(present):
        # a rotated segment's damaged end is bridged up to the next segment's first record
        newer = first_record(present[k + 1][1]) if k + 1 < len(present) else None
        found = salvage(
            path,
            data,
            timeline.lost_record,
            after_seq=after_seq,
            next_record=newer,
            rotated=path != files.paths.journal,
        )
        if found is None:
            return start_afresh(files, segments)
        after_seq = found.last_seq
        if found.data != data:
            rebuilt.append((path, data, found))
    files.tracker = None  # reopened by the request that follows
    if not rebuilt:
        return ["✓ The journal reads whole again: nothing to repair"]
    kept: list[str] = []
    for path, data, found in rebuilt:
        where = keep_copy(data, path.name, files.paths.quarantine, reason="damaged journal")
        atomic.atomic_write(path, found.data)
        kept.append(files.rel(where))
    lost = [record for _, _, found in rebuilt for record in found.lost]
    with_rid = sum(record.rid is not None for record in lost)
    intact = sum(found.kept for _, _, found in rebuilt)
    log.warning(
        "%s: journal damaged in the middle: %d record(s) lost (seqs %s, %d request id(s)"
        " read back), %d intact kept",
        files.label,
        len(lost),
        ", ".join(str(record.seq) for record in lost),
        with_rid,
        intact,
    )
    return [
        "✓ Issue: the journal is damaged in the middle",
        f"✓ Recovery: Kept the damaged journal at {', '.join(kept)}; rebuilt it with its"
        f" {intact} intact record(s) and a marker for each of the {len(lost)} damaged one(s)"
        f" ({with_rid} with its request id, so a retry is answered, not applied again)",
    ]


def start_afresh(files: WritePath, segments: list[Path]) -> list[str]:
    """Keep every segment of a damaged journal aside (the damage may be in a rotated
    one, and the current one may not exist yet) and start afresh."""
    kept = [
        quarantine(path, files.paths.quarantine, reason="damaged journal")
        for path in segments
        if path.exists()
    ]
    files.tracker = None  # reopened (with a fresh journal) by the request that follows
    where = ", ".join(files.rel(path) for path in kept) or "nowhere (it was gone)"
    return [
        "✓ Issue: the journal is damaged in the middle",
        f"✓ Recovery: Kept it at {where} and started a fresh journal from the tracker as it is",
    ]


def repair_from_backup(files: WritePath, symptom: Symptom) -> list[str]:
    paths = files.paths
    journal = files.journal or files.open_journal()
    files.journal = journal
    found = files.backups.load_newest_valid(model.decode)
    if found is None:
        raise errors.WtdError(
            f"{files.rel(paths.json)} is damaged ({symptom.message}) and no valid backup "
            f"exists in {files.rel(paths.backups)}; nothing was changed"
        )
    backup, data = found
    kept = ""
    if paths.json.exists():  # a copy: the file is replaced, never missing
        where = keep_copy(
            files.read(paths.json),
            paths.json.name,
            paths.quarantine,
            reason=symptom.message or symptom.error,
        )
        kept = f"; the broken file is kept at {files.rel(where)}"
    todo = replay_from(journal, data)[0] or []  # (a backup from before a format change)
    tracker = model.decode(data)
    for record in todo:
        change = change_decoder.decode(record.op)
        tracker = ops.apply(tracker, change, at=record.at, actor=record.actor).tracker
    rebuilt = files.encode(tracker)
    files.replace(paths.json, rebuilt)
    files.tracker = None  # reopened by the request that follows
    files.close()
    what = "missing" if symptom.error == "MissingSSOT" else f"corrupted ({symptom.error})"
    return [
        f"✓ Issue: {paths.json.name} is {what}",
        f"✓ Recovery: Rebuilt from backup {backup.name} + {len(todo)} journalled change(s){kept}",
        "✓ Result: Tracker repaired (0 acknowledged changes lost)",
    ]


def sync(files: WritePath) -> Outcome:
    """Reconcile now: the SSOT on disk must be what wtd holds; the view is re-rendered."""
    assert files.journal is not None
    if files.journal.read_only is not None:
        raise Fault(
            f"Nothing synced: {files.journal.read_only}",
            files.symptom(
                fp.JOURNAL_APPEND, files.journal.read_only_errno, files.journal.read_only
            ),
        )
    healing: list[str] = []
    on_disk = files.read_disk_json()
    if on_disk is not None and model.checksum_as(on_disk, files.json.digest) != files.json.digest:
        healing = repair_from_memory(files, on_disk)
    stale = files.view_stale()
    notes = files.write_view(force=stale)
    failed = any(n.startswith("⚠ Saved") and "written yet" not in n for n in notes)
    if stale and not failed:
        healing += [
            "✓ Issue: JSON and Markdown out of sync",
            "✓ Recovery: JSON is SSOT, regenerating Markdown",
            "✓ Result: Markdown regenerated from JSON (0 data loss)",
        ]
    lines = (
        notes if (notes or healing) else [f"In sync: {files.label} matches {files.paths.json.name}"]
    )
    return Outcome(
        ok=not failed,
        lines=lines,
        healing=healing,
        result={"regenerated": stale and not failed, "repaired": bool(healing) and not stale},
        tracker=files.label,
        error=protocol.ErrorInfo(code="storage", message=notes[-1]) if failed else None,
    )


def repair_from_memory(files: WritePath, on_disk: bytes, why: str = "") -> list[str]:
    """The SSOT on disk differs from wtd's state (``why``: how, when known): keep it
    aside and rewrite it — unless it is git's, stopped on a conflict (BeingMerged)."""
    files.refuse_over_a_merge()
    name = files.paths.json.name
    kept = ""
    if on_disk:
        where = keep_copy(
            on_disk,
            files.paths.json.name,
            files.paths.quarantine,
            reason=why or "differed from wtd's state",
        )
        kept = f"; the file found is kept at {files.rel(where)}"
    assert files.tracker is not None
    data = files.encode(files.tracker)
    _, stamp = files.write_json(data)
    files.json = FileState(digest=digest(data), stamp=stamp)
    issue = "missing" if not on_disk else why or "not what wtd last wrote"
    return [
        f"✓ Issue: {name} is {issue}",
        f"✓ Recovery: Rewrote it from wtd's journalled state{kept}",
        "✓ Result: Tracker restored (0 acknowledged changes lost)",
    ]


def synced(files: WritePath) -> Outcome:
    """``sync`` (in a worker thread: it reads, renders and may write)."""
    try:
        return sync(files)
    except errors.WtdError as exc:
        return files.error(exc)
    except OSError as exc:
        return files.error(os_fault(exc, fp.STORE_READ, "Sync failed", files.paths))
