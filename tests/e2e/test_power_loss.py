"""The durability model of SPEC §6, proven by crashing on purpose.

The journal's fsync is the durability point; the JSON and the view are replaced
before each reply without their own fsync (a checkpoint makes them durable later).
A power cut can therefore leave either file older than the journal, short, or
empty. Each test makes acknowledged changes through wtctl, kills wtd with SIGKILL,
then leaves the files as a power cut could (the journal intact), and checks that
the next wtd started by wtctl's autostart shows every acknowledged change.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import SCHEMA, Workspace
from tests.e2e.test_watch import eventually
from wtctl.connection import Session
from wtd import wire

CHANGES = [
    ("mark task 2.3 complete", "2.3", "status", "complete"),
    ("rename task 3.1 to Write the release notes", "3.1", "name", "Write the release notes"),
    ("mark task 3.2 in progress", "3.2", "status", "in_progress"),
    ("add task to phase 3: Announce it", None, "name", "Announce it"),
]


def _acknowledged(ws: Workspace) -> bytes:
    """Serve the tracker, make the first change, keep the files as they are then (the
    last checkpoint a power cut could go back to), make the others."""
    ws.ok(CHANGES[0][0])
    kept = ws.json.read_bytes()
    for phrase, *_ in CHANGES[1:]:
        ws.ok(phrase)
    return kept


def _shows_every_change(ws: Workspace) -> None:
    data = ws.data()
    tasks = {t["id"]: t for t in data["tasks"]}
    for _phrase, tid, field, value in CHANGES:
        if tid is None:
            assert any(t.get(field) == value for t in data["tasks"]), (value, ws.log())
        else:
            assert tasks[tid][field] == value, (tid, field, tasks[tid][field], ws.log())
    view = ws.md.read_text()
    assert "| 2.3 |" in view and "Write the release notes" in view and "Announce it" in view
    assert "🔄 In Progress" in view.split("| 3.2 |", 1)[1].split("\n", 1)[0]
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(data, json.loads(SCHEMA.read_text()))


def _older(kept: bytes) -> Callable[[Path], object]:
    return lambda path: path.write_bytes(kept)


POWER_CUTS: dict[str, Callable[[bytes], Callable[[Path], object]]] = {
    "older": _older,
    "truncated": lambda kept: lambda path: path.write_bytes(path.read_bytes()[:1000]),
    "empty": lambda kept: lambda path: path.write_bytes(b""),
}


@pytest.mark.parametrize("cut", sorted(POWER_CUTS))
def test_a_power_cut_that_leaves_the_json_behind_loses_no_acknowledged_change(
    ws: Workspace, cut: str
) -> None:
    kept = _acknowledged(ws)
    ws.kill_daemon(signal.SIGKILL)
    POWER_CUTS[cut](kept)(ws.json)
    out = ws.ok("show progress")
    assert "Overall progress" in out
    _shows_every_change(ws)


@pytest.mark.parametrize("cut", ["truncated", "empty"])
def test_a_power_cut_that_leaves_the_view_behind_is_rendered_again(ws: Workspace, cut: str) -> None:
    _acknowledged(ws)
    ws.kill_daemon(signal.SIGKILL)
    POWER_CUTS[cut](b"")(ws.md)
    ws.ok("show progress")
    _shows_every_change(ws)


def _grow(ws: Workspace, tasks: int) -> None:
    """``tasks`` more tasks in phase 1: a JSON of over 256 KiB, whose commits write
    the files' bytes beside them in a thread while the journal is fsync'd."""
    data = json.loads(ws.json.read_bytes())
    data["tasks"] += [
        {"id": f"1.{n}", "phase": 1, "name": f"Filler task number {n}", "status": "pending"}
        for n in range(100, 100 + tasks)
    ]
    ws.json.write_text(json.dumps(data, indent=2))


@pytest.mark.parametrize("tasks", [0, 2500])
def test_a_power_cut_that_leaves_both_files_behind_loses_no_acknowledged_change(
    ws: Workspace, tasks: int
) -> None:
    _grow(ws, tasks)
    ws.ok("show progress")
    assert tasks == 0 or ws.json.stat().st_size > 256 * 1024
    view_kept = ws.md.read_bytes()
    kept = _acknowledged(ws)
    ws.kill_daemon(signal.SIGKILL)
    ws.json.write_bytes(kept)
    ws.md.write_bytes(view_kept)
    ws.ok("show progress")
    _shows_every_change(ws)
    conflicts = ws.root / ".ecw" / "conflicts"
    assert not conflicts.exists() or not any(conflicts.rglob("*")), "an older view is no edit"
    leftovers = [*ws.json.parent.glob(".*.tmp"), *ws.md.parent.glob(".*.tmp")]
    assert not leftovers, leftovers


def test_a_stopped_wtd_leaves_durable_files_that_match_the_journal(ws: Workspace) -> None:
    """SIGTERM takes the last checkpoint: the files on disk are the journal's state,
    so the next start replays nothing."""
    _acknowledged(ws)
    ws.kill_daemon(signal.SIGTERM)
    log_before = ws.log()
    ws.ok("show progress")
    assert "replayed" not in ws.log()[len(log_before) :]
    _shows_every_change(ws)


@pytest.mark.parametrize("cut", ["older", "empty"])
def test_a_json_edited_while_wtd_was_away_survives_a_later_power_cut(
    ws: Workspace, cut: str
) -> None:
    """wtd adopts a JSON edited while it was stopped (the journal holds no state like
    it) only once that file is durable, so a power cut after more changes goes back
    at most to it, and the journal brings back everything after it."""
    ws.ok("show progress")
    ws.kill_daemon(signal.SIGKILL)
    data = json.loads(ws.json.read_bytes())
    next(t for t in data["tasks"] if t["id"] == "1.1")["name"] = "Renamed while wtd was away"
    edited = json.dumps(data, indent=2).encode()
    ws.json.write_bytes(edited)
    kept = _acknowledged(ws)
    assert "Renamed while wtd was away" in kept.decode()
    ws.kill_daemon(signal.SIGKILL)
    ws.json.write_bytes(edited if cut == "older" else b"")
    ws.ok("show progress")
    _shows_every_change(ws)
    assert ws.task("1.1")["name"] == "Renamed while wtd was away"


def test_changes_replayed_onto_a_lagging_offline_edit_survive_a_power_cut(
    ws: Workspace,
) -> None:
    """A JSON edited while wtd was away, from a copy older than the journal, gets the
    journalled changes it missed applied on top; those are journalled again after the
    adoption, so that a power cut that empties the file (rebuilt from the backup
    taken at the adoption plus the journal) still shows them."""
    ws.ok("show progress")
    lagging = json.loads(ws.json.read_bytes())
    ws.ok("mark task 2.3 complete")
    ws.kill_daemon(signal.SIGKILL)
    next(t for t in lagging["tasks"] if t["id"] == "1.1")["name"] = "Edited from an old copy"
    ws.json.write_bytes(json.dumps(lagging, indent=2).encode())
    ws.ok("show progress")
    assert ws.task("2.3")["status"] == "complete"  # the missed change, on top
    ws.kill_daemon(signal.SIGKILL)
    ws.json.write_bytes(b"")
    ws.ok("show progress")
    assert ws.task("2.3")["status"] == "complete"
    assert ws.task("1.1")["name"] == "Edited from an old copy"


def test_a_view_older_than_an_adopted_json_never_reverts_it(ws: Workspace) -> None:
    """A JSON edited while wtd was away is adopted; a crash or power cut then leaves
    the view as it was before. That view is not read as an edit against the adopted
    state (the journal cannot walk back past an adoption): the JSON's edit stays."""
    ws.ok("show progress")
    old_view = ws.md.read_bytes()
    ws.kill_daemon(signal.SIGKILL)
    data = json.loads(ws.json.read_bytes())
    next(t for t in data["tasks"] if t["id"] == "1.1")["name"] = "Edited while wtd was away"
    ws.json.write_bytes(json.dumps(data, indent=2).encode())
    ws.ok("show progress")
    ws.kill_daemon(signal.SIGKILL)
    ws.md.write_bytes(old_view)
    ws.ok("show progress")
    assert ws.task("1.1")["name"] == "Edited while wtd was away"
    assert "Edited while wtd was away" in ws.md.read_text()


def test_checkpoints_taken_under_a_steady_load_lose_nothing_to_a_power_cut(ws: Workspace) -> None:
    """Under a steady load the files are checkpointed (fsync'd, backed up, the journal
    rotated) beside the changes, at the latest every 2 s. A power cut after several
    such checkpoints — the JSON left empty — loses no acknowledged change: it is
    rebuilt from a checkpoint's backup and the journal kept since."""
    config = Path(ws.env["XDG_CONFIG_HOME"]) / "wtd" / "wtd.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[storage]\nbackup_every = 5\njournal_max_bytes = 8192\n")
    ws.ok("show progress")
    backups = ws.root / ".ecw" / "backups" / "my-project"
    before = set(backups.iterdir())
    session = Session(str(ws.sock), autostart=False)  # one connection, as an agent keeps
    names: list[str] = []
    deadline = time.monotonic() + 60
    # changes one after the other until two checkpoints under load have taken backups
    while len(set(backups.iterdir()) - before) < 3 and time.monotonic() < deadline:
        name = f"Steady {len(names) + 1}"
        phrase = f"rename task 3.1 to {name}"
        reply = session.ask(wire.request(phrase, cwd=str(ws.root), tracker=str(ws.md)))
        assert reply["ok"], reply
        names.append(name)
    session.close()
    assert len(set(backups.iterdir()) - before) >= 3, "no checkpoint under load took a backup"
    assert list((ws.root / ".ecw" / "journal").glob("my-project.wal.*")), (
        "the journal never rotated"
    )
    ws.kill_daemon(signal.SIGKILL)
    ws.json.write_bytes(b"")
    ws.md.write_bytes(b"")
    assert "Overall progress" in ws.ok("show progress")
    assert ws.task("3.1")["name"] == names[-1], ws.log()
    assert f"| {names[-1]} |" in ws.md.read_text()


def test_wtd_rewrites_a_served_trackers_files_when_it_starts_before_anyone_asks(
    ws: Workspace, tmp_path: Path
) -> None:
    """SPEC §6: on start the files are checked against the journal. A program that
    reads the JSON itself after a power cut (no wtctl call on that tracker) finds
    every acknowledged change once wtd is up again — here started by a wtctl call
    about another workspace."""
    kept = _acknowledged(ws)
    ws.kill_daemon(signal.SIGKILL)
    ws.json.write_bytes(kept)  # the power cut took the JSON back
    ws.md.write_bytes(b"")
    other = tmp_path / "other"
    (other / ".ecw" / "plans").mkdir(parents=True)
    (other / ".ecw" / "plans" / "notes.json").write_bytes(kept)
    proc = ws.wtctl(
        "--tracker", str(other / "docs" / "plans" / "notes.md"), "show progress", tracker=False
    )
    assert proc.returncode == 0, proc.stderr
    eventually(  # wtd's own background work: no other signal to wait for
        lambda: ws.json.read_bytes() != kept and bool(ws.md.read_bytes()),
        "the files rewritten at start",
        ws.log,
    )
    _shows_every_change(ws)
    assert "checked at start" in ws.log()


def test_what_a_crash_left_mid_write_is_cleared_when_the_tracker_is_opened(
    ws: Workspace,
) -> None:
    """A kill between a temp file's write and its rename leaves it beside the file
    (a `git status` shows it); the next wtd clears wtd's own, nothing else."""
    ws.ok("show progress")
    ws.kill_daemon(signal.SIGKILL)
    stale = [p.with_name(f".{p.name}.0123456789ab.tmp") for p in (ws.json, ws.md)]
    for path in stale:
        path.write_bytes(b'{"half a')
    theirs = ws.json.with_name(".notes.tmp")
    theirs.write_bytes(b"someone else's")
    ws.ok("show progress")
    assert not [p for p in stale if p.exists()]
    assert theirs.read_bytes() == b"someone else's"
