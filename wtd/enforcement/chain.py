"""The four enforcement levels as one chain of responsibility (SPEC §7).

``FourLevelEnforcer.check(operation, context)`` asks each level in turn; the first
level that blocks stops the chain and the result says which level it was and why.

Evaluation order — Advisory → HARD → Medium → Soft — differs from the levels'
numbering on purpose:

- Advisory only collects ``ℹ Advisory:`` lines; it never blocks, so it goes first
  and its lines accompany every result, blocked or not.
- HARD and Medium *deny* (exit 4) and nothing the caller says can lift a denial.
  Soft asks for consent (exit 3), which *can* be given — and asking has side
  effects: a token is minted, the audit log records "required", a presented token
  is spent. Asking for consent to something that would be denied anyway would
  prompt the user for nothing and burn their token. So every denial is decided
  before consent is considered.
- Hence a subagent using ``--skip-consent`` on a guarded operation is denied by
  Medium (exit 4) before Soft could accept the flag; Soft also ignores
  ``skip_consent`` from a subagent, as a second line of defence.

The chain serves one workspace (its consent state and CLAUDE.md are per
workspace); ``FourLevelEnforcer.for_workspace`` builds one with the usual paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

import msgspec

from wtd.enforcement.advisory import AdvisoryLevel
from wtd.enforcement.agents import Action, AgentRestrictionEnforcer, AgentRule
from wtd.enforcement.consent import DEFAULT_TOKEN_TTL, ConsentManager, Operation
from wtd.errors import exit_code

LevelName = Literal["advisory", "soft", "medium", "hard"]
ResultCode = Literal["consent_required", "denied"]

CONSENT_STATE: Final = Path(".ecw") / "consent-state.json"
AUDIT_LOG: Final = Path(".ecw") / "audit.log"


class EnforcementContext(msgspec.Struct, frozen=True, kw_only=True):
    """Who asks, and how. ``action`` matters when there is no guarded ``Operation``:
    ``read``, ``change``, ``admin`` or ``consent`` (see ``agents.Action``)."""

    agent: str | None = None
    subagent: bool = False
    skip_consent: bool = False
    consent_token: str | None = None
    workspace: Path | None = None
    phrase: str = ""
    action: Action = "change"
    peer_uid: int | None = None  # the connecting user (SO_PEERCRED), when known


class EnforcementResult(msgspec.Struct, frozen=True, kw_only=True):
    """The chain's verdict.

    ``level``: the level that decided — the blocking one, or ``soft`` when consent
    let a guarded operation through; ``None`` when nothing needed deciding.
    ``code``: ``consent_required`` (exit 3) or ``denied`` (exit 4) when blocked.
    ``reason``: a sentence for the person; ``basis``: the machine-readable why
    (``skip_consent``, ``approved_initiative``, ``blanket``, ``standing``, ``token``,
    ``consent_required``, ``token_refused``, ``subagent``, ``read_only``,
    ``agent_rule``, ``foreign_user``, ``outside_workspace``).
    ``advisories``: ``ℹ Advisory:`` lines to show first, always.
    ``prompt``: the consent prompt lines; ``token``: the id the answer refers to.
    """

    allowed: bool
    level: LevelName | None = None
    code: ResultCode | None = None
    reason: str = ""
    basis: str = ""
    advisories: list[str] = []
    prompt: list[str] = []
    token: str | None = None

    @property
    def exit_code(self) -> int:
        return 0 if self.code is None else exit_code(self.code)

    @property
    def lines(self) -> list[str]:
        """What to print: advisories, then the consent prompt (if any)."""
        return [*self.advisories, *self.prompt]


class HookLevel:
    """The daemon's share of HARD enforcement: refuse other users and trackers
    outside the served workspaces. (The Claude Code hook is ``wtctl.hook``.)

    ``uid``: the only user allowed (``None``: no check). ``workspaces``: the folders
    the daemon was asked to serve (``None``: any).
    """

    def __init__(self, *, uid: int | None = None, workspaces: Sequence[Path] | None = None) -> None:
        self.uid = uid
        self.workspaces = None if workspaces is None else [w.resolve() for w in workspaces]

    def check(
        self, operation: Operation | None, context: EnforcementContext
    ) -> tuple[str, str] | None:
        """``(basis, reason)`` when refused, else ``None``."""
        if self.uid is not None and context.peer_uid is not None and context.peer_uid != self.uid:
            return "foreign_user", f"Denied: connections from uid {context.peer_uid} are refused."
        if self.workspaces is not None:
            ws = context.workspace
            inside = ws is not None and any(
                ws.resolve().is_relative_to(root) for root in self.workspaces
            )
            if not inside:
                return (
                    "outside_workspace",
                    f"Denied: {ws} is not a workspace this daemon serves.",
                )
        return None


class FourLevelEnforcer:
    """Advisory → HARD → Medium → Soft (see the module docstring for why)."""

    def __init__(
        self,
        advisory: AdvisoryLevel,
        consent: ConsentManager,
        agents: AgentRestrictionEnforcer,
        hook: HookLevel | None = None,
    ) -> None:
        self.advisory = advisory
        self.consent = consent
        self.agents = agents
        self.hook = hook

    @classmethod
    def for_workspace(
        cls,
        workspace: Path,
        *,
        extra_rules: Sequence[str] = (),
        agent_rules: Mapping[str, AgentRule] | None = None,
        hook: HookLevel | None = None,
        clock: Callable[[], datetime] | None = None,
        token_ttl: float = DEFAULT_TOKEN_TTL,
    ) -> FourLevelEnforcer:
        """The chain for ``workspace``: ``CLAUDE.md`` there, state in ``.ecw/``."""
        return cls(
            AdvisoryLevel(workspace, extra_rules),
            ConsentManager(
                workspace / CONSENT_STATE, workspace / AUDIT_LOG, clock=clock, token_ttl=token_ttl
            ),
            AgentRestrictionEnforcer(agent_rules),
            hook,
        )

    def check(self, operation: Operation | None, context: EnforcementContext) -> EnforcementResult:
        """Run the chain. ``operation`` is the guarded operation, or ``None`` for
        anything else (``context.action`` then says what the request does)."""
        action: Action = operation.kind if operation is not None else context.action
        advisories = self.advisory.advise(action, context.phrase)
        key = operation.key if operation is not None else f"{action}:{context.phrase}"

        if self.hook is not None:
            refused = self.hook.check(operation, context)
            if refused is not None:
                basis, reason = refused
                if basis != "outside_workspace":  # (a workspace not served gets no log)
                    self.consent.record(key, "denied", basis, agent=context.agent)
                return EnforcementResult(
                    allowed=False,
                    level="hard",
                    code="denied",
                    reason=reason,
                    basis=basis,
                    advisories=advisories,
                )

        verdict = self.agents.check(
            action,
            agent=context.agent,
            subagent=context.subagent,
            skip_consent=context.skip_consent,
            consent_token=context.consent_token is not None,
        )
        if not verdict.allowed:
            self.consent.record(key, "denied", verdict.basis, agent=context.agent)
            return EnforcementResult(
                allowed=False,
                level="medium",
                code="denied",
                reason=verdict.reason,
                basis=verdict.basis,
                advisories=advisories,
            )

        if operation is None:
            return EnforcementResult(allowed=True, advisories=advisories)

        decision = self.consent.check(
            operation,
            skip_consent=context.skip_consent,
            token_id=context.consent_token,
            agent=context.agent,
            subagent=context.subagent,
        )
        if decision.allowed:
            return EnforcementResult(
                allowed=True,
                level="soft",
                reason=decision.message,
                basis=decision.reason,
                advisories=advisories,
            )
        token = self.consent.request(operation)
        return EnforcementResult(
            allowed=False,
            level="soft",
            code="consent_required",
            reason=decision.message,
            basis=decision.reason,
            advisories=advisories,
            prompt=decision.prompt,
            token=token.id,
        )
