"""The one-shot's connection: its first request travels with the hello (one round
trip, not two), and a daemon that refuses the hello never answers it.

A real Unix socket and a scripted daemon in a thread; no wtd needed.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wtctl.connection import Session, Unavailable
from wtd import wire

Script = Callable[[socket.socket], None]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Callable[[Script], str]]:
    """``daemon(script)``: a socket whose one connection is served by ``script``."""
    threads: list[threading.Thread] = []
    listeners: list[socket.socket] = []

    def start(script: Script) -> str:
        path = str(tmp_path / "wtd.sock")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(1)
        listeners.append(listener)

        def serve() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(10)
                script(conn)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        threads.append(thread)
        return path

    yield start
    for thread in threads:
        thread.join(10)
    for listener in listeners:
        listener.close()


def _read(conn: socket.socket) -> dict[str, object]:
    return wire.decode(wire.recv_frame(conn))


def _send(conn: socket.socket, message: dict[str, object]) -> None:
    conn.sendall(wire.frame(wire.encode(message)))


def test_the_first_request_is_sent_with_the_hello(daemon: Callable[[Script], str]) -> None:
    seen: list[dict[str, object]] = []

    def script(conn: socket.socket) -> None:
        # Both frames arrive before wtd says anything: a client that waited for the
        # welcome first would leave this read to time out.
        seen.append(_read(conn))
        seen.append(_read(conn))
        _send(conn, {"type": "welcome", "version": wire.PROTOCOL_VERSION, "server": "test"})
        _send(conn, {"type": "reply", "id": seen[1]["id"], "ok": True, "lines": ["done"]})

    session = Session(daemon(script), autostart=False)
    try:
        reply = session.ask(wire.request("show progress", cwd="/", request_id="r1"))
    finally:
        session.close()
    assert [m["type"] for m in seen] == ["hello", "command"]
    assert seen[1]["id"] == "r1"
    assert reply["lines"] == ["done"]


def test_a_refused_hello_leaves_the_request_unanswered(daemon: Callable[[Script], str]) -> None:
    def script(conn: socket.socket) -> None:
        _read(conn)
        _send(conn, {"type": "protocol_error", "code": "handshake", "message": "version 9"})

    session = Session(daemon(script), autostart=False)
    with pytest.raises(Unavailable, match="refused"):
        session.ask(wire.request("mark task 1.1 complete", cwd="/", request_id="r2"))
    session.close()
