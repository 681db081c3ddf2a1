"""The status vocabulary: canonical statuses, icons, labels and input normalisation.

Pure: no I/O. ``normalize`` accepts anything a person or agent is likely to type
(case, spaces, hyphens, icons, aliases) and returns the canonical status or None.
"""

from __future__ import annotations

import difflib
import functools
from typing import Final, Literal

Status = Literal["pending", "in_progress", "complete", "blocked", "skipped", "superseded"]

STATUSES: Final[tuple[Status, ...]] = (
    "pending",
    "in_progress",
    "complete",
    "blocked",
    "skipped",
    "superseded",
)

ICONS: Final[dict[Status, str]] = {
    "pending": "⏳",
    "in_progress": "🔄",
    "complete": "✅",
    "blocked": "🔴",
    "skipped": "⏭️",
    "superseded": "♻️",
}

LABELS: Final[dict[Status, str]] = {
    "pending": "Pending",
    "in_progress": "In Progress",
    "complete": "Complete",
    "blocked": "Blocked",
    "skipped": "Skipped",
    "superseded": "Superseded",
}

# Statuses that take a task out of the progress divisor.
EXCLUDED: Final[frozenset[str]] = frozenset({"skipped", "superseded"})
# Statuses that count as "nothing left to do".
SETTLED: Final[frozenset[str]] = frozenset({"complete", "skipped", "superseded"})

ALIASES: Final[dict[str, Status]] = {  # every spelling below, lower case
    "pending": "pending",
    "todo": "pending",
    "to do": "pending",
    "open": "pending",
    "not started": "pending",
    "new": "pending",
    "in progress": "in_progress",
    "inprogress": "in_progress",
    "wip": "in_progress",
    "started": "in_progress",
    "start": "in_progress",
    "doing": "in_progress",
    "active": "in_progress",
    "complete": "complete",
    "completed": "complete",
    "done": "complete",
    "finished": "complete",
    "closed": "complete",
    "blocked": "blocked",
    "stuck": "blocked",
    "waiting": "blocked",
    "skipped": "skipped",
    "skip": "skipped",
    "cancelled": "skipped",
    "canceled": "skipped",
    "dropped": "skipped",
    "wontfix": "skipped",
    "won't fix": "skipped",
    "wont fix": "skipped",
    "deferred": "skipped",
    "superseded": "superseded",
    "replaced": "superseded",
}

_ICON_CHARS: Final[str] = "⏳🔄✅🔴⏭♻\ufe0f✓✔❌⛔🚫"


def _clean(text: str) -> str:
    stripped = text
    for ch in _ICON_CHARS:
        stripped = stripped.replace(ch, "")
    stripped = stripped.strip().strip("*_`'\"").strip()
    stripped = stripped.replace("-", " ").replace("_", " ").strip().lower()
    return " ".join(stripped.split())


def normalize(text: str) -> Status | None:
    """Return the canonical status for ``text`` (any accepted spelling), or None."""
    cleaned = _clean(text)
    if cleaned in ALIASES:
        return ALIASES[cleaned]
    # An icon on its own ("✅") is a status too.
    for status, icon in ICONS.items():
        if text.strip() and text.strip().replace("\ufe0f", "") == icon.replace("\ufe0f", ""):
            return status
    return _as_plans_write_it(text)


def _as_plans_write_it(text: str) -> Status | None:
    """The icons and words plans elsewhere use (``🚧 In progress``, ``🟡``, ``In
    Review``), which import reads: a view edited with them, or a phrase, means the
    same. An icon and a word that disagree mean nothing."""
    from wtd.tracker.importers.statuses import ICON_CHARS, ICONS, WORDS  # no cycle

    bare = text.replace("\ufe0f", "")
    icons = {ICONS[ch] for ch in bare if ch in ICONS}
    word = _clean("".join(ch for ch in bare if ch not in ICON_CHARS))
    if word and word not in WORDS:
        return None  # a word wtd does not know, whatever the icon says
    said = {*icons, WORDS[word]} if word else icons
    return said.pop() if len(said) == 1 else None


def is_canonical(text: str) -> bool:
    """True when ``text`` is exactly a canonical status (no normalisation needed)."""
    return text in STATUSES


def suggest(text: str, limit: int = 3) -> list[str]:
    """Closest known status words to a spelling that did not normalise."""
    words = sorted({_clean(w) for w in (*STATUSES, *ALIASES)})
    return difflib.get_close_matches(_clean(text), words, n=limit, cutoff=0.5)


@functools.lru_cache(maxsize=256)
def cell(status: str) -> str:
    """The Markdown status cell: icon + Title Case label (e.g. ``✅ Complete``). Cached:
    each view shows every phase's, and statuses are few."""
    canon = normalize(status) or "pending"
    return f"{ICONS[canon]} {LABELS[canon]}"
