"""Bytes: the checksum, the canonical encoding (``encode``, the incremental ``Encoder``)
and decoding (``decode``, the fast path ``decode_canonical`` for files wtd wrote).
"""

from __future__ import annotations

import hashlib
from typing import Final

import msgspec

from wtd.tracker import status as st
from wtd.tracker.model.limits import INDENT, check_depth, check_size, too_deep
from wtd.tracker.model.raw import check_ids, from_raw, struct_raw, to_raw
from wtd.tracker.model.structs import (
    MAX_BYTES,
    MAX_DEPTH,
    Task,
    Tracker,
    TrackerError,
    same_objects,
)

CHECKSUM_HEX: Final = 40
LEGACY_HEX: Final = 32


def checksum(data: bytes) -> str:
    """The content digest of tracker bytes that wtd journals and the view shows:
    SHA-256, its first 160 bits in hex (40 digits; SHA-NI makes it about twice as
    fast as blake2b: 8 against 15 ms on a 100k-task tracker here).

    Journals, views and backups written before carry the 32-digit blake2b digest
    (``legacy_checksum``): a digest read back from them is compared with
    ``checksum_as``, never with this directly.
    """
    return hashlib.sha256(data).hexdigest()[:CHECKSUM_HEX]


def legacy_checksum(data: bytes) -> str:
    """The digest wtd wrote before ``checksum``: 128-bit blake2b, 32 hex digits."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def checksum_as(data: bytes, like: str) -> str:
    """The digest of ``data`` in the format of ``like``, a digest read back (from a
    journal, a view, memory): the legacy one for a 32-digit ``like``."""
    return legacy_checksum(data) if len(like) == LEGACY_HEX else checksum(data)


def other_checksum(data: bytes, digest: str) -> str:
    """The digest of ``data`` in the other format than ``digest`` (its own)."""
    return checksum(data) if len(digest) == LEGACY_HEX else legacy_checksum(data)


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode(tracker: Tracker) -> bytes:
    """Deterministic, human-readable JSON bytes (2-space indent, trailing newline)."""
    return msgspec.json.format(_encoder.encode(to_raw(tracker)), indent=2) + b"\n"


_TASKS_MARK = "\x00wtd:tasks\x00"
_TASKS_LINE = b'    "\\u0000wtd:tasks\\u0000"'
_CHUNK: Final = 256
# A task encoded natively as an item of the tasks array ends with its empty ``extra``
# field; nothing else in the array sits at that indentation.
_EMPTY_EXTRA: Final = b',\n      "extra": {}\n    }'
# Tasks formatted as the items of a list in a list sit at their indentation in the
# document, between these
_NESTED_HEAD: Final = b"[\n  [\n"
_NESTED_TAIL: Final = b"\n  ]\n]"


def _encode_chunk(tasks: tuple[Task, ...]) -> bytes:
    """Tasks as the items of the ``tasks`` array, indented as ``encode`` writes them."""
    if any(t.extra for t in tasks):
        items = [msgspec.json.format(_encoder.encode(struct_raw(t)), indent=2) for t in tasks]
        body = b",\n".join(items)
        return b"    " + body.replace(b"\n", b"\n    ")
    # natively, at C speed; nested in one more list, so that the formatting indents
    # them as the document does (no pass to indent every line)
    text = msgspec.json.format(_encoder.encode((tasks,)), indent=2)
    assert text.startswith(_NESTED_HEAD) and text.endswith(_NESTED_TAIL)
    return text[len(_NESTED_HEAD) : -len(_NESTED_TAIL)].replace(_EMPTY_EXTRA, b"\n    }")


class Encoder:
    """``encode`` with a cache of the tasks array, in chunks of consecutive tasks.

    Tasks are immutable and unchanged ones are shared between a tracker and the next
    version, so a change re-encodes only the chunk holding the task it touched. The output
    is byte-for-byte ``encode(tracker)``. One Encoder per tracker (the Store's).
    """

    def __init__(self) -> None:
        self._chunks: list[tuple[tuple[Task, ...], bytes]] = []

    def encode(self, tracker: Tracker) -> bytes:
        tasks = tracker.tasks
        if not tasks:
            self._chunks = []
            return encode(tracker)
        shell = msgspec.structs.replace(tracker, tasks=())
        raw = to_raw(shell)
        raw["tasks"] = [_TASKS_MARK]
        text = msgspec.json.format(_encoder.encode(raw), indent=2)
        old = self._chunks
        chunks: list[tuple[tuple[Task, ...], bytes]] = []
        for n, start in enumerate(range(0, len(tasks), _CHUNK)):
            chunk = tasks[start : start + _CHUNK]
            if n < len(old) and same_objects(old[n][0], chunk):
                chunks.append(old[n])
            else:
                chunks.append((chunk, _encode_chunk(chunk)))
        self._chunks = chunks
        head, tail = text.split(_TASKS_LINE, 1)
        parts = [head]
        for _, fragment in chunks:
            parts.append(fragment)
            parts.append(b",\n")
        parts[-1] = tail
        parts.append(b"\n")
        return b"".join(parts)  # one copy of the document


_typed_decoder = msgspec.json.Decoder(Tracker)
_CANONICAL: Final = frozenset(st.STATUSES)
_CANONICAL_START: Final = b'{\n  "schema_version": "2.'


def decode(
    data: bytes,
    *,
    encoder: Encoder | None = None,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Tracker:
    """Parse tracker JSON bytes. Raises TrackerError when they are not a valid tracker,
    LimitExceeded (a TrackerError) when they are over ``max_bytes`` or nest deeper than
    ``max_depth`` levels.

    Bytes that wtd wrote itself (canonical v2, statuses canonical, ids well formed)
    are decoded straight into the model, which is several times faster on big
    trackers; the encoding of the result must give back the very same bytes, which
    proves nothing (an unknown field, an alias) was dropped. Anything else takes the
    general path. ``encoder`` (the Store's) is warmed by that check.
    """
    fast = decode_canonical(data, encoder or Encoder(), max_bytes=max_bytes, max_depth=max_depth)
    if fast is not None:
        return fast
    try:
        raw = _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise TrackerError(f"not valid JSON: {exc}") from None
    except RecursionError:  # only when the caller's own stack is already deep
        raise too_deep(data, max_depth) from None
    return from_raw(raw, max_depth=max_depth)


def decode_canonical(
    data: bytes,
    encoder: Encoder,
    *,
    max_bytes: int = MAX_BYTES,
    max_depth: int = MAX_DEPTH,
) -> Tracker | None:
    """The tracker when ``data`` is exactly what ``encoder`` writes for it, else None.

    Raises LimitExceeded when ``data`` is over ``max_bytes`` or nests deeper than
    ``max_depth`` levels, canonical or not: after None, a caller may decode the same
    bytes in any other way without risking the stack (msgspec recurses once a level).
    """
    check_size(data, max_bytes=max_bytes, what="the tracker JSON")
    tracker = _decode_canonical(data, encoder)
    if tracker is None or b"\n" + INDENT * max_depth in data:
        # Canonical bytes show their depth in their indentation: no line indented
        # 2 × max_depth spaces means at most max_depth levels, a find of a few ms.
        # Anything else is scanned.
        check_depth(data, max_depth=max_depth)
    return tracker


def _decode_canonical(data: bytes, encoder: Encoder) -> Tracker | None:
    if not data.startswith(_CANONICAL_START):  # formatted by someone else: not worth trying
        return None
    try:
        tracker = _typed_decoder.decode(data)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
        return None  # RecursionError: far too deep, which the caller's check reports
    if not tracker.schema_version.startswith("2."):
        return None
    statuses = {t.status for t in tracker.tasks}
    statuses.update(p.status for p in tracker.phases)
    statuses.update(s.status for s in tracker.all_subtasks() if isinstance(s.status, str))
    if not statuses <= _CANONICAL:
        return None
    try:
        if encoder.encode(tracker) != data:
            return None
        check_ids(tracker)
    except (RecursionError, TrackerError):
        return None
    return tracker
