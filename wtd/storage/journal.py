"""The write-ahead journal of one tracker: append-only, checksummed, group-committed.

On disk one record is one line, ``<crc32 of the JSON, 8 hex> <JSON>\\n``. A record is
acknowledged only once its line is written and fsync'd; a failed append is truncated
away before the error is re-raised, so it never reappears. On open, anything after the
last good record (a torn or checksum-bad tail, what a crash mid-append leaves) is
truncated away; a bad record *followed by good ones* is real damage and raises
``CorruptJournal`` instead of silently dropping data; ``salvage`` rebuilds such a
segment around the damage, keeping every intact record and marking each lost one
(with the request id, when its damaged line still shows it).

When the file grows past ``max_bytes`` it is rotated to ``<name>.1`` (older segments
shift to ``.2`` … ``.keep_segments``); request ids and ``last_seq`` carry over.
One process, one ``Journal`` per file: it is not safe for several writers.
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, NamedTuple

import msgspec

from wtd.errors import StorageFailure
from wtd.storage import safepath
from wtd.storage.atomic import fsync_dir, make_dirs
from wtd.storage.failpoints import CORRUPT, JOURNAL_APPEND, Failpoints, corrupted

APPEND_POINT: Final = JOURNAL_APPEND
DEFAULT_MAX_BYTES: Final = 8 * 1024 * 1024
DEFAULT_KEEP_SEGMENTS: Final = 3
DEFAULT_RID_CAPACITY: Final = 10_000

_datasync = os.fdatasync if hasattr(os, "fdatasync") else os.fsync
SLOW_APPEND: Final = 0.010
"""Seconds an append (write and fsync), or a replace of a tracker file on the commit
path (``slow_write``), may take before its disk counts as slow."""
SLOW_HOLD: Final = 60.0
"""Seconds a disk counts as slow after its last slow append or write (``disk_slow``)."""
# device → monotonic time of the last slow append of any journal there (or slow write
# of its tracker's files): one tracker's stall tells the others on that disk
_slow_at: dict[int, float] = {}


class JournalRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One applied change. ``op``, ``reply`` and ``undo`` are encoded JSON, opaque here.

    ``before``/``after`` are content hashes of the tracker JSON around the change;
    ``rid`` is the client's request id, so a retried request is answered, not re-applied;
    ``undo`` is the change that reverts this one (for ``undo``).
    """

    seq: int
    rid: str | None = None
    at: str
    actor: str
    before: str
    after: str
    op: msgspec.Raw
    reply: msgspec.Raw | None = None
    undo: msgspec.Raw | None = None


class CorruptJournal(StorageFailure):
    """A journal holds a damaged record followed by good ones (or seqs out of order)."""

    def __init__(self, path: Path, offset: int, why: str) -> None:
        super().__init__(
            f"journal {path} is damaged at byte {offset}: {why}; records after it exist,"
            " so it was not repaired automatically",
            suggestions=[f"move {path} aside; the tracker is rebuilt from its newest backup"],
        )
        self.path = path
        self.offset = offset


class _Stored(msgspec.Struct, kw_only=True):
    """How a record is decoded: msgspec cannot decode ``Raw | None``, so null is Raw."""

    seq: int
    rid: str | None = None
    at: str
    actor: str
    before: str
    after: str
    op: msgspec.Raw
    reply: msgspec.Raw = msgspec.Raw(b"null")
    undo: msgspec.Raw = msgspec.Raw(b"null")


_NULL: Final = msgspec.Raw(b"null")
_ENCODER: Final = msgspec.json.Encoder()
_DECODER: Final = msgspec.json.Decoder(_Stored)


def encode_line(record: JournalRecord) -> bytes:
    body = _ENCODER.encode(record)
    return b"%08x %b\n" % (zlib.crc32(body), body)


def _decode_line(line: bytes) -> JournalRecord | str:
    """The record on ``line`` (without its newline), or why it is not one."""
    if len(line) < 10 or line[8:9] != b" ":
        return "malformed line"
    body = line[9:]
    if b"%08x" % zlib.crc32(body) != line[:8]:
        return "checksum mismatch"
    try:
        s = _DECODER.decode(body)
    except msgspec.DecodeError as exc:
        return f"undecodable record ({exc})"
    return JournalRecord(
        seq=s.seq,
        rid=s.rid,
        at=s.at,
        actor=s.actor,
        before=s.before,
        after=s.after,
        op=s.op,
        reply=None if s.reply == _NULL else s.reply,
        undo=None if s.undo == _NULL else s.undo,
    )


@dataclass(slots=True)
class _Scan:
    records: list[JournalRecord]
    good_end: int


def _scan(path: Path, data: bytes) -> _Scan:
    """Parse a segment; a bad stretch is fine only at the tail (up to ``good_end``)."""
    records: list[JournalRecord] = []
    good_end = 0
    first_bad: tuple[int, str] | None = None
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            first_bad = first_bad or (pos, "unterminated line")
            break
        found = _decode_line(data[pos:nl])
        if isinstance(found, str):
            first_bad = first_bad or (pos, found)
        elif first_bad is not None:
            raise CorruptJournal(path, *first_bad)
        elif records and found.seq != records[-1].seq + 1:
            raise CorruptJournal(path, pos, f"seq {found.seq} follows {records[-1].seq}")
        else:
            records.append(found)
            good_end = nl + 1
        pos = nl + 1
    return _Scan(records, good_end)


# The start of a record as ``_ENCODER`` writes it (fields in declaration order), read
# from a damaged line: enough to know which request it was and where it led.
_S = rb'"([^"\\\x00-\x1f]{0,512})"'  # a JSON string without escapes
_HEADER: Final = re.compile(
    rb'\{"seq":(\d{1,18}),"rid":(?:null|%b)(?:,"at":%b(?:,"actor":%b'
    rb'(?:,"before":%b(?:,"after":%b)?)?)?)?' % (_S, _S, _S, _S, _S)
)


@dataclass(frozen=True, slots=True)
class Glimpse:
    """What a damaged record still shows: its header (``before``/``after`` None when
    the damage took them)."""

    seq: int
    rid: str | None
    at: str | None
    actor: str | None
    before: str | None
    after: str | None


def glimpses(damaged: bytes) -> list[Glimpse]:
    """The record headers still readable in ``damaged`` bytes, in order."""
    found: list[Glimpse] = []
    for m in _HEADER.finditer(damaged):
        seq, rid, at, actor, before, after = m.groups()
        try:
            found.append(
                Glimpse(
                    seq=int(seq),
                    rid=rid.decode() if rid else None,
                    at=at.decode() if at else None,
                    actor=actor.decode() if actor else None,
                    before=before.decode() if before is not None else None,
                    after=after.decode() if after is not None else None,
                )
            )
        except UnicodeDecodeError:
            continue
    return found


@dataclass(slots=True)
class Salvaged:
    """A damaged segment rebuilt by ``salvage``."""

    data: bytes
    kept: int
    """Intact records, kept byte for byte."""
    lost: list[JournalRecord]
    """The markers written in place of the records the damage took."""
    last_seq: int | None
    """The seq of its last record (the one before it when it has none; None: unknown)."""


class Following(NamedTuple):
    """What a marker for lost records needs of the record that follows the damage:
    taken from that record when it is intact, else from what damaged lines show."""

    seq: int
    at: str
    before: str  # the digest its change started from ("" when unknown)

    @classmethod
    def of(cls, record: JournalRecord) -> Following:
        return cls(record.seq, record.at, record.before)


LostRecord = Callable[[int, Glimpse | None, Following], JournalRecord]
"""Makes the marker for lost record ``seq`` (what its damaged line still shows, if
anything; what follows the damage)."""


def salvage(
    path: Path,
    data: bytes,
    lost_record: LostRecord,
    *,
    after_seq: int | None = None,
    next_record: JournalRecord | None = None,
    rotated: bool = False,
) -> Salvaged | None:
    """``data`` (a segment that ``_scan`` finds damaged) rebuilt: intact records as
    they were, each stretch of damage replaced by one marker per seq it took (from
    ``lost_record``), so seqs run on and request ids the damaged lines still show are
    kept.

    ``after_seq``: the last seq of the segment before this one, which damage at its
    start is counted from (None: the oldest segment; the seqs its damaged lines still
    show are marked, the rest of such damage is dropped). ``rotated``: a segment
    rotated once whole, whose damaged end is damage too — bridged up to
    ``next_record``, the first record of the segment after it, or (none yet) marked
    as far as the seqs its damaged lines still show run on. The current segment's
    damaged end is kept as it is (``Journal.open`` decides about a torn end). None
    when the damage cannot be bridged: seqs out of order."""
    whole = memoryview(data)  # lines are looked at in place: a segment is up to MiBs
    out: list[bytes | memoryview] = []
    lost: list[JournalRecord] = []
    kept = 0
    last = after_seq
    damaged_from: int | None = None
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        seq = _intact_seq(whole[pos:nl])
        if seq is None:
            damaged_from = pos if damaged_from is None else damaged_from
        else:
            if damaged_from is not None:
                found = _decode_line(data[pos:nl])  # the record after the damage, whole
                if isinstance(found, str):
                    return None
                markers = _bridge(data[damaged_from:pos], last, Following.of(found), lost_record)
                if markers is None:
                    return None
                lost.extend(markers)
                out.extend(encode_line(marker) for marker in markers)
                damaged_from = None
            elif kept and last is not None and seq != last + 1:
                return None
            out.append(whole[pos : nl + 1])
            kept += 1
            last = seq
        pos = nl + 1
    tail = data[damaged_from:] if damaged_from is not None else data[pos:]
    if tail and rotated:  # a rotated segment was whole: its damaged end is damage too
        following = (
            Following.of(next_record)
            if next_record is not None
            else _after_shown(tail, last)  # the journal's last records (none appended since)
        )
        markers = [] if following is None else _bridge(tail, last, following, lost_record)
        if markers is None:
            return None
        lost.extend(markers)
        out.extend(encode_line(marker) for marker in markers)
        tail = b""
    out.append(tail)
    rebuilt = b"".join(out)
    del out, whole
    if not _runs_on(rebuilt):
        return None
    if lost and (last is None or lost[-1].seq > last):
        last = lost[-1].seq  # markers at its end
    return Salvaged(rebuilt, kept, lost, last)


_SEQ: Final = re.compile(rb'\{"seq":(\d{1,18}),')


def _intact_seq(line: memoryview) -> int | None:
    """The seq of the record on ``line`` when its checksum is right (a record wtd
    wrote whole; ``_encode`` never writes one that would not decode), else None.
    Nothing is decoded or copied: a segment can hold tens of thousands of them."""
    if len(line) < 10 or line[8] != 0x20:  # "<crc, 8 hex> <JSON>"
        return None
    body = line[9:]
    try:
        if int(bytes(line[:8]), 16) != zlib.crc32(body):
            return None
    except ValueError:
        return None
    m = _SEQ.match(body)
    return int(m.group(1)) if m is not None else None


def _runs_on(data: bytes) -> bool:
    """Do the intact records of a rebuilt segment run on seq after seq, with nothing
    but a damaged end after them (what ``_scan`` accepts, checked without decoding)?"""
    whole = memoryview(data)
    last: int | None = None
    damaged = False
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return True  # an unterminated end
        seq = _intact_seq(whole[pos:nl])
        if seq is None:
            damaged = True
        elif damaged or (last is not None and seq != last + 1):
            return False
        else:
            last = seq
        pos = nl + 1
    return True


def _bridge(
    damaged: bytes, last: int | None, following: Following, lost_record: LostRecord
) -> list[JournalRecord] | None:
    """The markers for the records a stretch of ``damaged`` bytes took, between seq
    ``last`` (None: unknown) and ``following``. Its glimpses name request ids only
    where their seqs fit; with ``last`` unknown, the first seq is the lowest one they
    show, no lower than the stretch could hold (a record is over 60 bytes)."""
    if last is not None and following.seq <= last:
        return None
    shown = {g.seq: g for g in glimpses(damaged) if (last or 0) < g.seq < following.seq}
    if last is not None:
        first = last + 1
    else:
        floor = following.seq - len(damaged) // 60 - 1
        first = max(min(shown, default=following.seq), floor, 1)
    return [lost_record(seq, shown.get(seq), following) for seq in range(first, following.seq)]


def _after_shown(damaged: bytes, last: int | None) -> Following | None:
    """What follows the run of seqs that ``damaged`` still shows from ``last`` on
    (None when it shows none), for ``_bridge``."""
    if last is None:
        return None
    run = [g for g in glimpses(damaged) if g.seq > last]
    end = last
    at = ""
    for g in run:
        if g.seq != end + 1:
            break
        end, at = g.seq, g.at or at
    if end == last:
        return None
    return Following(end + 1, at, "")


def first_record(data: bytes) -> JournalRecord | None:
    """The first intact record of a segment's bytes (damaged lines passed over)."""
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            return None
        found = _decode_line(data[pos:nl])
        if not isinstance(found, str):
            return found
        pos = nl + 1
    return None


def last_content(path: Path, tail: int = 1 << 16) -> str | None:
    """The content digest the newest record of the journal at ``path`` leads to, read
    from its last ``tail`` bytes without opening the journal (nothing is repaired or
    written). None when it cannot be told: no journal, unreadable, or no record with
    a digest in that tail (a damaged or torn end included: only ``Journal.open``
    decides about those)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        size = os.fstat(fd).st_size
        start = max(0, size - tail)
        data = os.pread(fd, size - start, start)
    except OSError:
        return None
    finally:
        os.close(fd)
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]  # the first may be the end of a line
    for line in reversed(lines):
        found = _decode_line(line)
        if isinstance(found, JournalRecord) and found.after:
            return found.after
    return None


def _read_segment(path: Path) -> list[JournalRecord]:
    """Records of a closed segment (a missing file has none); never modifies it.

    A segment is rotated only once whole, so a bad end is damage too (a record
    damaged after its append reported success): ``CorruptJournal``, for repair to
    bridge — dropped, its seq would be used again and its request id forgotten."""
    try:
        data = safepath.read_bytes(path)
    except FileNotFoundError:
        return []
    scan = _scan(path, data)
    if scan.good_end < len(data):
        raise CorruptJournal(path, scan.good_end, "a rotated segment ends damaged")
    return scan.records


def _ident_of(fd: int, path: Path | None = None) -> tuple[int, int] | None:
    """(device, inode) of the journal open as ``fd``; None where a ``stat`` of its
    ``path`` does not name the same (some overlay file systems): ``replaced`` cannot
    tell there, and never says so."""
    if fd < 0:
        return None
    info = os.fstat(fd)
    ident = info.st_dev, info.st_ino
    if path is not None:
        try:
            named = os.stat(path)
        except OSError:
            return None
        if (named.st_dev, named.st_ino) != ident:
            return None
    return ident


class Journal:
    """An open journal; see the module docstring. Use ``Journal.open``."""

    def __init__(
        self,
        path: Path,
        fd: int,
        size: int,
        history: list[JournalRecord],
        *,
        failpoints: Failpoints | None,
        max_bytes: int,
        keep_segments: int,
        rid_capacity: int,
        dropped_bytes: int,
    ) -> None:
        self._path = path
        self._fd = fd
        self._size = size
        self._failpoints = failpoints if failpoints is not None and failpoints.enabled else None
        self._max_bytes = max_bytes
        self._keep = keep_segments
        self._rid_capacity = rid_capacity
        self._rids: dict[str, JournalRecord] = {}
        self._last_seq = 0
        self._last_after: str | None = None
        self._lock = threading.Lock()
        self._broken: str | None = None
        self._data: bytes | None = None  # the records of a read-only journal
        self.read_only_errno = ""  # e.g. "EROFS" when opened read-only
        self._undo: tuple[int, int, str | None, list[JournalRecord]] | None = None
        self._ident = _ident_of(fd, path)
        self.dropped_bytes = dropped_bytes
        """Bytes of torn tail truncated away by ``open`` (0 when the file was clean)."""
        self.torn: list[Glimpse] = []
        """The headers still readable in that torn tail, of records after the last
        good one: one append's records (what was torn is the last write)."""
        self._timed = False  # an append of this journal was timed (``disk_slow``)
        for record in history:
            self._remember(record)

    @classmethod
    def open(
        cls,
        path: Path,
        *,
        failpoints: Failpoints | None = None,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep_segments: int = DEFAULT_KEEP_SEGMENTS,
        rid_capacity: int = DEFAULT_RID_CAPACITY,
    ) -> Journal:
        """Open (creating file and folders) and recover: drop a torn tail, load rids.

        Raises ``CorruptJournal`` on damage that is not a tail.
        """
        try:
            make_dirs(path.parent)
            existed = path.exists()
            fd = safepath.open_file(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            if exc.errno not in safepath.CANNOT_WRITE:
                raise
            # A read-only file system, or no permission on .ecw/: reads must keep
            # working (SPEC: reads keep working when writes cannot), so the journal is
            # opened for reading; every append says why it cannot write.
            return cls._read_only(path, exc, failpoints, max_bytes, keep_segments, rid_capacity)
        try:
            if not existed:
                fsync_dir(path.parent)
            data = safepath.read_fd(fd)
            scan = _scan(path, data)
            if scan.good_end < len(data):
                os.ftruncate(fd, scan.good_end)
                os.fsync(fd)
            history = _with_older(path, scan.records, keep_segments, rid_capacity)
        except BaseException:
            os.close(fd)
            raise
        journal = cls(
            path,
            fd,
            scan.good_end,
            history,
            failpoints=failpoints,
            max_bytes=max_bytes,
            keep_segments=keep_segments,
            rid_capacity=rid_capacity,
            dropped_bytes=len(data) - scan.good_end,
        )
        if scan.good_end < len(data):
            journal.torn = [g for g in glimpses(data[scan.good_end :]) if g.seq > journal.last_seq]
        return journal

    @classmethod
    def _read_only(
        cls,
        path: Path,
        why: OSError,
        failpoints: Failpoints | None,
        max_bytes: int,
        keep_segments: int,
        rid_capacity: int,
    ) -> Journal:
        try:
            data = safepath.read_bytes(path)
        except FileNotFoundError:
            data = b""
        scan = _scan(path, data)  # a torn tail is ignored, not cut: nothing may be written
        history = _with_older(path, scan.records, keep_segments, rid_capacity)
        journal = cls(
            path,
            -1,
            scan.good_end,
            history,
            failpoints=failpoints,
            max_bytes=max_bytes,
            keep_segments=keep_segments,
            rid_capacity=rid_capacity,
            dropped_bytes=0,
        )
        journal._data = data[: scan.good_end]
        journal.read_only_errno = errno.errorcode.get(why.errno or 0, "EROFS")
        journal._broken = (
            f"journal {path} cannot be written ({why.strerror or why}); "
            "changes are refused until it can"
        )
        return journal

    @property
    def read_only(self) -> str | None:
        """Why this journal cannot be written (opened on a read-only file system), or None."""
        return self._broken if self._fd < 0 and self._data is not None else None

    @property
    def path(self) -> Path:
        return self._path

    @property
    def last_seq(self) -> int:
        """Seq of the newest record ever appended (0 for a new journal)."""
        return self._last_seq

    @property
    def last_after(self) -> str | None:
        """``after`` hash of the newest record, None for a new journal."""
        return self._last_after

    @property
    def size(self) -> int:
        """Bytes in the current segment."""
        return self._size

    def append(self, records: list[JournalRecord]) -> None:
        """Make ``records`` durable with one write and one fsync (group commit).

        Seqs must continue ``last_seq`` by one each (ValueError otherwise). On any
        error the file is cut back to its previous length and the error re-raised:
        a failed append leaves no record behind.
        """
        if not records:
            return
        payload = self._encode(records)
        with self._lock:
            self._check_usable()
            expected = self._last_seq + 1
            if records[0].seq != expected:
                raise ValueError(f"journal {self._path}: seq {records[0].seq}, expected {expected}")
            start = self._size
            began = time.monotonic()
            try:
                if self._failpoints is not None and self._failpoints.hit(APPEND_POINT) == CORRUPT:
                    # Its own line, so records appended after it reveal the damage.
                    payload = corrupted(payload) + b"\n"
                written = os.write(self._fd, payload)
                if written != len(payload):
                    # the rest, once more: a disk that filled up meanwhile says so now
                    # (ENOSPC, EDQUOT), which tells the user what to do
                    rest = os.write(self._fd, memoryview(payload)[written:])
                    if written + rest != len(payload):
                        raise OSError(
                            errno.EIO,
                            f"short write ({written + rest} of {len(payload)} bytes)",
                            self._path,
                        )
                _datasync(self._fd)
            except BaseException:
                self._cut_back(start)
                raise
            finally:
                self._time_append(began)
            self._undo = (start, self._last_seq, self._last_after, records)
            self._size = start + len(payload)
            for record in records:
                self._remember(record)

    def _time_append(self, began: float) -> None:
        now = time.monotonic()
        if now - began > SLOW_APPEND and self._ident is not None:  # (failed ones too)
            _slow_at[self._ident[0]] = now
        self._timed = True

    def slow_write(self, began: float) -> None:
        """A tracker file of this journal was replaced on the commit path, from
        ``began`` (``time.monotonic``) until now: over ``SLOW_APPEND``, its disk counts
        as slow too. Writing a file without a fsync can stall where the append does
        not: a network file system flushes it at close, the kernel throttles a writer
        of many dirty pages."""
        now = time.monotonic()
        if now - began > SLOW_APPEND and self._ident is not None:
            _slow_at[self._ident[0]] = now

    def disk_slow(self) -> bool:
        """Is this journal's disk slow: an append to it (of any journal) took over
        ``SLOW_APPEND`` within the last ``SLOW_HOLD`` seconds — or is it not known yet
        (no append of this journal timed)? A failpoint's delay counts, as a slow disk."""
        if not self._timed or self._ident is None:
            return True
        at = _slow_at.get(self._ident[0])
        return at is not None and time.monotonic() - at < SLOW_HOLD

    def replaced(self) -> bool:
        """Is the file at the journal's path no longer the one open here (deleted, or
        another put there: the workspace removed and cloned again, restored from a
        copy)? One ``stat``. Appending then would journal into a file nobody sees."""
        if self._ident is None:
            return False
        try:
            info = os.stat(self._path)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return (info.st_dev, info.st_ino) != self._ident

    def rollback_last(self) -> None:
        """Remove the records of the last ``append`` (their change could not be applied).

        Only valid right after that append, before ``maybe_rotate``. If the cut fails
        the journal refuses further appends (see ``_check_usable``).
        """
        with self._lock:
            if self._undo is None:
                raise ValueError(f"journal {self._path}: nothing to roll back")
            start, last_seq, last_after, records = self._undo
            self._undo = None
            self._cut_back(start)
            self._size = start
            self._last_seq = last_seq
            self._last_after = last_after
            for record in records:
                if record.rid is not None:
                    self._rids.pop(record.rid, None)

    def applied(self) -> None:
        """The last append's change is fully applied: it can no longer be rolled back."""
        with self._lock:
            self._undo = None

    def maybe_rotate(self) -> None:
        """Start a new segment once the current one is over ``max_bytes``.

        Called once the last append's change is fully applied and the files it
        leads to are durable (the Store's checkpoint); a failed rotation is logged
        by the caller and retried next time.
        """
        with self._lock:
            self._undo = None
            if self._size >= self._max_bytes:
                self._check_usable()
                self._rotate()

    def find_rid(self, rid: str) -> JournalRecord | None:
        """The record of request id ``rid`` among the last ``rid_capacity`` rids: its
        seq, actor, op and reply (enough to answer a retry; not its hashes or undo)."""
        return self._rids.get(rid)

    def records(self) -> Iterator[JournalRecord]:
        """Every retained record, oldest first (old segments, then the current one)."""
        for k in range(self._keep, 0, -1):
            yield from _read_segment(segment_path(self._path, k))
        yield from self._current_records()

    def recent(self, limit: int) -> list[JournalRecord]:
        """The newest ``limit`` records, newest first, reading older segments only as
        far as needed (a whole journal can be many MiB: most callers want its end)."""
        found: list[JournalRecord] = list(reversed(self._current_records()))[:limit]
        k = 1
        while len(found) < limit and k <= self._keep:
            older = _read_segment(segment_path(self._path, k))
            found.extend(list(reversed(older))[: limit - len(found)])
            k += 1
        return found

    def replay_after(self, content_hash: str) -> list[JournalRecord] | None:
        """The records after the newest one whose ``after`` is ``content_hash``.

        ``[]`` when the newest record already leads there; None when no retained record
        does (the caller decides: replay everything, or restore a backup).
        """
        if self._last_after == content_hash:
            return []
        tail: list[JournalRecord] = []
        segments = [self._current_records()]
        segments += [_read_segment(segment_path(self._path, k)) for k in range(1, self._keep + 1)]
        for records in segments:
            for i in range(len(records) - 1, -1, -1):
                if records[i].after == content_hash:
                    return records[i + 1 :] + tail
            tail = records + tail
        return None

    def rotate(self) -> None:
        """Start a fresh segment now; the current one becomes ``<name>.1``."""
        with self._lock:
            self._check_usable()
            self._rotate()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _encode(self, records: list[JournalRecord]) -> bytes:
        lines: list[bytes] = []
        for i, record in enumerate(records):
            if i and record.seq != records[i - 1].seq + 1:
                raise ValueError(f"journal {self._path}: seqs in one append must be consecutive")
            line = encode_line(record)
            # Never write a line that could not be read back.
            if isinstance(_decode_line(line[:-1]), str):
                raise ValueError(f"journal {self._path}: record {record.seq} is not valid JSON")
            lines.append(line)
        return b"".join(lines)

    def _remember(self, record: JournalRecord) -> None:
        self._last_seq = record.seq
        self._last_after = record.after
        if record.rid is None:
            return
        self._rids.pop(record.rid, None)
        # Keep only what answering a retry needs, as copies: a decoded record's Raw
        # fields are views that would keep a whole segment's bytes alive.
        self._rids[record.rid] = JournalRecord(
            seq=record.seq,
            rid=record.rid,
            at=record.at,
            actor=record.actor,
            before="",
            after="",
            op=msgspec.Raw(bytes(record.op)),
            reply=msgspec.Raw(bytes(record.reply)) if record.reply is not None else None,
        )
        if len(self._rids) > self._rid_capacity:
            del self._rids[next(iter(self._rids))]

    def _current_records(self) -> list[JournalRecord]:
        if self._data is not None:
            return _scan(self._path, self._data).records
        data = (
            safepath.read_fd(self._fd, self._size)
            if self._fd >= 0
            else safepath.read_bytes(self._path)
        )
        return _scan(self._path, data).records

    def _check_usable(self) -> None:
        if self._broken is not None and self._data is not None:
            raise StorageFailure(self._broken, suggestions=["make .ecw/ writable again"])
        if self._fd < 0:
            raise StorageFailure(f"journal {self._path} is closed")
        if self._broken is not None:
            raise StorageFailure(self._broken, suggestions=["restart wtd to recover the journal"])

    def _cut_back(self, size: int) -> None:
        try:
            os.ftruncate(self._fd, size)
            os.fsync(self._fd)
        except OSError as exc:
            self._broken = f"journal {self._path}: a failed append could not be rolled back ({exc})"

    def _rotate(self) -> None:
        fresh = self._path.with_name(f".{self._path.name}.new")
        safepath.check(fresh)
        fresh.unlink(missing_ok=True)  # a leftover (or a planted link) is never written into
        fd = safepath.open_file(fresh, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            if self._keep > 0:
                for k in range(self._keep - 1, 0, -1):
                    older = segment_path(self._path, k)
                    if older.exists():
                        os.replace(older, segment_path(self._path, k + 1))
                os.replace(self._path, segment_path(self._path, 1))
            os.replace(fresh, self._path)
            fsync_dir(self._path.parent)
        except BaseException:
            os.close(fd)
            fresh.unlink(missing_ok=True)
            raise
        os.close(self._fd)
        self._fd = fd
        self._ident = _ident_of(fd, self._path)
        self._size = 0


def _with_older(
    path: Path, records: list[JournalRecord], keep_segments: int, rid_capacity: int
) -> list[JournalRecord]:
    """``records`` preceded by the rotated segments' ones, as far as rids need."""
    history = records
    with_rid = sum(r.rid is not None for r in history)
    for k in range(1, keep_segments + 1):
        if with_rid >= rid_capacity and history:
            break
        older = _read_segment(segment_path(path, k))
        with_rid += sum(r.rid is not None for r in older)
        history = older + history
    return history


def segment_path(path: Path, k: int) -> Path:
    """The k-th newest rotated segment of the journal at ``path`` (``<name>.k``)."""
    return path.with_name(f"{path.name}.{k}")
