"""End to end: a journal record that was damaged after its append reported success
(the ``corrupt`` failpoint: half the record, then garbage) costs no request its
at-most-once (SPEC §6): a retry of any request is answered, never applied again —
whether the damage sits in the middle of the journal or is its last write."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Workspace
from tests.e2e.test_watch import eventually
from wtctl.connection import ConnectionLost, Session, Unavailable, connect
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


def _request(ws: Workspace, rid: str, phrase: str) -> dict[str, Any]:
    return wire.request(phrase, cwd=str(ws.root), tracker=str(ws.md), request_id=rid)


def _config(ws: Workspace, text: str) -> None:
    config = Path(ws.env["XDG_CONFIG_HOME"]) / "wtd" / "wtd.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(text)


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


def test_a_damaged_record_at_the_end_of_a_rotated_segment_keeps_its_request_answered(
    ws: Workspace,
) -> None:
    """The damaged record is the last of a segment that a checkpoint then rotated:
    after a restart its request id is still known, so a retry is answered."""
    _config(ws, "[storage]\njournal_max_bytes = 64\n")  # every checkpoint rotates
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "journal.append=1*corrupt"})
    assert _ask(ws, "r-rot", "add task to phase 3: Only once")["ok"]
    rotated = ws.root / ".ecw" / "journal" / "my-project.wal.1"
    eventually(rotated.exists, "the journal rotated", ws.log)
    assert b"wtd-failpoint-corrupt" in rotated.read_bytes()
    ws.kill_daemon(signal.SIGKILL)

    ws.start_daemon(FAST)  # the client, which lost the reply, retries after a restart
    again = _ask(ws, "r-rot", "add task to phase 3: Only once")
    assert again["ok"], again
    assert "applied before" in _lines(again), again
    assert _names(ws).count("Only once") == 1, "the retry applied the change a second time"
    assert _ask(ws, "r-next", "mark task 2.3 complete")["ok"]  # and the journal goes on


def test_a_damaged_group_commit_whose_change_was_written_answers_its_retries(
    ws: Workspace,
) -> None:
    """Two requests committed together (group commit), their append damaged (half of
    it, then garbage), the JSON written, then a crash before the replies. The JSON
    shows both changes; of the two records, what is whole is kept and the damaged
    one's header still shows its request id: both retries are answered."""
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon(
        {
            **FAST,
            # the first change's JSON write is slow, so the next two queue into one
            # batch; that batch's append is damaged, and wtd dies once its JSON is written
            "WT_FAILPOINTS": (
                "store.write=1*delay(1500);journal.append=1+1*corrupt;render.write=1+1*crash"
            ),
        }
    )
    first: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: first.update(_ask(ws, "r-first", "mark task 2.2 complete"))
    )
    thread.start()
    plans = ws.json.parent
    eventually(lambda: any(plans.glob(".my-project.json.*.tmp")), "the slow JSON write", ws.log)
    long_name = "Big " + "x" * 190  # its record is more than half of the batch's bytes
    asked = {
        "r-big": f"add task to phase 3: {long_name}",
        "r-small": "mark task 2.3 in progress",
    }
    conns = [connect(str(ws.sock), autostart=False) for _ in asked]
    for conn, (rid, phrase) in zip(conns, asked.items(), strict=True):
        conn.send(_request(ws, rid, phrase))  # queued while the store is held up
    for conn in conns:
        with pytest.raises(ConnectionLost):  # wtd died before answering
            conn.receive()
        conn.close()
    thread.join(30)
    assert first.get("ok"), first
    tail = ws.root.joinpath(".ecw", "journal", "my-project.wal").read_bytes().splitlines()[-1]
    assert b"wtd-failpoint-corrupt" in tail, tail
    assert _names(ws).count(long_name) == 1 and ws.task("2.3")["status"] == "in_progress"

    ws.start_daemon(FAST)
    again = {rid: _ask(ws, rid, phrase) for rid, phrase in asked.items()}
    assert all(reply["ok"] for reply in again.values()), again
    assert any("applied before" in _lines(reply) for reply in again.values()), again
    assert _names(ws).count(long_name) == 1, "a retry applied the change a second time"
    history = ws.ok("history")
    assert history.count("Task 2.3 marked in_progress") <= 1, history


def test_damage_to_the_journals_first_record_keeps_the_intact_requests_answered(
    ws: Workspace,
) -> None:
    """Only the journal's very first record (wtd's own anchor) is damaged; every
    request after it is intact: a retry of one is answered, not applied again."""
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "journal.append=1*corrupt"})
    assert _ask(ws, "r-one", "add task to phase 3: Only once")["ok"]
    assert _ask(ws, "r-two", "mark task 2.2 complete")["ok"]
    wal = ws.root / ".ecw" / "journal" / "my-project.wal"
    assert b"wtd-failpoint-corrupt" in wal.read_bytes().splitlines()[0]
    ws.kill_daemon(signal.SIGKILL)

    ws.start_daemon(FAST)
    again = _ask(ws, "r-one", "add task to phase 3: Only once")
    assert again["ok"], again
    assert _names(ws).count("Only once") == 1, "the retry applied the change a second time"


def test_a_torn_tail_with_a_stray_header_marks_only_the_torn_append(ws: Workspace) -> None:
    """The last record is damaged (its change is in the JSON) and the damaged bytes
    also hold a stray header with a far-off seq (stale blocks after a power cut):
    only the torn append's record is marked, and the stray request id means nothing."""
    ws.ok("show progress")
    assert _ask(ws, "r-last", "add task to phase 3: Only once")["ok"]
    ws.kill_daemon(signal.SIGKILL)
    wal = ws.root / ".ecw" / "journal" / "my-project.wal"
    lines = wal.read_bytes().splitlines(keepends=True)
    last = lines[-1]
    stray = b'\x00\xff{"seq":200000,"rid":"someone-else","at":"2020-01-01T00:00:00Z"'
    wal.write_bytes(b"".join(lines[:-1]) + last[: len(last) // 2] + stray + b"\n")

    ws.start_daemon(FAST)
    again = _ask(ws, "r-last", "add task to phase 3: Only once")
    assert again["ok"] and "applied before" in _lines(again), again
    assert _names(ws).count("Only once") == 1
    assert len(wal.read_bytes().splitlines()) == len(lines)  # the one record, marked
    other = _ask(ws, "someone-else", "add task to phase 3: Someone else's")
    assert other["ok"] and "applied before" not in _lines(other), other
    assert "Someone else's" in _names(ws)


def test_a_hand_edit_that_finds_the_journal_damaged_has_it_repaired_and_is_taken_over(
    ws: Workspace,
) -> None:
    """Merging a hand edit reads the journal back; a record there went bad after its
    append. The journal is rebuilt around the damage then and there, and the edit is
    taken over — not left waiting for the next request."""
    ws.ok("show progress")
    ws.kill_daemon()
    ws.start_daemon({**FAST, "WT_FAILPOINTS": "journal.append=1*corrupt"})
    assert _ask(ws, "r-add", "add task to phase 3: Only once")["ok"]  # its record is damaged
    assert _ask(ws, "r-mark", "mark task 2.2 complete")["ok"]
    data = ws.data()
    for task in data["tasks"]:
        if task["id"] == "3.2":
            task["name"] = "Renamed in the JSON"
    ws.json.write_text(json.dumps(data, indent=2) + "\n")  # merged against the journal
    eventually(lambda: "Renamed in the JSON" in ws.md.read_text(), "the edit taken over", ws.log)
    quarantine = ws.root / ".ecw" / "quarantine"
    assert any(path.name.endswith(".wal") for path in quarantine.rglob("*")), ws.log()
    assert _names(ws).count("Only once") == 1
    again = _ask(ws, "r-add", "add task to phase 3: Only once")  # its first reply, again
    assert again["ok"], again
    assert _names(ws).count("Only once") == 1
