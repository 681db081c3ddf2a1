"""Where a tracker's files live (SPEC §2): workspace, JSON SSOT, Markdown view, state.

``resolve`` turns what the user gave (``--tracker`` path or bare name, or nothing)
plus the client's working folder into concrete paths. It only looks at the file
system (stat, listdir); it never writes.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec

from wtd.errors import InvalidArgument, NotFound


class TrackerPaths(msgspec.Struct, frozen=True, kw_only=True):
    workspace: Path
    name: str
    json: Path
    markdown: Path

    @property
    def state(self) -> Path:
        """The folder for wtd's own files about this workspace (journal, backups, …)."""
        return self.workspace / ".ecw"

    @property
    def journal(self) -> Path:
        return self.state / "journal" / f"{self.name}.wal"

    @property
    def backups(self) -> Path:
        return self.state / "backups" / self.name

    @property
    def quarantine(self) -> Path:
        return self.state / "quarantine" / self.name

    @property
    def conflicts(self) -> Path:
        return self.state / "conflicts" / self.name


def for_workspace(workspace: Path, name: str) -> TrackerPaths:
    if not _is_text(name):
        shown = name.encode("utf-8", "surrogateescape")
        raise InvalidArgument(
            f"A tracker's name must be UTF-8 text: {shown!r} (in {workspace}) is not; "
            "rename its file"
        )
    return TrackerPaths(
        workspace=workspace,
        name=name,
        json=workspace / ".ecw" / "plans" / f"{name}.json",
        markdown=workspace / "docs" / "plans" / f"{name}.md",
    )


def find_workspace(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds ``.ecw/`` or ``.git/``.

    Strings and ``os.stat``, not Paths: this runs for every request (~5 µs a level
    less)."""
    folder = os.fspath(start)
    while True:
        if _is_dir(os.path.join(folder, ".ecw")) or _exists(os.path.join(folder, ".git")):
            return Path(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent


def _is_dir(path: str) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _exists(path: str) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def _workspace_of_file(path: Path, marker: tuple[str, str]) -> Path:
    """The workspace of a tracker file named by its path: the nearest folder holding
    ``.ecw/`` or ``.git`` — unless the file sits in ``docs/plans/`` (``.ecw/plans/``)
    of a folder below that one: a package of a monorepo, named by its own layout."""
    parent = Path(os.path.normpath(path.parent))  # (--tracker ../docs/plans/x.md)
    layout = parent.parent.parent if (parent.parent.name, parent.name) == marker else None
    if layout is not None and _is_dir(os.path.join(layout, ".ecw")):
        return layout  # served already (one stat, where the walk up took five)
    found = find_workspace(parent)
    if layout is not None and (found is None or found in layout.parents):
        return layout
    return found if found is not None else parent


def _is_text(name: str) -> bool:
    """Is ``name`` text (not bytes that are not UTF-8, which arrive as surrogates)?"""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def trackers_in(workspace: Path) -> list[str]:
    """Names of the workspace's trackers (JSON or Markdown-only): those with a JSON
    (served) first, then the Markdown files not imported yet (a hand-written plan, or
    a README or notes beside the views), each newest change first."""
    seen: dict[str, float] = {}
    served: set[str] = set()
    for folder, suffix in (
        (workspace / ".ecw" / "plans", ".json"),
        (workspace / "docs" / "plans", ".md"),
    ):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if (
                entry.suffix == suffix
                and not entry.name.startswith(".")
                and _is_text(entry.name)  # a name that is not UTF-8 is no tracker's
                and entry.is_file()
            ):
                mtime = entry.stat().st_mtime
                seen[entry.stem] = max(seen.get(entry.stem, 0.0), mtime)
                if suffix == ".json":
                    served.add(entry.stem)
    return sorted(seen, key=lambda n: (n not in served, -seen[n], n))


def resolve(tracker: str | None, cwd: Path) -> tuple[TrackerPaths, bool]:
    """Resolve ``tracker`` (path, bare name or None) seen from ``cwd``.

    Returns the paths and whether the tracker was chosen implicitly (the caller
    then names it in the output). Raises NotFound when there is nothing to serve.
    """
    if tracker:
        given = Path(tracker).expanduser()
        path = given if given.is_absolute() else cwd / given
        if path.suffix == ".md":
            return for_workspace(_workspace_of_file(path, ("docs", "plans")), path.stem), False
        if path.suffix == ".json":
            return for_workspace(_workspace_of_file(path, (".ecw", "plans")), path.stem), False
        if "/" in tracker or tracker.startswith("."):
            raise InvalidArgument(
                f"Tracker path must end in .md or .json: {tracker!r}",
                suggestions=[f"{tracker}.md"],
            )
        workspace = find_workspace(cwd) or cwd
        return for_workspace(workspace, tracker), False
    workspace = find_workspace(cwd) or cwd
    names = trackers_in(workspace)
    if not names:
        raise NotFound(
            f"No tracker found in {workspace} (looked in .ecw/plans/*.json and docs/plans/*.md); "
            "pass --tracker PATH"
        )
    return for_workspace(workspace, names[0]), True
