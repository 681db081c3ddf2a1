"""Dependency references as people write them: ``Task 1, Task 2``, ``2.3, 2.4``,
``TICKET-3 and TICKET-4``, ``archive/tickets/TICKET-1.md``, ``#14``."""

from __future__ import annotations

import re
from typing import Final

_SPLIT: Final = re.compile(r"[,;]|[ \t]and[ \t]|[ \t]&[ \t]")
_NONE: Final = frozenset({"", "none", "-", "—", "n/a", "na", "nothing"})
_PREFIX: Final = re.compile(r"(?:task|ticket|step|item|issue)[ \t]++", re.IGNORECASE)
_LIMIT: Final = 64  # references read from one value (the rest stay in the text)


def references(value: str) -> list[str] | None:
    """The references a dependency value lists ([] for "none"), or None when some part
    of it is prose rather than a reference (the caller keeps the text as it is)."""
    out: list[str] = []
    parts = _SPLIT.split(value.strip(), maxsplit=_LIMIT)
    for part in parts[:_LIMIT]:
        token = part.strip().strip("`*_").strip()
        if token.lower() in _NONE:
            continue
        if (m := _PREFIX.match(token)) is not None:
            token = token[m.end() :]
        token = token.lstrip("#")
        if "/" in token:  # a path to the ticket file: its name is the ID
            token = token.rsplit("/", 1)[1]
            token = token.rsplit(".", 1)[0] if token.endswith((".md", ".txt")) else token
        if not token or " " in token or "\t" in token:
            return None
        out.append(token)
    return out
