"""The ECW Full work-tracker layout: wtd's own view (render.py), the ECW Full template
(any version) and hand edits of either.

``# Work Tracker: X``, ``> **Key:** value`` header lines, ``## Phases``, ``### Phase N: X``
with ``> **Status:**``, a description line, ``#### Tasks`` tables
``| ID | Task | Status | Verification |``, ``**Dependencies:** A → B`` lines,
``#### Sub-tasks`` checkboxes ``- [x] N.M.K: name``, a phase's ``#### Notes`` block
(``- **Phase N**`` / ``- **N.M**`` / ``- **N.M.K**`` items, their lines indented) and the
tracker's ``## Notes`` section. A rendered view reads back to the tracker it was
rendered from (numbers, IDs, names, statuses, verifications, dependencies,
descriptions, sub-tasks, notes, meta): rendered again, it is the same view.

What a view regenerates is layout, never trusted: progress lines, the wtd Progress
Summary table and Recovery Checksum, the ``Source`` line, rules. Everything else that is
not part of the tracker is kept as notes: header fields (Version, Template, Session,
Work ID), sections (Overview, a template's own Progress Summary and checksum block),
free text in a phase (the phase's notes); ``#### Task N.M: …`` entries under
``## Evidence`` go to that task's notes. Status cells and lines take every spelling
(``Deferred``, ``⏸️``, ``done``, ``WIP``…). A row with an empty ID cell gets the next
free ID of its phase.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import syntax
from wtd.tracker.importers.build import (
    LAYOUT,
    META,
    NOTE,
    PHASE,
    TASK,
    Build,
    Holder,
    PhaseB,
    SubB,
    TaskB,
)
from wtd.tracker.render import (
    SUMMARY_HEADER,
    ends_notes,
    note_key,
    unescape_cell,
    unescape_note,
)
from wtd.tracker.status import Status
from wtd.tracker.view.syntax import COLUMNS, DERIVED_KEYS, META_KEYS, UNLISTED_NOTE

NAME: Final = "ecw"
TELLTALE: Final = (
    "ecw         `# Work Tracker: X`, `### Phase N: X`, `| ID | Task | Status | Verification |`"
)

_KEY: Final = re.compile(r">[ \t]*+\*\*([^*]{1,60}?):\*\*[ \t]?")
_PHASE: Final = re.compile(r"Phase[ \t]++(-?\d++)[ \t]*+(?::[ \t]*+|$)", re.IGNORECASE)
_CHECKBOX: Final = re.compile(r"(?:[-*+]|\d{1,9}+[.)])[ \t]++\[([ xX~/-])\](?:[ \t]++|$)")
_NOTE_ITEM: Final = re.compile(
    r"[-*+][ \t]++\*\*(Phase[ \t]++\d{1,9}+|\d{1,9}+\.\d{1,9}+(?:\.\d{1,9}+)?+)\*\*[ \t]*+:?+"
    r"(?:[ \t]++|$)",
    re.IGNORECASE,
)
_TITLE: Final = "# Work Tracker:"
_META_KEYS = META_KEYS  # the view's own vocabulary: one definition (view/syntax.py)
_DERIVED = DERIVED_KEYS
_UNLISTED_NOTE = UNLISTED_NOTE
_COLUMNS = COLUMNS
_RENDERED_SUMMARY: Final = SUMMARY_HEADER.replace(" ", "")[:-1]
_IN_PHASE: Final = frozenset({"phase", "tasks", "subs", "task-notes"})


def detect(doc: syntax.Doc) -> int:
    """Certain when the first line (after any front matter) is ``# Work Tracker: …``."""
    for i in range(doc.front, len(doc)):
        s = doc.lines[i].strip()
        if s:
            return syntax.CERTAIN if s.startswith(_TITLE) else 0
    return 0


def read(doc: syntax.Doc, build: Build) -> None:
    _View(doc, build).run()


def _split_subtask(rest: str) -> tuple[str, str]:
    """(id, name) of a sub-task line's text: ``2.2.1: name``, ``2.2.1:`` or ``name``."""
    cut = rest.find(": ")
    if cut >= 0:
        return unescape_cell(rest[:cut]), unescape_cell(rest[cut + 2 :])
    if rest.endswith(":"):
        return unescape_cell(rest[:-1]), ""
    return "", unescape_cell(rest)


class _View:
    """One pass over the lines; ``state`` says which part of the layout we are in."""

    def __init__(self, doc: syntax.Doc, build: Build) -> None:
        self.doc = doc
        self.build = build
        self.state = "top"
        self.phase: PhaseB | None = None
        self.rows: dict[str, TaskB] = {}  # row ID → task, in this phase
        self.owner: TaskB | None = None  # the task of the last sub-task line
        self.tasks: dict[str, TaskB] = {}  # row ID → task, all phases
        self.subs: dict[str, SubB] = {}  # sub-task ID → sub-task
        self.phases: dict[str, PhaseB] = {}  # phase number → phase
        self.columns: dict[str, int] = {}
        self.width = 0
        self.holder: Holder | None = None  # where a section's free lines go
        self.pending: tuple[int, str] | None = None  # a section heading, layout or note
        self.statuses: dict[str, tuple[Status | None, str]] = {}
        self.fence = ""
        self.item: Holder | None = None  # the ``- **X**`` item of a Notes block
        self.blanks = 0
        self.lazy = False

    # ------------------------------------------------------------ the walk

    def run(self) -> None:
        lines = self.doc.lines
        for i in range(self.doc.front, len(lines)):
            raw = lines[i]
            n = i + 1
            if self.state == "notes" or self.state == "task-notes":
                line = raw.rstrip()
                if self.note_line(n, line):
                    continue
            s = raw.strip()
            if not s:
                continue
            if self.fence:
                if s.startswith(self.fence) and not s.lstrip(self.fence[0]):
                    self.fence = ""
                self.keep(n, raw)
                continue
            if s[:3] in ("```", "~~~"):
                run = len(s) - len(s.lstrip(s[0]))
                if s[0] != "`" or "`" not in s[run:]:
                    self.fence = s[0] * run
                    self.keep(n, raw)
                    continue
            if s[0] == "#" and (h := syntax.heading(s)) is not None:
                self.heading(n, raw, *h)
            else:
                self.body(n, raw, s)
        self.flush_pending(layout=True)

    def keep(self, n: int, line: str) -> None:
        """Keep line ``n`` as a note where the reading is (section, phase or plan)."""
        self.flush_pending(layout=False)
        holder = self.holder
        if holder is None and self.phase is not None and self.state in _IN_PHASE:
            holder = self.phase
        self.build.note(n, line, holder)

    def flush_pending(self, *, layout: bool) -> None:
        """The heading of a summary or checksum section: layout when what follows is
        wtd's own, else kept (with what follows) as a note."""
        if self.pending is not None:
            n, line = self.pending
            self.pending = None
            if layout:
                self.build.layout(n)
            else:
                self.build.note(n, line, self.holder)

    # ------------------------------------------------------------ notes

    def note_line(self, n: int, line: str) -> bool:
        """A line of the tracker's Notes section or of a phase's Notes block (as
        render writes them): True when taken, False when it ends them."""
        if self.state == "notes":
            if not line:
                self.blanks += 1
            elif ends_notes(line):
                return False
            else:
                self.add_note(n, self.build.plan, unescape_note(line))
            return True
        if not line:
            self.blanks += 1
            self.lazy = False
            return True
        assert self.phase is not None
        if line[:2] == "  " or line[0] == "\t":
            text = line[2:] if line[0] == " " else line[1:]
            if self.item is None:
                self.build.note(n, line, self.phase)
            else:
                self.add_note(n, self.item, unescape_note(text))
            return True
        stripped = line.lstrip()
        m = _NOTE_ITEM.match(stripped)
        if m is not None:
            self.item = self.owner_of(m.group(1))
            self.blanks = 0
            self.lazy = True
            self.build.mark(n, LAYOUT)
            if self.item is None:
                self.build.report(n, line, "notes of something that is not in the tracker")
                self.item = self.phase
                self.add_note(n, self.phase, line)
            elif self.item.notes:
                self.item.notes.append("")
            if stripped[m.end() :]:
                self.add_note(n, self.item, unescape_note(stripped[m.end() :]))
            return True
        if stripped[0] == "#" and syntax.heading(stripped) is not None:
            return False
        if syntax.is_rule(stripped):
            self.state = "phases"
            self.item = None
            self.build.layout(n)
            return True
        if self.lazy and self.item is not None:
            self.add_note(n, self.item, unescape_note(line))
        else:
            self.build.note(n, line, self.phase)
        return True

    def add_note(self, n: int, holder: Holder, text: str) -> None:
        if holder.notes:
            holder.notes.extend([""] * self.blanks)
        self.blanks = 0
        self.lazy = True
        holder.notes.append(text)
        self.build.mark(n, NOTE)

    def owner_of(self, key: str) -> Holder | None:
        if key[0] in "Pp":
            number = key[5:].strip()
            phase = self.phases.get(number)
            return phase if phase is not None and note_key(int(number)) == key else None
        if key.count(".") == 1:
            return self.rows.get(key) or self.tasks.get(key)
        return self.subs.get(key)

    # ------------------------------------------------------------ headings

    def heading(self, n: int, line: str, level: int, text: str) -> None:
        build = self.build
        self.flush_pending(layout=True)
        self.columns = {}
        self.holder = None
        self.item = None
        self.blanks = 0
        if level == 1:
            if self.state == "top":
                head, sep, rest = text.partition("Work Tracker:")
                title = unescape_cell(rest if sep and not head.strip() else text)
                if not build.title(n, title):
                    build.note(n, line)
                self.state = "header"
            else:
                self.state = "section"
                build.note(n, line)
            return
        m = _PHASE.match(text)
        if m is not None and self.state not in ("missing", "orphans", "summary", "checksum"):
            self.open_phase(n, m.group(1), unescape_cell(text[m.end() :]))
            return
        label = text.strip().lower()
        if level == 2 and label in ("phases", "notes"):
            build.layout(n)
            self.state = label
            self.phase = None
            return
        if level == 2 and label in ("progress summary", "recovery checksum"):
            self.state = "summary" if label == "progress summary" else "checksum"
            self.pending = (n, line)
            self.phase = None
            return
        if level == 3 and label == "sub-tasks of missing tasks":
            build.layout(n)
            self.state = "missing"
            self.phase = None
            return
        if level == 4 and self.phase is not None and self.state in _IN_PHASE:
            state = {"tasks": "tasks", "sub-tasks": "subs", "notes": "task-notes"}.get(label)
            if state is not None:
                build.layout(n)
                self.state = state
                self.lazy = False
                return
        if level == 4 and self.state in ("missing", "orphans") and label.startswith("task"):
            build.layout(n)
            self.state = "orphans"
            return
        if level == 2 and label == "evidence":
            self.state = "evidence"
            self.phase = None
            build.note(n, line)
            return
        if level == 4 and self.state in ("evidence", "evidence-task") and label.startswith("task"):
            words = text.split(None, 2)
            task = self.tasks.get(words[1].rstrip(":")) if len(words) > 1 else None
            self.holder = task
            self.state = "evidence-task"
            build.note(n, line, task)
            return
        if level >= 4 and self.phase is not None and self.state in _IN_PHASE:
            self.state = "phase-section"
            self.holder = self.phase
            build.note(n, line, self.phase)
            return
        if level <= 3:
            self.phase = None
        self.state = "section"
        self.holder = self.phase
        build.note(n, line, self.holder)

    def open_phase(self, n: int, number: str, name: str) -> None:
        self.phase = self.build.phase(n, name, number=number)
        self.phases.setdefault(number, self.phase)
        self.rows = {}
        self.owner = None
        self.state = "phase"

    # ------------------------------------------------------------ everything else

    def body(self, n: int, line: str, s: str) -> None:
        build = self.build
        state = self.state
        if syntax.is_rule(s):
            build.layout(n)
        elif state == "tasks":
            self.task_line(n, line, s)
        elif state == "subs":
            self.sub_line(n, line, s)
        elif state == "phase":
            self.phase_line(n, line, s)
        elif state == "header":
            self.header_line(n, line, s)
        elif state == "phases" and s == "_No phases yet._":
            build.layout(n)
        elif state in ("summary", "summary-rendered"):
            self.summary_line(n, line, s)
        elif state == "checksum" and s.startswith(("> **JSON checksum:**", "> **Tasks:**")):
            self.flush_pending(layout=True)
            build.layout(n)
        elif state == "missing" and s.startswith("> **Note:**"):
            build.layout(n)
        elif state in ("missing", "orphans") and _CHECKBOX.match(s):
            build.unknown(n, line, "a sub-task of a missing task")
        else:
            self.keep(n, line)

    def header_line(self, n: int, line: str, s: str) -> None:
        m = _KEY.match(s)
        if m is None:
            self.build.note(n, line)
            return
        key, value = m.group(1), unescape_cell(s[m.end() :])
        if key in _DERIVED:
            self.build.layout(n)
        elif key in _META_KEYS and self.build.meta_field(key, value):
            self.build.mark(n, META)
        else:
            self.build.note(n, line)

    def phase_line(self, n: int, line: str, s: str) -> None:
        assert self.phase is not None
        phase = self.phase
        build = self.build
        m = _KEY.match(s)
        if m is not None:
            key, value = m.group(1), s[m.end() :]
            if key == "Status":
                status, rest = self.status(value)
                if status is None or rest:
                    build.report(n, line, f"unknown phase status {value!r}")
                    build.note(n, line, phase)
                if status is not None:
                    phase.status = status
                    build.mark(n, PHASE)
                return
            if key == "Progress":
                build.layout(n)
                return
            if key == "Note" and value.strip() == _UNLISTED_NOTE:
                phase.listed = False
                build.layout(n)
                return
        if s[0] in "|>" or syntax.is_bullet(s) or phase.description or phase.notes:
            build.note(n, line, phase)
        else:
            build.describe(n, phase, unescape_cell(s))

    def status(self, given: str) -> tuple[Status | None, str]:
        found = self.statuses.get(given)
        if found is None:
            found = self.statuses[given] = self.build.vocab.status(unescape_cell(given))
        return found

    def task_line(self, n: int, line: str, s: str) -> None:
        assert self.phase is not None
        phase = self.phase
        build = self.build
        if s[0] != "|":
            if s.startswith("**Dependencies:**"):
                if self.dependencies(s[len("**Dependencies:**") :]):
                    build.mark(n, TASK)
                else:
                    build.unknown(n, line, "a dependency that is not `X.Y → A.B`", keep=phase)
            elif s == "_No tasks yet._":
                build.layout(n)
            else:
                build.note(n, line, phase)
            return
        cells = syntax.cells(s)
        if not self.columns:
            self.header(n, line, cells)
            return
        if syntax.is_delimiter_row(cells):
            build.layout(n)
            return
        if len(cells) > self.width:
            build.unknown(n, line, "a row with more cells than the table (an unescaped '|'?)")
            return
        if "\\" in s or "&" in s or "<" in s:
            values = [unescape_cell(c) for c in cells]
        else:  # what unescape_cell does to text without escapes, without the calls
            values = [c.strip(" \t") for c in cells]
        values += [""] * (self.width - len(values))
        if not any(values):
            build.layout(n)
            return
        columns = self.columns
        name = values[columns["name"]]
        if not name:
            build.unknown(n, line, "a task row without a name", keep=phase)
            return
        task_id = values[columns["id"]] if "id" in columns else ""
        given = values[columns["status"]] if "status" in columns else ""
        status, rest = self.status(given) if given else ("pending", "")
        task = build.task(n, name, status or "pending", wanted=task_id, phase=phase)
        ver = values[columns["verification"]] if "verification" in columns else ""
        if ver:
            task.verification = ver
        if status is None:
            build.report(n, line, f"unknown status {given!r} (imported as pending)")
        if status is None or rest:
            build.note(n, f"Status: {given}", task)
        for key, k in columns.items():
            if key[0] == "+" and values[k]:
                build.note(n, f"{key[1:]}: {values[k]}", task)
        if task_id:
            self.rows.setdefault(task_id, task)
            self.tasks.setdefault(task_id, task)

    def header(self, n: int, line: str, cells: list[str]) -> None:
        assert self.phase is not None
        columns: dict[str, int] = {}
        for k, cell in enumerate(cells):
            label = unescape_cell(cell)
            role = _COLUMNS.get(label.strip("*_ ").lower())
            if role is None:
                columns["+" + label] = k
            elif role not in columns:
                columns[role] = k
        if "name" not in columns:
            self.build.note(n, line, self.phase)
            self.state = "phase-section"
            self.holder = self.phase
            return
        self.columns = columns
        self.width = len(cells)
        self.build.layout(n)

    def dependencies(self, text: str) -> bool:
        links: list[tuple[str, list[str]]] = []
        for link in text.strip().split("; "):
            task_id, arrow, deps = link.partition(" → ")
            if not arrow:
                return False
            if "\\" in link or "&" in link or "<" in link:
                links.append((unescape_cell(task_id), [unescape_cell(d) for d in deps.split(", ")]))
            else:
                links.append((task_id.strip(" \t"), [d.strip(" \t") for d in deps.split(", ")]))
        for dependent, prerequisites in links:
            task = self.rows.get(dependent)
            if task is None:
                for prerequisite in prerequisites:
                    self.build.link(dependent, prerequisite)
            else:
                task.deps.extend(prerequisites)
        return True

    def sub_line(self, n: int, line: str, s: str) -> None:
        assert self.phase is not None
        build = self.build
        m = _CHECKBOX.match(s)
        if m is None:
            build.note(n, line, self.phase)
            return
        sub_id, name = _split_subtask(s[m.end() :])
        owner = self.rows.get(sub_id.rpartition(".")[0]) if sub_id else self.owner
        if owner is None or not name:
            build.unknown(n, line, "a sub-task of no task", keep=self.phase)
            return
        mark = m.group(1)
        status: Status = "complete" if mark in "xX" else build.vocab.mark(mark)
        sub = build.subtask(n, owner, name, status, wanted=sub_id)
        if sub_id:
            self.subs.setdefault(sub_id, sub)
        self.owner = owner

    def summary_line(self, n: int, line: str, s: str) -> None:
        if self.state == "summary" and s.replace(" ", "").startswith(_RENDERED_SUMMARY):
            self.state = "summary-rendered"
        if self.state == "summary-rendered" and s[0] == "|":
            self.flush_pending(layout=True)
            self.build.layout(n)
            return
        self.keep(n, line)
