"""Reading steps several readers share: the preamble (title, header fields), legends,
``**Status**:`` lines, and front matter kept as notes."""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.importers import syntax
from wtd.tracker.importers.build import PHASE, Build, Holder, PhaseB
from wtd.tracker.importers.statuses import ICON_CHARS, Vocabulary

_STATUS_LINE: Final = re.compile(
    r"(?:>[ \t]*+)?(?:\*\*|__)Status(?:(?:\*\*|__):|:(?:\*\*|__))[ \t]*+"
)


def status_line(s: str) -> str | None:
    """The value of a ``**Status**: X`` / ``**Status:** X`` / ``> **Status:** X`` line
    (``s`` stripped), or None."""
    m = _STATUS_LINE.match(s)
    return None if m is None else s[m.end() :]


def learn_legends(doc: syntax.Doc, vocab: Vocabulary) -> None:
    """Apply every legend line of the document (outside code, tables, lists, headings)."""
    for i in range(doc.front, len(doc)):
        if doc.code[i]:
            continue
        s = doc.lines[i].strip()
        if not s or s[0] in "|#" or doc.box(i) is not None:
            continue
        if "[" in s or any(c in ICON_CHARS for c in s):
            vocab.learn(s)


def text(build: Build, n: int, line: str, holder: Holder | None = None) -> None:
    """A line that is neither a phase nor a task: the title (the first ``#`` heading), a
    header field while no phase or task has been read, a phase's ``**Status**:`` line
    (``holder`` a phase without tasks yet), else a note of ``holder`` (the plan when
    None)."""
    s = line.strip()
    if _phase_status(build, n, s, holder):
        return
    if s.startswith("# ") and (h := syntax.heading(s)) is not None and build.heading_title(n, *h):
        return
    if holder is None and not build.phases and not build.tasks:
        pairs = syntax.fields(s)
        if pairs is not None:
            build.field(n, line, pairs)
            return
    build.note(n, line, holder)


def _phase_status(build: Build, n: int, s: str, holder: Holder | None) -> bool:
    """Take a status line under a phase heading (before its tasks) as the phase's
    status; True when nothing more of the line needs keeping."""
    if not isinstance(holder, PhaseB) or holder.status is not None:
        return False
    if build.tasks and build.tasks[-1].phase is holder:
        return False
    value = status_line(s)
    status, rest = build.vocab.status(value) if value is not None else (None, "")
    if status is None:
        return False
    holder.status = status
    build.mark(n, PHASE)
    return not rest


def front_matter(doc: syntax.Doc, build: Build) -> None:
    """Keep YAML front matter (which only the Cursor reader reads) as plan notes."""
    for i in range(doc.front):
        if doc.lines[i].strip():
            build.note(i + 1, doc.lines[i])
