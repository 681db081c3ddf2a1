"""End to end: agents claiming tasks (SPEC §12) with the real wtd and wtctl."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from typing import Any

import jsonschema
import pytest

from bench.harness import Client
from tests.e2e.conftest import BIN, Workspace

pytestmark = pytest.mark.e2e

CLAIMERS = 16


def _json(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    reply: dict[str, Any] = json.loads(proc.stdout)
    return reply


def _claim(ws: Workspace, task_id: str) -> dict[str, Any] | None:
    claim = ws.task(task_id).get("x_claim")
    return claim if isinstance(claim, dict) else None


def _add_tasks(ws: Workspace, n: int) -> None:
    phrases = "".join(f"add task to phase 3: job {i}\n" for i in range(n))
    proc = ws.wtctl(stdin=phrases)
    assert proc.returncode == 0, proc.stderr


def test_concurrent_claimers_each_get_a_different_task(ws: Workspace, schema: Any) -> None:
    ws.start_daemon()
    _add_tasks(ws, CLAIMERS + 4)
    argv = [str(BIN / "wtctl"), "--tracker", str(ws.md), "--json"]
    procs = [
        subprocess.Popen(
            [*argv, "--agent", f"agent-{n}", "claim next"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ws.env,
            cwd=ws.root,
        )
        for n in range(CLAIMERS)
    ]
    replies = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, (out, err)
        replies.append(json.loads(out))
    ids = [r["result"]["id"] for r in replies]
    assert len(set(ids)) == CLAIMERS, ids
    for n, reply in enumerate(replies):
        claim = _claim(ws, reply["result"]["id"])
        assert claim is not None and claim["by"] == f"agent-{n}"
        assert ws.task(reply["result"]["id"])["status"] == "in_progress"
    jsonschema.validate(ws.data(), schema)
    listed = _json(ws.wtctl("--json", "list claims"))
    assert sorted(c["id"] for c in listed["result"]) == sorted(ids)


def test_another_agents_claim_cannot_be_taken_or_released(ws: Workspace) -> None:
    ws.start_daemon()
    ws.ok("--agent", "alice", "claim task 3.1")
    for phrase in ("claim task 3.1", "release task 3.1"):
        proc = ws.wtctl("--agent", "bob", phrase)
        assert proc.returncode == 4, (proc.stdout, proc.stderr)
        assert "claimed by alice until" in proc.stderr
    assert _claim(ws, "3.1") == _json(ws.wtctl("--json", "show task 3.1"))["result"]["claim"] | {
        "lease": 1800.0
    }
    ws.ok("--agent", "alice", "release task 3.1")
    assert _claim(ws, "3.1") is None and ws.task("3.1")["status"] == "pending"


@pytest.mark.parametrize(
    "phrase",
    [
        "mark task 2.3 complete",
        "mark task 2.3 pending",
        "delete task 2.3",
        "move task 2.3 to phase 3",
    ],
)
def test_another_agent_may_not_complete_reopen_move_or_delete_a_claimed_task(
    ws: Workspace, phrase: str
) -> None:
    # completing or reopening a held task ends or empties the claim: taking it, which
    # SPEC §12 keeps from other agents (it said rc 0, and the holder's claim just went)
    ws.ok("--agent", "a2", "claim task 2.3")
    before = ws.json.read_bytes()
    for caller in (["--agent", "a3"], ["--subagent"], ["--agent", "a3", "--subagent"]):
        proc = ws.wtctl(*caller, phrase)
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "claimed by a2" in proc.stderr
    assert ws.json.read_bytes() == before
    ws.ok("--agent", "a3", 'attach evidence to task 2.3: manual_note "reviewed by a3"')  # may add
    ws.ok("--agent", "a2", "mark task 2.3 complete")  # the holder may
    assert ws.task("2.3")["status"] == "complete"


@pytest.mark.parametrize("status", ["pending", "complete", "blocked"])
def test_another_agent_may_not_change_a_claimed_task_through_a_bulk_change(
    ws: Workspace, status: str
) -> None:
    # mark phase N S changes every task of the phase: with consent (--skip-consent, or
    # a standing "always"), another agent reopened or completed a2's claimed task, rc 0
    ws.ok("--agent", "a2", "claim task 2.3")
    before = ws.json.read_bytes()
    proc = ws.wtctl("--agent", "a3", "--skip-consent", f"mark phase 2 {status}")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "claimed by a2" in proc.stderr
    assert ws.json.read_bytes() == before
    ws.ok("--agent", "a2", "--skip-consent", "mark phase 2 blocked")  # the holder may
    assert ws.task("2.3")["status"] == "blocked"


def test_marking_a_whole_phase_complete_ends_the_claims_on_its_tasks(ws: Workspace) -> None:
    # a task settled on its own loses its claim; settled by `mark phase N complete` it
    # kept it until the lease ran out: "list claims" showed it, and another agent's
    # release answered "Released task 2.3 (held by a2)"
    ws.ok("--agent", "a2", "claim task 2.3")
    ws.ok("--skip-consent", "mark phase 2 complete")
    assert ws.task("2.3")["status"] == "complete"
    assert "x_claim" not in ws.task("2.3")
    assert "2.3" not in ws.ok("list claims")


def test_another_agent_may_not_undo_a_claim_or_the_holders_change(ws: Workspace) -> None:
    # undo by a3 reverted a2's claim (releasing it) or a2's change to its task, rc 0
    ws.ok("--agent", "a2", "claim task 2.3")
    before = ws.json.read_bytes()
    proc = ws.wtctl("--agent", "a3", "undo")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "claimed by a2" in proc.stderr
    assert ws.json.read_bytes() == before
    ws.ok("--agent", "a2", "mark task 2.3 blocked")
    before = ws.json.read_bytes()
    proc = ws.wtctl("--agent", "a3", "undo")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert ws.json.read_bytes() == before
    ws.ok("--agent", "a2", "undo")  # the holder may
    assert ws.task("2.3")["status"] == "in_progress"
    ws.ok("undo")  # so may the user: the claim goes with the change undone
    assert _claim(ws, "2.3") is None


def test_the_user_may_change_a_claimed_task(ws: Workspace) -> None:
    ws.ok("--agent", "a2", "claim task 2.3")
    ws.ok("mark task 2.3 complete")
    assert ws.task("2.3")["status"] == "complete"
    assert "x_claim" not in json.dumps(ws.task("2.3"))


def test_the_user_takes_an_agents_claim_over_only_with_consent(ws: Workspace) -> None:
    """SPEC §12: the user can take over or give back an agent's live claim, with
    consent — asked each time (``always`` is not kept for it); ``no`` changes nothing."""
    ws.ok("--agent", "alice", "claim task 3.1")
    asked = ws.wtctl("claim task 3.1")
    assert asked.returncode == 3, (asked.stdout, asked.stderr)
    assert "Taking task 3.1 over from alice" in asked.stdout + asked.stderr
    declined = ws.wtctl(stdin="claim task 3.1\nno\n")
    assert "Declined" in declined.stdout
    assert (_claim(ws, "3.1") or {}).get("by") == "alice"
    taken = ws.wtctl(stdin="claim task 3.1\nalways\n")
    assert taken.returncode == 0, (taken.stdout, taken.stderr)
    assert (_claim(ws, "3.1") or {}).get("by") == "user"
    assert ws.task("3.1")["status"] == "in_progress"
    ws.ok("--agent", "alice", "claim task 2.3")
    again = ws.wtctl("release task 2.3")  # "always" was not kept: asked again
    assert again.returncode == 3, (again.stdout, again.stderr)
    assert (_claim(ws, "2.3") or {}).get("by") == "alice"


def test_next_and_show_task_name_the_holder(ws: Workspace) -> None:
    ws.start_daemon()
    ws.ok("--agent", "alice", "claim task 3.1")
    ws.ok("mark 3.1 pending")  # still claimed: next passes over it
    assert "Skipped, claimed: 3.1 (alice)" in ws.ok("next")
    assert "Claimed by: alice until" in ws.ok("show task 3.1")
    assert "| 3.1 | alice |" in ws.md.read_text()


def test_an_expired_lease_gives_the_task_back_as_wtds_change(ws: Workspace) -> None:
    ttl = 0.3
    ws.start_daemon({"WT_CLAIM_TTL": str(ttl)})
    reply = _json(ws.wtctl("--agent", "alice", "--json", "claim next"))
    task_id = reply["result"]["id"]
    time.sleep(ttl)  # the lease has to run out; no event tells the test when
    # the next request after the lease observes the release (expired before it is served)
    assert "No task is claimed." in ws.ok("list claims")
    assert ws.task(task_id)["status"] == "pending" and _claim(ws, task_id) is None
    history = ws.ok(f"history task {task_id}")
    last = history.strip().splitlines()[-1]
    assert " wtd " in last and f"Claim on task {task_id} by alice expired" in last


def test_the_daemon_gives_an_expired_lease_back_without_a_request(ws: Workspace) -> None:
    ttl = 0.2
    ws.start_daemon({"WT_CLAIM_TTL": str(ttl)})
    task_id = _json(ws.wtctl("--agent", "alice", "--json", "claim next"))["result"]["id"]
    deadline = time.monotonic() + 10  # the timer fires at the lease's end; the disk shows it
    while _claim(ws, task_id) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _claim(ws, task_id) is None and ws.task(task_id)["status"] == "pending"


def test_a_lease_ends_without_a_request_after_a_crash_too(ws: Workspace) -> None:
    # a wtd started after a crash gave claimed tasks back only once a request opened
    # their workspace: it now opens, at start, the trackers of its workspaces that
    # record claims
    ws.start_daemon({"WT_CLAIM_TTL": "1"})
    task_id = _json(ws.wtctl("--agent", "alice", "--json", "claim next"))["result"]["id"]
    ws.kill_daemon(signal.SIGKILL)
    assert _claim(ws, task_id) is not None
    ws.start_daemon()
    deadline = time.monotonic() + 15  # the lease's end, then the disk shows it
    while _claim(ws, task_id) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _claim(ws, task_id) is None and ws.task(task_id)["status"] == "pending"


def test_renewing_extends_the_lease(ws: Workspace) -> None:
    ws.start_daemon({"WT_CLAIM_TTL": "60"})
    ws.ok("--agent", "alice", "claim task 3.1")
    first = _claim(ws, "3.1")
    assert first is not None
    renewed = _json(ws.wtctl("--agent", "alice", "--json", "renew claims"))["result"]
    assert renewed["renewed"] == ["3.1"] and renewed["until"] > first["until"]
    ws.ok("--agent", "alice", "rename task 3.1 to Write the changelog")
    after = _claim(ws, "3.1")
    assert after is not None and after["until"] > renewed["until"]
    nothing = _json(ws.wtctl("--agent", "bob", "--json", "renew claims"))["result"]
    assert nothing["renewed"] == []


def test_a_retried_claim_gets_the_first_reply_again(ws: Workspace) -> None:
    ws.start_daemon()
    client = Client(ws.sock, timeout=60)
    try:
        message = {
            "type": "command",
            "id": "claim-retry-1",
            "phrase": "claim next",
            "cwd": str(ws.root),
            "tracker": str(ws.md),
            "options": {"agent": "alice"},
        }
        first = client._roundtrip(message)
        again = client._roundtrip(message)
    finally:
        client.close()
    assert first["ok"] and first["result"]["id"] == again["result"]["id"] == "3.1"
    claimed = [t["id"] for t in ws.data()["tasks"] if "x_claim" in t]
    assert claimed == ["3.1"]


def test_a_claim_retried_on_a_wtd_with_another_lease_is_answered_not_refused(
    ws: Workspace,
) -> None:
    # the lease is the daemon's (config, $WT_CLAIM_TTL): a retry answered after a
    # restart with another lease is the same claim (it was refused as "already used
    # for another change" although it had been applied: SPEC §6's "a reported failure
    # means not applied" broken)
    message = {
        "type": "command",
        "id": "claim-retry-2",
        "phrase": "claim next",
        "cwd": str(ws.root),
        "tracker": str(ws.md),
        "options": {"agent": "alice"},
    }
    ws.start_daemon({"WT_CLAIM_TTL": "600"})
    client = Client(ws.sock, timeout=60)
    try:
        first = client._roundtrip(message)
    finally:
        client.close()
    ws.kill_daemon(signal.SIGKILL)
    ws.start_daemon({"WT_CLAIM_TTL": "900"})
    client = Client(ws.sock, timeout=60)
    try:
        again = client._roundtrip(message)
    finally:
        client.close()
    assert first["ok"] and again["ok"], again
    assert again["result"]["id"] == first["result"]["id"]
    claimed = [t["id"] for t in ws.data()["tasks"] if "x_claim" in t]
    assert claimed == [first["result"]["id"]]


def test_a_hand_edit_of_the_view_keeps_claims(ws: Workspace, schema: Any) -> None:
    ws.start_daemon()
    ws.ok("--agent", "alice", "claim task 3.1")
    text = ws.md.read_text()
    assert "## Claims" in text
    ws.md.write_text(text.replace("Write release notes", "Write the changelog", 1))
    assert "Write the changelog" in ws.ok("show task 3.1")
    claim = _claim(ws, "3.1")
    assert claim is not None and claim["by"] == "alice"
    assert "| 3.1 | alice |" in ws.md.read_text()
    jsonschema.validate(ws.data(), schema)


@pytest.mark.parametrize(
    "until",
    [
        "0001-01-01T00:00:00+14:00",  # before any UTC time
        "9999-12-31T23:59:59-14:00",  # after any
        "0001-01-01T00:00:00Z",
        "2026-13-45T99:99:99.000000Z",  # wtd's length and shape, not a time
    ],
)
def test_a_claim_with_a_time_out_of_range_never_takes_the_tracker_down(
    ws: Workspace, until: str
) -> None:
    ws.ok("show progress")
    data = ws.data()
    for task in data["tasks"]:
        if task["id"] == "3.1":
            task["status"] = "in_progress"
            task["x_claim"] = {"by": "agent-2", "since": "2026-12-01T04:21:15Z", "until": until}
    tmp = ws.json.with_name(".edit.tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(ws.json)
    for phrase in ("show progress", "list tasks", "mark task 2.2 complete", "next"):
        proc = ws.wtctl(phrase)
        assert proc.returncode in (0, 1), (phrase, proc.stdout, proc.stderr, ws.log()[-3000:])
    assert ws.task("2.2")["status"] == "complete"
    assert " crashed" not in ws.log(), ws.log()[-3000:]  # no Store restart either
    ws.kill_daemon()
    assert ws.wtctl("show progress").returncode == 0  # and after a restart
