"""Files written before the content digest changed (blake2b, 32 hex digits) open
as wtd's own: the JSON is not "adopted" as if edited offline, the view is not kept
aside as a hand edit, and undo and history reach back past the change of format.

``tests/data/legacy-digest`` is a workspace written by the wtd before the change:
the example tracker opened, then five changes through wtctl (2.2 complete, 2.3 in
progress, task 3.4 added, sub-task 2.3.1 added, 1.3 renamed), then wtd stopped.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.e2e.conftest import Workspace

LEGACY = Path(__file__).parent.parent / "data" / "legacy-digest"
CHECKSUM = re.compile(r"JSON checksum:\*\* `([0-9a-f]+)`")


def _legacy(ws: Workspace) -> dict[str, bytes]:
    """Put the legacy workspace in place of the fixture's; return its files' bytes."""
    shutil.rmtree(ws.root / ".ecw")
    shutil.copytree(LEGACY / ".ecw", ws.root / ".ecw")
    shutil.copytree(LEGACY / "docs", ws.root / "docs")
    return {"json": ws.json.read_bytes(), "view": ws.md.read_bytes()}


def _digest_in_view(ws: Workspace) -> str:
    found = CHECKSUM.findall(ws.md.read_text())
    assert found, ws.md.read_text()
    return str(found[-1])


def test_files_written_with_the_legacy_digest_open_as_wtds_own(ws: Workspace) -> None:
    before = _legacy(ws)
    assert len(_digest_in_view(ws)) == 32  # the fixture is what it claims

    out = ws.ok("show progress")
    assert "Overall progress" in out
    # nothing was taken for a hand edit: both files are left byte for byte
    assert ws.json.read_bytes() == before["json"], ws.log()
    assert ws.md.read_bytes() == before["view"], ws.log()
    assert not (ws.root / ".ecw" / "conflicts").exists()
    assert not (ws.root / ".ecw" / "quarantine").exists()
    history = ws.ok("show history")
    assert "adopted" not in history.lower() and "changed while" not in history.lower(), history
    assert "renamed" in history.lower() or "1.3" in history, history


def test_the_first_change_after_the_upgrade_writes_the_new_digest_and_undo_reaches_back(
    ws: Workspace,
) -> None:
    _legacy(ws)
    ws.ok("mark task 3.1 complete")
    assert ws.task("3.1")["status"] == "complete"
    assert len(_digest_in_view(ws)) == 40, ws.md.read_text()
    # undo the new change, then one made before the upgrade (the rename of 1.3)
    ws.ok("undo")
    assert ws.task("3.1")["status"] != "complete"
    ws.ok("undo")
    assert ws.task("1.3")["name"] == "Write the contributor guide", ws.log()
    view = ws.md.read_text()
    assert "Write the contributor guide" in view and "Write the contributing guide" not in view


def test_a_view_edited_before_the_upgrade_is_merged_after_it(ws: Workspace) -> None:
    """A view saved by hand while the legacy wtd was stopped (carrying the legacy
    digest) merges into the JSON it was rendered from."""
    before = _legacy(ws)
    view = before["view"].decode()
    row = next(line for line in view.splitlines() if line.startswith("| 3.2 |"))
    assert "Pending" in row, row
    ws.md.write_text(view.replace(row, row.replace("⏳ Pending", "✅ Complete")))
    ws.ok("show progress")
    assert ws.task("3.2")["status"] == "complete", ws.log()
    assert not (ws.root / ".ecw" / "conflicts").exists(), ws.log()
    # the merged view is rendered anew, with the new digest
    assert len(_digest_in_view(ws)) == 40
