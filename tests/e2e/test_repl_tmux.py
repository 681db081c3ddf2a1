"""End to end: ``wtctl`` with no PHRASE in a real terminal (tmux) is the REPL."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, Workspace

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
        return self.tmux("capture-pane", "-p", "-t", self.name)

    def pane(self, fmt: str) -> str:
        return self.tmux("display-message", "-p", "-t", self.name, fmt).strip()

    def wait_until(self, what: str, check: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE
        while not check():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; the screen:\n{self.screen()}")
            time.sleep(POLL)


@pytest.fixture
def terminal(ws: Workspace, tmp_path: Path) -> Iterator[Terminal]:
    ws.start_daemon()
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g remain-on-exit on\nset -g status off\n")
    env = {**ws.env, "XDG_STATE_HOME": str(tmp_path / "state"), "TERM": "xterm-256color"}
    term = Terminal(f"wtctl-repl-{tmp_path.name}", env)
    # tmux does not always learn a dead pane's exit status: the shell writes it down
    command = f"{shlex.quote(str(BIN / 'wtctl'))}; echo $? > {shlex.quote(str(tmp_path / 'rc'))}"
    term.tmux("-f", str(conf), "new-session", "-d", "-s", term.name, "-x", "120", "-y", "30",
              "-c", str(ws.root), command)  # fmt: skip
    try:
        yield term
    finally:
        subprocess.run(["tmux", "-L", term.name, "kill-server"], env=env, check=False)


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
