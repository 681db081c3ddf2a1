"""The Store: one actor per tracker, the only writer of that tracker's files.

- ``actor``: the loop — batches requests, answers them, publishes events;
- ``files``: ``TrackerFiles``, the only code touching the files (worker threads);
- ``writes``: the durable write path under it; ``opening``, ``hand_edits``,
  ``repair``, ``history`` (undo and history) and ``deleting`` beside it;
- ``base``: limits, the fault type and the values they pass each other.
"""

from wtd.actors.store.actor import Files, Store
from wtd.actors.store.base import (
    BIG_QUERY,
    DELETED,
    HAND_EDIT,
    MAX_BATCH,
    RECENT,
    SYSTEM_ACTOR,
    Fault,
    Pending,
    digest,
    now,
    os_fault,
)
from wtd.actors.store.files import TrackerFiles

__all__ = [
    "BIG_QUERY",
    "DELETED",
    "HAND_EDIT",
    "MAX_BATCH",
    "RECENT",
    "SYSTEM_ACTOR",
    "Fault",
    "Files",
    "Pending",
    "Store",
    "TrackerFiles",
    "digest",
    "now",
    "os_fault",
]
