"""The REPL's event stream (SPEC §9): changes others make, printed above the prompt.

A ``Follower`` keeps one subscription open, to the workspace of the pinned tracker
at the wtd that serves it, and moves it when either changes (``retarget``). Events
that arrive while a command of the REPL's own is in flight are held until its
reply is in: an event whose lines the reply already printed is the echo of that
command and is not printed again. When the stream is lost the follower waits
until a command gets through again (the command path restarts wtd if needed).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from prompt_toolkit.formatted_text import StyleAndTextTuples

from wtctl.aio import ConnectionLost, Unavailable, subscribe
from wtctl.styles import format_event
from wtd import wire

Echo = Callable[[StyleAndTextTuples], None]

_OWN_MEMORY = 32  # replies remembered to recognise the events of our own changes


class Follower:
    """One event subscription at a time; ``start`` it in the REPL's task group.

    ``echo`` prints; ``on_change`` is told of every event (the REPL refreshes).
    """

    def __init__(
        self, home: str, *, autostart: bool, echo: Echo, on_change: Callable[[], None]
    ) -> None:
        self._home = home  # the socket the REPL was started with: the only one it autostarts
        self._autostart = autostart
        self._echo = echo
        self._on_change = on_change
        self.subscribed = asyncio.Event()  # set while events flow (tests wait on it)
        self._answered = asyncio.Event()  # a command got through: the daemon is back
        self.in_flight = False  # a command of ours is waiting for its reply: hold events
        self._held: list[dict[str, Any]] = []
        self._own: deque[frozenset[str]] = deque(maxlen=_OWN_MEMORY)
        self._tg: asyncio.TaskGroup | None = None
        self._task: asyncio.Task[None] | None = None
        self._target: tuple[str, str] | None = None  # (socket, workspace) followed

    def start(self, tg: asyncio.TaskGroup) -> None:
        self._tg = tg

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._tg = None

    def retarget(self, path: str, workspace: str) -> None:
        """(Re)subscribe when the workspace, or the daemon serving it, changed."""
        if self._tg is None:
            return  # not running yet: the REPL retargets once it starts
        target = (path, workspace)
        if target == self._target:
            return
        self._target = target
        if self._task is not None:
            self._task.cancel()
        self.subscribed.clear()
        self._task = self._tg.create_task(self._follow(*target))

    def answered(self, reply: dict[str, Any]) -> None:
        """A command got ``reply``: the daemon is there, and its lines are ours."""
        self._answered.set()
        # an event's lines are the reply's healing lines and its lines (a status given
        # in another spelling is told in healing lines alone)
        self._own.append(frozenset([*wire.healing(reply), *wire.lines(reply)]))

    def release(self) -> None:
        """Show the events held while a command was in flight."""
        held, self._held = self._held, []
        for event in held:
            self._on_event(event)

    async def _follow(self, path: str, workspace: str) -> None:
        autostart = self._autostart and path == self._home
        while True:
            try:
                stream = await subscribe(path, workspace, autostart=autostart)
            except (Unavailable, ConnectionLost, OSError):
                await self._wait_for_daemon()
                continue
            self.subscribed.set()
            try:
                async for event in stream:
                    if wire.kind(event) == wire.EVENT:
                        self._on_event(event)
            except ConnectionLost:
                pass
            finally:
                await stream.close()
            self.subscribed.clear()
            self._echo([("class:warning", "Lost wtd's event stream; it resumes with wtd.\n")])
            await self._wait_for_daemon()

    async def _wait_for_daemon(self) -> None:
        """Until a command gets an answer again (the command path restarts wtd if needed)."""
        self._answered.clear()
        await self._answered.wait()

    def _on_event(self, event: dict[str, Any]) -> None:
        if self.in_flight:
            self._held.append(event)  # may be our own change: decide once the reply is in
            return
        # every tracker of the workspace (SPEC §9: changes others make show up live);
        # each event names its tracker, so one that is not the prompt's is told apart
        self._on_change()
        lines = frozenset(wire.lines(event))
        own = next((seen for seen in self._own if lines and lines <= seen), None)
        if own is not None:
            self._own.remove(own)  # the echo of our own command: already printed
        else:
            self._echo([*format_event(event), ("", "\n")])
