"""Monitor actor: owns the HealthMonitor; records operations, answers health queries."""

from __future__ import annotations

import logging

import anyio
from anyio.abc import TaskStatus
from anyio.streams.memory import MemoryObjectReceiveStream

from wtd import health
from wtd.messages import CircuitChanged, GetHealth, HealthReport, MonitorMessage, OperationFinished

log = logging.getLogger("wtd.monitor")


class Monitor:
    name = "monitor"

    def __init__(self, inbox: MemoryObjectReceiveStream[MonitorMessage], window: int = 100) -> None:
        self._inbox = inbox
        self._window = window

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        monitor = health.HealthMonitor(window=self._window)
        task_status.started()
        async for msg in self._inbox:
            match msg:
                case OperationFinished(counted=False):
                    pass
                case OperationFinished(ok=True, duration_ms=ms):
                    monitor.record_success(ms)
                case OperationFinished(ok=False, duration_ms=ms, error_code=code):
                    monitor.record_failure(ms)
                    log.info("operation failed (%s) after %.1fms", code, ms)
                case CircuitChanged(name=name, is_open=is_open):
                    monitor.set_circuit(name, is_open)
                case GetHealth(reply_to=reply_to):
                    status = monitor.get_health_status()
                    report = HealthReport(
                        summary=health.summary_line(status),
                        verbose=health.verbose_lines(status),
                        data=health.as_dict(status),
                    )
                    with reply_to:
                        await reply_to.send(report)
