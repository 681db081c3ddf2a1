"""The Store's own worker thread: its calls run off the event loop, one at a time and
in order; an error comes back to the caller; a caller cancelled meanwhile still waits
for its call to finish (as with ``anyio.to_thread.run_sync``); stopped, it starts
again on the next call."""

from __future__ import annotations

import threading

import anyio
import pytest

from wtd.actors.store.actor import Worker

TIMEOUT = 10


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_calls_run_in_one_other_thread_in_order() -> None:
    worker = Worker("test")
    seen: list[tuple[int, int]] = []

    def call(i: int) -> int:
        seen.append((i, threading.get_ident()))
        return i * 2

    try:
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                for i in range(5):
                    tg.start_soon(worker.run, call, i)
            assert await worker.run(call, 5) == 10
    finally:
        worker.stop()
    assert [i for i, _ in seen] == list(range(6))
    threads = {ident for _, ident in seen}
    assert len(threads) == 1 and threading.get_ident() not in threads


@pytest.mark.anyio
async def test_an_error_in_the_call_reaches_the_caller() -> None:
    worker = Worker("test")

    def broken() -> None:
        raise OSError("disk on fire")

    try:
        with anyio.fail_after(TIMEOUT), pytest.raises(OSError, match="disk on fire"):
            await worker.run(broken)
    finally:
        worker.stop()


@pytest.mark.anyio
async def test_a_cancelled_caller_waits_for_its_call_to_finish() -> None:
    worker = Worker("test")
    started, release = threading.Event(), threading.Event()
    finished: list[bool] = []

    def slow() -> None:
        started.set()
        release.wait(TIMEOUT)
        finished.append(True)

    try:
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(worker.run, slow)
                await anyio.to_thread.run_sync(started.wait, TIMEOUT)
                tg.cancel_scope.cancel()
                release.set()
    finally:
        worker.stop()
    assert finished == [True]  # the task group ended only after the call did


@pytest.mark.anyio
async def test_a_stopped_worker_starts_again_on_the_next_call() -> None:
    worker = Worker("test")
    with anyio.fail_after(TIMEOUT):
        first = await worker.run(threading.get_ident)
        worker.stop()
        second = await worker.run(threading.get_ident)
        worker.stop()
    assert first != threading.get_ident() and second != threading.get_ident()


@pytest.mark.anyio
async def test_an_idle_worker_ends_its_thread_and_the_next_call_starts_another() -> None:
    worker = Worker("test-idle")
    worker.IDLE = 0.01
    with anyio.fail_after(TIMEOUT):
        first = await worker.run(threading.get_ident)
        thread = next(t for t in threading.enumerate() if t.ident == first)
        await anyio.to_thread.run_sync(thread.join, TIMEOUT)
        assert not thread.is_alive()
        second = await worker.run(threading.get_ident)
    worker.stop()
    assert second != threading.get_ident()
