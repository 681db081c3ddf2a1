"""Finding a task, phase or sub-task, and the ``NotFound`` that names the nearest
existing IDs when it is absent.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from typing import Final

from wtd import errors
from wtd.tracker.model import Tracker
from wtd.tracker.ops.memo import INDEX_FROM, facts_of, task_id_of


def _key(ident: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in ident.split("."))
    except ValueError:
        return ()


def _nearest(wanted: str, ids: Sequence[str], limit: int = 3) -> list[str]:
    """Same-parent neighbours of ``wanted`` (the IDs just below and above it) first,
    then difflib close matches, then the IDs of the numerically nearest parent."""
    key = _key(wanted)
    if not key:
        return difflib.get_close_matches(wanted, ids, n=limit, cutoff=0.5)
    parent = key[:-1]
    depth = wanted.count(".")
    prefix = ".".join(map(str, parent)) + "." if parent else ""
    siblings = sorted((_key(i), i) for i in ids if i.startswith(prefix) and i.count(".") == depth)
    out = [i for k, i in siblings if k < key][-1:] + [i for k, i in siblings if k > key][:1]
    pool: Sequence[str] = ids
    if len(ids) > 2000:  # difflib over 100k IDs is slow: look near the first number only
        heads = tuple(f"{key[0] + d}." for d in range(-2, 3))
        pool = [i for i in ids if i.startswith(heads)]
    for match in difflib.get_close_matches(wanted, pool, n=limit + len(out), cutoff=0.5):
        if match not in out:
            out.append(match)
    if not out and parent:
        # Nothing similar: offer the IDs of the numerically nearest parent.
        keyed = [(k, i) for i in ids if len(k := _key(i)) == len(key)]

        def gap(k: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(abs(x - y) for x, y in zip(k[:-1], parent, strict=True))

        if keyed:
            best = min(gap(k) for k, _ in keyed)
            group = [(k, i) for k, i in keyed if gap(k) == best]
            out = [i for k, i in sorted(group, key=lambda g: (abs(g[0][-1] - key[-1]), g[0]))]
    return out[:limit]


def nearest_task_ids(tracker: Tracker, task_id: str, limit: int = 3) -> list[str]:
    """The existing task IDs closest to ``task_id`` (for "not found" suggestions)."""
    return _nearest(task_id, [t.id for t in tracker.tasks], limit)


def nearest_phases(tracker: Tracker, number: int, limit: int = 3) -> list[int]:
    numbers = sorted(p.number for p in tracker.phases)
    return sorted(numbers, key=lambda n: (abs(n - number), n))[:limit]


def task_not_found(tracker: Tracker, task_id: str) -> errors.NotFound:
    near = nearest_task_ids(tracker, task_id)
    hint = f" (nearest: {', '.join(near)})" if near else ""
    return errors.NotFound(f"Task {task_id} not found{hint}", suggestions=near)


def phase_not_found(tracker: Tracker, number: int) -> errors.NotFound:
    near = [str(n) for n in nearest_phases(tracker, number)]
    hint = f" (nearest: {', '.join(near)})" if near else ""
    return errors.NotFound(f"Phase {number} not found{hint}", suggestions=near)


def subtask_not_found(tracker: Tracker, subtask_id: str) -> errors.NotFound:
    near = _nearest(subtask_id, [s.id for s in tracker.all_subtasks()])
    hint = f" (nearest: {', '.join(near)})" if near else ""
    return errors.NotFound(f"Sub-task {subtask_id} not found{hint}", suggestions=near)


SOURCE_ID: Final = "x_source_id"
# an X.Y ID is the tracker's own, never looked up among plans' IDs: once a task is
# deleted, its ID must not reach another task that a plan happened to number so
_TRACKER_ID: Final = re.compile(r"[0-9]+\.[0-9]+")


def find_task(tracker: Tracker, task_id: str) -> int:
    """The index of ``task_id`` in ``tracker.tasks``; NotFound (with nearest IDs) if absent.

    Big trackers get an id → index map, memoised with their tasks and carried over
    by changes that keep every task in place (status, rename, evidence, ...).
    """
    tasks = tracker.tasks
    if len(tasks) >= INDEX_FROM:
        facts = facts_of(tasks)
        if facts.pos is None:
            facts.pos = dict(zip(map(task_id_of, tasks), range(len(tasks)), strict=True))
        i = facts.pos.get(task_id)
        if i is not None:
            return i
    else:
        for i, task in enumerate(tasks):
            if task.id == task_id:
                return i
    if not _TRACKER_ID.fullmatch(task_id):  # the ID an imported plan gave it (T003)
        found = [i for i, t in enumerate(tasks) if t.extra and t.extra.get(SOURCE_ID) == task_id]
        if not found:  # phrases are case-insensitive: t003 is the plan's T003
            wanted = task_id.casefold()
            found = [
                i
                for i, t in enumerate(tasks)
                if t.extra
                and isinstance(source := t.extra.get(SOURCE_ID), str)
                and source.casefold() == wanted
            ]
        if len(found) == 1:  # (two tasks from plans with the same ID: neither is meant)
            return found[0]
        if found:
            ids = [tasks[i].id for i in found]
            raise errors.NotFound(
                f"Task {task_id} is ambiguous: the plan gave that ID to {len(ids)} tasks "
                f"({', '.join(ids[:5])}{', …' if len(ids) > 5 else ''}); name one by its "
                "tracker ID",
                suggestions=ids[:5],
            )
    raise task_not_found(tracker, task_id)


def find_phase(tracker: Tracker, number: int) -> int:
    for i, phase in enumerate(tracker.phases):
        if phase.number == number:
            return i
    raise phase_not_found(tracker, number)
