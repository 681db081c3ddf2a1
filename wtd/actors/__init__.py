"""The daemon's actors: one module each, class named after the file."""

from __future__ import annotations

from typing import TypeVar

import anyio
from anyio.streams.memory import MemoryObjectSendStream

T = TypeVar("T")


async def answer(reply_to: MemoryObjectSendStream[T], value: T) -> None:
    """Send the one answer a request expects, then close; an asker that gave up is fine."""
    try:
        async with reply_to:
            await reply_to.send(value)
    except (anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass
