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


def start_daemon(path: str) -> None:
    """Start ``wtd`` in the background and wait (no polling) until it says it serves."""
    folder = os.path.dirname(path) or "."
    os.makedirs(folder, mode=0o700, exist_ok=True)
    read_fd, write_fd = os.pipe()
    try:
        with open(log_path(path), "ab") as log:
            subprocess.Popen(
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
            os.read(read_fd, 1)  # b"1" when serving; b"" if it exited (e.g. lost a start race)
    finally:
        os.close(read_fd)
        if write_fd >= 0:
            os.close(write_fd)
