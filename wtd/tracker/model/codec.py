"""Bytes: the checksum, the canonical encoding (``encode``, the incremental ``Encoder``)
and decoding (``decode``, the fast path ``decode_canonical`` for files wtd wrote).
"""

from __future__ import annotations

import hashlib
from itertools import pairwise
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
    same_run,
    same_tail,
)

CHECKSUM_HEX: Final = 48
SHA_HEX: Final = 40
LEGACY_HEX: Final = 32
OLD_HEX: Final = (SHA_HEX, LEGACY_HEX)  # the lengths of the formats wtd wrote before

# The tree digest cuts the JSON before every PIECE_TASKS-th seam between two items of
# an array of objects at the document's second level whose first field is a string
# "id": in a tracker, between two tasks (and between two sub-tasks).
PIECE_CUT: Final = b'\n    },\n    {\n      "id": "'
PIECE_TASKS: Final = 256
_CUT_LEN: Final = len(PIECE_CUT)
_ITEM_START: Final = b'    {\n      "id": "'
_ITEM_END: Final = b"\n    }"
_SEAM: Final = b"\n    },\n"  # a piece that starts at a cut starts with this
_sha256 = hashlib.sha256


def checksum(data: bytes) -> str:
    """The content digest of tracker bytes that wtd journals and the view shows: a
    tree of SHA-256 digests, 48 hex digits. The bytes are cut into pieces (before
    every ``PIECE_TASKS``-th ``PIECE_CUT``, see ``cuts``); the digest is SHA-256 of
    the pieces' SHA-256 digests, in order. So a change re-hashes only the pieces it
    touched (``Encoder.digest``): on a 100k-task tracker 0.1 ms instead of 8–13 ms
    for a hash of the whole file, which is on the reply path of every change.

    Journals, views and backups written before carry a flat SHA-256 (40 digits,
    ``sha_checksum``) or blake2b (32, ``legacy_checksum``) digest: a digest read back
    from them is compared with ``checksum_as``, never with this directly.
    """
    return _tree(_piece_digests(data))


def _piece_digests(data: bytes) -> list[bytes]:
    whole = memoryview(data)
    return [_sha256(whole[a:b]).digest() for a, b in pairwise([0, *cuts(data), len(data)])]


def _tree(pieces: list[bytes]) -> str:
    return _sha256(b"".join(pieces)).hexdigest()[:CHECKSUM_HEX]


def cuts(data: bytes, start: int = 0) -> list[int]:
    """Where the pieces of ``checksum`` start, after ``start`` (0, or a cut): at every
    ``PIECE_TASKS``-th occurrence of ``PIECE_CUT`` that starts after ``start``.

    Found with one ``count`` per piece and a few ``find``s (the previous piece's
    length is the guess for the next), not one ``find`` per occurrence: 5 ms for a
    16 MB tracker instead of 60."""
    found: list[int] = []
    n = len(data)
    find, rfind, count = data.find, data.rfind, data.count
    pos = start
    span = PIECE_TASKS * 64
    while True:
        guess = min(pos + span, n)
        seen = count(PIECE_CUT, pos + 1, guess)  # occurrences wholly in [pos + 1, guess)
        if seen >= PIECE_TASKS:  # the one sought is among them: back over the last ones
            end = guess
            at = -1
            for _ in range(seen - PIECE_TASKS + 1):
                at = rfind(PIECE_CUT, pos + 1, end)
                end = at + _CUT_LEN - 1
        else:  # on from the first one not counted
            after = max(pos + 1, guess - _CUT_LEN + 1)
            at = -1
            for _ in range(PIECE_TASKS - seen):
                at = find(PIECE_CUT, after)
                if at < 0:
                    return found
                after = at + 1
        found.append(at)
        span = max(at - pos, _CUT_LEN)
        pos = at


def sha_checksum(data: bytes) -> str:
    """The digest wtd wrote before the tree one: SHA-256 of the whole, 40 hex digits."""
    return _sha256(data).hexdigest()[:SHA_HEX]


def legacy_checksum(data: bytes) -> str:
    """The digest wtd wrote first: 128-bit blake2b, 32 hex digits."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def checksum_as(data: bytes, like: str) -> str:
    """The digest of ``data`` in the format of ``like``, a digest read back (from a
    journal, a view, memory): the older ones are told by their length."""
    if len(like) == LEGACY_HEX:
        return legacy_checksum(data)
    if len(like) == SHA_HEX:
        return sha_checksum(data)
    return checksum(data)


def other_checksums(data: bytes, digest: str) -> list[str]:
    """The digests of ``data`` in the formats other than that of ``digest`` (its own)."""
    return [
        make(data)
        for make, size in (
            (checksum, CHECKSUM_HEX),
            (sha_checksum, SHA_HEX),
            (legacy_checksum, LEGACY_HEX),
        )
        if size != len(digest)
    ]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder()


def encode(tracker: Tracker) -> bytes:
    """Deterministic, human-readable JSON bytes (2-space indent, trailing newline)."""
    return msgspec.json.format(_encoder.encode(to_raw(tracker)), indent=2) + b"\n"


_TASKS_MARK = "\x00wtd:tasks\x00"
_TASKS_LINE = b'    "\\u0000wtd:tasks\\u0000"'
_CHUNK: Final = PIECE_TASKS  # a full chunk is one piece of the tree digest
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


_PART: Final = 32


class _Chunk:
    """Consecutive tasks of the Encoder's cache, their bytes, and the digest of the
    piece of ``checksum`` they make up when they sit between two cuts.

    A chunk made again for a change is encoded in parts of ``_PART`` tasks, and the
    next time only the parts whose tasks are not those of the chunk it replaces are
    encoded again (a part of 32 tasks costs ~14 µs, a chunk of 256 ~105); the others'
    bytes are copied from it (``ends``: where each part ends in ``fragment``). A chunk
    made from nothing (opening a tracker) is encoded whole, in one call."""

    __slots__ = ("digest", "ends", "fragment", "seams", "tasks")
    ends: list[int] | None
    fragment: bytes

    def __init__(self, tasks: tuple[Task, ...], old: _Chunk | None = None) -> None:
        self.tasks = tasks
        if old is None:
            self.fragment = _encode_chunk(tasks)
            self.ends = None
        else:
            self._from_parts(old)
        # each task an item starting with its string id, so the chunk holds exactly
        # one cut-shaped seam between each two of its tasks (and none elsewhere)
        self.seams = (
            self.fragment.startswith(_ITEM_START)
            and self.fragment.endswith(_ITEM_END)
            and self.fragment.count(PIECE_CUT) == len(tasks) - 1
        )
        self.digest: bytes | None = None

    def _from_parts(self, old: _Chunk) -> None:
        tasks = old.tasks
        ends = old.ends if len(tasks) == len(self.tasks) else None
        pieces: list[bytes] = []
        self.ends = []
        end = -2
        for n, start in enumerate(range(0, len(self.tasks), _PART)):
            here = self.tasks[start : start + _PART]
            if ends is not None and same_objects(tasks[start : start + _PART], here):
                piece = old.fragment[ends[n - 1] + 2 if n else 0 : ends[n]]
            else:
                piece = _encode_chunk(here)
            pieces.append(piece)
            end += len(piece) + 2
            self.ends.append(end)
        # the parts join as the items of one array do
        self.fragment = b",\n".join(pieces)

    def piece_digest(self) -> bytes:
        """The digest of the piece from the cut before this chunk to the one after it."""
        if self.digest is None:
            h = _sha256(_SEAM)
            h.update(memoryview(self.fragment)[: -len(_ITEM_END)])
            self.digest = h.digest()
        return self.digest


class Encoder:
    """``encode`` with a cache of the tasks array, in chunks of consecutive tasks.

    Tasks are immutable and unchanged ones are shared between a tracker and the next
    version, so a change re-encodes only the part of the chunk holding the task it
    touched (``_Chunk``), and
    ``digest`` re-hashes only the pieces it touched. The output is byte-for-byte
    ``encode(tracker)``. One Encoder per tracker (the Store's).
    """

    def __init__(self) -> None:
        self._chunks: list[_Chunk] = []
        self._tasks: tuple[Task, ...] = ()
        self._head = b""
        self._tail = b""
        self._tail_pieces: tuple[_Chunk, bytes, list[bytes]] | None = None

    def encode(self, tracker: Tracker) -> bytes:
        tasks = tracker.tasks
        if not tasks:
            self._chunks = []
            self._tasks = ()
            return encode(tracker)
        shell = msgspec.structs.replace(tracker, tasks=())
        raw = to_raw(shell)
        raw["tasks"] = [_TASKS_MARK]
        text = msgspec.json.format(_encoder.encode(raw), indent=2)
        old = self._chunks
        # The tasks before the first one changed and after the last one (two C-speed
        # passes over the tuples, together once over them): the chunks wholly among
        # them are the ones kept — at the same places, or past the change when it
        # added or removed none.
        before = self._tasks
        first = same_run(before, 0, tasks, 0)
        last = min(same_tail(before, tasks), min(len(before), len(tasks)) - first)
        moved = len(tasks) != len(before)
        chunks: list[_Chunk] = []
        for n, start in enumerate(range(0, len(tasks), _CHUNK)):
            end = min(start + _CHUNK, len(tasks))
            if n < len(old) and len(old[n].tasks) == end - start:
                if end <= first or (not moved and start >= len(tasks) - last):
                    chunks.append(old[n])
                    continue
                here = tasks[start:end]
                if not moved and same_objects(old[n].tasks, here):  # between two changes
                    chunks.append(old[n])
                    continue
                chunks.append(_Chunk(here, old[n]))
            else:
                chunks.append(_Chunk(tasks[start:end]))
        self._chunks = chunks
        self._tasks = tasks
        head, tail = text.split(_TASKS_LINE, 1)
        self._head, self._tail = head, tail + b"\n"
        parts = [head]
        for chunk in chunks:
            parts.append(chunk.fragment)
            parts.append(b",\n")
        parts[-1] = tail
        parts.append(b"\n")
        return b"".join(parts)  # one copy of the document

    def knows_pieces(self) -> bool:
        """Can ``digest`` reuse pieces of the last output (else it hashes it whole)?"""
        chunks = self._chunks
        return (
            len(chunks) >= 2 and PIECE_CUT not in self._head and all(c.seams for c in chunks[:-1])
        )

    def digest(self, data: bytes) -> str:
        """``checksum(data)`` of ``data``, this Encoder's last output: only the pieces
        whose chunks changed are hashed again (the first piece, which holds the
        document's head, always; the last ones, past the last full chunk, when they
        changed). Any other ``data`` is hashed whole."""
        chunks = self._chunks
        body = len(self._head) + sum(len(c.fragment) + 2 for c in chunks) - 2
        if (
            not self.knows_pieces()
            or len(data) != body + len(self._tail)
            or not data.startswith(self._head)
        ):
            return checksum(data)
        first = _sha256(self._head)
        first.update(memoryview(chunks[0].fragment)[: -len(_ITEM_END)])
        pieces = [first.digest()]
        pieces.extend(c.piece_digest() for c in chunks[1:-1])
        last = chunks[-1]
        cached = self._tail_pieces
        if cached is not None and cached[0] is last and cached[1] == self._tail:
            pieces.extend(cached[2])
        else:
            found = _piece_digests(b"".join((_SEAM, last.fragment, self._tail)))
            self._tail_pieces = (last, self._tail, found)
            pieces.extend(found)
        return _tree(pieces)


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
