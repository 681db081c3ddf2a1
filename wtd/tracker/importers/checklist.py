"""Hand-written checkbox lists: READMEs, notes, launch checklists, Tessl ``.plan.md``.

Every checkbox outside code is a task and an indented one a sub-task; the innermost
heading that directly holds checkboxes is their phase (with none, one implied phase).
Plain bullets are never tasks ("Files:" lists, deliverables, "Maybe later" ideas), nor
is anything in a code block; ordered-list numbers are ordinals, not IDs. The prose
between lists is kept as notes. See lists.py for the engine.
"""

from __future__ import annotations

from typing import Final

from wtd.tracker.importers import lists, syntax
from wtd.tracker.importers.build import Build

NAME: Final = "checklist"
TELLTALE: Final = (
    "checklist   `- [ ]` / `- [x]` checkboxes (also `* [ ]`, `1. [ ]`) under any headings"
)


def detect(doc: syntax.Doc) -> int:
    """1 point per checkbox outside code: the reader of last resort for lists."""
    return sum(1 for i in range(doc.front, len(doc)) if doc.box(i) is not None)


def read(doc: syntax.Doc, build: Build) -> None:
    lists.read(doc, build, lists.Plain())
