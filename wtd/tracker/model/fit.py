"""Fitting a tracker to the v2 schema (``fit_schema``) and migrating a v1 one
(``migrate_v1``): what does not fit is cut, mapped or moved to notes, and said.
"""

from __future__ import annotations

import operator
import re
from datetime import UTC, datetime
from itertools import chain
from typing import Any, Final

import msgspec
from msgspec import UNSET, UnsetType

from wtd.tracker import status as st
from wtd.tracker.model.notes import prepend_notes
from wtd.tracker.model.structs import (
    SCHEMA_VERSION,
    Meta,
    Phase,
    Subtask,
    Task,
    Tracker,
    same_objects,
)


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
