"""Planner actor: chooses a remediation (RemediationPlanner), consulting Knowledge first."""

from __future__ import annotations

import logging
import time
from typing import assert_never

import anyio
import msgspec
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd.actors import answer, post, serve
from wtd.healing.analysis import (
    Category,
    Diagnosis,
    RemediationPlan,
    RemediationPlanner,
    Strategy,
)
from wtd.healing.retry import RetryPolicy
from wtd.messages import Advice, Consult, KnowledgeMessage, PlannerMessage, PlanRemedy, Probe

log = logging.getLogger("wtd.planner")

# Knowledge's "retrying never worked" is a judgement, not a law: a transient symptom
# this daemon has not retried itself for PROBE_AFTER seconds (never, in a new run) is
# retried once more — a probe, as a circuit's half-open — so a fault that has gone
# since (the daemon restarted, the storage fixed) is retried again, and one success
# lets retrying resume. Before, a symptom given up on was never retried again, in any
# later run either: one burst of EAGAIN failed every later single EAGAIN for good.
PROBE_AFTER = 60.0


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
        self._retried: dict[str, float] = {}  # symptom key → when this run last retried it

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: PlannerMessage) -> None:
        match msg:
            case PlanRemedy(diagnosis=diagnosis, attempt=attempt, reply_to=reply_to):
                # learn from (and record) the first failure of a request
                advice = await self._consult(diagnosis) if attempt == 1 else Advice(outcomes={})
                plan = RemediationPlanner(self._policy, _Advised(advice)).plan(diagnosis)
                if attempt == 1:
                    plan = self._probed(plan)
                log.info("%s → %s: %s", diagnosis.symptom.key, plan.strategy.value, plan.reason)
                await answer(reply_to, plan)
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)

    def _probed(self, plan: RemediationPlan) -> RemediationPlan:
        """``plan``, or a retry instead when Knowledge gave up on the symptom but this
        daemon has not tried it for PROBE_AFTER seconds."""
        diagnosis = plan.diagnosis
        key, now = diagnosis.symptom.key, time.monotonic()
        if plan.strategy is Strategy.RETRY:
            self._retried[key] = now
        elif diagnosis.category is Category.TRANSIENT and plan.strategy is Strategy.ESCALATE:
            last = self._retried.get(key)
            if last is None or now - last >= PROBE_AFTER:
                self._retried[key] = now
                retry = RemediationPlanner(self._policy).plan(diagnosis)
                return msgspec.structs.replace(
                    retry, reason=f"{retry.reason} (retries never worked before: trying again)"
                )
        return plan

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
