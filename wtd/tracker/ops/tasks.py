"""Tasks: add, rename, move, delete, their dependencies and verification."""

from __future__ import annotations

from typing import Any

from msgspec import UnsetType
from msgspec.structs import replace

from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker.model import Subtask, Task, Tracker
from wtd.tracker.ops.common import (
    Applied,
    checked_name,
    deps_of,
    insert_at,
    next_number,
    plural,
    unchanged,
    without_dep,
)
from wtd.tracker.ops.lookup import find_phase, find_task, nearest_phases
from wtd.tracker.ops.memo import counts_of
from wtd.tracker.ops.progress import finish, following, put, shift


def add_task(tracker: Tracker, ch: c.AddTask, at: str) -> Applied:
    name = checked_name(ch.name, "Task name")
    find_phase(tracker, ch.phase)
    task_id = f"{ch.phase}.{next_number((t.id for t in tracker.tasks), f'{ch.phase}.')}"
    new = Task(id=task_id, phase=ch.phase, name=name, status="pending")
    i = insert_at(tracker.tasks, ch.phase)
    tasks = tracker.tasks[:i] + (new,) + tracker.tasks[i:]  # noqa: RUF005 - faster
    counts = shift(counts_of(tracker.tasks), new, 1)
    return Applied(
        tracker=finish(
            tracker,
            at,
            tasks=tasks,
            counts=counts,
            phases=following(tracker, counts, {ch.phase}, new, tasks),
        ),
        lines=[f"Added task {task_id}: {name}"],
        healing=[],
        result={"task": task_id, "phase": ch.phase, "name": name, "status": "pending"},
        changed=True,
    )


def rename_task(tracker: Tracker, ch: c.RenameTask, at: str) -> Applied:
    name = checked_name(ch.name, "Task name")
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    result = {"task": task.id, "name": name, "previous": task.title}
    if task.name == name:
        return unchanged(tracker, f"Task {task.id} is already named {name}.", result)
    return Applied(
        tracker=put(tracker, i, replace(task, name=name), at),
        lines=[f"Task {task.id} renamed: {task.title} → {name}"],
        healing=[],
        result=result,
        changed=True,
    )


def move_task(tracker: Tracker, ch: c.MoveTask, at: str) -> Applied:
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    target = tracker.phase(ch.phase)
    if target is None:
        near = [str(n) for n in nearest_phases(tracker, ch.phase)]
        raise errors.InvalidArgument(
            f"Cannot move task {task.id}: phase {ch.phase} does not exist"
            + (f" (phases: {', '.join(near)})" if near else ""),
            suggestions=near,
        )
    if task.phase == ch.phase:
        return unchanged(
            tracker, f"Task {task.id} is already in phase {ch.phase}.", {"task": task.id}
        )
    old = task.id
    new_id = f"{ch.phase}.{next_number((t.id for t in tracker.tasks), f'{ch.phase}.')}"
    moved = replace(task, id=new_id, phase=ch.phase)
    rest = tracker.tasks[:i] + tracker.tasks[i + 1 :]
    rewritten: list[str] = []
    others: list[Task] = []
    for t in rest:
        if old in deps_of(t):
            t = replace(t, dependencies=tuple(new_id if d == old else d for d in deps_of(t)))
            rewritten.append(t.id)
        others.append(t)
    j = insert_at(others, ch.phase)
    tasks = (*others[:j], moved, *others[j:])
    counts = shift(shift(counts_of(tracker.tasks), task, -1), moved, 1)
    fields: dict[str, Any] = {
        "phases": following(tracker, counts, {task.phase, ch.phase}, moved, tasks)
    }
    moved_subs = 0
    if not isinstance(tracker.subtasks, UnsetType):
        subs: list[Subtask] = []
        for s in tracker.subtasks:
            if s.task_id == old:
                sub_id = new_id + s.id[len(old) :] if s.id.startswith(old + ".") else s.id
                s = replace(s, id=sub_id, task_id=new_id)
                moved_subs += 1
            subs.append(s)
        fields["subtasks"] = tuple(subs)
    line = f"Moved task {old} → {new_id} (phase {ch.phase}: {target.name})"
    if rewritten:
        line += f"; updated dependencies of {', '.join(rewritten)}"
    return Applied(
        tracker=finish(tracker, at, tasks=tasks, counts=counts, **fields),
        lines=[line],
        healing=[],
        result={
            "task": new_id,
            "previous": old,
            "phase": ch.phase,
            "previous_phase": task.phase,
            "dependents_updated": rewritten,
            "subtasks_moved": moved_subs,
        },
        changed=True,
    )


def delete_task(tracker: Tracker, ch: c.DeleteTask, at: str) -> Applied:
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    cleaned: list[str] = []
    tasks: list[Task] = []
    for t in tracker.tasks[:i] + tracker.tasks[i + 1 :]:
        if task.id in deps_of(t):
            t = without_dep(t, task.id)
            cleaned.append(t.id)
        tasks.append(t)
    fields: dict[str, Any] = {}
    dropped = 0
    if not isinstance(tracker.subtasks, UnsetType):
        subs = tuple(s for s in tracker.subtasks if s.task_id != task.id)
        dropped = len(tracker.subtasks) - len(subs)
        fields["subtasks"] = subs
    counts = shift(counts_of(tracker.tasks), task, -1)
    fields["phases"] = following(tracker, counts, {task.phase}, None, tasks)
    line = f"Deleted task {task.id}: {task.title}"
    notes = []
    if dropped:
        notes.append(f"removed {plural(dropped, 'sub-task')}")
    if cleaned:
        notes.append(f"removed from the dependencies of {', '.join(cleaned)}")
    if notes:
        line += f" ({'; '.join(notes)})"
    return Applied(
        tracker=finish(tracker, at, tasks=tuple(tasks), counts=counts, **fields),
        lines=[line],
        healing=[],
        result={
            "task": task.id,
            "name": task.title,
            "deleted": True,
            "subtasks_removed": dropped,
            "dependents_updated": cleaned,
        },
        changed=True,
    )


def _cycle(tracker: Tracker, start: str, goal: str) -> list[str] | None:
    """A dependency path start → … → goal, if ``goal`` is reachable from ``start``."""
    deps = {t.id: deps_of(t) for t in tracker.tasks}
    parent: dict[str, str] = {}
    stack = [start]
    seen = {start}
    while stack:
        node = stack.pop()
        if node == goal:
            path = [node]
            while path[-1] != start:
                path.append(parent[path[-1]])
            return path[::-1]
        for nxt in deps.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                parent[nxt] = node
                stack.append(nxt)
    return None


def add_dependency(tracker: Tracker, ch: c.AddDependency, at: str) -> Applied:
    i = find_task(tracker, ch.task_id)
    find_task(tracker, ch.depends_on)
    task = tracker.tasks[i]
    result = {"task": task.id, "depends_on": ch.depends_on}
    if ch.depends_on == task.id:
        raise errors.InvalidArgument(f"Task {task.id} cannot depend on itself")
    if ch.depends_on in deps_of(task):
        return unchanged(tracker, f"Task {task.id} already depends on {ch.depends_on}.", result)
    path = _cycle(tracker, ch.depends_on, task.id)
    if path is not None:
        chain = " → ".join([task.id, *path])
        raise errors.InvalidArgument(
            f"Task {task.id} cannot depend on {ch.depends_on}: that would make a cycle ({chain})"
        )
    new = replace(task, dependencies=(*deps_of(task), ch.depends_on))
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=[f"Task {task.id} now depends on {ch.depends_on}"],
        healing=[],
        result=result,
        changed=True,
    )


def set_verification(tracker: Tracker, ch: c.SetVerification, at: str) -> Applied:
    text = ch.text.strip()
    if not text:
        raise errors.InvalidArgument("Verification text cannot be empty")
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    result = {"task": task.id, "verification": text}
    if task.verification == text:
        return unchanged(tracker, f"Verification of task {task.id} is already: {text}", result)
    new = replace(task, verification=text)
    return Applied(
        tracker=put(tracker, i, new, at),
        lines=[f"Verification of task {task.id} set to: {text}"],
        healing=[],
        result=result,
        changed=True,
    )
