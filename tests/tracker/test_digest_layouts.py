"""The Encoder's incremental digest is ``checksum`` of its output, for trackers whose
layout holds more cut-shaped seams than the tasks': tasks with extra fields, extra
top-level arrays of objects with ids (after the tasks), events, sub-tasks, and the
sizes around the piece boundaries."""

from __future__ import annotations

import random

import msgspec
import pytest

from wtd.tracker import model
from wtd.tracker.model import Meta, Phase, Subtask, Task, Tracker

SIZES = (0, 1, 2, 255, 256, 257, 511, 512, 513, 767, 768, 769, 1025)


def make(n: int, rng: random.Random, *, extras: bool, tail_items: int) -> Tracker:
    tasks = []
    for i in range(n):
        extra = {"owner": f"o{i}", "tags": [{"id": "x"}]} if extras and rng.random() < 0.2 else {}
        tasks.append(Task(id=f"1.{i}", phase=1, name=f"T{i}", extra=extra))
    return Tracker(
        schema_version="2.1.0",
        meta=Meta(title="t", updated="2026-01-01T00:00:00Z", extra={"m": [{"id": "a"}]}),
        phases=(Phase(number=1, name="P"),),
        tasks=tuple(tasks),
        subtasks=tuple(Subtask(id=f"s{i}", task_id="1.0", name="s") for i in range(tail_items)),
        events=tuple({"id": f"e{i}", "what": "x"} for i in range(tail_items)),
        extra={"milestones": [{"id": f"m{i}", "n": i} for i in range(tail_items)]},
    )


def edits(tracker: Tracker, rng: random.Random) -> Tracker:
    tasks = list(tracker.tasks)
    kind = rng.choice(("edit", "add", "remove", "extra", "tail"))
    if kind == "edit" and tasks:
        i = rng.randrange(len(tasks))
        tasks[i] = msgspec.structs.replace(tasks[i], name=f"edited {rng.random()}")
    elif kind == "add":
        tasks.insert(rng.randrange(len(tasks) + 1), Task(id=f"9.{rng.random()}", phase=1))
    elif kind == "remove" and tasks:
        del tasks[rng.randrange(len(tasks))]
    elif kind == "extra" and tasks:
        i = rng.randrange(len(tasks))
        tasks[i] = msgspec.structs.replace(tasks[i], extra={"k": [{"id": "n"}], "z": 1})
    else:
        extra = dict(tracker.extra)
        extra["milestones"] = [*extra.get("milestones", []), {"id": "new"}]
        return msgspec.structs.replace(tracker, extra=extra)
    return msgspec.structs.replace(tracker, tasks=tuple(tasks))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("extras", [False, True])
@pytest.mark.parametrize("tail_items", [0, 300, 600])
def test_the_incremental_digest_is_the_digest_of_the_bytes(
    size: int, extras: bool, tail_items: int
) -> None:
    rng = random.Random(size * 7 + tail_items + extras)
    tracker = make(size, rng, extras=extras, tail_items=tail_items)
    encoder = model.Encoder()
    for _ in range(25):
        data = encoder.encode(tracker)
        assert data == model.encode(tracker)
        assert encoder.digest(data) == model.checksum(data)
        # what opening computes from the file: the same digest
        assert model.checksum(bytes(data)) == encoder.digest(data)
        tracker = edits(tracker, rng)
