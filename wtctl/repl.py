"""The interactive REPL (SPEC §9): ``wtctl`` with no PHRASE on a terminal.

Assembled here, from small parts: ``completer`` (phrases, IDs, statuses — fuzzy),
``toolbar`` (tracker, progress, health, circuits), ``pin`` (which tracker it is
on), ``follow`` (the event stream), ``styles`` (colours; a reply reads as in the
one-shot, ``replies``), ``history``, ``args.Question`` (the consent question
waiting for an answer), ``aio`` (the asyncio client).

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
  they arrive (``follow.Follower``). It follows the pin to another workspace, and
  the commands to the daemon that owns the workspace when wtd redirects them (SPEC §2).

Consent is answered inline: a ``consent_required`` reply that carries a
``consent_token`` arms it, and the next line, when it is a consent answer (``yes``,
``approved``, ``always``, ``no``: ``wtd.vocabulary``), carries it as
``options.consent_token``; then it is forgotten (``args.Question``).

Only this package's REPL modules import prompt-toolkit: the one-shot path never does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.formatted_text import FormattedText, StyleAndTextTuples
from prompt_toolkit.history import History, InMemoryHistory
from prompt_toolkit.input import Input
from prompt_toolkit.output import Output
from prompt_toolkit.shortcuts import print_formatted_text

from wtctl import pin, toolbar
from wtctl.aio import Client, ConnectionLost, Unavailable, Unsendable
from wtctl.args import Args, Question, parse_args, request_for, socket_path
from wtctl.completer import make_completer, vocabulary_from
from wtctl.follow import Echo, Follower
from wtctl.history import file_history, history_path
from wtctl.styles import STYLE, format_event, format_reply
from wtd import wire
from wtd.errors import WtdError

__all__ = ["Repl", "file_history", "format_event", "format_reply", "history_path", "main"]

REPL_HELP = (
    "In the REPL: 'use TRACKER' switches the tracker every command acts on "
    "('use' alone lists them). Tab completes (fuzzy), → accepts the grey suggestion, "
    "↑ searches history, Ctrl-C cancels the line, Ctrl-D leaves."
)


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
        self.question = Question()  # the consent question waiting for an answer
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
        self.refreshed = asyncio.Event()  # set after the first refresh (tests wait on it)
        self._dirty = asyncio.Event()
        self.events = Follower(
            self._socket, autostart=args.autostart, echo=self._echo, on_change=self._mark_dirty
        )

    @property
    def subscribed(self) -> asyncio.Event:
        """Set while events flow (tests wait on it)."""
        return self.events.subscribed

    @property
    def consent_token(self) -> str | None:
        """The token of the consent question the next line may answer."""
        return self.question.token

    # ------------------------------------------------------------ lifecycle

    async def run(self) -> int:
        try:
            await self.client.open()
        except Unavailable as exc:
            self._echo([("class:error", f"wtd unavailable: {exc}\n")])
            return wire.EXIT_UNAVAILABLE
        try:
            self._home = await asyncio.to_thread(pin.default_workspace, self._cwd)
            if self.args.tracker:
                try:
                    given = await asyncio.to_thread(pin.given, self.args.tracker, self._cwd)
                except WtdError as exc:
                    self._echo([("class:error", f"wtctl: {exc.message}\n")])
                    return wire.EXIT_INVALID
                self._set_pin(given)
            else:
                # not reachable now: the first command (or refresh) asks again
                with contextlib.suppress(Unavailable, ConnectionLost):
                    await self._find_pin(self.client)
            async with asyncio.TaskGroup() as tg:
                self.events.start(tg)
                refresher = tg.create_task(self._refresh_forever())
                self._retarget_events()
                self._mark_dirty()
                try:
                    return await self._loop()
                finally:
                    refresher.cancel()
                    self.events.stop()
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
        """Send ``phrase`` to the pinned tracker (with an armed consent token), print
        the answer, refresh. ``use …`` is the REPL's own: it switches the pin."""
        words = phrase.split(maxsplit=1)
        if words and words[0].lower() == "use":
            await self.use(words[1] if len(words) > 1 else "")
            return None
        # an armed token goes with the next line only if that line is a consent answer;
        # any other line drops the question (it is asked again if the command is)
        token = self.question.take(phrase)
        self.events.in_flight = True
        try:
            with self._interruptible() as interrupted:
                if self.pin is None:  # a tracker may exist by now: pin it before acting
                    await self._find_pin(self.client)
                message = self._aim(request_for(self.args, phrase, token))
                reply = await self.client.request(message, retries=2)
        except (Unavailable, ConnectionLost) as exc:
            self.status = replace(self.status, connected=False)
            self._echo([("class:error", f"wtd unavailable: {exc}\n")])
            self._invalidate()
            self.events.release()
            return None
        except Unsendable as exc:  # nothing was sent (not UTF-8, over the frame cap)
            self._echo([("class:error", f"✗ {exc}\n")])
            self.events.release()
            return None
        except asyncio.CancelledError:
            if not interrupted:
                raise
            await self.client.close()  # a half-read frame: start clean next time
            self._echo([("class:warning", "Interrupted (the daemon may still apply it).\n")])
            return None
        finally:
            self.events.in_flight = False
        self.events.answered(reply)
        self._echo(format_reply(reply))
        if phrase.lower().split()[:1] == ["help"]:
            self._echo([("class:hint", REPL_HELP + "\n")])
        self.question.arm(reply)
        self._follow_reply(reply)
        self._retarget_events()
        self.events.release()
        self._mark_dirty()
        return reply

    async def use(self, text: str) -> None:
        """``use TRACKER``: act on TRACKER from now on; ``use`` alone: where, and the choices.

        An unknown TRACKER leaves the pin as it was. A consent question still open
        is dropped: it was about the tracker the prompt showed when it was asked.
        """
        self.question.drop()
        if not text.strip():
            await self._show_choices()
            return
        workspace = self.pin.workspace if self.pin is not None else self._home
        chosen = await asyncio.to_thread(pin.choose, text, workspace, self._cwd)
        if isinstance(chosen, pin.Refused):
            self._echo(format_reply(wire.refused_reply(wire.NOT_FOUND, chosen.message)))
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
        if not wire.ok(reply):
            self._echo(format_reply(reply))
            return
        rows = wire.result(reply)
        lines = pin.listing(self.pin, self.status.missing, rows if isinstance(rows, list) else [])
        self._echo([("", "".join(line + "\n" for line in lines))])

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
        return wire.aim(message, None if self.pin is None else self.pin.request)

    async def _find_pin(self, client: Client) -> dict[str, Any]:
        """Pin the tracker wtd reports for the workspace (its only or most recently
        changed one), if there is one; the reply (``show progress``) either way."""
        reply = await client.request(self._query("show progress"))
        named = wire.tracker(reply) if wire.ok(reply) else None
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
        """Follow the events of the pinned workspace, at the daemon that serves it."""
        workspace = self.pin.workspace if self.pin is not None else self._home
        self.events.retarget(self._daemon_path(), str(workspace))

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
            claims: dict[str, Any] = {}
            if current is not None:
                progress = await self.background.request(self._query("show progress"))
                tasks = await self.background.request(self._query("list tasks"))
                claims = await self.background.request(self._query("list claims"))
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
        self.status = toolbar.with_claims(self.status, claims, self.args.agent or "user")
        if current is not None and wire.error_code(progress) == wire.NOT_FOUND:
            deleted = "deleted" in wire.error_message(progress)
            self._set_missing("deleted" if deleted else "not found")
        elif wire.ok(progress):
            self._set_missing("")
        vocabulary = vocabulary_from(progress, tasks, self.phrases.vocabulary)
        if self.status.missing or current is None:
            vocabulary = replace(vocabulary, tasks=(), phases=())
        self.phrases.vocabulary = replace(vocabulary, trackers=tuple(names))
        self.refreshed.set()
        self._invalidate()

    def _query(self, phrase: str) -> dict[str, Any]:
        """A request of the REPL's own (toolbar, completions), with health."""
        return self._aim(wire.request(phrase, cwd=str(self._cwd), show_health=True))

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


def main(args: Args) -> int:
    """Run the REPL on the terminal until Ctrl-D; the exit code (0, or 5 if wtd is unreachable)."""
    repl = Repl(args, history=file_history())
    return asyncio.run(repl.run())


if __name__ == "__main__":  # python -m wtctl.repl [--tracker PATH] …
    sys.exit(main(parse_args(sys.argv[1:])))
