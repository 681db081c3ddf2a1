"""Starting ``wtd`` when nobody answers (SPEC §4), for both clients.

Only the first call of a session without a running daemon needs this: the
blocking client imports it then; the REPL's client calls it in a worker thread.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys

AUTOSTART_TIMEOUT = 15.0


def log_path(sock_path: str) -> str:
    return os.path.join(os.path.dirname(sock_path) or ".", "wtd.log")


def start_daemon(path: str) -> str | None:
    """Start ``wtd`` in the background and wait (no polling) until it says it serves.

    Returns why it could not start — the last line it logged, e.g. a mistake in the
    config file — when it exited with an error instead; None otherwise."""
    folder = os.path.dirname(path) or "."
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        log = open(log_path(path), "ab")  # noqa: SIM115 - closed below
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
