"""AdvisoryLevel: rules from the CLAUDE.md work-tracker section and config."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wtd.enforcement.advisory import AdvisoryLevel, parse_rules

CLAUDE_MD = """\
# Project

## Coding style
- Use tabs for deletion of everything  (not a tracker rule)

## Work Tracker rules
Follow these:
- Never create an initiative without asking the user.
- Do not delete trackers; archive them.
- Mark a task complete only with evidence
  attached (test output).
- Bulk status changes need a review.

### Details
* Keep the **status** accurate.

## Testing
- Run pytest before delete of anything.
"""


def level(tmp_path: Path, text: str | None, extra: list[str] | None = None) -> AdvisoryLevel:
    if text is not None:
        (tmp_path / "CLAUDE.md").write_text(text)
    return AdvisoryLevel(tmp_path, extra or [])


def test_rules_are_the_bullets_of_the_work_tracker_section() -> None:
    assert parse_rules(CLAUDE_MD) == [
        "Never create an initiative without asking the user.",
        "Do not delete trackers; archive them.",
        "Mark a task complete only with evidence attached (test output).",
        "Bulk status changes need a review.",
        "Keep the status accurate.",
    ]


@pytest.mark.parametrize(
    "heading",
    ["# Work tracker", "###### WORK TRACKER", "## Using the work-tracker", "### work  tracker #"],
)
def test_any_heading_level_and_casing(heading: str) -> None:
    assert parse_rules(f"{heading}\n- rule one\n") == ["rule one"]


def test_section_ends_at_a_heading_of_the_same_level() -> None:
    text = "## Work tracker\n- inside\n## Other\n- outside\n"
    assert parse_rules(text) == ["inside"]


def test_section_without_bullets_gives_its_lines() -> None:
    text = "# Work Tracker\nAlways use wtctl.\n\nNever edit JSON.\n| a | b |\n# Next\n"
    assert parse_rules(text) == ["Always use wtctl.", "Never edit JSON."]


def test_code_fences_are_skipped() -> None:
    text = "# Work tracker\n```\n# not a heading\n- not a rule\n```\n- a rule\n"
    assert parse_rules(text) == ["a rule"]


def test_no_work_tracker_section_means_no_rules() -> None:
    assert parse_rules("# Project\n- use tabs\n## Tracking work\n- nope\n") == []


def test_no_claude_md_means_only_configured_rules(tmp_path: Path) -> None:
    advisory = level(tmp_path, None, ["Ask before creating initiatives"])
    assert advisory.advise("create_initiative", "create initiative 3") == [
        "ℹ Advisory: Ask before creating initiatives"
    ]
    assert level(tmp_path, None).advise("delete_tracker", "delete tracker") == []


def test_relevant_rules_for_an_initiative(tmp_path: Path) -> None:
    lines = level(tmp_path, CLAUDE_MD).advise("create_initiative", "create initiative 20")
    assert lines == ["ℹ Advisory: Never create an initiative without asking the user."]


def test_relevant_rules_for_a_status_change(tmp_path: Path) -> None:
    lines = level(tmp_path, CLAUDE_MD).advise("change", "mark task 2.2 complete")
    assert "ℹ Advisory: Mark a task complete only with evidence attached (test output)." in lines
    assert "ℹ Advisory: Keep the status accurate." in lines
    assert not any("delete" in line for line in lines)


def test_unrelated_sections_are_ignored(tmp_path: Path) -> None:
    lines = level(tmp_path, CLAUDE_MD).advise("delete_tracker", "delete tracker")
    assert lines == ["ℹ Advisory: Do not delete trackers; archive them."]


def test_reads_get_no_advice(tmp_path: Path) -> None:
    assert level(tmp_path, CLAUDE_MD).advise("read", "show progress") == []


def test_guarded_operation_with_no_matching_rule_gets_every_rule(tmp_path: Path) -> None:
    advisory = level(tmp_path, "# Work tracker\n- Be kind.\n- Be brief.\n")
    assert advisory.advise("delete_tracker", "delete tracker") == [
        "ℹ Advisory: Be kind.",
        "ℹ Advisory: Be brief.",
    ]
    assert advisory.advise("change", "rename task 1.1 to X") == []


def test_a_changed_claude_md_is_reread(tmp_path: Path) -> None:
    advisory = level(tmp_path, "# Work tracker\n- Old rule.\n")
    assert advisory.rules == ["Old rule."]
    path = tmp_path / "CLAUDE.md"
    path.write_text("# Work tracker\n- New rule!\n")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert advisory.rules == ["New rule!"]
    path.unlink()
    assert advisory.rules == []


def test_unreadable_claude_md_never_raises(tmp_path: Path) -> None:
    (tmp_path / "CLAUDE.md").mkdir()  # a folder where the file should be
    assert AdvisoryLevel(tmp_path, []).advise("delete_tracker", "delete tracker") == []


def test_a_claude_md_heading_with_a_long_run_of_hashes_is_read_in_linear_time() -> None:
    from tests.tracker.test_hostile_input import finishes
    from wtd.enforcement.advisory import parse_rules

    hostile = "# " + "#" * 200_000 + " x\n## Work tracker rules\n- Always add a verification\n"
    assert finishes(lambda: parse_rules(hostile)) == ["Always add a verification"]


def test_headings_are_found_as_the_former_pattern_found_them() -> None:
    import random
    import re

    from wtd.enforcement.advisory import _heading

    former = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
    rng = random.Random(7)
    pieces = ["#", " ", "\t", "a", "x #", "##", "  "]
    for _ in range(20_000):
        line = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        m = former.match(line)
        assert _heading(line) == ((len(m.group(1)), m.group(2)) if m else None), repr(line)
