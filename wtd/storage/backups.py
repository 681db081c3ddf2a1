"""Rotating backups of a tracker's JSON, and quarantine for files that are broken.

A backup is ``<UTC timestamp>-<hash[:12]>.json``; names sort oldest → newest, and the
reason of each is appended to ``backups.log`` in the same folder. Quarantine moves a
file aside (never deletes it) and leaves a ``.why.txt`` beside it for the person who
finds it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import shutil
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from wtd.errors import WtdError
from wtd.storage import safepath
from wtd.storage.atomic import atomic_write, fsync_dir, make_dirs

log = logging.getLogger("wtd.backups")

LOG_NAME: Final = "backups.log"
_STAMP: Final = "%Y%m%dT%H%M%S.%fZ"
_NAME = re.compile(r"(?P<stamp>\d{8}T\d{6}\.\d{6}Z)-(?P<hash>[0-9A-Za-z]{1,12})\.json")


def utc_stamp(moment: datetime | None = None) -> str:
    """A file-name-safe UTC timestamp with microseconds, e.g. ``20250102T030405.000006Z``."""
    return (moment or datetime.now(UTC)).strftime(_STAMP)


class Backups:
    """The backups of one tracker in ``folder``; at most ``keep`` are kept.

    ``save`` may be called from two threads at once (a checkpoint runs beside the
    Store's other work): one saves at a time."""

    def __init__(self, folder: Path, keep: int = 10) -> None:
        if keep < 1:
            raise ValueError("Backups: keep must be at least 1")
        self.folder = folder
        self.keep = keep
        self._lock = threading.Lock()

    def save(self, data: bytes, content_hash: str, *, reason: str | Callable[[], str]) -> Path:
        """Write a backup of ``data`` atomically, then prune to ``keep``.

        When the newest backup already holds ``content_hash``, that one is returned
        and nothing is written. ``reason`` may be a go-ahead, called once the bytes
        are written and fsync'd beside the backups (under a temporary name): it returns
        the reason, and the backup is put in place — or it raises, and the temporary
        file is removed, nothing else having changed.
        """
        with self._lock:
            return self._save(data, content_hash, reason=reason)

    def _save(self, data: bytes, content_hash: str, *, reason: str | Callable[[], str]) -> Path:
        short = re.sub(r"[^0-9A-Za-z]", "", content_hash)[:12] or "nohash"
        existing = self.newest()
        moment = datetime.now(UTC)
        if existing:
            m = _NAME.fullmatch(existing[0].name)
            assert m is not None
            if m["hash"] == short:
                return existing[0]
            # Names must keep sorting by age even if the clock steps back (a new backup
            # named before the newest would be the first pruned). Past the last name
            # a year can hold (a file put there), the clock's own time is taken.
            last = datetime.strptime(m["stamp"], _STAMP).replace(tzinfo=UTC)
            with contextlib.suppress(OverflowError):
                moment = max(moment, last + timedelta(microseconds=1))
        path = self.folder / f"{utc_stamp(moment)}-{short}.json"
        said = reason if isinstance(reason, str) else ""

        def go_ahead() -> None:
            nonlocal said
            assert callable(reason)
            said = reason()

        atomic_write(path, data, before_replace=None if isinstance(reason, str) else go_ahead)
        self._log(f"{path.name} {said}")
        self._prune()
        return path

    def newest(self) -> list[Path]:
        """Backup files, newest first."""
        try:
            names = [e.name for e in os.scandir(self.folder) if _NAME.fullmatch(e.name)]
        except FileNotFoundError:
            return []
        return [self.folder / name for name in sorted(names, reverse=True)]

    def load_newest_valid(self, validate: Callable[[bytes], object]) -> tuple[Path, bytes] | None:
        """The newest backup whose bytes ``validate`` accepts (it raises on bad ones)."""
        for path in self.newest():
            try:
                data = safepath.read_bytes(path)
                validate(data)
            except Exception:  # whatever the caller's validator raises means "skip this one"
                continue
            return path, data
        return None

    def _prune(self) -> None:
        removed = False
        for old in self.newest()[self.keep :]:
            old.unlink(missing_ok=True)
            removed = True
        if removed:
            fsync_dir(self.folder)

    def _log(self, line: str) -> None:
        """Note a backup in the folder's log: a note only, so one that cannot be
        written (a hard link, a full disk) is logged and the backup stands."""
        clean = " ".join(line.split())
        try:
            safepath.append_line(self.folder / LOG_NAME, (clean + "\n").encode(), sync=False)
        except (OSError, WtdError) as exc:
            log.warning("backup log %s not written: %s", self.folder / LOG_NAME, exc)


def quarantine(src: Path, folder: Path, *, reason: str) -> Path:
    """Move the broken file ``src`` into ``folder`` under a timestamped name.

    The file is renamed (or copied, fsync'd, then removed when ``folder`` is on
    another device), never deleted; ``<new name>.why.txt`` beside it says why.
    Returns the new path.
    """
    make_dirs(folder)
    safepath.check(src)
    moment = datetime.now(UTC)
    dest = _free_name(folder, f"{utc_stamp(moment)}-{src.name}")
    try:
        os.rename(src, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_durably(src, dest)
        src.unlink()
    fsync_dir(folder)
    fsync_dir(src.parent)
    why = (
        f"file: {src}\n"
        f"quarantined: {moment.isoformat()}\n"
        f"reason: {reason}\n"
        "wtd moved this file here instead of deleting it; it is safe to remove once"
        " you no longer need it.\n"
    )
    atomic_write(dest.with_name(dest.name + ".why.txt"), why.encode("utf-8"))
    return dest


def _free_name(folder: Path, name: str) -> Path:
    candidate = folder / name
    n = 1
    while candidate.exists() or candidate.with_name(candidate.name + ".why.txt").exists():
        candidate = folder / f"{name}.{n}"
        n += 1
    return candidate


def _copy_durably(src: Path, dest: Path) -> None:
    shutil.copy2(src, dest, follow_symlinks=False)
    fd = os.open(dest, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def keep_copy(data: bytes, name: str, folder: Path, *, reason: str) -> Path:
    """Keep ``data`` (the content of a file about to be replaced) in ``folder``.

    Unlike ``quarantine`` the original stays where it is until its replacement is
    renamed over it, so readers never find the file missing.
    """
    make_dirs(folder)
    moment = datetime.now(UTC)
    dest = _free_name(folder, f"{utc_stamp(moment)}-{name}")
    atomic_write(dest, data)
    why = (
        f"file: {name}\n"
        f"kept: {moment.isoformat()}\n"
        f"reason: {reason}\n"
        "wtd kept this copy instead of discarding it; it is safe to remove once"
        " you no longer need it.\n"
    )
    atomic_write(dest.with_name(dest.name + ".why.txt"), why.encode("utf-8"))
    return dest
