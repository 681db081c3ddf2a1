"""Kiro specs (``.kiro/specs/<feature>/tasks.md``): a numbered checkbox list, two levels.

``- [ ] 1. Task`` is a task and ``  - [ ] 1.1 Sub-task`` (indented 2 or 4) a sub-task;
``[ ]*`` (or Prettier's ``[ ]\\*``) marks an optional item (``x_optional``). Kiro's marks:
``[-]`` is the task being worked on and ``[~]`` a queued one (pending). Lines under an
item belong to it — detail bullets, ``_Requirements: 1.1, 2.3_``, ``**Property 1: …**``,
``**Validates: …**`` — even after the blank lines Kiro inserts. Tasks may be grouped
under ``### Phase N: X`` headings. The rest (Overview, Notes, the dependency graph's
JSON block) is kept as notes. See lists.py for the engine.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import lists, syntax
from wtd.tracker.importers.build import Build
from wtd.tracker.importers.statuses import KIRO_MARKS
from wtd.tracker.status import Status

NAME: Final = "kiro"
TELLTALE: Final = (
    "kiro        `- [ ] 1. Task`, `  - [ ] 1.1 Sub-task`, `_Requirements: 1.2_`, `- [ ]*`"
)

_ID: Final = re.compile(r"(\d{1,9}+(?:\.\d{1,9}+)?+)\.?+[ \t]++(?=\S)")
_TOP: Final = re.compile(r"-[ \t]++\[[ xX~-]\](?:\\?\*)?+[ \t]++\d{1,9}+\.[ \t]")
_SUB: Final = re.compile(r"[ \t]++-[ \t]++\[[ xX~-]\](?:\\?\*)?+[ \t]++\d{1,9}+\.\d{1,9}+\.?[ \t]")


class Kiro:
    phase_headings = True
    describe = False
    numbered = True
    icons = False
    marks: dict[str, Status] = KIRO_MARKS

    def item(self, box: syntax.Box) -> lists.Item | None:
        m = _ID.match(box.text)
        if m is None:
            return lists.plain_item(box.text)
        return lists.Item(box.text[m.end() :].strip(), m.group(1))

    def prose(self, build: Build, n: int, s: str) -> None:
        return None


def detect(doc: syntax.Doc) -> int:
    """3 points per ``- [ ] N.`` task and ``N.M`` sub-task, 1 per ``_Requirements:``; 0
    without a top-level numbered task."""
    top = subs = reqs = 0
    for i in range(doc.front, len(doc)):
        if doc.code[i]:
            continue
        line = doc.lines[i]
        if _TOP.match(line):
            top += 1
        elif _SUB.match(line):
            subs += 1
        elif "_Requirements:" in line:
            reqs += 1
    return 3 * (top + subs) + reqs if top else 0


def read(doc: syntax.Doc, build: Build) -> None:
    lists.read(doc, build, Kiro())
