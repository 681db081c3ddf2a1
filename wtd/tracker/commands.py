"""What a phrase means: tagged, immutable command Structs.

``phrases.parse`` turns text into one of these; the Store applies the ``Change``
ones through the journal (so they must stay encodable and deterministic), and the
``Query`` ones are answered from memory. Commands are imperative (``SetTaskStatus``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import msgspec

Access = Literal["read", "write", "admin"]
"""What a command may touch (SPEC §7): ``read`` changes nothing; ``write`` changes a
tracker (or creates, deletes, restores one); ``admin`` changes wtd itself or the
workspace's consent (circuit breakers, consent answers and approvals)."""


class _Cmd(msgspec.Struct, frozen=True, kw_only=True, tag_field="cmd"):
    access: ClassVar[Access] = "write"
    guarded: ClassVar[str | None] = None  # the consent kind (``vocabulary.GUARDED_KINDS``)


# ------------------------------------------------------------------- queries


class ShowProgress(_Cmd, tag="show_progress", frozen=True):
    access: ClassVar[Access] = "read"


class ShowRemaining(_Cmd, tag="show_remaining", frozen=True):
    access: ClassVar[Access] = "read"


class ShowNext(_Cmd, tag="show_next", frozen=True):
    access: ClassVar[Access] = "read"


class ShowTask(_Cmd, tag="show_task", frozen=True):
    access: ClassVar[Access] = "read"
    task_id: str


class ShowPhase(_Cmd, tag="show_phase", frozen=True):
    access: ClassVar[Access] = "read"
    number: int


class ListTasks(_Cmd, tag="list_tasks", frozen=True):
    access: ClassVar[Access] = "read"
    phase: int | None = None
    status: str | None = None  # canonical


class ShowHealth(_Cmd, tag="show_health", frozen=True):
    access: ClassVar[Access] = "read"


class ListTrackers(_Cmd, tag="list_trackers", frozen=True):
    access: ClassVar[Access] = "read"


class Help(_Cmd, tag="help", frozen=True):
    access: ClassVar[Access] = "read"
    topic: str | None = None


class Open(_Cmd, tag="open", frozen=True):
    """Open the tracker (rewriting files a crash left behind) and answer nothing more:
    wtd's own check when it starts (no phrase leads here). What opening found is
    kept for the next caller."""

    access: ClassVar[Access] = "read"


class Sync(_Cmd, tag="sync", frozen=True):
    """Reconcile JSON and Markdown now (JSON is the single source of truth)."""


# ------------------------------------------------------------------- changes


class SetTaskStatus(_Cmd, tag="set_task_status", frozen=True):
    task_id: str
    status: str  # canonical
    given: str  # what the caller typed, for the normalisation narrative
    reason: str | None = None
    verb: str = "mark"  # "mark" or "update": how the result line is phrased


class SetPhaseStatus(_Cmd, tag="set_phase_status", frozen=True):
    number: int
    status: str
    given: str


class AddPhase(_Cmd, tag="add_phase", frozen=True):
    name: str
    number: int | None = None


class DeletePhase(_Cmd, tag="delete_phase", frozen=True):
    number: int


class AddTask(_Cmd, tag="add_task", frozen=True):
    phase: int
    name: str


class RenameTask(_Cmd, tag="rename_task", frozen=True):
    task_id: str
    name: str


class MoveTask(_Cmd, tag="move_task", frozen=True):
    task_id: str
    phase: int


class DeleteTask(_Cmd, tag="delete_task", frozen=True):
    task_id: str


class AddDependency(_Cmd, tag="add_dependency", frozen=True):
    task_id: str
    depends_on: str


class SetVerification(_Cmd, tag="set_verification", frozen=True):
    task_id: str
    text: str


class AddSubtask(_Cmd, tag="add_subtask", frozen=True):
    task_id: str
    name: str


class SetSubtaskChecked(_Cmd, tag="set_subtask_checked", frozen=True):
    subtask_id: str
    checked: bool


class DeleteSubtask(_Cmd, tag="delete_subtask", frozen=True):
    subtask_id: str


class AttachEvidence(_Cmd, tag="attach_evidence", frozen=True):
    task_id: str
    type: str  # one of EVIDENCE_TYPES
    text: str


class VerifyEvidence(_Cmd, tag="verify_evidence", frozen=True):
    task_id: str


class CorrectProgress(_Cmd, tag="correct_progress", frozen=True):
    """System change: store the derived progress in place of a stale one."""


class Migrate(_Cmd, tag="migrate", frozen=True):
    """System change: a v1 tracker rewritten as v2 (after a backup)."""


class Checkpoint(_Cmd, tag="checkpoint", frozen=True):
    """Journal marker: the SSOT was found with this content (adopted, or restored by repair).

    Applying it changes nothing; it anchors backups and replay to a known state.
    """

    reason: str = ""


# ------------------------------------------------------- claims (SPEC §12)
# ``lease`` is the lease in seconds, set by the Executor from the config before the
# change is journalled, so replaying it gives the same ``until``; 0 = the default.


class ClaimNext(_Cmd, tag="claim_next", frozen=True):
    """``claim next [in phase N]``: take what ``next`` would pick among unclaimed tasks."""

    phase: int | None = None
    lease: float = 0.0


class ClaimTask(_Cmd, tag="claim_task", frozen=True):
    """``claim task X.Y``. ``force``: the user takes over another's live claim (after
    consent); set by the Executor, never by the grammar."""

    task_id: str
    lease: float = 0.0
    force: bool = False


class ReleaseTask(_Cmd, tag="release_task", frozen=True):
    """``release task X.Y``: give the claim back (pending unless complete)."""

    task_id: str
    force: bool = False


class RenewClaims(_Cmd, tag="renew_claims", frozen=True):
    """``renew claims``: extend every live lease of the caller."""

    lease: float = 0.0


class ExpireClaims(_Cmd, tag="expire_claims", frozen=True):
    """System change: expired leases give their tasks back (journalled as wtd's)."""


class ListClaims(_Cmd, tag="list_claims", frozen=True):
    access: ClassVar[Access] = "read"


class SetPhaseTasks(_Cmd, tag="set_phase_tasks", frozen=True):
    """Bulk change: every task of phase ``number`` gets ``status`` (consent-protected)."""

    guarded: ClassVar[str | None] = "bulk_change"

    number: int
    status: str  # canonical
    given: str


# ------------------------------------------------- workspace operations (SPEC §7)


class CreateInitiative(_Cmd, tag="create_initiative", frozen=True):
    """A new tracker ``NN-<slug>`` in the workspace (consent-protected)."""

    guarded: ClassVar[str | None] = "create_initiative"

    number: int
    title: str | None = None


class DeleteTracker(_Cmd, tag="delete_tracker", frozen=True):
    """Move the tracker's files to ``.ecw/trash/`` (consent-protected; restorable)."""

    guarded: ClassVar[str | None] = "delete_tracker"


class RestoreTracker(_Cmd, tag="restore_tracker", frozen=True):
    """Bring back the most recently deleted tracker (or the one named)."""

    name: str | None = None


class ImportPlan(_Cmd, tag="import_plan", frozen=True):
    """``import plan PATH [as NAME]``: the plan at ``path`` (absolute, or relative to the
    request's folder; never changed) becomes the tracker ``name`` of the workspace
    (default: from the file's name). A write: it creates a tracker."""

    path: str
    name: str | None = None


class ConsentAnswer(_Cmd, tag="consent_answer", frozen=True):
    """``yes`` / ``approved`` / ``always`` / ``no``: the answer to a consent question
    (``wtd.vocabulary.CONSENT_ANSWERS``)."""

    access: ClassVar[Access] = "admin"

    answer: str


class GrantBlanket(_Cmd, tag="grant_blanket", frozen=True):
    """ "you may create initiatives as needed": blanket approval, persisted."""

    access: ClassVar[Access] = "admin"


class ShowConsent(_Cmd, tag="show_consent", frozen=True):
    """``show consent``: the workspace's standing approvals."""

    access: ClassVar[Access] = "read"


class RevokeConsent(_Cmd, tag="revoke_consent", frozen=True):
    """``revoke consent [for KIND]``: withdraw standing approvals (all kinds when None)."""

    access: ClassVar[Access] = "admin"
    kind: str | None = None  # an OperationKind


class Patch(_Cmd, tag="patch", frozen=True):
    """Set whole entities to given values: how undo and adopted hand edits are journalled.

    Built by ``patch.diff``; ``tasks_put`` holds (position, raw task) pairs — a task
    whose id exists is replaced, otherwise inserted at that position (after removals).
    """

    reason: str
    undo_of: int | None = None  # the journal seq this patch reverts
    meta: dict[str, Any] | None = None
    phases: list[dict[str, Any]] | None = None
    tasks_put: list[tuple[int, dict[str, Any]]] = []
    tasks_remove: list[str] = []
    subtasks: list[dict[str, Any]] | None = None
    events: list[dict[str, Any]] | None = None
    extra: dict[str, Any] | None = None
    summary: list[str] = []


class Undo(_Cmd, tag="undo", frozen=True):
    """Revert the most recent change not already undone (hand edits included).

    ``by_subagent``: the caller is a subagent, which may not undo a guarded change
    (SPEC §7); set by the Executor, never by the grammar."""

    by_subagent: bool = False


class ShowHistory(_Cmd, tag="show_history", frozen=True):
    access: ClassVar[Access] = "read"
    task_id: str | None = None
    limit: int = 20


class ResetCircuit(_Cmd, tag="reset_circuit", frozen=True):
    """Force every circuit breaker CLOSED."""

    access: ClassVar[Access] = "admin"


class ShowKnowledge(_Cmd, tag="show_knowledge", frozen=True):
    """Failure patterns and recovery outcomes."""

    access: ClassVar[Access] = "read"


EVIDENCE_TYPES = (
    "command_output",
    "file_reference",
    "manual_note",
    "screenshot",
    "test_results",
    "code_review",
)

Query = (
    ShowProgress
    | ShowRemaining
    | ShowNext
    | ShowTask
    | ShowPhase
    | ListTasks
    | ShowHealth
    | ListTrackers
    | Help
    | Sync
    | ResetCircuit
    | ShowKnowledge
    | ShowHistory
    | ListClaims
    | Open
)

Change = (
    SetTaskStatus
    | SetPhaseStatus
    | AddPhase
    | DeletePhase
    | AddTask
    | RenameTask
    | MoveTask
    | DeleteTask
    | AddDependency
    | SetVerification
    | AddSubtask
    | SetSubtaskChecked
    | DeleteSubtask
    | AttachEvidence
    | VerifyEvidence
    | CorrectProgress
    | Migrate
    | Checkpoint
    | SetPhaseTasks
    | Patch
    | Undo
    | ClaimNext
    | ClaimTask
    | ReleaseTask
    | RenewClaims
    | ExpireClaims
)

# Handled by the Executor and the Enforcer, not by a tracker's Store alone.
Workspace = (
    CreateInitiative
    | ImportPlan
    | DeleteTracker
    | RestoreTracker
    | ConsentAnswer
    | GrantBlanket
    | ShowConsent
    | RevokeConsent
)

Command = Query | Change | Workspace

QUERY_TYPES: tuple[type, ...] = Query.__args__
CHANGE_TYPES: tuple[type, ...] = Change.__args__
WORKSPACE_TYPES: tuple[type, ...] = Workspace.__args__

CLAIM_TYPES: tuple[type, ...] = (ClaimNext, ClaimTask, ReleaseTask, RenewClaims, ExpireClaims)
"""The changes that make, move or end claims (the Store looks for the next expiry
again after one of these)."""
