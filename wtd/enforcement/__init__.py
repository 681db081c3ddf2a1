"""Four-level enforcement (SPEC §7): advisory, consent, agent restrictions, HARD.

Synchronous, typed building blocks for the Enforcer actor; ``wtctl.hook`` is the
Claude Code side of the HARD level and imports nothing from here.
"""

from wtd.enforcement.advisory import ADVISORY_PREFIX, AdvisoryLevel, parse_rules
from wtd.enforcement.agents import Action, AgentDecision, AgentRestrictionEnforcer, AgentRule
from wtd.enforcement.chain import (
    EnforcementContext,
    EnforcementResult,
    FourLevelEnforcer,
    HookLevel,
)
from wtd.enforcement.consent import (
    BLANKET_PHRASE,
    ConsentManager,
    ConsentState,
    ConsentToken,
    Decision,
    GrantResult,
    Operation,
    OperationKind,
    classify_answer,
)

__all__ = [
    "ADVISORY_PREFIX",
    "BLANKET_PHRASE",
    "Action",
    "AdvisoryLevel",
    "AgentDecision",
    "AgentRestrictionEnforcer",
    "AgentRule",
    "ConsentManager",
    "ConsentState",
    "ConsentToken",
    "Decision",
    "EnforcementContext",
    "EnforcementResult",
    "FourLevelEnforcer",
    "GrantResult",
    "HookLevel",
    "Operation",
    "OperationKind",
    "classify_answer",
    "parse_rules",
]
