"""End to end: consent answers mean exactly their scope (SPEC §7), with real processes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Workspace

pytestmark = pytest.mark.e2e


def audit(ws: Workspace) -> list[dict[str, Any]]:
    lines = (ws.root / ".ecw" / "audit.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def statuses(ws: Workspace, phase: int) -> list[str]:
    return [t["status"] for t in ws.data()["tasks"] if t["phase"] == phase]


def test_the_blanket_phrase_covers_initiative_creation_only(ws: Workspace) -> None:
    out = ws.ok("you may create initiatives as needed")
    assert "for initiative creation" in out
    ws.ok("show progress")  # the first open corrects the example's stale progress
    before = ws.json.read_bytes()
    deleting = ws.wtctl("delete tracker")
    assert deleting.returncode == 3, deleting.stdout + deleting.stderr
    bulk = ws.wtctl("mark phase 3 complete")
    assert bulk.returncode == 3, bulk.stdout + bulk.stderr
    assert ws.json.read_bytes() == before
    ws.ok("create initiative 7 called Search")  # this is what it approved
    assert (ws.root / ".ecw" / "plans" / "07-search.json").exists()
    allowed = [e for e in audit(ws) if e["decision"] == "allowed"]
    assert [e["operation"] for e in allowed] == ["create_initiative:7"]


def test_always_is_a_standing_approval_for_one_kind(ws: Workspace) -> None:
    proc = ws.wtctl(stdin="mark phase 2 complete\nalways\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Approved always for bulk changes" in proc.stdout
    assert statuses(ws, 2) == ["complete"] * len(statuses(ws, 2))
    # another bulk change needs no question now …
    ws.ok("mark all tasks in phase 3 in progress")
    assert set(statuses(ws, 3)) == {"in_progress"}
    # … but deleting the tracker and creating an initiative still ask
    assert ws.wtctl("delete tracker").returncode == 3
    assert ws.wtctl("create initiative 9").returncode == 3
    assert ws.json.exists()
    state = json.loads((ws.root / ".ecw" / "consent-state.json").read_text())
    assert list(state["standing_approvals"]) == ["bulk_change"]
    assert state["blanket_approval"] is False


def test_always_to_delete_tracker_does_not_approve_bulk_changes(ws: Workspace) -> None:
    proc = ws.wtctl(stdin="delete tracker\nalways\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not ws.json.exists()
    ws.ok("restore tracker")
    assert ws.json.exists()
    assert ws.wtctl("mark phase 3 complete").returncode == 3
    ws.ok("delete tracker")  # the standing approval covers deleting, again
    assert not ws.json.exists()


def test_no_declines_records_it_and_changes_nothing(ws: Workspace) -> None:
    ws.ok("show progress")
    before = ws.json.read_bytes()
    proc = ws.wtctl(stdin="delete tracker\nno\nyes\n")
    assert "Declined" in proc.stdout and "Nothing was changed" in proc.stdout
    # the question is gone: the later "yes" has nothing to approve
    assert "nothing is waiting for consent" in proc.stderr or "unknown, expired" in proc.stderr
    assert ws.json.read_bytes() == before
    assert "declined" in [e["decision"] for e in audit(ws)]
    assert "Did you mean" not in proc.stdout + proc.stderr


def test_show_and_revoke_consent(ws: Workspace) -> None:
    assert "No standing approvals" in ws.ok("show consent")
    ws.wtctl(stdin="delete tracker\nalways\n")
    ws.ok("restore tracker")
    ws.wtctl(stdin="mark phase 2 complete\nalways\n")
    ws.ok("you may create initiatives as needed")
    shown = ws.wtctl("--json", "show consent")
    data = json.loads(shown.stdout)
    assert data["ok"] and set(data["result"]["approvals"]) == {
        "create_initiative",
        "delete_tracker",
        "bulk_change",
    }
    out = ws.ok("revoke consent for deleting trackers")
    assert "Revoked: deleting trackers." in out
    assert ws.wtctl("delete tracker").returncode == 3
    ws.ok("mark phase 3 complete")  # bulk changes still approved
    out = ws.ok("revoke consent")
    assert "bulk changes" in out and "blanket approval" in out
    assert ws.wtctl("create initiative 4").returncode == 3
    assert ws.wtctl("mark phase 1 pending").returncode == 3
    assert "No standing approvals" in ws.ok("show consent")
    assert ws.wtctl("revoke consent for lunch").returncode == 2
    decisions = [e["decision"] for e in audit(ws)]
    assert decisions.count("revoked") == 2


def test_subagents_may_read_consent_but_not_change_it(ws: Workspace) -> None:
    assert ws.wtctl("--subagent", "show consent").returncode == 0
    assert ws.wtctl("--subagent", "revoke consent").returncode == 4
    asked = ws.wtctl("--subagent", stdin="delete tracker\nyes\nalways\nno\n")
    assert asked.returncode == 4
    assert ws.json.exists()
    assert not (ws.root / ".ecw" / "consent-state.json").exists()


def test_a_subagent_may_not_undo_a_guarded_change(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.ok("--skip-consent", "mark phase 2 complete")
    after_bulk = ws.json.read_bytes()
    proc = ws.wtctl("--subagent", "undo")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "may not undo a guarded change" in proc.stderr
    assert ws.json.read_bytes() == after_bulk
    # its own single change it may undo
    ws.ok("--subagent", "start task 3.1")
    ws.ok("--subagent", "undo")
    assert ws.task("3.1")["status"] != "in_progress"
    assert ws.wtctl("--subagent", "undo").returncode == 4  # the bulk change again
    ws.ok("undo")  # the user may
    assert statuses(ws, 2) != ["complete"] * len(statuses(ws, 2))


def test_a_subagent_may_undo_its_own_change_that_touched_two_tasks(ws: Workspace) -> None:
    # deleting a task another one depends on changes both: the subagent was allowed
    # the change and then refused its undo as "a guarded change"
    ws.ok("task 2.3 depends on 2.2")
    ws.ok("--subagent", "--agent", "cleaner", "delete task 2.2")
    undone = ws.wtctl("--subagent", "--agent", "cleaner", "undo")
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert ws.task("2.2")["name"] and "2.2" in ws.task("2.3")["dependencies"]
    ws.ok("--subagent", "--agent", "cleaner", "delete task 2.2")
    other = ws.wtctl("--subagent", "--agent", "other", "undo")  # another's: still guarded
    assert other.returncode == 4, other.stdout + other.stderr


def test_questions_denials_and_not_found_are_not_failures(ws: Workspace) -> None:
    for _ in range(3):
        assert ws.wtctl("delete tracker").returncode == 3
        assert ws.wtctl("--subagent", "delete tracker").returncode == 4
        assert ws.wtctl("show task 9.9").returncode == 1
        assert ws.wtctl("mark task x complete").returncode == 2
    health = ws.wtctl("--show-health", "--verbose", "show progress")
    assert "Health: HEALTHY (100.0% success rate)" in health.stdout, health.stdout
    assert "Failures: 0" in health.stdout


def test_read_only_agents_may_not_sync_or_reset_circuits(ws: Workspace) -> None:
    config = ws.sock.parent / "config" / "wtd" / "wtd.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("[enforcement.agents.reviewer]\nread_only = true\n")
    assert ws.wtctl("--agent", "reviewer", "show progress").returncode == 0
    for phrase in ("sync", "reset circuit", "start task 2.1"):
        proc = ws.wtctl("--agent", "reviewer", phrase)
        assert proc.returncode == 4, (phrase, proc.stdout, proc.stderr)
        assert "read-only" in proc.stderr


def test_a_subagent_may_not_bring_back_a_deleted_tracker(ws: Workspace) -> None:
    ws.ok("--skip-consent", "delete tracker")
    for phrase in ("undo", "restore tracker", "restore tracker my-project"):
        proc = ws.wtctl("--subagent", phrase)
        assert proc.returncode == 4, (phrase, proc.stdout, proc.stderr)
        assert "restore a deleted tracker" in proc.stderr
        assert not ws.json.exists()
    assert [e["decision"] for e in audit(ws)].count("denied") == 3
    ws.ok("restore tracker")  # the user may
    assert ws.json.exists()


@pytest.mark.parametrize(
    "lines",
    [
        "mark phase 2 complete\nshow progress\n",  # the question is never answered
        "mark phase 2 complete\nno\n",  # declined
        "mark phase 3 complete\ncreate initiative 30\nno\n",  # a new question drops it
    ],
)
def test_batch_mode_without_consent_given_exits_3(ws: Workspace, lines: str) -> None:
    ws.ok("show progress")
    before = ws.json.read_bytes()
    proc = ws.wtctl(stdin=lines)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert ws.json.read_bytes() == before
    assert not (ws.root / ".ecw" / "plans" / "30-initiative.json").exists()
    refused = [e for e in audit(ws) if e["decision"] == "refused"]
    assert refused == []  # no line carried a question's token it did not answer


def test_a_consent_question_names_its_tracker(ws: Workspace) -> None:
    proc = ws.wtctl("--json", "delete tracker")
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    assert doc["tracker"] == "docs/plans/my-project.md"
    assert "Deleting the tracker my-project" in doc["error"]["message"] + str(doc)
    ghost = ws.wtctl("--tracker", "ghost", "delete tracker", tracker=False)
    assert ghost.returncode == 1 and "No tracker 'ghost'" in ghost.stderr
