"""The JSON a view was rendered from, found in the working tree or in git's history
by the digest the view carries (its Recovery Checksum).

The view's merge driver needs the three versions of the tracker JSON that git is
merging, and git does not hand them over: it merges the files of a merge one by one,
views before JSON (merge-ort goes through paths in reverse order), and writes the
working tree only at the end. Each version of the view names the digest of the JSON
bytes it was rendered from, so those bytes are looked up: the working tree first (it
holds ours), then the versions of the JSON in the commits that changed it, newest
first — on every branch, remote-tracking ones included, and the commit being merged
(``GITHEAD_<sha>`` in a merge driver's environment, ``MERGE_HEAD``, ``REBASE_HEAD``,
``CHERRY_PICK_HEAD``…), at most ``MAX_COMMITS`` of them.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Final

CHECKSUM: Final = re.compile(rb"JSON checksum:\*\* `([0-9a-f]+)`")
MAX_COMMITS: Final = 200
_HEADS: Final = ("MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD", "FETCH_HEAD")


def rendered_from(view: bytes) -> str | None:
    """The digest of the JSON a view was rendered from (its last Recovery Checksum)."""
    found = CHECKSUM.findall(view)
    return found[-1].decode() if found else None


def find_json(root: Path, json_path: str, wanted: set[str]) -> dict[str, bytes]:
    """The JSON bytes whose digest is in ``wanted``, by digest (as many as found)."""
    from wtd import errors
    from wtd.storage import safepath
    from wtd.tracker import model

    # views rendered before the digest changed carry the legacy digest
    likes = {len(w): w for w in wanted}.values()

    def keep(data: bytes) -> None:
        for like in likes:
            digest = model.checksum_as(data, like)
            if digest in wanted:
                found[digest] = data

    found: dict[str, bytes] = {}
    try:
        data: bytes | None = safepath.read_bytes(root / json_path, model.MAX_BYTES)
    except (OSError, errors.WtdError):
        data = None
    if data is not None:
        keep(data)
    if found.keys() >= wanted:
        return found
    for data in _versions(root, json_path):
        keep(data)
        if found.keys() >= wanted:
            break
    return found


def _commits(root: Path, json_path: str) -> list[str]:
    starts = [k.removeprefix("GITHEAD_") for k in os.environ if k.startswith("GITHEAD_")]
    done = subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "rev-list",
            "--ignore-missing",
            f"--max-count={MAX_COMMITS}",
            "--all",
            *_HEADS,
            *starts,
            "--",
            json_path,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.split() if done.returncode == 0 else []


def _versions(root: Path, json_path: str) -> Iterator[bytes]:
    """The distinct versions of ``json_path`` in the commits that changed it."""
    commits = _commits(root, json_path)
    if not commits:
        return
    check = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        input="".join(f"{c}:{json_path}\n" for c in commits),
        capture_output=True,
        text=True,
        check=False,
    )
    blobs: list[str] = []
    for line in check.stdout.splitlines():
        name, _, kind = line.partition(" ")
        if kind == "blob" and name not in blobs:
            blobs.append(name)
    if not blobs:
        return
    with subprocess.Popen(
        ["git", "-C", str(root), "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as reader:
        assert reader.stdin is not None and reader.stdout is not None
        try:
            for blob in blobs:
                reader.stdin.write(blob.encode() + b"\n")
                reader.stdin.flush()
                header = reader.stdout.readline().split()
                if len(header) != 3 or header[1] != b"blob":
                    return
                data = reader.stdout.read(int(header[2]))
                reader.stdout.read(1)  # the newline after the content
                yield data
        finally:
            reader.stdin.close()
