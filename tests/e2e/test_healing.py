"""End to end: each failpoint action against a real wtd shows the promised recovery."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from typing import Any

import jsonschema
import pytest

from tests.e2e.conftest import BIN, Workspace

pytestmark = pytest.mark.e2e

FAST = {"WT_RETRY_DELAY": "0.01"}


def restart_with(ws: Workspace, failpoints: str, **env: str) -> None:
    """Serve the (already corrected) example with a daemon that has ``failpoints``."""
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({**FAST, **env, "WT_FAILPOINTS": failpoints})


@pytest.mark.parametrize(
    ("failpoints", "attempts"),
    [
        ("store.write=1*eagain", 2),
        ("store.write=1*timeout", 2),
        ("journal.append=2*eagain", 3),
        ("store.read=1*eagain", 2),
    ],
)
def test_transient_faults_are_retried_to_success(
    ws: Workspace, failpoints: str, attempts: int
) -> None:
    restart_with(ws, failpoints)  # a fresh daemon: store.read is hit by its first open
    proc = ws.wtctl("mark task 2.3 in progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    for n in range(1, attempts):
        assert lines[2 * (n - 1)].startswith(f"✓ Attempt {n}: ")
        assert lines[2 * (n - 1) + 1] == "✓ Recovery: Exponential backoff retry"
    assert lines[2 * (attempts - 1)] == f"✓ Attempt {attempts}: Success"
    assert ws.task("2.3")["status"] == "in_progress"
    assert "| 2.3 | Watch files for hand edits | 🔄 In Progress |" in ws.md.read_text()
    knowledge = ws.ok("show knowledge")
    assert "RETRY: 1/1 succeeded" in knowledge


def test_circuit_opens_refuses_writes_serves_reads_and_closes_after_a_probe(
    ws: Workspace,
) -> None:
    restart_with(
        ws,
        "store.write=5*eagain",
        WT_RETRY_MAX="3",
        WT_CIRCUIT_THRESHOLD="5",
        WT_CIRCUIT_TIMEOUT="1",
    )
    json_before = ws.json.read_bytes()
    first = ws.wtctl("add task to phase 3: First try")
    assert first.returncode == 1 and "Gave up after 3 attempts" in first.stderr
    second = ws.wtctl("add task to phase 3: Second try")
    assert second.returncode == 5
    assert "⚠ Circuit OPEN: Operations paused (retry in 1s)" in second.stderr
    refused = ws.wtctl("add task to phase 3: While open")
    assert refused.returncode == 5
    assert refused.stderr.startswith("⚠ Circuit OPEN: Operations paused (retry in ")
    assert "reset circuit" in refused.stderr and "health" in refused.stderr  # what to do
    read = ws.wtctl("--show-health", "--verbose", "show progress")
    assert read.returncode == 0 and "Overall progress: 44%" in read.stdout
    assert "Health: CRITICAL" in read.stdout
    assert "Circuit storage:my-project: OPEN" in read.stdout
    assert ws.json.read_bytes() == json_before  # nothing refused or failed was applied
    time.sleep(1.1)  # the circuit's own timeout: time itself is what is tested here
    probe = ws.wtctl("add task to phase 3: After the timeout")
    assert probe.returncode == 0, probe.stderr
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert "After the timeout" in names
    assert not {"First try", "Second try", "While open"} & set(names)
    assert "Circuit storage:my-project: CLOSED" in ws.ok("--show-health", "--verbose", "progress")


def test_reset_circuit_closes_it_at_once(ws: Workspace) -> None:
    restart_with(ws, "store.write=2*eacces", WT_CIRCUIT_THRESHOLD="2", WT_CIRCUIT_TIMEOUT="600")
    assert ws.wtctl("mark task 2.3 done").returncode == 1
    assert ws.wtctl("mark task 2.3 done").returncode == 1
    assert ws.wtctl("mark task 2.3 done").returncode == 5
    out = ws.ok("reset circuit")
    assert "Every circuit breaker is CLOSED." in out
    ws.ok("mark task 2.3 done")
    assert ws.task("2.3")["status"] == "complete"


@pytest.mark.parametrize(
    ("failpoints", "advice"),
    [
        ("store.write=1*eacces", "permissions"),
        ("store.write=1*enospc", "disk space"),
        ("journal.append=1*enospc", "disk space"),
    ],
)
def test_resource_faults_are_escalated_and_nothing_is_applied(
    ws: Workspace, failpoints: str, advice: str
) -> None:
    restart_with(ws, failpoints)
    json_before, md_before = ws.json.read_bytes(), ws.md.read_bytes()
    proc = ws.wtctl("add task to phase 3: Must not appear")
    assert proc.returncode == 1
    assert advice in proc.stderr
    assert "✓ Recovery: Escalated" in proc.stdout
    assert ws.json.read_bytes() == json_before and ws.md.read_bytes() == md_before
    ws.kill_daemon()
    ws.start_daemon()
    ws.ok("progress")
    assert all(t.get("name") != "Must not appear" for t in ws.data()["tasks"])


def test_a_corrupt_write_is_caught_and_rewritten(ws: Workspace, schema: dict[str, Any]) -> None:
    restart_with(ws, "store.write=1*corrupt")
    proc = ws.wtctl("mark task 2.3 in progress")
    assert proc.returncode == 0, proc.stderr
    assert "checksum mismatch" in proc.stdout
    assert "changed outside wtd" not in proc.stdout  # its own damaged write is not a hand edit
    quarantine = ws.root / ".ecw" / "quarantine"
    assert not quarantine.exists() or not any(quarantine.rglob("*.json"))
    jsonschema.validate(ws.data(), schema)
    assert ws.task("2.3")["status"] == "in_progress"


def _damage(ws: Workspace, how: str) -> None:
    if how == "truncated":
        ws.json.write_bytes(ws.json.read_bytes()[:100])
    elif how == "garbage":
        ws.json.write_bytes(b"\x00\xffnot json at all" * 10)
    elif how == "deleted":
        ws.json.unlink()
    elif how == "schema-invalid":
        data = ws.data()
        data["tasks"][0]["id"] = "not-an-id"
        ws.json.write_text(json.dumps(data))


@pytest.mark.parametrize("how", ["truncated", "garbage", "deleted", "schema-invalid"])
def test_damaged_json_is_repaired_from_backup_and_journal(
    ws: Workspace, schema: dict[str, Any], how: str
) -> None:
    ws.ok("show progress")  # first open: the as-found backup
    acked = [f"Acknowledged {n}" for n in range(1, 6)]
    for name in acked:
        ws.ok(f"add task to phase 3: {name}")
    ws.ok("mark task 2.2 complete")
    broken = ws.json.read_bytes()
    ws.kill_daemon()
    _damage(ws, how)
    damaged = ws.json.read_bytes() if ws.json.exists() else None
    proc = ws.wtctl("show progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ Recovery: Rebuilt from backup" in proc.stdout
    assert "✓ Result: Tracker repaired (0 acknowledged changes lost)" in proc.stdout
    assert "Overall progress: 36%" in proc.stdout  # 5 of 14 counted tasks
    data = ws.data()
    jsonschema.validate(data, schema)
    assert ws.json.read_bytes() == broken  # exactly the acknowledged state again
    names = [t.get("name") for t in data["tasks"]]
    assert all(name in names for name in acked)
    if damaged is not None:
        kept = list((ws.root / ".ecw" / "quarantine" / "my-project").glob("*my-project.json"))
        assert [k.read_bytes() for k in kept] == [damaged]


def test_damage_while_serving_is_repaired_and_the_damage_kept(ws: Workspace) -> None:
    ws.ok("mark task 2.2 complete")
    good = ws.json.read_bytes()
    ws.json.write_bytes(good[:50])
    ws.ok("sync")  # the watcher may have repaired it already; sync makes sure
    assert ws.json.read_bytes() == good
    kept = list((ws.root / ".ecw" / "quarantine" / "my-project").glob("*my-project.json"))
    assert good[:50] in [k.read_bytes() for k in kept]


def test_crash_at_the_journal_is_recovered_and_applied_once(ws: Workspace) -> None:
    restart_with(ws, "journal.append=1*crash")
    proc = ws.wtctl("add task to phase 3: Once only")
    assert proc.returncode == 0, proc.stderr + ws.log()
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert names.count("Once only") == 1


def test_retries_that_never_work_are_escalated_at_once(ws: Workspace) -> None:
    restart_with(ws, "store.write=eagain", WT_RETRY_MAX="2", WT_CIRCUIT_THRESHOLD="100")
    for _ in range(3):
        proc = ws.wtctl("mark task 2.3 done")
        assert proc.returncode == 1 and "Gave up after 2 attempts" in proc.stderr
    proc = ws.wtctl("mark task 2.3 done")
    assert proc.returncode == 1
    assert "Attempt 2" not in proc.stdout
    assert "never succeeded (0 of 3)" in proc.stdout
    knowledge = ws.ok("show knowledge")
    assert "store.write:EAGAIN [TRANSIENT]" in knowledge
    assert "retries never worked" in knowledge
    stored = json.loads((ws.root / ".ecw" / "knowledge.json").read_text())
    assert stored["patterns"]["store.write:EAGAIN"]["recoveries"]["RETRY"]["successes"] == 0


def test_a_symptom_given_up_on_is_retried_again_by_a_new_daemon(ws: Workspace) -> None:
    restart_with(ws, "store.write=eagain", WT_RETRY_MAX="2", WT_CIRCUIT_THRESHOLD="100")
    for _ in range(4):  # three retry runs that never work: the fourth is escalated
        assert ws.wtctl("mark task 2.3 done").returncode == 1
    assert "retries never worked" in ws.ok("show knowledge")
    # the storage is well again; one EAGAIN now is what retrying is for
    ws.kill_daemon()
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "store.write=1*eagain"})
    proc = ws.wtctl("mark task 2.3 done")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ Attempt 2: Success" in proc.stdout
    assert ws.task("2.3")["status"] == "complete"
    assert "retries never worked" not in ws.ok("show knowledge")


def test_an_actor_crash_is_survived_without_losing_the_request(ws: Workspace) -> None:
    ws.start_daemon({"WT_FAILPOINTS": "executor.receive=1*eacces"})
    proc = ws.wtctl("mark task 2.3 in progress")
    assert proc.returncode == 0, proc.stderr + ws.log()
    assert ws.task("2.3")["status"] == "in_progress"
    log = ws.log()
    assert "actor executor crashed" in log and "restarting actor executor" in log


def test_a_crash_loop_stops_the_daemon_with_an_error(ws: Workspace) -> None:
    daemon = ws.start_daemon({"WT_FAILPOINTS": "executor.receive=eacces"})
    for _ in range(6):
        if daemon.poll() is not None:
            break
        ws.wtctl("--no-autostart", "progress")
    assert daemon.wait(timeout=30) == 70
    assert "crashed" in ws.log()


def test_watchdog_pings_arrive_while_actors_answer(ws: Workspace) -> None:
    path = ws.sock.parent / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(path))
    listener.settimeout(20)
    try:
        ws.start_daemon({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "200000"})
        seen = [listener.recv(64).decode() for _ in range(3)]
    finally:
        listener.close()
    assert seen[0] == "READY=1"
    assert seen[1:] == ["WATCHDOG=1", "WATCHDOG=1"]


def test_sigterm_stops_the_daemon_cleanly(ws: Workspace) -> None:
    daemon = ws.start_daemon()
    ws.ok("mark task 2.3 done")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=30) == 0
    assert not ws.sock.exists()
    assert ws.task("2.3")["status"] == "complete"
    proc = subprocess.run(
        [str(BIN / "wtctl"), "--no-autostart", "progress"],
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 5


def test_requests_queued_behind_a_repair_do_not_repair_again(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    ws.json.write_bytes(b"garbage" * 10)
    procs = [
        subprocess.Popen(
            [str(BIN / "wtctl"), "--tracker", str(ws.md), "show progress"],
            env=ws.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert all("Overall progress: 44%" in out for out in outs), outs
    kept = list((ws.root / ".ecw" / "quarantine" / "my-project").glob("*my-project.json"))
    assert [k.read_bytes() for k in kept] == [b"garbage" * 10]  # only the broken file


@pytest.mark.parametrize("current", ["empty", "missing"])
def test_a_journal_damaged_in_a_rotated_segment_is_kept_and_wtd_serves_again(
    ws: Workspace, current: str
) -> None:
    for i in range(6):
        ws.ok(f"add task to phase 1: journalled {i}")
    before = ws.data()
    ws.kill_daemon()
    wal = ws.root / ".ecw" / "journal" / "my-project.wal"
    data = bytearray(wal.read_bytes())
    data[len(data) // 3] ^= 0xFF  # damage in the middle: good records follow it
    rotated = wal.with_name(wal.name + ".1")
    rotated.write_bytes(bytes(data))  # as if it had been rotated
    if current == "missing":
        wal.unlink()
    else:
        wal.write_bytes(b"")
    ws.start_daemon(FAST)
    proc = ws.wtctl("show progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "journal is damaged" in proc.stdout
    assert ws.data()["tasks"] == before["tasks"]  # the tracker as it was
    quarantine = ws.root / ".ecw" / "quarantine" / "my-project"
    assert any(p.read_bytes() == bytes(data) for p in quarantine.glob("*my-project.wal.1"))
    ws.ok("add task to phase 1: after the repair")  # and it takes changes again


def test_a_failed_write_leaves_a_json_found_in_another_format_as_it_was(ws: Workspace) -> None:
    """A JSON formatted by another tool, its first write by wtd refused (disk full):
    the file stays byte for byte as found — rewritten in wtd's format, it would be a
    change no journal record names, and after a crash it would be taken for an edit
    made while wtd was away (adopted, the view's own state no longer traceable)."""
    ws.json.write_text(json.dumps(ws.data(), indent=4))  # not wtd's formatting
    found = ws.json.read_bytes()
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "store.write=1*enospc"})
    ws.ok("show progress")  # opening corrects the stale progress: that write fails
    assert ws.json.read_bytes() == found
    ws.kill_daemon(signal.SIGKILL)
    ws.start_daemon(FAST)
    ws.ok("show progress")
    assert "changed while wtd was away" not in ws.log(), ws.log()[-3000:]


def test_a_backup_named_far_in_the_future_never_takes_the_tracker_down(ws: Workspace) -> None:
    # a file put in .ecw/backups/ (a repository, a clock set wrong once) whose name
    # sorts after every backup wtd would write
    folder = ws.root / ".ecw" / "backups" / "my-project"
    folder.mkdir(parents=True)
    (folder / "99991231T235959.999999Z-0.json").write_bytes(b"")
    for phrase in ("show progress", "mark task 2.2 complete", "mark task 2.3 complete"):
        proc = ws.wtctl(phrase)
        assert proc.returncode == 0, (phrase, proc.stdout, proc.stderr, ws.log()[-2000:])
    assert ws.task("2.3")["status"] == "complete"
    assert len(list(folder.glob("*.json"))) >= 2  # wtd's own backups were written too
