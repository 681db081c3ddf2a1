"""Deleted trackers go to ``.ecw/trash/`` (never really deleted) and come back intact.

A trash entry is a folder ``<UTC stamp>-<name>/`` holding the tracker's JSON and
Markdown files exactly as they were (moved, not rewritten: restoring gives back the
same bytes) and a ``manifest.json`` saying where they came from.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from wtd.storage import safepath
from wtd.storage.atomic import atomic_write, fsync_dir, make_dirs
from wtd.storage.backups import utc_stamp

# Where each role of a trash entry goes back to, relative to the workspace.
_HOMES = {
    "tracker.json": (".ecw", "plans", "{name}.json"),
    "view.md": ("docs", "plans", "{name}.md"),
}


class TrashError(Exception):
    pass


def _move(src: Path, dst: Path) -> None:
    make_dirs(dst.parent)
    safepath.check(src)
    safepath.check(dst)
    os.replace(src, dst)
    fsync_dir(src.parent)
    fsync_dir(dst.parent)


def new_entry(folder: Path, name: str) -> Path:
    """The path of a new trash entry for ``name`` (created by ``trash``)."""
    return folder / f"{utc_stamp()}-{name}"


def trash(folder: Path, name: str, files: dict[str, Path], *, entry: Path | None = None) -> Path:
    """Move ``files`` (role → path; missing ones are skipped) into a new trash entry."""
    entry = entry or new_entry(folder, name)
    make_dirs(entry)
    present = {role: path for role, path in files.items() if path.exists()}
    listed = {role: str(path) for role, path in files.items() if (entry / role).exists()}
    manifest = {"name": name, "files": {**listed, **{r: str(p) for r, p in present.items()}}}
    atomic_write(entry / "manifest.json", json.dumps(manifest, indent=2).encode() + b"\n")
    for role, path in present.items():
        _move(path, entry / role)
    return entry


def entries(folder: Path, name: str | None = None) -> list[Path]:
    """Trash entries, newest first (only ``name``'s when given)."""
    if not folder.is_dir():
        return []
    found = [
        e
        for e in folder.iterdir()
        if (e / "manifest.json").is_file() and (name is None or e.name.endswith(f"-{name}"))
    ]
    return sorted(found, key=lambda e: e.name, reverse=True)


def restore(entry: Path) -> tuple[str, list[Path]]:
    """Move an entry's files back where they were; refuses to overwrite anything."""
    try:
        manifest = json.loads(safepath.read_bytes(entry / "manifest.json"))
        name = str(manifest["name"])
        roles = list(manifest["files"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrashError(f"trash entry {entry.name} has an unreadable manifest ({exc})") from exc
    # The manifest is a file in the repository: whatever paths it names, the files go
    # back to where this workspace keeps that tracker, never anywhere else.
    workspace = entry.parent.parent.parent
    if "/" in name or name in ("", ".", "..") or any(role not in _HOMES for role in roles):
        raise TrashError(f"trash entry {entry.name} has an unexpected manifest")
    targets = {
        role: workspace.joinpath(*(part.format(name=name) for part in _HOMES[role]))
        for role in roles
    }
    clash = [str(p) for p in targets.values() if p.exists()]
    if clash:
        raise TrashError(f"not restoring over existing files: {', '.join(clash)}")
    for role, path in targets.items():
        _move(entry / role, path)
    (entry / "manifest.json").unlink()
    for stale in entry.glob(".*.tmp"):  # what a crash in an earlier write left behind
        stale.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # something else is there: the files are back anyway
        entry.rmdir()
    return name, list(targets.values())
