"""Claims (SPEC §12) as pure ops: who takes what, who may take or release it, leases,
renewal by any change of the holder, expiry; and how queries and the view show them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wtd import errors
from wtd.tracker import claims as cl
from wtd.tracker import commands as c
from wtd.tracker import markdown as md
from wtd.tracker import model, ops, queries
from wtd.tracker.merge import merge
from wtd.tracker.model import Tracker
from wtd.tracker.render import render

Validate = Callable[[Tracker], None]

T0 = "2026-12-01T12:00:00.000000Z"
T1 = "2026-12-01T12:05:00.000000Z"  # 5 min later: a 30-min lease still runs
T2 = "2026-12-01T13:00:00.000000Z"  # an hour later: it ended


def run(tracker: Tracker, change: c.Change, actor: str = "agent:a1", at: str = T0) -> ops.Applied:
    return ops.apply(tracker, change, at=at, actor=actor)


def claim(tracker: Tracker, task_id: str) -> cl.Claim | None:
    task = tracker.task(task_id)
    assert task is not None
    return cl.claim_of(task)


def status(tracker: Tracker, task_id: str) -> str:
    task = tracker.task(task_id)
    assert task is not None
    return task.status


# ------------------------------------------------------------ claim next


def test_claim_next_takes_what_next_would_pick_and_marks_it_in_progress(example: Tracker) -> None:
    picked = queries.answer(example, c.ShowNext()).result
    assert isinstance(picked, dict)
    applied = run(example, c.ClaimNext(lease=600))
    assert applied.result["id"] == picked["task"]["id"] == "3.1"
    assert status(applied.tracker, "3.1") == "in_progress"
    assert claim(applied.tracker, "3.1") == cl.Claim(
        task_id="3.1", by="a1", since=T0, until="2026-12-01T12:10:00.000000Z", lease=600.0
    )


def test_two_claims_in_a_row_never_get_the_same_task(example: Tracker) -> None:
    example = run(example, c.SetTaskStatus(task_id="2.2", status="complete", given="x")).tracker
    first = run(example, c.ClaimNext(), actor="agent:a1")
    second = run(first.tracker, c.ClaimNext(), actor="agent:a2")
    assert (first.result["id"], second.result["id"]) == ("2.3", "3.1")
    with pytest.raises(errors.NotFound, match=r"claimed: 2\.3 \(a1\), 3\.1 \(a2\)"):
        run(second.tracker, c.ClaimNext(), actor="agent:a3")


def test_claim_next_in_a_phase_looks_in_that_phase_only(example: Tracker) -> None:
    with pytest.raises(errors.NotFound, match="No unclaimed task is ready in phase 2"):
        run(example, c.ClaimNext(phase=2))
    assert run(example, c.ClaimNext(phase=3)).result["id"] == "3.1"
    with pytest.raises(errors.NotFound):
        run(example, c.ClaimNext(phase=9))


def test_the_default_lease_is_thirty_minutes(example: Tracker) -> None:
    applied = run(example, c.ClaimNext())
    assert applied.result["until"] == "2026-12-01T12:30:00.000000Z"


# ------------------------------------------------------------ claim task, release


def test_another_agent_cannot_take_a_live_claim(example: Tracker) -> None:
    held = run(example, c.ClaimTask(task_id="3.1")).tracker
    with pytest.raises(errors.Denied, match=r"claimed by a1 until 2026-12-01 12:30:00Z"):
        run(held, c.ClaimTask(task_id="3.1"), actor="agent:a2", at=T1)
    with pytest.raises(errors.Denied, match="claimed by a1"):
        run(held, c.ReleaseTask(task_id="3.1"), actor="agent:a2", at=T1)


def test_the_user_takes_over_only_when_forced(example: Tracker) -> None:
    held = run(example, c.ClaimTask(task_id="3.1")).tracker
    with pytest.raises(errors.Denied):
        run(held, c.ClaimTask(task_id="3.1"), actor="user", at=T1)
    taken = run(held, c.ClaimTask(task_id="3.1", force=True), actor="user", at=T1)
    assert taken.lines[0].startswith("Took over task 3.1 from a1")
    assert claim(taken.tracker, "3.1") is not None
    assert claim(taken.tracker, "3.1").by == "user"  # type: ignore[union-attr]
    released = run(held, c.ReleaseTask(task_id="3.1", force=True), actor="user", at=T1)
    assert claim(released.tracker, "3.1") is None


def test_an_agent_cannot_force(example: Tracker) -> None:
    held = run(example, c.ClaimTask(task_id="3.1")).tracker
    with pytest.raises(errors.Denied):
        run(held, c.ClaimTask(task_id="3.1", force=True), actor="agent:a2", at=T1)


def test_an_ended_lease_may_be_taken_by_anyone(example: Tracker) -> None:
    held = run(example, c.ClaimTask(task_id="3.1")).tracker
    taken = run(held, c.ClaimTask(task_id="3.1"), actor="agent:a2", at=T2)
    assert claim(taken.tracker, "3.1").by == "a2"  # type: ignore[union-attr]


def test_release_gives_the_task_back_pending_unless_complete(example: Tracker) -> None:
    held = run(example, c.ClaimTask(task_id="3.1")).tracker
    released = run(held, c.ReleaseTask(task_id="3.1"), at=T1)
    assert status(released.tracker, "3.1") == "pending"
    assert claim(released.tracker, "3.1") is None
    assert released.lines == ["Released task 3.1; it is pending."]
    again = run(released.tracker, c.ReleaseTask(task_id="3.1"), at=T1)
    assert not again.changed and again.lines == ["Task 3.1 is not claimed."]


def test_completing_a_claimed_task_ends_its_claim(example: Tracker) -> None:
    held = run(example, c.ClaimTask(task_id="3.1")).tracker
    done = run(held, c.SetTaskStatus(task_id="3.1", status="complete", given="done"), at=T1)
    assert status(done.tracker, "3.1") == "complete"
    assert claim(done.tracker, "3.1") is None


def test_a_settled_task_cannot_be_claimed(example: Tracker) -> None:
    with pytest.raises(errors.InvalidArgument, match=r"1\.1 is complete"):
        run(example, c.ClaimTask(task_id="1.1"))


# ------------------------------------------------------------ leases


def test_renew_claims_extends_only_the_callers_live_leases(example: Tracker) -> None:
    t = run(example, c.ClaimTask(task_id="3.1", lease=600), actor="agent:a1").tracker
    t = run(t, c.ClaimTask(task_id="2.3", lease=600), actor="agent:a2").tracker
    renewed = run(t, c.RenewClaims(lease=600), actor="agent:a1", at=T1)
    assert renewed.result == {
        "renewed": ["3.1"],
        "by": "a1",
        "until": "2026-12-01T12:15:00.000000Z",
    }
    assert claim(renewed.tracker, "2.3") == claim(t, "2.3")


def test_any_change_of_the_holder_to_its_task_renews_the_lease(example: Tracker) -> None:
    t = run(example, c.ClaimTask(task_id="3.1", lease=600)).tracker
    renamed = run(t, c.RenameTask(task_id="3.1", name="Notes"), at=T1).tracker
    assert claim(renamed, "3.1").until == "2026-12-01T12:15:00.000000Z"  # type: ignore[union-attr]
    by_other = run(t, c.RenameTask(task_id="3.1", name="Notes"), actor="user", at=T1).tracker
    assert claim(by_other, "3.1") == claim(t, "3.1")


def test_expiry_gives_back_what_ended_and_keeps_the_rest(example: Tracker) -> None:
    t = run(example, c.ClaimTask(task_id="3.1", lease=600)).tracker
    t = run(t, c.ClaimTask(task_id="2.3", lease=7200), actor="agent:a2").tracker
    assert cl.next_expiry(t) == "2026-12-01T12:10:00.000000Z"
    assert not run(t, c.ExpireClaims(), actor="wtd", at=T0).changed
    expired = run(t, c.ExpireClaims(), actor="wtd", at=T2)
    assert expired.result == {"expired": ["3.1"]}
    assert status(expired.tracker, "3.1") == "pending" and claim(expired.tracker, "3.1") is None
    assert claim(expired.tracker, "2.3") is not None
    assert cl.next_expiry(expired.tracker) == "2026-12-01T14:00:00.000000Z"


def test_a_field_that_is_not_a_claim_is_left_alone(example: Tracker) -> None:
    task = example.task("3.1")
    assert task is not None
    odd = model.from_raw(
        {**model.to_raw(example), "tasks": [{**model.to_raw(example)["tasks"][7], "x_claim": 5}]}
    )
    assert cl.next_expiry(odd) is None
    assert not run(odd, c.ExpireClaims(), actor="wtd").changed


# ------------------------------------------------------------ schema, queries, view


@pytest.mark.parametrize(
    "change",
    [c.ClaimNext(), c.ClaimTask(task_id="3.2"), c.RenewClaims(), c.ReleaseTask(task_id="2.3")],
)
def test_claims_keep_the_tracker_schema_valid(
    custom: Tracker, validate: Validate, change: c.Change
) -> None:
    held = run(custom, c.ClaimTask(task_id="2.3")).tracker
    validate(held)
    validate(run(held, change, at=T1).tracker)
    validate(run(held, c.ExpireClaims(), actor="wtd", at=T2).tracker)


def test_next_skips_claimed_pending_tasks_and_says_who_holds_them(example: Tracker) -> None:
    t = run(example, c.SetTaskStatus(task_id="2.2", status="complete", given="done")).tracker
    t = run(t, c.ClaimTask(task_id="2.3")).tracker
    t = run(t, c.SetTaskStatus(task_id="2.3", status="pending", given="pending")).tracker
    answer = queries.answer(t, c.ShowNext(), at=T1)
    assert answer.lines == [
        "Next: 3.1 Write release notes (phase 3: Release)",
        "  Skipped, claimed: 2.3 (a1)",
    ]
    assert isinstance(answer.result, dict)
    assert answer.result["claimed"] == [
        {"id": "2.3", "by": "a1", "until": "2026-12-01T12:30:00.000000Z"}
    ]
    assert run(t, c.ClaimNext(), actor="agent:a2", at=T1).result["id"] == "3.1"


def test_show_task_and_list_claims_show_holder_and_until(example: Tracker) -> None:
    t = run(example, c.ClaimTask(task_id="3.1")).tracker
    shown = queries.answer(t, c.ShowTask(task_id="3.1"), at=T1)
    assert "  Claimed by: a1 until 2026-12-01 12:30:00Z" in shown.lines
    listed = queries.answer(t, c.ListClaims(), at=T1)
    assert listed.result == [
        {
            "id": "3.1",
            "name": "Write release notes",
            "by": "a1",
            "since": T0,
            "until": "2026-12-01T12:30:00.000000Z",
        }
    ]
    assert queries.answer(t, c.ListClaims(), at=T2).lines == ["No task is claimed."]


def test_the_view_shows_claims_and_reads_back_without_them(example: Tracker) -> None:
    t = run(example, c.ClaimTask(task_id="3.1")).tracker
    text = render(t, name="p", checksum="x")
    assert "## Claims\n\n| Task | Claimed by | Until |\n|------|------------|-------|\n" in text
    assert "| 3.1 | a1 | 2026-12-01 12:30:00Z |" in text
    view = md.parse_view(text)
    assert view == md.view_of(t)
    assert view.unmapped == ()
    assert "## Claims" not in render(example, name="p", checksum="x")


def test_a_hand_edit_of_the_view_keeps_the_claims(example: Tracker) -> None:
    t = run(example, c.ClaimTask(task_id="3.1")).tracker
    text = render(t, name="p", checksum="x")
    edited = text.replace("Write release notes", "Write the changelog", 1)
    edited = edited.replace("| 3.1 | a1 |", "| 3.1 | someone-else |")  # the Claims table: derived
    edits = md.diff_views(md.view_of(t), md.parse_view(edited))
    merged = merge(t, t, edits, at=T1).tracker
    assert merged.task("3.1").title == "Write the changelog"  # type: ignore[union-attr]
    assert claim(merged, "3.1") == claim(t, "3.1")
