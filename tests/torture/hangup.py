"""Clients that hang up before their reply (SPEC §8: no client behaviour stops wtd).

``HangupClient`` changes its own tasks like the others, but sends some changes and
hangs up at once: a plain close, a close with ``SO_LINGER`` 0 (an abortive close),
or a real ``wtctl`` process interrupted (SIGINT, as Ctrl-C) mid-request. Whether such
a change landed is unknown, so the ledger records it as "maybe applied"; the client
then leaves that task (or sub-task) alone, since a later change of it could be
overtaken by the one still in flight on the closed connection.

A daemon that dies from it (SIGPIPE under ``python -m wtd``) is reported by the
Keeper: the hang-ups are noted there, and named when a daemon exits on its own.
"""

from __future__ import annotations

import collections
import json
import os
import signal
import socket
import struct
import subprocess
import time
from typing import Any

from tests.torture.clients import RawClient, classify, command, connect, write_frame
from tests.torture.daemon import BIN, Keeper
from tests.torture.ledger import Op, Outcome


class HangupClient(RawClient):
    STYLES = ("hangup-close", "hangup-rst", "hangup-wtctl")
    SHARE = 0.6  # of its changes (adds excepted) sent with a hang-up

    def __init__(self, *args: Any, keeper: Keeper, avoid: frozenset[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = f"hangup-{self.cid}"
        self.keeper = keeper
        self.styles = [s for s in self.STYLES if s not in avoid]
        self.counts: collections.Counter[str] = collections.Counter()

    @property
    def count(self) -> int:
        return sum(self.counts.values())

    def send(self, op: Op) -> tuple[Outcome, Any, str]:
        if op.kind in ("add", "addsub") or not self.styles or self.rng.random() > self.SHARE:
            return super().send(op)
        style = self.rng.choice(self.styles)
        self.keeper.note(f"{style} of {op.phrase!r}")
        if style == "hangup-wtctl":
            outcome, result, detail = self._interrupt_wtctl(op)
        else:
            self._send_and_hang_up(op, abortive=style == "hangup-rst")
            outcome, result, detail = "unknown", None, "hung up"
        if outcome == "unknown":
            self.counts[style] += 1
            self._retire(op)
        time.sleep(self.rng.uniform(0.02, 0.2))
        return outcome, result, detail

    def _send_and_hang_up(self, op: Op, *, abortive: bool) -> None:
        rid = f"hangup-{self.cid}-{os.urandom(8).hex()}"
        try:
            sock = connect(self.ws.sock, timeout=5.0, client="hangup")
        except (OSError, ValueError):
            return  # never sent: not applied (and "unknown" covers it)
        try:
            if abortive:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            write_frame(sock, command(rid, op.phrase, self.ws.root, self.ws.md))
        except OSError:
            pass
        finally:
            sock.close()

    def _interrupt_wtctl(self, op: Op) -> tuple[Outcome, Any, str]:
        argv = [str(BIN / "wtctl"), "--json", "--no-autostart", "--tracker", str(self.ws.md)]
        proc = subprocess.Popen(
            [*argv, op.phrase],
            env=self.env,
            cwd=self.ws.root,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(self.rng.uniform(0.0, 0.3))  # before, during or after its request
        proc.send_signal(signal.SIGINT)
        try:
            out, _err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            return "unknown", None, "wtctl hung after SIGINT"
        lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
        if proc.returncode in (0, 1, 2, 3, 4, 5) and len(lines) == 1:
            try:
                doc: dict[str, Any] = json.loads(lines[0])
            except ValueError:
                return "unknown", None, "interrupted"
            return classify(doc), doc.get("result"), "\n".join(doc.get("lines") or [])
        return "unknown", None, "interrupted"

    def _retire(self, op: Op) -> None:
        """Leave the field of a change in flight alone from now on."""
        if op.key is None:
            return
        kind, ident, _attr = op.key
        items = self.tasks if kind == "task" else self.subs
        if ident in items:
            items.remove(ident)
