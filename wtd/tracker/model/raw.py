"""Between raw JSON values (dicts and lists) and the Structs: ``from_raw`` validates and
keeps every unknown key in ``extra``; ``to_raw`` writes them back.
"""

from __future__ import annotations

import operator
import re
from typing import Any, Final, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from wtd.tracker import status as st
from wtd.tracker.model.fit import fit_schema, migrate_v1
from wtd.tracker.model.limits import check_nesting
from wtd.tracker.model.structs import (
    MAX_BYTES,
    MAX_DEPTH,
    Meta,
    Phase,
    Subtask,
    Task,
    Tracker,
    TrackerError,
)

S = TypeVar("S", bound=msgspec.Struct)

_TUPLE_FIELDS: Final = {"evidence", "dependencies"}
# How many arrays and objects enclose an entity's field values: the top level (1),
# ``phases`` / ``tasks`` / ``subtasks`` (2), the entity (3); the meta's are at 2.
_ENTITY_LEVEL: Final = 3
_META_LEVEL: Final = 2


def _from_raw(cls: type[S], raw: Any, where: str, max_depth: int, /, **override: Any) -> S:
    if not isinstance(raw, dict):
        raise TrackerError(f"{where}: expected an object, got {type(raw).__name__}")
    known = set(cls.__struct_fields__) - {"extra"}
    level = _META_LEVEL if cls is Meta else _ENTITY_LEVEL
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in known:
            if key in _TUPLE_FIELDS and isinstance(value, list):
                if key == "evidence":  # free-form objects: may nest
                    check_nesting(value, f"{where}.{key}", max_depth, level)
                value = tuple(value)
            kwargs[key] = value
        else:
            extra[key] = value
    if extra:  # kept verbatim: may nest
        for key, value in extra.items():
            if isinstance(value, dict | list):
                check_nesting(value, f"{where}.{key}", max_depth, level)
    if cls is Meta and isinstance(kwargs.get("progress"), dict):  # free-form too
        check_nesting(kwargs["progress"], f"{where}.progress", max_depth, level)
    kwargs.update(override)
    kwargs["extra"] = extra
    try:
        return msgspec.convert(kwargs, cls)
    except msgspec.ValidationError as exc:
        raise TrackerError(f"{where}: {exc}") from None


def _canonical_status(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise TrackerError(f"{where}.status: expected a string")
    canon = st.normalize(value)
    if canon is None:
        raise TrackerError(f"{where}.status: unknown status {value!r}")
    return canon


def entity_from_raw(cls: type[S], raw: Any, where: str, *, max_depth: int = MAX_DEPTH) -> S:
    """One entity (Meta, Phase, Task, Subtask) from its JSON object, status normalised.

    Raises LimitExceeded when a value nests deeper than ``max_depth`` levels counted
    from the top of the tracker the entity belongs to.
    """
    if isinstance(raw, dict) and "status" in raw and cls is not Meta:
        return _from_raw(cls, raw, where, max_depth, status=_canonical_status(raw["status"], where))
    return _from_raw(cls, raw, where, max_depth)


def _entities(cls: type[S], items: list[Any], name: str, max_depth: int) -> tuple[S, ...]:
    return tuple(
        _from_raw(
            cls,
            item,
            f"{name}[{i}]",
            max_depth,
            **(
                {"status": _canonical_status(item["status"], f"{name}[{i}]")}
                if isinstance(item, dict) and "status" in item
                else {}
            ),
        )
        for i, item in enumerate(items)
    )


def from_raw(raw: Any, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Tracker:
    """Build a Tracker from decoded JSON (v2, or v1 which is migrated first).

    Statuses are normalised to the canonical vocabulary; everything else is kept. A v1
    tracker comes out schema-valid (``migrate_v1``, then ``fit_schema``); a v2 one as
    it is (the Store fits it when it opens or adopts it, and says what it changed).
    Raises TrackerError naming the first field that is not a valid tracker, and
    LimitExceeded (a TrackerError) naming the first value that nests deeper than
    ``max_depth`` levels. Decoded data has no byte size: ``max_bytes`` is accepted so
    every decode path takes the same limits, and is checked where bytes are read.
    """
    if not isinstance(raw, dict):
        raise TrackerError("tracker: expected a JSON object at the top level")
    is_v1 = "schema_version" not in raw
    if is_v1:
        raw = migrate_v1(raw)
    version = raw.get("schema_version")
    if not isinstance(version, str) or not version.startswith("2."):
        raise TrackerError(f"schema_version: unsupported version {version!r}")
    for key in ("meta", "phases", "tasks"):
        if key not in raw:
            raise TrackerError(f"tracker: missing required field {key!r}")
    for key in ("phases", "tasks", "subtasks", "events"):
        if key in raw and not isinstance(raw[key], list):
            raise TrackerError(f"{key}: expected an array")
    known = {"schema_version", "meta", "phases", "tasks", "subtasks", "events"}
    extra = {k: v for k, v in raw.items() if k not in known}
    for key, value in [*extra.items(), ("events", raw.get("events"))]:
        if isinstance(value, dict | list):
            check_nesting(value, key, max_depth, 1)
    meta = _from_raw(Meta, raw["meta"], "meta", max_depth)
    phases = _entities(Phase, raw["phases"], "phases", max_depth)
    tasks = _entities(Task, raw["tasks"], "tasks", max_depth)
    subtasks: tuple[Subtask, ...] | UnsetType = UNSET
    if "subtasks" in raw:
        subtasks = _entities(Subtask, raw["subtasks"], "subtasks", max_depth)
    events: tuple[dict[str, Any], ...] | UnsetType = UNSET
    if "events" in raw:
        events = tuple(raw["events"])
    tracker = Tracker(
        schema_version=version,
        meta=meta,
        phases=phases,
        tasks=tasks,
        subtasks=subtasks,
        events=events,
        extra=extra,
    )
    check_ids(tracker)
    if is_v1:  # v1 values the v2 schema cannot hold are mapped (fit_schema)
        tracker = fit_schema(tracker)[0]
    return tracker


# Task ids as X.Y, one a line: the common case, checked at C speed (``check_ids``)
_TASK_ID_LINES: Final = re.compile(r"[0-9]+\.[0-9]+(?:\n[0-9]+\.[0-9]+)*+")
_task_id: Final = operator.attrgetter("id")


def check_ids(tracker: Tracker) -> None:
    """Every task id looks like X.Y (digits) and is unique; phase numbers are unique.

    Ids of ASCII digits, all distinct, are told apart at C speed (a set, one match of
    the ids joined by newlines: ~12 ms instead of ~40 for 100k tasks); anything else
    is looked at id by id, which names the first wrong one.
    """
    ids = list(map(_task_id, tracker.tasks))
    joined = "\n".join(ids)
    fine = not ids or (
        len(set(ids)) == len(ids)
        and joined.count("\n") == len(ids) - 1  # no id holds a newline
        and _TASK_ID_LINES.fullmatch(joined) is not None
    )
    if not fine:
        _check_each_id(tracker)
    numbers = [p.number for p in tracker.phases]
    if len(set(numbers)) != len(numbers):
        raise TrackerError("phases: duplicate phase number")


def _check_each_id(tracker: Tracker) -> None:
    seen: set[str] = set()
    for task in tracker.tasks:
        parts = task.id.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise TrackerError(f"task {task.id!r}: id must look like X.Y")
        if task.id in seen:
            raise TrackerError(f"task {task.id!r}: duplicate id")
        seen.add(task.id)


def struct_raw(obj: msgspec.Struct) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in obj.__struct_fields__:
        if name == "extra":
            continue
        value = getattr(obj, name)
        if value is UNSET:
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    out.update(getattr(obj, "extra"))  # noqa: B009 - every model Struct has extra
    return out


def to_raw(tracker: Tracker) -> dict[str, Any]:
    """The tracker as plain JSON-ready data: modelled fields first, then kept extras."""
    raw: dict[str, Any] = {
        "schema_version": tracker.schema_version,
        "meta": struct_raw(tracker.meta),
        "phases": [struct_raw(p) for p in tracker.phases],
        "tasks": [struct_raw(t) for t in tracker.tasks],
    }
    if not isinstance(tracker.subtasks, UnsetType):
        raw["subtasks"] = [struct_raw(s) for s in tracker.subtasks]
    if not isinstance(tracker.events, UnsetType):
        raw["events"] = list(tracker.events)
    raw.update(tracker.extra)
    return raw
