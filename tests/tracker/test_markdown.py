"""Specification of reading the Markdown view back (SPEC §3): parse, diff, and the
import of a view or a plan through ``importers.import_plan`` (SPEC §2a)."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from msgspec import UNSET, UnsetType

from wtd.tracker import importers
from wtd.tracker import markdown as md
from wtd.tracker import status as st
from wtd.tracker.model import Meta, Phase, Subtask, Task, Tracker
from wtd.tracker.render import render

NAME = "my-project"
CHECKSUM = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def view(tracker: Tracker) -> str:
    return render(tracker, name=NAME, checksum=CHECKSUM)


# ------------------------------------------------------------ tracker strategy

_SPECIAL = hs.sampled_from(
    [
        "|",
        "\\",
        "\\|",
        "<br>",
        "&amp;",
        "<",
        "&",
        "\n",
        " ",
        "  ",
        "\t",
        "é",
        "✅ Complete",
        "#",
        ": ",
        "- [ ] ",
        "**",
        "`",
        "→",
        "; ",
        "\r\n",
        "\u2028",
        "\x85",
        "1.",
        "> ",
        "Phase 2:",
        "_No tasks yet._",
    ]
)
_TEXT = hs.lists(hs.one_of(_SPECIAL, hs.text(max_size=6)), max_size=5).map("".join)
_NAME = _TEXT.filter(lambda s: 0 < len(s) <= 200)
# Lines a person writes in notes, and the ones that could break the view's layout.
_NOTE_SPECIAL = hs.sampled_from(
    [
        "",
        " ",
        "\t",
        "  indented",
        "    code",
        "- item",
        "- **1.1**",
        "- **1.1** first",
        "  - **2.1**",
        "_Requirements: 1.2_",
        "| a | b |",
        "|---|---|",
        "---",
        "```",
        "```python",
        "~~~",
        "````",
        "<!-- hidden",
        "-->",
        "<pre>",
        "</pre>",
        "## Progress Summary",
        "## Notes",
        "## Phases",
        "### Phase 2: Later",
        "#### Notes",
        "#### Tasks",
        "# Work Tracker: x",
        "\\escaped",
        "a\\b",
        "a\rb",
        "\u2028",
        "\x00",
        "trailing  ",
        "&amp; <br>",
    ]
)
_NOTE_LINE = hs.one_of(_NOTE_SPECIAL, _TEXT)
_NOTES = hs.one_of(
    hs.lists(_NOTE_LINE, max_size=6),
    hs.sampled_from(["a string", [1, "x"], {"k": "v"}, None]),  # not lines: never shown
)


def _with_notes(draw: hs.DrawFn) -> dict[str, object]:
    if not draw(hs.booleans()):
        return {}
    notes = draw(_NOTES)
    return {} if notes is None else {"notes": notes}


def _maybe(*values: str) -> hs.SearchStrategy[str | UnsetType]:
    return hs.one_of(hs.just(UNSET), hs.sampled_from(values))


@hs.composite
def trackers(draw: hs.DrawFn, *, valid: bool = False) -> Tracker:
    """Trackers the model accepts. ``valid``: also schema-valid (non-empty names,
    phase numbers ≥ 1, no sub-tasks of missing tasks), what an import can rebuild."""
    text = _NAME if valid else _TEXT
    numbers = draw(hs.lists(hs.integers(1, 12), unique=True, max_size=4))
    phases = tuple(
        Phase(
            number=n,
            name=draw(text),
            status=draw(hs.sampled_from(st.STATUSES)),
            description=draw(hs.one_of(hs.just(UNSET), _TEXT)),
            extra=_with_notes(draw),
        )
        for n in numbers
    )
    unlisted = draw(hs.lists(hs.integers(13, 15), unique=True, max_size=1))
    tasks: list[Task] = []
    for n in [*numbers, *unlisted]:
        for k in range(1, draw(hs.integers(0, 4)) + 1):
            task_id = f"{n}.{k}"
            earlier = [t.id for t in tasks]
            deps = (
                draw(hs.lists(hs.sampled_from(earlier), unique=True, max_size=2)) if earlier else []
            )
            use_description = draw(hs.booleans())
            name = draw(text)
            tasks.append(
                Task(
                    id=task_id,
                    phase=n,
                    name=UNSET if use_description else name,
                    description=name if use_description else UNSET,
                    status=draw(hs.sampled_from(st.STATUSES)),
                    verification=draw(hs.one_of(hs.just(UNSET), _TEXT)),
                    dependencies=tuple(deps) if deps else UNSET,
                    extra=_with_notes(draw),
                )
            )
    draw(hs.randoms()).shuffle(tasks)  # the view groups them by phase anyway
    subtasks: list[Subtask] = []
    owners = [t.id for t in tasks] + ([] if valid else ["99.1"])
    for owner in owners:
        for k in range(1, draw(hs.integers(0, 2)) + 1):
            done = draw(hs.booleans())
            subtasks.append(
                Subtask(
                    id=f"{owner}.{k}",
                    task_id=owner,
                    name=draw(text),
                    status="complete" if done else "pending",
                    completed=done,
                    extra=_with_notes(draw),
                )
            )
    keep_empty = draw(hs.booleans())
    return Tracker(
        schema_version="2.1.0",
        meta=Meta(
            title=draw(text),
            initiative_id=draw(_maybe("19", "abc-1")),
            status=draw(_maybe("active", "complete", "archived")),
            created=draw(_maybe("2026-11-20T09:00:00Z")),
        ),
        phases=phases,
        tasks=tuple(tasks),
        subtasks=tuple(subtasks) if subtasks or keep_empty else UNSET,
        extra=_with_notes(draw),
    )


# ------------------------------------------------------------------ round trip


def test_the_example_parses_back_to_its_view(example: Tracker) -> None:
    parsed = md.parse_view(view(example))
    assert parsed == md.view_of(example)
    assert parsed.unmapped == ()
    assert [r.id for p in parsed.phases for r in p.tasks] == [t.id for t in example.tasks]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trackers())
def test_parse_of_render_is_view_of(tracker: Tracker) -> None:
    assert md.parse_view(view(tracker)) == md.view_of(tracker)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trackers(valid=True).filter(lambda t: bool(t.tasks)))  # no task: refused (below)
def test_importing_a_rendered_view_renders_the_same_view(
    tracker: Tracker,
) -> None:
    text = view(tracker)
    result = importers.import_plan(text, title_hint="fallback")
    assert result.unmapped == []
    assert view(result.tracker) == text


def test_an_imported_view_is_schema_valid(
    example: Tracker, validate: Callable[[Tracker], None]
) -> None:
    result = importers.import_plan(view(example), title_hint="x", source="docs/plans/my-project.md")
    validate(result.tracker)
    assert result.summary[0] == (
        "Imported 3 phases, 10 tasks (4 complete), 3 sub-tasks from docs/plans/my-project.md "
        "(format: ecw)"
    )
    assert (result.format, result.phases, result.tasks, result.not_understood) == ("ecw", 3, 10, 0)


def test_a_view_without_tasks_is_refused() -> None:
    empty = Tracker(schema_version="2.1.0", meta=Meta(title="Nothing yet"), phases=(), tasks=())
    with pytest.raises(importers.NothingToImport, match="nothing was imported"):
        importers.import_plan(view(empty), title_hint="x")


def test_crlf_trailing_spaces_blank_lines_and_padding_are_tolerated(example: Tracker) -> None:
    text = view(example)
    text = text.replace(
        "| 2.3 | Watch files for hand edits | ⏳ Pending | |",
        "|2.3|Watch files for hand edits|⏳ Pending||",
    )
    text = text.replace("| 1.1 | Create", "|   1.1   |   Create")
    text = text.replace("\n\n", "\n\n\n").replace("\n#### Tasks\n\n", "\n#### Tasks\n")
    text = "\ufeff" + "\r\n".join(line + "  " for line in text.split("\n"))
    assert md.parse_view(text) == md.view_of(example)


# ------------------------------------------------------------------ hand edits


def edited(example: Tracker, old: str, new: str) -> list[md.Edit]:
    text = view(example)
    assert old in text, old
    return md.diff_views(md.view_of(example), md.parse_view(text.replace(old, new, 1)))


ROW_23 = "| 2.3 | Watch files for hand edits | ⏳ Pending | |"


def test_header_lines_wtd_writes_from_the_json_are_never_unmapped(example: Tracker) -> None:
    # a view rendered from another state (a pull, a stash pop) has another Updated
    # line than its base: "⚠ Not understood (line 0): '> **Updated:** …'" and a conflict copy
    text = view(example)
    base = md.view_of(example)
    older = tuple((k, "2026-01-01T00:00:00Z" if k == "Updated" else v) for k, v in base.meta)
    base = msgspec.structs.replace(base, meta=older)  # rendered from an older state
    assert "> **Updated:**" in text
    assert md.diff_views(base, md.parse_view(text)) == []
    added = text.replace("> **Updated:**", "> **Owner:** bob\n> **Updated:**", 1)
    (lost,) = md.diff_views(base, md.parse_view(added))
    assert isinstance(lost, md.Unmapped) and "Owner" in lost.text


@pytest.mark.parametrize(
    ("cell", "status"),
    [
        ("done", "complete"),
        ("DONE", "complete"),
        ("✅", "complete"),
        ("✅ Complete", "complete"),
        ("🔄 in progress", "in_progress"),
        ("wip", "in_progress"),
        ("**Blocked**", "blocked"),
        ("⏭️", "skipped"),
        ("cancelled", "skipped"),
    ],
)
def test_a_status_cell_in_any_spelling_is_a_status_edit(
    example: Tracker, cell: str, status: str
) -> None:
    edits = edited(example, ROW_23, f"| 2.3 | Watch files for hand edits | {cell} | |")
    assert edits == [md.SetStatusEdit(task_id="2.3", status=status, given=cell)]


def test_the_same_status_in_another_spelling_is_no_edit(example: Tracker) -> None:
    assert edited(example, ROW_23, "| 2.3 | Watch files for hand edits | pending | |") == []


def test_an_unknown_status_is_unmapped_and_the_row_is_kept(example: Tracker) -> None:
    edits = edited(example, ROW_23, "| 2.3 | Watch files for hand edits | soon-ish | |")
    assert len(edits) == 1
    (lost,) = edits
    assert isinstance(lost, md.Unmapped)
    assert lost.ref == "2.3" and "soon-ish" in lost.reason
    assert lost.text == "| 2.3 | Watch files for hand edits | soon-ish | |"
    assert view(example).split("\n")[lost.line - 1] == ROW_23


def test_a_task_cell_edit_is_a_rename(example: Tracker) -> None:
    edits = edited(example, "| Watch files for hand edits |", "| Watch files \\| folders |")
    assert edits == [md.RenameEdit(task_id="2.3", name="Watch files | folders")]


def test_a_verification_cell_edit_sets_or_clears_it(example: Tracker) -> None:
    assert edited(example, ROW_23, ROW_23[:-1] + "e2e test passes |") == [
        md.SetVerificationEdit(task_id="2.3", text="e2e test passes")
    ]
    assert edited(example, "| CI is green on main |", "|  |") == [
        md.SetVerificationEdit(task_id="1.2", text=None)
    ]


@pytest.mark.parametrize(
    ("old", "new", "checked"),
    [
        ("- [ ] 2.2.2", "- [x] 2.2.2", True),
        ("- [ ] 2.2.2", "- [X] 2.2.2", True),
        ("- [x] 2.2.1", "- [ ] 2.2.1", False),
    ],
)
def test_a_checkbox_edit_checks_a_subtask(
    example: Tracker, old: str, new: str, checked: bool
) -> None:
    sub = new[6:11]
    assert edited(example, old, new) == [md.CheckSubtaskEdit(subtask_id=sub, checked=checked)]


def test_a_new_row_with_an_id_asks_for_that_id(example: Tracker) -> None:
    edits = edited(example, ROW_23, ROW_23 + "\n| 2.7 | Benchmark | todo | bench passes |")
    assert edits == [
        md.AddTaskEdit(
            phase=2,
            name="Benchmark",
            status="pending",
            verification="bench passes",
            requested_id="2.7",
        )
    ]


def test_a_new_row_with_an_empty_id_asks_for_the_next_free_id(example: Tracker) -> None:
    for blank in ("|  |", "| |", "||"):
        edits = edited(example, ROW_23, ROW_23 + f"\n{blank} Benchmark | ✅ | |")
        assert edits == [
            md.AddTaskEdit(
                phase=2, name="Benchmark", status="complete", verification=None, requested_id=None
            )
        ]


def test_a_deleted_row_deletes_the_task(example: Tracker) -> None:
    assert edited(example, ROW_23 + "\n", "") == [md.DeleteTaskEdit(task_id="2.3")]


def test_a_row_with_an_unescaped_pipe_is_unmapped_not_deleted(example: Tracker) -> None:
    edits = edited(example, ROW_23, "| 2.3 | Watch files | folders | ⏳ Pending | |")
    assert [type(e) for e in edits] == [md.Unmapped]
    assert isinstance(edits[0], md.Unmapped) and edits[0].ref == "2.3"


def test_phase_heading_and_status_edits(example: Tracker) -> None:
    edits = edited(example, "### Phase 3: Release", "### Phase 3: Ship it")
    assert edits == [md.RenamePhaseEdit(number=3, name="Ship it")]
    text = view(example)
    at = text.index("### Phase 3")
    changed = text[:at] + text[at:].replace("> **Status:** ⏳ Pending", "> **Status:** wip", 1)
    assert md.diff_views(md.view_of(example), md.parse_view(changed)) == [
        md.SetPhaseStatusEdit(number=3, status="in_progress", given="wip")
    ]


def test_a_new_checkbox_line_adds_a_subtask(example: Tracker) -> None:
    edits = edited(
        example, "- [ ] 2.2.3: Recovery checksum", "- [ ] 2.2.3: Recovery checksum\n- [x] Docs"
    )
    assert edits == [md.AddSubtaskEdit(task_id="2.2", name="Docs", checked=True)]


def test_free_text_is_unmapped_with_its_line_number(example: Tracker) -> None:
    lines = view(example).split("\n")
    at = lines.index(ROW_23) + 3  # after the table and the blank line
    lines[at:at] = ["Remember to ask Bob about this.", ""]
    parsed = md.parse_view("\n".join(lines))
    assert parsed.unmapped == (
        md.Unmapped(
            line=at + 1, text="Remember to ask Bob about this.", reason="free text in a task table"
        ),
    )
    assert md.diff_views(md.view_of(example), parsed) == list(parsed.unmapped)


def test_unknown_sections_are_unmapped_line_by_line(example: Tracker) -> None:
    text = view(example) + "\n## Ideas\n\nsome note\n| 3.1 | x | y |\n"
    lost = md.parse_view(text).unmapped
    assert [u.text for u in lost] == ["## Ideas", "some note", "| 3.1 | x | y |"]
    assert lost[2].ref == "3.1"
    assert md.DeleteTaskEdit(task_id="3.1") not in md.diff_views(
        md.view_of(example), md.parse_view(text)
    )


def test_a_notes_section_added_anywhere_is_the_trackers_notes(example: Tracker) -> None:
    text = view(example) + "\n## Notes\n\nsome note\n| 3.1 | x | y |\n"
    parsed = md.parse_view(text)
    assert parsed.unmapped == ()
    assert md.diff_views(md.view_of(example), parsed) == [
        md.SetNotesEdit(of=None, notes=("some note", "| 3.1 | x | y |"))
    ]


def test_unmapped_fragments_already_in_the_base_are_not_reported_again(example: Tracker) -> None:
    base = md.parse_view(view(example) + "\nstray\n")
    again = md.parse_view("\n\n" + view(example) + "\nstray\n")
    assert md.diff_views(base, again) == []


# ------------------------------------------------------------------ imports


def test_import_headings_with_checkbox_lists() -> None:
    plan = """# Launch plan

Some intro text.

## Phase 1: Prepare
- [x] Write the spec
- [ ] Review it
  - [x] with Alice
  - [ ] with Bob

## Build

* [ ] 2.1: Code it
* [X] Test it
"""
    result = importers.import_plan(plan, title_hint="x", source="docs/plans/launch.md")
    t = result.tracker
    assert t.meta.title == "Launch plan"
    assert [(p.number, p.name) for p in t.phases] == [(1, "Prepare"), (2, "Build")]
    assert [(x.id, x.title, x.status) for x in t.tasks] == [
        ("1.1", "Write the spec", "complete"),
        ("1.2", "Review it", "pending"),
        ("2.1", "Code it", "pending"),
        ("2.2", "Test it", "complete"),
    ]
    assert [(s.id, s.task_id, s.name, s.done) for s in t.all_subtasks()] == [
        ("1.2.1", "1.2", "with Alice", True),
        ("1.2.2", "1.2", "with Bob", False),
    ]
    assert result.summary[0] == (
        "Imported 2 phases, 4 tasks (2 complete), 2 sub-tasks from docs/plans/launch.md "
        "(format: roadmap)"
    )
    assert result.unmapped == []  # the intro is not a task: kept as the plan's notes
    assert t.extra["notes"] == ["Some intro text."]
    assert result.notes == 1


def test_import_tables_with_id_task_status_columns(validate: Callable[[Tracker], None]) -> None:
    plan = """## Backend

| ID | Name | State |
|---|---|---|
| 1.1 | API | DONE |
| | Storage | wip |
| 1.1 | Duplicate | todo |

## Frontend

| title | status |
| --- | --- |
| Page | finished |
| Widget | bogus |
"""
    result = importers.import_plan(plan, title_hint="plan-x")
    t = result.tracker
    validate(t)
    assert t.meta.title == "plan-x"
    assert [(x.id, x.phase, x.title, x.status) for x in t.tasks] == [
        ("1.1", 1, "API", "complete"),
        ("1.2", 1, "Storage", "in_progress"),
        ("1.3", 1, "Duplicate", "pending"),
        ("2.1", 2, "Page", "complete"),
        ("2.2", 2, "Widget", "pending"),
    ]
    assert [u.line for u in result.unmapped] == [14]
    assert "1 task got a new ID" in " ".join(result.summary)


def test_import_without_headings_puts_tasks_in_one_phase() -> None:
    t = importers.import_plan("- [ ] a\n- [x] b\n", title_hint="quick").tracker
    assert [p.name for p in t.phases] == ["Tasks"]
    assert [x.id for x in t.tasks] == ["1.1", "1.2"]
    assert t.meta.progress == {"overall": 50}


def test_import_of_the_ecw_layout_keeps_ids_dependencies_and_meta(example: Tracker) -> None:
    t = importers.import_plan(view(example), title_hint="x").tracker
    assert [x.id for x in t.tasks] == [x.id for x in example.tasks]
    assert t.task("3.2") is not None and t.task("3.2").dependencies == ("3.1",)  # type: ignore[union-attr]
    assert (t.meta.initiative_id, t.meta.status) == ("19", "active")


# ------------------------------------------------------------------ speed


def test_parse_view_of_a_big_tracker_maps_every_row(
    make_tracker: Callable[[int, int], Tracker],
) -> None:
    big = make_tracker(1000, 10)
    parsed = md.parse_view(view(big))
    assert parsed == md.view_of(big)
    assert sum(len(p.tasks) for p in parsed.phases) == 1000
