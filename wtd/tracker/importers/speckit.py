"""GitHub spec-kit ``specs/<###-feature>/tasks.md``.

A task is ``- [ ] T001 [P] [US1] Description with file path`` under ``## Phase N: X``
(N may be ``3.2`` in the legacy template: the tracker numbers phases 1..N and keeps
the file's as ``x_source_number``). ``[P]`` is kept as ``x_parallel: true`` and
``[US1]`` as ``x_story: "US1"``; ``T001`` as ``x_source_id``. ``### Tests for …`` and
``### Implementation for …`` are groups inside a phase. Checkboxes without a T-id (the
Validation Checklist's gates) are not tasks. Dependencies are read from
``(depends on T012, T013)`` in a task and from lines such as ``T009 blocks T011, T017``
or ``T007 depends on T003 and T006``. Everything else is kept as notes. See lists.py.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import lists, syntax
from wtd.tracker.importers.build import Build
from wtd.tracker.importers.statuses import MARKS
from wtd.tracker.status import Status

NAME: Final = "speckit"
TELLTALE: Final = "speckit     `- [ ] T001 [P] [US1] Description` under `## Phase N: X`"

_TASK: Final = re.compile(r"(T\d{3,9}+)\b[ \t]*+")
_MARKER: Final = re.compile(r"\[(P|US\d{1,9})\][ \t]*+")
_TASK_LINE: Final = re.compile(r"[ \t]*+[-*][ \t]++\[[ xX]\][ \t]++T\d{3,9}+\b")
_DEPENDS: Final = re.compile(r"\(depends[ \t]++on[ \t]++([^)]{1,200}+)\)", re.IGNORECASE)
_LINK: Final = re.compile(
    r"[-*+ \t]*+(?:\*\*)?+(T\d{3,9}+)(?:\*\*)?+[ \t]++(blocks|depends[ \t]++on)[ \t]++",
    re.IGNORECASE,
)
_ID: Final = re.compile(r"T\d{3,9}\b")
_LIMIT: Final = 1000  # characters of a line searched for IDs


class Speckit:
    phase_headings = True
    describe = False
    numbered = False
    icons = False
    marks: dict[str, Status] = MARKS

    def item(self, box: syntax.Box) -> lists.Item | None:
        m = _TASK.match(box.text)
        if m is None:
            return None
        item = lists.Item("", m.group(1))
        pos = m.end()
        for _ in range(8):
            mm = _MARKER.match(box.text, pos)
            if mm is None:
                break
            if mm.group(1) == "P":
                item.extra["x_parallel"] = True
            else:
                item.extra["x_story"] = mm.group(1)
            pos = mm.end()
        item.name = box.text[pos:].strip()
        for dm in _DEPENDS.finditer(item.name[-_LIMIT:]):
            item.deps.extend(_ID.findall(dm.group(1)))
        return item

    def prose(self, build: Build, n: int, s: str) -> None:
        m = _LINK.match(s)
        if m is None:
            return
        others = _ID.findall(s[m.end() : m.end() + _LIMIT])
        if m.group(2).lower() == "blocks":
            for other in others:
                build.link(other, m.group(1))
        else:
            for other in others:
                build.link(m.group(1), other)


def detect(doc: syntax.Doc) -> int:
    """4 points per ``- [ ] T001`` task."""
    return 4 * sum(
        1 for i in range(doc.front, len(doc)) if not doc.code[i] and _TASK_LINE.match(doc.lines[i])
    )


def read(doc: syntax.Doc, build: Build) -> None:
    lists.read(doc, build, Speckit())
