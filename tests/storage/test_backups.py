from __future__ import annotations

import json
from pathlib import Path

import pytest

from wtd.storage.backups import LOG_NAME, Backups, quarantine


def must_be_json(data: bytes) -> object:
    return json.loads(data)


def test_save_writes_a_named_backup(tmp_path: Path) -> None:
    backups = Backups(tmp_path / "b")
    path = backups.save(b'{"v": 1}', "abcdef0123456789", reason="before migration")
    assert path.read_bytes() == b'{"v": 1}'
    assert path.name.endswith("-abcdef012345.json")
    assert backups.newest() == [path]
    assert "before migration" in (tmp_path / "b" / LOG_NAME).read_text()


def test_save_skips_a_duplicate_of_the_newest(tmp_path: Path) -> None:
    backups = Backups(tmp_path)
    first = backups.save(b"{}", "aaaa", reason="r")
    assert backups.save(b"{}", "aaaa", reason="r") == first
    assert len(backups.newest()) == 1


def test_a_go_ahead_is_asked_once_the_bytes_are_written_and_names_the_reason(
    tmp_path: Path,
) -> None:
    backups = Backups(tmp_path / "b")
    seen: list[list[bytes]] = []

    def go_ahead() -> str:
        # written beside the backups under a temporary name, not yet a backup
        seen.append([p.read_bytes() for p in (tmp_path / "b").glob(".*.tmp")])
        assert backups.newest() == []
        return "open"

    path = backups.save(b'{"v": 1}', "abcdef0123456789", reason=go_ahead)
    assert seen == [[b'{"v": 1}']]
    assert backups.newest() == [path] and path.read_bytes() == b'{"v": 1}'
    assert (tmp_path / "b" / LOG_NAME).read_text() == f"{path.name} open\n"
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == sorted([path.name, LOG_NAME])


def test_a_go_ahead_that_raises_leaves_nothing(tmp_path: Path) -> None:
    backups = Backups(tmp_path)
    kept = backups.save(b"1", "aaaa", reason="r")

    def refuse() -> str:
        raise LookupError("not a tracker")

    with pytest.raises(LookupError):
        backups.save(b"2", "bbbb", reason=refuse)
    assert backups.newest() == [kept]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept.name, LOG_NAME])
    assert (tmp_path / LOG_NAME).read_text() == f"{kept.name} r\n"


def test_no_go_ahead_is_asked_when_the_newest_holds_the_same_bytes(tmp_path: Path) -> None:
    backups = Backups(tmp_path)
    first = backups.save(b"{}", "aaaa", reason="r")

    def never() -> str:
        raise AssertionError("asked")

    assert backups.save(b"{}", "aaaa", reason=never) == first


def test_same_hash_as_an_older_backup_is_saved_again(tmp_path: Path) -> None:
    backups = Backups(tmp_path)
    backups.save(b"1", "aaaa", reason="r")
    backups.save(b"2", "bbbb", reason="r")
    backups.save(b"1", "aaaa", reason="r")
    assert [p.read_bytes() for p in backups.newest()] == [b"1", b"2", b"1"]


def test_save_prunes_to_keep_newest_first(tmp_path: Path) -> None:
    backups = Backups(tmp_path, keep=3)
    saved = [backups.save(b"%d" % i, f"hash{i}", reason="r") for i in range(6)]
    assert backups.newest() == saved[:2:-1]
    assert [p.read_bytes() for p in backups.newest()] == [b"5", b"4", b"3"]


def test_newest_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    assert Backups(tmp_path / "none").newest() == []


def test_load_newest_valid_skips_invalid_ones(tmp_path: Path) -> None:
    backups = Backups(tmp_path)
    good = backups.save(b'{"ok": true}', "good", reason="r")
    backups.save(b"{broken", "bad1", reason="r")
    backups.save(b"", "bad2", reason="r")
    assert backups.load_newest_valid(must_be_json) == (good, b'{"ok": true}')


def test_load_newest_valid_without_a_valid_one_is_none(tmp_path: Path) -> None:
    backups = Backups(tmp_path)
    backups.save(b"{broken", "bad", reason="r")
    assert backups.load_newest_valid(must_be_json) is None


def test_keep_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="keep"):
        Backups(tmp_path, keep=0)


def test_quarantine_moves_the_file_and_explains_why(tmp_path: Path) -> None:
    src = tmp_path / "plans" / "t.json"
    src.parent.mkdir()
    src.write_bytes(b"{broken")
    dest = quarantine(src, tmp_path / "quarantine", reason="does not parse")
    assert not src.exists()
    assert dest.parent == tmp_path / "quarantine"
    assert dest.name.endswith("-t.json")
    assert dest.read_bytes() == b"{broken"
    why = dest.with_name(dest.name + ".why.txt").read_text()
    assert "does not parse" in why
    assert str(src) in why


def test_quarantine_never_overwrites_an_earlier_one(tmp_path: Path) -> None:
    kept = []
    for content in (b"one", b"two", b"three"):
        src = tmp_path / "t.json"
        src.write_bytes(content)
        kept.append(quarantine(src, tmp_path / "q", reason="r"))
    assert len(set(kept)) == 3
    assert sorted(p.read_bytes() for p in kept) == [b"one", b"three", b"two"]


def test_a_clock_behind_the_newest_backup_still_makes_the_newest_backup(tmp_path: Path) -> None:
    # a VM snapshot restored, a boot before the clock is set: names keep sorting by age,
    # so the new backup is never the first one pruned
    backups = Backups(tmp_path / "b", keep=2)
    ahead = tmp_path / "b" / "21000101T000000.000000Z-aaaa.json"
    ahead.parent.mkdir(parents=True)
    ahead.write_bytes(b"{}")
    made = backups.save(b'{"n": 1}', "hash-one", reason="test")
    assert made.exists() and backups.newest()[0] == made
    made = backups.save(b'{"n": 2}', "hash-two", reason="test")
    assert made.exists() and backups.newest()[0] == made


def test_a_backup_named_at_the_end_of_time_leaves_room_for_wtds(tmp_path: Path) -> None:
    backups = Backups(tmp_path / "b", keep=3)
    last = tmp_path / "b" / "99991231T235959.999999Z-0.json"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    made = backups.save(b'{"n": 1}', "hash-one", reason="test")
    assert made.exists()
