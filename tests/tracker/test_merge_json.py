"""The three-way merge of tracker JSON (git's merge driver, SPEC §11): field by field,
ours kept on a conflict, tasks added on both sides both kept, the result schema-valid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from msgspec import UNSET
from msgspec.structs import replace

from wtd.tracker import commands as c
from wtd.tracker import model, ops
from wtd.tracker.merge_json import Conflict, MergeResult, Renumbered, merge
from wtd.tracker.model import Task, Tracker

AT = "2026-12-01T12:00:00Z"
LATER = "2026-12-02T08:00:00Z"
Validate = Callable[[Tracker], None]


@pytest.fixture
def base(example: Tracker) -> Tracker:
    return model.with_derived_progress(example)


def apply(tracker: Tracker, *changes: c.Change, at: str = AT) -> Tracker:
    for change in changes:
        tracker = ops.apply(tracker, change, at=at, actor="tester").tracker
    return tracker


def status(task_id: str, value: str) -> c.SetTaskStatus:
    return c.SetTaskStatus(task_id=task_id, status=value, given=value)


def task(tracker: Tracker, task_id: str) -> Task:
    found = tracker.task(task_id)
    assert found is not None, f"no task {task_id}"
    return found


def with_task(tracker: Tracker, task_id: str, **fields: Any) -> Tracker:
    tasks = tuple(replace(t, **fields) if t.id == task_id else t for t in tracker.tasks)
    return replace(tracker, tasks=tasks)


def checked(result: MergeResult, validate: Validate) -> Tracker:
    """The merged tracker, after checking it is what wtd would write."""
    merged = result.tracker
    validate(merged)
    assert model.stale_progress(merged) is None
    assert model.decode(model.encode(merged)) == merged
    return merged


# ------------------------------------------------------------------ clean merges


def test_changes_to_different_tasks_merge_cleanly(base: Tracker, validate: Validate) -> None:
    ours = apply(base, status("2.3", "complete"), c.RenameTask(task_id="1.1", name="Repo"))
    theirs = apply(base, c.SetVerification(task_id="3.1", text="notes reviewed"))
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert result.clean and not result.lines()
    assert task(merged, "2.3").status == "complete"
    assert task(merged, "1.1").name == "Repo"
    assert task(merged, "3.1").verification == "notes reviewed"


def test_changes_to_different_fields_of_one_task_merge_cleanly(
    base: Tracker, validate: Validate
) -> None:
    ours = apply(base, status("2.3", "complete"))
    theirs = apply(
        base,
        c.RenameTask(task_id="2.3", name="Watch every file"),
        c.SetVerification(task_id="2.3", text="edits seen within 100 ms"),
    )
    result = merge(base, ours, theirs)
    merged = task(checked(result, validate), "2.3")
    assert result.clean
    assert (merged.status, merged.name, merged.verification) == (
        "complete",
        "Watch every file",
        "edits seen within 100 ms",
    )


def test_the_same_change_on_both_sides_is_clean(base: Tracker, validate: Validate) -> None:
    ours = apply(base, status("2.3", "complete"))
    theirs = apply(base, status("2.3", "complete"), at=LATER)
    result = merge(base, ours, theirs)
    assert result.clean
    assert task(checked(result, validate), "2.3").status == "complete"


def test_notes_and_unknown_fields_merge_key_by_key(custom: Tracker, validate: Validate) -> None:
    base = model.with_derived_progress(custom)
    ours = with_task(base, "1.1", extra={**task(base, "1.1").extra, "notes": ["ours' note"]})
    theirs = with_task(base, "1.1", extra={**task(base, "1.1").extra, "x_custom": {"theirs": 1}})
    theirs = replace(theirs, extra={**theirs.extra, "x_more": True})
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert result.clean
    assert task(merged, "1.1").extra == {"x_custom": {"theirs": 1}, "notes": ["ours' note"]}
    assert merged.extra == {"x_custom": {"top": [1, 2]}, "x_more": True}


def test_sub_task_changes_merge_by_id(base: Tracker, validate: Validate) -> None:
    ours = apply(base, c.SetSubtaskChecked(subtask_id="2.2.2", checked=True))
    theirs = apply(base, c.DeleteSubtask(subtask_id="2.2.3"), c.AddSubtask(task_id="1.1", name="x"))
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert result.clean
    subs = {s.id: s for s in merged.all_subtasks()}
    assert sorted(subs) == ["1.1.1", "2.2.1", "2.2.2"]
    assert subs["2.2.2"].done


def test_evidence_attached_on_both_sides_is_all_kept(base: Tracker, validate: Validate) -> None:
    ours = apply(base, c.AttachEvidence(task_id="2.1", type="manual_note", text="ours"))
    theirs = apply(base, c.AttachEvidence(task_id="2.1", type="manual_note", text="theirs"))
    result = merge(base, ours, theirs)
    evidence = task(checked(result, validate), "2.1").evidence
    assert result.clean
    assert isinstance(evidence, tuple)
    assert [e.get("content") or e.get("text") for e in evidence] == ["ours", "theirs"]


def test_progress_is_derived_and_updated_is_the_later_side(
    base: Tracker, validate: Validate
) -> None:
    stale = replace(base, meta=replace(base.meta, progress={"overall": 3}))
    ours = apply(stale, status("2.3", "complete"), at=LATER)
    theirs = apply(stale, status("3.1", "complete"))
    merged = checked(merge(stale, ours, theirs), validate)
    assert merged.meta.updated == LATER
    assert merged.meta.progress == {"overall": model.overall_progress(merged)}
    assert (model.overall_progress(base), model.overall_progress(merged)) == (44, 67)  # 4→6 of 9


def test_events_merge_as_a_log(base: Tracker, validate: Validate) -> None:
    def event(actor: str) -> dict[str, Any]:
        return {"type": "TaskUpdated", "timestamp": AT, "actor": actor}

    assert isinstance(base.events, tuple)
    ours = replace(base, events=(*base.events, event("ours")))
    theirs = replace(base, events=(event("theirs"),))  # the first one dropped
    merged = checked(merge(base, ours, theirs), validate)
    assert merged.events == (event("ours"), event("theirs"))
    none = replace(base, events=UNSET)
    assert merge(none, none, replace(base, events=())).tracker.events == ()
    assert merge(base, none, replace(base, events=())).tracker.events is UNSET


# ------------------------------------------------------------------ conflicts


def test_the_same_field_changed_both_ways_is_a_conflict_and_ours_is_kept(
    base: Tracker, validate: Validate
) -> None:
    ours = apply(base, status("2.3", "complete"), c.RenameTask(task_id="1.1", name="Ours"))
    theirs = apply(base, status("2.3", "blocked"), status("3.1", "in_progress"))
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert result.conflicts == (
        Conflict(entity="task 2.3", field="status", ours="complete", theirs="blocked"),
    )
    assert result.lines() == [
        'CONFLICT task 2.3 status: ours "complete", theirs "blocked": ours kept'
    ]
    assert task(merged, "2.3").status == "complete"
    assert task(merged, "1.1").name == "Ours"  # what merged cleanly is in
    assert task(merged, "3.1").status == "in_progress"


def test_a_field_added_with_different_values_is_a_conflict(base: Tracker) -> None:
    ours = apply(base, c.SetVerification(task_id="3.2", text="tag pushed"))
    theirs = apply(base, c.SetVerification(task_id="3.2", text="on PyPI"))
    result = merge(base, ours, theirs)
    assert [(x.entity, x.field, x.ours, x.theirs) for x in result.conflicts] == [
        ("task 3.2", "verification", "tag pushed", "on PyPI")
    ]


def test_meta_fields_conflict_like_any_field(base: Tracker) -> None:
    ours = replace(base, meta=replace(base.meta, title="Ours", status="blocked"))
    theirs = replace(base, meta=replace(base.meta, title="Theirs"))
    result = merge(base, ours, theirs)
    assert result.tracker.meta.title == "Ours"
    assert result.tracker.meta.status == "blocked"
    assert [(x.entity, x.field) for x in result.conflicts] == [("meta", "title")]


# ------------------------------------------------------------------ deletions


def test_a_task_deleted_on_one_side_and_unchanged_on_the_other_is_deleted(
    base: Tracker, validate: Validate
) -> None:
    ours = apply(base, c.DeleteTask(task_id="2.2"))
    theirs = apply(base, status("3.1", "complete"))
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert result.clean
    assert merged.task("2.2") is None
    assert not merged.subtasks_of("2.2")
    assert task(merged, "2.3").dependencies == ()  # as deleting 2.2 left it


@pytest.mark.parametrize("deleting", ["ours", "theirs"])
def test_a_task_deleted_on_one_side_and_changed_on_the_other_is_kept_as_a_conflict(
    base: Tracker, validate: Validate, deleting: str
) -> None:
    deleted = apply(base, c.DeleteTask(task_id="3.1"))
    changed = apply(base, status("3.1", "complete"))
    ours, theirs = (deleted, changed) if deleting == "ours" else (changed, deleted)
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert task(merged, "3.1").status == "complete"
    assert [(x.entity, x.field) for x in result.conflicts] == [("task 3.1", "")]
    kept_side = "theirs" if deleting == "ours" else "ours"
    assert f"deleted on {deleting}, changed on {kept_side}" in result.lines()[0]


def test_a_task_deleted_while_its_sub_task_changed_is_kept_with_its_sub_tasks(
    base: Tracker, validate: Validate
) -> None:
    ours = apply(base, c.DeleteTask(task_id="2.2"))
    theirs = apply(base, c.SetSubtaskChecked(subtask_id="2.2.2", checked=True))
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert [(x.entity, x.field) for x in result.conflicts] == [("task 2.2", "")]
    assert [s.id for s in merged.subtasks_of("2.2")] == ["2.2.1", "2.2.2", "2.2.3"]
    assert merged.subtasks_of("2.2")[1].done


def test_dependencies_on_a_task_the_other_side_deleted_are_dropped(
    base: Tracker, validate: Validate
) -> None:
    ours = apply(base, c.DeleteTask(task_id="1.3"))
    theirs = apply(
        base, c.AddTask(phase=3, name="Ship"), c.AddDependency(task_id="3.4", depends_on="1.3")
    )
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert task(merged, "3.4").dependencies == ()
    assert result.lines() == ["task 3.4: dependency on deleted 1.3 dropped"]


def test_a_phase_deleted_on_one_side_stays_while_the_other_changed_its_tasks(
    base: Tracker, validate: Validate
) -> None:
    deletions: tuple[c.Change, ...] = (
        *(c.DeleteTask(task_id=f"3.{n}") for n in (1, 2, 3)),
        c.DeletePhase(number=3),
    )
    ours = apply(base, *deletions)
    theirs = apply(base, status("3.1", "in_progress"))
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    # (starting 3.1 put phase 3 in progress on their side: both were changed there)
    conflicts = {(x.entity, x.field) for x in result.conflicts}
    assert conflicts == {("task 3.1", ""), ("phase 3", "")}
    assert [p.number for p in merged.phases] == [1, 2, 3]
    assert [t.id for t in merged.tasks if t.phase == 3] == ["3.1"]


@pytest.mark.parametrize("mover", ["ours", "theirs"])
def test_a_task_moved_on_one_side_takes_the_other_sides_changes_once(
    base: Tracker, validate: Validate, mover: str
) -> None:
    # a move gives the task a new id: the merge kept it twice (moved, and changed
    # under its old id), counted it twice, and took the move for a deletion
    moved = apply(base, c.MoveTask(task_id="2.4", phase=3))
    new_id = next(t.id for t in moved.tasks if t.name == task(base, "2.4").name)
    changed = apply(
        base,
        status("2.4", "in_progress"),
        c.SetVerification(task_id="2.4", text="checked twice"),
    )
    result = merge(base, moved, changed) if mover == "ours" else merge(base, changed, moved)
    merged = checked(result, validate)
    assert result.clean, result.lines()
    same_name = [t for t in merged.tasks if t.name == task(base, "2.4").name]
    assert [t.id for t in same_name] == [new_id]
    assert same_name[0].phase == 3 and same_name[0].status == "in_progress"
    assert same_name[0].verification == "checked twice"


def test_a_sub_task_checked_on_the_other_side_follows_its_moved_task(
    base: Tracker, validate: Validate
) -> None:
    moved = apply(base, c.MoveTask(task_id="2.2", phase=3))
    new_id = next(t.id for t in moved.tasks if t.name == task(base, "2.2").name)
    checked_sub = apply(base, c.SetSubtaskChecked(subtask_id="2.2.2", checked=True))
    result = merge(base, moved, checked_sub)
    merged = checked(result, validate)
    assert result.clean, result.lines()
    subs = {s.id: s.done for s in merged.all_subtasks() if s.task_id == new_id}
    assert subs.get(f"{new_id}.2") is True, subs
    assert not [s for s in merged.all_subtasks() if s.task_id == "2.2"]


# ------------------------------------------------------------------ added on both sides


def test_a_task_added_on_both_sides_keeps_both_and_theirs_is_renumbered(
    base: Tracker, validate: Validate
) -> None:
    ours = apply(base, c.AddTask(phase=3, name="Announce"))
    theirs = apply(
        base,
        c.AddTask(phase=3, name="Write the changelog"),
        c.AddSubtask(task_id="3.4", name="collect the entries"),
        c.AddDependency(task_id="3.2", depends_on="3.4"),
    )
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert result.clean
    assert result.renumbered == (Renumbered(entity="task", old="3.4", new="3.5"),)
    assert result.lines() == ["task 3.4 added on both sides: theirs renumbered 3.5"]
    phase3 = [(t.id, t.title) for t in merged.tasks if t.phase == 3]
    assert phase3[-2:] == [("3.4", "Announce"), ("3.5", "Write the changelog")]
    assert [(s.id, s.task_id) for s in merged.subtasks_of("3.5")] == [("3.5.1", "3.5")]
    assert task(merged, "3.2").dependencies == ("3.1", "3.5")  # theirs meant its own 3.4


def test_the_same_task_added_on_both_sides_is_kept_once(base: Tracker) -> None:
    ours = apply(base, c.AddTask(phase=1, name="Same"))
    theirs = apply(base, c.AddTask(phase=1, name="Same"), at=LATER)
    result = merge(base, ours, theirs)
    assert result.clean and not result.renumbered
    assert [t.id for t in result.tracker.tasks if t.phase == 1] == ["1.1", "1.2", "1.3", "1.4"]


def test_theirs_renumbered_takes_the_next_id_free_on_every_side(base: Tracker) -> None:
    ours = apply(base, c.AddTask(phase=3, name="Ours"))
    theirs = apply(base, c.AddTask(phase=3, name="Theirs A"), c.AddTask(phase=3, name="Theirs B"))
    result = merge(base, ours, theirs)
    ids = [(t.id, t.title) for t in result.tracker.tasks if t.phase == 3][3:]
    assert ids == [("3.4", "Ours"), ("3.6", "Theirs A"), ("3.5", "Theirs B")]


def test_a_sub_task_added_on_both_sides_keeps_both(base: Tracker, validate: Validate) -> None:
    ours = apply(base, c.AddSubtask(task_id="2.2", name="ours"))
    theirs = apply(base, c.AddSubtask(task_id="2.2", name="theirs"))
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert [(s.id, s.name) for s in merged.subtasks_of("2.2")][3:] == [
        ("2.2.4", "ours"),
        ("2.2.5", "theirs"),
    ]
    assert result.lines() == ["sub-task 2.2.4 added on both sides: theirs renumbered 2.2.5"]


def test_a_phase_added_on_both_sides_is_renumbered_with_its_tasks(
    base: Tracker, validate: Validate
) -> None:
    ours = apply(base, c.AddPhase(name="Docs"), c.AddTask(phase=4, name="Guide"))
    theirs = apply(
        base,
        c.AddPhase(name="Speed"),
        c.AddTask(phase=4, name="Measure"),
        c.AddTask(phase=4, name="Tune"),
        c.AddDependency(task_id="4.2", depends_on="4.1"),
    )
    result = merge(base, ours, theirs)
    merged = checked(result, validate)
    assert result.clean
    assert [(p.number, p.name) for p in merged.phases][3:] == [(4, "Docs"), (5, "Speed")]
    assert [t.id for t in merged.tasks][-3:] == ["4.1", "5.1", "5.2"]
    assert task(merged, "5.2").dependencies == ("5.1",)
    assert result.lines() == [
        "phase 4 added on both sides: theirs renumbered 5 (its tasks 4.1 → 5.1, 4.2 → 5.2)"
    ]


def test_without_a_base_the_same_ids_are_the_same_tasks(base: Tracker) -> None:
    ours = apply(base, status("2.3", "complete"))
    # (a task added to a pending phase: adding one to a complete phase reopens it, and
    # without a base that phase status differs from ours' too)
    theirs = apply(base, status("2.3", "blocked"), c.AddTask(phase=3, name="Theirs"))
    result = merge(None, ours, theirs)
    assert not result.renumbered
    assert [(x.entity, x.field) for x in result.conflicts] == [("task 2.3", "status")]
    assert task(result.tracker, "3.4").name == "Theirs"


# ------------------------------------------------------------------ laws

CHANGES: list[tuple[c.Change, ...]] = [
    (status("2.3", "complete"),),
    (c.RenameTask(task_id="1.1", name="Renamed"),),
    (c.SetVerification(task_id="3.1", text="reviewed"),),
    (c.AddTask(phase=1, name="New one"),),
    (c.DeleteTask(task_id="2.2"),),
    (c.MoveTask(task_id="2.4", phase=3),),
    (c.AddDependency(task_id="3.1", depends_on="1.1"),),
    (c.AddSubtask(task_id="1.1", name="Sub"),),
    (c.SetSubtaskChecked(subtask_id="2.2.2", checked=True),),
    (c.DeleteSubtask(subtask_id="2.2.3"),),
    (c.AddPhase(name="Later"),),
    (*(c.DeleteTask(task_id=f"3.{n}") for n in (1, 2, 3)), c.DeletePhase(number=3)),
    (c.SetPhaseStatus(number=3, status="in_progress", given="in_progress"),),
    (c.AttachEvidence(task_id="2.1", type="manual_note", text="checked by hand"),),
]


def _name(changes: tuple[c.Change, ...]) -> str:
    return type(changes[-1]).__name__


@pytest.mark.parametrize("changes", CHANGES, ids=_name)
def test_a_side_left_unchanged_takes_the_other_sides_change(
    base: Tracker, changes: tuple[c.Change, ...]
) -> None:
    changed = apply(base, *changes)
    for result in (merge(base, changed, base), merge(base, base, changed)):
        assert result.clean and not result.lines()
        assert model.encode(result.tracker) == model.encode(changed)


@pytest.mark.parametrize("changes", CHANGES, ids=_name)
def test_the_same_change_on_both_sides_gives_that_change(
    base: Tracker, changes: tuple[c.Change, ...]
) -> None:
    changed = apply(base, *changes)
    result = merge(base, changed, changed)
    assert result.clean and not result.lines()
    assert model.encode(result.tracker) == model.encode(changed)


def test_a_merge_of_big_trackers_keeps_both_sides_changes(
    make_tracker: Callable[[int, int], Tracker], validate: Validate
) -> None:
    base = make_tracker(10_000, 10)
    ours_tasks = list(base.tasks)
    theirs_tasks = list(base.tasks)
    for i in range(0, 10_000, 7):
        ours_tasks[i] = replace(ours_tasks[i], status="complete")
    for i in range(3, 10_000, 11):
        theirs_tasks[i] = replace(theirs_tasks[i], name=f"{theirs_tasks[i].title} (theirs)")
    ours = replace(base, tasks=(*ours_tasks, Task(id="10.9001", phase=10, name="ours")))
    theirs = replace(base, tasks=(*theirs_tasks, Task(id="10.9001", phase=10, name="theirs")))
    result = merge(base, ours, theirs)  # linear: well under a second for 10k tasks
    merged = checked(result, validate)
    assert result.clean
    assert len(merged.tasks) == 10_002
    assert task(merged, "1.1").status == "complete"
    assert task(merged, "1.4").name == "Task 1.4 (theirs)"
    assert result.lines() == ["task 10.9001 added on both sides: theirs renumbered 10.9002"]
    assert msgspec.json.decode(model.encode(merged))["tasks"][-1]["name"] == "theirs"
