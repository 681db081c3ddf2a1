"""Completion for the REPL: phrases, task IDs, phase numbers, statuses (fuzzy).

The grammar is ``wtd.tracker.phrases.PHRASES`` itself, so a new phrase completes
without touching this file. Each template is split into words; optional groups
(``[in phase N]``) become variants. Given the words already typed, every variant
they fit proposes its next step: the run of literal words up to the next
placeholder or optional group (``show task``), or the live values for a
placeholder — ``X.Y``/``A.B`` task IDs, ``N`` phase numbers, ``S`` statuses,
``TYPE`` evidence types, ``TRACKER`` tracker names. Free text (``T``, ``R``,
``"text"``) ends completion. The REPL's own commands (``use TRACKER``) complete
like phrases.

``PhraseCompleter`` completes by prefix; ``make_completer`` wraps it in
prompt-toolkit's ``FuzzyCompleter`` (``shw`` → ``show progress``, ``2.`` → ``2.1`` …).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, FuzzyCompleter
from prompt_toolkit.document import Document

from wtd import wire
from wtd.tracker.commands import EVIDENCE_TYPES
from wtd.tracker.phrases import PHRASES
from wtd.tracker.status import STATUSES

Kind = Literal[
    "literal", "task", "subtask", "phase", "number", "status", "evidence", "tracker", "free"
]


@dataclass(frozen=True)
class Task:
    id: str
    name: str = ""
    status: str = ""


@dataclass(frozen=True)
class Phase:
    number: int
    name: str = ""


@dataclass(frozen=True)
class Vocabulary:
    """The live values placeholders complete to (from the daemon, refreshed by the REPL)."""

    tasks: tuple[Task, ...] = ()
    phases: tuple[Phase, ...] = ()
    statuses: tuple[str, ...] = STATUSES
    evidence_types: tuple[str, ...] = EVIDENCE_TYPES
    trackers: tuple[str, ...] = ()  # the workspace's tracker names (for ``use``)


def vocabulary_from(
    progress: dict[str, Any], tasks: dict[str, Any], previous: Vocabulary
) -> Vocabulary:
    """The tasks and phases of a ``show progress`` and a ``list tasks`` reply; what a
    failed reply does not say is kept from ``previous``."""
    listed = wire.result(tasks) if wire.ok(tasks) else None
    summary = wire.result(progress) if wire.ok(progress) else None
    task_values = previous.tasks
    phase_values = previous.phases
    if isinstance(listed, list):
        task_values = tuple(
            Task(str(t["id"]), str(t.get("name", "")), str(t.get("status", "")))
            for t in listed
            if isinstance(t, dict) and "id" in t
        )
    if isinstance(summary, dict) and isinstance(summary.get("phases"), list):
        phase_values = tuple(
            Phase(int(p["number"]), str(p.get("name", "")))
            for p in summary["phases"]
            if isinstance(p, dict) and isinstance(p.get("number"), int)
        )
    return Vocabulary(tasks=task_values, phases=phase_values)


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str = ""  # the literal word, lower-case (literals only)
    suffix: str = ""  # ":" when the template glues one to a placeholder (``N:``)
    group_start: bool = False  # first word of an optional group: a literal run stops before it


@dataclass(frozen=True)
class Variant:
    template: str
    tokens: tuple[Token, ...] = field(default=())


_PLACEHOLDERS: Final[dict[str, Kind]] = {
    "X.Y": "task",
    "A.B": "task",
    "X.Y.Z": "subtask",
    "N": "phase",
    "S": "status",
    "TYPE": "evidence",
    "TRACKER": "tracker",
}
_MATCHERS: Final[dict[Kind, re.Pattern[str]]] = {
    "task": re.compile(r"[0-9]+\.[0-9]+"),
    "subtask": re.compile(r"[0-9]+\.[0-9]+\.[0-9]+"),
    "phase": re.compile(r"[+-]?[0-9]+"),
    "number": re.compile(r"[+-]?[0-9]+"),
    "evidence": re.compile(r"\S+"),
    "tracker": re.compile(r"\S+"),
}
_OPTIONAL: Final = re.compile(r"\[([^\]]*)\]")


def _token(word: str, previous: Token | None, group_start: bool) -> Token:
    bare, suffix = (word[:-1], ":") if word.endswith(":") and len(word) > 1 else (word, "")
    kind = _PLACEHOLDERS.get(bare)
    if kind == "phase" and previous is not None and previous.text == "initiative":
        kind = "number"  # an initiative number is new: nothing to offer
    if kind is None and (bare.isupper() or bare.startswith('"') or bare in ("topic",)):
        kind = "free"
    if kind is None:
        return Token("literal", word.lower(), group_start=group_start)
    return Token(kind, suffix=suffix, group_start=group_start)


def variants(template: str) -> list[Variant]:
    """Every way ``template`` can be typed: each optional group present or absent."""
    parts = _OPTIONAL.split(template)  # literal, group, literal, group, …
    result: list[list[Token]] = [[]]
    for index, part in enumerate(parts):
        optional = index % 2 == 1
        grown: list[list[Token]] = []
        for tokens in result:
            words = part.split()
            extended = list(tokens)
            for position, word in enumerate(words):
                previous = extended[-1] if extended else None
                extended.append(_token(word, previous, optional and position == 0))
            grown.append(extended)
            if optional:
                grown.append(list(tokens))
        result = grown
    return [Variant(template, tuple(tokens)) for tokens in result]


# Handled by the REPL itself, never sent to wtd.
REPL_COMMANDS: Final[tuple[str, ...]] = ("use TRACKER",)
VARIANTS: Final[tuple[Variant, ...]] = tuple(
    v for t in (*PHRASES, *REPL_COMMANDS) for v in variants(t)
)


def _fits(token: Token, word: str) -> bool:
    lowered = word.lower()
    if token.kind == "literal":
        return lowered == token.text
    if token.suffix:
        if not lowered.endswith(token.suffix):
            return False
        lowered = lowered[: -len(token.suffix)]
    matcher = _MATCHERS.get(token.kind)
    return matcher is not None and matcher.fullmatch(lowered) is not None


def _next_step(variant: Variant, typed: list[str]) -> int | None:
    """Index of the token after ``typed`` in ``variant``; None if they do not fit it."""
    for index, word in enumerate(typed):
        if index >= len(variant.tokens):
            return None
        token = variant.tokens[index]
        if token.kind in ("free", "status"):
            return None  # free text (or a status) runs to the end: nothing follows
        if not _fits(token, word):
            return None
    return len(typed)


def _literal_run(tokens: tuple[Token, ...], start: int) -> str:
    words = [tokens[start].text]
    for token in tokens[start + 1 :]:
        if token.kind != "literal" or token.group_start:
            break
        words.append(token.text)
    return " ".join(words)


class PhraseCompleter(Completer):
    """Prefix completion of the next step of every phrase the typed words fit."""

    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or Vocabulary()

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        words = text.split()
        partial = "" if not words or text[-1:].isspace() else words.pop()
        seen: set[str] = set()
        for completion in self._candidates(words):
            if completion.text in seen or not completion.text.lower().startswith(partial.lower()):
                continue
            seen.add(completion.text)
            yield Completion(
                completion.text,
                start_position=-len(partial),
                display_meta=completion.display_meta_text,
            )

    def _candidates(self, typed: list[str]) -> Iterator[Completion]:
        for variant in VARIANTS:
            step = _next_step(variant, typed)
            if step is None or step >= len(variant.tokens):
                continue
            token = variant.tokens[step]
            if token.kind == "literal":
                yield Completion(_literal_run(variant.tokens, step), display_meta=variant.template)
            else:
                yield from self._values(token)

    def _values(self, token: Token) -> Iterator[Completion]:
        vocabulary = self.vocabulary
        if token.kind == "task":
            for task in vocabulary.tasks:
                meta = f"{task.name} · {task.status}" if task.status else task.name
                yield Completion(task.id + token.suffix, display_meta=meta)
        elif token.kind == "subtask":
            for task in vocabulary.tasks:
                yield Completion(f"{task.id}.", display_meta=f"sub-task of {task.name}")
        elif token.kind == "phase":
            for phase in vocabulary.phases:
                yield Completion(f"{phase.number}{token.suffix}", display_meta=phase.name)
        elif token.kind == "status":
            for status in vocabulary.statuses:
                yield Completion(status, display_meta="status")
        elif token.kind == "evidence":
            for kind in vocabulary.evidence_types:
                yield Completion(kind, display_meta="evidence type")
        elif token.kind == "tracker":
            for name in vocabulary.trackers:
                yield Completion(name, display_meta="tracker")


def make_completer(vocabulary: Vocabulary | None = None) -> tuple[PhraseCompleter, Completer]:
    """The phrase completer (set its ``vocabulary`` to refresh) and its fuzzy wrapper."""
    phrases = PhraseCompleter(vocabulary)
    return phrases, FuzzyCompleter(phrases, WORD=True)
