"""The table (SPEC §10 rows) and the machine it ran on, as Markdown."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path


@dataclass
class Row:
    what: str
    ours: str
    budget: str
    peer: str = "—"
    ratio: str = "—"
    verdict: str = "—"  # PASS, MISS, or — when there is no budget / it could not be judged


def verdict(passed: bool | None) -> str:
    if passed is None:
        return "—"
    return "PASS" if passed else "MISS"


def table(rows: list[Row]) -> str:
    head = "| what | ours | budget (SPEC §10) | peer (same run) | ratio | verdict |"
    out = [head, "|---|---|---|---|---|---|"]
    out += [
        f"| {r.what} | {r.ours} | {r.budget} | {r.peer} | {r.ratio} | **{r.verdict}** |"
        if r.verdict in ("PASS", "MISS")
        else f"| {r.what} | {r.ours} | {r.budget} | {r.peer} | {r.ratio} | {r.verdict} |"
        for r in rows
    ]
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def python_of(bin_dir: Path) -> str:
    proc = subprocess.run(
        [str(bin_dir / "python"), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() or "?"


def install_kind(bin_dir: Path, repo: Path) -> str:
    """'editable' when the client imports from the checkout, else 'regular'."""
    proc = subprocess.run(
        [os.path.abspath(bin_dir / "python"), "-c", "import wtctl; print(wtctl.__file__)"],
        cwd="/",  # not the checkout: ``-c`` puts the working folder first on sys.path
        capture_output=True,
        text=True,
        check=False,
    )
    where = proc.stdout.strip()
    if not where:
        return "unknown"
    return "editable" if Path(where).resolve().is_relative_to(repo.resolve()) else "regular"


def machine(
    *, mode: str, tw_version: str | None, oneshot_bin: Path, daemon_bin: Path, repo: Path
) -> list[str]:
    fs = subprocess.run(
        ["df", "--output=fstype", tempfile.gettempdir()],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.split()
    tree = source_hash(repo)
    return [
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        f"- mode: **{mode}**; code measured: sha256 of wtd/ and wtctl/ sources `{tree}` "
        "(the one-shot venv holds the same code)",
        f"- machine: {_cpu_model()}, {os.cpu_count()} cores, Linux {platform.release()}, "
        f"temp file system {fs[-1] if fs else '?'} (workspaces and the disk floor live there)",
        f"- Python {sys.version.split()[0]} (bench driver and daemon); msgspec "
        f"{_version('msgspec')}, anyio {_version('anyio')}",
        f"- daemon and in-daemon rows: `{daemon_bin}` ({install_kind(daemon_bin, repo)} install)",
        f"- one-shot rows (`wtctl`, the stdlib client, Taskwarrior beside them): `{oneshot_bin}` "
        f"(Python {python_of(oneshot_bin)}, {install_kind(oneshot_bin, repo)} install)",
        f"- Taskwarrior: {tw_version or 'not installed (its rows are skipped)'}",
        "- `PYTHONDONTWRITEBYTECODE` is removed from every benchmarked process's environment, "
        "so `.pyc` caches exist as on a real install",
    ]


def source_hash(root: Path) -> str:
    """sha256 (12 hex digits) of the wtd/ and wtctl/ sources under ``root``."""
    h = hashlib.sha256()
    for d in ("wtd", "wtctl"):
        for p in sorted((root / d).rglob("*.py")):
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]
