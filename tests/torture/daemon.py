"""The workspace under torture and the real ``wtd`` serving it.

The Keeper owns the daemon's life: it starts wtd with the failpoints the runner
chose, kills it with SIGKILL on request, and restarts it whenever it died on its
own (an injected ``crash``). Each start picks, seeded, one of the ways users start
wtd (``MODES``):

- ``script``: the console script, ``wtd --socket PATH --ready-fd FD``;
- ``autostart``: no daemon runs and a real ``wtctl`` autostarts ``python -m wtd``;
- ``activation``: systemd-style socket activation: the Keeper binds the socket and
  starts ``wtd`` with it on fd 3, ``LISTEN_FDS=1`` and ``LISTEN_PID`` = its pid;

and, independently, a low descriptor limit (``RLIMIT_NOFILE`` = ``LOW_NOFILE``, so a
flood reaches EMFILE) and the torture config (a small ``[daemon] max_connections``
and ``frame_timeout``). wtctl's autostart may also win a race and start one itself;
the lock file beside the socket names whoever serves.

A daemon that exits on its own without an injected ``crash`` is a violation (a
client hanging up must never stop it: SIGPIPE).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import fcntl
import json
import os
import random
import select
import shutil
import signal
import socket
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

MODES = ("script", "autostart", "activation")
MODE_WEIGHTS = {"script": 2, "autostart": 1, "activation": 1}
# What ``--avoid`` takes to leave a way of starting out.
START_AVOIDABLE = ("start-autostart", "start-activation", "start-lowfd", "start-config")
LOW_NOFILE = 64
LOW_NOFILE_SHARE = 0.15
CONFIG_SHARE = 0.4
# The torture config: a connection cap a flood reaches quickly, a short frame deadline.
MAX_CONNECTIONS = 40
FRAME_TIMEOUT = 2.0
TORTURE_CONFIG = f"""\
# written by the torture runner
[daemon]
max_connections = {MAX_CONNECTIONS}
frame_timeout = {FRAME_TIMEOUT}
"""

# Runs as the daemon's process before wtd itself (exec keeps the pid): lowers the
# descriptor limit and, for socket activation, puts the listening socket on fd 3 and
# sets LISTEN_FDS / LISTEN_PID as systemd does.
# argv: NOFILE (0 = unchanged) LISTEN_FD (-1 = none) PROGRAM ARGS...
EXEC_WRAPPER = r"""
import os, resource, sys
nofile, listen_fd, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
if nofile > 0:
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
if listen_fd >= 0:
    if listen_fd != 3:
        if "--ready-fd" in argv:
            at = argv.index("--ready-fd") + 1
            if argv[at] == "3":
                moved = os.dup(3)
                os.set_inheritable(moved, True)
                argv[at] = str(moved)
        os.dup2(listen_fd, 3)
        os.close(listen_fd)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ.pop("LISTEN_FDNAMES", None)
os.execv(argv[0], argv)
"""


class Workspace:
    """A temp project with the example tracker, and a private socket folder."""

    def __init__(self, filler: int = 0) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="wtd-torture-"))
        self.root = self.base / "project"
        (self.root / ".ecw" / "plans").mkdir(parents=True)
        (self.root / "docs" / "plans").mkdir(parents=True)
        shutil.copy(EXAMPLE, self.root / ".ecw" / "plans" / "my-project.json")
        if filler:  # in a phase of its own: the clients' phases stay as they are
            tracker = json.loads(EXAMPLE.read_text())
            tracker["tasks"] += [
                {"id": f"9.{n}", "phase": 9, "name": f"Filler {n}", "status": "pending"}
                for n in range(1, filler + 1)
            ]
            tracker["phases"].append({"number": 9, "name": "Filler", "status": "pending"})
            (self.root / ".ecw" / "plans" / "my-project.json").write_text(json.dumps(tracker))
        self.sock_dir = Path(tempfile.mkdtemp(prefix="wtd-t-", dir="/tmp"))
        os.chmod(self.sock_dir, 0o700)
        self.sock = self.sock_dir / "wtd.sock"
        self.json = self.root / ".ecw" / "plans" / "my-project.json"
        self.md = self.root / "docs" / "plans" / "my-project.md"
        self.ecw = self.root / ".ecw"
        self.log_path = self.sock_dir / "wtd.log"
        self.config_path = self.sock_dir / "torture-wtd.toml"
        self.config_path.write_text(TORTURE_CONFIG)
        self.extra_dirs: list[Path] = []  # more socket folders (a second shell's)
        env = clean_env()
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
        return lock_pid(self.sock)

    def cleanup(self, keep: bool) -> None:
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)
            shutil.rmtree(self.sock_dir, ignore_errors=True)
            for folder in self.extra_dirs:
                shutil.rmtree(folder, ignore_errors=True)


def clean_env() -> dict[str, str]:
    """This process's environment without what would change wtd's or wtctl's behaviour."""
    env = dict(os.environ)
    for key in (
        "WT_TRACKER",
        "WT_AGENT",
        "WT_SUBAGENT",
        "WT_FAILPOINTS",
        "NOTIFY_SOCKET",
        "WATCHDOG_USEC",
        "WTD_CONFIG",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
    ):
        env.pop(key, None)
    env.update(FAST_HEALING)
    return env


def lock_pid(sock: Path) -> int | None:
    """The pid in the lock file beside ``sock`` (``wtd.sock.lock``), if any."""
    try:
        text = sock.with_name(sock.name + ".lock").read_text().strip()
    except (FileNotFoundError, ValueError):
        return None
    return int(text) if text.isdigit() else None


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float = READY_TIMEOUT) -> bool:
    """Wait until ``pid`` is gone; True when it is."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return not alive(pid)


def environ_of(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    out = {}
    for item in raw.split(b"\0"):
        key, eq, value = item.partition(b"=")
        if eq:
            out[key.decode(errors="replace")] = value.decode(errors="replace")
    return out


def open_files(pid: int, *, writing: bool = False) -> list[str]:
    """The paths ``pid`` has open (sockets, pipes and anon inodes left out); with
    ``writing``, only those open for writing (``/proc/PID/fdinfo``'s flags)."""
    out: list[str] = []
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return out
    for name in names:
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{name}")
            if not target.startswith("/"):
                continue
            if writing and not _for_writing(pid, name):
                continue
            out.append(target.removesuffix(" (deleted)"))
    return out


def _for_writing(pid: int, fd: str) -> bool:
    with open(f"/proc/{pid}/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & os.O_ACCMODE != os.O_RDONLY
    return False


def log_tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.splitlines()[-lines:])


@dataclass(frozen=True)
class StartPlan:
    """How one start runs wtd."""

    mode: str = "script"  # one of MODES
    nofile: int = 0  # RLIMIT_NOFILE for the daemon; 0 = inherited
    config: bool = False  # started with the torture config

    def describe(self) -> str:
        extra = [f"RLIMIT_NOFILE={self.nofile}"] if self.nofile else []
        if self.config:
            extra.append(f"max_connections={MAX_CONNECTIONS} frame_timeout={FRAME_TIMEOUT}")
        return self.mode + (f" ({', '.join(extra)})" if extra else "")


# A daemon the Keeper found serving, started by some wtctl client's autostart.
CLIENT_AUTOSTART = StartPlan("a client's wtctl autostart")


@dataclass
class DaemonInfo:
    """One daemon process and how it was started."""

    pid: int
    plan: StartPlan
    spec: str  # its WT_FAILPOINTS
    proc: subprocess.Popen[bytes] | None = None  # when the Keeper is its parent


@dataclass
class Usage:
    """Resource samples of one daemon incarnation."""

    pid: int
    rss_first_kib: int
    rss_max_kib: int
    fds_max: int
    json_max_kib: int = 0  # the tracker JSON's size, largest seen while this pid served
    input_max_kib: int = 0  # the largest other file it was handed (a pathological one)


@dataclass
class KeeperStats:
    starts: int = 0
    kills: int = 0
    self_exits: int = 0  # died without being killed: injected crash, crash loop
    autostarted: int = 0  # found serving, started by a wtctl client
    failpoint_specs: list[str] = field(default_factory=list)
    usage: dict[int, Usage] = field(default_factory=dict)
    modes: collections.Counter[str] = field(default_factory=collections.Counter)
    lowfd_starts: int = 0
    config_starts: int = 0

    def describe_modes(self) -> str:
        return ",".join(f"{m}:{self.modes[m]}" for m in MODES)


class Keeper:
    """Starts, kills and watches wtd; thread-safe."""

    def __init__(self, ws: Workspace, seed: int = 0, avoid: frozenset[str] = frozenset()) -> None:
        self.ws = ws
        self.rng = random.Random(seed)
        self.avoid = avoid
        self.stats = KeeperStats()
        self.lock = threading.RLock()
        self.incarnation = 0  # bumped by every kill and every start
        self.pid: int | None = None
        self.spec = ""  # the failpoints of the current incarnation
        self.specs_by_pid: dict[int, str] = {}
        self.info: dict[int, DaemonInfo] = {}
        self.violations: list[str] = []
        self.flooding = threading.Event()  # a flood is on: fd samples and the probe pause
        self.config_supported = _config_supported(ws)
        self._killed: set[int] = set()
        self._gone: set[int] = set()
        self._events: collections.deque[tuple[float, str]] = collections.deque(maxlen=32)
        self._children: list[subprocess.Popen[bytes]] = []
        self._hold = False
        self._starts = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="keeper", daemon=True)

    # ------------------------------------------------------------ control

    def choose(self, *, limits: bool = True) -> StartPlan:
        """A seeded way to start wtd (``limits``: a low fd limit and the config may apply)."""
        modes = [m for m in MODES if m == "script" or f"start-{m}" not in self.avoid]
        mode = self.rng.choices(modes, [MODE_WEIGHTS[m] for m in modes])[0]
        nofile = 0
        config = False
        if limits and "start-lowfd" not in self.avoid and self.rng.random() < LOW_NOFILE_SHARE:
            nofile = LOW_NOFILE
        if (
            limits
            and self.config_supported
            and "start-config" not in self.avoid
            and self.rng.random() < CONFIG_SHARE
        ):
            config = True
        return StartPlan(mode, nofile, config)

    def start(self, spec: str = "", plan: StartPlan | None = None) -> int:
        """Start wtd with failpoints ``spec``; returns the pid that serves afterwards."""
        with self.lock:
            plan = plan or self.choose()
            self.incarnation += 1
            self._starts += 1
            token = f"{os.getpid()}-{self._starts}"
            env = dict(self.ws.env)
            env["WTD_TORTURE_START"] = token
            if spec:
                env["WT_FAILPOINTS"] = spec
            with open(self.ws.log_path, "ab") as log:
                stamp = time.strftime("%H:%M:%S")
                log.write(
                    f"=== torture: starting wtd at {stamp} via {plan.describe()} "
                    f"WT_FAILPOINTS={spec!r}\n".encode()
                )
            if plan.mode == "autostart":
                pid, proc = self._autostart(env, plan, token)
            else:
                pid, proc = self._spawn(env, plan)
            self.stats.starts += 1
            self.stats.modes[plan.mode] += 1
            self.stats.lowfd_starts += bool(plan.nofile)
            self.stats.config_starts += plan.config
            if pid:
                self.pid = pid
                self.spec = spec
                self.info[pid] = DaemonInfo(pid, plan, spec, proc)
            else:  # lost a race with an autostart, or failed: whoever holds the lock serves
                self.pid = self.ws.lock_pid()
                self.spec = ""
                if self.pid is not None and not alive(self.pid):
                    self.pid = None
                if self.pid is not None:
                    self.info.setdefault(self.pid, DaemonInfo(self.pid, CLIENT_AUTOSTART, ""))
            if spec:
                self.stats.failpoint_specs.append(spec)
            if self.pid is not None:
                self.specs_by_pid[self.pid] = self.spec
            self._reap()
            return self.pid or 0

    def _spawn(
        self, env: dict[str, str], plan: StartPlan
    ) -> tuple[int, subprocess.Popen[bytes] | None]:
        """``script`` or ``activation``: the Keeper is the daemon's parent."""
        listen: socket.socket | None = None
        if plan.mode == "activation":
            listen = self._bind_for_activation()
            if listen is None:
                return 0, None  # somebody serves already
        read_fd, write_fd = os.pipe()
        argv = [str(BIN / "wtd")]
        if listen is None:
            argv += ["--socket", str(self.ws.sock)]
        argv += ["--ready-fd", str(write_fd)]
        if plan.config:
            argv += ["--config", str(self.ws.config_path)]
        pass_fds = [write_fd]
        if listen is not None or plan.nofile:
            listen_fd = listen.fileno() if listen is not None else -1
            argv = [sys.executable, "-c", EXEC_WRAPPER, str(plan.nofile), str(listen_fd), *argv]
            if listen is not None:
                pass_fds.append(listen_fd)
        try:
            with open(self.ws.log_path, "ab") as log:
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=tuple(pass_fds),
                )
        finally:
            os.close(write_fd)
            if listen is not None:
                listen.close()  # the daemon has it now; systemd would keep one, we need not
        self._children.append(proc)
        try:
            ready, _, _ = select.select([read_fd], [], [], READY_TIMEOUT)
            byte = os.read(read_fd, 1) if ready else b""
        finally:
            os.close(read_fd)
        if byte == b"1":
            if plan.mode == "activation":
                self._write_lock(proc.pid)
            return proc.pid, proc
        status = proc.poll()
        other = self.ws.lock_pid()
        if plan.mode == "activation" or other is None or not alive(other) or other == proc.pid:
            self.violations.append(
                f"wtd started via {plan.describe()} did not become ready within "
                f"{READY_TIMEOUT:g}s (exit status {status}); log: {log_tail(self.ws.log_path)}"
            )
        if status is None:
            proc.kill()
            proc.wait(5)
        return 0, None

    def _autostart(
        self, env: dict[str, str], plan: StartPlan, token: str
    ) -> tuple[int, subprocess.Popen[bytes] | None]:
        """``autostart``: a real wtctl finds no daemon and starts ``python -m wtd``."""
        if plan.config:
            env["WTD_CONFIG"] = str(self.ws.config_path)
        argv = [str(BIN / "wtctl"), "--json", "--tracker", str(self.ws.md), "help"]
        if plan.nofile:  # wtctl passes its limit on to the daemon it starts
            argv = [sys.executable, "-c", EXEC_WRAPPER, str(plan.nofile), "-1", *argv]
        try:
            proc = subprocess.run(
                argv,
                env=env,
                cwd=self.ws.root,
                capture_output=True,
                text=True,
                timeout=READY_TIMEOUT * 3,
            )
            out = (proc.stdout + proc.stderr).strip()
            code: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            out, code = "", "timeout"
        pid = self.ws.lock_pid()
        if (pid is None or not alive(pid)) and "crash" in env.get("WT_FAILPOINTS", ""):
            return 0, None  # started, then ended by its crash failpoint (other clients ask too)
        if pid is None or not alive(pid):
            self.violations.append(
                f"wtctl's autostart ({plan.describe()}) left no daemon serving "
                f"(wtctl exit {code}: {out[-300:]!r}); log: {log_tail(self.ws.log_path)}"
            )
            return 0, None
        if environ_of(pid).get("WTD_TORTURE_START") != token:
            return 0, None  # another client's autostart won the race
        return pid, None

    def _bind_for_activation(self) -> socket.socket | None:
        """Bind the socket as systemd would; None when a daemon serves (or is starting)."""
        lock = self.ws.sock.with_name(self.ws.sock.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    return None
                raise
            path = str(self.ws.sock)
            if os.path.lexists(path):
                probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                try:
                    probe.connect(path)
                except OSError:
                    os.unlink(path)
                else:
                    return None
                finally:
                    probe.close()
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(path)
            os.chmod(path, 0o600)
            sock.listen(256)
            return sock
        finally:
            os.close(fd)  # releases the flock

    def _write_lock(self, pid: int) -> None:
        """An activated wtd holds no lock beside the socket: name it there for the others."""
        lock = self.ws.sock.with_name(self.ws.sock.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return  # held by a daemon (one that locks even when activated)
        try:
            named = lock_pid(self.ws.sock)
            if named is None or named == pid or not alive(named):
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{pid}\n".encode(), 0)
        finally:
            os.close(fd)

    def kill(self) -> None:
        """SIGKILL whoever serves now (ours or autostarted)."""
        with self.lock:
            self.incarnation += 1
            pid = self.current()
            if pid is None:
                return
            self._killed.add(pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid)
            self.stats.kills += 1
            self.pid = None
            self._reap()

    def restart(
        self,
        spec: str = "",
        down_for: float = 0.0,
        while_down: Callable[[], None] | None = None,
        plan: StartPlan | None = None,
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
                return self.start(spec, plan)
            finally:
                self._hold = False

    def current(self) -> int | None:
        """The pid serving the socket now, if any."""
        with self.lock:
            if self.pid is not None:
                if alive(self.pid):
                    return self.pid
                self._exited(self.pid)
            pid = self.ws.lock_pid()
            if pid is not None and alive(pid):
                if pid != self.pid:
                    self.stats.autostarted += 1
                    self.specs_by_pid.setdefault(pid, "")
                    self.info.setdefault(pid, DaemonInfo(pid, CLIENT_AUTOSTART, ""))
                    self.incarnation += 1
                self.pid = pid
                return pid
            return None

    def snapshot(self) -> tuple[int, int | None, DaemonInfo | None]:
        """(incarnation, pid, info) of the daemon serving now, taken together."""
        with self.lock:
            pid = self.current()
            return self.incarnation, pid, self.info.get(pid) if pid is not None else None

    def big_input(self, nbytes: int) -> None:
        """The serving daemon was handed a file of ``nbytes``: its RSS may grow with it."""
        with self.lock:
            pid = self.current()
            usage = self.stats.usage.get(pid) if pid is not None else None
            if usage is not None:
                usage.input_max_kib = max(usage.input_max_kib, nbytes // 1024)

    def info_of(self, pid: int | None) -> DaemonInfo | None:
        with self.lock:
            return self.info.get(pid) if pid is not None else None

    def note(self, what: str) -> None:
        """Remember a client event, named when a daemon dies soon after."""
        with self.lock:
            self._events.append((time.monotonic(), what))

    def _exited(self, pid: int) -> None:
        """``pid`` is gone: unless the Keeper killed it or a crash was injected, say so."""
        if pid in self._gone or pid in self._killed:
            return
        self._gone.add(pid)
        self.stats.self_exits += 1
        info = self.info.get(pid)
        spec = info.spec if info else self.specs_by_pid.get(pid, "")
        if "crash" in spec:
            return
        status: int | str = "unknown (not the runner's child)"
        if info is not None and info.proc is not None:
            code = info.proc.poll()
            if code is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    code = info.proc.wait(2)
            if code is not None and code < 0:
                status = f"killed by {signal.Signals(-code).name}"
            else:
                status = str(code)
        now = time.monotonic()
        recent = [what for at, what in self._events if now - at < 3.0][-4:]
        how = info.plan.describe() if info else "unknown"
        self.violations.append(
            f"wtd pid {pid} (started via {how}, WT_FAILPOINTS={spec!r}) exited on its own "
            f"with no crash injected: exit status {status}; "
            f"client events just before: {recent or 'none'}; log: {log_tail(self.ws.log_path)}"
        )

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
                self._killed.add(pid)
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
                        self.incarnation += 1
                    self.start()
                    continue
            self._sample(pid)

    def _sample(self, pid: int) -> None:
        rss = _rss_kib(pid)
        fds = _fd_count(pid)
        if rss is None or fds is None:
            return
        if self.flooding.is_set():
            fds = 0  # a flood holds descriptors on purpose; its own check judges them
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


def _config_supported(ws: Workspace) -> bool:
    """Whether this wtd takes the torture config (its keys are new: skip if rejected)."""
    try:
        proc = subprocess.run(
            [str(BIN / "wtd"), "--config", str(ws.config_path), "--print-config"],
            env=ws.env,
            capture_output=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def _rss_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError, ValueError):
        return None
    return None


def fd_count(pid: int) -> int | None:
    return _fd_count(pid)


def _fd_count(pid: int) -> int | None:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def json_lock(root: Path) -> dict[str, object] | None:
    """The workspace lock ``.ecw/wtd.lock`` ({"pid", "socket"}), None when absent/unreadable."""
    try:
        data = json.loads((root / ".ecw" / "wtd.lock").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
