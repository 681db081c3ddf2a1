"""Undo and history (in a worker thread: both read back through the journal).

The timeline's arithmetic (which change to undo, its inverse, the audit rows) is
``wtd.storage.timeline``; this module turns it into replies and changes to commit.
"""

from __future__ import annotations

import msgspec

from wtd import errors
from wtd.actors.store.base import (
    RECENT,
    SYSTEM_ACTOR,
    Fault,
    Pending,
    inverse,
    now,
    stored_progress,
)
from wtd.actors.store.writes import WritePath
from wtd.messages import Apply, Outcome
from wtd.storage import timeline
from wtd.storage.journal import CorruptJournal
from wtd.tracker import commands, ops
from wtd.tracker.ops.claims import check_patch_holder


def journal_damaged(files: WritePath, exc: CorruptJournal) -> Outcome:
    """A damaged journal found while reading back through it: the MAPE-K loop
    repairs it (as when opening finds one), the Store never crashes on it."""
    return files.error(
        Fault(exc.message, files.symptom("journal.open", "CorruptJournal", exc.message))
    )


def journal_guarded(files: WritePath, req: Apply) -> Pending | Outcome:
    try:
        return undo_change(files, req)
    except CorruptJournal as exc:
        return journal_damaged(files, exc)


def history_guarded(files: WritePath, query: commands.ShowHistory) -> Outcome:
    try:
        return history(files, query)
    except CorruptJournal as exc:
        return journal_damaged(files, exc)


def undo_change(files: WritePath, req: Apply) -> Pending | Outcome:
    """The newest change not yet undone, reverted (as a Patch to journal), or why not."""
    assert files.journal is not None
    target = timeline.undo_target(files.journal.recent(RECENT), skip_actor=SYSTEM_ACTOR)
    if target is None:
        return files.error(errors.InvalidArgument("Nothing to undo"))
    undo = req.command
    # its own change back: a named subagent's (unnamed ones all stand as "subagent")
    own = target.actor == req.actor and ":" in req.actor and not timeline.bulk(target)
    by_subagent = isinstance(undo, commands.Undo) and undo.by_subagent
    if by_subagent and timeline.guarded(target) and not own:
        return files.error(
            errors.Denied(
                f"Denied: subagents may not undo a guarded change (#{target.seq}: "
                f"{timeline.op_name(target)} by {target.actor}). "
                "Ask the main agent or the user to do it."
            )
        )
    reverted = timeline.inverse_of(target)
    assert reverted is not None
    what = "; ".join(timeline.reply_lines(target)) or timeline.op_name(target)
    summary = [f"Undid #{target.seq} ({target.actor}, {target.at[:19]}Z): {what}"]
    change = msgspec.structs.replace(
        reverted, undo_of=target.seq, reason=f"undo of #{target.seq}", summary=summary
    )
    base = files.loaded
    at = now()
    applied = ops.apply(base, change, at=at, actor=req.actor)
    try:
        check_patch_holder(base, applied.tracker, at, req.actor)
    except errors.Denied as exc:
        return files.error(exc)
    outcome = Outcome(
        ok=True,
        lines=applied.lines,
        result={"undone": target.seq, "actor": target.actor},
        tracker=files.label,
        progress=stored_progress(applied.tracker),
    )
    return Pending(
        rid=req.rid,
        actor=req.actor,
        change=change,
        at=at,
        outcome=outcome,
        request=req,
        tracker=applied.tracker,
        undo=inverse(base, applied.tracker, req.actor, at),
    )


def history(files: WritePath, query: commands.ShowHistory) -> Outcome:
    """The audit trail from the journal: who changed what, when (newest last)."""
    assert files.journal is not None
    rows = timeline.history(files.journal.recent(RECENT), task_id=query.task_id, limit=query.limit)
    if not rows:
        return Outcome(ok=True, lines=["No changes recorded yet."], result=[], tracker=files.label)
    lines = timeline.history_lines(rows)
    title = f"History of task {query.task_id}" if query.task_id else "History"
    return Outcome(
        ok=True, lines=[f"{title} ({files.label}):", *lines], result=rows, tracker=files.label
    )
