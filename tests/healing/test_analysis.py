"""SymptomAnalyzer and RemediationPlanner (SPEC §5, guide "Error Categories")."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtd.healing.analysis import (
    Category,
    Diagnosis,
    RemediationPlanner,
    Strategy,
    Symptom,
    SymptomAnalyzer,
)
from wtd.healing.knowledge import KnowledgeBase
from wtd.healing.retry import RetryPolicy

CLASSIFIED = {
    # TRANSIENT: EAGAIN, EBUSY, EINTR, timeouts, lock contention, JSON caught mid-write
    "EAGAIN": Category.TRANSIENT,
    "EWOULDBLOCK": Category.TRANSIENT,
    "EBUSY": Category.TRANSIENT,
    "EINTR": Category.TRANSIENT,
    "ETIMEDOUT": Category.TRANSIENT,
    "TimeoutError": Category.TRANSIENT,
    "EDEADLK": Category.TRANSIENT,
    "MidWrite": Category.TRANSIENT,
    # RESOURCE: missing file, permission, disk full, read-only FS
    "ENOENT": Category.RESOURCE,
    "EACCES": Category.RESOURCE,
    "EPERM": Category.RESOURCE,
    "ENOSPC": Category.RESOURCE,
    "EROFS": Category.RESOURCE,
    # CORRUPTION: unparseable or schema-invalid SSOT, checksum mismatch
    "DecodeError": Category.CORRUPTION,
    "TrackerError": Category.CORRUPTION,
    "ChecksumMismatch": Category.CORRUPTION,
    # VALIDATION: bad status, bad ID, schema errors
    "invalid_status": Category.VALIDATION,
    "invalid_task_id": Category.VALIDATION,
    "ValidationError": Category.VALIDATION,
}

KNOWN = {
    *CLASSIFIED,
    *("EDQUOT", "EMFILE", "ENFILE", "EISDIR", "EIO", "CorruptJournal"),
    *("MissingSSOT", "invalid_argument", "unknown_phrase"),
}


def symptom(error: str, point: str = "store.write", message: str = "") -> Symptom:
    return Symptom(point=point, error=error, message=message, tracker="plan")


def diagnose(error: str, point: str = "store.write") -> Diagnosis:
    return SymptomAnalyzer().analyze(symptom(error, point))


class FakeHistory:
    """A RecoveryHistory with fixed answers, recording what it was asked."""

    def __init__(self, tried: int, worked: int) -> None:
        self.answer = (tried, worked)
        self.asked: list[tuple[str, str]] = []

    def outcomes(self, key: str, strategy: str) -> tuple[int, int]:
        self.asked.append((key, strategy))
        return self.answer


# ---------------------------------------------------------------- analyzer


@pytest.mark.parametrize(("error", "category"), sorted(CLASSIFIED.items()))
def test_analyzer_classifies_spec_examples(error: str, category: Category) -> None:
    assert diagnose(error).category is category


def test_analyzer_classifies_missing_ssot_as_corruption() -> None:
    assert diagnose("MissingSSOT", "store.open").category is Category.CORRUPTION


@pytest.mark.parametrize("error", ["ECONNRESET", "KeyError", "Boom", "", "eagain"])
def test_analyzer_classifies_anything_else_as_unknown(error: str) -> None:
    assert diagnose(error).category is Category.UNKNOWN


@given(error=st.text().filter(lambda e: e not in KNOWN))
def test_analyzer_never_fails_and_unlisted_errors_are_unknown(error: str) -> None:
    assert diagnose(error).category is Category.UNKNOWN


def test_diagnosis_keeps_the_symptom() -> None:
    s = symptom("EAGAIN", message="resource temporarily unavailable")
    assert SymptomAnalyzer().analyze(s).symptom == s


def test_diagnosis_explains_itself() -> None:
    assert "EAGAIN" in diagnose("EAGAIN").explanation
    assert "unclassified" in diagnose("Boom").explanation


def test_symptom_key_is_point_and_error() -> None:
    assert symptom("EAGAIN", "store.write").key == "store.write:EAGAIN"


def test_classification_does_not_depend_on_the_point() -> None:
    assert diagnose("EAGAIN", "render.write").category is diagnose("EAGAIN", "store.read").category


# ----------------------------------------------------------------- planner


@pytest.mark.parametrize(
    ("error", "strategy"),
    [
        ("EAGAIN", Strategy.RETRY),
        ("invalid_status", Strategy.NORMALIZE),
        ("ENOSPC", Strategy.ESCALATE),
        ("ChecksumMismatch", Strategy.REPAIR),
        ("Boom", Strategy.ESCALATE),
    ],
    ids=["TRANSIENT", "VALIDATION", "RESOURCE", "CORRUPTION", "UNKNOWN"],
)
def test_planner_maps_each_category_to_its_strategy(error: str, strategy: Strategy) -> None:
    assert RemediationPlanner().plan(diagnose(error)).strategy is strategy


def test_plan_carries_its_diagnosis() -> None:
    diagnosis = diagnose("EAGAIN")
    assert RemediationPlanner().plan(diagnosis).diagnosis == diagnosis


def test_retry_plan_is_exponential_backoff() -> None:
    assert RemediationPlanner().plan(diagnose("EAGAIN")).reason == "Exponential backoff retry"


def test_retry_plan_takes_max_attempts_from_the_policy() -> None:
    planner = RemediationPlanner(RetryPolicy(max_attempts=7))
    assert planner.plan(diagnose("EBUSY")).max_attempts == 7


def test_retry_plan_uses_the_default_policy_without_one() -> None:
    assert RemediationPlanner().plan(diagnose("EBUSY")).max_attempts == 3


def test_non_retry_plans_make_a_single_attempt() -> None:
    planner = RemediationPlanner(RetryPolicy(max_attempts=7))
    for error in ("invalid_status", "ENOSPC", "DecodeError", "Boom"):
        assert planner.plan(diagnose(error)).max_attempts == 1


def test_enospc_advice_mentions_disk_space() -> None:
    advice = RemediationPlanner().plan(diagnose("ENOSPC")).advice
    assert "disk space" in advice


def test_eacces_advice_mentions_permissions() -> None:
    advice = RemediationPlanner().plan(diagnose("EACCES")).advice
    assert "permission" in advice


def test_erofs_advice_mentions_read_only() -> None:
    advice = RemediationPlanner().plan(diagnose("EROFS")).advice
    assert "read-only" in advice


def test_enoent_advice_mentions_the_missing_folder() -> None:
    advice = RemediationPlanner().plan(diagnose("ENOENT")).advice
    assert "missing" in advice


@pytest.mark.parametrize("error", ["ENOENT", "EACCES", "EPERM", "ENOSPC", "EROFS", "EIO"])
def test_every_resource_plan_carries_advice(error: str) -> None:
    assert RemediationPlanner().plan(diagnose(error)).advice


def test_unknown_plan_points_to_the_log() -> None:
    plan = RemediationPlanner().plan(diagnose("Boom"))
    assert "log" in plan.advice


def test_transient_with_only_failed_retries_is_escalated_at_once() -> None:
    plan = RemediationPlanner(history=FakeHistory(tried=3, worked=0)).plan(diagnose("EAGAIN"))
    assert plan.strategy is Strategy.ESCALATE
    assert plan.reason.startswith("knowledge:")
    assert "never succeeded" in plan.reason
    assert plan.advice


def test_escalation_reason_names_the_symptom_and_the_count() -> None:
    plan = RemediationPlanner(history=FakeHistory(tried=4, worked=0)).plan(diagnose("EAGAIN"))
    assert "store.write:EAGAIN" in plan.reason
    assert "0 of 4" in plan.reason


def test_planner_asks_history_about_retry_for_the_symptom_key() -> None:
    history = FakeHistory(tried=0, worked=0)
    RemediationPlanner(history=history).plan(diagnose("EAGAIN", "render.write"))
    assert history.asked == [("render.write:EAGAIN", "RETRY")]


def test_transient_with_fewer_than_three_failed_retries_still_retries() -> None:
    plan = RemediationPlanner(history=FakeHistory(tried=2, worked=0)).plan(diagnose("EAGAIN"))
    assert plan.strategy is Strategy.RETRY


@given(tried=st.integers(min_value=0, max_value=1000), data=st.data())
def test_transient_with_some_retry_success_still_retries(tried: int, data: st.DataObject) -> None:
    worked = data.draw(st.integers(min_value=1, max_value=max(1, tried)))
    planner = RemediationPlanner(RetryPolicy(max_attempts=4), FakeHistory(tried, worked))
    plan = planner.plan(diagnose("EAGAIN"))
    assert plan.strategy is Strategy.RETRY
    assert plan.max_attempts == 4


def test_history_does_not_affect_non_transient_plans() -> None:
    planner = RemediationPlanner(history=FakeHistory(tried=10, worked=0))
    assert planner.plan(diagnose("DecodeError")).strategy is Strategy.REPAIR
    assert planner.plan(diagnose("invalid_status")).strategy is Strategy.NORMALIZE


def test_planner_escalates_after_a_knowledge_base_saw_three_failed_retries() -> None:
    kb = KnowledgeBase()
    diagnosis = diagnose("EAGAIN")
    for _ in range(3):
        kb.record_failure(diagnosis)
        kb.record_recovery(diagnosis, False)
    plan = RemediationPlanner(history=kb).plan(diagnosis)
    assert plan.strategy is Strategy.ESCALATE
    assert plan.reason.startswith("knowledge:")


def test_planner_keeps_retrying_when_the_knowledge_base_saw_a_retry_work() -> None:
    kb = KnowledgeBase()
    diagnosis = diagnose("EAGAIN")
    for success in (False, False, False, True):
        kb.record_recovery(diagnosis, success)
    assert RemediationPlanner(history=kb).plan(diagnosis).strategy is Strategy.RETRY


def test_failed_retries_of_one_symptom_do_not_escalate_another() -> None:
    kb = KnowledgeBase()
    for _ in range(3):
        kb.record_recovery(diagnose("EAGAIN", "store.write"), False)
    plan = RemediationPlanner(history=kb).plan(diagnose("EAGAIN", "render.write"))
    assert plan.strategy is Strategy.RETRY
