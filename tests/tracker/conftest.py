"""Shared tracker fixtures: the example tracker (plain and with custom fields),
a schema validator, and ``make_tracker(n_tasks, n_phases)`` for big trackers."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from bench.harness import tracker_raw
from wtd.tracker import model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "data" / "my-project.json"
SCHEMA = ROOT / "tests" / "ecw-work-tracker-v2.schema.json"

AT = "2026-12-01T12:00:00Z"
ACTOR = "tester"


def example_raw() -> dict[str, Any]:
    """The example tracker as shipped, with a stale stored overall progress (40, derived 44)."""
    raw: dict[str, Any] = json.loads(EXAMPLE.read_text())
    raw["meta"]["progress"] = {"overall": 40}
    return raw


def custom_raw() -> dict[str, Any]:
    """The example with unknown ``x_custom`` fields at every level (they must survive)."""
    raw = example_raw()
    raw["x_custom"] = {"top": [1, 2]}
    raw["meta"]["x_custom"] = {"meta": True}
    raw["meta"]["progress"]["x_custom"] = "kept"
    for phase in raw["phases"]:
        phase["x_custom"] = {"phase": phase["number"]}
    for task in raw["tasks"]:
        task["x_custom"] = {"task": task["id"]}
    for sub in raw["subtasks"]:
        sub["x_custom"] = {"sub": sub["id"]}
    return raw


def make_tracker(n_tasks: int, n_phases: int = 10) -> model.Tracker:
    """A schema-valid tracker with ``n_tasks`` tasks spread evenly over ``n_phases`` phases,
    tasks grouped by phase, mixed statuses, a dependency chain inside each phase (the
    benchmarks' generator, so tests and benchmarks speak of the same trackers)."""
    raw = tracker_raw(n_tasks, n_phases)
    raw["schema_version"] = model.SCHEMA_VERSION
    return model.with_derived_progress(model.from_raw(raw))


@pytest.fixture
def example() -> model.Tracker:
    return model.from_raw(example_raw())


@pytest.fixture
def custom() -> model.Tracker:
    return model.from_raw(custom_raw())


@pytest.fixture(scope="session")
def schema_validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


@pytest.fixture
def validate(schema_validator: jsonschema.Draft7Validator) -> Callable[[model.Tracker], None]:
    """Assert that a tracker, as it would be written, is valid against the v2 schema."""

    def check(tracker: model.Tracker) -> None:
        errors = sorted(schema_validator.iter_errors(model.to_raw(tracker)), key=str)
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:5])

    return check


@pytest.fixture(name="make_tracker")
def make_tracker_fixture() -> Callable[[int, int], model.Tracker]:
    return make_tracker
