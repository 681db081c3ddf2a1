"""First contact: no client, shell or repository can stop wtd or lose a change.

Each test drives wtd the way users and hostile repositories do: started by wtctl's
autostart (``python -m wtd``), a second shell with another socket, raw clients that
hang up, retried request ids, symlinks planted in the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Workspace, _wait_gone
from tests.tracker.conftest import make_tracker
from wtd.tracker import model

HEADER = struct.Struct(">I")


# ---------------------------------------------------------------- raw clients


def _connect(ws: Workspace, sock: Path | None = None) -> socket.socket:
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(str(sock or ws.sock))
    _send(s, {"type": "hello", "version": 1})
    assert _recv(s)["type"] == "welcome"
    return s


def _send(s: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    s.sendall(HEADER.pack(len(body)) + body)


def _recv(s: socket.socket) -> dict[str, Any]:
    (n,) = HEADER.unpack(s.recv(4, socket.MSG_WAITALL))
    chunks = b""
    while len(chunks) < n:
        chunk = s.recv(n - len(chunks))
        assert chunk, "connection closed mid-frame"
        chunks += chunk
    reply: dict[str, Any] = json.loads(chunks)
    return reply


def _command(ws: Workspace, rid: str, phrase: str, **options: Any) -> dict[str, Any]:
    return {
        "type": "command",
        "id": rid,
        "phrase": phrase,
        "cwd": str(ws.root),
        "tracker": str(ws.md),
        "options": options,
    }


def _ask(ws: Workspace, rid: str, phrase: str, **options: Any) -> dict[str, Any]:
    s = _connect(ws)
    try:
        _send(s, _command(ws, rid, phrase, **options))
        return _recv(s)
    finally:
        s.close()


def _autostarted(ws: Workspace) -> int:
    """Start wtd as users do: wtctl's autostart (``python -m wtd``). Its pid."""
    ws.ok("show progress")
    pid = ws.daemon_pid()
    assert pid is not None
    return pid


def _status(ws: Workspace, task_id: str) -> str:
    return str(ws.task(task_id)["status"])


# ---------------------------------------------------------------- clients hanging up


def test_clients_hanging_up_before_their_reply_leave_the_autostarted_wtd_serving(
    ws: Workspace,
) -> None:
    pid = _autostarted(ws)
    for i in range(20):
        s = _connect(ws)
        _send(s, _command(ws, f"hangup-{i}", "list tasks"))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()  # before the reply: the daemon's write gets EPIPE/ECONNRESET
    # a partial frame and junk, as `printf '\0\0\0\5{"a":' | nc -U` sends
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(ws.sock))
    s.sendall(b'\0\0\0\x05{"a":')
    s.close()
    out = ws.ok("mark task 2.3 complete")
    assert "2.3" in out
    assert ws.daemon_pid() == pid and _alive(pid)
    assert _status(ws, "2.3") == "complete"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_wtctl_into_a_closed_pipe_ends_quietly(ws: Workspace) -> None:
    ws.json.write_bytes(model.encode(make_tracker(3000)))
    proc = subprocess.run(
        ["bash", "-c", f'"{BIN / "wtctl"}" --tracker "{ws.md}" "list tasks" | head -1'],
        capture_output=True,
        text=True,
        env=ws.env,
        cwd=ws.root,
        timeout=60,
    )
    assert proc.stdout.count("\n") == 1
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_replies_over_a_mebibyte_arrive_whole(ws: Workspace) -> None:
    ws.json.write_bytes(model.encode(make_tracker(20_000)))
    proc = ws.wtctl("--json", "list tasks", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout) > 1 << 20
    doc = json.loads(proc.stdout)
    assert doc["ok"] and len(doc["result"]) == 20_000


# ---------------------------------------------------------------- two daemons


def _other_shell(ws: Workspace) -> tuple[dict[str, str], Path]:
    folder = Path(tempfile.mkdtemp(prefix="wtd-test-2-", dir="/tmp"))
    return {**ws.env, "WTD_SOCKET": str(folder / "wtd.sock")}, folder


def _wtctl(env: dict[str, str], ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "wtctl"), "--tracker", str(ws.md), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ws.root,
        timeout=60,
    )


@pytest.fixture
def second_shell(ws: Workspace) -> Iterator[tuple[dict[str, str], Path]]:
    env, folder = _other_shell(ws)
    try:
        yield env, folder
    finally:
        lock = folder / "wtd.sock.lock"
        if lock.exists() and lock.read_text().strip():
            pid = int(lock.read_text())
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
        shutil.rmtree(folder, ignore_errors=True)


def test_a_second_shell_with_another_socket_is_served_by_the_workspace_owner(
    ws: Workspace, second_shell: tuple[dict[str, str], Path]
) -> None:
    env, _folder = second_shell
    owner = _autostarted(ws)
    lock = json.loads((ws.root / ".ecw" / "wtd.lock").read_text())
    assert lock == {"pid": owner, "socket": str(ws.sock)}
    renamed = _wtctl(env, ws, "rename task 1.1 to Renamed from the second shell")
    assert renamed.returncode == 0, renamed.stderr
    ws.ok("mark task 3.2 complete")  # the first shell keeps working alongside
    again = _wtctl(env, ws, "start task 2.1")
    assert again.returncode == 0, again.stderr
    data = ws.data()
    assert ws.task("1.1")["name"] == "Renamed from the second shell"
    assert _status(ws, "3.2") == "complete" and _status(ws, "2.1") == "in_progress"
    history = ws.ok("history")
    assert "Renamed from the second shell" in history and "2.1" in history
    assert not (ws.root / ".ecw" / "quarantine").exists()
    assert data["tasks"]  # and the JSON is whole


def test_an_owner_whose_socket_is_removed_stops_and_another_shell_takes_over(
    ws: Workspace, second_shell: tuple[dict[str, str], Path]
) -> None:
    # the owner kept running and holding its lock with no socket (tmpfiles cleaning
    # /tmp/wtd-$UID, an rm): every shell's wtctl was refused with exit 5 ("another
    # wtd is serving") until someone killed it by hand
    env, _folder = second_shell
    pid = _autostarted(ws)
    ws.ok("mark task 1.1 pending")
    ws.sock.unlink()
    _wait_gone(pid)  # it stops by itself, cleanly
    assert "was removed or replaced: stopping" in ws.log()
    proc = _wtctl(env, ws, "mark task 3.1 complete")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _status(ws, "1.1") == "pending" and _status(ws, "3.1") == "complete"
    again = ws.wtctl("mark task 3.2 complete")  # the first shell's wtctl too
    assert again.returncode == 0, again.stdout + again.stderr


def test_a_session_sent_to_an_owner_that_dies_is_settled_by_its_own_wtd(
    ws: Workspace, second_shell: tuple[dict[str, str], Path]
) -> None:
    # a wtctl sent to the owner kept to it: once the owner was killed, its next
    # request ended with exit 5 "not known" (the owner's socket refused it), though
    # its own wtd could take the workspace over and answer the same request id
    env, folder = second_shell
    _autostarted(ws)
    batch = subprocess.Popen(
        [str(BIN / "wtctl"), "--json", "--tracker", str(ws.md)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ws.root,
    )
    assert batch.stdin is not None and batch.stdout is not None
    batch.stdin.write("mark task 1.1 pending\n")
    batch.stdin.flush()
    first = json.loads(batch.stdout.readline())
    assert first["ok"], first
    ws.kill_daemon()  # SIGKILL of the owner (waited for), the session still connected to it
    out, err = batch.communicate("mark task 3.2 complete\n", timeout=60)
    second = json.loads(out.splitlines()[0])
    assert batch.returncode == 0 and second["ok"], out + err
    assert _status(ws, "1.1") == "pending" and _status(ws, "3.2") == "complete"
    lock = json.loads((ws.root / ".ecw" / "wtd.lock").read_text())
    assert lock["socket"] == str(folder / "wtd.sock")  # the second shell's wtd took over


def _changes_from_two_shells(ws: Workspace, env: dict[str, str], n: int) -> list[str]:
    """``n`` tasks added from each shell at once; the names of those acknowledged."""
    names = [f"From shell {k} #{i}" for i in range(n) for k in (1, 2)]
    procs = [
        subprocess.Popen(
            [str(BIN / "wtctl"), "--tracker", str(ws.md), f"add task to phase 3: {name}"],
            env=ws.env if name.startswith("From shell 1") else env,
            cwd=ws.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name in names
    ]
    return [name for name, p in zip(names, procs, strict=True) if p.wait(timeout=120) == 0]


def test_a_removed_lock_file_lets_no_second_daemon_write_the_workspace(
    ws: Workspace, second_shell: tuple[dict[str, str], Path]
) -> None:
    # git clean -X (or rm) removes .ecw/wtd.lock: a second shell's daemon took a new
    # lock file and served the workspace beside the first, and acknowledged changes
    # were lost (40 added, 34 kept)
    env, _folder = second_shell
    owner = _autostarted(ws)
    (ws.root / ".ecw" / "wtd.lock").unlink()
    # the second shell's daemon cannot lock .ecw, finds the owner from the kernel's
    # locks, and the request is sent to it
    sent = _wtctl(env, ws, "mark task 1.1 complete")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert _status(ws, "1.1") == "complete"
    # the owner makes its lock file again once it looks (a second at most, at a request)
    lock = ws.root / ".ecw" / "wtd.lock"
    deadline = time.monotonic() + 30
    while not (lock.exists() and lock.read_text().strip()):
        assert time.monotonic() < deadline, "the owner never made its lock file again"
        ws.ok("show progress")
    assert json.loads(lock.read_text()) == {"pid": owner, "socket": str(ws.sock)}
    acknowledged = _changes_from_two_shells(ws, env, 10)
    assert len(acknowledged) == 20  # the second shell is sent to the owner
    names = {t["name"] for t in ws.data()["tasks"]}
    assert set(acknowledged) <= names
    assert not (ws.root / ".ecw" / "quarantine").exists()


def test_changes_from_two_shells_just_after_the_lock_file_went_are_all_kept(
    ws: Workspace, second_shell: tuple[dict[str, str], Path]
) -> None:
    env, _folder = second_shell
    _autostarted(ws)
    (ws.root / ".ecw" / "wtd.lock").unlink()
    acknowledged = _changes_from_two_shells(ws, env, 10)
    assert len(acknowledged) >= 10  # the first shell's; the second's are refused or sent
    names = [t["name"] for t in ws.data()["tasks"]]
    missing = [name for name in acknowledged if name not in names]
    assert missing == []
    assert len(names) == len(set(names))
    assert not (ws.root / ".ecw" / "quarantine").exists()


def test_an_ecw_replaced_by_a_copy_is_never_written_by_two_daemons(
    ws: Workspace, second_shell: tuple[dict[str, str], Path]
) -> None:
    # the old owner kept writing through its Store for up to a second while a second
    # shell's daemon locked the copy and served it: acknowledged changes were lost
    env, _folder = second_shell
    _autostarted(ws)
    assert _wtctl(env, ws, "show progress").returncode == 0  # its own daemon runs too
    ecw = ws.root / ".ecw"
    copy = ws.root / "ecw-copy"
    shutil.copytree(ecw, copy, symlinks=True)
    shutil.rmtree(ecw)
    copy.rename(ecw)
    acknowledged = _changes_from_two_shells(ws, env, 6)
    names = [t["name"] for t in ws.data()["tasks"]]
    missing = [name for name in acknowledged if name not in names]
    assert missing == [], (missing, acknowledged)
    assert len(names) == len(set(names))
    assert "Overall progress" in ws.ok("show progress")


# ---------------------------------------------------------------- at most once


def test_a_retried_undo_reverts_one_change_and_gets_the_first_reply(ws: Workspace) -> None:
    _autostarted(ws)
    ws.ok("mark task 2.3 complete")
    ws.ok("mark task 3.1 complete")
    first = _ask(ws, "undo-1", "undo")
    assert first["ok"], first
    assert [_ask(ws, "undo-1", "undo") for _ in range(2)] == [first, first]
    assert _status(ws, "3.1") == "pending" and _status(ws, "2.3") == "complete"


def test_a_retried_undo_after_kill_9_is_still_answered_not_applied(ws: Workspace) -> None:
    _autostarted(ws)
    ws.ok("mark task 2.3 complete")
    ws.ok("mark task 3.1 complete")
    first = _ask(ws, "undo-2", "undo")
    assert first["ok"], first
    ws.kill_daemon(signal.SIGKILL)
    _autostarted(ws)
    again = _ask(ws, "undo-2", "undo")
    assert again["ok"] and again["lines"] == first["lines"]
    assert _status(ws, "2.3") == "complete" and _status(ws, "3.1") == "pending"


def test_retried_delete_and_restore_get_their_first_replies(ws: Workspace) -> None:
    _autostarted(ws)
    deleted = _ask(ws, "delete-1", "delete tracker", skip_consent=True)
    assert deleted["ok"], deleted
    assert _ask(ws, "delete-1", "delete tracker", skip_consent=True) == deleted
    restored = _ask(ws, "restore-1", "restore tracker")
    assert restored["ok"], restored
    assert ws.json.exists()
    ws.kill_daemon(signal.SIGKILL)
    _autostarted(ws)
    again = _ask(ws, "restore-1", "restore tracker")
    assert again["ok"] and again["lines"] == restored["lines"]
    retried_delete = _ask(ws, "delete-1", "delete tracker", skip_consent=True)
    assert retried_delete["ok"] and ws.json.exists()


def test_a_request_id_too_long_to_journal_is_refused(ws: Workspace) -> None:
    _autostarted(ws)
    before = ws.json.read_bytes()
    s = _connect(ws)
    _send(s, _command(ws, "x" * 100_000, "add task to phase 3: Long id"))
    reply = _recv(s)
    s.close()
    assert reply["type"] == "protocol_error" and reply["code"] == "bad_request", reply
    assert ws.json.read_bytes() == before
    assert "Overall progress" in ws.ok("show progress")


def test_a_relative_or_empty_working_folder_is_refused(ws: Workspace) -> None:
    _autostarted(ws)
    for cwd in ("", "project", "."):
        s = _connect(ws)
        _send(s, {**_command(ws, f"cwd-{cwd}", "show progress"), "cwd": cwd, "tracker": None})
        reply = _recv(s)
        s.close()
        assert reply["exit_code"] == 2 and "absolute" in reply["error"]["message"]


# ---------------------------------------------------------------- symlinks


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("do not touch\n")
    return outside


def _untouched(victim: Path) -> None:
    assert sorted(p.name for p in victim.iterdir()) == ["precious.txt"]
    assert (victim / "precious.txt").read_text() == "do not touch\n"


def test_a_symlinked_journal_is_refused_and_its_target_untouched(
    ws: Workspace, victim: Path
) -> None:
    journal = ws.root / ".ecw" / "journal"
    journal.mkdir(parents=True)
    (journal / "my-project.wal").symlink_to(victim / "precious.txt")
    proc = ws.wtctl("show progress")
    assert proc.returncode == 4
    assert "symlink" in proc.stderr and "my-project.wal" in proc.stderr
    _untouched(victim)


@pytest.mark.parametrize(
    "link", [".ecw/plans/my-project.json", "docs/plans", "docs", ".ecw/audit.log"]
)
def test_a_workspace_with_a_symlink_is_refused_and_nothing_outside_is_read(
    ws: Workspace, victim: Path, link: str
) -> None:
    path = ws.root / link
    if link.endswith(".json"):
        shutil.copy(ws.json, victim / "my-project.json")
        ws.json.unlink()
        path.symlink_to(victim / "my-project.json")
        before = (victim / "my-project.json").read_bytes()
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(victim / "precious.txt" if link.endswith(".log") else victim)
        before = b""
    pid = _autostarted_or_none(ws)
    for phrase in ("show progress", "mark task 1.1 complete", "sync"):
        proc = ws.wtctl(phrase)
        assert proc.returncode == 4, (phrase, proc.stdout, proc.stderr)
        assert "symlink" in proc.stderr
    if before:
        assert (victim / "my-project.json").read_bytes() == before
        assert sorted(p.name for p in victim.iterdir()) == ["my-project.json", "precious.txt"]
    else:
        _untouched(victim)
    conflicts = ws.root / ".ecw" / "conflicts"
    assert not conflicts.exists() or not any(conflicts.rglob("*"))
    assert pid is None or ws.daemon_pid() == pid


def _autostarted_or_none(ws: Workspace) -> int | None:
    proc = ws.wtctl("show progress")
    assert proc.returncode in (0, 4)
    return ws.daemon_pid()


def test_a_symlinked_view_is_refused_and_its_content_never_copied_in(
    ws: Workspace, victim: Path
) -> None:
    _autostarted(ws)
    ws.kill_daemon(signal.SIGTERM)
    secret = victim / "secret.md"
    secret.write_text("# Work Tracker: secret\n\nsecret content\n")
    ws.md.unlink()
    ws.md.symlink_to(secret)
    proc = ws.wtctl("mark task 1.1 complete")
    assert proc.returncode == 4, proc.stderr
    assert secret.read_text() == "# Work Tracker: secret\n\nsecret content\n"
    for path in (ws.root / ".ecw").rglob("*"):
        if path.is_file():
            assert b"secret content" not in path.read_bytes(), path


def test_a_lock_file_symlink_in_the_socket_folder_is_not_followed(
    ws: Workspace, victim: Path
) -> None:
    ws.sock.parent.mkdir(parents=True, exist_ok=True)
    ws.sock.with_name("wtd.sock.lock").symlink_to(victim / "precious.txt")
    proc = subprocess.run(
        [str(BIN / "wtd"), "--socket", str(ws.sock)],
        capture_output=True,
        text=True,
        env=ws.env,
        timeout=30,
    )
    assert proc.returncode == 1 and "symlink" in proc.stderr
    _untouched(victim)
    ws.sock.with_name("wtd.sock.lock").unlink()


def test_a_hostile_trash_manifest_cannot_send_files_outside(ws: Workspace, victim: Path) -> None:
    _autostarted(ws)
    assert _ask(ws, "del", "delete tracker", skip_consent=True)["ok"]
    (entry,) = (ws.root / ".ecw" / "trash").iterdir()
    manifest = json.loads((entry / "manifest.json").read_text())
    manifest["files"]["tracker.json"] = str(victim / "planted.json")
    (entry / "manifest.json").write_text(json.dumps(manifest))
    restored = _ask(ws, "res", "restore tracker")
    assert restored["ok"], restored
    assert ws.json.exists()
    _untouched(victim)


@pytest.mark.parametrize("fifo", ["docs/plans/my-project.md", "CLAUDE.md"])
def test_a_fifo_where_a_file_is_expected_never_hangs_wtd(ws: Workspace, fifo: str) -> None:
    # a named pipe (shipped in a repository, or made by mistake) blocks whoever opens
    # it for reading until someone writes to it: wtd must not wait on it
    path = ws.root / fifo
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    for phrase in ("show progress", "mark task 2.2 complete", "show progress"):
        proc = ws.wtctl(phrase, timeout=20)
        assert proc.returncode == 0, (phrase, proc.stdout, proc.stderr)
    assert ws.task("2.2")["status"] == "complete"
    assert "2.2" in ws.md.read_text()  # the view is a file again, rendered by wtd


def test_a_hard_linked_backup_log_is_left_alone_and_changes_go_on(
    ws: Workspace, victim: Path
) -> None:
    # the backups' log is a note: one wtd may not write leaves the backups standing
    log = ws.root / ".ecw" / "backups" / "my-project" / "backups.log"
    log.parent.mkdir(parents=True)
    os.link(victim / "precious.txt", log)
    ws.ok("show progress")  # opening takes a backup, and would log it
    ws.ok("mark task 2.2 complete")
    assert any(log.parent.glob("*.json"))
    assert " crashed" not in ws.log()
    _untouched(victim)


@pytest.mark.parametrize("name", [".ecw/journal/my-project.wal", ".ecw/wtd.lock", ".ecw/audit.log"])
def test_a_hard_link_in_the_workspace_is_refused_and_the_file_it_shares_untouched(
    ws: Workspace, victim: Path, name: str
) -> None:
    # wtd writes these files in place: through a second name (a link planted in an
    # archive, or a `cp -al` snapshot) the writes would land in the other file
    path = ws.root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    os.link(victim / "precious.txt", path)
    refused = 0
    for phrase in ("show progress", "mark task 2.2 complete", "mark phase 3 complete"):
        proc = ws.wtctl("--skip-consent", phrase)
        if proc.returncode == 0:  # the audit log is written only for what it records
            continue
        assert proc.returncode == 4, (phrase, proc.stdout, proc.stderr)
        assert "hard link" in proc.stderr and name.rsplit("/", 1)[1] in proc.stderr
        refused += 1
    assert refused
    _untouched(victim)


def test_a_tracker_file_whose_name_is_not_utf8_is_passed_over(ws: Workspace) -> None:
    # git stores names as bytes: a repository can hold one no UTF-8 text spells
    plans = os.fsencode(ws.json.parent)
    with open(plans + b"/bad\xff\xfe.json", "wb") as out:
        out.write(ws.json.read_bytes())
    for phrase in ("show progress", "list trackers", "mark task 2.2 complete"):
        proc = ws.wtctl(phrase, tracker=False)
        assert proc.returncode == 0, (phrase, proc.stdout, proc.stderr, ws.log()[-2000:])
    assert ws.task("2.2")["status"] == "complete"
    named = ws.wtctl("--tracker", ".ecw/plans/bad\udcff\udcfe.json", "show progress", tracker=False)
    assert named.returncode == 2 and "UTF-8" in named.stderr, (named.stdout, named.stderr)


def test_batch_mode_answers_a_line_that_is_not_utf8_and_goes_on(ws: Workspace) -> None:
    proc = subprocess.run(
        [str(BIN / "wtctl"), "--tracker", str(ws.md)],
        input=b"show progress\nmark task \xff 2.2 complete\nmark task 2.2 complete\n",
        capture_output=True,
        env=ws.env,
        cwd=ws.root,
        timeout=60,
    )
    err = proc.stderr.decode(errors="replace")
    assert "Traceback" not in err and "UTF-8" in err, err
    assert proc.returncode == 2  # the bad line's, the others answered
    assert ws.task("2.2")["status"] == "complete"


# ---------------------------------------------------------------- the socket


def _config(ws: Workspace, text: str) -> dict[str, str]:
    path = ws.sock.parent / "wtd.toml"
    path.write_text(text)
    return {"WTD_CONFIG": str(path)}


def test_a_frame_left_unfinished_is_closed_after_the_deadline(ws: Workspace) -> None:
    ws.start_daemon(_config(ws, "[daemon]\nframe_timeout = 0.3\n"))
    s = _connect(ws)
    s.sendall(HEADER.pack(100) + b'{"type":')  # and never the rest
    reply = _recv(s)
    assert reply["type"] == "protocol_error" and reply["code"] == "timeout"
    assert s.recv(1) == b""  # closed
    s.close()
    assert "Overall progress" in ws.ok("show progress")


def test_connections_past_the_cap_are_told_busy(ws: Workspace) -> None:
    ws.start_daemon(_config(ws, "[daemon]\nmax_connections = 3\n"))
    held = [_connect(ws) for _ in range(3)]
    extra = socket.socket(socket.AF_UNIX)
    extra.settimeout(30)
    extra.connect(str(ws.sock))
    reply = _recv(extra)
    assert reply["type"] == "protocol_error" and reply["code"] == "busy"
    extra.close()
    for s in held:
        s.close()
    assert "Overall progress" in ws.ok("show progress")


def test_a_socket_folder_that_cannot_be_made_is_told_not_a_traceback(ws: Workspace) -> None:
    blocker = ws.sock.parent / "a-file"
    blocker.write_text("")
    env = {**ws.env, "WTD_SOCKET": str(blocker / "wtd.sock")}
    proc = subprocess.run(
        [str(BIN / "wtctl"), "--tracker", str(ws.md), "progress"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 5, proc.stdout + proc.stderr
    assert "cannot be written" in proc.stderr and "Traceback" not in proc.stderr


def _start_with_limit(ws: Workspace, soft: int, hard: int) -> subprocess.Popen[bytes]:
    import resource

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    read_fd, write_fd = os.pipe()
    log = open(ws.sock.parent / "wtd.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(BIN / "wtd"), "--socket", str(ws.sock), "--ready-fd", str(write_fd)],
        env=ws.env,
        stdout=log,
        stderr=log,
        pass_fds=(write_fd,),
        preexec_fn=low_limit,
    )
    log.close()
    os.close(write_fd)
    assert os.read(read_fd, 1) == b"1"
    os.close(read_fd)
    return proc


def _open_limit(pid: int) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    raise AssertionError("no open files limit")


def test_wtd_raises_its_open_files_limit_to_the_hard_one(ws: Workspace) -> None:
    proc = _start_with_limit(ws, 64, 4096)
    try:
        assert _open_limit(proc.pid) == 4096
        assert "Overall progress" in ws.ok("show progress")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_workspaces_removed_do_not_keep_wtd_s_files_open(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # each workspace held its lock (and .ecw) open for the daemon's life, deleted or
    # not: temporary workspaces ran wtd out of files, and every request then failed
    # with "Internal error (OSError)"
    proc = _start_with_limit(ws, 40, 40)
    try:
        ws.ok("show progress")
        for k in range(12):
            root = tmp_path_factory.mktemp(f"tmpws{k}")
            (root / ".ecw" / "plans").mkdir(parents=True)
            (root / ".ecw" / "plans" / "t.json").write_bytes(ws.json.read_bytes())
            done = subprocess.run(
                [str(BIN / "wtctl"), "--tracker", str(root / "docs/plans/t.md"), "progress"],
                env=ws.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode in (0, 5), done.stdout + done.stderr
            if done.returncode == 5:  # out of files: said so, never an internal error
                assert "Internal error" not in done.stderr
                assert "too many files open" in done.stderr or "open files" in done.stderr
            shutil.rmtree(root)
        held = [
            os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")
        ]
        gone = [h for h in held if h.endswith(("wtd.lock (deleted)", ".ecw (deleted)"))]
        # only the last workspace's: it is let go when the next new one is served
        assert len({h.partition("/.ecw")[0] for h in gone}) <= 1, gone
        assert "Overall progress" in ws.ok("show progress")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_flood_to_the_fd_limit_leaves_wtd_serving(ws: Workspace) -> None:
    proc = _start_with_limit(ws, 48, 48)
    try:
        ws.ok("show progress")  # the tracker's files are open too
        flood = []
        for _ in range(100):
            s = socket.socket(socket.AF_UNIX)
            s.connect(str(ws.sock))  # the listen backlog takes them all
            _send(s, {"type": "hello", "version": 1})
            flood.append(s)
        welcomed = 0
        for s in flood:  # accepted in order, until the daemon ran out of descriptors
            s.settimeout(3)
            try:
                s.recv(4, socket.MSG_WAITALL)
            except TimeoutError:
                break
            welcomed += 1
        assert welcomed < len(flood)
        for s in flood:
            s.close()
        out = ws.ok("mark task 2.3 complete")
        assert "2.3" in out and proc.poll() is None
        assert "accept failed" in ws.log()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def test_sigterm_tells_systemd_stopping(ws: Workspace) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        address = str(ws.sock.parent / "notify")
        notify.bind(address)
        notify.settimeout(30)
        proc = ws.start_daemon({"NOTIFY_SOCKET": address})
        proc.send_signal(signal.SIGTERM)
        states: list[str] = []
        while "STOPPING=1" not in states:
            states += notify.recv(4096).decode().splitlines()
        assert proc.wait(timeout=30) == 0


# ---------------------------------------------------------------- a read-only file system


@pytest.fixture
def mount_point(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(point)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield point
    finally:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_reads_keep_working_on_a_read_only_file_system(ws: Workspace, mount_point: Path) -> None:
    project = mount_point / "project"
    shutil.copytree(ws.root, project)
    other = Workspace(project, ws.sock.parent)
    other.ok("mark task 2.3 complete")
    other.kill_daemon(signal.SIGKILL)  # the journal and files as a crash leaves them
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)
    out = other.ok("show progress")
    assert "Overall progress: 56%" in out.splitlines()  # the journalled change included
    assert "reads only" in out
    assert "2.3" in other.ok("list tasks")
    before = other.json.read_bytes()
    proc = other.wtctl("mark task 3.1 complete")
    assert proc.returncode in (1, 5) and proc.stderr.strip()
    assert "Traceback" not in proc.stderr
    assert other.json.read_bytes() == before
    # remounted read-write: changes are taken again, by the same wtd
    subprocess.run(["mount", "-o", "remount,rw", str(mount_point)], check=True)
    pid = other.daemon_pid()
    other.ok("mark task 3.1 complete")
    assert other.daemon_pid() == pid
    assert _status(other, "3.1") == "complete" and _status(other, "2.3") == "complete"
    other.kill_daemon(signal.SIGTERM)


def test_a_workspace_first_served_read_only_takes_changes_once_writable(
    ws: Workspace, mount_point: Path
) -> None:
    # never served before: no .ecw/journal/ folder, no view, when the file system is
    # read-only; remounted read-write, the same wtd takes changes again
    project = mount_point / "project"
    (project / ".ecw" / "plans").mkdir(parents=True)
    shutil.copy(ws.json, project / ".ecw" / "plans" / "my-project.json")
    other = Workspace(project, ws.sock.parent)
    subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], check=True)
    assert "reads only" in other.ok("show progress")
    assert other.wtctl("mark task 3.1 complete").returncode in (1, 5)
    subprocess.run(["mount", "-o", "remount,rw", str(mount_point)], check=True)
    pid = other.daemon_pid()
    other.ok("mark task 3.1 complete")
    assert other.daemon_pid() == pid
    assert _status(other, "3.1") == "complete"
    assert "3.1" in other.md.read_text()
    other.kill_daemon(signal.SIGTERM)


def test_a_view_saved_slowly_in_place_is_merged_not_lost(ws: Workspace) -> None:
    """A writer that truncates the view, writes half, pauses, then writes the rest."""
    import time

    from tests.e2e.test_watch import eventually

    _autostarted(ws)
    text = ws.md.read_text().replace(
        "| 3.2 | Tag and publish | ⏳ Pending |", "| 3.2 | Tag and publish | ✅ Complete |"
    )
    assert "✅ Complete |" in text
    data = text.encode()
    with ws.md.open("wb") as f:
        f.write(data[: len(data) // 2])
        f.flush()
        time.sleep(1.0)  # the pause under test, not a wait for readiness
        f.write(data[len(data) // 2 :])
    eventually(lambda: _status(ws, "3.2") == "complete", "the edit merged", ws.log)
    assert "⏳ Pending |" not in ws.md.read_text().split("3.2", 1)[1].split("\n", 1)[0]


# ---------------------------------------------------------------- every reply holds


def test_a_change_that_changes_nothing_is_not_acknowledged_over_a_json_wtd_cannot_rewrite(
    ws: Workspace,
) -> None:
    """Read-your-writes holds for a change that is already so: 'uncheck' of an
    unchecked subtask writes nothing, yet its success promises the JSON on disk
    shows it. A JSON deleted by hand that wtd cannot write back (a full disk, EMFILE)
    makes it fail, never succeed over a missing file."""
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({"WT_RETRY_DELAY": "0.01", "WT_FAILPOINTS": "store.write=enospc"})
    ws.ok("show task 2.2")  # served and opened: nothing to write
    ws.json.unlink()
    proc = ws.wtctl("uncheck subtask 2.2.2")
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "disk space" in proc.stderr and "Traceback" not in proc.stderr
    assert not ws.json.exists()
    ws.kill_daemon()
    ws.start_daemon()  # space again: the JSON comes back with the change
    ws.ok("uncheck subtask 2.2.2")
    assert not ws.data()["subtasks"][1]["completed"]


def test_a_retried_change_answered_again_says_the_view_is_not_written_yet(
    ws: Workspace,
) -> None:
    """The first reply of a retried request is answered again from the journal; when
    a crash left the view behind and it cannot be written now, the answer says so
    instead of promising a view that does not show the change."""
    _autostarted(ws)
    view_before = ws.md.read_bytes()
    first = _ask(ws, "rename-1", "rename task 3.2 to Tag, sign and publish")
    assert first["ok"] and "could not be written" not in "\n".join(first["lines"]), first
    ws.kill_daemon(signal.SIGKILL)
    ws.md.write_bytes(view_before)  # the crash came before the view was written
    ws.start_daemon({"WT_FAILPOINTS": "render.write=eacces"})
    again = _ask(ws, "rename-1", "rename task 3.2 to Tag, sign and publish")
    assert again["ok"] and again["lines"][: len(first["lines"])] == first["lines"]
    assert "Tag, sign and publish" in ws.task("3.2")["name"]
    assert "could not be written yet" in again["lines"][-1], again


def test_a_retry_whose_first_try_is_journalled_is_never_told_not_applied(
    ws: Workspace,
) -> None:
    """A crash after the journal append, before the JSON write: the retry reaches a
    wtd that must replay that change to open the tracker. If that replay cannot be
    written now (disk full), the retry's outcome is unknown (exit 5: retry later),
    never "Change not applied" — the change is in the journal and will appear."""
    _autostarted(ws)
    ws.kill_daemon()
    ws.start_daemon({"WT_FAILPOINTS": "store.write=crash"})
    phrase = "add task to phase 3: Journalled before the crash"
    with pytest.raises((AssertionError, OSError, struct.error)):
        _ask(ws, "add-1", phrase)  # wtd dies writing the JSON: no reply
    ws.kill_daemon()
    ws.start_daemon({"WT_RETRY_DELAY": "0.01", "WT_FAILPOINTS": "store.write=enospc"})
    retried = _ask(ws, "add-1", phrase)
    assert not retried["ok"] and retried["exit_code"] == 5, retried
    assert retried["error"]["code"] == "outcome_unknown"
    ws.kill_daemon()
    ws.start_daemon()
    settled = _ask(ws, "add-1", phrase)
    assert settled["ok"], settled
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert names.count("Journalled before the crash") == 1


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="a bind mount needs root"
)
def test_the_same_workspace_bind_mounted_elsewhere_is_told_not_served_by_another_wtd(
    ws: Workspace, tmp_path: Path
) -> None:
    # the daemon serving the workspace refused its other path with "served by another
    # wtd (pid N)", N being its own pid, and exit 5: nothing said what to do
    alias = tmp_path / "alias"
    alias.mkdir()
    wtctl = BIN / "wtctl"
    script = f"""
        mount --bind {ws.root} {alias} || exit 99
        {wtctl} --tracker {ws.md} "mark task 1.1 pending" >/dev/null || exit 98
        {wtctl} --tracker {alias}/docs/plans/my-project.md "mark task 3.2 complete"
        echo "rc=$?"
        kill $(cat {ws.sock}.lock)
    """
    proc = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        env=ws.env,
        cwd=ws.root,
        timeout=60,
    )
    if "rc=" not in proc.stdout and proc.returncode == 99:
        pytest.skip(f"no bind mount here: {proc.stderr}")
    assert "rc=2" in proc.stdout, proc.stdout + proc.stderr
    assert "another wtd" not in proc.stderr
    assert f"which this wtd already serves as {ws.root}" in proc.stderr
    assert _status(ws, "1.1") == "pending" and _status(ws, "3.2") != "complete"
