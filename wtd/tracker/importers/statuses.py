"""The status words, icons and checkbox marks that plans in the wild use, and in-file legends.

``status.normalize`` knows the spellings wtd itself accepts; plans written by people
and other tools use more (⬜ 🔲 ⛔ 🟡 🚧 ⏸️, NEXT, PLANNED, Backlog, In Review, ``[~]``,
``[-]``, ``[/]`` …). They are mapped here, for import only. A ``Vocabulary`` is the
table one document is read with: the defaults, the format's own checkbox marks (Kiro's
``[-]`` is in progress, elsewhere it is dropped), then what the file's legend says
(``Status key: ⬜ not started · 🟡 in progress · ⏸️ deferred``), which wins.

Pure and linear: words are looked up by dictionary, never by regex over the text.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from wtd.tracker.status import ALIASES, Status

_VS16: Final = "\ufe0f"  # the emoji variation selector, ignored everywhere

ICONS: Final[dict[str, Status]] = {
    "✅": "complete",
    "✔": "complete",
    "☑": "complete",
    "✓": "complete",
    "🔄": "in_progress",
    "🚧": "in_progress",
    "🟡": "in_progress",
    "⏳": "pending",
    "⬜": "pending",
    "🔲": "pending",
    "☐": "pending",
    "⚪": "pending",
    "🔴": "blocked",
    "⛔": "blocked",
    "🚫": "blocked",
    "🛑": "blocked",
    "⏭": "skipped",
    "⏸": "skipped",  # "Deferred" in the ECW template
    "♻": "superseded",
}
"""Status icons (without the variation selector). ❌ is left out on purpose: some sheets
use it for Blocked, most for "failed" or "not achieved"; a legend can still map it."""

ICON_CHARS: Final = frozenset([*ICONS, "❌", "🟢", "🔵", "🟠", "🟣", "⚫", "⚠"])
"""Characters that are status-like icons: stripped from the ends of names."""

WORDS: Final[dict[str, Status]] = {
    # the spellings wtd takes everywhere, except a bare "start": at the head of a plan's
    # line it is the verb of the task ("Start the API"), not its status
    **{word: status for word, status in ALIASES.items() if word != "start"},
    # and those plans written elsewhere use besides
    "not yet started": "pending",
    "next": "pending",
    "up next": "pending",
    "planned": "pending",
    "backlog": "pending",
    "queued": "pending",
    "ongoing": "in_progress",
    "underway": "in_progress",
    "in review": "in_progress",
    "review": "in_progress",
    "in qa": "in_progress",
    "resolved": "complete",
    "shipped": "complete",
    "merged": "complete",
    "verified": "complete",
    "on hold": "blocked",
    "won't do": "skipped",
    "postponed": "skipped",
    "n/a": "skipped",
    "not applicable": "skipped",
    "obsolete": "skipped",
}
"""Status words, lower case, ``-`` and ``_`` read as spaces."""

_LONGEST: Final = max(len(w.split()) for w in WORDS)

MARKS: Final[dict[str, Status]] = {
    " ": "pending",
    "x": "complete",
    "X": "complete",
    "~": "in_progress",  # Conductor, and generic lists
    "/": "in_progress",  # agent task.md files, Obsidian
    "-": "skipped",  # Obsidian Tasks: cancelled
}
"""Checkbox marks, as most formats mean them."""

KIRO_MARKS: Final[dict[str, Status]] = {**MARKS, "~": "pending", "-": "in_progress"}
"""Kiro: ``[~]`` is a queued task, ``[-]`` the one being worked on."""

_TRIM: Final = "*_`'\"“”.,;:!()[]"


def _word(token: str) -> str:
    return token.strip(_TRIM).lower().replace("_", " ").replace("-", " ")


class Vocabulary:
    """The status table one document is read with (defaults, format marks, its legend)."""

    __slots__ = ("icons", "marks", "words")

    def __init__(self, marks: dict[str, Status] = MARKS) -> None:
        self.icons: dict[str, Status] = dict(ICONS)
        self.marks: dict[str, Status] = dict(marks)
        self.words: dict[str, Status] = WORDS

    def mark(self, mark: str) -> Status:
        return self.marks.get(mark, "pending")

    def status(self, text: str) -> tuple[Status | None, str]:
        """(status, rest) of a status cell or line: its leading ``[x]`` mark, icon and/or
        words pick the status (the first one found wins); ``rest`` is what follows them,
        stripped ("" when the text was only a status). (None, text) when nothing leads."""
        s = text.replace(_VS16, "")
        n = len(s)
        i = _skip(s, 0, " \t*_`")
        found: Status | None = None
        worded = False
        while i < n:
            if s[i] == "[" and i + 2 < n and s[i + 2] == "]" and s[i + 1] in self.marks:
                found = found or self.marks[s[i + 1]]
                i += 3
            elif s[i] in ICON_CHARS or s[i] in self.icons:
                found = found or self.icons.get(s[i])
                i += 1
            elif unicodedata.category(s[i])[0] == "S" or s[i] == "\u200d":
                i += 1  # an emoji with no status meaning ("👀 In Review"): the words say
            elif worded:
                break  # words after the status words are the rest ("Pending review")
            else:
                status, used = self._words(s, i)
                if status is None:
                    break
                found = found or status
                i = used
                worded = True
            i = _skip(s, i, " \t*_`")
        if found is None:
            return None, text.strip()
        return found, s[i:].strip()

    def _words(self, s: str, pos: int = 0) -> tuple[Status | None, int]:
        """The longest status phrase at ``s[pos:]``: (status, the index after it)."""
        tokens: list[tuple[str, int]] = []
        for _ in range(_LONGEST):
            while pos < len(s) and s[pos] in " \t":
                pos += 1
            end = pos
            while end < len(s) and s[end] not in " \t":
                end += 1
            if end == pos:
                break
            tokens.append((s[pos:end], end))
            pos = end
        for k in range(len(tokens), 0, -1):
            phrase = " ".join(_word(t) for t, _ in tokens[:k]).strip()
            status = self.words.get(phrase)
            if status is None and phrase.endswith("."):
                status = self.words.get(phrase[:-1])
            if status is not None:
                return status, tokens[k - 1][1]
        return None, 0

    def word(self, text: str) -> Status | None:
        """The status a whole text names (a Cursor ``status:``, a legend entry), or None."""
        status, rest = self.status(text)
        return status if status is not None and not rest else None

    def learn(self, line: str) -> bool:
        """Read ``line`` as a legend (at least two ``[c]``/icon markers followed by a status
        word, e.g. "`[x]` done · `[~]` in progress"); take what it says and return True,
        else change nothing and return False."""
        found: list[tuple[str, Status]] = []
        s = line.replace(_VS16, "")
        n = len(s)
        i = 0
        while i < n:
            ch = s[i]
            key = ""
            if ch == "[" and i + 2 < n and s[i + 2] == "]" and s[i + 1] in " xX~/-":
                key, i = "[" + s[i + 1] + "]", i + 3
            elif ch in ICON_CHARS:
                key, i = ch, i + 1
            else:
                i += 1
                continue
            j = i
            while j < n and s[j] in "`*_ \t:=—–-":
                j += 1
            end = j
            while end < n and s[end] not in "·,;|(" and not (s[end] == "[" or s[end] in ICON_CHARS):
                end += 1
            status, _ = self._words(s[j:end])  # one slice per marker: linear
            if status is not None:
                found.append((key, status))
        if len(found) < 2:
            return False
        for key, status in found:
            if key[0] == "[":
                self.marks[key[1]] = status
                if key[1] == "x":
                    self.marks["X"] = status
            else:
                self.icons[key] = status
        return True


def _skip(s: str, i: int, chars: str) -> int:
    n = len(s)
    while i < n and s[i] in chars:
        i += 1
    return i


def strip_icons(text: str) -> tuple[str, Status | None]:
    """``text`` without status icons (and spaces) at either end, and the status of the
    first icon that names one."""
    ends = ICON_CHARS | {_VS16, " ", "\t"}
    start, end = 0, len(text)
    status: Status | None = None
    while start < end and text[start] in ends:
        status = status or ICONS.get(text[start])
        start += 1
    while end > start and text[end - 1] in ends:
        status = status or ICONS.get(text[end - 1])
        end -= 1
    return text[start:end], status
