"""What every change shares: the ``Applied`` outcome and the small helpers the
families use to check names and statuses, narrate, number and splice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final

import msgspec
from msgspec.structs import replace

from wtd import errors
from wtd.tracker import status as st
from wtd.tracker.model import Task, Tracker
from wtd.tracker.model.structs import note_splice

MAX_NAME: Final = 200


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of one change: the new tracker and what to tell the user."""

    tracker: Tracker
    lines: list[str]
    healing: list[str]
    result: dict[str, Any]
    changed: bool  # False: a no-op, the caller skips the write


def checked_name(text: str, what: str) -> str:
    name = text.strip()
    if not name:
        raise errors.InvalidArgument(f"{what} cannot be empty")
    if len(name) > MAX_NAME:
        raise errors.InvalidArgument(
            f"{what} is too long ({len(name)} characters; at most {MAX_NAME})"
        )
    return name


def checked_status(value: str) -> str:
    if not st.is_canonical(value):
        raise errors.InvalidArgument(
            f"Invalid status '{value}' (expected one of: {', '.join(st.STATUSES)})",
            suggestions=[s for s in (st.normalize(value),) if s] or st.suggest(value),
        )
    return value


def _narrate(given: str, status: str, result: str) -> list[str]:
    return [
        f"✓ Issue: Invalid status '{given}'",
        f"✓ Recovery: Normalized to '{status}'",
        f"✓ Result: {result}",
    ]


def _spelling(text: str) -> str:
    return "_".join(text.strip().lower().replace("-", " ").split())


def said(line: str, given: str, status: str) -> tuple[list[str], list[str]]:
    """(lines, healing): the narrative replaces the plain line when input was normalised."""
    if _spelling(given) == status:  # "In Progress" is a spelling, not an alias: no story
        return [line], []
    return [], _narrate(given, status, line)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def next_number(ids: Iterable[str], prefix: str) -> int:
    """1 + the largest last component among ``ids`` that start with ``prefix``."""
    top = 0
    for ident in ids:
        if ident.startswith(prefix):
            rest = ident[len(prefix) :]
            if rest.isdigit():
                top = max(top, int(rest))
    return top + 1


def insert_at(tasks: Sequence[Task], phase: int) -> int:
    """Where a new task of ``phase`` goes: after that phase's last task, else after the
    last task of an earlier phase, else first."""
    last_same = last_before = -1
    for i, task in enumerate(tasks):
        if task.phase == phase:
            last_same = i
        elif task.phase < phase:
            last_before = i
    return (last_same if last_same >= 0 else last_before) + 1


def splice(seq: tuple[Any, ...], i: int, item: Any) -> tuple[Any, ...]:
    """``seq`` with ``item`` at ``i``; noted, so that what differs is known (same_run)."""
    new = seq[:i] + (item,) + seq[i + 1 :]  # noqa: RUF005 - concatenation is faster
    note_splice(seq, new, i)
    return new


def without_dep(task: Task, dep: str) -> Task:
    assert isinstance(task.dependencies, tuple)
    return replace(task, dependencies=tuple(d for d in task.dependencies if d != dep))


def deps_of(task: Task) -> tuple[str, ...]:
    return task.dependencies if isinstance(task.dependencies, tuple) else ()


def evidence_of(task: Task) -> tuple[dict[str, Any], ...]:
    return task.evidence if isinstance(task.evidence, tuple) else ()


def is_verified(entry: dict[str, Any]) -> bool:
    vs = entry.get("verification_status")
    return vs == "verified" or (vs is None and entry.get("verified") is True)


def unchanged(tracker: Tracker, line: str, result: dict[str, Any]) -> Applied:
    return Applied(tracker=tracker, lines=[line], healing=[], result=result, changed=False)
