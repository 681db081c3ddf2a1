"""The interactive REPL (SPEC §9): ``wtctl`` with no PHRASE on a terminal.

Assembled here, from small parts: ``completer`` (phrases, IDs, statuses — fuzzy),
``toolbar`` (tracker, progress, health, circuits), ``aio`` (the asyncio client).
Three connections to wtd, each with one job:

- ``client``: the user's commands, one at a time;
- ``background``: refreshes of the toolbar and the completion vocabulary
  (``show progress`` with health, ``list tasks``), after each command and each
  event, coalesced — drawing the toolbar only reads the last result;
- an event subscription for the tracker's workspace: changes made by other
  clients or by hand edits are printed above the prompt as they arrive.

Consent is answered inline: a ``consent_required`` reply that carries a
``consent_token`` arms it, and the next command sent (``yes``, ``approved``,
``always``) carries it as ``options.consent_token``; then it is forgotten.

Only this package's REPL modules import prompt-toolkit: the one-shot path never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from prompt_toolkit.shortcuts import print_formatted_text
from prompt_toolkit.styles import Style

from wtctl import toolbar
from wtctl.aio import Client, ConnectionLost, Unavailable, subscribe
from wtctl.cli import (
    _ALTERNATIVES,
    EXIT_UNAVAILABLE,
    Args,
    command_message,
    consent_token_of,
    socket_path,
)
from wtctl.completer import Phase, Task, Vocabulary, make_completer

Echo = Callable[[StyleAndTextTuples], None]

STYLE = Style.from_dict(
    {
        "prompt": "bold",
        "healing": "ansigreen",
        "error": "ansired",
        "warning": "ansiyellow",
        "hint": "ansiyellow",
        "event": "ansicyan",
        "event.healed": "ansigreen",
        "event.warning": "ansiyellow",
        "bottom-toolbar": "noreverse bg:#262626 #d0d0d0",
        "toolbar.tracker": "bold",
        "toolbar.sep": "#808080",
        "toolbar.good": "#5fd75f",
        "toolbar.warn": "#ffd75f",
        "toolbar.bad": "bold #ff5f5f",
    }
)

REPL_HELP = (
    "In the REPL: Tab completes (fuzzy), → accepts the grey suggestion, "
    "↑ searches history, Ctrl-C cancels the line, Ctrl-D leaves."
)
_WARNING_MARKS = ("⚠", "ℹ", "?", "Advisory")
_OWN_MEMORY = 32  # replies remembered to recognise the events of our own changes


def history_path(env: dict[str, str] | None = None) -> Path:
    """``$XDG_STATE_HOME/wtctl/history`` (default ``~/.local/state/wtctl/history``)."""
    env = dict(os.environ) if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    state = env.get("XDG_STATE_HOME") or os.path.join(home, ".local", "state")
    return Path(state) / "wtctl" / "history"


def file_history(path: Path | None = None) -> History:
    path = path or history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    return FileHistory(str(path))


def workspace_of(args: Args) -> str:
    """The workspace whose events the REPL follows (that of ``--tracker``, else of cwd)."""
    from wtctl.events import workspace_of as resolve_workspace
    from wtd.errors import WtdError

    try:
        return resolve_workspace(args)
    except WtdError:
        from wtd.workspace import find_workspace

        cwd = Path(os.getcwd())
        return str(find_workspace(cwd) or cwd)


def format_event(event: dict[str, Any]) -> StyleAndTextTuples:
    """``[agent:planner] docs/plans/my-project.md: Task 2.2 marked complete. (56%)``."""
    kind = event.get("kind", "")
    if kind == "lagged":
        return [("class:event.warning", f"[wtd] {event.get('missed', 0)} events missed")]
    style = {"healed": "class:event.healed", "circuit": "class:event.warning"}.get(
        kind, "class:event"
    )
    where = f" {event['tracker']}:" if event.get("tracker") else ""
    text = " ".join(event.get("lines") or [kind])
    progress = event.get("progress")
    suffix = f" ({progress}%)" if isinstance(progress, int) else ""
    return [(style, f"[{event.get('actor') or 'wtd'}]{where} {text}{suffix}")]


def format_reply(reply: dict[str, Any]) -> StyleAndTextTuples:
    """A reply as coloured lines: healing green, errors red, advisories and hints yellow."""
    out: StyleAndTextTuples = []

    def line(style: str, text: str) -> None:
        out.append((style, text + "\n"))

    if reply.get("type") != "reply":
        line("class:error", f"wtctl: {reply.get('message', 'unexpected answer from wtd')}")
        return out
    for text in reply.get("healing", []):
        line("class:healing", text)
    for text in reply.get("lines", []):
        line("class:warning" if text.lstrip().startswith(_WARNING_MARKS) else "", text)
    error = reply.get("error")
    if error:
        consent = error.get("code") == "consent_required"
        if error["message"] not in reply.get("lines", []):
            line("class:warning" if consent else "class:error", error["message"])
        suggestions = [s for s in error.get("suggestions", []) if s not in error["message"]]
        if suggestions and error.get("code") in _ALTERNATIVES:
            quoted = " or ".join(f"'{s}'" for s in suggestions)
            line("class:hint", f"Did you mean {quoted}?")
        else:
            for hint in suggestions:
                line("class:hint", f"Hint: {hint}")
    for text in reply.get("health_lines", []):
        line("class:warning" if text.lstrip().startswith(_WARNING_MARKS) else "", text)
    return out


class Repl:
    """One interactive session. ``run()`` returns the exit code (0 after Ctrl-D).

    ``input``/``output`` default to the terminal; ``echo`` receives everything the
    REPL prints (tests capture it; by default it is printed above the prompt).
    """

    def __init__(
        self,
        args: Args,
        *,
        input: Input | None = None,
        output: Output | None = None,
        history: History | None = None,
        echo: Echo | None = None,
    ) -> None:
        self.args = args
        path = socket_path(args)
        self.client = Client(path, autostart=args.autostart)
        self.background = Client(path, autostart=args.autostart)
        self.phrases, completer = make_completer()
        self.status = toolbar.Status(tracker=args.tracker or "")
        self.consent_token: str | None = None
        self.session: PromptSession[str] = PromptSession(
            completer=completer,
            complete_while_typing=True,
            auto_suggest=AutoSuggestFromHistory(),
            history=history or InMemoryHistory(),
            bottom_toolbar=self._toolbar,
            style=STYLE,
            input=input,
            output=output,
        )
        self._echo = echo or self._print
        # Set after the first refresh / once events flow (tests wait on them).
        self.refreshed = asyncio.Event()
        self.subscribed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._answered = asyncio.Event()  # a command got through: the daemon is back
        self._in_flight = False
        self._held: list[dict[str, Any]] = []
        self._own: deque[frozenset[str]] = deque(maxlen=_OWN_MEMORY)

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        try:
            await self.client.open()
        except Unavailable as exc:
            self._echo([("class:error", f"wtd unavailable: {exc}\n")])
            return EXIT_UNAVAILABLE
        try:
            async with asyncio.TaskGroup() as tg:
                refresher = tg.create_task(self._refresh_forever())
                follower = tg.create_task(self._follow_events())
                self._mark_dirty()
                try:
                    return await self._loop()
                finally:
                    refresher.cancel()
                    follower.cancel()
        finally:
            await self.client.close()
            await self.background.close()

    async def _loop(self) -> int:
        while True:
            try:
                text = await self.session.prompt_async(self._prompt)
            except KeyboardInterrupt:
                continue  # Ctrl-C: the line is dropped, the REPL stays
            except EOFError:
                return 0  # Ctrl-D
            phrase = text.strip()
            if not phrase:
                continue
            if phrase.lower() in ("exit", "quit"):
                return 0
            await self.execute(phrase)

    # ------------------------------------------------------------ commands

    async def execute(self, phrase: str) -> dict[str, Any] | None:
        """Send ``phrase`` (with an armed consent token), print the answer, refresh."""
        message = command_message(self.args, phrase, self.consent_token)
        self.consent_token = None  # an answer is only ever sent once
        self._in_flight = True
        try:
            with self._interruptible() as interrupted:
                reply = await self.client.request(message, retries=2)
        except (Unavailable, ConnectionLost) as exc:
            self.status = replace(self.status, connected=False)
            self._echo([("class:error", f"wtd unavailable: {exc}\n")])
            self._invalidate()
            self._release_held()
            return None
        except asyncio.CancelledError:
            if not interrupted:
                raise
            await self.client.close()  # a half-read frame: start clean next time
            self._echo([("class:warning", "Interrupted (the daemon may still apply it).\n")])
            return None
        finally:
            self._in_flight = False
        self._answered.set()
        self._echo(format_reply(reply))
        if phrase.lower().split()[:1] == ["help"]:
            self._echo([("class:hint", REPL_HELP + "\n")])
        self.consent_token = consent_token_of(reply)
        self._own.append(frozenset(reply.get("lines", [])))
        self._release_held()
        self._mark_dirty()
        return reply

    def _release_held(self) -> None:
        held, self._held = self._held, []
        for event in held:
            self._on_event(event)

    @contextlib.contextmanager
    def _interruptible(self) -> Iterator[list[bool]]:
        """Ctrl-C while a command runs cancels that command, not the REPL."""
        interrupted: list[bool] = []
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()

        def cancel() -> None:
            interrupted.append(True)
            if task is not None:
                task.cancel()

        try:
            loop.add_signal_handler(signal.SIGINT, cancel)
        except (NotImplementedError, RuntimeError, ValueError):
            yield interrupted  # not the main thread: Ctrl-C keeps its usual meaning
            return
        try:
            yield interrupted
        finally:
            loop.remove_signal_handler(signal.SIGINT)
            if interrupted and task is not None:
                task.uncancel()

    # ------------------------------------------------------------ events

    async def _follow_events(self) -> None:
        workspace = await asyncio.to_thread(workspace_of, self.args)
        while True:
            try:
                stream = await subscribe(self.client.path, workspace, autostart=self.args.autostart)
            except (Unavailable, ConnectionLost, OSError):
                await self._wait_for_daemon()
                continue
            self.subscribed.set()
            try:
                async for event in stream:
                    if event.get("type") == "event":
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
        if self._in_flight:
            self._held.append(event)  # may be our own change: decide once the reply is in
            return
        lines = frozenset(event.get("lines") or ())
        own = next((seen for seen in self._own if lines and lines <= seen), None)
        if own is not None:
            self._own.remove(own)  # the echo of our own command: already printed
        else:
            self._echo([*format_event(event), ("", "\n")])
        self._mark_dirty()

    # ------------------------------------------------------------ toolbar & vocabulary

    def _mark_dirty(self) -> None:
        self._dirty.set()

    async def _refresh_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()  # changes from here on cause one more refresh
            await self.refresh()

    async def refresh(self) -> None:
        """Fetch progress, health and the task list; update toolbar and completions."""
        try:
            progress = await self.background.request(self._query("show progress"))
            tasks = await self.background.request(self._query("list tasks"))
        except (Unavailable, ConnectionLost):
            self.status = replace(self.status, connected=False)
            self._invalidate()
            return
        self.status = toolbar.with_progress(self.status, progress)
        self.phrases.vocabulary = _vocabulary(progress, tasks, self.phrases.vocabulary)
        self.refreshed.set()
        self._invalidate()

    def _query(self, phrase: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "command",
            "id": os.urandom(12).hex(),
            "phrase": phrase,
            "cwd": os.getcwd(),
            "options": {"show_health": True},
        }
        if self.args.tracker:
            message["tracker"] = self.args.tracker
        return message

    def _toolbar(self) -> StyleAndTextTuples:
        return toolbar.render(self.status)

    def _prompt(self) -> StyleAndTextTuples:
        name = Path(self.status.tracker).stem if self.status.tracker else "wtctl"
        return [("class:prompt", f"{name}> ")]

    def _invalidate(self) -> None:
        self.session.app.invalidate()

    def _print(self, fragments: StyleAndTextTuples) -> None:
        print_formatted_text(
            FormattedText(fragments), style=STYLE, output=self.session.output, end=""
        )


def _vocabulary(
    progress: dict[str, Any], tasks: dict[str, Any], previous: Vocabulary
) -> Vocabulary:
    listed = tasks.get("result") if tasks.get("ok") else None
    summary = progress.get("result") if progress.get("ok") else None
    task_values = previous.tasks
    phase_values = previous.phases
    if isinstance(listed, list):
        task_values = tuple(
            Task(str(t["id"]), str(t.get("name", "")), str(t.get("status", "")))
            for t in listed
            if isinstance(t, dict) and "id" in t
        )
    if isinstance(summary, dict) and isinstance(summary.get("phases"), list):
        phase_values = tuple(
            Phase(int(p["number"]), str(p.get("name", "")))
            for p in summary["phases"]
            if isinstance(p, dict) and isinstance(p.get("number"), int)
        )
    return Vocabulary(tasks=task_values, phases=phase_values)


def main(args: Args) -> int:
    """Run the REPL on the terminal until Ctrl-D; the exit code (0, or 5 if wtd is unreachable)."""
    repl = Repl(args, history=file_history())
    return asyncio.run(repl.run())


if __name__ == "__main__":  # python -m wtctl.repl [--tracker PATH] …
    import sys

    from wtctl.cli import parse_args

    sys.exit(main(parse_args(sys.argv[1:])))
