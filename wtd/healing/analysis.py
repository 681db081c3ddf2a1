"""Analyze and Plan (MAPE-K): classify a symptom, then choose a remediation.

``SymptomAnalyzer.analyze(symptom) → Diagnosis`` sorts faults into TRANSIENT,
VALIDATION, RESOURCE, CORRUPTION and UNKNOWN; ``RemediationPlanner.plan(diagnosis)
→ RemediationPlan`` maps them to RETRY, NORMALIZE, ESCALATE or REPAIR, consulting
what the knowledge base learned (retries that never worked are not tried again).
"""

from __future__ import annotations

import enum
from typing import Protocol

import msgspec

from wtd.healing.retry import RetryPolicy


class Category(enum.Enum):
    TRANSIENT = "TRANSIENT"
    VALIDATION = "VALIDATION"
    RESOURCE = "RESOURCE"
    CORRUPTION = "CORRUPTION"
    UNKNOWN = "UNKNOWN"


class Strategy(enum.Enum):
    RETRY = "RETRY"
    NORMALIZE = "NORMALIZE"
    ESCALATE = "ESCALATE"
    REPAIR = "REPAIR"


class Symptom(msgspec.Struct, frozen=True, kw_only=True):
    """What went wrong, where: the input of analysis.

    ``point`` names the operation (a failpoint name such as ``store.write``, or
    ``store.open`` / ``request``); ``error`` is an errno name (``EAGAIN``) or an
    exception type (``TimeoutError``, ``DecodeError``); ``message`` is for people.
    """

    point: str
    error: str
    message: str = ""
    tracker: str = ""
    workspace: str = ""

    @property
    def key(self) -> str:
        """Symptoms with the same key are the same failure pattern."""
        return f"{self.point}:{self.error}"


class Diagnosis(msgspec.Struct, frozen=True, kw_only=True):
    symptom: Symptom
    category: Category
    explanation: str


class RemediationPlan(msgspec.Struct, frozen=True, kw_only=True):
    diagnosis: Diagnosis
    strategy: Strategy
    reason: str
    advice: str = ""  # for ESCALATE: what a person should do
    max_attempts: int = 1


_TRANSIENT = frozenset(
    {"EAGAIN", "EWOULDBLOCK", "EBUSY", "EINTR", "ETIMEDOUT", "TimeoutError", "EDEADLK", "MidWrite"}
)
_RESOURCE = frozenset(
    {"ENOENT", "EACCES", "EPERM", "ENOSPC", "EROFS", "EDQUOT", "EMFILE", "ENFILE", "EISDIR", "EIO"}
)
_CORRUPTION = frozenset(
    {"DecodeError", "TrackerError", "ChecksumMismatch", "CorruptJournal", "MissingSSOT"}
)
_VALIDATION = frozenset(
    {"invalid_status", "invalid_task_id", "invalid_argument", "unknown_phrase", "ValidationError"}
)

_ADVICE = {
    "ENOSPC": (
        "free some disk space on the file system that holds the workspace (or inodes, "
        "when df -h shows space left: df -i), then rerun"
    ),
    "EDQUOT": "your disk quota is exhausted: free some space, then rerun",
    "EACCES": "check the permissions of the tracker files and .ecw/ (ls -l), then rerun",
    "EPERM": "check the permissions of the tracker files and .ecw/ (ls -l), then rerun",
    "EROFS": "the file system is read-only: remount it read-write or move the workspace",
    "ENOENT": "a folder of the workspace is missing: check that the workspace still exists",
    "EMFILE": "too many open files: raise the limit (ulimit -n) or restart wtd",
    "ENFILE": "the system is out of file handles: close programs, then rerun",
    "EIO": "the disk reported an I/O error: check the disk (dmesg), then rerun",
}


class SymptomAnalyzer:
    """Classifies a symptom by its error (errno name or exception type)."""

    def analyze(self, symptom: Symptom) -> Diagnosis:
        error = symptom.error
        if error in _TRANSIENT:
            category, why = Category.TRANSIENT, f"{error} is usually temporary"
        elif error in _CORRUPTION:
            category, why = Category.CORRUPTION, f"{symptom.point}: the stored data is damaged"
        elif error in _RESOURCE:
            category, why = (
                Category.RESOURCE,
                f"{error}: a resource the tracker needs is unavailable",
            )
        elif error in _VALIDATION:
            category, why = Category.VALIDATION, "the input is not valid"
        else:
            category, why = Category.UNKNOWN, f"unclassified error {error}"
        return Diagnosis(symptom=symptom, category=category, explanation=why)


class RecoveryHistory(Protocol):
    """What the planner needs to know from the knowledge base."""

    def outcomes(self, key: str, strategy: str) -> tuple[int, int]:
        """(attempts, successes) of ``strategy`` for symptoms with ``key``."""
        ...


# After this many recorded retry runs with no success, retrying is not tried again.
GIVE_UP_AFTER = 3


class RemediationPlanner:
    def __init__(
        self, policy: RetryPolicy | None = None, history: RecoveryHistory | None = None
    ) -> None:
        self.policy = policy or RetryPolicy()
        self.history = history

    def plan(self, diagnosis: Diagnosis) -> RemediationPlan:
        symptom = diagnosis.symptom
        match diagnosis.category:
            case Category.TRANSIENT:
                if self.history is not None:
                    tried, worked = self.history.outcomes(symptom.key, Strategy.RETRY.value)
                    if tried >= GIVE_UP_AFTER and worked == 0:
                        return RemediationPlan(
                            diagnosis=diagnosis,
                            strategy=Strategy.ESCALATE,
                            reason=(
                                f"knowledge: retrying {symptom.key} never succeeded "
                                f"(0 of {tried}); escalating at once"
                            ),
                            advice="the fault persists; check the storage the workspace is on",
                        )
                return RemediationPlan(
                    diagnosis=diagnosis,
                    strategy=Strategy.RETRY,
                    reason="Exponential backoff retry",
                    max_attempts=self.policy.max_attempts,
                )
            case Category.VALIDATION:
                return RemediationPlan(
                    diagnosis=diagnosis,
                    strategy=Strategy.NORMALIZE,
                    reason="normalise the input, or reject it with suggestions",
                )
            case Category.CORRUPTION:
                return RemediationPlan(
                    diagnosis=diagnosis,
                    strategy=Strategy.REPAIR,
                    reason="rebuild from the newest valid backup plus the journal",
                )
            case Category.RESOURCE:
                return RemediationPlan(
                    diagnosis=diagnosis,
                    strategy=Strategy.ESCALATE,
                    reason=diagnosis.explanation,
                    advice=_ADVICE.get(symptom.error, "check the workspace's storage, then rerun"),
                )
            case Category.UNKNOWN:
                return RemediationPlan(
                    diagnosis=diagnosis,
                    strategy=Strategy.ESCALATE,
                    reason=diagnosis.explanation,
                    advice="see the wtd log for details",
                )
