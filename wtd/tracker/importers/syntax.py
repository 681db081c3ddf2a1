"""Line syntax shared by the plan readers: the document, fences, headings, checkboxes,
phase headings, table rows, header fields, dates and leading IDs.

Every function is linear in its input: a regex only ever matches a bounded or
possessive prefix (never ``.+?`` followed by an optional tail, which backtracks
quadratically on a long line); the rest of a line is taken apart with ``str``
methods. Lines are 1-based in messages and in the builder, 0-based in ``Doc.lines``.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Final, NamedTuple

from wtd.tracker.importers.statuses import ICON_CHARS, Vocabulary, strip_icons
from wtd.tracker.render import unescape_cell
from wtd.tracker.status import Status

CERTAIN: Final = 1 << 40
"""The score of a format whose telltale is unambiguous (an ECW title, Cursor ``todos:``):
above any count of lines a file within the size limit can give."""

# ------------------------------------------------------------------ the document


class Doc:
    """A plan split into lines (``\\n``, ``\\r\\n`` or ``\\r``; a BOM dropped), with the
    lines inside fenced code blocks and HTML comments, and the YAML front matter marked.

    ``code[i]`` is 1 when line ``i`` (0-based) is a fence or inside one (CommonMark: an
    unclosed fence runs to the end), or a line of a ``<!--`` … ``-->`` comment block
    (one never closed hides nothing). ``front`` is the number of lines of the front
    matter, both ``---`` lines included (0 when there is none).
    """

    __slots__ = ("_boxes", "code", "front", "lines", "text")

    def __init__(self, text: str) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
        self.text = text
        self.lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()  # the final newline ends the last line, it opens none
        self.front = _front_matter(self.lines)
        self.code = _fences(self.lines, self.front)
        self._boxes: list[Box | None] | None = None

    def box(self, i: int) -> Box | None:
        """The checkbox line ``i`` is, outside code (parsed once per document)."""
        if self._boxes is None:
            code = self.code
            self._boxes = [
                None if code[k] or "[" not in line else checkbox(line)
                for k, line in enumerate(self.lines)
            ]
        return self._boxes[i]

    def __len__(self) -> int:
        return len(self.lines)


def _front_matter(lines: list[str]) -> int:
    if not lines or lines[0].rstrip() != "---":
        return 0
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return i + 1
    return 0  # never closed: not front matter, a rule


def _fences(lines: list[str], start: int) -> bytearray:
    code = bytearray(len(lines))
    fence = ""  # the opening fence while inside a block
    last_close = max((i for i in range(start, len(lines)) if "-->" in lines[i]), default=-1)
    comment = False  # inside a ``<!--`` block (CommonMark's HTML block 2)
    for i in range(start, len(lines)):
        s = lines[i].lstrip(" \t")
        if comment:
            code[i] = 1
            comment = "-->" not in s
        elif fence:
            code[i] = 1
            if s.startswith(fence) and not s.rstrip().lstrip(fence[0]):
                fence = ""
        elif s.startswith("<!--") and "-->" not in s[4:] and last_close > i:
            code[i] = 1  # its items are hidden on GitHub: notes, never tasks
            comment = True
        elif s[:3] in ("```", "~~~"):
            char = s[0]
            run = len(s) - len(s.lstrip(char))
            if char == "`" and "`" in s[run:]:
                continue  # ``` inline code ``` on one line is not a fence
            fence = char * run
            code[i] = 1
    return code


def indent(line: str) -> int:
    """Width of the leading whitespace, a tab counting 4."""
    width = 0
    for ch in line:
        if ch == " ":
            width += 1
        elif ch == "\t":
            width += 4 - width % 4
        else:
            break
    return width


def is_rule(s: str) -> bool:
    """A thematic break (``---``, ``***``, ``___``, spaced or not); ``s`` is stripped."""
    if len(s) < 3 or s[0] not in "-*_":
        return False
    return not s.replace(s[0], "").replace(" ", "").replace("\t", "")


# ------------------------------------------------------------------ headings


def heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading (``## Text ##``), or None; ``line`` is stripped
    on the left. Linear (a regex for this took seconds on a long run of spaces)."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = line[level:]
    if not rest:
        return level, ""
    if rest[0] != " " and rest[0] != "\t":
        return None
    text = rest.strip(" \t")
    unclosed = text.rstrip("#")
    if len(unclosed) < len(text) and unclosed[-1:] in (" ", "\t"):
        text = unclosed.rstrip(" \t")
    return level, text


class PhaseHead(NamedTuple):
    """A phase heading taken apart. ``name`` is what is left when the number, a link
    target, a ``[checkpoint: sha]``, a trailing status icon and a duration are taken off."""

    number: str
    name: str
    link: str | None
    checkpoint: str | None
    icon: Status | None  # the status a trailing icon names, or None
    duration: str | None


_PHASE: Final = re.compile(
    r"\[?(?:Phase|Stage|Milestone)[ \t]++(\d{1,9}+(?:\.\d{1,9}+)?+|(?-i:N)(?=[ \t]*+[:—–-]))"
    r"(?:[ \t]*+(?::|—|–|-)[ \t]*+|[ \t]*+$)",
    re.IGNORECASE,
)
_CHECKPOINT: Final = re.compile(r"\[checkpoint:[ \t]*([0-9a-f]{7,40})\]$")
_DURATION: Final = re.compile(
    r"\((?:(?:weeks?|days?|months?|sprints?|hours?)[ \t]*\d+(?:[ \t]*[-–][ \t]*\d+)?"
    r"|\d+(?:[ \t]*[-–][ \t]*\d+)?[ \t]*(?:weeks?|days?|months?|sprints?|hours?|[hdw]))\)$",
    re.IGNORECASE,
)


def phase_head(text: str) -> PhaseHead | None:
    """The phase a heading's text names (``Phase 2: X``, ``Phase 2 — X``, ``[Phase 2: X](url)``,
    ``Phase 3: X (2-3 weeks)``, ``Phase 1: X [checkpoint: abc1234]``, ``Phase 1 — X ✅``;
    ``Phase N: X`` as a template left it, whose number is then "N")."""
    m = _PHASE.match(text)
    if m is None:
        return None
    rest = text[m.end() :].strip(" \t")
    link = checkpoint = duration = None
    icon: Status | None = None
    bracket = text[0] == "["  # ``[Phase N: X](url)``: the name ends at the "]"
    changed = True
    while changed and rest:
        changed = False
        if bracket and rest.endswith(")") and (cut := rest.rfind("](")) >= 0:
            rest, link, bracket, changed = rest[:cut], rest[cut + 2 : -1], False, True
        elif bracket and rest.endswith("]"):
            rest, bracket, changed = rest[:-1], False, True
        tail = rest[-60:]  # the suffixes below are short: look at the end only
        if (cm := _CHECKPOINT.search(tail)) is not None and checkpoint is None:
            checkpoint = cm.group(1)
            rest = rest[: len(rest) - len(tail) + cm.start()].rstrip(" \t")
            changed = True
        stripped, status = strip_icons(rest)
        if status is not None and icon is None and stripped:
            icon, rest, changed = status, stripped, True
        if icon is None and (said := _trailing_status(rest)) is not None:
            rest, icon, changed = said[0], said[1], True
        tail = rest[-60:]
        if (dm := _DURATION.search(tail)) is not None and duration is None:
            duration = dm.group(0)[1:-1]
            rest = rest[: len(rest) - len(tail) + dm.start()].rstrip(" \t")
            changed = True
    return PhaseHead(m.group(1), unescape_cell(rest), link, checkpoint, icon, duration)


_SEPARATORS: Final = ("—", "–", "-", ":", "|", "·")


def _trailing_status(rest: str) -> tuple[str, Status] | None:
    """(name, status) for a phase name that ends in a status: ``X (Done)``, ``X [DONE]``,
    or upper-case words after a separator or icon (``X — IN PROGRESS``, ``X ✅ COMPLETE``).
    A plain word at the end is part of the name ("Phase 4: Review")."""
    vocab = Vocabulary()
    if rest[-1:] in ")]":
        cut = rest.rfind("(" if rest[-1] == ")" else "[", max(0, len(rest) - 40))
        status = vocab.word(rest[cut + 1 : -1]) if cut > 0 else None
        if status is not None:
            return rest[:cut].rstrip(" \t" + "".join(_SEPARATORS)), status
        return None
    words = rest[-40:].split()
    for k in range(min(3, len(words) - 1), 0, -1):
        phrase = " ".join(words[-k:])
        before = words[-k - 1]
        if not phrase.isupper() or (before not in _SEPARATORS and before[-1] not in ICON_CHARS):
            continue
        status = vocab.word(phrase)
        if status is not None:
            head = rest[: rest.rstrip().rfind(words[-k])].rstrip()
            name, _ = strip_icons(head.rstrip("".join(_SEPARATORS) + " \t"))
            return name, status
    return None


# ------------------------------------------------------------------ checkboxes


class Box(NamedTuple):
    """A checkbox list item: ``- [x] text``, ``* [ ] text``, ``1. [X] text``, ``- [ ]* text``;
    or a bullet with a status icon (``- ✅ text``, ``- text 🚧``: ``icon_bullet``)."""

    indent: int
    mark: str
    optional: bool  # Kiro's ``[ ]*`` (also ``[ ]\\*``)
    text: str
    status: Status | None = None  # what the icon of an icon bullet says


_BOX: Final = re.compile(
    r"[ \t]*+(?:[-*+]|\d{1,9}+[.)])[ \t]++\[([ xX~/-])\](\\?\*)?+(?:[ \t]++|$)"
)


def checkbox(line: str) -> Box | None:
    m = _BOX.match(line)
    if m is None:
        return None
    return Box(indent(line), m.group(1), m.group(2) is not None, line[m.end() :].rstrip())


_BULLET: Final = re.compile(r"[ \t]*+(?:[-*+]|\d{1,9}+[.)])(?:[ \t]|$)")


def is_bullet(line: str) -> bool:
    """A list item (with or without a checkbox)."""
    return _BULLET.match(line) is not None


_VS16: Final = "\ufe0f"


def icon_bullet(line: str, icons: dict[str, Status]) -> Box | None:
    """A bullet that begins or ends with an icon naming a status (``- ✅ Repo skeleton``,
    ``- Comments ⏳``; ``icons``: the document's), as a Box whose ``status`` it is; None
    for any other line (a ``- ⚠️ Risk`` names no status)."""
    m = _BULLET.match(line)
    if m is None:
        return None
    text = line[m.end() :].strip(" \t")
    status: Status | None = None
    for k in range(min(len(text), 3)):  # the icon, a variation selector, a space
        if text[k] in icons:
            status = icons[text[k]]
            break
        if text[k] != _VS16:
            break
    if status is None:
        for k in range(len(text) - 1, max(len(text) - 3, 0) - 1, -1):
            if text[k] in icons:
                status = icons[text[k]]
                break
            if text[k] != _VS16:
                break
    if status is None or not strip_icons(text)[0].strip():
        return None
    return Box(indent(line), "", False, text, status)


# ------------------------------------------------------------------ tables

_PIPE_OR_ESCAPE: Final = re.compile(r"\\.|\|")


def cells(line: str) -> list[str]:
    """The raw cells of a table row (split at pipes that are not backslash-escaped)."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    if "\\" in body:
        cuts = [m.start() for m in _PIPE_OR_ESCAPE.finditer(body) if m.group() == "|"]
        parts = [body[i + 1 : j] for i, j in zip([-1, *cuts], [*cuts, len(body)], strict=True)]
    else:
        parts = body.split("|")
    if len(parts) > 1 and not parts[-1].strip():
        parts.pop()
    return parts


def is_delimiter_row(parts: list[str]) -> bool:
    """The ``|---|:--:|`` row under a table header."""
    for p in parts:
        s = p.strip(" \t")
        if not s or s.strip(":-") or "-" not in s:
            return False
    return bool(parts)


def cell_text(cell: str) -> str:
    return unescape_cell(cell)


# ------------------------------------------------------------------ fields and dates

_FIELD: Final = re.compile(
    r"(?:\*\*|__)?+([A-Za-z][A-Za-z0-9 ./()-]{0,39}?)(?:\*\*|__)?+:(?:\*\*|__)?+[ \t]++(?=\S)"
)


def fields(line: str) -> list[tuple[str, str]] | None:
    """The ``Key: value`` pairs of a header line (``Created: 2026-02-03``,
    ``**Owner:** Josh · **Created:** 2026-02-03``, ``> Last updated: …``), or None when
    any part of the line is not one."""
    s = line.strip()
    if s.startswith(">"):
        s = s[1:].strip()
    if not s or (s[0] in "|#-*+" and not s.startswith("**")):
        return None
    out: list[tuple[str, str]] = []
    for part in s.split(" · "):
        m = _FIELD.match(part.strip())
        if m is None:
            return None
        key = m.group(1).strip()
        out.append((key, part.strip()[m.end() :].strip()))
    return out


_DATE: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?)?[ \t]*"
    r"(Z|z|UTC|[+-]\d{2}:?\d{2})?$"
)
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$"
)


def date_time(value: str) -> str | None:
    """An RFC 3339 date-time for a date (``2026-02-03`` → midnight UTC) or a date and time
    (no zone → UTC); the value itself when it already is one; None when it is not a date."""
    s = value.strip().strip("`*_'\"")
    m = _DATE.match(s)
    if m is None:
        return None
    y, mo, d, h, mi, sec, frac, zone = m.groups()
    try:
        dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(sec or 0))
    except ValueError:
        return None
    if _RFC3339.match(s):
        return s
    if zone in (None, "z", "UTC"):
        zone = "Z"
    elif ":" not in zone:
        zone = zone[:3] + ":" + zone[3:]
    return f"{y}-{mo}-{d}T{h or '00'}:{mi or '00'}:{sec or '00'}{frac or ''}{zone}"


# ------------------------------------------------------------------ IDs in names

_TASK_WORD: Final = re.compile(
    r"(?:Task|Step|Item|Story|Ticket|Issue)[ \t]++(\d{1,9}+(?:\.\d{1,9}+)*+)"
    r"[ \t]*+(?::|—|–|-|\.|\))[ \t]*+",
    re.IGNORECASE,
)
_DOTTED: Final = re.compile(
    r"(\d{1,9}+(?:\.\d{1,9}+)++)(?::|\.|\)|[ \t]++(?:—|–|-|:))?+[ \t]++(?=\S)"
)
_TICKET: Final = re.compile(r"([A-Z0-9]{1,20}+(?:[-_][A-Z0-9]{1,20}+){1,4}+)[ \t]*+:[ \t]++(?=\S)")
_TASK_ONLY: Final = re.compile(r"Task[ \t]*+:[ \t]++(?=\S)", re.IGNORECASE)


def split_id(text: str) -> tuple[str, str]:
    """(id, name) of a task's text: ``Task 1.1: Name`` → ``1.1``, ``1.2 — Name`` /
    ``2.1: Name`` → the dotted id, ``ABC-12: Name`` → ``ABC-12``; ``Task: Name`` loses its
    prefix. ("", text) when no ID leads."""
    if (m := _TASK_WORD.match(text)) is not None:
        return m.group(1), text[m.end() :]
    if (m := _DOTTED.match(text)) is not None:
        return m.group(1), text[m.end() :]
    m = _TICKET.match(text)
    if (
        m is not None
        and any(c.isdigit() for c in m.group(1))
        and any(c.isalpha() for c in m.group(1))
    ):
        return m.group(1), text[m.end() :]
    if (m := _TASK_ONLY.match(text)) is not None:
        return "", text[m.end() :]
    return "", text


_HEX: Final = frozenset("0123456789abcdef")


def is_sha(token: str, *, short: bool = True) -> bool:
    """A commit sha: 7 hex digits (``short``), or 7 to 40; at least one digit, so a word
    such as "defaced" is not taken for one."""
    n = len(token)
    if not (n == 7 if short else 7 <= n <= 40):
        return False
    return all(c in _HEX for c in token) and any(c.isdigit() for c in token)
