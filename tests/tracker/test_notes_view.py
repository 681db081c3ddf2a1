"""Specification of notes in the Markdown view (SPEC §2a, §3): a task's ``notes`` and
the tracker's ``notes`` are shown, round-trip, and hand edits of them sync back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from tests.tracker.conftest import example_raw
from tests.tracker.test_hostile_input import finishes
from wtd.tracker import markdown as md
from wtd.tracker import model
from wtd.tracker.merge import merge
from wtd.tracker.model import Tracker
from wtd.tracker.render import escape_note, note_lines, render, unescape_note

AT = "2026-12-02T08:00:00Z"


def view(tracker: Tracker) -> str:
    return render(tracker, name="p", checksum="x")


def with_notes(tracker: Tracker, plan: list[str] | None = None, **tasks: list[str]) -> Tracker:
    """``tracker`` with notes on tasks (``t1_2=[...]`` for task 1.2) and on the plan."""
    wanted = {k[1:].replace("_", "."): v for k, v in tasks.items()}
    out = tuple(
        msgspec.structs.replace(t, extra={**t.extra, "notes": wanted[t.id]})
        if t.id in wanted
        else t
        for t in tracker.tasks
    )
    extra = {**tracker.extra, "notes": plan} if plan is not None else tracker.extra
    return msgspec.structs.replace(tracker, tasks=out, extra=extra)


def edits_of(base: Tracker, old: str, new: str) -> list[md.Edit]:
    text = view(base)
    assert old in text, old
    return md.diff_views(md.view_of(base), md.parse_view(text.replace(old, new, 1)))


@pytest.fixture
def noted(example: Tracker) -> Tracker:
    return with_notes(
        example,
        plan=["**Owner:** Alice", "", "| Icon | Meaning |", "|---|---|", "| ⬜ | pending |"],
        t1_2=["- Create the workflow", "- _Requirements: 1.1_"],
        t2_3=["…the rest of a long name"],
    )


# ------------------------------------------------------------------ the view


def test_task_notes_are_a_notes_block_after_the_phase_tables(noted: Tracker) -> None:
    text = view(noted)
    block = (
        "- [ ] 2.2.3: Recovery checksum\n\n#### Notes\n\n"
        "- **2.3**\n  …the rest of a long name\n\n### Phase 3: Release"
    )
    assert block in text
    assert (
        "| 1.3 | Write the contributor guide | ✅ Complete | |\n\n#### Notes\n\n"
        "- **1.2**\n  - Create the workflow\n  - _Requirements: 1.1_\n\n### Phase 2"
    ) in text


def test_a_phases_and_a_subtasks_notes_are_items_of_the_phase_block(example: Tracker) -> None:
    phases = tuple(
        msgspec.structs.replace(p, extra={"notes": ["Two weeks, then review."]})
        if p.number == 2
        else p
        for p in example.phases
    )
    subs = tuple(
        msgspec.structs.replace(s, extra={"notes": ["- header row first"]})
        if s.id == "2.2.1"
        else s
        for s in example.all_subtasks()
    )
    tracker = msgspec.structs.replace(
        with_notes(example, t2_2=["Use the template"]), phases=phases, subtasks=subs
    )
    text = view(tracker)
    assert (
        "#### Notes\n\n- **Phase 2**\n  Two weeks, then review.\n- **2.2**\n  Use the template\n"
        "- **2.2.1**\n  - header row first\n\n### Phase 3"
    ) in text
    assert md.parse_view(text) == md.view_of(tracker)
    edits = edits_of(tracker, "  Two weeks, then review.", "  Three weeks.")
    assert edits == [md.SetNotesEdit(of="Phase 2", notes=("Three weeks.",))]
    merged = merge(tracker, tracker, edits, at=AT).tracker
    phase = merged.phase(2)
    assert phase is not None and phase.extra["notes"] == ["Three weeks."]
    edits = edits_of(tracker, "  - header row first", "  - header row last")
    merged = merge(tracker, tracker, edits, at=AT).tracker
    assert [s.extra.get("notes") for s in merged.all_subtasks() if s.id == "2.2.1"] == [
        ["- header row last"]
    ]


def test_plan_notes_are_a_section_before_the_progress_summary_verbatim(noted: Tracker) -> None:
    text = view(noted)
    assert (
        "---\n\n## Notes\n\n**Owner:** Alice\n\n| Icon | Meaning |\n|---|---|\n| ⬜ | pending |\n\n"
        "## Progress Summary\n"
    ) in text


def test_a_tracker_without_notes_renders_as_before(example: Tracker) -> None:
    text = view(example)
    assert "Notes" not in text
    empty = with_notes(example, plan=["", "  "], t1_1=[], t1_2=[""])
    assert view(empty) == text


def test_notes_that_are_not_lines_of_text_are_not_shown(example: Tracker) -> None:
    odd = msgspec.structs.replace(example, extra={"notes": {"by": "another tool"}})
    assert view(odd) == view(example)
    assert md.view_of(odd).notes == ()


def test_the_view_of_notes_parses_back(noted: Tracker) -> None:
    parsed = md.parse_view(view(noted))
    assert parsed == md.view_of(noted)
    assert parsed.unmapped == ()
    assert parsed.notes[0] == "**Owner:** Alice"
    assert dict(parsed.phases[0].notes) == {
        "1.2": ("- Create the workflow", "- _Requirements: 1.1_")
    }


@pytest.mark.parametrize(
    "line",
    [
        "## Progress Summary",  # would end the section
        "## Notes",
        "### Phase 4: Later",
        "\\begins with the escape mark",
        "a\rcarriage return",
        "a\u2028line separator",
        "nul \x00",
    ],
)
def test_a_plan_note_that_would_break_the_layout_is_escaped(example: Tracker, line: str) -> None:
    tracker = with_notes(example, plan=["before", line, "after"])
    text = view(tracker)
    assert f"\nbefore\n{escape_note(line)}\nafter\n" in text
    assert md.parse_view(text).notes == ("before", line, "after")


def test_an_unclosed_code_fence_or_comment_is_escaped_a_closed_one_is_not(
    example: Tracker,
) -> None:
    closed = ["```sh", "make test", "```", "<!-- a -->"]
    text = view(with_notes(example, plan=closed))
    assert "\n```sh\nmake test\n```\n<!-- a -->\n" in text
    unclosed = ["```sh", "make test", "<!-- never closed", "text"]
    text = view(with_notes(example, plan=unclosed))
    assert f"\n{escape_note('```sh')}\nmake test\n{escape_note('<!-- never closed')}\n" in text
    assert md.parse_view(text).notes == tuple(unclosed)


def test_paragraph_breaks_are_kept_inside_and_dropped_at_the_ends() -> None:
    assert note_lines(["", "a  ", "", "", "b", " ", ""]) == ("a", "", "", "b")
    assert note_lines("not a list") == ()
    assert note_lines(["a", 1]) == ()


@given(hs.text())
def test_unescape_note_inverts_escape_note(text: str) -> None:
    assert unescape_note(escape_note(text)) == text
    assert "\n" not in escape_note(text)


# ------------------------------------------------------------------ hand edits


def test_an_edited_task_note_is_a_notes_edit(noted: Tracker) -> None:
    assert edits_of(noted, "  - _Requirements: 1.1_", "  - _Requirements: 1.1, 1.2_") == [
        md.SetNotesEdit(of="1.2", notes=("- Create the workflow", "- _Requirements: 1.1, 1.2_"))
    ]


def test_notes_added_under_a_task_that_had_none(example: Tracker) -> None:
    edits = edits_of(
        example,
        "- [ ] 2.2.3: Recovery checksum\n",
        "- [ ] 2.2.3: Recovery checksum\n\n#### Notes\n\n- **2.4**\n  Ask ops about backups\n",
    )
    assert edits == [md.SetNotesEdit(of="2.4", notes=("Ask ops about backups",))]


def test_a_lazy_continuation_line_belongs_to_its_item(example: Tracker) -> None:
    edits = edits_of(
        example,
        "- [ ] 2.2.3: Recovery checksum\n",
        "- [ ] 2.2.3: Recovery checksum\n\n#### Notes\n\n- **2.4** first\nsecond\n",
    )
    assert edits == [md.SetNotesEdit(of="2.4", notes=("first", "second"))]


def test_removing_every_line_clears_the_notes(noted: Tracker) -> None:
    assert edits_of(noted, "\n  …the rest of a long name", "") == [
        md.SetNotesEdit(of="2.3", notes=())
    ]


def test_notes_of_something_that_is_no_task_are_kept_as_unmapped(noted: Tracker) -> None:
    (lost,) = edits_of(noted, "- **2.3**", "- **9.9**")[1:]
    assert isinstance(lost, md.Unmapped) and "9.9" in lost.reason
    assert "…the rest of a long name" in lost.text


def test_text_under_no_item_is_unmapped(noted: Tracker) -> None:
    edits = edits_of(noted, "#### Notes\n\n- **2.3**", "#### Notes\n\n  stray\n\n- **2.3**")
    assert [type(e) for e in edits] == [md.Unmapped]


def test_an_edited_plan_note_is_a_notes_edit(noted: Tracker) -> None:
    assert edits_of(noted, "**Owner:** Alice", "**Owner:** Bob") == [
        md.SetNotesEdit(
            of=None,
            notes=("**Owner:** Bob", "", "| Icon | Meaning |", "|---|---|", "| ⬜ | pending |"),
        )
    ]


# ------------------------------------------------------------------ merge


def test_a_notes_edit_lands_in_the_tasks_notes_field(noted: Tracker) -> None:
    result = merge(noted, noted, [md.SetNotesEdit(of="2.3", notes=("changed",))], at=AT)
    task = result.tracker.task("2.3")
    assert task is not None and task.extra["notes"] == ["changed"]
    assert result.applied == ["Task 2.3 notes ← 1 line (hand edit)"]
    cleared = merge(noted, noted, [md.SetNotesEdit(of="2.3", notes=())], at=AT).tracker
    task = cleared.task("2.3")
    assert task is not None and "notes" not in task.extra


def test_a_plan_notes_edit_lands_in_the_trackers_notes_field(noted: Tracker) -> None:
    result = merge(noted, noted, [md.SetNotesEdit(of=None, notes=("one", "", "two"))], at=AT)
    assert result.tracker.extra["notes"] == ["one", "", "two"]


def test_json_wins_when_it_changed_the_notes_since(noted: Tracker) -> None:
    ours = with_notes(noted, t2_3=["changed by an agent"])
    result = merge(noted, ours, [md.SetNotesEdit(of="2.3", notes=("changed by hand",))], at=AT)
    assert result.tracker is ours
    (conflict,) = result.conflicts
    assert (conflict.field, conflict.json_value, conflict.markdown_value) == (
        "notes",
        "changed by an agent",
        "changed by hand",
    )


def test_a_new_row_with_notes_gets_them(example: Tracker) -> None:
    row = "| 2.4 | Recover from corrupted state | 🔴 Blocked | fault-injection suite passes |"
    edits = edits_of(
        example,
        row + "\n\n**Dependencies:** 2.2 → 2.1; 2.3 → 2.2\n\n#### Sub-tasks\n\n"
        "- [x] 2.2.1: Task tables\n- [ ] 2.2.2: Progress summary\n- [ ] 2.2.3: Recovery checksum\n",
        row + "\n| 2.9 | Benchmark | todo | |\n\n**Dependencies:** 2.2 → 2.1; 2.3 → 2.2\n\n"
        "#### Sub-tasks\n\n- [x] 2.2.1: Task tables\n- [ ] 2.2.2: Progress summary\n"
        "- [ ] 2.2.3: Recovery checksum\n\n#### Notes\n\n- **2.9**\n  on the big tracker\n",
    )
    result = merge(example, example, edits, at=AT)
    task = result.tracker.task("2.9")
    assert task is not None and task.extra["notes"] == ["on the big tracker"]


def test_a_name_typed_over_200_characters_is_cut_and_continued_in_the_notes(
    example: Tracker, validate: Callable[[Tracker], None]
) -> None:
    long = "Watch files " + "and folders " * 20
    result = merge(example, example, [md.RenameEdit(task_id="2.3", name=long)], at=AT)
    assert result.conflicts == []
    task = result.tracker.task("2.3")
    assert task is not None and isinstance(task.name, str)
    assert len(task.name) <= 200 and task.name.endswith("…")
    assert task.name[:-1] + " " + task.extra["notes"][0][1:] == long.strip()
    validate(result.tracker)
    text = view(result.tracker)
    assert md.parse_view(text) == md.view_of(result.tracker)


def test_a_long_new_row_and_phase_name_are_cut_too(
    example: Tracker, validate: Callable[[Tracker], None]
) -> None:
    long = "x" * 250
    edits: list[md.Edit] = [
        md.AddTaskEdit(phase=3, name=long, status="pending", verification=None, requested_id=None),
        md.RenamePhaseEdit(number=3, name=long),
        md.AddSubtaskEdit(task_id="3.1", name=long, checked=False),
    ]
    result = merge(example, example, edits, at=AT)
    assert result.conflicts == []
    validate(result.tracker)
    phase = result.tracker.phase(3)
    assert phase is not None and phase.description == "…" + "x" * 51
    added = result.tracker.task("3.4")
    assert added is not None and added.extra["notes"] == ["…" + "x" * 51]
    owner = result.tracker.task("3.1")
    assert owner is not None and owner.extra["notes"] == ["3.1.1: …" + "x" * 51]


# ------------------------------------------------------------------ laws

LINES = hs.lists(hs.sampled_from(["a", "- b", "", "## c", "```"]), max_size=4).map(tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(theirs=hs.one_of(hs.none(), LINES), mine=LINES)
def test_a_notes_merge_never_drops_either_side(
    theirs: tuple[str, ...] | None, mine: tuple[str, ...]
) -> None:
    base = with_notes(model.from_raw(example_raw()), t2_3=["base"])
    ours = base if theirs is None else with_notes(base, t2_3=list(theirs))
    result = merge(base, ours, [md.SetNotesEdit(of="2.3", notes=note_lines(list(mine)))], at=AT)
    got = note_lines(_task_notes(result.tracker, "2.3"))
    json_side = note_lines(_task_notes(ours, "2.3"))
    if json_side != ("base",) and json_side != note_lines(list(mine)):
        assert got == json_side
        assert [c.markdown_value for c in result.conflicts] == ["\n".join(note_lines(list(mine)))]
    else:
        assert got == note_lines(list(mine))
        assert result.conflicts == []


def _task_notes(tracker: Tracker, task_id: str) -> Any:
    task = tracker.task(task_id)
    assert task is not None
    return task.extra.get("notes", [])


# ------------------------------------------------------------------ hostile notes

BIG = 1_000_000


@pytest.mark.parametrize(
    "lines",
    [
        ["```x"] * 20_000,  # every fence unclosed: each is looked at once
        ["<!--"] * 20_000 + ["-->"],
        ["`" * BIG + "x`"],
        ["#" + " " * BIG + "Progress Summary"],
        ["- **1.1**" + " " * BIG + "x"],
        ["~" * BIG],
        ["- **Phase " + "9" * 5000 + "**", "  x"],  # a number Python will not convert
    ],
    ids=[
        "unclosed fences",
        "comments",
        "backticks",
        "heading spaces",
        "item spaces",
        "tildes",
        "huge phase number",
    ],
)
def test_hostile_notes_render_and_parse_in_linear_time(example: Tracker, lines: list[str]) -> None:
    tracker = with_notes(example, plan=lines, t1_1=lines)

    def round_trip() -> bool:
        return md.parse_view(view(tracker)) == md.view_of(tracker)

    assert finishes(round_trip) is True
    pasted = view(example).replace(
        "## Progress Summary", "\n".join(["## Notes", *lines, "## Progress Summary"])
    )
    assert finishes(lambda: len(md.parse_view(pasted).notes)) in (0, len(lines))


def test_an_item_naming_a_phase_number_python_cannot_convert_is_kept(noted: Tracker) -> None:
    edits = edits_of(noted, "- **2.3**", "- **Phase " + "9" * 5000 + "**")
    assert [type(e) for e in edits] == [md.SetNotesEdit, md.Unmapped]
    assert edits[0] == md.SetNotesEdit(of="2.3", notes=())
