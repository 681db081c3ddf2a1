"""Rows measured against a running daemon over persistent connections (SPEC §10).

Latency, throughput, hand-edit → re-render, 100k load/RSS, idle RSS/CPU, and the
physical floor (what the disk alone costs for one durable change).
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.harness import (
    Client,
    Daemon,
    ok,
    open_task_ids,
    percentile,
    progress,
    running,
    tracker_bytes,
)


@dataclass
class Latency:
    n_tasks: int
    samples_ms: list[float]
    daemon_avg_ms: float | None
    daemon_p95_ms: float | None
    load_ms: float = 0.0  # first request on the fresh daemon (opens the tracker)
    second_ms: float = 0.0  # the same request again, tracker in memory
    reopen_ms: float = 0.0  # first request after a restart (journal, view, backups exist)
    rss_after_load_kib: int = 0
    rss_after_changes_kib: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return percentile(self.samples_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples_ms, 99)


def measure_latency(
    n_tasks: int, samples: int, bin_dir: Path, *, profile: Path | None = None
) -> Latency:
    """``mark task X.Y complete`` on distinct open tasks, one persistent connection.

    The first ``show progress`` on the fresh daemon is the load time; RSS is read after it.
    With ``profile`` set, py-spy samples the daemon (all threads) during the changes.
    """
    with running(n_tasks, bin_dir) as (ws, daemon):
        client = Client(ws.sock)
        kw = {"tracker": str(ws.md), "cwd": str(ws.root)}
        t0 = time.perf_counter()
        ok(client.command("show progress", **kw), "first show progress")
        load_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        ok(client.command("show progress", **kw), "second show progress")
        second_ms = (time.perf_counter() - t0) * 1000
        rss_load = daemon.rss_kib()
        ids = open_task_ids(n_tasks)
        warm = 3
        if len(ids) < samples + warm:
            raise RuntimeError(f"{n_tasks} tasks have only {len(ids)} open tasks")
        # spread the tasks over the whole tracker (front, middle and end of the arrays)
        step = max(1, len(ids) // (samples + warm))
        chosen = ids[::step][: samples + warm]
        for tid in chosen[:warm]:
            ok(client.command(f"mark task {tid} complete", **kw), "warm-up change")
        spy = _start_py_spy(daemon.pid, profile) if profile else None
        out: list[float] = []
        report_every = max(1, samples // 5)
        for i, tid in enumerate(chosen[warm:]):
            t0 = time.perf_counter()
            reply = client.command(f"mark task {tid} complete", **kw)
            out.append((time.perf_counter() - t0) * 1000)
            ok(reply, f"mark task {tid} complete")
            if (i + 1) % report_every == 0:
                progress(f"  {n_tasks} tasks: {i + 1}/{samples} changes")
        if spy is not None:
            _stop_py_spy(spy)
        health = (
            ok(client.command("show progress", show_health=True, verbose=True, **kw), "health").get(
                "health"
            )
            or {}
        )
        rss_changes = daemon.rss_kib()
        client.close()
        daemon.stop()
        again = Daemon(ws, bin_dir)
        try:
            client = Client(ws.sock)
            t0 = time.perf_counter()
            ok(client.command("show progress", **kw), "first show progress after a restart")
            reopen_ms = (time.perf_counter() - t0) * 1000
            client.close()
        finally:
            again.stop()
        return Latency(
            n_tasks=n_tasks,
            samples_ms=out,
            daemon_avg_ms=health.get("avg_latency_ms"),
            daemon_p95_ms=health.get("p95_latency_ms"),
            load_ms=load_ms,
            second_ms=second_ms,
            reopen_ms=reopen_ms,
            rss_after_load_kib=rss_load,
            rss_after_changes_kib=rss_changes,
            extra={"health_ops": health.get("operations")},
        )


# one sample per ms, every thread, without pausing the daemon, aggregated per function
_SPY_FLAGS = ("--rate", "1000", "--threads", "--nonblocking", "--function")


def _start_py_spy(pid: int, out: Path | None) -> Any:
    import shutil
    import subprocess
    import sys

    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if out is None or not Path(exe).exists():
        return None
    proc = subprocess.Popen(
        [exe, "record", "--pid", str(pid), "--format", "raw", "--output", str(out), *_SPY_FLAGS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)  # let it attach before the measured changes start
    return proc


def _stop_py_spy(proc: Any) -> None:
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except Exception:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ throughput


@dataclass
class Throughput:
    clients: int
    changes: int
    seconds: float
    failures: int

    @property
    def per_s(self) -> float:
        return self.changes / self.seconds if self.seconds else 0.0


def measure_throughput(
    n_tasks: int, clients: int, seconds: float, bin_dir: Path, *, profile: Path | None = None
) -> Throughput:
    """``clients`` persistent connections (threads), each toggling its own tasks between
    complete and pending (every request is a real change) for ``seconds``."""
    with running(n_tasks, bin_dir) as (ws, daemon):
        kw = {"tracker": str(ws.md), "cwd": str(ws.root)}
        conns = [Client(ws.sock) for _ in range(clients)]
        spy = _start_py_spy(daemon.pid, profile) if profile else None
        ok(conns[0].command("show progress", **kw), "load")
        ids = open_task_ids(n_tasks)
        counts = [0] * clients
        failures = [0] * clients
        start = threading.Barrier(clients + 1)
        stop = threading.Event()

        def work(k: int) -> None:
            mine = ids[k::clients]
            start.wait()
            i = 0
            while not stop.is_set():
                tid = mine[(i // 2) % len(mine)]
                status = "complete" if i % 2 == 0 else "pending"
                reply = conns[k].command(f"mark task {tid} {status}", **kw)
                if reply.get("ok"):
                    counts[k] += 1
                else:
                    failures[k] += 1
                i += 1

        threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - t0
        if spy is not None:
            _stop_py_spy(spy)
        for c in conns:
            c.close()
        return Throughput(clients, sum(counts), elapsed, sum(failures))


# ------------------------------------------------------------------ hand edit


@dataclass
class HandEdit:
    samples_json_ms: list[float]
    samples_view_ms: list[float]
    note: str = ""


def _stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _json_status(path: Path, tid: str) -> str | None:
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    for task in data.get("tasks", []):
        if task.get("id") == tid:
            status: str = task.get("status", "")
            return status
    return None


def measure_hand_edit(n_tasks: int, edits: int, bin_dir: Path, deadline: float = 2.0) -> HandEdit:
    """Edit one status cell in the Markdown view the way editors save (write a temp file,
    rename it over the view), then poll (benchmark only) until the JSON shows it, and
    until wtd has re-rendered the view (a new file replaces ours)."""
    with running(n_tasks, bin_dir) as (ws, _daemon):
        client = Client(ws.sock)
        kw = {"tracker": str(ws.md), "cwd": str(ws.root)}
        ok(client.command("show progress", **kw), "load")
        client.close()
        raw = json.loads(ws.json.read_bytes())
        pending = [t["id"] for t in raw["tasks"] if t["status"] == "pending"][:edits]
        json_ms: list[float] = []
        view_ms: list[float] = []
        for tid in pending:
            text = ws.md.read_text()
            row = f"| {tid} | Task {tid} | ⏳ Pending |"
            if row not in text:
                return HandEdit(json_ms, view_ms, f"row for {tid} not found in the view")
            edited = text.replace(row, f"| {tid} | Task {tid} | ✅ Complete |", 1)
            tmp = ws.md.with_name(f".{ws.md.name}.swp")
            tmp.write_text(edited)
            t0 = time.perf_counter()
            os.replace(tmp, ws.md)
            ours = _stamp(ws.md)
            end = t0 + deadline
            got_json = None
            while time.perf_counter() < end:
                if _json_status(ws.json, tid) == "complete":
                    got_json = time.perf_counter()
                    break
                time.sleep(0.002)
            if got_json is None:
                import importlib.util

                has = importlib.util.find_spec("wtd.actors.watcher") is not None
                why = "watcher present, but" if has else "not measurable yet (no watcher):"
                return HandEdit(
                    json_ms,
                    view_ms,
                    f"{why} the JSON did not change within {deadline:g} s of edit "
                    f"{len(json_ms) + 1}",
                )
            json_ms.append((got_json - t0) * 1000)
            while time.perf_counter() < end:
                if _stamp(ws.md) != ours:
                    view_ms.append((time.perf_counter() - t0) * 1000)
                    break
                time.sleep(0.002)
            time.sleep(0.2)  # quiet period between edits
        return HandEdit(json_ms, view_ms)


# ------------------------------------------------------------------ idle


@dataclass
class Idle:
    rss_kib: int
    cpu_percent: float
    seconds: float


def measure_idle(
    n_tasks: int, seconds: float, bin_dir: Path, *, profile: Path | None = None
) -> Idle:
    """RSS and CPU of a daemon with one loaded tracker and no client. py-spy, if asked,
    samples it during the same window (it reads the daemon's memory from outside and
    never pauses it, so the daemon's CPU ticks do not include py-spy's work)."""
    with running(n_tasks, bin_dir) as (ws, daemon):
        client = Client(ws.sock)
        ok(client.command("show progress", tracker=str(ws.md), cwd=str(ws.root)), "load")
        client.close()  # an idle daemon has no clients
        time.sleep(1.0)
        spy = _start_py_spy(daemon.pid, profile) if profile else None
        ticks0, t0 = daemon.cpu_ticks(), time.perf_counter()
        time.sleep(seconds)
        ticks1, t1 = daemon.cpu_ticks(), time.perf_counter()
        if spy is not None:
            _stop_py_spy(spy)
        hz = os.sysconf("SC_CLK_TCK")
        cpu = (ticks1 - ticks0) / hz / (t1 - t0) * 100
        return Idle(daemon.rss_kib(), cpu, t1 - t0)


# ------------------------------------------------------------------ physical floor


def measure_journal_fsync(samples: int) -> float:
    """Median ms of one journal fsync in plain Python: append a 300-byte record to an
    open file and ``fdatasync`` it, as wtd's journal does — SPEC §6's durability point
    and SPEC §10's yardstick for a change."""
    record = b"x" * 299 + b"\n"
    out: list[float] = []
    with tempfile.TemporaryDirectory(prefix="wtd-bench-fsync-") as tmp:
        fd = os.open(Path(tmp) / "j.wal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            for _ in range(samples):
                t0 = time.perf_counter()
                os.write(fd, record)
                os.fdatasync(fd)
                out.append((time.perf_counter() - t0) * 1000)
        finally:
            os.close(fd)
    return statistics.median(out)


def measure_floor(n_tasks: int, samples: int) -> float:
    """Median ms of the disk work one durable change cannot avoid, done in plain Python:
    append + fsync a journal record, atomically write the JSON and the Markdown (temp
    file, fsync, rename, fsync of the folder) at this tracker's real sizes."""
    data = tracker_bytes(n_tasks)
    view = data[: int(len(data) * 0.45)]  # the view is roughly half the JSON's size
    record = b"x" * 300 + b"\n"
    out: list[float] = []
    with tempfile.TemporaryDirectory(prefix="wtd-bench-floor-") as tmp:
        folder = Path(tmp)
        journal = os.open(folder / "j.wal", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            for _ in range(samples):
                t0 = time.perf_counter()
                os.write(journal, record)
                os.fsync(journal)
                for name, payload in (("t.json", data), ("t.md", view)):
                    part = folder / f".{name}.tmp"
                    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                    try:
                        os.write(fd, payload)
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                    os.replace(part, folder / name)
                    os.fsync(dir_fd)
                out.append((time.perf_counter() - t0) * 1000)
        finally:
            os.close(journal)
            os.close(dir_fd)
    return statistics.median(out)
