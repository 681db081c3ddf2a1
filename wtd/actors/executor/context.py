"""What every command handler works with: the Executor's neighbours, its Stores
(through the healing loop), the workspaces it serves, and enforcement.

A :class:`Context` lives for one run of the Executor (its Stores end with the run);
:class:`Workspaces` — the claims and the replies kept on disk — outlives restarts.
A handler is ``async def handle(ctx, command, request, cwd) -> Outcome``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectSendStream

from wtd import errors, protocol
from wtd.actors import post
from wtd.actors.executor.healing import Healer
from wtd.actors.executor.outcomes import blocked, label
from wtd.actors.executor.settings import Settings
from wtd.actors.executor.stores import Stores
from wtd.enforcement.agents import Action, rule_key
from wtd.enforcement.chain import EnforcementContext, EnforcementResult
from wtd.enforcement.consent import Operation
from wtd.messages import (
    Check,
    EnforcerMessage,
    KnowledgeMessage,
    MonitorMessage,
    OneShot,
    Outcome,
)
from wtd.storage import gitrepo
from wtd.storage.ownership import Ownership
from wtd.storage.replies import Replies
from wtd.storage.served import Served
from wtd.tracker import commands
from wtd.workspace import TrackerPaths

log = logging.getLogger("wtd.executor")

_ACTIONS: dict[commands.Access, Action] = {"read": "read", "write": "change", "admin": "admin"}
_outcome_encoder = msgspec.json.Encoder()
_outcome_decoder = msgspec.json.Decoder(Outcome)


def register_merge_drivers(ws: Path) -> None:
    """A clone whose ``.gitattributes`` names wtd's merge drivers but whose config does
    not register them (a driver is registered per clone, and git silently merges
    line by line without it) gets them registered when wtd first serves it (SPEC §11)."""
    if gitrepo.git_dir(ws) is None:
        return
    from wtctl.git.setup import GitError, driver_missing, register  # stdlib only

    try:
        if driver_missing(ws):
            for line in register(ws):
                log.info("%s: %s", ws, line)
    except (GitError, OSError) as exc:
        log.warning("%s: wtd's merge drivers not registered (%s): wtctl git setup", ws, exc)


class Workspaces:
    """The workspaces this daemon serves (SPEC §2) and the replies kept in each."""

    def __init__(self, ownership: Ownership, served: Served | None = None) -> None:
        self.ownership = ownership
        self.served = served  # the list checked when wtd starts (None: not kept)
        self._owned: set[Path] = set()  # workspaces claimed, as the requests spell them
        self._replies: dict[Path, Replies] = {}

    async def claim(self, ws: Path, *, create: bool) -> None:
        """Serve ``ws`` only as its one daemon (SPEC §2); refuse a symlinked one."""
        if ws in self._owned:
            return
        if not await anyio.to_thread.run_sync(lambda: self.ownership.claim(ws, create=create)):
            return
        if len(self._owned) >= 4096:
            self._owned.clear()
        self._owned.add(ws)
        await anyio.to_thread.run_sync(register_merge_drivers, ws)
        if self.served is not None:
            await anyio.to_thread.run_sync(self.served.add, ws)

    def owns(self, ws: Path) -> bool:
        """Is ``ws`` claimed already (``claim`` would do nothing)? Its lock is looked
        at once a second at most (``Ownership.still_owned``)."""
        if ws not in self._owned:
            return False
        if self.ownership.still_owned(ws):
            return True
        self._owned.discard(ws)  # claimed again at this request: it says who owns it
        return False

    def release_all(self) -> None:
        """Nothing of this daemon writes a workspace now: another daemon may take them."""
        self.ownership.release_all()
        self._owned.clear()

    async def once(
        self, ws: Path, request: protocol.Command, run: Callable[[], Awaitable[Outcome]]
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


def _inside(ws: Path, roots: tuple[Path, ...]) -> bool:
    real = ws.resolve()
    return any(real.is_relative_to(root.resolve()) for root in roots)


@dataclass(frozen=True, kw_only=True)
class Context:
    settings: Settings
    healer: Healer
    stores: Stores
    workspaces: Workspaces
    monitor: MemoryObjectSendStream[MonitorMessage]
    knowledge: MemoryObjectSendStream[KnowledgeMessage]
    enforcer: MemoryObjectSendStream[EnforcerMessage]
    replay: Callable[[protocol.Command], Awaitable[Outcome]]
    """Carry out a request again from the start (a consent answer's approved request)."""

    async def claim(self, ws: Path, *, create: bool) -> None:
        served = self.settings.workspaces
        if served is not None and not await anyio.to_thread.run_sync(_inside, ws, served):
            return  # not this daemon's ([daemon] workspaces): nothing made there; refused
        await self.workspaces.claim(ws, create=create)

    async def once(
        self, ws: Path, request: protocol.Command, run: Callable[[], Awaitable[Outcome]]
    ) -> Outcome:
        return await self.workspaces.once(ws, request, run)

    def is_subagent(self, options: protocol.Options) -> bool:
        rule = self.settings.agent_rules.get(rule_key(options.agent)) if options.agent else None
        return options.subagent or (rule is not None and rule.subagent)

    async def enforce(
        self,
        ws: Path,
        operation: Operation | None,
        command: commands.Command,
        request: protocol.Command,
        *,
        action: Action | None = None,
    ) -> EnforcementResult:
        """The Enforcer's verdict on ``request``; ``action`` defaults to the one the
        command's declared ``access`` stands for."""
        options = request.options
        context = EnforcementContext(
            agent=options.agent,
            subagent=options.subagent,
            skip_consent=options.skip_consent,
            consent_token=options.consent_token,
            workspace=ws,
            phrase=request.phrase,
            action=action or _ACTIONS[command.access],
        )
        reply = OneShot[EnforcementResult]()
        await post(
            self.enforcer,
            Check(
                workspace=str(ws),
                operation=operation,
                context=context,
                request=request,
                reply_to=reply,
            ),
        )
        return await reply.wait()

    async def guarded(
        self,
        ws: Path,
        command: commands.Command,
        request: protocol.Command,
        carry_out: Callable[[], Awaitable[Outcome]],
        *,
        operation: Operation | None = None,
        paths: TrackerPaths | None = None,
        action: Action | None = None,
    ) -> Outcome:
        """Enforce, then ``carry_out`` the command; the Enforcer's advisories lead the
        reply, and a question names the tracker (``paths``) it is about."""
        verdict = await self.enforce(ws, operation, command, request, action=action)
        if not verdict.allowed:
            refused = blocked(verdict)
            if paths is not None:
                refused = msgspec.structs.replace(refused, tracker=label(paths))
            return refused
        outcome = await carry_out()
        if verdict.advisories:
            outcome = msgspec.structs.replace(outcome, lines=[*verdict.advisories, *outcome.lines])
        return outcome
