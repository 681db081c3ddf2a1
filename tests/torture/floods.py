"""Connection floods and unfinished frames (SPEC §8: no client behaviour stops wtd).

``flood``: open connections (each one greeted) until the daemon stops greeting new
ones, then close them all. Against a daemon started with the torture config the
cap (``[daemon] max_connections``) must answer the next one with a protocol_error
``busy``; against one started with a low fd limit, accept hits EMFILE. Either way,
once the flood is gone the same daemon must answer within the probe's deadline and
give its descriptors back; the ledger checks that nothing acknowledged was lost.

``partial-frame``: after the handshake, a frame's header and part of its body, then
silence: a daemon started with ``[daemon] frame_timeout`` must close the connection
within that deadline (plus slack). Skipped when the daemon runs without the torture
config (its key was rejected, or this start did not use it).
"""

from __future__ import annotations

import json
import random
import socket
import struct
import time
from collections.abc import Callable

from tests.torture.clients import Refused, connect
from tests.torture.daemon import (
    FRAME_TIMEOUT,
    LOW_NOFILE,
    MAX_CONNECTIONS,
    DaemonInfo,
    StartPlan,
    alive,
    fd_count,
)
from tests.torture.scenarios import Context

UNCAPPED_FLOOD = 150  # connections opened when neither a cap nor a low fd limit applies
FRAME_SLACK = 5.0
FD_SLACK = 25  # descriptors a daemon may keep above its pre-flood count afterwards


class Floods:
    NAMES = ("flood", "partial-frame")

    def __init__(self, ctx: Context, seed: int) -> None:
        self.ctx = ctx
        self.rng = random.Random(seed)

    def episodes(self) -> dict[str, Callable[[], None]]:
        return {"flood": self.flood, "partial-frame": self.partial_frame}

    def _serving(self, *, nofile: int, config: bool) -> tuple[int, int, DaemonInfo] | None:
        """The daemon serving now, restarted first (kill -9) unless it has these limits."""
        keeper = self.ctx.keeper
        incarnation, pid, info = keeper.snapshot()
        if pid is None or info is None or (info.plan.nofile, info.plan.config) != (nofile, config):
            mode = keeper.choose(limits=False).mode
            self.ctx.say(f"restart for the episode: {StartPlan(mode, nofile, config).describe()}")
            with self.ctx.quiet.shared():
                keeper.restart("", plan=StartPlan(mode, nofile, config))
            incarnation, pid, info = keeper.snapshot()
        if pid is None or info is None:
            return None
        return incarnation, pid, info

    def _targets(self) -> list[str]:
        avoid = self.ctx.avoid
        out = ["as-is"]
        if "start-lowfd" not in avoid:
            out.append("emfile")
        if "start-config" not in avoid and self.ctx.keeper.config_supported:
            out.append("cap")
        return out

    def flood(self) -> None:
        keeper = self.ctx.keeper
        target = self.rng.choice(self._targets())
        if target == "as-is":
            incarnation, pid, info = keeper.snapshot()
        else:
            serving = self._serving(
                nofile=LOW_NOFILE if target == "emfile" else 0, config=target == "cap"
            )
            incarnation, pid, info = serving if serving is not None else (0, None, None)
        if pid is None or info is None:
            return
        capped = info.plan.config
        nofile = info.plan.nofile
        how = info.plan.describe()
        if capped:
            limit = MAX_CONNECTIONS + 30
        elif nofile:
            limit = nofile + 30
        else:
            limit = UNCAPPED_FLOOD
        conns: list[socket.socket] = []
        stopped_by: object = None
        with self.ctx.quiet.shared():
            fds_before = fd_count(pid) or 0
            keeper.flooding.set()
            try:
                for _ in range(limit):
                    try:
                        conns.append(connect(self.ctx.ws.sock, timeout=2.0, client="flood"))
                    except Refused as exc:
                        stopped_by = exc.answer
                        break
                    except (OSError, ValueError) as exc:
                        stopped_by = exc
                        break
                opened = len(conns)
            finally:
                for sock in conns:
                    sock.close()
            self.ctx.counts["flood"] += 1
            what = f"a flood of {opened} connections against wtd pid {pid} ({how})"
            self.ctx.keeper.note(what)
            busy = isinstance(stopped_by, dict) and stopped_by.get("code") == "busy"
            if capped and not nofile and not busy and keeper.incarnation == incarnation:
                self.ctx.fail(
                    "flood",
                    f"{what}: past [daemon] max_connections = {MAX_CONNECTIONS} expected a "
                    f"protocol_error 'busy', got {_describe(stopped_by, opened, limit)}",
                )
            if isinstance(stopped_by, dict) and not busy:
                self.ctx.fail("flood", f"{what}: a connection was refused with {stopped_by}")
            time.sleep(0.5)
            if keeper.incarnation == incarnation and not alive(pid):
                self.ctx.fail("flood", f"{what}: the daemon died")
                keeper.flooding.clear()
                return
            took = self.ctx.main_answers("flood", f"after {what} was closed")
            deadline = time.monotonic() + 5.0
            fds_after = fd_count(pid) or 0
            while fds_after > fds_before + FD_SLACK and time.monotonic() < deadline:
                time.sleep(0.2)
                fds_after = fd_count(pid) or 0
            keeper.flooding.clear()
            if took is not None and alive(pid) and fds_after > fds_before + FD_SLACK:
                self.ctx.fail(
                    "flood",
                    f"{what}: 5s after they were closed wtd still holds {fds_after} fds "
                    f"(before the flood: {fds_before})",
                )

    def partial_frame(self) -> None:
        keeper = self.ctx.keeper
        incarnation, pid, info = keeper.snapshot()
        if (info is None or not info.plan.config) and "cap" in self._targets():
            serving = self._serving(nofile=0, config=True)
            incarnation, pid, info = serving if serving is not None else (0, None, None)
        if pid is None or info is None or not info.plan.config:
            self.ctx.counts["partial-frame-skipped"] += 1
            return
        try:
            sock = connect(self.ctx.ws.sock, timeout=5.0, client="partial")
        except (OSError, ValueError):
            return
        body = json.dumps({"type": "ping", "id": "partial" + "x" * 200}).encode()
        cut = self.rng.randint(0, len(body) - 1)
        wait = FRAME_TIMEOUT + FRAME_SLACK
        try:
            try:
                sock.sendall(struct.pack(">I", len(body)) + body[:cut])
            except OSError:
                return  # the daemon went away (a kill -9 of the mix) before the frame
            started = time.monotonic()
            sock.settimeout(wait)
            answer = b""
            try:
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
            except TimeoutError:
                if keeper.incarnation == incarnation and alive(pid):
                    self.ctx.fail(
                        "partial-frame",
                        f"a frame left unfinished after the handshake (header + {cut} of "
                        f"{len(body)} bytes) was not closed by wtd pid {pid} within {wait:g}s "
                        f"([daemon] frame_timeout = {FRAME_TIMEOUT:g})",
                    )
                return
            except OSError:
                pass  # reset: closed, as wanted
            self.ctx.counts["partial-frame"] += 1
            took = time.monotonic() - started
            if took < FRAME_TIMEOUT * 0.5 and keeper.incarnation == incarnation and alive(pid):
                self.ctx.fail(
                    "partial-frame",
                    f"wtd pid {pid} closed a connection with an unfinished frame after "
                    f"{took:.2f}s, well before [daemon] frame_timeout = {FRAME_TIMEOUT:g}",
                )
        finally:
            sock.close()
        crashes_on_purpose = "crash" in keeper.specs_by_pid.get(pid, "")  # its failpoint
        if keeper.incarnation == incarnation and not alive(pid) and not crashes_on_purpose:
            self.ctx.fail("partial-frame", f"wtd pid {pid} died after a partial frame")


def _describe(stopped_by: object, opened: int, limit: int) -> str:
    if stopped_by is None:
        return f"all {opened} of {limit} connections greeted"
    return f"{stopped_by!r} after {opened} greeted connections"
