"""The tracker under construction: what a reader found, line by line (assemble.py
makes the tracker of it).

Readers call ``title``, ``field``, ``phase``, ``task``, ``subtask``, ``note``,
``describe``, ``layout``, ``unknown`` and ``report`` with the 1-based number of the
line they took it from; the builder records each line's role, so ``roles`` proves that
no line was lost (every non-blank line has one). Notes are kept verbatim (trailing
whitespace aside), a gap between two notes of one holder being one "" entry.

What the schema cannot hold is adapted here, never written invalid: a name over 200
characters is cut at a word, ended with "…" and kept whole as the first note; dates
become RFC 3339; ``meta.status`` is one of the schema's values or the line is kept as
a note instead.
"""

from __future__ import annotations

import re
from typing import Any, Final

from wtd.tracker.importers import syntax
from wtd.tracker.importers.statuses import Vocabulary
from wtd.tracker.markdown import Unmapped
from wtd.tracker.status import Status

# Line roles (bytes of ``Build.roles``; 0: not taken, which only blank lines may be). A
# line that is not understood is kept as a note (and reported in ``unmapped``).
TITLE: Final = 1
META: Final = 2
PHASE: Final = 3
TASK: Final = 4
SUBTASK: Final = 5
NOTE: Final = 6
LAYOUT: Final = 7  # structure a view regenerates (ECW headings, derived figures, delimiters)
ROLE_NAMES: Final = ("", "title", "meta", "phase", "task", "subtask", "note", "layout")

NAME_LIMIT: Final = 200
_INITIATIVE: Final = re.compile(r"[A-Za-z0-9-]{1,200}$")
_CREATED: Final = frozenset({"created", "created at", "createdat", "created on", "date created"})
_UPDATED: Final = frozenset({"updated", "updated at", "updatedat", "last updated", "last modified"})
_META_STATUS: Final[dict[str, str]] = {  # as model.fit_schema maps a v1 meta.status
    "pending": "active",
    "in_progress": "active",
    "complete": "complete",
    "blocked": "blocked",
    "skipped": "archived",
    "superseded": "archived",
}


def fit(text: str) -> tuple[str, str | None]:
    """(name, full): ``text`` itself when it fits the schema's 200 characters, else cut at
    a word boundary and ended with "…" (``full`` is then the whole text, else None)."""
    if len(text) <= NAME_LIMIT:
        return text, None
    head = text[: NAME_LIMIT - 1]
    space = head.rfind(" ")
    if space > NAME_LIMIT // 2:
        head = head[:space]
    return head.rstrip(" \t,;:—–-") + "…", text


def dedent(line: str, width: int) -> str:
    """``line`` without up to ``width`` columns of leading whitespace (a tab is 4)."""
    col = 0
    i = 0
    while i < len(line) and col < width and line[i] in " \t":
        col += 1 if line[i] == " " else 4 - col % 4
        i += 1
    return line[i:]


class Holder:
    """Something that keeps notes: the plan, a phase, a task, a sub-task."""

    __slots__ = ("_base", "_last", "notes")

    def __init__(self) -> None:
        self.notes: list[str] = []
        self._last = -1  # the line of the last note (a gap is a paragraph break)
        self._base = -1  # the indentation taken off every note (that of the first)


class PhaseB(Holder):
    __slots__ = ("description", "extra", "line", "listed", "name", "number", "status", "tracker")

    def __init__(self, line: int, name: str, number: str | None, status: Status | None) -> None:
        super().__init__()
        self.line = line
        self.name = name
        self.number = number  # as written in the file
        self.status = status  # as the file says, or None: derived from the tasks
        self.listed = True
        self.description: list[str] = []
        self.extra: dict[str, Any] = {}
        self.tracker = 0  # the tracker's number, given at finish


class TaskB(Holder):
    __slots__ = (
        "deps",
        "extra",
        "id",
        "line",
        "name",
        "phase",
        "soft",
        "status",
        "subs",
        "verification",
        "wanted",
    )

    def __init__(self, line: int, phase: PhaseB, name: str, status: Status, wanted: str) -> None:
        super().__init__()
        self.line = line
        self.phase = phase
        self.name = name
        self.status = status
        self.wanted = wanted  # the file's own ID ("" when it has none)
        self.verification: str | None = None
        self.deps: list[str] = []  # references as the file writes them
        self.soft: list[str] = []  # the same, from text also kept as a note
        self.extra: dict[str, Any] = {}
        self.subs: list[SubB] = []
        self.id = ""


class SubB(Holder):
    __slots__ = ("extra", "id", "line", "name", "status", "task", "wanted")

    def __init__(self, line: int, task: TaskB, name: str, status: Status, wanted: str) -> None:
        super().__init__()
        self.line = line
        self.task = task
        self.name = name
        self.status = status
        self.wanted = wanted
        self.extra: dict[str, Any] = {}
        self.id = ""


class Build:
    """One import in progress. ``vocab`` is the status table the reader uses (its legend
    applied); ``now`` is the phase tasks go into (an implied one is made when needed)."""

    def __init__(self, doc: syntax.Doc, title_hint: str) -> None:
        self.doc = doc
        self.roles = bytearray(len(doc) + 1)  # by 1-based line number
        self.title_hint = title_hint
        self.title_text: str | None = None
        self.meta: dict[str, Any] = {}
        self.plan = Holder()
        self.extra: dict[str, Any] = {}  # the tracker's own extra fields
        self.phases: list[PhaseB] = []
        self.tasks: list[TaskB] = []
        self.links: list[tuple[str, str]] = []  # (dependent, prerequisite) as file IDs
        self.unmapped: list[Unmapped] = []
        self.notices: list[str] = []
        self.now: PhaseB | None = None
        self.vocab = Vocabulary()

    # ------------------------------------------------------------ bookkeeping

    def mark(self, n: int, role: int) -> None:
        if n > 0 and not self.roles[n]:
            self.roles[n] = role

    def layout(self, n: int) -> None:
        """Line ``n`` is structure that the view regenerates (kept by regeneration)."""
        self.mark(n, LAYOUT)

    def unknown(self, n: int, line: str, reason: str, *, keep: Holder | None = None) -> None:
        """Line ``n`` was not understood: reported, and kept as a note of ``keep`` (the
        plan when None) so that nothing the person wrote is lost."""
        self.report(n, line, reason)
        self.note(n, line, keep)

    def report(self, n: int, line: str, reason: str) -> None:
        """Report line ``n`` as not (fully) understood; the caller keeps what it says."""
        self.unmapped.append(Unmapped(line=n, text=line, reason=reason))

    # ------------------------------------------------------------ plan level

    def title(self, n: int, text: str) -> bool:
        """Take ``text`` as the title; False when there already is one (or it is empty)."""
        if self.title_text is not None or not text:
            return False
        self.title_text, full = fit(text)
        self.mark(n, TITLE)
        if full is not None:
            self.note(n, full)
        return True

    def heading_title(self, n: int, level: int, text: str) -> bool:
        """Take a heading as the title when it is the first ``#`` one, before any phase."""
        return level == 1 and self.title_text is None and not self.phases and self.title(n, text)

    def field(self, n: int, line: str, pairs: list[tuple[str, str]]) -> None:
        """A header line of ``Key: value`` pairs. Tracker fields (created, updated,
        status, initiative) go to ``meta``; a line with any other key is kept as a note."""
        taken = [self.meta_field(k, v) for k, v in pairs]
        if all(taken):
            self.mark(n, META)
        else:
            self.note(n, line)

    def meta_field(self, key: str, value: str) -> bool:
        k = key.strip().strip("*_").strip().lower()
        if k in _CREATED or k in _UPDATED:
            name = "created" if k in _CREATED else "updated"
            when = syntax.date_time(value)
            if when is None or name in self.meta:
                return False
            self.meta[name] = when
            return True
        if k == "status":
            status = meta_status(value)
            if status is None or "status" in self.meta:
                return False
            self.meta["status"] = status
            return True
        if k in ("initiative", "initiative id", "initiative_id"):
            v = value.strip().strip("`")
            if not _INITIATIVE.match(v) or "initiative_id" in self.meta:
                return False
            self.meta["initiative_id"] = v
            return True
        return False

    def note(self, n: int, line: str, to: Holder | None = None, *, strip: bool = False) -> None:
        """Keep line ``n`` verbatim in the notes of ``to`` (the plan when None); ``strip``
        takes off the indentation of the holder's first note. A gap since the holder's
        last note is a paragraph break (one "" entry); notes taken from one line (``n``
        again, e.g. the cells of a row) stay together. ``n`` 0: made up, not a line.
        The line is marked a note unless it already has a role. Trailing whitespace is
        dropped (a view does not show it)."""
        holder = self.plan if to is None else to
        line = line.rstrip()
        if strip:
            width = syntax.indent(line)
            if holder._base < 0:
                holder._base = width
            line = dedent(line, min(width, holder._base))
        if holder.notes and (n <= 0 or (n != holder._last + 1 and n != holder._last)):
            holder.notes.append("")
        holder.notes.append(line)
        holder._last = n
        self.mark(n, NOTE)

    def describe(self, n: int, phase: PhaseB, line: str) -> None:
        """Line ``n`` is (part of) the description of ``phase`` (``line`` as it is)."""
        if phase.description and n != phase._last + 1:
            phase.description.append("")
        phase.description.append(line)
        phase._last = n
        self.mark(n, NOTE)

    # ------------------------------------------------------------ phases and tasks

    def phase(
        self,
        n: int,
        name: str,
        *,
        number: str | None = None,
        status: Status | None = None,
        listed: bool = True,
    ) -> PhaseB:
        """A new phase (``n`` 0: implied, no line of its own); tasks go into it from now."""
        short, full = fit(name)
        phase = PhaseB(n, short, number, status)
        phase.listed = listed
        self.mark(n, PHASE)
        if full is not None:
            self.note(n, full, phase)
        self.phases.append(phase)
        self.now = phase
        return phase

    def current(self) -> PhaseB:
        """The phase tasks go into (an implied "Tasks" phase when the file names none)."""
        if self.now is None:
            self.now = self.phase(0, "")
        return self.now

    def task(
        self,
        n: int,
        name: str,
        status: Status,
        *,
        wanted: str = "",
        phase: PhaseB | None = None,
    ) -> TaskB:
        short, full = fit(name or wanted or "Untitled task")
        task = TaskB(n, phase or self.current(), short, status, wanted)
        self.mark(n, TASK)
        if full is not None:
            self.note(n, full, task)
        self.tasks.append(task)
        return task

    def subtask(self, n: int, task: TaskB, name: str, status: Status, *, wanted: str = "") -> SubB:
        short, full = fit(name or wanted or "Untitled sub-task")
        sub = SubB(n, task, short, status, wanted)
        self.mark(n, SUBTASK)
        if full is not None:
            self.note(n, full, sub)
        task.subs.append(sub)
        return sub

    def link(self, dependent: str, prerequisite: str) -> None:
        """Task ``dependent`` depends on ``prerequisite`` (both as the file writes them)."""
        self.links.append((dependent, prerequisite))


def meta_status(value: str) -> str | None:
    """The schema's ``meta.status`` for a status as written ("In Progress" → active,
    "Deferred" → archived), or None when it is not a status."""
    v = value.strip().strip("*_`").strip()
    if v.lower() == "archived":
        return "archived"
    status = Vocabulary().word(v)
    return _META_STATUS.get(status) if status is not None else None
