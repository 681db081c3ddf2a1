"""Sub-tasks: add, check or uncheck, delete."""

from __future__ import annotations

from typing import Any

from msgspec.structs import replace

from wtd.tracker import commands as c
from wtd.tracker.model import Subtask, Tracker
from wtd.tracker.ops.common import Applied, checked_name, next_number, plural, splice, unchanged
from wtd.tracker.ops.lookup import find_task, subtask_not_found
from wtd.tracker.ops.progress import finish


def add_subtask(tracker: Tracker, ch: c.AddSubtask, at: str) -> Applied:
    name = checked_name(ch.name, "Sub-task name")
    task = tracker.tasks[find_task(tracker, ch.task_id)]
    subs = tracker.all_subtasks()
    n = next_number((s.id for s in subs), f"{task.id}.")
    new = Subtask(
        id=f"{task.id}.{n}", task_id=task.id, name=name, status="pending", completed=False
    )
    last = max((k for k, s in enumerate(subs) if s.task_id == task.id), default=len(subs) - 1)
    subtasks = (*subs[: last + 1], new, *subs[last + 1 :])
    return Applied(
        tracker=finish(tracker, at, subtasks=subtasks),
        lines=[f"Added sub-task {new.id}: {name}"],
        healing=[],
        result={"subtask": new.id, "task": task.id, "name": name, "completed": False},
        changed=True,
    )


def _find_subtask(tracker: Tracker, subtask_id: str) -> int:
    for k, s in enumerate(tracker.all_subtasks()):
        if s.id == subtask_id:
            return k
    raise subtask_not_found(tracker, subtask_id)


def set_subtask_checked(tracker: Tracker, ch: c.SetSubtaskChecked, at: str) -> Applied:
    k = _find_subtask(tracker, ch.subtask_id)
    subs = tracker.all_subtasks()
    sub = subs[k]
    status = "complete" if ch.checked else "pending"
    verb = "checked" if ch.checked else "unchecked"
    result: dict[str, Any] = {"subtask": sub.id, "task": sub.task_id, "completed": ch.checked}
    if sub.done == ch.checked and sub.completed is ch.checked and sub.status == status:
        return unchanged(tracker, f"Sub-task {sub.id} is already {verb}.", result)
    new = replace(sub, completed=ch.checked, status=status)
    subtasks = splice(subs, k, new)
    line = f"Sub-task {sub.id} {verb}: {sub.name}"
    siblings = [new if s.id == sub.id else s for s in subs if s.task_id == sub.task_id]
    if ch.checked and all(s.done for s in siblings):
        line += f" (all {plural(len(siblings), 'sub-task')} of task {sub.task_id} done)"
    return Applied(
        tracker=finish(tracker, at, subtasks=subtasks),
        lines=[line],
        healing=[],
        result=result,
        changed=True,
    )


def delete_subtask(tracker: Tracker, ch: c.DeleteSubtask, at: str) -> Applied:
    k = _find_subtask(tracker, ch.subtask_id)
    subs = tracker.all_subtasks()
    sub = subs[k]
    return Applied(
        tracker=finish(tracker, at, subtasks=subs[:k] + subs[k + 1 :]),
        lines=[f"Deleted sub-task {sub.id}: {sub.name}"],
        healing=[],
        result={"subtask": sub.id, "task": sub.task_id, "deleted": True},
        changed=True,
    )
