"""Server actor: the Unix socket. Frames, handshake, peer check; one task per client.

Every client gets its own task, so a slow, silent or hostile client never holds up
another. Anything malformed gets a ``ProtocolError`` reply (and, when the framing
itself is lost, a closed connection); nothing a client sends can stop the daemon.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import struct
from pathlib import Path
from typing import assert_never

import anyio
import msgspec
from anyio.abc import SocketAttribute, SocketListener, SocketStream, TaskStatus
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

from wtd import __version__, protocol, wire
from wtd.actors import post
from wtd.messages import AddSubscriber, EventsMessage, Execute, OneShot

log = logging.getLogger("wtd.server")

HANDSHAKE_TIMEOUT = 10.0
IDLE_TIMEOUT = 3600.0
REPLY_TIMEOUT = 120.0
FRAME_TIMEOUT = 10.0  # once a frame has started, the rest must come within this
MAX_CONNECTIONS = 512
SEND_TIMEOUT = 10.0
SEND_RATE_FLOOR = 1 << 20  # bytes/s: a big reply gets more time, a stalled reader none
ACCEPT_BACKOFF = 0.05  # after a failed accept (EMFILE: out of file descriptors)


class ReplyOverdue(Exception):
    """The daemon could not answer in time; the connection is closed without a reply."""


def peer_uid(sock: socket.socket) -> int:
    """The connecting process's uid, from the kernel (SO_PEERCRED)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


class Server:
    name = "server"

    def __init__(
        self,
        socket_path: Path,
        *,
        executor: MemoryObjectSendStream[Execute],
        events: MemoryObjectSendStream[EventsMessage],
        listen_sock: socket.socket | None = None,
        max_connections: int = MAX_CONNECTIONS,
        frame_timeout: float = FRAME_TIMEOUT,
    ) -> None:
        self._path = socket_path
        self._executor = executor
        self._events = events
        self._sock = listen_sock
        self._start_monotonic = 0.0
        self._max_connections = max_connections
        self._frame_timeout = frame_timeout
        self._connections = 0
        self._last_refusal_logged = -1.0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        if self._sock is None:
            raise RuntimeError("server needs a bound, listening socket")
        listener = await SocketListener.from_socket(self._sock)
        self._start_monotonic = anyio.current_time()
        log.info("listening on %s", self._path)
        async with anyio.create_task_group() as tg:
            task_status.started()
            while True:
                try:
                    stream = await listener.accept()
                except (OSError, anyio.BrokenResourceError) as exc:
                    # EMFILE/ENFILE (a flood of clients used every descriptor), ECONNABORTED:
                    # anyio reports them as BrokenResourceError. Back off and keep serving;
                    # the connections already open finish and give descriptors back.
                    now = anyio.current_time()
                    if now - self._last_refusal_logged >= 1.0:
                        self._last_refusal_logged = now
                        log.warning("accept failed: %s", exc.__cause__ or exc)
                    await anyio.sleep(ACCEPT_BACKOFF)
                    continue
                tg.start_soon(self._client, stream)

    async def _client(self, stream: SocketStream) -> None:
        """One connection. Nothing a client does may escape this: it would take the
        whole Server actor (and every other client's connection) down with it."""
        self._connections += 1
        try:
            await self._client_within_cap(stream)
        finally:
            self._connections -= 1

    async def _client_within_cap(self, stream: SocketStream) -> None:
        async with stream:
            if self._connections > self._max_connections:
                now = anyio.current_time()
                if now - self._last_refusal_logged >= 1.0:  # a flood must not flood the log
                    self._last_refusal_logged = now
                    log.warning("refusing connections: %d open (cap)", self._connections - 1)
                # the refusal answers the client's hello, so that it reads it instead of
                # finding the connection closed under its first write
                with anyio.move_on_after(1), contextlib.suppress(Exception):
                    await _read_frame(BufferedByteReceiveStream(stream))
                await _try_send(
                    stream,
                    protocol.ProtocolError(
                        code=wire.BUSY,
                        message=(
                            f"wtd is serving {self._max_connections} connections already "
                            "([daemon] max_connections); try again shortly"
                        ),
                    ),
                )
                await _close_gently(stream)
                return
            try:
                await self._converse(stream)
            except (
                anyio.EndOfStream,
                anyio.IncompleteRead,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
            ):
                pass
            except ReplyOverdue:
                pass
            except wire.FrameTooLarge as exc:
                await _try_send(
                    stream, protocol.ProtocolError(code=wire.FRAME_TOO_LARGE, message=str(exc))
                )
            except TimeoutError:
                await _try_send(
                    stream,
                    protocol.ProtocolError(
                        code=wire.TIMEOUT, message="connection idle or a frame unfinished too long"
                    ),
                )
            except OSError as exc:
                log.debug("client connection error: %s", exc)
            except Exception:  # the boundary: log it, keep serving the others
                log.exception("unexpected error on a client connection")

    async def _converse(self, stream: SocketStream) -> None:
        raw = stream.extra(SocketAttribute.raw_socket)
        uid = peer_uid(raw)
        if uid != os.getuid():
            log.warning("refused connection from uid %d", uid)
            await _try_send(
                stream,
                protocol.ProtocolError(
                    code=wire.DENIED, message="this daemon serves only its own user"
                ),
            )
            return
        reader = BufferedByteReceiveStream(stream)
        with anyio.fail_after(HANDSHAKE_TIMEOUT):
            first = await _read_frame(reader)
        msg = _decode(first)
        if not isinstance(msg, protocol.Hello) or msg.version != wire.PROTOCOL_VERSION:
            await stream.send(
                protocol.frame(
                    protocol.ProtocolError(
                        code=wire.HANDSHAKE,
                        message=f"expected hello with protocol version {wire.PROTOCOL_VERSION}",
                    )
                )
            )
            return
        await stream.send(
            protocol.frame(
                protocol.Welcome(
                    version=wire.PROTOCOL_VERSION, server=f"wtd {__version__}", pid=os.getpid()
                )
            )
        )
        while True:
            try:
                with anyio.fail_after(IDLE_TIMEOUT):
                    first = await reader.receive_exactly(1)
                with anyio.fail_after(self._frame_timeout):
                    body = await _read_frame(reader, first)
            except anyio.IncompleteRead:
                return
            msg = _decode(body)
            if isinstance(msg, protocol.Subscribe):
                await self._stream_events(stream, reader, msg)
                return
            data = protocol.frame(await self._answer(msg, uid))  # the Reply itself is dropped
            await _send_reply(stream, raw, data)

    async def _stream_events(
        self, stream: SocketStream, reader: BufferedByteReceiveStream, msg: protocol.Subscribe
    ) -> None:
        """Push events until the client goes away (anything it sends, or EOF, ends it)."""
        send, recv = anyio.create_memory_object_stream[protocol.Event](256)
        await post(self._events, AddSubscriber(workspace=msg.workspace, stream=send))
        await stream.send(protocol.frame(protocol.Subscribed(id=msg.id)))
        async with anyio.create_task_group() as tg:

            async def until_client_leaves() -> None:
                with contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                    await reader.receive()
                tg.cancel_scope.cancel()

            tg.start_soon(until_client_leaves)
            with recv:
                async for event in recv:
                    await stream.send(protocol.frame(event))

    async def _answer(
        self, msg: protocol.ClientMessage | protocol.ProtocolError, uid: int
    ) -> msgspec.Struct:
        match msg:
            case protocol.Request():
                # If the Executor crashes holding the request, it is sent once more to the
                # restarted Executor: the request id keeps a change from applying twice.
                for _attempt in range(2):
                    reply = OneShot[protocol.Reply]()
                    await post(self._executor, Execute(request=msg, peer_uid=uid, reply_to=reply))
                    try:
                        return await reply.wait(REPLY_TIMEOUT)
                    except anyio.EndOfStream:
                        log.warning("executor lost request %s; sending it again", msg.id)
                    except TimeoutError:
                        # No reply, not a failure: the change may still land. Closing the
                        # connection tells the client to retry with the same request id.
                        log.error("request %s unanswered after %gs", msg.id, REPLY_TIMEOUT)
                        raise ReplyOverdue(msg.id) from None
                # It may have been applied before the Executor failed: not a failure
                # but an unknown outcome, settled by a retry with the same id.
                return protocol.Reply(
                    id=msg.id,
                    ok=False,
                    exit_code=wire.exit_code(wire.OUTCOME_UNKNOWN),
                    error=protocol.ErrorInfo(
                        code=wire.OUTCOME_UNKNOWN,
                        message=(
                            "the daemon could not finish this request, so whether it was "
                            "applied is not known; retry it (the same request id is applied "
                            "at most once)"
                        ),
                    ),
                )
            case protocol.Ping():
                return protocol.Pong(
                    id=msg.id,
                    server=f"wtd {__version__}",
                    pid=os.getpid(),
                    uptime_s=round(anyio.current_time() - self._start_monotonic, 3),
                )
            case protocol.Hello():
                return protocol.ProtocolError(code=wire.BAD_REQUEST, message="already greeted")
            case protocol.Subscribe():
                raise AssertionError("handled by _stream_events")
            case protocol.ProtocolError():
                return msg
            case _:
                assert_never(msg)


def _decode(body: bytes) -> protocol.ClientMessage | protocol.ProtocolError:
    try:
        request: protocol.ClientMessage = protocol.request_decoder.decode(body)
    except msgspec.DecodeError as exc:
        return protocol.ProtocolError(code=wire.BAD_REQUEST, message=f"malformed request: {exc}")
    return request


async def _read_frame(reader: BufferedByteReceiveStream, start: bytes = b"") -> bytes:
    """One frame (``start``: its first bytes, already read)."""
    header = start + await reader.receive_exactly(wire.HEADER_SIZE - len(start))
    return await reader.receive_exactly(wire.body_length(header, wire.MAX_FRAME))


async def _send_reply(stream: SocketStream, raw: socket.socket, data: bytes) -> None:
    """Send a reply: at once when the socket takes it whole (the usual case: no
    deadline to set up, no trip through the loop), else the rest with a deadline —
    a client that stops reading must not hold its connection (and the reply's
    memory) for ever."""
    try:
        sent = raw.send(data)
    except BlockingIOError:
        sent = 0
    except OSError as exc:  # as the stream's own send reports it
        raise anyio.BrokenResourceError from exc
    if sent < len(data):
        with anyio.fail_after(SEND_TIMEOUT + len(data) / SEND_RATE_FLOOR):
            await stream.send(data[sent:])


async def _close_gently(stream: SocketStream) -> None:
    """Half-close and read what the client still sends (briefly), so that closing does
    not reset the connection before the client has read the answer."""
    with anyio.move_on_after(1), contextlib.suppress(Exception):
        await stream.send_eof()
        while await stream.receive():
            pass


async def _try_send(stream: SocketStream, msg: msgspec.Struct) -> None:
    try:
        with anyio.move_on_after(1):
            await stream.send(protocol.frame(msg))
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError):
        pass
