"""Planner actor: chooses a remediation (RemediationPlanner), consulting Knowledge first."""

from __future__ import annotations

import logging
from typing import assert_never

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd.actors import answer, post, serve
from wtd.healing.analysis import Diagnosis, RemediationPlanner
from wtd.healing.retry import RetryPolicy
from wtd.messages import Advice, Consult, KnowledgeMessage, PlannerMessage, PlanRemedy, Probe

log = logging.getLogger("wtd.planner")


class _Advised:
    """The knowledge base's answer, in the shape RemediationPlanner asks for."""

    def __init__(self, advice: Advice) -> None:
        self._advice = advice

    def outcomes(self, key: str, strategy: str) -> tuple[int, int]:
        return self._advice.outcomes.get(strategy, (0, 0))


class Planner:
    name = "planner"

    def __init__(
        self,
        inbox: MemoryObjectReceiveStream[PlannerMessage],
        *,
        knowledge: MemoryObjectSendStream[KnowledgeMessage],
        policy: RetryPolicy,
    ) -> None:
        self._inbox = inbox
        self._knowledge = knowledge
        self._policy = policy

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: PlannerMessage) -> None:
        match msg:
            case PlanRemedy(diagnosis=diagnosis, attempt=attempt, reply_to=reply_to):
                # learn from (and record) the first failure of a request
                advice = await self._consult(diagnosis) if attempt == 1 else Advice(outcomes={})
                plan = RemediationPlanner(self._policy, _Advised(advice)).plan(diagnosis)
                log.info("%s → %s: %s", diagnosis.symptom.key, plan.strategy.value, plan.reason)
                await answer(reply_to, plan)
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)

    async def _consult(self, diagnosis: Diagnosis) -> Advice:
        """Knowledge's advice; none if Knowledge failed on it (a plan is still made)."""
        send, recv = anyio.create_memory_object_stream[Advice](1)
        await post(self._knowledge, Consult(diagnosis=diagnosis, reply_to=send))
        try:
            with recv:
                return await recv.receive()
        except anyio.EndOfStream:
            log.warning("knowledge failed to advise on %s; planning without", diagnosis.symptom.key)
            return Advice(outcomes={})
