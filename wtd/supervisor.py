"""The supervisor: wires the actors with memory streams and keeps them running.

Each actor is a long-lived ``run(task_status=…)`` coroutine started with
``tg.start`` so the daemon reports ready only when every actor is. A crashed actor
is restarted (its inbox survives, so queued requests are not lost); more than
``max_restarts`` crashes within ``period`` seconds stops the daemon with an error,
as OTP does, so that systemd can restart it from a clean slate.

Adding an actor: create its inbox stream in ``Supervisor.__init__``, hand the send
sides to whoever talks to it, and list it in ``self.actors``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import anyio
from anyio.abc import TaskStatus

from wtd.actors.executor import Executor
from wtd.actors.monitor import Monitor
from wtd.actors.server import Server
from wtd.messages import Execute, MonitorMessage
from wtd.storage.failpoints import Failpoints

log = logging.getLogger("wtd.supervisor")


class Actor(Protocol):
    name: str

    async def run(self, *, task_status: TaskStatus[None] = ...) -> None: ...


class ActorCrashLoop(RuntimeError):
    """An actor crashed more often than the restart intensity allows."""


class Supervisor:
    def __init__(
        self,
        socket_path: Path,
        *,
        failpoints: Failpoints,
        listen_sock: socket.socket | None = None,
        max_restarts: int = 5,
        period: float = 10.0,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.max_restarts = max_restarts
        self.period = period
        self._on_ready = on_ready
        exec_send, exec_recv = anyio.create_memory_object_stream[Execute](1024)
        mon_send, mon_recv = anyio.create_memory_object_stream[MonitorMessage](4096)
        self.actors: list[Actor] = [
            Monitor(mon_recv),
            Executor(exec_recv, monitor=mon_send, failpoints=failpoints),
            Server(socket_path, executor=exec_send, listen_sock=listen_sock),
        ]

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            for actor in self.actors:
                await tg.start(self._supervise, actor)
            log.info("all actors started: %s", ", ".join(a.name for a in self.actors))
            notify("READY=1")
            if self._on_ready is not None:
                self._on_ready()
            task_status.started()

    async def _supervise(
        self, actor: Actor, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        crashes: deque[float] = deque()
        status: TaskStatus[None] = task_status
        while True:
            try:
                await actor.run(task_status=status)
                log.info("actor %s stopped", actor.name)
                return
            except Exception:
                log.exception("actor %s crashed", actor.name)
            status = anyio.TASK_STATUS_IGNORED
            now = time.monotonic()
            crashes.append(now)
            while crashes and now - crashes[0] > self.period:
                crashes.popleft()
            if len(crashes) > self.max_restarts:
                raise ActorCrashLoop(
                    f"actor {actor.name} crashed {len(crashes)} times in {self.period:g}s"
                )
            log.warning("restarting actor %s", actor.name)


def notify(state: str) -> None:
    """Send ``state`` to systemd's $NOTIFY_SOCKET, if any (sd_notify protocol)."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(addr)
            s.sendall(state.encode())
    except OSError as exc:
        log.warning("sd_notify %s failed: %s", state, exc)
