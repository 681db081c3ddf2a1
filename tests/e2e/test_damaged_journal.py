"""End to end: a journal record that was damaged after its append reported success
(the ``corrupt`` failpoint: half the record, then garbage) costs no request its
at-most-once (SPEC §6): a retry of any request is answered, never applied again —
whether the damage sits in the middle of the journal or is its last write."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from wtctl.connection import ConnectionLost, Session, Unavailable
from wtd import wire

pytestmark = pytest.mark.e2e

FAST = {"WT_RETRY_DELAY": "0.01"}


def _ask(ws: Workspace, rid: str, phrase: str) -> dict[str, Any]:
    session = Session(str(ws.sock), autostart=False)
    try:
        return session.ask(
            wire.request(phrase, cwd=str(ws.root), tracker=str(ws.md), request_id=rid)
        )
    finally:
        session.close()


def _lines(reply: dict[str, Any]) -> str:
    return "\n".join(reply.get("lines", []) + reply.get("healing", []))


def _names(ws: Workspace) -> list[str]:
    return [task["name"] for task in ws.data()["tasks"]]


def test_retries_after_a_record_damaged_in_the_middle_are_answered_not_applied(
    ws: Workspace,
) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "journal.append=1+1*corrupt"})
    asked = [
        ("r-mark", "mark task 2.2 complete"),
        ("r-add", "add task to phase 3: Only once"),  # its record is damaged
        ("r-mark3", "mark task 2.3 complete"),
        ("r-undo", "undo"),  # undoes that mark
    ]
    replies = [_ask(ws, rid, phrase) for rid, phrase in asked]
    assert all(reply["ok"] for reply in replies), replies
    # undo reads the journal back, finds the damage and has it repaired at once
    assert "the journal is damaged in the middle" in _lines(replies[-1]), replies[-1]
    assert "1 with its request id" in _lines(replies[-1]), replies[-1]
    assert _names(ws).count("Only once") == 1
    assert ws.task("2.3")["status"] != "complete"
    ws.kill_daemon(signal.SIGKILL)
    before = ws.json.read_bytes()

    ws.start_daemon(FAST)
    for rid, phrase in asked:
        reply = _ask(ws, rid, phrase)
        assert reply["ok"], (rid, reply)
    again = _ask(ws, "r-add", "add task to phase 3: Only once")
    assert "applied before" in _lines(again), again
    assert ws.json.read_bytes() == before, "a retry changed the tracker"
    assert ws.task("2.2")["status"] == "complete"
    assert ws.task("2.3")["status"] != "complete"
    assert _names(ws).count("Only once") == 1
    quarantine = ws.root / ".ecw" / "quarantine"
    assert any("wal" in path.name for path in quarantine.rglob("*")), "damaged journal not kept"

    # the journal goes on: a new change, then undo reaches it
    assert _ask(ws, "r-new", "mark task 2.3 complete")["ok"]
    assert _ask(ws, "r-undo2", "undo")["ok"]
    assert ws.task("2.3")["status"] != "complete"
    history = ws.ok("history")
    assert "#4 " in history and "journal record was damaged" in history, history


def test_a_damaged_last_record_whose_change_was_written_is_answered_on_retry(
    ws: Workspace,
) -> None:
    """The damaged record is the journal's last write, the JSON was written, and wtd
    crashed before replying: the JSON shows the change (its digest is still readable
    in the damaged record's header), so the retry is answered, not applied twice."""
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "journal.append=1*corrupt;render.write=1*crash"})
    with pytest.raises((ConnectionLost, Unavailable)):  # wtd dies mid-request, as planned
        _ask(ws, "r-add", "add task to phase 3: Only once")
    assert _names(ws).count("Only once") == 1, "the JSON was not written before the crash"

    ws.start_daemon(FAST)
    reply = _ask(ws, "r-add", "add task to phase 3: Only once")
    assert reply["ok"], reply
    assert "applied before" in _lines(reply), reply
    assert _names(ws).count("Only once") == 1, "the retry applied the change a second time"
    assert "Only once" in ws.md.read_text()
    # and the journal leads to the file as it is: a restart replays nothing, adopts nothing
    ws.kill_daemon(signal.SIGKILL)
    before = ws.json.read_bytes()
    ws.start_daemon(FAST)
    assert "Overall progress" in ws.ok("show progress")
    assert ws.json.read_bytes() == before


def test_a_torn_last_record_whose_change_was_never_written_is_applied_on_retry(
    ws: Workspace,
) -> None:
    """The other side of the same rule: a torn last record whose change no file shows
    (a crash mid-append) was never acknowledged, and its retry applies it once."""
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "journal.append=1*crash"})
    with pytest.raises((ConnectionLost, Unavailable)):  # wtd dies mid-request, as planned
        _ask(ws, "r-add", "add task to phase 3: Only once")
    assert _names(ws).count("Only once") == 0

    ws.start_daemon(FAST)
    reply = _ask(ws, "r-add", "add task to phase 3: Only once")
    assert reply["ok"], reply
    assert "applied before" not in _lines(reply)
    assert _names(ws).count("Only once") == 1


def test_damage_that_cannot_be_bridged_starts_a_fresh_journal_from_the_tracker(
    ws: Workspace,
) -> None:
    for i in range(3):
        ws.ok(f"add task to phase 1: journalled {i}")
    before = ws.data()
    ws.kill_daemon()
    wal = ws.root / ".ecw" / "journal" / "my-project.wal"
    lines = wal.read_bytes().splitlines(keepends=True)
    # garbage, then a record whose seq goes back: no marker can stand for what is lost
    wal.write_bytes(b"".join([*lines, b"garbage\n", lines[0]]))
    ws.start_daemon(FAST)
    proc = ws.wtctl("show progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "started a fresh journal from the tracker as it is" in proc.stdout
    assert ws.data()["tasks"] == before["tasks"]
    ws.ok("add task to phase 1: after the repair")
