"""Reading the plans people already have, for import (SPEC §2a).

The one place wtd calls the plan readers (``wtd.tracker.importers``): ``read_plan``,
for a ``docs/plans/*.md`` that has no JSON yet (its Store imports it) and for ``import
plan PATH [as NAME]`` (``prepare``, in a worker thread, then the Executor writes the
JSON and opens the tracker). A plan is read with the size limit and never through a
symlink; a refusal writes nothing anywhere. Also what an import reply says
(``import_lines``, ``import_report``).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path
from typing import Final

import msgspec

from wtd import errors, workspace
from wtd.storage import safepath
from wtd.tracker import importers, model
from wtd.workspace import TrackerPaths

# File names that say nothing of the plan (Kiro's and spec-kit's tasks.md, Conductor's
# plan.md…) and folders that hold plans rather than name one.
_GENERIC_STEMS: Final = frozenset(
    {
        "tasks",
        "task",
        "plan",
        "plans",
        "todo",
        "todos",
        "readme",
        "index",
        "roadmap",
        "checklist",
        "backlog",
        "notes",
        "spec",
        "tracker",
        "work-tracker",
        "progress",
    }
)
_GENERIC_FOLDERS: Final = frozenset(
    {
        "",
        "plans",
        "plan",
        "docs",
        "doc",
        "specs",
        "spec",
        "notes",
        "tasks",
        "src",
        ".kiro",
        ".cursor",
        ".github",
        "conductor",
        "tracks",
    }
)


class Prepared(msgspec.Struct, frozen=True, kw_only=True):
    """A plan read for ``import plan``: where it is, the tracker it becomes, as what."""

    source: Path
    paths: TrackerPaths
    result: importers.ImportResult


def read_plan(
    data: bytes, *, title_hint: str, source: str, max_bytes: int
) -> importers.ImportResult:
    """A plan's bytes as a tracker. The tracker is fitted to the schema (``fit_schema``:
    the readers do it already; this is the guarantee) and carries derived progress.

    Raises importers.NothingToImport (exit 1) when no task is found, LimitRefused when
    the text is over ``max_bytes``.
    """
    try:
        result = importers.import_plan(
            data.decode("utf-8", errors="replace"),
            title_hint=title_hint,
            source=source,
            max_bytes=max_bytes,
        )
    except model.LimitExceeded as exc:
        raise errors.LimitRefused(
            f"Refused: {source or 'the plan'}: {exc} ([storage] max_file_bytes); "
            "nothing was imported"
        ) from None
    tracker, _ = model.fit_schema(result.tracker)
    return msgspec.structs.replace(result, tracker=model.with_derived_progress(tracker))


def import_report(result: importers.ImportResult) -> dict[str, object]:
    """The counts an import reply gives (``--json``)."""
    return {
        "format": result.format,
        "phases": result.phases,
        "tasks": result.tasks,
        "notes": result.notes,
        "not_understood": result.not_understood,
    }


def import_lines(result: importers.ImportResult) -> list[str]:
    """What a reply says of an import: its summary, then the first lines not understood
    (each kept as a note of the tracker all the same)."""
    return [*result.summary] + [
        f"⚠ Not understood (line {u.line}, kept as a note): {u.text[:80]!r}"
        for u in result.unmapped[:10]
    ]


def prepare(path: str, name: str | None, *, cwd: Path, ws: Path, max_bytes: int) -> Prepared:
    """The plan at ``path`` (absolute, or relative to ``cwd``), read and imported as the
    tracker ``name`` (default ``plan_name``) of workspace ``ws``; nothing is written.

    Raises InvalidArgument when that tracker exists (suggesting a free name) or the
    path is the tracker's own file or a folder, NotFound when there is no such file,
    UnsafePath (a symlink), TooLarge / LimitRefused, importers.NothingToImport.
    """
    given = Path(path).expanduser()
    source = Path(os.path.normpath(given if given.is_absolute() else cwd / given))
    if name is None:
        _refuse_a_spaced_name(path, source, cwd)
    name = name or plan_name(source)
    paths = workspace.for_workspace(ws, name)
    if source in (paths.markdown, paths.json):
        raise errors.InvalidArgument(
            f"{shown(source, ws)} is already the tracker {name} of {ws}: use it with "
            f"--tracker {name}",
            suggestions=[f"wtctl --tracker {name} show progress"],
        )
    if _taken(paths):
        free = next(n for k in range(2, 10_000) if not _taken(_named(ws, n := f"{name}-{k}")))
        raise errors.InvalidArgument(
            f"A tracker named {name} already exists in {ws}: nothing was imported; name "
            f"the new one with 'as', e.g. import plan {path} as {free}",
            suggestions=[f"import plan {path} as {free}"],
        )
    result = read_plan(
        read_plan_file(source, ws, max_bytes),
        title_hint=name.replace("-", " ").replace("_", " ").title(),
        source=shown(source, ws),
        max_bytes=max_bytes,
    )
    return Prepared(source=source, paths=paths, result=result)


def _refuse_a_spaced_name(path: str, source: Path, cwd: Path) -> None:
    """``import plan x.md as My Plan``: the grammar takes a NAME without spaces, so the
    whole text was read as the path. When no such file exists but the text before the
    last " as " is a plan, the user named the tracker: say the name is not one (exit 2),
    rather than "No plan at x.md as My Plan" (exit 1)."""
    head, sep, tail = path.rpartition(" as ")
    if not sep or not head.strip() or not tail.strip() or os.path.lexists(source):
        return
    given = Path(head.strip()).expanduser()
    if not (given if given.is_absolute() else cwd / given).is_file():
        return
    raise errors.InvalidArgument(
        f"Invalid tracker name: '{tail.strip()}' (letters, digits, '-' and '_', at most "
        "100; it names .ecw/plans/NAME.json and docs/plans/NAME.md)",
        suggestions=[f"import plan {head.strip()} as {slug(tail, 'plan')}"],
    )


def _named(ws: Path, name: str) -> TrackerPaths:
    return workspace.for_workspace(ws, name)


def _taken(paths: TrackerPaths) -> bool:
    return paths.json.exists() or paths.markdown.exists() or paths.journal.exists()


def slug(text: str, fallback: str) -> str:
    """``text`` as a tracker name: lower case, runs of other characters as "-"."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return out[:48].strip("-") or fallback


def plan_name(path: Path) -> str:
    """The tracker name for a plan file: a slug of its name without ``.md`` (and a
    Cursor ``.plan``); for a generic name (``tasks.md``, ``plan.md``, ``README.md``…),
    of the nearest folder above it that is not generic itself (Kiro's feature folder,
    a Conductor track, a spec-kit feature)."""
    stem = path.name
    for suffix in (".md", ".markdown", ".txt"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
            break
    stem = stem.removesuffix(".plan")
    if slug(stem, "") in _GENERIC_STEMS:
        for folder in path.parents:
            if folder.name.lower() not in _GENERIC_FOLDERS:
                return slug(folder.name, "plan")
    return slug(stem, "plan")


def read_plan_file(path: Path, ws: Path, max_bytes: int) -> bytes:
    """The bytes of a plan to import: never through a symlink (the file itself, or,
    inside the workspace, any folder on the way to it), never over ``max_bytes``.
    Raises NotFound, InvalidArgument (a folder), UnsafePath, TooLarge."""
    try:
        inside: Path | None = path.relative_to(ws)
    except ValueError:
        inside = None
    if inside is not None:  # a link planted in a repository never leads wtd out of it
        current = ws
        for part in inside.parts[:-1]:
            current = current / part
            if current.is_symlink():
                raise safepath.UnsafePath(current, ws)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        raise errors.NotFound(f"No plan at {path}: nothing was imported") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise safepath.UnsafePath(path, ws if inside is not None else None) from None
        if exc.errno == errno.EISDIR:
            raise _a_folder(path) from None
        raise errors.WtdError(f"{path} could not be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise _a_folder(path)
        if not stat.S_ISREG(info.st_mode):
            raise errors.InvalidArgument(f"{path} is not a regular file: nothing was imported")
        if info.st_size > max_bytes:
            raise safepath.TooLarge(path, info.st_size, max_bytes)
        chunks: list[bytes] = []
        size = 0
        while chunk := os.read(fd, max(info.st_size + 1, 1 << 16)):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # it grew while being read
                raise safepath.TooLarge(path, size, max_bytes)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _a_folder(path: Path) -> errors.WtdError:
    return errors.InvalidArgument(
        f"{path} is a folder: name the plan file in it (e.g. {path / 'tasks.md'})",
        suggestions=[f"import plan {path / 'tasks.md'}"],
    )


def shown(path: Path, ws: Path) -> str:
    """``path`` relative to the workspace when it is inside it."""
    try:
        return str(path.relative_to(ws))
    except ValueError:
        return str(path)
