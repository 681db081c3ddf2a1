"""End to end: hand edits of the files wtd serves are seen and merged (SPEC §3, §6)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import Workspace

pytestmark = pytest.mark.e2e

DEADLINE = 10.0


def eventually(check: Callable[[], bool], what: str) -> None:
    """Poll a file-system outcome with a deadline (the watcher has no other signal)."""
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.01)


def editor_save(path: Path, text: str) -> None:
    """Save like editors do: write a temp file beside it, then rename over it."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_a_valid_json_hand_edit_is_adopted_and_rendered(ws: Workspace) -> None:
    ws.ok("show progress")
    data = ws.data()
    data["tasks"][0]["name"] = "Renamed by hand"
    data["x_note"] = "kept"
    editor_save(ws.json, json.dumps(data))
    eventually(lambda: "Renamed by hand" in ws.md.read_text(), "the view to show the edit")
    assert ws.data()["x_note"] == "kept"
    history = ws.ok("history")
    assert "hand-edit" in history and "Adopted a hand edit of my-project.json" in history
    ws.ok("undo")
    assert ws.task("1.1")["name"] == "Create repository and packaging"


def test_a_broken_json_edit_is_repaired_and_kept(ws: Workspace) -> None:
    ws.ok("mark task 2.3 in progress")
    good = ws.json.read_bytes()
    ws.json.write_bytes(b'{"schema_version": "2.1.0", "meta": {')  # and it stays broken
    quarantine = ws.root / ".ecw" / "quarantine" / "my-project"

    def kept() -> bool:
        return any(
            p.read_bytes() == b'{"schema_version": "2.1.0", "meta": {'
            for p in quarantine.glob("*my-project.json")
        )

    eventually(kept, "the broken JSON to be kept in quarantine")
    eventually(lambda: ws.json.read_bytes() == good, "the JSON to be rewritten")


def test_a_json_caught_mid_write_is_not_mistaken_for_damage(ws: Workspace) -> None:
    ws.ok("show progress")
    data = ws.data()
    data["tasks"][1]["name"] = "Written in two steps"
    text = json.dumps(data)
    with ws.json.open("w") as f:  # a writer that truncates, then writes in two parts
        f.write(text[: len(text) // 2])
        f.flush()
        time.sleep(0.01)
        f.write(text[len(text) // 2 :])
    eventually(lambda: "Written in two steps" in ws.md.read_text(), "the adopted edit")
    assert ws.task("1.2")["name"] == "Written in two steps"


def test_wtds_own_writes_are_not_taken_for_hand_edits(ws: Workspace) -> None:
    for n in range(5):
        ws.ok(f"add task to phase 3: own {n}")
    history = ws.ok("history")
    assert "hand-edit" not in history
    assert not (ws.root / ".ecw" / "quarantine").exists()


def test_the_plans_folder_deleted_and_recreated_is_watched_again(ws: Workspace) -> None:
    ws.ok("show progress")
    saved = ws.md.read_text()
    ws.md.unlink()
    ws.md.parent.rmdir()
    ws.md.parent.mkdir()
    ws.md.write_text(saved)
    ws.ok("show progress")  # still served
    data = ws.data()
    data["tasks"][2]["name"] = "Seen after the folder came back"
    editor_save(ws.json, json.dumps(data))
    eventually(lambda: "Seen after the folder came back" in ws.md.read_text(), "the view")
