"""When wtd starts, the trackers of the workspaces it served are opened (SPEC §6).

A crash or a power cut can leave a tracker's files older than its journal (the
journal's fsync is the durability point; the files are checkpointed later).
Opening a tracker rewrites them from the journal, and the first request on a
tracker always opens it first; but a program may read ``.ecw/plans/*.json``
itself, with no wtctl call before. So a starting wtd opens, in the background,
every tracker of the workspaces it served (``wtd.storage.served``) that has a JSON
or a journal — a Markdown plan never served is left for a request to import — and
logs what it found. What opening found to tell (changes recovered, a journal kept
aside) is still told to the first request; a tracker that cannot be opened is left
for that request, which heals it and says so. Requests are served meanwhile. A wtd started with
failpoints (``WT_FAILPOINTS``, fault injection for tests) does not check: the
faults must hit the requests a test aims them at.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from wtd import errors, workspace
from wtd.actors.executor.context import Context
from wtd.actors.store.base import SYSTEM_ACTOR as SYSTEM
from wtd.messages import Apply, Outcome
from wtd.storage.served import Served
from wtd.tracker import commands

log = logging.getLogger("wtd.executor")


async def check_served(ctx: Context) -> None:
    served = ctx.workspaces.served
    if served is None:
        return
    for ws in await anyio.to_thread.run_sync(served.load):
        try:
            await _check(ctx, served, ws)
        except (OSError, errors.WtdError) as exc:  # e.g. EMFILE: the first request opens it
            log.warning("%s: not checked at start: %s", ws, exc)
        except Exception:  # a convenience: it never takes the Executor down
            log.exception("%s: the check at start failed", ws)
    log.info("served workspaces checked at start")


async def _check(ctx: Context, served: Served, ws: Path) -> None:
    names = await anyio.to_thread.run_sync(_trackers, ws)
    if names is None:  # gone, or no longer a workspace
        await anyio.to_thread.run_sync(served.drop, ws)
        return
    try:
        await ctx.claim(ws, create=False)
    except errors.WtdError as exc:  # served by another wtd now, or made unsafe
        log.info("%s: not checked at start: %s", ws, exc.message)
        return
    for name in names:
        paths = workspace.for_workspace(ws, name)
        outcome = await ctx.stores.call(paths, _open)
        if outcome.ok:
            log.info("%s: checked at start", outcome.tracker or name)
        else:  # left for the first request, which heals it and says what it found
            why = outcome.error.message if outcome.error is not None else "failed"
            log.warning("%s/%s: not opened at start: %s", ws, name, why)


def _open(reply_to: MemoryObjectSendStream[Outcome]) -> Apply:
    rid = f"wtd-start-{os.urandom(8).hex()}"
    return Apply(rid=rid, command=commands.Open(), actor=SYSTEM, reply_to=reply_to)


def _trackers(ws: Path) -> list[str] | None:
    """The trackers of ``ws`` that have a JSON or a journal; None if ``ws`` is gone."""
    if not (ws / ".ecw").is_dir():
        return None
    return [
        name
        for name in workspace.trackers_in(ws)
        if (paths := workspace.for_workspace(ws, name)).json.exists() or paths.journal.exists()
    ]
