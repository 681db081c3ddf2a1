"""Workspaces written by a wtd before the digest changed (32 or 40 hex digits), left
in the states a crash or offline edits leave: they open as wtd's own — the journal
replayed, not "adopted as found"; no view kept aside; retries answered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.test_digest_migration import OLD, Old, _legacy
from wtctl.connection import Session
from wtd import wire

pytestmark = pytest.mark.e2e


@pytest.fixture(params=OLD, ids=[old.folder for old in OLD])
def old(request: pytest.FixtureRequest) -> Old:
    found: Old = request.param
    return found


def _wal(ws: Workspace) -> bytes:
    return (ws.root / ".ecw" / "journal" / "my-project.wal").read_bytes()


def _kept_aside(ws: Workspace) -> list[str]:
    found = []
    for folder in ("conflicts", "quarantine"):
        path = ws.root / ".ecw" / folder
        if path.exists():
            found += [p.name for p in path.rglob("*") if p.is_file()]
    return found


def test_a_json_left_behind_the_old_journal_is_replayed_not_adopted(
    ws: Workspace, old: Old
) -> None:
    """The old wtd crashed after journalling its last changes and before writing the
    JSON (here: the JSON is still the state opening backed up)."""
    _legacy(ws, old)
    backups = ws.root / ".ecw" / "backups" / "my-project"
    backup = next(p for p in backups.iterdir() if p.suffix == ".json")
    ws.json.write_bytes(backup.read_bytes())
    ws.ok("show progress")
    assert b"adopted as found" not in _wal(ws).splitlines()[-1], ws.log()
    assert ws.task("1.3")["name"] == old.renamed_to
    assert ws.task("2.2")["status"] == "complete"
    ws.ok("undo")
    assert ws.task("1.3")["name"] != old.renamed_to, "undo did not reach the old records"


def test_a_torn_last_record_of_the_old_journal_whose_change_the_json_shows(
    ws: Workspace, old: Old
) -> None:
    """The old wtd wrote its last record, then the JSON, and the record's end was
    lost: the JSON shows the change, the retry of its request is answered."""
    _legacy(ws, old)
    wal = ws.root / ".ecw" / "journal" / "my-project.wal"
    lines = wal.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1][9:])
    wal.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    before = ws.json.read_bytes()
    ws.start_daemon()
    session = Session(str(ws.sock), autostart=False)
    try:
        reply: dict[str, Any] = session.ask(
            wire.request(
                f"rename task 1.3 to {old.renamed_to}",
                cwd=str(ws.root),
                tracker=str(ws.md),
                request_id=last["rid"],
            )
        )
    finally:
        session.close()
    assert reply["ok"], reply
    assert "applied before" in "\n".join(reply.get("lines", [])), reply
    assert ws.json.read_bytes() == before
    assert not _kept_aside(ws), _kept_aside(ws)


def test_both_files_edited_while_the_old_wtd_was_stopped_are_merged(
    ws: Workspace, old: Old
) -> None:
    before = _legacy(ws, old)
    data = json.loads(before["json"])
    for task in data["tasks"]:
        if task["id"] == "3.1":
            task["name"] = "Edited in the JSON"
    ws.json.write_text(json.dumps(data, indent=2) + "\n")
    view = before["view"].decode()
    row = next(line for line in view.splitlines() if line.startswith("| 3.2 |"))
    ws.md.write_text(view.replace(row, row.replace("⏳ Pending", "✅ Complete")))
    ws.ok("show progress")
    assert ws.task("3.1")["name"] == "Edited in the JSON"
    assert ws.task("3.2")["status"] == "complete", ws.log()
    assert not _kept_aside(ws), _kept_aside(ws)
