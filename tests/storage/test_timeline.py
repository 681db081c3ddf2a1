"""The journal as a story: earlier states, the undo target, the history of a task."""

from __future__ import annotations

import hashlib
from pathlib import Path

import msgspec

from wtd.messages import Outcome
from wtd.storage import timeline
from wtd.storage.journal import JournalRecord
from wtd.tracker import commands as c
from wtd.tracker import model, ops, patch

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "my-project.json"
AT = "2026-11-25T10:00:00Z"


def _overall(tracker: model.Tracker) -> int | None:
    progress = tracker.meta.progress
    value = progress.get("overall") if isinstance(progress, dict) else None
    return value if isinstance(value, int) else None


def _story() -> tuple[list[model.Tracker], list[JournalRecord]]:
    tracker = model.with_derived_progress(model.decode(EXAMPLE.read_bytes()))
    states = [tracker]
    records: list[JournalRecord] = []
    changes: list[tuple[str, c.Change]] = [
        ("user", c.SetTaskStatus(task_id="2.3", status="complete", given="complete")),
        ("agent:a", c.RenameTask(task_id="3.1", name="Notes")),
        ("user", c.SetTaskStatus(task_id="2.3", status="blocked", given="blocked")),
    ]
    for seq, (actor, change) in enumerate(changes, start=1):
        applied = ops.apply(states[-1], change, at=AT, actor=actor)
        digest = hashlib.sha1(model.encode(applied.tracker)).hexdigest()
        records.append(
            JournalRecord(
                seq=seq,
                at=AT,
                actor=actor,
                before="",
                after=digest,
                op=msgspec.Raw(msgspec.json.encode(change)),
                reply=msgspec.Raw(
                    msgspec.json.encode(
                        Outcome(ok=True, lines=applied.lines, progress=_overall(applied.tracker))
                    )
                ),
                undo=msgspec.Raw(
                    msgspec.json.encode(patch.diff(states[-1], applied.tracker, reason="undo"))
                ),
            )
        )
        states.append(applied.tracker)
    return states, records


def test_states_back_rebuilds_every_earlier_state() -> None:
    states, records = _story()
    back = timeline.states_back(states[-1], records[::-1], limit=10)
    assert [model.encode(s) for s in back] == [model.encode(s) for s in states[::-1]]


def test_tracker_at_finds_the_state_of_a_digest() -> None:
    states, records = _story()
    found = timeline.tracker_at(states[-1], records[::-1], records[0].after)
    assert found is not None and model.encode(found) == model.encode(states[1])
    assert timeline.tracker_at(states[-1], records[::-1], "unknown") is None


def test_undo_target_skips_what_was_undone_and_the_daemons_own_records() -> None:
    _states, records = _story()
    assert timeline.undo_target(records[::-1], skip_actor="wtd") is records[2]
    undo = JournalRecord(
        seq=4,
        at=AT,
        actor="user",
        before="",
        after="",
        op=msgspec.Raw(msgspec.json.encode(c.Patch(reason="undo", undo_of=3))),
    )
    newest_first = [undo, *records[::-1]]
    assert timeline.undo_target(newest_first, skip_actor="wtd") is records[1]
    assert timeline.undo_target(newest_first, skip_actor="agent:a") is records[0]


def test_history_of_a_task_in_order_with_what_was_said() -> None:
    _states, records = _story()
    rows = timeline.history(records[::-1], task_id="2.3", limit=20)
    assert [r["seq"] for r in rows] == [1, 3]
    assert rows[0]["lines"] == ["Task 2.3 marked complete."]
    lines = timeline.history_lines(timeline.history(records[::-1], task_id=None, limit=2))
    assert len(lines) == 2 and lines[0].startswith("#2") and "agent:a" in lines[0]


def test_history_rows_carry_the_progress_each_change_left() -> None:
    states, records = _story()
    rows = timeline.history(records[::-1], task_id=None, limit=20)
    assert [r["progress"] for r in rows] == [_overall(s) for s in states[1:]]
    bare = msgspec.structs.replace(records[0], reply=None)
    assert timeline.history([bare], task_id=None, limit=20)[0]["progress"] is None
