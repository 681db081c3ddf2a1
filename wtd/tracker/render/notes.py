"""Notes as the view writes and reads them: the lines shown (``note_lines``), the
escape of a line that would break the layout (``escape_note``), where a Notes
section ends (``ends_notes``) and the items of a phase's Notes block.
"""

from __future__ import annotations

import re
from typing import Final

from wtd.tracker.render.escape import escape_cell, heading, unescape_cell
from wtd.tracker.render.layout import PHASE_HEADING

# Characters that break a line for some reader (str.splitlines) or that Markdown cannot
# show: a note line holding one is escaped. A tab is kept (indentation).
_NOTE_BREAKS: Final = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_LAYOUT_SECTIONS: Final = frozenset({"phases", "notes", "progress summary", "recovery checksum"})


def note_lines(value: object) -> tuple[str, ...]:
    """The lines a view shows of a ``notes`` field: each without trailing whitespace
    ("" when nothing is left: a paragraph break), no paragraph break at either end;
    () when there are none or the field is not a list of strings."""
    if not isinstance(value, list) or not value:
        return ()
    lines: list[str] = []
    for line in value:
        if not isinstance(line, str):
            return ()
        lines.append(line.rstrip())
    start, end = 0, len(lines)
    while start < end and not lines[start]:
        start += 1
    while end > start and not lines[end - 1]:
        end -= 1
    return tuple(lines[start:end])


def ends_notes(line: str) -> bool:
    """Does ``line`` (of the tracker's Notes section) end the section? A heading of the
    layout does: ``## Phases``, ``## Notes``, ``## Progress Summary``, ``## Recovery
    Checksum``, a phase heading, ``### Sub-tasks of missing tasks``."""
    stripped = line.lstrip()
    if stripped[:1] != "#":
        return False
    found = heading(stripped)
    if found is None:
        return False
    level, text = found
    label = text.strip().lower()
    return (
        (level <= 2 and label in _LAYOUT_SECTIONS)
        or label == "sub-tasks of missing tasks"
        or PHASE_HEADING.match(text) is not None
    )


def escape_note(line: str) -> str:
    """``line`` as a view writes a note line that cannot stand as it is: ``\\`` then
    ``escape_cell(line)`` (on GitHub: a backslash, then the text)."""
    return "\\" + escape_cell(line)


def unescape_note(line: str) -> str:
    """The note a line of the view stands for (the inverse of ``escape_note`` on an
    escaped line; any other line is the note itself)."""
    return unescape_cell(line[1:]) if line[:1] == "\\" else line


def _plain_note(line: str) -> bool:
    return line[:1] != "\\" and _NOTE_BREAKS.search(line) is None


def note_key(number: int) -> str:
    """How a phase's own item of its Notes block is named (tasks' and sub-tasks' items
    are named by their IDs)."""
    return f"Phase {number}"


def note_item(key: str, notes: tuple[str, ...]) -> list[str]:
    out = [f"- **{key}**"]
    for line in notes:
        if not line:
            out.append("")
        else:
            out.append("  " + (line if _plain_note(line) else escape_note(line)))
    return out


# A code fence opener (CommonMark: up to three spaces, three or more ` or ~; a ` fence's
# info string has no `) and closer (the same character, at least as many, nothing after).
_FENCE: Final = re.compile(r" {0,3}(`{3,}+(?!.*`)|~{3,})")
_FENCE_CLOSE: Final = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*")
# HTML blocks that run until an end marker, however many blank lines (CommonMark 1-5).
_HTML_BLOCKS: Final = (
    (
        re.compile(r" {0,3}<(?:script|pre|style|textarea)(?:[ \t>]|$)", re.IGNORECASE),
        re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE),
    ),
    (re.compile(r" {0,3}<!--"), re.compile(r"-->")),
    (re.compile(r" {0,3}<\?"), re.compile(r"\?>")),
    (re.compile(r" {0,3}<![A-Za-z]"), re.compile(r">")),
    (re.compile(r" {0,3}<!\[CDATA\["), re.compile(r"\]\]>")),
)


def _unclosed(lines: list[str]) -> set[int]:
    """The indexes of the lines (as they will be written) that open a code fence or an
    HTML block which no later line closes: on GitHub it would run to the end of the
    view. Linear: for each kind of end, where the last one is, is known up front."""
    count = len(lines)
    closers: dict[str, list[int]] = {"`": [0] * (count + 1), "~": [0] * (count + 1)}
    for i in range(count - 1, -1, -1):  # the longest closing fence after line i
        for best in closers.values():
            best[i] = best[i + 1]
        m = _FENCE_CLOSE.fullmatch(lines[i])
        if m is not None:
            best = closers[m.group(1)[0]]
            best[i] = max(best[i], len(m.group(1)))
    last_end = [-1] * len(_HTML_BLOCKS)
    for i, line in enumerate(lines):
        for k, (_, end) in enumerate(_HTML_BLOCKS):
            if end.search(line):
                last_end[k] = i
    out: set[int] = set()
    i = 0
    while i < count:
        line = lines[i]
        fence = _FENCE.match(line)
        if fence is not None:
            marks = fence.group(1)
            char, length = marks[0], len(marks)
            if closers[char][i + 1] < length:
                out.add(i)
                i += 1
                continue
            i += 1
            while i < count:  # inside the fence, up to its closer
                m = _FENCE_CLOSE.fullmatch(lines[i])
                i += 1
                if m is not None and m.group(1)[0] == char and len(m.group(1)) >= length:
                    break
            continue
        for k, (start, end) in enumerate(_HTML_BLOCKS):
            if start.match(line) is None:
                continue
            if end.search(line):
                break  # closed on its own line
            if last_end[k] <= i:
                out.add(i)
                break
            i += 1
            while end.search(lines[i]) is None:  # inside the block, up to its end
                i += 1
            break
        i += 1
    return out


def plan_note_lines(notes: tuple[str, ...]) -> list[str]:
    written = [
        line if not line or (_plain_note(line) and not ends_notes(line)) else escape_note(line)
        for line in notes
    ]
    for i in _unclosed(written):
        written[i] = escape_note(notes[i])
    return written
