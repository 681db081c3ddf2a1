"""Medium enforcement (SPEC §7): what a caller may do, by who it says it is.

A caller marked subagent (``--subagent`` / ``WT_SUBAGENT=1``) may not create
initiatives, delete trackers, make bulk changes, answer or change consent (a consent
answer, blanket approval, revoking, presenting a consent token) or use
``--skip-consent``; the Store refuses a subagent's ``undo`` of a guarded change.
Named agents (``--agent NAME`` / ``WT_AGENT``) may be restricted further by config::

    [agents.reviewer]
    read_only = true
    [agents.helper]
    deny = ["delete_tracker", "bulk_change"]

A denial is final (exit 4): unlike consent, nothing the caller says can lift it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from typing import Final, Literal

import msgspec

from wtd.config import DENY_KINDS

Action = Literal[
    "read",
    "change",
    "admin",
    "create_initiative",
    "delete_tracker",
    "bulk_change",
    "take_over_claim",
    "restore_tracker",
    "consent",
]
"""What a request does, from its command's declared access (``commands.Access``):
``read`` (changes nothing), ``change`` (a write), ``admin`` (wtd itself: circuit
breakers), one of the guarded ``OperationKind``s, ``restore_tracker`` (bringing
back a deleted tracker: the undo of a guarded change) or ``consent`` (answering or
changing consent)."""

DENIABLE: Final[frozenset[str]] = frozenset(DENY_KINDS)
"""Names allowed in ``AgentRule.deny`` (the config's ``deny`` kinds); ``change`` denies
every change, guarded or not."""

SUBAGENT_DENIED: Final[frozenset[str]] = frozenset(
    {"create_initiative", "delete_tracker", "bulk_change", "restore_tracker", "consent"}
)

_WHAT: Final[dict[str, str]] = {
    "change": "change the tracker",
    "create_initiative": "create trackers (an initiative, or an imported plan)",
    "delete_tracker": "delete trackers",
    "bulk_change": "change many tasks at once",
    "take_over_claim": "take over another agent's claim",
    "restore_tracker": "restore a deleted tracker (the undo of a guarded change)",
    "admin": "reset circuit breakers or change wtd's own state",
    "consent": "answer, grant or revoke consent",
    "skip_consent": "use --skip-consent",
    "consent_token": "present a consent token (consent is the user's answer)",
}
_GUARDED: Final = frozenset(
    {"create_initiative", "delete_tracker", "bulk_change", "take_over_claim", "restore_tracker"}
)


MAX_NAME: Final = 64
# the names wtd records for the person, a subagent without a name and its own actors
# (wtd, git, hand-edit): an agent named so would pass for them (and release their claims)
RESERVED_NAMES: Final = frozenset({"user", "subagent", "wtd", "git", "hand-edit"})
_INVISIBLE: Final = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def name_problem(agent: str) -> str | None:
    """Why ``agent`` (``--agent``, ``$WT_AGENT``) cannot name a caller, or None.

    Names are shown in replies, history and claims, one per line: no control or
    invisible characters (a newline would forge a line, an escape would reach the
    terminal), no edge spaces, at most ``MAX_NAME`` characters, none of the names wtd
    records for others."""
    if len(agent) > MAX_NAME:
        return f"an agent name has at most {MAX_NAME} characters ({len(agent)} given)"
    if agent != agent.strip() or any(unicodedata.category(c) in _INVISIBLE for c in agent):
        return (
            f"an agent name may not hold control or invisible characters or edge spaces: {agent!r}"
        )
    if agent.casefold() in RESERVED_NAMES:
        who = "the user" if agent.casefold() == "user" else "itself, git or hand edits"
        return f"{agent!r} is what wtd calls {who}: name the agent otherwise"
    return None


def rule_key(agent: str) -> str:
    """Agent names match their config tables whatever their case (``REVIEWER`` is the
    ``reviewer`` table's agent)."""
    return agent.casefold()


class AgentRule(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Config for one named agent. ``deny`` names entries of ``DENIABLE``;
    ``read_only`` denies everything but reads; ``subagent`` treats the agent as a
    subagent even when it does not say so."""

    deny: list[str] = []
    read_only: bool = False
    subagent: bool = False

    def __post_init__(self) -> None:
        unknown = sorted(set(self.deny) - DENIABLE)
        if unknown:
            raise ValueError(
                f"unknown action(s) in deny: {', '.join(unknown)} "
                f"(known: {', '.join(sorted(DENIABLE))})"
            )


class AgentDecision(msgspec.Struct, frozen=True, kw_only=True):
    """``allowed``; else ``reason`` (for the person) and ``basis``: ``subagent``,
    ``read_only`` or ``agent_rule``."""

    allowed: bool
    reason: str = ""
    basis: str = ""


_ALLOWED: Final = AgentDecision(allowed=True)


class AgentRestrictionEnforcer:
    """Decides by caller identity alone; pure (no I/O, no state after construction)."""

    def __init__(self, config: Mapping[str, AgentRule] | None = None) -> None:
        self._rules: dict[str, AgentRule] = {
            rule_key(name): rule for name, rule in (config or {}).items()
        }

    def rule_for(self, agent: str | None) -> AgentRule | None:
        return self._rules.get(rule_key(agent)) if agent else None

    def is_subagent(self, agent: str | None, subagent: bool) -> bool:
        """Marked subagent, or a named agent the config treats as one."""
        rule = self.rule_for(agent)
        return subagent or (rule is not None and rule.subagent)

    def check(
        self,
        action: Action,
        *,
        agent: str | None,
        subagent: bool,
        skip_consent: bool = False,
        consent_token: bool = False,
    ) -> AgentDecision:
        """May caller (``agent``, ``subagent``) do ``action`` (with ``skip_consent``, or
        presenting a consent token)?

        Subagent restrictions first, then the named agent's ``read_only``, then its
        ``deny`` list. ``skip_consent`` or a consent token from a subagent is denied
        whatever the action.
        """
        rule = self.rule_for(agent)
        who = f"agent {agent!r}" if agent else "this caller"
        if self.is_subagent(agent, subagent):
            barred: str | None = action if action in SUBAGENT_DENIED else None
            if barred is None and skip_consent:
                barred = "skip_consent"
            if barred is None and consent_token:
                barred = "consent_token"
            if barred is not None:
                return AgentDecision(
                    allowed=False,
                    basis="subagent",
                    reason=(
                        f"Denied: subagents may not {_WHAT[barred]}. "
                        "Ask the main agent or the user to do it."
                    ),
                )
        if rule is None:
            return _ALLOWED
        if rule.read_only and action != "read":
            return AgentDecision(
                allowed=False,
                basis="read_only",
                reason=f"Denied: {who} is read-only and may not {_WHAT.get(action, action)}.",
            )
        denied = set(rule.deny)
        wanted_all = [action, *(["change"] if action in _GUARDED else [])]
        if skip_consent:
            wanted_all.append("skip_consent")
        for wanted in wanted_all:
            if wanted in denied:
                what = _WHAT[action] if wanted == "change" else _WHAT[wanted]
                return AgentDecision(
                    allowed=False,
                    basis="agent_rule",
                    reason=f"Denied: {who} may not {what} (agent config).",
                )
        return _ALLOWED
