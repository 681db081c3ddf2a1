"""Reading the Markdown view back: ``parse_view``, ``view_of``, ``diff_views``.

Pure: no I/O, no clock. A ``View`` is what a person can edit in the rendered file
(``render.render``): the title, the header fields, per phase its heading, status,
description, task rows, dependency line, sub-task checkboxes and Notes block (the
notes of the phase, its tasks and their sub-tasks), and the tracker's Notes section.
Notes are read line for line as written (``render.unescape_note``); a changed block
is one ``SetNotes`` edit. Importing a plan that is not a view is
``wtd.tracker.importers``' job. Derived figures
(progress lines, the Progress Summary table, the Recovery Checksum) are not part of
it: they are regenerated, so editing them means nothing.

The law: ``parse_view(render(t, ...)) == view_of(t)`` for every valid tracker.

Anything ``parse_view`` cannot map is kept as an ``Unmapped`` fragment (1-based
line number, the line as written, the reason), never dropped: free text between
sections, unknown sections or headings, malformed table rows, a status cell that
names no status, a second title, ...
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any, Final

import msgspec
from msgspec import UnsetType

from wtd.tracker import model
from wtd.tracker import status as st
from wtd.tracker.model import Subtask, Task, Tracker
from wtd.tracker.render import (
    PHASE_HEADING,
    UNLISTED,
    ends_notes,
    heading,
    note_key,
    note_lines,
    unescape_cell,
    unescape_note,
)

__all__ = [
    "AddPhase",
    "AddSubtask",
    "AddTask",
    "CheckSubtask",
    "DeleteSubtask",
    "DeleteTask",
    "Edit",
    "PhaseView",
    "Rename",
    "RenamePhase",
    "SetNotes",
    "SetPhaseStatus",
    "SetStatus",
    "SetVerification",
    "SubtaskLine",
    "TaskRow",
    "Unmapped",
    "View",
    "diff_views",
    "parse_view",
    "view_of",
]

# ------------------------------------------------------------------- the view


class TaskRow(msgspec.Struct, frozen=True, kw_only=True):
    """One row of a phase's task table. ``id`` is "" for a row added without an ID."""

    id: str
    name: str
    status: str | None  # canonical; None when the cell is empty or names no status
    given: str  # the status cell as written (unescaped)
    verification: str | None = None  # None: empty cell


class SubtaskLine(msgspec.Struct, frozen=True, kw_only=True):
    """One ``- [x] 2.2.1: name`` line. ``task_id`` is the task its id names
    (``2.2`` for ``2.2.1`` when that task is in the same phase), else ""."""

    id: str
    task_id: str
    name: str
    checked: bool


class PhaseView(msgspec.Struct, frozen=True, kw_only=True):
    number: int
    name: str
    listed: bool = True  # False: "(unlisted)" section for tasks of an unknown phase
    status: str | None = None  # canonical; None when absent or unknown
    given: str = ""  # the status line as written
    description: str | None = None
    tasks: tuple[TaskRow, ...] = ()
    dependencies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    subtasks: tuple[SubtaskLine, ...] = ()
    # (whose: "Phase N", a task id or a sub-task id, its note lines): the "#### Notes"
    notes: tuple[tuple[str, tuple[str, ...]], ...] = ()


class _Edit(msgspec.Struct, frozen=True, kw_only=True, tag_field="edit"):
    pass


class Unmapped(_Edit, tag="unmapped", frozen=True):
    """Text that could not be mapped to the tracker. ``line`` is 1-based (0: the
    fragment is a whole-view difference, e.g. an edited dependency line);
    ``ref`` is the task id a malformed row seems to be about (it is then not
    taken as deleted)."""

    line: int
    text: str
    reason: str
    ref: str = ""


class View(msgspec.Struct, frozen=True, kw_only=True):
    title: str
    meta: tuple[tuple[str, str], ...] = ()  # ("Initiative", "19"), ("Status", "Active"), ...
    phases: tuple[PhaseView, ...] = ()
    orphan_subtasks: tuple[SubtaskLine, ...] = ()  # "Sub-tasks of missing tasks"
    notes: tuple[str, ...] = ()  # the tracker's notes (its "## Notes" section)
    unmapped: tuple[Unmapped, ...] = ()


# ------------------------------------------------------------------- the edits


class SetStatus(_Edit, tag="set_status", frozen=True):
    task_id: str
    status: str  # canonical
    given: str  # the cell as typed


class Rename(_Edit, tag="rename", frozen=True):
    task_id: str
    name: str


class SetVerification(_Edit, tag="set_verification", frozen=True):
    task_id: str
    text: str | None  # None: the cell was emptied


class CheckSubtask(_Edit, tag="check_subtask", frozen=True):
    subtask_id: str
    checked: bool


class AddTask(_Edit, tag="add_task", frozen=True):
    phase: int
    name: str
    status: str  # canonical
    verification: str | None
    requested_id: str | None  # None: next free ID in the phase


class DeleteTask(_Edit, tag="delete_task", frozen=True):
    task_id: str


class RenamePhase(_Edit, tag="rename_phase", frozen=True):
    number: int
    name: str


class SetPhaseStatus(_Edit, tag="set_phase_status", frozen=True):
    number: int
    status: str
    given: str


class AddPhase(_Edit, tag="add_phase", frozen=True):
    number: int
    name: str
    status: str


class AddSubtask(_Edit, tag="add_subtask", frozen=True):
    task_id: str
    name: str
    checked: bool


class DeleteSubtask(_Edit, tag="delete_subtask", frozen=True):
    subtask_id: str


class SetNotes(_Edit, tag="set_notes", frozen=True):
    """The notes of ``of`` as the view now shows them (``render.note_lines``). ``of``:
    None for the tracker, ``Phase N`` for a phase, else a task or sub-task id."""

    of: str | None
    notes: tuple[str, ...]


Edit = (
    SetStatus
    | Rename
    | SetVerification
    | CheckSubtask
    | AddTask
    | DeleteTask
    | RenamePhase
    | SetPhaseStatus
    | AddPhase
    | AddSubtask
    | DeleteSubtask
    | SetNotes
    | Unmapped
)


# --------------------------------------------------------------- line syntax

_PHASE: Final = PHASE_HEADING
_heading = heading
_NOTE_ITEM: Final = re.compile(
    r"[-*+][ \t]+\*\*(Phase[ \t]+\d+|\d+\.\d+(?:\.\d+)?)\*\*[ \t]*:?(?:[ \t]+(.*))?$",
    re.IGNORECASE,
)
_KEY: Final = re.compile(r">[ \t]*\*\*([^*]+?):\*\*[ \t]?(.*)$")
_CHECKBOX: Final = re.compile(r"(?:[-*+]|\d+[.)])[ \t]+\[([ xX])\](?:[ \t]+(.*))?$")
_BULLET: Final = re.compile(r"[-*+][ \t]")
_PIPE_OR_ESCAPE: Final = re.compile(r"\\.|\|")
_SUB_ID: Final = re.compile(r"\d+\.\d+\.\d+$")

_META_KEYS: Final = ("Initiative", "Status", "Created", "Updated")
_DERIVED_KEYS: Final = frozenset({"Progress", "Source"})
_RENDERED_LAYOUT: Final = (0, 1, 2, 3, 4)
_UNLISTED_NOTE: Final = "this phase is not in the tracker's phase list"
_COLUMNS: Final[dict[str, str]] = {
    "id": "id",
    "#": "id",
    "task": "name",
    "name": "name",
    "title": "name",
    "status": "status",
    "state": "status",
    "verification": "verification",
    "verify": "verification",
}


def _number(digits: str) -> int | None:
    """``int(digits)``, or None where Python refuses (over 4,300 digits, or "²")."""
    try:
        return int(digits)
    except ValueError:
        return None


def _cells(line: str) -> list[str]:
    """The raw cells of a table row (split at pipes that are not backslash-escaped)."""
    body = line.strip()[1:]
    if "\\" in body:
        cuts = [m.start() for m in _PIPE_OR_ESCAPE.finditer(body) if m.group() == "|"]
        parts = [body[i + 1 : j] for i, j in zip([-1, *cuts], [*cuts, len(body)], strict=True)]
    else:
        parts = body.split("|")
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    return parts


def _columns(cells: list[str]) -> dict[str, int] | None:
    """Column role → index for a header row (needs at least a Task/Name column)."""
    found: dict[str, int] = {}
    for i, cell in enumerate(cells):
        role = _COLUMNS.get(unescape_cell(cell).strip("*_ ").lower())
        if role is not None and role not in found:
            found[role] = i
    return found if "name" in found else None


def _split_subtask(rest: str) -> tuple[str, str]:
    """(id, name) of a checkbox line's text: ``2.2.1: name``, ``2.2.1:`` or ``name``."""
    cut = rest.find(": ")
    if cut >= 0:
        return unescape_cell(rest[:cut]), unescape_cell(rest[cut + 2 :])
    if rest.endswith(":"):
        return unescape_cell(rest[:-1]), ""
    return "", unescape_cell(rest)


def _owner(sub_id: str, task_ids: Iterable[str]) -> str:
    head = sub_id.rpartition(".")[0]
    return head if head and head in task_ids else ""


def _title_case(text: str) -> str:
    # As render shows meta.status.
    words = text.replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


def _lines(text: str) -> list[str]:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


# ------------------------------------------------------------------- parsing


class _PhaseBuild:
    __slots__ = (
        "deps",
        "description",
        "given",
        "listed",
        "name",
        "notes",
        "number",
        "status",
        "subs",
    )

    def __init__(self, number: int, name: str) -> None:
        self.number = number
        self.name = name
        self.listed = True
        self.status: str | None = None
        self.given = ""
        self.description: str | None = None
        self.deps: list[tuple[str, tuple[str, ...]]] = []
        self.subs: list[tuple[str, str, bool]] = []
        self.notes: dict[str, list[str]] = {}  # task id → note lines (the "#### Notes")


class _Parser:
    """One pass over the lines; ``state`` says which part of the layout we are in."""

    def __init__(self) -> None:
        self.title: str | None = None
        self.meta: list[tuple[str, str]] = []
        self.phases: list[_PhaseBuild] = []
        self.rows: list[list[TaskRow]] = []
        self.orphans: list[SubtaskLine] = []
        self.unmapped: list[Unmapped] = []
        self.state = "top"
        self.columns: dict[str, int] | None = None
        self.layout = (0, 0, -1, -1, 0)  # id, name, status, verification columns; width
        self.statuses: dict[str, str | None] = {}  # status cell → canonical (memo)
        self.orphan_task = ""
        self.notes: list[str] = []  # the tracker's notes ("## Notes")
        self.note_task: list[str] | None = None  # the notes of the "- **X.Y**" item in hand
        self.blanks = 0  # blank lines seen since the last note line
        self.lazy = False  # the line before was part of a notes item

    def lost(self, n: int, line: str, reason: str, ref: str = "") -> None:
        self.unmapped.append(Unmapped(line=n, text=line, reason=reason, ref=ref))

    def run(self, lines: list[str]) -> View:
        i = 0
        count = len(lines)
        while i < count:
            if self.state == "tasks" and self.layout == _RENDERED_LAYOUT:
                i = self.rendered_rows(lines, i)
                if i >= count:
                    break
            raw = lines[i]
            i += 1
            n = i
            line = raw.rstrip()
            if (self.state == "notes" or self.state == "task_notes") and self.note_line(n, line):
                continue
            stripped = line.lstrip()
            if not stripped:
                continue
            if stripped[0] == "#" and (h := _heading(stripped)):
                self.heading(n, line, *h)
            else:
                self.body(n, line, stripped)
        phases = tuple(
            PhaseView(
                number=p.number,
                name=p.name,
                listed=p.listed,
                status=p.status,
                given=p.given,
                description=p.description,
                tasks=tuple(rows),
                dependencies=tuple(p.deps),
                subtasks=_sub_lines(p.subs, {r.id for r in rows}),
                notes=tuple(
                    (task_id, kept)
                    for task_id, lines in p.notes.items()
                    if (kept := note_lines(lines))
                ),
            )
            for p, rows in zip(self.phases, self.rows, strict=True)
        )
        return View(
            title=self.title or "",
            meta=tuple(self.meta),
            phases=phases,
            orphan_subtasks=tuple(self.orphans),
            notes=note_lines(self.notes),
            unmapped=tuple(self.unmapped),
        )

    # -- notes

    def note_line(self, n: int, line: str) -> bool:
        """A line of the tracker's Notes section or of a phase's Notes block: True when
        taken as such, False when it ends them (the caller reads it as usual)."""
        if self.state == "notes":
            if not line:
                self.blanks += 1
            elif ends_notes(line):
                return False
            else:
                self.notes.extend([""] * self.blanks)  # paragraph breaks (none leading)
                self.blanks = 0
                self.notes.append(unescape_note(line))
            return True
        if not line:
            self.blanks += 1
            self.lazy = False
            return True
        if line[:2] == "  " or line[0] == "\t":
            if self.note_task is None:
                self.lost(n, line, "free text in a phase's Notes (not under a task)")
            else:
                self.add_note(line[2:] if line[0] == " " else line[1:])
            return True
        stripped = line.lstrip()
        m = _NOTE_ITEM.match(stripped)
        if m is not None:
            key = m.group(1)
            if key[0] in "Pp":
                number = _number(key[5:].strip(" \t"))
                key = note_key(number) if number is not None else key
            self.note_task = self.phases[-1].notes.setdefault(key, [])
            self.blanks = 0
            self.lazy = True
            if m.group(2):
                self.add_note(m.group(2))
            return True
        if stripped[0] == "#" and _heading(stripped):
            return False
        if stripped in ("---", "***", "___"):
            self.state = "phases"
            self.note_task = None
            return True
        if self.lazy and self.note_task is not None:
            self.add_note(line)  # a lazy continuation of the item's last line
        else:
            self.lost(n, line, "free text in a phase's Notes (not under a task)")
        return True

    def add_note(self, text: str) -> None:
        assert self.note_task is not None
        if self.note_task:
            self.note_task.extend([""] * self.blanks)  # paragraph breaks (none leading)
        self.blanks = 0
        self.lazy = True
        self.note_task.append(unescape_note(text))

    # -- headings

    def heading(self, n: int, line: str, level: int, text: str) -> None:
        self.columns = None
        self.note_task = None
        self.blanks = 0
        if level == 1:
            if self.title is None and self.state == "top":
                head, sep, rest = text.partition("Work Tracker:")
                self.title = unescape_cell(rest if sep and not head.strip() else text)
                self.state = "header"
            else:
                self.state = "unknown"
                self.lost(n, line, "a second title")
            return
        if (
            (m := _PHASE.match(text))
            and self.state not in ("missing", "summary", "checksum")
            and (number := _number(m.group(1))) is not None
        ):
            self.phases.append(_PhaseBuild(number, unescape_cell(m.group(2) or "")))
            self.rows.append([])
            self.state = "phase"
            return
        label = text.strip().lower()
        if level == 2 and label == "notes":
            self.state = "notes"
            return
        if level == 2 and label in ("phases", "progress summary", "recovery checksum"):
            self.state = {"phases": "phases", "progress summary": "summary"}.get(label, "checksum")
            return
        if level == 3 and label == "sub-tasks of missing tasks":
            self.state = "missing"
            return
        if level == 4 and self.state in ("phase", "tasks", "subtasks", "task_notes"):
            if label == "tasks":
                self.state = "tasks"
                return
            if label == "sub-tasks":
                self.state = "subtasks"
                return
            if label == "notes":
                self.state = "task_notes"
                self.lazy = False
                return
        if level == 4 and self.state in ("missing", "orphans") and text[:4].lower() == "task":
            self.orphan_task = unescape_cell(text[4:])
            self.state = "orphans"
            return
        self.state = "unknown"
        self.lost(n, line, "a heading that is not part of the tracker layout")

    # -- everything else

    def body(self, n: int, line: str, s: str) -> None:
        state = self.state
        if s == "---" or s == "***" or s == "___":
            return
        if state == "tasks":
            self.task_line(n, line, s)
        elif state == "subtasks" or state == "orphans":
            m = _CHECKBOX.match(s)
            if m is None:
                self.lost(n, line, "not a sub-task checkbox line")
            elif state == "orphans":
                sub_id, name = _split_subtask(m.group(2) or "")
                self.orphans.append(
                    SubtaskLine(
                        id=sub_id, task_id=self.orphan_task, name=name, checked=m.group(1) != " "
                    )
                )
            else:
                sub_id, name = _split_subtask(m.group(2) or "")
                self.phases[-1].subs.append((sub_id, name, m.group(1) != " "))
        elif state == "phase":
            self.phase_line(n, line, s)
        elif state == "header":
            m = _KEY.match(s)
            if m is None:
                self.lost(n, line, "free text in the header")
            elif m.group(1) in _META_KEYS:
                self.meta.append((m.group(1), unescape_cell(m.group(2))))
            elif m.group(1) not in _DERIVED_KEYS:
                self.lost(n, line, f"unknown header field {m.group(1)!r}")
        elif state == "phases":
            if s != "_No phases yet._":
                self.lost(n, line, "free text outside any phase")
        elif state == "summary":
            if s[0] != "|":
                self.lost(n, line, "free text in the Progress Summary")
        elif state == "checksum":
            if s[0] != ">":
                self.lost(n, line, "free text in the Recovery Checksum")
        elif state == "missing":
            if not s.startswith("> **Note:**"):
                self.lost(n, line, "free text among sub-tasks of missing tasks")
        elif state == "unknown" and s[0] == "|":
            cells = _cells(s)
            ref = unescape_cell(cells[0]) if cells else ""
            self.lost(n, line, "a table row outside a phase's task table", ref)
        elif state == "unknown" and (m := _CHECKBOX.match(s)):
            self.lost(n, line, "a checkbox outside a phase", _split_subtask(m.group(2) or "")[0])
        else:
            self.lost(n, line, "free text outside the tracker layout")

    def phase_line(self, n: int, line: str, s: str) -> None:
        phase = self.phases[-1]
        m = _KEY.match(s)
        if m is not None:
            key, value = m.group(1), m.group(2)
            if key == "Status":
                phase.given = unescape_cell(value)
                phase.status = st.normalize(phase.given)
                if phase.status is None:
                    self.lost(n, line, f"unknown phase status {phase.given!r}")
            elif key == "Note" and value.strip() == _UNLISTED_NOTE:
                phase.listed = False
            elif key != "Progress":
                self.lost(n, line, f"unknown phase field {key!r}")
        elif s[0] in "|>" or _BULLET.match(s) or phase.description is not None:
            self.lost(n, line, "free text in a phase (not its description)")
        else:
            phase.description = unescape_cell(s)

    def rendered_rows(self, lines: list[str], i: int) -> int:
        """Rows exactly as render writes them, read in a tight loop (the hot path of a
        big view); returns the index of the first line it leaves to the general path."""
        append = self.rows[-1].append
        statuses = self.statuses
        count = len(lines)
        while i < count:
            raw = lines[i]
            if raw[:2] != "| " or "\\" in raw or "&" in raw or "<" in raw:
                break
            parts = raw.split("|")
            if len(parts) != 6 or parts[5].strip():
                break
            task_id = parts[1].strip(" \t")
            given = parts[3].strip(" \t")
            status = statuses.get(given, "?")
            if status == "?" or status is None or not task_id:
                break  # a status never seen, an unknown one, a new row: the general path
            append(
                TaskRow(
                    id=task_id,
                    name=parts[2].strip(" \t"),
                    status=status,
                    given=given,
                    verification=parts[4].strip(" \t") or None,
                )
            )
            i += 1
        return i

    def task_line(self, n: int, line: str, s: str) -> None:
        if s[0] != "|":
            if s.startswith("**Dependencies:**"):
                deps = self.dependencies(s[len("**Dependencies:**") :])
                if deps is None:
                    self.lost(n, line, "a dependency that is not `X.Y → A.B, C.D`")
                else:
                    self.phases[-1].deps.extend(deps)
            elif s != "_No tasks yet._":
                self.lost(n, line, "free text in a task table")
            return
        cells = _cells(s)
        cols = self.columns
        if cols is None:
            self.columns = _columns(cells)
            if self.columns is None:
                self.lost(n, line, "a table without a Task column")
                self.state = "unknown"
            elif "id" not in self.columns:
                self.lost(n, line, "a task table without an ID column")
                self.state = "unknown"
            else:
                c = self.columns
                self.layout = (
                    c["id"],
                    c["name"],
                    c.get("status", -1),
                    c.get("verification", -1),
                    max(c.values()) + 1,
                )
            return
        if not s.strip("|-: \t"):
            return  # the delimiter row
        ci, ni, si, vi, width = self.layout
        if "\\" in s or "&" in s or "<" in s:
            values = [unescape_cell(c) for c in cells]
        else:  # what unescape_cell does to text without escapes, without the calls
            values = [c.strip(" \t") for c in cells]
        task_id = values[ci] if ci < len(values) else ""
        if len(values) > width:
            self.lost(n, line, "a row with more cells than the table (an unescaped '|'?)", task_id)
            return
        if len(values) < width:
            values += [""] * (width - len(values))
        name = values[ni]
        given = values[si] if si >= 0 else ""
        ver = values[vi] if vi >= 0 else ""
        if not (task_id or name or given or ver):
            return
        if given:
            status = self.statuses.get(given, "?")
            if status == "?":
                status = self.statuses[given] = st.normalize(given)
            if status is None:
                self.lost(n, line, f"unknown status {given!r}", task_id)
        else:
            status = None
        self.rows[-1].append(
            TaskRow(id=task_id, name=name, status=status, given=given, verification=ver or None)
        )

    @staticmethod
    def dependencies(text: str) -> list[tuple[str, tuple[str, ...]]] | None:
        out: list[tuple[str, tuple[str, ...]]] = []
        for link in text.strip().split("; "):
            task_id, arrow, deps = link.partition(" → ")
            if not arrow:
                return None
            if "\\" in link or "&" in link or "<" in link:
                out.append((unescape_cell(task_id), tuple(map(unescape_cell, deps.split(", ")))))
            else:
                out.append((task_id.strip(" \t"), tuple(d.strip(" \t") for d in deps.split(", "))))
        return out


def _sub_lines(subs: list[tuple[str, str, bool]], task_ids: set[str]) -> tuple[SubtaskLine, ...]:
    return tuple(
        SubtaskLine(id=i, task_id=_owner(i, task_ids), name=name, checked=done)
        for i, name, done in subs
    )


def parse_view(text: str, *, max_bytes: int = model.MAX_BYTES) -> View:
    """The View a Markdown file shows (tolerant of editors and people: blank lines,
    trailing spaces, CRLF, padded cells, any status spelling, ``[X]``).

    Linear in the size of ``text``. Raises model.LimitExceeded when ``text`` is over
    ``max_bytes`` (counted as UTF-8).
    """
    model.check_size(text, max_bytes=max_bytes, what="the Markdown view")
    return _Parser().run(_lines(text))


# ------------------------------------------------------------------- view_of


def view_of(tracker: Tracker) -> View:
    """The View that ``render.render(tracker, ...)`` shows (what parse_view reads back)."""
    meta = tracker.meta
    fields: list[tuple[str, str]] = []
    if not isinstance(meta.initiative_id, UnsetType):
        fields.append(("Initiative", meta.initiative_id))
    if not isinstance(meta.status, UnsetType):
        fields.append(("Status", _title_case(meta.status)))
    if not isinstance(meta.created, UnsetType):
        fields.append(("Created", meta.created))
    if not isinstance(meta.updated, UnsetType):
        fields.append(("Updated", meta.updated))

    by_phase: dict[int, list[Task]] = {}
    for task in tracker.tasks:
        by_phase.setdefault(task.phase, []).append(task)
    subs_by_task: dict[str, list[Subtask]] = {}
    for sub in tracker.all_subtasks():
        subs_by_task.setdefault(sub.task_id, []).append(sub)
    cells: dict[str, tuple[str, str]] = {}

    def section(
        number: int, name: str, tasks: list[Task], own: object = None, **extra: Any
    ) -> PhaseView:
        ids = {t.id for t in tasks}
        subs = [s for t in tasks for s in subs_by_task.get(t.id, ())]
        return PhaseView(
            number=number,
            name=name,
            tasks=tuple([_row(t, cells) for t in tasks]),
            dependencies=tuple(
                (t.id, t.dependencies)
                for t in tasks
                if not isinstance(t.dependencies, UnsetType) and t.dependencies
            ),
            subtasks=tuple(
                SubtaskLine(id=s.id, task_id=_owner(s.id, ids), name=s.name, checked=s.done)
                for s in subs
            ),
            notes=_notes_in(number, own, tasks, subs),
            **extra,
        )

    phases: list[PhaseView] = []
    seen: set[int] = set()
    for phase in tracker.phases:
        tasks = [] if phase.number in seen else by_phase.get(phase.number, [])
        seen.add(phase.number)
        description = phase.description
        phases.append(
            section(
                phase.number,
                phase.name,
                tasks,
                phase.extra.get(model.NOTES) if phase.extra else None,
                status=st.normalize(phase.status) or "pending",
                given=st.cell(phase.status),
                description=description if isinstance(description, str) and description else None,
            )
        )
    for number in sorted(n for n in by_phase if n not in seen):
        phases.append(section(number, UNLISTED, by_phase[number], listed=False))

    known = {t.id for t in tracker.tasks}
    orphans = tuple(
        SubtaskLine(id=s.id, task_id=tid, name=s.name, checked=s.done)
        for tid, subs in subs_by_task.items()
        if tid not in known
        for s in subs
    )
    return View(
        title=meta.title,
        meta=tuple(fields),
        phases=tuple(phases),
        orphan_subtasks=orphans,
        notes=note_lines(tracker.extra.get(model.NOTES)) if tracker.extra else (),
    )


def _notes_in(
    number: int, own: object, tasks: list[Task], subs: list[Subtask]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A phase's Notes items as render writes them: the phase's, then each task's
    followed by its sub-tasks'."""
    out: list[tuple[str, tuple[str, ...]]] = []
    if lines := note_lines(own):
        out.append((note_key(number), lines))
    by_task: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for sub in subs:
        if sub.extra and (lines := note_lines(sub.extra.get(model.NOTES))):
            by_task.setdefault(sub.task_id, []).append((sub.id, lines))
    for task in tasks:
        if task.extra and (lines := note_lines(task.extra.get(model.NOTES))):
            out.append((task.id, lines))
        out.extend(by_task.get(task.id, ()))
    return tuple(out)


def _row(task: Task, cells: dict[str, tuple[str, str]]) -> TaskRow:
    ver = task.verification
    status, given = _status_cell(task.status, cells)
    return TaskRow(
        id=task.id,
        name=task.title,
        status=status,
        given=given,
        verification=ver if isinstance(ver, str) and ver else None,
    )


def _status_cell(status: str, cells: dict[str, tuple[str, str]]) -> tuple[str, str]:
    """(canonical, cell text) of a stored status, as render shows it (memoised in ``cells``)."""
    found = cells.get(status)
    if found is None:
        found = cells[status] = (st.normalize(status) or "pending", st.cell(status))
    return found


# ------------------------------------------------------------------- diff


def diff_views(base: View, edited: View) -> list[Edit]:
    """The hand edits that turn ``base`` (the last rendered view) into ``edited``.

    Order: phase edits, then row edits in the order of the edited file, deletions,
    sub-task edits, and last the fragments that cannot be mapped (Unmapped; those
    already in ``base`` are not repeated).
    """
    edits: list[Edit] = []
    lost: list[Unmapped] = []
    base_phases = {p.number: p for p in base.phases}
    base_rows = {r.id: (p.number, r) for p in base.phases for r in p.tasks}
    base_subs = {s.id: s for p in base.phases for s in p.subtasks}
    base_subs.update({s.id: s for s in base.orphan_subtasks})

    if edited.title != base.title:
        lost.append(_semantic(f"# Work Tracker: {edited.title}", "title edits are not synced"))
    if edited.meta != base.meta:
        for key, value in sorted(set(edited.meta) - set(base.meta)):
            lost.append(_semantic(f"> **{key}:** {value}", "header edits are not synced"))

    for phase in edited.phases:
        old = base_phases.get(phase.number)
        if old is None:
            if phase.listed:
                edits.append(
                    AddPhase(number=phase.number, name=phase.name, status=phase.status or "pending")
                )
            continue
        if phase.listed and old.listed:
            if phase.name != old.name:
                edits.append(RenamePhase(number=phase.number, name=phase.name))
            if phase.status is not None and phase.status != old.status:
                edits.append(
                    SetPhaseStatus(number=phase.number, status=phase.status, given=phase.given)
                )
        if phase.description != old.description:
            lost.append(
                _semantic(
                    phase.description or "",
                    f"phase {phase.number} description edits are not synced",
                )
            )
        if phase.dependencies != old.dependencies:
            lost.append(
                _semantic(
                    "**Dependencies:** "
                    + "; ".join(f"{t} → {', '.join(ds)}" for t, ds in phase.dependencies),
                    f"phase {phase.number} dependency edits are not synced",
                )
            )

    seen: set[str] = set()
    for phase in edited.phases:
        for row in phase.tasks:
            if row.id in seen:
                lost.append(_semantic(_row_text(row), f"a second row with ID {row.id}", row.id))
                continue
            found = base_rows.get(row.id) if row.id else None
            if found is None:
                if row.id:
                    seen.add(row.id)
                edits.append(
                    AddTask(
                        phase=phase.number,
                        name=row.name,
                        status=row.status or "pending",
                        verification=row.verification,
                        requested_id=row.id or None,
                    )
                )
                continue
            seen.add(row.id)
            number, old_row = found
            if number != phase.number:
                lost.append(
                    _semantic(
                        _row_text(row),
                        f"moving task {row.id} to phase {phase.number} by hand is not synced",
                        row.id,
                    )
                )
            if row.status is not None and row.status != old_row.status:
                edits.append(SetStatus(task_id=row.id, status=row.status, given=row.given))
            if row.name != old_row.name:
                edits.append(Rename(task_id=row.id, name=row.name))
            if row.verification != old_row.verification:
                edits.append(SetVerification(task_id=row.id, text=row.verification))

    kept = seen | {u.ref for u in edited.unmapped if u.ref}
    deleted = [tid for tid in base_rows if tid not in kept]
    edits.extend(DeleteTask(task_id=tid) for tid in deleted)

    gone = set(deleted)
    subs_seen: set[str] = set()
    for lines, in_phase in [(p.subtasks, p) for p in edited.phases] + [
        (edited.orphan_subtasks, None)
    ]:
        owner = ""
        phase_ids: set[str] | None = None
        for line in lines:
            old_sub = base_subs.get(line.id) if line.id else None
            if old_sub is not None and line.id not in subs_seen:
                subs_seen.add(line.id)
                owner = line.task_id or old_sub.task_id or owner
                if line.checked != old_sub.checked:
                    edits.append(CheckSubtask(subtask_id=line.id, checked=line.checked))
                if line.name != old_sub.name:
                    lost.append(
                        _semantic(
                            f"{line.id}: {line.name}",
                            f"sub-task {line.id} renames are not synced",
                            line.id,
                        )
                    )
                continue
            name, task_id = line.name, line.task_id
            if line.id and not _SUB_ID.match(line.id):
                name = f"{line.id}: {line.name}" if line.name else line.id
            elif line.id and not task_id and in_phase is not None:
                if phase_ids is None:  # built once per phase, not once per line
                    phase_ids = {r.id for r in in_phase.tasks}
                task_id = _owner(line.id, phase_ids)
            task_id = task_id or owner
            if not task_id:
                lost.append(_semantic(f"- [ ] {name}", "a sub-task line that names no task"))
                continue
            owner = task_id
            edits.append(AddSubtask(task_id=task_id, name=name, checked=line.checked))
    for sub_id, old_sub in base_subs.items():
        if sub_id not in subs_seen and old_sub.task_id not in gone:
            edits.append(DeleteSubtask(subtask_id=sub_id))

    known = set(base_rows) | seen | set(base_subs) | subs_seen
    known.update(note_key(p.number) for v in (base, edited) for p in v.phases if p.listed)
    removed = gone | {e.subtask_id for e in edits if isinstance(e, DeleteSubtask)}
    edits.extend(_note_edits(base, edited, known, removed, lost))

    before = Counter((u.text, u.reason) for u in base.unmapped)
    for u in edited.unmapped:
        fragment = (u.text, u.reason)
        if before[fragment] > 0:
            before[fragment] -= 1
        else:
            lost.append(u)
    edits.extend(lost)
    return edits


def _notes_by_key(view: View) -> dict[str, tuple[str, ...]]:
    """Whose ("Phase N", task or sub-task id) → its note lines, over every phase's Notes
    (a key listed twice: joined)."""
    out: dict[str, tuple[str, ...]] = {}
    for phase in view.phases:
        for key, lines in phase.notes:
            out[key] = (*out[key], "", *lines) if key in out else lines
    return out


def _note_edits(
    base: View, edited: View, known: set[str], deleted: set[str], lost: list[Unmapped]
) -> list[Edit]:
    """SetNotes for each holder whose notes the edit changed, and for the tracker.
    Notes of what is in neither view (``known``: phase keys, task and sub-task ids), or
    changed notes of a row or line that was deleted, are kept in ``lost``."""
    edits: list[Edit] = []
    before, after = _notes_by_key(base), _notes_by_key(edited)
    for key in [*after, *(k for k in before if k not in after)]:
        mine = after.get(key, ())
        if mine == before.get(key, ()):
            continue
        text = "\n".join([f"- **{key}**", *(f"  {line}" for line in mine)])
        if key in deleted:
            if mine:
                lost.append(_semantic(text, f"notes of {key}, which was deleted"))
        elif key not in known:
            lost.append(_semantic(text, f"notes of {key}, which is not in the tracker"))
        else:
            edits.append(SetNotes(of=key, notes=mine))
    if edited.notes != base.notes:
        edits.append(SetNotes(of=None, notes=edited.notes))
    return edits


def _semantic(text: str, reason: str, ref: str = "") -> Unmapped:
    return Unmapped(line=0, text=text, reason=reason, ref=ref)


def _row_text(row: TaskRow) -> str:
    return f"| {row.id} | {row.name} | {row.given} | {row.verification or ''} |"
