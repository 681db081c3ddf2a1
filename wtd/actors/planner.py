"""Planner actor: chooses a remediation (RemediationPlanner), consulting Knowledge first."""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd.actors import answer, post
from wtd.healing.analysis import RemediationPlanner
from wtd.healing.retry import RetryPolicy
from wtd.messages import Advice, Consult, KnowledgeMessage, Ping, PlannerMessage, PlanRemedy

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
        async for msg in self._inbox:
            match msg:
                case PlanRemedy(diagnosis=diagnosis, attempt=attempt, reply_to=reply_to):
                    advice = Advice(outcomes={})
                    if attempt == 1:  # learn from (and record) the first failure of a request
                        send, recv = anyio.create_memory_object_stream[Advice](1)
                        await post(self._knowledge, Consult(diagnosis=diagnosis, reply_to=send))
                        with recv:
                            advice = await recv.receive()
                    plan = RemediationPlanner(self._policy, _Advised(advice)).plan(diagnosis)
                    log.info("%s → %s: %s", diagnosis.symptom.key, plan.strategy.value, plan.reason)
                    await answer(reply_to, plan)
                case Ping(reply_to=reply_to):
                    await answer(reply_to, self.name)
