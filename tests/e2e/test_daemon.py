"""End to end: durability under kill -9, one daemon per socket, hostile clients."""

from __future__ import annotations

import json
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Workspace
from wtctl.args import parse_args, request_for
from wtd import protocol

pytestmark = pytest.mark.e2e


def test_kill_9_loses_no_acknowledged_change(ws: Workspace) -> None:
    ws.start_daemon()
    acked = []
    for n in range(1, 13):
        ws.ok(f"add task to phase 3: Release chore {n}")
        acked.append(f"Release chore {n}")
    ws.ok("mark task 2.2 complete")
    ws.kill_daemon()  # SIGKILL
    ws.start_daemon()
    assert "Overall progress" in ws.ok("show progress")
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert [n for n in names if n and n.startswith("Release chore")] == acked
    assert ws.task("2.2")["status"] == "complete"
    md = ws.md.read_text()
    assert all(name in md for name in acked)


def test_crash_between_journal_and_json_is_replayed_once(ws: Workspace) -> None:
    ws.ok("show progress")  # first start corrects the stale progress
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "store.write=1*crash"})
    # the daemon dies after journalling; wtctl reconnects, autostarts a fresh wtd,
    # and retries with the same request id: applied exactly once
    proc = ws.wtctl("add task to phase 3: Exactly once")
    assert proc.returncode == 0, proc.stdout + proc.stderr + ws.log()
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert names.count("Exactly once") == 1
    assert "Exactly once" in ws.md.read_text()


def test_no_answer_after_the_request_went_out_is_told_as_not_known(ws: Workspace) -> None:
    # it said "wtd unavailable: timed out", which reads as "not applied": the change
    # was applied once wtd got to it, and a script that ran it again made it twice
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "store.write=1*delay(2500)"})
    ws.env["WTCTL_TIMEOUT"] = "0.4"
    proc = ws.wtctl("add task to phase 3: Slow to write")
    del ws.env["WTCTL_TIMEOUT"]
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "not known" in proc.stderr and "history" in proc.stderr
    assert "Slow to write" in ws.ok("history")  # (answered once the write is done)
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert names.count("Slow to write") == 1


def test_a_slow_commit_in_one_workspace_does_not_hold_up_another(
    ws: Workspace, tmp_path: Path
) -> None:
    # A commit on a fast disk runs on the event loop (cheaper than a hand-off to the
    # Store's thread); on a disk made slow (a failpoint's delay, from the second append
    # on) it must keep the thread, or every other workspace's clients wait for it.
    ws.ok("show progress")  # the stale progress corrected: the next start appends nothing
    other = tmp_path / "other"
    (other / ".ecw" / "plans").mkdir(parents=True)
    (other / ".ecw" / "plans" / "notes.json").write_bytes(ws.json.read_bytes())
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "journal.append=1+1*delay(6000)"})
    ws.ok("mark task 2.2 complete")  # the first append: fast
    ws.env["WTCTL_TIMEOUT"] = "0.5"
    slow = ws.wtctl("mark task 2.3 complete")  # the second: its commit takes 6 s
    assert slow.returncode == 5 and "not known" in slow.stderr, slow.stdout + slow.stderr
    ws.env["WTCTL_TIMEOUT"] = "3"
    proc = ws.wtctl("--tracker", str(other / "docs/plans/notes.md"), "show progress", tracker=False)
    del ws.env["WTCTL_TIMEOUT"]
    assert proc.returncode == 0, proc.stdout + proc.stderr + ws.log()
    assert "Overall progress" in proc.stdout
    assert "Complete" in ws.ok("show task 2.3")  # (answered once the commit is done)
    assert ws.task("2.3")["status"] == "complete"


def test_failed_write_is_reported_and_never_appears(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "store.write=1*enospc"})
    json_before = ws.json.read_bytes()
    proc = ws.wtctl("add task to phase 3: Never")
    assert proc.returncode == 1
    assert "No space left on device" in proc.stderr
    assert ws.json.read_bytes() == json_before
    ws.kill_daemon()
    ws.start_daemon()
    ws.ok("show progress")
    assert all(t.get("name") != "Never" for t in ws.data()["tasks"])


def test_view_write_failure_is_reported_and_repaired(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "render.write=1*enospc"})
    proc = ws.wtctl("mark task 2.2 complete")
    assert proc.returncode == 0
    assert "could not be written" in proc.stdout
    assert ws.task("2.2")["status"] == "complete"
    ws.ok("sync")
    assert "| 2.2 | Render Markdown view | ✅ Complete |" in ws.md.read_text()


def test_second_daemon_on_same_socket_exits_clearly(ws: Workspace) -> None:
    first = ws.start_daemon()
    proc = subprocess.run(
        [str(BIN / "wtd"), "--socket", str(ws.sock)],
        capture_output=True,
        text=True,
        env=ws.env,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "already serving" in proc.stderr and str(first.pid) in proc.stderr
    assert "Overall progress" in ws.ok("show progress")


def test_stale_socket_is_replaced(ws: Workspace) -> None:
    ws.sock.parent.mkdir(exist_ok=True)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(ws.sock))
    stale.close()  # the file stays, nobody listens
    assert ws.sock.exists()
    assert "Overall progress: 44%" in ws.ok("show progress")


def test_socket_folder_is_private(ws: Workspace) -> None:
    ws.ok("progress")
    assert os.stat(ws.sock.parent).st_mode & 0o777 == 0o700


def test_a_socket_in_a_shared_folder_is_refused_and_the_folder_left_alone(
    ws: Workspace, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)  # like /tmp
    proc = subprocess.run(
        [str(BIN / "wtd"), "--socket", str(shared / "wtd.sock")],
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "is shared (mode 1777)" in proc.stderr
    assert os.stat(shared).st_mode & 0o7777 == 0o1777


# ------------------------------------------------------------- hostile input


def _raw(ws: Workspace) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(ws.sock))
    return s


def _send(s: socket.socket, body: bytes) -> None:
    s.sendall(struct.pack(">I", len(body)) + body)


def _recv(s: socket.socket) -> dict[str, Any] | None:
    """The next frame, or None when the daemon closed (or reset) the connection."""
    try:
        return _recv_frame(s)
    except ConnectionResetError:
        return None


def _recv_frame(s: socket.socket) -> dict[str, Any] | None:
    header = b""
    while len(header) < 4:
        chunk = s.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    (n,) = struct.unpack(">I", header)
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            return None
        body += chunk
    result: dict[str, Any] = json.loads(body)
    return result


def _hello(s: socket.socket) -> None:
    _send(s, json.dumps({"type": "hello", "version": 1}).encode())
    welcome = _recv(s)
    assert welcome is not None and welcome["type"] == "welcome"


def test_hostile_clients_never_disturb_the_daemon(ws: Workspace) -> None:
    ws.start_daemon()
    silent = _raw(ws)  # connects and says nothing
    half = _raw(ws)
    half.sendall(b"\x00\x00\x01")  # a partial header, then nothing

    no_hello = _raw(ws)
    _send(no_hello, json.dumps({"type": "ping"}).encode())
    reply = _recv(no_hello)
    assert reply is not None and reply["type"] == "protocol_error" and reply["code"] == "handshake"

    garbage = _raw(ws)
    _hello(garbage)
    _send(garbage, b"\xff\xfe not json at all")
    reply = _recv(garbage)
    assert reply is not None and reply["code"] == "bad_request"
    _send(garbage, json.dumps({"type": "launch_missiles"}).encode())
    reply = _recv(garbage)
    assert reply is not None and reply["code"] == "bad_request"
    _send(garbage, json.dumps({"type": "command", "id": 5}).encode())  # wrong field types
    reply = _recv(garbage)
    assert reply is not None and reply["code"] == "bad_request"
    _send(garbage, json.dumps({"type": "ping", "id": "p1"}).encode())  # still usable
    reply = _recv(garbage)
    assert reply is not None and reply["type"] == "pong" and reply["id"] == "p1"

    huge = _raw(ws)
    _hello(huge)
    huge.sendall(struct.pack(">I", protocol.MAX_FRAME + 1) + b"x" * 1024)
    reply = _recv(huge)
    assert reply is not None and reply["code"] == "frame_too_large"
    assert _recv(huge) is None  # and the connection is closed

    abrupt = _raw(ws)
    _hello(abrupt)
    abrupt.sendall(struct.pack(">I", 100) + b'{"type": "com')
    abrupt.close()

    # other clients are served all along
    assert "Overall progress: 44%" in ws.ok("show progress")
    ws.ok("mark task 2.3 in progress")
    assert ws.task("2.3")["status"] == "in_progress"
    for s in (silent, half, no_hello, garbage, huge):
        s.close()
    assert "Overall progress" in ws.ok("progress")


def test_wire_frames_of_the_client_decode_with_the_protocol(ws: Workspace) -> None:
    message = request_for(parse_args(["--show-health", "--agent", "a", "progress"]), "progress")
    decoded = protocol.request_decoder.decode(json.dumps(message).encode())
    assert isinstance(decoded, protocol.Request)
    assert decoded.options.show_health and decoded.options.agent == "a"


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another user")
def test_other_users_are_refused(ws: Workspace) -> None:
    ws.start_daemon()
    os.chmod(ws.sock.parent, 0o755)
    os.chmod(ws.sock, 0o777)
    code = (
        "import os,socket,struct,json\n"
        "os.setuid(65534)\n"
        f"s=socket.socket(socket.AF_UNIX); s.connect({str(ws.sock)!r})\n"
        "hello=struct.pack('>I',32)+json.dumps({'type':'hello','version':1}).encode().ljust(32)\n"
        "try: s.sendall(hello)\n"
        "except BrokenPipeError: pass  # refused before it could even say hello\n"
        "n=struct.unpack('>I',s.recv(4))[0]; print(s.recv(n).decode())\n"
    )
    import sys

    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert '"denied"' in proc.stdout, proc.stderr


def test_clients_hanging_up_mid_hello_never_stop_the_daemon(ws: Workspace) -> None:
    daemon = ws.start_daemon()
    for _ in range(8):
        s = _raw(ws)
        s.sendall(struct.pack(">I", 16) + b'{"ty')
        s.close()
    assert "Overall progress: 44%" in ws.ok("show progress")
    assert daemon.poll() is None
    assert "actor server crashed" not in ws.log()


def test_wtctl_daemon_reports_whether_wtd_runs(ws: Workspace) -> None:
    down = ws.wtctl("daemon", tracker=False)
    assert down.returncode == 5 and "not running" in down.stdout
    assert ws.daemon_pid() is None  # asking does not start it
    daemon = ws.start_daemon()
    up = ws.wtctl("daemon", tracker=False)
    assert up.returncode == 0
    assert f"is running (pid {daemon.pid})" in up.stdout
    assert f"socket: {ws.sock}" in up.stdout and "uptime:" in up.stdout
    doc = json.loads(ws.wtctl("daemon", "--json", tracker=False).stdout)
    assert doc["running"] is True and doc["pid"] == daemon.pid and doc["version"].startswith("wtd ")


def test_a_socket_path_too_long_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    folder = tmp_path / ("d" * 60)
    folder.mkdir()
    sock = folder / ("s" * 60 + ".sock")
    proc = subprocess.run(
        [str(BIN / "wtd"), "--socket", str(sock)],
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "over the 107 a Unix socket's path may have" in proc.stderr
    assert list(folder.iterdir()) == []  # no lock file left behind


def test_sighup_stops_the_daemon_cleanly(ws: Workspace) -> None:
    proc = ws.start_daemon()
    assert "Overall progress" in ws.ok("show progress")
    proc.send_signal(signal.SIGHUP)
    assert proc.wait(timeout=30) == 0
    assert "received SIGHUP; stopping" in ws.log() and "wtd stopped" in ws.log()
    assert not ws.sock.exists()  # no stale socket left behind


def test_autostart_never_appends_its_log_through_a_planted_symlink(
    ws: Workspace, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (folder / "wtd.log").symlink_to(victim)
    env = {**ws.env, "WTD_SOCKET": str(folder / "wtd.sock")}
    try:
        proc = subprocess.run(
            [str(BIN / "wtctl"), "progress"], cwd=ws.root, env=env, capture_output=True, text=True
        )
    finally:  # a wtd started all the same is stopped
        lock = folder / "wtd.sock.lock"
        if lock.exists() and lock.read_text().strip():
            os.kill(int(lock.read_text()), signal.SIGTERM)
    assert proc.returncode == 5
    assert "is not a regular file of yours" in proc.stderr and "Traceback" not in proc.stderr
    assert victim.read_text() == "precious\n"
    assert not (folder / "wtd.sock").exists()  # no wtd was started


def test_a_bad_failpoint_is_named_once(ws: Workspace) -> None:
    proc = subprocess.run(
        [str(BIN / "wtd"), "--socket", str(ws.sock)],
        env={**ws.env, "WT_FAILPOINTS": "store.wirte=1*eagain"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("wtd: WT_FAILPOINTS: unknown failpoint 'store.wirte'")
    assert proc.stderr.count("WT_FAILPOINTS") == 1


def test_a_project_moved_while_a_change_is_written_is_not_made_again(ws: Workspace) -> None:
    # the project folder renamed (mv) while wtd wrote a change: wtd made the old path
    # again (every missing folder up to the workspace) and wrote the tracker there —
    # an acknowledged change in a copy nobody uses, missing from the project moved
    ws.ok("show progress")  # opened, the stale progress corrected
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "store.write=1*delay(1500)"})
    moved = ws.root.with_name("moved")
    proc = subprocess.Popen(
        [str(BIN / "wtctl"), "--tracker", str(ws.md), "add task to phase 3: Written on the move"],
        env=ws.env,
        cwd="/",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.7)  # the change is in the Store, its write delayed
    ws.root.rename(moved)
    out, err = proc.communicate(timeout=60)
    assert not ws.root.exists(), sorted(str(p) for p in ws.root.rglob("*"))
    names = [
        t["name"] for t in json.loads((moved / ws.json.relative_to(ws.root)).read_text())["tasks"]
    ]
    if proc.returncode == 0:  # acknowledged: in the project, where it is now
        assert "Written on the move" in names, out + err
    else:  # a reported failure: never applied, not even once the project is opened again
        assert proc.returncode == 1 and "workspace still exists" in err, out + err
        history = subprocess.run(
            [str(BIN / "wtctl"), "--tracker", str(moved / "docs/plans/my-project.md"), "history"],
            env=ws.env,
            cwd="/",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert history.returncode == 0 and "Written on the move" not in history.stdout
        assert "Written on the move" not in (moved / "docs/plans/my-project.md").read_text()
