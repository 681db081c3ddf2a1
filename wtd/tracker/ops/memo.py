"""The memo behind cheap changes: per tasks tuple (by identity), its per-phase
(complete, counted) counts and, when big, its id → index map.

The tuples are immutable values, so what is remembered of one never goes stale; a
few recent ones are kept (least recently used first out).
"""

from __future__ import annotations

import threading
from collections import Counter
from operator import attrgetter
from typing import Final

from wtd.tracker import status as st
from wtd.tracker.model import Task

# Per phase: (complete, counted). Never mutated once built.
Counts = dict[int, tuple[int, int]]


class _Facts:
    """What we know about one tasks tuple: progress counts and, when big, id → index."""

    __slots__ = ("counts", "pos", "tasks")

    def __init__(self, tasks: tuple[Task, ...], counts: Counts | None = None) -> None:
        self.tasks = tasks  # the strong ref keeps id(tasks) unique while memoised
        self.counts = counts
        self.pos: dict[str, int] | None = None


_MEMO_SIZE: Final = 8
# From this many tasks a change finds its task in an id → index map, not by a scan:
# the map is built once (at load, ``prime``) and carried over by every change that
# keeps the tasks in place, and a change looks its task up twice (the change, then
# its claim). At 1k tasks the scans cost ~40 µs of the loop's time per change.
INDEX_FROM: Final = 64
_memo: dict[int, _Facts] = {}
_memo_lock = threading.Lock()
_phase_status = attrgetter("phase", "status")
task_id_of = attrgetter("id")


def facts_of(tasks: tuple[Task, ...]) -> _Facts:
    with _memo_lock:
        # Least recently used goes first; pop + insert moves an entry to the end.
        facts = _memo.pop(id(tasks), None)
        if facts is None or facts.tasks is not tasks:
            facts = _Facts(tasks)
        _memo[id(tasks)] = facts
        while len(_memo) > _MEMO_SIZE:
            del _memo[next(iter(_memo))]
        return facts


def remember(tasks: tuple[Task, ...], counts: Counts, pos: dict[str, int] | None) -> None:
    facts = facts_of(tasks)
    facts.counts = counts
    facts.pos = pos


def counts_of(tasks: tuple[Task, ...]) -> Counts:
    """Per-phase (complete, counted) for ``tasks``: memoised by the tuple's identity."""
    facts = facts_of(tasks)
    if facts.counts is not None:
        return facts.counts
    per: dict[int, list[int]] = {}
    for (phase, status), n in Counter(map(_phase_status, tasks)).items():
        slot = per.setdefault(phase, [0, 0])
        if status in st.EXCLUDED:
            continue
        slot[1] += n
        if status == "complete":
            slot[0] += n
    facts.counts = counts = {p: (a, b) for p, (a, b) in per.items()}
    return counts
