"""The workspace under torture and the real ``wtd`` serving it.

The Keeper owns the daemon's life: it starts ``wtd --socket PATH --ready-fd FD``
with the failpoints the runner chose, kills it with SIGKILL on request, and restarts
it whenever it died on its own (an injected ``crash``). wtctl's autostart may win a
race and start one itself; the lock file beside the socket names whoever serves.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "tests" / "data" / "my-project.json"
SCHEMA = REPO / "tests" / "ecw-work-tracker-v2.schema.json"
BIN = Path(sys.executable).parent
READY_TIMEOUT = 20.0

# Small retry settings so that faults resolve within the run (SPEC §5).
FAST_HEALING = {
    "WT_RETRY_DELAY": "0.01",
    "WT_RETRY_MAX": "3",
    "WT_CIRCUIT_THRESHOLD": "5",
    "WT_CIRCUIT_TIMEOUT": "1",
}


class Workspace:
    """A temp project with the example tracker, and a private socket folder."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="wtd-torture-"))
        self.root = self.base / "project"
        (self.root / ".ecw" / "plans").mkdir(parents=True)
        (self.root / "docs" / "plans").mkdir(parents=True)
        shutil.copy(EXAMPLE, self.root / ".ecw" / "plans" / "my-project.json")
        self.sock_dir = Path(tempfile.mkdtemp(prefix="wtd-t-", dir="/tmp"))
        os.chmod(self.sock_dir, 0o700)
        self.sock = self.sock_dir / "wtd.sock"
        self.json = self.root / ".ecw" / "plans" / "my-project.json"
        self.md = self.root / "docs" / "plans" / "my-project.md"
        self.ecw = self.root / ".ecw"
        self.log_path = self.sock_dir / "wtd.log"
        env = dict(os.environ)
        for key in (
            "WT_TRACKER",
            "WT_AGENT",
            "WT_SUBAGENT",
            "WT_FAILPOINTS",
            "NOTIFY_SOCKET",
            "WATCHDOG_USEC",
            "WTD_CONFIG",
        ):
            env.pop(key, None)
        env.update(FAST_HEALING)
        env.update(
            {
                "WTD_SOCKET": str(self.sock),
                "WTD_LOG_LEVEL": "INFO",
                "XDG_CONFIG_HOME": str(self.sock_dir / "config"),
                "XDG_STATE_HOME": str(self.sock_dir / "state"),
                "WTCTL_TIMEOUT": "45",
            }
        )
        self.env = env

    def lock_pid(self) -> int | None:
        try:
            text = self.sock.with_name(self.sock.name + ".lock").read_text().strip()
        except (FileNotFoundError, ValueError):
            return None
        return int(text) if text.isdigit() else None

    def cleanup(self, keep: bool) -> None:
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)
            shutil.rmtree(self.sock_dir, ignore_errors=True)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float = READY_TIMEOUT) -> None:
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@dataclass
class Usage:
    """Resource samples of one daemon incarnation."""

    pid: int
    rss_first_kib: int
    rss_max_kib: int
    fds_max: int
    json_max_kib: int = 0  # the tracker JSON's size, largest seen while this pid served


@dataclass
class KeeperStats:
    starts: int = 0
    kills: int = 0
    self_exits: int = 0  # died without being killed: injected crash, crash loop
    autostarted: int = 0  # found serving, started by a wtctl client
    failpoint_specs: list[str] = field(default_factory=list)
    usage: dict[int, Usage] = field(default_factory=dict)


class Keeper:
    """Starts, kills and watches wtd; thread-safe."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self.stats = KeeperStats()
        self.lock = threading.RLock()
        self.incarnation = 0  # bumped by every kill and every start
        self.pid: int | None = None
        self.spec = ""  # the failpoints of the current incarnation
        self.specs_by_pid: dict[int, str] = {}
        self._children: list[subprocess.Popen[bytes]] = []
        self._hold = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="keeper", daemon=True)

    # ------------------------------------------------------------ control

    def start(self, spec: str = "") -> int:
        """Start wtd with failpoints ``spec``; returns the pid that serves afterwards."""
        with self.lock:
            self.incarnation += 1
            read_fd, write_fd = os.pipe()
            env = dict(self.ws.env)
            if spec:
                env["WT_FAILPOINTS"] = spec
            with open(self.ws.log_path, "ab") as log:
                stamp = time.strftime("%H:%M:%S")
                log.write(f"=== torture: starting wtd at {stamp} WT_FAILPOINTS={spec!r}\n".encode())
                log.flush()
                proc = subprocess.Popen(
                    [str(BIN / "wtd"), "--socket", str(self.ws.sock), "--ready-fd", str(write_fd)],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(write_fd,),
                )
            os.close(write_fd)
            self._children.append(proc)
            try:
                ready, _, _ = select.select([read_fd], [], [], READY_TIMEOUT)
                byte = os.read(read_fd, 1) if ready else b""
            finally:
                os.close(read_fd)
            self.stats.starts += 1
            if byte == b"1":
                self.pid = proc.pid
                self.spec = spec
            else:  # lost a race with an autostart, or failed: whoever holds the lock serves
                self.pid = self.ws.lock_pid()
                self.spec = ""
                if self.pid is not None and not alive(self.pid):
                    self.pid = None
            if spec:
                self.stats.failpoint_specs.append(spec)
            if self.pid is not None:
                self.specs_by_pid[self.pid] = self.spec
            self._reap()
            return self.pid or 0

    def kill(self) -> None:
        """SIGKILL whoever serves now (ours or autostarted)."""
        with self.lock:
            self.incarnation += 1
            pid = self.current()
            if pid is None:
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
            self.stats.kills += 1
            self.pid = None
            self._reap()

    def restart(
        self, spec: str = "", down_for: float = 0.0, while_down: Callable[[], None] | None = None
    ) -> int:
        """Kill -9, stay down ``down_for`` s (running ``while_down``), start with ``spec``."""
        with self.lock:
            self._hold = True
        try:
            self.kill()
            if down_for:
                time.sleep(down_for)
            if while_down is not None:
                while_down()
            return self.start(spec)
        finally:
            with self.lock:
                self._hold = False

    def current(self) -> int | None:
        """The pid serving the socket now, if any."""
        with self.lock:
            if self.pid is not None and alive(self.pid):
                return self.pid
            pid = self.ws.lock_pid()
            if pid is not None and alive(pid):
                if pid != self.pid:
                    self.stats.autostarted += 1
                    self.specs_by_pid.setdefault(pid, "")
                    self.incarnation += 1
                self.pid = pid
                return pid
            return None

    def ensure(self) -> int:
        with self.lock:
            pid = self.current()
            return pid if pid is not None else self.start()

    def stop(self) -> None:
        """Stop watching; SIGTERM the daemon and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(5)
        with self.lock:
            pid = self.current()
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                wait_gone(pid)
            for proc in self._children:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)

    def watch(self) -> None:
        self._thread.start()

    # ------------------------------------------------------------ watching

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            with self.lock:
                if self._hold:
                    continue
                before = self.pid
                pid = self.current()
                if pid is None:
                    if before is not None:
                        self.stats.self_exits += 1
                        self.incarnation += 1
                    self.start()
                    continue
            self._sample(pid)

    def _sample(self, pid: int) -> None:
        rss = _rss_kib(pid)
        fds = _fd_count(pid)
        if rss is None or fds is None:
            return
        try:
            json_kib = self.ws.json.stat().st_size // 1024
        except FileNotFoundError:
            json_kib = 0
        with self.lock:
            usage = self.stats.usage.get(pid)
            if usage is None:
                self.stats.usage[pid] = Usage(pid, rss, rss, fds, json_kib)
            else:
                usage.rss_max_kib = max(usage.rss_max_kib, rss)
                usage.fds_max = max(usage.fds_max, fds)
                usage.json_max_kib = max(usage.json_max_kib, json_kib)

    def _reap(self) -> None:
        alive_children = []
        for proc in self._children:
            if proc.poll() is None:
                alive_children.append(proc)
        self._children = alive_children


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return None


def _fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
