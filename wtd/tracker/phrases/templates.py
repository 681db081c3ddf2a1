"""The phrase templates a person is shown (``PHRASES``: help, completion) and the
suggestions drawn from them for a phrase that matched nothing (``suggest``).
"""

from __future__ import annotations

import difflib
import re
from typing import Final

from wtd import vocabulary as v

PHRASES: Final[tuple[str, ...]] = (
    "show progress",
    "progress",
    "status",
    "what's remaining",
    "show remaining",
    "next",
    "what's next",
    "show task X.Y",
    "show phase N",
    "list tasks [in phase N] [with status S]",
    "mark task X.Y S",
    "mark X.Y S",
    "complete task X.Y",
    "start task X.Y",
    "block task X.Y [because R]",
    "update task X.Y status [to] S",
    "add phase T",
    "add phase N called T",
    "update phase N to S",
    "delete phase N",
    "add task to phase N: T",
    "add task to phase N called T",
    "rename task X.Y to T",
    "move task X.Y to phase N",
    "delete task X.Y",
    "task X.Y depends on A.B",
    "set verification of task X.Y to T",
    "add subtask to task X.Y: T",
    "check subtask X.Y.Z",
    "complete subtask X.Y.Z",
    "uncheck subtask X.Y.Z",
    "delete subtask X.Y.Z",
    'attach evidence to task X.Y: TYPE "text"',
    "verify evidence for task X.Y",
    "sync",
    "sync tracker",
    "regenerate markdown",
    "create initiative N [called T]",
    "import plan PATH [as NAME]",
    "delete tracker",
    "restore tracker [NAME]",
    "mark phase N S",
    "mark all tasks in phase N S",
    "undo",
    "history [task X.Y]",
    "health",
    "show health",
    "reset circuit",
    "show knowledge",
    "yes",
    "approved",
    "always",
    "no",
    v.BLANKET_PHRASE,
    "show consent",
    "revoke consent [for KIND]",
    "claim next [in phase N]",
    "claim task X.Y",
    "release task X.Y",
    "renew claims",
    "list claims",
    "list trackers",
    "help [topic]",
)


_PLACEHOLDERS: Final[frozenset[str]] = frozenset(
    {"X.Y", "X.Y.Z", "A.B", "N", "S", "T", "R", "TYPE", '"text"', "N:", "X.Y:", "KIND", "PATH"}
)


def _head(template: str) -> str:
    """The literal words of a template before its first placeholder."""
    words: list[str] = []
    for word in template.split():
        if word in _PLACEHOLDERS or word.startswith("["):
            break
        words.append(word.rstrip(":"))
    return " ".join(words)


_TEMPLATES: Final[tuple[tuple[str, str, str], ...]] = tuple(
    (t, re.sub(r"\s*\[[^\]]*\]", "", t).lower(), _head(t).lower()) for t in PHRASES
)


_CUTOFF: Final = 0.6


def _ratio(a: str, b: str) -> float:
    """difflib's similarity, skipping the full comparison when it cannot reach the cutoff."""
    matcher = difflib.SequenceMatcher(None, a, b)
    if matcher.real_quick_ratio() < _CUTOFF or matcher.quick_ratio() < _CUTOFF:
        return 0.0
    return matcher.ratio()


def suggest(text: str, limit: int = 3) -> list[str]:
    """The phrase templates closest to ``text`` (a typo, a half-remembered phrase)."""
    words = " ".join(text.lower().split()[:8])[:120]
    scored: list[tuple[float, int, str]] = []
    for index, (template, bare, head) in enumerate(_TEMPLATES):
        score = _ratio(words, bare)
        if head:
            prefix = " ".join(words.split()[: len(head.split())])
            score = max(score, _ratio(prefix, head))
        if score >= _CUTOFF:
            scored.append((-score, index, template))
    scored.sort()
    return [template for _, _, template in scored[:limit]]
