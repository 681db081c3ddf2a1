"""Applying a change to a tracker: ``apply(tracker, change, at=..., actor=...) -> Applied``.

Pure: the input tracker is an immutable value and is never modified; the caller
passes the clock (``at``, ISO-8601 UTC) and who acts (``actor``). A change either
yields a whole new tracker or raises (``errors.NotFound`` for an unknown task,
phase or sub-task, naming the nearest existing IDs; ``errors.InvalidArgument``
for a request that cannot be honoured). Every tracker returned validates against
the ECW v2 schema and stores the derived progress (overall and per phase), so a
stale stored progress in the input is corrected by any change.

Cheap on big trackers: progress is updated from per-phase (complete, counted)
counts that are carried from one tracker to the next (a small identity-keyed
memo of immutable values, invisible in the results), so a status change on a
100k-task tracker costs one scan to find the task and one tuple copy.

The families live beside this module: ``dispatch`` (``apply``, one line per change),
``statuses``, ``phases``, ``tasks``, ``subtasks``, ``evidence``; what they share is in
``common`` (``Applied``), ``lookup`` (finding, "not found" with the nearest IDs),
``memo`` and ``progress`` (the derived figures).
"""

from __future__ import annotations

from wtd.tracker.ops.common import MAX_NAME, Applied
from wtd.tracker.ops.dispatch import apply
from wtd.tracker.ops.evidence import evidence_id
from wtd.tracker.ops.lookup import (
    find_phase,
    find_task,
    nearest_phases,
    nearest_task_ids,
    phase_not_found,
    subtask_not_found,
    task_not_found,
)
from wtd.tracker.ops.memo import counts_of
from wtd.tracker.ops.progress import prime, progress_stale
from wtd.tracker.ops.statuses import bulk_targets

__all__ = [
    "MAX_NAME",
    "Applied",
    "apply",
    "bulk_targets",
    "counts_of",
    "evidence_id",
    "find_phase",
    "find_task",
    "nearest_phases",
    "nearest_task_ids",
    "phase_not_found",
    "prime",
    "progress_stale",
    "subtask_not_found",
    "task_not_found",
]
