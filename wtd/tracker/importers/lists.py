"""The engine of the checkbox-list readers (checklist, roadmap, kiro, speckit, conductor).

A ``Dialect`` says what a checkbox's text means in the format (``Item``: name, the
file's ID, extra fields, dependencies — or None: not a task, a note), which marks mean
what, whether ``Phase N:`` headings are the phases, and whether the prose under a phase
heading is its description. The engine does the rest, the same way for all:

- The first ``#`` heading is the title; ``Key: value`` lines before any phase or task
  are header fields.
- A phase heading opens a phase; a heading below it (deeper) is a group inside it; a
  heading at its level or above closes it. Without phase headings (or for lists before
  them), the innermost heading that directly holds task checkboxes is their phase, and
  with none at all there is one implied phase.
- A task checkbox is a task (in a roadmap, so is a bullet with a status icon, ``- ✅ X``);
  one indented under a task is a sub-task of it (in Kiro,
  also ``N.M`` written flush with the task ``N`` just above it).
- A line indented under an item belongs to the item (its notes, the indentation taken
  off; blank lines in between do not detach it). Code blocks go with what they are
  indented under.
- Everything else is a note of the phase whose section it is in, or of the plan.
"""

from __future__ import annotations

from typing import Final, Protocol

from wtd.tracker.importers import common, syntax
from wtd.tracker.importers.build import Build, Holder, PhaseB, SubB, TaskB
from wtd.tracker.importers.statuses import MARKS, Vocabulary, strip_icons
from wtd.tracker.status import Status


class Item:
    """What a task checkbox says, apart from its mark (``deps``: IDs of the tasks it
    depends on, read from its text, which keeps them)."""

    __slots__ = ("deps", "extra", "icon", "name", "notes", "wanted")

    def __init__(self, name: str, wanted: str = "") -> None:
        self.name = name
        self.wanted = wanted
        self.icon: Status | None = None  # the status an icon at either end of it names
        self.extra: dict[str, object] = {}
        self.notes: list[str] = []
        self.deps: list[str] = []


class Dialect(Protocol):
    phase_headings: bool  # the file's ``Phase N:`` headings are its phases
    describe: bool  # prose under a phase heading, before its tasks, is its description
    numbered: bool  # ``N.M`` right under task ``N`` is its sub-task, however indented
    icons: bool  # a bullet with a status icon (``- ✅ X``) is a task, as a checkbox is
    marks: dict[str, Status]

    def item(self, box: syntax.Box) -> Item | None:
        """The task a checkbox is, or None when it is not one (it is then a note)."""

    def prose(self, build: Build, n: int, s: str) -> None:
        """Look at a line that is not a task (``s`` stripped) before it is kept as a note:
        a dependency line, say."""


class Plain:
    """The checklist dialect: every checkbox is a task, its text the name (with an ID
    when one leads), ``[~]``/``[/]`` in progress and ``[-]`` dropped."""

    phase_headings = False
    describe = False
    numbered = False
    icons = False
    marks: dict[str, Status] = MARKS

    def item(self, box: syntax.Box) -> Item | None:
        return plain_item(box.text)

    def prose(self, build: Build, n: int, s: str) -> None:
        return None


_MAX_COMMENTS: Final = 8  # per item; more stay in the name (and the scan stays linear)


def plain_item(text: str) -> Item:
    """A checkbox's text: ``<!-- id: N -->`` (leading or trailing, text after it a note),
    ``<!-- sha: … -->``, the bold around a leading title, a leading ``Task 1.1:`` /
    ``1.1:`` ID, status icons at the ends and a trailing ``[sha]`` / ``(sha)`` taken off
    the name."""
    item = Item("")
    name = text
    start = name.find("<!--")
    for _ in range(_MAX_COMMENTS):
        if start < 0:
            break
        end = name.find("-->", start + 4)
        if end < 0:
            break
        inner = name[start + 4 : end].strip()
        before, after = name[:start].rstrip(), name[end + 3 :].strip()
        key, _, value = inner.partition(":")
        key, value = key.strip().lower(), value.strip()
        if key == "id" and value and " " not in value and not item.wanted:
            item.wanted = value
        elif key in ("sha", "commit") and syntax.is_sha(value, short=False):
            item.extra["x_commit"] = value
        else:
            item.notes.append(name[start : end + 3])
        if before and after:
            item.notes.append(after)
            name = before
        else:
            name = before or after
        start = name.find("<!--")
    wanted, rest = syntax.split_id(unbold(name.strip()))
    if rest.strip():
        name = rest
        if wanted and not item.wanted:
            item.wanted = wanted
        elif wanted:
            item.notes.append(f"ID in the text: {wanted}")
    name, item.icon = strip_icons(name)
    sha = trailing_sha(name)
    if sha is not None:
        name, item.extra["x_commit"] = sha
    item.name = name.strip()
    return item


def unbold(text: str) -> str:
    """``text`` without the ``**`` (or ``__``) around its lead, the bold title agents
    write (``**Add the registry** — map preferences`` → ``Add the registry — map
    preferences``); emphasis later in the text is kept."""
    mark = text[:2]
    if mark not in ("**", "__"):
        return text
    end = text.find(mark, 2)
    if end <= 2 or text[2] in " \t" or text[end - 1] in " \t":
        return text
    if mark == "__" and text[end + 2 : end + 3] not in ("", " ", "\t"):
        return text  # ``__init__.py``: a name, not emphasis
    return text[2:end] + text[end + 2 :]


def trailing_sha(name: str, *, bare: bool = False) -> tuple[str, str] | None:
    """(name, sha) for a name ending in ``[abc1234]`` or ``(abc1234)`` (7 to 40 hex), or —
    ``bare`` — in `` abc1234`` (exactly 7 hex with a digit); None otherwise."""
    s = name.rstrip()
    if bare:
        cut = s.rfind(" ", max(0, len(s) - 8))
        if cut >= 0 and syntax.is_sha(s[cut + 1 :]):
            return s[:cut].rstrip(), s[cut + 1 :]
    if len(s) < 10 or s[-1] not in "])":
        return None
    opener = "[" if s[-1] == "]" else "("
    cut = s.rfind(opener, max(0, len(s) - 43))
    if cut < 0 or not syntax.is_sha(s[cut + 1 : -1], short=False):
        return None
    return s[:cut].rstrip(), s[cut + 1 : -1]


def add_phase_extras(phase: PhaseB, head: syntax.PhaseHead) -> None:
    if head.link:
        phase.extra["x_link"] = head.link
    if head.checkpoint:
        phase.extra["x_checkpoint"] = head.checkpoint
    if head.duration:
        phase.extra["x_duration"] = head.duration


def read(doc: syntax.Doc, build: Build, dialect: Dialect) -> None:
    build.vocab = Vocabulary(dialect.marks)
    common.learn_legends(doc, build.vocab)
    _Lists(doc, build, dialect).run()


class _Lists:
    def __init__(self, doc: syntax.Doc, build: Build, dialect: Dialect) -> None:
        self.doc = doc
        self.build = build
        self.dialect = dialect
        self.items: dict[int, tuple[syntax.Box, Item]] = {}  # task checkboxes by line index
        self.holds: set[int] = set()  # headings that directly hold a task checkbox
        self._scan()
        self.section: PhaseB | None = None  # the phase whose section we are in
        self.level = 0  # its heading's level
        self.task: TaskB | None = None
        self.task_indent = 0
        self.item: TaskB | SubB | None = None  # what indented lines belong to
        self.item_indent = 0
        self.code_to: Holder | None = None  # where the current code block goes
        self.code_strip = False

    def _scan(self) -> None:
        last = -1
        doc = self.doc
        for i in range(doc.front, len(doc)):
            if doc.code[i]:
                continue
            line = doc.lines[i]
            s = line.lstrip()
            if s[:1] == "#" and syntax.heading(s) is not None:
                last = i
                continue
            box = doc.box(i)
            if box is None and self.dialect.icons:
                box = syntax.icon_bullet(line, self.build.vocab.icons)
            if box is None or not box.text.strip():
                continue
            item = self.dialect.item(box)
            if item is not None:
                self.items[i] = (box, item)
                if last >= 0:
                    self.holds.add(last)

    def run(self) -> None:
        doc, build = self.doc, self.build
        for i in range(doc.front, len(doc)):
            line = doc.lines[i]
            n = i + 1
            s = line.strip()
            if not s:
                continue
            if doc.code[i]:
                self.code(n, line, i)
                continue
            if s[0] == "#" and (h := syntax.heading(s)) is not None:
                self.heading(n, line, i, *h)
                continue
            found = self.items.get(i)
            if found is not None:
                self.checkbox(n, *found)
                continue
            if self.item is not None and syntax.indent(line) > self.item_indent:
                self.dialect.prose(build, n, s)
                build.note(n, line, self.item, strip=True)
                continue
            self.item = self.task = None
            self.dialect.prose(build, n, s)
            section = self.section
            if self.describes(section):
                assert section is not None
                build.describe(n, section, s)
                continue
            common.text(build, n, line, section)

    def describes(self, section: PhaseB | None) -> bool:
        """Is prose here the description of ``section`` (before its first task)?"""
        build = self.build
        if not self.dialect.describe or section is None or section is not build.now:
            return False
        return not build.tasks or build.tasks[-1].phase is not section

    def code(self, n: int, line: str, i: int) -> None:
        if self.code_to is None:
            under = self.item is not None and syntax.indent(line) > self.item_indent
            self.code_to = self.item if under else self.section
            self.code_strip = under
            if not under:  # a block flush left ends the list, as prose does
                self.item = self.task = None
        self.build.note(n, line, self.code_to, strip=self.code_strip)
        if i + 1 >= len(self.doc) or not self.doc.code[i + 1]:
            self.code_to = None

    def heading(self, n: int, line: str, i: int, level: int, text: str) -> None:
        build = self.build
        self.item = self.task = None
        if build.heading_title(n, level, text):
            return
        head = syntax.phase_head(text) if self.dialect.phase_headings else None
        if head is not None:
            stated: Status | None = "complete" if head.checkpoint else head.icon
            phase = build.phase(n, head.name, number=head.number, status=stated)
            add_phase_extras(phase, head)
            self.section, self.level = phase, level
            return
        if self.dialect.phase_headings and self.section is not None and level > self.level:
            build.note(n, line, self.section)  # a group inside the phase
            return
        if i in self.holds:
            name, icon = strip_icons(text)
            self.section = build.phase(n, name or text, status=icon)
            self.level = level
            return
        self.section = None
        build.now = None
        build.note(n, line)

    def checkbox(self, n: int, box: syntax.Box, item: Item) -> None:
        build = self.build
        status = box.status or build.vocab.mark(box.mark)
        if status == "pending" and item.icon not in (None, "pending", "complete"):
            status = item.icon  # `- [ ] 🚧 X`: open, and the icon says how (not done: ✅)
        task = self.task
        if task is not None and (
            box.indent > self.task_indent
            or (
                self.dialect.numbered
                and task.wanted
                and item.wanted.startswith(task.wanted + ".")
                and "." not in item.wanted[len(task.wanted) + 1 :]
            )
        ):
            sub = build.subtask(n, task, item.name, status, wanted=item.wanted)
            sub.extra.update(item.extra)
            if box.optional:
                sub.extra["x_optional"] = True
            for note in item.notes:
                build.note(n, note, sub)
            self.item, self.item_indent = sub, box.indent
            return
        task = build.task(n, item.name, status, wanted=item.wanted)
        task.extra.update(item.extra)
        if box.optional:
            task.extra["x_optional"] = True
        for note in item.notes:
            build.note(n, note, task)
        task.soft.extend(item.deps)
        self.task, self.task_indent = task, box.indent
        self.item, self.item_indent = task, box.indent
