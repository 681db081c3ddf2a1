"""The reversible escape of free text in the view (``escape_cell``, ``unescape_cell``)
and reading a heading line (``heading``); see ``wtd.tracker.render`` for the rules.
"""

from __future__ import annotations

import html.entities
import re
from typing import Final

# Characters that would end a line (str.splitlines) or that Markdown cannot show.
_CONTROL: Final = [
    *range(0x00, 0x20),
    0x7F,
    *range(0x80, 0xA0),
    0x2028,
    0x2029,
]
_ESCAPES: Final[dict[int, str]] = {c: f"&#{c};" for c in _CONTROL}
_ESCAPES.update(
    {
        ord("\n"): "<br>",
        ord("\\"): "\\\\",
        ord("|"): "\\|",
        ord("<"): "\\<",
        ord("&"): "\\&",
    }
)


def _entity(ch: str) -> str:
    return f"&#{ord(ch)};"


def escape_cell(text: str) -> str:
    """Escape ``text`` for a table cell (or any single-line Markdown context).

    Reversible: ``unescape_cell(escape_cell(s)) == s`` for every string ``s``.
    The result has no line breaks, no unescaped ``|``, and no whitespace at its ends.
    """
    # Fast path: nearly every name is plain text. isprintable() is False for every
    # control and whitespace character except the ASCII space.
    if (
        text.isprintable()
        and "\\" not in text
        and "|" not in text
        and "<" not in text
        and "&" not in text
        and text[:1] != " "
        and text[-1:] != " "
    ):
        return text
    out = text.translate(_ESCAPES)
    if out[:1].isspace() or out[-1:].isspace():
        start = 0
        end = len(out)
        while start < end and out[start].isspace():
            start += 1
        while end > start and out[end - 1].isspace():
            end -= 1
        out = "".join(map(_entity, out[:start])) + out[start:end] + "".join(map(_entity, out[end:]))
    return out


_UNESCAPE_RE: Final = re.compile(
    r"\\([!-/:-@\[-`{-~])"  # a CommonMark backslash escape of ASCII punctuation
    r"|(<br\s*/?>)"  # a line break, in any usual spelling
    r"|&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{0,31});",  # an entity
    re.IGNORECASE,
)


def _unescape_match(match: re.Match[str]) -> str:
    punct, br, entity = match.groups()
    if punct is not None:
        return punct
    if br is not None:
        return "\n"
    if entity[0] == "#":
        code = int(entity[2:], 16) if entity[1] in "xX" else int(entity[1:])
        return chr(code) if code <= 0x10FFFF else match.group(0)
    return html.entities.html5.get(entity + ";", match.group(0))


def unescape_cell(text: str) -> str:
    """The inverse of ``escape_cell``: the value a rendered cell (or line) stands for.

    Surrounding spaces and tabs are dropped, as GitHub drops them around a cell.
    """
    text = text.strip(" \t")
    if "\\" not in text and "<" not in text and "&" not in text:
        return text
    return _UNESCAPE_RE.sub(_unescape_match, text)


def escape_heading(text: str) -> str:
    # A trailing run of '#' would be read as the heading's closing sequence.
    out = escape_cell(text)
    return out[:-1] + "\\#" if out.endswith("#") else out


_BLOCK_START: Final = frozenset("#>-+*=_`~:|")


def escape_paragraph(text: str) -> str:
    # A description is one paragraph line; keep it from starting a heading, quote,
    # list, rule or fence (the backslash is a CommonMark escape, so unescape_cell
    # removes it and GitHub does not show it).
    out = escape_cell(text)
    if out[:1] in _BLOCK_START:
        return "\\" + out
    digits = len(out) - len(out.lstrip("0123456789"))
    if 0 < digits < len(out) and out[digits] in ".)":
        return out[:digits] + "\\" + out[digits:]
    return out


def heading(line: str) -> tuple[int, str] | None:
    r"""(level, text) of an ATX heading line (``## Text ##``), or None.

    Exactly what the regex ``(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$`` matched, in
    linear time: that regex took quadratic time on a long run of spaces (a ``#`` line
    with 16,000 spaces took 8 s) and held the GIL all along. ``line`` has no newline.
    """
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6:
        return None
    rest = line[level:]
    if not rest:
        return level, ""
    if rest[0] != " " and rest[0] != "\t":
        return None  # "#5" is not a heading
    text = rest.lstrip(" \t").rstrip(" \t")
    unclosed = text.rstrip("#")  # an optional closing sequence, after a space or tab
    if len(unclosed) < len(text) and unclosed[-1:] in (" ", "\t"):
        text = unclosed.rstrip(" \t")
    return level, text
