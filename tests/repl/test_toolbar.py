"""The REPL's toolbar, as a table of status → text (no daemon needed)."""

from __future__ import annotations

import pytest

from wtctl.toolbar import Status, render, with_claims

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
    (
        Status(tracker=TRACKER, progress=44, complete=4, total=9, claims=("3.1", "2.3")),
        f" {TRACKER} │ 44% (4/9) │ claimed 3.1, 2.3 │ health … │ circuits CLOSED ",
    ),
    (
        Status(tracker=TRACKER, progress=0, claims=("1.1", "1.2", "1.3", "1.4")),
        f" {TRACKER} │ 0% (0/0) │ claimed 1.1, 1.2, 1.3 … │ health … │ circuits CLOSED ",
    ),
]


@pytest.mark.parametrize(("status", "text"), RENDERED)
def test_the_toolbar_reads(status: Status, text: str) -> None:
    assert "".join(fragment[1] for fragment in render(status)) == text


def test_the_toolbar_keeps_the_callers_claims_only() -> None:
    reply = {
        "type": "reply",
        "ok": True,
        "result": [{"id": "3.1", "by": "alice"}, {"id": "2.3", "by": "bob"}],
    }
    assert with_claims(Status(), reply, "alice").claims == ("3.1",)
    assert with_claims(Status(), reply, "user").claims == ()
    failed = {"type": "reply", "ok": False, "result": None}
    assert with_claims(Status(claims=("9.9",)), failed, "alice").claims == ("9.9",)
