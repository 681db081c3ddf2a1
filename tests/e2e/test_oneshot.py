"""End to end: real wtctl processes against a real wtd on a temp workspace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.e2e.conftest import BIN, Workspace
from tests.test_launcher import (
    NEVER_ON_THE_ONE_SHOT_PATH,
    SHOW_MODULES,
    imported,
    installed_venv,
    launcher_code,
)

pytestmark = pytest.mark.e2e


def test_show_progress_autostarts_daemon_and_renders_view(
    ws: Workspace, schema: dict[str, Any]
) -> None:
    assert ws.daemon_pid() is None
    proc = ws.wtctl("show progress")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "Overall progress: 44%"
    assert ws.daemon_pid() is not None
    assert ws.md.exists()
    assert ws.md.read_text().startswith("# Work Tracker: My Project\n")
    # the stale stored progress (40) was corrected in the SSOT
    data = ws.data()
    assert data["meta"]["progress"]["overall"] == 44
    jsonschema.validate(data, schema)


def test_changes_keep_schema_valid_and_unknown_fields(
    ws: Workspace, schema: dict[str, Any]
) -> None:
    raw = ws.data()
    raw["x_team"] = {"owner": "alice"}
    raw["meta"]["x_board"] = 7
    raw["tasks"][4]["x_estimate"] = "3d"
    raw["phases"][1]["x_color"] = "blue"
    ws.json.write_text(json.dumps(raw))
    phrases = [
        "mark task 2.2 complete",
        "add task to phase 3: Announce the release",
        "rename task 3.1 to Write the release notes",
        "set verification of task 3.1 to notes reviewed",
        "add subtask to task 3.1: Draft",
        "check subtask 3.1.1",
        "task 3.4 depends on 3.1",
        'attach evidence to task 2.2: command_output "pytest: 12 passed"',
        "verify evidence for task 2.2",
        "add phase Maintenance",
        "update phase 4 to in progress",
        "move task 3.4 to phase 4",
        "start task 2.3",
        "block task 2.4 because waiting on review",
    ]
    for phrase in phrases:
        ws.ok(phrase)
        data = ws.data()
        jsonschema.validate(data, schema)
    assert data["x_team"] == {"owner": "alice"}
    assert data["meta"]["x_board"] == 7
    assert ws.task("2.2")["x_estimate"] == "3d"
    assert ws.task("2.2")["status"] == "complete"
    assert data["phases"][1]["x_color"] == "blue"
    assert ws.task("4.1")["name"] == "Announce the release"
    assert ws.task("4.1")["dependencies"] == ["3.1"]
    assert ws.task("2.3")["status"] == "in_progress"
    assert ws.task("2.4")["status"] == "blocked"
    md = ws.md.read_text()
    assert "| 4.1 | Announce the release | ⏳ Pending |" in md
    assert "- [x] 3.1.1: Draft" in md


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("status", "Overall progress: 44%"),
        ("progress", "Overall progress: 44%"),
        ("what's remaining", "2.2"),
        ("show remaining", "2.3"),
        ("next", "Next: 3.1"),
        ("what's next", "Next: 3.1"),
        ("show task 2.2", "Render Markdown view"),
        ("show phase 1", "Foundations"),
        ("list tasks", "3.3"),
        ("list tasks in phase 3", "3.2"),
        ("list tasks with status blocked", "2.4"),
        ("health", "Health: HEALTHY"),
        ("show health", "Health:"),
        ("list trackers", "my-project"),
        ("help", "mark task X.Y S"),
        ("sync", ""),
        ("regenerate markdown", ""),
        ("sync tracker", ""),
    ],
)
def test_read_phrases(ws: Workspace, phrase: str, expected: str) -> None:
    before = ws.wtctl("show progress")
    assert before.returncode == 0
    json_before = ws.json.read_bytes()
    out = ws.ok(phrase)
    assert expected in out
    assert ws.json.read_bytes() == json_before


def test_next_skips_tasks_with_open_dependencies(ws: Workspace) -> None:
    ws.ok("mark task 2.2 complete")
    assert "2.3" in ws.ok("next")
    ws.ok("complete task 2.3")
    assert "3.1" in ws.ok("next")


@pytest.mark.parametrize(
    ("phrase", "task", "field", "value"),
    [
        ("mark task 2.3 done", "2.3", "status", "complete"),
        ("mark 2.3 wip", "2.3", "status", "in_progress"),
        ("complete task 2.3", "2.3", "status", "complete"),
        ("start task 3.1", "3.1", "status", "in_progress"),
        ("block task 3.1", "3.1", "status", "blocked"),
        ("update task 3.1 status to cancelled", "3.1", "status", "skipped"),
        ("mark task 3.1 ♻️ superseded", "3.1", "status", "superseded"),
        ("rename task 3.2 to Tag, sign and publish", "3.2", "name", "Tag, sign and publish"),
        (
            "set verification of task 3.2 to tag visible on PyPI",
            "3.2",
            "verification",
            "tag visible on PyPI",
        ),
    ],
)
def test_task_changes(ws: Workspace, phrase: str, task: str, field: str, value: str) -> None:
    ws.ok(phrase)
    assert ws.task(task)[field] == value


def test_status_normalisation_is_narrated(ws: Workspace) -> None:
    proc = ws.wtctl("update task 3.1 status to DONE")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[:3] == [
        "✓ Issue: Invalid status 'DONE'",
        "✓ Recovery: Normalized to 'complete'",
        "✓ Result: Task 3.1 status updated to complete",
    ]
    assert ws.task("3.1")["status"] == "complete"


def test_phase_and_subtask_lifecycle(ws: Workspace) -> None:
    ws.ok("add phase 4 called Hardening")
    ws.ok("add task to phase 4 called Fuzz the parser")
    ws.ok("add subtask to task 4.1: Write corpus")
    ws.ok("complete subtask 4.1.1")
    assert ws.data()["subtasks"][-1]["completed"] is True
    ws.ok("uncheck subtask 4.1.1")
    assert ws.data()["subtasks"][-1]["completed"] is False
    ws.ok("delete subtask 4.1.1")
    assert all(s["id"] != "4.1.1" for s in ws.data()["subtasks"])
    ws.ok("delete task 4.1")
    ws.ok("delete phase 4")
    assert [p["number"] for p in ws.data()["phases"]] == [1, 2, 3]
    assert "Phase 4" not in ws.md.read_text()


@pytest.mark.parametrize(
    ("phrase", "code", "needle"),
    [
        ("mark task 2 complete", 2, "Invalid task ID format"),
        ("mark task abc complete", 2, "Invalid task ID format"),
        ("shwo progress", 2, "Did you mean"),
        ("mark task 2.2 flying", 2, "Invalid status"),
        ("mark task 9.9 complete", 1, "nearest: 3.3"),
        ("show task 2.9", 1, "2.4"),
        ("delete phase 2", 2, "Phase 2"),
        ("move task 2.2 to phase 9", 2, "9"),
        ("task 2.2 depends on 2.2", 2, "2.2"),
        ("task 2.1 depends on 2.3", 2, "cycle"),
        ("check subtask 2.2.9", 1, "2.2.9"),
        ("", 2, "help"),
    ],
)
def test_errors_change_nothing(ws: Workspace, phrase: str, code: int, needle: str) -> None:
    ws.ok("show progress")
    json_before, md_before = ws.json.read_bytes(), ws.md.read_bytes()
    proc = ws.wtctl(phrase)
    assert proc.returncode == code, proc.stdout + proc.stderr
    assert needle in proc.stderr
    assert ws.json.read_bytes() == json_before
    assert ws.md.read_bytes() == md_before


def test_unknown_tracker_names_the_ones_that_exist(ws: Workspace) -> None:
    proc = ws.wtctl(
        "--tracker", str(ws.root / "docs/plans/nope.md"), "show progress", tracker=False
    )
    assert proc.returncode == 1
    assert "my-project" in proc.stderr


def test_tracker_by_bare_name_and_implicit(ws: Workspace) -> None:
    proc = ws.wtctl("--tracker", "my-project", "progress", tracker=False)
    assert proc.returncode == 0 and "Overall progress: 44%" in proc.stdout
    proc = ws.wtctl("progress", tracker=False)
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == "Tracker: docs/plans/my-project.md"


def test_a_readme_beside_the_views_is_not_taken_for_the_tracker(ws: Workspace) -> None:
    # the implicit tracker is the newest served one; Markdown that was never imported
    # (a README, notes) comes after, and `list trackers` says it is no tracker
    readme = ws.root / "docs" / "plans" / "README.md"
    readme.parent.mkdir(parents=True, exist_ok=True)
    readme.write_text("# Plans\n\nOne file per initiative; see CONTRIBUTING.\n")
    proc = ws.wtctl("progress", tracker=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Tracker: docs/plans/my-project.md" in proc.stdout
    listed = ws.wtctl("list trackers", tracker=False)
    assert listed.returncode == 0
    lines = listed.stdout.splitlines()
    assert len(lines) == 3, listed.stdout
    (readme_line,) = [line for line in lines if "README" in line]
    assert "not a tracker" in readme_line
    assert not (ws.root / ".ecw" / "plans" / "README.json").exists()


def test_list_trackers_shows_a_plan_not_imported_yet_and_writes_nothing(ws: Workspace) -> None:
    # a read command imported every plan of docs/plans/: notes.json written, notes.md
    # replaced by a rendered view, and a bare `progress` then took notes for the tracker
    notes = ws.root / "docs" / "plans" / "notes.md"
    notes.parent.mkdir(parents=True, exist_ok=True)
    text = "# Notes\n\n- [ ] ask Bob about the API\n- [x] book the room\n"
    notes.write_text(text)
    listed = ws.wtctl("--json", "list trackers", tracker=False)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    rows = {row["name"]: row for row in json.loads(listed.stdout)["result"]}
    assert rows["notes"] == {"name": "notes", "imported": False, "tasks": 2}
    assert "progress" in rows["my-project"]
    assert notes.read_text() == text
    assert not (ws.root / ".ecw" / "plans" / "notes.json").exists()
    proc = ws.wtctl("progress", tracker=False)
    assert "Tracker: docs/plans/my-project.md" in proc.stdout
    # the first command that names it imports it, as before
    named = ws.wtctl("--tracker", "notes", "show progress", tracker=False)
    assert named.returncode == 0, named.stdout + named.stderr
    assert (ws.root / ".ecw" / "plans" / "notes.json").exists()
    again = ws.wtctl("list trackers", tracker=False).stdout
    assert "not imported" not in again and "notes" in again


def test_a_packages_tracker_in_a_monorepo_is_found_by_its_path(tmp_path: Path) -> None:
    # the workspace was the nearest folder with .git (the monorepo's top): "No tracker
    # 'q' in /mono" for pkg/docs/plans/q.md, which names its own workspace, pkg
    mono = tmp_path / "mono"
    (mono / ".git").mkdir(parents=True)
    plans = mono / "pkg" / "api" / "docs" / "plans"
    plans.mkdir(parents=True)
    (plans / "q.md").write_text("# Q\n\n## Phase 1: Build\n\n- [ ] Write it\n- [x] Plan it\n")
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(run), "XDG_STATE_HOME": str(run / "state")}
    env.pop("WTD_SOCKET", None)
    try:
        for cwd, given in ((mono, "pkg/api/docs/plans/q.md"), (plans.parent, "../docs/plans/q.md")):
            proc = subprocess.run(
                [str(BIN / "wtctl"), "--tracker", given, "show progress"],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert proc.returncode == 0, proc.stdout + proc.stderr
            assert "Overall progress: 50%" in proc.stdout
        assert (mono / "pkg" / "api" / ".ecw" / "plans" / "q.json").exists()
        assert not (mono / ".ecw").exists()
    finally:
        pid_file = run / "wtd" / "wtd.sock.lock"
        if pid_file.exists() and pid_file.read_text().strip():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)


def test_json_output_is_one_object_per_phrase(ws: Workspace) -> None:
    proc = ws.wtctl("--json", "show progress")
    assert proc.returncode == 0
    doc = json.loads(proc.stdout)
    assert set(doc) >= {"schema", "ok", "result", "error", "healing", "health"}
    assert doc["schema"] == 1 and doc["ok"] is True and doc["error"] is None
    assert doc["result"]["overall"] == 44
    bad = ws.wtctl("--json", "mark task 2 complete")
    assert bad.returncode == 2
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False and doc["error"]["code"] == "invalid_task_id"
    batch = ws.wtctl("--json", stdin="progress\nshwo progress\nmark 2.3 done\n")
    docs = [json.loads(line) for line in batch.stdout.splitlines()]
    assert [d["ok"] for d in docs] == [True, False, True]
    assert docs[1]["error"]["suggestions"]


def test_show_health_lines(ws: Workspace) -> None:
    out = ws.ok("--show-health", "--verbose", "show progress").splitlines()
    assert out[0] == "Overall progress: 44%"
    health = out.index("Health: HEALTHY (100.0% success rate)")
    assert out[health + 1] == "  Operations: 1"
    assert out[health + 2] == "  Failures: 0"
    assert out[health + 3].startswith("  Avg latency: ") and out[health + 3].endswith("ms")


def test_user_mistakes_do_not_hurt_health(ws: Workspace) -> None:
    for _ in range(3):
        assert ws.wtctl("shwo progress").returncode == 2
    out = ws.ok("--show-health", "progress")
    assert "Health: HEALTHY (100.0% success rate)" in out


def test_batch_mode_answers_each_line(ws: Workspace) -> None:
    proc = ws.wtctl(stdin="show progress\n\n# a comment\nmark task 2.2 complete\nprogress\n")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "Overall progress: 44%"
    assert "Overall progress: 56%" in lines
    assert ws.task("2.2")["status"] == "complete"


def test_batch_exit_code_is_first_failure(ws: Workspace) -> None:
    proc = ws.wtctl(stdin="progress\nmark task 2 done\nmark task 9.9 done\n")
    assert proc.returncode == 2


def test_no_autostart_reports_unavailable(ws: Workspace) -> None:
    proc = ws.wtctl("--no-autostart", "show progress")
    assert proc.returncode == 5
    assert "unavailable" in proc.stderr
    assert ws.daemon_pid() is None


def test_flags_for_later_levels_are_accepted(ws: Workspace) -> None:
    out = ws.ok("--agent", "planner", "--skip-consent", "mark task 2.3 in progress")
    assert "2.3" in out
    out = ws.ok("--subagent", "show progress")
    assert "Overall progress" in out


def test_usage_errors(ws: Workspace) -> None:
    proc = ws.wtctl("--frobnicate", "progress")
    assert proc.returncode == 2 and "unknown option --frobnicate" in proc.stderr
    proc = ws.wtctl("--tracker", tracker=False)
    assert proc.returncode == 2


def test_a_one_shot_call_imports_neither_json_nor_re_enum_or_struct(
    ws: Workspace, tmp_path: Path
) -> None:
    """Real calls, through the launcher's own program in an installed venv, answered by
    the real wtd: what each had imported when it was done."""
    ws.start_daemon()
    python = installed_venv(tmp_path) / "bin" / "python"
    program = launcher_code(f"status = main()\n{SHOW_MODULES}\nsys.exit(status)")

    def call(*args: str) -> tuple[int, str, set[str]]:
        proc = subprocess.run(
            [str(python), "-I", "-S", "-c", program, "--tracker", str(ws.md), *args],
            capture_output=True,
            text=True,
            env=ws.env,
            cwd=ws.root,
            timeout=60,
        )
        return proc.returncode, proc.stdout + proc.stderr, imported(proc.stdout)

    calls = [
        (("show progress",), 0, "Overall progress: 44%"),
        (("mark task 2.2 complete",), 0, "2.2"),
        (("--show-health", "--verbose", "show progress"), 0, "Health:"),
        (("mark task 9.9 complete",), 1, "9.9"),  # not found
        (("shwo progress",), 2, "progress"),  # not understood: suggestions
    ]
    for args, status, said in calls:
        code, out, modules = call(*args)
        assert (code, said in out) == (status, True), (args, out)
        assert "wtd.wire" in modules and not modules & NEVER_ON_THE_ONE_SHOT_PATH, args
    assert ws.task("2.2")["status"] == "complete"
    code, out, modules = call("--json", "show progress")  # --json prints with json
    assert code == 0 and json.loads(out.split("\n", 1)[0])["ok"] is True


def test_a_timeout_that_is_no_number_is_not_a_traceback(ws: Workspace) -> None:
    ws.env["WTCTL_TIMEOUT"] = "abc"
    proc = ws.wtctl("show progress")
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
