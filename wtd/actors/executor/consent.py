"""Consent: answers to a question (which carry out the request that waited for
them), the blanket approval, and ``show consent`` / ``revoke consent`` (SPEC §7)."""

from __future__ import annotations

from pathlib import Path

import anyio
import msgspec

from wtd import errors, protocol
from wtd.actors import post
from wtd.actors.executor.context import Context
from wtd.actors.executor.outcomes import blocked, workspace_of
from wtd.enforcement.consent import Revoked
from wtd.messages import AnswerConsent, Answered, ConsentReport, ManageConsent, Outcome
from wtd.tracker import commands
from wtd.vocabulary import KIND_LABELS


async def answer_consent(
    ctx: Context,
    command: commands.ConsentAnswer | commands.GrantBlanket,
    request: protocol.Command,
    cwd: Path,
) -> Outcome:
    """``yes``/``no``/``approved``/``always`` or the blanket approval; a granted answer
    carries out the request that waited for it (its reply kept like a workspace one)."""
    ws = workspace_of(request, cwd)
    await ctx.claim(ws, create=True)
    return await ctx.once(ws, request, lambda: _answer(ctx, command, request, ws))


async def _answer(
    ctx: Context,
    command: commands.ConsentAnswer | commands.GrantBlanket,
    request: protocol.Command,
    ws: Path,
) -> Outcome:
    verdict = await ctx.enforce(ws, None, command, request, action="consent")
    if not verdict.allowed:  # a subagent may not change consent
        return blocked(verdict)
    text = command.answer if isinstance(command, commands.ConsentAnswer) else request.phrase
    send, recv = anyio.create_memory_object_stream[Answered](1)
    await post(
        ctx.enforcer,
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
    outcome = await ctx.replay(approved)
    return msgspec.structs.replace(
        outcome, lines=[f"✓ Consent: {answered.message}", *outcome.lines]
    )


async def manage_consent(
    ctx: Context,
    command: commands.ShowConsent | commands.RevokeConsent,
    request: protocol.Command,
    cwd: Path,
) -> Outcome:
    """``show consent`` and ``revoke consent [for KIND]`` (SPEC §7)."""
    ws = workspace_of(request, cwd)
    revoke = isinstance(command, commands.RevokeConsent)
    await ctx.claim(ws, create=revoke)
    # a subagent may not change consent: a revoke is enforced as a consent change
    verdict = await ctx.enforce(ws, None, command, request, action="consent" if revoke else None)
    if not verdict.allowed:
        return blocked(verdict)
    send, recv = anyio.create_memory_object_stream[ConsentReport](1)
    await post(
        ctx.enforcer,
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


def _revoked_line(revoked: Revoked) -> str:
    if not revoked.anything:
        return "Nothing to revoke."
    parts = [KIND_LABELS[k] for k in revoked.kinds if k in KIND_LABELS]
    if revoked.blanket:
        parts.append("the blanket approval for initiative creation")
    if revoked.initiatives:
        parts.append("approved initiatives " + ", ".join(str(n) for n in revoked.initiatives))
    return "Revoked: " + "; ".join(dict.fromkeys(parts)) + "."
