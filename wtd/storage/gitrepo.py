"""What wtd needs to know of a workspace that is a git repository (SPEC §11): whether
git is writing the working tree right now, and whether a file is what git put there.

Stdlib only; ``git`` itself is run only to read the index, and only after a file
changed on disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Final

from wtd.errors import WtdError
from wtd.storage import safepath

INDEX_LOCK = "index.lock"
GIT_TIMEOUT = 5.0  # seconds for one `git ls-files`


def git_dir(workspace: Path) -> Path | None:
    """The repository folder of ``workspace`` when it is the top of a git working
    tree (``.git`` a folder, or a file naming one: worktrees, submodules)."""
    dot_git = workspace / ".git"
    try:
        if dot_git.is_dir():
            return dot_git
        if dot_git.is_file():
            text = safepath.read_bytes(dot_git, 4096).decode(errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.removeprefix("gitdir:").strip())
                return target if target.is_absolute() else (workspace / target).resolve()
    except (OSError, WtdError):  # WtdError: not a file wtd reads (too big, a symlink)
        return None
    return None


MERGING: Final = ("MERGE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "rebase-merge", "rebase-apply")


def merging(workspace: Path) -> bool:
    """Is git stopped in the middle of a merge, rebase, cherry-pick or revert in
    ``workspace``'s repository (a conflict to resolve)? Its files are git's then."""
    repo = git_dir(workspace)
    return repo is not None and any(os.path.exists(repo / name) for name in MERGING)


def head_moved_after(workspace: Path, moment_ns: int) -> bool:
    """Did git move the HEAD of ``workspace``'s repository after ``moment_ns`` (its
    reflog, ``logs/HEAD``, written since: a checkout, reset, revert, merge, pull or
    commit)? False without git or a reflog."""
    repo = git_dir(workspace)
    if repo is None:
        return False
    try:
        return os.stat(repo / "logs" / "HEAD").st_mtime_ns > moment_ns
    except OSError:
        return False


GIT_WROTE_WITHIN: Final = 5_000_000_000  # ns: git writes its index right after the files


def index_follows(workspace: Path, written_ns: int) -> bool:
    """Did git write its index right after a file written at ``written_ns`` (within
    ``GIT_WROTE_WITHIN``)? git does after the working tree's files of a checkout,
    reset, merge, pull or stash; an editor or an agent writing a file does not."""
    repo = git_dir(workspace)
    if repo is None:
        return False
    try:
        index = os.stat(repo / "index").st_mtime_ns
    except OSError:
        return False
    return written_ns <= index <= written_ns + GIT_WROTE_WITHIN


def put_back_by_git(workspace: Path, data: bytes, written_ns: int) -> bool:
    """Did ``git stash pop`` write this file, though git's index does not hold it? All
    of: right after the file (within ``GIT_WROTE_WITHIN``) git wrote its index and
    dropped the stash entry (its reflog, ``logs/refs/stash``, rewritten or removed:
    the folder ``logs/refs`` changes), and the bytes are a version git keeps (a blob of
    its object store). An editor's save or an agent's copy of an older JSON — even
    followed by some git command — is not. False without git."""
    repo = git_dir(workspace)
    if repo is None or not index_follows(workspace, written_ns):
        return False
    try:
        stash_log = os.stat(repo / "logs" / "refs").st_mtime_ns
    except OSError:
        return False
    if not written_ns <= stash_log <= written_ns + GIT_WROTE_WITHIN:
        return False
    return not _stash_pushed(repo, written_ns) and has_blob(workspace, data)


def _stash_pushed(repo: Path, written_ns: int) -> bool:
    """Was the stash reflog's change a new entry (``git stash push``: its newest line is
    as recent as the file), not an entry dropped (``pop``: the reflog rewritten with
    only older entries, or removed with the last one)?"""
    try:
        with open(repo / "logs" / "refs" / "stash", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return False  # removed: the last entry was dropped
    if not lines:
        return False
    head = lines[-1].split(b"\t", 1)[0].split()
    try:
        newest = int(head[-2]) * 1_000_000_000  # "<old> <new> <who> <email> <time> <tz>"
    except (IndexError, ValueError):
        return True  # cannot tell: not taken for a pop
    return newest >= written_ns - 2_000_000_000


def has_blob(workspace: Path, data: bytes) -> bool:
    """Does the repository's object store hold a file of exactly ``data``?"""
    if shutil.which("git") is None:
        return False
    try:
        proc = subprocess.run(
            ["git", "-C", str(workspace), "cat-file", "-e", blob_id(data)],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0


def index_lock(repo: Path) -> tuple[int, int] | None:
    """git's ``index.lock`` in ``repo`` as (inode, mtime in ns), None when there is none.
    git holds it while it writes the working tree (a checkout, merge, pull, rebase
    step); each git run that takes the lock makes a new one."""
    try:
        info = os.stat(repo / INDEX_LOCK)
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def blob_id(data: bytes) -> str:
    """git's object id of a file holding ``data`` (SHA-1 object format)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def in_index(workspace: Path, path: Path, data: bytes) -> bool:
    """Is ``data`` what git's index holds for ``path`` — the file as a checkout, pull or
    merge left it (or as someone staged it)? False when unknown (no git, an error)."""
    if git_dir(workspace) is None or shutil.which("git") is None:
        return False
    try:
        rel = path.relative_to(workspace)
    except ValueError:
        return False
    try:
        proc = subprocess.run(
            ["git", "-C", str(workspace), "ls-files", "--stage", "--", str(rel)],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return False
    if proc.returncode != 0:
        return False
    wanted = blob_id(data)
    for line in proc.stdout.decode(errors="replace").splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[1] == wanted:
            return True
    return False
