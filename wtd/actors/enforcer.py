"""Enforcer actor: the four-level chain (SPEC §7) for every request, one chain per workspace.

Every request passes ``FourLevelEnforcer.check`` before it runs. When consent is
required the original request is kept under the consent token, so that the
answer — ``yes``/``approved`` (once) or ``always`` (a standing approval for that kind)
— carries it out, and ``no`` drops it. ``show consent``/``revoke consent`` read and
withdraw the standing approvals.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import assert_never

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from wtd import protocol
from wtd.actors import answer, serve
from wtd.enforcement.agents import AgentRule
from wtd.enforcement.chain import EnforcementResult, FourLevelEnforcer, HookLevel
from wtd.errors import WtdError
from wtd.messages import (
    AnswerConsent,
    Answered,
    Check,
    ConsentReport,
    EnforcerMessage,
    ManageConsent,
    Probe,
)
from wtd.vocabulary import GUARDED_KINDS

log = logging.getLogger("wtd.enforcer")

MAX_PENDING = 1000


class Enforcer:
    name = "enforcer"

    def __init__(
        self,
        inbox: MemoryObjectReceiveStream[EnforcerMessage],
        *,
        advisory_rules: Sequence[str] = (),
        agent_rules: Mapping[str, AgentRule] | None = None,
        workspaces: Sequence[Path] | None = None,
    ) -> None:
        self._inbox = inbox
        self._rules = tuple(advisory_rules)
        self._agents = dict(agent_rules or {})
        self._workspaces = workspaces
        self._chains: dict[str, FourLevelEnforcer] = {}
        self._waiting: dict[str, protocol.Command] = {}  # consent token → request

    def _chain(self, workspace: str) -> FourLevelEnforcer:
        chain = self._chains.get(workspace)
        if chain is None:
            chain = self._chains[workspace] = FourLevelEnforcer.for_workspace(
                Path(workspace),
                extra_rules=self._rules,
                agent_rules=self._agents,
                hook=HookLevel(uid=os.getuid(), workspaces=self._workspaces),
            )
        return chain

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the inbox; after a crash the chains are built again, requests that
        wait for consent are kept."""
        self._chains = {}
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: EnforcerMessage) -> None:
        match msg:
            case Check(workspace=ws, operation=op, context=ctx, request=req, reply_to=r):
                chain = self._chain(ws)
                try:
                    if op is None:
                        # Not a guarded operation: the chain stats CLAUDE.md (reading it
                        # only after it changed), resolves the served workspace roots if
                        # any are configured, and appends an audit line on a denial —
                        # small local I/O; a thread hop would cost more, on every request.
                        result = chain.check(op, ctx)
                    else:
                        result = await anyio.to_thread.run_sync(chain.check, op, ctx)
                except (WtdError, OSError) as exc:
                    # consent or audit files that cannot be read or written (a read-only
                    # workspace, a symlink planted in .ecw/): refuse, never crash
                    await answer(r, _unrecorded(exc))
                    return
                if result.code == "consent_required" and result.token is not None:
                    if len(self._waiting) >= MAX_PENDING:
                        self._waiting.pop(next(iter(self._waiting)))
                    self._waiting[result.token] = req
                if not result.allowed:
                    log.info("%s: %s (%s) → %s", ws, ctx.phrase, result.basis, result.code)
                await answer(r, result)
            case AnswerConsent(workspace=ws, answer=text, token=token, agent=agent):
                consent = self._chain(ws).consent
                waiting = self._waiting.get(token) if token else None
                try:
                    granted = await anyio.to_thread.run_sync(
                        functools.partial(consent.grant, token, text, pending=None, agent=agent)
                    )
                except (WtdError, OSError) as exc:
                    refused = _unrecorded(exc)
                    await answer(msg.reply_to, Answered(granted=False, message=refused.reason))
                    return
                if (granted.granted or granted.declined) and token is not None:
                    self._waiting.pop(token, None)
                await answer(
                    msg.reply_to,
                    Answered(
                        granted=granted.granted,
                        message=granted.message,
                        request=waiting if granted.granted else None,
                        token=granted.token.id if granted.token is not None else None,
                        declined=granted.declined,
                    ),
                )
            case ManageConsent(workspace=ws, revoke=revoke, kind=kind, agent=agent):
                consent = self._chain(ws).consent
                which = next((k for k in GUARDED_KINDS if k == kind), None)
                try:
                    revoked = (
                        await anyio.to_thread.run_sync(
                            functools.partial(consent.revoke, which, agent=agent)
                        )
                        if revoke
                        else None
                    )
                    shown = await anyio.to_thread.run_sync(consent.show)
                    initiatives = consent.state.approved_initiatives
                except (WtdError, OSError) as exc:
                    why = _unrecorded(exc).reason
                    await answer(msg.reply_to, ConsentReport(approvals=[], error=why))
                    return
                await answer(
                    msg.reply_to,
                    ConsentReport(
                        approvals=[(k, how) for k, how in shown],
                        approved_initiatives=initiatives,
                        revoked=revoked,
                    ),
                )
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)


def _unrecorded(exc: WtdError | OSError) -> EnforcementResult:
    """The verdict when consent cannot be read or recorded: nothing goes ahead."""
    why = exc.message if isinstance(exc, WtdError) else (exc.strerror or str(exc))
    return EnforcementResult(
        allowed=False,
        level="soft",
        code="denied",
        reason=f"Refused: consent could not be checked or recorded ({why})",
        basis="consent_unrecorded",
    )
