"""The Executor's route table: every command has exactly one handler, by family."""

from __future__ import annotations

from wtd.actors.executor import admin, claims, consent, trackers, workspace_ops
from wtd.actors.executor.routes import ROUTES
from wtd.tracker import commands

EVERY_COMMAND: tuple[type, ...] = commands.Command.__args__


def test_every_command_type_has_a_route() -> None:
    assert set(EVERY_COMMAND) - set(ROUTES) == set()


def test_only_command_types_are_routed() -> None:
    assert set(ROUTES) - set(EVERY_COMMAND) == set()


def test_plain_tracker_queries_and_changes_run_on_their_tracker() -> None:
    plain = set(commands.QUERY_TYPES + commands.CHANGE_TYPES) - {
        commands.Undo,
        commands.Help,
        commands.ShowHealth,
        commands.ListTrackers,
        commands.ResetCircuit,
        commands.ShowKnowledge,
        commands.ClaimNext,
        commands.ClaimTask,
        commands.ReleaseTask,
        commands.RenewClaims,
    }
    assert {t for t in plain if ROUTES[t] is not trackers.tracker_command} == set()


def test_delete_tracker_and_its_undo_are_workspace_operations() -> None:
    assert ROUTES[commands.DeleteTracker] is workspace_ops.delete_tracker
    assert ROUTES[commands.RestoreTracker] is workspace_ops.restore_tracker
    assert ROUTES[commands.Undo] is workspace_ops.undo


def test_consent_commands_go_to_the_consent_family() -> None:
    answers: tuple[type, ...] = (commands.ConsentAnswer, commands.GrantBlanket)
    managed: tuple[type, ...] = (commands.ShowConsent, commands.RevokeConsent)
    assert all(ROUTES[kind] is consent.answer_consent for kind in answers)
    assert all(ROUTES[kind] is consent.manage_consent for kind in managed)


def test_admin_commands_go_to_the_admin_family() -> None:
    for kind in (commands.Help, commands.ShowHealth, commands.ResetCircuit):
        assert ROUTES[kind].__module__ == admin.__name__
    assert ROUTES[commands.ShowKnowledge] is admin.show_knowledge


def test_claims_get_their_lease_from_the_claims_family() -> None:
    for kind in (commands.ClaimNext, commands.ClaimTask, commands.ReleaseTask):
        assert ROUTES[kind] is claims.claim_command
    assert ROUTES[commands.RenewClaims] is claims.claim_command
    assert ROUTES[commands.ListClaims] is trackers.tracker_command
