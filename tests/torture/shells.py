"""A second shell with its own ``WTD_SOCKET`` working on the same workspace.

SPEC §2: one daemon owns a workspace at a time (``.ecw/wtd.lock``, flock, naming its
pid and socket); a second daemon asked about it answers ``elsewhere`` with the
owner, and wtctl re-sends the same request (same id) to the owner's socket, so a
wtctl in the second shell just works. Each episode runs a few real ``wtctl``
changes with the second shell's environment (the first one autostarts a second wtd
on its own socket), on tasks of its own that the ledger tracks like any client's,
then stops the second daemon with SIGTERM (pid from its ``wtd.sock.lock``).

Checked after every command: at most one daemon has the workspace's files open for
writing (the journal stays open while a daemon serves a tracker), and only the one that
``.ecw/wtd.lock`` names; that lock exists. (``WtctlClient`` itself reports an
``elsewhere`` that wtctl handed to the user instead of following it.)
The ledger checks that every acknowledged change of either shell is in the files.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tempfile
from pathlib import Path

from tests.torture.checks import scan_log
from tests.torture.clients import WtctlClient
from tests.torture.daemon import alive, json_lock, lock_pid, open_files, wait_gone
from tests.torture.scenarios import Context

SECOND_CID = 90


class SecondShell:
    NAME = "second-daemon"

    def __init__(self, ctx: Context, seed: int) -> None:
        self.ctx = ctx
        ws = ctx.ws
        self.dir = Path(tempfile.mkdtemp(prefix="wtd-t2-", dir="/tmp"))
        os.chmod(self.dir, 0o700)
        ws.extra_dirs.append(self.dir)
        self.sock = self.dir / "wtd.sock"
        self.log_path = self.dir / "wtd.log"
        env = dict(ws.env)
        env.update(
            {
                "WTD_SOCKET": str(self.sock),
                "XDG_CONFIG_HOME": str(self.dir / "config"),
                "XDG_STATE_HOME": str(self.dir / "state"),
            }
        )
        self.client = WtctlClient(
            SECOND_CID, seed, ws, ctx.ledger, ctx.quiet, ctx.stop, ctx.violations
        )
        self.client.name = "second-shell"
        self.client.env = env
        self.client.no_autostart_share = 0.0  # the second shell's wtctl starts its own wtd
        self.pids: set[int] = set()
        self.commands = 0
        self._scanned = 0

    def episode(self) -> None:
        for _ in range(self.client.rng.randint(2, 5)):
            if self.ctx.stop.is_set():
                break
            op, _outcome = self.client.step()
            self.commands += 1
            pid2 = lock_pid(self.sock)
            if pid2 is not None and alive(pid2):
                self.pids.add(pid2)
            self._check_writers(op.phrase, pid2)
        self.ctx.counts[self.NAME] += 1
        self.stop_daemon("at the end of an episode")

    def _check_writers(self, phrase: str, pid2: int | None) -> None:
        root = str(self.ctx.ws.root) + "/"
        lock_file = str(self.ctx.ws.ecw / "wtd.lock")
        main = self.ctx.keeper.current()
        held: dict[int, list[str]] = {}
        for pid in {p for p in (main, pid2) if p is not None}:
            # files open for writing only: a folder open for a moment (a listing to
            # resolve which tracker a request means) or a journal read at start (a
            # starting wtd reads the journals of the workspaces it served, unclaimed, to
            # see whether their files lag) is a read, not a second writer
            files = sorted(
                {
                    f
                    for f in open_files(pid, writing=True)
                    if f.startswith(root) and f != lock_file and not os.path.isdir(f)
                }
            )
            if files:
                held[pid] = [f[len(root) :] for f in files]
        lock = json_lock(self.ctx.ws.root)
        if pid2 is not None and alive(pid2) and lock is None:
            self.ctx.fail(
                self.NAME,
                "no readable .ecw/wtd.lock in the workspace while two daemons were asked "
                "about it (SPEC §2: the owner holds it, naming its pid and socket)",
            )
        if len(held) > 1:
            self.ctx.fail(
                self.NAME,
                f"after {phrase!r} from the second shell, two daemons have the workspace's "
                f"files open for writing at once: "
                + "; ".join(
                    f"pid {p} ({self.ctx.ws.sock if p == main else self.sock}): {fs[:4]}"
                    for p, fs in held.items()
                ),
            )
        elif lock is not None:
            for pid, files in held.items():
                if lock.get("pid") != pid:
                    self.ctx.fail(
                        self.NAME,
                        f"after {phrase!r} from the second shell, wtd pid {pid} has the "
                        f"workspace's files open for writing ({files[:4]}) although "
                        f".ecw/wtd.lock names {lock}",
                    )

    def stop_daemon(self, when: str) -> None:
        """SIGTERM the second daemon; it must be gone within 15s."""
        pid = lock_pid(self.sock)
        if pid is None or not alive(pid):
            self._scan_log()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if not wait_gone(pid, timeout=15.0):
            self.ctx.fail(
                self.NAME, f"the second wtd (pid {pid}, {self.sock}) ignored SIGTERM {when}"
            )
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            wait_gone(pid, timeout=5.0)
        self._scan_log()

    def _scan_log(self) -> None:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return
        for tb in scan_log(text[self._scanned :]).unexpected_tracebacks:
            self.ctx.fail(self.NAME, f"the second wtd's log has an unexpected traceback:\n{tb}")
        self._scanned = len(text)
