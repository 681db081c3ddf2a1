"""End to end: the four enforcement levels against a real daemon (SPEC §7)."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Workspace

pytestmark = pytest.mark.e2e


def initiative(ws: Workspace, n: int) -> list[str]:
    plans = ws.root / ".ecw" / "plans"
    return sorted(p.name for p in plans.glob(f"{n:02d}-*.json"))


def test_advisory_rules_are_shown_without_blocking(ws: Workspace) -> None:
    (ws.root / "CLAUDE.md").write_text(
        "# Project\n\nSome text.\n\n## Work tracker rules\n\n"
        "- Create an initiative only when the user asks for one.\n"
        "- Never delete a tracker.\n\n## Other\n\n- unrelated\n"
    )
    proc = ws.wtctl("--skip-consent", "create initiative 20 called Payments")
    assert proc.returncode == 0, proc.stderr
    assert "ℹ Advisory: Create an initiative only when the user asks for one." in proc.stdout
    assert "unrelated" not in proc.stdout
    assert initiative(ws, 20) == ["20-payments.json"]


def test_create_initiative_needs_consent_and_writes_nothing(ws: Workspace) -> None:
    proc = ws.wtctl("create initiative 20")
    assert proc.returncode == 3
    assert proc.stderr.splitlines()[:4] == [
        "? This operation requires consent.",
        "  Creating new Initiative requires user approval.",
        "",
        '  Respond with "yes" or "approved" to proceed.',
    ]
    assert initiative(ws, 20) == []
    assert not (ws.root / "docs" / "plans" / "20-initiative.md").exists()


def test_skip_consent_allows_it(ws: Workspace) -> None:
    out = ws.ok("--skip-consent", "create initiative 20 called Payments")
    assert "Created initiative 20: Payments → docs/plans/20-payments.md" in out
    data = json.loads((ws.root / ".ecw/plans/20-payments.json").read_text())
    assert data["meta"]["title"] == "Payments" and data["meta"]["initiative_id"] == "20"
    assert (
        (ws.root / "docs/plans/20-payments.md").read_text().startswith("# Work Tracker: Payments")
    )


def _consent_state(ws: Workspace, **state: Any) -> None:
    doc = {
        "session_id": "s",
        "approved_initiatives": [],
        "blanket_approval": False,
        "last_updated": "2026-11-25T10:00:00Z",
        **state,
    }
    (ws.root / ".ecw" / "consent-state.json").write_text(json.dumps(doc))


def test_approved_initiatives_allow_exactly_those(ws: Workspace) -> None:
    _consent_state(ws, approved_initiatives=[20])
    ws.ok("create initiative 20")
    assert initiative(ws, 20) == ["20-initiative.json"]
    assert ws.wtctl("create initiative 21").returncode == 3


def test_blanket_approval_allows_any(ws: Workspace) -> None:
    _consent_state(ws, blanket_approval=True)
    ws.ok("create initiative 21")
    assert initiative(ws, 21) == ["21-initiative.json"]


def test_blanket_phrase_grants_and_persists(ws: Workspace) -> None:
    assert "Blanket approval granted" in ws.ok("you may create initiatives as needed")
    state = json.loads((ws.root / ".ecw" / "consent-state.json").read_text())
    assert {"session_id", "approved_initiatives", "blanket_approval", "last_updated"} <= set(state)
    assert state["blanket_approval"] is True and state["standing_approvals"] == {}
    ws.ok("create initiative 22")
    assert initiative(ws, 22) == ["22-initiative.json"]


def test_yes_in_batch_mode_carries_out_the_question(ws: Workspace) -> None:
    proc = ws.wtctl(stdin="create initiative 20 called Payments\nyes\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ Consent: Approved once" in proc.stdout
    assert initiative(ws, 20) == ["20-payments.json"]
    state = json.loads((ws.root / ".ecw" / "consent-state.json").read_text())
    assert state["approved_initiatives"] == [20]
    audit = (ws.root / ".ecw" / "audit.log").read_text()
    assert '"decision":"required"' in audit and '"decision":"granted"' in audit


def test_a_lone_yes_has_nothing_to_approve(ws: Workspace) -> None:
    proc = ws.wtctl("yes")
    assert proc.returncode == 2
    assert "nothing is waiting for consent" in proc.stderr


def test_subagents_are_denied_even_with_skip_consent(ws: Workspace) -> None:
    proc = ws.wtctl("--subagent", "--skip-consent", "create initiative 20")
    assert proc.returncode == 4
    assert "subagent" in proc.stderr.lower()
    assert initiative(ws, 20) == []
    env_proc = subprocess.run(
        [str(BIN / "wtctl"), "--tracker", str(ws.md), "delete tracker"],
        env={**ws.env, "WT_SUBAGENT": "1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert env_proc.returncode == 4
    assert ws.json.exists()
    assert ws.wtctl("--subagent", "you may create initiatives as needed").returncode == 4
    assert ws.wtctl("--subagent", "mark phase 2 complete").returncode == 4
    assert "Overall progress" in ws.ok("--subagent", "show progress")  # reads are fine


def test_bulk_changes_need_consent(ws: Workspace) -> None:
    json_before = ws.wtctl("show progress") and ws.json.read_bytes()
    proc = ws.wtctl("mark all tasks in phase 2 complete")
    assert proc.returncode == 3
    assert (
        "  Changing 3 tasks of my-project at once (mark all tasks in phase 2 complete) "
        "requires user approval." in proc.stderr
    )
    assert ws.json.read_bytes() == json_before
    out = ws.ok("--skip-consent", "mark phase 2 complete")
    assert "Phase 2: 3 tasks marked complete." in out
    assert all(t["status"] == "complete" for t in ws.data()["tasks"] if t["phase"] == 2)


def _ask(s: socket.socket, phrase: str, ws: Workspace, token: str | None = None) -> dict[str, Any]:
    options = {"consent_token": token} if token else {}
    body = json.dumps(
        {
            "type": "command",
            "id": phrase + str(token),
            "phrase": phrase,
            "cwd": str(ws.root),
            "tracker": str(ws.md),
            "options": options,
        }
    ).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    (n,) = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))
    reply: dict[str, Any] = json.loads(s.recv(n, socket.MSG_WAITALL))
    return reply


def test_consent_tokens_are_one_time_and_bound_to_the_operation(ws: Workspace) -> None:
    ws.start_daemon()
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(str(ws.sock))
    hello = json.dumps({"type": "hello", "version": 1}).encode()
    s.sendall(struct.pack(">I", len(hello)) + hello)
    s.recv(struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0], socket.MSG_WAITALL)
    asked = _ask(s, "create initiative 20", ws)
    assert asked["exit_code"] == 3
    token = asked["result"]["consent_token"]
    # the token of initiative 20's question does not open initiative 21
    other = _ask(s, "create initiative 21", ws, token)
    assert other["exit_code"] == 3 and initiative(ws, 21) == []
    yes = _ask(s, "yes", ws, token)
    assert yes["ok"], yes
    assert initiative(ws, 20) == ["20-initiative.json"]
    retry = _ask(s, "yes", ws, token)  # the same request id again: the first reply (SPEC §6)
    assert retry == yes and initiative(ws, 20) == ["20-initiative.json"]
    replay = _ask(s, "yes ", ws, token)  # the same token in a new request: refused
    assert replay["exit_code"] == 2
    again = _ask(s, "delete tracker", ws, token)  # nor does it open another operation
    assert again["exit_code"] == 3 and ws.json.exists()
    s.close()


def test_delete_and_restore_bring_back_identical_files(ws: Workspace) -> None:
    ws.ok("mark task 2.2 complete")
    json_before, md_before = ws.json.read_bytes(), ws.md.read_bytes()
    out = ws.ok("--skip-consent", "delete tracker")
    assert "Deleted tracker my-project" in out
    assert not ws.json.exists() and not ws.md.exists()
    assert ws.wtctl("show progress").returncode == 1
    assert "Restored tracker my-project" in ws.ok("restore tracker")
    assert ws.json.read_bytes() == json_before
    assert ws.md.read_bytes() == md_before
    assert "Overall progress: 56%" in ws.ok("show progress")
    ws.ok("mark task 2.3 in progress")  # and it is served again, journal and all


def test_trackers_outside_the_served_workspaces_are_refused(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = tmp_path_factory.mktemp("cfg") / "wtd.toml"
    served = tmp_path_factory.mktemp("served")
    config.write_text(f'[daemon]\nworkspaces = ["{served}"]\n')
    ws.env["WTD_CONFIG"] = str(config)
    proc = ws.wtctl("show progress")
    assert proc.returncode == 4
    assert "not a workspace this daemon serves" in proc.stderr
    # nothing is made in a workspace this daemon does not serve (its lock, a log)
    assert not (ws.root / ".ecw" / "wtd.lock").exists()
    assert not (ws.root / ".ecw" / "audit.log").exists()


def test_the_agent_tables_the_readme_documents_start_wtd_and_apply(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # `subagent = true` and deny kinds such as "change" made wtd refuse its config:
    # every autostarted call failed with exit 5
    config = tmp_path_factory.mktemp("cfg") / "wtd.toml"
    config.write_text(
        "[enforcement.agents.claude-code]\nsubagent = true\n\n"
        '[enforcement.agents.reviewer]\ndeny = ["change", "admin", "skip_consent"]\n'
        "read_only = false\n"
    )
    ws.env["WTD_CONFIG"] = str(config)
    assert "Overall progress" in ws.ok("show progress")
    denied = ws.wtctl("--agent", "reviewer", "mark task 2.2 complete")
    assert denied.returncode == 4, denied.stdout + denied.stderr
    sub = ws.wtctl("--agent", "claude-code", "create initiative 7 called Next")
    assert sub.returncode == 4 and "subagent" in sub.stderr, sub.stdout + sub.stderr
    assert ws.task("2.2")["status"] == "in_progress"
    ws.ok("mark task 2.2 complete")  # anyone else may


def test_a_config_wtd_cannot_start_with_is_shown_by_the_autostarting_call(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = tmp_path_factory.mktemp("cfg") / "wtd.toml"
    config.write_text("[enforcement.agents.bot]\nbogus = 1\n")
    ws.env["WTD_CONFIG"] = str(config)
    proc = ws.wtctl("show progress")
    assert proc.returncode == 5
    assert "wtd could not start" in proc.stderr and "unknown key 'bogus'" in proc.stderr
    assert str(config) in proc.stderr


def test_the_hook_runs_from_wtctl(ws: Workspace) -> None:
    payload = {
        "session_id": "s",
        "hook_event_name": "PreToolUse",
        "cwd": str(ws.root),
        "tool_name": "Write",
        "tool_input": {"file_path": ".ecw/plans/my-project.json", "content": "{}"},
    }
    proc = subprocess.run(
        [str(BIN / "wtctl"), "hook", "pre-tool-use"],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "wtctl" in proc.stderr
    ok = subprocess.run(
        [str(BIN / "wtctl"), "hook", "pre-tool-use"],
        input="not json",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert ok.returncode == 0 and "warning" in ok.stderr


# ---------------------------------------------------------------- agent names


@pytest.mark.parametrize(
    "name",
    [
        "evil\n#99 2026-01-01 00:00:00  user  Fake line",  # a forged line of history
        "x\x1b[31mred",  # an escape sequence for the terminal
        "bidi\u202eevil",  # an invisible reordering
        " padded",
        "n" * 65,
        "user",  # the person at the keyboard: releases their claims
        "USER",
        "git",
        "wtd",
    ],
)
def test_an_agent_name_that_would_pass_for_another_or_forge_output_is_refused(
    ws: Workspace, name: str
) -> None:
    ws.ok("claim task 2.3")  # the user's claim
    json_before = ws.json.read_bytes()
    proc = ws.wtctl("--agent", name, "release task 2.3")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "agent" in proc.stderr and "\x1b" not in proc.stderr + proc.stdout
    assert ws.json.read_bytes() == json_before
    ws.env["WT_AGENT"] = name  # the environment's name is the same name
    assert ws.wtctl("mark task 2.3 complete").returncode == 2
    assert ws.json.read_bytes() == json_before


def test_agent_names_match_their_config_table_whatever_their_case(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    config = tmp_path_factory.mktemp("cfg") / "wtd.toml"
    config.write_text("[enforcement.agents.reviewer]\nread_only = true\n")
    ws.env["WTD_CONFIG"] = str(config)
    for name in ("reviewer", "REVIEWER", "Reviewer"):
        proc = ws.wtctl("--agent", name, "claim task 2.3")
        assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "claim" not in json.dumps(ws.task("2.3"))
    ws.ok("--agent", "Builder", "claim task 2.3")  # a name with capitals is fine


def test_a_subagent_may_not_import_a_plan_which_creates_a_tracker(ws: Workspace) -> None:
    plan = ws.root / "launch.md"
    plan.write_text("# Launch\n\n## Phase 1: Prepare\n\n- [ ] Write the notes\n")
    proc = ws.wtctl("--subagent", f"import plan {plan} as 07-launch")
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "create trackers" in proc.stderr
    assert not (ws.root / ".ecw" / "plans" / "07-launch.json").exists()
    ws.ok(f"import plan {plan} as 07-launch")  # the user may
    assert (ws.root / ".ecw" / "plans" / "07-launch.json").exists()
