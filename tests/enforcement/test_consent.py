"""ConsentManager: answers, persistence in the guide's shape, tokens, audit, corrupt state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from wtd.enforcement.consent import ConsentManager, Operation, classify_answer

START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / ".ecw").mkdir()
    return tmp_path


def manager(ws: Path, clock: Clock, ttl: float = 300) -> ConsentManager:
    return ConsentManager(
        ws / ".ecw" / "consent-state.json", ws / ".ecw" / "audit.log", clock=clock, token_ttl=ttl
    )


def audit(ws: Path) -> list[dict[str, Any]]:
    lines = (ws / ".ecw" / "audit.log").read_text().splitlines()
    return [json.loads(line) for line in lines]


def state_file(ws: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ws / ".ecw" / "consent-state.json").read_text())
    return data


INIT20 = Operation.create_initiative(20)
DELETE = Operation.delete_tracker("my-project")
BULK = Operation.bulk_change("my-project", "Mark  phase 2 complete", 5)


def test_keys_bind_the_exact_operation() -> None:
    assert INIT20.key == "create_initiative:20"
    assert DELETE.key == "delete_tracker:my-project"
    assert BULK.key == "bulk:my-project:mark phase 2 complete"


def test_without_consent_the_prompt_of_the_spec_is_returned(ws: Path, clock: Clock) -> None:
    decision = manager(ws, clock).check(INIT20, skip_consent=False)
    assert not decision.allowed
    assert decision.reason == "consent_required"
    assert decision.prompt == [
        "? This operation requires consent.",
        "Creating new Initiative requires user approval.",
        'Respond with "yes" or "approved" to proceed.',
    ]


@pytest.mark.parametrize(
    ("op", "line"),
    [
        (DELETE, "Deleting the tracker my-project requires user approval."),
        (
            BULK,
            "Changing 5 tasks of my-project at once (mark phase 2 complete) "
            "requires user approval.",
        ),
    ],
)
def test_prompt_reason_line_names_the_operation(
    ws: Path, clock: Clock, op: Operation, line: str
) -> None:
    assert manager(ws, clock).check(op, skip_consent=False).prompt[1] == line


def test_skip_consent_allows(ws: Path, clock: Clock) -> None:
    decision = manager(ws, clock).check(DELETE, skip_consent=True)
    assert (decision.allowed, decision.reason) == (True, "skip_consent")


def test_skip_consent_from_a_subagent_is_ignored(ws: Path, clock: Clock) -> None:
    decision = manager(ws, clock).check(DELETE, skip_consent=True, subagent=True)
    assert not decision.allowed


def test_approved_initiatives_in_the_state_file_pass(ws: Path, clock: Clock) -> None:
    (ws / ".ecw" / "consent-state.json").write_text(
        json.dumps(
            {
                "session_id": "s1",
                "approved_initiatives": [20],
                "blanket_approval": False,
                "last_updated": "2024-01-01T00:00:00+00:00",
            }
        )
    )
    consent = manager(ws, clock)
    assert consent.check(INIT20, skip_consent=False).reason == "approved_initiative"
    assert not consent.check(Operation.create_initiative(21), skip_consent=False).allowed


def test_blanket_approval_covers_initiative_creation_only(ws: Path, clock: Clock) -> None:
    (ws / ".ecw" / "consent-state.json").write_text(
        '{"session_id": "s", "approved_initiatives": [], "blanket_approval": true,'
        ' "last_updated": "2024-01-01T00:00:00Z"}'
    )
    consent = manager(ws, clock)
    assert consent.check(INIT20, skip_consent=False).reason == "blanket"
    for op in (DELETE, BULK):
        decision = consent.check(op, skip_consent=False)
        assert not decision.allowed and decision.reason == "consent_required"


def test_the_blanket_phrase_does_not_approve_delete_or_bulk(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    grant = consent.grant(None, "you may create initiatives as needed", pending=None)
    assert grant.granted and "initiative creation" in grant.message
    assert consent.check(Operation.create_initiative(3), skip_consent=False).allowed
    assert not consent.check(DELETE, skip_consent=False).allowed
    assert not consent.check(BULK, skip_consent=False).allowed


def test_yes_approves_once_and_adds_the_initiative(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    token = consent.request(INIT20)
    grant = consent.grant(token.id, "yes", pending=INIT20)
    assert grant.granted and grant.answer == "once"
    assert grant.token is not None and grant.token.key == INIT20.key
    assert state_file(ws)["approved_initiatives"] == [20]
    assert consent.redeem(grant.token.id, INIT20)


def test_approved_without_a_token_approves_the_pending_operation(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    grant = consent.grant(None, "Approved.", pending=DELETE)
    assert grant.granted and grant.token is not None
    assert consent.check(DELETE, skip_consent=False, token_id=grant.token.id).reason == "token"
    assert not consent.check(DELETE, skip_consent=False).allowed  # once means once
    assert consent.state.blanket_approval is False


def test_always_is_a_standing_approval_for_that_kind_only(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    token = consent.request(BULK)
    grant = consent.grant(token.id, "always", pending=BULK)
    assert grant.granted and grant.answer == "always" and grant.token is not None
    assert consent.redeem(grant.token.id, BULK)  # the question asked goes ahead
    data = state_file(ws)
    assert data["blanket_approval"] is False
    assert list(data["standing_approvals"]) == ["bulk_change"]
    other_bulk = Operation.bulk_change("other", "mark phase 4 pending", 3)
    assert consent.check(other_bulk, skip_consent=False).reason == "standing"
    assert not consent.check(DELETE, skip_consent=False).allowed
    assert not consent.check(INIT20, skip_consent=False).allowed
    # and it survives a restart
    assert manager(ws, clock).check(BULK, skip_consent=False).reason == "standing"


def test_always_to_delete_tracker_approves_deleting_only(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    consent.grant(consent.request(DELETE).id, "Always.", pending=DELETE)
    assert consent.check(Operation.delete_tracker("x"), skip_consent=False).allowed
    assert not consent.check(BULK, skip_consent=False).allowed
    assert not consent.check(INIT20, skip_consent=False).allowed


def test_no_declines_records_and_forgets_the_question(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    token = consent.request(DELETE)
    grant = consent.grant(token.id, "No", pending=DELETE)
    assert not grant.granted and grant.declined and grant.key == DELETE.key
    assert grant.token is None
    assert not consent.check(DELETE, skip_consent=False).allowed
    again = consent.grant(token.id, "yes", pending=None)  # the question is gone
    assert not again.granted and not again.declined
    assert [e["decision"] for e in audit(ws)][:1] == ["declined"]
    assert not (ws / ".ecw" / "consent-state.json").exists()  # nothing persisted


def test_no_with_nothing_pending_is_refused(ws: Path, clock: Clock) -> None:
    grant = manager(ws, clock).grant(None, "no", pending=None)
    assert not grant.granted and not grant.declined
    assert "nothing is waiting" in grant.message


def test_revoke_one_kind_keeps_the_others(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    consent.grant(None, "always", pending=DELETE)
    consent.grant(None, "always", pending=BULK)
    consent.grant(None, "you may create initiatives as needed", pending=None)
    assert [k for k, _ in consent.show()] == ["create_initiative", "delete_tracker", "bulk_change"]
    revoked = consent.revoke("delete_tracker")
    assert revoked.kinds == ["delete_tracker"] and not revoked.blanket
    assert not consent.check(DELETE, skip_consent=False).allowed
    assert consent.check(BULK, skip_consent=False).allowed
    assert consent.check(INIT20, skip_consent=False).allowed
    assert "delete_tracker" not in state_file(ws)["standing_approvals"]


def test_revoke_all_withdraws_blanket_and_approved_initiatives(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    consent.grant(None, "yes", pending=INIT20)
    consent.grant(None, "always", pending=BULK)
    consent.grant(None, "you may create initiatives as needed", pending=None)
    revoked = consent.revoke(None)
    assert revoked.kinds == ["bulk_change"] and revoked.blanket and revoked.initiatives == [20]
    assert consent.show() == []
    data = state_file(ws)
    assert data["blanket_approval"] is False and data["approved_initiatives"] == []
    assert data["standing_approvals"] == {}
    for op in (INIT20, DELETE, BULK):
        assert not consent.check(op, skip_consent=False).allowed
    assert not consent.revoke(None).anything  # nothing left: still fine


def test_an_unknown_standing_kind_in_the_file_approves_nothing(ws: Path, clock: Clock) -> None:
    (ws / ".ecw" / "consent-state.json").write_text(
        '{"session_id": "s", "approved_initiatives": [], "blanket_approval": false,'
        ' "last_updated": "2024-01-01T00:00:00Z",'
        ' "standing_approvals": {"everything": {"granted_at": "x"}}}'
    )
    consent = manager(ws, clock)
    assert consent.show() == []
    for op in (INIT20, DELETE, BULK):
        assert not consent.check(op, skip_consent=False).allowed


def test_blanket_phrase_needs_no_pending_operation(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    grant = consent.grant(None, "You may create initiatives as needed", pending=None)
    assert grant.granted and grant.answer == "blanket"
    assert consent.check(Operation.create_initiative(7), skip_consent=False).reason == "blanket"


def test_state_file_has_exactly_the_guides_shape(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    consent.grant(None, "yes", pending=INIT20)
    data = state_file(ws)
    # the ECW guide's keys first, in its order; ours after them
    assert list(data)[:4] == [
        "session_id",
        "approved_initiatives",
        "blanket_approval",
        "last_updated",
    ]
    assert list(data)[4:] == ["standing_approvals"]
    assert isinstance(data["session_id"], str) and data["session_id"]
    assert data["approved_initiatives"] == [20]
    assert data["blanket_approval"] is False
    assert datetime.fromisoformat(data["last_updated"]) == START


def test_decisions_survive_a_restart(ws: Path, clock: Clock) -> None:
    first = manager(ws, clock)
    first.grant(None, "yes", pending=INIT20)
    session = first.state.session_id
    second = manager(ws, clock)
    assert second.state.session_id == session
    assert second.check(INIT20, skip_consent=False).reason == "approved_initiative"


def test_a_change_to_the_file_on_disk_is_picked_up(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    assert not consent.check(DELETE, skip_consent=False).allowed
    (ws / ".ecw" / "consent-state.json").write_text(
        '{"session_id": "x", "approved_initiatives": [], "blanket_approval": true,'
        ' "last_updated": "2024-01-01T00:00:00Z", "extra": 1,'
        ' "standing_approvals": {"delete_tracker": {"granted_at": "2024-01-01"}}}'
    )
    assert consent.check(DELETE, skip_consent=False).reason == "standing"


def test_missing_state_file_means_nothing_approved(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    assert consent.recovered_from is None
    assert consent.state.approved_initiatives == []
    assert not (ws / ".ecw" / "consent-state.json").exists()  # reading never writes


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b'{"session_id": 1}', b'{"blanket_approval": "yes"}', b"[1, 2]"],
)
def test_corrupt_state_is_kept_beside_and_starts_fresh(
    ws: Path, clock: Clock, content: bytes
) -> None:
    path = ws / ".ecw" / "consent-state.json"
    path.write_bytes(content)
    consent = manager(ws, clock)
    kept = ws / ".ecw" / "consent-state.json.corrupt-20240501T120000Z"
    assert consent.recovered_from == kept
    assert kept.read_bytes() == content
    assert not consent.check(INIT20, skip_consent=False).allowed
    assert audit(ws)[0]["decision"] == "state_reset"


def test_token_is_usable_exactly_once(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    grant = consent.grant(consent.request(DELETE).id, "yes", pending=DELETE)
    assert grant.token is not None
    assert consent.redeem(grant.token.id, DELETE)
    assert not consent.redeem(grant.token.id, DELETE)


def test_token_is_bound_to_its_operation(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    grant = consent.grant(None, "yes", pending=BULK)
    assert grant.token is not None
    other = Operation.bulk_change("my-project", "mark phase 3 complete", 5)
    assert not consent.redeem(grant.token.id, other)
    assert not consent.redeem(grant.token.id, Operation.bulk_change("other", BULK.phrase, 5))
    assert consent.redeem(grant.token.id, BULK)


def test_token_expires(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock, ttl=60)
    grant = consent.grant(None, "yes", pending=DELETE)
    assert grant.token is not None
    clock.advance(61)
    assert not consent.redeem(grant.token.id, DELETE)


def test_token_is_valid_until_just_before_expiry(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock, ttl=60)
    grant = consent.grant(None, "yes", pending=DELETE)
    assert grant.token is not None
    clock.advance(59)
    assert consent.redeem(grant.token.id, DELETE)


def test_a_requested_but_unanswered_token_cannot_be_redeemed(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    token = consent.request(DELETE)
    assert not consent.redeem(token.id, DELETE)


def test_an_expired_question_cannot_be_answered(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock, ttl=10)
    token = consent.request(DELETE)
    clock.advance(11)
    assert not consent.grant(token.id, "yes", pending=DELETE).granted


def test_answer_for_another_operation_is_refused(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    token = consent.request(DELETE)
    grant = consent.grant(token.id, "yes", pending=INIT20)
    assert not grant.granted
    assert state_file_missing_or_unapproved(ws)


def state_file_missing_or_unapproved(ws: Path) -> bool:
    path = ws / ".ecw" / "consent-state.json"
    return not path.exists() or state_file(ws)["approved_initiatives"] == []


def test_yes_with_nothing_pending_is_refused(ws: Path, clock: Clock) -> None:
    grant = manager(ws, clock).grant(None, "yes", pending=None)
    assert not grant.granted
    assert "nothing is waiting" in grant.message


def test_a_replayed_token_in_check_is_refused_with_a_prompt(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    grant = consent.grant(None, "yes", pending=DELETE)
    assert grant.token is not None
    assert consent.check(DELETE, skip_consent=False, token_id=grant.token.id).allowed
    replay = consent.check(DELETE, skip_consent=False, token_id=grant.token.id)
    assert (replay.allowed, replay.reason) == (False, "token_refused")
    assert replay.prompt[0] == "? This operation requires consent."


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("yes", "once"),
        ("YES!", "once"),
        ('"approved"', "once"),
        ("Always", "always"),
        ("you  may create initiatives as needed.", "blanket"),
        ("no", "decline"),
        ("N", "decline"),
        ("y", "once"),
        ("yes please", None),
        ("nope", None),
    ],
)
def test_classify_answer(text: str, kind: str | None) -> None:
    assert classify_answer(text) == kind


def test_not_a_consent_answer_is_refused(ws: Path, clock: Clock) -> None:
    assert not manager(ws, clock).grant(None, "maybe", pending=DELETE).granted


def test_every_decision_is_audited(ws: Path, clock: Clock) -> None:
    consent = manager(ws, clock)
    consent.check(INIT20, skip_consent=False, agent="claude")
    grant = consent.grant(None, "yes", pending=INIT20, agent="claude")
    assert grant.token is not None
    consent.redeem(grant.token.id, INIT20, agent="claude")
    consent.redeem(grant.token.id, INIT20, agent="claude")
    consent.check(INIT20, skip_consent=False)
    entries = audit(ws)
    assert [e["decision"] for e in entries] == [
        "required",
        "granted",
        "redeemed",
        "refused",
        "allowed",
    ]
    assert all(e["operation"] == "create_initiative:20" for e in entries)
    assert entries[0]["agent"] == "claude" and entries[0]["reason"] == "consent_required"
    assert entries[-1]["reason"] == "approved_initiative"
    assert all(datetime.fromisoformat(e["ts"]) == START for e in entries)
    assert all(grant.token.id not in json.dumps(e) for e in entries)  # prefixes only
