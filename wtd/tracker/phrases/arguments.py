"""The arguments of a phrase: task, sub-task and phase ids, statuses, titles, texts and
evidence, each read or refused with the ``ParseError`` that ``parse`` returns.
"""

from __future__ import annotations

import difflib
import re
from typing import Final

import msgspec

from wtd.tracker import commands as c
from wtd.tracker import status as st


class ParseError(msgspec.Struct, frozen=True, kw_only=True):
    """Why a phrase was not understood; ``code`` is a wire error code."""

    code: str
    message: str
    suggestions: list[str] = []


TITLE_MAX: Final = 200
TEXT_MAX: Final = 4000  # reasons and evidence texts
INPUT_MAX: Final = 10_000

_TASK_ID = re.compile(r"[0-9]+\.[0-9]+")
# an imported plan's own ID (spec-kit's T003, a sheet's TASK-12, Cursor's dual-write or
# setup_db), found by ops.find_task
_SOURCE_ID = re.compile(r"[A-Za-z]{1,12}-?[0-9]{1,9}|[A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+){1,8}")
_SUBTASK_ID = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")
_NUMBER = re.compile(r"[+-]?[0-9]+")
# Trailing whitespace and punctuation, matched at the start of the reversed text: a
# search for r"[\s.?!]+\Z" took quadratic time on a long run of spaces inside a phrase.
_TRAILING_REVERSED = re.compile(r"[\s.?!]*")
QUOTES: Final[dict[str, str]] = {'"': '"', "'": "'", "“": "”", "‘": "’", "`": "`"}


def drop_trailing(text: str) -> str:
    """``text`` without its trailing whitespace and ``.?!`` (linear time)."""
    end = _TRAILING_REVERSED.match(text[::-1])
    return text[: len(text) - end.end()] if end is not None else text


def to_int(digits: str) -> int | None:
    """``int(digits)``, or None where Python refuses (over 4,300 digits, or "²")."""
    try:
        return int(digits)
    except ValueError:
        return None


class Reject(Exception):
    """Internal: an argument was refused; carries the ParseError that ``parse`` returns."""

    def __init__(self, error: ParseError) -> None:
        super().__init__(error.message)
        self.error = error


def read_task_id(raw: str) -> str:
    if _TASK_ID.fullmatch(raw) or _SOURCE_ID.fullmatch(raw):
        return raw
    raise Reject(
        ParseError(
            code="invalid_task_id",
            message=(
                f"Invalid task ID format: '{raw}' (expected X.Y, e.g. 2.1, or the ID an "
                "imported plan gave it, e.g. T003)"
            ),
        )
    )


def read_subtask_id(raw: str) -> str:
    if _SUBTASK_ID.fullmatch(raw):
        return raw
    raise Reject(
        ParseError(
            code="invalid_task_id",
            message=f"Invalid sub-task ID format: '{raw}' (expected X.Y.Z, e.g. 2.1.3)",
        )
    )


def read_phase(raw: str) -> int:
    number = to_int(raw) if _NUMBER.fullmatch(raw) else None
    if number is not None and number > 0:
        return number
    raise Reject(
        ParseError(
            code="invalid_argument",
            message=f"Invalid phase number: '{raw}' (expected a positive integer, e.g. 2)",
        )
    )


def read_status(raw: str) -> tuple[str, str]:
    """(canonical, given) for a typed status; given is stripped of trailing punctuation."""
    given = drop_trailing(raw).strip()
    canonical = st.normalize(given)
    if canonical is not None:
        return canonical, given
    raise Reject(
        ParseError(
            code="invalid_status",
            message=f"Invalid status '{given}' (expected one of: {', '.join(st.STATUSES)})",
            suggestions=st.suggest(given),
        )
    )


def unquote(raw: str) -> str:
    text = raw.strip()
    if len(text) >= 2 and QUOTES.get(text[0]) == text[-1]:
        return text[1:-1].strip()
    return text


def read_text(raw: str, what: str, limit: int = TITLE_MAX, *, newlines: bool = False) -> str:
    text = unquote(raw)
    if not text:
        problem = f"{what} must not be empty"
    elif len(text) > limit:
        problem = f"{what} is too long ({len(text)} characters, at most {limit})"
    elif not newlines and ("\n" in text or "\r" in text):
        problem = f"{what} must be on one line"
    else:
        return text
    raise Reject(ParseError(code="invalid_argument", message=problem))


def read_evidence(raw: str) -> tuple[str, str]:
    """Split ``TYPE "text"`` (TYPE in any spelling: manual note, manual-note …)."""
    words = raw.strip().split(None, 2)
    for width in (2, 1):
        if len(words) < width:
            continue
        key = "_".join(words[:width]).replace("-", "_").rstrip(":").lower()
        if key in c.EVIDENCE_TYPES:
            rest = raw.strip().split(None, width)
            body = rest[width] if len(rest) > width else ""
            return key, read_text(body.lstrip(":"), "Evidence text", TEXT_MAX, newlines=True)
    typed = words[0].rstrip(":") if words else ""
    near = difflib.get_close_matches(
        typed.replace("-", "_").lower(), c.EVIDENCE_TYPES, n=3, cutoff=0.5
    )
    raise Reject(
        ParseError(
            code="invalid_argument",
            message=(
                f"Invalid evidence type '{typed}' (expected one of: {', '.join(c.EVIDENCE_TYPES)})"
            ),
            suggestions=near,
        )
    )
