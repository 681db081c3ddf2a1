"""Entity-level patches: the difference between two trackers, and applying it.

``diff(target, current)`` is the smallest ``commands.Patch`` that turns ``current``
into ``target`` (whole entities: the meta, the phases list, individual tasks by id,
the sub-tasks list). The Store computes ``diff(before, after)`` for every change —
the change's inverse, kept in the journal for ``undo`` — and journals adopted hand
edits as patches too. Unchanged tasks are shared between trackers, so the common
case is a pass of identity checks. Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

import msgspec
from msgspec import UNSET

from wtd.tracker import commands as c
from wtd.tracker import model
from wtd.tracker.model import Tracker


def _raw(obj: msgspec.Struct) -> dict[str, Any]:
    return model._struct_raw(obj)


def diff(target: Tracker, current: Tracker, *, reason: str, undo_of: int | None = None) -> c.Patch:
    """The patch that turns ``current`` into ``target``."""
    tasks_put: list[tuple[int, dict[str, Any]]] = []
    tasks_remove: list[str] = []
    if target.tasks is not current.tasks:
        aligned = len(target.tasks) == len(current.tasks)
        if aligned:
            for i, (t, cur) in enumerate(zip(target.tasks, current.tasks, strict=True)):
                if t is cur:
                    continue
                if t.id != cur.id:
                    aligned = False
                    break
                if t != cur:
                    tasks_put.append((i, _raw(t)))
        if not aligned:
            tasks_put = []
            now = {t.id: t for t in current.tasks}
            wanted = {t.id for t in target.tasks}
            tasks_remove = [t.id for t in current.tasks if t.id not in wanted]
            for i, t in enumerate(target.tasks):
                was = now.get(t.id)
                if was is None or (was is not t and was != t):
                    tasks_put.append((i, _raw(t)))
    subtasks = None
    if target.subtasks != current.subtasks:
        subtasks = [_raw(s) for s in target.all_subtasks()]
    return c.Patch(
        reason=reason,
        undo_of=undo_of,
        meta=_raw(target.meta) if target.meta != current.meta else None,
        phases=[_raw(p) for p in target.phases] if target.phases != current.phases else None,
        tasks_put=tasks_put,
        tasks_remove=tasks_remove,
        subtasks=subtasks,
        events=(
            list(target.events)
            if target.events != current.events and not isinstance(target.events, type(UNSET))
            else None
        ),
        extra=dict(target.extra) if target.extra != current.extra else None,
    )


def is_empty(patch: c.Patch) -> bool:
    return not (
        patch.meta
        or patch.phases is not None
        or patch.tasks_put
        or patch.tasks_remove
        or patch.subtasks is not None
        or patch.events is not None
        or patch.extra is not None
    )


def apply_patch(tracker: Tracker, patch: c.Patch) -> Tracker:
    """``tracker`` with ``patch`` applied (entities replaced, removed or inserted)."""
    raw = model.to_raw(tracker) if _needs_rebuild(patch) else None
    if raw is None:
        return tracker
    if patch.meta is not None:
        raw["meta"] = patch.meta
    if patch.phases is not None:
        raw["phases"] = patch.phases
    if patch.subtasks is not None:
        raw["subtasks"] = patch.subtasks
    if patch.events is not None:
        raw["events"] = patch.events
    if patch.extra is not None:
        for key in [k for k in raw if k not in _CORE]:
            del raw[key]
        raw.update(patch.extra)
    tasks: list[dict[str, Any]] = raw["tasks"]
    if patch.tasks_remove:
        gone = set(patch.tasks_remove)
        tasks = [t for t in tasks if t.get("id") not in gone]
    index = {t.get("id"): i for i, t in enumerate(tasks)}
    for position, task in sorted(patch.tasks_put, key=lambda p: p[0]):
        at = index.get(task.get("id"))
        if at is not None:
            tasks[at] = task
        else:
            tasks.insert(min(position, len(tasks)), task)
            index = {t.get("id"): i for i, t in enumerate(tasks)}
    raw["tasks"] = tasks
    return model.from_raw(raw)


_CORE = frozenset({"schema_version", "meta", "phases", "tasks", "subtasks", "events"})


def _needs_rebuild(patch: c.Patch) -> bool:
    return not is_empty(patch)


def touches(patch: c.Patch, task_id: str) -> bool:
    """Does ``patch`` set or remove task ``task_id``?"""
    return task_id in patch.tasks_remove or any(t.get("id") == task_id for _, t in patch.tasks_put)
