"""``wtctl mcp`` without processes: the phrase each tool sends, the caller's name, how a
reply reads as a tool result; and that the one-shot path never loads the SDK."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from wtctl.args import parse_args
from wtctl.mcp import calls
from wtd import wire

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (calls.progress, "show progress"),
        (calls.next_task, "next"),
        (lambda: calls.claim(), "claim next"),
        (lambda: calls.claim(phase=2), "claim next in phase 2"),
        (lambda: calls.claim(" 2.3 "), "claim task 2.3"),
        (lambda: calls.release("2.3"), "release task 2.3"),
        (lambda: calls.show_task("2.3"), "show task 2.3"),
        (lambda: calls.set_status("2.3", "in progress"), "mark task 2.3 in progress"),
        (lambda: calls.add_task(3, "Ship\n  it"), "add task to phase 3: Ship it"),
        (lambda: calls.history(), "history"),
        (lambda: calls.history("2.3"), "history task 2.3"),
    ],
)
def test_each_tool_is_one_phrase(make: Callable[[], str], phrase: str) -> None:
    assert make() == phrase


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: calls.show_task("2.3 complete"), "invalid_task_id"),
        (lambda: calls.release(""), "invalid_task_id"),
        (lambda: calls.set_status("2.3\nmark 2.4", "complete"), "invalid_task_id"),
        (lambda: calls.claim("2.3", 2), "invalid_argument"),
        (lambda: calls.add_task(3, " \n"), "invalid_argument"),
        (lambda: calls.set_status("2.3", ""), "invalid_argument"),
    ],
)
def test_an_argument_that_would_change_the_phrase_is_refused(
    make: Callable[[], str], code: str
) -> None:
    with pytest.raises(calls.BadArgument) as refused:
        make()
    answer = calls.refused(refused.value)
    assert answer.error
    assert answer.structured["error"]["code"] == code
    assert answer.structured["exit_code"] == wire.EXIT_INVALID


@pytest.mark.parametrize(
    ("client", "agent"),
    [
        ("claude-code", "claude-code"),
        ("Claude Desktop", "Claude-Desktop"),
        ("a/b:c", "a-b-c"),
        ("--x..", "x"),
        ("", "mcp"),
        (None, "mcp"),
        ("é", "mcp"),
        ("x" * 100, "x" * 64),
        ("user", "mcp-user"),  # names wtd gives others: the daemon refuses them
        ("Git", "mcp-Git"),
    ],
)
def test_the_client_name_becomes_an_agent_name(client: str | None, agent: str) -> None:
    assert calls.agent_name(client) == agent


def test_agent_from_the_command_line_or_environment_wins_over_the_client(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("WT_AGENT", raising=False)
    assert calls.request(parse_args([]), "next", tracker=None, client="c")["options"] == {
        "agent": "c"
    }
    assert calls.request(parse_args(["--agent", "a"]), "next", tracker=None, client="c")[
        "options"
    ] == {"agent": "a"}
    monkeypatch.setenv("WT_AGENT", "env")
    assert calls.request(parse_args([]), "next", tracker=None, client="c")["options"] == {
        "agent": "env"
    }


def test_each_request_has_a_fresh_id_and_the_tools_tracker_wins() -> None:
    args = parse_args(["--tracker", "server-plan"])
    first = calls.request(args, "next", tracker=None, client=None)
    second = calls.request(args, "next", tracker="tool-plan", client=None)
    assert first["id"] != second["id"]
    assert (first["tracker"], second["tracker"]) == ("server-plan", "tool-plan")


def _reply(**fields: Any) -> dict[str, Any]:
    return {"type": wire.REPLY, "ok": True, "exit_code": 0, **fields}


def test_a_reply_reads_as_its_lines_with_its_result() -> None:
    reply = _reply(
        healing=["✓ Recovery: Normalized to 'complete'"],
        lines=["Task 2.3 marked complete."],
        result={"task": "2.3"},
        tracker="docs/plans/p.md",
    )
    answer = calls.answer(reply)
    assert not answer.error
    assert answer.text == "✓ Recovery: Normalized to 'complete'\nTask 2.3 marked complete."
    assert answer.structured == {"tracker": "docs/plans/p.md", "result": {"task": "2.3"}}


def test_an_error_reply_is_a_tool_error_with_its_message_and_exit_code() -> None:
    error = wire.error_info("not_found", "Task 9.9 not found (nearest: 2.3)", ["2.3"])
    answer = calls.answer(_reply(ok=False, exit_code=1, error=error))
    assert answer.error
    assert answer.text.splitlines() == [
        "Task 9.9 not found (nearest: 2.3)",
        "(exit 1: not_found)",
    ]
    assert answer.structured["exit_code"] == 1
    assert answer.structured["error"] == error


def test_a_claim_lifts_the_claimed_id() -> None:
    answer = calls.answer(_reply(result={"id": "2.3", "until": "…"}), claimed=True)
    assert answer.structured["id"] == "2.3"


def test_history_keeps_its_newest_rows() -> None:
    rows = [{"seq": n} for n in range(5)]
    lines = ["History (p):", *(f"#{n}" for n in range(5))]
    answer = calls.answer(_reply(result=rows, lines=lines), limit=2)
    assert answer.structured["result"] == rows[-2:]
    assert answer.text.splitlines() == ["History (p):", "#3", "#4"]


def test_an_unreachable_daemon_is_a_tool_error_with_exit_5(tmp_path: Path) -> None:
    daemon = calls.Daemon(parse_args(["--socket", str(tmp_path / "none.sock"), "--no-autostart"]))
    reply = daemon.ask(calls.request(parse_args([]), "next", tracker=None, client=None))
    answer = calls.answer(reply)
    assert answer.error
    assert answer.structured["exit_code"] == wire.EXIT_UNAVAILABLE
    assert "wtd unavailable" in answer.text


# ---------------------------------------------------------------- what is imported when


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def _new_modules(code: str) -> list[str]:
    probe = (
        "import sys, json; before = set(sys.modules); "
        f"{code}; "
        "print(json.dumps(sorted(m for m in set(sys.modules) - before "
        "if m.split('.')[0] in ('wtctl', 'mcp', 'mcp_types', 'pydantic'))))"
    )
    done = _run(probe)
    assert done.returncode == 0, done.stderr
    found: list[str] = json.loads(done.stdout)
    return found


def test_the_one_shot_client_does_not_import_wtctl_mcp_or_the_sdk() -> None:
    loaded = _new_modules("import wtctl.cli")
    assert not [m for m in loaded if m.startswith(("wtctl.mcp", "mcp", "pydantic"))]


def test_importing_wtctl_mcp_does_not_load_the_sdk() -> None:
    loaded = _new_modules("import wtctl.mcp, wtctl.mcp.calls")
    assert not [m for m in loaded if m.startswith(("wtctl.mcp.server", "mcp", "pydantic"))]


def test_without_the_sdk_wtctl_mcp_says_how_to_install_it() -> None:
    # a None in sys.modules makes ``import mcp`` fail as if it were not installed
    done = _run(
        "import sys; sys.modules['mcp'] = None; from wtctl.cli import main; sys.exit(main(['mcp']))"
    )
    assert done.returncode == wire.EXIT_INVALID
    assert "pip install 'wtd[mcp]'" in done.stderr
    assert done.stdout == ""


def test_wtctl_mcp_refuses_a_phrase_and_the_one_shot_only_flags() -> None:
    for argv in (["mcp", "show progress"], ["mcp", "--skip-consent"], ["mcp", "--json"]):
        done = _run(f"import sys; from wtctl.cli import main; sys.exit(main({argv!r}))")
        assert done.returncode == wire.EXIT_INVALID, argv
        assert "usage: wtctl mcp" in done.stderr
