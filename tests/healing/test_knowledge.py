"""KnowledgeBase: failure patterns and recovery outcomes, persisted under .ecw/ (SPEC §5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wtd.healing.analysis import Diagnosis, Symptom, SymptomAnalyzer
from wtd.healing.knowledge import MAX_PATTERNS, KnowledgeBase


def diagnose(error: str = "EAGAIN", point: str = "store.write", message: str = "") -> Diagnosis:
    return SymptomAnalyzer().analyze(Symptom(point=point, error=error, message=message))


def test_empty_knowledge_base_has_empty_statistics() -> None:
    assert KnowledgeBase().get_statistics() == {
        "total_failures": 0,
        "recovery_attempts": 0,
        "recovery_successes": 0,
        "recovery_rate": None,
        "patterns": {},
    }


def test_record_failure_counts_occurrences_per_pattern() -> None:
    kb = KnowledgeBase()
    kb.record_failure(diagnose("EAGAIN"))
    kb.record_failure(diagnose("EAGAIN"))
    kb.record_failure(diagnose("ENOSPC"))
    patterns = kb.get_statistics()["patterns"]
    assert patterns["store.write:EAGAIN"]["count"] == 2
    assert patterns["store.write:ENOSPC"]["count"] == 1


def test_total_failures_sums_every_pattern() -> None:
    kb = KnowledgeBase()
    for error in ("EAGAIN", "EAGAIN", "ENOSPC"):
        kb.record_failure(diagnose(error))
    assert kb.get_statistics()["total_failures"] == 3


def test_pattern_records_category_times_and_last_message() -> None:
    kb = KnowledgeBase()
    kb.record_failure(diagnose(message="first"), at="2026-01-01T10:00:00Z")
    kb.record_failure(diagnose(message="second"), at="2026-01-02T10:00:00Z")
    pattern = kb.get_statistics()["patterns"]["store.write:EAGAIN"]
    assert pattern["category"] == "TRANSIENT"
    assert pattern["first_seen"] == "2026-01-01T10:00:00Z"
    assert pattern["last_seen"] == "2026-01-02T10:00:00Z"
    assert pattern["last_message"] == "second"


def test_long_messages_are_truncated() -> None:
    kb = KnowledgeBase()
    kb.record_failure(diagnose(message="x" * 1000))
    assert len(kb.get_statistics()["patterns"]["store.write:EAGAIN"]["last_message"]) == 300


def test_record_recovery_counts_attempts_and_successes() -> None:
    kb = KnowledgeBase()
    diagnosis = diagnose("EAGAIN")
    kb.record_recovery(diagnosis, True)
    kb.record_recovery(diagnosis, False)
    kb.record_recovery(diagnosis, True)
    assert kb.outcomes("store.write:EAGAIN", "RETRY") == (3, 2)


@pytest.mark.parametrize(
    ("error", "strategy"),
    [
        ("EAGAIN", "RETRY"),
        ("invalid_status", "NORMALIZE"),
        ("ENOSPC", "ESCALATE"),
        ("DecodeError", "REPAIR"),
        ("Boom", "ESCALATE"),
    ],
)
def test_record_recovery_defaults_to_the_categorys_strategy(error: str, strategy: str) -> None:
    kb = KnowledgeBase()
    kb.record_recovery(diagnose(error), True)
    assert kb.outcomes(f"store.write:{error}", strategy) == (1, 1)


def test_record_recovery_with_an_explicit_strategy() -> None:
    kb = KnowledgeBase()
    kb.record_recovery(diagnose("EAGAIN"), True, strategy="REPAIR")
    assert kb.outcomes("store.write:EAGAIN", "REPAIR") == (1, 1)
    assert kb.outcomes("store.write:EAGAIN", "RETRY") == (0, 0)


def test_outcomes_of_an_unknown_pattern_are_zero() -> None:
    assert KnowledgeBase().outcomes("nowhere:EAGAIN", "RETRY") == (0, 0)


def test_recovery_rate_is_successes_over_attempts() -> None:
    kb = KnowledgeBase()
    for success in (True, False, False, True):
        kb.record_recovery(diagnose("EAGAIN"), success)
    kb.record_recovery(diagnose("DecodeError"), True)
    stats = kb.get_statistics()
    assert (stats["recovery_attempts"], stats["recovery_successes"]) == (5, 3)
    assert stats["recovery_rate"] == pytest.approx(0.6)


@given(outcomes=st.lists(st.booleans(), min_size=1, max_size=40))
def test_recovery_rate_is_between_zero_and_one(outcomes: list[bool]) -> None:
    kb = KnowledgeBase()
    for success in outcomes:
        kb.record_recovery(diagnose(), success)
    stats = kb.get_statistics()
    assert stats["recovery_rate"] == sum(outcomes) / len(outcomes)
    assert 0.0 <= stats["recovery_rate"] <= 1.0


def test_statistics_list_recoveries_per_pattern() -> None:
    kb = KnowledgeBase()
    kb.record_recovery(diagnose("EAGAIN"), False)
    kb.record_recovery(diagnose("EAGAIN"), True)
    pattern = kb.get_statistics()["patterns"]["store.write:EAGAIN"]
    assert pattern["recoveries"] == {"RETRY": {"attempts": 2, "successes": 1}}


def test_statistics_are_plain_json() -> None:
    kb = KnowledgeBase()
    kb.record_failure(diagnose())
    kb.record_recovery(diagnose(), True)
    stats = kb.get_statistics()
    assert json.loads(json.dumps(stats)) == stats


def test_knowledge_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / ".ecw" / "knowledge.json"
    kb = KnowledgeBase(path)
    kb.record_failure(diagnose("EAGAIN", message="busy"), at="2026-01-01T00:00:00Z")
    kb.record_recovery(diagnose("EAGAIN"), False)
    kb.record_recovery(diagnose("EAGAIN"), True)

    reopened = KnowledgeBase(path)
    assert reopened.outcomes("store.write:EAGAIN", "RETRY") == (2, 1)
    assert reopened.get_statistics() == kb.get_statistics()


def test_knowledge_is_written_as_json_to_its_path(tmp_path: Path) -> None:
    path = tmp_path / "knowledge.json"
    KnowledgeBase(path).record_failure(diagnose())
    assert "store.write:EAGAIN" in json.loads(path.read_text())["patterns"]


def test_missing_file_starts_empty(tmp_path: Path) -> None:
    kb = KnowledgeBase(tmp_path / "absent.json")
    assert kb.get_statistics()["patterns"] == {}
    assert not (tmp_path / "absent.json").exists()


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"\xff\xfe\x00", b"[1, 2, 3]", b'{"patterns": 42}'],
    ids=["garbage", "empty", "binary", "wrong-shape", "wrong-type"],
)
def test_corrupt_file_starts_afresh_without_raising(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "knowledge.json"
    path.write_bytes(content)
    kb = KnowledgeBase(path)
    assert kb.get_statistics()["patterns"] == {}


def test_corrupt_file_is_replaced_by_new_knowledge(tmp_path: Path) -> None:
    path = tmp_path / "knowledge.json"
    path.write_bytes(b"{not json")
    KnowledgeBase(path).record_failure(diagnose())
    assert KnowledgeBase(path).get_statistics()["total_failures"] == 1


def test_unwritable_location_does_not_break_recording(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    kb = KnowledgeBase(blocker / "knowledge.json")
    kb.record_failure(diagnose())
    assert kb.get_statistics()["total_failures"] == 1


def test_describe_without_failures() -> None:
    assert KnowledgeBase().describe() == ["No failures recorded yet."]


def test_describe_summarises_failures_and_recoveries() -> None:
    kb = KnowledgeBase()
    kb.record_failure(diagnose(), at="2026-01-01T00:00:00Z")
    kb.record_recovery(diagnose(), True)
    lines = kb.describe()
    assert lines[0] == "Failures recorded: 1 · recoveries: 1/1 (100% worked)"
    assert "  store.write:EAGAIN [TRANSIENT] seen 1× (last 2026-01-01T00:00:00Z)" in lines
    assert "    RETRY: 1/1 succeeded" in lines


def test_describe_says_retries_never_worked_after_three_failed_retries() -> None:
    kb = KnowledgeBase()
    for _ in range(3):
        kb.record_failure(diagnose())
        kb.record_recovery(diagnose(), False)
    assert any("retries never worked" in line for line in kb.describe())


def test_describe_stays_quiet_when_a_retry_worked() -> None:
    kb = KnowledgeBase()
    for success in (False, False, False, True):
        kb.record_recovery(diagnose(), success)
    assert not any("never worked" in line for line in kb.describe())


def test_describe_stays_quiet_before_three_retries() -> None:
    kb = KnowledgeBase()
    for _ in range(2):
        kb.record_recovery(diagnose(), False)
    assert not any("never worked" in line for line in kb.describe())


def test_number_of_patterns_is_bounded() -> None:
    kb = KnowledgeBase()
    for n in range(MAX_PATTERNS + 25):
        kb.record_failure(diagnose(point=f"point{n:04d}"), at=f"2026-01-01T00:{n:04d}")
    assert len(kb.get_statistics()["patterns"]) == MAX_PATTERNS


def test_the_least_recently_seen_pattern_is_forgotten_first() -> None:
    kb = KnowledgeBase()
    for n in range(MAX_PATTERNS):
        kb.record_failure(diagnose(point=f"point{n:04d}"), at=f"2026-01-01T{n:04d}")
    kb.record_failure(diagnose(point="point0000"), at="2026-01-02T0000")  # seen again
    kb.record_failure(diagnose(point="newcomer"), at="2026-01-02T0001")
    patterns = kb.get_statistics()["patterns"]
    assert "point0000:EAGAIN" in patterns
    assert "point0001:EAGAIN" not in patterns
    assert "newcomer:EAGAIN" in patterns
