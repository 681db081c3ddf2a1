"""The notes a person wrote, kept in the ``extra`` of a phase, a task, a sub-task
and the tracker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

NOTES: Final = "notes"
"""The key of the notes kept in the ``extra`` of a phase, a task, a sub-task and the
tracker: a list of lines a person wrote (detail bullets, ``_Requirements:_``, the rest
of a name cut at MAX_TEXT characters, plan-level prose…); "" is a paragraph break. The
schema does not know the field: it is an unknown field, preserved like any other; the
view shows and edits it (``render``, ``markdown``)."""


def notes_of(extra: dict[str, Any]) -> list[str] | None:
    """The notes in ``extra``: a list of strings, [] when there are none, None when the
    field holds something else (then it is left alone: never shown, never replaced)."""
    value = extra.get(NOTES)
    if value is None:
        return []
    if isinstance(value, list) and all(isinstance(line, str) for line in value):
        return value
    return None


def with_notes(extra: dict[str, Any], notes: Sequence[str]) -> dict[str, Any]:
    """``extra`` with its notes set to ``notes`` (the field removed when there are none)."""
    out = {k: v for k, v in extra.items() if k != NOTES}
    if notes:
        out[NOTES] = list(notes)
    return out


def prepend_notes(extra: dict[str, Any], lines: list[str]) -> dict[str, Any]:
    """``extra`` with ``lines`` before its notes (a "notes" field that is not a list of
    lines is kept as lines of its own: its text, or its JSON)."""
    old = extra.get(NOTES)
    if old is None:
        kept: list[str] = []
    elif isinstance(old, list) and all(isinstance(line, str) for line in old):
        kept = old
    else:
        kept = [old if isinstance(old, str) else msgspec.json.encode(old).decode()]
    return {**extra, NOTES: [*lines, *kept]}
