"""Applying a change to a tracker: ``apply(tracker, change, at=..., actor=...) -> Applied``.

Pure: the input tracker is an immutable value and is never modified; the caller
passes the clock (``at``, ISO-8601 UTC) and who acts (``actor``). A change either
yields a whole new tracker or raises (``errors.NotFound`` for an unknown task,
phase or sub-task, naming the nearest existing IDs; ``errors.InvalidArgument``
for a request that cannot be honoured). Every tracker returned validates against
the ECW v2 schema and stores the derived progress (overall and per phase), so a
stale stored progress in the input is corrected by any change.

Cheap on big trackers: progress is updated from per-phase (complete, counted)
counts that are carried from one tracker to the next (a small identity-keyed
memo of immutable values, invisible in the results), so a status change on a
100k-task tracker costs one scan to find the task and one tuple copy.
"""

from __future__ import annotations

import difflib
import hashlib
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any, Final, assert_never

import msgspec
from msgspec import UnsetType
from msgspec.structs import replace

from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker import model, patch
from wtd.tracker import status as st
from wtd.tracker.model import Phase, Subtask, Task, Tracker

MAX_NAME: Final = 200


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one change: the new tracker and what to tell the user."""

    tracker: Tracker
    lines: list[str]
    healing: list[str]
    result: dict[str, Any]
    changed: bool  # False: a no-op, the caller skips the write


# ------------------------------------------------------------------ nearest IDs


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


def find_task(tracker: Tracker, task_id: str) -> int:
    """The index of ``task_id`` in ``tracker.tasks``; NotFound (with nearest IDs) if absent.

    Big trackers get an id → index map, memoised with their tasks and carried over
    by changes that keep every task in place (status, rename, evidence, ...).
    """
    tasks = tracker.tasks
    if len(tasks) >= _INDEX_FROM:
        facts = _facts(tasks)
        if facts.pos is None:
            facts.pos = dict(zip(map(_task_id, tasks), range(len(tasks)), strict=True))
        i = facts.pos.get(task_id)
        if i is not None:
            return i
    else:
        for i, task in enumerate(tasks):
            if task.id == task_id:
                return i
    raise task_not_found(tracker, task_id)


def find_phase(tracker: Tracker, number: int) -> int:
    for i, phase in enumerate(tracker.phases):
        if phase.number == number:
            return i
    raise phase_not_found(tracker, number)


# ------------------------------------------------------------- progress counts

# Per phase: (complete, counted). Never mutated once built.
Counts = dict[int, tuple[int, int]]


class _Facts:
    """What we know about one tasks tuple: progress counts and, when big, id → index."""

    __slots__ = ("counts", "pos", "tasks")

    def __init__(self, tasks: tuple[Task, ...], counts: Counts | None = None) -> None:
        self.tasks = tasks  # the strong ref keeps id(tasks) unique while memoised
        self.counts = counts
        self.pos: dict[str, int] | None = None


_MEMO_SIZE: Final = 8
_INDEX_FROM: Final = 5000  # below this a scan is cheaper than building the map
_memo: dict[int, _Facts] = {}
_memo_lock = threading.Lock()
_phase_status = attrgetter("phase", "status")
_task_id = attrgetter("id")


def _facts(tasks: tuple[Task, ...]) -> _Facts:
    with _memo_lock:
        # Least recently used goes first; pop + insert moves an entry to the end.
        facts = _memo.pop(id(tasks), None)
        if facts is None or facts.tasks is not tasks:
            facts = _Facts(tasks)
        _memo[id(tasks)] = facts
        while len(_memo) > _MEMO_SIZE:
            del _memo[next(iter(_memo))]
        return facts


def prime(tracker: Tracker) -> None:
    """Precompute what ``apply`` memoises (progress counts, the id index of a big
    tracker) so the first change after a load is as cheap as the ones after it."""
    counts_of(tracker.tasks)
    if tracker.tasks:
        find_task(tracker, tracker.tasks[0].id)


def _remember(tasks: tuple[Task, ...], counts: Counts, pos: dict[str, int] | None) -> None:
    facts = _facts(tasks)
    facts.counts = counts
    facts.pos = pos


def counts_of(tasks: tuple[Task, ...]) -> Counts:
    """Per-phase (complete, counted) for ``tasks``: memoised by the tuple's identity."""
    facts = _facts(tasks)
    if facts.counts is not None:
        return facts.counts
    per: dict[int, list[int]] = {}
    for (phase, status), n in Counter(map(_phase_status, tasks)).items():
        slot = per.setdefault(phase, [0, 0])
        if status in st.EXCLUDED:
            continue
        slot[1] += n
        if status == "complete":
            slot[0] += n
    facts.counts = counts = {p: (a, b) for p, (a, b) in per.items()}
    return counts


def _shift(counts: Counts, task: Task, sign: int) -> Counts:
    """``counts`` with ``task`` added (sign=1) or removed (sign=-1)."""
    if task.status in st.EXCLUDED:
        return counts
    done, counted = counts.get(task.phase, (0, 0))
    out = dict(counts)
    out[task.phase] = (done + sign * (task.status == "complete"), counted + sign)
    return out


def _percent(done: int, counted: int) -> int:
    return round(100 * done / counted) if counted else 0


def _finish(
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
        _remember(new_tasks, counts, pos)
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


def _put(tracker: Tracker, i: int, new: Task, at: str) -> Tracker:
    """The tracker with ``tasks[i]`` replaced by ``new`` (same id, same place)."""
    old = tracker.tasks[i]
    counts = _shift(_shift(counts_of(tracker.tasks), old, -1), new, 1)
    pos = _facts(tracker.tasks).pos if new.id == old.id else None
    return _finish(tracker, at, tasks=_splice(tracker.tasks, i, new), counts=counts, pos=pos)


# ------------------------------------------------------------------- helpers


def _name(text: str, what: str) -> str:
    name = text.strip()
    if not name:
        raise errors.InvalidArgument(f"{what} cannot be empty")
    if len(name) > MAX_NAME:
        raise errors.InvalidArgument(
            f"{what} is too long ({len(name)} characters; at most {MAX_NAME})"
        )
    return name


def _status(value: str) -> str:
    if not st.is_canonical(value):
        raise errors.InvalidArgument(
            f"Invalid status '{value}' (expected one of: {', '.join(st.STATUSES)})",
            suggestions=[s for s in (st.normalize(value),) if s] or st.suggest(value),
        )
    return value


def _narrate(given: str, status: str, result: str) -> list[str]:
    return [
        f"✓ Issue: Invalid status '{given}'",
        f"✓ Recovery: Normalized to '{status}'",
        f"✓ Result: {result}",
    ]


def _spelling(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def _said(line: str, given: str, status: str) -> tuple[list[str], list[str]]:
    """(lines, healing): the narrative replaces the plain line when input was normalised."""
    if _spelling(given) == status:  # "In Progress" is a spelling, not an alias: no story
        return [line], []
    return [], _narrate(given, status, line)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _next_number(ids: Iterable[str], prefix: str) -> int:
    """1 + the largest last component among ``ids`` that start with ``prefix``."""
    top = 0
    for ident in ids:
        if ident.startswith(prefix):
            rest = ident[len(prefix) :]
            if rest.isdigit():
                top = max(top, int(rest))
    return top + 1


def _insert_at(tasks: Sequence[Task], phase: int) -> int:
    """Where a new task of ``phase`` goes: after that phase's last task, else after the
    last task of an earlier phase, else first."""
    last_same = last_before = -1
    for i, task in enumerate(tasks):
        if task.phase == phase:
            last_same = i
        elif task.phase < phase:
            last_before = i
    return (last_same if last_same >= 0 else last_before) + 1


def _splice(seq: tuple[Any, ...], i: int, item: Any) -> tuple[Any, ...]:
    return seq[:i] + (item,) + seq[i + 1 :]  # noqa: RUF005 - concatenation is faster


def _without_dep(task: Task, dep: str) -> Task:
    assert isinstance(task.dependencies, tuple)
    return replace(task, dependencies=tuple(d for d in task.dependencies if d != dep))


def _deps(task: Task) -> tuple[str, ...]:
    return task.dependencies if isinstance(task.dependencies, tuple) else ()


def _evidence(task: Task) -> tuple[dict[str, Any], ...]:
    return task.evidence if isinstance(task.evidence, tuple) else ()


def _is_verified(entry: dict[str, Any]) -> bool:
    vs = entry.get("verification_status")
    return vs == "verified" or (vs is None and entry.get("verified") is True)


def _nothing(tracker: Tracker, line: str, result: dict[str, Any]) -> Applied:
    return Applied(tracker=tracker, lines=[line], healing=[], result=result, changed=False)


# -------------------------------------------------------------------- apply


def apply(tracker: Tracker, change: c.Change, *, at: str, actor: str) -> Applied:
    """Apply ``change`` to ``tracker``; the input is never modified.

    Raises errors.NotFound / errors.InvalidArgument, in which case nothing changed.
    """
    match change:
        case c.SetTaskStatus():
            return _set_task_status(tracker, change, at)
        case c.SetPhaseStatus():
            return _set_phase_status(tracker, change, at)
        case c.AddPhase():
            return _add_phase(tracker, change, at)
        case c.DeletePhase():
            return _delete_phase(tracker, change, at)
        case c.AddTask():
            return _add_task(tracker, change, at)
        case c.RenameTask():
            return _rename_task(tracker, change, at)
        case c.MoveTask():
            return _move_task(tracker, change, at)
        case c.DeleteTask():
            return _delete_task(tracker, change, at)
        case c.AddDependency():
            return _add_dependency(tracker, change, at)
        case c.SetVerification():
            return _set_verification(tracker, change, at)
        case c.AddSubtask():
            return _add_subtask(tracker, change, at)
        case c.SetSubtaskChecked():
            return _set_subtask_checked(tracker, change, at)
        case c.DeleteSubtask():
            return _delete_subtask(tracker, change, at)
        case c.AttachEvidence():
            return _attach_evidence(tracker, change, at, actor)
        case c.VerifyEvidence():
            return _verify_evidence(tracker, change, at, actor)
        case c.CorrectProgress():
            return _correct_progress(tracker, at)
        case c.Migrate():
            return Applied(
                tracker=tracker,
                lines=["Migrated to schema v2"],
                healing=[],
                result={"schema_version": tracker.schema_version},
                changed=True,
            )
        case c.SetPhaseTasks():
            return _set_phase_tasks(tracker, change, at)
        case c.Patch():
            return _patch(tracker, change)
        case c.Undo():
            raise errors.InvalidArgument("undo needs the journal: it is handled by the store")
        case c.Checkpoint():
            return _nothing(tracker, "Checkpoint", {"checkpoint": change.reason})
        case _:
            assert_never(change)


# ------------------------------------------------------------------ statuses


def _set_task_status(tracker: Tracker, ch: c.SetTaskStatus, at: str) -> Applied:
    status = _status(ch.status)
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
        lines, healing = _said(f"Task {task.id} is already {status}.", ch.given, status)
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
            line += f" ({_plural(still, 'sub-task')} still open)"
            result["open_subtasks"] = still
    if ch.verb == "mark":
        line += "."
    lines, healing = _said(line, ch.given, status)
    return Applied(
        tracker=_put(tracker, i, new, at),
        lines=lines,
        healing=healing,
        result=result,
        changed=True,
    )


def bulk_targets(tracker: Tracker, number: int, status: str) -> list[str]:
    """The ids of phase ``number``'s tasks that a bulk change to ``status`` would change."""
    find_phase(tracker, number)
    return [t.id for t in tracker.tasks if t.phase == number and t.status != status]


def _set_phase_tasks(tracker: Tracker, ch: c.SetPhaseTasks, at: str) -> Applied:
    status = _status(ch.status)
    changing = set(bulk_targets(tracker, ch.number, status))
    result: dict[str, Any] = {"phase": ch.number, "status": status, "tasks": sorted(changing)}
    if not changing:
        line = f"Every task of phase {ch.number} is already {status}."
        lines, healing = _said(line, ch.given, status)
        return Applied(tracker=tracker, lines=lines, healing=healing, result=result, changed=False)
    tasks = tuple(replace(t, status=status) if t.id in changing else t for t in tracker.tasks)
    line = f"Phase {ch.number}: {_plural(len(changing), 'task')} marked {status}."
    lines, healing = _said(line, ch.given, status)
    return Applied(
        tracker=_finish(tracker, at, tasks=tasks),
        lines=lines,
        healing=healing,
        result=result,
        changed=True,
    )


def _patch(tracker: Tracker, ch: c.Patch) -> Applied:
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


def _set_phase_status(tracker: Tracker, ch: c.SetPhaseStatus, at: str) -> Applied:
    status = _status(ch.status)
    i = find_phase(tracker, ch.number)
    phase = tracker.phases[i]
    result = {"phase": phase.number, "status": status, "previous": phase.status}
    if phase.status == status:
        lines, healing = _said(f"Phase {phase.number} is already {status}.", ch.given, status)
        return Applied(tracker=tracker, lines=lines, healing=healing, result=result, changed=False)
    phases = _splice(tracker.phases, i, replace(phase, status=status))
    lines, healing = _said(f"Phase {phase.number} status updated to {status}", ch.given, status)
    return Applied(
        tracker=_finish(tracker, at, phases=phases),
        lines=lines,
        healing=healing,
        result=result,
        changed=True,
    )


# -------------------------------------------------------------------- phases


def _add_phase(tracker: Tracker, ch: c.AddPhase, at: str) -> Applied:
    name = _name(ch.name, "Phase name")
    numbers = [p.number for p in tracker.phases]
    top = max(numbers, default=0)
    number = top + 1 if ch.number is None else ch.number
    if number < 1:
        raise errors.InvalidArgument(f"Phase number must be 1 or more, not {number}")
    if number in numbers:
        raise errors.InvalidArgument(
            f"Phase {number} already exists (the next free number is {top + 1})",
            suggestions=[f"add phase {top + 1} called {name}"],
        )
    new = Phase(number=number, name=name, status="pending", progress=0)
    at_index = sum(1 for n in numbers if n < number)
    phases = (*tracker.phases[:at_index], new, *tracker.phases[at_index:])
    return Applied(
        tracker=_finish(tracker, at, phases=phases),
        lines=[f"Added phase {number}: {name}"],
        healing=[],
        result={"phase": number, "name": name, "status": "pending"},
        changed=True,
    )


def _delete_phase(tracker: Tracker, ch: c.DeletePhase, at: str) -> Applied:
    i = find_phase(tracker, ch.number)
    phase = tracker.phases[i]
    count = sum(1 for t in tracker.tasks if t.phase == phase.number)
    if count:
        raise errors.InvalidArgument(
            f"Phase {phase.number} has {_plural(count, 'task')}; move or delete them first",
            suggestions=[f"list tasks in phase {phase.number}"],
        )
    phases = tracker.phases[:i] + tracker.phases[i + 1 :]
    return Applied(
        tracker=_finish(tracker, at, phases=phases),
        lines=[f"Deleted phase {phase.number}: {phase.name}"],
        healing=[],
        result={"phase": phase.number, "name": phase.name, "deleted": True},
        changed=True,
    )


# --------------------------------------------------------------------- tasks


def _add_task(tracker: Tracker, ch: c.AddTask, at: str) -> Applied:
    name = _name(ch.name, "Task name")
    find_phase(tracker, ch.phase)
    task_id = f"{ch.phase}.{_next_number((t.id for t in tracker.tasks), f'{ch.phase}.')}"
    new = Task(id=task_id, phase=ch.phase, name=name, status="pending")
    i = _insert_at(tracker.tasks, ch.phase)
    tasks = tracker.tasks[:i] + (new,) + tracker.tasks[i:]  # noqa: RUF005 - faster
    counts = _shift(counts_of(tracker.tasks), new, 1)
    return Applied(
        tracker=_finish(tracker, at, tasks=tasks, counts=counts),
        lines=[f"Added task {task_id}: {name}"],
        healing=[],
        result={"task": task_id, "phase": ch.phase, "name": name, "status": "pending"},
        changed=True,
    )


def _rename_task(tracker: Tracker, ch: c.RenameTask, at: str) -> Applied:
    name = _name(ch.name, "Task name")
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    result = {"task": task.id, "name": name, "previous": task.title}
    if task.name == name:
        return _nothing(tracker, f"Task {task.id} is already named {name}.", result)
    return Applied(
        tracker=_put(tracker, i, replace(task, name=name), at),
        lines=[f"Task {task.id} renamed: {task.title} → {name}"],
        healing=[],
        result=result,
        changed=True,
    )


def _move_task(tracker: Tracker, ch: c.MoveTask, at: str) -> Applied:
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
        return _nothing(
            tracker, f"Task {task.id} is already in phase {ch.phase}.", {"task": task.id}
        )
    old = task.id
    new_id = f"{ch.phase}.{_next_number((t.id for t in tracker.tasks), f'{ch.phase}.')}"
    moved = replace(task, id=new_id, phase=ch.phase)
    rest = tracker.tasks[:i] + tracker.tasks[i + 1 :]
    rewritten: list[str] = []
    others: list[Task] = []
    for t in rest:
        if old in _deps(t):
            t = replace(t, dependencies=tuple(new_id if d == old else d for d in _deps(t)))
            rewritten.append(t.id)
        others.append(t)
    j = _insert_at(others, ch.phase)
    tasks = (*others[:j], moved, *others[j:])
    counts = _shift(_shift(counts_of(tracker.tasks), task, -1), moved, 1)
    fields: dict[str, Any] = {}
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
        tracker=_finish(tracker, at, tasks=tasks, counts=counts, **fields),
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


def _delete_task(tracker: Tracker, ch: c.DeleteTask, at: str) -> Applied:
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    cleaned: list[str] = []
    tasks: list[Task] = []
    for t in tracker.tasks[:i] + tracker.tasks[i + 1 :]:
        if task.id in _deps(t):
            t = _without_dep(t, task.id)
            cleaned.append(t.id)
        tasks.append(t)
    fields: dict[str, Any] = {}
    dropped = 0
    if not isinstance(tracker.subtasks, UnsetType):
        subs = tuple(s for s in tracker.subtasks if s.task_id != task.id)
        dropped = len(tracker.subtasks) - len(subs)
        fields["subtasks"] = subs
    counts = _shift(counts_of(tracker.tasks), task, -1)
    line = f"Deleted task {task.id}: {task.title}"
    notes = []
    if dropped:
        notes.append(f"removed {_plural(dropped, 'sub-task')}")
    if cleaned:
        notes.append(f"removed from the dependencies of {', '.join(cleaned)}")
    if notes:
        line += f" ({'; '.join(notes)})"
    return Applied(
        tracker=_finish(tracker, at, tasks=tuple(tasks), counts=counts, **fields),
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
    deps = {t.id: _deps(t) for t in tracker.tasks}
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


def _add_dependency(tracker: Tracker, ch: c.AddDependency, at: str) -> Applied:
    i = find_task(tracker, ch.task_id)
    find_task(tracker, ch.depends_on)
    task = tracker.tasks[i]
    result = {"task": task.id, "depends_on": ch.depends_on}
    if ch.depends_on == task.id:
        raise errors.InvalidArgument(f"Task {task.id} cannot depend on itself")
    if ch.depends_on in _deps(task):
        return _nothing(tracker, f"Task {task.id} already depends on {ch.depends_on}.", result)
    path = _cycle(tracker, ch.depends_on, task.id)
    if path is not None:
        chain = " → ".join([task.id, *path])
        raise errors.InvalidArgument(
            f"Task {task.id} cannot depend on {ch.depends_on}: that would make a cycle ({chain})"
        )
    new = replace(task, dependencies=(*_deps(task), ch.depends_on))
    return Applied(
        tracker=_put(tracker, i, new, at),
        lines=[f"Task {task.id} now depends on {ch.depends_on}"],
        healing=[],
        result=result,
        changed=True,
    )


def _set_verification(tracker: Tracker, ch: c.SetVerification, at: str) -> Applied:
    text = ch.text.strip()
    if not text:
        raise errors.InvalidArgument("Verification text cannot be empty")
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    result = {"task": task.id, "verification": text}
    if task.verification == text:
        return _nothing(tracker, f"Verification of task {task.id} is already: {text}", result)
    new = replace(task, verification=text)
    return Applied(
        tracker=_put(tracker, i, new, at),
        lines=[f"Verification of task {task.id} set to: {text}"],
        healing=[],
        result=result,
        changed=True,
    )


# ------------------------------------------------------------------ sub-tasks


def _add_subtask(tracker: Tracker, ch: c.AddSubtask, at: str) -> Applied:
    name = _name(ch.name, "Sub-task name")
    task = tracker.tasks[find_task(tracker, ch.task_id)]
    subs = tracker.all_subtasks()
    n = _next_number((s.id for s in subs), f"{task.id}.")
    new = Subtask(
        id=f"{task.id}.{n}", task_id=task.id, name=name, status="pending", completed=False
    )
    last = max((k for k, s in enumerate(subs) if s.task_id == task.id), default=len(subs) - 1)
    subtasks = (*subs[: last + 1], new, *subs[last + 1 :])
    return Applied(
        tracker=_finish(tracker, at, subtasks=subtasks),
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


def _set_subtask_checked(tracker: Tracker, ch: c.SetSubtaskChecked, at: str) -> Applied:
    k = _find_subtask(tracker, ch.subtask_id)
    subs = tracker.all_subtasks()
    sub = subs[k]
    status = "complete" if ch.checked else "pending"
    verb = "checked" if ch.checked else "unchecked"
    result: dict[str, Any] = {"subtask": sub.id, "task": sub.task_id, "completed": ch.checked}
    if sub.done == ch.checked and sub.completed is ch.checked and sub.status == status:
        return _nothing(tracker, f"Sub-task {sub.id} is already {verb}.", result)
    new = replace(sub, completed=ch.checked, status=status)
    subtasks = _splice(subs, k, new)
    line = f"Sub-task {sub.id} {verb}: {sub.name}"
    siblings = [new if s.id == sub.id else s for s in subs if s.task_id == sub.task_id]
    if ch.checked and all(s.done for s in siblings):
        line += f" (all {_plural(len(siblings), 'sub-task')} of task {sub.task_id} done)"
    return Applied(
        tracker=_finish(tracker, at, subtasks=subtasks),
        lines=[line],
        healing=[],
        result=result,
        changed=True,
    )


def _delete_subtask(tracker: Tracker, ch: c.DeleteSubtask, at: str) -> Applied:
    k = _find_subtask(tracker, ch.subtask_id)
    subs = tracker.all_subtasks()
    sub = subs[k]
    return Applied(
        tracker=_finish(tracker, at, subtasks=subs[:k] + subs[k + 1 :]),
        lines=[f"Deleted sub-task {sub.id}: {sub.name}"],
        healing=[],
        result={"subtask": sub.id, "task": sub.task_id, "deleted": True},
        changed=True,
    )


# ------------------------------------------------------------------ evidence


def evidence_id(task_id: str, at: str, text: str, count: int) -> str:
    """Deterministic evidence id: replaying the journal yields the same ids."""
    digest = hashlib.sha256(f"{task_id}\x00{at}\x00{text}\x00{count}".encode()).hexdigest()
    return f"ev_{digest[:8]}"


def _attach_evidence(tracker: Tracker, ch: c.AttachEvidence, at: str, actor: str) -> Applied:
    if ch.type not in c.EVIDENCE_TYPES:
        raise errors.InvalidArgument(
            f"Unknown evidence type '{ch.type}' (expected one of: {', '.join(c.EVIDENCE_TYPES)})",
            suggestions=difflib.get_close_matches(ch.type, c.EVIDENCE_TYPES, n=3, cutoff=0.6),
        )
    text = ch.text.strip()
    if not text:
        raise errors.InvalidArgument("Evidence text cannot be empty")
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    existing = _evidence(task)
    taken = {e.get("id") for e in existing}
    count = len(existing)
    ev_id = evidence_id(task.id, at, text, count)
    while ev_id in taken:
        count += 1
        ev_id = evidence_id(task.id, at, text, count)
    entry: dict[str, Any] = {
        "id": ev_id,
        "type": ch.type,
        "timestamp": at,
        "content": text,
        "verification_status": "pending",
        "collected_by": actor,
    }
    if ch.type == "file_reference":
        entry["file_path"] = text
    new = replace(task, evidence=(*existing, entry))
    total = len(existing) + 1
    return Applied(
        tracker=_put(tracker, i, new, at),
        lines=[
            f"Attached {ch.type} evidence {ev_id} to task {task.id}"
            f" ({_plural(total, 'evidence item')})"
        ],
        healing=[],
        result={"task": task.id, "evidence": ev_id, "type": ch.type, "count": total},
        changed=True,
    )


def _verify_evidence(tracker: Tracker, ch: c.VerifyEvidence, at: str, actor: str) -> Applied:
    i = find_task(tracker, ch.task_id)
    task = tracker.tasks[i]
    existing = _evidence(task)
    if not existing:
        raise errors.InvalidArgument(
            f"Task {task.id} has no evidence to verify",
            suggestions=[f'attach evidence to task {task.id}: manual_note "..."'],
        )
    todo = sum(1 for e in existing if not _is_verified(e))
    result = {"task": task.id, "verified": todo, "total": len(existing)}
    if not todo:
        return _nothing(
            tracker,
            f"All {_plural(len(existing), 'evidence item')} of task {task.id} already verified.",
            result,
        )
    stamped = {"verification_status": "verified", "verified_by": actor, "verified_at": at}
    evidence = tuple(
        e
        if _is_verified(e)
        else {**e, **stamped, **({"verified": True} if "verified" in e else {})}
        for e in existing
    )
    new = replace(task, evidence=evidence)
    return Applied(
        tracker=_put(tracker, i, new, at),
        lines=[f"Verified {_plural(todo, 'evidence item')} of task {task.id}"],
        healing=[],
        result=result,
        changed=True,
    )


# ------------------------------------------------------------------ system


def _correct_progress(tracker: Tracker, at: str) -> Applied:
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
        return _nothing(tracker, f"Progress is up to date: {derived}%", result)
    before = f"{stored}%" if isinstance(stored, int) else "unset"
    lines = [f"Progress corrected: {before} → {derived}%"]
    lines += [
        f"  Phase {n}: {old if isinstance(old, int) else 'unset'}"
        f"{'%' if isinstance(old, int) else ''} → {new}%"
        for n, old, new in phase_fixes
    ]
    return Applied(
        tracker=_finish(tracker, at),  # counts_of(tracker.tasks) is memoised
        lines=lines,
        healing=[],
        result=result,
        changed=True,
    )


__all__ = [
    "Applied",
    "apply",
    "counts_of",
    "evidence_id",
    "find_phase",
    "find_task",
    "nearest_phases",
    "nearest_task_ids",
    "phase_not_found",
    "prime",
    "subtask_not_found",
    "task_not_found",
]
