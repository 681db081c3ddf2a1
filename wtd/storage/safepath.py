"""wtd never follows a symlink out of a workspace (SPEC §2).

Every file wtd reads or writes in a workspace lives under ``<workspace>/.ecw/`` or
``<workspace>/docs/plans/``, so the workspace of a path is known from the path
itself: the folder that holds its last ``.ecw`` (or ``docs/plans``) component.
``check`` makes sure that no component from there down is a symlink; ``open_file``
and ``read_bytes`` also open with ``O_NOFOLLOW``, so a link planted between the check
and the open is refused by the kernel. A repository that holds such a link (a cloned
one, say) is refused with a message naming the link: nothing outside the workspace
is read, written or copied in. The workspace folder itself may be reached through
links (``~/src`` → ``/data/src``); only what is inside it is checked.

Checks cost one ``lstat`` per component (a few µs), so every write makes them.
"""

from __future__ import annotations

import errno
import functools
import os
import stat
from pathlib import Path
from typing import Final

from wtd.errors import WtdError

# O_NONBLOCK: a FIFO (or device) put where a file is expected must not hang the
# open until someone writes to it; for a regular file it changes nothing
_NOFOLLOW: Final = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
# What opening a file for writing says when nothing in that folder can be written
# (a read-only file system, no permission): wtd then serves reads only.
CANNOT_WRITE: Final = frozenset({errno.EROFS, errno.EACCES, errno.EPERM})


class TooLarge(WtdError):
    """A file over the size limit (config ``[storage] max_file_bytes``): refused, kept."""

    code = "too_large"

    def __init__(self, path: Path, size: int, limit: int) -> None:
        super().__init__(
            f"Refused: {path} is {size / 2**20:.1f} MiB, over the {limit / 2**20:g} MiB limit "
            "([storage] max_file_bytes); it was left as it is",
        )


class UnsafePath(WtdError):
    """A path wtd would use inside a workspace is a symlink (exit code 4)."""

    code = "unsafe_path"

    def __init__(self, link: Path, root: Path | None) -> None:
        where = _relative(link, root)
        try:
            target = f" (→ {os.readlink(link)})"
        except OSError:
            target = ""
        folder = f" in {root}" if root is not None else ""
        super().__init__(
            f"Refused: {where}{folder} is a symlink{target}. wtd never follows links in a "
            "workspace's .ecw/ or docs/plans/, so that a repository cannot make it read or "
            "write files outside it. Replace the link with a real file or folder.",
            suggestions=[f"rm {link}"],
        )
        self.link = link


def workspace_of(path: Path) -> tuple[Path, int] | None:
    """(workspace, index of the first part to check) of a path wtd uses, or None."""
    parts = path.parts
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == ".ecw":
            return Path(*parts[:i]), i
        if parts[i] == "plans" and parts[i - 1] == "docs" and i >= 2:
            return Path(*parts[: i - 1]), i - 1
    return None


def check(path: Path) -> None:
    """Raise UnsafePath if any existing component of ``path`` inside its workspace is a
    symlink. Paths outside the layout (no ``.ecw``/``docs/plans``) are not checked."""
    whole = os.fspath(path)
    folder, name = os.path.split(whole)
    # strings, not Paths, and the folder's steps worked out once: this runs several
    # times per change, on temp files whose names are new every time
    found = None if name in (".ecw", "plans") else _folder_steps(folder)
    if found is None:
        found = _steps(path)
        if found is None:
            return
        root, steps = found
    else:
        root, steps = found[0], (*found[1], whole)
    for current in steps:
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            return
        if stat.S_ISLNK(mode):
            raise UnsafePath(Path(current), Path(root))


@functools.lru_cache(maxsize=256)
def _folder_steps(folder: str) -> tuple[str, tuple[str, ...]] | None:
    return _steps(Path(folder))


def _steps(path: Path) -> tuple[str, tuple[str, ...]] | None:
    """(workspace, every path from its first component to ``path``) or None."""
    found = workspace_of(path)
    if found is None:
        return None
    root, first = found
    steps: list[str] = []
    current = str(root)
    for part in path.parts[first:]:
        current = os.path.join(current, part)
        steps.append(current)
    return str(root), tuple(steps)


def check_tree(folder: Path) -> None:
    """Raise UnsafePath if ``folder`` (a workspace's ``.ecw`` or ``docs/plans``), or
    anything below it, is a symlink. Used when a workspace is first served."""
    check(folder)
    if not folder.is_dir():
        return
    found = workspace_of(folder)
    root = found[0] if found else None
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath) / name
            if os.path.islink(entry):
                raise UnsafePath(entry, root)


class SharedFile(WtdError):
    """A file wtd writes in place (the journal, its lock, a log) that is not its own:
    another name of the same file (a hard link), or not a regular file (exit code 4)."""

    code = "unsafe_path"

    def __init__(self, path: Path, info: os.stat_result) -> None:
        root = _root(path)
        where = _relative(path, root) + (f" in {root}" if root is not None else "")
        if stat.S_ISREG(info.st_mode):
            what = (
                f"has {info.st_nlink} names (a hard link: a copy made with `cp -al`, or a "
                "link to a file elsewhere)"
            )
            fix = f"cp {path} {path}.own && mv {path}.own {path}"
        else:
            what = "is not a regular file"
            fix = f"rm {path}"
        super().__init__(
            f"Refused: {where} {what}. wtd writes this file in place, so every other name "
            "of it — possibly outside the workspace — would change too. Give the "
            "workspace its own file.",
            suggestions=[fix],
        )


def open_file(path: Path, flags: int, mode: int = 0o666) -> int:
    """``os.open`` with ``O_NOFOLLOW`` after ``check``; a link is UnsafePath. Opened
    for writing, it must be a regular file with no other name (SharedFile): wtd
    writes such files in place, and a hard link would carry the writes elsewhere."""
    check(path)
    try:
        fd = os.open(path, flags | _NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(path, _root(path)) from None
        raise
    if flags & os.O_ACCMODE != os.O_RDONLY:
        try:
            info = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            os.close(fd)
            raise SharedFile(path, info)
    return fd


def read_bytes(path: Path, max_bytes: int | None = None) -> bytes:
    """The bytes of regular file ``path``, never through a symlink; a file over
    ``max_bytes`` is TooLarge (and not read)."""
    fd = open_file(path, os.O_RDONLY)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file", str(path))
        if max_bytes is not None and info.st_size > max_bytes:
            raise TooLarge(path, info.st_size, max_bytes)
        chunks: list[bytes] = []
        while True:
            chunk = os.read(fd, max(info.st_size + 1, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_fd(fd: int, size: int | None = None) -> bytes:
    """The first ``size`` bytes (default: all) of the file open as ``fd``."""
    if size is None:
        size = os.fstat(fd).st_size
    chunks: list[bytes] = []
    offset = 0
    while offset < size:
        chunk = os.pread(fd, size - offset, offset)
        if not chunk:
            break
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def append_line(path: Path, line: bytes, *, sync: bool = True) -> None:
    """Append ``line`` to a log file with one write (lines never interleave)."""
    fd = open_file(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _root(path: Path) -> Path | None:
    found = workspace_of(path)
    return found[0] if found else None


def _relative(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return str(path.relative_to(root))
        except ValueError:
            pass
    return str(path)
