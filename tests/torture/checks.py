"""The invariants, checked on a quiet system (after each restart and at the end)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

import jsonschema

from tests.torture.daemon import BIN, SCHEMA, Keeper, Workspace
from tests.torture.edits import HandEditor
from tests.torture.ledger import Ledger
from wtd.tracker import model, render

MAX_FDS = 200
# RSS may grow by this much over a daemon's life, plus RSS_PER_JSON_BYTE per byte of
# the tracker's JSON (the torture tracker grows from 12 tasks to thousands). SPEC §10
# allows 200 MiB for a 100k-task tracker (16 MB of JSON): about 10 bytes per byte.
# The base is 80 MiB, not 50, since the mix also opens scratch workspaces in the same
# daemon (retries, symlink traps, initiatives: a Store, its caches and a watch each);
# 30 s passes measured up to 51 MiB with no pathological input handed in.
MAX_RSS_GROWTH_KIB = 80 * 1024
RSS_PER_JSON_BYTE = 10
_SCHEMA: dict[str, Any] = json.loads(SCHEMA.read_text())


@dataclass
class Findings:
    violations: list[str] = field(default_factory=list)
    lost_items: set[str] = field(default_factory=set)  # distinct acknowledged changes missing
    checks: int = 0

    @property
    def lost(self) -> int:
        return len(self.lost_items)

    def add(self, label: str, problems: list[str]) -> None:
        """Record each distinct problem once, with the first check that saw it."""
        seen = {v.split("] ", 1)[-1] for v in self.violations}
        for p in problems:
            if p.startswith("LOST: "):
                self.lost_items.add(p)
            if p not in seen:
                seen.add(p)
                self.violations.append(f"[{label}] {p}")


def sync(ws: Workspace, attempts: int) -> tuple[bool, str]:
    """``wtctl sync``: reconcile now; True when it succeeded."""
    out = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(0.5)  # e.g. "busy": a flood or the connection cap
        proc = subprocess.run(
            [str(BIN / "wtctl"), "--json", "--tracker", str(ws.md), "sync"],
            capture_output=True,
            text=True,
            env=ws.env,
            cwd=ws.root,
            timeout=90,
        )
        out = proc.stdout + proc.stderr
        if proc.returncode == 0:
            return True, out
    return False, out


def check_tracker(
    ws: Workspace,
    ledger: Ledger,
    editor: HandEditor,
    findings: Findings,
    label: str,
    *,
    strict: bool,
    tolerate_torn_json: bool,
    before_sync: bool = True,
) -> None:
    """Before and after ``wtctl sync``: acked changes present, schema, view, hand edits
    kept. ``before_sync=False``: only after (the files are as a power cut left them
    until wtd serves the workspace again)."""
    findings.checks += 1
    hand_bytes = {w.data for w in editor.writes}
    before = _read(ws) if before_sync else None
    if before is not None and before not in hand_bytes:
        data = _parse(before)
        if data is None:
            if not tolerate_torn_json:
                findings.add(label, ["JSON on disk is unreadable and nobody but wtd wrote it"])
        else:
            problems, _lost = ledger.check(data)
            findings.add(label + " before sync", problems)
    ok, out = sync(ws, attempts=3 if strict else 2)
    if not ok and strict:
        findings.add(label, [f"wtctl sync failed on a clean daemon: {out[-400:]}"])
    after = _read(ws)
    data = _parse(after) if after is not None else None
    if data is None:
        if ok or strict:
            findings.add(
                label, [f"JSON unreadable after a successful sync: {(after or b'')[:80]!r}"]
            )
        findings.add(label, editor.check_kept(None))
        return
    assert after is not None
    try:
        jsonschema.validate(data, _SCHEMA)
    except jsonschema.ValidationError as exc:
        findings.add(label, [f"JSON fails the v2 schema: {exc.message} at {list(exc.path)}"])
    problems, _lost = ledger.check(data)
    findings.add(label, problems)
    if ok:
        findings.add(label, _view_problems(ws, after))
    findings.add(label, editor.check_kept(data))


def _view_problems(ws: Workspace, json_bytes: bytes) -> list[str]:
    try:
        tracker = model.decode(json_bytes)
    except Exception as exc:  # whatever decode raises: the SSOT does not load
        return [f"wtd.tracker.model.decode rejects the JSON: {exc}"]
    checksum = model.checksum(json_bytes)
    expected = render.render(tracker, name=ws.json.stem, checksum=checksum).encode()
    try:
        actual = ws.md.read_bytes()
    except FileNotFoundError:
        return ["the Markdown view is missing after a successful sync"]
    if actual != expected:
        return [
            "after sync the view differs from render(JSON): "
            + _first_difference(actual.decode(errors="replace"), expected.decode())
        ]
    return []


def _first_difference(a: str, b: str) -> str:
    for n, (x, y) in enumerate(zip(a.splitlines(), b.splitlines(), strict=False)):
        if x != y:
            return f"line {n + 1}: {x!r} != {y!r}"
    return f"lengths {len(a)} != {len(b)}"


def _read(ws: Workspace) -> bytes | None:
    try:
        return ws.json.read_bytes()
    except FileNotFoundError:
        return None


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        parsed = json.loads(data)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) and isinstance(parsed.get("tasks"), list) else None


def check_usage(keeper: Keeper) -> list[str]:
    problems = []
    for usage in list(keeper.stats.usage.values()):
        if usage.fds_max >= MAX_FDS:
            problems.append(f"wtd pid {usage.pid} held {usage.fds_max} open fds (limit {MAX_FDS})")
        growth = usage.rss_max_kib - usage.rss_first_kib
        biggest = max(usage.json_max_kib, usage.input_max_kib)
        allowed = MAX_RSS_GROWTH_KIB + RSS_PER_JSON_BYTE * biggest
        if growth >= allowed:
            problems.append(
                f"wtd pid {usage.pid} RSS grew by {growth // 1024} MiB "
                f"(allowed {allowed // 1024} MiB with a {usage.json_max_kib} KiB tracker"
                + (
                    f" and a {usage.input_max_kib} KiB file handed in"
                    if usage.input_max_kib
                    else ""
                )
                + ")"
            )
    return problems


# ------------------------------------------------------------ the daemon's log

_EXPECTED = re.compile(r"failpoint|injected", re.IGNORECASE)


@dataclass
class LogReport:
    unexpected_tracebacks: list[str] = field(default_factory=list)
    expected_tracebacks: int = 0
    repairs: int = 0
    conflicts_logged: int = 0


def scan_log(text: str) -> LogReport:
    report = LogReport()
    lines = text.splitlines()
    n = 0
    while n < len(lines):
        line = lines[n]
        if "repaired:" in line or "replayed" in line:
            report.repairs += 1
        if "hand-edited view kept" in line:
            report.conflicts_logged += 1
        if "Traceback" in line:
            block = [lines[n - 1]] if n else []
            block.append(line)
            n += 1
            while n < len(lines) and (lines[n].startswith((" ", "\t")) or not lines[n].strip()):
                block.append(lines[n])
                n += 1
            if n < len(lines):
                block.append(lines[n])  # the exception line
            if _EXPECTED.search("\n".join(block)):
                report.expected_tracebacks += 1
            else:
                report.unexpected_tracebacks.append("\n".join(block[:2] + block[-6:]))
        n += 1
    return report
