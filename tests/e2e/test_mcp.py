"""End to end: the SDK's own stdio client drives ``wtctl mcp`` against a real wtd (SPEC §12)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from mcp import ClientSession, StdioServerParameters, stdio_client
from mcp.types import CallToolResult, Implementation, TextContent

from tests.e2e.conftest import BIN, Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.anyio]

TOOLS = {
    "progress",
    "next",
    "claim",
    "release",
    "show_task",
    "set_status",
    "add_task",
    "history",
}
TOOLS_LIST_BUDGET = 8 * 1024  # SPEC §12: what the tool list costs an agent's context
CLIENT = "test agent/1"  # sanitized to test-agent-1


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@asynccontextmanager
async def mcp_client(
    ws: Workspace, *, env: dict[str, str] | None = None, tracker: str | None = None
) -> AsyncIterator[ClientSession]:
    argv = ["mcp", "--tracker", tracker or str(ws.md)]
    server = StdioServerParameters(
        command=str(BIN / "wtctl"), args=argv, env={**ws.env, **(env or {})}, cwd=ws.root
    )
    with open(ws.sock.parent / "mcp.log", "a") as errlog:
        async with (
            stdio_client(server, errlog=errlog) as (read, write),
            ClientSession(read, write, client_info=Implementation(name=CLIENT, version="1")) as s,
        ):
            await s.initialize()
            yield s


def text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    content: dict[str, Any] | None = result.structured_content
    assert content is not None, text(result)
    return content


async def call(session: ClientSession, tool: str, **arguments: Any) -> CallToolResult:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, text(result)
    return result


def test_tools_list_as_sent_names_the_tools_and_stays_under_8_kb(ws: Workspace) -> None:
    requests = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "probe", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
    ]
    # stdin stays open until the answer to tools/list is read, as an MCP client keeps
    # it: at end of input the server may stop before answering what is still queued
    proc = subprocess.Popen(
        [str(BIN / "wtctl"), "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=ws.env,
        cwd=ws.root,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        proc.stdin.write("".join(json.dumps(r) + "\n" for r in requests).encode())
        proc.stdin.flush()
        sent: list[bytes] = []
        for line in proc.stdout:  # one JSON-RPC message a line
            if json.loads(line).get("id") == 2:
                sent.append(line.rstrip(b"\n"))
                break
        proc.stdin.close()
        assert proc.wait(60) == 0, proc.stderr.read().decode() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(sent) == 1
    tools = json.loads(sent[0])["result"]["tools"]
    assert {tool["name"] for tool in tools} == TOOLS
    assert all(tool["description"] for tool in tools)
    assert len(sent[0]) < TOOLS_LIST_BUDGET, len(sent[0])


async def test_queries_answer_with_the_reply_lines_and_result(ws: Workspace) -> None:
    async with mcp_client(ws) as session:
        progress = await call(session, "progress")
        assert "Overall progress: 44%" in text(progress).splitlines()
        assert structured(progress)["result"]["overall"] == 44

        upcoming = await call(session, "next")
        assert "Next: 3.1 Write release notes" in text(upcoming)
        assert structured(upcoming)["result"]["task"]["id"] == "3.1"

        task = await call(session, "show_task", task="1.1")
        assert "Task 1.1: Create repository and packaging" in text(task)
        assert structured(task)["result"]["status"] == "complete"
        assert structured(task)["tracker"] == "docs/plans/my-project.md"


async def test_changes_reach_the_tracker_and_history_names_the_client(ws: Workspace) -> None:
    async with mcp_client(ws) as session:
        await call(session, "set_status", task="2.3", status="in progress")
        added = await call(session, "add_task", phase=3, name="Announce  the\nrelease")
        assert structured(added)["result"]["task"] == "3.4"
        assert ws.task("2.3")["status"] == "in_progress"
        assert ws.task("3.4")["name"] == "Announce the release"

        history = await call(session, "history", limit=2)
        rows = structured(history)["result"]
        assert [row["actor"] for row in rows] == ["agent:test-agent-1"] * 2
        assert [row["change"] for row in rows] == ["set_task_status", "add_task"]
        assert "agent:test-agent-1" in text(history)

        of_task = await call(session, "history", task="2.3")
        assert [row["change"] for row in structured(of_task)["result"]] == ["set_task_status"]


async def test_a_status_wtd_normalises_is_narrated_as_the_one_shot_does(ws: Workspace) -> None:
    async with mcp_client(ws) as session:
        result = await call(session, "set_status", task="2.3", status="DONE")
    assert "✓ Recovery: Normalized to 'complete'" in text(result)
    assert ws.task("2.3")["status"] == "complete"


async def test_a_daemon_error_is_a_tool_error_with_its_message_and_exit_code(
    ws: Workspace,
) -> None:
    async with mcp_client(ws) as session:
        missing = await session.call_tool("show_task", {"task": "9.9"})
        assert missing.is_error
        assert "Task 9.9 not found" in text(missing)
        assert structured(missing)["exit_code"] == 1
        assert structured(missing)["error"]["code"] == "not_found"

        bad = await session.call_tool("set_status", {"task": "2.3", "status": "sideways"})
        assert bad.is_error
        assert structured(bad)["exit_code"] == 2
    assert ws.task("2.3")["status"] == "pending"


async def test_an_id_that_is_not_one_word_never_reaches_wtd_as_another_phrase(
    ws: Workspace,
) -> None:
    before = ws.data()
    async with mcp_client(ws) as session:
        result = await session.call_tool("show_task", {"task": "2.3 complete"})
    assert result.is_error
    assert structured(result)["error"]["code"] == "invalid_task_id"
    assert ws.data() == before


@pytest.mark.parametrize(
    ("tool", "arguments", "phrase"),
    [
        ("claim", {"task": "9.9"}, "claim task 9.9"),
        ("release", {"task": "9.9"}, "release task 9.9"),
    ],
)
async def test_claim_and_release_pass_the_daemon_answer_through(
    ws: Workspace, tool: str, arguments: dict[str, Any], phrase: str
) -> None:
    one_shot = json.loads(ws.wtctl("--json", "--agent", "test-agent-1", phrase).stdout)
    async with mcp_client(ws) as session:
        result = await session.call_tool(tool, arguments)
    assert result.is_error
    assert structured(result)["error"]["message"] == one_shot["error"]["message"]
    assert structured(result)["error"]["code"] == one_shot["error"]["code"]


async def test_wt_agent_in_the_server_environment_names_the_caller(ws: Workspace) -> None:
    async with mcp_client(ws, env={"WT_AGENT": "builder"}) as session:
        await call(session, "set_status", task="2.3", status="blocked")
        history = await call(session, "history", limit=1)
    assert structured(history)["result"][0]["actor"] == "agent:builder"


async def test_a_tool_given_a_tracker_uses_it_instead_of_the_servers(ws: Workspace) -> None:
    async with mcp_client(ws, tracker="no-such-plan") as session:
        default = await session.call_tool("progress", {})
        progress = await call(session, "progress", tracker="my-project")
    assert default.is_error
    assert structured(default)["error"]["code"] == "not_found"
    assert structured(progress)["result"]["overall"] == 44


async def test_two_agents_claim_through_mcp_and_never_share_a_task(ws: Workspace) -> None:
    """SPEC §12 through MCP: each client is its own agent; a claim gives its task's id,
    the other agent cannot take that task, and a release gives it back."""
    async with (
        mcp_client(ws, env={"WT_AGENT": "mcp-one"}) as one,
        mcp_client(ws, env={"WT_AGENT": "mcp-two"}) as two,
    ):
        first = structured(await call(one, "claim"))["id"]  # the one ready task
        refused = await two.call_tool("claim", {})
        assert refused.is_error and first in text(refused), text(refused)  # names the holder
        second = structured(await call(two, "claim", task="2.3"))["id"]
        assert (first, second) == ("3.1", "2.3")
        taken = await two.call_tool("claim", {"task": first})
        assert taken.is_error and structured(taken)["exit_code"] == 4, text(taken)
        await call(one, "release", task=first)
        assert structured(await call(two, "claim", task=first))["id"] == first
    assert ws.task(first)["status"] == "in_progress"
