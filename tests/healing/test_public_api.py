"""The guide's Python examples, verbatim except `domain.self_healing` → `wtd.self_healing`."""

from __future__ import annotations

import importlib

import pytest

import wtd.self_healing

SPEC_IMPORT_LINE = (
    "RetryPolicy",
    "HealthMonitor",
    "CircuitBreaker",
    "SymptomAnalyzer",
    "RemediationPlanner",
    "ActionExecutor",
    "KnowledgeBase",
)


@pytest.mark.parametrize("name", SPEC_IMPORT_LINE)
def test_every_name_of_the_spec_import_line_is_importable(name: str) -> None:
    module = importlib.import_module("wtd.self_healing")
    assert getattr(module, name) is not None


@pytest.mark.parametrize("name", SPEC_IMPORT_LINE)
def test_every_name_of_the_spec_import_line_is_exported(name: str) -> None:
    assert name in wtd.self_healing.__all__


def test_the_spec_import_line_works_as_written() -> None:
    from wtd.self_healing import (  # noqa: F401
        ActionExecutor,
        CircuitBreaker,
        HealthMonitor,
        KnowledgeBase,
        RemediationPlanner,
        RetryPolicy,
        SymptomAnalyzer,
    )


def test_all_lists_only_real_names() -> None:
    for name in wtd.self_healing.__all__:
        assert hasattr(wtd.self_healing, name), name


def test_guide_custom_retry_policy_example() -> None:
    # In your script
    from wtd.self_healing import RetryPolicy

    policy = RetryPolicy(
        max_attempts=5,
        initial_delay=0.5,
        max_delay=30.0,
        exponential_base=2.0,
        jitter=True,  # Random variation to prevent thundering herd
    )

    assert (policy.max_attempts, policy.initial_delay, policy.max_delay) == (5, 0.5, 30.0)
    assert (policy.exponential_base, policy.jitter) == (2.0, True)
    assert len(policy.delays()) == 4


def test_guide_health_monitoring_example(capsys: pytest.CaptureFixture[str]) -> None:
    from wtd.self_healing import HealthMonitor

    monitor = HealthMonitor()

    # Record operations
    monitor.record_success(duration_ms=150)
    monitor.record_failure(duration_ms=5000)

    # Check health
    status = monitor.get_health_status()
    print(f"Health: {status.overall.name}")
    print(f"Success Rate: {monitor.get_metrics().success_rate:.2%}")

    assert capsys.readouterr().out == "Health: UNHEALTHY\nSuccess Rate: 50.00%\n"


def test_guide_health_monitoring_example_when_all_is_well(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from wtd.self_healing import HealthMonitor

    monitor = HealthMonitor()
    monitor.record_success(duration_ms=150)
    status = monitor.get_health_status()
    print(f"Health: {status.overall.name}")
    print(f"Success Rate: {monitor.get_metrics().success_rate:.2%}")

    assert capsys.readouterr().out == "Health: HEALTHY\nSuccess Rate: 100.00%\n"


def test_spec_success_rate_is_between_zero_and_one() -> None:
    from wtd.self_healing import HealthMonitor

    monitor = HealthMonitor()
    monitor.record_success(duration_ms=150)
    monitor.record_success(duration_ms=150)
    monitor.record_success(duration_ms=150)
    monitor.record_failure(duration_ms=5000)
    assert monitor.get_metrics().success_rate == 0.75


def test_guide_circuit_breaker_reset() -> None:
    from wtd.self_healing import CircuitBreaker, CircuitState

    breaker = CircuitBreaker()
    for _ in range(5):
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN

    breaker.reset()

    assert breaker.describe() == "CLOSED"
    assert breaker.allow()


def test_spec_mape_k_loop_through_the_public_api() -> None:
    from wtd.self_healing import (
        ActionExecutor,
        KnowledgeBase,
        RemediationPlanner,
        RetryPolicy,
        Symptom,
        SymptomAnalyzer,
    )

    knowledge = KnowledgeBase()
    policy = RetryPolicy(max_attempts=3, jitter=False)
    diagnosis = SymptomAnalyzer().analyze(Symptom(point="store.write", error="EAGAIN"))
    knowledge.record_failure(diagnosis)
    plan = RemediationPlanner(policy, knowledge).plan(diagnosis)
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("Timeout (network)")
        return "done"

    result = ActionExecutor(policy, sleep=lambda _: None).execute(plan, flaky)
    knowledge.record_recovery(diagnosis, result.success)

    assert result.success
    assert knowledge.get_statistics()["recovery_rate"] == 1.0
