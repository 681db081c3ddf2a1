"""Monitor actor: owns the HealthMonitor and is where the MAPE-K loop starts.

It records every finished operation (user mistakes are not failures), tracks open
circuits, answers health queries, and hands each observed fault to the Analyzer.
"""

from __future__ import annotations

import logging
from typing import assert_never

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from wtd.actors import answer, post, serve
from wtd.healing import health
from wtd.messages import (
    Analyze,
    AnalyzerMessage,
    CircuitChanged,
    FaultObserved,
    GetHealth,
    HealthReport,
    MonitorMessage,
    OperationFinished,
    Probe,
)

log = logging.getLogger("wtd.monitor")


class Monitor:
    name = "monitor"

    def __init__(
        self,
        inbox: MemoryObjectReceiveStream[MonitorMessage],
        *,
        analyzer: MemoryObjectSendStream[AnalyzerMessage],
        window: int = 100,
    ) -> None:
        self._inbox = inbox
        self._analyzer = analyzer
        self._window = window
        self._circuits: dict[str, str] = {}
        self._health = health.HealthMonitor(window=window)

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Serve the inbox; after a crash the window starts empty, the circuits are kept."""
        self._health = health.HealthMonitor(window=self._window)
        for name, state in self._circuits.items():
            self._health.set_circuit(name, state == "OPEN")
        task_status.started()
        await serve(self._inbox, self._handle, name=self.name)

    async def _handle(self, msg: MonitorMessage) -> None:
        match msg:
            case OperationFinished(counted=False):
                pass  # a user mistake says nothing about the daemon's health
            case OperationFinished(ok=True, duration_ms=ms):
                self._health.record_success(ms)
            case OperationFinished(duration_ms=ms, error_code=code):  # ok=False
                self._health.record_failure(ms)
                log.info("operation failed (%s) after %.1fms", code, ms)
            case CircuitChanged(name=name, is_open=is_open):
                self._circuits[name] = "OPEN" if is_open else "CLOSED"
                self._health.set_circuit(name, is_open)
                log.warning("circuit %s is now %s", name, self._circuits[name])
            case FaultObserved(symptom=symptom, attempt=attempt, reply_to=reply_to):
                log.warning("fault at %s: %s %s", symptom.point, symptom.error, symptom.message)
                await post(
                    self._analyzer, Analyze(symptom=symptom, attempt=attempt, reply_to=reply_to)
                )
            case GetHealth(reply_to=reply_to):
                status = self._health.get_health_status()
                await answer(
                    reply_to,
                    HealthReport(
                        summary=health.summary_line(status),
                        verbose=health.verbose_lines(status),
                        data=health.as_dict(status),
                    ),
                )
            case Probe(reply_to=reply_to):
                await answer(reply_to, self.name)
            case _:
                assert_never(msg)
