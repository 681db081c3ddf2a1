"""CircuitBreaker (Nygard 2007): stop hammering a dependency that keeps failing.

CLOSED → OPEN after ``threshold`` consecutive failures; OPEN → HALF_OPEN once
``timeout`` seconds have passed; in HALF_OPEN one probe is let through: success →
CLOSED, failure → OPEN again (for another ``timeout``).
"""

from __future__ import annotations

import enum
import math
import os
import time
from collections.abc import Callable, Mapping


class CircuitState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str = "default",
        threshold: int = 5,
        timeout: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1:
            raise ValueError("threshold must be at least 1")
        if not (timeout >= 0) or math.isinf(timeout):
            raise ValueError("timeout must be a finite number of seconds >= 0")
        self.name = name
        self.threshold = threshold
        self.timeout = timeout
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @classmethod
    def from_env(
        cls, name: str = "default", env: Mapping[str, str] | None = None, **kw: float
    ) -> CircuitBreaker:
        """``WT_CIRCUIT_THRESHOLD`` and ``WT_CIRCUIT_TIMEOUT`` override the defaults."""
        env = os.environ if env is None else env
        threshold = int(env.get("WT_CIRCUIT_THRESHOLD") or kw.get("threshold", 5))
        timeout = float(env.get("WT_CIRCUIT_TIMEOUT") or kw.get("timeout", 60.0))
        return cls(name, threshold, timeout)

    @property
    def state(self) -> CircuitState:
        if self._state is CircuitState.OPEN and self._clock() - self._opened_at >= self.timeout:
            self._state = CircuitState.HALF_OPEN
            self._probing = False
        return self._state

    @property
    def failures(self) -> int:
        return self._failures

    def retry_in(self) -> int:
        """Whole seconds until an OPEN circuit lets a probe through (0 if not OPEN)."""
        if self.state is not CircuitState.OPEN:
            return 0
        return max(1, math.ceil(self.timeout - (self._clock() - self._opened_at)))

    def allow(self) -> bool:
        """May a call go through now? In HALF_OPEN only one probe at a time may."""
        state = self.state
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return True
        return False

    def record_success(self) -> None:
        self._failures = 0
        self._probing = False
        self._state = CircuitState.CLOSED

    def record_failure(self) -> None:
        self._failures += 1
        self._probing = False
        if self._state is CircuitState.HALF_OPEN or self._failures >= self.threshold:
            self._trip()

    def _trip(self) -> None:
        self._state = CircuitState.OPEN
        self._opened_at = self._clock()

    def reset(self) -> None:
        """Force the circuit CLOSED (``reset circuit``)."""
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._probing = False

    def describe(self) -> str:
        state = self.state
        if state is CircuitState.OPEN:
            return f"OPEN (retry in {self.retry_in()}s)"
        if state is CircuitState.HALF_OPEN:
            return "HALF_OPEN (next call is a probe)"
        return f"CLOSED ({self._failures} consecutive failure(s))" if self._failures else "CLOSED"
