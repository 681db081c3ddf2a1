"""End to end: what wtd does with the files it finds (v1 trackers, foreign edits)."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from tests.e2e.conftest import Workspace

pytestmark = pytest.mark.e2e

V1 = {
    "meta": {"title": "Legacy plan"},
    "phases": [{"number": 1, "name": "Only phase", "status": "In Progress"}],
    "tasks": [
        {
            "id": "1.1",
            "phase": 1,
            "name": "Old task",
            "status": "COMPLETE",
            "subtasks": [{"name": "first", "completed": True}, {"name": "second"}],
        },
        {"id": "1.2", "phase": 1, "name": "Another", "status": "pending", "x_keep": [1, 2]},
    ],
}


def test_v1_tracker_is_migrated_after_a_backup(ws: Workspace, schema: dict[str, Any]) -> None:
    original = json.dumps(V1).encode()
    ws.json.write_bytes(original)
    out = ws.ok("show progress")
    assert out.splitlines()[0] == "Overall progress: 50%"
    data = ws.data()
    jsonschema.validate(data, schema)
    assert data["schema_version"].startswith("2.")
    assert [s["name"] for s in data["subtasks"]] == ["first", "second"]
    assert data["subtasks"][0]["completed"] is True
    assert ws.task("1.2")["x_keep"] == [1, 2]
    backups = list((ws.root / ".ecw" / "backups" / "my-project").glob("*.json"))
    assert any(b.read_bytes() == original for b in backups)
    assert "- [x] 1.1.1: first" in ws.md.read_text()


def test_each_opening_backs_up_the_json_as_found_once_per_content(ws: Workspace) -> None:
    folder = ws.root / ".ecw" / "backups" / "my-project"

    def backups() -> list[bytes]:
        return [p.read_bytes() for p in sorted(folder.glob("*.json"))]

    found = ws.json.read_bytes()
    ws.ok("show progress")
    assert backups() == [found]
    ws.ok("mark task 2.2 complete")
    changed = ws.json.read_bytes()
    ws.kill_daemon()
    ws.ok("show progress")  # opened again, the JSON changed since the last backup
    assert backups() == [found, changed]
    ws.kill_daemon()
    ws.ok("show progress")  # and once more, nothing changed: no copy of the same bytes
    assert backups() == [found, changed]
    log = (folder / "backups.log").read_text().splitlines()
    assert [line.split(" ", 1)[1] for line in log] == ["open", "open"]
    assert not list(folder.glob(".*"))  # no temporary file left


def test_a_json_that_does_not_decode_is_never_backed_up(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    data = ws.data()
    data["tasks"][1]["id"] = "1.1"  # a duplicate id: valid JSON, no valid tracker
    bad = json.dumps(data, indent=2).encode()
    ws.json.write_bytes(bad)
    proc = ws.wtctl("show progress")
    assert "is corrupted (TrackerError)" in proc.stdout  # and repaired from the backup
    folder = ws.root / ".ecw" / "backups" / "my-project"
    assert bad not in [p.read_bytes() for p in folder.iterdir()]
    assert not list(folder.glob(".*"))  # no temporary file left


def test_unparseable_tracker_without_backup_is_a_clear_error_and_untouched(ws: Workspace) -> None:
    ws.json.write_bytes(b'{"schema_version": "2.1.0", "meta": ')
    proc = ws.wtctl("show progress")
    assert proc.returncode == 1
    assert "is damaged" in proc.stderr and "no valid backup" in proc.stderr
    assert ws.json.read_bytes() == b'{"schema_version": "2.1.0", "meta": '
