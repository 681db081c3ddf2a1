"""Messages between actors inside wtd (never on the wire).

Commands are imperative, events past tense, replies nouns. A request that wants an
answer carries ``reply_to``, the send side of a one-slot memory stream owned by
the asker; the actor answers exactly once (or the stream is closed, which the asker
sees as the actor having failed).
"""

from __future__ import annotations

from typing import Any

import msgspec
from anyio.streams.memory import MemoryObjectSendStream

from wtd import protocol
from wtd.tracker import commands
from wtd.workspace import TrackerPaths


class _Msg(msgspec.Struct, frozen=True, kw_only=True):
    pass


# -------------------------------------------------------- Server → Executor


class Execute(_Msg, frozen=True):
    """Run a client's command and answer with a wire Reply."""

    request: protocol.Command
    peer_uid: int
    reply_to: MemoryObjectSendStream[protocol.Reply]


# -------------------------------------------------------- Executor → Store


class Outcome(_Msg, frozen=True):
    """A Store's answer to Apply: either lines/result or an error."""

    ok: bool
    lines: list[str] = []
    healing: list[str] = []
    result: Any = None
    error: protocol.ErrorInfo | None = None
    tracker: str = ""
    progress: int | None = None


class Apply(_Msg, frozen=True):
    """Answer a query or apply a change to one tracker, through its journal."""

    rid: str
    command: commands.Command
    actor: str
    reply_to: MemoryObjectSendStream[Outcome]


# -------------------------------------------------------- anyone → Monitor


class OperationFinished(_Msg, frozen=True):
    """An operation ended. User mistakes are sent with ``counted=False``."""

    ok: bool
    duration_ms: float
    counted: bool = True
    error_code: str | None = None


class CircuitChanged(_Msg, frozen=True):
    name: str
    is_open: bool


class HealthReport(_Msg, frozen=True):
    summary: str
    verbose: list[str]
    data: dict[str, Any]


class GetHealth(_Msg, frozen=True):
    reply_to: MemoryObjectSendStream[HealthReport]


MonitorMessage = OperationFinished | CircuitChanged | GetHealth


class OpenStore(_Msg, frozen=True):
    """Internal to the Executor: a tracker it has not served yet."""

    paths: TrackerPaths
