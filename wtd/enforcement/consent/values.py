"""The values of consent: the guarded ``Operation`` and the answers about it
(``Decision``, ``ConsentToken``, ``GrantResult``, ``Revoked``), and what is persisted
(``ConsentState``, ``Standing``) and audited (``AuditEntry``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final, Literal

import msgspec

from wtd.vocabulary import CONSENT_ANSWERS, GUARDED_KINDS
from wtd.vocabulary import normalise_answer as _normalise

if TYPE_CHECKING:
    from wtd.vocabulary import AnswerKind, OperationKind
else:  # the same types at run time, for msgspec, built from the one definition
    OperationKind = Literal[GUARDED_KINDS]
    AnswerKind = Literal[tuple(dict.fromkeys(CONSENT_ANSWERS.values()))]

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
    task: str = ""  # take_over_claim: the task claimed
    holder: str = ""  # take_over_claim: who holds it

    @classmethod
    def create_initiative(cls, number: int, *, tracker: str = "") -> Operation:
        return cls(kind="create_initiative", initiative=number, tracker=tracker)

    @classmethod
    def delete_tracker(cls, tracker: str) -> Operation:
        return cls(kind="delete_tracker", tracker=tracker)

    @classmethod
    def bulk_change(cls, tracker: str, phrase: str, count: int) -> Operation:
        return cls(kind="bulk_change", tracker=tracker, phrase=_normalise(phrase), count=count)

    @classmethod
    def take_over_claim(cls, tracker: str, task: str, holder: str) -> Operation:
        return cls(kind="take_over_claim", tracker=tracker, task=task, holder=holder)

    @property
    def key(self) -> str:
        """``create_initiative:20`` · ``delete_tracker:my-project`` ·
        ``bulk:my-project:mark phase 2 complete``."""
        if self.kind == "create_initiative":
            return f"create_initiative:{self.initiative}"
        if self.kind == "delete_tracker":
            return f"delete_tracker:{self.tracker}"
        if self.kind == "take_over_claim":
            return f"take_over_claim:{self.tracker}:{self.task}:{self.holder}"
        return f"bulk:{self.tracker}:{_normalise(self.phrase)}"

    @property
    def reason_line(self) -> str:
        """The second line of the consent prompt (SPEC §7)."""
        if self.kind == "create_initiative":
            return "Creating new Initiative requires user approval."
        if self.kind == "delete_tracker":
            return f"Deleting the tracker {self.tracker} requires user approval."
        if self.kind == "take_over_claim":
            return (
                f"Taking task {self.task} over from {self.holder}, whose claim is live, "
                "requires user approval."
            )
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
