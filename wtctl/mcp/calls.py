"""What each MCP tool asks wtd, and how wtd's answer reads as a tool result.

Every tool is one phrase (SPEC §4), sent as its own request (a fresh id; the same id
again only when ``Session`` retries it), so the daemon parses, resolves and enforces
exactly as it does for a one-shot ``wtctl``. The caller is the agent the MCP client
says it is (``clientInfo.name``), unless ``--agent`` or ``WT_AGENT`` names one.

An argument is put into its phrase so that it cannot turn the phrase into another
command: a task ID must be one word, free text is joined onto one line. Everything
else (the ID's format, the status, the phase) is for wtd to judge.

Standard library only: the SDK wiring is ``wtctl.mcp.server``.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from typing import Any

from wtctl.args import Args, socket_path
from wtctl.connection import ConnectionLost, RequestTooLarge, Session, Unavailable
from wtctl.replies import parts
from wtd import wire
from wtd.enforcement.agents import RESERVED_NAMES

HISTORY_MAX = 20  # what one `history` reply holds (wtd's ShowHistory.limit)
UNNAMED = "mcp"  # the agent name when the client gives none


class BadArgument(Exception):
    """An argument no phrase can carry (exit 2, nothing sent)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ phrases


def task_word(task: str) -> str:
    """``task`` as the one word a phrase takes (its format is wtd's to check)."""
    word = task.strip()
    if not word or any(c.isspace() for c in word):
        raise BadArgument(
            "invalid_task_id", f"Invalid task ID format: '{task}' (expected X.Y, e.g. 2.1)"
        )
    return word


def one_line(text: str, what: str) -> str:
    line = " ".join(text.split())
    if not line:
        raise BadArgument("invalid_argument", f"{what} must not be empty")
    return line


def progress() -> str:
    return "show progress"


def next_task() -> str:
    return "next"


def claim(task: str | None = None, phase: int | None = None) -> str:
    if task is not None and phase is not None:
        raise BadArgument("invalid_argument", "Give a task or a phase to claim from, not both")
    if task is not None:
        return f"claim task {task_word(task)}"
    return "claim next" if phase is None else f"claim next in phase {phase}"


def release(task: str) -> str:
    return f"release task {task_word(task)}"


def show_task(task: str) -> str:
    return f"show task {task_word(task)}"


def set_status(task: str, status: str) -> str:
    return f"mark task {task_word(task)} {one_line(status, 'Status')}"


def add_task(phase: int, name: str) -> str:
    return f"add task to phase {phase}: {one_line(name, 'Task name')}"


def history(task: str | None = None) -> str:
    return "history" if task is None else f"history task {task_word(task)}"


# ------------------------------------------------------------------ the caller


def agent_name(client_name: str | None) -> str:
    """The MCP client's name as an agent name: letters, digits, ``.``, ``_``, ``-``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", client_name or "").strip("-.")[:64]
    if name.casefold() in RESERVED_NAMES:  # "user", "git": names wtd gives others
        name = f"{UNNAMED}-{name}"
    return name or UNNAMED


def request(args: Args, phrase: str, *, tracker: str | None, client: str | None) -> dict[str, Any]:
    """The request for ``phrase``: the server's options, the tool's tracker (else the
    server's), and the caller: ``--agent``/``WT_AGENT`` when set, else the client."""
    return wire.request(
        phrase,
        cwd=os.getcwd(),
        tracker=tracker or args.tracker,
        subagent=args.subagent,
        agent=args.agent or agent_name(client),
    )


class Daemon:
    """wtd as the tools reach it: one ``Session`` per call in flight, kept for the next
    (a ``Session`` is one connection, used by one thread at a time)."""

    def __init__(self, args: Args) -> None:
        self.path = socket_path(args)
        self.autostart = args.autostart
        self._idle: list[Session] = []
        self._lock = threading.Lock()

    def ask(self, message: dict[str, Any]) -> dict[str, Any]:
        """wtd's reply to ``message``; one made up when none could be had (exit 5, 2)."""
        with self._lock:
            session = self._idle.pop() if self._idle else None
        if session is None:
            session = Session(self.path, autostart=self.autostart)
        try:
            reply = session.ask(message)
        except (Unavailable, ConnectionLost) as exc:
            session.close()
            return wire.refused_reply(wire.UNAVAILABLE, f"wtd unavailable: {exc}")
        except RequestTooLarge as exc:
            reply = wire.refused_reply(wire.INVALID_ARGUMENT, str(exc))
        with self._lock:
            self._idle.append(session)
        return reply

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for session in idle:
            session.close()


# ------------------------------------------------------------------ the answer


@dataclass(frozen=True)
class Answer:
    """A tool result: the reply's lines as the one-shot prints them, the structured
    content, and whether it is a tool error (any exit status but 0)."""

    text: str
    structured: dict[str, Any]
    error: bool


def answer(reply: dict[str, Any], *, limit: int | None = None, claimed: bool = False) -> Answer:
    """``reply`` as a tool result. ``limit``: keep only the newest ``limit`` history rows;
    ``claimed``: lift the claimed task's id (``result.id``) to the top as ``id``."""
    if wire.kind(reply) != wire.REPLY:
        message = str(wire.refusal(reply, "unexpected answer from wtd"))
        reply = wire.refused_reply(str(wire.refusal_code(reply, "bad_reply")), message)
    if limit is not None:
        reply = _newest(reply, limit)
    lines = [line for _, line in parts(reply)]
    code = wire.exit_status(reply)
    if code:
        error = wire.error(reply) or wire.error_info("failed", "\n".join(lines))
        return Answer(
            text="\n".join([*lines, f"(exit {code}: {error['code']})"]),
            structured={"exit_code": code, "error": error, "tracker": wire.tracker(reply)},
            error=True,
        )
    structured = {"tracker": wire.tracker(reply), "result": wire.result(reply)}
    if claimed and "id" in wire.result_dict(reply):
        structured = {"id": wire.result_dict(reply)["id"], **structured}
    return Answer(text="\n".join(lines), structured=structured, error=False)


def refused(exc: BadArgument) -> Answer:
    """The answer to arguments no phrase could carry."""
    return answer(wire.refused_reply(exc.code, str(exc)))


def _newest(reply: dict[str, Any], limit: int) -> dict[str, Any]:
    """A history reply cut to its newest ``limit`` rows (one line each, after a header)."""
    rows = wire.result(reply)
    lines = wire.lines(reply)
    if not isinstance(rows, list) or len(rows) <= limit or len(lines) < len(rows):
        return reply
    head = lines[: len(lines) - len(rows)]
    return {**reply, "result": rows[-limit:], "lines": head + lines[len(head) :][-limit:]}
