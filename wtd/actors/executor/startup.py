"""When wtd starts, it checks the trackers of the workspaces it served (SPEC §6).

A crash or a power cut can leave a tracker's files older than its journal (the
journal's fsync is the durability point; the files are checkpointed later).
Opening a tracker rewrites them from the journal, and the first request on a
tracker always opens it first; but a program may read ``.ecw/plans/*.json``
itself, with no wtctl call before. So a starting wtd looks, in the background, at
every tracker of the workspaces it served (``wtd.storage.served``): it reads the
digest the journal's newest record leads to (from the journal's tail: nothing is
opened, claimed or written) and compares the JSON with it, and the view's Recovery
Checksum. Only a tracker whose files lag is opened — claimed and opened as a request
would, which rewrites them — or one that records claims: its Store gives each task
back when its lease ends, with no request needed (SPEC §12), also after a crash.
What opening found to tell (changes recovered, a view kept aside) is still told to
the first request; a tracker that cannot be opened
is left for that request, which heals it and says so. Requests are served
meanwhile. A wtd started with failpoints (``WT_FAILPOINTS``, fault injection for
tests) does not check: the faults must hit the requests a test aims them at.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from wtd import errors, workspace
from wtd.actors.executor.context import Context
from wtd.actors.store.base import CHECKSUM, DELETED
from wtd.actors.store.base import SYSTEM_ACTOR as SYSTEM
from wtd.messages import Apply, Outcome
from wtd.storage import journal, safepath
from wtd.storage.served import Served
from wtd.tracker import commands, model
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.executor")


async def check_served(ctx: Context) -> None:
    served = ctx.workspaces.served
    if served is None:
        return
    lagging = 0
    for ws in await anyio.to_thread.run_sync(served.load):
        try:
            lagging += await _check(ctx, served, ws)
        except (OSError, errors.WtdError) as exc:  # e.g. EMFILE: the first request opens it
            log.warning("%s: not checked at start: %s", ws, exc)
        except Exception:  # a convenience: it never takes the Executor down
            log.exception("%s: the check at start failed", ws)
    log.info("served workspaces checked at start (%d tracker(s) rewritten)", lagging)


async def _check(ctx: Context, served: Served, ws: Path) -> int:
    names = await anyio.to_thread.run_sync(_lagging, ws)
    if names is None:  # gone, or no longer a workspace
        await anyio.to_thread.run_sync(served.drop, ws)
        return 0
    if not names:
        return 0
    try:
        await ctx.claim(ws, create=False)
    except errors.WtdError as exc:  # served by another wtd now (it checks), or unsafe
        log.info("%s: not checked at start: %s", ws, exc.message)
        return 0
    for name, why in names:
        outcome = await ctx.stores.call(workspace.for_workspace(ws, name), _open)
        if outcome.ok and why == _CLAIMS:
            log.info("%s: it records claims; opened at start to end their leases", outcome.tracker)
        elif outcome.ok:
            log.info("%s: its files were behind its journal; rewritten at start", outcome.tracker)
        else:  # left for the first request, which heals it and says what it found
            why = outcome.error.message if outcome.error is not None else "failed"
            log.warning("%s/%s: not opened at start: %s", ws, name, why)
    return sum(1 for _, why in names if why == _BEHIND)


def _open(reply_to: MemoryObjectSendStream[Outcome]) -> Apply:
    rid = f"wtd-start-{os.urandom(8).hex()}"
    return Apply(rid=rid, command=commands.Open(), actor=SYSTEM, reply_to=reply_to)


_BEHIND = "behind"
_CLAIMS = "claims"


def _lagging(ws: Path) -> list[tuple[str, str]] | None:
    """The trackers of ``ws`` to open now, each with why: its files are not what its
    journal leads to, or it records claims; None if ``ws`` is gone."""
    if not (ws / ".ecw").is_dir():
        return None
    found = [
        (name, _why_open(workspace.for_workspace(ws, name))) for name in workspace.trackers_in(ws)
    ]
    return [(name, why) for name, why in found if why is not None]


def _why_open(paths: TrackerPaths) -> str | None:
    last = journal.last_content(paths.journal)
    if last is None or last == DELETED:  # nothing journalled, or only its opening can tell
        return None
    try:
        data = safepath.read_bytes(paths.json, model.MAX_BYTES)
        view = safepath.read_bytes(paths.markdown, model.MAX_BYTES)
    except FileNotFoundError:
        return _BEHIND
    except (OSError, errors.WtdError):  # unreadable here: its first request says why
        return None
    if model.checksum_as(data, last) != last:
        return _BEHIND
    shown = CHECKSUM.findall(view.decode("utf-8", errors="replace"))
    if not shown or shown[-1] != last:
        return _BEHIND
    return _CLAIMS if b'"x_claim"' in data else None
