"""The wire, both ways: the stdlib form the clients speak (``wtd.wire``: plain dicts,
built and read by its builders and readers) and the daemon's msgspec Structs
(``wtd.protocol``) must agree on every message, field by field."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
import typing
from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

import wtd
from wtd import errors, protocol, wire

# One of every message, with every field set away from its default, in both forms.
SAMPLES: list[tuple[msgspec.Struct, dict[str, Any]]] = [
    (
        protocol.Hello(version=wire.PROTOCOL_VERSION, client="wtctl"),
        {"type": "hello", "version": wire.PROTOCOL_VERSION, "client": "wtctl"},
    ),
    (
        protocol.Request(
            id="r1",
            phrase="mark task 2.2 complete",
            cwd="/work/ws",
            tracker="docs/plans/x.md",
            options=protocol.Options(
                show_health=True,
                verbose=True,
                skip_consent=True,
                agent="planner",
                subagent=True,
                consent_token="tok",
            ),
        ),
        {
            "type": "command",
            "id": "r1",
            "phrase": "mark task 2.2 complete",
            "cwd": "/work/ws",
            "tracker": "docs/plans/x.md",
            "options": {
                "show_health": True,
                "verbose": True,
                "skip_consent": True,
                "agent": "planner",
                "subagent": True,
                "consent_token": "tok",
            },
        },
    ),
    (protocol.Ping(id="p1"), {"type": "ping", "id": "p1"}),
    (
        protocol.Subscribe(id="s1", workspace="/work/ws"),
        {"type": "subscribe", "id": "s1", "workspace": "/work/ws"},
    ),
    (
        protocol.Welcome(version=wire.PROTOCOL_VERSION, server="wtd 0.1.0", pid=42),
        {"type": "welcome", "version": wire.PROTOCOL_VERSION, "server": "wtd 0.1.0", "pid": 42},
    ),
    (
        protocol.Reply(
            id="r1",
            ok=False,
            exit_code=3,
            lines=["Mark phase 2 complete?"],
            healing=["✓ Issue: x"],
            result={"consent_token": "tok", "n": 2},
            error=protocol.ErrorInfo(
                code="consent_required", message="Approve?", suggestions=["yes"]
            ),
            health={"overall": "HEALTHY"},
            health_lines=["Health: HEALTHY"],
            tracker="docs/plans/x.md",
        ),
        {
            "type": "reply",
            "id": "r1",
            "ok": False,
            "exit_code": 3,
            "lines": ["Mark phase 2 complete?"],
            "healing": ["✓ Issue: x"],
            "result": {"consent_token": "tok", "n": 2},
            "error": {"code": "consent_required", "message": "Approve?", "suggestions": ["yes"]},
            "health": {"overall": "HEALTHY"},
            "health_lines": ["Health: HEALTHY"],
            "tracker": "docs/plans/x.md",
        },
    ),
    (
        protocol.Pong(
            id="p1", server="wtd 0.1.0", pid=42, uptime_s=1.5, trackers=["docs/plans/x.md"]
        ),
        {
            "type": "pong",
            "id": "p1",
            "server": "wtd 0.1.0",
            "pid": 42,
            "uptime_s": 1.5,
            "trackers": ["docs/plans/x.md"],
        },
    ),
    (protocol.Subscribed(id="s1"), {"type": "subscribed", "id": "s1"}),
    (
        protocol.Event(
            seq=7,
            kind="changed",
            at="2026-01-01T00:00:00Z",
            tracker="docs/plans/x.md",
            workspace="/work/ws",
            actor="agent:planner",
            lines=["Task 2.2 marked complete."],
            progress=56,
            missed=1,
        ),
        {
            "type": "event",
            "seq": 7,
            "kind": "changed",
            "at": "2026-01-01T00:00:00Z",
            "tracker": "docs/plans/x.md",
            "workspace": "/work/ws",
            "actor": "agent:planner",
            "lines": ["Task 2.2 marked complete."],
            "progress": 56,
            "missed": 1,
        },
    ),
    (
        protocol.ProtocolError(code="busy", message="try again shortly", id="r1"),
        {"type": "protocol_error", "code": "busy", "message": "try again shortly", "id": "r1"},
    ),
]
IDS = [type(struct).__name__ for struct, _ in SAMPLES]


def _tag(cls: type[msgspec.Struct]) -> str:
    tag = msgspec.inspect.type_info(cls).tag  # type: ignore[attr-defined]
    assert isinstance(tag, str)
    return tag


def _body(frame: bytes) -> bytes:
    """A frame's body, read with the wire's own header check."""
    length = wire.body_length(frame[: wire.HEADER_SIZE])
    assert len(frame) == wire.HEADER_SIZE + length
    return frame[wire.HEADER_SIZE :]


def test_the_samples_cover_every_message_of_the_protocol() -> None:
    client = set(typing.get_args(protocol.ClientMessage))
    daemon = set(typing.get_args(protocol.DaemonMessage))
    assert {type(struct) for struct, _ in SAMPLES} == client | daemon
    assert {_tag(cls) for cls in client} == wire.CLIENT_TAGS
    assert {_tag(cls) for cls in daemon} == wire.DAEMON_TAGS


@pytest.mark.parametrize(("struct", "plain"), SAMPLES, ids=IDS)
def test_every_field_of_every_message_is_in_its_sample(
    struct: msgspec.Struct, plain: dict[str, Any]
) -> None:
    fields = {f.encode_name for f in msgspec.structs.fields(type(struct))}
    assert set(plain) == fields | {"type"}
    assert plain["type"] == _tag(type(struct))


@pytest.mark.parametrize(("struct", "plain"), SAMPLES, ids=IDS)
def test_a_struct_framed_by_the_daemon_reads_as_the_plain_message(
    struct: msgspec.Struct, plain: dict[str, Any]
) -> None:
    assert wire.decode(_body(protocol.frame(struct))) == plain


@pytest.mark.parametrize(("struct", "plain"), SAMPLES, ids=IDS)
def test_a_plain_message_framed_by_a_client_decodes_as_the_struct(
    struct: msgspec.Struct, plain: dict[str, Any]
) -> None:
    body = _body(wire.frame(wire.encode(plain)))
    if plain["type"] in wire.CLIENT_TAGS:
        assert protocol.request_decoder.decode(body) == struct
    else:
        assert protocol.response_decoder.decode(body) == struct


def test_the_messages_clients_build_decode_as_the_structs() -> None:
    built = [
        wire.hello(),
        wire.request(
            "mark task 2.2 complete",
            cwd="/work/ws",
            tracker="docs/plans/x.md",
            show_health=True,
            verbose=True,
            skip_consent=True,
            subagent=True,
            agent="planner",
            consent_token="tok",
            request_id="r1",
        ),
        wire.ping("p1"),
        wire.subscribe("s1", "/work/ws"),
    ]
    decoded = [protocol.request_decoder.decode(wire.encode(m)) for m in built]
    assert decoded == [struct for struct, plain in SAMPLES if plain["type"] in wire.CLIENT_TAGS]


def test_a_request_with_no_options_decodes_to_the_defaults() -> None:
    plain = wire.request("progress", cwd="/work/ws")
    decoded = protocol.request_decoder.decode(wire.encode(plain))
    assert isinstance(decoded, protocol.Request)
    assert decoded.options == protocol.Options() and decoded.tracker is None
    assert plain["options"] == {} and "tracker" not in plain
    assert wire.aim(plain, "x.md")["tracker"] == "x.md"
    assert "tracker" not in wire.aim(plain, None)


def test_the_clients_read_what_the_daemon_sends() -> None:
    frames = {type(s): wire.decode(_body(protocol.frame(s))) for s, _ in SAMPLES}
    reply = frames[protocol.Reply]
    assert wire.kind(reply) == wire.REPLY and not wire.ok(reply)
    assert wire.exit_status(reply) == wire.EXIT_CONSENT == wire.exit_code("consent_required")
    assert wire.lines(reply) == ["Mark phase 2 complete?"]
    assert wire.healing(reply) == ["✓ Issue: x"]
    assert wire.health_lines(reply) == ["Health: HEALTHY"]
    assert wire.health(reply) == {"overall": "HEALTHY"}
    assert wire.tracker(reply) == "docs/plans/x.md"
    assert wire.error_code(reply) == wire.CONSENT_REQUIRED
    assert wire.error_message(reply) == "Approve?"
    assert wire.consent_token(reply) == "tok"
    assert wire.answers(reply, {"id": "r1"}) and not wire.answers(reply, {"id": "r2"})
    pong = frames[protocol.Pong]
    assert (wire.server(pong), wire.pid(pong), wire.uptime(pong)) == (
        "wtd 0.1.0",
        42,
        1.5,
    )
    event = frames[protocol.Event]
    assert wire.kind(event) == wire.EVENT
    assert wire.lines(event) == ["Task 2.2 marked complete."]
    assert wire.refusal(frames[protocol.ProtocolError]) == "try again shortly"


def test_a_served_elsewhere_reply_names_the_owner_socket() -> None:
    reply = protocol.Reply(
        id="r1",
        ok=False,
        exit_code=wire.exit_code(wire.ELSEWHERE),
        result={"owner": {"socket": "/run/other.sock"}},
        error=protocol.ErrorInfo(code=wire.ELSEWHERE, message="served elsewhere"),
    )
    plain = wire.decode(_body(protocol.frame(reply)))
    assert wire.owner_socket(plain, "/run/mine.sock") == "/run/other.sock"
    assert wire.owner_socket(plain, "/run/other.sock") is None


def test_error_codes_and_exit_codes_are_defined_once() -> None:
    assert errors.EXIT_CODES is wire.EXIT_CODES
    assert errors.exit_code is wire.exit_code
    assert protocol.PROTOCOL_VERSION == wire.PROTOCOL_VERSION
    assert getattr(wtd, "PROTOCOL_VERSION", wire.PROTOCOL_VERSION) == wire.PROTOCOL_VERSION
    assert protocol.MAX_FRAME == wire.MAX_FRAME and protocol.Command is protocol.Request
    raised: list[type[errors.WtdError]] = [errors.WtdError, *errors.WtdError.__subclasses__()]
    assert all(cls.code in wire.EXIT_CODES for cls in raised)
    named = [wire.NOT_FOUND, wire.INVALID_ARGUMENT, wire.CONSENT_REQUIRED, wire.DENIED]
    named += [wire.UNAVAILABLE, wire.ELSEWHERE, wire.OUTCOME_UNKNOWN, wire.BAD_REQUEST]
    assert all(code in wire.EXIT_CODES for code in named)
    assert set(wire.EXIT_CODES.values()) == {1, 2, 3, 4, 5}
    assert wire.exit_code("never heard of it") == wire.EXIT_FAILED


def test_a_frame_over_the_cap_is_refused_from_its_header() -> None:
    header = wire.header(wire.MAX_FRAME + 1)
    with pytest.raises(wire.FrameTooLarge, match="exceeds the 1048576-byte limit"):
        wire.body_length(header, wire.MAX_FRAME)
    assert wire.body_length(header) == wire.MAX_FRAME + 1  # replies have no cap


def test_the_blocking_reader_reads_whole_frames_and_notices_a_close() -> None:
    left, right = socket.socketpair()
    with left, right:
        right.sendall(wire.frame(wire.encode(wire.ping("a"))) + wire.frame(b"{}"))
        assert wire.decode(wire.recv_frame(left)) == {"type": "ping", "id": "a"}
        assert wire.recv_frame(left) == b"{}"
        right.sendall(wire.header(10) + b"{")
        right.close()
        with pytest.raises(EOFError):
            wire.recv_frame(left)


def test_the_asyncio_reader_reads_whole_frames() -> None:
    async def read() -> list[bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(wire.frame(b'{"type":"pong"}') + wire.frame(b"[]"))
        reader.feed_eof()
        return [await wire.read_frame(reader), await wire.read_frame(reader)]

    assert asyncio.run(read()) == [b'{"type":"pong"}', b"[]"]


# ------------------------------------------------------------------ bodies: json's own text
# wtd.wire writes and reads bodies with json's C accelerator (no ``import json`` on the
# one-shot path): the bytes and the values must be json.dumps's and json.loads's.

SCALARS = (
    hs.none()
    | hs.booleans()
    | hs.integers()
    | hs.integers(min_value=-(2**200), max_value=2**200)
    | hs.floats()  # NaN, ±Infinity, -0.0 and subnormals included, as json writes them
    | hs.text()
)
JSON_VALUES = hs.recursive(
    SCALARS,
    lambda inner: hs.lists(inner, max_size=6) | hs.dictionaries(hs.text(), inner, max_size=6),
    max_leaves=40,
)
KEYS = hs.text() | hs.integers() | hs.floats() | hs.booleans() | hs.none()  # json's key types


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _same(ours: Any, theirs: Any) -> bool:
    """Equal values of the same types (NaN equal to NaN, -0.0 not equal to 0.0)."""
    if isinstance(theirs, float):  # repr: NaN is NaN, -0.0 is not 0.0
        return type(ours) is float and repr(ours) == repr(theirs)
    if isinstance(theirs, list):
        return type(ours) is list and len(ours) == len(theirs) and all(map(_same, ours, theirs))
    if isinstance(theirs, dict):
        return (
            type(ours) is dict
            and list(ours) == list(theirs)
            and all(_same(ours[k], theirs[k]) for k in theirs)
        )
    return type(ours) is type(theirs) and ours == theirs


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_a_body_is_written_byte_for_byte_as_json_dumps_writes_it(value: Any) -> None:
    assert wire.encode(value) == _dumps(value)


@settings(max_examples=100)
@given(hs.dictionaries(KEYS, SCALARS, max_size=8))
def test_keys_of_every_type_json_accepts_are_written_as_it_writes_them(
    value: dict[Any, Any],
) -> None:
    assert wire.encode(value) == _dumps(value)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_a_body_reads_value_for_value_as_json_loads_reads_it(value: Any) -> None:
    body = _dumps(value)
    assert _same(wire.decode(body), json.loads(body))
    # JSON as others write it: spaced, indented, every non-ASCII character escaped
    for text in (json.dumps(value), json.dumps(value, indent=2), f" \n{json.dumps(value)}\t\r\n"):
        assert _same(wire.decode(text.encode()), json.loads(text))


def test_a_large_reply_reads_and_writes_as_json_does() -> None:
    rows = [
        {"id": f"{p}.{n}", "name": f'Tâche {p}.{n} ✅ «quoted "part"»\n', "done": n % 3 == 0}
        for p in range(1, 21)
        for n in range(1, 1001)
    ]
    reply = {"type": "reply", "id": "r", "ok": True, "exit_code": 0, "result": rows}
    body = wire.encode(reply)
    assert len(body) > 1 << 20 and body == _dumps(reply)
    assert wire.decode(body) == json.loads(body) == reply


def test_what_json_cannot_write_fails_as_json_dumps_fails() -> None:
    looped: list[Any] = []
    looped.append(looped)
    unwritable: list[Any] = [{"at": object()}, {(1, 2): "key"}, looped, {"a": {"b": looped}}]
    for value in unwritable:
        with pytest.raises((TypeError, ValueError)) as theirs:
            _dumps(value)
        with pytest.raises(theirs.type) as ours:
            wire.encode(value)
        assert str(ours.value) == str(theirs.value)
    assert wire.encode({"after": "a failed one"}) == b'{"after":"a failed one"}'


MALFORMED = [
    b"",
    b" \n\t",
    b'{"type":"reply"',
    b'{"type":"reply"}x',
    b'{"type":"reply"} {}',
    b"{}}",
    b'{"type":}',
    b'{"type":"reply",}',
    b"[1,]",
    b"nul",
    b"{'type':'reply'}",
    b'{"type":"re\x01ply"}',  # a control character inside a string
    b'{"type":"\\x"}',  # an unknown escape
    b"\xff\xfe{\x00}\x00",
    b'{"type":"caf\xe9"}',  # Latin-1, not UTF-8
    b'{"type":"\xe2\x9c"}',  # a character cut short
    b'{"type":"\xed\xa0\x80"}',  # an encoded surrogate
]


@pytest.mark.parametrize("body", MALFORMED)
def test_a_malformed_body_is_a_value_error(body: bytes) -> None:
    with pytest.raises(ValueError) as ours:
        wire.decode(body)
    if isinstance(ours.value, UnicodeDecodeError):
        return  # not UTF-8: json.loads (surrogatepass) may take the surrogate; the wire may not
    with pytest.raises(ValueError) as theirs:
        json.loads(body)
    assert (type(ours.value), str(ours.value)) == (type(theirs.value), str(theirs.value))


def test_a_body_is_utf8_with_no_byte_order_mark() -> None:
    """json.loads guesses UTF-16 and UTF-32 and skips a BOM; the wire is UTF-8 alone."""
    for body in ("\ufeff{}".encode(), "{}".encode("utf-16"), "{}".encode("utf-32")):
        with pytest.raises(ValueError):
            wire.decode(body)


@pytest.mark.parametrize(("struct", "plain"), SAMPLES, ids=IDS)
def test_every_cut_short_body_is_a_value_error(
    struct: msgspec.Struct, plain: dict[str, Any]
) -> None:
    body = wire.encode(plain)
    for end in range(len(body)):
        with pytest.raises(ValueError):
            wire.decode(body[:end])


def _wire_without_c_json(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """A fresh copy of wtd.wire where ``_json`` cannot be imported (as on PyPy)."""
    monkeypatch.setitem(sys.modules, "_json", None)  # None: ``import _json`` fails
    spec = importlib.util.spec_from_file_location("wire_without_c_json", wire.__file__)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_without_the_c_accelerator_the_json_module_gives_the_same_bodies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slow = _wire_without_c_json(monkeypatch)
    assert slow.encode is not wire.encode
    for _struct, plain in SAMPLES:
        body = wire.encode(plain)
        assert slow.encode(plain) == body
        assert slow.decode(body) == wire.decode(body) == plain
    for body in MALFORMED:
        with pytest.raises(ValueError):
            slow.decode(body)


def test_a_header_is_four_bytes_big_endian() -> None:
    assert wire.header(0x01020304) == b"\x01\x02\x03\x04"
    assert wire.frame(b"{}") == b"\x00\x00\x00\x02{}"
    assert wire.body_length(b"\xff\xff\xff\xff") == 2**32 - 1
    with pytest.raises(ValueError):
        wire.body_length(b"\x00\x00\x01")
