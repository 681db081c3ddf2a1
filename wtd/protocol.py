"""The wire's messages as msgspec Structs: handshake, tagged requests and replies.

Framing, the version, the frame cap, the type tags and the error codes are
``wtd.wire``'s (stdlib only, shared with the clients); this module gives each
message its fields. The client opens with ``Hello``; the daemon answers ``Welcome``
(or ``ProtocolError`` and closes). After that every request frame gets exactly one
reply frame with the same ``id``. Frames over ``MAX_FRAME`` bytes, malformed JSON
and unknown message types get a ``ProtocolError`` reply; none of them can disturb
the daemon.

The clients speak this with ``wtd.wire`` (stdlib only, to stay cheap to start);
these Structs are the authority and ``tests/test_wire.py`` checks the two agree.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

import msgspec

from wtd import wire
from wtd.wire import HEADER_SIZE, MAX_FRAME, PROTOCOL_VERSION, REPLY_SCHEMA

__all__ = [
    "HEADER_SIZE",
    "MAX_FRAME",
    "PROTOCOL_VERSION",
    "REPLY_SCHEMA",
    "ClientMessage",
    "Command",
    "DaemonMessage",
    "ErrorInfo",
    "Event",
    "Hello",
    "Options",
    "Ping",
    "Pong",
    "ProtocolError",
    "Reply",
    "Request",
    "Response",
    "Subscribe",
    "Subscribed",
    "Welcome",
    "encoder",
    "frame",
    "hello",
    "request_decoder",
    "response_decoder",
]


MAX_REQUEST_ID: Final = 256  # characters of a request id


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    pass


# ------------------------------------------------------------ client → daemon


class Hello(_Msg, tag=wire.HELLO, frozen=True):
    version: int
    client: str = ""


class Options(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Per-request flags from the command line (SPEC §4)."""

    show_health: bool = False
    verbose: bool = False
    skip_consent: bool = False
    agent: str | None = None
    subagent: bool = False
    consent_token: str | None = None  # answers the consent question of an earlier reply


class Request(_Msg, tag=wire.REQUEST, frozen=True):
    """Run one phrase against one tracker. ``id`` makes a retry apply at most once.

    Tagged ``"command"`` on the wire (``wire.REQUEST``); named ``Request`` so it is not
    taken for a tracker command (``wtd.tracker.commands.Command``)."""

    # journalled with the change it names, and kept per workspace: bounded
    id: Annotated[str, msgspec.Meta(max_length=MAX_REQUEST_ID)]
    phrase: str
    cwd: str
    tracker: str | None = None
    options: Options = Options()


class Ping(_Msg, tag=wire.PING, frozen=True):
    id: str = ""


class Subscribe(_Msg, tag=wire.SUBSCRIBE, frozen=True):
    """Turn this connection into an event stream (``Subscribed``, then ``Event`` frames).

    ``workspace`` (absolute) limits the stream to one workspace; empty means all.
    """

    id: str = ""
    workspace: str = ""


Command = Request  # the former name, kept for the code that still uses it

ClientMessage = Hello | Request | Ping | Subscribe


# ------------------------------------------------------------ daemon → client


class Welcome(_Msg, tag=wire.WELCOME, frozen=True):
    version: int
    server: str
    pid: int


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    suggestions: list[str] = []


class Reply(_Msg, tag=wire.REPLY, frozen=True):
    """The answer to a Request. ``exit_code`` is what wtctl exits with (SPEC §4)."""

    id: str
    ok: bool
    exit_code: int
    lines: list[str] = []
    healing: list[str] = []
    result: Any = None
    error: ErrorInfo | None = None
    health: dict[str, Any] | None = None
    health_lines: list[str] = []
    tracker: str | None = None


class Pong(_Msg, tag=wire.PONG, frozen=True):
    id: str = ""
    server: str = ""
    pid: int = 0
    uptime_s: float = 0.0
    trackers: list[str] = []


class Subscribed(_Msg, tag=wire.SUBSCRIBED, frozen=True):
    id: str = ""


class Event(_Msg, tag=wire.EVENT, frozen=True):
    """Something changed that a live view should show (pushed to subscribers).

    ``kind``: ``changed`` (a tracker change, by ``actor``), ``healed`` (the daemon
    recovered from a fault), ``circuit`` (a breaker opened or closed), ``lagged``
    (this subscriber was too slow and missed ``missed`` events).
    """

    seq: int
    kind: str
    at: str
    tracker: str = ""
    workspace: str = ""
    actor: str = ""
    lines: list[str] = []
    progress: int | None = None
    missed: int = 0


class ProtocolError(_Msg, tag=wire.PROTOCOL_ERROR, frozen=True):
    code: str
    message: str
    id: str = ""


DaemonMessage = Welcome | Reply | Pong | Subscribed | Event | ProtocolError
Response = DaemonMessage

request_decoder: Final = msgspec.json.Decoder(ClientMessage)
response_decoder: Final = msgspec.json.Decoder(DaemonMessage)
encoder: Final = msgspec.json.Encoder()


def frame(msg: msgspec.Struct) -> bytes:
    """``msg`` as one frame (``wire.frame`` of its JSON)."""
    return wire.frame(encoder.encode(msg))


def hello() -> Hello:
    return Hello(version=PROTOCOL_VERSION)
