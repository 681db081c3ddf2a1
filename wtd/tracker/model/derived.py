"""Values derived from a tracker (progress, overall and per phase), and a new tracker."""

from __future__ import annotations

from typing import Any

import msgspec

from wtd.tracker import status as st
from wtd.tracker.model.structs import SCHEMA_VERSION, Meta, Task, Tracker


def overall_progress(tracker: Tracker) -> int:
    """round(100 × complete / (tasks − skipped − superseded)); 0 when the divisor is 0."""
    return _percent(tracker.tasks)


def phase_progress(tracker: Tracker, number: int) -> int:
    return _percent([t for t in tracker.tasks if t.phase == number])


def _percent(tasks: Any) -> int:
    complete = 0
    counted = 0
    for task in tasks:
        if task.status in st.EXCLUDED:
            continue
        counted += 1
        if task.status == "complete":
            complete += 1
    if counted == 0:
        return 0
    return round(100 * complete / counted)


def counts(tasks: Any) -> tuple[int, int]:
    """(complete, counted) for a collection of tasks; skipped/superseded not counted."""
    complete = 0
    counted = 0
    for task in tasks:
        if task.status in st.EXCLUDED:
            continue
        counted += 1
        if task.status == "complete":
            complete += 1
    return complete, counted


def with_derived_progress(tracker: Tracker) -> Tracker:
    """The tracker with stored progress (overall and per phase) set to the derived values."""
    progress = dict(tracker.meta.progress) if isinstance(tracker.meta.progress, dict) else {}
    progress["overall"] = overall_progress(tracker)
    per_phase: dict[int, list[Task]] = {}
    for task in tracker.tasks:
        per_phase.setdefault(task.phase, []).append(task)
    phases = tuple(
        msgspec.structs.replace(p, progress=_percent(per_phase.get(p.number, ())))
        for p in tracker.phases
    )
    meta = msgspec.structs.replace(tracker.meta, progress=progress)
    return msgspec.structs.replace(tracker, meta=meta, phases=phases)


def stale_progress(tracker: Tracker) -> tuple[int | None, int] | None:
    """(stored, derived) when any stored progress disagrees with the derived one, else None."""
    derived = with_derived_progress(tracker)
    stored_overall = (
        tracker.meta.progress.get("overall") if isinstance(tracker.meta.progress, dict) else None
    )
    if derived.meta.progress != tracker.meta.progress or any(
        a.progress != b.progress for a, b in zip(derived.phases, tracker.phases, strict=True)
    ):
        return stored_overall, overall_progress(tracker)
    return None


def new_tracker(title: str, *, initiative_id: str, at: str) -> Tracker:
    """An empty, schema-valid v2 tracker (for ``create initiative``)."""
    return Tracker(
        schema_version=SCHEMA_VERSION,
        meta=Meta(
            title=title,
            initiative_id=initiative_id,
            status="active",
            created=at,
            updated=at,
            progress={"overall": 0},
        ),
        phases=(),
        tasks=(),
    )
