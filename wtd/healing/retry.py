"""RetryPolicy: exponential backoff with jitter, for transient faults only."""

from __future__ import annotations

import math
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry (the guide's signature).

    Attempt ``n`` (1-based) that failed is followed by a pause of
    ``min(max_delay, initial_delay × exponential_base^(n-1))``; with ``jitter`` the
    pause is drawn uniformly from [pause/2, pause] ("equal jitter"), so clients that
    failed together do not retry together.
    """

    max_attempts: int = 3
    initial_delay: float = 1.0
    max_delay: float = 30.0
    exponential_base: float = 2.0
    jitter: bool = True

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not (math.isfinite(self.initial_delay) and self.initial_delay >= 0):
            raise ValueError("initial_delay must be a finite number of seconds >= 0")
        if not (self.max_delay >= 0) or math.isnan(self.max_delay):
            raise ValueError("max_delay must be a number of seconds >= 0")
        if self.exponential_base < 1:
            raise ValueError("exponential_base must be at least 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        base = min(self.max_delay, self.initial_delay * self.exponential_base ** (attempt - 1))
        if not self.jitter:
            return base
        return (rng or random).uniform(base / 2, base)

    def delays(self, rng: random.Random | None = None) -> list[float]:
        """Every pause of a full run of attempts (``max_attempts - 1`` of them)."""
        return [self.delay(n, rng) for n in range(1, self.max_attempts)]

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **defaults: float) -> RetryPolicy:
        """``WT_RETRY_MAX`` and ``WT_RETRY_DELAY`` override the defaults."""
        env = os.environ if env is None else env
        kwargs: dict[str, float] = dict(defaults)
        if env.get("WT_RETRY_MAX"):
            kwargs["max_attempts"] = int(env["WT_RETRY_MAX"])
        if env.get("WT_RETRY_DELAY"):
            kwargs["initial_delay"] = float(env["WT_RETRY_DELAY"])
        return cls(**kwargs)  # type: ignore[arg-type]
