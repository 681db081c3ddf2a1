"""End to end: ``wtctl`` with no PHRASE in a real terminal (tmux) is the REPL."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, Workspace
from tests.repl.workspaces import OTHER, add_tracker, hand_edit, task_status, tracker_json

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]

DEADLINE = 30.0
POLL = 0.05  # re-reading a screen: there is no event to wait on


class Terminal:
    """A 120×30 tmux pane on a private tmux server."""

    def __init__(self, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.env = env

    def tmux(self, *args: str) -> str:
        proc = subprocess.run(
            ["tmux", "-L", self.name, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=DEADLINE,
            check=True,
        )
        return proc.stdout

    def screen(self) -> str:
        """The pane's text, long lines joined again (-J)."""
        return self.tmux("capture-pane", "-p", "-J", "-t", self.name)

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.name, fmt).strip()

    def wait_until(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the screen:\n{self.screen()}")
            time.sleep(POLL)

    def type(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.name, *keys)

    def toolbar(self) -> str:
        return self.screen().rstrip().splitlines()[-1]  # the bottom line

    def prompt_line(self) -> str:
        """The line the cursor is on: the prompt and what is typed after it."""
        rows = self.tmux("capture-pane", "-p", "-t", self.name).splitlines()
        row = int(self.pane("#{cursor_y}"))
        return rows[row].rstrip() if row < len(rows) else ""

    def wait_for_prompt(self, prompt: str) -> None:
        self.wait_until(f"the prompt {prompt!r}", lambda: self.prompt_line() == prompt.rstrip())


@pytest.fixture
def open_terminal(ws: Workspace, tmp_path: Path) -> Iterator[Callable[[], Terminal]]:
    """Starts wtd, then ``wtctl`` (no PHRASE, no --tracker) in the workspace, in tmux."""
    opened: list[Terminal] = []

    def open_terminal() -> Terminal:
        ws.start_daemon()
        conf = tmp_path / "tmux.conf"
        conf.write_text("set -g remain-on-exit on\nset -g status off\n")
        env = {**ws.env, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm-256color"}
        term = Terminal(f"wtctl-repl-{tmp_path.name}", env)
        opened.append(term)
        # tmux does not always learn a dead pane's exit status: the shell writes it down
        rc = shlex.quote(str(tmp_path / "rc"))
        command = f"{shlex.quote(str(BIN / 'wtctl'))}; echo $? > {rc}"
        term.tmux("-f", str(conf), "new-session", "-d", "-s", term.name, "-x", "120", "-y", "30",
                  "-c", str(ws.root), command)  # fmt: skip
        return term

    try:
        yield open_terminal
    finally:
        for term in opened:
            subprocess.run(["tmux", "-L", term.name, "kill-server"], env=term.env, check=False)


@pytest.fixture
def terminal(open_terminal: Callable[[], Terminal]) -> Terminal:
    return open_terminal()


@pytest.fixture
def two_trackers(ws: Workspace, open_terminal: Callable[[], Terminal]) -> Terminal:
    """The REPL started in a workspace with two trackers: ``my-project`` (the most
    recently changed, so the one it starts on) and ``02-auth`` (a copy, older)."""
    add_tracker(ws)
    term = open_terminal()
    term.wait_for_prompt("my-project> ")
    term.wait_until("the toolbar", lambda: "docs/plans/my-project.md │ 44%" in term.toolbar())
    return term


def test_wtctl_without_a_phrase_is_the_repl(terminal: Terminal, tmp_path: Path) -> None:
    terminal.wait_until("the toolbar", lambda: "docs/plans/my-project.md │" in terminal.screen())
    terminal.tmux("send-keys", "-t", terminal.name, "show progress", "Enter")
    terminal.wait_until("the answer", lambda: "Overall progress: 44%" in terminal.screen())

    def toolbar_is_complete() -> bool:
        toolbar = terminal.screen().rstrip().splitlines()[-1]  # the bottom line
        return all(part in toolbar for part in ("docs/plans/my-project.md", "44% (4/9)", "HEALTHY"))

    terminal.wait_until("the toolbar's progress and health", toolbar_is_complete)
    terminal.tmux("send-keys", "-t", terminal.name, "C-d")
    terminal.wait_until("wtctl to end", lambda: terminal.pane("#{pane_dead}") == "1")
    assert (tmp_path / "rc").read_text().strip() == "0", terminal.screen()
    history = tmp_path / "state" / "wtctl" / "history"
    assert "+show progress" in history.read_text()


def _implicit_choice(ws: Workspace) -> str:
    """The tracker wtd picks for a request that names none."""
    proc = ws.wtctl("--json", "show progress", tracker=False)
    tracker: str = json.loads(proc.stdout)["tracker"]
    return tracker


def test_the_repl_changes_the_tracker_its_prompt_shows_after_a_hand_edit_of_another(
    two_trackers: Terminal, ws: Workspace
) -> None:
    other = tracker_json(ws, OTHER)
    hand_edit(other)
    assert _implicit_choice(ws) == f"docs/plans/{OTHER}.md"  # what one-shot would change now
    two_trackers.type("start task 2.4", "Enter")
    two_trackers.wait_until(
        "the answer", lambda: "Task 2.4 marked in_progress" in two_trackers.screen()
    )
    two_trackers.wait_for_prompt("my-project> ")
    assert task_status(ws.json, "2.4") == "in_progress"
    assert task_status(other, "2.4") == "blocked"


def test_use_switches_the_prompt_the_toolbar_and_the_next_change(
    two_trackers: Terminal, ws: Workspace
) -> None:
    two_trackers.type(f"use {OTHER}", "Enter")
    two_trackers.wait_for_prompt(f"{OTHER}> ")
    two_trackers.wait_until(
        "the toolbar", lambda: f"docs/plans/{OTHER}.md │ 44%" in two_trackers.toolbar()
    )
    two_trackers.type("start task 2.3", "Enter")
    two_trackers.wait_until(
        "the answer", lambda: "Task 2.3 marked in_progress" in two_trackers.screen()
    )
    assert task_status(tracker_json(ws, OTHER), "2.3") == "in_progress"
    assert task_status(ws.json, "2.3") == "pending"


def test_use_of_an_unknown_tracker_names_those_there_are(two_trackers: Terminal) -> None:
    two_trackers.type("use 03-billing", "Enter")
    two_trackers.wait_until(
        "the refusal", lambda: "trackers here: 02-auth, my-project" in two_trackers.screen()
    )
    assert "No tracker '03-billing'" in two_trackers.screen()
    two_trackers.wait_for_prompt("my-project> ")
    assert "docs/plans/my-project.md │" in two_trackers.toolbar()


def test_tab_completes_a_tracker_name_after_use(two_trackers: Terminal) -> None:
    two_trackers.type("use 02")
    two_trackers.wait_until("the menu", lambda: f"{OTHER}  tracker" in two_trackers.screen())
    two_trackers.type("Tab")
    two_trackers.wait_for_prompt(f"my-project> use {OTHER}")
    two_trackers.type("Enter")
    two_trackers.wait_for_prompt(f"{OTHER}> ")
