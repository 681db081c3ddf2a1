"""Soft enforcement (SPEC §7): consent for guarded operations, persisted and audited.

Three operations need the user's consent: creating an initiative, deleting a tracker
and changing many tasks at once. ``ConsentManager`` answers "may this go ahead?"
(``check``), mints one-time tokens for a pending question (``request``), records the
user's answer (``grant``) and spends a token on exactly the operation it was issued
for (``redeem``).

Persisted state is ``.ecw/consent-state.json`` in the ECW guide's shape, plus the
standing approvals (ECW readers ignore the extra key)::

    {"session_id": "…", "approved_initiatives": [20], "blanket_approval": false,
     "last_updated": "2024-05-01T12:00:00+00:00",
     "standing_approvals": {"delete_tracker": {"granted_at": "…", "agent": null}}}

Answers mean exactly their scope (SPEC §7; the words are ``wtd.vocabulary``'s):

- ``yes``/``approved``: the one operation asked about, once;
- ``always``: a standing approval for that *kind* of operation (create initiative,
  delete tracker, bulk change) in this workspace — never the other kinds;
- ``no``: declined; recorded, nothing applied, the question is gone;
- "you may create initiatives as needed": ``blanket_approval``, initiative creation only.

``revoke`` withdraws standing approvals (one kind, or all); ``show`` lists them.
Tokens live in memory only: a daemon restart forgets pending questions (the user is
simply asked again). Every decision is appended as one JSON line to the audit log.

All methods are synchronous and do small, durable file I/O; call them from a worker
thread (``anyio.to_thread.run_sync``) or accept the short block.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from wtd.errors import StorageFailure, WtdError
from wtd.storage import safepath
from wtd.storage.atomic import atomic_write, make_dirs
from wtd.storage.safepath import UnsafePath
from wtd.vocabulary import (
    BLANKET_PHRASE,
    CONSENT_ANSWERS,
    GUARDED_KINDS,
    KIND_LABELS,
    classify_answer,
)
from wtd.vocabulary import normalise_answer as _normalise

if TYPE_CHECKING:
    from wtd.vocabulary import AnswerKind, OperationKind
else:  # the same types at run time, for msgspec, built from the one definition
    OperationKind = Literal[GUARDED_KINDS]
    AnswerKind = Literal[tuple(dict.fromkeys(CONSENT_ANSWERS.values()))]

__all__ = [
    "BLANKET_PHRASE",
    "CONSENT_ANSWERS",
    "AnswerKind",
    "ConsentManager",
    "Operation",
    "OperationKind",
    "classify_answer",
]

log = logging.getLogger(__name__)

DecisionReason = Literal[
    "skip_consent",
    "approved_initiative",
    "blanket",
    "standing",
    "token",
    "consent_required",
    "token_refused",
]

PROMPT_HEADER: Final = "? This operation requires consent."
PROMPT_FOOTER: Final = 'Respond with "yes" or "approved" to proceed.'
DEFAULT_TOKEN_TTL: Final = 300.0


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    """One guarded operation, exactly. ``key`` binds a consent token to it.

    Build with the constructors (``create_initiative``, ``delete_tracker``,
    ``bulk_change``) so the key is canonical.
    """

    kind: OperationKind
    tracker: str = ""
    initiative: int | None = None  # create_initiative only
    count: int = 0  # bulk_change: how many tasks the phrase changes
    phrase: str = ""  # bulk_change: the phrase, normalised (part of the key)

    @classmethod
    def create_initiative(cls, number: int, *, tracker: str = "") -> Operation:
        return cls(kind="create_initiative", initiative=number, tracker=tracker)

    @classmethod
    def delete_tracker(cls, tracker: str) -> Operation:
        return cls(kind="delete_tracker", tracker=tracker)

    @classmethod
    def bulk_change(cls, tracker: str, phrase: str, count: int) -> Operation:
        return cls(kind="bulk_change", tracker=tracker, phrase=_normalise(phrase), count=count)

    @property
    def key(self) -> str:
        """``create_initiative:20`` · ``delete_tracker:my-project`` ·
        ``bulk:my-project:mark phase 2 complete``."""
        if self.kind == "create_initiative":
            return f"create_initiative:{self.initiative}"
        if self.kind == "delete_tracker":
            return f"delete_tracker:{self.tracker}"
        return f"bulk:{self.tracker}:{_normalise(self.phrase)}"

    @property
    def reason_line(self) -> str:
        """The second line of the consent prompt (SPEC §7)."""
        if self.kind == "create_initiative":
            return "Creating new Initiative requires user approval."
        if self.kind == "delete_tracker":
            return f"Deleting the tracker {self.tracker} requires user approval."
        many = str(self.count) if self.count >= 2 else "many"
        of = f" of {self.tracker}" if self.tracker else ""
        what = f" ({self.phrase})" if self.phrase else ""
        return f"Changing {many} tasks{of} at once{what} requires user approval."

    @property
    def prompt(self) -> list[str]:
        return [PROMPT_HEADER, self.reason_line, PROMPT_FOOTER]


class Decision(msgspec.Struct, frozen=True, kw_only=True):
    """``check``'s answer. When not allowed, ``prompt`` holds the three lines to show."""

    allowed: bool
    reason: DecisionReason
    message: str
    prompt: list[str] = []


class ConsentToken(msgspec.Struct, frozen=True, kw_only=True):
    """A one-time token bound to ``key`` (an ``Operation.key``), valid until ``expires_at``."""

    id: str
    key: str
    expires_at: datetime
    approved: bool = False


class GrantResult(msgspec.Struct, frozen=True, kw_only=True):
    """``grant``'s answer. ``token`` is set for a one-time (``once``) approval only;
    ``declined`` when the answer was ``no`` (recorded; the question is gone)."""

    granted: bool
    answer: AnswerKind | None
    message: str
    token: ConsentToken | None = None
    key: str | None = None  # the operation approved (or declined), if any
    declined: bool = False


class Standing(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One standing approval (``always``): when, and by whom."""

    granted_at: str = ""
    agent: str | None = None


class ConsentState(msgspec.Struct, kw_only=True):
    """``.ecw/consent-state.json``: the ECW guide's keys in its order, then ours."""

    session_id: str = ""
    approved_initiatives: list[int] = []
    blanket_approval: bool = False
    last_updated: str = ""
    standing_approvals: dict[str, Standing] = {}  # OperationKind → when it was given


class Revoked(msgspec.Struct, frozen=True, kw_only=True):
    """What ``revoke`` withdrew (empty lists: there was nothing to withdraw)."""

    kinds: list[str] = []  # standing approvals withdrawn
    blanket: bool = False  # blanket approval withdrawn
    initiatives: list[int] = []  # approved initiative numbers withdrawn

    @property
    def anything(self) -> bool:
        return bool(self.kinds or self.blanket or self.initiatives)


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One line of ``.ecw/audit.log``."""

    ts: str
    operation: str
    decision: str  # allowed · required · granted · refused · redeemed · denied · state_reset
    reason: str
    agent: str | None = None
    session_id: str = ""
    token: str | None = None  # a prefix only: the log must not make tokens replayable


class _Pending(msgspec.Struct, kw_only=True):
    operation: Operation
    expires_at: datetime
    approved: bool = False


_state_decoder: Final = msgspec.json.Decoder(ConsentState)
_encoder: Final = msgspec.json.Encoder()


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
        self._seen: tuple[int, int, int] | None = None
        self.recovered_from: Path | None = None
        self._state = self._load()

    # ------------------------------------------------------------ state

    @property
    def state(self) -> ConsentState:
        """A copy of the current persisted state (re-read if the file changed)."""
        self._refresh()
        return msgspec.structs.replace(
            self._state,
            approved_initiatives=list(self._state.approved_initiatives),
            standing_approvals=dict(self._state.standing_approvals),
        )

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = self.state_path.stat()
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh(self) -> None:
        if self._signature() != self._seen:
            self._state = self._load()

    def _fresh(self) -> ConsentState:
        return ConsentState(session_id=secrets.token_hex(16), last_updated=self._now().isoformat())

    def _load(self) -> ConsentState:
        self._seen = self._signature()
        try:
            raw = safepath.read_bytes(self.state_path, 1 << 20)
        except FileNotFoundError:
            return self._fresh()
        except (OSError, WtdError) as exc:
            log.warning(
                "consent state %s unreadable (%s); nothing is approved", self.state_path, exc
            )
            return self._fresh()
        try:
            state = _state_decoder.decode(raw)
        except msgspec.DecodeError as exc:
            kept = self._keep_corrupt()
            log.warning("consent state %s is corrupt (%s); kept as %s", self.state_path, exc, kept)
            fresh = self._fresh()
            self._append(
                AuditEntry(
                    ts=self._now().isoformat(),
                    operation="consent-state",
                    decision="state_reset",
                    reason=f"corrupt state file kept as {kept.name}",
                    session_id=fresh.session_id,
                )
            )
            return fresh
        if not state.session_id:
            state.session_id = secrets.token_hex(16)
        state.approved_initiatives = sorted(set(state.approved_initiatives))
        unknown = sorted(set(state.standing_approvals) - set(GUARDED_KINDS))
        for kind in unknown:  # a hand edit or a newer wtd: approve nothing by accident
            log.warning(
                "consent state %s: unknown standing approval %r ignored", self.state_path, kind
            )
            del state.standing_approvals[kind]
        return state

    def _keep_corrupt(self) -> Path:
        stamp = self._now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
        kept = self.state_path.with_name(f"{self.state_path.name}.corrupt-{stamp}")
        n = 1
        while kept.exists():
            kept = self.state_path.with_name(f"{self.state_path.name}.corrupt-{stamp}-{n}")
            n += 1
        safepath.check(self.state_path)
        os.replace(self.state_path, kept)
        self.recovered_from = kept
        self._seen = None
        return kept

    def _save(self) -> None:
        self._state.last_updated = self._now().isoformat()
        data = msgspec.json.format(_encoder.encode(self._state), indent=2) + b"\n"
        try:
            atomic_write(self.state_path, data)
        except (OSError, UnsafePath) as exc:
            raise StorageFailure(f"Could not save consent state {self.state_path}: {exc}") from exc
        self._seen = self._signature()

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
        self._append(
            AuditEntry(
                ts=self._now().isoformat(),
                operation=operation,
                decision=decision,
                reason=reason,
                agent=agent,
                session_id=self._state.session_id,
                token=token[:8] if token else None,
            )
        )

    def _append(self, entry: AuditEntry) -> None:
        line = _encoder.encode(entry) + b"\n"
        try:
            make_dirs(self.audit_path.parent)
            # one write with O_APPEND: lines never interleave; never through a symlink
            safepath.append_line(self.audit_path, line)
        except (OSError, UnsafePath) as exc:
            raise StorageFailure(f"Could not write audit log {self.audit_path}: {exc}") from exc

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
        self._refresh()
        decision: Decision
        if skip_consent and not subagent:
            decision = Decision(allowed=True, reason="skip_consent", message="--skip-consent")
        elif op.kind == "create_initiative" and op.initiative in self._state.approved_initiatives:
            decision = Decision(
                allowed=True,
                reason="approved_initiative",
                message=f"initiative {op.initiative} is approved",
            )
        elif op.kind == "create_initiative" and self._state.blanket_approval:
            decision = Decision(allowed=True, reason="blanket", message="blanket approval")
        elif op.kind in self._state.standing_approvals:
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
        self._refresh()
        self._expire()
        kind = classify_answer(answer)
        target = self._target(token_id, pending)
        if kind is None:
            return self._refuse(target, f"not a consent answer: {answer!r}", agent, token_id)
        if kind == "blanket":
            self._state.blanket_approval = True
            if isinstance(target, Operation) and target.kind == "create_initiative":
                self._approve_initiative(target)
            self._save()
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
        if kind == "always":
            self._state.standing_approvals[target.kind] = Standing(
                granted_at=self._now().isoformat(), agent=agent
            )
        if kind == "always" or target.kind == "create_initiative":
            self._save()
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
        self._refresh()
        kinds = [k for k in GUARDED_KINDS if kind is None or k == kind]
        state = self._state
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
            self._save()
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
        if op.initiative is not None and op.initiative not in self._state.approved_initiatives:
            self._state.approved_initiatives = sorted(
                [*self._state.approved_initiatives, op.initiative]
            )

    def _expire(self) -> None:
        now = self._now()
        for token_id in [t for t, p in self._pending.items() if p.expires_at <= now]:
            del self._pending[token_id]
