"""Where each command goes: one line per command, command type → handler.

A handler is ``async def handle(ctx, command, request, cwd) -> Outcome``; what a
command may touch is declared on its class (``commands.<Type>.access``) and enforced
by the handler through ``Context.enforce``. A command type missing here is caught by
``tests/actors/test_executor_routes.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from wtd import protocol
from wtd.actors.executor.admin import reset_circuit, show_health, show_help, show_knowledge
from wtd.actors.executor.claims import claim_command
from wtd.actors.executor.consent import answer_consent, manage_consent
from wtd.actors.executor.context import Context
from wtd.actors.executor.trackers import tracker_command
from wtd.actors.executor.workspace_ops import (
    create_initiative,
    delete_tracker,
    import_plan,
    list_trackers,
    restore_tracker,
    undo,
)
from wtd.messages import Outcome
from wtd.tracker import commands as c

Handler = Callable[[Context, Any, protocol.Command, Path], Awaitable[Outcome]]

ROUTES: dict[type[Any], Handler] = {
    # tracker queries
    c.ShowProgress: tracker_command,
    c.ShowRemaining: tracker_command,
    c.ShowNext: tracker_command,
    c.ShowTask: tracker_command,
    c.ShowPhase: tracker_command,
    c.ListTasks: tracker_command,
    c.ShowHistory: tracker_command,
    c.Sync: tracker_command,
    c.Open: tracker_command,  # wtd's own check at start; no phrase leads here
    # tracker changes
    c.SetTaskStatus: tracker_command,
    c.SetPhaseStatus: tracker_command,
    c.SetPhaseTasks: tracker_command,
    c.AddPhase: tracker_command,
    c.DeletePhase: tracker_command,
    c.AddTask: tracker_command,
    c.RenameTask: tracker_command,
    c.MoveTask: tracker_command,
    c.DeleteTask: tracker_command,
    c.AddDependency: tracker_command,
    c.SetVerification: tracker_command,
    c.AddSubtask: tracker_command,
    c.SetSubtaskChecked: tracker_command,
    c.DeleteSubtask: tracker_command,
    c.AttachEvidence: tracker_command,
    c.VerifyEvidence: tracker_command,
    c.CorrectProgress: tracker_command,
    c.Migrate: tracker_command,
    c.Checkpoint: tracker_command,
    c.Patch: tracker_command,
    c.Undo: undo,
    # claims (SPEC §12)
    c.ClaimNext: claim_command,
    c.ClaimTask: claim_command,
    c.ReleaseTask: claim_command,
    c.RenewClaims: claim_command,
    c.ExpireClaims: tracker_command,
    c.ListClaims: tracker_command,
    # workspace operations
    c.CreateInitiative: create_initiative,
    c.ImportPlan: import_plan,
    c.DeleteTracker: delete_tracker,
    c.RestoreTracker: restore_tracker,
    c.ListTrackers: list_trackers,
    # consent
    c.ConsentAnswer: answer_consent,
    c.GrantBlanket: answer_consent,
    c.ShowConsent: manage_consent,
    c.RevokeConsent: manage_consent,
    # admin
    c.Help: show_help,
    c.ShowHealth: show_health,
    c.ResetCircuit: reset_circuit,
    c.ShowKnowledge: show_knowledge,
}


async def route(ctx: Context, command: c.Command, request: protocol.Command, cwd: Path) -> Outcome:
    """Hand ``command`` to its family's handler."""
    return await ROUTES[type(command)](ctx, command, request, cwd)
