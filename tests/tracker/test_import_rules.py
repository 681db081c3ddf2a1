"""Specification of the import rules of SPEC §2a, one behaviour a test: statuses in every
spelling, IDs taken out of names, what the schema cannot hold adapted, phases, notes,
the Cursor front matter, and linear time on hostile input."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from msgspec import UNSET

from tests.tracker.test_hostile_input import BIG, finishes
from wtd.tracker.importers import NothingToImport, import_plan
from wtd.tracker.importers import frontmatter as fm
from wtd.tracker.importers.statuses import KIRO_MARKS, Vocabulary
from wtd.tracker.model import Tracker


def tracker(text: str, title_hint: str = "hint") -> Tracker:
    return import_plan(text, title_hint=title_hint).tracker


def tasks(t: Tracker) -> list[tuple[str, str, str]]:
    return [(x.id, x.title, x.status) for x in t.tasks]


# ------------------------------------------------------------------ statuses

STATUS_TABLE = [
    ("✅", "complete"),
    ("✅ Done", "complete"),
    ("[x] ✅", "complete"),
    ("COMPLETED", "complete"),
    ("done", "complete"),
    ("🔄 In Progress", "in_progress"),
    ("🚧 WIP", "in_progress"),
    ("🟡", "in_progress"),
    ("In Review", "in_progress"),
    ("👀 In Review", "in_progress"),
    ("⏳ Pending", "pending"),
    ("⬜", "pending"),
    ("🔲 To do", "pending"),
    ("NEXT", "pending"),
    ("**Next**", "pending"),
    ("PLANNED", "pending"),
    ("Backlog", "pending"),
    ("NOT STARTED", "pending"),
    ("⛔ Blocked", "blocked"),
    ("🔴", "blocked"),
    ("⏸️ Deferred", "skipped"),
    ("⏭️ Skipped", "skipped"),
    ("CANCELLED", "skipped"),
    ("WONTFIX", "skipped"),
    ("♻️ Superseded", "superseded"),
]


@pytest.mark.parametrize(("given", "status"), STATUS_TABLE)
def test_status_spellings_map_to_canonical_statuses(given: str, status: str) -> None:
    assert Vocabulary().status(given) == (status, "")


def test_text_after_a_status_is_the_rest_and_unknown_text_is_none() -> None:
    v = Vocabulary()
    assert v.status("⏭️ Skipped by owner decision (x)") == ("skipped", "by owner decision (x)")
    assert v.status("Mostly complete") == (None, "Mostly complete")
    assert v.status("❌") == (None, "❌")  # failed or blocked? only a legend says


def test_checkbox_marks_mean_what_the_format_says() -> None:
    plain, kiro = Vocabulary(), Vocabulary(KIRO_MARKS)
    assert [plain.mark(m) for m in " xX~/-"] == [
        "pending",
        "complete",
        "complete",
        "in_progress",
        "in_progress",
        "skipped",
    ]
    assert (kiro.mark("-"), kiro.mark("~")) == ("in_progress", "pending")


def test_a_legend_in_the_file_wins_over_the_defaults() -> None:
    plan = "Legend: ❌ blocked · ✅ done · ⏸️ in progress\n\n- [ ] a ❌\n"
    plan += "| # | Task | Status |\n|---|---|---|\n| 1 | b | ❌ |\n| 2 | c | ⏸️ |\n"
    t = tracker(plan)
    assert [x.status for x in t.tasks] == ["blocked", "in_progress"]


def test_an_unknown_status_is_pending_reported_and_kept() -> None:
    result = import_plan(
        "| # | Task | Status |\n|---|---|---|\n| 1 | a | bogus |\n", title_hint="x"
    )
    (task,) = result.tracker.tasks
    assert task.status == "pending" and task.extra["notes"] == ["Status: bogus"]
    assert [(u.line, u.reason) for u in result.unmapped] == [
        (3, "unknown status 'bogus' (imported as pending)")
    ]
    assert result.summary[-1] == "1 line not understood (first at line 3)"


def test_phase_status_comes_from_the_file_when_it_says() -> None:
    t = tracker(
        "## Phase 1: Stated ✅\n- [ ] a\n## Phase 2: Checked [checkpoint: 2b7e913]\n- [ ] b\n"
    )
    assert [p.status for p in t.phases] == ["complete", "complete"]
    t = tracker("# T\n## Phase 1: x\n**Status**: Blocked\n### A-1: a\n**Status**: done\n")
    assert (t.phases[0].status, t.tasks[0].status) == ("blocked", "complete")
    t = tracker("## Phase 1: x\n**Status:** ✅ Complete\n- [ ] a\n## Phase 2: y\n- [ ] b\n")
    assert [p.status for p in t.phases] == ["complete", "pending"]
    t = tracker(
        "## Phase 1: x\n> **Status:** Blocked\n\n| # | Task | Status |\n|-|-|-|\n| 1 | a | done |\n"
    )
    assert t.phases[0].status == "blocked"


@pytest.mark.parametrize(
    ("heading", "name", "status"),
    [
        ("## Phase 1: Setup (DONE)", "Setup", "complete"),
        ("## Phase 1 — Core — IN PROGRESS", "Core", "in_progress"),
        ("### Phase 1: Base ✅ COMPLETE", "Base", "complete"),
        ("## [Phase 1: Polish](polish.md) 🚧", "Polish", "in_progress"),
        ("#### Phase 1: Review (Week 3)", "Review", "pending"),  # a name, not a status
    ],
)
def test_a_status_in_a_phase_heading_is_the_phases(heading: str, name: str, status: str) -> None:
    (phase,) = tracker(heading + "\n- [ ] a\n").phases
    assert (phase.name, phase.status) == (name, status)


@pytest.mark.parametrize(
    ("marks", "status"),
    [
        ("x-", "complete"),  # complete and skipped: nothing left to do
        ("x/ ", "in_progress"),
        ("x ", "in_progress"),  # started: some done, some not
        ("  ", "pending"),
    ],
)
def test_phase_status_is_derived_from_its_tasks_otherwise(marks: str, status: str) -> None:
    plan = "## Phase 1: x\n" + "".join(f"- [{m}] t{k}\n" for k, m in enumerate(marks))
    assert tracker(plan).phases[0].status == status


# ------------------------------------------------------------------ names and IDs


@pytest.mark.parametrize(
    ("line", "name", "source_id", "extra"),
    [
        ("- [ ] Task 1.2: Write it", "Write it", None, {}),
        ("- [ ] 1.2: Write it", "Write it", None, {}),
        ("- [ ] Write it <!-- id: 7 -->", "Write it", "7", {}),
        ("- [ ] <!-- id: 0 --> Write it", "Write it", "0", {}),
        ("- [x] Write it [0a1b2c3]", "Write it", None, {"x_commit": "0a1b2c3"}),
        ("- [x] Write it ✅", "Write it", None, {}),
        # agents' plans lead with a bold title: the asterisks are not the name's
        ("- [ ] **Migrate the table**", "Migrate the table", None, {}),
        ("- [x] **Extract `Channel`** — move them", "Extract `Channel` — move them", None, {}),
        ("- [ ] **Backend:** add it", "Backend: add it", None, {}),
        ("- [ ] __Ship it__ ✅", "Ship it", None, {}),
        ("- [ ] **Task 1.2:** Write it", "Write it", None, {}),
        ("- [ ] Fix **all** bugs", "Fix **all** bugs", None, {}),
        ("- [ ] **unclosed bold", "**unclosed bold", None, {}),
        ("- [ ] __init__.py exports", "__init__.py exports", None, {}),
    ],
)
def test_leading_ids_and_markers_leave_the_name(
    line: str, name: str, source_id: str | None, extra: dict[str, Any]
) -> None:
    (task,) = tracker("## Phase 1: Build\n" + line + "\n").tasks
    assert task.title == name
    assert task.extra.get("x_source_id") == source_id
    for key, value in extra.items():
        assert task.extra[key] == value


def test_speckit_markers_become_fields() -> None:
    plan = "## Phase 1: Setup\n- [ ] T001 [P] [US1] Create the package\n- [X] T002 Lock it\n"
    first, second = tracker(plan).tasks
    assert (first.id, first.title) == ("1.1", "Create the package")
    assert first.extra == {"x_source_id": "T001", "x_parallel": True, "x_story": "US1"}
    assert (second.status, second.extra) == ("complete", {"x_source_id": "T002"})


def test_speckits_phase_n_left_from_its_template_is_the_next_phase() -> None:
    # spec-kit's template ends with "## Phase N: Polish & Cross-Cutting Concerns", and
    # generated tasks.md files often keep the N
    plan = (
        "## Phase 1: Setup\n- [x] T001 Init\n## Phase 2: Core\n- [ ] T002 Build\n"
        "## Phase N: Polish & Cross-Cutting Concerns\n- [ ] T003 [P] Docs in docs/x.md\n"
    )
    t = tracker(plan)
    assert [(p.number, p.name) for p in t.phases] == [
        (1, "Setup"),
        (2, "Core"),
        (3, "Polish & Cross-Cutting Concerns"),
    ]
    assert t.phases[2].extra == {"x_source_number": "N"}
    assert [(x.id, x.extra["x_source_id"]) for x in t.tasks] == [
        ("1.1", "T001"),
        ("2.1", "T002"),
        ("3.1", "T003"),
    ]


def test_kiro_numbers_optional_items_and_details() -> None:
    plan = """# Implementation Plan
- [x] 1. Set up
  - [ ]* 1.1 Write tests
    - Cover DST
    - _Requirements: 1.2_
- [-] 2. Build it

  - Carefully
"""
    t = tracker(plan)
    assert tasks(t) == [("1.1", "Set up", "complete"), ("1.2", "Build it", "in_progress")]
    (sub,) = t.all_subtasks()
    assert (sub.id, sub.name, sub.extra["x_optional"], sub.extra["x_source_id"]) == (
        "1.1.1",
        "Write tests",
        True,
        "1.1",
    )
    assert sub.extra["notes"] == ["- Cover DST", "- _Requirements: 1.2_"]
    assert t.tasks[1].extra["notes"] == ["- Carefully"]


def test_kiro_subtasks_written_flush_with_their_task_are_its_subtasks() -> None:
    # Kiro writes "- [ ] 2.1" under "- [ ] 2." at the same indentation as often as not
    plan = """# Implementation Plan
- [x] 1. Set up
- [ ] 2. Backoff
- [x] 2.1 Calculator
  - _Requirements: 2.1_
- [-] 2.2 History
- [ ] 3. Dead letters
  - [ ] 3.1 Move
- [ ] 4.1 Orphan
"""
    t = tracker(plan)
    assert [(x.id, x.title, x.extra["x_source_id"]) for x in t.tasks] == [
        ("1.1", "Set up", "1"),
        ("1.2", "Backoff", "2"),
        ("1.3", "Dead letters", "3"),
        ("1.4", "Orphan", "4.1"),
    ]
    subs = [(s.id, s.name, s.status, s.extra["x_source_id"]) for s in t.all_subtasks()]
    assert subs == [
        ("1.2.1", "Calculator", "complete", "2.1"),
        ("1.2.2", "History", "in_progress", "2.2"),
        ("1.3.1", "Move", "pending", "3.1"),
    ]
    assert t.all_subtasks()[0].extra["notes"] == ["- _Requirements: 2.1_"]


def test_a_task_column_of_ids_takes_the_names_from_another_column() -> None:
    plan = "| Task | Title | Status |\n|---|---|---|\n| TASK-006 | Vault tokens | ✅ |\n"
    (task,) = tracker(plan).tasks
    assert (task.title, task.extra["x_source_id"]) == ("Vault tokens", "TASK-006")


def test_a_name_over_200_characters_is_cut_at_a_word_and_kept_whole_in_the_notes(
    validate: Callable[[Tracker], None],
) -> None:
    long = "word " * 60 + "end"
    t = tracker(f"- [ ] {long}\n  - [ ] {long}\n")
    for name in (t.tasks[0].title, t.all_subtasks()[0].name):
        assert len(name) <= 200 and name.endswith("word…")
    assert t.tasks[0].extra["notes"][0] == t.all_subtasks()[0].extra["notes"][0] == long.strip()
    validate(t)


# ------------------------------------------------------------------ the schema


def test_dates_become_rfc3339_and_other_header_fields_are_notes(
    validate: Callable[[Tracker], None],
) -> None:
    plan = "# Plan\nCreated: 2026-02-03\nUpdated: 2026-02-30\nOwner: Ana\n\n- [ ] a\n"
    t = tracker(plan)
    assert t.meta.created == "2026-02-03T00:00:00Z"
    assert t.meta.updated is UNSET
    assert t.extra["notes"] == ["Updated: 2026-02-30", "Owner: Ana"]
    validate(t)


@pytest.mark.parametrize(
    ("given", "status"),
    [
        ("In Progress", "active"),
        ("Active", "active"),
        ("Done", "complete"),
        ("Pending", "active"),
        ("Deferred", "archived"),
        ("Archived", "archived"),
    ],
)
def test_meta_status_is_one_of_the_schemas_values(given: str, status: str) -> None:
    t = tracker(
        f"# Work Tracker: T\n> **Status:** {given}\n## Phases\n### Phase 1: x\n"
        "#### Tasks\n| ID | Task | Status |\n|--|--|--|\n| 1.1 | a | ⏳ |\n"
    )
    assert t.meta.status == status


def test_a_meta_status_the_schema_cannot_hold_is_kept_as_a_note() -> None:
    t = tracker("# Plan\nStatus: Pending review\n\n- [ ] a\n")
    assert t.meta.status is UNSET
    assert t.extra["notes"] == ["Status: Pending review"]


def test_phases_numbered_from_zero_are_renumbered_and_keep_their_number() -> None:
    t = tracker("## Phase 0: Prep\n- [ ] 0.1 a\n## Phase 1: Build\n- [ ] b\n")
    assert [(p.number, p.name, p.extra) for p in t.phases] == [
        (1, "Prep", {"x_source_number": "0"}),
        (2, "Build", {"x_source_number": "1"}),
    ]
    assert [(x.id, x.extra.get("x_source_id")) for x in t.tasks] == [("1.1", "0.1"), ("2.1", None)]


def test_a_task_id_that_is_taken_gets_the_next_free_one() -> None:
    result = import_plan(
        "| ID | Name | State |\n|---|---|---|\n| 1.1 | API | DONE |\n| | Storage | wip |\n"
        "| 1.1 | Duplicate | todo |\n",
        title_hint="plan-x",
    )
    assert tasks(result.tracker) == [
        ("1.1", "API", "complete"),
        ("1.2", "Storage", "in_progress"),
        ("1.3", "Duplicate", "pending"),
    ]
    assert result.tracker.meta.title == "plan-x"
    assert "1 task got a new ID (theirs was not free)" in result.summary


# ------------------------------------------------------------------ phases and notes


def test_headings_over_checkbox_lists() -> None:
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
    result = import_plan(plan, title_hint="x", source="docs/plans/launch.md")
    t = result.tracker
    assert t.meta.title == "Launch plan"
    assert [(p.number, p.name) for p in t.phases] == [(1, "Prepare"), (2, "Build")]
    assert tasks(t) == [
        ("1.1", "Write the spec", "complete"),
        ("1.2", "Review it", "pending"),
        ("2.1", "Code it", "pending"),
        ("2.2", "Test it", "complete"),
    ]
    assert [(s.id, s.task_id, s.name, s.done) for s in t.all_subtasks()] == [
        ("1.2.1", "1.2", "with Alice", True),
        ("1.2.2", "1.2", "with Bob", False),
    ]
    assert t.extra["notes"] == ["Some intro text."]
    assert result.summary == [
        "Imported 2 phases, 4 tasks (2 complete), 2 sub-tasks from docs/plans/launch.md"
        " (format: roadmap)",
        "1 line kept as notes",
    ]


def test_a_roadmap_of_bullets_with_status_icons() -> None:
    # "- ✅ Item" under phase headings: the README roadmap every other project keeps
    plan = """# Roadmap
❌ = cancelled · ✅ = done

## Phase 1: Foundations ✅
- ✅ Repo skeleton
- ✔️ CI pipeline

## Phase 2: Core features 🚧
- ✅ User accounts
- 🚧 Projects and boards
  - ✅ Boards API
  - ⬜ Drag and drop
- Comments ⏳
- ❌ File attachments
- ⚠️ Needs a designer
- Plain bullet, a note

## Phase 3: Launch
- [ ] Billing
"""
    t = tracker(plan)
    assert [(p.name, p.status) for p in t.phases] == [
        ("Foundations", "complete"),
        ("Core features", "in_progress"),
        ("Launch", "pending"),
    ]
    assert tasks(t) == [
        ("1.1", "Repo skeleton", "complete"),
        ("1.2", "CI pipeline", "complete"),
        ("2.1", "User accounts", "complete"),
        ("2.2", "Projects and boards", "in_progress"),
        ("2.3", "Comments", "pending"),
        ("2.4", "File attachments", "skipped"),
        ("3.1", "Billing", "pending"),
    ]
    assert [(s.name, s.status) for s in t.all_subtasks()] == [
        ("Boards API", "complete"),
        ("Drag and drop", "pending"),
    ]
    assert t.phases[1].extra["notes"] == ["- ⚠️ Needs a designer", "- Plain bullet, a note"]


def test_status_icon_bullets_without_phase_headings_are_not_tasks() -> None:
    # a README's "- ✅ Zero dependencies" feature list is not a plan
    with pytest.raises(NothingToImport):
        tracker("# tool\n\n## Features\n\n- ✅ Fast\n- ✅ Typed\n")


def test_without_headings_the_tasks_are_one_phase() -> None:
    t = tracker("- [ ] a\n- [x] b\n", title_hint="quick")
    assert [p.name for p in t.phases] == ["Tasks"]
    assert [x.id for x in t.tasks] == ["1.1", "1.2"]
    assert t.meta.progress == {"overall": 50}


def test_checkboxes_in_code_are_notes_not_tasks() -> None:
    t = tracker("- [ ] real\n\n```markdown\n- [ ] template\n```\n")
    assert [x.title for x in t.tasks] == ["real"]
    assert t.extra["notes"] == ["```markdown", "- [ ] template", "```"]


def test_checkboxes_in_an_html_comment_block_are_notes_not_tasks() -> None:
    # GitHub hides them: a plan's commented-out items are not its tasks
    t = tracker(
        "# Sprint\n<!--\n- [ ] hidden\n  - [x] hidden too\n-->\n## Week 1\n"
        "- [x] a <!-- owner: p -->\n<!-- - [ ] dropped idea\n- [ ] idea 2 -->\n- [ ] b\n"
    )
    assert tasks(t) == [("1.1", "a", "complete"), ("1.2", "b", "pending")]
    assert t.extra["notes"] == ["<!--", "- [ ] hidden", "  - [x] hidden too", "-->"]
    assert t.phases[0].extra["notes"] == ["<!-- - [ ] dropped idea", "- [ ] idea 2 -->"]


def test_an_html_comment_never_closed_hides_nothing() -> None:
    t = tracker("# Plan\n<!-- draft\n- [ ] a\n- [ ] b\n")
    assert [x.title for x in t.tasks] == ["a", "b"]


def test_a_code_block_flush_left_ends_the_item_above_it() -> None:
    # as prose does: what follows the block is not the item's (GitHub closes the list)
    t = tracker("- [x] a\n\n```\nmake\n```\n\n  - [ ] b\n    more\n- [ ] c\n")
    assert tasks(t) == [("1.1", "a", "complete"), ("1.2", "b", "pending"), ("1.3", "c", "pending")]
    assert not t.all_subtasks()
    assert t.tasks[1].extra["notes"] == ["more"]


def test_plain_bullets_are_notes_not_tasks() -> None:
    t = tracker("**Deliverables**\n\n- billing/money.py\n\n**Steps**\n\n1. [ ] Move it\n")
    assert [x.title for x in t.tasks] == ["Move it"]
    assert t.extra["notes"] == ["**Deliverables**", "", "- billing/money.py", "", "**Steps**"]


def test_notes_keep_paragraph_breaks_and_lose_indentation_under_a_task() -> None:
    t = tracker("## Phase 1: x\nAbout it.\n\nMore.\n- [ ] a\n    - deep\n\n      - deeper\n")
    assert t.phases[0].extra["notes"] == ["About it.", "", "More."]
    assert t.tasks[0].extra["notes"] == ["- deep", "", "  - deeper"]


def test_one_heading_per_task_with_a_status_line() -> None:
    plan = """# Tickets
## ENG-1: First
**Status**: COMPLETED
**Priority**: HIGH
### Acceptance Criteria
- [x] works
## ENG-2: Second
**Status:** ⏭️ Skipped by owner decision
**Deps**: ENG-1
"""
    t = tracker(plan)
    assert tasks(t) == [("1.1", "First", "complete"), ("1.2", "Second", "skipped")]
    assert t.tasks[0].extra["notes"] == ["**Priority**: HIGH", "### Acceptance Criteria"]
    assert [s.name for s in t.all_subtasks()] == ["works"]
    assert t.tasks[1].dependencies == ("1.1",)
    assert t.tasks[1].extra["notes"][0] == "**Status:** ⏭️ Skipped by owner decision"


def test_conductor_phase_checkpoints_descriptions_and_shas() -> None:
    plan = """# Plan: x
## Phase 1: Model [checkpoint: 2b7e913]
**Goal:** Stable ids.

- [x] Task: Write tests (a892823)
    - [x] One
- [~] Task: Add it
"""
    t = tracker(plan)
    phase = t.phases[0]
    assert (phase.name, phase.status, phase.description) == (
        "Model",
        "complete",
        "**Goal:** Stable ids.",
    )
    assert phase.extra["x_checkpoint"] == "2b7e913"
    assert tasks(t) == [("1.1", "Write tests", "complete"), ("1.2", "Add it", "in_progress")]
    assert t.tasks[0].extra["x_commit"] == "a892823"


def test_evidence_under_a_view_goes_to_its_task() -> None:
    plan = """# Work Tracker: T
## Phases
### Phase 1: x
> **Status:** Complete
#### Tasks
| ID | Task | Status | Verification |
|----|------|--------|--------------|
| 1.1 | a | ✅ Complete | See Evidence |
## Evidence
#### Task 1.1: a
Output: ok
"""
    t = tracker(plan)
    assert t.tasks[0].extra["notes"] == ["#### Task 1.1: a", "Output: ok"]
    assert t.extra["notes"] == ["## Evidence"]


# ------------------------------------------------------------------ choosing a reader


def test_the_reader_is_chosen_by_content_not_by_name() -> None:
    plan = "| # | Task | Status |\n|---|---|---|\n| 1 | a | done |\n"
    assert import_plan(plan, title_hint="x", source="tasks.md").format == "table"
    assert import_plan("- [ ] 1. a\n", title_hint="x", source="x.plan.md").format == "kiro"


def test_when_the_best_reader_finds_nothing_the_next_one_tries() -> None:
    plan = "---\ntodos: {broken: yes}\n---\n\n- [ ] from the body\n"
    result = import_plan(plan, title_hint="x")
    assert result.format == "checklist"
    assert [x.title for x in result.tracker.tasks] == ["from the body"]
    assert result.tracker.extra["notes"] == ["---", "todos: {broken: yes}", "---"]


def test_a_plan_of_prose_with_phase_headings_is_refused() -> None:
    with pytest.raises(NothingToImport):
        import_plan("# Design\n## Rollout\n### Phase 1 — Shadow\nWe compare.\n", title_hint="x")


# ------------------------------------------------------------------ Cursor's YAML


def test_cursor_todos_with_quoting_folding_and_dependencies() -> None:
    plan = """---
name: plan
overview: >-
  Two lines
  folded
createdAt: '2026-02-03T09:14:27.512Z'
todos:
  - id: "1"
    content: 'Colon: quoted'
    status: completed
  - id: two
    content: >-
      Folded
      content
    status: cancelled
    dependencies: ["1"]
  - id: three
    content: "Escaped \\"quote\\""
    status: in_progress
    dependencies:
      - two
      - "1"
isProject: false
---
Body text.
"""
    t = tracker(plan)
    assert tasks(t) == [
        ("1.1", "Colon: quoted", "complete"),
        ("1.2", "Folded content", "skipped"),
        ("1.3", 'Escaped "quote"', "in_progress"),
    ]
    assert [x.dependencies for x in t.tasks][1:] == [("1.1",), ("1.2", "1.1")]
    assert (t.meta.title, t.meta.created) == ("plan", "2026-02-03T09:14:27.512Z")
    assert t.extra["notes"] == [
        "overview: >-",
        "  Two lines",
        "  folded",
        "",
        "isProject: false",
        "",
        "Body text.",
    ]


@pytest.mark.parametrize(
    ("yaml", "value"),
    [
        ("a: plain # comment", "plain"),
        ("a: 'it''s'", "it's"),
        ('a: "tab\\tand \\u00e9"', "tab\tand é"),
        ("a: |\n  one\n  two\n", "one\ntwo\n"),
        ("a: >-\n  one\n  two\n\n  three", "one two\nthree"),
        ("a: plain\n  continued", "plain continued"),
    ],
)
def test_yaml_scalars(yaml: str, value: str) -> None:
    (entry,) = fm.parse(yaml.split("\n"))
    assert entry.value == value


@pytest.mark.parametrize(
    "yaml",
    [
        "a: {b: 1}",
        "a: &anchor 1",
        "a: *alias",
        "a: !tag x",
        "a: 'open",
        "a: [x, [y]]",
        "a:\n\tb: 1",
    ],
)
def test_yaml_outside_the_subset_is_refused(yaml: str) -> None:
    with pytest.raises(fm.YamlError):
        fm.parse(yaml.split("\n"))


def test_yaml_nesting_is_bounded() -> None:
    deep = "\n".join(("  " * k) + f"k{k}:" for k in range(50)) + " x"
    with pytest.raises(fm.YamlError, match="nested too deep"):
        fm.parse(deep.split("\n"))


# ------------------------------------------------------------------ hostile input

HOSTILE = {
    "icons": "✅" * (BIG // 2),
    "comments": "- [ ] " + "<!-- id: 1 -->" * (BIG // 14),
    "kiro id": "- [ ] 1." + "1" * BIG + " x",
    "speckit markers": "- [ ] T001 " + "[P] " * (BIG // 4),
    "bold key": "**" + "a" * BIG + ":** x",
    "legend": "`[x]` done · " * (BIG // 13),
    "dependencies": "**Deps**: " + "T1, " * (BIG // 4),
    "status words": "**Status**: " + "not " * (BIG // 4),
    "shas": "- [x] Task: x" + " (abc1234)" * (BIG // 10),
    "dotted": "- [ ] " + "1." * (BIG // 2),
    "durations": "## Phase 1: x" + " (Week 1)" * (BIG // 9),
    "checkpoints": "## Phase 1: x" + " [checkpoint: " * (BIG // 14),
    "depends on": "- [ ] T001 x (depends on " + "T002, " * (BIG // 6),
    "blocks": "- T001 blocks " + "T002, " * (BIG // 6),
    "yaml": "---\ntodos:\n  - content: " + "a " * (BIG // 2) + "\n---",
}
CONTEXTS = {
    "checklist": "- [ ] t\n",
    "heading": "## T-1: x\n**Status**: done\n",
    "table": "## x\n| # | Task | Status |\n|---|---|---|\n| 1 | a | done |\n",
    "view": "# Work Tracker: T\n## Phases\n### Phase 1: x\n#### Tasks\n"
    "| ID | Task | Status | Verification |\n|----|------|--------|--------------|\n",
}


def _import(text: str) -> int:
    try:
        return len(import_plan(text, title_hint="h").tracker.tasks)
    except NothingToImport:
        return 0


@pytest.mark.parametrize("line", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("context", CONTEXTS.values(), ids=CONTEXTS.keys())
def test_a_hostile_line_is_read_in_linear_time(context: str, line: str) -> None:
    assert finishes(lambda: _import(context + line + "\n")) >= 0


def test_a_ten_megabyte_line_is_read_in_linear_time() -> None:
    text = "- [ ] " + "a " * 5_000_000 + "\n"
    assert finishes(lambda: _import(text)) == 1


def test_many_phases_and_items_are_read_in_linear_time() -> None:
    text = "".join(f"## Phase {n % 50}: x\n- [ ] t\n  - [ ] s\n" for n in range(30_000))
    assert finishes(lambda: _import(text)) == 30_000
