"""The wire between wtctl and wtd, defined once: version, frame cap, framing, tags,
codes, and every message in its plain form (a dict, as ``json`` reads it).

A frame is a 4-byte big-endian length followed by that many bytes of JSON. The
client opens with ``hello``; the daemon answers ``welcome`` (or ``protocol_error``
and closes). After that every request frame gets exactly one reply frame with the
same ``id``; a ``subscribe`` turns the connection into a stream of ``event`` frames.

The daemon frames its msgspec Structs (``wtd.protocol``, the authority on each
message's fields) with this module; both clients (``wtctl.connection``,
``wtctl.aio``) frame with it and build and read their messages with its builders
and readers, the only code in ``wtctl`` that spells a message's keys.
``tests/test_wire.py`` round-trips every message between the two forms.

Standard library only, and no ``typing`` at run time: the one-shot client imports
this on every call (one module, not two: each module the one-shot imports costs it
about 0.1 ms). Nor ``json``: its decoder imports ``re``, which imports ``enum``,
``functools`` and ``collections``, about 7 ms of every wtctl call. Frame bodies are
read and written by ``json``'s own C accelerator (``_json``), set up as ``json.dumps``
and ``json.loads`` set it up, so the text is the same; ``json`` itself is imported
only where ``_json`` is missing (not CPython) or to describe a malformed body.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs the one-shot path ~4 ms
if TYPE_CHECKING:
    from _socket import socket
    from asyncio import StreamReader
    from collections.abc import Mapping
    from typing import Any, Final

    Message = dict[str, Any]


PROTOCOL_VERSION: Final = 1
MAX_FRAME: Final = 1 << 20  # requests only: replies have no size limit (SPEC §4)
REPLY_SCHEMA: Final = 1  # the "schema" of `wtctl --json` output (SPEC §4)
HEADER_SIZE: Final = 4  # a frame's length: 4 bytes, big-endian, unsigned

# ------------------------------------------------------------------ message type tags

HELLO: Final = "hello"
REQUEST: Final = "command"  # wtd.protocol.Request: one phrase against one tracker
PING: Final = "ping"
SUBSCRIBE: Final = "subscribe"
WELCOME: Final = "welcome"
REPLY: Final = "reply"
PONG: Final = "pong"
SUBSCRIBED: Final = "subscribed"
EVENT: Final = "event"
PROTOCOL_ERROR: Final = "protocol_error"

CLIENT_TAGS: Final = frozenset({HELLO, REQUEST, PING, SUBSCRIBE})
DAEMON_TAGS: Final = frozenset({WELCOME, REPLY, PONG, SUBSCRIBED, EVENT, PROTOCOL_ERROR})

# ------------------------------------------------------------------ exit and error codes

EXIT_DONE: Final = 0
EXIT_FAILED: Final = 1  # failed after self-healing gave up, or not found
EXIT_INVALID: Final = 2  # invalid command or argument (with suggestions)
EXIT_CONSENT: Final = 3  # consent required
EXIT_DENIED: Final = 4  # denied by enforcement
EXIT_UNAVAILABLE: Final = 5  # circuit open, daemon unreachable

EXIT_CODES: Final[dict[str, int]] = {
    "failed": EXIT_FAILED,
    "not_found": EXIT_FAILED,
    "not_understood": EXIT_FAILED,
    "storage": EXIT_FAILED,
    "internal": EXIT_FAILED,
    "unknown_phrase": EXIT_INVALID,
    "invalid_task_id": EXIT_INVALID,
    "invalid_status": EXIT_INVALID,
    "invalid_argument": EXIT_INVALID,
    "bad_request": EXIT_INVALID,
    "not_available": EXIT_INVALID,
    "consent_required": EXIT_CONSENT,
    "denied": EXIT_DENIED,
    "unsafe_path": EXIT_DENIED,
    "too_large": EXIT_FAILED,
    "unavailable": EXIT_UNAVAILABLE,
    "elsewhere": EXIT_UNAVAILABLE,
    "outcome_unknown": EXIT_UNAVAILABLE,
    "circuit_open": EXIT_UNAVAILABLE,
    "being_merged": EXIT_UNAVAILABLE,
}
"""Every error code a reply can carry and the exit status wtctl ends with (SPEC §4)."""

# The codes the clients act on (each also a key of EXIT_CODES).
NOT_FOUND: Final = "not_found"
INVALID_ARGUMENT: Final = "invalid_argument"
CONSENT_REQUIRED: Final = "consent_required"
DENIED: Final = "denied"
UNAVAILABLE: Final = "unavailable"
ELSEWHERE: Final = "elsewhere"  # another wtd owns the workspace: its socket is in the result
OUTCOME_UNKNOWN: Final = "outcome_unknown"  # a retry with the same request id settles it
BAD_REQUEST: Final = "bad_request"

# Codes only a ``protocol_error`` carries (the connection, not a request, went wrong).
HANDSHAKE: Final = "handshake"
FRAME_TOO_LARGE: Final = "frame_too_large"
TIMEOUT: Final = "timeout"
BUSY: Final = "busy"


def exit_code(code: str) -> int:
    """The exit status for an error ``code`` (an unknown code counts as failed)."""
    return EXIT_CODES.get(code, EXIT_FAILED)


# ------------------------------------------------------------------ framing


class FrameTooLarge(Exception):
    """A frame over the cap: refused before it is read (or sent)."""


def too_large(what: str, size: int, limit: int = MAX_FRAME) -> str:
    """``"request of N bytes exceeds the M-byte limit"``: how both sides say it."""
    return f"{what} of {size} bytes exceeds the {limit}-byte limit"


def header(length: int) -> bytes:
    """The 4-byte big-endian header of a ``length``-byte body."""
    return length.to_bytes(HEADER_SIZE, "big")


def frame(body: bytes) -> bytes:
    """``body`` (JSON bytes) with its 4-byte big-endian length in front."""
    return header(len(body)) + body


def body_length(head: bytes, limit: int | None = None) -> int:
    """The body length a header announces; ``FrameTooLarge`` if over ``limit``."""
    if len(head) != HEADER_SIZE:
        raise ValueError(f"a frame header is {HEADER_SIZE} bytes, not {len(head)}")
    length = int.from_bytes(head, "big")
    if limit is not None and length > limit:
        raise FrameTooLarge(too_large("frame", length, limit))
    return length


# ------------------------------------------------------------------ frame bodies (JSON)

_WHITESPACE: Final = " \t\n\r"  # JSON's own (json.decoder.WHITESPACE)

try:
    from _json import encode_basestring as _quote
    from _json import make_encoder as _make_encoder
    from _json import make_scanner as _make_scanner
except ImportError:  # not CPython: the json module, same text, only slower to import

    def encode(message: Mapping[str, Any]) -> bytes:
        """A plain message as compact UTF-8 JSON (a frame's body)."""
        import json

        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()

    def decode(body: bytes) -> dict[str, Any]:
        """A frame's body as a plain message (raises ``ValueError`` if malformed)."""
        import json

        message: dict[str, Any] = json.loads(str(body, "utf-8"))
        return message

else:

    def _unserializable(value: object) -> object:
        """``json.JSONEncoder.default``: nothing beyond JSON's own types is encoded."""
        raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")

    class _Loads:
        """What the C scanner reads of a ``json.JSONDecoder``: ``json.loads``'s defaults."""

        strict = True
        object_hook = None
        object_pairs_hook = None
        array_hook = None  # read from Python 3.15 on
        parse_float = float
        parse_int = int
        parse_constant = {
            "-Infinity": float("-inf"),
            "Infinity": float("inf"),
            "NaN": float("nan"),
        }.__getitem__

    _scan: Final = _make_scanner(_Loads())  # type: ignore[arg-type]  # (a duck-typed context)

    def encode(message: Mapping[str, Any]) -> bytes:
        """A plain message as compact UTF-8 JSON (a frame's body): the text of
        ``json.dumps(message, ensure_ascii=False, separators=(",", ":"))``."""
        # markers (circular-reference check), default, string encoder, indent, key and
        # item separators, sort_keys, skipkeys, allow_nan: json.dumps's for those options.
        # A fresh encoder each time, as json.dumps makes one: its markers are not to
        # outlive an encoding that failed halfway.
        encoder = _make_encoder({}, _unserializable, _quote, None, ":", ",", False, False, True)
        return "".join(encoder(message, 0)).encode()

    def decode(body: bytes) -> dict[str, Any]:
        """A frame's body as a plain message, as ``json.loads`` reads UTF-8 JSON; a
        ``ValueError`` if it is malformed (not UTF-8, not one JSON value, or more)."""
        text = str(body, "utf-8")  # UnicodeDecodeError is a ValueError
        try:
            message, end = _scan(text, _skip_whitespace(text, 0))
        except StopIteration as exc:
            raise _malformed("Expecting value", text, exc.value) from None
        end = _skip_whitespace(text, end)
        if end != len(text):
            raise _malformed("Extra data", text, end)
        found: dict[str, Any] = message
        return found

    def _skip_whitespace(text: str, at: int) -> int:
        """Where the first character from ``at`` on that is not JSON whitespace is."""
        size = len(text)
        while at < size and text[at] in _WHITESPACE:
            at += 1
        return at

    def _malformed(what: str, text: str, at: int) -> ValueError:
        """The ``json.JSONDecodeError`` that ``json.loads`` raises (only now is ``json``
        imported: the C scanner raises it too, for a malformed string or object)."""
        from json import JSONDecodeError

        return JSONDecodeError(what, text, at)


def recv_exactly(sock: socket, n: int) -> bytes:
    """``n`` bytes from a blocking socket; ``EOFError`` if it closes first."""
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 22))
        if not chunk:
            raise EOFError("the connection was closed")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket, limit: int | None = None) -> bytes:
    """The next frame's body from a blocking socket (``EOFError``, ``FrameTooLarge``)."""
    return recv_exactly(sock, body_length(recv_exactly(sock, HEADER_SIZE), limit))


async def read_frame(reader: StreamReader, limit: int | None = None) -> bytes:
    """The next frame's body from an ``asyncio.StreamReader`` (its errors pass through)."""
    length = body_length(await reader.readexactly(HEADER_SIZE), limit)
    return await reader.readexactly(length)


# ------------------------------------------------------------------ client → daemon


def hello(client: str = "wtctl") -> Message:
    return {"type": HELLO, "version": PROTOCOL_VERSION, "client": client}


def request(
    phrase: str,
    *,
    cwd: str,
    tracker: str | None = None,
    show_health: bool = False,
    verbose: bool = False,
    skip_consent: bool = False,
    subagent: bool = False,
    agent: str | None = None,
    consent_token: str | None = None,
    request_id: str | None = None,
) -> Message:
    """A ``command`` (``protocol.Request``): run ``phrase``; a fresh id unless given.

    Only the options that are set are sent (the daemon's defaults are the rest)."""
    options: dict[str, Any] = {}
    if consent_token:
        options["consent_token"] = consent_token
    flags = {
        "show_health": show_health,
        "verbose": verbose,
        "skip_consent": skip_consent,
        "subagent": subagent,
    }
    options.update((key, True) for key, value in flags.items() if value)
    if agent:
        options["agent"] = agent
    message: Message = {
        "type": REQUEST,
        "id": request_id or os.urandom(12).hex(),
        "phrase": phrase,
        "cwd": cwd,
        "options": options,
    }
    if tracker:
        message["tracker"] = tracker
    return message


def aim(message: Message, tracker: str | None) -> Message:
    """``message`` naming ``tracker`` (None: naming none, wtd chooses)."""
    if tracker is None:
        message.pop("tracker", None)
    else:
        message["tracker"] = tracker
    return message


def ping(request_id: str = "") -> Message:
    return {"type": PING, "id": request_id}


def subscribe(request_id: str, workspace: str) -> Message:
    """Turn the connection into ``workspace``'s event stream ("" = every workspace)."""
    return {"type": SUBSCRIBE, "id": request_id, "workspace": workspace}


def error_info(code: str, message: str, suggestions: list[str] | None = None) -> Message:
    """An error as a reply carries it (``protocol.ErrorInfo``)."""
    return {"code": code, "message": message, "suggestions": suggestions or []}


def refused_reply(code: str, message: str) -> Message:
    """A reply the client makes up for a request it could not send."""
    return {
        "type": REPLY,
        "ok": False,
        "exit_code": exit_code(code),
        "error": {"code": code, "message": message},
    }


# ------------------------------------------------------------------ daemon → client


def kind(message: Message) -> str:
    """The message's type tag (``REPLY``, ``EVENT``, …)."""
    return str(message.get("type", ""))


def answers(answer: Message, question: Message) -> bool:
    """Whether ``answer`` is for ``question`` (an answer without an id is for anyone)."""
    return answer.get("id", question.get("id")) == question.get("id")


def refusal(message: Message, default: Any = None) -> Any:
    """What a refusal (``protocol_error``, or any unexpected answer) says."""
    return message.get("message", message if default is None else default)


def server(message: Message) -> Any:
    """Who answers (``welcome``, ``pong``): ``"wtd 0.1.0"``."""
    return message.get("server")


def pid(message: Message) -> Any:
    return message.get("pid")


def uptime(pong: Message) -> float:
    return float(pong.get("uptime_s", 0))


def refusal_code(message: Message, default: str | None = None) -> Any:
    """The code of a refusal (``protocol_error``)."""
    return message.get("code", default)


def ok(reply: Message) -> bool:
    return bool(reply.get("ok"))


def exit_status(reply: Message) -> int:
    return int(reply.get("exit_code", EXIT_FAILED))


def lines(reply: Message) -> list[str]:
    """The reply's text (also an event's), one line each."""
    found: list[str] = reply.get("lines") or []
    return found


def healing(reply: Message) -> list[str]:
    found: list[str] = reply.get("healing", [])
    return found


def health_lines(reply: Message) -> list[str]:
    found: list[str] = reply.get("health_lines", [])
    return found


def result(reply: Message) -> Any:
    return reply.get("result")


def result_dict(reply: Message) -> dict[str, Any]:
    """The result when it is an object, else ``{}``."""
    found = reply.get("result")
    return found if isinstance(found, dict) else {}


def health(reply: Message) -> Any:
    return reply.get("health")


def tracker(reply: Message) -> Any:
    """The tracker a reply or event is about, as wtd names it (``docs/plans/NAME.md``)."""
    return reply.get("tracker")


def error(reply: Message) -> dict[str, Any] | None:
    """``{"code", "message", "suggestions"}``, or None when the reply is not an error."""
    found: dict[str, Any] | None = reply.get("error") or None
    return found


def error_code(reply: Message) -> str | None:
    return (reply.get("error") or {}).get("code")


def error_message(reply: Message) -> str:
    return str((reply.get("error") or {}).get("message", ""))


def suggestions(error_info: dict[str, Any]) -> list[str]:
    found: list[str] = error_info.get("suggestions", [])
    return found


def declined(reply: Message) -> bool:
    """Whether a consent answer declined the question."""
    return result_dict(reply).get("declined") is True


def consent_token(reply: Message) -> str | None:
    """The token a consent question carries, so that the next phrase can answer it."""
    found = reply.get("result")
    if error_code(reply) == CONSENT_REQUIRED and isinstance(found, dict):
        token = found.get("consent_token")
        return token if isinstance(token, str) else None
    return None


def owner_socket(reply: Message, current: str) -> str | None:
    """Where to send a request that this daemon answered with "served elsewhere".

    Another wtd owns the workspace (SPEC §2): its socket, when it is not ``current``.
    """
    if kind(reply) != REPLY or error_code(reply) != ELSEWHERE:
        return None
    owner = result_dict(reply).get("owner")
    sock = owner.get("socket") if isinstance(owner, dict) else None
    if isinstance(sock, str) and sock and os.path.abspath(sock) != os.path.abspath(current):
        return sock
    return None
