"""Analyzer actor: classifies each fault (SymptomAnalyzer) and passes it to the Planner."""

from __future__ import annotations

import logging
from typing import assert_never

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd.actors import answer, post, serve
from wtd.healing.analysis import SymptomAnalyzer
from wtd.messages import Analyze, AnalyzerMessage, PlannerMessage, PlanRemedy, Probe

log = logging.getLogger("wtd.analyzer")


class Analyzer:
    name = "analyzer"

    def __init__(
        self,
        inbox: MemoryObjectReceiveStream[AnalyzerMessage],
        *,
        planner: MemoryObjectSendStream[PlannerMessage],
    ) -> None:
        self._inbox = inbox
        self._planner = planner
        self._analyzer = SymptomAnalyzer()  # stateless

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: AnalyzerMessage) -> None:
        match msg:
            case Analyze(symptom=symptom, attempt=attempt, reply_to=reply_to):
                diagnosis = self._analyzer.analyze(symptom)
                log.info(
                    "%s: %s → %s (%s)",
                    symptom.tracker or "-",
                    symptom.key,
                    diagnosis.category.value,
                    diagnosis.explanation,
                )
                await post(
                    self._planner,
                    PlanRemedy(diagnosis=diagnosis, attempt=attempt, reply_to=reply_to),
                )
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)
