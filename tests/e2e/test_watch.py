"""End to end: hand edits of the files wtd serves are seen and merged (SPEC §3, §6)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import EXAMPLE, Workspace

pytestmark = pytest.mark.e2e

DEADLINE = 10.0


def eventually(
    check: Callable[[], bool], what: str, context: Callable[[], str] = lambda: ""
) -> None:
    """Poll a file-system outcome with a deadline (the watcher has no other signal)."""
    end = time.monotonic() + DEADLINE
    while not check():
        assert time.monotonic() < end, f"timed out waiting for {what}\n{context()[-4000:]}"
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
    # it was replaced, never missing: agents reading it meanwhile always find a file
    told = ws.ok("show progress")  # the next caller hears what happened, and why
    assert "✓ Issue: not valid JSON" in told and "kept at .ecw/quarantine" in told, told
    assert "✓ Issue" not in ws.ok("show progress")  # once
    why = next(quarantine.glob("*.why.txt")).read_text()
    assert "not valid JSON" in why, why


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
    ws.md.parent.mkdir(exist_ok=True)  # wtd may render the view back in between
    ws.md.write_text(saved)
    ws.ok("show progress")  # still served
    data = ws.data()
    data["tasks"][2]["name"] = "Seen after the folder came back"
    editor_save(ws.json, json.dumps(data))
    eventually(lambda: "Seen after the folder came back" in ws.md.read_text(), "the view")


def _edit_view(ws: Workspace, old: str, new: str) -> None:
    text = ws.md.read_text()
    assert old in text, old
    editor_save(ws.md, text.replace(old, new))


@pytest.mark.parametrize(
    ("old", "new", "task", "field", "value"),
    [
        (
            "| 2.3 | Watch files for hand edits | ⏳ Pending |",
            "| 2.3 | Watch files for hand edits | done |",
            "2.3",
            "status",
            "complete",
        ),
        (
            "| 2.3 | Watch files for hand edits | ⏳ Pending |",
            "| 2.3 | Watch files for hand edits | 🔄 in progress |",
            "2.3",
            "status",
            "in_progress",
        ),
        (
            "| 3.1 | Write release notes |",
            "| 3.1 | Write the release notes |",
            "3.1",
            "name",
            "Write the release notes",
        ),
        (
            "| 3.1 | Write release notes | ⏳ Pending | |",
            "| 3.1 | Write release notes | ⏳ Pending | notes reviewed |",
            "3.1",
            "verification",
            "notes reviewed",
        ),
    ],
)
def test_view_cell_edits_land_in_the_json(
    ws: Workspace, old: str, new: str, task: str, field: str, value: str
) -> None:
    ws.ok("show progress")
    _edit_view(ws, old, new)
    eventually(lambda: ws.task(task).get(field) == value, f"{task}.{field} = {value}")
    assert "In sync" in ws.ok("sync")  # and the view was rendered again from the JSON


def test_checkbox_new_rows_and_deleted_rows(ws: Workspace) -> None:
    ws.ok("show progress")
    _edit_view(ws, "- [ ] 2.2.2: Progress summary", "- [x] 2.2.2: Progress summary")
    eventually(
        lambda: any(s["id"] == "2.2.2" and s["completed"] for s in ws.data()["subtasks"]),
        "the sub-task checked",
    )
    row = "| 3.2 | Tag and publish | ⏳ Pending | |\n"
    _edit_view(ws, row, row + "|  | Announce it | todo | |\n| 3.9 | Celebrate | wip | |\n")
    eventually(lambda: "Celebrate" in [t.get("name") for t in ws.data()["tasks"]], "new rows")
    # the view as wtd renders it again (the edited file said "wip" and had no ID)
    eventually(
        lambda: "| 3.9 | Celebrate | 🔄 In Progress |" in ws.md.read_text(), "the view re-rendered"
    )
    assert ws.task("3.4")["name"] == "Announce it"  # empty ID → next free ID in the phase
    assert ws.task("3.9")["status"] == "in_progress"  # a new, free ID is kept
    _edit_view(
        ws,
        "| 2.4 | Recover from corrupted state | 🔴 Blocked | fault-injection suite passes |\n",
        "",
    )
    eventually(lambda: all(t["id"] != "2.4" for t in ws.data()["tasks"]), "the row deleted", ws.log)
    ws.ok("undo")  # a deleted row is recoverable
    assert ws.task("2.4")["name"] == "Recover from corrupted state"


def test_a_conflicting_edit_keeps_both_values(ws: Workspace) -> None:
    ws.ok("show progress")
    stale_view = ws.md.read_text()
    ws.ok("--agent", "planner", "mark task 2.3 blocked")  # the JSON changes 2.3's status
    edited = stale_view.replace(
        "| 2.3 | Watch files for hand edits | ⏳ Pending |",
        "| 2.3 | Watch files for hand edits | ✅ Complete |",
    ).replace("| 3.1 | Write release notes |", "| 3.1 | Release notes |")
    editor_save(ws.md, edited)  # an editor that still had the old view open
    eventually(lambda: ws.task("3.1")["name"] == "Release notes", "the free edit merged")
    assert ws.task("2.3")["status"] == "blocked"  # JSON wins on the contested field
    history = ws.ok("history")
    assert "⚠ Conflict: 2.3 status" in history and "'blocked'" in history
    kept = list((ws.root / ".ecw" / "conflicts" / "my-project").glob("*.md"))
    assert edited in [k.read_text() for k in kept]


def test_text_that_maps_to_nothing_is_kept(ws: Workspace) -> None:
    ws.ok("show progress")
    text = ws.md.read_text()
    edited = text.replace("## Progress Summary", "My private notes\n\n## Progress Summary")
    editor_save(ws.md, edited)
    conflicts = ws.root / ".ecw" / "conflicts" / "my-project"
    eventually(
        lambda: conflicts.is_dir() and edited in [k.read_text() for k in conflicts.glob("*.md")],
        "the edited view kept",
    )
    assert "Not understood" in ws.ok("history")


def test_a_view_edited_while_wtd_was_stopped_is_merged_on_start(ws: Workspace) -> None:
    ws.ok("show progress")
    ws.kill_daemon()
    _edit_view(
        ws,
        "| 2.3 | Watch files for hand edits | ⏳ Pending |",
        "| 2.3 | Watch files for hand edits | done |",
    )
    ws.ok("show progress")
    eventually(lambda: ws.task("2.3")["status"] == "complete", "the offline edit merged")


def test_a_hand_written_plan_is_imported(ws: Workspace) -> None:
    plan = ws.root / "docs" / "plans" / "launch.md"
    plan.parent.mkdir(parents=True, exist_ok=True)
    plan.write_text(
        "# Launch\n\n## Phase 1: Prepare\n\n- [x] Write the announcement\n- [ ] Book the room\n"
        "  - [ ] Check the projector\n\n## Phase 2: Go\n\n- [ ] Press the button\n"
    )
    out = ws.ok("--tracker", str(plan), "show progress")
    assert "Imported 2 phases, 3 tasks" in out
    assert "Overall progress: 33%" in out
    data = json.loads((ws.root / ".ecw" / "plans" / "launch.json").read_text())
    assert [t["name"] for t in data["tasks"]] == [
        "Write the announcement",
        "Book the room",
        "Press the button",
    ]
    imported = list((ws.root / ".ecw" / "imported").glob("*launch.md"))
    assert len(imported) == 1 and "Book the room" in imported[0].read_text()


def test_an_offline_edit_of_an_older_view_is_merged(ws: Workspace) -> None:
    ws.ok("show progress")
    old_view = ws.md.read_text()
    ws.ok("mark task 2.2 complete")  # the view on disk is now newer than old_view
    ws.kill_daemon()
    edited = old_view.replace("| 3.1 | Write release notes |", "| 3.1 | Offline rename |")
    editor_save(ws.md, edited)
    ws.ok("show progress")
    conflicts = ws.root / ".ecw" / "conflicts" / "my-project"
    kept = [k.read_text() for k in conflicts.glob("*.md")] if conflicts.is_dir() else []
    assert ws.task("3.1")["name"] == "Offline rename"  # merged against the view it came from
    assert ws.task("2.2")["status"] == "complete"  # and the newer JSON change is kept
    assert kept == []


@pytest.mark.parametrize("damage", ["truncated", "garbage", "deleted"])
def test_a_damaged_view_deletes_nothing_and_is_rendered_again(ws: Workspace, damage: str) -> None:
    ws.ok("mark task 2.2 complete")
    before = ws.data()
    good_view = ws.md.read_text()
    if damage == "truncated":
        ws.md.write_text(good_view[: len(good_view) // 3])
    elif damage == "garbage":
        ws.md.write_bytes(b"\x00\xff garbage")
    else:
        ws.md.unlink()
    good = good_view.encode()
    eventually(
        lambda: ws.md.exists() and ws.md.read_bytes() == good,
        "the view rendered again",
        ws.log,
    )
    assert ws.data()["tasks"] == before["tasks"]  # no row "deleted" by the damage
    if damage != "deleted":
        conflicts = ws.root / ".ecw" / "conflicts" / "my-project"
        eventually(lambda: conflicts.is_dir() and any(conflicts.glob("*.md")), "a kept copy")


def test_a_burst_of_changes_interleaved_with_hand_edits_loses_nothing(ws: Workspace) -> None:
    import threading

    ws.ok("show progress")
    acked: list[str] = []

    def client(n: int) -> None:
        for i in range(25):
            if ws.wtctl(f"add task to phase 3: burst {n}-{i}").returncode == 0:
                acked.append(f"burst {n}-{i}")

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    hand = []
    for i in range(10):  # hand edits of both files while the burst runs
        data = ws.data()
        data["tasks"][0]["name"] = f"json edit {i}"
        editor_save(ws.json, json.dumps(data))
        hand.append(f"json edit {i}")
        text = ws.md.read_text()
        if "| 1.2 | " in text:
            row = next(line for line in text.splitlines() if line.startswith("| 1.2 | "))
            cells = row.split(" | ")
            cells[1] = f"md edit {i}"
            editor_save(ws.md, text.replace(row, " | ".join(cells)))
        time.sleep(0.05)  # pace the edits across the burst, as a person would
    for t in threads:
        t.join()
    assert len(acked) == 100
    ws.ok("sync")
    names = [t.get("name") for t in ws.data()["tasks"]]
    assert [n for n in acked if n not in names] == []  # every acknowledged change is there
    assert len([n for n in names if n and n.startswith("burst")]) == 100
    # the JSON edits were adopted or kept; none silently vanished
    kept = b"".join(p.read_bytes() for p in (ws.root / ".ecw").rglob("*.json"))
    assert b"json edit 9" in kept or ws.task("1.1")["name"] == "json edit 9"


def test_a_json_edited_while_wtd_was_stopped_is_not_undone_by_a_stale_view(ws: Workspace) -> None:
    ws.ok("mark task 2.2 complete")
    ws.kill_daemon()
    data = ws.data()
    data["tasks"][0]["name"] = "Renamed while wtd was stopped"
    editor_save(ws.json, json.dumps(data))
    ws.ok("show progress")
    assert ws.task("1.1")["name"] == "Renamed while wtd was stopped"
    eventually(lambda: "Renamed while wtd was stopped" in ws.md.read_text(), "the view")


def _set(data: dict[str, Any], task_id: str, status: str) -> None:
    for task in data["tasks"]:
        if task["id"] == task_id:
            task["status"] = status


def test_a_change_redone_by_hand_after_an_undo_is_adopted(ws: Workspace) -> None:
    ws.ok("mark task 2.3 complete")
    ws.ok("undo")
    data = ws.data()
    _set(data, "2.3", "complete")  # the same value an older state had: still a real edit
    editor_save(ws.json, json.dumps(data))
    eventually(lambda: "hand-edit" in ws.ok("history"), "the hand edit in history", ws.log)
    assert ws.task("2.3")["status"] == "complete"
    ws.ok("start task 3.1")  # the next change keeps it
    assert ws.task("2.3")["status"] == "complete"


def test_a_whole_edit_is_adopted_even_where_an_older_state_agreed(ws: Workspace) -> None:
    ws.ok("--skip-consent", "mark phase 2 complete")
    ws.ok("undo")
    data = ws.data()
    for task in data["tasks"]:
        task["status"] = "complete"
    editor_save(ws.json, json.dumps(data))
    eventually(lambda: "hand-edit" in ws.ok("history"), "the hand edit in history", ws.log)
    assert {t["status"] for t in ws.data()["tasks"]} == {"complete"}


def test_a_save_of_an_older_copy_keeps_wtds_later_change_and_its_own(ws: Workspace) -> None:
    ws.ok("show progress")
    older = ws.data()  # an editor reads the file …
    ws.ok("mark task 1.1 blocked")  # … wtd changes it meanwhile …
    _set(older, "3.1", "in_progress")  # … and the editor saves its copy with its own edit
    editor_save(ws.json, json.dumps(older))
    eventually(lambda: "hand-edit" in ws.ok("history"), "the hand edit in history", ws.log)
    assert ws.task("3.1")["status"] == "in_progress"
    assert ws.task("1.1")["status"] == "blocked"


def test_a_save_of_an_unchanged_older_copy_takes_nothing_and_loses_nothing(ws: Workspace) -> None:
    ws.ok("show progress")
    older = ws.json.read_text()
    ws.ok("mark task 1.1 blocked")
    editor_save(ws.json, older)
    conflicts = ws.root / ".ecw" / "conflicts"
    eventually(lambda: conflicts.exists() and any(conflicts.iterdir()), "a kept copy", ws.log)
    eventually(lambda: ws.task("1.1")["status"] == "blocked", "wtd's state on disk", ws.log)
    assert "blocked" in ws.ok("show task 1.1").lower()


def test_an_offline_edit_of_a_json_that_lagged_the_journal_loses_no_journalled_change(
    ws: Workspace,
) -> None:
    ws.ok("show progress")
    lagging = ws.data()  # the JSON as it was before the next change …
    ws.ok("mark task 1.1 blocked")  # … which is journalled (and acknowledged)
    ws.kill_daemon()
    # a crash between the journal append and the JSON write leaves the older JSON; a
    # person then edits that file while wtd is stopped
    _set(lagging, "3.1", "in_progress")
    editor_save(ws.json, json.dumps(lagging))
    out = ws.ok("show progress")
    assert "Recovered 1 journalled change(s)" in out
    assert ws.task("1.1")["status"] == "blocked"  # the journalled change
    assert ws.task("3.1")["status"] == "in_progress"  # and the person's edit


def test_a_hand_edit_and_wtd_changing_other_fields_of_one_task_both_stay(
    ws: Workspace,
) -> None:
    """Field by field (SPEC §6): the person renamed task 2.3 in a copy read before an
    agent marked it complete; the save keeps both — not the whole task of one side."""
    ws.ok("show progress")
    data = ws.data()  # the editor's copy
    ws.ok("mark task 2.3 complete")  # meanwhile, through wtd
    for task in data["tasks"]:
        if task["id"] == "2.3":
            task["name"] = "Renamed in an editor"
    editor_save(ws.json, json.dumps(data, indent=2))
    eventually(lambda: "hand-edit" in ws.ok("history"), "the save taken over", ws.log)
    task = ws.task("2.3")
    assert task["name"] == "Renamed in an editor" and task["status"] == "complete", task
    assert "Conflict" not in ws.ok("history")


def _view_status(text: str, task_id: str, label: str) -> str:
    lines = text.splitlines()
    for n, line in enumerate(lines):
        if line.startswith(f"| {task_id} |"):
            cells = line.split("|")
            cells[3] = f" {label} "
            lines[n] = "|".join(cells)
    return "\n".join(lines) + "\n"


def test_both_files_edited_while_wtd_was_stopped_merge_field_by_field(ws: Workspace) -> None:
    """SPEC §6: edits of the JSON and of the view made while wtd was away are both
    kept, field by field; where both changed one field, the JSON wins and history
    keeps the view's value."""
    ws.ok("show progress")
    ws.ok("mark task 2.3 complete")
    ws.kill_daemon(signal.SIGTERM)
    data = ws.data()
    for task in data["tasks"]:
        if task["id"] == "1.1":
            task["name"] = "Renamed offline in the JSON"
        if task["id"] == "3.1":
            task["status"] = "in_progress"
    editor_save(ws.json, json.dumps(data, indent=2))
    view = _view_status(ws.md.read_text(), "3.2", "✅ Complete")
    view = _view_status(view, "3.1", "✅ Complete")
    editor_save(ws.md, view)
    ws.ok("show progress")
    eventually(lambda: ws.task("3.2")["status"] == "complete", "the view's edit", ws.log)
    assert ws.task("1.1")["name"] == "Renamed offline in the JSON", ws.log()[-2500:]
    assert ws.task("3.1")["status"] == "in_progress"  # both changed it: the JSON wins
    assert ws.task("2.3")["status"] == "complete"
    history = ws.ok("history")
    assert "Conflict" in history and "3.1" in history, history


@pytest.mark.parametrize("wtd", ["stopped", "running, the tracker not opened since it started"])
def test_a_json_edited_while_wtd_was_away_is_journalled_and_undone_by_undo(
    ws: Workspace, wtd: str
) -> None:
    ws.ok("mark task 2.3 complete")
    ws.kill_daemon(signal.SIGTERM)
    if wtd.startswith("running"):
        other = ws.root / "docs" / "plans" / "other.md"
        other.write_text("# Other\n\n- [ ] something else\n")
        proc = ws.wtctl("--tracker", str(other), "show progress", tracker=False)
        assert proc.returncode == 0, proc.stderr  # wtd is back, serving another tracker
    data = ws.data()
    before = ws.task("2.1")["name"]
    next(t for t in data["tasks"] if t["id"] == "2.1")["name"] = "Renamed while wtd was away"
    editor_save(ws.json, json.dumps(data, indent=2))
    history = ws.ok("history")
    assert "Adopted a hand edit of my-project.json made while wtd was away" in history, history
    assert ws.task("2.1")["name"] == "Renamed while wtd was away"
    undone = ws.ok("undo")
    assert "Undid" in undone and "hand edit" in undone, undone
    assert ws.task("2.1")["name"] == before  # the edit, not an older change, was undone
    assert ws.task("2.3")["status"] == "complete"


def test_a_workspace_replaced_under_wtd_is_read_afresh_and_changes_land_in_it(
    ws: Workspace,
) -> None:
    # rm -rf the project and clone it again (or restore a copy) while wtd runs
    ws.ok("rename task 1.1 to Only in the old copy")
    fresh = EXAMPLE.read_bytes()
    shutil.rmtree(ws.root / ".ecw")
    shutil.rmtree(ws.root / "docs")
    ws.json.parent.mkdir(parents=True)
    ws.json.write_bytes(fresh)
    ws.ok("mark task 2.2 complete")
    assert (ws.root / ".ecw" / "journal" / "my-project.wal").exists()  # journalled here
    assert ws.task("2.2")["status"] == "complete"
    assert ws.task("1.1")["name"] != "Only in the old copy"  # nothing of the old files
    ws.kill_daemon()
    assert "2.2" in ws.ok("history")  # the change survives a restart, undoable
    assert ws.task("2.2")["status"] == "complete"


def test_a_view_written_in_place_with_a_pause_after_the_truncate_is_merged(
    ws: Workspace,
) -> None:
    # `slow_generator > docs/plans/x.md`: the shell empties the file at once, the
    # program writes it a moment later, into the same file
    ws.ok("show progress")
    edited = ws.md.read_text().replace("| 2.2 | ", "| 2.2 | Saved slowly: ", 1)
    with ws.md.open("w") as out:
        out.flush()  # empty on disk now
        time.sleep(0.6)  # the writer's pause: longer than wtd's re-reads of a save
        out.write(edited)
    eventually(lambda: ws.task("2.2")["name"].startswith("Saved slowly: "), "the merge", ws.log)
    conflicts = ws.root / ".ecw" / "conflicts"
    assert not conflicts.exists() or not any(p.stat().st_size == 0 for p in conflicts.rglob("*"))


@pytest.mark.parametrize("cell", ["🚧 In progress", "🟡", "In Review"])
def test_a_status_typed_in_the_view_as_other_plans_write_it_is_taken(
    ws: Workspace, cell: str
) -> None:
    ws.ok("show progress")
    assert ws.task("3.1")["status"] == "pending"
    text = ws.md.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| 3.1 |"))
    cells = row.split("|")
    cells[3] = f" {cell} "
    editor_save(ws.md, text.replace(row, "|".join(cells)))
    eventually(lambda: ws.task("3.1")["status"] == "in_progress", "the merge", ws.log)
    assert "Not understood" not in ws.ok("history")


@pytest.mark.parametrize("second", ["on top of the first", "from the rendering"])
def test_a_view_saved_twice_before_wtd_re_renders_it_keeps_the_later_save(
    ws: Workspace, second: str
) -> None:
    """A script or an editor saving the view twice in a row: the second save lands
    before wtd has re-rendered the view it merged the first from (slowed down here by
    a failpoint), so both name the same checksum. Its change is taken — not a conflict
    that keeps the first save's value — and a save made from the rendering (not from
    the first save) still takes nothing back of the first."""
    ws.start_daemon({"WT_FAILPOINTS": "render.write=delay(600)"})
    ws.ok("sync")
    rendered = ws.md.read_text()
    row = "| 3.1 | Write release notes | ⏳ Pending |"
    assert row in rendered
    first = rendered.replace(row, "| 3.1 | Write release notes | 🔄 In Progress |")
    editor_save(ws.md, first)
    eventually(lambda: ws.task("3.1")["status"] == "in_progress", "the first save merged")
    if second == "on top of the first":
        done = "| 3.1 | Write release notes | ✅ Complete |"
        editor_save(ws.md, first.replace("| 3.1 | Write release notes | 🔄 In Progress |", done))
    else:
        old = "| 2.3 | Watch files for hand edits |"
        assert old in rendered
        editor_save(ws.md, rendered.replace(old, "| 2.3 | Watch the files |"))
    ws.ok("sync")
    history = ws.ok("history")
    assert "Conflict" not in history, history
    if second == "on top of the first":
        assert ws.task("3.1")["status"] == "complete"
        eventually(
            lambda: "| 3.1 | Write release notes | ✅ Complete |" in ws.md.read_text(), "view"
        )
    else:
        assert ws.task("3.1")["status"] == "in_progress"
        assert ws.task("2.3")["name"] == "Watch the files"


def test_a_hand_edit_made_again_after_undo_is_taken(ws: Workspace) -> None:
    """A view edit undone brings back the checksum the edit named: a fresh rendering
    of it, edited the same way again, is a new edit (not a second save of the first,
    merged against the state the undone edit left — which took nothing)."""
    ws.start_daemon()
    ws.ok("sync")
    rendered = ws.md.read_text()
    row = "| 3.1 | Write release notes | ⏳ Pending |"
    started = rendered.replace(row, "| 3.1 | Write release notes | 🔄 In Progress |")
    editor_save(ws.md, started)
    eventually(lambda: ws.task("3.1")["status"] == "in_progress", "the first edit merged")
    ws.ok("undo")
    assert ws.task("3.1")["status"] == "pending"
    eventually(lambda: ws.md.read_text() == rendered, "the view rendered as before the edit")
    editor_save(ws.md, started)  # the same edit, made again by hand
    eventually(lambda: ws.task("3.1")["status"] == "in_progress", "the edit made again", ws.log)


def test_a_second_save_from_the_rendering_takes_back_none_of_the_first(
    ws: Workspace,
) -> None:
    """Two saves from the same rendering (two editors, two scripts) before wtd
    re-renders: the second repeats one of the first's changes and lacks another. It
    is not a save on top of the first: the change it lacks is kept."""
    ws.start_daemon({"WT_FAILPOINTS": "render.write=delay(600)"})
    ws.ok("sync")
    rendered = ws.md.read_text()
    row = "| 3.1 | Write release notes | ⏳ Pending |"
    started = "| 3.1 | Write release notes | 🔄 In Progress |"
    old = "| 2.3 | Watch files for hand edits |"
    assert row in rendered and old in rendered
    first = rendered.replace(row, started).replace(old, "| 2.3 | Watch the files |")
    editor_save(ws.md, first)
    eventually(lambda: ws.task("2.3")["name"] == "Watch the files", "the first save merged")
    second = rendered.replace(row, started)  # from the rendering: 2.3 not renamed
    editor_save(ws.md, second)
    ws.ok("sync")
    assert ws.task("3.1")["status"] == "in_progress"
    assert ws.task("2.3")["name"] == "Watch the files", ws.ok("history")
