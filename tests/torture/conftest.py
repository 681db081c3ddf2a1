"""Registers the ``torture`` marker (deselect with ``-m 'not torture'``)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "torture: a time-boxed run of crashes, faults and load against a real wtd"
    )
