"""``wtctl board`` without a browser: the token check, the endpoints, the page's data,
and that the one-shot path never loads it. (The page itself: tests/e2e/test_board.py.)"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, cast

from wtctl.aio import Client
from wtctl.board import http
from wtctl.board.server import Board
from wtctl.board.snapshot import Refused, Source, tracker_view
from wtd import wire

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "s3cret-token"

PROGRESS = {
    "overall": 50,
    "complete": 1,
    "total": 2,
    "phases": [{"number": 1, "name": "One", "progress": 50, "complete": 1, "total": 2}],
}
TASKS = [
    {"id": "1.1", "name": "First", "phase": 1, "status": "complete"},
    {"id": "1.2", "name": "Second", "phase": 1, "status": "in_progress"},
]
CLAIMS = [{"id": "1.2", "name": "Second", "by": "agent-1", "since": "t0", "until": "t1"}]
HISTORY = [
    {"seq": 1, "at": "2026-01-01T10:00:00Z", "actor": "wtd", "lines": [], "progress": None},
    {"seq": 2, "at": "2026-01-01T11:00:00Z", "actor": "user", "lines": [], "progress": 50},
]


class FakeSource(Source):
    """wtd's answers, canned; ``gone`` trackers are refused as a deleted one would be."""

    def __init__(self) -> None:
        super().__init__(cast(Client, None), "/ws")
        self.asked: list[tuple[str, str | None]] = []
        self.gone: set[str] = set()

    async def ask(self, phrase: str, tracker: str | None = None) -> dict[str, Any]:
        self.asked.append((phrase, tracker))
        if tracker in self.gone:
            raise Refused(f"no tracker {tracker}")
        results: dict[str, Any] = {
            "list trackers": [{"name": "plan", "progress": 50}],
            "show progress": PROGRESS,
            "list tasks": TASKS,
            "list claims": CLAIMS,
            "history": HISTORY,
        }
        return {
            "type": "reply",
            "ok": True,
            "result": results[phrase],
            "tracker": "docs/plans/plan.md",
        }


def _run(test: Callable[[Board, int], Awaitable[None]]) -> None:
    async def main() -> None:
        board = Board(FakeSource(), TOKEN, page=b"<!doctype html><title>board</title>")
        await board.refresh_all()
        server = await asyncio.start_server(board.handle, "127.0.0.1", 0)
        async with server:
            async with asyncio.timeout(10):
                await test(board, server.sockets[0].getsockname()[1])

    asyncio.run(main())


async def _get(port: int, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    raw = await reader.read()
    writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, body


# ---------------------------------------------------------------- the token


def test_token_check_accepts_only_the_exact_token() -> None:
    assert http.token_ok(TOKEN, TOKEN)
    for wrong in ("", "s3cret", TOKEN + "x", TOKEN.upper(), "ü" + TOKEN):
        assert not http.token_ok(wrong, TOKEN)


def test_every_path_without_the_right_token_is_refused_with_403() -> None:
    async def check(board: Board, port: int) -> None:
        for path in ("/", "/data", "/events", "/nothing-here"):
            for query in ("", "?token=", "?token=wrong", f"?tok={TOKEN}"):
                status, _, body = await _get(port, path + query)
                assert status == 403, (path, query)
                assert TOKEN.encode() not in body and b"plan" not in body
        assert not board.pages  # no refused request joined the event stream

    _run(check)


def test_with_the_token_the_page_and_the_data_are_served() -> None:
    async def check(board: Board, port: int) -> None:
        status, headers, body = await _get(port, f"/?token={TOKEN}")
        assert status == 200 and body.startswith(b"<!doctype html>")
        assert headers["Content-Type"].startswith("text/html")
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        status, headers, body = await _get(port, f"/data?token={TOKEN}")
        assert status == 200 and headers["Content-Type"] == "application/json"
        assert json.loads(body) == board.data()
        assert (await _get(port, f"/missing?token={TOKEN}"))[0] == 404

    _run(check)


def test_the_board_is_read_only() -> None:
    async def check(board: Board, port: int) -> None:
        for method in ("POST", "PUT", "DELETE"):
            assert (await _get(port, f"/data?token={TOKEN}", method))[0] == 405

    _run(check)


def test_the_event_stream_starts_with_everything_then_pushes_a_changed_tracker() -> None:
    async def check(board: Board, port: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET /events?token={TOKEN} HTTP/1.1\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"text/event-stream" in head
        assert await reader.readuntil(b"\n\n") == b"retry: 1000\n\n"
        first = await reader.readuntil(b"\n\n")
        assert first.startswith(b"event: board\ndata: ")
        assert json.loads(first.split(b"data: ", 1)[1]) == board.data()
        board.changed({"type": "event", "tracker": "docs/plans/plan.md"})
        pushed = await reader.readuntil(b"\n\n")
        assert pushed.startswith(b"event: tracker\ndata: ")
        assert json.loads(pushed.split(b"data: ", 1)[1])["name"] == "plan"
        writer.close()

    async def with_refresher(board: Board, port: int) -> None:
        async with asyncio.TaskGroup() as tg:
            refresher = tg.create_task(board.refresher())
            await check(board, port)
            refresher.cancel()

    _run(with_refresher)


# ---------------------------------------------------------------- the page's data


def test_a_tracker_view_merges_claims_into_tasks_and_charts_changes_with_progress() -> None:
    reply = {"type": "reply", "ok": True, "result": PROGRESS, "tracker": "docs/plans/plan.md"}
    view = tracker_view("plan", reply, TASKS, CLAIMS, HISTORY)
    assert view["label"] == "docs/plans/plan.md" and view["progress"] == PROGRESS
    assert [t["claim"] for t in view["tasks"]] == [None, {"by": "agent-1", "until": "t1"}]
    assert view["history"] == [{"at": "2026-01-01T11:00:00Z", "progress": 50, "actor": "user"}]


def test_an_event_marks_only_its_tracker_and_an_unknown_one_the_whole_list() -> None:
    async def pushed_after(board: Board, *events: dict[str, Any]) -> bytes:
        """What a page is sent once the refresher has handled ``events``."""
        page: asyncio.Queue[bytes] = asyncio.Queue()
        board.pages[page] = cast(asyncio.StreamWriter, None)  # unbounded: never closed
        for event in events:
            board.changed(event)
        async with asyncio.TaskGroup() as tg:
            refresher = tg.create_task(board.refresher())
            chunk = await page.get()
            refresher.cancel()
        del board.pages[page]
        return chunk

    async def check(board: Board, port: int) -> None:
        source = cast(FakeSource, board.source)
        source.asked.clear()
        plan = {"type": "event", "tracker": "docs/plans/plan.md"}
        chunk = await pushed_after(board, plan, plan)  # a burst: asked once
        assert chunk.startswith(b"event: tracker\n")
        assert [p for p, _ in source.asked] == [
            "show progress",
            "list tasks",
            "list claims",
            "history",
        ]
        source.asked.clear()
        source.gone.add("plan")
        chunk = await pushed_after(board, {"type": "event", "tracker": "docs/plans/new.md"})
        assert chunk.startswith(b"event: board\n")
        assert source.asked[0] == ("list trackers", None)
        assert board.trackers == {}  # the only tracker was refused: it is gone from the page

    _run(check)


# ---------------------------------------------------------------- what is imported when


def _run_code(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60
    )


def test_the_one_shot_client_does_not_import_the_board() -> None:
    probe = (
        "import sys; before = set(sys.modules); import wtctl.cli; "
        "print(sorted(m for m in set(sys.modules) - before if m.startswith('wtctl.board')))"
    )
    done = _run_code(probe)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_wtctl_board_refuses_a_phrase_a_bad_port_and_the_one_shot_only_flags() -> None:
    for argv in (
        ["board", "show progress"],
        ["board", "--port", "http"],
        ["board", "--port"],
        ["board", "--json"],
        ["board", "--skip-consent"],
    ):
        done = _run_code(f"import sys; from wtctl.cli import main; sys.exit(main({argv!r}))")
        assert done.returncode == wire.EXIT_INVALID, argv
        assert "usage: wtctl board" in done.stderr
        assert done.stdout == ""


def test_a_page_too_far_behind_is_closed_so_that_it_reconnects() -> None:
    # a background tab, a slow link: its queue fills up; its connection must end (its
    # EventSource then reconnects and starts from everything), not hang for ever
    async def check(board: Board, port: int) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        sock.connect(("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(f"GET /events?token={TOKEN} HTTP/1.1\r\n\r\n".encode())
        await reader.readuntil(b"\r\n\r\n")
        big = b"event: x\ndata: " + b"y" * 65536 + b"\n\n"
        while board.pages:  # the page reads nothing meanwhile
            board.push(big)
            await asyncio.sleep(0)
        received = 0
        while chunk := await reader.read(1 << 16):  # what was sent, then the end
            received += len(chunk)
        assert received > 0
        writer.close()

    _run(check)


def test_the_board_shows_served_trackers_only_and_never_asks_a_plan_not_imported() -> None:
    # asking a plan's progress imports it (writes its JSON and replaces the file with
    # a view): the board, which writes nothing, took every name `list trackers` gave
    class Listed(FakeSource):
        async def ask(self, phrase: str, tracker: str | None = None) -> dict[str, Any]:
            if phrase != "list trackers":
                return await super().ask(phrase, tracker)
            self.asked.append((phrase, tracker))
            rows = [
                {"name": "plan", "progress": 50},
                {"name": "notes", "imported": False, "tasks": 2},
                {"name": "README", "error": "not a tracker: no task found"},
            ]
            return {"type": "reply", "ok": True, "result": rows}

    async def main() -> None:
        source = Listed()
        board = Board(source, TOKEN, page=b"<!doctype html>")
        await board.refresh_all()
        asked = {tracker for _, tracker in source.asked if tracker is not None}
        assert asked == {"plan"}

    asyncio.run(main())
