"""The REPL acts on the tracker its prompt shows until ``use TRACKER`` switches it (SPEC §9)."""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import tempfile
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from tests.e2e.conftest import Workspace
from tests.repl.harness import (
    CTRL_C,
    ENTER,
    Running,
    prompt_text,
    repl_args,
    running_repl,
    toolbar_text,
)
from tests.repl.workspaces import OTHER, add_tracker, hand_edit, task_status, tracker_json

pytestmark = pytest.mark.anyio


@pytest.fixture
def in_workspace(workspace: Workspace, monkeypatch: pytest.MonkeyPatch) -> Workspace:
    """The REPL started in the workspace's folder (no --tracker), with two trackers:
    the example (most recently changed) and an older copy of it, ``02-auth``."""
    add_tracker(workspace)
    monkeypatch.chdir(workspace.root)
    return workspace


def implicit_choice(ws: Workspace) -> str:
    """The tracker wtd picks for a request that names none (what one-shot would change)."""
    proc = ws.wtctl("--json", "show progress", tracker=False)
    tracker: str = json.loads(proc.stdout)["tracker"]
    return tracker


async def refreshed_until(r: Running, done: Callable[[], bool]) -> None:
    """Wait, refresh after refresh (no sleeping), until ``done()``."""
    while not done():
        r.repl.refreshed.clear()
        await r.repl.refreshed.wait()


async def test_started_without_tracker_it_pins_the_one_wtd_reports(in_workspace: Workspace) -> None:
    async with running_repl(in_workspace, repl_args(in_workspace, tracker=False)) as r:
        assert r.repl.pin is not None and r.repl.pin.name == "my-project"
        assert prompt_text(r.repl) == "my-project> "
        assert toolbar_text(r.repl).startswith(" docs/plans/my-project.md │ 44% (4/9)")
        assert "Tracker: docs/plans/my-project.md ('use TRACKER' switches)" in r.out.text
        assert await r.leave() == 0


async def test_a_hand_edit_of_another_tracker_does_not_move_it(in_workspace: Workspace) -> None:
    other = tracker_json(in_workspace, OTHER)
    async with running_repl(in_workspace, repl_args(in_workspace, tracker=False)) as r:
        hand_edit(other)
        # wtd's choice for "no tracker given" is now the other one …
        assert await anyio.to_thread.run_sync(implicit_choice, in_workspace) == (
            f"docs/plans/{OTHER}.md"
        )
        r.type("start task 2.4" + ENTER)
        await r.out.wait_for("Task 2.4 marked in_progress")
        assert prompt_text(r.repl) == "my-project> "
        assert await r.leave() == 0
    # … yet the change landed in the tracker the prompt showed
    assert task_status(in_workspace.json, "2.4") == "in_progress"
    assert task_status(other, "2.4") == "blocked"
    assert f"docs/plans/{OTHER}.md" not in r.out.text


async def test_use_switches_prompt_toolbar_and_target(in_workspace: Workspace) -> None:
    other = tracker_json(in_workspace, OTHER)
    async with running_repl(in_workspace, repl_args(in_workspace, tracker=False)) as r:
        r.type(f"use {OTHER}" + ENTER)
        end = await r.out.wait_for(f"Now on docs/plans/{OTHER}.md (44%)")
        assert prompt_text(r.repl) == f"{OTHER}> "
        assert toolbar_text(r.repl).startswith(f" docs/plans/{OTHER}.md │ 44% (4/9)")
        r.type("start task 2.3" + ENTER)
        await r.out.wait_for("Task 2.3 marked in_progress", end)
        assert await r.leave() == 0
    assert task_status(other, "2.3") == "in_progress"
    assert task_status(in_workspace.json, "2.3") == "pending"


async def test_use_with_a_path_switches_too(in_workspace: Workspace) -> None:
    async with running_repl(in_workspace) as r:
        r.type(f"use .ecw/plans/{OTHER}.json" + ENTER)
        await r.out.wait_for(f"Now on docs/plans/{OTHER}.md")
        assert r.repl.pin is not None and r.repl.pin.name == OTHER
        assert await r.leave() == 0


async def test_use_of_an_unknown_tracker_names_the_trackers_and_keeps_the_pin(
    in_workspace: Workspace,
) -> None:
    async with running_repl(in_workspace, repl_args(in_workspace, tracker=False)) as r:
        r.type("use 02-auht" + ENTER)
        end = await r.out.wait_for(f"No tracker '02-auht' in {in_workspace.root}")
        await r.out.wait_for("trackers here: 02-auth, my-project", end)
        await r.out.wait_for("Did you mean 'use 02-auth'?", end)
        assert prompt_text(r.repl) == "my-project> "
        r.type("start task 2.4" + ENTER)
        await r.out.wait_for("Task 2.4 marked in_progress", end)
        assert await r.leave() == 0
    assert task_status(in_workspace.json, "2.4") == "in_progress"


async def test_use_alone_shows_the_tracker_and_the_choices(in_workspace: Workspace) -> None:
    async with running_repl(in_workspace) as r:
        r.type("use" + ENTER)
        end = await r.out.wait_for("Tracker: docs/plans/my-project.md\nSwitch with: use NAME\n")
        await r.out.wait_for(f"    {OTHER:<24} 44%\n  * {'my-project':<24} 44%\n", end)
        assert await r.leave() == 0


async def test_use_completes_the_workspaces_tracker_names(in_workspace: Workspace) -> None:
    async with running_repl(in_workspace) as r:
        assert r.repl.phrases.vocabulary.trackers == (OTHER, "my-project")
        buffer = r.repl.session.default_buffer
        changed = asyncio.Event()
        buffer.on_completions_changed += lambda _: changed.set()
        buffer.on_text_changed += lambda _: changed.set()

        def offered() -> list[str]:
            state = buffer.complete_state
            return [] if state is None else [c.text for c in state.completions]

        r.type("use 02")
        while offered() != [OTHER]:
            changed.clear()
            await changed.wait()
        r.type("\t")  # Tab takes the completion
        while buffer.text != f"use {OTHER}":
            changed.clear()
            await changed.wait()
        r.type(CTRL_C)  # nothing is run
        assert await r.leave() == 0


async def test_events_of_every_tracker_show_with_their_tracker(in_workspace: Workspace) -> None:
    async with running_repl(in_workspace) as r:
        await r.repl.subscribed.wait()

        def change(name: str, phrase: str) -> None:
            md = str(in_workspace.root / "docs" / "plans" / f"{name}.md")
            proc = in_workspace.wtctl("--tracker", md, "--agent", name, phrase, tracker=False)
            assert proc.returncode == 0, proc.stderr

        await anyio.to_thread.run_sync(change, OTHER, "mark task 3.1 blocked")
        await anyio.to_thread.run_sync(change, "my-project", "mark task 3.2 blocked")
        await r.out.wait_for(f"[agent:{OTHER}] docs/plans/{OTHER}.md: Task 3.1")
        end = await r.out.wait_for("[agent:my-project] docs/plans/my-project.md: Task 3.2")
        r.type(f"use {OTHER}" + ENTER)
        end = await r.out.wait_for(f"Now on docs/plans/{OTHER}.md", end)
        await anyio.to_thread.run_sync(change, "my-project", "mark task 1.1 blocked")
        await r.out.wait_for("[agent:my-project] docs/plans/my-project.md: Task 1.1", end)
        assert await r.leave() == 0


async def test_a_consent_question_is_dropped_by_use(in_workspace: Workspace) -> None:
    async with running_repl(in_workspace) as r:
        r.type("delete tracker" + ENTER)
        await r.out.wait_for("? This operation requires consent.")
        r.type(f"use {OTHER}" + ENTER)
        end = await r.out.wait_for(f"Now on docs/plans/{OTHER}.md")
        assert r.repl.consent_token is None
        r.type("yes" + ENTER)
        await r.out.wait_for("\n", end)
        assert await r.leave() == 0
    assert in_workspace.json.exists() and tracker_json(in_workspace, OTHER).exists()


async def test_the_deleted_pinned_tracker_stays_pinned_and_says_so(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        r.type("delete tracker" + ENTER)
        end = await r.out.wait_for("? This operation requires consent.")
        r.type("yes" + ENTER)
        end = await r.out.wait_for("Tracker docs/plans/my-project.md is deleted", end)
        assert prompt_text(r.repl) == "my-project (deleted)> "
        assert toolbar_text(r.repl).startswith(" docs/plans/my-project.md (deleted) │ progress —")
        r.type("show progress" + ENTER)
        end = await r.out.wait_for("Tracker my-project was deleted", end)
        r.type("undo" + ENTER)  # acts on the pinned tracker: brings it back
        # the reply and the toolbar's refresh (fed by the restore's event) race: either
        # may say the tracker is back first
        await r.out.wait_for("Restored tracker my-project", end)
        await r.out.wait_for("Tracker docs/plans/my-project.md is back.", end)
        assert prompt_text(r.repl) == "my-project> "
        assert await r.leave() == 0
    assert workspace.json.exists()


async def test_a_tracker_deleted_elsewhere_shows_as_deleted(in_workspace: Workspace) -> None:
    async with running_repl(in_workspace) as r:
        await anyio.to_thread.run_sync(in_workspace.ok, "--skip-consent", "delete tracker")
        # wtd publishes no event for a deletion: the next command finds out
        r.type("show progress" + ENTER)
        await r.out.wait_for("Tracker my-project was deleted")
        await refreshed_until(r, lambda: r.repl.status.missing == "deleted")
        assert prompt_text(r.repl) == "my-project (deleted)> "
        r.type(f"use {OTHER}" + ENTER)
        await r.out.wait_for(f"Now on docs/plans/{OTHER}.md")
        assert prompt_text(r.repl) == f"{OTHER}> "
        assert await r.leave() == 0


async def test_an_empty_workspace_pins_the_first_tracker_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "empty"
    (root / ".ecw").mkdir(parents=True)
    ws = Workspace(root, Path(tempfile.mkdtemp(prefix="wtd-test-", dir="/tmp")))
    daemon = ws.start_daemon()
    monkeypatch.chdir(root)
    try:
        async with running_repl(ws, repl_args(ws, tracker=False)) as r:
            assert r.repl.pin is None and prompt_text(r.repl) == "wtctl> "
            r.type("create initiative 3 called Billing" + ENTER)
            end = await r.out.wait_for("? This operation requires consent.")
            r.type("yes" + ENTER)
            await r.out.wait_for("Now on docs/plans/03-billing.md", end)
            assert prompt_text(r.repl) == "03-billing> "
            r.type("add phase Setup" + ENTER)
            await r.out.wait_for("Setup", end)
            assert await r.leave() == 0
        data = json.loads((root / ".ecw" / "plans" / "03-billing.json").read_bytes())
        assert [p["name"] for p in data["phases"]] == ["Setup"]
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        shutil.rmtree(ws.sock.parent, ignore_errors=True)


async def test_creating_another_initiative_keeps_the_pin(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        r.type("create initiative 20 called Payments" + ENTER)
        end = await r.out.wait_for("? This operation requires consent.")
        r.type("yes" + ENTER)
        await r.out.wait_for(
            "Still on docs/plans/my-project.md; 'use 20-payments' switches to it.", end
        )
        assert prompt_text(r.repl) == "my-project> "
        assert await r.leave() == 0


async def test_events_follow_the_daemon_that_owns_the_workspace(workspace: Workspace) -> None:
    workspace.ok("show progress")  # the fixture's wtd now owns the workspace
    second = Workspace(workspace.root, Path(tempfile.mkdtemp(prefix="wtd-test-", dir="/tmp")))
    other_daemon = second.start_daemon()
    try:
        # the REPL talks to the second wtd, which redirects it to the owner
        async with running_repl(workspace, repl_args(workspace, socket=second.sock)) as r:
            await r.repl.subscribed.wait()
            assert str(workspace.sock) in (r.repl.client.path, r.repl.background.path)
            await anyio.to_thread.run_sync(
                workspace.ok, "--agent", "planner", "mark task 2.2 complete"
            )
            await r.out.wait_for("[agent:planner] docs/plans/my-project.md: Task 2.2")
            assert await r.leave() == 0
    finally:
        other_daemon.send_signal(signal.SIGTERM)
        other_daemon.wait(timeout=30)
        shutil.rmtree(second.sock.parent, ignore_errors=True)
