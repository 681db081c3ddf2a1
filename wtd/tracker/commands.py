"""What a phrase means: tagged, immutable command Structs.

``phrases.parse`` turns text into one of these; the Store applies the ``Change``
ones through the journal (so they must stay encodable and deterministic), and the
``Query`` ones are answered from memory. Commands are imperative (``SetTaskStatus``).
"""

from __future__ import annotations

import msgspec


class _Cmd(msgspec.Struct, frozen=True, kw_only=True, tag_field="cmd"):
    pass


# ------------------------------------------------------------------- queries


class ShowProgress(_Cmd, tag="show_progress"):
    pass


class ShowRemaining(_Cmd, tag="show_remaining"):
    pass


class ShowNext(_Cmd, tag="show_next"):
    pass


class ShowTask(_Cmd, tag="show_task"):
    task_id: str


class ShowPhase(_Cmd, tag="show_phase"):
    number: int


class ListTasks(_Cmd, tag="list_tasks"):
    phase: int | None = None
    status: str | None = None  # canonical


class ShowHealth(_Cmd, tag="show_health"):
    pass


class ListTrackers(_Cmd, tag="list_trackers"):
    pass


class Help(_Cmd, tag="help"):
    topic: str | None = None


class Sync(_Cmd, tag="sync"):
    """Reconcile JSON and Markdown now (JSON is the single source of truth)."""


# ------------------------------------------------------------------- changes


class SetTaskStatus(_Cmd, tag="set_task_status"):
    task_id: str
    status: str  # canonical
    given: str  # what the caller typed, for the normalisation narrative
    reason: str | None = None
    verb: str = "mark"  # "mark" or "update": how the result line is phrased


class SetPhaseStatus(_Cmd, tag="set_phase_status"):
    number: int
    status: str
    given: str


class AddPhase(_Cmd, tag="add_phase"):
    name: str
    number: int | None = None


class DeletePhase(_Cmd, tag="delete_phase"):
    number: int


class AddTask(_Cmd, tag="add_task"):
    phase: int
    name: str


class RenameTask(_Cmd, tag="rename_task"):
    task_id: str
    name: str


class MoveTask(_Cmd, tag="move_task"):
    task_id: str
    phase: int


class DeleteTask(_Cmd, tag="delete_task"):
    task_id: str


class AddDependency(_Cmd, tag="add_dependency"):
    task_id: str
    depends_on: str


class SetVerification(_Cmd, tag="set_verification"):
    task_id: str
    text: str


class AddSubtask(_Cmd, tag="add_subtask"):
    task_id: str
    name: str


class SetSubtaskChecked(_Cmd, tag="set_subtask_checked"):
    subtask_id: str
    checked: bool


class DeleteSubtask(_Cmd, tag="delete_subtask"):
    subtask_id: str


class AttachEvidence(_Cmd, tag="attach_evidence"):
    task_id: str
    type: str  # one of EVIDENCE_TYPES
    text: str


class VerifyEvidence(_Cmd, tag="verify_evidence"):
    task_id: str


class CorrectProgress(_Cmd, tag="correct_progress"):
    """System change: store the derived progress in place of a stale one."""


class Migrate(_Cmd, tag="migrate"):
    """System change: a v1 tracker rewritten as v2 (after a backup)."""


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
)

Command = Query | Change

QUERY_TYPES: tuple[type, ...] = Query.__args__  # type: ignore[attr-defined]
CHANGE_TYPES: tuple[type, ...] = Change.__args__  # type: ignore[attr-defined]
