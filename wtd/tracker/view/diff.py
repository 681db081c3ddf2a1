"""``diff_views``: the hand edits that turn the last rendered View into the edited one."""

from __future__ import annotations

from collections import Counter
from typing import Final

from wtd.tracker.render import (
    note_key,
)
from wtd.tracker.view.model import (
    AddPhaseEdit,
    AddSubtaskEdit,
    AddTaskEdit,
    CheckSubtaskEdit,
    DeleteSubtaskEdit,
    DeleteTaskEdit,
    Edit,
    RenameEdit,
    RenamePhaseEdit,
    SetNotesEdit,
    SetPhaseStatusEdit,
    SetStatusEdit,
    SetVerificationEdit,
    TaskRow,
    Unmapped,
    View,
)
from wtd.tracker.view.syntax import SUB_ID, owner_of

# header lines a view shows of the JSON's own bookkeeping: a view rendered from another
# state of the JSON (a pull, a stash pop) differs in them without anyone editing them
_DERIVED_HEADER: Final = frozenset({"Progress", "Updated", "Created", "Source"})


def diff_views(base: View, edited: View) -> list[Edit]:
    """The hand edits that turn ``base`` (the last rendered view) into ``edited``.

    Order: phase edits, then row edits in the order of the edited file, deletions,
    sub-task edits, and last the fragments that cannot be mapped (Unmapped; those
    already in ``base`` are not repeated).
    """
    edits: list[Edit] = []
    lost: list[Unmapped] = []
    base_phases = {p.number: p for p in base.phases}
    base_rows = {r.id: (p.number, r) for p in base.phases for r in p.tasks}
    base_subs = {s.id: s for p in base.phases for s in p.subtasks}
    base_subs.update({s.id: s for s in base.orphan_subtasks})

    if edited.title != base.title:
        lost.append(_semantic(f"# Work Tracker: {edited.title}", "title edits are not synced"))
    if edited.meta != base.meta:
        for key, value in sorted(set(edited.meta) - set(base.meta)):
            if key in _DERIVED_HEADER:  # wtd writes these from the JSON: nothing to tell
                continue
            lost.append(_semantic(f"> **{key}:** {value}", "header edits are not synced"))

    for phase in edited.phases:
        old = base_phases.get(phase.number)
        if old is None:
            if phase.listed:
                edits.append(
                    AddPhaseEdit(
                        number=phase.number, name=phase.name, status=phase.status or "pending"
                    )
                )
            continue
        if phase.listed and old.listed:
            if phase.name != old.name:
                edits.append(RenamePhaseEdit(number=phase.number, name=phase.name))
            if phase.status is not None and phase.status != old.status:
                edits.append(
                    SetPhaseStatusEdit(number=phase.number, status=phase.status, given=phase.given)
                )
        if phase.description != old.description:
            lost.append(
                _semantic(
                    phase.description or "",
                    f"phase {phase.number} description edits are not synced",
                )
            )
        if phase.dependencies != old.dependencies:
            lost.append(
                _semantic(
                    "**Dependencies:** "
                    + "; ".join(f"{t} → {', '.join(ds)}" for t, ds in phase.dependencies),
                    f"phase {phase.number} dependency edits are not synced",
                )
            )

    seen: set[str] = set()
    for phase in edited.phases:
        for row in phase.tasks:
            if row.id in seen:
                lost.append(_semantic(_row_text(row), f"a second row with ID {row.id}", row.id))
                continue
            found = base_rows.get(row.id) if row.id else None
            if found is None:
                if row.id:
                    seen.add(row.id)
                edits.append(
                    AddTaskEdit(
                        phase=phase.number,
                        name=row.name,
                        status=row.status or "pending",
                        verification=row.verification,
                        requested_id=row.id or None,
                    )
                )
                continue
            seen.add(row.id)
            number, old_row = found
            if number != phase.number:
                lost.append(
                    _semantic(
                        _row_text(row),
                        f"moving task {row.id} to phase {phase.number} by hand is not synced",
                        row.id,
                    )
                )
            if row.status is not None and row.status != old_row.status:
                edits.append(SetStatusEdit(task_id=row.id, status=row.status, given=row.given))
            if row.name != old_row.name:
                edits.append(RenameEdit(task_id=row.id, name=row.name))
            if row.verification != old_row.verification:
                edits.append(SetVerificationEdit(task_id=row.id, text=row.verification))

    kept = seen | {u.ref for u in edited.unmapped if u.ref}
    deleted = [tid for tid in base_rows if tid not in kept]
    edits.extend(DeleteTaskEdit(task_id=tid) for tid in deleted)

    gone = set(deleted)
    subs_seen: set[str] = set()
    for lines, in_phase in [(p.subtasks, p) for p in edited.phases] + [
        (edited.orphan_subtasks, None)
    ]:
        owner = ""
        phase_ids: set[str] | None = None
        for line in lines:
            old_sub = base_subs.get(line.id) if line.id else None
            if old_sub is not None and line.id not in subs_seen:
                subs_seen.add(line.id)
                owner = line.task_id or old_sub.task_id or owner
                if line.checked != old_sub.checked:
                    edits.append(CheckSubtaskEdit(subtask_id=line.id, checked=line.checked))
                if line.name != old_sub.name:
                    lost.append(
                        _semantic(
                            f"{line.id}: {line.name}",
                            f"sub-task {line.id} renames are not synced",
                            line.id,
                        )
                    )
                continue
            name, task_id = line.name, line.task_id
            if line.id and not SUB_ID.match(line.id):
                name = f"{line.id}: {line.name}" if line.name else line.id
            elif line.id and not task_id and in_phase is not None:
                if phase_ids is None:  # built once per phase, not once per line
                    phase_ids = {r.id for r in in_phase.tasks}
                task_id = owner_of(line.id, phase_ids)
            task_id = task_id or owner
            if not task_id:
                lost.append(_semantic(f"- [ ] {name}", "a sub-task line that names no task"))
                continue
            owner = task_id
            edits.append(AddSubtaskEdit(task_id=task_id, name=name, checked=line.checked))
    for sub_id, old_sub in base_subs.items():
        if sub_id not in subs_seen and old_sub.task_id not in gone:
            edits.append(DeleteSubtaskEdit(subtask_id=sub_id))

    known = set(base_rows) | seen | set(base_subs) | subs_seen
    known.update(note_key(p.number) for v in (base, edited) for p in v.phases if p.listed)
    removed = gone | {e.subtask_id for e in edits if isinstance(e, DeleteSubtaskEdit)}
    edits.extend(_note_edits(base, edited, known, removed, lost))

    before = Counter((u.text, u.reason) for u in base.unmapped)
    for u in edited.unmapped:
        fragment = (u.text, u.reason)
        if before[fragment] > 0:
            before[fragment] -= 1
        else:
            lost.append(u)
    edits.extend(lost)
    return edits


def _notes_by_key(view: View) -> dict[str, tuple[str, ...]]:
    """Whose ("Phase N", task or sub-task id) → its note lines, over every phase's Notes
    (a key listed twice: joined)."""
    out: dict[str, tuple[str, ...]] = {}
    for phase in view.phases:
        for key, lines in phase.notes:
            out[key] = (*out[key], "", *lines) if key in out else lines
    return out


def _note_edits(
    base: View, edited: View, known: set[str], deleted: set[str], lost: list[Unmapped]
) -> list[Edit]:
    """SetNotesEdit for each holder whose notes the edit changed, and for the tracker.
    Notes of what is in neither view (``known``: phase keys, task and sub-task ids), or
    changed notes of a row or line that was deleted, are kept in ``lost``."""
    edits: list[Edit] = []
    before, after = _notes_by_key(base), _notes_by_key(edited)
    for key in [*after, *(k for k in before if k not in after)]:
        mine = after.get(key, ())
        if mine == before.get(key, ()):
            continue
        text = "\n".join([f"- **{key}**", *(f"  {line}" for line in mine)])
        if key in deleted:
            if mine:
                lost.append(_semantic(text, f"notes of {key}, which was deleted"))
        elif key not in known:
            lost.append(_semantic(text, f"notes of {key}, which is not in the tracker"))
        else:
            edits.append(SetNotesEdit(of=key, notes=mine))
    if edited.notes != base.notes:
        edits.append(SetNotesEdit(of=None, notes=edited.notes))
    return edits


def _semantic(text: str, reason: str, ref: str = "") -> Unmapped:
    return Unmapped(line=0, text=text, reason=reason, ref=ref)


def _row_text(row: TaskRow) -> str:
    return f"| {row.id} | {row.name} | {row.given} | {row.verification or ''} |"
