"""The fixed text of the layout: table headers, section headings, the phase heading
pattern and the name of an unlisted phase.
"""

from __future__ import annotations

import re
from typing import Final

TASK_HEADER: Final = "| ID | Task | Status | Verification |"
_TASK_RULE: Final = "|----|------|--------|--------------|"
TASK_HEADER_B: Final = TASK_HEADER.encode()
TASK_RULE_B: Final = _TASK_RULE.encode()
SUMMARY_HEADER: Final = "| Phase | Name | Status | Progress | Complete |"
SUMMARY_RULE: Final = "|-------|------|--------|----------|----------|"
# The name shown for a phase number that tasks use but the phase list lacks.
UNLISTED: Final = "(unlisted)"
UNLISTED_NOTE: Final = "> **Note:** this phase is not in the tracker's phase list"
NOTES_HEADING: Final = "## Notes"
TASK_NOTES_HEADING: Final = "#### Notes"
PHASE_HEADING: Final = re.compile(r"Phase[ \t]+(-?\d+)[ \t]*(?::[ \t]*(.*))?$", re.IGNORECASE)
"""The text of a phase's heading (``Phase N: name``), after the ``#`` marks."""
CLAIMS_HEADING: Final = "## Claims"
CLAIMS_HEADER: Final = "| Task | Claimed by | Until |"
CLAIMS_RULE: Final = "|------|------------|-------|"
"""Who works on what (SPEC §12): derived from the tasks' claims, like the Progress
Summary; editing it means nothing (claims change through wtctl)."""
