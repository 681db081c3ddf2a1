"""The status vocabulary (SPEC §2): every alias normalises, cells render, typos get suggestions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as hs

from wtd.tracker import status as st


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # canonical
        ("pending", "pending"),
        ("in_progress", "in_progress"),
        ("complete", "complete"),
        ("blocked", "blocked"),
        ("skipped", "skipped"),
        ("superseded", "superseded"),
        # SPEC §2 aliases
        ("done", "complete"),
        ("DONE", "complete"),
        ("Done", "complete"),
        ("completed", "complete"),
        ("finished", "complete"),
        ("closed", "complete"),
        ("todo", "pending"),
        ("open", "pending"),
        ("not started", "pending"),
        ("Not-Started", "pending"),
        ("not_started", "pending"),
        ("wip", "in_progress"),
        ("WIP", "in_progress"),
        ("started", "in_progress"),
        ("doing", "in_progress"),
        ("active", "in_progress"),
        ("stuck", "blocked"),
        ("waiting", "blocked"),
        ("cancelled", "skipped"),
        ("dropped", "skipped"),
        ("wontfix", "skipped"),
        ("won't fix", "skipped"),
        ("deferred", "skipped"),
        # case, spaces, hyphens
        ("IN PROGRESS", "in_progress"),
        ("in progress", "in_progress"),
        ("In-Progress", "in_progress"),
        ("  in    progress  ", "in_progress"),
        ("IN_PROGRESS", "in_progress"),
        # icons
        ("✅ Complete", "complete"),
        ("🔄 in-progress", "in_progress"),
        ("🔄 In Progress", "in_progress"),
        ("⏳ Pending", "pending"),
        ("🔴 Blocked", "blocked"),
        ("⏭️ Skipped", "skipped"),
        ("♻️ Superseded", "superseded"),
        ("✅", "complete"),
        ("⏭️", "skipped"),
        ("⏭", "skipped"),
        ("♻️", "superseded"),
        # Markdown emphasis around the whole cell
        ("**✅ Complete**", "complete"),
        ("`done`", "complete"),
        # what plans elsewhere write, which import reads: the same in a view or phrase
        ("🚧 In progress", "in_progress"),
        ("🟡", "in_progress"),
        ("In Review", "in_progress"),
        ("⬜ Not started", "pending"),
        ("⛔ On hold", "blocked"),
    ],
)
def test_normalize(text: str, expected: str) -> None:
    assert st.normalize(text) == expected


@pytest.mark.parametrize(
    "text", ["", "   ", "foo", "complete-ish", "✅✅ nope", "1", "🚧 Done", "🚧 foo", "🟡 ⛔"]
)
def test_normalize_rejects_unknown_spellings(text: str) -> None:
    assert st.normalize(text) is None


@pytest.mark.parametrize("status", st.STATUSES)
def test_every_canonical_status_has_icon_and_label(status: st.Status) -> None:
    assert status in st.ICONS
    assert status in st.LABELS
    assert st.is_canonical(status)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("complete", "✅ Complete"),
        ("done", "✅ Complete"),
        ("in_progress", "🔄 In Progress"),
        ("pending", "⏳ Pending"),
        ("blocked", "🔴 Blocked"),
        ("skipped", "⏭️ Skipped"),
        ("superseded", "♻️ Superseded"),
        ("wontfix", "⏭️ Skipped"),
    ],
)
def test_cell(text: str, expected: str) -> None:
    assert st.cell(text) == expected


@pytest.mark.parametrize("status", st.STATUSES)
def test_cell_round_trips_through_normalize(status: st.Status) -> None:
    assert st.normalize(st.cell(status)) == status


def test_normalize_accepts_emphasis_inside_an_icon_cell() -> None:
    assert st.normalize("✅ **Complete**") == "complete"


def test_is_canonical_only_for_exact_values() -> None:
    assert not st.is_canonical("Complete")
    assert not st.is_canonical("done")


@pytest.mark.parametrize(
    ("typo", "first"),
    [
        ("compelte", "complete"),
        ("blokced", "blocked"),
        ("pendng", "pending"),
        ("skiped", "skipped"),
    ],
)
def test_suggest_offers_the_nearest_words(typo: str, first: str) -> None:
    suggestions = st.suggest(typo)
    assert suggestions[0] == first
    assert len(suggestions) <= 3


def test_suggest_respects_limit_and_gives_up_on_gibberish() -> None:
    assert len(st.suggest("in prog", limit=1)) == 1
    assert st.suggest("zzzzzzzzzz") == []


@given(hs.text(max_size=50))
def test_normalize_is_total_and_canonical(text: str) -> None:
    result = st.normalize(text)
    assert result is None or result in st.STATUSES
    assert st.cell(text).split(" ", 1)[1] in st.LABELS.values()
