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


def test_unparseable_tracker_without_backup_is_a_clear_error_and_untouched(ws: Workspace) -> None:
    ws.json.write_bytes(b'{"schema_version": "2.1.0", "meta": ')
    proc = ws.wtctl("show progress")
    assert proc.returncode == 1
    assert "is damaged" in proc.stderr and "no valid backup" in proc.stderr
    assert ws.json.read_bytes() == b'{"schema_version": "2.1.0", "meta": '
