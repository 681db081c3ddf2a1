"""Theirs' additions that clash with ours' (added on both sides under the same key,
and different) moved to free keys before the merge, so that both are kept.

``renumber(base, ours, theirs)`` returns theirs renumbered and what moved: phases
first (a phase added on both sides under different names takes the next free number,
and the tasks theirs added to it follow: ``4.2`` → ``5.2``), then tasks (the next free
id of their phase), then sub-tasks (the next free id of their task). A task's sub-tasks
follow it (ids and ``task_id``), and so do the dependencies theirs gave on it.
"""

from __future__ import annotations

from msgspec.structs import replace

from wtd.tracker.merge_json.values import Renumbered, by_key, number
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
