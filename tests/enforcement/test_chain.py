"""FourLevelEnforcer: the order of the levels and who decides."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wtd.enforcement import (
    AgentRule,
    EnforcementContext,
    FourLevelEnforcer,
    HookLevel,
    Operation,
)

NOW = datetime(2024, 5, 1, tzinfo=UTC)
INIT20 = Operation.create_initiative(20)
RULES = "## Work tracker\n- Never create an initiative without asking.\n"


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    (tmp_path / ".ecw").mkdir()
    (tmp_path / "CLAUDE.md").write_text(RULES)
    return tmp_path


def chain(
    ws: Path,
    *,
    agent_rules: dict[str, AgentRule] | None = None,
    hook: HookLevel | None = None,
) -> FourLevelEnforcer:
    return FourLevelEnforcer.for_workspace(
        ws, clock=lambda: NOW, agent_rules=agent_rules, hook=hook
    )


def test_guarded_operation_without_consent_is_stopped_by_soft(ws: Path) -> None:
    result = chain(ws).check(INIT20, EnforcementContext(phrase="create initiative 20"))
    assert not result.allowed
    assert (result.level, result.code, result.exit_code) == ("soft", "consent_required", 3)
    assert result.prompt[0] == "? This operation requires consent."
    assert result.token is not None
    assert result.advisories == ["ℹ Advisory: Never create an initiative without asking."]
    assert result.lines == [*result.advisories, *result.prompt]


def test_advisory_never_blocks(ws: Path) -> None:
    result = chain(ws).check(
        INIT20, EnforcementContext(skip_consent=True, phrase="create initiative 20")
    )
    assert result.allowed and result.exit_code == 0
    assert (result.level, result.basis) == ("soft", "skip_consent")
    assert result.advisories  # shown, not blocking


def test_ordinary_change_passes_with_no_deciding_level(ws: Path) -> None:
    result = chain(ws).check(None, EnforcementContext(phrase="mark task 1.1 complete"))
    assert (result.allowed, result.level, result.code) == (True, None, None)


def test_subagent_with_skip_consent_is_denied_not_allowed(ws: Path) -> None:
    context = EnforcementContext(subagent=True, skip_consent=True, phrase="create initiative 20")
    result = chain(ws).check(INIT20, context)
    assert not result.allowed
    assert (result.level, result.code, result.exit_code) == ("medium", "denied", 4)
    assert result.token is None and result.prompt == []


def test_subagent_is_denied_before_consent_is_asked(ws: Path) -> None:
    enforcer = chain(ws)
    result = enforcer.check(INIT20, EnforcementContext(subagent=True))
    assert result.code == "denied"
    entries = [json.loads(x) for x in (ws / ".ecw" / "audit.log").read_text().splitlines()]
    assert [e["decision"] for e in entries] == ["denied"]  # no "required", no token minted


def test_subagent_is_denied_even_with_blanket_approval(ws: Path) -> None:
    enforcer = chain(ws)
    enforcer.consent.grant(None, "you may create initiatives as needed", pending=None)
    assert enforcer.check(INIT20, EnforcementContext(subagent=True)).code == "denied"


def test_subagent_may_not_answer_consent(ws: Path) -> None:
    result = chain(ws).check(None, EnforcementContext(subagent=True, action="consent"))
    assert (result.level, result.code) == ("medium", "denied")


def test_consent_round_trip_through_the_chain(ws: Path) -> None:
    enforcer = chain(ws)
    asked = enforcer.check(Operation.delete_tracker("p"), EnforcementContext())
    assert asked.token is not None
    grant = enforcer.consent.grant(asked.token, "yes", pending=Operation.delete_tracker("p"))
    assert grant.token is not None and grant.token.id == asked.token
    allowed = enforcer.check(
        Operation.delete_tracker("p"), EnforcementContext(consent_token=asked.token)
    )
    assert (allowed.allowed, allowed.basis) == (True, "token")
    replay = enforcer.check(
        Operation.delete_tracker("p"), EnforcementContext(consent_token=asked.token)
    )
    assert (replay.code, replay.basis) == ("consent_required", "token_refused")


def test_token_for_another_operation_is_refused(ws: Path) -> None:
    enforcer = chain(ws)
    grant = enforcer.consent.grant(None, "yes", pending=Operation.delete_tracker("a"))
    assert grant.token is not None
    result = enforcer.check(
        Operation.delete_tracker("b"), EnforcementContext(consent_token=grant.token.id)
    )
    assert (result.allowed, result.basis) == (False, "token_refused")


def test_named_agent_rule_is_medium(ws: Path) -> None:
    enforcer = chain(ws, agent_rules={"helper": AgentRule(deny=["delete_tracker"])})
    result = enforcer.check(
        Operation.delete_tracker("p"), EnforcementContext(agent="helper", skip_consent=True)
    )
    assert (result.level, result.basis) == ("medium", "agent_rule")


def test_hard_level_refuses_a_foreign_workspace_first(
    ws: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = tmp_path_factory.mktemp("other")
    enforcer = chain(ws, hook=HookLevel(workspaces=[ws]))
    result = enforcer.check(INIT20, EnforcementContext(workspace=other, subagent=True))
    assert (result.level, result.code, result.basis) == ("hard", "denied", "outside_workspace")
    inside = enforcer.check(None, EnforcementContext(workspace=ws / "sub"))
    assert inside.allowed


def test_hard_level_refuses_another_user(ws: Path) -> None:
    enforcer = chain(ws, hook=HookLevel(uid=1000))
    result = enforcer.check(None, EnforcementContext(peer_uid=1001))
    assert (result.level, result.basis) == ("hard", "foreign_user")
    assert enforcer.check(None, EnforcementContext(peer_uid=1000)).allowed
