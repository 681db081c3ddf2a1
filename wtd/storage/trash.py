"""Deleted trackers go to ``.ecw/trash/`` (never really deleted) and come back intact.

A trash entry is a folder ``<UTC stamp>-<name>/`` holding the tracker's JSON and
Markdown files exactly as they were (moved, not rewritten: restoring gives back the
same bytes) and a ``manifest.json`` saying where they came from.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from wtd.storage.atomic import atomic_write, fsync_dir, make_dirs
from wtd.storage.backups import utc_stamp


class TrashError(Exception):
    pass


def _move(src: Path, dst: Path) -> None:
    make_dirs(dst.parent)
    os.replace(src, dst)
    fsync_dir(src.parent)
    fsync_dir(dst.parent)


def trash(folder: Path, name: str, files: dict[str, Path]) -> Path:
    """Move ``files`` (role → path; missing ones are skipped) into a new trash entry."""
    entry = folder / f"{utc_stamp()}-{name}"
    make_dirs(entry)
    present = {role: path for role, path in files.items() if path.exists()}
    manifest = {"name": name, "files": {role: str(path) for role, path in present.items()}}
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
    manifest = json.loads((entry / "manifest.json").read_text())
    targets = {role: Path(path) for role, path in manifest["files"].items()}
    clash = [str(p) for p in targets.values() if p.exists()]
    if clash:
        raise TrashError(f"not restoring over existing files: {', '.join(clash)}")
    for role, path in targets.items():
        _move(entry / role, path)
    (entry / "manifest.json").unlink()
    entry.rmdir()
    return str(manifest["name"]), list(targets.values())
