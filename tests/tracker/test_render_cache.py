"""The view does not depend on how the Renderer chunks the tasks, and its cache writes
exactly what a fresh render writes, change after change.

The cache tiles the task tuple with chunks, finds them again in the next tuple (even
moved by tasks added or removed before them) and keeps sub-tasks grouped by task, so
the changes here are the ones that move, split, break up or reorder chunks, or change
what a chunk shows without touching its tasks: tasks replaced, added, removed, moved
and reordered, runs of them near chunk boundaries, the same task object twice, equal
copies of tasks, sub-tasks added, checked, removed and reordered (of tasks that exist
and of missing ones), phases and meta changed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from msgspec import UNSET

from wtd.tracker import status as st
from wtd.tracker.claims import CLAIM
from wtd.tracker.model import Meta, Phase, Subtask, Task, Tracker
from wtd.tracker.ops.common import splice
from wtd.tracker.render import Renderer, render

replace = msgspec.structs.replace

# Tuple sizes next to chunk boundaries (chunks of 32 tasks up to 1024 tasks, of √n
# beyond: 2500 makes chunks of 50) and to round sizes a chunking could use.
SIZES = (0, 1, 2, 31, 32, 33, 99, 100, 101, 255, 256, 257, 511, 512, 513, 1023, 1025, 2500)
NAMES = ("Plain", "a | b", "x\ny", " lead", "<b>&", "back\\slash", "", "Ünïcode ✅")
PHASES = (1, 2, 3, 4, 5)
UNLISTED = (7, 9)


class Maker:
    """Random tasks, sub-tasks and edits of them, with ids never used before."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.serial = 0

    def task(self, phase: int | None = None) -> Task:
        rng = self.rng
        self.serial += 1
        number = rng.choice(PHASES + UNLISTED) if phase is None else phase
        task = Task(id=f"{number}.{self.serial}", phase=number, name=rng.choice(NAMES[:2]))
        return self.edit(task) if rng.random() < 0.3 else task

    def edit(self, task: Task) -> Task:
        """``task`` changed the way a change would change it (one field or two)."""
        rng = self.rng
        fields: dict[str, Any] = {}
        for _ in range(rng.choice((1, 1, 2))):
            what = rng.randrange(8)
            if what == 0:
                fields["status"] = rng.choice(st.STATUSES)
            elif what == 1:
                fields["name"] = rng.choice(NAMES)
            elif what == 2:
                fields.update(name=UNSET, description=rng.choice(NAMES))
            elif what == 3:
                fields["verification"] = rng.choice((UNSET, *NAMES))
            elif what == 4:
                deps = rng.sample(("1.1", "2.3", "a|b", "9.9"), rng.randint(0, 2))
                fields["dependencies"] = tuple(deps) if deps else UNSET
            elif what == 5:
                fields["extra"] = {"notes": rng.choice((["a note"], ["- x", "", "  y"], []))}
            elif what == 6:
                until = rng.choice(("2026-12-01T12:00:00.000000Z", "2026-12-01T12:00:00Z"))
                claim = {"by": rng.choice(("agent-1", "a|b")), "until": until}
                fields["extra"] = {CLAIM: claim} if rng.random() < 0.8 else {}
            else:
                fields["phase"] = rng.choice(PHASES + UNLISTED)  # in place: phases interleave
        return replace(task, **fields)

    def sub(self, task_id: str) -> Subtask:
        rng = self.rng
        self.serial += 1
        done = rng.random() < 0.5
        extra = {"notes": ["sub note"]} if rng.random() < 0.2 else {}
        return Subtask(
            id=f"{task_id}.{self.serial}",
            task_id=task_id,
            name=rng.choice(NAMES),
            status="complete" if done else "pending",
            completed=done,
            extra=extra,
        )

    def position(self, size: int) -> int:
        """A place in a tuple of ``size``: anywhere, or next to a chunk boundary."""
        rng = self.rng
        if rng.random() < 0.5:
            return rng.randint(0, size)
        step = rng.choice((32, 33, 64, 100, 128, 256, 512))
        return min(size, max(0, step * rng.randint(0, size // step + 1) + rng.choice((-1, 0, 1))))

    def owner(self, tracker: Tracker) -> str:
        """A task id to hang sub-tasks on: mostly of a task there, sometimes of none."""
        if tracker.tasks and self.rng.random() < 0.85:
            return self.rng.choice(tracker.tasks).id
        return f"99.{self.rng.randint(1, 3)}"


def tracker_of(maker: Maker, size: int, layout: str) -> Tracker:
    rng = maker.rng
    tasks = [maker.task() for _ in range(size)]
    if layout == "grouped":
        tasks.sort(key=lambda t: t.phase)  # as ops keep them
    elif layout == "runs":  # runs of one phase, the phases interleaved
        tasks.sort(key=lambda t: (t.phase * 7 + len(t.id) // 3) % 5)
    subtasks = [
        maker.sub(owner)
        for owner in [t.id for t in tasks if rng.random() < 0.3] + ["99.1"] * rng.randint(0, 2)
        for _ in range(rng.randint(1, 3))
    ]
    return Tracker(
        schema_version="2.1.0",
        meta=Meta(title="Cache", updated="2026-12-01T12:00:00Z"),
        phases=tuple(Phase(number=n, name=f"P{n}") for n in PHASES),
        tasks=tuple(tasks),
        subtasks=tuple(subtasks) if subtasks or rng.random() < 0.5 else UNSET,
    )


# ------------------------------------------------------------------ changes


def _with_tasks(tracker: Tracker, tasks: list[Task] | tuple[Task, ...]) -> Tracker:
    return replace(tracker, tasks=tuple(tasks))


def _with_subs(tracker: Tracker, subs: list[Subtask] | tuple[Subtask, ...]) -> Tracker:
    return replace(tracker, subtasks=tuple(subs))


def edit_task(tracker: Tracker, m: Maker) -> Tracker:
    if not tracker.tasks:
        return tracker
    i = m.rng.randrange(len(tracker.tasks))
    tasks = tracker.tasks
    return _with_tasks(tracker, (*tasks[:i], m.edit(tasks[i]), *tasks[i + 1 :]))


def splice_task(tracker: Tracker, m: Maker) -> Tracker:
    """A task changed the way the ops change one (``splice``, which notes what it
    replaced, so the cache learns what differs without comparing every task)."""
    if not tracker.tasks:
        return tracker
    i = m.rng.randrange(len(tracker.tasks))
    task = tracker.tasks[i]
    item = task if m.rng.random() < 0.2 else m.edit(task)  # sometimes by itself
    return _with_tasks(tracker, splice(tracker.tasks, i, item))


def edit_many(tracker: Tracker, m: Maker) -> Tracker:
    step = m.rng.choice((3, 50, 300))
    return _with_tasks(
        tracker, [m.edit(t) if i % step == 0 else t for i, t in enumerate(tracker.tasks)]
    )


def add_tasks(tracker: Tracker, m: Maker) -> Tracker:
    count = m.rng.choice((1, 1, 1, 2, 5, 40, 300, 1100))
    at = m.position(len(tracker.tasks))
    phase = m.rng.choice(PHASES + UNLISTED)
    new = [m.task(phase) for _ in range(count)]
    return _with_tasks(tracker, (*tracker.tasks[:at], *new, *tracker.tasks[at:]))


def remove_tasks(tracker: Tracker, m: Maker) -> Tracker:
    at = m.position(len(tracker.tasks))
    count = m.rng.choice((1, 1, 1, 2, 7, 300))
    return _with_tasks(tracker, tracker.tasks[:at] + tracker.tasks[at + count :])


def move_task(tracker: Tracker, m: Maker) -> Tracker:
    """As ops move a task: out of its place, into another phase elsewhere (new id)."""
    if not tracker.tasks:
        return tracker
    i = m.rng.randrange(len(tracker.tasks))
    rest = tracker.tasks[:i] + tracker.tasks[i + 1 :]
    moved = replace(m.task(), name=tracker.tasks[i].name)
    j = m.position(len(rest))
    return _with_tasks(tracker, (*rest[:j], moved, *rest[j:]))


def reorder_tasks(tracker: Tracker, m: Maker) -> Tracker:
    """A run of tasks reversed, shuffled, or moved whole to another place."""
    tasks = list(tracker.tasks)
    lo = m.position(len(tasks))
    hi = min(len(tasks), lo + m.rng.choice((2, 40, 600)))
    window = tasks[lo:hi]
    how = m.rng.randrange(3)
    if how == 0:
        window.reverse()
    elif how == 1:
        m.rng.shuffle(window)
    else:
        rest = tasks[:lo] + tasks[hi:]
        at = m.position(len(rest))
        return _with_tasks(tracker, rest[:at] + window + rest[at:])
    return _with_tasks(tracker, tasks[:lo] + window + tasks[hi:])


def duplicate_task(tracker: Tracker, m: Maker) -> Tracker:
    """The very same task object at a second place, maybe next to the first (render
    takes any tuple)."""
    if not tracker.tasks:
        return tracker
    i = m.rng.randrange(len(tracker.tasks))
    at = m.rng.choice((i, i + 1, m.position(len(tracker.tasks))))
    return _with_tasks(tracker, (*tracker.tasks[:at], tracker.tasks[i], *tracker.tasks[at:]))


def copy_tasks(tracker: Tracker, m: Maker) -> Tracker:
    """Equal tasks, new objects (a tracker read again from its file)."""
    return _with_tasks(tracker, [replace(t) for t in tracker.tasks])


def add_subtask(tracker: Tracker, m: Maker) -> Tracker:
    """As ops add one: after the last sub-task of its task, else at the end."""
    subs = tracker.all_subtasks()
    owner = m.owner(tracker)
    last = max((k for k, s in enumerate(subs) if s.task_id == owner), default=len(subs) - 1)
    if m.rng.random() < 0.2:
        last = m.position(len(subs)) - 1  # anywhere: a hand edit
    return _with_subs(tracker, (*subs[: last + 1], m.sub(owner), *subs[last + 1 :]))


def edit_subtask(tracker: Tracker, m: Maker) -> Tracker:
    subs = tracker.all_subtasks()
    if not subs:
        return tracker
    k = m.rng.randrange(len(subs))
    sub = subs[k]
    new = replace(sub, completed=not sub.done, status="pending" if sub.done else "complete")
    if m.rng.random() < 0.3:
        new = replace(new, name=m.rng.choice(NAMES), extra={"notes": ["edited"]})
    return _with_subs(tracker, (*subs[:k], new, *subs[k + 1 :]))


def remove_subtasks(tracker: Tracker, m: Maker) -> Tracker:
    """One sub-task, or all of a task's (as ops do when they delete the task)."""
    subs = tracker.all_subtasks()
    if not subs:
        return tracker
    k = m.rng.randrange(len(subs))
    if m.rng.random() < 0.5:
        return _with_subs(tracker, subs[:k] + subs[k + 1 :])
    return _with_subs(tracker, [s for s in subs if s.task_id != subs[k].task_id])


def remove_task_and_subtasks(tracker: Tracker, m: Maker) -> Tracker:
    if not tracker.tasks:
        return tracker
    i = m.rng.randrange(len(tracker.tasks))
    gone = tracker.tasks[i].id
    subs = tuple(s for s in tracker.all_subtasks() if s.task_id != gone)
    return replace(tracker, tasks=tracker.tasks[:i] + tracker.tasks[i + 1 :], subtasks=subs)


def add_task_for_orphans(tracker: Tracker, m: Maker) -> Tracker:
    """A task whose id sub-tasks already name (they are no longer of a missing task)."""
    ids = {t.id for t in tracker.tasks}
    owners = [s.task_id for s in tracker.all_subtasks() if s.task_id not in ids]
    if not owners:
        return tracker
    task = replace(m.task(), id=m.rng.choice(owners))
    at = m.position(len(tracker.tasks))
    return _with_tasks(tracker, (*tracker.tasks[:at], task, *tracker.tasks[at:]))


def reorder_subtasks(tracker: Tracker, m: Maker) -> Tracker:
    subs = list(tracker.all_subtasks())
    m.rng.shuffle(subs)
    return _with_subs(tracker, subs)


def duplicate_subtask(tracker: Tracker, m: Maker) -> Tracker:
    """The very same sub-task object at a second place, maybe next to the first."""
    subs = tracker.all_subtasks()
    if not subs:
        return tracker
    k = m.rng.randrange(len(subs))
    at = m.rng.choice((k, k + 1, m.position(len(subs))))
    return _with_subs(tracker, (*subs[:at], subs[k], *subs[at:]))


def edit_task_and_subtask(tracker: Tracker, m: Maker) -> Tracker:
    """Two unrelated edits in one new tracker (as a merge or a batch makes)."""
    return edit_subtask(m.rng.choice((edit_task, add_tasks, remove_tasks))(tracker, m), m)


def drop_subtasks(tracker: Tracker, m: Maker) -> Tracker:
    return replace(tracker, subtasks=m.rng.choice((UNSET, ())))


def edit_phases(tracker: Tracker, m: Maker) -> Tracker:
    rng = m.rng
    phases = list(tracker.phases)
    what = rng.randrange(4)
    if what == 0 and phases:  # its tasks become unlisted
        phases.pop(rng.randrange(len(phases)))
    elif what == 1:
        phases.append(Phase(number=rng.choice(PHASES + UNLISTED), name="Again"))
    elif what == 2 and phases:
        i = rng.randrange(len(phases))
        phases[i] = replace(
            phases[i],
            name=rng.choice(NAMES),
            status=rng.choice(st.STATUSES),
            description=rng.choice((UNSET, "About it")),
            extra={"notes": ["phase note"]} if rng.random() < 0.5 else {},
        )
    else:
        rng.shuffle(phases)
    return replace(tracker, phases=tuple(phases))


def edit_meta(tracker: Tracker, m: Maker) -> Tracker:
    meta = replace(tracker.meta, title=m.rng.choice(NAMES), updated="2026-12-02T08:00:00Z")
    extra = {"notes": ["plan note", "", "| a | b |"]} if m.rng.random() < 0.5 else {}
    return replace(tracker, meta=meta, extra=extra)


def nothing(tracker: Tracker, m: Maker) -> Tracker:
    return tracker


CHANGES: tuple[Callable[[Tracker, Maker], Tracker], ...] = (
    splice_task,
    splice_task,
    splice_task,
    edit_task,
    edit_task,
    edit_task,
    edit_many,
    add_tasks,
    add_tasks,
    remove_tasks,
    remove_tasks,
    move_task,
    move_task,
    reorder_tasks,
    duplicate_task,
    copy_tasks,
    add_subtask,
    add_subtask,
    edit_subtask,
    edit_subtask,
    remove_subtasks,
    remove_task_and_subtasks,
    add_task_for_orphans,
    reorder_subtasks,
    duplicate_subtask,
    edit_task_and_subtask,
    edit_task_and_subtask,
    drop_subtasks,
    edit_phases,
    edit_meta,
    nothing,
)


def check(renderer: Renderer, tracker: Tracker) -> None:
    warm = renderer.render(tracker, name="p", checksum="c")
    assert warm == render(tracker, name="p", checksum="c").encode()


def test_tasks_of_one_id_show_their_subtasks_notes_once_each() -> None:
    # However the tasks are chunked: each lists its sub-tasks once, and so shows
    # their notes once.
    task = Task(id="1.1", phase=1, name="x")
    sub = Subtask(id="1.1.1", task_id="1.1", name="s", extra={"notes": ["sub note"]})
    tracker = Tracker(
        schema_version="2.1.0",
        meta=Meta(title="T"),
        phases=(Phase(number=1, name="One"),),
        tasks=(task, task),
        subtasks=(sub,),
    )
    text = render(tracker, name="p", checksum="c")
    assert text.count("- [ ] 1.1.1: s\n") == 2
    assert text.count("- **1.1.1**\n  sub note\n") == 2
    check(Renderer(), tracker)


@given(
    hs.sampled_from(SIZES),
    hs.sampled_from(("grouped", "runs", "interleaved")),
    hs.lists(hs.sampled_from(CHANGES), min_size=1, max_size=10),
    hs.integers(0, 2**32),
)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_a_warm_renderer_writes_what_a_fresh_one_writes(
    size: int,
    layout: str,
    changes: list[Callable[[Tracker, Maker], Tracker]],
    seed: int,
) -> None:
    maker = Maker(random.Random(seed))  # a seed: trackers this big are too much to draw
    tracker = tracker_of(maker, size, layout)
    renderer = Renderer()
    check(renderer, tracker)
    for change in changes:
        tracker = change(tracker, maker)
        check(renderer, tracker)


@given(hs.sampled_from(SIZES[3:]), hs.integers(0, 2**32))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_chunk_boundaries_one_task_at_a_time(size: int, seed: int) -> None:
    # A task added at, then removed from, every place near where chunks may start;
    # then each task near those places replaced in turn.
    maker = Maker(random.Random(seed))
    tracker = tracker_of(maker, size, "grouped")
    renderer = Renderer()
    check(renderer, tracker)
    places = sorted(
        {p + d for p in range(0, size + 1, 32) for d in (-1, 0, 1) if 0 <= p + d <= size}
    )
    for at in places:
        tasks = tracker.tasks
        tracker = _with_tasks(tracker, (*tasks[:at], maker.task(), *tasks[at:]))
        check(renderer, tracker)
        tracker = _with_tasks(tracker, tasks)
        check(renderer, tracker)
    for at in places[:-1]:
        tasks = tracker.tasks
        tracker = _with_tasks(tracker, (*tasks[:at], maker.edit(tasks[at]), *tasks[at + 1 :]))
        check(renderer, tracker)


def test_a_failed_render_leaves_no_half_cache() -> None:
    # The sub-tasks are taken in before a task that cannot be rendered fails the
    # render: the next render, of those sub-tasks, must not take them as seen.
    maker = Maker(random.Random(1))
    tracker = tracker_of(maker, 300, "grouped")
    first = tracker.tasks[0]
    tracker = _with_subs(tracker, [maker.sub(first.id)])
    renderer = Renderer()
    check(renderer, tracker)
    checked = edit_subtask(tracker, maker)
    broken = _with_tasks(checked, (*tracker.tasks[:-1], replace(tracker.tasks[-1], id=3)))
    with pytest.raises(TypeError):
        renderer.render(broken, name="p", checksum="c")  # an id that is not a string
    check(renderer, checked)


@pytest.mark.parametrize("size", [300, 2500])
def test_runs_of_tasks_moved_whole(size: int) -> None:
    # Chunks moved whole, back and forth, near and far: each is found again at most
    # once, in order, and what is not found is rendered anew.
    maker = Maker(random.Random(size))
    tracker = tracker_of(maker, size, "grouped")
    renderer = Renderer()
    check(renderer, tracker)
    for length in (1, 40, 100, 600, 1200):
        for start, to in ((size // 2, 0), (0, size // 2), (size // 3, size // 3 + 70), (-1, 5)):
            tasks = list(tracker.tasks)
            start = start if start >= 0 else max(0, size - length)
            run, rest = tasks[start : start + length], tasks[:start] + tasks[start + length :]
            tracker = _with_tasks(tracker, rest[:to] + run + rest[to:])
            check(renderer, tracker)
