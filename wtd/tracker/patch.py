"""Entity-level patches: the difference between two trackers, and applying it.

``diff(target, current)`` is the smallest ``commands.Patch`` that turns ``current``
into ``target`` (whole entities: the meta, the phases list, individual tasks by id,
the sub-tasks list). The Store computes ``diff(before, after)`` for every change —
the change's inverse, kept in the journal for ``undo`` — and journals adopted hand
edits as patches too. Unchanged tasks are shared between trackers, so the common
case is a pass of identity checks. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
from msgspec import UNSET

from wtd.tracker import commands as c
from wtd.tracker import model
from wtd.tracker.model import Tracker
from wtd.tracker.model.raw import struct_raw
from wtd.tracker.model.structs import spliced_at

_STEP = 256  # tasks compared per slice


def _raw(obj: msgspec.Struct) -> dict[str, Any]:
    return struct_raw(obj)


def _put_in_place(
    target: Tracker,
    current: Tracker,
    places: Iterable[int],
    tasks_put: list[tuple[int, dict[str, Any]]],
) -> bool:
    """Add to ``tasks_put`` the tasks of ``target`` that differ at ``places`` from the
    same task of ``current``; False when a place holds another task (not aligned)."""
    for i in places:
        t, cur = target.tasks[i], current.tasks[i]
        if t is cur:
            continue
        if t.id != cur.id:
            return False
        if t != cur:
            tasks_put.append((i, _raw(t)))
    return True


def diff(target: Tracker, current: Tracker, *, reason: str, undo_of: int | None = None) -> c.Patch:
    """The patch that turns ``current`` into ``target``."""
    tasks_put: list[tuple[int, dict[str, Any]]] = []
    tasks_remove: list[str] = []
    if target.tasks is not current.tasks:
        aligned = len(target.tasks) == len(current.tasks)
        # made one from the other by splices (a change to one task): only those places
        spliced = spliced_at(current.tasks, target.tasks) if aligned else None
        if spliced is None and aligned:
            spliced = spliced_at(target.tasks, current.tasks)
        if spliced is not None:
            aligned = _put_in_place(target, current, sorted(set(spliced)), tasks_put)
        for start in range(0, len(target.tasks), _STEP) if aligned and spliced is None else ():
            stop = start + _STEP
            if target.tasks[start:stop] == current.tasks[start:stop]:
                continue  # a C-speed check (identity first); the common case
            places = range(start, min(stop, len(target.tasks)))
            if not _put_in_place(target, current, places, tasks_put):
                aligned = False
                break
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
    """``tracker`` with ``patch`` applied (entities replaced, removed or inserted).

    Only the entities the patch names are converted; every other task is shared
    with ``tracker``, so applying a small patch to a big tracker stays cheap.
    Raises model.TrackerError when a patched entity is not valid.
    """
    if is_empty(patch):
        return tracker
    fields: dict[str, Any] = {}
    if patch.meta is not None:
        fields["meta"] = model.entity_from_raw(model.Meta, patch.meta, "meta")
    if patch.phases is not None:
        fields["phases"] = tuple(
            model.entity_from_raw(model.Phase, p, f"phases[{i}]")
            for i, p in enumerate(patch.phases)
        )
    if patch.subtasks is not None:
        fields["subtasks"] = tuple(
            model.entity_from_raw(model.Subtask, t, f"subtasks[{i}]")
            for i, t in enumerate(patch.subtasks)
        )
    if patch.events is not None:
        fields["events"] = tuple(patch.events)
    if patch.extra is not None:
        fields["extra"] = dict(patch.extra)
    if patch.tasks_put or patch.tasks_remove:
        gone = set(patch.tasks_remove)
        tasks = [t for t in tracker.tasks if t.id not in gone] if gone else list(tracker.tasks)
        index = {t.id: i for i, t in enumerate(tasks)}
        for position, raw in sorted(patch.tasks_put, key=lambda p: p[0]):
            task = model.entity_from_raw(model.Task, raw, f"task {raw.get('id')}")
            at = index.get(task.id)
            if at is not None:
                tasks[at] = task
            else:
                tasks.insert(min(position, len(tasks)), task)
                index = {t.id: i for i, t in enumerate(tasks)}
        fields["tasks"] = tuple(tasks)
    return msgspec.structs.replace(tracker, **fields)


def touches(patch: c.Patch, task_id: str) -> bool:
    """Does ``patch`` set or remove task ``task_id``?"""
    return task_id in patch.tasks_remove or any(t.get("id") == task_id for _, t in patch.tasks_put)


# Fields wtd itself rewrites on every change: never evidence of a person's edit.
_DERIVED_META = ("updated", "progress")


def _meta_core(meta: model.Meta) -> model.Meta:
    return msgspec.structs.replace(meta, updated=UNSET, progress=UNSET)


def _phases_core(phases: tuple[model.Phase, ...]) -> tuple[model.Phase, ...]:
    return tuple(msgspec.structs.replace(p, progress=UNSET) for p in phases)


def merge3(base: Tracker, ours: Tracker, edited: Tracker) -> tuple[Tracker, list[str]]:
    """Three-way merge of a hand-edited JSON, entity by entity.

    ``base`` is the state the editor started from, ``ours`` wtd's current state,
    ``edited`` what was saved. What the editor changed is taken over unless wtd
    changed the same entity since ``base`` — then wtd's value stays and the edit is
    reported as a conflict. Nothing wtd changed meanwhile (e.g. tasks added by
    agents) is lost. Returns the merged tracker and the conflict lines.
    """
    conflicts: list[str] = []
    result = ours
    if _meta_core(edited.meta) != _meta_core(base.meta):
        if _meta_core(ours.meta) != _meta_core(base.meta):
            conflicts.append("meta: changed in the JSON and by the hand edit; the JSON's kept")
        else:
            meta = msgspec.structs.replace(
                edited.meta, updated=ours.meta.updated, progress=ours.meta.progress
            )
            result = msgspec.structs.replace(result, meta=meta)
    if _phases_core(edited.phases) != _phases_core(base.phases):
        if _phases_core(ours.phases) != _phases_core(base.phases):
            conflicts.append("phases: changed in the JSON and by the hand edit; the JSON's kept")
        else:
            result = msgspec.structs.replace(result, phases=edited.phases)
    if edited.subtasks != base.subtasks:
        if ours.subtasks != base.subtasks:
            conflicts.append("subtasks: changed in the JSON and by the hand edit; the JSON's kept")
        else:
            result = msgspec.structs.replace(result, subtasks=edited.subtasks)
    if edited.extra != base.extra and ours.extra == base.extra:
        result = msgspec.structs.replace(result, extra=edited.extra)
    mine = diff(edited, base, reason="hand edit")  # the editor's task changes
    before = {t.id: t for t in base.tasks}
    now = {t.id: t for t in ours.tasks}
    keep_put = []
    for position, raw in mine.tasks_put:
        task_id = raw.get("id")
        if task_id in now and task_id in before and now[task_id] != before[task_id]:
            conflicts.append(
                f"task {task_id}: changed in the JSON and by the hand edit; JSON's kept"
            )
            continue
        keep_put.append((position, raw))
    keep_remove = []
    for task_id in mine.tasks_remove:
        if task_id in now and now[task_id] != before.get(task_id):
            conflicts.append(
                f"task {task_id}: deleted by the hand edit but changed in the JSON; kept"
            )
            continue
        keep_remove.append(task_id)
    tasks_only = c.Patch(reason="hand edit", tasks_put=keep_put, tasks_remove=keep_remove)
    return apply_patch(result, tasks_only), conflicts


def base_of(candidates: list[Tracker], edited: Tracker) -> Tracker:
    """The state a hand edit started from, among ``candidates`` (newest first).

    wtd stamps every state it writes with ``meta.updated`` (to the microsecond), and
    editors leave that stamp alone: the newest candidate carrying the edited file's
    stamp is the state the editor read. Without one (the stamp was edited, or the
    state is out of reach), the candidate that differs least, the newest on a tie.
    Matching by content alone is wrong when an edit sets fields back to values an
    older state had (a change redone by hand after an undo): that older state then
    looks like the base and the edit looks like no change at all.
    """
    stamp = edited.meta.updated
    if isinstance(stamp, str) and stamp:
        for state in candidates:
            if state.meta.updated == stamp:
                return state
    return closest(candidates, edited)


def closest(candidates: list[Tracker], edited: Tracker) -> Tracker:
    """The candidate state that differs least from ``edited``, counted in fields (an
    edit merged field by field needs the state it started from to the field: a task
    renamed in a copy read before someone completed it is nearer the state before);
    the first on a tie."""

    def distance(state: Tracker) -> int:
        d = diff(edited, state, reason="")
        fields = 0
        by_id = {t.id: t for t in state.tasks}
        for _position, raw in d.tasks_put:
            were = by_id.get(str(raw.get("id")))
            if were is None:
                fields += len(raw)
                continue
            old = _raw(were)
            fields += sum(1 for key in raw.keys() | old.keys() if raw.get(key) != old.get(key))
        return fields + len(d.tasks_remove) + (d.subtasks is not None)

    return min(candidates, key=distance)
