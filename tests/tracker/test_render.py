"""Specification of the Markdown view (SPEC §3)."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from wtd.tracker import status as st
from wtd.tracker.model import (
    Meta,
    Phase,
    Subtask,
    Task,
    Tracker,
    decode,
    overall_progress,
    phase_progress,
)
from wtd.tracker.render import TASK_HEADER, escape_cell, render, unescape_cell

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / ".ecw" / "plans" / "my-project.json"
if not EXAMPLE.exists():
    EXAMPLE = Path("/work/shared/examples/my-project.json")

CHECKSUM = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


@pytest.fixture
def example() -> Tracker:
    return decode(EXAMPLE.read_bytes())


def view(tracker: Tracker) -> str:
    return render(tracker, name="my-project", checksum=CHECKSUM)


def split_row(line: str) -> list[str]:
    """Cells of a table row, split at pipes that are not backslash-escaped."""
    cells: list[str] = []
    current: list[str] = []
    escaped = False
    for ch in line:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            current.append(ch)
            escaped = True
        elif ch == "|":
            cells.append("".join(current))
            current = []
        else:
            current.append(ch)
    cells.append("".join(current))
    assert cells[0] == "" and cells[-1] == "", line
    return cells[1:-1]


def tables(text: str) -> list[list[str]]:
    """Every table in ``text``: consecutive lines starting with '|'."""
    found: list[list[str]] = []
    block: list[str] = []
    for line in [*text.split("\n"), ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            found.append(block)
            block = []
    return found


def assert_tables_well_formed(text: str) -> None:
    for table in tables(text):
        width = len(split_row(table[0]))
        assert set(table[1].replace("|", "")) == {"-"}, table[1]
        for n, row in enumerate(table):
            cells = split_row(row)
            assert len(cells) == width, row
            for cell in cells if n != 1 else []:
                assert cell.startswith(" ") and cell.endswith(" "), row
                assert cell.strip(" ") == cell.strip(), row


def make(tasks: list[Task], phases: list[Phase] | None = None, **kw: object) -> Tracker:
    return Tracker(
        schema_version="2.1.0",
        meta=Meta(title="T"),
        phases=tuple(phases if phases is not None else [Phase(number=1, name="One")]),
        tasks=tuple(tasks),
        **kw,  # type: ignore[arg-type]
    )


# ------------------------------------------------------------------ the example


def test_example_header_lines(example: Tracker) -> None:
    lines = view(example).split("\n")
    assert lines[0] == "# Work Tracker: My Project"
    assert lines[2:9] == [
        "> **Initiative:** 19",
        "> **Status:** Active",
        "> **Progress:** 44% (4/9 tasks complete)",
        "> **Created:** 2026-11-20T09:00:00Z",
        "> **Updated:** 2026-11-24T17:30:00Z",
        "> **Source:** `.ecw/plans/my-project.json` — this file is a view rendered by wtd from it.",
        "",
    ]


def test_example_progress_is_derived_not_stored(example: Tracker) -> None:
    text = view(example)
    assert overall_progress(example) == 44  # stored value is 40
    assert "| **Total** | | | **44%** | **4/9** |" in text
    assert "40%" not in text


def test_example_phase_sections(example: Tracker) -> None:
    text = view(example)
    assert "### Phase 1: Foundations\n\n> **Status:** ✅ Complete\n" in text
    assert "> **Progress:** 100% (3/3 tasks)\n\nRepository, packaging" in text
    assert "### Phase 2: Core features\n\n> **Status:** 🔄 In Progress\n" in text
    for phase in example.phases:
        assert f"| {phase.number} | {phase.name} | {st.cell(phase.status)} " in text
        assert f"| {phase_progress(example, phase.number)}% |" in text


def test_example_task_rows(example: Tracker) -> None:
    text = view(example)
    assert text.count(TASK_HEADER) == 3
    assert (
        "| 1.1 | Create repository and packaging | ✅ Complete "
        "| pip install . succeeds on a fresh machine |" in text
    )
    assert "| 2.2 | Render Markdown view | 🔄 In Progress | |" in text
    assert "| 2.4 | Recover from corrupted state | 🔴 Blocked | fault-injection" in text
    assert "| 3.3 | Retire the old tracker script | ⏭️ Skipped | |" in text
    assert "**Dependencies:** 2.2 → 2.1; 2.3 → 2.2" in text


@pytest.mark.parametrize("status", st.STATUSES)
def test_every_status_renders_icon_and_label(status: str) -> None:
    text = view(make([Task(id="1.1", phase=1, name="x", status=status)]))
    assert f"| 1.1 | x | {st.ICONS[status]} {st.LABELS[status]} | |" in text  # type: ignore[index]


def test_example_subtask_checkboxes(example: Tracker) -> None:
    text = view(example)
    assert (
        "#### Sub-tasks\n\n- [x] 2.2.1: Task tables\n- [ ] 2.2.2: Progress summary\n"
        "- [ ] 2.2.3: Recovery checksum\n" in text
    )


def test_example_recovery_checksum(example: Tracker) -> None:
    text = view(example)
    assert text.endswith(
        "## Recovery Checksum\n\n"
        f"> **JSON checksum:** `{CHECKSUM}`\n"
        "> **Tasks:** 10 · **Phases:** 3 · **Sub-tasks:** 3\n"
    )


def test_rendering_is_deterministic(example: Tracker) -> None:
    again = decode(EXAMPLE.read_bytes())
    assert view(example).encode() == view(example).encode() == view(again).encode()


def test_example_tables_are_well_formed(example: Tracker) -> None:
    text = view(example)
    assert len(tables(text)) == 4
    assert_tables_well_formed(text)


# ------------------------------------------------------------------ edge cases


def test_absent_meta_fields_are_omitted() -> None:
    text = view(make([]))
    assert "**Initiative:**" not in text and "**Created:**" not in text
    assert "> **Status:**" in text  # the phase's, not the tracker's
    assert "> **Progress:** 0% (0/0 tasks complete)" in text


def test_meta_status_is_title_case() -> None:
    tracker = make([])
    tracker = msgspec.structs.replace(tracker, meta=Meta(title="T", status="on_hold"))
    assert "> **Status:** On Hold\n" in view(tracker)


def test_phase_without_tasks_says_so() -> None:
    text = view(make([]))
    assert "#### Tasks\n\n_No tasks yet._\n" in text
    assert TASK_HEADER not in text


def test_empty_tracker_renders() -> None:
    text = view(make([], phases=[]))
    assert text.startswith("# Work Tracker: T\n")
    assert "_No phases yet._" in text
    assert "| **Total** | | | **0%** | **0/0** |" in text
    assert "> **Tasks:** 0 · **Phases:** 0 · **Sub-tasks:** 0" in text
    assert_tables_well_formed(text)


def test_tasks_of_unlisted_phases_are_visible() -> None:
    tasks = [
        Task(id="7.1", phase=7, name="seven", status="complete"),
        Task(id="1.1", phase=1, name="one"),
        Task(id="4.1", phase=4, name="four"),
    ]
    text = view(make(tasks))
    assert "| 7.1 | seven | ✅ Complete | |" in text
    assert "| 4.1 | four | ⏳ Pending | |" in text
    assert text.index("### Phase 1: One") < text.index("### Phase 4: (unlisted)")
    assert text.index("### Phase 4: (unlisted)") < text.index("### Phase 7: (unlisted)")
    assert "| 7 | (unlisted) | | 100% | 1/1 |" in text
    assert "**33%** | **1/3**" in text


def test_tasks_keep_json_order_within_a_phase() -> None:
    tasks = [Task(id=f"1.{n}", phase=1, name=f"t{n}") for n in (3, 1, 2)]
    text = view(make(tasks))
    assert text.index("| 1.3 |") < text.index("| 1.1 |") < text.index("| 1.2 |")


def test_subtasks_of_missing_tasks_are_visible() -> None:
    subs = (Subtask(id="9.9.1", task_id="9.9", name="orphan", completed=True),)
    text = view(make([Task(id="1.1", phase=1, name="x")], subtasks=subs))
    assert "### Sub-tasks of missing tasks" in text
    assert "#### Task 9.9\n\n- [x] 9.9.1: orphan\n" in text


def test_awkward_names_are_escaped_in_cells_and_subtasks() -> None:
    name = " a|b\\c\nd <br> & e "
    tasks = [Task(id="1.1", phase=1, name=name, verification="x|y")]
    subs = (Subtask(id="1.1.1", task_id="1.1", name=name),)
    text = view(make(tasks, subtasks=subs))
    assert_tables_well_formed(text)
    row = next(line for line in text.split("\n") if line.startswith("| 1.1 |"))
    cells = split_row(row)
    assert unescape_cell(cells[1]) == name
    assert unescape_cell(cells[3]) == "x|y"
    sub_line = next(line for line in text.split("\n") if line.startswith("- [ ] 1.1.1: "))
    assert unescape_cell(sub_line.removeprefix("- [ ] 1.1.1: ")) == name


def test_description_cannot_start_a_block() -> None:
    for desc in ("# heading", "- [ ] 1.1.1: fake", "1. list", "> quote", "---"):
        phases = [Phase(number=1, name="One", description=desc)]
        text = view(make([], phases=phases))
        line = text.split("\n")[text.split("\n").index("> **Progress:** 0% (0/0 tasks)") + 2]
        assert line != desc and unescape_cell(line) == desc


# ------------------------------------------------------------------ escaping laws


def test_escape_cell_examples() -> None:
    assert escape_cell("plain text") == "plain text"
    assert escape_cell("a|b") == "a\\|b"
    assert escape_cell("a\\b") == "a\\\\b"
    assert escape_cell("a\nb") == "a<br>b"
    assert escape_cell("<br>") == "\\<br>"
    assert escape_cell(" x ") == "&#32;x&#32;"
    assert escape_cell("") == ""


def test_unescape_cell_is_lenient_with_hand_edits() -> None:
    assert unescape_cell("  a<br/>b<BR >c  ") == "a\nb\nc"
    assert unescape_cell("a \\* b &amp; c") == "a * b & c"
    assert unescape_cell("C:\\dir") == "C:\\dir"
    assert unescape_cell("&bogus; & &#99999999;") == "&bogus; & &#99999999;"


@given(hs.text())
def test_unescape_inverts_escape(text: str) -> None:
    assert unescape_cell(escape_cell(text)) == text


@given(hs.text())
def test_escaped_text_stays_in_one_cell(text: str) -> None:
    escaped = escape_cell(text)
    assert len(escaped.splitlines()) <= 1
    assert escaped == escaped.strip()
    assert split_row(f"| {escaped} |") == [f" {escaped} "]


@given(hs.lists(hs.text(), min_size=1, max_size=5))
def test_any_names_keep_tables_well_formed(names: list[str]) -> None:
    tasks = [
        Task(id=f"1.{n}", phase=1, name=name, verification=name) for n, name in enumerate(names)
    ]
    phases = [Phase(number=1, name=names[0])]
    text = view(make(tasks, phases=phases))
    assert_tables_well_formed(text)
    rows = [line for line in text.split("\n") if line.startswith("| 1.")]
    assert [unescape_cell(split_row(r)[1]) for r in rows] == names


@given(hs.lists(hs.tuples(hs.integers(1, 3), hs.sampled_from(st.STATUSES)), max_size=20))
def test_progress_matches_the_model(spec: list[tuple[int, str]]) -> None:
    tasks = [Task(id=f"{p}.{n}", phase=p, name="t", status=s) for n, (p, s) in enumerate(spec)]
    phases = [Phase(number=n, name=f"P{n}") for n in (1, 2)]  # phase 3 is unlisted
    tracker = make(tasks, phases=phases)
    text = view(tracker)
    assert f"> **Progress:** {overall_progress(tracker)}% (" in text
    for n in (1, 2):
        assert f"| {n} | P{n} | ⏳ Pending | {phase_progress(tracker, n)}% |" in text
