"""Status changes: of a task, of every task of a phase, of a phase, and the JSON patch."""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker import model, patch
from wtd.tracker.model import Tracker
from wtd.tracker.ops.common import Applied, checked_status, plural, said, splice
from wtd.tracker.ops.lookup import find_phase, find_task
from wtd.tracker.ops.memo import counts_of
from wtd.tracker.ops.progress import finish, phase_status, put


def set_task_status(tracker: Tracker, ch: c.SetTaskStatus, at: str) -> Applied:
    status = checked_status(ch.status)
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    previous = task.status
    reason = ch.reason.strip() if ch.reason and ch.reason.strip() else None
    result: dict[str, Any] = {"task": task.id, "status": status, "previous": previous}
    if reason is not None and status == "blocked":
        result["reason"] = reason
    if previous == status and (
        reason is None or status != "blocked" or task.extra.get("blocked_reason") == reason
    ):
        lines, healing = said(f"Task {task.id} is already {status}.", ch.given, status)
        return Applied(tracker=tracker, lines=lines, healing=healing, result=result, changed=False)

    extra = task.extra
    if status == "blocked" and reason is not None:
        extra = {**extra, "blocked_reason": reason}
    elif status != "blocked" and "blocked_reason" in extra:
        extra = {k: v for k, v in extra.items() if k != "blocked_reason"}
    new = replace(task, status=status, extra=extra)

    line = (
        f"Task {task.id} marked {status}"
        if ch.verb == "mark"
        else f"Task {task.id} status updated to {status}"
    )
    if status == "blocked" and reason is not None:
        line += f" (reason: {reason})"
    if status == "complete":
        still = sum(1 for s in tracker.subtasks_of(task.id) if not s.done)
        if still:
            line += f" ({plural(still, 'sub-task')} still open)"
            result["open_subtasks"] = still
    if ch.verb == "mark":
        line += "."
    lines, healing = said(line, ch.given, status)
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=lines,
        healing=healing,
        result=result,
        changed=True,
    )


def bulk_targets(tracker: Tracker, number: int, status: str) -> list[str]:
    """The ids of phase ``number``'s tasks that a bulk change to ``status`` would change."""
    find_phase(tracker, number)
    return [t.id for t in tracker.tasks if t.phase == number and t.status != status]


def set_phase_tasks(tracker: Tracker, ch: c.SetPhaseTasks, at: str) -> Applied:
    status = checked_status(ch.status)
    changing = set(bulk_targets(tracker, ch.number, status))
    result: dict[str, Any] = {"phase": ch.number, "status": status, "tasks": sorted(changing)}
    # the phase itself takes the status its tasks were all given ("mark phase 2
    # complete" leaves no phase at 100% still pending)
    i = find_phase(tracker, ch.number)
    phase = tracker.phases[i]
    if not changing and phase.status == status:
        line = f"Every task of phase {ch.number} is already {status}."
        lines, healing = said(line, ch.given, status)
        return Applied(tracker=tracker, lines=lines, healing=healing, result=result, changed=False)
    tasks = tuple(replace(t, status=status) if t.id in changing else t for t in tracker.tasks)
    phases = tracker.phases
    if phase.status != status:
        phases = splice(phases, i, replace(phase, status=status))
        result["previous_phase_status"] = phase.status
    line = (
        f"Phase {ch.number}: {plural(len(changing), 'task')} marked {status}."
        if changing
        else f"Phase {ch.number} marked {status} (every task of it already was)."
    )
    lines, healing = said(line, ch.given, status)
    return Applied(
        tracker=finish(tracker, at, tasks=tasks, phases=phases),
        lines=lines,
        healing=healing,
        result=result,
        changed=True,
    )


def patch_tracker(tracker: Tracker, ch: c.Patch) -> Applied:
    new = patch.apply_patch(tracker, ch)
    if model.stale_progress(new) is not None:
        new = model.with_derived_progress(new)
    return Applied(
        tracker=new,
        lines=list(ch.summary) or [ch.reason],
        healing=[],
        result={"patch": ch.reason, "undo_of": ch.undo_of},
        changed=not patch.is_empty(ch),
    )


def set_phase_status(tracker: Tracker, ch: c.SetPhaseStatus, at: str) -> Applied:
    status = checked_status(ch.status)
    i = find_phase(tracker, ch.number)
    phase = tracker.phases[i]
    result = {"phase": phase.number, "status": status, "previous": phase.status}
    if phase.status == status:
        lines, healing = said(f"Phase {phase.number} is already {status}.", ch.given, status)
        return Applied(tracker=tracker, lines=lines, healing=healing, result=result, changed=False)
    _check_follows_tasks(tracker, phase.number, status)
    phases = splice(tracker.phases, i, replace(phase, status=status))
    lines, healing = said(f"Phase {phase.number} status updated to {status}", ch.given, status)
    return Applied(
        tracker=finish(tracker, at, phases=phases),
        lines=lines,
        healing=healing,
        result=result,
        changed=True,
    )


def _check_follows_tasks(tracker: Tracker, number: int, status: str) -> None:
    """A phase's status follows its tasks where it would contradict them (README): a
    status set that they contradict would not be kept, so it is refused, saying why."""
    done, counted = counts_of(tracker.tasks).get(number, (0, 0))
    started = any(t.phase == number and t.status == "in_progress" for t in tracker.tasks)
    follows = phase_status(status, done, counted, started)
    if follows == status:
        return
    if status == "complete":
        why = f"{counted - done} of its {counted} counted tasks are not complete"
        how = f"complete them, or mark the whole phase (`mark phase {number} complete` asks first)"
    elif status == "pending":
        why = f"{done} of its tasks are complete" if done else "a task of it is in progress"
        how = "reopen its tasks first"
    else:
        why = f"all {counted} of its counted tasks are complete"
        how = "reopen one of its tasks first"
    raise errors.InvalidArgument(
        f"Phase {number} cannot be {status}: {why}, and a phase's status follows its "
        f"tasks (it would be {follows}); {how}",
        suggestions=[f"list tasks in phase {number}"],
    )
