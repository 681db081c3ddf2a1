"""Claims (SPEC §12): ``claim next``, ``claim task``, ``release task``, ``renew claims``.

Decided by the tracker's Store, like any change, so concurrent claimers never get
the same task; the Executor only puts the lease from the config into the command
(so the journal replays the same ``until``).
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from wtd import protocol
from wtd.actors.executor.context import Context
from wtd.actors.executor.outcomes import caller, label, must_exist
from wtd.actors.executor.trackers import on_tracker, open_tracker
from wtd.enforcement import Operation
from wtd.messages import Outcome
from wtd.tracker import claims as cl
from wtd.tracker import commands as c
from wtd.workspace import TrackerPaths


async def claim_command(
    ctx: Context, command: c.Command, request: protocol.Command, cwd: Path
) -> Outcome:
    """The handler of the claim commands."""
    paths, implicit = await open_tracker(ctx, request, cwd)
    if isinstance(command, c.ClaimNext | c.ClaimTask | c.RenewClaims):
        command = msgspec.structs.replace(command, lease=ctx.settings.claim_lease)
    if isinstance(command, c.ClaimTask | c.ReleaseTask) and caller(request.options) == cl.USER:
        holder = await _holder(ctx, paths, command.task_id, request)
        if holder is not None and holder != cl.USER:
            # SPEC §12: the user may take over (or give back) an agent's live claim, with
            # consent — asked once each time, never a standing approval
            op = Operation.take_over_claim(label(paths), command.task_id, holder)
            forced = msgspec.structs.replace(command, force=True)
            return await on_tracker(ctx, forced, request, paths, implicit, operation=op)
    return await on_tracker(ctx, command, request, paths, implicit)


async def _holder(
    ctx: Context, paths: TrackerPaths, task_id: str, request: protocol.Command
) -> str | None:
    """Who holds a live claim on ``task_id`` now (None: nobody, or unknown). The Store
    decides again when the change comes: this only chooses whether to ask."""
    must_exist(paths)
    query = msgspec.structs.replace(request, id=f"{request.id}:claims")
    outcome = await ctx.healer.heal(paths, c.ListClaims(), query)
    if not outcome.ok or not isinstance(outcome.result, list):
        return None
    for claim in outcome.result:
        if isinstance(claim, dict) and claim.get("id") == task_id:
            by = claim.get("by")
            return by if isinstance(by, str) else None
    return None
