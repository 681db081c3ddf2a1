"""The board's server: the page, its data and its live updates, on 127.0.0.1.

    GET /?token=T          the page (inline HTML, CSS and JS: it works offline)
    GET /data?token=T      every tracker shown, as JSON (``snapshot``)
    GET /events?token=T    server-sent events: ``board`` (everything) first, then
                           ``tracker`` (one tracker again) as changes land

One subscription to wtd's event stream per board, whatever the number of pages:
each event marks its tracker to be asked again; a refresher drains the marks (a
burst of changes costs one round of questions) and pushes the result to every open
page. If wtd goes away the pages are told (``status``) and the board subscribes
again, starting wtd as ``wtctl`` would (with ``--no-autostart``: waiting for it to
be back), then sends everything afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
from importlib import resources
from pathlib import PurePosixPath
from typing import Any

from wtctl import aio
from wtctl.board import http
from wtctl.board.snapshot import Refused, Source
from wtd import wire

KEEPALIVE = 15.0  # seconds between comments on an idle stream (a dead page shows up)
PAGE_QUEUE = 64  # updates a slow page may fall behind before it is dropped (it reconnects)
RESUBSCRIBE = (0.5, 1.0, 2.0, 5.0)  # pauses between tries while wtd is away (the last repeats)


def page_html() -> bytes:
    return resources.files("wtctl.board").joinpath("page.html").read_bytes()


class Board:
    """The trackers as last asked, the pages watching, and what is to be asked again."""

    def __init__(
        self, source: Source, token: str, page: bytes | None = None, *, autostart: bool = True
    ) -> None:
        self.source = source
        self.autostart = autostart  # False (--no-autostart): wait for wtd, never start it
        self.token = token
        self.page = page_html() if page is None else page
        self.trackers: dict[str, dict[str, Any]] = {}  # by name, in the board's order
        self.live = True  # wtd's event stream is flowing
        self.pages: dict[asyncio.Queue[bytes], asyncio.StreamWriter] = {}
        self.connections: set[asyncio.StreamWriter] = set()
        self._dirty: set[str] = set()  # tracker names; "" means: the list itself
        self._wake = asyncio.Event()

    # ------------------------------------------------------------------ data

    def data(self) -> dict[str, Any]:
        return {
            "workspace": self.source.workspace,
            "live": self.live,
            "trackers": list(self.trackers.values()),
        }

    async def refresh_all(self) -> None:
        fresh = await self.source.everything()
        self.trackers = {t["name"]: t for t in fresh["trackers"]}
        self.push(http.sse("board", self.data()))

    async def refresh(self, name: str) -> None:
        try:
            view = await self.source.tracker(name)
        except Refused:
            await self.refresh_all()  # gone (deleted, renamed): the list is asked again
            return
        self.trackers[name] = view
        self.push(http.sse("tracker", view))

    def changed(self, event: dict[str, Any]) -> None:
        """An event from wtd: its tracker is asked again (a new one: the list too)."""
        label = wire.tracker(event)
        name = PurePosixPath(str(label)).stem if label else ""
        if self.source.only is not None and name != self.source.only:
            return
        self._dirty.add(name if name in self.trackers else "")
        self._wake.set()

    async def refresher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            dirty, self._dirty = self._dirty, set()
            try:
                if "" in dirty:
                    await self.refresh_all()
                else:
                    for name in sorted(dirty):
                        await self.refresh(name)
            except (aio.ConnectionLost, aio.Unavailable):
                continue  # the follower notices too, and refreshes everything once back

    # ------------------------------------------------------------------ wtd's events

    async def follow(self, path: str, first: aio.Subscription | None = None) -> None:
        """Feed the refresher from wtd's event stream, subscribing again when it breaks."""
        stream = first
        while True:
            if stream is None:
                stream = await self._resubscribe(path)
                self._set_live(True)
                self._dirty.add("")
                self._wake.set()
            try:
                async for event in stream:
                    if wire.kind(event) == wire.EVENT:
                        self.changed(event)
            except aio.ConnectionLost:
                pass
            finally:
                await stream.close()
            stream = None
            self._set_live(False)

    async def _resubscribe(self, path: str) -> aio.Subscription:
        for attempt in range(1_000_000):
            await asyncio.sleep(RESUBSCRIBE[min(attempt, len(RESUBSCRIBE) - 1)])
            with contextlib.suppress(aio.Unavailable, aio.ConnectionLost, OSError, TimeoutError):
                return await aio.subscribe(path, self.source.workspace, autostart=self.autostart)
        raise aio.Unavailable("wtd did not come back")

    def _set_live(self, live: bool) -> None:
        self.live = live
        self.push(http.sse("status", {"live": live}))

    # ------------------------------------------------------------------ pages

    def push(self, chunk: bytes) -> None:
        for queue, writer in list(self.pages.items()):
            try:
                queue.put_nowait(chunk)
            except asyncio.QueueFull:
                # too far behind (a background tab, a slow link): its connection is
                # closed, so that its EventSource reconnects and starts from everything
                del self.pages[queue]
                writer.transport.abort()

    async def keepalive(self) -> None:
        while True:
            await asyncio.sleep(KEEPALIVE)
            self.push(b": keepalive\n\n")

    def close_all(self) -> None:
        """End every connection (stopping): their handlers then end as they always do."""
        for writer in list(self.connections):
            writer.transport.abort()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One HTTP connection: one request, answered, then closed (events: kept open)."""
        self.connections.add(writer)
        try:
            try:
                request = await http.read_request(reader)
            except http.BadRequest:
                writer.write(http.text(400, "Bad request"))
                return
            writer.write(await self.answer(request, reader, writer))
        except ConnectionError:
            pass
        finally:
            self.connections.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def answer(
        self, request: http.Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bytes:
        if not http.token_ok(request.param("token"), self.token):
            return http.text(403, "Forbidden: open the URL wtctl board printed (with its token)")
        if request.method not in ("GET", "HEAD"):
            return http.text(405, "The board is read-only")
        with_body = request.method == "GET"
        match request.path:
            case "/":
                return http.response(
                    200, self.page, "text/html; charset=utf-8", with_body=with_body
                )
            case "/data":
                return http.json_response(self.data(), with_body=with_body)
            case "/events" if with_body:
                await self.stream(reader, writer)
                return b""
            case _:
                return http.text(404, "Not found")

    async def stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Server-sent events until the page goes away (a page sends nothing more: EOF)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(PAGE_QUEUE)
        writer.write(http.event_stream_head() + b"retry: 1000\n\n" + http.sse("board", self.data()))
        self.pages[queue] = writer
        try:
            async with asyncio.TaskGroup() as tg:
                pump = tg.create_task(_pump(queue, writer))
                await reader.read()
                pump.cancel()
        except* ConnectionError:
            pass
        finally:
            self.pages.pop(queue, None)


async def _pump(queue: asyncio.Queue[bytes], writer: asyncio.StreamWriter) -> None:
    while True:
        writer.write(await queue.get())
        await writer.drain()


async def serve(board: Board, port: int, path: str, first: aio.Subscription, ready: Any) -> None:
    """Serve until cancelled; ``ready(url)`` once the port is open."""
    server = await asyncio.start_server(board.handle, "127.0.0.1", port)
    async with server:
        bound = server.sockets[0].getsockname()[1]
        ready(f"http://127.0.0.1:{bound}/?token={board.token}")
        async with asyncio.TaskGroup() as tg:
            tg.create_task(board.follow(path, first))
            tg.create_task(board.refresher())
            tg.create_task(board.keepalive())
            await server.serve_forever()
