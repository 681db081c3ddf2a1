"""The phrase grammar (SPEC §4): every phrase form, every error path, never raises."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from wtd.errors import EXIT_CODES
from wtd.tracker import commands as c
from wtd.tracker.phrases import PHRASES, ParseError, parse, suggest

# ------------------------------------------------------------------ queries


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("show progress", c.ShowProgress()),
        ("progress", c.ShowProgress()),
        ("status", c.ShowProgress()),
        ("  Show   PROGRESS.  ", c.ShowProgress()),
        ("progress?", c.ShowProgress()),
        ('"show progress"', c.ShowProgress()),
        ("what's remaining", c.ShowRemaining()),
        ("whats remaining", c.ShowRemaining()),
        ("what is remaining?", c.ShowRemaining()),
        ("What’s remaining?", c.ShowRemaining()),
        ("show remaining", c.ShowRemaining()),
        ("remaining", c.ShowRemaining()),
        ("next", c.ShowNext()),
        ("what's next?", c.ShowNext()),
        ("whats next", c.ShowNext()),
        ("what is next", c.ShowNext()),
        ("show task 1.2", c.ShowTask(task_id="1.2")),
        ("SHOW TASK 10.11", c.ShowTask(task_id="10.11")),
        ("show phase 3", c.ShowPhase(number=3)),
        ("list tasks", c.ListTasks()),
        ("list tasks in phase 2", c.ListTasks(phase=2)),
        ("list tasks with status done", c.ListTasks(status="complete")),
        ("list tasks with status in progress", c.ListTasks(status="in_progress")),
        (
            "list tasks in phase 2 with status not started",
            c.ListTasks(phase=2, status="pending"),
        ),
        ("list tasks with status wip in phase 4", c.ListTasks(phase=4, status="in_progress")),
        ("health", c.ShowHealth()),
        ("show health", c.ShowHealth()),
        ("list trackers", c.ListTrackers()),
        ("help", c.Help()),
        ("help mark", c.Help(topic="mark")),
        ("help  Sub Tasks", c.Help(topic="sub tasks")),
        ("?", c.Help()),
        ("sync", c.Sync()),
        ("sync tracker", c.Sync()),
        ("regenerate markdown", c.Sync()),
    ],
)
def test_query_phrases(text: str, expected: c.Command) -> None:
    assert parse(text) == expected


# ------------------------------------------------------------------ task status


def _set(task_id: str, status: str, given: str, verb: str = "mark") -> c.SetTaskStatus:
    return c.SetTaskStatus(task_id=task_id, status=status, given=given, verb=verb)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mark task 1.1 complete", _set("1.1", "complete", "complete")),
        ("mark task 1.1 done", _set("1.1", "complete", "done")),
        ("mark task 1.1 DONE.", _set("1.1", "complete", "DONE")),
        ("mark 2.3 wip", _set("2.3", "in_progress", "wip")),
        ("mark task 2.3 as blocked", _set("2.3", "blocked", "blocked")),
        ("mark 2.3 as In Progress", _set("2.3", "in_progress", "In Progress")),
        ("mark task 1.1 not started", _set("1.1", "pending", "not started")),
        ("mark task 1.1 in-progress", _set("1.1", "in_progress", "in-progress")),
        ("mark task 1.1 ✅ Complete", _set("1.1", "complete", "✅ Complete")),
        ("Mark Task 1.1   wontfix", _set("1.1", "skipped", "wontfix")),
        ("complete task 4.1", _set("4.1", "complete", "complete")),
        ("start task 4.1", _set("4.1", "in_progress", "in_progress")),
        ("block task 4.1", _set("4.1", "blocked", "blocked")),
        ("block task 4.1.", _set("4.1", "blocked", "blocked")),
        ("update task 1.1 status DONE", _set("1.1", "complete", "DONE", verb="update")),
        ("update task 1.1 status to done", _set("1.1", "complete", "done", verb="update")),
        ("update task 1.1 to skipped", _set("1.1", "skipped", "skipped", verb="update")),
    ],
)
def test_status_phrases(text: str, expected: c.SetTaskStatus) -> None:
    assert parse(text) == expected


def test_block_with_reason_keeps_the_reason_as_typed() -> None:
    assert parse("block task 1.1 because Waiting on the API.") == c.SetTaskStatus(
        task_id="1.1",
        status="blocked",
        given="blocked",
        reason="Waiting on the API.",
        verb="mark",
    )


# ------------------------------------------------------------------ structure


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add phase Design", c.AddPhase(name="Design")),
        ('add phase "Ship it"', c.AddPhase(name="Ship it")),
        ("add phase 3 called Ship it", c.AddPhase(name="Ship it", number=3)),
        ("add phase 3 called 'Ship it'", c.AddPhase(name="Ship it", number=3)),
        (
            "update phase 2 to complete",
            c.SetPhaseStatus(number=2, status="complete", given="complete"),
        ),
        ("update phase 2 status done", c.SetPhaseStatus(number=2, status="complete", given="done")),
        (
            "update phase 2 status to wip",
            c.SetPhaseStatus(number=2, status="in_progress", given="wip"),
        ),
        ("delete phase 2", c.DeletePhase(number=2)),
        ("add task to phase 2: Write docs", c.AddTask(phase=2, name="Write docs")),
        ("add task to phase 2 : Write docs.", c.AddTask(phase=2, name="Write docs.")),
        ('add task to phase 2 called "Write docs"', c.AddTask(phase=2, name="Write docs")),
        ("add task to phase 2:Fix   spacing", c.AddTask(phase=2, name="Fix   spacing")),
        ("rename task 1.2 to Better name", c.RenameTask(task_id="1.2", name="Better name")),
        ("move task 1.2 to phase 3", c.MoveTask(task_id="1.2", phase=3)),
        ("delete task 1.2", c.DeleteTask(task_id="1.2")),
        ("task 1.3 depends on 1.2", c.AddDependency(task_id="1.3", depends_on="1.2")),
        ("task 1.3 depends on task 1.2.", c.AddDependency(task_id="1.3", depends_on="1.2")),
        (
            "set verification of task 1.2 to pytest passes",
            c.SetVerification(task_id="1.2", text="pytest passes"),
        ),
        (
            'set verification for task 1.2 to "pytest -q"',
            c.SetVerification(task_id="1.2", text="pytest -q"),
        ),
        ("add subtask to task 1.2: Draft", c.AddSubtask(task_id="1.2", name="Draft")),
        ("add subtask to task 1.2 called Draft", c.AddSubtask(task_id="1.2", name="Draft")),
        ("check subtask 1.2.1", c.SetSubtaskChecked(subtask_id="1.2.1", checked=True)),
        ("complete subtask 1.2.1", c.SetSubtaskChecked(subtask_id="1.2.1", checked=True)),
        ("uncheck subtask 1.2.1", c.SetSubtaskChecked(subtask_id="1.2.1", checked=False)),
        ("delete subtask 1.2.1", c.DeleteSubtask(subtask_id="1.2.1")),
        ("verify evidence for task 1.2", c.VerifyEvidence(task_id="1.2")),
    ],
)
def test_structure_phrases(text: str, expected: c.Command) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "kind", "body"),
    [
        ('attach evidence to task 1.1: manual_note "looks right"', "manual_note", "looks right"),
        ('attach evidence to task 1.1: manual note "looks right"', "manual_note", "looks right"),
        ("attach evidence to task 1.1: Manual-Note looks right", "manual_note", "looks right"),
        ("attach evidence to task 1.1: test results: 12 passed", "test_results", "12 passed"),
        ("attach evidence to task 1.1 screenshot shot.png", "screenshot", "shot.png"),
        ('attach evidence to task 1.1: command_output "ok."', "command_output", "ok."),
        ("attach evidence to task 1.1: file-reference src/a.py", "file_reference", "src/a.py"),
        ("attach evidence to task 1.1: code review LGTM", "code_review", "LGTM"),
    ],
)
def test_attach_evidence(text: str, kind: str, body: str) -> None:
    assert parse(text) == c.AttachEvidence(task_id="1.1", type=kind, text=body)


def test_every_evidence_type_is_accepted() -> None:
    for kind in c.EVIDENCE_TYPES:
        assert parse(f'attach evidence to task 1.1: {kind} "x"') == c.AttachEvidence(
            task_id="1.1", type=kind, text="x"
        )


# ------------------------------------------------------------------ errors


def _error(text: str) -> ParseError:
    result = parse(text)
    assert isinstance(result, ParseError), result
    return result


@pytest.mark.parametrize(
    ("text", "given"),
    [
        ("mark task 2 complete", "2"),
        ("mark 2 complete", "2"),
        ("show task abc", "abc"),
        ("mark task 2.2.2 complete", "2.2.2"),
        ("mark task 1.x complete", "1.x"),
        ("mark task 1.x nonsense", "1.x"),
        ("complete task 1", "1"),
        ("start task one", "one"),
        ("block task 1.1.1 because x", "1.1.1"),
        ("update task x status done", "x"),
        ("rename task 1 to X", "1"),
        ("move task a.b to phase 2", "a.b"),
        ("delete task 1.", "1"),
        ("task 1 depends on 1.1", "1"),
        ("task 1.2 depends on 1", "1"),
        ("set verification of task 1 to x", "1"),
        ("add subtask to task 1: x", "1"),
        ("attach evidence to task 1: manual_note x", "1"),
        ("verify evidence for task 1", "1"),
        ("show task 1.１", "1.１"),  # a full-width digit is not an ASCII id
    ],
)
def test_invalid_task_id(text: str, given: str) -> None:
    error = _error(text)
    assert error.code == "invalid_task_id"
    assert error.message.startswith(f"Invalid task ID format: '{given}'")
    assert "expected X.Y, e.g. 2.1" in error.message


@pytest.mark.parametrize(
    "text",
    ["check subtask 1.1", "complete subtask 1", "uncheck subtask a.b.c", "delete subtask 1.1.1.1"],
)
def test_invalid_subtask_id(text: str) -> None:
    error = _error(text)
    assert error.code == "invalid_task_id"
    assert error.message.startswith("Invalid sub-task ID format:")
    assert "X.Y.Z" in error.message


@pytest.mark.parametrize(
    ("text", "given", "suggestion"),
    [
        ("mark task 1.1 foo", "foo", None),
        ("mark task 1.1 compelte", "compelte", "complete"),
        ("update task 1.1 status to blokced", "blokced", "blocked"),
        ("update phase 2 to finishd", "finishd", "finished"),
        ("list tasks with status pendng", "pendng", "pending"),
    ],
)
def test_invalid_status(text: str, given: str, suggestion: str | None) -> None:
    error = _error(text)
    assert error.code == "invalid_status"
    assert error.message.startswith(f"Invalid status '{given}'")
    if suggestion is not None:
        assert error.suggestions[0] == suggestion
    assert len(error.suggestions) <= 3


@pytest.mark.parametrize(
    "text",
    [
        "show phase 0",
        "show phase -1",
        "show phase two",
        "delete phase 1.5",
        "add phase 0 called X",
        "add task to phase x: Y",
        "move task 1.1 to phase 0",
        "list tasks in phase zero",
        "update phase 0 to done",
    ],
)
def test_phase_number_must_be_a_positive_integer(text: str) -> None:
    error = _error(text)
    assert error.code == "invalid_argument"
    assert error.message.startswith("Invalid phase number:")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('add phase ""', "must not be empty"),
        ("add task to phase 1: " + "x" * 201, "too long"),
        ("rename task 1.1 to line one\nline two", "one line"),
        ("add subtask to task 1.1: ''", "must not be empty"),
        ("set verification of task 1.1 to ``", "must not be empty"),
        ("mark task 1.1", "Missing status"),
        ('attach evidence to task 1.1: manual_note ""', "must not be empty"),
    ],
)
def test_invalid_argument(text: str, fragment: str) -> None:
    error = _error(text)
    assert error.code == "invalid_argument"
    assert fragment in error.message


def test_title_of_exactly_200_characters_is_accepted() -> None:
    assert parse("rename task 1.1 to " + "y" * 200) == c.RenameTask(task_id="1.1", name="y" * 200)


def test_unknown_evidence_type_lists_the_valid_types() -> None:
    error = _error("attach evidence to task 1.1: manual_notes x")
    assert error.code == "invalid_argument"
    for kind in c.EVIDENCE_TYPES:
        assert kind in error.message
    assert error.suggestions[0] == "manual_note"


@pytest.mark.parametrize(
    ("text", "command"),
    [
        ("create initiative 3", c.CreateInitiative(number=3)),
        ("create initiative 3 called Payments", c.CreateInitiative(number=3, title="Payments")),
        ("Create initiative 7: Search", c.CreateInitiative(number=7, title="Search")),
        ("delete tracker", c.DeleteTracker()),
        ("restore tracker", c.RestoreTracker()),
        ("restore tracker 20-payments", c.RestoreTracker(name="20-payments")),
        ("mark phase 2 complete", c.SetPhaseTasks(number=2, status="complete", given="complete")),
        (
            "mark all tasks in phase 2 done",
            c.SetPhaseTasks(number=2, status="complete", given="done"),
        ),
        ("yes", c.ConsentAnswer(answer="yes")),
        ("Approved.", c.ConsentAnswer(answer="approved")),
        ("always", c.ConsentAnswer(answer="always")),
        ("you may create initiatives as needed", c.GrantBlanket()),
        ("reset circuit", c.ResetCircuit()),
        ("undo", c.Undo()),
        ("history", c.ShowHistory()),
        ("history task 1.1", c.ShowHistory(task_id="1.1")),
        ("show history for task 2.3", c.ShowHistory(task_id="2.3")),
        ("Reset circuit breakers", c.ResetCircuit()),
        ("show knowledge", c.ShowKnowledge()),
        ("knowledge", c.ShowKnowledge()),
    ],
)
def test_healing_phrases(text: str, command: c.Command) -> None:
    assert parse(text) == command


@pytest.mark.parametrize(
    ("text", "first"),
    [
        ("shwo progress", "show progress"),
        ("mrak task 1.1 done", "mark task X.Y S"),
        ("lsit trackers", "list trackers"),
        ("regenerate markdwon", "regenerate markdown"),
        ("dlete phase 2", "delete phase N"),
    ],
)
def test_unknown_phrase_suggests_the_closest_templates(text: str, first: str) -> None:
    error = _error(text)
    assert error.code == "unknown_phrase"
    assert error.message == f"Unknown command: '{text}'"
    assert error.suggestions[0] == first
    assert len(error.suggestions) <= 3
    assert set(error.suggestions) <= set(PHRASES)


def test_gibberish_is_pointed_at_help() -> None:
    error = _error("xyzzy plugh")
    assert error.code == "unknown_phrase"
    assert error.suggestions == ["help"]


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_blank_input_points_at_help(text: str) -> None:
    error = _error(text)
    assert error.code == "unknown_phrase"
    assert "help" in error.message
    assert error.suggestions == ["help"]


def test_overlong_input_is_refused_cheaply() -> None:
    error = _error("show task " + "1" * 20_000)
    assert error.code == "invalid_argument"


def test_every_error_code_has_an_exit_code_of_two() -> None:
    texts = ["", "show task x", "mark 1.1 foo", "show phase 0"]
    codes = {_error(t).code for t in texts}
    assert codes == {"unknown_phrase", "invalid_task_id", "invalid_status", "invalid_argument"}
    assert all(EXIT_CODES[code] == 2 for code in codes)


# ------------------------------------------------------------------ templates


def test_suggest_is_bounded() -> None:
    assert len(suggest("show", limit=2)) <= 2
    assert suggest("") == []


def test_templates_are_unique() -> None:
    assert len(PHRASES) == len(set(PHRASES))


# ------------------------------------------------------------------ properties


@given(hs.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    result = parse(text)
    assert isinstance(result, (ParseError, *c.QUERY_TYPES, *c.CHANGE_TYPES, *c.WORKSPACE_TYPES))


_WORDS = hs.sampled_from(
    [
        "mark",
        "task",
        "phase",
        "1.1",
        "2",
        "as",
        "to",
        "called",
        ":",
        '"',
        "done",
        "add",
        "show",
        "list",
        "with",
        "status",
        "in",
        "subtask",
        "1.1.1",
        "because",
        "evidence",
        "?",
    ]
)


@given(hs.lists(_WORDS, max_size=10).map(" ".join))
def test_parse_never_raises_on_phrase_like_text(text: str) -> None:
    result = parse(text)
    assert isinstance(result, (ParseError, *c.QUERY_TYPES, *c.CHANGE_TYPES, *c.WORKSPACE_TYPES))


@given(
    hs.integers(min_value=1, max_value=999),
    hs.integers(min_value=1, max_value=999),
    hs.sampled_from(["done", "DONE", "in progress", "not-started", "wip", "✅ Complete"]),
)
def test_commands_are_encodable(phase: int, task: int, spelled: str) -> None:
    result = parse(f"mark task {phase}.{task} {spelled}")
    assert isinstance(result, c.SetTaskStatus)
    assert result.task_id == f"{phase}.{task}"
    decoded = msgspec.json.decode(msgspec.json.encode(result), type=c.Command)
    assert decoded == result


# ------------------------------------------------------------------ import plan


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("import plan tasks.md", c.ImportPlan(path="tasks.md")),
        (
            "Import Plan .kiro/specs/login/tasks.md.",
            c.ImportPlan(path=".kiro/specs/login/tasks.md"),
        ),
        ("import plan /tmp/plan.md as launch", c.ImportPlan(path="/tmp/plan.md", name="launch")),
        (
            'import plan "My Plans/road map.md" as q3',
            c.ImportPlan(path="My Plans/road map.md", name="q3"),
        ),
        (
            "import plan notes/as is.md as as-is.md",
            c.ImportPlan(path="notes/as is.md", name="as-is"),
        ),
    ],
)
def test_import_plan_phrases(text: str, expected: c.Command) -> None:
    assert parse(text) == expected


def test_import_plan_is_a_write_that_the_executor_carries_out() -> None:
    assert c.ImportPlan.access == "write"
    assert c.ImportPlan in c.WORKSPACE_TYPES
    assert "import plan PATH [as NAME]" in PHRASES


@pytest.mark.parametrize(
    ("text", "fragment", "suggestion"),
    [
        ("import plan", "Missing plan", "import plan PATH [as NAME]"),
        ('import plan x.md as "Road Map"', "Invalid tracker name", "import plan x.md as road-map"),
        ("import plan x.md as ../evil", "Invalid tracker name", "import plan x.md as evil"),
    ],
)
def test_import_plan_refuses_what_cannot_name_a_tracker(
    text: str, fragment: str, suggestion: str
) -> None:
    error = _error(text)
    assert (error.code, error.suggestions) == ("invalid_argument", [suggestion])
    assert fragment in error.message


@pytest.mark.parametrize(
    "text",
    [
        "add task to phase 1: " + "x" * 201,
        "add task to phase 1 called " + "x" * 201,
        "rename task 1.1 to " + "x" * 201,
        "add phase " + "x" * 201,
        "add phase 2 called " + "x" * 201,
        "add subtask to task 1.1: " + "x" * 201,
        "create initiative 3 called " + "x" * 201,
    ],
)
def test_a_phrase_never_sets_a_name_the_schema_cannot_hold(text: str) -> None:
    # phrases refuse (exit 2, nothing changed); hand edits of the view are cut instead
    error = _error(text)
    assert error.code == "invalid_argument" and "too long (201 characters, at most 200)" in (
        error.message
    )
