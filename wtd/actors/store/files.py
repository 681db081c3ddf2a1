"""``TrackerFiles``: the only code that touches a tracker's files — its JSON, its
view, its journal, its backups and the copies kept in quarantine or conflicts.

Every method is synchronous and blocking, and is called from a worker thread
(``Store._in_thread``), never from the event loop — but for ``files_moved`` (two
stats), the memory-only methods, and ``commit`` when ``commit_on_loop`` says it is
small and the disk fast. One call runs at a time, so the state it keeps
needs no lock. Between calls the actor loop may read that state (the tracker in
memory, the notes for the next reply) but never changes a file.
"""

from __future__ import annotations

import os
import time
from typing import Final

from wtd import errors, malloc
from wtd.actors.store import deleting, hand_edits, history, opening, repair
from wtd.actors.store.base import Broken, Edited, Healed, Pending, SavedAgain
from wtd.actors.store.writes import WritePath, stamp_of
from wtd.healing.analysis import Symptom
from wtd.messages import Apply, Outcome
from wtd.storage.journal import JournalRecord
from wtd.tracker import commands, model

WRITABLE_EVERY: Final = 5.0  # seconds between reopenings of a read-only journal


class TrackerFiles(WritePath):
    """One tracker's files, and what wtd knows of them (synchronous: worker threads)."""

    _reopened_at = -WRITABLE_EVERY  # when a read-only journal was last reopened to write

    # -------------------------------------- memory only: the loop may call these

    def is_open(self) -> bool:
        return self.tracker is not None and self.journal is not None

    def known_request(self, rid: str) -> JournalRecord | None:
        """The journal's record of ``rid`` (an index in memory; the journal is open)."""
        assert self.journal is not None
        return self.journal.find_rid(rid)

    def files_moved(self) -> tuple[bool, bool]:
        """Has the JSON, has the view changed on disk since wtd last wrote or read it?

        The one exception to "never on the loop": two ``stat`` calls, no read, made
        before every batch. A worker-thread hop there cost every change about 1.4 ms
        at p50 (``python -m bench --quick``, mark … complete, 1k tasks), so the loop
        makes them itself.
        """
        return (
            stamp_of(self.paths.json) != self.json.stamp,
            stamp_of(self.paths.markdown) != self.md.stamp,
        )

    def must_reopen(self) -> bool:
        """Must the tracker be opened afresh before the next batch? When its journal's
        file was replaced under wtd (one ``stat``, on the loop too), or, opened for
        reading only, can now be written (a file system remounted read-write, a
        permission given back: one ``access`` then)."""
        journal = self.journal
        if journal is None:
            return False
        if journal.read_only is not None:
            # the folder the journal would be made in: .ecw/journal/ itself is missing
            # when the workspace was first served read-only
            path = self.paths.journal
            while not path.exists() and path.parent != path:
                path = path.parent
            if not os.access(path, os.W_OK):
                return False
            # (reopened every few seconds at most: where access(2) and open(2) disagree,
            # an AppArmor profile, some network file systems, the reopened journal is
            # read-only still, and must not be reopened for every batch)
            now = time.monotonic()
            if now < self._reopened_at + WRITABLE_EVERY:
                return False
            self._reopened_at = now
            return True
        return journal.replaced()

    # ---------------------------------------------- worker thread only: the files

    def open(self) -> None:
        """Load, replay and render (opening.py); on failure nothing stays open.

        Either way glibc then gives back the memory opening freed: it decodes, checks,
        encodes and renders the whole tracker, several times over when it replays or
        adopts, and a long-lived daemon need not keep that peak."""
        try:
            opening.open_tracker(self)
        except (errors.WtdError, OSError):
            self.forget()
            raise
        finally:
            malloc.trim()

    def forget(self) -> None:
        """Close the journal and drop the tracker: the next request opens it again."""
        self.close()
        self.tracker = None

    def restart(self) -> None:
        """Start afresh (a Store run, or its restart after a crash): state is reloaded."""
        self.close()
        self.reset()

    def commit(
        self, new: model.Tracker, applied: list[Pending], *, on_loop: bool = False
    ) -> tuple[list[str], list[str]]:
        """Make ``new`` durable (journal, JSON, view): (healing, notes) for the callers
        (``on_loop``: see ``commit_batch``)."""
        return self.commit_batch(new, applied, on_loop=on_loop)

    def bring_view_up_to_date(self) -> None:
        """Render and write the view a batch left behind (a failure is noted, not raised)."""
        self.write_view()

    def find_request(self, rid: str) -> JournalRecord | None:
        """The journal's record of request ``rid`` (opening the journal if needed)."""
        if self.journal is None:
            if self.tracker is not None:  # the journal was set aside: reopen everything
                self.tracker = None
            if not self.paths.journal.exists():
                return None
            self.journal = self.open_journal()
        return self.journal.find_rid(rid)

    def sync(self) -> Outcome:
        return repair.synced(self)

    def repair(self, symptom: Symptom) -> Outcome:
        return repair.repair(self, symptom)

    def delete(self, rid: str | None) -> Outcome:
        return deleting.delete(self, rid)

    def finish_delete(self, outcome: Outcome) -> None:
        deleting.finish_delete(self, outcome)

    def undo(self, req: Apply) -> Pending | Outcome:
        return history.journal_guarded(self, req)

    def history(self, query: commands.ShowHistory) -> Outcome:
        return history.history_guarded(self, query)

    def read_json_edit(self) -> Edited | Broken | None:
        return hand_edits.read_json_edit(self)

    def adopt_json(self, found: Edited | Broken | None) -> Pending | Healed | SavedAgain | None:
        return hand_edits.adopt_json(self, found)

    def merge_view(self, attempt: int) -> Pending | object | None:
        return hand_edits.merge_view(self, attempt)
