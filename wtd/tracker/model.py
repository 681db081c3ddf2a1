"""The ECW work-tracker v2 model: immutable msgspec Structs that round-trip losslessly.

Fields we model are typed; every other key of every object is kept verbatim in
``extra`` and written back, so a tracker that carries fields from newer or other
tools loses nothing when wtd rewrites it. Optional fields that were absent stay
absent (``UNSET``). Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence
from typing import Any, Final, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from wtd.tracker import status as st

SCHEMA_VERSION: Final = "2.1.0"


class TrackerError(Exception):
    """The tracker document cannot be understood (not a schema-valid v1/v2 tracker)."""


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


class Task(msgspec.Struct, frozen=True, kw_only=True):
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


class Subtask(msgspec.Struct, frozen=True, kw_only=True):
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


S = TypeVar("S", bound=msgspec.Struct)

_TUPLE_FIELDS: Final = {"evidence", "dependencies"}


def _from_raw(cls: type[S], raw: Any, where: str, **override: Any) -> S:
    if not isinstance(raw, dict):
        raise TrackerError(f"{where}: expected an object, got {type(raw).__name__}")
    known = set(cls.__struct_fields__) - {"extra"}
    kwargs: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in raw.items():
        if key in known:
            kwargs[key] = (
                tuple(value) if key in _TUPLE_FIELDS and isinstance(value, list) else value
            )
        else:
            extra[key] = value
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


def entity_from_raw(cls: type[S], raw: Any, where: str) -> S:
    """One entity (Meta, Phase, Task, Subtask) from its JSON object, status normalised."""
    if isinstance(raw, dict) and "status" in raw and cls is not Meta:
        return _from_raw(cls, raw, where, status=_canonical_status(raw["status"], where))
    return _from_raw(cls, raw, where)


def from_raw(raw: Any) -> Tracker:
    """Build a Tracker from decoded JSON (v2, or v1 which is migrated first).

    Statuses are normalised to the canonical vocabulary; everything else is kept.
    Raises TrackerError naming the first field that is not a valid tracker.
    """
    if not isinstance(raw, dict):
        raise TrackerError("tracker: expected a JSON object at the top level")
    if "schema_version" not in raw:
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
    meta = _from_raw(Meta, raw["meta"], "meta")
    phases = tuple(
        _from_raw(
            Phase,
            p,
            f"phases[{i}]",
            **(
                {"status": _canonical_status(p["status"], f"phases[{i}]")}
                if isinstance(p, dict) and "status" in p
                else {}
            ),
        )
        for i, p in enumerate(raw["phases"])
    )
    tasks = tuple(
        _from_raw(
            Task,
            t,
            f"tasks[{i}]",
            **(
                {"status": _canonical_status(t["status"], f"tasks[{i}]")}
                if isinstance(t, dict) and "status" in t
                else {}
            ),
        )
        for i, t in enumerate(raw["tasks"])
    )
    subtasks: tuple[Subtask, ...] | UnsetType = UNSET
    if "subtasks" in raw:
        subtasks = tuple(
            _from_raw(
                Subtask,
                s,
                f"subtasks[{i}]",
                **(
                    {"status": _canonical_status(s["status"], f"subtasks[{i}]")}
                    if isinstance(s, dict) and "status" in s
                    else {}
                ),
            )
            for i, s in enumerate(raw["subtasks"])
        )
    events: tuple[dict[str, Any], ...] | UnsetType = UNSET
    if "events" in raw:
        events = tuple(raw["events"])
    known = {"schema_version", "meta", "phases", "tasks", "subtasks", "events"}
    extra = {k: v for k, v in raw.items() if k not in known}
    tracker = Tracker(
        schema_version=version,
        meta=meta,
        phases=phases,
        tasks=tasks,
        subtasks=subtasks,
        events=events,
        extra=extra,
    )
    _check_ids(tracker)
    return tracker


def _check_ids(tracker: Tracker) -> None:
    seen: set[str] = set()
    for task in tracker.tasks:
        parts = task.id.split(".")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise TrackerError(f"task {task.id!r}: id must look like X.Y")
        if task.id in seen:
            raise TrackerError(f"task {task.id!r}: duplicate id")
        seen.add(task.id)
    numbers = [p.number for p in tracker.phases]
    if len(set(numbers)) != len(numbers):
        raise TrackerError("phases: duplicate phase number")


def _struct_raw(obj: msgspec.Struct) -> dict[str, Any]:
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
        "meta": _struct_raw(tracker.meta),
        "phases": [_struct_raw(p) for p in tracker.phases],
        "tasks": [_struct_raw(t) for t in tracker.tasks],
    }
    if not isinstance(tracker.subtasks, UnsetType):
        raw["subtasks"] = [_struct_raw(s) for s in tracker.subtasks]
    if not isinstance(tracker.events, UnsetType):
        raw["events"] = list(tracker.events)
    raw.update(tracker.extra)
    return raw


def checksum(data: bytes) -> str:
    """The content digest of tracker bytes that wtd journals and the view shows.

    128-bit blake2b: journals and views written by every wtd version carry it, so it
    must not change (SHA-256 would be ~10 ms faster on a 100k-task tracker here).
    """
    return hashlib.blake2b(data, digest_size=16).hexdigest()


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode(tracker: Tracker) -> bytes:
    """Deterministic, human-readable JSON bytes (2-space indent, trailing newline)."""
    return msgspec.json.format(_encoder.encode(to_raw(tracker)), indent=2) + b"\n"


_TASKS_MARK = "\x00wtd:tasks\x00"
_TASKS_LINE = b'    "\\u0000wtd:tasks\\u0000"'
_CHUNK: Final = 256
# A task encoded natively as an item of a formatted list ends with its empty
# ``extra`` field; nothing else in the list sits at that indentation.
_EMPTY_EXTRA: Final = b',\n    "extra": {}\n  }'


def _encode_chunk(tasks: tuple[Task, ...]) -> bytes:
    """Tasks as the items of the ``tasks`` array, indented as ``encode`` writes them."""
    if any(t.extra for t in tasks):
        items = [msgspec.json.format(_encoder.encode(_struct_raw(t)), indent=2) for t in tasks]
        body = b",\n".join(items)
        return b"    " + body.replace(b"\n", b"\n    ")
    text = msgspec.json.format(_encoder.encode(tasks), indent=2)  # natively: C speed
    body = text[2:-2].replace(_EMPTY_EXTRA, b"\n  }")  # drop "[\n" and "\n]"
    return b"  " + body.replace(b"\n", b"\n  ")


def same_objects(a: Sequence[object], b: Sequence[object]) -> bool:
    """The very same objects, in order (a C-speed check; ``==`` would also take equal
    values that encode differently, such as ``1`` and ``1.0``)."""
    return len(a) == len(b) and all(map(operator.is_, a, b))


class Encoder:
    """``encode`` with a cache of the tasks array, in chunks of consecutive tasks.

    Tasks are immutable and unchanged ones are shared between a tracker and the next
    version, so a change re-encodes only the chunk holding the task it touched. The output
    is byte-for-byte ``encode(tracker)``. One Encoder per tracker (the Store's).
    """

    def __init__(self) -> None:
        self._chunks: list[tuple[tuple[Task, ...], bytes]] = []

    def encode(self, tracker: Tracker) -> bytes:
        tasks = tracker.tasks
        if not tasks:
            self._chunks = []
            return encode(tracker)
        shell = msgspec.structs.replace(tracker, tasks=())
        raw = to_raw(shell)
        raw["tasks"] = [_TASKS_MARK]
        text = msgspec.json.format(_encoder.encode(raw), indent=2)
        old = self._chunks
        chunks: list[tuple[tuple[Task, ...], bytes]] = []
        for n, start in enumerate(range(0, len(tasks), _CHUNK)):
            chunk = tasks[start : start + _CHUNK]
            if n < len(old) and same_objects(old[n][0], chunk):
                chunks.append(old[n])
            else:
                chunks.append((chunk, _encode_chunk(chunk)))
        self._chunks = chunks
        head, tail = text.split(_TASKS_LINE, 1)
        parts = [head]
        for _, fragment in chunks:
            parts.append(fragment)
            parts.append(b",\n")
        parts[-1] = tail
        parts.append(b"\n")
        return b"".join(parts)  # one copy of the document


_typed_decoder = msgspec.json.Decoder(Tracker)
_CANONICAL: Final = frozenset(st.STATUSES)
_CANONICAL_START: Final = b'{\n  "schema_version": "2.'


def decode(data: bytes, *, encoder: Encoder | None = None) -> Tracker:
    """Parse tracker JSON bytes. Raises TrackerError when they are not a valid tracker.

    Bytes that wtd wrote itself (canonical v2, statuses canonical, ids well formed)
    are decoded straight into the model, which is several times faster on big
    trackers; the encoding of the result must give back the very same bytes, which
    proves nothing (an unknown field, an alias) was dropped. Anything else takes the
    general path. ``encoder`` (the Store's) is warmed by that check.
    """
    fast = decode_canonical(data, encoder or Encoder())
    if fast is not None:
        return fast
    try:
        raw = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise TrackerError(f"not valid JSON: {exc}") from None
    return from_raw(raw)


def decode_canonical(data: bytes, encoder: Encoder) -> Tracker | None:
    """The tracker when ``data`` is exactly what ``encoder`` writes for it, else None."""
    if not data.startswith(_CANONICAL_START):  # formatted by someone else: not worth trying
        return None
    try:
        tracker = _typed_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if not tracker.schema_version.startswith("2."):
        return None
    statuses = {t.status for t in tracker.tasks}
    statuses.update(p.status for p in tracker.phases)
    statuses.update(s.status for s in tracker.all_subtasks() if isinstance(s.status, str))
    if not statuses <= _CANONICAL:
        return None
    if encoder.encode(tracker) != data:
        return None
    try:
        _check_ids(tracker)
    except TrackerError:
        return None
    return tracker


def migrate_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Migrate a v1 tracker (no ``schema_version``) to v2.

    v1 embeds sub-tasks in their task; v2 keeps them in a top-level ``subtasks``
    array. v1 may lack ``meta`` or its title. Legacy evidence keys are kept.
    """
    out = dict(raw)
    out["schema_version"] = SCHEMA_VERSION
    meta = dict(raw.get("meta") or {})
    meta.setdefault("title", "Untitled tracker")
    if not meta["title"]:
        meta["title"] = "Untitled tracker"
    out["meta"] = meta
    subtasks: list[dict[str, Any]] = list(raw.get("subtasks") or [])
    tasks: list[Any] = []
    for task in raw.get("tasks") or []:
        if isinstance(task, dict) and isinstance(task.get("subtasks"), list):
            task = dict(task)
            embedded = task.pop("subtasks")
            for n, sub in enumerate(embedded, start=1):
                if not isinstance(sub, dict):
                    continue
                sub_id = sub.get("id") or f"{task.get('id')}.{n}"
                done = bool(sub.get("completed", False))
                entry = {k: v for k, v in sub.items() if k not in ("id", "name", "completed")}
                subtasks.append(
                    {
                        "id": str(sub_id),
                        "task_id": str(task.get("id")),
                        "name": sub.get("name") or f"Sub-task {n}",
                        "status": "complete" if done else "pending",
                        "completed": done,
                        **entry,
                    }
                )
        tasks.append(task)
    out["tasks"] = tasks
    if subtasks:
        out["subtasks"] = subtasks
    return out


# ---------------------------------------------------------------- derived values


def overall_progress(tracker: Tracker) -> int:
    """round(100 × complete / (tasks − skipped − superseded)); 0 when the divisor is 0."""
    return _percent(tracker.tasks)


def phase_progress(tracker: Tracker, number: int) -> int:
    return _percent([t for t in tracker.tasks if t.phase == number])


def _percent(tasks: Any) -> int:
    complete = 0
    counted = 0
    for task in tasks:
        if task.status in st.EXCLUDED:
            continue
        counted += 1
        if task.status == "complete":
            complete += 1
    if counted == 0:
        return 0
    return round(100 * complete / counted)


def counts(tasks: Any) -> tuple[int, int]:
    """(complete, counted) for a collection of tasks; skipped/superseded not counted."""
    complete = 0
    counted = 0
    for task in tasks:
        if task.status in st.EXCLUDED:
            continue
        counted += 1
        if task.status == "complete":
            complete += 1
    return complete, counted


def with_derived_progress(tracker: Tracker) -> Tracker:
    """The tracker with stored progress (overall and per phase) set to the derived values."""
    progress = dict(tracker.meta.progress) if isinstance(tracker.meta.progress, dict) else {}
    progress["overall"] = overall_progress(tracker)
    per_phase: dict[int, list[Task]] = {}
    for task in tracker.tasks:
        per_phase.setdefault(task.phase, []).append(task)
    phases = tuple(
        msgspec.structs.replace(p, progress=_percent(per_phase.get(p.number, ())))
        for p in tracker.phases
    )
    meta = msgspec.structs.replace(tracker.meta, progress=progress)
    return msgspec.structs.replace(tracker, meta=meta, phases=phases)


def stale_progress(tracker: Tracker) -> tuple[int | None, int] | None:
    """(stored, derived) when any stored progress disagrees with the derived one, else None."""
    derived = with_derived_progress(tracker)
    stored_overall = (
        tracker.meta.progress.get("overall") if isinstance(tracker.meta.progress, dict) else None
    )
    if derived.meta.progress != tracker.meta.progress or any(
        a.progress != b.progress for a, b in zip(derived.phases, tracker.phases, strict=True)
    ):
        return stored_overall, overall_progress(tracker)
    return None


def new_tracker(title: str, *, initiative_id: str, at: str) -> Tracker:
    """An empty, schema-valid v2 tracker (for ``create initiative``)."""
    return Tracker(
        schema_version=SCHEMA_VERSION,
        meta=Meta(
            title=title,
            initiative_id=initiative_id,
            status="active",
            created=at,
            updated=at,
            progress={"overall": 0},
        ),
        phases=(),
        tasks=(),
    )
