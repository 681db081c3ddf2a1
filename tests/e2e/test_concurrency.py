"""End to end: many clients at once, on a fresh daemon and across a kill -9."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import threading
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Workspace

pytestmark = pytest.mark.e2e


def _frame(s: socket.socket, message: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(message).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    header = s.recv(4, socket.MSG_WAITALL)
    (n,) = struct.unpack(">I", header)
    reply: dict[str, Any] = json.loads(s.recv(n, socket.MSG_WAITALL))
    return reply


def test_a_burst_of_first_requests_shares_one_store(ws: Workspace) -> None:
    ws.start_daemon()
    clients = []
    for _ in range(8):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(str(ws.sock))
        assert _frame(s, {"type": "hello", "version": 1})["type"] == "welcome"
        clients.append(s)
    replies: list[dict[str, Any]] = []
    barrier = threading.Barrier(len(clients))

    def add(n: int, s: socket.socket) -> None:
        barrier.wait()
        message = {
            "type": "command",
            "id": f"burst-{n}",
            "phrase": f"add task to phase 3: burst {n}",
            "cwd": str(ws.root),
            "tracker": str(ws.md),
        }
        replies.append(_frame(s, message))

    threads = [threading.Thread(target=add, args=(n, s)) for n, s in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r["ok"] for r in replies), replies
    ids = [t["id"] for t in ws.data()["tasks"]]
    assert len(ids) == len(set(ids))
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert sorted(n for n in names if n and n.startswith("burst")) == sorted(
        f"burst {n}" for n in range(8)
    )
    ws.kill_daemon()
    assert "Overall progress" in ws.ok("show progress")  # the journal reopens cleanly


def _writer(ws: Workspace, client: int, count: int, acked: list[str]) -> None:
    for n in range(count):
        name = f"c{client}-{n}"
        proc = subprocess.run(
            [str(BIN / "wtctl"), "--tracker", str(ws.md), f"add task to phase 3: {name}"],
            env=ws.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode == 0:
            acked.append(name)


@pytest.mark.parametrize("kill_midway", [False, True])
def test_parallel_clients_lose_nothing(ws: Workspace, kill_midway: bool) -> None:
    ws.ok("show progress")
    acked: list[str] = []
    threads = [threading.Thread(target=_writer, args=(ws, c, 12, acked)) for c in range(8)]
    for t in threads:
        t.start()
    if kill_midway:
        for _ in range(2):
            while len(acked) < 20 * (_ + 1):
                threads[0].join(0.05)
            pid = ws.daemon_pid()
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
    for t in threads:
        t.join()
    assert len(acked) == 96  # clients reconnect (restarting wtd) and retry
    data = ws.data()
    names = [t.get("name") for t in data["tasks"]]
    missing = [a for a in acked if a not in names]
    assert missing == []
    assert len([n for n in names if n and n.startswith("c")]) == 96  # none applied twice
    ids = [t["id"] for t in data["tasks"]]
    assert len(ids) == len(set(ids))
    md = ws.md.read_text()
    assert all(f"| {name} |" in md for name in acked)


def test_a_failing_conflict_copy_neither_hangs_the_caller_nor_loses_the_edit(ws: Workspace) -> None:
    ws.ok("show progress")
    with ws.md.open("a") as f:
        f.write("hand edit\n")
    conflicts = ws.root / ".ecw" / "conflicts"
    conflicts.write_text("a file where a folder should be")
    proc = ws.wtctl("add task to phase 3: despite it")
    assert proc.returncode == 0, proc.stderr
    assert ws.task("3.4")["name"] == "despite it"
    # the hand edit could be neither merged nor kept elsewhere: it is left as it is
    assert ws.md.read_text().endswith("hand edit\n")


def test_the_view_catches_up_after_a_failed_write_without_another_change(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "render.write=1*enospc"})
    proc = ws.wtctl("add task to phase 3: late view")
    assert proc.returncode == 0 and "could not be written" in proc.stdout
    ws.ok("show progress")
    assert "late view" in ws.md.read_text()
