"""The merge drivers git runs (``merge-json``, ``merge-view``) and ``render``.

git runs a driver from the top of the working tree as ``DRIVER %O %A %B %P``: the
base, ours (which is also where the result goes) and theirs as temporary files, and
the path being merged. Exit 0 means merged; anything else is a conflict, and git
leaves what the driver wrote in %A in the working tree.

- ``merge-json`` merges the tracker field by field (``wtd.tracker.merge_json``) and
  writes it to %A in wtd's own encoding. Conflicting fields keep ours: the file left
  in the working tree is a valid tracker either way. A side that is not a tracker is
  a conflict with %A untouched (ours).
- ``merge-view`` writes the view of the merged JSON. git merges the view before the
  JSON, so it merges the JSON itself — the same merge, which is deterministic — from
  the versions its three views were rendered from (``history.find_json``). Each view
  must be exactly the rendering of its JSON; a view edited by hand, or a JSON not
  found, is a conflict with ours kept and ``wtctl git render`` named to finish.
  When the JSON's merge has conflicts, so has the view (rendered from the JSON as
  the JSON's driver leaves it), so that both are resolved together.
- ``render`` writes views from the JSON in the working tree: after a conflict is
  resolved by hand, or when a view was left behind.

Lines for people go to stderr as ``wtd merge: PATH: …``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, TextIO

from wtctl.git.history import find_json, rendered_from

if TYPE_CHECKING:
    from wtd.tracker.merge_json import MergeResult
    from wtd.tracker.model import Tracker


def _say(err: TextIO, path: str, line: str) -> None:
    print(f"wtd merge: {path}: {line}", file=err)


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` (a temporary file beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _decode(data: bytes, label: str) -> Tracker:
    from wtd.tracker import model

    try:
        return model.decode(data)
    except model.TrackerError as exc:
        raise ValueError(f"{label} is not a tracker: {exc}") from None


def _merge(base: bytes | None, ours: bytes, theirs: bytes) -> MergeResult:
    """Raises ValueError naming the side that is not a tracker (or the merge's)."""
    from wtd.tracker import model
    from wtd.tracker.merge_json import merge

    old = None if base is None or not base.strip() else _decode(base, "the base")
    try:
        return merge(old, _decode(ours, "ours"), _decode(theirs, "theirs"))
    except model.TrackerError as exc:
        raise ValueError(f"the merge is not a valid tracker: {exc}") from None


def merge_json(base: Path, ours: Path, theirs: Path, path: str, err: TextIO) -> int:
    from wtd.tracker import model

    try:
        result = _merge(base.read_bytes(), ours.read_bytes(), theirs.read_bytes())
    except ValueError as exc:
        _say(err, path, f"{exc}; left to git as a conflict (ours in place)")
        return 1
    _write(ours, model.encode(result.tracker))
    for line in result.lines():
        _say(err, path, line)
    if not result.clean:
        _say(
            err,
            path,
            f"{len(result.conflicts)} conflicting field(s): ours kept, the file is "
            "valid JSON; edit it or take theirs, then `wtctl git render` and `git add`",
        )
        return 1
    return 0


def view_and_json(view: PurePosixPath) -> tuple[str, PurePosixPath] | None:
    """The tracker name and JSON path of a view at ``docs/plans/<name>.md``."""
    if view.suffix != ".md" or view.parent.parts[-2:] != ("docs", "plans"):
        return None
    return view.stem, view.parent.parent.parent / ".ecw" / "plans" / f"{view.stem}.json"


def _render(tracker: Tracker, name: str, json_bytes: bytes) -> bytes:
    from wtd.tracker import model, render

    return render.Renderer().render(tracker, name=name, checksum=model.checksum(json_bytes))


def _rebuilt_view(
    root: Path, name: str, json_path: str, views: list[bytes | None]
) -> tuple[bytes, MergeResult]:
    """The merged view and the merge; ValueError saying why it cannot be rebuilt."""
    from wtd.tracker import model

    digests = [None if v is None else rendered_from(v) for v in views]
    whose = ("the base's", "our", "their")
    for who, view, digest in zip(whose, views, digests, strict=True):
        if view is not None and digest is None:
            raise ValueError(f"{who} view has no JSON checksum")
    found = find_json(root, json_path, {d for d in digests if d is not None})
    jsons: list[bytes | None] = []
    for who, view, digest in zip(whose, views, digests, strict=True):
        if view is None or digest is None:
            jsons.append(None)
            continue
        data = found.get(digest)
        if data is None:
            raise ValueError(f"the JSON {who} view was rendered from is not found")
        if _render(_decode(data, f"{who} JSON"), name, data) != view:
            raise ValueError(f"{who} view is not the rendering of its JSON (edited by hand?)")
        jsons.append(data)
    ours_json, theirs_json = jsons[1], jsons[2]
    assert ours_json is not None and theirs_json is not None
    result = _merge(jsons[0], ours_json, theirs_json)
    merged = model.encode(result.tracker)
    return _render(result.tracker, name, merged), result


def merge_view(base: Path, ours: Path, theirs: Path, path: str, err: TextIO) -> int:
    target = view_and_json(PurePosixPath(path))
    if target is None or not (Path.cwd() / target[1]).exists():
        # another Markdown file where views live (a README, notes): merged as text,
        # the way git merges it without this driver
        return _text_merge(base, ours, theirs, path, err)
    name, json_path = target
    old = base.read_bytes()
    views: list[bytes | None] = [
        old if old.strip() else None,
        ours.read_bytes(),
        theirs.read_bytes(),
    ]
    try:
        view, result = _rebuilt_view(Path.cwd(), name, str(json_path), views)
    except ValueError as exc:
        _say(
            err,
            path,
            f"cannot render the merged view ({exc}): ours kept; after the merge run "
            f"`wtctl git render {name}` and `git add {path}`",
        )
        return 1
    _write(ours, view)
    if not result.clean:
        _say(
            err,
            path,
            f"rendered from the merged {json_path}, which has conflicts: resolve it, "
            f"then `wtctl git render {name}` and `git add` both",
        )
        return 1
    return 0


def _text_merge(base: Path, ours: Path, theirs: Path, path: str, err: TextIO) -> int:
    """git's own line merge (``git merge-file``) of a file that is no tracker view:
    the result in ``ours``, with conflict markers where the sides disagree (exit 1)."""
    import subprocess

    try:
        labels = [f"-L{path} ({side})" for side in ("ours", "base", "theirs")]
        done = subprocess.run(
            ["git", "merge-file", *labels, str(ours), str(base), str(theirs)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _say(err, path, f"git merge-file failed ({exc}): left to git as a conflict")
        return 1
    if done.returncode < 0 or done.returncode > 127:
        _say(err, path, f"git merge-file failed: {done.stderr.strip()}: left as a conflict")
        return 1
    return 0 if done.returncode == 0 else 1


def _json_of(target: str, root: Path, cwd: Path) -> Path | None:
    """The JSON of a tracker named by name, by its view's path or by its own path."""
    given = cwd / target
    if given.suffix == ".json":
        return given
    if given.suffix == ".md":
        found = view_and_json(PurePosixPath(given.as_posix()))
        return None if found is None else Path(found[1])
    return root / ".ecw" / "plans" / f"{target}.json"


def render_views(root: Path, targets: list[str], cwd: Path, out: TextIO, err: TextIO) -> int:
    """Write the view of each tracker named (a name, a view's or a JSON's path; all of
    the repository's top-level trackers when none is) from its JSON as it is. Neither
    is read or written through a symlink (``wtd.storage.safepath``)."""
    from wtd import errors
    from wtd.storage import safepath
    from wtd.tracker import model

    jsons: list[Path | None] = [_json_of(t, root, cwd) for t in targets]
    if not targets:
        jsons = [*sorted((root / ".ecw" / "plans").glob("*.json"))]
        if not jsons:
            print(f"wtctl git render: no tracker in {root / '.ecw' / 'plans'}", file=err)
            return 1
    failed = 0
    for target, json_file in zip(targets or map(str, jsons), jsons, strict=True):
        if json_file is None:
            print(f"wtctl git render: {target} is not a tracker view (docs/plans/*.md)", file=err)
            failed = 1
            continue
        view = json_file.parent.parent.parent / "docs" / "plans" / f"{json_file.stem}.md"
        shown = os.path.relpath(view, cwd)
        try:
            data = safepath.read_bytes(json_file, model.MAX_BYTES)
            text = _render(_decode(data, str(json_file)), json_file.stem, data)
            safepath.check(view)
            same = view.exists() and safepath.read_bytes(view) == text
        except (OSError, ValueError, errors.WtdError) as exc:
            print(f"wtctl git render: {exc}", file=err)
            failed = 1
            continue
        if same:
            print(f"{shown} is up to date", file=out)
            continue
        view.parent.mkdir(parents=True, exist_ok=True)
        _write(view, text)
        print(f"rendered {shown} from {os.path.relpath(json_file, cwd)}", file=out)
    return failed
