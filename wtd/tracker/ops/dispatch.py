"""``apply``: one line per change, routed to its family's module."""

from __future__ import annotations

from typing import assert_never

from wtd import errors
from wtd.tracker import commands as c
from wtd.tracker.model import Tracker
from wtd.tracker.ops.claims import (
    claim_next,
    claim_task,
    expire_claims,
    release_task,
    renew_claims,
    renewed,
)
from wtd.tracker.ops.common import Applied, unchanged
from wtd.tracker.ops.evidence import attach_evidence, verify_evidence
from wtd.tracker.ops.phases import add_phase, delete_phase
from wtd.tracker.ops.progress import correct_progress
from wtd.tracker.ops.statuses import (
    patch_tracker,
    set_phase_status,
    set_phase_tasks,
    set_task_status,
)
from wtd.tracker.ops.subtasks import add_subtask, delete_subtask, set_subtask_checked
from wtd.tracker.ops.tasks import (
    add_dependency,
    add_task,
    delete_task,
    move_task,
    rename_task,
    set_verification,
)


def apply(tracker: Tracker, change: c.Change, *, at: str, actor: str) -> Applied:
    """Apply ``change`` to ``tracker``; the input is never modified.

    Raises errors.NotFound / errors.InvalidArgument / errors.Denied (a claim held by
    another), in which case nothing changed. A change of one task by the holder of
    its claim renews the claim (SPEC §12).
    """
    return renewed(_apply(tracker, change, at=at, actor=actor), change, at, actor)


def _apply(tracker: Tracker, change: c.Change, *, at: str, actor: str) -> Applied:
    match change:
        case c.SetTaskStatus():
            return set_task_status(tracker, change, at)
        case c.SetPhaseStatus():
            return set_phase_status(tracker, change, at)
        case c.AddPhase():
            return add_phase(tracker, change, at)
        case c.DeletePhase():
            return delete_phase(tracker, change, at)
        case c.AddTask():
            return add_task(tracker, change, at)
        case c.RenameTask():
            return rename_task(tracker, change, at)
        case c.MoveTask():
            return move_task(tracker, change, at)
        case c.DeleteTask():
            return delete_task(tracker, change, at)
        case c.AddDependency():
            return add_dependency(tracker, change, at)
        case c.SetVerification():
            return set_verification(tracker, change, at)
        case c.AddSubtask():
            return add_subtask(tracker, change, at)
        case c.SetSubtaskChecked():
            return set_subtask_checked(tracker, change, at)
        case c.DeleteSubtask():
            return delete_subtask(tracker, change, at)
        case c.AttachEvidence():
            return attach_evidence(tracker, change, at, actor)
        case c.VerifyEvidence():
            return verify_evidence(tracker, change, at, actor)
        case c.CorrectProgress():
            return correct_progress(tracker, at)
        case c.Migrate():
            return Applied(
                tracker=tracker,
                lines=["Migrated to schema v2"],
                healing=[],
                result={"schema_version": tracker.schema_version},
                changed=True,
            )
        case c.SetPhaseTasks():
            return set_phase_tasks(tracker, change, at)
        case c.Patch():
            return patch_tracker(tracker, change)
        case c.Undo():
            raise errors.InvalidArgument("undo needs the journal: it is handled by the store")
        case c.ClaimNext():
            return claim_next(tracker, change, at, actor)
        case c.ClaimTask():
            return claim_task(tracker, change, at, actor)
        case c.ReleaseTask():
            return release_task(tracker, change, at, actor)
        case c.RenewClaims():
            return renew_claims(tracker, change, at, actor)
        case c.ExpireClaims():
            return expire_claims(tracker, at)
        case c.Checkpoint():
            return unchanged(tracker, "Checkpoint", {"checkpoint": change.reason})
        case _:
            assert_never(change)
