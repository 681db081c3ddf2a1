"""The REPL's completer, as tables of (text, cursor) → completions (no daemon needed)."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from wtctl.completer import Phase, Task, Vocabulary, make_completer, variants

VOCABULARY = Vocabulary(
    tasks=tuple(
        Task(task_id, f"Task {task_id}", "pending")
        for task_id in ("1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "3.1", "12.1")
    ),
    phases=(Phase(1, "Foundations"), Phase(2, "Core"), Phase(3, "Release")),
    trackers=("02-auth", "20-payments", "my-project"),
)
STATUSES = ["pending", "in_progress", "complete", "blocked", "skipped", "superseded"]
END = -1  # cursor at the end of the text


def complete(text: str, cursor: int, *, fuzzy: bool = True) -> list[str]:
    phrases, fuzzy_completer = make_completer(VOCABULARY)
    completer = fuzzy_completer if fuzzy else phrases
    position = len(text) if cursor == END else cursor
    document = Document(text, cursor_position=position)
    return [c.text for c in completer.get_completions(document, CompleteEvent())]


# The whole list, in order: IDs, phases and statuses come from the live vocabulary.
EXACT = [
    ("show task ", END, ["1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "3.1", "12.1"]),
    # fuzzy: earliest match first, so "2." puts 2.x before 12.1
    ("show task 2.", END, ["2.1", "2.2", "2.3", "2.4", "12.1"]),
    ("show task 2.", 10, ["1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "3.1", "12.1"]),
    ("show task 2. and more", 12, ["2.1", "2.2", "2.3", "2.4", "12.1"]),
    ("SHOW TASK 3", END, ["3.1", "2.3"]),
    ("mark task 2.2 ", END, STATUSES),
    ("mark 2.2 ", END, STATUSES),
    ("mark task 2.2 inp", END, ["in_progress"]),
    ("mark task 2.2 cmp", END, ["complete"]),
    ("update task 2.1 status ", END, ["to", *STATUSES]),
    ("update task 2.1 status to sk", END, ["skipped"]),
    ("show phase ", END, ["1", "2", "3"]),
    ("list tasks ", END, ["in phase", "with status"]),
    ("list tasks in phase ", END, ["1", "2", "3"]),
    ("list tasks in phase 2 ", END, ["with status"]),
    ("list tasks in phase 2 with status ", END, STATUSES),
    ("add task to phase ", END, ["1:", "2:", "3:", "1", "2", "3"]),
    ("task 2.2 depends on ", END, ["1.1", "1.2", "2.1", "2.2", "2.3", "2.4", "3.1", "12.1"]),
    ("move task 2.2 to phase 3", END, ["3"]),
    ("check subtask 2.2", END, ["2.2."]),
    ("show ", END, ["progress", "remaining", "task", "phase", "health", "knowledge", "consent"]),
    ("show pro", END, ["progress"]),
    ("list tasks in phase 2 with status complete ", END, []),  # the status ends the phrase
    ("rename task 2.2 to ", END, []),  # free text: nothing to offer
    ("create initiative ", END, []),  # a new number: not a phase
    ("frobnicate ", END, []),
    ("use ", END, ["02-auth", "20-payments", "my-project"]),  # the REPL's own command
    ("use 02", END, ["02-auth"]),
    ("USE my", END, ["my-project"]),
    ("use pay", END, ["20-payments"]),
    ("use my-project ", END, []),  # one tracker: nothing follows
    (
        "attach evidence to task 2.1: ",
        END,
        [
            "command_output",
            "file_reference",
            "manual_note",
            "screenshot",
            "test_results",
            "code_review",
        ],
    ),
]


@pytest.mark.parametrize(("text", "cursor", "expected"), EXACT)
def test_completions(text: str, cursor: int, expected: list[str]) -> None:
    assert complete(text, cursor) == expected


# Phrase words come from PHRASES (which grows): check what must be there and must not.
INCLUDES = [
    ("", END, {"show progress", "list tasks", "mark task", "help", "undo"}, set()),
    ("sh", END, {"show progress", "show task", "show health"}, {"undo", "next"}),
    ("shw", END, {"show progress", "show task"}, {"undo"}),  # fuzzy: a typo still finds it
    ("whats", END, {"what's next", "what's remaining"}, {"show progress"}),
    ("mark ", END, {"task", "phase", "all tasks in phase", "2.2"}, {"progress"}),
    ("  ", END, {"show progress"}, set()),
    ("us", END, {"use"}, {"show progress"}),
]


@pytest.mark.parametrize(("text", "cursor", "present", "absent"), INCLUDES)
def test_phrase_completions(text: str, cursor: int, present: set[str], absent: set[str]) -> None:
    offered = set(complete(text, cursor))
    assert present <= offered
    assert not (absent & offered)


PREFIX_ONLY = [
    ("show task 2.", END, ["2.1", "2.2", "2.3", "2.4"]),
    ("mark task 2.2 c", END, ["complete"]),
    ("shw", END, []),  # without the fuzzy wrapper a typo finds nothing
]


@pytest.mark.parametrize(("text", "cursor", "expected"), PREFIX_ONLY)
def test_prefix_completer(text: str, cursor: int, expected: list[str]) -> None:
    assert complete(text, cursor, fuzzy=False) == expected


def test_replacing_the_word_before_the_cursor() -> None:
    _, completer = make_completer(VOCABULARY)
    [completion] = completer.get_completions(Document("show task 2.3"), CompleteEvent())
    assert (completion.text, completion.start_position) == ("2.3", -3)


def test_task_ids_show_name_and_status() -> None:
    _, completer = make_completer(VOCABULARY)
    [completion] = completer.get_completions(Document("show task 3.1"), CompleteEvent())
    assert completion.display_meta_text == "Task 3.1 · pending"


def test_an_updated_vocabulary_is_used_at_once() -> None:
    phrases, completer = make_completer(VOCABULARY)
    phrases.vocabulary = Vocabulary(tasks=(Task("7.1"),), phases=(Phase(7),))
    assert [c.text for c in completer.get_completions(Document("show task "), CompleteEvent())] == [
        "7.1"
    ]


OPTIONAL_GROUPS = [
    ("show progress", ["show progress"]),
    ("history [task X.Y]", ["history task X.Y", "history"]),
    (
        "list tasks [in phase N] [with status S]",
        [
            "list tasks in phase N with status S",
            "list tasks in phase N",
            "list tasks with status S",
            "list tasks",
        ],
    ),
]


@pytest.mark.parametrize(("template", "expected"), OPTIONAL_GROUPS)
def test_optional_groups_become_variants(template: str, expected: list[str]) -> None:
    words = {"task": "X.Y", "phase": "N", "status": "S"}
    spelled = [
        " ".join(t.text if t.kind == "literal" else words[t.kind] for t in variant.tokens)
        for variant in variants(template)
    ]
    assert spelled == expected
