"""What the clients were told, and therefore what the tracker must show.

Every field a client changes belongs to that client alone (the tasks it added), so
the order of its own replies is the order of its changes. Per field the ledger keeps
the set of values the JSON may hold:

- an acknowledged write makes its value the only one allowed (last writer wins);
- a write with no answer (daemon killed, client gave up) adds its value to the set,
  since it may or may not have landed;
- a reported failure never lands: a unique value it carried is forbidden forever.

The original tasks belong to the hand editor: each hand edit adds its value to the
allowed set of that field (today the edit is kept aside; with merging it is adopted).
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["acked", "failed", "unknown"]
Value = str | bool | None
Key = tuple[str, str, str]  # ("task" | "sub", id, attribute)


@dataclass
class FieldState:
    allowed: set[Value]
    forbidden: set[Value] = field(default_factory=set)
    acked: bool = False  # an acknowledged write (or add) stands behind ``allowed``
    by: str = ""  # who was told so, and for what phrase (named when it is lost)


@dataclass
class Op:
    """One change a client asked for."""

    client: int
    kind: str  # add | status | rename | verify | addsub | check | uncheck
    phrase: str
    key: Key | None = None  # the field it sets (None for adds)
    value: Value = None
    name: str = ""  # the unique name an add carries
    task: str = ""  # the task an add-subtask goes to


@dataclass
class Counters:
    operations: int = 0
    acked: int = 0
    failed: int = 0
    unknown: int = 0


class Ledger:
    """Thread-safe record of acknowledged, failed and unanswered changes."""

    def __init__(self, original: dict[str, Any]) -> None:
        self._lock = threading.Lock()
        self.fields: dict[Key, FieldState] = {}
        self.known_names: set[str] = set()  # every task name that may legitimately exist
        self.failed_names: set[str] = set()  # names of adds that were reported failed
        self.why_failed: dict[Value, str] = {}  # a failed unique value → what the reply said
        self.acked_tasks: dict[str, str] = {}  # task id → the name it was added with
        self.acked_subs: dict[str, str] = {}
        self.counters = Counters()
        self.fail_codes: collections.Counter[str] = collections.Counter()
        self.log: list[tuple[int, Outcome, Op]] = []  # in reply order
        for task in original.get("tasks", []):
            tid, name = str(task["id"]), str(task.get("name", ""))
            self.known_names.add(name)
            self.fields[("task", tid, "name")] = FieldState({name})

    # ------------------------------------------------------------ recording

    def record(self, op: Op, outcome: Outcome, result: Any, why: str = "", code: str = "") -> None:
        """``why``/``code``: for a failure, what the reply said (named if the value shows up)."""
        with self._lock:
            if outcome == "failed":
                self.fail_codes[code or "?"] += 1
                if why:
                    self.why_failed[op.name or op.value] = why
            self.counters.operations += 1
            if outcome == "acked":
                self.counters.acked += 1
            elif outcome == "failed":
                self.counters.failed += 1
            else:
                self.counters.unknown += 1
            self.log.append((len(self.log), outcome, op))
            if op.kind == "add":
                self._record_add(op, outcome, result)
            elif op.kind == "addsub":
                self._record_addsub(op, outcome, result)
            else:
                self._record_write(op, outcome)

    def _record_add(self, op: Op, outcome: Outcome, result: Any) -> None:
        if outcome == "failed":
            self.failed_names.add(op.name)
            return
        self.known_names.add(op.name)
        if outcome == "acked":
            tid = str(result.get("task", "")) if isinstance(result, dict) else ""
            if not tid:
                return
            self.acked_tasks[tid] = op.name
            by = _by(op)
            self.fields[("task", tid, "name")] = FieldState({op.name}, acked=True, by=by)
            self.fields[("task", tid, "status")] = FieldState({"pending"}, acked=True, by=by)
            self.fields[("task", tid, "verification")] = FieldState({None}, acked=True, by=by)

    def _record_addsub(self, op: Op, outcome: Outcome, result: Any) -> None:
        if outcome != "acked" or not isinstance(result, dict):
            return
        sid = str(result.get("subtask", ""))
        if sid:
            self.acked_subs[sid] = op.name
            by = _by(op)
            self.fields[("sub", sid, "name")] = FieldState({op.name}, acked=True, by=by)
            self.fields[("sub", sid, "completed")] = FieldState({False}, acked=True, by=by)

    def _record_write(self, op: Op, outcome: Outcome) -> None:
        assert op.key is not None
        state = self.fields.setdefault(op.key, FieldState(set()))
        if op.kind == "rename" and outcome != "failed":
            assert isinstance(op.value, str)
            self.known_names.add(op.value)
        if outcome == "acked":
            state.allowed = {op.value}
            state.acked = True
            state.by = _by(op)
        elif outcome == "unknown":
            state.allowed.add(op.value)
        elif op.kind in ("rename", "verify"):  # unique values: must never appear
            state.forbidden.add(op.value)
            if op.kind == "rename":
                assert isinstance(op.value, str)
                self.failed_names.add(op.value)

    def hand_value(self, key: Key, value: str) -> None:
        """A hand edit wrote ``value`` into ``key``: it may or may not be adopted."""
        with self._lock:
            self.fields.setdefault(key, FieldState(set())).allowed.add(value)
            self.known_names.add(value)

    # ------------------------------------------------------------ checking

    def check(self, data: dict[str, Any]) -> tuple[list[str], int]:
        """Compare a tracker (parsed JSON) with the ledger: (violations, lost changes)."""
        with self._lock:
            return self._check(data)

    def _check(self, data: dict[str, Any]) -> tuple[list[str], int]:
        problems: list[str] = []
        lost = 0
        tasks = {str(t.get("id")): t for t in data.get("tasks", [])}
        subs = {str(s.get("id")): s for s in _all_subtasks(data)}
        ids = [str(t.get("id")) for t in data.get("tasks", [])]
        if len(ids) != len(set(ids)):
            problems.append(
                f"duplicate task ids: {sorted(i for i in set(ids) if ids.count(i) > 1)}"
            )
        names = [str(t.get("name")) for t in data.get("tasks", [])]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            problems.append(f"task names present more than once (applied twice?): {dupes}")
        for name in sorted(set(names) - self.known_names):
            problems.append(f"unexpected task {name!r} (nobody wrote it)")
        for name in sorted(set(names) & self.failed_names):
            problems.append(
                f"task {name!r} present although its change was reported failed" + self._why(name)
            )
        for (kind, ident, attr), state in sorted(self.fields.items(), key=_key_order):
            entity = (tasks if kind == "task" else subs).get(ident)
            if entity is None:
                if state.acked:
                    lost += 1
                    problems.append(f"LOST: acknowledged {kind} {ident} is missing ({state.by})")
                continue
            value = entity.get(attr)
            if attr == "completed":
                value = bool(value)
            if value in state.forbidden:
                problems.append(
                    f"{kind} {ident}.{attr} = {value!r}, a change that was reported failed"
                    + self._why(value)
                )
            elif value not in state.allowed:
                if state.acked:
                    lost += 1
                problems.append(
                    f"{'LOST: ' if state.acked else ''}{kind} {ident}.{attr} = {value!r}, "
                    f"expected one of {sorted(map(repr, state.allowed))}"
                    + (f" ({state.by})" if state.acked else "")
                )
        return problems, lost

    def _why(self, value: Value) -> str:
        why = self.why_failed.get(value)
        return f" ({why})" if why else ""


def _by(op: Op) -> str:
    return f"acknowledged to client {op.client} for {op.phrase!r}"


def _key_order(item: tuple[Key, FieldState]) -> tuple[str, ...]:
    return item[0]


def _all_subtasks(data: dict[str, Any]) -> list[dict[str, Any]]:
    subs: list[dict[str, Any]] = list(data.get("subtasks", []))
    for task in data.get("tasks", []):  # a v2 file may also nest them
        nested = task.get("subtasks")
        if isinstance(nested, list):
            subs.extend(s for s in nested if isinstance(s, dict))
    return subs
