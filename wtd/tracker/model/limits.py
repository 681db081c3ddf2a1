"""The size and nesting limits of tracker input (SPEC §2), checked in linear time
before anything is decoded.
"""

from __future__ import annotations

import re
from typing import Any, Final

from wtd.tracker.model.structs import LimitExceeded

_MIB: Final = 1024 * 1024
INDENT: Final = b"  "  # × depth, after a newline: see decode_canonical
# The structure of JSON text: quotes and brackets ({ } read as [ ]); all else dropped.
_STRUCTURE: Final = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE: Final = bytes(c for c in range(256) if c not in b'"[]{}')
_QUOTED: Final = re.compile(rb'"[^"]*"?')  # over structure bytes only: linear
# One bracket outside strings, and everything before it (possessive: linear).
_NEXT_BRACKET: Final = re.compile(
    rb'(?:[^"\[\]{}]++|"(?:[^"\\]++|\\.)*+"?)*+'  # text and strings, never backtracked into
    rb"([\[\]{}])",
    re.DOTALL,
)


def _size(n: int) -> str:
    if n >= _MIB:
        return f"{n / _MIB:.1f}".removesuffix(".0") + " MiB"
    if n >= 1024:
        return f"{n / 1024:.1f}".removesuffix(".0") + " KiB"
    return f"{n} bytes"


def check_size(data: bytes | str, *, max_bytes: int, what: str) -> None:
    """Raise LimitExceeded when ``data`` (a ``str`` counted as UTF-8) is over ``max_bytes``.

    ``what`` names the document in the message, e.g. "the tracker JSON".
    """
    size = len(data)
    if isinstance(data, str) and max_bytes < size * 4:  # else it fits however it encodes
        size = len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        shown, limit = _size(size), _size(max_bytes)
        if shown == limit:  # just over: the rounded sizes would read the same
            shown, limit = f"{size} bytes", f"{max_bytes} bytes"
        raise LimitExceeded(f"{what} is {shown}, over the {limit} limit")


def check_depth(data: bytes, *, max_depth: int) -> None:
    """Raise LimitExceeded when the JSON text ``data`` nests arrays and objects deeper
    than ``max_depth`` levels, naming the byte offset where it first does.

    Linear, without recursion, and at C speed for valid JSON: the text is reduced to its
    brackets outside strings (escapes, then string contents, dropped by ``translate``,
    ``replace`` and a one-character-class regex), then innermost ``[]`` pairs are dropped
    once per level. Only a text that may be too deep is walked bracket by bracket to
    find the offset. Invalid JSON is left to the decoder to refuse.
    """
    if _may_nest_deeper(data, max_depth) and _deep_at(data, max_depth) is not None:
        raise too_deep(data, max_depth)


def _may_nest_deeper(data: bytes, max_depth: int) -> bool:
    """False when ``data``, if it is valid JSON, nests at most ``max_depth`` levels."""
    if b"\\" in data:
        # escaped backslashes, then escaped quotes: what is left of "…" pairs up
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    marks = data.translate(_STRUCTURE, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in marks:  # strings holding brackets
        marks = _QUOTED.sub(b"", marks)
    room = max_depth
    while marks:
        if room <= 0 or b"[" * (room + 1) in marks:
            return True
        inner = marks.replace(b"[]", b"")  # one level less everywhere
        if len(inner) == len(marks):
            return False  # unbalanced: not JSON, the decoder says so
        marks = inner
        room -= 1
    return False


def _deep_at(data: bytes, max_depth: int) -> int | None:
    """The offset of the first bracket deeper than ``max_depth`` levels, or None."""
    depth = 0
    pos = 0
    while (m := _NEXT_BRACKET.match(data, pos)) is not None:
        pos = m.end()
        if data[pos - 1] in b"[{":
            depth += 1
            if depth > max_depth:
                return pos - 1
        else:
            depth -= 1
    return None


def too_deep(data: bytes, max_depth: int) -> LimitExceeded:
    at = _deep_at(data, max_depth)
    where = f" (at byte {at})" if at is not None else ""
    return LimitExceeded(f"the tracker JSON nests deeper than {max_depth} levels{where}")


def check_nesting(value: Any, where: str, max_depth: int, level: int) -> None:
    """Raise LimitExceeded when ``value``, enclosed in ``level`` arrays and objects,
    takes the document deeper than ``max_depth`` levels (walked with a stack: no
    recursion, so a value nested 100,000 deep is refused, not a RecursionError)."""
    stack: list[tuple[Any, int]] = [(value, level + 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise LimitExceeded(f"the tracker nests deeper than {max_depth} levels (at {where})")
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list | tuple):
                stack.append((child, depth + 1))
