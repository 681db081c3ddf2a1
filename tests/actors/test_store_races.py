"""Races between wtd's own writes and hand saves, made deterministic in-process:
a save that lands while wtd merges the previous one, or just before wtd replaces
the file, is never lost."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.memory import MemoryObjectSendStream

from wtd.actors.store import Store
from wtd.messages import Apply, FileChanged, Outcome, StoreMessage
from wtd.storage import atomic
from wtd.storage.failpoints import Failpoints
from wtd.tracker import commands, patch
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
    def __init__(self, paths: TrackerPaths, inbox: MemoryObjectSendStream[StoreMessage]) -> None:
        self.paths = paths
        self.inbox = inbox
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
    store = Store(paths, recv, failpoints=Failpoints())
    async with anyio.create_task_group() as tg:
        await tg.start(store.run)
        r = Running(paths, send)
        await r.ask(commands.ShowProgress())  # opens the tracker
        yield r
        send.close()


def _saving_during_merge(monkeypatch: pytest.MonkeyPatch, save: Callable[[], None]) -> None:
    """The first three-way merge of a hand edit: ``save`` lands while it runs."""
    real = patch.merge3
    calls = {"n": 0}

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            save()
        return real(*args, **kwargs)

    monkeypatch.setattr(patch, "merge3", wrapped)


def _at_the_last_moment(
    monkeypatch: pytest.MonkeyPatch, target: Path, act: Callable[[], None]
) -> None:
    """The next time wtd replaces ``target``, ``act`` runs once the new bytes are
    durable, just before wtd's own last look at the file it is about to replace
    (``act`` may also raise, as a failing write would)."""
    real = atomic.atomic_write

    def write(path: Path, data: bytes, **kwargs: Any) -> Any:
        check = kwargs.get("before_replace")
        if path == target and check is not None:
            monkeypatch.setattr(atomic, "atomic_write", real)  # only this once

            def act_then_check() -> None:
                act()
                check()

            kwargs["before_replace"] = act_then_check
        return real(path, data, **kwargs)

    monkeypatch.setattr(atomic, "atomic_write", write)


@pytest.mark.anyio
async def test_a_save_landing_while_the_last_one_is_merged_is_merged_too(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = running.data()
    first["tasks"][0]["name"] = "edit A"
    second = running.data()
    second["tasks"][0]["name"] = "edit B"
    second["tasks"][1]["name"] = "edit B too"
    _saving_during_merge(monkeypatch, lambda: editor_save(running.paths.json, second))
    editor_save(running.paths.json, first)
    await running.json_changed()
    names = [t["name"] for t in running.data()["tasks"][:2]]
    assert names == ["edit B", "edit B too"]


@pytest.mark.anyio
async def test_a_save_landing_just_before_wtd_replaces_the_json_is_kept(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = running.data()
    edited["tasks"][0]["name"] = "saved at the last moment"
    json_file = running.paths.json
    _at_the_last_moment(monkeypatch, json_file, lambda: editor_save(json_file, edited))
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert reply.ok
    assert any("was changed outside wtd" in line for line in reply.lines)
    assert b"saved at the last moment" in running.kept()


@pytest.mark.anyio
async def test_a_failed_write_leaves_a_hand_save_in_place_to_be_merged(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = running.data()
    edited["tasks"][0]["name"] = "saved while wtd's write failed"

    def save_then_fail() -> None:
        editor_save(running.paths.json, edited)
        raise PermissionError(13, "Permission denied")

    _at_the_last_moment(monkeypatch, running.paths.json, save_then_fail)
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert not reply.ok  # reported failure: not applied
    assert running.data()["tasks"][0]["name"] == "saved while wtd's write failed"
    await running.json_changed()
    data = running.data()
    assert data["tasks"][0]["name"] == "saved while wtd's write failed"  # merged
    assert next(t for t in data["tasks"] if t["id"] == "2.1")["name"] != "by wtctl"


@pytest.mark.anyio
async def test_a_view_saved_just_before_wtd_replaces_it_is_merged_not_overwritten(
    running: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = running.data()["tasks"][0]["name"]
    view = running.paths.markdown

    def save_the_view() -> None:
        text = view.read_text()
        tmp = view.with_name(f".{view.name}.swp")
        tmp.write_text(text.replace(f"| 1.1 | {name} |", "| 1.1 | renamed in the view |"))
        os.replace(tmp, view)

    _at_the_last_moment(monkeypatch, view, save_the_view)
    reply = await running.ask(commands.RenameTask(task_id="2.1", name="by wtctl"))
    assert reply.ok
    await running.ask(commands.ShowProgress())  # the view's merge has run by now
    names = {t["id"]: t["name"] for t in running.data()["tasks"]}
    assert names["1.1"] == "renamed in the view"
    assert names["2.1"] == "by wtctl"
    assert "| 1.1 | renamed in the view |" in view.read_text()
