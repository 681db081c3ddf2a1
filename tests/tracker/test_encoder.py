"""What wtd writes: the caching Encoder writes exactly what model.encode writes, change
after change; and what is written validates against the v2 schema (``fit_schema``)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as hs

from tests.tracker.conftest import SCHEMA, make_tracker
from tests.tracker.test_patch import AT, CHANGES
from wtd.tracker import commands as c
from wtd.tracker import model, ops
from wtd.tracker.model import codec


def test_the_cached_encoding_is_byte_identical_through_a_series_of_changes(
    example: model.Tracker, custom: model.Tracker
) -> None:
    for start in (example, custom, make_tracker(300, 4)):
        encoder = model.Encoder()
        tracker = start
        assert encoder.encode(tracker) == model.encode(tracker)
        for change in CHANGES:
            try:
                tracker = ops.apply(tracker, change, at=AT, actor="u").tracker
            except Exception:  # a change that does not fit this tracker: skip it
                continue
            assert encoder.encode(tracker) == model.encode(tracker)


def test_a_change_to_one_task_re_encodes_only_the_tasks_near_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tracker = make_tracker(3000, 6)
    encoder = model.Encoder()
    encoder.encode(tracker)
    encoded: list[int] = []
    real = codec._encode_chunk

    def counting(tasks: tuple[model.Task, ...]) -> bytes:
        encoded.append(len(tasks))
        return real(tasks)

    monkeypatch.setattr(codec, "_encode_chunk", counting)
    open_tasks = [t for t in tracker.tasks if t.status != "complete"]
    assert tracker.tasks.index(open_tasks[-1]) > 2816  # one in the last, partial chunk
    for task in (open_tasks[0], open_tasks[len(open_tasks) // 2], open_tasks[-1]):
        # the first change to a chunk that opening encoded whole encodes it in parts;
        # from then on, a change encodes one part
        for status in ("in_progress", "complete"):
            change = c.SetTaskStatus(task_id=task.id, status=status, given=status)
            tracker = ops.apply(tracker, change, at=AT, actor="u").tracker
            encoded.clear()
            assert encoder.encode(tracker) == model.encode(tracker)
        assert len(encoded) == 1 and encoded[0] <= codec._PART, (task.id, encoded)  # not 256
    # tasks added before them move every chunk: all are encoded again, still right
    added = ops.apply(tracker, c.AddTask(phase=1, name="New"), at=AT, actor="u").tracker
    assert encoder.encode(added) == model.encode(added)


def test_an_empty_tracker_and_back(example: model.Tracker) -> None:
    encoder = model.Encoder()
    empty = model.new_tracker("Empty", initiative_id="1", at=AT)
    assert encoder.encode(empty) == model.encode(empty)
    grown = ops.apply(
        ops.apply(empty, c.AddPhase(name="One"), at=AT, actor="u").tracker,
        c.AddTask(phase=1, name="Unicode ✅ | \\ \n?"[:20].replace("\n", " ")),
        at=AT,
        actor="u",
    ).tracker
    assert encoder.encode(grown) == model.encode(grown)
    assert model.decode(encoder.encode(grown)) == grown


# ------------------------------------------------- what is written validates (SPEC §2)


def _is_date_time(value: object) -> bool:
    """RFC 3339 (jsonschema checks ``format: date-time`` only with a package we lack)."""
    return not isinstance(value, str) or model.is_date_time(value)


_FORMATS = jsonschema.FormatChecker()
_FORMATS.checks("date-time")(_is_date_time)
VALIDATOR = jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()), format_checker=_FORMATS)
"""The v2 schema, dates included: what every JSON wtd writes must pass."""


def assert_written_valid(tracker: model.Tracker) -> None:
    """What wtd would write for ``tracker`` validates (dates included)."""
    data = json.loads(model.encode(tracker))
    errors = sorted(VALIDATOR.iter_errors(data), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])


LONG = "Implement the rate limiter " + "and its metrics " * 15  # 267 characters


def test_a_v1_tracker_is_migrated_to_valid_v2() -> None:
    v1 = {
        "meta": {"title": "Legacy", "status": "In Progress", "created": "2026-02-03"},
        "phases": [{"number": 1, "name": "Only", "status": "In Progress"}],
        "tasks": [
            {"id": "1.1", "phase": 1, "name": LONG, "status": "DONE", "subtasks": [{"name": "s"}]}
        ],
    }
    tracker = model.from_raw(v1)
    assert_written_valid(tracker)
    assert (tracker.meta.status, tracker.meta.created) == ("active", "2026-02-03T00:00:00Z")
    task = tracker.tasks[0]
    assert task.extra["notes"][0].startswith("…")


@pytest.mark.parametrize(
    ("status", "mapped"),
    [("In Progress", "active"), ("DONE", "complete"), ("todo", "active"), ("Archived", "Archived")],
)
def test_a_tracker_status_outside_the_schema_is_mapped(status: str, mapped: str) -> None:
    raw = {"meta": {"title": "t", "status": status}, "phases": [], "tasks": []}
    assert model.from_raw(raw).meta.status == mapped


def test_fit_schema_adapts_every_value_and_loses_nothing(example: model.Tracker) -> None:
    raw = model.to_raw(example)
    raw["meta"].update(title="T" * 230, created="2026-02-03", updated="3 Feb", status="WIP")
    raw["meta"]["initiative_id"] = "Initiative 19"
    raw["phases"][0]["name"] = "P" * 250
    raw["tasks"][0]["name"] = LONG
    raw["tasks"][1]["description"] = "D" * 201
    raw["tasks"][2]["name"] = ""
    raw["tasks"][2]["dependencies"] = ["1.1", "T001"]
    raw["subtasks"][0]["name"] = "S" * 300
    tracker = model.from_raw(raw)
    fitted, lines = model.fit_schema(tracker)
    assert_written_valid(fitted)
    assert len(lines) >= 9
    assert fitted.extra["notes"][:2] == ["…" + "T" * 31, "Updated: 3 Feb"]
    assert (fitted.meta.created, fitted.meta.status, fitted.meta.initiative_id) == (
        "2026-02-03T00:00:00Z",
        "active",
        "Initiative-19",
    )
    assert fitted.phases[0].description == "…" + "P" * 51 + "\n" + str(
        example.phases[0].description
    )
    first, second, third = fitted.tasks[:3]
    assert isinstance(first.name, str) and first.name.endswith("…")
    assert first.extra["notes"][0] == "…" + LONG[len(first.name) :].lstrip()
    assert second.extra["notes"] == ["…" + "D" * 2]
    assert third.title == "Task 1.3" and third.dependencies == ("1.1",)
    assert third.extra["notes"] == ["Depends on: T001"]
    owner = next(t for t in fitted.tasks if t.id == fitted.all_subtasks()[0].task_id)
    assert owner.extra["notes"] == ["2.2.1: …" + "S" * 101]


def test_fit_schema_changes_nothing_on_a_valid_tracker(example: model.Tracker) -> None:
    for tracker in (example, make_tracker(3000, 10)):
        fitted, lines = model.fit_schema(tracker)
        assert fitted is tracker and lines == []


@given(hs.text(min_size=201, max_size=600))
def test_a_cut_text_fits_and_reads_as_the_whole(text: str) -> None:
    head, rest = model.cut_text(text)
    assert 0 < len(head) <= model.MAX_TEXT and head.endswith("…") and rest.startswith("…")
    assert (head[:-1] + rest[1:]).replace(" ", "") == text.replace(" ", "")


@given(
    hs.sampled_from(["2026-02-03", "2026-02-03 10:00", "2026-02-03T10:00:00", "soon", ""]),
    hs.integers(0, 400),
)
def test_fitted_trackers_always_validate(date: str, length: int) -> None:
    raw = {
        "schema_version": "2.1.0",
        "meta": {"title": "x" * max(length, 1), "created": date},
        "phases": [{"number": 1, "name": "p" * length, "status": "pending"}],
        "tasks": [{"id": "1.1", "phase": 1, "name": "n" * length}],
        "subtasks": [{"id": "1.1.1", "task_id": "1.1", "name": "s" * length}],
    }
    fitted, _ = model.fit_schema(model.from_raw(raw))
    assert_written_valid(fitted)
