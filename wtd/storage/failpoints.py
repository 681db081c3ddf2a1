"""Fault injection at named points (SPEC §5), in the spirit of etcd's gofail.

``WT_FAILPOINTS`` holds ``point=action`` entries separated by ``;``::

    store.write=2*eagain;render.write=1*enospc;journal.append=crash;store.read=delay(50)

An action may be prefixed by ``N*`` (fire on the first N hits only) and, before that,
by ``K+`` (let the first K hits pass): ``journal.append=3+crash`` crashes on the fourth
append, ``store.write=1+2*eagain`` fails the second and third writes.

Actions: ``eagain``, ``timeout``, ``eacces``, ``enospc`` raise the matching error;
``corrupt`` makes the caller write truncated garbage and report success; ``crash``
ends the process at once with ``os._exit(137)``; ``delay(MS)`` sleeps MS ms, then
proceeds. Points are dotted names; the daemon has the five of ``POINTS``, and
``WT_FAILPOINTS`` naming any other is an error (a typo would otherwise test nothing).
"""

from __future__ import annotations

import errno
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

ENV_VAR: Final = "WT_FAILPOINTS"
STORE_READ: Final = "store.read"
STORE_WRITE: Final = "store.write"
RENDER_WRITE: Final = "render.write"
JOURNAL_APPEND: Final = "journal.append"
EXECUTOR_RECEIVE: Final = "executor.receive"
POINTS: Final = (STORE_READ, STORE_WRITE, RENDER_WRITE, JOURNAL_APPEND, EXECUTOR_RECEIVE)
"""Every failpoint the daemon passes through, defined once (README, torture runner)."""
CORRUPT: Final = "corrupt"
CRASH_EXIT_CODE: Final = 137
ACTIONS: Final = ("eagain", "timeout", "eacces", "enospc", "corrupt", "crash", "delay(MS)")

_GARBAGE: Final = b"\x00\xff#wtd-failpoint-corrupt#\xff\x00"
_POINT = re.compile(r"[A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)*")
_ACTION = re.compile(
    r"(?:(?P<skip>\d+)\s*\+\s*)?(?:(?P<times>\d+)\s*\*\s*)?"
    r"(?P<name>[a-z]+)(?:\(\s*(?P<arg>[^)]*?)\s*\))?"
)
_ERRNO: Final = {"eagain": errno.EAGAIN, "eacces": errno.EACCES, "enospc": errno.ENOSPC}


def corrupted(data: bytes) -> bytes:
    """What a ``corrupt`` write puts on disk instead of ``data``: half of it, then garbage."""
    return data[: len(data) // 2] + _GARBAGE


@dataclass(frozen=True, slots=True)
class Rule:
    """One configured point: ``action`` fires on hits ``skip+1 … skip+times``."""

    action: str
    skip: int = 0
    times: int | None = None
    delay_ms: float = 0.0

    def fires(self, hit_number: int) -> bool:
        if hit_number <= self.skip:
            return False
        return self.times is None or hit_number <= self.skip + self.times


class Failpoints:
    """A parsed ``WT_FAILPOINTS``; ``hit`` is thread-safe and free when nothing is set."""

    __slots__ = ("_counts", "_lock", "_rules")

    def __init__(self, rules: Mapping[str, Rule] | None = None) -> None:
        self._rules: dict[str, Rule] = dict(rules or {})
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Failpoints:
        """Parse ``WT_FAILPOINTS`` from ``env`` (default ``os.environ``); unset = disabled.
        A point that is not one of ``POINTS`` is a ValueError naming them."""
        source = os.environ if env is None else env
        parsed = cls.parse(source.get(ENV_VAR, ""))
        unknown = sorted(set(parsed._rules) - set(POINTS))
        if unknown:
            raise ValueError(
                f"{ENV_VAR}: unknown failpoint {', '.join(map(repr, unknown))} "
                f"(known: {', '.join(POINTS)})"
            )
        return parsed

    @classmethod
    def parse(cls, spec: str) -> Failpoints:
        """Parse ``point=action;…``; a ValueError names the entry that is wrong."""
        rules: dict[str, Rule] = {}
        for raw in spec.split(";"):
            entry = raw.strip()
            if not entry:
                continue
            point, rule = _parse_entry(entry)
            if point in rules:
                raise ValueError(f"{ENV_VAR}: failpoint {point!r} is set twice")
            rules[point] = rule
        return cls(rules)

    @property
    def enabled(self) -> bool:
        return bool(self._rules)

    @property
    def rules(self) -> Mapping[str, Rule]:
        return dict(self._rules)

    def delays(self, *points: str) -> bool:
        """Is a ``delay`` set at any of ``points`` (a slow disk, simulated)?"""
        return any(rule.action == "delay" for point, rule in self._rules.items() if point in points)

    def hits(self, point: str) -> int:
        """How many times ``point`` was hit (always 0 while disabled)."""
        with self._lock:
            return self._counts.get(point, 0)

    def hit(self, point: str) -> str | None:
        """Pass through ``point``: raise, crash or sleep as configured.

        Returns ``"corrupt"`` when the caller must write garbage and report success,
        otherwise None.
        """
        if not self._rules:
            return None
        with self._lock:
            count = self._counts.get(point, 0) + 1
            self._counts[point] = count
        rule = self._rules.get(point)
        if rule is None or not rule.fires(count):
            return None
        return _perform(point, rule)


def _parse_entry(entry: str) -> tuple[str, Rule]:
    point, sep, action = (part.strip() for part in entry.partition("="))
    if not sep:
        raise ValueError(f"{ENV_VAR}: entry {entry!r} is not of the form point=action")
    if not _POINT.fullmatch(point):
        raise ValueError(f"{ENV_VAR}: entry {entry!r}: {point!r} is not a dotted point name")
    m = _ACTION.fullmatch(action)
    if m is None:
        raise ValueError(
            f"{ENV_VAR}: entry {entry!r}: cannot read action {action!r}"
            f" (expected [K+][N*]action, action one of {', '.join(ACTIONS)})"
        )
    name, arg = m["name"], m["arg"]
    skip = int(m["skip"] or 0)
    times = None if m["times"] is None else int(m["times"])
    if name == "delay":
        try:
            delay_ms = float(arg or "")
        except ValueError:
            delay_ms = -1.0
        if not delay_ms >= 0:
            raise ValueError(
                f"{ENV_VAR}: entry {entry!r}: delay needs milliseconds >= 0, as in delay(50)"
            )
        return point, Rule("delay", skip, times, delay_ms)
    if name not in ACTIONS or arg is not None:
        raise ValueError(
            f"{ENV_VAR}: entry {entry!r}: unknown action {action!r}"
            f" (expected one of {', '.join(ACTIONS)})"
        )
    return point, Rule(name, skip, times)


def _perform(point: str, rule: Rule) -> str | None:
    action = rule.action
    if action == "delay":
        time.sleep(rule.delay_ms / 1000)
        return None
    if action == CORRUPT:
        return CORRUPT
    if action == "crash":
        os._exit(CRASH_EXIT_CODE)
    if action == "timeout":
        raise TimeoutError(errno.ETIMEDOUT, f"failpoint {point}: injected timeout")
    code = _ERRNO[action]
    raise OSError(code, f"failpoint {point}: injected {errno.errorcode[code]}")
