"""Work-tracker tables: ``| # | Task | Status | Owner | Notes |`` boards and trackers.

A task table is one whose header has a Task-like column (Task, Name, Title, Item…)
and a Status-like one (Status, State); its rows are tasks. The ``#``/``ID`` column
gives the file's IDs; a Task column that only holds IDs (``TASK-006``) is taken as the
ID when another column holds names (Title, Description…). A status cell's leading
icon and/or word picks the status (⬜ 🟡 ⛔ ⏸️, NEXT, PLANNED, Backlog, In Review…, or
what the file's legend says); text after it is kept, as are the other columns
(``Owner: josh``), in the task's notes; a Dependencies column gives dependencies, a
Verification column the verification. Tables without both columns (a legend, a
summary, a stack) are notes.

Phases: the file's ``Phase N:`` headings, with deeper headings as groups inside them;
without them, the nearest heading above each task table is its phase.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import common, lists, refs, syntax
from wtd.tracker.importers.build import LAYOUT, Build, PhaseB
from wtd.tracker.importers.statuses import strip_icons
from wtd.tracker.status import Status

NAME: Final = "table"
TELLTALE: Final = (
    "table       tables with a Task and a Status column: `| # | Task | Status | … |`, "
    "word or emoji statuses"
)

_ID_COLUMNS: Final = frozenset(
    {"#", "id", "no", "no.", "nr", "num", "key", "ticket", "ref", "task id", "item id"}
)
_NAME_COLUMNS: Final[dict[str, int]] = {  # the lower, the more it is "the task's name"
    "task": 0,
    "tasks": 0,
    "task name": 0,
    "name": 1,
    "title": 1,
    "item": 2,
    "todo": 2,
    "to do": 2,
    "work item": 2,
    "deliverable": 2,
    "feature": 2,
    "story": 2,
    "description": 3,
    "summary": 3,
    "what": 3,
}
_STATUS_COLUMNS: Final = frozenset({"status", "state"})
_VERIFY_COLUMNS: Final = frozenset({"verification", "verify"})
_DEPS_COLUMNS: Final = frozenset(
    {"dependencies", "dependency", "depends on", "deps", "blocked by", "after"}
)
_ID_LIKE: Final = re.compile(r"[A-Za-z]{0,16}+[-_]?+\d{1,9}+(?:[.-]\d{1,9}+){0,3}+$")


class Columns:
    """The roles of a task table's columns (indexes), from its header row."""

    __slots__ = ("deps", "headers", "id", "name", "status", "verification")

    def __init__(self, headers: list[str]) -> None:
        self.headers = headers
        self.id = self.status = self.verification = self.deps = -1
        self.name = -1
        rank = 99
        for k, raw in enumerate(headers):
            label = raw.strip("*_` ").lower()
            if label in _ID_COLUMNS and self.id < 0:
                self.id = k
            elif label in _NAME_COLUMNS and _NAME_COLUMNS[label] < rank:
                self.name, rank = k, _NAME_COLUMNS[label]
            elif label in _STATUS_COLUMNS and self.status < 0:
                self.status = k
            elif label in _VERIFY_COLUMNS and self.verification < 0:
                self.verification = k
            elif label in _DEPS_COLUMNS and self.deps < 0:
                self.deps = k

    @property
    def is_task_table(self) -> bool:
        return self.name >= 0 and self.status >= 0

    def names_are_ids(self, rows: list[list[str]]) -> int:
        """When the name column only holds IDs and another column holds names, the index
        of that other column; else -1."""
        values = [r[self.name] for r in rows if self.name < len(r) and r[self.name]]
        if not values or not all(_ID_LIKE.match(v) for v in values):
            return -1
        best, rank = -1, 99
        for k, raw in enumerate(self.headers):
            label = raw.strip("*_` ").lower()
            if k != self.name and label in _NAME_COLUMNS and _NAME_COLUMNS[label] < rank:
                best, rank = k, _NAME_COLUMNS[label]
        return best


def _table_at(doc: syntax.Doc, i: int) -> Columns | None:
    """The columns of the table whose header is line ``i`` (a delimiter row follows)."""
    line = doc.lines[i].strip()
    if not line.startswith("|") or i + 1 >= len(doc) or doc.code[i + 1]:
        return None
    if not syntax.is_delimiter_row(syntax.cells(doc.lines[i + 1])):
        return None
    return Columns([syntax.cell_text(c) for c in syntax.cells(line)])


def _end_of_table(doc: syntax.Doc, i: int) -> int:
    """The index of the first line after the table that starts at ``i``."""
    while i < len(doc) and not doc.code[i] and doc.lines[i].lstrip().startswith("|"):
        i += 1
    return i


def detect(doc: syntax.Doc) -> int:
    """2 points per row of a task table."""
    rows = 0
    i = doc.front
    while i < len(doc):
        columns = None if doc.code[i] else _table_at(doc, i)
        if columns is None:
            i += 1
            continue
        end = _end_of_table(doc, i + 2)
        if columns.is_task_table:
            rows += end - i - 2
        i = max(end, i + 1)
    return 2 * rows


def read(doc: syntax.Doc, build: Build) -> None:
    common.learn_legends(doc, build.vocab)
    _Tables(doc, build).run()


class _Tables:
    def __init__(self, doc: syntax.Doc, build: Build) -> None:
        self.doc = doc
        self.build = build
        self.phase_headings = False
        self.holds: set[int] = set()  # headings right above a task table
        last = -1
        i = doc.front
        while i < len(doc):
            s = doc.lines[i].lstrip()
            if not doc.code[i] and s[:1] == "#" and (h := syntax.heading(s)) is not None:
                last = i
                if syntax.phase_head(h[1]) is not None:
                    self.phase_headings = True
            elif not doc.code[i] and (columns := _table_at(doc, i)) is not None:
                if columns.is_task_table and last >= 0:
                    self.holds.add(last)
                i = _end_of_table(doc, i + 2)
                continue
            i += 1
        self.section: PhaseB | None = None
        self.level = 0

    def run(self) -> None:
        doc, build = self.doc, self.build
        i = doc.front
        while i < len(doc):
            line = doc.lines[i]
            s = line.strip()
            n = i + 1
            if not s:
                i += 1
                continue
            if doc.code[i]:
                build.note(n, line, self.section)
                i += 1
                continue
            if s[0] == "#" and (h := syntax.heading(s)) is not None:
                self.heading(n, line, i, *h)
                i += 1
                continue
            columns = _table_at(doc, i) if s[0] == "|" else None
            if columns is not None:
                i = self.table(i, columns)
                continue
            common.text(build, n, line, self.section)
            i += 1

    def heading(self, n: int, line: str, i: int, level: int, text: str) -> None:
        build = self.build
        if build.heading_title(n, level, text):
            return
        head = syntax.phase_head(text) if self.phase_headings else None
        if head is not None:
            stated: Status | None = "complete" if head.checkpoint else head.icon
            phase = build.phase(n, head.name, number=head.number, status=stated)
            lists.add_phase_extras(phase, head)
            self.section, self.level = phase, level
            return
        if self.phase_headings and self.section is not None and level > self.level:
            build.note(n, line, self.section)  # a group inside the phase
            return
        if not self.phase_headings and i in self.holds:
            name, icon = strip_icons(text)
            self.section = build.phase(n, name or text, status=icon)
            self.level = level
            return
        self.section = None
        build.now = None
        build.note(n, line)

    def table(self, i: int, columns: Columns) -> int:
        """Read the table whose header is line ``i``; return the index after it."""
        doc, build = self.doc, self.build
        end = _end_of_table(doc, i + 2)
        if not columns.is_task_table:
            for k in range(i, end):
                build.note(k + 1, doc.lines[k], self.section)
            return end
        build.mark(i + 1, LAYOUT)
        build.mark(i + 2, LAYOUT)
        rows = [
            [syntax.cell_text(c) for c in syntax.cells(doc.lines[k])] for k in range(i + 2, end)
        ]
        alternative = columns.names_are_ids(rows)
        phase = build.current() if self.section is None else self.section
        for k, values in enumerate(rows, start=i + 2):
            self.row(k + 1, doc.lines[k], values, columns, alternative, phase)
        return end

    def row(
        self,
        n: int,
        line: str,
        values: list[str],
        columns: Columns,
        alternative: int,
        phase: PhaseB,
    ) -> None:
        build = self.build
        width = len(columns.headers)
        if not any(values):
            build.mark(n, LAYOUT)
            return
        if len(values) > width:
            build.unknown(n, line, "a row with more cells than the table (an unescaped '|'?)")
            return
        values = values + [""] * (width - len(values))
        name_col, id_col = columns.name, columns.id
        if alternative >= 0:
            name_col, id_col = alternative, columns.id if columns.id >= 0 else columns.name
        name = values[name_col]
        wanted = values[id_col] if id_col >= 0 else ""
        if not name:
            build.unknown(n, line, "a table row without a task name", keep=phase)
            return
        given = values[columns.status]
        status, rest = build.vocab.status(given)
        task = build.task(n, name, status or "pending", wanted=wanted, phase=phase)
        if status is None and given:
            build.report(n, line, f"unknown status {given!r} (imported as pending)")
        if given and (status is None or rest):
            build.note(n, f"{columns.headers[columns.status]}: {given}", task)
        for k, value in enumerate(values):
            if not value or k in (name_col, id_col, columns.status):
                continue
            if k == columns.verification:
                task.verification = value
                continue
            if k == columns.deps and (found := refs.references(value)) is not None:
                task.deps.extend(found)
                continue
            build.note(n, f"{columns.headers[k]}: {value}", task)
