"""One-shot process rows: ``wtctl`` against a stdlib-only client and against Taskwarrior.

Every comparison is interleaved (A, B, A, B … in a shuffled order each round) in the
same run, so drift on a shared machine hits both sides alike; medians are reported.
"""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Workspace, bench_env, progress, tracker_raw

# The floor: what any Python client must pay for one round trip (start, connect,
# hello, command, print). Same interpreter as wtctl, normal start-up (site included).
RAW_CLIENT = """\
import json, os, socket, struct, sys

def recv(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise SystemExit(5)
        buf += chunk
    return buf

def ask(s, msg):
    body = json.dumps(msg).encode()
    s.sendall(struct.pack(">I", len(body)) + body)
    return json.loads(recv(s, struct.unpack(">I", recv(s, 4))[0]))

s = socket.socket(socket.AF_UNIX)
s.connect(os.environ["WTD_SOCKET"])
ask(s, {"type": "hello", "version": 1, "client": "raw"})
reply = ask(s, {"type": "command", "id": os.urandom(12).hex(), "phrase": sys.argv[2],
                "cwd": os.getcwd(), "tracker": sys.argv[1], "options": {}})
print("\\n".join(reply.get("lines", [])))
sys.exit(reply.get("exit_code", 1))
"""


@dataclass
class Pair:
    """Medians of two interleaved commands (ms)."""

    ours: list[float]
    peer: list[float]

    @property
    def ours_ms(self) -> float:
        return statistics.median(self.ours)

    @property
    def peer_ms(self) -> float:
        return statistics.median(self.peer)


def _timed(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    elapsed = (time.perf_counter() - t0) * 1000
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]}… exited {proc.returncode}: {proc.stderr[-500:]!r}")
    return elapsed


def interleave(
    ours: Callable[[int], tuple[list[str], dict[str, str], Path]],
    peer: Callable[[int], tuple[list[str], dict[str, str], Path]],
    runs: int,
    warmup: int,
    label: str,
) -> Pair:
    """Run both commands ``warmup`` times untimed, then ``runs`` times each, interleaved."""
    rng = random.Random(8)
    for i in range(warmup):
        _timed(*ours(i))
        _timed(*peer(i))
    out = Pair([], [])
    every = max(1, runs // 4)
    for i in range(warmup, warmup + runs):
        order = [("ours", ours), ("peer", peer)]
        rng.shuffle(order)
        for side, make in order:
            getattr(out, side).append(_timed(*make(i)))
        if (i - warmup + 1) % every == 0:
            progress(f"  {label}: {i - warmup + 1}/{runs}")
    return out


# ------------------------------------------------------------------ show progress


def show_progress_vs_raw(ws: Workspace, bin_dir: Path, runs: int, warmup: int) -> Pair:
    """Row 1: ``wtctl "show progress"`` vs the stdlib client, same interpreter."""
    script = ws.sock_dir / "raw_client.py"
    script.write_text(RAW_CLIENT)
    env = bench_env(ws.sock)
    python = str(bin_dir / "python")
    tracker = str(ws.md)

    def ours(_i: int) -> tuple[list[str], dict[str, str], Path]:
        return [str(bin_dir / "wtctl"), "--tracker", tracker, "show progress"], env, ws.root

    def peer(_i: int) -> tuple[list[str], dict[str, str], Path]:
        return [python, str(script), tracker, "show progress"], env, ws.root

    return interleave(ours, peer, runs, warmup, "show progress")


# ------------------------------------------------------------------ Taskwarrior


class Taskwarrior:
    """A private Taskwarrior data dir holding the same tasks as our generated tracker.

    Dependencies are left out on purpose: Taskwarrior 2.6 recomputes blocking over the
    whole dependency graph, and with our thousand-long chains per phase ``task list``
    takes over a minute on 10k tasks — that would not be a fair peer figure.
    """

    def __init__(self, n_tasks: int) -> None:
        self.n_tasks = n_tasks
        self.root = Path(tempfile.mkdtemp(prefix=f"wtd-bench-tw-{n_tasks}-"))
        (self.root / "data").mkdir()
        self.rc = self.root / "taskrc"
        self.rc.write_text(
            "\n".join(
                [
                    f"data.location={self.root / 'data'}",
                    "confirmation=no",
                    "verbose=nothing",
                    "hooks=off",
                    "gc=off",  # keep ids stable while the benchmark completes them one by one
                    "recurrence=off",
                    "color=off",
                    "news.version=9.9.9",
                    "",
                ]
            )
        )
        self.env = bench_env()
        self.env["TASKRC"] = str(self.rc)
        self.env["TASKDATA"] = str(self.root / "data")
        tasks = []
        for t in tracker_raw(n_tasks)["tasks"]:
            done = t["status"] == "complete"
            item = {
                "uuid": str(uuid.uuid4()),
                "description": t["name"],
                "project": f"phase{t['phase']}",
                "entry": "20260101T000000Z",
                "status": "completed" if done else "pending",
            }
            if done:
                item["end"] = "20260102T000000Z"
            tasks.append(item)
        src = self.root / "import.json"
        src.write_text(json.dumps(tasks))
        subprocess.run(
            ["task", "rc.gc=on", "import", str(src)],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # one gc pass so completed tasks leave pending.data and ids are 1..open tasks
        subprocess.run(
            ["task", "rc.gc=on", "next"],
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.open_tasks = sum(1 for t in tasks if t["status"] == "pending")

    def argv(self, *args: str) -> list[str]:
        return ["task", *args]

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def taskwarrior_version() -> str | None:
    exe = shutil.which("task")
    if exe is None:
        return None
    proc = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or None


def done_vs_taskwarrior(
    ws: Workspace, tw: Taskwarrior, bin_dir: Path, open_ids: list[str], runs: int, warmup: int
) -> Pair:
    """Row 4: ``wtctl --tracker … "mark task X.Y complete"`` vs ``task N done``."""
    env = bench_env(ws.sock)
    total = runs + warmup
    if len(open_ids) < total or tw.open_tasks < total:
        raise RuntimeError("not enough open tasks for this many runs")
    step = max(1, len(open_ids) // total)
    ids = open_ids[::step]
    tw_step = max(1, tw.open_tasks // total)

    def ours(i: int) -> tuple[list[str], dict[str, str], Path]:
        argv = [str(bin_dir / "wtctl"), "--tracker", str(ws.md), f"mark task {ids[i]} complete"]
        return argv, env, ws.root

    def peer(i: int) -> tuple[list[str], dict[str, str], Path]:
        return tw.argv(str(1 + i * tw_step), "done"), tw.env, tw.root

    return interleave(ours, peer, runs, warmup, f"mark complete vs task done ({ws.n_tasks})")


def add_vs_taskwarrior(
    ws: Workspace, tw: Taskwarrior, bin_dir: Path, runs: int, warmup: int
) -> Pair:
    env = bench_env(ws.sock)

    def ours(i: int) -> tuple[list[str], dict[str, str], Path]:
        argv = [str(bin_dir / "wtctl"), "--tracker", str(ws.md), f"add task to phase 1: B{i}"]
        return argv, env, ws.root

    def peer(i: int) -> tuple[list[str], dict[str, str], Path]:
        return tw.argv("add", "project:phase1", f"B{i}"), tw.env, tw.root

    return interleave(ours, peer, runs, warmup, f"add vs task add ({ws.n_tasks})")


def list_vs_taskwarrior(
    ws: Workspace, tw: Taskwarrior, bin_dir: Path, runs: int, warmup: int
) -> Pair:
    env = bench_env(ws.sock)

    def ours(_i: int) -> tuple[list[str], dict[str, str], Path]:
        return [str(bin_dir / "wtctl"), "--tracker", str(ws.md), "list tasks"], env, ws.root

    def peer(_i: int) -> tuple[list[str], dict[str, str], Path]:
        return tw.argv("list"), tw.env, tw.root

    return interleave(ours, peer, runs, warmup, f"list vs task list ({ws.n_tasks})")
