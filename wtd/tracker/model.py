"""The ECW work-tracker v2 model: immutable msgspec Structs that round-trip losslessly.

Fields we model are typed; every other key of every object is kept verbatim in
``extra`` and written back, so a tracker that carries fields from newer or other
tools loses nothing when wtd rewrites it. Optional fields that were absent stay
absent (``UNSET``). Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Final, TypeVar

import msgspec
from msgspec import UNSET, UnsetType

from wtd.tracker import status as st

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
                    _check_nesting(value, f"{where}.{key}", max_depth, level)
                value = tuple(value)
            kwargs[key] = value
        else:
            extra[key] = value
    if extra:  # kept verbatim: may nest
        for key, value in extra.items():
            if isinstance(value, dict | list):
                _check_nesting(value, f"{where}.{key}", max_depth, level)
    if cls is Meta and isinstance(kwargs.get("progress"), dict):  # free-form too
        _check_nesting(kwargs["progress"], f"{where}.progress", max_depth, level)
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
            _check_nesting(value, key, max_depth, 1)
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
    _check_ids(tracker)
    if is_v1:  # v1 values the v2 schema cannot hold are mapped (fit_schema)
        tracker = fit_schema(tracker)[0]
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


def decode(
    data: bytes,
    *,
    encoder: Encoder | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Tracker:
    """Parse tracker JSON bytes. Raises TrackerError when they are not a valid tracker,
    LimitExceeded (a TrackerError) when they are over ``max_bytes`` or nest deeper than
    ``max_depth`` levels.

    Bytes that wtd wrote itself (canonical v2, statuses canonical, ids well formed)
    are decoded straight into the model, which is several times faster on big
    trackers; the encoding of the result must give back the very same bytes, which
    proves nothing (an unknown field, an alias) was dropped. Anything else takes the
    general path. ``encoder`` (the Store's) is warmed by that check.
    """
    fast = decode_canonical(data, encoder or Encoder(), max_bytes=max_bytes, max_depth=max_depth)
    if fast is not None:
        return fast
    try:
        raw = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise TrackerError(f"not valid JSON: {exc}") from None
    except RecursionError:  # only when the caller's own stack is already deep
        raise _too_deep(data, max_depth) from None
    return from_raw(raw, max_depth=max_depth)


def decode_canonical(
    data: bytes,
    encoder: Encoder,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Tracker | None:
    """The tracker when ``data`` is exactly what ``encoder`` writes for it, else None.

    Raises LimitExceeded when ``data`` is over ``max_bytes`` or nests deeper than
    ``max_depth`` levels, canonical or not: after None, a caller may decode the same
    bytes in any other way without risking the stack (msgspec recurses once a level).
    """
    check_size(data, max_bytes=max_bytes, what="the tracker JSON")
    tracker = _decode_canonical(data, encoder)
    if tracker is None or b"\n" + _INDENT * max_depth in data:
        # Canonical bytes show their depth in their indentation: no line indented
        # 2 × max_depth spaces means at most max_depth levels, a find of a few ms.
        # Anything else is scanned.
        check_depth(data, max_depth=max_depth)
    return tracker


def _decode_canonical(data: bytes, encoder: Encoder) -> Tracker | None:
    if not data.startswith(_CANONICAL_START):  # formatted by someone else: not worth trying
        return None
    try:
        tracker = _typed_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # RecursionError: far too deep, which the caller's check reports
    if not tracker.schema_version.startswith("2."):
        return None
    statuses = {t.status for t in tracker.tasks}
    statuses.update(p.status for p in tracker.phases)
    statuses.update(s.status for s in tracker.all_subtasks() if isinstance(s.status, str))
    if not statuses <= _CANONICAL:
        return None
    try:
        if encoder.encode(tracker) != data:
            return None
        _check_ids(tracker)
    except (RecursionError, TrackerError):
        return None
    return tracker


# ---------------------------------------------------------------- limits

_MIB: Final = 1024 * 1024
_INDENT: Final = b"  "  # × depth, after a newline: see decode_canonical
# The structure of JSON text: quotes and brackets ({ } read as [ ]); all else dropped.
_STRUCTURE: Final = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE: Final = bytes(c for c in range(256) if c not in b'"[]{}')
_QUOTED: Final = re.compile(rb'"[^"]*"?')  # over structure bytes only: linear
# One bracket outside strings, and everything before it (possessive: linear).
_NEXT_BRACKET: Final = re.compile(
    rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+"?)*+'  # text and strings, never backtracked into
    rb"([\[\]{}])",
    re.DOTALL,
)


def _size(n: int) -> str:
    if n >= _MIB:
        return f"{n / _MIB:.1f}".removesuffix(".0") + " MiB"
    if n >= 1024:
        return f"{n / 1024:.1f}".removesuffix(".0") + " KiB"
    return f"{n} bytes"


def check_size(data: bytes | str, *, max_bytes: int, what: str) -> None:
    """Raise LimitExceeded when ``data`` (a ``str`` counted as UTF-8) is over ``max_bytes``.

    ``what`` names the document in the message, e.g. "the tracker JSON".
    """
    size = len(data)
    if isinstance(data, str) and max_bytes < size * 4:  # else it fits however it encodes
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        shown, limit = _size(size), _size(max_bytes)
        if shown == limit:  # just over: the rounded sizes would read the same
            shown, limit = f"{size} bytes", f"{max_bytes} bytes"
        raise LimitExceeded(f"{what} is {shown}, over the {limit} limit")


def check_depth(data: bytes, *, max_depth: int) -> None:
    """Raise LimitExceeded when the JSON text ``data`` nests arrays and objects deeper
    than ``max_depth`` levels, naming the byte offset where it first does.

    Linear, without recursion, and at C speed for valid JSON: the text is reduced to its
    brackets outside strings (escapes, then string contents, dropped by ``translate``,
    ``replace`` and a one-character-class regex), then innermost ``[]`` pairs are dropped
    once per level. Only a text that may be too deep is walked bracket by bracket to
    find the offset. Invalid JSON is left to the decoder to refuse.
    """
    if _may_nest_deeper(data, max_depth) and _deep_at(data, max_depth) is not None:
        raise _too_deep(data, max_depth)


def _may_nest_deeper(data: bytes, max_depth: int) -> bool:
    """False when ``data``, if it is valid JSON, nests at most ``max_depth`` levels."""
    if b"\\" in data:
        # escaped backslashes, then escaped quotes: what is left of "…" pairs up
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = data.translate(_STRUCTURE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in marks:  # strings holding brackets
        marks = _QUOTED.sub(b"", marks)
    room = max_depth
    while marks:
        if room <= 0 or b"[" * (room + 1) in marks:
            return True
        inner = marks.replace(b"[]", b"")  # one level less everywhere
        if len(inner) == len(marks):
            return False  # unbalanced: not JSON, the decoder says so
        marks = inner
        room -= 1
    return False


def _deep_at(data: bytes, max_depth: int) -> int | None:
    """The offset of the first bracket deeper than ``max_depth`` levels, or None."""
    depth = 0
    pos = 0
    while (m := _NEXT_BRACKET.match(data, pos)) is not None:
        pos = m.end()
        if data[pos - 1] in b"[{":
            depth += 1
            if depth > max_depth:
                return pos - 1
        else:
            depth -= 1
    return None


def _too_deep(data: bytes, max_depth: int) -> LimitExceeded:
    at = _deep_at(data, max_depth)
    where = f" (at byte {at})" if at is not None else ""
    return LimitExceeded(f"the tracker JSON nests deeper than {max_depth} levels{where}")


def _check_nesting(value: Any, where: str, max_depth: int, level: int) -> None:
    """Raise LimitExceeded when ``value``, enclosed in ``level`` arrays and objects,
    takes the document deeper than ``max_depth`` levels (walked with a stack: no
    recursion, so a value nested 100,000 deep is refused, not a RecursionError)."""
    stack: list[tuple[Any, int]] = [(value, level + 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise LimitExceeded(f"the tracker nests deeper than {max_depth} levels (at {where})")
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list | tuple):
                stack.append((child, depth + 1))


def migrate_v1(raw: dict[str, Any]) -> dict[str, Any]:
    """Migrate a v1 tracker (no ``schema_version``) to v2.

    v1 embeds sub-tasks in their task; v2 keeps them in a top-level ``subtasks``
    array. v1 may lack ``meta`` or its title. Legacy evidence keys are kept. Values
    the v2 schema cannot hold (``meta.status: "In Progress"``, date-only dates, names
    over 200 characters) are mapped by ``fit_schema``, which ``from_raw`` applies.
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


# ---------------------------------------------------------------- notes

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


# ---------------------------------------------------------------- schema fit

MAX_TEXT: Final = 200
"""The schema's longest title, name or task description (characters)."""
CONTINUED: Final = "…"
_META_STATUSES: Final[dict[str, str]] = {
    "pending": "active",
    "in_progress": "active",
    "complete": "complete",
    "blocked": "blocked",
    "skipped": "archived",
    "superseded": "archived",
}
_SCHEMA_META_STATUSES: Final = frozenset(
    {"active", "Active", "complete", "Complete", "blocked", "Blocked", "archived", "Archived"}
)
_DATE_TIME: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})", re.ASCII
)
_INITIATIVE_ID: Final = re.compile(r"[a-zA-Z0-9-]+")
_FINGERPRINT: Final = re.compile(r"wt-v\d+\.\d+\.\d+-[a-f0-9]{8}", re.ASCII)


def cut_text(text: str, limit: int = MAX_TEXT) -> tuple[str, str]:
    """``text`` cut to fit ``limit`` characters: (head, rest), rest "" when it fits.

    The head ends with "…" and the rest starts with it, so both read as one text cut in
    two; the cut falls at the last space in the last fifth of the head when there is
    one (that space is dropped), else mid-word. Nothing else is lost.
    """
    if len(text) <= limit:
        return text, ""
    room = limit - len(CONTINUED)
    cut = text.rfind(" ", room * 4 // 5, room + 1)
    if cut < 0:
        return text[:room] + CONTINUED, CONTINUED + text[room:]
    return text[:cut] + CONTINUED, CONTINUED + text[cut + 1 :]


def is_date_time(value: str) -> bool:
    """Is ``value`` an RFC 3339 date-time (the schema's ``format: date-time``)?"""
    if not _DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def as_date_time(value: str) -> str | None:
    """``value`` as an RFC 3339 date-time: itself when it is one; a date alone as
    midnight UTC; other ISO 8601 spellings (a space for "T", no seconds, no offset =
    UTC) rewritten; None when it is no date at all."""
    if is_date_time(value):
        return value
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    out = moment.isoformat()
    return out[:-6] + "Z" if out.endswith("+00:00") else out


class _Fit:
    """What fit_schema changes, entity by entity (see there)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.lines: list[str] = []
        self.plan_notes: list[str] = []  # prepended to the tracker's notes
        self.task_notes: dict[str, list[str]] = {}  # task id → prepended to its notes

    def said(self, line: str) -> None:
        self.lines.append(line)

    def text(self, value: str, what: str, fallback: str) -> tuple[str, str]:
        if not value:
            self.said(f"{what} was empty: named {fallback!r}")
            return fallback, ""
        head, rest = cut_text(value)
        if rest:
            self.said(f"{what} had {len(value)} characters: cut at {MAX_TEXT}, the rest kept")
        return head, rest

    def meta(self, meta: Meta) -> Meta:
        fields: dict[str, Any] = {}
        head, rest = self.text(meta.title, "the title", "Untitled tracker")
        if head != meta.title:
            fields["title"] = head
            if rest:
                self.plan_notes.append(rest)
        status = meta.status
        if isinstance(status, str) and status not in _SCHEMA_META_STATUSES:
            canon = st.normalize(status)
            lower = status.strip().lower()
            mapped = lower if lower in _META_STATUSES.values() else _META_STATUSES.get(canon or "")
            fields["status"] = mapped if mapped is not None else UNSET
            if mapped is None:
                self.plan_notes.append(f"Status: {status}")
            self.said(f"the tracker status {status!r} became {mapped or 'a note'!r}")
        for key, label in (("created", "Created"), ("updated", "Updated")):
            value = getattr(meta, key)
            if isinstance(value, str) and not is_date_time(value):
                fixed = as_date_time(value)
                fields[key] = fixed if fixed is not None else UNSET
                if fixed is None:
                    self.plan_notes.append(f"{label}: {value}")
                self.said(f"{key} {value!r} became {fixed or 'a note'!r}")
        initiative = meta.initiative_id
        if isinstance(initiative, str) and not _INITIATIVE_ID.fullmatch(initiative):
            slug = "-".join(re.findall(r"[a-zA-Z0-9]+", initiative))
            fields["initiative_id"] = slug or UNSET
            if not slug:
                self.plan_notes.append(f"Initiative: {initiative}")
            self.said(f"the initiative id {initiative!r} became {slug or 'a note'!r}")
        fingerprint = meta.fingerprint
        if isinstance(fingerprint, str) and not _FINGERPRINT.fullmatch(fingerprint):
            fields["fingerprint"] = UNSET
            self.plan_notes.append(f"Fingerprint: {fingerprint}")
            self.said(f"the fingerprint {fingerprint!r} became a note")
        return msgspec.structs.replace(meta, **fields) if fields else meta

    def phase(self, phase: Phase) -> Phase:
        head, rest = self.text(phase.name, f"phase {phase.number}'s name", f"Phase {phase.number}")
        if head == phase.name:
            return phase
        description = phase.description
        if rest:
            more = description if isinstance(description, str) and description else ""
            description = rest + ("\n" + more if more else "")
        return msgspec.structs.replace(phase, name=head, description=description)

    def task(self, task: Task) -> Task:
        fields: dict[str, Any] = {}
        notes: list[str] = []
        for key in ("name", "description"):
            value = getattr(task, key)
            if not isinstance(value, str):
                continue
            if not value:
                fields[key] = UNSET
                self.said(f"task {task.id}'s {key} was empty: left out")
                continue
            head, rest = cut_text(value)
            if rest:
                fields[key] = head
                notes.append(rest)
                self.said(f"task {task.id}'s {key} had {len(value)} characters: cut at {MAX_TEXT}")
        named = fields.get("name", task.name) is not UNSET
        if fields and not named and fields.get("description", task.description) is UNSET:
            fields["name"] = f"Task {task.id}"
            self.said(f"task {task.id} had no name: named 'Task {task.id}'")
        progress = task.progress
        if isinstance(progress, int) and not 0 <= progress <= 100:
            fields["progress"] = min(100, max(0, progress))
            self.said(f"task {task.id}'s progress {progress} became {fields['progress']}")
        deps = task.dependencies
        if isinstance(deps, tuple) and not all(_TASK_ID.fullmatch(d) for d in deps):
            kept = tuple(d for d in deps if _TASK_ID.fullmatch(d))
            fields["dependencies"] = kept if kept else UNSET
            notes.append("Depends on: " + ", ".join(d for d in deps if d not in kept))
            self.said(f"task {task.id}'s dependencies that are no task IDs became a note")
        notes += self.task_notes.pop(task.id, [])
        if notes:
            fields["extra"] = prepend_notes(task.extra, notes)
        return msgspec.structs.replace(task, **fields) if fields else task

    def subtask(self, sub: Subtask, known: set[str]) -> Subtask:
        head, rest = self.text(sub.name, f"sub-task {sub.id}'s name", f"Sub-task {sub.id}")
        if head == sub.name:
            return sub
        if rest:
            line = f"{sub.id}: {rest}"
            if sub.task_id in known:
                self.task_notes.setdefault(sub.task_id, []).append(line)
            else:
                self.plan_notes.append(line)
        return msgspec.structs.replace(sub, name=head)


_TASK_ID: Final = re.compile(r"\d+\.\d+", re.ASCII)
_TASK_ID_LIST: Final = re.compile(r"\d+\.\d+(?:,\d+\.\d+)*+", re.ASCII)
_NAME: Final = operator.attrgetter("name")
_DESCRIPTION: Final = operator.attrgetter("description")
_PROGRESS: Final = operator.attrgetter("progress")
_DEPENDENCIES: Final = operator.attrgetter("dependencies")


def _texts_fit(values: list[Any]) -> bool:
    """No string among ``values`` (strings and UNSET) is empty or over MAX_TEXT."""
    try:
        lengths = list(map(len, values))
    except TypeError:  # UNSET among them
        lengths = [len(v) for v in values if v is not UNSET]
    return not lengths or (min(lengths) > 0 and max(lengths) <= MAX_TEXT)


def _tasks_fit(tasks: tuple[Task, ...]) -> bool:
    """Nothing of ``tasks`` needs adapting (at C speed: ~10 ms for 100k tasks)."""
    if not _texts_fit(list(map(_NAME, tasks))):
        return False
    descriptions = list(map(_DESCRIPTION, tasks))
    if descriptions.count(UNSET) != len(descriptions) and not _texts_fit(descriptions):
        return False
    progress = list(map(_PROGRESS, tasks))
    if progress.count(UNSET) != len(progress):
        known = [p for p in progress if p is not UNSET]
        if min(known) < 0 or max(known) > 100:
            return False
    deps = list(map(_DEPENDENCIES, tasks))
    if deps.count(UNSET) != len(deps):
        flat = list(chain.from_iterable(filter(None, deps)))  # UNSET is falsy
        joined = ",".join(flat)
        if joined.count(",") != len(flat) - 1 or not _TASK_ID_LIST.fullmatch(joined):
            return False
    return True


def fit_schema(tracker: Tracker) -> tuple[Tracker, list[str]]:
    """``tracker`` adapted where the v2 schema cannot hold its values, and what changed.

    Never drops what a person wrote: a title, name or task description over MAX_TEXT
    characters is cut (``cut_text``) and its rest kept — a task's in its notes, a
    sub-task's in its task's notes, a phase's in its description, the title's in the
    tracker's notes; dates that are not RFC 3339 become one (a date alone: midnight
    UTC), or a note when they are no date; a tracker status outside the schema's is
    mapped (``In Progress`` → ``active``, ``done`` → ``complete``…) or kept as a note;
    an initiative id with other characters keeps its letters and digits; dependencies
    that are no task IDs become a note. An empty name gets a placeholder. Returns the
    very same tracker (``is``) when nothing needed adapting — the common case, checked
    at C speed. Fields wtd does not model are not looked at.
    """
    tasks = tracker.tasks
    subs = tracker.all_subtasks()
    meta = tracker.meta
    fit = _Fit(tracker)
    new_meta = fit.meta(meta)
    phases = tracker.phases
    if not _texts_fit([p.name for p in phases]):
        phases = tuple(fit.phase(p) for p in phases)
    known = {t.id for t in tasks} if subs else set()
    new_subs: tuple[Subtask, ...] | UnsetType = tracker.subtasks
    if subs and not _texts_fit([s.name for s in subs]):
        new_subs = tuple(fit.subtask(s, known) for s in subs)
    new_tasks = tasks
    if fit.task_notes or not _tasks_fit(tasks):
        fitted = [fit.task(t) for t in tasks]
        if not same_objects(fitted, tasks):
            new_tasks = tuple(fitted)
    extra = tracker.extra
    if fit.plan_notes:
        extra = prepend_notes(extra, fit.plan_notes)
    if (
        new_meta is meta
        and phases is tracker.phases
        and new_subs is tracker.subtasks
        and new_tasks is tasks
        and extra is tracker.extra
    ):
        return tracker, []
    fitted_tracker = msgspec.structs.replace(
        tracker, meta=new_meta, phases=phases, tasks=new_tasks, subtasks=new_subs, extra=extra
    )
    return fitted_tracker, fit.lines
