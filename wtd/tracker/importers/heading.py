"""One heading per task: ticket files and task lists where each task is a heading
followed by a ``**Status**: X`` (or ``**Status:** X``) line.

A heading (levels 2–4) is a task when a status line follows it before the next
heading; its text gives the ID and name (``Task 3: Name`` → 3, ``1.2 — Name`` → 1.2,
``TICKET-7: Name`` → TICKET-7; a leading status icon is not part of the name). Headings
without a status line are sections: inside a task (deeper than it) they and their
text are the task's notes (``### Problem``, ``### Acceptance Criteria``, whose
checkboxes are sub-tasks); elsewhere they are groups or notes. ``Phase N:`` headings
are the phases (their own status line, if any, is the phase's status). The lines
under a task — ``**Priority**``, ``**Estimate**``, ``**Effort**``, paragraphs, lists —
are its notes; ``**Dependencies**``/``**Deps**`` also give its dependencies. Status
text after the status word (``⏭️ Skipped by owner decision …``) keeps the line as a note.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import common, lists, refs, syntax
from wtd.tracker.importers.build import PHASE, TASK, Build, Holder, PhaseB, SubB, TaskB
from wtd.tracker.importers.statuses import strip_icons
from wtd.tracker.status import Status

NAME: Final = "heading"
TELLTALE: Final = (
    "heading     one `## Title` heading per task, with a `**Status**: …` line under it"
)

_DEPS: Final = re.compile(
    r"(?:\*\*|__)(?:Dependencies|Deps|Depends on|Blocked by)(?:(?:\*\*|__):|:(?:\*\*|__))[ \t]*+",
    re.IGNORECASE,
)


def _status_lines(doc: syntax.Doc) -> dict[int, int]:
    """Heading index → the index of the first status line under it (before the next
    heading), for headings of levels 2 to 6."""
    found: dict[int, int] = {}
    last = -1
    for i in range(doc.front, len(doc)):
        if doc.code[i]:
            continue
        s = doc.lines[i].strip()
        if s[:1] == "#":
            h = syntax.heading(s)
            if h is not None:
                last = i if h[0] >= 2 else -1
                continue
        if last >= 0 and last not in found and common.status_line(s) is not None:
            found[last] = i
    return found


def _is_task_heading(doc: syntax.Doc, i: int) -> bool:
    h = syntax.heading(doc.lines[i].strip())
    return h is not None and 2 <= h[0] <= 4 and syntax.phase_head(h[1]) is None


def detect(doc: syntax.Doc) -> int:
    """4 points per task heading (one with a status line under it)."""
    return 4 * sum(1 for i in _status_lines(doc) if _is_task_heading(doc, i))


def read(doc: syntax.Doc, build: Build) -> None:
    common.learn_legends(doc, build.vocab)
    _Headings(doc, build).run()


class _Headings:
    def __init__(self, doc: syntax.Doc, build: Build) -> None:
        self.doc = doc
        self.build = build
        self.status_at = _status_lines(doc)
        self.status_lines = set(self.status_at.values())
        self.section: PhaseB | None = None
        self.section_level = 0
        self.task: TaskB | None = None
        self.task_level = 0
        self.sub: SubB | None = None
        self.sub_indent = 0

    def holder(self) -> Holder | None:
        return self.task if self.task is not None else self.section

    def run(self) -> None:
        doc, build = self.doc, self.build
        for i in range(doc.front, len(doc)):
            line = doc.lines[i]
            s = line.strip()
            n = i + 1
            if not s:
                continue
            if doc.code[i]:
                build.note(n, line, self.holder(), strip=self.task is not None)
                continue
            if s[0] == "#" and (h := syntax.heading(s)) is not None:
                self.heading(n, line, i, *h)
                continue
            if i in self.status_lines:
                self.status(n, line, s)
                continue
            if self.task is not None:
                self.in_task(n, line, s, self.task)
                continue
            common.text(build, n, line, self.section)

    def heading(self, n: int, line: str, i: int, level: int, text: str) -> None:
        build = self.build
        self.sub = None
        if build.heading_title(n, level, text):
            return
        head = syntax.phase_head(text)
        if head is not None:
            self.task = None
            status: Status | None = "complete" if head.checkpoint else head.icon
            if i in self.status_at and status is None:
                line_at = self.doc.lines[self.status_at[i]].strip()
                status, _ = build.vocab.status(common.status_line(line_at) or "")
            phase = build.phase(n, head.name, number=head.number, status=status)
            lists.add_phase_extras(phase, head)
            self.section, self.section_level = phase, level
            return
        if i in self.status_at and 2 <= level <= 4:
            name, icon = strip_icons(text)
            wanted, rest = syntax.split_id(name)
            if rest.strip():
                name = rest.strip()
            else:
                wanted = ""
            status_text = common.status_line(self.doc.lines[self.status_at[i]].strip()) or ""
            status, _ = build.vocab.status(status_text)
            self.task = build.task(n, name or text, status or icon or "pending", wanted=wanted)
            self.task_level = level
            return
        if self.task is not None and level > self.task_level:
            build.note(n, line, self.task, strip=True)
            return
        self.task = None
        if self.section is not None and level <= self.section_level:
            self.section = None
        build.note(n, line, self.section)

    def status(self, n: int, line: str, s: str) -> None:
        """A task's status line (or a phase's, under its heading): taken, and kept as a
        note when it says more than the status."""
        build = self.build
        holder: Holder | None = self.task
        role = TASK
        if (
            holder is None
            and self.section is not None
            and self.status_at.get(self.section.line - 1) == (n - 1)
        ):
            holder, role = self.section, PHASE
        if holder is None:
            common.text(build, n, line, self.section)
            return
        value = common.status_line(s) or ""
        status, rest = build.vocab.status(value)
        if status is None:
            build.report(n, line, f"unknown status {value.strip()!r} (imported as pending)")
        if status is None or rest:
            build.note(n, line, holder, strip=True)
        else:
            build.mark(n, role)

    def in_task(self, n: int, line: str, s: str, task: TaskB) -> None:
        build = self.build
        box = syntax.checkbox(line)
        if box is not None and box.text.strip():
            status = build.vocab.mark(box.mark)
            item = lists.plain_item(box.text)
            sub = build.subtask(n, task, item.name, status, wanted=item.wanted)
            sub.extra.update(item.extra)
            self.sub, self.sub_indent = sub, box.indent
            return
        if self.sub is not None and syntax.indent(line) > self.sub_indent:
            build.note(n, line, self.sub, strip=True)
            return
        self.sub = None
        m = _DEPS.match(s)
        if m is not None:
            found = refs.references(s[m.end() :])
            if found:
                task.soft.extend(found)
        build.note(n, line, task, strip=True)
