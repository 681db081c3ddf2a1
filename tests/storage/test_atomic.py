from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from wtd.storage.atomic import atomic_write, fsync_dir, read_bytes, remove_stale_temps
from wtd.storage.failpoints import Failpoints, corrupted

WRITER = Path(__file__).with_name("crash_writer.py")
ROOT = Path(__file__).resolve().parents[2]


def temps(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_atomic_write_creates_the_file_and_its_folders(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "t.json"
    atomic_write(target, b"hello")
    assert target.read_bytes() == b"hello"
    assert temps(target.parent) == []


def test_atomic_write_replaces_content_and_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    target.write_bytes(b"old content")
    atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert temps(tmp_path) == []


def test_atomic_write_keeps_the_file_mode(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    atomic_write(target, b"new")
    assert target.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("action", ["eacces", "enospc", "eagain", "timeout"])
def test_failed_write_leaves_old_file_identical_and_no_temp(tmp_path: Path, action: str) -> None:
    target = tmp_path / "t.json"
    target.write_bytes(b'{"old": true}')
    before = target.stat()
    fp = Failpoints.parse(f"store.write=1*{action}")
    with pytest.raises(OSError):
        atomic_write(target, b'{"new": true}', failpoints=fp, point="store.write")
    assert target.read_bytes() == b'{"old": true}'
    assert target.stat().st_ino == before.st_ino
    assert temps(tmp_path) == []
    atomic_write(target, b'{"new": true}', failpoints=fp, point="store.write")
    assert target.read_bytes() == b'{"new": true}'


def test_corrupt_write_writes_garbage_and_reports_success(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    data = b'{"tasks": [1, 2, 3, 4]}'
    atomic_write(target, data, failpoints=Failpoints.parse("p=corrupt"), point="p")
    assert target.read_bytes() == corrupted(data)
    assert target.read_bytes() != data


def test_read_bytes_hits_its_failpoint(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    target.write_bytes(b"content")
    fp = Failpoints.parse("store.read=1*eagain;other=corrupt")
    with pytest.raises(BlockingIOError):
        read_bytes(target, failpoints=fp, point="store.read")
    assert read_bytes(target, failpoints=fp, point="store.read") == b"content"
    assert read_bytes(target, failpoints=fp, point="other") == corrupted(b"content")
    assert read_bytes(target) == b"content"


def test_crash_before_rename_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "t.json"
    target.write_bytes(b"old")
    env = {**os.environ, "WT_FAILPOINTS": "store.write=crash", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(WRITER), "atomic", str(target), "new"], env=env, timeout=60
    )
    assert done.returncode == 137
    assert target.read_bytes() == b"old"
    stale = temps(tmp_path)
    assert len(stale) == 1
    assert remove_stale_temps(target) == stale
    assert temps(tmp_path) == []


def test_remove_stale_temps_only_touches_that_files_temps(tmp_path: Path) -> None:
    ours = ".t.json.0123456789ab.tmp"
    # another file's, another tracker's (``t.json.json``), another tool's (wtctl git
    # render names its temp with a pid)
    theirs = [".other.json.0123456789ab.tmp", ".t.json.json.0123456789ab.tmp", ".t.json.4242.tmp"]
    for name in (ours, *theirs):
        (tmp_path / name).write_bytes(b"x")
    removed = remove_stale_temps(tmp_path / "t.json")
    assert [p.name for p in removed] == [ours]
    assert all((tmp_path / name).exists() for name in theirs)


def test_remove_stale_temps_leaves_one_written_since_a_moment(tmp_path: Path) -> None:
    old, new = tmp_path / ".t.json.0123456789ab.tmp", tmp_path / ".t.json.ba9876543210.tmp"
    old.write_bytes(b"x")
    new.write_bytes(b"x")
    os.utime(old, (1_000_000, 1_000_000))
    assert remove_stale_temps(tmp_path / "t.json", older_than=2_000_000) == [old]
    assert new.exists()


def test_fsync_dir_accepts_a_folder(tmp_path: Path) -> None:
    fsync_dir(tmp_path)
