"""``wtctl git setup`` and ``wtctl git check``: a repository made ready to share
trackers (SPEC §11), and a clone that is not found out.

``setup`` is idempotent: it appends to ``.gitattributes`` and ``.gitignore`` only the
lines they lack, and sets in the repository's own config only the values that differ.
The config is not shared by cloning, so every clone registers the drivers once;
``driver_missing`` tells when a clone's ``.gitattributes`` names wtd's drivers but its
config lacks them (git would then merge trackers line by line). Importing this module
does nothing; it runs git only when a function is called. Standard library only.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Final

# "**/": the workspace at the top of the repository and any below it (a monorepo's
# packages each with their .ecw/ and docs/plans/)
ATTRIBUTES: Final = (
    ("**/.ecw/plans/*.json", ("merge=wtd-json",)),
    ("**/docs/plans/*.md", ("merge=wtd-view", "linguist-generated=true")),
)
ATTRIBUTES_HEADER: Final = "# wtd: trackers merge field by field, their views are rendered"
IGNORED: Final = tuple(
    "**/" + name
    for name in (
        ".ecw/journal/",
        ".ecw/backups/",
        ".ecw/quarantine/",
        ".ecw/conflicts/",
        ".ecw/trash/",
        ".ecw/imported/",
        ".ecw/knowledge.json",
        ".ecw/consent-state.json",
        ".ecw/audit.log",
        ".ecw/wtd.lock",
        ".ecw/plans/.*.tmp",
        "docs/plans/.*.tmp",
    )
)
IGNORED_HEADER: Final = "# wtd's own state (journal, backups, consent, locks), never shared"
DRIVERS: Final = {
    "wtd-json": ("wtd tracker JSON, merged field by field", "merge-json"),
    "wtd-view": ("wtd tracker view, rendered from the merged JSON", "merge-view"),
}
# files whose merge attribute tells which drivers a repository uses
_PROBES: Final = (".ecw/plans/probe.json", "docs/plans/probe.md")


class GitError(Exception):
    """git is missing, or said no; the message says what to do."""


def git(root: Path | None, *args: str) -> subprocess.CompletedProcess[str]:
    command = ["git", *(("-C", str(root)) if root is not None else ()), *args]
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None


def repo_root(cwd: Path) -> Path:
    """The top folder of the git working tree holding ``cwd``; GitError outside one."""
    done = git(cwd, "rev-parse", "--show-toplevel")
    if done.returncode != 0:
        said = done.stderr.strip().removeprefix("fatal: ")
        raise GitError(f"{cwd} is not inside a git working tree ({said})")
    return Path(done.stdout.strip())


def driver_command(action: str) -> str:
    """How git runs a driver: this Python, by absolute path (no venv on PATH needed),
    with ``-P`` so that a ``wtctl/`` folder in the repository is never imported."""
    return f"{shlex.quote(sys.executable)} -P -m wtctl git {action} %O %A %B %P"


def _has_line(lines: list[str], wanted: str) -> bool:
    return any(line.strip() in (wanted, "/" + wanted) for line in lines)


def _has_attributes(lines: list[str], pattern: str, attrs: tuple[str, ...]) -> bool:
    for line in lines:
        words = line.split()
        if words and words[0] in (pattern, "/" + pattern) and set(attrs) <= set(words[1:]):
            return True
    return False


def _append(path: Path, header: str, lines: list[str]) -> None:
    text = path.read_text() if path.exists() else ""
    if text and not text.endswith("\n"):
        text += "\n"
    if text.strip():
        text += "\n"
    if header not in text:
        text += header + "\n"
    path.write_text(text + "".join(line + "\n" for line in lines))


def _config(root: Path, key: str) -> str | None:
    done = git(root, "config", "--get", key)
    return done.stdout.rstrip("\n") if done.returncode == 0 else None


def register(root: Path) -> list[str]:
    """Register wtd's merge drivers in the config of the repository at ``root`` (its
    own, ``--local``); what changed, one line each ([] when nothing had to)."""
    said: list[str] = []
    for driver, (name, action) in DRIVERS.items():
        for key, value in (("name", name), ("driver", driver_command(action))):
            full = f"merge.{driver}.{key}"
            done = git(root, "config", "--local", "--get", full)
            if done.returncode == 0 and done.stdout.rstrip("\n") == value:
                continue
            set_ = git(root, "config", "--local", full, value)
            if set_.returncode != 0:
                raise GitError(f"git config {full} failed: {set_.stderr.strip()}")
            said.append(f"registered in .git/config: {full} = {value}")
    return said


def setup(root: Path) -> list[str]:
    """Make the repository at ``root`` share trackers; what changed, one line each."""
    said: list[str] = []
    attributes = root / ".gitattributes"
    lines = attributes.read_text().splitlines() if attributes.exists() else []
    missing = [
        " ".join((pattern, *attrs))
        for pattern, attrs in ATTRIBUTES
        if not _has_attributes(lines, pattern, attrs)
    ]
    if missing:
        _append(attributes, ATTRIBUTES_HEADER, missing)
        said += [f"added to .gitattributes: {line}" for line in missing]
    ignore = root / ".gitignore"
    lines = ignore.read_text().splitlines() if ignore.exists() else []
    missing = [pattern for pattern in IGNORED if not _has_line(lines, pattern)]
    if missing:
        _append(ignore, IGNORED_HEADER, missing)
        said.append(f"added to .gitignore: {' '.join(missing)}")
    return said + register(root)


def drivers_named(root: Path) -> list[str]:
    """wtd's drivers that the repository's attributes name for tracker files."""
    done = git(root, "check-attr", "merge", "--", *_PROBES)
    named = [line.rsplit(": ", 1)[-1] for line in done.stdout.splitlines()]
    return [d for d in DRIVERS if d in named]


def problems(root: Path, named: list[str] | None = None) -> list[str]:
    """What keeps git from merging this clone's trackers with wtd's drivers, each
    with the command that fixes it; [] when nothing does. ``named``: the drivers the
    attributes name, when the caller knows them."""
    named = drivers_named(root) if named is None else named
    if not named:
        return [
            "trackers are merged line by line: .gitattributes does not name wtd's merge "
            "drivers; run `wtctl git setup` (then commit .gitattributes and .gitignore)"
        ]
    out: list[str] = [
        f"{path} is merged line by line (its .gitattributes line names the top folder "
        "only): run `wtctl git setup` again (then commit .gitattributes and .gitignore)"
        for path in _trackers_without_driver(root)
    ]
    for driver in named:
        command = _config(root, f"merge.{driver}.driver")
        if command is None:
            fix = shlex.quote(driver_command(DRIVERS[driver][1]))
            out.append(
                f".gitattributes names the merge driver {driver} but this clone's config "
                f"lacks it: run `wtctl git setup` (or `git config merge.{driver}.driver {fix}`)"
            )
            continue
        try:
            program = shlex.split(command)[0]
        except (ValueError, IndexError):
            program = ""
        path = program if "/" in program else shutil.which(program)
        if not path or not os.access(path, os.X_OK):
            out.append(
                f"the merge driver {driver} runs {program or command!r}, which is gone: "
                "run `wtctl git setup` to register this install's Python instead"
            )
    return out


def _trackers_without_driver(root: Path) -> list[str]:
    """The tracker JSONs git knows in the repository (a monorepo's below the top too)
    whose merge attribute is not wtd's driver."""
    listed = git(root, "ls-files", "-z")
    if listed.returncode != 0:
        return []
    found = [
        p
        for p in listed.stdout.split("\0")
        if p.endswith(".json") and "/.ecw/plans/" in "/" + p and p.count("/.ecw/") <= 1
    ][:200]
    if not found:
        return []
    done = git(root, "check-attr", "merge", "--", *found)
    return [
        line.rsplit(": merge: ", 1)[0]
        for line in done.stdout.splitlines()
        if not line.endswith(": wtd-json")
    ]


def driver_missing(root: Path) -> bool:
    """Does the repository at ``root`` name wtd's merge drivers in its attributes
    without a working registration in its config? (A repository that does not name
    them at all is not missing anything.)"""
    named = drivers_named(root)
    return bool(named) and bool(problems(root, named))
