"""The REPL: a real PromptSession, fed through a pipe, against a real wtd."""

from __future__ import annotations

import asyncio
from pathlib import Path

import anyio
import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from tests.e2e.conftest import Workspace
from tests.repl.harness import (
    CTRL_C,
    ENTER,
    TIMEOUT,
    Transcript,
    repl_args,
    running_repl,
)
from wtctl.repl import Repl, file_history, format_event, history_path


@pytest.mark.anyio
async def test_a_phrase_and_enter_prints_the_answer(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        r.type("show progress" + ENTER)
        await r.out.wait_for("Overall progress: 44%")
        assert await r.leave() == 0


@pytest.mark.anyio
async def test_the_toolbar_shows_tracker_progress_health_and_circuits(
    workspace: Workspace,
) -> None:
    async with running_repl(workspace) as r:
        status = r.repl.status
        assert status.tracker == "docs/plans/my-project.md"
        assert (status.progress, status.complete, status.total) == (44, 4, 9)
        assert status.health == "HEALTHY" and status.open_circuits == ()
        assert await r.leave() == 0


@pytest.mark.anyio
async def test_completion_offers_the_live_task_ids(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        buffer = r.repl.session.default_buffer
        changed = asyncio.Event()
        buffer.on_completions_changed += lambda _: changed.set()
        r.type("show task 2.\t")
        expected = ["2.1", "2.2", "2.3", "2.4"]
        while (
            buffer.complete_state is None
            or [c.text for c in buffer.complete_state.completions] != expected
        ):
            changed.clear()
            await changed.wait()
        r.type(CTRL_C)  # cancels the line
        assert await r.leave() == 0
    assert "show task" not in r.out.text  # nothing was sent


@pytest.mark.anyio
async def test_completion_follows_a_change_made_elsewhere(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        await r.repl.subscribed.wait()
        await anyio.to_thread.run_sync(workspace.ok, "add task to phase 3: Write the changelog")
        while "3.3" not in [t.id for t in r.repl.phrases.vocabulary.tasks]:
            await _next_refresh(r.repl)
        assert await r.leave() == 0


async def _next_refresh(repl: Repl) -> None:
    repl.refreshed.clear()
    await repl.refreshed.wait()


@pytest.mark.anyio
async def test_an_event_from_another_client_is_printed_above_the_prompt(
    workspace: Workspace,
) -> None:
    async with running_repl(workspace) as r:
        await r.repl.subscribed.wait()
        await anyio.to_thread.run_sync(workspace.ok, "--agent", "planner", "mark task 2.2 complete")
        await r.out.wait_for(
            "[agent:planner] docs/plans/my-project.md: Task 2.2 marked complete"
            " (2 sub-tasks still open). (56%)"
        )
        assert await r.leave() == 0


@pytest.mark.anyio
# "wip": a status given in another spelling, the reply's text all healing lines
@pytest.mark.parametrize("status", ["in progress", "wip"])
async def test_own_changes_are_not_echoed_as_events(workspace: Workspace, status: str) -> None:
    async with running_repl(workspace) as r:
        await r.repl.subscribed.wait()
        r.type(f"mark task 2.3 {status}" + ENTER)
        end = await r.out.wait_for("Task 2.3 marked in_progress.")
        await anyio.to_thread.run_sync(workspace.ok, "--agent", "other", "mark task 3.1 blocked")
        await r.out.wait_for("[agent:other]", end)  # events are in order: ours came before
        assert "[user]" not in r.out.text
        assert await r.leave() == 0


@pytest.mark.anyio
async def test_a_typo_gets_did_you_mean(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        r.type("shw progress" + ENTER)
        await r.out.wait_for("Did you mean 'show progress'")
        assert await r.leave() == 0


@pytest.mark.anyio
async def test_help_adds_the_repl_keys(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        r.type("help" + ENTER)
        end = await r.out.wait_for("show progress")
        await r.out.wait_for("Ctrl-D leaves", end)
        assert await r.leave() == 0


@pytest.mark.anyio
async def test_ctrl_c_cancels_the_line_and_the_repl_goes_on(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        r.type("delete task 2.2" + CTRL_C)
        r.type("show task 2.2" + ENTER)
        await r.out.wait_for("2.2")
        assert "deleted" not in r.out.text.lower()
        assert await r.leave() == 0
    assert workspace.task("2.2")["name"] == "Render Markdown view"


@pytest.mark.anyio
async def test_consent_is_answered_inline(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        r.type("create initiative 20 called Payments" + ENTER)
        end = await r.out.wait_for("? This operation requires consent.")
        assert r.repl.consent_token is not None
        r.type("yes" + ENTER)
        await r.out.wait_for("20-payments", end)
        assert r.repl.consent_token is None
        assert await r.leave() == 0
    assert (workspace.root / ".ecw" / "plans" / "20-payments.json").exists()


@pytest.mark.anyio
async def test_ctrl_d_leaves_with_0(workspace: Workspace) -> None:
    async with running_repl(workspace) as r:
        assert await r.leave() == 0


@pytest.mark.anyio
async def test_no_daemon_and_no_autostart_exits_5(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, tmp_path)
    with create_pipe_input() as keys:
        out = Transcript()
        repl = Repl(repl_args(ws), input=keys, output=DummyOutput(), echo=out)
        with anyio.fail_after(TIMEOUT):
            assert await repl.run() == 5
    assert "wtd unavailable" in out.text


def test_history_lives_under_xdg_state_home(tmp_path: Path) -> None:
    assert history_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "wtctl" / "history"
    assert history_path({"HOME": "/h"}) == Path("/h/.local/state/wtctl/history")
    target = tmp_path / "deep" / "wtctl" / "history"
    history = file_history(target)
    history.append_string("show progress")
    assert target.exists() and "show progress" in target.read_text()


def test_events_read_like_a_log_line() -> None:
    event = {
        "type": "event",
        "seq": 3,
        "kind": "changed",
        "at": "2026-01-01T00:00:00Z",
        "tracker": "docs/plans/my-project.md",
        "actor": "agent:planner",
        "lines": ["Task 2.2 marked complete."],
        "progress": 56,
    }
    text = "".join(fragment[1] for fragment in format_event(event))
    assert text == "[agent:planner] docs/plans/my-project.md: Task 2.2 marked complete. (56%)"
