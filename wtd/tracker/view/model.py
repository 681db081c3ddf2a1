"""The View a person can edit in the rendered Markdown, and the edits between two Views.

Pure values. Each edit is named for what the hand edit did (``SetStatusEdit``, ...),
so it cannot be mistaken for the tracker command (``wtd.tracker.commands``) that
``merge`` may turn it into.
"""

from __future__ import annotations

import msgspec

# ------------------------------------------------------------------- the view


class TaskRow(msgspec.Struct, frozen=True, kw_only=True):
    """One row of a phase's task table. ``id`` is "" for a row added without an ID."""

    id: str
    name: str
    status: str | None  # canonical; None when the cell is empty or names no status
    given: str  # the status cell as written (unescaped)
    verification: str | None = None  # None: empty cell


class SubtaskLine(msgspec.Struct, frozen=True, kw_only=True):
    """One ``- [x] 2.2.1: name`` line. ``task_id`` is the task its id names
    (``2.2`` for ``2.2.1`` when that task is in the same phase), else ""."""

    id: str
    task_id: str
    name: str
    checked: bool


class PhaseView(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    name: str
    listed: bool = True  # False: "(unlisted)" section for tasks of an unknown phase
    status: str | None = None  # canonical; None when absent or unknown
    given: str = ""  # the status line as written
    description: str | None = None
    tasks: tuple[TaskRow, ...] = ()
    dependencies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    subtasks: tuple[SubtaskLine, ...] = ()
    # (whose: "Phase N", a task id or a sub-task id, its note lines): the "#### Notes"
    notes: tuple[tuple[str, tuple[str, ...]], ...] = ()


class _Edit(msgspec.Struct, frozen=True, kw_only=True, tag_field="edit"):
    pass


class Unmapped(_Edit, tag="unmapped", frozen=True):
    """Text that could not be mapped to the tracker. ``line`` is 1-based (0: the
    fragment is a whole-view difference, e.g. an edited dependency line);
    ``ref`` is the task id a malformed row seems to be about (it is then not
    taken as deleted)."""

    line: int
    text: str
    reason: str
    ref: str = ""


class View(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    meta: tuple[tuple[str, str], ...] = ()  # ("Initiative", "19"), ("Status", "Active"), ...
    phases: tuple[PhaseView, ...] = ()
    orphan_subtasks: tuple[SubtaskLine, ...] = ()  # "Sub-tasks of missing tasks"
    notes: tuple[str, ...] = ()  # the tracker's notes (its "## Notes" section)
    unmapped: tuple[Unmapped, ...] = ()


# ------------------------------------------------------------------- the edits


class SetStatusEdit(_Edit, tag="set_status", frozen=True):
    task_id: str
    status: str  # canonical
    given: str  # the cell as typed


class RenameEdit(_Edit, tag="rename", frozen=True):
    task_id: str
    name: str


class SetVerificationEdit(_Edit, tag="set_verification", frozen=True):
    task_id: str
    text: str | None  # None: the cell was emptied


class CheckSubtaskEdit(_Edit, tag="check_subtask", frozen=True):
    subtask_id: str
    checked: bool


class AddTaskEdit(_Edit, tag="add_task", frozen=True):
    phase: int
    name: str
    status: str  # canonical
    verification: str | None
    requested_id: str | None  # None: next free ID in the phase


class DeleteTaskEdit(_Edit, tag="delete_task", frozen=True):
    task_id: str


class RenamePhaseEdit(_Edit, tag="rename_phase", frozen=True):
    number: int
    name: str


class SetPhaseStatusEdit(_Edit, tag="set_phase_status", frozen=True):
    number: int
    status: str
    given: str


class AddPhaseEdit(_Edit, tag="add_phase", frozen=True):
    number: int
    name: str
    status: str


class AddSubtaskEdit(_Edit, tag="add_subtask", frozen=True):
    task_id: str
    name: str
    checked: bool


class DeleteSubtaskEdit(_Edit, tag="delete_subtask", frozen=True):
    subtask_id: str


class SetNotesEdit(_Edit, tag="set_notes", frozen=True):
    """The notes of ``of`` as the view now shows them (``render.note_lines``). ``of``:
    None for the tracker, ``Phase N`` for a phase, else a task or sub-task id."""

    of: str | None
    notes: tuple[str, ...]


Edit = (
    SetStatusEdit
    | RenameEdit
    | SetVerificationEdit
    | CheckSubtaskEdit
    | AddTaskEdit
    | DeleteTaskEdit
    | RenamePhaseEdit
    | SetPhaseStatusEdit
    | AddPhaseEdit
    | AddSubtaskEdit
    | DeleteSubtaskEdit
    | SetNotesEdit
    | Unmapped
)
