"""ActionExecutor: retries, circuit breaker and timeout (SPEC §5, guide "Execute Phase")."""

from __future__ import annotations

import errno
import types
from collections.abc import Callable, Iterable

import pytest

from wtd.healing import action as action_module
from wtd.healing.action import ActionExecutor, symptom_of
from wtd.healing.analysis import RemediationPlan, RemediationPlanner, Symptom, SymptomAnalyzer
from wtd.healing.circuit import CircuitBreaker, CircuitState
from wtd.healing.retry import RetryPolicy


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


class Script:
    """An action that raises or returns the scripted outcomes in order."""

    def __init__(self, outcomes: Iterable[BaseException | object]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self) -> object:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def plan_for(error: str, policy: RetryPolicy | None = None) -> RemediationPlan:
    diagnosis = SymptomAnalyzer().analyze(Symptom(point="store.write", error=error))
    return RemediationPlanner(policy).plan(diagnosis)


def eagain() -> BlockingIOError:
    return BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")


def executor(
    policy: RetryPolicy | None = None, breaker: CircuitBreaker | None = None
) -> tuple[ActionExecutor, list[float]]:
    slept: list[float] = []
    policy = policy or RetryPolicy(jitter=False)
    breaker = breaker or CircuitBreaker(clock=FakeClock())
    return ActionExecutor(policy, breaker, sleep=slept.append), slept


def test_success_at_first_attempt_needs_no_narrative() -> None:
    run, slept = executor()
    result = run.execute(plan_for("EAGAIN"), lambda: 42)
    assert (result.success, result.value, result.attempts) == (True, 42, 1)
    assert result.narrative == []
    assert slept == []


def test_transient_failure_then_success_tells_the_guides_story() -> None:
    run, _ = executor()
    action = Script([TimeoutError("Timeout (network)"), "ok"])
    result = run.execute(plan_for("TimeoutError"), action)
    assert result.success
    assert result.value == "ok"
    assert result.attempts == 2
    assert result.narrative == [
        "✓ Attempt 1: TimeoutError: Timeout (network)",
        "✓ Recovery: Exponential backoff retry",
        "✓ Attempt 2: Success",
    ]


def test_retries_sleep_the_policy_delays() -> None:
    policy = RetryPolicy(max_attempts=4, initial_delay=0.5, jitter=False)
    run, slept = executor(policy)
    action = Script([eagain(), eagain(), eagain(), "ok"])
    result = run.execute(plan_for("EAGAIN", policy), action)
    assert result.success
    assert slept == [0.5, 1.0, 2.0]
    assert slept == policy.delays()


def test_jittered_sleeps_stay_within_the_policy_bounds() -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay=2.0, jitter=True)
    run, slept = executor(policy)
    run.execute(plan_for("EAGAIN", policy), Script([eagain(), eagain(), "ok"]))
    assert len(slept) == 2
    assert 1.0 <= slept[0] <= 2.0
    assert 2.0 <= slept[1] <= 4.0


@pytest.mark.parametrize(
    "exc",
    [
        BlockingIOError(errno.EAGAIN, "again"),
        InterruptedError(errno.EINTR, "interrupted"),
        OSError(errno.EBUSY, "busy"),
        TimeoutError("timed out"),
        OSError(errno.ETIMEDOUT, "timed out"),
    ],
    ids=["EAGAIN", "EINTR", "EBUSY", "TimeoutError", "ETIMEDOUT"],
)
def test_each_transient_error_is_retried(exc: OSError) -> None:
    run, _ = executor()
    action = Script([exc, "ok"])
    assert run.execute(plan_for("EAGAIN"), action).success
    assert action.calls == 2


@pytest.mark.parametrize(
    "exc",
    [
        PermissionError("denied"),
        PermissionError(errno.EACCES, "Permission denied"),
        OSError(errno.ENOSPC, "No space left on device"),
        ValueError("bad"),
    ],
    ids=["PermissionError", "EACCES", "ENOSPC", "ValueError"],
)
def test_non_transient_error_is_not_retried(exc: Exception) -> None:
    run, slept = executor()
    action = Script([exc, "ok"])
    result = run.execute(plan_for("EAGAIN"), action)
    assert not result.success
    assert action.calls == 1
    assert result.attempts == 1
    assert slept == []


def test_non_transient_failure_reports_the_error() -> None:
    run, _ = executor()
    result = run.execute(plan_for("EAGAIN"), Script([PermissionError("denied")]))
    assert result.error == "PermissionError: denied"
    assert result.narrative == ["✓ Attempt 1: PermissionError: denied"]


def test_exhausting_attempts_is_a_failure() -> None:
    policy = RetryPolicy(max_attempts=3, jitter=False)
    run, slept = executor(policy)
    action = Script([eagain()])
    result = run.execute(plan_for("EAGAIN", policy), action)
    assert not result.success
    assert action.calls == 3
    assert result.attempts == 3
    assert slept == [1.0, 2.0]
    assert result.error == "BlockingIOError: [Errno 11] Resource temporarily unavailable"


def test_no_sleep_after_the_last_attempt() -> None:
    policy = RetryPolicy(max_attempts=2, jitter=False)
    run, slept = executor(policy)
    run.execute(plan_for("EAGAIN", policy), Script([eagain()]))
    assert slept == [1.0]


def test_non_retry_plans_run_the_action_once() -> None:
    run, _ = executor()
    action = Script([eagain(), "ok"])
    result = run.execute(plan_for("invalid_status"), action)
    assert not result.success
    assert action.calls == 1


def test_escalate_plan_does_not_run_the_action() -> None:
    run, _ = executor()
    action = Script(["ok"])
    result = run.execute(plan_for("ENOSPC"), action)
    assert action.calls == 0
    assert not result.success
    assert result.strategy == "ESCALATE"


def test_escalate_result_carries_reason_and_advice() -> None:
    run, _ = executor()
    result = run.execute(plan_for("ENOSPC"), Script(["ok"]))
    assert result.error is not None
    assert "disk space" in result.error
    assert result.narrative[0].startswith("✓ Recovery: Escalated")


def test_plan_without_action_is_not_a_success() -> None:
    run, _ = executor()
    assert not run.execute(plan_for("EAGAIN")).success


def test_open_breaker_stops_the_run_before_the_action() -> None:
    breaker = CircuitBreaker(threshold=1, timeout=60.0, clock=FakeClock())
    breaker.record_failure()
    run, _ = executor(breaker=breaker)
    action = Script(["ok"])
    result = run.execute(plan_for("EAGAIN"), action)
    assert action.calls == 0
    assert not result.success
    assert result.error == "Circuit OPEN: Operations paused (retry in 60s)"
    assert result.narrative == ["⚠ Circuit OPEN: Operations paused (retry in 60s)"]


def test_open_breaker_message_counts_down() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, timeout=60.0, clock=clock)
    breaker.record_failure()
    clock.now += 42.5
    run, _ = executor(breaker=breaker)
    result = run.execute(plan_for("EAGAIN"), Script(["ok"]))
    assert result.error == "Circuit OPEN: Operations paused (retry in 18s)"


def test_breaker_tripping_mid_run_stops_the_retries() -> None:
    breaker = CircuitBreaker(threshold=2, timeout=60.0, clock=FakeClock())
    policy = RetryPolicy(max_attempts=5, jitter=False)
    run, _ = executor(policy, breaker)
    action = Script([eagain()])
    result = run.execute(plan_for("EAGAIN", policy), action)
    assert action.calls == 2
    assert breaker.state is CircuitState.OPEN
    assert result.narrative[-1] == "⚠ Circuit OPEN: Operations paused (retry in 60s)"
    assert result.attempts == 2


def test_breaker_records_each_failure() -> None:
    breaker = CircuitBreaker(threshold=10, clock=FakeClock())
    policy = RetryPolicy(max_attempts=3, jitter=False)
    run, _ = executor(policy, breaker)
    run.execute(plan_for("EAGAIN", policy), Script([eagain()]))
    assert breaker.failures == 3


def test_breaker_records_the_success() -> None:
    breaker = CircuitBreaker(threshold=10, clock=FakeClock())
    run, _ = executor(breaker=breaker)
    run.execute(plan_for("EAGAIN"), Script([eagain(), "ok"]))
    assert breaker.failures == 0
    assert breaker.state is CircuitState.CLOSED


def test_half_open_breaker_lets_the_probe_through_and_closes_on_success() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(threshold=1, timeout=60.0, clock=clock)
    breaker.record_failure()
    clock.now += 60.0
    run, _ = executor(breaker=breaker)
    assert run.execute(plan_for("EAGAIN"), Script(["ok"])).success
    assert breaker.state is CircuitState.CLOSED


def test_default_executor_uses_default_policy_and_breaker() -> None:
    run = ActionExecutor()
    assert run.policy == RetryPolicy()
    assert (run.breaker.threshold, run.breaker.timeout) == (5, 60.0)
    assert run.timeout == 10.0


def _fake_time(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Replace the clock the executor times actions with; return a way to advance it."""
    clock = FakeClock()
    monkeypatch.setattr(
        action_module, "time", types.SimpleNamespace(monotonic=clock, sleep=lambda _: None)
    )

    def advance(seconds: float) -> None:
        clock.now += seconds

    return advance


def test_an_action_that_overruns_the_timeout_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    advance = _fake_time(monkeypatch)
    run = ActionExecutor(RetryPolicy(max_attempts=1), timeout=10.0, sleep=lambda _: None)

    def slow() -> str:
        advance(10.5)
        return "late"

    result = run.execute(plan_for("EAGAIN", RetryPolicy(max_attempts=1)), slow)
    assert not result.success
    assert result.value is None
    assert result.error is not None
    assert "longer than 10s" in result.error


def test_an_action_timeout_is_retried_as_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    advance = _fake_time(monkeypatch)
    calls: list[int] = []

    def slow_then_fast() -> str:
        calls.append(1)
        if len(calls) == 1:
            advance(11.0)
        return "ok"

    run = ActionExecutor(RetryPolicy(jitter=False), timeout=10.0, sleep=lambda _: None)
    result = run.execute(plan_for("TimeoutError"), slow_then_fast)
    assert result.success
    assert len(calls) == 2


def test_symptom_of_uses_the_errno_name() -> None:
    s = symptom_of(PermissionError(errno.EACCES, "Permission denied"), "store.write")
    assert (s.point, s.error, s.message) == ("store.write", "EACCES", "Permission denied")


def test_symptom_of_uses_the_exception_type_without_errno() -> None:
    s = symptom_of(ValueError("bad value"))
    assert (s.point, s.error, s.message) == ("action", "ValueError", "bad value")


def test_symptom_of_a_timeout_is_timeout_error() -> None:
    assert symptom_of(OSError(errno.ETIMEDOUT, "timed out")).error == "TimeoutError"
    assert symptom_of(TimeoutError()).error == "TimeoutError"
