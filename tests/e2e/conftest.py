"""Fixtures that run the real programs: a temp workspace, a private socket, wtd and wtctl."""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "data" / "my-project.json"  # stored progress stale on purpose
SCHEMA = REPO / "tests" / "ecw-work-tracker-v2.schema.json"
BIN = Path(sys.executable).parent
READY_TIMEOUT = 20.0


class Workspace:
    """A project folder with the example tracker, and a private wtd socket."""

    def __init__(self, root: Path, sock_dir: Path) -> None:
        self.root = root
        self.sock = sock_dir / "wtd.sock"
        self.json = root / ".ecw" / "plans" / "my-project.json"
        self.md = root / "docs" / "plans" / "my-project.md"
        self.env = {
            **os.environ,
            "WTD_SOCKET": str(self.sock),
            "WTD_LOG_LEVEL": "DEBUG",
            "XDG_CONFIG_HOME": str(sock_dir / "config"),  # no user config leaks in
        }
        for key in (
            "WT_TRACKER",
            "WT_AGENT",
            "WT_SUBAGENT",
            "WT_FAILPOINTS",
            "NOTIFY_SOCKET",
            "WTD_CONFIG",
            "WT_RETRY_MAX",
            "WT_RETRY_DELAY",
            "WT_CIRCUIT_THRESHOLD",
            "WT_CIRCUIT_TIMEOUT",
        ):
            self.env.pop(key, None)

    # ---------------------------------------------------------------- wtctl

    def wtctl(
        self, *args: str, stdin: str | None = None, tracker: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        argv = [str(BIN / "wtctl")]
        if tracker:
            argv += ["--tracker", str(self.md)]
        argv += list(args)
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=self.root,
            timeout=timeout,
        )

    def ok(self, *args: str) -> str:
        proc = self.wtctl(*args)
        assert proc.returncode == 0, (
            f"wtctl {args} → {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        )
        return proc.stdout

    def data(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.json.read_bytes())
        return result

    def task(self, task_id: str) -> dict[str, Any]:
        for task in self.data()["tasks"]:
            if task["id"] == task_id:
                return dict(task)
        raise KeyError(task_id)

    # ---------------------------------------------------------------- wtd

    def daemon_pid(self) -> int | None:
        lock = self.sock.with_name(self.sock.name + ".lock")
        try:
            text = lock.read_text().strip()
        except FileNotFoundError:
            return None
        return int(text) if text else None

    def start_daemon(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        """Start wtd in the foreground and wait for its readiness byte (no polling)."""
        read_fd, write_fd = os.pipe()
        env = {**self.env, **(extra_env or {})}
        log = open(self.sock.parent / "wtd.log", "ab")  # noqa: SIM115 - owned by the process
        proc = subprocess.Popen(
            [str(BIN / "wtd"), "--socket", str(self.sock), "--ready-fd", str(write_fd)],
            env=env,
            stdout=log,
            stderr=log,
            pass_fds=(write_fd,),
        )
        log.close()
        os.close(write_fd)
        try:
            ready, _, _ = select.select([read_fd], [], [], READY_TIMEOUT)
            assert ready and os.read(read_fd, 1) == b"1", f"wtd did not start:\n{self.log()}"
        finally:
            os.close(read_fd)
        return proc

    def log(self) -> str:
        path = self.sock.parent / "wtd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def kill_daemon(self, sig: int = signal.SIGKILL) -> None:
        pid = self.daemon_pid()
        if pid is None:
            return
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        _wait_gone(pid)


def _wait_gone(pid: int) -> None:
    """Wait until ``pid`` has exited (pidfd: an event, not a poll)."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], READY_TIMEOUT)
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):  # reap it if it is our child
        os.waitpid(pid, os.WNOHANG)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    root = tmp_path / "project"
    (root / ".ecw" / "plans").mkdir(parents=True)
    shutil.copy(EXAMPLE, root / ".ecw" / "plans" / "my-project.json")
    sock_dir = Path(tempfile.mkdtemp(prefix="wtd-test-", dir="/tmp"))
    workspace = Workspace(root, sock_dir)
    try:
        yield workspace
    finally:
        workspace.kill_daemon(signal.SIGTERM)
        shutil.rmtree(sock_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    result: dict[str, Any] = json.loads(SCHEMA.read_text())
    return result
