"""The merge's result (``MergeResult``, ``Conflict``, ``Renumbered``) and the small
merges it is made of: a log (``merge_log``), an order (``order``), a time (``later``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from datetime import datetime
from typing import Any, Final, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from wtd.tracker.model import Subtask, Tracker

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_SHOWN: Final = 60  # characters of a value shown in a conflict line


class Conflict(msgspec.Struct, frozen=True, kw_only=True):
    """A field both sides changed to different values (ours kept), or an entity deleted
    on one side and changed on the other (kept): then ``field`` is "", the deleting
    side's value UNSET and the other side's its entity as JSON.

    ``entity``: ``task 2.3``, ``sub-task 2.2.1``, ``phase 2``, ``meta`` or ``tracker``.
    A value UNSET is a field absent on that side.
    """

    entity: str
    field: str
    ours: Any = UNSET
    theirs: Any = UNSET

    def line(self) -> str:
        if not self.field:
            if self.ours is UNSET:
                return f"{self.entity}: deleted on ours, changed on theirs: kept (theirs')"
            return f"{self.entity}: deleted on theirs, changed on ours: kept (ours)"
        return (
            f"{self.entity} {self.field}: ours {show(self.ours)}, "
            f"theirs {show(self.theirs)}: ours kept"
        )


class Renumbered(msgspec.Struct, frozen=True, kw_only=True):
    """Theirs' entity, added on both sides under the same key, moved to ``new``."""

    entity: str  # "phase", "task" or "sub-task"
    old: str
    new: str
    moved: tuple[tuple[str, str], ...] = ()  # a phase's tasks that followed it: (old, new)

    def line(self) -> str:
        line = f"{self.entity} {self.old} added on both sides: theirs renumbered {self.new}"
        if self.moved:
            line += " (its tasks " + ", ".join(f"{a} → {b}" for a, b in self.moved) + ")"
        return line


class MergeResult(msgspec.Struct, frozen=True, kw_only=True):
    tracker: Tracker  # schema-fitted, progress derived
    conflicts: tuple[Conflict, ...]
    renumbered: tuple[Renumbered, ...]
    notes: tuple[str, ...]  # dependencies dropped, what fitting the schema changed

    @property
    def clean(self) -> bool:
        return not self.conflicts

    def lines(self) -> list[str]:
        """What a person should read: renumberings, notes, then conflicts."""
        return (
            [r.line() for r in self.renumbered]
            + list(self.notes)
            + ["CONFLICT " + c.line() for c in self.conflicts]
        )


def show(value: Any) -> str:
    """A field's value as JSON, cut short; UNSET as ``(absent)``."""
    if value is UNSET:
        return "(absent)"
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 1] + "…"


def same(a: Any, b: Any) -> bool:
    """Equal values of the same type (``1`` is not ``True``); UNSET is only UNSET."""
    return a is b or (type(a) is type(b) and a == b)


def _log_key(item: Any) -> bytes:
    return msgspec.json.encode(item)


def merge_log(base: Any, ours: Any, theirs: Any) -> Any:
    """Three-way merge of a log (a list, or UNSET): ours without what theirs removed,
    then what theirs added. UNSET when the result is empty and having none at all is
    what the merge of the three sides' presence says."""
    b = set(map(_log_key, base)) if isinstance(base, list | tuple) else set()
    o_items = list(ours) if isinstance(ours, list | tuple) else []
    t_items = list(theirs) if isinstance(theirs, list | tuple) else []
    t = set(map(_log_key, t_items))
    o = set(map(_log_key, o_items))
    out = [x for x in o_items if (k := _log_key(x)) not in b or k in t]
    out += [x for x in t_items if (k := _log_key(x)) not in b and k not in o]
    if not out:
        po, pt, pb = (x is not UNSET for x in (ours, theirs, base))
        if not (po if po == pt or pt == pb else pt):
            return UNSET
    return out


def by_key(items: Iterable[V], key: Callable[[V], K]) -> dict[K, V]:
    return {key(item): item for item in items}


def grouped(subtasks: Iterable[Subtask]) -> dict[str, list[Subtask]]:
    """Sub-tasks by the id of their task."""
    groups: dict[str, list[Subtask]] = {}
    for sub in subtasks:
        groups.setdefault(sub.task_id, []).append(sub)
    return groups


def order(
    ours: Iterable[K], theirs: Iterable[K], shared: Callable[[K], bool], keep: Mapping[K, V]
) -> list[V]:
    """The kept entities (``keep``) in ours' order; each of theirs' own after the one
    before it in theirs, and after what ours added there. ``shared(key)``: the key is in
    the base or on both sides (ours' additions are the others). Kept keys on neither
    side come last."""
    ours_keys = [k for k in ours if k in keep]
    in_ours = set(ours_keys)
    after: dict[K | None, list[K]] = {}
    anchor: K | None = None
    for k in theirs:
        if k in in_ours:
            anchor = k
        elif k in keep:
            after.setdefault(anchor, []).append(k)
    out: list[K] = []
    pending = after.pop(None, [])
    for k in ours_keys:
        if pending and shared(k):
            out.extend(pending)
            pending = []
        out.append(k)
        pending.extend(after.pop(k, ()))
    out.extend(pending)
    if len(out) < len(keep):
        placed = set(out)
        out.extend(k for k in keep if k not in placed)
    return [keep[k] for k in out]


def number(ident: str) -> tuple[str, int]:
    """An id split before its last number: ``3.4`` → ("3", 4), ``2.2.1`` → ("2.2", 1)."""
    head, _, tail = ident.rpartition(".")
    return head, int(tail) if tail.isdigit() else 0


def later(a: str | UnsetType, b: str | UnsetType) -> str | UnsetType:
    """The later of two RFC 3339 times (``a`` on a tie, or when they do not parse)."""
    if not isinstance(a, str):
        return b
    if not isinstance(b, str):
        return a
    try:
        return b if datetime.fromisoformat(b) > datetime.fromisoformat(a) else a
    except ValueError:
        return a
