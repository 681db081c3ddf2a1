"""A small, safe, linear reader for the YAML that tools write as front matter.

Enough for what Cursor writes (and people edit): a mapping with plain keys; values that
are plain, single- or double-quoted scalars (one line; a plain one may continue on
more-indented lines), ``|``/``>`` block scalars (with ``-``/``+`` chomping), one-line
flow lists ``[a, "b"]``, block lists (``- x``, ``- key: value`` …) and nested block
mappings, ``#`` comments. Anything else — flow mappings, anchors, aliases, tags,
multi-line quoted scalars, nesting deeper than ``MAX_DEPTH`` — raises ``YamlError``
and the caller keeps the front matter as notes. No dependency, no recursion beyond
``MAX_DEPTH``, each line read once.

Every value remembers the lines it spans (0-based, into the lines given), so a reader
can say which line became what.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

MAX_DEPTH: Final = 6


class YamlError(Exception):
    """The front matter uses YAML this reader does not support (``line``: 0-based)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line + 1}: {message}")
        self.line = line


class Entry(NamedTuple):
    """A mapping entry (``key``) or a list item (``key`` ""), spanning lines
    ``first``..``last``. ``value`` is a str, or a list of Entry: a mapping's entries
    when ``mapping``, else a list's items."""

    key: str
    value: str | list[Entry]
    first: int
    last: int
    mapping: bool = False


_KEY: Final = re.compile(r"([A-Za-z0-9_][A-Za-z0-9_.-]{0,63}+)[ \t]*+:(?:[ \t]++|$)")
_ESCAPES: Final = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "0": "\0",
    '"': '"',
    "\\": "\\",
    "/": "/",
    " ": " ",
    "e": "\x1b",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "N": "\x85",
    "_": "\xa0",
    "L": "\u2028",
    "P": "\u2029",
}
_HEX_ESCAPES: Final = {"x": 2, "u": 4, "U": 8}


def parse(lines: list[str]) -> list[Entry]:
    """The top-level mapping of ``lines`` (the front matter without its ``---`` lines)."""
    return _Parser(lines).document()


def _indent(line: str) -> int:
    n = len(line) - len(line.lstrip(" "))
    if line[n : n + 1] == "\t":
        raise YamlError(0, "a tab in the indentation")
    return n


class _Parser:
    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.pos = 0

    def next_line(self) -> int:
        """Skip blank and comment lines; the index of the next one (len when none)."""
        while self.pos < len(self.lines):
            s = self.lines[self.pos].strip()
            if s and not s.startswith("#"):
                return self.pos
            self.pos += 1
        return self.pos

    def document(self) -> list[Entry]:
        i = self.next_line()
        if i >= len(self.lines):
            return []
        entries = self.mapping(_indent(self.lines[i]), 0)
        if self.next_line() < len(self.lines):
            raise YamlError(self.pos, "unexpected indentation")
        return entries

    def mapping(self, indent: int, depth: int, column: int | None = None) -> list[Entry]:
        """Entries at ``indent``; the first may start at ``column`` of the current line
        (``- key: value``)."""
        if depth > MAX_DEPTH:
            raise YamlError(self.pos, "nested too deep")
        entries: list[Entry] = []
        while True:
            i = self.next_line() if column is None else self.pos
            if i >= len(self.lines):
                return entries
            line = self.lines[i]
            at = _indent(line) if column is None else column
            if at < indent:
                return entries
            if at > indent:
                raise YamlError(i, "unexpected indentation")
            if column is None and line.lstrip().startswith("- "):
                return entries  # a list at the same indentation as its key's siblings
            m = _KEY.match(line, at)
            if m is None:
                raise YamlError(i, "expected `key: value`")
            column = None
            key = m.group(1)
            self.pos = i
            value, mapping = self.value(line[m.end() :], indent, depth, i)
            entries.append(Entry(key, value, i, max(i, self.pos - 1), mapping))

    def value(self, rest: str, indent: int, depth: int, i: int) -> tuple[str | list[Entry], bool]:
        """The value after ``key:`` on line ``i`` (``rest``); leaves ``pos`` after it."""
        text = _strip_comment(rest).strip()
        self.pos = i + 1
        if not text:
            j = self.next_line()
            if j < len(self.lines):
                below = self.lines[j]
                at = _indent(below)
                is_list = below.lstrip().startswith("-") and below.lstrip()[1:2] in ("", " ")
                if is_list and at >= indent:
                    return self.sequence(at, depth + 1), False
                if at > indent:
                    return self.mapping(at, depth + 1), True
            self.pos = i + 1
            return "", False
        if text[0] in "|>":
            return self.block(text, indent, i), False
        if text[0] == "[":
            return _flow(text, i), False
        if text[0] in "{&*!%@`":
            raise YamlError(i, f"unsupported YAML ({text[0]!r})")
        if text[0] in "\"'":
            return _quoted(text, i), False
        return self.plain(text, indent), False

    def sequence(self, indent: int, depth: int) -> list[Entry]:
        """Items ``- …`` at ``indent``."""
        if depth > MAX_DEPTH:
            raise YamlError(self.pos, "nested too deep")
        items: list[Entry] = []
        while True:
            i = self.next_line()
            if i >= len(self.lines):
                return items
            line = self.lines[i]
            at = _indent(line)
            s = line[at:]
            if at != indent or not (s.startswith("- ") or s.rstrip() == "-"):
                if at > indent:
                    raise YamlError(i, "unexpected indentation")
                return items
            rest = s[1:]
            column = at + 1 + (len(rest) - len(rest.lstrip(" ")))
            body = rest.strip()
            if body and _KEY.match(body):
                self.pos = i
                value: str | list[Entry] = self.mapping(column, depth + 1, column=column)
                items.append(Entry("", value, i, max(i, self.pos - 1), True))
                continue
            self.pos = i
            value, mapping = self.value(rest, at, depth, i)
            items.append(Entry("", value, i, max(i, self.pos - 1), mapping))

    def plain(self, text: str, indent: int) -> str:
        """A plain scalar, with its continuation lines (more indented, not a key)."""
        parts = [text]
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            s = line.strip()
            if not s or _indent(line) <= indent or s.startswith(("#", "- ")) or _KEY.match(s):
                break
            parts.append(_strip_comment(s).strip())
            self.pos += 1
        return " ".join(parts)

    def block(self, header: str, indent: int, i: int) -> str:
        """A ``|`` or ``>`` block scalar whose header is on line ``i``."""
        style, indicators = header[0], header[1:].strip()
        chomp = ""
        width = 0
        for ch in indicators:
            if ch in "+-" and not chomp:
                chomp = ch
            elif ch.isdigit() and ch != "0" and not width:
                width = int(ch)
            else:
                raise YamlError(i, "unsupported block scalar header")
        body: list[str] = []
        pos = i + 1
        while pos < len(self.lines):
            line = self.lines[pos]
            if line.strip():
                at = _indent(line)
                if at <= indent:
                    break
                if not width:
                    width = at - indent
                if at < indent + width:
                    break
                body.append(line[indent + width :])
            else:
                body.append("")
            pos += 1
        self.pos = pos
        while body and body[-1] == "" and pos > i + 1:
            body.pop()
        self.pos = i + 1 + len(body)
        text = "\n".join(body) if style == "|" else _fold(body)
        if chomp == "-" or not text:
            return text
        return text + "\n"


def _fold(body: list[str]) -> str:
    """Fold a ``>`` block: lines of a paragraph join with spaces, a blank line between
    two paragraphs reads as one newline, more-indented lines keep theirs."""
    out: list[str] = []
    para: list[str] = []
    for line in body:
        if line == "":
            if para:
                out.append(" ".join(para))
                para = []
            out.append("")
        elif line[:1] in (" ", "\t"):
            if para:
                out.append(" ".join(para))
                para = []
            out.append(line)
        else:
            para.append(line)
    if para:
        out.append(" ".join(para))
    text = ""
    for k, piece in enumerate(out):
        if k == 0:
            text = piece
        elif piece == "" or out[k - 1] == "":
            text += "\n" if piece == "" else piece
        else:
            text += "\n" + piece
    return text


def _strip_comment(text: str) -> str:
    """``text`` without a ``#`` comment (one after a space, outside quotes)."""
    if "#" not in text:
        return text
    quote = ""
    for k, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'" and (k == 0 or text[k - 1] in " \t[,"):
            quote = ch
        elif ch == "#" and (k == 0 or text[k - 1] in " \t"):
            return text[:k]
    return text


def _quoted(text: str, i: int) -> str:
    """A single- or double-quoted scalar that ends on its line."""
    q = text[0]
    out: list[str] = []
    k = 1
    n = len(text)
    while k < n:
        ch = text[k]
        if q == "'" and ch == "'":
            if text[k + 1 : k + 2] == "'":
                out.append("'")
                k += 2
                continue
            break
        if q == '"' and ch == '"':
            break
        if q == '"' and ch == "\\":
            k = _escape(text, k, out, i)
            continue
        out.append(ch)
        k += 1
    else:
        raise YamlError(i, "a quoted scalar that does not end on its line")
    if text[k + 1 :].strip():
        raise YamlError(i, "text after a quoted scalar")
    return "".join(out)


def _escape(text: str, k: int, out: list[str], i: int) -> int:
    code = text[k + 1 : k + 2]
    if code in _ESCAPES:
        out.append(_ESCAPES[code])
        return k + 2
    size = _HEX_ESCAPES.get(code, 0)
    digits = text[k + 2 : k + 2 + size]
    if size and len(digits) == size and all(c in "0123456789abcdefABCDEF" for c in digits):
        value = int(digits, 16)
        if value <= 0x10FFFF:
            out.append(chr(value))
            return k + 2 + size
    raise YamlError(i, "an unknown escape in a double-quoted scalar")


def _flow(text: str, i: int) -> list[Entry]:
    """A one-line flow list of scalars: ``[a, "b, c", 'd']``."""
    if not text.endswith("]"):
        raise YamlError(i, "a flow list that does not end on its line")
    items: list[Entry] = []
    body = text[1:-1]
    k = 0
    n = len(body)
    while k < n:
        while k < n and body[k] in " \t":
            k += 1
        if k >= n:
            break
        if body[k] in "\"'":
            q = body[k]
            end = k + 1
            while end < n and not (body[end] == q and body[end - 1 : end] != "\\"):
                end += 1
            items.append(Entry("", _quoted(body[k : end + 1], i), i, i))
            k = end + 1
            while k < n and body[k] in " \t":
                k += 1
            if k < n and body[k] != ",":
                raise YamlError(i, "unexpected text in a flow list")
            k += 1
            continue
        end = body.find(",", k)
        end = n if end < 0 else end
        value = body[k:end].strip()
        if not value or value[0] in "[{&*!":
            raise YamlError(i, "unsupported value in a flow list")
        items.append(Entry("", value, i, i))
        k = end + 1
    return items


def sequence_items(entry: Entry) -> list[Entry]:
    """The items of a list value ([] when ``entry`` holds a scalar or a mapping)."""
    if isinstance(entry.value, list) and not entry.mapping:
        return entry.value
    return []


def scalar(entry: Entry | None) -> str | None:
    """The scalar ``entry`` holds, or None (absent, or a list or mapping)."""
    if entry is None or not isinstance(entry.value, str):
        return None
    return entry.value
