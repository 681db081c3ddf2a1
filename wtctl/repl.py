"""The interactive REPL (SPEC §9): ``wtctl`` with no PHRASE on a terminal.

Assembled here, from small parts: ``completer`` (phrases, IDs, statuses — fuzzy),
``toolbar`` (tracker, progress, health, circuits), ``pin`` (which tracker it is
on), ``aio`` (the asyncio client).

The REPL acts on the tracker its prompt shows: it pins one at start (``--tracker``
/ ``$WT_TRACKER``, else the one wtd reports for the workspace) and every request
names it, so a change to another tracker of the workspace never moves it. Only
``use TRACKER`` (handled here, never sent to wtd) switches. A workspace with no
tracker yet leaves it unpinned until one exists (``create initiative``, or one made
elsewhere): it pins that. A pinned tracker that is deleted stays pinned, shown as
``(deleted)``, so ``undo``/``restore tracker`` bring it back and nothing falls
through to another tracker.

Three connections to wtd, each with one job:

- ``client``: the user's commands, one at a time;
- ``background``: refreshes of the toolbar and the completion vocabulary
  (``show progress`` with health, ``list tasks``), after each command and each
  event, coalesced — drawing the toolbar only reads the last result;
- an event subscription for the pinned tracker's workspace: changes to that
  tracker made by other clients or by hand edits are printed above the prompt as
  they arrive. It follows the pin to another workspace, and the commands to the
  daemon that owns the workspace when wtd redirects them (SPEC §2).

Consent is answered inline: a ``consent_required`` reply that carries a
``consent_token`` arms it, and the next line, when it is a consent answer (``yes``,
``approved``, ``always``, ``no``: ``wtd.vocabulary``), carries it as
``options.consent_token``; then it is forgotten.

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

from wtctl import pin, toolbar
from wtctl.aio import Client, ConnectionLost, Unavailable, subscribe
from wtctl.cli import (
    _ALTERNATIVES,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    Args,
    command_message,
    consent_token_of,
    socket_path,
)
from wtctl.completer import Phase, Task, Vocabulary, make_completer
from wtd.errors import WtdError
from wtd.vocabulary import classify_answer

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
    "In the REPL: 'use TRACKER' switches the tracker every command acts on "
    "('use' alone lists them). Tab completes (fuzzy), → accepts the grey suggestion, "
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
    ``pin`` is the tracker every request names (None: the workspace has none yet).
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
        self._socket = socket_path(args)
        self.client = Client(self._socket, autostart=args.autostart)
        self.background = Client(self._socket, autostart=args.autostart)
        self.phrases, completer = make_completer()
        self.pin: pin.Pin | None = None
        self.status = toolbar.Status()
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
        self._cwd = Path(os.getcwd())
        self._home = self._cwd  # the workspace of cwd, as wtd sees it (set by run)
        # Set after the first refresh / once events flow (tests wait on them).
        self.refreshed = asyncio.Event()
        self.subscribed = asyncio.Event()
        self._dirty = asyncio.Event()
        self._answered = asyncio.Event()  # a command got through: the daemon is back
        self._in_flight = False
        self._held: list[dict[str, Any]] = []
        self._own: deque[frozenset[str]] = deque(maxlen=_OWN_MEMORY)
        self._tg: asyncio.TaskGroup | None = None
        self._follower: asyncio.Task[None] | None = None
        self._following: tuple[str, str] | None = None  # (socket, workspace) of the events

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        try:
            await self.client.open()
        except Unavailable as exc:
            self._echo([("class:error", f"wtd unavailable: {exc}\n")])
            return EXIT_UNAVAILABLE
        try:
            self._home = await asyncio.to_thread(pin.default_workspace, self._cwd)
            if self.args.tracker:
                try:
                    given = await asyncio.to_thread(pin.given, self.args.tracker, self._cwd)
                except WtdError as exc:
                    self._echo([("class:error", f"wtctl: {exc.message}\n")])
                    return EXIT_USAGE
                self._set_pin(given)
            else:
                # not reachable now: the first command (or refresh) asks again
                with contextlib.suppress(Unavailable, ConnectionLost):
                    await self._find_pin(self.client)
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                refresher = tg.create_task(self._refresh_forever())
                self._retarget_events()
                self._mark_dirty()
                try:
                    return await self._loop()
                finally:
                    refresher.cancel()
                    if self._follower is not None:
                        self._follower.cancel()
        finally:
            self._tg = None
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
        """Send ``phrase`` to the pinned tracker (with an armed consent token), print
        the answer, refresh. ``use …`` is the REPL's own: it switches the pin."""
        words = phrase.split(maxsplit=1)
        if words and words[0].lower() == "use":
            await self.use(words[1] if len(words) > 1 else "")
            return None
        # an armed token goes with the next line only if that line is a consent answer;
        # any other line drops the question (it is asked again if the command is)
        token = self.consent_token if classify_answer(phrase) is not None else None
        self.consent_token = None
        self._in_flight = True
        try:
            with self._interruptible() as interrupted:
                if self.pin is None:  # a tracker may exist by now: pin it before acting
                    await self._find_pin(self.client)
                message = self._aim(command_message(self.args, phrase, token))
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
        self._follow_reply(reply)
        self._retarget_events()
        self._release_held()
        self._mark_dirty()
        return reply

    async def use(self, text: str) -> None:
        """``use TRACKER``: act on TRACKER from now on; ``use`` alone: where, and the choices.

        An unknown TRACKER leaves the pin as it was. A consent question still open
        is dropped: it was about the tracker the prompt showed when it was asked.
        """
        self.consent_token = None
        if not text.strip():
            await self._show_choices()
            return
        workspace = self.pin.workspace if self.pin is not None else self._home
        chosen = await asyncio.to_thread(pin.choose, text, workspace, self._cwd)
        if isinstance(chosen, pin.Refused):
            error = {"code": "not_found", "message": chosen.message}
            self._echo(format_reply({"type": "reply", "error": {**error, "suggestions": []}}))
            if chosen.suggestions:
                quoted = " or ".join(f"'{s}'" for s in chosen.suggestions)
                self._echo([("class:hint", f"Did you mean {quoted}?\n")])
            return
        self._set_pin(chosen)
        await self.refresh()
        progress = "" if self.status.progress is None else f" ({self.status.progress}%)"
        missing = f" ({self.status.missing})" if self.status.missing else ""
        self._echo([("class:hint", f"Now on {chosen.label}{progress}{missing}\n")])

    async def _show_choices(self) -> None:
        try:
            reply = await self.client.request(self._query("list trackers"), retries=2)
        except (Unavailable, ConnectionLost) as exc:
            self._echo([("class:error", f"wtd unavailable: {exc}\n")])
            return
        if not reply.get("ok"):
            self._echo(format_reply(reply))
            return
        rows = reply.get("result")
        lines = pin.listing(self.pin, self.status.missing, rows if isinstance(rows, list) else [])
        self._echo([("", "".join(line + "\n" for line in lines))])

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

    # ------------------------------------------------------------ the pinned tracker

    def _aim(self, message: dict[str, Any]) -> dict[str, Any]:
        """Name the pinned tracker in ``message`` — never leave the choice to wtd."""
        if self.pin is None:
            message.pop("tracker", None)
        else:
            message["tracker"] = self.pin.request
        return message

    async def _find_pin(self, client: Client) -> dict[str, Any]:
        """Pin the tracker wtd reports for the workspace (its only or most recently
        changed one), if there is one; the reply (``show progress``) either way."""
        reply = await client.request(self._query("show progress"))
        named = reply.get("tracker") if reply.get("ok") else None
        if isinstance(named, str) and named:
            home = await asyncio.to_thread(pin.default_workspace, self._cwd)
            if self.pin is None:  # (and not pinned meanwhile, by a command or a refresh)
                self._home = home
                self._set_pin(pin.reported(named, home))
                self._echo([("class:hint", f"Tracker: {named} ('use TRACKER' switches)\n")])
        return reply

    def _set_pin(self, chosen: pin.Pin) -> None:
        if chosen == self.pin:
            return
        self.pin = chosen
        self.status = replace(
            self.status, tracker=chosen.label, missing="", progress=None, complete=0, total=0
        )
        self.phrases.vocabulary = replace(self.phrases.vocabulary, tasks=(), phases=())
        self._retarget_events()
        self._mark_dirty()
        self._invalidate()

    def _set_missing(self, why: str) -> None:
        """Show that the pinned tracker is gone (``why``: "deleted", "not found") or back."""
        if why == self.status.missing or self.pin is None:
            return
        was = self.status.missing
        self.status = replace(self.status, missing=why, progress=None)
        if why:
            self.phrases.vocabulary = replace(self.phrases.vocabulary, tasks=(), phases=())
            self._echo([("class:warning", pin.gone(self.pin, why) + "\n")])
        elif was:
            self._echo([("class:hint", f"Tracker {self.pin.label} is back.\n")])
        self._invalidate()

    def _follow_reply(self, reply: dict[str, Any]) -> None:
        """Keep the pin true to what a reply says happened to the trackers."""
        news = pin.after_reply(self.pin, self.status.missing, reply)
        if news.missing is not None:
            self._set_missing(news.missing)
        if news.switch_to:
            workspace = self.pin.workspace if self.pin is not None else self._home
            self._set_pin(pin.reported(news.switch_to, workspace))
            self._echo([("class:hint", f"Now on {news.switch_to}\n")])
        elif news.other and self.pin is not None:
            hint = f"Still on {self.pin.label}; 'use {news.other}' switches to it."
            self._echo([("class:hint", hint + "\n")])

    # ------------------------------------------------------------ events

    def _daemon_path(self) -> str:
        """The socket of the wtd serving the workspace: where a client was redirected."""
        for client in (self.client, self.background):
            if client.path != self._socket:
                return client.path
        return self._socket

    def _retarget_events(self) -> None:
        """(Re)subscribe when the pinned workspace, or the daemon serving it, changed."""
        if self._tg is None:
            return  # not running yet: run() subscribes
        workspace = self.pin.workspace if self.pin is not None else self._home
        target = (self._daemon_path(), str(workspace))
        if target == self._following:
            return
        self._following = target
        if self._follower is not None:
            self._follower.cancel()
        self.subscribed.clear()
        self._follower = self._tg.create_task(self._follow_events(*target))

    async def _follow_events(self, path: str, workspace: str) -> None:
        autostart = self.args.autostart and path == self._socket
        while True:
            try:
                stream = await subscribe(path, workspace, autostart=autostart)
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
        # every tracker of the workspace (SPEC §9: changes others make show up live);
        # each event names its tracker, so one that is not the prompt's is told apart
        self._mark_dirty()
        lines = frozenset(event.get("lines") or ())
        own = next((seen for seen in self._own if lines and lines <= seen), None)
        if own is not None:
            self._own.remove(own)  # the echo of our own command: already printed
        else:
            self._echo([*format_event(event), ("", "\n")])

    # ------------------------------------------------------------ toolbar & vocabulary

    def _mark_dirty(self) -> None:
        self._dirty.set()

    async def _refresh_forever(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()  # changes from here on cause one more refresh
            await self.refresh()

    async def refresh(self) -> None:
        """Fetch progress, health and the task list of the pinned tracker (pinning one
        first if there is none yet); update toolbar and completions."""
        current = self.pin
        try:
            progress = None
            if current is None:
                progress = await self._find_pin(self.background)
                current = self.pin
            tasks: dict[str, Any] = {}
            if current is not None:
                progress = await self.background.request(self._query("show progress"))
                tasks = await self.background.request(self._query("list tasks"))
            workspace = current.workspace if current is not None else self._home
            names = await asyncio.to_thread(pin.names, workspace)
        except (Unavailable, ConnectionLost):
            self.status = replace(self.status, connected=False)
            self._invalidate()
            return
        if self.pin != current:
            self._mark_dirty()  # switched meanwhile: these answers are about the old one
            return
        self._retarget_events()  # the background client may have been redirected
        assert progress is not None
        self.status = toolbar.with_progress(self.status, progress)
        error = progress.get("error") or {}
        if current is not None and error.get("code") == "not_found":
            self._set_missing("deleted" if "deleted" in error.get("message", "") else "not found")
        elif progress.get("ok"):
            self._set_missing("")
        vocabulary = _vocabulary(progress, tasks, self.phrases.vocabulary)
        if self.status.missing or current is None:
            vocabulary = replace(vocabulary, tasks=(), phases=())
        self.phrases.vocabulary = replace(vocabulary, trackers=tuple(names))
        self.refreshed.set()
        self._invalidate()

    def _query(self, phrase: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "command",
            "id": os.urandom(12).hex(),
            "phrase": phrase,
            "cwd": str(self._cwd),
            "options": {"show_health": True},
        }
        return self._aim(message)

    def _toolbar(self) -> StyleAndTextTuples:
        return toolbar.render(self.status)

    def _prompt(self) -> StyleAndTextTuples:
        if self.pin is None:
            return [("class:prompt", "wtctl> ")]
        if self.status.missing:
            return [
                ("class:prompt", f"{self.pin.name} "),
                ("class:warning", f"({self.status.missing})"),
                ("class:prompt", "> "),
            ]
        return [("class:prompt", f"{self.pin.name}> ")]

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
