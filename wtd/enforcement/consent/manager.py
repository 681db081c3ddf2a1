"""Consent decisions: ``ConsentManager`` answers "may this go ahead?" (``check``),
mints one-time tokens for a pending question (``request``), records the user's answer
(``grant``), spends a token on exactly the operation it was issued for (``redeem``),
and withdraws (``revoke``) or lists (``show``) standing approvals. What it persists
and audits goes through ``ConsentFiles``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from wtd.enforcement.consent.store import ConsentFiles
from wtd.enforcement.consent.values import (
    DEFAULT_TOKEN_TTL,
    AuditEntry,
    ConsentState,
    ConsentToken,
    Decision,
    GrantResult,
    Operation,
    Revoked,
    Standing,
)
from wtd.vocabulary import BLANKET_PHRASE, GUARDED_KINDS, KIND_LABELS, classify_answer

if TYPE_CHECKING:
    from wtd.vocabulary import OperationKind


class _Pending(msgspec.Struct, kw_only=True):
    operation: Operation
    expires_at: datetime
    approved: bool = False


class ConsentManager:
    """The consent state of one workspace, its tokens and its audit log.

    ``clock`` returns an aware ``datetime`` (default: now in UTC); tests inject one.
    A missing state file means "nothing approved". A corrupt one is renamed to
    ``consent-state.json.corrupt-<stamp>`` beside it, the state starts fresh, and
    ``recovered_from`` names the kept copy (also logged and audited). The file is
    re-read when it changes on disk (a person may edit or delete it).
    """

    def __init__(
        self,
        state_path: Path,
        audit_path: Path,
        *,
        clock: Callable[[], datetime] | None = None,
        token_ttl: float = DEFAULT_TOKEN_TTL,
    ) -> None:
        self.state_path = state_path
        self.audit_path = audit_path
        self._clock = clock or (lambda: datetime.now(UTC))
        self._ttl = timedelta(seconds=token_ttl)
        self._pending: dict[str, _Pending] = {}
        self._files = ConsentFiles(state_path, audit_path, self._now)

    @property
    def recovered_from(self) -> Path | None:
        """The kept copy of a corrupt state file, if one was set aside."""
        return self._files.recovered_from

    # ------------------------------------------------------------ state

    @property
    def state(self) -> ConsentState:
        """A copy of the current persisted state (re-read if the file changed)."""
        self._files.refresh()
        state = self._files.state
        return msgspec.structs.replace(
            state,
            approved_initiatives=list(state.approved_initiatives),
            standing_approvals=dict(state.standing_approvals),
        )

    def _now(self) -> datetime:
        return self._clock()

    # ------------------------------------------------------------ audit

    def record(
        self,
        operation: str,
        decision: str,
        reason: str,
        *,
        agent: str | None = None,
        token: str | None = None,
    ) -> None:
        """Append one decision to the audit log (also used by the other levels)."""
        self._files.append(
            AuditEntry(
                ts=self._now().isoformat(),
                operation=operation,
                decision=decision,
                reason=reason,
                agent=agent,
                session_id=self._files.state.session_id,
                token=token[:8] if token else None,
            )
        )

    # ------------------------------------------------------------ decisions

    def check(
        self,
        op: Operation,
        *,
        skip_consent: bool,
        token_id: str | None = None,
        agent: str | None = None,
        subagent: bool = False,
    ) -> Decision:
        """May ``op`` go ahead? Checked in order, first match wins:

        ``skip_consent`` (ignored for a subagent) → ``approved_initiative`` (create
        initiative N with N approved) → ``blanket`` (create initiative only) →
        ``standing`` (``always`` was answered for this kind) → ``token`` (``token_id``
        redeemed for this very operation) → not allowed: ``consent_required``, or
        ``token_refused`` when a token was given but is used, expired or for another
        operation. A token is only spent when nothing else allows the operation.
        """
        self._files.refresh()
        state = self._files.state
        decision: Decision
        if skip_consent and not subagent:
            decision = Decision(allowed=True, reason="skip_consent", message="--skip-consent")
        elif op.kind == "create_initiative" and op.initiative in state.approved_initiatives:
            decision = Decision(
                allowed=True,
                reason="approved_initiative",
                message=f"initiative {op.initiative} is approved",
            )
        elif op.kind == "create_initiative" and state.blanket_approval:
            decision = Decision(allowed=True, reason="blanket", message="blanket approval")
        elif op.kind in state.standing_approvals:
            decision = Decision(
                allowed=True,
                reason="standing",
                message=f"standing approval for {KIND_LABELS[op.kind]}",
            )
        elif token_id is not None:
            if self.redeem(token_id, op, agent=agent):
                return Decision(allowed=True, reason="token", message="approved once")
            return Decision(
                allowed=False,
                reason="token_refused",
                message=(
                    "Consent token refused: it was already used, has expired, or was "
                    "given for another operation."
                ),
                prompt=op.prompt,
            )
        else:
            decision = Decision(
                allowed=False, reason="consent_required", message=op.reason_line, prompt=op.prompt
            )
        self.record(
            op.key, "allowed" if decision.allowed else "required", decision.reason, agent=agent
        )
        return decision

    def request(self, op: Operation) -> ConsentToken:
        """A fresh one-time token for the question about ``op``; answer it with ``grant``."""
        self._expire()
        token_id = secrets.token_urlsafe(18)
        pending = _Pending(operation=op, expires_at=self._now() + self._ttl)
        self._pending[token_id] = pending
        return ConsentToken(id=token_id, key=op.key, expires_at=pending.expires_at)

    def grant(
        self,
        token_id: str | None,
        answer: str,
        *,
        pending: Operation | None,
        agent: str | None = None,
    ) -> GrantResult:
        """Record the user's ``answer`` to the question identified by ``token_id``
        (from ``request``) and/or ``pending`` (the operation asked about).

        - ``yes``/``approved``: approves that one operation; the returned token is
          valid for ``token_ttl`` and redeemable exactly once. For create initiative N,
          N is also added to ``approved_initiatives`` (persisted).
        - ``always``: a standing approval (persisted) for that operation's kind, plus
          that operation (a token, as for ``yes``).
        - ``no``: declined; audited, the question is forgotten, nothing is approved.
        - ``you may create initiatives as needed``: ``blanket_approval``, no
          operation needed; it covers initiative creation only.

        Refused (``granted=False``, nothing changes) when the answer is not a consent
        answer, nothing is pending, the token is unknown/expired/already answered, or
        ``token_id`` and ``pending`` disagree.
        """
        self._files.refresh()
        self._expire()
        kind = classify_answer(answer)
        target = self._target(token_id, pending)
        if kind is None:
            return self._refuse(target, f"not a consent answer: {answer!r}", agent, token_id)
        if kind == "blanket":
            self._files.state.blanket_approval = True
            if isinstance(target, Operation) and target.kind == "create_initiative":
                self._approve_initiative(target)
            self._files.save()
            self.record(BLANKET_PHRASE, "granted", "blanket", agent=agent)
            return GrantResult(
                granted=True,
                answer=kind,
                message="Blanket approval granted for initiative creation",
                key=None,
            )
        if target is None:
            why = (
                "that consent request is unknown, expired or already answered"
                if token_id is not None
                else "nothing is waiting for consent"
            )
            return self._refuse(None, why, agent, token_id)
        if isinstance(target, str):
            return self._refuse(None, target, agent, token_id)
        if kind == "decline":
            if token_id is not None:
                self._pending.pop(token_id, None)
            self.record(target.key, "declined", "no", agent=agent, token=token_id)
            return GrantResult(
                granted=False,
                answer=kind,
                message=f"Declined: {target.reason_line.removesuffix(' requires user approval.')}",
                key=target.key,
                declined=True,
            )
        if target.kind == "create_initiative":
            self._approve_initiative(target)
        if kind == "always" and target.kind == "take_over_claim":
            kind = "once"  # a claim is another agent's work: taken over one at a time
        if kind == "always":
            self._files.state.standing_approvals[target.kind] = Standing(
                granted_at=self._now().isoformat(), agent=agent
            )
        if kind == "always" or target.kind == "create_initiative":
            self._files.save()
        new_id = token_id if token_id is not None else secrets.token_urlsafe(18)
        entry = _Pending(operation=target, expires_at=self._now() + self._ttl, approved=True)
        self._pending[new_id] = entry
        self.record(target.key, "granted", kind, agent=agent, token=new_id)
        message = (
            f"Approved always for {KIND_LABELS[target.kind]} in this workspace "
            "(revoke consent to withdraw)"
            if kind == "always"
            else "Approved once"
        )
        return GrantResult(
            granted=True,
            answer=kind,
            message=message,
            key=target.key,
            token=ConsentToken(
                id=new_id, key=target.key, expires_at=entry.expires_at, approved=True
            ),
        )

    def revoke(self, kind: OperationKind | None = None, *, agent: str | None = None) -> Revoked:
        """Withdraw the standing approvals for ``kind`` (every kind when ``None``).

        For initiative creation that includes ``blanket_approval`` and the approved
        initiative numbers. Persisted and audited; pending questions are kept.
        """
        self._files.refresh()
        kinds = [k for k in GUARDED_KINDS if kind is None or k == kind]
        state = self._files.state
        withdrawn: list[str] = [
            k for k in kinds if state.standing_approvals.pop(k, None) is not None
        ]
        blanket = "create_initiative" in kinds and state.blanket_approval
        initiatives = list(state.approved_initiatives) if "create_initiative" in kinds else []
        if "create_initiative" in kinds:
            state.blanket_approval = False
            state.approved_initiatives = []
        revoked = Revoked(kinds=withdrawn, blanket=blanket, initiatives=initiatives)
        if revoked.anything:
            self._files.save()
        self.record(
            f"consent:{kind or 'all'}",
            "revoked",
            ", ".join([*withdrawn, *(["blanket"] if blanket else [])]) or "nothing to revoke",
            agent=agent,
        )
        return revoked

    def show(self) -> list[tuple[OperationKind, str]]:
        """The approvals in force: ``(kind, how)`` for each kind that needs no question."""
        state = self.state
        shown: list[tuple[OperationKind, str]] = []
        for kind in GUARDED_KINDS:
            standing = state.standing_approvals.get(kind)
            if standing is not None:
                by = f" by {standing.agent}" if standing.agent else ""
                shown.append((kind, f"always (since {standing.granted_at}{by})"))
            elif kind == "create_initiative" and state.blanket_approval:
                shown.append((kind, f'blanket ("{BLANKET_PHRASE}")'))
        return shown

    def redeem(self, token_id: str, op: Operation, *, agent: str | None = None) -> bool:
        """Spend an approved token on ``op``: true only once, only for ``op.key``,
        only before it expires. Every attempt is audited (redeemed / refused)."""
        self._expire()
        entry = self._pending.get(token_id)
        why: str | None = None
        if entry is None:
            why = "unknown, expired or already used token"
        elif entry.operation.key != op.key:
            why = f"token is for {entry.operation.key}"
        elif not entry.approved:
            why = "token not approved yet"
        if why is not None:
            self.record(op.key, "refused", why, agent=agent, token=token_id)
            return False
        del self._pending[token_id]
        self.record(op.key, "redeemed", "token", agent=agent, token=token_id)
        return True

    # ------------------------------------------------------------ helpers

    def _target(self, token_id: str | None, pending: Operation | None) -> Operation | str | None:
        """The operation an answer is about; a str says why the two inputs disagree."""
        if token_id is None:
            return pending
        entry = self._pending.get(token_id)
        if entry is None:
            return None
        if entry.approved:
            return "that consent request was already answered"
        if pending is not None and pending.key != entry.operation.key:
            return f"the answer's token is for {entry.operation.key}, not {pending.key}"
        return entry.operation

    def _refuse(
        self, target: Operation | str | None, why: str, agent: str | None, token_id: str | None
    ) -> GrantResult:
        key = target.key if isinstance(target, Operation) else "consent"
        self.record(key, "refused", why, agent=agent, token=token_id)
        return GrantResult(granted=False, answer=None, message=f"Consent not recorded: {why}")

    def _approve_initiative(self, op: Operation) -> None:
        state = self._files.state
        if op.initiative is not None and op.initiative not in state.approved_initiatives:
            state.approved_initiatives = sorted([*state.approved_initiatives, op.initiative])

    def _expire(self) -> None:
        now = self._now()
        for token_id in [t for t, p in self._pending.items() if p.expires_at <= now]:
            del self._pending[token_id]
