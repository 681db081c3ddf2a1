"""Deleting a tracker (in a worker thread): both files go to ``.ecw/trash/``, the
journal and the backups stay, and the journal's "deleted" marker carries the
request id and the reply so that a retry is answered again."""

from __future__ import annotations

import logging
from pathlib import Path

from wtd import errors
from wtd.actors.store.base import DELETED, os_fault
from wtd.actors.store.writes import WritePath
from wtd.messages import Outcome
from wtd.storage import trash

log = logging.getLogger("wtd.store")


def delete(files: WritePath, rid: str | None = None) -> Outcome:
    """Move both files to ``.ecw/trash/`` (the journal and backups stay).

    The journal's "deleted" marker carries the request id and the reply, so a
    retried request is answered again instead of failing with "not found".
    """
    moved = {"tracker.json": files.paths.json, "view.md": files.paths.markdown}
    entry = trash.new_entry(files.paths.state / "trash", files.paths.name)
    outcome = Outcome(
        ok=True,
        lines=[
            f"Deleted tracker {files.paths.name}: its files are kept in {files.rel(entry)}",
            "Bring it back with: restore tracker",
        ],
        result={"deleted": files.paths.name, "trash": str(entry)},
        tracker=files.label,
    )
    try:
        files.guard()
        # first, so that opening it later is not a repair
        files.checkpoint(DELETED, "deleted", rid=rid, reply=outcome)
        trash.trash(files.paths.state / "trash", files.paths.name, moved, entry=entry)
    except OSError as exc:
        return files.error(os_fault(exc, "trash", "Tracker not deleted", files.paths))
    except errors.WtdError as exc:
        return files.error(exc)
    files.close()
    files.tracker = None
    files.deleted = True
    log.warning("%s: deleted; files kept in %s", files.label, entry)
    return outcome


def finish_delete(files: WritePath, outcome: Outcome) -> None:
    """A delete journalled just before a crash, its files not yet in the trash:
    move them there now (only when nothing happened to the tracker since)."""
    assert files.journal is not None
    result = outcome.result if isinstance(outcome.result, dict) else {}
    trash_entry = result.get("trash")
    if not outcome.ok or not isinstance(trash_entry, str):
        return
    if files.journal.last_after != DELETED:
        return  # deleted, then restored or changed since: the retry changes nothing
    moved = {"tracker.json": files.paths.json, "view.md": files.paths.markdown}
    if not any(path.exists() for path in moved.values()):
        return
    files.guard()
    entry = Path(trash_entry)
    if entry.parent != files.paths.state / "trash":
        entry = trash.new_entry(files.paths.state / "trash", files.paths.name)
    trash.trash(files.paths.state / "trash", files.paths.name, moved, entry=entry)
    files.close()
    files.tracker = None
    files.deleted = True
    log.warning("%s: finished a delete interrupted by a crash (%s)", files.label, entry)
