"""``parse_view``: one tolerant pass over the lines of a Markdown view.

Anything it cannot map is kept as an ``Unmapped`` fragment, never dropped.
"""

from __future__ import annotations

from wtd.tracker import model
from wtd.tracker import status as st
from wtd.tracker.render import (
    PHASE_HEADING,
    ends_notes,
    heading,
    note_key,
    note_lines,
    unescape_cell,
    unescape_note,
)
from wtd.tracker.view.model import PhaseView, SubtaskLine, TaskRow, Unmapped, View
from wtd.tracker.view.syntax import (
    BULLET,
    CHECKBOX,
    DERIVED_KEYS,
    KEY_LINE,
    META_KEYS,
    NOTE_ITEM,
    RENDERED_LAYOUT,
    UNLISTED_NOTE,
    header_columns,
    owner_of,
    parse_int,
    row_cells,
    split_lines,
    split_subtask,
)


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
            if self.state == "tasks" and self.layout == RENDERED_LAYOUT:
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
            if stripped[0] == "#" and (h := heading(stripped)):
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
        m = NOTE_ITEM.match(stripped)
        if m is not None:
            key = m.group(1)
            if key[0] in "Pp":
                number = parse_int(key[5:].strip(" \t"))
                key = note_key(number) if number is not None else key
            self.note_task = self.phases[-1].notes.setdefault(key, [])
            self.blanks = 0
            self.lazy = True
            if m.group(2):
                self.add_note(m.group(2))
            return True
        if stripped[0] == "#" and heading(stripped):
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
            (m := PHASE_HEADING.match(text))
            and self.state not in ("missing", "summary", "checksum", "claims")
            and (number := parse_int(m.group(1))) is not None
        ):
            self.phases.append(_PhaseBuild(number, unescape_cell(m.group(2) or "")))
            self.rows.append([])
            self.state = "phase"
            return
        label = text.strip().lower()
        if level == 2 and label == "notes":
            self.state = "notes"
            return
        if level == 2 and label == "claims":
            self.state = "claims"  # derived, like the Progress Summary
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
            m = CHECKBOX.match(s)
            if m is None:
                self.lost(n, line, "not a sub-task checkbox line")
            elif state == "orphans":
                sub_id, name = split_subtask(m.group(2) or "")
                self.orphans.append(
                    SubtaskLine(
                        id=sub_id, task_id=self.orphan_task, name=name, checked=m.group(1) != " "
                    )
                )
            else:
                sub_id, name = split_subtask(m.group(2) or "")
                self.phases[-1].subs.append((sub_id, name, m.group(1) != " "))
        elif state == "phase":
            self.phase_line(n, line, s)
        elif state == "header":
            m = KEY_LINE.match(s)
            if m is None:
                self.lost(n, line, "free text in the header")
            elif m.group(1) in META_KEYS:
                self.meta.append((m.group(1), unescape_cell(m.group(2))))
            elif m.group(1) not in DERIVED_KEYS:
                self.lost(n, line, f"unknown header field {m.group(1)!r}")
        elif state == "phases":
            if s != "_No phases yet._":
                self.lost(n, line, "free text outside any phase")
        elif state == "summary":
            if s[0] != "|":
                self.lost(n, line, "free text in the Progress Summary")
        elif state == "claims":
            if s[0] != "|":
                self.lost(n, line, "free text in the Claims")
        elif state == "checksum":
            if s[0] != ">":
                self.lost(n, line, "free text in the Recovery Checksum")
        elif state == "missing":
            if not s.startswith("> **Note:**"):
                self.lost(n, line, "free text among sub-tasks of missing tasks")
        elif state == "unknown" and s[0] == "|":
            cells = row_cells(s)
            ref = unescape_cell(cells[0]) if cells else ""
            self.lost(n, line, "a table row outside a phase's task table", ref)
        elif state == "unknown" and (m := CHECKBOX.match(s)):
            self.lost(n, line, "a checkbox outside a phase", split_subtask(m.group(2) or "")[0])
        else:
            self.lost(n, line, "free text outside the tracker layout")

    def phase_line(self, n: int, line: str, s: str) -> None:
        phase = self.phases[-1]
        m = KEY_LINE.match(s)
        if m is not None:
            key, value = m.group(1), m.group(2)
            if key == "Status":
                phase.given = unescape_cell(value)
                phase.status = st.normalize(phase.given)
                if phase.status is None:
                    self.lost(n, line, f"unknown phase status {phase.given!r}")
            elif key == "Note" and value.strip() == UNLISTED_NOTE:
                phase.listed = False
            elif key != "Progress":
                self.lost(n, line, f"unknown phase field {key!r}")
        elif s[0] in "|>" or BULLET.match(s) or phase.description is not None:
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
        cells = row_cells(s)
        cols = self.columns
        if cols is None:
            self.columns = header_columns(cells)
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
        SubtaskLine(id=i, task_id=owner_of(i, task_ids), name=name, checked=done)
        for i, name, done in subs
    )


def parse_view(text: str, *, max_bytes: int = model.MAX_BYTES) -> View:
    """The View a Markdown file shows (tolerant of editors and people: blank lines,
    trailing spaces, CRLF, padded cells, any status spelling, ``[X]``).

    Linear in the size of ``text``. Raises model.LimitExceeded when ``text`` is over
    ``max_bytes`` (counted as UTF-8).
    """
    model.check_size(text, max_bytes=max_bytes, what="the Markdown view")
    return _Parser().run(split_lines(text))
