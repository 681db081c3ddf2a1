"""Talking to wtd: connect (starting the daemon if nobody answers), handshake, requests.

Deliberately stdlib-only and small: this is on the path agents call hundreds of
times a day, so it must not pay for importing the daemon's dependencies. The frame
format and message shapes are ``wtd.protocol``'s (tests keep the two in step).
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the one-shot path ~4 ms
if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = 1
MAX_FRAME = 1 << 20  # requests only: replies have no size limit (SPEC §4)
AUTOSTART_TIMEOUT = 15.0
HANDSHAKE_TIMEOUT = 10.0
# Longer than the daemon's own reply deadline (120 s), so the daemon decides first.
REPLY_TIMEOUT = float(os.environ.get("WTCTL_TIMEOUT") or 150.0)
AUTOSTART_ATTEMPTS = 3


class Unavailable(Exception):
    """No daemon could be reached (exit code 5)."""


class ConnectionLost(Exception):
    """The daemon went away before answering."""


class RequestTooLarge(Exception):
    """A request over the 1 MiB frame cap (exit code 2: nothing was sent)."""


def owner_socket(reply: dict[str, Any], current: str) -> str | None:
    """Where to send a request that this daemon answered with "served elsewhere".

    Another wtd owns the workspace (SPEC §2): its socket, when it is not ``current``.
    """
    error = reply.get("error") or {}
    result = reply.get("result")
    if reply.get("type") != "reply" or error.get("code") != "elsewhere":
        return None
    owner = result.get("owner") if isinstance(result, dict) else None
    sock = owner.get("socket") if isinstance(owner, dict) else None
    if isinstance(sock, str) and sock and os.path.abspath(sock) != os.path.abspath(current):
        return sock
    return None


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 22))
        if not chunk:
            raise ConnectionLost("the daemon closed the connection")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class Connection:
    def __init__(self, sock: socket.socket, welcome: dict[str, Any]) -> None:
        self.sock = sock
        self.welcome = welcome

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        if len(body) > MAX_FRAME:
            raise RequestTooLarge(
                f"request of {len(body)} bytes exceeds the {MAX_FRAME}-byte limit"
            )
        self.sock.sendall(struct.pack(">I", len(body)) + body)

    def receive(self) -> dict[str, Any]:
        try:
            (length,) = struct.unpack(">I", _recv_exactly(self.sock, 4))
            reply: dict[str, Any] = json.loads(_recv_exactly(self.sock, length))
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc
        return reply

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            self.send(message)
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc
        return self.receive()

    def close(self) -> None:
        self.sock.close()


def _connect_once(path: str) -> Connection:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(HANDSHAKE_TIMEOUT)
    try:
        sock.connect(path)
        conn = Connection(sock, {})
        conn.welcome = conn.request(
            {"type": "hello", "version": PROTOCOL_VERSION, "client": "wtctl"}
        )
        sock.settimeout(REPLY_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    if conn.welcome.get("type") != "welcome":
        sock.close()
        raise Unavailable(
            f"wtd refused the connection: {conn.welcome.get('message', conn.welcome)}"
        )
    return conn


def connect(path: str, *, autostart: bool) -> Connection:
    """Connect to the daemon at ``path``, starting one first if nobody answers.

    A daemon that is just dying (socket still there, connection reset) counts as
    nobody answering; a start that loses a race with another starter is retried.
    """
    for _attempt in range(AUTOSTART_ATTEMPTS):
        try:
            return _connect_once(path)
        except (OSError, ConnectionLost) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            if not autostart:
                raise Unavailable(f"no wtd is answering on {path} ({reason})") from None
        start_daemon(path)
    raise Unavailable(
        f"wtd was started but does not answer on {path} ({reason}); see {log_path(path)}"
    )


def log_path(sock_path: str) -> str:
    return os.path.join(os.path.dirname(sock_path) or ".", "wtd.log")


def start_daemon(path: str) -> None:
    """Start ``wtd`` in the background and wait (no polling) until it says it serves."""
    import select
    import subprocess

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
