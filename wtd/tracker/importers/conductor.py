"""Gemini CLI Conductor tracks (``conductor/tracks/<track_id>/plan.md``).

``## Phase N: X`` (``[checkpoint: sha]`` appended when the phase is done: the phase is
complete, the sha kept as ``x_checkpoint``); tasks ``- [ ] Task: …`` with ``[~]`` in
progress and, once done, the commit's short sha appended as ``[abc1234]``,
``(abc1234)``, `` abc1234`` or ``[checkpoint: abc1234]`` (kept as ``x_commit``, not in
the name); sub-tasks indented checkboxes. The ``**Goal:**`` line and the paragraphs
under a phase heading are its description; ``**Track ID:**``, ``**Spec:**`` and
``**Created:**`` are header fields. See lists.py for the engine.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import lists, syntax
from wtd.tracker.importers.build import Build
from wtd.tracker.importers.statuses import MARKS
from wtd.tracker.status import Status

NAME: Final = "conductor"
TELLTALE: Final = (
    "conductor   `- [ ] Task: …` under `## Phase N: X`, `[~]` in progress, `[checkpoint: sha]`"
)

_TASK: Final = re.compile(r"[ \t]*+[-*][ \t]++\[[ xX~]\][ \t]++Task:[ \t]")
_CHECKPOINT_HEAD: Final = re.compile(
    r"#{1,6}[ \t]++Phase[ \t].*\[checkpoint:[ \t]*[0-9a-f]{7,40}\][ \t]*$"
)
_TASK_CHECKPOINT: Final = re.compile(r"[ \t]*\[checkpoint:[ \t]*([0-9a-f]{7,40})\]$")


class Conductor:
    phase_headings = True
    describe = True
    numbered = False
    icons = False
    marks: dict[str, Status] = MARKS

    def item(self, box: syntax.Box) -> lists.Item | None:
        if box.indent > 0:
            return lists.plain_item(box.text)
        text = box.text
        sha = None
        if (m := _TASK_CHECKPOINT.search(text[-60:])) is not None:
            sha, text = m.group(1), text[: len(text) - len(text[-60:]) + m.start()]
        elif (found := lists.trailing_sha(text, bare=True)) is not None:
            text, sha = found
        _, name = syntax.split_id(text.strip())
        item = lists.Item(name.strip())
        if sha is not None:
            item.extra["x_commit"] = sha
        return item

    def prose(self, build: Build, n: int, s: str) -> None:
        return None


def detect(doc: syntax.Doc) -> int:
    """4 points per ``- [ ] Task:`` line and per sub-task under one, 5 per checkpoint."""
    tasks = subs = checkpoints = 0
    under = False
    for i in range(doc.front, len(doc)):
        if doc.code[i]:
            continue
        line = doc.lines[i]
        if _TASK.match(line):
            tasks += 1
            under = True
        elif under and line[:1] in " \t" and doc.box(i) is not None:
            subs += 1
        elif line.strip():
            under = line[:1] in " \t"
            if line[:1] == "#" and line.rstrip().endswith("]") and _CHECKPOINT_HEAD.match(line):
                checkpoints += 1
    return 4 * (tasks + subs) + 5 * checkpoints if tasks else 0


def read(doc: syntax.Doc, build: Build) -> None:
    lists.read(doc, build, Conductor())
