"""Tracker commands: the queries and changes of one tracker, carried out by its Store
through the healing loop.

Every command here resolves its tracker, is enforced (a bulk phase change asks
consent first), then runs on the Store; when the tracker was found implicitly (no
``--tracker``), a successful reply names it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import msgspec

from wtd import protocol, workspace
from wtd.actors.executor.context import Context
from wtd.actors.executor.outcomes import exists, label, must_exist
from wtd.enforcement.agents import Action
from wtd.enforcement.consent import Operation
from wtd.messages import Outcome
from wtd.storage import safepath
from wtd.storage.plans import read_plan
from wtd.tracker import commands
from wtd.workspace import TrackerPaths


async def open_tracker(
    ctx: Context, request: protocol.Command, cwd: Path
) -> tuple[TrackerPaths, bool]:
    """The request's tracker and whether it was found implicitly; its workspace claimed.

    A hand-written plan in a workspace wtd never served is tried before ``.ecw/`` is
    made, so that one refused (nothing understood) leaves the workspace as it was;
    ``.ecw/`` (and its lock) is made only where there is something to serve."""
    paths, implicit = workspace.resolve(request.tracker, cwd)
    ws = paths.workspace
    if not (ws / ".ecw").is_dir() and not paths.json.exists():
        await anyio.to_thread.run_sync(_try_plan, paths, ctx.settings.max_file_bytes)
    if not ctx.workspaces.owns(ws):  # (the stat of ``exists`` only when it matters)
        await ctx.claim(ws, create=exists(paths))
    return paths, implicit


async def tracker_command(
    ctx: Context, command: commands.Command, request: protocol.Command, cwd: Path
) -> Outcome:
    """The handler of a plain query or change of one tracker."""
    paths, implicit = await open_tracker(ctx, request, cwd)
    operation = await _operation(ctx, command, request, paths)
    return await on_tracker(ctx, command, request, paths, implicit, operation=operation)


async def on_tracker(
    ctx: Context,
    command: commands.Command,
    request: protocol.Command,
    paths: TrackerPaths,
    implicit: bool,
    *,
    operation: Operation | None = None,
    action: Action | None = None,
    carry_out: Callable[[], Awaitable[Outcome]] | None = None,
) -> Outcome:
    """Enforce ``command`` on the tracker, then ``carry_out`` (by default: run it on
    the tracker's Store, which must exist)."""

    async def carried_out() -> Outcome:
        if carry_out is not None:
            outcome = await carry_out()
        else:
            outcome = await on_store(ctx, paths, command, request)
        if implicit and outcome.ok:
            outcome = msgspec.structs.replace(
                outcome, lines=[f"Tracker: {outcome.tracker}", *outcome.lines]
            )
        elif implicit and outcome.error is not None and outcome.tracker:
            # which tracker it was, when none was named (the newest may not be the
            # one the caller thinks of: a new initiative becomes the newest)
            said = msgspec.structs.replace(
                outcome.error, message=f"{outcome.error.message} (tracker {outcome.tracker})"
            )
            outcome = msgspec.structs.replace(outcome, error=said)
        return outcome

    change = isinstance(command, commands.CHANGE_TYPES)
    # a change is counted on its way to the Store (enforced, then posted there): the
    # batch the Store is gathering may wait for it
    with ctx.stores.on_the_way(paths) if change else contextlib.nullcontext():
        return await ctx.guarded(
            paths.workspace,
            command,
            request,
            carried_out,
            operation=operation,
            paths=paths,
            action=action,
        )


async def on_store(
    ctx: Context, paths: TrackerPaths, command: commands.Command, request: protocol.Command
) -> Outcome:
    """Run ``command`` on the tracker's Store (NotFound if the tracker has no file)."""
    must_exist(paths)
    return await ctx.healer.heal(paths, command, request)


async def _operation(
    ctx: Context, command: commands.Command, request: protocol.Command, paths: TrackerPaths
) -> Operation | None:
    """The guarded operation (SPEC §7) a tracker command is, or None."""
    if command.guarded is None:  # declared on the command class
        return None
    if isinstance(command, commands.SetPhaseTasks):
        count = await _bulk_count(ctx, paths, command.number, command.status, request)
        if count >= 2:
            return Operation.bulk_change(paths.name, request.phrase, count)
    return None


async def _bulk_count(
    ctx: Context, paths: TrackerPaths, number: int, status: str, request: protocol.Command
) -> int:
    listed = await ctx.healer.heal(paths, commands.ListTasks(phase=number), request)
    if not listed.ok or not isinstance(listed.result, dict | list):
        return 0
    rows = listed.result.get("tasks", []) if isinstance(listed.result, dict) else listed.result
    return sum(1 for row in rows if isinstance(row, dict) and row.get("status") != status)


def _try_plan(paths: TrackerPaths, max_bytes: int) -> None:
    """Raise NothingToImport (or LimitRefused) when the plan ``paths.markdown``, if
    there is one, would be refused; its Store imports it for real."""
    try:
        data = safepath.read_bytes(paths.markdown, max_bytes)
    except (FileNotFoundError, IsADirectoryError):
        return
    read_plan(data, title_hint=paths.name, source=label(paths), max_bytes=max_bytes)
