"""Atomic file replacement: temp file in the same folder, fsync, rename, fsync the folder.

After ``atomic_write`` returns, the new bytes survive a power cut; if it raises, the
target still holds its old bytes (a crash may leave a stale ``.<name>.<hex>.tmp``,
which ``remove_stale_temps`` clears). ``durable=False`` skips both fsyncs: every
reader sees the new bytes at once, but a power cut may leave the old ones (or, on
some file systems, a short file): for files the journal can rebuild, made durable
later by ``fsync_file`` (SPEC §6: the tracker files are checkpointed off the reply
path). Such a replace swaps the two names (Linux ``renameat2(RENAME_EXCHANGE)``,
just as atomic for readers) and unlinks the old file: ext4 flushes a file renamed
over another one before the rename returns (``auto_da_alloc``), which cost more than
the rest of a small change; a swap is not a replace, so it is not flushed.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import secrets
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple, cast

from wtd.storage import safepath
from wtd.storage.failpoints import CORRUPT, Failpoints, corrupted

_TMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC | os.O_NOFOLLOW
_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100
_NO_EXCHANGE = frozenset({errno.ENOENT, errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM})


@functools.cache
def _renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    """libc's ``renameat2`` (looked up once, where it is used: not by wtctl), or None."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        call = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    call.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint)
    call.restype = ctypes.c_int
    return cast("Callable[[int, bytes, int, bytes, int], int]", call)


def swap_in(tmp: Path, path: Path) -> None:
    """Put ``tmp`` at ``path`` atomically, without the flush a rename over an existing
    file triggers on ext4: exchange the names, then unlink the old file (now at
    ``tmp``; left for ``remove_stale_temps`` if that fails). Falls back to
    ``os.replace`` (no target yet, no ``renameat2``, no exchange in this file system)."""
    call = _renameat2()
    if call is not None:
        if call(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_EXCHANGE) == 0:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            return
        import ctypes

        err = ctypes.get_errno()
        if err not in _NO_EXCHANGE:
            raise OSError(err, os.strerror(err), str(path))
    os.replace(tmp, path)


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (creations, renames, deletions) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        # Some filesystems cannot fsync a directory; their renames are durable anyway.
        if exc.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def fsync_file(path: Path) -> bool:
    """Make the bytes of file ``path`` durable (its entry: ``fsync_dir`` of its folder).
    False when it does not exist (nothing to make durable); never through a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return False
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def make_dirs(folder: Path) -> None:
    """Create ``folder`` and missing parents, each made durable in its parent.

    Inside a workspace no existing component may be a symlink (``safepath``), and the
    workspace folder itself is never made: one that is gone (moved, renamed, removed
    while served) raises FileNotFoundError. Made again, it took the changes written
    after the move — acknowledged, and missing from the project where it now is.
    """
    found = safepath.workspace_of(folder)
    _make_dirs(folder, None if found is None else found[0])


def _make_dirs(folder: Path, workspace: Path | None) -> None:
    safepath.check(folder)
    if folder.is_dir():
        return
    if folder == workspace:
        raise FileNotFoundError(
            errno.ENOENT, "the workspace folder is gone (moved or removed)", str(folder)
        )
    _make_dirs(folder.parent, workspace)
    try:
        folder.mkdir()
    except FileExistsError:
        return
    fsync_dir(folder.parent)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (a regular file may write short)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


Stamp = tuple[int, int, int]  # (mtime_ns, size, inode): identifies one version of a file


def atomic_write(
    path: Path,
    data: bytes,
    *,
    failpoints: Failpoints | None = None,
    point: str | None = None,
    before_replace: Callable[[], None] | None = None,
    durable: bool = True,
) -> Stamp:
    """Replace ``path`` with ``data`` atomically (and durably, unless ``durable`` is
    False); create missing folders.

    Returns the stamp of the file written, taken from the file itself before it
    replaces ``path`` (a stat of ``path`` afterwards could already see someone
    else's save). ``before_replace`` runs just before the replace, once the data is
    written: the last moment to look at the file about to be replaced.

    The failpoint ``point`` is hit once the temp file exists; ``corrupt`` writes
    truncated garbage and returns normally. On any error the temp file is removed,
    the old file is untouched and the error is re-raised. Inside a workspace a
    symlinked folder on the way (or a link planted meanwhile) is ``UnsafePath``:
    the rename replaces a link at ``path`` itself, never what it points to.
    """
    written = prewrite(path, data, failpoints=failpoints, point=point, durable=durable)
    return put_in_place(written, path, before_replace=before_replace, durable=durable)


class Prewritten(NamedTuple):
    """A file's next bytes in a temp file beside it, not yet in its place."""

    tmp: Path
    stamp: Stamp


def prewrite(
    path: Path,
    data: bytes,
    *,
    failpoints: Failpoints | None = None,
    point: str | None = None,
    durable: bool = False,
) -> Prewritten:
    """The first half of ``atomic_write``: ``data`` in a new temp file beside ``path``
    (fsync'd if ``durable``), which a thread can write while the caller makes the
    change durable; ``put_in_place`` is the second half. Raises with no temp left."""
    safepath.check(path)
    fd, tmp = _create_temp(path)
    try:
        try:
            _keep_mode(fd, path)
            if failpoints is not None and point is not None and failpoints.hit(point) == CORRUPT:
                data = corrupted(data)
            write_all(fd, data)
            if durable:
                os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Prewritten(tmp, (st.st_mtime_ns, st.st_size, st.st_ino))


def put_in_place(
    written: Prewritten,
    path: Path,
    *,
    before_replace: Callable[[], None] | None = None,
    durable: bool = False,
) -> Stamp:
    """The second half: ``written`` replaces ``path`` (``before_replace`` first, a
    symlink refused; swapped in, or renamed over it and its folder fsync'd if
    ``durable``); on any error its temp is gone and ``path`` untouched."""
    try:
        if before_replace is not None:
            before_replace()
        safepath.check(path)
        if durable:
            os.replace(written.tmp, path)
        else:
            swap_in(written.tmp, path)
    except BaseException:
        written.tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return written.stamp


def read_bytes(
    path: Path,
    *,
    failpoints: Failpoints | None = None,
    point: str | None = None,
    max_bytes: int | None = None,
) -> bytes:
    """Read ``path`` (never through a symlink) after hitting ``point``; ``corrupt``
    returns truncated garbage."""
    action = failpoints.hit(point) if failpoints is not None and point is not None else None
    data = safepath.read_bytes(path, max_bytes)
    return corrupted(data) if action == CORRUPT else data


def temp_name(path: Path) -> str:
    return f".{path.name}.{secrets.token_hex(6)}.tmp"


def remove_stale_temps(path: Path, *, older_than: float | None = None) -> list[Path]:
    """Delete the temp files a crashed ``atomic_write`` (or ``prewrite``) of ``path``
    left behind: exactly ``temp_name``'s (not another tracker's whose name goes on
    with a dot, nor another tool's), with ``older_than`` (a ``time.time()``) only
    those last written before it (not one being written now)."""
    removed: list[Path] = []
    for tmp in path.parent.glob(f".{_glob_escape(path.name)}.{'[0-9a-f]' * 12}.tmp"):
        with contextlib.suppress(OSError):
            if older_than is not None and tmp.lstat().st_mtime >= older_than:
                continue
            tmp.unlink()
            removed.append(tmp)
    return removed


def _create_temp(path: Path) -> tuple[int, Path]:
    try:
        return _open_temp(path)
    except FileNotFoundError:
        make_dirs(path.parent)
        return _open_temp(path)


def _open_temp(path: Path) -> tuple[int, Path]:
    while True:
        tmp = path.parent / temp_name(path)
        try:
            return os.open(tmp, _TMP_FLAGS, 0o666), tmp
        except FileExistsError:
            continue


def _keep_mode(fd: int, path: Path) -> None:
    """Give the temp file the target's permissions, so a replace never changes them."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    os.fchmod(fd, mode)


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)
