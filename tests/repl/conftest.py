"""Fixtures for the REPL tests: a workspace with the example tracker and its wtd."""

from __future__ import annotations

import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import EXAMPLE, Workspace
from tests.repl.harness import TIMEOUT


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[Workspace]:
    """The e2e Workspace (example tracker, private socket) with its daemon running."""
    root = tmp_path / "project"
    (root / ".ecw" / "plans").mkdir(parents=True)
    shutil.copy(EXAMPLE, root / ".ecw" / "plans" / "my-project.json")
    sock_dir = Path(tempfile.mkdtemp(prefix="wtd-test-", dir="/tmp"))
    ws = Workspace(root, sock_dir)
    daemon = ws.start_daemon()
    try:
        yield ws
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=TIMEOUT)
        shutil.rmtree(sock_dir, ignore_errors=True)
