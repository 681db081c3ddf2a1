"""Adding and deleting phases."""

from __future__ import annotations

from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker.model import Phase, Tracker
from wtd.tracker.ops.common import Applied, checked_name, plural
from wtd.tracker.ops.lookup import find_phase
from wtd.tracker.ops.progress import finish


def add_phase(tracker: Tracker, ch: c.AddPhase, at: str) -> Applied:
    name = checked_name(ch.name, "Phase name")
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
        tracker=finish(tracker, at, phases=phases),
        lines=[f"Added phase {number}: {name}"],
        healing=[],
        result={"phase": number, "name": name, "status": "pending"},
        changed=True,
    )


def delete_phase(tracker: Tracker, ch: c.DeletePhase, at: str) -> Applied:
    i = find_phase(tracker, ch.number)
    phase = tracker.phases[i]
    count = sum(1 for t in tracker.tasks if t.phase == phase.number)
    if count:
        raise errors.InvalidArgument(
            f"Phase {phase.number} has {plural(count, 'task')}; move or delete them first",
            suggestions=[f"list tasks in phase {phase.number}"],
        )
    phases = tracker.phases[:i] + tracker.phases[i + 1 :]
    return Applied(
        tracker=finish(tracker, at, phases=phases),
        lines=[f"Deleted phase {phase.number}: {phase.name}"],
        healing=[],
        result={"phase": phase.number, "name": phase.name, "deleted": True},
        changed=True,
    )
