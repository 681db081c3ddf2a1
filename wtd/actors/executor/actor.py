"""The Executor actor: runs each client's command, at most once per request id.

For each request it parses the phrase (pure) and hands the command to its family's
handler (``routes.ROUTES``); tracker commands reach the tracker's Store through the
healing loop (``healing``), which starts the Store on first use (``stores``). Every
request ends as one wire Reply, and its outcome is reported to the Monitor.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections import OrderedDict
from pathlib import Path
from typing import assert_never

import anyio
import msgspec
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import errors, protocol
from wtd.actors import RestartIntensity, answer, post
from wtd.actors.executor.admin import health
from wtd.actors.executor.context import Context, Workspaces
from wtd.actors.executor.healing import Breakers, Healer
from wtd.actors.executor.outcomes import failure
from wtd.actors.executor.routes import route
from wtd.actors.executor.settings import Settings
from wtd.actors.executor.startup import check_served
from wtd.actors.executor.stores import Keys, Stores
from wtd.enforcement.agents import name_problem
from wtd.messages import (
    EnforcerMessage,
    EventsMessage,
    Execute,
    ExecutorMessage,
    HealthReport,
    KnowledgeMessage,
    MonitorMessage,
    OperationFinished,
    Outcome,
    Probe,
    WatcherMessage,
)
from wtd.storage import failpoints as fp
from wtd.storage.failpoints import Failpoints
from wtd.storage.ownership import OwnedElsewhere, Ownership
from wtd.storage.served import Served, served_file
from wtd.tracker import commands, phrases

log = logging.getLogger("wtd.executor")

ANSWERED_KEPT = 10_000  # replies remembered for retried request ids (in memory)
# Replies that settle nothing: a retry of their id must be carried out, not answered.
# (exit 5: try again later or elsewhere; "internal": wtd's own failure)
_UNSETTLED = frozenset(
    {"internal", "outcome_unknown", "elsewhere", "circuit_open", "unavailable", "being_merged"}
)
# Error codes that are not faults of wtd's: health does not count them as failures.
_NOT_FAULTS = frozenset(
    {"not_found", "not_understood", "elsewhere", "unsafe_path", "too_large", "being_merged"}
)
_USER_EXITS = frozenset({2, 3, 4})  # invalid input, consent questions, denials: not faults
_READS: tuple[type, ...] = (phrases.ParseError, *commands.QUERY_TYPES)
_OS_ADVICE = {
    errno.EMFILE: "wtd has too many files open: raise its limit (LimitNOFILE= in its systemd "
    "unit, ulimit -n where it is started), or restart it",
    errno.ENFILE: "the system has too many files open: close some programs, then try again",
    errno.ENOMEM: "the machine is out of memory: close some programs, then try again",
    errno.ENOSPC: "free some disk space (or inodes: df -i), then try again",
}

InFlight = set[MemoryObjectSendStream[protocol.Reply]]


class Executor:
    name = "executor"

    def __init__(
        self,
        inbox: MemoryObjectReceiveStream[ExecutorMessage],
        *,
        monitor: MemoryObjectSendStream[MonitorMessage],
        knowledge: MemoryObjectSendStream[KnowledgeMessage],
        events: MemoryObjectSendStream[EventsMessage],
        enforcer: MemoryObjectSendStream[EnforcerMessage],
        watcher: MemoryObjectSendStream[WatcherMessage],
        failpoints: Failpoints,
        settings: Settings | None = None,
        socket_path: Path | None = None,
        store_intensity: RestartIntensity | None = None,
    ) -> None:
        self._inbox = inbox
        self._monitor = monitor
        self._knowledge = knowledge
        self._events = events
        self._enforcer = enforcer
        self._watcher = watcher
        self._fp = failpoints
        self._settings = settings = settings or Settings()
        self._store_intensity = store_intensity or RestartIntensity(5, 10.0)
        # These outlive a restart of the actor:
        served = Served(served_file(socket_path)) if socket_path is not None else None
        self._workspaces = Workspaces(Ownership(socket_path or Path("(unknown socket)")), served)
        self._started = False  # the served workspaces are checked at the first run only
        self._answered: OrderedDict[str, tuple[str, protocol.Reply]] = OrderedDict()
        self._running: dict[str, anyio.Event] = {}
        self._key = Keys()
        self._breakers = Breakers(
            self._key, threshold=settings.circuit_threshold, timeout=settings.circuit_timeout
        )

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        for waiting in self._running.values():  # askers of a crashed run: they ask again
            waiting.set()
        self._running = {}
        in_flight: InFlight = set()
        try:
            async with anyio.create_task_group() as tg:
                ctx = self._context(tg)
                task_status.started()
                if not self._started:
                    self._started = True
                    # faults injected for a test hit where the test aims them, not here
                    if not self._fp.enabled:
                        tg.start_soon(check_served, ctx)
                async for msg in self._inbox:
                    match msg:
                        case Execute():
                            in_flight.add(msg.reply_to)
                            self._fp.hit(fp.EXECUTOR_RECEIVE)  # a crash here tests restarts
                            tg.start_soon(self._execute, ctx, msg, in_flight)
                        case Probe(reply_to=pong):
                            tg.start_soon(self._pong, ctx, pong)
                        case _:
                            assert_never(msg)
        finally:
            for reply_to in in_flight:  # fail loudly: the server retries them once
                reply_to.close()
            # Every Store has ended with the task group: nothing of this daemon writes a
            # workspace now, so another daemon may take them over at once.
            self._workspaces.release_all()

    def _context(self, tg: TaskGroup) -> Context:
        """The handlers' view of this run: a fresh Store registry in ``tg``."""
        stores = Stores(
            tg,
            key=self._key,
            settings=self._settings,
            failpoints=self._fp,
            events=self._events,
            watcher=self._watcher,
            intensity=self._store_intensity,
            owned=self._workspaces.ownership.holds,
        )
        healer = Healer(
            stores,
            self._breakers,
            policy=self._settings.policy,
            monitor=self._monitor,
            knowledge=self._knowledge,
            events=self._events,
        )

        async def replay(request: protocol.Command) -> Outcome:
            return await self._outcome(ctx, request)

        ctx = Context(
            settings=self._settings,
            healer=healer,
            stores=stores,
            workspaces=self._workspaces,
            monitor=self._monitor,
            knowledge=self._knowledge,
            enforcer=self._enforcer,
            replay=replay,
        )
        return ctx

    async def _pong(self, ctx: Context, pong: MemoryObjectSendStream[str]) -> None:
        """Alive only when every Store answers too (the watchdog's probe reaches them)."""
        await ctx.stores.probe_all()
        await answer(pong, self.name)

    async def _execute(self, ctx: Context, msg: Execute, in_flight: InFlight) -> None:
        """Answer one request, at most once per request id (SPEC §6): a retry of an
        answered id (a client whose connection broke) gets the first reply again, and
        one still running waits for it."""
        request = msg.request
        while (running := self._running.get(request.id)) is not None:
            await running.wait()
        done = self._answered.get(request.id)
        if done is not None and done[0] == request.phrase:
            in_flight.discard(msg.reply_to)
            await answer(msg.reply_to, done[1])
            return
        self._running[request.id] = finished = anyio.Event()
        try:
            await self._execute_once(ctx, msg, in_flight)
        finally:
            finished.set()
            if self._running.get(request.id) is finished:
                del self._running[request.id]

    async def _execute_once(self, ctx: Context, msg: Execute, in_flight: InFlight) -> None:
        request = msg.request
        start = time.perf_counter()
        parsed: commands.Command | phrases.ParseError | None = None
        try:
            # parsed once: it also says whether a retry of this id must not run again
            parsed = phrases.parse(request.phrase)
            outcome = await self._outcome(ctx, request, parsed)
        except OwnedElsewhere as exc:
            outcome = msgspec.structs.replace(failure(exc), result={"owner": exc.owner})
        except errors.WtdError as exc:
            outcome = failure(exc)
        except OSError as exc:  # the machine's limits (EMFILE, ENOMEM...): said as such
            log.warning("request %s failed: %s", request.id, exc)
            outcome = failure(
                errors.Unavailable(
                    f"wtd could not carry this out: {exc.strerror or exc}; nothing was changed",
                    suggestions=[_OS_ADVICE.get(exc.errno or 0, "try again shortly")],
                )
            )
        except Exception as exc:  # the boundary: log with an id the user can quote
            error_id = f"E{int(time.time() * 1000) % 10**8:08d}"
            log.exception("request %s failed unexpectedly (error id %s)", request.id, error_id)
            outcome = failure(
                errors.WtdError(
                    f"Internal error {error_id} ({type(exc).__name__}); see the wtd log"
                )
            )
        duration_ms = (time.perf_counter() - start) * 1000
        code = outcome.error.code if outcome.error else None
        exit_code = errors.exit_code(code) if code else 0
        finished = OperationFinished(
            ok=outcome.ok,
            duration_ms=duration_ms,
            # faults only: not user mistakes, questions, denials or "not found"
            counted=exit_code not in _USER_EXITS and code not in _NOT_FAULTS,
            error_code=code,
        )
        report: HealthReport | None = None
        if request.options.show_health:  # the report counts this request
            await post(self._monitor, finished)
            report = await health(ctx)
        reply = protocol.Reply(
            id=request.id,
            ok=outcome.ok,
            exit_code=exit_code,
            lines=outcome.lines,
            healing=outcome.healing,
            result=outcome.result,
            error=outcome.error,
            health=report.data if report else None,
            health_lines=(
                [report.summary, *(report.verbose if request.options.verbose else [])]
                if report
                else []
            ),
            tracker=outcome.tracker or None,
        )
        unsettled = reply.error is not None and reply.error.code in _UNSETTLED
        if not unsettled and not isinstance(parsed, _READS):
            # queries are not kept: asking again changes nothing, and their replies can
            # be big (a 100k-task list)
            self._answered[request.id] = (request.phrase, reply)
            if len(self._answered) > ANSWERED_KEPT:
                self._answered.popitem(last=False)
        in_flight.discard(msg.reply_to)
        await answer(msg.reply_to, reply)
        if report is None:  # after the answer: the Monitor's turn does not delay it
            await post(self._monitor, finished)

    async def _outcome(
        self,
        ctx: Context,
        request: protocol.Command,
        parsed: commands.Command | phrases.ParseError | None = None,
    ) -> Outcome:
        if parsed is None:
            parsed = phrases.parse(request.phrase)
        if isinstance(parsed, phrases.ParseError):
            return Outcome(
                ok=False,
                error=protocol.ErrorInfo(
                    code=parsed.code, message=parsed.message, suggestions=list(parsed.suggestions)
                ),
            )
        agent = request.options.agent
        problem = name_problem(agent) if agent else None
        if problem is not None:
            raise errors.InvalidArgument(f"--agent / WT_AGENT: {problem}")
        if not request.cwd or not os.path.isabs(request.cwd):
            # never resolved against the daemon's own folder
            raise errors.InvalidArgument(
                f"the request's working folder must be an absolute path, not {request.cwd!r}"
            )
        return await route(ctx, parsed, request, Path(request.cwd))
