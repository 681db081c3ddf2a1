"""Seeded episodes of what real users and hostile repositories did to wtd.

The ``Scenarios`` thread runs one episode at a time, each named (``--avoid NAME``
leaves it out), in a seeded order that visits every enabled kind before repeating
(the symlink traps take turns as one kind, and so do the pathological files):

- ``second-daemon``: a second shell with its own ``WTD_SOCKET`` (``shells``);
- ``retry-undo``, ``retry-delete-restore``, ``retry-initiative``: one request id sent
  again and again (``retries``);
- ``symlink-*``: a scratch workspace holding a symlink out of it (``traps``);
- ``huge-heading``, ``huge-pipe-line``, ``huge-dash``, ``deep-json``: pathological
  hand-saved files in a scratch workspace (``traps``);
- ``flood``, ``partial-frame``: connections up to the fd limit or the connection cap,
  and a frame left unfinished (``floods``).

Every violation is prefixed with the episode's name and says what broke.
"""

from __future__ import annotations

import collections
import random
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.torture.clients import (
    QuietLock,
    Refused,
    command,
    connect,
    follow,
    read_frame,
    write_frame,
)
from tests.torture.daemon import Keeper, Workspace, alive, wait_gone
from tests.torture.ledger import Ledger

DEADLINE = 10.0  # as the probe's: a legitimate client is answered within this


@dataclass
class Context:
    """What every episode works with."""

    ws: Workspace
    keeper: Keeper
    ledger: Ledger
    quiet: QuietLock
    stop: threading.Event
    violations: list[str]
    avoid: frozenset[str]
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    say: Callable[[str], None] = print

    def fail(self, scenario: str, text: str) -> None:
        self.violations.append(f"[{scenario}] {text}")

    def main_answers(self, scenario: str, what: str) -> float | None:
        """``show progress`` on the main tracker, fresh connection: seconds it took.

        Reports a violation when the serving daemon (same incarnation) did not answer
        within DEADLINE; "busy" (over the connection cap) is retried meanwhile.
        """
        incarnation = self.keeper.incarnation
        pid = self.keeper.current()
        if pid is None:
            return None
        started = time.monotonic()
        error: Any = None
        while time.monotonic() - started < DEADLINE:
            try:
                reply = ask_once(
                    self.ws.sock,
                    command(f"check-{time.time_ns()}", "show progress", self.ws.root, self.ws.md),
                    DEADLINE - (time.monotonic() - started),
                )
            except Refused as exc:
                error = exc.answer
                time.sleep(0.1)
                continue
            except (OSError, ValueError) as exc:
                error = exc
                break
            if reply.get("type") == "reply":
                return time.monotonic() - started
            error = reply
            break
        if isinstance(error, OSError | ValueError) and wait_gone(pid, 1.0):
            return None  # it was dying (an injected crash): its death is the Keeper's to judge
        if self.keeper.incarnation == incarnation and alive(pid):
            self.fail(
                scenario,
                f"{what}: wtd pid {pid} (still running) did not answer 'show progress' on the "
                f"main workspace within {DEADLINE:g}s: {error!r}",
            )
        return None


def ask_once(path: Path, message: dict[str, Any], timeout: float) -> dict[str, Any]:
    sock = connect(path, timeout=max(0.1, min(timeout, DEADLINE)))
    try:
        sock.settimeout(max(0.1, timeout))
        write_frame(sock, message)
        return read_frame(sock)
    finally:
        sock.close()


class Stopped(Exception):
    """The run is stopping: the episode ends unjudged."""


class Requester:
    """Sends requests with ids of its choosing, resending the same id until answered."""

    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx = ctx
        self.name = name
        self.sock: socket.socket | None = None

    def send(self, message: dict[str, Any], *, fresh: bool = False) -> dict[str, Any] | None:
        """The reply to ``message`` (its id unchanged across resends), or None (gave up
        after 40s); raises Stopped when the run stops meanwhile."""
        deadline = time.monotonic() + 40.0
        while time.monotonic() < deadline:
            if self.ctx.stop.is_set():
                raise Stopped
            try:
                if fresh or self.sock is None:
                    self.drop()
                    self.sock = connect(self.ctx.ws.sock, client=self.name)
                    self.sock.settimeout(45.0)
                write_frame(self.sock, message)
                reply = read_frame(self.sock)
            except (OSError, ValueError):
                self.drop()
                fresh = True
                time.sleep(0.1)
                continue
            if reply.get("type") == "reply" and reply.get("id") == message.get("id"):
                try:
                    reply = follow(reply, message, self.ctx.ws.sock)
                except (OSError, ValueError):
                    time.sleep(0.1)
                    continue
                return reply  # an 'elsewhere' that names no other socket: as it is
            self.drop()
            fresh = True
            time.sleep(0.1)
        return None

    def drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Scenarios(threading.Thread):
    """Runs the enabled episodes, one at a time, until stopped."""

    def __init__(self, seed: int, ctx: Context) -> None:
        super().__init__(name="scenarios", daemon=True)
        from tests.torture.floods import Floods
        from tests.torture.retries import Retries
        from tests.torture.shells import SecondShell
        from tests.torture.traps import Traps

        self.rng = random.Random(seed)
        self.ctx = ctx
        self.shell = SecondShell(ctx, self.rng.randrange(1 << 30))
        self.retries = Retries(ctx, self.rng.randrange(1 << 30))
        self.traps = Traps(ctx, self.rng.randrange(1 << 30))
        self.floods = Floods(ctx, self.rng.randrange(1 << 30))
        every: dict[str, Callable[[], None]] = {
            SecondShell.NAME: self.shell.episode,
            **self.retries.episodes(),
            **self.traps.episodes(),
            **self.floods.episodes(),
        }
        self.episodes = {name: run for name, run in every.items() if name not in ctx.avoid}

    @staticmethod
    def names() -> tuple[str, ...]:
        from tests.torture.floods import Floods
        from tests.torture.retries import Retries
        from tests.torture.shells import SecondShell
        from tests.torture.traps import Traps

        return (SecondShell.NAME, *Retries.NAMES, *Traps.NAMES, *Floods.NAMES)

    def _groups(self) -> dict[str, list[str]]:
        """Episodes of a kind (the symlink traps, the pathological files) take turns
        within one slot of the rotation, so that every kind comes up in a short run."""
        from tests.torture.traps import PATHOLOGICAL, TRAPS

        groups: dict[str, list[str]] = {}
        for name in sorted(self.episodes):
            kind = "symlink" if name in TRAPS else "pathological" if name in PATHOLOGICAL else name
            groups.setdefault(kind, []).append(name)
        return groups

    def run(self) -> None:
        groups = self._groups()
        turns = {kind: list[str]() for kind in groups}
        order: list[str] = []
        try:
            while self.episodes and not self.ctx.stop.wait(self.rng.uniform(0.2, 1.0)):
                if not order:
                    order = sorted(groups)
                    self.rng.shuffle(order)
                kind = order.pop()
                if not turns[kind]:
                    turns[kind] = list(groups[kind])
                    self.rng.shuffle(turns[kind])
                name = turns[kind].pop()
                self.ctx.keeper.note(f"episode {name}")
                self.ctx.say(f"episode: {name}")
                try:
                    self.episodes[name]()
                except Stopped:
                    break
                except Exception as exc:  # a bug of the runner's own: say so, keep going
                    self.ctx.fail(
                        name,
                        f"the scenario itself broke: {exc!r}\n"
                        + "".join(traceback.format_exc(limit=6)),
                    )
        finally:
            self.shell.stop_daemon("at the end of the run")
            self.retries.requester.drop()
