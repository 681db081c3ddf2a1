"""Derived progress, carried cheaply from one tracker to the next.

Per-phase (complete, counted) counts are memoised by the identity of the immutable
tasks tuple, so a change on a big tracker shifts the counts instead of recounting;
``finish`` stores the derived figures in every tracker a change returns.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from msgspec.structs import replace

from wtd.tracker import status as st
from wtd.tracker.model import Phase, Task, Tracker
from wtd.tracker.ops.common import Applied, splice, unchanged
from wtd.tracker.ops.lookup import find_task
from wtd.tracker.ops.memo import Counts, counts_of, facts_of, remember


def prime(tracker: Tracker) -> None:
    """Precompute what ``apply`` memoises (progress counts, the id index of a big
    tracker) so the first change after a load is as cheap as the ones after it."""
    counts_of(tracker.tasks)
    if tracker.tasks:
        find_task(tracker, tracker.tasks[0].id)


def progress_stale(tracker: Tracker) -> bool:
    """Does any stored progress (overall, per phase) differ from the derived one? The
    answer of ``model.stale_progress(tracker) is not None``, from the memoised counts
    (a big tracker's are counted once, for this and for the changes that follow)."""
    counts = counts_of(tracker.tasks)
    for phase in tracker.phases:
        if phase.progress != _percent(*counts.get(phase.number, (0, 0))):
            return True
    meta = tracker.meta
    progress = dict(meta.progress) if isinstance(meta.progress, dict) else {}
    progress["overall"] = _percent(
        sum(a for a, _ in counts.values()), sum(b for _, b in counts.values())
    )
    return progress != meta.progress


def shift(counts: Counts, task: Task, sign: int) -> Counts:
    """``counts`` with ``task`` added (sign=1) or removed (sign=-1)."""
    if task.status in st.EXCLUDED:
        return counts
    done, counted = counts.get(task.phase, (0, 0))
    out = dict(counts)
    out[task.phase] = (done + sign * (task.status == "complete"), counted + sign)
    return out


def _percent(done: int, counted: int) -> int:
    return round(100 * done / counted) if counted else 0


def finish(
    tracker: Tracker,
    at: str,
    *,
    tasks: tuple[Task, ...] | None = None,
    counts: Counts | None = None,
    pos: dict[str, int] | None = None,
    **fields: Any,
) -> Tracker:
    """The new tracker: ``fields`` replaced, meta.updated = at, derived progress stored.

    ``counts`` are the per-phase counts of the new ``tasks`` when the caller derived
    them incrementally (``pos``: its id → index map, when still valid); otherwise
    they are taken from the memo (or counted once).
    """
    new_tasks = tracker.tasks if tasks is None else tasks
    if counts is None:
        counts = counts_of(new_tasks)
    else:
        remember(new_tasks, counts, pos)
    phases: tuple[Phase, ...] = fields.pop("phases", tracker.phases)
    stale = [
        i for i, p in enumerate(phases) if p.progress != _percent(*counts.get(p.number, (0, 0)))
    ]
    if stale:
        fixed = list(phases)
        for i in stale:
            fixed[i] = replace(fixed[i], progress=_percent(*counts.get(fixed[i].number, (0, 0))))
        phases = tuple(fixed)
    done = sum(a for a, _ in counts.values())
    counted = sum(b for _, b in counts.values())
    meta = tracker.meta
    progress = dict(meta.progress) if isinstance(meta.progress, dict) else {}
    progress["overall"] = _percent(done, counted)
    meta = replace(meta, progress=progress, updated=at)
    return replace(tracker, meta=meta, phases=phases, tasks=new_tasks, **fields)


def put(tracker: Tracker, i: int, new: Task, at: str) -> Tracker:
    """The tracker with ``tasks[i]`` replaced by ``new`` (same id, same place); its
    phase's status follows its tasks where it said otherwise (``phase_status``)."""
    old = tracker.tasks[i]
    counts = shift(shift(counts_of(tracker.tasks), old, -1), new, 1)
    pos = facts_of(tracker.tasks).pos if new.id == old.id else None
    phases = tracker.phases
    tasks = splice(tracker.tasks, i, new)
    touched = {old.phase, new.phase}
    if any(p.number in touched for p in phases):
        fixed = [
            p if p.number not in touched else _with_status(p, counts, new, tasks) for p in phases
        ]
        if any(a is not b for a, b in zip(fixed, phases, strict=True)):
            phases = tuple(fixed)
    return finish(tracker, at, tasks=tasks, counts=counts, pos=pos, phases=phases)


def phase_status(status: str, done: int, counted: int, started: bool) -> str:
    """A phase's status as its tasks leave it, where it contradicted them: complete once
    every counted task is, in progress once one is started or complete (and no longer
    complete when one is reopened), pending when none is any more. A status set by
    hand that does not contradict them (blocked, skipped) is kept."""
    if status in ("pending", "in_progress") and counted and done == counted:
        return "complete"
    if status == "pending" and (started or done):
        return "in_progress"
    if status == "complete" and done < counted:
        return "in_progress" if (started or done) else "pending"
    return status


def following(
    tracker: Tracker,
    counts: Counts,
    touched: set[int],
    changed: Task | None,
    tasks: Sequence[Task],
) -> tuple[Phase, ...]:
    """The phases, those in ``touched`` with the status their tasks leave them
    (``phase_status``) once a task is added, moved or deleted (``changed``: the task
    added or moved; None for one deleted; ``tasks``: the tasks after the change)."""
    phases = tracker.phases
    fixed = [
        p if p.number not in touched else _with_status(p, counts, changed, tasks) for p in phases
    ]
    if any(a is not b for a, b in zip(fixed, phases, strict=True)):
        return tuple(fixed)
    return phases


def _with_status(
    phase: Phase, counts: Counts, changed: Task | None, tasks: Sequence[Task]
) -> Phase:
    done, counted = counts.get(phase.number, (0, 0))
    started = (
        changed is not None and changed.phase == phase.number and changed.status == "in_progress"
    )
    status = phase_status(phase.status, done, counted, started)
    if status == "pending" and status != phase.status and counted:
        # pending only when none of its tasks is started: another one than the task
        # changed may be (looked for only then, a rare case: not on every change)
        number = phase.number
        started = any(t.phase == number and t.status == "in_progress" for t in tasks)
        status = phase_status(phase.status, done, counted, started)
    return phase if status == phase.status else replace(phase, status=status)


def correct_progress(tracker: Tracker, at: str) -> Applied:
    stored = (
        tracker.meta.progress.get("overall") if isinstance(tracker.meta.progress, dict) else None
    )
    counts = counts_of(tracker.tasks)
    derived = _percent(sum(a for a, _ in counts.values()), sum(b for _, b in counts.values()))
    phase_fixes = [
        (p.number, p.progress, _percent(*counts.get(p.number, (0, 0))))
        for p in tracker.phases
        if p.progress != _percent(*counts.get(p.number, (0, 0)))
    ]
    result: dict[str, Any] = {
        "overall": derived,
        "previous": stored,
        "phases": [{"phase": n, "previous": old, "progress": new} for n, old, new in phase_fixes],
    }
    if stored == derived and not phase_fixes:
        return unchanged(tracker, f"Progress is up to date: {derived}%", result)
    before = f"{stored}%" if isinstance(stored, int) else "unset"
    lines = [f"Progress corrected: {before} → {derived}%"]
    lines += [
        f"  Phase {n}: {old if isinstance(old, int) else 'unset'}"
        f"{'%' if isinstance(old, int) else ''} → {new}%"
        for n, old, new in phase_fixes
    ]
    return Applied(
        tracker=finish(tracker, at),  # counts_of(tracker.tasks) is memoised
        lines=lines,
        healing=[],
        result=result,
        changed=True,
    )
