"""Take the README's screenshot of ``wtctl board`` (``docs/board.png``):

    .venv/bin/python -m tests.e2e.board_screenshot [OUT.png]

A temporary workspace with the example tracker, a private wtd, a few changes (two
agents holding claims), the real ``wtctl board``, and Debian's headless chromium.
"""

from __future__ import annotations

import shutil
import signal
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

from tests.e2e.conftest import EXAMPLE, REPO, Workspace
from tests.e2e.test_board import CHROMIUM, start_board

CHANGES = [
    ("show progress",),
    ("mark task 2.1 pending",),
    ("complete task 2.1",),
    ("complete task 2.2",),
    ("complete task 2.3",),
    ("undo",),
    ("--agent", "agent-1", "claim task 2.3"),
    ("--agent", "agent-2", "claim task 3.1"),
    ("block task 2.4 because waiting on the storage review",),
]


def main(out: Path) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="wtd-board-shot-", dir="/tmp"))
    root = scratch / "my-project"
    (root / ".ecw" / "plans").mkdir(parents=True)
    shutil.copy(EXAMPLE, root / ".ecw" / "plans" / "my-project.json")
    (scratch / "wtd").mkdir()
    ws = Workspace(root, scratch / "wtd")
    try:
        for change in CHANGES:
            ws.ok(*change)
        board = start_board(ws)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=str(CHROMIUM))
                page = browser.new_page(viewport={"width": 820, "height": 600})
                page.goto(board.url)
                page.wait_for_selector("svg.chart path.line", state="attached")
                page.screenshot(path=str(out), full_page=True)
                browser.close()
        finally:
            board.proc.send_signal(signal.SIGINT)
            board.proc.communicate(timeout=10)
    finally:
        ws.kill_daemon(signal.SIGTERM)
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "board.png")
