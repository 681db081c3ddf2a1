"""The Store's caching Encoder and Renderer write exactly what a fresh encode/render
writes, change after change, and the fast load path gives the tracker the general
path gives (or steps aside)."""

from __future__ import annotations

import gc
import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from tests.tracker.conftest import make_tracker
from tests.tracker.test_markdown import trackers
from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker import model, ops, render
from wtd.tracker import status as st

AT = "2026-11-25T12:00:00Z"


@hs.composite
def changes(draw: hs.DrawFn, tracker: model.Tracker) -> c.Change:
    """A change that usually fits ``tracker`` (one that does not is skipped)."""
    ids = [t.id for t in tracker.tasks] or ["1.1"]
    phases = [p.number for p in tracker.phases] or [1]
    task_id = draw(hs.sampled_from(ids))
    status = draw(hs.sampled_from(st.STATUSES))
    options: list[c.Change] = [
        c.SetTaskStatus(task_id=task_id, status=status, given=status),
        c.RenameTask(task_id=task_id, name=draw(hs.sampled_from(["N", "a | b", "x\ny"]))),
        c.AddTask(phase=draw(hs.sampled_from(phases)), name="added"),
        c.DeleteTask(task_id=task_id),
        c.MoveTask(task_id=task_id, phase=draw(hs.sampled_from(phases))),
        c.AddSubtask(task_id=task_id, name="sub"),
        c.SetVerification(task_id=task_id, text="seen"),
        c.AddPhase(name="More"),
    ]
    return draw(hs.sampled_from(options))


def _check_series(start: model.Tracker, data: hs.DataObject, steps: int) -> None:
    encoder = model.Encoder()
    renderer = render.Renderer()
    tracker = start
    for _ in range(steps):
        assert encoder.encode(tracker) == model.encode(tracker)
        warm = renderer.render(tracker, name="p", checksum="c")
        assert warm == render.Renderer().render(tracker, name="p", checksum="c")
        change = data.draw(changes(tracker))
        try:
            tracker = ops.apply(tracker, change, at=AT, actor="u").tracker
        except errors.WtdError:
            continue


@given(trackers(), hs.data())
@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
def test_warm_caches_write_what_fresh_ones_write(
    tracker: model.Tracker, data: hs.DataObject
) -> None:
    _check_series(tracker, data, steps=8)


@given(hs.data())
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_warm_caches_across_chunk_boundaries(data: hs.DataObject) -> None:
    # 1,300 tasks in 2 phases: several chunks per phase; adds, deletes and moves
    # shift every later task to another chunk position.
    _check_series(make_tracker(1300, 2), data, steps=12)


def test_unknown_fields_and_nested_extra_keys_are_encoded_exactly() -> None:
    raw = json.loads(model.encode(make_tracker(600, 2)))
    for i, task in enumerate(raw["tasks"]):
        if i % 97 == 0:
            task["x_custom"] = {"k": i}
        if i % 89 == 0:  # keys named "extra" deeper in a task look like the model's field
            task["evidence"] = [{"type": "note", "extra": {}}, {"extra": {}}]
    tracker = model.from_raw(raw)
    encoder = model.Encoder()
    assert encoder.encode(tracker) == model.encode(tracker)
    assert json.loads(encoder.encode(tracker)) == raw
    moved = ops.apply(tracker, c.MoveTask(task_id="1.1", phase=2), at=AT, actor="u").tracker
    assert encoder.encode(moved) == model.encode(moved)


# ------------------------------------------------------------------ loading


@given(trackers())
@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
def test_the_fast_load_path_gives_what_the_general_path_gives(tracker: model.Tracker) -> None:
    data = model.encode(tracker)
    general = model.from_raw(msgspec.json.decode(data))
    fast = model.decode_canonical(data, model.Encoder())
    if fast is not None:
        assert fast == general
    assert model.decode(data) == general


@pytest.mark.parametrize(
    "edit",
    [
        lambda raw: raw["tasks"][3].update(status="done"),  # an alias: normalised
        lambda raw: raw["tasks"][3].update(x_new=1),  # an unknown field: kept
        lambda raw: raw["tasks"][3].update(extra={"a": 1}),  # literally named "extra"
        lambda raw: raw.pop("schema_version"),  # v1: migrated
        lambda raw: raw["tasks"][5].update(id="1.1"),  # duplicate id: refused
    ],
    ids=["alias", "unknown-field", "field-named-extra", "v1", "duplicate-id"],
)
def test_what_wtd_did_not_write_takes_the_general_path(edit: Any) -> None:
    raw = json.loads(model.encode(make_tracker(40, 2)))
    edit(raw)
    data = _format(raw)
    assert model.decode_canonical(data, model.Encoder()) is None
    try:
        expected: model.Tracker | None = model.from_raw(json.loads(data))
    except model.TrackerError:
        expected = None
    if expected is None:
        with pytest.raises(model.TrackerError):
            model.decode(data)
    else:
        assert model.decode(data) == expected


def _format(raw: dict[str, Any]) -> bytes:
    """``raw`` formatted exactly as wtd formats JSON, so only its content differs."""
    return msgspec.json.format(msgspec.json.encode(raw), indent=2) + b"\n"


def test_what_wtd_wrote_takes_the_fast_path() -> None:
    for tracker in (make_tracker(600, 3), model.new_tracker("Empty", initiative_id="1", at=AT)):
        data = model.encode(tracker)
        assert model.decode_canonical(data, model.Encoder()) == tracker


@pytest.mark.parametrize(
    ("ids", "refused"),
    [
        (["1.1", "1.2", "2.10"], None),
        (["1.1", "2.1", "1.1"], "task '1.1': duplicate id"),
        (["1.1", "1.x"], "task '1.x': id must look like X.Y"),
        (["1.1", "1."], "task '1.': id must look like X.Y"),
        (["1.2.3", "45"], "task '1.2.3': id must look like X.Y"),
        (["1.1\n2.2"], "task '1.1\\n2.2': id must look like X.Y"),
        (["1.1", "\n1.2"], "task '\\n1.2': id must look like X.Y"),
        (["١.٢", "².1"], None),  # digits to str.isdigit, as ever
    ],
)
def test_task_ids_are_checked_as_ever(ids: list[str], refused: str | None) -> None:
    """A tracker whose task ids are not X.Y, or repeat, is refused naming the first
    wrong one, whichever path (the quick look at all ids at once, or id by id) finds it."""
    raw = {
        "schema_version": model.SCHEMA_VERSION,
        "meta": {"title": "Ids"},
        "phases": [{"number": 1, "name": "One", "status": "pending"}],
        "tasks": [{"id": i, "phase": 1, "name": f"T{n}"} for n, i in enumerate(ids)],
    }
    if refused is None:
        assert [t.id for t in model.from_raw(raw).tasks] == ids
    else:
        with pytest.raises(model.TrackerError) as exc:
            model.from_raw(raw)
        assert str(exc.value) == refused


@given(hs.lists(hs.text("0123456789.\n١²x", min_size=0, max_size=6), max_size=6))
def test_task_ids_refused_at_once_are_refused_one_by_one(ids: list[str]) -> None:
    raw = {
        "schema_version": model.SCHEMA_VERSION,
        "meta": {"title": "Ids"},
        "phases": [],
        "tasks": [{"id": i, "phase": 1, "name": "T"} for i in ids],
    }
    parts = [i.split(".") for i in ids]
    well_formed = all(len(p) == 2 and all(x.isdigit() for x in p) for p in parts)
    if well_formed and len(set(ids)) == len(ids):
        assert [t.id for t in model.from_raw(raw).tasks] == ids
    else:
        with pytest.raises(model.TrackerError):
            model.from_raw(raw)


def test_tasks_are_left_to_reference_counting() -> None:
    """A big tracker's tasks and sub-tasks are not walked by every garbage collection:
    they are untracked (they hold JSON values only, never a cycle)."""
    raw = json.loads(model.encode(make_tracker(50, 2)))
    raw["subtasks"] = [{"id": "1.1.1", "task_id": "1.1", "name": "Sub", "x_note": {"k": [1]}}]
    raw["tasks"][0]["evidence"] = [{"type": "manual_note", "deep": {"k": [1]}}]
    for tracker in (model.decode(model.encode(model.from_raw(raw))), model.from_raw(raw)):
        assert not any(gc.is_tracked(t) for t in tracker.tasks)
        assert not any(gc.is_tracked(s) for s in tracker.all_subtasks())
