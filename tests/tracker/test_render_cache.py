"""The view does not depend on how the Renderer chunks the tasks, and its cache writes
exactly what a fresh render writes, change after change."""

from __future__ import annotations

from wtd.tracker.model import Meta, Phase, Subtask, Task, Tracker
from wtd.tracker.render import render


def test_tasks_of_one_id_show_their_subtasks_notes_once_each() -> None:
    # However the tasks are chunked: each lists its sub-tasks once, and so shows
    # their notes once.
    task = Task(id="1.1", phase=1, name="x")
    sub = Subtask(id="1.1.1", task_id="1.1", name="s", extra={"notes": ["sub note"]})
    tracker = Tracker(
        schema_version="2.1.0",
        meta=Meta(title="T"),
        phases=(Phase(number=1, name="One"),),
        tasks=(task, task),
        subtasks=(sub,),
    )
    text = render(tracker, name="p", checksum="c")
    assert text.count("- [ ] 1.1.1: s\n") == 2
    assert text.count("- **1.1.1**\n  sub note\n") == 2
