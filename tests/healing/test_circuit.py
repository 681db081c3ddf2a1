"""CircuitBreaker (SPEC §5, guide "Circuit Breaker States"), driven by a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtd.healing.circuit import CircuitBreaker, CircuitState


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def make(threshold: int = 3, timeout: float = 60.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker("store:plan", threshold, timeout, clock=clock), clock


def state_of(breaker: CircuitBreaker) -> CircuitState:
    """The state, read afresh (keeps mypy from narrowing the property between reads)."""
    return breaker.state


def trip(breaker: CircuitBreaker) -> None:
    for _ in range(breaker.threshold):
        breaker.record_failure()


def test_a_new_breaker_is_closed_and_allows_calls() -> None:
    breaker, _ = make()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert breaker.retry_in() == 0


def test_defaults_are_five_failures_and_sixty_seconds() -> None:
    breaker = CircuitBreaker()
    assert (breaker.threshold, breaker.timeout) == (5, 60.0)


def test_stays_closed_below_threshold() -> None:
    breaker, _ = make(threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()


def test_opens_after_threshold_consecutive_failures() -> None:
    breaker, _ = make(threshold=3)
    trip(breaker)
    assert breaker.state is CircuitState.OPEN


@given(threshold=st.integers(min_value=1, max_value=30))
def test_opens_on_exactly_the_thresholdth_failure(threshold: int) -> None:
    breaker, _ = make(threshold=threshold)
    for _ in range(threshold - 1):
        breaker.record_failure()
        assert breaker.state is CircuitState.CLOSED
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


def test_a_success_in_between_resets_the_failure_count() -> None:
    breaker, _ = make(threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failures == 2


def test_failures_counts_consecutive_failures() -> None:
    breaker, _ = make(threshold=5)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.failures == 2


def test_open_breaker_refuses_calls() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(59.9)
    assert not breaker.allow()


def test_retry_in_is_the_full_timeout_right_after_opening() -> None:
    breaker, _ = make(timeout=60.0)
    trip(breaker)
    assert breaker.retry_in() == 60


@pytest.mark.parametrize(
    ("elapsed", "expected"),
    [(0.0, 60), (0.5, 60), (1.0, 59), (30.2, 30), (58.5, 2), (59.0, 1), (59.99, 1)],
)
def test_retry_in_counts_down_the_remaining_seconds_rounded_up(
    elapsed: float, expected: int
) -> None:
    breaker, clock = make(timeout=60.0)
    trip(breaker)
    clock.advance(elapsed)
    assert breaker.retry_in() == expected


def test_after_timeout_the_breaker_is_half_open() -> None:
    breaker, clock = make(timeout=60.0)
    trip(breaker)
    clock.advance(60.0)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.retry_in() == 0


def test_half_open_lets_exactly_one_probe_through() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60.0)
    assert breaker.allow()
    assert not breaker.allow()
    assert not breaker.allow()


def test_probe_success_closes_the_breaker() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60.0)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failures == 0
    assert breaker.allow()
    assert breaker.allow()


def test_probe_failure_reopens_the_breaker_for_a_full_timeout() -> None:
    breaker, clock = make(threshold=3, timeout=60.0)
    trip(breaker)
    clock.advance(75.0)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_in() == 60
    clock.advance(59.0)
    assert not breaker.allow()
    clock.advance(1.0)
    assert state_of(breaker) is CircuitState.HALF_OPEN


def test_a_single_probe_failure_reopens_even_with_a_high_threshold() -> None:
    breaker, clock = make(threshold=5)
    trip(breaker)
    clock.advance(60.0)
    breaker.allow()
    breaker.record_success()
    trip(breaker)
    clock.advance(60.0)
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN


def test_reset_forces_an_open_breaker_closed() -> None:
    breaker, _ = make()
    trip(breaker)
    breaker.reset()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.failures == 0
    assert breaker.allow()


def test_reset_forces_a_half_open_breaker_closed() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60.0)
    assert breaker.allow()
    breaker.reset()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.allow()
    assert breaker.allow()


def test_after_reset_a_full_threshold_is_needed_to_open_again() -> None:
    breaker, _ = make(threshold=3)
    trip(breaker)
    breaker.reset()
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is CircuitState.CLOSED


def test_threshold_below_one_is_rejected() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold=0)


def test_from_env_without_variables_gives_the_defaults() -> None:
    breaker = CircuitBreaker.from_env(env={})
    assert (breaker.threshold, breaker.timeout) == (5, 60.0)


def test_from_env_reads_threshold_and_timeout() -> None:
    breaker = CircuitBreaker.from_env(
        "hook", env={"WT_CIRCUIT_THRESHOLD": "2", "WT_CIRCUIT_TIMEOUT": "7.5"}
    )
    assert (breaker.name, breaker.threshold, breaker.timeout) == ("hook", 2, 7.5)


def test_from_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WT_CIRCUIT_THRESHOLD", "9")
    monkeypatch.setenv("WT_CIRCUIT_TIMEOUT", "12")
    breaker = CircuitBreaker.from_env()
    assert (breaker.threshold, breaker.timeout) == (9, 12.0)


def test_from_env_falls_back_to_caller_defaults() -> None:
    breaker = CircuitBreaker.from_env(env={}, threshold=2, timeout=5.0)
    assert (breaker.threshold, breaker.timeout) == (2, 5.0)


@pytest.mark.parametrize(
    "env",
    [
        {"WT_CIRCUIT_THRESHOLD": "many"},
        {"WT_CIRCUIT_THRESHOLD": "0"},
        {"WT_CIRCUIT_TIMEOUT": "a minute"},
    ],
    ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()),
)
def test_from_env_rejects_garbage_with_value_error(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker.from_env(env=env)


def test_describe_closed_without_failures() -> None:
    breaker, _ = make()
    assert breaker.describe() == "CLOSED"


def test_describe_closed_with_failures_counts_them() -> None:
    breaker, _ = make(threshold=5)
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.describe() == "CLOSED (2 consecutive failure(s))"


def test_describe_open_says_when_to_retry() -> None:
    breaker, clock = make(timeout=60.0)
    trip(breaker)
    clock.advance(15.0)
    assert breaker.describe() == "OPEN (retry in 45s)"


def test_describe_half_open_announces_the_probe() -> None:
    breaker, clock = make()
    trip(breaker)
    clock.advance(60.0)
    assert breaker.describe() == "HALF_OPEN (next call is a probe)"
