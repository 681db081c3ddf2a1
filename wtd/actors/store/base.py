"""What every part of the Store shares: its limits, its fault type, the values that
travel between the actor loop and ``TrackerFiles`` (no I/O here, no state)."""

from __future__ import annotations

import errno
import os
import re
from datetime import UTC, datetime

import msgspec

from wtd import errors, protocol
from wtd.healing.analysis import Symptom
from wtd.messages import Apply, Outcome
from wtd.storage import atomic
from wtd.storage.journal import Journal, JournalRecord
from wtd.tracker import commands, model, patch
from wtd.workspace import TrackerPaths

SYSTEM_ACTOR = "wtd"
CHECKSUM = re.compile(r"JSON checksum:\*\* `([0-9a-f]+)`")
HAND_EDIT = "hand-edit"
GIT = "git"  # the actor of a file git wrote (a checkout, pull or merge: SPEC §11)
INCOMPLETE = object()  # a view caught mid-save: read it again
MID_WRITE_RETRIES = 4
INCOMPLETE_GRACE = 2.0  # seconds a view may stay half-saved before wtd renders it anew
SUPERSEDED_RETRIES = 3  # a JSON saved again while the last save was being merged
RECENT = 1000  # how far back undo, history and merge bases look in the journal
JOURNAL_SEGMENTS = 1  # rotated segments kept besides the current one (bounds memory)
OLD_SEGMENTS_LOOKED_AT = 9  # a damaged journal's segments set aside, with older versions' ones
DELETED = "deleted"  # the journal's content digest for "this tracker was deleted"
MAX_BATCH = 256
# Group commit: while changes to the tracker are on their way to its Store (parsed,
# being enforced), a batch waits up to this long for them, so that they share its
# journal fsync and its rewrite of the files instead of each paying for its own.
GATHER_MAX = 0.001
# where opening a tracker fails: a request answered with such a fault may be the retry
# of a change already journalled (the Executor answers "outcome unknown")
OPEN_POINTS = frozenset({"journal.open", "store.open", "store.read"})
SETTLE_IDLE = 0.1  # seconds of a quiet inbox before the files replaced are made durable
SETTLE_MAX = 2.0  # ... and at the latest this long after the first one, under load
BIG_QUERY = 5000  # tasks: queries on bigger trackers are answered in a worker thread

cmd_encoder = msgspec.json.Encoder()
change_decoder = msgspec.json.Decoder(commands.Change)
outcome_decoder = msgspec.json.Decoder(Outcome)

digest = model.checksum


def replay_from(
    journal: Journal, data: bytes, known: str = ""
) -> tuple[list[JournalRecord] | None, str]:
    """``journal.replay_after`` the state whose JSON is ``data`` (its digest ``known``
    when already computed), whichever digest format the journal named that state in:
    records written before a format change name it in theirs. (None, digest) when no
    record leads there; otherwise the records after it and the digest that matched."""
    own = known or digest(data)
    todo = journal.replay_after(own)
    if todo is not None or not data or journal.last_after is None:
        return todo, own  # (a journal holding no record names no state: nothing to hash)
    for other in model.other_checksums(data, own):
        todo = journal.replay_after(other)
        if todo is not None:
            return todo, other
    return None, own


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


def error_outcome(exc: errors.WtdError, label: str) -> Outcome:
    """The reply for ``exc``: a Fault carries its symptom for the MAPE-K loop."""
    return Outcome(
        ok=False,
        error=protocol.ErrorInfo(code=exc.code, message=exc.message, suggestions=exc.suggestions),
        tracker=label,
        symptom=exc.symptom if isinstance(exc, Fault) else None,
    )


class Pending(msgspec.Struct, kw_only=True):
    """A change applied in memory, waiting for its batch to be made durable."""

    rid: str
    actor: str
    change: commands.Change
    at: str
    outcome: Outcome
    request: Apply | None = None  # None for the daemon's own changes
    tracker: model.Tracker | None = None  # the state after it; None when it failed or was a no-op
    undo: bytes | None = None  # the encoded Patch that reverts it
    verbatim: bytes | None = None  # the JSON to write as it is (git's bytes, its layout)


class Edited(msgspec.Struct, kw_only=True):
    tracker: model.Tracker
    data: bytes
    # The file's stamp taken before ``data`` was read: a save that lands later has
    # another stamp, so the next check reads it instead of taking it for this one.
    stamp: atomic.Stamp | None


class Broken(msgspec.Struct, kw_only=True):
    reason: str
    data: bytes
    stamp: atomic.Stamp | None = None  # of the file read (None: none could be read)


class Healed(msgspec.Struct, kw_only=True):
    """A hand edit not taken as a change (unusable, or a save of an older copy):
    what the event stream is told."""

    lines: list[str]


class SavedMeanwhile(Exception):
    """The view was saved by hand while wtd was writing it."""


class FileState(msgspec.Struct, kw_only=True):
    """What wtd last wrote or read of a file: lets it notice edits made by others.

    ``digest`` (the JSON's content digest, which the journal and the view carry) or
    ``data``, the bytes themselves (the view's: compared with ``same``, never hashed —
    hashing a big view cost more on every change than comparing it on the rare
    occasion its stamp moves)."""

    digest: str = ""
    stamp: atomic.Stamp | None = None
    data: bytes | None = None

    @property
    def known(self) -> bool:
        return self.data is not None or bool(self.digest)

    def same(self, data: bytes) -> bool:
        """Are ``data`` the bytes wtd last wrote or read?"""
        if self.data is not None:
            return data == self.data
        return bool(self.digest) and model.checksum_as(data, self.digest) == self.digest


def inverse(before: model.Tracker, after: model.Tracker, actor: str, at: str) -> bytes:
    return cmd_encoder.encode(
        patch.diff(before, after, reason=f"undo of a change by {actor} at {at}")
    )


def stored_progress(tracker: model.Tracker) -> int | None:
    """The overall progress ``ops.apply`` stored (kept equal to the derived one)."""
    progress = tracker.meta.progress
    value = progress.get("overall") if isinstance(progress, dict) else None
    return value if isinstance(value, int) else None


class SavedAgain(msgspec.Struct, kw_only=True):
    """A hand-edited JSON saved again while wtd merged it: read and merge the newer save."""
