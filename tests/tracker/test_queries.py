"""queries.answer: what each query prints and returns, on the example tracker."""

from __future__ import annotations

import pytest

from tests.tracker.conftest import ACTOR, AT, example_raw
from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker import model, ops, queries
from wtd.tracker.model import Tracker


def ask(tracker: Tracker, query: queries.TrackerQuery) -> queries.Answer:
    return queries.answer(tracker, query)


def change(tracker: Tracker, *changes: c.Change) -> Tracker:
    for ch in changes:
        tracker = ops.apply(tracker, ch, at=AT, actor=ACTOR).tracker
    return tracker


def complete(task_id: str) -> c.SetTaskStatus:
    return c.SetTaskStatus(task_id=task_id, status="complete", given="complete")


# ------------------------------------------------------------------ progress


def test_progress_is_derived_not_read_from_the_file(example: Tracker) -> None:
    answer = ask(example, c.ShowProgress())
    assert answer.lines == [
        "Overall progress: 44%",
        "  Phase 1: Foundations — 100% (3/3) ✅ Complete",
        "  Phase 2: Core features — 25% (1/4) 🔄 In Progress",
        "  Phase 3: Release — 0% (0/2) ⏳ Pending",
    ]
    assert answer.result == {
        "overall": 44,
        "complete": 4,
        "total": 9,
        "phases": [
            {
                "number": 1,
                "name": "Foundations",
                "status": "complete",
                "progress": 100,
                "complete": 3,
                "total": 3,
            },
            {
                "number": 2,
                "name": "Core features",
                "status": "in_progress",
                "progress": 25,
                "complete": 1,
                "total": 4,
            },
            {
                "number": 3,
                "name": "Release",
                "status": "pending",
                "progress": 0,
                "complete": 0,
                "total": 2,
            },
        ],
    }


def test_progress_after_completing_a_task(example: Tracker) -> None:
    assert ask(change(example, complete("2.2")), c.ShowProgress()).lines[0] == (
        "Overall progress: 56%"
    )


def test_progress_is_zero_when_nothing_counts() -> None:
    raw = example_raw()
    for task in raw["tasks"]:
        task["status"] = "skipped"
    answer = ask(model.from_raw(raw), c.ShowProgress())
    assert answer.lines[0] == "Overall progress: 0%"
    assert answer.lines[1] == "  Phase 1: Foundations — 0% (0/0) ✅ Complete"


# ----------------------------------------------------------------- remaining


def test_remaining_groups_open_tasks_by_phase(example: Tracker) -> None:
    answer = ask(example, c.ShowRemaining())
    assert answer.lines == [
        "Remaining: 5 tasks",
        "Phase 2: Core features",
        "  2.2  Render Markdown view  🔄 In Progress",
        "  2.3  Watch files for hand edits  ⏳ Pending",
        "  2.4  Recover from corrupted state  🔴 Blocked",
        "Phase 3: Release",
        "  3.1  Write release notes  ⏳ Pending",
        "  3.2  Tag and publish  ⏳ Pending",
    ]
    assert isinstance(answer.result, dict) and answer.result["count"] == 5


def test_remaining_when_everything_is_done(example: Tracker) -> None:
    done = change(example, *(complete(t) for t in ("2.2", "2.3", "2.4", "3.1", "3.2")))
    answer = ask(done, c.ShowRemaining())
    assert answer.lines == ["Nothing remaining — all tasks are complete."]


def test_remaining_says_task_for_one(example: Tracker) -> None:
    done = change(example, *(complete(t) for t in ("2.2", "2.3", "2.4", "3.1")))
    assert ask(done, c.ShowRemaining()).lines[0] == "Remaining: 1 task"


# ---------------------------------------------------------------------- next


def test_next_is_the_first_pending_task_with_its_dependencies_done(example: Tracker) -> None:
    answer = ask(example, c.ShowNext())
    assert answer.lines == ["Next: 3.1 Write release notes (phase 3: Release)"]
    assert isinstance(answer.result, dict) and answer.result["task"]["id"] == "3.1"


def test_next_follows_dependencies(example: Tracker) -> None:
    tracker = change(example, complete("2.2"))
    assert ask(tracker, c.ShowNext()).lines == [
        "Next: 2.3 Watch files for hand edits (phase 2: Core features)"
    ]


def test_next_says_why_nothing_is_ready(example: Tracker) -> None:
    tracker = change(
        example,
        c.SetTaskStatus(task_id="3.1", status="in_progress", given="in_progress"),
    )
    assert ask(tracker, c.ShowNext()).lines == [
        "No task is ready: 2.3 waits on 2.2 (in_progress); 3.2 waits on 3.1 (in_progress)"
    ]


def test_next_with_nothing_pending_but_work_open(example: Tracker) -> None:
    tracker = change(
        example,
        complete("2.2"),
        complete("2.3"),
        complete("3.1"),
        complete("3.2"),
    )
    assert ask(tracker, c.ShowNext()).lines == ["No pending task; still open: 2.4 (blocked)"]


def test_next_when_all_done(example: Tracker) -> None:
    done = change(example, *(complete(t) for t in ("2.2", "2.3", "2.4", "3.1", "3.2")))
    assert ask(done, c.ShowNext()).lines == ["Nothing next — all tasks are complete."]


# ---------------------------------------------------------------- show task


def test_show_task_lists_everything_about_it(example: Tracker) -> None:
    answer = ask(example, c.ShowTask(task_id="2.2"))
    assert answer.lines == [
        "Task 2.2: Render Markdown view",
        "  Phase: 2 (Core features)",
        "  Status: 🔄 In Progress",
        "  Verification: —",
        "  Depends on: 2.1 (complete)",
        "  Sub-tasks: 1/3 done",
        "    - [x] 2.2.1: Task tables",
        "    - [ ] 2.2.2: Progress summary",
        "    - [ ] 2.2.3: Recovery checksum",
    ]
    assert isinstance(answer.result, dict)
    assert answer.result["dependencies"] == [{"id": "2.1", "status": "complete"}]


def test_show_task_with_evidence_and_a_block_reason(example: Tracker) -> None:
    tracker = change(
        example,
        c.SetTaskStatus(task_id="1.2", status="blocked", given="blocked", reason="flaky runner"),
    )
    answer = ask(tracker, c.ShowTask(task_id="1.2"))
    assert "  Blocked because: flaky runner" in answer.lines
    assert "  Verification: CI is green on main" in answer.lines
    assert "  Evidence: 1 item(s), 1 verified" in answer.lines
    assert "    - command_output: 42 passed (verified)" in answer.lines
    assert isinstance(answer.result, dict) and answer.result["blocked_reason"] == "flaky runner"


def test_show_task_unknown_names_the_nearest(example: Tracker) -> None:
    with pytest.raises(errors.NotFound) as caught:
        ask(example, c.ShowTask(task_id="2.7"))
    assert caught.value.message == "Task 2.7 not found (nearest: 2.4, 2.3, 2.2)"
    assert caught.value.suggestions == ["2.4", "2.3", "2.2"]


# --------------------------------------------------------------- show phase


def test_show_phase(example: Tracker) -> None:
    answer = ask(example, c.ShowPhase(number=1))
    assert answer.lines == [
        "Phase 1: Foundations",
        "  Status: ✅ Complete",
        "  Progress: 100% (3/3)",
        "  Description: Repository, packaging and the first green build",
        "  Tasks: 3",
        "    1.1  Create repository and packaging  ✅ Complete",
        "    1.2  Set up CI  ✅ Complete",
        "    1.3  Write the contributor guide  ✅ Complete",
    ]


def test_show_phase_unknown(example: Tracker) -> None:
    with pytest.raises(errors.NotFound, match=r"Phase 4 not found \(nearest: 3, 2, 1\)"):
        ask(example, c.ShowPhase(number=4))


# --------------------------------------------------------------- list tasks

LISTS: list[tuple[c.ListTasks, list[str]]] = [
    (
        c.ListTasks(phase=3),
        [
            "  3.1  Write release notes  ⏳ Pending",
            "  3.2  Tag and publish  ⏳ Pending",
            "  3.3  Retire the old tracker script  ⏭️ Skipped",
        ],
    ),
    (
        c.ListTasks(status="pending"),
        [
            "  2.3  Watch files for hand edits  ⏳ Pending",
            "  3.1  Write release notes  ⏳ Pending",
            "  3.2  Tag and publish  ⏳ Pending",
        ],
    ),
    (c.ListTasks(phase=2, status="blocked"), ["  2.4  Recover from corrupted state  🔴 Blocked"]),
    (c.ListTasks(phase=1, status="pending"), ["No tasks match."]),
]


@pytest.mark.parametrize(("query", "lines"), LISTS, ids=[str(q) for q, _ in LISTS])
def test_list_tasks_filters(example: Tracker, query: c.ListTasks, lines: list[str]) -> None:
    assert ask(example, query).lines == lines


def test_list_tasks_without_filter_lists_all(example: Tracker) -> None:
    answer = ask(example, c.ListTasks())
    assert len(answer.lines) == len(example.tasks)
    assert isinstance(answer.result, list) and answer.result[0] == {
        "id": "1.1",
        "name": "Create repository and packaging",
        "phase": 1,
        "status": "complete",
    }


def test_list_tasks_pads_ids_to_one_width(example: Tracker) -> None:
    tracker = change(example, *(c.AddTask(phase=3, name=f"T{n}") for n in range(7)))
    lines = ask(tracker, c.ListTasks(phase=3)).lines
    assert lines[0] == "  3.1   Write release notes  ⏳ Pending"
    assert lines[-1] == "  3.10  T6  ⏳ Pending"


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        (c.ListTasks(phase=9), errors.NotFound),
        (c.ListTasks(status="done"), errors.InvalidArgument),
    ],
    ids=["unknown-phase", "non-canonical-status"],
)
def test_list_tasks_errors(
    example: Tracker, query: c.ListTasks, kind: type[errors.WtdError]
) -> None:
    with pytest.raises(kind):
        ask(example, query)


def test_queries_never_change_the_tracker(example: Tracker) -> None:
    before = model.encode(example)
    for query in (
        c.ShowProgress(),
        c.ShowRemaining(),
        c.ShowNext(),
        c.ShowTask(task_id="2.2"),
        c.ShowPhase(number=2),
        c.ListTasks(),
    ):
        ask(example, query)
    assert model.encode(example) == before
