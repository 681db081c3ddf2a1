"""End to end: the plans people already have become trackers (SPEC §2a, §3, §4).

A new user drops a plan into ``docs/plans/`` or gives one kept anywhere to ``import
plan``; the daemon and the client are the real programs. Every JSON written is
checked against the v2 schema, dates included (``format: date-time``).
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.test_first_contact import _ask
from tests.e2e.test_watch import editor_save, eventually
from tests.tracker.test_encoder import VALIDATOR

pytestmark = pytest.mark.e2e

PLANS = Path(__file__).resolve().parents[1] / "data" / "plans"
KIRO = PLANS / "kiro" / "rate-limiter-tasks.md"
REFUSED = PLANS / "refuse" / "CHANGELOG.md"


def assert_valid(path: Path) -> dict[str, Any]:
    """The JSON at ``path``, asserted valid against the v2 schema (formats included)."""
    data: dict[str, Any] = json.loads(path.read_bytes())
    errors = sorted(VALIDATOR.iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])
    return data


def files_under(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[Workspace]:
    """A new user's repository: a ``.git`` folder, no ``.ecw/``, no tracker yet."""
    root = tmp_path / "project"
    (root / ".git").mkdir(parents=True)
    sock_dir = Path(tempfile.mkdtemp(prefix="wtd-test-", dir="/tmp"))
    workspace = Workspace(root, sock_dir)
    workspace.md = root / "docs" / "plans" / "rate-limiter.md"
    workspace.json = root / ".ecw" / "plans" / "rate-limiter.json"
    try:
        yield workspace
    finally:
        workspace.kill_daemon(signal.SIGTERM)
        shutil.rmtree(sock_dir, ignore_errors=True)


def reply(ws: Workspace, *args: str, tracker: bool = False) -> dict[str, Any]:
    proc = ws.wtctl("--json", *args, tracker=tracker)
    out: dict[str, Any] = json.loads(proc.stdout)
    out["exit"] = proc.returncode
    out["stderr"] = proc.stderr
    return out


# ---------------------------------------------------------------- docs/plans/


def test_a_plan_dropped_into_docs_plans_is_imported_with_its_counts(fresh: Workspace) -> None:
    fresh.md.parent.mkdir(parents=True)
    shutil.copy(KIRO, fresh.md)
    out = reply(fresh, "--tracker", str(fresh.md), "show progress")
    assert out["ok"], out
    assert out["result"]["imported"] == {
        "format": "kiro",
        "phases": 1,
        "tasks": 11,
        "notes": out["result"]["imported"]["notes"],
        "not_understood": 0,
    }
    assert out["result"]["imported"]["notes"] > 20
    data = assert_valid(fresh.json)
    assert len(data["tasks"]) == 11
    view = fresh.md.read_text()
    assert "#### Notes" in view and "  - _Requirements: 1.1, 1.2_" in view
    kept = list((fresh.root / ".ecw" / "imported").glob("*rate-limiter.md"))
    assert [k.read_bytes() for k in kept] == [KIRO.read_bytes()]


def test_the_first_import_tells_no_false_conflict(fresh: Workspace) -> None:
    fresh.md.parent.mkdir(parents=True)
    shutil.copy(KIRO, fresh.md)
    out = fresh.ok("--tracker", str(fresh.md), "show progress")
    assert "Imported 1 phase, 11 tasks" in out
    assert "not made through wtd" not in out
    assert not (fresh.root / ".ecw" / "conflicts").exists()
    assert "not made through wtd" not in fresh.ok("--tracker", str(fresh.md), "show progress")


def test_a_file_with_no_plan_in_docs_plans_is_refused_and_left_alone(fresh: Workspace) -> None:
    fresh.md.parent.mkdir(parents=True)
    shutil.copy(REFUSED, fresh.md)
    proc = fresh.wtctl("show progress")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "nothing was imported" in proc.stderr and "kiro" in proc.stderr.lower()
    assert fresh.md.read_bytes() == REFUSED.read_bytes()
    assert not (fresh.root / ".ecw").exists()  # no JSON, no journal, no copy, no lock


def test_a_refusal_in_a_served_workspace_adds_nothing_to_its_state(ws: Workspace) -> None:
    ws.ok("show progress")
    before = files_under(ws.root / ".ecw")
    plan = ws.root / "docs" / "plans" / "changelog.md"
    shutil.copy(REFUSED, plan)
    proc = ws.wtctl("--tracker", str(plan), "show progress", tracker=False)
    assert proc.returncode == 1
    assert plan.read_bytes() == REFUSED.read_bytes()
    after = files_under(ws.root / ".ecw")
    assert set(after) == set(before)
    assert [k for k in before if after[k] != before[k]] == []


# ---------------------------------------------------------------- import plan PATH


def test_import_plan_from_anywhere_makes_a_tracker_and_never_touches_the_plan(
    fresh: Workspace, tmp_path: Path
) -> None:
    spec = tmp_path / "elsewhere" / ".kiro" / "specs" / "rate-limiter" / "tasks.md"
    spec.parent.mkdir(parents=True)
    shutil.copy(KIRO, spec)
    out = reply(fresh, f"import plan {spec}")
    assert out["ok"] and out["exit"] == 0, out
    result = out["result"]
    assert (result["tracker"], result["format"], result["phases"], result["tasks"]) == (
        "rate-limiter",  # tasks.md says nothing: the feature folder names it
        "kiro",
        1,
        11,
    )
    assert result["not_understood"] == 0 and result["notes"] > 20
    assert spec.read_bytes() == KIRO.read_bytes()
    assert_valid(fresh.json)
    assert "| 1.1 | Create rate limiter configuration types |" in fresh.md.read_text()
    assert "Overall progress: 36%" in fresh.ok("--tracker", "rate-limiter", "show progress")


def test_a_task_is_found_by_the_id_its_plan_gave_it(fresh: Workspace, tmp_path: Path) -> None:
    # an agent working from spec-kit's tasks.md says T006, not the tracker's X.Y
    plan = tmp_path / "specs" / "019-dark-mode" / "tasks.md"
    plan.parent.mkdir(parents=True)
    shutil.copy(PLANS / "speckit" / "tasks-dark-mode.md", plan)
    assert reply(fresh, f"import plan {plan} as dark-mode")["ok"]
    shown = fresh.ok("--tracker", "dark-mode", "show task T006")
    tid = shown.split("Task ", 1)[1].split(":", 1)[0].split()[0]
    assert "Fill dark values" in shown and tid != "T006", shown
    done = fresh.ok("--tracker", "dark-mode", "mark task T006 complete")
    assert f"Task {tid} marked complete" in done, done  # it says which task that is
    missing = fresh.wtctl("--tracker", "dark-mode", "mark task T999 complete", tracker=False)
    assert missing.returncode == 1 and "T999 not found" in missing.stderr, missing.stderr


def test_a_cursor_todo_is_found_by_its_slug_id(fresh: Workspace, tmp_path: Path) -> None:
    # Cursor's todos are named outbox-table, backfill-job…: "Invalid task ID format"
    plan = tmp_path / "search-reindex.plan.md"
    shutil.copy(PLANS / "cursor" / "search-reindex.plan.md", plan)
    assert reply(fresh, f"import plan {plan} as reindex")["ok"]
    shown = fresh.ok("--tracker", "reindex", "show task outbox-table")
    assert "search_outbox" in shown, shown
    missing = fresh.wtctl("--tracker", "reindex", "show task outbox-tabel", tracker=False)
    assert missing.returncode == 1 and "not found" in missing.stderr, missing.stderr


def test_a_readme_roadmap_of_status_icon_bullets_is_imported_not_refused(
    fresh: Workspace,
) -> None:
    # "## Phase 1: X" over "- ✅ Done thing" bullets: refused as "no task found" before
    fresh.md.parent.mkdir(parents=True)
    plan = fresh.md.with_name("roadmap.md")
    shutil.copy(PLANS / "roadmap" / "emoji-status-roadmap.md", plan)
    out = reply(fresh, "--tracker", str(plan), "show progress")
    assert out["ok"], out
    assert out["result"]["imported"]["tasks"] == 10
    assert "Overall progress: 44%" in fresh.ok("--tracker", "roadmap", "show progress")
    assert "Comments with @mentions" in fresh.ok("--tracker", "roadmap", "show phase 2")
    fresh.ok("--tracker", "roadmap", "mark task 2.3 complete")
    data = assert_valid(plan.parents[2] / ".ecw" / "plans" / "roadmap.json")
    assert [t["status"] for t in data["tasks"] if t["id"] == "2.3"] == ["complete"]
    assert "| 2.3 | Comments with @mentions | ✅ Complete |" in plan.read_text()


def test_kiro_subtasks_written_flush_are_subtasks_end_to_end(
    fresh: Workspace, tmp_path: Path
) -> None:
    spec = tmp_path / ".kiro" / "specs" / "webhook-retries" / "tasks.md"
    spec.parent.mkdir(parents=True)
    shutil.copy(PLANS / "kiro" / "webhook-retries-tasks.md", spec)
    out = reply(fresh, f"import plan {spec}")
    assert out["ok"], out
    assert (out["result"]["tasks"], out["result"]["tracker"]) == (5, "webhook-retries")
    listed = fresh.ok("--tracker", "webhook-retries", "list tasks")
    assert "Write backoff calculator" not in listed, listed  # a sub-task, not a task
    fresh.ok("--tracker", "webhook-retries", "check subtask 1.2.3")
    data = assert_valid(fresh.root / ".ecw" / "plans" / "webhook-retries.json")
    subs = {s["id"]: (s["name"], s["status"]) for s in data["subtasks"]}
    assert subs["1.2.3"] == ("Write property tests for backoff bounds", "complete")
    assert len(subs) == 7


def test_import_plan_relative_to_the_callers_folder_as_a_name(ws: Workspace) -> None:
    (ws.root / "notes").mkdir()
    shutil.copy(KIRO, ws.root / "notes" / "limits.md")
    proc = ws.wtctl("import plan notes/limits.md as limits", tracker=False)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "Imported 1 phase, 11 tasks" in out and "docs/plans/limits.md" in out
    assert_valid(ws.root / ".ecw" / "plans" / "limits.json")
    assert (ws.root / "docs" / "plans" / "limits.md").exists()


def test_import_plan_refuses_a_name_that_exists(ws: Workspace) -> None:
    shutil.copy(KIRO, ws.root / "plan.md")
    before = ws.json.read_bytes()
    out = reply(ws, "import plan plan.md as my-project")
    assert out["exit"] == 2
    assert "already exists" in out["error"]["message"]
    assert out["error"]["suggestions"] == ["import plan plan.md as my-project-2"]
    assert ws.json.read_bytes() == before


def test_import_plan_of_a_missing_file_fails(fresh: Workspace) -> None:
    out = reply(fresh, "import plan nowhere/tasks.md")
    assert (out["exit"], out["error"]["code"]) == (1, "not_found")
    assert not (fresh.root / ".ecw").exists()


def test_import_plan_of_a_file_with_no_plan_is_refused_untouched(fresh: Workspace) -> None:
    shutil.copy(REFUSED, fresh.root / "CHANGELOG.md")
    out = reply(fresh, "import plan CHANGELOG.md")
    assert out["exit"] == 1 and not out["ok"]
    assert "no task found" in out["error"]["message"]
    assert (fresh.root / "CHANGELOG.md").read_bytes() == REFUSED.read_bytes()
    assert not (fresh.root / ".ecw").exists() and not (fresh.root / "docs").exists()
    health = fresh.wtctl("--show-health", "--verbose", "health", tracker=False)
    assert "Failures: 0" in health.stdout, health.stdout  # the user's file, not a fault


def test_import_plan_never_reads_through_a_link(fresh: Workspace, tmp_path: Path) -> None:
    secret = tmp_path / "secret.md"
    shutil.copy(KIRO, secret)
    (fresh.root / "plan.md").symlink_to(secret)
    out = reply(fresh, "import plan plan.md")
    assert (out["exit"], out["error"]["code"]) == (4, "unsafe_path")
    (fresh.root / "specs").symlink_to(tmp_path, target_is_directory=True)
    out = reply(fresh, "import plan specs/secret.md")
    assert (out["exit"], out["error"]["code"]) == (4, "unsafe_path")
    assert not (fresh.root / ".ecw" / "plans").exists()


def test_a_retried_import_gets_its_first_reply_and_imports_once(ws: Workspace) -> None:
    shutil.copy(KIRO, ws.root / "plan.md")
    ws.ok("show progress")
    first = _ask(ws, "import-1", "import plan plan.md as retried")
    assert first["ok"], first
    ws.kill_daemon()  # the reply was kept on disk: a restart does not forget it
    ws.start_daemon()
    again = _ask(ws, "import-1", "import plan plan.md as retried")
    assert again["ok"] and again["result"] == first["result"]


# ---------------------------------------------------------------- notes sync back


def test_a_notes_edit_in_the_view_lands_in_the_json(fresh: Workspace) -> None:
    fresh.md.parent.mkdir(parents=True)
    shutil.copy(KIRO, fresh.md)
    fresh.ok("show progress")
    text = fresh.md.read_text()
    old = "  - _Requirements: 1.1, 1.2_"
    assert old in text
    editor_save(fresh.md, text.replace(old, "  - _Requirements: 1.1, 1.2, 1.3_", 1))

    def synced() -> bool:
        notes = fresh.task("1.1").get("notes", [])
        return "- _Requirements: 1.1, 1.2, 1.3_" in notes

    eventually(synced, "the notes edit in the JSON", fresh.log)
    assert_valid(fresh.json)
    text = fresh.md.read_text()
    assert "\n## Notes\n" not in text  # this plan has no prose of its own: a person adds some
    section = "## Notes\n\nAsk Dana about quotas.\n\n## Progress Summary"
    editor_save(fresh.md, text.replace("## Progress Summary", section, 1))
    eventually(
        lambda: "Ask Dana about quotas." in fresh.data().get("notes", []),
        "the plan note in the JSON",
        fresh.log,
    )
    assert "Ask Dana about quotas." in fresh.md.read_text()


# ---------------------------------------------------------------- schema validity


def test_a_long_name_typed_in_the_view_is_cut_and_kept_in_the_notes(ws: Workspace) -> None:
    ws.ok("show progress")
    long = "Write the release notes " + "and the migration guide " * 10
    text = ws.md.read_text()
    editor_save(ws.md, text.replace("| 3.1 | Write release notes |", f"| 3.1 | {long} |", 1))
    eventually(lambda: ws.task("3.1")["name"].endswith("…"), "the rename", ws.log)
    data = assert_valid(ws.json)
    task = next(t for t in data["tasks"] if t["id"] == "3.1")
    assert task["name"][:-1] + " " + task["notes"][0][1:] == long.strip()


def test_a_json_hand_edit_the_schema_cannot_hold_is_adapted(ws: Workspace) -> None:
    ws.ok("show progress")
    data = ws.data()
    data["meta"]["created"] = "2026-02-03"
    data["tasks"][0]["name"] = "x" * 216
    editor_save(ws.json, json.dumps(data))
    eventually(lambda: ws.data()["meta"]["created"] == "2026-02-03T00:00:00Z", "the fix", ws.log)
    adopted = assert_valid(ws.json)
    assert adopted["tasks"][0]["notes"][0].startswith("…x")
    assert "Adapted to the v2 schema" in ws.ok("history")


def test_a_v1_tracker_with_values_v2_cannot_hold_is_migrated_valid(ws: Workspace) -> None:
    v1 = {
        "meta": {"title": "Legacy", "status": "In Progress", "created": "2026-02-03"},
        "phases": [{"number": 1, "name": "Only", "status": "In Progress"}],
        "tasks": [{"id": "1.1", "phase": 1, "name": "t" * 230, "status": "DONE"}],
    }
    ws.json.write_text(json.dumps(v1))
    ws.ok("show progress")
    data = assert_valid(ws.json)
    assert (data["meta"]["status"], data["meta"]["created"]) == ("active", "2026-02-03T00:00:00Z")


def test_a_phrase_that_the_schema_cannot_hold_is_refused(ws: Workspace) -> None:
    before = ws.json.read_bytes()
    for phrase in (f"rename task 1.1 to {'n' * 201}", f"add task to phase 1: {'n' * 201}"):
        proc = ws.wtctl(phrase)
        assert proc.returncode == 2 and "too long" in proc.stderr, proc.stderr
    assert ws.json.read_bytes() == before


def test_a_json_found_at_opening_that_the_schema_cannot_hold_is_adapted(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    data = ws.data()  # written by another tool (or an older wtd) while wtd was stopped
    data["meta"]["updated"] = "2026-02-04 09:30"
    data["phases"][2]["name"] = "Release " * 30
    editor_save(ws.json, json.dumps(data))
    out = ws.ok("show progress")
    assert "Adapted to the v2 schema" in out
    adapted = assert_valid(ws.json)
    assert adapted["phases"][2]["name"].endswith("…")
    assert adapted["phases"][2]["description"].startswith("…")
    assert "Adapted to the v2 schema" in ws.ok("history")


def test_an_open_checkbox_led_by_a_status_icon_takes_the_icons_status(
    fresh: Workspace, tmp_path: Path
) -> None:
    # `- [ ] 🚧 X` is open and under way: the icon was cut from the name and lost
    plan = tmp_path / "launch.md"
    plan.write_text(
        "# Launch\n\n- [ ] 🚧 Build the page\n- [ ] Wait for legal ⛔\n"
        "- [x] ⏳ Pick a date\n- [ ] ✅ Verify the release\n- [ ] Plain one\n"
    )
    out = reply(fresh, f"import plan {plan}")
    assert out["ok"], out
    data = assert_valid(fresh.root / ".ecw" / "plans" / "launch.json")
    assert [(t["name"], t["status"]) for t in data["tasks"]] == [
        ("Build the page", "in_progress"),
        ("Wait for legal", "blocked"),
        ("Pick a date", "complete"),  # the box is checked: done, whatever the icon
        ("Verify the release", "pending"),  # ✅ on an open box is no proof of done
        ("Plain one", "pending"),
    ]


def test_a_phase_of_pending_and_skipped_tasks_is_imported_pending(
    fresh: Workspace, tmp_path: Path
) -> None:
    # nothing in phase 2 is started or complete: it showed 🔄 In Progress at 0%
    plan = tmp_path / "moves.md"
    plan.write_text(
        "# Moves\n\n## Phase 1: Pack\n- [x] Boxes\n- [ ] Tape\n"
        "## Phase 2: Drive\n- [ ] Rent a van\n- [-] Old idea: rail\n"
        "## Phase 3: Settle\n- [x] Keys\n- [-] Party\n"
    )
    out = reply(fresh, f"import plan {plan}")
    assert out["ok"], out
    data = assert_valid(fresh.root / ".ecw" / "plans" / "moves.json")
    assert [p["status"] for p in data["phases"]] == ["in_progress", "pending", "complete"]
    shown = fresh.ok("--tracker", "moves", "show phase 2")
    assert "Status: ⏳ Pending" in shown, shown


def test_import_plan_as_a_name_with_spaces_says_the_name_is_invalid(
    fresh: Workspace, tmp_path: Path
) -> None:
    # it said "No plan at …/launch.md as My Launch: nothing was imported" (exit 1)
    plan = tmp_path / "launch.md"
    plan.write_text("# Launch\n\n- [ ] Build\n- [x] Plan\n")
    proc = fresh.wtctl(f"import plan {plan} as My Launch", tracker=False)
    assert proc.returncode == 2, proc.stderr
    assert "Invalid tracker name: 'My Launch'" in proc.stderr, proc.stderr
    assert f"import plan {plan} as my-launch" in proc.stderr, proc.stderr
    assert not (fresh.root / ".ecw" / "plans").exists()
    missing = fresh.wtctl(f"import plan {tmp_path / 'nope.md'} as My Launch", tracker=False)
    assert missing.returncode == 1 and "No plan at" in missing.stderr, missing.stderr


def test_a_plans_task_id_is_found_whatever_its_case(fresh: Workspace, tmp_path: Path) -> None:
    # phrases are case-insensitive, but "mark task t002 complete" said "Task t002 not found"
    plan = tmp_path / "specs" / "007-albums" / "tasks.md"
    plan.parent.mkdir(parents=True)
    plan.write_text(
        "# Tasks: Albums\n\n## Phase 1: Setup\n\n"
        "- [ ] T001 Create project structure\n- [ ] T002 [P] Configure linting\n"
    )
    assert reply(fresh, f"import plan {plan} as albums")["ok"]
    done = fresh.ok("--tracker", "albums", "mark task t002 complete")
    assert "Task 1.2 marked complete" in done, done
    data = assert_valid(fresh.root / ".ecw" / "plans" / "albums.json")
    assert [t["status"] for t in data["tasks"]] == ["pending", "complete"]


def test_a_plans_task_id_two_tasks_share_is_called_ambiguous_not_missing(
    fresh: Workspace, tmp_path: Path
) -> None:
    # "Task T001 not found" while the view showed two tasks the plan called T001
    plan = tmp_path / "dup.md"
    plan.write_text("# P\n\n- [ ] T001 one\n- [ ] T001 two\n- [ ] T002 three\n")
    assert reply(fresh, f"import plan {plan}")["ok"]
    proc = fresh.wtctl("--tracker", "dup", "mark task T001 complete", tracker=False)
    assert proc.returncode == 1, proc.stderr
    assert "T001 is ambiguous" in proc.stderr and "1.1, 1.2" in proc.stderr, proc.stderr
    data = assert_valid(fresh.root / ".ecw" / "plans" / "dup.json")
    assert [t["status"] for t in data["tasks"]] == ["pending"] * 3
