"""Admin and introspection: help, health, circuit reset and what Knowledge learned."""

from __future__ import annotations

from pathlib import Path

import anyio

from wtd import protocol, workspace
from wtd.actors import post
from wtd.actors.executor.context import Context
from wtd.actors.executor.outcomes import blocked, workspace_of
from wtd.messages import GetHealth, HealthReport, Outcome, ShowKnowledge
from wtd.tracker import commands, phrases


async def show_help(
    ctx: Context, command: commands.Help, request: protocol.Command, cwd: Path
) -> Outcome:
    return Outcome(ok=True, lines=help_lines(command.topic))


async def show_health(
    ctx: Context, command: commands.ShowHealth, request: protocol.Command, cwd: Path
) -> Outcome:
    report = await health(ctx)
    return Outcome(ok=True, lines=[report.summary, *report.verbose], result=report.data)


async def reset_circuit(
    ctx: Context, command: commands.ResetCircuit, request: protocol.Command, cwd: Path
) -> Outcome:
    """Close every circuit breaker (admin: agent restrictions apply)."""
    verdict = await ctx.enforce(workspace_of(request, cwd), None, command, request)
    if not verdict.allowed:
        return blocked(verdict)
    return await ctx.healer.reset_circuits()


async def show_knowledge(
    ctx: Context, command: commands.ShowKnowledge, request: protocol.Command, cwd: Path
) -> Outcome:
    ws = workspace.find_workspace(cwd) or cwd
    if request.tracker:
        ws = workspace.resolve(request.tracker, cwd)[0].workspace
    await ctx.claim(ws, create=False)
    send, recv = anyio.create_memory_object_stream[list[str]](1)
    await post(ctx.knowledge, ShowKnowledge(workspace=str(ws), reply_to=send))
    with recv:
        lines = await recv.receive()
    return Outcome(ok=True, lines=lines, result={"workspace": str(ws)})


async def health(ctx: Context) -> HealthReport:
    """The Monitor's report with the state of every circuit breaker added."""
    send, recv = anyio.create_memory_object_stream[HealthReport](1)
    await post(ctx.monitor, GetHealth(reply_to=send))
    with recv:
        report = await recv.receive()
    breakers = ctx.healer.breakers
    return HealthReport(
        summary=report.summary,
        verbose=[*report.verbose, *breakers.lines()],
        data={**report.data, "circuits": breakers.states()},
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
