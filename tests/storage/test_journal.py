from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wtd.storage import timeline
from wtd.storage.failpoints import Failpoints
from wtd.storage.journal import (
    CorruptJournal,
    Following,
    Glimpse,
    Journal,
    JournalRecord,
    encode_line,
    salvage,
    segment_path,
)

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def rec(seq: int, *, rid: str | None = None, op: str = "{}") -> JournalRecord:
    return JournalRecord(
        seq=seq,
        rid=rid if rid is not None else f"r{seq}",
        at="2025-01-01T00:00:00Z",
        actor="test",
        before=f"h{seq - 1}",
        after=f"h{seq}",
        op=msgspec.Raw(op.encode()),
        reply=msgspec.Raw(b'{"ok":%d}' % seq),
    )


def fill(path: Path, n: int) -> list[JournalRecord]:
    records = [rec(i) for i in range(1, n + 1)]
    with Journal.open(path) as journal:
        for r in records:
            journal.append([r])
    return records


def test_open_creates_file_and_folders(tmp_path: Path) -> None:
    path = tmp_path / ".ecw" / "journal" / "plan.wal"
    with Journal.open(path) as journal:
        assert journal.last_seq == 0
        assert journal.last_after is None
        assert list(journal.records()) == []
    assert path.exists()


def test_appended_records_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    records = fill(path, 5)
    with Journal.open(path) as journal:
        assert list(journal.records()) == records
        assert journal.last_seq == 5
        assert journal.last_after == "h5"
        assert journal.dropped_bytes == 0


def test_group_commit_writes_a_batch(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path) as journal:
        journal.append([rec(1), rec(2), rec(3)])
    assert len(path.read_bytes().splitlines()) == 3


def test_a_disk_filling_up_mid_append_is_told_as_full_not_as_an_io_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a write cut short by a full disk said "I/O error: check the disk (dmesg)"
    path = tmp_path / "j.wal"
    with Journal.open(path) as journal:
        journal.append([rec(1)])
        before = path.read_bytes()
        real_write = os.write
        calls: list[int] = []

        def filling(fd: int, data: bytes | memoryview) -> int:
            calls.append(len(data))
            if len(calls) == 1:
                return real_write(fd, bytes(data)[:10])  # what fit
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr("wtd.storage.journal.os.write", filling)
        with pytest.raises(OSError) as info:
            journal.append([rec(2)])
        monkeypatch.setattr("wtd.storage.journal.os.write", real_write)
        assert info.value.errno == errno.ENOSPC
        assert path.read_bytes() == before  # cut back: nothing of the record is left
        journal.append([rec(2)])
    with Journal.open(path) as journal:
        assert [r.seq for r in journal.records()] == [1, 2]


def test_line_format_is_crc_space_json(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    fill(path, 1)
    crc, body = path.read_bytes().rstrip(b"\n").split(b" ", 1)
    assert len(crc) == 8
    assert msgspec.json.decode(body)["seq"] == 1


def test_seq_must_continue(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.wal") as journal:
        with pytest.raises(ValueError, match="expected 1"):
            journal.append([rec(2)])
        with pytest.raises(ValueError, match="consecutive"):
            journal.append([rec(1), rec(3)])
        assert journal.last_seq == 0


@pytest.mark.parametrize(
    "tail", [b"1234", b"garbage\n", b"00000000 {}\n", b"\n\n", b'deadbeef {"seq": 4']
)
def test_torn_or_bad_tail_is_dropped_on_open(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "j.wal"
    records = fill(path, 3)
    clean = path.read_bytes()
    with path.open("ab") as f:
        f.write(tail)
    with Journal.open(path) as journal:
        assert list(journal.records()) == records
        assert journal.dropped_bytes == len(tail)
        journal.append([rec(4)])
    assert path.read_bytes().startswith(clean)
    with Journal.open(path) as journal:
        assert [r.seq for r in journal.records()] == [1, 2, 3, 4]


def test_file_truncated_mid_line_drops_that_record(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    records = fill(path, 3)
    os.truncate(path, path.stat().st_size - 5)
    with Journal.open(path) as journal:
        assert list(journal.records()) == records[:2]
        assert journal.last_seq == 2


def test_bad_record_in_the_middle_raises(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    fill(path, 3)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b'"h1"', b'"hX"')
    path.write_bytes(b"".join(lines))
    with pytest.raises(CorruptJournal, match="checksum") as info:
        Journal.open(path)
    assert info.value.offset == len(lines[0])
    assert info.value.code == "storage"


def test_failed_append_leaves_no_record_and_next_append_works(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    fill(path, 2)
    size = path.stat().st_size
    fp = Failpoints.parse("journal.append=1*enospc")
    with Journal.open(path, failpoints=fp) as journal:
        with pytest.raises(OSError, match="ENOSPC"):
            journal.append([rec(3, rid="lost")])
        assert path.stat().st_size == size
        assert journal.last_seq == 2
        assert journal.find_rid("lost") is None
        journal.append([rec(3)])
    with Journal.open(path) as journal:
        assert [r.seq for r in journal.records()] == [1, 2, 3]
        assert journal.find_rid("lost") is None


def test_corrupt_append_is_detected_once_followed_by_good_records(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    fp = Failpoints.parse("journal.append=1+1*corrupt")
    with Journal.open(path, failpoints=fp) as journal:
        journal.append([rec(1)])
        journal.append([rec(2)])
        journal.append([rec(3)])
    with pytest.raises(CorruptJournal):
        Journal.open(path)


def test_find_rid_works_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    records = fill(path, 3)
    with Journal.open(path) as journal:
        found2 = journal.find_rid("r2")
        assert found2 is not None
        assert (found2.seq, found2.op, found2.reply) == (
            records[1].seq,
            records[1].op,
            records[1].reply,
        )
        assert journal.find_rid("nope") is None
        found = journal.find_rid("r3")
        assert found is not None and found.reply == msgspec.Raw(b'{"ok":3}')


def test_rids_are_bounded(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j.wal", rid_capacity=3) as journal:
        journal.append([rec(i) for i in range(1, 6)])
        assert journal.find_rid("r2") is None
        assert journal.find_rid("r3") is not None


def test_replay_after_semantics(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    records = fill(path, 4)
    with Journal.open(path) as journal:
        assert journal.replay_after("h4") == []
        assert journal.replay_after("h2") == records[2:]
        assert journal.replay_after("h0") is None
        assert journal.replay_after("unknown") is None


def test_replay_after_picks_the_latest_matching_record(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    back = JournalRecord(seq=3, at="t", actor="a", before="h2", after="h1", op=msgspec.Raw(b"{}"))
    with Journal.open(path) as journal:
        journal.append([rec(1), rec(2), back, rec(4)])
        assert journal.replay_after("h1") == [rec(4)]


def test_rotation_keeps_rids_seq_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path, max_bytes=600, keep_segments=2) as journal:
        for i in range(1, 11):
            journal.append([rec(i)])
            journal.maybe_rotate()
        assert segment_path(path, 1).exists()
        assert journal.size < 600
        assert journal.find_rid("r1") is not None
        assert journal.replay_after("h5") == [rec(i) for i in range(6, 11)]
    with Journal.open(path, max_bytes=600, keep_segments=2) as journal:
        assert journal.last_seq == 10
        seqs = [r.seq for r in journal.records()]
        assert seqs == list(range(seqs[0], 11))
        assert journal.find_rid("r10") is not None
        journal.append([rec(11)])
        journal.maybe_rotate()
    assert not segment_path(path, 3).exists()


def test_append_does_not_rotate_until_asked(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path, max_bytes=200) as journal:
        journal.append([rec(1), rec(2), rec(3)])
        assert not segment_path(path, 1).exists()
        journal.maybe_rotate()
        assert segment_path(path, 1).exists()
        assert journal.size == 0


def test_rollback_last_removes_the_last_append_only(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path) as journal:
        journal.append([rec(1)])
        journal.maybe_rotate()
        size = path.stat().st_size
        journal.append([rec(2), rec(3)])
        journal.rollback_last()
        assert path.stat().st_size == size
        assert journal.last_seq == 1 and journal.last_after == "h1"
        assert journal.find_rid("r2") is None and journal.find_rid("r1") is not None
        with pytest.raises(ValueError, match="nothing to roll back"):
            journal.rollback_last()
        journal.append([rec(2)])
    with Journal.open(path) as journal:
        assert [r.seq for r in journal.records()] == [1, 2]


def test_reopen_right_after_rotation_keeps_last_seq(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path) as journal:
        journal.append([rec(1), rec(2)])
        journal.rotate()
        assert journal.size == 0
    with Journal.open(path) as journal:
        assert journal.last_seq == 2
        assert journal.last_after == "h2"
        assert journal.find_rid("r1") is not None
        assert journal.replay_after("h1") == [rec(2)]


def run_writer(mode: str, path: Path, n: int, failpoints: str) -> tuple[int, list[int]]:
    env = {**os.environ, "WT_FAILPOINTS": failpoints, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(WRITER), mode, str(path), str(n)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    acked = [int(line.split()[1]) for line in done.stdout.splitlines()]
    return done.returncode, acked


def test_crash_between_appends_keeps_every_acked_record(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    code, acked = run_writer("journal", path, 10, "journal.append=4+crash")
    assert code == 137
    assert acked == [1, 2, 3, 4]
    with Journal.open(path) as journal:
        assert [r.seq for r in journal.records()] == acked
        assert journal.dropped_bytes == 0


def test_crash_on_first_append_leaves_an_empty_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    code, acked = run_writer("journal", path, 3, "journal.append=crash")
    assert (code, acked) == (137, [])
    with Journal.open(path) as journal:
        assert journal.last_seq == 0


def test_crash_mid_line_is_dropped_and_appends_continue(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    code, acked = run_writer("torn", path, 3, "")
    assert (code, acked) == (137, [1, 2, 3])
    with Journal.open(path) as journal:
        assert [r.seq for r in journal.records()] == [1, 2, 3]
        assert journal.dropped_bytes > 0
    code, acked = run_writer("journal", path, 2, "")
    assert (code, acked) == (0, [4, 5])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    batches=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=6),
    ops=st.lists(st.text(max_size=20), min_size=1, max_size=8),
    cut=st.floats(min_value=0, max_value=1),
)
def test_any_truncation_reopens_to_a_prefix(
    tmp_path_factory: pytest.TempPathFactory, batches: list[int], ops: list[str], cut: float
) -> None:
    path = tmp_path_factory.mktemp("prop") / "j.wal"
    appended: list[JournalRecord] = []
    with Journal.open(path) as journal:
        for size in batches:
            batch = [
                rec(len(appended) + i + 1, op=msgspec.json.encode(ops[i % len(ops)]).decode())
                for i in range(size)
            ]
            journal.append(batch)
            appended += batch
    offset = int(path.stat().st_size * cut)
    os.truncate(path, offset)
    with Journal.open(path) as journal:
        survived = list(journal.records())
        assert survived == appended[: len(survived)]
        assert journal.last_seq == len(survived)
        assert path.stat().st_size <= offset
        journal.append([rec(len(survived) + 1)])


def test_recent_reads_newest_first_across_segments(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path, max_bytes=300, keep_segments=3) as journal:
        for i in range(1, 9):
            journal.append([rec(i)])
            journal.maybe_rotate()
        assert [r.seq for r in journal.recent(3)] == [8, 7, 6]
        assert [r.seq for r in journal.recent(100)] == sorted(
            (r.seq for r in journal.records()), reverse=True
        )


def _lost(seq: int, glimpse: Glimpse | None, following: Following) -> JournalRecord:
    return timeline.lost_record(seq, glimpse, following)


def test_salvage_keeps_every_intact_record_and_the_request_id_of_a_damaged_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path, failpoints=Failpoints.parse("journal.append=1+1*corrupt")) as j:
        for seq in (1, 2, 3):
            j.append([rec(seq)])
    data = path.read_bytes()
    with pytest.raises(CorruptJournal):
        Journal.open(path)
    found = salvage(path, data, _lost)
    assert found is not None
    assert (found.kept, [r.seq for r in found.lost]) == (2, [2])
    path.write_bytes(found.data)
    with Journal.open(path) as journal:
        assert [r.seq for r in journal.records()] == [1, 2, 3]
        assert journal.last_after == "h3"
        assert journal.find_rid("r1") is not None and journal.find_rid("r3") is not None
        marker = journal.find_rid("r2")  # read back from the damaged line
        assert marker is not None and marker.reply is not None
        assert timeline.is_damaged(marker)
        assert "applied before" in bytes(marker.reply).decode()
        assert [bytes(r.reply or b"") for r in journal.records() if r.seq != 2] == [
            b'{"ok":1}',
            b'{"ok":3}',
        ]


def test_salvage_marks_each_record_of_a_damaged_group_commit(tmp_path: Path) -> None:
    """One append of three records, damaged: what its lines still show is kept, the
    rest is marked by seq, and the marker before the next record leads where it starts."""
    path = tmp_path / "j.wal"
    with Journal.open(path, failpoints=Failpoints.parse("journal.append=1+1*corrupt")) as j:
        j.append([rec(1)])
        j.append([rec(2), rec(3), rec(4)])
        j.append([rec(5)])
    found = salvage(path, path.read_bytes(), _lost)
    assert found is not None
    path.write_bytes(found.data)
    with Journal.open(path) as journal:
        records = list(journal.records())
        assert [r.seq for r in records] == [1, 2, 3, 4, 5]
        assert records[3].after == "h4"  # the marker before seq 5 bridges to its "before"
        # r2 was whole, r3's header was still readable; r4's line was gone entirely
        assert [r.seq for r in found.lost] == [3, 4]
        assert not timeline.is_damaged(records[1]) and records[1].rid == "r2"
        marker = journal.find_rid("r3")
        assert marker is not None and timeline.is_damaged(marker)
        assert journal.find_rid("r4") is None
        assert all(journal.find_rid(f"r{seq}") is not None for seq in (1, 2, 5))


def test_salvage_refuses_damage_it_cannot_bridge(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    lines = [encode_line(rec(1)), b"garbage\n", encode_line(rec(1)), encode_line(rec(2))]
    assert salvage(path, b"".join(lines), _lost) is None  # seqs go back
    # damage before the oldest record, showing nothing: dropped (no seq to mark)
    first_damaged = salvage(path, b"garbage\n" + encode_line(rec(2)), _lost)
    assert first_damaged is not None and first_damaged.data == encode_line(rec(2))
    assert not first_damaged.lost
    whole = encode_line(rec(1)) + encode_line(rec(2))
    found = salvage(path, whole, _lost)
    assert found is not None and found.data == whole and not found.lost


def test_a_torn_tail_shows_the_headers_it_still_holds(tmp_path: Path) -> None:
    path = tmp_path / "j.wal"
    with Journal.open(path, failpoints=Failpoints.parse("journal.append=1+1*corrupt")) as j:
        j.append([rec(1)])
        j.append([rec(2)])
    with Journal.open(path) as journal:
        assert journal.last_seq == 1
        assert [(g.seq, g.rid, g.at) for g in journal.torn] == [(2, "r2", "2025-01-01T00:00:00Z")]
    with Journal.open(path) as journal:  # cut away at the first open
        assert journal.torn == []


def test_damage_at_the_start_of_a_segment_counts_on_from_the_segment_before() -> None:
    path = Path("j.wal.1")
    damaged = encode_line(rec(6))[:40] + b"\x00garbage\n"
    data = damaged + encode_line(rec(7)) + encode_line(rec(8))
    alone = salvage(path, data, _lost)  # the oldest segment: what the damage still shows
    assert alone is not None and [(r.seq, r.rid) for r in alone.lost] == [(6, "r6")]
    found = salvage(path, b"\x00" * 400 + b"\n" + data, _lost, after_seq=3)
    assert found is not None
    assert [(r.seq, r.rid) for r in found.lost] == [(4, None), (5, None), (6, "r6")]
    assert (found.kept, found.last_seq) == (2, 8)


def test_a_rotated_segments_damaged_end_is_bridged_to_the_next_segment(tmp_path: Path) -> None:
    """A rotated segment is whole when rotated: a damaged end is damage (reading it
    says so), and salvage marks what it took up to the next segment's first record."""
    path = tmp_path / "j.wal.1"
    data = encode_line(rec(1)) + encode_line(rec(2))[:50] + b"\x00garbage\n"
    path.write_bytes(data)
    with pytest.raises(CorruptJournal, match="rotated segment ends damaged"):
        list(Journal.open(tmp_path / "j.wal").records())
    found = salvage(path, data, _lost, next_record=rec(4), rotated=True)
    assert found is not None
    assert [(r.seq, r.rid) for r in found.lost] == [(2, "r2"), (3, None)]
    assert found.lost[-1].after == "h3" and found.last_seq == 3  # leads where rec(4) starts


def test_glimpses_beyond_the_stretch_name_nothing() -> None:
    """A stray header (stale bytes) with a far-off seq marks no seq and lends no id."""
    stray = b'\x00{"seq":200000,"rid":"someone-else","at":"2020-01-01T00:00:00Z"\n'
    data = encode_line(rec(1)) + stray + encode_line(rec(2))
    found = salvage(Path("j.wal"), data, _lost)
    assert found is not None and not found.lost
