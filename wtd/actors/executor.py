"""Executor actor: runs each client's command, and the remediation plans for its faults.

For each request it parses the phrase (pure), resolves the tracker and hands the
command to that tracker's Store (starting the Store on first use). When the Store
reports a fault, the Executor runs the MAPE-K loop: it reports the symptom to the
Monitor, which passes it to the Analyzer and the Planner (who consults Knowledge);
the plan comes back here and is executed — RETRY with backoff and jitter, REPAIR
through the Store, or ESCALATE with what to do — and its outcome is recorded in
Knowledge. Each tracker's storage has a circuit breaker: while it is OPEN, writes
are refused at once (exit 5) and reads are still served from the Store's memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import msgspec
from anyio.abc import TaskGroup, TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd import errors, protocol, workspace
from wtd.actors import ActorCrashLoop, RestartIntensity, answer, fail_queued, post, supervise
from wtd.actors.store import Store
from wtd.actors.store import now as store_now
from wtd.enforcement.agents import Action, AgentRule
from wtd.enforcement.chain import EnforcementContext, EnforcementResult
from wtd.enforcement.consent import Operation, Revoked
from wtd.healing.analysis import RemediationPlan, Strategy, Symptom
from wtd.healing.circuit import CircuitBreaker, CircuitState
from wtd.healing.retry import RetryPolicy
from wtd.messages import (
    AnswerConsent,
    Answered,
    Apply,
    Check,
    CircuitChanged,
    ConsentReport,
    EnforcerMessage,
    EventsMessage,
    Execute,
    ExecutorMessage,
    FaultObserved,
    GetHealth,
    HealthReport,
    KnowledgeMessage,
    ManageConsent,
    MonitorMessage,
    OperationFinished,
    Outcome,
    Ping,
    Publish,
    RecoveryFinished,
    Repair,
    ShowKnowledge,
    StoreMessage,
    Unwatch,
    Watch,
    WatcherMessage,
)
from wtd.storage import atomic, safepath, trash
from wtd.storage import failpoints as fp
from wtd.storage.failpoints import Failpoints
from wtd.storage.ownership import OwnedElsewhere, Ownership
from wtd.storage.plans import Prepared, import_lines, import_report, prepare, read_plan
from wtd.storage.replies import Replies
from wtd.tracker import commands, model, phrases
from wtd.vocabulary import KIND_LABELS
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.executor")

STORE_ASKS = 4  # tries of one request on a Store that keeps failing
ANSWERED_KEPT = 10_000  # replies remembered for retried request ids (in memory)
# Error codes that are not faults of wtd's: health does not count them as failures.
# Replies that settle nothing: a retry of their id must be carried out, not answered.
# (exit 5: try again later or elsewhere; "internal": wtd's own failure)
_UNSETTLED = frozenset({"internal", "outcome_unknown", "elsewhere", "circuit_open", "unavailable"})
_NOT_FAULTS = frozenset({"not_found", "not_understood", "elsewhere", "unsafe_path", "too_large"})
_USER_EXITS = frozenset({2, 3, 4})  # invalid input, consent questions, denials: not faults
_ACTIONS: dict[commands.Access, Action] = {"read": "read", "write": "change", "admin": "admin"}
_CONSENT_COMMANDS = (commands.ConsentAnswer, commands.GrantBlanket, commands.RevokeConsent)
_outcome_encoder = msgspec.json.Encoder()
_outcome_decoder = msgspec.json.Decoder(Outcome)


@dataclass(frozen=True, kw_only=True)
class Settings:
    """The Executor's knobs: self-healing, storage and enforcement (from the config)."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    circuit_threshold: int = 5
    circuit_timeout: float = 60.0
    action_timeout: float = 30.0
    backups_keep: int = 10
    backup_every: int = 50
    journal_max_bytes: int = 8 * 1024 * 1024
    max_file_bytes: int = 64 * 1024 * 1024
    max_depth: int = 100
    max_connections: int = 512
    frame_timeout: float = 10.0
    advisory_rules: tuple[str, ...] = ()
    agent_rules: dict[str, AgentRule] = field(default_factory=dict)
    workspaces: tuple[Path, ...] | None = None


def _revoked_line(revoked: Revoked) -> str:
    if not revoked.anything:
        return "Nothing to revoke."
    parts = [KIND_LABELS[k] for k in revoked.kinds if k in KIND_LABELS]
    if revoked.blanket:
        parts.append("the blanket approval for initiative creation")
    if revoked.initiatives:
        parts.append("approved initiatives " + ", ".join(str(n) for n in revoked.initiatives))
    return "Revoked: " + "; ".join(dict.fromkeys(parts)) + "."


def caller(options: protocol.Options) -> str:
    """Who made a change, as the journal and history name them."""
    if options.agent:
        return f"{'subagent' if options.subagent else 'agent'}:{options.agent}"
    return "subagent" if options.subagent else "user"


def circuit_open(breaker: CircuitBreaker) -> errors.WtdError:
    return errors.CircuitOpen(f"⚠ Circuit OPEN: Operations paused (retry in {breaker.retry_in()}s)")


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
        self._ownership = Ownership(socket_path or Path("(unknown socket)"))
        self._owned: set[Path] = set()  # workspaces claimed, as the requests spell them
        self._replies: dict[Path, Replies] = {}
        self._answered: OrderedDict[str, tuple[str, protocol.Reply]] = OrderedDict()
        self._running: dict[str, anyio.Event] = {}
        self._store_intensity = store_intensity or RestartIntensity(5, 10.0)
        self._enforcer = enforcer
        self._watcher = watcher
        self._inbox = inbox
        self._monitor = monitor
        self._knowledge = knowledge
        self._events = events
        self._fp = failpoints
        self._settings = settings or Settings()
        self._stores: dict[Path, MemoryObjectSendStream[StoreMessage]] = {}
        self._breakers: dict[Path, CircuitBreaker] = {}
        self._keys: dict[Path, Path] = {}

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        self._stores = {}
        for waiting in self._running.values():  # askers of a crashed run: they ask again
            waiting.set()
        self._running = {}
        in_flight: set[MemoryObjectSendStream[protocol.Reply]] = set()
        try:
            async with anyio.create_task_group() as tg:
                task_status.started()
                async for msg in self._inbox:
                    match msg:
                        case Execute():
                            in_flight.add(msg.reply_to)
                            self._fp.hit(fp.EXECUTOR_RECEIVE)  # a crash here tests restarts
                            tg.start_soon(self._execute, msg, tg, in_flight)
                        case Ping(reply_to=pong):
                            tg.start_soon(self._pong, pong)
        finally:
            for reply_to in in_flight:  # fail loudly: the server retries them once
                reply_to.close()
            # Every Store has ended with the task group: nothing of this daemon writes a
            # workspace now, so another daemon may take them over at once.
            self._ownership.release_all()
            self._owned.clear()

    # ------------------------------------------------------------ requests

    async def _pong(self, pong: MemoryObjectSendStream[str]) -> None:
        """Alive only when every Store answers too (the watchdog's ping reaches them)."""
        for store in list(self._stores.values()):
            send, recv = anyio.create_memory_object_stream[str](1)
            try:
                await post(store, Ping(reply_to=send))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                continue  # a deleted tracker's Store, ending
            # EndOfStream: it crashed and is being restarted; its supervisor decides
            with recv, contextlib.suppress(anyio.EndOfStream):
                await recv.receive()
        await answer(pong, self.name)

    async def _execute(
        self, msg: Execute, tg: TaskGroup, in_flight: set[MemoryObjectSendStream[protocol.Reply]]
    ) -> None:
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
            await self._execute_once(msg, tg, in_flight)
        finally:
            finished.set()
            if self._running.get(request.id) is finished:
                del self._running[request.id]

    async def _execute_once(
        self, msg: Execute, tg: TaskGroup, in_flight: set[MemoryObjectSendStream[protocol.Reply]]
    ) -> None:
        request = msg.request
        start = time.perf_counter()
        try:
            outcome = await self._outcome(request, tg)
        except OwnedElsewhere as exc:
            outcome = msgspec.structs.replace(_failure(exc), result={"owner": exc.owner})
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
        await post(
            self._monitor,
            OperationFinished(
                ok=outcome.ok,
                duration_ms=duration_ms,
                # faults only: not user mistakes, questions, denials or "not found"
                counted=exit_code not in _USER_EXITS and code not in _NOT_FAULTS,
                error_code=code,
            ),
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
        unsettled = reply.error is not None and reply.error.code in _UNSETTLED
        if not unsettled and _changes(request.phrase):
            # queries are not kept: asking again changes nothing, and their replies can
            # be big (a 100k-task list)
            self._answered[request.id] = (request.phrase, reply)
            if len(self._answered) > ANSWERED_KEPT:
                self._answered.popitem(last=False)
        in_flight.discard(msg.reply_to)
        await answer(msg.reply_to, reply)

    async def _outcome(self, request: protocol.Command, tg: TaskGroup) -> Outcome:
        parsed = phrases.parse(request.phrase)
        if isinstance(parsed, phrases.ParseError):
            return Outcome(
                ok=False,
                error=protocol.ErrorInfo(
                    code=parsed.code, message=parsed.message, suggestions=list(parsed.suggestions)
                ),
            )
        if not request.cwd or not os.path.isabs(request.cwd):
            # never resolved against the daemon's own folder
            raise errors.InvalidArgument(
                f"the request's working folder must be an absolute path, not {request.cwd!r}"
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
            case commands.ResetCircuit():  # admin: agent restrictions apply
                verdict = await self._enforce(_workspace_of(request, cwd), None, parsed, request)
                if not verdict.allowed:
                    return _blocked(verdict)
                return await self._reset_circuits()
            case commands.ShowKnowledge():
                return await self._show_knowledge(request, cwd)
        if isinstance(parsed, commands.ConsentAnswer | commands.GrantBlanket):
            ws = _workspace_of(request, cwd)
            await self._claim(ws, create=True)
            return await self._once(ws, request, lambda: self._consent(parsed, request, ws, tg))
        if isinstance(parsed, commands.ShowConsent | commands.RevokeConsent):
            ws = _workspace_of(request, cwd)
            await self._claim(ws, create=isinstance(parsed, commands.RevokeConsent))
            return await self._manage_consent(parsed, request, ws)
        if isinstance(parsed, commands.ImportPlan):
            ws = _workspace_of(request, cwd)
            if not (ws / ".ecw").is_dir():
                # no reply can have been kept for a retry: a plan refused now (not found,
                # nothing understood, the name taken) leaves the workspace untouched
                await anyio.to_thread.run_sync(self._prepare, parsed, cwd, ws)
            await self._claim(ws, create=True)
            return await self._once(
                ws, request, lambda: self._guarded(parsed, request, None, False, ws, tg)
            )
        if isinstance(parsed, commands.CreateInitiative | commands.RestoreTracker):
            paths: TrackerPaths | None = None
            implicit = False
            ws = _workspace_of(request, cwd)
        else:
            paths, implicit = workspace.resolve(request.tracker, cwd)
            ws = paths.workspace
        if paths is not None and not (ws / ".ecw").is_dir() and not paths.json.exists():
            # a hand-written plan in a workspace wtd never served: tried before .ecw/ is
            # made, so that one refused (nothing understood) leaves the workspace as it was
            await anyio.to_thread.run_sync(self._try_plan, paths)
        # .ecw/ (and its lock) is made only where there is something to serve
        await self._claim(ws, create=paths is None or _exists(paths))
        if isinstance(parsed, commands.CreateInitiative | commands.RestoreTracker) or (
            isinstance(parsed, commands.Undo) and paths is not None and not paths.json.exists()
        ):
            return await self._once(
                ws, request, lambda: self._guarded(parsed, request, paths, implicit, ws, tg)
            )
        return await self._guarded(parsed, request, paths, implicit, ws, tg)

    async def _guarded(
        self,
        parsed: commands.Command,
        request: protocol.Command,
        paths: TrackerPaths | None,
        implicit: bool,
        ws: Path,
        tg: TaskGroup,
    ) -> Outcome:
        """Enforce, then carry out a tracker or workspace command."""
        operation = await self._operation(parsed, request, paths, tg)
        verdict = await self._enforce(ws, operation, parsed, request)
        if not verdict.allowed:
            blocked = _blocked(verdict)
            if paths is not None:  # the question names the tracker it is about
                blocked = msgspec.structs.replace(blocked, tracker=_label(paths))
            return blocked
        if isinstance(parsed, commands.CreateInitiative):
            outcome = await self._create_initiative(parsed, ws, request, tg)
        elif isinstance(parsed, commands.ImportPlan):
            outcome = await self._import_plan(parsed, ws, request, tg)
        elif isinstance(parsed, commands.RestoreTracker):
            outcome = await anyio.to_thread.run_sync(_restore, ws, parsed.name)
        else:
            assert paths is not None
            if isinstance(parsed, commands.Undo) and self._is_subagent(request.options):
                parsed = commands.Undo(by_subagent=True)
            outcome = await self._tracker_command(paths, parsed, request, tg)
            if implicit and outcome.ok:
                outcome = msgspec.structs.replace(
                    outcome, lines=[f"Tracker: {outcome.tracker}", *outcome.lines]
                )
        if verdict.advisories:
            outcome = msgspec.structs.replace(outcome, lines=[*verdict.advisories, *outcome.lines])
        return outcome

    def _is_subagent(self, options: protocol.Options) -> bool:
        rule = self._settings.agent_rules.get(options.agent) if options.agent else None
        return options.subagent or (rule is not None and rule.subagent)

    async def _claim(self, ws: Path, *, create: bool) -> None:
        """Serve ``ws`` only as its one daemon (SPEC §2); refuse a symlinked one."""
        if ws in self._owned:
            return
        if not await anyio.to_thread.run_sync(lambda: self._ownership.claim(ws, create=create)):
            return
        if len(self._owned) >= 4096:
            self._owned.clear()
        self._owned.add(ws)

    async def _once(
        self,
        ws: Path,
        request: protocol.Command,
        run: Callable[[], Awaitable[Outcome]],
    ) -> Outcome:
        """Run a workspace-level request whose reply is kept on disk, so that a retry
        of its id — even after wtd restarted — is answered, not carried out again."""
        replies = self._replies.get(ws)
        if replies is None:
            replies = self._replies[ws] = Replies(ws)
        try:
            kept = await anyio.to_thread.run_sync(replies.get, request.id)
        except (OSError, errors.WtdError) as exc:
            log.warning("kept replies of %s unreadable: %s", ws, exc)
            kept = None
        if kept is not None:
            log.info("request %s was answered before; answering again", request.id)
            return _outcome_decoder.decode(kept)
        outcome = await run()
        if outcome.ok:  # a failure changed nothing: carrying it out again is harmless
            data = _outcome_encoder.encode(msgspec.structs.replace(outcome, symptom=None))
            try:
                await anyio.to_thread.run_sync(replies.put, request.id, data)
            except (OSError, errors.WtdError) as exc:
                log.warning("could not keep the reply of %s: %s", request.id, exc)
        return outcome

    async def _tracker_command(
        self,
        paths: TrackerPaths,
        command: commands.Command,
        request: protocol.Command,
        tg: TaskGroup,
    ) -> Outcome:
        if isinstance(command, commands.Undo) and not paths.json.exists():
            gone = trash.entries(paths.state / "trash", paths.name)
            if gone:  # undo of "delete tracker"
                return await anyio.to_thread.run_sync(_restore, paths.workspace, paths.name)
        _must_exist(paths)
        outcome = await self._heal(paths, command, request, tg)
        if isinstance(command, commands.DeleteTracker) and outcome.ok:
            stream = self._stores.pop(self._key(paths), None)
            await post(self._watcher, Unwatch(paths=paths))
            if stream is not None:
                stream.close()  # the old Store drains its inbox and ends
        return outcome

    # ------------------------------------------------------------ enforcement

    async def _operation(
        self,
        command: commands.Command,
        request: protocol.Command,
        paths: TrackerPaths | None,
        tg: TaskGroup,
    ) -> Operation | None:
        """The guarded operation ``command`` is (SPEC §7), or None."""
        if command.guarded is None:  # declared on the command class
            return None
        match command:
            case commands.CreateInitiative(number=number):
                return Operation.create_initiative(number)
            case commands.DeleteTracker():
                assert paths is not None
                _must_exist(paths)  # never ask consent for a tracker that is not there
                return Operation.delete_tracker(paths.name)
            case commands.SetPhaseTasks(number=number, status=status):
                assert paths is not None
                count = await self._bulk_count(paths, number, status, request, tg)
                if count >= 2:
                    return Operation.bulk_change(paths.name, request.phrase, count)
        return None

    async def _bulk_count(
        self,
        paths: TrackerPaths,
        number: int,
        status: str,
        request: protocol.Command,
        tg: TaskGroup,
    ) -> int:
        listed = await self._heal(paths, commands.ListTasks(phase=number), request, tg)
        if not listed.ok or not isinstance(listed.result, dict | list):
            return 0
        rows = listed.result.get("tasks", []) if isinstance(listed.result, dict) else listed.result
        return sum(1 for row in rows if isinstance(row, dict) and row.get("status") != status)

    async def _enforce(
        self,
        ws: Path,
        operation: Operation | None,
        command: commands.Command,
        request: protocol.Command,
    ) -> EnforcementResult:
        options = request.options
        action: Action = _ACTIONS[command.access]
        if isinstance(command, _CONSENT_COMMANDS):
            action = "consent"
        elif isinstance(command, commands.RestoreTracker) or (
            isinstance(command, commands.Undo) and _undoes_a_delete(request, ws)
        ):
            action = "restore_tracker"
        context = EnforcementContext(
            agent=options.agent,
            subagent=options.subagent,
            skip_consent=options.skip_consent,
            consent_token=options.consent_token,
            workspace=ws,
            phrase=request.phrase,
            action=action,
        )
        send, recv = anyio.create_memory_object_stream[EnforcementResult](1)
        await post(
            self._enforcer,
            Check(
                workspace=str(ws),
                operation=operation,
                context=context,
                request=request,
                reply_to=send,
            ),
        )
        with recv:
            return await recv.receive()

    async def _consent(
        self,
        command: commands.ConsentAnswer | commands.GrantBlanket,
        request: protocol.Command,
        ws: Path,
        tg: TaskGroup,
    ) -> Outcome:
        verdict = await self._enforce(ws, None, command, request)
        if not verdict.allowed:  # a subagent may not change consent
            return _blocked(verdict)
        text = command.answer if isinstance(command, commands.ConsentAnswer) else request.phrase
        send, recv = anyio.create_memory_object_stream[Answered](1)
        await post(
            self._enforcer,
            AnswerConsent(
                workspace=str(ws),
                answer=text,
                token=request.options.consent_token,
                agent=request.options.agent,
                reply_to=send,
            ),
        )
        with recv:
            answered = await recv.receive()
        if answered.declined:
            return Outcome(
                ok=True,
                lines=[f"✓ Consent: {answered.message}. Nothing was changed."],
                result={"declined": True},
            )
        if not answered.granted:
            raise errors.InvalidArgument(
                f"{answered.message}. Consent answers the question of the command before it "
                "(in the REPL or batch mode); in one-shot mode rerun that command with "
                "--skip-consent."
            )
        if isinstance(command, commands.GrantBlanket):
            return Outcome(ok=True, lines=["Blanket approval granted for initiative creation."])
        if answered.request is None:
            return Outcome(ok=True, lines=[f"✓ Consent: {answered.message}"])
        original = answered.request
        approved = msgspec.structs.replace(
            original,
            options=msgspec.structs.replace(original.options, consent_token=answered.token),
        )
        outcome = await self._outcome(approved, tg)
        return msgspec.structs.replace(
            outcome, lines=[f"✓ Consent: {answered.message}", *outcome.lines]
        )

    async def _manage_consent(
        self,
        command: commands.ShowConsent | commands.RevokeConsent,
        request: protocol.Command,
        ws: Path,
    ) -> Outcome:
        """``show consent`` and ``revoke consent [for KIND]`` (SPEC §7)."""
        verdict = await self._enforce(ws, None, command, request)
        if not verdict.allowed:  # a subagent may not change consent
            return _blocked(verdict)
        revoke = isinstance(command, commands.RevokeConsent)
        send, recv = anyio.create_memory_object_stream[ConsentReport](1)
        await post(
            self._enforcer,
            ManageConsent(
                workspace=str(ws),
                revoke=revoke,
                kind=command.kind if isinstance(command, commands.RevokeConsent) else None,
                agent=request.options.agent,
                reply_to=send,
            ),
        )
        with recv:
            report = await recv.receive()
        if report.error is not None:
            raise errors.Denied(report.error)
        lines: list[str] = []
        if report.revoked is not None:
            lines.append(_revoked_line(report.revoked))
        if report.approvals:
            lines.append(f"Standing approvals in {ws}:")
            lines.extend(f"  {KIND_LABELS[kind]}: {how}" for kind, how in report.approvals)
        else:
            lines.append(f"No standing approvals in {ws}: every guarded operation asks first.")
        if report.approved_initiatives:
            numbers = ", ".join(str(n) for n in report.approved_initiatives)
            lines.append(f"  approved initiatives: {numbers}")
        revoked = report.revoked
        return Outcome(
            ok=True,
            lines=[*verdict.advisories, *lines],
            result={
                "workspace": str(ws),
                "approvals": {kind: how for kind, how in report.approvals},
                "approved_initiatives": report.approved_initiatives,
                **(
                    {
                        "revoked": {
                            "kinds": revoked.kinds,
                            "blanket": revoked.blanket,
                            "initiatives": revoked.initiatives,
                        }
                    }
                    if revoked is not None
                    else {}
                ),
            },
        )

    # ------------------------------------------------------------ workspace operations

    async def _create_initiative(
        self, command: commands.CreateInitiative, ws: Path, request: protocol.Command, tg: TaskGroup
    ) -> Outcome:
        number = command.number
        taken = [n for n in workspace.trackers_in(ws) if n.split("-", 1)[0] == f"{number:02d}"]
        if taken:
            raise errors.InvalidArgument(
                f"Initiative {number} already exists: {taken[0]}", suggestions=taken[:1]
            )
        title = command.title or f"Initiative {number}"
        name = f"{number:02d}-{_slug(command.title or 'initiative')}"
        paths = workspace.for_workspace(ws, name)
        if paths.json.exists() or paths.markdown.exists():
            raise errors.InvalidArgument(f"A tracker named {name} already exists")
        tracker = model.new_tracker(title, initiative_id=str(number), at=store_now())
        await anyio.to_thread.run_sync(atomic.atomic_write, paths.json, model.encode(tracker))
        opened = await self._heal(paths, commands.ShowProgress(), request, tg)  # renders the view
        if not opened.ok:
            return opened
        return Outcome(
            ok=True,
            lines=[f"Created initiative {number}: {title} → {_label(paths)}"],
            result={"initiative": number, "tracker": name, "json": str(paths.json)},
            tracker=_label(paths),
            progress=0,
        )

    def _try_plan(self, paths: TrackerPaths) -> None:
        """Raise NothingToImport (or LimitRefused) when the plan ``paths.markdown``, if
        there is one, would be refused; its Store imports it for real."""
        try:
            data = safepath.read_bytes(paths.markdown, self._settings.max_file_bytes)
        except (FileNotFoundError, IsADirectoryError):
            return
        read_plan(
            data,
            title_hint=paths.name,
            source=_label(paths),
            max_bytes=self._settings.max_file_bytes,
        )

    def _prepare(self, command: commands.ImportPlan, cwd: Path, ws: Path) -> Prepared:
        return prepare(
            command.path, command.name, cwd=cwd, ws=ws, max_bytes=self._settings.max_file_bytes
        )

    async def _import_plan(
        self, command: commands.ImportPlan, ws: Path, request: protocol.Command, tg: TaskGroup
    ) -> Outcome:
        """``import plan PATH [as NAME]`` (SPEC §2a): the plan becomes a tracker of the
        workspace (JSON written, view rendered); the plan itself is never written."""
        plan = await anyio.to_thread.run_sync(self._prepare, command, Path(request.cwd), ws)
        paths, result = plan.paths, plan.result

        def write() -> None:
            safepath.check(paths.json)
            safepath.check(paths.markdown)
            atomic.atomic_write(paths.json, model.encode(result.tracker))

        await anyio.to_thread.run_sync(write)
        opened = await self._heal(paths, commands.ShowProgress(), request, tg)  # renders the view
        if not opened.ok:
            return opened
        label = _label(paths)
        return Outcome(
            ok=True,
            lines=[*import_lines(result), f"Created tracker {paths.name} → {label}"],
            result={
                "tracker": paths.name,
                "json": str(paths.json),
                "markdown": str(paths.markdown),
                "source": str(plan.source),
                **import_report(result),
            },
            tracker=label,
            progress=opened.progress,
        )

    # ------------------------------------------------------------ healing

    async def _heal(
        self,
        paths: TrackerPaths,
        command: commands.Command,
        request: protocol.Command,
        tg: TaskGroup,
    ) -> Outcome:
        """Run ``command`` on the tracker's Store; on a fault, run the MAPE-K loop."""
        breaker = self._breaker(paths)
        label = _label(paths)
        is_write = isinstance(command, commands.CHANGE_TYPES)
        if is_write and not breaker.allow():
            return _failure(circuit_open(breaker), label)
        healing: list[str] = []
        attempt = 1
        repaired = False
        retrying: RemediationPlan | None = None  # the RETRY plan in progress, to learn from
        actor = caller(request.options)
        while True:
            outcome = await self._store_call(
                paths,
                tg,
                lambda reply_to: Apply(
                    rid=request.id, command=command, actor=actor, reply_to=reply_to
                ),
            )
            symptom = outcome.symptom
            if symptom is None:  # done, or a mistake of the user's: nothing to heal
                if is_write or attempt > 1:
                    await self._breaker_result(paths, breaker, ok=True)
                if attempt > 1:
                    healing.append(f"✓ Attempt {attempt}: Success")
                if retrying is not None:
                    await self._learned(retrying, success=True)
                outcome = _with_healing(outcome, healing)
                if is_write and outcome.ok:
                    await self._publish("changed", paths, actor, outcome)
                return outcome
            await self._breaker_result(paths, breaker, ok=False)
            plan = await self._plan(symptom, attempt)
            if plan.strategy is Strategy.RETRY:
                if breaker.state is CircuitState.OPEN:
                    await self._learned(plan, success=False)
                    healing.append(f"✗ Attempt {attempt}: {_describe(symptom)}")
                    return _with_healing(_failure(circuit_open(breaker), label), healing)
                if attempt < plan.max_attempts:
                    retrying = plan
                    healing += [
                        f"✓ Attempt {attempt}: {_describe(symptom)}",
                        f"✓ Recovery: {plan.reason}",
                    ]
                    await anyio.sleep(self._settings.policy.delay(attempt))
                    attempt += 1
                    continue
                await self._learned(plan, success=False)
                healing.append(f"✗ Attempt {attempt}: {_describe(symptom)}")
                message = f"Gave up after {attempt} attempts: {_message(outcome)}"
                failed = _given_up(message, symptom, is_write)
                return _with_healing(_failure(failed, label, symptom), healing)
            if plan.strategy is Strategy.REPAIR and not repaired:
                repair = await self._store_call(paths, tg, _repair_of(symptom))
                await self._learned(plan, success=repair.ok)
                healing += repair.healing
                if not repair.ok:
                    return _with_healing(repair, healing)
                repaired = True
                attempt += 1
                continue
            # ESCALATE (or a repair that did not stick): tell the user what to do
            if plan.strategy is not Strategy.ESCALATE:
                await self._learned(plan, success=False)
            advice = f" — {plan.advice}" if plan.advice else ""
            healing += [f"✓ Issue: {_describe(symptom)}", f"✓ Recovery: Escalated ({plan.reason})"]
            message = f"{_message(outcome)}{advice}"
            failed = _given_up(message, symptom, is_write)
            return _with_healing(_failure(failed, label, symptom), healing)

    async def _publish(
        self, kind: str, paths: TrackerPaths, actor: str, outcome: Outcome | None = None
    ) -> None:
        lines = [*outcome.healing, *outcome.lines] if outcome is not None else []
        event = protocol.Event(
            seq=0,
            kind=kind,
            at="",
            tracker=_label(paths),
            workspace=str(paths.workspace),
            actor=actor,
            lines=lines,
            progress=outcome.progress if outcome is not None else None,
        )
        await post(self._events, Publish(event=event))

    async def _plan(self, symptom: Symptom, attempt: int) -> RemediationPlan:
        """Monitor → Analyzer → Planner (→ Knowledge) → back here."""
        send, recv = anyio.create_memory_object_stream[RemediationPlan](1)
        await post(self._monitor, FaultObserved(symptom=symptom, attempt=attempt, reply_to=send))
        with recv:
            return await recv.receive()

    async def _learned(self, plan: RemediationPlan, *, success: bool) -> None:
        await post(
            self._knowledge,
            RecoveryFinished(
                diagnosis=plan.diagnosis, strategy=plan.strategy.value, success=success
            ),
        )

    def _key(self, paths: TrackerPaths) -> Path:
        """The tracker's identity: its JSON's real path (symlinks resolved), remembered."""
        key = self._keys.get(paths.json)
        if key is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            key = self._keys[paths.json] = paths.json.resolve()
        return key

    def _breaker(self, paths: TrackerPaths) -> CircuitBreaker:
        key = self._key(paths)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = CircuitBreaker(
                f"storage:{paths.name}",
                self._settings.circuit_threshold,
                self._settings.circuit_timeout,
            )
        return breaker

    async def _breaker_result(
        self, paths: TrackerPaths, breaker: CircuitBreaker, *, ok: bool
    ) -> None:
        was_open = breaker.state is not CircuitState.CLOSED
        if ok:
            breaker.record_success()
        else:
            breaker.record_failure()
        is_open = breaker.state is not CircuitState.CLOSED
        if was_open != is_open:
            await post(self._monitor, CircuitChanged(name=breaker.name, is_open=is_open))
            state = f"⚠ Circuit {breaker.describe()}" if is_open else "Circuit CLOSED"
            await post(
                self._events,
                Publish(
                    event=protocol.Event(
                        seq=0,
                        kind="circuit",
                        at="",
                        tracker=_label(paths),
                        workspace=str(paths.workspace),
                        lines=[f"{state}: {breaker.name}"],
                    )
                ),
            )

    async def _reset_circuits(self) -> Outcome:
        lines = []
        for breaker in self._breakers.values():
            was = breaker.describe()
            breaker.reset()
            await post(self._monitor, CircuitChanged(name=breaker.name, is_open=False))
            lines.append(f"  {breaker.name}: {was} → CLOSED")
        return Outcome(
            ok=True,
            lines=["Every circuit breaker is CLOSED.", *lines],
            result={"reset": [b.name for b in self._breakers.values()]},
        )

    def circuit_lines(self) -> list[str]:
        return [f"  Circuit {b.name}: {b.describe()}" for b in self._breakers.values()]

    # ------------------------------------------------------------ plumbing

    async def _store_call(
        self,
        paths: TrackerPaths,
        tg: TaskGroup,
        make: Callable[[MemoryObjectSendStream[Outcome]], StoreMessage],
    ) -> Outcome:
        # A Store that crashes mid-request is restarted with its inbox; asking again is
        # safe because a change's request id is applied at most once. One given up
        # (a crash loop) is replaced by a fresh one.
        for _attempt in range(STORE_ASKS):
            store = await self._store(paths, tg)
            send, recv = anyio.create_memory_object_stream[Outcome](1)
            try:
                await post(store, make(send))
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                send.close()
                recv.close()
                continue
            try:
                with recv:
                    return await recv.receive()
            except anyio.EndOfStream:
                log.warning("store %s dropped a request; asking again", paths.name)
        # The change may have been journalled before the Store failed: not a failure,
        # an unknown outcome, which a retry with the same request id settles.
        raise errors.OutcomeUnknown(
            f"the store of {paths.name} keeps failing on this request, so whether it was "
            "applied is not known; retry it (the same request id is applied at most once) "
            "and see the wtd log"
        )

    async def _store(
        self, paths: TrackerPaths, tg: TaskGroup
    ) -> MemoryObjectSendStream[StoreMessage]:
        key = self._key(paths)
        stream = self._stores.get(key)
        if stream is None:
            # Registered before the first await: concurrent first requests share one Store.
            send, recv = anyio.create_memory_object_stream[StoreMessage](1024)
            self._stores[key] = stream = send
            settings = self._settings
            store = Store(
                paths,
                recv,
                failpoints=self._fp,
                backups_keep=settings.backups_keep,
                backup_every=settings.backup_every,
                journal_max_bytes=settings.journal_max_bytes,
                events=self._events,
                max_bytes=settings.max_file_bytes,
                max_depth=settings.max_depth,
            )
            tg.start_soon(self._run_store, store, key, send, recv)
            await post(self._watcher, Watch(paths=paths, store=send))
        return stream

    async def _run_store(
        self,
        store: Store,
        key: Path,
        send: MemoryObjectSendStream[StoreMessage],
        recv: MemoryObjectReceiveStream[StoreMessage],
    ) -> None:
        """Supervise one tracker's Store. A Store in a crash loop (a tracker file that
        keeps breaking it) is given up alone — its queued requests failed, the next
        request starting it afresh — so one hostile tracker never stops the daemon
        that serves every other workspace."""
        shared = self._store_intensity
        intensity = RestartIntensity(shared.max_restarts, shared.period)
        try:
            await supervise(store.run, f"store:{store.paths.name}", intensity)
        except ActorCrashLoop as exc:
            log.critical("%s; given up until its next request", exc)
            if self._stores.get(key) is send:
                del self._stores[key]
            send.close()
            fail_queued(recv)

    async def _health(self) -> HealthReport:
        send, recv = anyio.create_memory_object_stream[HealthReport](1)
        await post(self._monitor, GetHealth(reply_to=send))
        with recv:
            report = await recv.receive()
        return HealthReport(
            summary=report.summary,
            verbose=[*report.verbose, *self.circuit_lines()],
            data={
                **report.data,
                "circuits": {b.name: b.describe() for b in self._breakers.values()},
            },
        )

    async def _show_knowledge(self, request: protocol.Command, cwd: Path) -> Outcome:
        ws = workspace.find_workspace(cwd) or cwd
        if request.tracker:
            ws = workspace.resolve(request.tracker, cwd)[0].workspace
        await self._claim(ws, create=False)
        send, recv = anyio.create_memory_object_stream[list[str]](1)
        await post(self._knowledge, ShowKnowledge(workspace=str(ws), reply_to=send))
        with recv:
            lines = await recv.receive()
        return Outcome(ok=True, lines=lines, result={"workspace": str(ws)})

    async def _list_trackers(self, request: protocol.Command, cwd: Path, tg: TaskGroup) -> Outcome:
        ws = workspace.find_workspace(cwd) or cwd
        if request.tracker:
            ws = workspace.resolve(request.tracker, cwd)[0].workspace
        await self._claim(ws, create=False)
        names = workspace.trackers_in(ws)
        if not names:
            return Outcome(ok=True, lines=[f"No trackers in {ws}"], result=[])
        lines = [f"Trackers in {ws}:"]
        result: list[dict[str, object]] = []
        for name in sorted(names):
            paths = workspace.for_workspace(ws, name)
            outcome = await self._heal(paths, commands.ShowProgress(), request, tg)
            if outcome.ok:
                lines.append(f"  {name:<24} {outcome.progress}%")
                result.append({"name": name, "progress": outcome.progress})
            else:
                message = outcome.error.message if outcome.error else "unavailable"
                lines.append(f"  {name:<24} ⚠ {message}")
                result.append({"name": name, "error": message})
        return Outcome(ok=True, lines=lines, result=result)


# Faults that stop a Store before it could look up the request id in the journal.
_BEFORE_RID_CHECK = frozenset({"journal.open", "store.open", fp.STORE_READ})


def _given_up(message: str, symptom: Symptom, is_write: bool) -> errors.WtdError:
    """The error for a request self-healing gave up on. A change whose tracker could
    not even be opened may be a retry of one applied before (its journal unread): its
    outcome is unknown (exit 5, retry later), never a definite "failed"."""
    if is_write and symptom.point in _BEFORE_RID_CHECK:
        return errors.OutcomeUnknown(
            f"{message} (if this request was sent before, whether that try was applied is "
            "not known until the tracker can be opened)"
        )
    return errors.WtdError(message)


def _exists(paths: TrackerPaths) -> bool:
    return paths.json.exists() or paths.markdown.exists()


def _changes(phrase: str) -> bool:
    """Could ``phrase`` change something (so that a retry must not run it again)?"""
    return not isinstance(phrases.parse(phrase), _READS)


_READS: tuple[type, ...] = (
    phrases.ParseError,
    *commands.QUERY_TYPES,
    commands.Help,
    commands.ShowHealth,
    commands.ListTrackers,
    commands.ShowKnowledge,
)


def _must_exist(paths: TrackerPaths) -> None:
    if not (paths.json.exists() or paths.markdown.exists() or paths.journal.exists()):
        known = workspace.trackers_in(paths.workspace)
        raise errors.NotFound(
            f"No tracker {paths.name!r} in {paths.workspace}"
            + (f" (trackers here: {', '.join(known)})" if known else ""),
            suggestions=known[:3],
        )


def _undoes_a_delete(request: protocol.Command, ws: Path) -> bool:
    """Is this ``undo`` the undo of ``delete tracker`` (its tracker is in the trash)?"""
    try:
        paths, _ = workspace.resolve(request.tracker, Path(request.cwd))
    except errors.WtdError:
        return False
    return not paths.json.exists() and bool(trash.entries(paths.state / "trash", paths.name))


def _workspace_of(request: protocol.Command, cwd: Path) -> Path:
    if request.tracker:
        return workspace.resolve(request.tracker, cwd)[0].workspace
    return workspace.find_workspace(cwd) or cwd


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:48].strip("-") or "initiative"


def _blocked(verdict: EnforcementResult) -> Outcome:
    code = verdict.code or "denied"
    if code == "consent_required":
        message = "\n".join(
            [
                verdict.prompt[0],
                *(f"  {line}" for line in verdict.prompt[1:-1]),
                "",
                f"  {verdict.prompt[-1]}",
                "  (one-shot: rerun with --skip-consent, or answer in the REPL or batch mode)",
            ]
        )
    else:
        message = verdict.reason or "Denied by enforcement"
    return Outcome(
        ok=False,
        lines=list(verdict.advisories),
        error=protocol.ErrorInfo(code=code, message=message),
        result=(
            {"consent_token": verdict.token, "level": verdict.level, "basis": verdict.basis}
            if verdict.token
            else {"level": verdict.level, "basis": verdict.basis}
        ),
    )


def _restore(ws: Path, name: str | None) -> Outcome:
    folder = ws / ".ecw" / "trash"
    found = trash.entries(folder, name)
    if not found:
        raise errors.NotFound(
            f"Nothing to restore in {folder}" + (f" for {name!r}" if name else "")
        )
    try:
        restored, files = trash.restore(found[0])
    except trash.TrashError as exc:
        raise errors.InvalidArgument(str(exc)) from exc
    paths = workspace.for_workspace(ws, restored)
    return Outcome(
        ok=True,
        lines=[f"Restored tracker {restored} ({len(files)} file(s)) → {_label(paths)}"],
        result={"restored": restored, "files": [str(f) for f in files]},
        tracker=_label(paths),
    )


def _repair_of(symptom: Symptom) -> Callable[[MemoryObjectSendStream[Outcome]], StoreMessage]:
    def make(reply_to: MemoryObjectSendStream[Outcome]) -> StoreMessage:
        return Repair(symptom=symptom, reply_to=reply_to)

    return make


def _label(paths: TrackerPaths) -> str:
    return str(paths.markdown.relative_to(paths.workspace))


def _describe(symptom: Symptom) -> str:
    return f"{symptom.message or symptom.error} ({symptom.point})"


def _message(outcome: Outcome) -> str:
    return outcome.error.message if outcome.error else "the operation failed"


def _with_healing(outcome: Outcome, healing: list[str]) -> Outcome:
    if not healing:
        return outcome
    return msgspec.structs.replace(outcome, healing=[*healing, *outcome.healing])


def _failure(exc: errors.WtdError, tracker: str = "", symptom: Symptom | None = None) -> Outcome:
    return Outcome(
        ok=False,
        error=protocol.ErrorInfo(code=exc.code, message=exc.message, suggestions=exc.suggestions),
        tracker=tracker,
        symptom=symptom,
    )


def help_lines(topic: str | None) -> list[str]:
    templates = phrases.PHRASES
    if topic:
        words = [w.rstrip("s") or w for w in topic.lower().split()]
        chosen = [p for p in templates if any(w in p for w in words)]
        if not chosen:
            topics = "tasks, phases, subtasks, evidence, sync, health, consent, import"
            return [f"No help on {topic!r}. Topics: {topics}"]
        templates = tuple(chosen)
    return [
        "Phrases (X.Y = task id, N = phase number, S = status, T = text, PATH = a file):",
        *(f"  {p}" for p in templates),
        'Example: wtctl --tracker docs/plans/my-project.md "mark task 2.2 complete"',
    ]
