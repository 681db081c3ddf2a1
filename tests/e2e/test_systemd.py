"""End to end: wtd under systemd's protocols, without systemd.

Socket activation: the test binds and listens, and hands the socket over as fd 3 with
``LISTEN_FDS=1`` and ``LISTEN_PID`` = the daemon's own pid (set by a tiny wrapper
that then execs wtd, so the pid is the same). Readiness: the test binds the
``$NOTIFY_SOCKET`` datagram socket and waits for ``READY=1`` with a socket timeout.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import BIN, READY_TIMEOUT, Workspace

pytestmark = pytest.mark.e2e

SD_LISTEN_FDS_START = 3
# Put the passed socket at fd 3, claim it for this very pid, then become wtd.
ACTIVATE = (
    "import os, sys; "
    "fd = int(sys.argv[1]); "
    "os.dup2(fd, 3); "
    "fd != 3 and os.close(fd); "
    "os.environ['LISTEN_PID'] = str(os.getpid()); "
    "os.execv(sys.argv[2], sys.argv[2:])"
)


# ------------------------------------------------------------------ helpers


def send(conn: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    conn.sendall(struct.pack(">I", len(body)) + body)


def receive(conn: socket.socket) -> dict[str, Any]:
    (length,) = struct.unpack(">I", read_exactly(conn, 4))
    result: dict[str, Any] = json.loads(read_exactly(conn, length))
    return result


def read_exactly(conn: socket.socket, size: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < size:
        chunk = conn.recv(size - len(chunks))
        assert chunk, "wtd closed the connection"
        chunks += chunk
    return bytes(chunks)


@contextlib.contextmanager
def running(proc: subprocess.Popen[bytes], ws: Workspace) -> Iterator[subprocess.Popen[bytes]]:
    """Stop ``proc`` with SIGTERM on the way out and check it stopped cleanly."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=READY_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0, f"wtd exited {code}:\n{ws.log()}"


def start_wtd(
    ws: Workspace, argv: list[str], env: dict[str, str], pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    log = open(ws.sock.parent / "wtd.log", "ab")  # noqa: SIM115 - owned by the process
    try:
        return subprocess.Popen(argv, env=env, stdout=log, stderr=log, pass_fds=pass_fds)
    finally:
        log.close()


@pytest.fixture
def listener(ws: Workspace) -> Iterator[socket.socket]:
    """A bound, listening socket at the workspace's socket path, as systemd makes it."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(ws.sock))
    os.chmod(ws.sock, 0o600)
    sock.listen(16)
    try:
        yield sock
    finally:
        sock.close()


# ------------------------------------------------------------------ socket activation


def activated(ws: Workspace, listener: socket.socket) -> subprocess.Popen[bytes]:
    env = {**ws.env, "LISTEN_FDS": "1", "LISTEN_FDNAMES": "wtd.socket"}
    wtd = [str(BIN / "wtd"), "--socket", str(ws.sock)]
    argv = [sys.executable, "-c", ACTIVATE, str(listener.fileno()), *wtd]
    return start_wtd(ws, argv, env, pass_fds=(listener.fileno(),))


def test_socket_activated_wtd_answers_the_handshake_and_ping(
    ws: Workspace, listener: socket.socket
) -> None:
    with running(activated(ws, listener), ws) as proc:
        listener.close()  # only the daemon holds it now
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(READY_TIMEOUT)
            conn.connect(str(ws.sock))
            send(conn, {"type": "hello", "version": 1})
            welcome = receive(conn)
            assert welcome["type"] == "welcome", welcome
            assert welcome["pid"] == proc.pid  # the daemon we started, not an autostart
            send(conn, {"type": "ping", "id": "x"})
            pong = receive(conn)
            assert (pong["type"], pong["id"]) == ("pong", "x"), pong


def test_socket_activated_wtd_serves_wtctl(ws: Workspace, listener: socket.socket) -> None:
    with running(activated(ws, listener), ws):
        listener.close()
        proc = ws.wtctl("--socket", str(ws.sock), "--no-autostart", "show progress")
        assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{ws.log()}"
        assert "Overall progress: 44%" in proc.stdout


def test_socket_activated_wtd_leaves_the_socket_file_to_systemd(
    ws: Workspace, listener: socket.socket
) -> None:
    with running(activated(ws, listener), ws):
        listener.close()
        assert ws.wtctl("--socket", str(ws.sock), "--no-autostart", "show progress").returncode == 0
    assert ws.sock.exists()  # systemd owns it and keeps listening between daemons
    assert not ws.sock.with_name(ws.sock.name + ".lock").exists()


# ------------------------------------------------------------------ sd_notify


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_ready_arrives_on_notify_socket_once_serving(ws: Workspace, abstract: bool) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        if abstract:
            name = f"wtd-test-notify-{os.getpid()}-{ws.sock.parent.name}"
            notify.bind("\0" + name)
            address = "@" + name
        else:
            address = str(ws.sock.parent / "notify")
            notify.bind(address)
        notify.settimeout(READY_TIMEOUT)
        env = {**ws.env, "NOTIFY_SOCKET": address}
        argv = [str(BIN / "wtd"), "--socket", str(ws.sock)]
        with running(start_wtd(ws, argv, env), ws):
            states: list[str] = []
            while "READY=1" not in states:
                try:
                    datagram = notify.recv(4096)
                except TimeoutError:
                    pytest.fail(f"no READY=1 on NOTIFY_SOCKET (got {states}):\n{ws.log()}")
                states += datagram.decode().splitlines()
            # READY=1 means serving: a client gets through at once, no retry
            proc = ws.wtctl("--socket", str(ws.sock), "--no-autostart", "show progress")
            assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}\n{ws.log()}"
