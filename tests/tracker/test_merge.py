"""Specification of the three-way merge of hand edits (SPEC §6)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from tests.tracker.conftest import ACTOR, make_tracker
from wtd.tracker import commands as c
from wtd.tracker import markdown as md
from wtd.tracker import ops
from wtd.tracker import status as st
from wtd.tracker.merge import Conflict, merge
from wtd.tracker.model import Tracker, overall_progress
from wtd.tracker.render import render

LATER = "2026-12-02T08:00:00Z"


def change(tracker: Tracker, *changes: c.Change) -> Tracker:
    for ch in changes:
        tracker = ops.apply(tracker, ch, at=LATER, actor=ACTOR).tracker
    return tracker


def task(tracker: Tracker, task_id: str) -> object:
    found = tracker.task(task_id)
    assert found is not None
    return found


def hand(base: Tracker, old: str, new: str) -> list[md.Edit]:
    text = render(base, name="p", checksum="x")
    assert old in text
    return md.diff_views(md.view_of(base), md.parse_view(text.replace(old, new, 1)))


# ------------------------------------------------------------ each edit kind


def test_a_status_edit_is_applied_with_derived_progress(example: Tracker) -> None:
    edits = [md.SetStatusEdit(task_id="2.3", status="complete", given="done")]
    result = merge(example, example, edits, at=LATER)
    t = result.tracker
    assert t.task("2.3") is not None and t.task("2.3").status == "complete"  # type: ignore[union-attr]
    assert t.meta.progress == {"overall": overall_progress(t)} == {"overall": 56}
    assert result.applied == ["Task 2.3 status ← complete (hand edit)"]
    assert result.changed and result.conflicts == []
    assert t.meta.updated == LATER


def test_rename_verification_and_checkbox_edits_are_applied(example: Tracker) -> None:
    edits: list[md.Edit] = [
        md.RenameEdit(task_id="2.3", name="Watch folders"),
        md.SetVerificationEdit(task_id="2.3", text="e2e passes"),
        md.SetVerificationEdit(task_id="1.2", text=None),
        md.CheckSubtaskEdit(subtask_id="2.2.2", checked=True),
    ]
    t = merge(example, example, edits, at=LATER).tracker
    t23, t12 = t.task("2.3"), t.task("1.2")
    assert t23 is not None and t12 is not None
    assert (t23.name, t23.verification) == ("Watch folders", "e2e passes")
    assert "verification" not in {k for k in ("verification",) if isinstance(t12.verification, str)}
    assert [s.done for s in t.subtasks_of("2.2")] == [True, True, False]


def test_a_new_row_gets_its_requested_id_when_free(example: Tracker) -> None:
    edits: list[md.Edit] = [
        md.AddTaskEdit(
            phase=2, name="Bench", status="complete", verification="ok", requested_id="2.7"
        ),
        md.AddTaskEdit(
            phase=2, name="Docs", status="pending", verification=None, requested_id=None
        ),
        md.AddTaskEdit(
            phase=3, name="Taken", status="pending", verification=None, requested_id="3.1"
        ),
    ]
    result = merge(example, example, edits, at=LATER)
    t = result.tracker
    assert [(x.id, x.title, x.status) for x in t.tasks if x.phase == 2][-2:] == [
        ("2.7", "Bench", "complete"),
        ("2.8", "Docs", "pending"),
    ]
    assert t.task("3.4") is not None
    assert result.applied[2] == "Added task 3.4: Taken [pending] (ID 3.1 is taken) (hand edit)"


def test_a_deleted_row_deletes_the_task_and_its_subtasks(example: Tracker) -> None:
    result = merge(example, example, [md.DeleteTaskEdit(task_id="2.2")], at=LATER)
    assert result.tracker.task("2.2") is None
    assert result.tracker.subtasks_of("2.2") == []
    assert result.applied == ["Deleted task 2.2: Render Markdown view (hand edit)"]


def test_phase_edits_and_new_subtasks_are_applied(example: Tracker) -> None:
    edits: list[md.Edit] = [
        md.RenamePhaseEdit(number=3, name="Ship"),
        md.SetPhaseStatusEdit(number=3, status="in_progress", given="wip"),
        md.AddSubtaskEdit(task_id="2.2", name="Docs", checked=True),
    ]
    t = merge(example, example, edits, at=LATER).tracker
    assert (t.phases[2].name, t.phases[2].status) == ("Ship", "in_progress")
    assert [(s.id, s.done) for s in t.subtasks_of("2.2")][-1] == ("2.2.4", True)


def test_a_hand_edited_view_lands_in_the_json(example: Tracker) -> None:
    edits = hand(
        example,
        "| 2.3 | Watch files for hand edits | ⏳ Pending | |",
        "| 2.3 | Watch files for hand edits | DONE | |\n| | New thing | todo | |",
    )
    t = merge(example, example, edits, at=LATER).tracker
    assert task(t, "2.3").status == "complete"  # type: ignore[attr-defined]
    assert task(t, "2.5").name == "New thing"  # type: ignore[attr-defined]


def test_unmapped_fragments_are_handed_back(example: Tracker) -> None:
    lost = md.Unmapped(line=3, text="stray", reason="free text")
    result = merge(example, example, [lost], at=LATER)
    assert result.unmapped == [lost] and not result.changed


# ------------------------------------------------------------ conflicts


def test_json_wins_when_it_changed_the_same_field(example: Tracker) -> None:
    ours = change(example, c.SetTaskStatus(task_id="2.3", status="blocked", given="blocked"))
    result = merge(
        example, ours, [md.SetStatusEdit(task_id="2.3", status="complete", given="done")], at=LATER
    )
    assert task(result.tracker, "2.3").status == "blocked"  # type: ignore[attr-defined]
    assert result.conflicts == [
        Conflict(
            field="status",
            task_id="2.3",
            json_value="blocked",
            markdown_value="complete",
            reason="JSON changed the status since",
        )
    ]
    assert not result.changed


def test_a_different_field_of_the_same_task_merges(example: Tracker) -> None:
    ours = change(example, c.SetTaskStatus(task_id="2.3", status="blocked", given="blocked"))
    result = merge(example, ours, [md.RenameEdit(task_id="2.3", name="Watch")], at=LATER)
    t23 = result.tracker.task("2.3")
    assert t23 is not None and (t23.status, t23.name) == ("blocked", "Watch")
    assert result.conflicts == []


def test_the_same_change_on_both_sides_is_no_conflict(example: Tracker) -> None:
    ours = change(example, c.SetTaskStatus(task_id="2.3", status="complete", given="complete"))
    result = merge(
        example, ours, [md.SetStatusEdit(task_id="2.3", status="complete", given="✅")], at=LATER
    )
    assert result.conflicts == [] and result.tracker is ours


def test_an_edit_of_a_task_deleted_in_json_is_a_conflict(example: Tracker) -> None:
    ours = change(example, c.DeleteTask(task_id="2.3"))
    result = merge(example, ours, [md.RenameEdit(task_id="2.3", name="Watch")], at=LATER)
    assert result.tracker is ours
    assert result.conflicts == [
        Conflict(
            field="name",
            task_id="2.3",
            json_value=None,
            markdown_value="Watch",
            reason="task 2.3 was deleted in JSON",
        )
    ]


def test_deleting_a_row_that_json_changed_keeps_the_task(example: Tracker) -> None:
    ours = change(example, c.SetTaskStatus(task_id="2.3", status="complete", given="complete"))
    result = merge(example, ours, [md.DeleteTaskEdit(task_id="2.3")], at=LATER)
    assert result.tracker.task("2.3") is not None
    assert [(x.field, x.task_id, x.markdown_value) for x in result.conflicts] == [
        ("task", "2.3", None)
    ]


def test_an_edit_json_cannot_accept_is_a_conflict_with_the_reason(example: Tracker) -> None:
    result = merge(example, example, [md.RenameEdit(task_id="2.3", name="  ")], at=LATER)
    assert result.tracker is example
    assert [(x.field, x.reason) for x in result.conflicts] == [
        ("name", "Task name cannot be empty")
    ]


# ------------------------------------------------------------ laws

BASE = make_tracker(24, 3)
IDS = [t.id for t in BASE.tasks]
FIELDS = ("status", "name", "verification")
NAMES = hs.sampled_from(["Alpha", "Beta", "Gamma | delta", "Ünïcode ✅", "x\\y"])
VALUES = {
    "status": hs.sampled_from(st.STATUSES),
    "name": NAMES,
    "verification": hs.one_of(hs.none(), NAMES),
}


@hs.composite
def field_changes(draw: hs.DrawFn) -> dict[tuple[str, str], str | None]:
    keys = draw(
        hs.lists(hs.tuples(hs.sampled_from(IDS), hs.sampled_from(FIELDS)), unique=True, max_size=8)
    )
    return {key: draw(VALUES[key[1]]) for key in keys}


def value(tracker: Tracker, task_id: str, field: str) -> str | None:
    t = tracker.task(task_id)
    assert t is not None
    if field == "status":
        return t.status
    if field == "name":
        return t.title
    return t.verification if isinstance(t.verification, str) and t.verification else None


def apply_json(tracker: Tracker, changes: dict[tuple[str, str], str | None]) -> Tracker:
    """What agents do through wtctl (ops), field by field."""
    for (task_id, field), v in changes.items():
        if field == "status":
            assert v is not None
            tracker = change(tracker, c.SetTaskStatus(task_id=task_id, status=v, given=v))
        elif field == "name":
            assert v is not None
            tracker = change(tracker, c.RenameTask(task_id=task_id, name=v))
        elif v is not None:
            tracker = change(tracker, c.SetVerification(task_id=task_id, text=v))
        # v is None: BASE has no verifications, so clearing one changes nothing
    return tracker


def as_edits(changes: dict[tuple[str, str], str | None]) -> list[md.Edit]:
    out: list[md.Edit] = []
    for (task_id, field), v in changes.items():
        if field == "status":
            assert v is not None
            out.append(md.SetStatusEdit(task_id=task_id, status=v, given=v))
        elif field == "name":
            assert v is not None
            out.append(md.RenameEdit(task_id=task_id, name=v))
        else:
            out.append(md.SetVerificationEdit(task_id=task_id, text=v))
    return out


LAWS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@LAWS
@given(field_changes(), field_changes())
def test_a_merge_never_drops_a_field_either_side_changed(
    theirs: dict[tuple[str, str], str | None], mine: dict[tuple[str, str], str | None]
) -> None:
    ours = apply_json(BASE, theirs)
    result = merge(BASE, ours, as_edits(mine), at=LATER)
    conflicts = {(x.task_id, x.field): x for x in result.conflicts}
    for (task_id, field), v in mine.items():
        json_changed = value(ours, task_id, field) != value(BASE, task_id, field)
        if json_changed and value(ours, task_id, field) != v:
            x = conflicts[(task_id, field)]
            assert (x.json_value, x.markdown_value) == (value(ours, task_id, field), v)
            assert value(result.tracker, task_id, field) == value(ours, task_id, field)
        else:
            assert (task_id, field) not in conflicts
            assert value(result.tracker, task_id, field) == v
    for task_id, field in theirs:
        if value(ours, task_id, field) != value(BASE, task_id, field):
            assert value(result.tracker, task_id, field) == value(ours, task_id, field)
    assert result.tracker.meta.progress == {"overall": overall_progress(result.tracker)}


@LAWS
@given(field_changes())
def test_merging_no_edits_returns_ours_unchanged(theirs: dict[tuple[str, str], str | None]) -> None:
    ours = apply_json(BASE, theirs)
    result = merge(BASE, ours, [], at=LATER)
    assert result.tracker is ours
    assert (result.applied, result.conflicts, result.changed) == ([], [], False)


@LAWS
@given(field_changes())
def test_merging_against_an_unchanged_json_is_applying_the_edits(
    mine: dict[tuple[str, str], str | None],
) -> None:
    result = merge(BASE, BASE, as_edits(mine), at=LATER)
    assert result.conflicts == []
    expected = BASE
    for key, v in mine.items():
        expected = apply_json(expected, {key: v})
    assert md.view_of(result.tracker) == md.view_of(expected)
    assert result.changed == (md.view_of(expected) != md.view_of(BASE))
