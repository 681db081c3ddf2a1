"""End to end: `wtctl events` follows changes made by other clients, as NDJSON."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.e2e.conftest import BIN, Workspace

pytestmark = pytest.mark.e2e


def test_events_stream_shows_other_clients_changes(ws: Workspace) -> None:
    ws.ok("show progress")
    follower = subprocess.Popen(
        [str(BIN / "wtctl"), "events"],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        first = json.loads(follower.stdout.readline())
        assert first["type"] == "subscribed"
        ws.ok("--agent", "planner", "mark task 2.2 complete")
        event = json.loads(follower.stdout.readline())
        assert event["type"] == "event" and event["kind"] == "changed"
        assert event["tracker"] == "docs/plans/my-project.md"
        assert event["actor"] == "agent:planner"
        assert event["lines"] == ["Task 2.2 marked complete (2 sub-tasks still open)."]
        assert event["progress"] == 56
        ws.ok("add task to phase 3: Another")
        second = json.loads(follower.stdout.readline())
        assert second["seq"] > event["seq"] and second["actor"] == "user"
    finally:
        follower.terminate()
        follower.wait(timeout=30)


def test_events_of_other_workspaces_are_filtered(
    ws: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ws.ok("show progress")
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (elsewhere / ".ecw").mkdir()
    follower = subprocess.Popen(
        [str(BIN / "wtctl"), "events"], cwd=elsewhere, env=ws.env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert follower.stdout is not None
        assert json.loads(follower.stdout.readline())["type"] == "subscribed"
        ws.ok("mark task 2.3 in progress")  # not this follower's workspace
        everything = subprocess.Popen(
            [str(BIN / "wtctl"), "events", "--all"],
            cwd=elsewhere,
            env=ws.env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert everything.stdout is not None
        assert json.loads(everything.stdout.readline())["type"] == "subscribed"
        ws.ok("mark task 2.3 done")
        assert json.loads(everything.stdout.readline())["kind"] == "changed"
        everything.terminate()
        everything.wait(timeout=30)
    finally:
        follower.terminate()
        out, _ = follower.communicate(timeout=30)
    assert out.strip() == ""
