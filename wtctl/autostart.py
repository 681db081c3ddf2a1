"""Starting ``wtd`` when nobody answers (SPEC §4), for both clients.

Only the first call of a session without a running daemon needs this: the
blocking client imports it then; the REPL's client calls it in a worker thread.
"""

from __future__ import annotations

import errno
import os
import select
import stat
import subprocess
import sys
from typing import BinaryIO

AUTOSTART_TIMEOUT = 15.0


def log_path(sock_path: str) -> str:
    return os.path.join(os.path.dirname(sock_path) or ".", "wtd.log")


def _open_log(path: str) -> BinaryIO:
    """``wtd.log`` for appending, never through a symlink, and only a regular file of
    this user: the socket's folder may be shared or someone else's (wtd refuses such
    a folder, but the log is opened before wtd starts), where a planted
    ``wtd.log -> ~/.bashrc`` had wtd's output appended to the file it names."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO):  # a symlink; a FIFO
            raise OSError(exc.errno, f"{path} is not a regular file of yours") from None
        raise
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_nlink != 1:
        os.close(fd)
        raise OSError(errno.EPERM, f"{path} is not a regular file of yours")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "ab")


def start_daemon(path: str) -> str | None:
    """Start ``wtd`` in the background and wait (no polling) until it says it serves.

    Returns why it could not start — the last line it logged, e.g. a mistake in the
    config file — when it exited with an error instead; None otherwise."""
    folder = os.path.dirname(path) or "."
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        log = _open_log(log_path(path))
    except OSError as exc:
        return (
            f"its folder {folder} cannot be written ({exc.strerror or exc}): point "
            "XDG_RUNTIME_DIR or WTD_SOCKET at a folder you can write"
        )
    read_fd, write_fd = os.pipe()
    said = b""
    try:
        with log:
            start = log.tell()
            proc = subprocess.Popen(
                [sys.executable, "-m", "wtd", "--socket", path, "--ready-fd", str(write_fd)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                pass_fds=(write_fd,),
                start_new_session=True,
                close_fds=True,
            )
        os.close(write_fd)
        write_fd = -1
        ready, _, _ = select.select([read_fd], [], [], AUTOSTART_TIMEOUT)
        if ready:
            said = os.read(read_fd, 1)  # b"1" when serving; b"" if it exited
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
    if said or not ready:  # serving, or still starting after AUTOSTART_TIMEOUT
        return None
    try:  # the pipe closed: it is ending, if not ended already
        code = proc.wait(timeout=1.0)
    except subprocess.TimeoutExpired:
        return None
    return _last_words(log_path(path), start) if code else None  # 0: lost a start race


def _last_words(log: str, start: int) -> str | None:
    """The last line ``wtd`` wrote to ``log`` after ``start`` (its reason to stop)."""
    try:
        with open(log, "rb") as f:
            f.seek(start)
            tail = f.read(64 * 1024)
    except OSError:
        return None
    lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines()]
    found = [line for line in lines if line]
    return found[-1][:500] if found else None


def not_started(path: str, reason: str, failed: str | None) -> str:
    """What to tell when no wtd answers at ``path`` after starting one (``failed``:
    why the last one started exited, if it did)."""
    if failed is None:
        return f"wtd was started but does not answer on {path} ({reason}); see {log_path(path)}"
    if "is already serving" in failed:  # one holds the socket and does not answer
        return (
            f"the wtd that holds {path} does not answer ({reason}): it may be stopped "
            f"(Ctrl-Z, SIGSTOP: resume it with kill -CONT) or stuck (stop it; see "
            f"{log_path(path)}) — {failed.removeprefix('wtd: ')}"
        )
    return f"wtd could not start: {failed} (see {log_path(path)})"
