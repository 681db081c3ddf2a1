"""Files written before the content digest changed open as wtd's own: the JSON is
not "adopted" as if edited offline, the view is not kept aside as a hand edit, and
undo and history reach back past the change of format.

Two workspaces, each written by a wtd before a change of format: the example tracker
opened, then five changes through wtctl (2.2 complete, 2.3 in progress, task 3.4
added, sub-task 2.3.1 added, 1.3 renamed), then wtd stopped. ``legacy-digest`` has
blake2b digests (32 hex digits), ``sha256-digest`` flat SHA-256 ones (40).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace
from wtd.tracker import model

DATA = Path(__file__).parent.parent / "data"


@dataclass(frozen=True)
class Old:
    folder: str
    digits: int
    renamed_to: str  # the name the fifth change gave task 1.3


OLD = [
    Old("legacy-digest", 32, "Write the contributing guide"),
    Old("sha256-digest", 40, "Renamed before the upgrade"),
]


@pytest.fixture(params=OLD, ids=[old.folder for old in OLD])
def old(request: pytest.FixtureRequest) -> Old:
    found: Old = request.param
    return found


CHECKSUM = re.compile(r"JSON checksum:\*\* `([0-9a-f]+)`")


def _legacy(ws: Workspace, old: Old) -> dict[str, bytes]:
    """Put the old workspace in place of the fixture's; return its files' bytes."""
    shutil.rmtree(ws.root / ".ecw")
    shutil.copytree(DATA / old.folder / ".ecw", ws.root / ".ecw")
    shutil.copytree(DATA / old.folder / "docs", ws.root / "docs")
    return {"json": ws.json.read_bytes(), "view": ws.md.read_bytes()}


def _digest_in_view(ws: Workspace) -> str:
    found = CHECKSUM.findall(ws.md.read_text())
    assert found, ws.md.read_text()
    return str(found[-1])


def test_files_written_with_an_older_digest_open_as_wtds_own(ws: Workspace, old: Old) -> None:
    before = _legacy(ws, old)
    assert len(_digest_in_view(ws)) == old.digits  # the fixture is what it claims

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
    ws: Workspace, old: Old
) -> None:
    _legacy(ws, old)
    assert ws.task("1.3")["name"] == old.renamed_to
    ws.ok("mark task 3.1 complete")
    assert ws.task("3.1")["status"] == "complete"
    assert len(_digest_in_view(ws)) == model.CHECKSUM_HEX, ws.md.read_text()
    # undo the new change, then one made before the upgrade (the rename of 1.3)
    ws.ok("undo")
    assert ws.task("3.1")["status"] != "complete"
    ws.ok("undo")
    assert ws.task("1.3")["name"] == "Write the contributor guide", ws.log()
    view = ws.md.read_text()
    assert "Write the contributor guide" in view and old.renamed_to not in view


def test_a_view_edited_before_the_upgrade_is_merged_after_it(ws: Workspace, old: Old) -> None:
    """A view saved by hand while the old wtd was stopped (carrying the old digest)
    merges into the JSON it was rendered from."""
    before = _legacy(ws, old)
    view = before["view"].decode()
    row = next(line for line in view.splitlines() if line.startswith("| 3.2 |"))
    assert "Pending" in row, row
    ws.md.write_text(view.replace(row, row.replace("⏳ Pending", "✅ Complete")))
    ws.ok("show progress")
    assert ws.task("3.2")["status"] == "complete", ws.log()
    assert not (ws.root / ".ecw" / "conflicts").exists(), ws.log()
    # the merged view is rendered anew, with the new digest
    assert len(_digest_in_view(ws)) == model.CHECKSUM_HEX
