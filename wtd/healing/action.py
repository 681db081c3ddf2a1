"""Execute (MAPE-K): carry out a remediation plan with retries, a breaker and a timeout.

This is the synchronous public form (``wtd.self_healing.ActionExecutor``); the
daemon's Executor actor follows the same rules with anyio.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from typing import Any

import msgspec

from wtd.healing.analysis import Category, RemediationPlan, Strategy, Symptom, SymptomAnalyzer
from wtd.healing.circuit import CircuitBreaker
from wtd.healing.retry import RetryPolicy


class ExecutionResult(msgspec.Struct, kw_only=True):
    success: bool
    strategy: str
    attempts: int = 0
    value: Any = None
    error: str | None = None
    narrative: list[str] = []
    duration_ms: float = 0.0


class ActionTimeout(TimeoutError):
    """The action ran past the executor's timeout."""


def symptom_of(exc: BaseException, point: str = "action") -> Symptom:
    """Describe an exception as a Symptom (errno name when there is one)."""
    if isinstance(exc, TimeoutError):
        return Symptom(point=point, error="TimeoutError", message=str(exc) or "timed out")
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, type(exc).__name__)
        return Symptom(point=point, error=name, message=exc.strerror or str(exc))
    return Symptom(point=point, error=type(exc).__name__, message=str(exc))


class ActionExecutor:
    """Runs the action a plan calls for, retrying transient failures only."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        *,
        timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.breaker = breaker or CircuitBreaker()
        self.timeout = timeout
        self._sleep = sleep
        self._analyzer = SymptomAnalyzer()

    def execute(
        self, plan: RemediationPlan, action: Callable[[], Any] | None = None
    ) -> ExecutionResult:
        start = time.monotonic()
        strategy = plan.strategy.value
        if plan.strategy is Strategy.ESCALATE or action is None:
            return ExecutionResult(
                success=False,
                strategy=strategy,
                error=f"{plan.reason}; {plan.advice}" if plan.advice else plan.reason,
                narrative=[f"✓ Recovery: Escalated ({plan.reason})"],
            )
        attempts = plan.max_attempts if plan.strategy is Strategy.RETRY else 1
        narrative: list[str] = []
        last_error = ""
        for attempt in range(1, attempts + 1):
            if not self.breaker.allow():
                last_error = (
                    f"Circuit OPEN: Operations paused (retry in {self.breaker.retry_in()}s)"
                )
                narrative.append(f"⚠ {last_error}")
                break
            began = time.monotonic()
            try:
                value = action()
                if time.monotonic() - began > self.timeout:
                    raise ActionTimeout(f"action took longer than {self.timeout:g}s")
            except Exception as exc:
                self.breaker.record_failure()
                diagnosis = self._analyzer.analyze(symptom_of(exc))
                last_error = f"{type(exc).__name__}: {exc}"
                narrative.append(f"✓ Attempt {attempt}: {last_error}")
                if diagnosis.category is not Category.TRANSIENT or attempt == attempts:
                    break
                narrative.append("✓ Recovery: Exponential backoff retry")
                self._sleep(self.policy.delay(attempt))
                continue
            self.breaker.record_success()
            if attempt > 1:
                narrative.append(f"✓ Attempt {attempt}: Success")
            return ExecutionResult(
                success=True,
                strategy=strategy,
                attempts=attempt,
                value=value,
                narrative=narrative,
                duration_ms=(time.monotonic() - start) * 1000,
            )
        return ExecutionResult(
            success=False,
            strategy=strategy,
            attempts=len([n for n in narrative if n.startswith("✓ Attempt")]),
            error=last_error,
            narrative=narrative,
            duration_ms=(time.monotonic() - start) * 1000,
        )
