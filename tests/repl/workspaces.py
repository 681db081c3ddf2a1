"""Workspaces with more than one tracker, and hand edits of them (for the REPL tests)."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from tests.e2e.conftest import EXAMPLE, Workspace

OTHER = "02-auth"


def tracker_json(ws: Workspace, name: str) -> Path:
    return ws.root / ".ecw" / "plans" / f"{name}.json"


def add_tracker(ws: Workspace, name: str = OTHER, *, age: float = 3600.0) -> Path:
    """A copy of the example tracker named ``name``, changed ``age`` seconds ago: older
    than the example, so wtd's choice for "no tracker given" stays the example's."""
    path = tracker_json(ws, name)
    shutil.copy(EXAMPLE, path)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def hand_edit(path: Path, title: str = "Edited by hand") -> None:
    """Change the tracker's title as a person would, and make it the most recently
    changed tracker of its workspace (its mtime ahead of anything wtd writes now)."""
    data = json.loads(path.read_bytes())
    data["meta"]["title"] = title
    path.write_text(json.dumps(data, indent=2) + "\n")
    ahead = time.time() + 3600
    os.utime(path, (ahead, ahead))


def task_status(path: Path, task_id: str) -> str:
    data = json.loads(path.read_bytes())
    return str(next(t["status"] for t in data["tasks"] if t["id"] == task_id))
