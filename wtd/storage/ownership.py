"""One daemon per workspace (SPEC §2): a lock in ``.ecw/`` naming its pid and socket.

Two shells with different ``WTD_SOCKET`` (or one without ``XDG_RUNTIME_DIR``) start
two daemons; both would write the same files and lose each other's changes. So the
first daemon to serve a workspace holds ``.ecw/wtd.lock`` (``flock``, released by the
kernel when the daemon dies, however it dies) with ``{"pid", "socket"}`` in it; the
other daemon answers requests for that workspace with ``OwnedElsewhere``, which wtctl
follows to the owner's socket. Claiming also checks the workspace for symlinks once
(``safepath.check_tree``). All of it is file I/O: call it from a worker thread.

The lock file is an ignored file that ``git clean -X`` or a plain ``rm`` removes; a
lock on a removed file excludes nobody. So the owner also holds a lock on the
``.ecw`` folder itself (a second daemon is refused while it lives, whatever became of
the file), and ``still_owned`` — asked at most once a second per workspace — makes
the file again when it was removed, for others to find the owner's socket. ``holds``
— asked before every batch of writes and at every request — compares ``.ecw`` with
the folder locked: a replaced one is given up and claimed afresh.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Final

from wtd.errors import InvalidArgument, StorageFailure, WtdError
from wtd.storage import safepath
from wtd.storage.atomic import make_dirs

log = logging.getLogger("wtd.ownership")

LOCK_NAME: Final = "wtd.lock"
OWNER_READS: Final = 40  # × 5 ms: how long the owner may take to write its name
STOPPING_WAIT: Final = 3.0  # seconds a stopping owner (socket gone) may take to exit


class OwnedElsewhere(WtdError):
    """Another wtd serves this workspace; ``owner`` says where (exit code 5)."""

    code = "elsewhere"

    def __init__(self, workspace: Path, owner: dict[str, object]) -> None:
        pid, sock = owner.get("pid", "?"), owner.get("socket", "?")
        if not owner:
            super().__init__(
                f"{workspace} is served by another wtd, whose lock file "
                f"{workspace / '.ecw' / LOCK_NAME} was removed (git clean?); it makes it "
                "again when it next serves a request there. Use that wtd (run wtctl in "
                "the shell that started it), or stop it first.",
                suggestions=["wtctl daemon (in the other shell) says which wtd it is"],
            )
            self.owner = owner
            return
        super().__init__(
            f"{workspace} is served by another wtd (pid {pid}) on {sock}; one daemon per "
            f"workspace keeps every change. Use that daemon: WTD_SOCKET={sock} (wtctl "
            "does this by itself when it can reach it), or stop it first.",
            suggestions=[f"WTD_SOCKET={sock} wtctl …"],
        )
        self.owner = owner


_SUGGESTIONS: Final = {
    errno.EMFILE: [
        "wtd has too many files open: try again shortly, or raise its limit"
        " (LimitNOFILE= in its systemd unit, ulimit -n where it is started)"
    ],
    errno.ENFILE: ["the system has too many files open: try again shortly"],
    errno.ENOSPC: ["free some disk space, then try again"],
    errno.EISDIR: [f"remove the folder .ecw/{LOCK_NAME} (wtd's lock is a file it makes)"],
}


RECHECK: Final = 1.0  # seconds between two looks at a held lock (``still_owned``)


class _Held:
    """A workspace owned: its lock file and ``.ecw`` folder, both locked, kept open."""

    __slots__ = ("checked", "dfd", "dir_id", "ecw", "fd", "file_id")

    def __init__(self, ecw: Path, fd: int, dfd: int) -> None:
        self.ecw = ecw
        self.fd = fd
        self.dfd = dfd
        self.file_id = _ident(os.fstat(fd))
        self.dir_id = _ident(os.fstat(dfd))
        self.checked = time.monotonic()

    def close(self) -> None:
        for fd in (self.fd, self.dfd):
            with contextlib.suppress(OSError):
                os.close(fd)


def _ident(st: os.stat_result) -> tuple[int, int]:
    return (st.st_dev, st.st_ino)


class Ownership:
    """The workspaces this daemon owns (claims from several worker threads are serialised:
    two first requests at once must not take each other for another daemon)."""

    def __init__(self, socket: Path) -> None:
        self._lock = threading.Lock()
        self._socket = str(socket)
        self._held: dict[Path, _Held] = {}  # real workspace path → its locks
        self._keys: dict[Path, Path] = {}  # workspace as requests spell it → real path
        self._checked: set[Path] = set()

    def claim(self, workspace: Path, *, create: bool) -> bool:
        """Own ``workspace`` (True), or not yet (False: no ``.ecw/`` to lock, or none can
        be made), or raise OwnedElsewhere (or UnsafePath).

        ``create``: make ``.ecw/`` when missing (a tracker is about to be served);
        otherwise a workspace without one is left alone. Where the lock cannot be
        written (read-only file system, no permission) nothing can write the
        workspace either: it is served for reads, still refusing if another daemon
        holds the lock.
        """
        with self._lock:
            try:
                return self._claim(workspace, create=create)
            except OSError as exc:  # e.g. EMFILE: wtd is out of files, not the workspace
                raise StorageFailure(
                    f"wtd could not take the lock of {workspace / '.ecw'} "
                    f"({exc.strerror or exc}); nothing was changed",
                    suggestions=_SUGGESTIONS.get(exc.errno or 0, ["try again shortly"]),
                ) from exc

    def _claim(self, workspace: Path, *, create: bool) -> bool:
        key = workspace.resolve()
        if key in self._held:
            self._keys[workspace] = key
            return True
        self._sweep()
        ecw = workspace / ".ecw"
        if key not in self._checked:
            safepath.check_tree(ecw)
            safepath.check_tree(workspace / "docs" / "plans")
            self._checked.add(key)
        if not ecw.is_dir():
            if not create:
                return False
            try:
                make_dirs(ecw)
            except OSError as exc:
                if exc.errno in safepath.CANNOT_WRITE:
                    return False
                raise
        path = ecw / LOCK_NAME
        writable = True
        try:
            fd = safepath.open_file(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if exc.errno not in safepath.CANNOT_WRITE:
                raise
            writable = False
            try:
                fd = safepath.open_file(path, os.O_RDONLY)
            except OSError:
                return False  # no lock file and none can be made: nobody can write here
        try:
            dfd = os.open(ecw, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC | os.O_NOFOLLOW)
        except BaseException:
            os.close(fd)
            raise
        alias = self._held_as(_ident(os.fstat(dfd)))
        if alias is not None:
            # the same folder under another path (a bind mount): this daemon's own lock
            # refused it, and the reply said another wtd — itself — served it
            os.close(fd)
            os.close(dfd)
            raise InvalidArgument(
                f"{workspace} is the workspace {alias} under another path (a bind mount?), "
                f"which this wtd already serves as {alias}; use that path",
                suggestions=[f"cd {alias}", f"wtctl --tracker {alias}/docs/plans/NAME.md …"],
            )
        try:
            # the folder first (it stays when the file is removed), then the file (what
            # a daemon that locks only the file holds)
            _lock_or_wait_for_a_stopping_owner(dfd, fd)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            owner = _current_owner(fd) or _holder_of(dfd)
            os.close(fd)
            os.close(dfd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise OwnedElsewhere(workspace, owner) from None
            raise
        if writable:
            self._sign(fd)
        self._held[key] = _Held(ecw, fd, dfd)
        self._keys[workspace] = key
        log.info("serving workspace %s (lock %s)", workspace, path)
        return True

    def _held_as(self, dir_id: tuple[int, int]) -> Path | None:
        """The path this daemon holds the ``.ecw`` folder ``dir_id`` as, if it still is
        there; held under a path that is now another folder (moved away, another made
        in its place), it is given up, so that it is claimed afresh where it is now."""
        for key, held in list(self._held.items()):
            if held.dir_id != dir_id:
                continue
            try:
                there = _ident(os.lstat(held.ecw)) == dir_id
            except OSError:
                there = False
            if there:
                return key
            log.info("%s was moved: its lock let go, to be taken where it is now", held.ecw)
            self._give_up(key)
        return None

    def _sign(self, fd: int) -> None:
        body = json.dumps({"pid": os.getpid(), "socket": self._socket}).encode() + b"\n"
        # written before it is cut to size: a reader never sees it empty
        os.pwrite(fd, body.ljust(max(len(body), os.fstat(fd).st_size)), 0)
        os.ftruncate(fd, len(body))

    def holds(self, workspace: Path) -> bool:
        """Is the ``.ecw`` of ``workspace`` still the folder this daemon locked (one
        lstat: asked before every batch of writes)? False once it was replaced — by a
        copy, say, which another daemon may lock and serve — or removed; True for a
        workspace not claimed through this registry (nothing to compare)."""
        key = self._keys.get(workspace)
        held = self._held.get(key) if key is not None else None
        if held is None:
            return key is None
        try:
            return _ident(os.lstat(held.ecw)) == held.dir_id
        except OSError:
            return False

    def still_owned(self, workspace: Path) -> bool:
        """Is ``workspace`` (claimed) still this daemon's? Looked at once a second at
        most: a lock file removed is made again (signed by this daemon); a ``.ecw``
        replaced (removed and made again, restored from a copy) is locked again, or —
        another daemon took it meanwhile — given up (False: claim it again, which says
        who owns it now)."""
        key = self._keys.get(workspace)
        held = self._held.get(key) if key is not None else None
        if held is None:
            return False
        if not self.holds(workspace):  # (every time: a copy put in place is served at once)
            # claimed again by the request (in a worker thread), which says who owns it
            log.warning("%s was replaced or removed: its lock is taken again", held.ecw)
            with self._lock:
                self._give_up(key)  # type: ignore[arg-type]
            return False
        if time.monotonic() - held.checked < RECHECK:
            return True
        # (on the event loop: never wait for a claim in progress, which may wait seconds
        # for a stopping owner; looked at next time instead)
        if not self._lock.acquire(blocking=False):
            return True
        try:
            self._recheck(held)
        except OSError as exc:
            log.warning("could not look at the lock of %s: %s", workspace, exc)
        finally:
            held.checked = time.monotonic()
            self._lock.release()
        return True

    def _recheck(self, held: _Held) -> None:
        """The lock file, once a second (``.ecw`` itself: ``holds``, every time)."""
        try:
            file_id: tuple[int, int] | None = _ident(os.lstat(held.ecw / LOCK_NAME))
        except FileNotFoundError:
            file_id = None
        if file_id != held.file_id:
            self._make_lock_file_again(held)

    def _make_lock_file_again(self, held: _Held) -> None:
        """The lock file was removed (or replaced): this daemon, which holds the
        folder's lock, makes it again so that others find its socket."""
        path = held.ecw / LOCK_NAME
        try:
            fd = safepath.open_file(path, os.O_RDWR | os.O_CREAT, 0o600)
        except (OSError, WtdError) as exc:
            log.warning("could not make %s again: %s", path, exc)
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a daemon on its way to being refused holds it: next time
            os.close(fd)
            return
        self._sign(fd)
        os.close(held.fd)
        held.fd = fd
        held.file_id = _ident(os.fstat(fd))
        log.warning("the lock file %s was removed; made again", path)

    def _sweep(self) -> None:
        """Let go of the workspaces that are gone (their ``.ecw`` removed: a temporary
        workspace, a clone deleted): each held two open files for the daemon's life,
        until wtd ran out of them. Done when a new workspace is claimed."""
        for key, held in list(self._held.items()):
            try:
                os.lstat(held.ecw)
            except FileNotFoundError:
                log.info("%s is gone: its lock let go", held.ecw)
                self._give_up(key)
            except OSError:
                continue
        if len(self._keys) > 4 * len(self._held) + 64:
            self._keys = {w: k for w, k in self._keys.items() if k in self._held}

    def _give_up(self, key: Path) -> None:
        held = self._held.pop(key, None)
        if held is not None:
            held.close()

    def release_all(self) -> None:
        for held in self._held.values():
            held.close()
        self._held.clear()
        self._keys.clear()


def _lock_or_wait_for_a_stopping_owner(fd: int, owner_fd: int) -> None:
    """Take the lock of ``fd``; when its owner is stopping (its socket, named in the
    lock file ``owner_fd``, already gone, the process not yet), wait for it to go (up
    to STOPPING_WAIT) instead of sending clients to a daemon that no longer answers."""
    deadline = time.monotonic() + STOPPING_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            sock = _read_owner(owner_fd).get("socket")
            stopping = isinstance(sock, str) and not os.path.exists(sock)
            if not stopping or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _current_owner(fd: int) -> dict[str, object]:
    """The lock's owner as written there. The owner writes it right after taking the
    lock, so a read that finds nothing or a dead pid is tried again a few times."""
    owner: dict[str, object] = {}
    for _ in range(OWNER_READS):
        owner = _read_owner(fd)
        pid = owner.get("pid")
        if isinstance(pid, int) and pid != os.getpid() and _alive(pid):
            return owner
        time.sleep(0.005)
    return owner


def _holder_of(dfd: int) -> dict[str, object]:
    """The daemon holding the lock of the ``.ecw`` folder open as ``dfd``, found from
    the kernel's list of locks when its lock file says nothing (removed, made again
    empty): its pid, and the socket its command line names. {} when not found (not
    Linux, or a daemon started by systemd, whose socket is passed to it)."""
    try:
        st = os.fstat(dfd)
        wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
        with open("/proc/locks") as f:
            pids = [
                int(fields[4])
                for fields in (line.split() for line in f)
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == wanted
            ]
    except (OSError, ValueError):
        return {}
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        for k, arg in enumerate(argv[:-1]):
            if arg == "--socket":
                return {"pid": pid, "socket": argv[k + 1]}
            if arg.startswith("--socket="):
                return {"pid": pid, "socket": arg.partition("=")[2]}
    return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_owner(fd: int) -> dict[str, object]:
    try:
        found = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
