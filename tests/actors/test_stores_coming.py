"""Group commit's count: a change is "on its way" to its tracker's Store from when its
tracker is known until it is posted there, and only then; one that never reaches the
Store (refused, failed on the way) stops being counted when its request ends."""

from __future__ import annotations

import shutil
from pathlib import Path

import anyio
import pytest
from anyio.streams.memory import MemoryObjectSendStream

from wtd.actors import RestartIntensity
from wtd.actors.executor.settings import Settings
from wtd.actors.executor.stores import Keys, Stores
from wtd.messages import Apply, EventsMessage, Outcome, StoreMessage, WatcherMessage
from wtd.storage.failpoints import Failpoints
from wtd.tracker import commands
from wtd.workspace import for_workspace

EXAMPLE = Path(__file__).resolve().parents[1] / "data" / "my-project.json"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_change_is_counted_until_posted_to_its_store_and_never_below_zero(
    tmp_path: Path,
) -> None:
    paths = for_workspace(tmp_path, "my-project")
    paths.json.parent.mkdir(parents=True)
    shutil.copy(EXAMPLE, paths.json)
    events, _events_out = anyio.create_memory_object_stream[EventsMessage](100)
    watcher, _watched = anyio.create_memory_object_stream[WatcherMessage](100)
    async with anyio.create_task_group() as tg:
        stores = Stores(
            tg,
            key=Keys(),
            settings=Settings(),
            failpoints=Failpoints(),
            events=events,
            watcher=watcher,
            intensity=RestartIntensity(3, 10.0),
        )

        def mark(reply_to: MemoryObjectSendStream[Outcome]) -> StoreMessage:
            change = commands.SetTaskStatus(task_id="2.2", status="complete", given="complete")
            return Apply(rid="r1", command=change, actor="t", reply_to=reply_to)

        assert stores.coming(paths) == 0
        with stores.on_the_way(paths):
            with stores.on_the_way(paths):  # two requests for the tracker at once
                assert stores.coming(paths) == 2
                outcome = await stores.call(paths, mark)
                assert outcome.ok
                assert stores.coming(paths) == 1  # posted: no longer on its way
                assert (await stores.call(paths, mark)).ok  # asked again: not counted twice
                assert stores.coming(paths) == 1
            assert stores.coming(paths) == 1
        assert stores.coming(paths) == 0  # the other ended without reaching the Store
        with pytest.raises(RuntimeError), stores.on_the_way(paths):
            raise RuntimeError("refused on the way")
        assert stores.coming(paths) == 0
        tg.cancel_scope.cancel()
