"""Legitimate clients: real ``wtctl`` processes and persistent raw-socket clients.

Each client owns the tasks it added and changes only those, so the order of its
replies is the order of its changes (see ``ledger``). A client holds the shared side
of the quiet lock for each change and for reading the files right after the reply
(SPEC §6: "agents that read the files right after wtctl returns see it"); the hand
editor and the checker take the exclusive side.
"""

from __future__ import annotations

import json
import os
import random
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.torture.daemon import BIN, Workspace, alive
from tests.torture.ledger import Ledger, Op, Outcome

WTCTL_TIMEOUT = 90.0
RAW_RETRY_FOR = 40.0  # how long a raw client keeps retrying one request id
RAW_REPLY_TIMEOUT = 45.0

# What each spelling normalises to (SPEC §2).
STATUSES: tuple[tuple[str, str], ...] = (
    ("complete", "complete"),
    ("done", "complete"),
    ("DONE", "complete"),
    ("finished", "complete"),
    ("pending", "pending"),
    ("todo", "pending"),
    ("in progress", "in_progress"),
    ("wip", "in_progress"),
    ("doing", "in_progress"),
    ("blocked", "blocked"),
    ("stuck", "blocked"),
    ("skipped", "skipped"),
    ("wontfix", "skipped"),
    ("superseded", "superseded"),
)


class QuietLock:
    """A readers-writer lock that prefers the writer (the writer never starves)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class Client(threading.Thread):
    """Base: chooses changes on its own tasks and records every outcome."""

    def __init__(
        self,
        cid: int,
        seed: int,
        ws: Workspace,
        ledger: Ledger,
        quiet: QuietLock,
        stop: threading.Event,
        violations: list[str],
    ) -> None:
        super().__init__(name=f"client-{cid}", daemon=True)
        self.cid = cid
        self.rng = random.Random(seed)
        self.ws = ws
        self.ledger = ledger
        self.quiet = quiet
        self.stop_event = stop
        self.violations = violations
        self.tasks: list[str] = []
        self.subs: list[str] = []
        self.counter = 0
        self.env = ws.env  # a second shell runs with another WTD_SOCKET
        self.why = ""  # what the last failure's reply said
        self.why_code = ""

    # ------------------------------------------------------------ choosing

    def _unique(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-c{self.cid}-{self.counter}"

    def next_op(self) -> Op:
        rng = self.rng
        if len(self.tasks) < 2 or rng.random() < 0.2:
            name = self._unique("task")
            phase = rng.randint(1, 3)
            phrase = rng.choice(
                [f"add task to phase {phase}: {name}", f"add task to phase {phase} called {name}"]
            )
            return Op(self.cid, "add", phrase, name=name)
        tid = rng.choice(self.tasks)
        roll = rng.random()
        if roll < 0.35:
            spelling, canonical = rng.choice(STATUSES)
            phrase = rng.choice(
                [f"mark task {tid} {spelling}", f"update task {tid} status to {spelling}"]
            )
            return Op(self.cid, "status", phrase, ("task", tid, "status"), canonical)
        if roll < 0.55:
            name = self._unique("renamed")
            return Op(
                self.cid, "rename", f"rename task {tid} to {name}", ("task", tid, "name"), name
            )
        if roll < 0.7:
            text = self._unique("verified by check")
            return Op(
                self.cid,
                "verify",
                f"set verification of task {tid} to {text}",
                ("task", tid, "verification"),
                text,
            )
        if roll < 0.85 or not self.subs:
            name = self._unique("sub")
            return Op(self.cid, "addsub", f"add subtask to task {tid}: {name}", name=name, task=tid)
        sid = rng.choice(self.subs)
        if rng.random() < 0.6:
            return Op(self.cid, "check", f"check subtask {sid}", ("sub", sid, "completed"), True)
        return Op(self.cid, "uncheck", f"uncheck subtask {sid}", ("sub", sid, "completed"), False)

    # ------------------------------------------------------------ running

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.step()

    def step(self) -> tuple[Op, Outcome]:
        """One change: send it, record what came back, check the files show it."""
        op = self.next_op()
        with self.quiet.shared():
            outcome, result, detail = self.send(op)
            self.ledger.record(op, outcome, result, why=self.why, code=self.why_code)
            if outcome == "acked":
                self._learn(op, result)
                self._read_your_writes(op, detail)
        return op, outcome

    def send(self, op: Op) -> tuple[Outcome, Any, str]:
        raise NotImplementedError

    def _failure(self, via: str, doc: dict[str, Any]) -> None:
        error = doc.get("error") or {}
        self.why_code = str(error.get("code") or doc.get("code") or "")
        self.why = (
            f"{via} reply: exit {doc.get('exit_code')}, {error.get('code')}: "
            f"{str(error.get('message'))[:150]}"
        )

    def _learn(self, op: Op, result: Any) -> None:
        if not isinstance(result, dict):
            return
        if op.kind == "add" and result.get("task"):
            self.tasks.append(str(result["task"]))
        elif op.kind == "addsub" and result.get("subtask"):
            self.subs.append(str(result["subtask"]))

    def _read_your_writes(self, op: Op, detail: str) -> None:
        """Right after a success the JSON on disk shows the change (SPEC §6)."""
        try:
            data = json.loads(self.ws.json.read_bytes())
        except (OSError, ValueError) as exc:
            self.violations.append(
                f"read-your-writes: JSON unreadable right after an acknowledged "
                f"{op.phrase!r}: {exc} (at {time.strftime('%H:%M:%S')})"
            )
            return
        if op.key is None:
            if op.kind == "add" and not any(t.get("name") == op.name for t in data["tasks"]):
                self.violations.append(f"read-your-writes: {op.phrase!r} acked, not in the JSON")
            return
        kind, ident, attr = op.key
        items = data.get("tasks", []) if kind == "task" else data.get("subtasks", [])
        entity = next((e for e in items if str(e.get("id")) == ident), None)
        value = None if entity is None else entity.get(attr)
        if attr == "completed":
            value = bool(value)
        if value != op.value:
            self.violations.append(
                f"read-your-writes: {op.phrase!r} acked but the JSON has {attr}={value!r} "
                f"(at {time.strftime('%H:%M:%S')})"
            )
        if op.kind == "rename" and "could not be written" not in detail:
            md = self.ws.md.read_text(errors="replace") if self.ws.md.exists() else ""
            if f"| {op.value} |" not in md:
                self.violations.append(
                    f"read-your-writes: {op.phrase!r} acked but the Markdown view lacks it "
                    f"(reply lines: {detail[-200:]!r}; view {len(md)} chars, "
                    f"starts {md[:80]!r}, at {time.strftime('%H:%M:%S')})"
                )


def classify(doc: dict[str, Any]) -> Outcome:
    """A daemon reply is definite; wtctl's own 'unavailable' is not."""
    if doc.get("ok"):
        return "acked"
    error = doc.get("error") or {}
    if error.get("code") == "unavailable" and str(error.get("message", "")).startswith(
        "wtd unavailable"
    ):
        return "unknown"
    if error.get("code") == "outcome_unknown":  # wtd failed mid-request: not a failure
        return "unknown"
    return "failed"


class WtctlClient(Client):
    """Runs one real ``wtctl --json`` process per change."""

    no_autostart_share = 0.7
    last_doc: dict[str, Any] | None = None  # the last --json document printed

    def send(self, op: Op) -> tuple[Outcome, Any, str]:
        self.last_doc = None
        argv = [str(BIN / "wtctl"), "--json", "--tracker", str(self.ws.md)]
        if self.rng.random() < self.no_autostart_share:
            argv.append("--no-autostart")
        argv.append(op.phrase)
        try:
            proc = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=self.env,
                cwd=self.ws.root,
                timeout=WTCTL_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            return "unknown", None, "timeout"
        lines = [line for line in proc.stdout.splitlines() if line.strip()]
        if len(lines) != 1:
            self.violations.append(
                f"wtctl --json printed {len(lines)} lines for {op.phrase!r} (exit "
                f"{proc.returncode}): {proc.stdout[-300:]!r} {proc.stderr[-300:]!r}"
            )
            return "unknown", None, ""
        doc: dict[str, Any] = json.loads(lines[0])
        self.last_doc = doc
        outcome = classify(doc)
        self._failure(f"wtctl exit {proc.returncode}", doc)
        if (outcome == "acked") != (proc.returncode == 0):
            self.violations.append(
                f"wtctl exit {proc.returncode} disagrees with ok={doc.get('ok')} for {op.phrase!r}"
            )
        if outcome == "failed" and proc.returncode == 1 and self._retried_unknown(doc):
            outcome = "unknown"
        if elsewhere({"type": "reply", **doc}):
            self._judge_elsewhere(op, doc, proc.returncode)
            outcome = "unknown"  # whether an earlier try of its own (same id) landed: unknown
        return outcome, doc.get("result"), "\n".join(doc.get("lines") or [])

    def _judge_elsewhere(self, op: Op, doc: dict[str, Any], code: int) -> None:
        """wtctl handed 'elsewhere' to its user. SPEC §2 allows it only when the owner
        cannot be reached; a daemon naming no owner, or its own socket, is at fault."""
        asked = str(self.env.get("WTD_SOCKET"))
        owner = owner_of({"type": "reply", **doc})
        problem = self_elsewhere(owner, asked, None)
        if problem:
            self.violations.append(problem)
            return
        target = owner.get("socket")
        try:
            pong = ask(str(target), {"type": "ping", "id": "owner?"}, timeout=2.0)
        except (OSError, ValueError):
            return  # the owner is not reachable: a refusal naming it is right
        if pong.get("type") == "pong":
            self.violations.append(
                f"wtctl (WTD_SOCKET={asked}) printed 'elsewhere' for {op.phrase!r} (exit {code}) "
                f"instead of re-sending it to the owner, which answers on {target}: "
                f"{str((doc.get('error') or {}).get('message'))[:120]!r}"
            )

    @staticmethod
    def _retried_unknown(doc: dict[str, Any]) -> bool:
        # wtctl reports a bad frame from a dying daemon as a failure without a reply.
        error = doc.get("error") or {}
        return str(error.get("code", "")) in ("bad_reply",)


class RawClient(Client):
    """Keeps one socket open and speaks the protocol itself; retries with the same id."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sock: socket.socket | None = None
        self.peer_pid: object = None  # the pid the daemon's welcome named

    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(10)
        try:
            sock.connect(str(self.ws.sock))
            write_frame(sock, {"type": "hello", "version": 1, "client": "torture"})
            welcome = read_frame(sock)
        except BaseException:
            sock.close()
            raise
        if welcome.get("type") != "welcome":
            sock.close()
            raise ConnectionError(f"handshake refused: {welcome}")
        self.peer_pid = welcome.get("pid")
        sock.settimeout(RAW_REPLY_TIMEOUT)
        return sock

    def send(self, op: Op) -> tuple[Outcome, Any, str]:
        rid = f"raw-{self.cid}-{os.urandom(8).hex()}"
        message = {
            "type": "command",
            "id": rid,
            "phrase": op.phrase,
            "cwd": str(self.ws.root),
            "tracker": str(self.ws.md),
        }
        deadline = time.monotonic() + RAW_RETRY_FOR
        dead_since = 0.0  # when an 'elsewhere' first named an owner that is gone
        while time.monotonic() < deadline:
            try:
                if self.sock is None:
                    self.sock = self._connect()
                write_frame(self.sock, message)
                reply = read_frame(self.sock)
            except (OSError, ConnectionError, ValueError):
                self._drop()
                time.sleep(0.05)
                continue
            if reply.get("type") != "reply" or reply.get("id") != rid:
                self.violations.append(f"raw client got {reply!r} for {op.phrase!r}")
                self._drop()
                return "unknown", None, ""
            if elsewhere(reply):
                owner = owner_of(reply)
                problem = self_elsewhere(owner, str(self.ws.sock), self.peer_pid)
                if problem:
                    self.violations.append(problem)
                try:
                    reply = follow(reply, message, self.ws.sock)
                except (OSError, ValueError) as exc:
                    pid = owner.get("pid")
                    if isinstance(pid, int) and not alive(pid):
                        # The owner may have been stopping as it was named: ask again first.
                        dead_since = dead_since or time.monotonic()
                        if time.monotonic() - dead_since < 1.0:
                            time.sleep(0.2)
                            continue
                        self.violations.append(
                            f"wtd pid {self.peer_pid} on {self.ws.sock} answered a change with "
                            f"'elsewhere' naming pid {pid} on {owner.get('socket')}, which is "
                            f"gone ({exc!r}): a dead owner's lock was not taken over"
                        )
                        return "unknown", None, "elsewhere"
                    time.sleep(0.1)
                    continue
                if elsewhere(reply):  # no owner to follow to: maybe an earlier try landed
                    return "unknown", None, "elsewhere"
            outcome: Outcome = classify(reply)
            self._failure(f"raw (wtd pid {self.peer_pid})", reply)
            return outcome, reply.get("result"), "\n".join(reply.get("lines") or [])
        return "unknown", None, "gave up"

    def _drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._drop()


# ------------------------------------------------------------ raw requests


def connect(path: Path | str, timeout: float = 10.0, client: str = "torture") -> socket.socket:
    """A connection that passed the handshake; ConnectionError (with the answer) if refused."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    try:
        sock.connect(str(path))
        write_frame(sock, {"type": "hello", "version": 1, "client": client})
        welcome = read_frame(sock)
    except BaseException:
        sock.close()
        raise
    if welcome.get("type") != "welcome":
        sock.close()
        raise Refused(welcome)
    return sock


class Refused(ConnectionError):
    """The daemon answered the handshake with something other than a welcome."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__(f"handshake refused: {answer}")
        self.answer = answer


def command(
    rid: str, phrase: str, cwd: Path, tracker: Path | None, **options: Any
) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "command", "id": rid, "phrase": phrase, "cwd": str(cwd)}
    if tracker is not None:
        message["tracker"] = str(tracker)
    if options:
        message["options"] = options
    return message


def elsewhere(reply: dict[str, Any]) -> bool:
    """A reply saying another daemon owns the workspace (SPEC §2)."""
    error = reply.get("error") or {}
    return reply.get("type") == "reply" and error.get("code") == "elsewhere"


def owner_of(reply: dict[str, Any]) -> dict[str, Any]:
    result = reply.get("result")
    owner = result.get("owner") if isinstance(result, dict) else None
    return owner if isinstance(owner, dict) else {}


def self_elsewhere(owner: dict[str, Any], asked: str, peer: object) -> str | None:
    """What is wrong with an 'elsewhere' naming no owner, or the very socket asked."""
    target = owner.get("socket")
    if isinstance(target, str) and os.path.abspath(target) != os.path.abspath(asked):
        return None
    pid = owner.get("pid")
    if not owner:
        named = "no owner at all (result.owner empty)"
    elif peer is not None and pid == peer:
        named = "itself (its own pid and socket) as the owner"
    else:
        state = "alive" if isinstance(pid, int) and alive(pid) else "gone"
        named = f"a daemon on the socket it was asked on as the owner (pid {state})"
    return f"wtd on {asked} answered a change with 'elsewhere' naming {named}"


def follow(reply: dict[str, Any], message: dict[str, Any], asked: Path | str) -> dict[str, Any]:
    """An 'elsewhere' reply re-sent, same request id, to the owner's socket, as wtctl
    does; any other reply (or one naming the socket asked) as it is."""
    if not elsewhere(reply):
        return reply
    target = owner_of(reply).get("socket")
    if not isinstance(target, str) or os.path.abspath(target) == os.path.abspath(str(asked)):
        return reply
    answer: dict[str, Any] = ask(target, message)
    return answer


def ask(path: Path | str, message: dict[str, Any], timeout: float = RAW_REPLY_TIMEOUT) -> Any:
    """One request on a fresh connection: the reply (raises OSError/ValueError on failure)."""
    sock = connect(path, timeout=min(timeout, 10.0))
    try:
        sock.settimeout(timeout)
        write_frame(sock, message)
        return read_frame(sock)
    finally:
        sock.close()


# ------------------------------------------------------------ framing


def write_frame(sock: socket.socket, message: dict[str, Any]) -> None:
    body = json.dumps(message).encode()
    sock.sendall(struct.pack(">I", len(body)) + body)


def read_exactly(sock: socket.socket, n: int) -> bytes:
    chunks = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise ConnectionError("closed by the daemon")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket) -> dict[str, Any]:
    (length,) = struct.unpack(">I", read_exactly(sock, 4))
    if length > 1 << 20:
        raise ValueError(f"reply frame of {length} bytes")
    reply: dict[str, Any] = json.loads(read_exactly(sock, length))
    return reply
