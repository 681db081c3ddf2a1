"""Events actor: fans tracker changes out to subscribed clients (the REPL, ``wtctl events``).

A subscriber that reads too slowly never slows the daemon: events that do not fit
its buffer are dropped and it is told how many it missed (``lagged``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import assert_never

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import protocol
from wtd.actors import answer, serve
from wtd.messages import AddSubscriber, EventsMessage, Probe, Publish

log = logging.getLogger("wtd.events")


class _Subscriber(msgspec.Struct, kw_only=True):
    workspace: str
    stream: MemoryObjectSendStream[protocol.Event]
    missed: int = 0


class Events:
    name = "events"

    def __init__(self, inbox: MemoryObjectReceiveStream[EventsMessage]) -> None:
        self._inbox = inbox
        self._subscribers: list[_Subscriber] = []
        self._seq = 0

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the inbox; subscribers and the sequence number survive a crash."""
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: EventsMessage) -> None:
        match msg:
            case Publish(event=event):
                self._seq += 1
                if not self._subscribers:
                    return  # nobody listens: no clock read, no copy (it came with every change)
                stamped = msgspec.structs.replace(
                    event,
                    seq=self._seq,
                    at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                )
                self._fan_out(stamped)
            case AddSubscriber(workspace=workspace, stream=stream):
                self._subscribers.append(_Subscriber(workspace=workspace, stream=stream))
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)

    def _fan_out(self, event: protocol.Event) -> None:
        alive: list[_Subscriber] = []
        for sub in self._subscribers:
            if sub.workspace and event.workspace and sub.workspace != event.workspace:
                alive.append(sub)
                continue
            try:
                if sub.missed:
                    sub.stream.send_nowait(
                        protocol.Event(seq=event.seq, kind="lagged", at=event.at, missed=sub.missed)
                    )
                    sub.missed = 0
                sub.stream.send_nowait(event)
            except anyio.WouldBlock:
                sub.missed += 1
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue  # the client left
            alive.append(sub)
        self._subscribers = alive
