"""Entity patches: the inverse of every change restores the tracker byte for byte;
a hand-edited JSON merged three ways loses neither side's changes."""

from __future__ import annotations

import msgspec
import pytest

from wtd.tracker import commands as c
from wtd.tracker import model, ops, patch

AT = "2026-11-25T10:00:00Z"

CHANGES: list[c.Change] = [
    c.SetTaskStatus(task_id="2.3", status="complete", given="complete"),
    c.RenameTask(task_id="1.1", name="Renamed"),
    c.SetVerification(task_id="3.1", text="reviewed"),
    c.AddTask(phase=1, name="New one"),
    c.DeleteTask(task_id="2.2"),
    c.MoveTask(task_id="2.4", phase=3),
    c.AddDependency(task_id="3.1", depends_on="1.1"),
    c.AddSubtask(task_id="1.1", name="Sub"),
    c.SetSubtaskChecked(subtask_id="2.2.2", checked=True),
    c.DeleteSubtask(subtask_id="2.2.3"),
    c.AddPhase(name="Later"),
    c.SetPhaseStatus(number=3, status="in_progress", given="in_progress"),
    c.SetPhaseTasks(number=2, status="complete", given="complete"),
    c.AttachEvidence(task_id="2.1", type="manual_note", text="checked by hand"),
]


@pytest.fixture
def tracker(example: model.Tracker) -> model.Tracker:
    return model.with_derived_progress(example)


@pytest.mark.parametrize("change", CHANGES, ids=lambda ch: type(ch).__name__)
def test_the_inverse_of_a_change_restores_the_tracker_exactly(
    tracker: model.Tracker, change: c.Change
) -> None:
    after = ops.apply(tracker, change, at=AT, actor="user").tracker
    inverse = patch.diff(tracker, after, reason="undo")
    assert not patch.is_empty(inverse)
    back = ops.apply(after, inverse, at=AT, actor="user").tracker
    assert model.encode(back) == model.encode(tracker)


def test_an_inverse_survives_the_journal_encoding(tracker: model.Tracker) -> None:
    after = ops.apply(tracker, c.DeleteTask(task_id="2.2"), at=AT, actor="u").tracker
    stored = msgspec.json.encode(patch.diff(tracker, after, reason="undo"))
    inverse = msgspec.json.decode(stored, type=c.Patch)
    assert patch.apply_patch(after, inverse).tasks == tracker.tasks


def test_a_patch_shares_the_tasks_it_does_not_touch(tracker: model.Tracker) -> None:
    after = ops.apply(tracker, c.RenameTask(task_id="1.1", name="x"), at=AT, actor="u").tracker
    back = patch.apply_patch(after, patch.diff(tracker, after, reason="undo"))
    assert all(a is b for a, b in zip(back.tasks[1:], after.tasks[1:], strict=True))


def test_merge3_keeps_changes_made_since_the_editor_read_the_file(
    tracker: model.Tracker,
) -> None:
    base = tracker
    ours = ops.apply(base, c.AddTask(phase=3, name="Added by an agent"), at=AT, actor="a").tracker
    edited = ops.apply(base, c.RenameTask(task_id="1.1", name="By hand"), at=AT, actor="h").tracker
    merged, conflicts = patch.merge3(base, ours, edited)
    names = [t.title for t in merged.tasks]
    assert "Added by an agent" in names and "By hand" in names
    assert conflicts == []


def test_merge3_keeps_the_json_on_a_conflict_and_says_so(tracker: model.Tracker) -> None:
    base = tracker
    ours = ops.apply(base, c.RenameTask(task_id="1.1", name="JSON"), at=AT, actor="a").tracker
    edited = ops.apply(base, c.RenameTask(task_id="1.1", name="Hand"), at=AT, actor="h").tracker
    merged, conflicts = patch.merge3(base, ours, edited)
    assert merged.tasks[0].name == "JSON"
    assert conflicts and "1.1" in conflicts[0]


def test_closest_finds_the_state_the_editor_read(tracker: model.Tracker) -> None:
    states = [tracker]
    for n in range(5):
        states.insert(
            0, ops.apply(states[0], c.AddTask(phase=3, name=f"n{n}"), at=AT, actor="a").tracker
        )
    read = states[3]
    edited = ops.apply(read, c.RenameTask(task_id="1.1", name="By hand"), at=AT, actor="h").tracker
    assert patch.closest(states, edited) is read


def test_the_patch_over_several_changes_is_the_same_with_or_without_the_splices_noted(
    tracker: model.Tracker,
) -> None:
    from wtd.tracker.model import structs

    after = tracker
    for change in (
        c.RenameTask(task_id="1.1", name="x"),
        c.SetTaskStatus(task_id="2.3", status="complete", given="done"),
        c.RenameTask(task_id="1.1", name="y"),
    ):
        after = ops.apply(after, change, at=AT, actor="u").tracker
    assert structs.spliced_at(tracker.tasks, after.tasks) is not None  # the fast path
    noted = patch.diff(tracker, after, reason="undo")
    structs._SPLICES.clear()
    assert structs.spliced_at(tracker.tasks, after.tasks) is None  # compared item by item
    assert patch.diff(tracker, after, reason="undo") == noted
    back = ops.apply(after, noted, at=AT, actor="u").tracker
    assert model.encode(back) == model.encode(tracker)
