"""The tracker's values: immutable msgspec Structs (``Tracker``, ``Meta``, ``Phase``,
``Task``, ``Subtask``), the schema version and limits, and the model's errors.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Iterator, Sequence
from typing import Any, Final, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

_T = TypeVar("_T")

SCHEMA_VERSION: Final = "2.1.0"

MAX_BYTES: Final = 64 * 1024 * 1024
"""The default size limit of a tracker or view file (SPEC §2)."""
MAX_DEPTH: Final = 100
"""The default nesting limit of tracker JSON: arrays and objects, the top-level object
being level 1 (SPEC §2). wtd's own fields nest at most 5 deep (a task's evidence); the
rest is room for unknown fields."""


class TrackerError(Exception):
    """The tracker document cannot be understood (not a schema-valid v1/v2 tracker)."""


class LimitExceeded(TrackerError):
    """The document is over a size limit (bytes, or nesting depth): it is refused before it
    is parsed, so a runaway or hostile file costs neither memory, nor the stack, nor time."""


class Meta(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    initiative_id: str | UnsetType = UNSET
    status: str | UnsetType = UNSET
    created: str | UnsetType = UNSET
    updated: str | UnsetType = UNSET
    fingerprint: str | UnsetType = UNSET
    progress: dict[str, Any] | UnsetType = UNSET
    extra: dict[str, Any] = {}


class Phase(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    name: str
    status: str = "pending"
    progress: int | UnsetType = UNSET
    description: str | UnsetType = UNSET
    extra: dict[str, Any] = {}


# Tasks and sub-tasks are not tracked by the cyclic garbage collector (``gc=False``):
# a big tracker holds hundreds of thousands, which every full collection walked (~15 ms
# per 100k tasks, and as much again for the young collection that follows decoding).
# They hold JSON values only (strings, numbers, tuples, dicts and lists of them), never
# a reference back to anything that holds them, so they are never part of a cycle and
# reference counting frees them.


class Task(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: str
    phase: int
    name: str | UnsetType = UNSET
    description: str | UnsetType = UNSET
    status: str = "pending"
    progress: int | UnsetType = UNSET
    verification: str | UnsetType = UNSET
    evidence: tuple[dict[str, Any], ...] | UnsetType = UNSET
    dependencies: tuple[str, ...] | UnsetType = UNSET
    extra: dict[str, Any] = {}

    @property
    def title(self) -> str:
        """The task's display name (ECW allows ``description`` in place of ``name``)."""
        if isinstance(self.name, str):
            return self.name
        return self.description if isinstance(self.description, str) else ""


class Subtask(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: str
    task_id: str
    name: str
    status: str | UnsetType = UNSET
    progress: int | UnsetType = UNSET
    completed: bool | UnsetType = UNSET
    extra: dict[str, Any] = {}

    @property
    def done(self) -> bool:
        return self.completed is True or self.status == "complete"


class Tracker(msgspec.Struct, frozen=True, kw_only=True):
    schema_version: str
    meta: Meta
    phases: tuple[Phase, ...]
    tasks: tuple[Task, ...]
    subtasks: tuple[Subtask, ...] | UnsetType = UNSET
    events: tuple[dict[str, Any], ...] | UnsetType = UNSET
    extra: dict[str, Any] = {}

    def task(self, task_id: str) -> Task | None:
        for task in self.tasks:
            if task.id == task_id:
                return task
        return None

    def phase(self, number: int) -> Phase | None:
        for phase in self.phases:
            if phase.number == number:
                return phase
        return None

    def subtasks_of(self, task_id: str) -> list[Subtask]:
        if isinstance(self.subtasks, UnsetType):
            return []
        return [s for s in self.subtasks if s.task_id == task_id]

    def all_subtasks(self) -> tuple[Subtask, ...]:
        return () if isinstance(self.subtasks, UnsetType) else self.subtasks


def tuple_from(seq: tuple[_T, ...], start: int) -> Iterator[_T]:
    """An iterator over ``seq[start:]`` that copies nothing (a tuple iterator can be
    moved to an index: ``__setstate__``, a CPython detail made for pickling)."""
    it = iter(seq)
    it.__setstate__(start)  # type: ignore[attr-defined]
    return it


# Splices (one item of a tuple replaced) as the ops make them, newest last: a change
# to one task is one. Who compares a tuple with an older version of it (the Encoder,
# the Renderer) finds what differs by following them back, instead of comparing every
# item. Strong references: an object id cannot be reused while it is listed here.
_SPLICES: Final[collections.deque[tuple[tuple[object, ...], tuple[object, ...], int]]] = (
    collections.deque(maxlen=8)
)


def note_splice(old: tuple[object, ...], new: tuple[object, ...], index: int) -> None:
    """``new`` is ``old`` with the item at ``index`` replaced (and nothing else)."""
    _SPLICES.append((old, new, index))


def spliced_at(a: tuple[object, ...], b: tuple[object, ...]) -> list[int] | None:
    """The indices where ``b`` may differ from ``a`` when ``b`` was made from ``a`` by
    the splices noted (every other item the very same object), or None when it was
    not (or that is no longer known)."""
    if len(a) != len(b):
        return None
    splices = list(_SPLICES)  # one C call: the ops note them on another thread
    at: list[int] = []
    current = b
    for _ in range(len(splices)):
        if current is a:
            return at
        for old, new, index in reversed(splices):
            if new is current:
                at.append(index)
                current = old
                break
        else:
            return None
    return at if current is a else None


def same_run(a: tuple[object, ...], i: int, b: tuple[object, ...], j: int) -> int:
    """How many objects from ``a[i]`` on are the very objects from ``b[j]`` on (C speed;
    ``==`` would also take equal values that encode or render differently, such as 1
    and True). From the splices that made ``b`` out of ``a`` when they are known: then
    a run may end at an item replaced by itself (never past a difference)."""
    if i == j and a is not b:
        at = spliced_at(a, b)
        if at is not None:
            return min((k for k in at if k >= i), default=len(a)) - i
    rest = tuple_from(a, i)
    if all(map(operator.is_, rest, tuple_from(b, j))):
        return min(len(a) - i, len(b) - j)
    return len(a) - i - 1 - operator.length_hint(rest)


def same_tail(a: tuple[object, ...], b: tuple[object, ...]) -> int:
    """How many of the last objects of ``a`` are the very last objects of ``b`` (from
    the splices that made ``b`` out of ``a`` when they are known, as ``same_run``)."""
    if a is not b:
        at = spliced_at(a, b)
        if at is not None:
            return len(a) - 1 - max(at, default=len(a) - 1)
    rest = reversed(a)
    if all(map(operator.is_, rest, reversed(b))):
        return min(len(a), len(b))
    return len(a) - 1 - operator.length_hint(rest)


def same_objects(a: Sequence[object], b: Sequence[object]) -> bool:
    """The very same objects, in order (a C-speed check; ``==`` would also take equal
    values that encode differently, such as ``1`` and ``1.0``)."""
    return len(a) == len(b) and all(map(operator.is_, a, b))
