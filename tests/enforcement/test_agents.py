"""AgentRestrictionEnforcer: subagents and configured named agents."""

from __future__ import annotations

import msgspec
import pytest

from wtd.enforcement.agents import Action, AgentRestrictionEnforcer, AgentRule

RESTRICTED: list[Action] = ["create_initiative", "delete_tracker", "bulk_change", "consent"]


@pytest.mark.parametrize("action", RESTRICTED)
def test_subagent_is_denied_each_restricted_action(action: Action) -> None:
    decision = AgentRestrictionEnforcer().check(action, agent=None, subagent=True)
    assert not decision.allowed
    assert decision.basis == "subagent"
    assert decision.reason.startswith("Denied: subagents may not ")


@pytest.mark.parametrize("action", ["read", "change"])
def test_subagent_may_read_and_make_ordinary_changes(action: Action) -> None:
    assert AgentRestrictionEnforcer().check(action, agent=None, subagent=True).allowed


@pytest.mark.parametrize("action", ["read", "change", "delete_tracker"])
def test_subagent_may_not_use_skip_consent(action: Action) -> None:
    decision = AgentRestrictionEnforcer().check(
        action, agent="helper", subagent=True, skip_consent=True
    )
    assert not decision.allowed
    assert "--skip-consent" in decision.reason or "delete trackers" in decision.reason


@pytest.mark.parametrize("action", RESTRICTED)
def test_main_agent_is_not_restricted_by_default(action: Action) -> None:
    enforcer = AgentRestrictionEnforcer()
    assert enforcer.check(action, agent="claude", subagent=False, skip_consent=True).allowed


def test_named_agent_deny_list() -> None:
    enforcer = AgentRestrictionEnforcer(
        {"helper": AgentRule(deny=["delete_tracker", "bulk_change"])}
    )
    denied = enforcer.check("delete_tracker", agent="helper", subagent=False)
    assert (denied.allowed, denied.basis) == (False, "agent_rule")
    assert "helper" in denied.reason
    assert enforcer.check("create_initiative", agent="helper", subagent=False).allowed
    assert enforcer.check("delete_tracker", agent="other", subagent=False).allowed


def test_deny_change_covers_guarded_changes_but_not_reads() -> None:
    enforcer = AgentRestrictionEnforcer({"bot": AgentRule(deny=["change"])})
    assert not enforcer.check("change", agent="bot", subagent=False).allowed
    assert not enforcer.check("bulk_change", agent="bot", subagent=False).allowed
    assert enforcer.check("read", agent="bot", subagent=False).allowed


def test_deny_skip_consent_for_a_named_agent() -> None:
    enforcer = AgentRestrictionEnforcer({"bot": AgentRule(deny=["skip_consent"])})
    assert not enforcer.check("change", agent="bot", subagent=False, skip_consent=True).allowed
    assert enforcer.check("change", agent="bot", subagent=False).allowed


def test_read_only_agent_may_only_read() -> None:
    enforcer = AgentRestrictionEnforcer({"reviewer": AgentRule(read_only=True)})
    assert enforcer.check("read", agent="reviewer", subagent=False).allowed
    decision = enforcer.check("change", agent="reviewer", subagent=False)
    assert (decision.allowed, decision.basis) == (False, "read_only")


def test_agent_configured_as_subagent_is_treated_as_one() -> None:
    enforcer = AgentRestrictionEnforcer({"worker": AgentRule(subagent=True)})
    assert not enforcer.check("create_initiative", agent="worker", subagent=False).allowed


def test_unknown_deny_entry_is_an_error() -> None:
    with pytest.raises(ValueError, match="delete_trackers"):
        AgentRule(deny=["delete_trackers"])


def test_rules_decode_from_config_and_reject_unknown_keys() -> None:
    rules = msgspec.convert({"helper": {"deny": ["bulk_change"]}}, dict[str, AgentRule])
    assert rules["helper"].deny == ["bulk_change"]
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"helper": {"readonly": True}}, dict[str, AgentRule])
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"helper": {"deny": ["nope"]}}, dict[str, AgentRule])
