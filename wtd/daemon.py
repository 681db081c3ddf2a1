"""Daemon start-up: claim the socket (one daemon per socket), then run the supervisor.

The socket lives in a 0700 folder. A lock file beside it (``wtd.sock.lock``, holding
the pid) makes a second daemon on the same socket exit with a clear message; a
socket file nobody listens on (left by a killed daemon) is replaced. Under systemd
socket activation (``LISTEN_FDS``) the passed socket is adopted instead.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import logging
import os
import signal
import socket
import stat
from pathlib import Path
from typing import Any

import anyio

from wtd import paths
from wtd.actors.executor import Settings
from wtd.config import Config
from wtd.enforcement.agents import AgentRule, rule_key
from wtd.healing.retry import RetryPolicy
from wtd.storage import inotify
from wtd.storage.failpoints import Failpoints
from wtd.supervisor import ActorCrashLoop, Supervisor, notify

log = logging.getLogger("wtd.daemon")

EXIT_CRASH_LOOP = 70
SD_LISTEN_FDS_START = 3


class DaemonError(Exception):
    """wtd cannot start; the message says why and what to do."""


def secure_folder(folder: Path) -> None:
    """Create ``folder`` 0700, or check that an existing one is ours and private."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise DaemonError(f"cannot create socket folder {folder}: {exc.strerror}") from exc
    info = folder.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_ISVTX | stat.S_IWOTH):
        # A shared folder such as /tmp: making it private would break everyone else.
        raise DaemonError(
            f"socket folder {folder} is shared (mode {mode:o}); put the socket in a "
            f"folder of its own, e.g. {folder / 'wtd'}/wtd.sock"
        )
    if info.st_uid != os.getuid():
        raise DaemonError(f"socket folder {folder} belongs to another user; refusing to use it")
    if mode & 0o077:
        os.chmod(folder, 0o700)


def claim_lock(sock_path: Path) -> int:
    """Take the daemon lock for ``sock_path``; the returned fd must stay open."""
    lock_path = sock_path.with_name(sock_path.name + ".lock")
    try:  # O_NOFOLLOW: a lock file planted as a symlink is refused, never followed
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DaemonError(
                f"{lock_path} is a symlink; refusing to follow it (remove it, or use a "
                "private socket folder)"
            ) from None
        raise DaemonError(f"cannot open {lock_path}: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode) or os.fstat(fd).st_uid != os.getuid():
        os.close(fd)
        raise DaemonError(f"{lock_path} is not a regular file of this user; refusing it")
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise
        owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise DaemonError(
            f"another wtd (pid {owner}) is already serving {sock_path}; "
            "stop it first or use --socket for a separate daemon"
        ) from None
    os.ftruncate(fd, 0)  # the last owner's pid: it is gone
    return fd


def name_owner(lock_fd: int) -> None:
    """Write this daemon's pid into its lock, once it listens: the lock never names a
    wtd that is about to give up (e.g. because something else listens there)."""
    os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)


# sun_path holds 108 bytes on Linux, the terminating NUL included
MAX_SOCKET_PATH = 107


def check_length(sock_path: Path) -> None:
    """Refuse a path too long for a Unix socket before anything is created for it."""
    size = len(os.fsencode(sock_path))
    if size > MAX_SOCKET_PATH:
        raise DaemonError(
            f"socket path {sock_path} is {size} bytes, over the {MAX_SOCKET_PATH} a Unix "
            "socket's path may have; choose a shorter one (--socket or $WTD_SOCKET)"
        )


def bind(sock_path: Path) -> socket.socket:
    """Bind and listen on ``sock_path``, replacing a stale socket file."""
    if sock_path.exists() or sock_path.is_symlink():
        if not stat.S_ISSOCK(os.lstat(sock_path).st_mode):
            raise DaemonError(f"{sock_path} exists and is not a socket; refusing to replace it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(sock_path))
        except OSError:
            log.info("replacing stale socket %s", sock_path)
            sock_path.unlink()
        else:
            raise DaemonError(f"something else is listening on {sock_path}")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)
    try:
        sock.bind(str(sock_path))
    finally:
        os.umask(old_umask)
    sock.listen(256)
    return sock


def activated_socket() -> socket.socket | None:
    """The listening socket passed by systemd socket activation, if any."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(os.environ.get("LISTEN_FDS", "0") or 0)
    except ValueError:
        raise DaemonError(f"LISTEN_FDS={os.environ['LISTEN_FDS']!r} is not a number") from None
    if count < 1:
        return None
    for key in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(key, None)
    try:
        sock = socket.socket(fileno=SD_LISTEN_FDS_START)
    except OSError as exc:
        raise DaemonError(f"the socket passed by systemd (fd 3) is unusable: {exc}") from exc
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        raise DaemonError("the socket passed by systemd must be a Unix stream socket")
    sock.set_inheritable(False)
    return sock


def raise_file_limit() -> None:
    """Open files up to the hard limit: wtd holds a few per workspace it serves and one
    per client connected, and a soft limit of 1024 (or a shell's ulimit -n) ran out
    long before the machine's did (EMFILE on every request). Never lowered."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = 1 << 20 if hard == resource.RLIM_INFINITY else hard
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # the hard one kept
    except (ImportError, OSError, ValueError) as exc:  # kept as it is: wtd works within it
        log.info("open files limit not raised: %s", exc)


def serve(*, config: Config, socket_path: Path | None, ready_fd: int | None) -> int:
    """Run the daemon until SIGTERM/SIGINT/SIGHUP. Returns the process exit code."""
    raise_file_limit()
    failpoints = _failpoints()
    listen = activated_socket()
    lock_fd: int | None = None
    if listen is None:
        chosen = socket_path or Path(config.daemon.socket or paths.default_socket())
        sock_path = chosen.absolute()
        check_length(sock_path)
        secure_folder(sock_path.parent)
        lock_fd = claim_lock(sock_path)
        listen = bind(sock_path)
        name_owner(lock_fd)
    else:  # systemd owns the socket file; the watchdog talks to the real one
        sock_path = Path(listen.getsockname())
    if failpoints.enabled:
        log.warning("failpoints active: %s", os.environ.get("WT_FAILPOINTS"))

    def ready() -> None:
        log.info("wtd ready on %s (pid %d)", sock_path, os.getpid())
        if ready_fd is not None:
            try:
                os.write(ready_fd, b"1")
                os.close(ready_fd)
            except OSError:
                pass

    supervisor = Supervisor(
        sock_path,
        failpoints=failpoints,
        settings=settings_from(config),
        listen_sock=listen,
        max_restarts=config.supervisor.max_restarts,
        period=config.supervisor.period,
        health_window=config.health.window,
        watchdog=config.supervisor.watchdog,
        on_ready=ready,
    )
    try:
        anyio.run(_run, supervisor, sock_path if lock_fd is not None else None)
    except BaseExceptionGroup as group:
        crash = group.subgroup(ActorCrashLoop)
        if crash is None:
            raise
        log.critical("stopping: %s", crash.exceptions[0])
        return EXIT_CRASH_LOOP
    except ActorCrashLoop as exc:
        log.critical("stopping: %s", exc)
        return EXIT_CRASH_LOOP
    finally:
        if lock_fd is not None:
            try:
                if sock_path.exists():
                    sock_path.unlink()
            finally:
                os.close(lock_fd)
    log.info("wtd stopped")
    return 0


async def _run(supervisor: Supervisor, own_socket: Path | None) -> None:
    asyncio.get_running_loop().set_exception_handler(_loop_exception)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_stop_on_signal, tg.cancel_scope)
        if own_socket is not None:
            tg.start_soon(_stop_when_socket_gone, own_socket, tg.cancel_scope)
        await supervisor.run()
        tg.cancel_scope.cancel()


async def _stop_when_socket_gone(sock_path: Path, scope: anyio.CancelScope) -> None:
    """Stop, as on SIGTERM, once the socket file this wtd made is removed or replaced
    (systemd-tmpfiles cleaning /tmp/wtd-$UID, an rm): no client can reach it any more,
    yet it held its lock and its workspaces, so every shell's wtctl was refused
    ("another wtd is serving") until it was killed by hand. Stopped, it checkpoints and
    lets its workspaces go; the next wtctl starts a wtd afresh. Watched with inotify:
    no timer (without inotify, nothing is watched)."""
    try:
        mine = os.stat(sock_path)
        watch = inotify.Inotify()
    except OSError:
        return
    with watch:
        try:
            watch.add(str(sock_path.parent), _SOCKET_EVENTS)
        except OSError:
            return
        while True:
            await watch.events(step=0.0, debounce=0.0)
            try:
                now = os.stat(sock_path)
            except FileNotFoundError:
                now = None
            except OSError:
                continue
            if now is None or (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
                log.warning(
                    "%s was removed or replaced: stopping (no client can reach it)", sock_path
                )
                notify("STOPPING=1")
                scope.cancel()
                return


_SOCKET_EVENTS = (
    inotify.IN_DELETE
    | inotify.IN_MOVED_FROM
    | inotify.IN_CREATE
    | inotify.IN_MOVED_TO
    | inotify.IN_DELETE_SELF
    | inotify.IN_MOVE_SELF
    | inotify.IN_ONLYDIR
    | inotify.IN_DONT_FOLLOW
)


def _loop_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's last-resort handler, minus one known benign race: anyio's Unix
    listener can have its accept future completed twice when accept() is cancelled
    as wtd stops (``InvalidStateError`` from ``Future.set_result``). Nothing is lost."""
    exc = context.get("exception")
    if isinstance(exc, asyncio.InvalidStateError) and "set_result" in str(context.get("handle")):
        log.debug("ignored a completed accept future: %s", context.get("handle"))
        return
    loop.default_exception_handler(context)


async def _stop_on_signal(scope: anyio.CancelScope) -> None:
    # SIGHUP too (the terminal of a wtd run in the foreground closed): its default
    # action killed wtd on the spot, leaving its socket behind and no checkpoint taken
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            log.info("received %s; stopping", signal.Signals(signum).name)
            notify("STOPPING=1")
            scope.cancel()
            return


def settings_from(config: Config) -> Settings:
    """The self-healing settings (the WT_* variables are already applied by config.load)."""
    retry = config.retry
    return Settings(
        policy=RetryPolicy(
            max_attempts=retry.max_attempts,
            initial_delay=retry.initial_delay,
            max_delay=retry.max_delay,
            exponential_base=retry.exponential_base,
            jitter=retry.jitter,
        ),
        circuit_threshold=config.circuit.threshold,
        circuit_timeout=config.circuit.timeout,
        backups_keep=config.storage.backups_keep,
        backup_every=config.storage.backup_every,
        journal_max_bytes=config.storage.journal_max_bytes,
        max_file_bytes=config.storage.max_file_bytes,
        max_depth=config.storage.max_depth,
        max_connections=config.daemon.max_connections,
        frame_timeout=config.daemon.frame_timeout,
        claim_lease=config.claims.lease,
        advisory_rules=tuple(config.enforcement.advisory_rules),
        agent_rules={
            rule_key(name): AgentRule(
                deny=list(rules.deny), read_only=rules.read_only, subagent=rules.subagent
            )
            for name, rules in config.enforcement.agents.items()
        },
        workspaces=tuple(Path(w).expanduser() for w in config.daemon.workspaces) or None,
    )


def _failpoints() -> Failpoints:
    try:
        return Failpoints.from_env()
    except ValueError as exc:
        raise DaemonError(str(exc)) from exc  # it names WT_FAILPOINTS already
