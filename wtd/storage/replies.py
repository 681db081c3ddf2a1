"""The first reply of each workspace-level request, kept so a retry is answered, not redone.

Changes to a tracker are answered again from its journal (SPEC §6). Requests that
act on the workspace instead — create an initiative, restore a tracker, answer a
consent question — have no journal of their own, so their replies are appended to
``.ecw/journal/requests.log`` (one ``<request id> <reply JSON>`` line each, fsync'd
before the reply leaves) and a retry with the same id gets the first reply again.
The newest ``CAPACITY`` are kept; the file is rewritten when it holds twice that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from wtd.storage import safepath
from wtd.storage.atomic import atomic_write, make_dirs

CAPACITY: Final = 2000
FILE_NAME: Final = "requests.log"


class Replies:
    """The kept replies of one workspace (thread-confined: call from one worker at a time)."""

    def __init__(self, workspace: Path) -> None:
        self.path = workspace / ".ecw" / "journal" / FILE_NAME
        self._replies: dict[str, bytes] | None = None
        self._lines = 0

    def get(self, rid: str) -> bytes | None:
        return self._loaded().get(rid)

    def put(self, rid: str, reply: bytes) -> None:
        """Keep ``reply`` (encoded JSON without newlines) for ``rid``, durably."""
        replies = self._loaded()
        replies[rid] = reply
        make_dirs(self.path.parent)
        safepath.append_line(self.path, rid.encode() + b" " + reply + b"\n")
        self._lines += 1
        if self._lines > 2 * CAPACITY:
            newest = list(replies.items())[-CAPACITY:]
            replies.clear()
            replies.update(newest)
            atomic_write(self.path, b"".join(r.encode() + b" " + b + b"\n" for r, b in newest))
            self._lines = len(newest)

    def _loaded(self) -> dict[str, bytes]:
        if self._replies is None:
            self._replies = {}
            try:
                data = safepath.read_bytes(self.path)
            except (FileNotFoundError, NotADirectoryError):
                data = b""
            for line in data.split(b"\n"):
                rid, sep, body = line.partition(b" ")
                if sep and body.startswith(b"{") and body.endswith(b"}"):
                    self._replies[rid.decode(errors="replace")] = body
                    self._lines += 1
        return self._replies
