"""End to end: undo and history, from the journal (SPEC §4)."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import Workspace

pytestmark = pytest.mark.e2e


def test_undo_reverts_the_last_changes_in_order(ws: Workspace) -> None:
    ws.ok("show progress")
    original = ws.json.read_bytes(), ws.md.read_bytes()
    ws.ok("mark task 2.3 complete")
    ws.ok("--agent", "planner", "add task to phase 3: Extra")
    ws.ok("delete task 2.4")
    assert "Undid" in ws.ok("undo")
    assert ws.task("2.4")["name"] == "Recover from corrupted state"
    ws.ok("undo")
    assert all(t.get("name") != "Extra" for t in ws.data()["tasks"])
    ws.ok("undo")
    assert ws.json.read_bytes() == original[0]  # byte for byte the state before
    assert ws.md.read_bytes() == original[1]
    nothing = ws.wtctl("undo")
    assert nothing.returncode == 2 and nothing.stderr.startswith("Nothing to undo")


def test_undo_survives_a_restart(ws: Workspace) -> None:
    ws.ok("rename task 3.1 to Release notes")
    ws.kill_daemon()
    ws.ok("undo")
    assert ws.task("3.1")["name"] == "Write release notes"


def test_history_names_who_changed_what(ws: Workspace) -> None:
    ws.ok("mark task 2.3 in progress")
    ws.ok("--agent", "planner", "mark task 2.3 complete")
    ws.ok("rename task 3.1 to Notes")
    out = ws.ok("history task 2.3").splitlines()
    assert out[0] == "History of task 2.3 (docs/plans/my-project.md):"
    assert "user" in out[1] and "Task 2.3 marked in_progress." in out[1]
    assert "agent:planner" in out[2] and "Task 2.3 marked complete." in out[2]
    assert len(out) == 3
    assert "Notes" in ws.ok("history")


def test_the_history_of_a_task_starts_with_its_creation(ws: Workspace) -> None:
    added = ws.ok("add task to phase 3: Announce it")  # "Added task 3.N: Announce it"
    task_id = added.split("Added task ", 1)[1].split(":", 1)[0]
    ws.ok(f"mark task {task_id} complete")
    out = ws.ok(f"history task {task_id}").splitlines()
    assert len(out) == 3 and "Announce it" in out[1] and "complete" in out[2], out


def test_undo_of_delete_tracker_restores_it(ws: Workspace) -> None:
    ws.ok("show progress")
    before = ws.json.read_bytes(), ws.md.read_bytes()
    ws.ok("--skip-consent", "delete tracker")
    assert not ws.json.exists()
    assert "Restored tracker my-project" in ws.ok("undo")
    assert (ws.json.read_bytes(), ws.md.read_bytes()) == before
