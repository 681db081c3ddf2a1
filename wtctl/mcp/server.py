"""The MCP server on the official SDK (``MCPServer``, stdio): the tools and their schemas.

Each tool builds its phrase with ``wtctl.mcp.calls``, sends it in a worker thread
(``wtctl.connection`` blocks) and returns the answer as a ``CallToolResult``: the
reply's lines as text, ``structuredContent`` with the reply's ``result`` (and
``tracker``), ``isError`` with the daemon's message and exit status when it failed.
No output schemas: they would double what ``tools/list`` costs an agent's context,
which ``tests/e2e/test_mcp.py`` keeps under 8 KB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio.to_thread
from mcp.server.mcpserver import Context, MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from wtctl.args import Args
from wtctl.mcp import calls
from wtd import __version__

INSTRUCTIONS = (
    "The project's work tracker, served by wtd. Take work with claim, report it with "
    "set_status, release a task you stop; wtd checks and records every call."
)
READ = ToolAnnotations(read_only_hint=True)
CLAIM = (
    "Claim a task for yourself and mark it in progress: the next unclaimed one, or the one "
    "given. Other agents cannot take it while the claim lasts. Result: its id."
)

Task = Annotated[str, Field(description="Task ID, e.g. 2.3")]
Tracker = Annotated[
    str | None, Field(description="Tracker path or name (default: the server's tracker)")
]


def build(args: Args, daemon: calls.Daemon) -> MCPServer[Any]:
    """The server, its tools asking ``daemon`` with ``args``'s options."""
    server: MCPServer[Any] = MCPServer(
        "wtd", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )

    async def ask(
        ctx: Context[Any, Any],
        phrase: Callable[[], str],
        tracker: str | None,
        *,
        limit: int | None = None,
        claimed: bool = False,
    ) -> CallToolResult:
        try:
            text = phrase()
        except calls.BadArgument as exc:
            return _result(calls.refused(exc))
        message = calls.request(args, text, tracker=tracker, client=_client_name(ctx))
        reply = await anyio.to_thread.run_sync(daemon.ask, message)
        return _result(calls.answer(reply, limit=limit, claimed=claimed))

    @server.tool(annotations=READ)
    async def progress(ctx: Context[Any, Any], tracker: Tracker = None) -> CallToolResult:
        """Show the tracker's overall and per-phase progress."""
        return await ask(ctx, calls.progress, tracker)

    @server.tool(name="next", annotations=READ)
    async def next_task(ctx: Context[Any, Any], tracker: Tracker = None) -> CallToolResult:
        """Show the next task: the first pending one whose dependencies are complete."""
        return await ask(ctx, calls.next_task, tracker)

    @server.tool(description=CLAIM)
    async def claim(
        ctx: Context[Any, Any],
        task: Annotated[str | None, Field(description="This task (default: the next)")] = None,
        phase: Annotated[int | None, Field(description="The next in this phase")] = None,
        tracker: Tracker = None,
    ) -> CallToolResult:
        return await ask(ctx, lambda: calls.claim(task, phase), tracker, claimed=True)

    @server.tool()
    async def release(
        ctx: Context[Any, Any], task: Task, tracker: Tracker = None
    ) -> CallToolResult:
        """Give back a task you claimed (pending again unless complete)."""
        return await ask(ctx, lambda: calls.release(task), tracker)

    @server.tool(annotations=READ)
    async def show_task(
        ctx: Context[Any, Any], task: Task, tracker: Tracker = None
    ) -> CallToolResult:
        """Show one task: name, phase, status, verification, dependencies, sub-tasks."""
        return await ask(ctx, lambda: calls.show_task(task), tracker)

    @server.tool()
    async def set_status(
        ctx: Context[Any, Any],
        task: Task,
        status: Annotated[
            str, Field(description="pending, in_progress, complete, blocked or skipped")
        ],
        tracker: Tracker = None,
    ) -> CallToolResult:
        """Set a task's status."""
        return await ask(ctx, lambda: calls.set_status(task, status), tracker)

    @server.tool()
    async def add_task(
        ctx: Context[Any, Any],
        phase: Annotated[int, Field(description="Phase number")],
        name: Annotated[str, Field(description="Task name")],
        tracker: Tracker = None,
    ) -> CallToolResult:
        """Add a pending task at the end of a phase. Result: its id."""
        return await ask(ctx, lambda: calls.add_task(phase, name), tracker)

    @server.tool(annotations=READ)
    async def history(
        ctx: Context[Any, Any],
        task: Annotated[str | None, Field(description="Only changes to this task")] = None,
        limit: Annotated[int, Field(ge=1, le=calls.HISTORY_MAX, description="Newest N")] = 10,
        tracker: Tracker = None,
    ) -> CallToolResult:
        """Show who changed what and when, oldest first."""
        return await ask(ctx, lambda: calls.history(task), tracker, limit=limit)

    return server


def _client_name(ctx: Context[Any, Any]) -> str | None:
    """The ``clientInfo.name`` the MCP client gave when it connected."""
    params = ctx.request_context.session.client_params
    return params.client_info.name if params is not None else None


def _result(answer: calls.Answer) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(type="text", text=answer.text)],
        structured_content=answer.structured,
        is_error=answer.error,
    )


def serve(args: Args) -> int:
    """Serve MCP on stdin/stdout until the client closes stdin."""
    daemon = calls.Daemon(args)
    try:
        build(args, daemon).run("stdio")
    finally:
        daemon.close()
    return 0
