"""Executor actor: turns a client's Command into work and its outcome into a Reply.

For each request it parses the phrase (pure), resolves the tracker, hands the
command to that tracker's Store (starting the Store on first use), reports the
operation to the Monitor and adds health lines when asked. Requests run
concurrently; each tracker's Store serialises the changes to its own files.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import anyio
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import errors, protocol, workspace
from wtd.actors.store import Store
from wtd.messages import (
    Apply,
    Execute,
    GetHealth,
    HealthReport,
    MonitorMessage,
    OperationFinished,
    Outcome,
)
from wtd.storage.failpoints import Failpoints
from wtd.tracker import commands, phrases
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.executor")


def caller(options: protocol.Options) -> str:
    """Who made a change, as the journal and history name them."""
    if options.agent:
        return f"{'subagent' if options.subagent else 'agent'}:{options.agent}"
    return "subagent" if options.subagent else "user"


class Executor:
    name = "executor"

    def __init__(
        self,
        inbox: MemoryObjectReceiveStream[Execute],
        *,
        monitor: MemoryObjectSendStream[MonitorMessage],
        failpoints: Failpoints,
    ) -> None:
        self._inbox = inbox
        self._monitor = monitor
        self._fp = failpoints
        self._stores: dict[Path, MemoryObjectSendStream[Apply]] = {}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._stores = {}
        async with anyio.create_task_group() as tg:
            task_status.started()
            async for msg in self._inbox:
                tg.start_soon(self._execute, msg, tg)

    async def _execute(self, msg: Execute, tg: TaskGroup) -> None:
        request = msg.request
        start = time.perf_counter()
        try:
            outcome = await self._outcome(request, tg)
        except errors.WtdError as exc:
            outcome = _failure(exc)
        except Exception as exc:  # the boundary: log with an id the user can quote
            error_id = f"E{int(time.time() * 1000) % 10**8:08d}"
            log.exception("request %s failed unexpectedly (error id %s)", request.id, error_id)
            outcome = _failure(
                errors.WtdError(
                    f"Internal error {error_id} ({type(exc).__name__}); see the wtd log"
                )
            )
        duration_ms = (time.perf_counter() - start) * 1000
        code = outcome.error.code if outcome.error else None
        exit_code = errors.exit_code(code) if code else 0
        await self._monitor.send(
            OperationFinished(
                ok=outcome.ok, duration_ms=duration_ms, counted=exit_code != 2, error_code=code
            )
        )
        health: HealthReport | None = None
        if request.options.show_health:
            health = await self._health()
        reply = protocol.Reply(
            id=request.id,
            ok=outcome.ok,
            exit_code=exit_code,
            lines=outcome.lines,
            healing=outcome.healing,
            result=outcome.result,
            error=outcome.error,
            health=health.data if health else None,
            health_lines=(
                [health.summary, *(health.verbose if request.options.verbose else [])]
                if health
                else []
            ),
            tracker=outcome.tracker or None,
        )
        try:
            async with msg.reply_to:
                await msg.reply_to.send(reply)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass

    async def _outcome(self, request: protocol.Command, tg: TaskGroup) -> Outcome:
        parsed = phrases.parse(request.phrase)
        if isinstance(parsed, phrases.ParseError):
            return Outcome(
                ok=False,
                error=protocol.ErrorInfo(
                    code=parsed.code, message=parsed.message, suggestions=list(parsed.suggestions)
                ),
            )
        cwd = Path(request.cwd)
        match parsed:
            case commands.Help(topic=topic):
                return Outcome(ok=True, lines=help_lines(topic))
            case commands.ShowHealth():
                report = await self._health()
                return Outcome(ok=True, lines=[report.summary, *report.verbose], result=report.data)
            case commands.ListTrackers():
                return await self._list_trackers(request, cwd, tg)
        paths, implicit = workspace.resolve(request.tracker, cwd)
        if not paths.json.exists() and not paths.markdown.exists():
            known = workspace.trackers_in(paths.workspace)
            raise errors.NotFound(
                f"No tracker {paths.name!r} in {paths.workspace}"
                + (f" (trackers here: {', '.join(known)})" if known else ""),
                suggestions=known[:3],
            )
        outcome = await self._ask(paths, parsed, request, tg)
        if implicit and outcome.ok:
            outcome = Outcome(
                ok=True,
                lines=[f"Tracker: {outcome.tracker}", *outcome.lines],
                healing=outcome.healing,
                result=outcome.result,
                tracker=outcome.tracker,
                progress=outcome.progress,
            )
        return outcome

    async def _ask(
        self,
        paths: TrackerPaths,
        command: commands.Command,
        request: protocol.Command,
        tg: TaskGroup,
    ) -> Outcome:
        store = await self._store(paths, tg)
        send, recv = anyio.create_memory_object_stream[Outcome](1)
        await store.send(
            Apply(rid=request.id, command=command, actor=caller(request.options), reply_to=send)
        )
        try:
            with recv:
                return await recv.receive()
        except anyio.EndOfStream:
            raise errors.WtdError(
                f"the store of {paths.name} stopped before answering; the change was not confirmed"
            ) from None

    async def _store(self, paths: TrackerPaths, tg: TaskGroup) -> MemoryObjectSendStream[Apply]:
        key = paths.json.resolve()
        stream = self._stores.get(key)
        if stream is None:
            send, recv = anyio.create_memory_object_stream[Apply](1024)
            store = Store(paths, recv, failpoints=self._fp)
            await tg.start(_keep_running, store)
            self._stores[key] = stream = send
        return stream

    async def _health(self) -> HealthReport:
        send, recv = anyio.create_memory_object_stream[HealthReport](1)
        await self._monitor.send(GetHealth(reply_to=send))
        with recv:
            return await recv.receive()

    async def _list_trackers(self, request: protocol.Command, cwd: Path, tg: TaskGroup) -> Outcome:
        ws = workspace.find_workspace(cwd) or cwd
        if request.tracker:
            ws = workspace.resolve(request.tracker, cwd)[0].workspace
        names = workspace.trackers_in(ws)
        if not names:
            return Outcome(ok=True, lines=[f"No trackers in {ws}"], result=[])
        lines = [f"Trackers in {ws}:"]
        result: list[dict[str, object]] = []
        for name in sorted(names):
            paths = workspace.for_workspace(ws, name)
            outcome = await self._ask(paths, commands.ShowProgress(), request, tg)
            if outcome.ok:
                lines.append(f"  {name:<24} {outcome.progress}%")
                result.append({"name": name, "progress": outcome.progress})
            else:
                message = outcome.error.message if outcome.error else "unavailable"
                lines.append(f"  {name:<24} ⚠ {message}")
                result.append({"name": name, "error": message})
        return Outcome(ok=True, lines=lines, result=result)


async def _keep_running(store: Store, *, task_status: TaskStatus[None]) -> None:
    """Run a Store and restart it if it crashes (its inbox, and so its queue, survives)."""
    status = task_status
    while True:
        try:
            await store.run(task_status=status)
            return
        except Exception:
            log.exception("store %s crashed; restarting it", store.paths.name)
            status = anyio.TASK_STATUS_IGNORED


def _failure(exc: errors.WtdError) -> Outcome:
    return Outcome(
        ok=False,
        error=protocol.ErrorInfo(code=exc.code, message=exc.message, suggestions=exc.suggestions),
    )


def help_lines(topic: str | None) -> list[str]:
    templates = phrases.PHRASES
    if topic:
        words = topic.lower().split()
        chosen = [p for p in templates if any(w in p for w in words)]
        if not chosen:
            return [
                f"No help on {topic!r}. Topics: tasks, phases, subtasks, evidence, sync, health"
            ]
        templates = tuple(chosen)
    return [
        "Phrases (X.Y = task id, N = phase number, S = status, T = text):",
        *(f"  {p}" for p in templates),
        'Example: wtctl --tracker docs/plans/my-project.md "mark task 2.2 complete"',
    ]
