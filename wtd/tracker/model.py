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

    Statuses are normalised to the canonical vocabulary; everything else is kept.
    Raises TrackerError naming the first field that is not a valid tracker, and
    LimitExceeded (a TrackerError) naming the first value that nests deeper than
    ``max_depth`` levels. Decoded data has no byte size: ``max_bytes`` is accepted so
    every decode path takes the same limits, and is checked where bytes are read.
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
