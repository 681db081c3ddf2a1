"""The REPL's toolbar, as a table of status → text (no daemon needed)."""

from __future__ import annotations

import pytest

from wtctl.toolbar import Status, render

TRACKER = "docs/plans/my-project.md"
RENDERED = [
    (
        Status(tracker=TRACKER, progress=44, complete=4, total=9, health="HEALTHY", success_rate=1),
        f" {TRACKER} │ 44% (4/9) │ HEALTHY 100% │ circuits CLOSED ",
    ),
    (Status(tracker=TRACKER), f" {TRACKER} │ progress … │ health … │ circuits CLOSED "),
    (
        Status(tracker=TRACKER, missing="deleted", health="HEALTHY"),
        f" {TRACKER} (deleted) │ progress — │ HEALTHY │ circuits CLOSED ",
    ),
    (Status(), " (no tracker) │ progress — │ health … │ circuits CLOSED "),
    (
        Status(tracker=TRACKER, progress=44, open_circuits=("storage:my-project",)),
        f" {TRACKER} │ 44% (0/0) │ health … │ circuit OPEN: storage:my-project ",
    ),
    (Status(tracker=TRACKER, connected=False), f" {TRACKER} │ progress … │ wtd unreachable"),
]


@pytest.mark.parametrize(("status", "text"), RENDERED)
def test_the_toolbar_reads(status: Status, text: str) -> None:
    assert "".join(fragment[1] for fragment in render(status)) == text
