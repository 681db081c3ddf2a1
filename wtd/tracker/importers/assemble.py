"""The tracker of what the readers found (build.py): numbers, IDs, dependencies, phase
statuses, then the schema-valid model.

Everything that needs the whole file is done here, once it is known:

- Phases are numbered in order, keeping the file's number when it is a free integer
  ≥ 1 (``Phase 0``, ``Phase 3.1`` or a repeated number get the next one); the file's
  is kept as ``x_source_number`` when they differ.
- A task keeps the file's ``N.M`` when it is free in its phase (``N`` being the phase's
  number in the file or in the tracker), first come first served; every other task
  gets the next free ID of its phase (after the highest taken). The file's own ID is
  kept as ``x_source_id`` whenever the tracker's differs. Sub-tasks likewise.
- Dependencies are resolved by the file's IDs first, then the tracker's; one that
  names no task is kept as a note ("Depends on: X") when the file's text is not kept.
- A phase whose status the file does not state takes it from its tasks: all complete,
  skipped or superseded → complete; any in progress → in progress; else any blocked →
  blocked; one complete → in progress; else pending (a skipped task starts nothing, as
  for a phase of a live tracker).
"""

from __future__ import annotations

import re
from typing import Any, Final

from wtd.tracker import model
from wtd.tracker.importers.build import Build, Holder, PhaseB, SubB, TaskB, fit
from wtd.tracker.model import Tracker
from wtd.tracker.status import SETTLED, Status

_DOTTED_ID: Final = re.compile(r"(\d{1,9})\.(\d{1,9})$")
_SUB_ID: Final = re.compile(r"(\d{1,9}\.\d{1,9})\.(\d{1,9})$")


def tracker(build: Build) -> Tracker:
    """The schema-valid tracker ``build`` holds (progress derived)."""
    for phase in build.phases:
        if not phase.listed and phase.notes:  # it is not written: keep its notes
            build.note(0, f"Notes of phase {phase.number} (not in the tracker's list):")
            build.plan.notes.extend(phase.notes)
            phase.notes = []
    _number_phases(build.phases)
    _number_tasks(build)
    by_ref = _references(build.tasks)
    for dependent, prerequisite in build.links:
        task = by_ref.get(dependent)
        if task is not None:
            task.soft.append(prerequisite)
    by_phase: dict[int, list[TaskB]] = {}
    for task in build.tasks:
        by_phase.setdefault(id(task.phase), []).append(task)
    title = build.title_text or fit(build.title_hint.strip() or "Untitled plan")[0]
    raw: dict[str, Any] = {
        "schema_version": model.SCHEMA_VERSION,
        "meta": {"title": title, **build.meta},
        "phases": [_phase(p, by_phase.get(id(p), [])) for p in build.phases if p.listed],
        "tasks": [_task(build, t, by_ref) for t in build.tasks],
    }
    subs = [_subtask(s) for t in build.tasks for s in t.subs]
    if subs:
        raw["subtasks"] = subs
    raw.update(build.extra)
    if notes := _notes(build.plan):
        raw["notes"] = notes
    return model.with_derived_progress(model.from_raw(raw))


def _number_phases(phases: list[PhaseB]) -> None:
    used: set[int] = set()
    last = 0
    for phase in phases:
        wanted = phase.number
        number = 0
        if wanted is not None and 0 < len(wanted) <= 9 and wanted.isascii() and wanted.isdigit():
            number = int(wanted)
        if number < 1 or number in used:
            number = last + 1
            while number in used:
                number += 1
        used.add(number)
        last = max(last, number)
        phase.tracker = number
        if wanted is not None and wanted != str(number):
            phase.extra["x_source_number"] = wanted
        if not phase.name:
            phase.name = f"Phase {wanted}" if wanted else "Tasks"


def _number_tasks(build: Build) -> None:
    used: set[str] = set()
    top: dict[int, int] = {}
    renumbered = 0
    for task in build.tasks:
        m = _DOTTED_ID.match(task.wanted)
        if m is None:
            continue
        phase = task.phase
        if m.group(1) != str(phase.tracker) and m.group(1) != phase.number:
            continue
        candidate = f"{phase.tracker}.{m.group(2)}"
        if candidate in used:
            renumbered += 1
            continue
        task.id = candidate
        used.add(candidate)
        top[phase.tracker] = max(top.get(phase.tracker, 0), int(m.group(2)))
    for task in build.tasks:
        if not task.id:
            number = task.phase.tracker
            k = top.get(number, 0) + 1
            while f"{number}.{k}" in used:
                k += 1
            task.id = f"{number}.{k}"
            used.add(task.id)
            top[number] = k
        if task.wanted and task.wanted != task.id:
            task.extra["x_source_id"] = task.wanted
        _number_subtasks(task)
    if renumbered:
        word = "task" if renumbered == 1 else "tasks"
        build.notices.append(f"{renumbered} {word} got a new ID (theirs was not free)")


def _number_subtasks(task: TaskB) -> None:
    used: set[str] = set()
    top = 0
    for sub in task.subs:
        m = _SUB_ID.match(sub.wanted)
        if m is not None and m.group(1) in (task.id, task.wanted):
            candidate = f"{task.id}.{m.group(2)}"
            if candidate not in used:
                sub.id = candidate
                used.add(candidate)
                top = max(top, int(m.group(2)))
    for sub in task.subs:
        if not sub.id:
            top += 1
            while f"{task.id}.{top}" in used:
                top += 1
            sub.id = f"{task.id}.{top}"
            used.add(sub.id)
        if sub.wanted and sub.wanted != sub.id:
            sub.extra["x_source_id"] = sub.wanted


def _references(tasks: list[TaskB]) -> dict[str, TaskB]:
    """Tasks by the IDs a file may use for them: its own first, then the tracker's."""
    refs: dict[str, TaskB] = {}
    for task in tasks:
        if task.wanted:
            refs.setdefault(task.wanted, task)
    for task in tasks:
        refs.setdefault(task.id, task)
    return refs


def derived_status(tasks: list[TaskB]) -> Status:
    """A phase's status from its tasks' (see the module docstring)."""
    statuses = {t.status for t in tasks}
    if not statuses:
        return "pending"
    if statuses <= SETTLED:
        return "complete"
    if "in_progress" in statuses:
        return "in_progress"
    if "blocked" in statuses:
        return "blocked"
    if "complete" in statuses:
        return "in_progress"
    return "pending"


def _notes(holder: Holder) -> list[str]:
    """The holder's notes, without paragraph breaks at either end."""
    notes = holder.notes
    start, end = 0, len(notes)
    while start < end and not notes[start]:
        start += 1
    while end > start and not notes[end - 1]:
        end -= 1
    return notes[start:end]


def _phase(phase: PhaseB, tasks: list[TaskB]) -> dict[str, Any]:
    status = phase.status if phase.status is not None else derived_status(tasks)
    raw: dict[str, Any] = {"number": phase.tracker, "name": phase.name, "status": status}
    if phase.description:
        raw["description"] = "\n".join(phase.description)
    raw.update(phase.extra)
    if notes := _notes(phase):
        raw["notes"] = notes
    return raw


def _task(build: Build, task: TaskB, by_ref: dict[str, TaskB]) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": task.id,
        "phase": task.phase.tracker,
        "name": task.name,
        "status": task.status,
    }
    if task.verification:
        raw["verification"] = task.verification
    deps: list[str] = []
    for ref in task.deps:
        target = by_ref.get(ref)
        if target is None:
            build.note(0, f"Depends on: {ref}", task)  # not a task here: kept as said
        elif target is not task and target.id not in deps:
            deps.append(target.id)
    for ref in task.soft:
        target = by_ref.get(ref)
        if target is not None and target is not task and target.id not in deps:
            deps.append(target.id)
    if deps:
        raw["dependencies"] = deps
    raw.update(task.extra)
    if notes := _notes(task):
        raw["notes"] = notes
    return raw


def _subtask(sub: SubB) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": sub.id,
        "task_id": sub.task.id,
        "name": sub.name,
        "status": sub.status,
        "completed": sub.status == "complete",
    }
    raw.update(sub.extra)
    if notes := _notes(sub):
        raw["notes"] = notes
    return raw
