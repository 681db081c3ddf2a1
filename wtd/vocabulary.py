"""The words that more than one part of wtd must agree on, defined once (SPEC §7).

The grammar (``wtd.tracker.phrases``), the consent manager
(``wtd.enforcement.consent``), the Claude Code hook (``wtctl.hook``) and the README
test all import these; none keeps its own copy. Standard library only (``re``): the
hook imports this on every tool call.

Patterns are written in the grammar's notation: a literal space matches any run of
whitespace, matching is case-insensitive and whole-phrase (``compile_phrase``).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the hook
if TYPE_CHECKING:
    from typing import Final, Literal

    AnswerKind = Literal["once", "always", "blanket", "decline"]
    OperationKind = Literal["create_initiative", "delete_tracker", "bulk_change", "take_over_claim"]

# ------------------------------------------------------------------ consent answers

BLANKET_PHRASE: Final = "you may create initiatives as needed"
"""Sets ``blanket_approval``: initiative creation only, in this workspace."""

CONSENT_ANSWERS: Final[dict[str, AnswerKind]] = {
    "yes": "once",
    "y": "once",
    "approved": "once",
    "approve": "once",
    "always": "always",
    "no": "decline",
    "n": "decline",
    BLANKET_PHRASE: "blanket",
}
"""Every consent answer and what it means: ``once`` approves the question asked,
``always`` is a standing approval for that kind of operation in this workspace,
``decline`` refuses it (recorded, nothing applied), ``blanket`` is the blanket phrase."""

_SPACES = re.compile(r"\s+")


def normalise_answer(text: str) -> str:
    """Case, surrounding quotes, extra spaces and trailing ``.``/``!``/``?`` forgiven."""
    return _SPACES.sub(" ", text.strip().strip("\"'“”‘’`").strip(" .!?").lower())


def classify_answer(text: str) -> AnswerKind | None:
    """What a consent answer means, or ``None`` when ``text`` is not one."""
    return CONSENT_ANSWERS.get(normalise_answer(text))


# ------------------------------------------------------------------ guarded operations

GUARDED_KINDS: Final[tuple[OperationKind, ...]] = (
    "create_initiative",
    "delete_tracker",
    "bulk_change",
)

KIND_LABELS: Final[dict[str, str]] = {
    "create_initiative": "initiative creation",
    "delete_tracker": "deleting trackers",
    "bulk_change": "bulk changes",
    "take_over_claim": "taking over an agent's claim",
}
"""How a kind is named to people (``show consent``, replies)."""

KIND_NAMES: Final[dict[str, OperationKind]] = {
    "create_initiative": "create_initiative",
    "create initiative": "create_initiative",
    "create initiatives": "create_initiative",
    "creating initiatives": "create_initiative",
    "initiative creation": "create_initiative",
    "initiatives": "create_initiative",
    "delete_tracker": "delete_tracker",
    "delete tracker": "delete_tracker",
    "delete trackers": "delete_tracker",
    "deleting trackers": "delete_tracker",
    "tracker deletion": "delete_tracker",
    "bulk_change": "bulk_change",
    "bulk change": "bulk_change",
    "bulk changes": "bulk_change",
    "bulk": "bulk_change",
    "initiative": "create_initiative",
    "creating an initiative": "create_initiative",
    "deleting a tracker": "delete_tracker",
    "a tracker deletion": "delete_tracker",
    "tracker deletions": "delete_tracker",
    "deleting": "delete_tracker",
    "bulk changing": "bulk_change",
    "many tasks": "bulk_change",
}
"""What ``revoke consent for KIND`` accepts (normalised: lower case, single spaces)."""

# The guarded phrases, as the grammar parses them. The grammar builds its rules for
# these commands from exactly these patterns; the hook blocks a subagent's wtctl call
# whose phrase matches one of them.
# A title has a character the hook does not drop from the end of a phrase (spaces,
# . ? ! and quotes): "1 called ?" would otherwise be guarded here but not there.
CREATE_INITIATIVE: Final = (
    r"create initiative (?P<n>[^\s:]+)(?:(?:\s*:\s*| called )"
    r"""(?P<t>.*[^\s.?!"'“”].*)|[\s.?!:]*)"""
)
DELETE_TRACKER: Final = r"delete (?:this )?tracker"
MARK_ALL_TASKS: Final = r"mark all tasks in phase (?P<n>\S+) (?:as )?(?P<s>.+)"
MARK_PHASE: Final = r"mark phase (?P<n>\S+) (?:as )?(?P<s>.+)"
GUARDED_PHRASES: Final[tuple[tuple[str, OperationKind], ...]] = (
    (CREATE_INITIATIVE, "create_initiative"),
    (DELETE_TRACKER, "delete_tracker"),
    (MARK_ALL_TASKS, "bulk_change"),
    (MARK_PHASE, "bulk_change"),
)

# Consent answers and the commands that change consent, as phrases.
CONSENT_ANSWER: Final = (
    r"(?P<a>"
    + "|".join(sorted((a for a in CONSENT_ANSWERS if a != BLANKET_PHRASE), key=len, reverse=True))
    + ")"
)
GRANT_BLANKET: Final = BLANKET_PHRASE
REVOKE_CONSENT: Final = r"revoke (?:all )?consents?(?: (?:for|to|of|on) (?P<k>.+))?"
REVOKE_ALL: Final = frozenset({"all", "everything", "all kinds", "every kind", "all operations"})
"""What ``revoke consent for …`` accepts as "every kind"."""
SHOW_CONSENT: Final = r"(?:show|list) consents?(?: state)?|consents?"
CONSENT_PHRASES: Final[tuple[str, ...]] = (CONSENT_ANSWER, GRANT_BLANKET, REVOKE_CONSENT)
"""Phrases that answer or change consent: never a subagent's to send."""

UNDO: Final = r"undo(?: (?:the )?last change)?"
RESTORE_TRACKER: Final = r"restore tracker(?: (?P<name>\S+))?"
IMPORT_PLAN: Final = r"import plan(?: .*)?"
SUBAGENT_BARRED: Final[tuple[str, ...]] = (UNDO, RESTORE_TRACKER, IMPORT_PLAN)
"""Phrases a subagent may not send although they are not guarded: undoing (wtd refuses
a subagent's undo of a guarded change; the hook cannot tell which change an undo
reverts), restoring a deleted tracker (the undo of a guarded ``delete tracker``) and
importing a plan (it creates a tracker, as ``create initiative`` does)."""


def compile_phrase(pattern: str) -> re.Pattern[str]:
    """The grammar's compilation: a literal space matches any run of whitespace."""
    return re.compile(pattern.replace(" ", r"\s+"), re.IGNORECASE | re.DOTALL)
