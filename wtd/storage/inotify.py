"""Linux inotify on the event loop: folder watches that cost nothing while nothing
changes (no thread, no timer — the loop waits on one file descriptor).

watchfiles' watcher runs a thread that wakes every ``step`` ms to look for a stop
request, which was most of an idle daemon's CPU; this is the Watcher's first
choice where the kernel has inotify, watchfiles the fallback elsewhere.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import anyio

IN_MODIFY: Final = 0x00000002
IN_ATTRIB: Final = 0x00000004
IN_CLOSE_WRITE: Final = 0x00000008
IN_MOVED_FROM: Final = 0x00000040
IN_MOVED_TO: Final = 0x00000080
IN_CREATE: Final = 0x00000100
IN_DELETE: Final = 0x00000200
IN_DELETE_SELF: Final = 0x00000400
IN_MOVE_SELF: Final = 0x00000800
IN_Q_OVERFLOW: Final = 0x00004000
IN_IGNORED: Final = 0x00008000
IN_ONLYDIR: Final = 0x01000000
IN_DONT_FOLLOW: Final = 0x02000000
IN_NONBLOCK: Final = os.O_NONBLOCK
IN_CLOEXEC: Final = os.O_CLOEXEC

# what changes a file in a folder: written, saved by rename, created, deleted
FOLDER_EVENTS: Final = (
    IN_MODIFY
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
)
# the folder itself went away (or its watch did): watch again
GONE: Final = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED

_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


@dataclass(frozen=True, slots=True)
class Event:
    path: str  # the file in the watched folder, or the folder itself
    mask: int

    @property
    def overflow(self) -> bool:
        return bool(self.mask & IN_Q_OVERFLOW)

    @property
    def folder_gone(self) -> bool:
        return bool(self.mask & GONE)


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_init1.argtypes = (ctypes.c_int,)
        libc.inotify_add_watch.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32)
    except (OSError, AttributeError):
        return None
    return libc


_LIBC = _libc()


def available() -> bool:
    return _LIBC is not None


class Inotify:
    """One inotify instance watching folders (not recursively)."""

    def __init__(self) -> None:
        if _LIBC is None:
            raise OSError(errno.ENOSYS, "inotify is not available here")
        fd = _LIBC.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
        self.fd: int = fd
        self._folders: dict[int, str] = {}

    def add(self, folder: str, mask: int = FOLDER_EVENTS) -> None:
        """Watch ``folder`` (never through a symlink). OSError when it is gone."""
        assert _LIBC is not None
        wd = _LIBC.inotify_add_watch(self.fd, os.fsencode(folder), mask)
        if wd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), folder)
        self._folders[wd] = folder

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Inotify:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def events(self, step: float, debounce: float) -> list[Event]:
        """The next batch: wait (without a timer) for a first event, then gather more
        until none came for ``step`` seconds or ``debounce`` seconds have passed.

        It sleeps ``step`` and then reads all that arrived, rather than waking for
        each event: one write of a file is several events (the temp file created,
        written, swapped in, unlinked), and waking for each cost a busy daemon
        more than the change itself."""
        await anyio.wait_readable(self.fd)
        found = list(self._read())
        deadline = anyio.current_time() + debounce
        while True:
            wait = min(step, deadline - anyio.current_time())
            if wait <= 0:
                return found
            await anyio.sleep(wait)
            more = list(self._read())
            if not more:
                return found
            found.extend(more)

    def _read(self) -> Iterator[Event]:
        """Every event queued now (none when the queue is empty)."""
        while True:
            try:
                data = os.read(self.fd, 64 * 1024)
            except BlockingIOError:
                return
            yield from self._parse(data)

    def _parse(self, data: bytes) -> Iterator[Event]:
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, size = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size
            name = data[offset : offset + size].rstrip(b"\0")
            offset += size
            folder = self._folders.get(wd, "")
            if mask & IN_IGNORED:
                self._folders.pop(wd, None)
            path = os.path.join(folder, os.fsdecode(name)) if name else folder
            yield Event(path=path, mask=mask)
