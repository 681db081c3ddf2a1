"""Reading the Markdown view back: ``parse_view``, ``view_of``, ``diff_views``, ``import_plan``.

Pure: no I/O, no clock. A ``View`` is what a person can edit in the rendered file
(``render.render``): the title, the header fields, per phase its heading, status,
description, task rows, dependency line and sub-task checkboxes. Derived figures
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
from wtd.tracker.render import UNLISTED, unescape_cell

__all__ = [
    "AddPhase",
    "AddSubtask",
    "AddTask",
    "CheckSubtask",
    "DeleteSubtask",
    "DeleteTask",
    "Edit",
    "ImportResult",
    "PhaseView",
    "Rename",
    "RenamePhase",
    "SetPhaseStatus",
    "SetStatus",
    "SetVerification",
    "SubtaskLine",
    "TaskRow",
    "Unmapped",
    "View",
    "diff_views",
    "import_plan",
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
    | Unmapped
)


# --------------------------------------------------------------- line syntax

_PHASE: Final = re.compile(r"Phase[ \t]+(-?\d+)[ \t]*(?::[ \t]*(.*))?$", re.IGNORECASE)
_KEY: Final = re.compile(r">[ \t]*\*\*([^*]+?):\*\*[ \t]?(.*)$")
_CHECKBOX: Final = re.compile(r"(?:[-*+]|\d+[.)])[ \t]+\[([ xX])\](?:[ \t]+(.*))?$")
_BULLET: Final = re.compile(r"[-*+][ \t]")
_RULE_CELL: Final = re.compile(r"[ \t]*:?-+:?[ \t]*$")
_PIPE_OR_ESCAPE: Final = re.compile(r"\\.|\|")
_TASK_ID: Final = re.compile(r"\d+\.\d+$")
_SUB_ID: Final = re.compile(r"\d+\.\d+\.\d+$")
_LEADING_ID: Final = re.compile(r"(\d+\.\d+)(?:[:.)]|[ \t]+[-–—:])?[ \t]+(.*)$")

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


def _heading(line: str) -> tuple[int, str] | None:
    r"""(level, text) of an ATX heading line (``## Text ##``), or None.

    Exactly what the regex ``(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`` matched, in
    linear time: that regex took quadratic time on a long run of spaces (a ``#`` line
    with 16,000 spaces took 8 s) and held the GIL all along. ``line`` has no newline.
    """
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = line[level:]
    if not rest:
        return level, ""
    if rest[0] != " " and rest[0] != "\t":
        return None  # "#5" is not a heading
    text = rest.lstrip(" \t").rstrip(" \t")
    unclosed = text.rstrip("#")  # an optional closing sequence, after a space or tab
    if len(unclosed) < len(text) and unclosed[-1:] in (" ", "\t"):
        text = unclosed.rstrip(" \t")
    return level, text


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
    __slots__ = ("deps", "description", "given", "listed", "name", "number", "status", "subs")

    def __init__(self, number: int, name: str) -> None:
        self.number = number
        self.name = name
        self.listed = True
        self.status: str | None = None
        self.given = ""
        self.description: str | None = None
        self.deps: list[tuple[str, tuple[str, ...]]] = []
        self.subs: list[tuple[str, str, bool]] = []


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
            )
            for p, rows in zip(self.phases, self.rows, strict=True)
        )
        return View(
            title=self.title or "",
            meta=tuple(self.meta),
            phases=phases,
            orphan_subtasks=tuple(self.orphans),
            unmapped=tuple(self.unmapped),
        )

    # -- headings

    def heading(self, n: int, line: str, level: int, text: str) -> None:
        self.columns = None
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
        if level == 2 and label in ("phases", "progress summary", "recovery checksum"):
            self.state = {"phases": "phases", "progress summary": "summary"}.get(label, "checksum")
            return
        if level == 3 and label == "sub-tasks of missing tasks":
            self.state = "missing"
            return
        if level == 4 and self.state in ("phase", "tasks", "subtasks"):
            if label == "tasks":
                self.state = "tasks"
                return
            if label == "sub-tasks":
                self.state = "subtasks"
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

    def section(number: int, name: str, tasks: list[Task], **extra: Any) -> PhaseView:
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
    return View(title=meta.title, meta=tuple(fields), phases=tuple(phases), orphan_subtasks=orphans)


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

    before = Counter((u.text, u.reason) for u in base.unmapped)
    for u in edited.unmapped:
        fragment = (u.text, u.reason)
        if before[fragment] > 0:
            before[fragment] -= 1
        else:
            lost.append(u)
    edits.extend(lost)
    return edits


def _semantic(text: str, reason: str, ref: str = "") -> Unmapped:
    return Unmapped(line=0, text=text, reason=reason, ref=ref)


def _row_text(row: TaskRow) -> str:
    return f"| {row.id} | {row.name} | {row.given} | {row.verification or ''} |"


# ------------------------------------------------------------------- import


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    tracker: Tracker
    summary: list[str]
    unmapped: list[Unmapped]


def import_plan(
    text: str, *, title_hint: str, source: str = "", max_bytes: int = model.MAX_BYTES
) -> ImportResult:
    """A schema-valid v2 Tracker built from a Markdown plan that has no JSON yet.

    Understands the ECW layout exactly (a rendered view round-trips), and the
    common hand-written shapes: ``# Title``; phase headings (``## Phase 1: Name`` or
    any ``## Name``, level 2 or deeper) over checkbox lists (nested checkboxes are
    sub-tasks) or over tables with ID / Task / Status columns. Text that becomes no
    part of the tracker is returned as ``unmapped``, with its line number.

    Linear in the size of ``text``. Raises model.LimitExceeded when ``text`` is over
    ``max_bytes`` (counted as UTF-8).
    """
    model.check_size(text, max_bytes=max_bytes, what="the plan")
    lines = _lines(text)
    first = next((ln.strip() for ln in lines if ln.strip()), "")
    if first.startswith("# Work Tracker:"):
        view = _Parser().run(lines)
        build = _from_view(view, title_hint)
    else:
        build = _from_plan(lines, title_hint)
    tracker = build.finish()
    tasks = tracker.tasks
    done = sum(1 for t in tasks if t.status == "complete")
    subs = len(tracker.all_subtasks())
    where = f" from {source}" if source else ""
    summary = [
        f"Imported {_plural(len(tracker.phases), 'phase')}, {_plural(len(tasks), 'task')} "
        f"({done} complete), {_plural(subs, 'sub-task')}{where}",
        *build.notes,
    ]
    if build.unmapped:
        summary.append(
            f"{_plural(len(build.unmapped), 'line')} could not be imported "
            f"(first at line {build.unmapped[0].line})"
        )
    return ImportResult(tracker=tracker, summary=summary, unmapped=build.unmapped)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class _Build:
    """Raw JSON under construction (validated and normalised by model.from_raw)."""

    def __init__(self, title: str) -> None:
        self.meta: dict[str, Any] = {"title": title}
        self.phases: list[dict[str, Any]] = []
        self.tasks: list[dict[str, Any]] = []
        self.subtasks: list[dict[str, Any]] = []
        self.unmapped: list[Unmapped] = []
        self.notes: list[str] = []
        self.renumbered = 0
        self.ids: set[str] = set()  # task and sub-task ids given so far
        self.top: dict[str, int] = {}  # "2." → the largest N of the ids "2.N" given so far
        self.numbers: set[int] = set()  # phase numbers given so far
        self.last_number = 0  # the largest of them

    def _take(self, wanted: str, prefix: str) -> str:
        """``wanted`` when it is ``prefix`` + a number and free, else the next free id."""
        tail = wanted[len(prefix) :] if wanted.startswith(prefix) else ""
        number = _number(tail) if tail.isdigit() and tail.isascii() else None
        if number is None or wanted in self.ids:
            number = self.top.get(prefix, 0) + 1
            wanted = f"{prefix}{number}"
        self.top[prefix] = max(self.top.get(prefix, 0), number)
        self.ids.add(wanted)
        return wanted

    def phase(self, number: int | None, name: str, status: str = "pending") -> int:
        if number is None or number < 1 or number in self.numbers:
            number = self.last_number + 1
        self.numbers.add(number)
        self.last_number = max(self.last_number, number)
        entry: dict[str, Any] = {"number": number, "name": name or f"Phase {number}"}
        entry["status"] = status
        self.phases.append(entry)
        return number

    def task(
        self,
        phase: int,
        wanted: str,
        name: str,
        status: str,
        verification: str | None = None,
    ) -> str:
        task_id = self._take(wanted, f"{phase}.")
        if wanted and task_id != wanted:
            self.renumbered += 1
        entry: dict[str, Any] = {"id": task_id, "phase": phase, "name": name, "status": status}
        if verification:
            entry["verification"] = verification
        self.tasks.append(entry)
        return task_id

    def subtask(self, task_id: str, name: str, done: bool, wanted: str = "") -> None:
        wanted = self._take(wanted, f"{task_id}.")
        self.subtasks.append(
            {
                "id": wanted,
                "task_id": task_id,
                "name": name,
                "status": "complete" if done else "pending",
                "completed": done,
            }
        )

    def finish(self) -> Tracker:
        if self.renumbered:
            self.notes.append(
                f"{_plural(self.renumbered, 'task')} got a new ID (theirs was not free)"
            )
        raw: dict[str, Any] = {
            "schema_version": model.SCHEMA_VERSION,
            "meta": self.meta,
            "phases": self.phases,
            "tasks": self.tasks,
        }
        if self.subtasks:
            raw["subtasks"] = self.subtasks
        return model.with_derived_progress(model.from_raw(raw))


_META_FIELDS: Final = {"Initiative": "initiative_id", "Created": "created", "Updated": "updated"}
_META_STATUSES: Final = frozenset({"active", "complete", "blocked", "archived"})


def _from_view(view: View, title_hint: str) -> _Build:
    build = _Build(view.title or title_hint)
    build.unmapped = list(view.unmapped)
    for key, value in view.meta:
        if key == "Status":
            if value.lower() in _META_STATUSES:
                build.meta["status"] = value if value == value.lower() else value.lower()
        elif value:
            build.meta[_META_FIELDS[key]] = value
    renamed: dict[str, str] = {}
    links: list[tuple[dict[str, Any], tuple[str, ...]]] = []
    for phase in view.phases:
        if phase.listed:
            number = build.phase(phase.number, phase.name, phase.status or "pending")
            if phase.description is not None:
                build.phases[-1]["description"] = phase.description
        else:
            number = phase.number
        deps = dict(phase.dependencies)
        for row in phase.tasks:
            if not row.name:
                build.unmapped.append(_semantic(_row_text(row), "a task row without a name"))
                continue
            new_id = build.task(number, row.id, row.name, row.status or "pending", row.verification)
            if row.id:
                renamed[row.id] = new_id
            if row.id in deps:
                links.append((build.tasks[-1], deps[row.id]))
        for line in phase.subtasks:
            owner = renamed.get(line.task_id, "")
            if owner and line.name:
                build.subtask(owner, line.name, line.checked, line.id)
            else:
                build.unmapped.append(_semantic(f"{line.id}: {line.name}", "a sub-task of no task"))
    for entry, wanted in links:
        kept = [renamed.get(d, d) for d in wanted]
        entry["dependencies"] = [d for d in kept if _TASK_ID.match(d)]
    for line in view.orphan_subtasks:
        build.unmapped.append(_semantic(f"{line.id}: {line.name}", "a sub-task of a missing task"))
    return build


def _from_plan(lines: list[str], title_hint: str) -> _Build:
    """Hand-written plans: headings over checkbox lists or ID/Task/Status tables."""
    title: str | None = None
    build = _Build(title_hint)
    phase: int | None = None
    pending_heading: tuple[int | None, str] | None = None
    columns: dict[str, int] | None = None
    last_task: tuple[str, int] | None = None  # (task id, indent of its checkbox)

    def current_phase(id_hint: str = "") -> int:
        nonlocal phase, pending_heading
        if pending_heading is not None:
            wanted, name = pending_heading
            phase = build.phase(wanted, name)
            pending_heading = None
        if phase is None:
            number = _number(id_hint.split(".")[0]) if _TASK_ID.match(id_hint) else None
            phase = build.phase(number, "Tasks")
        return phase

    for n, raw in enumerate(lines, start=1):
        line = raw.rstrip()
        s = line.strip()
        if not s:
            columns = None
            continue
        if s[0] == "#" and (h := _heading(s)):
            columns = None
            last_task = None
            level, text = h
            if level == 1 and title is None:
                title = unescape_cell(text)
                build.meta["title"] = title or title_hint
                continue
            pm = _PHASE.match(text)
            if pm is not None and (number := _number(pm.group(1))) is not None:
                pending_heading = (number, unescape_cell(pm.group(2) or ""))
            else:
                pending_heading = (None, unescape_cell(text))
            phase = None
            continue
        if s[0] == "|":
            cells = _cells(s)
            if columns is None:
                columns = _columns(cells)
                if columns is None:
                    build.unmapped.append(
                        Unmapped(line=n, text=line, reason="a table without a Task column")
                    )
                    columns = {}
                continue
            if not columns or all(_RULE_CELL.match(c) for c in cells):
                if not columns:
                    build.unmapped.append(Unmapped(line=n, text=line, reason="not a task table"))
                continue
            values = [unescape_cell(c) for c in cells]
            values += [""] * (max(columns.values()) + 1 - len(values))
            name = values[columns["name"]]
            wanted = values[columns["id"]] if "id" in columns else ""
            given = values[columns["status"]] if "status" in columns else ""
            status = st.normalize(given) if given else "pending"
            if not name:
                build.unmapped.append(
                    Unmapped(line=n, text=line, reason="a row without a task name")
                )
                continue
            if status is None:
                build.unmapped.append(
                    Unmapped(
                        line=n, text=line, reason=f"unknown status {given!r} (imported as pending)"
                    )
                )
                status = "pending"
            ver = values[columns["verification"]] if "verification" in columns else ""
            build.task(current_phase(wanted), wanted, name, status, ver or None)
            continue
        columns = None
        m = _CHECKBOX.match(s)
        if m is None:
            build.unmapped.append(Unmapped(line=n, text=line, reason="free text (not a task)"))
            continue
        indent = len(line.expandtabs(4)) - len(line.expandtabs(4).lstrip())
        done = m.group(1) != " "
        text = m.group(2) or ""
        if last_task is not None and indent > last_task[1]:
            sub_id, sub_name = _split_subtask(text)
            if not _SUB_ID.match(sub_id):
                sub_id, sub_name = "", unescape_cell(text)
            if sub_name:
                build.subtask(last_task[0], sub_name, done, sub_id)
            continue
        name = unescape_cell(text)
        wanted = ""
        if im := _LEADING_ID.match(name):
            wanted, name = im.group(1), im.group(2)
        if not name:
            build.unmapped.append(Unmapped(line=n, text=line, reason="a checkbox without text"))
            continue
        task_id = build.task(current_phase(wanted), wanted, name, "complete" if done else "pending")
        last_task = (task_id, indent)
    if title is None:
        build.meta["title"] = title_hint
    if pending_heading is not None and not build.phases:
        build.notes.append("No tasks found")
    return build
