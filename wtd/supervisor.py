"""The supervisor: wires the actors with memory streams and keeps them running.

Each actor is a long-lived ``run(task_status=…)`` coroutine started with
``tg.start`` so the daemon reports ready only when every actor is.

Restarts (the core is in ``wtd.actors``, re-exported here): ``supervise(run, name,
intensity)`` runs one actor and restarts it when it crashes — its inbox survives, so
queued requests are not lost, while the request in hand is failed by ``serve`` (its
asker sees ``EndOfStream``). Each crash is counted in a ``RestartIntensity(max_restarts,
period)``: more than ``max_restarts`` crashes within ``period`` seconds raises
``ActorCrashLoop``, which stops the daemon with an error, as OTP does, so that systemd
can restart it from a clean slate. Each top-level actor has an intensity of its own;
the Stores, which the Executor starts on demand (one per tracker) with the same
``supervise``, all share ``Supervisor.store_intensity``, which outlives Executor
restarts. A crash loop below (a Store's) propagates through the actor above it
instead of counting as its crash: a crash loop anywhere stops the daemon.

Under systemd it sends ``READY=1`` once serving and, when ``$WATCHDOG_USEC`` is
set, ``WATCHDOG=1`` every half period — but only after every actor has answered a
ping (and the socket a real round trip), so a wedged daemon gets restarted.

Adding an actor: create its inbox stream in ``Supervisor.__init__``, hand the send
sides to whoever talks to it, and list it in ``self.actors`` (and in ``_pingable``
if it has an inbox).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectSendStream

from wtd import protocol
from wtd.actors import ActorCrashLoop, RestartIntensity, supervise
from wtd.actors.analyzer import Analyzer
from wtd.actors.enforcer import Enforcer
from wtd.actors.events import Events
from wtd.actors.executor import Executor, Settings
from wtd.actors.knowledge import Knowledge
from wtd.actors.monitor import Monitor
from wtd.actors.planner import Planner
from wtd.actors.server import Server
from wtd.actors.watcher import Watcher
from wtd.messages import (
    AnalyzerMessage,
    EnforcerMessage,
    EventsMessage,
    ExecutorMessage,
    KnowledgeMessage,
    MonitorMessage,
    PlannerMessage,
    Probe,
    WatcherMessage,
)
from wtd.storage.failpoints import Failpoints
from wtd.wire import PROTOCOL_VERSION

__all__ = [
    "PING_TIMEOUT",
    "Actor",
    "ActorCrashLoop",
    "RestartIntensity",
    "Supervisor",
    "notify",
    "supervise",
    "watchdog_interval",
]

log = logging.getLogger("wtd.supervisor")

PING_TIMEOUT = 5.0


class Actor(Protocol):
    name: str

    async def run(self, *, task_status: TaskStatus[None] = ...) -> None: ...


class Supervisor:
    def __init__(
        self,
        socket_path: Path,
        *,
        failpoints: Failpoints,
        settings: Settings | None = None,
        listen_sock: socket.socket | None = None,
        max_restarts: int = 5,
        period: float = 10.0,
        health_window: int = 100,
        watchdog: bool = True,
        on_ready: Callable[[], None] | None = None,
    ) -> None:
        self.watchdog = watchdog
        self.socket_path = socket_path
        self.max_restarts = max_restarts
        self.period = period
        # Shared by every Store the Executor supervises (one per tracker, on demand).
        self.store_intensity = RestartIntensity(max_restarts, period)
        self._on_ready = on_ready
        settings = settings or Settings()
        exec_send, exec_recv = anyio.create_memory_object_stream[ExecutorMessage](1024)
        mon_send, mon_recv = anyio.create_memory_object_stream[MonitorMessage](4096)
        ana_send, ana_recv = anyio.create_memory_object_stream[AnalyzerMessage](1024)
        plan_send, plan_recv = anyio.create_memory_object_stream[PlannerMessage](1024)
        know_send, know_recv = anyio.create_memory_object_stream[KnowledgeMessage](1024)
        ev_send, ev_recv = anyio.create_memory_object_stream[EventsMessage](4096)
        enf_send, enf_recv = anyio.create_memory_object_stream[EnforcerMessage](1024)
        watch_send, watch_recv = anyio.create_memory_object_stream[WatcherMessage](1024)
        self.actors: list[Actor] = [
            Watcher(watch_recv),
            Events(ev_recv),
            Enforcer(
                enf_recv,
                advisory_rules=settings.advisory_rules,
                agent_rules=settings.agent_rules,
                workspaces=settings.workspaces,
            ),
            Monitor(mon_recv, analyzer=ana_send, window=health_window),
            Analyzer(ana_recv, planner=plan_send),
            Knowledge(know_recv),
            Planner(plan_recv, knowledge=know_send, policy=settings.policy),
            Executor(
                exec_recv,
                monitor=mon_send,
                knowledge=know_send,
                events=ev_send,
                enforcer=enf_send,
                watcher=watch_send,
                failpoints=failpoints,
                settings=settings,
                socket_path=socket_path,
                store_intensity=self.store_intensity,
            ),
            Server(
                socket_path,
                executor=exec_send,
                events=ev_send,
                listen_sock=listen_sock,
                max_connections=settings.max_connections,
                frame_timeout=settings.frame_timeout,
            ),
        ]
        self._pingable: dict[str, MemoryObjectSendStream[Probe]] = {
            "monitor": mon_send,
            "analyzer": ana_send,
            "planner": plan_send,
            "knowledge": know_send,
            "executor": exec_send,
            "events": ev_send,
            "enforcer": enf_send,
            "watcher": watch_send,
        }

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            for actor in self.actors:
                intensity = RestartIntensity(self.max_restarts, self.period)
                await tg.start(supervise, actor.run, actor.name, intensity)
            log.info("all actors started: %s", ", ".join(a.name for a in self.actors))
            notify("READY=1")
            if self._on_ready is not None:
                self._on_ready()
            interval = watchdog_interval() if self.watchdog else None
            if interval is not None:
                tg.start_soon(self._watchdog, interval)
            task_status.started()

    async def ping_all(self) -> list[str]:
        """Probe every actor (and the socket); the names of those that did not answer."""
        silent: list[str] = []
        for name, inbox in self._pingable.items():
            send, recv = anyio.create_memory_object_stream[str](1)
            answered = False
            with (
                anyio.move_on_after(PING_TIMEOUT),
                recv,
                contextlib.suppress(anyio.EndOfStream, anyio.BrokenResourceError),
            ):
                await inbox.send(Probe(reply_to=send))
                await recv.receive()  # EndOfStream: the actor failed or is stopping
                answered = True
            if not answered:
                silent.append(name)
        if not await self._socket_answers():
            silent.append("server")
        return silent

    async def _socket_answers(self) -> bool:
        try:
            with anyio.fail_after(PING_TIMEOUT):
                async with await anyio.connect_unix(self.socket_path) as stream:
                    await stream.send(protocol.frame(protocol.Hello(version=PROTOCOL_VERSION)))
                    data = await stream.receive()
                    return b"welcome" in data
        except (OSError, TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError):
            return False

    async def _watchdog(self, interval: float) -> None:
        while True:
            silent = await self.ping_all()
            if silent:
                log.error("watchdog: no answer from %s; not telling systemd we are alive", silent)
            else:
                notify("WATCHDOG=1")
            await anyio.sleep(interval)


def watchdog_interval() -> float | None:
    """Half of systemd's ``WatchdogSec`` (from ``$WATCHDOG_USEC``), if it applies to us."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    try:
        return max(0.05, int(usec) / 2_000_000)
    except ValueError:
        return None


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
