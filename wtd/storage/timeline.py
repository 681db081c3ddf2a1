"""The journal read as a story: who changed what, and the tracker at earlier moments.

Pure functions over journal records (newest first, as ``Journal.recent`` returns
them): no I/O. Every change's record carries its inverse patch (``undo``), so the
state before any recent change is the current state with those patches applied,
newest first — for ``undo``, for ``history`` and for the base of a three-way merge.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgspec

from wtd.messages import Outcome
from wtd.storage.journal import Following, Glimpse, JournalRecord
from wtd.tracker import commands, patch
from wtd.tracker.model import Tracker

_change = msgspec.json.Decoder(commands.Change)
_patch = msgspec.json.Decoder(commands.Patch)
_outcome = msgspec.json.Decoder(Outcome)
_encoder = msgspec.json.Encoder()

DAMAGED: Final = "record damaged"
"""The reason of the checkpoint put in place of a record that damage took."""
_DAMAGED_OP: Final = msgspec.Raw(_encoder.encode(commands.Checkpoint(reason=DAMAGED)))
_ANSWERED_BEFORE: Final = msgspec.Raw(
    _encoder.encode(
        Outcome(
            ok=True,
            lines=[
                "✓ Done: this request was applied before; its first reply was in a"
                " journal record that was later damaged"
            ],
        )
    )
)


def lost_record(seq: int, glimpse: Glimpse | None, following: Following) -> JournalRecord:
    """The marker for record ``seq``, which damage took (``journal.salvage``): a
    checkpoint that keeps its request id when the damaged line still shows it (a
    retry is then answered, not applied again) and bridges the digests around it."""
    after = glimpse.after if glimpse is not None and glimpse.after else ""
    if not after and seq == following.seq - 1:
        after = following.before  # where the change that follows started from
    return JournalRecord(
        seq=seq,
        rid=glimpse.rid if glimpse is not None else None,
        at=(glimpse.at if glimpse is not None and glimpse.at else None) or following.at,
        actor=(glimpse.actor if glimpse is not None and glimpse.actor else None) or "wtd",
        before=glimpse.before or "" if glimpse is not None else "",
        after=after,
        op=_DAMAGED_OP,
        reply=_ANSWERED_BEFORE if glimpse is not None and glimpse.rid else None,
    )


def is_damaged(record: JournalRecord) -> bool:
    """A marker left where damage took a record (see ``lost_record``)."""
    return bytes(record.op) == bytes(_DAMAGED_OP)


def change_of(record: JournalRecord) -> commands.Change:
    change: commands.Change = _change.decode(record.op)
    return change


def is_checkpoint(record: JournalRecord) -> bool:
    return isinstance(change_of(record), commands.Checkpoint)


def inverse_of(record: JournalRecord) -> commands.Patch | None:
    return _patch.decode(record.undo) if record.undo is not None else None


def is_adoption(record: JournalRecord) -> bool:
    """A checkpoint where wtd took a JSON found on disk as it was (edited while wtd was
    away, or git's), or the marker of a record that damage took: no known change leads
    there, so no inverse leads back past it."""
    change = change_of(record)
    return isinstance(change, commands.Checkpoint) and (
        change.reason in ("adopted as found", DAMAGED) or record.actor == "git"
    )


def states_back(
    current: Tracker, newest_first: Sequence[JournalRecord], limit: int
) -> list[Tracker]:
    """``current`` and the state before each of the last ``limit`` changes, newest first."""
    states = [current]
    tracker = current
    for record in newest_first:
        if len(states) > limit:
            break
        inverse = inverse_of(record)
        if inverse is None:
            if is_checkpoint(record) and not is_adoption(record):
                continue
            break  # an adoption, or a record without an inverse: the story stops here
        tracker = patch.apply_patch(tracker, inverse)
        states.append(tracker)
    return states


def tracker_at(
    current: Tracker, newest_first: Sequence[JournalRecord], content_digest: str
) -> Tracker | None:
    """The tracker when the JSON had ``content_digest``, or None if out of reach."""
    tracker = current
    for record in newest_first:
        if record.after == content_digest:
            return tracker
        inverse = inverse_of(record)
        if inverse is None:
            if is_checkpoint(record) and not is_adoption(record):
                continue
            return None  # an adoption, or a record without an inverse
        tracker = patch.apply_patch(tracker, inverse)
    return None


def undo_target(newest_first: Sequence[JournalRecord], *, skip_actor: str) -> JournalRecord | None:
    """The newest change not undone yet (undo records and ``skip_actor``'s are passed)."""
    undone: set[int] = set()
    for record in newest_first:
        change = change_of(record)
        if isinstance(change, commands.Patch) and change.undo_of is not None:
            undone.add(change.undo_of)
            continue
        if isinstance(change, commands.Checkpoint) or record.seq in undone:
            continue
        if record.undo is None or record.actor == skip_actor:
            continue
        return record
    return None


def reply_lines(record: JournalRecord) -> list[str]:
    """What the change told its caller (healing steps left out)."""
    if record.reply is None:
        return []
    try:
        outcome = _outcome.decode(record.reply)
    except msgspec.DecodeError:
        return []
    return [
        line.removeprefix("✓ Result: ")
        for line in [*outcome.lines, *outcome.healing]
        if not line.startswith(("✓ Issue", "✓ Recovery", "✓ Attempt"))
    ]


def reply_progress(record: JournalRecord) -> int | None:
    """The tracker's overall progress (%) the change left, as its reply recorded it."""
    if record.reply is None:
        return None
    try:
        return _outcome.decode(record.reply).progress
    except msgspec.DecodeError:
        return None


def guarded(record: JournalRecord) -> bool:
    """Was this a guarded change (SPEC §7): a bulk phrase, or any change — a hand edit
    included — whose undo touches two or more tasks? Subagents may not undo these."""
    try:
        if isinstance(change_of(record), commands.SetPhaseTasks):
            return True
        inverse = inverse_of(record)
    except msgspec.DecodeError:
        return True  # cannot tell: treat it as the user's
    return inverse is not None and len(inverse.tasks_put) + len(inverse.tasks_remove) >= 2


def bulk(record: JournalRecord) -> bool:
    """Was this a bulk phrase (``mark phase N S``: guarded by consent, SPEC §7)?"""
    try:
        return isinstance(change_of(record), commands.SetPhaseTasks)
    except msgspec.DecodeError:
        return True  # cannot tell: treat it as guarded


def op_name(record: JournalRecord) -> str:
    try:
        return str(msgspec.json.decode(record.op).get("cmd", "change"))
    except (msgspec.DecodeError, AttributeError):
        return "change"


def history(
    newest_first: Sequence[JournalRecord], *, task_id: str | None, limit: int
) -> list[dict[str, Any]]:
    """The last ``limit`` changes (of one task, if given), oldest first; each row has the
    overall progress the change left (``None`` when its reply did not record one), which
    is what the board's chart of progress over time is drawn from."""
    needle = f'"{task_id}"'.encode() if task_id else None
    rows: list[dict[str, Any]] = []
    for record in newest_first:
        if len(rows) >= limit:
            break
        change = change_of(record)
        lines = reply_lines(record)
        if isinstance(change, commands.Checkpoint):
            if change.reason == DAMAGED:  # a change whose details damage took
                lines = [
                    "⚠ This change's journal record was damaged: what it did is in the"
                    " tracker, its details are lost"
                ]
                if task_id is not None:
                    continue  # which tasks it touched cannot be told
            elif record.actor != "git":  # wtd's own anchors; git's takeover is history
                continue
            else:
                lines = [change.reason]
        if needle is not None and task_id is not None:
            touched = (
                needle in bytes(record.op)
                or (isinstance(change, commands.Patch) and patch.touches(change, task_id))
                or (  # which task they added, took or gave back is in their reply
                    isinstance(
                        change, commands.AddTask | commands.ClaimNext | commands.ExpireClaims
                    )
                    and record.reply is not None
                    and needle in bytes(record.reply)
                )
            )
            if not touched:
                continue
        rows.append(
            {
                "seq": record.seq,
                "at": record.at,
                "actor": record.actor,
                "change": op_name(record),
                "lines": lines,
                "progress": reply_progress(record),
            }
        )
    return rows[::-1]


def history_lines(rows: Sequence[dict[str, Any]]) -> list[str]:
    return [
        f"#{r['seq']}  {str(r['at'])[:19].replace('T', ' ')}  {r['actor']:<14} "
        + "; ".join(r["lines"])
        for r in rows
    ]
