"""Phase-based roadmaps and agent ``task.md`` lists: ``## Phase N: X`` headings (any level,
any common spelling: ``## Phase N — X``, ``## [Phase N: X](file.md)``,
``#### Phase N: X (Week 3)``, ``## Phase 1 — X ✅``) over checkbox lists, or over bullets
with status icons (``- ✅ Done thing``, ``- 🚧 Current thing``, ``- Next thing ⏳``).

The list engine reads them (see lists.py) as checklists whose phase headings are the
phases, the headings below them groups. What this adds is the telltale: a roadmap has
phase headings, or ``<!-- id: N -->`` comments, or ``Task N.M:`` prefixes.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import lists, syntax
from wtd.tracker.importers.build import Build
from wtd.tracker.importers.statuses import ICONS

NAME: Final = "roadmap"
TELLTALE: Final = (
    "roadmap     `## Phase N: X` (or `Phase N — X`, `[Phase N: X](file)`) headings "
    "over `- [ ]` checkboxes; `<!-- id: N -->`"
)

_ID_COMMENT: Final = re.compile(r"<!--[ \t]*+id:")
_TASK_PREFIX: Final = re.compile(r"Task[ \t]++\d{1,9}+(?:\.\d{1,9}+)*+:", re.IGNORECASE)


def detect(doc: syntax.Doc) -> int:
    """2 points per checkbox (or bullet with a status icon, ``- ✅ X``) when the file has
    phase headings or roadmap IDs, else 0."""
    boxes = 0
    marked = 0
    phases = 0
    for i in range(doc.front, len(doc)):
        if doc.code[i]:
            continue
        line = doc.lines[i]
        s = line.lstrip()
        if s[:1] == "#":
            h = syntax.heading(s)
            if h is not None and syntax.phase_head(h[1]) is not None:
                phases += 1
            continue
        box = doc.box(i) or syntax.icon_bullet(line, ICONS)
        if box is not None:
            boxes += 1
            if _ID_COMMENT.search(box.text) or _TASK_PREFIX.match(box.text):
                marked += 1
    return 2 * boxes if phases or marked else 0


class Roadmap(lists.Plain):
    phase_headings = True
    icons = True


def read(doc: syntax.Doc, build: Build) -> None:
    lists.read(doc, build, Roadmap())
