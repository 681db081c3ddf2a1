"""Where the time goes: evidence for the rows that miss, summarised as text.

- ``pipeline``: the pure per-change work of the Store (apply, encode, render, digest)
  timed in this process at each size, plus a cProfile of one change at one size;
- ``py_spy_summary``: a py-spy ``raw`` (collapsed stacks) recording of the daemon,
  reduced to the top functions by own and by total time;
- ``import_time``: ``python -X importtime`` of the one-shot client.
"""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path

from bench.harness import bench_env, open_task_ids, tracker_bytes


def pipeline(n_tasks: int, repeats: int) -> dict[str, float]:
    """Median ms of each step the Store does for one ``mark task … complete``, done as
    the Store does it: warm caches (its Encoder and Renderer), the collector paused."""
    from wtd import gcpause
    from wtd.tracker import model, ops, phrases, render

    data = tracker_bytes(n_tasks)
    encoder = model.Encoder()
    renderer = render.Renderer()
    with gcpause.paused():
        t0 = time.perf_counter()
        tracker = model.decode(data, encoder=encoder)
        decode_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        renderer.render(tracker, name="bench", checksum="")
        first_render_ms = (time.perf_counter() - t0) * 1000
    ids = open_task_ids(n_tasks)
    names = ["parse", "apply", "encode", "checksum (JSON)", "render"]
    steps: dict[str, list[float]] = {name: [] for name in names}
    for i in range(repeats):
        tid = ids[(i * 7919) % len(ids)]
        with gcpause.paused():
            t = time.perf_counter()
            change = phrases.parse(f"mark task {tid} complete")
            steps["parse"].append(time.perf_counter() - t)
            t = time.perf_counter()
            applied = ops.apply(tracker, change, at="2026-12-01T12:00:00Z", actor="bench")  # type: ignore[arg-type]
            steps["apply"].append(time.perf_counter() - t)
            t = time.perf_counter()
            body = encoder.encode(applied.tracker)
            steps["encode"].append(time.perf_counter() - t)
            t = time.perf_counter()
            digest = encoder.digest(body)  # the pieces the change touched (the view's not)
            steps["checksum (JSON)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            renderer.render(applied.tracker, name="bench", checksum=digest)
            steps["render"].append(time.perf_counter() - t)
        tracker = applied.tracker
    out = {k: statistics.median(v) * 1000 for k, v in steps.items()}
    out["decode (load)"] = decode_ms
    out["first render (load)"] = first_render_ms
    out["json bytes"] = float(len(data))
    return out


def cprofile_change(n_tasks: int, repeats: int, top: int = 14) -> str:
    """cProfile of ``repeats`` changes (apply, encode, digest, render; warm caches)."""
    from wtd.tracker import model, ops, phrases, render

    encoder = model.Encoder()
    renderer = render.Renderer()
    tracker = model.decode(tracker_bytes(n_tasks), encoder=encoder)
    renderer.render(tracker, name="bench", checksum="")
    ids = open_task_ids(n_tasks)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(repeats):
        change = phrases.parse(f"mark task {ids[(i * 7919) % len(ids)]} complete")
        applied = ops.apply(tracker, change, at="2026-12-01T12:00:00Z", actor="bench")  # type: ignore[arg-type]
        body = encoder.encode(applied.tracker)
        renderer.render(applied.tracker, name="bench", checksum=encoder.digest(body))
        tracker = applied.tracker
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.sort_stats("tottime").print_stats(top)
    lines = buf.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line.rstrip() for line in lines[start:] if line.strip())


def py_spy_summary(raw_file: Path, top: int = 12) -> str:
    """Top functions by own and by total samples from a py-spy raw recording."""
    if not raw_file.exists():
        return "(no py-spy recording)"
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    samples = 0
    for line in raw_file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = next((f for f in frames if f.startswith("thread")), "thread ?")
        funcs = [_short(f) for f in frames if not f.startswith(("process", "thread"))]
        if not funcs:
            continue
        samples += count
        threads[thread.split(" ")[0] + (" (main)" if "MainThread" in thread else "")] += count
        own[funcs[-1]] += count
        for f in set(funcs):
            total[f] += count
    if not samples:
        return "(py-spy recorded no samples)"
    out = [f"{samples} non-idle samples at 1 kHz (all threads; no samples = not running)"]
    out += ["", "own time:"]
    out += [f"  {n * 100 / samples:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "total time (function and what it calls):"]
    out += [f"  {n * 100 / samples:5.1f}%  {f}" for f, n in total.most_common(top + 8)]
    return "\n".join(out)


def _short(frame: str) -> str:
    """'encode (wtd/tracker/model.py:271)' → 'model.encode:271'-ish, keeping it readable."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")")
    path, _, line = where.rpartition(":")
    parts = Path(path).parts
    if "wtd" in parts:
        path = "/".join(parts[parts.index("wtd") :])
    elif "site-packages" in parts:
        path = "/".join(parts[parts.index("site-packages") + 1 :])
    else:
        path = Path(path).name
    return f"{name} ({path}:{line})" if line else f"{name} ({path})"


def import_time(python: Path, module: str = "wtctl.cli", top: int = 8) -> str:
    """``-X importtime`` of ``module``: the total and the heaviest imports (µs, cumulative)."""
    proc = subprocess.run(
        [str(python), "-X", "importtime", "-c", f"import {module}"],
        env=bench_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    rows: list[tuple[int, int, str]] = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cum_us, name = (p.strip() for p in line[len("import time:") :].split("|"))
        rows.append((int(self_us), int(cum_us), name))
    if not rows:
        return "(no -X importtime output)"
    total = sum(r[0] for r in rows)
    out = [f"{len(rows)} modules, {total / 1000:.1f} ms own time in total; heaviest (cumulative):"]
    top_level = sorted((r for r in rows if not r[2].startswith(" ")), key=lambda r: -r[1])
    out += [f"  {cum / 1000:6.2f} ms  {name.strip()}" for _s, cum, name in top_level[:top]]
    return "\n".join(out)
