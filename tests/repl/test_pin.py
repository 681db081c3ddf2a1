"""``wtctl.pin``: which tracker ``use …`` names, as tables (no daemon needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wtctl import pin


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """``my-project`` (JSON and view), ``02-auth`` (JSON only), ``legacy`` (view only)."""
    root = tmp_path / "project"
    (root / ".ecw" / "plans").mkdir(parents=True)
    (root / "docs" / "plans").mkdir(parents=True)
    for name in ("my-project", "02-auth"):
        (root / ".ecw" / "plans" / f"{name}.json").write_text("{}")
    for name in ("my-project", "legacy"):
        (root / "docs" / "plans" / f"{name}.md").write_text("# x\n")
    return root


CHOSEN = [
    ("02-auth", "02-auth"),
    ("legacy", "legacy"),
    ("  my-project  ", "my-project"),
    ('"02-auth"', "02-auth"),
    ("02-AUTH", "02-auth"),  # letter case is forgiven
    ("docs/plans/legacy.md", "legacy"),
    (".ecw/plans/02-auth.json", "02-auth"),
    ("./docs/plans/my-project.md", "my-project"),
]


@pytest.mark.parametrize(("text", "name"), CHOSEN)
def test_use_names_a_tracker_by_name_or_path(workspace: Path, text: str, name: str) -> None:
    chosen = pin.choose(text, workspace, cwd=workspace)
    assert chosen == pin.Pin(workspace, name, str(workspace / "docs" / "plans" / f"{name}.md"))
    assert isinstance(chosen, pin.Pin) and chosen.label == f"docs/plans/{name}.md"


def test_a_name_is_looked_up_in_the_pinned_workspace_not_the_folder(
    workspace: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    chosen = pin.choose("02-auth", workspace, cwd=elsewhere)
    assert isinstance(chosen, pin.Pin) and chosen.workspace == workspace


def test_an_absolute_path_leads_to_its_own_workspace(workspace: Path, tmp_path: Path) -> None:
    chosen = pin.choose(str(workspace / ".ecw/plans/02-auth.json"), tmp_path, cwd=tmp_path)
    assert isinstance(chosen, pin.Pin) and (chosen.workspace, chosen.name) == (workspace, "02-auth")


REFUSED = [
    ("03-billing", "No tracker '03-billing' in", ()),
    ("my-projcet", "trackers here: 02-auth, legacy, my-project", ("use my-project",)),
    ("02", "No tracker '02'", ("use 02-auth",)),
    ("docs/plans/gone.md", "No tracker 'gone'", ()),
    ("plans/my-project", "Tracker path must end in .md or .json", ()),
    ("", "use needs a tracker", ()),
]


@pytest.mark.parametrize(("text", "message", "suggestions"), REFUSED)
def test_use_refuses_what_is_not_a_tracker_and_names_those_that_are(
    workspace: Path, text: str, message: str, suggestions: tuple[str, ...]
) -> None:
    refused = pin.choose(text, workspace, cwd=workspace)
    assert isinstance(refused, pin.Refused)
    assert message in refused.message
    assert refused.suggestions[: len(suggestions)] == suggestions


def test_an_empty_workspace_says_so(tmp_path: Path) -> None:
    refused = pin.choose("anything", tmp_path, cwd=tmp_path)
    assert isinstance(refused, pin.Refused)
    assert "there are no trackers here yet" in refused.message


def test_names_are_the_workspaces_trackers_sorted(workspace: Path) -> None:
    assert pin.names(workspace) == ["02-auth", "legacy", "my-project"]


def test_a_given_tracker_is_sent_as_given(workspace: Path) -> None:
    given = pin.given("docs/plans/my-project.md", workspace)
    assert given == pin.Pin(workspace, "my-project", "docs/plans/my-project.md")


def test_a_reported_tracker_is_sent_as_its_absolute_view_path(workspace: Path) -> None:
    reported = pin.reported("docs/plans/02-auth.md", workspace)
    assert reported.request == str(workspace / "docs" / "plans" / "02-auth.md")
    assert reported.label == "docs/plans/02-auth.md"


def test_the_listing_marks_the_current_tracker() -> None:
    current = pin.Pin(Path("/w"), "my-project", "/w/docs/plans/my-project.md")
    rows = [{"name": "02-auth", "progress": 0}, {"name": "my-project", "progress": 44}]
    assert pin.listing(current, "", rows) == [
        "Tracker: docs/plans/my-project.md",
        "Switch with: use NAME",
        "    02-auth                  0%",
        "  * my-project               44%",
    ]
    assert pin.listing(current, "deleted", [])[0] == "Tracker: docs/plans/my-project.md (deleted)"
    assert "create initiative" in pin.listing(None, "", [])[0]


PINNED = pin.Pin(Path("/w"), "my-project", "/w/docs/plans/my-project.md")
MINE = "docs/plans/my-project.md"
NEW = "docs/plans/20-payments.md"
DELETED = {"deleted": "my-project", "trash": "/w/.ecw/trash/x-my-project"}
CREATED = {"initiative": 20, "tracker": "20-payments", "json": "/w/.ecw/plans/20-payments.json"}
NEWS = [
    # (pin, missing, reply) → news
    (PINNED, "", {"ok": True, "tracker": MINE, "result": DELETED}, pin.News(missing="deleted")),
    (
        PINNED,
        "deleted",
        {"ok": True, "tracker": MINE, "result": {"restored": "my-project"}},
        pin.News(missing=""),
    ),
    (PINNED, "", {"ok": True, "tracker": NEW, "result": CREATED}, pin.News(other="20-payments")),
    (PINNED, "deleted", {"ok": True, "tracker": NEW, "result": CREATED}, pin.News(switch_to=NEW)),
    (None, "", {"ok": True, "tracker": NEW, "result": CREATED}, pin.News(switch_to=NEW)),
    (
        PINNED,
        "",
        {"ok": True, "tracker": MINE, "result": {"phase": 2, "deleted": True}},
        pin.News(),
    ),
    (PINNED, "", {"ok": False, "tracker": NEW, "result": CREATED}, pin.News()),
    (PINNED, "", {"ok": True, "tracker": None, "result": [{"name": "x"}]}, pin.News()),
    (None, "", {"ok": True, "tracker": None, "lines": ["Phrases …"]}, pin.News()),
]


@pytest.mark.parametrize(("current", "missing", "reply", "news"), NEWS)
def test_what_a_reply_means_for_the_pin(
    current: pin.Pin | None, missing: str, reply: dict[str, object], news: pin.News
) -> None:
    assert pin.after_reply(current, missing, reply) == news


def test_what_is_said_when_the_pinned_tracker_is_gone() -> None:
    assert "'undo' or 'restore tracker' brings it back" in pin.gone(PINNED, "deleted")
    assert "brings it back" not in pin.gone(PINNED, "not found")
    assert "'use TRACKER' switches" in pin.gone(PINNED, "not found")
