"""RetryPolicy: exponential backoff with equal jitter (SPEC §5, guide "Custom Retry Policy")."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtd.healing.retry import RetryPolicy

policies = st.builds(
    RetryPolicy,
    max_attempts=st.integers(min_value=1, max_value=20),
    initial_delay=st.floats(min_value=0.0, max_value=100.0),
    max_delay=st.floats(min_value=0.0, max_value=1000.0),
    exponential_base=st.floats(min_value=1.0, max_value=10.0),
    jitter=st.booleans(),
)
attempts = st.integers(min_value=1, max_value=60)


def test_defaults_match_the_spec() -> None:
    policy = RetryPolicy()
    assert (
        policy.max_attempts,
        policy.initial_delay,
        policy.max_delay,
        policy.exponential_base,
        policy.jitter,
    ) == (3, 1.0, 30.0, 2.0, True)


def test_delays_without_jitter_double_each_attempt() -> None:
    policy = RetryPolicy(max_attempts=5, initial_delay=0.5, jitter=False)
    assert [policy.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 8.0]


def test_delays_without_jitter_are_capped_at_max_delay() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=5.0, jitter=False)
    assert [policy.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_delays_lists_one_pause_between_each_pair_of_attempts() -> None:
    policy = RetryPolicy(max_attempts=4, initial_delay=1.0, jitter=False)
    assert policy.delays() == [1.0, 2.0, 4.0]


def test_a_single_attempt_policy_never_pauses() -> None:
    assert RetryPolicy(max_attempts=1).delays() == []


@given(policy=policies, attempt=attempts)
def test_without_jitter_delay_is_exactly_the_capped_exponential(
    policy: RetryPolicy, attempt: int
) -> None:
    exact = RetryPolicy(
        max_attempts=policy.max_attempts,
        initial_delay=policy.initial_delay,
        max_delay=policy.max_delay,
        exponential_base=policy.exponential_base,
        jitter=False,
    )
    expected = min(exact.max_delay, exact.initial_delay * exact.exponential_base ** (attempt - 1))
    assert exact.delay(attempt) == expected


@given(policy=policies, attempt=attempts, seed=st.integers())
def test_with_jitter_each_delay_lies_between_half_and_full_base(
    policy: RetryPolicy, attempt: int, seed: int
) -> None:
    jittered = RetryPolicy(
        max_attempts=policy.max_attempts,
        initial_delay=policy.initial_delay,
        max_delay=policy.max_delay,
        exponential_base=policy.exponential_base,
        jitter=True,
    )
    base = min(
        jittered.max_delay,
        jittered.initial_delay * jittered.exponential_base ** (attempt - 1),
    )
    delay = jittered.delay(attempt, random.Random(seed))
    assert base / 2 <= delay <= base


@given(policy=policies, attempt=attempts, seed=st.integers())
def test_no_delay_ever_exceeds_max_delay(policy: RetryPolicy, attempt: int, seed: int) -> None:
    assert 0.0 <= policy.delay(attempt, random.Random(seed)) <= policy.max_delay


@given(policy=policies, attempt=st.integers(min_value=1, max_value=59))
def test_unjittered_delays_never_shrink(policy: RetryPolicy, attempt: int) -> None:
    exact = RetryPolicy(
        initial_delay=policy.initial_delay,
        max_delay=policy.max_delay,
        exponential_base=policy.exponential_base,
        jitter=False,
    )
    assert exact.delay(attempt) <= exact.delay(attempt + 1)


def test_jitter_spreads_delays_of_clients_that_failed_together() -> None:
    policy = RetryPolicy(initial_delay=1.0)
    rng = random.Random(1234)
    assert len({policy.delay(1, rng) for _ in range(20)}) > 1


def test_same_seed_gives_the_same_jittered_delays() -> None:
    policy = RetryPolicy(max_attempts=6)
    assert policy.delays(random.Random(7)) == policy.delays(random.Random(7))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"max_attempts": -1},
        {"initial_delay": -0.1},
        {"max_delay": -1.0},
        {"exponential_base": 0.5},
        {"exponential_base": 0.0},
    ],
    ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()),
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("field", ["initial_delay", "max_delay"])
def test_non_finite_delays_are_rejected(field: str) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**{field: math.nan})  # type: ignore[arg-type]


def test_from_env_without_variables_gives_the_defaults() -> None:
    assert RetryPolicy.from_env({}) == RetryPolicy()


def test_from_env_reads_wt_retry_max_and_wt_retry_delay() -> None:
    policy = RetryPolicy.from_env({"WT_RETRY_MAX": "7", "WT_RETRY_DELAY": "0.25"})
    assert (policy.max_attempts, policy.initial_delay) == (7, 0.25)


def test_from_env_keeps_the_other_defaults() -> None:
    policy = RetryPolicy.from_env({"WT_RETRY_MAX": "7"})
    assert (policy.initial_delay, policy.max_delay, policy.exponential_base, policy.jitter) == (
        1.0,
        30.0,
        2.0,
        True,
    )


def test_from_env_ignores_empty_variables() -> None:
    assert RetryPolicy.from_env({"WT_RETRY_MAX": "", "WT_RETRY_DELAY": ""}) == RetryPolicy()


def test_from_env_reads_the_process_environment_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WT_RETRY_MAX", "4")
    monkeypatch.setenv("WT_RETRY_DELAY", "2.5")
    policy = RetryPolicy.from_env()
    assert (policy.max_attempts, policy.initial_delay) == (4, 2.5)


def test_from_env_environment_overrides_caller_defaults() -> None:
    policy = RetryPolicy.from_env({"WT_RETRY_MAX": "2"}, max_attempts=9, max_delay=5.0)
    assert (policy.max_attempts, policy.max_delay) == (2, 5.0)


@pytest.mark.parametrize(
    "env",
    [
        {"WT_RETRY_MAX": "three"},
        {"WT_RETRY_MAX": "2.5"},
        {"WT_RETRY_MAX": "0"},
        {"WT_RETRY_MAX": "-3"},
        {"WT_RETRY_DELAY": "soon"},
        {"WT_RETRY_DELAY": "-1"},
    ],
    ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()),
)
def test_from_env_rejects_garbage_with_value_error(env: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy.from_env(env)


def test_from_env_rejects_nan_delay() -> None:
    with pytest.raises(ValueError):
        RetryPolicy.from_env({"WT_RETRY_DELAY": "nan"})


def test_policy_is_immutable() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 9  # type: ignore[misc]
