"""Knowledge (MAPE-K): failure patterns and recovery outcomes, persisted.

One knowledge base per workspace, at ``.ecw/knowledge.json``. The planner asks it
how a strategy fared for a symptom before choosing it again.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import msgspec

from wtd.errors import WtdError
from wtd.healing.analysis import Category, Diagnosis, Strategy

log = logging.getLogger("wtd.knowledge")

MAX_PATTERNS = 200

_DEFAULT_STRATEGY = {
    Category.TRANSIENT: Strategy.RETRY,
    Category.VALIDATION: Strategy.NORMALIZE,
    Category.RESOURCE: Strategy.ESCALATE,
    Category.CORRUPTION: Strategy.REPAIR,
    Category.UNKNOWN: Strategy.ESCALATE,
}


class Outcomes(msgspec.Struct, kw_only=True):
    attempts: int = 0
    successes: int = 0


class Pattern(msgspec.Struct, kw_only=True):
    category: str
    count: int = 0
    first_seen: str = ""
    last_seen: str = ""
    last_message: str = ""
    recoveries: dict[str, Outcomes] = {}


class _State(msgspec.Struct, kw_only=True):
    version: int = 1
    patterns: dict[str, Pattern] = {}


class KnowledgeBase:
    """Failure patterns (by symptom key) and how each recovery strategy fared."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._state = self._load()

    def _load(self) -> _State:
        if self.path is None or not self.path.exists():
            return _State()
        try:
            from wtd.storage import safepath

            return msgspec.json.decode(safepath.read_bytes(self.path, 16 << 20), type=_State)
        except (OSError, msgspec.DecodeError, WtdError) as exc:
            log.warning("knowledge base %s unreadable (%s); starting afresh", self.path, exc)
            return _State()

    def _save(self) -> None:
        if self.path is None:
            return
        from wtd.storage.atomic import atomic_write

        try:
            atomic_write(self.path, msgspec.json.format(msgspec.json.encode(self._state)))
        except (OSError, WtdError) as exc:  # learning must never break the work itself
            log.warning("knowledge base %s not saved: %s", self.path, exc)

    def _pattern(self, diagnosis: Diagnosis, now: str) -> Pattern:
        key = diagnosis.symptom.key
        pattern = self._state.patterns.get(key)
        if pattern is None:
            if len(self._state.patterns) >= MAX_PATTERNS:
                oldest = min(self._state.patterns, key=lambda k: self._state.patterns[k].last_seen)
                del self._state.patterns[oldest]
            pattern = Pattern(category=diagnosis.category.value, first_seen=now)
            self._state.patterns[key] = pattern
        return pattern

    def record_failure(self, diagnosis: Diagnosis, *, at: str = "") -> None:
        """Record one occurrence of a failure pattern."""
        pattern = self._pattern(diagnosis, at)
        pattern.count += 1
        pattern.last_seen = at
        pattern.last_message = diagnosis.symptom.message[:300]
        self._save()

    def record_recovery(
        self, diagnosis: Diagnosis, success: bool, *, strategy: str | None = None, at: str = ""
    ) -> None:
        """Record how a recovery (by default the category's usual strategy) turned out."""
        name = strategy or _DEFAULT_STRATEGY[diagnosis.category].value
        pattern = self._pattern(diagnosis, at)
        outcome = pattern.recoveries.setdefault(name, Outcomes())
        outcome.attempts += 1
        outcome.successes += int(success)
        self._save()

    def outcomes(self, key: str, strategy: str) -> tuple[int, int]:
        pattern = self._state.patterns.get(key)
        if pattern is None or strategy not in pattern.recoveries:
            return (0, 0)
        found = pattern.recoveries[strategy]
        return (found.attempts, found.successes)

    def get_statistics(self) -> dict[str, Any]:
        """Aggregated failures and recoveries, per pattern and in total."""
        patterns = self._state.patterns
        total_failures = sum(p.count for p in patterns.values())
        attempts = sum(o.attempts for p in patterns.values() for o in p.recoveries.values())
        successes = sum(o.successes for p in patterns.values() for o in p.recoveries.values())
        return {
            "total_failures": total_failures,
            "recovery_attempts": attempts,
            "recovery_successes": successes,
            "recovery_rate": successes / attempts if attempts else None,
            "patterns": {
                key: {
                    "category": p.category,
                    "count": p.count,
                    "first_seen": p.first_seen,
                    "last_seen": p.last_seen,
                    "last_message": p.last_message,
                    "recoveries": {
                        name: {"attempts": o.attempts, "successes": o.successes}
                        for name, o in p.recoveries.items()
                    },
                }
                for key, p in sorted(patterns.items())
            },
        }

    def describe(self) -> list[str]:
        """``show knowledge``: one block per pattern, with what worked."""
        stats = self.get_statistics()
        if not stats["patterns"]:
            return ["No failures recorded yet."]
        rate = stats["recovery_rate"]
        lines = [
            f"Failures recorded: {stats['total_failures']} · recoveries: "
            f"{stats['recovery_successes']}/{stats['recovery_attempts']}"
            + (f" ({rate:.0%} worked)" if rate is not None else "")
        ]
        for key, p in stats["patterns"].items():
            lines.append(f"  {key} [{p['category']}] seen {p['count']}× (last {p['last_seen']})")
            for name, o in p["recoveries"].items():
                lines.append(f"    {name}: {o['successes']}/{o['attempts']} succeeded")
                if name == Strategy.RETRY.value and o["attempts"] >= 3 and o["successes"] == 0:
                    lines.append("    → retries never worked: this symptom is escalated at once")
        return lines
