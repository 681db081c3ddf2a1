"""The board's HTTP, as little of it as a read-only page needs (asyncio streams, stdlib).

Only ``GET`` (and ``HEAD``) of three paths; every response closes its connection
(``Connection: close``) except the event stream, which stays open. The token is
checked before anything else, so a request without the right one learns nothing,
not even which paths exist: 403 for the page, the data and the events alike.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_HEAD = 16 * 1024  # request line and headers: a browser sends well under 2 KiB
HEAD_TIMEOUT = 10.0

# The page is inline HTML, CSS and JS and talks only to its own origin: nothing else
# may load (no CDN, no frames, no forms), and the URL with its token is never sent on.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'none'; script-src 'unsafe-inline'; "
        "style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'",
    ),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("Cache-Control", "no-store"),
)

REASONS = {
    200: "OK",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    503: "Service Unavailable",
}


class BadRequest(Exception):
    """A request this server does not read (malformed, too large, too slow)."""


class Request:
    def __init__(self, method: str, target: str) -> None:
        self.method = method
        parts = urlsplit(target)
        self.path = parts.path
        self.query = parse_qs(parts.query)

    def param(self, name: str) -> str:
        values = self.query.get(name)
        return values[0] if values else ""


def token_ok(given: str, expected: str) -> bool:
    """Whether ``given`` is the board's token (constant time: no timing oracle)."""
    return hmac.compare_digest(given.encode(), expected.encode())


async def read_request(reader: asyncio.StreamReader) -> Request:
    """The request line and headers (the headers are read and dropped: none matters)."""
    try:
        async with asyncio.timeout(HEAD_TIMEOUT):
            head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError) as exc:
        raise BadRequest(type(exc).__name__) from exc
    line = head.split(b"\r\n", 1)[0].decode("latin-1")
    parts = line.split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise BadRequest(f"not an HTTP/1 request line: {line[:80]!r}")
    return Request(parts[0], parts[1])


def head(status: int, headers: Iterable[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS[status]}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def response(status: int, body: bytes, content_type: str, *, with_body: bool = True) -> bytes:
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("Connection", "close"),
        *SECURITY_HEADERS,
    ]
    return head(status, headers) + (body if with_body else b"")


def text(status: int, message: str) -> bytes:
    return response(status, (message + "\n").encode(), "text/plain; charset=utf-8")


def json_response(data: Any, *, with_body: bool = True) -> bytes:
    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    return response(200, body, "application/json", with_body=with_body)


def event_stream_head() -> bytes:
    headers = [("Content-Type", "text/event-stream"), ("Connection", "keep-alive")]
    return head(200, [*headers, *SECURITY_HEADERS])


def sse(event: str, data: Any) -> bytes:
    """One server-sent event (its JSON is one line: ``data:`` needs no splitting)."""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()
