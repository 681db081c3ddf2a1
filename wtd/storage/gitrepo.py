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


def index_written_after(workspace: Path, moment_ns: int, within_ns: int | None = None) -> bool:
    """Did git write its index at or after ``moment_ns`` (within ``within_ns`` of it)?
    git writes the index after the working tree files of a checkout, reset, merge,
    pull or ``stash pop``, so a file whose write the index follows is git's — which an
    editor's save or an agent's write is not. False without git."""
    repo = git_dir(workspace)
    if repo is None:
        return False
    try:
        written = os.stat(repo / "index").st_mtime_ns
    except OSError:
        return False
    return written >= moment_ns and (within_ns is None or written - moment_ns <= within_ns)


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
