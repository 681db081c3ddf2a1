"""What an import gives back (``ImportResult``) and how it refuses (``NothingToImport``)."""

from __future__ import annotations

import msgspec

from wtd.errors import WtdError
from wtd.tracker.importers.build import ROLE_NAMES
from wtd.tracker.markdown import Unmapped
from wtd.tracker.model import Tracker


class ImportResult(msgspec.Struct, frozen=True, kw_only=True):
    """A plan imported as a tracker.

    ``format`` is the reader that understood it (kiro, speckit, cursor, conductor, table,
    heading, roadmap, ecw, checklist); ``phases``/``tasks`` what the tracker holds;
    ``notes`` the number of input lines kept as notes (of the plan, a phase, a task or a
    sub-task); ``not_understood`` the number of lines reported in ``unmapped`` (each also
    kept, as a note, unless it is a line of the tracker itself); ``summary`` the lines a
    reply prints. ``roles`` has one byte per input line (index 0 unused): the role the
    line was taken in (``ROLE_NAMES``), 0 only for blank lines — see ``accounted_lines``.
    """

    tracker: Tracker
    format: str
    phases: int
    tasks: int
    notes: int
    not_understood: int
    unmapped: list[Unmapped]
    summary: list[str]
    roles: bytes = b""


class NothingToImport(WtdError):
    """The file holds no task any reader understands: nothing is written, the file is
    left as it was, and the message names the formats that are understood."""

    code = "not_understood"  # exit 1; the user's file, not a fault (health ignores it)


def accounted_lines(result: ImportResult) -> set[int]:
    """The 1-based numbers of the input lines the import took somewhere (every non-blank
    line: the law the readers keep)."""
    return {n for n, role in enumerate(result.roles) if role and n}


def line_roles(result: ImportResult) -> dict[int, str]:
    """Line number → the role it was taken in ("title", "meta", "phase", "task",
    "subtask", "note", "layout"; a line in ``unmapped`` is also a note or a task)."""
    return {n: ROLE_NAMES[role] for n, role in enumerate(result.roles) if role and n}
