"""End to end: a subagent's Bash call through the real hook, then the real wtctl and wtd.

Claude Code's part is played by hand: run ``wtctl hook pre-tool-use`` with the payload a
subagent's Bash call produces; when it answers ``allow`` with ``updatedInput``, run that
command with bash, as the Bash tool would (SPEC §7, level 4).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Workspace

pytestmark = pytest.mark.e2e

AGENT = "tracker-helper"


def hook(
    ws: Workspace,
    command: str,
    agent_type: str = AGENT,
    *,
    cwd: Path | None = None,
    subagent: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run the hook (the console script, as settings.json names it) on a subagent's call
    (``subagent=False``: the main agent's), made from ``cwd`` (the project by default)."""
    payload = {
        "session_id": "0b7e6f2a-session",
        "transcript_path": str(ws.root / "transcript.jsonl"),
        "cwd": str(cwd or ws.root),
        "permission_mode": "default",
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": command, "description": "Update the work tracker"},
        "tool_use_id": "toolu_01E2E",
    }
    if subagent:
        payload |= {"agent_id": "a7f3c2d1e4b5", "agent_type": agent_type}
    return subprocess.run(
        [str(BIN / "wtctl"), "hook", "pre-tool-use"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        env=ws.env,
        cwd=ws.root,
        timeout=30,
    )


def allowed_command(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)["hookSpecificOutput"]
    assert answer["permissionDecision"] == "allow"
    assert answer["updatedInput"]["description"] == "Update the work tracker"
    command: str = answer["updatedInput"]["command"]
    return command


def run_bash(ws: Workspace, command: str) -> subprocess.CompletedProcess[str]:
    """Run ``command`` as Claude Code's Bash tool would: bash, in the project."""
    env = {**ws.env, "PATH": f"{BIN}{os.pathsep}{ws.env.get('PATH', '')}"}
    return subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env=env,
        cwd=ws.root,
        timeout=60,
    )


def audit(ws: Workspace) -> list[dict[str, Any]]:
    path = ws.root / ".ecw" / "audit.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def test_a_subagent_change_is_recorded_as_the_subagents(ws: Workspace) -> None:
    command = allowed_command(hook(ws, f'wtctl --tracker {ws.md} "mark task 2.2 complete"'))
    assert command.startswith(f"WT_SUBAGENT=1 WT_AGENT={AGENT} wtctl ")
    done = run_bash(ws, command)
    assert done.returncode == 0, done.stderr
    assert "Task 2.2 marked complete" in done.stdout
    assert ws.task("2.2")["status"] == "complete"
    history = json.loads(ws.ok("--json", "history task 2.2"))
    assert history["result"][-1]["actor"] == f"subagent:{AGENT}"


def test_a_guarded_phrase_is_stopped_by_the_hook_and_by_wtd(ws: Workspace) -> None:
    phrase = f'--tracker {ws.md} "delete tracker"'
    blocked = hook(ws, f"wtctl {phrase}")
    assert (blocked.returncode, blocked.stdout) == (2, "")
    assert "subagents may not delete trackers" in blocked.stderr
    # had Claude Code run it anyway, marked as the hook marks calls, wtd refuses it
    denied = run_bash(ws, f"WT_SUBAGENT=1 WT_AGENT={AGENT} wtctl {phrase}")
    assert denied.returncode == 4, denied.stderr
    assert ws.json.exists()
    entries = [e for e in audit(ws) if e["decision"] == "denied"]
    assert entries and entries[-1]["agent"] == AGENT
    assert entries[-1]["operation"].startswith("delete_tracker")


def test_wtd_applies_the_named_agents_rules_to_a_marked_call(ws: Workspace) -> None:
    config = ws.sock.parent / "wtd.toml"
    config.write_text("[enforcement.agents.reviewer]\nread_only = true\n")
    ws.env["WTD_CONFIG"] = str(config)
    before = ws.json.read_bytes()
    # nothing in the phrase is guarded: the static check lets it through, marked …
    command = allowed_command(
        hook(ws, f'wtctl --tracker {ws.md} "mark task 2.2 complete"', agent_type="reviewer")
    )
    assert "WT_AGENT=reviewer" in command
    # … and wtd, knowing who calls, denies it (the static check could not know)
    done = run_bash(ws, command)
    assert done.returncode == 4, done.stdout + done.stderr
    assert "read-only" in done.stderr
    assert ws.json.read_bytes() == before


@pytest.mark.parametrize(
    "command",
    [
        "wtctl < phrases.txt",
        "cat phrases.txt | wtctl",
        'bash -lc "wtctl yes"',
        "W=wtctl; $W --skip-consent 'create initiative 20'",
        "python3 -c 'from wtctl.cli import main; main([\"yes\"])'",
    ],
)
def test_a_hidden_batch_never_reaches_wtd(ws: Workspace, command: str) -> None:
    (ws.root / "phrases.txt").write_text("create initiative 20\nyes\n")
    done = hook(ws, command)
    assert (done.returncode, done.stdout) == (2, "")
    assert "must be one plain wtctl call" in done.stderr
    assert not list((ws.root / ".ecw" / "plans").glob("20-*.json"))


SED = "sed -i 's/| ⏳ Pending |/| ✅ Complete |/g' "


@pytest.mark.parametrize(
    ("cwd", "command"),
    [
        ("docs", SED + "plans/my-project.md"),
        ("", "cd docs && " + SED + "plans/my-project.md"),
        ("", SED + "docs/*/my-project.md"),
        ("", SED + "d/plans/my-project.md"),
        ("docs", "find . -name '*.md' -exec " + SED + "{} +"),
    ],
)
def test_a_bulk_edit_of_the_view_without_naming_it_is_blocked(
    ws: Workspace, cwd: str, command: str
) -> None:
    ws.ok("show progress")  # wtd renders the view
    (ws.root / "d").symlink_to(ws.root / "docs")
    view = ws.md.read_text()
    assert "| ⏳ Pending |" in view  # what the sed would turn into "Complete", many rows at once
    done = hook(ws, command, cwd=ws.root / cwd)
    assert (done.returncode, done.stdout) == (2, ""), done.stderr
    assert "plain wtctl call" in done.stderr and "docs/plans/" in done.stderr
    # the main agent may edit the view (edits sync back): the same call is left alone
    assert hook(ws, command, cwd=ws.root / cwd, subagent=False).returncode == 0
    assert ws.md.read_text() == view


def test_a_subagent_wtctl_call_stays_with_this_workspace_and_its_wtd(
    ws: Workspace, tmp_path: Path
) -> None:
    ws.ok("show progress")
    stray = tmp_path / "stray.sock"
    for command, words in [
        (f'wtctl --socket {stray} --tracker {ws.md} "show progress"', "--socket"),
        (f'wtctl --tracker {tmp_path}/other/docs/plans/x.md "show progress"', "outside"),
        ('wtctl "restore tracker my-project"', "restore a tracker"),
    ]:
        done = hook(ws, command)
        assert (done.returncode, done.stdout) == (2, ""), command
        assert words in done.stderr
    assert not stray.exists()
    # from a subfolder, a relative path into the workspace is fine, and runs
    (ws.root / "src").mkdir()
    command = allowed_command(
        hook(ws, 'wtctl --tracker ../docs/plans/my-project.md "show task 2.2"', cwd=ws.root / "src")
    )
    env = {**ws.env, "PATH": f"{BIN}{os.pathsep}{ws.env.get('PATH', '')}"}
    done = subprocess.run(
        ["bash", "-c", command],
        capture_output=True,
        text=True,
        env=env,
        cwd=ws.root / "src",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "2.2" in done.stdout


def test_a_heredoc_program_writing_the_consent_state_is_blocked_for_everyone(
    ws: Workspace,
) -> None:
    command = (
        "python3 - <<'EOF'\nimport json\n"
        "open('.ecw/consent-state.json', 'w').write(json.dumps({'blanket_approval': True}))\n"
        "EOF"
    )
    for subagent in (True, False):
        done = hook(ws, command, subagent=subagent)
        assert (done.returncode, done.stdout) == (2, "")
        assert "under .ecw/" in done.stderr
    assert not (ws.root / ".ecw" / "consent-state.json").exists()
