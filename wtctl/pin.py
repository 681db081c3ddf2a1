"""Which tracker the REPL is on (SPEC §9): the one its prompt shows, until ``use`` switches.

wtd resolves a request that names no tracker to the workspace's most recently
changed one, afresh for every request — so a hand edit of another tracker would
silently move a REPL that sent none. The REPL therefore pins its tracker once
(``--tracker``/``$WT_TRACKER``, else the tracker wtd reports for the workspace) and
every request it sends carries the pin's ``request``.

Plain values and file-system reads only (``stat``/``listdir`` through
``wtd.workspace``, the same code wtd resolves with); no socket, no prompt-toolkit.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wtd import wire
from wtd.errors import WtdError
from wtd.workspace import find_workspace, for_workspace, resolve, trackers_in


@dataclass(frozen=True)
class Pin:
    """The tracker the REPL acts on. ``request`` is what every request names as ``tracker``."""

    workspace: Path
    name: str
    request: str

    @property
    def label(self) -> str:
        """How wtd names the tracker in replies and events."""
        return f"docs/plans/{self.name}.md"


@dataclass(frozen=True)
class Refused:
    """``use`` could not switch: why, and the trackers that would do."""

    message: str
    suggestions: tuple[str, ...] = ()


def default_workspace(cwd: Path) -> Path:
    """The workspace of ``cwd``, as wtd finds it for a request that names no tracker."""
    return find_workspace(cwd) or cwd


def given(tracker: str, cwd: Path) -> Pin:
    """The pin for ``--tracker``/``$WT_TRACKER``, sent as given (as the one-shot sends it).

    Raises ``WtdError`` for what wtd would refuse (a path not ending in .md/.json).
    """
    paths, _implicit = resolve(tracker, cwd)
    return Pin(paths.workspace, paths.name, tracker)


def reported(label: str, workspace: Path) -> Pin:
    """The pin for the tracker wtd named (``docs/plans/NAME.md``) in ``workspace``."""
    paths = for_workspace(workspace, Path(label).stem)
    return Pin(paths.workspace, paths.name, str(paths.markdown))


def names(workspace: Path) -> list[str]:
    """The workspace's trackers (``.ecw/plans/*.json``, ``docs/plans/*.md``), by name."""
    return sorted(trackers_in(workspace))


def choose(text: str, workspace: Path, cwd: Path) -> Pin | Refused:
    """What ``use TEXT`` switches to.

    ``TEXT`` is a tracker name of ``workspace`` (the pinned one's; letter case is
    forgiven) or a path to a tracker's ``.md``/``.json`` (relative to ``cwd``). A
    tracker that does not exist is refused, naming those that do.
    """
    wanted = text.strip().strip("\"'")
    if not wanted:
        return Refused("use needs a tracker: use NAME, or a path to its .md or .json")
    try:
        if _looks_like_a_path(wanted):
            paths, _implicit = resolve(wanted, cwd)
        else:
            paths = for_workspace(workspace, wanted)
    except WtdError as exc:
        return Refused(exc.message, tuple(exc.suggestions))
    known = names(paths.workspace)
    name = _match(paths.name, known)
    if name is None:
        close = difflib.get_close_matches(paths.name, known, n=3, cutoff=0.5)
        prefixed = [n for n in known if n.startswith(paths.name.lower()) and n not in close]
        return Refused(
            f"No tracker {paths.name!r} in {paths.workspace}; {_trackers_here(known)}",
            tuple(f"use {n}" for n in [*close, *prefixed][:3]),
        )
    found = for_workspace(paths.workspace, name)
    return Pin(found.workspace, found.name, str(found.markdown))


def listing(pin: Pin | None, missing: str, rows: Sequence[Any]) -> list[str]:
    """What ``use`` alone prints: the current tracker, then each choice (``list trackers`` rows)."""
    if pin is None:
        lines = ["No tracker yet: 'create initiative N called T' makes one."]
    else:
        state = f" ({missing})" if missing else ""
        lines = [f"Tracker: {pin.label}{state}"]
    if not rows:
        return lines
    lines.append("Switch with: use NAME")
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("name"), str):
            continue
        mark = "*" if pin is not None and row["name"] == pin.name else " "
        progress = row.get("progress")
        state = f"{progress}%" if isinstance(progress, int) else f"⚠ {row.get('error', '?')}"
        lines.append(f"  {mark} {row['name']:<24} {state}")
    return lines


@dataclass(frozen=True)
class News:
    """What a reply means for the pin (``after_reply``); the defaults mean "nothing"."""

    switch_to: str = ""  # pin this tracker (wtd's label): there was nothing to act on
    missing: str | None = None  # the pinned tracker is now "deleted", or "" back again
    other: str = ""  # another tracker was made (created, restored): its name


def after_reply(pin: Pin | None, missing: str, reply: dict[str, Any]) -> News:
    """What the pin should do after ``reply`` (to a command sent to ``pin``, which is
    ``missing`` — "" if it is there).

    A deleted or restored pinned tracker is marked so. With no tracker to act on
    (none yet, or the pinned one gone), the tracker a reply made — ``create
    initiative``, ``restore tracker`` — becomes the pin; with one, it stays and the
    REPL only says how to switch.
    """
    if not wire.ok(reply):
        return News()
    result, told = wire.result_dict(reply), wire.tracker(reply)
    named = told if isinstance(told, str) else ""
    if pin is not None and named == pin.label:
        if result.get("deleted") == pin.name and "trash" in result:
            return News(missing="deleted")
        if result.get("restored") == pin.name:
            return News(missing="")
        return News()
    if not named:
        return News()
    if pin is None or missing:
        return News(switch_to=named)
    if "initiative" in result or "restored" in result:
        return News(other=Path(named).stem)
    return News()


def gone(pin: Pin, why: str) -> str:
    """What the REPL says when the pinned tracker is ``why`` ("deleted", "not found")."""
    back = "'undo' or 'restore tracker' brings it back, " if why == "deleted" else ""
    return (
        f"Tracker {pin.label} is {why}; the REPL stays on it: {back}"
        "'use TRACKER' switches ('use' lists them)."
    )


def _looks_like_a_path(text: str) -> bool:
    return text.endswith((".md", ".json")) or "/" in text or text.startswith((".", "~"))


def _match(name: str, known: list[str]) -> str | None:
    if name in known:
        return name
    folded = [n for n in known if n.lower() == name.lower()]
    return folded[0] if len(folded) == 1 else None


def _trackers_here(known: list[str]) -> str:
    return f"trackers here: {', '.join(known)}" if known else "there are no trackers here yet"
