"""Driving the REPL in-process: a real PromptSession fed through a pipe, its output
captured as text, against a real wtd (waits are on events, never on sleeps)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import PipeInput, create_pipe_input
from prompt_toolkit.output import DummyOutput

from tests.e2e.conftest import Workspace
from wtctl.args import Args
from wtctl.repl import Repl

TIMEOUT = 30
ENTER = "\r"
CTRL_C = "\x03"
CTRL_D = "\x04"


class Transcript:
    """What the REPL printed, as plain text; ``wait_for`` waits (no sleeping) for a line."""

    def __init__(self) -> None:
        self.text = ""
        self._changed = asyncio.Event()

    def __call__(self, fragments: StyleAndTextTuples) -> None:
        self.text += "".join(fragment[1] for fragment in fragments)
        self._changed.set()

    async def wait_for(self, needle: str, start: int = 0) -> int:
        """Wait until ``needle`` is printed after ``start``; the offset just past it."""
        while (found := self.text.find(needle, start)) < 0:
            self._changed.clear()
            await self._changed.wait()
        return found + len(needle)


@dataclass
class Running:
    repl: Repl
    keys: PipeInput
    out: Transcript
    task: asyncio.Task[int]

    def type(self, text: str) -> None:
        self.keys.send_text(text)

    async def leave(self) -> int:
        self.type(CTRL_D)
        return await self.task


def repl_args(ws: Workspace, *, tracker: bool = True, socket: Path | None = None) -> Args:
    args = Args()
    args.tracker = str(ws.md) if tracker else None
    args.agent = None
    args.subagent = False
    args.socket = str(socket or ws.sock)
    args.autostart = False
    return args


@asynccontextmanager
async def running_repl(ws: Workspace, args: Args | None = None) -> AsyncIterator[Running]:
    with create_pipe_input() as keys:
        out = Transcript()
        repl = Repl(args or repl_args(ws), input=keys, output=DummyOutput(), echo=out)
        async with asyncio.TaskGroup() as tg:
            task = tg.create_task(repl.run())
            try:
                with anyio.fail_after(TIMEOUT):
                    await repl.refreshed.wait()
                    yield Running(repl, keys, out, task)
            finally:
                task.cancel()


def prompt_text(repl: Repl) -> str:
    return "".join(fragment[1] for fragment in repl._prompt())


def toolbar_text(repl: Repl) -> str:
    return "".join(fragment[1] for fragment in repl._toolbar())
