"""``view_of``: the View that ``render.render`` shows for a tracker (what
``parse_view`` reads back).
"""

from __future__ import annotations

from typing import Any

from msgspec import UnsetType

from wtd.tracker import model
from wtd.tracker import status as st
from wtd.tracker.model import Subtask, Task, Tracker
from wtd.tracker.render import (
    UNLISTED,
    note_key,
    note_lines,
)
from wtd.tracker.view.model import PhaseView, SubtaskLine, TaskRow, View
from wtd.tracker.view.syntax import owner_of, title_case


def view_of(tracker: Tracker) -> View:
    """The View that ``render.render(tracker, ...)`` shows (what parse_view reads back)."""
    meta = tracker.meta
    fields: list[tuple[str, str]] = []
    if not isinstance(meta.initiative_id, UnsetType):
        fields.append(("Initiative", meta.initiative_id))
    if not isinstance(meta.status, UnsetType):
        fields.append(("Status", title_case(meta.status)))
    if not isinstance(meta.created, UnsetType):
        fields.append(("Created", meta.created))
    if not isinstance(meta.updated, UnsetType):
        fields.append(("Updated", meta.updated))

    by_phase: dict[int, list[Task]] = {}
    for task in tracker.tasks:
        by_phase.setdefault(task.phase, []).append(task)
    subs_by_task: dict[str, list[Subtask]] = {}
    for sub in tracker.all_subtasks():
        subs_by_task.setdefault(sub.task_id, []).append(sub)
    cells: dict[str, tuple[str, str]] = {}

    def section(
        number: int, name: str, tasks: list[Task], own: object = None, **extra: Any
    ) -> PhaseView:
        ids = {t.id for t in tasks}
        subs = [s for t in tasks for s in subs_by_task.get(t.id, ())]
        return PhaseView(
            number=number,
            name=name,
            tasks=tuple([_row(t, cells) for t in tasks]),
            dependencies=tuple(
                (t.id, t.dependencies)
                for t in tasks
                if not isinstance(t.dependencies, UnsetType) and t.dependencies
            ),
            subtasks=tuple(
                SubtaskLine(id=s.id, task_id=owner_of(s.id, ids), name=s.name, checked=s.done)
                for s in subs
            ),
            notes=_notes_in(number, own, tasks, subs),
            **extra,
        )

    phases: list[PhaseView] = []
    seen: set[int] = set()
    for phase in tracker.phases:
        tasks = [] if phase.number in seen else by_phase.get(phase.number, [])
        seen.add(phase.number)
        description = phase.description
        phases.append(
            section(
                phase.number,
                phase.name,
                tasks,
                phase.extra.get(model.NOTES) if phase.extra else None,
                status=st.normalize(phase.status) or "pending",
                given=st.cell(phase.status),
                description=description if isinstance(description, str) and description else None,
            )
        )
    for number in sorted(n for n in by_phase if n not in seen):
        phases.append(section(number, UNLISTED, by_phase[number], listed=False))

    known = {t.id for t in tracker.tasks}
    orphans = tuple(
        SubtaskLine(id=s.id, task_id=tid, name=s.name, checked=s.done)
        for tid, subs in subs_by_task.items()
        if tid not in known
        for s in subs
    )
    return View(
        title=meta.title,
        meta=tuple(fields),
        phases=tuple(phases),
        orphan_subtasks=orphans,
        notes=note_lines(tracker.extra.get(model.NOTES)) if tracker.extra else (),
    )


def _notes_in(
    number: int, own: object, tasks: list[Task], subs: list[Subtask]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A phase's Notes items as render writes them: the phase's, then each task's
    followed by its sub-tasks'."""
    out: list[tuple[str, tuple[str, ...]]] = []
    if lines := note_lines(own):
        out.append((note_key(number), lines))
    by_task: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for sub in subs:
        if sub.extra and (lines := note_lines(sub.extra.get(model.NOTES))):
            by_task.setdefault(sub.task_id, []).append((sub.id, lines))
    for task in tasks:
        if task.extra and (lines := note_lines(task.extra.get(model.NOTES))):
            out.append((task.id, lines))
        out.extend(by_task.get(task.id, ()))
    return tuple(out)


def _row(task: Task, cells: dict[str, tuple[str, str]]) -> TaskRow:
    ver = task.verification
    status, given = _status_cell(task.status, cells)
    return TaskRow(
        id=task.id,
        name=task.title,
        status=status,
        given=given,
        verification=ver if isinstance(ver, str) and ver else None,
    )


def _status_cell(status: str, cells: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(canonical, cell text) of a stored status, as render shows it (memoised in ``cells``)."""
    found = cells.get(status)
    if found is None:
        found = cells[status] = (st.normalize(status) or "pending", st.cell(status))
    return found
