"""HealthMonitor: the Monitor phase over a sliding window (SPEC §5, guide "Monitor Phase")."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtd.healing import health
from wtd.healing.health import HealthLevel, HealthMonitor

FAST = 50.0


def monitor_with(outcomes: Iterable[bool], duration_ms: float = FAST) -> HealthMonitor:
    monitor = HealthMonitor()
    for ok in outcomes:
        if ok:
            monitor.record_success(duration_ms=duration_ms)
        else:
            monitor.record_failure(duration_ms=duration_ms)
    return monitor


def level(monitor: HealthMonitor) -> HealthLevel:
    return monitor.get_health_status().overall


def evenly(failures_per_half: int, half: int = 10) -> list[bool]:
    """Two halves with the same failures: a steady failure trend."""
    one_half = [False] * failures_per_half + [True] * (half - failures_per_half)
    return one_half + one_half


def test_a_new_monitor_is_healthy() -> None:
    status = HealthMonitor().get_health_status()
    assert status.overall is HealthLevel.HEALTHY
    assert status.metrics.success_rate == 1.0
    assert status.metrics.operations == 0
    assert status.reasons == []


def test_only_successes_are_healthy() -> None:
    assert level(monitor_with([True] * 50)) is HealthLevel.HEALTHY


def test_success_rate_is_a_fraction_of_the_window() -> None:
    metrics = monitor_with([True, True, True, False]).get_metrics()
    assert (metrics.operations, metrics.failures, metrics.success_rate) == (4, 1, 0.75)


@pytest.mark.parametrize("failures_per_half", [2, 3])
def test_success_rate_below_90_percent_is_degraded(failures_per_half: int) -> None:
    assert level(monitor_with(evenly(failures_per_half))) is HealthLevel.DEGRADED


def test_success_rate_of_exactly_90_percent_is_healthy() -> None:
    assert level(monitor_with(evenly(1))) is HealthLevel.HEALTHY


def test_success_rate_below_70_percent_is_unhealthy() -> None:
    assert level(monitor_with(evenly(4))) is HealthLevel.UNHEALTHY


def test_success_rate_reason_is_given() -> None:
    status = monitor_with(evenly(4)).get_health_status()
    assert status.reasons == ["success rate 60.0% < 70%"]


def test_p95_latency_above_one_second_is_degraded() -> None:
    status = monitor_with([True] * 20, duration_ms=1500).get_health_status()
    assert status.overall is HealthLevel.DEGRADED
    assert status.reasons == ["P95 latency 1500ms > 1000ms"]


def test_p95_latency_of_exactly_one_second_is_healthy() -> None:
    assert level(monitor_with([True] * 20, duration_ms=1000)) is HealthLevel.HEALTHY


def test_p95_is_the_95th_percentile_not_the_maximum() -> None:
    monitor = monitor_with([True] * 99)
    monitor.record_success(duration_ms=9000)
    assert monitor.get_metrics().p95_latency_ms == FAST
    assert level(monitor) is HealthLevel.HEALTHY


def test_average_latency() -> None:
    monitor = HealthMonitor()
    monitor.record_success(duration_ms=100)
    monitor.record_failure(duration_ms=300)
    assert monitor.get_metrics().avg_latency_ms == 200.0


def test_rising_failure_trend_is_degraded() -> None:
    outcomes = [True] * 10 + [True] * 9 + [False]  # older half clean, newer half not
    status = monitor_with(outcomes).get_health_status()
    assert status.metrics.success_rate == 0.95
    assert status.metrics.failure_trend == "rising"
    assert status.overall is HealthLevel.DEGRADED
    assert "failure rate rising" in status.reasons


def test_falling_failure_trend_is_healthy() -> None:
    outcomes = [False] + [True] * 19  # the failure is in the older half
    status = monitor_with(outcomes).get_health_status()
    assert status.metrics.failure_trend == "falling"
    assert status.overall is HealthLevel.HEALTHY


def test_steady_failure_trend() -> None:
    assert monitor_with(evenly(1)).get_metrics().failure_trend == "steady"


def test_too_few_operations_have_a_steady_trend() -> None:
    assert monitor_with([True, False]).get_metrics().failure_trend == "steady"


def test_an_open_circuit_is_critical() -> None:
    monitor = monitor_with([True] * 10)
    monitor.set_circuit("store:plan", True)
    status = monitor.get_health_status()
    assert status.overall is HealthLevel.CRITICAL
    assert status.open_circuits == ["store:plan"]
    assert "circuit open: store:plan" in status.reasons


def test_an_open_circuit_outranks_unhealthy() -> None:
    monitor = monitor_with(evenly(8))
    monitor.set_circuit("hook", True)
    assert level(monitor) is HealthLevel.CRITICAL


def test_closing_the_circuit_ends_critical() -> None:
    monitor = monitor_with([True] * 10)
    monitor.set_circuit("store:plan", True)
    monitor.set_circuit("store:plan", False)
    assert level(monitor) is HealthLevel.HEALTHY


def test_open_circuits_are_listed_sorted() -> None:
    monitor = HealthMonitor()
    monitor.set_circuit("store:b", True)
    monitor.set_circuit("store:a", True)
    assert monitor.get_health_status().open_circuits == ["store:a", "store:b"]


def test_sliding_window_forgets_old_operations() -> None:
    monitor = HealthMonitor(window=10)
    for _ in range(10):
        monitor.record_failure(duration_ms=FAST)
    for _ in range(10):
        monitor.record_success(duration_ms=FAST)
    metrics = monitor.get_metrics()
    assert (metrics.operations, metrics.failures, metrics.success_rate) == (10, 0, 1.0)
    assert level(monitor) is HealthLevel.HEALTHY


def test_default_window_is_one_hundred_operations() -> None:
    monitor = monitor_with([True] * 150)
    assert monitor.get_metrics().operations == 100


def test_window_smaller_than_two_is_rejected() -> None:
    with pytest.raises(ValueError):
        HealthMonitor(window=1)


@given(
    outcomes=st.lists(st.booleans(), max_size=300),
    window=st.integers(min_value=2, max_value=120),
)
def test_metrics_describe_exactly_the_last_window_operations(
    outcomes: list[bool], window: int
) -> None:
    monitor = HealthMonitor(window=window)
    for ok in outcomes:
        if ok:
            monitor.record_success(duration_ms=FAST)
        else:
            monitor.record_failure(duration_ms=FAST)
    recent = outcomes[-window:]
    metrics = monitor.get_metrics()
    assert metrics.operations == len(recent)
    assert metrics.failures == recent.count(False)
    expected = recent.count(True) / len(recent) if recent else 1.0
    assert metrics.success_rate == pytest.approx(expected)


@given(latencies=st.lists(st.floats(min_value=0, max_value=1000), min_size=1, max_size=200))
def test_all_successes_within_one_second_are_healthy(latencies: list[float]) -> None:
    monitor = HealthMonitor()
    for ms in latencies:
        monitor.record_success(duration_ms=ms)
    assert level(monitor) is HealthLevel.HEALTHY


@given(outcomes=st.lists(st.booleans(), max_size=200), name=st.text(min_size=1))
def test_any_open_circuit_is_critical_whatever_the_window(outcomes: list[bool], name: str) -> None:
    monitor = monitor_with(outcomes)
    monitor.set_circuit(name, True)
    assert level(monitor) is HealthLevel.CRITICAL


def test_summary_line_of_a_healthy_monitor() -> None:
    monitor = HealthMonitor()
    monitor.record_success(duration_ms=50)
    assert health.summary_line(monitor.get_health_status()) == (
        "Health: HEALTHY (100.0% success rate)"
    )


def test_summary_line_of_a_degraded_monitor() -> None:
    status = monitor_with(evenly(2)).get_health_status()
    assert health.summary_line(status) == "Health: DEGRADED (80.0% success rate)"


def test_verbose_lines_match_the_guide() -> None:
    monitor = HealthMonitor()
    monitor.record_success(duration_ms=50)
    assert health.verbose_lines(monitor.get_health_status()) == [
        "  Operations: 1",
        "  Failures: 0",
        "  Avg latency: 50ms",
        "  P95 latency: 50ms",
        "  Failure trend: steady",
    ]


def test_as_dict_names_the_level() -> None:
    status = monitor_with(evenly(4)).get_health_status()
    data = health.as_dict(status)
    assert data["overall"] == "UNHEALTHY"
    assert data["success_rate"] == 0.6
    assert data["operations"] == 20
