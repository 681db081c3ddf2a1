"""The wire between wtctl and wtd: framing, handshake, tagged requests and replies.

A frame is a 4-byte big-endian length followed by that many bytes of JSON. The
client opens with ``Hello``; the daemon answers ``Welcome`` (or ``ProtocolError``
and closes). After that every request frame gets exactly one reply frame with the
same ``id``. Frames over ``MAX_FRAME`` bytes, malformed JSON and unknown message
types get a ``ProtocolError`` reply; none of them can disturb the daemon.

The one-shot client speaks this with the stdlib ``json`` module (to stay cheap to
start); these Structs are the authority and tests check the two agree.
"""

from __future__ import annotations

import struct
from typing import Any, Final

import msgspec

from wtd import PROTOCOL_VERSION

MAX_FRAME: Final = 1 << 20
HEADER: Final = struct.Struct(">I")
REPLY_SCHEMA: Final = 1


class _Msg(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", omit_defaults=True):
    pass


# ------------------------------------------------------------ client → daemon


class Hello(_Msg, tag="hello", frozen=True):
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


class Command(_Msg, tag="command", frozen=True):
    """Run one phrase against one tracker. ``id`` makes a retry apply at most once."""

    id: str
    phrase: str
    cwd: str
    tracker: str | None = None
    options: Options = Options()


class Ping(_Msg, tag="ping", frozen=True):
    id: str = ""


class Subscribe(_Msg, tag="subscribe", frozen=True):
    """Turn this connection into an event stream (``Subscribed``, then ``Event`` frames).

    ``workspace`` (absolute) limits the stream to one workspace; empty means all.
    """

    id: str = ""
    workspace: str = ""


Request = Hello | Command | Ping | Subscribe


# ------------------------------------------------------------ daemon → client


class Welcome(_Msg, tag="welcome", frozen=True):
    version: int
    server: str
    pid: int


class ErrorInfo(msgspec.Struct, frozen=True, kw_only=True):
    code: str
    message: str
    suggestions: list[str] = []


class Reply(_Msg, tag="reply", frozen=True):
    """The answer to a Command. ``exit_code`` is what wtctl exits with (SPEC §4)."""

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


class Pong(_Msg, tag="pong", frozen=True):
    id: str = ""
    server: str = ""
    pid: int = 0
    uptime_s: float = 0.0
    trackers: list[str] = []


class Subscribed(_Msg, tag="subscribed", frozen=True):
    id: str = ""


class Event(_Msg, tag="event", frozen=True):
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


class ProtocolError(_Msg, tag="protocol_error", frozen=True):
    code: str
    message: str
    id: str = ""


Response = Welcome | Reply | Pong | Subscribed | Event | ProtocolError

request_decoder: Final = msgspec.json.Decoder(Request)
response_decoder: Final = msgspec.json.Decoder(Response)
encoder: Final = msgspec.json.Encoder()


def frame(msg: msgspec.Struct) -> bytes:
    body = encoder.encode(msg)
    return HEADER.pack(len(body)) + body


def hello() -> Hello:
    return Hello(version=PROTOCOL_VERSION)
