"""Talking to wtd from asyncio: the REPL's client (the one-shot path uses ``connection``).

Same wire as ``wtctl.connection`` (``wtd.wire``: 4-byte big-endian length + JSON, a
``hello`` / ``welcome`` handshake first), over ``asyncio.open_unix_connection``. A ``Client``
serves one request at a time and pairs each reply with its request by ``id``; a
``Subscription`` is a connection turned into an event stream. Autostart reuses
``wtctl.autostart.start_daemon`` (in a worker thread: it blocks until the new
daemon says it serves).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from wtctl.autostart import not_started, start_daemon
from wtctl.connection import (
    AUTOSTART_ATTEMPTS,
    HANDSHAKE_TIMEOUT,
    ConnectionLost,
    RequestTooLarge,
    Unavailable,
    Unsendable,
    encoded,
)
from wtd import wire

__all__ = [
    "Client",
    "ConnectionLost",
    "RequestTooLarge",
    "Subscription",
    "Unavailable",
    "Unsendable",
    "connect",
    "subscribe",
]


class _Stream:
    """One framed connection: send a message, receive the next message."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.welcome: dict[str, Any] = {}

    async def send(self, message: dict[str, Any]) -> None:
        body = encoded(message)
        try:
            self.writer.write(wire.frame(body))
            await self.writer.drain()
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc

    async def receive(self) -> dict[str, Any]:
        try:
            body = await wire.read_frame(self.reader)
        except asyncio.IncompleteReadError as exc:
            raise ConnectionLost("the daemon closed the connection") from exc
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc
        return wire.decode(body)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):  # already gone: nothing left to flush
            await self.writer.wait_closed()


async def _open_once(path: str) -> _Stream:
    reader, writer = await asyncio.open_unix_connection(path, limit=wire.MAX_FRAME + 64)
    stream = _Stream(reader, writer)
    try:
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            await stream.send(wire.hello())
            stream.welcome = await stream.receive()
    except BaseException:
        await stream.close()
        raise
    if wire.kind(stream.welcome) != wire.WELCOME:
        await stream.close()
        raise Unavailable(f"wtd refused the connection: {wire.refusal(stream.welcome)}")
    return stream


async def _open(path: str, *, autostart: bool) -> _Stream:
    """Connect and shake hands, starting a daemon first if nobody answers."""
    reason = "no answer"
    failed: str | None = None  # why the last wtd started did not serve
    for _attempt in range(AUTOSTART_ATTEMPTS):
        try:
            return await _open_once(path)
        except (OSError, ConnectionLost, TimeoutError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            if not autostart:
                raise Unavailable(f"no wtd is answering on {path} ({reason})") from None
        # (one that lost a start race to another wtd exits too: connect again first)
        failed = await asyncio.to_thread(start_daemon, path) or failed
    raise Unavailable(not_started(path, reason, failed))


class Client:
    """A request/reply connection; reconnects (same request id) if the daemon restarts."""

    def __init__(self, path: str, *, autostart: bool) -> None:
        self.path = path
        self.autostart = autostart
        self._stream: _Stream | None = None
        self._lock = asyncio.Lock()

    @property
    def welcome(self) -> dict[str, Any]:
        return self._stream.welcome if self._stream is not None else {}

    async def open(self) -> None:
        if self._stream is None:
            self._stream = await _open(self.path, autostart=self.autostart)

    async def request(self, message: dict[str, Any], *, retries: int = 1) -> dict[str, Any]:
        """Send ``message`` and return the frame answering it (same ``id``).

        One request at a time per client; concurrent callers queue. If the
        connection drops, it is reopened and the same message (same id, so the
        daemon applies it at most once) is sent again, ``retries`` times.
        """
        async with self._lock:
            for attempt in range(retries + 1):
                await self.open()
                assert self._stream is not None
                try:
                    await self._stream.send(message)
                    while True:
                        answer = await self._stream.receive()
                        if wire.answers(answer, message):
                            break
                    owner = wire.owner_socket(answer, self.path)
                    if owner is None:
                        return answer
                    # Another wtd owns this workspace: talk to it from now on (SPEC §2).
                    try:
                        moved = await _open(owner, autostart=False)
                    except (Unavailable, ConnectionLost, OSError, TimeoutError):
                        return answer  # its message names the owner's socket
                    await self._drop()
                    self._stream, self.path, self.autostart = moved, owner, False
                    await moved.send(message)
                    while True:
                        answer = await moved.receive()
                        if wire.answers(answer, message):
                            return answer
                except ConnectionLost:
                    await self._drop()
                    if attempt == retries:
                        raise
            raise AssertionError("unreachable")

    async def _drop(self) -> None:
        if self._stream is not None:
            stream, self._stream = self._stream, None
            await stream.close()

    async def close(self) -> None:
        await self._drop()


class Subscription:
    """An event stream: the ``subscribed`` answer has arrived; iterate for ``event`` frames."""

    def __init__(self, stream: _Stream) -> None:
        self._stream = stream

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            yield await self._stream.receive()

    async def close(self) -> None:
        await self._stream.close()


async def connect(path: str, *, autostart: bool) -> Client:
    client = Client(path, autostart=autostart)
    await client.open()
    return client


async def subscribe(path: str, workspace: str, *, autostart: bool) -> Subscription:
    """Open a connection and subscribe it to ``workspace``'s events ("" = all)."""
    stream = await _open(path, autostart=autostart)
    try:
        await stream.send(wire.subscribe("repl", workspace))
        answer = await stream.receive()
    except BaseException:
        await stream.close()
        raise
    if wire.kind(answer) != wire.SUBSCRIBED:
        await stream.close()
        raise Unavailable(f"wtd refused the subscription: {wire.refusal(answer)}")
    return Subscription(stream)
