"""HealthMonitor: the Monitor phase of MAPE-K over a sliding window of operations.

Rules (SPEC §5): success rate < 90 % → DEGRADED, < 70 % → UNHEALTHY, P95 latency
> 1000 ms → DEGRADED, failure rate rising from the older to the newer half of the
window → DEGRADED, any circuit OPEN → CRITICAL. User mistakes are never recorded
as failures (the caller simply does not record them as such).
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass, field


class HealthLevel(enum.IntEnum):
    HEALTHY = 0
    DEGRADED = 1
    UNHEALTHY = 2
    CRITICAL = 3


@dataclass(frozen=True)
class HealthMetrics:
    operations: int
    failures: int
    success_rate: float  # 0..1
    avg_latency_ms: float
    p95_latency_ms: float
    failure_trend: str  # "rising", "falling" or "steady"


@dataclass(frozen=True)
class HealthStatus:
    overall: HealthLevel
    metrics: HealthMetrics
    reasons: list[str] = field(default_factory=list)
    open_circuits: list[str] = field(default_factory=list)


class HealthMonitor:
    """Sliding window (last ``window`` operations) of (ok, duration_ms)."""

    def __init__(self, window: int = 100) -> None:
        if window < 2:
            raise ValueError("window must be at least 2")
        self._ops: deque[tuple[bool, float]] = deque(maxlen=window)
        self._total = 0
        self._total_failures = 0
        self._open_circuits: set[str] = set()

    def record_success(self, duration_ms: float) -> None:
        self._record(True, duration_ms)

    def record_failure(self, duration_ms: float) -> None:
        self._record(False, duration_ms)

    def _record(self, ok: bool, duration_ms: float) -> None:
        self._ops.append((ok, float(duration_ms)))
        self._total += 1
        if not ok:
            self._total_failures += 1

    def set_circuit(self, name: str, is_open: bool) -> None:
        if is_open:
            self._open_circuits.add(name)
        else:
            self._open_circuits.discard(name)

    def get_metrics(self) -> HealthMetrics:
        ops = list(self._ops)
        n = len(ops)
        failures = sum(1 for ok, _ in ops if not ok)
        latencies = sorted(d for _, d in ops)
        p95 = latencies[min(n - 1, max(0, -(-95 * n // 100) - 1))] if n else 0.0
        return HealthMetrics(
            operations=n,
            failures=failures,
            success_rate=(n - failures) / n if n else 1.0,
            avg_latency_ms=sum(latencies) / n if n else 0.0,
            p95_latency_ms=p95,
            failure_trend=self._trend(ops),
        )

    @staticmethod
    def _trend(ops: list[tuple[bool, float]]) -> str:
        half = len(ops) // 2
        if half < 2:
            return "steady"
        older, newer = ops[:half], ops[len(ops) - half :]
        old_rate = sum(1 for ok, _ in older if not ok) / half
        new_rate = sum(1 for ok, _ in newer if not ok) / half
        if new_rate > old_rate:
            return "rising"
        if new_rate < old_rate:
            return "falling"
        return "steady"

    def get_health_status(self) -> HealthStatus:
        m = self.get_metrics()
        level = HealthLevel.HEALTHY
        reasons: list[str] = []
        if m.success_rate < 0.70:
            level = max(level, HealthLevel.UNHEALTHY)
            reasons.append(f"success rate {m.success_rate:.1%} < 70%")
        elif m.success_rate < 0.90:
            level = max(level, HealthLevel.DEGRADED)
            reasons.append(f"success rate {m.success_rate:.1%} < 90%")
        if m.p95_latency_ms > 1000:
            level = max(level, HealthLevel.DEGRADED)
            reasons.append(f"P95 latency {m.p95_latency_ms:.0f}ms > 1000ms")
        if m.failure_trend == "rising":
            level = max(level, HealthLevel.DEGRADED)
            reasons.append("failure rate rising")
        if self._open_circuits:
            level = HealthLevel.CRITICAL
            reasons.append("circuit open: " + ", ".join(sorted(self._open_circuits)))
        return HealthStatus(
            overall=HealthLevel(level),
            metrics=m,
            reasons=reasons,
            open_circuits=sorted(self._open_circuits),
        )


def summary_line(status: HealthStatus) -> str:
    """``Health: HEALTHY (100.0% success rate)`` — the exact line of SPEC §4."""
    return f"Health: {status.overall.name} ({status.metrics.success_rate * 100:.1f}% success rate)"


def verbose_lines(status: HealthStatus) -> list[str]:
    m = status.metrics
    lines = [
        f"  Operations: {m.operations}",
        f"  Failures: {m.failures}",
        f"  Avg latency: {round(m.avg_latency_ms)}ms",
        f"  P95 latency: {round(m.p95_latency_ms)}ms",
        f"  Failure trend: {m.failure_trend}",
    ]
    lines.extend(f"  Reason: {r}" for r in status.reasons)
    return lines


def as_dict(status: HealthStatus) -> dict[str, object]:
    m = status.metrics
    return {
        "overall": status.overall.name,
        "success_rate": m.success_rate,
        "operations": m.operations,
        "failures": m.failures,
        "avg_latency_ms": round(m.avg_latency_ms, 3),
        "p95_latency_ms": round(m.p95_latency_ms, 3),
        "failure_trend": m.failure_trend,
        "reasons": list(status.reasons),
        "open_circuits": list(status.open_circuits),
    }
