"""The workspaces a wtd served, kept across restarts (SPEC §6).

After a crash or a power cut a tracker's files may be older than its journal. wtd
rewrites them when it opens the tracker; to open them before anyone asks — a
program may read ``.ecw/plans/*.json`` itself, with no wtctl call first — a wtd
remembers the workspaces it served and opens their trackers when it starts.

The list is per socket (a wtd per socket, SPEC §8): for the default socket it is
``$XDG_STATE_HOME/wtd/served-<hash>`` (``~/.local/state``), which outlives a reboot;
for a socket named explicitly (``--socket``, ``$WTD_SOCKET``) it is ``served``
beside the socket. At most ``LIMIT`` workspaces, the most recently served last.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import Final

from wtd import paths
from wtd.storage.atomic import atomic_write

LIMIT: Final = 64
log = logging.getLogger("wtd.served")


def served_file(socket: Path, environ: dict[str, str] | None = None) -> Path:
    """Where the wtd of ``socket`` keeps its list (see the module)."""
    env = dict(os.environ if environ is None else environ)
    env.pop("WTD_SOCKET", None)
    if os.path.abspath(socket) != os.path.abspath(paths.default_socket(env)):
        return socket.parent / "served"
    state = env.get("XDG_STATE_HOME") or os.path.join(env.get("HOME") or "~", ".local", "state")
    digest = hashlib.sha256(os.fsencode(os.path.abspath(socket))).hexdigest()[:12]
    return Path(os.path.expanduser(state)) / "wtd" / f"served-{digest}"


class Served:
    """The list of one wtd (thread-safe; every call does its own I/O, off the loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> list[Path]:
        with self._lock:
            return [Path(line) for line in self._read()]

    def add(self, workspace: Path) -> None:
        """Remember ``workspace`` (written only when it is not already the newest)."""
        entry = os.path.abspath(workspace)
        with self._lock:
            known = self._read()
            if known and known[-1] == entry:
                return
            kept = [line for line in known if line != entry][-(LIMIT - 1) :]
            self._write([*kept, entry])

    def drop(self, workspace: Path) -> None:
        entry = os.path.abspath(workspace)
        with self._lock:
            known = self._read()
            if entry in known:
                self._write([line for line in known if line != entry])

    def _read(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.startswith("/")]

    def _write(self, entries: list[str]) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # no fsync: this runs on a workspace's first request, and the list is a
            # convenience the file system makes durable within seconds anyway
            data = "".join(f"{e}\n" for e in entries).encode()
            atomic_write(self.path, data, durable=False)
        except OSError as exc:  # a convenience: serving goes on without it
            log.warning("the list of served workspaces %s was not written: %s", self.path, exc)
