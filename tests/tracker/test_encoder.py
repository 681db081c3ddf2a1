"""The caching Encoder writes exactly what model.encode writes, change after change."""

from __future__ import annotations

from tests.tracker.conftest import make_tracker
from tests.tracker.test_patch import AT, CHANGES
from wtd.tracker import commands as c
from wtd.tracker import model, ops


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
