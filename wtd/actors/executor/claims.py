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
from wtd.actors.executor.trackers import on_tracker, open_tracker
from wtd.messages import Outcome
from wtd.tracker import commands as c


async def claim_command(
    ctx: Context, command: c.Command, request: protocol.Command, cwd: Path
) -> Outcome:
    """The handler of the claim commands."""
    paths, implicit = await open_tracker(ctx, request, cwd)
    if isinstance(command, c.ClaimNext | c.ClaimTask | c.RenewClaims):
        command = msgspec.structs.replace(command, lease=ctx.settings.claim_lease)
    return await on_tracker(ctx, command, request, paths, implicit)
