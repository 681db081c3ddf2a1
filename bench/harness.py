"""The pieces every benchmark needs: generated workspaces, a private wtd, a raw client.

Everything here is stdlib plus ``wtd.tracker.model`` (only to write a valid
tracker); nothing measures time by itself, the row modules do.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

READY_TIMEOUT = 60.0
TRACKER = "bench"
_STATUSES = ("complete", "pending", "in_progress", "complete", "blocked", "skipped")


def progress(message: str) -> None:
    """One progress line on stderr (the table goes to stdout)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def bench_env(sock: Path | None = None, *, bytecode: bool = True) -> dict[str, str]:
    """A clean environment: no user config, no failpoints, .pyc caches allowed."""
    env = dict(os.environ)
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
        "WATCHDOG_USEC",
        "WATCHDOG_PID",
    ):
        env.pop(key, None)
    if bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["WTD_LOG_LEVEL"] = "WARNING"
    if sock is not None:
        env["WTD_SOCKET"] = str(sock)
        env["XDG_CONFIG_HOME"] = str(sock.parent / "config")
    return env


# ------------------------------------------------------------------ data


def tracker_raw(n_tasks: int, n_phases: int = 10) -> dict[str, Any]:
    """A generated tracker (JSON-ready): tasks grouped by phase, mixed statuses, a
    dependency chain inside each phase. tests/tracker/conftest.py builds on it too."""
    per_phase = max(1, -(-n_tasks // n_phases))
    tasks: list[dict[str, Any]] = []
    for i in range(n_tasks):
        phase, n = divmod(i, per_phase)
        task: dict[str, Any] = {
            "id": f"{phase + 1}.{n + 1}",
            "phase": phase + 1,
            "name": f"Task {phase + 1}.{n + 1}",
            "status": _STATUSES[i % len(_STATUSES)],
        }
        if n:
            task["dependencies"] = [f"{phase + 1}.{n}"]
        tasks.append(task)
    return {
        "schema_version": "2.0.0",
        "meta": {"title": f"Big tracker ({n_tasks} tasks)", "progress": {"overall": 0}},
        "phases": [
            {"number": p + 1, "name": f"Phase {p + 1}", "status": "pending"}
            for p in range(n_phases)
        ],
        "tasks": tasks,
    }


def tracker_bytes(n_tasks: int, n_phases: int = 10) -> bytes:
    """The tracker as wtd itself would write it (canonical, progress derived)."""
    from wtd.tracker import model

    raw = tracker_raw(n_tasks, n_phases)
    raw["schema_version"] = model.SCHEMA_VERSION
    return model.encode(model.with_derived_progress(model.from_raw(raw)))


def open_task_ids(n_tasks: int, n_phases: int = 10) -> list[str]:
    """Ids of tasks that are not complete in the generated tracker (so marking them
    complete is a real change), spread over the phases."""
    raw = tracker_raw(n_tasks, n_phases)
    return [t["id"] for t in raw["tasks"] if t["status"] != "complete"]


class Workspace:
    """A temp project folder holding one generated tracker, and a private socket dir."""

    def __init__(self, n_tasks: int, *, tag: str = "") -> None:
        self.n_tasks = n_tasks
        self.root = Path(tempfile.mkdtemp(prefix=f"wtd-bench-{tag or n_tasks}-"))
        self.sock_dir = Path(tempfile.mkdtemp(prefix="wtd-bench-sock-", dir="/tmp"))
        self.sock = self.sock_dir / "wtd.sock"
        self.json = self.root / ".ecw" / "plans" / f"{TRACKER}.json"
        self.md = self.root / "docs" / "plans" / f"{TRACKER}.md"
        self.json.parent.mkdir(parents=True)
        self.json.write_bytes(tracker_bytes(n_tasks))

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self.sock_dir, ignore_errors=True)


# ------------------------------------------------------------------ daemon


class Daemon:
    """A real ``wtd`` in the foreground on the workspace's private socket."""

    def __init__(self, ws: Workspace, bin_dir: Path) -> None:
        self.ws = ws
        read_fd, write_fd = os.pipe()
        log = open(ws.sock_dir / "wtd.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [str(bin_dir / "wtd"), "--socket", str(ws.sock), "--ready-fd", str(write_fd)],
            env=bench_env(ws.sock),
            stdout=log,
            stderr=log,
            pass_fds=(write_fd,),
            cwd=ws.root,
        )
        log.close()
        os.close(write_fd)
        try:
            ready, _, _ = select.select([read_fd], [], [], READY_TIMEOUT)
            if not (ready and os.read(read_fd, 1) == b"1"):
                self.stop()
                raise RuntimeError(f"wtd did not start:\n{self.log()}")
        finally:
            os.close(read_fd)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log(self) -> str:
        path = self.ws.sock_dir / "wtd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_ticks(self) -> int:
        """utime + stime of the daemon, in clock ticks."""
        stat = Path(f"/proc/{self.pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2 :].split()
        return int(fields[11]) + int(fields[12])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextlib.contextmanager
def running(n_tasks: int, bin_dir: Path, *, tag: str = "") -> Iterator[tuple[Workspace, Daemon]]:
    ws = Workspace(n_tasks, tag=tag)
    try:
        daemon = Daemon(ws, bin_dir)
        try:
            yield ws, daemon
        finally:
            daemon.stop()
    finally:
        ws.cleanup()


# ------------------------------------------------------------------ client


class Client:
    """A persistent connection speaking the wire protocol directly (stdlib only)."""

    def __init__(self, sock_path: Path, *, timeout: float = 300.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(sock_path))
        self._n = 0
        self._prefix = os.urandom(6).hex()
        welcome = self._roundtrip({"type": "hello", "version": 1, "client": "bench"})
        if welcome.get("type") != "welcome":
            raise RuntimeError(f"handshake refused: {welcome}")

    def _recv(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("wtd closed the connection")
            buf += chunk
        return bytes(buf)

    def _roundtrip(self, message: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(message, separators=(",", ":")).encode()
        self.sock.sendall(struct.pack(">I", len(body)) + body)
        (length,) = struct.unpack(">I", self._recv(4))
        reply: dict[str, Any] = json.loads(self._recv(length))
        return reply

    def command(
        self, phrase: str, *, tracker: str | None, cwd: str, **options: Any
    ) -> dict[str, Any]:
        self._n += 1
        msg: dict[str, Any] = {
            "type": "command",
            "id": f"{self._prefix}-{self._n}",
            "phrase": phrase,
            "cwd": cwd,
            "options": options,
        }
        if tracker:
            msg["tracker"] = tracker
        return self._roundtrip(msg)

    def close(self) -> None:
        self.sock.close()


def ok(reply: dict[str, Any], what: str) -> dict[str, Any]:
    if reply.get("type") != "reply" or not reply.get("ok"):
        raise RuntimeError(f"{what}: {reply}")
    return reply


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of an unsorted list."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered) / 100))
    return ordered[min(len(ordered), rank) - 1]
