"""The hostile-socket mix, and a probe proving legitimate clients are still served.

Hostile: garbage frames, oversized frames, unknown messages, no handshake, slow
clients holding connections (some mid-header), abrupt disconnects mid-frame. Each
malformed frame must get an error reply (SPEC §8) when the daemon stayed up.

Probe: every few hundred ms a fresh connection pings and asks ``show progress``;
while the daemon incarnation did not change, an answer must come within DEADLINE.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from tests.torture.clients import Refused, connect, read_frame, write_frame
from tests.torture.daemon import Keeper, Workspace, wait_gone

DEADLINE = 10.0
MAX_HELD = 12


class Hostile(threading.Thread):
    ATTACKS = (
        "garbage-frame",
        "oversized-frame",
        "unknown-message",
        "no-handshake",
        "slow-client",
        "cut-before-hello",
        "cut-after-hello",
        "cut-long-frame",
    )

    def __init__(
        self,
        seed: int,
        ws: Workspace,
        keeper: Keeper,
        stop: threading.Event,
        violations: list[str],
        avoid: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(name="hostile", daemon=True)
        self.avoid = avoid
        self.rng = random.Random(seed)
        self.ws = ws
        self.keeper = keeper
        self.stop_event = stop
        self.violations = violations
        self.count = 0
        self.held: list[tuple[float, socket.socket]] = []

    def run(self) -> None:
        attacks = [a for name, a in self.attacks().items() if name not in self.avoid]
        try:
            while not self.stop_event.wait(self.rng.uniform(0.01, 0.1)):
                self._release_expired()
                attack = self.rng.choice(attacks)
                with contextlib.suppress(OSError):  # a daemon that is down is the keeper's business
                    attack()
                self.count += 1
        finally:
            for _, sock in self.held:
                sock.close()

    def attacks(self) -> dict[str, Callable[[], None]]:
        return {
            "garbage-frame": self.garbage_frame,
            "oversized-frame": self.oversized_frame,
            "unknown-message": self.unknown_message,
            "no-handshake": self.no_handshake,
            "slow-client": self.hold_connection,
            "cut-before-hello": self.cut_before_hello,
            "cut-after-hello": self.cut_after_hello,
            "cut-long-frame": self.huge_valid_length_then_close,
        }

    def _connect(self, hello: bool = True) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(DEADLINE)
        sock.connect(str(self.ws.sock))
        if hello:
            write_frame(sock, {"type": "hello", "version": 1, "client": "hostile"})
            welcome = read_frame(sock)
            if welcome.get("type") != "welcome":  # "busy" over the connection cap: fine
                sock.close()
                raise ConnectionRefusedError(f"not greeted: {welcome}")
        return sock

    def _expect_error(self, what: str, send: Callable[[socket.socket], None], hello: bool) -> None:
        incarnation = self.keeper.incarnation
        sock = self._connect(hello)
        try:
            send(sock)
            try:
                reply = read_frame(sock)
            except (OSError, ConnectionError, ValueError) as exc:
                reply = {"type": f"nothing ({exc})"}
        finally:
            sock.close()
        if reply.get("type") != "protocol_error" and self.keeper.incarnation == incarnation:
            pid = self.keeper.current()
            if pid is not None and reply["type"].startswith("nothing") and wait_gone(pid, 1.0):
                # it was dying: a process that exits (an injected crash) resets the
                # connections whose data it never read, and may still look alive for an
                # instant after; its death is the Keeper's to judge, not this probe's
                return
            if pid is not None and self.keeper.incarnation == incarnation:
                self.violations.append(
                    f"hostile {what} at {time.strftime('%H:%M:%S')} (wtd pid {pid}, its log "
                    f"says when): expected protocol_error, got {reply}"
                )

    def garbage_frame(self) -> None:
        body = self.rng.randbytes(self.rng.randint(1, 300))
        self._expect_error(
            "garbage frame", lambda s: s.sendall(struct.pack(">I", len(body)) + body), True
        )

    def oversized_frame(self) -> None:
        size = (1 << 20) + self.rng.randint(1, 1 << 20)
        self._expect_error(
            "oversized frame", lambda s: s.sendall(struct.pack(">I", size) + b"{" * 1024), True
        )

    def unknown_message(self) -> None:
        message: Any = self.rng.choice(
            [
                {"type": "drop_tables"},
                {"type": "command"},
                {"type": "command", "id": 5, "phrase": ["x"], "cwd": None},
                [1, 2, 3],
                "just a string",
            ]
        )
        body = json.dumps(message).encode()
        self._expect_error(
            "unknown message", lambda s: s.sendall(struct.pack(">I", len(body)) + body), True
        )

    def no_handshake(self) -> None:
        body = json.dumps({"type": "ping", "id": "x"}).encode()
        self._expect_error(
            "no handshake", lambda s: s.sendall(struct.pack(">I", len(body)) + body), False
        )

    def hold_connection(self) -> None:
        if len(self.held) >= MAX_HELD:
            return
        hello = "cut-before-hello" in self.avoid or self.rng.random() < 0.5
        sock = self._connect(hello=hello)
        if self.rng.random() < 0.5:
            sock.sendall(b"\x00\x00")  # half a header, then silence
        self.held.append((time.monotonic() + self.rng.uniform(0.5, 4.0), sock))

    def cut_before_hello(self) -> None:
        self._cut(hello=False)

    def cut_after_hello(self) -> None:
        self._cut(hello=True)

    def _cut(self, hello: bool) -> None:
        sock = self._connect(hello=hello)
        body = json.dumps({"type": "ping", "id": "cut"}).encode()
        frame = struct.pack(">I", len(body)) + body
        sock.sendall(frame[: self.rng.randint(1, len(frame) - 1)])
        sock.close()

    def huge_valid_length_then_close(self) -> None:
        sock = self._connect()
        sock.sendall(struct.pack(">I", 900_000) + b"x" * 1000)
        sock.close()

    def _release_expired(self) -> None:
        now = time.monotonic()
        keep = []
        for until, sock in self.held:
            if until <= now:
                sock.close()
            else:
                keep.append((until, sock))
        self.held = keep


class Probe(threading.Thread):
    """A legitimate client that must keep getting answers while the hostiles play."""

    def __init__(
        self, ws: Workspace, keeper: Keeper, stop: threading.Event, violations: list[str]
    ) -> None:
        super().__init__(name="probe", daemon=True)
        self.ws = ws
        self.keeper = keeper
        self.stop_event = stop
        self.violations = violations
        self.answered = 0
        self.worst = 0.0

    def run(self) -> None:
        n = 0
        while not self.stop_event.wait(0.25):
            n += 1
            incarnation = self.keeper.incarnation
            if self.keeper.current() is None or self.keeper.flooding.is_set():
                continue  # a flood holds every connection on purpose: its own check judges
            started = time.monotonic()
            try:
                pong, reply = self._ask(n, started)
            except (OSError, ConnectionError, ValueError) as exc:
                # A daemon dying (an injected crash) closes its sockets before /proc
                # shows it gone: give it a moment to finish exiting before judging.
                serving = self.keeper.current()
                if serving is not None:
                    wait_gone(serving, timeout=1.0)
                if (
                    self.keeper.incarnation == incarnation
                    and self.keeper.current() is not None
                    and self.keeper.incarnation == incarnation
                    and not self.keeper.flooding.is_set()
                ):
                    self.violations.append(
                        f"probe: a legitimate client was not served within {DEADLINE}s "
                        f"while wtd stayed up: {exc!r}"
                    )
                continue
            took = time.monotonic() - started
            self.worst = max(self.worst, took)
            if pong.get("type") != "pong" or reply.get("type") != "reply":
                self.violations.append(f"probe: unexpected answers {pong} / {reply}")
            self.answered += 1

    def _ask(self, n: int, started: float) -> tuple[dict[str, Any], dict[str, Any]]:
        """Ping and ``show progress``; "busy" (over the connection cap) is tried again."""
        while True:
            left = DEADLINE - (time.monotonic() - started)
            if left <= 0:
                raise TimeoutError("refused as busy until the deadline")
            try:
                sock = connect(self.ws.sock, timeout=left, client="probe")
            except Refused as exc:
                if exc.answer.get("code") != "busy":
                    raise
                time.sleep(0.1)
                continue
            try:
                sock.settimeout(max(0.1, DEADLINE - (time.monotonic() - started)))
                write_frame(sock, {"type": "ping", "id": f"p{n}"})
                pong = read_frame(sock)
                write_frame(
                    sock,
                    {
                        "type": "command",
                        "id": f"probe-{n}-{time.time_ns()}",
                        "phrase": "show progress",
                        "cwd": str(self.ws.root),
                        "tracker": str(self.ws.md),
                    },
                )
                return pong, read_frame(sock)
            finally:
                sock.close()
