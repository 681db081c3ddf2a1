"""The public Python API of the self-healing engine (the guide's names and signatures).

from wtd.self_healing import (RetryPolicy, HealthMonitor, CircuitBreaker,
    SymptomAnalyzer, RemediationPlanner, ActionExecutor, KnowledgeBase)
"""

from wtd.healing.action import ActionExecutor, ExecutionResult, symptom_of
from wtd.healing.analysis import (
    Category,
    Diagnosis,
    RemediationPlan,
    RemediationPlanner,
    Strategy,
    Symptom,
    SymptomAnalyzer,
)
from wtd.healing.circuit import CircuitBreaker, CircuitState
from wtd.healing.health import HealthLevel, HealthMetrics, HealthMonitor, HealthStatus
from wtd.healing.knowledge import KnowledgeBase
from wtd.healing.retry import RetryPolicy

__all__ = [
    "ActionExecutor",
    "Category",
    "CircuitBreaker",
    "CircuitState",
    "Diagnosis",
    "ExecutionResult",
    "HealthLevel",
    "HealthMetrics",
    "HealthMonitor",
    "HealthStatus",
    "KnowledgeBase",
    "RemediationPlan",
    "RemediationPlanner",
    "RetryPolicy",
    "Strategy",
    "Symptom",
    "SymptomAnalyzer",
    "symptom_of",
]
