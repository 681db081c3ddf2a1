"""``wtctl board`` in a real headless Chromium (Debian's package), against a real wtd and a
real ``wtctl board`` process: the numbers, the chart, live updates, the token, a phone."""

from __future__ import annotations

import contextlib
import json
import os
import re
import select
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import BIN, Workspace

pytestmark = pytest.mark.e2e

CHROMIUM = Path("/usr/bin/chromium")
URL_TIMEOUT = 20.0
# How long the test waits for a change to show (no reload). SPEC's "within a second"
# is measured (20-24 ms here), not asserted: a shared, loaded machine must not fail it.
LIVE_TIMEOUT_MS = 5000

pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

if not CHROMIUM.exists():
    pytest.skip(
        "no chromium binary at /usr/bin/chromium (apt-get install chromium)",
        allow_module_level=True,
    )


class BoardProcess:
    def __init__(self, proc: subprocess.Popen[str], url: str) -> None:
        self.proc = proc
        self.url = url
        self.base, _, query = url.partition("?")
        self.token = query.removeprefix("token=")


def start_board(ws: Workspace, *args: str) -> BoardProcess:
    """``wtctl board --port 0`` in the workspace; the URL read from the line it prints."""
    proc = subprocess.Popen(
        [str(BIN / "wtctl"), "board", "--port", "0", *args],
        cwd=ws.root,
        env=ws.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], URL_TIMEOUT)
    line = proc.stdout.readline() if ready else ""
    found = re.fullmatch(r"Board: (http://127\.0\.0\.1:\d+/\?token=[\w-]+)\n", line)
    if found is None:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        raise AssertionError(f"wtctl board printed {line!r}\n{err}\n{ws.log()}")
    return BoardProcess(proc, found.group(1))


@pytest.fixture
def board(ws: Workspace) -> Iterator[BoardProcess]:
    ws.ok("show progress")  # wtd is up (wtctl starts it) and the example's progress corrected
    ws.ok("start task 3.1")  # a change in the history (progress stays 44%): a point on the chart
    running = start_board(ws)
    try:
        yield running
    finally:
        running.proc.send_signal(signal.SIGINT)
        try:
            running.proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            running.proc.kill()
            running.proc.communicate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, board: BoardProcess) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    opened.goto(board.url)
    opened.wait_for_selector("section.tracker svg.chart path.line", state="attached")
    yield opened
    context.close()
    assert not errors, errors


def progress_of(ws: Workspace) -> dict[str, object]:
    result: dict[str, object] = json.loads(ws.ok("--json", "show progress"))["result"]
    return result


def test_the_page_shows_the_numbers_show_progress_gives(ws: Workspace, page: Page) -> None:
    progress = progress_of(ws)
    tracker = page.locator('section.tracker[data-tracker="my-project"]')
    assert tracker.locator("[data-overall]").inner_text() == f"{progress['overall']}%"
    phases = progress["phases"]
    assert isinstance(phases, list) and phases
    assert tracker.locator("ul.phases li").count() == len(phases)
    for phase in phases:
        row = tracker.locator(f'ul.phases li[data-phase="{phase["number"]}"]')
        assert row.locator(".pct").inner_text() == f"{phase['progress']}%"
        assert f"({phase['complete']}/{phase['total']})" in row.inner_text()
    tasks = json.loads(ws.ok("--json", "list tasks"))["result"]
    assert tracker.locator("tr[data-task]").count() == len(tasks)


def test_the_chart_of_progress_over_time_is_drawn(page: Page) -> None:
    path = page.locator("svg.chart path.line").first.get_attribute("d") or ""
    points = re.findall(r"-?\d+(?:\.\d+)?", path)
    assert path.startswith("M") and len(points) >= 3, path  # at least two points
    assert page.locator("svg.chart circle").count() >= 1  # one per change in the history


def test_a_change_made_with_wtctl_shows_on_the_open_page_without_a_reload(
    ws: Workspace, page: Page
) -> None:
    page.evaluate("window.__notReloaded = true")
    overall = page.locator("[data-overall]")
    assert overall.inner_text() == "44%"
    ws.ok("complete task 2.2")
    changed_at = time.monotonic()
    expect(overall).to_have_text("56%", timeout=LIVE_TIMEOUT_MS)
    latency = time.monotonic() - changed_at
    row = page.locator('tr[data-task="2.2"]')
    expect(row.locator(".st")).to_have_text("complete")
    ws.ok("--agent", "agent-7", "claim task 2.3")
    expect(page.locator('tr[data-task="2.3"] td.claim')).to_contain_text(
        "agent-7", timeout=LIVE_TIMEOUT_MS
    )
    assert page.evaluate("window.__notReloaded") is True
    print(f"wtctl change → page updated in {latency * 1000:.0f} ms")


def test_requests_without_the_token_or_with_a_wrong_one_are_refused(
    board: BoardProcess, browser: Browser
) -> None:
    for path in ("", "data", "events"):
        for query in ("", "?token=", "?token=wrong-" + board.token):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(board.base + path + query, timeout=10)
            assert refused.value.code == 403, (path, query)
    context = browser.new_context()
    try:
        answer = context.new_page().goto(board.base)
        assert answer is not None and answer.status == 403
    finally:
        context.close()
    with urllib.request.urlopen(board.url, timeout=10) as ok:
        assert ok.status == 200


def test_the_page_is_usable_on_a_phone(board: BoardProcess, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    try:
        phone = context.new_page()
        phone.goto(board.url)
        phone.wait_for_selector("svg.chart path.line", state="attached")
        widths = phone.evaluate(
            "[document.documentElement.scrollWidth, document.body.scrollWidth, innerWidth]"
        )
        assert widths[0] <= widths[2] and widths[1] <= widths[2], widths
        box = phone.locator("[data-overall]").bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390
    finally:
        context.close()


def test_the_page_loads_nothing_from_elsewhere(board: BoardProcess, browser: Browser) -> None:
    context = browser.new_context()
    try:
        opened = context.new_page()
        asked: list[str] = []
        opened.on("request", lambda request: asked.append(request.url))
        opened.goto(board.url)
        opened.wait_for_selector("svg.chart path.line", state="attached")
        assert asked and all(url.startswith(board.base) for url in asked), asked
        size = len(urllib.request.urlopen(board.url, timeout=10).read())
        print(f"page weight: {size} bytes")
    finally:
        context.close()


def test_wtctl_board_without_a_daemon_and_no_autostart_says_so(ws: Workspace) -> None:
    done = subprocess.run(
        [str(BIN / "wtctl"), "board", "--no-autostart"],
        cwd=ws.root,
        env=ws.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 5, done.stderr
    assert "wtd unavailable" in done.stderr and done.stdout == ""
    assert not os.path.exists(ws.sock)


def test_ctrl_c_stops_the_board_quietly_with_pages_open(ws: Workspace) -> None:
    ws.ok("show progress")
    running = start_board(ws)
    host, port = running.base.removeprefix("http://").rstrip("/").split(":")
    pages = []
    for _ in range(3):  # open pages: their event streams
        page = socket.create_connection((host, int(port)), timeout=10)
        page.sendall(f"GET /events?token={running.token} HTTP/1.1\r\n\r\n".encode())
        assert b"text/event-stream" in page.recv(4096)
        pages.append(page)
    running.proc.send_signal(signal.SIGINT)
    _, err = running.proc.communicate(timeout=20)
    assert running.proc.returncode == 0
    assert "Traceback" not in err and "Exception" not in err, err
    for page in pages:
        page.close()


def _events_until(
    page: socket.socket,
    wanted: Callable[[dict[str, Any]], bool],
    within: float = 30.0,
    kind: str = "board",
) -> None:
    """Read the page's event stream until an event of ``kind`` (the board's data, or
    ``status``) passes ``wanted`` (the keepalives would otherwise keep a test waiting
    for ever)."""
    deadline = time.monotonic() + within
    head = f"event: {kind}\ndata: ".encode()
    buffer = b""
    while True:
        assert time.monotonic() < deadline, f"no {kind} event as wanted within {within} s"
        chunk = page.recv(65536)
        assert chunk, "the event stream ended"
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            if head in event and wanted(json.loads(event.split(b"data: ", 1)[1])):
                return


def _status_until(page: socket.socket, live: bool) -> None:
    """Read the page's event stream until a ``status`` event says ``live``."""
    _events_until(page, lambda data: data["live"] is live, kind="status")


@contextlib.contextmanager
def _event_stream(ws: Workspace, *args: str) -> Iterator[socket.socket]:
    """A board (``wtctl board *args``) and one page's event stream of it, raw."""
    running = start_board(ws, *args)
    try:
        host, port = running.base.removeprefix("http://").rstrip("/").split(":")
        page = socket.create_connection((host, int(port)), timeout=20)
        page.sendall(f"GET /events?token={running.token} HTTP/1.1\r\n\r\n".encode())
        with page:
            yield page
    finally:
        running.proc.send_signal(signal.SIGINT)
        running.proc.communicate(timeout=20)


def _names(data: dict[str, Any]) -> set[str]:
    return {t["name"] for t in data["trackers"]}


def test_a_tracker_created_or_deleted_shows_on_the_board(ws: Workspace) -> None:
    ws.ok("show progress")
    with _event_stream(ws) as page:
        _events_until(page, lambda d: _names(d) == {"my-project"})
        ws.ok("--skip-consent", "create initiative 7 called Third")
        _events_until(page, lambda d: "07-third" in _names(d))
        proc = ws.wtctl("--skip-consent", "--tracker", "07-third", "delete tracker", tracker=False)
        assert proc.returncode == 0, proc.stderr
        _events_until(page, lambda d: "07-third" not in _names(d))


def test_a_port_in_use_is_said_without_a_traceback(ws: Workspace) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [str(BIN / "wtctl"), "board", "--port", str(port)],
            cwd=ws.root,
            env=ws.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"cannot listen on port {port}" in proc.stderr and "--port" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_a_tracker_restored_shows_on_the_board_again(ws: Workspace) -> None:
    """``restore tracker`` (and ``undo`` of a delete) is told to followers: the board
    showed a restored tracker only after some other tracker's creation."""
    ws.ok("show progress")
    with _event_stream(ws) as page:
        _events_until(page, lambda d: _names(d) == {"my-project"})
        for bring_back in (("restore tracker my-project",), ("--tracker", "my-project", "undo")):
            proc = ws.wtctl("--skip-consent", "delete tracker")
            assert proc.returncode == 0, proc.stderr
            _events_until(page, lambda d: _names(d) == set())
            proc = ws.wtctl("--skip-consent", *bring_back, tracker=False)
            assert proc.returncode == 0, proc.stderr
            _events_until(page, lambda d: _names(d) == {"my-project"})


def test_no_autostart_board_does_not_start_wtd_again_when_it_dies(ws: Workspace) -> None:
    """``--no-autostart`` holds after wtd goes away too: the board waits for wtd (it
    started it again itself before), and resumes once someone else starts it."""
    ws.ok("show progress")
    with _event_stream(ws, "--no-autostart") as page:
        _events_until(page, lambda data: bool(data["live"]))  # the page is one of its pages
        ws.kill_daemon()
        _status_until(page, live=False)
        time.sleep(2.0)  # the board's first two tries to subscribe again (0.5 s, then 1 s)
        with socket.socket(socket.AF_UNIX) as probe, pytest.raises(OSError):
            probe.connect(str(ws.sock))  # nobody listens: wtd was not started again
        ws.ok("show progress")  # wtctl starts wtd: the board subscribes again
        _status_until(page, live=True)


def test_the_chart_of_a_tracker_without_changes_is_a_flat_line(
    ws: Workspace, browser: Browser
) -> None:
    """No change journalled yet (a tracker just imported): one point, now. The area
    under the line was a triangle and 'now' was written twice, over itself."""
    ws.ok("show progress")
    running = start_board(ws)
    context = browser.new_context(viewport={"width": 1000, "height": 900})
    try:
        opened = context.new_page()
        opened.goto(running.url)
        opened.wait_for_selector("svg.chart path.line", state="attached")
        assert opened.locator("svg.chart circle").count() == 0  # no change in the history
        labels = opened.locator("svg.chart text").all_text_contents()
        assert labels.count("now") == 1, labels
        area = opened.locator("svg.chart path.area").get_attribute("d") or ""
        line = opened.locator("svg.chart path.line").get_attribute("d") or ""
        left = re.match(r"M(-?[\d.]+),", line)
        assert left is not None, line
        # the area closes back at the line's left end: a rectangle, no diagonal
        assert re.search(rf"H{float(left.group(1)):g}(\.0)? Z$", area), (line, area)
    finally:
        context.close()
        running.proc.send_signal(signal.SIGINT)
        running.proc.communicate(timeout=20)
