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

The parts: ``values`` (the operation, the answers, the persisted shapes), ``store``
(``ConsentFiles``: the state file and the audit log) and ``manager``
(``ConsentManager``: decisions and tokens). Import from ``wtd.enforcement.consent``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wtd.enforcement.consent.manager import ConsentManager
from wtd.enforcement.consent.store import ConsentFiles
from wtd.enforcement.consent.values import (
    DEFAULT_TOKEN_TTL,
    PROMPT_FOOTER,
    PROMPT_HEADER,
    AuditEntry,
    ConsentState,
    ConsentToken,
    Decision,
    DecisionReason,
    GrantResult,
    Operation,
    Revoked,
    Standing,
)
from wtd.vocabulary import BLANKET_PHRASE, CONSENT_ANSWERS, classify_answer

if TYPE_CHECKING:
    from wtd.vocabulary import AnswerKind, OperationKind
else:
    from wtd.enforcement.consent.values import AnswerKind, OperationKind

__all__ = [
    "BLANKET_PHRASE",
    "CONSENT_ANSWERS",
    "DEFAULT_TOKEN_TTL",
    "PROMPT_FOOTER",
    "PROMPT_HEADER",
    "AnswerKind",
    "AuditEntry",
    "ConsentFiles",
    "ConsentManager",
    "ConsentState",
    "ConsentToken",
    "Decision",
    "DecisionReason",
    "GrantResult",
    "Operation",
    "OperationKind",
    "Revoked",
    "Standing",
    "classify_answer",
]
