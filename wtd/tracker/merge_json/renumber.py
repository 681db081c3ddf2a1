"""Theirs' additions that clash with ours' (added on both sides under the same key,
and different) moved to free keys before the merge, so that both are kept.

``renumber(base, ours, theirs)`` returns theirs renumbered and what moved: phases
first (a phase added on both sides under different names takes the next free number,
and the tasks theirs added to it follow: ``4.2`` → ``5.2``), then tasks (the next free
id of their phase), then sub-tasks (the next free id of their task). A task's sub-tasks
follow it (ids and ``task_id``), and so do the dependencies theirs gave on it.
"""

from __future__ import annotations

import msgspec
from msgspec.structs import replace

from wtd.tracker.merge_json.values import Renumbered, by_key, grouped, number
from wtd.tracker.model import Phase, Subtask, Task, Tracker

Moves = dict[str, tuple[str, int]]  # old task id → (new id, new phase)


def renumber(base: Tracker, ours: Tracker, theirs: Tracker) -> tuple[Tracker, list[Renumbered]]:
    said: list[Renumbered] = []
    b_tasks = {t.id for t in base.tasks}
    moves: Moves = {}
    phases = _phases(base, ours, theirs, b_tasks, moves, said)
    _tasks(base, ours, theirs, b_tasks, moves, said)
    subs = theirs.all_subtasks()
    if moves:
        theirs = replace(theirs, phases=phases, tasks=_moved_tasks(base, theirs.tasks, moves))
        subs = tuple(_moved_subtask(s, moves) for s in subs)
    subs = _subtasks(base, ours, subs, said)
    if subs is not theirs.all_subtasks():
        theirs = replace(theirs, subtasks=subs)
    return theirs, said


def follow_moves(base: Tracker, ours: Tracker, theirs: Tracker) -> tuple[Tracker, Tracker, Tracker]:
    """A task one side moved to another phase (``move task``: a new id and phase, all
    else as it was) is moved the same way in the base and on the other side, which
    still has it under its old id: the other side's changes to it are then merged into
    it, instead of the merge keeping the task twice (the moved one, and the other
    side's changed one) and taking the move for a deletion."""
    for mover in ("ours", "theirs"):
        side, other = (ours, theirs) if mover == "ours" else (theirs, ours)
        moves = _moves_on(base, side, other)
        if not moves:
            continue
        base = _moved(base, moves)
        other = _moved(other, moves)
        ours, theirs = (side, other) if mover == "ours" else (other, side)
    return base, ours, theirs


def _moves_on(base: Tracker, side: Tracker, other: Tracker) -> Moves:
    """The tasks ``side`` moved that ``other`` changed (one it left as it was needs
    nothing: the move is taken as any one-sided change is)."""
    side_ids = {t.id for t in side.tasks}
    base_ids = {t.id for t in base.tasks}
    others = by_key(other.tasks, lambda t: t.id)
    base_subs, other_subs = grouped(base.all_subtasks()), grouped(other.all_subtasks())
    gone = [
        t
        for t in base.tasks
        if t.id not in side_ids
        and t.id in others
        and (others[t.id] != t or other_subs.get(t.id) != base_subs.get(t.id))
    ]
    other_ids = set(others)
    added = [t for t in side.tasks if t.id not in base_ids and t.id not in other_ids]
    if not gone or not added:
        return {}
    keyed: dict[bytes, list[Task]] = {}
    for task in added:
        keyed.setdefault(_as_moved(task), []).append(task)
    moves: Moves = {}
    for task in gone:
        found = keyed.get(_as_moved(task), [])
        if len(found) == 1 and found[0].phase != task.phase:  # one, unambiguous
            moves[task.id] = (found[0].id, found[0].phase)
    return moves


def _as_moved(task: Task) -> bytes:
    """``task`` without what a move changes (its id and phase)."""
    return msgspec.json.encode(replace(task, id="", phase=0))


def _moved(tracker: Tracker, moves: Moves) -> Tracker:
    tasks = tuple(
        replace(t, id=moves[t.id][0], phase=moves[t.id][1]) if t.id in moves else t
        for t in tracker.tasks
    )
    subs = tracker.all_subtasks()
    if any(s.task_id in moves for s in subs):
        return replace(tracker, tasks=tasks, subtasks=tuple(_moved_subtask(s, moves) for s in subs))
    return replace(tracker, tasks=tasks)


def _top_numbers(*trackers: Tracker) -> dict[str, int]:
    """The highest number after each task id prefix ("3" → 4 for 3.1…3.4)."""
    top: dict[str, int] = {}
    for tracker in trackers:
        for task in tracker.tasks:
            head, n = number(task.id)
            if n > top.get(head, 0):
                top[head] = n
    return top


def _phases(
    base: Tracker,
    ours: Tracker,
    theirs: Tracker,
    b_tasks: set[str],
    moves: Moves,
    said: list[Renumbered],
) -> tuple[Phase, ...]:
    b = {p.number for p in base.phases}
    o = by_key(ours.phases, lambda p: p.number)
    clashes = [
        p.number
        for p in theirs.phases
        if p.number not in b and p.number in o and o[p.number].name != p.name
    ]
    if not clashes:
        return theirs.phases
    top = max(
        [0]
        + [p.number for t in (base, ours, theirs) for p in t.phases]
        + [task.phase for t in (base, ours, theirs) for task in t.tasks]
    )
    to: dict[int, int] = {}
    for n in clashes:
        top += 1
        to[n] = top
    moved: dict[int, list[tuple[str, str]]] = {n: [] for n in to}
    for task in theirs.tasks:
        if task.phase in to and task.id not in b_tasks:
            new_phase = to[task.phase]
            head, n = number(task.id)
            new_id = f"{new_phase}.{n}" if head == str(task.phase) else task.id
            moves[task.id] = (new_id, new_phase)
            moved[task.phase].append((task.id, new_id))
    for n, new in to.items():
        said.append(Renumbered(entity="phase", old=str(n), new=str(new), moved=tuple(moved[n])))
    return tuple(replace(p, number=to[p.number]) if p.number in to else p for p in theirs.phases)


def _tasks(
    base: Tracker,
    ours: Tracker,
    theirs: Tracker,
    b_tasks: set[str],
    moves: Moves,
    said: list[Renumbered],
) -> None:
    o = by_key(ours.tasks, lambda t: t.id)
    top: dict[str, int] | None = None
    for task in theirs.tasks:
        mine = o.get(task.id)
        if mine is None or task.id in b_tasks or task.id in moves or mine == task:
            continue
        if top is None:
            top = _top_numbers(base, ours, theirs)
            for new_id, _ in moves.values():
                head, n = number(new_id)
                top[head] = max(top.get(head, 0), n)
        head, _ = number(task.id)
        top[head] = top.get(head, 0) + 1
        new_id = f"{head}.{top[head]}"
        moves[task.id] = (new_id, task.phase)
        said.append(Renumbered(entity="task", old=task.id, new=new_id))


def _moved_tasks(base: Tracker, tasks: tuple[Task, ...], moves: Moves) -> tuple[Task, ...]:
    before = by_key(base.tasks, lambda t: t.id)
    out: list[Task] = []
    for task in tasks:
        deps = task.dependencies
        if isinstance(deps, tuple) and any(d in moves for d in deps):
            was = before.get(task.id)
            if was is None or was.dependencies != deps:  # a dependency theirs gave
                task = replace(task, dependencies=tuple(moves.get(d, (d, 0))[0] for d in deps))
        if task.id in moves:
            new_id, phase = moves[task.id]
            task = replace(task, id=new_id, phase=phase)
        out.append(task)
    return tuple(out)


def _moved_subtask(sub: Subtask, moves: Moves) -> Subtask:
    if sub.task_id not in moves:
        return sub
    old = sub.task_id
    new_id = moves[old][0]
    sub_id = new_id + sub.id[len(old) :] if sub.id.startswith(old + ".") else sub.id
    return replace(sub, id=sub_id, task_id=new_id)


def _subtasks(
    base: Tracker, ours: Tracker, subs: tuple[Subtask, ...], said: list[Renumbered]
) -> tuple[Subtask, ...]:
    b = {s.id for s in base.all_subtasks()}
    o = by_key(ours.all_subtasks(), lambda s: s.id)
    clashes = {s.id for s in subs if s.id not in b and s.id in o and o[s.id] != s}
    if not clashes:
        return subs
    top: dict[str, int] = {}
    for group in (base.all_subtasks(), ours.all_subtasks(), subs):
        for s in group:
            head, n = number(s.id)
            top[head] = max(top.get(head, 0), n)
    out: list[Subtask] = []
    for s in subs:
        if s.id in clashes:
            head = s.task_id
            top[head] = top.get(head, 0) + 1
            new_id = f"{head}.{top[head]}"
            said.append(Renumbered(entity="sub-task", old=s.id, new=new_id))
            s = replace(s, id=new_id)
        out.append(s)
    return tuple(out)
