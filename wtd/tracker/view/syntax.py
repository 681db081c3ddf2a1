"""The line syntax of the Markdown view: the patterns and small readers the parser
uses for headings, header fields, table rows, checkboxes and Notes items.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

from wtd.tracker.render import unescape_cell

NOTE_ITEM: Final = re.compile(
    r"[-*+][ \t]+\*\*(Phase[ \t]+\d+|\d+\.\d+(?:\.\d+)?)\*\*[ \t]*:?(?:[ \t]+(.*))?$",
    re.IGNORECASE,
)
KEY_LINE: Final = re.compile(r">[ \t]*\*\*([^*]+?):\*\*[ \t]?(.*)$")
CHECKBOX: Final = re.compile(r"(?:[-*+]|\d+[.)])[ \t]+\[([ xX])\](?:[ \t]+(.*))?$")
BULLET: Final = re.compile(r"[-*+][ \t]")
_PIPE_OR_ESCAPE: Final = re.compile(r"\\.|\|")
SUB_ID: Final = re.compile(r"\d+\.\d+\.\d+$")

META_KEYS: Final = ("Initiative", "Status", "Created", "Updated")
DERIVED_KEYS: Final = frozenset({"Progress", "Source"})
RENDERED_LAYOUT: Final = (0, 1, 2, 3, 4)
UNLISTED_NOTE: Final = "this phase is not in the tracker's phase list"
COLUMNS: Final[dict[str, str]] = {
    "id": "id",
    "#": "id",
    "task": "name",
    "name": "name",
    "title": "name",
    "status": "status",
    "state": "status",
    "verification": "verification",
    "verify": "verification",
}


def parse_int(digits: str) -> int | None:
    """``int(digits)``, or None where Python refuses (over 4,300 digits, or "²")."""
    try:
        return int(digits)
    except ValueError:
        return None


def row_cells(line: str) -> list[str]:
    """The raw cells of a table row (split at pipes that are not backslash-escaped)."""
    body = line.strip()[1:]
    if "\\" in body:
        cuts = [m.start() for m in _PIPE_OR_ESCAPE.finditer(body) if m.group() == "|"]
        parts = [body[i + 1 : j] for i, j in zip([-1, *cuts], [*cuts, len(body)], strict=True)]
    else:
        parts = body.split("|")
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    return parts


def header_columns(cells: list[str]) -> dict[str, int] | None:
    """Column role → index for a header row (needs at least a Task/Name column)."""
    found: dict[str, int] = {}
    for i, cell in enumerate(cells):
        role = COLUMNS.get(unescape_cell(cell).strip("*_ ").lower())
        if role is not None and role not in found:
            found[role] = i
    return found if "name" in found else None


def split_subtask(rest: str) -> tuple[str, str]:
    """(id, name) of a checkbox line's text: ``2.2.1: name``, ``2.2.1:`` or ``name``."""
    cut = rest.find(": ")
    if cut >= 0:
        return unescape_cell(rest[:cut]), unescape_cell(rest[cut + 2 :])
    if rest.endswith(":"):
        return unescape_cell(rest[:-1]), ""
    return "", unescape_cell(rest)


def owner_of(sub_id: str, task_ids: Iterable[str]) -> str:
    head = sub_id.rpartition(".")[0]
    return head if head and head in task_ids else ""


def title_case(text: str) -> str:
    # As render shows meta.status.
    words = text.replace("_", " ").replace("-", " ").split()
    return " ".join(w[:1].upper() + w[1:] for w in words)


def split_lines(text: str) -> list[str]:
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
