"""Races between wtd's own writes and hand saves, made deterministic in-process:
a save that lands while wtd merges the previous one, or just before wtd replaces
the file, is never lost. The save is landed through seams of ``TrackerFiles``
(a subclass given to the Store), not by patching the storage modules."""

from __future__ import annotations

import errno
import json
import os
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest
from anyio.streams.memory import MemoryObjectSendStream

from wtd.actors.store import Store, TrackerFiles
from wtd.actors.store.base import Broken, Edited, FileState, Healed, Pending, SavedAgain
from wtd.actors.store.writes import ON_LOOP_ITEMS, PREWRITE_MIN, Prewrite
from wtd.messages import Apply, FileChanged, Outcome, StoreMessage
from wtd.storage import atomic
from wtd.storage import journal as journal_mod
from wtd.storage.failpoints import Failpoints
from wtd.tracker import commands
from wtd.workspace import TrackerPaths

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "my-project.json"
TIMEOUT = 20


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def editor_save(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


class Running:
    def __init__(
        self,
        paths: TrackerPaths,
        inbox: MemoryObjectSendStream[StoreMessage],
        files: RacyFiles,
    ) -> None:
        self.paths = paths
        self.inbox = inbox
        self.files = files
        self._n = 0

    async def ask(self, command: commands.Command) -> Outcome:
        self._n += 1
        send, recv = anyio.create_memory_object_stream[Outcome](1)
        await self.inbox.send(Apply(rid=f"r{self._n}", command=command, actor="t", reply_to=send))
        with anyio.fail_after(TIMEOUT):
            return await recv.receive()

    async def json_changed(self) -> None:
        await self.inbox.send(FileChanged(path=str(self.paths.json), kind="json"))
        await self.ask(commands.ShowProgress())  # answered once the change is handled

    def data(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.paths.json.read_bytes())
        return loaded

    def kept(self) -> bytes:
        return b"".join(p.read_bytes() for p in (self.paths.workspace / ".ecw").rglob("*.json"))


class RacyFiles(TrackerFiles):
    """The real ``TrackerFiles`` with two seams a test sets to land a hand save at
    the worst moment: while a hand edit is being merged, or just before wtd
    replaces a file (once its new bytes are durable, before wtd's last look); and
    files that read as if wtd had no permission to."""

    def __init__(self, paths: TrackerPaths) -> None:
        super().__init__(paths, failpoints=Failpoints())
        self.during_merge: Callable[[], None] | None = None
        self.last_moment: dict[Path, Callable[[], None]] = {}
        self.unreadable: set[int] = set()  # inodes

    def read(self, path: Path) -> bytes:
        if os.stat(path).st_ino in self.unreadable:
            raise PermissionError(13, "Permission denied", str(path))
        return super().read(path)

    def adopt_json(self, found: Edited | Broken | None) -> Pending | Healed | SavedAgain | None:
        # the save lands after the edit was read, before its merge is taken
        if self.during_merge is not None and isinstance(found, Edited):
            save, self.during_merge = self.during_merge, None
            save()
        return super().adopt_json(found)

    def replace(
        self,
        path: Path,
        data: bytes,
        *,
        point: str | None = None,
        before_replace: Callable[[], None] | None = None,
        durable: bool = True,
        prewritten: Prewrite | None = None,
    ) -> atomic.Stamp:
        act = self.last_moment.get(path)
        if act is not None and before_replace is not None:
            del self.last_moment[path]  # only this once
            check = before_replace

            def act_then_check() -> None:
                act()
                check()

            before_replace = act_then_check
        return super().replace(
            path,
            data,
            point=point,
            before_replace=before_replace,
            durable=durable,
            prewritten=prewritten,
        )


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    plans = tmp_path / ".ecw" / "plans"
    plans.mkdir(parents=True)
    shutil.copy(EXAMPLE, plans / "my-project.json")
    paths = TrackerPaths(
        workspace=tmp_path,
        name="my-project",
        json=plans / "my-project.json",
        markdown=tmp_path / "docs" / "plans" / "my-project.md",
    )
    send, recv = anyio.create_memory_object_stream[StoreMessage](16)
    files = RacyFiles(paths)
    store = Store(paths, recv, failpoints=Failpoints(), files=files)
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        r = Running(paths, send, files)
        await r.ask(commands.ShowProgress())  # opens the tracker
        yield r
        send.close()


@pytest.mark.anyio
async def test_a_save_landing_while_the_last_one_is_merged_is_merged_too(
    running: Running,
) -> None:
    first = running.data()
    first["tasks"][0]["name"] = "edit A"
    second = running.data()
    second["tasks"][0]["name"] = "edit B"
    second["tasks"][1]["name"] = "edit B too"
    running.files.during_merge = lambda: editor_save(running.paths.json, second)
    editor_save(running.paths.json, first)
    await running.json_changed()
    names = [t["name"] for t in running.data()["tasks"][:2]]
    assert names == ["edit B", "edit B too"]


@pytest.mark.anyio
async def test_a_save_landing_just_before_wtd_replaces_the_json_is_kept(
    running: Running,
) -> None:
    edited = running.data()
    edited["tasks"][0]["name"] = "saved at the last moment"
    json_file = running.paths.json
    running.files.last_moment[json_file] = lambda: editor_save(json_file, edited)
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert reply.ok
    assert any("was changed outside wtd" in line for line in reply.lines)
    assert b"saved at the last moment" in running.kept()


@pytest.mark.anyio
async def test_a_failed_write_leaves_a_hand_save_in_place_to_be_merged(
    running: Running,
) -> None:
    edited = running.data()
    edited["tasks"][0]["name"] = "saved while wtd's write failed"

    def save_then_fail() -> None:
        editor_save(running.paths.json, edited)
        raise PermissionError(13, "Permission denied")

    running.files.last_moment[running.paths.json] = save_then_fail
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert not reply.ok  # reported failure: not applied
    assert running.data()["tasks"][0]["name"] == "saved while wtd's write failed"
    await running.json_changed()
    data = running.data()
    assert data["tasks"][0]["name"] == "saved while wtd's write failed"  # merged
    assert next(t for t in data["tasks"] if t["id"] == "2.1")["name"] != "by wtctl"


@pytest.mark.anyio
async def test_a_view_saved_just_before_wtd_replaces_it_is_merged_not_overwritten(
    running: Running,
) -> None:
    name = running.data()["tasks"][0]["name"]
    view = running.paths.markdown

    def save_the_view() -> None:
        text = view.read_text()
        tmp = view.with_name(f".{view.name}.swp")
        tmp.write_text(text.replace(f"| 1.1 | {name} |", "| 1.1 | renamed in the view |"))
        os.replace(tmp, view)

    running.files.last_moment[view] = save_the_view
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert reply.ok
    await running.ask(commands.ShowProgress())  # the view's merge has run by now
    names = {t["id"]: t["name"] for t in running.data()["tasks"]}
    assert names["1.1"] == "renamed in the view"
    assert names["2.1"] == "by wtctl"
    assert "| 1.1 | renamed in the view |" in view.read_text()


def oversized_view(view: Path, size: int) -> bytes:
    """A view saved by hand that is over wtd's size limit: it cannot be read."""
    text = view.read_bytes() + b"\n" + b"- " + b"-" * size + b"\n"
    tmp = view.with_name(f".{view.name}.swp")
    tmp.write_bytes(text)
    os.replace(tmp, view)
    return text


def kept_views(running: Running) -> list[bytes]:
    return [p.read_bytes() for p in (running.paths.workspace / ".ecw").rglob("*.md")]


@pytest.mark.anyio
async def test_a_view_saved_too_big_to_read_just_before_wtd_replaces_it_is_not_lost(
    running: Running,
) -> None:
    view = running.paths.markdown
    running.files.max_bytes = 200_000
    saved: list[bytes] = []
    running.files.last_moment[view] = lambda: saved.append(oversized_view(view, 300_000))
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert reply.ok
    await running.ask(commands.ShowProgress())  # the view's merge has run by now
    # never written over unread: the save is in the view still, or kept aside
    assert view.read_bytes() == saved[0] or saved[0] in kept_views(running)
    assert running.data()["tasks"][1]["name"] != ""  # the tracker itself is whole


@pytest.mark.anyio
async def test_a_changed_view_that_cannot_be_read_is_kept_before_it_is_rendered_anew(
    running: Running,
) -> None:
    view = running.paths.markdown
    running.files.max_bytes = 200_000
    saved = oversized_view(view, 300_000)
    running.files.md = FileState(digest="unknown")  # an older or foreign view, as opening finds
    notes = await anyio.to_thread.run_sync(lambda: running.files.write_view(force=True))
    assert any("could not be read" in line for line in notes), notes
    assert saved in kept_views(running)
    assert b"JSON checksum" in view.read_bytes() and view.read_bytes() != saved


@pytest.mark.anyio
async def test_a_view_saved_unreadable_is_moved_aside_and_rendered_anew(
    running: Running,
) -> None:
    view = running.paths.markdown
    text = view.read_bytes().replace(b"# Work Tracker", b"# Work Tracker (saved by hand)")
    tmp = view.with_name(f".{view.name}.swp")
    tmp.write_bytes(text)
    os.replace(tmp, view)
    running.files.unreadable.add(view.stat().st_ino)  # as a file without read permission
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert reply.ok
    await running.ask(commands.ShowProgress())
    assert b"by wtctl" in view.read_bytes()  # the view is wtd's again, and up to date
    assert text in kept_views(running)  # the save, moved aside whole


@pytest.mark.anyio
async def test_a_commit_runs_on_the_loop_only_while_the_tracker_is_small_and_the_disk_fast(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handing a commit to the Store's thread costs more than a small one on a fast
    disk; a big JSON, a big growth at once or a simulated slow disk keep it there."""
    monkeypatch.setattr(journal_mod, "_slow_at", {})
    files = running.files
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="a"))).ok
    assert files.tracker is not None and files.json.stamp is not None
    small = files.tracker
    journal_mod._slow_at.clear()  # (that append may have been slow on a loaded machine)
    assert files.commit_on_loop(small)
    mtime, size, ino = files.json.stamp
    files.json = FileState(digest=files.json.digest, stamp=(mtime, 3 * 2**20, ino))  # 3 MiB
    assert not files.commit_on_loop(small)
    files.json = FileState(digest=files.json.digest, stamp=(mtime, size, ino))
    assert files.commit_on_loop(small)
    extra = tuple(
        msgspec.structs.replace(small.tasks[0], id=f"9.{n}") for n in range(ON_LOOP_ITEMS + 1)
    )
    grown = msgspec.structs.replace(small, tasks=small.tasks + extra)
    assert not files.commit_on_loop(grown)  # an undo bringing back a big state, say
    files.tracker = grown  # as big, now: a change of one task runs on the loop ...
    one = msgspec.structs.replace(grown.tasks[-1], name="one")
    assert files.commit_on_loop(msgspec.structs.replace(grown, tasks=(*grown.tasks[:-1], one)))
    every = tuple(msgspec.structs.replace(t, name=f"{t.name}!") for t in grown.tasks)
    assert not files.commit_on_loop(msgspec.structs.replace(grown, tasks=every))  # ... not all
    files.tracker = small
    files.fp = Failpoints.parse("store.write=1+2*delay(10)")
    assert not files.commit_on_loop(small)
    assert running.data()["tasks"][0]["name"] == "a"


@pytest.mark.anyio
async def test_after_an_append_that_stalled_the_commits_go_to_the_thread(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one append that finds the disk stalling holds up the loop; the ones after
    it run in the Store's thread (for ``SLOW_HOLD``), so they hold up only their own
    tracker's clients. A failed append that was slow counts too."""
    monkeypatch.setattr(journal_mod, "_slow_at", {})
    real = journal_mod._datasync
    where: list[str] = []
    slow = {"on": False, "fail": False}

    def datasync(fd: int) -> None:
        where.append(threading.current_thread().name)
        if slow["on"]:
            time.sleep(journal_mod.SLOW_APPEND * 2)
        if slow["fail"]:
            raise OSError(errno.EIO, "I/O error")
        real(fd)

    monkeypatch.setattr(journal_mod, "_datasync", datasync)
    # (cleared just before each commit that must run on the loop: on a loaded machine
    # a real write of the commit before may well take over 10 ms)
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="a"))).ok
    journal_mod._slow_at.clear()
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="a2"))).ok
    assert where[-1] == "MainThread"  # a fast disk: on the loop
    slow["on"] = True
    journal_mod._slow_at.clear()
    for name in ("b", "c", "d"):
        assert (await running.ask(commands.RenameTask(task_id="1.1", name=name))).ok
    assert where[-3] == "MainThread" and where[-2:] == [f"wtd-store:{running.paths.name}"] * 2
    assert running.files.journal is not None and running.files.journal.disk_slow()
    slow["on"] = False
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="e"))).ok
    assert where[-1].startswith("wtd-store")  # still held off: the disk was slow lately
    journal_mod._slow_at.clear()  # (as when SLOW_HOLD has passed)
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="f"))).ok
    assert where[-1] == "MainThread"
    slow["on"] = slow["fail"] = True  # slow, then failed: counted all the same
    assert not (await running.ask(commands.RenameTask(task_id="1.1", name="g"))).ok
    assert running.files.journal.disk_slow()
    assert running.data()["tasks"][0]["name"] == "f"


@pytest.mark.anyio
async def test_a_slow_replace_of_the_json_sends_the_commits_to_the_thread(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the journal's fsync is quick but replacing a tracker file is not (a
    network file system flushes it at close, the kernel throttles a writer), the
    disk counts as slow all the same: the commits after the slow one run in the
    Store's thread, holding up only their own tracker's clients."""
    monkeypatch.setattr(journal_mod, "_slow_at", {})
    real = atomic.atomic_write
    where: list[str] = []
    slow = {"on": False}

    def replace(path: Path, *args: Any, **kwargs: Any) -> atomic.Stamp:
        if path == running.paths.json:
            where.append(threading.current_thread().name)
            if slow["on"]:
                time.sleep(journal_mod.SLOW_APPEND * 2)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(atomic, "atomic_write", replace)
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="a"))).ok
    slow["on"] = True
    journal_mod._slow_at.clear()  # (a real write before may have been slow, loaded)
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="b"))).ok
    assert where[-1] == "MainThread"
    assert running.files.journal is not None and running.files.journal.disk_slow()
    slow["on"] = False
    assert (await running.ask(commands.RenameTask(task_id="1.1", name="c"))).ok
    assert where[-1] == f"wtd-store:{running.paths.name}"
    assert running.data()["tasks"][0]["name"] == "c"


@pytest.mark.anyio
async def test_a_big_commit_on_the_loop_has_its_files_written_in_a_thread_meanwhile(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A JSON over 256 KiB, committed on the loop: its bytes and the view's are
    written beside the files in a thread while the journal is fsync'd, and put in
    place after it. A commit that stops short (the journal cannot be written) leaves
    the files as they were and no temp file behind."""
    monkeypatch.setattr(journal_mod, "_slow_at", {})
    data = running.data()
    data["tasks"] += [
        {"id": f"1.{n}", "phase": 1, "name": f"Filler task {n}", "status": "pending"}
        for n in range(100, 2600)
    ]
    editor_save(running.paths.json, data)
    await running.json_changed()  # taken over (in the thread: 2,500 items made anew)
    assert running.paths.json.stat().st_size > PREWRITE_MIN
    real = atomic.prewrite
    ahead: list[tuple[str, str]] = []

    def prewrite(path: Path, data: bytes) -> atomic.Prewritten:
        ahead.append((path.name, threading.current_thread().name))
        return real(path, data)

    monkeypatch.setattr(atomic, "prewrite", prewrite)

    def temps() -> list[Path]:
        folders = (running.paths.json.parent, running.paths.markdown.parent)
        return [p for folder in folders for p in folder.glob(".*.tmp")]

    journal_mod._slow_at.clear()  # (a real write before may have been slow, loaded)
    assert (await running.ask(commands.RenameTask(task_id="1.2599", name="written ahead"))).ok
    assert [name for name, _ in ahead] == ["my-project.json", "my-project.md"]
    assert all(thread.startswith("wtd-prewrite") for _, thread in ahead)
    assert running.data()["tasks"][-1]["name"] == "written ahead"
    assert "written ahead" in running.paths.markdown.read_text()
    assert not temps()

    def fails(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(journal_mod, "_datasync", fails)
    before = running.paths.json.read_bytes()
    journal_mod._slow_at.clear()
    assert not (await running.ask(commands.RenameTask(task_id="1.2599", name="lost"))).ok
    assert len(ahead) == 4  # written ahead, then dropped
    assert running.paths.json.read_bytes() == before
    assert "lost" not in running.paths.markdown.read_text()
    assert not temps()


def test_bytes_written_ahead_are_put_in_place_only_for_those_very_bytes(tmp_path: Path) -> None:
    """A file written ahead is taken only by the write of the very bytes it holds;
    asked for other bytes (equal ones too: they were not checked), it is dropped."""
    target = tmp_path / ".ecw" / "plans" / "t.json"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    data = b'{"new": 1}'
    other = Prewrite(target, data)
    assert other.take(bytes(bytearray(data))) is None
    assert list(target.parent.glob(".*.tmp")) == []
    ahead = Prewrite(target, data)
    written = ahead.take(data)
    assert written is not None and written.tmp.read_bytes() == data
    ahead.drop()  # taken already: nothing more
    assert written.tmp.exists()
    assert atomic.put_in_place(written, target) == written.stamp
    assert target.read_bytes() == data and list(target.parent.glob(".*.tmp")) == []


def test_a_slow_append_of_one_journal_holds_off_every_journal_on_that_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_mod, "_slow_at", {})
    first = journal_mod.Journal.open(tmp_path / "a.wal")
    second = journal_mod.Journal.open(tmp_path / "b.wal")
    try:
        assert first.disk_slow() and second.disk_slow()  # not timed yet: not known
        first.append([_record(1)])
        second.append([_record(1)])
        journal_mod._slow_at.clear()  # (a real fsync may take over 10 ms, loaded)
        assert not first.disk_slow() and not second.disk_slow()  # timed: known now
        real = journal_mod._datasync

        def stalls(fd: int) -> None:
            time.sleep(journal_mod.SLOW_APPEND * 2)
            real(fd)

        monkeypatch.setattr(journal_mod, "_datasync", stalls)
        first.append([_record(2)])
        assert first.disk_slow() and second.disk_slow()
    finally:
        first.close()
        second.close()


def _record(seq: int) -> journal_mod.JournalRecord:
    return journal_mod.JournalRecord(
        seq=seq,
        rid=f"r{seq}",
        at="2026-12-01T00:00:00Z",
        actor="t",
        before="",
        after="",
        op=msgspec.Raw(b"{}"),
        reply=msgspec.Raw(b"{}"),
    )


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["change", "undo"])
async def test_a_retry_answered_from_the_journal_over_a_json_wtd_cannot_rewrite_is_asked_again(
    running: Running, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A retried request is answered with its first reply, whose success promises the
    JSON on disk shows the change (SPEC §6). Over a file saved by someone else that
    wtd cannot write over now (EMFILE), it is neither a success nor a failure (it was
    applied): "unavailable", ask again — and asked again later, the first reply. An
    undo is answered from the journal by another path: the same."""
    first = running.data()["tasks"][0]["name"]
    command: commands.Command = commands.RenameTask(task_id="1.1", name="retried")
    if kind == "undo":
        assert (await running.ask(command)).ok
        command = commands.Undo()

    async def retry() -> Outcome:
        send, recv = anyio.create_memory_object_stream[Outcome](1)
        await running.inbox.send(Apply(rid="once", command=command, actor="t", reply_to=send))
        with anyio.fail_after(TIMEOUT):
            return await recv.receive()

    assert (await retry()).ok
    real = running.files.replace

    def emfile(*args: Any, **kwargs: Any) -> atomic.Stamp:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(running.files, "replace", emfile)
    garbage = b"\xb8 not a tracker"
    running.paths.json.write_bytes(garbage)
    again = await retry()
    assert not again.ok and again.error is not None and again.error.code == "unavailable"
    assert running.paths.json.read_bytes() == garbage
    monkeypatch.setattr(running.files, "replace", real)
    last = await retry()
    assert last.ok
    assert running.data()["tasks"][0]["name"] == ("retried" if kind == "change" else first)
