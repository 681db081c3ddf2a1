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
from wtd.actors.executor import admin, consent, trackers, workspace_ops
from wtd.actors.executor.context import Context
from wtd.messages import Outcome
from wtd.tracker import commands as c

Handler = Callable[[Context, Any, protocol.Command, Path], Awaitable[Outcome]]

ROUTES: dict[type[Any], Handler] = {
    # tracker queries
    c.ShowProgress: trackers.run,
    c.ShowRemaining: trackers.run,
    c.ShowNext: trackers.run,
    c.ShowTask: trackers.run,
    c.ShowPhase: trackers.run,
    c.ListTasks: trackers.run,
    c.ShowHistory: trackers.run,
    c.Sync: trackers.run,
    # tracker changes
    c.SetTaskStatus: trackers.run,
    c.SetPhaseStatus: trackers.run,
    c.SetPhaseTasks: trackers.run,
    c.AddPhase: trackers.run,
    c.DeletePhase: trackers.run,
    c.AddTask: trackers.run,
    c.RenameTask: trackers.run,
    c.MoveTask: trackers.run,
    c.DeleteTask: trackers.run,
    c.AddDependency: trackers.run,
    c.SetVerification: trackers.run,
    c.AddSubtask: trackers.run,
    c.SetSubtaskChecked: trackers.run,
    c.DeleteSubtask: trackers.run,
    c.AttachEvidence: trackers.run,
    c.VerifyEvidence: trackers.run,
    c.CorrectProgress: trackers.run,
    c.Migrate: trackers.run,
    c.Checkpoint: trackers.run,
    c.Patch: trackers.run,
    c.Undo: workspace_ops.undo,
    # workspace operations
    c.CreateInitiative: workspace_ops.create_initiative,
    c.ImportPlan: workspace_ops.import_plan,
    c.DeleteTracker: workspace_ops.delete_tracker,
    c.RestoreTracker: workspace_ops.restore_tracker,
    c.ListTrackers: workspace_ops.list_trackers,
    # consent
    c.ConsentAnswer: consent.answer,
    c.GrantBlanket: consent.answer,
    c.ShowConsent: consent.manage,
    c.RevokeConsent: consent.manage,
    # admin
    c.Help: admin.show_help,
    c.ShowHealth: admin.show_health,
    c.ResetCircuit: admin.reset_circuit,
    c.ShowKnowledge: admin.show_knowledge,
}


async def route(ctx: Context, command: c.Command, request: protocol.Command, cwd: Path) -> Outcome:
    """Hand ``command`` to its family's handler."""
    return await ROUTES[type(command)](ctx, command, request, cwd)
