"""The daemon's actors: one module each, class named after the file."""

from __future__ import annotations

from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream

T = TypeVar("T")


async def answer(reply_to: MemoryObjectSendStream[T], value: T) -> None:
    """Send the one answer a request expects, then close; an asker that gave up is fine.

    Reply streams hold one item, so the answer never waits: it is handed over without
    a scheduling checkpoint (one fewer trip through the event loop per hop).
    """
    try:
        with reply_to:
            reply_to.send_nowait(value)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError, anyio.WouldBlock):
        pass


async def post(inbox: MemoryObjectSendStream[T], message: T) -> None:
    """Put ``message`` in an actor's inbox: at once when there is room (the usual case),
    else wait for room. Unlike ``send``, no scheduling checkpoint comes first: a
    request crosses several actors, and each checkpoint is a trip through the loop."""
    try:
        inbox.send_nowait(message)
    except anyio.WouldBlock:
        await inbox.send(message)
