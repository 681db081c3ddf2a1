"""Three-way merge of hand edits of the Markdown view into the JSON tracker.

Pure: no I/O, no clock (the caller passes ``at``). ``merge(base, ours, edits, at=...)``:
``base`` is the tracker the last rendered view came from, ``ours`` the current JSON
(agents may have changed it since), ``edits`` what ``markdown.diff_views`` found.

Field by field: when ``ours`` changed the field an edit touches since ``base`` (to a
value other than the edit's), JSON wins and the edit is kept as a ``Conflict`` with
both values; an edit about a task or sub-task that ``ours`` no longer has is a
Conflict too; an edit the tracker cannot accept (an empty name, a phase that is
gone) is a Conflict whose ``reason`` says why. Every other edit is applied to
``ours`` through ``ops.apply`` where a command exists, so derived progress and every
other invariant hold. Nothing is dropped: ``Unmapped`` fragments come back in
``unmapped`` for the caller to keep.

What the schema cannot hold is adapted, never refused: a name typed over 200
characters is cut (``model.cut_text``) and its rest kept where the view shows it — a
task's or sub-task's in the task's notes, a phase's in the phase's description. Notes
(``SetNotesEdit``) merge like any field: the lines as a whole, JSON winning a conflict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, assert_never

import msgspec
from msgspec import UNSET, UnsetType
from msgspec.structs import replace

from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker import markdown as md
from wtd.tracker import model, ops
from wtd.tracker.model import Phase, Subtask, Task, Tracker
from wtd.tracker.render import note_lines

__all__ = ["Conflict", "MergeResult", "merge"]

ACTOR: Final = "hand edit"

Value = str | bool | None


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """An edit that was not applied; JSON's value stands, the Markdown's is kept here.

    ``task_id`` names what the field belongs to: a task id, a sub-task id, or
    ``phase N``. ``json_value`` is None when JSON no longer has the task.
    """

    field: str  # status, name, verification, checked, task, subtask, phase_name, notes, ...
    task_id: str
    json_value: Value
    markdown_value: Value
    reason: str


class MergeResult(msgspec.Struct, frozen=True, kw_only=True):
    tracker: Tracker
    applied: list[str]  # e.g. "Task 2.3 status ← complete (hand edit)"
    conflicts: list[Conflict]
    unmapped: list[md.Unmapped]
    changed: bool


def merge(base: Tracker, ours: Tracker, edits: Sequence[md.Edit], *, at: str) -> MergeResult:
    """Apply ``edits`` (made against ``base``) to ``ours``; JSON wins on a conflict."""
    m = _Merge(base, ours, at)
    for edit in edits:
        m.one(edit)
    return MergeResult(
        tracker=m.tracker,
        applied=m.applied,
        conflicts=m.conflicts,
        unmapped=m.unmapped,
        changed=m.tracker is not ours,
    )


def _ver(task: Task) -> str | None:
    v = task.verification
    return v if isinstance(v, str) and v else None


def _find_task(tracker: Tracker, task_id: str) -> Task | None:
    try:
        return tracker.tasks[ops.find_task(tracker, task_id)]
    except errors.NotFound:
        return None


def _find_sub(tracker: Tracker, sub_id: str) -> Subtask | None:
    return next((s for s in tracker.all_subtasks() if s.id == sub_id), None)


class _Merge:
    def __init__(self, base: Tracker, ours: Tracker, at: str) -> None:
        self.base = base
        self.ours = ours
        self.tracker = ours
        self.at = at
        self.applied: list[str] = []
        self.conflicts: list[Conflict] = []
        self.unmapped: list[md.Unmapped] = []
        self.phase_map: dict[int, int] = {}  # phase number in the view → in the result
        self.id_map: dict[str, str] = {}  # requested task id → id it got

    # ----------------------------------------------------------- plumbing

    def conflict(self, field: str, what: str, json: Value, mine: Value, reason: str) -> None:
        self.conflicts.append(
            Conflict(field=field, task_id=what, json_value=json, markdown_value=mine, reason=reason)
        )

    def run(self, change: c.Change) -> ops.Applied:
        applied = ops.apply(self.tracker, change, at=self.at, actor=ACTOR)
        self.tracker = applied.tracker
        return applied

    def done(self, line: str) -> None:
        self.applied.append(f"{line} (hand edit)")

    def put_task(self, task: Task) -> None:
        i = ops.find_task(self.tracker, task.id)
        tasks = (*self.tracker.tasks[:i], task, *self.tracker.tasks[i + 1 :])
        self.touch(tasks=tasks)

    def touch(self, **fields: object) -> None:
        meta = replace(self.tracker.meta, updated=self.at)
        self.tracker = replace(self.tracker, meta=meta, **fields)

    def task_field(self, task_id: str, field: str, mine: Value) -> Task | None:
        """The task to edit, or None when there is nothing to do (a Conflict is recorded
        when the edit cannot be applied)."""
        now = _find_task(self.ours, task_id)
        if now is None or _find_task(self.tracker, task_id) is None:
            self.conflict(field, task_id, None, mine, f"task {task_id} was deleted in JSON")
            return None
        before = _find_task(self.base, task_id)
        theirs = _field(now, field)
        if before is not None and _field(before, field) != theirs and theirs != mine:
            self.conflict(field, task_id, theirs, mine, f"JSON changed the {field} since")
            return None
        if theirs == mine:
            return None  # already so (changed the same way on both sides, or unchanged)
        return now

    # ----------------------------------------------------------- dispatch

    def one(self, edit: md.Edit) -> None:
        # An edit is all or nothing: one that fails half-way leaves no trace but its Conflict.
        tracker, applied, maps = (
            self.tracker,
            len(self.applied),
            (dict(self.phase_map), dict(self.id_map)),
        )
        try:
            self.dispatch(edit)
        except errors.WtdError as exc:
            self.tracker = tracker
            del self.applied[applied:]
            self.phase_map, self.id_map = maps
            what, field, mine = _describe(edit)
            self.conflict(field, what, None, mine, exc.message)

    def dispatch(self, edit: md.Edit) -> None:
        match edit:
            case md.SetStatusEdit():
                if self.task_field(edit.task_id, "status", edit.status):
                    self.run(
                        c.SetTaskStatus(task_id=edit.task_id, status=edit.status, given=edit.status)
                    )
                    self.done(f"Task {edit.task_id} status ← {edit.status}")
            case md.RenameEdit():
                if self.task_field(edit.task_id, "name", edit.name):
                    name, rest = model.cut_text(edit.name.strip())
                    self.run(c.RenameTask(task_id=edit.task_id, name=name))
                    self.keep_rest(edit.task_id, rest)
                    self.done(f"Task {edit.task_id} name ← {name}")
            case md.SetVerificationEdit():
                task = self.task_field(edit.task_id, "verification", edit.text)
                if task is not None:
                    if edit.text is None:
                        current = self.tracker.tasks[ops.find_task(self.tracker, task.id)]
                        self.put_task(replace(current, verification=UNSET))
                    else:
                        self.run(c.SetVerification(task_id=edit.task_id, text=edit.text))
                    self.done(f"Task {edit.task_id} verification ← {edit.text or '(none)'}")
            case md.CheckSubtaskEdit():
                self.check_subtask(edit)
            case md.AddTaskEdit():
                self.add_task(edit)
            case md.DeleteTaskEdit():
                self.delete_task(edit)
            case md.RenamePhaseEdit():
                self.rename_phase(edit)
            case md.SetPhaseStatusEdit():
                self.set_phase_status(edit)
            case md.AddPhaseEdit():
                self.add_phase(edit)
            case md.AddSubtaskEdit():
                task_id = self.id_map.get(edit.task_id, edit.task_id)
                if _find_task(self.tracker, task_id) is None:
                    self.conflict(
                        "subtask", task_id, None, edit.name, f"task {task_id} is not in JSON"
                    )
                    return
                name, rest = model.cut_text(edit.name.strip())
                result = self.run(c.AddSubtask(task_id=task_id, name=name))
                sub_id = str(result.result["subtask"])
                if edit.checked:
                    self.run(c.SetSubtaskChecked(subtask_id=sub_id, checked=True))
                self.keep_rest(task_id, f"{sub_id}: {rest}" if rest else "")
                self.done(f"Added sub-task {sub_id}: {name}" + (" [x]" if edit.checked else ""))
            case md.DeleteSubtaskEdit():
                self.delete_subtask(edit)
            case md.SetNotesEdit():
                self.set_notes(edit)
            case md.Unmapped():
                self.unmapped.append(edit)
            case _:
                assert_never(edit)

    # ----------------------------------------------------------- notes

    def keep_rest(self, task_id: str, rest: str) -> None:
        """Put the rest of a name cut to fit the schema first in the task's notes."""
        if not rest:
            return
        task = self.tracker.tasks[ops.find_task(self.tracker, task_id)]
        self.put_task(replace(task, extra=model.prepend_notes(task.extra, [rest])))

    def set_notes(self, edit: md.SetNotesEdit) -> None:
        """The notes of the tracker, a phase, a task or a sub-task, as a whole."""
        mine = "\n".join(edit.notes)
        key = edit.of
        holder: Tracker | Phase | Task | Subtask | None
        if key is None:
            what, now, before, holder = "notes", self.ours.extra, self.base.extra, self.tracker
        else:
            key = self.id_map.get(key, key)
            what = key
            now_h, before_h, holder = self.holders(key)
            if holder is None or now_h is None:
                self.conflict("notes", what, None, mine, f"{key} was deleted in JSON")
                return
            now, before = now_h.extra, (before_h.extra if before_h is not None else {})
        if model.notes_of(now) is None:
            reason = "the JSON's notes field is not a list of lines; kept"
            self.conflict("notes", what, None, mine, reason)
            return
        theirs = note_lines(now.get(model.NOTES))
        if note_lines(before.get(model.NOTES)) != theirs and theirs != edit.notes:
            self.conflict("notes", what, "\n".join(theirs), mine, "JSON changed the notes since")
            return
        if theirs == edit.notes:
            return
        extra = model.with_notes(holder.extra, edit.notes)
        count = f"{len(edit.notes)} line{'' if len(edit.notes) == 1 else 's'}"
        if isinstance(holder, Tracker):
            self.touch(extra=extra)
            self.done(f"Notes ← {count}")
        elif isinstance(holder, Task):
            self.put_task(replace(holder, extra=extra))
            self.done(f"Task {holder.id} notes ← {count}")
        elif isinstance(holder, Phase):
            number = holder.number
            phases = tuple(
                replace(p, extra=extra) if p.number == number else p for p in self.tracker.phases
            )
            self.touch(phases=phases)
            self.done(f"Phase {number} notes ← {count}")
        else:
            sub_id = holder.id
            subs = tuple(
                replace(s, extra=extra) if s.id == sub_id else s
                for s in self.tracker.all_subtasks()
            )
            self.touch(subtasks=subs)
            self.done(f"Sub-task {sub_id} notes ← {count}")

    def holders(
        self, key: str
    ) -> tuple[
        Phase | Task | Subtask | None, Phase | Task | Subtask | None, Phase | Task | Subtask | None
    ]:
        """(in ours, in base, in the merge so far) of what ``key`` names ("Phase N", a
        task or a sub-task id); "ours" is the merge's own when the edit added it."""
        found: list[Phase | Task | Subtask | None] = []
        for tracker in (self.ours, self.base, self.tracker):
            if key[:6] == "Phase ":
                number = _number(key[6:])
                found.append(tracker.phase(number) if number is not None else None)
            elif key.count(".") == 1:
                found.append(_find_task(tracker, key))
            else:
                found.append(_find_sub(tracker, key))
        ours, base, current = found
        if ours is None and current is not None and base is None:
            ours = current  # added by this very edit
        return ours, base, current

    # ----------------------------------------------------------- edits

    def check_subtask(self, edit: md.CheckSubtaskEdit) -> None:
        now = _find_sub(self.ours, edit.subtask_id)
        if now is None or _find_sub(self.tracker, edit.subtask_id) is None:
            self.conflict(
                "checked",
                edit.subtask_id,
                None,
                edit.checked,
                f"sub-task {edit.subtask_id} was deleted in JSON",
            )
            return
        before = _find_sub(self.base, edit.subtask_id)
        if before is not None and before.done != now.done and now.done != edit.checked:
            self.conflict(
                "checked",
                edit.subtask_id,
                now.done,
                edit.checked,
                "JSON changed the checkbox since",
            )
            return
        if now.done == edit.checked:
            return
        self.run(c.SetSubtaskChecked(subtask_id=edit.subtask_id, checked=edit.checked))
        self.done(f"Sub-task {edit.subtask_id} ← {'checked' if edit.checked else 'unchecked'}")

    def add_task(self, edit: md.AddTaskEdit) -> None:
        phase = self.phase_map.get(edit.phase, edit.phase)
        name, rest = model.cut_text(edit.name.strip())
        result = self.run(c.AddTask(phase=phase, name=name))
        task_id = str(result.result["task"])
        note = ""
        wanted = edit.requested_id
        if wanted is not None and wanted != task_id:
            head, _, tail = wanted.partition(".")
            if not (head.isdigit() and tail.isdigit() and _number(head) == phase):
                note = f" (ID {wanted} is not an ID of phase {phase})"
            elif _find_task(self.tracker, wanted) is not None:
                note = f" (ID {wanted} is taken)"
            else:
                current = self.tracker.tasks[ops.find_task(self.tracker, task_id)]
                i = self.tracker.tasks.index(current)
                tasks = self.tracker.tasks
                self.touch(tasks=(*tasks[:i], replace(current, id=wanted), *tasks[i + 1 :]))
                task_id = wanted
        if wanted is not None:
            self.id_map[wanted] = task_id
        if edit.status != "pending":
            self.run(c.SetTaskStatus(task_id=task_id, status=edit.status, given=edit.status))
        if edit.verification:
            self.run(c.SetVerification(task_id=task_id, text=edit.verification))
        self.keep_rest(task_id, rest)
        self.done(f"Added task {task_id}: {name} [{edit.status}]{note}")

    def delete_task(self, edit: md.DeleteTaskEdit) -> None:
        now = _find_task(self.ours, edit.task_id)
        if now is None or _find_task(self.tracker, edit.task_id) is None:
            return  # deleted on both sides
        before = _find_task(self.base, edit.task_id)
        if before is not None and before != now:
            self.conflict(
                "task",
                edit.task_id,
                now.title,
                None,
                "the row was deleted by hand but JSON changed the task since; kept",
            )
            return
        self.run(c.DeleteTask(task_id=edit.task_id))
        self.done(f"Deleted task {edit.task_id}: {now.title}")

    def delete_subtask(self, edit: md.DeleteSubtaskEdit) -> None:
        now = _find_sub(self.ours, edit.subtask_id)
        if now is None or _find_sub(self.tracker, edit.subtask_id) is None:
            return
        before = _find_sub(self.base, edit.subtask_id)
        if before is not None and before != now:
            self.conflict(
                "subtask",
                edit.subtask_id,
                now.name,
                None,
                "the line was deleted by hand but JSON changed the sub-task since; kept",
            )
            return
        self.run(c.DeleteSubtask(subtask_id=edit.subtask_id))
        self.done(f"Deleted sub-task {edit.subtask_id}: {now.name}")

    def phase_edit(self, number: int, field: str, mine: str) -> Phase | None:
        what = f"phase {number}"
        now = self.ours.phase(number)
        if now is None or self.tracker.phase(number) is None:
            self.conflict(field, what, None, mine, f"phase {number} is not in JSON")
            return None
        before = self.base.phase(number)
        theirs = now.name if field == "phase_name" else now.status
        if before is not None:
            old = before.name if field == "phase_name" else before.status
            if old != theirs and theirs != mine:
                self.conflict(field, what, theirs, mine, "JSON changed the phase since")
                return None
        return None if theirs == mine else now

    def rename_phase(self, edit: md.RenamePhaseEdit) -> None:
        if self.phase_edit(edit.number, "phase_name", edit.name) is None:
            return
        name, rest = model.cut_text(edit.name.strip())
        if not name:
            raise errors.InvalidArgument("Phase name cannot be empty")
        phases = tuple(
            replace(p, name=name, description=_continued(rest, p.description))
            if p.number == edit.number
            else p
            for p in self.tracker.phases
        )
        self.touch(phases=phases)
        self.done(f"Phase {edit.number} name ← {name}")

    def set_phase_status(self, edit: md.SetPhaseStatusEdit) -> None:
        if self.phase_edit(edit.number, "phase_status", edit.status) is None:
            return
        self.run(c.SetPhaseStatus(number=edit.number, status=edit.status, given=edit.status))
        self.done(f"Phase {edit.number} status ← {edit.status}")

    def add_phase(self, edit: md.AddPhaseEdit) -> None:
        existing = self.tracker.phase(edit.number)
        if existing is not None and existing.name == edit.name:
            return  # JSON has it already
        number = None if existing is not None or edit.number < 1 else edit.number
        name, rest = model.cut_text(edit.name.strip())
        result = self.run(c.AddPhase(name=name, number=number))
        got = int(result.result["phase"])
        if rest:
            phases = tuple(
                replace(p, description=_continued(rest, p.description)) if p.number == got else p
                for p in self.tracker.phases
            )
            self.touch(phases=phases)
        self.phase_map[edit.number] = got
        if edit.status != "pending":
            self.run(c.SetPhaseStatus(number=got, status=edit.status, given=edit.status))
        self.done(f"Added phase {got}: {name}")


def _continued(rest: str, description: str | UnsetType) -> str | UnsetType:
    """A phase description that starts with the rest of its cut name."""
    if not rest:
        return description
    return rest + ("\n" + description if isinstance(description, str) and description else "")


def _number(digits: str) -> int | None:
    """``int(digits)``, or None where Python refuses (over 4,300 digits, or "²")."""
    try:
        return int(digits)
    except ValueError:
        return None


def _field(task: Task, field: str) -> Value:
    if field == "status":
        return task.status
    if field == "name":
        return task.title
    if field == "verification":
        return _ver(task)
    raise AssertionError(field)


def _describe(edit: md.Edit) -> tuple[str, str, Value]:
    """(what, field, the Markdown's value) of an edit, for a Conflict record."""
    match edit:
        case md.SetStatusEdit():
            return edit.task_id, "status", edit.status
        case md.RenameEdit():
            return edit.task_id, "name", edit.name
        case md.SetVerificationEdit():
            return edit.task_id, "verification", edit.text
        case md.CheckSubtaskEdit():
            return edit.subtask_id, "checked", edit.checked
        case md.AddTaskEdit():
            return edit.requested_id or f"phase {edit.phase}", "task", edit.name
        case md.DeleteTaskEdit():
            return edit.task_id, "task", None
        case md.RenamePhaseEdit():
            return f"phase {edit.number}", "phase_name", edit.name
        case md.SetPhaseStatusEdit():
            return f"phase {edit.number}", "phase_status", edit.status
        case md.AddPhaseEdit():
            return f"phase {edit.number}", "phase", edit.name
        case md.AddSubtaskEdit():
            return edit.task_id, "subtask", edit.name
        case md.DeleteSubtaskEdit():
            return edit.subtask_id, "subtask", None
        case md.SetNotesEdit():
            return edit.of or "notes", "notes", "\n".join(edit.notes)
        case md.Unmapped():
            return edit.ref, "unmapped", edit.text
        case _:
            assert_never(edit)
