"""Talking to wtd: connect (starting the daemon if nobody answers), handshake, requests,
and the one-shot's ``Session``: one connection kept across phrases, a request sent
again (same id, so the daemon applies it at most once) when the connection drops,
when wtd answers that the outcome is unknown, and to the wtd that owns the
workspace when this one says it is served elsewhere (SPEC §2).

Deliberately stdlib-only and small: this is on the path agents call hundreds of
times a day, so it must not pay for importing the daemon's dependencies. Frames
and messages are ``wtd.wire``'s.
"""

from __future__ import annotations

import _socket  # not ``socket``: see _connect_once
import os
import time

from wtd import wire

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the one-shot path ~4 ms
if TYPE_CHECKING:
    from typing import Any

PROTOCOL_VERSION = wire.PROTOCOL_VERSION
MAX_FRAME = wire.MAX_FRAME  # requests only: replies have no size limit (SPEC §4)
HANDSHAKE_TIMEOUT = 10.0


# Longer than the daemon's own reply deadline (120 s), so the daemon decides first.
def _seconds(name: str, default: float) -> float:
    """``$name`` as seconds (over 0); ``default`` when unset or not a number."""
    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value > 0 else default


REPLY_TIMEOUT = _seconds("WTCTL_TIMEOUT", 150.0)
AUTOSTART_ATTEMPTS = 3
RETRIES_AFTER_LOSS = 2
OWNER_RETRIES = (0.1, 0.3, 0.6)
UNKNOWN_RETRIES = (0.2, 1.0)  # seconds between tries when the owning wtd is unreachable


class Unavailable(Exception):
    """No daemon could be reached (exit code 5)."""


class ConnectionLost(Exception):
    """The daemon went away before answering."""


class OutcomeUnknown(Unavailable):
    """The request went out, and no answer came back (exit code 5): whether a change
    was applied is not known."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"no answer from wtd after the request was sent ({reason}): whether it was "
            "carried out is not known; see `wtctl history` before you run a change again"
        )


class Unsendable(Exception):
    """A request that cannot be sent as it is (exit code 2: nothing was sent)."""


class RequestTooLarge(Unsendable):
    """A request over the 1 MiB frame cap (exit code 2: nothing was sent)."""


def encoded(message: dict[str, Any]) -> bytes:
    """``message`` as a frame's body; Unsendable when it is not text (bytes that are
    not UTF-8, read from a file or a terminal in another encoding, arrive as lone
    surrogates) or over the frame cap."""
    try:
        body = wire.encode(message)
    except UnicodeEncodeError as exc:
        text = exc.object[exc.start : exc.end]
        try:  # the bytes read, when they were bytes that are not UTF-8
            bad = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # any other lone surrogate, shown escaped
            bad = text.encode("utf-8", "backslashreplace")
        raise Unsendable(
            f"not sent: it is not UTF-8 text (bytes {bad!r}); "
            "save it as UTF-8, or type it in a UTF-8 terminal"
        ) from None
    if len(body) > MAX_FRAME:
        raise RequestTooLarge(wire.too_large("request", len(body)))
    return body


class Connection:
    def __init__(self, sock: _socket.socket, welcome: dict[str, Any]) -> None:
        self.sock = sock
        self.welcome = welcome

    def send(self, message: dict[str, Any]) -> None:
        self.sock.sendall(wire.frame(encoded(message)))

    def receive(self) -> dict[str, Any]:
        try:
            return wire.decode(wire.recv_frame(self.sock))
        except EOFError:
            raise ConnectionLost("the daemon closed the connection") from None
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc

    def request(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            self.send(message)
        except OSError as exc:
            raise ConnectionLost(str(exc)) from exc
        return self.receive()

    def close(self) -> None:
        self.sock.close()


def _connect_once(path: str, first: dict[str, Any] | None = None) -> Connection:
    # The C socket object: the ``socket`` module around it costs the one-shot ~1.5 ms to
    # import (its enum conversions, ``selectors``) and adds nothing this client uses.
    frames = wire.frame(wire.encode(wire.hello()))
    if first is not None:  # sent behind the hello: wtd reads it once it has welcomed us
        body = encoded(first)
        frames += wire.frame(body)
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    sock.settimeout(HANDSHAKE_TIMEOUT)
    try:
        sock.connect(path)
        conn = Connection(sock, {})
        sock.sendall(frames)
        conn.welcome = conn.receive()
        sock.settimeout(REPLY_TIMEOUT)
    except BaseException:
        sock.close()
        raise
    if wire.kind(conn.welcome) != wire.WELCOME:
        sock.close()
        raise Unavailable(f"wtd refused the connection: {wire.refusal(conn.welcome)}")
    return conn


def connect(path: str, *, autostart: bool, first: dict[str, Any] | None = None) -> Connection:
    """Connect to the daemon at ``path``, starting one first if nobody answers.

    A daemon that is just dying (socket still there, connection reset) counts as
    nobody answering; a start that loses a race with another starter is retried.
    ``first``: a request sent with the hello, one round trip sooner; its reply is the
    connection's next frame (``Connection.receive``). A retry sends it again, with
    its id: wtd applies it at most once.
    """
    failed: str | None = None  # why the last wtd started did not serve
    for _attempt in range(AUTOSTART_ATTEMPTS):
        try:
            return _connect_once(path, first)
        except (OSError, ConnectionLost) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            if not autostart:
                raise Unavailable(f"no wtd is answering on {path} ({reason})") from None
        # imported only when nobody answers: most calls find wtd running
        from wtctl.autostart import not_started, start_daemon

        # (one that lost a start race to another wtd exits too: connect again first)
        failed = start_daemon(path) or failed
    raise Unavailable(not_started(path, reason, failed))


class Session:
    """One connection, re-established (same request id) if the daemon restarts mid-request."""

    def __init__(self, path: str, *, autostart: bool) -> None:
        self.path = path
        self.autostart = autostart
        self.conn: Connection | None = None
        self._home = (path, autostart)  # this shell's own wtd, before any redirect

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        try:
            return self._ask_owner(message)
        except Unavailable:
            if (self.path, self.autostart) == self._home:
                raise
        # The owner this session was sent to went away (killed, stopped): this shell's
        # own wtd takes the workspace over (replaying the owner's journal) and settles
        # the same request id — answered from the journal if the owner applied it.
        self.close()
        self.path, self.autostart = self._home
        return self._ask_owner(message)

    def _ask_owner(self, message: dict[str, Any]) -> dict[str, Any]:
        reply = self._ask(message)
        for pause in UNKNOWN_RETRIES:  # wtd failed mid-request: the same id settles it
            if wire.error_code(reply) != wire.OUTCOME_UNKNOWN:
                break
            time.sleep(pause)
            reply = self._ask(message)
        for pause in OWNER_RETRIES:
            owner = wire.owner_socket(reply, self.path)
            if owner is None:
                return reply
            # Another wtd owns this workspace (another shell's socket): the same request,
            # same id, goes to it, and so does the rest of this session (SPEC §2).
            try:
                moved = connect(owner, autostart=False)
            except (Unavailable, ConnectionLost):
                # unreachable: it may be stopping (its lock goes with it); ask again here
                time.sleep(pause)
                reply = self._ask(message)
                continue
            self.close()
            self.conn, self.path = moved, owner
            self.autostart = False
            return self._ask(message)
        return reply  # its message names the owner's socket

    def _ask(self, message: dict[str, Any]) -> dict[str, Any]:
        lost: str | None = None  # why the last connection went: the request may be applied
        for attempt in range(RETRIES_AFTER_LOSS + 1):
            try:
                if self.conn is None:
                    self.conn = connect(self.path, autostart=self.autostart, first=message)
                    return self.conn.receive()
                return self.conn.request(message)
            except ConnectionLost as exc:
                lost = str(exc) or "the connection was lost"
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None
                if attempt == RETRIES_AFTER_LOSS:
                    raise OutcomeUnknown(lost) from None
            except Unavailable as exc:
                if lost is None or isinstance(exc, OutcomeUnknown):
                    raise
                raise OutcomeUnknown(f"{lost}; then {exc}") from None
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
